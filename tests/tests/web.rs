//! The web surfaces end to end: the RM UI, the RM's web proxy and the Flink dashboard the AM
//! serves, in headless Chromium (DevTools protocol: no console errors, no failed requests),
//! and the Flink REST endpoints the 1.20 and 2.x dashboards and clients read, with their
//! shapes and their 404s, against a live session running a real job.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use e2e::browser::Browser;
use e2e::{Cluster, Run};
use serde_json::Value;

struct Flink {
    c: Cluster,
    conf_dir: PathBuf,
}

impl Flink {
    fn start(name: &str) -> Flink {
        let c = Cluster::start(name, 2, &[]);
        let conf_dir = c.work.join("flink-conf");
        std::fs::create_dir_all(&conf_dir).unwrap();
        std::fs::write(
            conf_dir.join("config.yaml"),
            format!(
                "yarn.properties-file.location: {}\nheartbeat.interval: 500 ms\nheartbeat.timeout: 3 s\nexecution.checkpointing.interval: 300 ms\n",
                c.work.display()
            ),
        )
        .unwrap();
        Flink { c, conf_dir }
    }

    fn run(&self, program: &str, args: &[&str]) -> Run {
        e2e::run_flink_client(&self.c, &self.conf_dir, program, args)
    }

    /// A detached session with a StatefulCount job running (checkpointing on); (app, job).
    fn session_with_job(&self) -> (String, String) {
        let r = self.run("yarn-session", &["-jm", "256m", "-tm", "512m", "-s", "2", "-nm", "web", "-d"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let app = r.stdout.lines().find_map(|l| l.strip_prefix("Submitted application ")).expect("app id").trim().to_string();
        let prog = example("examples/streaming/StatefulCount.toml");
        let r = self.run("flink", &["run", "-d", "-p", "2", &prog, "--output", "out/web", "--count", "400000", "--rate", "2000"]);
        assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
        let job = r.stdout.lines().find_map(|l| l.strip_prefix("Job has been submitted with JobID ")).expect("job id").trim().to_string();
        (app, job)
    }

    fn get(&self, path: &str) -> (u16, Value) {
        let (st, body) = curl(&format!("http://{}{path}", self.c.rm));
        (st, serde_json::from_str(&body).unwrap_or(Value::Null))
    }
}

fn example(p: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p).display().to_string()
}

fn curl(url: &str) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-w", "\n%{http_code}", url]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// Waits until the job's vertices have subtasks RUNNING and a TaskExecutor reported metrics.
fn wait_running(f: &Flink, app: &str, job: &str) -> Value {
    f.c.wait_for("the job to run and report metrics", Duration::from_secs(60), || {
        let (st, v) = f.get(&format!("/proxy/{app}/jobs/{job}"));
        let ok = st == 200
            && v["state"] == "RUNNING"
            && v["vertices"].as_array().is_some_and(|vs| vs.iter().all(|x| x["status"] == "RUNNING"))
            && v["vertices"][0]["metrics"]["write-bytes"].as_u64().unwrap_or(0) > 0;
        ok.then_some(v)
    })
}

#[test]
fn flink_rest_for_1_20_and_2_x_has_the_fields_and_404s_through_the_proxy() {
    let f = Flink::start("web-rest");
    let (app, job) = f.session_with_job();
    let p = format!("/proxy/{app}");
    let details = wait_running(&f, &app, &job);
    assert_eq!(details["pending-operators"], 0);
    let (st, ov) = f.get(&format!("{p}/jobs/overview"));
    assert_eq!(st, 200);
    assert_eq!(ov["jobs"][0]["jid"], job.as_str());
    assert_eq!(ov["jobs"][0]["pending-operators"], 0, "Flink 2.x's CLI reads it: {ov}");
    // Records and bytes: what the source sends is what the sink side receives (one edge).
    let vs = details["vertices"].as_array().unwrap();
    let (src, sink) = (&vs[0], &vs[1]);
    assert!(src["metrics"]["write-records"].as_u64().unwrap() > 0);
    for k in ["read-bytes", "write-bytes", "accumulated-backpressured-time", "accumulated-idle-time", "accumulated-busy-time"] {
        assert!(src["metrics"].get(k).is_some(), "{k}: {src}");
    }
    let (vid, sink_vid) = (src["id"].as_str().unwrap(), sink["id"].as_str().unwrap());
    // Subtask metrics: the aggregated route is not mistaken for a subtask index.
    let (st, m) = f.get(&format!("{p}/jobs/{job}/vertices/{vid}/subtasks/metrics"));
    assert_eq!(st, 200, "{m}");
    assert!(m.as_array().unwrap().iter().any(|x| x["id"] == "busyTimeMsPerSecond"), "{m}");
    let (st, m) =
        f.get(&format!("{p}/jobs/{job}/vertices/{vid}/subtasks/metrics?get=numRecordsOut,backPressuredTimeMsPerSecond&agg=sum,max"));
    assert_eq!(st, 200);
    let out = m.as_array().unwrap().iter().find(|x| x["id"] == "numRecordsOut").expect("numRecordsOut");
    assert!(out["sum"].as_f64().unwrap() > 0.0 && out.get("max").is_some() && out.get("min").is_none(), "{out}");
    let (st, _) = f.get(&format!("{p}/jobs/{job}/vertices/{vid}/subtasks/metrics?agg=median"));
    assert_eq!(st, 400);
    let (st, m) = f.get(&format!("{p}/jobs/{job}/vertices/{vid}/subtasks/0/metrics?get=numBytesOut"));
    assert_eq!((st, m[0]["id"].as_str()), (200, Some("numBytesOut")));
    let (st, m) = f.get(&format!("{p}/jobs/{job}/vertices/{vid}/metrics"));
    assert!(st == 200 && m.as_array().unwrap().iter().any(|x| x["id"] == "1.numRecordsOut"), "{m}");
    let (st, w) = f.get(&format!("{p}/jobs/{job}/vertices/{sink_vid}/watermarks"));
    assert_eq!(st, 200);
    assert_eq!(w.as_array().unwrap().len(), 2);
    assert_eq!(w[0]["id"], "0.currentInputWatermark");
    let (st, bp) = f.get(&format!("{p}/jobs/{job}/vertices/{vid}/backpressure"));
    assert_eq!(st, 200);
    assert!(["ok", "low", "high"].contains(&bp["backpressure-level"].as_str().unwrap()), "{bp}");
    assert_eq!(bp["subtasks"].as_array().map(Vec::len), Some(2), "{bp}");
    for k in ["ratio", "idleRatio", "busyRatio", "attempt-number"] {
        assert!(bp["subtasks"][0].get(k).is_some(), "{k}: {bp}");
    }
    // Applications (2.x): a session job is its own application.
    let (st, apps) = f.get(&format!("{p}/applications/overview"));
    assert_eq!(st, 200);
    assert_eq!(apps["applications"][0]["id"], job.as_str());
    assert_eq!(apps["applications"][0]["status"], "RUNNING");
    let (st, a) = f.get(&format!("{p}/applications/{job}"));
    assert_eq!((st, a["jobs"][0]["jid"].as_str()), (200, Some(job.as_str())));
    let (st, _) = f.get(&format!("{p}/applications/{job}/jobmanager/config"));
    assert_eq!(st, 200);
    // TaskManagers: heartbeat timestamps, slots and tasks; metrics and logs from the NM.
    let (st, tms) = f.get(&format!("{p}/taskmanagers"));
    assert_eq!(st, 200);
    let tm = &tms["taskmanagers"][0];
    let tm_id = tm["id"].as_str().unwrap().to_string();
    assert!(tm["timeSinceLastHeartbeat"].as_u64().unwrap() > 1_600_000_000_000, "a timestamp, as Flink writes it: {tm}");
    let tasks: usize = tms["taskmanagers"].as_array().unwrap().iter().map(|t| t["tasks"].as_array().unwrap().len()).sum();
    assert_eq!(tasks, 4, "two vertices of parallelism 2: {tms}");
    assert!(!tm["allocatedSlots"].as_array().unwrap().is_empty());
    let (st, m) = f.get(&format!("{p}/taskmanagers/{tm_id}/metrics?get=taskSlotsTotal"));
    assert_eq!((st, m[0]["value"].as_str()), (200, Some("2")));
    let (st, body) = curl(&format!("http://{}{p}/taskmanagers/{tm_id}/log", f.c.rm));
    assert!(st == 200 && body.contains("Starting TaskExecutor"), "{st} {body}");
    let (st, _) = curl(&format!("http://{}{p}/taskmanagers/{tm_id}/stdout", f.c.rm));
    assert_eq!(st, 200);
    let (st, logs) = f.get(&format!("{p}/taskmanagers/{tm_id}/logs"));
    assert!(st == 200 && logs["logs"].as_array().unwrap().iter().any(|l| l["name"] == "taskmanager.out"), "{logs}");
    let (st, _) = curl(&format!("http://{}{p}/taskmanagers/{tm_id}/logs/..%2Fsecret", f.c.rm));
    assert!(st == 400 || st == 404, "{st}");
    // The JobManager: environment without the cluster secret, metrics, its log.
    let secret = std::fs::read_to_string(f.c.conf_dir().join("cluster-secret")).unwrap();
    let (st, env) = curl(&format!("http://{}{p}/jobmanager/environment", f.c.rm));
    assert_eq!(st, 200);
    assert!(!env.contains(secret.trim()), "the cluster secret leaked");
    let env: Value = serde_json::from_str(&env).unwrap();
    let entry = env["environment"].as_array().unwrap().iter().find(|e| e["key"] == "YARN_SIM_CLUSTER_SECRET").expect("listed");
    assert_eq!(entry["value"], "******");
    assert!(env["jvm"].get("options").is_some() && env.get("classpath").is_some());
    let (st, m) = f.get(&format!("{p}/jobmanager/metrics?get=numRunningJobs,taskSlotsTotal"));
    assert_eq!((st, m[0]["value"].as_str()), (200, Some("1")), "{m}");
    let (st, body) = curl(&format!("http://{}{p}/jobmanager/log", f.c.rm));
    assert!(st == 200 && body.contains("switched from"), "{st}");
    // Unknown ids answer Flink's 404 {"errors":[...]}.
    let zero = "00000000000000000000000000000000";
    for path in [
        format!("/jobs/{zero}/vertices/{vid}/backpressure"),
        format!("/jobs/{job}/vertices/{zero}/watermarks"),
        format!("/jobs/{job}/vertices/{zero}/subtasks/metrics"),
        format!("/jobs/{job}/vertices/{vid}/subtasks/7/metrics"),
        format!("/applications/{zero}"),
        "/taskmanagers/container_0_0000_01_000009/metrics".to_string(),
        "/taskmanagers/container_0_0000_01_000009/log".to_string(),
    ] {
        let (st, v) = f.get(&format!("{p}{path}"));
        assert_eq!(st, 404, "{path}: {v}");
        assert!(v["errors"][0].is_string(), "{path}: {v}");
    }
    let (st, v) = f.get(&format!("{p}/jobs/{job}/vertices/nothex/watermarks"));
    assert!(st == 400 && v["errors"][0].is_string(), "{v}");
}

/// Loads `url` and fails the test on any console error or failed request.
fn clean(b: &mut Browser, url: &str) {
    let l = b.load(url);
    assert!(l.is_clean(), "{url}: console errors {:?}, failed requests {:?}", l.console_errors, l.failed_requests);
}

#[test]
fn the_rm_ui_and_the_flink_dashboard_render_in_chromium_through_the_proxy() {
    let Some(mut b) = Browser::start("web") else { return };
    // The checks can fail: a failed request and a script error are both caught.
    let bad = b.load("data:text/html,<script>undefinedFunction()</script>");
    assert!(!bad.console_errors.is_empty(), "a script error must be reported: {bad:?}");
    let f = Flink::start("web-ui");
    let rm = format!("http://{}", f.c.rm);
    let bad = b.load(&format!("{rm}/proxy/application_1_9999/"));
    assert!(!bad.failed_requests.is_empty(), "an unknown application's 404 must be reported: {bad:?}");
    assert!(b.html().contains("could not be found in RM or history server"));

    let (app, job) = f.session_with_job();
    wait_running(&f, &app, &job);
    // The RM UI: the application is listed RUNNING with its tracking link.
    clean(&mut b, &format!("{rm}/cluster"));
    let tracking = b.eval("Array.from(document.querySelectorAll('#apps a.tracking')).map(a => a.href)");
    let tracking = tracking.as_array().unwrap()[0].as_str().unwrap().to_string();
    assert_eq!(tracking, format!("{rm}/proxy/{app}/"));
    clean(&mut b, &format!("{rm}/cluster/apps/RUNNING"));
    assert!(b.html().contains(&app));
    clean(&mut b, &format!("{rm}/cluster/apps/FINISHED"));
    assert!(!b.html().contains(&format!(">{app}<")), "a running app is not FINISHED");
    clean(&mut b, &format!("{rm}/cluster/apps?sort=startedTime&order=asc"));
    clean(&mut b, &format!("{rm}/cluster/scheduler"));
    assert!(b.eval("document.querySelectorAll('#queues tr.queue').length").as_u64().unwrap() >= 2, "root and default");
    clean(&mut b, &format!("{rm}/cluster/nodes"));
    assert_eq!(b.eval("document.querySelectorAll('#nodes tr.node').length").as_u64(), Some(2));
    clean(&mut b, &format!("{rm}/cluster/cluster"));
    clean(&mut b, &format!("{rm}/cluster/app/{app}"));
    assert_eq!(b.eval("document.getElementById('app-state').textContent").as_str(), Some("RUNNING"));
    let attempt = b.eval("document.querySelector('table.attempts a').textContent").as_str().unwrap().to_string();
    clean(&mut b, &format!("{rm}/cluster/appattempt/{attempt}"));
    assert!(b.eval("document.querySelectorAll('tr.container').length").as_u64().unwrap() >= 2, "the AM and a TaskManager");

    // Follow the tracking URL into the Flink dashboard, through the proxy.
    clean(&mut b, &tracking);
    assert!(b.html().contains("Stateful Count"));
    let running = b.eval("document.getElementById('jobs-running').textContent");
    assert_eq!(running.as_str(), Some("1"));
    // Every link of the dashboard's navigation works under the proxy prefix.
    let nav = b.eval("Array.from(document.querySelectorAll('nav.side a')).map(a => a.href)");
    for href in nav.as_array().unwrap() {
        let href = href.as_str().unwrap();
        assert!(href.starts_with(&format!("{rm}/proxy/{app}/web/")), "{href}");
        clean(&mut b, href);
    }
    clean(&mut b, &format!("{rm}/proxy/{app}/web/job?id={job}"));
    // The graph: one box per vertex, with the figures, and the edge between them.
    assert_eq!(b.eval("document.querySelectorAll('#job-graph g.vertex').length").as_u64(), Some(2));
    assert_eq!(b.eval("document.querySelectorAll('#job-graph path.edge').length").as_u64(), Some(1));
    let graph = b.eval("document.getElementById('job-graph').textContent").as_str().unwrap().to_string();
    assert!(graph.contains("Records in/out") && graph.contains("Busy (max)") && graph.contains("Backpressured (max)"), "{graph}");
    let vertex =
        b.eval("new URL(document.querySelector('#job-graph a').getAttribute('href'), location.href).href").as_str().unwrap().to_string();
    clean(&mut b, &vertex);
    assert_eq!(b.eval("document.querySelectorAll('table.subtasks tr').length").as_u64(), Some(3));
    for tab in ["exceptions", "configuration", "checkpoints"] {
        clean(&mut b, &format!("{rm}/proxy/{app}/web/job?id={job}&tab={tab}"));
    }
    f.c.wait_for("a completed checkpoint on the checkpoints tab", Duration::from_secs(30), || {
        b.load(&format!("{rm}/proxy/{app}/web/job?id={job}&tab=checkpoints"));
        (b.eval("document.querySelectorAll('table.checkpoints td.COMPLETED').length").as_u64().unwrap_or(0) > 0).then_some(())
    });
    clean(&mut b, &format!("{rm}/proxy/{app}/web/taskmanagers"));
    let tm = b.eval("document.querySelector('table.taskmanagers a').href").as_str().unwrap().to_string();
    clean(&mut b, &tm);
    assert!(b.eval("document.querySelectorAll('table.tm-tasks tr').length").as_u64().unwrap() >= 2);
    clean(&mut b, &format!("{tm}&tab=log"));
    assert!(b.eval("document.getElementById('log').textContent").as_str().unwrap().contains("Starting TaskExecutor"));
    clean(&mut b, &format!("{tm}&tab=stdout"));
    clean(&mut b, &format!("{tm}&tab=logs"));
    let secret = std::fs::read_to_string(f.c.conf_dir().join("cluster-secret")).unwrap();
    for tab in ["configuration", "environment", "metrics", "log", "stdout", "logs"] {
        clean(&mut b, &format!("{rm}/proxy/{app}/web/jobmanager?tab={tab}"));
        assert!(!b.html().contains(secret.trim()), "the cluster secret shows on the {tab} tab");
    }
    // The AM's REST through the proxy, in the browser too.
    clean(&mut b, &format!("{rm}/proxy/{app}/jobs/overview"));
    // Cancel the job from its page (Flink's web-cancel, a PATCH through the proxy).
    clean(&mut b, &format!("{rm}/proxy/{app}/web/job?id={job}"));
    b.eval("window.confirm = () => true; document.getElementById('cancel').click(); true");
    f.c.wait_for("the job to be CANCELED", Duration::from_secs(30), || {
        let (_, v) = f.get(&format!("/proxy/{app}/jobs/{job}"));
        (v["state"] == "CANCELED").then_some(())
    });
    clean(&mut b, &format!("{rm}/proxy/{app}/web/job?id={job}"));
    assert_eq!(b.eval("document.getElementById('job-state').textContent").as_str(), Some("CANCELED"));
    assert!(b.eval("document.getElementById('cancel') === null").as_bool().unwrap(), "no cancel button on a finished job");
    clean(&mut b, &format!("{rm}/proxy/{app}/web/completed"));
    assert!(b.html().contains("Stateful Count"));

    // Kill from the application page (as its owner): the same PUT .../state as REST.
    let owner = f.c.app(&app)["user"].as_str().unwrap().to_string();
    clean(&mut b, &format!("{rm}/cluster/app/{app}?user.name={owner}"));
    b.eval("window.confirm = () => true; document.getElementById('kill').click(); true");
    f.c.wait_for("the application to be KILLED", Duration::from_secs(30), || (f.c.app(&app)["state"] == "KILLED").then_some(()));
    // A finished application's tracking URL leads to the RM's application page.
    clean(&mut b, &tracking);
    assert_eq!(b.eval("location.pathname").as_str(), Some(format!("/cluster/app/{app}").as_str()));
    assert_eq!(b.eval("document.getElementById('app-state').textContent").as_str(), Some("KILLED"));
    assert!(b.eval("document.getElementById('kill') === null").as_bool().unwrap(), "no kill button on a finished app");
}
