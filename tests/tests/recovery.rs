//! RM and NM restarts that lose nothing, end to end: real daemons, real `kill -9`.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use e2e::{list, s, Cluster, Daemon};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

/// A temp dir holding an extra yarn-site file; removed however the test ends.
struct ExtraConf {
    dir: std::path::PathBuf,
    file: std::path::PathBuf,
}

impl Drop for ExtraConf {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn conf_file(work: &Path, pairs: &[(&str, &str)]) -> ExtraConf {
    std::fs::create_dir_all(work).unwrap();
    let f = work.join("extra-site.xml");
    let props: String = pairs.iter().map(|(k, v)| format!("<property><name>{k}</name><value>{v}</value></property>")).collect();
    std::fs::write(&f, format!("<?xml version=\"1.0\"?><configuration>{props}</configuration>")).unwrap();
    ExtraConf { dir: work.to_path_buf(), file: f }
}

fn long_dshell(c: &Cluster, n: &str, cmd: &str) -> (Child, String) {
    let child = Command::new(e2e::bin("yarn-sim"))
        .args(["dshell", "--num-containers", n, "--container-memory", "256", "--shell-command", cmd])
        .env("YARN_CONF_DIR", c.conf_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let id = c.wait_for("the app to be RUNNING", Duration::from_secs(20), || {
        let v = c.rest().get("/ws/v1/cluster/apps?states=RUNNING").ok()?;
        list(&v, "apps", "app").first().map(|a| s(a, "id"))
    });
    (child, id)
}

fn containers(c: &Cluster, id: &str) -> Vec<serde_json::Value> {
    let attempt = id.replace("application_", "appattempt_") + "_000001";
    c.rest()
        .get(&format!("/ws/v1/cluster/apps/{id}/appattempts/{attempt}/containers"))
        .map(|v| list(&v, "containers", "container").into_iter().cloned().collect())
        .unwrap_or_default()
}

fn running(c: &Cluster, id: &str) -> usize {
    containers(c, id).iter().filter(|x| s(x, "containerState") == "RUNNING").count()
}

#[test]
fn rm_kill_9_and_restart_with_recovery_keeps_a_running_dshell_app() {
    let work = std::env::temp_dir().join(format!("e2e-rm-restart-{}-conf", std::process::id()));
    let extra = conf_file(&work, &[("yarn.resourcemanager.recovery.enabled", "true")]);
    let c = Cluster::start("rm-restart", 2, &["--conf", extra.file.to_str().unwrap()]);
    let pids = c.work.join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let cmd = format!("echo $$ > {}/$CONTAINER_ID; sleep 6; echo done", pids.display());
    let (client, id) = long_dshell(&c, "2", &cmd);
    c.wait_for("AM + 2 workers RUNNING", Duration::from_secs(20), || (running(&c, &id) == 3).then_some(()));
    let worker_pids: Vec<i32> = c.wait_for("the workers' pid files", Duration::from_secs(10), || {
        let v: Vec<i32> =
            std::fs::read_dir(&pids).ok()?.flatten().filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok()).collect();
        (v.len() == 2).then_some(v)
    });
    let ts = c.rest().get("/ws/v1/cluster/info").unwrap()["clusterInfo"]["id"].clone();
    assert!(ts.is_u64() && id.contains(&ts.to_string()), "{ts} {id}");

    c.kill_9("resourcemanager");
    std::thread::sleep(Duration::from_millis(500));
    // The containers outlive the RM.
    for p in &worker_pids {
        assert!(kill(Pid::from_raw(*p), None).is_ok(), "worker {p} died with the RM");
    }
    let _rm = c.start_resourcemanager();
    c.wait_for("the restarted RM", Duration::from_secs(10), || c.rest().get("/ws/v1/cluster/info").ok());
    // Same cluster timestamp, same app, same attempt; the NMs resynced and the containers
    // were rebuilt from their reports.
    assert_eq!(c.rest().get("/ws/v1/cluster/info").unwrap()["clusterInfo"]["id"], ts);
    let app = c.app(&id);
    assert!(matches!(s(&app, "state").as_str(), "RUNNING" | "FINISHED"), "{app}");
    c.wait_for("the containers recovered", Duration::from_secs(10), || (containers(&c, &id).len() >= 3).then_some(()));
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Application completed successfully"), "{stdout}");
    let app = c.app(&id);
    assert_eq!((s(&app, "state"), s(&app, "finalStatus")), ("FINISHED".into(), "SUCCEEDED".into()));
    let att = c.yarn(&["applicationattempt", "-list", &id]);
    assert!(att.stdout.starts_with("Total number of application attempts :1\n"), "{}", att.stdout);
    // Both workers ran to their end ("done"), none was restarted.
    let logs = c.yarn(&["logs", "-applicationId", &id, "-log_files", "stdout"]);
    assert_eq!(logs.stdout.matches("\ndone").count() + logs.stdout.matches("\rdone").count(), 2, "{}", logs.stdout);
    let status = Command::new(e2e::bin("yarn-sim")).args(["status", "--work-dir"]).arg(&c.work).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.contains("resourcemanager") && status.contains("running"), "{status}");
    assert_eq!(c.stop_and_list_leftovers(), Vec::<u32>::new());
}

#[test]
fn an_rm_refuses_a_state_store_of_another_cluster() {
    let work = std::env::temp_dir().join(format!("e2e-rm-foreign-{}-conf", std::process::id()));
    let extra = conf_file(&work, &[("yarn.resourcemanager.recovery.enabled", "true")]);
    let c = Cluster::start("rm-foreign", 1, &["--conf", extra.file.to_str().unwrap()]);
    c.kill_9("resourcemanager");
    // Another cluster's store where this one's was.
    let node = c.work.join("dfs/yarn/system/rmstore/FSRMStateRoot/RMClusterNode");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&node).unwrap()).unwrap();
    v["cluster_id"] = "someone-else".into();
    std::fs::write(&node, v.to_string()).unwrap();
    let mut rm = c.start_resourcemanager();
    let code = c.wait_for("the RM to refuse", Duration::from_secs(10), || rm.0.try_wait().unwrap());
    assert_eq!(code.code(), Some(1));
    let log = e2e::read(&c.work.join("logs/resourcemanager.log"));
    assert!(log.contains("belongs to cluster 'someone-else', not to this ResourceManager's cluster 'yarn-cluster'"), "{log}");
}

fn pid_files(dir: &Path, suffix: &str) -> Vec<i32> {
    std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(suffix))
        .filter_map(|e| std::fs::read_to_string(e.path()).ok()?.trim().parse().ok())
        .collect()
}

/// Alive and not a zombie.
fn alive(pid: i32) -> bool {
    e2e::alive(pid as u32)
}

#[test]
fn nm_kill_9_and_restart_with_recovery_reattaches_its_containers() {
    let work = std::env::temp_dir().join(format!("e2e-nm-restart-{}-conf", std::process::id()));
    // The node must come back before the RM declares it LOST: 10 s here.
    let extra =
        conf_file(&work, &[("yarn.nodemanager.recovery.enabled", "true"), ("yarn.nm.liveness-monitor.expiry-interval-ms", "10000")]);
    let c = Cluster::start("nm-restart", 1, &["--conf", extra.file.to_str().unwrap()]);
    let pids = c.work.join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    // Workers run until released by a file, so they end while the NM is down.
    let gate = c.work.join("gate");
    let cmd = format!("echo $$ > {}/$CONTAINER_ID; while [ ! -e {} ]; do sleep 0.1; done; echo done", pids.display(), gate.display());
    let (client, id) = long_dshell(&c, "2", &cmd);
    c.wait_for("AM + 2 workers RUNNING", Duration::from_secs(20), || (running(&c, &id) == 3).then_some(()));
    let workers = c.wait_for("the workers' pid files", Duration::from_secs(10), || {
        let v = pid_files(&pids, "");
        (v.len() == 2).then_some(v)
    });
    let nodes = c.rest().get("/ws/v1/cluster/nodes").unwrap();
    let node_id = s(list(&nodes, "nodes", "node")[0], "id");
    let port = node_id.rsplit(':').next().unwrap().to_string();

    c.kill_9("nodemanager-0");
    std::thread::sleep(Duration::from_millis(300));
    for p in &workers {
        assert!(alive(*p), "worker {p} died with its NodeManager");
    }
    // The workers finish while their NM is down; their exit codes wait in exit code files.
    std::fs::write(&gate, "").unwrap();
    c.wait_for("the workers to end", Duration::from_secs(10), || workers.iter().all(|p| !alive(*p)).then_some(()));
    let log = std::fs::OpenOptions::new().append(true).open(c.work.join("logs/nodemanager-0.log")).unwrap();
    let _nm = Daemon(
        Command::new(e2e::bin("yarn-sim"))
            .args(["nodemanager", "--rm", &c.rm, "--port", &port, "--conf-dir"])
            .arg(c.conf_dir())
            .arg("--work-dir")
            .arg(c.work.join("nm-0"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let out = client.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}\n{}", e2e::read(&c.work.join("logs/nodemanager-0.log")));
    let app = c.app(&id);
    assert_eq!((s(&app, "state"), s(&app, "finalStatus")), ("FINISHED".into(), "SUCCEEDED".into()));
    let att = c.yarn(&["applicationattempt", "-list", &id]);
    assert!(att.stdout.starts_with("Total number of application attempts :1\n"), "{}", att.stdout);
    // The workers' real exit codes (0), read from their exit code files, not LOST or ABORTED.
    // The app is FINISHED once its AM unregistered; the AM container's own exit reaches the RM
    // with the NM's next heartbeat, so wait for every container to have one (-1000 = none yet).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let cs = loop {
        let cs = containers(&c, &id);
        if cs.iter().all(|x| s(x, "containerExitStatus") != "-1000") || std::time::Instant::now() > deadline {
            break cs;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let exits: Vec<(String, String)> = cs.iter().map(|x| (s(x, "containerId"), s(x, "containerExitStatus"))).collect();
    assert_eq!(cs.len(), 3, "{exits:?}");
    assert!(exits.iter().all(|(_, e)| e == "0"), "{exits:?}");
    let logs = c.yarn(&["logs", "-applicationId", &id, "-log_files", "stdout"]);
    assert_eq!(logs.stdout.matches("done").count(), 2, "{}", logs.stdout);
    // `yarn-sim status` sees the NodeManager restarted by hand.
    let status = Command::new(e2e::bin("yarn-sim")).args(["status", "--work-dir"]).arg(&c.work).output().unwrap();
    let status = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(status.lines().any(|l| l.starts_with("nodemanager-0") && l.ends_with("running")), "{status}");
    assert_eq!(c.stop_and_list_leftovers(), Vec::<u32>::new());
}

#[test]
fn a_killed_containers_background_child_does_not_outlive_it() {
    let c = Cluster::start("orphan-sleep", 1, &[]);
    let pids = c.work.join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    // The container's shell starts a background `sleep` (its own child) and waits.
    let cmd = format!("sleep 300 & echo $! > {p}/$CONTAINER_ID.child; echo $$ > {p}/$CONTAINER_ID.main; wait", p = pids.display());
    let (mut client, _id) = long_dshell(&c, "1", &cmd);
    let (main, child) = c.wait_for("the container's pids", Duration::from_secs(20), || {
        let (m, ch) = (pid_files(&pids, ".main"), pid_files(&pids, ".child"));
        (m.len() == 1 && ch.len() == 1).then(|| (m[0], ch[0]))
    });
    assert!(alive(child));
    // Only the container's main process is killed; the NM ends the rest of its group.
    kill(Pid::from_raw(main), Signal::SIGKILL).unwrap();
    c.wait_for("the orphaned sleep to be killed with its container", Duration::from_secs(10), || (!alive(child)).then_some(()));
    let _ = client.wait();
}

#[test]
fn rm_kill_9_and_restart_with_recovery_keeps_a_flink_session_and_its_job() {
    let work = std::env::temp_dir().join(format!("e2e-rm-flink-{}-conf", std::process::id()));
    let extra = conf_file(&work, &[("yarn.resourcemanager.recovery.enabled", "true")]);
    let c = Cluster::start("rm-flink", 2, &["--conf", extra.file.to_str().unwrap()]);
    let flink_conf = c.work.join("flink-conf");
    std::fs::create_dir_all(&flink_conf).unwrap();
    std::fs::write(flink_conf.join("config.yaml"), format!("yarn.properties-file.location: {}\n", c.work.display())).unwrap();
    let run = |program: &str, args: &[&str]| -> e2e::Run {
        Command::new(e2e::bin(program))
            .args(args)
            .env("YARN_CONF_DIR", c.conf_dir())
            .env("FLINK_CONF_DIR", &flink_conf)
            .env_remove("HADOOP_CONF_DIR")
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .into()
    };
    let r = run("yarn-session", &["-jm", "256m", "-tm", "512m", "-s", "2", "-d"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let app = r.stdout.lines().find_map(|l| l.strip_prefix("Submitted application ")).expect("app id").trim().to_string();
    let web = r.stdout.lines().find_map(|l| l.strip_prefix("JobManager Web Interface: http://")).expect("web").to_string();
    let prog = c.work.join("slow.toml");
    std::fs::write(
        &prog,
        "[[job]]\nname = \"Slow\"\nparallelism = 2\n[[job.step]]\nsource = { type = \"datagen\", kind = \"numbers\", rate-per-sec = 300, count = 900, seed = 2 }\n[[job.step]]\nsink = { type = \"file\", path = \"${output}\" }\n",
    )
    .unwrap();
    let r = run("flink", &["run", "-d", prog.to_str().unwrap(), "--output", "out/job"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let job = r.stdout.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).unwrap().trim().to_string();
    let am = e2e::Rest::new(&web);
    c.wait_for("the job RUNNING", Duration::from_secs(20), || {
        (am.get(&format!("/jobs/{job}")).ok()?["state"].as_str()? == "RUNNING").then_some(())
    });

    c.kill_9("resourcemanager");
    std::thread::sleep(Duration::from_millis(500));
    let _rm = c.start_resourcemanager();
    c.wait_for("the restarted RM", Duration::from_secs(10), || c.rest().get("/ws/v1/cluster/info").ok());
    c.wait_for("the job FINISHED", Duration::from_secs(60), || {
        let st = am.get(&format!("/jobs/{job}")).ok()?["state"].as_str()?.to_string();
        assert!(!matches!(st.as_str(), "FAILED" | "CANCELED"), "{st}");
        (st == "FINISHED").then_some(())
    });
    let restarts = am.get(&format!("/jobs/{job}/metrics?get=numRestarts")).unwrap();
    assert_eq!(restarts[0]["value"], "0", "{restarts}");
    // The session is the same application on its first attempt, still RUNNING.
    let a = c.app(&app);
    assert_eq!(s(&a, "state"), "RUNNING", "{a}");
    let att = c.yarn(&["applicationattempt", "-list", &app]);
    assert!(att.stdout.starts_with("Total number of application attempts :1\n"), "{}", att.stdout);
    let mut lines = 0;
    for e in std::fs::read_dir(c.work.join("dfs/out/job")).into_iter().flatten().flatten() {
        if !e.file_name().to_string_lossy().starts_with('.') && e.path().is_file() {
            lines += std::fs::read_to_string(e.path()).unwrap().lines().count();
        }
    }
    assert_eq!(lines, 1800);
}
