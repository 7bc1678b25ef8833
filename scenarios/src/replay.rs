//! `scenario replay <trace.jsonl>`: reruns a recorded sim run from the scenario text and seed
//! in the trace's header and reports the first event where the new run differs.

use std::path::{Path, PathBuf};

use crate::simrun::{SimOptions, SimRun};
use crate::spec;

/// Where two traces' lines first differ: (index, recorded, replayed), by the engine's
/// `first_divergence` (each line carries the running hash, so a difference in a message's
/// contents shows at the next written line). None: identical.
pub fn first_divergence(recorded: &[String], replayed: &[String]) -> Option<(usize, Option<String>, Option<String>)> {
    let join = |v: &[String]| v.iter().map(|l| format!("{l}\n")).collect::<String>();
    let (a, b) = (join(recorded), join(replayed));
    engine::trace::first_divergence(a.as_bytes(), b.as_bytes()).ok().flatten().map(|d| (d.index, d.left, d.right))
}

pub struct Replay {
    pub events: usize,
    pub divergence: Option<(usize, Option<String>, Option<String>)>,
    pub recorded_hash: String,
    pub replayed_hash: String,
}

pub fn replay(trace: &Path) -> Result<Replay, String> {
    let text = std::fs::read_to_string(trace).map_err(|e| format!("{}: {e}", trace.display()))?;
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if lines.len() < 2 {
        return Err(format!("{}: not a scenario trace (no header and footer)", trace.display()));
    }
    let header: serde_json::Value =
        serde_json::from_str(&lines[0]).map_err(|e| format!("{}:1: the header is not JSON: {e}", trace.display()))?;
    let footer: serde_json::Value = serde_json::from_str(lines.last().expect("2+ lines"))
        .map_err(|e| format!("{}: the last line is not JSON: {e}", trace.display()))?;
    let (Some(stext), Some(seed), Some(file), Some(mode)) =
        (header["text"].as_str(), header["seed"].as_u64(), header["file"].as_str(), header["mode"].as_str())
    else {
        return Err(format!("{}:1: the header lacks text, seed, file or mode", trace.display()));
    };
    if mode != "sim" {
        return Err(format!("{}: a {mode} run cannot be replayed (only sim runs are deterministic)", trace.display()));
    }
    let spec = spec::parse(stext, &PathBuf::from(file)).map_err(|e| e.to_string())?;
    lines.remove(0);
    lines.pop();
    let mut run = SimRun::new(&spec, seed, SimOptions { keep_trace: true, ..Default::default() })?;
    let res = run.run();
    let d = first_divergence(&lines, &run.lines);
    Ok(Replay {
        events: lines.len(),
        divergence: d,
        recorded_hash: footer["trace_hash"].as_str().unwrap_or("").to_string(),
        replayed_hash: format!("{:016x}", res.trace_hash),
    })
}
