//! YARN ACLs and the per-application REST resources over real HTTP: who may see, kill, move
//! and re-prioritize an application (403 with YARN's RemoteException when refused, and nothing
//! changes), and the shapes of `/state`, `/queue`, `/priority`, `/timeouts`, one attempt, one
//! attempt container and `/appstatistics`, in JSON and XML.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::process::Command;
use std::time::Duration;

use e2e::{bin, list, s, Cluster, Run};
use serde_json::{json, Value};

fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn get(url: &str) -> (u16, Value) {
    let (code, body) = curl(&[url]);
    (code, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

fn put(url: &str, body: &Value) -> (u16, Value) {
    let (code, text) = curl(&["-X", "PUT", "-H", "Content-Type: application/json", "-d", &body.to_string(), url]);
    (code, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// A 403 as YARN's web services answer it, in RemoteException JSON.
fn assert_forbidden(r: (u16, Value), message: &str) {
    assert_eq!(r.0, 403, "{}", r.1);
    assert_eq!(r.1["RemoteException"]["exception"], "ForbiddenException", "{}", r.1);
    assert_eq!(r.1["RemoteException"]["javaClassName"], "org.apache.hadoop.yarn.webapp.ForbiddenException");
    assert_eq!(r.1["RemoteException"]["message"], format!("java.lang.Exception: {message}"));
}

fn yarn_as(c: &Cluster, user: &str, args: &[&str]) -> Run {
    Command::new(bin("yarn"))
        .args(args)
        .env("YARN_CONF_DIR", c.conf_dir())
        .env("HADOOP_USER_NAME", user)
        .env_remove("HADOOP_CONF_DIR")
        .output()
        .expect("run yarn")
        .into()
}

fn submit(base: &str, user: &str, name: &str, queue: &str, acls: Value) -> String {
    let (code, body) = curl(&["-X", "POST", &format!("{base}/ws/v1/cluster/apps/new-application?user.name={user}")]);
    assert_eq!(code, 200, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["application-id"].as_str().unwrap().to_string();
    let ctx = json!({
        "application-id": id, "application-name": name, "queue": queue, "application-type": "TEST",
        "am-container-spec": {"commands": {"command": "sleep 60"}, "application-acls": {"entry": acls}},
        "resource": {"memory": 128, "vCores": 1}
    });
    let (code, body) = curl(&[
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "-d",
        &ctx.to_string(),
        &format!("{base}/ws/v1/cluster/apps?user.name={user}"),
    ]);
    assert_eq!(code, 202, "{body}");
    id
}

#[test]
fn acls_decide_who_sees_kills_moves_and_reprioritizes_with_yarns_403() {
    let conf = std::env::temp_dir().join(format!("acls-conf-{}.xml", std::process::id()));
    std::fs::write(
        &conf,
        "<configuration>\
<property><name>yarn.scheduler.capacity.root.queues</name><value>a,b</value></property>\
<property><name>yarn.scheduler.capacity.root.a.capacity</name><value>50</value></property>\
<property><name>yarn.scheduler.capacity.root.b.capacity</name><value>50</value></property>\
<property><name>yarn.scheduler.capacity.root.acl_submit_applications</name><value> </value></property>\
<property><name>yarn.scheduler.capacity.root.a.acl_submit_applications</name><value>*</value></property>\
<property><name>yarn.scheduler.capacity.root.b.acl_submit_applications</name><value>bob</value></property>\
<property><name>yarn.cluster.max-application-priority</name><value>10</value></property>\
</configuration>",
    )
    .unwrap();
    let c = Cluster::start("acls", 1, &["--conf", conf.to_str().unwrap()]);
    let _ = std::fs::remove_file(&conf);
    let base = format!("http://{}", c.rm);
    let id = submit(&base, "alice", "sleeper", "a", json!([{"key": "VIEW_APP", "value": "bob"}]));
    let app_url = |rest: &str, user: &str| format!("{base}/ws/v1/cluster/apps/{id}{rest}?user.name={user}");
    c.wait_for("the AM container", Duration::from_secs(10), || (s(&c.app(&id), "allocatedMB") == "128").then_some(()));

    // VIEW_APP: the owner and bob see everything; carol and anonymous (dr.who) the public fields.
    let (_, alice) = get(&app_url("", "alice"));
    let (_, bob) = get(&app_url("", "bob"));
    let (_, carol) = get(&app_url("", "carol"));
    let (_, anon) = get(&format!("{base}/ws/v1/cluster/apps/{id}"));
    assert!(alice["app"]["startedTime"].as_u64().unwrap() > 0);
    assert_eq!(bob["app"]["startedTime"], alice["app"]["startedTime"]);
    assert_eq!(bob["app"]["amContainerLogs"], alice["app"]["amContainerLogs"]);
    for v in [&carol, &anon] {
        assert_eq!(v["app"]["startedTime"], 0, "{v}");
        assert_eq!(v["app"]["amContainerLogs"], "");
        assert_eq!(v["app"]["allocatedMB"], 0);
        assert_eq!((&v["app"]["id"], &v["app"]["user"], &v["app"]["name"]), (&alice["app"]["id"], &json!("alice"), &json!("sleeper")));
    }
    let (_, list_carol) = get(&format!("{base}/ws/v1/cluster/apps?user.name=carol"));
    assert_eq!(list(&list_carol, "apps", "app")[0]["startedTime"], 0);

    // MODIFY_APP: bob may look but not kill, move or re-prioritize.
    assert_forbidden(
        put(&app_url("/state", "bob"), &json!({"state": "KILLED"})),
        &format!("Unauthorized attempt to kill appid {id} by remote user bob"),
    );
    assert_forbidden(
        put(&format!("{base}/ws/v1/cluster/apps/{id}/state"), &json!({"state": "KILLED"})),
        &format!("Unauthorized attempt to kill appid {id} by remote user dr.who"),
    );
    assert_forbidden(
        put(&app_url("/queue", "bob"), &json!({"queue": "b"})),
        &format!("Unauthorized attempt to move appid {id} by remote user bob"),
    );
    assert_forbidden(
        put(&app_url("/priority", "bob"), &json!({"priority": 3})),
        &format!("Unauthorized attempt to change priority of appid {id} by remote user bob"),
    );
    let refused = yarn_as(&c, "mallory", &["application", "-kill", &id]);
    assert_ne!(refused.code, 0);
    assert!(refused.stdout.contains(&format!("Unauthorized attempt to kill appid {id} by remote user mallory")), "{}", refused.stdout);
    let (_, st) = get(&app_url("/state", "alice"));
    assert!(st == json!({"state": "ACCEPTED"}) || st == json!({"state": "RUNNING"}), "refusals changed nothing: {st}");

    // The owner: queue b's submit ACL (and root's " ") refuses her; a queue that does not exist too.
    assert_eq!(get(&app_url("/queue", "carol")).1, json!({"queue": "a"}));
    assert_forbidden(
        put(&app_url("/queue", "alice"), &json!({"queue": "b"})),
        &format!("Unauthorized attempt to move appid {id} by remote user alice"),
    );
    assert_forbidden(
        put(&app_url("/queue", "alice"), &json!({"queue": "nosuch"})),
        &format!("Unauthorized attempt to move appid {id} by remote user alice"),
    );
    assert_eq!(get(&app_url("/priority", "alice")).1, json!({"priority": 0}));
    assert_eq!(put(&app_url("/priority", "alice"), &json!({"priority": 12})), (200, json!({"priority": 10})), "capped at max priority");
    let (code, xml) = curl(&["-H", "Accept: application/xml", &app_url("/priority", "alice")]);
    assert_eq!(code, 200);
    assert!(xml.contains("<applicationpriority") && xml.contains("<priority>10</priority>"), "{xml}");
    // The cluster admin (the user who started it) moves it to b.
    let me = yarn_sim::cli::current_user();
    assert_eq!(put(&app_url("/queue", &me), &json!({"queue": "b"})), (200, json!({"queue": "b"})));
    assert_eq!(s(&c.app(&id), "queue"), "b");

    // The yarn CLI as the owner: priority, then kill.
    let r = yarn_as(&c, "alice", &["application", "-updatePriority", "4", "-appId", &id]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("Successfully updated the application {id} with priority '4'")), "{}", r.stdout);
    let r = yarn_as(&c, "alice", &["application", "-kill", &id]);
    assert_eq!(r.code, 0, "{} {}", r.stdout, r.stderr);
    assert!(r.stdout.contains(&format!("Killed application {id}")), "{}", r.stdout);
    let app = c.app(&id);
    assert_eq!(s(&app, "state"), "KILLED");
    assert_eq!(s(&app, "diagnostics"), format!("Application {id} was killed by user alice"));
    let (code, xml) = curl(&["-H", "Accept: application/xml", &app_url("/state", "alice")]);
    assert_eq!(code, 200);
    assert!(xml.contains("<appstate") && xml.contains("<state>KILLED</state>"), "{xml}");
}

#[test]
fn per_application_resources_have_yarns_shapes() {
    let c = Cluster::start("apprest", 1, &[]);
    let base = format!("http://{}", c.rm);
    let id = submit(&base, "alice", "sleeper", "default", json!([]));
    c.wait_for("the AM container", Duration::from_secs(10), || (s(&c.app(&id), "allocatedMB") == "128").then_some(()));
    let url = |rest: &str| format!("{base}/ws/v1/cluster/apps/{id}{rest}?user.name=alice");

    // state: unwrapped in JSON (YARN's AppState).
    let (code, v) = get(&url("/state"));
    assert_eq!(code, 200);
    assert!(v == json!({"state": "ACCEPTED"}) || v == json!({"state": "RUNNING"}), "{v}");
    let (code, v) = put(&url("/state"), &json!({"state": "RUNNING"}));
    assert!(code == 200 || code == 400, "{v}");

    // name filter: exact.
    let (_, v) = get(&format!("{base}/ws/v1/cluster/apps?name=sleeper"));
    assert_eq!(list(&v, "apps", "app").len(), 1);
    let (_, v) = get(&format!("{base}/ws/v1/cluster/apps?name=sleep"));
    assert_eq!(v, json!({"apps": null}));

    // one attempt and one attempt container.
    let (_, atts) = get(&url("/appattempts"));
    let att = list(&atts, "appAttempts", "appAttempt")[0].clone();
    let attempt_id = s(&att, "appAttemptId");
    let am = s(&att, "containerId");
    let (code, v) = get(&url(&format!("/appattempts/{attempt_id}")));
    assert_eq!(code, 200, "{v}");
    let a = &v["appAttempt"];
    assert_eq!((s(a, "appAttemptId"), s(a, "amContainerId")), (attempt_id.clone(), am.clone()));
    for k in ["host", "rpcPort", "trackingUrl", "originalTrackingUrl", "diagnosticsInfo", "appAttemptState", "startedTime", "finishedTime"]
    {
        assert!(a.get(k).is_some(), "{k} missing: {a}");
    }
    let (code, v) = get(&url(&format!("/appattempts/{attempt_id}/containers/{am}")));
    assert_eq!(code, 200, "{v}");
    assert_eq!(s(&v["container"], "containerId"), am);
    assert_eq!(v["container"]["allocatedMB"], 128);
    let (code, v) = get(&url(&format!("/appattempts/{attempt_id}/containers/container_1_0001_01_000099")));
    assert_eq!((code, v["RemoteException"]["exception"].as_str()), (404, Some("NotFoundException")));

    // timeouts: UNLIMITED, then a LIFETIME an hour from now.
    let (_, v) = get(&url("/timeouts"));
    assert_eq!(v, json!({"timeouts": {"timeout": [{"type": "LIFETIME", "expiryTime": "UNLIMITED", "remainingTimeInSeconds": -1}]}}));
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let expiry = yarn_sim::rest::rm_app::iso8601(now + 3_600_000);
    let (code, v) = put(&url("/timeout"), &json!({"timeout": {"type": "LIFETIME", "expiryTime": expiry}}));
    assert_eq!(code, 200, "{v}");
    let remaining = v["timeout"]["remainingTimeInSeconds"].as_u64().unwrap();
    assert!((3500..=3600).contains(&remaining), "{v}");
    let (_, one) = get(&url("/timeouts/LIFETIME"));
    assert_eq!(one["timeout"]["type"], "LIFETIME");
    assert_ne!(one["timeout"]["expiryTime"], "UNLIMITED");
    assert_eq!(get(&url("/timeouts/FOO")).0, 400);
    let (code, v) = put(&url("/timeout"), &json!({"timeout": {"type": "LIFETIME", "expiryTime": "tomorrow"}}));
    assert_eq!(code, 400, "{v}");

    // appstatistics.
    let (_, v) = get(&format!("{base}/ws/v1/cluster/appstatistics"));
    assert_eq!(list(&v, "appStatInfo", "statItem").len(), 8);
    let (_, v) = get(&format!("{base}/ws/v1/cluster/appstatistics?states=accepted,running&applicationTypes=test"));
    let items = list(&v, "appStatInfo", "statItem");
    assert_eq!(items.len(), 2, "{v}");
    assert_eq!(items.iter().map(|i| i["count"].as_u64().unwrap()).sum::<u64>(), 1);
    assert!(items.iter().all(|i| i["type"] == "test"));
    let (code, _) = get(&format!("{base}/ws/v1/cluster/appstatistics?applicationTypes=a,b"));
    assert_eq!(code, 400);
    let (code, xml) = curl(&["-H", "Accept: application/xml", &format!("{base}/ws/v1/cluster/appstatistics")]);
    assert_eq!(code, 200);
    assert!(xml.contains("<appStatInfo") && xml.matches("<statItem>").count() == 8, "{xml}");

    // yarn queue -status, as QueueCLI prints it.
    let r = c.yarn(&["queue", "-status", "default"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.starts_with("Queue Information : \nQueue Name : default\n\tState : RUNNING\n\tCapacity : 100.0%\n"), "{}", r.stdout);
    assert!(r.stdout.contains("\tMaximum Capacity : 100.0%\n\tDefault Node Label expression : <DEFAULT_PARTITION>\n"), "{}", r.stdout);
    let r = c.yarn(&["queue", "-status", "nosuch"]);
    assert_ne!(r.code, 0);
    assert!(r.stdout.contains("Cannot get queue from RM by queueName = nosuch, please check."), "{}", r.stdout);
}
