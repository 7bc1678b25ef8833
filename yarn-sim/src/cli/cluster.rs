//! `yarn-sim start | stop | status`: a ResourceManager and N NodeManager processes on
//! loopback, their configuration, pid files and logs under one work dir.
//!
//! Layout of the work dir:
//! ```text
//! conf/yarn-site.xml      what clients read (export YARN_CONF_DIR=<work>/conf)
//! conf/cluster-secret     the secret that authenticates node-to-node messages (mode 600)
//! dfs/                    the shared store (fs.defaultFS)
//! nm-<i>/local, nm-<i>/logs   each NodeManager's local and log dirs
//! logs/                   daemon logs: resourcemanager.log, nodemanager-<i>.log
//! run/                    pid files
//! zookeeper/              with --zookeeper: zoo.cfg and the server's data dir
//! ```

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::conf::Configuration;

use super::http::{list, s, Rest};

/// Harness defaults that differ from YARN's, each documented in the generated yarn-site.xml.
pub const HARNESS_DEFAULTS: &[(&str, &str, &str)] = &[
    (
        "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms",
        "100",
        "Harness default (YARN: 1000). NMs heartbeat every 100 ms so allocation, which happens on heartbeats, is fast.",
    ),
    ("yarn.nm.liveness-monitor.expiry-interval-ms", "2000", "Harness default (YARN: 600000). A silent NodeManager is LOST after 2 s."),
    (
        "yarn.am.liveness-monitor.expiry-interval-ms",
        "5000",
        "Harness default (YARN: 600000). An ApplicationMaster silent for 5 s fails its attempt.",
    ),
    (
        "yarn.resourcemanager.rm.container-allocation.expiry-interval-ms",
        "30000",
        "Harness default (YARN: 600000). An allocated container not started within 30 s is released.",
    ),
    ("yarn.nodemanager.container-monitor.interval-ms", "250", "Harness default (YARN: 3000). The memory monitor looks every 250 ms."),
    (
        "yarn.scheduler.minimum-allocation-mb",
        "128",
        "Harness default (YARN: 1024). Small containers pack more work into a laptop-sized cluster.",
    ),
    (
        "yarn.nodemanager.vmem-check-enabled",
        "false",
        "Harness default (YARN: true). Virtual memory of modern runtimes is not a useful limit; physical memory is checked.",
    ),
    (
        "yarn.scheduler.capacity.schedule-asynchronously.enable",
        "true",
        "Harness default (YARN: false). CapacityScheduler's asynchronous scheduling: an AM container or a container ask is placed within 5 ms instead of at the next NodeManager heartbeat.",
    ),
    (
        "yarn.nodemanager.duration-to-track-stopped-containers",
        "60000",
        "Harness default (YARN: 600000). A finished container leaves the NodeManager's container list a minute after the RM recorded it (its logs stay readable).",
    ),
];

pub struct StartOpts {
    pub nodes: u32,
    pub node_memory_mb: u64,
    pub node_vcores: u32,
    pub work_dir: PathBuf,
    pub rm_port: u16,
    pub confs: Vec<PathBuf>,
    pub detach: bool,
    /// `--zookeeper [--zookeeper-port N]`: also run a real ZooKeeper on this port.
    pub zookeeper: Option<u16>,
}

pub fn default_work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("yarn-sim-{}", super::current_user()))
}

fn exe() -> PathBuf {
    std::env::current_exe().unwrap_or_else(|_| PathBuf::from("yarn-sim"))
}

/// The cluster's configuration: harness defaults, then the user's `--conf` files on top.
pub fn cluster_conf(o: &StartOpts) -> Result<Configuration, String> {
    let mut c = Configuration::new();
    let rm = format!("127.0.0.1:{}", o.rm_port);
    c.set_described("yarn.resourcemanager.hostname", "127.0.0.1", "Everything binds loopback.");
    for (k, d) in [
        ("yarn.resourcemanager.webapp.address", "One port serves the RM's REST API, web UI and the node RPC envelopes."),
        (
            "yarn.resourcemanager.address",
            "The same port serves ApplicationClientProtocol over Hadoop RPC (SIMPLE auth), for YarnClient and Java YARN clients such as Flink's.",
        ),
        (
            "yarn.resourcemanager.scheduler.address",
            "The same port serves ApplicationMasterProtocol over Hadoop RPC (an AM authenticates with the AMRM token in its container's credentials).",
        ),
        ("yarn.resourcemanager.resource-tracker.address", "NodeManagers reach the RM on the same port (node RPC envelopes)."),
    ] {
        c.set_described(k, &rm, d);
    }
    c.set_described(
        "fs.defaultFS",
        format!("file://{}", o.work_dir.join("dfs").display()),
        "The shared store (a directory standing in for HDFS).",
    );
    c.set_described("yarn.nodemanager.resource.memory-mb", o.node_memory_mb, "Memory each NodeManager offers (--node-memory-mb).");
    c.set_described("yarn.nodemanager.resource.cpu-vcores", o.node_vcores, "Vcores each NodeManager offers (--node-vcores).");
    for (k, v, d) in HARNESS_DEFAULTS {
        c.set_described(k, v, d);
    }
    // ACLs on, with the user who started the cluster as the one admin (YARN: off, admin "*",
    // and root's acl_administer_queue "*" lets everyone administer every queue).
    let me = super::current_user();
    c.set_described("yarn.acl.enable", "true", "Harness default (YARN: false). Application and queue ACLs are checked.");
    c.set_described("yarn.admin.acl", &me, "Harness default (YARN: *). The user who ran yarn-sim start administers the cluster.");
    c.set_described(
        "yarn.scheduler.capacity.root.acl_administer_queue",
        &me,
        "Harness default (YARN: * on the root). Only the starting user administers queues (kills and moves others' apps).",
    );
    if let Some(cp) = application_classpath(std::env::var("HADOOP_CLASSPATH").ok().as_deref()) {
        c.set_described(
            "yarn.application.classpath",
            cp,
            "From HADOOP_CLASSPATH when yarn-sim start ran: the Hadoop jars Java ApplicationMasters and their containers need (Flink's client reads this and puts it on its JobManager's and TaskManagers' CLASSPATH), after the conf dir the NodeManagers give containers as HADOOP_CONF_DIR.",
        );
    }
    for f in &o.confs {
        let text = std::fs::read_to_string(f).map_err(|e| format!("{}: {e}", f.display()))?;
        c.merge_xml(&text).map_err(|e| format!("{}: {e}", f.display()))?;
    }
    Ok(c)
}

/// `yarn.application.classpath` for a cluster started with `HADOOP_CLASSPATH` set (the Hadoop
/// client jars a Java client such as the real Flink also runs with): `$HADOOP_CONF_DIR` (the
/// containers' copy of this yarn-site.xml), then each entry. None without entries; YARN's own
/// default names a Hadoop installation's `share/hadoop/...` dirs instead.
pub fn application_classpath(hadoop_classpath: Option<&str>) -> Option<String> {
    let entries: Vec<&str> = hadoop_classpath?.split(':').map(str::trim).filter(|e| !e.is_empty()).collect();
    if entries.is_empty() {
        return None;
    }
    Some(std::iter::once("$HADOOP_CONF_DIR").chain(entries).collect::<Vec<_>>().join(","))
}

fn spawn_daemon(args: &[String], log: &Path, detach: bool) -> Result<u32, String> {
    let logf = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(|e| format!("{}: {e}", log.display()))?;
    let errf = logf.try_clone().map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe());
    cmd.args(args).stdin(Stdio::null()).stdout(logf).stderr(errf);
    if detach {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start {}: {e}", exe().display()))?;
    Ok(child.id())
}

fn write_pid(work: &Path, name: &str, pid: u32) -> Result<(), String> {
    std::fs::write(work.join("run").join(format!("{name}.pid")), pid.to_string()).map_err(|e| e.to_string())
}

fn alive(pid: u32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_ok()
}

/// Starts the cluster; with `detach`, returns once every node is RUNNING.
pub fn start(o: &StartOpts, out: &mut dyn Write) -> Result<i32, String> {
    let work = &o.work_dir;
    let run = work.join("run");
    if let Ok(rd) = std::fs::read_dir(&run) {
        for e in rd.flatten() {
            if let Some(pid) = std::fs::read_to_string(e.path()).ok().and_then(|p| p.trim().parse::<u32>().ok()) {
                if alive(pid) {
                    return Err(format!(
                        "a cluster is already running from {} (pid {pid}); run 'yarn-sim stop --work-dir {}' first",
                        work.display(),
                        work.display()
                    ));
                }
            }
        }
    }
    if std::net::TcpListener::bind(("127.0.0.1", o.rm_port)).is_err() {
        return Err(format!("Port in use: 127.0.0.1:{} (another ResourceManager?). Use --rm-port.", o.rm_port));
    }
    for d in ["conf", "dfs", "logs", "run"] {
        std::fs::create_dir_all(work.join(d)).map_err(|e| format!("{}: {e}", work.display()))?;
    }
    let conf = cluster_conf(o)?;
    let conf_dir = work.join("conf");
    std::fs::write(conf_dir.join("yarn-site.xml"), conf.to_xml()).map_err(|e| e.to_string())?;
    // A fresh secret per start: the daemons read it from the conf dir, containers get it from
    // their NodeManager; whoever cannot read this file cannot speak for a node.
    engine::live::ClusterSecret::generate()?.write_file(&conf_dir.join(engine::live::auth::SECRET_FILE))?;
    let t0 = Instant::now();
    // ZooKeeper first: when it cannot start, nothing else has been started.
    let mut zk_started = None;
    if let Some(port) = o.zookeeper {
        let pid = super::zookeeper::start(work, port, o.detach)?;
        write_pid(work, "zookeeper", pid)?;
        zk_started = Some((port, pid, t0.elapsed()));
    }
    let rm_addr = conf.get("yarn.resourcemanager.webapp.address").unwrap_or_default();
    let conf_arg = conf_dir.display().to_string();
    let rm_pid =
        spawn_daemon(&["resourcemanager".into(), "--conf-dir".into(), conf_arg.clone()], &work.join("logs/resourcemanager.log"), o.detach)?;
    write_pid(work, "resourcemanager", rm_pid)?;
    let mut pids = vec![rm_pid];
    // NodeManagers register at once; an RM not yet listening would cost them a retry interval.
    let rest = Rest::new(&rm_addr);
    let rm_deadline = Instant::now() + Duration::from_secs(10);
    while rest.get("/ws/v1/cluster/info").is_err() {
        if Instant::now() > rm_deadline || !alive(rm_pid) {
            let _ = stop(work, &mut std::io::sink());
            return Err(format!("the ResourceManager did not start; see {}/logs/resourcemanager.log", work.display()));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    for i in 0..o.nodes {
        let nm_dir = work.join(format!("nm-{i}"));
        let args = vec![
            "nodemanager".to_string(),
            "--rm".into(),
            rm_addr.clone(),
            "--conf-dir".into(),
            conf_arg.clone(),
            "--work-dir".into(),
            nm_dir.display().to_string(),
        ];
        let pid = spawn_daemon(&args, &work.join(format!("logs/nodemanager-{i}.log")), o.detach)?;
        write_pid(work, &format!("nodemanager-{i}"), pid)?;
        pids.push(pid);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let running = rest
            .get("/ws/v1/cluster/nodes")
            .map(|v| list(&v, "nodes", "node").iter().filter(|n| s(n, "state") == "RUNNING").count())
            .unwrap_or(0);
        if running as u32 >= o.nodes {
            break;
        }
        if Instant::now() > deadline || pids.iter().any(|p| !alive(*p)) {
            let _ = stop(work, &mut std::io::sink());
            return Err(format!("the cluster did not come up ({running} of {} nodes RUNNING); see {}/logs", o.nodes, work.display()));
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = writeln!(out, "ResourceManager: http://{rm_addr} (REST /ws/v1/cluster, UI /cluster)");
    let _ = writeln!(out, "NodeManagers: {} RUNNING in {} ms", o.nodes, t0.elapsed().as_millis());
    if let Some((port, _, took)) = zk_started {
        let _ =
            writeln!(out, "ZooKeeper: 127.0.0.1:{port} (standalone, data {}/zookeeper/data) up in {} ms", work.display(), took.as_millis());
        let _ = writeln!(out, "  -D high-availability.type=zookeeper -D high-availability.zookeeper.quorum=127.0.0.1:{port}");
    }
    let _ = writeln!(out, "Logs: {}/logs", work.display());
    let _ = writeln!(out, "export YARN_CONF_DIR={}", conf_dir.display());
    if o.detach {
        return Ok(0);
    }
    let _ = writeln!(out, "Running in the foreground; Ctrl-C stops the cluster.");
    let _ = out.flush();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("signal handler");
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    });
    stop(work, out)
}

/// Stops every daemon started from `work` (SIGTERM, then SIGKILL after 2 s).
pub fn stop(work: &Path, out: &mut dyn Write) -> Result<i32, String> {
    let run = work.join("run");
    let Ok(rd) = std::fs::read_dir(&run) else {
        let _ = writeln!(out, "no cluster to stop in {}", work.display());
        return Ok(0);
    };
    let mut pids = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().trim_end_matches(".pid").to_string();
        if let Some(pid) = std::fs::read_to_string(e.path()).ok().and_then(|p| p.trim().parse::<u32>().ok()) {
            if alive(pid) {
                let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
                pids.push((name, pid));
            }
        }
        let _ = std::fs::remove_file(e.path());
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    while pids.iter().any(|(_, p)| alive(*p)) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    for (_, p) in &pids {
        if alive(*p) {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(*p as i32), nix::sys::signal::Signal::SIGKILL);
        }
    }
    pids.sort();
    for (name, pid) in &pids {
        let _ = writeln!(out, "stopping {name} (pid {pid})");
    }
    let _ = writeln!(out, "stopped {} daemons", pids.len());
    Ok(0)
}

/// Prints the daemons of `work` and what the RM says about its nodes.
pub fn status(work: &Path, out: &mut dyn Write) -> Result<i32, String> {
    let conf_path = work.join("conf/yarn-site.xml");
    let Ok(conf) = Configuration::load(&conf_path) else {
        let _ = writeln!(out, "no cluster in {}", work.display());
        return Ok(1);
    };
    let rm = conf.get("yarn.resourcemanager.webapp.address").unwrap_or_default();
    let mut any = false;
    if let Ok(rd) = std::fs::read_dir(work.join("run")) {
        let mut names: Vec<(String, u32)> = rd
            .flatten()
            .filter_map(|e| {
                Some((
                    e.file_name().to_string_lossy().trim_end_matches(".pid").to_string(),
                    std::fs::read_to_string(e.path()).ok()?.trim().parse().ok()?,
                ))
            })
            .collect();
        names.sort();
        for (n, p) in names {
            any |= alive(p);
            let _ = writeln!(out, "{n:<18} pid {p:<8} {}", if alive(p) { "running" } else { "dead" });
        }
    }
    if !any {
        let _ = writeln!(out, "cluster in {} is stopped", work.display());
        return Ok(1);
    }
    if let Some(port) = super::zookeeper::configured_port(work) {
        let state = match super::zookeeper::four_letter(port, "ruok") {
            Ok(r) if r == "imok" => "imok".to_string(),
            Ok(r) => format!("answered '{r}'"),
            Err(e) => format!("not answering: {e}"),
        };
        let _ = writeln!(out, "ZooKeeper 127.0.0.1:{port}: {state}");
    }
    let rest = Rest::new(&rm);
    match rest.get("/ws/v1/cluster/metrics") {
        Ok(m) => {
            let m = &m["clusterMetrics"];
            let _ = writeln!(
                out,
                "ResourceManager http://{rm}: {} active nodes, {} lost, apps running {}, completed {}, containers allocated {}",
                s(m, "activeNodes"),
                s(m, "lostNodes"),
                s(m, "appsRunning"),
                s(m, "appsCompleted"),
                s(m, "containersAllocated")
            );
            let _ = writeln!(out, "export YARN_CONF_DIR={}", work.join("conf").display());
            Ok(0)
        }
        Err(e) => {
            let _ = writeln!(out, "ResourceManager http://{rm} is not answering: {e}");
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::application_classpath;

    #[test]
    fn the_application_classpath_comes_from_hadoop_classpath() {
        assert_eq!(application_classpath(None), None);
        assert_eq!(application_classpath(Some(" : ")), None);
        assert_eq!(application_classpath(Some("/j/a.jar:/j/b.jar:")).as_deref(), Some("$HADOOP_CONF_DIR,/j/a.jar,/j/b.jar"));
    }
}
