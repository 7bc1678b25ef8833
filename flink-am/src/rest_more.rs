//! REST handlers for what Flink 1.20's and 2.x's dashboards and clients read beyond jobs:
//! vertex metrics, watermarks and back pressure, applications, the JobManager's environment,
//! metrics and logs, and the TaskManagers' metrics and logs (fetched from the NodeManager that
//! runs each TaskManager's container, on loopback).

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use engine::live::wall_now;
use flink_core::{JobId, JobVertexId};
use serde_json::{json, Value};

use super::{errors, job_missing, ok, parse_job, Host};
use crate::entrypoint::FlinkAppMaster;
use crate::jobmaster::JobMaster;
use crate::webmonitor_io as io;

type Q = Query<BTreeMap<String, String>>;

fn parse_vertex(vid: &str) -> Result<JobVertexId, Response> {
    vid.parse().map_err(|_| errors(StatusCode::BAD_REQUEST, format!("Bad request received. Cannot parse JobVertexID {vid}")))
}

/// Parses job and vertex, reads one report: 400 for malformed ids, 404 for unknown ones.
fn vertex_report(host: &Host, id: &str, vid: &str, f: impl FnOnce(&JobMaster, &JobVertexId) -> Option<Value>) -> Response {
    let (job, v) = match (parse_job(id), parse_vertex(vid)) {
        (Ok(j), Ok(v)) => (j, v),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let found = host.read(|am| am.dispatcher().job(&job).map(|j| f(j, &v)));
    match found {
        None => job_missing(&job),
        Some(None) => {
            errors(StatusCode::NOT_FOUND, format!("org.apache.flink.runtime.rest.NotFoundException: Vertex {vid} of job {id} not found"))
        }
        Some(Some(x)) => ok(x),
    }
}

pub async fn vertex_metrics(State(host): State<Host>, Path((id, vid)): Path<(String, String)>, Query(q): Q) -> Response {
    vertex_report(&host, &id, &vid, |j, v| io::vertex_metrics(j, v, q.get("get").map(String::as_str)))
}

pub async fn subtask_metrics(State(host): State<Host>, Path((id, vid, index)): Path<(String, String, String)>, Query(q): Q) -> Response {
    let Ok(i) = index.parse::<usize>() else {
        return errors(StatusCode::BAD_REQUEST, format!("Bad request received. Invalid subtask index {index}"));
    };
    let (job, v) = match (parse_job(&id), parse_vertex(&vid)) {
        (Ok(j), Ok(v)) => (j, v),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let found = host.read(|am| am.dispatcher().job(&job).map(|j| io::subtask_metrics(j, &v, i, q.get("get").map(String::as_str))));
    match found {
        None => job_missing(&job),
        Some(None) => errors(
            StatusCode::NOT_FOUND,
            format!("org.apache.flink.runtime.rest.NotFoundException: Subtask {index} of vertex {vid} not found"),
        ),
        Some(Some(x)) => ok(x),
    }
}

/// `?get=&agg=&subtasks=0,2` (Flink's aggregated subtask metrics).
pub async fn subtasks_metrics(State(host): State<Host>, Path((id, vid)): Path<(String, String)>, Query(q): Q) -> Response {
    let agg = match io::parse_aggregations(q.get("agg").map(String::as_str)) {
        Ok(a) => a,
        Err(e) => return errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")),
    };
    let subtasks = match q.get("subtasks") {
        None => None,
        Some(list) => match list.split(',').map(|x| x.trim().parse::<usize>()).collect::<Result<Vec<_>, _>>() {
            Ok(l) => Some(l),
            Err(_) => return errors(StatusCode::BAD_REQUEST, format!("Bad request received. Cannot parse subtasks '{list}'.")),
        },
    };
    vertex_report(&host, &id, &vid, |j, v| io::subtasks_metrics(j, v, q.get("get").map(String::as_str), &agg, subtasks.as_deref()))
}

pub async fn watermarks(State(host): State<Host>, Path((id, vid)): Path<(String, String)>) -> Response {
    vertex_report(&host, &id, &vid, io::watermarks)
}

pub async fn backpressure(State(host): State<Host>, Path((id, vid)): Path<(String, String)>) -> Response {
    vertex_report(&host, &id, &vid, |j, v| io::backpressure(j, v, wall_now()))
}

fn application_mode(am: &FlinkAppMaster) -> bool {
    matches!(am.config().mode, crate::AmMode::Application { .. })
}

pub async fn applications_overview(State(host): State<Host>) -> Response {
    ok(host.read(|am| io::applications_overview(am.dispatcher(), application_mode(am), wall_now())))
}

fn application_missing(id: &str) -> Response {
    errors(StatusCode::NOT_FOUND, format!("org.apache.flink.runtime.rest.NotFoundException: Application {id} not found"))
}

fn parse_application(id: &str) -> Result<JobId, Response> {
    id.parse().map_err(|e: String| errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")))
}

pub async fn application(State(host): State<Host>, Path(id): Path<String>) -> Response {
    let app = match parse_application(&id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match host.read(|am| io::application_details(am.dispatcher(), application_mode(am), &app, wall_now())) {
        Some(v) => ok(v),
        None => application_missing(&id),
    }
}

pub async fn application_config(State(host): State<Host>, Path(id): Path<String>) -> Response {
    let app = match parse_application(&id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let found = host.read(|am| {
        io::applications(am.dispatcher(), application_mode(am)).iter().any(|(a, _, _)| *a == app).then(|| am.jobmanager_config())
    });
    match found {
        Some(v) => ok(v),
        None => application_missing(&id),
    }
}

/// The process environment, sensitive values hidden (the cluster secret among them).
pub async fn jobmanager_environment(State(_host): State<Host>) -> Response {
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    let args: Vec<String> = std::env::args().skip(1).collect();
    ok(io::environment(&exe, &args, &env))
}

pub async fn jobmanager_metrics(State(host): State<Host>, Query(q): Q) -> Response {
    let values = host.read(|am| io::jobmanager_metric_values(am.dispatcher(), am.resource_manager()));
    ok(io::metric_collection(&values, q.get("get").map(String::as_str)))
}

pub fn local_logs() -> Vec<Value> {
    super::list_log_dir()
}

fn text(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response()
}

/// A file name from a request: a plain name, never a path.
fn safe_name(name: &str) -> bool {
    !name.is_empty() && !name.contains('/') && !name.contains("..") && !name.starts_with('.')
}

/// One of this container's log files (a plain name in its first `LOG_DIRS` directory).
pub fn read_local_log(name: &str) -> Result<Vec<u8>, (StatusCode, String)> {
    if !safe_name(name) {
        return Err((StatusCode::BAD_REQUEST, format!("Bad request received. Invalid log file name {name}")));
    }
    let dir = std::env::var("LOG_DIRS").unwrap_or_default();
    let dir = dir.split(',').next().unwrap_or("");
    match std::fs::read(std::path::Path::new(dir).join(name)) {
        Ok(b) if !dir.is_empty() => Ok(b),
        _ => Err((StatusCode::NOT_FOUND, format!("org.apache.flink.runtime.rest.NotFoundException: Log file {name} does not exist."))),
    }
}

fn local_log(name: &str) -> Response {
    match read_local_log(name) {
        Ok(b) => text(b),
        Err((st, m)) => errors(st, m),
    }
}

/// The JobManager's log: the AM's stdout (`jobmanager.log`, where it logs).
pub async fn jobmanager_log(State(_host): State<Host>) -> Response {
    local_log("jobmanager.log")
}

/// Its stderr (`jobmanager.err`): a native process has no separate stdout beside its log.
pub async fn jobmanager_stdout(State(_host): State<Host>) -> Response {
    local_log("jobmanager.err")
}

pub async fn jobmanager_log_file(State(_host): State<Host>, Path(name): Path<String>) -> Response {
    local_log(&name)
}

fn tm_missing(id: &str) -> Response {
    errors(
        StatusCode::NOT_FOUND,
        format!("org.apache.flink.runtime.rest.handler.taskmanager.TaskManagerNotFoundException: Could not find TaskManager {id}"),
    )
}

pub async fn taskmanager_metrics(State(host): State<Host>, Path(id): Path<String>, Query(q): Q) -> Response {
    let values = host.read(|am| am.resource_manager().and_then(|rm| io::taskmanager_metric_values(rm, am.dispatcher(), &id)));
    match values {
        Some(v) => ok(io::metric_collection(&v, q.get("get").map(String::as_str))),
        None => tm_missing(&id),
    }
}

/// The NodeManager web address of a registered TaskManager's container, if on loopback (the
/// AM never fetches from anywhere else).
fn tm_node(host: &Host, id: &str) -> Result<String, (StatusCode, String)> {
    let addr = host.read(|am| {
        let rm = am.resource_manager()?;
        rm.slot_manager.task_executor(id)?;
        Some(rm.workers().get(id).map(|w| w.container.node_http_address.clone()))
    });
    match addr {
        None => Err((
            StatusCode::NOT_FOUND,
            format!("org.apache.flink.runtime.rest.handler.taskmanager.TaskManagerNotFoundException: Could not find TaskManager {id}"),
        )),
        Some(None) => Err((StatusCode::NOT_FOUND, format!("TaskManager {id} runs in no YARN container this AM started."))),
        Some(Some(a)) => match a.parse::<std::net::SocketAddr>() {
            Ok(sa) if sa.ip().is_loopback() => Ok(a),
            _ => Err((StatusCode::BAD_GATEWAY, format!("The NodeManager of TaskManager {id} is not on loopback: {a}"))),
        },
    }
}

/// Fetches one of a TaskManager container's log files from its NodeManager.
pub async fn fetch_tm_file(host: &Host, id: &str, name: &str) -> Result<Vec<u8>, (StatusCode, String)> {
    if !safe_name(name) {
        return Err((StatusCode::BAD_REQUEST, format!("Bad request received. Invalid log file name {name}")));
    }
    let node = tm_node(host, id)?;
    let url = format!("http://{node}/ws/v1/node/containerlogs/{id}/{name}");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().expect("reqwest builds");
    match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => match r.bytes().await {
            Ok(b) => Ok(b.to_vec()),
            Err(e) => Err((StatusCode::BAD_GATEWAY, format!("Could not read {name} of TaskManager {id}: {e}"))),
        },
        Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => Err((
            StatusCode::NOT_FOUND,
            format!("org.apache.flink.runtime.rest.NotFoundException: Log file {name} of TaskManager {id} does not exist."),
        )),
        Ok(r) => Err((StatusCode::BAD_GATEWAY, format!("The NodeManager answered {} for {name} of TaskManager {id}", r.status()))),
        Err(e) => Err((StatusCode::BAD_GATEWAY, format!("Could not reach the NodeManager of TaskManager {id}: {e}"))),
    }
}

async fn tm_file(host: &Host, id: &str, name: &str) -> Response {
    match fetch_tm_file(host, id, name).await {
        Ok(b) => text(b),
        Err((st, m)) => errors(st, m),
    }
}

/// A TaskExecutor here logs to its stdout: `log` and `stdout` are both `taskmanager.out`.
pub async fn taskmanager_log(State(host): State<Host>, Path(id): Path<String>) -> Response {
    tm_file(&host, &id, "taskmanager.out").await
}

pub async fn taskmanager_stdout(State(host): State<Host>, Path(id): Path<String>) -> Response {
    tm_file(&host, &id, "taskmanager.out").await
}

pub async fn taskmanager_log_file(State(host): State<Host>, Path((id, name)): Path<(String, String)>) -> Response {
    tm_file(&host, &id, &name).await
}

/// `GET /taskmanagers/:id/logs` (LogListInfo), from the NodeManager's container log list.
pub async fn taskmanager_logs(State(host): State<Host>, Path(id): Path<String>) -> Response {
    let node = match tm_node(&host, &id) {
        Ok(n) => n,
        Err((st, m)) => return errors(st, m),
    };
    let url = format!("http://{node}/ws/v1/node/containers/{id}/logs");
    let client = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().expect("reqwest builds");
    let v: Value = match client.get(&url).header("Accept", "application/json").send().await {
        Ok(r) if r.status().is_success() => r.json().await.unwrap_or(Value::Null),
        Ok(r) => {
            return errors(StatusCode::BAD_GATEWAY, format!("The NodeManager answered {} for the logs of TaskManager {id}", r.status()))
        }
        Err(e) => return errors(StatusCode::BAD_GATEWAY, format!("Could not reach the NodeManager of TaskManager {id}: {e}")),
    };
    // The NM answers {"containerLogsInfo": {"containerLogInfo": [{fileName, fileSize, lastModifiedTime}]}}.
    let files = v.pointer("/containerLogsInfo/containerLogInfo").and_then(Value::as_array).cloned().unwrap_or_default();
    let logs: Vec<Value> = files
        .iter()
        .map(|f| {
            let n = |k: &str| f[k].as_str().and_then(|x| x.parse::<u64>().ok()).or_else(|| f[k].as_u64()).unwrap_or(0);
            json!({"name": f["fileName"], "size": n("fileSize"), "mtime": n("lastModifiedTime")})
        })
        .collect();
    ok(json!({"logs": logs}))
}
