//! A property over random fault schedules on an HA session running a checkpointing
//! StatefulCount job with the exactly-once file sink: AM kills, ZooKeeper session expiries,
//! YARN ResourceManager restarts (with recovery), partitions AM <-> ZooKeeper and AM <->
//! TaskManagers, and zombie AMs (paused, cut off from YARN so that it cannot kill them, and
//! resumed after the next attempt leads). Once the faults heal:
//!
//! - the job is FINISHED;
//! - its committed output equals a fault-free run's, line for line;
//! - never two leaders acting in the same epoch, from the trace: every AM traces the token
//!   it acts under when it starts (`fencing.token`), every TaskExecutor traces each command
//!   it obeys with the token it carried (`leader.command`), and commits are traced where they
//!   happen (`file.commit`). Each token belongs to one process, and nothing is obeyed or
//!   committed under a token once a newer one has been granted.
//!
//! `PROPTEST_CASES` raises the number of schedules (default 6, for `make test`);
//! `PROPTEST_RNG_SEED` picks other ones.
#![allow(clippy::disallowed_methods)] // the test driver reads PROPTEST_CASES / PROPTEST_RNG_SEED

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use engine::fault::{Endpoint, Fault, Link};
use proptest::prelude::*;

use super::*;

const COUNT: u64 = 3_000;
const RATE: u64 = 1_000;
/// YARN's AM liveness expiry here: a zombie cut off from the RM is given up after this.
const AM_EXPIRY_MS: u64 = 4_000;

/// A `Write` the trace sink appends to and the test reads back.
#[derive(Clone, Default)]
struct SharedBuf(Arc<Mutex<Vec<u8>>>);

impl Write for SharedBuf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[derive(Clone, Debug)]
enum Chaos {
    /// kill -9 of the acting AM.
    KillAm,
    /// ZooKeeper expires the acting AM's session.
    ExpireZkSession,
    /// The YARN ResourceManager is killed and comes back after `down_ms` (recovery on).
    RestartRm { down_ms: u64 },
    /// The acting AM and ZooKeeper cannot reach each other for `for_ms`.
    PartitionAmZk { for_ms: u64 },
    /// The acting AM and every TaskManager cannot reach each other for `for_ms`.
    PartitionAmTms { for_ms: u64 },
    /// The acting AM hangs (SIGSTOP) for `pause_ms` while its machine is cut off from the
    /// YARN RM (so YARN cannot kill it), then continues: a zombie, if a new leader came.
    /// With `hold`, what it sent its TaskManagers just before is delivered only after it
    /// continued (messages late on the network).
    ZombieAm { pause_ms: u64, hold: bool },
}

fn chaos() -> impl Strategy<Value = Chaos> {
    prop_oneof![
        Just(Chaos::KillAm),
        Just(Chaos::ExpireZkSession),
        (100u64..3_000).prop_map(|down_ms| Chaos::RestartRm { down_ms }),
        (500u64..6_000).prop_map(|for_ms| Chaos::PartitionAmZk { for_ms }),
        (500u64..8_000).prop_map(|for_ms| Chaos::PartitionAmTms { for_ms }),
        (2_000u64..12_000, any::<bool>()).prop_map(|(pause_ms, hold)| Chaos::ZombieAm { pause_ms, hold }),
    ]
}

/// An HA session cluster like `cluster_with`'s, plus: RM recovery on (restarts lose nothing),
/// 10 attempts (every AM fault costs one), and the trace written where the test can read it.
fn chaos_cluster(seed: u64) -> (Ha, SharedBuf) {
    let mut cfg = SimClusterConfig::new(seed, 4);
    cfg.conf.set("yarn.nm.liveness-monitor.expiry-interval-ms", 3000);
    cfg.conf.set("yarn.am.liveness-monitor.expiry-interval-ms", AM_EXPIRY_MS);
    cfg.conf.set("yarn.resourcemanager.am.max-attempts", 20);
    cfg.conf.set("yarn.resourcemanager.recovery.enabled", true);
    let mut c = SimCluster::new(cfg).expect("cluster");
    let buf = SharedBuf::default();
    *c.sim.trace() = engine::trace::Trace::with_sink(Box::new(buf.clone()));
    (deploy_session(c, 10, AmMode::Session, true, |_| {}), buf)
}

/// The committed output of the same job without faults (computed once).
fn reference() -> &'static Vec<String> {
    static REF: OnceLock<Vec<String>> = OnceLock::new();
    REF.get_or_init(|| {
        let (mut h, _) = chaos_cluster(1);
        assert!(h.run_until(60, |h| h.leader().is_some()), "{}", h.log());
        let id = h.submit(stateful_count(500, COUNT, RATE, "out"));
        assert!(h.run_until(300, |h| h.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", h.log());
        assert_eq!(h.job_status(id), Some(JobStatus::Finished), "{}", h.log());
        let lines = h.committed_lines("out");
        assert_eq!(lines.len(), 2 * COUNT as usize);
        lines
    })
}

impl Ha {
    /// The AM that acts now: the leader, else the one live AM that is not exiting.
    fn acting_am(&mut self) -> Option<Addr> {
        if let Some(l) = self.leader() {
            return Some(l);
        }
        let ams = self.ams();
        ams.into_iter().rev().find(|a| self.c.sim.node::<FlinkAppMaster>(*a).is_some_and(|am| am.phase() != &AmPhase::Exited))
    }
}

/// Applies one fault (waiting out its duration); returns what happened, for the failure report.
fn apply(h: &mut Ha, fault: &Chaos) -> String {
    let Some(am) = h.acting_am() else { return format!("{fault:?}: skipped, no AM") };
    let zk = h.zk;
    match *fault {
        Chaos::KillAm => {
            h.c.sim.apply(Fault::Kill { process: am }).unwrap();
        }
        Chaos::ExpireZkSession => {
            let Some(session) = h.c.sim.node::<ZooKeeperServer>(zk).and_then(|z| z.session_of(am)) else {
                return format!("{fault:?}: skipped, {am} has no session");
            };
            h.c.sim.with_node::<ZooKeeperServer, _>(zk, |z, cx| z.expire(cx, session)).unwrap();
        }
        Chaos::RestartRm { down_ms } => h.c.restart_resourcemanager(Duration::from_millis(down_ms)).unwrap(),
        Chaos::PartitionAmZk { for_ms } => {
            let (a, b) = (Endpoint::Process(am), Endpoint::Process(zk));
            h.c.sim.apply(Fault::Partition { a, b, one_way: false }).unwrap();
            h.c.sim.run_for(Duration::from_millis(for_ms));
            h.c.sim.apply(Fault::Heal { a, b }).unwrap();
        }
        Chaos::PartitionAmTms { for_ms } => {
            let tms = h.task_executors();
            for tm in &tms {
                h.c.sim.apply(Fault::Partition { a: Endpoint::Process(am), b: Endpoint::Process(*tm), one_way: false }).unwrap();
            }
            h.c.sim.run_for(Duration::from_millis(for_ms));
            for tm in &tms {
                h.c.sim.apply(Fault::Heal { a: Endpoint::Process(am), b: Endpoint::Process(*tm) }).unwrap();
            }
        }
        Chaos::ZombieAm { pause_ms, hold } => {
            let rm = h.c.rm;
            let links: Vec<Link> = if hold {
                h.task_executors().iter().map(|tm| Link::new(Endpoint::Process(am), Endpoint::Process(*tm))).collect()
            } else {
                Vec::new()
            };
            for link in &links {
                h.c.sim.apply(Fault::Hold { link: *link }).unwrap();
            }
            h.c.sim.run_for(Duration::from_millis(300));
            if h.c.sim.apply(Fault::Stop { process: am }).is_err() {
                // It ended meanwhile (an earlier fault cost it its leadership): no zombie to
                // make. (The property drew this as seed 707 with PROPTEST_RNG_SEED=5150.)
                for link in &links {
                    h.c.sim.apply(Fault::Release { link: *link }).unwrap();
                }
                return format!("{fault:?}: skipped, {am} exited before it could be stopped");
            }
            let (a, b) = (Endpoint::Host(*am.ip()), Endpoint::Host(*rm.ip()));
            h.c.sim.apply(Fault::Partition { a, b, one_way: false }).unwrap();
            h.c.sim.run_for(Duration::from_millis(pause_ms));
            h.c.sim.apply(Fault::Continue { process: am }).unwrap();
            h.c.sim.run_for(Duration::from_millis(500));
            for link in &links {
                h.c.sim.apply(Fault::Release { link: *link }).unwrap();
            }
            h.c.sim.apply(Fault::Heal { a, b }).unwrap();
        }
    }
    format!("{fault:?} on {am} at {:.3}s", h.c.sim.now().as_millis() as f64 / 1e3)
}

/// One trace line this check reads.
struct Event {
    t: u64,
    node: String,
    kind: String,
    detail: String,
}

fn events(buf: &SharedBuf) -> Vec<Event> {
    let bytes = buf.0.lock().unwrap().clone();
    String::from_utf8_lossy(&bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let kind = v["kind"].as_str()?.to_string();
            matches!(kind.as_str(), "fencing.token" | "leader.new" | "leader.command" | "file.commit").then(|| Event {
                t: v["t"].as_u64().unwrap_or(0),
                node: v["node"].as_str().unwrap_or("").to_string(),
                kind,
                detail: v["detail"].as_str().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Never two leaders acting in the same epoch. Returns the violations.
///
/// An epoch is a token an AM was granted. Each token belongs to one process, and a process
/// acts under one token. A TaskExecutor never obeys a command of an older epoch once it knew
/// a newer one (it obeyed one of its commands, or leader retrieval told it): a message the old
/// leader sent while it led may still arrive late at a TaskExecutor that has not heard of the
/// new leader yet, which no fencing can know better; its commits are those of a checkpoint
/// ZooKeeper held, and the output check covers them. An AM commits itself (the final commit)
/// only while no newer epoch was granted anywhere.
fn epoch_violations(evs: &[Event]) -> Vec<String> {
    let mut out = Vec::new();
    let mut grants: Vec<(u64, String, String)> = Vec::new();
    let mut owner: BTreeMap<String, String> = BTreeMap::new();
    let mut token_of: BTreeMap<String, String> = BTreeMap::new();
    for e in evs.iter().filter(|e| e.kind == "fencing.token") {
        match owner.get(&e.detail) {
            Some(other) => out.push(format!("token {} was granted to {other} and to {}", e.detail, e.node)),
            None => {
                owner.insert(e.detail.clone(), e.node.clone());
            }
        }
        if let Some(other) = token_of.insert(e.node.clone(), e.detail.clone()) {
            out.push(format!("{} acted under {other} and under {}", e.node, e.detail));
        }
        grants.push((e.t, e.node.clone(), e.detail.clone()));
    }
    grants.sort();
    let grant_time = |token: &str| grants.iter().find(|g| g.2 == token).map(|g| g.0);
    // The newest token granted before `t` (a grant at the same instant does not count yet).
    let current = |t: u64| grants.iter().rev().find(|g| g.0 < t).map(|g| g.2.clone());
    let at = |t: u64| format!("{:.3}s", t as f64 / 1e6);
    // Per TaskExecutor: the grant time of the newest epoch it knew.
    let mut known: BTreeMap<String, u64> = BTreeMap::new();
    for e in evs {
        match e.kind.as_str() {
            "leader.new" => {
                let token: String = e.detail.split(' ').nth(1).unwrap_or("").chars().filter(|c| *c != '-').collect();
                if let Some(g) = grant_time(&token) {
                    let k = known.entry(e.node.clone()).or_insert(g);
                    *k = (*k).max(g);
                }
            }
            "leader.command" => {
                let mut parts = e.detail.split(' ');
                let (from, token, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
                match (owner.get(token), grant_time(token)) {
                    (Some(o), Some(g)) if o == from => {
                        let k = known.entry(e.node.clone()).or_insert(g);
                        if g < *k {
                            out.push(format!(
                                "{} {}: obeyed {kind} from {from} under the older token {token} after it knew a newer leader",
                                at(e.t),
                                e.node
                            ));
                        }
                        *k = (*k).max(g);
                    }
                    (Some(o), _) => out.push(format!("{} {}: {kind} from {from} under {o}'s token {token}", at(e.t), e.node)),
                    (None, _) => out.push(format!("{} {}: obeyed {kind} under token {token} no AM was granted", at(e.t), e.node)),
                }
            }
            "file.commit" => {
                if let Some(token) = token_of.get(&e.node) {
                    let cur = current(e.t);
                    if grant_time(token).is_some_and(|g| g < e.t) && cur.as_deref() != Some(token.as_str()) {
                        out.push(format!(
                            "{} {}: committed {} under token {token} after the newer token {} was granted",
                            at(e.t),
                            e.node,
                            e.detail,
                            cur.unwrap_or_default()
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn run(seed: u64, schedule: Vec<(u64, Chaos)>) {
    let expected = reference();
    let (mut h, trace) = chaos_cluster(seed);
    assert!(h.run_until(60, |h| h.leader().is_some()), "a leader is elected; log:\n{}", h.log());
    let id = h.submit(stateful_count(500, COUNT, RATE, "out"));
    assert!(h.run_until(60, |h| h.completed_checkpoints(id) >= 1 && h.running_tasks(id) == 4), "{}", h.log());
    let mut applied = Vec::new();
    for (delay, fault) in &schedule {
        h.c.sim.run_for(Duration::from_millis(*delay));
        applied.push(apply(&mut h, fault));
    }
    h.c.sim.apply(Fault::HealAll).unwrap();
    // The job's end as its JobMasters recorded it: a leader that finished the job may lose
    // its leadership afterwards, and the next one rightly recovers nothing.
    let ends = |trace: &SharedBuf, from: &mut usize| -> Vec<String> {
        let bytes = trace.0.lock().unwrap();
        let text = String::from_utf8_lossy(&bytes[*from..]).to_string();
        *from = bytes.len() - text.len().saturating_sub(text.rfind('\n').map_or(0, |i| i + 1));
        text.lines()
            .filter(|l| l.contains("\"job-status\"") && l.contains(&id.to_string()))
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["detail"].as_str().and_then(|d| d.split(' ').nth(1)).map(str::to_string))
            .filter(|s| matches!(s.as_str(), "FINISHED" | "FAILED" | "CANCELED"))
            .collect()
    };
    let (mut cursor, mut terminal) = (0usize, Vec::new());
    let end = h.c.sim.now() + Duration::from_secs(600);
    while terminal.is_empty() && h.c.sim.now() < end {
        let step = h.c.sim.now() + Duration::from_millis(200);
        h.c.sim.run_until(step);
        terminal.extend(ends(&trace, &mut cursor));
    }
    // Whatever comes late (a zombie's report) must not end the job a second time.
    h.c.sim.run_for(Duration::from_secs(10));
    terminal.extend(ends(&trace, &mut cursor));
    let report = |h: &mut Ha| format!("seed {seed}, faults {applied:#?}\nattempts {:?}\n{}", h.attempts(), h.log());
    assert!(!terminal.is_empty(), "the job did not end once the faults healed; {}", report(&mut h));
    assert_eq!(terminal, vec!["FINISHED".to_string()], "{}", report(&mut h));
    let got = h.committed_lines("out");
    if got != *expected {
        panic!(
            "committed output differs from the fault-free run: {} lines, expected {} ({} missing, {} extra); {}",
            got.len(),
            expected.len(),
            expected.iter().filter(|l| !got.contains(l)).count(),
            got.iter().filter(|l| !expected.contains(l)).count(),
            report(&mut h)
        );
    }
    let violations = epoch_violations(&events(&trace));
    assert!(violations.is_empty(), "two leaders acted in one epoch: {violations:#?}\n{}", report(&mut h));
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(6),
        rng_seed: std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()).map(proptest::test_runner::RngSeed::Fixed).unwrap_or(proptest::test_runner::RngSeed::Fixed(9)),
        // Each case is a whole simulated failover; shrinking re-runs many of them.
        max_shrink_iters: 32,
        .. ProptestConfig::default()
    })]
    #[test]
    fn random_ha_faults_never_let_two_leaders_act_and_keep_the_output_exactly_once(
        seed in 0u64..1_000,
        schedule in proptest::collection::vec((0u64..3_000, chaos()), 1..=3),
    ) {
        run(seed, schedule);
    }
}

#[test]
fn the_epoch_check_catches_an_older_leader_obeyed_after_a_newer_one() {
    let ev = |t: u64, node: &str, kind: &str, detail: &str| Event { t, node: node.into(), kind: kind.into(), detail: detail.into() };
    let ok = vec![
        ev(1, "am1", "fencing.token", "0a"),
        ev(2, "tm", "leader.command", "am1 0a SubmitTask"),
        ev(3, "tm", "file.commit", "out/part-1"),
        ev(10, "am2", "fencing.token", "0b"),
        // Sent while am1 led, late: the TaskExecutor has not heard of am2 yet.
        ev(10, "tm", "leader.command", "am1 0a NotifyCheckpointComplete"),
        ev(11, "tm", "leader.new", "am2 0-b"),
        ev(12, "tm", "leader.command", "am2 0b SubmitTask"),
        ev(12, "am2", "file.commit", "out/part-2"),
    ];
    assert!(epoch_violations(&ok).is_empty(), "{:?}", epoch_violations(&ok));
    let mut late = ok;
    late.push(ev(13, "tm", "leader.command", "am1 0a NotifyCheckpointComplete"));
    late.push(ev(14, "am1", "file.commit", "out/part-4"));
    late.push(ev(15, "tm", "leader.command", "am3 0b CancelTask"));
    late.push(ev(16, "am3", "fencing.token", "0b"));
    let v = epoch_violations(&late);
    assert_eq!(v.len(), 4, "{v:#?}");
    assert!(v[0].contains("granted to am2 and to am3"), "{v:#?}");
    assert!(v[1].contains("under the older token 0a after it knew a newer leader"), "{v:#?}");
    assert!(v[2].contains("after the newer token 0b was granted"), "{v:#?}");
    assert!(v[3].contains("under am2's token 0b"), "{v:#?}");
}

/// Found by the property: a zombie resumed after a newer leader was granted ran its overdue
/// checkpoint trigger before its ZooKeeper tick, and a TaskManager that had not heard of the
/// new leader yet obeyed it. A leader now checks its session before it acts.
#[test]
fn regression_a_resumed_zombie_checks_its_session_before_it_acts() {
    run(0, vec![(306, Chaos::ZombieAm { pause_ms: 3501, hold: false })]);
}

/// A zombie's commands held in the network reach the TaskManagers after they follow the new
/// leader: token fencing drops them (without it the property fails here).
#[test]
fn regression_a_zombies_late_commands_are_fenced() {
    run(0, vec![(0, Chaos::ZombieAm { pause_ms: 3008, hold: true })]);
}

/// Found by the property: a zombie's late TriggerCheckpoint for a job the TaskManager had no
/// connection to any more (the new leader had not asked for its slots yet) passed; with HA a
/// TaskManager now checks such a message against its leader's session id.
#[test]
fn regression_a_late_command_for_a_job_without_connection_is_fenced_with_ha() {
    run(0, vec![(42, Chaos::PartitionAmZk { for_ms: 5044 }), (218, Chaos::ZombieAm { pause_ms: 3481, hold: true })]);
}

/// Found by the property: the leader that finished the job lost its session afterwards; the
/// next attempt rightly recovers nothing, and the job's end stands.
#[test]
fn regression_a_leader_that_finished_the_job_may_lose_leadership_afterwards() {
    run(0, vec![(0, Chaos::ZombieAm { pause_ms: 3619, hold: false }), (2605, Chaos::ExpireZkSession)]);
}

/// Found by the property: cut off from ZooKeeper, the leader completed checkpoints 2..11
/// whose pointers never reached ZooKeeper and deleted checkpoint 1, the one ZooKeeper still
/// named, so every later attempt failed to recover. Subsumed checkpoints now stay until a
/// newer one is in the HA store.
#[test]
fn regression_subsumed_checkpoints_stay_while_zookeeper_points_at_them() {
    run(0, vec![(0, Chaos::PartitionAmZk { for_ms: 1956 })]);
}

/// Found by the property: attempt 2's AM (waiting for leadership, so not registered with
/// YARN) expired; the RM marked its container completed and died before the NodeManager got
/// the stop order; the restarted RM then recovered that container as kept work of the app, so
/// the old AM lived on holding its latch, and every later attempt waited behind it until YARN
/// expired it. A recovered RM no longer keeps the AM container of an attempt that ended.
#[test]
fn regression_a_restarted_rm_kills_the_am_container_of_an_ended_attempt() {
    run(0, vec![(0, Chaos::KillAm), (2379, Chaos::PartitionAmZk { for_ms: 1359 }), (466, Chaos::RestartRm { down_ms: 104 })]);
}

/// Found by the property: a restart deployed the tasks while the AM was cut off from the
/// TaskManager, the SubmitTasks were lost, and the executions stayed DEPLOYING for ever (the
/// partition was shorter than the heartbeat timeout). A TaskExecutor heartbeat that does not
/// list a deployment older than the RPC timeout now fails it, as Flink's submitTask timeout.
#[test]
fn regression_a_lost_submit_task_fails_the_deployment() {
    run(48, vec![(2491, Chaos::PartitionAmTms { for_ms: 1100 }), (265, Chaos::PartitionAmTms { for_ms: 3143 })]);
}

/// Found by the property (`PROPTEST_RNG_SEED=77`, 5,000 cases): the second attempt's AM read
/// the persisted job graphs from ZooKeeper while it was cut off from it for 1.5 s; the request
/// was lost, the recovery never ended, and the job never ran again. A ZooKeeper client talks
/// to its server over one TCP connection, so a partition delays its requests (`ZkMsg` is a
/// STREAM family) instead of losing them one by one.
#[test]
fn regression_a_recovery_read_cut_off_from_zookeeper_is_delayed_not_lost() {
    run(0, vec![(0, Chaos::ExpireZkSession), (7, Chaos::PartitionAmZk { for_ms: 1476 })]);
}
