//! The `scenario` CLI: several scenarios at once print the same report as one at a time.

// Runs the CLI in a temp dir of its own.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::Command;

fn library(name: &str) -> String {
    format!("{}/library/{name}.toml", env!("CARGO_MANIFEST_DIR"))
}

/// Runs `scenario ARGS` in a fresh directory (reports go to its target/scenarios), removed after.
fn scenario(tag: &str, args: &[&str]) -> (i32, String, String) {
    let dir = std::env::temp_dir().join(format!("scenario-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_scenario")).args(args).current_dir(&dir).output();
    let _ = std::fs::remove_dir_all(&dir);
    let out = out.expect("the scenario CLI runs");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn jobs_run_scenarios_at_once_and_print_the_same_report_in_the_same_order() {
    let files: Vec<String> =
        ["tm-killed-mid-job", "am-killed-no-ha", "tm-dies-silently", "cancel-releases-taskmanagers"].map(library).to_vec();
    let mut one: Vec<&str> = vec!["run"];
    one.extend(files.iter().map(String::as_str));
    one.extend(["--mode", "sim", "--quiet"]);
    let mut three = one.clone();
    three.extend(["--jobs", "3"]);
    let (c1, out1, err1) = scenario("j1", &one);
    let (c3, out3, err3) = scenario("j3", &three);
    assert_eq!((c1, c3), (0, 0), "{err1}{err3}");
    assert!(out1.contains("scenarios: 4 passed, 0 failed, 0 skipped"), "{out1}");
    // Every scenario's header, verdicts and trace hash, in the order the files were given.
    assert_eq!(out1, out3);
    let order: Vec<&str> = out3.lines().filter(|l| l.starts_with("=== ")).map(|l| l.split_whitespace().nth(1).unwrap()).collect();
    assert_eq!(order, ["tm-killed-mid-job", "am-killed-no-ha", "tm-dies-silently", "cancel-releases-taskmanagers"]);
}

#[test]
fn jobs_must_be_a_number_of_at_least_one() {
    let f = library("tm-killed-mid-job");
    for bad in ["0", "many"] {
        let (code, out, err) = scenario(&format!("bad-{bad}"), &["run", &f, "--jobs", bad]);
        assert_eq!(code, 2, "{out}{err}");
        assert!(err.contains("--jobs takes a number >= 1"), "{err}");
        assert!(!out.contains("==="), "nothing ran: {out}");
    }
}

#[test]
fn fuzz_over_a_directory_without_scenarios_is_an_error_not_a_pass() {
    let empty = std::env::temp_dir().join(format!("scenario-cli-empty-lib-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    let (code, out, err) = scenario("fuzz-empty", &["fuzz", "--seeds", "1..3", "--dir", empty.to_str().unwrap()]);
    let _ = std::fs::remove_dir_all(&empty);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("no scenario files (*.toml) in"), "{err}");
    assert!(!out.contains("runs"), "nothing ran: {out}");
}

/// A scenario's `seed` is what it runs with (a fuzz finding replays as found, without a
/// flag); `--seed` still overrides it.
#[test]
fn a_scenarios_own_seed_is_used_unless_the_command_line_gives_one() {
    // Its program by an absolute path: the copy is not beside the library's `programs/`.
    let programs = format!("{}/programs/", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(library("tm-killed-mid-job")).unwrap().replace("../programs/", &programs);
    let dir = std::env::temp_dir().join(format!("scenario-cli-seeded-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let seeded = dir.join("seeded.toml");
    std::fs::write(&seeded, format!("seed = 5\n{text}")).unwrap();
    let f = seeded.to_str().unwrap();
    let hash = |out: &str| out.lines().find_map(|l| l.split("trace hash ").nth(1).map(str::to_string)).unwrap_or_default();
    let (c1, own, e1) = scenario("seed-own", &["run", f]);
    let (c2, five, e2) = scenario("seed-five", &["run", f, "--seed", "5"]);
    let (c3, one, e3) = scenario("seed-one", &["run", f, "--seed", "1"]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!((c1, c2, c3), (0, 0, 0), "{e1}{e2}{e3}");
    assert!(own.contains("--mode sim --seed 5)"), "{own}");
    assert!(one.contains("--mode sim --seed 1)"), "{one}");
    assert_eq!(hash(&own), hash(&five), "the file's seed is seed 5's run");
    assert_ne!(hash(&own), hash(&one), "--seed 1 overrides it: another run");
}
