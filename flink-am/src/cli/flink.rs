//! `flink`: CliFrontend. `run` (into a session, or `-t yarn-per-job`), `run-application -t
//! yarn-application`, `list`, `cancel`, `info`, printing Flink's lines.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use flink_core::config::{keys, FlinkConfig};
use flink_core::program::Program;
use flink_core::JobGraph;
use serde_json::Value;
use yarn_sim::cli::http::{n, s, Rest};

use super::deploy::{deploy, ClusterMode, DeploySpec};
use super::{load_config, read_properties, Yarn};

const USAGE: &str = "./flink <ACTION> [OPTIONS] [ARGUMENTS]

The following actions are available:

Action \"run\" compiles and runs a program.
  Syntax: run [OPTIONS] <program.toml> <arguments>
     -d,--detached                  If present, runs the job in detached mode
     -D <property=value>            Allows specifying multiple generic configuration options.
     -m,--jobmanager <arg>          Address of the JobManager to which to connect.
     -n,--allowNonRestoredState     Allow to skip savepoint state that cannot be restored.
     -p,--parallelism <parallelism> The parallelism with which to run the program.
     -s,--fromSavepoint <savepointPath>  Path to a savepoint to restore the job from (for example file:///flink/savepoint-1537).
     -cm,--claimMode <arg>          Defines how should we restore from the given savepoint (only no_claim here).
     -t,--target <arg>              The deployment target: \"remote\", \"yarn-session\", \"yarn-per-job\" (deprecated).

Action \"run-application\" runs an application in Application Mode.
  Syntax: run-application -t yarn-application [OPTIONS] <program.toml> <arguments>

Action \"info\" shows the optimized execution plan of the program (JSON).
  Syntax: info [OPTIONS] <program.toml> <arguments>

Action \"list\" lists running and scheduled programs.
  Syntax: list [OPTIONS]
     -a,--all        Show all programs and their JobIDs
     -r,--running    Show only running programs and their JobIDs
     -s,--scheduled  Show only scheduled programs and their JobIDs

Action \"cancel\" cancels a running program.
  Syntax: cancel [OPTIONS] <Job ID>
     -s,--withSavepoint <targetDirectory>  **DEPRECATION WARNING**: Cancelling a job with savepoint is deprecated. Use \"stop\" instead.

Action \"stop\" stops a running program with a savepoint (streaming jobs only).
  Syntax: stop [OPTIONS] <Job ID>
     -d,--drain                           Send MAX_WATERMARK before taking the savepoint and stopping the pipeline.
     -detached,--detached                 Triggering savepoint in detached mode.
     -p,--savepointPath <savepointPath>   Path to the savepoint (for example file:///flink/savepoint-1537).
     -type,--type <arg>                   The format of the savepoint: \"canonical\" (default) or \"native\".

Action \"savepoint\" triggers savepoints for a running job.
  Syntax: savepoint [OPTIONS] <Job ID> [<target directory>]
     -detached,--detached   Triggering savepoint in detached mode.
     -type,--type <arg>     The format of the savepoint: \"canonical\" (default) or \"native\".

Action \"checkpoint\" triggers checkpoints for a running job.
  Syntax: checkpoint [OPTIONS] <Job ID>
     -full,--full   Trigger a full checkpoint.";

/// What an option takes after it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Arg {
    Flag,
    Required,
    /// Commons CLI's optional argument: the next token unless it starts with '-'.
    Optional,
}

/// The options an action accepts: (short, long, argument, canonical name).
fn options_of(action: &str) -> &'static [(&'static str, &'static str, Arg, &'static str)] {
    const CLUSTER: [(&str, &str, Arg, &str); 3] =
        [("-m", "--jobmanager", Arg::Required, "jobmanager"), ("-t", "--target", Arg::Required, "target"), ("-D", "", Arg::Required, "D")];
    const RUN: &[(&str, &str, Arg, &str)] = &[
        CLUSTER[0],
        CLUSTER[1],
        CLUSTER[2],
        ("-e", "--executor", Arg::Required, "target"),
        ("-d", "--detached", Arg::Flag, "detached"),
        ("-p", "--parallelism", Arg::Required, "parallelism"),
        ("-s", "--fromSavepoint", Arg::Required, "fromSavepoint"),
        ("-n", "--allowNonRestoredState", Arg::Flag, "allowNonRestoredState"),
        ("-cm", "--claimMode", Arg::Required, "claimMode"),
        ("-rm", "--restoreMode", Arg::Required, "claimMode"),
    ];
    const INFO: &[(&str, &str, Arg, &str)] = &[CLUSTER[2], ("-p", "--parallelism", Arg::Required, "parallelism")];
    const LIST: &[(&str, &str, Arg, &str)] = &[
        CLUSTER[0],
        CLUSTER[1],
        CLUSTER[2],
        ("-a", "--all", Arg::Flag, "all"),
        ("-r", "--running", Arg::Flag, "running"),
        ("-s", "--scheduled", Arg::Flag, "scheduled"),
    ];
    const CANCEL: &[(&str, &str, Arg, &str)] =
        &[CLUSTER[0], CLUSTER[1], CLUSTER[2], ("-s", "--withSavepoint", Arg::Optional, "withSavepoint")];
    const SAVEPOINT: &[(&str, &str, Arg, &str)] = &[
        CLUSTER[0],
        CLUSTER[1],
        CLUSTER[2],
        ("-type", "--type", Arg::Required, "type"),
        ("-d", "--dispose", Arg::Required, "dispose"),
        ("-detached", "--detached", Arg::Flag, "detached"),
    ];
    const STOP: &[(&str, &str, Arg, &str)] = &[
        CLUSTER[0],
        CLUSTER[1],
        CLUSTER[2],
        ("-p", "--savepointPath", Arg::Optional, "savepointPath"),
        ("-d", "--drain", Arg::Flag, "drain"),
        ("-type", "--type", Arg::Required, "type"),
        ("-detached", "--detached", Arg::Flag, "detached"),
    ];
    const CHECKPOINT: &[(&str, &str, Arg, &str)] = &[CLUSTER[0], CLUSTER[1], CLUSTER[2], ("-full", "--full", Arg::Flag, "full")];
    match action {
        "run" | "run-application" => RUN,
        "info" => INFO,
        "list" => LIST,
        "cancel" => CANCEL,
        "savepoint" => SAVEPOINT,
        "stop" => STOP,
        "checkpoint" => CHECKPOINT,
        _ => &[],
    }
}

struct Opts {
    /// Canonical option name -> its values (one per occurrence; "" for a flag or an optional
    /// argument that was not given).
    values: std::collections::BTreeMap<&'static str, Vec<String>>,
    dynamic: Vec<String>,
    positional: Vec<String>,
}

impl Opts {
    fn has(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
    fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).and_then(|v| v.last()).map(String::as_str)
    }
    fn detached(&self) -> bool {
        self.has("detached")
    }
    fn jobmanager(&self) -> Option<&str> {
        self.value("jobmanager")
    }
    fn target(&self) -> Option<&str> {
        self.value("target")
    }
    fn parallelism(&self) -> Result<Option<u32>, String> {
        self.value("parallelism")
            .map(|v| v.parse::<u32>().ok().filter(|p| *p > 0).ok_or_else(|| format!("The parallelism must be a positive number: {v}")))
            .transpose()
    }
}

/// Parses an action's options as Flink's CliFrontendParser does: options first, then the
/// positional arguments; for `run` everything after the program belongs to the program.
fn parse(action: &str, args: &[String]) -> Result<Opts, String> {
    let table = options_of(action);
    let mut o = Opts { values: Default::default(), dynamic: Vec::new(), positional: Vec::new() };
    let program_args = matches!(action, "run" | "run-application" | "info");
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if program_args && !o.positional.is_empty() {
            o.positional.push(a.to_string());
            i += 1;
            continue;
        }
        if let Some(d) = a.strip_prefix("-D").filter(|d| !d.is_empty() && !d.starts_with('=')) {
            o.dynamic.push(d.to_string());
            i += 1;
            continue;
        }
        if let Some(&(_, _, arg, name)) = table.iter().find(|(short, long, _, _)| a == *short || (!long.is_empty() && a == *long)) {
            let v = match arg {
                Arg::Flag => String::new(),
                Arg::Required => {
                    i += 1;
                    args.get(i).cloned().ok_or_else(|| format!("Missing argument for option: {}", a.trim_start_matches('-')))?
                }
                Arg::Optional => match args.get(i + 1).filter(|n| !n.starts_with('-')) {
                    Some(n) => {
                        i += 1;
                        n.clone()
                    }
                    None => String::new(),
                },
            };
            if name == "D" {
                o.dynamic.push(v);
            } else {
                o.values.entry(name).or_default().push(v);
            }
        } else if a.starts_with('-') && a.len() > 1 {
            return Err(format!("Unrecognized option: {a}"));
        } else {
            o.positional.push(a.to_string());
        }
        i += 1;
    }
    Ok(o)
}

pub fn main(args: Vec<String>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let Some(action) = args.first().cloned() else {
        let _ = writeln!(err, "Please specify an action.\n{USAGE}");
        return 1;
    };
    // CliFrontend: `-v`/`--version` print the version; `<action> -h` that action's help.
    if action == "-v" || action == "--version" {
        let _ = writeln!(out, "Version: {}, Commit ID: {}", crate::FLINK_VERSION, crate::FLINK_REVISION);
        return 0;
    }
    if asks_help(&action, &args[1..]) {
        if let Some(help) = action_help(&action) {
            let _ = writeln!(out, "{help}");
            return 0;
        }
    }
    let r = parse(&action, &args[1..]).and_then(|o| match action.as_str() {
        "run" => run(o, out),
        "run-application" => run_application(o, out),
        "info" => info(o, out),
        "list" => list(o, out),
        "cancel" => cancel(o, out),
        "savepoint" => savepoint(o, out),
        "stop" => stop(o, out),
        "checkpoint" => checkpoint(o, out),
        "-h" | "--help" => {
            let _ = writeln!(out, "{USAGE}");
            Ok(0)
        }
        other => Err(format!(
            "\"{other}\" is not a valid action.\n\nValid actions are \"run\", \"run-application\", \"list\", \"info\", \"cancel\", \"savepoint\", \"stop\", \"checkpoint\"."
        )),
    });
    match r {
        Ok(c) => c,
        Err(e) => {
            let _ = writeln!(err, "\n------------------------------------------------------------\n The program finished with the following exception:\n\n{e}");
            1
        }
    }
}

/// Whether `-h`/`--help` comes among the action's own options (not the program's arguments).
fn asks_help(action: &str, args: &[String]) -> bool {
    let table = options_of(action);
    let mut i = 0;
    while i < args.len() {
        let a = args[i].as_str();
        if a == "-h" || a == "--help" {
            return true;
        }
        match table.iter().find(|(short, long, _, _)| a == *short || (!long.is_empty() && a == *long)) {
            Some((_, _, Arg::Required, _)) => i += 2,
            Some(_) => i += 1,
            None if a.starts_with('-') => i += 1,
            // The program file: what follows belongs to the program.
            None => return false,
        }
    }
    false
}

/// One action's section of the usage text, as CliFrontendParser.printHelpFor<Action> prints it.
fn action_help(action: &str) -> Option<String> {
    let head = format!("Action \"{action}\"");
    let start = USAGE.find(&head)?;
    let block = USAGE[start..].split("\n\n").next()?;
    let mut lines = block.lines();
    let title = lines.next()?;
    let syntax = lines.next()?;
    let options: Vec<&str> = lines.collect();
    let mut out = format!("\n{title}\n\n{syntax}\n");
    if !options.is_empty() {
        out.push_str(&format!("  \"{action}\" action options:\n{}\n", options.join("\n")));
    }
    Some(out)
}

fn read_program(o: &Opts) -> Result<(PathBuf, String, Vec<String>), String> {
    let path = o.positional.first().ok_or("No program specified. Please specify a program file (.toml) to run.")?;
    let text = std::fs::read_to_string(path).map_err(|e| format!("Could not read the program file {path}: {e}"))?;
    Ok((PathBuf::from(path), text, o.positional[1..].to_vec()))
}

/// Builds the program's JobGraphs in the client, shipping local input files it names to the
/// shared store so TaskManagers can read them, with the configuration's checkpointing,
/// restart, failover and restore settings (`flink run -s` included).
fn job_graphs(o: &Opts, conf: &FlinkConfig, y: Option<&Yarn>, app_dir: Option<&str>) -> Result<Vec<JobGraph>, String> {
    let (_, text, mut args) = read_program(o)?;
    // The store root for absolute checkpoint/savepoint paths: the cluster's, when known.
    let store_root = match y {
        Some(y) => y.store_root.clone(),
        None => Yarn::connect().ok().and_then(|y| y.store_root),
    };
    let settings = conf.job_settings(store_root.as_deref())?;
    // Bad HA settings fail here, before anything is deployed.
    super::launcher::ha_config(conf, store_root.as_deref())?;
    if let (Some(r), Some(root)) = (&settings.savepoint_restore, &store_root) {
        check_savepoint(root, &r.path)?;
    }
    // `--input <local file>`: ship it and point the program at the staged copy. A path that is
    // neither a local file nor a file in the shared store, or a directory, fails here, before
    // anything is submitted (Flink's job would fail restart after restart on it).
    let mut k = 0;
    while k + 1 < args.len() {
        if args[k] == "--input" {
            check_input(&args[k + 1], y)?;
        }
        if args[k] == "--input" && Path::new(&args[k + 1]).is_file() {
            if let (Some(y), Some(dir)) = (y, app_dir) {
                let local = PathBuf::from(&args[k + 1]);
                let name = local.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
                let rel = format!("{dir}/inputs/{name}");
                let dst = y.store()?.join(&rel);
                std::fs::create_dir_all(dst.parent().expect("has parent")).map_err(|e| e.to_string())?;
                std::fs::copy(&local, &dst).map_err(|e| format!("{}: {e}", local.display()))?;
                args[k + 1] = rel;
            }
        }
        k += 1;
    }
    let program = Program::parse(&text, &args)?;
    let p = match o.parallelism()? {
        Some(p) => p,
        None => conf.u32("parallelism.default", 1)?,
    };
    let mut ids = || {
        let mut b = [0u8; 16];
        std::fs::File::open("/dev/urandom")
            .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
            .map(|_| u128::from_le_bytes(b))
            .unwrap_or(super::now_ms() as u128)
    };
    let mut graphs = program.job_graphs_with(p, &settings.restart, &mut ids)?;
    for g in &mut graphs {
        settings.apply(g);
    }
    Ok(graphs)
}

/// `--input`: a local file (shipped), or a file already in the shared store.
fn check_input(arg: &str, y: Option<&Yarn>) -> Result<(), String> {
    let local = Path::new(arg);
    if local.is_dir() {
        return Err(format!("The input {arg} is a directory: --input takes a single file (the text-file source reads one file)."));
    }
    if local.is_file() {
        return Ok(());
    }
    let connected;
    let y = match y {
        Some(y) => Some(y),
        None => {
            connected = Yarn::connect().ok();
            connected.as_ref()
        }
    };
    let in_store = y.and_then(|y| y.store().ok()).map(|root| {
        let rel = arg.trim_start_matches("file://").trim_start_matches(root.to_string_lossy().as_ref()).trim_start_matches('/');
        let p = root.join(rel);
        (p.is_file(), p.is_dir())
    });
    match in_store {
        Some((true, _)) => Ok(()),
        Some((_, true)) => Err(format!("The input {arg} is a directory in the shared store: --input takes a single file.")),
        _ => Err(format!(
            "java.io.FileNotFoundException: File file:{} does not exist or the user running Flink ('{}') has insufficient permissions to access it.",
            if local.is_absolute() { arg.to_string() } else { std::env::current_dir().map(|d| d.join(arg).display().to_string()).unwrap_or_else(|_| arg.to_string()) },
            yarn_sim::cli::current_user()
        )),
    }
}

/// What the JobManager would find at a restore path (`flink run -s`), checked before anything
/// is submitted or deployed: the path must exist in the store and be a checkpoint or savepoint
/// directory holding `_metadata`, or that `_metadata` file. Messages as Flink's
/// AbstractFsCheckpointStorageAccess.resolveCheckpointPointer.
pub fn check_savepoint(store_root: &Path, rel: &str) -> Result<(), String> {
    let p = store_root.join(rel);
    let shown = format!("file:{}", p.display());
    if p.is_dir() {
        if p.join(METADATA_FILE).is_file() {
            return Ok(());
        }
        return Err(format!(
            "java.io.FileNotFoundException: Cannot find meta data file '{METADATA_FILE}' in directory '{shown}'. Please try to load the checkpoint/savepoint directly from the metadata file instead of the directory."
        ));
    }
    if p.is_file() {
        if p.file_name().is_some_and(|n| n == METADATA_FILE) {
            return Ok(());
        }
        return Err(format!(
            "java.io.IOException: '{shown}' is not a checkpoint or savepoint: give its directory or its '{METADATA_FILE}' file."
        ));
    }
    Err(format!("java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory '{shown}' on file system 'file'."))
}

/// The file that makes a directory a completed checkpoint or savepoint.
pub const METADATA_FILE: &str = "_metadata";

/// Where a session job goes: `-m host:port`, `-t yarn-session -Dyarn.application.id=..`, or
/// the YARN properties file.
fn session_target(o: &Opts, conf: &FlinkConfig, out: &mut dyn Write) -> Result<(String, Option<(Yarn, String)>), String> {
    if let Some(m) = o.jobmanager() {
        if m != "yarn-cluster" {
            return Ok((m.to_string(), None));
        }
    }
    let y = Yarn::connect()?;
    let app = match conf.get("yarn.application.id") {
        Some(id) => id.to_string(),
        None => match read_properties(conf)? {
            Some((path, id)) => {
                let _ = writeln!(out, "Found Yarn properties file under {}.", path.display());
                id
            }
            None => return Err(
                "No cluster to submit to: start one with yarn-session, or pass -m host:port / -t yarn-session -Dyarn.application.id=<id>"
                    .into(),
            ),
        },
    };
    let rest = super::rest_address_of(&y.rm, &app)?;
    let _ = writeln!(out, "Found Web Interface {rest} of application '{app}'.");
    Ok((rest, Some((y, app))))
}

/// The configuration with the program options that Flink turns into settings: `-s` =
/// execution.state-recovery.path, `-n` = .ignore-unclaimed-state, `-cm` = .claim-mode.
fn client_config(o: &Opts) -> Result<FlinkConfig, String> {
    let mut conf = load_config(&o.dynamic)?;
    if let Some(p) = o.value("fromSavepoint") {
        conf.set(keys::STATE_RECOVERY_PATH, p);
    }
    if o.has("allowNonRestoredState") {
        conf.set(keys::STATE_RECOVERY_IGNORE_UNCLAIMED, "true");
    }
    if let Some(m) = o.value("claimMode") {
        conf.set(keys::STATE_RECOVERY_CLAIM_MODE, m);
    }
    Ok(conf)
}

fn run(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let mut conf = client_config(&o)?;
    // A session found through the YARN properties file: its `-D` properties apply to the job
    // (between the configuration file and this command's own -D), as FlinkYarnSessionCli does.
    if o.jobmanager().is_none() && conf.get("yarn.application.id").is_none() && o.target() != Some("yarn-per-job") {
        let mut props = super::session_dynamic_properties(&conf);
        if !props.is_empty() {
            props.extend(o.dynamic.iter().cloned());
            conf = client_config(&Opts { dynamic: props, values: o.values.clone(), positional: Vec::new() })?;
        }
    }
    if o.target() == Some("yarn-per-job") {
        return run_per_job(&o, conf, out);
    }
    if let Some(t) = o.target().filter(|t| !matches!(*t, "yarn-session" | "remote")) {
        return Err(format!(
            "Unknown target '{t}' for run: use remote, yarn-session or yarn-per-job (or run-application -t yarn-application)."
        ));
    }
    let (rest, yarn) = session_target(&o, &conf, out)?;
    let dir = yarn.as_ref().map(|(_, app)| format!(".flink/{app}"));
    let graphs = job_graphs(&o, &conf, yarn.as_ref().map(|(y, _)| y), dir.as_deref())?;
    let am = Rest::new(&rest);
    let attempts = conf.u32(keys::REST_RETRY_MAX_ATTEMPTS, flink_core::config::defaults::REST_RETRY_MAX_ATTEMPTS)?;
    let delay = Duration::from_millis(conf.duration_ms(keys::REST_RETRY_DELAY, flink_core::config::defaults::REST_RETRY_DELAY_MS)?);
    for g in graphs {
        let id = g.job_id.to_string();
        let body = serde_json::to_value(&g).map_err(|e| e.to_string())?;
        // A 503 (a leader election, or a new leader recovering its jobs) is retried, as Flink's
        // RestClusterClient does; anything else fails the submission at once.
        let mut tries = 0;
        loop {
            match am.post("/jobs", body.clone()) {
                Ok(_) => break,
                Err(e) if e.status == 503 && tries < attempts => {
                    tries += 1;
                    std::thread::sleep(delay);
                }
                Err(e) => {
                    return Err(format!(
                        "org.apache.flink.client.program.ProgramInvocationException: Could not submit job {id}.\n{}",
                        e.message
                    ))
                }
            }
        }
        let _ = writeln!(out, "Job has been submitted with JobID {id}");
        if o.detached() {
            continue;
        }
        wait_for_result(&am, &id, out)?;
    }
    Ok(0)
}

/// Attached mode: poll the execution result, then Flink's closing lines.
fn wait_for_result(am: &Rest, id: &str, out: &mut dyn Write) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let r = am.get(&format!("/jobs/{id}/execution-result")).map_err(|e| e.message)?;
        if s(&r["status"], "id") == "COMPLETED" {
            let res = &r["job-execution-result"];
            let status = s(res, "application-status");
            if status != "SUCCEEDED" {
                let cause =
                    res["failure-cause"]["stack-trace"].as_str().or(res["failure-cause"]["class"].as_str()).unwrap_or("").to_string();
                return Err(format!(
                    "org.apache.flink.client.program.ProgramInvocationException: Job failed (JobID: {id})\nJob status: {status}\n{cause}"
                ));
            }
            let _ = writeln!(out, "Program execution finished");
            let _ = writeln!(out, "Job with JobID {id} has finished.");
            let _ = writeln!(out, "Job Runtime: {} ms", n(res, "net-runtime") as i64);
            return Ok(());
        }
        if start.elapsed() > Duration::from_secs(3600) {
            return Err(format!("Timed out waiting for job {id}"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn run_per_job(o: &Opts, conf: FlinkConfig, out: &mut dyn Write) -> Result<i32, String> {
    let _ = writeln!(out, "WARNING: Per-job mode is deprecated in Flink 1.15 and will be removed. Use application mode (run-application -t yarn-application) instead.");
    let y = Yarn::connect()?;
    let graphs = job_graphs(o, &conf, None, None)?;
    if graphs.len() != 1 {
        return Err(format!("Per-job mode runs exactly one job; the program defines {}.", graphs.len()));
    }
    let g = &graphs[0];
    super::launcher::ha_config(&conf, y.store_root.as_deref())?;
    let json = serde_json::to_vec_pretty(g).map_err(|e| e.to_string())?;
    let d =
        deploy(&y, DeploySpec { mode: ClusterMode::PerJob, conf, files: vec![("job-graph.json".into(), json)], ship: Vec::new() }, out)?;
    let _ = writeln!(out, "Job has been submitted with JobID {}", g.job_id);
    if o.detached() {
        return Ok(0);
    }
    wait_for_app(&y, &d.app_id, out)
}

fn run_application(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    match o.target() {
        Some("yarn-application") => {}
        Some(t) => return Err(format!("No ClusterClientFactory found. If you were targeting a Yarn cluster, please make sure to export the HADOOP_CLASSPATH environment variable or have hadoop in your classpath. Unsupported target for run-application: {t}")),
        None => return Err("run-application needs a target: -t yarn-application".into()),
    }
    let conf = client_config(&o)?;
    let (path, text, args) = read_program(&o)?;
    // Fail fast on a bad program or bad settings, in the client, before anything is deployed.
    Program::parse(&text, &args)?;
    let store_root = Yarn::connect().ok().and_then(|y| y.store_root);
    let settings = conf.job_settings(store_root.as_deref())?;
    if let (Some(r), Some(root)) = (&settings.savepoint_restore, &store_root) {
        check_savepoint(root, &r.path)?;
    }
    let mut conf = conf;
    conf.set("$internal.application.program-args", &args.join("\u{1f}"));
    if let Some(p) = o.parallelism()? {
        conf.set("parallelism.default", &p.to_string());
    }
    let y = Yarn::connect()?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let d = deploy(
        &y,
        DeploySpec { mode: ClusterMode::Application, conf, files: vec![("program.toml".into(), text.into_bytes())], ship: Vec::new() },
        out,
    )?;
    let _ = writeln!(out, "Submitted application {} running {name} in application mode.", d.app_id);
    if o.detached() {
        return Ok(0);
    }
    wait_for_app(&y, &d.app_id, out)
}

/// Waits for the YARN application of an application/per-job cluster to end.
fn wait_for_app(y: &Yarn, app: &str, out: &mut dyn Write) -> Result<i32, String> {
    loop {
        let v = y.rm.get(&format!("/ws/v1/cluster/apps/{app}")).map_err(|e| e.message)?;
        let (st, fin) = (s(&v["app"], "state"), s(&v["app"], "finalStatus"));
        if matches!(st.as_str(), "FINISHED" | "FAILED" | "KILLED") {
            let _ = writeln!(out, "Application {app} finished with state {st} and final state {fin}");
            return Ok(if fin == "SUCCEEDED" { 0 } else { 1 });
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn info(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let conf = client_config(&o)?;
    let graphs = job_graphs(&o, &conf, None, None)?;
    for g in graphs {
        let plan = serde_json::to_string_pretty(&flink_core::plan::plan_json(&g)).map_err(|e| e.to_string())?;
        let _ = writeln!(out, "----------------------- Execution Plan -----------------------");
        let _ = writeln!(out, "{plan}");
        let _ = writeln!(out, "--------------------------------------------------------------");
    }
    let _ = writeln!(out, "\nNo description provided.");
    Ok(0)
}

/// "30.11.2020 16:02:29" (UTC).
fn flink_date(ms: i64) -> String {
    let t = yarn_sim::cli::fmt::times(ms);
    // "Wed Jun 12 08:40:17 +0000 2019" -> pieces
    let p: Vec<&str> = t.split(' ').collect();
    if p.len() < 6 {
        return t;
    }
    let month =
        ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"].iter().position(|m| *m == p[1]).unwrap_or(0)
            + 1;
    format!("{}.{month:02}.{} {}", p[2], p[5], p[3])
}

fn list(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let conf = load_config(&o.dynamic)?;
    let (rest, _) = session_target(&o, &conf, out)?;
    let _ = writeln!(out, "Waiting for response...");
    let v = Rest::new(&rest).get("/jobs/overview").map_err(|e| e.message)?;
    let jobs: Vec<Value> = v["jobs"].as_array().cloned().unwrap_or_default();
    let line = |j: &Value| format!("{} : {} : {} ({})", flink_date(n(j, "start-time") as i64), s(j, "jid"), s(j, "name"), s(j, "state"));
    let all = o.has("all");
    let running_only = o.has("running");
    let scheduled_only = o.has("scheduled");
    let running: Vec<&Value> =
        jobs.iter().filter(|j| matches!(s(j, "state").as_str(), "RUNNING" | "RESTARTING" | "FAILING" | "CANCELLING")).collect();
    let scheduled: Vec<&Value> = jobs.iter().filter(|j| matches!(s(j, "state").as_str(), "CREATED" | "INITIALIZING")).collect();
    let terminated: Vec<&Value> = jobs.iter().filter(|j| matches!(s(j, "state").as_str(), "FINISHED" | "CANCELED" | "FAILED")).collect();
    if !scheduled_only {
        if running.is_empty() {
            let _ = writeln!(out, "No running jobs.");
        } else {
            let _ = writeln!(out, "------------------ Running/Restarting Jobs -------------------");
            for j in &running {
                let _ = writeln!(out, "{}", line(j));
            }
            let _ = writeln!(out, "--------------------------------------------------------------");
        }
    }
    if !running_only {
        if scheduled.is_empty() {
            let _ = writeln!(out, "No scheduled jobs.");
        } else {
            let _ = writeln!(out, "----------------------- Scheduled Jobs -----------------------");
            for j in &scheduled {
                let _ = writeln!(out, "{}", line(j));
            }
            let _ = writeln!(out, "--------------------------------------------------------------");
        }
    }
    if all && !terminated.is_empty() {
        let _ = writeln!(out, "---------------------- Terminated Jobs -----------------------");
        for j in &terminated {
            let _ = writeln!(out, "{}", line(j));
        }
        let _ = writeln!(out, "--------------------------------------------------------------");
    }
    Ok(0)
}

fn cancel(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let conf = load_config(&o.dynamic)?;
    // `-s [dir] <id>`: with a single argument after -s, that argument is the job id.
    let (id, savepoint_dir) = match (o.values.get("withSavepoint").and_then(|v| v.last()), o.positional.first()) {
        (Some(dir), Some(id)) => (id.clone(), Some(dir.clone()).filter(|d| !d.is_empty())),
        (Some(id), None) if !id.is_empty() => (id.clone(), None),
        (_, Some(id)) => (id.clone(), None),
        (_, None) => return Err("Missing JobID. Specify a Job ID to cancel a job.".into()),
    };
    let with_savepoint = o.has("withSavepoint");
    if id.parse::<flink_core::JobId>().is_err() {
        return Err(format!("Error: The value for the Job ID is not a valid ID. Specify a Job ID to cancel a job. ({id})"));
    }
    let (rest, _) = session_target(&Opts { positional: Vec::new(), ..o }, &conf, out)?;
    let am = Rest::new(&rest);
    if with_savepoint {
        let _ = writeln!(out, "DEPRECATION WARNING: Cancelling a job with savepoint is deprecated. Use \"stop\" instead.");
        match &savepoint_dir {
            Some(d) => writeln!(out, "Cancelling job {id} with CANONICAL savepoint to {d}."),
            None => writeln!(out, "Cancelling job {id} with CANONICAL savepoint to default savepoint directory."),
        }
        .ok();
        let body = serde_json::json!({"target-directory": savepoint_dir, "cancel-job": true, "formatType": "CANONICAL"});
        let path = trigger_and_wait(&am, &format!("/jobs/{id}/savepoints"), body, "savepoints", &conf, None)
            .map_err(|e| flink_exception(&format!("Could not cancel job {id}."), &e))?;
        let _ = writeln!(out, "Cancelled job {id}. Savepoint stored in {}.", s(&path, "location"));
        return Ok(0);
    }
    let _ = writeln!(out, "Cancelling job {id}.");
    am.patch(&format!("/jobs/{id}?mode=cancel")).map_err(|e| format!("Could not cancel job {id}.\n{}", e.message))?;
    let _ = writeln!(out, "Cancelled job {id}.");
    Ok(0)
}

/// Flink's client-side wrapping of a failed operation: the FlinkException, then the cause.
fn flink_exception(message: &str, cause: &str) -> String {
    format!("org.apache.flink.util.FlinkException: {message}\nCaused by: {cause}")
}

fn job_id_arg(id: Option<&String>, missing: &str) -> Result<String, String> {
    let id = id.ok_or_else(|| missing.to_string())?;
    if id.parse::<flink_core::JobId>().is_err() {
        return Err(format!("Error: The value for the Job ID is not a valid ID. ({id})"));
    }
    Ok(id.clone())
}

/// POSTs a trigger, then (unless `detached` prints its id) polls
/// `/jobs/:id/<status>/:trigger` until the operation completes or `client.timeout` passes.
/// Ok = the operation's result object; Err = the failure's trace text or the REST error.
fn trigger_and_wait(
    am: &Rest,
    post: &str,
    body: Value,
    status: &str,
    conf: &FlinkConfig,
    detached: Option<(&mut dyn Write, &str)>,
) -> Result<Value, String> {
    let (_, v) = am.post(post, body).map_err(|e| e.message)?;
    let trigger = s(&v, "request-id");
    if let Some((out, line)) = detached {
        let _ = writeln!(out, "{line}{trigger}");
        return Ok(Value::Null);
    }
    let job = post.trim_start_matches("/jobs/").split('/').next().unwrap_or("");
    let timeout = Duration::from_millis(conf.duration_ms(keys::CLIENT_TIMEOUT, flink_core::config::defaults::CLIENT_TIMEOUT_MS)?);
    let start = Instant::now();
    loop {
        let r = am.get(&format!("/jobs/{job}/{status}/{trigger}")).map_err(|e| e.message)?;
        if s(&r["status"], "id") == "COMPLETED" {
            let op = &r["operation"];
            if let Some(cause) = op.get("failure-cause").or_else(|| op.get("failureCause")).filter(|c| !c.is_null()) {
                let trace = cause["stack-trace"].as_str().or(cause["class"].as_str()).unwrap_or("unknown failure");
                return Err(trace.to_string());
            }
            return Ok(op.clone());
        }
        if start.elapsed() > timeout {
            return Err(format!("java.util.concurrent.TimeoutException: no result after {} ms (client.timeout)", timeout.as_millis()));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `flink savepoint <jobId> [targetDirectory] [-type canonical|native] [-detached]`.
fn savepoint(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let conf = load_config(&o.dynamic)?;
    if o.has("dispose") {
        return Err(
            "Disposing savepoints (-d/--dispose) is not supported here: remove the savepoint directory from the shared store.".into()
        );
    }
    let id = job_id_arg(o.positional.first(), "Missing JobID. Specify a Job ID to trigger a savepoint.")?;
    if o.positional.len() > 2 {
        return Err(format!("Unexpected arguments: {}", o.positional[2..].join(" ")));
    }
    let target = o.positional.get(1).cloned();
    let format = crate::async_ops::SavepointFormat::parse(o.value("type"))?;
    let detached = o.detached();
    let (rest, _) = session_target(&Opts { positional: Vec::new(), ..o }, &conf, out)?;
    let am = Rest::new(&rest);
    let body = serde_json::json!({"target-directory": target, "cancel-job": false, "formatType": format.name()});
    let wrap = |e: String| flink_exception(&format!("Failed to trigger a savepoint for the job {id}."), &e);
    let post = format!("/jobs/{id}/savepoints");
    if detached {
        let _ = writeln!(out, "Triggering savepoint in detached mode for job {id}.");
        trigger_and_wait(&am, &post, body, "savepoints", &conf, Some((out, "Successfully trigger manual savepoint, triggerId: ")))
            .map_err(wrap)?;
        return Ok(0);
    }
    let _ = writeln!(out, "Triggering savepoint for job {id}.");
    let _ = writeln!(out, "Waiting for response...");
    let op = trigger_and_wait(&am, &post, body, "savepoints", &conf, None).map_err(wrap)?;
    let _ = writeln!(out, "Savepoint completed. Path: {}", s(&op, "location"));
    let _ = writeln!(out, "You can resume your program from this savepoint with the run command.");
    Ok(0)
}

/// `flink stop [-p [dir]] [-d] [-type ..] [-detached] <jobId>`: stop-with-savepoint.
fn stop(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let conf = load_config(&o.dynamic)?;
    let given_dir = o.value("savepointPath").filter(|d| !d.is_empty()).map(String::from);
    // Flink's quirk: `stop -p <jobId>` reads the job id as -p's value; then the job id is it
    // and the default directory is used.
    let (id, target) = match (o.positional.first(), given_dir) {
        (Some(id), dir) => (id.clone(), dir),
        (None, Some(id)) => (id, None),
        (None, None) => return Err("Missing JobID in the command line arguments.".into()),
    };
    if o.positional.len() > 1 {
        return Err(format!("Unexpected arguments: {}", o.positional[1..].join(" ")));
    }
    let id = job_id_arg(Some(&id), "")?;
    let format = crate::async_ops::SavepointFormat::parse(o.value("type"))?;
    let drain = o.has("drain");
    let detached = o.detached();
    let (rest, _) = session_target(&Opts { positional: Vec::new(), ..o }, &conf, out)?;
    let am = Rest::new(&rest);
    let _ = writeln!(out, "{} job \"{id}\" with a {} savepoint.", if drain { "Draining" } else { "Suspending" }, format.name());
    let body = serde_json::json!({"targetDirectory": target, "drain": drain, "formatType": format.name()});
    let wrap = |e: String| flink_exception(&format!("Could not stop with a savepoint job \"{id}\"."), &e);
    let post = format!("/jobs/{id}/stop");
    if detached {
        let _ = writeln!(out, "Triggering stop-with-savepoint in detached mode for job {id}.");
        trigger_and_wait(
            &am,
            &post,
            body,
            "savepoints",
            &conf,
            Some((out, "Successfully trigger stop-with-savepoint in detached mode, triggerId: ")),
        )
        .map_err(wrap)?;
        return Ok(0);
    }
    let _ = writeln!(out, "Triggering stop-with-savepoint for job {id}.");
    let _ = writeln!(out, "Waiting for response...");
    let op = trigger_and_wait(&am, &post, body, "savepoints", &conf, None).map_err(wrap)?;
    let _ = writeln!(out, "Savepoint completed. Path: {}", s(&op, "location"));
    Ok(0)
}

/// `flink checkpoint <jobId> [-full]`.
fn checkpoint(o: Opts, out: &mut dyn Write) -> Result<i32, String> {
    let conf = load_config(&o.dynamic)?;
    let id = job_id_arg(o.positional.first(), "Missing JobID. Specify a Job ID to trigger a checkpoint.")?;
    if o.positional.len() > 1 {
        return Err(format!("Unexpected arguments: {}", o.positional[1..].join(" ")));
    }
    let full = o.has("full");
    let (rest, _) = session_target(&Opts { positional: Vec::new(), ..o }, &conf, out)?;
    let am = Rest::new(&rest);
    let _ = writeln!(out, "Triggering checkpoint for job {id}.");
    let _ = writeln!(out, "Waiting for response...");
    let body = serde_json::json!({"checkpointType": if full { "FULL" } else { "CONFIGURED" }});
    let op = trigger_and_wait(&am, &format!("/jobs/{id}/checkpoints"), body, "checkpoints", &conf, None)
        .map_err(|e| flink_exception(&format!("Failed to trigger a checkpoint for the job {id}."), &e))?;
    let _ = writeln!(out, "Checkpoint{} {} for job {id} completed.", if full { "(FULL)" } else { "" }, n(&op, "checkpointId") as u64);
    let _ = writeln!(out, "You can resume your program from this checkpoint with the run command.");
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn version_and_help_print_like_cli_frontend() {
        let run_main = |a: &[&str]| {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = main(args(a), &mut out, &mut err);
            (code, String::from_utf8(out).unwrap(), String::from_utf8(err).unwrap())
        };
        for v in ["-v", "--version"] {
            let (code, out, _) = run_main(&[v]);
            assert_eq!((code, out), (0, format!("Version: {}, Commit ID: {}\n", crate::FLINK_VERSION, crate::FLINK_REVISION)));
        }
        let (code, out, _) = run_main(&["run", "-h"]);
        assert_eq!(code, 0);
        assert!(out.starts_with("\nAction \"run\" compiles and runs a program.\n\n  Syntax: run [OPTIONS] <program.toml> <arguments>\n  \"run\" action options:\n     -d,--detached"), "{out}");
        assert!(!out.contains("run-application"), "only run's section: {out}");
        let (code, out, _) = run_main(&["list", "-a", "--help"]);
        assert!(code == 0 && out.contains("Action \"list\" lists running and scheduled programs.") && out.contains("-a,--all"), "{out}");
        let (code, out, _) = run_main(&["--help"]);
        assert!(code == 0 && out.contains("Action \"checkpoint\""), "{out}");
        // After the program file, -h belongs to the program.
        assert!(!asks_help("run", &args(&["-p", "2", "prog.toml", "-h"])));
        assert!(asks_help("run", &args(&["-p", "2", "-h", "prog.toml"])));
    }

    #[test]
    fn dates_print_like_flinks_list() {
        assert_eq!(super::flink_date(1560328817000), "12.06.2019 08:40:17");
    }

    #[test]
    fn run_options_stop_at_the_program_and_set_the_restore_keys() {
        let o = parse("run", &args(&["-s", "file:/x/sp", "-n", "-p", "4", "-Dk=v", "prog.toml", "--input", "-s"])).unwrap();
        assert_eq!(o.value("fromSavepoint"), Some("file:/x/sp"));
        assert!(o.has("allowNonRestoredState"));
        assert_eq!(o.parallelism().unwrap(), Some(4));
        assert_eq!(o.dynamic, vec!["k=v".to_string()]);
        assert_eq!(o.positional, args(&["prog.toml", "--input", "-s"]));
        let conf = client_config(&o).unwrap();
        assert_eq!(conf.get(keys::STATE_RECOVERY_PATH), Some("file:/x/sp"));
        assert_eq!(conf.get(keys::STATE_RECOVERY_IGNORE_UNCLAIMED), Some("true"));
        assert!(parse("run", &args(&["-p", "0", "x"])).unwrap().parallelism().is_err());
        assert_eq!(parse("run", &args(&["-s"])).err().unwrap(), "Missing argument for option: s");
        assert_eq!(parse("run", &args(&["--bogus", "x"])).err().unwrap(), "Unrecognized option: --bogus");
    }

    #[test]
    fn the_same_letter_means_what_the_action_says() {
        assert!(parse("list", &args(&["-s"])).unwrap().has("scheduled"));
        let stop = parse("stop", &args(&["-p", "sp", "-d", "abc"])).unwrap();
        assert_eq!((stop.value("savepointPath"), stop.has("drain"), stop.positional.clone()), (Some("sp"), true, args(&["abc"])));
        // An optional argument is not taken when the next token is an option.
        let stop = parse("stop", &args(&["-p", "-d", "abc"])).unwrap();
        assert_eq!((stop.value("savepointPath"), stop.positional.clone()), (Some(""), args(&["abc"])));
        let sp = parse("savepoint", &args(&["abc", "dir", "-type", "native", "-detached"])).unwrap();
        assert_eq!((sp.value("type"), sp.detached(), sp.positional.clone()), (Some("native"), true, args(&["abc", "dir"])));
        assert!(parse("checkpoint", &args(&["-full", "abc"])).unwrap().has("full"));
        assert!(parse("checkpoint", &args(&["-p", "1"])).is_err());
    }

    #[test]
    fn restore_paths_are_checked_before_anything_is_submitted() {
        let root = std::env::temp_dir().join(format!("flink-cli-sp-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("sp/savepoint-abcdef-000000000001")).unwrap();
        std::fs::write(root.join("sp/savepoint-abcdef-000000000001/_metadata"), "{}").unwrap();
        std::fs::create_dir_all(root.join("sp/empty")).unwrap();
        std::fs::write(root.join("sp/file.txt"), "x").unwrap();
        assert!(check_savepoint(&root, "sp/savepoint-abcdef-000000000001").is_ok());
        assert!(check_savepoint(&root, "sp/savepoint-abcdef-000000000001/_metadata").is_ok());
        let e = check_savepoint(&root, "sp/missing").unwrap_err();
        assert!(e.starts_with("java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory 'file:/"), "{e}");
        let e = check_savepoint(&root, "sp/empty").unwrap_err();
        assert!(e.contains("Cannot find meta data file '_metadata' in directory"), "{e}");
        assert!(check_savepoint(&root, "sp/file.txt").unwrap_err().contains("is not a checkpoint or savepoint"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
