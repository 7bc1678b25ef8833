//! Fault search: draw fault schedules from seeds over the library's deployments, run them
//! with the invariants checked after every observed change, and, on a violation, shrink the
//! schedule (delta debugging over the fault list) to a scenario file that reproduces it.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rand::{Rng as _, SeedableRng};

use crate::model::{RunResult, Status};
use crate::simrun::{SimOptions, SimRun};
use crate::spec::{Action, Compare, Expect, ExpectAt, Role, Spec, Step, Trigger};

/// A library scenario fit for fuzzing: runs in sim, needs no missing feature, deploys at the
/// start and expects its job to finish.
pub fn fuzzable(spec: &Spec) -> bool {
    spec.skip_reason("sim").is_none()
        && !spec.deploys.is_empty()
        && spec.deploys.iter().all(|d| !d.manual)
        && spec.expect.iter().any(|e| matches!(&e.expect, Expect::Job { status, .. } if status == "FINISHED"))
        && spec.expect.iter().all(|e| !matches!(&e.expect, Expect::Job { status, .. } if status != "FINISHED"))
}

/// The restart attempts a fuzzed job gets at least (its own delay kept). Each drawn fault
/// costs a restart or two, and they compound: a drop of TaskManager heartbeats that outlasts
/// the heartbeat timeout also times out the replacement of a TaskManager killed meanwhile.
/// With three faults a job's own budget (often 3) can run out, which is the configured outcome,
/// not a failure to recover; ten leave room for that and still end a restart loop (a job that
/// fails again at every redeployment) long before the run's timeout.
pub const RESTART_BUDGET: u32 = 10;

/// Faults a deployment must survive once they heal (given `RESTART_BUDGET`).
fn draw_fault(rng: &mut engine::Rng, network: bool) -> Action {
    let tm = Role::TaskManager(rng.random_range(1..=2));
    let heal = Some(Duration::from_millis(rng.random_range(1_000..=8_000)));
    match rng.random_range(0..if network { 8u32 } else { 4 }) {
        0 => Action::Kill(tm),
        1 => Action::Term(tm),
        2 => Action::Stop(tm, heal),
        3 => Action::LoseMachine(Role::RemoteTaskManager(1)),
        7 => Action::Partition { a: Role::Am, b: Role::RemoteTaskManager(1), one_way: false, heal_after: heal },
        4 => Action::Partition { a: Role::RemoteTaskManager(1), b: Role::Am, one_way: true, heal_after: heal },
        5 => Action::Clog {
            a: Role::RemoteTaskManager(1),
            b: Role::Am,
            delay: Duration::from_millis(rng.random_range(100..=2_000)),
            heal_after: heal,
        },
        _ => Action::Drop { at: Role::Am, from: None, rpc: "TaskExecutorHeartbeat".into(), heal_after: heal },
    }
}

/// The fuzz scenario for `seed`: a library deployment, `max_faults` drawn faults at drawn times.
pub fn schedule(base: &Spec, seed: u64, max_faults: usize, network: bool) -> Spec {
    let mut rng = engine::Rng::seed_from_u64(seed ^ 0xf0f0_5eed);
    let n = rng.random_range(1..=max_faults.max(1));
    let mut s = base.clone();
    s.name = format!("fuzz-{}-{seed}", base.name);
    s.breaks = format!("{n} drawn faults on {}'s deployment", base.name);
    s.expects = "no invariant breaks; the job finishes once the faults heal".into();
    s.restart_budget = Some(RESTART_BUDGET);
    // At most one machine is lost for good: the library's clusters have three nodes, and
    // with two gone a job's TaskManagers may fit nowhere. It then waits for resources (Flink
    // fails it after slot.request.timeout), which is no failure to recover.
    let mut machine_lost = false;
    s.steps = (0..n)
        .map(|_| {
            let at = Duration::from_millis(rng.random_range(1_500..=7_000));
            let action = loop {
                let a = draw_fault(&mut rng, network);
                if matches!(a, Action::LoseMachine(_)) && std::mem::replace(&mut machine_lost, true) {
                    continue;
                }
                break a;
            };
            Step { line: 0, trigger: Trigger::At(at), after: Duration::ZERO, action }
        })
        .collect();
    s.steps.sort_by_key(|st| match st.trigger {
        Trigger::At(t) => t,
        Trigger::When(_) => Duration::ZERO,
    });
    let job = base
        .expect
        .iter()
        .find_map(|e| match &e.expect {
            Expect::Job { deploy, .. } => Some(*deploy),
            _ => None,
        })
        .unwrap_or(0);
    s.expect = vec![
        ExpectAt { line: 0, expect: Expect::Job { deploy: job, status: "FINISHED".into(), within: None } },
        ExpectAt { line: 0, expect: Expect::ContainersLeaked(0) },
        ExpectAt { line: 0, expect: Expect::Restarts { deploy: job, n: 0, cmp: Compare::AtLeast } },
    ];
    // A checkpointing job with an exactly-once file sink must commit exactly what the
    // fault-free run commits, whatever the faults.
    if checkpointing_file_sink(base, job) {
        s.expect.push(ExpectAt { line: 0, expect: Expect::OutputExactlyOnce { deploy: job } });
    }
    // Three minutes, or the deployment's own bound when its job runs longer.
    s.timeout = base.timeout.max(Duration::from_secs(180));
    s
}

/// Whether the deployment's job checkpoints and writes through the (two-phase) file sink.
pub fn checkpointing_file_sink(spec: &Spec, deploy: usize) -> bool {
    crate::simrun::job_graphs(spec, deploy, 0)
        .ok()
        .and_then(|g| g.into_iter().next())
        .is_some_and(|g| g.checkpointing.is_some() && !crate::simrun::file_sink_dirs(&g).is_empty())
}

/// Hooks a test can set (a planted bug).
#[derive(Clone, Default)]
pub struct FuzzHooks {
    /// Draw network faults (partitions, clogs, drops) too, not only process faults.
    pub network: bool,
    pub wrap_am: Option<crate::simrun::WrapNode>,
}

/// Runs a fuzz scenario with invariants on. A step that cannot apply (its target is gone)
/// is not a violation: the schedule simply did not happen as drawn.
pub fn run_checked(spec: &Spec, seed: u64, hooks: &FuzzHooks) -> RunResult {
    let opts = SimOptions { check_invariants: true, wrap_am: hooks.wrap_am, lenient_steps: true, ..Default::default() };
    match SimRun::new(spec, seed, opts) {
        Ok(mut r) => r.run(),
        Err(e) => crate::failed(spec, "sim", seed, e),
    }
}

/// The first failing verdict's kind (what shrinking must keep failing with).
pub fn failure_kind(r: &RunResult) -> Option<String> {
    r.verdicts.iter().find(|v| v.status == Status::Fail).map(|v| {
        let t = v.text.as_str();
        let t = t.strip_prefix("invariant: ").unwrap_or(t);
        t.split(" at ").next().unwrap_or(t).split(':').next().unwrap_or(t).to_string()
    })
}

/// Delta debugging (ddmin) over the steps: the smallest schedule found that still fails
/// with the same kind.
pub fn shrink(spec: &Spec, seed: u64, hooks: &FuzzHooks, kind: &str) -> Spec {
    let fails = |steps: &[Step]| {
        let mut s = spec.clone();
        s.steps = steps.to_vec();
        failure_kind(&run_checked(&s, seed, hooks)).as_deref() == Some(kind)
    };
    let mut steps = spec.steps.clone();
    let mut n = 2usize;
    while steps.len() >= 2 {
        let chunk = steps.len().div_ceil(n);
        // The first chunk whose complement still fails.
        let smaller = (0..n).map(|i| i * chunk).take_while(|lo| *lo < steps.len()).find_map(|lo| {
            let hi = (lo + chunk).min(steps.len());
            let complement: Vec<Step> = steps[..lo].iter().chain(steps[hi..].iter()).cloned().collect();
            (!complement.is_empty() && fails(&complement)).then_some(complement)
        });
        if let Some(c) = smaller {
            steps = c;
            n = (n - 1).max(2);
        } else {
            if n >= steps.len() {
                break;
            }
            n = (n * 2).min(steps.len());
        }
    }
    let mut s = spec.clone();
    s.steps = steps;
    s.name = format!("{}-shrunk", spec.name);
    s
}

fn dur(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

fn toml_str(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// A scenario file for a (fuzzed) spec.
pub fn render(spec: &Spec, seed: u64) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Found by `scenario fuzz` (seed {seed}); rerun: scenario run <this file>");
    let _ = writeln!(o, "name = {}", toml_str(&spec.name));
    let _ = writeln!(o, "breaks = {}", toml_str(&spec.breaks));
    let _ = writeln!(o, "expects = {}", toml_str(&spec.expects));
    let _ = writeln!(o, "modes = [\"sim\"]");
    let _ = writeln!(o, "timeout = \"{}\"", dur(spec.timeout));
    if let Some(b) = spec.restart_budget {
        let _ = writeln!(o, "restart-budget = {b}");
    }
    // The seed it was found with: the file replays as found, without a flag.
    let _ = writeln!(o, "seed = {seed}");
    let _ = writeln!(o);
    let c = &spec.cluster;
    let _ = writeln!(o, "[cluster]\nnodes = {}\nnode-memory-mb = {}\nnode-vcores = {}", c.nodes, c.node_memory_mb, c.node_vcores);
    let kv = |m: &std::collections::BTreeMap<String, String>| {
        m.iter().map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(v))).collect::<Vec<_>>().join(", ")
    };
    if !c.yarn.is_empty() {
        let _ = writeln!(o, "yarn = {{ {} }}", kv(&c.yarn));
    }
    if !c.flink.is_empty() {
        let _ = writeln!(o, "flink = {{ {} }}", kv(&c.flink));
    }
    for d in &spec.deploys {
        let _ = writeln!(o, "\n[[deploy]]\nname = {}\nkind = \"{}\"", toml_str(&d.name), d.kind.name());
        if let Some(s) = d.session {
            let _ = writeln!(o, "session = {}", toml_str(&spec.deploys[s].name));
        }
        if let Some((_, path, _)) = &d.program {
            let abs = std::fs::canonicalize(path).unwrap_or_else(|_| path.clone());
            let _ = writeln!(o, "program = {}", toml_str(&abs.display().to_string()));
        }
        if !d.args.is_empty() {
            let _ = writeln!(o, "args = [{}]", d.args.iter().map(|a| toml_str(a)).collect::<Vec<_>>().join(", "));
        }
        if let Some(p) = d.parallelism {
            let _ = writeln!(o, "parallelism = {p}");
        }
        if !d.flink.is_empty() {
            let _ = writeln!(o, "flink = {{ {} }}", kv(&d.flink));
        }
        if !d.at.is_zero() {
            let _ = writeln!(o, "at = \"{}\"", dur(d.at));
        }
    }
    for s in &spec.steps {
        let Trigger::At(at) = s.trigger else { continue };
        let _ = writeln!(o, "\n[[step]]\nat = \"{}\"", dur(at + s.after));
        let target = |o: &mut String, k: &str, r: &Role| {
            let _ = writeln!(o, "{k} = \"{r}\"");
        };
        let heal = |o: &mut String, h: &Option<Duration>| {
            if let Some(h) = h {
                let _ = writeln!(o, "for = \"{}\"", dur(*h));
            }
        };
        match &s.action {
            Action::Kill(r) | Action::Term(r) | Action::Continue(r) | Action::LoseMachine(r) | Action::Restart(r) => {
                let verb = match &s.action {
                    Action::Kill(_) => "kill",
                    Action::Term(_) => "term",
                    Action::Continue(_) => "continue",
                    Action::LoseMachine(_) => "lose-machine",
                    _ => "restart",
                };
                let _ = writeln!(o, "action = \"{verb}\"");
                target(&mut o, "target", r);
            }
            Action::Stop(r, h) => {
                let _ = writeln!(o, "action = \"stop\"");
                target(&mut o, "target", r);
                heal(&mut o, h);
            }
            Action::Partition { a, b, one_way, heal_after } => {
                let _ = writeln!(o, "action = \"partition\"");
                target(&mut o, "target", a);
                target(&mut o, "peer", b);
                if *one_way {
                    let _ = writeln!(o, "one-way = true");
                }
                heal(&mut o, heal_after);
            }
            Action::Clog { a, b, delay, heal_after } => {
                let _ = writeln!(o, "action = \"clog\"");
                target(&mut o, "target", a);
                target(&mut o, "peer", b);
                let _ = writeln!(o, "delay = \"{}\"", dur(*delay));
                heal(&mut o, heal_after);
            }
            Action::Drop { at, from, rpc, heal_after } => {
                let _ = writeln!(o, "action = \"drop\"");
                target(&mut o, "target", at);
                if let Some(f) = from {
                    target(&mut o, "peer", f);
                }
                let _ = writeln!(o, "rpc = {}", toml_str(rpc));
                heal(&mut o, heal_after);
            }
            other => {
                let _ = writeln!(o, "# not renderable: {other:?}");
            }
        }
    }
    for e in &spec.expect {
        let _ = writeln!(o, "\n[[expect]]");
        let dn = |d: usize| toml_str(&spec.deploys[d].name);
        match &e.expect {
            Expect::Job { deploy, status, .. } => {
                let _ = writeln!(o, "job = {}\ndeploy = {}", toml_str(status), dn(*deploy));
            }
            Expect::ContainersLeaked(n) => {
                let _ = writeln!(o, "containers-leaked = {n}");
            }
            Expect::OutputExactlyOnce { deploy } => {
                let _ = writeln!(o, "output = \"exactly-once\"\ndeploy = {}", dn(*deploy));
            }
            Expect::Restarts { deploy, n, cmp } => {
                let c = match cmp {
                    Compare::AtLeast => "\nat-least = true",
                    Compare::AtMost => "\nat-most = true",
                    Compare::Exact => "",
                };
                let _ = writeln!(o, "restarts = {n}{c}\ndeploy = {}", dn(*deploy));
            }
            other => {
                let _ = writeln!(o, "# not renderable: {other:?}");
            }
        }
    }
    o
}

pub struct FuzzReport {
    pub seeds: u64,
    pub violations: Vec<(u64, String, PathBuf)>,
}

/// Fuzzes seeds `range` over the fuzzable scenarios in `library`, `jobs` seeds at a time
/// (each seed's run is single-threaded and deterministic; threads only share the list).
/// Writes shrunk scenarios to `out`. `progress` gets one line per violation, in seed order.
pub fn fuzz(
    library: &[Spec],
    range: std::ops::Range<u64>,
    max_faults: usize,
    jobs: usize,
    hooks: &FuzzHooks,
    out: &Path,
    progress: &mut dyn FnMut(&str),
) -> FuzzReport {
    let bases: Vec<&Spec> = library.iter().filter(|s| fuzzable(s)).collect();
    let mut rep = FuzzReport { seeds: 0, violations: Vec::new() };
    if bases.is_empty() {
        return rep;
    }
    let seeds: Vec<u64> = range.collect();
    rep.seeds = seeds.len() as u64;
    let jobs = jobs.clamp(1, 64);
    // Phase 1: run every seed; keep the failing ones (seed, schedule, kind, first failure).
    let check = |seed: u64| -> Option<(u64, Spec, String, String)> {
        let base = bases[(seed % bases.len() as u64) as usize];
        let spec = schedule(base, seed, max_faults, hooks.network);
        let r = run_checked(&spec, seed, hooks);
        let kind = failure_kind(&r)?;
        let first = r.verdicts.iter().find(|v| v.status == Status::Fail).map(|v| v.text.clone()).unwrap_or_default();
        Some((seed, spec, kind, first))
    };
    // In seed order: the pool hands results back in the order of `seeds`, which ascend.
    let mut failing: Vec<(u64, Spec, String, String)> = Vec::new();
    crate::pool::run_in_order(&seeds, jobs, |s| check(*s), |_, f| failing.extend(f));
    // Phase 2: shrink each violation and write its scenario.
    for (seed, spec, kind, first) in failing {
        let small = shrink(&spec, seed, hooks, &kind);
        let _ = std::fs::create_dir_all(out);
        let path = out.join(format!("{}.toml", small.name));
        let _ = std::fs::write(&path, render(&small, seed));
        progress(&format!("seed {seed}: {first}\n  shrunk from {} to {} faults: {}", spec.steps.len(), small.steps.len(), path.display()));
        rep.violations.push((seed, first, path));
    }
    rep
}
