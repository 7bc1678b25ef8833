//! What a run observed, in driver-neutral terms: events for the log and the trace, the
//! applications, jobs and containers over time (for verdicts and the timeline), and verdicts.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// One line of the event log: `[  2.412s] fault: kill -9 container_... (TaskManager)`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Event {
    /// Microseconds since the scenario started.
    pub t: u64,
    pub kind: String,
    pub detail: String,
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{:>8.3}s] {}: {}", self.t as f64 / 1e6, self.kind, self.detail)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Status {
    Pass,
    Fail,
    Skip,
}

impl Status {
    pub fn word(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub status: Status,
    pub text: String,
    /// The `[[expect]]`'s line in the scenario file (0: the run itself).
    pub line: usize,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.status.word(), self.text)
    }
}

/// A container's life as observed.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ContainerSpan {
    pub id: String,
    /// 0-based NodeManager index (-1: unknown).
    pub node: i32,
    pub role: String,
    pub allocated: u64,
    pub running: Option<u64>,
    pub completed: Option<u64>,
    pub exit: Option<i32>,
}

/// A state change of an application or a job.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateChange {
    pub t: u64,
    pub deploy: usize,
    pub what: String,
    pub state: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Observed {
    pub containers: BTreeMap<String, ContainerSpan>,
    /// App and job state changes, in order.
    pub changes: Vec<StateChange>,
}

impl Observed {
    /// The last state of `what` ("app", "job", "attempt") of a deployment.
    pub fn last(&self, deploy: usize, what: &str) -> Option<&str> {
        self.changes.iter().rev().find(|c| c.deploy == deploy && c.what == what).map(|c| c.state.as_str())
    }
    pub fn first_time(&self, deploy: usize, what: &str, state: &str) -> Option<u64> {
        self.changes.iter().find(|c| c.deploy == deploy && c.what == what && c.state == state).map(|c| c.t)
    }
    pub fn count(&self, deploy: usize, what: &str, state: &str) -> usize {
        self.changes.iter().filter(|c| c.deploy == deploy && c.what == what && c.state == state).count()
    }
    pub fn push(&mut self, t: u64, deploy: usize, what: &str, state: &str) -> bool {
        if self.last(deploy, what) == Some(state) {
            return false;
        }
        self.changes.push(StateChange { t, deploy, what: what.into(), state: state.into() });
        true
    }
}

/// Everything a run produced.
#[derive(Clone, Debug, Serialize)]
pub struct RunResult {
    pub name: String,
    pub mode: String,
    pub seed: u64,
    pub events: Vec<Event>,
    pub verdicts: Vec<Verdict>,
    pub observed: Observed,
    pub nodes: u32,
    /// Deployment names, by index.
    pub deploys: Vec<String>,
    pub trace_hash: u64,
    /// Simulated (sim) or wall (live) microseconds the run took.
    pub duration: u64,
    /// Why the whole scenario was skipped.
    pub skipped: Option<String>,
}

impl RunResult {
    pub fn passed(&self) -> bool {
        self.skipped.is_none() && self.verdicts.iter().all(|v| v.status != Status::Fail)
    }
    pub fn failed(&self) -> bool {
        self.verdicts.iter().any(|v| v.status == Status::Fail)
    }
    pub fn verdict_line(&self) -> String {
        if let Some(s) = &self.skipped {
            return format!("SKIP {} ({s})", self.name);
        }
        self.verdicts.iter().map(|v| v.to_string()).collect::<Vec<_>>().join(" · ")
    }
}

/// Whether a file under `dir` is committed output: its path below `dir` has no segment
/// starting with '.' or '_' (in-progress and pending files are not committed).
fn is_committed(path: &str, dir: &str) -> bool {
    let Some(rest) = path.strip_prefix(dir.trim_end_matches('/')).and_then(|r| r.strip_prefix('/')) else { return false };
    !rest.split('/').any(|seg| seg.starts_with('.') || seg.starts_with('_'))
}

/// The committed output of a run: the committed part files' texts, whose lines the
/// comparison borrows ([`CommittedOutput::lines`]) instead of copying each into a string of
/// its own (fault search reads tens of thousands of lines a seed).
#[derive(Default)]
pub struct CommittedOutput {
    texts: Vec<String>,
}

impl CommittedOutput {
    /// Adds the committed files among `files` (paths under `dir`), in the given order.
    pub fn add_files(&mut self, files: Vec<(String, Vec<u8>)>, dir: &str) {
        for (path, data) in files {
            if is_committed(&path, dir) {
                // Valid UTF-8 (what the sinks write) is taken as it is, without a copy.
                self.texts.push(String::from_utf8(data).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()));
            }
        }
    }
    /// Every line of every committed file, in file order, cut as `str::lines` cuts them
    /// ("\n" or "\r\n" ends one, no empty last line) by one walk over the bytes: `lines`
    /// searches for each newline afresh, which on lines of a dozen bytes cost several times
    /// the walk.
    pub fn lines(&self) -> Vec<&str> {
        let mut out = Vec::new();
        for t in &self.texts {
            let mut start = 0;
            for (i, b) in t.bytes().enumerate() {
                if b == b'\n' {
                    out.push(t[start..i].strip_suffix('\r').unwrap_or(&t[start..i]));
                    start = i + 1;
                }
            }
            // A last line without its newline keeps a final "\r" (only "\r\n" ends a line).
            if start < t.len() {
                out.push(&t[start..]);
            }
        }
        out
    }
    /// [`CommittedOutput::lines`], each line a string of its own (what outlives the files).
    pub fn owned_lines(&self) -> Vec<String> {
        self.lines().into_iter().map(str::to_string).collect()
    }
}

/// A fault-free run's lines, with what every comparison against them needs computed once:
/// fault search compares each seed's output with the same reference.
pub struct ExpectedLines {
    lines: Vec<String>,
    keyed: Vec<(u64, u32)>,
}

impl ExpectedLines {
    pub fn new(lines: Vec<String>) -> ExpectedLines {
        let keyed = keyed(&lines);
        ExpectedLines { lines, keyed }
    }
}

/// Compares committed output with a fault-free run's: as multisets of lines, and line for
/// line after sorting. Err names the first difference (in sorted order). One sort per side and
/// a merge walk: fault search compares tens of thousands of lines per seed.
pub fn compare_output<S: AsRef<str>>(got: &[S], want: &ExpectedLines) -> Result<usize, String> {
    if same_lines(got, want) {
        return Ok(got.len());
    }
    let mut g: Vec<&str> = got.iter().map(AsRef::as_ref).collect();
    let mut w: Vec<&str> = want.lines.iter().map(String::as_str).collect();
    g.sort_unstable();
    w.sort_unstable();
    if g == w {
        return Ok(got.len());
    }
    // Runs of equal lines on both sides, in order.
    fn run<'a>(v: &[&'a str], i: usize) -> (&'a str, usize) {
        let line = v[i];
        let n = v[i..].iter().take_while(|x| **x == line).count();
        (line, n)
    }
    let (mut i, mut j) = (0, 0);
    let (mut lost, mut dup, mut unexpected) = (0usize, 0usize, 0usize);
    let mut first: Option<String> = None;
    while i < g.len() || j < w.len() {
        let gl = (i < g.len()).then(|| run(&g, i));
        let wl = (j < w.len()).then(|| run(&w, j));
        match (gl, wl) {
            (Some((a, n)), Some((b, m))) if a == b => {
                if n < m {
                    lost += m - n;
                    first.get_or_insert(format!("missing '{b}' ({n} of {m})"));
                } else if n > m {
                    dup += n - m;
                    first.get_or_insert(format!("'{a}' {n} times, fault-free {m}"));
                }
                i += n;
                j += m;
            }
            (Some((a, n)), Some((b, _))) if a < b => {
                unexpected += n;
                first.get_or_insert(format!("unexpected '{a}'"));
                i += n;
            }
            (Some((a, n)), None) => {
                unexpected += n;
                first.get_or_insert(format!("unexpected '{a}'"));
                i += n;
            }
            (_, Some((b, m))) => {
                lost += m;
                first.get_or_insert(format!("missing '{b}' (0 of {m})"));
                j += m;
            }
            (None, None) => unreachable!("the loop condition"),
        }
    }
    Err(format!(
        "{} lines vs {} in the fault-free run: {lost} lost, {dup} duplicated, {unexpected} unexpected; first: {}",
        got.len(),
        want.lines.len(),
        first.unwrap_or_default()
    ))
}

/// Each line's hash with its index, sorted by hash.
fn keyed<S: AsRef<str>>(v: &[S]) -> Vec<(u64, u32)> {
    let mut k: Vec<(u64, u32)> = v.iter().enumerate().map(|(i, s)| (line_hash(s.as_ref().as_bytes()), i as u32)).collect();
    k.sort_unstable_by_key(|&(h, _)| h);
    k
}

/// Whether two outputs hold the same lines as many times each. Each side's line hashes are
/// sorted (integers: sorting the texts themselves compared tens of thousands of strings a
/// seed); equal multisets give equal hash sequences, and then each run of one hash value
/// holds the same lines on both sides, which is checked text for text (a run is one line
/// unless lines repeat or hashes collide). Exact: a hash only orders the lines.
fn same_lines<S: AsRef<str>>(a: &[S], want: &ExpectedLines) -> bool {
    let b = &want.lines;
    if a.len() != b.len() {
        return false;
    }
    let (ka, kb) = (keyed(a), &want.keyed);
    if !ka.iter().map(|k| k.0).eq(kb.iter().map(|k| k.0)) {
        return false;
    }
    let mut i = 0;
    while i < ka.len() {
        let j = i + ka[i..].iter().take_while(|k| k.0 == ka[i].0).count();
        let same = if j - i == 1 {
            a[ka[i].1 as usize].as_ref() == b[kb[i].1 as usize]
        } else {
            fn run<'a, S: AsRef<str>>(k: &[(u64, u32)], v: &'a [S]) -> Vec<&'a str> {
                let mut r: Vec<&str> = k.iter().map(|&(_, x)| v[x as usize].as_ref()).collect();
                r.sort_unstable();
                r
            }
            run(&ka[i..j], a) == run(&kb[i..j], b)
        };
        if !same {
            return false;
        }
        i = j;
    }
    true
}

/// A line's hash: the trace's word-at-a-time hash (the same in every process and run).
fn line_hash(bytes: &[u8]) -> u64 {
    let mut h = engine::trace::Fnv64::default();
    h.write(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_output_skips_hidden_and_pending_files() {
        let files = vec![
            ("out/part-0".to_string(), b"a\nb\n".to_vec()),
            ("out/.part-1.inprogress".to_string(), b"x\n".to_vec()),
            ("out/_SUCCESS".to_string(), b"y\n".to_vec()),
            ("out/sub/part-2".to_string(), b"c\n".to_vec()),
            ("outer/part-0".to_string(), b"z\n".to_vec()),
        ];
        for dir in ["out", "out/"] {
            let mut o = CommittedOutput::default();
            o.add_files(files.clone(), dir);
            assert_eq!(o.lines(), vec!["a", "b", "c"]);
        }
        // Cut as `str::lines` cuts: CRLF, a last line without a newline, empty lines.
        for text in ["", "\n", "a", "a\n", "a\r\nb", "a\n\nb\r\n", "\r\n\r", "x\ry\n"] {
            let mut o = CommittedOutput::default();
            o.add_files(vec![("d/part-0".to_string(), text.as_bytes().to_vec())], "d");
            assert_eq!(o.lines(), text.lines().collect::<Vec<_>>(), "{text:?}");
        }
    }

    #[test]
    fn output_comparison_counts_duplicates_and_losses() {
        let s = |v: &[&str]| ExpectedLines::new(v.iter().map(|x| x.to_string()).collect());
        assert_eq!(compare_output(&["b", "a"], &s(&["a", "b"])), Ok(2));
        let e = compare_output(&["a", "a", "b"], &s(&["a", "b"])).unwrap_err();
        assert!(e.contains("1 duplicated"), "{e}");
        let e = compare_output(&["a"], &s(&["a", "b"])).unwrap_err();
        assert!(e.contains("1 lost") && e.contains("missing 'b'"), "{e}");
        let e = compare_output(&["a", "c"], &s(&["a"])).unwrap_err();
        assert!(e.contains("1 unexpected"), "{e}");
        // The same count of lines, one swapped for another: not the same output.
        let e = compare_output(&["a", "a", "c"], &s(&["a", "c", "c"])).unwrap_err();
        assert!(e.contains("1 lost") && e.contains("1 duplicated"), "{e}");
    }

    /// The hashed comparison agrees with comparing the sorted lines themselves, for outputs
    /// that differ in one line, in a count, or not at all (lines of every length around the
    /// eight-byte steps).
    #[test]
    fn hashed_comparison_agrees_with_sorting_the_lines() {
        use rand::{Rng as _, SeedableRng};
        let mut rng = engine::Rng::seed_from_u64(11);
        for case in 0..300 {
            let n = rng.random_range(0..40);
            // Few distinct texts, so lines repeat and runs of one hash hold several.
            let want: Vec<String> = (0..n).map(|_| "k".repeat(rng.random_range(0..12)) + &rng.random_range(0..4).to_string()).collect();
            let mut got = want.clone();
            got.reverse();
            match case % 3 {
                0 => {}
                1 if !got.is_empty() => {
                    let i = rng.random_range(0..got.len());
                    got[i].push('x');
                }
                _ => got.push(want.first().cloned().unwrap_or_default()),
            }
            let mut g = got.clone();
            let mut w = want.clone();
            g.sort();
            w.sort();
            assert_eq!(same_lines(&got, &ExpectedLines::new(want.clone())), g == w, "case {case}: {got:?} against {want:?}");
        }
    }
}
