//! The cache of asynchronous job operations REST triggers (Flink's
//! `DispatcherCachedOperationsHandler`): savepoints, stop-with-savepoint, cancel-with-savepoint
//! and manual checkpoints, keyed by (job, trigger id). The node owns it; the REST handlers only
//! start operations through the node and read their status. The JobMaster runs the snapshot;
//! the node polls its outcome after every event it handles, so a result is kept here even when
//! the JobMaster's bounded checkpoint history has moved on. Completed operations are kept for
//! `rest.async.store-duration` (5 min), as Flink does.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use flink_core::{CheckpointId, JobId};
use serde_json::{json, Value};

/// Flink's `rest.async.store-duration` default.
pub const STORE_DURATION_MS: u64 = 5 * 60 * 1000;

/// A trigger id: 32 hex digits, like Flink's `TriggerId`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TriggerId(pub u128);

impl fmt::Display for TriggerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl FromStr for TriggerId {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("Cannot parse TriggerId '{s}': it must be 32 hexadecimal characters."));
        }
        u128::from_str_radix(s, 16).map(TriggerId).map_err(|e| e.to_string())
    }
}

/// `SavepointFormatType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SavepointFormat {
    Canonical,
    Native,
}

impl SavepointFormat {
    pub fn name(self) -> &'static str {
        match self {
            SavepointFormat::Canonical => "CANONICAL",
            SavepointFormat::Native => "NATIVE",
        }
    }
    /// REST's `formatType` (and the CLI's `-type`), case-insensitive; None = default CANONICAL.
    pub fn parse(v: Option<&str>) -> Result<SavepointFormat, String> {
        match v.map(|s| s.to_ascii_uppercase()) {
            None => Ok(SavepointFormat::Canonical),
            Some(s) if s == "CANONICAL" => Ok(SavepointFormat::Canonical),
            Some(s) if s == "NATIVE" => Ok(SavepointFormat::Native),
            Some(s) => Err(format!("Invalid savepoint format type '{s}': it must be one of [CANONICAL, NATIVE].")),
        }
    }
}

/// What an operation does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OperationKind {
    /// `POST /jobs/:id/savepoints`; with `cancel_job` the job is cancelled once the savepoint
    /// completed (`flink cancel -s`).
    Savepoint { cancel_job: bool, format: SavepointFormat },
    /// `POST /jobs/:id/stop`.
    StopWithSavepoint { drain: bool, format: SavepointFormat },
    /// `POST /jobs/:id/checkpoints`.
    Checkpoint { full: bool },
}

impl OperationKind {
    pub fn is_savepoint(self) -> bool {
        !matches!(self, OperationKind::Checkpoint { .. })
    }
    pub fn format(self) -> Option<SavepointFormat> {
        match self {
            OperationKind::Savepoint { format, .. } | OperationKind::StopWithSavepoint { format, .. } => Some(format),
            OperationKind::Checkpoint { .. } => None,
        }
    }
}

/// Where an operation is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OperationState {
    /// Waiting for checkpoint `id` to complete.
    InProgress {
        checkpoint_id: CheckpointId,
    },
    /// Done: the savepoint's location (`file:/...`), or the checkpoint's id.
    Completed {
        checkpoint_id: CheckpointId,
        location: String,
    },
    Failed {
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsyncOperation {
    pub kind: OperationKind,
    pub state: OperationState,
    /// When it completed (ms), for expiry.
    pub completed_at: Option<u64>,
}

impl AsyncOperation {
    /// `AsynchronousOperationResult` JSON: `{"status":{"id":..},"operation":..}` with the
    /// savepoint (`location` / `failure-cause`) or checkpoint (`checkpointId` / `failureCause`)
    /// shape.
    pub fn render(&self) -> Value {
        match &self.state {
            OperationState::InProgress { .. } => json!({"status": {"id": "IN_PROGRESS"}, "operation": null}),
            OperationState::Completed { checkpoint_id, location } => {
                let op = if self.kind.is_savepoint() { json!({"location": location}) } else { json!({"checkpointId": checkpoint_id}) };
                json!({"status": {"id": "COMPLETED"}, "operation": op})
            }
            OperationState::Failed { message } => {
                let key = if self.kind.is_savepoint() { "failure-cause" } else { "failureCause" };
                json!({"status": {"id": "COMPLETED"}, "operation": {key: failure_cause(message)}})
            }
        }
    }
}

/// Flink's SerializedThrowable JSON: the class (the message's leading Java class name, if it
/// has one), the trace text. A Java-serialized form cannot be produced here: left empty.
pub fn failure_cause(message: &str) -> Value {
    let head = message.split(':').next().unwrap_or("");
    let is_class = head.contains('.') && !head.contains(' ') && head.chars().next().is_some_and(|c| c.is_ascii_lowercase());
    let (class, trace) = if is_class {
        (head.to_string(), message.to_string())
    } else {
        let c = "org.apache.flink.runtime.checkpoint.CheckpointException";
        (c.to_string(), format!("{c}: {message}"))
    };
    json!({"class": class, "stack-trace": trace, "serialized-throwable": ""})
}

/// The operations of all jobs.
#[derive(Debug, Default)]
pub struct AsyncOperations {
    ops: BTreeMap<(JobId, TriggerId), AsyncOperation>,
}

impl AsyncOperations {
    pub fn get(&self, job: &JobId, trigger: &TriggerId) -> Option<&AsyncOperation> {
        self.ops.get(&(*job, *trigger))
    }

    pub fn contains(&self, job: &JobId, trigger: &TriggerId) -> bool {
        self.ops.contains_key(&(*job, *trigger))
    }

    /// Records a started operation: in progress on checkpoint `id`, or failed at once.
    pub fn insert(&mut self, job: JobId, trigger: TriggerId, kind: OperationKind, started: Result<CheckpointId, String>, now: u64) {
        let (state, completed_at) = match started {
            Ok(checkpoint_id) => (OperationState::InProgress { checkpoint_id }, None),
            Err(message) => (OperationState::Failed { message }, Some(now)),
        };
        self.ops.insert((job, trigger), AsyncOperation { kind, state, completed_at });
    }

    /// In-progress operations: (job, trigger, kind, checkpoint id), in key order.
    pub fn in_progress(&self) -> Vec<(JobId, TriggerId, OperationKind, CheckpointId)> {
        self.ops
            .iter()
            .filter_map(|((j, t), op)| match op.state {
                OperationState::InProgress { checkpoint_id } => Some((*j, *t, op.kind, checkpoint_id)),
                _ => None,
            })
            .collect()
    }

    /// Settles an in-progress operation.
    pub fn complete(&mut self, job: JobId, trigger: TriggerId, outcome: Result<String, String>, now: u64) {
        if let Some(op) = self.ops.get_mut(&(job, trigger)) {
            if let OperationState::InProgress { checkpoint_id } = op.state {
                op.state = match outcome {
                    Ok(location) => OperationState::Completed { checkpoint_id, location },
                    Err(message) => OperationState::Failed { message },
                };
                op.completed_at = Some(now);
            }
        }
    }

    /// Drops results older than [`STORE_DURATION_MS`].
    pub fn expire(&mut self, now: u64) {
        self.ops.retain(|_, op| op.completed_at.is_none_or(|t| now.saturating_sub(t) <= STORE_DURATION_MS));
    }

    /// The format a savepoint was requested in (the checkpoint statistics show it).
    pub fn savepoint_format(&self, job: &JobId, checkpoint_id: CheckpointId) -> Option<SavepointFormat> {
        self.ops.range((*job, TriggerId(0))..=(*job, TriggerId(u128::MAX))).find_map(|(_, op)| {
            let id = match &op.state {
                OperationState::InProgress { checkpoint_id } | OperationState::Completed { checkpoint_id, .. } => *checkpoint_id,
                OperationState::Failed { .. } => return None,
            };
            (id == checkpoint_id).then_some(op.kind.format()).flatten()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trigger_ids_are_32_hex_digits() {
        let t: TriggerId = "0123456789abcdef0123456789ABCDEF".parse().unwrap();
        assert_eq!(t.to_string(), "0123456789abcdef0123456789abcdef");
        assert!("xyz".parse::<TriggerId>().unwrap_err().contains("32 hexadecimal"));
    }

    #[test]
    fn operations_render_flinks_shapes_and_expire() {
        let job = JobId(7);
        let mut ops = AsyncOperations::default();
        let sp = OperationKind::Savepoint { cancel_job: false, format: SavepointFormat::Native };
        ops.insert(job, TriggerId(1), sp, Ok(3), 0);
        ops.insert(job, TriggerId(2), OperationKind::Checkpoint { full: false }, Ok(4), 0);
        ops.insert(job, TriggerId(3), OperationKind::Checkpoint { full: true }, Err("Checkpoint triggering failed".into()), 10);
        let r = ops.get(&job, &TriggerId(1)).unwrap().render();
        assert_eq!(r, json!({"status": {"id": "IN_PROGRESS"}, "operation": null}));
        assert_eq!(ops.in_progress().len(), 2);
        assert_eq!(ops.savepoint_format(&job, 3), Some(SavepointFormat::Native));
        assert_eq!(ops.savepoint_format(&job, 4), None);
        ops.complete(job, TriggerId(1), Ok("file:/s/sp/savepoint-000000-0123456789ab".into()), 100);
        ops.complete(job, TriggerId(2), Ok("file:/s/chk/chk-4".into()), 100);
        assert_eq!(
            ops.get(&job, &TriggerId(1)).unwrap().render(),
            json!({"status": {"id": "COMPLETED"}, "operation": {"location": "file:/s/sp/savepoint-000000-0123456789ab"}})
        );
        assert_eq!(
            ops.get(&job, &TriggerId(2)).unwrap().render(),
            json!({"status": {"id": "COMPLETED"}, "operation": {"checkpointId": 4}})
        );
        let failed = ops.get(&job, &TriggerId(3)).unwrap().render();
        assert_eq!(failed["operation"]["failureCause"]["class"], "org.apache.flink.runtime.checkpoint.CheckpointException");
        assert_eq!(
            failed["operation"]["failureCause"]["stack-trace"],
            "org.apache.flink.runtime.checkpoint.CheckpointException: Checkpoint triggering failed"
        );
        // A completed operation is not completed twice.
        ops.complete(job, TriggerId(1), Err("late".into()), 200);
        assert!(matches!(ops.get(&job, &TriggerId(1)).unwrap().state, OperationState::Completed { .. }));
        assert!(ops.in_progress().is_empty());
        ops.expire(100 + STORE_DURATION_MS);
        assert!(ops.contains(&job, &TriggerId(1)));
        ops.expire(101 + STORE_DURATION_MS);
        assert!(!ops.contains(&job, &TriggerId(1)) && !ops.contains(&job, &TriggerId(3)));
    }

    #[test]
    fn failure_causes_keep_a_java_class_when_the_message_has_one() {
        let c = failure_cause("java.util.concurrent.TimeoutException: too slow");
        assert_eq!(c["class"], "java.util.concurrent.TimeoutException");
        assert_eq!(c["stack-trace"], "java.util.concurrent.TimeoutException: too slow");
        assert_eq!(
            failure_cause("Checkpoint Coordinator is suspending.")["class"],
            "org.apache.flink.runtime.checkpoint.CheckpointException"
        );
    }
}
