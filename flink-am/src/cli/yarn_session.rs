//! `yarn-session`: FlinkYarnSessionCli. Deploys a session cluster (or attaches to one with
//! `-id`), writes `/tmp/.yarn-properties-<user>`, and in attached mode reads `help` / `stop`
//! from stdin.

use std::io::{BufRead, Write};
use std::path::PathBuf;
use std::time::Duration;

use yarn_sim::cli::http::{list, n, s};

use super::deploy::{deploy, ClusterMode, DeploySpec};
use super::{load_config, properties_file, write_properties, Yarn};

const HELP: &str = "Usage:
   Optional
     -at,--applicationType <arg>     Set a custom application type for the application on YARN
     -D <property=value>             use value for given property
     -d,--detached                   If present, runs the job in detached mode
     -h,--help                       Help for the Yarn session CLI.
     -id,--applicationId <arg>       Attach to running YARN session
     -jm,--jobManagerMemory <arg>    Memory for JobManager Container with optional unit (default: MB)
     -nm,--name <arg>                Set a custom name for the application on YARN
     -q,--query                      Display available YARN resources (memory, cores)
     -qu,--queue <arg>               Specify YARN queue.
     -s,--slots <arg>                Number of slots per TaskManager
     -t,--ship <arg>                 Ship files in the specified directory (t for transfer)
     -tm,--taskManagerMemory <arg>   Memory per TaskManager Container with optional unit (default: MB)
     -z,--zookeeperNamespace <arg>   Namespace to create the Zookeeper sub-paths for high availability mode";

const INTERACTIVE_HELP: &str = "Available commands:\nhelp - show these commands\nstop - stop the YARN session";

#[derive(Default, Debug)]
struct Opts {
    detached: bool,
    query: bool,
    app_id: Option<String>,
    dynamic: Vec<String>,
    ship: Vec<PathBuf>,
}

/// A memory value from the CLI: Flink appends "m" when there is no unit.
fn with_unit(v: &str) -> String {
    if v.chars().all(|c| c.is_ascii_digit()) {
        format!("{v}m")
    } else {
        v.to_string()
    }
}

fn parse(args: &[String]) -> Result<Opts, String> {
    let mut o = Opts::default();
    let mut i = 0;
    let val = |i: &mut usize, flag: &str| -> Result<String, String> {
        *i += 1;
        args.get(*i).cloned().ok_or_else(|| format!("Missing argument for option: {}", flag.trim_start_matches('-')))
    };
    while i < args.len() {
        let a = args[i].as_str();
        match a {
            "-d" | "--detached" => o.detached = true,
            "-q" | "--query" => o.query = true,
            "-h" | "--help" => return Err(HELP.into()),
            "-jm" | "--jobManagerMemory" => o.dynamic.push(format!("jobmanager.memory.process.size={}", with_unit(&val(&mut i, a)?))),
            "-tm" | "--taskManagerMemory" => o.dynamic.push(format!("taskmanager.memory.process.size={}", with_unit(&val(&mut i, a)?))),
            "-s" | "--slots" => o.dynamic.push(format!("taskmanager.numberOfTaskSlots={}", val(&mut i, a)?)),
            "-nm" | "--name" => o.dynamic.push(format!("yarn.application.name={}", val(&mut i, a)?)),
            "-qu" | "--queue" => o.dynamic.push(format!("yarn.application.queue={}", val(&mut i, a)?)),
            "-at" | "--applicationType" => o.dynamic.push(format!("yarn.application.type={}", val(&mut i, a)?)),
            "-z" | "--zookeeperNamespace" => o.dynamic.push(format!("high-availability.cluster-id={}", val(&mut i, a)?)),
            "-id" | "--applicationId" => o.app_id = Some(val(&mut i, a)?),
            "-t" | "--ship" => o.ship.push(PathBuf::from(val(&mut i, a)?)),
            "-D" => o.dynamic.push(val(&mut i, a)?),
            d if d.starts_with("-D") && d.len() > 2 => o.dynamic.push(d[2..].to_string()),
            other => return Err(format!("Unrecognized option: {other}\n{HELP}")),
        }
        i += 1;
    }
    Ok(o)
}

pub fn main(args: Vec<String>, stdin: &mut dyn BufRead, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    match run(&args, stdin, out) {
        Ok(code) => code,
        Err(e) => {
            let _ = writeln!(err, "\n------------------------------------------------------------\n The program finished with the following exception:\n\n{e}");
            1
        }
    }
}

fn run(args: &[String], stdin: &mut dyn BufRead, out: &mut dyn Write) -> Result<i32, String> {
    let o = parse(args)?;
    let conf = load_config(&o.dynamic)?;
    for d in &o.dynamic {
        let _ = writeln!(out, "Dynamic Property set: {d}");
    }
    let y = Yarn::connect()?;
    if o.query {
        return query(&y, out);
    }
    let (app_id, rest) = match &o.app_id {
        Some(id) => {
            let rest = super::rest_address_of(&y.rm, id)?;
            let _ = writeln!(out, "Found Web Interface {rest} of application '{id}'.");
            (id.clone(), rest)
        }
        None => {
            // Settings the session's jobs inherit (checkpointing, restarts, savepoint dir) are
            // checked here, before anything is deployed.
            conf.job_settings(y.store_root.as_deref())?;
            super::launcher::ha_config(&conf, y.store_root.as_deref())?;
            let d =
                deploy(&y, DeploySpec { mode: ClusterMode::Session, conf: conf.clone(), files: Vec::new(), ship: o.ship.clone() }, out)?;
            let path = write_properties(&conf, &d.app_id, &o.dynamic)?;
            let _ = writeln!(out, "Writing YARN properties file {}", path.display());
            (d.app_id, d.rest)
        }
    };
    let _ = writeln!(out, "JobManager Web Interface: http://{rest}");
    if o.detached && o.app_id.is_none() {
        let _ = writeln!(
            out,
            "The Flink YARN session cluster has been started in detached mode. In order to stop Flink gracefully, use the following command:\n$ echo \"stop\" | ./bin/yarn-session.sh -id {app_id}\nIf this should not be possible, then you can also kill Flink via YARN's web interface or via:\n$ yarn application -kill {app_id}\nNote that killing Flink might not clean up all job artifacts and temporary files."
        );
        return Ok(0);
    }
    attached(&y, &conf, &app_id, &rest, stdin, out)
}

/// The interactive loop: `help`, `stop`/`quit`; EOF keeps the session running and detaches.
fn attached(
    y: &Yarn,
    conf: &flink_core::config::FlinkConfig,
    app_id: &str,
    rest: &str,
    stdin: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<i32, String> {
    let _ = writeln!(out, "{INTERACTIVE_HELP}");
    let mut line = String::new();
    loop {
        line.clear();
        let n = stdin.read_line(&mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            let _ =
                writeln!(out, "Standard input closed; the session keeps running. Stop it with: echo \"stop\" | yarn-session -id {app_id}");
            return Ok(0);
        }
        match line.trim() {
            "" => {}
            "help" => {
                let _ = writeln!(out, "{INTERACTIVE_HELP}");
            }
            "stop" | "quit" => break,
            other => {
                let _ = writeln!(out, "Unknown command '{other}'. Showing help:\n{INTERACTIVE_HELP}");
            }
        }
    }
    let am = yarn_sim::cli::http::Rest::new(rest);
    let _ = am.delete("/cluster");
    let mut final_state = (String::new(), String::new());
    for _ in 0..2000 {
        if let Ok(v) = y.rm.get(&format!("/ws/v1/cluster/apps/{app_id}")) {
            let (st, fin) = (s(&v["app"], "state"), s(&v["app"], "finalStatus"));
            if matches!(st.as_str(), "FINISHED" | "FAILED" | "KILLED") {
                final_state = (st, fin);
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let path = properties_file(conf);
    if std::fs::remove_file(&path).is_ok() {
        let _ = writeln!(out, "Deleted Yarn properties file at {}", path.display());
    }
    let _ = writeln!(
        out,
        "Application {app_id} finished with state {} and final state {} at {}",
        final_state.0,
        final_state.1,
        super::now_ms()
    );
    Ok(0)
}

/// `-q`: the cluster's NodeManagers and totals, as FlinkYarnSessionCli prints them.
fn query(y: &Yarn, out: &mut dyn Write) -> Result<i32, String> {
    let nodes = y.rm.get("/ws/v1/cluster/nodes").map_err(|e| e.message)?;
    let list = list(&nodes, "nodes", "node");
    let _ = writeln!(out, "NodeManagers in the ClusterClient {}", list.len());
    let _ = writeln!(out, "|Property         |Value          |");
    let (mut mem, mut cores) = (0u64, 0u64);
    for nd in &list {
        let m = n(nd, "usedMemoryMB") as u64 + n(nd, "availMemoryMB") as u64;
        let c = n(nd, "usedVirtualCores") as u64 + n(nd, "availableVirtualCores") as u64;
        mem += m;
        cores += c;
        let _ = writeln!(out, "+---------------------------------------+");
        let _ = writeln!(out, "|NodeID           |{:<15}|", s(nd, "id"));
        let _ = writeln!(out, "|Memory           |{:<15}|", format!("{m} MB"));
        let _ = writeln!(out, "|vCores           |{c:<15}|");
        let _ = writeln!(out, "|HealthReport     |{:<15}|", s(nd, "healthReport"));
        let _ = writeln!(out, "|Containers       |{:<15}|", s(nd, "numContainers"));
    }
    let _ = writeln!(out, "+---------------------------------------+");
    let _ = writeln!(out, "Summary: totalMemory {mem} totalCores {cores}");
    if let Ok(sch) = y.rm.get("/ws/v1/cluster/scheduler") {
        if let Some(qs) = sch.pointer("/scheduler/schedulerInfo/queues/queue").and_then(|q| q.as_array()) {
            for q in qs {
                let _ = writeln!(
                    out,
                    "Queue: {}, Current Capacity: {} Max Capacity: {} Applications: {}",
                    s(q, "queueName"),
                    n(q, "usedCapacity"),
                    n(q, "maxCapacity"),
                    s(q, "numApplications")
                );
            }
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_become_flink_config_keys() {
        let a: Vec<String> = "-jm 1024 -tm 2g -s 2 -nm demo -d -Dfoo=bar -qu q".split(' ').map(String::from).collect();
        let o = parse(&a).unwrap();
        assert!(o.detached);
        assert_eq!(
            o.dynamic,
            vec![
                "jobmanager.memory.process.size=1024m",
                "taskmanager.memory.process.size=2g",
                "taskmanager.numberOfTaskSlots=2",
                "yarn.application.name=demo",
                "foo=bar",
                "yarn.application.queue=q"
            ]
        );
        assert!(parse(&["-bogus".into()]).unwrap_err().starts_with("Unrecognized option: -bogus"));
        assert!(parse(&["-tm".into()]).unwrap_err().contains("Missing argument for option: tm"));
    }
}
