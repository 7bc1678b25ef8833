//! What REST and the CLI read: app, attempt, container and node reports, cluster info and
//! metrics, and the scheduler tree. Field names are exactly YARN's REST names (§1) so the
//! REST layer serializes these structs as they are.

use engine::Time;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::ids::{ApplicationAttemptId, ApplicationId, NodeId};
use crate::records::{ContainerState, FinalApplicationStatus, NodeState, YarnApplicationState};

use super::rmapp::RMAppState;
use super::rmcontainer::{RMContainer, RMContainerState};
use super::rmnode::RMNode;
use super::ResourceManager;

const VERSION: &str = "3.3.6";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppReport {
    pub id: ApplicationId,
    pub user: String,
    pub name: String,
    pub queue: String,
    pub state: YarnApplicationState,
    pub final_status: FinalApplicationStatus,
    /// Percent, 0-100.
    pub progress: f32,
    #[serde(rename = "trackingUI")]
    pub tracking_ui: String,
    pub tracking_url: String,
    pub diagnostics: String,
    pub cluster_id: u64,
    pub application_type: String,
    /// Comma-joined.
    pub application_tags: String,
    pub priority: i32,
    pub started_time: u64,
    pub launch_time: u64,
    /// 0 while running.
    pub finished_time: u64,
    pub elapsed_time: u64,
    pub am_container_logs: String,
    pub am_host_http_address: String,
    #[serde(rename = "amRPCAddress")]
    pub am_rpc_address: String,
    #[serde(rename = "allocatedMB")]
    pub allocated_mb: u64,
    #[serde(rename = "allocatedVCores")]
    pub allocated_vcores: u64,
    pub running_containers: u64,
    pub memory_seconds: u64,
    pub vcore_seconds: u64,
    pub unmanaged_application: bool,
    pub application_priority: i32,
    pub app_node_label_expression: String,
    pub am_node_label_expression: String,
    #[serde(skip)]
    pub current_app_attempt_id: Option<ApplicationAttemptId>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptReport {
    /// The attempt number.
    pub id: u32,
    pub node_id: String,
    pub node_http_address: String,
    pub logs_link: String,
    pub container_id: String,
    pub start_time: u64,
    pub finished_time: u64,
    pub app_attempt_id: ApplicationAttemptId,
    pub app_attempt_state: String,
    pub diagnostics_info: String,
    /// Nodes the AM blacklisted / the RM blacklisted for AMs: none here (no blacklisting).
    #[serde(default)]
    pub blacklisted_nodes: String,
    #[serde(default)]
    pub nodes_blacklisted_by_system: String,
}

/// One attempt as `/apps/{id}/appattempts/{attemptId}` shows it (the shared webapp's
/// AppAttemptInfo, which the timeline and history servers serve too).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttemptInfo {
    pub app_attempt_id: ApplicationAttemptId,
    pub host: String,
    pub rpc_port: i32,
    pub tracking_url: String,
    pub original_tracking_url: String,
    pub diagnostics_info: String,
    pub app_attempt_state: String,
    pub am_container_id: String,
    pub started_time: u64,
    pub finished_time: u64,
}

/// One `statItem` of `/appstatistics`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatItem {
    pub state: YarnApplicationState,
    /// The application type, lower-cased, or `*` for any.
    #[serde(rename = "type")]
    pub kind: String,
    pub count: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerReport {
    pub container_id: String,
    #[serde(rename = "allocatedMB")]
    pub allocated_mb: u64,
    #[serde(rename = "allocatedVCores")]
    pub allocated_vcores: u64,
    pub assigned_node_id: String,
    pub priority: i32,
    pub started_time: u64,
    pub finished_time: u64,
    pub elapsed_time: u64,
    /// NEW until the NM reports it, RUNNING, then COMPLETE.
    #[serde(rename = "containerState")]
    pub state: ContainerState,
    #[serde(rename = "containerExitStatus")]
    pub exit_status: i32,
    pub diagnostics_info: String,
    pub log_url: String,
    pub node_http_address: String,
    /// Hadoop's ContainerInfo repeats the node as `nodeId`.
    pub node_id: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub rack: String,
    pub state: NodeState,
    pub id: NodeId,
    #[serde(rename = "nodeHostName")]
    pub node_host_name: String,
    #[serde(rename = "nodeHTTPAddress")]
    pub node_http_address: String,
    #[serde(rename = "lastHealthUpdate")]
    pub last_health_update: u64,
    #[serde(rename = "healthReport")]
    pub health_report: String,
    #[serde(rename = "healthStatus")]
    pub health_status: String,
    #[serde(rename = "numContainers")]
    pub num_containers: u64,
    #[serde(rename = "usedMemoryMB")]
    pub used_memory_mb: u64,
    #[serde(rename = "availMemoryMB")]
    pub avail_memory_mb: u64,
    #[serde(rename = "usedVirtualCores")]
    pub used_virtual_cores: u64,
    #[serde(rename = "availableVirtualCores")]
    pub available_virtual_cores: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterInfo {
    pub id: u64,
    pub started_on: u64,
    pub state: String,
    pub ha_state: String,
    pub resource_manager_version: String,
    pub resource_manager_build_version: String,
    pub resource_manager_version_built_on: String,
    pub hadoop_version: String,
    pub hadoop_build_version: String,
    pub hadoop_version_built_on: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMetrics {
    #[serde(rename = "appsSubmitted")]
    pub apps_submitted: u64,
    #[serde(rename = "appsCompleted")]
    pub apps_completed: u64,
    #[serde(rename = "appsPending")]
    pub apps_pending: u64,
    #[serde(rename = "appsRunning")]
    pub apps_running: u64,
    #[serde(rename = "appsFailed")]
    pub apps_failed: u64,
    #[serde(rename = "appsKilled")]
    pub apps_killed: u64,
    #[serde(rename = "reservedMB")]
    pub reserved_mb: u64,
    #[serde(rename = "availableMB")]
    pub available_mb: u64,
    #[serde(rename = "allocatedMB")]
    pub allocated_mb: u64,
    #[serde(rename = "totalMB")]
    pub total_mb: u64,
    #[serde(rename = "reservedVirtualCores")]
    pub reserved_virtual_cores: u64,
    #[serde(rename = "availableVirtualCores")]
    pub available_virtual_cores: u64,
    #[serde(rename = "allocatedVirtualCores")]
    pub allocated_virtual_cores: u64,
    #[serde(rename = "totalVirtualCores")]
    pub total_virtual_cores: u64,
    #[serde(rename = "containersAllocated")]
    pub containers_allocated: u64,
    #[serde(rename = "containersReserved")]
    pub containers_reserved: u64,
    #[serde(rename = "containersPending")]
    pub containers_pending: u64,
    #[serde(rename = "totalNodes")]
    pub total_nodes: u64,
    #[serde(rename = "activeNodes")]
    pub active_nodes: u64,
    #[serde(rename = "lostNodes")]
    pub lost_nodes: u64,
    #[serde(rename = "unhealthyNodes")]
    pub unhealthy_nodes: u64,
    #[serde(rename = "decommissioningNodes")]
    pub decommissioning_nodes: u64,
    #[serde(rename = "decommissionedNodes")]
    pub decommissioned_nodes: u64,
    #[serde(rename = "rebootedNodes")]
    pub rebooted_nodes: u64,
    #[serde(rename = "shutdownNodes")]
    pub shutdown_nodes: u64,
}

fn ms(t: Option<Time>) -> u64 {
    t.map(|t| t.as_millis()).unwrap_or(0)
}

fn container_logs(http: &str, c: &RMContainer, user: &str) -> String {
    format!("http://{http}/node/containerlogs/{}/{user}", c.id())
}

impl AppReport {
    /// What AppInfo leaves out for a caller without VIEW_APP (and not a queue admin): times,
    /// the AM's addresses and logs, and resource usage; id, user, name, queue, states,
    /// progress, tracking URL, diagnostics, type, tags and priority stay.
    pub fn restrict(&mut self) {
        self.started_time = 0;
        self.launch_time = 0;
        self.finished_time = 0;
        self.elapsed_time = 0;
        self.am_container_logs.clear();
        self.am_host_http_address.clear();
        self.am_rpc_address.clear();
        self.allocated_mb = 0;
        self.allocated_vcores = 0;
        self.running_containers = 0;
        self.memory_seconds = 0;
        self.vcore_seconds = 0;
    }
}

impl AttemptReport {
    /// AppAttemptInfo without access: no AM container, node or logs link.
    pub fn restrict(&mut self) {
        self.node_id.clear();
        self.node_http_address.clear();
        self.logs_link.clear();
        self.container_id.clear();
    }
}

impl ResourceManager {
    /// An app report as `user` may see it (RMWebServices.hasAccess decides the fields).
    pub fn app_report_as(&self, id: &ApplicationId, now: Time, user: &str) -> Option<AppReport> {
        let mut r = self.app_report(id, now)?;
        if !self.can_view(user, id) {
            r.restrict();
        }
        Some(r)
    }

    /// Every app in memory as `user` may see it, by id.
    pub fn app_reports_as(&self, now: Time, user: &str) -> Vec<AppReport> {
        self.apps.keys().filter_map(|id| self.app_report_as(id, now, user)).collect()
    }

    /// Attempt reports as `user` may see them.
    pub fn attempt_reports_as(&self, app: &ApplicationId, user: &str) -> Option<Vec<AttemptReport>> {
        let mut list = self.attempt_reports(app)?;
        if !self.can_view(user, app) {
            list.iter_mut().for_each(AttemptReport::restrict);
        }
        Some(list)
    }

    pub fn app_report(&self, id: &ApplicationId, now: Time) -> Option<AppReport> {
        let app = self.apps.get(id)?;
        let attempt = app.attempts.last();
        let am = attempt.and_then(|a| a.am_container).and_then(|c| self.containers.get(&c));
        let state = app.yarn_state();
        let (mut mem_s, mut vc_s) = (app.memory_seconds_done, app.vcore_seconds_done);
        let (mut mb, mut vc, mut running) = (0, 0, 0);
        for c in app.live_containers.iter().filter_map(|c| self.containers.get(c)) {
            let (m, v) = c.usage_seconds(now);
            mem_s += m;
            vc_s += v;
            mb += c.resource().memory_mb;
            vc += c.resource().vcores as u64;
            running += 1;
        }
        let started = app.submit_time.as_millis();
        let finished = ms(app.finish_time);
        let elapsed = if finished > 0 { finished.saturating_sub(started) } else { now.as_millis().saturating_sub(started) };
        let progress = match app.state {
            RMAppState::Finishing | RMAppState::Finished => 100.0,
            _ => attempt.map(|a| a.progress * 100.0).unwrap_or(0.0),
        };
        let am_http = am.map(|c| c.container.node_http_address.clone()).unwrap_or_default();
        Some(AppReport {
            id: *id,
            user: app.user.clone(),
            name: app.ctx.application_name.clone(),
            queue: app.queue.clone(),
            state,
            final_status: app.final_status,
            progress,
            tracking_ui: if state.is_final() { "History" } else { "ApplicationMaster" }.into(),
            tracking_url: self.tracking_url(id),
            diagnostics: app.diagnostics.clone(),
            cluster_id: self.cluster_ts,
            application_type: app.ctx.application_type.clone(),
            application_tags: app.ctx.application_tags.join(","),
            priority: app.ctx.priority,
            started_time: started,
            launch_time: ms(app.launch_time),
            finished_time: finished,
            elapsed_time: elapsed,
            am_container_logs: am.map(|c| container_logs(&am_http, c, &app.user)).unwrap_or_default(),
            am_host_http_address: am_http,
            am_rpc_address: attempt.filter(|a| a.registered).map(|a| format!("{}:{}", a.host, a.rpc_port)).unwrap_or_else(|| "N/A".into()),
            allocated_mb: mb,
            allocated_vcores: vc,
            running_containers: running,
            memory_seconds: mem_s,
            vcore_seconds: vc_s,
            unmanaged_application: app.ctx.unmanaged_am,
            application_priority: app.ctx.priority,
            app_node_label_expression: String::new(),
            am_node_label_expression: String::new(),
            current_app_attempt_id: attempt.map(|a| a.id),
        })
    }

    /// Every app in memory, by id.
    pub fn app_reports(&self, now: Time) -> Vec<AppReport> {
        self.apps.keys().filter_map(|id| self.app_report(id, now)).collect()
    }

    pub fn attempt_reports(&self, app: &ApplicationId) -> Option<Vec<AttemptReport>> {
        let a = self.apps.get(app)?;
        Some(
            a.attempts
                .iter()
                .map(|at| {
                    let c = at.am_container.and_then(|c| self.containers.get(&c));
                    let http = c.map(|c| c.container.node_http_address.clone()).unwrap_or_default();
                    AttemptReport {
                        id: at.id.attempt,
                        node_id: c.map(|c| c.node().to_string()).unwrap_or_default(),
                        logs_link: c.map(|c| container_logs(&http, c, &a.user)).unwrap_or_default(),
                        node_http_address: http,
                        container_id: c.map(|c| c.id().to_string()).unwrap_or_default(),
                        start_time: at.start_time.as_millis(),
                        finished_time: ms(at.finish_time),
                        app_attempt_id: at.id,
                        app_attempt_state: at.state.name().to_string(),
                        diagnostics_info: at.diagnostics.clone(),
                        blacklisted_nodes: String::new(),
                        nodes_blacklisted_by_system: String::new(),
                    }
                })
                .collect(),
        )
    }

    /// `/apps/{id}/appattempts/{attemptId}`; without VIEW_APP the host, port and AM container
    /// are left out as in AppAttemptInfo.
    pub fn attempt_info_as(&self, attempt: &ApplicationAttemptId, user: &str) -> Option<AttemptInfo> {
        let at = self.attempt(*attempt)?;
        let full = self.can_view(user, &attempt.app);
        let registered = at.registered && full;
        Some(AttemptInfo {
            app_attempt_id: at.id,
            host: if registered { at.host.clone() } else { "N/A".into() },
            rpc_port: if registered { at.rpc_port } else { -1 },
            tracking_url: self.tracking_url(&attempt.app),
            original_tracking_url: if registered && !at.am_tracking_url.is_empty() { at.am_tracking_url.clone() } else { "N/A".into() },
            diagnostics_info: at.diagnostics.clone(),
            app_attempt_state: at.state.name().to_string(),
            am_container_id: if full { at.am_container.map(|c| c.to_string()).unwrap_or_default() } else { String::new() },
            started_time: at.start_time.as_millis(),
            finished_time: ms(at.finish_time),
        })
    }

    /// `/appstatistics`: per requested state (all when none), the number of apps of the one
    /// requested type (lower-cased), or of any type (`*`), as RMWebServices counts them.
    pub fn app_statistics(&self, states: &[YarnApplicationState], app_type: Option<&str>) -> Vec<StatItem> {
        let states: Vec<YarnApplicationState> = if states.is_empty() { YarnApplicationState::ALL.to_vec() } else { states.to_vec() };
        let kind = app_type.map(|t| t.trim().to_ascii_lowercase()).unwrap_or_else(|| "*".into());
        states
            .iter()
            .map(|st| StatItem {
                state: *st,
                kind: kind.clone(),
                count: self
                    .apps
                    .values()
                    .filter(|a| a.yarn_state() == *st && (kind == "*" || a.ctx.application_type.trim().to_ascii_lowercase() == kind))
                    .count() as u64,
            })
            .collect()
    }

    /// One container of an attempt (`.../containers/{containerId}`).
    pub fn container_report(&self, attempt: &ApplicationAttemptId, cid: &crate::ids::ContainerId, now: Time) -> Option<ContainerReport> {
        let id = cid.to_string();
        self.container_reports(attempt, now)?.into_iter().find(|c| c.container_id == id)
    }

    /// Containers of one attempt (`yarn container -list`), live and completed.
    pub fn container_reports(&self, attempt: &ApplicationAttemptId, now: Time) -> Option<Vec<ContainerReport>> {
        let app = self.apps.get(&attempt.app)?;
        self.attempt(*attempt)?;
        let lo = crate::ids::ContainerId::new(*attempt, 0);
        let hi = crate::ids::ContainerId::new(*attempt, u64::MAX);
        Some(
            self.containers
                .range(lo..=hi)
                .map(|(_, c)| {
                    let started = c.started_at.unwrap_or(c.allocated_at);
                    let finished = ms(c.finished_at);
                    ContainerReport {
                        container_id: c.id().to_string(),
                        allocated_mb: c.resource().memory_mb,
                        allocated_vcores: c.resource().vcores as u64,
                        assigned_node_id: c.node().to_string(),
                        priority: c.container.priority,
                        started_time: started.as_millis(),
                        finished_time: finished,
                        elapsed_time: c.finished_at.unwrap_or(now).since(started).as_millis() as u64,
                        state: match c.state {
                            RMContainerState::Allocated | RMContainerState::Acquired => ContainerState::New,
                            RMContainerState::Running => ContainerState::Running,
                            RMContainerState::Completed => ContainerState::Complete,
                        },
                        exit_status: c.exit_status,
                        diagnostics_info: c.diagnostics.clone(),
                        log_url: container_logs(&c.container.node_http_address, c, &app.user),
                        node_http_address: format!("http://{}", c.container.node_http_address),
                        node_id: c.node().to_string(),
                    }
                })
                .collect(),
        )
    }

    fn report_node(n: &RMNode) -> NodeReport {
        NodeReport {
            rack: "/default-rack".into(),
            state: n.state,
            id: n.id.clone(),
            node_host_name: n.id.host.to_string(),
            node_http_address: n.http_address.clone(),
            last_health_update: n.last_heartbeat.as_millis(),
            health_report: n.health_report.clone(),
            health_status: if n.healthy { "Healthy" } else { "Unhealthy" }.into(),
            num_containers: n.containers.len() as u64,
            used_memory_mb: n.used.memory_mb,
            avail_memory_mb: n.available().memory_mb,
            used_virtual_cores: n.used.vcores as u64,
            available_virtual_cores: n.available().vcores as u64,
        }
    }

    pub fn node_reports(&self) -> Vec<NodeReport> {
        self.nodes.values().map(Self::report_node).collect()
    }

    pub fn node_report(&self, id: &NodeId) -> Option<NodeReport> {
        self.nodes.get(id).map(Self::report_node)
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            id: self.cluster_ts,
            started_on: self.cluster_ts,
            state: "STARTED".into(),
            ha_state: "ACTIVE".into(),
            resource_manager_version: VERSION.into(),
            resource_manager_build_version: format!("{VERSION} from yarn-sim"),
            resource_manager_version_built_on: "yarn-sim".into(),
            hadoop_version: VERSION.into(),
            hadoop_build_version: format!("{VERSION} from yarn-sim"),
            hadoop_version_built_on: "yarn-sim".into(),
        }
    }

    pub fn cluster_metrics(&self) -> ClusterMetrics {
        let (mut pending, mut running) = (0, 0);
        for a in self.apps.values() {
            match a.yarn_state() {
                YarnApplicationState::Running => running += 1,
                YarnApplicationState::New
                | YarnApplicationState::NewSaving
                | YarnApplicationState::Submitted
                | YarnApplicationState::Accepted => pending += 1,
                YarnApplicationState::Finished | YarnApplicationState::Failed | YarnApplicationState::Killed => {}
            }
        }
        let count = |s: NodeState| self.nodes.values().filter(|n| n.state == s).count() as u64;
        let live_containers = self.nodes.values().map(|n| n.containers.len() as u64).sum();
        ClusterMetrics {
            apps_submitted: self.apps_submitted,
            apps_completed: self.apps_finished + self.apps_failed + self.apps_killed,
            apps_pending: pending,
            apps_running: running,
            apps_failed: self.apps_failed,
            apps_killed: self.apps_killed,
            reserved_mb: 0,
            available_mb: self.cluster_total.memory_mb.saturating_sub(self.cluster_used.memory_mb),
            allocated_mb: self.cluster_used.memory_mb,
            total_mb: self.cluster_total.memory_mb,
            reserved_virtual_cores: 0,
            available_virtual_cores: self.cluster_total.vcores.saturating_sub(self.cluster_used.vcores) as u64,
            allocated_virtual_cores: self.cluster_used.vcores as u64,
            total_virtual_cores: self.cluster_total.vcores as u64,
            containers_allocated: live_containers,
            containers_reserved: 0,
            containers_pending: self.scheduler.pending,
            total_nodes: self.nodes.values().filter(|n| n.state.is_active()).count() as u64,
            active_nodes: count(NodeState::Running),
            lost_nodes: count(NodeState::Lost),
            unhealthy_nodes: count(NodeState::Unhealthy),
            decommissioning_nodes: count(NodeState::Decommissioning),
            decommissioned_nodes: count(NodeState::Decommissioned),
            rebooted_nodes: count(NodeState::Rebooted),
            shutdown_nodes: count(NodeState::Shutdown),
        }
    }

    /// `schedulerInfo` of `/ws/v1/cluster/scheduler` (wrap it in `{"scheduler": {...}}`).
    pub fn scheduler_info(&self) -> Value {
        self.scheduler.scheduler_info(&self.cluster_total)
    }

    /// `{"scheduler":{"schedulerInfo":...}}`, the whole REST body.
    pub fn scheduler_body(&self) -> Value {
        json!({ "scheduler": { "schedulerInfo": self.scheduler_info() } })
    }
}
