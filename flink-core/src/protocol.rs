//! The messages between Flink's components, one [`engine::Wire`] family: TaskExecutor <->
//! ResourceManager (registration, slot reports, slot requests), TaskExecutor <-> JobMaster
//! (slot offers, task deployment and state, heartbeats), JobMaster <-> ResourceManager
//! (declared requirements), and TaskExecutor <-> TaskExecutor (records with credit-based flow
//! control).

use engine::Addr;
use serde::{Deserialize, Serialize};

use crate::graph::ShipStrategy;
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, JobVertexId, ResourceId};
use crate::operator::OperatorSpec;
use crate::record::Record;
use crate::state::ExecutionState;

/// What flows on a data channel.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Element {
    Record(Record),
    /// Event time, ms: no later record on this channel has a smaller timestamp.
    Watermark(i64),
}

/// A slot in a TaskExecutor's slot report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotStatus {
    pub slot_index: u32,
    /// Set while the slot is allocated to a job.
    pub allocation: Option<(AllocationId, JobId)>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SlotOffer {
    pub allocation_id: AllocationId,
    pub slot_index: u32,
}

/// Where a task sends its output: the consumers of its vertex's outgoing edge, one per
/// consumer subtask, in subtask order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub ship: ShipStrategy,
    pub consumers: Vec<(ExecutionAttemptId, Addr)>,
}

/// Everything a TaskExecutor needs to run one subtask (Flink's TaskDeploymentDescriptor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskDeploymentDescriptor {
    pub job_id: JobId,
    pub job_name: String,
    pub vertex_id: JobVertexId,
    pub vertex_name: String,
    pub execution_id: ExecutionAttemptId,
    pub subtask_index: u32,
    pub parallelism: u32,
    pub attempt_number: u32,
    pub allocation_id: AllocationId,
    pub operators: Vec<OperatorSpec>,
    /// Every upstream execution that sends to this task; the input ends when each has sent
    /// its end of partition.
    pub producers: Vec<ExecutionAttemptId>,
    pub output: Option<OutputSpec>,
    /// The JobMaster to report states to.
    pub job_master: Addr,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum FlinkMsg {
    // ---- TaskExecutor -> ResourceManager
    RegisterTaskExecutor {
        resource_id: ResourceId,
        num_slots: u32,
        memory_mb: u64,
        /// The TaskExecutor's data port (records); equal to its RPC address here.
        data_address: Addr,
    },
    TaskExecutorHeartbeat {
        resource_id: ResourceId,
        slots: Vec<SlotStatus>,
    },
    // ---- ResourceManager -> TaskExecutor
    RegistrationSuccess {
        resource_manager: Addr,
        heartbeat_interval_ms: u64,
    },
    RegistrationRejected {
        reason: String,
    },
    HeartbeatAck,
    RequestSlot {
        slot_index: u32,
        allocation_id: AllocationId,
        job_id: JobId,
        job_master: Addr,
    },
    /// The RM stops the TaskExecutor (idle timeout, cluster shutdown).
    Shutdown {
        reason: String,
    },
    // ---- JobMaster -> ResourceManager
    DeclareResourceRequirements {
        job_id: JobId,
        job_master: Addr,
        /// Slots the job needs in total (0 when it ended).
        slots: u32,
    },
    // ---- ResourceManager -> JobMaster
    /// The RM cannot provide what the job declared (e.g. a TaskManager larger than YARN allows).
    ResourcesUnavailable {
        job_id: JobId,
        reason: String,
    },
    // ---- TaskExecutor -> JobMaster
    OfferSlots {
        job_id: JobId,
        resource_id: ResourceId,
        slots: Vec<SlotOffer>,
    },
    UpdateTaskExecutionState {
        job_id: JobId,
        execution_id: ExecutionAttemptId,
        state: ExecutionState,
        /// Why it FAILED.
        error: Option<String>,
        records_in: u64,
        records_out: u64,
    },
    TaskExecutorToJobManagerHeartbeat {
        job_id: JobId,
        resource_id: ResourceId,
        /// (execution, records in, records out) of its running tasks.
        tasks: Vec<(ExecutionAttemptId, u64, u64)>,
    },
    // ---- JobMaster -> TaskExecutor
    AcceptSlots {
        job_id: JobId,
        accepted: Vec<AllocationId>,
    },
    SubmitTask(Box<TaskDeploymentDescriptor>),
    CancelTask {
        execution_id: ExecutionAttemptId,
    },
    FreeSlot {
        allocation_id: AllocationId,
        reason: String,
    },
    JobManagerHeartbeat {
        job_id: JobId,
    },
    // ---- TaskExecutor <-> TaskExecutor
    Data {
        target: ExecutionAttemptId,
        source: ExecutionAttemptId,
        elements: Vec<Element>,
        end_of_partition: bool,
    },
    /// The consumer grants the producer room for `credits` more batches.
    Credit {
        target: ExecutionAttemptId,
        source: ExecutionAttemptId,
        credits: u32,
    },
}

impl engine::Wire for FlinkMsg {
    const FAMILY: &'static str = "flink";
    fn kind(&self) -> &'static str {
        match self {
            FlinkMsg::RegisterTaskExecutor { .. } => "RegisterTaskExecutor",
            FlinkMsg::TaskExecutorHeartbeat { .. } => "TaskExecutorHeartbeat",
            FlinkMsg::RegistrationSuccess { .. } => "RegistrationSuccess",
            FlinkMsg::RegistrationRejected { .. } => "RegistrationRejected",
            FlinkMsg::HeartbeatAck => "HeartbeatAck",
            FlinkMsg::RequestSlot { .. } => "RequestSlot",
            FlinkMsg::Shutdown { .. } => "Shutdown",
            FlinkMsg::DeclareResourceRequirements { .. } => "DeclareResourceRequirements",
            FlinkMsg::ResourcesUnavailable { .. } => "ResourcesUnavailable",
            FlinkMsg::OfferSlots { .. } => "OfferSlots",
            FlinkMsg::UpdateTaskExecutionState { .. } => "UpdateTaskExecutionState",
            FlinkMsg::TaskExecutorToJobManagerHeartbeat { .. } => "TaskExecutorToJobManagerHeartbeat",
            FlinkMsg::AcceptSlots { .. } => "AcceptSlots",
            FlinkMsg::SubmitTask(_) => "SubmitTask",
            FlinkMsg::CancelTask { .. } => "CancelTask",
            FlinkMsg::FreeSlot { .. } => "FreeSlot",
            FlinkMsg::JobManagerHeartbeat { .. } => "JobManagerHeartbeat",
            FlinkMsg::Data { .. } => "Data",
            FlinkMsg::Credit { .. } => "Credit",
        }
    }
}

/// Environment variables the AM gives TaskManager containers (besides YARN's own).
pub mod env {
    /// The Flink ResourceManager's address (`host:port`) a TaskExecutor registers with.
    pub const FLINK_RM_ADDRESS: &str = "FLINK_RM_ADDRESS";
    /// Slots per TaskManager.
    pub const FLINK_NUM_SLOTS: &str = "FLINK_NUM_SLOTS";
    /// The TaskManager's process memory in MB.
    pub const FLINK_TM_MEMORY_MB: &str = "FLINK_TM_MEMORY_MB";
    /// Flink's own: the host of the NodeManager.
    pub const FLINK_NODE_ID: &str = "_FLINK_NODE_ID";
}
