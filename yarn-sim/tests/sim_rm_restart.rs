//! ResourceManager restart in the simulator: with `yarn.resourcemanager.recovery.enabled`,
//! distributed-shell apps running across a `kill -9` of the RM keep their ids and attempts,
//! their containers keep running (NMs resync, AMs re-register), and they finish SUCCEEDED.
//! Without recovery the restarted RM forgets them, which is what recovery is for.

use std::time::Duration;

use yarn_sim::records::YarnApplicationState;
use yarn_sim::simcluster::{DshellApp, SimCluster, SimClusterConfig};
use yarn_sim::ApplicationAttemptId;

fn cluster(seed: u64, recovery: bool) -> SimCluster {
    let mut cfg = SimClusterConfig::new(seed, 3);
    cfg.conf.set("yarn.resourcemanager.recovery.enabled", recovery);
    cfg.conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
    SimCluster::new(cfg).unwrap()
}

fn app(cmd: &str, n: u32) -> DshellApp {
    let mut a = DshellApp::new(cmd, n);
    a.container_memory_mb = 512;
    a.master_memory_mb = 512;
    a
}

#[test]
fn running_dshell_apps_survive_an_rm_restart_with_their_ids_and_attempts() {
    for (seed, run_before) in [(1u64, 3000u64), (2, 4500), (3, 6200), (4, 5100), (5, 7000), (6, 1500)] {
        let mut c = cluster(seed, true);
        c.sim.run_for(Duration::from_secs(2));
        let a = c.submit_dshell(&app("sleep 6; echo a", 3)).unwrap();
        let b = c.submit_dshell(&app("sleep 4; echo b", 2)).unwrap();
        c.sim.run_for(Duration::from_millis(run_before));
        let now = c.sim.now();
        assert_eq!(c.rm().app_report(&a, now).unwrap().state, YarnApplicationState::Running, "seed {seed}");
        let ts = c.rm().cluster_timestamp();
        c.restart_resourcemanager(Duration::from_secs(2)).unwrap();
        c.sim.run_for(Duration::from_millis(10));
        assert_eq!(c.rm().cluster_timestamp(), ts);
        for id in [a, b] {
            let (state, fin) = c.run_until_done(&id, Duration::from_secs(300)).unwrap();
            assert_eq!((state, fin.as_str()), (YarnApplicationState::Finished, "SUCCEEDED"), "seed {seed} {id}");
            let r = c.rm().app(&id).unwrap();
            assert_eq!(r.attempts.len(), 1, "seed {seed} {id}: the first attempt carried on");
        }
        // Every worker container exited 0: none was killed by the restart.
        let now = c.sim.now();
        for (id, n) in [(a, 3), (b, 2)] {
            let cs = c.rm().container_reports(&ApplicationAttemptId::new(id, 1), now).unwrap();
            let am = c.rm().app(&id).unwrap().attempts[0].am_container.unwrap().to_string();
            let workers: Vec<_> = cs.iter().filter(|c| c.container_id != am).collect();
            let exits: Vec<_> = workers.iter().map(|c| (c.container_id.clone(), c.exit_status, c.diagnostics_info.clone())).collect();
            assert!(workers.iter().all(|c| c.exit_status == 0), "seed {seed}: {exits:?}");
            assert!(workers.len() >= n, "seed {seed}: {exits:?}");
        }
        // A new app after the restart gets the next id under the same cluster timestamp.
        let d = c.submit_dshell(&app("echo d", 1)).unwrap();
        assert_eq!((d.cluster_timestamp, d.id), (ts, 3));
        let (state, fin) = c.run_until_done(&d, Duration::from_secs(120)).unwrap();
        assert_eq!((state, fin.as_str()), (YarnApplicationState::Finished, "SUCCEEDED"));
    }
}

#[test]
fn without_recovery_a_restarted_rm_forgets_running_apps() {
    let mut c = cluster(1, false);
    c.sim.run_for(Duration::from_secs(2));
    let a = c.submit_dshell(&app("sleep 6", 2)).unwrap();
    c.sim.run_for(Duration::from_secs(3));
    c.restart_resourcemanager(Duration::from_secs(2)).unwrap();
    c.sim.run_for(Duration::from_secs(5));
    assert!(c.rm().app(&a).is_none());
    assert_ne!(c.rm().cluster_timestamp(), a.cluster_timestamp);
}
