//! The WebMonitorEndpoint's metric, watermark, back-pressure, application and cluster
//! reports that Flink 1.20's and 2.x's dashboards and clients read, from what the
//! TaskExecutors report (`TaskIoMetrics`) and the JobMasters and ResourceManager know. Pure
//! functions, like `webmonitor`: the REST adapter calls them.

use std::collections::BTreeMap;

use engine::Time;
use flink_core::{JobId, JobStatus, JobVertexId};
use serde_json::{json, Value};

use crate::dispatcher::Dispatcher;
use crate::jobmaster::execution_graph::Execution;
use crate::jobmaster::JobMaster;
use crate::resourcemanager::slot_manager::SlotState;
use crate::resourcemanager::ActiveResourceManager;

/// Flink's `Long.MIN_VALUE` watermark: no watermark yet.
const NO_WATERMARK: i64 = i64::MIN;

/// The task metrics of one execution, as Flink names them in the task scope.
pub fn task_metric_values(e: &Execution) -> Vec<(&'static str, f64)> {
    let (busy, bp, idle) = e.time_ratios().unwrap_or((0.0, 0.0, 0.0));
    vec![
        ("numRecordsIn", e.records_in as f64),
        ("numRecordsOut", e.records_out as f64),
        ("numBytesIn", e.io.bytes_in as f64),
        ("numBytesOut", e.io.bytes_out as f64),
        ("accumulatedBusyTime", e.io.busy_ms as f64),
        ("accumulatedBackpressuredTime", e.io.backpressured_ms as f64),
        ("accumulatedIdleTime", e.io.idle_ms as f64),
        ("busyTimeMsPerSecond", busy.round()),
        ("backPressuredTimeMsPerSecond", bp.round()),
        ("idleTimeMsPerSecond", idle.round()),
        ("currentInputWatermark", e.io.input_watermark.unwrap_or(NO_WATERMARK) as f64),
    ]
}

/// A metric value as Flink's MetricStore returns it: a string, integers without a fraction.
fn metric_string(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 9.3e18 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// `?get=a,b` as a list of names (None = list the available ids).
fn wanted(get: Option<&str>) -> Option<Vec<&str>> {
    get.map(|g| g.split(',').map(str::trim).filter(|n| !n.is_empty()).collect())
}

/// MetricCollectionResponseBody: `[{"id"}]` without `get`, `[{"id","value"}]` with it (names
/// that do not exist are left out, as Flink does).
pub fn metric_collection(values: &[(String, String)], get: Option<&str>) -> Value {
    match wanted(get) {
        None => Value::Array(values.iter().map(|(id, _)| json!({"id": id})).collect()),
        Some(names) => Value::Array(
            names.iter().filter_map(|n| values.iter().find(|(id, _)| id == n)).map(|(id, v)| json!({"id": id, "value": v})).collect(),
        ),
    }
}

fn vertex<'a>(j: &'a JobMaster, vid: &JobVertexId) -> Option<&'a crate::jobmaster::execution_graph::ExecutionJobVertex> {
    j.execution_graph.vertices.iter().find(|v| v.vertex.id == *vid)
}

/// `GET /jobs/:id/vertices/:vid/metrics`: `<subtask>.<metric>` for every subtask.
pub fn vertex_metrics(j: &JobMaster, vid: &JobVertexId, get: Option<&str>) -> Option<Value> {
    let v = vertex(j, vid)?;
    let values: Vec<(String, String)> = v
        .subtasks
        .iter()
        .enumerate()
        .flat_map(|(i, s)| task_metric_values(&s.current).into_iter().map(move |(n, x)| (format!("{i}.{n}"), metric_string(x))))
        .collect();
    Some(metric_collection(&values, get))
}

/// `GET /jobs/:id/vertices/:vid/subtasks/:index/metrics`.
pub fn subtask_metrics(j: &JobMaster, vid: &JobVertexId, index: usize, get: Option<&str>) -> Option<Value> {
    let s = vertex(j, vid)?.subtasks.get(index)?;
    let values: Vec<(String, String)> =
        task_metric_values(&s.current).into_iter().map(|(n, x)| (n.to_string(), metric_string(x))).collect();
    Some(metric_collection(&values, get))
}

/// Aggregation modes of `?agg=` (AggregatedMetricsResponseBody); a bad one is the error text.
pub fn parse_aggregations(agg: Option<&str>) -> Result<Vec<&'static str>, String> {
    let Some(a) = agg else { return Ok(vec!["min", "max", "avg", "sum"]) };
    let mut out = Vec::new();
    for m in a.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        let known = ["min", "max", "avg", "sum", "skew"];
        match known.iter().find(|k| k.eq_ignore_ascii_case(m)) {
            Some(k) => out.push(*k),
            None => return Err(format!("Cannot parse aggregation mode '{m}': it must be one of [MIN, MAX, SUM, AVG, SKEW].")),
        }
    }
    Ok(out)
}

/// `GET /jobs/:id/vertices/:vid/subtasks/metrics[?get=&agg=&subtasks=]`: each metric
/// aggregated over the subtasks (all, or the `subtasks` listed).
pub fn subtasks_metrics(j: &JobMaster, vid: &JobVertexId, get: Option<&str>, agg: &[&str], subtasks: Option<&[usize]>) -> Option<Value> {
    let v = vertex(j, vid)?;
    let chosen: Vec<&Execution> =
        v.subtasks.iter().enumerate().filter(|(i, _)| subtasks.is_none_or(|l| l.contains(i))).map(|(_, s)| &s.current).collect();
    let names: Vec<&'static str> = task_metric_values(&v.subtasks[0].current).into_iter().map(|(n, _)| n).collect();
    let Some(wanted) = wanted(get) else {
        return Some(Value::Array(names.iter().map(|n| json!({"id": n})).collect()));
    };
    let mut out = Vec::new();
    for name in wanted.into_iter().filter(|w| names.contains(w)) {
        let xs: Vec<f64> =
            chosen.iter().filter_map(|e| task_metric_values(e).into_iter().find(|(n, _)| *n == name).map(|(_, x)| x)).collect();
        let mut m = serde_json::Map::new();
        m.insert("id".into(), json!(name));
        if !xs.is_empty() {
            let sum: f64 = xs.iter().sum();
            let avg = sum / xs.len() as f64;
            let min = xs.iter().cloned().fold(f64::INFINITY, f64::min);
            let max = xs.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            for a in agg {
                let x = match *a {
                    "min" => min,
                    "max" => max,
                    "avg" => avg,
                    "sum" => sum,
                    // Flink's skew: (max - min) / max as a percentage.
                    _ => {
                        if max > 0.0 {
                            (max - min) / max * 100.0
                        } else {
                            0.0
                        }
                    }
                };
                m.insert((*a).into(), json!(x));
            }
        }
        out.push(Value::Object(m));
    }
    Some(Value::Array(out))
}

/// `GET /jobs/:id/vertices/:vid/watermarks`: each subtask's `currentInputWatermark`.
pub fn watermarks(j: &JobMaster, vid: &JobVertexId) -> Option<Value> {
    let v = vertex(j, vid)?;
    Some(Value::Array(
        v.subtasks
            .iter()
            .enumerate()
            .map(|(i, s)| {
                json!({"id": format!("{i}.currentInputWatermark"), "value": s.current.io.input_watermark.unwrap_or(NO_WATERMARK).to_string()})
            })
            .collect(),
    ))
}

/// Flink's back-pressure levels by ratio: ok up to 10 %, low up to 50 %, high above.
pub fn backpressure_level(ratio: f64) -> &'static str {
    if ratio <= 0.10 {
        "ok"
    } else if ratio <= 0.5 {
        "low"
    } else {
        "high"
    }
}

/// `GET /jobs/:id/vertices/:vid/backpressure` (JobVertexBackPressureInfo), from the
/// subtasks' `backPressuredTimeMsPerSecond`, `idleTimeMsPerSecond` and `busyTimeMsPerSecond`.
/// Before any TaskExecutor reported, the status is `deprecated` (Flink: no stats yet).
pub fn backpressure(j: &JobMaster, vid: &JobVertexId, now: Time) -> Option<Value> {
    let v = vertex(j, vid)?;
    let reported: Vec<(usize, &Execution, (f64, f64, f64))> =
        v.subtasks.iter().enumerate().filter_map(|(i, s)| s.current.time_ratios().map(|r| (i, &s.current, r))).collect();
    if reported.is_empty() {
        return Some(json!({"status": "deprecated", "backpressure-level": "ok", "end-timestamp": now.as_millis(), "subtasks": []}));
    }
    let mut worst = 0.0f64;
    let subtasks: Vec<Value> = reported
        .iter()
        .map(|(i, e, (busy, bp, idle))| {
            let ratio = bp / 1000.0;
            worst = worst.max(ratio);
            json!({
                "subtask": i,
                "attempt-number": e.attempt_number,
                "backpressure-level": backpressure_level(ratio),
                "ratio": ratio,
                "idleRatio": idle / 1000.0,
                "busyRatio": busy / 1000.0,
            })
        })
        .collect();
    let end = reported.iter().map(|(_, e, _)| e.io_at).max().unwrap_or(now.as_millis());
    Some(json!({"status": "ok", "backpressure-level": backpressure_level(worst), "end-timestamp": end, "subtasks": subtasks}))
}

/// What runs on one TaskManager: its slots with the tasks deployed to them.
pub fn taskmanager_tasks(d: &Dispatcher, resource_id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for j in d.jobs() {
        for v in &j.execution_graph.vertices {
            for s in &v.subtasks {
                let e = &s.current;
                if e.location.as_ref().is_some_and(|l| l.resource_id == resource_id) && !e.state.is_terminal() {
                    out.push(json!({
                        "jobId": j.job_id().to_string(),
                        "jobName": j.graph.name,
                        "vertexId": v.vertex.id.to_string(),
                        "taskName": format!("{} ({}/{})", v.vertex.name, s.subtask + 1, v.vertex.parallelism),
                        "subtask": s.subtask,
                        "attempt": e.attempt_number,
                        "executionId": e.attempt_id.to_string(),
                        "status": e.state.name(),
                    }));
                }
            }
        }
    }
    out
}

/// The allocated slots of one TaskManager with the job they belong to.
pub fn allocated_slots(rm: &ActiveResourceManager, resource_id: &str) -> Vec<Value> {
    let Some(t) = rm.slot_manager.task_executor(resource_id) else { return Vec::new() };
    t.slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            SlotState::Allocated { job_id, .. } => Some(json!({"index": i, "jobId": job_id.to_string(), "state": "ALLOCATED"})),
            SlotState::Pending { job_id, .. } => Some(json!({"index": i, "jobId": job_id.to_string(), "state": "PENDING"})),
            SlotState::Free => None,
        })
        .collect()
}

/// `GET /taskmanagers/:id/metrics`: what the ResourceManager knows of the TaskManager.
pub fn taskmanager_metric_values(rm: &ActiveResourceManager, d: &Dispatcher, resource_id: &str) -> Option<Vec<(String, String)>> {
    let t = rm.slot_manager.task_executor(resource_id)?;
    let tasks = taskmanager_tasks(d, resource_id).len();
    Some(vec![
        ("Status.Flink.Memory.Process.Total".into(), (t.memory_mb * 1024 * 1024).to_string()),
        ("taskSlotsTotal".into(), t.slots.len().to_string()),
        ("taskSlotsAvailable".into(), t.free_slots().to_string()),
        ("numRunningTasks".into(), tasks.to_string()),
        ("lastHeartbeat".into(), t.last_heartbeat.as_millis().to_string()),
    ])
}

/// `GET /jobmanager/metrics`: the JobManager's cluster metrics (Flink's
/// `numRegisteredTaskManagers`, `numRunningJobs`, `taskSlotsAvailable`, `taskSlotsTotal`).
pub fn jobmanager_metric_values(d: &Dispatcher, rm: Option<&ActiveResourceManager>) -> Vec<(String, String)> {
    let (tms, total, free) = rm
        .map(|rm| {
            let sm = &rm.slot_manager;
            (sm.task_executors().count() as u32, sm.total_slots(), sm.free_slots())
        })
        .unwrap_or((0, 0, 0));
    let running = d.jobs().filter(|j| !j.status.is_globally_terminal()).count();
    vec![
        ("numRegisteredTaskManagers".into(), tms.to_string()),
        ("numRunningJobs".into(), running.to_string()),
        ("taskSlotsAvailable".into(), free.to_string()),
        ("taskSlotsTotal".into(), total.to_string()),
    ]
}

/// Flink's sensitive-key rule (GlobalConfiguration.isSensitive), extended to environment
/// variables: a key naming a password, secret, token, credential or key is never shown.
pub fn is_sensitive(key: &str) -> bool {
    let k = key.to_ascii_lowercase();
    ["password", "secret", "token", "credential", "apikey", "api_key", "api-key", "private", "auth", "jaas", "key"]
        .iter()
        .any(|s| k.contains(s))
}

/// Flink's replacement for a sensitive value.
pub const HIDDEN: &str = "******";

/// `GET /jobmanager/environment` (EnvironmentInfo): Flink's `jvm` and `classpath` fields
/// for this native process (its executable and arguments; no JVM), plus `environment`, the
/// process environment with every sensitive value hidden.
pub fn environment(exe: &str, args: &[String], env: &BTreeMap<String, String>) -> Value {
    let vars: Vec<Value> = env.iter().map(|(k, v)| json!({"key": k, "value": if is_sensitive(k) { HIDDEN } else { v.as_str() }})).collect();
    json!({
        "jvm": {"version": format!("native (yarn-sim {})", env!("CARGO_PKG_VERSION")), "arch": std::env::consts::ARCH, "options": args},
        "classpath": [exe],
        "environment": vars,
    })
}

// ---- Flink 2.x applications

/// Flink 2.x's application states.
fn application_status(jobs: &[&JobMaster]) -> &'static str {
    if jobs.iter().any(|j| !j.status.is_globally_terminal()) {
        "RUNNING"
    } else if jobs.iter().any(|j| j.status == JobStatus::Failed) {
        "FAILED"
    } else if jobs.iter().any(|j| j.status == JobStatus::Canceled) {
        "CANCELED"
    } else {
        "FINISHED"
    }
}

/// The applications of this cluster: in application mode one, holding every job its main()
/// submitted (its id is the first job's); otherwise each job forms its own application with
/// the job's id, as a single-job submission does in Flink 2.x.
pub fn applications(d: &Dispatcher, application_mode: bool) -> Vec<(JobId, String, Vec<&JobMaster>)> {
    let jobs: Vec<&JobMaster> = d.jobs().collect();
    if application_mode {
        match jobs.first() {
            Some(first) => vec![(first.job_id(), first.graph.name.clone(), jobs.clone())],
            None => Vec::new(),
        }
    } else {
        jobs.iter().map(|j| (j.job_id(), j.graph.name.clone(), vec![*j])).collect()
    }
}

fn application_summary(id: &JobId, name: &str, jobs: &[&JobMaster], now: Time) -> Value {
    let start = jobs.iter().map(|j| j.start_time).min().unwrap_or(0);
    let done = jobs.iter().all(|j| j.status.is_globally_terminal());
    let end = if done { jobs.iter().filter_map(|j| j.end_time).max().map(|t| t as i64).unwrap_or(-1) } else { -1 };
    let count = |s: JobStatus| jobs.iter().filter(|j| j.status == s).count();
    json!({
        "id": id.to_string(),
        "name": name,
        "status": application_status(jobs),
        "start-time": start,
        "end-time": end,
        "duration": if end >= 0 { end as u64 - start } else { now.as_millis().saturating_sub(start) },
        "jobs": {
            "running": jobs.iter().filter(|j| !j.status.is_globally_terminal()).count(),
            "finished": count(JobStatus::Finished),
            "canceled": count(JobStatus::Canceled),
            "failed": count(JobStatus::Failed),
        },
    })
}

/// `GET /applications/overview`, newest first.
pub fn applications_overview(d: &Dispatcher, application_mode: bool, now: Time) -> Value {
    let mut apps: Vec<Value> =
        applications(d, application_mode).iter().map(|(id, name, jobs)| application_summary(id, name, jobs, now)).collect();
    apps.reverse();
    json!({"applications": apps})
}

/// `GET /applications/:id`: the summary with its jobs' JobDetails.
pub fn application_details(d: &Dispatcher, application_mode: bool, id: &JobId, now: Time) -> Option<Value> {
    let apps = applications(d, application_mode);
    let (aid, name, jobs) = apps.iter().find(|(a, _, _)| a == id)?;
    let mut v = application_summary(aid, name, jobs, now);
    v["jobs"] = Value::Array(jobs.iter().map(|j| crate::webmonitor::job_details_summary(j, now)).collect());
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_sensitive_keys_follow_flink() {
        assert_eq!(backpressure_level(0.0), "ok");
        assert_eq!(backpressure_level(0.1), "ok");
        assert_eq!(backpressure_level(0.3), "low");
        assert_eq!(backpressure_level(0.9), "high");
        for k in ["YARN_SIM_CLUSTER_SECRET", "AWS_SECRET_ACCESS_KEY", "GITHUB_TOKEN", "db.password", "HADOOP_TOKEN_FILE_LOCATION"] {
            assert!(is_sensitive(k), "{k}");
        }
        for k in ["PATH", "HOME", "CONTAINER_ID", "LOG_DIRS"] {
            assert!(!is_sensitive(k), "{k}");
        }
        let env: BTreeMap<String, String> =
            [("YARN_SIM_CLUSTER_SECRET".to_string(), "abc123".to_string()), ("PATH".into(), "/bin".into())].into_iter().collect();
        let v = environment("/bin/flink-am", &["session".into()], &env);
        let text = v.to_string();
        assert!(!text.contains("abc123"), "{text}");
        assert!(text.contains(HIDDEN) && text.contains("/bin"), "{text}");
        assert_eq!(v["jvm"]["options"], json!(["session"]));
    }

    #[test]
    fn metric_collections_list_ids_or_values() {
        let values = vec![("a".to_string(), "1".to_string()), ("b".to_string(), "2".to_string())];
        assert_eq!(metric_collection(&values, None), json!([{"id": "a"}, {"id": "b"}]));
        assert_eq!(metric_collection(&values, Some("b,zzz")), json!([{"id": "b", "value": "2"}]));
        assert_eq!(metric_string(3.0), "3");
        assert_eq!(metric_string(i64::MIN as f64), i64::MIN.to_string());
        assert_eq!(parse_aggregations(Some("MIN,sum")).unwrap(), vec!["min", "sum"]);
        assert!(parse_aggregations(Some("median")).is_err());
    }
}
