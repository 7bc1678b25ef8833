//! High availability end to end, on a real Apache ZooKeeper (`yarn-sim start --zookeeper`,
//! Debian's `zookeeper` package; `scripts/install-zookeeper.sh` installs it, and without it
//! every test here prints SKIP and passes). A Flink session with `high-availability.type:
//! zookeeper` runs the StatefulCount example with checkpoints; the AM is killed, paused past its
//! ZooKeeper session, or paused past its YARN liveness and resumed as a zombie. Every claim about
//! output is checked against a fault-free run of the same job in the same session: the committed
//! part files must be equal line for line.
//!
//! The last test runs one sequence of ZooKeeper operations against the simulator's
//! `ZooKeeperServer` model and against the real server through the live gateway, and requires
//! the same answers and watch events from both.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use e2e::{alive, bin, free_port, Cluster, Rest, Run};

/// Why a real ZooKeeper cannot run here, printed as a SKIP.
fn skip() -> bool {
    match yarn_sim::cli::zookeeper::unavailable() {
        Some(why) => {
            println!("SKIP: {why}");
            true
        }
        None => false,
    }
}

fn example(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(p).display().to_string()
}

struct Ha {
    c: Cluster,
    conf_dir: PathBuf,
    zk_port: u16,
}

fn signal(pid: u32, s: nix::sys::signal::Signal) {
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), s);
}

impl Ha {
    fn start(name: &str, nodes: u32, yarn_conf: Option<&str>) -> Ha {
        let zk_port = free_port();
        let mut args = vec!["--zookeeper".to_string(), "--zookeeper-port".into(), zk_port.to_string()];
        let extra = std::env::temp_dir().join(format!("e2e-ha-{name}-{}-yarn-extra.xml", std::process::id()));
        if let Some(xml) = yarn_conf {
            std::fs::write(&extra, format!("<configuration>{xml}</configuration>")).unwrap();
            args.push("--conf".into());
            args.push(extra.display().to_string());
        }
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let c = Cluster::start(&format!("ha-{name}"), nodes, &refs);
        let _ = std::fs::remove_file(&extra);
        let conf_dir = c.work.join("flink-conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::write(
            conf_dir.join("config.yaml"),
            format!("yarn.properties-file.location: {}\nheartbeat.interval: 500 ms\nheartbeat.timeout: 3 s\n", c.work.display()),
        )
        .unwrap();
        Ha { c, conf_dir, zk_port }
    }

    fn run(&self, program: &str, args: &[&str]) -> Run {
        e2e::run_flink_client(&self.c, &self.conf_dir, program, args)
    }

    /// `yarn-session -d` with ZooKeeper HA, 3 attempts and checkpoints every 500 ms; the
    /// application id.
    fn session(&self, extra: &[&str]) -> String {
        let quorum = format!("high-availability.zookeeper.quorum=127.0.0.1:{}", self.zk_port);
        let mut args = vec![
            "-jm",
            "256m",
            "-tm",
            "512m",
            "-s",
            "2",
            "-nm",
            "ha",
            "-d",
            "-D",
            "high-availability.type=zookeeper",
            "-D",
            &quorum,
            "-D",
            "high-availability.storageDir=/ha",
            "-D",
            "yarn.application-attempts=3",
            "-D",
            "execution.checkpointing.interval=500ms",
        ];
        args.extend_from_slice(extra);
        let r = self.run("yarn-session", &args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        r.stdout
            .lines()
            .find_map(|l| l.strip_prefix("Submitted application "))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| panic!("{}", r.stdout))
    }

    /// The AM containers of the app's attempts, in order (from the RM).
    fn attempts(&self, app: &str) -> Vec<(String, String)> {
        let v = self.c.rest().get(&format!("/ws/v1/cluster/apps/{app}/appattempts")).unwrap();
        let list = v["appAttempts"]["appAttempt"].as_array().cloned().unwrap_or_default();
        list.iter()
            .map(|a| (a["appAttemptState"].as_str().unwrap_or("").to_string(), a["containerId"].as_str().unwrap_or("").to_string()))
            .collect()
    }

    /// A container's log dir (on whichever NodeManager ran it).
    fn container_dir(&self, app: &str, container: &str) -> Option<PathBuf> {
        (0..self.c.nodes).map(|i| self.c.work.join(format!("nm-{i}/logs/{app}/{container}"))).find(|d| d.is_dir())
    }

    fn am_log(&self, app: &str, container: &str) -> String {
        self.container_dir(app, container).map(|d| e2e::read(&d.join("jobmanager.log"))).unwrap_or_default()
    }

    /// The REST endpoint of the AM in `container`, from its log's first line.
    fn am_rest(&self, app: &str, container: &str) -> Option<Rest> {
        let log = self.am_log(app, container);
        let addr = log.lines().find_map(|l| l.split("(REST endpoint http://").nth(1))?.trim_end_matches(')').to_string();
        Some(Rest::new(&addr))
    }

    /// The flink-am process of `container`.
    fn am_pid(&self, container: &str) -> Option<u32> {
        self.c.processes_inside().into_iter().find(|p| {
            let cwd_ok = std::fs::read_link(format!("/proc/{p}/cwd")).is_ok_and(|d| d.ends_with(container));
            let cmd = std::fs::read(format!("/proc/{p}/cmdline")).unwrap_or_default();
            let argv0 = cmd.split(|b| *b == 0).next().unwrap_or_default();
            cwd_ok && argv0.ends_with(b"flink-am")
        })
    }

    /// The running attempt: its number (1-based) and AM container, once RUNNING with a REST
    /// endpoint that answers.
    fn wait_attempt(&self, app: &str, n: usize, limit: Duration) -> (String, Rest) {
        self.c.wait_for(&format!("attempt {n} RUNNING"), limit, || {
            let a = self.attempts(app);
            let (state, cid) = a.get(n - 1)?;
            (state == "RUNNING").then_some(())?;
            let rest = self.am_rest(app, cid)?;
            rest.get("/overview").ok()?;
            Some((cid.clone(), rest))
        })
    }

    fn committed(&self, dir: &str) -> Vec<String> {
        e2e::committed_lines(&self.c.work.join("dfs").join(dir))
    }

    fn job_id(r: &Run) -> String {
        e2e::submitted_job(r)
    }

    fn state(am: &Rest, id: &str) -> Option<String> {
        e2e::job_state(am, id)
    }

    fn completed_checkpoints(am: &Rest, id: &str) -> u64 {
        am.get(&format!("/jobs/{id}/checkpoints")).ok().and_then(|v| v["counts"]["completed"].as_u64()).unwrap_or(0)
    }

    fn taskmanagers(am: &Rest) -> Vec<String> {
        let v = am.get("/taskmanagers").unwrap_or_default();
        let mut ids: Vec<String> =
            v["taskmanagers"].as_array().into_iter().flatten().filter_map(|t| t["id"].as_str().map(String::from)).collect();
        ids.sort();
        ids
    }

    /// The fault-free reference run and a detached run of the same job; the job id.
    fn reference_and_job(&self, count: &str, rate: &str) -> (Vec<String>, String) {
        let prog = example("streaming/StatefulCount.toml");
        let r = self.run("flink", &["run", "-p", "2", &prog, "--output", "out/reference", "--count", count, "--rate", "0"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let reference = self.committed("out/reference");
        assert_eq!(reference.len(), 2 * count.parse::<usize>().unwrap(), "one (key,count) line per record");
        let r = self.run("flink", &["run", "-d", "-p", "2", &prog, "--output", "out/ha", "--count", count, "--rate", rate]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        (reference, Self::job_id(&r))
    }

    fn wait_running_with_checkpoints(&self, am: &Rest, id: &str, n: u64) {
        self.c.wait_for("the job RUNNING with checkpoints", Duration::from_secs(60), || {
            (Self::state(am, id)? == "RUNNING" && Self::completed_checkpoints(am, id) >= n).then_some(())
        });
    }

    fn wait_finished(&self, am: &Rest, id: &str) {
        self.c.wait_for("the job FINISHED", Duration::from_secs(120), || {
            let st = Self::state(am, id)?;
            assert_ne!(st, "FAILED", "{}", am.get(&format!("/jobs/{id}/exceptions")).unwrap());
            (st == "FINISHED").then_some(())
        });
    }

    /// kill -9 of the AM of attempt `n`; the next attempt's AM container and REST.
    fn kill_am(&self, app: &str, n: usize) -> (String, Rest) {
        let (cid, _) = self.wait_attempt(app, n, Duration::from_secs(30));
        let pid = self.am_pid(&cid).unwrap_or_else(|| panic!("no flink-am process for {cid}"));
        signal(pid, nix::sys::signal::Signal::SIGKILL);
        self.wait_attempt(app, n + 1, Duration::from_secs(60))
    }
}

#[test]
fn a_killed_am_fails_over_to_attempt_2_which_keeps_the_taskmanagers_and_restores_the_job() {
    if skip() {
        return;
    }
    let h = Ha::start("am-kill", 3, None);
    // The cluster's ZooKeeper is one of its daemons.
    let st: Run = Command::new(bin("yarn-sim")).args(["status", "--work-dir"]).arg(&h.c.work).output().unwrap().into();
    assert!(st.stdout.contains(&format!("ZooKeeper 127.0.0.1:{}: imok", h.zk_port)), "{}", st.stdout);
    assert!(st.stdout.lines().any(|l| l.starts_with("zookeeper") && l.ends_with("running")), "{}", st.stdout);
    let app = h.session(&[]);
    let (_, am1) = h.wait_attempt(&app, 1, Duration::from_secs(30));
    let (reference, id) = h.reference_and_job("16000", "1000");
    h.wait_running_with_checkpoints(&am1, &id, 2);
    let tms = Ha::taskmanagers(&am1);
    assert!(!tms.is_empty());
    let (cid2, am2) = h.kill_am(&app, 1);
    // The same job id RUNNING again on attempt 2, restored from a checkpoint.
    h.c.wait_for("the job RUNNING on attempt 2", Duration::from_secs(30), || (Ha::state(&am2, &id)? == "RUNNING").then_some(()));
    let log = h.am_log(&app, &cid2);
    for want in [
        "Starting YarnSessionClusterEntrypoint (attempt 2) with high availability.".to_string(),
        format!("Recovered JobGraph(jobId: {id})."),
        format!("Restoring job {id} from Checkpoint"),
        "containers from previous attempts (container_".into(),
    ] {
        assert!(log.contains(&want), "{want} in\n{log}");
    }
    // The TaskManagers were kept: the same containers, registered with the new leader.
    h.c.wait_for("the TaskManagers to re-register", Duration::from_secs(30), || (Ha::taskmanagers(&am2) == tms).then_some(()));
    let attempts = h.attempts(&app);
    assert_eq!(attempts.iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["FAILED", "RUNNING"]);
    let r = h.c.yarn(&["applicationattempt", "-list", &app]);
    assert!(r.stdout.contains("FAILED") && r.stdout.contains("RUNNING"), "{}", r.stdout);
    h.wait_finished(&am2, &id);
    let out = h.committed("out/ha");
    assert_eq!(out.len(), reference.len());
    assert!(out == reference, "the output after an AM failover differs from the fault-free run");
}

#[test]
fn an_rm_killed_and_restarted_with_recovery_keeps_the_flink_session_and_its_job() {
    if skip() {
        return;
    }
    let recovery = "<property><name>yarn.resourcemanager.recovery.enabled</name><value>true</value></property>";
    let h = Ha::start("rm-restart", 3, Some(recovery));
    let app = h.session(&[]);
    let (cid, am) = h.wait_attempt(&app, 1, Duration::from_secs(30));
    let (reference, id) = h.reference_and_job("16000", "1000");
    h.wait_running_with_checkpoints(&am, &id, 2);
    let tms = Ha::taskmanagers(&am);
    let am_pid = h.am_pid(&cid).expect("the AM process");
    let records = |am: &Rest| -> u64 {
        let v = am.get(&format!("/jobs/{id}")).unwrap_or_default();
        v["vertices"].as_array().into_iter().flatten().filter_map(|x| x["metrics"]["write-records"].as_u64()).sum()
    };

    h.c.kill_9("resourcemanager");
    // The Flink cluster does not notice the RM's absence: its job keeps running.
    let before = records(&am);
    h.c.wait_for("records flowing while the RM is down", Duration::from_secs(10), || (records(&am) > before).then_some(()));
    assert_eq!(Ha::state(&am, &id).as_deref(), Some("RUNNING"));
    let _rm = h.c.start_resourcemanager();
    h.c.wait_for("the restarted RM", Duration::from_secs(10), || h.c.rest().get("/ws/v1/cluster/info").ok());
    // The same application, still on attempt 1 with the same AM process, RUNNING; the AM
    // re-registered (its log says so) and kept its TaskManagers.
    h.c.wait_for("the AM re-registered", Duration::from_secs(20), || h.am_log(&app, &cid).contains("AM should re-register").then_some(()));
    // The AM container is rebuilt from its NodeManager's resync, which may come after the AM's.
    let want = vec![("RUNNING".to_string(), cid.clone())];
    h.c.wait_for("one attempt, the same AM container", Duration::from_secs(10), || (h.attempts(&app) == want).then_some(()));
    assert!(alive(am_pid), "the AM process survived the RM restart");
    assert_eq!(h.c.app(&app)["state"], "RUNNING");
    assert_eq!(Ha::taskmanagers(&am), tms, "no TaskManager was replaced");
    h.wait_finished(&am, &id);
    // Nothing lost and nothing twice: the committed output equals the fault-free run.
    assert_eq!(h.committed("out/ha"), reference);
    assert_eq!(Ha::state(&am, &id).as_deref(), Some("FINISHED"));
}

#[test]
fn an_am_killed_twice_within_the_attempts_recovers_twice() {
    if skip() {
        return;
    }
    // YARN caps attempts at yarn.resourcemanager.am.max-attempts (2 by default).
    let h = Ha::start("am-kill-twice", 3, Some("<property><name>yarn.resourcemanager.am.max-attempts</name><value>3</value></property>"));
    let app = h.session(&[]);
    let (_, am1) = h.wait_attempt(&app, 1, Duration::from_secs(30));
    let (reference, id) = h.reference_and_job("20000", "1000");
    h.wait_running_with_checkpoints(&am1, &id, 2);
    let (_, am2) = h.kill_am(&app, 1);
    h.wait_running_with_checkpoints(&am2, &id, 2);
    let (cid3, am3) = h.kill_am(&app, 2);
    h.c.wait_for("the job on attempt 3", Duration::from_secs(30), || {
        matches!(Ha::state(&am3, &id)?.as_str(), "RUNNING" | "FINISHED").then_some(())
    });
    let log = h.am_log(&app, &cid3);
    assert!(log.contains(&format!("Recovered JobGraph(jobId: {id}).")), "{log}");
    assert_eq!(h.attempts(&app).iter().map(|(s, _)| s.as_str()).collect::<Vec<_>>(), ["FAILED", "FAILED", "RUNNING"]);
    h.wait_finished(&am3, &id);
    assert!(h.committed("out/ha") == reference, "the output after two AM failovers differs from the fault-free run");
}

#[test]
fn zookeeper_session_expiry_revokes_leadership() {
    if skip() {
        return;
    }
    let h = Ha::start("zk-expiry", 3, None);
    // A 2 s session; the AM is paused for 3.5 s, less than YARN's AM liveness (5 s), so only
    // ZooKeeper notices: the session expires, the AM learns it when it resumes and gives up
    // leadership, and YARN's next attempt takes over.
    let app = h.session(&["-D", "high-availability.zookeeper.client.session-timeout=2s"]);
    let (cid1, am1) = h.wait_attempt(&app, 1, Duration::from_secs(30));
    let (reference, id) = h.reference_and_job("12000", "1000");
    h.wait_running_with_checkpoints(&am1, &id, 2);
    let pid = h.am_pid(&cid1).unwrap();
    signal(pid, nix::sys::signal::Signal::SIGSTOP);
    std::thread::sleep(Duration::from_millis(3500));
    signal(pid, nix::sys::signal::Signal::SIGCONT);
    h.c.wait_for("attempt 1's AM to end", Duration::from_secs(30), || (!alive(pid)).then_some(()));
    let log = h.am_log(&app, &cid1);
    assert!(log.contains("ZooKeeper session") && log.contains("expired"), "{log}");
    assert!(log.contains("Leadership revoked"), "{log}");
    let (_, am2) = h.wait_attempt(&app, 2, Duration::from_secs(60));
    h.wait_finished(&am2, &id);
    assert!(h.committed("out/ha") == reference, "the output after a session expiry differs from the fault-free run");
}

#[test]
fn a_paused_zombie_am_is_fenced_when_it_resumes() {
    if skip() {
        return;
    }
    let h = Ha::start("zombie", 3, None);
    let app = h.session(&[]);
    let (cid1, am1) = h.wait_attempt(&app, 1, Duration::from_secs(30));
    let (reference, id) = h.reference_and_job("16000", "1000");
    h.wait_running_with_checkpoints(&am1, &id, 2);
    // The AM hangs, and so does its NodeManager, so YARN cannot kill it: the node is LOST,
    // attempt 1 fails, and attempt 2 leads once the zombie's ZooKeeper session has expired.
    let pid = h.am_pid(&cid1).unwrap();
    let nm = (0..h.c.nodes)
        .find(|i| h.c.work.join(format!("nm-{i}/logs/{app}/{cid1}")).is_dir())
        .map(|i| h.c.pid_of(&format!("nodemanager-{i}")))
        .unwrap();
    signal(pid, nix::sys::signal::Signal::SIGSTOP);
    signal(nm, nix::sys::signal::Signal::SIGSTOP);
    let resume = scopeguard(nm);
    let (_, am2) = h.wait_attempt(&app, 2, Duration::from_secs(60));
    h.c.wait_for("the job RUNNING on attempt 2", Duration::from_secs(60), || {
        matches!(Ha::state(&am2, &id)?.as_str(), "RUNNING" | "FINISHED").then_some(())
    });
    let before = h.committed("out/ha").len();
    // The zombie resumes: it must find out it is no longer the leader and end, committing
    // nothing and commanding no TaskManager.
    assert!(alive(pid), "the zombie is still there");
    signal(pid, nix::sys::signal::Signal::SIGCONT);
    h.c.wait_for("the zombie to end", Duration::from_secs(30), || (!alive(pid)).then_some(()));
    let log = h.am_log(&app, &cid1);
    assert!(log.contains("Leadership revoked"), "{log}");
    let after_revoke = log.split("Leadership revoked").nth(1).unwrap_or("");
    assert!(!after_revoke.contains("Committed"), "the zombie committed output after it lost leadership:\n{log}");
    assert!(h.committed("out/ha").len() >= before);
    drop(resume);
    h.wait_finished(&am2, &id);
    assert!(h.committed("out/ha") == reference, "the output with a zombie AM differs from the fault-free run");
}

/// SIGCONTs a stopped process when dropped (a failing test must not leave a daemon stopped).
struct Resume(u32);
impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}
fn scopeguard(pid: u32) -> Resume {
    Resume(pid)
}

// ---------------------------------------------------------------------------------------------
// The model against the real server.

mod semantics {
    use std::sync::Arc;

    use engine::live::LiveNode;
    use engine::{Addr, Cx, Effect, Msg, Node, Time, TimerId};
    use flink_core::live::zk_gateway::ZkGateway;
    use flink_core::zookeeper::{WatchKind, ZkError, ZkMsg, ZkOp, ZkReply, ZooKeeperServer};
    use rand::SeedableRng;

    use super::*;

    /// Two clients talking to one ZooKeeper.
    pub trait Zk {
        fn connect(&mut self, c: usize, timeout_ms: u64) -> (u64, u64);
        fn op(&mut self, c: usize, session: u64, op: ZkOp) -> Result<ZkReply, ZkError>;
        fn close(&mut self, c: usize, session: u64);
        /// Watch events client `c` received since the last call, sorted.
        fn watches(&mut self, c: usize) -> Vec<(String, WatchKind)>;
    }

    /// The simulator's model, driven by hand.
    pub struct Model {
        zk: ZooKeeperServer,
        sys: engine::MemSys,
        rng: engine::Rng,
        inbox: [Vec<ZkMsg>; 2],
        xid: u64,
    }

    fn addr(c: usize) -> Addr {
        Addr::new(std::net::Ipv4Addr::new(127, 0, 0, 1 + c as u8), 1000)
    }

    impl Model {
        pub fn new() -> Model {
            Model {
                zk: ZooKeeperServer::new(yarn_sim::cli::zookeeper::TICK_MS),
                sys: engine::MemSys::default(),
                rng: engine::Rng::seed_from_u64(1),
                inbox: [Vec::new(), Vec::new()],
                xid: 0,
            }
        }
        fn deliver(&mut self, c: usize, m: ZkMsg) {
            let mut effects = Vec::new();
            let mut cx = Cx::new(Time::from_millis(0), addr(9), &mut self.rng, &mut effects, &mut self.sys);
            self.zk.on_message(&mut cx, addr(c), Msg::new(m));
            for e in effects {
                if let Effect::Send { to, msg } = e {
                    let to = (0..2).find(|i| addr(*i) == to).expect("a client");
                    self.inbox[to].push(msg.downcast::<ZkMsg>().expect("zk"));
                }
            }
        }
    }

    impl Zk for Model {
        fn connect(&mut self, c: usize, timeout_ms: u64) -> (u64, u64) {
            self.deliver(c, ZkMsg::Connect { timeout_ms });
            match self.inbox[c].pop() {
                Some(ZkMsg::Connected { session, timeout_ms }) => (session, timeout_ms),
                other => panic!("{other:?}"),
            }
        }
        fn op(&mut self, c: usize, session: u64, op: ZkOp) -> Result<ZkReply, ZkError> {
            self.xid += 1;
            let xid = self.xid;
            self.deliver(c, ZkMsg::Request { session, xid, op });
            let i = self.inbox[c].iter().position(|m| matches!(m, ZkMsg::Response { xid: x, .. } if *x == xid)).expect("a response");
            match self.inbox[c].remove(i) {
                ZkMsg::Response { result, .. } => result,
                _ => unreachable!(),
            }
        }
        fn close(&mut self, c: usize, session: u64) {
            self.deliver(c, ZkMsg::Close { session });
        }
        fn watches(&mut self, c: usize) -> Vec<(String, WatchKind)> {
            let mut w: Vec<(String, WatchKind)> = std::mem::take(&mut self.inbox[c])
                .into_iter()
                .filter_map(|m| match m {
                    ZkMsg::Watch { path, kind } => Some((path, kind)),
                    _ => None,
                })
                .collect();
            w.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            w
        }
    }

    /// A node that keeps every ZooKeeper message it gets.
    #[derive(Default)]
    pub struct Probe(Vec<ZkMsg>);
    impl Node for Probe {
        fn on_start(&mut self, _: &mut Cx) {}
        fn on_message(&mut self, _: &mut Cx, _: Addr, msg: Msg) {
            if let Ok(m) = msg.downcast::<ZkMsg>() {
                self.0.push(m);
            }
        }
        fn on_timer(&mut self, _: &mut Cx, _: TimerId) {}
        fn as_any(&mut self) -> &mut dyn std::any::Any {
            self
        }
    }

    /// The real server through the live gateway: two probe nodes, each with its own gateway.
    pub struct Real {
        pub rt: tokio::runtime::Runtime,
        nodes: Vec<LiveNode<Probe>>,
        quorum: Addr,
        xid: u64,
        /// Open sessions, pinged as a client does (the gateway expires silent ones).
        sessions: [Option<u64>; 2],
    }

    impl Real {
        pub fn new(quorum: Addr, store: &Path) -> Real {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            let nodes = (0..2)
                .map(|i| {
                    let me = Addr::new(std::net::Ipv4Addr::LOCALHOST, 1 + i as u16);
                    LiveNode::new(Probe::default(), me, store, engine::Codecs::new(), 1)
                        .with_gateway(quorum, ZkGateway::new(quorum) as Arc<dyn engine::live::Gateway>)
                })
                .collect();
            Real { rt, nodes, quorum, xid: 0, sessions: [None, None] }
        }
        fn send(&self, c: usize, m: ZkMsg) {
            let _g = self.rt.enter();
            let q = self.quorum;
            self.nodes[c].with(|_, cx| cx.send(q, m));
        }
        fn take<T>(&self, c: usize, what: &str, mut f: impl FnMut(&ZkMsg) -> Option<T>) -> T {
            let end = Instant::now() + Duration::from_secs(10);
            loop {
                let got = self.nodes[c].with(|p, _| {
                    let i = p.0.iter().position(|m| f(m).is_some())?;
                    Some(p.0.remove(i))
                });
                if let Some(m) = got {
                    return f(&m).unwrap();
                }
                assert!(Instant::now() < end, "no {what} from the real server");
                std::thread::sleep(Duration::from_millis(5));
            }
        }
    }

    impl Zk for Real {
        fn connect(&mut self, c: usize, timeout_ms: u64) -> (u64, u64) {
            self.send(c, ZkMsg::Connect { timeout_ms });
            let r = self.take(c, "Connected", |m| match m {
                ZkMsg::Connected { session, timeout_ms } => Some((*session, *timeout_ms)),
                _ => None,
            });
            self.sessions[c] = Some(r.0);
            r
        }
        fn op(&mut self, c: usize, session: u64, op: ZkOp) -> Result<ZkReply, ZkError> {
            self.xid += 1;
            let xid = self.xid;
            self.send(c, ZkMsg::Request { session, xid, op });
            self.take(c, "Response", |m| match m {
                ZkMsg::Response { xid: x, result } if *x == xid => Some(result.clone()),
                _ => None,
            })
        }
        fn close(&mut self, c: usize, session: u64) {
            self.sessions[c] = None;
            self.send(c, ZkMsg::Close { session });
        }
        fn watches(&mut self, c: usize) -> Vec<(String, WatchKind)> {
            for (i, s) in self.sessions.into_iter().enumerate() {
                if let Some(session) = s {
                    self.send(i, ZkMsg::Ping { session });
                }
            }
            // Watch events travel apart from responses: give them time to arrive.
            std::thread::sleep(Duration::from_millis(300));
            let mut w: Vec<(String, WatchKind)> = self.nodes[c].with(|p, _| {
                let (w, rest): (Vec<ZkMsg>, Vec<ZkMsg>) =
                    std::mem::take(&mut p.0).into_iter().partition(|m| matches!(m, ZkMsg::Watch { .. }));
                p.0 = rest.into_iter().filter(|m| !matches!(m, ZkMsg::Pong)).collect();
                w.into_iter()
                    .filter_map(|m| match m {
                        ZkMsg::Watch { path, kind } => Some((path, kind)),
                        _ => None,
                    })
                    .collect()
            });
            w.sort_by(|a, b| format!("{a:?}").cmp(&format!("{b:?}")));
            w
        }
    }

    fn create(path: &str, ephemeral: bool, sequential: bool, parents: bool) -> ZkOp {
        ZkOp::Create { path: path.into(), data: b"d".to_vec(), ephemeral, sequential, parents }
    }

    /// One sequence of operations; what every step answered and which watches fired, in words.
    pub fn script(z: &mut dyn Zk) -> Vec<String> {
        let mut t = Vec::new();
        let (s1, t1) = z.connect(0, 3000);
        let (s2, t2) = z.connect(1, 3000);
        t.push(format!("negotiated timeouts {t1} {t2}"));
        let step = |t: &mut Vec<String>, z: &mut dyn Zk, name: &str, c: usize, s: u64, op: ZkOp| {
            let r = z.op(c, s, op);
            let w0 = z.watches(0);
            let w1 = z.watches(1);
            t.push(format!("{name}: {r:?} | watches c1 {w0:?} c2 {w1:?}"));
        };
        step(&mut t, z, "create with parents", 0, s1, create("/t/a", false, false, true));
        step(&mut t, z, "create again", 0, s1, create("/t/a", false, false, true));
        step(&mut t, z, "create without parents", 0, s1, create("/x/y", false, false, false));
        step(&mut t, z, "bad path", 0, s1, create("bad", false, false, false));
        step(&mut t, z, "latch c1", 0, s1, create("/t/l/latch-", true, true, true));
        step(&mut t, z, "latch c2", 1, s2, create("/t/l/latch-", true, true, true));
        step(&mut t, z, "plain child", 0, s1, create("/t/l/x", false, false, false));
        step(&mut t, z, "delete plain child", 0, s1, ZkOp::Delete { path: "/t/l/x".into(), version: None, recursive: false });
        step(&mut t, z, "latch c1 again", 0, s1, create("/t/l/latch-", true, true, true));
        step(&mut t, z, "child of an ephemeral", 0, s1, create("/t/l/latch-0000000000/c", false, false, false));
        step(&mut t, z, "c2 watches data", 1, s2, ZkOp::GetData { path: "/t/a".into(), watch: true });
        step(&mut t, z, "c2 watches data twice", 1, s2, ZkOp::GetData { path: "/t/a".into(), watch: true });
        step(&mut t, z, "set version 0", 0, s1, ZkOp::SetData { path: "/t/a".into(), data: b"2".to_vec(), version: Some(0) });
        step(&mut t, z, "set stale version", 0, s1, ZkOp::SetData { path: "/t/a".into(), data: b"3".to_vec(), version: Some(0) });
        step(&mut t, z, "set again (watch was one-shot)", 0, s1, ZkOp::SetData { path: "/t/a".into(), data: b"4".to_vec(), version: None });
        step(&mut t, z, "delete stale version", 0, s1, ZkOp::Delete { path: "/t/a".into(), version: Some(0), recursive: false });
        step(&mut t, z, "c2 exists-watches an absent node", 1, s2, ZkOp::Exists { path: "/t/b".into(), watch: true });
        step(&mut t, z, "create it", 0, s1, create("/t/b", false, false, false));
        step(&mut t, z, "c2 watches children", 1, s2, ZkOp::GetChildren { path: "/t/l".into(), watch: true });
        z.close(0, s1);
        let w1 = z.watches(1);
        t.push(format!("c1 closed its session | watches c2 {w1:?}"));
        step(&mut t, z, "children after the close", 1, s2, ZkOp::GetChildren { path: "/t/l".into(), watch: false });
        step(&mut t, z, "a closed session", 0, s1, ZkOp::Exists { path: "/t".into(), watch: false });
        step(&mut t, z, "delete non-empty", 1, s2, ZkOp::Delete { path: "/t".into(), version: None, recursive: false });
        step(&mut t, z, "recursive delete, stale version", 1, s2, ZkOp::Delete { path: "/t".into(), version: Some(5), recursive: true });
        step(&mut t, z, "recursive delete", 1, s2, ZkOp::Delete { path: "/t".into(), version: None, recursive: true });
        step(&mut t, z, "gone", 1, s2, ZkOp::Exists { path: "/t/l".into(), watch: false });
        z.close(1, s2);
        t
    }
}

#[test]
fn the_zookeeper_model_answers_as_the_real_server_does() {
    if skip() {
        return;
    }
    let work = std::env::temp_dir().join(format!("e2e-ha-semantics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(work.join("logs")).unwrap();
    struct Server(u32, PathBuf);
    impl Drop for Server {
        fn drop(&mut self) {
            signal(self.0, nix::sys::signal::Signal::SIGKILL);
            let _ = std::fs::remove_dir_all(&self.1);
        }
    }
    let port = free_port();
    let pid = yarn_sim::cli::zookeeper::start(&work, port, true).expect("ZooKeeper starts");
    let _server = Server(pid, work.clone());
    let model = semantics::script(&mut semantics::Model::new());
    let quorum: engine::Addr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut real = semantics::Real::new(quorum, &work);
    let live = semantics::script(&mut real);
    let differ: Vec<String> = model.iter().zip(&live).filter(|(m, l)| m != l).map(|(m, l)| format!("model: {m}\nreal:  {l}")).collect();
    assert!(differ.is_empty(), "the model and the real server differ:\n{}", differ.join("\n"));
    assert_eq!(model.len(), live.len());
}

#[test]
fn an_unreachable_quorum_fails_the_attempt_with_a_clear_error() {
    // No ZooKeeper needed: nothing listens on the quorum's port.
    let c = Cluster::start("ha-no-quorum", 1, &[]);
    let conf_dir = c.work.join("flink-conf");
    std::fs::create_dir_all(&conf_dir).unwrap();
    std::fs::write(conf_dir.join("config.yaml"), format!("yarn.properties-file.location: {}\n", c.work.display())).unwrap();
    let quorum = format!("high-availability.zookeeper.quorum=127.0.0.1:{}", free_port());
    let r: Run = Command::new(bin("yarn-session"))
        .args(["-jm", "256m", "-d", "-D", "high-availability.type=zookeeper", "-D", &quorum, "-D", "high-availability.storageDir=ha"])
        .args(["-D", "high-availability.zookeeper.client.connection-timeout=1s"])
        .env("YARN_CONF_DIR", c.conf_dir())
        .env("FLINK_CONF_DIR", &conf_dir)
        .env_remove("HADOOP_CONF_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_ne!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let app = r.stdout.lines().find_map(|l| l.strip_prefix("Submitted application ")).map(str::trim).expect("submitted").to_string();
    c.wait_for("the app FAILED", Duration::from_secs(30), || (c.app(&app)["state"] == "FAILED").then_some(()));
    let v = c.rest().get(&format!("/ws/v1/cluster/apps/{app}/appattempts")).unwrap();
    let cid = v["appAttempts"]["appAttempt"][0]["containerId"].as_str().unwrap().to_string();
    let log = e2e::read(&c.work.join(format!("nm-0/logs/{app}/{cid}/jobmanager.log")));
    assert!(
        log.contains("Could not connect to ZooKeeper quorum") && log.contains("(high-availability.zookeeper.client.connection-timeout)"),
        "{log}"
    );
}

#[test]
fn zookeeper_that_cannot_start_stops_yarn_sim_start_before_anything_runs() {
    // A port that is taken: the ZooKeeper cannot bind it (or, without ZooKeeper installed, the
    // start says so); either way nothing is started and the error says why.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let work = std::env::temp_dir().join(format!("e2e-ha-zk-port-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    let r: Run = Command::new(bin("yarn-sim"))
        .args(["start", "--detach", "--nodes", "1", "--rm-port", &free_port().to_string(), "--zookeeper", "--zookeeper-port"])
        .arg(port.to_string())
        .arg("--work-dir")
        .arg(&work)
        .output()
        .unwrap()
        .into();
    let running: Vec<String> =
        std::fs::read_dir(work.join("run")).into_iter().flatten().flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    let _ = Command::new(bin("yarn-sim")).args(["stop", "--work-dir"]).arg(&work).output();
    let _ = std::fs::remove_dir_all(&work);
    assert_ne!(r.code, 0, "{}", r.stdout);
    let why = format!("Port in use: 127.0.0.1:{port} (another ZooKeeper?). Use --zookeeper-port.");
    assert!(r.stderr.contains(&why) || r.stderr.contains("ZooKeeper is not installed"), "{}", r.stderr);
    assert!(running.is_empty(), "nothing may run: {running:?}");
}
