//! The ResourceManager's REST API (`/ws/v1/cluster/...`) and web UI (`/cluster`), over a
//! live-hosted [`ResourceManager`]. Handlers parse, call the node, render.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{any, get, post};
use axum::Router;
use engine::live::{wall_now, LiveNode};
use serde_json::{json, Value};

use super::body;
use super::render::{bad_request, error, not_found, render, Format};
use super::rm_app::{self, caller};
use crate::ids::{ApplicationAttemptId, ApplicationId, NodeId};
use crate::proto::RemoteError;
use crate::records::{NodeState, YarnApplicationState};
use crate::rm::ResourceManager;

type Host = LiveNode<ResourceManager>;
type Q = Query<BTreeMap<String, String>>;

pub fn routes(host: Host) -> Router {
    let routes = Router::new()
        .route("/ws/v1/cluster", get(info))
        .route("/ws/v1/cluster/info", get(info))
        .route("/ws/v1/cluster/metrics", get(metrics))
        .route("/ws/v1/cluster/scheduler", get(scheduler))
        .route("/ws/v1/cluster/apps", get(apps).post(submit))
        .route("/ws/v1/cluster/apps/new-application", post(new_application))
        .route("/ws/v1/cluster/apps/{id}", get(app))
        .route("/ws/v1/cluster/apps/{id}/appattempts", get(attempts))
        .route("/ws/v1/cluster/apps/{id}/appattempts/{attempt}", get(rm_app::attempt))
        .route("/ws/v1/cluster/apps/{id}/appattempts/{attempt}/containers", get(containers))
        .route("/ws/v1/cluster/apps/{id}/appattempts/{attempt}/containers/{cid}", get(rm_app::container))
        .route("/ws/v1/cluster/apps/{id}/state", get(rm_app::get_state).put(rm_app::put_state))
        .route("/ws/v1/cluster/apps/{id}/queue", get(rm_app::get_queue).put(rm_app::put_queue))
        .route("/ws/v1/cluster/apps/{id}/priority", get(rm_app::get_priority).put(rm_app::put_priority))
        .route("/ws/v1/cluster/apps/{id}/timeouts", get(rm_app::get_timeouts))
        .route("/ws/v1/cluster/apps/{id}/timeouts/{kind}", get(rm_app::get_timeout))
        .route("/ws/v1/cluster/apps/{id}/timeout", axum::routing::put(rm_app::put_timeout))
        .route("/ws/v1/cluster/appstatistics", get(rm_app::app_statistics))
        .route("/ws/v1/cluster/nodes", get(nodes))
        .route("/ws/v1/cluster/nodes/{id}", get(node))
        .route("/ws/v1/{*rest}", get(unknown).post(unknown).put(unknown))
        .route("/", get(|| async { Redirect::to("/cluster") }))
        .route("/cluster", get(super::ui::cluster))
        .route("/cluster/apps", get(super::ui::apps))
        .route("/cluster/apps/{state}", get(super::ui::apps_in_state))
        .route("/cluster/app/{id}", get(super::ui::app))
        .route("/cluster/appattempt/{id}", get(super::ui::appattempt))
        .route("/cluster/scheduler", get(super::ui::scheduler))
        .route("/cluster/nodes", get(super::ui::nodes))
        .route("/cluster/cluster", get(super::ui::about))
        // Browsers ask every origin for one (e.g. on a JSON page): no icon, and no 404 either.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
        .route("/proxy/{id}", any(super::proxy::proxy_bare))
        .route("/proxy/{id}/", any(super::proxy::proxy_root))
        .route("/proxy/{id}/{*rest}", any(super::proxy::proxy_path))
        .with_state(host);
    // Size limits before any handler: a RemoteException, never axum's plain text.
    super::render::limits().apply(routes)
}

fn json_of<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("reports serialize")
}

fn parse_app(fmt: Format, id: &str) -> Result<ApplicationId, Response> {
    id.parse().map_err(|e: String| bad_request(fmt, e))
}

fn app_missing(fmt: Format, id: &str) -> Response {
    not_found(fmt, format!("app with id: {id} not found"))
}

async fn unknown(h: HeaderMap) -> Response {
    not_found(Format::from_headers(&h), "Resource not found")
}

async fn info(State(host): State<Host>, h: HeaderMap) -> Response {
    let v = host.read(|rm| json_of(&rm.cluster_info()));
    render(Format::from_headers(&h), StatusCode::OK, "clusterInfo", v)
}

async fn metrics(State(host): State<Host>, h: HeaderMap) -> Response {
    let v = host.read(|rm| json_of(&rm.cluster_metrics()));
    render(Format::from_headers(&h), StatusCode::OK, "clusterMetrics", v)
}

async fn scheduler(State(host): State<Host>, h: HeaderMap) -> Response {
    let v = host.read(|rm| rm.scheduler_info());
    render(Format::from_headers(&h), StatusCode::OK, "scheduler", json!({"schedulerInfo": v}))
}

/// `GET /apps` with YARN's filters; bad filter values are 400s.
async fn apps(State(host): State<Host>, h: HeaderMap, Query(q): Q) -> Response {
    let fmt = Format::from_headers(&h);
    let mut states = Vec::new();
    for raw in q.get("states").into_iter().chain(q.get("state")) {
        for st in body::csv_upper(raw) {
            match st.parse::<YarnApplicationState>() {
                Ok(s) => states.push(s),
                Err(_) => {
                    return bad_request(
                        fmt,
                        format!("Invalid application-state {st} specified. It should be one of NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED"),
                    )
                }
            }
        }
    }
    let limit = match q.get("limit").map(|l| l.parse::<i64>()) {
        None => None,
        Some(Ok(l)) if l > 0 => Some(l as usize),
        Some(_) => return bad_request(fmt, "limit value must be greater then 0"),
    };
    let num = |k: &str| -> Result<Option<u64>, Response> {
        match q.get(k) {
            None => Ok(None),
            Some(v) => v.parse::<u64>().map(Some).map_err(|_| bad_request(fmt, format!("{k} must be a number, got {v}"))),
        }
    };
    let (sb, se, fb, fe) = match (num("startedTimeBegin"), num("startedTimeEnd"), num("finishedTimeBegin"), num("finishedTimeEnd")) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a.unwrap_or(0), b.unwrap_or(u64::MAX), c.unwrap_or(0), d.unwrap_or(u64::MAX)),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return e,
    };
    let types: Vec<String> = q.get("applicationTypes").map(|t| body::csv_upper(t)).unwrap_or_default();
    let tags: Vec<String> = q
        .get("applicationTags")
        .map(|t| t.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect())
        .unwrap_or_default();
    let final_status = q.get("finalStatus").map(|f| f.to_ascii_uppercase());
    let user = caller(&host, &q);
    let reports = host.read(|rm| rm.app_reports_as(wall_now(), &user));
    let timed = q.contains_key("finishedTimeBegin") || q.contains_key("finishedTimeEnd");
    // Filters run on the reports themselves and JSON is written straight from them: with
    // thousands of retained apps a JSON tree per app would cost the RM tens of MiB per call.
    let mut out: Vec<&crate::rm::AppReport> = Vec::new();
    for r in &reports {
        if !states.is_empty() && !states.contains(&r.state) {
            continue;
        }
        if q.get("user").map(|u| r.user != *u).unwrap_or(false) || q.get("queue").map(|u| r.queue != *u).unwrap_or(false) {
            continue;
        }
        if final_status.as_ref().map(|f| json_of(&r.final_status) != *f).unwrap_or(false) {
            continue;
        }
        // ClientRMService: `name` matches the application name exactly.
        if q.get("name").map(|n| r.name != *n).unwrap_or(false) {
            continue;
        }
        if !types.is_empty() && !types.iter().any(|t| r.application_type.eq_ignore_ascii_case(t)) {
            continue;
        }
        if !tags.is_empty() {
            let have: Vec<&str> = r.application_tags.split(',').collect();
            if !tags.iter().any(|t| have.contains(&t.as_str())) {
                continue;
            }
        }
        let (started, finished) = (r.started_time, r.finished_time);
        if started < sb || started > se || timed && (finished == 0 || finished < fb || finished > fe) {
            continue;
        }
        out.push(r);
        if limit.map(|l| out.len() >= l).unwrap_or(false) {
            break;
        }
    }
    match fmt {
        Format::Json => {
            #[derive(serde::Serialize)]
            struct Apps<'a> {
                apps: Option<AppList<'a>>,
            }
            #[derive(serde::Serialize)]
            struct AppList<'a> {
                app: &'a [&'a crate::rm::AppReport],
            }
            let body = Apps { apps: (!out.is_empty()).then_some(AppList { app: &out }) };
            let text = serde_json::to_string(&body).expect("reports serialize");
            (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], text).into_response()
        }
        Format::Xml => {
            let body = if out.is_empty() { Value::Null } else { json!({ "app": out.iter().map(|r| json_of(*r)).collect::<Vec<_>>() }) };
            render(fmt, StatusCode::OK, "apps", body)
        }
    }
}

async fn app(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let user = caller(&host, &q);
    match host.read(|rm| rm.app_report_as(&app, wall_now(), &user)) {
        Some(r) => render(fmt, StatusCode::OK, "app", json_of(&r)),
        None => app_missing(fmt, &id),
    }
}

async fn attempts(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>, Query(q): Q) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let user = caller(&host, &q);
    match host.read(|rm| rm.attempt_reports_as(&app, &user)) {
        Some(list) => render(fmt, StatusCode::OK, "appAttempts", json!({"appAttempt": json_of(&list)})),
        None => app_missing(fmt, &id),
    }
}

async fn containers(State(host): State<Host>, h: HeaderMap, Path((id, attempt)): Path<(String, String)>) -> Response {
    let fmt = Format::from_headers(&h);
    if let Err(r) = parse_app(fmt, &id) {
        return r;
    }
    let att: ApplicationAttemptId = match attempt.parse() {
        Ok(a) => a,
        Err(e) => return bad_request(fmt, e),
    };
    match host.read(|rm| rm.container_reports(&att, wall_now())) {
        Some(list) => render(fmt, StatusCode::OK, "containers", json!({"container": json_of(&list)})),
        None => not_found(fmt, format!("appattempt with id: {attempt} not found")),
    }
}

fn status_of(e: &RemoteError) -> StatusCode {
    match e.exception.as_str() {
        "ApplicationNotFoundException" | "NotFoundException" => StatusCode::NOT_FOUND,
        "ForbiddenException" | "AccessControlException" => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    }
}

async fn new_application(State(host): State<Host>, h: HeaderMap) -> Response {
    let fmt = Format::from_headers(&h);
    let (id, max) = host.with(|rm, cx| rm.new_application(cx));
    let v = json!({"application-id": id.to_string(), "maximum-resource-capability": {"memory": max.memory_mb, "vCores": max.vcores}});
    // YARN's JSON has no wrapper here; its XML root is <NewApplication>.
    match fmt {
        Format::Json => super::render::render_value(fmt, StatusCode::OK, v),
        Format::Xml => super::render::render_value(fmt, StatusCode::OK, json!({"NewApplication": v})),
    }
}

/// `POST /apps`: 202 with `Location`, or a RemoteException; a rejected submission changes
/// nothing.
async fn submit(State(host): State<Host>, h: HeaderMap, Query(q): Q, bytes: Bytes) -> Response {
    let fmt = Format::from_headers(&h);
    let ct = h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    let ctx = match body::parse(ct, &bytes).and_then(|v| body::submission_context(&v)) {
        Ok(c) => c,
        Err(e) => return bad_request(fmt, e),
    };
    let user = caller(&host, &q);
    let id = ctx.application_id;
    match host.with(|rm, cx| rm.submit_application(cx, ctx, &user)) {
        Ok(()) => {
            let web = host.read(|rm| rm.web_address().to_string());
            let loc = format!("http://{web}/ws/v1/cluster/apps/{id}");
            (StatusCode::ACCEPTED, [(header::LOCATION, loc)]).into_response()
        }
        // RMWebServices turns every YarnException of a submission (a queue ACL's
        // AccessControlException too) into a BadRequestException with its message.
        Err(e) if e.exception == "AccessControlException" => bad_request(fmt, e.to_string()),
        Err(e) => error(fmt, status_of(&e), &e),
    }
}

async fn nodes(State(host): State<Host>, h: HeaderMap, Query(q): Q) -> Response {
    let fmt = Format::from_headers(&h);
    let mut states = Vec::new();
    if let Some(s) = q.get("states").or(q.get("state")) {
        for st in body::csv_upper(s) {
            match st.parse::<NodeState>() {
                Ok(x) => states.push(x.name().to_string()),
                Err(_) => return bad_request(fmt, format!("Invalid node state {st}")),
            }
        }
    }
    let healthy = match q.get("healthy").map(|v| v.to_ascii_lowercase()) {
        None => None,
        Some(v) if v == "true" => Some(true),
        Some(v) if v == "false" => Some(false),
        Some(v) => return bad_request(fmt, format!("Invalid value for healthy: {v}")),
    };
    let list: Vec<Value> = host
        .read(|rm| rm.node_reports())
        .iter()
        .map(json_of)
        .filter(|n| states.is_empty() || states.iter().any(|s| n["state"] == *s))
        .filter(|n| healthy.map(|h| (n["healthStatus"] == "Healthy") == h).unwrap_or(true))
        .collect();
    let body = if list.is_empty() { Value::Null } else { json!({"node": list}) };
    render(fmt, StatusCode::OK, "nodes", body)
}

async fn node(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let nid: NodeId = match id.parse() {
        Ok(n) => n,
        Err(e) => return bad_request(fmt, e),
    };
    match host.read(|rm| rm.node_report(&nid)) {
        Some(r) => render(fmt, StatusCode::OK, "node", json_of(&r)),
        None => not_found(fmt, format!("nodeId, {id}, is not found")),
    }
}
