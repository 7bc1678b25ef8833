//! The JobMaster: runs one job. It declares the slots the job needs to the ResourceManager,
//! accepts slots TaskExecutors offer, deploys every subtask at once (streaming: eager
//! scheduling; slot sharing puts subtask i of every vertex into one slot), follows task
//! states, heartbeats its TaskExecutors, drives the CheckpointCoordinator, and on a failure
//! restarts the failed task's pipelined region (or every task: `full`) from the latest
//! completed checkpoint as the restart strategy allows, or fails the job. When every task
//! FINISHED it commits the file sinks' last part files (the job's final commit).

pub mod checkpoint_coordinator;
pub mod checkpoint_stats;
pub mod execution_graph;
pub mod failover;
pub mod restart;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::{Addr, Cx, TimerId};
use flink_core::checkpoint::{CheckpointKind, CheckpointMetrics, DeclineReason, TaskStateSnapshot};
use flink_core::protocol::{AllocatedSlotInfo, OutputSpec, SlotOffer};
use flink_core::{
    AllocationId, CheckpointId, ExecutionAttemptId, ExecutionState, FailoverStrategy, JobGraph, JobId, JobMasterId, JobStatus, ResourceId,
    TaskDeploymentDescriptor, TaskExecutorGateway,
};

use checkpoint_coordinator::{
    assign_state, CheckpointCoordinator, CheckpointFailureReason, CheckpointPlan, CompletedCheckpoint, CoordinatorTimers, PlanTask,
    SnapshotRequest, VertexInfo,
};
use execution_graph::{ExecutionGraph, Location};
use restart::RestartBackoffTimeStrategy;

/// What a JobMaster tells the rest of the JobManager.
#[derive(Debug, Clone, PartialEq)]
pub enum JmEvent {
    /// DeclareResourceRequirements for the ResourceManager (0 = the job needs nothing more).
    Declare { job_id: JobId, job_master: Addr, job_master_id: JobMasterId, slots: u32 },
    /// The job reached a globally terminal state.
    Terminated { job_id: JobId, status: JobStatus },
}

/// A slot the JobMaster holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeldSlot {
    pub allocation_id: AllocationId,
    pub slot_index: u32,
    pub resource_id: ResourceId,
    pub address: Addr,
}

/// One failure in the exceptions history.
#[derive(Clone, Debug, PartialEq)]
pub struct ExceptionEntry {
    pub exception_name: String,
    pub stacktrace: String,
    pub timestamp: u64,
    pub task_name: Option<String>,
    /// `resource id (address)` of the TaskManager the task ran on (1.x `location`).
    pub location: Option<String>,
    /// Flink 2.x `endpoint` (`host:port`) and `taskManagerId`.
    pub endpoint: Option<String>,
    pub task_manager_id: Option<String>,
}

/// A root failure with the failures that happened with it (Flink's `RootExceptionHistoryEntry`
/// with `concurrentExceptions`): e.g. the other tasks of a lost TaskManager, or tasks failing
/// while the job is already restarting.
#[derive(Clone, Debug, PartialEq)]
pub struct RootExceptionEntry {
    pub root: ExceptionEntry,
    pub concurrent: Vec<ExceptionEntry>,
}

/// Flink's `web.exception-history-size`.
pub const EXCEPTION_HISTORY_SIZE: usize = 16;

/// A failed task: (vertex index, subtask index) in the ExecutionGraph, with its name and where
/// it ran.
#[derive(Clone, Debug)]
struct FailedTask {
    at: (usize, usize),
    name: String,
    location: Option<Location>,
}

/// Timer ids: JobMaster timers live above this, `TIMER_STRIDE` per JobMaster.
pub const TIMER_BASE: TimerId = 1 << 32;
pub const TIMER_STRIDE: TimerId = 16;
const T_HEARTBEAT: TimerId = 0;
const T_RESTART: TimerId = 1;
const T_CANCEL_TIMEOUT: TimerId = 2;
const T_CHECKPOINT_TRIGGER: TimerId = 3;
const T_CHECKPOINT_TIMEOUT: TimerId = 4;

pub struct JobMaster {
    pub graph: JobGraph,
    /// This JobMaster's fencing token: on everything it sends to TaskExecutors, and expected on
    /// everything they send it.
    pub id: JobMasterId,
    pub status: JobStatus,
    /// When each JobStatus was entered (ms).
    pub status_timestamps: BTreeMap<JobStatus, u64>,
    pub execution_graph: ExecutionGraph,
    pub slots: Vec<HeldSlot>,
    /// Which held slot each subtask index uses (slot sharing: subtask i of every vertex).
    slot_of: BTreeMap<u32, AllocationId>,
    /// TaskExecutors this job uses, with the time of their last heartbeat (ms).
    task_managers: BTreeMap<ResourceId, (Addr, u64)>,
    pub restart: RestartBackoffTimeStrategy,
    /// Every failure, oldest first (kept for the 1.x `all-exceptions` shape).
    pub exceptions: Vec<ExceptionEntry>,
    /// Root failures with their concurrent ones, oldest first, at most
    /// `EXCEPTION_HISTORY_SIZE` (the 2.x `exceptionHistory`).
    pub exception_history: Vec<RootExceptionEntry>,
    /// The job's terminal failure, as Flink prints it.
    pub failure_cause: Option<String>,
    /// Stable uid per vertex (the graph's, or derived from the topology).
    pub vertex_uids: Vec<String>,
    /// Savepoints, manual checkpoints, recovery; periodic checkpoints when configured.
    pub checkpoints: CheckpointCoordinator,
    /// Executions to redeploy at the next restart (the failed region or all).
    restart_set: BTreeSet<(usize, usize)>,
    /// Restore the next deployment from this checkpoint/savepoint.
    restore_from: Option<CompletedCheckpoint>,
    /// The file sinks' part files reported with FINISHED, committed when the job finishes.
    committables: BTreeMap<ExecutionAttemptId, Vec<(String, String)>>,
    index: u64,
    heartbeat_interval_ms: u64,
    heartbeat_timeout_ms: u64,
    pub start_time: u64,
    pub end_time: Option<u64>,
    pub last_modification: u64,
    events: Vec<JmEvent>,
}

impl JobMaster {
    /// A JobMaster for `graph`; `index` gives it its own timer ids.
    pub fn new(
        cx: &mut Cx,
        graph: JobGraph,
        id: JobMasterId,
        index: u64,
        heartbeat_interval_ms: u64,
        heartbeat_timeout_ms: u64,
    ) -> JobMaster {
        let now = cx.now().as_millis();
        let execution_graph = ExecutionGraph::new(cx, &graph);
        let mut status_timestamps = BTreeMap::new();
        status_timestamps.insert(JobStatus::Initializing, now);
        status_timestamps.insert(JobStatus::Created, now);
        let restart = RestartBackoffTimeStrategy::new(graph.restart_strategy.clone());
        let derived = flink_core::streamgraph::vertex_uids(&graph.vertices);
        let vertex_uids = graph.vertices.iter().zip(derived).map(|(v, d)| if v.uid.is_empty() { d } else { v.uid.clone() }).collect();
        let timer = |kind: TimerId| TIMER_BASE + index * TIMER_STRIDE + kind;
        // Without checkpointing the coordinator still serves savepoints and restores, but never
        // triggers periodically (Flink keeps one for every streaming job).
        let config = graph.checkpointing.clone().unwrap_or_else(|| flink_core::checkpoint::CheckpointConfig::with_interval(u64::MAX / 4));
        let checkpoints = CheckpointCoordinator::new(
            graph.job_id,
            id,
            config,
            CoordinatorTimers { trigger: timer(T_CHECKPOINT_TRIGGER), timeout: timer(T_CHECKPOINT_TIMEOUT) },
        );
        JobMaster {
            graph,
            id,
            status: JobStatus::Created,
            status_timestamps,
            execution_graph,
            slots: Vec::new(),
            slot_of: BTreeMap::new(),
            task_managers: BTreeMap::new(),
            restart,
            exceptions: Vec::new(),
            exception_history: Vec::new(),
            failure_cause: None,
            vertex_uids,
            checkpoints,
            restart_set: BTreeSet::new(),
            restore_from: None,
            committables: BTreeMap::new(),
            index,
            heartbeat_interval_ms,
            heartbeat_timeout_ms,
            start_time: now,
            end_time: None,
            last_modification: now,
            events: Vec::new(),
        }
    }

    pub fn job_id(&self) -> JobId {
        self.graph.job_id
    }

    pub fn take_events(&mut self) -> Vec<JmEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn owns_timer(&self, timer: TimerId) -> bool {
        timer >= self.timer(0) && timer < self.timer(TIMER_STRIDE)
    }

    fn timer(&self, kind: TimerId) -> TimerId {
        TIMER_BASE + self.index * TIMER_STRIDE + kind
    }

    fn required_slots(&self) -> u32 {
        self.graph.required_slots()
    }

    fn checkpointing_enabled(&self) -> bool {
        self.graph.checkpointing.is_some()
    }

    fn transition_job(&mut self, cx: &mut Cx, to: JobStatus) {
        let from = self.status;
        cx.print(&format!("INFO  Job {} ({}) switched from state {} to {}.", self.graph.name, self.graph.job_id, from.name(), to.name()));
        self.status = to;
        let now = cx.now().as_millis();
        self.status_timestamps.insert(to, now);
        self.last_modification = now;
        cx.trace("job-status", format_args!("{} {}", self.graph.job_id, to.name()));
        // CheckpointCoordinatorDeActivator: periodic checkpoints only while RUNNING.
        if to == JobStatus::Running && self.checkpointing_enabled() {
            self.checkpoints.start_scheduler(cx);
        } else if to != JobStatus::Running {
            self.checkpoints.stop_scheduler(cx);
        }
    }

    fn declare(&mut self, cx: &mut Cx, slots: u32) {
        self.events.push(JmEvent::Declare { job_id: self.graph.job_id, job_master: cx.me(), job_master_id: self.id, slots });
    }

    /// Starts scheduling: restores the savepoint the job was submitted with (if any), then
    /// the job is RUNNING (as Flink sets it when scheduling starts) and asks the
    /// ResourceManager for its slots. A savepoint that cannot be restored fails the job.
    pub fn start(&mut self, cx: &mut Cx) {
        if let Some(settings) = self.graph.savepoint_restore.clone() {
            cx.print(&format!(
                "INFO  Starting job {} from savepoint {} ({})",
                self.graph.job_id,
                settings.path,
                if settings.allow_non_restored_state { "allowing non restored state" } else { "" }
            ));
            match self.load_savepoint(cx, &settings.path, settings.allow_non_restored_state) {
                Ok(c) => {
                    self.checkpoints.reset_checkpoint_id(cx, c.id() + 1);
                    self.checkpoints.add_restored(c);
                }
                Err(e) => {
                    self.failure_cause = Some(format!(
                        "org.apache.flink.runtime.client.JobInitializationException: Could not start the JobMaster.\nCaused by: {e}"
                    ));
                    let now = cx.now().as_millis();
                    self.record_exceptions(cx, now, vec![(self.failure_cause.clone().expect("set"), None)]);
                    cx.print(&format!("ERROR Failed to start job {}: {e}", self.graph.job_id));
                    self.job_reached_terminal(cx, JobStatus::Failed);
                    return;
                }
            }
        }
        self.restore_from = self.checkpoints.latest_completed().cloned();
        if let Some(c) = self.restore_from.clone() {
            self.log_restore(cx, &c);
        }
        self.transition_job(cx, JobStatus::Running);
        let all = self.all_executions();
        self.schedule(cx, &all);
        cx.set_timer(Duration::from_millis(self.heartbeat_interval_ms), self.timer(T_HEARTBEAT));
    }

    /// Reads a savepoint and checks it against this program (Flink's
    /// `Checkpoints.loadAndValidateCheckpoint`).
    fn load_savepoint(&mut self, cx: &mut Cx, path: &str, allow_non_restored: bool) -> Result<CompletedCheckpoint, String> {
        let c = checkpoint_coordinator::load_metadata(cx, path)?;
        for old in &c.metadata.vertices {
            match self.vertex_uids.iter().position(|u| *u == old.uid) {
                Some(vi) => {
                    let v = &self.graph.vertices[vi];
                    if v.max_parallelism != old.max_parallelism && old.has_state() {
                        return Err(format!(
                            "java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint {path}. Max parallelism mismatch between checkpoint/savepoint state and new program. Cannot map operator {} with max parallelism {} to new program with max parallelism {}. This indicates that the program has been changed in a non-compatible way after the checkpoint/savepoint.",
                            old.uid, old.max_parallelism, v.max_parallelism
                        ));
                    }
                }
                None if !old.has_state() => {}
                None if allow_non_restored => {
                    cx.print(&format!("INFO  Skipping savepoint state for operator {}.", old.uid));
                }
                None => {
                    return Err(format!(
                        "java.lang.IllegalStateException: Failed to rollback to checkpoint/savepoint {path}. Cannot map checkpoint/savepoint state for operator {} to the new program, because the operator is not available in the new program. If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI.",
                        old.uid
                    ));
                }
            }
        }
        Ok(c)
    }

    fn log_restore(&mut self, cx: &mut Cx, c: &CompletedCheckpoint) {
        cx.print(&format!("INFO  Restoring job {} from {}.", self.graph.job_id, c.describe()));
        self.checkpoints.record_restore(cx, c);
    }

    fn all_executions(&self) -> BTreeSet<(usize, usize)> {
        self.execution_graph.vertices.iter().enumerate().flat_map(|(vi, v)| (0..v.subtasks.len()).map(move |si| (vi, si))).collect()
    }

    fn schedule(&mut self, cx: &mut Cx, set: &BTreeSet<(usize, usize)>) {
        let now = cx.now();
        for &(vi, si) in set {
            self.execution_graph.vertices[vi].subtasks[si].current.transition(ExecutionState::Scheduled, now);
        }
        let need = self.required_slots();
        self.declare(cx, need);
        self.maybe_deploy(cx);
    }

    fn has_scheduled(&self) -> bool {
        self.execution_graph.executions().any(|e| e.state == ExecutionState::Scheduled)
    }

    /// OfferSlots from a TaskExecutor: accept until the job has what it needs.
    pub fn offer_slots(&mut self, cx: &mut Cx, from: Addr, resource_id: ResourceId, offers: Vec<SlotOffer>) {
        let (mut accepted, mut rejected) = (Vec::new(), Vec::new());
        let active = matches!(self.status, JobStatus::Running | JobStatus::Restarting);
        for o in offers {
            if self.slots.iter().any(|s| s.allocation_id == o.allocation_id) {
                accepted.push(o.allocation_id);
                continue;
            }
            if active && (self.slots.len() as u32) < self.required_slots() {
                self.slots.push(HeldSlot {
                    allocation_id: o.allocation_id,
                    slot_index: o.slot_index,
                    resource_id: resource_id.clone(),
                    address: from,
                });
                accepted.push(o.allocation_id);
            } else {
                rejected.push(o.allocation_id);
            }
        }
        if !accepted.is_empty() {
            let now = cx.now().as_millis();
            self.task_managers.entry(resource_id).or_insert((from, now)).1 = now;
        }
        cx.send(from, TaskExecutorGateway::AcceptSlots { job_id: self.graph.job_id, job_master_id: self.id, accepted, rejected });
        self.maybe_deploy(cx);
    }

    fn maybe_deploy(&mut self, cx: &mut Cx) {
        if self.status == JobStatus::Running && self.has_scheduled() && self.slots.len() as u32 >= self.required_slots() {
            self.deploy(cx);
        }
    }

    /// Gives every subtask index a held slot: keeps the ones whose slot is still held, hands
    /// free slots to the others.
    fn assign_slots(&mut self) {
        let held: BTreeSet<AllocationId> = self.slots.iter().map(|s| s.allocation_id).collect();
        self.slot_of.retain(|_, a| held.contains(a));
        let used: BTreeSet<AllocationId> = self.slot_of.values().copied().collect();
        let mut free = self.slots.iter().map(|s| s.allocation_id).filter(|a| !used.contains(a));
        for i in 0..self.required_slots() {
            if let std::collections::btree_map::Entry::Vacant(slot) = self.slot_of.entry(i) {
                if let Some(a) = free.next() {
                    slot.insert(a);
                }
            }
        }
    }

    fn slot_for(&self, subtask: u32) -> &HeldSlot {
        let a = self.slot_of.get(&subtask).expect("every subtask index has a slot before deployment");
        self.slots.iter().find(|s| s.allocation_id == *a).expect("assigned slots are held")
    }

    /// Deploys every SCHEDULED execution (all of them, or the restarted region), restoring
    /// state from `restore_from`.
    fn deploy(&mut self, cx: &mut Cx) {
        self.assign_slots();
        let now = cx.now();
        let me = cx.me();
        let eg = &self.execution_graph;
        let mut tdds = Vec::new();
        for (vi, ejv) in eg.vertices.iter().enumerate() {
            let v = &ejv.vertex;
            let output = self.graph.consumers(&v.id).next().map(|(cv, edge)| {
                let ci = eg.vertices.iter().position(|x| x.vertex.id == cv.id).expect("consumer is a vertex of the graph");
                OutputSpec {
                    ship: edge.ship.clone(),
                    max_parallelism: cv.max_parallelism,
                    consumers: eg.vertices[ci].subtasks.iter().map(|s| (s.current.attempt_id, self.slot_for(s.subtask).address)).collect(),
                }
            });
            let old_state =
                self.restore_from.as_ref().and_then(|c| c.metadata.vertices.iter().find(|o| o.uid == self.vertex_uids[vi]).map(|o| (c, o)));
            for ev in &ejv.subtasks {
                if ev.current.state != ExecutionState::Scheduled {
                    continue;
                }
                let i = ev.subtask as usize;
                let mut producers = Vec::new();
                for edge in &v.inputs {
                    let src = eg.vertices.iter().find(|x| x.vertex.id == edge.source).expect("validated graph");
                    match edge.ship {
                        flink_core::ShipStrategy::Forward => producers.push(src.subtasks[i].current.attempt_id),
                        _ => producers.extend(src.subtasks.iter().map(|s| s.current.attempt_id)),
                    }
                }
                let slot = self.slot_for(ev.subtask).clone();
                let restore = old_state.map(|(c, o)| assign_state(c, o, v.parallelism, ev.subtask));
                let tdd = TaskDeploymentDescriptor {
                    job_id: self.graph.job_id,
                    job_name: self.graph.name.clone(),
                    vertex_id: v.id,
                    vertex_name: v.name.clone(),
                    execution_id: ev.current.attempt_id,
                    subtask_index: ev.subtask,
                    parallelism: v.parallelism,
                    max_parallelism: v.max_parallelism,
                    attempt_number: ev.current.attempt_number,
                    allocation_id: slot.allocation_id,
                    operators: v.operators.clone(),
                    producers,
                    output: output.clone(),
                    job_master: me,
                    job_master_id: self.id,
                    restore,
                    checkpointing: self.graph.checkpointing.as_ref().map(|c| c.mode),
                    buffer_timeout_ms: self.graph.buffer_timeout_ms,
                };
                tdds.push((vi, i, slot, tdd));
            }
        }
        for (vi, i, slot, tdd) in tdds {
            let name = format!("{} ({}/{})", tdd.vertex_name, i + 1, tdd.parallelism);
            let e = &mut self.execution_graph.vertices[vi].subtasks[i].current;
            e.transition(ExecutionState::Deploying, now);
            e.location = Some(Location { allocation_id: slot.allocation_id, resource_id: slot.resource_id.clone(), address: slot.address });
            cx.print(&format!(
                "INFO  Deploying {name} (attempt #{}) with attempt id {} to {} with allocation id {}",
                tdd.attempt_number, tdd.execution_id, slot.resource_id, slot.allocation_id
            ));
            cx.send(slot.address, TaskExecutorGateway::SubmitTask { job_master_id: self.id, tdd: Box::new(tdd) });
        }
    }

    fn task_name(&self, vi: usize, si: usize) -> String {
        let v = &self.execution_graph.vertices[vi].vertex;
        format!("{} ({}/{})", v.name, si + 1, v.parallelism)
    }

    /// UpdateTaskExecutionState from a TaskExecutor. `committables` come with FINISHED.
    pub fn update_task_execution_state(
        &mut self,
        cx: &mut Cx,
        execution_id: ExecutionAttemptId,
        state: ExecutionState,
        error: Option<String>,
        records: (u64, u64),
        committables: Vec<(String, String)>,
    ) {
        let Some((vi, si)) = self.execution_graph.find(&execution_id) else { return };
        let now = cx.now();
        let task_name = self.task_name(vi, si);
        let e = &mut self.execution_graph.vertices[vi].subtasks[si].current;
        e.records_in = e.records_in.max(records.0);
        e.records_out = e.records_out.max(records.1);
        let from = e.state;
        if !e.transition(state, now) {
            return;
        }
        if state == ExecutionState::Failed {
            e.failure = error.clone();
        }
        let location = e.location.clone();
        self.last_modification = now.as_millis();
        match (&location, state) {
            (Some(l), ExecutionState::Failed) => cx.print(&format!(
                "INFO  {task_name} ({execution_id}) switched from {} to {} on {} @ {}.",
                from.name(),
                state.name(),
                l.resource_id,
                l.address
            )),
            _ => cx.print(&format!("INFO  {task_name} ({execution_id}) switched from {} to {}.", from.name(), state.name())),
        }
        match state {
            ExecutionState::Failed => {
                let cause = error.unwrap_or_else(|| "java.lang.Exception: The task failed without a reported cause.".into());
                self.handle_failure(cx, vec![(cause, Some(FailedTask { at: (vi, si), name: task_name, location }))], false);
            }
            ExecutionState::Finished => {
                if !committables.is_empty() {
                    self.committables.insert(execution_id, committables);
                }
                // A finished task acknowledges no more checkpoints: pending ones cannot complete.
                self.checkpoints.task_finished(cx, execution_id);
                if self.status == JobStatus::Running && self.execution_graph.all_in(|s| s == ExecutionState::Finished) {
                    self.final_commit(cx);
                    self.job_reached_terminal(cx, JobStatus::Finished);
                }
            }
            _ => {}
        }
        self.check_cancellation_done(cx);
    }

    /// Renames the part files every task reported with FINISHED (idempotent: a file already
    /// renamed stays as it is).
    fn final_commit(&mut self, cx: &mut Cx) {
        let all: Vec<(String, String)> = std::mem::take(&mut self.committables).into_values().flatten().collect();
        let mut committed = 0;
        for (staging, final_path) in all {
            let store = cx.store();
            if store.exists(&staging) {
                match store.rename(&staging, &final_path) {
                    Ok(()) => {
                        committed += 1;
                        cx.trace("file.commit", &final_path);
                    }
                    Err(e) => cx.print(&format!("WARN  Could not commit {staging} to {final_path}: {e}")),
                }
            } else if !store.exists(&final_path) {
                cx.print(&format!("WARN  Committable {staging} is gone and {final_path} does not exist."));
            }
        }
        if committed > 0 {
            cx.print(&format!("INFO  Committed {committed} files of job {} on finish.", self.graph.job_id));
        }
    }

    /// A TaskExecutor's heartbeat with its tasks' record counts.
    pub fn task_executor_heartbeat(&mut self, cx: &mut Cx, resource_id: &str, tasks: &[(ExecutionAttemptId, u64, u64)]) {
        let now = cx.now().as_millis();
        if let Some(tm) = self.task_managers.get_mut(resource_id) {
            tm.1 = now;
        }
        for (id, rin, rout) in tasks {
            if let Some((vi, si)) = self.execution_graph.find(id) {
                let e = &mut self.execution_graph.vertices[vi].subtasks[si].current;
                e.records_in = e.records_in.max(*rin);
                e.records_out = e.records_out.max(*rout);
            }
        }
        self.reconcile_deployments(cx, resource_id, tasks);
    }

    /// Flink's execution deployment reconciliation: the heartbeat lists every task the
    /// TaskExecutor still runs for this job. An execution the TaskExecutor confirmed (it
    /// reported INITIALIZING or RUNNING) but no longer lists has ended there without the
    /// JobMaster hearing of it: its final state update was lost. A canceling one counts as
    /// canceled; a running one fails ("unexpectedly no longer running"), so the job fails over
    /// instead of waiting for ever. Links are FIFO, so an end report sent before this
    /// heartbeat has already arrived.
    fn reconcile_deployments(&mut self, cx: &mut Cx, resource_id: &str, tasks: &[(ExecutionAttemptId, u64, u64)]) {
        let reported: std::collections::BTreeSet<ExecutionAttemptId> = tasks.iter().map(|t| t.0).collect();
        let now = cx.now().as_millis();
        // A SubmitTask the TaskExecutor never got (lost in a partition) leaves the execution
        // DEPLOYING: Flink's submitTask RPC times out and fails it; here the heartbeat of a
        // TaskExecutor that does not run it, once that long has passed, does.
        let rpc_timeout = self.heartbeat_timeout_ms;
        let lost_deployment = |e: &execution_graph::Execution| {
            e.state == ExecutionState::Deploying
                && e.timestamps.get(&ExecutionState::Deploying).is_some_and(|t| now.saturating_sub(*t) > rpc_timeout)
        };
        let missing: Vec<(ExecutionAttemptId, ExecutionState, u64, u64)> = self
            .execution_graph
            .executions()
            .filter(|e| e.location.as_ref().is_some_and(|l| l.resource_id == resource_id))
            .filter(|e| {
                matches!(e.state, ExecutionState::Initializing | ExecutionState::Running | ExecutionState::Canceling) || lost_deployment(e)
            })
            .filter(|e| !reported.contains(&e.attempt_id))
            .map(|e| (e.attempt_id, e.state, e.records_in, e.records_out))
            .collect();
        for (id, state, rin, rout) in missing {
            cx.trace("execution.missing", format_args!("{id} on {resource_id}"));
            if state == ExecutionState::Canceling {
                self.update_task_execution_state(cx, id, ExecutionState::Canceled, None, (rin, rout), Vec::new());
            } else if state == ExecutionState::Deploying {
                let cause = format!(
                    "java.lang.Exception: Cannot deploy task {id} - TaskManager ({resource_id}) not responding after a rpcTimeout of {rpc_timeout} ms"
                );
                self.update_task_execution_state(cx, id, ExecutionState::Failed, Some(cause), (rin, rout), Vec::new());
            } else {
                let cause = format!(
                    "org.apache.flink.util.FlinkException: Execution {id} is unexpectedly no longer running on task executor {resource_id}."
                );
                self.update_task_execution_state(cx, id, ExecutionState::Failed, Some(cause), (rin, rout), Vec::new());
            }
        }
    }

    /// The ResourceManager cannot provide the declared slots.
    pub fn resources_unavailable(&mut self, cx: &mut Cx, reason: &str) {
        if self.status == JobStatus::Running && self.has_scheduled() {
            let cause = format!(
                "org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException: Could not acquire the minimum required resources. {reason}"
            );
            self.handle_failure(cx, vec![(cause, None)], true);
        }
    }

    /// A TaskExecutor is gone: its slots are lost, its tasks failed.
    pub fn task_manager_lost(&mut self, cx: &mut Cx, resource_id: &str, cause: &str) {
        let held = self.slots.len();
        self.slots.retain(|s| s.resource_id != resource_id);
        let lost_slots = held != self.slots.len();
        if self.task_managers.remove(resource_id).is_none() && !lost_slots {
            return;
        }
        let exception = format!("org.apache.flink.util.FlinkException: TaskManager {resource_id} is lost: {cause}");
        self.fail_tasks_in_lost_slots(cx, &exception, |_, location| location.resource_id == resource_id);
    }

    /// Flink's `failSlot`: the TaskExecutor `resource_id` does not hold `allocation_id`, which
    /// this JobMaster held there (it timed out or was freed while the two could not talk).
    /// The slot leaves the pool and the tasks in it fail; redeploying into it would fail
    /// every attempt with "No task slot allocated", restart after restart.
    pub fn fail_slot(&mut self, cx: &mut Cx, resource_id: &str, allocation_id: AllocationId, cause: &str) {
        let held = self.slots.len();
        self.slots.retain(|s| !(s.allocation_id == allocation_id && s.resource_id == resource_id));
        if held == self.slots.len() {
            return;
        }
        cx.trace("slot.failed", format!("{allocation_id} {resource_id} {cause}"));
        let in_slot: BTreeSet<u32> = self.slot_of.iter().filter(|(_, a)| **a == allocation_id).map(|(i, _)| *i).collect();
        self.slot_of.retain(|_, a| *a != allocation_id);
        let exception = format!("org.apache.flink.util.FlinkException: {cause}");
        self.fail_tasks_in_lost_slots(cx, &exception, |subtask, location| {
            in_slot.contains(&subtask) && location.resource_id == resource_id
        });
    }

    /// Fails the live executions `lost(subtask index, location)` picks, whose slots are gone
    /// (restart or job failure as the strategy says); with none to fail, a job still waiting
    /// to deploy declares its slots again, and the RM replaces the lost ones.
    fn fail_tasks_in_lost_slots(&mut self, cx: &mut Cx, exception: &str, lost: impl Fn(u32, &Location) -> bool) {
        let now = cx.now();
        let mut failed = Vec::new();
        for (vi, ejv) in self.execution_graph.vertices.iter_mut().enumerate() {
            for (si, ev) in ejv.subtasks.iter_mut().enumerate() {
                let e = &mut ev.current;
                if !e.state.is_terminal() && e.location.as_ref().is_some_and(|l| lost(ev.subtask, l)) {
                    let to = if e.state == ExecutionState::Canceling { ExecutionState::Canceled } else { ExecutionState::Failed };
                    e.transition(to, now);
                    if to == ExecutionState::Failed {
                        e.failure = Some(exception.to_string());
                        let name = format!("{} ({}/{})", ejv.vertex.name, ev.subtask + 1, ejv.vertex.parallelism);
                        failed.push(FailedTask { at: (vi, si), name, location: e.location.clone() });
                    }
                }
            }
        }
        if !failed.is_empty() {
            self.handle_failure(cx, failed.into_iter().map(|f| (exception.to_string(), Some(f))).collect(), false);
        } else if self.status == JobStatus::Running && self.has_scheduled() {
            // Lost slots before deployment: the declaration stands and the RM replaces them.
            let need = self.required_slots();
            self.declare(cx, need);
        }
        self.check_cancellation_done(cx);
    }

    /// Records failures in the history: the first is a new root unless the job is already
    /// recovering from one, in which case all are concurrent to the latest root.
    fn record_exceptions(&mut self, _cx: &mut Cx, now: u64, failures: Vec<(String, Option<FailedTask>)>) {
        let mut entries = Vec::new();
        for (cause, task) in failures {
            let exception_name = cause.split(':').next().unwrap_or("java.lang.Exception").trim().to_string();
            let loc = task.as_ref().and_then(|t| t.location.clone());
            let entry = ExceptionEntry {
                exception_name,
                stacktrace: cause,
                timestamp: now,
                task_name: task.map(|t| t.name),
                location: loc.as_ref().map(|l| format!("{} ({})", l.resource_id, l.address)),
                endpoint: loc.as_ref().map(|l| l.address.to_string()),
                task_manager_id: loc.map(|l| l.resource_id),
            };
            self.exceptions.push(entry.clone());
            // A job restarting for days must not grow without bound.
            if self.exceptions.len() > 10 * EXCEPTION_HISTORY_SIZE {
                self.exceptions.remove(0);
            }
            entries.push(entry);
        }
        let recovering = !matches!(self.status, JobStatus::Running | JobStatus::Created);
        let mut it = entries.into_iter();
        if recovering && !self.exception_history.is_empty() {
            self.exception_history.last_mut().expect("non-empty").concurrent.extend(it);
            return;
        }
        if let Some(root) = it.next() {
            self.exception_history.push(RootExceptionEntry { root, concurrent: it.collect() });
            if self.exception_history.len() > EXCEPTION_HISTORY_SIZE {
                self.exception_history.remove(0);
            }
        }
    }

    /// Failures of tasks (or a global failure): restart the failed tasks' regions (all tasks
    /// when `global` or failover-strategy is `full`) if the restart strategy allows, else fail.
    fn handle_failure(&mut self, cx: &mut Cx, failures: Vec<(String, Option<FailedTask>)>, global: bool) {
        let now = cx.now().as_millis();
        let first_cause = failures.first().map(|f| f.0.clone()).unwrap_or_default();
        let failed_tasks: Vec<FailedTask> = failures.iter().filter_map(|f| f.1.clone()).collect();
        self.record_exceptions(cx, now, failures);
        let full = global || failed_tasks.is_empty() || self.graph.failover_strategy == FailoverStrategy::Full;
        let set = if full {
            self.all_executions()
        } else {
            let regions = failover::pipelined_regions(&self.graph);
            let mut set = BTreeSet::new();
            for t in &failed_tasks {
                if let Some(r) = regions.iter().find(|r| r.contains(&t.at)) {
                    set.extend(r.iter().copied());
                }
            }
            set
        };
        if self.status == JobStatus::Restarting {
            // A failure while a restart is pending (e.g. another region): it joins that restart.
            self.cancel_executions(cx, &set);
            self.discard_committables(&set);
            self.restart_set.extend(set);
            return;
        }
        if self.status != JobStatus::Running {
            return;
        }
        // A failure after the stop-with-savepoint completed is not recoverable
        // (StopWithSavepointStoppingException): the savepoint stands, the job fails.
        let stopping = self.checkpoints.stopped_at().map(str::to_string);
        self.restart.notify_failure(now);
        if let Some(path) = stopping {
            self.failure_cause = Some(format!(
                "org.apache.flink.runtime.scheduler.stopwithsavepoint.StopWithSavepointStoppingException: A savepoint has been created at: {path}, but the corresponding job {} failed during stopping. The savepoint is consistent, but might have uncommitted transactions. If you want to commit the transaction please restart a job from this savepoint.\nCaused by: {first_cause}",
                self.graph.job_id
            ));
            self.transition_job(cx, JobStatus::Failing);
            let all = self.all_executions();
            self.cancel_executions(cx, &all);
            self.arm_cancel_timeout(cx);
            self.check_cancellation_done(cx);
        } else if self.restart.can_restart() {
            self.restart.restarts += 1;
            let delay = self.restart.backoff_ms(cx.rng());
            if global {
                cx.print("INFO  Trying to recover from a global failure.");
                cx.print(&format!("INFO  {} tasks will be restarted to recover from a global failure.", set.len()));
            } else if let Some(t) = failed_tasks.first() {
                let attempt = self.execution_graph.vertices[t.at.0].subtasks[t.at.1].current.attempt_id;
                cx.print(&format!("INFO  {} tasks will be restarted to recover the failed task {attempt}.", set.len()));
            }
            cx.print(&format!(
                "INFO  Job {} ({}) failed; restarting it in {} ms (restart {}). Cause: {}",
                self.graph.name,
                self.graph.job_id,
                delay,
                self.restart.restarts,
                first_line(&first_cause)
            ));
            self.transition_job(cx, JobStatus::Restarting);
            // SchedulerBase.restoreState: pending checkpoints die with the failover.
            self.checkpoints.abort_all(cx, CheckpointFailureReason::JobFailover);
            self.cancel_executions(cx, &set);
            self.discard_committables(&set);
            self.restart_set = set;
            cx.set_timer(Duration::from_millis(delay), self.timer(T_RESTART));
        } else {
            self.failure_cause = Some(format!(
                "org.apache.flink.runtime.JobException: Recovery is suppressed by {}\nCaused by: {first_cause}",
                self.restart.describe()
            ));
            self.transition_job(cx, JobStatus::Failing);
            let all = self.all_executions();
            self.cancel_executions(cx, &all);
            self.arm_cancel_timeout(cx);
            self.check_cancellation_done(cx);
        }
    }

    /// The restarted tasks run again from the checkpoint and write their part files anew: what
    /// they reported with FINISHED must not be committed.
    fn discard_committables(&mut self, set: &BTreeSet<(usize, usize)>) {
        for &(vi, si) in set {
            let a = self.execution_graph.vertices[vi].subtasks[si].current.attempt_id;
            self.committables.remove(&a);
        }
    }

    /// Sends CancelTask for every deployed, unfinished execution in `set`; undeployed ones end now.
    fn cancel_executions(&mut self, cx: &mut Cx, set: &BTreeSet<(usize, usize)>) {
        let now = cx.now();
        for &(vi, si) in set {
            let e = &mut self.execution_graph.vertices[vi].subtasks[si].current;
            if e.state.is_terminal() {
                continue;
            }
            match (&e.location, e.state) {
                (Some(loc), ExecutionState::Deploying | ExecutionState::Initializing | ExecutionState::Running) => {
                    let (job_id, job_master_id) = (self.graph.job_id, self.id);
                    cx.send(loc.address, TaskExecutorGateway::CancelTask { job_id, job_master_id, execution_id: e.attempt_id });
                    e.transition(ExecutionState::Canceling, now);
                }
                (_, ExecutionState::Canceling) => {}
                _ => {
                    e.transition(ExecutionState::Canceled, now);
                }
            }
        }
    }

    fn arm_cancel_timeout(&mut self, cx: &mut Cx) {
        cx.set_timer(Duration::from_millis(self.heartbeat_timeout_ms), self.timer(T_CANCEL_TIMEOUT));
    }

    /// Cancels the job (REST PATCH /jobs/:id?mode=cancel).
    pub fn cancel(&mut self, cx: &mut Cx) -> Result<(), String> {
        if self.status.is_globally_terminal() {
            return Err(format!("Job {} has already reached globally terminal state {}.", self.graph.job_id, self.status.name()));
        }
        if matches!(self.status, JobStatus::Cancelling | JobStatus::Failing) {
            return Ok(());
        }
        cx.cancel_timer(self.timer(T_RESTART));
        self.transition_job(cx, JobStatus::Cancelling);
        let all = self.all_executions();
        self.cancel_executions(cx, &all);
        self.arm_cancel_timeout(cx);
        self.check_cancellation_done(cx);
        Ok(())
    }

    fn check_cancellation_done(&mut self, cx: &mut Cx) {
        let target = match self.status {
            JobStatus::Cancelling => JobStatus::Canceled,
            JobStatus::Failing => JobStatus::Failed,
            _ => return,
        };
        if self.execution_graph.all_in(|s| s.is_terminal()) {
            self.job_reached_terminal(cx, target);
        }
    }

    fn job_reached_terminal(&mut self, cx: &mut Cx, status: JobStatus) {
        self.transition_job(cx, status);
        self.end_time = Some(cx.now().as_millis());
        self.checkpoints.shutdown(cx, status);
        for s in std::mem::take(&mut self.slots) {
            cx.send(
                s.address,
                TaskExecutorGateway::FreeSlot {
                    job_id: self.graph.job_id,
                    job_master_id: self.id,
                    allocation_id: s.allocation_id,
                    reason: format!("Job {} reached terminal state {}.", self.graph.job_id, status.name()),
                },
            );
        }
        self.task_managers.clear();
        for t in [T_HEARTBEAT, T_RESTART, T_CANCEL_TIMEOUT, T_CHECKPOINT_TRIGGER, T_CHECKPOINT_TIMEOUT] {
            cx.cancel_timer(self.timer(t));
        }
        self.declare(cx, 0);
        self.events.push(JmEvent::Terminated { job_id: self.graph.job_id, status });
    }

    pub fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        let kind = timer - self.timer(0);
        match kind {
            T_HEARTBEAT => self.heartbeat(cx),
            T_RESTART => self.restart_now(cx),
            T_CANCEL_TIMEOUT => {
                // TaskExecutors that never confirmed the cancellation: treat their tasks as
                // canceled so the job can end.
                if matches!(self.status, JobStatus::Cancelling | JobStatus::Failing) {
                    let now = cx.now();
                    for e in self.execution_graph.executions_mut() {
                        if !e.state.is_terminal() {
                            e.transition(ExecutionState::Canceled, now);
                        }
                    }
                    self.check_cancellation_done(cx);
                }
            }
            T_CHECKPOINT_TRIGGER if self.status == JobStatus::Running => {
                let plan = self.checkpoint_plan();
                if let Some(cause) = self.checkpoints.on_trigger_timer(cx, plan) {
                    self.fail_global(cx, cause);
                }
            }
            T_CHECKPOINT_TIMEOUT => {
                if let Some(cause) = self.checkpoints.on_timeout_timer(cx) {
                    self.fail_global(cx, cause);
                }
            }
            _ => {}
        }
    }

    /// Flink's `failGlobal`: every task restarts (if the strategy allows) or the job fails.
    fn fail_global(&mut self, cx: &mut Cx, cause: String) {
        self.handle_failure(cx, vec![(cause, None)], true);
    }

    fn heartbeat(&mut self, cx: &mut Cx) {
        if self.status.is_globally_terminal() {
            return;
        }
        let now = cx.now().as_millis();
        let timed_out: Vec<ResourceId> = self
            .task_managers
            .iter()
            .filter(|(_, (_, last))| now.saturating_sub(*last) > self.heartbeat_timeout_ms)
            .map(|(k, _)| k.clone())
            .collect();
        for id in timed_out {
            let cause = format!("The heartbeat of TaskManager with id {id} timed out.");
            cx.print(&format!("INFO  {cause}"));
            self.task_manager_lost(cx, &id, &cause);
        }
        for (resource_id, (addr, _)) in &self.task_managers {
            // The AllocatedSlotReport: what this JobMaster holds on that TaskExecutor.
            let allocated_slots = self
                .slots
                .iter()
                .filter(|s| s.resource_id == *resource_id)
                .map(|s| AllocatedSlotInfo { slot_index: s.slot_index, allocation_id: s.allocation_id })
                .collect();
            cx.send(*addr, TaskExecutorGateway::JobManagerHeartbeat { job_id: self.graph.job_id, job_master_id: self.id, allocated_slots });
        }
        if !self.status.is_globally_terminal() {
            cx.set_timer(Duration::from_millis(self.heartbeat_interval_ms), self.timer(T_HEARTBEAT));
        }
    }

    /// After the restart back-off: new attempts for the restart set, back to RUNNING, state
    /// from the latest completed checkpoint, redeploy into the slots still held (the
    /// declaration makes the RM replace lost ones).
    fn restart_now(&mut self, cx: &mut Cx) {
        if self.status != JobStatus::Restarting {
            return;
        }
        let now = cx.now();
        let set = std::mem::take(&mut self.restart_set);
        for &(vi, si) in &set {
            let ev = &mut self.execution_graph.vertices[vi].subtasks[si];
            if !ev.current.state.is_terminal() {
                ev.current.transition(ExecutionState::Canceled, now);
            }
        }
        self.execution_graph.reset_executions(cx, &set);
        self.restore_from = self.checkpoints.latest_completed().cloned();
        match self.restore_from.clone() {
            Some(c) => self.log_restore(cx, &c),
            None if self.checkpointing_enabled() => cx.print("INFO  No checkpoint found during restore."),
            None => {}
        }
        self.transition_job(cx, JobStatus::Running);
        self.schedule(cx, &set);
    }

    // ---- Checkpoints (the CheckpointCoordinator's face to the rest of the JobManager)

    /// Flink's `DefaultCheckpointPlanCalculator`: every task must be RUNNING; sources are
    /// triggered, all are waited for and notified. Err(name of a task that is not running).
    fn checkpoint_plan(&self) -> Result<CheckpointPlan, String> {
        let mut vertices = Vec::new();
        let mut tasks = Vec::new();
        for (vi, ejv) in self.execution_graph.vertices.iter().enumerate() {
            let v = &ejv.vertex;
            vertices.push(VertexInfo {
                id: v.id,
                uid: self.vertex_uids[vi].clone(),
                name: v.name.clone(),
                parallelism: v.parallelism,
                max_parallelism: v.max_parallelism,
            });
            for ev in &ejv.subtasks {
                let e = &ev.current;
                match (&e.location, e.state) {
                    (Some(l), ExecutionState::Running) => tasks.push(PlanTask {
                        vertex: v.id,
                        subtask: ev.subtask,
                        attempt: e.attempt_id,
                        address: l.address,
                        is_source: v.inputs.is_empty(),
                    }),
                    _ => return Err(format!("{} ({}/{}) - execution #{}", v.name, ev.subtask + 1, v.parallelism, e.attempt_number)),
                }
            }
        }
        Ok(CheckpointPlan { vertices, tasks })
    }

    /// The job's checkpoint statistics; None when checkpointing is off (REST answers 404
    /// `Checkpointing has not been enabled.`).
    pub fn checkpoint_stats(&self) -> Option<&checkpoint_stats::CheckpointStatsTracker> {
        self.checkpointing_enabled().then_some(&self.checkpoints.stats)
    }

    /// `flink savepoint` / `flink stop` (kind SyncSavepoint): triggers a savepoint into
    /// `target_dir` (a shared-store path, `file:/` allowed; empty = the configured
    /// savepoint dir); its id, or Flink's error text.
    pub fn trigger_savepoint(&mut self, cx: &mut Cx, target_dir: &str, kind: CheckpointKind) -> Result<CheckpointId, String> {
        if self.status != JobStatus::Running {
            return Err(format!("Job {} is not running (state {}).", self.graph.job_id, self.status.name()));
        }
        let target = if target_dir.is_empty() {
            match &self.checkpoints.config.savepoint_dir {
                Some(d) => d.clone(),
                None => {
                    return Err(
                        "Config key [execution.checkpointing.savepoint-dir] is not set. Property [target-directory] must be provided."
                            .into(),
                    )
                }
            }
        } else {
            target_dir.to_string()
        };
        let kind = if kind == CheckpointKind::Checkpoint { CheckpointKind::Savepoint } else { kind };
        let plan = self.checkpoint_plan();
        self.checkpoints.trigger(cx, plan, SnapshotRequest::Savepoint { target, kind })
    }

    /// `flink checkpoint` (POST /jobs/:id/checkpoints): a manual checkpoint; its id.
    pub fn trigger_checkpoint(&mut self, cx: &mut Cx) -> Result<CheckpointId, String> {
        if self.status != JobStatus::Running {
            return Err(format!("Job {} is not running (state {}).", self.graph.job_id, self.status.name()));
        }
        let plan = self.checkpoint_plan();
        self.checkpoints.trigger(cx, plan, SnapshotRequest::ManualCheckpoint)
    }

    /// The outcome of a checkpoint or savepoint triggered through the two calls above: None
    /// while in progress, Ok(external path `file:/...`) or Err(failure message).
    pub fn snapshot_outcome(&self, id: CheckpointId) -> Option<Result<String, String>> {
        self.checkpoints.snapshot_outcome(id)
    }

    /// AcknowledgeCheckpoint from a task.
    pub fn acknowledge_checkpoint(
        &mut self,
        cx: &mut Cx,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
        metrics: CheckpointMetrics,
        state: TaskStateSnapshot,
    ) {
        if let Some(cause) = self.checkpoints.acknowledge(cx, execution_id, checkpoint_id, metrics, state) {
            self.fail_global(cx, cause);
        }
    }

    /// DeclineCheckpoint from a task.
    pub fn decline_checkpoint(
        &mut self,
        cx: &mut Cx,
        execution_id: ExecutionAttemptId,
        checkpoint_id: CheckpointId,
        reason: DeclineReason,
        message: String,
    ) {
        let location = self
            .execution_graph
            .find(&execution_id)
            .and_then(|(vi, si)| self.execution_graph.vertices[vi].subtasks[si].current.location.clone())
            .map(|l| format!("{} @ {}", l.resource_id, l.address))
            .unwrap_or_else(|| "(unknown)".into());
        if let Some(cause) = self.checkpoints.decline(cx, execution_id, checkpoint_id, reason, &message, &location) {
            self.fail_global(cx, cause);
        }
    }

    /// I/O and time metrics the TaskExecutors reported for executions of this job (old
    /// attempts' reports are ignored).
    pub fn record_io(&mut self, now: engine::Time, io: &[(ExecutionAttemptId, flink_core::protocol::TaskIoMetrics)]) {
        for (id, m) in io {
            if let Some((vi, si)) = self.execution_graph.find(id) {
                self.execution_graph.vertices[vi].subtasks[si].current.record_io(*m, now);
            }
        }
    }

    /// Records in/out per vertex (sums over the current attempts).
    pub fn vertex_records(&self, vi: usize) -> (u64, u64) {
        self.execution_graph.vertices[vi].subtasks.iter().fold((0, 0), |a, s| (a.0 + s.current.records_in, a.1 + s.current.records_out))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
