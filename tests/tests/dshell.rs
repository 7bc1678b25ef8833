//! Distributed shell end to end: real RM and NM processes, real containers, real kills.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::time::Duration;

use e2e::{list, s, submitted_app, Cluster};

#[test]
fn dshell_succeeds_and_its_output_reaches_yarn_logs() {
    let c = Cluster::start("dshell-ok", 3, &[]);
    let r = c.run("yarn-sim", &["dshell", "--num-containers", "3", "--shell-command", "hostname; echo hello from $CONTAINER_ID"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("Application completed successfully"), "{}", r.stdout);
    let id = submitted_app(&r.stdout);
    let app = c.app(&id);
    assert_eq!((s(&app, "state"), s(&app, "finalStatus")), ("FINISHED".into(), "SUCCEEDED".into()));

    let logs = c.yarn(&["logs", "-applicationId", &id]);
    assert_eq!(logs.code, 0, "{}", logs.stderr);
    // One AM container plus three workers, each printing its own id.
    assert_eq!(logs.stdout.matches("hello from container_").count(), 3, "{}", logs.stdout);
    assert!(logs.stdout.contains("LogType:AppMaster.stdout"));
    let host = String::from_utf8(std::process::Command::new("hostname").output().unwrap().stdout).unwrap();
    assert_eq!(logs.stdout.matches(host.as_str()).count(), 3, "each container ran `hostname`");

    let list_out = c.yarn(&["application", "-list", "-appStates", "FINISHED"]);
    assert!(
        list_out.stdout.starts_with("Total number of applications (application-types: [], states: [FINISHED] and tags: []):1\n"),
        "{}",
        list_out.stdout
    );
    assert!(list_out.stdout.contains(&format!("{id:>30}\t{:>20}\t{:>20}", "DistributedShell", "YARN")), "{}", list_out.stdout);
    assert!(list_out.stdout.contains("SUCCEEDED\t           100%"), "{}", list_out.stdout);

    let st = c.yarn(&["application", "-status", &id]);
    assert!(st.stdout.starts_with("Application Report : \n\tApplication-Id : "), "{}", st.stdout);
    assert!(st.stdout.contains("\tFinal-State : SUCCEEDED\n"));

    let att = c.yarn(&["applicationattempt", "-list", &id]);
    assert!(att.stdout.starts_with("Total number of application attempts :1\n"), "{}", att.stdout);
    let attempt = id.replace("application_", "appattempt_") + "_000001";
    let cs = c.yarn(&["container", "-list", &attempt]);
    assert!(cs.stdout.starts_with("Total number of containers :4\n"), "{}", cs.stdout);
}

#[test]
fn dshell_fails_when_a_container_fails() {
    let c = Cluster::start("dshell-fail", 2, &[]);
    let r =
        c.run("yarn-sim", &["dshell", "--num-containers", "2", "--shell-command", "echo $CONTAINER_ID | grep -q 000002 && exit 3; exit 0"]);
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("DSFinalStatus=FAILED"), "{}", r.stdout);
    let id = submitted_app(&r.stdout);
    let app = c.app(&id);
    assert_eq!(s(&app, "finalStatus"), "FAILED");
    assert_eq!(s(&app, "diagnostics"), "Diagnostics., total=2, completed=2, allocated=2, failed=1");
}

/// Starts a long-running dshell in the background and returns (child, app id).
fn long_dshell(c: &Cluster, n: &str, cmd: &str, extra: &[&str]) -> (std::process::Child, String) {
    let mut args = vec!["dshell", "--num-containers", n, "--shell-command", cmd];
    args.extend_from_slice(extra);
    let child = std::process::Command::new(e2e::bin("yarn-sim"))
        .args(&args)
        .env("YARN_CONF_DIR", c.conf_dir())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let id = c.wait_for("the app to be RUNNING", Duration::from_secs(20), || {
        let v = c.rest().get("/ws/v1/cluster/apps?states=RUNNING").ok()?;
        list(&v, "apps", "app").first().map(|a| s(a, "id"))
    });
    (child, id)
}

fn running_containers(c: &Cluster, id: &str) -> Vec<serde_json::Value> {
    let attempt = id.replace("application_", "appattempt_") + "_000001";
    let v = c.rest().get(&format!("/ws/v1/cluster/apps/{id}/appattempts/{attempt}/containers")).unwrap();
    list(&v, "containers", "container").into_iter().cloned().collect()
}

#[test]
fn kill_9_of_a_container_reaches_the_am_with_its_exit_status() {
    let c = Cluster::start("kill-container", 2, &[]);
    let pids = c.work.join("pids");
    std::fs::create_dir_all(&pids).unwrap();
    let cmd = format!("echo $$ > {}/$CONTAINER_ID; sleep 60", pids.display());
    let (mut client, id) = long_dshell(&c, "1", &cmd, &[]);
    let pid: i32 = c.wait_for("the container's pid file", Duration::from_secs(20), || {
        let e = std::fs::read_dir(&pids).ok()?.flatten().next()?;
        std::fs::read_to_string(e.path()).ok()?.trim().parse().ok()
    });
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).unwrap();
    let status = client.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let app = c.app(&id);
    assert_eq!(s(&app, "finalStatus"), "FAILED");
    let logs = c.yarn(&["logs", "-applicationId", &id, "-log_files", "AppMaster.stdout"]);
    assert!(logs.stdout.contains("exitStatus=137"), "{}", logs.stdout);
    assert_eq!(c.stop_and_list_leftovers(), Vec::<u32>::new(), "the orphaned `sleep` went with its container's group");
}

#[test]
fn kill_9_of_a_nodemanager_makes_it_lost_and_its_containers_aborted() {
    // 1024 MB nodes and 512 MB workers: at most one worker shares the AM's node.
    let c = Cluster::start("kill-nm", 3, &["--node-memory-mb", "1024"]);
    let (mut client, id) = long_dshell(&c, "3", "sleep 6", &["--container-memory", "512"]);
    // Wait until all four containers (AM + 3) run, then take a node without the AM.
    let (victim_node, victim) = c.wait_for("workers running", Duration::from_secs(20), || {
        let cs: Vec<_> = running_containers(&c, &id).into_iter().filter(|x| s(x, "containerState") == "RUNNING").collect();
        if cs.len() < 4 {
            return None;
        }
        let am_node = s(cs.iter().find(|x| s(x, "containerId").ends_with("_000001"))?, "nodeId");
        let w = cs.iter().find(|x| s(x, "nodeId") != am_node)?;
        Some((s(w, "nodeId"), s(w, "containerId")))
    });
    // Each NodeManager logs its node id when it starts.
    let nm = (0..3)
        .find(|i| {
            e2e::read(&c.work.join("logs").join(format!("nodemanager-{i}.log"))).contains(&format!("NodeManager {victim_node} starting"))
        })
        .expect("the victim's NodeManager");
    let nm_pid = c.pid_of(&format!("nodemanager-{nm}"));
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(nm_pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let node = c.wait_for("the node to be LOST", Duration::from_secs(15), || {
        let v = c.rest().get(&format!("/ws/v1/cluster/nodes/{victim_node}")).ok()?;
        (s(&v["node"], "state") == "LOST").then_some(v)
    });
    assert_eq!(s(&node["node"], "numContainers"), "0");
    let lost = c.wait_for("the container to be ABORTED", Duration::from_secs(10), || {
        running_containers(&c, &id).into_iter().find(|x| s(x, "containerId") == victim && s(x, "containerState") == "COMPLETE")
    });
    assert_eq!(s(&lost, "containerExitStatus"), "-100");
    assert_eq!(s(&lost, "diagnosticsInfo"), "Container released on a *lost* node");
    let nodes = c.yarn(&["node", "-list", "-all"]);
    assert!(nodes.stdout.contains("LOST"), "{}", nodes.stdout);
    // The AM asks again for the aborted container; the app still succeeds on the other nodes.
    let status = client.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{:?}", c.app(&id));
    assert_eq!(c.stop_and_list_leftovers(), Vec::<u32>::new(), "no container outlives the cluster");
}

#[test]
fn a_container_over_its_memory_limit_is_killed_with_minus_104() {
    let c = Cluster::start("pmem", 1, &[]);
    let (mut client, id) = long_dshell(&c, "1", "head -c 400m /dev/zero | tail; sleep 30", &["--container-memory", "128"]);
    let status = client.wait().unwrap();
    assert_eq!(status.code(), Some(2));
    let logs = c.yarn(&["logs", "-applicationId", &id, "-log_files", "AppMaster.stdout"]);
    assert!(logs.stdout.contains("exitStatus=-104"), "{}", logs.stdout);
    assert!(logs.stdout.contains("beyond the 'PHYSICAL' memory limit. Current usage: "), "{}", logs.stdout);
    assert!(logs.stdout.contains("of 128 MB physical memory used"), "{}", logs.stdout);
}

/// An ask above the cluster's maximum is clamped with DistributedShell's message instead of
/// ending as an "AM timed out"; then `yarn logs -am`, `-size` and `-out` as LogsCLI does them.
#[test]
fn oversize_container_memory_is_clamped_and_yarn_logs_selects_cuts_and_saves() {
    let c = Cluster::start("dshell-clamp", 2, &[]);
    let r = c.run("yarn-sim", &["dshell", "--num-containers", "1", "--container-memory", "100000", "--shell-command", "echo 0123456789"]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let id = submitted_app(&r.stdout);

    let am = c.yarn(&["logs", "-applicationId", &id, "-am", "1", "-log_files", "AppMaster.stdout"]);
    assert_eq!(am.code, 0, "{}", am.stderr);
    assert!(
        am.stdout.contains("Container memory specified above max threshold of cluster. Using max value., specified=100000, max=8192"),
        "{}",
        am.stdout
    );
    assert_eq!(am.stdout.matches("\nLogType:").count(), 1, "only the AM's stdout: {}", am.stdout);
    assert!(!am.stdout.contains("0123456789"));
    let bad = c.yarn(&["logs", "-applicationId", &id, "-am", "0"]);
    assert_ne!(bad.code, 0);
    assert!(bad.stderr.contains("Invalid input for option -am."), "{}", bad.stderr);

    // -size 4: the first four bytes of each file; -size -4: the last four.
    let head = c.yarn(&["logs", "-applicationId", &id, "-log_files", "stdout", "-size", "4"]);
    assert!(head.stdout.contains("LogContents:\n0123\nEnd of LogType:stdout"), "{}", head.stdout);
    let tail = c.yarn(&["logs", "-applicationId", &id, "-log_files", "stdout", "-size", "-4"]);
    assert!(tail.stdout.contains("LogContents:\n789\n\nEnd of LogType:stdout"), "{}", tail.stdout);

    // -out DIR: one file per container under its node, nothing on stdout.
    let dir = c.work.join("logs-out");
    let saved = c.yarn(&["logs", "-applicationId", &id, "-out", dir.to_str().unwrap()]);
    assert_eq!(saved.code, 0, "{}", saved.stderr);
    assert!(!saved.stdout.contains("LogType:"), "{}", saved.stdout);
    let files: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().flat_map(|n| std::fs::read_dir(n.path()).unwrap().flatten()).collect();
    assert_eq!(files.len(), 2, "the AM and the shell container");
    let all: String = files.iter().map(|f| std::fs::read_to_string(f.path()).unwrap()).collect();
    assert!(all.contains("0123456789") && all.contains("LogType:AppMaster.stdout"), "{all}");
}
