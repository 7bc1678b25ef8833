//! Flink on yarn-sim end to end: real yarn-session / flink CLIs, a real AM and TaskManager
//! processes, real jobs with checked output.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{bin, list, s, Cluster, Run};

/// A cluster plus a Flink configuration dir whose properties file lives in the test's dir.
struct Flink {
    c: Cluster,
    conf_dir: PathBuf,
}

impl Flink {
    fn start(name: &str, nodes: u32) -> Flink {
        let c = Cluster::start(name, nodes, &[]);
        let conf_dir = c.work.join("flink-conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::write(
            conf_dir.join("config.yaml"),
            format!("yarn.properties-file.location: {}\nheartbeat.interval: 500 ms\nheartbeat.timeout: 3 s\nrestart-strategy.type: fixed-delay\nrestart-strategy.fixed-delay.attempts: 3\nrestart-strategy.fixed-delay.delay: 200 ms\n", c.work.display()),
        )
        .unwrap();
        Flink { c, conf_dir }
    }

    fn cmd(&self, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin(program));
        cmd.args(args).env("YARN_CONF_DIR", self.c.conf_dir()).env("FLINK_CONF_DIR", &self.conf_dir).env_remove("HADOOP_CONF_DIR");
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Run {
        self.cmd(program, args).stdin(Stdio::null()).output().unwrap().into()
    }

    fn session(&self, extra: &[&str]) -> (String, String) {
        let mut args = vec!["-jm", "256m", "-tm", "512m", "-s", "2", "-nm", "demo", "-d"];
        args.extend_from_slice(extra);
        let r = self.run("yarn-session", &args);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        assert!(
            r.stdout.contains("Deploying cluster, current state ACCEPTED")
                || r.stdout.contains("YARN application has been deployed successfully."),
            "{}",
            r.stdout
        );
        assert!(r.stdout.contains("YARN application has been deployed successfully."), "{}", r.stdout);
        let web =
            r.stdout.lines().find_map(|l| l.strip_prefix("JobManager Web Interface: http://")).expect("web interface line").to_string();
        let app = r.stdout.lines().find_map(|l| l.strip_prefix("Submitted application ")).expect("app id").trim().to_string();
        (app, web)
    }

    fn properties(&self) -> PathBuf {
        self.c.work.join(format!(".yarn-properties-{}", yarn_sim::cli::current_user()))
    }

    /// Containers of the app's first attempt (AM included).
    fn containers(&self, app: &str) -> Vec<serde_json::Value> {
        let att = app.replace("application_", "appattempt_") + "_000001";
        let v = self.c.rest().get(&format!("/ws/v1/cluster/apps/{app}/appattempts/{att}/containers")).unwrap();
        list(&v, "containers", "container").into_iter().cloned().collect()
    }

    /// The print sink's "N> (word,count)" lines from every TaskManager's stdout.
    fn printed(&self, app: &str) -> Vec<String> {
        let logs = self.c.yarn(&["logs", "-applicationId", app, "-log_files", "taskmanager.out"]);
        logs.stdout.lines().filter(|l| l.contains("> (") || l.starts_with('(')).map(String::from).collect()
    }
}

/// The final count per word of a streaming sum that printed every update. Each word's updates
/// must be exactly 1, 2, .., n in print order (one subtask owns a word): a lost or duplicated
/// update fails here instead of being hidden by taking the largest.
fn final_counts(lines: &[String]) -> BTreeMap<String, i64> {
    let mut updates: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for l in lines {
        let t = l.split_once("> ").map(|x| x.1).unwrap_or(l).trim_start_matches('(').trim_end_matches(')');
        if let Some((w, c)) = t.rsplit_once(',') {
            updates.entry(w.to_string()).or_default().push(c.parse().unwrap());
        }
    }
    updates
        .into_iter()
        .map(|(w, seq)| {
            let n = seq.len() as i64;
            assert_eq!(seq, (1..=n).collect::<Vec<_>>(), "updates of '{w}' are not exactly 1..={n}");
            (w, n)
        })
        .collect()
}

fn example(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples").join(p).display().to_string()
}

#[test]
fn session_wordcount_gives_exact_counts_on_two_taskmanagers() {
    let f = Flink::start("flink-wc", 3);
    let ship = f.c.work.join("ship");
    std::fs::create_dir_all(&ship).unwrap();
    std::fs::write(ship.join("lookup.csv"), "a,1\n").unwrap();
    let (app, web) = f.session(&["-t", ship.to_str().unwrap()]);
    assert!(f.properties().exists());
    let input = f.c.work.join("input.txt");
    std::fs::write(&input, "to be or not to be\nthat is the question\nto be\n").unwrap();
    let r = f.run("flink", &["run", "-p", "4", &example("streaming/WordCount.toml"), "--input", input.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Found Yarn properties file under"), "{}", r.stdout);
    assert!(r.stdout.contains("Job has been submitted with JobID "), "{}", r.stdout);
    assert!(r.stdout.contains("Program execution finished"), "{}", r.stdout);
    assert!(r.stdout.contains("Job Runtime: "), "{}", r.stdout);
    // -p 4 with 2 slots per TaskManager: exactly two TaskManager containers.
    let tms = f.containers(&app).into_iter().filter(|c| !s(c, "containerId").ends_with("_000001")).count();
    assert_eq!(tms, 2);
    // Ship files (-t) reach the AM's and every TaskManager's working dir.
    let shipped: Vec<String> = (0..3)
        .flat_map(|i| {
            std::fs::read_dir(f.c.work.join(format!("nm-{i}/local/usercache/{}/appcache/{app}", yarn_sim::cli::current_user())))
                .into_iter()
                .flatten()
                .flatten()
        })
        .filter(|e| e.path().join("lookup.csv").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(shipped.len(), 3, "AM + 2 TaskManagers: {shipped:?}");
    let counts = final_counts(&f.printed(&app));
    let expected: BTreeMap<String, i64> =
        [("to", 3), ("be", 3), ("or", 1), ("not", 1), ("that", 1), ("is", 1), ("the", 1), ("question", 1)]
            .iter()
            .map(|(w, c)| (w.to_string(), *c))
            .collect();
    assert_eq!(counts, expected);
    // The REST API and `flink list` see the finished job.
    let ov = e2e::Rest::new(&web).get("/jobs/overview").unwrap();
    assert_eq!(ov["jobs"][0]["state"], "FINISHED");
    let l = f.run("flink", &["list", "-a"]);
    assert!(l.stdout.contains("(FINISHED)"), "{}", l.stdout);
}

#[test]
fn cancel_ends_the_job_canceled_and_bad_requests_get_flink_errors() {
    let f = Flink::start("flink-cancel", 2);
    let (_app, web) = f.session(&[]);
    let prog = f.c.work.join("endless.toml");
    std::fs::write(&prog, "[[job]]\nname = \"Endless\"\n[[job.step]]\nsource = { type = \"datagen\", kind = \"numbers\", rate-per-sec = 100, seed = 1 }\n[[job.step]]\nsink = \"discard\"\n").unwrap();
    let r = f.run("flink", &["run", "-d", prog.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = r.stdout.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).unwrap().trim().to_string();
    let am = e2e::Rest::new(&web);
    f.c.wait_for("RUNNING", Duration::from_secs(20), || (am.get(&format!("/jobs/{id}")).ok()?["state"] == "RUNNING").then_some(()));
    let l = f.run("flink", &["list"]);
    assert!(l.stdout.contains("------------------ Running/Restarting Jobs -------------------"), "{}", l.stdout);
    assert!(l.stdout.contains(&format!(" : {id} : Endless (RUNNING)")), "{}", l.stdout);
    let c = f.run("flink", &["cancel", &id]);
    assert_eq!(c.code, 0, "{}", c.stderr);
    assert_eq!(
        c.stdout.lines().filter(|l| l.starts_with("Cancel")).collect::<Vec<_>>(),
        vec![format!("Cancelling job {id}."), format!("Cancelled job {id}.")]
    );
    f.c.wait_for("CANCELED", Duration::from_secs(20), || (am.get(&format!("/jobs/{id}")).ok()?["state"] == "CANCELED").then_some(()));
    // Bad input, Flink's error format, nothing changes.
    let (code, body) = curl(&["-X", "POST", "-d", "not a job graph", &format!("http://{web}/jobs")]);
    assert_eq!(code, 400);
    assert!(body.contains("\"errors\""), "{body}");
    let (code, _) = curl(&[&format!("http://{web}/jobs/00000000000000000000000000000000")]);
    assert_eq!(code, 404);
    let (code, _) = curl(&[&format!("http://{web}/v1/jobs/nothex")]);
    assert_eq!(code, 400);
    assert_eq!(am.get("/jobs/overview").unwrap()["jobs"].as_array().unwrap().len(), 1);
}

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().unwrap();
    let t = String::from_utf8_lossy(&out.stdout).to_string();
    let (b, c) = t.rsplit_once('\n').unwrap();
    (c.parse().unwrap(), b.to_string())
}

/// Committed file-sink output under a store dir (files not starting with '.' or '_'), sorted.
fn committed(f: &Flink, dir: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(f.c.work.join("dfs").join(dir)).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if !name.starts_with('.') && !name.starts_with('_') && e.path().is_file() {
            lines.extend(std::fs::read_to_string(e.path()).unwrap().lines().map(String::from));
        }
    }
    lines.sort();
    lines
}

#[test]
fn killing_a_taskmanager_restarts_the_job_and_its_checkpointed_output_is_exactly_once() {
    let f = Flink::start("flink-kill-tm", 3);
    let (_app, web) = f.session(&[]);
    let prog = f.c.work.join("slow.toml");
    std::fs::write(
        &prog,
        "[[job]]\nname = \"Slow\"\nparallelism = 2\n[[job.step]]\nsource = { type = \"datagen\", kind = \"numbers\", rate-per-sec = \"${rate:-200}\", count = 600, seed = 2 }\n[[job.step]]\nsink = { type = \"file\", path = \"${output}\" }\n",
    )
    .unwrap();
    let prog = prog.to_str().unwrap();
    // The fault-free run is the reference.
    let r = f.run("flink", &["run", prog, "--output", "out/reference", "--rate", "0"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let reference = committed(&f, "out/reference");
    assert_eq!(reference.len(), 1200);
    let r = f.run("flink", &["run", "-d", "-D", "execution.checkpointing.interval=200ms", prog, "--output", "out/killed"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = r.stdout.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).unwrap().trim().to_string();
    let am = e2e::Rest::new(&web);
    f.c.wait_for("RUNNING with a completed checkpoint", Duration::from_secs(20), || {
        let v = am.get(&format!("/jobs/{id}/checkpoints")).ok()?;
        (v["counts"]["completed"].as_u64()? >= 1).then_some(())
    });
    // kill -9 the TaskManager that runs the job's first subtask (its id is its container id),
    // found by the container's working directory. Another, idle TaskManager may exist.
    let pid = f.c.wait_for("the job's TaskManager process", Duration::from_secs(10), || {
        let job = am.get(&format!("/jobs/{id}")).ok()?;
        let vid = job["vertices"][0]["id"].as_str()?.to_string();
        let vertex = am.get(&format!("/jobs/{id}/vertices/{vid}")).ok()?;
        let cid = vertex["subtasks"][0]["taskmanager-id"].as_str().filter(|c| c.starts_with("container_"))?.to_string();
        f.c.processes_inside()
            .into_iter()
            .find(|p| std::fs::read_link(format!("/proc/{p}/cwd")).map(|d| d.ends_with(&cid)).unwrap_or(false))
    });
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    f.c.wait_for("FINISHED", Duration::from_secs(60), || {
        let st = am.get(&format!("/jobs/{id}")).ok()?["state"].as_str()?.to_string();
        assert_ne!(st, "FAILED");
        (st == "FINISHED").then_some(())
    });
    let ex = am.get(&format!("/jobs/{id}/exceptions")).unwrap();
    assert!(!ex["exceptionHistory"]["entries"].as_array().unwrap().is_empty(), "{ex}");
    let restarts = am.get(&format!("/jobs/{id}/metrics?get=numRestarts")).unwrap();
    assert_ne!(restarts[0]["value"], "0", "{restarts}");
    // Exactly once: the restart neither lost nor repeated a committed line.
    assert!(committed(&f, "out/killed") == reference, "output after the kill differs from the fault-free run");
}

#[test]
fn application_mode_runs_topspeedwindowing_to_completion() {
    let f = Flink::start("flink-app", 2);
    let r = f.run("flink", &["run-application", "-t", "yarn-application", &example("streaming/TopSpeedWindowing.toml")]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let app = r
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("Submitted application "))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .unwrap();
    let v = f.c.app(&app);
    assert_eq!((s(&v, "state"), s(&v, "finalStatus")), ("FINISHED".into(), "SUCCEEDED".into()));
    // No containers left.
    f.c.wait_for("containers released", Duration::from_secs(10), || {
        f.containers(&app).iter().all(|c| s(c, "containerState") == "COMPLETE").then_some(())
    });
    assert!(!f.printed(&app).is_empty(), "TopSpeedWindowing printed its windows");
}

#[test]
fn per_job_mode_runs_one_job_and_warns() {
    let f = Flink::start("flink-perjob", 2);
    let r = f.run("flink", &["run", "-t", "yarn-per-job", &example("batch/WordCount.toml")]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("deprecated"), "{}", r.stdout);
    assert!(r.stdout.contains("final state SUCCEEDED"), "{}", r.stdout);
}

#[test]
fn attached_session_stops_from_stdin_and_removes_the_properties_file() {
    let f = Flink::start("flink-attached", 1);
    let mut child = f
        .cmd("yarn-session", &["-jm", "256m", "-tm", "512m"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    f.c.wait_for("the properties file", Duration::from_secs(20), || f.properties().exists().then_some(()));
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "help").unwrap();
    writeln!(stdin, "stop").unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("Available commands:"), "{text}");
    assert!(text.contains("finished with state FINISHED and final state SUCCEEDED"), "{text}");
    assert!(!f.properties().exists());
}

#[test]
fn bad_deployments_fail_clearly_and_leave_nothing_running() {
    let f = Flink::start("flink-bad", 1);
    let r = f.run("yarn-session", &["-qu", "nosuchqueue", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("unknown queue: nosuchqueue"), "{}", r.stderr);
    // Flink's getSlot: fewer than one slot is refused before anything is deployed.
    let r = f.run("yarn-session", &["-s", "0", "-d"]);
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("Invalid configuration value for taskmanager.numberOfTaskSlots : 0 - Number of task slots must be at least one."),
        "{}",
        r.stderr
    );
    let r = f.run("yarn-session", &["-tm", "100000", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("The cluster does not have the requested resources for the TaskManagers available!"), "{}", r.stderr);
    let bad = f.c.work.join("bad.toml");
    std::fs::write(&bad, "[[job]]\n[[job.step]]\nfrobnicate = 1\n").unwrap();
    let r = f.run("flink", &["run-application", "-t", "yarn-application", bad.to_str().unwrap()]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("The program finished with the following exception"), "{}", r.stderr);
    // ZooKeeper HA settings are checked in the client, before anything is deployed.
    let r = f.run("yarn-session", &["-D", "high-availability.type=zookeeper", "-D", "high-availability.storageDir=ha", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("No ZooKeeper quorum specified in config (high-availability.zookeeper.quorum)."), "{}", r.stderr);
    let quorum = "high-availability.zookeeper.quorum=127.0.0.1:2181,127.0.0.1:2182";
    let r = f.run("yarn-session", &["-D", "high-availability.type=zookeeper", "-D", quorum, "-D", "high-availability.storageDir=ha", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("this harness runs a standalone ZooKeeper"), "{}", r.stderr);
    let r =
        f.run("yarn-session", &["-D", "high-availability.type=zookeeper", "-D", "high-availability.zookeeper.quorum=127.0.0.1:2181", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Configuration is missing the mandatory parameter: high-availability.storageDir"), "{}", r.stderr);
    let r = f.run("yarn-session", &["-D", "high-availability.type=kubernetes", "-d"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Invalid configuration value for high-availability.type: 'kubernetes'"), "{}", r.stderr);
    let running = f.c.rest().get("/ws/v1/cluster/apps?states=ACCEPTED,RUNNING").unwrap();
    assert!(list(&running, "apps", "app").is_empty(), "{running}");
}

/// Fail early: an `--input` that is missing or a directory is refused by the client, and a
/// JobGraph with duplicate vertex ids by the AM's `POST /jobs`; nothing is submitted.
#[test]
fn bad_inputs_and_duplicate_vertex_ids_are_refused_before_anything_runs() {
    let f = Flink::start("flink-failearly", 1);
    // Flink's yarn.view.acls reach YARN as the application's VIEW_APP ACL.
    let (app, web) = f.session(&["-D", "yarn.view.acls=bob"]);
    let as_user = |u: &str| f.c.rest().get(&format!("/ws/v1/cluster/apps/{app}?user.name={u}")).unwrap()["app"].clone();
    assert!(as_user("bob")["startedTime"].as_u64().unwrap() > 0);
    assert_eq!(as_user("carol")["startedTime"], 0);
    let wc = example("streaming/WordCount.toml");
    let missing = f.c.work.join("no-such-input.txt");
    let r = f.run("flink", &["run", &wc, "--input", missing.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains(&format!("java.io.FileNotFoundException: File file:{} does not exist", missing.display())), "{}", r.stderr);
    let r = f.run("flink", &["run", &wc, "--input", f.c.work.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stderr.contains("is a directory: --input takes a single file"), "{}", r.stderr);
    let am = e2e::Rest::new(&web);
    assert_eq!(am.get("/jobs/overview").unwrap()["jobs"].as_array().unwrap().len(), 0, "nothing was submitted");

    // A JobGraph whose second vertex reuses the first one's id.
    let text = std::fs::read_to_string(&wc).unwrap();
    let program = flink_core::program::Program::parse(&text, &[]).unwrap();
    let mut next = 1u128;
    let mut graphs = program
        .job_graphs(2, &mut || {
            next += 1;
            next
        })
        .unwrap();
    let mut g = serde_json::to_value(graphs.remove(0)).unwrap();
    let vertices = g["vertices"].as_array_mut().unwrap();
    assert!(vertices.len() >= 2);
    vertices[1]["id"] = vertices[0]["id"].clone();
    let (code, body) = curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", &g.to_string(), &format!("http://{web}/jobs")]);
    assert_eq!(code, 400, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(v["errors"][0].as_str().unwrap().contains("The JobGraph already contains a vertex with that id."), "{body}");
    assert_eq!(am.get("/jobs/overview").unwrap()["jobs"].as_array().unwrap().len(), 0, "nothing was submitted");
}
