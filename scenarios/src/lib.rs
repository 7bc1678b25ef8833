//! Scripted failure scenarios for Flink on yarn-sim (issue 7): a TOML format ([`spec`]), a
//! runner for the deterministic simulator ([`simrun`]) and for live processes ([`liverun`]),
//! verdicts, traces and HTML timelines ([`report`]), fault search with shrinking ([`fuzz`])
//! and trace replay ([`replay`]).

// Fault search runs seeds on threads (each run single-threaded and deterministic) and writes
// shrunk scenario files.
#[allow(clippy::disallowed_methods)]
pub mod fuzz;
pub mod invariants;
// The live runner drives real processes: wall clock, files, sockets, child processes.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod liverun;
pub mod model;
// Runs scenario runs on threads (each run single-threaded; only the work list is shared).
#[allow(clippy::disallowed_methods, clippy::disallowed_types)]
pub mod pool;
// Reads a recorded trace file.
#[allow(clippy::disallowed_methods)]
pub mod replay;
// Writes the trace and timeline files.
#[allow(clippy::disallowed_methods)]
pub mod report;
pub mod simrun;
// Reads scenario and program files (tests write temporary ones).
#[allow(clippy::disallowed_methods)]
pub mod spec;

use model::RunResult;
use spec::Spec;

/// Runs one scenario in a mode; a scenario that needs a missing feature or is not for this
/// mode is a SKIP with its reason. Returns the result and the trace lines (sim).
pub fn run(spec: &Spec, mode: &str, seed: u64) -> (RunResult, Vec<String>) {
    run_with(spec, mode, spec::Flink::Model, seed)
}

/// As [`run`], with our Flink model or the real Flink (`--flink real`, live).
pub fn run_with(spec: &Spec, mode: &str, flink: spec::Flink, seed: u64) -> (RunResult, Vec<String>) {
    if let Some(why) = spec.skip_reason_for(mode, flink) {
        return (skipped(spec, mode, seed, why), vec![]);
    }
    match mode {
        "sim" => match simrun::SimRun::new(spec, seed, simrun::SimOptions { keep_trace: true, ..Default::default() }) {
            Ok(mut r) => {
                let res = r.run();
                let lines = std::mem::take(&mut r.lines);
                (res, lines)
            }
            Err(e) => (failed(spec, mode, seed, format!("the cluster cannot start: {e}")), vec![]),
        },
        _ => (liverun::run_with(spec, seed, flink), vec![]),
    }
}

pub fn skipped(spec: &Spec, mode: &str, seed: u64, why: String) -> RunResult {
    RunResult {
        name: spec.name.clone(),
        mode: mode.into(),
        seed,
        events: vec![],
        verdicts: vec![model::Verdict { status: model::Status::Skip, text: why.clone(), line: 0 }],
        observed: Default::default(),
        nodes: spec.cluster.nodes,
        deploys: spec.deploys.iter().map(|d| d.name.clone()).collect(),
        trace_hash: 0,
        duration: 0,
        skipped: Some(why),
    }
}

pub fn failed(spec: &Spec, mode: &str, seed: u64, why: String) -> RunResult {
    let mut r = skipped(spec, mode, seed, String::new());
    r.skipped = None;
    r.verdicts = vec![model::Verdict { status: model::Status::Fail, text: why, line: 0 }];
    r
}
