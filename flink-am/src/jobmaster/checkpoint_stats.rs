//! What the CheckpointCoordinator records for the REST API and the dashboard (Flink's
//! `CheckpointStatsTracker`): counts, the bounded history (`web.checkpoints.history`), the
//! latest completed / savepoint / failed / restored checkpoint, and per-vertex, per-subtask
//! acknowledgement figures. The coordinator fills it; `webmonitor` renders it with Flink's
//! field names (reference flink-checkpoints-ha.md §5).

use std::collections::{BTreeMap, VecDeque};

use flink_core::checkpoint::{CheckpointKind, CheckpointMetrics};
use flink_core::{CheckpointId, JobVertexId};

/// Flink's `web.checkpoints.history` default.
pub const DEFAULT_HISTORY_SIZE: usize = 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointStatsStatus {
    InProgress,
    Completed,
    Failed,
}

impl CheckpointStatsStatus {
    /// `status` in REST.
    pub fn name(self) -> &'static str {
        match self {
            CheckpointStatsStatus::InProgress => "IN_PROGRESS",
            CheckpointStatsStatus::Completed => "COMPLETED",
            CheckpointStatsStatus::Failed => "FAILED",
        }
    }
    /// `className` in REST.
    pub fn class_name(self) -> &'static str {
        match self {
            CheckpointStatsStatus::InProgress => "in_progress",
            CheckpointStatsStatus::Completed => "completed",
            CheckpointStatsStatus::Failed => "failed",
        }
    }
}

/// One subtask's acknowledgement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubtaskStats {
    /// When the JobMaster received the acknowledgement (ms).
    pub ack_timestamp: u64,
    pub metrics: CheckpointMetrics,
}

/// One vertex's part of a checkpoint: a slot per subtask, `None` until it acknowledged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskStats {
    pub subtasks: Vec<Option<SubtaskStats>>,
}

/// One checkpoint or savepoint in the history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointStats {
    pub id: CheckpointId,
    pub status: CheckpointStatsStatus,
    pub kind: CheckpointKind,
    pub trigger_timestamp: u64,
    /// Vertices in topological order.
    pub tasks: BTreeMap<JobVertexId, TaskStats>,
    /// `file:/...` path of the completed checkpoint or savepoint directory.
    pub external_path: Option<String>,
    /// A completed checkpoint whose files were deleted (subsumed, or the job ended).
    pub discarded: bool,
    pub failure_timestamp: Option<u64>,
    pub failure_message: Option<String>,
}

impl CheckpointStats {
    pub fn num_subtasks(&self) -> usize {
        self.tasks.values().map(|t| t.subtasks.len()).sum()
    }
    pub fn num_acknowledged(&self) -> usize {
        self.tasks.values().map(|t| t.subtasks.iter().filter(|s| s.is_some()).count()).sum()
    }
    pub fn latest_ack_timestamp(&self) -> Option<u64> {
        self.tasks.values().flat_map(|t| t.subtasks.iter().flatten()).map(|s| s.ack_timestamp).max()
    }
    pub fn state_size(&self) -> u64 {
        self.tasks.values().flat_map(|t| t.subtasks.iter().flatten()).map(|s| s.metrics.state_size).sum()
    }
}

/// The restore a job did (`latest.restored`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RestoredCheckpointStats {
    pub id: CheckpointId,
    pub restore_timestamp: u64,
    pub is_savepoint: bool,
    pub external_path: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointStatsTracker {
    pub num_restored: u64,
    pub num_total: u64,
    pub num_in_progress: u64,
    pub num_completed: u64,
    pub num_failed: u64,
    /// Newest first, at most `history_size`.
    pub history: VecDeque<CheckpointStats>,
    pub latest_completed: Option<CheckpointStats>,
    pub latest_savepoint: Option<CheckpointStats>,
    pub latest_failed: Option<CheckpointStats>,
    pub latest_restored: Option<RestoredCheckpointStats>,
    /// All completed checkpoints' figures, for the `summary` min/max/avg/percentiles:
    /// (state size, end-to-end duration ms).
    pub completed_figures: Vec<(u64, u64)>,
}
