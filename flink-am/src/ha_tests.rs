//! HA in the simulator: a YARN cluster, a ZooKeeper model node, the Flink AM with
//! `high-availability.type: zookeeper` and real TaskExecutors; the AM is killed, its session
//! expires, a zombie is paused and resumed.

use std::time::Duration;

use engine::{Addr, Signal, Store as _};
use flink_core::zookeeper::{decode_leader, ZooKeeperServer};
use flink_core::{JobGraph, JobId, JobStatus, RestartStrategy};
use yarn_sim::ids::ApplicationId;
use yarn_sim::records::{ApplicationSubmissionContext, ContainerLaunchContext, Resource};
use yarn_sim::rm::ResourceManager;
use yarn_sim::simcluster::{SimCluster, SimClusterConfig};

use crate::entrypoint::AmPhase;
use crate::ha::HaConfig;
use crate::{AmConfig, AmMode, FlinkAppMaster};

/// Random fault schedules over this harness (a proptest).
mod chaos;

const SESSION_TIMEOUT_MS: u64 = 3_000;

struct Ha {
    c: SimCluster,
    app: ApplicationId,
    zk: Addr,
}

/// A session cluster with HA on (keep-containers, 3 attempts) and a ZooKeeper node.
fn ha_session(seed: u64, am_expiry_ms: u64) -> Ha {
    ha_session_attempts(seed, am_expiry_ms, 3)
}

fn ha_session_attempts(seed: u64, am_expiry_ms: u64, attempts: i32) -> Ha {
    ha_cluster(seed, am_expiry_ms, attempts, AmMode::Session)
}

fn ha_cluster(seed: u64, am_expiry_ms: u64, attempts: i32, mode: AmMode) -> Ha {
    let mut h = cluster(seed, am_expiry_ms, attempts, mode, true);
    assert!(h.run_until(60, |h| h.leader().is_some()), "a leader is elected; log:\n{}", h.log());
    h
}

/// A cluster with a ZooKeeper node; the AM uses it when `ha`.
fn cluster(seed: u64, am_expiry_ms: u64, attempts: i32, mode: AmMode, ha: bool) -> Ha {
    cluster_with(seed, am_expiry_ms, attempts, mode, ha, |_| {})
}

fn cluster_with(
    seed: u64,
    am_expiry_ms: u64,
    attempts: i32,
    mode: AmMode,
    ha: bool,
    tweak: impl Fn(&mut HaConfig) + Send + Sync + 'static,
) -> Ha {
    let mut cfg = SimClusterConfig::new(seed, 4);
    cfg.conf.set("yarn.nm.liveness-monitor.expiry-interval-ms", 3000);
    cfg.conf.set("yarn.am.liveness-monitor.expiry-interval-ms", am_expiry_ms);
    // YARN caps an application's attempts at this global maximum (2 by default).
    cfg.conf.set("yarn.resourcemanager.am.max-attempts", 10);
    deploy_session(SimCluster::new(cfg).expect("cluster"), attempts, mode, ha, tweak)
}

/// Adds a ZooKeeper node to `c`, registers the Flink AM (with HA on ZooKeeper when `ha`) and
/// the TaskExecutor, and submits a Flink session the way the Flink client does with HA.
fn deploy_session(mut c: SimCluster, attempts: i32, mode: AmMode, ha: bool, tweak: impl Fn(&mut HaConfig) + Send + Sync + 'static) -> Ha {
    // FIFO links, as real TCP connections are (see tests.rs deploy_real_cfg).
    c.sim.net.latency_max = c.sim.net.latency_min;
    let zk_host = c.sim.add_machine();
    let zk = c.sim.spawn(zk_host, 2181, Box::new(ZooKeeperServer::new(200)));
    let reg = c.sim.registry();
    reg.register(
        "flink-am",
        Box::new(move |env| {
            let mut cfg = AmConfig::new(mode.clone(), env.spec.env.clone()).with_slots(2);
            cfg.tm_memory_mb = 2048;
            cfg.idle_tm_timeout_ms = 60_000;
            cfg.ha = ha.then(|| {
                let mut h = HaConfig {
                    quorum: zk,
                    storage_dir: "ha".into(),
                    cluster_id: String::new(),
                    root: "/flink".into(),
                    session_timeout_ms: SESSION_TIMEOUT_MS,
                    connection_timeout_ms: 2_000,
                };
                tweak(&mut h);
                h
            });
            Ok(Box::new(FlinkAppMaster::new(cfg)))
        }),
    );
    reg.register(
        "taskexec",
        Box::new(|env| Ok(Box::new(taskexec::TaskExecutor::new(taskexec::TaskExecutorConfig::from_env(&env.spec.env)?)))),
    );
    let rm = c.rm;
    let (app, _) = c.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.new_application(cx)).expect("rm");
    let mut ctx = ApplicationSubmissionContext::new(app);
    ctx.application_name = "Flink session cluster".into();
    ctx.application_type = "Apache Flink".into();
    ctx.resource = Resource::new(1024, 1);
    // What the Flink client sets with HA (YarnClusterDescriptor).
    ctx.max_app_attempts = attempts;
    ctx.keep_containers_across_application_attempts = true;
    ctx.am_container_spec = ContainerLaunchContext {
        commands: vec!["flink-am 1><LOG_DIR>/jobmanager.log 2><LOG_DIR>/jobmanager.err".into()],
        ..Default::default()
    };
    c.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.submit_application(cx, ctx, "sim")).expect("rm").expect("submitted");
    Ha { c, app, zk }
}

impl Ha {
    fn hosts(&self) -> Vec<std::net::Ipv4Addr> {
        (0..self.c.nms.len()).map(|i| self.c.nm_host(i)).collect()
    }

    /// Every AM process (a paused zombie included).
    fn ams(&mut self) -> Vec<Addr> {
        let mut out = Vec::new();
        for h in self.hosts() {
            for a in self.c.sim.processes_on(h) {
                if self.c.sim.node::<FlinkAppMaster>(a).is_some() {
                    out.push(a);
                }
            }
        }
        out
    }

    /// The AM ZooKeeper names as leader (a paused zombie may still believe it is one), once
    /// it is registered with YARN.
    fn leader(&mut self) -> Option<Addr> {
        let path = format!("/flink/{}/leader/resource_manager/connection_info", self.app);
        let (addr, _) = decode_leader(&self.zk_data(&path)?)?;
        let am = self.c.sim.node::<FlinkAppMaster>(addr)?;
        let ready = am.phase() == &AmPhase::Running
            && am.ha().is_some_and(|h| h.is_leader())
            && am.resource_manager().is_some_and(|r| r.is_registered_with_yarn());
        ready.then_some(addr)
    }

    fn task_executors(&mut self) -> Vec<Addr> {
        let mut out = Vec::new();
        for h in self.hosts() {
            for a in self.c.sim.processes_on(h) {
                if self.c.sim.node::<taskexec::TaskExecutor>(a).is_some() {
                    out.push(a);
                }
            }
        }
        out
    }

    /// Every TaskManager container's stdout.
    fn tm_log(&self) -> String {
        let mut s = String::new();
        for h in self.hosts() {
            for (path, data) in self.c.sim.local_files_under(h, "/yarn/logs") {
                if !path.contains("jobmanager") && (path.ends_with("stdout") || path.ends_with(".out") || path.ends_with(".log")) {
                    s.push_str(&format!("==== {path}\n"));
                    s.push_str(&String::from_utf8_lossy(data));
                }
            }
        }
        s
    }

    fn log(&self) -> String {
        let mut s = String::new();
        for h in self.hosts() {
            for (path, data) in self.c.sim.local_files_under(h, "/yarn/logs") {
                if path.ends_with("jobmanager.log") {
                    s.push_str(&format!("==== {path}\n"));
                    s.push_str(&String::from_utf8_lossy(data));
                }
            }
        }
        s
    }

    fn run_until(&mut self, limit_secs: u64, mut pred: impl FnMut(&mut Ha) -> bool) -> bool {
        let end = self.c.sim.now() + Duration::from_secs(limit_secs);
        while self.c.sim.now() < end {
            if pred(self) {
                return true;
            }
            let step = self.c.sim.now() + Duration::from_millis(50);
            self.c.sim.run_until(step);
        }
        pred(self)
    }

    fn job_status(&mut self, id: JobId) -> Option<JobStatus> {
        let am = self.leader()?;
        self.c.sim.node::<FlinkAppMaster>(am)?.job_statuses().get(&id).copied()
    }

    fn running_tasks(&mut self, id: JobId) -> u64 {
        let Some(am) = self.leader() else { return 0 };
        let now = self.c.sim.now();
        let Some(am) = self.c.sim.node::<FlinkAppMaster>(am) else { return 0 };
        am.job_details(&id, now).and_then(|v| v["status-counts"]["RUNNING"].as_u64()).unwrap_or(0)
    }

    fn completed_checkpoints(&mut self, id: JobId) -> u64 {
        let Some(am) = self.leader() else { return 0 };
        self.c
            .sim
            .node::<FlinkAppMaster>(am)
            .and_then(|am| am.dispatcher().job(&id).and_then(|j| j.checkpoint_stats().map(|s| s.num_completed)))
            .unwrap_or(0)
    }

    fn zk_data(&mut self, path: &str) -> Option<Vec<u8>> {
        let zk = self.zk;
        self.c.sim.node::<ZooKeeperServer>(zk)?.dump().into_iter().find(|(p, _)| p == path).map(|(_, d)| d)
    }

    fn zk_paths(&mut self) -> Vec<String> {
        let zk = self.zk;
        self.c.sim.node::<ZooKeeperServer>(zk).map(|z| z.dump().into_iter().map(|(p, _)| p).collect()).unwrap_or_default()
    }

    fn attempts(&mut self) -> Vec<String> {
        let app = self.app;
        let rm = self.c.rm;
        self.c
            .sim
            .node::<ResourceManager>(rm)
            .and_then(|r| r.app(&app).map(|a| a.attempts.iter().map(|at| format!("{:?}", at.state)).collect()))
            .unwrap_or_default()
    }

    fn committed_lines(&mut self, dir: &str) -> Vec<String> {
        let mut lines = Vec::new();
        for path in self.c.sim.store().list(dir).unwrap() {
            let name = path.rsplit('/').next().unwrap();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let bytes = self.c.sim.store().read(&path).unwrap();
            lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
        }
        lines.sort();
        lines
    }

    fn submit(&mut self, g: JobGraph) -> JobId {
        let am = self.leader().expect("a leader");
        self.c.sim.with_node::<FlinkAppMaster, _>(am, |am, cx| am.submit_job(cx, g)).unwrap().unwrap()
    }
}

/// StatefulCount (keyed counts into the exactly-once file sink), checkpoints every 200 ms.
#[allow(clippy::disallowed_methods)] // the test reads the example program from disk
fn stateful_count(job: u128, count: u64, rate: u64, out: &str) -> JobGraph {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/streaming/StatefulCount.toml")).unwrap();
    let args: Vec<String> =
        ["--count", &count.to_string(), "--rate", &rate.to_string(), "--output", out].iter().map(|s| s.to_string()).collect();
    let program = flink_core::program::Program::parse(&text, &args).unwrap();
    let mut next = job * 1000;
    let mut g = program
        .job_graphs(2, &mut || {
            next += 1;
            next
        })
        .unwrap()
        .remove(0);
    g.job_id = JobId::from_u128(job);
    let mut cfg = flink_core::checkpoint::CheckpointConfig::with_interval(200);
    cfg.dir = Some("ckpts".into());
    g.checkpointing = Some(cfg);
    g.restart_strategy = RestartStrategy::FixedDelay { attempts: 20, delay_ms: 200 };
    g
}

/// The committed output of a fault-free run of the same job in an HA cluster.
fn fault_free(seed: u64, count: u64, rate: u64) -> Vec<String> {
    let mut h = ha_session(seed, 600_000);
    let id = h.submit(stateful_count(500, count, rate, "clean"));
    assert!(h.run_until(300, |h| h.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", h.log());
    assert_eq!(h.job_status(id), Some(JobStatus::Finished), "{}", h.log());
    // The finished job's HA data is gone: no JobGraph pointer, no checkpoints, no dirty result.
    assert!(h.run_until(10, |h| !h.zk_paths().iter().any(|p| p.contains(&id.to_string()))), "{:?}", h.zk_paths());
    assert!(h.c.sim.store().list("ha/job-result-store").unwrap_or_default().is_empty());
    h.committed_lines("clean")
}

#[test]
fn a_killed_am_fails_over_to_attempt_2_which_recovers_the_job_from_its_latest_checkpoint() {
    let (count, rate) = (3_000, 1_000);
    let expected = fault_free(60, count, rate);
    assert_eq!(expected.len(), 2 * count as usize);

    let mut h = ha_session(61, 600_000);
    let id = h.submit(stateful_count(500, count, rate, "faulty"));
    assert!(h.run_until(60, |h| h.completed_checkpoints(id) >= 3 && h.running_tasks(id) == 4), "{}", h.log());
    let tms_before = h.task_executors();
    assert!(!tms_before.is_empty());
    let base = format!("/flink/{}", h.app);
    let (leader1, _) = decode_leader(&h.zk_data(&format!("{base}/leader/resource_manager/connection_info")).unwrap()).unwrap();
    assert!(h.zk_paths().contains(&format!("{base}/execution-plans/{id}")), "{:?}", h.zk_paths());
    assert!(h.zk_paths().iter().any(|p| p.starts_with(&format!("{base}/jobs/{id}/checkpoints/0000000000000000"))), "{:?}", h.zk_paths());
    let am1 = h.leader().unwrap();
    assert_eq!(am1, leader1);

    assert!(h.c.sim.signal(am1, Signal::Kill));
    // Attempt 2 waits for attempt 1's session to expire, then leads and recovers.
    assert!(h.run_until(120, |h| h.leader().is_some_and(|a| a != am1) && h.running_tasks(id) == 4), "{}", h.log());
    assert_eq!(h.job_status(id), Some(JobStatus::Running));
    let log = h.log();
    assert!(log.contains("Recovered 1 containers from previous attempts") || log.contains("containers from previous attempts"), "{log}");
    assert!(log.contains(&format!("Recovered JobGraph(jobId: {id}).")), "{log}");
    assert!(log.contains("Successfully recovered 1 persisted job graphs."), "{log}");
    assert!(log.contains(&format!("Restoring job {id} from Checkpoint ")), "{log}");
    assert!(log.contains(&format!("Reset the checkpoint ID of job {id} to ")), "{log}");
    let attempts = h.attempts();
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert_eq!(attempts[0], "Failed", "{attempts:?}");
    // The TaskManagers were kept: the same processes run the recovered job.
    let tms_after = h.task_executors();
    assert_eq!(tms_after, tms_before, "no TaskManager was replaced; {}", h.log());
    for tm in &tms_after {
        let leader = h.c.sim.node::<taskexec::TaskExecutor>(*tm).unwrap().leader().cloned();
        assert_eq!(leader.map(|l| l.0), h.leader(), "every TaskManager follows the new leader");
    }

    assert!(h.run_until(300, |h| h.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", h.log());
    assert_eq!(h.job_status(id), Some(JobStatus::Finished), "{}", h.log());
    let got = h.committed_lines("faulty");
    assert_eq!(got.len(), expected.len(), "no loss, no duplicate");
    assert_eq!(got, expected);
}

#[test]
fn zookeeper_session_expiry_revokes_leadership() {
    let mut h = ha_session(62, 600_000);
    let am1 = h.leader().unwrap();
    let zk = h.zk;
    let session = h.c.sim.node::<ZooKeeperServer>(zk).unwrap().session_of(am1).expect("the AM has a session");
    h.c.sim.with_node::<ZooKeeperServer, _>(zk, |z, cx| z.expire(cx, session)).unwrap();
    h.c.sim.run_for(Duration::from_millis(500));
    let log = h.log();
    assert!(log.contains("ZooKeeper session"), "{log}");
    assert!(log.contains("The leadership of this JobManager was revoked"), "{log}");
    // The revoked AM ended; YARN's next attempt takes over.
    assert!(h.run_until(60, |h| h.leader().is_some_and(|a| a != am1)), "{}", h.log());
    assert_eq!(h.attempts().len(), 2);
}

#[test]
fn a_paused_zombie_am_is_fenced_when_it_resumes() {
    use engine::fault::{Endpoint, Fault};
    let (count, rate) = (3_000, 1_000);
    let expected = fault_free(63, count, rate);
    // The RM gives up on the silent AM after 4 s (YARN's AM liveness).
    let mut h = ha_session(64, 4_000);
    let id = h.submit(stateful_count(500, count, rate, "zombie"));
    assert!(h.run_until(60, |h| h.completed_checkpoints(id) >= 3 && h.running_tasks(id) == 4), "{}", h.log());
    let am1 = h.leader().unwrap();
    let token = |h: &mut Ha, am: Addr| {
        let session = h.c.sim.node::<FlinkAppMaster>(am).and_then(|a| a.ha().and_then(|ha| ha.leader_session_id().map(str::to_string)));
        session.and_then(|s| flink_core::JobMasterId::from_leader_session_id(&s)).expect("a leader has a session id")
    };
    let old_token = token(&mut h, am1);
    let tms = h.task_executors();
    assert!(tms.iter().all(|t| t.ip() != am1.ip()), "the test needs the AM alone on its machine");
    // What the AM sends its TaskManagers from now on is held in the network (delivered late),
    // then the AM hangs, and its machine loses the RM (not ZooKeeper), so YARN cannot kill
    // it: after its ZooKeeper session expires, attempt 2 leads on another machine.
    let (rm, _) = (h.c.rm, h.zk);
    let held = engine::fault::Link::new(Endpoint::Process(am1), Endpoint::Host(*tms[0].ip()));
    h.c.sim.apply(Fault::Hold { link: held }).unwrap();
    h.c.sim.run_for(Duration::from_millis(600));
    assert!(h.c.sim.signal(am1, Signal::Stop));
    h.c.sim.apply(Fault::Partition { a: Endpoint::Host(*am1.ip()), b: Endpoint::Host(*rm.ip()), one_way: false }).unwrap();
    assert!(h.run_until(120, |h| h.leader().is_some_and(|a| a != am1) && h.running_tasks(id) == 4), "{}", h.log());
    let am2 = h.leader().unwrap();
    assert!(h.ams().contains(&am1), "the zombie is still there");
    // The zombie's late commands (checkpoint triggers, commits, heartbeats) arrive now.
    h.c.sim.apply(Fault::Release { link: held }).unwrap();
    h.c.sim.run_for(Duration::from_millis(100));
    let tm_log = h.tm_log();
    let new_token = token(&mut h, am2);
    assert!(
        tm_log.contains(&format!(
            "Fencing token mismatch: Ignoring message TriggerCheckpoint from {am1} because the fencing token {old_token} did not match the expected fencing token {new_token}."
        )),
        "{tm_log}\n{}",
        h.log()
    );
    // The zombie resumes and learns on its own that it lost leadership.
    assert!(h.c.sim.signal(am1, Signal::Cont));
    assert!(h.run_until(30, |h| h.c.sim.node::<FlinkAppMaster>(am1).is_none_or(|am| am.phase() == &AmPhase::Exited)), "{}", h.log());
    let log = h.log();
    assert!(log.contains("The leadership of this JobManager was revoked"), "{log}");
    for tm in &tms {
        if let Some(t) = h.c.sim.node::<taskexec::TaskExecutor>(*tm) {
            assert_eq!(t.leader().map(|l| l.0), Some(am2));
        }
    }
    h.c.sim.apply(Fault::HealAll).unwrap();
    assert!(h.run_until(300, |h| h.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", h.log());
    assert_eq!(h.job_status(id), Some(JobStatus::Finished), "{}", h.log());
    assert_eq!(h.committed_lines("zombie"), expected, "the zombie committed nothing twice");
}

#[test]
fn a_corrupt_jobgraph_pointer_fails_the_attempt_with_a_clear_error() {
    let mut h = ha_session(65, 600_000);
    let id = h.submit(stateful_count(501, 100_000, 100, "corrupt"));
    assert!(h.run_until(60, |h| h.running_tasks(id) == 4), "{}", h.log());
    let plans: Vec<String> = h.c.sim.store().list("ha").unwrap().into_iter().filter(|p| p.contains("submittedExecutionPlan")).collect();
    assert_eq!(plans.len(), 1, "{plans:?}");
    h.c.sim.store().write(&plans[0], b"{not a job graph").unwrap();
    let am1 = h.leader().unwrap();
    assert!(h.c.sim.signal(am1, Signal::Kill));
    assert!(
        h.run_until(60, |h| h.log().contains("Could not recover the persisted job graphs")),
        "the next attempt says why it cannot recover; log:\n{}",
        h.log()
    );
    let log = h.log();
    assert!(log.contains(&format!("Could not retrieve the JobGraph of job {id}")), "{log}");
    assert!(log.contains("corrupt JobGraph"), "{log}");
}

#[test]
fn same_seed_same_ha_trace() {
    let run = |seed| {
        let mut h = ha_session(seed, 600_000);
        h.c.sim.run_for(Duration::from_secs(2));
        h.c.sim.trace_hash()
    };
    assert_eq!(run(66), run(66));
}

/// A fault the proptest injects against the current leader.
#[derive(Clone, Copy, Debug)]
enum AmFault {
    /// `kill -9` of the leading AM.
    Kill,
    /// ZooKeeper expires the leader's session.
    ExpireSession,
    /// The leader's machine and ZooKeeper cannot reach each other for a while.
    PartitionFromZooKeeper { heal_after_ms: u64 },
}

fn am_fault_strategy() -> impl proptest::strategy::Strategy<Value = Vec<(u64, AmFault)>> {
    use proptest::prelude::*;
    let fault = prop_oneof![
        Just(AmFault::Kill),
        Just(AmFault::ExpireSession),
        (500u64..6_000).prop_map(|heal_after_ms| AmFault::PartitionFromZooKeeper { heal_after_ms }),
    ];
    proptest::collection::vec((300u64..3_000, fault), 1..3)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 6, failure_persistence: None, ..Default::default() })]

    /// Random AM kills, session expiries and AM <-> ZooKeeper partitions during a
    /// checkpointing job: once the faults heal the job finishes on some attempt with exactly
    /// the fault-free output.
    #[test]
    fn committed_output_equals_the_fault_free_run_under_am_faults(faults in am_fault_strategy(), seed in 70u64..10_000) {
        use engine::fault::{Endpoint, Fault};
        let (count, rate) = (2_000, 1_000);
        let expected = fault_free(seed, count, rate);
        let mut h = ha_session_attempts(seed + 1, 600_000, 10);
        let id = h.submit(stateful_count(500, count, rate, "faulty"));
        for (after_ms, fault) in faults {
            h.c.sim.run_for(Duration::from_millis(after_ms));
            if !h.run_until(60, |h| h.leader().is_some()) {
                break;
            }
            if h.job_status(id).is_some_and(|s| s.is_globally_terminal()) {
                break;
            }
            let am = h.leader().unwrap();
            match fault {
                AmFault::Kill => {
                    h.c.sim.signal(am, Signal::Kill);
                }
                AmFault::ExpireSession => {
                    let zk = h.zk;
                    if let Some(s) = h.c.sim.node::<ZooKeeperServer>(zk).and_then(|z| z.session_of(am)) {
                        h.c.sim.with_node::<ZooKeeperServer, _>(zk, |z, cx| z.expire(cx, s));
                    }
                }
                AmFault::PartitionFromZooKeeper { heal_after_ms } => {
                    let zk = h.zk;
                    h.c.sim.apply(Fault::Partition { a: Endpoint::Host(*am.ip()), b: Endpoint::Host(*zk.ip()), one_way: false }).unwrap();
                    h.c.sim.run_for(Duration::from_millis(heal_after_ms));
                    h.c.sim.apply(Fault::HealAll).unwrap();
                }
            }
        }
        // The job ends FINISHED on some attempt; a later leader that found it in the job
        // result store only cleans up and does not list it (delete-on-commit).
        let finished = format!("Job {id} reached terminal state FINISHED.");
        let done = h.run_until(600, |h| {
            h.job_status(id).is_some_and(|s| s.is_globally_terminal())
                || (h.leader().is_some() && h.job_status(id).is_none() && h.log().contains(&finished))
        });
        proptest::prop_assert!(done, "{}", h.log());
        let log = h.log();
        proptest::prop_assert!(h.job_status(id).is_none_or(|s| s == JobStatus::Finished), "{}", log);
        proptest::prop_assert!(log.contains(&finished), "{}", log);
        proptest::prop_assert!(!log.contains("reached terminal state FAILED"), "{}", log);
        let got = h.committed_lines("faulty");
        proptest::prop_assert_eq!(got.len(), expected.len(), "no loss, no duplicate");
        proptest::prop_assert_eq!(got, expected);
    }
}

#[test]
fn application_mode_with_ha_recovers_its_job_instead_of_running_main_again_from_scratch() {
    let (count, rate) = (3_000, 1_000);
    let expected = fault_free(67, count, rate);
    let job = stateful_count(500, count, rate, "app");
    let id = job.job_id;
    let mut h = ha_cluster(68, 600_000, 3, AmMode::Application { jobs: vec![job] });
    assert!(h.run_until(60, |h| h.completed_checkpoints(id) >= 3 && h.running_tasks(id) == 4), "{}", h.log());
    let am1 = h.leader().unwrap();
    assert!(h.c.sim.signal(am1, Signal::Kill));
    assert!(h.run_until(120, |h| h.leader().is_some_and(|a| a != am1) && h.running_tasks(id) == 4), "{}", h.log());
    let log = h.log();
    assert!(log.contains(&format!("Job {id} was recovered successfully.")), "{log}");
    assert!(log.contains(&format!("Restoring job {id} from Checkpoint ")), "{log}");
    assert_eq!(
        log.matches(&format!("Received JobGraph submission 'Stateful Count' ({id})")).count(),
        1,
        "only attempt 1 submitted it; {log}"
    );
    assert!(h.run_until(300, |h| h.c.state(&h.app).is_some_and(|(s, _)| s.is_final())), "{}", h.log());
    assert_eq!(h.c.state(&h.app).unwrap().1, "SUCCEEDED", "{}", h.log());
    assert_eq!(h.committed_lines("app"), expected);
}

#[test]
fn without_ha_a_second_attempt_says_the_session_jobs_are_lost() {
    let mut h = cluster(69, 600_000, 2, AmMode::Session, false);
    let running = |h: &mut Ha| {
        h.ams().into_iter().find(|a| {
            h.c.sim.node::<FlinkAppMaster>(*a).is_some_and(|am| am.resource_manager().is_some_and(|r| r.is_registered_with_yarn()))
        })
    };
    assert!(h.run_until(60, |h| running(h).is_some()), "{}", h.log());
    let am1 = running(&mut h).unwrap();
    let id =
        h.c.sim
            .with_node::<FlinkAppMaster, _>(am1, |am, cx| am.submit_job(cx, stateful_count(502, 100_000, 100, "lost")))
            .unwrap()
            .unwrap();
    h.c.sim.run_for(Duration::from_secs(3));
    assert!(h.c.sim.signal(am1, Signal::Kill));
    assert!(h.run_until(60, |h| running(h).is_some_and(|a| a != am1)), "{}", h.log());
    let am2 = running(&mut h).unwrap();
    let log = h.log();
    assert!(log.contains("High availability is not configured (high-availability.type: NONE): the jobs of the previous attempt cannot be recovered and are lost."), "{log}");
    assert!(!h.c.sim.node::<FlinkAppMaster>(am2).unwrap().job_statuses().contains_key(&id));
    assert!(h.zk_paths().iter().all(|p| !p.starts_with("/flink")), "nothing in ZooKeeper without HA");
}

#[test]
fn an_unreachable_quorum_or_a_storage_dir_outside_the_store_fails_the_attempt_clearly() {
    let nowhere: Addr = "127.0.0.99:2181".parse().unwrap();
    let mut h = cluster_with(71, 600_000, 1, AmMode::Session, true, move |c| c.quorum = nowhere);
    assert!(h.run_until(60, |h| h.c.state(&h.app).is_some_and(|(s, _)| s.is_final())), "{}", h.log());
    let log = h.log();
    assert!(
        log.contains(
            "Could not connect to ZooKeeper quorum 127.0.0.99:2181 within 2000 ms (high-availability.zookeeper.client.connection-timeout)."
        ),
        "{log}"
    );
    assert_eq!(h.c.state(&h.app).unwrap().1, "FAILED");

    let mut h = cluster_with(72, 600_000, 1, AmMode::Session, true, |c| c.storage_dir = "../elsewhere".into());
    assert!(h.run_until(60, |h| h.c.state(&h.app).is_some_and(|(s, _)| s.is_final())), "{}", h.log());
    let log = h.log();
    assert!(log.contains("Invalid high-availability.storageDir '../elsewhere': path '../elsewhere' is outside the shared store"), "{log}");
    assert_eq!(h.c.state(&h.app).unwrap().1, "FAILED");
}
