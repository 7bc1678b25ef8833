//! YarnResourceManagerDriver: the YARN half of Flink's active ResourceManager. It owns the
//! AMRM client (register, container asks, releases, unregister), starts TaskManager containers
//! on NodeManagers and turns YARN's container reports into worker events for the
//! ActiveResourceManager. One TaskManager spec here, so one priority; the table is kept per
//! spec anyway because YARN matches allocations to asks by priority, not by size.

use std::collections::BTreeMap;

use engine::{Addr, Cx, Time};
use flink_core::protocol::env as flink_env;
use yarn_sim::amrm_client::{AmRmClient, AmRmEvent};
use yarn_sim::ids::{ApplicationAttemptId, ContainerId};
use yarn_sim::proto::{env as yarn_env, StartContainerRequest, YarnMsg};
use yarn_sim::records::{exit_status, Container, ContainerLaunchContext, ContainerStatus, FinalApplicationStatus, LocalResource, Resource};

/// Env names the TaskExecutor reads for heartbeat overrides.
pub const FLINK_HEARTBEAT_INTERVAL_MS: &str = "FLINK_HEARTBEAT_INTERVAL_MS";
pub const FLINK_HEARTBEAT_TIMEOUT_MS: &str = "FLINK_HEARTBEAT_TIMEOUT_MS";

/// What a TaskManager container is: Flink's TaskExecutorProcessSpec reduced to what YARN sees.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct WorkerResourceSpec {
    pub memory_mb: u64,
    pub vcores: u32,
    pub num_slots: u32,
}

impl std::fmt::Display for WorkerResourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "WorkerResourceSpec {{cpuCores={:.1}, totalProcessMemory={} mb, numSlots={}}}",
            self.vcores as f64, self.memory_mb, self.num_slots
        )
    }
}

/// What YARN's replies meant for the ActiveResourceManager.
#[derive(Debug)]
pub enum DriverEvent {
    /// Registered with YARN; containers still running from earlier attempts.
    Registered {
        recovered: Vec<Container>,
    },
    /// A container matched a pending request and is being started.
    WorkerAllocated(Container),
    /// A worker's container ended (or never started).
    WorkerTerminated {
        id: String,
        diagnostics: String,
    },
    /// YARN refused us for good (the attempt is gone).
    Fatal(String),
    Unregistered,
}

/// The driver's fixed inputs, from AmConfig and the AM's environment.
#[derive(Clone, Debug)]
pub struct DriverConfig {
    pub taskexec_command: String,
    pub heartbeat_interval_ms: u64,
    pub heartbeat_timeout_ms: u64,
    pub yarn_heartbeat_ms: u64,
    pub container_request_heartbeat_ms: u64,
    /// A StartContainers request unanswered for this long is a failed start.
    pub start_container_timeout_ms: u64,
    pub user: String,
    /// Localized into every TaskManager container: name -> shared-store path.
    pub tm_local_resources: BTreeMap<String, String>,
    /// HA: the TaskManagers' leader-retrieval settings, which replace the fixed RM address.
    pub ha_env: Option<BTreeMap<String, String>>,
    /// Without HA, the ResourceManagerId TaskManagers get with the fixed RM address.
    pub resource_manager_id: flink_core::ResourceManagerId,
}

pub struct YarnResourceManagerDriver {
    cfg: DriverConfig,
    amrm: AmRmClient,
    max_capability: Resource,
    /// TaskExecutorProcessSpecContainerResourcePriorityAdapter: a priority per spec, from 1.
    priorities: BTreeMap<WorkerResourceSpec, i32>,
    next_priority: i32,
    /// Requests sent but not yet matched with a container, per priority (the "futures").
    pending: BTreeMap<i32, (WorkerResourceSpec, u32)>,
    /// Started (or starting) containers by id.
    containers: BTreeMap<ContainerId, Container>,
    /// Containers whose StartContainers request has not been answered yet, with when it was
    /// sent: a request lost on the way (or its answer) must not leave a container allocated
    /// and unused until YARN's allocation expiry.
    starting: BTreeMap<ContainerId, Time>,
}

impl YarnResourceManagerDriver {
    pub fn new(cfg: DriverConfig, rm: Addr, attempt: ApplicationAttemptId) -> Self {
        YarnResourceManagerDriver {
            cfg,
            amrm: AmRmClient::new(rm, attempt),
            max_capability: Resource::ZERO,
            priorities: BTreeMap::new(),
            next_priority: 1,
            pending: BTreeMap::new(),
            containers: BTreeMap::new(),
            starting: BTreeMap::new(),
        }
    }

    pub fn register(&mut self, cx: &mut Cx, host: &str, rpc_port: i32, tracking_url: &str) {
        self.amrm.register(cx, host, rpc_port, tracking_url);
    }

    pub fn max_capability(&self) -> Resource {
        self.max_capability
    }

    /// Containers requested and not yet allocated.
    pub fn num_requested_not_allocated(&self) -> u32 {
        self.pending.values().map(|(_, n)| *n).sum()
    }

    /// The AMRM heartbeat interval right now: fast while requests are pending, so requests go
    /// out quickly and allocations come back quickly; normal otherwise.
    pub fn heartbeat_interval_ms(&self) -> u64 {
        if self.num_requested_not_allocated() > 0 {
            self.cfg.container_request_heartbeat_ms
        } else {
            self.cfg.yarn_heartbeat_ms
        }
    }

    pub fn heartbeat(&mut self, cx: &mut Cx) {
        self.amrm.heartbeat(cx);
    }

    fn container_resource(spec: &WorkerResourceSpec) -> Resource {
        Resource::new(spec.memory_mb, spec.vcores)
    }

    /// requestResource: one more container of `spec`. Fails when YARN could never grant it.
    pub fn request_resource(&mut self, cx: &mut Cx, spec: WorkerResourceSpec) -> Result<(), String> {
        let resource = Self::container_resource(&spec);
        if !resource.fits_in(&self.max_capability) {
            cx.print(&format!(
                "WARN  Requested container resource ({resource}) exceeds the max limitation of the Yarn cluster ({}). Will not allocate resource.",
                self.max_capability
            ));
            return Err(format!(
                "Could not compute the container Resource from the given TaskExecutorProcessSpec {spec}. This usually indicates the requested resource is larger than Yarn's max container resource limit."
            ));
        }
        let priority = match self.priorities.get(&spec) {
            Some(p) => *p,
            None => {
                let p = self.next_priority;
                self.next_priority += 1;
                self.priorities.insert(spec, p);
                p
            }
        };
        self.amrm.add_container_request(priority, resource, 1);
        self.pending.entry(priority).or_insert((spec, 0)).1 += 1;
        cx.print(&format!("INFO  Requesting new TaskExecutor container with resource {resource}, priority {priority}."));
        Ok(())
    }

    /// Cancels one pending request of `spec` (the RM needs fewer workers than it asked for).
    pub fn cancel_pending_request(&mut self, cx: &mut Cx, spec: WorkerResourceSpec) -> bool {
        let Some(priority) = self.priorities.get(&spec).copied() else { return false };
        let Some(entry) = self.pending.get_mut(&priority) else { return false };
        if entry.1 == 0 {
            return false;
        }
        entry.1 -= 1;
        let remaining = entry.1;
        self.amrm.remove_container_request(priority, Self::container_resource(&spec), 1);
        cx.print(&format!("INFO  cancelling pending request with priority {priority}, remaining {remaining} pending container requests."));
        true
    }

    /// Handles a YARN reply (AMRM or NodeManager); returns what it meant for the RM.
    pub fn handle(&mut self, cx: &mut Cx, msg: YarnMsg, rm_address: Addr) -> Vec<DriverEvent> {
        match msg {
            YarnMsg::StartContainersResponse { succeeded, failed } => {
                let mut out = Vec::new();
                for cid in succeeded {
                    self.starting.remove(&cid);
                }
                for (cid, err) in failed {
                    // onStartContainerError: give the container back and report the worker gone.
                    self.starting.remove(&cid);
                    if self.containers.remove(&cid).is_some() {
                        self.amrm.release(cid);
                        out.push(DriverEvent::WorkerTerminated { id: cid.to_string(), diagnostics: err.to_string() });
                    }
                }
                out
            }
            YarnMsg::StopContainersResponse { .. } | YarnMsg::GetContainerStatusesResponse { .. } => Vec::new(),
            m => {
                let events = self.amrm.handle(m);
                let mut out = Vec::new();
                for ev in events {
                    match ev {
                        AmRmEvent::Registered(resp) => {
                            self.max_capability = resp.maximum_capability;
                            for c in &resp.containers_from_previous_attempts {
                                self.containers.insert(c.id, c.clone());
                            }
                            out.push(DriverEvent::Registered { recovered: resp.containers_from_previous_attempts });
                        }
                        AmRmEvent::Allocated(containers) => out.extend(self.on_containers_allocated(cx, containers, rm_address)),
                        AmRmEvent::Completed(statuses) => {
                            for s in statuses {
                                self.starting.remove(&s.container_id);
                                if self.containers.remove(&s.container_id).is_some() {
                                    out.push(DriverEvent::WorkerTerminated {
                                        id: s.container_id.to_string(),
                                        diagnostics: container_completed_cause(&s),
                                    });
                                }
                            }
                        }
                        AmRmEvent::NodesUpdated(_) => {}
                        AmRmEvent::Error { error, fatal } => {
                            cx.print(&format!("ERROR Error from the YARN ResourceManager: {error}"));
                            if fatal {
                                out.push(DriverEvent::Fatal(error.to_string()));
                            }
                        }
                        AmRmEvent::Unregistered => out.push(DriverEvent::Unregistered),
                    }
                }
                out
            }
        }
    }

    fn on_containers_allocated(&mut self, cx: &mut Cx, containers: Vec<Container>, rm_address: Addr) -> Vec<DriverEvent> {
        cx.print(&format!("INFO  Received {} containers.", containers.len()));
        let mut by_priority: BTreeMap<i32, Vec<Container>> = BTreeMap::new();
        for c in containers {
            by_priority.entry(c.priority).or_default().push(c);
        }
        let mut out = Vec::new();
        for (priority, containers) in by_priority {
            let (spec, pending) = match self.pending.get(&priority) {
                Some((spec, n)) => (*spec, *n),
                None => {
                    // Not a priority we ever asked for (or all its asks are matched): excess.
                    for c in containers {
                        cx.print(&format!("INFO  Returning excess container {}.", c.id));
                        self.amrm.release(c.id);
                    }
                    continue;
                }
            };
            let resource = Self::container_resource(&spec);
            let (mut accepted, mut excess) = (0u32, 0u32);
            for c in containers {
                if accepted < pending {
                    accepted += 1;
                    cx.print(&format!("INFO  Removing container request Capability[{resource}]Priority[{priority}]."));
                    self.amrm.remove_container_request(priority, resource, 1);
                    self.start_task_executor(cx, &c, &spec, rm_address);
                    out.push(DriverEvent::WorkerAllocated(c));
                } else {
                    excess += 1;
                    cx.print(&format!("INFO  Returning excess container {}.", c.id));
                    self.amrm.release(c.id);
                }
            }
            let left = pending - accepted;
            self.pending.insert(priority, (spec, left));
            cx.print(&format!(
                "INFO  Accepted {accepted} requested containers, returned {excess} excess containers, {left} pending container requests of resource {resource}."
            ));
        }
        out
    }

    fn start_task_executor(&mut self, cx: &mut Cx, c: &Container, spec: &WorkerResourceSpec, rm_address: Addr) {
        let host = c.node_id.host.to_string();
        let mut environment = BTreeMap::new();
        match &self.cfg.ha_env {
            // With HA the TaskManager finds the leader through ZooKeeper and follows it.
            Some(ha) => environment.extend(ha.clone()),
            None => {
                environment.insert(flink_env::FLINK_RM_ADDRESS.to_string(), rm_address.to_string());
                environment.insert(flink_env::FLINK_RM_ID.to_string(), self.cfg.resource_manager_id.to_string());
            }
        }
        environment.insert(flink_env::FLINK_NUM_SLOTS.to_string(), spec.num_slots.to_string());
        environment.insert(flink_env::FLINK_TM_MEMORY_MB.to_string(), spec.memory_mb.to_string());
        environment.insert(flink_env::FLINK_NODE_ID.to_string(), host);
        environment.insert(FLINK_HEARTBEAT_INTERVAL_MS.to_string(), self.cfg.heartbeat_interval_ms.to_string());
        environment.insert(FLINK_HEARTBEAT_TIMEOUT_MS.to_string(), self.cfg.heartbeat_timeout_ms.to_string());
        let local_resources = self
            .cfg
            .tm_local_resources
            .iter()
            .map(|(name, path)| {
                let r = LocalResource {
                    resource: path.clone(),
                    kind: Default::default(),
                    visibility: Default::default(),
                    size: -1,
                    timestamp: -1,
                };
                (name.clone(), r)
            })
            .collect();
        let launch = ContainerLaunchContext {
            local_resources,
            environment,
            commands: vec![format!("{} 1><LOG_DIR>/taskmanager.out 2><LOG_DIR>/taskmanager.err", self.cfg.taskexec_command)],
            tokens: None,
        };
        cx.print(&format!("INFO  TaskExecutor {} will be started on {} with {}.", c.id, c.node_id, spec));
        self.containers.insert(c.id, c.clone());
        self.starting.insert(c.id, cx.now());
        match c.node_id.addr() {
            Some(nm) => cx.send(
                nm,
                YarnMsg::StartContainers {
                    requests: vec![StartContainerRequest { container: c.clone(), launch, user: self.cfg.user.clone() }],
                },
            ),
            None => cx.print(&format!("ERROR Cannot reach the NodeManager of container {} at {}.", c.id, c.node_id)),
        }
    }

    /// releaseResource: stops the container on its NodeManager and gives it back to YARN.
    pub fn release_resource(&mut self, cx: &mut Cx, id: &str) {
        let Some((cid, c)) = self.containers.iter().find(|(k, _)| k.to_string() == id).map(|(k, v)| (*k, v.clone())) else {
            return;
        };
        cx.print(&format!("INFO  Stopping container {cid}."));
        self.containers.remove(&cid);
        self.starting.remove(&cid);
        if let Some(nm) = c.node_id.addr() {
            cx.send(nm, YarnMsg::StopContainers { containers: vec![cid] });
        }
        self.amrm.release(cid);
    }

    /// Containers whose StartContainers went unanswered for the start timeout: Hadoop's
    /// NMClientAsync reports onStartContainerError once its RPC gives up, and Flink's driver
    /// then releases the container and reports the worker terminated, so the ResourceManager
    /// requests a new one if it still needs it. The NodeManager is told to stop it too, in
    /// case only the answer was lost and the container runs.
    pub fn check_start_timeouts(&mut self, cx: &mut Cx) -> Vec<DriverEvent> {
        let timeout = std::time::Duration::from_millis(self.cfg.start_container_timeout_ms);
        let now = cx.now();
        let expired: Vec<ContainerId> = self.starting.iter().filter(|(_, sent)| now.since(**sent) >= timeout).map(|(c, _)| *c).collect();
        let mut out = Vec::new();
        for cid in expired {
            self.starting.remove(&cid);
            let Some(c) = self.containers.remove(&cid) else { continue };
            let diagnostics = format!(
                "Container {cid} could not be started on {}: no answer to StartContainers within {} ms.",
                c.node_id, self.cfg.start_container_timeout_ms
            );
            cx.print(&format!("WARN  Error when starting container {cid}: {diagnostics} Releasing it."));
            cx.trace("container.start.timeout", cid);
            if let Some(nm) = c.node_id.addr() {
                cx.send(nm, YarnMsg::StopContainers { containers: vec![cid] });
            }
            self.amrm.release(cid);
            out.push(DriverEvent::WorkerTerminated { id: cid.to_string(), diagnostics });
        }
        out
    }

    /// Whether a container id belongs to a worker this driver started or recovered.
    pub fn knows(&self, id: &str) -> bool {
        self.containers.keys().any(|k| k.to_string() == id)
    }

    /// deregisterApplication: Flink's ApplicationStatus mapped to YARN's final status.
    pub fn deregister(&mut self, cx: &mut Cx, status: FinalApplicationStatus, diagnostics: &str) {
        cx.print(&format!("INFO  Unregister application from the YARN Resource Manager with final status {status}."));
        self.amrm.set_progress(1.0);
        self.amrm.unregister(cx, status, diagnostics, "");
    }
}

/// getContainerCompletedCause: Flink's wording per ContainerExitStatus.
pub fn container_completed_cause(s: &ContainerStatus) -> String {
    let (id, d) = (&s.container_id, &s.diagnostics);
    match s.exit_status {
        exit_status::SUCCESS => format!("Container {id} exited normally. Diagnostics: {d}"),
        exit_status::PREEMPTED => format!("Container {id} was preempted by yarn. Diagnostics: {d}"),
        exit_status::INVALID => format!("Container {id} was invalid. Diagnostics: {d}"),
        exit_status::ABORTED => format!(
            "Container {id} killed by YARN, either due to being released by the application or being 'lost' due to node failures etc. Diagnostics: {d}"
        ),
        exit_status::DISKS_FAILED => format!(
            "Container {id} is failed because threshold number of the nodemanager-local-directories or threshold number of the nodemanager-log-directories have become bad. Diagnostics: {d}"
        ),
        code => format!("Container {id} marked as failed.\n Exit code:{code}.\n Diagnostics:{d}"),
    }
}

/// The user YARN runs the AM as (TaskManagers run as the same user).
pub fn user_of(env: &BTreeMap<String, String>) -> String {
    env.get(yarn_env::USER).cloned().unwrap_or_default()
}
