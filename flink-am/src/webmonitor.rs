//! What the WebMonitorEndpoint serves, built from the Dispatcher's JobMasters and the
//! ResourceManager's TaskExecutors, with the field names of Flink's REST serializers
//! (ClusterOverviewWithVersion, JobDetails, JobDetailsInfo, JobExceptionsInfoWithHistory,
//! JobExecutionResultResponseBody, TaskManagerInfo). Pure functions: the REST adapter calls
//! them through FlinkAppMaster.

use engine::Time;
use flink_core::{ExecutionState, JobGraph, JobStatus, JobVertexId};
use serde_json::{json, Map, Value};

use crate::config::AmConfig;
use crate::dispatcher::Dispatcher;
use crate::jobmaster::execution_graph::ExecutionJobVertex;
use crate::jobmaster::JobMaster;
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

fn metrics(read: u64, write: u64) -> Value {
    json!({
        "read-bytes": 0, "read-bytes-complete": true,
        "write-bytes": 0, "write-bytes-complete": true,
        "read-records": read, "read-records-complete": true,
        "write-records": write, "write-records-complete": true,
        "accumulated-backpressured-time": 0, "accumulated-idle-time": 0, "accumulated-busy-time": "NaN",
    })
}

fn vertex_summary(j: &JobMaster, vi: usize, now: Time) -> Value {
    let v = &j.execution_graph.vertices[vi];
    let (start, end, dur) = vertex_times(v, now);
    let (rin, rout) = j.vertex_records(vi);
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
        "metrics": metrics(rin, rout),
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
    })
}

pub fn job_exceptions(j: &JobMaster) -> Value {
    let root = j.failure_cause.clone().or_else(|| j.exceptions.last().map(|e| e.stacktrace.clone()));
    let root_ts = j.exceptions.last().map(|e| e.timestamp);
    let all: Vec<Value> = j
        .exceptions
        .iter()
        .rev()
        .filter(|e| e.task_name.is_some())
        .map(|e| json!({"exception": e.stacktrace, "task": e.task_name, "location": e.location, "timestamp": e.timestamp}))
        .collect();
    let entries: Vec<Value> = j
        .exceptions
        .iter()
        .rev()
        .map(|e| {
            json!({
                "exceptionName": e.exception_name,
                "stacktrace": e.stacktrace,
                "timestamp": e.timestamp,
                "taskName": e.task_name,
                "location": e.location,
                "taskManagerId": e.location,
                "failureLabels": {},
                "concurrentExceptions": [],
            })
        })
        .collect();
    json!({
        "root-exception": root,
        "timestamp": root_ts,
        "all-exceptions": all,
        "truncated": false,
        "exceptionHistory": {"entries": entries, "truncated": false},
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
                "metrics": metrics(e.records_in, e.records_out),
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

fn tm_info(rm: &ActiveResourceManager, t: &TaskExecutorRegistration, now: Time) -> Value {
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
        "timeSinceLastHeartbeat": now.since(t.last_heartbeat).as_millis() as u64,
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

pub fn taskmanagers(rm: Option<&ActiveResourceManager>, now: Time) -> Value {
    let tms: Vec<Value> = rm.map(|rm| rm.slot_manager.task_executors().map(|t| tm_info(rm, t, now)).collect()).unwrap_or_default();
    json!({ "taskmanagers": tms })
}

pub fn taskmanager(rm: &ActiveResourceManager, _d: &Dispatcher, id: &str, now: Time) -> Option<Value> {
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
