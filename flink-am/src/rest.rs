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
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use engine::live::{wall_now, LiveNode};
use flink_core::{JobGraph, JobId, JobVertexId};
use serde_json::{json, Value};

use crate::async_ops::{OperationKind, SavepointFormat, TriggerId};
use crate::entrypoint::{FlinkAppMaster, Refused};

#[path = "rest_more.rs"]
pub(crate) mod more;

pub(crate) type Host = LiveNode<FlinkAppMaster>;
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
        .route("/jobs/{id}/vertices/{vid}/subtasks/metrics", get(more::subtasks_metrics))
        .route("/jobs/{id}/vertices/{vid}/subtasks/{index}/metrics", get(more::subtask_metrics))
        .route("/jobs/{id}/vertices/{vid}/metrics", get(more::vertex_metrics))
        .route("/jobs/{id}/vertices/{vid}/watermarks", get(more::watermarks))
        .route("/jobs/{id}/vertices/{vid}/backpressure", get(more::backpressure))
        .route("/applications/overview", get(more::applications_overview))
        .route("/applications/{id}", get(more::application))
        .route("/applications/{id}/jobmanager/config", get(more::application_config))
        .route("/jobmanager/environment", get(more::jobmanager_environment))
        .route("/jobmanager/metrics", get(more::jobmanager_metrics))
        .route("/jobmanager/log", get(more::jobmanager_log))
        .route("/jobmanager/stdout", get(more::jobmanager_stdout))
        .route("/jobmanager/logs/{name}", get(more::jobmanager_log_file))
        .route("/taskmanagers/{id}/metrics", get(more::taskmanager_metrics))
        .route("/taskmanagers/{id}/log", get(more::taskmanager_log))
        .route("/taskmanagers/{id}/stdout", get(more::taskmanager_stdout))
        .route("/taskmanagers/{id}/logs", get(more::taskmanager_logs))
        .route("/taskmanagers/{id}/logs/{name}", get(more::taskmanager_log_file))
        .route("/jobs/{id}/metrics", get(job_metrics))
        .route("/jobs/{id}/checkpoints", get(checkpoints).post(trigger_checkpoint))
        .route("/jobs/{id}/checkpoints/config", get(checkpoint_config))
        .route("/jobs/{id}/checkpoints/details/{cid}", get(checkpoint_details))
        .route("/jobs/{id}/checkpoints/details/{cid}/subtasks/{vid}", get(checkpoint_subtasks))
        .route("/jobs/{id}/checkpoints/{trigger}", get(checkpoint_status))
        .route("/jobs/{id}/savepoints", post(trigger_savepoint))
        .route("/jobs/{id}/savepoints/{trigger}", get(savepoint_status))
        .route("/jobs/{id}/stop", post(stop_with_savepoint))
        .route("/taskmanagers", get(taskmanagers))
        .route("/taskmanagers/{id}", get(taskmanager))
        .route("/jobmanager/config", get(jobmanager_config))
        .route("/jobmanager/logs", get(jobmanager_logs))
        .route("/cluster", delete(shutdown));
    let routes =
        Router::new().merge(api.clone()).nest("/v1", api).merge(crate::dashboard::routes()).fallback(not_found_route).with_state(host);
    engine::live::limits::HttpLimits::new(|_, e| errors(e.status(), e.message())).apply(routes)
}

/// `{"errors":[...]}` with a status, as Flink's RestHandlerException renders.
pub fn errors(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"errors": [msg.into()]}))).into_response()
}

async fn not_found_route() -> Response {
    errors(StatusCode::NOT_FOUND, "Not found: the requested REST resource does not exist.")
}

pub(crate) fn ok(v: Value) -> Response {
    (StatusCode::OK, Json(v)).into_response()
}

pub(crate) fn parse_job(id: &str) -> Result<JobId, Response> {
    id.parse().map_err(|e: String| errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")))
}

pub(crate) fn job_missing(id: &JobId) -> Response {
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
    // Flink's LeaderRetrievalHandler: no leader (or one still recovering) answers 503, which its
    // RestClusterClient retries (`rest.retry.max-attempts`, `rest.retry.delay`).
    if host.read(|am| am.awaiting_leadership()) {
        return errors(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable due to an ongoing leader election. Please refresh.",
        );
    }
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

/// `?maxExceptions=n` limits the history (at most `web.exception-history-size`).
async fn exceptions(State(host): State<Host>, Path(id): Path<String>, Query(q): Q) -> Response {
    let max = match q.get("maxExceptions").map(|m| m.parse::<usize>()) {
        None => None,
        Some(Ok(m)) => Some(m),
        Some(Err(_)) => {
            return errors(StatusCode::BAD_REQUEST, format!("Bad request received. Cannot parse maxExceptions '{}'.", q["maxExceptions"]))
        }
    };
    job_report(&host, &id, |am, j| am.job_exceptions_limited(j, max))
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
    ok(json!({"logs": more::local_logs()}))
}

/// The log files in this container's first `LOG_DIRS` directory: name, size, mtime.
pub(crate) fn list_log_dir() -> Vec<Value> {
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
    logs
}

async fn shutdown(State(host): State<Host>) -> Response {
    host.with(|am, cx| am.shutdown_cluster(cx));
    (StatusCode::OK, Json(json!({}))).into_response()
}

// ---- Checkpoints, savepoints, stop (Flink's checkpoint and savepoint handlers)

fn refused(r: Refused) -> Response {
    errors(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), r.message)
}

fn answer(r: Result<Value, Refused>) -> Response {
    match r {
        Ok(v) => ok(v),
        Err(r) => refused(r),
    }
}

fn accepted(r: Result<TriggerId, Refused>) -> Response {
    match r {
        Ok(t) => (StatusCode::ACCEPTED, Json(json!({"request-id": t.to_string()}))).into_response(),
        Err(r) => refused(r),
    }
}

/// A POST body (empty = `{}`), as the named Flink request type.
fn body(bytes: &Bytes, what: &str) -> Result<serde_json::Map<String, Value>, Response> {
    let text = String::from_utf8_lossy(bytes);
    if text.trim().is_empty() {
        return Ok(Default::default());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(errors(StatusCode::BAD_REQUEST, format!("Request did not match expected format {what}: expected a JSON object."))),
        Err(e) => Err(errors(StatusCode::BAD_REQUEST, format!("Request did not match expected format {what}: {e}"))),
    }
}

/// An optional string field; another JSON type is a 400.
fn str_field<'a>(m: &'a serde_json::Map<String, Value>, key: &str, what: &str) -> Result<Option<&'a str>, Response> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(v) => Err(errors(
            StatusCode::BAD_REQUEST,
            format!("Request did not match expected format {what}: '{key}' must be a string, got {v}."),
        )),
    }
}

fn bool_field(m: &serde_json::Map<String, Value>, key: &str, what: &str) -> Result<bool, Response> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(errors(
            StatusCode::BAD_REQUEST,
            format!("Request did not match expected format {what}: '{key}' must be a boolean, got {v}."),
        )),
    }
}

fn trigger_field(m: &serde_json::Map<String, Value>, what: &str) -> Result<Option<TriggerId>, Response> {
    str_field(m, "triggerId", what)?
        .map(|t| t.parse::<TriggerId>().map_err(|e| errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}"))))
        .transpose()
}

fn format_field(m: &serde_json::Map<String, Value>, what: &str) -> Result<SavepointFormat, Response> {
    SavepointFormat::parse(str_field(m, "formatType", what)?)
        .map_err(|e| errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")))
}

fn parse_trigger(t: &str) -> Result<TriggerId, Response> {
    t.parse().map_err(|e: String| errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")))
}

fn parse_checkpoint_id(c: &str) -> Result<flink_core::CheckpointId, Response> {
    c.parse().map_err(|_| errors(StatusCode::BAD_REQUEST, format!("Bad request received. Cannot parse checkpoint id '{c}'.")))
}

/// `POST /jobs/:id/savepoints` `{"target-directory", "cancel-job", "formatType", "triggerId"}`.
async fn trigger_savepoint(State(host): State<Host>, Path(id): Path<String>, bytes: Bytes) -> Response {
    const WHAT: &str = "SavepointTriggerRequestBody";
    let parsed = (|| {
        let job = parse_job(&id)?;
        let m = body(&bytes, WHAT)?;
        let dir = str_field(&m, "target-directory", WHAT)?.map(String::from);
        let kind = OperationKind::Savepoint { cancel_job: bool_field(&m, "cancel-job", WHAT)?, format: format_field(&m, WHAT)? };
        Ok((job, dir, kind, trigger_field(&m, WHAT)?))
    })();
    match parsed {
        Ok((job, dir, kind, trigger)) => accepted(host.with(|am, cx| am.trigger_savepoint(cx, job, dir.as_deref(), kind, trigger))),
        Err(r) => r,
    }
}

/// `POST /jobs/:id/stop` `{"targetDirectory", "drain", "formatType", "triggerId"}`.
async fn stop_with_savepoint(State(host): State<Host>, Path(id): Path<String>, bytes: Bytes) -> Response {
    const WHAT: &str = "StopWithSavepointRequestBody";
    let parsed = (|| {
        let job = parse_job(&id)?;
        let m = body(&bytes, WHAT)?;
        let dir = str_field(&m, "targetDirectory", WHAT)?.map(String::from);
        let kind = OperationKind::StopWithSavepoint { drain: bool_field(&m, "drain", WHAT)?, format: format_field(&m, WHAT)? };
        Ok((job, dir, kind, trigger_field(&m, WHAT)?))
    })();
    match parsed {
        Ok((job, dir, kind, trigger)) => accepted(host.with(|am, cx| am.trigger_savepoint(cx, job, dir.as_deref(), kind, trigger))),
        Err(r) => r,
    }
}

/// `POST /jobs/:id/checkpoints` `{"checkpointType": "CONFIGURED"|"FULL"|"INCREMENTAL", "triggerId"}`.
async fn trigger_checkpoint(State(host): State<Host>, Path(id): Path<String>, bytes: Bytes) -> Response {
    const WHAT: &str = "CheckpointTriggerRequestBody";
    let parsed = (|| {
        let job = parse_job(&id)?;
        let m = body(&bytes, WHAT)?;
        // The hashmap backend's checkpoints are always full; INCREMENTAL runs the same way.
        let full = match str_field(&m, "checkpointType", WHAT)?.map(|t| t.to_ascii_uppercase()) {
            None => false,
            Some(t) if t == "CONFIGURED" || t == "INCREMENTAL" => false,
            Some(t) if t == "FULL" => true,
            Some(t) => {
                return Err(errors(
                    StatusCode::BAD_REQUEST,
                    format!("Bad request received. Invalid checkpointType '{t}': it must be one of [CONFIGURED, FULL, INCREMENTAL]."),
                ))
            }
        };
        Ok((job, full, trigger_field(&m, WHAT)?))
    })();
    match parsed {
        Ok((job, full, trigger)) => accepted(host.with(|am, cx| am.trigger_checkpoint(cx, job, full, trigger))),
        Err(r) => r,
    }
}

/// `GET /jobs/:id/savepoints/:trigger` (savepoints and stop-with-savepoint).
async fn savepoint_status(State(host): State<Host>, Path((id, trigger)): Path<(String, String)>) -> Response {
    match (parse_job(&id), parse_trigger(&trigger)) {
        (Ok(job), Ok(t)) => answer(host.read(|am| am.operation_status(&job, &t, true))),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

/// `GET /jobs/:id/checkpoints/:trigger`.
async fn checkpoint_status(State(host): State<Host>, Path((id, trigger)): Path<(String, String)>) -> Response {
    match (parse_job(&id), parse_trigger(&trigger)) {
        (Ok(job), Ok(t)) => answer(host.read(|am| am.operation_status(&job, &t, false))),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

async fn checkpoints(State(host): State<Host>, Path(id): Path<String>) -> Response {
    match parse_job(&id) {
        Ok(job) => answer(host.read(|am| am.checkpoint_statistics(&job))),
        Err(r) => r,
    }
}

async fn checkpoint_config(State(host): State<Host>, Path(id): Path<String>) -> Response {
    match parse_job(&id) {
        Ok(job) => answer(host.read(|am| am.checkpoint_config(&job))),
        Err(r) => r,
    }
}

async fn checkpoint_details(State(host): State<Host>, Path((id, cid)): Path<(String, String)>) -> Response {
    match (parse_job(&id), parse_checkpoint_id(&cid)) {
        (Ok(job), Ok(c)) => answer(host.read(|am| am.checkpoint_details(&job, c))),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

async fn checkpoint_subtasks(State(host): State<Host>, Path((id, cid, vid)): Path<(String, String, String)>) -> Response {
    let v = match vid.parse::<JobVertexId>() {
        Ok(v) => v,
        Err(e) => return errors(StatusCode::BAD_REQUEST, format!("Bad request received. {e}")),
    };
    match (parse_job(&id), parse_checkpoint_id(&cid)) {
        (Ok(job), Ok(c)) => answer(host.read(|am| am.checkpoint_subtask_details(&job, c, &v))),
        (Err(r), _) | (_, Err(r)) => r,
    }
}

/// `GET /jobs/:id/metrics[?get=numRestarts,...]`.
async fn job_metrics(State(host): State<Host>, Path(id): Path<String>, Query(q): Q) -> Response {
    job_report(&host, &id, |am, j| am.job_metrics(j, q.get("get").map(String::as_str), wall_now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The routes build (no conflicting paths) and checkpoint/savepoint requests that must be
    /// refused are, with Flink's status codes and messages, under / and /v1/.
    #[tokio::test]
    async fn checkpoint_and_savepoint_routes_refuse_bad_requests() {
        let cfg = crate::AmConfig::new(crate::AmMode::Session, Default::default());
        let dir = std::env::temp_dir().join(format!("flink-am-rest-{}", std::process::id()));
        let (listener, addr) = engine::live::bind_loopback(0).await.unwrap();
        let host = LiveNode::new(FlinkAppMaster::new(cfg), addr, &dir, engine::Codecs::new(), 1);
        let app = routes(host);
        let server = tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        let job = "0123456789abcdef0123456789abcdef";
        let call = |m: reqwest::Method, p: String, body: Option<&'static str>| {
            let mut r = http.request(m, format!("http://{addr}{p}"));
            if let Some(b) = body {
                r = r.body(b);
            }
            async move {
                let resp = r.send().await.unwrap();
                let status = resp.status().as_u16();
                (status, resp.json::<Value>().await.unwrap())
            }
        };
        for prefix in ["", "/v1"] {
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/checkpoints"), None).await;
            assert_eq!(
                (st, v["errors"][0].as_str().unwrap()),
                (404, format!("org.apache.flink.runtime.rest.NotFoundException: Job {job} not found").as_str())
            );
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/checkpoints/config"), None).await;
            assert_eq!(st, 404);
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/checkpoints/details/x"), None).await;
            assert_eq!(st, 400);
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/checkpoints/details/1/subtasks/{job}"), None).await;
            assert_eq!(st, 404);
            let (st, _) =
                call(reqwest::Method::POST, format!("{prefix}/jobs/{job}/savepoints"), Some(r#"{"target-directory":"sp"}"#)).await;
            assert_eq!(st, 404);
            let (st, v) = call(reqwest::Method::POST, format!("{prefix}/jobs/{job}/savepoints"), Some("[1]")).await;
            assert_eq!(st, 400);
            assert!(v["errors"][0].as_str().unwrap().starts_with("Request did not match expected format SavepointTriggerRequestBody"));
            let (st, v) = call(reqwest::Method::POST, format!("{prefix}/jobs/{job}/stop"), Some(r#"{"drain":"yes"}"#)).await;
            assert_eq!(st, 400);
            assert!(v["errors"][0].as_str().unwrap().contains("'drain' must be a boolean"));
            let (st, _) = call(reqwest::Method::POST, format!("{prefix}/jobs/{job}/stop"), Some(r#"{"formatType":"BINARY"}"#)).await;
            assert_eq!(st, 400);
            let (st, _) =
                call(reqwest::Method::POST, format!("{prefix}/jobs/{job}/checkpoints"), Some(r#"{"checkpointType":"HALF"}"#)).await;
            assert_eq!(st, 400);
            let (st, _) = call(reqwest::Method::POST, format!("{prefix}/jobs/{job}/checkpoints"), None).await;
            assert_eq!(st, 404);
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/savepoints/nothex"), None).await;
            assert_eq!(st, 400);
            assert!(v["errors"][0].as_str().unwrap().contains("TriggerId"));
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/savepoints/{job}"), None).await;
            assert_eq!(st, 404);
            assert_eq!(
                v["errors"][0],
                format!(
                    "org.apache.flink.runtime.rest.NotFoundException: There is no savepoint operation with triggerId={job} for job {job}."
                )
            );
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/checkpoints/{job}"), None).await;
            assert_eq!(st, 404);
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/metrics?get=numRestarts"), None).await;
            assert_eq!(st, 404);
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/exceptions?maxExceptions=x"), None).await;
            assert_eq!(st, 400);
            // The 1.20/2.x dashboard routes: an unknown job is Flink's 404 everywhere, and
            // `subtasks/metrics` is its own route, not a subtask index ("metrics" would be a 400).
            for path in [
                format!("/jobs/{job}/vertices/{job}/subtasks/metrics"),
                format!("/jobs/{job}/vertices/{job}/subtasks/0/metrics"),
                format!("/jobs/{job}/vertices/{job}/metrics"),
                format!("/jobs/{job}/vertices/{job}/watermarks"),
                format!("/jobs/{job}/vertices/{job}/backpressure"),
                format!("/applications/{job}"),
                format!("/applications/{job}/jobmanager/config"),
                "/taskmanagers/container_1_0001_01_000002/metrics".to_string(),
                "/taskmanagers/container_1_0001_01_000002/log".to_string(),
                "/taskmanagers/container_1_0001_01_000002/logs".to_string(),
            ] {
                let (st, v) = call(reqwest::Method::GET, format!("{prefix}{path}"), None).await;
                assert_eq!(st, 404, "{path}: {v}");
                assert!(
                    v["errors"][0].as_str().unwrap().contains("not found") || v["errors"][0].as_str().unwrap().contains("Could not find"),
                    "{path}: {v}"
                );
            }
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/vertices/{job}/subtasks/metrics?agg=median"), None).await;
            assert_eq!(st, 400, "{v}");
            let (st, _) = call(reqwest::Method::GET, format!("{prefix}/jobs/{job}/vertices/zz/watermarks"), None).await;
            assert_eq!(st, 400);
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/applications/overview"), None).await;
            assert_eq!((st, v["applications"].as_array().map(Vec::len)), (200, Some(0)));
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/jobmanager/metrics"), None).await;
            assert!(st == 200 && v.as_array().unwrap().iter().any(|m| m["id"] == "numRegisteredTaskManagers"), "{v}");
            let (st, v) = call(reqwest::Method::GET, format!("{prefix}/jobmanager/environment"), None).await;
            assert!(st == 200 && v["environment"].is_array() && v["jvm"]["options"].is_array(), "{v}");
        }
        // The dashboard's pages answer HTML; an unknown job is a 404 page.
        let page = http.get(format!("http://{addr}/")).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 200);
        // minijinja escapes "/" in values as &#x2f; (a browser reads it back as "/").
        assert!(page.text().await.unwrap().contains("href=\"web&#x2f;running\""));
        let page = http.get(format!("http://{addr}/web/job?id={job}")).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 404);
        let page = http.get(format!("http://{addr}/web/job?id=nothex")).send().await.unwrap();
        assert_eq!(page.status().as_u16(), 400);
        server.abort();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
