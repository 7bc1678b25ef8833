//! A library scenario against live processes (needs `cargo build --bins`; `make test` does):
//! a real kill -9 of a TaskManager container, verdicts from REST and logs, nothing left over.

// Tests look for leftover temp dirs.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::PathBuf;

use scenarios::spec;

#[test]
fn a_taskmanager_killed_live_restarts_the_job_and_nothing_is_left_behind() {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library/tm-killed-mid-job.toml"));
    let s = spec::load(&p).unwrap();
    let (r, _) = scenarios::run(&s, "live", 11);
    assert!(r.passed(), "{}\n{}", r.verdict_line(), r.events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"));
    assert!(r.events.iter().any(|e| e.kind == "fault" && e.detail.starts_with("kill -9 container_")), "a real kill -9 was sent");
    // The run's cluster dir is gone and none of its processes survive.
    let leftovers: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("scenario-{}-run-{}-", s.name, std::process::id())))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_partition_live_goes_through_the_fault_layer_and_the_job_recovers() {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library/tm-jm-partition.toml"));
    let s = spec::load(&p).unwrap();
    let (r, _) = scenarios::run(&s, "live", 5);
    let log = r.events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n");
    assert!(r.skipped.is_none(), "{log}");
    assert!(r.passed(), "{}\n{log}", r.verdict_line());
    assert!(
        r.events.iter().any(|e| e.kind == "fault" && e.detail.starts_with("partition ") && e.detail.ends_with("(live fault layer)")),
        "the partition was set through POST /_fault: {log}"
    );
}

#[test]
fn network_faults_on_daemons_are_skipped_live_with_the_reason() {
    let mut s = spec::load(&PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library/tm-jm-partition.toml"))).unwrap();
    for st in &mut s.steps {
        if let spec::Action::Partition { a, .. } = &mut st.action {
            *a = spec::Role::Rm;
        }
    }
    let (r, _) = scenarios::run(&s, "live", 1);
    let why = r.skipped.expect("a SKIP, never a PASS");
    assert!(why.contains("for the JobManager (am), TaskManagers and their ZooKeeper traffic only"), "{why}");
}
