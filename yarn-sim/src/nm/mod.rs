//! The NodeManager: a sans-IO [`engine::Node`] that registers with the ResourceManager and
//! heartbeats (NodeStatusUpdater), runs containers (ContainerManager, with
//! ResourceLocalizationService and ContainerLaunch), watches their memory
//! (ContainersMonitor) and answers for its REST pages (webapp).

pub mod application;
pub mod config;
pub mod container;
pub mod container_manager;
pub mod launch;
pub mod localizer;
pub mod monitor;
pub mod status_updater;
pub mod webapp;

#[cfg(test)]
mod tests;

use std::any::Any;

use engine::{Addr, Cx, ExitCode, Msg, Node, ProcId, Signal, Time, TimerId};

use crate::ids::{ApplicationId, ContainerId, NodeId};
use crate::proto::{MasterKey, NodeAction, RemoteError, StartContainerRequest, YarnMsg};
use crate::records::ContainerStatus;
use crate::records::{diagnostics, exit_status};

pub use application::{Application, ApplicationState};
pub use config::NmConfig;
pub use container::{Container, ContainerState, KillReason};
pub use container_manager::ContainerManager;
pub use monitor::ContainersMonitor;
pub use status_updater::{NodeStatusUpdater, UpdaterState};
pub use webapp::{NmAppInfo, NmContainerInfo, NodeInfo};

use container_manager::{not_handled, KILL_TIMER_BASE};
use status_updater::STATUS_UPDATER_TIMER;

pub const MONITOR_TIMER: TimerId = 2;

/// ContainerManagerImpl's diagnostics for containers the RM has the NM kill.
pub const KILLED_BY_RM: &str = "Container Killed by ResourceManager";
pub const KILLED_ON_RESYNC: &str = "Container Killed on Resync";
pub const KILLED_ON_SHUTDOWN: &str = "Container Killed on Shutdown";

#[repr(C, align(64))]
pub struct NodeManager {
    // What every heartbeat reads comes first, in declaration order (`repr(C)`): the sim
    // prefetches a node's first three lines before its input, and at 10,000 NodeManagers a
    // field past them is a miss to memory on every heartbeat (the container map was at byte
    // 488 of 832; it is now in the first three lines). Aligned to a line, so those bytes
    // are three lines, not four.
    node_id: Option<NodeId>,
    updater: NodeStatusUpdater,
    /// The monitor's timer is not armed while no container runs, and this is when its next
    /// pass would have been: a container that starts is first checked at the pass YARN's
    /// always-running monitor thread would make, and an idle node costs the sim no event
    /// every 3 s (a tenth of a 10,000-node run's events).
    monitor_parked: Option<Time>,
    manager: ContainerManager,
    monitor: ContainersMonitor,
    start_time: Time,
    /// The RM's container-token and NM-token master keys from the last registration
    /// (NMContainerTokenSecretManager / NMTokenSecretManagerInNM): what the NM checks the
    /// tokens of Java clients against.
    container_token_key: Option<MasterKey>,
    nm_token_key: Option<MasterKey>,
    conf: NmConfig,
}

impl NodeManager {
    pub fn new(conf: NmConfig) -> NodeManager {
        let updater = NodeStatusUpdater::new(conf.resource_tracker_address, conf.heartbeat_interval, conf.register_retry_interval);
        NodeManager {
            conf,
            node_id: None,
            start_time: Time::ZERO,
            updater,
            manager: ContainerManager::new(),
            monitor: ContainersMonitor::new(),
            container_token_key: None,
            nm_token_key: None,
            monitor_parked: None,
        }
    }

    pub fn config(&self) -> &NmConfig {
        &self.conf
    }

    /// Known once the node has started (its RPC address).
    pub fn node_id(&self) -> Option<&NodeId> {
        self.node_id.as_ref()
    }

    pub fn is_registered(&self) -> bool {
        self.updater.state == UpdaterState::Registered
    }

    pub fn status_updater(&self) -> &NodeStatusUpdater {
        &self.updater
    }

    /// The container-token master key the RM gave at registration (None before).
    pub fn container_token_master_key(&self) -> Option<&MasterKey> {
        self.container_token_key.as_ref()
    }

    /// The NM-token master key the RM gave at registration (None before).
    pub fn nm_token_master_key(&self) -> Option<&MasterKey> {
        self.nm_token_key.as_ref()
    }

    /// The NM's record of a container (tracked or retained after completion).
    pub fn container_record(&self, id: &ContainerId) -> Option<&Container> {
        self.manager.get(id)
    }

    /// GET /ws/v1/node/info. The node's health checker has nothing to report, so the node is
    /// healthy as of `now`.
    pub fn node_info(&self, now: Time) -> NodeInfo {
        NodeInfo {
            id: self.node_id.as_ref().map(|n| n.to_string()).unwrap_or_default(),
            node_host_name: self.node_id.as_ref().map(|n| n.host.to_string()).unwrap_or_default(),
            total_pmem_allocated_containers_mb: self.conf.resource.memory_mb,
            total_vmem_allocated_containers_mb: self.conf.vmem_mb(),
            total_vcores_allocated_containers: self.conf.resource.vcores,
            vmem_check_enabled: self.conf.vmem_check_enabled,
            pmem_check_enabled: self.conf.pmem_check_enabled,
            last_node_update_time: now.as_millis(),
            nm_startup_time: self.start_time.as_millis(),
            health_report: String::new(),
            node_healthy: true,
            node_manager_version: webapp::NM_VERSION.into(),
            node_manager_build_version: webapp::NM_BUILD_VERSION.into(),
            node_manager_version_built_on: webapp::NM_BUILT_ON.into(),
            hadoop_version: webapp::NM_VERSION.into(),
            hadoop_build_version: webapp::NM_BUILD_VERSION.into(),
            hadoop_version_built_on: webapp::NM_BUILT_ON.into(),
        }
    }

    fn app_info(a: &Application) -> NmAppInfo {
        NmAppInfo {
            id: a.id.to_string(),
            state: a.state.name().to_string(),
            user: a.user.clone(),
            containerids: a.containers.iter().map(|c| c.to_string()).collect(),
        }
    }

    /// GET /ws/v1/node/apps, in application id order.
    pub fn apps(&self) -> Vec<NmAppInfo> {
        self.manager.apps().map(Self::app_info).collect()
    }

    pub fn app(&self, id: &ApplicationId) -> Option<NmAppInfo> {
        self.manager.app(id).map(Self::app_info)
    }

    fn container_info(&self, c: &Container, list_dir: &mut dyn FnMut(&str) -> Vec<String>) -> NmContainerInfo {
        let prefix = format!("{}/", c.log_dir);
        NmContainerInfo {
            id: c.id.to_string(),
            state: c.state.name().to_string(),
            node_id: self.node_id.as_ref().map(|n| n.to_string()).unwrap_or_default(),
            container_logs_link: format!("http://{}/node/containerlogs/{}/{}", self.conf.http_address, c.id, c.user),
            user: c.user.clone(),
            exit_code: c.exit_status,
            diagnostics: c.diagnostics.clone(),
            total_memory_needed_mb: c.resource.memory_mb,
            total_vcores_needed: c.resource.vcores,
            execution_type: "GUARANTEED".into(),
            container_log_files: list_dir(&c.log_dir)
                .into_iter()
                .map(|p| p.strip_prefix(&prefix).map(str::to_string).unwrap_or(p))
                .collect(),
        }
    }

    /// GET /ws/v1/node/containers. `list_dir` lists a local dir (e.g. `Cx::local_list`): the
    /// NM does no IO of its own.
    pub fn containers(&self, list_dir: &mut dyn FnMut(&str) -> Vec<String>) -> Vec<NmContainerInfo> {
        self.manager.all().map(|c| self.container_info(c, list_dir)).collect()
    }

    pub fn container(&self, id: &ContainerId, list_dir: &mut dyn FnMut(&str) -> Vec<String>) -> Option<NmContainerInfo> {
        self.manager.get(id).map(|c| self.container_info(c, list_dir))
    }

    /// Where a container's stdout/stderr are, for `yarn logs` and the containerlogs page.
    pub fn container_log_dir(&self, id: &ContainerId) -> Option<String> {
        self.manager.log_dir(id).map(String::from)
    }

    /// `<log-dir>/<appId>` for every log dir: all of an application's logs on this node.
    pub fn app_log_dirs(&self, app: &ApplicationId) -> Vec<String> {
        self.conf.log_dirs.iter().map(|d| format!("{d}/{app}")).collect()
    }

    fn node_id_or_me(&self, cx: &Cx) -> NodeId {
        self.node_id.clone().unwrap_or_else(|| NodeId::from_addr(cx.me()))
    }

    fn register(&mut self, cx: &mut Cx) {
        let node_id = self.node_id_or_me(cx);
        let statuses = self.manager.nm_statuses();
        self.updater.register(cx, &node_id, &self.conf.http_address, self.conf.resource, statuses);
    }

    fn shutdown(&mut self, cx: &mut Cx, why: &str) {
        cx.trace("nm.shutdown", why);
        self.manager.kill_all(cx, &self.conf, exit_status::KILLED_BY_RESOURCEMANAGER, KILLED_ON_SHUTDOWN);
        self.manager.signal_all(cx, Signal::Kill);
        self.updater.state = UpdaterState::Stopped;
        cx.exit(0);
    }

    fn on_heartbeat_response(&mut self, cx: &mut Cx, msg: YarnMsg) {
        let YarnMsg::NodeHeartbeatResponse {
            response_id,
            action,
            containers_to_cleanup,
            apps_to_cleanup,
            containers_to_be_removed,
            next_heartbeat_ms,
        } = msg
        else {
            return;
        };
        if !self.updater.accept_response(cx.now(), response_id, next_heartbeat_ms) {
            return;
        }
        match action {
            NodeAction::Normal => {
                // Apps first, so their containers get KILLED_AFTER_APP_COMPLETION.
                self.manager.finish_apps(cx, &self.conf, &apps_to_cleanup);
                for id in &containers_to_cleanup {
                    self.manager.kill(
                        cx,
                        &self.conf,
                        id,
                        KillReason { exit_status: exit_status::KILLED_BY_RESOURCEMANAGER, diagnostics: KILLED_BY_RM.into() },
                    );
                }
                self.manager.forget(cx, &self.conf, &containers_to_be_removed);
            }
            NodeAction::Resync => {
                cx.trace("nm.resync", "the ResourceManager asked for a resync");
                // NodeManager.resyncWithRM: only without work-preserving recovery are the
                // containers killed; otherwise the registration reports them to the
                // (possibly restarted) RM, which keeps what it recovered.
                if !self.conf.work_preserving_recovery {
                    self.manager.kill_all(cx, &self.conf, exit_status::KILLED_BY_RESOURCEMANAGER, KILLED_ON_RESYNC);
                }
                self.register(cx);
            }
            NodeAction::Shutdown => self.shutdown(cx, "the ResourceManager asked for a shutdown"),
        }
    }

    fn send_heartbeat(&mut self, cx: &mut Cx) {
        let node_id = self.node_id_or_me(cx);
        let statuses = self.manager.statuses();
        self.updater.heartbeat(cx, &node_id, statuses);
    }

    /// NodeStatusUpdater.sendOutofBandHeartBeat: a container started or ended, so tell the RM
    /// now rather than at the next interval (the RM allocates and AMs learn on heartbeats).
    fn out_of_band_heartbeat(&mut self, cx: &mut Cx) {
        self.heartbeat_now(cx)
    }

    /// NodeStatusUpdater.sendOutofBandHeartBeat (a no-op before registration).
    pub fn heartbeat_now(&mut self, cx: &mut Cx) {
        if self.updater.state == UpdaterState::Registered {
            self.send_heartbeat(cx);
        }
    }

    fn start_containers(&mut self, cx: &mut Cx, from: Addr, requests: Vec<StartContainerRequest>) {
        let (succeeded, failed) = self.start_container_requests(cx, &requests);
        let started = !succeeded.is_empty();
        cx.send(from, YarnMsg::StartContainersResponse { succeeded, failed });
        if started {
            self.out_of_band_heartbeat(cx);
        }
    }

    /// ContainerManagerImpl.startContainers for requests already authorized: each starts or
    /// is refused on its own. The caller sends the out-of-band heartbeat if one started
    /// ([`NodeManager::heartbeat_now`]).
    #[allow(clippy::type_complexity)]
    pub fn start_container_requests(
        &mut self,
        cx: &mut Cx,
        requests: &[StartContainerRequest],
    ) -> (Vec<ContainerId>, Vec<(ContainerId, RemoteError)>) {
        let (mut succeeded, mut failed) = (Vec::new(), Vec::new());
        for req in requests {
            let id = req.container.id;
            let result = if self.is_registered() {
                self.manager.start(cx, &self.conf, req)
            } else {
                Err(RemoteError::new(
                    "org.apache.hadoop.yarn.exceptions.NMNotYetReadyException",
                    "Rejecting new containers as NodeManager has not yet connected with ResourceManager",
                ))
            };
            match result {
                Ok(()) => succeeded.push(id),
                Err(e) => failed.push((id, e)),
            }
        }
        (succeeded, failed)
    }

    fn stop_containers(&mut self, cx: &mut Cx, from: Addr, ids: Vec<ContainerId>) {
        let (succeeded, failed) = self.stop_container_ids(cx, ids);
        cx.send(from, YarnMsg::StopContainersResponse { succeeded, failed });
    }

    /// ContainerManagerImpl.stopContainers: KILLED_BY_APPMASTER, or "not handled".
    #[allow(clippy::type_complexity)]
    pub fn stop_container_ids(&mut self, cx: &mut Cx, ids: Vec<ContainerId>) -> (Vec<ContainerId>, Vec<(ContainerId, RemoteError)>) {
        let (mut succeeded, mut failed) = (Vec::new(), Vec::new());
        for id in ids {
            let reason = KillReason { exit_status: exit_status::KILLED_BY_APPMASTER, diagnostics: diagnostics::KILLED_BY_APPMASTER.into() };
            if self.manager.kill(cx, &self.conf, &id, reason) {
                succeeded.push(id);
            } else {
                failed.push((id, not_handled(&id)));
            }
        }
        (succeeded, failed)
    }

    /// ContainerManagerImpl.getContainerStatuses.
    pub fn container_statuses(&self, ids: Vec<ContainerId>) -> (Vec<ContainerStatus>, Vec<(ContainerId, RemoteError)>) {
        let (mut statuses, mut failed) = (Vec::new(), Vec::new());
        for id in ids {
            match self.manager.status(&id) {
                Ok(s) => statuses.push(s),
                Err(e) => failed.push((id, e)),
            }
        }
        (statuses, failed)
    }

    fn monitor_pass(&mut self, cx: &mut Cx) {
        let running = self.manager.running();
        let ids: Vec<ContainerId> = running.iter().map(|(id, _, _)| *id).collect();
        self.monitor.retain(&ids);
        for (id, pid, resource) in running {
            let Some(usage) = cx.usage(pid) else { continue };
            let c = &self.conf;
            if let Some(v) = self.monitor.check(&id, &resource, &usage, c.pmem_check_enabled, c.vmem_check_enabled, c.vmem_pmem_ratio) {
                cx.trace("nm.monitor.kill", format!("{id} exit status {}", v.exit_status));
                self.manager.kill(cx, &self.conf, &id, KillReason { exit_status: v.exit_status, diagnostics: v.diagnostics });
            }
        }
        if self.manager.has_running() {
            cx.set_timer(self.conf.monitor_interval, MONITOR_TIMER);
        } else {
            self.monitor_parked = Some(cx.now() + self.conf.monitor_interval);
        }
    }

    /// Re-arms a parked monitor once a container runs, for the first pass on its schedule
    /// after now.
    fn wake_monitor(&mut self, cx: &mut Cx) {
        let Some(mut next) = self.monitor_parked else { return };
        if !self.manager.has_running() {
            return;
        }
        let (now, every) = (cx.now(), self.conf.monitor_interval);
        if next <= now && !every.is_zero() {
            let behind = now.since(next).as_micros() / every.as_micros().max(1) + 1;
            next = next + every * behind as u32;
        }
        self.monitor_parked = None;
        cx.set_timer(next.since(now), MONITOR_TIMER);
    }
}

impl Node for NodeManager {
    fn on_start(&mut self, cx: &mut Cx) {
        self.node_id = Some(NodeId::from_addr(cx.me()));
        self.start_time = cx.now();
        if self.conf.recovery_enabled {
            self.manager.recover(cx, &self.conf);
        }
        self.register(cx);
        if self.conf.pmem_check_enabled || self.conf.vmem_check_enabled {
            cx.set_timer(self.conf.monitor_interval, MONITOR_TIMER);
        }
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        self.handle_message(cx, from, msg);
        self.wake_monitor(cx);
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        self.handle_timer(cx, timer);
        self.wake_monitor(cx);
    }

    fn on_process_exit(&mut self, cx: &mut Cx, pid: ProcId, code: ExitCode) {
        self.manager.on_process_exit(cx, &self.conf, pid, code);
        self.out_of_band_heartbeat(cx);
    }

    fn on_local_copy_done(&mut self, cx: &mut Cx, id: u64, result: Result<(), String>) {
        if self.updater.state == UpdaterState::Stopped {
            return;
        }
        if self.manager.on_local_copy_done(cx, &self.conf, id, result) {
            self.out_of_band_heartbeat(cx);
        }
        self.wake_monitor(cx);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

impl NodeManager {
    fn handle_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let Ok(msg) = msg.downcast::<YarnMsg>() else { return };
        if self.updater.state == UpdaterState::Stopped {
            return;
        }
        match msg {
            YarnMsg::RegisterNodeManagerResponse {
                action,
                rm_identifier,
                heartbeat_interval_ms,
                diagnostics,
                container_token_master_key,
                nm_token_master_key,
            } => {
                if self.updater.state != UpdaterState::Registering {
                    return;
                }
                match action {
                    NodeAction::Normal => {
                        // An RM without the keys (an empty key) signs nothing this NM could check.
                        self.container_token_key = Some(container_token_master_key).filter(|k| !k.bytes.is_empty());
                        self.nm_token_key = Some(nm_token_master_key).filter(|k| !k.bytes.is_empty());
                        self.updater.registered(cx, rm_identifier, heartbeat_interval_ms)
                    }
                    NodeAction::Shutdown => {
                        let why = format!("Recieved SHUTDOWN signal from Resourcemanager, Registration of NodeManager failed, Message from ResourceManager: {diagnostics}");
                        self.shutdown(cx, &why)
                    }
                    // The retry timer is armed: registration is simply sent again.
                    NodeAction::Resync => {}
                }
            }
            m @ YarnMsg::NodeHeartbeatResponse { .. } => self.on_heartbeat_response(cx, m),
            YarnMsg::StartContainers { requests } => self.start_containers(cx, from, requests),
            YarnMsg::StopContainers { containers } => self.stop_containers(cx, from, containers),
            YarnMsg::GetContainerStatuses { containers } => {
                let (statuses, failed) = self.container_statuses(containers);
                cx.send(from, YarnMsg::GetContainerStatusesResponse { statuses, failed });
            }
            other => cx.trace("nm.unexpected", other_kind(&other)),
        }
    }

    fn handle_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        match timer {
            STATUS_UPDATER_TIMER => match self.updater.state {
                UpdaterState::Registering => self.register(cx),
                UpdaterState::Registered => self.send_heartbeat(cx),
                UpdaterState::Stopped => {}
            },
            MONITOR_TIMER => self.monitor_pass(cx),
            t if t >= KILL_TIMER_BASE => self.manager.on_kill_timer(cx, t),
            _ => {}
        }
    }
}

fn other_kind(m: &YarnMsg) -> &'static str {
    engine::Wire::kind(m)
}

#[cfg(test)]
mod layout_tests {
    use super::*;

    /// What an idle heartbeat reads (the node id, the status updater, the parked monitor, the
    /// container map and the history of stopped containers) lies in the node's first three
    /// cache lines, which the sim prefetches before the heartbeat's timer or answer is
    /// handled.
    #[test]
    fn heartbeat_fields_are_in_the_first_lines() {
        let end = |off: usize, size: usize| off + size;
        let hot = [
            end(std::mem::offset_of!(NodeManager, node_id), std::mem::size_of::<Option<NodeId>>()),
            end(std::mem::offset_of!(NodeManager, updater), std::mem::size_of::<NodeStatusUpdater>()),
            end(std::mem::offset_of!(NodeManager, monitor_parked), std::mem::size_of::<Option<Time>>()),
            // The map is the manager's first field, the history of stopped containers next.
            std::mem::offset_of!(NodeManager, manager) + container_manager::ContainerManager::HOT_END,
        ];
        let last = hot.into_iter().max().unwrap();
        assert!(last <= 3 * 64, "heartbeat fields end at byte {last}");
        assert_eq!(std::mem::align_of::<NodeManager>(), 64);
        assert_eq!(container_manager::ContainerManager::CONTAINERS_OFFSET, 0);
    }
}
