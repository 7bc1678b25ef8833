//! The Flink dashboard the ApplicationMaster serves at `/` (and through the RM's
//! `/proxy/<appId>/`): our own server-rendered pages (minijinja templates) built from the
//! same reports the REST API serves, with the job graph laid out in Rust as SVG. Pages live
//! at `/` and one level below (`/web/...`) and link relatively, so a proxy prefix is kept.
//! While a job runs its pages reload themselves (meta refresh).

// Handlers return their early `Response` (an error page) as the error: that is the reply.
#![allow(clippy::result_large_err)]

pub mod layout;

use std::collections::BTreeMap;
use std::sync::OnceLock;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use engine::live::wall_now;
use flink_core::JobId;
use minijinja::Environment;
use serde_json::{json, Value};
use yarn_sim::rest::web;

use crate::rest::Host;
use crate::webmonitor_io as io;

type Q = Query<BTreeMap<String, String>>;

/// Seconds between reloads of a page that shows something running.
const REFRESH_SECS: u32 = 2;

fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        web::environment(&[
            ("base.html", include_str!("dashboard/templates/base.html")),
            ("overview.html", include_str!("dashboard/templates/overview.html")),
            ("jobs.html", include_str!("dashboard/templates/jobs.html")),
            ("jobtable.html", include_str!("dashboard/templates/jobtable.html")),
            ("job.html", include_str!("dashboard/templates/job.html")),
            ("vertex.html", include_str!("dashboard/templates/vertex.html")),
            ("taskmanagers.html", include_str!("dashboard/templates/taskmanagers.html")),
            ("taskmanager.html", include_str!("dashboard/templates/taskmanager.html")),
            ("jobmanager.html", include_str!("dashboard/templates/jobmanager.html")),
            ("error.html", include_str!("dashboard/templates/error.html")),
        ])
    })
}

pub fn routes() -> Router<Host> {
    Router::new()
        .route("/", get(root))
        .route("/web/overview", get(overview))
        .route("/web/running", get(running))
        .route("/web/completed", get(completed))
        .route("/web/job", get(job))
        .route("/web/vertex", get(vertex))
        .route("/web/taskmanagers", get(taskmanagers))
        .route("/web/taskmanager", get(taskmanager))
        .route("/web/jobmanager", get(jobmanager))
        // Browsers ask every origin for one (e.g. on a JSON page): no icon, and no 404 either.
        .route("/favicon.ico", get(|| async { StatusCode::NO_CONTENT }))
}

/// Renders a page; `base` is the relative path from the page to `/web/` ("web/" at the root).
fn page(name: &str, base: &str, title: &str, refresh: bool, mut ctx: Value) -> Response {
    ctx["base"] = json!(base);
    ctx["title"] = json!(title);
    ctx["refresh"] = json!(if refresh { REFRESH_SECS } else { 0 });
    ctx["flink_version"] = json!(crate::FLINK_VERSION);
    web::render(templates(), StatusCode::OK, name, minijinja::Value::from(minijinja::value::Serde(&ctx)))
}

fn error_page(base: &str, status: StatusCode, message: &str) -> Response {
    let ctx = json!({"base": base, "title": "Error", "refresh": 0, "flink_version": crate::FLINK_VERSION, "message": message, "status": status.as_u16()});
    let mut r = web::render(templates(), status, "error.html", minijinja::Value::from(minijinja::value::Serde(&ctx)));
    *r.status_mut() = status;
    r
}

fn is_running(state: &Value) -> bool {
    !matches!(state.as_str(), Some("FINISHED" | "FAILED" | "CANCELED" | "SUSPENDED"))
}

fn overview_page(host: &Host, base: &str) -> Response {
    let (overview, jobs) = host.read(|am| (am.overview(wall_now()), am.jobs_overview(wall_now())));
    let list = jobs["jobs"].as_array().cloned().unwrap_or_default();
    let (run, done): (Vec<Value>, Vec<Value>) = list.into_iter().partition(|j| is_running(&j["state"]));
    let refresh = !run.is_empty();
    page("overview.html", base, "Overview", refresh, json!({"overview": overview, "running": run, "completed": done}))
}

async fn root(State(host): State<Host>) -> Response {
    overview_page(&host, "web/")
}

async fn overview(State(host): State<Host>) -> Response {
    overview_page(&host, "")
}

fn jobs_page(host: &Host, running: bool) -> Response {
    let jobs = host.read(|am| am.jobs_overview(wall_now()));
    let list: Vec<Value> =
        jobs["jobs"].as_array().cloned().unwrap_or_default().into_iter().filter(|j| is_running(&j["state"]) == running).collect();
    let title = if running { "Running Jobs" } else { "Completed Jobs" };
    page("jobs.html", "", title, running && !list.is_empty(), json!({"jobs": list, "running": running}))
}

async fn running(State(host): State<Host>) -> Response {
    jobs_page(&host, true)
}

async fn completed(State(host): State<Host>) -> Response {
    jobs_page(&host, false)
}

fn parse_job_param(q: &BTreeMap<String, String>, key: &str) -> Result<JobId, Response> {
    let id = q.get(key).map(String::as_str).unwrap_or("");
    id.parse().map_err(|e: String| error_page("", StatusCode::BAD_REQUEST, &format!("Bad request received. {e}")))
}

/// Per vertex: the highest busy and backpressured ms/s over its subtasks, as Flink's graph
/// shows them ("Busy (max)", "Backpressured (max)").
fn vertex_rates(j: &crate::jobmaster::JobMaster) -> BTreeMap<String, (f64, f64)> {
    j.execution_graph
        .vertices
        .iter()
        .map(|v| {
            let mut busy = 0.0f64;
            let mut bp = 0.0f64;
            for s in &v.subtasks {
                if let Some((b, p, _)) = s.current.time_ratios() {
                    busy = busy.max(b);
                    bp = bp.max(p);
                }
            }
            (v.vertex.id.to_string(), (busy, bp))
        })
        .collect()
}

/// The job graph as SVG data: boxes with per-vertex figures, edges with ship strategies.
fn graph(details: &Value, rates: &BTreeMap<String, (f64, f64)>) -> Value {
    let vertices = details["vertices"].as_array().cloned().unwrap_or_default();
    let index: BTreeMap<String, usize> =
        vertices.iter().enumerate().map(|(i, v)| (v["id"].as_str().unwrap_or("").to_string(), i)).collect();
    let mut edges = Vec::new();
    let mut labels = Vec::new();
    for node in details["plan"]["nodes"].as_array().cloned().unwrap_or_default() {
        let Some(to) = node["id"].as_str().and_then(|id| index.get(id)) else { continue };
        for input in node["inputs"].as_array().cloned().unwrap_or_default() {
            if let Some(from) = input["id"].as_str().and_then(|id| index.get(id)) {
                edges.push((*from, *to));
                labels.push(input["ship_strategy"].as_str().unwrap_or("").to_string());
            }
        }
    }
    let l = layout::layout(vertices.len(), &edges);
    let nodes: Vec<Value> = l
        .nodes
        .iter()
        .map(|b| {
            let v = &vertices[b.index];
            let id = v["id"].as_str().unwrap_or("");
            let (busy, bp) = rates.get(id).copied().unwrap_or((0.0, 0.0));
            let name = v["name"].as_str().unwrap_or("");
            // Long chain names are cut to fit the box; the full name is the box's tooltip.
            let short: String =
                if name.chars().count() > 38 { name.chars().take(37).collect::<String>() + "…" } else { name.to_string() };
            json!({
                "x": b.x, "y": b.y, "w": b.w, "h": b.h, "id": id, "name": name, "short": short,
                "parallelism": v["parallelism"], "status": v["status"], "metrics": v["metrics"],
                // Percent, whole numbers as Flink's graph shows them.
                "busy": (busy / 10.0).round() as i64, "backpressured": (bp / 10.0).round() as i64,
                "level": io::backpressure_level(bp / 1000.0),
            })
        })
        .collect();
    let edges: Vec<Value> =
        l.edges.iter().zip(labels).map(|(e, label)| json!({"d": e.d, "x": e.label_x, "y": e.label_y, "label": label})).collect();
    json!({"width": l.width, "height": l.height, "nodes": nodes, "edges": edges})
}

async fn job(State(host): State<Host>, Query(q): Q) -> Response {
    let id = match parse_job_param(&q, "id") {
        Ok(j) => j,
        Err(r) => return r,
    };
    let tab = q.get("tab").map(String::as_str).unwrap_or("overview");
    if !["overview", "exceptions", "checkpoints", "configuration"].contains(&tab) {
        return error_page("", StatusCode::BAD_REQUEST, &format!("Bad request received. Unknown tab {tab}."));
    }
    let data = host.read(|am| {
        let j = am.dispatcher().job(&id)?;
        let now = wall_now();
        let details = crate::webmonitor::job_details(j, now);
        let graph = graph(&details, &vertex_rates(j));
        let exceptions = crate::webmonitor::job_exceptions(j, None);
        let checkpoints = am.checkpoint_statistics(&id).ok();
        let checkpoint_config = am.checkpoint_config(&id).ok();
        let config = crate::webmonitor::job_config(j);
        Some(json!({
            "job": details, "graph": graph, "exceptions": exceptions, "checkpoints": checkpoints,
            "checkpoint_config": checkpoint_config, "config": config,
        }))
    });
    match data {
        Some(mut ctx) => {
            let running = is_running(&ctx["job"]["state"]);
            let title = format!("Job {}", ctx["job"]["name"].as_str().unwrap_or(""));
            ctx["tab"] = json!(tab);
            page("job.html", "", &title, running, ctx)
        }
        None => error_page("", StatusCode::NOT_FOUND, &format!("org.apache.flink.runtime.rest.NotFoundException: Job {id} not found")),
    }
}

async fn vertex(State(host): State<Host>, Query(q): Q) -> Response {
    let id = match parse_job_param(&q, "job") {
        Ok(j) => j,
        Err(r) => return r,
    };
    let vid_text = q.get("id").cloned().unwrap_or_default();
    let Ok(vid) = vid_text.parse::<flink_core::JobVertexId>() else {
        return error_page("", StatusCode::BAD_REQUEST, &format!("Bad request received. Cannot parse JobVertexID {vid_text}"));
    };
    let data = host.read(|am| {
        let j = am.dispatcher().job(&id)?;
        let now = wall_now();
        let details = crate::webmonitor::vertex_details(j, &vid, now)?;
        let rates: Vec<Value> = j
            .execution_graph
            .vertices
            .iter()
            .find(|v| v.vertex.id == vid)
            .map(|v| {
                v.subtasks
                    .iter()
                    .map(|s| {
                        let (b, p, i) = s.current.time_ratios().unwrap_or((0.0, 0.0, 0.0));
                        json!({"busy": (b / 10.0).round() as i64, "backpressured": (p / 10.0).round() as i64, "idle": (i / 10.0).round() as i64})
                    })
                    .collect()
            })
            .unwrap_or_default();
        Some(json!({
            "job_id": id.to_string(), "job_name": j.graph.name, "job_state": j.status.name(),
            "vertex": details, "rates": rates,
            "backpressure": io::backpressure(j, &vid, now), "watermarks": io::watermarks(j, &vid),
        }))
    });
    match data {
        Some(ctx) => {
            let running = is_running(&json!(ctx["job_state"]));
            let title = format!("Vertex {}", ctx["vertex"]["name"].as_str().unwrap_or(""));
            page("vertex.html", "", &title, running, ctx)
        }
        None => error_page(
            "",
            StatusCode::NOT_FOUND,
            &format!("org.apache.flink.runtime.rest.NotFoundException: Vertex {vid_text} of job {id} not found"),
        ),
    }
}

async fn taskmanagers(State(host): State<Host>) -> Response {
    let tms = host.read(|am| am.taskmanagers(wall_now()));
    let any_tasks = tms["taskmanagers"].as_array().is_some_and(|l| l.iter().any(|t| t["tasks"].as_array().is_some_and(|x| !x.is_empty())));
    page("taskmanagers.html", "", "Task Managers", any_tasks, json!({"taskmanagers": tms["taskmanagers"], "now": wall_now().as_millis()}))
}

async fn taskmanager(State(host): State<Host>, Query(q): Q) -> Response {
    let id = q.get("id").cloned().unwrap_or_default();
    let tab = q.get("tab").map(String::as_str).unwrap_or("overview").to_string();
    if !["overview", "log", "stdout", "logs"].contains(&tab.as_str()) {
        return error_page("", StatusCode::BAD_REQUEST, &format!("Bad request received. Unknown tab {tab}."));
    }
    let Some(info) = host.read(|am| am.taskmanager(&id, wall_now())) else {
        return error_page(
            "",
            StatusCode::NOT_FOUND,
            &format!("org.apache.flink.runtime.rest.handler.taskmanager.TaskManagerNotFoundException: Could not find TaskManager {id}"),
        );
    };
    let file = match tab.as_str() {
        "log" | "stdout" => Some("taskmanager.out".to_string()),
        "logs" => q.get("file").cloned(),
        _ => None,
    };
    let text = match &file {
        Some(f) => Some(match crate::rest::more::fetch_tm_file(&host, &id, f).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err((_, m)) => m,
        }),
        None => None,
    };
    let files = if tab == "logs" { tm_log_names(&host, &id).await } else { Vec::new() };
    let running = info["tasks"].as_array().is_some_and(|t| !t.is_empty());
    page(
        "taskmanager.html",
        "",
        &format!("Task Manager {id}"),
        running && tab == "overview",
        json!({"tm": info, "tab": tab, "text": text, "file": file, "files": files, "now": wall_now().as_millis()}),
    )
}

/// The names of a TaskManager container's log files, as its NodeManager lists them.
async fn tm_log_names(host: &Host, id: &str) -> Vec<String> {
    let r = crate::rest::more::taskmanager_logs(State(host.clone()), axum::extract::Path(id.to_string())).await;
    let Ok(bytes) = axum::body::to_bytes(r.into_body(), 1 << 20).await else { return Vec::new() };
    let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    v["logs"].as_array().map(|l| l.iter().filter_map(|f| f["name"].as_str().map(String::from)).collect()).unwrap_or_default()
}

async fn jobmanager(State(host): State<Host>, Query(q): Q) -> Response {
    let tab = q.get("tab").map(String::as_str).unwrap_or("configuration").to_string();
    let mut ctx = json!({"tab": tab});
    match tab.as_str() {
        "configuration" => ctx["config"] = host.read(|am| am.jobmanager_config()),
        "environment" => {
            let env: BTreeMap<String, String> = std::env::vars().collect();
            let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
            let args: Vec<String> = std::env::args().skip(1).collect();
            ctx["environment"] = io::environment(&exe, &args, &env);
        }
        "metrics" => {
            let values = host.read(|am| io::jobmanager_metric_values(am.dispatcher(), am.resource_manager()));
            ctx["metrics"] = json!(values.into_iter().map(|(k, v)| json!({"id": k, "value": v})).collect::<Vec<_>>());
        }
        "log" | "stdout" | "logs" => {
            let name = match tab.as_str() {
                "log" => Some("jobmanager.log".to_string()),
                "stdout" => Some("jobmanager.err".to_string()),
                _ => q.get("file").cloned(),
            };
            ctx["files"] = json!(crate::rest::more::local_logs());
            ctx["file"] = json!(name);
            ctx["text"] = json!(name.map(|n| match crate::rest::more::read_local_log(&n) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err((_, m)) => m,
            }));
        }
        other => return error_page("", StatusCode::BAD_REQUEST, &format!("Bad request received. Unknown tab {other}.")),
    }
    page("jobmanager.html", "", "Job Manager", false, ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every template renders against a minimal context (strict undefined catches typos).
    #[test]
    fn the_templates_render() {
        let env = templates();
        let base = json!({"base": "", "title": "t", "refresh": 0, "flink_version": "x"});
        let with = |extra: Value| {
            let mut c = base.clone();
            for (k, v) in extra.as_object().unwrap() {
                c[k] = v.clone();
            }
            minijinja::Value::from(minijinja::value::Serde(&c))
        };
        let ov = json!({"taskmanagers": 1, "slots-total": 2, "slots-available": 1, "jobs-running": 0, "jobs-finished": 0,
            "jobs-cancelled": 0, "jobs-failed": 0, "flink-version": "1.20.0", "flink-commit": "c"});
        let html =
            env.get_template("overview.html").unwrap().render(with(json!({"overview": ov, "running": [], "completed": []}))).unwrap();
        assert!(html.contains("Overview") && html.contains("href=\"running\""), "{html}");
        env.get_template("jobs.html").unwrap().render(with(json!({"jobs": [], "running": true}))).unwrap();
        env.get_template("taskmanagers.html").unwrap().render(with(json!({"taskmanagers": [], "now": 0}))).unwrap();
        env.get_template("error.html").unwrap().render(with(json!({"message": "<x>", "status": 404}))).unwrap();
        env.get_template("jobmanager.html").unwrap().render(with(json!({"tab": "configuration", "config": []}))).unwrap();
    }
}
