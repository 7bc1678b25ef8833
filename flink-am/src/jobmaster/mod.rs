//! The JobMaster: runs one job. It declares the slots the job needs to the ResourceManager,
//! accepts slots TaskExecutors offer, deploys every subtask at once (streaming: eager
//! scheduling; slot sharing puts subtask i of every vertex into slot i), follows task states,
//! heartbeats its TaskExecutors, and on a failure restarts the whole graph as the restart
//! strategy allows (Flink's full failover) or fails the job.

pub mod checkpoint_stats;
pub mod execution_graph;
pub mod restart;

use std::collections::BTreeMap;
use std::time::Duration;

use engine::{Addr, Cx, TimerId};
use flink_core::protocol::{OutputSpec, SlotOffer};
use flink_core::{
    AllocationId, ExecutionAttemptId, ExecutionState, JobGraph, JobId, JobStatus, ResourceId, TaskDeploymentDescriptor, TaskExecutorGateway,
};

use execution_graph::{ExecutionGraph, Location};
use restart::RestartBackoffTimeStrategy;

/// What a JobMaster tells the rest of the JobManager.
#[derive(Debug, Clone, PartialEq)]
pub enum JmEvent {
    /// DeclareResourceRequirements for the ResourceManager (0 = the job needs nothing more).
    Declare { job_id: JobId, job_master: Addr, slots: u32 },
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
    pub location: Option<String>,
}

/// Timer ids: JobMaster timers live above this, `TIMER_STRIDE` per JobMaster.
pub const TIMER_BASE: TimerId = 1 << 32;
pub const TIMER_STRIDE: TimerId = 16;
const T_HEARTBEAT: TimerId = 0;
const T_RESTART: TimerId = 1;
const T_CANCEL_TIMEOUT: TimerId = 2;

pub struct JobMaster {
    pub graph: JobGraph,
    pub status: JobStatus,
    /// When each JobStatus was entered (ms).
    pub status_timestamps: BTreeMap<JobStatus, u64>,
    pub execution_graph: ExecutionGraph,
    pub slots: Vec<HeldSlot>,
    /// TaskExecutors this job uses, with the time of their last heartbeat (ms).
    task_managers: BTreeMap<ResourceId, (Addr, u64)>,
    pub restart: RestartBackoffTimeStrategy,
    pub exceptions: Vec<ExceptionEntry>,
    /// The job's terminal failure, as Flink prints it.
    pub failure_cause: Option<String>,
    deployed: bool,
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
    pub fn new(cx: &mut Cx, graph: JobGraph, index: u64, heartbeat_interval_ms: u64, heartbeat_timeout_ms: u64) -> JobMaster {
        let now = cx.now().as_millis();
        let execution_graph = ExecutionGraph::new(cx, &graph);
        let mut status_timestamps = BTreeMap::new();
        status_timestamps.insert(JobStatus::Initializing, now);
        status_timestamps.insert(JobStatus::Created, now);
        let restart = RestartBackoffTimeStrategy::new(graph.restart_strategy.clone());
        JobMaster {
            graph,
            status: JobStatus::Created,
            status_timestamps,
            execution_graph,
            slots: Vec::new(),
            task_managers: BTreeMap::new(),
            restart,
            exceptions: Vec::new(),
            failure_cause: None,
            deployed: false,
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

    fn transition_job(&mut self, cx: &mut Cx, to: JobStatus) {
        let from = self.status;
        cx.print(&format!("INFO  Job {} ({}) switched from state {} to {}.", self.graph.name, self.graph.job_id, from.name(), to.name()));
        self.status = to;
        let now = cx.now().as_millis();
        self.status_timestamps.insert(to, now);
        self.last_modification = now;
        cx.trace("job-status", format_args!("{} {}", self.graph.job_id, to.name()));
    }

    fn declare(&mut self, cx: &mut Cx, slots: u32) {
        self.events.push(JmEvent::Declare { job_id: self.graph.job_id, job_master: cx.me(), slots });
    }

    /// Starts scheduling: the job is RUNNING (as Flink sets it when scheduling starts) and
    /// asks the ResourceManager for its slots.
    pub fn start(&mut self, cx: &mut Cx) {
        self.transition_job(cx, JobStatus::Running);
        self.schedule(cx);
        cx.set_timer(Duration::from_millis(self.heartbeat_interval_ms), self.timer(T_HEARTBEAT));
    }

    fn schedule(&mut self, cx: &mut Cx) {
        let now = cx.now();
        for e in self.execution_graph.executions_mut() {
            e.transition(ExecutionState::Scheduled, now);
        }
        let need = self.required_slots();
        self.declare(cx, need);
        self.maybe_deploy(cx);
    }

    /// OfferSlots from a TaskExecutor: accept until the job has what it needs.
    pub fn offer_slots(&mut self, cx: &mut Cx, from: Addr, resource_id: ResourceId, offers: Vec<SlotOffer>) {
        let mut accepted = Vec::new();
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
            }
        }
        if !accepted.is_empty() {
            let now = cx.now().as_millis();
            self.task_managers.entry(resource_id).or_insert((from, now)).1 = now;
        }
        cx.send(from, TaskExecutorGateway::AcceptSlots { job_id: self.graph.job_id, accepted });
        self.maybe_deploy(cx);
    }

    fn maybe_deploy(&mut self, cx: &mut Cx) {
        if self.status == JobStatus::Running && !self.deployed && self.slots.len() as u32 >= self.required_slots() {
            self.deploy(cx);
        }
    }

    /// Deploys every subtask: subtask i of each vertex into slot i.
    fn deploy(&mut self, cx: &mut Cx) {
        self.deployed = true;
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
                    consumers: eg.vertices[ci]
                        .subtasks
                        .iter()
                        .map(|s| (s.current.attempt_id, self.slots[s.subtask as usize].address))
                        .collect(),
                }
            });
            for ev in &ejv.subtasks {
                let i = ev.subtask as usize;
                let mut producers = Vec::new();
                for edge in &v.inputs {
                    let src = eg.vertices.iter().find(|x| x.vertex.id == edge.source).expect("validated graph");
                    match edge.ship {
                        flink_core::ShipStrategy::Forward => producers.push(src.subtasks[i].current.attempt_id),
                        _ => producers.extend(src.subtasks.iter().map(|s| s.current.attempt_id)),
                    }
                }
                let slot = &self.slots[i];
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
                    restore: None,
                    checkpointing: self.graph.checkpointing.as_ref().map(|c| c.mode),
                };
                tdds.push((vi, i, slot.clone(), tdd));
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
            cx.send(slot.address, TaskExecutorGateway::SubmitTask(Box::new(tdd)));
        }
    }

    /// UpdateTaskExecutionState from a TaskExecutor.
    pub fn update_task_execution_state(
        &mut self,
        cx: &mut Cx,
        execution_id: ExecutionAttemptId,
        state: ExecutionState,
        error: Option<String>,
        records: (u64, u64),
    ) {
        let Some((vi, si)) = self.execution_graph.find(&execution_id) else { return };
        let now = cx.now();
        let p = self.execution_graph.vertices[vi].vertex.parallelism;
        let task_name = format!("{} ({}/{})", self.execution_graph.vertices[vi].vertex.name, si + 1, p);
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
        let location = e.location.as_ref().map(|l| format!("{} ({})", l.resource_id, l.address));
        self.last_modification = now.as_millis();
        cx.print(&format!("INFO  {task_name} ({execution_id}) switched from {} to {}.", from.name(), state.name()));
        match state {
            ExecutionState::Failed => {
                let cause = error.unwrap_or_else(|| "java.lang.Exception: The task failed without a reported cause.".into());
                self.handle_failure(cx, cause, Some(task_name), location);
            }
            ExecutionState::Finished
                if self.status == JobStatus::Running && self.execution_graph.all_in(|s| s == ExecutionState::Finished) =>
            {
                self.job_reached_terminal(cx, JobStatus::Finished);
            }
            _ => {}
        }
        self.check_cancellation_done(cx);
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
    }

    /// The ResourceManager cannot provide the declared slots.
    pub fn resources_unavailable(&mut self, cx: &mut Cx, reason: &str) {
        if self.status == JobStatus::Running && !self.deployed {
            let cause = format!(
                "org.apache.flink.runtime.jobmanager.scheduler.NoResourceAvailableException: Could not acquire the minimum required resources. {reason}"
            );
            self.handle_failure(cx, cause, None, None);
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
        let now = cx.now();
        let mut failed = None;
        for ejv in &mut self.execution_graph.vertices {
            for ev in &mut ejv.subtasks {
                let e = &mut ev.current;
                if !e.state.is_terminal() && e.location.as_ref().map(|l| l.resource_id == resource_id).unwrap_or(false) {
                    let to = if e.state == ExecutionState::Canceling { ExecutionState::Canceled } else { ExecutionState::Failed };
                    e.transition(to, now);
                    if to == ExecutionState::Failed {
                        e.failure = Some(cause.to_string());
                        failed.get_or_insert_with(|| {
                            (format!("{} ({}/{})", ejv.vertex.name, ev.subtask + 1, ejv.vertex.parallelism), e.location.clone())
                        });
                    }
                }
            }
        }
        if let Some((task, loc)) = failed {
            let exception = format!("org.apache.flink.util.FlinkException: TaskManager {resource_id} is lost: {cause}");
            self.handle_failure(cx, exception, Some(task), loc.map(|l| format!("{} ({})", l.resource_id, l.address)));
        } else if self.status == JobStatus::Running && !self.deployed {
            // Lost slots before deployment: the declaration stands and the RM replaces them.
            let need = self.required_slots();
            self.declare(cx, need);
        }
        self.check_cancellation_done(cx);
    }

    fn handle_failure(&mut self, cx: &mut Cx, cause: String, task_name: Option<String>, location: Option<String>) {
        let now = cx.now().as_millis();
        let exception_name = cause.split(':').next().unwrap_or("java.lang.Exception").trim().to_string();
        self.exceptions.push(ExceptionEntry { exception_name, stacktrace: cause.clone(), timestamp: now, task_name, location });
        if self.status != JobStatus::Running {
            return;
        }
        if self.restart.can_restart() {
            self.restart.restarts += 1;
            let delay = self.restart.backoff_ms();
            cx.print(&format!(
                "INFO  Job {} ({}) failed; restarting it in {} ms (restart {}). Cause: {}",
                self.graph.name,
                self.graph.job_id,
                delay,
                self.restart.restarts,
                first_line(&cause)
            ));
            self.transition_job(cx, JobStatus::Restarting);
            self.cancel_all_executions(cx);
            cx.set_timer(Duration::from_millis(delay), self.timer(T_RESTART));
        } else {
            self.failure_cause = Some(format!(
                "org.apache.flink.runtime.JobException: Recovery is suppressed by {}\nCaused by: {cause}",
                self.restart.describe()
            ));
            self.transition_job(cx, JobStatus::Failing);
            self.cancel_all_executions(cx);
            self.arm_cancel_timeout(cx);
            self.check_cancellation_done(cx);
        }
    }

    /// Sends CancelTask for every deployed, unfinished execution; undeployed ones end now.
    fn cancel_all_executions(&mut self, cx: &mut Cx) {
        let now = cx.now();
        for e in self.execution_graph.executions_mut() {
            if e.state.is_terminal() {
                continue;
            }
            match (&e.location, e.state) {
                (Some(loc), ExecutionState::Deploying | ExecutionState::Initializing | ExecutionState::Running) => {
                    cx.send(loc.address, TaskExecutorGateway::CancelTask { execution_id: e.attempt_id });
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
        self.cancel_all_executions(cx);
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
        for s in std::mem::take(&mut self.slots) {
            cx.send(
                s.address,
                TaskExecutorGateway::FreeSlot {
                    allocation_id: s.allocation_id,
                    reason: format!("Job {} reached terminal state {}.", self.graph.job_id, status.name()),
                },
            );
        }
        self.task_managers.clear();
        for t in [T_HEARTBEAT, T_RESTART, T_CANCEL_TIMEOUT] {
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
            _ => {}
        }
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
        for (addr, _) in self.task_managers.values() {
            cx.send(*addr, TaskExecutorGateway::JobManagerHeartbeat { job_id: self.graph.job_id });
        }
        if !self.status.is_globally_terminal() {
            cx.set_timer(Duration::from_millis(self.heartbeat_interval_ms), self.timer(T_HEARTBEAT));
        }
    }

    /// After the restart back-off: new attempts, back to RUNNING, redeploy into the slots still
    /// held (the declaration makes the RM replace lost ones).
    fn restart_now(&mut self, cx: &mut Cx) {
        if self.status != JobStatus::Restarting {
            return;
        }
        let now = cx.now();
        for e in self.execution_graph.executions_mut() {
            if !e.state.is_terminal() {
                e.transition(ExecutionState::Canceled, now);
            }
        }
        self.execution_graph.reset_for_restart(cx);
        self.deployed = false;
        self.transition_job(cx, JobStatus::Running);
        self.schedule(cx);
    }

    // ---- Checkpoints (the CheckpointCoordinator's face to the rest of the JobManager)

    /// The job's checkpoint statistics; None when checkpointing is off (REST answers 404
    /// `Checkpointing has not been enabled.`).
    pub fn checkpoint_stats(&self) -> Option<&checkpoint_stats::CheckpointStatsTracker> {
        todo!("CheckpointCoordinator")
    }

    /// `flink savepoint` / `flink stop` (kind SyncSavepoint): triggers a savepoint into
    /// `target_dir` (a shared-store path); its id, or Flink's error text.
    pub fn trigger_savepoint(
        &mut self,
        cx: &mut Cx,
        target_dir: &str,
        kind: flink_core::CheckpointKind,
    ) -> Result<flink_core::CheckpointId, String> {
        let _ = (cx, target_dir, kind);
        todo!("CheckpointCoordinator")
    }

    /// `flink checkpoint` (POST /jobs/:id/checkpoints): a manual checkpoint; its id.
    pub fn trigger_checkpoint(&mut self, cx: &mut Cx) -> Result<flink_core::CheckpointId, String> {
        let _ = cx;
        todo!("CheckpointCoordinator")
    }

    /// The outcome of a checkpoint or savepoint triggered through the two calls above: None
    /// while in progress, Ok(external path `file:/...`) or Err(failure message).
    pub fn snapshot_outcome(&self, id: flink_core::CheckpointId) -> Option<Result<String, String>> {
        let _ = id;
        todo!("CheckpointCoordinator")
    }

    /// AcknowledgeCheckpoint from a task.
    pub fn acknowledge_checkpoint(
        &mut self,
        cx: &mut Cx,
        execution_id: ExecutionAttemptId,
        checkpoint_id: flink_core::CheckpointId,
        metrics: flink_core::checkpoint::CheckpointMetrics,
        state: flink_core::checkpoint::TaskStateSnapshot,
    ) {
        let _ = (cx, execution_id, checkpoint_id, metrics, state);
        todo!("CheckpointCoordinator")
    }

    /// DeclineCheckpoint from a task.
    pub fn decline_checkpoint(
        &mut self,
        cx: &mut Cx,
        execution_id: ExecutionAttemptId,
        checkpoint_id: flink_core::CheckpointId,
        reason: flink_core::checkpoint::DeclineReason,
        message: String,
    ) {
        let _ = (cx, execution_id, checkpoint_id, reason, message);
        todo!("CheckpointCoordinator")
    }

    /// Records in/out per vertex (sums over the current attempts).
    pub fn vertex_records(&self, vi: usize) -> (u64, u64) {
        self.execution_graph.vertices[vi].subtasks.iter().fold((0, 0), |a, s| (a.0 + s.current.records_in, a.1 + s.current.records_out))
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}
