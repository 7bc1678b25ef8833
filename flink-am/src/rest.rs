//! Flink's REST API on the ApplicationMaster (served under `/` and `/v1/`), with the field
//! names Flink's serializers write, errors as `{"errors":[...]}`. Handlers parse, call the
//! node, render; the real `flink list` / `flink cancel -m host:port` work against it.

// Handlers return their early `Response` as the error: that is the reply.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use engine::live::{wall_now, LiveNode};
use flink_core::{JobGraph, JobId, JobVertexId};
use serde_json::{json, Value};

use crate::entrypoint::FlinkAppMaster;

type Host = LiveNode<FlinkAppMaster>;
type Q = Query<BTreeMap<String, String>>;

pub fn routes(host: Host) -> Router {
    let api = Router::new()
        .route("/config", get(config))
        .route("/overview", get(overview))
        .route("/jobs", get(jobs).post(submit))
        .route("/jobs/overview", get(jobs_overview))
        .route("/jobs/{id}", get(job).patch(patch_job))
        .route("/jobs/{id}/plan", get(plan))
        .route("/jobs/{id}/config", get(job_config))
        .route("/jobs/{id}/exceptions", get(exceptions))
        .route("/jobs/{id}/execution-result", get(execution_result))
        .route("/jobs/{id}/status", get(job_status))
        .route("/jobs/{id}/vertices/{vid}", get(vertex))
        .route("/jobs/{id}/vertices/{vid}/subtasks/{index}", get(subtask))
        .route("/taskmanagers", get(taskmanagers))
        .route("/taskmanagers/{id}", get(taskmanager))
        .route("/jobmanager/config", get(jobmanager_config))
        .route("/jobmanager/logs", get(jobmanager_logs))
        .route("/cluster", delete(shutdown));
    let routes = Router::new().merge(api.clone()).nest("/v1", api).fallback(not_found_route).with_state(host);
    engine::live::limits::HttpLimits::new(|_, e| errors(e.status(), e.message())).apply(routes)
}

/// `{"errors":[...]}` with a status, as Flink's RestHandlerException renders.
pub fn errors(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"errors": [msg.into()]}))).into_response()
}

async fn not_found_route() -> Response {
    errors(StatusCode::NOT_FOUND, "Not found: the requested REST resource does not exist.")
}

fn ok(v: Value) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

fn parse_job(id: &str) -> Result<JobId, Response> {
    id.parse().map_err(|e: String| errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")))
}

fn job_missing(id: &JobId) -> Response {
    errors(StatusCode::NOT_FOUND, format!("org.apache.flink.runtime.rest.NotFoundException: Job {id} not found"))
}

/// Parses the job id, reads one report of the job, renders it: 400 for a malformed id, 404 for
/// an unknown job.
fn job_report(host: &Host, id: &str, f: impl FnOnce(&FlinkAppMaster, &JobId) -> Option<Value>) -> Response {
    let job = match parse_job(id) {
        Ok(j) => j,
        Err(r) => return r,
    };
    match host.read(|am| f(am, &job)) {
        Some(v) => ok(v),
        None => job_missing(&job),
    }
}

fn value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).expect("reports serialize")
}

async fn config(State(host): State<Host>) -> Response {
    let tz = "UTC";
    let _ = &host;
    ok(json!({
        "refresh-interval": 3000, "timezone-name": tz, "timezone-offset": 0,
        "flink-version": crate::FLINK_VERSION, "flink-revision": crate::FLINK_REVISION,
        "features": {"web-submit": false, "web-cancel": true, "web-rescale": false, "web-history": false}
    }))
}

async fn overview(State(host): State<Host>) -> Response {
    ok(host.read(|am| value(am.overview(wall_now()))))
}

async fn jobs(State(host): State<Host>) -> Response {
    ok(host.read(|am| value(am.jobs(wall_now()))))
}

async fn jobs_overview(State(host): State<Host>) -> Response {
    ok(host.read(|am| value(am.jobs_overview(wall_now()))))
}

/// `POST /jobs`: a JSON JobGraph (our clients send it; Flink's send a Java-serialized one).
async fn submit(State(host): State<Host>, bytes: Bytes) -> Response {
    let graph: JobGraph = match serde_json::from_slice(&bytes) {
        Ok(g) => g,
        Err(e) => return errors(StatusCode::BAD_REQUEST, format!("Request did not match expected format JobSubmitRequestBody: {e}")),
    };
    match host.with(|am, cx| am.submit_job(cx, graph)) {
        Ok(id) => (StatusCode::ACCEPTED, Json(json!({"jobUrl": format!("/jobs/{id}")}))).into_response(),
        Err(e) => errors(StatusCode::BAD_REQUEST, format!("org.apache.flink.runtime.client.JobSubmissionException: {e}")),
    }
}

async fn job(State(host): State<Host>, Path(id): Path<String>) -> Response {
    job_report(&host, &id, |am, j| am.job_details(j, wall_now()))
}

async fn job_status(State(host): State<Host>, Path(id): Path<String>) -> Response {
    job_report(&host, &id, |am, j| am.job_details(j, wall_now()).map(|v| json!({"status": v["state"]})))
}

/// `PATCH /jobs/{id}?mode=cancel` — 202 with an empty body.
async fn patch_job(State(host): State<Host>, Path(id): Path<String>, Query(q): Q) -> Response {
    let job = match parse_job(&id) {
        Ok(j) => j,
        Err(r) => return r,
    };
    if let Some(mode) = q.get("mode").filter(|m| !m.eq_ignore_ascii_case("cancel")) {
        return errors(
            StatusCode::BAD_REQUEST,
            format!("Bad request received. Invalid value for mode: {mode}. The only supported value is: cancel"),
        );
    }
    match host.with(|am, cx| am.cancel_job(cx, job)) {
        Ok(()) => (StatusCode::ACCEPTED, Json(json!({}))).into_response(),
        Err(e) if e.contains("not found") => job_missing(&job),
        Err(e) => errors(StatusCode::CONFLICT, e),
    }
}

async fn plan(State(host): State<Host>, Path(id): Path<String>) -> Response {
    job_report(&host, &id, |am, j| am.job_plan(j))
}

async fn job_config(State(host): State<Host>, Path(id): Path<String>) -> Response {
    job_report(&host, &id, |am, j| am.job_config(j))
}

async fn exceptions(State(host): State<Host>, Path(id): Path<String>) -> Response {
    job_report(&host, &id, |am, j| am.job_exceptions(j))
}

async fn execution_result(State(host): State<Host>, Path(id): Path<String>) -> Response {
    job_report(&host, &id, |am, j| am.execution_result(j))
}

async fn vertex(State(host): State<Host>, Path((id, vid)): Path<(String, String)>) -> Response {
    let job = match parse_job(&id) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let v: JobVertexId = match vid.parse() {
        Ok(v) => v,
        Err(e) => return errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")),
    };
    match host.read(|am| am.vertex_details(&job, &v, wall_now()).map(value)) {
        Some(x) => ok(x),
        None => {
            errors(StatusCode::NOT_FOUND, format!("org.apache.flink.runtime.rest.NotFoundException: Vertex {vid} of job {id} not found"))
        }
    }
}

async fn subtask(State(host): State<Host>, Path((id, vid, index)): Path<(String, String, String)>) -> Response {
    let job = match parse_job(&id) {
        Ok(j) => j,
        Err(r) => return r,
    };
    let Ok(v) = vid.parse::<JobVertexId>() else {
        return errors(StatusCode::BAD_REQUEST, format!("Bad request received. Cannot parse JobVertexID {vid}"));
    };
    let Ok(i) = index.parse::<usize>() else {
        return errors(StatusCode::BAD_REQUEST, format!("Bad request received. Invalid subtask index {index}"));
    };
    let found = host.read(|am| am.vertex_details(&job, &v, wall_now()).map(value)).and_then(|x| x["subtasks"].get(i).cloned());
    match found {
        Some(s) => ok(s),
        None => errors(
            StatusCode::NOT_FOUND,
            format!("org.apache.flink.runtime.rest.NotFoundException: Subtask {index} of vertex {vid} not found"),
        ),
    }
}

async fn taskmanagers(State(host): State<Host>) -> Response {
    ok(host.read(|am| value(am.taskmanagers(wall_now()))))
}

async fn taskmanager(State(host): State<Host>, Path(id): Path<String>) -> Response {
    match host.read(|am| am.taskmanager(&id, wall_now()).map(value)) {
        Some(v) => ok(v),
        None => errors(
            StatusCode::NOT_FOUND,
            format!("org.apache.flink.runtime.rest.handler.taskmanager.TaskManagerNotFoundException: Could not find TaskManager {id}"),
        ),
    }
}

async fn jobmanager_config(State(host): State<Host>) -> Response {
    ok(host.read(|am| am.jobmanager_config()))
}

/// The AM container's log files (its working dir's `<LOG_DIR>`), as Flink lists them.
async fn jobmanager_logs(State(_host): State<Host>) -> Response {
    let dir = std::env::var("LOG_DIRS").unwrap_or_default();
    let mut logs = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir.split(',').next().unwrap_or("")) {
        for e in rd.flatten() {
            let md = e.metadata().ok();
            let mtime = md
                .as_ref()
                .and_then(|m| m.modified().ok())
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0);
            logs.push(json!({"name": e.file_name().to_string_lossy(), "size": md.map(|m| m.len()).unwrap_or(0), "mtime": mtime}));
        }
    }
    logs.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    ok(json!({"logs": logs}))
}

async fn shutdown(State(host): State<Host>) -> Response {
    host.with(|am, cx| am.shutdown_cluster(cx));
    (StatusCode::OK, Json(json!({}))).into_response()
}
