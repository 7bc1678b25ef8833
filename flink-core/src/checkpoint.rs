//! Checkpoint vocabulary shared by the JobMaster's CheckpointCoordinator, the TaskExecutor's
//! tasks and the operator runtime: ids, kinds, options, the job's checkpointing settings
//! (Flink's `JobCheckpointingSettings`), and the state a task acknowledges (Flink's
//! `TaskStateSnapshot` of `OperatorSubtaskState`s).
//!
//! State lives in the shared store. A task writes one state file per checkpoint
//! (`<checkpoint dir>/<job-id>/chk-<n>/<uuid>`, or under the savepoint directory) and
//! acknowledges a [`TaskStateSnapshot`] holding the file's handle; the coordinator writes
//! `_metadata` once every task acknowledged. A restore hands each new subtask the handles of
//! every old subtask whose key-group range intersects its own, plus the operator (source) state
//! redistributed round-robin, as Flink's `StateAssignmentOperation` does.

use serde::{Deserialize, Serialize};

use crate::ids::JobVertexId;

/// Checkpoint ids come from one counter per job, starting at 1; savepoints share it.
pub type CheckpointId = u64;

/// Flink's `execution.checkpointing.mode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointingMode {
    /// Barriers are aligned: a channel is blocked after its barrier until all have it.
    ExactlyOnce,
    /// No blocking; the snapshot is taken when the last barrier arrives.
    AtLeastOnce,
}

/// What a snapshot is for (Flink's `SnapshotType` / `checkpoint_type` in REST).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum CheckpointKind {
    /// Periodic or manual checkpoint.
    Checkpoint,
    /// `flink savepoint`: not subsumed, no notifyCheckpointComplete.
    Savepoint,
    /// `flink stop`: sources finish after it; notifyCheckpointComplete is sent. `drain` emits
    /// MAX_WATERMARK before the barrier (fires every event-time timer).
    SyncSavepoint { drain: bool },
}

impl CheckpointKind {
    pub fn is_savepoint(self) -> bool {
        !matches!(self, CheckpointKind::Checkpoint)
    }
    /// The REST name (`checkpoint_type`).
    pub fn rest_name(self) -> &'static str {
        match self {
            CheckpointKind::Checkpoint => "CHECKPOINT",
            CheckpointKind::Savepoint => "SAVEPOINT",
            CheckpointKind::SyncSavepoint { .. } => "SYNC_SAVEPOINT",
        }
    }
}

/// Flink's `execution.checkpointing.externalized-checkpoint-retention`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExternalizedRetention {
    NoExternalizedCheckpoints,
    DeleteOnCancellation,
    RetainOnCancellation,
}

/// The job's checkpointing settings, carried in the JobGraph (Flink: `JobCheckpointingSettings`).
/// Keys and defaults as Flink 2.x (reference flink-checkpoints-ha.md §1.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointConfig {
    /// `execution.checkpointing.interval` (ms); >= 10.
    pub interval_ms: u64,
    pub mode: CheckpointingMode,
    /// `execution.checkpointing.timeout`, default 10 min.
    pub timeout_ms: u64,
    /// `execution.checkpointing.min-pause`, default 0.
    pub min_pause_ms: u64,
    /// `execution.checkpointing.max-concurrent-checkpoints`, default 1.
    pub max_concurrent: u32,
    /// `execution.checkpointing.tolerable-failed-checkpoints`, default 0.
    pub tolerable_failed: u32,
    pub retention: ExternalizedRetention,
    /// `execution.checkpointing.num-retained`, default 1.
    pub num_retained: u32,
    /// `execution.checkpointing.dir`: a shared-store path (None: state kept by the JobManager,
    /// Flink's JobManagerCheckpointStorage; here still written under the job's staging dir so a
    /// TaskManager loss can be recovered, but not retained after the job).
    pub dir: Option<String>,
    /// `execution.checkpointing.savepoint-dir`.
    pub savepoint_dir: Option<String>,
}

impl CheckpointConfig {
    /// Flink's `MINIMAL_CHECKPOINT_TIME`.
    pub const MINIMAL_CHECKPOINT_TIME_MS: u64 = 10;

    /// The defaults with the given interval.
    pub fn with_interval(interval_ms: u64) -> CheckpointConfig {
        CheckpointConfig {
            interval_ms,
            mode: CheckpointingMode::ExactlyOnce,
            timeout_ms: 10 * 60 * 1000,
            min_pause_ms: 0,
            max_concurrent: 1,
            tolerable_failed: 0,
            retention: ExternalizedRetention::NoExternalizedCheckpoints,
            num_retained: 1,
            dir: None,
            savepoint_dir: None,
        }
    }
}

/// Sent with a trigger and carried by the barrier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointOptions {
    pub kind: CheckpointKind,
    /// Store directory the task writes its state file into (`.../chk-<n>` or the savepoint dir).
    pub location: String,
}

/// A file in the shared store holding (part of) a task's state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateHandle {
    pub path: String,
    pub size: u64,
}

/// Inclusive range of key groups, Flink's `KeyGroupRange`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyGroupRange {
    pub start: u32,
    pub end: u32,
}

/// One subtask's acknowledged state (Flink's `TaskStateSnapshot`): the chain's state file and
/// the key groups whose keyed state it holds. `None` handle = a stateless chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStateSnapshot {
    pub vertex_id: JobVertexId,
    pub subtask_index: u32,
    pub key_groups: KeyGroupRange,
    pub handle: Option<StateHandle>,
}

/// Figures a task reports with its acknowledgement (Flink's `CheckpointMetrics`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointMetrics {
    /// Bytes of state written.
    pub state_size: u64,
    /// Time spent aligning barriers (ms).
    pub alignment_duration_ms: u64,
    /// Bytes processed during alignment.
    pub bytes_processed_during_alignment: u64,
    /// Synchronous part (chain snapshot) and asynchronous part (store write), ms.
    pub sync_duration_ms: u64,
    pub async_duration_ms: u64,
    /// From trigger to the barrier reaching this task (ms).
    pub start_delay_ms: u64,
}

/// Flink's `CheckpointFailureReason`s that tasks report (the coordinator has more).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DeclineReason {
    /// The task is not running (yet / any more).
    CheckpointDeclinedTaskNotReady,
    /// Barrier n+1 arrived before n completed.
    CheckpointDeclinedSubsumed,
    /// An input ended before the barrier arrived on it.
    CheckpointDeclinedInputEndOfStream,
    /// Writing the state failed.
    CheckpointAsyncException,
}

impl DeclineReason {
    /// Whether the CheckpointFailureManager counts this against the tolerable limit.
    pub fn is_counted(self) -> bool {
        matches!(self, DeclineReason::CheckpointAsyncException)
    }
    pub fn message(self) -> &'static str {
        match self {
            DeclineReason::CheckpointDeclinedTaskNotReady => "Checkpoint was declined (tasks not ready)",
            DeclineReason::CheckpointDeclinedSubsumed => "Checkpoint was declined (this checkpoint has been subsumed)",
            DeclineReason::CheckpointDeclinedInputEndOfStream => "Checkpoint was declined because one input stream is finished",
            DeclineReason::CheckpointAsyncException => "Asynchronous task checkpoint failed.",
        }
    }
}

/// What a task is restored from: Flink's `JobManagerTaskRestore`. `states` are every old
/// subtask's snapshot of this vertex whose key groups intersect the new subtask's range, plus
/// the operator (source) state assigned to it round-robin (`operator_states`: indexes of old
/// subtasks whose operator state this subtask takes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRestore {
    pub checkpoint_id: CheckpointId,
    /// Path of the checkpoint or savepoint directory (for logs).
    pub external_path: String,
    pub states: Vec<TaskStateSnapshot>,
    /// Old subtask indexes whose operator (non-keyed) state this subtask takes.
    pub operator_states: Vec<u32>,
}
