//! The messages between Flink's components, one [`engine::Wire`] family per recipient, so each
//! recipient matches its own enum exhaustively and a new message kind cannot fall into a
//! catch-all arm: [`ResourceManagerGateway`] (registration, slot reports, declared
//! requirements), [`TaskExecutorGateway`] (slot requests, task deployment, checkpoint triggers
//! and notifications), [`JobMasterGateway`] (slot offers, task states, heartbeats, checkpoint
//! acknowledgements and declines) and [`NetworkMsg`] (records between TaskExecutors with
//! credit-based flow control and sequence numbers).
//!
//! Fencing, as Flink's fenced RPC endpoints: every message to or from a TaskExecutor on behalf
//! of a leader carries that leader's token, the [`ResourceManagerId`] for the ResourceManager's
//! and the [`JobMasterId`] for a JobMaster's, and the receiver drops one whose token is not the
//! one it expects (`Fencing token mismatch: ...`). A JobManager whose leadership ended (a
//! zombie, or the previous attempt of a restarted AM) can therefore neither command a
//! TaskExecutor nor have its messages accepted, whatever address it sends from.

use engine::Addr;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointId, CheckpointMetrics, CheckpointOptions, DeclineReason, TaskRestore, TaskStateSnapshot};
use crate::graph::ShipStrategy;
use crate::ids::{AllocationId, ExecutionAttemptId, JobId, JobMasterId, JobVertexId, ResourceId, ResourceManagerId};
use crate::operator::OperatorSpec;
use crate::record::Record;
use crate::state::ExecutionState;

/// What flows on a data channel. On the wire a record without a timestamp is a bare JSON
/// array of its fields, one with a timestamp `{"t":ts,"f":[..]}`, a watermark `{"w":ms}`:
/// records are most of the data plane's bytes, so they carry no field names.
#[derive(Clone, Debug, PartialEq)]
pub enum Element {
    Record(Record),
    /// Event time, ms: no later record on this channel has a smaller timestamp.
    Watermark(i64),
    /// A checkpoint barrier, in line with the records: everything before it belongs to the
    /// checkpoint, everything after to the next.
    Barrier(Box<CheckpointBarrier>),
}

/// Flink's `CheckpointBarrier`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckpointBarrier {
    pub id: CheckpointId,
    pub timestamp: u64,
    pub options: CheckpointOptions,
}

impl Serialize for Element {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Element::Record(Record { fields, timestamp: None }) => fields.serialize(s),
            Element::Record(Record { fields, timestamp: Some(t) }) => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("t", t)?;
                m.serialize_entry("f", fields)?;
                m.end()
            }
            Element::Watermark(w) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("w", w)?;
                m.end()
            }
            Element::Barrier(b) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("b", b)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Element {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Element, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Element;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a record (array of fields or {t, f}), a watermark {w} or a barrier {b}")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Element, A::Error> {
                let mut fields = Vec::with_capacity(seq.size_hint().unwrap_or(2));
                while let Some(v) = seq.next_element()? {
                    fields.push(v);
                }
                Ok(Element::Record(Record { fields: fields.into(), timestamp: None }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Element, A::Error> {
                let (mut t, mut f, mut w, mut b) = (None, None, None, None);
                while let Some(k) = map.next_key::<String>()? {
                    match k.as_str() {
                        "t" => t = Some(map.next_value::<i64>()?),
                        "f" => f = Some(map.next_value::<Vec<crate::record::Value>>()?),
                        "w" => w = Some(map.next_value::<i64>()?),
                        "b" => b = Some(map.next_value::<CheckpointBarrier>()?),
                        other => return Err(serde::de::Error::unknown_field(other, &["t", "f", "w", "b"])),
                    }
                }
                match (w, f, b) {
                    (Some(w), None, None) if t.is_none() => Ok(Element::Watermark(w)),
                    (None, Some(fields), None) => Ok(Element::Record(Record { fields: fields.into(), timestamp: t })),
                    (None, None, Some(b)) if t.is_none() => Ok(Element::Barrier(Box::new(b))),
                    _ => Err(serde::de::Error::custom("an element is either {w}, {b} or {t?, f}")),
                }
            }
        }
        d.deserialize_any(V)
    }
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

/// One slot of a JobMaster's `AllocatedSlotReport` (Flink's `AllocatedSlotInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocatedSlotInfo {
    pub slot_index: u32,
    pub allocation_id: AllocationId,
}

/// Where a task sends its output: the consumers of its vertex's outgoing edge, one per
/// consumer subtask, in subtask order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputSpec {
    pub ship: ShipStrategy,
    /// The consumer vertex's max parallelism: hash partitioning routes by key group.
    pub max_parallelism: u32,
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
    /// The vertex's max parallelism (number of key groups).
    pub max_parallelism: u32,
    pub attempt_number: u32,
    pub allocation_id: AllocationId,
    pub operators: Vec<OperatorSpec>,
    /// Every upstream execution that sends to this task; the input ends when each has sent
    /// its end of partition.
    pub producers: Vec<ExecutionAttemptId>,
    pub output: Option<OutputSpec>,
    /// The JobMaster to report states to, and its fencing token.
    pub job_master: Addr,
    pub job_master_id: JobMasterId,
    /// Set when the task resumes from a checkpoint or savepoint.
    pub restore: Option<TaskRestore>,
    /// The job's checkpointing mode (alignment), when checkpointing is on.
    pub checkpointing: Option<crate::checkpoint::CheckpointingMode>,
    /// `execution.buffer-timeout`: how long a record may wait in a partly filled network
    /// buffer (ms; 0: sent at once); None: only full buffers go out (and barriers and the end
    /// of the partition flush).
    #[serde(default = "crate::graph::default_buffer_timeout_ms")]
    pub buffer_timeout_ms: Option<u64>,
}

/// Messages to the Flink ResourceManager (Flink's `ResourceManagerGateway`).
#[derive(Debug, Serialize, Deserialize)]
pub enum ResourceManagerGateway {
    // ---- from a TaskExecutor (fenced with the ResourceManagerId it knows)
    RegisterTaskExecutor {
        resource_manager_id: ResourceManagerId,
        resource_id: ResourceId,
        num_slots: u32,
        memory_mb: u64,
        /// The TaskExecutor's data port (records); equal to its RPC address here.
        data_address: Addr,
    },
    TaskExecutorHeartbeat {
        resource_manager_id: ResourceManagerId,
        resource_id: ResourceId,
        slots: Vec<SlotStatus>,
    },
    // ---- from a JobMaster
    DeclareResourceRequirements {
        resource_manager_id: ResourceManagerId,
        job_id: JobId,
        job_master: Addr,
        /// Handed to the TaskExecutors with the slot requests: their JobMaster's token.
        job_master_id: JobMasterId,
        /// Slots the job needs in total (0 when it ended).
        slots: u32,
    },
}

/// Messages to a TaskExecutor from the ResourceManager and JobMasters (Flink's
/// `TaskExecutorGateway`).
#[derive(Debug, Serialize, Deserialize)]
pub enum TaskExecutorGateway {
    // ---- from the ResourceManager: each carries its ResourceManagerId
    RegistrationSuccess {
        resource_manager_id: ResourceManagerId,
        resource_manager: Addr,
        heartbeat_interval_ms: u64,
    },
    RegistrationRejected {
        resource_manager_id: ResourceManagerId,
        reason: String,
    },
    HeartbeatAck {
        resource_manager_id: ResourceManagerId,
    },
    RequestSlot {
        resource_manager_id: ResourceManagerId,
        slot_index: u32,
        allocation_id: AllocationId,
        job_id: JobId,
        job_master: Addr,
        /// The token the job's JobMaster fences its messages with (Flink's TaskExecutor learns
        /// it from the job's leader retrieval; the ResourceManager knows it from the declaration).
        job_master_id: JobMasterId,
    },
    /// The RM stops the TaskExecutor (idle timeout, cluster shutdown).
    Shutdown {
        resource_manager_id: ResourceManagerId,
        reason: String,
    },
    // ---- from a JobMaster: each carries its JobMasterId
    /// The answer to OfferSlots: the TaskExecutor activates the accepted slots and frees the
    /// rejected ones (Flink's offerSlots returns the accepted; the caller frees the rest).
    AcceptSlots {
        job_id: JobId,
        job_master_id: JobMasterId,
        accepted: Vec<AllocationId>,
        rejected: Vec<AllocationId>,
    },
    SubmitTask {
        job_master_id: JobMasterId,
        tdd: Box<TaskDeploymentDescriptor>,
    },
    CancelTask {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
    },
    FreeSlot {
        job_id: JobId,
        job_master_id: JobMasterId,
        allocation_id: AllocationId,
        reason: String,
    },
    /// Carries the JobMaster's `AllocatedSlotReport` for this TaskExecutor: the slots it holds
    /// here. The TaskExecutor syncs with it (Flink's `syncSlotsWithSnapshotFromJobMaster`): a
    /// reported slot it does not hold for the job is failed at the JobMaster (`FailSlot`), an
    /// active slot of the job that is not reported is freed.
    JobManagerHeartbeat {
        job_id: JobId,
        job_master_id: JobMasterId,
        #[serde(default)]
        allocated_slots: Vec<AllocatedSlotInfo>,
    },
    /// To a source task: snapshot now and emit barrier `checkpoint_id` downstream.
    TriggerCheckpoint {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
        /// Trigger time at the JobMaster (ms).
        timestamp: u64,
        options: CheckpointOptions,
    },
    /// Flink's `confirmCheckpoint` -> `notifyCheckpointComplete`: the task commits side effects
    /// (the file sink renames its pending part files) up to `checkpoint_id`.
    NotifyCheckpointComplete {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
    },
    /// Flink's `abortCheckpoint` -> `notifyCheckpointAborted`.
    NotifyCheckpointAborted {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
    },
}

impl TaskExecutorGateway {
    /// The token this message is fenced with.
    pub fn fencing_token(&self) -> FencingToken {
        use TaskExecutorGateway as G;
        match self {
            G::RegistrationSuccess { resource_manager_id, .. }
            | G::RegistrationRejected { resource_manager_id, .. }
            | G::HeartbeatAck { resource_manager_id }
            | G::RequestSlot { resource_manager_id, .. }
            | G::Shutdown { resource_manager_id, .. } => FencingToken::ResourceManager(*resource_manager_id),
            G::AcceptSlots { job_id, job_master_id, .. }
            | G::CancelTask { job_id, job_master_id, .. }
            | G::FreeSlot { job_id, job_master_id, .. }
            | G::JobManagerHeartbeat { job_id, job_master_id, .. }
            | G::TriggerCheckpoint { job_id, job_master_id, .. }
            | G::NotifyCheckpointComplete { job_id, job_master_id, .. }
            | G::NotifyCheckpointAborted { job_id, job_master_id, .. } => FencingToken::JobMaster(*job_id, *job_master_id),
            G::SubmitTask { job_master_id, tdd } => FencingToken::JobMaster(tdd.job_id, *job_master_id),
        }
    }
}

/// Whose token a message carries: the ResourceManager's, or the JobMaster's of a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FencingToken {
    ResourceManager(ResourceManagerId),
    JobMaster(JobId, JobMasterId),
}

/// Messages to a JobMaster (Flink's `JobMasterGateway`, plus the RM's answer to a
/// declaration).
#[derive(Debug, Serialize, Deserialize)]
pub enum JobMasterGateway {
    // ---- from the ResourceManager
    /// The RM cannot provide what the job declared (e.g. a TaskManager larger than YARN allows).
    ResourcesUnavailable {
        job_id: JobId,
        job_master_id: JobMasterId,
        reason: String,
    },
    // ---- from a TaskExecutor: each carries the JobMasterId the TaskExecutor knows for the job
    OfferSlots {
        job_id: JobId,
        job_master_id: JobMasterId,
        resource_id: ResourceId,
        slots: Vec<SlotOffer>,
    },
    UpdateTaskExecutionState {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
        state: ExecutionState,
        /// Why it FAILED.
        error: Option<String>,
        records_in: u64,
        records_out: u64,
        /// Bytes and time figures at the end (records are the two fields above).
        #[serde(default)]
        io: TaskIoMetrics,
        /// With FINISHED: the file sink's part files written after the last checkpoint,
        /// (staging path, final path). The JobMaster commits them once every task of the job
        /// finished (the job's final commit), so a restart before that cannot duplicate them.
        #[serde(default)]
        committables: Vec<(String, String)>,
    },
    TaskExecutorToJobManagerHeartbeat {
        job_id: JobId,
        job_master_id: JobMasterId,
        resource_id: ResourceId,
        /// (execution, records in, records out) of its running tasks.
        tasks: Vec<(ExecutionAttemptId, u64, u64)>,
        /// The same tasks' I/O and time metrics.
        #[serde(default)]
        io: Vec<(ExecutionAttemptId, TaskIoMetrics)>,
    },
    /// Flink's `failSlot`: the TaskExecutor does not hold a slot the JobMaster reported as
    /// allocated to it (the slot timed out or was freed while they could not talk). The
    /// JobMaster drops it from its pool and fails what runs in it.
    FailSlot {
        job_id: JobId,
        job_master_id: JobMasterId,
        resource_id: ResourceId,
        allocation_id: AllocationId,
        cause: String,
    },
    AcknowledgeCheckpoint {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
        metrics: CheckpointMetrics,
        state: TaskStateSnapshot,
    },
    DeclineCheckpoint {
        job_id: JobId,
        job_master_id: JobMasterId,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
        reason: DeclineReason,
        message: String,
    },
}

/// TaskExecutor <-> TaskExecutor: records with credit-based flow control (Flink's netty
/// partition requests and buffers). Each direction of each channel numbers its messages from 0:
/// a gap means a message was lost, and the receiving task fails as Flink's does on a network
/// error, instead of stalling the channel for ever.
#[derive(Debug, Serialize, Deserialize)]
pub enum NetworkMsg {
    Data {
        target: ExecutionAttemptId,
        source: ExecutionAttemptId,
        /// Sequence number on the channel source -> target.
        seq: u64,
        elements: Vec<Element>,
        end_of_partition: bool,
    },
    /// The consumer grants the producer room for `credits` more batches.
    Credit {
        target: ExecutionAttemptId,
        source: ExecutionAttemptId,
        /// Sequence number of credit messages on the channel target -> source.
        seq: u64,
        credits: u32,
    },
}

impl engine::Wire for ResourceManagerGateway {
    const FAMILY: &'static str = "flink-rm";
    fn kind(&self) -> &'static str {
        match self {
            ResourceManagerGateway::RegisterTaskExecutor { .. } => "RegisterTaskExecutor",
            ResourceManagerGateway::TaskExecutorHeartbeat { .. } => "TaskExecutorHeartbeat",
            ResourceManagerGateway::DeclareResourceRequirements { .. } => "DeclareResourceRequirements",
        }
    }
}

impl engine::Wire for TaskExecutorGateway {
    const FAMILY: &'static str = "flink-te";
    fn kind(&self) -> &'static str {
        match self {
            TaskExecutorGateway::RegistrationSuccess { .. } => "RegistrationSuccess",
            TaskExecutorGateway::RegistrationRejected { .. } => "RegistrationRejected",
            TaskExecutorGateway::HeartbeatAck { .. } => "HeartbeatAck",
            TaskExecutorGateway::RequestSlot { .. } => "RequestSlot",
            TaskExecutorGateway::Shutdown { .. } => "Shutdown",
            TaskExecutorGateway::AcceptSlots { .. } => "AcceptSlots",
            TaskExecutorGateway::SubmitTask { .. } => "SubmitTask",
            TaskExecutorGateway::CancelTask { .. } => "CancelTask",
            TaskExecutorGateway::FreeSlot { .. } => "FreeSlot",
            TaskExecutorGateway::JobManagerHeartbeat { .. } => "JobManagerHeartbeat",
            TaskExecutorGateway::TriggerCheckpoint { .. } => "TriggerCheckpoint",
            TaskExecutorGateway::NotifyCheckpointComplete { .. } => "NotifyCheckpointComplete",
            TaskExecutorGateway::NotifyCheckpointAborted { .. } => "NotifyCheckpointAborted",
        }
    }
}

impl JobMasterGateway {
    /// The job this message is for and the JobMasterId its sender knows for it.
    pub fn fencing_token(&self) -> (JobId, JobMasterId) {
        use JobMasterGateway as G;
        match self {
            G::ResourcesUnavailable { job_id, job_master_id, .. }
            | G::OfferSlots { job_id, job_master_id, .. }
            | G::UpdateTaskExecutionState { job_id, job_master_id, .. }
            | G::TaskExecutorToJobManagerHeartbeat { job_id, job_master_id, .. }
            | G::FailSlot { job_id, job_master_id, .. }
            | G::AcknowledgeCheckpoint { job_id, job_master_id, .. }
            | G::DeclineCheckpoint { job_id, job_master_id, .. } => (*job_id, *job_master_id),
        }
    }
}

impl engine::Wire for JobMasterGateway {
    const FAMILY: &'static str = "flink-jm";
    fn kind(&self) -> &'static str {
        match self {
            JobMasterGateway::ResourcesUnavailable { .. } => "ResourcesUnavailable",
            JobMasterGateway::OfferSlots { .. } => "OfferSlots",
            JobMasterGateway::UpdateTaskExecutionState { .. } => "UpdateTaskExecutionState",
            JobMasterGateway::TaskExecutorToJobManagerHeartbeat { .. } => "TaskExecutorToJobManagerHeartbeat",
            JobMasterGateway::FailSlot { .. } => "FailSlot",
            JobMasterGateway::AcknowledgeCheckpoint { .. } => "AcknowledgeCheckpoint",
            JobMasterGateway::DeclineCheckpoint { .. } => "DeclineCheckpoint",
        }
    }
}

const NET_DATA: u8 = 0;
const NET_CREDIT: u8 = 1;

/// The data plane's messages go in [`crate::codec`]'s binary layout, not JSON:
/// `0x00 target source varint(seq) end_of_partition(0|1) varint(count) element*` for a batch,
/// `0x01 target source varint(seq) varint(credits)` for credits; ids are 16 bytes little endian.
impl engine::Wire for NetworkMsg {
    const FAMILY: &'static str = "flink-data";
    /// Netty over TCP: a partition delays batches and credits, it does not lose them.
    const STREAM: bool = true;
    fn kind(&self) -> &'static str {
        match self {
            NetworkMsg::Data { .. } => "Data",
            NetworkMsg::Credit { .. } => "Credit",
        }
    }
    fn encode(&self, out: &mut Vec<u8>) {
        use crate::codec::{put_element, put_uvarint};
        match self {
            NetworkMsg::Data { target, source, seq, elements, end_of_partition } => {
                out.reserve(40 + elements.len() * 8);
                out.push(NET_DATA);
                out.extend_from_slice(&target.0.to_le_bytes());
                out.extend_from_slice(&source.0.to_le_bytes());
                put_uvarint(out, *seq);
                out.push(u8::from(*end_of_partition));
                put_uvarint(out, elements.len() as u64);
                for e in elements {
                    put_element(out, e);
                }
            }
            NetworkMsg::Credit { target, source, seq, credits } => {
                out.push(NET_CREDIT);
                out.extend_from_slice(&target.0.to_le_bytes());
                out.extend_from_slice(&source.0.to_le_bytes());
                put_uvarint(out, *seq);
                put_uvarint(out, u64::from(*credits));
            }
        }
    }
    fn decode(bytes: &[u8]) -> Result<NetworkMsg, String> {
        let mut r = crate::codec::Reader::new(bytes);
        let tag = r.u8("message tag")?;
        let target = ExecutionAttemptId(r.u128("target")?);
        let source = ExecutionAttemptId(r.u128("source")?);
        let seq = r.uvarint("sequence number")?;
        let msg = match tag {
            NET_DATA => {
                let end_of_partition = match r.u8("end of partition")? {
                    0 => false,
                    1 => true,
                    b => return Err(format!("end of partition flag {b} is neither 0 nor 1")),
                };
                // An element takes at least two bytes.
                let n = r.count(2, "element count")?;
                let mut elements = Vec::with_capacity(n);
                for _ in 0..n {
                    elements.push(r.element()?);
                }
                NetworkMsg::Data { target, source, seq, elements, end_of_partition }
            }
            NET_CREDIT => {
                let credits = u32::try_from(r.uvarint("credits")?).map_err(|_| "credits exceed 32 bits".to_string())?;
                NetworkMsg::Credit { target, source, seq, credits }
            }
            t => return Err(format!("unknown flink-data message tag {t}")),
        };
        if !r.is_empty() {
            return Err(format!("{} trailing bytes after a {} message", r.remaining(), engine::Wire::kind(&msg)));
        }
        Ok(msg)
    }
}

/// Every Flink family, for a live node's codec table.
pub fn codecs(c: engine::Codecs) -> engine::Codecs {
    c.with::<ResourceManagerGateway>().with::<TaskExecutorGateway>().with::<JobMasterGateway>().with::<NetworkMsg>()
}

/// Environment variables the AM gives TaskManager containers (besides YARN's own).
pub mod env {
    /// The Flink ResourceManager's address (`host:port`) a TaskExecutor registers with.
    pub const FLINK_RM_ADDRESS: &str = "FLINK_RM_ADDRESS";
    /// Without HA, the ResourceManagerId (32 hex) that goes with FLINK_RM_ADDRESS, as Flink's
    /// standalone leader retrieval hands out a fixed address with its leader id.
    pub const FLINK_RM_ID: &str = "FLINK_RM_ID";
    /// Slots per TaskManager.
    pub const FLINK_NUM_SLOTS: &str = "FLINK_NUM_SLOTS";
    /// The TaskManager's process memory in MB.
    pub const FLINK_TM_MEMORY_MB: &str = "FLINK_TM_MEMORY_MB";
    /// Flink's own: the host of the NodeManager.
    pub const FLINK_NODE_ID: &str = "_FLINK_NODE_ID";
}

/// A task's I/O and time figures as Flink's task metrics name them: `numRecordsIn/Out`,
/// `numBytesIn/Out`, `accumulatedBusyTime`, `accumulatedBackpressuredTime`,
/// `accumulatedIdleTime` (ms, since the task started) and `currentInputWatermark`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaskIoMetrics {
    pub records_in: u64,
    pub records_out: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub busy_ms: u64,
    pub backpressured_ms: u64,
    pub idle_ms: u64,
    /// The combined watermark of its inputs (None before the first; sources have none).
    pub input_watermark: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Value;

    #[test]
    fn elements_round_trip_in_their_compact_form() {
        let els = vec![
            Element::Record(Record::new(vec![Value::Str("to".into()), Value::Int(2)])),
            Element::Record(Record { fields: smallvec::smallvec![Value::Float(1.5)], timestamp: Some(42) }),
            Element::Watermark(-7),
        ];
        let text = serde_json::to_string(&els).unwrap();
        assert_eq!(text, r#"[["to",2],{"t":42,"f":[1.5]},{"w":-7}]"#);
        assert_eq!(serde_json::from_str::<Vec<Element>>(&text).unwrap(), els);
        assert!(serde_json::from_str::<Element>(r#"{"x":1}"#).is_err());
    }

    fn wire(m: &NetworkMsg) -> Vec<u8> {
        let mut b = Vec::new();
        engine::Wire::encode(m, &mut b);
        b
    }

    #[test]
    fn data_and_credits_round_trip_in_the_binary_layout() {
        let data = NetworkMsg::Data {
            target: ExecutionAttemptId(u128::MAX - 3),
            source: ExecutionAttemptId(7),
            seq: 300,
            elements: vec![Element::Record(Record::new(vec![Value::Int(1), Value::Str("a".into())])), Element::Watermark(5)],
            end_of_partition: true,
        };
        let credit = NetworkMsg::Credit { target: ExecutionAttemptId(1), source: ExecutionAttemptId(2), seq: u64::MAX, credits: u32::MAX };
        for m in [&data, &credit] {
            let back = <NetworkMsg as engine::Wire>::decode(&wire(m)).unwrap();
            assert_eq!(format!("{back:?}"), format!("{m:?}"));
        }
        // 1 tag + 32 id bytes + seq (2) + flag + count + the elements (7 + 2).
        assert_eq!(wire(&data).len(), 1 + 32 + 2 + 1 + 1 + 7 + 2);
    }

    #[test]
    fn corrupt_data_messages_are_rejected_with_an_error() {
        let good = wire(&NetworkMsg::Data {
            target: ExecutionAttemptId(1),
            source: ExecutionAttemptId(2),
            seq: 0,
            elements: vec![Element::Record(Record::new(vec![Value::Int(9)]))],
            end_of_partition: false,
        });
        let decode = |b: &[u8]| <NetworkMsg as engine::Wire>::decode(b).unwrap_err();
        assert!(decode(&[]).contains("truncated: no message tag"));
        assert!(decode(&good[..20]).contains("truncated: source of 16 bytes"));
        for cut in 34..good.len() {
            decode(&good[..cut]);
        }
        let mut bad = good.clone();
        bad[0] = 9;
        assert!(decode(&bad).contains("unknown flink-data message tag 9"));
        let mut bad = good.clone();
        bad[34] = 2;
        assert!(decode(&bad).contains("end of partition flag 2"));
        let mut long = good.clone();
        long.push(0);
        assert!(decode(&long).contains("1 trailing bytes after a Data message"));
        let mut huge = good[..35].to_vec();
        huge.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(&huge).contains("element count 4294967295 exceeds"));
    }
}
