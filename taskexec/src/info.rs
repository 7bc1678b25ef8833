//! What the TaskExecutor reports about itself (REST `/taskmanagers`): plain serde structs.

use flink_core::{AllocationId, ExecutionAttemptId, ExecutionState, JobId, ResourceId};
use serde::{Deserialize, Serialize};

use crate::slot_table::TaskSlotState;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskExecutorInfo {
    pub resource_id: ResourceId,
    /// The data/RPC address peers send to.
    pub address: String,
    pub registered: bool,
    pub memory_mb: u64,
    pub slots_total: u32,
    pub slots_free: u32,
    pub slots: Vec<SlotInfo>,
    pub tasks: Vec<TaskInfo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SlotInfo {
    pub index: u32,
    /// FREE, ALLOCATED or ACTIVE.
    pub state: String,
    pub allocation_id: Option<AllocationId>,
    pub job_id: Option<JobId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskInfo {
    pub execution_id: ExecutionAttemptId,
    pub job_id: JobId,
    pub allocation_id: AllocationId,
    /// Flink's task name: "vertex (i/n)#attempt".
    pub name: String,
    pub state: ExecutionState,
    pub records_in: u64,
    pub records_out: u64,
}

pub(crate) fn slot_state_name(s: TaskSlotState) -> &'static str {
    match s {
        TaskSlotState::Free => "FREE",
        TaskSlotState::Allocated => "ALLOCATED",
        TaskSlotState::Active => "ACTIVE",
    }
}
