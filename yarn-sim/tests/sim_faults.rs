//! Random fault schedules against a whole simulated cluster (RM, NMs, dshell AMs and their
//! containers), then a healing period. Invariants YARN users rely on must hold throughout.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::Signal;
use proptest::prelude::*;
use yarn_sim::records::{ContainerState, NodeState};
use yarn_sim::rm::rmcontainer::RMContainerState;
use yarn_sim::simcluster::{DshellApp, SimCluster, SimClusterConfig};

#[derive(Clone, Debug)]
enum Op {
    Submit {
        containers: u32,
        secs: u32,
        mem: u64,
    },
    /// A machine (by index) disappears with everything on it.
    LoseMachine(usize),
    /// `kill -9` of the n-th process on a machine (the NM itself is process 0).
    KillProcess {
        machine: usize,
        nth: usize,
    },
    Wait(u32),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1u32..5, 1u32..20, prop_oneof![Just(512u64), Just(1024), Just(3072)]).prop_map(|(containers, secs, mem)| Op::Submit { containers, secs, mem }),
        1 => (0usize..6).prop_map(Op::LoseMachine),
        2 => (0usize..6, 1usize..4).prop_map(|(machine, nth)| Op::KillProcess { machine, nth }),
        3 => (1u32..15).prop_map(Op::Wait),
    ]
}

/// Memory of every NodeManager, as configured below; the check compares against this, not
/// against anything the RM computes.
const NODE_MEMORY_MB: u64 = 4096;

/// No node holds more than its capacity: the sum of the resources of the containers the RM
/// placed on it and has not completed, computed here from the containers themselves. The
/// node's own accounting must agree with that sum.
fn check_no_overcommit(c: &mut SimCluster) {
    let mut placed: BTreeMap<String, u64> = BTreeMap::new();
    for rc in c.rm().containers() {
        if rc.state != RMContainerState::Completed {
            *placed.entry(rc.container.node_id.to_string()).or_default() += rc.container.resource.memory_mb;
        }
    }
    for n in c.rm().node_reports() {
        if n.state != NodeState::Running {
            continue;
        }
        let sum = placed.get(&n.id.to_string()).copied().unwrap_or(0);
        assert!(sum <= NODE_MEMORY_MB, "node {} over-committed: its live containers hold {sum} MB of {NODE_MEMORY_MB}", n.id);
        assert_eq!(n.used_memory_mb, sum, "node {} reports {} MB used but its live containers hold {sum} MB", n.id, n.used_memory_mb);
    }
}

fn run(seed: u64, ops: Vec<Op>) {
    let mut cfg = SimClusterConfig::new(seed, 6);
    cfg.node_memory_mb = NODE_MEMORY_MB;
    cfg.conf.set("yarn.nm.liveness-monitor.expiry-interval-ms", 10_000);
    cfg.conf.set("yarn.am.liveness-monitor.expiry-interval-ms", 20_000);
    cfg.conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
    let mut c = SimCluster::new(cfg).unwrap();
    c.sim.run_for(Duration::from_secs(2));
    let mut apps = Vec::new();
    for op in ops {
        match op {
            Op::Submit { containers, secs, mem } => {
                let mut app = DshellApp::new(&format!("sleep {secs}"), containers);
                app.container_memory_mb = mem;
                app.master_memory_mb = 512;
                if let Ok(id) = c.submit_dshell(&app) {
                    apps.push(id);
                }
            }
            Op::LoseMachine(i) => {
                let host = c.nm_host(i);
                c.sim.kill_machine(host);
            }
            Op::KillProcess { machine, nth } => {
                let host = c.nm_host(machine);
                if let Some(p) = c.sim.processes_on(host).get(nth).copied() {
                    c.sim.signal(p, Signal::Kill);
                }
            }
            Op::Wait(s) => c.sim.run_for(Duration::from_secs(s as u64)),
        }
        check_no_overcommit(&mut c);
    }
    // Heal: lost machines come back with a fresh NodeManager; then every app must end and
    // nothing may stay allocated.
    for i in 0..6 {
        let host = c.nm_host(i);
        if !c.sim.machine_up(host) {
            c.restart_nodemanager(i).unwrap();
        }
    }
    c.sim.run_for(Duration::from_secs(900));
    check_no_overcommit(&mut c);
    let now = c.sim.now();
    let max_attempts = 2;
    for id in &apps {
        let r = c.rm().app_report(id, now).unwrap();
        assert!(r.state.is_final(), "{id} still {:?} after healing", r.state);
        let attempts = c.rm().attempt_reports(id).unwrap();
        let counted = c.rm().app(id).map(|a| a.counted_failures(now)).unwrap_or(0);
        assert!(counted <= max_attempts, "{id}: {counted} counted failures of {} attempts", attempts.len());
        let mut seen = BTreeSet::new();
        for at in &attempts {
            for cr in c.rm().container_reports(&at.app_attempt_id, now).unwrap() {
                assert!(seen.insert(cr.container_id.clone()), "container {} reported twice", cr.container_id);
                assert_eq!(cr.state, ContainerState::Complete, "{} of a finished app is still {:?}", cr.container_id, cr.state);
            }
        }
    }
    let live: Vec<String> =
        c.rm().containers().filter(|rc| rc.state != RMContainerState::Completed).map(|rc| rc.id().to_string()).collect();
    assert!(live.is_empty(), "containers leaked after healing: {live:?}");
    let m = c.rm().cluster_metrics();
    assert_eq!(m.allocated_mb, 0, "cluster metrics still count allocated memory: {m:?}");
    // Surviving NodeManagers run nothing any more.
    for i in 0..6 {
        let host = c.nm_host(i);
        if c.sim.machine_up(host) {
            assert!(c.sim.processes_on(host).len() <= 1, "machine {host} still runs {:?}", c.sim.processes_on(host));
        }
    }
}

proptest! {
    // A fixed, short slice in `make test`; PROPTEST_CASES / PROPTEST_RNG_SEED widen it
    // (`make scenarios` runs thousands).
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(24),
        rng_seed: std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()).map(proptest::test_runner::RngSeed::Fixed).unwrap_or(proptest::test_runner::RngSeed::Fixed(7)),
        .. ProptestConfig::default()
    })]
    #[test]
    fn random_fault_schedules_keep_yarns_invariants(seed in 0u64..1000, ops in proptest::collection::vec(op(), 5..40)) {
        run(seed, ops);
    }
}

#[test]
fn a_lost_node_and_a_killed_am_still_end_every_app() {
    run(
        3,
        vec![
            Op::Submit { containers: 4, secs: 10, mem: 1024 },
            Op::Submit { containers: 2, secs: 5, mem: 512 },
            Op::Wait(3),
            Op::LoseMachine(0),
            Op::KillProcess { machine: 1, nth: 1 },
            Op::Wait(5),
            Op::KillProcess { machine: 2, nth: 1 },
        ],
    );
}
