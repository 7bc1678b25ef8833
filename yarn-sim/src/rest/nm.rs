//! The NodeManager's REST API (`/ws/v1/node/...`) and its container-log pages, over a
//! live-hosted [`NodeManager`]. Log file names from users never leave the container's log dir.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use engine::live::{wall_now, LiveNode};
use serde_json::{json, Value};

use super::render::{bad_request, not_found, render, Format};
use crate::ids::{ApplicationId, ContainerId};
use crate::nm::NodeManager;

type Host = LiveNode<NodeManager>;

pub fn routes(host: Host) -> Router {
    let routes = Router::new()
        .route("/ws/v1/node", get(info))
        .route("/ws/v1/node/info", get(info))
        .route("/ws/v1/node/apps", get(apps))
        .route("/ws/v1/node/apps/{id}", get(app))
        .route("/ws/v1/node/containers", get(containers))
        .route("/ws/v1/node/containers/{id}", get(container))
        .route("/ws/v1/node/containers/{id}/logs", get(container_logs))
        .route("/ws/v1/node/containerlogs/{id}/{file}", get(log_file))
        .route("/ws/v1/{*rest}", get(|h: HeaderMap| async move { not_found(Format::from_headers(&h), "Resource not found") }))
        .route("/", get(ui_node))
        .route("/node", get(ui_node))
        .route("/node/containerlogs/{id}/{user}", get(ui_logs))
        .route("/node/containerlogs/{id}/{user}/{file}", get(ui_log_file))
        .with_state(host);
    // Size limits before any handler: a RemoteException, never axum's plain text.
    super::render::limits().apply(routes)
}

fn list_dir(dir: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| rd.flatten().filter(|e| e.path().is_file()).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

async fn info(State(host): State<Host>, h: HeaderMap) -> Response {
    let v = host.read(|nm| serde_json::to_value(nm.node_info(wall_now())).expect("serializes"));
    render(Format::from_headers(&h), StatusCode::OK, "nodeInfo", v)
}

async fn apps(State(host): State<Host>, h: HeaderMap, Query(q): Query<BTreeMap<String, String>>) -> Response {
    let fmt = Format::from_headers(&h);
    let list: Vec<Value> = host
        .read(|nm| nm.apps())
        .iter()
        .map(|a| serde_json::to_value(a).expect("serializes"))
        .filter(|a| q.get("state").map(|s| a["state"].as_str().map(|x| x.eq_ignore_ascii_case(s)).unwrap_or(false)).unwrap_or(true))
        .filter(|a| q.get("user").map(|u| a["user"] == *u).unwrap_or(true))
        .collect();
    render(fmt, StatusCode::OK, "apps", if list.is_empty() { Value::Null } else { json!({"app": list}) })
}

async fn app(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let app: ApplicationId = match id.parse() {
        Ok(a) => a,
        Err(e) => return bad_request(fmt, e),
    };
    match host.read(|nm| nm.app(&app)) {
        Some(a) => render(fmt, StatusCode::OK, "app", serde_json::to_value(a).expect("serializes")),
        None => not_found(fmt, format!("app with id {id} not found")),
    }
}

async fn containers(State(host): State<Host>, h: HeaderMap) -> Response {
    let list = host.read(|nm| nm.containers(&mut |d| list_dir(d)));
    let body = if list.is_empty() { Value::Null } else { json!({"container": list}) };
    render(Format::from_headers(&h), StatusCode::OK, "containers", body)
}

fn parse_cid(fmt: Format, id: &str) -> Result<ContainerId, Response> {
    id.parse().map_err(|e: String| bad_request(fmt, e))
}

async fn container(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let cid = match parse_cid(fmt, &id) {
        Ok(c) => c,
        Err(r) => return r,
    };
    match host.read(|nm| nm.container(&cid, &mut |d| list_dir(d))) {
        Some(c) => render(fmt, StatusCode::OK, "container", serde_json::to_value(c).expect("serializes")),
        None => not_found(fmt, format!("container with id, {id}, not found")),
    }
}

/// The container's log dir, or a 404 in the request's format.
fn log_dir(host: &Host, fmt: Format, id: &str) -> Result<String, Response> {
    let cid = parse_cid(fmt, id)?;
    host.read(|nm| nm.container_log_dir(&cid)).ok_or_else(|| not_found(fmt, format!("Cannot get container logs for {id}")))
}

async fn container_logs(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let dir = match log_dir(&host, fmt, &id) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let files: Vec<Value> = list_dir(&dir)
        .into_iter()
        .map(|f| {
            let md = std::fs::metadata(format!("{dir}/{f}")).ok();
            let size = md.as_ref().map(|m| m.len()).unwrap_or(0);
            let mtime = md
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            json!({"fileName": f, "fileSize": size.to_string(), "lastModifiedTime": mtime.to_string()})
        })
        .collect();
    let node = host.read(|nm| nm.node_id().map(|n| n.to_string()).unwrap_or_default());
    render(
        fmt,
        StatusCode::OK,
        "containerLogsInfo",
        json!({"containerLogInfo": files, "logAggregationType": "LOCAL", "containerId": id, "nodeId": node}),
    )
}

/// A log file name is one path segment: no separators, no `..`.
fn safe_name(f: &str) -> bool {
    !f.is_empty() && !f.contains('/') && !f.contains('\\') && f != "." && f != ".." && !f.contains('\0')
}

async fn log_file(State(host): State<Host>, h: HeaderMap, Path((id, file)): Path<(String, String)>) -> Response {
    let fmt = Format::from_headers(&h);
    if !safe_name(&file) {
        return bad_request(fmt, format!("Invalid log file name: {file}"));
    }
    let dir = match log_dir(&host, fmt, &id) {
        Ok(d) => d,
        Err(r) => return r,
    };
    match std::fs::read(format!("{dir}/{file}")) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], bytes).into_response(),
        Err(_) => not_found(fmt, format!("Cannot find this log on the local disk: {file}")),
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

async fn ui_node(State(host): State<Host>) -> Html<String> {
    let (info, cs) =
        host.read(|nm| (serde_json::to_value(nm.node_info(wall_now())).expect("serializes"), nm.containers(&mut |d| list_dir(d))));
    let mut rows = String::new();
    for c in cs {
        let v = serde_json::to_value(c).expect("serializes");
        let id = v["id"].as_str().unwrap_or("");
        let user = v["user"].as_str().unwrap_or("");
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href=\"/node/containerlogs/{}/{}\">logs</a></td></tr>",
            esc(id),
            esc(v["state"].as_str().unwrap_or("")),
            v["exitCode"],
            v["totalMemoryNeededMB"],
            esc(id),
            esc(user)
        ));
    }
    Html(format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>NodeManager {id}</title></head><body><h2>NodeManager {id}</h2>\
<p>Memory for containers: {mem} MB · vcores: {vc} · healthy: {healthy}</p><table border=1><tr><th>Container</th><th>State</th><th>Exit code</th><th>Memory MB</th><th>Logs</th></tr>{rows}</table></body></html>",
        id = esc(info["id"].as_str().unwrap_or("")),
        mem = info["totalPmemAllocatedContainersMB"],
        vc = info["totalVCoresAllocatedContainers"],
        healthy = info["nodeHealthy"],
    ))
}

async fn ui_logs(State(host): State<Host>, Path((id, user)): Path<(String, String)>) -> Response {
    let dir = match log_dir(&host, Format::Json, &id) {
        Ok(d) => d,
        Err(_) => return (StatusCode::NOT_FOUND, Html(format!("<p>No logs for container {}</p>", esc(&id)))).into_response(),
    };
    let mut links = String::new();
    for f in list_dir(&dir) {
        let size = std::fs::metadata(format!("{dir}/{f}")).map(|m| m.len()).unwrap_or(0);
        links.push_str(&format!(
            "<li><a href=\"/node/containerlogs/{0}/{1}/{2}\">{2}</a> : Total file length is {3} bytes.</li>",
            esc(&id),
            esc(&user),
            esc(&f),
            size
        ));
    }
    Html(format!("<!DOCTYPE html><html><body><h3>Logs for {}</h3><ul>{links}</ul></body></html>", esc(&id))).into_response()
}

async fn ui_log_file(State(host): State<Host>, Path((id, _user, file)): Path<(String, String, String)>) -> Response {
    if !safe_name(&file) {
        return (StatusCode::BAD_REQUEST, format!("Invalid log file name: {file}")).into_response();
    }
    let Ok(dir) = log_dir(&host, Format::Json, &id) else { return (StatusCode::NOT_FOUND, "no such container").into_response() };
    match std::fs::read_to_string(format!("{dir}/{file}")) {
        Ok(text) => {
            Html(format!("<!DOCTYPE html><html><body><h3>{}: {}</h3><pre>{}</pre></body></html>", esc(&id), esc(&file), esc(&text)))
                .into_response()
        }
        Err(_) => (StatusCode::NOT_FOUND, format!("Cannot find this log on the local disk: {file}")).into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn log_names_cannot_escape() {
        for bad in ["../x", "a/b", "..", ".", "", "x\0"] {
            assert!(!super::safe_name(bad), "{bad}");
        }
        assert!(super::safe_name("stdout"));
        assert!(super::safe_name("AppMaster.stderr"));
    }
}
