//! The ResourceManager's web UI, laid out like Hadoop's (`/cluster/...`): applications with
//! state filters and sorting, an application page with attempts, diagnostics and a kill
//! button, attempt pages with their containers and log links, the scheduler's queue tree,
//! nodes and the about page. Server-rendered from the same reports REST serves. The kill
//! button sends `PUT /ws/v1/cluster/apps/<id>/state` `{"state":"KILLED"}` with the page's
//! `user.name`, so it goes through exactly the checks (ACLs) of the REST kill.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use engine::live::{wall_now, LiveNode};
use minijinja::Environment;
use serde_json::{json, Value};

use super::web;
use crate::ids::{ApplicationAttemptId, ApplicationId};
use crate::records::YarnApplicationState;
use crate::rm::ResourceManager;

type Host = LiveNode<ResourceManager>;
type Q = Query<BTreeMap<String, String>>;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        web::environment(&[
            ("base.html", include_str!("ui/base.html")),
            ("apps.html", include_str!("ui/apps.html")),
            ("app.html", include_str!("ui/app.html")),
            ("appattempt.html", include_str!("ui/appattempt.html")),
            ("scheduler.html", include_str!("ui/scheduler.html")),
            ("nodes.html", include_str!("ui/nodes.html")),
            ("about.html", include_str!("ui/about.html")),
            ("error.html", include_str!("ui/error.html")),
        ])
    })
}

const STATES: [&str; 8] = ["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED"];

/// Renders a page. `root` is the relative path from the page back to `/cluster/`.
fn page(name: &str, root: &str, title: &str, user: Option<&String>, host: &Host, mut ctx: Value) -> Response {
    let m = host.read(|rm| serde_json::to_value(rm.cluster_metrics()).unwrap_or(Value::Null));
    ctx["root"] = json!(root);
    ctx["title"] = json!(title);
    ctx["metrics"] = m;
    ctx["states"] = json!(STATES);
    ctx["user"] = json!(user);
    // `?user.name=` is carried over on every link, as Hadoop's simple auth keeps it in a cookie.
    ctx["uq"] = json!(user.map(|u| format!("?user.name={}", urlencode(u))).unwrap_or_default());
    web::render(templates(), StatusCode::OK, name, minijinja::Value::from(minijinja::value::Serde(&ctx)))
}

fn error_page(host: &Host, root: &str, status: StatusCode, message: &str) -> Response {
    let mut r = page("error.html", root, "Error", None, host, json!({"message": message, "status": status.as_u16()}));
    *r.status_mut() = status;
    r
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The columns the applications table sorts by (`?sort=<key>&order=asc|desc`).
const SORT_KEYS: [&str; 9] = ["id", "user", "name", "queue", "startedTime", "finishedTime", "elapsedTime", "state", "progress"];

fn apps_page(host: &Host, state: Option<&str>, q: &BTreeMap<String, String>, root: &str) -> Response {
    let filter = match state {
        None => None,
        Some(s) => match s.to_ascii_uppercase().parse::<YarnApplicationState>() {
            Ok(st) => Some(st),
            Err(_) => {
                return error_page(
                    host,
                    root,
                    StatusCode::BAD_REQUEST,
                    &format!("Invalid application-state {s} specified. It should be one of {}", STATES.join(", ")),
                )
            }
        },
    };
    let sort = q.get("sort").map(String::as_str).unwrap_or("id");
    if !SORT_KEYS.contains(&sort) {
        return error_page(host, root, StatusCode::BAD_REQUEST, &format!("Cannot sort by {sort}: use one of {}", SORT_KEYS.join(", ")));
    }
    let desc = match q.get("order").map(String::as_str) {
        None => true,
        Some("desc") => true,
        Some("asc") => false,
        Some(o) => return error_page(host, root, StatusCode::BAD_REQUEST, &format!("Invalid order {o}: use asc or desc")),
    };
    // What each app shows depends on who asks (VIEW_APP), as on YARN's UI.
    let mut apps: Vec<Value> = host
        .read(|rm| rm.app_reports_as(wall_now(), &rm.web_user(q.get("user.name").map(String::as_str))))
        .into_iter()
        .filter(|r| filter.is_none_or(|f| r.state == f))
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect();
    apps.sort_by(|a, b| {
        let (x, y) = (&a[sort], &b[sort]);
        let o = match (x.as_f64(), y.as_f64()) {
            (Some(p), Some(q)) => p.total_cmp(&q),
            _ => x.as_str().unwrap_or("").cmp(y.as_str().unwrap_or("")),
        };
        // Ties (e.g. equal states) keep submission order: ids compare in sequence.
        o.then_with(|| a["id"].as_str().unwrap_or("").cmp(b["id"].as_str().unwrap_or("")))
    });
    if desc {
        apps.reverse();
    }
    let title = match filter {
        Some(f) => format!("{f} Applications"),
        None => "All Applications".to_string(),
    };
    let user = q.get("user.name");
    let running = apps.iter().any(|a| !matches!(a["state"].as_str(), Some("FINISHED" | "FAILED" | "KILLED")));
    let mut r = page(
        "apps.html",
        root,
        &title,
        user,
        host,
        json!({"apps": apps, "filter": filter.map(|f| f.to_string()), "sort": sort, "order": if desc { "desc" } else { "asc" }, "refresh": running, "sort_keys": SORT_KEYS}),
    );
    if running {
        r.headers_mut().insert("Refresh", axum::http::HeaderValue::from_static("5"));
    }
    r
}

/// `/cluster` sits one level above the other pages: its links start with `cluster/`.
pub async fn cluster(State(host): State<Host>, Query(q): Q) -> Response {
    apps_page(&host, None, &q, "cluster/")
}

pub async fn apps(State(host): State<Host>, Query(q): Q) -> Response {
    apps_page(&host, None, &q, "")
}

pub async fn apps_in_state(State(host): State<Host>, Path(state): Path<String>, Query(q): Q) -> Response {
    apps_page(&host, Some(&state), &q, "../")
}

pub async fn app(State(host): State<Host>, Path(id): Path<String>, Query(q): Q) -> Response {
    let Ok(app) = id.parse::<ApplicationId>() else {
        return error_page(&host, "../", StatusCode::BAD_REQUEST, &format!("Invalid ApplicationId: {id}"));
    };
    let found = host.read(|rm| {
        let who = rm.web_user(q.get("user.name").map(String::as_str));
        let r = rm.app_report_as(&app, wall_now(), &who)?;
        Some((serde_json::to_value(&r).ok()?, serde_json::to_value(rm.attempt_reports_as(&app, &who).unwrap_or_default()).ok()?))
    });
    let Some((report, attempts)) = found else {
        return error_page(&host, "../", StatusCode::NOT_FOUND, &format!("Application with id '{id}' doesn't exist in RM."));
    };
    let user = q.get("user.name");
    let done = matches!(report["state"].as_str(), Some("FINISHED" | "FAILED" | "KILLED"));
    page("app.html", "../", &format!("Application {id}"), user, &host, json!({"app": report, "attempts": attempts, "final": done}))
}

pub async fn appattempt(State(host): State<Host>, Path(id): Path<String>, Query(q): Q) -> Response {
    let Ok(att) = id.parse::<ApplicationAttemptId>() else {
        return error_page(&host, "../", StatusCode::BAD_REQUEST, &format!("Invalid AppAttemptId: {id}"));
    };
    let found = host.read(|rm| {
        let attempts = rm.attempt_reports_as(&att.app, &rm.web_user(q.get("user.name").map(String::as_str)))?;
        let a = attempts.into_iter().find(|a| a.app_attempt_id == att)?;
        let containers = rm.container_reports(&att, wall_now()).unwrap_or_default();
        Some((serde_json::to_value(a).ok()?, serde_json::to_value(containers).ok()?))
    });
    let Some((attempt, containers)) = found else {
        return error_page(&host, "../", StatusCode::NOT_FOUND, &format!("Application Attempt with id '{id}' doesn't exist in RM."));
    };
    page(
        "appattempt.html",
        "../",
        &format!("Application Attempt {id}"),
        q.get("user.name"),
        &host,
        json!({"attempt": attempt, "containers": containers, "app_id": att.app.to_string()}),
    )
}

/// The queue tree as rows with their depth (templates do not recurse).
fn queue_rows(q: &Value, depth: usize, out: &mut Vec<Value>) {
    let mut row = q.clone();
    row["depth"] = json!(depth);
    row["indent"] = json!(depth * 20);
    if let Some(m) = row.as_object_mut() {
        m.remove("queues");
    }
    out.push(row);
    for c in q["queues"]["queue"].as_array().cloned().unwrap_or_default() {
        queue_rows(&c, depth + 1, out);
    }
}

pub async fn scheduler(State(host): State<Host>, Query(q): Q) -> Response {
    let info = host.read(|rm| rm.scheduler_info());
    let mut rows = Vec::new();
    queue_rows(&info, 0, &mut rows);
    page("scheduler.html", "", "Scheduler", q.get("user.name"), &host, json!({"queues": rows, "scheduler": {"type": info["type"]}}))
}

pub async fn nodes(State(host): State<Host>, Query(q): Q) -> Response {
    let nodes: Vec<Value> = host.read(|rm| rm.node_reports()).iter().map(|n| serde_json::to_value(n).unwrap_or(Value::Null)).collect();
    page("nodes.html", "", "Nodes of the cluster", q.get("user.name"), &host, json!({"nodes": nodes}))
}

pub async fn about(State(host): State<Host>, Query(q): Q) -> Response {
    let info = host.read(|rm| serde_json::to_value(rm.cluster_info()).unwrap_or(Value::Null));
    page("about.html", "", "About the Cluster", q.get("user.name"), &host, json!({"info": info}))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx(extra: Value) -> minijinja::Value {
        let mut c = json!({"root": "", "title": "t", "metrics": {"appsSubmitted": 1, "appsPending": 0, "appsRunning": 1, "appsCompleted": 0,
            "containersAllocated": 2, "allocatedMB": 1024, "totalMB": 8192, "allocatedVirtualCores": 2, "totalVirtualCores": 8,
            "activeNodes": 3, "lostNodes": 0, "unhealthyNodes": 0}, "states": STATES, "user": null, "uq": ""});
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        minijinja::Value::from(minijinja::value::Serde(&c))
    }

    #[test]
    fn the_templates_render_with_relative_links() {
        let env = templates();
        let app = json!({"id": "application_1_0001", "user": "u", "name": "<n>", "applicationType": "YARN", "queue": "default",
            "priority": 0, "startedTime": 1000, "finishedTime": 0, "elapsedTime": 5, "state": "RUNNING", "finalStatus": "UNDEFINED",
            "runningContainers": 2, "allocatedMB": 1024, "allocatedVCores": 2, "progress": 50.0, "trackingUI": "ApplicationMaster",
            "trackingUrl": "http://127.0.0.1:8088/proxy/application_1_0001/", "diagnostics": "", "amContainerLogs": "", "applicationTags": "",
            "amHostHttpAddress": "", "launchTime": 0, "clusterId": 1});
        let html = env
            .get_template("apps.html")
            .unwrap()
            .render(ctx(
                json!({"apps": [app.clone()], "filter": null, "sort": "id", "order": "desc", "refresh": true, "sort_keys": SORT_KEYS}),
            ))
            .unwrap();
        assert!(html.contains("&lt;n&gt;"), "escaped: {html}");
        assert!(html.contains("href=\"app/application_1_0001\""), "{html}");
        assert!(html.contains("href=\"apps/RUNNING\""), "{html}");
        assert!(!html.contains("href=\"/"), "only relative links: {html}");
        let html =
            env.get_template("app.html").unwrap().render(ctx(json!({"root": "../", "app": app, "attempts": [], "final": false}))).unwrap();
        assert!(html.contains("id=\"kill\""), "{html}");
        for (t, extra) in [
            ("scheduler.html", json!({"queues": [], "scheduler": {"type": "capacityScheduler"}})),
            ("nodes.html", json!({"nodes": []})),
            (
                "about.html",
                json!({"info": {"id": 1, "startedOn": 1, "state": "STARTED", "haState": "ACTIVE", "resourceManagerVersion": "v", "hadoopVersion": "h"}}),
            ),
            ("error.html", json!({"message": "m", "status": 404})),
            (
                "appattempt.html",
                json!({"root": "../", "attempt": {"appAttemptId": "a", "appAttemptState": "RUNNING", "containerId": "c", "nodeId": "n", "nodeHttpAddress": "h", "logsLink": "l", "startTime": 1, "finishedTime": 0, "diagnosticsInfo": ""}, "containers": [], "app_id": "application_1_0001"}),
            ),
        ] {
            env.get_template(t).unwrap().render(ctx(extra)).unwrap_or_else(|e| panic!("{t}: {e:#}"));
        }
    }
}
