//! Distributed shell in the deterministic simulator: same RM, NM and AM code as live.

use std::time::Duration;

use yarn_sim::records::YarnApplicationState;
use yarn_sim::simcluster::{DshellApp, SimCluster, SimClusterConfig};
use yarn_sim::ApplicationAttemptId;

#[test]
fn dshell_succeeds_in_the_sim_with_exactly_the_containers_it_asked_for() {
    let mut c = SimCluster::new(SimClusterConfig::new(1, 3)).unwrap();
    c.sim.run_for(Duration::from_secs(2));
    let id = c.submit_dshell(&DshellApp::new("hostname; echo hello", 3)).unwrap();
    let (state, fin) = c.run_until_done(&id, Duration::from_secs(120)).unwrap();
    assert_eq!((state, fin.as_str()), (YarnApplicationState::Finished, "SUCCEEDED"));
    let now = c.sim.now();
    let cs = c.rm().container_reports(&ApplicationAttemptId::new(id, 1), now).unwrap();
    let ids: Vec<_> = cs.iter().map(|c| (c.container_id.clone(), c.exit_status, c.diagnostics_info.clone())).collect();
    assert_eq!(cs.len(), 4, "AM + 3 workers, nothing excess: {ids:?}");
}

fn simulate(seed: u64) -> yarn_sim::simcluster::SimulateReport {
    yarn_sim::simcluster::simulate(&yarn_sim::simcluster::SimulateOpts {
        seed,
        nodes: 50,
        apps: 20,
        arrival_window: Duration::from_secs(60),
        max_time: Duration::from_secs(1800),
        max_containers_per_app: 5,
        containers_per_app: None,
        max_container_secs: 30,
        nm_start_spread: Duration::ZERO,
    })
    .unwrap()
}

#[test]
fn the_same_seed_replays_to_the_same_trace_hash() {
    let (a, b) = (simulate(7), simulate(7));
    assert_eq!(a, b);
    assert_eq!(a.apps_finished, 20);
    assert_eq!(a.apps_succeeded, 20);
    assert!(a.containers_allocated >= 40, "{a:?}");
    assert_ne!(simulate(8).trace_hash, a.trace_hash);
}

/// `nm_start_spread`: the NodeManagers come up evenly over the span (half of them by its
/// middle), an application still runs to SUCCEEDED, and the queue's bucket width, which the
/// cluster sizes to the run, changes nothing of it: the same trace at every width.
#[test]
fn nodemanagers_started_over_a_span_and_the_queue_width_changes_nothing() {
    use engine::sim::SimConfig;
    use engine::Trace;
    let run = |shift: Option<u32>| {
        let mut cfg = SimClusterConfig::new(5, 20);
        cfg.nm_start_spread = Duration::from_secs(1);
        let mut c = match shift {
            None => SimCluster::new(cfg).unwrap(),
            Some(shift) => {
                let mut sim_config = SimConfig::new(5);
                sim_config.queue_bucket_shift = shift;
                SimCluster::with_sim_config(cfg, sim_config, Trace::new()).unwrap()
            }
        };
        c.sim.run_for(Duration::from_millis(490));
        let up_at_half = c.nms.iter().filter(|a| c.sim.alive(**a)).count();
        c.sim.run_for(Duration::from_millis(1510));
        let up = c.nms.iter().filter(|a| c.sim.alive(**a)).count();
        let id = c.submit_dshell(&DshellApp::new("sleep 3", 12)).unwrap();
        let (state, fin) = c.run_until_done(&id, Duration::from_secs(120)).unwrap();
        assert_eq!((state, fin.as_str()), (YarnApplicationState::Finished, "SUCCEEDED"));
        (up_at_half, up, c.sim.trace_hash())
    };
    let (half, all, hash) = run(None);
    assert_eq!((half, all), (10, 20), "one NodeManager every 50 ms");
    for shift in [6, 9, 12] {
        assert_eq!(run(Some(shift)).2, hash, "bucket width 2^{shift} us");
    }
    let mut bunched = SimCluster::new(SimClusterConfig::new(5, 20)).unwrap();
    bunched.sim.run_for(Duration::from_millis(500));
    assert_eq!(bunched.nms.iter().filter(|a| bunched.sim.alive(**a)).count(), 20, "by default all start at once");
}
