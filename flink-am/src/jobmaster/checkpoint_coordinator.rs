//! The CheckpointCoordinator (Flink's `CheckpointCoordinator` with its request decider,
//! failure manager, completed-checkpoint store and stats tracker): a plain struct the
//! JobMaster drives. It triggers checkpoints on its periodic timer while the job is RUNNING,
//! admits them (max-concurrent, min-pause, all tasks RUNNING), sends TriggerCheckpoint to the
//! source tasks, collects acknowledgements, writes `<location>/_metadata` when every task
//! acknowledged, keeps `num-retained` completed checkpoints (deleting subsumed `chk-<n>` dirs),
//! notifies the tasks, aborts on declines, timeouts and failovers, and counts failures against
//! `tolerable-failed-checkpoints`. Reference: flink-checkpoints-ha.md §1.
//!
//! Where state lives: `<execution.checkpointing.dir>/<job-id>/chk-<n>/`; without a configured
//! dir (Flink's JobManagerCheckpointStorage) under `.flink/checkpoints/<job-id>/chk-<n>/` in the
//! shared store, which the job owns and deletes when it ends whatever the retention says.
//! Savepoints go to `<target>/savepoint-<6 hex of job id>-<12 hex>/` and are never deleted.
//! External paths are shown as `file:/<store path>`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use engine::{Addr, Cx, TimerId};
use flink_core::checkpoint::{
    CheckpointConfig, CheckpointId, CheckpointKind, CheckpointMetrics, CheckpointOptions, DeclineReason, ExternalizedRetention,
    KeyGroupRange, TaskRestore, TaskStateSnapshot,
};
use flink_core::{ExecutionAttemptId, JobId, JobMasterId, JobStatus, JobVertexId, TaskExecutorGateway};
use rand::Rng as _;
use serde::{Deserialize, Serialize};

use super::checkpoint_stats::{
    CheckpointStats, CheckpointStatsStatus, CheckpointStatsTracker, RestoredCheckpointStats, SubtaskStats, TaskStats, DEFAULT_HISTORY_SIZE,
};

/// The metadata file of a completed checkpoint or savepoint.
pub const METADATA_FILE: &str = "_metadata";
/// Flink's `Checkpoints.HEADER_MAGIC_NUMBER`.
pub const METADATA_MAGIC: u32 = 0x4960_672d;
/// Values the stats summary keeps (Flink's `DescriptiveStatisticsHistogram` window).
pub const SUMMARY_WINDOW: usize = 10_000;
/// Version of this harness's JSON metadata format.
pub const METADATA_VERSION: u32 = 1;

/// `_metadata`: what a restore needs to hand state back to a (possibly rescaled) program.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointMetadata {
    pub magic: u32,
    pub version: u32,
    pub job_id: JobId,
    pub checkpoint_id: CheckpointId,
    pub kind: CheckpointKind,
    pub timestamp: u64,
    pub vertices: Vec<VertexMetadata>,
}

/// One vertex's state in `_metadata`: matched to the new program by `uid`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VertexMetadata {
    pub uid: String,
    pub name: String,
    pub parallelism: u32,
    pub max_parallelism: u32,
    /// The acknowledged snapshots, by subtask index.
    pub subtasks: Vec<TaskStateSnapshot>,
}

impl VertexMetadata {
    /// Whether any subtask wrote a state file (a stateless chain acknowledges without one).
    pub fn has_state(&self) -> bool {
        self.subtasks.iter().any(|s| s.handle.is_some())
    }
}

/// A vertex as the coordinator needs it: for `_metadata` and state assignment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VertexInfo {
    pub id: JobVertexId,
    pub uid: String,
    pub name: String,
    pub parallelism: u32,
    pub max_parallelism: u32,
}

/// One task of a checkpoint: whom to trigger (sources), whom to wait for (all), whom to notify.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlanTask {
    pub vertex: JobVertexId,
    pub subtask: u32,
    pub attempt: ExecutionAttemptId,
    pub address: Addr,
    pub is_source: bool,
}

/// Flink's `CheckpointPlan`, built by the JobMaster from the ExecutionGraph.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointPlan {
    pub vertices: Vec<VertexInfo>,
    pub tasks: Vec<PlanTask>,
}

/// Flink's `CheckpointFailureReason`s that the coordinator uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointFailureReason {
    NotAllRequiredTasksRunning,
    CheckpointExpired,
    CheckpointSubsumed,
    /// A task declined.
    Declined(DeclineReason),
    JobFailover,
    /// A task finished while the checkpoint waited for it.
    TaskClosing,
    CheckpointCoordinatorShutdown,
    FinalizeCheckpointFailure,
    IoException,
}

impl CheckpointFailureReason {
    /// The message of Flink's enum constant.
    pub fn message(self) -> &'static str {
        match self {
            CheckpointFailureReason::NotAllRequiredTasksRunning => "Not all required tasks are currently running.",
            CheckpointFailureReason::CheckpointExpired => "Checkpoint expired before completing.",
            CheckpointFailureReason::CheckpointSubsumed => "Checkpoint has been subsumed.",
            CheckpointFailureReason::Declined(r) => r.message(),
            CheckpointFailureReason::JobFailover => "FailoverRegion is restarting.",
            CheckpointFailureReason::TaskClosing => "Checkpoint was declined (task is closing)",
            CheckpointFailureReason::CheckpointCoordinatorShutdown => "CheckpointCoordinator shutdown.",
            CheckpointFailureReason::FinalizeCheckpointFailure => "Failure to finalize checkpoint.",
            CheckpointFailureReason::IoException => "An Exception occurred while triggering the checkpoint.",
        }
    }
    /// Whether the CheckpointFailureManager counts it (reference §1.2).
    pub fn is_counted(self) -> bool {
        match self {
            CheckpointFailureReason::CheckpointExpired
            | CheckpointFailureReason::FinalizeCheckpointFailure
            | CheckpointFailureReason::IoException => true,
            CheckpointFailureReason::Declined(r) => r.is_counted(),
            CheckpointFailureReason::NotAllRequiredTasksRunning
            | CheckpointFailureReason::CheckpointSubsumed
            | CheckpointFailureReason::JobFailover
            | CheckpointFailureReason::TaskClosing
            | CheckpointFailureReason::CheckpointCoordinatorShutdown => false,
        }
    }
}

/// Flink's `CheckpointFailureManager`: consecutive counted failures of checkpoints newer than
/// the last success; more than `tolerable` fails the job globally.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckpointFailureManager {
    pub tolerable: u32,
    pub continuous_failures: u32,
    /// Ids already counted (a checkpoint counts once).
    counted: BTreeSet<CheckpointId>,
    last_succeeded: CheckpointId,
}

impl CheckpointFailureManager {
    pub fn new(tolerable: u32) -> Self {
        CheckpointFailureManager { tolerable, ..Default::default() }
    }

    /// A failure of checkpoint `id` (None: failed before it got an id); Some(job failure
    /// message) when the threshold is exceeded.
    pub fn failed(&mut self, id: Option<CheckpointId>, reason: CheckpointFailureReason, is_savepoint: bool) -> Option<String> {
        if is_savepoint || !reason.is_counted() {
            return None;
        }
        if let Some(id) = id {
            if id <= self.last_succeeded || !self.counted.insert(id) {
                return None;
            }
        }
        self.continuous_failures += 1;
        if self.continuous_failures > self.tolerable {
            self.continuous_failures = 0;
            self.counted.clear();
            return Some(format!(
                "org.apache.flink.util.FlinkRuntimeException: Exceeded checkpoint tolerable failure threshold. The latest checkpoint failed due to {}, view the Checkpoint History tab or the Job Manager log to find out why continuous checkpoints failed.",
                reason.message()
            ));
        }
        None
    }

    pub fn succeeded(&mut self, id: CheckpointId) {
        self.continuous_failures = 0;
        self.last_succeeded = self.last_succeeded.max(id);
        self.counted.retain(|c| *c > id);
    }
}

/// A completed checkpoint or savepoint in the store (or the one a job was started from).
#[derive(Clone, Debug, PartialEq)]
pub struct CompletedCheckpoint {
    pub metadata: CheckpointMetadata,
    /// Store path of the checkpoint directory.
    pub location: String,
    /// Whether the coordinator may delete it (its own checkpoints; never savepoints or a
    /// checkpoint the job was started from).
    pub owned: bool,
    /// How the location is shown (`external_path_in`).
    pub external_path: String,
}

impl CompletedCheckpoint {
    pub fn id(&self) -> CheckpointId {
        self.metadata.checkpoint_id
    }
    /// As Flink's `CompletedCheckpoint.toString()` in the restore log line.
    pub fn describe(&self) -> String {
        let what = if self.metadata.kind.is_savepoint() { "Savepoint" } else { "Checkpoint" };
        format!(
            "{what} {} @ {} for {} located at {}",
            self.metadata.checkpoint_id, self.metadata.timestamp, self.metadata.job_id, self.external_path
        )
    }
}

/// `file:/<store path>`: how checkpoint and savepoint paths are shown (REST, CLI, logs).
pub fn external_path(store_path: &str) -> String {
    format!("file:/{store_path}")
}

/// How the JobMaster shows checkpoint and savepoint paths: `file:/<store path>`, in the sim
/// and live alike. The REST layer qualifies it with the store's directory for clients
/// (`file:<store root>/<store path>`, as Flink prints fully qualified paths).
pub fn external_path_in(_store: &mut dyn engine::Store, store_path: &str) -> String {
    external_path(store_path)
}

/// A user-given checkpoint/savepoint pointer (`file:/..`, `file://..`, a store path, with or
/// without `/_metadata`) as the store path of its directory.
pub fn pointer_to_store_path(pointer: &str) -> Result<String, String> {
    pointer_to_store_path_in(None, pointer)
}

/// As `pointer_to_store_path`; an absolute path under the store's local directory (live) is
/// made relative to it.
pub fn pointer_to_store_path_in(store: Option<&mut dyn engine::Store>, pointer: &str) -> Result<String, String> {
    let p = pointer.trim();
    let p = p.strip_prefix("file://").or_else(|| p.strip_prefix("file:")).unwrap_or(p);
    let root = store.and_then(|s| s.local_path("_")).and_then(|x| x.parent().map(|r| r.to_path_buf()));
    let rel = match root {
        Some(root) if p.starts_with('/') => std::path::Path::new(p)
            .strip_prefix(&root)
            .map(|r| r.to_string_lossy().into_owned())
            .unwrap_or_else(|_| p.trim_start_matches('/').to_string()),
        _ => p.trim_start_matches('/').to_string(),
    };
    let p = engine::store::check_path(&rel).map_err(|e| e.to_string())?;
    Ok(p.strip_suffix(&format!("/{METADATA_FILE}")).map(str::to_string).unwrap_or(p))
}

/// Flink's `KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex`.
pub fn key_group_range(max_parallelism: u32, parallelism: u32, index: u32) -> KeyGroupRange {
    let (m, p, i) = (u64::from(max_parallelism), u64::from(parallelism.max(1)), u64::from(index));
    KeyGroupRange { start: (i * m).div_ceil(p) as u32, end: (((i + 1) * m - 1) / p) as u32 }
}

fn intersects(a: KeyGroupRange, b: KeyGroupRange) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// Flink's `StateAssignmentOperation` for one new subtask: every old snapshot whose key-group
/// range intersects the new subtask's range, plus the operator (source) state of the old
/// subtasks `j` with `j % new_p == index` (round-robin). Snapshots taken for operator state only
/// are included in `states` too, so the runtime finds their files; it filters keyed entries to
/// its own range.
pub fn assign_state(checkpoint: &CompletedCheckpoint, old: &VertexMetadata, new_parallelism: u32, index: u32) -> TaskRestore {
    let range = key_group_range(old.max_parallelism, new_parallelism, index);
    let operator_states: Vec<u32> = (0..old.parallelism).filter(|j| j % new_parallelism.max(1) == index).collect();
    let states =
        old.subtasks.iter().filter(|s| intersects(s.key_groups, range) || operator_states.contains(&s.subtask_index)).cloned().collect();
    TaskRestore { checkpoint_id: checkpoint.id(), external_path: checkpoint.external_path.clone(), states, operator_states }
}

/// What the user asked for besides the periodic checkpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SnapshotRequest {
    /// `flink checkpoint` / POST /jobs/:id/checkpoints.
    ManualCheckpoint,
    /// `flink savepoint` or `flink stop` (kind SyncSavepoint) into the store dir `target`.
    Savepoint { target: String, kind: CheckpointKind },
}

struct PendingCheckpoint {
    id: CheckpointId,
    kind: CheckpointKind,
    timestamp: u64,
    deadline: u64,
    location: String,
    plan: CheckpointPlan,
    /// Attempts still to acknowledge.
    not_yet_acknowledged: BTreeSet<ExecutionAttemptId>,
    acknowledged: BTreeMap<ExecutionAttemptId, TaskStateSnapshot>,
    /// Triggered by a user request: its outcome is kept for `snapshot_outcome`.
    requested: bool,
}

/// Timer ids the JobMaster lends the coordinator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoordinatorTimers {
    /// The periodic trigger (also re-armed for min-pause and queued requests).
    pub trigger: TimerId,
    /// The canceller: fires at the earliest pending deadline.
    pub timeout: TimerId,
}

/// A completed checkpoint the HA store does not have yet: its location, the retained ids
/// then, and whom to notify once it is stored.
type AwaitingPersist = (String, Vec<CheckpointId>, Vec<(Addr, ExecutionAttemptId)>);

pub struct CheckpointCoordinator {
    /// The fencing token of the JobMaster this coordinator belongs to, on all it sends.
    job_master_id: JobMasterId,
    job_id: JobId,
    pub config: CheckpointConfig,
    timers: CoordinatorTimers,
    /// `<dir>/<job-id>` or the job-owned default.
    base_dir: String,
    /// No dir configured: the base dir is the job's and goes with it.
    default_location: bool,
    next_id: CheckpointId,
    pending: BTreeMap<CheckpointId, PendingCheckpoint>,
    /// Completed checkpoints (and synchronous savepoints), oldest first.
    completed: VecDeque<CompletedCheckpoint>,
    /// The checkpoint/savepoint the job was started from (kept for recovery until a newer one).
    outcomes: BTreeMap<CheckpointId, Result<String, String>>,
    last_completion_ms: Option<u64>,
    periodic: bool,
    /// A periodic request waits for a pending checkpoint to end (max-concurrent).
    queued_periodic: bool,
    pub failure_manager: CheckpointFailureManager,
    pub stats: CheckpointStatsTracker,
    /// A completed stop-with-savepoint's external path: the job is stopping.
    stopped_at: Option<String>,
    /// HA: a completed checkpoint is committed (notifyCheckpointComplete) only once the
    /// completed-checkpoint store in ZooKeeper has it, so a zombie leader whose session is
    /// gone cannot make TaskManagers commit.
    pub persist_before_notify: bool,
    /// Completed checkpoints waiting for the HA store: (location, retained ids, commit targets).
    awaiting_persist: BTreeMap<CheckpointId, AwaitingPersist>,
    /// Of those, the ones not yet handed to the HA store.
    to_persist: Vec<CheckpointId>,
    /// HA: subsumed checkpoints whose directories stay until a newer checkpoint is in the HA
    /// store: until then ZooKeeper may still point at them, and a new leader recovers from
    /// what ZooKeeper points at (Flink subsumes inside the store's add, after the write).
    awaiting_discard: Vec<CompletedCheckpoint>,
}

impl CheckpointCoordinator {
    pub fn new(job_id: JobId, job_master_id: JobMasterId, config: CheckpointConfig, timers: CoordinatorTimers) -> Self {
        let (base_dir, default_location) = match config.dir.as_deref().map(pointer_to_store_path) {
            Some(Ok(dir)) => (format!("{dir}/{job_id}"), false),
            _ => (format!(".flink/checkpoints/{job_id}"), true),
        };
        CheckpointCoordinator {
            job_id,
            job_master_id,
            failure_manager: CheckpointFailureManager::new(config.tolerable_failed),
            config,
            timers,
            base_dir,
            default_location,
            next_id: 1,
            pending: BTreeMap::new(),
            completed: VecDeque::new(),
            outcomes: BTreeMap::new(),
            last_completion_ms: None,
            periodic: false,
            queued_periodic: false,
            stats: CheckpointStatsTracker::default(),
            stopped_at: None,
            persist_before_notify: false,
            awaiting_persist: BTreeMap::new(),
            to_persist: Vec::new(),
            awaiting_discard: Vec::new(),
        }
    }

    pub fn base_dir(&self) -> &str {
        &self.base_dir
    }

    pub fn num_pending(&self) -> usize {
        self.pending.len()
    }

    pub fn next_checkpoint_id(&self) -> CheckpointId {
        self.next_id
    }

    pub fn completed_checkpoints(&self) -> impl Iterator<Item = &CompletedCheckpoint> {
        self.completed.iter()
    }

    /// The newest completed checkpoint or savepoint to recover from.
    pub fn latest_completed(&self) -> Option<&CompletedCheckpoint> {
        self.completed.back()
    }

    /// The external path of a completed stop-with-savepoint (the job's tasks are finishing).
    pub fn stopped_at(&self) -> Option<&str> {
        self.stopped_at.as_deref()
    }

    pub fn snapshot_outcome(&self, id: CheckpointId) -> Option<Result<String, String>> {
        self.outcomes.get(&id).cloned()
    }

    // ---- periodic scheduling (Flink's CheckpointCoordinatorDeActivator)

    /// The job turned RUNNING: first trigger after a random delay in [min-pause, interval].
    pub fn start_scheduler(&mut self, cx: &mut Cx) {
        if self.periodic {
            return;
        }
        self.periodic = true;
        let lo = self.config.min_pause_ms;
        let hi = self.config.interval_ms.max(lo);
        let delay = cx.rng().random_range(lo..=hi);
        cx.set_timer(Duration::from_millis(delay), self.timers.trigger);
    }

    /// The job left RUNNING.
    pub fn stop_scheduler(&mut self, cx: &mut Cx) {
        self.periodic = false;
        self.queued_periodic = false;
        cx.cancel_timer(self.timers.trigger);
    }

    pub fn is_scheduler_running(&self) -> bool {
        self.periodic
    }

    /// The periodic timer fired; `plan` is the ExecutionGraph's current plan, or the name of a
    /// task that is not RUNNING. Returns a job failure when the failure manager says so.
    pub fn on_trigger_timer(&mut self, cx: &mut Cx, plan: Result<CheckpointPlan, String>) -> Option<String> {
        if !self.periodic {
            return None;
        }
        let now = cx.now().as_millis();
        // Fixed rate: the next request one interval from now, whatever happens to this one.
        cx.set_timer(Duration::from_millis(self.config.interval_ms), self.timers.trigger);
        if self.pending.len() >= self.config.max_concurrent.max(1) as usize {
            // CheckpointRequestDecider queues it; it runs when a pending one ends.
            self.queued_periodic = true;
            return None;
        }
        if let Some(last) = self.last_completion_ms {
            let earliest = last + self.config.min_pause_ms;
            if now < earliest {
                // MINIMUM_TIME_BETWEEN_CHECKPOINTS: re-arm for the remainder.
                cx.set_timer(Duration::from_millis(earliest - now), self.timers.trigger);
                return None;
            }
        }
        // Trigger-side failures (tasks not running) are not counted.
        let _ = self.start(cx, plan, CheckpointKind::Checkpoint, None, false);
        None
    }

    /// A user request: a manual checkpoint or a savepoint. Forced: max-concurrent and
    /// min-pause do not hold it back (Flink forces savepoints; manual checkpoints here too).
    pub fn trigger(&mut self, cx: &mut Cx, plan: Result<CheckpointPlan, String>, request: SnapshotRequest) -> Result<CheckpointId, String> {
        let (kind, target) = match request {
            SnapshotRequest::ManualCheckpoint => (CheckpointKind::Checkpoint, None),
            SnapshotRequest::Savepoint { target, kind } => {
                let dir = pointer_to_store_path_in(Some(cx.store()), &target)?;
                (kind, Some(dir))
            }
        };
        let id = self.start(cx, plan, kind, target, true)?;
        if matches!(kind, CheckpointKind::SyncSavepoint { .. }) {
            // Stop-with-savepoint: no more periodic checkpoints.
            self.stop_scheduler(cx);
        }
        Ok(id)
    }

    fn savepoint_location(&self, cx: &mut Cx, target: &str) -> Result<String, String> {
        let prefix = &self.job_id.to_string()[..6];
        for _ in 0..10 {
            let random: u64 = cx.rng().random();
            let dir = format!("{target}/savepoint-{prefix}-{:012x}", random & 0xffff_ffff_ffff);
            if cx.store().list(&dir).map(|l| l.is_empty()).unwrap_or(true) {
                return Ok(dir);
            }
        }
        Err(format!("java.io.IOException: Failed to create savepoint directory at {}", external_path(target)))
    }

    fn start(
        &mut self,
        cx: &mut Cx,
        plan: Result<CheckpointPlan, String>,
        kind: CheckpointKind,
        savepoint_target: Option<String>,
        requested: bool,
    ) -> Result<CheckpointId, String> {
        let now = cx.now().as_millis();
        let plan = match plan {
            Ok(p) => p,
            Err(task) => {
                let reason = CheckpointFailureReason::NotAllRequiredTasksRunning;
                let message = format!(
                    "Checkpoint triggering task {task} of job {} is not being executed at the moment. Aborting checkpoint. Failure reason: {}",
                    self.job_id,
                    reason.message()
                );
                cx.print(&format!("INFO  Failed to trigger checkpoint for job {} since {message}.", self.job_id));
                // Flink's reportFailedCheckpointsWithoutInProgress.
                self.stats.num_total += 1;
                self.stats.num_failed += 1;
                return Err(reason.message().to_string());
            }
        };
        let location = match &savepoint_target {
            Some(target) => self.savepoint_location(cx, target)?,
            None => format!("{}/chk-{}", self.base_dir, self.next_id),
        };
        let id = self.next_id;
        self.next_id += 1;
        cx.print(&format!("INFO  Triggering checkpoint {id} (type={}) @ {now} for job {}.", type_string(kind), self.job_id));
        let options = CheckpointOptions { kind, location: location.clone() };
        for t in plan.tasks.iter().filter(|t| t.is_source) {
            cx.send(
                t.address,
                TaskExecutorGateway::TriggerCheckpoint {
                    job_id: self.job_id,
                    job_master_id: self.job_master_id,
                    execution_id: t.attempt,
                    checkpoint_id: id,
                    timestamp: now,
                    options: options.clone(),
                },
            );
        }
        let mut tasks: BTreeMap<JobVertexId, TaskStats> = BTreeMap::new();
        for v in &plan.vertices {
            tasks.insert(v.id, TaskStats { subtasks: vec![None; v.parallelism as usize] });
        }
        self.stats_push(CheckpointStats {
            id,
            status: CheckpointStatsStatus::InProgress,
            kind,
            trigger_timestamp: now,
            tasks,
            external_path: None,
            discarded: false,
            failure_timestamp: None,
            failure_message: None,
        });
        self.stats.num_total += 1;
        self.stats.num_in_progress += 1;
        let deadline = now + self.config.timeout_ms;
        self.pending.insert(
            id,
            PendingCheckpoint {
                id,
                kind,
                timestamp: now,
                deadline,
                location,
                not_yet_acknowledged: plan.tasks.iter().map(|t| t.attempt).collect(),
                acknowledged: BTreeMap::new(),
                plan,
                requested,
            },
        );
        self.arm_timeout(cx);
        Ok(id)
    }

    fn arm_timeout(&mut self, cx: &mut Cx) {
        match self.pending.values().map(|p| p.deadline).min() {
            Some(d) => {
                let now = cx.now().as_millis();
                cx.set_timer(Duration::from_millis(d.saturating_sub(now)), self.timers.timeout);
            }
            None => cx.cancel_timer(self.timers.timeout),
        }
    }

    /// The canceller fired: expire every pending checkpoint past its deadline.
    pub fn on_timeout_timer(&mut self, cx: &mut Cx) -> Option<String> {
        let now = cx.now().as_millis();
        let expired: Vec<CheckpointId> = self.pending.values().filter(|p| p.deadline <= now).map(|p| p.id).collect();
        let mut fail = None;
        for id in expired {
            cx.print(&format!("INFO  Checkpoint {id} of job {} expired before completing.", self.job_id));
            if let Some(f) = self.abort(cx, id, CheckpointFailureReason::CheckpointExpired, None) {
                fail.get_or_insert(f);
            }
        }
        self.arm_timeout(cx);
        fail
    }

    /// AcknowledgeCheckpoint. Returns a job failure when finalizing failed past the threshold.
    pub fn acknowledge(
        &mut self,
        cx: &mut Cx,
        execution: ExecutionAttemptId,
        id: CheckpointId,
        metrics: CheckpointMetrics,
        state: TaskStateSnapshot,
    ) -> Option<String> {
        let now = cx.now().as_millis();
        let Some(p) = self.pending.get_mut(&id) else {
            // Late or unknown: the state file belongs to no checkpoint (Flink discards it),
            // unless it is part of a completed one.
            if let Some(h) = &state.handle {
                if !self.completed.iter().any(|c| h.path.starts_with(&format!("{}/", c.location))) {
                    let _ = cx.store().delete(&h.path);
                }
            }
            cx.print(&format!(
                "WARN  Received late message for now expired checkpoint attempt {id} from task {execution} of job {}.",
                self.job_id
            ));
            return None;
        };
        if !p.not_yet_acknowledged.remove(&execution) {
            return None;
        }
        let vertex = state.vertex_id;
        let subtask = state.subtask_index as usize;
        p.acknowledged.insert(execution, state);
        let done = p.not_yet_acknowledged.is_empty();
        if let Some(st) = self.stats.history.iter_mut().find(|s| s.id == id) {
            if let Some(slot) = st.tasks.get_mut(&vertex).and_then(|t| t.subtasks.get_mut(subtask)) {
                *slot = Some(SubtaskStats { ack_timestamp: now, metrics });
            }
        }
        if done {
            return self.complete(cx, id);
        }
        None
    }

    fn complete(&mut self, cx: &mut Cx, id: CheckpointId) -> Option<String> {
        let p = self.pending.remove(&id).expect("pending");
        let now = cx.now().as_millis();
        let mut vertices = Vec::new();
        for v in &p.plan.vertices {
            let mut subtasks: Vec<TaskStateSnapshot> = p.acknowledged.values().filter(|s| s.vertex_id == v.id).cloned().collect();
            subtasks.sort_by_key(|s| s.subtask_index);
            vertices.push(VertexMetadata {
                uid: v.uid.clone(),
                name: v.name.clone(),
                parallelism: v.parallelism,
                max_parallelism: v.max_parallelism,
                subtasks,
            });
        }
        let metadata = CheckpointMetadata {
            magic: METADATA_MAGIC,
            version: METADATA_VERSION,
            job_id: self.job_id,
            checkpoint_id: id,
            kind: p.kind,
            timestamp: p.timestamp,
            vertices,
        };
        let bytes = serde_json::to_vec_pretty(&metadata).expect("metadata serializes");
        if let Err(e) = cx.store().write(&format!("{}/{METADATA_FILE}", p.location), &bytes) {
            cx.print(&format!("WARN  Could not finalize the pending checkpoint {id}: {e}"));
            self.pending.insert(id, p);
            return self.abort(cx, id, CheckpointFailureReason::FinalizeCheckpointFailure, None);
        }
        let size: u64 = p.acknowledged.values().filter_map(|s| s.handle.as_ref()).map(|h| h.size).sum::<u64>() + bytes.len() as u64;
        let external = external_path_in(cx.store(), &p.location);
        let completed =
            CompletedCheckpoint { metadata, location: p.location.clone(), owned: !p.kind.is_savepoint(), external_path: external.clone() };
        // A plain savepoint is neither stored for recovery nor subsumes anything.
        let stored = p.kind != CheckpointKind::Savepoint;
        let mut subsumed = Vec::new();
        if stored {
            self.completed.push_back(completed);
            while self.completed.len() > self.config.num_retained.max(1) as usize {
                let old = self.completed.pop_front().expect("non-empty");
                subsumed.push(old);
            }
        }
        for old in subsumed {
            if self.persist_before_notify {
                self.awaiting_discard.push(old);
            } else {
                self.discard(cx, &old);
            }
        }
        self.last_completion_ms = Some(now);
        self.failure_manager.succeeded(id);
        cx.print(&format!(
            "INFO  Completed checkpoint {id} for job {} ({size} bytes, checkpointDuration={} ms, finalizationTime=0 ms).",
            self.job_id,
            now.saturating_sub(p.timestamp)
        ));
        if p.requested {
            self.outcomes.insert(id, Ok(external.clone()));
        }
        if let CheckpointKind::SyncSavepoint { .. } = p.kind {
            self.stopped_at = Some(external.clone());
        }
        // Stats.
        self.stats.num_in_progress = self.stats.num_in_progress.saturating_sub(1);
        self.stats.num_completed += 1;
        if let Some(st) = self.stats.history.iter_mut().find(|s| s.id == id) {
            st.status = CheckpointStatsStatus::Completed;
            st.external_path = Some(external);
            let done = st.clone();
            self.stats.completed_figures.push((done.state_size(), now.saturating_sub(done.trigger_timestamp)));
            // Flink's summary histograms keep a window of the latest 10 000 values.
            if self.stats.completed_figures.len() > SUMMARY_WINDOW {
                let excess = self.stats.completed_figures.len() - SUMMARY_WINDOW;
                self.stats.completed_figures.drain(..excess);
            }
            if p.kind.is_savepoint() {
                self.stats.latest_savepoint = Some(done);
            } else {
                self.stats.latest_completed = Some(done);
            }
        }
        if p.kind != CheckpointKind::Savepoint && self.persist_before_notify {
            let retained = self.completed.iter().map(|c| c.id()).collect();
            let targets = p.plan.tasks.iter().map(|t| (t.address, t.attempt)).collect();
            self.awaiting_persist.insert(id, (p.location.clone(), retained, targets));
            self.to_persist.push(id);
        } else if p.kind != CheckpointKind::Savepoint {
            for t in &p.plan.tasks {
                cx.send(
                    t.address,
                    TaskExecutorGateway::NotifyCheckpointComplete {
                        job_id: self.job_id,
                        job_master_id: self.job_master_id,
                        execution_id: t.attempt,
                        checkpoint_id: id,
                    },
                );
            }
        }
        // Older pending checkpoints are subsumed (savepoints are not).
        let older: Vec<CheckpointId> = self
            .pending
            .values()
            .filter(|o| o.id < id && !o.kind.is_savepoint() && p.kind != CheckpointKind::Savepoint)
            .map(|o| o.id)
            .collect();
        for o in older {
            self.abort(cx, o, CheckpointFailureReason::CheckpointSubsumed, None);
        }
        self.arm_timeout(cx);
        self.run_queued(cx);
        None
    }

    /// Deletes a subsumed (or no longer retained) checkpoint's directory, if it is ours.
    fn discard(&mut self, cx: &mut Cx, c: &CompletedCheckpoint) {
        if !c.owned {
            return;
        }
        let _ = cx.store().delete(&c.location);
        let id = c.id();
        for st in self.stats.history.iter_mut().chain(self.stats.latest_completed.as_mut()) {
            if st.id == id {
                st.discarded = true;
            }
        }
    }

    /// A queued periodic request runs once a pending checkpoint ended (after min-pause).
    fn run_queued(&mut self, cx: &mut Cx) {
        if self.queued_periodic && self.periodic && self.pending.len() < self.config.max_concurrent.max(1) as usize {
            self.queued_periodic = false;
            let now = cx.now().as_millis();
            let wait = self.last_completion_ms.map(|l| (l + self.config.min_pause_ms).saturating_sub(now)).unwrap_or(0);
            cx.set_timer(Duration::from_millis(wait), self.timers.trigger);
        }
    }

    /// A task FINISHED: it acknowledges nothing more, so the pending checkpoints waiting for it
    /// cannot complete (Flink: CHECKPOINT_DECLINED_TASK_CLOSING, not counted).
    pub fn task_finished(&mut self, cx: &mut Cx, execution: ExecutionAttemptId) {
        let ids: Vec<CheckpointId> = self.pending.values().filter(|p| p.not_yet_acknowledged.contains(&execution)).map(|p| p.id).collect();
        for id in ids {
            self.abort(cx, id, CheckpointFailureReason::TaskClosing, None);
        }
        self.arm_timeout(cx);
    }

    /// DeclineCheckpoint from a task at `location`.
    pub fn decline(
        &mut self,
        cx: &mut Cx,
        execution: ExecutionAttemptId,
        id: CheckpointId,
        reason: DeclineReason,
        message: &str,
        location: &str,
    ) -> Option<String> {
        if !self.pending.get(&id).is_some_and(|p| p.plan.tasks.iter().any(|t| t.attempt == execution)) {
            return None;
        }
        cx.print(&format!("INFO  Decline checkpoint {id} by task {execution} of job {} at {location}.", self.job_id));
        let detail = if message.is_empty() { None } else { Some(message.to_string()) };
        self.abort(cx, id, CheckpointFailureReason::Declined(reason), detail)
    }

    /// Aborts every pending checkpoint (failover, job end).
    pub fn abort_all(&mut self, cx: &mut Cx, reason: CheckpointFailureReason) -> Option<String> {
        let ids: Vec<CheckpointId> = self.pending.keys().copied().collect();
        let mut fail = None;
        for id in ids {
            if let Some(f) = self.abort(cx, id, reason, None) {
                fail.get_or_insert(f);
            }
        }
        self.arm_timeout(cx);
        fail
    }

    fn abort(&mut self, cx: &mut Cx, id: CheckpointId, reason: CheckpointFailureReason, detail: Option<String>) -> Option<String> {
        let p = self.pending.remove(&id)?;
        let now = cx.now().as_millis();
        // FsCheckpointStorageLocation.disposeOnFailure.
        let _ = cx.store().delete(&p.location);
        for t in &p.plan.tasks {
            cx.send(
                t.address,
                TaskExecutorGateway::NotifyCheckpointAborted {
                    job_id: self.job_id,
                    job_master_id: self.job_master_id,
                    execution_id: t.attempt,
                    checkpoint_id: id,
                },
            );
        }
        let message = match &detail {
            Some(d) => format!("{} {d}", reason.message()),
            None => reason.message().to_string(),
        };
        if p.requested {
            self.outcomes.insert(id, Err(message.clone()));
        }
        self.stats.num_in_progress = self.stats.num_in_progress.saturating_sub(1);
        self.stats.num_failed += 1;
        if let Some(st) = self.stats.history.iter_mut().find(|s| s.id == id) {
            st.status = CheckpointStatsStatus::Failed;
            st.failure_timestamp = Some(now);
            st.failure_message = Some(message);
            self.stats.latest_failed = Some(st.clone());
        }
        let fail = self.failure_manager.failed(Some(id), reason, p.kind.is_savepoint());
        if reason.is_counted() && !p.kind.is_savepoint() {
            cx.print(&format!(
                "WARN  Failed to trigger or complete checkpoint {id} for job {}. ({} consecutive failed attempts so far)",
                self.job_id,
                if fail.is_some() { self.failure_manager.tolerable + 1 } else { self.failure_manager.continuous_failures }
            ));
        }
        if let CheckpointKind::SyncSavepoint { .. } = p.kind {
            // A failed stop-with-savepoint leaves the job running with its periodic checkpoints.
            if reason != CheckpointFailureReason::CheckpointCoordinatorShutdown && reason != CheckpointFailureReason::JobFailover {
                self.start_scheduler(cx);
            }
        }
        self.run_queued(cx);
        fail
    }

    fn stats_push(&mut self, s: CheckpointStats) {
        self.stats.history.push_front(s);
        while self.stats.history.len() > DEFAULT_HISTORY_SIZE {
            self.stats.history.pop_back();
        }
    }

    // ---- HA completed-checkpoint store

    /// Completed checkpoints to add to the HA store: (id, location, retained ids).
    pub fn take_to_persist(&mut self) -> Vec<(CheckpointId, String, Vec<CheckpointId>)> {
        let ids = std::mem::take(&mut self.to_persist);
        ids.into_iter().filter_map(|id| self.awaiting_persist.get(&id).map(|(l, r, _)| (id, l.clone(), r.clone()))).collect()
    }

    /// The HA store has checkpoint `id`: now its tasks may commit.
    pub fn persisted(&mut self, cx: &mut Cx, id: CheckpointId) {
        // What it subsumed is no longer what ZooKeeper points at.
        let (gone, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.awaiting_discard).into_iter().partition(|c| c.id() < id);
        self.awaiting_discard = kept;
        for c in gone {
            self.discard(cx, &c);
        }
        if let Some((_, _, targets)) = self.awaiting_persist.remove(&id) {
            for (address, attempt) in targets {
                cx.send(
                    address,
                    TaskExecutorGateway::NotifyCheckpointComplete {
                        job_id: self.job_id,
                        job_master_id: self.job_master_id,
                        execution_id: attempt,
                        checkpoint_id: id,
                    },
                );
            }
        }
    }

    /// The HA store refused checkpoint `id` (e.g. the ZooKeeper session is gone): nothing is
    /// committed for it.
    pub fn persist_failed(&mut self, cx: &mut Cx, id: CheckpointId, error: &str) {
        if self.awaiting_persist.remove(&id).is_some() {
            cx.print(&format!("WARN  Could not add checkpoint {id} of job {} to the completed checkpoint store: {error}", self.job_id));
        }
    }

    /// A checkpoint recovered from the HA store: owned, so it is subsumed (deleted) like any.
    pub fn add_recovered(&mut self, c: CompletedCheckpoint) {
        self.completed.push_back(CompletedCheckpoint { owned: true, ..c });
    }

    // ---- recovery

    /// Resets the id counter after a restore (savepoint id + 1).
    pub fn reset_checkpoint_id(&mut self, cx: &mut Cx, next: CheckpointId) {
        self.next_id = next;
        cx.print(&format!("INFO  Reset the checkpoint ID of job {} to {next}.", self.job_id));
    }

    /// Adds the savepoint/checkpoint a job starts from: recovery uses it until a newer one
    /// completes; it is never deleted (Flink's NO_CLAIM).
    pub fn add_restored(&mut self, c: CompletedCheckpoint) {
        self.completed.push_back(CompletedCheckpoint { owned: false, ..c });
    }

    /// Records a restore in the stats (`latest.restored`, `counts.restored`).
    pub fn record_restore(&mut self, cx: &mut Cx, c: &CompletedCheckpoint) {
        self.stats.num_restored += 1;
        self.stats.latest_restored = Some(RestoredCheckpointStats {
            id: c.id(),
            restore_timestamp: cx.now().as_millis(),
            is_savepoint: c.metadata.kind.is_savepoint(),
            external_path: c.external_path.clone(),
        });
    }

    /// The job reached a globally terminal state: stop, abort what is pending, and keep or
    /// delete completed checkpoints as the retention says (reference §1.4).
    pub fn shutdown(&mut self, cx: &mut Cx, status: JobStatus) {
        self.stop_scheduler(cx);
        self.abort_all(cx, CheckpointFailureReason::CheckpointCoordinatorShutdown);
        cx.cancel_timer(self.timers.timeout);
        // The job is over: what was subsumed goes whatever the HA store said.
        for c in std::mem::take(&mut self.awaiting_discard) {
            self.discard(cx, &c);
        }
        let keep = match (self.config.retention, status) {
            (_, JobStatus::Finished) => false,
            (ExternalizedRetention::NoExternalizedCheckpoints, _) => false,
            (ExternalizedRetention::DeleteOnCancellation, JobStatus::Failed) => true,
            (ExternalizedRetention::DeleteOnCancellation, _) => false,
            (ExternalizedRetention::RetainOnCancellation, _) => true,
        };
        if self.default_location {
            // JobManagerCheckpointStorage: nothing outlives the job.
            let all: Vec<CompletedCheckpoint> = self.completed.drain(..).collect();
            for c in &all {
                self.discard(cx, c);
            }
            let _ = cx.store().delete(&self.base_dir);
        } else if !keep {
            let all: Vec<CompletedCheckpoint> = self.completed.drain(..).collect();
            for c in &all {
                self.discard(cx, c);
            }
            let _ = cx.store().delete(&self.base_dir);
        }
    }
}

/// Flink's `CheckpointType` / `SavepointType` toString in "Triggering checkpoint" lines.
fn type_string(kind: CheckpointKind) -> &'static str {
    match kind {
        CheckpointKind::Checkpoint => "CheckpointType{name='Checkpoint', sharingFilesStrategy=FORWARD_BACKWARD}",
        CheckpointKind::Savepoint => "SavepointType{name='Savepoint', postCheckpointAction=NONE, formatType=CANONICAL}",
        CheckpointKind::SyncSavepoint { drain: false } => {
            "SavepointType{name='Suspend Savepoint', postCheckpointAction=SUSPEND, formatType=CANONICAL}"
        }
        CheckpointKind::SyncSavepoint { drain: true } => {
            "SavepointType{name='Terminate Savepoint', postCheckpointAction=TERMINATE, formatType=CANONICAL}"
        }
    }
}

/// Reads and checks `_metadata` of a savepoint or retained checkpoint.
pub fn load_metadata(cx: &mut Cx, pointer: &str) -> Result<CompletedCheckpoint, String> {
    let dir = pointer_to_store_path_in(Some(cx.store()), pointer).map_err(|e| format!("java.io.FileNotFoundException: {e}"))?;
    let entries = cx.store().list(&dir).unwrap_or_default();
    if entries.is_empty() {
        return Err(format!(
            "java.io.FileNotFoundException: Cannot find checkpoint or savepoint file/directory '{pointer}' on file system 'file'."
        ));
    }
    let meta_path = format!("{dir}/{METADATA_FILE}");
    let dir_shown = external_path_in(cx.store(), &dir);
    let meta_shown = external_path_in(cx.store(), &meta_path);
    let bytes = cx.store().read(&meta_path).map_err(|_| {
        format!(
            "java.io.FileNotFoundException: Cannot find meta data file '{METADATA_FILE}' in directory '{dir_shown}'. Please try to load the checkpoint/savepoint directly from the metadata file instead of the directory."
        )
    })?;
    let metadata: CheckpointMetadata = serde_json::from_slice(&bytes)
        .map_err(|e| format!("java.io.IOException: '{meta_shown}' is not a checkpoint or savepoint metadata file: {e}"))?;
    if metadata.magic != METADATA_MAGIC || metadata.version != METADATA_VERSION {
        return Err(format!(
            "java.io.IOException: Unexpected magic number or version in '{meta_shown}' ({:#x}, version {}).",
            metadata.magic, metadata.version
        ));
    }
    Ok(CompletedCheckpoint { metadata, location: dir, owned: false, external_path: dir_shown })
}

#[cfg(test)]
mod tests {
    use engine::{Effect, MemStore, Store, Time};
    use flink_core::checkpoint::StateHandle;
    use rand::SeedableRng;

    use super::*;

    type TestSys = engine::MemSys;

    /// A coordinator with a fake clock, store and effect log.
    struct Env {
        sys: TestSys,
        rng: engine::Rng,
        effects: Vec<Effect>,
        now: u64,
        coord: CheckpointCoordinator,
        plan: CheckpointPlan,
    }

    const TRIGGER: TimerId = 10;
    const TIMEOUT: TimerId = 11;
    const JOB: JobId = JobId(0xabcd_ef01_0000_0000_0000_0000_0000_0001);

    fn addr(i: u8) -> Addr {
        Addr::new(std::net::Ipv4Addr::new(127, 0, 0, i), 1000)
    }

    /// Source vertex (p=2) -> keyed vertex (p=2).
    fn plan() -> CheckpointPlan {
        let vertices = vec![
            VertexInfo { id: JobVertexId(1), uid: "u1".into(), name: "Source".into(), parallelism: 2, max_parallelism: 128 },
            VertexInfo { id: JobVertexId(2), uid: "u2".into(), name: "Count".into(), parallelism: 2, max_parallelism: 128 },
        ];
        let mut tasks = Vec::new();
        for v in 1..=2u128 {
            for i in 0..2u32 {
                tasks.push(PlanTask {
                    vertex: JobVertexId(v),
                    subtask: i,
                    attempt: ExecutionAttemptId(v * 10 + u128::from(i)),
                    address: addr(i as u8 + 1),
                    is_source: v == 1,
                });
            }
        }
        CheckpointPlan { vertices, tasks }
    }

    impl Env {
        fn new(config: CheckpointConfig) -> Env {
            Env {
                sys: TestSys::default(),
                rng: engine::Rng::seed_from_u64(3),
                effects: Vec::new(),
                now: 1_000,
                coord: CheckpointCoordinator::new(JOB, JobMasterId(7), config, CoordinatorTimers { trigger: TRIGGER, timeout: TIMEOUT }),
                plan: plan(),
            }
        }
        fn with<R>(&mut self, f: impl FnOnce(&mut CheckpointCoordinator, &mut Cx) -> R) -> R {
            let mut cx = Cx::new(Time::from_millis(self.now), addr(9), &mut self.rng, &mut self.effects, &mut self.sys);
            f(&mut self.coord, &mut cx)
        }
        fn trigger_periodic(&mut self) -> Option<String> {
            let plan = Ok(self.plan.clone());
            self.with(|c, cx| c.on_trigger_timer(cx, plan))
        }
        fn start(&mut self) {
            self.with(|c, cx| c.start_scheduler(cx));
            self.effects.clear();
        }
        /// Every task of the plan acknowledges `id`, writing a state file first.
        fn ack_all(&mut self, id: CheckpointId) -> Option<String> {
            let mut fail = None;
            for t in self.plan.tasks.clone() {
                if let Some(f) = self.ack(id, &t) {
                    fail = Some(f);
                }
            }
            fail
        }
        fn ack(&mut self, id: CheckpointId, t: &PlanTask) -> Option<String> {
            let location = self.location_of(id);
            let path = format!("{location}/state-{}", t.attempt);
            self.sys.store.write(&path, b"{}").unwrap();
            let state = TaskStateSnapshot {
                vertex_id: t.vertex,
                subtask_index: t.subtask,
                key_groups: key_group_range(128, 2, t.subtask),
                handle: Some(StateHandle { path, size: 2 }),
            };
            let attempt = t.attempt;
            self.with(|c, cx| c.acknowledge(cx, attempt, id, CheckpointMetrics { state_size: 2, ..Default::default() }, state))
        }
        fn location_of(&self, id: CheckpointId) -> String {
            self.coord.pending.get(&id).map(|p| p.location.clone()).unwrap_or_else(|| format!("{}/chk-{id}", self.coord.base_dir))
        }
        /// (kind, execution, checkpoint id) of the messages sent to tasks, and clears effects.
        fn sent(&mut self) -> Vec<(&'static str, ExecutionAttemptId, CheckpointId)> {
            let mut out = Vec::new();
            for e in std::mem::take(&mut self.effects) {
                if let Effect::Send { msg, .. } = e {
                    if let Ok(m) = msg.downcast::<TaskExecutorGateway>() {
                        match m {
                            TaskExecutorGateway::TriggerCheckpoint { execution_id, checkpoint_id, .. } => {
                                out.push(("trigger", execution_id, checkpoint_id))
                            }
                            TaskExecutorGateway::NotifyCheckpointComplete { execution_id, checkpoint_id, .. } => {
                                out.push(("complete", execution_id, checkpoint_id))
                            }
                            TaskExecutorGateway::NotifyCheckpointAborted { execution_id, checkpoint_id, .. } => {
                                out.push(("aborted", execution_id, checkpoint_id))
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
            }
            out
        }
        fn timers(&self) -> Vec<(TimerId, u64)> {
            self.effects
                .iter()
                .filter_map(|e| match e {
                    Effect::SetTimer { id, at } => Some((*id, at.as_millis())),
                    _ => None,
                })
                .collect()
        }
        fn files(&self, prefix: &str) -> Vec<String> {
            self.sys.store.list(prefix).unwrap_or_default()
        }
    }

    fn config() -> CheckpointConfig {
        let mut c = CheckpointConfig::with_interval(1_000);
        c.dir = Some("ckpts".into());
        c
    }

    #[test]
    fn first_trigger_is_delayed_between_min_pause_and_interval() {
        let mut seen = BTreeSet::new();
        for seed in 0..30 {
            let mut cfg = config();
            cfg.min_pause_ms = 300;
            let mut env = Env::new(cfg);
            env.rng = engine::Rng::seed_from_u64(seed);
            env.with(|c, cx| c.start_scheduler(cx));
            let t = env.timers();
            assert_eq!(t.len(), 1);
            assert_eq!(t[0].0, TRIGGER);
            let delay = t[0].1 - env.now;
            assert!((300..=1_000).contains(&delay), "{delay}");
            seen.insert(delay);
        }
        assert!(seen.len() > 5, "the delay is random: {seen:?}");
    }

    #[test]
    fn a_checkpoint_completes_when_every_task_acknowledged() {
        let mut env = Env::new(config());
        env.start();
        assert_eq!(env.trigger_periodic(), None);
        let sent = env.sent();
        assert_eq!(sent, vec![("trigger", ExecutionAttemptId(10), 1), ("trigger", ExecutionAttemptId(11), 1)], "sources only");
        assert_eq!(env.coord.stats.num_in_progress, 1);
        let tasks = env.plan.tasks.clone();
        for t in &tasks[..3] {
            assert_eq!(env.ack(1, t), None);
        }
        assert_eq!(env.coord.num_pending(), 1);
        assert!(env.files(&format!("ckpts/{JOB}/chk-1/_metadata")).is_empty());
        env.ack(1, &tasks[3]);
        assert_eq!(env.coord.num_pending(), 0);
        let meta = load_metadata(
            &mut Cx::new(Time::ZERO, addr(1), &mut env.rng, &mut env.effects, &mut env.sys),
            &format!("file:/ckpts/{JOB}/chk-1"),
        )
        .unwrap();
        assert_eq!(meta.metadata.checkpoint_id, 1);
        assert_eq!(meta.metadata.vertices.len(), 2);
        assert_eq!(meta.metadata.vertices[1].uid, "u2");
        assert_eq!(meta.metadata.vertices[1].subtasks.iter().map(|s| s.subtask_index).collect::<Vec<_>>(), vec![0, 1]);
        let sent = env.sent();
        assert_eq!(sent.iter().filter(|s| s.0 == "complete").count(), 4, "every task is notified: {sent:?}");
        let st = &env.coord.stats;
        assert_eq!((st.num_total, st.num_completed, st.num_in_progress, st.num_failed), (1, 1, 0, 0));
        let latest = st.latest_completed.as_ref().unwrap();
        assert_eq!(latest.num_acknowledged(), 4);
        assert_eq!(latest.external_path.as_deref(), Some(format!("file:/ckpts/{JOB}/chk-1").as_str()));
        assert!(env.sys.out.contains(&format!("Triggering checkpoint 1 (type=CheckpointType{{name='Checkpoint', sharingFilesStrategy=FORWARD_BACKWARD}}) @ 1000 for job {JOB}.")));
        assert!(env.sys.out.contains(&format!("Completed checkpoint 1 for job {JOB} (")), "{}", env.sys.out);
        // Ids count up.
        env.now += 1_000;
        env.trigger_periodic();
        assert!(env.coord.pending.contains_key(&2));
    }

    #[test]
    fn a_task_not_running_fails_the_trigger_without_counting() {
        let mut env = Env::new(config());
        env.start();
        let fail = env.with(|c, cx| c.on_trigger_timer(cx, Err("Map (1/2) - execution #0".into())));
        assert_eq!(fail, None);
        assert_eq!(env.coord.num_pending(), 0);
        assert_eq!(env.coord.failure_manager.continuous_failures, 0);
        assert_eq!((env.coord.stats.num_total, env.coord.stats.num_failed), (1, 1));
        assert!(env.sys.out.contains("Not all required tasks are currently running."), "{}", env.sys.out);
        assert!(env.timers().contains(&(TRIGGER, env.now + 1_000)), "the schedule goes on");
    }

    #[test]
    fn a_timeout_expires_the_checkpoint_counts_it_and_deletes_its_dir() {
        let mut cfg = config();
        cfg.timeout_ms = 500;
        cfg.tolerable_failed = 1;
        let mut env = Env::new(cfg);
        env.start();
        env.trigger_periodic();
        assert!(env.timers().contains(&(TIMEOUT, 1_500)));
        let t = env.plan.tasks[0].clone();
        env.ack(1, &t);
        assert!(!env.files(&format!("ckpts/{JOB}/chk-1")).is_empty());
        env.sent();
        env.now = 1_500;
        assert_eq!(env.with(|c, cx| c.on_timeout_timer(cx)), None, "one failure is tolerated");
        assert!(env.sys.out.contains(&format!("Checkpoint 1 of job {JOB} expired before completing.")));
        assert!(env.files(&format!("ckpts/{JOB}/chk-1")).is_empty(), "the pending dir is deleted");
        assert_eq!(env.sent().iter().filter(|s| s.0 == "aborted").count(), 4);
        let failed = env.coord.stats.latest_failed.clone().unwrap();
        assert_eq!(failed.failure_message.as_deref(), Some("Checkpoint expired before completing."));
        // A second expiry exceeds the threshold of 1.
        env.now = 2_000;
        env.trigger_periodic();
        env.now = 2_500;
        let fail = env.with(|c, cx| c.on_timeout_timer(cx)).expect("threshold exceeded");
        assert!(fail.contains("Exceeded checkpoint tolerable failure threshold. The latest checkpoint failed due to Checkpoint expired before completing., view the Checkpoint History tab"), "{fail}");
        assert!(
            env.sys
                .out
                .contains(&format!("Failed to trigger or complete checkpoint 2 for job {JOB}. (2 consecutive failed attempts so far)")),
            "{}",
            env.sys.out
        );
    }

    #[test]
    fn declines_abort_and_only_counted_reasons_count() {
        let mut env = Env::new(config());
        env.start();
        env.trigger_periodic();
        env.sent();
        let a = env.plan.tasks[2].attempt;
        // Subsumed: not counted even with tolerable 0.
        let fail = env.with(|c, cx| c.decline(cx, a, 1, DeclineReason::CheckpointDeclinedSubsumed, "", "tm-1 @ 127.0.0.1:1000"));
        assert_eq!(fail, None);
        assert!(env.sys.out.contains(&format!("Decline checkpoint 1 by task {a} of job {JOB} at tm-1 @ 127.0.0.1:1000.")));
        assert_eq!(env.coord.num_pending(), 0);
        assert_eq!(env.sent().iter().filter(|s| s.0 == "aborted").count(), 4);
        // Not from a task of the checkpoint / unknown checkpoint: ignored.
        assert_eq!(env.with(|c, cx| c.decline(cx, a, 1, DeclineReason::CheckpointAsyncException, "x", "-")), None);
        env.now += 1_000;
        env.trigger_periodic();
        let fail = env.with(|c, cx| c.decline(cx, a, 2, DeclineReason::CheckpointAsyncException, "disk full", "-"));
        let fail = fail.expect("an async failure counts and tolerable is 0");
        assert!(fail.contains("The latest checkpoint failed due to Asynchronous task checkpoint failed."), "{fail}");
        assert_eq!(env.coord.stats.num_failed, 2);
    }

    #[test]
    fn a_success_resets_the_failure_count() {
        let mut m = CheckpointFailureManager::new(1);
        assert_eq!(m.failed(Some(1), CheckpointFailureReason::CheckpointExpired, false), None);
        assert_eq!(m.failed(Some(1), CheckpointFailureReason::CheckpointExpired, false), None, "an id counts once");
        m.succeeded(2);
        assert_eq!(m.failed(Some(2), CheckpointFailureReason::CheckpointExpired, false), None, "ids <= the last success do not count");
        assert_eq!(m.failed(Some(3), CheckpointFailureReason::CheckpointExpired, false), None);
        assert!(m.failed(Some(4), CheckpointFailureReason::CheckpointExpired, false).is_some());
        assert_eq!(m.failed(Some(5), CheckpointFailureReason::CheckpointExpired, true), None, "savepoints never count");
        assert_eq!(m.failed(Some(6), CheckpointFailureReason::JobFailover, false), None);
    }

    #[test]
    fn min_pause_rearms_the_timer_for_the_remainder() {
        let mut cfg = config();
        cfg.min_pause_ms = 700;
        let mut env = Env::new(cfg);
        env.start();
        env.trigger_periodic();
        env.now = 1_200;
        env.ack_all(1);
        env.effects.clear();
        env.now = 1_500;
        env.trigger_periodic();
        assert_eq!(env.coord.num_pending(), 0, "300 ms after the completion: too early");
        assert_eq!(env.timers().last(), Some(&(TRIGGER, 1_900)), "re-armed for the remaining 400 ms");
        env.now = 1_900;
        env.trigger_periodic();
        assert!(env.coord.pending.contains_key(&2));
    }

    #[test]
    fn max_concurrent_queues_the_periodic_request_until_one_ends() {
        let mut env = Env::new(config());
        env.start();
        env.trigger_periodic();
        env.now = 2_000;
        env.trigger_periodic();
        assert_eq!(env.coord.num_pending(), 1, "max-concurrent 1");
        env.effects.clear();
        env.ack_all(1);
        assert!(env.timers().contains(&(TRIGGER, 2_000)), "the queued request runs right after the completion");
        env.trigger_periodic();
        assert!(env.coord.pending.contains_key(&2));
        // With 2 concurrent both run.
        let mut cfg = config();
        cfg.max_concurrent = 2;
        let mut env = Env::new(cfg);
        env.start();
        env.trigger_periodic();
        env.now = 2_000;
        env.trigger_periodic();
        assert_eq!(env.coord.num_pending(), 2);
        // Completing 2 subsumes 1.
        env.sent();
        env.ack_all(2);
        assert_eq!(env.coord.num_pending(), 0);
        assert_eq!(env.coord.stats.latest_failed.as_ref().unwrap().failure_message.as_deref(), Some("Checkpoint has been subsumed."));
        assert_eq!(env.coord.failure_manager.continuous_failures, 0);
    }

    #[test]
    fn num_retained_keeps_the_newest_and_deletes_subsumed_dirs() {
        let mut cfg = config();
        cfg.num_retained = 2;
        let mut env = Env::new(cfg);
        env.start();
        for id in 1..=4 {
            env.trigger_periodic();
            env.ack_all(id);
            env.now += 1_000;
        }
        let kept: Vec<CheckpointId> = env.coord.completed_checkpoints().map(|c| c.id()).collect();
        assert_eq!(kept, vec![3, 4]);
        for id in 1..=2 {
            assert!(env.files(&format!("ckpts/{JOB}/chk-{id}")).is_empty(), "chk-{id} deleted");
        }
        for id in 3..=4 {
            assert!(!env.files(&format!("ckpts/{JOB}/chk-{id}/_metadata")).is_empty());
        }
        assert!(env.coord.stats.history.iter().find(|s| s.id == 1).unwrap().discarded);
        assert!(!env.coord.stats.history.iter().find(|s| s.id == 4).unwrap().discarded);
    }

    fn run_to_end(retention: ExternalizedRetention, status: JobStatus, dir: bool) -> (Vec<String>, Vec<String>) {
        let mut cfg = config();
        cfg.retention = retention;
        if !dir {
            cfg.dir = None;
        }
        let mut env = Env::new(cfg);
        env.start();
        env.trigger_periodic();
        env.ack_all(1);
        let sp = env.with(|c, cx| {
            let plan = Ok(plan());
            c.trigger(cx, plan, SnapshotRequest::Savepoint { target: "file:/sps".into(), kind: CheckpointKind::Savepoint })
        });
        let sp = sp.unwrap();
        env.ack_all(sp);
        let base = env.coord.base_dir().to_string();
        env.with(|c, cx| c.shutdown(cx, status));
        (env.files(&base), env.files("sps"))
    }

    #[test]
    fn retention_on_job_end_follows_the_setting() {
        use ExternalizedRetention::*;
        for (retention, status, kept) in [
            (NoExternalizedCheckpoints, JobStatus::Canceled, false),
            (NoExternalizedCheckpoints, JobStatus::Failed, false),
            (DeleteOnCancellation, JobStatus::Canceled, false),
            (DeleteOnCancellation, JobStatus::Failed, true),
            (RetainOnCancellation, JobStatus::Canceled, true),
            (RetainOnCancellation, JobStatus::Failed, true),
            (RetainOnCancellation, JobStatus::Finished, false),
        ] {
            let (ckpt, sps) = run_to_end(retention, status, true);
            assert_eq!(!ckpt.is_empty(), kept, "{retention:?} {status:?}: {ckpt:?}");
            assert!(!sps.is_empty(), "savepoints are never deleted");
        }
        let (ckpt, _) = run_to_end(RetainOnCancellation, JobStatus::Canceled, false);
        assert!(ckpt.is_empty(), "the default location goes with the job");
    }

    #[test]
    fn a_savepoint_is_named_like_flinks_not_stored_and_not_notified() {
        let mut env = Env::new(config());
        env.start();
        env.trigger_periodic();
        env.ack_all(1);
        env.sent();
        let id = env
            .with(|c, cx| c.trigger(cx, Ok(plan()), SnapshotRequest::Savepoint { target: "sps".into(), kind: CheckpointKind::Savepoint }))
            .unwrap();
        assert_eq!(id, 2, "savepoints share the id counter");
        let location = env.location_of(2);
        let name = location.strip_prefix("sps/").unwrap();
        assert!(name.starts_with("savepoint-abcdef-"), "{name}");
        assert_eq!(name.len(), "savepoint-abcdef-".len() + 12);
        assert_eq!(env.with(|c, _| c.snapshot_outcome(2)), None, "in progress");
        env.ack_all(2);
        assert_eq!(env.with(|c, _| c.snapshot_outcome(2)), Some(Ok(format!("file:/{location}"))));
        assert!(env.sent().iter().all(|s| s.0 != "complete"), "a plain savepoint notifies no task");
        assert_eq!(env.coord.latest_completed().unwrap().id(), 1, "and is not used for recovery");
        assert_eq!(env.coord.stats.latest_savepoint.as_ref().unwrap().id, 2);
        assert!(!env.files(&format!("ckpts/{JOB}/chk-1/_metadata")).is_empty(), "nor subsumes checkpoints");
        // A stop-with-savepoint notifies, stops the periodic trigger.
        let id = env
            .with(|c, cx| {
                c.trigger(
                    cx,
                    Ok(plan()),
                    SnapshotRequest::Savepoint { target: "sps".into(), kind: CheckpointKind::SyncSavepoint { drain: false } },
                )
            })
            .unwrap();
        assert!(!env.coord.is_scheduler_running());
        env.sent();
        env.ack_all(id);
        assert_eq!(env.sent().iter().filter(|s| s.0 == "complete").count(), 4);
        // Failure outcome.
        let id = env.with(|c, cx| c.trigger(cx, Ok(plan()), SnapshotRequest::ManualCheckpoint)).unwrap();
        let a = env.plan.tasks[0].attempt;
        env.with(|c, cx| c.decline(cx, a, id, DeclineReason::CheckpointAsyncException, "boom", "-"));
        assert_eq!(env.with(|c, _| c.snapshot_outcome(id)), Some(Err("Asynchronous task checkpoint failed. boom".into())));
        assert!(env.with(|c, cx| c.trigger(cx, Err("x".into()), SnapshotRequest::ManualCheckpoint)).is_err());
    }

    #[test]
    fn late_acknowledgements_have_their_state_discarded() {
        let mut cfg = config();
        cfg.timeout_ms = 100;
        let mut env = Env::new(cfg);
        env.start();
        env.trigger_periodic();
        env.now += 100;
        env.with(|c, cx| c.on_timeout_timer(cx));
        let t = env.plan.tasks[0].clone();
        env.ack(1, &t);
        assert!(env.files(&format!("ckpts/{JOB}/chk-1")).is_empty());
        assert!(env.sys.out.contains("Received late message for now expired checkpoint attempt 1"));
    }

    #[test]
    fn failover_aborts_pending_checkpoints_without_counting() {
        let mut env = Env::new(config());
        env.start();
        env.trigger_periodic();
        assert_eq!(env.with(|c, cx| c.abort_all(cx, CheckpointFailureReason::JobFailover)), None);
        assert_eq!(env.coord.num_pending(), 0);
        assert_eq!(env.coord.stats.latest_failed.as_ref().unwrap().failure_message.as_deref(), Some("FailoverRegion is restarting."));
    }

    fn meta_vertex(p: u32) -> VertexMetadata {
        VertexMetadata {
            uid: "u".into(),
            name: "Count".into(),
            parallelism: p,
            max_parallelism: 128,
            subtasks: (0..p)
                .map(|i| TaskStateSnapshot {
                    vertex_id: JobVertexId(7),
                    subtask_index: i,
                    key_groups: key_group_range(128, p, i),
                    handle: Some(StateHandle { path: format!("s{i}"), size: 1 }),
                })
                .collect(),
        }
    }

    fn completed(v: &VertexMetadata) -> CompletedCheckpoint {
        CompletedCheckpoint {
            metadata: CheckpointMetadata {
                magic: METADATA_MAGIC,
                version: METADATA_VERSION,
                job_id: JOB,
                checkpoint_id: 5,
                kind: CheckpointKind::Savepoint,
                timestamp: 0,
                vertices: vec![v.clone()],
            },
            location: "sp/savepoint-1".into(),
            owned: false,
            external_path: "file:/sp/savepoint-1".into(),
        }
    }

    #[test]
    fn key_group_ranges_follow_flinks_formula() {
        assert_eq!(key_group_range(128, 3, 0), KeyGroupRange { start: 0, end: 42 });
        assert_eq!(key_group_range(128, 3, 1), KeyGroupRange { start: 43, end: 85 });
        assert_eq!(key_group_range(128, 3, 2), KeyGroupRange { start: 86, end: 127 });
    }

    #[test]
    fn state_is_assigned_by_key_group_intersection_and_round_robin_on_rescale() {
        let old = meta_vertex(2);
        let c = completed(&old);
        let idx = |r: &TaskRestore| r.states.iter().map(|s| s.subtask_index).collect::<Vec<_>>();
        // Down to 1: everything.
        let r = assign_state(&c, &old, 1, 0);
        assert_eq!((idx(&r), r.operator_states.clone()), (vec![0, 1], vec![0, 1]));
        assert_eq!(r.external_path, "file:/sp/savepoint-1");
        // Up to 4: [0,31] [32,63] from old 0, [64,95] [96,127] from old 1; operator state of old
        // subtask j goes to j % 4.
        let rs: Vec<TaskRestore> = (0..4).map(|i| assign_state(&c, &old, 4, i)).collect();
        assert_eq!(rs.iter().map(|r| r.operator_states.clone()).collect::<Vec<_>>(), vec![vec![0], vec![1], vec![], vec![]]);
        assert_eq!(idx(&rs[0]), vec![0]);
        assert_eq!(idx(&rs[1]), vec![0, 1], "old 1's operator state is new 1's, and old 0's keys");
        assert_eq!(idx(&rs[2]), vec![1]);
        assert_eq!(idx(&rs[3]), vec![1]);
        // 3 -> 2: new 0 = [0,63] meets old [0,42] and [43,85].
        let old3 = meta_vertex(3);
        let r = assign_state(&completed(&old3), &old3, 2, 0);
        assert_eq!((idx(&r), r.operator_states), (vec![0, 1, 2], vec![0, 2]));
    }

    /// A store that lives in a local directory, as the live DirStore does.
    struct LocalStore(MemStore);

    impl Store for LocalStore {
        fn read(&self, path: &str) -> Result<Vec<u8>, engine::StoreError> {
            self.0.read(path)
        }
        fn write(&mut self, path: &str, data: &[u8]) -> Result<(), engine::StoreError> {
            self.0.write(path, data)
        }
        fn rename(&mut self, from: &str, to: &str) -> Result<(), engine::StoreError> {
            self.0.rename(from, to)
        }
        fn delete(&mut self, path: &str) -> Result<(), engine::StoreError> {
            self.0.delete(path)
        }
        fn list(&self, prefix: &str) -> Result<Vec<String>, engine::StoreError> {
            self.0.list(prefix)
        }
        fn local_path(&self, path: &str) -> Option<std::path::PathBuf> {
            Some(std::path::Path::new("/srv/dfs").join(path))
        }
    }

    #[test]
    fn live_paths_read_back_from_absolute_and_relative_pointers() {
        let mut s = LocalStore(MemStore::default());
        assert_eq!(external_path_in(&mut s, "sps/savepoint-abcdef-0123456789ab"), "file:/sps/savepoint-abcdef-0123456789ab");
        for shown in ["file:/srv/dfs/sps/x", "file:///srv/dfs/sps/x/_metadata", "/srv/dfs/sps/x", "sps/x"] {
            assert_eq!(pointer_to_store_path_in(Some(&mut s), shown).unwrap(), "sps/x", "{shown}");
        }
        assert_eq!(external_path_in(&mut MemStore::default(), "sps/x"), "file:/sps/x");
    }

    #[test]
    fn metadata_pointers_and_bad_paths_give_clear_errors() {
        assert_eq!(pointer_to_store_path("file:/a/b/_metadata").unwrap(), "a/b");
        assert_eq!(pointer_to_store_path("file:///a/b").unwrap(), "a/b");
        assert_eq!(pointer_to_store_path("a/b/").unwrap(), "a/b");
        let mut env = Env::new(config());
        let err = env.with(|_, cx| load_metadata(cx, "file:/nope")).unwrap_err();
        assert!(err.contains("Cannot find checkpoint or savepoint file/directory 'file:/nope' on file system 'file'."), "{err}");
        env.sys.store.write("dir/x", b"1").unwrap();
        let err = env.with(|_, cx| load_metadata(cx, "dir")).unwrap_err();
        assert!(err.contains("Cannot find meta data file '_metadata' in directory 'file:/dir'."), "{err}");
        env.sys.store.write("bad/_metadata", b"not json").unwrap();
        let err = env.with(|_, cx| load_metadata(cx, "bad")).unwrap_err();
        assert!(err.contains("is not a checkpoint or savepoint metadata file"), "{err}");
        assert!(env.with(|_, cx| load_metadata(cx, "../etc")).is_err());
    }
}
