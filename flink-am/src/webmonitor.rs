//! What the WebMonitorEndpoint serves, built from the Dispatcher's JobMasters and the
//! ResourceManager's TaskExecutors, with the field names of Flink's REST serializers
//! (ClusterOverviewWithVersion, JobDetails, JobDetailsInfo, JobExceptionsInfoWithHistory,
//! JobExecutionResultResponseBody, TaskManagerInfo). Pure functions: the REST adapter calls
//! them through FlinkAppMaster.

use engine::Time;
use flink_core::checkpoint::ExternalizedRetention;
use flink_core::{CheckpointConfig, CheckpointId, CheckpointingMode, ExecutionState, JobGraph, JobStatus, JobVertexId};
use serde_json::{json, Map, Value};

use crate::config::AmConfig;
use crate::dispatcher::Dispatcher;
use crate::jobmaster::checkpoint_stats::{CheckpointStats, CheckpointStatsStatus, CheckpointStatsTracker, SubtaskStats, TaskStats};
use crate::jobmaster::execution_graph::{Execution, ExecutionJobVertex};
use crate::jobmaster::{ExceptionEntry, JobMaster, EXCEPTION_HISTORY_SIZE};
use crate::resourcemanager::slot_manager::{SlotState, TaskExecutorRegistration};
use crate::resourcemanager::ActiveResourceManager;

pub const FLINK_VERSION: &str = "1.20.0";
pub const FLINK_COMMIT: &str = "b1fe7b4";

fn state_counts(counts: &std::collections::BTreeMap<ExecutionState, u32>) -> Map<String, Value> {
    ExecutionState::ALL.iter().map(|s| (s.name().to_string(), json!(counts.get(s).copied().unwrap_or(0)))).collect()
}

fn lower_counts(counts: &std::collections::BTreeMap<ExecutionState, u32>) -> Map<String, Value> {
    ExecutionState::ALL.iter().map(|s| (s.name().to_lowercase(), json!(counts.get(s).copied().unwrap_or(0)))).collect()
}

fn end_time(j: &JobMaster) -> i64 {
    j.end_time.map(|t| t as i64).unwrap_or(-1)
}

fn duration(j: &JobMaster, now: Time) -> u64 {
    j.end_time.unwrap_or(now.as_millis()).saturating_sub(j.start_time)
}

pub fn overview(d: &Dispatcher, rm: Option<&ActiveResourceManager>, _now: Time) -> Value {
    let (tms, total, free) = match rm {
        Some(rm) => {
            let sm = &rm.slot_manager;
            (sm.task_executors().count() as u32, sm.total_slots(), sm.free_slots())
        }
        None => (0, 0, 0),
    };
    let running = d.jobs().filter(|j| !j.status.is_globally_terminal()).count();
    json!({
        "taskmanagers": tms,
        "slots-total": total,
        "slots-available": free,
        "jobs-running": running,
        "jobs-finished": d.count(JobStatus::Finished),
        "jobs-cancelled": d.count(JobStatus::Canceled),
        "jobs-failed": d.count(JobStatus::Failed),
        "flink-version": FLINK_VERSION,
        "flink-commit": FLINK_COMMIT,
    })
}

/// JobDetails as its custom serializer writes it.
pub fn job_details_summary(j: &JobMaster, now: Time) -> Value {
    let counts = j.execution_graph.counts();
    let mut tasks = Map::new();
    tasks.insert("total".into(), json!(j.execution_graph.total_tasks()));
    tasks.extend(lower_counts(&counts));
    json!({
        "jid": j.job_id().to_string(),
        "name": j.graph.name,
        "state": j.status.name(),
        "start-time": j.start_time,
        "end-time": end_time(j),
        "duration": duration(j, now),
        "last-modification": j.last_modification,
        "tasks": tasks,
        // Flink 2.x's JobDetails: operators not yet part of the job graph (adaptive batch
        // scheduling); every operator here is in the graph from the start.
        "pending-operators": 0,
    })
}

/// `GET /jobs/overview`: newest first, as Flink lists them.
pub fn jobs_overview(d: &Dispatcher, now: Time) -> Value {
    let mut jobs: Vec<Value> = d.jobs().map(|j| job_details_summary(j, now)).collect();
    jobs.reverse();
    json!({ "jobs": jobs })
}

pub fn jobs(d: &Dispatcher) -> Value {
    let jobs: Vec<Value> = d.jobs().map(|j| json!({"id": j.job_id().to_string(), "status": j.status.name()})).collect();
    json!({ "jobs": jobs })
}

fn vertex_times(v: &ExecutionJobVertex, now: Time) -> (i64, i64, i64) {
    let start = v.subtasks.iter().filter_map(|s| s.current.start_time()).min().map(|t| t as i64).unwrap_or(-1);
    let all_done = v.subtasks.iter().all(|s| s.current.state.is_terminal());
    let end = if all_done { v.subtasks.iter().filter_map(|s| s.current.end_time()).max().map(|t| t as i64).unwrap_or(-1) } else { -1 };
    let dur = if start < 0 {
        -1
    } else if end >= 0 {
        end - start
    } else {
        now.as_millis() as i64 - start
    };
    (start, end, dur)
}

/// IOMetricsInfo: records and bytes in/out and the accumulated busy, backpressured and idle
/// time, of one execution or summed over a vertex's current executions.
fn metrics(executions: &[&Execution]) -> Value {
    let sum = |f: &dyn Fn(&Execution) -> u64| executions.iter().map(|e| f(e)).sum::<u64>();
    let reported = executions.iter().any(|e| e.io_at > 0);
    json!({
        "read-bytes": sum(&|e| e.io.bytes_in), "read-bytes-complete": true,
        "write-bytes": sum(&|e| e.io.bytes_out), "write-bytes-complete": true,
        "read-records": sum(&|e| e.records_in), "read-records-complete": true,
        "write-records": sum(&|e| e.records_out), "write-records-complete": true,
        "accumulated-backpressured-time": sum(&|e| e.io.backpressured_ms),
        "accumulated-idle-time": sum(&|e| e.io.idle_ms),
        "accumulated-busy-time": if reported { json!(sum(&|e| e.io.busy_ms) as f64) } else { json!("NaN") },
    })
}

fn vertex_summary(j: &JobMaster, vi: usize, now: Time) -> Value {
    let v = &j.execution_graph.vertices[vi];
    let (start, end, dur) = vertex_times(v, now);
    let current: Vec<&Execution> = v.subtasks.iter().map(|s| &s.current).collect();
    json!({
        "id": v.vertex.id.to_string(),
        "slotSharingGroupId": v.vertex.slot_sharing_group,
        "name": v.vertex.name,
        "maxParallelism": v.vertex.max_parallelism,
        "parallelism": v.vertex.parallelism,
        "status": v.aggregate_state().name(),
        "start-time": start,
        "end-time": end,
        "duration": dur,
        "tasks": state_counts(&v.counts()),
        "metrics": metrics(&current),
    })
}

/// The JSON plan Flink's web UI draws: flink-core's, the one `flink info` prints too.
pub fn plan(g: &JobGraph) -> Value {
    flink_core::plan::plan_json(g)
}

pub fn job_details(j: &JobMaster, now: Time) -> Value {
    let timestamps: Map<String, Value> = [
        JobStatus::Initializing,
        JobStatus::Created,
        JobStatus::Running,
        JobStatus::Failing,
        JobStatus::Failed,
        JobStatus::Cancelling,
        JobStatus::Canceled,
        JobStatus::Finished,
        JobStatus::Restarting,
        JobStatus::Suspended,
        JobStatus::Reconciling,
    ]
    .iter()
    .map(|s| (s.name().to_string(), json!(j.status_timestamps.get(s).copied().unwrap_or(0))))
    .collect();
    let vertices: Vec<Value> = (0..j.execution_graph.vertices.len()).map(|vi| vertex_summary(j, vi, now)).collect();
    let max_par = j.graph.vertices.iter().map(|v| v.max_parallelism).max().unwrap_or(0);
    json!({
        "jid": j.job_id().to_string(),
        "name": j.graph.name,
        "isStoppable": false,
        "state": j.status.name(),
        "job-type": j.graph.job_type,
        "start-time": j.start_time,
        "end-time": end_time(j),
        "duration": duration(j, now),
        "maxParallelism": max_par,
        "now": now.as_millis(),
        "timestamps": timestamps,
        "vertices": vertices,
        "status-counts": state_counts(&j.execution_graph.counts()),
        "plan": plan(&j.graph),
        "pending-operators": 0,
    })
}

/// One history entry with Flink's NON_NULL fields (`taskName`, `endpoint`, `taskManagerId` and
/// 1.20's deprecated `location` only when known).
fn exception_entry(e: &ExceptionEntry) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("exceptionName".into(), json!(e.exception_name));
    m.insert("stacktrace".into(), json!(e.stacktrace));
    m.insert("timestamp".into(), json!(e.timestamp));
    m.insert("failureLabels".into(), json!({}));
    for (k, v) in [("taskName", &e.task_name), ("endpoint", &e.endpoint), ("taskManagerId", &e.task_manager_id), ("location", &e.endpoint)]
    {
        if let Some(v) = v {
            m.insert(k.into(), json!(v));
        }
    }
    m
}

/// `GET /jobs/:id/exceptions` (JobExceptionsInfoWithHistory): the 2.x `exceptionHistory` of
/// root failures with their `concurrentExceptions`, newest first, at most `max_exceptions` (or
/// `web.exception-history-size`), `truncated` when more exist; plus 1.20's deprecated
/// top-level `root-exception`, `timestamp`, `all-exceptions` (the latest root's task failures)
/// and `truncated`.
pub fn job_exceptions(j: &JobMaster, max_exceptions: Option<usize>) -> Value {
    let limit = max_exceptions.unwrap_or(EXCEPTION_HISTORY_SIZE).min(EXCEPTION_HISTORY_SIZE);
    let latest = j.exception_history.last();
    let root = j.failure_cause.clone().or_else(|| latest.map(|r| r.root.stacktrace.clone()));
    let root_ts = latest.map(|r| r.root.timestamp);
    let all: Vec<Value> = latest
        .into_iter()
        .flat_map(|r| std::iter::once(&r.root).chain(r.concurrent.iter()))
        .filter(|e| e.task_name.is_some())
        .map(|e| {
            json!({"exception": e.stacktrace, "task": e.task_name, "location": e.endpoint, "endpoint": e.endpoint,
                   "timestamp": e.timestamp, "taskManagerId": e.task_manager_id})
        })
        .collect();
    let entries: Vec<Value> = j
        .exception_history
        .iter()
        .rev()
        .take(limit)
        .map(|r| {
            let mut m = exception_entry(&r.root);
            m.insert("concurrentExceptions".into(), Value::Array(r.concurrent.iter().map(|c| Value::Object(exception_entry(c))).collect()));
            Value::Object(m)
        })
        .collect();
    let truncated = j.exception_history.len() > limit;
    json!({
        "root-exception": root,
        "timestamp": root_ts,
        "all-exceptions": all,
        "truncated": truncated,
        "exceptionHistory": {"entries": entries, "truncated": truncated},
    })
}

/// The job metrics Flink registers that are cheap here (RT/metrics/MetricNames.java, the
/// CheckpointStatsTracker's gauges), as `(id, value)`; values are strings, as Flink's
/// MetricStore returns them.
pub fn job_metric_values(j: &JobMaster, now: Time, qualify: Qualify) -> Vec<(&'static str, String)> {
    let now_ms = now.as_millis();
    let since = |s: JobStatus| j.status_timestamps.get(&s).map(|t| now_ms.saturating_sub(*t)).unwrap_or(0);
    let uptime = if j.status == JobStatus::Running { since(JobStatus::Running) } else { 0 };
    let downtime = if matches!(j.status, JobStatus::Restarting | JobStatus::Failing) { since(j.status) } else { 0 };
    let mut m: Vec<(&'static str, String)> =
        vec![("numRestarts", j.restart.restarts.to_string()), ("uptime", uptime.to_string()), ("downtime", downtime.to_string())];
    if let Some(t) = j.checkpoint_stats() {
        let last = t.latest_completed.as_ref();
        m.extend([
            ("totalNumberOfCheckpoints", t.num_total.to_string()),
            ("numberOfInProgressCheckpoints", t.num_in_progress.to_string()),
            ("numberOfCompletedCheckpoints", t.num_completed.to_string()),
            ("numberOfFailedCheckpoints", t.num_failed.to_string()),
            ("lastCheckpointSize", last.map(|c| c.state_size() as i64).unwrap_or(-1).to_string()),
            ("lastCheckpointDuration", last.map(end_to_end_duration).unwrap_or(-1).to_string()),
            ("lastCheckpointExternalPath", last.and_then(|c| c.external_path.as_deref().map(qualify)).unwrap_or_else(|| "n/a".into())),
            ("lastCompletedCheckpointId", last.map(|c| c.id as i64).unwrap_or(-1).to_string()),
            ("lastCheckpointRestoreTimestamp", t.latest_restored.as_ref().map(|r| r.restore_timestamp as i64).unwrap_or(-1).to_string()),
        ]);
    }
    m
}

/// `GET /jobs/:id/metrics[?get=a,b]`: without `get` the available ids, with it their values.
pub fn job_metrics(j: &JobMaster, get: Option<&str>, now: Time, qualify: Qualify) -> Value {
    let values = job_metric_values(j, now, qualify);
    match get {
        None => Value::Array(values.iter().map(|(id, _)| json!({"id": id})).collect()),
        Some(names) => Value::Array(
            names
                .split(',')
                .map(str::trim)
                .filter_map(|n| values.iter().find(|(id, _)| *id == n))
                .map(|(id, v)| json!({"id": id, "value": v}))
                .collect(),
        ),
    }
}

// ---- Checkpoint statistics (RT/rest/messages/checkpoints/*; reference §5)

/// Commons-math's default (legacy) percentile estimate, which Flink's StatsSummary uses.
fn percentile(sorted: &[u64], p: f64) -> f64 {
    let n = sorted.len();
    let pos = p * (n as f64 + 1.0) / 100.0;
    if pos < 1.0 {
        return sorted[0] as f64;
    }
    if pos >= n as f64 {
        return sorted[n - 1] as f64;
    }
    let lower = sorted[pos.floor() as usize - 1] as f64;
    let upper = sorted[pos.floor() as usize] as f64;
    lower + (pos - pos.floor()) * (upper - lower)
}

/// StatsSummaryDto: min, max, avg (integers) and percentiles (NaN, written "NaN" as for
/// other doubles, when there is no data).
pub fn stats_summary(values: &[u64]) -> Value {
    if values.is_empty() {
        return json!({"min": 0, "max": 0, "avg": 0, "p50": "NaN", "p90": "NaN", "p95": "NaN", "p99": "NaN", "p999": "NaN"});
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let avg = v.iter().map(|x| *x as u128).sum::<u128>() / v.len() as u128;
    json!({
        "min": v[0], "max": v[v.len() - 1], "avg": avg as u64,
        "p50": percentile(&v, 50.0), "p90": percentile(&v, 90.0), "p95": percentile(&v, 95.0),
        "p99": percentile(&v, 99.0), "p999": percentile(&v, 99.9),
    })
}

fn end_to_end_duration(c: &CheckpointStats) -> i64 {
    match (c.status, c.failure_timestamp) {
        (CheckpointStatsStatus::Failed, Some(f)) => f.saturating_sub(c.trigger_timestamp) as i64,
        _ => c.latest_ack_timestamp().map(|a| a.saturating_sub(c.trigger_timestamp) as i64).unwrap_or(-1),
    }
}

fn acks(c: &CheckpointStats) -> impl Iterator<Item = &SubtaskStats> {
    c.tasks.values().flat_map(|t| t.subtasks.iter().flatten())
}

/// How a `file:/<store path>` the JobMaster reports is shown: fully qualified with the store's
/// directory in live clusters (what `flink run -s` takes back), unchanged in the sim.
pub type Qualify<'a> = &'a dyn Fn(&str) -> String;

/// One CheckpointStatistics entry; `tasks` = per-vertex figures (details) or {} (lists).
/// `format` is the savepoint format the trigger asked for (CANONICAL by default).
pub fn checkpoint_entry(c: &CheckpointStats, format: Option<&str>, with_tasks: bool, qualify: Qualify) -> Value {
    let processed: u64 = acks(c).map(|s| s.metrics.bytes_processed_during_alignment).sum();
    let tasks: Map<String, Value> =
        if with_tasks { c.tasks.iter().map(|(vid, t)| (vid.to_string(), task_entry(c, vid, t))).collect() } else { Map::new() };
    let mut v = json!({
        "className": c.status.class_name(),
        "id": c.id,
        "status": c.status.name(),
        "is_savepoint": c.kind.is_savepoint(),
        "savepointFormat": if c.kind.is_savepoint() { json!(format.unwrap_or("CANONICAL")) } else { Value::Null },
        "trigger_timestamp": c.trigger_timestamp,
        "latest_ack_timestamp": c.latest_ack_timestamp().map(|t| t as i64).unwrap_or(-1),
        "checkpointed_size": c.state_size(),
        "state_size": c.state_size(),
        "end_to_end_duration": end_to_end_duration(c),
        "alignment_buffered": 0,
        "processed_data": processed,
        "persisted_data": 0,
        "num_subtasks": c.num_subtasks(),
        "num_acknowledged_subtasks": c.num_acknowledged(),
        "checkpoint_type": c.kind.rest_name(),
        "tasks": tasks,
    });
    match c.status {
        CheckpointStatsStatus::Completed => {
            v["external_path"] = json!(c.external_path.as_deref().map(qualify));
            v["discarded"] = json!(c.discarded);
        }
        CheckpointStatsStatus::Failed => {
            v["failure_timestamp"] = json!(c.failure_timestamp);
            v["failure_message"] = json!(c.failure_message);
        }
        CheckpointStatsStatus::InProgress => {}
    }
    v
}

/// TaskCheckpointStatistics of one vertex.
fn task_entry(c: &CheckpointStats, vid: &JobVertexId, t: &TaskStats) -> Value {
    let acked: Vec<&SubtaskStats> = t.subtasks.iter().flatten().collect();
    let latest = acked.iter().map(|s| s.ack_timestamp).max();
    json!({
        "id": vid.to_string(),
        "status": c.status.name(),
        "latest_ack_timestamp": latest.map(|t| t as i64).unwrap_or(-1),
        "checkpointed_size": acked.iter().map(|s| s.metrics.state_size).sum::<u64>(),
        "state_size": acked.iter().map(|s| s.metrics.state_size).sum::<u64>(),
        "end_to_end_duration": latest.map(|a| a.saturating_sub(c.trigger_timestamp) as i64).unwrap_or(-1),
        "alignment_buffered": 0,
        "processed_data": acked.iter().map(|s| s.metrics.bytes_processed_during_alignment).sum::<u64>(),
        "persisted_data": 0,
        "num_subtasks": t.subtasks.len(),
        "num_acknowledged_subtasks": acked.len(),
    })
}

/// `GET /jobs/:id/checkpoints` (CheckpointingStatistics).
pub fn checkpointing_statistics(
    t: &CheckpointStatsTracker,
    format: &dyn Fn(CheckpointId) -> Option<&'static str>,
    qualify: Qualify,
) -> Value {
    let entry = |c: &CheckpointStats| checkpoint_entry(c, format(c.id), false, qualify);
    let sizes: Vec<u64> = t.completed_figures.iter().map(|f| f.0).collect();
    let durations: Vec<u64> = t.completed_figures.iter().map(|f| f.1).collect();
    let zeros = vec![0u64; t.completed_figures.len()];
    json!({
        "counts": {
            "restored": t.num_restored, "total": t.num_total, "in_progress": t.num_in_progress,
            "completed": t.num_completed, "failed": t.num_failed,
        },
        "summary": {
            "checkpointed_size": stats_summary(&sizes),
            "state_size": stats_summary(&sizes),
            "end_to_end_duration": stats_summary(&durations),
            "alignment_buffered": stats_summary(&zeros),
            "processed_data": stats_summary(&zeros),
            "persisted_data": stats_summary(&zeros),
        },
        "latest": {
            "completed": t.latest_completed.as_ref().map(entry),
            "savepoint": t.latest_savepoint.as_ref().map(entry),
            "failed": t.latest_failed.as_ref().map(entry),
            "restored": t.latest_restored.as_ref().map(|r| json!({
                "id": r.id, "restore_timestamp": r.restore_timestamp, "is_savepoint": r.is_savepoint, "external_path": qualify(&r.external_path),
            })),
        },
        "history": t.history.iter().map(entry).collect::<Vec<_>>(),
    })
}

/// Why a checkpoint detail cannot be shown: REST answers 404 with this text.
pub fn checkpoint_not_found(id: CheckpointId) -> String {
    format!("Could not find checkpointing statistics for checkpoint {id}.")
}

/// A checkpoint in the history, or one of the latest ones (which outlive the history).
fn find_checkpoint(t: &CheckpointStatsTracker, id: CheckpointId) -> Option<&CheckpointStats> {
    t.history.iter().chain(t.latest_completed.iter()).chain(t.latest_savepoint.iter()).chain(t.latest_failed.iter()).find(|c| c.id == id)
}

/// `GET /jobs/:id/checkpoints/details/:cid`: the entry with per-vertex `tasks`.
pub fn checkpoint_details(
    t: &CheckpointStatsTracker,
    id: CheckpointId,
    format: Option<&'static str>,
    qualify: Qualify,
) -> Result<Value, String> {
    find_checkpoint(t, id).map(|c| checkpoint_entry(c, format, true, qualify)).ok_or_else(|| checkpoint_not_found(id))
}

/// `GET /jobs/:id/checkpoints/details/:cid/subtasks/:vid` (TaskCheckpointStatisticsWithSubtaskDetails).
pub fn checkpoint_subtask_details(t: &CheckpointStatsTracker, id: CheckpointId, vid: &JobVertexId) -> Result<Value, String> {
    let c = find_checkpoint(t, id).ok_or_else(|| checkpoint_not_found(id))?;
    let task = c.tasks.get(vid).ok_or_else(|| format!("There is no checkpoint statistics for task {vid}."))?;
    let acked: Vec<&SubtaskStats> = task.subtasks.iter().flatten().collect();
    let fig = |f: &dyn Fn(&SubtaskStats) -> u64| stats_summary(&acked.iter().map(|s| f(s)).collect::<Vec<_>>());
    let trig = c.trigger_timestamp;
    let mut v = task_entry(c, vid, task);
    v["summary"] = json!({
        "checkpointed_size": fig(&|s| s.metrics.state_size),
        "state_size": fig(&|s| s.metrics.state_size),
        "end_to_end_duration": fig(&|s| s.ack_timestamp.saturating_sub(trig)),
        "checkpoint_duration": {"sync": fig(&|s| s.metrics.sync_duration_ms), "async": fig(&|s| s.metrics.async_duration_ms)},
        "alignment": {
            "buffered": fig(&|_| 0),
            "processed": fig(&|s| s.metrics.bytes_processed_during_alignment),
            "persisted": fig(&|_| 0),
            "duration": fig(&|s| s.metrics.alignment_duration_ms),
        },
        "start_delay": fig(&|s| s.metrics.start_delay_ms),
    });
    v["subtasks"] = Value::Array(
        task.subtasks
            .iter()
            .enumerate()
            .map(|(i, s)| match s {
                Some(s) => json!({
                    "className": "completed",
                    "index": i,
                    "status": "completed",
                    "ack_timestamp": s.ack_timestamp,
                    "end_to_end_duration": s.ack_timestamp.saturating_sub(trig),
                    "checkpointed_size": s.metrics.state_size,
                    "state_size": s.metrics.state_size,
                    "checkpoint": {"sync": s.metrics.sync_duration_ms, "async": s.metrics.async_duration_ms},
                    "alignment": {
                        "buffered": 0, "processed": s.metrics.bytes_processed_during_alignment,
                        "persisted": 0, "duration": s.metrics.alignment_duration_ms,
                    },
                    "start_delay": s.metrics.start_delay_ms,
                    "unaligned_checkpoint": false,
                    "aborted": false,
                }),
                None => json!({"className": "pending", "index": i, "status": "pending_or_failed"}),
            })
            .collect(),
    );
    Ok(v)
}

/// The state backend's class simple name (the only backend here).
pub const STATE_BACKEND: &str = "HashMapStateBackend"; // lint: allow (a Flink class name, not a map)

/// `GET /jobs/:id/checkpoints/config` (CheckpointConfigInfo).
pub fn checkpoint_config(c: &CheckpointConfig) -> Value {
    json!({
        "mode": match c.mode { CheckpointingMode::ExactlyOnce => "exactly_once", CheckpointingMode::AtLeastOnce => "at_least_once" },
        "interval": c.interval_ms,
        "timeout": c.timeout_ms,
        "min_pause": c.min_pause_ms,
        "max_concurrent": c.max_concurrent,
        "externalization": {
            "enabled": c.retention != ExternalizedRetention::NoExternalizedCheckpoints,
            "delete_on_cancellation": c.retention != ExternalizedRetention::RetainOnCancellation,
        },
        "state_backend": STATE_BACKEND,
        "checkpoint_storage": if c.dir.is_some() { "FileSystemCheckpointStorage" } else { "JobManagerCheckpointStorage" },
        "unaligned_checkpoints": false,
        "tolerable_failed_checkpoints": c.tolerable_failed,
        "aligned_checkpoint_timeout": 0,
        "checkpoints_after_tasks_finish": true,
        "state_changelog_enabled": false,
        "changelog_periodic_materialization_interval": 600000,
        "changelog_storage": "memory",
    })
}

pub fn execution_result(j: &JobMaster) -> Value {
    if !j.status.is_globally_terminal() {
        return json!({"status": {"id": "IN_PROGRESS"}});
    }
    let app_status = match j.status {
        JobStatus::Finished => "SUCCEEDED",
        JobStatus::Failed => "FAILED",
        JobStatus::Canceled => "CANCELED",
        _ => "UNKNOWN",
    };
    let mut result = json!({
        "id": j.job_id().to_string(),
        "application-status": app_status,
        "accumulator-results": {},
        "net-runtime": j.end_time.unwrap_or(j.start_time).saturating_sub(j.start_time),
    });
    if j.status == JobStatus::Failed {
        let cause = j.failure_cause.clone().unwrap_or_default();
        let class = cause.split(':').next().unwrap_or("java.lang.Exception").to_string();
        result["failure-cause"] = json!({"class": class, "stack-trace": cause, "serialized-throwable": ""});
    }
    json!({"status": {"id": "COMPLETED"}, "job-execution-result": result})
}

pub fn job_config(j: &JobMaster) -> Value {
    let restart = match &j.graph.restart_strategy {
        flink_core::RestartStrategy::NoRestart => "Restart deactivated.".to_string(),
        flink_core::RestartStrategy::FixedDelay { attempts, delay_ms } => {
            format!("Restart with fixed delay ({delay_ms} ms). #{attempts} restart attempts.")
        }
        flink_core::RestartStrategy::FailureRate { max_failures, interval_ms, delay_ms } => {
            format!("Failure rate restart with maximum of {max_failures} failures within interval {interval_ms} ms and fixed delay {delay_ms} ms.")
        }
        flink_core::RestartStrategy::ExponentialDelay { initial_backoff_ms, max_backoff_ms, multiplier, .. } => {
            format!("Restart with exponential delay: starting at {initial_backoff_ms} ms, increasing by {multiplier}, with maximum {max_backoff_ms} ms.")
        }
    };
    let par = j.graph.vertices.first().map(|v| v.parallelism).unwrap_or(1);
    json!({
        "jid": j.job_id().to_string(),
        "name": j.graph.name,
        "execution-config": {
            "execution-mode": "PIPELINED",
            "restart-strategy": restart,
            "job-parallelism": par,
            "object-reuse-mode": false,
            "user-config": {},
        }
    })
}

pub fn vertex_details(j: &JobMaster, vertex: &JobVertexId, now: Time) -> Option<Value> {
    let vi = j.execution_graph.vertices.iter().position(|v| v.vertex.id == *vertex)?;
    let v = &j.execution_graph.vertices[vi];
    let subtasks: Vec<Value> = v
        .subtasks
        .iter()
        .map(|s| {
            let e = &s.current;
            let start = e.start_time().map(|t| t as i64).unwrap_or(-1);
            let end = e.end_time().map(|t| t as i64).unwrap_or(-1);
            let dur = if start < 0 {
                -1
            } else if end >= 0 {
                end - start
            } else {
                now.as_millis() as i64 - start
            };
            let host = e.location.as_ref().map(|l| l.address.ip().to_string()).unwrap_or_else(|| "(unassigned)".into());
            json!({
                "subtask": s.subtask,
                "status": e.state.name(),
                "attempt": e.attempt_number,
                "endpoint": e.location.as_ref().map(|l| l.address.to_string()),
                "host": host,
                "taskmanager-id": e.location.as_ref().map(|l| l.resource_id.clone()).unwrap_or_else(|| "(unassigned)".into()),
                "start-time": start,
                "end-time": end,
                "duration": dur,
                "metrics": metrics(&[e]),
                "status-duration": e.timestamps.iter().map(|(k, t)| (k.name().to_string(), json!(t))).collect::<Map<String, Value>>(),
            })
        })
        .collect();
    Some(json!({
        "id": v.vertex.id.to_string(),
        "name": v.vertex.name,
        "parallelism": v.vertex.parallelism,
        "maxParallelism": v.vertex.max_parallelism,
        "now": now.as_millis(),
        "subtasks": subtasks,
    }))
}

fn tm_info(rm: &ActiveResourceManager, t: &TaskExecutorRegistration, _now: Time) -> Value {
    let slots = t.slots.len() as u32;
    let free = t.free_slots();
    let mb = 1024 * 1024u64;
    let mem = t.memory_mb * mb;
    // Flink's memory model split of the process size (approximation: fractions of §5 defaults).
    let overhead = (mem / 10).clamp(192 * mb, 1024 * mb).min(mem / 2);
    let metaspace = (256 * mb).min(mem / 4);
    let total_flink = mem.saturating_sub(overhead + metaspace);
    let framework = 128 * mb;
    let network = (total_flink / 10).max(64 * mb).min(total_flink / 4);
    let managed = total_flink * 4 / 10;
    let task_heap = total_flink.saturating_sub(2 * framework + network + managed);
    let per_slot = |n: u32, v: u64| v / slots.max(1) as u64 * n as u64;
    let cpu = rm.spec().vcores as f64;
    let resource = |n: u32| {
        json!({
            "cpuCores": cpu / slots.max(1) as f64 * n as f64,
            "taskHeapMemory": per_slot(n, task_heap) / mb,
            "taskOffHeapMemory": 0,
            "managedMemory": per_slot(n, managed) / mb,
            "networkMemory": per_slot(n, network) / mb,
            "extendedResources": {},
        })
    };
    json!({
        "id": t.resource_id,
        "path": format!("pekko.tcp://flink@{}/user/rpc/taskmanager_0", t.address),
        "dataPort": t.data_address.port(),
        "jmxPort": -1,
        // Despite its name Flink writes the last heartbeat's timestamp (ms) here.
        "timeSinceLastHeartbeat": t.last_heartbeat.as_millis(),
        "slotsNumber": slots,
        "freeSlots": free,
        "totalResource": resource(slots),
        "freeResource": resource(free),
        "hardware": {"cpuCores": rm.spec().vcores, "physicalMemory": mem, "freeMemory": task_heap, "managedMemory": managed},
        "memoryConfiguration": {
            "frameworkHeap": framework, "taskHeap": task_heap, "frameworkOffHeap": framework, "taskOffHeap": 0,
            "networkMemory": network, "managedMemory": managed, "jvmMetaspace": metaspace, "jvmOverhead": overhead,
            "totalFlinkMemory": total_flink, "totalProcessMemory": mem,
        },
    })
}

/// `GET /taskmanagers`: TaskManagerInfo of each, plus (beyond Flink's fields) the slots
/// allocated and the tasks deployed on it.
pub fn taskmanagers(rm: Option<&ActiveResourceManager>, d: &Dispatcher, now: Time) -> Value {
    let tms: Vec<Value> = rm
        .map(|rm| {
            rm.slot_manager
                .task_executors()
                .map(|t| {
                    let mut v = tm_info(rm, t, now);
                    v["allocatedSlots"] = json!(crate::webmonitor_io::allocated_slots(rm, &t.resource_id));
                    v["tasks"] = json!(crate::webmonitor_io::taskmanager_tasks(d, &t.resource_id));
                    v
                })
                .collect()
        })
        .unwrap_or_default();
    json!({ "taskmanagers": tms })
}

pub fn taskmanager(rm: &ActiveResourceManager, d: &Dispatcher, id: &str, now: Time) -> Option<Value> {
    let t = rm.slot_manager.task_executor(id)?;
    let mut v = tm_info(rm, t, now);
    let allocated: Vec<Value> = t
        .slots
        .iter()
        .filter_map(|s| match s {
            SlotState::Allocated { job_id, .. } | SlotState::Pending { job_id, .. } => {
                Some(json!({"jobId": job_id.to_string(), "resource": {}}))
            }
            SlotState::Free => None,
        })
        .collect();
    v["allocatedSlots"] = json!(allocated);
    v["tasks"] = json!(crate::webmonitor_io::taskmanager_tasks(d, id));
    v["metrics"] = json!({"heapUsed": 0, "heapCommitted": 0, "heapMax": 0});
    Some(v)
}

pub fn jobmanager_config(cfg: &AmConfig) -> Value {
    let kv = |k: &str, v: String| json!({"key": k, "value": v});
    json!([
        kv("taskmanager.numberOfTaskSlots", cfg.slots_per_tm.to_string()),
        kv("taskmanager.memory.process.size", format!("{}m", cfg.tm_memory_mb)),
        kv("yarn.containers.vcores", cfg.tm_vcores.to_string()),
        kv("heartbeat.interval", cfg.heartbeat_interval_ms.to_string()),
        kv("heartbeat.timeout", cfg.heartbeat_timeout_ms.to_string()),
        kv("yarn.heartbeat.interval", (cfg.yarn_heartbeat_ms / 1000).max(1).to_string()),
        kv("yarn.heartbeat.container-request-interval", cfg.container_request_heartbeat_ms.to_string()),
        kv("resourcemanager.taskmanager-registration.timeout", format!("{} ms", cfg.registration_timeout_ms)),
        kv("resourcemanager.taskmanager-timeout", cfg.idle_tm_timeout_ms.to_string()),
        kv("resourcemanager.start-worker.max-failure-rate", cfg.start_worker_max_failure_rate.to_string()),
        kv("resourcemanager.start-worker.retry-interval", format!("{} ms", cfg.start_worker_retry_interval_ms)),
        kv(
            "execution.target",
            match cfg.mode {
                crate::config::AmMode::Session => "yarn-session".into(),
                crate::config::AmMode::Application { .. } => "yarn-application".into(),
                crate::config::AmMode::PerJob { .. } => "yarn-per-job".into(),
            }
        ),
    ])
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, VecDeque};

    use flink_core::checkpoint::{CheckpointKind, CheckpointMetrics};

    use super::*;
    use crate::jobmaster::checkpoint_stats::RestoredCheckpointStats;

    const SRC: JobVertexId = JobVertexId(0xa);
    const SINK: JobVertexId = JobVertexId(0xb);

    fn ack(at: u64, size: u64) -> Option<SubtaskStats> {
        Some(SubtaskStats {
            ack_timestamp: at,
            metrics: CheckpointMetrics {
                state_size: size,
                alignment_duration_ms: 2,
                bytes_processed_during_alignment: 64,
                sync_duration_ms: 1,
                async_duration_ms: 3,
                start_delay_ms: 5,
            },
        })
    }

    fn stats(id: u64, status: CheckpointStatsStatus, kind: CheckpointKind, sink: Vec<Option<SubtaskStats>>) -> CheckpointStats {
        let mut tasks = BTreeMap::new();
        tasks.insert(SRC, TaskStats { subtasks: vec![ack(1010, 100), ack(1020, 200)] });
        tasks.insert(SINK, TaskStats { subtasks: sink });
        CheckpointStats {
            id,
            status,
            kind,
            trigger_timestamp: 1000,
            tasks,
            external_path: (status == CheckpointStatsStatus::Completed).then(|| format!("file:/dfs/chk/job/chk-{id}")),
            discarded: false,
            failure_timestamp: (status == CheckpointStatsStatus::Failed).then_some(1500),
            failure_message: (status == CheckpointStatsStatus::Failed).then(|| "Checkpoint expired before completing.".into()),
        }
    }

    /// A tracker as the coordinator leaves it after checkpoint 1 completed, 2 failed and
    /// savepoint 3 is waiting for the sink's second subtask.
    fn tracker() -> CheckpointStatsTracker {
        let c1 = stats(1, CheckpointStatsStatus::Completed, CheckpointKind::Checkpoint, vec![ack(1050, 10), ack(1040, 10)]);
        let c2 = stats(2, CheckpointStatsStatus::Failed, CheckpointKind::Checkpoint, vec![None, None]);
        let s3 = stats(3, CheckpointStatsStatus::InProgress, CheckpointKind::Savepoint, vec![ack(1030, 5), None]);
        CheckpointStatsTracker {
            num_restored: 1,
            num_total: 3,
            num_in_progress: 1,
            num_completed: 1,
            num_failed: 1,
            history: VecDeque::from(vec![s3, c2.clone(), c1.clone()]),
            latest_completed: Some(c1),
            latest_savepoint: None,
            latest_failed: Some(c2),
            latest_restored: Some(RestoredCheckpointStats {
                id: 7,
                restore_timestamp: 900,
                is_savepoint: true,
                external_path: "file:/dfs/sp/savepoint-abcdef-0123456789ab".into(),
            }),
            completed_figures: vec![(320, 50), (100, 10), (200, 30)],
        }
    }

    #[test]
    fn checkpointing_statistics_have_flinks_fields() {
        let t = tracker();
        let v = checkpointing_statistics(&t, &|c| (c == 3).then_some("NATIVE"), &|p| p.to_string());
        assert_eq!(v["counts"], json!({"restored": 1, "total": 3, "in_progress": 1, "completed": 1, "failed": 1}));
        assert_eq!(
            v["summary"]["state_size"],
            json!({"min": 100, "max": 320, "avg": 206, "p50": 200.0, "p90": 320.0, "p95": 320.0, "p99": 320.0, "p999": 320.0})
        );
        assert_eq!(v["summary"]["end_to_end_duration"]["avg"], 30);
        assert_eq!(v["summary"]["alignment_buffered"]["max"], 0);
        let h = v["history"].as_array().unwrap();
        assert_eq!(h.iter().map(|e| e["id"].as_u64().unwrap()).collect::<Vec<_>>(), vec![3, 2, 1], "newest first");
        let c1 = &h[2];
        assert_eq!(c1["className"], "completed");
        assert_eq!(c1["status"], "COMPLETED");
        assert_eq!(c1["is_savepoint"], false);
        assert_eq!(c1["savepointFormat"], Value::Null);
        assert_eq!(c1["checkpoint_type"], "CHECKPOINT");
        assert_eq!((c1["trigger_timestamp"].as_u64(), c1["latest_ack_timestamp"].as_u64()), (Some(1000), Some(1050)));
        assert_eq!((c1["state_size"].as_u64(), c1["checkpointed_size"].as_u64()), (Some(320), Some(320)));
        assert_eq!(c1["end_to_end_duration"], 50);
        assert_eq!(c1["processed_data"], 4 * 64);
        assert_eq!((c1["num_subtasks"].as_u64(), c1["num_acknowledged_subtasks"].as_u64()), (Some(4), Some(4)));
        assert_eq!(c1["external_path"], "file:/dfs/chk/job/chk-1");
        assert_eq!(c1["discarded"], false);
        assert_eq!(c1["tasks"], json!({}), "lists carry no per-task figures");
        let c2 = &h[1];
        assert_eq!((c2["className"].as_str(), c2["status"].as_str()), (Some("failed"), Some("FAILED")));
        assert_eq!(c2["failure_timestamp"], 1500);
        assert_eq!(c2["end_to_end_duration"], 500);
        assert_eq!(c2["failure_message"], "Checkpoint expired before completing.");
        assert!(c2.get("external_path").is_none());
        let s3 = &h[0];
        assert_eq!((s3["className"].as_str(), s3["status"].as_str()), (Some("in_progress"), Some("IN_PROGRESS")));
        assert_eq!((s3["is_savepoint"].as_bool(), s3["savepointFormat"].as_str()), (Some(true), Some("NATIVE")));
        assert_eq!(s3["checkpoint_type"], "SAVEPOINT");
        assert_eq!((s3["num_subtasks"].as_u64(), s3["num_acknowledged_subtasks"].as_u64()), (Some(4), Some(3)));
        assert!(s3.get("failure_message").is_none() && s3.get("discarded").is_none());
        assert_eq!(v["latest"]["completed"]["id"], 1);
        assert_eq!(v["latest"]["failed"]["id"], 2);
        assert_eq!(v["latest"]["savepoint"], Value::Null);
        assert_eq!(
            v["latest"]["restored"],
            json!({"id": 7, "restore_timestamp": 900, "is_savepoint": true, "external_path": "file:/dfs/sp/savepoint-abcdef-0123456789ab"})
        );
    }

    #[test]
    fn checkpoint_details_carry_per_vertex_tasks() {
        let t = tracker();
        let d = checkpoint_details(&t, 1, None, &|p| p.replace("file:/", "file:/root/")).unwrap();
        let tasks = d["tasks"].as_object().unwrap();
        assert_eq!(tasks.keys().cloned().collect::<Vec<_>>(), vec![SRC.to_string(), SINK.to_string()]);
        let src = &tasks[&SRC.to_string()];
        assert_eq!(d["external_path"], "file:/root/dfs/chk/job/chk-1");
        assert_eq!(src["id"], SRC.to_string());
        assert_eq!(src["status"], "COMPLETED");
        assert_eq!((src["latest_ack_timestamp"].as_u64(), src["end_to_end_duration"].as_u64()), (Some(1020), Some(20)));
        assert_eq!(
            (src["state_size"].as_u64(), src["num_subtasks"].as_u64(), src["num_acknowledged_subtasks"].as_u64()),
            (Some(300), Some(2), Some(2))
        );
        for k in ["checkpointed_size", "alignment_buffered", "processed_data", "persisted_data"] {
            assert!(src.get(k).is_some(), "{k}");
        }
        // The savepoint in progress shows CANONICAL unless told otherwise.
        assert_eq!(checkpoint_details(&t, 3, None, &|p| p.to_string()).unwrap()["savepointFormat"], "CANONICAL");
        assert_eq!(
            checkpoint_details(&t, 9, None, &|p| p.to_string()).unwrap_err(),
            "Could not find checkpointing statistics for checkpoint 9."
        );
    }

    #[test]
    fn subtask_details_have_summaries_and_pending_subtasks() {
        let t = tracker();
        let v = checkpoint_subtask_details(&t, 3, &SINK).unwrap();
        assert_eq!((v["num_subtasks"].as_u64(), v["num_acknowledged_subtasks"].as_u64()), (Some(2), Some(1)));
        let subs = v["subtasks"].as_array().unwrap();
        assert_eq!(subs[1], json!({"className": "pending", "index": 1, "status": "pending_or_failed"}));
        let s0 = &subs[0];
        assert_eq!(
            (s0["className"].as_str(), s0["status"].as_str(), s0["index"].as_u64()),
            (Some("completed"), Some("completed"), Some(0))
        );
        assert_eq!((s0["ack_timestamp"].as_u64(), s0["end_to_end_duration"].as_u64()), (Some(1030), Some(30)));
        assert_eq!(s0["checkpoint"], json!({"sync": 1, "async": 3}));
        assert_eq!(s0["alignment"], json!({"buffered": 0, "processed": 64, "persisted": 0, "duration": 2}));
        assert_eq!(
            (s0["start_delay"].as_u64(), s0["unaligned_checkpoint"].as_bool(), s0["aborted"].as_bool()),
            (Some(5), Some(false), Some(false))
        );
        let sum = &v["summary"];
        assert_eq!(sum["state_size"]["max"], 5);
        assert_eq!(sum["checkpoint_duration"]["async"]["min"], 3);
        assert_eq!(sum["alignment"]["duration"]["avg"], 2);
        assert_eq!(sum["start_delay"]["p50"], 5.0);
        assert_eq!(sum["end_to_end_duration"]["max"], 30);
        assert_eq!(
            checkpoint_subtask_details(&t, 3, &JobVertexId(0xc)).unwrap_err(),
            format!("There is no checkpoint statistics for task {}.", JobVertexId(0xc))
        );
        assert!(checkpoint_subtask_details(&t, 42, &SINK).unwrap_err().contains("checkpoint 42"));
    }

    #[test]
    fn stats_summaries_use_commons_math_percentiles() {
        let v = stats_summary(&[15, 20, 35, 40, 50]);
        assert_eq!(v["min"], 15);
        assert_eq!(v["max"], 50);
        assert_eq!(v["avg"], 32);
        assert_eq!(v["p50"], 35.0);
        // pos = 0.9 * 6 = 5.4 >= n: the maximum.
        assert_eq!(v["p90"], 50.0);
        let v = stats_summary(&(1..=10).collect::<Vec<_>>());
        // pos = 0.5 * 11 = 5.5 -> between the 5th and 6th values.
        assert_eq!(v["p50"], 5.5);
        assert_eq!(v["p90"], 9.9);
        assert_eq!(stats_summary(&[])["p99"], "NaN");
    }

    #[test]
    fn checkpoint_config_renders_every_field() {
        let mut c = CheckpointConfig::with_interval(500);
        let v = checkpoint_config(&c);
        assert_eq!(
            v,
            json!({
                "mode": "exactly_once", "interval": 500, "timeout": 600000, "min_pause": 0, "max_concurrent": 1,
                "externalization": {"enabled": false, "delete_on_cancellation": true},
                "state_backend": STATE_BACKEND, "checkpoint_storage": "JobManagerCheckpointStorage",
                "unaligned_checkpoints": false, "tolerable_failed_checkpoints": 0, "aligned_checkpoint_timeout": 0,
                "checkpoints_after_tasks_finish": true, "state_changelog_enabled": false,
                "changelog_periodic_materialization_interval": 600000, "changelog_storage": "memory",
            })
        );
        c.mode = CheckpointingMode::AtLeastOnce;
        c.retention = ExternalizedRetention::RetainOnCancellation;
        c.dir = Some("chk".into());
        let v = checkpoint_config(&c);
        assert_eq!(v["mode"], "at_least_once");
        assert_eq!(v["externalization"], json!({"enabled": true, "delete_on_cancellation": false}));
        assert_eq!(v["checkpoint_storage"], "FileSystemCheckpointStorage");
        c.retention = ExternalizedRetention::DeleteOnCancellation;
        assert_eq!(checkpoint_config(&c)["externalization"], json!({"enabled": true, "delete_on_cancellation": true}));
    }
}
