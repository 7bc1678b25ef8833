//! Checkpoints, savepoints and recovery end to end: a Flink session on yarn-sim with
//! `-D execution.checkpointing.interval=500ms`, the StatefulCount example writing to the
//! exactly-once file sink, `kill -9` of TaskManagers, `flink checkpoint`, `flink savepoint`,
//! `flink stop`, `flink run -s` with a rescale, and the checkpoint REST API. Every claim is
//! checked against a fault-free run of the same job: the committed output (part files, hidden
//! staging files excluded) must be equal line for line.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use e2e::{Cluster, Rest, Run};

/// A cluster, a Flink configuration dir (properties file inside the test's dir) and helpers.
struct Flink {
    c: Cluster,
    conf_dir: PathBuf,
}

impl Flink {
    fn start(name: &str, nodes: u32) -> Flink {
        let c = Cluster::start(name, nodes, &[]);
        let conf_dir = c.work.join("flink-conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        // No restart strategy: with checkpointing on, Flink 2.x's default (exponential-delay)
        // applies; without, jobs do not restart.
        std::fs::write(
            conf_dir.join("config.yaml"),
            format!("yarn.properties-file.location: {}\nheartbeat.interval: 500 ms\nheartbeat.timeout: 3 s\n", c.work.display()),
        )
        .unwrap();
        Flink { c, conf_dir }
    }

    fn run(&self, program: &str, args: &[&str]) -> Run {
        e2e::run_flink_client(&self.c, &self.conf_dir, program, args)
    }

    /// `yarn-session -d` with checkpoints every 500 ms; the JobManager's REST address.
    fn session(&self) -> Rest {
        let r = self.run(
            "yarn-session",
            &["-jm", "256m", "-tm", "512m", "-s", "2", "-nm", "ckpt", "-d", "-D", "execution.checkpointing.interval=500ms"],
        );
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let web = r.stdout.lines().find_map(|l| l.strip_prefix("JobManager Web Interface: http://")).expect("web interface line");
        Rest::new(web)
    }

    /// The shared store's directory (fs.defaultFS).
    fn store(&self) -> PathBuf {
        self.c.work.join("dfs")
    }

    /// Committed output lines under a store dir: files not starting with '.' or '_', sorted.
    fn committed(&self, dir: &str) -> Vec<String> {
        e2e::committed_lines(&self.store().join(dir))
    }

    fn job_id(r: &Run) -> String {
        e2e::submitted_job(r)
    }

    fn state(am: &Rest, id: &str) -> Option<String> {
        e2e::job_state(am, id)
    }

    fn wait_state(&self, am: &Rest, id: &str, want: &str, limit: Duration) {
        self.c.wait_for(want, limit, || {
            let st = Self::state(am, id)?;
            assert!(st != "FAILED" || want == "FAILED", "job {id} FAILED: {}", am.get(&format!("/jobs/{id}/exceptions")).unwrap());
            (st == want).then_some(())
        });
    }

    fn completed_checkpoints(am: &Rest, id: &str) -> u64 {
        am.get(&format!("/jobs/{id}/checkpoints")).ok().and_then(|v| v["counts"]["completed"].as_u64()).unwrap_or(0)
    }

    fn num_restarts(am: &Rest, id: &str) -> u64 {
        am.get(&format!("/jobs/{id}/metrics?get=numRestarts"))
            .ok()
            .and_then(|v| v[0]["value"].as_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0)
    }

    /// kill -9 of the TaskManager running subtask `i` of the job's first vertex.
    fn kill_taskmanager_of(&self, am: &Rest, id: &str, i: usize) {
        let pid = self.c.wait_for("the job's TaskManager process", Duration::from_secs(20), || {
            let job = am.get(&format!("/jobs/{id}")).ok()?;
            let vid = job["vertices"][0]["id"].as_str()?.to_string();
            let vertex = am.get(&format!("/jobs/{id}/vertices/{vid}")).ok()?;
            let st = &vertex["subtasks"][i];
            (st["status"] == "RUNNING").then_some(())?;
            let cid = st["taskmanager-id"].as_str().filter(|c| c.starts_with("container_"))?.to_string();
            self.c
                .processes_inside()
                .into_iter()
                .find(|p| std::fs::read_link(format!("/proc/{p}/cwd")).map(|d| d.ends_with(&cid)).unwrap_or(false))
        });
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    }
}

fn example(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(p).display().to_string()
}

/// Per key, how many `(k,n)` lines: a StatefulCount output's final counts.
fn final_counts(lines: &[String]) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in lines {
        let k = l.trim_start_matches('(').split(',').next().unwrap_or("").to_string();
        *m.entry(k).or_insert(0) += 1;
    }
    m
}

fn line_after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines().find_map(|l| l.strip_prefix(prefix)).unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{out}"))
}

/// The store path of a `file:/...` location the CLI printed.
fn store_rel(f: &Flink, location: &str) -> String {
    let p = location.trim_start_matches("file:").trim_start_matches("//");
    Path::new(p).strip_prefix(f.store()).unwrap_or_else(|_| panic!("{location} is not in the store")).display().to_string()
}

#[test]
fn killed_taskmanagers_do_not_change_the_committed_output() {
    let f = Flink::start("ckpt-kill", 3);
    let am = f.session();
    let prog = example("streaming/StatefulCount.toml");
    // The fault-free run: the reference output.
    let r = f.run("flink", &["run", "-p", "2", &prog, "--output", "out/reference", "--count", "12000", "--rate", "0"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let reference = f.committed("out/reference");
    assert_eq!(reference.len(), 24_000, "one (key,count) line per record");
    assert_eq!(final_counts(&reference).len(), 100);
    // The same job, slower, with two TaskManager kills while it checkpoints.
    let r = f.run("flink", &["run", "-d", "-p", "2", &prog, "--output", "out/killed", "--count", "12000", "--rate", "1500"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = Flink::job_id(&r);
    f.wait_state(&am, &id, "RUNNING", Duration::from_secs(30));
    f.c.wait_for("2 completed checkpoints", Duration::from_secs(30), || (Flink::completed_checkpoints(&am, &id) >= 2).then_some(()));
    // The checkpoint REST API, in Flink's words.
    let v = am.get(&format!("/jobs/{id}/checkpoints")).unwrap();
    let c = &v["latest"]["completed"];
    assert_eq!(
        (c["className"].as_str(), c["status"].as_str(), c["checkpoint_type"].as_str()),
        (Some("completed"), Some("COMPLETED"), Some("CHECKPOINT")),
        "{v}"
    );
    assert_eq!(c["is_savepoint"], false);
    assert_eq!(c["num_acknowledged_subtasks"], c["num_subtasks"]);
    assert!(c["external_path"].as_str().unwrap().starts_with("file:/"), "{c}");
    for k in ["trigger_timestamp", "latest_ack_timestamp", "state_size", "checkpointed_size", "end_to_end_duration", "processed_data"] {
        assert!(c[k].is_number(), "{k} in {c}");
    }
    assert!(v["counts"]["total"].as_u64().unwrap() >= 2 && v["summary"]["end_to_end_duration"]["max"].is_number(), "{v}");
    let cid = c["id"].as_u64().unwrap();
    let details = am.get(&format!("/jobs/{id}/checkpoints/details/{cid}")).unwrap();
    let (vid, task) = details["tasks"].as_object().unwrap().iter().next().map(|(k, t)| (k.clone(), t.clone())).unwrap();
    assert_eq!(task["num_acknowledged_subtasks"], task["num_subtasks"]);
    let subtasks = am.get(&format!("/jobs/{id}/checkpoints/details/{cid}/subtasks/{vid}")).unwrap();
    assert_eq!(subtasks["subtasks"][0]["className"], "completed", "{subtasks}");
    let config = am.get(&format!("/jobs/{id}/checkpoints/config")).unwrap();
    assert_eq!((config["mode"].as_str(), config["interval"].as_u64()), (Some("exactly_once"), Some(500)));
    // Two kills, each after a checkpoint completed since the last restart.
    for round in 1..=2u64 {
        let before = Flink::completed_checkpoints(&am, &id);
        f.c.wait_for("a checkpoint since the last restart", Duration::from_secs(30), || {
            (Flink::completed_checkpoints(&am, &id) > before && Flink::state(&am, &id)? == "RUNNING").then_some(())
        });
        f.kill_taskmanager_of(&am, &id, 0);
        f.c.wait_for("numRestarts to rise", Duration::from_secs(30), || (Flink::num_restarts(&am, &id) >= round).then_some(()));
    }
    f.wait_state(&am, &id, "FINISHED", Duration::from_secs(120));
    let ex = am.get(&format!("/jobs/{id}/exceptions")).unwrap();
    assert!(ex["exceptionHistory"]["entries"].as_array().unwrap().len() >= 2, "{ex}");
    assert!(Flink::num_restarts(&am, &id) >= 2);
    let killed = f.committed("out/killed");
    assert_eq!(killed.len(), reference.len());
    assert!(killed == reference, "the output after two kills differs from the fault-free run");
}

#[test]
fn savepoint_stop_and_rescaled_restore_give_the_fault_free_counts() {
    let f = Flink::start("ckpt-savepoint", 4);
    let am = f.session();
    let prog = example("streaming/StatefulCount.toml");
    let r = f.run("flink", &["run", "-p", "2", &prog, "--output", "out/reference", "--count", "8000", "--rate", "0"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let reference = f.committed("out/reference");
    assert_eq!(reference.len(), 16_000);
    let r = f.run("flink", &["run", "-d", "-p", "2", &prog, "--output", "out/first", "--count", "8000", "--rate", "1000"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = Flink::job_id(&r);
    f.wait_state(&am, &id, "RUNNING", Duration::from_secs(30));
    f.c.wait_for("a completed checkpoint", Duration::from_secs(30), || (Flink::completed_checkpoints(&am, &id) >= 1).then_some(()));

    // flink checkpoint
    let r = f.run("flink", &["checkpoint", &id]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let lines: Vec<&str> = r.stdout.lines().filter(|l| !l.starts_with("Found ")).collect();
    assert_eq!(lines[0], format!("Triggering checkpoint for job {id}."));
    assert_eq!(lines[1], "Waiting for response...");
    let n: u64 = lines[2]
        .strip_prefix("Checkpoint ")
        .and_then(|l| l.strip_suffix(&format!(" for job {id} completed.")))
        .unwrap_or_else(|| panic!("{}", r.stdout))
        .parse()
        .unwrap();
    assert_eq!(lines[3], "You can resume your program from this checkpoint with the run command.");
    assert_eq!(am.get(&format!("/jobs/{id}/checkpoints/details/{n}")).unwrap()["status"], "COMPLETED");

    // flink savepoint into a directory of the store, given as a file: URI
    let sp_dir = format!("file://{}", f.store().join("savepoints").display());
    let r = f.run("flink", &["savepoint", &id, &sp_dir]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("Triggering savepoint for job {id}.\nWaiting for response...\n")), "{}", r.stdout);
    let sp = line_after(&r.stdout, "Savepoint completed. Path: ").to_string();
    assert!(sp.starts_with(&format!("file:{}/savepoint-{}-", f.store().join("savepoints").display(), &id[..6])), "{sp}");
    assert!(f.store().join(store_rel(&f, &sp)).join("_metadata").is_file());
    assert!(r.stdout.contains("You can resume your program from this savepoint with the run command."));
    assert_eq!(Flink::state(&am, &id).as_deref(), Some("RUNNING"), "a savepoint does not stop the job");

    // -detached: the trigger id comes back at once; the result is polled over REST.
    let r = f.run("flink", &["savepoint", "-detached", &id, "savepoints"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("Triggering savepoint in detached mode for job {id}.\n")), "{}", r.stdout);
    let trigger = line_after(&r.stdout, "Successfully trigger manual savepoint, triggerId: ").to_string();
    assert_eq!(trigger.len(), 32);
    let location = f.c.wait_for("the detached savepoint", Duration::from_secs(30), || {
        let v = am.get(&format!("/jobs/{id}/savepoints/{trigger}")).ok()?;
        (v["status"]["id"] == "COMPLETED").then(|| v["operation"]["location"].as_str().map(String::from)).flatten()
    });
    assert!(f.store().join(store_rel(&f, &location)).join("_metadata").is_file(), "{location}");

    // flink stop --savepointPath: a synchronous savepoint, then FINISHED
    let r = f.run("flink", &["stop", "--savepointPath", &sp_dir, &id]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "Suspending job \"{id}\" with a CANONICAL savepoint.\nTriggering stop-with-savepoint for job {id}.\nWaiting for response...\n"
        )),
        "{}",
        r.stdout
    );
    let stop_sp = line_after(&r.stdout, "Savepoint completed. Path: ").to_string();
    f.wait_state(&am, &id, "FINISHED", Duration::from_secs(30));
    let history = am.get(&format!("/jobs/{id}/checkpoints")).unwrap();
    let types: Vec<&str> = history["history"].as_array().unwrap().iter().filter_map(|h| h["checkpoint_type"].as_str()).collect();
    assert!(types.contains(&"SYNC_SAVEPOINT") && types.contains(&"SAVEPOINT"), "{history}");
    let first = f.committed("out/first");
    assert!(first.len() < reference.len(), "the stopped job wrote only part of the output");

    // flink run -s <savepoint> -p 4: restored, rescaled from 2 to 4, continues to the end.
    let r = f.run("flink", &["run", "-s", &stop_sp, "-p", "4", &prog, "--output", "out/second", "--count", "8000", "--rate", "0"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id2 = Flink::job_id(&r);
    assert_ne!(id2, id);
    let restored = am.get(&format!("/jobs/{id2}/checkpoints")).unwrap();
    assert_eq!(restored["latest"]["restored"]["is_savepoint"], true, "{restored}");
    assert_eq!(restored["latest"]["restored"]["external_path"], stop_sp.as_str());
    // Another program cannot take the savepoint's state unless -n allows skipping it.
    let other = f.c.work.join("other.toml");
    std::fs::write(
        &other,
        "[[job]]\nname = \"Other\"\n[[job.step]]\nsource = { type = \"sequence\", from = 1, to = 10 }\n[[job.step]]\nsink = \"discard\"\n",
    )
    .unwrap();
    let r = f.run("flink", &["run", "-s", &stop_sp, other.to_str().unwrap()]);
    assert_ne!(r.code, 0, "{}", r.stdout);
    assert!(
        r.stderr.contains("Cannot map checkpoint/savepoint state for operator") && r.stderr.contains("--allowNonRestoredState"),
        "{}",
        r.stderr
    );
    let r = f.run("flink", &["run", "-s", &stop_sp, "-n", other.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let mut both = first;
    both.extend(f.committed("out/second"));
    both.sort();
    assert_eq!(final_counts(&both), final_counts(&reference));
    assert!(both == reference, "savepoint + restore output differs from the fault-free run");
}

#[test]
fn bad_checkpoint_and_savepoint_requests_fail_clearly_and_change_nothing() {
    let f = Flink::start("ckpt-bad", 2);
    let am = f.session();
    let prog = example("streaming/StatefulCount.toml");
    let jobs = |am: &Rest| am.get("/jobs/overview").unwrap()["jobs"].as_array().unwrap().len();
    // A restore path that does not exist / is not a savepoint / is outside the store.
    let missing = format!("file://{}/savepoints/savepoint-000000-000000000000", f.store().display());
    for (path, msg) in [
        (missing.as_str(), "Cannot find checkpoint or savepoint file/directory"),
        ("out", "Cannot find checkpoint or savepoint file/directory"),
        ("/etc", "is outside the shared store"),
    ] {
        let r = f.run("flink", &["run", "-s", path, &prog, "--output", "out/x"]);
        assert_ne!(r.code, 0, "{path}: {}", r.stdout);
        assert!(r.stderr.contains("The program finished with the following exception") && r.stderr.contains(msg), "{path}: {}", r.stderr);
    }
    std::fs::create_dir_all(f.store().join("not-a-savepoint")).unwrap();
    let r = f.run("flink", &["run", "-s", "not-a-savepoint", &prog, "--output", "out/x"]);
    assert!(r.code != 0 && r.stderr.contains("Cannot find meta data file '_metadata'"), "{}", r.stderr);
    // Checkpoint interval below 10 ms.
    let r = f.run("flink", &["run", "-D", "execution.checkpointing.interval=5ms", &prog, "--output", "out/x"]);
    assert!(r.code != 0 && r.stderr.contains("Checkpoint interval must be larger than or equal to 10 ms"), "{}", r.stderr);
    assert_eq!(jobs(&am), 0, "nothing was submitted");
    // A session with a bad checkpoint setting is refused before it is deployed.
    let app_ids = || -> Vec<String> {
        e2e::list(&f.c.rest().get("/ws/v1/cluster/apps").unwrap(), "apps", "app").iter().map(|a| e2e::s(a, "id")).collect()
    };
    let apps = app_ids();
    let r = f.run("yarn-session", &["-d", "-D", "execution.checkpointing.dir=file:///elsewhere"]);
    assert!(r.code != 0 && r.stderr.contains("is outside the shared store"), "{}\n{}", r.stdout, r.stderr);
    assert_eq!(app_ids(), apps, "no application was submitted");
    // A running job: savepoint without a directory (none configured), to outside the store,
    // for an unknown job; stop/checkpoint of an unknown job.
    let r = f.run("flink", &["run", "-d", "-p", "1", &prog, "--output", "out/bad", "--count", "100000", "--rate", "500"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = Flink::job_id(&r);
    f.wait_state(&am, &id, "RUNNING", Duration::from_secs(30));
    let r = f.run("flink", &["savepoint", &id]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains(&format!("Failed to trigger a savepoint for the job {id}.")), "{}", r.stderr);
    assert!(
        r.stderr.contains("Config key [execution.checkpointing.savepoint-dir] is not set. Property [target-directory] must be provided."),
        "{}",
        r.stderr
    );
    let r = f.run("flink", &["stop", &id]);
    assert!(r.code != 0 && r.stderr.contains("Property [targetDirectory] must be provided."), "{}", r.stderr);
    let r = f.run("flink", &["savepoint", &id, "file:///elsewhere/sp"]);
    assert!(r.code != 0 && r.stderr.contains("is outside the shared store"), "{}", r.stderr);
    let unknown = "0123456789abcdef0123456789abcdef";
    for args in [vec!["savepoint", unknown, "sp"], vec!["checkpoint", unknown], vec!["stop", "-p", "sp", unknown]] {
        let r = f.run("flink", &args);
        assert!(r.code != 0 && r.stderr.contains(&format!("Job {unknown} not found")), "{args:?}: {}", r.stderr);
    }
    let r = f.run("flink", &["savepoint", "not-a-job-id", "sp"]);
    assert!(r.code != 0 && r.stderr.contains("is not a valid ID"), "{}", r.stderr);
    assert_eq!(Flink::state(&am, &id).as_deref(), Some("RUNNING"), "the job is untouched");
    // Unknown triggers; a job without checkpointing (submitted with -m: no session properties).
    let (code, body) = curl(&[&format!("{}/jobs/{id}/savepoints/{unknown}", am.base())]);
    assert_eq!(code, 404);
    assert!(body.contains(&format!("There is no savepoint operation with triggerId={unknown} for job {id}.")), "{body}");
    let host = am.base().trim_start_matches("http://").to_string();
    let r = f.run("flink", &["run", "-d", "-m", &host, &prog, "--output", "out/nockpt", "--count", "100000", "--rate", "500"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let plain = Flink::job_id(&r);
    let (code, body) = curl(&[&format!("{}/jobs/{plain}/checkpoints", am.base())]);
    assert_eq!((code, body.as_str()), (404, r#"{"errors":["Checkpointing has not been enabled."]}"#));
    let (code, _) = curl(&[&format!("{}/v1/jobs/{plain}/checkpoints/config", am.base())]);
    assert_eq!(code, 404);
    // Savepoints need no periodic checkpointing (Flink's as well), only running tasks.
    f.c.wait_for("all tasks RUNNING", Duration::from_secs(30), || {
        let counts = am.get(&format!("/jobs/{plain}")).ok()?["status-counts"].clone();
        let total: u64 = counts.as_object()?.values().filter_map(|v| v.as_u64()).sum();
        (total > 0 && counts["RUNNING"].as_u64() == Some(total)).then_some(())
    });
    let r = f.run("flink", &["savepoint", &plain, "sp-plain"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let sp = line_after(&r.stdout, "Savepoint completed. Path: ").to_string();
    assert!(f.store().join(store_rel(&f, &sp)).join("_metadata").is_file(), "{sp}");
    // The deprecated cancel-with-savepoint.
    let r = f.run("flink", &["cancel", "-s", "sp-cancel", &plain]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains(&format!(
            "DEPRECATION WARNING: Cancelling a job with savepoint is deprecated. Use \"stop\" instead.\nCancelling job {plain} with CANONICAL savepoint to sp-cancel.\n"
        )),
        "{}",
        r.stdout
    );
    let stored = line_after(&r.stdout, &format!("Cancelled job {plain}. Savepoint stored in ")).trim_end_matches('.').to_string();
    assert!(f.store().join(store_rel(&f, &stored)).join("_metadata").is_file(), "{stored}");
    f.wait_state(&am, &plain, "CANCELED", Duration::from_secs(30));
    // stop --drain says so, and the job ends FINISHED.
    let r = f.run("flink", &["stop", "--drain", "-p", "sp-drain", &id]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("Draining job \"{id}\" with a CANONICAL savepoint.\n")), "{}", r.stdout);
    f.wait_state(&am, &id, "FINISHED", Duration::from_secs(30));
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (b, c) = t.rsplit_once('\n').unwrap();
    (c.parse().unwrap(), b.to_string())
}

/// Application mode: the AM builds the JobGraph from the shipped configuration, so
/// `-D execution.checkpointing.interval` reaches the job there too; its output equals a
/// session run's.
#[test]
fn application_mode_jobs_checkpoint_with_the_shipped_configuration() {
    let f = Flink::start("ckpt-app", 3);
    let prog = example("streaming/StatefulCount.toml");
    let r = f.run(
        "flink",
        &[
            "run-application",
            "-t",
            "yarn-application",
            "-D",
            "execution.checkpointing.interval=200ms",
            "-p",
            "2",
            &prog,
            "--output",
            "out/app",
            "--count",
            "3000",
            "--rate",
            "1000",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let app = line_after(&r.stdout, "Submitted application ").split_whitespace().next().unwrap().to_string();
    let logs = f.c.yarn(&["logs", "-applicationId", &app, "-log_files", "jobmanager.log"]);
    assert!(logs.stdout.contains("Completed checkpoint 1 for job "), "{}", logs.stdout);
    let out = f.committed("out/app");
    assert_eq!(out.len(), 6000);
    // The same counts as any fault-free run: keys 0..99, (k,1)..(k,n_k) each once.
    let counts = final_counts(&out);
    for (k, n) in &counts {
        for i in 1..=*n {
            assert!(out.binary_search(&format!("({k},{i})")).is_ok(), "({k},{i}) missing");
        }
    }
    // A bad setting fails in the client, before anything is deployed.
    let r =
        f.run("flink", &["run-application", "-t", "yarn-application", "-D", "execution.checkpointing.timeout=1ms", &prog, "--output", "x"]);
    assert!(r.code != 0 && r.stderr.contains("Checkpoint timeout must be larger than or equal to 10 ms"), "{}", r.stderr);
    assert!(!r.stdout.contains("Submitted application"), "{}", r.stdout);
}
