use super::*;

fn prog_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library/x.toml"))
}

fn parse_str(text: &str) -> Result<Spec, SpecError> {
    parse(text, &prog_dir())
}

const HEAD: &str = "breaks = \"b\"\nexpects = \"e\"\n";
const APP: &str = r#"
[[deploy]]
name = "app"
kind = "run-application"
program = "../programs/numbers-to-file.toml"
args = ["--output", "out/x"]
parallelism = 2
flink = { "taskmanager.numberOfTaskSlots" = 2 }
"#;

fn with(body: &str) -> String {
    format!("{HEAD}{APP}{body}")
}

/// A scenario with requires = ["checkpoints"] and one deployment, then `body`.
fn ck(body: &str) -> String {
    format!("{HEAD}requires = [\"checkpoints\"]\n{APP}{body}")
}

fn err(text: &str) -> SpecError {
    parse_str(text).expect_err("must be rejected")
}

#[test]
fn every_key_parses() {
    let text = r#"
name = "all-keys"
jira = ["FLINK-1"]
breaks = "b"
expects = "e"
requires = []
modes = ["sim"]
timeout = "90s"

[cluster]
nodes = 4
node-memory-mb = 4096
node-vcores = 4
queues = { default = 60, batch = 40 }
yarn = { "yarn.nm.liveness-monitor.expiry-interval-ms" = 5000 }
flink = { "heartbeat.timeout" = "5s" }

[[deploy]]
name = "s"
kind = "yarn-session"
flink = { "taskmanager.numberOfTaskSlots" = 2 }

[[deploy]]
name = "j"
kind = "run"
session = "s"
program = "../programs/numbers-to-file.toml"
args = ["--output", "out/j"]
parallelism = 2
at = "1s"

[[deploy]]
name = "later"
kind = "per-job"
program = "../programs/numbers-to-file.toml"
args = ["--output", "out/l"]
manual = true

[[step]]
at = "2.5s"
action = "kill"
target = "taskmanager 2"

[[step]]
when = { job = "RUNNING", deploy = "j" }
after = "500ms"
action = "stop"
target = "am"
for = "1s"

[[step]]
when = { taskmanagers = 2 }
action = "partition"
target = "am"
peer = "remote-taskmanager 1"
one-way = true
for = "3s"

[[step]]
when = { container = "RUNNING", role = "taskmanager 1" }
action = "clog"
target = "nm 1"
peer = "nm 2"
delay = "200ms"

[[step]]
when = { attempt = 1 }
action = "drop"
target = "am"
peer = "taskmanager 1"
rpc = "TaskExecutorHeartbeat"
for = "2s"

[[step]]
when = { app = "RUNNING", deploy = "s" }
action = "submit"
deploy = "later"

[[step]]
when = { records = 10 }
action = "cancel"
deploy = "j"

[[step]]
at = "9s"
action = "heal"

[[step]]
at = "10s"
action = "restart"
target = "nm-of-am"

[[step]]
at = "11s"
action = "lose-machine"
target = "nm 3"

[[step]]
at = "12s"
action = "fail-launch"
for = "1s"

[[step]]
at = "13s"
action = "term"
target = "rm"

[[step]]
at = "14s"
action = "continue"
target = "am"

[[expect]]
job = "CANCELED"
deploy = "j"
within = "60s"

[[expect]]
app = "RUNNING"
deploy = "s"

[[expect]]
output = "exactly-once"
deploy = "later"

[[expect]]
containers-leaked = 0

[[expect]]
attempts = 1
at-least = true

[[expect]]
restarts = 2
at-most = true

[[expect]]
log = "is registered."

[[expect]]
log-absent = "Exception"
"#;
    let s = parse_str(text).unwrap();
    assert_eq!(s.name, "all-keys");
    assert_eq!(s.jira, vec!["FLINK-1"]);
    assert_eq!(s.modes, vec!["sim"]);
    assert_eq!(s.timeout, Duration::from_secs(90));
    assert_eq!((s.cluster.nodes, s.cluster.node_memory_mb, s.cluster.node_vcores), (4, 4096, 4));
    assert_eq!(s.cluster.queues.len(), 2);
    assert_eq!(s.cluster.yarn["yarn.nm.liveness-monitor.expiry-interval-ms"], "5000");
    assert_eq!(s.deploys.len(), 3);
    assert_eq!(s.deploys[1].session, Some(0));
    assert_eq!(s.deploys[1].at, Duration::from_secs(1));
    assert!(s.deploys[2].manual);
    assert_eq!(s.steps.len(), 13);
    assert_eq!(s.steps[0].trigger, Trigger::At(Duration::from_millis(2500)));
    assert_eq!(s.steps[0].action, Action::Kill(Role::TaskManager(2)));
    assert_eq!(s.steps[1].after, Duration::from_millis(500));
    assert_eq!(s.steps[1].action, Action::Stop(Role::Am, Some(Duration::from_secs(1))));
    assert!(matches!(s.steps[2].action, Action::Partition { one_way: true, .. }));
    assert!(matches!(&s.steps[3].trigger, Trigger::When(When::Container { role: Role::TaskManager(1), .. })));
    assert!(matches!(&s.steps[4].action, Action::Drop { from: Some(Role::TaskManager(1)), .. }));
    assert_eq!(s.steps[5].action, Action::Submit("later".into()));
    assert_eq!(s.steps[7].action, Action::HealAll);
    assert_eq!(s.steps[8].action, Action::Restart(Role::NmOf(Box::new(Role::Am))));
    assert_eq!(s.steps[11].action, Action::Term(Role::Rm));
    assert_eq!(s.expect.len(), 8);
    assert!(matches!(s.expect[0].expect, Expect::Job { deploy: 1, within: Some(_), .. }));
    assert!(matches!(s.expect[4].expect, Expect::Attempts { cmp: Compare::AtLeast, .. }));
    assert!(matches!(&s.expect[7].expect, Expect::Log { present: false, .. }));
    assert_eq!(s.expect[0].line, line_col(text, text.find("[[expect]]").unwrap()).0);
}

#[test]
fn every_checkpoint_key_parses() {
    let text = format!(
        "{HEAD}requires = [\"checkpoints\", \"store-faults\"]\n{APP}{}",
        r#"
[[step]]
when = { checkpoint = 2 }
action = "savepoint"
deploy = "app"

[[step]]
when = { checkpoint = 3 }
after = "10ms"
action = "stop-job"

[[step]]
at = "1s"
action = "fail-store"
path = "/.flink/checkpoints/"
error = "ENOSPC"
for = "2s"

[[expect]]
checkpoints = 2
at-least = true

[[expect]]
checkpoints-failed = 1
at-most = true

[[expect]]
checkpoint-acks = "all"

[[expect]]
restored-from = 2

[[expect]]
savepoint = "FAILED"
"#
    );
    let s = parse_str(&text).unwrap();
    assert_eq!(s.steps[0].trigger, Trigger::When(When::Checkpoint { deploy: 0, n: 2 }));
    assert_eq!(s.steps[0].action, Action::Savepoint("app".into()));
    assert_eq!(s.steps[1].action, Action::StopJob("app".into()));
    assert_eq!(
        s.steps[2].action,
        Action::FailStore { heal_after: Some(Duration::from_secs(2)), prefix: ".flink/checkpoints".into(), full: true }
    );
    assert_eq!(s.expect[0].expect, Expect::Checkpoints { deploy: 0, n: 2, cmp: Compare::AtLeast });
    assert_eq!(s.expect[1].expect, Expect::CheckpointsFailed { deploy: 0, n: 1, cmp: Compare::AtMost });
    assert_eq!(s.expect[2].expect, Expect::CheckpointAcks { deploy: 0 });
    assert_eq!(s.expect[3].expect, Expect::RestoredFrom { deploy: 0, n: 2, cmp: Compare::Exact });
    assert_eq!(s.expect[4].expect, Expect::Savepoint { deploy: 0, completed: false });
}

#[test]
fn unknown_keys_are_named_with_file_and_line() {
    for (text, key, line) in [
        (format!("{HEAD}bogus = 1\n"), "bogus", 3),
        (format!("{HEAD}[cluster]\nnode = 3\n"), "node", 4),
        (with("[[step]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"am\"\ntargte = \"am\"\n"), "targte", 15),
        (with("[[expect]]\njob = \"FINISHED\"\nwithn = \"1s\"\n"), "withn", 13),
        (with("[[step]]\nwhen = { jobs = \"RUNNING\" }\naction = \"kill\"\ntarget = \"am\"\n"), "jobs", 12),
    ] {
        let e = err(&text);
        assert!(e.message.contains(&format!("unknown field `{key}`")), "{e}");
        assert_eq!(e.line, line, "{e}");
        assert!(e.to_string().starts_with(&format!("{}:{line}:", prog_dir().display())), "{e}");
    }
}

/// A fuzz report's budget raises the program's own fixed-delay attempts (3) in the sim run.
#[test]
fn a_restart_budget_raises_the_programs_restart_attempts() {
    let text = format!("{HEAD}modes = [\"sim\"]\nrestart-budget = 10\n{APP}[[expect]]\njob = \"FINISHED\"\n");
    let spec = parse_str(&text).unwrap();
    assert_eq!(spec.restart_budget, Some(10));
    let jobs = crate::simrun::job_graphs(&spec, 0, 1).unwrap();
    assert_eq!(jobs.len(), 1);
    assert!(
        matches!(jobs[0].restart_strategy, flink_core::graph::RestartStrategy::FixedDelay { attempts: 10, delay_ms: 500 }),
        "{:?}",
        jobs[0].restart_strategy
    );
    let without = parse_str(&with("[[expect]]\njob = \"FINISHED\"\n")).unwrap();
    let jobs = crate::simrun::job_graphs(&without, 0, 1).unwrap();
    assert!(matches!(jobs[0].restart_strategy, flink_core::graph::RestartStrategy::FixedDelay { attempts: 3, .. }));
}

/// `seed` is optional: absent, the runner uses 1 (or `--seed`).
#[test]
fn a_scenario_may_name_its_seed() {
    let spec = parse_str(&format!("seed = 66720\n{HEAD}[[expect]]\ncontainers-leaked = 0\n")).unwrap();
    assert_eq!(spec.seed, Some(66720));
    assert_eq!(parse_str(&with("[[expect]]\njob = \"FINISHED\"\n")).unwrap().seed, None);
    let e = parse_str(&format!("seed = \"soon\"\n{HEAD}[[expect]]\ncontainers-leaked = 0\n")).unwrap_err();
    assert!(e.to_string().contains(":1:8: invalid type: string \"soon\", expected u64"), "{e}");
}

#[test]
fn every_semantic_error_has_a_clear_message() {
    let step = |s: &str| with(&format!("[[step]]\n{s}\n[[expect]]\njob = \"FINISHED\"\n"));
    let cases: Vec<(String, &str)> = vec![
        (HEAD.to_string(), "has no [[expect]]"),
        (format!("{HEAD}requires = [\"teleport\"]\n[[expect]]\ncontainers-leaked = 0\n"), "unknown feature 'teleport'"),
        (format!("{HEAD}modes = [\"cloud\"]\n[[expect]]\ncontainers-leaked = 0\n"), "unknown mode 'cloud'"),
        (format!("{HEAD}timeout = \"soon\"\n[[expect]]\ncontainers-leaked = 0\n"), "not a duration"),
        (format!("{HEAD}timeout = \"5 weeks\"\n[[expect]]\ncontainers-leaked = 0\n"), "unknown unit"),
        (format!("{HEAD}[cluster]\nnodes = 0\n[[expect]]\ncontainers-leaked = 0\n"), "nodes must be 1..=100"),
        (format!("{HEAD}restart-budget = 10\n[[expect]]\ncontainers-leaked = 0\n"), "restart-budget applies in sim only"),
        (format!("{HEAD}modes = [\"sim\"]\nrestart-budget = 0\n[[expect]]\ncontainers-leaked = 0\n"), "at least 1"),
        (format!("{HEAD}[cluster]\nqueues = {{ a = 50 }}\n[[expect]]\ncontainers-leaked = 0\n"), "add up to 50"),
        (step("action = \"kill\"\ntarget = \"am\""), "needs 'at'"),
        (step("at = \"1s\"\nwhen = { job = \"RUNNING\" }\naction = \"kill\"\ntarget = \"am\""), "not both"),
        (step("at = \"1s\"\naction = \"explode\""), "unknown action 'explode'"),
        (step("at = \"1s\"\naction = \"kill\""), "needs 'target'"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"nm 7\""), "does not exist: the cluster has 3"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"database\""), "unknown role 'database'"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"taskmanager zero\""), "not a number"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"am\"\ndelay = \"1s\""), "key 'delay' is not used by action 'kill'"),
        (step("at = \"1s\"\naction = \"clog\"\ntarget = \"am\"\npeer = \"rm\""), "needs 'delay'"),
        (step("at = \"1s\"\naction = \"drop\"\ntarget = \"am\""), "needs 'rpc'"),
        (step("at = \"1s\"\naction = \"restart\"\ntarget = \"am\""), "restarts a daemon"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"nm-of rm\""), "nm-of names the machine of a container"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"nm-of nm 2\""), "nm-of names the machine of a container"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"zookeeper\""), "needs requires = [\"ha\"]"),
        (step("at = \"1s\"\naction = \"fail-store\""), "needs requires = [\"store-faults\"]"),
        (step("at = \"1s\"\naction = \"savepoint\""), "need requires = [\"checkpoints\"]"),
        (step("at = \"1s\"\naction = \"submit\""), "is not manual"),
        (step("when = { checkpoint = 1 }\naction = \"kill\"\ntarget = \"am\""), "needs requires = [\"checkpoints\"]"),
        (step("when = { job = \"DANCING\" }\naction = \"kill\"\ntarget = \"am\""), "unknown job status 'DANCING'"),
        (step("when = { job = \"RUNNING\", app = \"RUNNING\" }\naction = \"kill\"\ntarget = \"am\""), "exactly one of"),
        (step("when = { container = \"RUNNING\" }\naction = \"kill\"\ntarget = \"am\""), "needs a 'role'"),
        (step("when = { container = \"ASLEEP\", role = \"am\" }\naction = \"kill\"\ntarget = \"am\""), "unknown container state"),
        (step("when = { job = \"RUNNING\", role = \"am\" }\naction = \"kill\"\ntarget = \"am\""), "only for 'container'"),
        (step("when = { app = \"RUNNING\", deploy = \"nope\" }\naction = \"kill\"\ntarget = \"am\""), "no deployment named 'nope'"),
        (with("[[expect]]\njob = \"FINISHED\"\napp = \"FINISHED\"\n"), "exactly one of"),
        (with("[[expect]]\napp = \"FINISHED/GREAT\"\n"), "unknown final status"),
        (with("[[expect]]\napp = \"DONE\"\n"), "unknown application state"),
        (with("[[expect]]\noutput = \"at-least-once\"\n"), "unknown output expectation"),
        (with("[[expect]]\nrestarts = 1\nat-least = true\nat-most = true\n"), "together"),
        (with("[[expect]]\njob = \"FINISHED\"\nat-least = true\n"), "are for attempts"),
        (with("[[expect]]\ncontainers-leaked = 0\nwithin = \"1s\"\n"), "'within' is for"),
        (with("[[expect]]\ncheckpoints = 1\n"), "need requires = [\"checkpoints\"]"),
        (with("[[expect]]\nrestored-from = 1\n"), "need requires = [\"checkpoints\"]"),
        (ck("[[expect]]\ncheckpoint-acks = \"most\"\n"), "unknown checkpoint-acks expectation 'most'"),
        (ck("[[expect]]\nsavepoint = \"DONE\"\n"), "unknown savepoint outcome 'DONE'"),
        (ck("[[expect]]\ncheckpoint-acks = \"all\"\nat-least = true\n"), "are for attempts"),
        (step("at = \"1s\"\naction = \"fail-store\"\nerror = \"EPERM\""), "unknown store error 'EPERM'"),
        (step("at = \"1s\"\naction = \"kill\"\ntarget = \"am\"\npath = \"x\""), "key 'path' is not used by action 'kill'"),
        (format!("{HEAD}[[deploy]]\nkind = \"run\"\nprogram = \"../programs/numbers-to-file.toml\"\n[[expect]]\ncontainers-leaked = 0\n"), "needs a yarn-session"),
        (format!("{HEAD}[[deploy]]\nkind = \"yarn-session\"\nprogram = \"x.toml\"\n[[expect]]\ncontainers-leaked = 0\n"), "takes no program"),
        (format!("{HEAD}[[deploy]]\nkind = \"per-job\"\n[[expect]]\ncontainers-leaked = 0\n"), "needs a 'program'"),
        (format!("{HEAD}[[deploy]]\nkind = \"per-job\"\nprogram = \"missing.toml\"\n[[expect]]\ncontainers-leaked = 0\n"), "program file 'missing.toml' not found"),
        (format!("{HEAD}[[deploy]]\nkind = \"per-job\"\nsession = \"x\"\nprogram = \"../programs/numbers-to-file.toml\"\n[[expect]]\ncontainers-leaked = 0\n"), "only for kind = \"run\""),
        (format!("{HEAD}[[deploy]]\nkind = \"warp\"\n[[expect]]\ncontainers-leaked = 0\n"), "unknown variant `warp`"),
        (format!("{HEAD}{APP}{APP}[[expect]]\ncontainers-leaked = 0\n"), "two deployments are named 'app'"),
        (format!("{HEAD}name = \"bad name!\"\n[[expect]]\ncontainers-leaked = 0\n"), "must be letters"),
        ("breaks = \"b\"\n[[expect]]\ncontainers-leaked = 0\n".to_string(), "missing field `expects`"),
        (format!("{HEAD}timeout = 5\n"), "invalid type"),
    ];
    for (text, want) in cases {
        let e = err(&text);
        assert!(e.message.contains(want), "wanted '{want}', got: {e}\n--- input:\n{text}");
        assert!(e.line >= 1, "{e}");
    }
}

#[test]
fn a_malformed_program_is_reported_at_the_program_key() {
    let dir = std::env::temp_dir().join(format!("scen-prog-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("bad.toml"), "[[job]]\n[[job.step]]\nsource = { type = \"sequence\", from = 1, to = 3 }\n").unwrap();
    let text = format!("{HEAD}[[deploy]]\nkind = \"per-job\"\nprogram = \"bad.toml\"\n[[expect]]\ncontainers-leaked = 0\n");
    let e = parse(&text, &dir.join("s.toml")).unwrap_err();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(e.line, 5, "{e}");
    assert!(e.message.contains("no sink"), "{e}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("2.5s").unwrap(), Duration::from_millis(2500));
    assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
    assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
    assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
    assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
    assert!(parse_duration("-1s").is_err());
    assert!(parse_duration("s").is_err());
}

#[test]
fn scenarios_needing_missing_features_are_skipped_with_the_reason() {
    // Every feature is in this build now (HA since issue 9): requiring one skips nothing.
    let s = parse_str(&format!("{HEAD}requires = [\"ha\", \"checkpoints\"]\n[[expect]]\ncontainers-leaked = 0\n")).unwrap();
    assert_eq!(s.skip_reason("sim"), None);
    assert!(FEATURES.iter().all(|(name, _)| feature_missing(name).is_none()));
    let s = parse_str(&format!("{HEAD}modes = [\"sim\"]\n[[expect]]\ncontainers-leaked = 0\n")).unwrap();
    assert!(s.skip_reason("live").unwrap().contains("not a live scenario"));
    assert!(s.skip_reason("sim").is_none());
}

#[test]
fn the_whole_library_parses() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library"));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let s = load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert!(!s.breaks.is_empty() && !s.expects.is_empty());
            n += 1;
        }
    }
    assert!(n >= 20, "{n} scenarios");
}

const REAL_SESSION: &str = r#"
[[deploy]]
name = "s"
kind = "yarn-session"

[[deploy]]
name = "j"
kind = "run"
real-program = "compat-job"
real-args = ["0", "200"]
"#;

#[test]
fn real_programs_parse_and_are_checked() {
    let s = parse_str(&format!("{HEAD}{REAL_SESSION}[[expect]]\njob = \"RUNNING\"\n")).unwrap();
    assert_eq!(s.deploys[1].real, Some(RealProgram::CompatJob { n: 0, rate: 200 }));
    assert_eq!(s.deploys[1].program, None);
    // Job expectations default to the deployment with a (real) program.
    assert!(matches!(s.expect[0].expect, Expect::Job { deploy: 1, .. }));
    // A model program and a real one side by side.
    let both = with("").replace("parallelism = 2", "parallelism = 2\nreal-program = \"compat-job\"\nreal-args = [\"100\", \"0\"]");
    let s = parse_str(&format!("{both}[[expect]]\njob = \"FINISHED\"\n")).unwrap();
    assert_eq!(s.deploys[0].real, Some(RealProgram::CompatJob { n: 100, rate: 0 }));
    assert!(s.deploys[0].program.is_some());
    let jar = REAL_SESSION.replace("\"compat-job\"", "\"../programs/numbers-to-file.toml\"");
    let e = err(&format!("{HEAD}{jar}[[expect]]\njob = \"RUNNING\"\n"));
    assert!(e.message.contains("unknown real-program") && e.line == 11, "{e}");
    let e = err(&format!("{HEAD}{}[[expect]]\njob = \"RUNNING\"\n", REAL_SESSION.replace("\"compat-job\"", "\"nope.jar\"")));
    assert!(e.message.contains("real-program jar 'nope.jar' not found"), "{e}");
    for args in ["[\"0\"]", "[\"x\", \"1\"]", "[\"1\", \"2\", \"3\"]"] {
        let e = err(&format!("{HEAD}{}[[expect]]\njob = \"RUNNING\"\n", REAL_SESSION.replace("[\"0\", \"200\"]", args)));
        assert!(e.message.contains("takes real-args = [\"N\", \"RATE\"]"), "{args}: {e}");
    }
    let e = err(&format!("{HEAD}[[deploy]]\nkind = \"yarn-session\"\nreal-program = \"compat-job\"\n[[expect]]\ncontainers-leaked = 0\n"));
    assert!(e.message.contains("a yarn-session takes no real-program"), "{e}");
    let e = err(&format!("{HEAD}{}[[expect]]\njob = \"RUNNING\"\n", APP.replace("parallelism = 2", "real-args = [\"1\", \"1\"]")));
    assert!(e.message.contains("'real-args' without a 'real-program'"), "{e}");
    let e = err(&format!("{HEAD}[[deploy]]\nkind = \"run-application\"\n[[expect]]\ncontainers-leaked = 0\n"));
    assert!(e.message.contains("needs a 'program' (or a 'real-program')"), "{e}");
}

#[test]
fn flink_real_skips_what_has_no_real_equivalent_with_the_reason() {
    let real = |text: String| parse_str(&text).unwrap().skip_reason_for("live", Flink::Real);
    // A session with a CompatJob, process faults of every kind: runs.
    let ok = format!(
        "{HEAD}{REAL_SESSION}[[step]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"taskmanager 1\"\n[[step]]\nat = \"2s\"\naction = \"stop\"\ntarget = \"am\"\nfor = \"1s\"\n[[step]]\nat = \"3s\"\naction = \"restart\"\ntarget = \"nm 1\"\n[[expect]]\njob = \"RUNNING\"\n"
    );
    assert_eq!(real(ok.clone()), None);
    // ... but not in the simulator, and not with our model (it has no model program).
    let s = parse_str(&ok).unwrap();
    assert!(s.skip_reason_for("sim", Flink::Real).unwrap().contains("live only"));
    assert!(s.skip_reason("live").unwrap().contains("has only a real-program"));
    assert!(s.skip_reason("sim").unwrap().contains("--flink real"));
    // Our model program without a Java job.
    assert!(real(with("[[expect]]\njob = \"FINISHED\"\n"))
        .unwrap()
        .contains("runs our program '../programs/numbers-to-file.toml', which has no Java equivalent"));
    // Per-job mode is gone in Flink 2.x.
    let pj = format!("{HEAD}[[deploy]]\nname = \"pj\"\nkind = \"per-job\"\nreal-program = \"compat-job\"\nreal-args = [\"1\", \"1\"]\n[[expect]]\njob = \"FINISHED\"\n");
    assert!(real(pj).unwrap().contains("Flink 2.x removed per-job mode"));
    // Network faults go through our transport's fault layer.
    let net = format!(
        "{HEAD}{REAL_SESSION}[[step]]\nat = \"1s\"\naction = \"partition\"\ntarget = \"am\"\npeer = \"taskmanager 1\"\n[[expect]]\njob = \"RUNNING\"\n"
    );
    let why = real(net).unwrap();
    assert!(why.contains("step at line ") && why.contains(": network faults") && why.contains("real Flink's JVMs do not use"), "{why}");
    // Features the runner does not set up for the real Flink.
    let ha = format!("{HEAD}requires = [\"ha\"]\n{REAL_SESSION}[[expect]]\njob = \"RUNNING\"\n");
    assert!(real(ha).unwrap().starts_with("requires ha: "));
    let ck = format!("{HEAD}requires = [\"checkpoints\"]\n{REAL_SESSION}[[expect]]\ncheckpoints = 1\n");
    assert!(real(ck).unwrap().starts_with("requires checkpoints: "));
    // exactly-once needs a finite compat-job (its sums are computed from 1..N).
    let endless = format!("{HEAD}{REAL_SESSION}[[expect]]\noutput = \"exactly-once\"\n");
    assert!(real(endless.clone()).unwrap().contains("runs no finite compat-job"));
    assert_eq!(real(endless.replace("[\"0\", \"200\"]", "[\"500\", \"0\"]")), None);
}

#[test]
fn the_real_flink_library_parses_and_runs_only_with_flink_real() {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/library-real"));
    let mut n = 0;
    for e in std::fs::read_dir(&dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "toml") {
            let s = load(&p).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.skip_reason_for("live", Flink::Real), None, "{}", p.display());
            assert!(s.skip_reason("live").is_some(), "{}", p.display());
            n += 1;
        }
    }
    assert!(n >= 2, "{n} scenarios");
}

#[test]
fn nm_of_names_the_machine_of_a_container_role() {
    let nm_of = |r: Role| Role::NmOf(Box::new(r));
    assert_eq!(parse_role("nm-of-am", 3).unwrap(), nm_of(Role::Am));
    assert_eq!(parse_role("nm-of am", 3).unwrap(), nm_of(Role::Am));
    assert_eq!(parse_role("nm-of taskmanager 2", 3).unwrap(), nm_of(Role::TaskManager(2)));
    assert_eq!(parse_role("nm-of remote-taskmanager", 3).unwrap(), nm_of(Role::RemoteTaskManager(1)));
    // Printed as written, the AM's in its old one-word form.
    assert_eq!(nm_of(Role::Am).to_string(), "nm-of-am");
    assert_eq!(nm_of(Role::RemoteTaskManager(1)).to_string(), "nm-of remote-taskmanager 1");
    assert!(parse_role("nm-of", 3).unwrap_err().contains("unknown role"));
}
