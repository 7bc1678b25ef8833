//! `scenario`: run scripted failure scenarios in the simulator or live, list the library,
//! replay a trace, fuzz fault schedules.

// A CLI: reads scenario directories and files, sets SIGPIPE, prints.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use scenarios::model::Status;
use scenarios::{report, spec};

const USAGE: &str = "usage:
  scenario run FILE... [--mode sim|live] [--flink model|real] [--seed N] [--jobs N] [--quiet]
  scenario list [DIR]
  scenario replay TRACE.jsonl
  scenario fuzz [--seeds A..B] [--dir DIR] [--faults N] [--kinds process|all] [--jobs N]";

fn library_dir() -> PathBuf {
    for c in ["scenarios/library", "library", "../scenarios/library"] {
        if Path::new(c).is_dir() {
            return PathBuf::from(c);
        }
    }
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library"))
}

/// Scenario files in a directory, sorted.
pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).filter(|p| p.extension().is_some_and(|e| e == "toml")).collect())
        .unwrap_or_default();
    v.sort();
    v
}

fn main() -> ExitCode {
    // `scenario list | head` ends quietly, as a Unix tool does, instead of panicking on EPIPE.
    // SAFETY: setting a signal's disposition to the default at start-up, before any thread.
    unsafe {
        let _ = nix::sys::signal::signal(nix::sys::signal::Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("run") => cmd_run(&args[1..]),
        Some("list") => cmd_list(&args[1..]),
        Some("replay") => cmd_replay(&args[1..]),
        Some("fuzz") => cmd_fuzz(&args[1..]),
        Some("-h" | "--help" | "help") => {
            println!("{USAGE}");
            0
        }
        _ => {
            eprintln!("{USAGE}");
            2
        }
    };
    ExitCode::from(code)
}

fn cmd_run(args: &[String]) -> u8 {
    let mut files = Vec::new();
    let mut mode = "sim".to_string();
    // Each scenario's own `seed` (default 1) unless given here.
    let mut seed: Option<u64> = None;
    let mut quiet = false;
    let mut jobs = 1usize;
    let mut flink = spec::Flink::Model;
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--flink" => {
                i += 1;
                match spec::Flink::parse(args.get(i).map(String::as_str).unwrap_or("")) {
                    Ok(f) => flink = f,
                    Err(e) => {
                        eprintln!("scenario run: {e}");
                        return 2;
                    }
                }
            }
            "--mode" => {
                i += 1;
                mode = args.get(i).cloned().unwrap_or_default();
                if mode != "sim" && mode != "live" {
                    eprintln!("scenario run: --mode must be sim or live, got '{mode}'");
                    return 2;
                }
            }
            "--seed" => {
                i += 1;
                match args.get(i).and_then(|s| s.parse().ok()) {
                    Some(s) => seed = Some(s),
                    None => {
                        eprintln!("scenario run: --seed needs a number");
                        return 2;
                    }
                }
            }
            "--jobs" | "-j" => {
                i += 1;
                match args.get(i).and_then(|s| s.parse::<usize>().ok()) {
                    Some(n) if n >= 1 => jobs = n,
                    _ => {
                        eprintln!("scenario run: --jobs takes a number >= 1");
                        return 2;
                    }
                }
            }
            "--quiet" | "-q" => quiet = true,
            f if f.starts_with('-') => {
                eprintln!("scenario run: unknown option '{f}'\n{USAGE}");
                return 2;
            }
            f => files.push(PathBuf::from(f)),
        }
        i += 1;
    }
    if files.is_empty() {
        eprintln!("scenario run: no scenario file given\n{USAGE}");
        return 2;
    }
    if flink == spec::Flink::Real && mode != "live" {
        eprintln!("scenario run: --flink real runs live only (add --mode live); the simulator runs our Flink model");
        return 2;
    }
    // Every file must parse before anything runs.
    let mut specs = Vec::new();
    for f in &files {
        match spec::load(f) {
            Ok(s) => specs.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    let mut all_ok = true;
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    let real = if flink == spec::Flink::Real { " --flink real" } else { "" };
    // `--jobs N` runs N scenarios at once (each live one on its own cluster, ports and
    // directory); their reports still print whole and in the order given.
    let seed_of = |s: &spec::Spec| seed.or(s.seed).unwrap_or(1);
    scenarios::pool::run_in_order(
        &specs,
        jobs,
        |s| scenarios::run_with(s, &mode, flink, seed_of(s)),
        |i, (r, lines)| {
            let s = &specs[i];
            let seed = seed_of(s);
            println!("=== {} ({} --mode {mode}{real} --seed {seed})", s.name, s.file.display());
            if let Some(why) = &r.skipped {
                println!("SKIP {}: {why}", s.name);
                skipped += 1;
                return;
            }
            if !quiet {
                for e in &r.events {
                    println!("{e}");
                }
            }
            println!("{}", r.verdict_line());
            match report::write(s, &r, &lines) {
                Ok((html, jsonl)) => {
                    println!("timeline: {}   trace: {}   trace hash {:016x}", html.display(), jsonl.display(), r.trace_hash)
                }
                Err(e) => eprintln!("cannot write the report: {e}"),
            }
            if r.failed() {
                all_ok = false;
                failed += 1;
            } else if r.verdicts.iter().all(|v| v.status == Status::Skip) {
                skipped += 1;
            } else {
                passed += 1;
            }
        },
    );
    if specs.len() > 1 {
        println!("scenarios: {passed} passed, {failed} failed, {skipped} skipped");
    }
    if all_ok {
        0
    } else {
        1
    }
}

fn cmd_list(args: &[String]) -> u8 {
    let dir = args.first().map(PathBuf::from).unwrap_or_else(library_dir);
    let mut bad = false;
    for f in files_in(&dir) {
        match spec::load(&f) {
            Ok(s) => {
                let req = if s.requires.is_empty() { String::new() } else { format!("  [requires {}]", s.requires.join(", ")) };
                let jira = if s.jira.is_empty() { String::new() } else { format!(" ({})", s.jira.join(", ")) };
                println!("{}{jira}{req}\n    breaks:  {}\n    expects: {}", s.name, s.breaks, s.expects);
            }
            Err(e) => {
                eprintln!("error: {e}");
                bad = true;
            }
        }
    }
    if bad {
        2
    } else {
        0
    }
}

fn cmd_replay(args: &[String]) -> u8 {
    let [trace] = args else {
        eprintln!("scenario replay: give one trace file\n{USAGE}");
        return 2;
    };
    match scenarios::replay::replay(Path::new(trace)) {
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
        Ok(r) => match r.divergence {
            None => {
                println!("replayed {} events: identical (trace hash {} = {})", r.events, r.recorded_hash, r.replayed_hash);
                0
            }
            Some((i, a, b)) => {
                println!("diverged at event {} of {}:", i + 1, r.events);
                println!("  recorded: {}", a.as_deref().unwrap_or("(end of trace)"));
                println!("  replayed: {}", b.as_deref().unwrap_or("(end of run)"));
                println!("trace hash recorded {} replayed {}", r.recorded_hash, r.replayed_hash);
                1
            }
        },
    }
}

/// `A..B` (B exclusive) or `N` (just N).
fn parse_range(s: &str) -> Option<std::ops::Range<u64>> {
    match s.split_once("..") {
        Some((a, b)) => {
            let (a, b) = (a.parse().ok()?, b.parse().ok()?);
            (a < b).then_some(a..b)
        }
        None => s.parse().ok().map(|n: u64| n..n + 1),
    }
}

fn cmd_fuzz(args: &[String]) -> u8 {
    let mut range = 1..101u64;
    let mut dir = library_dir();
    let mut max_faults = 3usize;
    let mut jobs = 1usize;
    let mut hooks = scenarios::fuzz::FuzzHooks { network: true, ..Default::default() };
    let mut i = 0;
    while i < args.len() {
        let v = args.get(i + 1);
        match (args[i].as_str(), v) {
            ("--seeds", Some(v)) => match parse_range(v) {
                Some(r) => range = r,
                None => {
                    eprintln!("scenario fuzz: --seeds takes A..B (B exclusive, A < B) or N, got '{v}'");
                    return 2;
                }
            },
            ("--dir", Some(v)) => dir = PathBuf::from(v),
            ("--jobs", Some(v)) => match v.parse() {
                Ok(n) if n >= 1 => jobs = n,
                _ => {
                    eprintln!("scenario fuzz: --jobs takes a number >= 1");
                    return 2;
                }
            },
            ("--kinds", Some(v)) => match v.as_str() {
                "process" => hooks.network = false,
                "all" => hooks.network = true,
                _ => {
                    eprintln!("scenario fuzz: --kinds takes process or all, got '{v}'");
                    return 2;
                }
            },
            ("--faults", Some(v)) => match v.parse() {
                Ok(n) if n >= 1 => max_faults = n,
                _ => {
                    eprintln!("scenario fuzz: --faults takes a number >= 1");
                    return 2;
                }
            },
            (o, _) => {
                eprintln!("scenario fuzz: unknown or incomplete option '{o}'\n{USAGE}");
                return 2;
            }
        }
        i += 2;
    }
    let mut lib = Vec::new();
    for f in files_in(&dir) {
        match spec::load(&f) {
            Ok(s) => lib.push(s),
            Err(e) => {
                eprintln!("error: {e}");
                return 2;
            }
        }
    }
    // Seeds vary the library's scenarios: with none there is nothing to run, and "0 runs,
    // 0 violations" would read as a pass.
    if lib.is_empty() {
        eprintln!("scenario fuzz: no scenario files (*.toml) in {}", dir.display());
        return 2;
    }
    let out = report::out_dir().join("fuzz");
    let start = std::time::Instant::now();
    let (a, b) = (range.start, range.end);
    let rep = scenarios::fuzz::fuzz(&lib, range, max_faults, jobs, &hooks, &out, &mut |l| println!("{l}"));
    println!("fuzz: seeds {a}..{b}: {} runs, {} violations, {:.1}s wall", rep.seeds, rep.violations.len(), start.elapsed().as_secs_f64());
    if rep.violations.is_empty() {
        0
    } else {
        1
    }
}
