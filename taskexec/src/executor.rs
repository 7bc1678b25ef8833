//! The TaskExecutor node: the ResourceManager connection (registration, heartbeats with slot
//! reports), job master connections (slot offers, task deployment, heartbeats), and the task
//! runtime driven by messages and one work timer.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};

use engine::{Addr, Cx, Msg, Node, Time, TimerId};
use flink_core::checkpoint::DeclineReason;
use flink_core::protocol::{AllocatedSlotInfo, CheckpointBarrier, FencingToken, SlotOffer};
use flink_core::{
    AllocationId, ExecutionAttemptId, ExecutionState, JobId, JobMasterGateway, JobMasterId, NetworkMsg, ResourceManagerGateway,
    ResourceManagerId, TaskDeploymentDescriptor, TaskExecutorGateway,
};

use flink_core::zookeeper::{decode_leader, ZkClient, ZkError, ZkEvent, ZkMsg, ZkOp, ZkPaths, ZkReply};

use crate::config::{LeaderRetrievalConfig, TaskExecutorConfig};
use crate::info::{slot_state_name, SlotInfo, TaskExecutorInfo, TaskInfo};
use crate::network::{InputBatch, OutOfSequence, PendingData, PushError};
use crate::slot_table::{SlotAllocation, TaskSlotTable};
use crate::task::{CreditReturn, Task};
use crate::task_table::TaskTable;

/// Source polls per wake-up before other inputs get a turn (x source_step_budget records).
const SOURCE_ROUNDS_PER_WAKE: usize = 32;
const REGISTRATION_TIMER: TimerId = 1;
const HEARTBEAT_TIMER: TimerId = 2;
const WORK_TIMER: TimerId = 3;
const ZK_TIMER: TimerId = 4;

/// Flink's failure when a channel's connection to another TaskManager broke; here a message
/// missing (or repeated) on a channel, which on FIFO links only a lost connection explains.
fn lost_connection(peer_task_manager: Addr, kind: &str, o: OutOfSequence) -> String {
    format!(
        "org.apache.flink.runtime.io.network.netty.exception.RemoteTransportException: Lost connection to task manager \
         '{peer_task_manager}'. This indicates that the remote task manager was lost. (Expected {kind} message #{} on the \
         channel with {}, got #{}.)",
        o.expected, o.peer, o.got
    )
}

/// The connection to the ResourceManager.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceManagerConnection {
    /// Sending RegisterTaskExecutor every `registration_retry` until an answer comes.
    Registering {
        attempts: u32,
    },
    Registered {
        resource_manager: Addr,
        last_heard: Time,
    },
}

/// A job master this TaskExecutor holds slots or runs tasks for, with the token its messages
/// must carry (and ours to it do).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct JobManagerConnection {
    job_master: Addr,
    job_master_id: JobMasterId,
    last_heard: Time,
}

pub struct TaskExecutor {
    config: TaskExecutorConfig,
    rm: ResourceManagerConnection,
    slots: TaskSlotTable,
    tasks: TaskTable,
    jobs: BTreeMap<JobId, JobManagerConnection>,
    /// Batches for consumers not deployed yet.
    pending: PendingData,
    /// Executions whose early data had to be dropped: they fail when deployed rather than
    /// compute a wrong result.
    lost_input: BTreeSet<ExecutionAttemptId>,
    /// Executions that ended here: late batches and credits for them are dropped.
    ended: BTreeSet<ExecutionAttemptId>,
    /// When the work timer is set for.
    work_at: Option<Time>,
    me: Option<Addr>,
    /// HA: the ZooKeeper client of leader retrieval.
    zk: Option<ZkClient>,
    /// The ResourceManager leader (address, fencing token): from leader retrieval with HA,
    /// the configured one without. Only messages carrying its token are accepted from it.
    leader: Option<(Addr, ResourceManagerId)>,
    /// The xid of the outstanding leader read.
    leader_read: Option<u64>,
    /// The ids of the tasks a pass steps, taken before it starts (a step may end a task):
    /// kept between passes for its buffer. A source at 50 records/s wakes its TaskManager
    /// for each record, and a fresh list per pass was a twentieth of a fuzz run.
    pass_ids: Vec<ExecutionAttemptId>,
}

impl TaskExecutor {
    pub fn new(config: TaskExecutorConfig) -> TaskExecutor {
        let slots = TaskSlotTable::new(config.num_slots);
        let leader = if config.leader_retrieval.is_some() { None } else { config.resource_manager };
        TaskExecutor {
            config,
            rm: ResourceManagerConnection::Registering { attempts: 0 },
            slots,
            tasks: TaskTable::new(),
            jobs: BTreeMap::new(),
            pending: PendingData::default(),
            lost_input: BTreeSet::new(),
            ended: BTreeSet::new(),
            work_at: None,
            me: None,
            zk: None,
            leader,
            leader_read: None,
            pass_ids: Vec::new(),
        }
    }

    /// The ResourceManager leader this TaskExecutor follows, with its fencing token.
    pub fn leader(&self) -> Option<&(Addr, ResourceManagerId)> {
        self.leader.as_ref()
    }

    /// The ResourceManager to talk to: the retrieved leader with HA, else the configured one.
    fn rm_address(&self) -> Option<Addr> {
        self.leader.as_ref().map(|l| l.0)
    }

    /// Whether `msg` carries the token of the leader it claims to come from. Err holds what
    /// was expected (None: no leader known yet). A JobMaster message for a job this
    /// TaskExecutor has no connection to is checked, with HA, against the leader's session id
    /// (every JobMaster of a leader fences with it); without HA it passes: no slot or task of
    /// that job is here, so the handlers refuse, decline or ignore it (Flink answers such a
    /// submission with "no JobManager associated for the job").
    fn check_fencing(&self, token: FencingToken) -> Result<(), Option<String>> {
        match token {
            FencingToken::ResourceManager(id) => match &self.leader {
                Some((_, expected)) if *expected == id => Ok(()),
                Some((_, expected)) => Err(Some(expected.to_string())),
                None => Err(None),
            },
            FencingToken::JobMaster(job_id, id) => {
                let expected = match self.jobs.get(&job_id) {
                    Some(c) => Some(c.job_master_id),
                    None if self.config.leader_retrieval.is_some() => self.leader.map(|(_, rm)| JobMasterId(rm.0)),
                    None => None,
                };
                match expected {
                    Some(e) if e != id => Err(Some(e.to_string())),
                    _ => Ok(()),
                }
            }
        }
    }

    fn connection_info_path(&self) -> Option<String> {
        self.config.leader_retrieval.as_ref().map(|l| ZkPaths::new(&l.root, &l.cluster_id).connection_info("resource_manager"))
    }

    fn read_leader(&mut self, cx: &mut Cx) {
        let Some(path) = self.connection_info_path() else { return };
        if let Some(zk) = self.zk.as_mut() {
            self.leader_read = zk.request(cx, ZkOp::GetData { path, watch: true });
        }
    }

    fn on_zk(&mut self, cx: &mut Cx, from: Addr, msg: ZkMsg) {
        let Some(zk) = self.zk.as_mut() else { return };
        let evs = zk.on_msg(cx, from, msg);
        self.on_zk_events(cx, evs);
    }

    fn on_zk_events(&mut self, cx: &mut Cx, evs: Vec<ZkEvent>) {
        for ev in evs {
            match ev {
                ZkEvent::Connected => self.read_leader(cx),
                ZkEvent::Watch { path, .. } => {
                    if Some(path) == self.connection_info_path() {
                        self.read_leader(cx);
                    }
                }
                ZkEvent::Reply { xid, result } => {
                    if self.leader_read != Some(xid) {
                        continue;
                    }
                    self.leader_read = None;
                    match result {
                        Ok(ZkReply::Data { data, .. }) => match decode_leader(&data)
                            .and_then(|(addr, id)| ResourceManagerId::from_leader_session_id(&id).map(|rm_id| (addr, id, rm_id)))
                        {
                            Some((addr, id, rm_id)) => self.new_leader(cx, addr, &id, rm_id),
                            None => cx.print("WARN  The leader information in ZooKeeper is malformed; waiting for the next leader."),
                        },
                        // No leader yet: watch for its node's creation (ZooKeeper sets no
                        // watch for a GetData of a missing node).
                        Err(ZkError::NoNode) => {
                            let Some(path) = self.connection_info_path() else { continue };
                            if let Some(zk) = self.zk.as_mut() {
                                self.leader_read = zk.request(cx, ZkOp::Exists { path, watch: true });
                            }
                        }
                        // Created between the two requests: read it.
                        Ok(ZkReply::Stat { version: Some(_) }) => self.read_leader(cx),
                        // The watch set by Exists reports the creation.
                        Ok(_) => {}
                        Err(e) => cx.print(&format!("WARN  Leader retrieval failed: {e}")),
                    }
                }
                ZkEvent::ConnectionLost { reason } => {
                    // Flink's retrieval reports "no leader" and the TaskExecutor waits for the
                    // next one; a new session re-reads it.
                    cx.print(&format!("WARN  Leader retrieval lost its ZooKeeper connection ({reason}); reconnecting."));
                    if let Some(zk) = self.zk.as_mut() {
                        zk.connect(cx);
                    }
                }
            }
        }
    }

    /// Leader retrieval found a (new) leader: connections to the old one's job masters end
    /// (their tasks fail, their slots are freed), and this TaskExecutor registers anew. One
    /// election per JobManager process (Flink 2.x): the JobMasters' leader session is the
    /// ResourceManager's, so a job master whose id is not the new session id lost leadership.
    fn new_leader(&mut self, cx: &mut Cx, addr: Addr, session_id: &str, rm_id: ResourceManagerId) {
        if self.leader.as_ref().is_some_and(|(a, id)| *a == addr && *id == rm_id) {
            return;
        }
        cx.print(&format!("Resolved ResourceManager address {addr} with leader session id {session_id}, beginning registration"));
        cx.trace("leader.new", format!("{addr} {session_id}"));
        let old: Vec<(JobId, Addr)> =
            self.jobs.iter().filter(|(_, c)| c.job_master_id.0 != rm_id.0).map(|(j, c)| (*j, c.job_master)).collect();
        for (job_id, job_master) in old {
            self.job_master_revoked(cx, job_id, job_master);
        }
        self.leader = Some((addr, rm_id));
        self.rm = ResourceManagerConnection::Registering { attempts: 0 };
        self.register(cx);
    }

    /// Flink's JobLeaderService: the job master lost leadership; tasks fail, slots are freed.
    fn job_master_revoked(&mut self, cx: &mut Cx, job_id: JobId, job_master: Addr) {
        cx.trace("jm.revoked", format!("{job_id} {job_master}"));
        let error = format!("JobManager for job {job_id} with leader address {job_master} lost leadership.");
        cx.print(&error);
        let doomed: Vec<ExecutionAttemptId> = self.tasks.values().filter(|t| t.tdd.job_id == job_id).map(|t| t.execution_id()).collect();
        for id in doomed {
            self.end_task(cx, id, ExecutionState::Failed, Some(error.clone()));
        }
        for allocation_id in self.slots.allocations_of(job_id) {
            self.slots.free(allocation_id);
        }
        self.jobs.remove(&job_id);
    }

    fn zk_tick(l: &LeaderRetrievalConfig) -> std::time::Duration {
        std::time::Duration::from_millis((l.session_timeout_ms / 6).clamp(10, 1_000))
    }

    pub fn config(&self) -> &TaskExecutorConfig {
        &self.config
    }
    pub fn resource_manager_connection(&self) -> ResourceManagerConnection {
        self.rm
    }
    pub fn is_registered(&self) -> bool {
        matches!(self.rm, ResourceManagerConnection::Registered { .. })
    }
    pub fn slot_table(&self) -> &TaskSlotTable {
        &self.slots
    }
    pub fn task(&self, id: ExecutionAttemptId) -> Option<&Task> {
        self.tasks.get(&id)
    }
    pub fn num_tasks(&self) -> usize {
        self.tasks.len()
    }
    /// Jobs whose job master this TaskExecutor is connected to.
    pub fn connected_jobs(&self) -> Vec<JobId> {
        self.jobs.keys().copied().collect()
    }

    pub fn info(&self) -> TaskExecutorInfo {
        TaskExecutorInfo {
            resource_id: self.config.resource_id.clone(),
            address: self.me.map(|a| a.to_string()).unwrap_or_default(),
            registered: self.is_registered(),
            memory_mb: self.config.memory_mb,
            slots_total: self.config.num_slots,
            slots_free: self.slots.num_free(),
            slots: self
                .slots
                .slots()
                .iter()
                .map(|s| SlotInfo {
                    index: s.index,
                    state: slot_state_name(s.state).to_string(),
                    allocation_id: s.allocation.as_ref().map(|a| a.allocation_id),
                    job_id: s.allocation.as_ref().map(|a| a.job_id),
                })
                .collect(),
            tasks: self
                .tasks
                .values()
                .map(|t| TaskInfo {
                    execution_id: t.execution_id(),
                    job_id: t.tdd.job_id,
                    allocation_id: t.tdd.allocation_id,
                    name: t.name(),
                    state: t.state,
                    records_in: t.records_in(),
                    records_out: t.records_out(),
                })
                .collect(),
        }
    }

    // ---- ResourceManager side

    fn register(&mut self, cx: &mut Cx) {
        let attempts = match self.rm {
            ResourceManagerConnection::Registering { attempts } => attempts + 1,
            ResourceManagerConnection::Registered { .. } => 1,
        };
        self.rm = ResourceManagerConnection::Registering { attempts };
        let Some(rm) = self.rm_address() else {
            // HA: no leader known yet; leader retrieval registers once it finds one.
            return;
        };
        let resource_manager_id = self.leader.as_ref().map(|l| l.1).expect("an RM address comes with its id");
        cx.send(
            rm,
            ResourceManagerGateway::RegisterTaskExecutor {
                resource_manager_id,
                resource_id: self.config.resource_id.clone(),
                num_slots: self.config.num_slots,
                memory_mb: self.config.memory_mb,
                data_address: cx.me(),
            },
        );
        cx.set_timer(self.config.registration_retry, REGISTRATION_TIMER);
    }

    fn heartbeat_rm(&mut self, cx: &mut Cx) {
        if let (ResourceManagerConnection::Registered { resource_manager, .. }, Some((_, resource_manager_id))) = (self.rm, self.leader) {
            cx.send(
                resource_manager,
                ResourceManagerGateway::TaskExecutorHeartbeat {
                    resource_manager_id,
                    resource_id: self.config.resource_id.clone(),
                    slots: self.slots.report(),
                },
            );
        }
    }

    fn heard_from_rm(&mut self, cx: &Cx, from: Addr) {
        if let ResourceManagerConnection::Registered { resource_manager, last_heard } = &mut self.rm {
            if *resource_manager == from {
                *last_heard = cx.now();
            }
        }
    }

    fn request_slot(&mut self, cx: &mut Cx, slot_index: u32, allocation: SlotAllocation, job_master_id: JobMasterId) {
        let (allocation_id, job_id, job_master) = (allocation.allocation_id, allocation.job_id, allocation.job_master);
        // A slot for the job under another JobMasterId: the job has a new leader, and the
        // old one's tasks and slots here go (Flink's JobLeaderService reports the change).
        if let Some(old) = self.jobs.get(&job_id).filter(|c| c.job_master_id != job_master_id).map(|c| c.job_master) {
            self.job_master_revoked(cx, job_id, old);
        }
        match self.slots.allocate(slot_index, allocation, cx.now()) {
            Ok(_) => {
                cx.trace("slot.allocated", format!("{slot_index} {allocation_id} {job_id}"));
                let now = cx.now();
                let conn = self.jobs.entry(job_id).or_insert(JobManagerConnection { job_master, job_master_id, last_heard: now });
                conn.job_master = job_master;
                conn.last_heard = now;
                cx.send(
                    job_master,
                    JobMasterGateway::OfferSlots {
                        job_id,
                        job_master_id,
                        resource_id: self.config.resource_id.clone(),
                        slots: vec![SlotOffer { allocation_id, slot_index }],
                    },
                );
            }
            // The RM's view is corrected by the slot report of the next heartbeat.
            Err(refusal) => {
                cx.print(&format!("Refusing slot request for allocation {allocation_id} of job {job_id}: {refusal}"));
                cx.trace("slot.refused", refusal);
            }
        }
    }

    fn free_slot(&mut self, cx: &mut Cx, allocation_id: flink_core::AllocationId, reason: &str) {
        let doomed: Vec<ExecutionAttemptId> =
            self.tasks.values().filter(|t| t.tdd.allocation_id == allocation_id).map(|t| t.execution_id()).collect();
        for id in doomed {
            self.end_task(cx, id, ExecutionState::Canceled, None);
        }
        if let Some(index) = self.slots.free(allocation_id) {
            cx.trace("slot.freed", format!("{index} {allocation_id} {reason}"));
            // Flink tells the RM about a freed slot at once rather than at the next heartbeat.
            self.heartbeat_rm(cx);
        }
        self.forget_idle_jobs();
    }

    // ---- JobMaster side

    fn touch_job(&mut self, cx: &Cx, job_id: JobId) {
        if let Some(c) = self.jobs.get_mut(&job_id) {
            c.last_heard = cx.now();
        }
    }

    /// Flink's `syncSlotsWithSnapshotFromJobMaster`, on every heartbeat of a connected job
    /// master: a slot it reports that this TaskExecutor does not hold for the job (timed out
    /// or freed while they could not talk) is failed at the job master, which would otherwise
    /// deploy into it again and again; an accepted slot it no longer reports (its FreeSlot was
    /// lost) is freed. Only accepted slots: one whose offer is still being answered is not in
    /// the report yet.
    fn sync_slots_with_job_master(&mut self, cx: &mut Cx, job_id: JobId, job_master_id: JobMasterId, report: &[AllocatedSlotInfo]) {
        let Some(job_master) = self.jobs.get(&job_id).map(|c| c.job_master) else { return };
        for s in report {
            if !self.slots.is_allocated_at(s.slot_index, s.allocation_id, job_id) {
                let cause =
                    format!("Slot {} on TaskExecutor {} is not allocated by job {job_id}.", s.allocation_id, self.config.resource_id);
                cx.trace("slot.not-allocated", format!("{} {}", s.slot_index, s.allocation_id));
                let resource_id = self.config.resource_id.clone();
                cx.send(
                    job_master,
                    JobMasterGateway::FailSlot { job_id, job_master_id, resource_id, allocation_id: s.allocation_id, cause },
                );
            }
        }
        let reported: BTreeSet<AllocationId> = report.iter().map(|s| s.allocation_id).collect();
        for a in self.slots.active_allocations_of(job_id) {
            if !reported.contains(&a) {
                self.free_slot(cx, a, &format!("{a} is no longer allocated by job {job_id}."));
            }
        }
    }

    /// Drops job master connections with neither slots nor tasks here.
    fn forget_idle_jobs(&mut self) {
        let idle: Vec<JobId> = self
            .jobs
            .keys()
            .filter(|j| self.slots.allocations_of(**j).is_empty() && !self.tasks.values().any(|t| t.tdd.job_id == **j))
            .copied()
            .collect();
        for j in idle {
            self.jobs.remove(&j);
        }
    }

    fn report(cx: &mut Cx, task: &Task, state: ExecutionState, error: Option<String>, committables: Vec<(String, String)>) {
        cx.trace("task.state", format!("{} {} {}", task.execution_id(), task.name(), state.name()));
        cx.send(
            task.tdd.job_master,
            JobMasterGateway::UpdateTaskExecutionState {
                job_id: task.tdd.job_id,
                job_master_id: task.tdd.job_master_id,
                execution_id: task.execution_id(),
                state,
                error,
                records_in: task.records_in(),
                records_out: task.records_out(),
                io: task.io_metrics(cx.now()),
                committables,
            },
        );
    }

    fn submit_task(&mut self, cx: &mut Cx, tdd: TaskDeploymentDescriptor) {
        self.touch_job(cx, tdd.job_id);
        let id = tdd.execution_id;
        if self.tasks.contains_key(&id) {
            return;
        }
        let refuse = |cx: &mut Cx, tdd: &TaskDeploymentDescriptor, error: String| {
            cx.print(&format!("{} ({}/{}) switched to FAILED: {error}", tdd.vertex_name, tdd.subtask_index + 1, tdd.parallelism));
            cx.trace("task.state", format!("{} FAILED", tdd.execution_id));
            cx.send(
                tdd.job_master,
                JobMasterGateway::UpdateTaskExecutionState {
                    job_id: tdd.job_id,
                    job_master_id: tdd.job_master_id,
                    execution_id: tdd.execution_id,
                    state: ExecutionState::Failed,
                    error: Some(error),
                    records_in: 0,
                    records_out: 0,
                    io: Default::default(),
                    committables: Vec::new(),
                },
            );
        };
        if !self.slots.is_allocated(tdd.allocation_id, tdd.job_id) {
            let error = format!("No task slot allocated for job ID {} and allocation ID {}.", tdd.job_id, tdd.allocation_id);
            return refuse(cx, &tdd, error);
        }
        // Flink's tryMarkSlotActive: a job master deploying into the slot has taken it, even
        // if its AcceptSlots answer was lost; the slot must not time out under a running task.
        if self.slots.is_inactive(tdd.allocation_id) && self.slots.mark_active(tdd.allocation_id, tdd.job_id, cx.now()) {
            cx.trace("slot.active", tdd.allocation_id);
        }
        if self.lost_input.remove(&id) {
            let error = format!("Input data for {id} arrived before the task was deployed and had to be dropped.");
            return refuse(cx, &tdd, error);
        }
        let mut task = match Task::new(tdd.clone(), &self.config, cx.now()) {
            Ok(t) => t,
            Err(e) => return refuse(cx, &tdd, e),
        };
        for state in [ExecutionState::Deploying, ExecutionState::Initializing] {
            task.state = state;
            Self::report(cx, &task, state, None, Vec::new());
        }
        let held = self.pending.take(id);
        // INITIALIZING: restore (and re-commit) before anything is processed.
        if let Err(e) = task.initialize(cx) {
            self.tasks.insert(id, task);
            // Its held input goes with it.
            self.end_task(cx, id, ExecutionState::Failed, Some(e));
            return;
        }
        task.state = ExecutionState::Running;
        Self::report(cx, &task, ExecutionState::Running, None, Vec::new());
        self.tasks.insert(id, task);
        for batch in held {
            self.receive_data(cx, id, batch);
        }
        self.drive(cx);
    }

    /// Removes a task in a terminal state and reports it.
    fn end_task(&mut self, cx: &mut Cx, id: ExecutionAttemptId, state: ExecutionState, error: Option<String>) {
        let Some(mut task) = self.tasks.remove(&id) else { return };
        let line = match &error {
            Some(e) => format!("{} switched from {} to {} with failure cause: {e}", task.name(), task.state.name(), state.name()),
            None => format!("{} switched from {} to {}.", task.name(), task.state.name(), state.name()),
        };
        cx.print(&line);
        task.state = state;
        // A finished task hands the JobMaster its last part files for the job's final commit.
        let committables = if state == ExecutionState::Finished { task.pending_commits() } else { Vec::new() };
        Self::report(cx, &task, state, error, committables);
        self.ended.insert(id);
    }

    fn heartbeat_tick(&mut self, cx: &mut Cx) {
        let now = cx.now();
        let timeout = self.config.heartbeat_timeout;
        if let ResourceManagerConnection::Registered { resource_manager, last_heard } = self.rm {
            if now.since(last_heard) > timeout {
                cx.print(&format!("The heartbeat of ResourceManager with id {resource_manager} timed out. Reconnecting."));
                cx.trace("rm.lost", resource_manager);
                self.register(cx);
            } else {
                self.heartbeat_rm(cx);
            }
        }
        let lost: Vec<(JobId, Addr)> =
            self.jobs.iter().filter(|(_, c)| now.since(c.last_heard) > timeout).map(|(j, c)| (*j, c.job_master)).collect();
        for (job_id, job_master) in lost {
            self.job_master_lost(cx, job_id, job_master);
        }
        for allocation_id in self.slots.timed_out(now, self.config.slot_timeout) {
            let reason = format!("The slot {allocation_id} has timed out.");
            cx.print(&format!("Free slot with allocation id {allocation_id} because: {reason}"));
            self.free_slot(cx, allocation_id, &reason);
        }
        for (job_id, conn) in &self.jobs {
            let tasks = self
                .tasks
                .values()
                .filter(|t| t.tdd.job_id == *job_id)
                .map(|t| (t.execution_id(), t.records_in(), t.records_out()))
                .collect();
            let io = self.tasks.values().filter(|t| t.tdd.job_id == *job_id).map(|t| (t.execution_id(), t.io_metrics(now))).collect();
            cx.send(
                conn.job_master,
                JobMasterGateway::TaskExecutorToJobManagerHeartbeat {
                    job_id: *job_id,
                    job_master_id: conn.job_master_id,
                    resource_id: self.config.resource_id.clone(),
                    tasks,
                    io,
                },
            );
        }
        for (target, n) in self.pending.expire(now - timeout) {
            cx.print(&format!("Dropped {n} batches for {target}: the task was not deployed here within {} ms.", timeout.as_millis()));
            self.lost_input.insert(target);
        }
        cx.set_timer(self.config.heartbeat_interval, HEARTBEAT_TIMER);
    }

    /// Flink's `disconnectJobManagerConnection` and the JobLeaderService's reconnect: the
    /// job's tasks fail, its slots stay the job's but inactive, and they are offered to the
    /// job master again. One that answers takes them back (it knows the allocations), so
    /// its restart deploys into them; a job master that is gone leaves them to time out
    /// (`slot_timeout`) and be freed. (Freeing them at once left a job master that had not
    /// noticed the silence deploying into slots this TaskExecutor no longer had, restart
    /// after restart.)
    fn job_master_lost(&mut self, cx: &mut Cx, job_id: JobId, job_master: Addr) {
        cx.print(&format!("The heartbeat of JobManager with id {job_master} timed out."));
        cx.trace("jm.lost", format!("{job_id} {job_master}"));
        let error = format!("JobManager for job {job_id} with leader address {job_master} lost leadership (heartbeat timed out).");
        let doomed: Vec<ExecutionAttemptId> = self.tasks.values().filter(|t| t.tdd.job_id == job_id).map(|t| t.execution_id()).collect();
        for id in doomed {
            self.end_task(cx, id, ExecutionState::Failed, Some(error.clone()));
        }
        let now = cx.now();
        let held = self.slots.mark_inactive(job_id, now);
        let Some(conn) = self.jobs.get_mut(&job_id) else { return };
        if held.is_empty() {
            self.jobs.remove(&job_id);
            return;
        }
        // Reconnected: the silence is counted afresh from here.
        conn.last_heard = now;
        let (job_master_id, job_master) = (conn.job_master_id, conn.job_master);
        cx.print(&format!("Offer reserved slots to the leader of job {job_id}."));
        let slots = held.into_iter().map(|(allocation_id, slot_index)| SlotOffer { allocation_id, slot_index }).collect();
        cx.send(job_master, JobMasterGateway::OfferSlots { job_id, job_master_id, resource_id: self.config.resource_id.clone(), slots });
    }

    // ---- data plane

    fn receive_data(&mut self, cx: &mut Cx, target: ExecutionAttemptId, batch: InputBatch) {
        if let Some(task) = self.tasks.get_mut(&target) {
            let from = batch.from;
            match task.gate.push(batch) {
                Ok(()) => {}
                Err(PushError::UnknownProducer(p)) => cx.trace("data.dropped", format!("{target}: {p} is not a producer")),
                Err(PushError::OutOfSequence(o)) => {
                    self.end_task(cx, target, ExecutionState::Failed, Some(lost_connection(from, "data", o)));
                }
            }
        } else if self.ended.contains(&target) {
            cx.trace("data.dropped", format!("{target} already ended"));
        } else if !self.pending.hold(target, batch, cx.now(), self.config.max_pending_batches_per_target) {
            if self.lost_input.insert(target) {
                cx.print(&format!("Too much data for {target}, which is not deployed here; dropping it."));
            }
            cx.trace("data.dropped", format!("{target} not deployed"));
        }
    }

    fn return_credit(&mut self, cx: &mut Cx, consumer: ExecutionAttemptId, credit: CreditReturn) {
        let me = cx.me();
        if credit.address == me {
            self.receive_credit(cx, me, credit.producer, consumer, credit.seq, 1);
        } else {
            cx.send(credit.address, NetworkMsg::Credit { target: credit.producer, source: consumer, seq: credit.seq, credits: 1 });
        }
    }

    /// Credits for `producer` from its consumer's TaskExecutor `from`; a credit out of sequence
    /// fails the producer. Returns whether the producer's partition took them.
    fn receive_credit(
        &mut self,
        cx: &mut Cx,
        from: Addr,
        producer: ExecutionAttemptId,
        consumer: ExecutionAttemptId,
        seq: u64,
        credits: u32,
    ) -> bool {
        let Some(p) = self.tasks.get_mut(&producer).and_then(|t| t.partition.as_mut()) else { return false };
        match p.add_credit(consumer, seq, credits) {
            Ok(took) => took,
            Err(o) => {
                self.end_task(cx, producer, ExecutionState::Failed, Some(lost_connection(from, "credit", o)));
                true
            }
        }
    }

    /// One pass over a task: process its input, return credits, ship its output, and end it
    /// if it finished. Returns whether anything happened.
    fn step_task(&mut self, cx: &mut Cx, id: ExecutionAttemptId) -> bool {
        let Some(task) = self.tasks.get_mut(&id) else { return false };
        let (credits, mut progress) = match task.process_input(cx) {
            Ok(r) => r,
            Err(e) => {
                self.end_task(cx, id, ExecutionState::Failed, Some(e));
                return true;
            }
        };
        let batches = task.partition.as_mut().map(|p| p.take_sendable()).unwrap_or_default();
        task.bytes_out += batches.iter().map(|s| s.batch.bytes).sum::<u64>();
        let done = task.is_done();
        for c in credits {
            self.return_credit(cx, id, c);
        }
        let me = cx.me();
        for s in batches {
            progress = true;
            let (elements, end_of_partition) = (s.batch.elements, s.batch.end_of_partition);
            if s.address == me {
                // A local channel: the consumer is right here, no network hop.
                let input = InputBatch { source: id, from: me, seq: s.seq, elements, end_of_partition };
                self.receive_data(cx, s.consumer, input);
            } else {
                cx.send(s.address, NetworkMsg::Data { target: s.consumer, source: id, seq: s.seq, elements, end_of_partition });
            }
        }
        if done {
            self.end_task(cx, id, ExecutionState::Finished, None);
            self.forget_idle_jobs();
            progress = true;
        }
        progress
    }

    /// Runs every task until none can make progress, then arms the work timer for the next
    /// source poll or processing-time timer.
    fn drive(&mut self, cx: &mut Cx) {
        self.run_until_idle(cx);
        self.account(cx);
        self.arm_work_timer(cx);
    }

    /// Each task's time accounting: what it does from now on (busy, backpressured, idle).
    fn account(&mut self, cx: &mut Cx) {
        let now = cx.now();
        for t in self.tasks.values_mut() {
            t.account(now);
        }
    }

    fn run_until_idle(&mut self, cx: &mut Cx) {
        loop {
            let ids = self.take_task_ids();
            let mut progress = false;
            for &id in &ids {
                progress |= self.step_task(cx, id);
            }
            self.pass_ids = ids;
            if !progress {
                break;
            }
        }
    }

    /// The current tasks' ids, in the buffer kept in `pass_ids` (give it back when done).
    fn take_task_ids(&mut self) -> Vec<ExecutionAttemptId> {
        let mut ids = std::mem::take(&mut self.pass_ids);
        ids.clear();
        ids.extend(self.tasks.keys().copied());
        ids
    }

    fn arm_work_timer(&mut self, cx: &mut Cx) {
        let next = self.tasks.values().filter_map(|t| t.next_wake()).min();
        if next != self.work_at {
            match next {
                Some(t) => cx.set_timer(t.since(cx.now()), WORK_TIMER),
                None => cx.cancel_timer(WORK_TIMER),
            }
            self.work_at = next;
        }
    }

    /// A wake-up: poll due sources and fire timers, letting local consumers run between
    /// rounds, until nothing is due or the round budget is spent (then the work timer brings
    /// us back right away, after whatever messages arrived meanwhile).
    fn work(&mut self, cx: &mut Cx) {
        self.work_at = None;
        let now = cx.now();
        for round in 0..SOURCE_ROUNDS_PER_WAKE {
            // A round after the first runs only if some source or timer is due again at this
            // instant (a source with more to emit): otherwise its polls would all decline and
            // its passes over the tasks find nothing to do, as the first round's last pass did.
            if round > 0 && !self.tasks.values().any(|t| t.is_due(now)) {
                break;
            }
            let ids = self.take_task_ids();
            let mut polled = false;
            for &id in &ids {
                let Some(task) = self.tasks.get_mut(&id) else { continue };
                let result = task.poll_source(cx, &self.config).and_then(|p| task.fire_timers(cx, &self.config).map(|t| p | t));
                match result {
                    Ok(p) => polled |= p,
                    Err(e) => self.end_task(cx, id, ExecutionState::Failed, Some(e)),
                }
            }
            self.pass_ids = ids;
            self.run_until_idle(cx);
            if !polled {
                break;
            }
        }
        self.account(cx);
        self.arm_work_timer(cx);
    }

    /// TriggerCheckpoint for one of our tasks; one that is not here (finished, failed, never
    /// deployed) declines as not ready, as Flink's TaskExecutor does.
    fn trigger_checkpoint(
        &mut self,
        cx: &mut Cx,
        from: Addr,
        (job_id, job_master_id): (JobId, JobMasterId),
        execution_id: ExecutionAttemptId,
        barrier: CheckpointBarrier,
    ) {
        let checkpoint_id = barrier.id;
        let Some(task) = self.tasks.get_mut(&execution_id).filter(|t| t.tdd.job_id == job_id) else {
            let reason = DeclineReason::CheckpointDeclinedTaskNotReady;
            let message = format!("{} Task {execution_id} is not running on TaskExecutor {}.", reason.message(), self.config.resource_id);
            cx.trace("checkpoint.decline", format!("{execution_id} {checkpoint_id} {reason:?}"));
            cx.send(from, JobMasterGateway::DeclineCheckpoint { job_id, job_master_id, execution_id, checkpoint_id, reason, message });
            return;
        };
        if let Err(e) = task.trigger_checkpoint(cx, barrier) {
            self.end_task(cx, execution_id, ExecutionState::Failed, Some(e));
        }
    }

    fn shutdown(&mut self, cx: &mut Cx, reason: &str) {
        cx.print(&format!("Stopping TaskExecutor {}: {reason}", self.config.resource_id));
        let ids: Vec<ExecutionAttemptId> = self.tasks.keys().copied().collect();
        for id in ids {
            self.end_task(cx, id, ExecutionState::Canceled, None);
        }
        cx.exit(0);
    }
}

impl TaskExecutor {
    /// Records and credits from other TaskExecutors.
    fn on_network(&mut self, cx: &mut Cx, from: Addr, msg: NetworkMsg) {
        match msg {
            NetworkMsg::Data { target, source, seq, elements, end_of_partition } => {
                self.receive_data(cx, target, InputBatch { source, from, seq, elements, end_of_partition });
                self.drive(cx);
            }
            NetworkMsg::Credit { target, source, seq, credits } => {
                if self.receive_credit(cx, from, target, source, seq, credits) {
                    self.drive(cx);
                }
            }
        }
    }
}

impl Node for TaskExecutor {
    /// A checkpoint's state file is written (or failed): its task acknowledges (or declines),
    /// and may now finish if its input had ended meanwhile. A task that is gone (failed,
    /// canceled) takes no acknowledgement: the coordinator gives up on that checkpoint.
    fn on_store_written(&mut self, cx: &mut Cx, write: u64, result: Result<u64, String>) {
        if let Some(task) = self.tasks.values_mut().find(|t| t.has_async_part(write)) {
            task.store_written(cx, write, result);
        }
        self.drive(cx);
    }

    fn on_start(&mut self, cx: &mut Cx) {
        self.me = Some(cx.me());
        let rm = match (&self.config.leader_retrieval, self.config.resource_manager) {
            (Some(l), _) => format!("leader retrieval through ZooKeeper {} ({})", l.quorum, l.cluster_id),
            (None, Some((a, id))) => format!("{a} (ResourceManagerId {id})"),
            (None, None) => "unknown".into(),
        };
        cx.print(&format!(
            "Starting TaskExecutor {} with {} slots ({} MB), ResourceManager at {rm}",
            self.config.resource_id, self.config.num_slots, self.config.memory_mb
        ));
        if let Some(l) = self.config.leader_retrieval.clone() {
            let mut zk = ZkClient::new(l.quorum, l.session_timeout_ms);
            zk.connect(cx);
            self.zk = Some(zk);
            cx.set_timer(Self::zk_tick(&l), ZK_TIMER);
        }
        self.register(cx);
        cx.set_timer(self.config.heartbeat_interval, HEARTBEAT_TIMER);
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let msg = match msg.downcast::<NetworkMsg>() {
            Ok(net) => return self.on_network(cx, from, net),
            Err(other) => other,
        };
        let msg = match msg.downcast::<ZkMsg>() {
            Ok(z) => return self.on_zk(cx, from, z),
            Err(other) => other,
        };
        let Ok(msg) = msg.downcast::<TaskExecutorGateway>() else { return };
        // Fencing by token, not by sender address: a zombie JobManager (a paused AM, the
        // previous attempt) may send from any address, even one a new leader reuses.
        let token = msg.fencing_token();
        if let Err(expected) = self.check_fencing(token) {
            let kind = engine::msg::Wire::kind(&msg);
            let got = match token {
                FencingToken::ResourceManager(id) => id.to_string(),
                FencingToken::JobMaster(_, id) => id.to_string(),
            };
            match &expected {
                Some(e) => cx.print(&format!(
                    "Fencing token mismatch: Ignoring message {kind} from {from} because the fencing token {got} did not match the expected fencing token {e}."
                )),
                None => cx.print(&format!(
                    "Fencing token not set: Ignoring message {kind} from {from} sent to {} because the fencing token is null.",
                    cx.me()
                )),
            }
            cx.trace("fenced", format!("{from} {kind} {got} {}", expected.as_deref().unwrap_or("null")));
            return;
        }
        // What a leader made this TaskExecutor do, with the token it did it under (heartbeats
        // aside): the trace shows which epoch every command and commit belongs to.
        if !matches!(msg, TaskExecutorGateway::HeartbeatAck { .. } | TaskExecutorGateway::JobManagerHeartbeat { .. }) {
            let t = match token {
                FencingToken::ResourceManager(id) => id.to_string(),
                FencingToken::JobMaster(_, id) => id.to_string(),
            };
            cx.trace("leader.command", format!("{from} {t} {}", engine::msg::Wire::kind(&msg)));
        }
        match msg {
            TaskExecutorGateway::RegistrationSuccess { resource_manager, .. } => {
                if !self.is_registered() {
                    cx.print(&format!("Successful registration at resource manager {resource_manager}"));
                }
                cx.cancel_timer(REGISTRATION_TIMER);
                self.rm = ResourceManagerConnection::Registered { resource_manager, last_heard: cx.now() };
                self.heartbeat_rm(cx);
            }
            TaskExecutorGateway::RegistrationRejected { reason, .. } => {
                cx.print(&format!("The registration at ResourceManager {from} was rejected: {reason}"));
                cx.exit(1);
            }
            TaskExecutorGateway::HeartbeatAck { .. } => self.heard_from_rm(cx, from),
            TaskExecutorGateway::RequestSlot { slot_index, allocation_id, job_id, job_master, job_master_id, .. } => {
                self.heard_from_rm(cx, from);
                self.request_slot(cx, slot_index, SlotAllocation { allocation_id, job_id, job_master }, job_master_id);
            }
            TaskExecutorGateway::Shutdown { reason, .. } => self.shutdown(cx, &reason),
            TaskExecutorGateway::AcceptSlots { job_id, accepted, rejected, .. } => {
                self.touch_job(cx, job_id);
                let now = cx.now();
                for a in accepted {
                    if self.slots.mark_active(a, job_id, now) {
                        cx.trace("slot.active", a);
                    }
                }
                // Flink's offerSlotsToJobManager frees what the job master did not take; an
                // accepted (Active) slot is not given up by a late answer to an older offer.
                for a in rejected {
                    if self.slots.is_inactive(a) && self.slots.is_allocated(a, job_id) {
                        self.free_slot(cx, a, "The slot was rejected by the JobManager.");
                    }
                }
                self.drive(cx);
            }
            TaskExecutorGateway::SubmitTask { tdd, job_master_id } => {
                if tdd.job_master_id != job_master_id {
                    // The descriptor names where states go; it must be the sender's own id.
                    cx.print(&format!("Refusing task {}: its descriptor's JobMasterId differs from the message's.", tdd.execution_id));
                    return;
                }
                self.submit_task(cx, *tdd)
            }
            TaskExecutorGateway::CancelTask { job_id, execution_id, .. } => {
                if let Some(job) = self.tasks.get(&execution_id).map(|t| t.tdd.job_id).filter(|j| *j == job_id) {
                    self.touch_job(cx, job);
                    self.end_task(cx, execution_id, ExecutionState::Canceled, None);
                    self.drive(cx);
                }
            }
            TaskExecutorGateway::FreeSlot { job_id, allocation_id, reason, .. } => {
                if !self.slots.allocations_of(job_id).contains(&allocation_id) {
                    cx.trace("slot.free.ignored", format!("{allocation_id} is not an allocation of {job_id}"));
                    return;
                }
                self.free_slot(cx, allocation_id, &reason);
                self.drive(cx);
            }
            TaskExecutorGateway::JobManagerHeartbeat { job_id, job_master_id, allocated_slots } => {
                self.touch_job(cx, job_id);
                self.sync_slots_with_job_master(cx, job_id, job_master_id, &allocated_slots);
                self.drive(cx);
            }
            TaskExecutorGateway::TriggerCheckpoint { job_id, job_master_id, execution_id, checkpoint_id, timestamp, options } => {
                self.touch_job(cx, job_id);
                let barrier = CheckpointBarrier { id: checkpoint_id, timestamp, options };
                self.trigger_checkpoint(cx, from, (job_id, job_master_id), execution_id, barrier);
                self.drive(cx);
            }
            TaskExecutorGateway::NotifyCheckpointComplete { job_id, execution_id, checkpoint_id, .. } => {
                self.touch_job(cx, job_id);
                match self.tasks.get_mut(&execution_id).filter(|t| t.tdd.job_id == job_id) {
                    Some(task) => {
                        if let Err(e) = task.notify_checkpoint_complete(cx, checkpoint_id) {
                            self.end_task(cx, execution_id, ExecutionState::Failed, Some(e));
                        }
                    }
                    // It finished: its pending files went to the JobMaster with FINISHED.
                    None => cx.trace("checkpoint.notify.ignored", format!("{execution_id} {checkpoint_id}")),
                }
                self.drive(cx);
            }
            TaskExecutorGateway::NotifyCheckpointAborted { job_id, execution_id, checkpoint_id, .. } => {
                self.touch_job(cx, job_id);
                if let Some(task) = self.tasks.get_mut(&execution_id).filter(|t| t.tdd.job_id == job_id) {
                    if let Err(e) = task.notify_checkpoint_aborted(cx, checkpoint_id) {
                        self.end_task(cx, execution_id, ExecutionState::Failed, Some(e));
                    }
                }
                self.drive(cx);
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        match timer {
            REGISTRATION_TIMER if !self.is_registered() => self.register(cx),
            HEARTBEAT_TIMER => self.heartbeat_tick(cx),
            WORK_TIMER => self.work(cx),
            ZK_TIMER => {
                if let (Some(zk), Some(l)) = (self.zk.as_mut(), self.config.leader_retrieval.clone()) {
                    let evs = zk.tick(cx);
                    self.on_zk_events(cx, evs);
                    cx.set_timer(Self::zk_tick(&l), ZK_TIMER);
                }
            }
            _ => {}
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}
