//! The RM's REST API over real HTTP: JSON and XML, writeable APIs, and bad input that gets
//! YARN's errors and changes nothing.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::Command;

use e2e::{bin, list, s, Cluster};
use serde_json::{json, Value};

fn curl(args: &[&str]) -> (u16, String) {
    // A real HTTP client, as a user would use it.
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn app_count(c: &Cluster) -> usize {
    let v = c.rest().get("/ws/v1/cluster/apps").unwrap();
    list(&v, "apps", "app").len()
}

#[test]
fn rest_in_json_and_xml_with_yarns_shapes_and_errors() {
    let c = Cluster::start("rest", 2, &[]);
    let base = format!("http://{}", c.rm);

    let (code, body) = curl(&[&format!("{base}/ws/v1/cluster/info")]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["clusterInfo"]["state"], "STARTED");
    assert_eq!(v["clusterInfo"]["haState"], "ACTIVE");

    let (_, body) = curl(&["-H", "Accept: application/xml", &format!("{base}/ws/v1/cluster/nodes")]);
    assert!(body.contains("<nodes") && body.matches("<node>").count() == 2, "{body}");
    assert!(body.contains("<state>RUNNING</state>") && body.contains("<rack>/default-rack</rack>"), "{body}");

    let (_, body) = curl(&[&format!("{base}/ws/v1/cluster/metrics")]);
    let m: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(m["clusterMetrics"]["activeNodes"], 2);
    assert_eq!(m["clusterMetrics"]["totalMB"], 2 * 8192);

    let (_, body) = curl(&["-H", "Accept: application/xml", &format!("{base}/ws/v1/cluster/scheduler")]);
    assert!(body.contains("xsi:type=\"capacityScheduler\""), "{body}");

    // new-application, then submit a tiny app via XML, then kill it via PUT state.
    let (code, body) = curl(&["-X", "POST", &format!("{base}/ws/v1/cluster/apps/new-application")]);
    assert_eq!(code, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    let id = v["application-id"].as_str().unwrap().to_string();
    assert_eq!(v["maximum-resource-capability"]["memory"], 8192);
    let xml = format!(
        "<application-submission-context><application-id>{id}</application-id><application-name>sleeper</application-name>\
<am-container-spec><commands><command>sleep 60</command></commands></am-container-spec>\
<resource><memory>256</memory><vCores>1</vCores></resource><application-type>TEST</application-type>\
<application-tags><tag>a</tag><tag>b</tag></application-tags></application-submission-context>"
    );
    let (code, _) = curl(&["-X", "POST", "-H", "Content-Type: application/xml", "-d", &xml, &format!("{base}/ws/v1/cluster/apps")]);
    assert_eq!(code, 202);
    let app = c.app(&id);
    assert_eq!(s(&app, "name"), "sleeper");
    assert_eq!(s(&app, "applicationType"), "TEST");
    assert_eq!(s(&app, "applicationTags"), "a,b");
    // The AM container is allocated on the next NodeManager heartbeat.
    c.wait_for("the AM container", std::time::Duration::from_secs(10), || (s(&c.app(&id), "allocatedMB") == "256").then_some(()));

    let (code, body) = curl(&[&format!("{base}/ws/v1/cluster/apps?applicationTypes=test&states=accepted,running")]);
    assert_eq!(code, 200);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["apps"]["app"][0]["id"], id.as_str());
    let (_, body) = curl(&[&format!("{base}/ws/v1/cluster/apps?applicationTypes=MAPREDUCE")]);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap(), json!({"apps": null}));

    let (code, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"state":"RUNNING"}"#,
        &format!("{base}/ws/v1/cluster/apps/{id}/state"),
    ]);
    assert_eq!(code, 400);
    assert!(body.contains("Only 'KILLED' is allowed as a target state."), "{body}");
    let mut last = 0;
    for _ in 0..100 {
        let (code, body) = curl(&[
            "-X",
            "PUT",
            "-H",
            "Content-Type: application/json",
            "-d",
            r#"{"state":"KILLED"}"#,
            &format!("{base}/ws/v1/cluster/apps/{id}/state"),
        ]);
        last = code;
        if code == 200 {
            assert!(body.contains("KILLED"));
            break;
        }
        assert_eq!(code, 202);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(last, 200);
    assert_eq!(s(&c.app(&id), "state"), "KILLED");
    assert_eq!(s(&c.app(&id), "finalStatus"), "KILLED");
}

#[test]
fn bad_input_gets_yarns_errors_and_changes_nothing() {
    let c = Cluster::start("rest-bad", 1, &[]);
    let base = format!("http://{}", c.rm);
    let before = app_count(&c);

    let (code, body) = curl(&[&format!("{base}/ws/v1/cluster/apps/application_1_9999")]);
    assert_eq!(code, 404);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["RemoteException"]["exception"], "NotFoundException");
    assert_eq!(v["RemoteException"]["javaClassName"], "org.apache.hadoop.yarn.webapp.NotFoundException");
    assert!(v["RemoteException"]["message"].as_str().unwrap().contains("app with id: application_1_9999 not found"));

    let (code, body) = curl(&["-H", "Accept: application/xml", &format!("{base}/ws/v1/cluster/apps/not_an_app")]);
    assert_eq!(code, 400);
    assert!(body.contains("<RemoteException") && body.contains("<exception>BadRequestException</exception>"), "{body}");

    let (code, body) =
        curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", "{not json", &format!("{base}/ws/v1/cluster/apps")]);
    assert_eq!(code, 400);
    assert!(body.contains("malformed JSON"), "{body}");

    let new = |c: &Cluster| {
        c.rest().post("/ws/v1/cluster/apps/new-application", json!({})).unwrap().1["application-id"].as_str().unwrap().to_string()
    };
    let id = new(&c);
    let submit = |body: Value| {
        curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", &body.to_string(), &format!("{base}/ws/v1/cluster/apps")])
    };
    let (code, body) =
        submit(json!({"application-id": id, "queue": "nosuchqueue", "am-container-spec": {"commands": {"command": "true"}}}));
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("to unknown queue: nosuchqueue"), "{body}");
    let (code, body) = submit(
        json!({"application-id": id, "resource": {"memory": 100000, "vCores": 1}, "am-container-spec": {"commands": {"command": "true"}}}),
    );
    assert_eq!(code, 400, "{body}");
    assert!(body.contains("InvalidResourceRequestException"), "{body}");
    assert!(
        body.contains(
            "Invalid resource request! Cannot allocate containers as requested resource is greater than maximum allowed allocation."
        ),
        "{body}"
    );
    let (code, body) = submit(json!({"application-id": "application_1_0001", "am-container-spec": {"commands": {"command": "true"}}}));
    assert_eq!(code, 400, "{body}");

    let (code, _) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"state":"KILLED"}"#,
        &format!("{base}/ws/v1/cluster/apps/application_1_4242/state"),
    ]);
    assert_eq!(code, 404);
    let (code, _) = curl(&[&format!("{base}/ws/v1/cluster/nodes/nosuchhost:1")]);
    assert_eq!(code, 404);
    let (code, _) = curl(&[&format!("{base}/ws/v1/cluster/apps?states=BOGUS")]);
    assert_eq!(code, 400);

    assert_eq!(app_count(&c), before, "rejected requests created no application");

    // The CLI reports the same problems in its own format with a non-zero exit.
    let r = c.yarn(&["application", "-status", "application_1_9999"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("Application with id 'application_1_9999' doesn't exist in RM"), "{}", r.stderr);
    let r = c.yarn(&["application", "-list", "-appStates", "NOPE"]);
    assert_ne!(r.code, 0);
    let r = c.run("yarn-sim", &["dshell", "--queue", "nosuchqueue", "--shell-command", "true"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("unknown queue: nosuchqueue"), "{}", r.stderr);
    let r = c.run("yarn-sim", &["dshell", "--master-memory", "100000", "--shell-command", "true"]);
    assert_ne!(r.code, 0);
    assert!(r.stderr.contains("greater than maximum allowed allocation"), "{}", r.stderr);
    assert_eq!(app_count(&c), before);
    let _ = bin("yarn");
}

#[test]
fn cli_finds_the_rm_the_hadoop_way_and_lists_nodes() {
    let c = Cluster::start("cli", 2, &[]);
    let r = c.yarn(&["node", "-list"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines[0], "Total Nodes:2");
    assert_eq!(lines[1], "         Node-Id\t     Node-State\tNode-Http-Address\tNumber-of-Running-Containers");
    assert!(lines[2].contains("RUNNING\t"), "{}", r.stdout);
    // Without YARN_CONF_DIR and with a wrong --rm, the CLI says it cannot connect.
    let out = Command::new(bin("yarn")).args(["--rm", "127.0.0.1:1", "node", "-list"]).env_remove("YARN_CONF_DIR").output().unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("Connection refused"));
    let st = c.run("yarn-sim", &["status", "--work-dir", c.work.to_str().unwrap()]);
    assert!(st.stdout.contains("2 active nodes"), "{}", st.stdout);
}
