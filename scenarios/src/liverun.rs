//! Runs a scenario against live processes: `yarn-sim start` (RM + NodeManagers as OS
//! processes on 127.0.0.1), deployments with the real `yarn-session` and `flink` CLIs,
//! observations over REST, and process faults as real signals (kill -9, SIGTERM, SIGSTOP /
//! SIGCONT) to the container or daemon process. Network faults go to the live transport's
//! fault layer: `POST /_fault` on the processes at both ends, signed with the cluster secret
//! (`<work>/conf/cluster-secret`); every process is on 127.0.0.1, so rules name processes, and
//! only the JobManager and TaskManagers are addressed that way. Store faults and fail-launch
//! are SKIP live.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use yarn_sim::cli::http::{s, Rest};

use crate::model::{compare_output, CommittedOutput, ContainerSpan, Event, ExpectedLines, Observed, RunResult, Status, Verdict};
use crate::spec::{Action, DeployKind, Expect, Flink, RealProgram, Role, Spec, Trigger, When};
use engine::fault::{DropRule, Endpoint, Fault, Link};

/// Why a scenario cannot run live, if it cannot (beyond `Spec::skip_reason`).
pub fn live_skip_reason(spec: &Spec) -> Option<String> {
    if spec.requires.iter().any(|r| r == "ha") {
        if let Some(why) = yarn_sim::cli::zookeeper::unavailable() {
            return Some(format!("requires ha: {why}"));
        }
    }
    for st in &spec.steps {
        let why = match &st.action {
            // ZooKeeper is reached through the AM's and TaskManagers' gateways, whose fault
            // layer decides both directions of that traffic.
            a if a.is_network()
                && a.roles()
                    .iter()
                    .any(|r| !matches!(r, Role::Am | Role::TaskManager(_) | Role::RemoteTaskManager(_) | Role::ZooKeeper)) =>
            {
                "network faults live are set per process, for the JobManager (am), TaskManagers and their ZooKeeper traffic only"
            }
            Action::FailStore { .. } | Action::RestoreStore => "store faults need the live store's fault layer (not in this build)",
            Action::FailLaunch { .. } | Action::RestoreLaunch => "fail-launch is a simulator verb",
            _ => continue,
        };
        return Some(format!("step at line {}: {why}", st.line));
    }
    None
}

/// The directory with the workspace's binaries: next to this executable (target/debug or
/// target/release), or `SCENARIO_BIN_DIR`.
pub fn bin_dir() -> PathBuf {
    if let Ok(d) = std::env::var("SCENARIO_BIN_DIR") {
        return PathBuf::from(d);
    }
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    // Test executables live in target/<profile>/deps.
    if dir.ends_with("deps") {
        return dir.parent().map(Path::to_path_buf).unwrap_or(dir);
    }
    dir
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap_or(0)
}

/// A live cluster in a temp dir; stopped and removed on drop, leftovers killed.
struct Cluster {
    work: PathBuf,
    rm_port: u16,
    bins: PathBuf,
    /// Environment for the daemons (the real Flink's containers need JAVA_HOME from the NM's).
    env: Vec<(String, String)>,
    /// Directories outside `work` to remove at the end (the real Flink client's staging
    /// directories, `~/.flink/<application id>`).
    staging: Vec<PathBuf>,
}

impl Cluster {
    fn conf_dir(&self) -> PathBuf {
        self.work.join("conf")
    }

    fn cmd(&self, program: &str) -> Command {
        let mut c = Command::new(self.bins.join(program));
        c.env("YARN_CONF_DIR", self.conf_dir()).env_remove("HADOOP_CONF_DIR").env_remove("FLINK_CONF_DIR").stdin(Stdio::null());
        c
    }

    fn processes_inside(&self) -> Vec<i32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else { continue };
            if std::fs::read_link(e.path().join("cwd")).is_ok_and(|cwd| cwd.starts_with(&self.work)) {
                out.push(pid);
            }
        }
        out
    }

    /// The JVM whose environment says it runs `container` and whose command line names `class`.
    fn jvm_pid(&self, container: &str, class: &str) -> Option<i32> {
        let want = format!("CONTAINER_ID={container}");
        self.processes_inside().into_iter().find(|pid| {
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()) && cmdline.split(|b| *b == 0).any(|a| a.starts_with(class.as_bytes()))
        })
    }

    /// The process whose environment says it runs `container`.
    fn container_pid(&self, container: &str) -> Option<i32> {
        let want = format!("CONTAINER_ID={container}");
        self.processes_inside().into_iter().find(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == want.as_bytes()))
        })
    }

    fn daemon_pid(&self, name: &str) -> Option<i32> {
        std::fs::read_to_string(self.work.join("run").join(format!("{name}.pid"))).ok()?.trim().parse().ok()
    }

    /// Spawns a daemon of `yarn-sim` detached, logging into logs/, and records its pid.
    fn spawn_daemon(&self, args: &[String], name: &str) -> Result<(), String> {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.work.join("logs").join(format!("{name}.log")))
            .map_err(|e| e.to_string())?;
        let err = log.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(self.bins.join("yarn-sim"))
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| e.to_string())?;
        std::fs::write(self.work.join("run").join(format!("{name}.pid")), child.id().to_string()).map_err(|e| e.to_string())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(self.bins.join("yarn-sim")).args(["stop", "--work-dir"]).arg(&self.work).output();
        for pid in self.processes_inside() {
            let _ = kill(Pid::from_raw(pid), Signal::SIGCONT);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(&self.work);
        for d in &self.staging {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

fn yarn_site(spec: &Spec, extra: &[(String, String)]) -> String {
    let mut props: Vec<(String, String)> = spec.cluster.yarn.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    for (k, v) in extra {
        if !spec.cluster.yarn.contains_key(k) {
            props.push((k.clone(), v.clone()));
        }
    }
    if !spec.cluster.queues.is_empty() {
        props.push(("yarn.scheduler.capacity.root.queues".into(), spec.cluster.queues.keys().cloned().collect::<Vec<_>>().join(",")));
        for (q, c) in &spec.cluster.queues {
            props.push((format!("yarn.scheduler.capacity.root.{q}.capacity"), c.to_string()));
        }
    }
    let mut x = String::from("<?xml version=\"1.0\"?>\n<configuration>\n");
    for (k, v) in props {
        x.push_str(&format!("  <property><name>{k}</name><value>{v}</value></property>\n"));
    }
    x.push_str("</configuration>\n");
    x
}

#[derive(Default, Clone)]
struct Dep {
    app: Option<String>,
    job: Option<String>,
    ckpt: LiveCheckpoints,
}

/// A job's checkpoints as `GET /jobs/:id/checkpoints` shows them, per JobManager (REST address).
#[derive(Default, Clone)]
struct LiveCheckpoints {
    /// (JobManager, checkpoint id) of completed checkpoints (not savepoints).
    completed: std::collections::BTreeSet<(String, u64)>,
    /// `counts.failed` per JobManager.
    failed: BTreeMap<String, u64>,
    /// (JobManager, id, restore timestamp) of the latest restore.
    restored: Option<(String, u64, u64)>,
    ack_violations: Vec<String>,
    /// A triggered savepoint: (JobManager REST address, job, trigger id, verb).
    op: Option<(String, String, String, &'static str)>,
    op_outcome: Option<Result<String, String>>,
}

/// Fault-layer rules to post later: (when, (node address, fault) pairs, what the log says).
type FaultHeal = (Instant, Vec<(String, Fault)>, String);

struct LiveRun<'a> {
    spec: &'a Spec,
    c: Cluster,
    rm: Rest,
    start: Instant,
    deps: Vec<Dep>,
    events: Vec<Event>,
    observed: Observed,
    restarts: BTreeMap<usize, usize>,
    /// The NodeManager (0-based) each `nm-of` role last resolved to, by the role's text.
    nm_bound: BTreeMap<String, usize>,
    /// NodeManager ids in the order containers were first seen on them (timeline lanes).
    nodes: Vec<String>,
    /// Each container's NodeManager id.
    node_of: BTreeMap<String, String>,
    /// Fault-layer rules to undo later: (when, (node, fault) to post, what the log says).
    fault_heals: Vec<FaultHeal>,
    /// Nodes that were given rules (a `heal` of everything goes to them).
    fault_nodes: std::collections::BTreeSet<String>,
    /// The real ZooKeeper's client port (`requires = ["ha"]`).
    zk_port: Option<u16>,
    /// `--flink real`: the distribution and the job jar deployments run.
    real: Option<RealFlink>,
}

impl LiveRun<'_> {
    fn t(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    fn event(&mut self, kind: &str, detail: String) {
        self.events.push(Event { t: self.t(), kind: kind.into(), detail });
    }

    fn app_of(&self, d: usize) -> Option<String> {
        match self.spec.deploys[d].session {
            Some(s) => self.deps[s].app.clone(),
            None => self.deps[d].app.clone(),
        }
    }

    fn am_rest(&self, d: usize) -> Option<Rest> {
        let app = self.app_of(d)?;
        flink_am::cli::rest_address_of(&self.rm, &app).ok().map(|a| Rest::new(&a))
    }

    fn dynamic(&self, d: usize) -> Vec<String> {
        let mut v: Vec<String> =
            self.spec.cluster.flink.iter().chain(self.spec.deploys[d].flink.iter()).map(|(k, v)| format!("-D{k}={v}")).collect();
        v.push(format!("-Dyarn.properties-file.location={}", self.c.work.display()));
        if let Some(port) = self.zk_port {
            v.extend(crate::simrun::ha_options(self.spec, &format!("127.0.0.1:{port}")).into_iter().map(|(k, v)| format!("-D{k}={v}")));
        }
        v
    }

    fn deploy(&mut self, i: usize) -> Result<(), String> {
        if self.real.is_some() {
            return self.deploy_real(i);
        }
        let d = self.spec.deploys[i].clone();
        let mut args: Vec<String> = Vec::new();
        let program = match d.kind {
            DeployKind::YarnSession => {
                args.extend(["-d".to_string(), "-nm".into(), d.name.clone()]);
                args.extend(self.dynamic(i));
                "yarn-session"
            }
            DeployKind::Run => {
                let s = d.session.expect("validated");
                let app = self.deps[s].app.clone().ok_or("its session is not deployed")?;
                let rest = flink_am::cli::rest_address_of(&self.rm, &app)?;
                args.extend(["run".to_string(), "-d".into(), "-m".into(), rest]);
                if let Some(p) = d.parallelism {
                    args.extend(["-p".to_string(), p.to_string()]);
                }
                args.extend(self.dynamic(i));
                "flink"
            }
            DeployKind::RunApplication | DeployKind::PerJob => {
                if d.kind == DeployKind::RunApplication {
                    args.extend(["run-application".to_string(), "-t".into(), "yarn-application".into(), "-d".into()]);
                } else {
                    args.extend(["run".to_string(), "-t".into(), "yarn-per-job".into(), "-d".into()]);
                }
                if let Some(p) = d.parallelism {
                    args.extend(["-p".to_string(), p.to_string()]);
                }
                args.extend(self.dynamic(i));
                "flink"
            }
        };
        if let Some((_, path, _)) = &d.program {
            args.push(path.display().to_string());
            args.extend(d.args.iter().cloned());
        }
        let out = self.c.cmd(program).args(&args).output().map_err(|e| format!("{program}: {e}"))?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        if !out.status.success() {
            return Err(format!("{program} {} exited {}: {}", args.join(" "), out.status, text.trim()));
        }
        let find =
            |prefix: &str| text.lines().find_map(|l| l.strip_prefix(prefix)).map(|r| r.split_whitespace().next().unwrap_or("").to_string());
        if d.kind.is_app() {
            self.deps[i].app = find("Submitted application ");
        }
        self.deps[i].job = find("Job has been submitted with JobID ");
        self.event(
            "deploy",
            format!("{program} {} ({})", d.name, self.deps[i].app.clone().or(self.deps[i].job.clone()).unwrap_or_default()),
        );
        Ok(())
    }

    /// `--flink real`: the distribution's own `yarn-session.sh -d`, `flink run -d -t yarn-session`
    /// (into the session by its application id) and `flink run -t yarn-application` (Flink 2.x
    /// has no `run-application` action), with HADOOP_CONF_DIR at the cluster's conf.
    fn deploy_real(&mut self, i: usize) -> Result<(), String> {
        let rf = self.real.clone().expect("real mode");
        let d = self.spec.deploys[i].clone();
        let mut args: Vec<String> = Vec::new();
        let dynamic: Vec<String> = self.spec.cluster.flink.iter().chain(d.flink.iter()).map(|(k, v)| format!("-D{k}={v}")).collect();
        let program = match d.kind {
            DeployKind::YarnSession => {
                args.extend(["-d".to_string(), "-nm".into(), d.name.clone()]);
                args.extend(dynamic);
                "yarn-session.sh"
            }
            DeployKind::Run => {
                let s = d.session.expect("validated");
                let app = self.deps[s].app.clone().ok_or("its session is not deployed")?;
                args.extend(["run".to_string(), "-d".into(), "-t".into(), "yarn-session".into(), format!("-Dyarn.application.id={app}")]);
                args.extend(dynamic);
                "flink"
            }
            DeployKind::RunApplication => {
                args.extend(["run".to_string(), "-t".into(), "yarn-application".into()]);
                args.extend(dynamic);
                "flink"
            }
            DeployKind::PerJob => return Err("per-job mode was removed in Flink 2.x".into()),
        };
        if d.kind.is_job() {
            if let Some(p) = d.parallelism {
                args.extend(["-p".to_string(), p.to_string()]);
            }
            let jar = match d.real.as_ref().ok_or("the deployment has no real-program")? {
                RealProgram::CompatJob { .. } => self.c.work.join("compat-job.jar"),
                RealProgram::Jar(p) => p.clone(),
            };
            args.push(jar.display().to_string());
            args.extend(d.real_args.iter().cloned());
        }
        let out_file = self.c.work.join(format!("client-{}.out", d.name));
        let mut cmd = rf.command(&rf.flink_home.join("bin").join(program), &self.c.work);
        cmd.args(&args);
        let result = run_client(cmd, &out_file, Duration::from_secs(240));
        let text = std::fs::read_to_string(&out_file).unwrap_or_default();
        let app = last_app_id(&text);
        // The client stages the jars in ~/.flink/<application id> before it can fail.
        if let (Some(app), Some(home), true) = (&app, std::env::var_os("HOME"), d.kind.is_app()) {
            self.c.staging.push(PathBuf::from(home).join(".flink").join(app));
        }
        result?;
        if d.kind.is_app() {
            let app = app.clone().ok_or_else(|| format!("{program} printed no application id: {}", tail(&text, 15)))?;
            self.deps[i].app = Some(app);
        }
        self.deps[i].job = text.lines().find_map(|l| {
            l.split_once("Job has been submitted with JobID ").map(|(_, r)| r.split_whitespace().next().unwrap_or("").to_string())
        });
        self.event(
            "deploy",
            format!(
                "{} {program} {} {} ({})",
                rf.flink_home.display(),
                d.name,
                args.iter().filter(|a| !a.starts_with("-D")).cloned().collect::<Vec<_>>().join(" "),
                self.deps[i].app.clone().or(self.deps[i].job.clone()).unwrap_or_default()
            ),
        );
        Ok(())
    }

    /// Polls REST for app, attempt, job and container states.
    fn observe(&mut self) {
        let t = self.t();
        for d in 0..self.spec.deploys.len() {
            if let Some(app) = self.deps[d].app.clone() {
                if let Ok(v) = self.rm.get(&format!("/ws/v1/cluster/apps/{app}")) {
                    let st = format!("{}/{}", s(&v["app"], "state"), s(&v["app"], "finalStatus"));
                    if self.observed.push(t, d, "app", &st) {
                        self.event("app", format!("{app} {}", st.replace("/UNDEFINED", "")));
                    }
                }
                if let Ok(v) = self.rm.get(&format!("/ws/v1/cluster/apps/{app}/appattempts")) {
                    let attempts = v["appAttempts"]["appAttempt"].as_array().cloned().unwrap_or_default();
                    if self.observed.push(t, d, "attempt", &attempts.len().to_string()) {
                        self.event("app", format!("{app} attempt {}", attempts.len()));
                    }
                    for a in &attempts {
                        let aid = s(a, "appAttemptId");
                        let Ok(cs) = self.rm.get(&format!("/ws/v1/cluster/apps/{app}/appattempts/{aid}/containers")) else { continue };
                        for c in cs["containers"]["container"].as_array().cloned().unwrap_or_default() {
                            let id = s(&c, "containerId");
                            let state = s(&c, "containerState");
                            let node = s(&c, "assignedNodeId");
                            let role = if id.ends_with("_000001") { "AM" } else { "TaskManager" };
                            if !node.is_empty() {
                                self.node_of.insert(id.clone(), node.clone());
                            }
                            let e = self.observed.containers.entry(id.clone()).or_insert(ContainerSpan {
                                id: id.clone(),
                                node: -1,
                                role: role.into(),
                                allocated: t,
                                running: None,
                                completed: None,
                                exit: None,
                            });
                            if e.node < 0 && !node.is_empty() {
                                let i = match self.nodes.iter().position(|n| *n == node) {
                                    Some(i) => i,
                                    None => {
                                        self.nodes.push(node.clone());
                                        self.nodes.len() - 1
                                    }
                                };
                                e.node = i as i32;
                            }
                            let mut note = None;
                            if state == "RUNNING" && e.running.is_none() {
                                e.running = Some(t);
                                note = Some(format!("{id} ({role}) RUNNING"));
                            }
                            if state == "COMPLETE" && e.completed.is_none() {
                                e.completed = Some(t);
                                e.exit = c["containerExitStatus"].as_i64().map(|x| x as i32);
                                note = Some(format!("{id} ({role}) COMPLETED exit {}", e.exit.unwrap_or(0)));
                            }
                            if let Some(n) = note {
                                self.event("container", n);
                            }
                        }
                    }
                }
            }
        }
        for d in 0..self.spec.deploys.len() {
            if !self.spec.deploys[d].kind.is_job() {
                continue;
            }
            let Some(am) = self.am_rest(d) else {
                // The JobManager is gone (an application cluster exits with its job): its log
                // says how the job ended.
                let Some(job) = self.deps[d].job.clone() else { continue };
                if matches!(self.observed.last(d, "job"), Some("FINISHED" | "FAILED" | "CANCELED")) {
                    continue;
                }
                let log = self.am_log(d);
                let marker = format!("Job {job} reached terminal state ");
                let ended = log.lines().rev().find_map(|l| l.split_once(&marker).map(|(_, r)| r.trim_end_matches('.').to_string()));
                if let Some(st) = ended {
                    if !st.is_empty() && self.observed.push(t, d, "job", &st) {
                        self.event("job", format!("{} {job} {st} (from the JobManager log)", self.spec.deploys[d].name));
                    }
                }
                continue;
            };
            if self.deps[d].job.is_none() {
                if let Ok(v) = am.get("/jobs/overview") {
                    self.deps[d].job = v["jobs"].as_array().and_then(|j| j.first()).map(|j| s(j, "jid"));
                }
            }
            let Some(job) = self.deps[d].job.clone() else { continue };
            self.observe_checkpoints(d, &am, &job, t);
            let got = am.get(&format!("/jobs/{job}"));
            if let (Err(e), true) = (&got, self.real.is_some()) {
                // The real Flink's application mode without HA runs the job again under a new
                // id in the next attempt: follow the new JobManager's job.
                if e.status == 404 {
                    self.deps[d].job = None;
                }
            }
            if let Ok(v) = got {
                let st = s(&v, "state");
                if !st.is_empty() && self.observed.push(t, d, "job", &st) {
                    if st == "RESTARTING" {
                        *self.restarts.entry(d).or_default() += 1;
                    }
                    self.event("job", format!("{} {job} {st}", self.spec.deploys[d].name));
                }
            }
        }
    }

    /// Reads `GET /jobs/:id/checkpoints` (counts, history, latest restore) and a triggered
    /// savepoint's operation status, as Flink's CLI polls it.
    fn observe_checkpoints(&mut self, d: usize, am: &Rest, job: &str, t: u64) {
        let jm = am.base().to_string();
        if let Some((base, j, trig, verb)) = self.deps[d].ckpt.op.clone() {
            // Stop-with-savepoint's status is a savepoint operation too.
            let path = format!("/jobs/{j}/savepoints/{trig}");
            if let Ok(v) = Rest::new(&base).get(&path) {
                if v["status"]["id"] == "COMPLETED" {
                    let o = &v["operation"];
                    let outcome = match o["location"].as_str() {
                        Some(l) => Ok(l.to_string()),
                        None => Err(o["failure-cause"]["stack-trace"].as_str().unwrap_or("failed").to_string()),
                    };
                    let line = match &outcome {
                        Ok(p) => format!("flink {verb}: savepoint completed: {p}"),
                        Err(e) => format!("flink {verb}: savepoint failed: {}", e.lines().next().unwrap_or("")),
                    };
                    self.deps[d].ckpt.op = None;
                    self.deps[d].ckpt.op_outcome = Some(outcome);
                    self.events.push(Event { t, kind: "savepoint".into(), detail: line });
                }
            }
        }
        let Ok(v) = am.get(&format!("/jobs/{job}/checkpoints")) else { return };
        let failed = v["counts"]["failed"].as_u64().unwrap_or(0);
        self.deps[d].ckpt.failed.insert(jm.clone(), failed);
        let r = &v["latest"]["restored"];
        if let (Some(id), Some(ts)) = (r["id"].as_u64(), r["restore_timestamp"].as_u64()) {
            if self.deps[d].ckpt.restored.as_ref().map(|x| (x.0.clone(), x.2)) != Some((jm.clone(), ts)) {
                self.deps[d].ckpt.restored = Some((jm.clone(), id, ts));
                let path = r["external_path"].as_str().unwrap_or("");
                self.events.push(Event {
                    t,
                    kind: "checkpoint".into(),
                    detail: format!("job {job} restored from checkpoint {id} ({path})"),
                });
            }
        }
        let mut history: Vec<serde_json::Value> = v["history"].as_array().cloned().unwrap_or_default();
        history.reverse();
        for h in history {
            let Some(id) = h["id"].as_u64() else { continue };
            if h["status"] != "COMPLETED" || h["is_savepoint"].as_bool().unwrap_or(false) {
                continue;
            }
            if !self.deps[d].ckpt.completed.insert((jm.clone(), id)) {
                continue;
            }
            let (acked, n) = (h["num_acknowledged_subtasks"].as_u64().unwrap_or(0), h["num_subtasks"].as_u64().unwrap_or(0));
            if acked != n || n == 0 {
                self.deps[d].ckpt.ack_violations.push(format!("checkpoint {id} completed with {acked}/{n} acknowledgements"));
            }
            let path = h["external_path"].as_str().unwrap_or("");
            self.events.push(Event {
                t,
                kind: "checkpoint".into(),
                detail: format!("checkpoint {id} completed: {acked}/{n} acknowledgements ({path})"),
            });
        }
    }

    fn records(&self, d: usize) -> u64 {
        let (Some(am), Some(job)) = (self.am_rest(d), self.deps[d].job.clone()) else { return 0 };
        let Ok(v) = am.get(&format!("/jobs/{job}")) else { return 0 };
        v["vertices"]
            .as_array()
            .map(|vs| {
                vs.iter()
                    .map(|x| x["metrics"]["read-records"].as_u64().unwrap_or(0).max(x["metrics"]["write-records"].as_u64().unwrap_or(0)))
                    .max()
                    .unwrap_or(0)
            })
            .unwrap_or(0)
    }

    fn taskmanagers(&self, d: usize) -> u32 {
        self.am_rest(d)
            .and_then(|am| am.get("/taskmanagers").ok())
            .and_then(|v| v["taskmanagers"].as_array().map(|a| a.len() as u32))
            .unwrap_or(0)
    }

    /// Live containers of a deployment's current attempt by role.
    fn containers(&self, d: usize, am: bool) -> Vec<String> {
        let Some(app) = self.app_of(d) else { return vec![] };
        let key = app.trim_start_matches("application");
        let mut v: Vec<String> = self
            .observed
            .containers
            .values()
            .filter(|c| c.id.contains(key) && c.running.is_some() && c.completed.is_none() && (c.role == "AM") == am)
            .map(|c| c.id.clone())
            .collect();
        v.sort();
        v
    }

    /// The container a container role (am, taskmanager N, remote-taskmanager N) names now.
    fn container_of_role(&self, role: &Role, d: usize) -> Result<String, String> {
        match role {
            Role::Am => self.containers(d, true).pop().ok_or("no running AM".to_string()),
            Role::TaskManager(n) => {
                let tms = self.containers(d, false);
                tms.get(n - 1).cloned().ok_or(format!("there is no {role}: {} running", tms.len()))
            }
            Role::RemoteTaskManager(n) => {
                let am_node = self.containers(d, true).pop().and_then(|c| self.node_of.get(&c).cloned());
                let tms: Vec<String> = self
                    .containers(d, false)
                    .into_iter()
                    .filter(|c| self.node_of.get(c).is_some_and(|n| Some(n) != am_node.as_ref()))
                    .collect();
                tms.get(n - 1).cloned().ok_or(format!("there is no {role}: {} running", tms.len()))
            }
            other => Err(format!("{other} is not a container")),
        }
    }

    /// The NodeManager (0-based) whose machine runs the container `inner` names, and what it
    /// hosts; remembered for a later `restart` of `role`.
    fn nm_of(&mut self, role: &Role, inner: &Role, d: usize) -> Result<(usize, String), String> {
        let c = self.container_of_role(inner, d).map_err(|e| format!("{e}, so no NodeManager hosting it"))?;
        let node = self.node_of.get(&c).cloned().ok_or(format!("the node of {c} is not known yet"))?;
        // Each NodeManager's log names its node id when it starts.
        let line = format!("NodeManager {node} starting");
        let i = (0..self.spec.cluster.nodes as usize)
            .find(|i| {
                std::fs::read_to_string(self.c.work.join("logs").join(format!("nodemanager-{i}.log")))
                    .is_ok_and(|l| l.lines().rev().find(|x| x.starts_with("NodeManager ")).is_some_and(|x| x.starts_with(&line)))
            })
            .ok_or(format!("no NodeManager log names {node}"))?;
        self.nm_bound.insert(role.to_string(), i);
        let hosting = if *inner == Role::Am { "the AM".to_string() } else { c };
        Ok((i, format!("NodeManager {} ({node}, hosting {hosting})", i + 1)))
    }

    /// A role's process: (pid, what).
    fn resolve(&mut self, role: &Role, d: usize) -> Result<(i32, String), String> {
        match role {
            Role::Am => {
                let c = self.container_of_role(role, d)?;
                Ok((self.pid_of(&c, REAL_JOBMANAGER)?, format!("{c} (JobManager)")))
            }
            Role::TaskManager(_) | Role::RemoteTaskManager(_) => {
                let c = self.container_of_role(role, d)?;
                Ok((self.pid_of(&c, REAL_TASKMANAGER)?, format!("{c} (TaskManager)")))
            }
            Role::Nm(n) => Ok((self.c.daemon_pid(&format!("nodemanager-{}", n - 1)).ok_or("no pid file")?, format!("NodeManager {n}"))),
            Role::NmOf(inner) => {
                let (i, what) = self.nm_of(role, inner, d)?;
                Ok((self.c.daemon_pid(&format!("nodemanager-{i}")).ok_or("no pid file")?, what))
            }
            Role::Rm => Ok((self.c.daemon_pid("resourcemanager").ok_or("no pid file")?, "ResourceManager".into())),
            Role::ZooKeeper => Ok((self.c.daemon_pid("zookeeper").ok_or("no ZooKeeper pid file")?, "ZooKeeper".into())),
        }
    }

    /// The process that runs a container: ours, or with the real Flink its JVM (the main class
    /// `class` on its command line, the container id in its environment), not the launch shell.
    fn pid_of(&self, container: &str, class: &str) -> Result<i32, String> {
        let found = if self.real.is_some() { self.c.jvm_pid(container, class) } else { self.c.container_pid(container) };
        found.ok_or(format!("no process runs {container}"))
    }

    fn default_deploy(&self) -> usize {
        self.spec.deploys.iter().position(|d| d.kind.is_app()).unwrap_or(0)
    }

    /// A role's node address (its one port for REST and frames) for the fault layer.
    fn node_addr(&mut self, role: &Role, d: usize) -> Result<(String, String), String> {
        let app = self.app_of(d).ok_or("the deployment has no application")?;
        let am = flink_am::cli::rest_address_of(&self.rm, &app)?;
        match role {
            Role::Am => {
                let c = self.containers(d, true).pop().unwrap_or_default();
                Ok((am.clone(), format!("{c} (JobManager, {am})")))
            }
            Role::TaskManager(_) | Role::RemoteTaskManager(_) => {
                // Rules name processes, so "remote" (on another NodeManager) changes nothing
                // live: every process shares 127.0.0.1. Any TaskManager n will do.
                let (_, what) = match (self.resolve(role, d), role) {
                    (Err(_), Role::RemoteTaskManager(n)) => self.resolve(&Role::TaskManager(*n), d)?,
                    (r, _) => r?,
                };
                let c = what.split(' ').next().unwrap_or("").to_string();
                // The JobManager knows each TaskManager's address (`path`) by its resource id.
                let tms = Rest::new(&am).get("/taskmanagers").map_err(|e| e.message)?;
                let t = tms["taskmanagers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|t| s(t, "id") == c)
                    .ok_or(format!("{c} has not registered with the JobManager"))?;
                let path = s(t, "path");
                let addr = path.split_once('@').and_then(|(_, r)| r.split('/').next()).ok_or(format!("no address in '{path}'"))?;
                Ok((addr.to_string(), format!("{c} (TaskManager, {addr})")))
            }
            Role::ZooKeeper => {
                let port = self.zk_port.ok_or("there is no ZooKeeper: the scenario does not require ha")?;
                Ok((format!("127.0.0.1:{port}"), format!("ZooKeeper (127.0.0.1:{port})")))
            }
            other => Err(format!("network faults on {other} are not available live (only am and TaskManagers)")),
        }
    }

    /// `POST /_fault` to a node, signed with the cluster secret; Err with the node's answer.
    fn post_fault(&mut self, addr: &str, f: &Fault) -> Result<(), String> {
        use std::io::{Read, Write};
        if self.zk_port.is_some_and(|p| addr == format!("127.0.0.1:{p}")) {
            // The real ZooKeeper is no node of ours: the rule at the other end (whose gateway
            // carries its ZooKeeper traffic) decides both directions.
            return Ok(());
        }
        let secret = engine::live::ClusterSecret::read_file(&self.c.conf_dir().join(engine::live::auth::SECRET_FILE))?;
        let body = serde_json::to_string(f).map_err(|e| e.to_string())?;
        let req = format!(
            "POST /_fault HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n{}: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            engine::live::auth::FAULT_AUTH_HEADER,
            secret.fault_header(body.as_bytes()),
            body.len()
        );
        let mut conn = std::net::TcpStream::connect(addr).map_err(|e| format!("{addr}: {e}"))?;
        let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = conn.set_write_timeout(Some(Duration::from_secs(5)));
        conn.write_all(req.as_bytes()).map_err(|e| format!("{addr}: {e}"))?;
        let mut resp = String::new();
        let _ = conn.read_to_string(&mut resp);
        self.fault_nodes.insert(addr.to_string());
        if resp.starts_with("HTTP/1.1 200") {
            Ok(())
        } else {
            let status = resp.lines().next().unwrap_or("no answer");
            let text = resp.split("\r\n\r\n").nth(1).unwrap_or("");
            Err(format!("{addr} refused the fault: {status} {text}"))
        }
    }

    /// Posts rules to nodes; all or an error naming the first refusal.
    fn post_all(&mut self, rules: &[(String, Fault)]) -> Result<(), String> {
        for (addr, f) in rules {
            self.post_fault(addr, f)?;
        }
        Ok(())
    }

    /// A network action through the fault layer.
    fn apply_network(&mut self, a: &Action, d: usize) -> Result<(), String> {
        let p = |x: &str| -> Result<Endpoint, String> { Ok(Endpoint::Process(x.parse().map_err(|e| format!("'{x}': {e}"))?)) };
        let now = Instant::now();
        match a {
            Action::Partition { a, b, one_way, heal_after } => {
                let ((aa, wa), (bb, wb)) = (self.node_addr(a, d)?, self.node_addr(b, d)?);
                let f = Fault::Partition { a: p(&aa)?, b: p(&bb)?, one_way: *one_way };
                // Both ends get the rule: each decides its own sends.
                self.post_all(&[(aa.clone(), f.clone()), (bb.clone(), f)])?;
                let arrow = if *one_way { "->" } else { "<->" };
                self.event("fault", format!("partition {wa} {arrow} {wb} (live fault layer)"));
                if let Some(after) = heal_after {
                    let h = Fault::Heal { a: p(&aa)?, b: p(&bb)? };
                    self.fault_heals.push((now + *after, vec![(aa, h.clone()), (bb, h)], format!("heal {wa} <-> {wb}")));
                }
            }
            Action::Heal { a, b } => {
                let ((aa, wa), (bb, wb)) = (self.node_addr(a, d)?, self.node_addr(b, d)?);
                let h = Fault::Heal { a: p(&aa)?, b: p(&bb)? };
                self.post_all(&[(aa, h.clone()), (bb, h)])?;
                self.event("heal", format!("heal {wa} <-> {wb}"));
            }
            Action::HealAll => {
                let nodes: Vec<(String, Fault)> = self.fault_nodes.iter().map(|n| (n.clone(), Fault::HealAll)).collect();
                for (n, f) in nodes {
                    // A node that is gone has no rules left to heal.
                    if let Err(e) = self.post_fault(&n, &f) {
                        self.event("note", format!("heal all: {e}"));
                    }
                }
                self.event("heal", "heal all links".into());
            }
            Action::Clog { a, b, delay, heal_after } => {
                let ((aa, wa), (bb, wb)) = (self.node_addr(a, d)?, self.node_addr(b, d)?);
                let delay_ms = delay.as_millis() as u64;
                let (ea, eb) = (p(&aa)?, p(&bb)?);
                self.post_all(&[
                    (aa.clone(), Fault::Clog { link: Link::new(ea, eb), delay_ms }),
                    (bb.clone(), Fault::Clog { link: Link::new(eb, ea), delay_ms }),
                ])?;
                self.event("fault", format!("clog {wa} <-> {wb} (+{delay_ms} ms, live fault layer)"));
                if let Some(after) = heal_after {
                    let h = Fault::Heal { a: ea, b: eb };
                    self.fault_heals.push((now + *after, vec![(aa, h.clone()), (bb, h)], format!("unclog {wa} <-> {wb}")));
                }
            }
            Action::Drop { at, from, rpc, heal_after } => {
                let (aa, wa) = self.node_addr(at, d)?;
                // The receiver holds the rule and drops on arrival: a sender that starts after
                // the step (a TaskManager whose registration is to be lost), or one the runner
                // cannot address, is covered, and each message is counted once.
                let (src, by) = match from {
                    Some(f) => {
                        let (fa, wf) = self.node_addr(f, d)?;
                        (p(&fa)?, format!(" from {wf}"))
                    }
                    None => (Endpoint::Any, String::new()),
                };
                let link = Link::new(src, p(&aa)?);
                self.post_all(&[(aa.clone(), Fault::DropMessages(DropRule::kind(link, rpc)))])?;
                self.event("fault", format!("drop {rpc} arriving at {wa}{by} (live fault layer)"));
                if let Some(after) = heal_after {
                    let h = Fault::Heal { a: link.from, b: link.to };
                    self.fault_heals.push((now + *after, vec![(aa, h)], format!("{rpc} reaches {wa}{by} again")));
                }
            }
            other => return Err(format!("{other:?} is not a network fault")),
        }
        Ok(())
    }

    /// Posts the heals that are due.
    fn heal_due(&mut self) {
        let now = Instant::now();
        let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.fault_heals).into_iter().partition(|(t, _, _)| *t <= now);
        self.fault_heals = keep;
        for (_, rules, what) in due {
            match self.post_all(&rules) {
                Ok(()) => self.event("heal", what),
                Err(e) => self.event("note", format!("{what}: {e}")),
            }
        }
    }

    /// Applies an action; a stop with `for` returns when and which pid to continue.
    fn apply(&mut self, a: &Action) -> Result<Option<(Duration, i32, String)>, String> {
        let d = self.default_deploy();
        match a {
            Action::Kill(r) | Action::Term(r) | Action::Stop(r, _) | Action::Continue(r) | Action::LoseMachine(r) => {
                let (pid, what) = self.resolve(r, d)?;
                let (sig, verb) = match a {
                    Action::Kill(_) | Action::LoseMachine(_) => (Signal::SIGKILL, "kill -9"),
                    Action::Term(_) => (Signal::SIGTERM, "kill -TERM"),
                    Action::Stop(_, _) => (Signal::SIGSTOP, "kill -STOP"),
                    _ => (Signal::SIGCONT, "kill -CONT"),
                };
                kill(Pid::from_raw(pid), sig).map_err(|e| format!("{verb} {pid}: {e}"))?;
                let extra = if matches!(a, Action::LoseMachine(_)) { " (machine loss, live: its process and containers die)" } else { "" };
                self.event("fault", format!("{verb} {what} (pid {pid}){extra}"));
                if let Action::Stop(_, Some(after)) = a {
                    return Ok(Some((*after, pid, what)));
                }
            }
            Action::Restart(r) => {
                let rm = format!("127.0.0.1:{}", self.c.rm_port);
                let conf = self.c.conf_dir().display().to_string();
                // An `nm-of` role restarts the NodeManager its last fault hit: its containers,
                // which the role names, are gone by now.
                let nm = match r {
                    Role::Nm(n) => Some(n - 1),
                    Role::NmOf(inner) => match self.nm_bound.get(&r.to_string()).copied() {
                        Some(i) => Some(i),
                        None => Some(self.nm_of(r, inner, d)?.0),
                    },
                    _ => None,
                };
                // A daemon still running is killed first: a restart is a kill -9 and a start.
                let running = match nm {
                    Some(i) => self.c.daemon_pid(&format!("nodemanager-{i}")),
                    None => self.resolve(r, d).ok().map(|(pid, _)| pid),
                };
                if let Some(pid) = running {
                    let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                }
                match (r, nm) {
                    (_, Some(i)) => {
                        let work = self.c.work.join(format!("nm-{i}")).display().to_string();
                        let args = ["nodemanager", "--rm", &rm, "--conf-dir", &conf, "--work-dir", &work].map(String::from);
                        self.c.spawn_daemon(&args, &format!("nodemanager-{i}"))?;
                    }
                    (Role::Rm, _) => {
                        let port = self.c.rm_port.to_string();
                        let args = ["resourcemanager", "--conf-dir", &conf, "--port", &port].map(String::from);
                        self.c.spawn_daemon(&args, "resourcemanager")?;
                    }
                    (other, _) => return Err(format!("cannot restart {other} live")),
                }
                self.event("fault", format!("restart {r}"));
            }
            Action::Submit(name) => {
                let i = self.spec.deploys.iter().position(|x| &x.name == name).expect("validated");
                self.deploy(i)?;
            }
            Action::Cancel(name) => {
                let i = self.spec.deploys.iter().position(|x| &x.name == name).expect("validated");
                let job = self.deps[i].job.clone().ok_or("no job to cancel")?;
                let am = self.am_rest(i).ok_or("no JobManager")?;
                am.patch(&format!("/jobs/{job}?mode=cancel")).map_err(|e| e.message)?;
                self.event("action", format!("flink cancel {job}"));
            }
            Action::Savepoint(name) | Action::StopJob(name) => {
                // What `flink savepoint <id> savepoints` / `flink stop --savepointPath savepoints <id>`
                // send: the asynchronous trigger, then its status is polled in `observe`.
                let i = self.spec.deploys.iter().position(|x| &x.name == name).expect("validated");
                let job = self.deps[i].job.clone().ok_or("no job to take a savepoint of")?;
                let am = self.am_rest(i).ok_or("no JobManager")?;
                let (path, body, verb) = match a {
                    Action::Savepoint(_) => (
                        format!("/jobs/{job}/savepoints"),
                        serde_json::json!({"target-directory": "savepoints", "cancel-job": false}),
                        "savepoint",
                    ),
                    _ => (format!("/jobs/{job}/stop"), serde_json::json!({"targetDirectory": "savepoints", "drain": false}), "stop"),
                };
                let (status, v) = am.post(&path, body).map_err(|e| e.message)?;
                if status >= 300 {
                    return Err(format!("flink {verb}: {status} {v}"));
                }
                let trigger = s(&v, "request-id");
                self.deps[i].ckpt.op = Some((am.base().to_string(), job.clone(), trigger.clone(), verb));
                self.deps[i].ckpt.op_outcome = None;
                self.event("action", format!("flink {verb} {job} savepoints: triggered ({trigger})"));
            }
            a if a.is_network() => self.apply_network(a, d)?,
            other => return Err(format!("{other:?} is not available live")),
        }
        Ok(None)
    }

    fn predicate(&mut self, w: &When) -> bool {
        match w {
            When::Job { deploy, status } => self.observed.last(*deploy, "job") == Some(status.as_str()),
            When::TaskManagers { deploy, n } => self.taskmanagers(*deploy) >= *n,
            When::App { deploy, state } => self.observed.last(*deploy, "app").is_some_and(|s| s.split('/').next() == Some(state.as_str())),
            When::Attempt { deploy, n } => self.observed.last(*deploy, "attempt").and_then(|s| s.parse::<u32>().ok()) >= Some(*n),
            When::Container { deploy, role, state } => {
                let am = *role == Role::Am;
                let running = !self.containers(*deploy, am).is_empty();
                match state.as_str() {
                    "RUNNING" => running,
                    _ => false,
                }
            }
            When::Records { deploy, n } => self.records(*deploy) >= *n,
            When::Checkpoint { deploy, n } => self.deps[*deploy].ckpt.completed.len() as u64 >= u64::from(*n),
        }
    }

    fn settled(&self) -> bool {
        self.spec.expect.iter().all(|e| match &e.expect {
            // A restart can come seconds after the fault (the real Flink learns of a lost
            // TaskManager from YARN or a heartbeat): wait for it unless the job has ended.
            Expect::Restarts { deploy, n, cmp: crate::spec::Compare::AtLeast } => {
                let got = self.am_log(*deploy).matches("switched from state RUNNING to RESTARTING.").count();
                got.max(self.restarts.get(deploy).copied().unwrap_or(0)) >= *n as usize
                    || matches!(self.observed.last(*deploy, "job"), Some("FINISHED" | "FAILED" | "CANCELED"))
            }
            Expect::Job { deploy, status, .. } => {
                let s = self.observed.last(*deploy, "job");
                matches!(s, Some("FINISHED" | "FAILED" | "CANCELED"))
                    || s == Some(status.as_str()) && !matches!(status.as_str(), "FINISHED" | "FAILED" | "CANCELED")
            }
            Expect::App { deploy, state, .. } => {
                let s = self.observed.last(*deploy, "app").map(|s| s.split('/').next().unwrap_or("").to_string());
                matches!(s.as_deref(), Some("FINISHED" | "FAILED" | "KILLED")) || s.as_deref() == Some(state.as_str())
            }
            Expect::OutputExactlyOnce { deploy } => matches!(self.observed.last(*deploy, "job"), Some("FINISHED" | "FAILED" | "CANCELED")),
            Expect::Savepoint { deploy, .. } => self.deps[*deploy].ckpt.op_outcome.is_some(),
            _ => true,
        })
    }

    /// Committed lines of the deployment's file sinks (the job graph names their paths).
    fn output(&self, d: usize) -> Option<Vec<String>> {
        let graphs = crate::simrun::job_graphs(self.spec, d, 0).ok()?;
        let dirs = crate::simrun::file_sink_dirs(graphs.first()?);
        if dirs.is_empty() {
            return None;
        }
        let mut lines = Vec::new();
        for dir in dirs {
            lines.extend(self.output_under(&dir));
        }
        Some(lines)
    }

    fn output_under(&self, dir: &str) -> Vec<String> {
        let root = self.c.work.join("dfs");
        let mut files = Vec::new();
        let mut stack = vec![root.join(dir)];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let (Ok(rel), Ok(b)) = (path.strip_prefix(&root), std::fs::read(&path)) {
                    files.push((rel.display().to_string(), b));
                }
            }
        }
        files.sort();
        let mut out = CommittedOutput::default();
        out.add_files(files, dir);
        out.owned_lines()
    }

    /// `output = "exactly-once"` with the real Flink's CompatJob N: its print sink writes
    /// `sum <key> <running sum>` to the TaskManagers' taskmanager.out. Without checkpoints a
    /// restart replays from 1 with empty state, so replays print lines again (the print sink is
    /// at-least-once) but every distinct line, each key's running sums and so its final sum,
    /// must be the fault-free run's, computed here from 1..N (x to key x mod 4).
    fn check_compat_output(&self, d: usize) -> (Status, String) {
        let Some(RealProgram::CompatJob { n, .. }) = self.spec.deploys[d].real else {
            return (Status::Fail, "output exactly-once: the deployment runs no compat-job".into());
        };
        let Some(app) = self.app_of(d) else { return (Status::Fail, "output exactly-once: no application".into()) };
        let got = self.files_named("taskmanager.out", &app);
        let lines: Vec<String> = got.lines().filter_map(compat_sum_line).collect();
        let mut distinct = lines.clone();
        distinct.sort();
        distinct.dedup();
        let want = compat_fault_free(n);
        let dups = lines.len() - distinct.len();
        match compare_output(&distinct, &ExpectedLines::new(want.clone())) {
            Ok(k) => (
                Status::Pass,
                format!(
                    "output exactly-once in state ({k} distinct running sums = the fault-free run's from 1..{n}; final sums {}; {dups} lines printed again by replays)",
                    final_sums(&want).join(" ")
                ),
            ),
            Err(e) => (Status::Fail, format!("output exactly-once in state: {e}")),
        }
    }

    /// The text of every file called `name` under the work dir whose path names `app`.
    fn files_named(&self, name: &str, app: &str) -> String {
        let mut out = String::new();
        let mut stack = vec![self.c.work.clone()];
        while let Some(p) = stack.pop() {
            for e in std::fs::read_dir(&p).into_iter().flatten().flatten() {
                let path = e.path();
                if path.is_dir() {
                    stack.push(path);
                } else if path.file_name().is_some_and(|n| n == name) && path.display().to_string().contains(app) {
                    out.push_str(&std::fs::read_to_string(&path).unwrap_or_default());
                    out.push('\n');
                }
            }
        }
        out
    }

    fn am_log(&self, d: usize) -> String {
        self.app_of(d).map(|app| self.files_named("jobmanager.log", &app)).unwrap_or_default()
    }

    fn leaked(&self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(nodes) = self.rm.get("/ws/v1/cluster/nodes") else { return out };
        let finals: BTreeMap<String, bool> = self
            .rm
            .get("/ws/v1/cluster/apps")
            .ok()
            .and_then(|v| v["apps"]["app"].as_array().cloned())
            .unwrap_or_default()
            .iter()
            .map(|a| (s(a, "id"), matches!(s(a, "state").as_str(), "FINISHED" | "FAILED" | "KILLED")))
            .collect();
        for n in nodes["nodes"]["node"].as_array().cloned().unwrap_or_default() {
            let http = s(&n, "nodeHTTPAddress");
            let Ok(cs) = Rest::new(&http).get("/ws/v1/node/containers") else { continue };
            for c in cs["containers"]["container"].as_array().cloned().unwrap_or_default() {
                if s(&c, "state") != "RUNNING" {
                    continue;
                }
                let id = s(&c, "id");
                let app = id.parse::<yarn_sim::ids::ContainerId>().map(|c| c.app().to_string()).unwrap_or_default();
                if finals.get(&app).copied().unwrap_or(true) {
                    out.push(id);
                }
            }
        }
        out
    }

    fn check(&self, e: &Expect, reference: &mut dyn FnMut(usize) -> Result<Vec<String>, String>) -> (Status, String) {
        let pass = |ok: bool| if ok { Status::Pass } else { Status::Fail };
        match e {
            Expect::Job { deploy, status, within } => {
                let got = self.observed.last(*deploy, "job").unwrap_or("none");
                let mut ok = got == status;
                if let (true, Some(w)) = (ok, within) {
                    ok = self.observed.first_time(*deploy, "job", status).is_some_and(|t| t <= w.as_micros() as u64);
                }
                (pass(ok), if got == status { format!("job {status}") } else { format!("job {got}, expected {status}") })
            }
            Expect::App { deploy, state, final_status, .. } => {
                let got = self.observed.last(*deploy, "app").unwrap_or("none/none");
                let (gs, gf) = got.split_once('/').unwrap_or((got, ""));
                let ok = gs == state && final_status.as_ref().is_none_or(|f| f == gf);
                let want = final_status.as_ref().map(|f| format!("{state}/{f}")).unwrap_or(state.clone());
                (pass(ok), if ok { format!("app {want}") } else { format!("app {gs}/{gf}, expected {want}") })
            }
            Expect::OutputExactlyOnce { deploy } if self.real.is_some() => self.check_compat_output(*deploy),
            Expect::OutputExactlyOnce { deploy } => {
                let Some(got) = self.output(*deploy) else {
                    return (Status::Fail, "output exactly-once: the job has no file sink to compare".into());
                };
                match reference(*deploy) {
                    Err(e) => (Status::Fail, format!("output exactly-once: the fault-free run failed: {e}")),
                    Ok(want) => match compare_output(&got, &ExpectedLines::new(want)) {
                        Ok(n) => (Status::Pass, format!("output exactly-once ({n} lines = fault-free run)")),
                        Err(e) => (Status::Fail, format!("output exactly-once: {e}")),
                    },
                }
            }
            Expect::ContainersLeaked(n) => {
                let l = self.leaked();
                (
                    pass(l.len() as u32 == *n),
                    format!("{} containers leaked{}", l.len(), if l.is_empty() { String::new() } else { format!(": {}", l.join(", ")) }),
                )
            }
            Expect::Attempts { deploy, n, cmp } => {
                let got: u64 = self.observed.last(*deploy, "attempt").and_then(|s| s.parse().ok()).unwrap_or(0);
                (pass(cmp.holds(got, *n as u64)), format!("{got} app attempts (expected {}{n})", cmp.word()))
            }
            Expect::Restarts { deploy, n, cmp } => {
                // RESTARTING can be shorter than a poll: the JobManager's log counts them all.
                let log = self.am_log(*deploy).matches("switched from state RUNNING to RESTARTING.").count();
                let got = log.max(self.restarts.get(deploy).copied().unwrap_or(0)) as u64;
                (pass(cmp.holds(got, *n as u64)), format!("{got} job restarts (expected {}{n})", cmp.word()))
            }
            Expect::Log { deploy, text, present } => {
                let seen = self.am_log(*deploy).contains(text.as_str());
                (pass(seen == *present), format!("log {}: \"{text}\"", if *present { "seen" } else { "absent" }))
            }
            Expect::Checkpoints { deploy, n, cmp } => {
                let got = self.deps[*deploy].ckpt.completed.len() as u64;
                (pass(cmp.holds(got, *n as u64)), format!("{got} checkpoints completed (expected {}{n})", cmp.word()))
            }
            Expect::CheckpointsFailed { deploy, n, cmp } => {
                let got: u64 = self.deps[*deploy].ckpt.failed.values().sum();
                (pass(cmp.holds(got, *n as u64)), format!("{got} checkpoints failed (expected {}{n})", cmp.word()))
            }
            Expect::CheckpointAcks { deploy } => {
                let c = &self.deps[*deploy].ckpt;
                match c.ack_violations.first() {
                    Some(v) => (Status::Fail, format!("checkpoint acknowledgements: {v}")),
                    None if c.completed.is_empty() => (Status::Fail, "checkpoint acknowledgements: no checkpoint completed".into()),
                    None => (Status::Pass, format!("all {} completed checkpoints had every acknowledgement", c.completed.len())),
                }
            }
            Expect::RestoredFrom { deploy, n, cmp } => match &self.deps[*deploy].ckpt.restored {
                Some((_, id, _)) => {
                    (pass(cmp.holds(*id, *n as u64)), format!("restored from checkpoint {id} (expected {}{n})", cmp.word()))
                }
                None => (Status::Fail, format!("the job never restored from a checkpoint (expected {}{n})", cmp.word())),
            },
            Expect::Savepoint { deploy, completed } => {
                let want = if *completed { "COMPLETED" } else { "FAILED" };
                match &self.deps[*deploy].ckpt.op_outcome {
                    Some(Ok(p)) => (pass(*completed), format!("savepoint COMPLETED ({p}), expected {want}")),
                    Some(Err(e)) => (pass(!*completed), format!("savepoint FAILED ({}), expected {want}", e.lines().next().unwrap_or(""))),
                    None => (Status::Fail, format!("the savepoint has no outcome (expected {want})")),
                }
            }
        }
    }
}

/// Runs a scenario live. Returns a SKIP result when it uses what live mode lacks.
pub fn run(spec: &Spec, seed: u64) -> RunResult {
    run_with(spec, seed, Flink::Model)
}

/// Runs a scenario live with our Flink model or the real Flink (`--flink real`): a missing
/// distribution, Java or Hadoop client jars is a FAIL that says what to install, never a download.
pub fn run_with(spec: &Spec, seed: u64, flink: Flink) -> RunResult {
    let why = match flink {
        Flink::Model => live_skip_reason(spec),
        Flink::Real => live_skip_reason(spec).or_else(|| spec.real_skip_reason()),
    };
    if let Some(why) = why {
        return crate::skipped(spec, "live", seed, why);
    }
    let real = match flink {
        Flink::Model => None,
        Flink::Real => match RealFlink::find() {
            Ok(r) => Some(r),
            Err(e) => return crate::failed(spec, "live", seed, format!("--flink real: {e}")),
        },
    };
    match run_inner(spec, seed, false, real) {
        Ok((r, _)) => r,
        Err(e) => crate::failed(spec, "live", seed, e),
    }
}

fn run_inner(
    spec: &Spec,
    seed: u64,
    reference: bool,
    real: Option<RealFlink>,
) -> Result<(RunResult, BTreeMap<usize, Vec<String>>), String> {
    let bins = bin_dir();
    for b in ["yarn-sim", "yarn-session", "flink", "flink-am", "taskexec"] {
        if !bins.join(b).exists() {
            return Err(format!("{} is not built (run `cargo build --bins`)", bins.join(b).display()));
        }
    }
    let tag = if reference { "ref" } else { "run" };
    let work = std::env::temp_dir().join(format!("scenario-{}-{tag}-{}-{seed}", spec.name, std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
    let rm_port = free_port();
    let env: Vec<(String, String)> =
        real.as_ref().map(|r| vec![("JAVA_HOME".to_string(), r.java_home.display().to_string())]).unwrap_or_default();
    let c = Cluster { work: work.clone(), rm_port, bins: bins.clone(), env: env.clone(), staging: vec![] };
    let conf = work.with_extension("yarn-site.xml");
    let extra = match &real {
        Some(r) => {
            r.prepare(spec, &work)?;
            r.yarn_site(&work)
        }
        None => vec![],
    };
    std::fs::write(&conf, yarn_site(spec, &extra)).map_err(|e| e.to_string())?;
    let cl = spec.cluster.clone();
    let zk_port = spec.requires.iter().any(|r| r == "ha").then(free_port);
    let zk_args: Vec<String> =
        zk_port.map(|p| vec!["--zookeeper".to_string(), "--zookeeper-port".into(), p.to_string()]).unwrap_or_default();
    let out = Command::new(bins.join("yarn-sim"))
        .envs(env.iter().map(|(k, v)| (k, v)))
        .args(["start", "--detach", "--nodes", &cl.nodes.to_string(), "--node-memory-mb", &cl.node_memory_mb.to_string()])
        .args(["--node-vcores", &cl.node_vcores.to_string(), "--rm-port", &rm_port.to_string(), "--work-dir"])
        .arg(&work)
        .arg("--conf")
        .arg(&conf)
        .args(&zk_args)
        .output()
        .map_err(|e| e.to_string());
    let _ = std::fs::remove_file(&conf);
    let out = out?;
    if !out.status.success() {
        return Err(format!("yarn-sim start failed: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)));
    }
    let rm = Rest::new(&format!("127.0.0.1:{rm_port}"));
    let mut run = LiveRun {
        spec,
        c,
        rm,
        start: Instant::now(),
        deps: vec![Dep::default(); spec.deploys.len()],
        events: Vec::new(),
        observed: Observed::default(),
        restarts: BTreeMap::new(),
        nm_bound: BTreeMap::new(),
        nodes: Vec::new(),
        node_of: BTreeMap::new(),
        fault_heals: Vec::new(),
        fault_nodes: Default::default(),
        zk_port,
        real,
    };
    let flink = if run.real.is_some() { ", the real Flink" } else { "" };
    run.event("cluster", format!("cluster up: RM 127.0.0.1:{rm_port} + {} NMs (live processes{flink})", cl.nodes));
    let mut fired = vec![false; spec.steps.len()];
    let mut due: Vec<Option<Instant>> = vec![None; spec.steps.len()];
    let mut heals: Vec<(Instant, i32, String)> = Vec::new();
    let mut deployed = vec![false; spec.deploys.len()];
    let mut failure = None;
    let mut settled_at: Option<Instant> = None;
    let steps = if reference { vec![] } else { spec.steps.clone() };
    if reference {
        fired = vec![];
        due = vec![];
    }
    loop {
        let now = Instant::now();
        let elapsed = now - run.start;
        for (i, d) in spec.deploys.iter().enumerate() {
            if deployed[i] || d.manual || elapsed < d.at {
                continue;
            }
            if let Some(s) = d.session {
                if run.am_rest(s).is_none() {
                    continue;
                }
            }
            deployed[i] = true;
            if let Err(e) = run.deploy(i) {
                failure = Some(format!("deployment '{}' failed: {e}", d.name));
            }
        }
        run.observe();
        run.heal_due();
        let (go, keep): (Vec<_>, Vec<_>) = heals.drain(..).partition(|(t, _, _)| *t <= now);
        heals = keep;
        for (_, pid, what) in go {
            // The process that was stopped continues (if it still exists).
            match kill(Pid::from_raw(pid), Signal::SIGCONT) {
                Ok(()) => run.event("heal", format!("kill -CONT {what} (pid {pid})")),
                Err(e) => run.event("note", format!("kill -CONT {pid}: {e}")),
            }
        }
        // Every step's trigger is judged on this pass's observation before any step acts:
        // two steps waiting on one predicate start their clocks together, even when the first
        // one's fault takes away what the predicate reads (a kill of the AM's machine ends its
        // REST API, and with it the record count).
        let mut ready = vec![false; steps.len()];
        for (i, st) in steps.iter().enumerate() {
            if fired[i] {
                continue;
            }
            ready[i] = match (&st.trigger, due[i]) {
                (_, Some(t)) => now >= t,
                (Trigger::At(t), None) => elapsed >= *t + st.after,
                (Trigger::When(w), None) => {
                    if run.predicate(w) {
                        run.event("step", format!("line {}: {w}", st.line));
                        due[i] = Some(now + st.after);
                        st.after.is_zero()
                    } else {
                        false
                    }
                }
            };
        }
        for (i, st) in steps.iter().enumerate() {
            if ready[i] {
                fired[i] = true;
                match run.apply(&st.action) {
                    Ok(Some((after, pid, what))) => heals.push((now + after, pid, what)),
                    Ok(None) => {}
                    Err(e) => failure = Some(format!("step at line {} cannot be applied: {e}", st.line)),
                }
            }
        }
        if failure.is_some() {
            break;
        }
        if fired.iter().all(|f| *f) && heals.is_empty() && run.fault_heals.is_empty() && run.settled() {
            match settled_at {
                None => settled_at = Some(now),
                Some(t) if now - t >= Duration::from_secs(3) => break,
                Some(_) => {}
            }
        } else {
            settled_at = None;
        }
        if elapsed >= spec.timeout {
            let waiting: Vec<String> = steps
                .iter()
                .enumerate()
                .filter(|(i, _)| !fired[*i])
                .map(|(_, s)| match &s.trigger {
                    Trigger::When(w) => format!("step at line {} waited for {w}", s.line),
                    Trigger::At(t) => format!("step at line {} (at {t:?}) never ran", s.line),
                })
                .collect();
            let what = if waiting.is_empty() { "the expected end states were not reached".to_string() } else { waiting.join("; ") };
            failure = Some(format!("timed out after {:?}: {what}", spec.timeout));
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    run.observe();
    let mut outputs = BTreeMap::new();
    for d in 0..spec.deploys.len() {
        if let Some(o) = run.output(d) {
            outputs.insert(d, o);
        }
    }
    let mut verdicts = Vec::new();
    if let Some(f) = failure {
        verdicts.push(Verdict { status: Status::Fail, text: f, line: 0 });
    }
    let mut refs: BTreeMap<usize, Result<Vec<String>, String>> = BTreeMap::new();
    let mut reference_of = |d: usize| -> Result<Vec<String>, String> {
        refs.entry(d)
            .or_insert_with(|| {
                let mut s = spec.clone();
                s.steps.clear();
                s.expect =
                    vec![crate::spec::ExpectAt { line: 0, expect: Expect::Job { deploy: d, status: "FINISHED".into(), within: None } }];
                let (r, outs) = run_inner(&s, seed, true, None)?;
                if let Some(v) = r.verdicts.iter().find(|v| v.status == Status::Fail) {
                    return Err(v.text.clone());
                }
                outs.get(&d).cloned().ok_or_else(|| "no output".to_string())
            })
            .clone()
    };
    for e in &spec.expect {
        let (status, text) = run.check(&e.expect, &mut reference_of);
        verdicts.push(Verdict { status, text, line: e.line });
    }
    let duration = run.t();
    let result = RunResult {
        name: spec.name.clone(),
        mode: "live".into(),
        seed,
        events: std::mem::take(&mut run.events),
        verdicts,
        observed: std::mem::take(&mut run.observed),
        nodes: spec.cluster.nodes,
        deploys: spec.deploys.iter().map(|d| d.name.clone()).collect(),
        trace_hash: live_hash(&run_events_digest(spec)),
        duration,
        skipped: None,
    };
    drop(run);
    Ok((result, outputs))
}

/// Live runs are not deterministic: their "hash" only names the scenario text.
fn run_events_digest(spec: &Spec) -> String {
    spec.text.clone()
}

fn live_hash(s: &str) -> u64 {
    let mut h = engine::trace::Fnv64::default();
    h.write(s.as_bytes());
    h.finish()
}

/// The main classes of the real Flink's JVMs on YARN.
const REAL_TASKMANAGER: &str = "org.apache.flink.yarn.YarnTaskExecutorRunner";
/// YarnSessionClusterEntrypoint and YarnApplicationClusterEntryPoint.
const REAL_JOBMANAGER: &str = "org.apache.flink.yarn.entrypoint.Yarn";

/// The real Apache Flink distribution and what it needs on this machine.
#[derive(Clone, Debug)]
pub struct RealFlink {
    pub flink_home: PathBuf,
    pub java_home: PathBuf,
    /// Hadoop's client jars, `:`-joined (HADOOP_CLASSPATH).
    pub hadoop_classpath: String,
    /// The source tree (scripts/hadoop-compat/ with the Java jobs).
    pub repo: PathBuf,
}

/// The source tree: from the working directory up, or where this crate was built.
fn repo_root() -> Option<PathBuf> {
    let marker = Path::new("scripts/hadoop-compat/CompatJob.java");
    let cwd = std::env::current_dir().ok()?;
    cwd.ancestors()
        .map(Path::to_path_buf)
        .chain(Path::new(env!("CARGO_MANIFEST_DIR")).parent().map(Path::to_path_buf))
        .find(|d| d.join(marker).is_file())
}

/// `name` on PATH.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join(name)).find(|p| p.is_file())
}

impl RealFlink {
    /// FLINK_HOME (else scripts/flink-dist.sh's target/flink-dist/2.3.0/home), Java (JAVA_HOME,
    /// else `java` on PATH) and HADOOP_CLASSPATH (else scripts/hadoop-client.sh's jars). Nothing
    /// is downloaded here: `make compat` (or those scripts) fetch them once.
    pub fn find() -> Result<RealFlink, String> {
        let repo = repo_root().ok_or("cannot find the source tree (scripts/hadoop-compat/CompatJob.java): run from the repository")?;
        let flink_home = match std::env::var_os("FLINK_HOME") {
            Some(h) => PathBuf::from(h),
            None => repo.join("target/flink-dist/2.3.0/home"),
        };
        for f in ["bin/flink", "bin/yarn-session.sh", "lib"] {
            if !flink_home.join(f).exists() {
                return Err(format!(
                    "no Flink distribution at {} (missing {f}): set FLINK_HOME or run scripts/flink-dist.sh 2.3.0 (make compat does)",
                    flink_home.display()
                ));
            }
        }
        let java_home = match std::env::var_os("JAVA_HOME").map(PathBuf::from).filter(|h| h.join("bin/java").is_file()) {
            Some(h) => h,
            None => {
                let java = on_path("java").ok_or("no Java: set JAVA_HOME or install a JDK (apt-get install openjdk-17-jdk-headless)")?;
                let real = std::fs::canonicalize(&java).map_err(|e| format!("{}: {e}", java.display()))?;
                real.parent().and_then(Path::parent).map(Path::to_path_buf).ok_or("cannot tell JAVA_HOME from java's path")?
            }
        };
        let hadoop_classpath = match std::env::var("HADOOP_CLASSPATH").ok().filter(|c| !c.is_empty()) {
            Some(c) => c,
            None => {
                let jars = ["hadoop-client-api-3.5.0.jar", "hadoop-client-runtime-3.5.0.jar", "slf4j-api-2.0.17.jar"];
                let dir = repo.join("target/hadoop-client/jars");
                let paths: Vec<PathBuf> = jars.iter().map(|j| dir.join(j)).collect();
                if let Some(m) = paths.iter().find(|p| !p.is_file()) {
                    return Err(format!(
                        "no Hadoop client jars ({} is missing): set HADOOP_CLASSPATH or run scripts/hadoop-client.sh (make compat does)",
                        m.display()
                    ));
                }
                paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(":")
            }
        };
        Ok(RealFlink { flink_home, java_home, hadoop_classpath, repo })
    }

    /// What the cluster needs for Java ApplicationMasters: the conf dir and Hadoop's jars as
    /// `yarn.application.classpath` (Flink's client passes it to its containers), and an AM
    /// liveness expiry a JVM JobManager can meet (it needs seconds to register).
    fn yarn_site(&self, work: &Path) -> Vec<(String, String)> {
        let cp = std::iter::once(work.join("conf").display().to_string())
            .chain(self.hadoop_classpath.split(':').filter(|s| !s.is_empty()).map(str::to_string))
            .collect::<Vec<_>>()
            .join(",");
        vec![("yarn.application.classpath".into(), cp), ("yarn.am.liveness-monitor.expiry-interval-ms".into(), "60000".into())]
    }

    /// Flink's configuration (the distribution's, with the YARN properties file in the work
    /// dir) and the job jars the deployments name (compat-job compiled with javac).
    fn prepare(&self, spec: &Spec, work: &Path) -> Result<(), String> {
        let conf = work.join("flink-conf");
        std::fs::create_dir_all(&conf).map_err(|e| e.to_string())?;
        for e in std::fs::read_dir(self.flink_home.join("conf")).map_err(|e| e.to_string())?.flatten() {
            if e.path().is_file() {
                std::fs::copy(e.path(), conf.join(e.file_name())).map_err(|e| e.to_string())?;
            }
        }
        let mut yaml = std::fs::read_to_string(conf.join("config.yaml")).unwrap_or_default();
        yaml.push_str(&format!("\nyarn:\n  properties-file:\n    location: {}\n", work.display()));
        std::fs::write(conf.join("config.yaml"), yaml).map_err(|e| e.to_string())?;
        if spec.deploys.iter().any(|d| matches!(d.real, Some(RealProgram::CompatJob { .. }))) {
            let classes = work.join("classes");
            let src = self.repo.join("scripts/hadoop-compat/CompatJob.java");
            let tool = |t: &str| self.java_home.join("bin").join(t);
            if !tool("javac").is_file() {
                return Err(format!("no javac in {} (a JDK, not a JRE, is needed to compile compat-job)", self.java_home.display()));
            }
            let out = Command::new(tool("javac"))
                .args(["-nowarn", "-d"])
                .arg(&classes)
                .arg("-cp")
                .arg(format!("{}/lib/*", self.flink_home.display()))
                .arg(&src)
                .output()
                .map_err(|e| format!("javac: {e}"))?;
            if !out.status.success() {
                return Err(format!("javac {}: {}", src.display(), String::from_utf8_lossy(&out.stderr)));
            }
            let out = Command::new(tool("jar"))
                .arg("cfe")
                .arg(work.join("compat-job.jar"))
                .arg("CompatJob")
                .arg("-C")
                .arg(&classes)
                .arg(".")
                .output()
                .map_err(|e| format!("jar: {e}"))?;
            if !out.status.success() {
                return Err(format!("jar: {}", String::from_utf8_lossy(&out.stderr)));
            }
        }
        Ok(())
    }

    /// A client command of the distribution, with the cluster's Hadoop and Flink configuration.
    fn command(&self, program: &Path, work: &Path) -> Command {
        let mut c = Command::new(program);
        c.env("FLINK_HOME", &self.flink_home)
            .env("JAVA_HOME", &self.java_home)
            .env("HADOOP_CLASSPATH", &self.hadoop_classpath)
            .env("HADOOP_CONF_DIR", work.join("conf"))
            .env("YARN_CONF_DIR", work.join("conf"))
            .env("FLINK_CONF_DIR", work.join("flink-conf"))
            .env("FLINK_LOG_DIR", work.join("flink-client-log"))
            .current_dir(work)
            .stdin(Stdio::null());
        c
    }
}

/// Runs a client to its end (killed after `limit`), its output in `out`; Ok(output) if it exits 0.
fn run_client(mut cmd: Command, out: &Path, limit: Duration) -> Result<String, String> {
    use std::os::unix::process::CommandExt;
    let f = std::fs::File::create(out).map_err(|e| e.to_string())?;
    let f2 = f.try_clone().map_err(|e| e.to_string())?;
    let name = format!("{:?}", cmd.get_program());
    let mut child = cmd.stdout(f).stderr(f2).process_group(0).spawn().map_err(|e| format!("{name}: {e}"))?;
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break st,
            Ok(None) if start.elapsed() >= limit => {
                // The client and whatever it started (its JVM) go.
                let _ = kill(Pid::from_raw(-(child.id() as i32)), Signal::SIGKILL);
                let _ = child.wait();
                let text = std::fs::read_to_string(out).unwrap_or_default();
                return Err(format!("{name} did not end within {limit:?}: {}", tail(&text, 15)));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => return Err(format!("{name}: {e}")),
        }
    };
    let text = std::fs::read_to_string(out).unwrap_or_default();
    if !status.success() {
        return Err(format!("{name} exited {status}: {}", tail(&text, 15)));
    }
    Ok(text)
}

/// The last `n` lines of a text.
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last YARN application id in a client's output.
pub fn last_app_id(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .rfind(|w| {
            let mut p = w.splitn(3, '_');
            p.next() == Some("application")
                && p.next().is_some_and(|a| !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()))
                && p.next().is_some_and(|b| !b.is_empty() && b.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(str::to_string)
}

/// A CompatJob result line (`sum <key> <sum>`), without the print sink's `<subtask>> ` prefix
/// (Flink adds it when the sink runs with parallelism > 1).
pub fn compat_sum_line(line: &str) -> Option<String> {
    let l = line.trim();
    let l = match l.split_once("> ") {
        Some((p, rest)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => rest,
        _ => l,
    };
    let mut w = l.split(' ');
    let ok = w.next() == Some("sum")
        && w.next().is_some_and(|k| k.parse::<u64>().is_ok())
        && w.next().is_some_and(|s| s.parse::<u64>().is_ok())
        && w.next().is_none();
    ok.then(|| l.to_string())
}

/// CompatJob N's fault-free output, computed independently of Flink: for x in 1..=N, key x mod 4,
/// the running sum of that key after x.
pub fn compat_fault_free(n: u64) -> Vec<String> {
    let mut sums = [0u64; 4];
    (1..=n)
        .map(|x| {
            let k = (x % 4) as usize;
            sums[k] += x;
            format!("sum {k} {}", sums[k])
        })
        .collect()
}

/// Each key's final sum (`k=sum`) of a CompatJob output.
fn final_sums(lines: &[String]) -> Vec<String> {
    let mut last: BTreeMap<String, u64> = BTreeMap::new();
    for l in lines {
        let mut w = l.split(' ').skip(1);
        if let (Some(k), Some(s)) = (w.next(), w.next().and_then(|s| s.parse::<u64>().ok())) {
            let e = last.entry(k.to_string()).or_default();
            *e = (*e).max(s);
        }
    }
    last.into_iter().map(|(k, s)| format!("{k}={s}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compat_job_fault_free_output_is_the_running_sums_per_key() {
        let v = compat_fault_free(6);
        assert_eq!(v, ["sum 1 1", "sum 2 2", "sum 3 3", "sum 0 4", "sum 1 6", "sum 2 8"]);
        // Final sums of 1..2000 by x mod 4: the sum of an arithmetic series per residue.
        let f = final_sums(&compat_fault_free(2000));
        let want: Vec<String> = (0..4u64)
            .map(|k| {
                let s: u64 = (1..=2000u64).filter(|x| x % 4 == k).sum();
                format!("{k}={s}")
            })
            .collect();
        assert_eq!(f, want);
    }

    #[test]
    fn compat_sum_lines_lose_the_subtask_prefix_and_nothing_else_passes() {
        assert_eq!(compat_sum_line("sum 1 6").as_deref(), Some("sum 1 6"));
        assert_eq!(compat_sum_line("3> sum 0 4").as_deref(), Some("sum 0 4"));
        for bad in ["", "sum", "sum 1", "sum x 1", "sum 1 2 3", "a> sum 1 2", "log4j: sum 1 2"] {
            assert_eq!(compat_sum_line(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_last_application_id_of_a_client_output() {
        let out = "2026 INFO Submitting application master application_1767225600000_0001\n\
                   JobManager Web Interface: http://h:8081\n kill application_1767225600000_0002.\n application_x_1 application_1_";
        assert_eq!(last_app_id(out).as_deref(), Some("application_1767225600000_0002"));
        assert_eq!(last_app_id("no id here"), None);
    }
}
