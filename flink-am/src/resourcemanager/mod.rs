//! Flink's ResourceManager in its active form (ActiveResourceManager): TaskExecutor
//! registration and heartbeats, the declarative SlotManager, and worker accounting that turns
//! missing slots into YARN containers through the YarnResourceManagerDriver. It lives in the
//! AM process next to the Dispatcher; what it has to tell JobMasters comes out as [`RmEvent`]s
//! the entrypoint routes (Flink calls the JobMaster gateway; here it is one process).

pub mod slot_manager;
pub mod yarn_driver;

use std::collections::BTreeMap;
use std::time::Duration;

use engine::{Addr, Cx, Time};
use flink_core::protocol::SlotStatus;
use flink_core::{JobId, JobMasterId, ResourceId, ResourceManagerGateway, ResourceManagerId, TaskExecutorGateway};
use yarn_sim::proto::YarnMsg;
use yarn_sim::records::{Container, FinalApplicationStatus};

use slot_manager::{SlotManager, SlotState, TaskExecutorRegistration};
use yarn_driver::{DriverEvent, WorkerResourceSpec, YarnResourceManagerDriver};

/// What the ResourceManager tells the rest of the JobManager.
#[derive(Debug, Clone, PartialEq)]
pub enum RmEvent {
    /// Registered with YARN: jobs may now get workers.
    Registered,
    /// A job's declared slots cannot be provided (e.g. a TaskManager larger than YARN allows).
    ResourcesUnavailable { job_id: JobId, reason: String },
    /// A TaskExecutor is gone (heartbeat timeout, container completed or stopped).
    TaskManagerLost { resource_id: ResourceId, cause: String },
    /// YARN refused this attempt for good.
    Fatal(String),
    /// The application is unregistered from YARN.
    Unregistered,
}

/// Where a worker (a TaskManager container this attempt started or recovered) is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkerState {
    /// Allocated and started (or recovered), its TaskExecutor has not registered yet.
    Starting {
        since: Time,
    },
    Registered,
}

#[derive(Clone, Debug)]
pub struct Worker {
    pub container: Container,
    pub state: WorkerState,
}

/// The ResourceManager's settings (from AmConfig).
#[derive(Clone, Debug)]
pub struct RmConfig {
    pub spec: WorkerResourceSpec,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    pub registration_timeout_ms: u64,
    pub idle_tm_timeout_ms: u64,
    pub start_worker_max_failure_rate: f64,
    pub start_worker_retry_interval_ms: u64,
}

pub struct ActiveResourceManager {
    cfg: RmConfig,
    /// This ResourceManager's fencing token: the leader session id with HA, random without.
    id: ResourceManagerId,
    pub driver: YarnResourceManagerDriver,
    pub slot_manager: SlotManager,
    workers: BTreeMap<ResourceId, Worker>,
    registered_with_yarn: bool,
    /// Start-worker failures in the last minute (ThresholdMeter over one minute).
    start_failures: Vec<Time>,
    /// New workers are not requested before this (start-worker retry interval).
    cooldown_until: Option<Time>,
    /// Set when YARN can never grant our spec: no new requests until a job re-declares.
    unavailable: bool,
    shutting_down: bool,
    events: Vec<RmEvent>,
}

impl ActiveResourceManager {
    pub fn new(cfg: RmConfig, driver: YarnResourceManagerDriver, id: ResourceManagerId) -> Self {
        let grace = cfg.heartbeat_timeout_ms;
        ActiveResourceManager {
            cfg,
            id,
            driver,
            slot_manager: SlotManager::new(grace),
            workers: BTreeMap::new(),
            registered_with_yarn: false,
            start_failures: Vec::new(),
            cooldown_until: None,
            unavailable: false,
            shutting_down: false,
            events: Vec::new(),
        }
    }

    pub fn id(&self) -> ResourceManagerId {
        self.id
    }

    pub fn take_events(&mut self) -> Vec<RmEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn workers(&self) -> &BTreeMap<ResourceId, Worker> {
        &self.workers
    }

    pub fn spec(&self) -> WorkerResourceSpec {
        self.cfg.spec
    }

    pub fn is_registered_with_yarn(&self) -> bool {
        self.registered_with_yarn
    }

    /// A JobMaster's DeclareResourceRequirements.
    pub fn declare_resource_requirements(&mut self, cx: &mut Cx, job_id: JobId, job_master: Addr, job_master_id: JobMasterId, slots: u32) {
        cx.print(&format!("INFO  Received resource requirements from job {job_id}: {slots} slots."));
        self.slot_manager.declare(job_id, job_master, job_master_id, slots);
        // A new declaration (a restarted job) may try YARN again.
        self.unavailable = false;
        self.check_resource_declarations(cx);
    }

    /// Handles a Flink message addressed to the ResourceManager.
    /// Handles a Flink message addressed to the ResourceManager. Each carries the
    /// ResourceManagerId its sender knows; one for another leader (a TaskExecutor still
    /// following an older leader, a message of the previous attempt) is dropped, as Flink's
    /// fenced RPC endpoint does.
    pub fn on_flink(&mut self, cx: &mut Cx, from: Addr, msg: ResourceManagerGateway) {
        let token = match &msg {
            ResourceManagerGateway::RegisterTaskExecutor { resource_manager_id, .. }
            | ResourceManagerGateway::TaskExecutorHeartbeat { resource_manager_id, .. }
            | ResourceManagerGateway::DeclareResourceRequirements { resource_manager_id, .. } => *resource_manager_id,
        };
        if token != self.id {
            let kind = engine::msg::Wire::kind(&msg);
            cx.print(&format!(
                "DEBUG Fencing token mismatch: Ignoring message {kind} from {from} because the fencing token {token} did not match the expected fencing token {}.",
                self.id
            ));
            cx.trace("fenced", format!("{from} {kind} {token} {}", self.id));
            return;
        }
        match msg {
            ResourceManagerGateway::RegisterTaskExecutor { resource_id, num_slots, memory_mb, data_address, .. } => {
                self.register_task_executor(cx, from, resource_id, num_slots, memory_mb, data_address)
            }
            ResourceManagerGateway::TaskExecutorHeartbeat { resource_id, slots, .. } => self.on_heartbeat(cx, from, &resource_id, &slots),
            ResourceManagerGateway::DeclareResourceRequirements { job_id, job_master, job_master_id, slots, .. } => {
                self.declare_resource_requirements(cx, job_id, job_master, job_master_id, slots)
            }
        }
    }

    fn register_task_executor(
        &mut self,
        cx: &mut Cx,
        from: Addr,
        resource_id: ResourceId,
        num_slots: u32,
        memory_mb: u64,
        data_address: Addr,
    ) {
        if self.shutting_down {
            let reason = "The ResourceManager is shutting down.".into();
            cx.send(from, TaskExecutorGateway::RegistrationRejected { resource_manager_id: self.id, reason });
            return;
        }
        cx.print(&format!("INFO  Registering TaskManager with ResourceID {resource_id} ({from}) at ResourceManager"));
        match self.workers.get_mut(&resource_id) {
            Some(w) => {
                if w.state != WorkerState::Registered {
                    w.state = WorkerState::Registered;
                    cx.print(&format!("INFO  Worker {resource_id} is registered."));
                }
            }
            None => {
                // Not one of ours (started by hand or by an earlier attempt YARN did not report):
                // Flink accepts any TaskExecutor that knows the RM's address.
                cx.print(&format!("WARN  TaskManager {resource_id} was not started by this ResourceManager; registering it anyway."))
            }
        }
        let now = cx.now();
        // A re-registration keeps what the slot reports will tell again; start all free.
        self.slot_manager.register(TaskExecutorRegistration {
            resource_id,
            address: from,
            data_address,
            memory_mb,
            slots: vec![SlotState::Free; num_slots as usize],
            registered_at: now,
            last_heartbeat: now,
            idle_since: Some(now),
        });
        cx.send(
            from,
            TaskExecutorGateway::RegistrationSuccess {
                resource_manager_id: self.id,
                resource_manager: cx.me(),
                heartbeat_interval_ms: self.cfg.heartbeat_interval_ms,
            },
        );
        self.check_resource_declarations(cx);
    }

    fn on_heartbeat(&mut self, cx: &mut Cx, from: Addr, resource_id: &str, slots: &[SlotStatus]) {
        if self.slot_manager.report(resource_id, slots, cx.now()) {
            cx.send(from, TaskExecutorGateway::HeartbeatAck { resource_manager_id: self.id });
            self.check_resource_declarations(cx);
        }
    }

    /// Handles a YARN message (AMRM replies, NodeManager replies).
    pub fn on_yarn(&mut self, cx: &mut Cx, msg: YarnMsg) {
        let me = cx.me();
        let events = self.driver.handle(cx, msg, me);
        self.on_driver_events(cx, events);
    }

    fn on_driver_events(&mut self, cx: &mut Cx, events: Vec<DriverEvent>) {
        for ev in events {
            match ev {
                DriverEvent::Registered { recovered } => {
                    self.registered_with_yarn = true;
                    if !recovered.is_empty() {
                        let ids: Vec<String> = recovered.iter().map(|c| c.id.to_string()).collect();
                        cx.print(&format!("INFO  Recovered {} containers from previous attempts ({}).", recovered.len(), ids.join(", ")));
                    }
                    let now = cx.now();
                    for c in recovered {
                        self.workers.insert(c.id.to_string(), Worker { container: c, state: WorkerState::Starting { since: now } });
                    }
                    self.events.push(RmEvent::Registered);
                    self.check_resource_declarations(cx);
                }
                DriverEvent::WorkerAllocated(c) => {
                    let now = cx.now();
                    self.workers.insert(c.id.to_string(), Worker { container: c, state: WorkerState::Starting { since: now } });
                }
                DriverEvent::WorkerTerminated { id, diagnostics } => self.on_worker_terminated(cx, &id, &diagnostics),
                DriverEvent::Fatal(e) => self.events.push(RmEvent::Fatal(e)),
                DriverEvent::Unregistered => self.events.push(RmEvent::Unregistered),
            }
        }
        self.check_resource_declarations(cx);
    }

    fn on_worker_terminated(&mut self, cx: &mut Cx, id: &str, diagnostics: &str) {
        let Some(w) = self.workers.remove(id) else { return };
        if let WorkerState::Starting { .. } = w.state {
            self.record_start_worker_failure(cx);
        }
        cx.print(&format!("INFO  Worker {id} is terminated. Diagnostics: {diagnostics}"));
        if self.slot_manager.unregister(id).is_some() || w.state == WorkerState::Registered {
            self.events.push(RmEvent::TaskManagerLost {
                resource_id: id.to_string(),
                cause: format!("Worker {id} is terminated. Diagnostics: {diagnostics}"),
            });
        }
    }

    fn record_start_worker_failure(&mut self, cx: &mut Cx) {
        let now = cx.now();
        self.start_failures.retain(|t| now.since(*t) < Duration::from_secs(60));
        self.start_failures.push(now);
        if self.start_failures.len() as f64 >= self.cfg.start_worker_max_failure_rate {
            cx.print(&format!("WARN  Reaching max start worker failure rate: {}", self.cfg.start_worker_max_failure_rate));
            cx.print(&format!("INFO  Will not retry creating worker in {} ms.", self.cfg.start_worker_retry_interval_ms));
            self.cooldown_until = Some(now + Duration::from_millis(self.cfg.start_worker_retry_interval_ms));
        }
    }

    /// Periodic checks: TaskExecutor heartbeats, worker registration timeouts, idle
    /// TaskManagers, and the end of a start-worker cool-down.
    pub fn on_tick(&mut self, cx: &mut Cx) {
        let lost_starts = self.driver.check_start_timeouts(cx);
        if !lost_starts.is_empty() {
            self.on_driver_events(cx, lost_starts);
        }
        let now = cx.now();
        let timeout = Duration::from_millis(self.cfg.heartbeat_timeout_ms);
        let timed_out: Vec<ResourceId> =
            self.slot_manager.task_executors().filter(|t| now.since(t.last_heartbeat) > timeout).map(|t| t.resource_id.clone()).collect();
        for id in timed_out {
            let cause = format!("The heartbeat of TaskManager with id {id} timed out.");
            cx.print(&format!("INFO  {cause}"));
            self.slot_manager.unregister(&id);
            self.events.push(RmEvent::TaskManagerLost { resource_id: id.clone(), cause });
            self.stop_worker(cx, &id);
        }
        let reg_timeout = Duration::from_millis(self.cfg.registration_timeout_ms);
        let unregistered: Vec<ResourceId> = self
            .workers
            .iter()
            .filter(|(_, w)| matches!(w.state, WorkerState::Starting { since } if now.since(since) >= reg_timeout))
            .map(|(k, _)| k.clone())
            .collect();
        for id in unregistered {
            cx.print(&format!(
                "WARN  Worker {id} did not register in {} ms, will stop it and request a new one if needed.",
                self.cfg.registration_timeout_ms
            ));
            self.stop_worker(cx, &id);
        }
        let idle = Duration::from_millis(self.cfg.idle_tm_timeout_ms);
        let idle_ids: Vec<ResourceId> = self
            .slot_manager
            .task_executors()
            .filter(|t| t.idle_since.map(|s| now.since(s) >= idle).unwrap_or(false))
            .map(|t| t.resource_id.clone())
            .collect();
        for id in idle_ids {
            cx.print(&format!("INFO  Stopping worker {id}."));
            if let Some(te) = self.slot_manager.unregister(&id) {
                if !self.workers.contains_key(&id) {
                    // Not a container of ours: ask the TaskExecutor itself to stop.
                    let reason = "TaskExecutor exceeded the idle timeout.".into();
                    cx.send(te.address, TaskExecutorGateway::Shutdown { resource_manager_id: self.id, reason });
                }
            }
            self.stop_worker(cx, &id);
        }
        if self.cooldown_until.map(|t| now >= t).unwrap_or(false) {
            self.cooldown_until = None;
        }
        self.check_resource_declarations(cx);
    }

    /// Stops a worker's container and forgets it (its completion will not be reported again).
    fn stop_worker(&mut self, cx: &mut Cx, id: &str) {
        self.workers.remove(id);
        self.driver.release_resource(cx, id);
    }

    /// checkResourceDeclarations: compares the workers there are (and coming) with the slots
    /// jobs declared, requests new workers for a deficit and cancels pending requests for a
    /// surplus.
    pub fn check_resource_declarations(&mut self, cx: &mut Cx) {
        if !self.registered_with_yarn || self.shutting_down {
            return;
        }
        let (missing, missing_jobs) = self.slot_manager.check_resource_requirements(cx, self.id);
        let spt = self.cfg.spec.num_slots.max(1);
        let pending = self.driver.num_requested_not_allocated();
        let starting = self.workers.values().filter(|w| matches!(w.state, WorkerState::Starting { .. })).count() as u32;
        let coming = (pending + starting) * spt;
        if missing > coming {
            if self.unavailable || self.cooldown_until.is_some() {
                return;
            }
            let need = (missing - coming).div_ceil(spt);
            let current = self.workers.len() as u32 + pending;
            cx.print(&format!(
                "INFO  need request {need} new workers, current worker number {current}, declared worker number {}",
                current + need
            ));
            for _ in 0..need {
                let spec = self.cfg.spec;
                let pending_now = self.driver.num_requested_not_allocated();
                cx.print(&format!("INFO  Requesting new worker with resource spec {spec}, current pending count: {}.", pending_now + 1));
                if let Err(reason) = self.driver.request_resource(cx, spec) {
                    cx.print(&format!("WARN  Failed requesting worker with resource spec {spec}, current pending count: {pending_now}"));
                    self.unavailable = true;
                    for job_id in &missing_jobs {
                        self.events.push(RmEvent::ResourcesUnavailable { job_id: *job_id, reason: reason.clone() });
                    }
                    return;
                }
            }
        } else {
            let surplus = ((coming - missing) / spt).min(pending);
            for _ in 0..surplus {
                if !self.driver.cancel_pending_request(cx, self.cfg.spec) {
                    break;
                }
            }
        }
    }

    /// Stops every TaskManager (cluster shutdown); no new workers are requested afterwards.
    pub fn stop_all_workers(&mut self, cx: &mut Cx) {
        self.shutting_down = true;
        let tes: Vec<(ResourceId, Addr)> = self.slot_manager.task_executors().map(|t| (t.resource_id.clone(), t.address)).collect();
        for (id, addr) in tes {
            cx.send(addr, TaskExecutorGateway::Shutdown { resource_manager_id: self.id, reason: "The cluster is shutting down.".into() });
            self.slot_manager.unregister(&id);
        }
        let ids: Vec<ResourceId> = self.workers.keys().cloned().collect();
        for id in ids {
            cx.print(&format!("INFO  Stopping worker {id}."));
            self.stop_worker(cx, &id);
        }
        while self.driver.cancel_pending_request(cx, self.cfg.spec) {}
    }

    pub fn deregister(&mut self, cx: &mut Cx, status: FinalApplicationStatus, diagnostics: &str) {
        self.driver.deregister(cx, status, diagnostics);
    }
}

#[cfg(test)]
mod tests {
    use engine::{Effect, Msg};
    use rand::SeedableRng;

    use super::*;
    use yarn_sim::ids::{ApplicationAttemptId, ApplicationId};

    fn rm(id: ResourceManagerId) -> ActiveResourceManager {
        let driver_cfg = yarn_driver::DriverConfig {
            taskexec_command: "taskexec".into(),
            heartbeat_interval_ms: 1_000,
            heartbeat_timeout_ms: 5_000,
            yarn_heartbeat_ms: 1_000,
            container_request_heartbeat_ms: 50,
            start_container_timeout_ms: 10_000,
            user: "u".into(),
            tm_local_resources: BTreeMap::new(),
            ha_env: None,
            resource_manager_id: id,
        };
        let attempt = ApplicationAttemptId::new(ApplicationId::new(1, 1), 1);
        let driver = YarnResourceManagerDriver::new(driver_cfg, "127.0.0.1:8030".parse().unwrap(), attempt);
        let cfg = RmConfig {
            spec: WorkerResourceSpec { memory_mb: 1024, vcores: 1, num_slots: 1 },
            heartbeat_interval_ms: 1_000,
            heartbeat_timeout_ms: 5_000,
            registration_timeout_ms: 60_000,
            idle_tm_timeout_ms: 30_000,
            start_worker_max_failure_rate: 10.0,
            start_worker_retry_interval_ms: 3_000,
        };
        ActiveResourceManager::new(cfg, driver, id)
    }

    #[test]
    fn task_executor_messages_for_another_resource_manager_id_are_fenced() {
        let (current, stale) = (ResourceManagerId(0xa), ResourceManagerId(0xb));
        let mut rm = rm(current);
        let (mut sys, mut rng, mut effects) = (engine::MemSys::default(), engine::Rng::seed_from_u64(1), Vec::new());
        let me: Addr = "127.0.0.1:6123".parse().unwrap();
        let tm: Addr = "127.0.0.2:7000".parse().unwrap();
        let register = |resource_manager_id| ResourceManagerGateway::RegisterTaskExecutor {
            resource_manager_id,
            resource_id: "container_1_0001_01_000002".into(),
            num_slots: 1,
            memory_mb: 1024,
            data_address: tm,
        };
        {
            let mut cx = Cx::new(Time::from_millis(1), me, &mut rng, &mut effects, &mut sys);
            rm.on_flink(&mut cx, tm, register(stale));
        }
        assert!(effects.iter().all(|e| !matches!(e, Effect::Send { .. })), "a fenced registration gets no answer");
        assert_eq!(rm.slot_manager.task_executors().count(), 0);
        let line = format!(
            "Fencing token mismatch: Ignoring message RegisterTaskExecutor from {tm} because the fencing token {stale} did not match the expected fencing token {current}."
        );
        assert!(sys.out.contains(&line), "{}", sys.out);
        {
            let mut cx = Cx::new(Time::from_millis(2), me, &mut rng, &mut effects, &mut sys);
            rm.on_flink(&mut cx, tm, register(current));
        }
        assert_eq!(rm.slot_manager.task_executors().count(), 1);
        let answered = effects.into_iter().any(|e| match e {
            Effect::Send { to, msg } => {
                to == tm
                    && matches!(Msg::downcast::<TaskExecutorGateway>(msg), Ok(TaskExecutorGateway::RegistrationSuccess { resource_manager_id, .. }) if resource_manager_id == current)
            }
            _ => false,
        });
        assert!(answered);
    }
}
