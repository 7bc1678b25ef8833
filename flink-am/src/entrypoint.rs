//! The cluster entrypoint as one YARN ApplicationMaster node: YarnSessionClusterEntrypoint,
//! YarnApplicationClusterEntrypoint or YarnJobClusterEntrypoint by [`AmMode`]. It hosts the
//! Dispatcher (with its JobMasters) and the ResourceManager in one process and routes what
//! one component tells another explicitly, in the order it was said (JobMaster declarations
//! to the ResourceManager; lost TaskManagers and unavailable resources to JobMasters).

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use engine::{Addr, Cx, Msg, Node, Time, TimerId};
use flink_core::{JobGraph, JobId, JobMasterGateway, JobStatus, JobVertexId, ResourceManagerGateway, TaskExecutorGateway};
use serde_json::Value;
use yarn_sim::ids::ContainerId;
use yarn_sim::proto::{env as yarn_env, YarnMsg};
use yarn_sim::records::FinalApplicationStatus;

use crate::async_ops::{AsyncOperations, OperationKind, TriggerId};
use crate::config::{AmConfig, AmMode};
use crate::dispatcher::Dispatcher;
use crate::jobmaster::JmEvent;
use crate::resourcemanager::yarn_driver::{user_of, DriverConfig, WorkerResourceSpec, YarnResourceManagerDriver};
use crate::resourcemanager::{ActiveResourceManager, RmConfig, RmEvent};
use crate::webmonitor;

const T_YARN_HEARTBEAT: TimerId = 1;
const T_RM_TICK: TimerId = 2;
const T_HA_TICK: TimerId = 3;

/// Where the AM is in its life.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AmPhase {
    /// Not started (or the start failed).
    New,
    /// HA: contending for leadership; nothing is registered or run until it is granted.
    WaitingForLeadership,
    Running,
    /// Deregistering from YARN with this final status; exits when YARN acknowledges.
    Unregistering {
        status: FinalApplicationStatus,
        diagnostics: String,
    },
    Exited,
}

pub struct FlinkAppMaster {
    cfg: AmConfig,
    phase: AmPhase,
    dispatcher: Dispatcher,
    rm: Option<ActiveResourceManager>,
    /// The interval the AMRM heartbeat timer is armed with.
    armed_yarn_interval: u64,
    startup_error: Option<String>,
    /// Savepoints, stops and checkpoints triggered over REST, by (job, trigger id).
    operations: AsyncOperations,
    /// HA services (leader election, JobGraph/checkpoint/result stores) when HA is on.
    ha: Option<crate::ha::HaServices>,
    /// HA: the leader recovered its jobs (application jobs wait for this).
    recovered: bool,
    /// When this process last handled a message or timer (see `lease_lost`).
    last_active: Option<Time>,
}

/// A request REST refuses before anything changes: HTTP status and Flink's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

impl Refused {
    fn new(status: u16, message: impl Into<String>) -> Refused {
        Refused { status, message: message.into() }
    }
    fn job_not_found(id: &JobId) -> Refused {
        Refused::new(404, format!("org.apache.flink.runtime.rest.NotFoundException: Job {id} not found"))
    }
}

impl FlinkAppMaster {
    pub fn new(cfg: AmConfig) -> FlinkAppMaster {
        let dispatcher = Dispatcher::new(cfg.heartbeat_interval_ms, cfg.heartbeat_timeout_ms);
        FlinkAppMaster {
            cfg,
            phase: AmPhase::New,
            dispatcher,
            rm: None,
            armed_yarn_interval: 0,
            startup_error: None,
            operations: AsyncOperations::default(),
            ha: None,
            recovered: false,
            last_active: None,
        }
    }

    pub fn ha(&self) -> Option<&crate::ha::HaServices> {
        self.ha.as_ref()
    }

    /// Entry: with HA, contend for leadership first (`start` runs once it is granted).
    fn start_or_contend(&mut self, cx: &mut Cx) -> Result<(), String> {
        let Some(mut ha_cfg) = self.cfg.ha.clone() else {
            let attempt = self.cfg.env.get(yarn_env::CONTAINER_ID).and_then(|c| c.parse::<ContainerId>().ok()).map(|c| c.attempt.attempt);
            if attempt.is_some_and(|a| a > 1) {
                match self.cfg.mode {
                    AmMode::Session => cx.print(
                        "WARN  High availability is not configured (high-availability.type: NONE): the jobs of the previous attempt cannot be recovered and are lost.",
                    ),
                    _ => cx.print("WARN  High availability is not configured: the application's main() runs again and its jobs start from scratch."),
                }
            }
            return self.start(cx);
        };
        self.cfg.validate()?;
        let cid: ContainerId = self.cfg.env.get(yarn_env::CONTAINER_ID).ok_or("CONTAINER_ID not set in the environment")?.parse()?;
        if ha_cfg.cluster_id.is_empty() {
            // FLINK-20866: on YARN the cluster id defaults to the application id.
            ha_cfg.cluster_id = cid.attempt.app.to_string();
            self.cfg.ha = Some(ha_cfg.clone());
        }
        engine::store::check_path(&ha_cfg.storage_dir)
            .map_err(|e| format!("Invalid high-availability.storageDir '{}': {e}", ha_cfg.storage_dir))?;
        cx.print(&format!("INFO  Starting {} (attempt {}) with high availability.", self.cfg.mode.name(), cid.attempt.attempt));
        let mut ha = crate::ha::HaServices::new(ha_cfg);
        ha.start(cx, cx.me());
        self.ha = Some(ha);
        self.dispatcher.ha = true;
        self.phase = AmPhase::WaitingForLeadership;
        cx.set_timer(Duration::from_millis(self.ha_tick_ms()), T_HA_TICK);
        Ok(())
    }

    /// HA: whether the leader's ZooKeeper session may be gone (then leadership is revoked and
    /// the process ends here). Checked before anything else a leader does, so that a process
    /// resumed after a long pause never acts on its overdue timers or queued messages while a
    /// newer leader may already be granted.
    fn lease_lost(&mut self, cx: &mut Cx) -> bool {
        let Some(ha) = self.ha.as_mut() else { return false };
        let was = self.last_active.replace(cx.now());
        if !ha.is_leader() {
            return false;
        }
        // The HA tick runs every 1/6 of the session timeout: a longer silence means this
        // process did not run (paused, starved). Messages delivered now may be old (a pong
        // sent before the pause), so they prove nothing about the session: give up first.
        let limit = std::time::Duration::from_millis(ha.cfg.session_timeout_ms * 2 / 3);
        match was.map(|w| cx.now().since(w)) {
            Some(idle) if idle > limit => ha.suspend(
                cx,
                format!("this process did not run for {} ms, its ZooKeeper session may have expired meanwhile", idle.as_millis()),
            ),
            _ => ha.check_lease(cx),
        }
        if ha.has_events() {
            self.route(cx);
        }
        self.phase == AmPhase::Exited
    }

    fn ha_tick_ms(&self) -> u64 {
        self.cfg.ha.as_ref().map(|h| (h.session_timeout_ms / 6).clamp(10, 1_000)).unwrap_or(1_000)
    }

    /// Acts on what the HA services report.
    fn on_ha_events(&mut self, cx: &mut Cx) {
        let Some(ha) = self.ha.as_mut() else { return };
        for ev in ha.take_events() {
            match ev {
                crate::ha::HaEvent::Granted { .. } => {
                    if self.phase != AmPhase::WaitingForLeadership {
                        continue;
                    }
                    if let Err(e) = self.start(cx) {
                        self.fail_start(cx, e);
                        return;
                    }
                    if let Some(ha) = self.ha.as_mut() {
                        ha.recover(cx);
                    }
                }
                crate::ha::HaEvent::Recovered(jobs) => {
                    let n = jobs.len();
                    let mut ids = Vec::new();
                    for job in jobs {
                        match self.dispatcher.recover_job(cx, job) {
                            Ok(id) => ids.push(id),
                            Err(e) => {
                                self.fatal(cx, &format!("Could not recover the persisted job graphs: {e}"));
                                return;
                            }
                        }
                    }
                    cx.print(&format!("INFO  Successfully recovered {n} persisted job graphs."));
                    self.recovered = true;
                    let queued = match self.cfg.mode.clone() {
                        AmMode::Session => Vec::new(),
                        AmMode::PerJob { job } => vec![job],
                        AmMode::Application { jobs } => jobs,
                    };
                    let fresh: Vec<JobGraph> = queued.into_iter().filter(|g| !ids.contains(&g.job_id)).collect();
                    for id in &ids {
                        if self.cfg.mode != AmMode::Session {
                            cx.print(&format!("INFO  Job {id} was recovered successfully."));
                        }
                    }
                    if !fresh.is_empty() {
                        for g in &fresh {
                            if let Some(ha) = self.ha.as_mut() {
                                if let Err(e) = ha.put_job_graph(cx, g) {
                                    self.fatal(cx, &e);
                                    return;
                                }
                            }
                        }
                        if let Err(e) = self.dispatcher.run_in_order(cx, fresh) {
                            self.fatal(cx, &e);
                            return;
                        }
                    }
                }
                crate::ha::HaEvent::Unreachable(e) => {
                    self.fatal(cx, &e);
                    return;
                }
                crate::ha::HaEvent::RecoveryFailed(e) => {
                    self.fatal(cx, &format!("Could not recover the persisted job graphs: {e}"));
                    return;
                }
                crate::ha::HaEvent::Revoked { reason } => {
                    // One election per process: losing it suspends every component; a YARN
                    // AM then ends so that the next attempt (or the current leader) takes over.
                    for jm in self.dispatcher.jobs_mut() {
                        if !jm.status.is_globally_terminal() {
                            cx.print(&format!("INFO  Job {} switched from state {} to SUSPENDED.", jm.job_id(), jm.status.name()));
                        }
                    }
                    self.fatal(cx, &format!("The leadership of this JobManager was revoked ({reason})."));
                    return;
                }
                crate::ha::HaEvent::CheckpointPersisted { job, id } => {
                    if let Some(jm) = self.dispatcher.job_mut(&job) {
                        jm.checkpoints.persisted(cx, id);
                    }
                }
                crate::ha::HaEvent::CheckpointPersistFailed { job, id, error } => {
                    if let Some(jm) = self.dispatcher.job_mut(&job) {
                        jm.checkpoints.persist_failed(cx, id, &error);
                    }
                }
            }
        }
    }

    /// Hands completed checkpoints and checkpoint-id counters to the HA stores.
    fn sync_ha_stores(&mut self, cx: &mut Cx) {
        let Some(ha) = self.ha.as_mut() else { return };
        if !ha.is_leader() {
            return;
        }
        for jm in self.dispatcher.jobs_mut() {
            let job = jm.job_id();
            for (id, location, retained) in jm.checkpoints.take_to_persist() {
                ha.put_checkpoint(cx, job, id, &location, &retained);
            }
            if !jm.status.is_globally_terminal() {
                ha.update_counter(cx, job, jm.checkpoints.next_checkpoint_id());
            }
        }
    }

    fn fatal(&mut self, cx: &mut Cx, e: &str) {
        cx.print(&format!("ERROR Fatal error occurred in the cluster entrypoint: {e}"));
        self.startup_error.get_or_insert_with(|| e.to_string());
        self.phase = AmPhase::Exited;
        cx.exit(1);
    }

    fn fail_start(&mut self, cx: &mut Cx, e: String) {
        cx.print(&format!("ERROR Could not start cluster entrypoint {}: {e}", self.cfg.mode.name()));
        self.startup_error = Some(e.clone());
        if let Some(rm) = self.rm.as_mut() {
            // Registered (or registering): tell YARN why, then exit when it acknowledges.
            rm.deregister(cx, FinalApplicationStatus::Failed, &e);
            self.phase = AmPhase::Unregistering { status: FinalApplicationStatus::Failed, diagnostics: e };
        } else {
            self.phase = AmPhase::Exited;
            cx.exit(1);
        }
    }

    pub fn config(&self) -> &AmConfig {
        &self.cfg
    }

    pub fn phase(&self) -> &AmPhase {
        &self.phase
    }

    pub fn startup_error(&self) -> Option<&str> {
        self.startup_error.as_deref()
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.dispatcher
    }

    /// For tests that drive a JobMaster directly (savepoints); callers route nothing.
    #[cfg(test)]
    pub fn dispatcher_mut(&mut self) -> &mut Dispatcher {
        &mut self.dispatcher
    }

    pub fn resource_manager(&self) -> Option<&ActiveResourceManager> {
        self.rm.as_ref()
    }

    /// This AM's YARN container id (its attempt's AM container).
    pub fn container_id(&self) -> Option<&str> {
        self.cfg.env.get(yarn_env::CONTAINER_ID).map(|s| s.as_str())
    }

    fn start(&mut self, cx: &mut Cx) -> Result<(), String> {
        self.cfg.validate()?;
        let cid: ContainerId = self.cfg.env.get(yarn_env::CONTAINER_ID).ok_or("CONTAINER_ID not set in the environment")?.parse()?;
        let yarn_rm: Addr = self
            .cfg
            .env
            .get(yarn_env::YARN_RM_ADDRESS)
            .ok_or("YARN_RM_ADDRESS not set in the environment")?
            .parse()
            .map_err(|e| format!("bad YARN_RM_ADDRESS: {e}"))?;
        let host = self.cfg.env.get(yarn_env::NM_HOST).cloned().unwrap_or_else(|| cx.me().ip().to_string());
        cx.print(&format!("INFO  Starting {}.", self.cfg.mode.name()));
        // The fencing tokens: with HA the granted leader session id (the ResourceManager's and
        // every JobMaster's, one election per process), without a random id per start, so the
        // TaskManagers of an earlier AM never take commands from this one or the reverse.
        let session = self.ha.as_ref().and_then(|h| h.leader_session_id());
        let rm_id = match session {
            Some(s) => {
                flink_core::ResourceManagerId::from_leader_session_id(s).ok_or_else(|| format!("malformed leader session id {s}"))?
            }
            None => flink_core::ResourceManagerId::random(cx),
        };
        self.dispatcher.leader_id = session.and_then(flink_core::JobMasterId::from_leader_session_id);
        cx.print(&format!("INFO  ResourceManager fencing token {rm_id}."));
        // The epoch this process acts in, for checks over the trace (never two processes
        // acting with one token, never an older token obeyed after a newer one was granted).
        cx.trace("fencing.token", rm_id);
        let driver_cfg = DriverConfig {
            taskexec_command: self.cfg.taskexec_command.clone(),
            heartbeat_interval_ms: self.cfg.heartbeat_interval_ms,
            heartbeat_timeout_ms: self.cfg.heartbeat_timeout_ms,
            yarn_heartbeat_ms: self.cfg.yarn_heartbeat_ms,
            container_request_heartbeat_ms: self.cfg.container_request_heartbeat_ms,
            start_container_timeout_ms: self.cfg.start_container_timeout_ms,
            user: user_of(&self.cfg.env),
            tm_local_resources: self.cfg.tm_local_resources.clone(),
            resource_manager_id: rm_id,
            ha_env: self.cfg.ha.as_ref().map(|h| {
                use flink_core::zookeeper::env as ha_env;
                BTreeMap::from([
                    (ha_env::FLINK_HA_ZOOKEEPER_QUORUM.to_string(), h.quorum.to_string()),
                    (ha_env::FLINK_HA_CLUSTER_ID.to_string(), h.cluster_id.clone()),
                    (ha_env::FLINK_HA_ZOOKEEPER_ROOT.to_string(), h.root.clone()),
                    (ha_env::FLINK_HA_SESSION_TIMEOUT_MS.to_string(), h.session_timeout_ms.to_string()),
                ])
            }),
        };
        let mut driver = YarnResourceManagerDriver::new(driver_cfg, yarn_rm, cid.attempt);
        driver.register(cx, &host, cx.me().port() as i32, &self.cfg.tracking_url.clone());
        let rm_cfg = RmConfig {
            spec: WorkerResourceSpec { memory_mb: self.cfg.tm_memory_mb, vcores: self.cfg.tm_vcores, num_slots: self.cfg.slots_per_tm },
            heartbeat_interval_ms: self.cfg.heartbeat_interval_ms,
            heartbeat_timeout_ms: self.cfg.heartbeat_timeout_ms,
            registration_timeout_ms: self.cfg.registration_timeout_ms,
            idle_tm_timeout_ms: self.cfg.idle_tm_timeout_ms,
            start_worker_max_failure_rate: self.cfg.start_worker_max_failure_rate,
            start_worker_retry_interval_ms: self.cfg.start_worker_retry_interval_ms,
        };
        self.rm = Some(ActiveResourceManager::new(rm_cfg, driver, rm_id));
        self.phase = AmPhase::Running;
        self.armed_yarn_interval = self.cfg.yarn_heartbeat_ms;
        cx.set_timer(Duration::from_millis(self.armed_yarn_interval), T_YARN_HEARTBEAT);
        cx.set_timer(Duration::from_millis(self.tick_ms()), T_RM_TICK);
        if self.ha.is_some() {
            // The jobs run once the Dispatcher recovered what the previous leader left.
            return Ok(());
        }
        match self.cfg.mode.clone() {
            AmMode::Session => {}
            AmMode::PerJob { job } => self.dispatcher.run_in_order(cx, vec![job])?,
            AmMode::Application { jobs } => {
                if jobs.is_empty() {
                    return Err("The application contains no jobs.".into());
                }
                self.dispatcher.run_in_order(cx, jobs)?
            }
        }
        Ok(())
    }

    fn tick_ms(&self) -> u64 {
        self.cfg.heartbeat_interval_ms.clamp(1, 1_000)
    }

    /// True while this JobManager cannot take jobs because it is not (yet) the leader, or leads
    /// but has not recovered the previous leader's jobs: Flink's REST answers 503 then, and
    /// clients retry.
    pub fn awaiting_leadership(&self) -> bool {
        self.phase == AmPhase::WaitingForLeadership || (self.ha.is_some() && !self.recovered && self.phase == AmPhase::Running)
    }

    /// Submits a job (session mode REST `POST /jobs`; any mode accepts it while running).
    pub fn submit_job(&mut self, cx: &mut Cx, graph: JobGraph) -> Result<JobId, String> {
        if self.awaiting_leadership() {
            return Err("This JobManager is not the leader (yet); no jobs are accepted.".into());
        }
        if self.phase != AmPhase::Running {
            return Err("The cluster is shutting down; no jobs are accepted.".into());
        }
        if let Some(ha) = self.ha.as_mut() {
            graph.validate().map_err(|e| format!("Failed to submit job {}: {e}", graph.job_id))?;
            if self.dispatcher.contains(&graph.job_id) {
                return Err("Job has already been submitted.".into());
            }
            ha.put_job_graph(cx, &graph)?;
        }
        let r = self.dispatcher.submit_job(cx, graph);
        self.route(cx);
        r
    }

    /// Cancels a job (`PATCH /jobs/:id?mode=cancel`).
    pub fn cancel_job(&mut self, cx: &mut Cx, id: JobId) -> Result<(), String> {
        let r = self.dispatcher.cancel_job(cx, &id);
        self.route(cx);
        r
    }

    /// Shuts the cluster down (`DELETE /cluster`): cancels running jobs, stops the
    /// TaskManagers, deregisters from YARN and exits once YARN acknowledges.
    pub fn shutdown_cluster(&mut self, cx: &mut Cx) {
        if self.phase != AmPhase::Running {
            return;
        }
        cx.print("INFO  Shutting down the cluster.");
        self.dispatcher.clear_queue();
        self.dispatcher.cancel_all(cx);
        let (status, diagnostics) = match self.cfg.mode {
            AmMode::Session => (FinalApplicationStatus::Succeeded, String::new()),
            _ => self.application_outcome(true),
        };
        self.finish(cx, status, diagnostics);
        self.route(cx);
    }

    /// The application's final status from its jobs: FAILED if any failed, KILLED if any was
    /// canceled (or is being canceled by a shutdown), SUCCEEDED otherwise.
    fn application_outcome(&self, shutting_down: bool) -> (FinalApplicationStatus, String) {
        let jobs: Vec<_> = self.dispatcher.jobs().collect();
        if let Some(j) = jobs.iter().find(|j| j.status == JobStatus::Failed) {
            let cause = j.failure_cause.clone().unwrap_or_default();
            return (FinalApplicationStatus::Failed, format!("Job {} ({}) failed.\n{cause}", j.graph.name, j.graph.job_id));
        }
        if let Some(j) = jobs.iter().find(|j| j.status == JobStatus::Canceled || (shutting_down && !j.status.is_globally_terminal())) {
            return (FinalApplicationStatus::Killed, format!("Job {} ({}) was canceled.", j.graph.name, j.graph.job_id));
        }
        (FinalApplicationStatus::Succeeded, String::new())
    }

    fn finish(&mut self, cx: &mut Cx, status: FinalApplicationStatus, diagnostics: String) {
        if self.phase != AmPhase::Running {
            return;
        }
        if let Some(rm) = self.rm.as_mut() {
            rm.stop_all_workers(cx);
            rm.deregister(cx, status, &diagnostics);
        }
        self.phase = AmPhase::Unregistering { status, diagnostics };
    }

    fn on_job_terminated(&mut self, cx: &mut Cx, job_id: JobId, status: JobStatus) {
        cx.print(&format!("INFO  Job {job_id} reached terminal state {}.", status.name()));
        if self.cfg.mode == AmMode::Session || self.phase != AmPhase::Running {
            return;
        }
        if status == JobStatus::Finished && self.dispatcher.has_queued() {
            if let Err(e) = self.dispatcher.submit_next(cx) {
                cx.print(&format!("ERROR Could not submit the application's next job: {e}"));
                self.finish(cx, FinalApplicationStatus::Failed, e);
            }
            return;
        }
        let dropped = self.dispatcher.clear_queue();
        if dropped > 0 {
            cx.print(&format!("INFO  {dropped} remaining jobs of the application will not run."));
        }
        if self.dispatcher.all_terminal() {
            let (st, diag) = self.application_outcome(false);
            cx.print(&format!("INFO  Application completed. Final status {st}."));
            self.finish(cx, st, diag);
        }
    }

    /// Delivers what the components told each other until nothing is left to say.
    fn route(&mut self, cx: &mut Cx) {
        loop {
            self.on_ha_events(cx);
            if self.phase == AmPhase::Exited {
                return;
            }
            self.sync_ha_stores(cx);
            self.poll_operations(cx);
            let jm_events = self.dispatcher.take_events();
            let rm_events = self.rm.as_mut().map(|r| r.take_events()).unwrap_or_default();
            if jm_events.is_empty() && rm_events.is_empty() {
                if self.ha.as_mut().is_some_and(|h| h.has_events()) {
                    continue;
                }
                break;
            }
            for ev in jm_events {
                match ev {
                    JmEvent::Declare { job_id, job_master, job_master_id, slots } => {
                        if let Some(rm) = self.rm.as_mut() {
                            rm.declare_resource_requirements(cx, job_id, job_master, job_master_id, slots);
                        }
                    }
                    JmEvent::Terminated { job_id, status } => {
                        if let Some(ha) = self.ha.as_mut() {
                            ha.job_terminated(cx, job_id, status.name());
                        }
                        self.on_job_terminated(cx, job_id, status)
                    }
                }
            }
            for ev in rm_events {
                match ev {
                    RmEvent::Registered => cx.print("INFO  ResourceManager registered with YARN and is ready to serve."),
                    RmEvent::ResourcesUnavailable { job_id, reason } => {
                        if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                            jm.resources_unavailable(cx, &reason);
                        }
                    }
                    RmEvent::TaskManagerLost { resource_id, cause } => {
                        for jm in self.dispatcher.jobs_mut() {
                            jm.task_manager_lost(cx, &resource_id, &cause);
                        }
                    }
                    RmEvent::Fatal(e) => {
                        cx.print(&format!("ERROR Fatal error occurred in the cluster entrypoint: {e}"));
                        self.phase = AmPhase::Exited;
                        cx.exit(1);
                    }
                    RmEvent::Unregistered => {
                        cx.print("INFO  Terminating cluster entrypoint process with exit code 0.");
                        self.phase = AmPhase::Exited;
                        cx.exit(0);
                    }
                }
            }
        }
        // Requests just went pending: heartbeat fast now rather than at the old pace.
        if let Some(rm) = self.rm.as_ref() {
            let want = rm.driver.heartbeat_interval_ms();
            if want < self.armed_yarn_interval {
                self.armed_yarn_interval = want;
                cx.set_timer(Duration::from_millis(want), T_YARN_HEARTBEAT);
            }
        }
    }

    /// The task metrics that ride on state updates and heartbeats, kept by the job's
    /// JobMaster for REST and the dashboard (only for executions of its current graph).
    fn record_task_io(&mut self, cx: &mut Cx, msg: &JobMasterGateway) {
        let now = cx.now();
        if let JobMasterGateway::UpdateTaskExecutionState { job_id, execution_id, io, .. } = msg {
            if let Some(jm) = self.dispatcher.job_mut(job_id) {
                jm.record_io(now, &[(*execution_id, *io)]);
            }
        } else if let JobMasterGateway::TaskExecutorToJobManagerHeartbeat { job_id, io, .. } = msg {
            if let Some(jm) = self.dispatcher.job_mut(job_id) {
                jm.record_io(now, io);
            }
        }
    }

    /// Messages to a JobMaster, routed by job id (the Dispatcher's role for RPC addressing).
    /// Each carries the JobMasterId its sender knows for the job; one for another JobMaster
    /// (a task of the previous leader's deployment, an ack for an older leader's checkpoint)
    /// is dropped, as Flink's fenced JobMaster endpoint does.
    fn on_job_master_gateway(&mut self, cx: &mut Cx, from: Addr, msg: JobMasterGateway) {
        let (job_id, token) = msg.fencing_token();
        if let Some(expected) = self.dispatcher.job(&job_id).map(|jm| jm.id).filter(|id| *id != token) {
            let kind = engine::msg::Wire::kind(&msg);
            cx.print(&format!(
                "DEBUG Fencing token mismatch: Ignoring message {kind} from {from} because the fencing token {token} did not match the expected fencing token {expected}."
            ));
            cx.trace("fenced", format!("{from} {kind} {token} {expected}"));
            return;
        }
        match msg {
            JobMasterGateway::OfferSlots { job_id, job_master_id, resource_id, slots } => match self.dispatcher.job_mut(&job_id) {
                Some(jm) => jm.offer_slots(cx, from, resource_id, slots),
                None => {
                    let rejected = slots.iter().map(|s| s.allocation_id).collect();
                    cx.send(from, TaskExecutorGateway::AcceptSlots { job_id, job_master_id, accepted: Vec::new(), rejected })
                }
            },
            JobMasterGateway::UpdateTaskExecutionState {
                job_id,
                execution_id,
                state,
                error,
                records_in,
                records_out,
                committables,
                ..
            } => {
                if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                    jm.update_task_execution_state(cx, execution_id, state, error, (records_in, records_out), committables);
                }
            }
            JobMasterGateway::TaskExecutorToJobManagerHeartbeat { job_id, resource_id, tasks, .. } => {
                if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                    jm.task_executor_heartbeat(cx, &resource_id, &tasks);
                }
            }
            JobMasterGateway::FailSlot { job_id, resource_id, allocation_id, cause, .. } => {
                if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                    jm.fail_slot(cx, &resource_id, allocation_id, &cause);
                }
            }
            JobMasterGateway::ResourcesUnavailable { job_id, reason, .. } => {
                if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                    jm.resources_unavailable(cx, &reason);
                }
            }
            JobMasterGateway::AcknowledgeCheckpoint { job_id, execution_id, checkpoint_id, metrics, state, .. } => {
                if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                    jm.acknowledge_checkpoint(cx, execution_id, checkpoint_id, metrics, state);
                }
            }
            JobMasterGateway::DeclineCheckpoint { job_id, execution_id, checkpoint_id, reason, message, .. } => {
                if let Some(jm) = self.dispatcher.job_mut(&job_id) {
                    jm.decline_checkpoint(cx, execution_id, checkpoint_id, reason, message);
                }
            }
        }
    }

    // ---- Asynchronous operations (savepoints, stop-with-savepoint, checkpoints)

    /// Starts a savepoint (`POST /jobs/:id/savepoints`, `cancel-job` included) or a
    /// stop-with-savepoint (`POST /jobs/:id/stop`) into `target_directory`, else the job's or
    /// the cluster's `execution.checkpointing.savepoint-dir`. Refused (nothing changes) for an
    /// unknown job, no directory at all, or a directory outside the shared store. A trigger id
    /// the client chose and already used returns that operation again (Flink's idempotent
    /// registration). A failure to start is the operation's result, as in Flink.
    pub fn trigger_savepoint(
        &mut self,
        cx: &mut Cx,
        job: JobId,
        target_directory: Option<&str>,
        kind: OperationKind,
        trigger: Option<TriggerId>,
    ) -> Result<TriggerId, Refused> {
        let jm = self.dispatcher.job(&job).ok_or_else(|| Refused::job_not_found(&job))?;
        if let Some(t) = trigger.filter(|t| self.operations.contains(&job, t)) {
            return Ok(t);
        }
        let property = if matches!(kind, OperationKind::StopWithSavepoint { .. }) { "targetDirectory" } else { "target-directory" };
        let configured = jm.graph.checkpointing.as_ref().and_then(|c| c.savepoint_dir.clone()).or_else(|| self.cfg.savepoint_dir.clone());
        let dir = match target_directory.filter(|d| !d.trim().is_empty()) {
            Some(d) => flink_core::config::store_path(d, self.cfg.store_root.as_deref(), property).map_err(|e| Refused::new(400, e))?,
            None => configured.ok_or_else(|| {
                Refused::new(
                    400,
                    format!("Config key [{}] is not set. Property [{property}] must be provided.", flink_core::config::keys::SAVEPOINT_DIR),
                )
            })?,
        };
        let ckind = match kind {
            OperationKind::StopWithSavepoint { drain, .. } => flink_core::CheckpointKind::SyncSavepoint { drain },
            _ => flink_core::CheckpointKind::Savepoint,
        };
        let started = self.dispatcher.job_mut(&job).expect("checked above").trigger_savepoint(cx, &dir, ckind);
        Ok(self.record_operation(cx, job, trigger, kind, started))
    }

    /// Starts a manual checkpoint (`POST /jobs/:id/checkpoints`).
    pub fn trigger_checkpoint(&mut self, cx: &mut Cx, job: JobId, full: bool, trigger: Option<TriggerId>) -> Result<TriggerId, Refused> {
        let jm = self.dispatcher.job_mut(&job).ok_or_else(|| Refused::job_not_found(&job))?;
        if let Some(t) = trigger.filter(|t| self.operations.contains(&job, t)) {
            return Ok(t);
        }
        let started = jm.trigger_checkpoint(cx);
        Ok(self.record_operation(cx, job, trigger, OperationKind::Checkpoint { full }, started))
    }

    fn record_operation(
        &mut self,
        cx: &mut Cx,
        job: JobId,
        trigger: Option<TriggerId>,
        kind: OperationKind,
        started: Result<flink_core::CheckpointId, String>,
    ) -> TriggerId {
        let id = trigger.unwrap_or_else(|| {
            use rand::Rng as _;
            TriggerId(cx.rng().random())
        });
        match &started {
            Ok(c) => cx.print(&format!("INFO  Triggered {kind:?} for job {job} as checkpoint {c} (trigger {id}).")),
            Err(e) => cx.print(&format!("WARN  Could not trigger {kind:?} for job {job}: {e}")),
        }
        self.operations.insert(job, id, kind, started, cx.now().as_millis());
        self.route(cx);
        id
    }

    /// Settles operations whose snapshot completed or failed; cancels a job whose
    /// cancel-with-savepoint succeeded; forgets results older than rest.async.store-duration.
    fn poll_operations(&mut self, cx: &mut Cx) {
        let now = cx.now().as_millis();
        self.operations.expire(now);
        for (job, trigger, kind, checkpoint_id) in self.operations.in_progress() {
            let Some(jm) = self.dispatcher.job(&job) else {
                self.operations.complete(job, trigger, Err(format!("Job {job} not found")), now);
                continue;
            };
            let outcome = match jm.snapshot_outcome(checkpoint_id) {
                Some(o) => o,
                None if jm.status.is_globally_terminal() => Err(format!(
                    "The job {job} reached the terminal state {} before checkpoint {checkpoint_id} completed.",
                    jm.status.name()
                )),
                None => continue,
            };
            let outcome = outcome.map(|p| self.qualify(&p));
            let outcome = match (outcome, kind) {
                (Ok(location), OperationKind::Savepoint { cancel_job: true, .. }) => {
                    cx.print(&format!("INFO  Savepoint stored in {location}. Now cancelling {job}."));
                    self.dispatcher.cancel_job(cx, &job).map(|_| location)
                }
                (o, _) => o,
            };
            self.operations.complete(job, trigger, outcome, now);
        }
    }

    /// A JobMaster path `file:/<store path>` fully qualified with the store's directory (live), so
    /// it names the real directory and `flink run -s` takes it back.
    pub fn qualify(&self, path: &str) -> String {
        match (&self.cfg.store_root, path.strip_prefix("file:/")) {
            (Some(root), Some(rel)) if !rel.starts_with('/') => format!("file:{}", root.join(rel).display()),
            _ => path.to_string(),
        }
    }

    /// `GET /jobs/:id/savepoints/:trigger`, `/stop`'s and `/checkpoints/:trigger`: the
    /// operation's AsynchronousOperationResult, or 404 as Flink words it.
    pub fn operation_status(&self, job: &JobId, trigger: &TriggerId, savepoint: bool) -> Result<Value, Refused> {
        match self.operations.get(job, trigger).filter(|op| op.kind.is_savepoint() == savepoint) {
            Some(op) => Ok(op.render()),
            None => Err(Refused::new(
                404,
                format!(
                    "org.apache.flink.runtime.rest.NotFoundException: There is no {} operation with triggerId={trigger} for job {job}.",
                    if savepoint { "savepoint" } else { "checkpoint" }
                ),
            )),
        }
    }

    /// The checkpoint statistics of a job with checkpointing on, or Flink's 404.
    fn checkpoint_tracker(&self, id: &JobId) -> Result<&crate::jobmaster::checkpoint_stats::CheckpointStatsTracker, Refused> {
        let j = self.dispatcher.job(id).ok_or_else(|| Refused::job_not_found(id))?;
        if j.graph.checkpointing.is_none() {
            return Err(Refused::new(404, "Checkpointing has not been enabled."));
        }
        j.checkpoint_stats().ok_or_else(|| Refused::new(404, "Checkpointing has not been enabled."))
    }

    /// `GET /jobs/:id/checkpoints`.
    pub fn checkpoint_statistics(&self, id: &JobId) -> Result<Value, Refused> {
        let t = self.checkpoint_tracker(id)?;
        Ok(webmonitor::checkpointing_statistics(t, &|c| self.operations.savepoint_format(id, c).map(|f| f.name()), &|p| self.qualify(p)))
    }

    /// `GET /jobs/:id/checkpoints/details/:cid`.
    pub fn checkpoint_details(&self, id: &JobId, checkpoint: flink_core::CheckpointId) -> Result<Value, Refused> {
        let t = self.checkpoint_tracker(id)?;
        let format = self.operations.savepoint_format(id, checkpoint).map(|f| f.name());
        webmonitor::checkpoint_details(t, checkpoint, format, &|p| self.qualify(p)).map_err(|e| Refused::new(404, e))
    }

    /// `GET /jobs/:id/checkpoints/details/:cid/subtasks/:vid`.
    pub fn checkpoint_subtask_details(
        &self,
        id: &JobId,
        checkpoint: flink_core::CheckpointId,
        vertex: &JobVertexId,
    ) -> Result<Value, Refused> {
        let t = self.checkpoint_tracker(id)?;
        webmonitor::checkpoint_subtask_details(t, checkpoint, vertex).map_err(|e| Refused::new(404, e))
    }

    /// `GET /jobs/:id/checkpoints/config`.
    pub fn checkpoint_config(&self, id: &JobId) -> Result<Value, Refused> {
        let j = self.dispatcher.job(id).ok_or_else(|| Refused::job_not_found(id))?;
        match &j.graph.checkpointing {
            Some(c) => Ok(webmonitor::checkpoint_config(c)),
            None => Err(Refused::new(404, format!("Checkpointing is not enabled for this job ({id})."))),
        }
    }

    /// `GET /jobs/:id/metrics`.
    pub fn job_metrics(&self, id: &JobId, get: Option<&str>, now: Time) -> Option<Value> {
        self.dispatcher.job(id).map(|j| webmonitor::job_metrics(j, get, now, &|p| self.qualify(p)))
    }

    // ---- Reports for REST (Flink's serializer field names).

    pub fn overview(&self, now: Time) -> Value {
        webmonitor::overview(&self.dispatcher, self.rm.as_ref(), now)
    }
    pub fn jobs_overview(&self, now: Time) -> Value {
        webmonitor::jobs_overview(&self.dispatcher, now)
    }
    pub fn jobs(&self, _now: Time) -> Value {
        webmonitor::jobs(&self.dispatcher)
    }
    pub fn job_details(&self, id: &JobId, now: Time) -> Option<Value> {
        self.dispatcher.job(id).map(|j| webmonitor::job_details(j, now))
    }
    pub fn job_exceptions(&self, id: &JobId) -> Option<Value> {
        self.job_exceptions_limited(id, None)
    }
    /// `GET /jobs/:id/exceptions?maxExceptions=n`.
    pub fn job_exceptions_limited(&self, id: &JobId, max_exceptions: Option<usize>) -> Option<Value> {
        self.dispatcher.job(id).map(|j| webmonitor::job_exceptions(j, max_exceptions))
    }
    pub fn execution_result(&self, id: &JobId) -> Option<Value> {
        self.dispatcher.job(id).map(webmonitor::execution_result)
    }
    pub fn job_config(&self, id: &JobId) -> Option<Value> {
        self.dispatcher.job(id).map(webmonitor::job_config)
    }
    pub fn job_plan(&self, id: &JobId) -> Option<Value> {
        self.dispatcher.job(id).map(|j| serde_json::json!({ "plan": webmonitor::plan(&j.graph) }))
    }
    pub fn vertex_details(&self, id: &JobId, vertex: &JobVertexId, now: Time) -> Option<Value> {
        self.dispatcher.job(id).and_then(|j| webmonitor::vertex_details(j, vertex, now))
    }
    pub fn taskmanagers(&self, now: Time) -> Value {
        webmonitor::taskmanagers(self.rm.as_ref(), &self.dispatcher, now)
    }
    pub fn taskmanager(&self, id: &str, now: Time) -> Option<Value> {
        self.rm.as_ref().and_then(|rm| webmonitor::taskmanager(rm, &self.dispatcher, id, now))
    }
    pub fn job_graph(&self, id: &JobId) -> Option<&JobGraph> {
        self.dispatcher.job(id).map(|j| &j.graph)
    }
    /// `GET /jobmanager/config`: the options this AM runs with, as Flink's key/value list.
    pub fn jobmanager_config(&self) -> Value {
        webmonitor::jobmanager_config(&self.cfg)
    }
    /// Job ids with their status, submission order.
    pub fn job_statuses(&self) -> BTreeMap<JobId, JobStatus> {
        self.dispatcher.jobs().map(|j| (j.job_id(), j.status)).collect()
    }
}

impl Node for FlinkAppMaster {
    fn on_start(&mut self, cx: &mut Cx) {
        if let Err(e) = self.start_or_contend(cx) {
            self.fail_start(cx, e);
        }
        self.route(cx);
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        if self.phase == AmPhase::Exited {
            return;
        }
        let msg = match msg.downcast::<flink_core::zookeeper::ZkMsg>() {
            Ok(z) => {
                if self.lease_lost(cx) {
                    return;
                }
                if let Some(ha) = self.ha.as_mut() {
                    ha.on_msg(cx, from, z);
                }
                self.route(cx);
                return;
            }
            Err(m) => m,
        };
        if self.lease_lost(cx) {
            return;
        }
        match msg.downcast::<YarnMsg>() {
            Ok(y) => {
                if let Some(rm) = self.rm.as_mut() {
                    rm.on_yarn(cx, y);
                }
            }
            Err(msg) => match msg.downcast::<ResourceManagerGateway>() {
                Ok(m) => {
                    if let Some(rm) = self.rm.as_mut() {
                        rm.on_flink(cx, from, m);
                    }
                }
                Err(msg) => {
                    if let Ok(m) = msg.downcast::<JobMasterGateway>() {
                        self.record_task_io(cx, &m);
                        self.on_job_master_gateway(cx, from, m);
                    }
                }
            },
        }
        self.route(cx);
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        if self.phase == AmPhase::Exited || self.lease_lost(cx) {
            return;
        }
        match timer {
            T_YARN_HEARTBEAT => {
                if let Some(rm) = self.rm.as_mut() {
                    rm.driver.heartbeat(cx);
                    self.armed_yarn_interval = rm.driver.heartbeat_interval_ms();
                }
                cx.set_timer(Duration::from_millis(self.armed_yarn_interval), T_YARN_HEARTBEAT);
            }
            T_RM_TICK => {
                if let Some(rm) = self.rm.as_mut() {
                    rm.on_tick(cx);
                }
                cx.set_timer(Duration::from_millis(self.tick_ms()), T_RM_TICK);
            }
            T_HA_TICK => {
                if let Some(ha) = self.ha.as_mut() {
                    ha.tick(cx);
                }
                cx.set_timer(Duration::from_millis(self.ha_tick_ms()), T_HA_TICK);
            }
            t => {
                if let Some(jm) = self.dispatcher.job_for_timer(t) {
                    jm.on_timer(cx, t);
                }
            }
        }
        self.route(cx);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use engine::Effect;
    use rand::SeedableRng;
    use serde_json::json;

    use super::*;
    use crate::async_ops::SavepointFormat;

    type TestSys = engine::MemSys;

    /// An AM whose dispatcher runs two jobs that are scheduled but have no slots yet (so a
    /// snapshot cannot start): one with checkpointing and a savepoint dir, one without.
    struct Env {
        am: FlinkAppMaster,
        sys: TestSys,
        rng: engine::Rng,
        effects: Vec<Effect>,
        with_ckpt: JobId,
        plain: JobId,
    }

    impl Env {
        fn new(cluster_savepoint_dir: Option<&str>) -> Env {
            let mut cfg = AmConfig::new(AmMode::Session, BTreeMap::new());
            cfg.store_root = Some(std::path::PathBuf::from("/dfs"));
            cfg.savepoint_dir = cluster_savepoint_dir.map(String::from);
            let mut env = Env {
                am: FlinkAppMaster::new(cfg),
                sys: TestSys::default(),
                rng: engine::Rng::seed_from_u64(1),
                effects: Vec::new(),
                with_ckpt: JobId(0),
                plain: JobId(0),
            };
            let program = flink_core::Program::parse(
                "[[job]]\n[[job.step]]\nsource = { type = \"datagen\", kind = \"numbers\", count = 10 }\n[[job.step]]\nsink = \"discard\"\n",
                &[],
            )
            .unwrap();
            let mut next = 0u128;
            let mut graphs = |ckpt: Option<flink_core::CheckpointConfig>| {
                let mut g = program
                    .job_graphs(1, &mut || {
                        next += 1;
                        next
                    })
                    .unwrap()
                    .remove(0);
                g.checkpointing = ckpt;
                g
            };
            let mut c = flink_core::CheckpointConfig::with_interval(1000);
            c.savepoint_dir = Some("job-sp".into());
            let (a, b) = (graphs(Some(c)), graphs(None));
            env.with_ckpt = a.job_id;
            env.plain = b.job_id;
            env.with(|am, cx| {
                am.dispatcher.submit_job(cx, a).unwrap();
                am.dispatcher.submit_job(cx, b).unwrap();
            });
            env
        }
        fn with<R>(&mut self, f: impl FnOnce(&mut FlinkAppMaster, &mut Cx) -> R) -> R {
            let me = Addr::new(std::net::Ipv4Addr::new(127, 0, 0, 1), 1);
            let mut cx = Cx::new(Time::from_millis(1_000), me, &mut self.rng, &mut self.effects, &mut self.sys);
            f(&mut self.am, &mut cx)
        }
        fn savepoint(&mut self, job: JobId, dir: Option<&str>, kind: OperationKind) -> Result<TriggerId, Refused> {
            self.with(|am, cx| am.trigger_savepoint(cx, job, dir, kind, None))
        }
    }

    const SP: OperationKind = OperationKind::Savepoint { cancel_job: false, format: SavepointFormat::Canonical };
    const STOP: OperationKind = OperationKind::StopWithSavepoint { drain: false, format: SavepointFormat::Canonical };

    #[test]
    fn savepoint_requests_that_cannot_start_are_refused_with_flinks_messages() {
        let mut env = Env::new(None);
        let unknown = JobId(0xdead);
        assert_eq!(
            env.savepoint(unknown, Some("sp"), SP).unwrap_err(),
            Refused { status: 404, message: format!("org.apache.flink.runtime.rest.NotFoundException: Job {unknown} not found") }
        );
        let plain = env.plain;
        let e = env.savepoint(plain, None, SP).unwrap_err();
        assert_eq!(
            (e.status, e.message.as_str()),
            (400, "Config key [execution.checkpointing.savepoint-dir] is not set. Property [target-directory] must be provided.")
        );
        let e = env.savepoint(plain, Some(""), STOP).unwrap_err();
        assert!(e.message.ends_with("Property [targetDirectory] must be provided."), "{e:?}");
        let e = env.savepoint(plain, Some("file:///elsewhere/sp"), SP).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.message.contains("is outside the shared store /dfs"), "{e:?}");
        let e = env.with(|am, cx| am.trigger_checkpoint(cx, unknown, false, None)).unwrap_err();
        assert_eq!(e.status, 404);
        // Nothing was recorded.
        assert!(env.am.operations.in_progress().is_empty());
    }

    #[test]
    fn a_snapshot_that_fails_to_start_is_the_operations_result() {
        // The jobs have no slots: their tasks are not running, so the JobMaster refuses.
        let mut env = Env::new(Some("cluster-sp"));
        let (job, plain) = (env.with_ckpt, env.plain);
        // The job's own savepoint dir, the cluster's, an absolute one under the store.
        for (j, dir) in [(job, None), (plain, None), (plain, Some("file:///dfs/sp"))] {
            let t = env.savepoint(j, dir, SP).unwrap();
            let v = env.am.operation_status(&j, &t, true).unwrap();
            assert_eq!(v["status"]["id"], "COMPLETED", "{v}");
            let cause = &v["operation"]["failure-cause"];
            assert_eq!(cause["class"], "org.apache.flink.runtime.checkpoint.CheckpointException", "{v}");
            assert!(cause["stack-trace"].as_str().unwrap().contains("Not all required tasks are currently running"), "{v}");
            // A savepoint trigger is not a checkpoint trigger.
            let e = env.am.operation_status(&j, &t, false).unwrap_err();
            assert_eq!(
                e.message,
                format!(
                    "org.apache.flink.runtime.rest.NotFoundException: There is no checkpoint operation with triggerId={t} for job {j}."
                )
            );
        }
        let t = env.with(|am, cx| am.trigger_checkpoint(cx, job, true, None)).unwrap();
        let v = env.am.operation_status(&job, &t, false).unwrap();
        assert!(v["operation"]["failureCause"]["stack-trace"].as_str().unwrap().contains("Not all required tasks"), "{v}");
        // A client-chosen trigger id is idempotent: the same operation, not a second one.
        let chosen = TriggerId(42);
        let first = env.with(|am, cx| am.trigger_savepoint(cx, job, Some("sp"), SP, Some(chosen))).unwrap();
        let again = env.with(|am, cx| am.trigger_savepoint(cx, job, Some("other"), SP, Some(chosen))).unwrap();
        assert_eq!((first, again), (chosen, chosen));
        assert_eq!(env.am.operation_status(&job, &chosen, true).unwrap()["status"]["id"], "COMPLETED");
    }

    #[test]
    fn task_executor_messages_for_another_job_master_id_are_fenced() {
        let mut env = Env::new(None);
        let job = env.with_ckpt;
        let current = env.am.dispatcher().job(&job).unwrap().id;
        let stale = flink_core::JobMasterId(current.0 ^ 1);
        let tm = Addr::new(std::net::Ipv4Addr::new(127, 0, 0, 2), 7000);
        let offer = |job_master_id| JobMasterGateway::OfferSlots {
            job_id: job,
            job_master_id,
            resource_id: "container_1_0001_01_000002".into(),
            slots: vec![flink_core::protocol::SlotOffer { allocation_id: flink_core::AllocationId(1), slot_index: 0 }],
        };
        env.effects.clear();
        env.with(|am, cx| am.on_message(cx, tm, Msg::new(offer(stale))));
        assert!(env.effects.iter().all(|e| !matches!(e, Effect::Send { .. })), "a fenced offer gets no answer");
        let line = format!(
            "Fencing token mismatch: Ignoring message OfferSlots from {tm} because the fencing token {stale} did not match the expected fencing token {current}."
        );
        assert!(env.sys.out.contains(&line), "{}", env.sys.out);
        // An acknowledgement for an older JobMaster's checkpoint is dropped the same way.
        let ack = JobMasterGateway::DeclineCheckpoint {
            job_id: job,
            job_master_id: stale,
            execution_id: flink_core::ExecutionAttemptId(5),
            checkpoint_id: 1,
            reason: flink_core::checkpoint::DeclineReason::CheckpointDeclinedTaskNotReady,
            message: "late".into(),
        };
        env.with(|am, cx| am.on_message(cx, tm, Msg::new(ack)));
        assert!(env.sys.out.contains("Ignoring message DeclineCheckpoint from"), "{}", env.sys.out);
        // The current id is answered.
        env.with(|am, cx| am.on_message(cx, tm, Msg::new(offer(current))));
        let answered = std::mem::take(&mut env.effects).into_iter().any(|e| match e {
            Effect::Send { to, msg } => to == tm && matches!(msg.downcast::<TaskExecutorGateway>(), Ok(TaskExecutorGateway::AcceptSlots { job_master_id, .. }) if job_master_id == current),
            _ => false,
        });
        assert!(answered, "the JobMaster answers its own TaskExecutors");
    }

    #[test]
    fn checkpoint_reports_need_checkpointing_and_paths_are_qualified() {
        let env = Env::new(None);
        let e = env.am.checkpoint_statistics(&env.plain).unwrap_err();
        assert_eq!((e.status, e.message.as_str()), (404, "Checkpointing has not been enabled."));
        let e = env.am.checkpoint_config(&env.plain).unwrap_err();
        assert_eq!(e.message, format!("Checkpointing is not enabled for this job ({}).", env.plain));
        assert_eq!(env.am.checkpoint_config(&env.with_ckpt).unwrap()["interval"], json!(1000));
        let stats = env.am.checkpoint_statistics(&env.with_ckpt).unwrap();
        assert_eq!(stats["counts"]["total"], 0);
        assert!(env.am.checkpoint_details(&env.with_ckpt, 1).unwrap_err().message.contains("checkpoint 1."));
        assert_eq!(env.am.qualify("file:/sp/savepoint-1"), "file:/dfs/sp/savepoint-1");
        assert_eq!(env.am.qualify("file:///abs/x"), "file:///abs/x");
        let metrics =
            env.am.job_metrics(&env.with_ckpt, Some("numRestarts,numberOfCompletedCheckpoints,nope"), Time::from_millis(5)).unwrap();
        assert_eq!(metrics, json!([{"id": "numRestarts", "value": "0"}, {"id": "numberOfCompletedCheckpoints", "value": "0"}]));
    }
}
