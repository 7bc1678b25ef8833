//! The runner end to end in the simulator: determinism, the timeline, the library, and fault
//! search finding and shrinking a planted bug.

// Tests write temporary scenario files.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::any::Any;
use std::path::PathBuf;

use engine::{Addr, Cx, ExitCode, Msg, Node, ProcId, TimerId};
use scenarios::fuzz::{self, FuzzHooks};
use scenarios::model::Status;
use scenarios::{report, spec};
use yarn_sim::proto::YarnMsg;

fn lib(name: &str) -> spec::Spec {
    let p = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library")).join(format!("{name}.toml"));
    spec::load(&p).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn same_scenario_and_seed_give_the_same_trace_hash_and_another_seed_another() {
    let s = lib("tm-killed-mid-job");
    let (a, la) = scenarios::run(&s, "sim", 7);
    let (b, lb) = scenarios::run(&s, "sim", 7);
    let (c, _) = scenarios::run(&s, "sim", 8);
    assert!(a.passed(), "{}", a.verdict_line());
    assert_eq!(a.trace_hash, b.trace_hash);
    assert_eq!(la, lb, "the same trace, line for line");
    assert_eq!(scenarios::replay::first_divergence(&la, &lb), None);
    assert_ne!(a.trace_hash, c.trace_hash, "another seed, another run");
    assert!(scenarios::replay::first_divergence(&la, &scenarios::run(&s, "sim", 8).1).is_some());
}

#[test]
fn the_timeline_is_well_formed_html_with_svg_and_marks_failures() {
    let mut s = lib("tm-killed-mid-job");
    // An expectation that cannot hold, to see it marked.
    s.expect.push(spec::ExpectAt { line: 99, expect: spec::Expect::Restarts { deploy: 0, n: 9, cmp: spec::Compare::Exact } });
    let (r, _) = scenarios::run(&s, "sim", 3);
    assert!(r.failed());
    let html = report::html(&s, &r);
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains("<svg xmlns=\"http://www.w3.org/2000/svg\""));
    assert!(html.contains(r#"<li class="fail"><b>FAIL</b> 1 job restarts (expected 9) <small>(line 99)</small></li>"#), "{html}");
    assert!(html.contains("class=\"container\"") && html.contains("class=\"fault\"") && html.contains("class=\"state\""));
    assert!(!html.contains("<script"), "self-contained, no scripts");
    // Tags balance (a cheap well-formedness check: every opened element is closed).
    for tag in ["html", "head", "body", "svg", "ul", "pre", "style", "title", "h1", "p"] {
        let open = html.matches(&format!("<{tag}>")).count() + html.matches(&format!("<{tag} ")).count();
        let close = html.matches(&format!("</{tag}>")).count();
        assert_eq!(open, close, "<{tag}> opened {open} closed {close}");
    }
    let rects = html.matches("<rect ").count();
    assert_eq!(rects, html.matches("</rect>").count());
    assert!(rects >= 4, "{rects} rects");
}

#[test]
fn the_library_passes_in_sim_or_skips_with_a_reason() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library"));
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let mut ran = 0;
    for f in files {
        let s = spec::load(&f).unwrap();
        let (r, _) = scenarios::run(&s, "sim", 1);
        match &r.skipped {
            Some(why) => assert!(!s.requires.is_empty() || !s.modes.contains(&"sim".to_string()), "{}: skipped: {why}", s.name),
            None => {
                assert!(r.passed(), "{}: {}", s.name, r.verdict_line());
                ran += 1;
            }
        }
    }
    assert!(ran >= 15, "{ran} scenarios ran");
}

#[test]
fn a_predicate_that_never_holds_fails_naming_the_waiting_step() {
    let mut s = lib("tm-killed-mid-job");
    s.timeout = std::time::Duration::from_secs(30);
    s.steps[0].trigger = spec::Trigger::When(spec::When::Attempt { deploy: 0, n: 5 });
    let (r, _) = scenarios::run(&s, "sim", 1);
    let v = &r.verdicts[0];
    assert_eq!(v.status, Status::Fail);
    assert!(v.text.contains(&format!("step at line {} waited for app attempt 5", s.steps[0].line)), "{}", v.text);
}

/// A planted bug: an AM that, once two of its containers have died with a non-zero exit,
/// ignores every container YARN grants it (neither launches nor releases them).
struct ForgetfulAm {
    inner: Box<dyn Node>,
    failed: u32,
}

impl Node for ForgetfulAm {
    fn on_start(&mut self, cx: &mut Cx) {
        self.inner.on_start(cx)
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let msg = match msg.downcast::<YarnMsg>() {
            Ok(YarnMsg::AllocateResponse(Ok(mut r))) => {
                self.failed += r.completed.iter().filter(|c| c.exit_status != 0).count() as u32;
                if self.failed >= 2 {
                    r.allocated.clear();
                }
                Msg::new(YarnMsg::AllocateResponse(Ok(r)))
            }
            Ok(other) => Msg::new(other),
            Err(m) => m,
        };
        self.inner.on_message(cx, from, msg)
    }
    fn on_timer(&mut self, cx: &mut Cx, t: TimerId) {
        self.inner.on_timer(cx, t)
    }
    fn on_process_exit(&mut self, cx: &mut Cx, p: ProcId, c: ExitCode) {
        self.inner.on_process_exit(cx, p, c)
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self.inner.as_any()
    }
}

fn forgetful(inner: Box<dyn Node>) -> Box<dyn Node> {
    Box::new(ForgetfulAm { inner, failed: 0 })
}

#[test]
fn fuzzing_finds_a_planted_bug_and_shrinks_it_to_at_most_three_faults() {
    let base = lib("tm-killed-mid-job");
    let hooks = FuzzHooks { network: false, wrap_am: Some(forgetful) };
    // Without the bug these schedules pass; with it, one of the first seeds breaks.
    let mut found = None;
    for seed in 1..40u64 {
        let s = fuzz::schedule(&base, seed, 8, false);
        if s.steps.len() < 4 {
            continue;
        }
        let r = fuzz::run_checked(&s, seed, &hooks);
        if let Some(kind) = fuzz::failure_kind(&r) {
            let clean = fuzz::run_checked(&s, seed, &FuzzHooks::default());
            assert!(clean.passed(), "seed {seed} fails without the planted bug too: {}", clean.verdict_line());
            found = Some((seed, s, kind));
            break;
        }
    }
    let (seed, s, kind) = found.expect("the planted bug is found");
    let small = fuzz::shrink(&s, seed, &hooks, &kind);
    assert!(small.steps.len() <= 3, "shrunk to {} faults", small.steps.len());
    assert!(small.steps.len() < s.steps.len());
    // The shrunk file reproduces it.
    let dir = std::env::temp_dir().join(format!("scen-shrink-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("shrunk.toml");
    std::fs::write(&path, fuzz::render(&small, seed)).unwrap();
    let again = spec::load(&path);
    std::fs::remove_dir_all(&dir).unwrap();
    let again = again.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.steps.len(), small.steps.len());
    let r = fuzz::run_checked(&again, seed, &hooks);
    assert_eq!(fuzz::failure_kind(&r).as_deref(), Some(kind.as_str()), "{}", r.verdict_line());
}

#[test]
fn a_restart_from_zero_commits_nothing_twice_with_the_two_phase_file_sink() {
    // Without checkpoints a restarted job reads its input again from the start. The file sink
    // commits its part files only when the job FINISHED, so what the killed attempt wrote stays
    // in hidden staging files and the committed output still equals the fault-free run. (That
    // the comparison fails on duplicated or lost lines is shown by model.rs's unit test.)
    let mut s = lib("tm-killed-after-sink-flush");
    s.requires.clear();
    let (r, _) = scenarios::run(&s, "sim", 7);
    let v = r.verdicts.iter().find(|v| v.text.starts_with("output")).unwrap();
    assert_eq!(v.status, Status::Pass, "{}", v.text);
    let failing = r.verdicts.iter().filter(|v| v.status == Status::Fail).count();
    assert_eq!(failing, 0, "{}", r.verdict_line());
}

#[test]
fn fuzzing_a_checkpointing_deployment_checks_exactly_once_output_and_acknowledgements() {
    let base = lib("stateful-count-tm-killed");
    assert!(fuzz::fuzzable(&base));
    assert!(fuzz::checkpointing_file_sink(&base, 0));
    assert!(!fuzz::checkpointing_file_sink(&lib("tm-killed-mid-job"), 0), "no checkpointing there");
    for seed in 1..4u64 {
        let s = fuzz::schedule(&base, seed, 4, false);
        assert!(s.expect.iter().any(|e| matches!(e.expect, spec::Expect::OutputExactlyOnce { .. })));
        let r = fuzz::run_checked(&s, seed, &FuzzHooks::default());
        assert!(r.passed(), "seed {seed}: {}", r.verdict_line());
        assert!(r.verdicts.iter().any(|v| v.text.starts_with("output exactly-once (")), "{}", r.verdict_line());
        // Every completed checkpoint was checked against the TaskManagers' acks and _metadata.
        assert!(r.events.iter().any(|e| e.kind == "checkpoint" && e.detail.contains("completed: 8/8 acknowledgements")));
    }
}

/// Opens `html` in headless Chromium; returns the DOM it built and the console errors it
/// logged (uncaught exceptions, failed resources), or None when Chromium is not installed.
fn chromium_render(html: &str, tag: &str) -> Option<(String, Vec<String>)> {
    let chromium = std::path::Path::new("/usr/bin/chromium");
    if !chromium.exists() {
        return None;
    }
    let dir = std::env::temp_dir().join(format!("scen-chromium-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let page = dir.join("timeline.html");
    std::fs::write(&page, html).unwrap();
    // `timeout` bounds a hung browser; --no-sandbox because tests may run as root.
    let out = std::process::Command::new("timeout")
        .args([
            "60",
            "/usr/bin/chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", dir.join("profile").display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", page.display()))
        .output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.expect("chromium runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let errors = stderr
        .lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("ERR_FILE_NOT_FOUND"))
        .map(str::to_string)
        .collect();
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), errors))
}

#[test]
fn the_timeline_renders_in_headless_chromium_without_script_errors() {
    let s = lib("tm-killed-mid-checkpoint");
    let (r, _) = scenarios::run(&s, "sim", 1);
    assert!(r.passed(), "{}", r.verdict_line());
    let html = report::html(&s, &r);
    let Some((dom, errors)) = chromium_render(&html, "timeline") else {
        println!("SKIP the_timeline_renders_in_headless_chromium: /usr/bin/chromium is not installed (make scenarios installs it)");
        return;
    };
    assert!(errors.is_empty(), "console errors: {errors:?}");
    // The browser parsed the SVG timeline: its rectangles and the verdicts are in the DOM.
    assert!(dom.contains("<svg"), "{dom}");
    assert!(dom.matches("<rect").count() >= 4);
    assert!(dom.contains("PASS"));
    // The check can fail: a page with a script error is caught.
    let (_, bad) = chromium_render("<!DOCTYPE html><html><body><script>undefinedFunction();</script></body></html>", "bad").unwrap();
    assert!(!bad.is_empty(), "a script error must be reported");
}

/// A planted bug the JobMaster's own statistics cannot see: after each checkpoint completes,
/// its `_metadata` loses one subtask's state (as if the coordinator finalized before the last
/// acknowledgement). The JobMaster still counts every acknowledgement.
struct TruncatingAm {
    inner: Box<dyn Node>,
    done: std::collections::BTreeSet<String>,
}

impl TruncatingAm {
    fn truncate(&mut self, cx: &mut Cx) {
        let paths = cx.store().list(".flink/checkpoints").unwrap_or_default();
        for p in paths.into_iter().filter(|p| p.ends_with("/_metadata")) {
            if !self.done.insert(p.clone()) {
                continue;
            }
            let Ok(bytes) = cx.store().read(&p) else { continue };
            let Ok(mut v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
            if let Some(s) = v["vertices"][0]["subtasks"].as_array_mut() {
                s.pop();
            }
            let _ = cx.store().write(&p, &serde_json::to_vec(&v).unwrap());
        }
    }
}

impl Node for TruncatingAm {
    fn on_start(&mut self, cx: &mut Cx) {
        self.inner.on_start(cx)
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        self.inner.on_message(cx, from, msg);
        self.truncate(cx);
    }
    fn on_timer(&mut self, cx: &mut Cx, t: TimerId) {
        self.inner.on_timer(cx, t)
    }
    fn on_process_exit(&mut self, cx: &mut Cx, p: ProcId, c: ExitCode) {
        self.inner.on_process_exit(cx, p, c)
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self.inner.as_any()
    }
}

fn truncating(inner: Box<dyn Node>) -> Box<dyn Node> {
    Box::new(TruncatingAm { inner, done: Default::default() })
}

#[test]
fn the_acknowledgement_invariant_catches_a_checkpoint_whose_metadata_lacks_a_subtask() {
    let base = lib("stateful-count-tm-killed");
    let s = fuzz::schedule(&base, 1, 2, false);
    let clean = fuzz::run_checked(&s, 1, &FuzzHooks::default());
    assert!(clean.passed(), "{}", clean.verdict_line());
    let r = fuzz::run_checked(&s, 1, &FuzzHooks { network: false, wrap_am: Some(truncating) });
    let v = r.verdicts.iter().find(|v| v.text.starts_with("invariant: checkpoint completed without all acknowledgements"));
    let v = v.unwrap_or_else(|| panic!("not caught: {}", r.verdict_line()));
    assert!(v.text.contains("_metadata holds 7 of 8 subtask states"), "{}", v.text);
}

/// Drawn schedules lose at most one machine for good (three-node clusters), give the job
/// the fuzz restart budget, and a shrunk report carries that budget so it replays as found.
#[test]
fn fuzz_schedules_lose_one_machine_at_most_and_carry_their_restart_budget() {
    let base = lib("tm-killed-mid-job");
    let mut one_lost = 0;
    for seed in 0..3000u64 {
        let s = fuzz::schedule(&base, seed, 3, true);
        let lost = s.steps.iter().filter(|st| matches!(st.action, spec::Action::LoseMachine(_))).count();
        assert!(lost <= 1, "seed {seed}: {lost} machines lost");
        one_lost += lost;
        assert_eq!(s.restart_budget, Some(fuzz::RESTART_BUDGET));
    }
    assert!(one_lost > 100, "machine losses are still drawn: {one_lost}");
    let text = fuzz::render(&fuzz::schedule(&base, 7, 3, true), 7);
    assert!(text.contains(&format!("\nrestart-budget = {}\n", fuzz::RESTART_BUDGET)), "{text}");
}
