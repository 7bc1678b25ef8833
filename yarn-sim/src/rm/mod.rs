//! The ResourceManager as a sans-IO node.
//!
//! Its services are split as YARN splits them: `client` (ClientRMService: new, submit,
//! kill), `tracker` (ResourceTrackerService and the NM liveness monitor), `amservice`
//! (ApplicationMasterService, the AM launcher's replies and the AM liveness monitor) and
//! `report` (what REST and the CLI read). This module holds the shared state and the
//! transitions several services drive: container completion, attempt failure, app end.

pub mod acls;
pub mod config;
pub mod report;
pub mod rmapp;
pub mod rmappattempt;
pub mod rmcontainer;
pub mod rmnode;
pub mod scheduler;

pub mod statestore;

mod amservice;
mod client;
mod nodes;
mod recovery;
pub mod secrets;
mod tracker;

#[cfg(test)]
#[allow(clippy::disallowed_methods)] // proptest knobs from the environment
mod tests;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use engine::{Addr, Cx, Msg, Node, Time, TimerId};

use crate::ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
use crate::proto::{StartContainerRequest, YarnMsg};
use crate::records::{diagnostics, exit_status, Container, FinalApplicationStatus, Resource};

pub use config::RmConfig;
pub use report::{AppReport, AttemptReport, ClusterInfo, ClusterMetrics, ContainerReport, NodeReport};
pub use rmapp::{RMApp, RMAppState};
pub use rmappattempt::{RMAppAttempt, RMAppAttemptState};
pub use rmcontainer::{RMContainer, RMContainerState};
pub use rmnode::RMNode;
pub use scheduler::CapacityScheduler;

use nodes::NodeTable;
use scheduler::Assignment;

/// NMLivelinessMonitor's periodic check.
const TIMER_NM_LIVENESS: TimerId = 1;
/// AMLivelinessMonitor's periodic check.
const TIMER_AM_LIVENESS: TimerId = 2;
/// ContainerAllocationExpirer's periodic check.
const TIMER_CONTAINER_EXPIRY: TimerId = 3;
/// RMAppLifetimeMonitor's check, armed only while some app has a LIFETIME timeout.
const TIMER_APP_LIFETIME: TimerId = 4;
/// CapacityScheduler's asynchronous scheduling pass (only with `schedule-asynchronously`).
const TIMER_ASYNC_SCHEDULE: TimerId = 5;
/// `yarn.resourcemanager.application-timeouts.monitor.interval-ms`'s default.
const APP_LIFETIME_MONITOR_INTERVAL: Duration = Duration::from_millis(3000);

/// How often a liveness monitor looks: a tenth of its expiry (at least 10 ms), so a check
/// costs O(watched) a few times per expiry rather than every second on a 10,000-node cluster.
fn monitor_interval(expiry: Duration) -> Duration {
    (expiry / 10).max(Duration::from_millis(10))
}

pub struct ResourceManager {
    conf: RmConfig,
    /// `cx.now()` in ms at start: the cluster timestamp in every id.
    cluster_ts: u64,
    /// The RM epoch (RMStateStore's EpochNode): 0 without recovery, +1 per recovered start;
    /// in the id of every container this RM allocates.
    epoch: u64,
    next_app_seq: u32,
    /// Ids from new-application not submitted yet.
    handed_out: BTreeSet<ApplicationId>,
    apps: BTreeMap<ApplicationId, RMApp>,
    /// Apps in a final state, oldest first, for max-completed-applications.
    completed_apps: VecDeque<ApplicationId>,
    nodes: NodeTable,
    /// Every container of every app still in memory, live or completed (for reports).
    containers: BTreeMap<ContainerId, RMContainer>,
    scheduler: CapacityScheduler,
    /// Capacity of RUNNING nodes.
    cluster_total: Resource,
    /// Resources of live containers.
    cluster_used: Resource,
    /// Allocated containers not reported RUNNING yet: watched for allocation expiry.
    allocated_unlaunched: BTreeMap<ContainerId, Time>,
    /// With recovery on: completed containers whose status an AM has not certainly received.
    /// Their NM keeps reporting them until it has, so a restarted RM still learns of them
    /// (YARN acks finished containers to the NM only after the AM pulled them).
    awaiting_am_ack: BTreeSet<ContainerId>,
    /// Attempts whose AM is watched for liveness, with when it was last heard.
    am_last_heard: BTreeMap<ApplicationAttemptId, Time>,
    containers_allocated_total: u64,
    apps_submitted: u64,
    apps_finished: u64,
    apps_failed: u64,
    apps_killed: u64,
    /// Whether the lifetime monitor's timer is set (only while an app has a lifetime, so
    /// clusters without timeouts see no extra events).
    lifetime_timer_armed: bool,
    /// An asynchronous scheduling pass is due (see [`ResourceManager::kick_async_scheduling`]).
    async_armed: bool,
    /// Where the next asynchronous pass starts among the nodes, so no node is always first.
    async_cursor: usize,
    /// The AMRM, NM and container token master keys (set at start).
    secrets: secrets::SecretKeys,
}

impl ResourceManager {
    pub fn new(conf: RmConfig) -> Self {
        let scheduler = CapacityScheduler::new(&conf.root_queue, conf.max_am_resource_percent);
        ResourceManager {
            conf,
            cluster_ts: 0,
            epoch: 0,
            next_app_seq: 0,
            handed_out: BTreeSet::new(),
            apps: BTreeMap::new(),
            completed_apps: VecDeque::new(),
            nodes: NodeTable::default(),
            containers: BTreeMap::new(),
            scheduler,
            cluster_total: Resource::ZERO,
            cluster_used: Resource::ZERO,
            allocated_unlaunched: BTreeMap::new(),
            am_last_heard: BTreeMap::new(),
            awaiting_am_ack: BTreeSet::new(),
            containers_allocated_total: 0,
            apps_submitted: 0,
            apps_finished: 0,
            apps_failed: 0,
            apps_killed: 0,
            lifetime_timer_armed: false,
            async_armed: false,
            async_cursor: 0,
            secrets: secrets::SecretKeys::default(),
        }
    }

    /// Arms the lifetime monitor if some unfinished app has a LIFETIME timeout.
    fn arm_lifetime_monitor(&mut self, cx: &mut Cx) {
        if !self.lifetime_timer_armed && self.apps.values().any(|a| !a.state.is_final() && a.ctx.lifetime_secs.is_some()) {
            self.lifetime_timer_armed = true;
            cx.set_timer(APP_LIFETIME_MONITOR_INTERVAL, TIMER_APP_LIFETIME);
        }
    }

    pub fn config(&self) -> &RmConfig {
        &self.conf
    }

    pub fn cluster_timestamp(&self) -> u64 {
        self.cluster_ts
    }

    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    /// `host:port` of the web UI (tracking URLs point at its proxy).
    pub fn web_address(&self) -> &str {
        &self.conf.webapp_address
    }

    /// Containers the scheduler has placed since start (a cheap benchmark counter).
    pub fn containers_allocated_total(&self) -> u64 {
        self.containers_allocated_total
    }

    /// Outstanding container asks over all apps (AM containers included).
    pub fn pending_containers(&self) -> u64 {
        self.scheduler.pending
    }

    /// The capacity scheduler's queues and apps (the RPC adapter's QueueInfo reads them).
    pub fn scheduler(&self) -> &CapacityScheduler {
        &self.scheduler
    }

    /// Capacity of RUNNING nodes.
    pub fn cluster_total(&self) -> Resource {
        self.cluster_total
    }

    pub fn app(&self, id: &ApplicationId) -> Option<&RMApp> {
        self.apps.get(id)
    }

    pub fn node(&self, id: &NodeId) -> Option<&RMNode> {
        self.nodes.get(id)
    }

    /// Every container the RM knows, live and completed, in id order.
    pub fn containers(&self) -> impl Iterator<Item = &RMContainer> {
        self.containers.values()
    }

    pub fn container(&self, id: &ContainerId) -> Option<&RMContainer> {
        self.containers.get(id)
    }

    /// The YARN proxy URL REST and the AM diagnostics show for an app.
    /// The URL the current attempt's AM registered (its own web UI), if any.
    pub fn am_tracking_url(&self, app: &ApplicationId) -> Option<String> {
        self.app(app)?.current_attempt().map(|a| a.am_tracking_url.clone()).filter(|u| !u.is_empty())
    }

    pub fn tracking_url(&self, app: &ApplicationId) -> String {
        format!("http://{}/proxy/{}/", self.conf.webapp_address, app)
    }

    // ---- transitions shared by the services

    fn app_transition(&mut self, cx: &mut Cx, app: ApplicationId, to: RMAppState) {
        let Some(a) = self.apps.get_mut(&app) else { return };
        let from = a.state;
        debug_assert!(from.can_go(to), "RMApp {app}: {from} -> {to}");
        if matches!(to, RMAppState::FinalSaving | RMAppState::Killing) && !matches!(from, RMAppState::FinalSaving | RMAppState::Killing) {
            a.state_before = from;
        }
        a.state = to;
        cx.trace("rm.app.state", format!("{app} {from}->{to}"));
    }

    fn attempt_transition(&mut self, cx: &mut Cx, attempt: ApplicationAttemptId, to: RMAppAttemptState) {
        let Some(at) = self.attempt_mut(attempt) else { return };
        let from = at.state;
        debug_assert!(from.can_go(to), "RMAppAttempt {attempt}: {from} -> {to}");
        at.state = to;
        cx.trace("rm.attempt.state", format!("{attempt} {from}->{to}"));
    }

    fn attempt_mut(&mut self, id: ApplicationAttemptId) -> Option<&mut RMAppAttempt> {
        self.apps.get_mut(&id.app)?.attempts.get_mut((id.attempt as usize).checked_sub(1)?)
    }

    fn attempt(&self, id: ApplicationAttemptId) -> Option<&RMAppAttempt> {
        self.apps.get(&id.app)?.attempts.get((id.attempt as usize).checked_sub(1)?)
    }

    /// Starts the next attempt of an app (StartAppAttemptTransition): it asks for its AM
    /// container, or for an unmanaged AM goes straight to LAUNCHED.
    fn start_attempt(&mut self, cx: &mut Cx, app_id: ApplicationId) {
        let now = cx.now();
        let Some(app) = self.apps.get_mut(&app_id) else { return };
        let number = app.attempts.len() as u32 + 1;
        // With kept containers the new attempt continues the id sequence (YARN transfers it).
        let first_seq = match app.attempts.last() {
            Some(prev) if app.ctx.keep_containers_across_application_attempts => prev.next_container_seq,
            _ => 0,
        };
        let id = ApplicationAttemptId::new(app_id, number);
        let first_seq = first_seq.max(self.epoch << ContainerId::EPOCH_SHIFT);
        app.attempts.push(RMAppAttempt::new(id, now, first_seq));
        let unmanaged = app.ctx.unmanaged_am;
        let am = app.ctx.resource;
        self.attempt_transition(cx, id, RMAppAttemptState::Submitted);
        if unmanaged {
            self.scheduler.start_attempt(id, None);
            self.attempt_transition(cx, id, RMAppAttemptState::Launched);
            self.am_last_heard.insert(id, now);
        } else {
            self.scheduler.start_attempt(id, Some(am));
            self.attempt_transition(cx, id, RMAppAttemptState::Scheduled);
        }
        self.persist_attempt(cx, id);
        self.kick_async_scheduling(cx);
    }

    /// With `yarn.scheduler.capacity.schedule-asynchronously.enable`, CapacityScheduler's
    /// scheduling thread places asks without waiting for a NodeManager's heartbeat. Here a
    /// pass runs one scheduling interval after work or room arrives (a new attempt, new asks,
    /// a container's end), and heartbeats keep scheduling as before.
    fn kick_async_scheduling(&mut self, cx: &mut Cx) {
        if let Some(every) = self.conf.async_scheduling {
            if !self.async_armed && self.scheduler.pending > 0 {
                self.async_armed = true;
                cx.set_timer(every, TIMER_ASYNC_SCHEDULE);
            }
        }
    }

    /// One asynchronous pass: every schedulable node in turn, starting one further along than
    /// the last pass (as the scheduling thread starts at a random node), until nothing is pending.
    fn async_schedule(&mut self, cx: &mut Cx) {
        let ids: Vec<NodeId> = self.nodes.values().filter(|n| n.schedulable()).map(|n| n.id.clone()).collect();
        if ids.is_empty() {
            return;
        }
        let start = self.async_cursor % ids.len();
        self.async_cursor = self.async_cursor.wrapping_add(1);
        for i in 0..ids.len() {
            if self.scheduler.pending == 0 {
                break;
            }
            let id = &ids[(start + i) % ids.len()];
            let Some(free) = self.nodes.get(id).map(|n| n.available()) else { continue };
            let assignments = self.scheduler.assign(free, &self.cluster_total, &self.conf.minimum_allocation);
            if !assignments.is_empty() {
                self.place_assignments(cx, id, assignments);
            }
        }
    }

    /// Turns the scheduler's assignments on a node into containers; an AM container is
    /// launched at once (the RM's AMLauncher), others wait for the AM's next allocate.
    fn place_assignments(&mut self, cx: &mut Cx, node_id: &NodeId, assignments: Vec<Assignment>) {
        let now = cx.now();
        for a in assignments {
            let Some(node) = self.nodes.get(node_id) else { return };
            let http = node.http_address.clone();
            let Some(app) = self.apps.get_mut(&a.app) else { continue };
            let user = app.user.clone();
            let launch = app.ctx.am_container_spec.clone();
            let submit_time = app.submit_time;
            let max_attempts = app.max_attempts;
            let Some(attempt) = app.attempts.last_mut().filter(|at| at.id == a.attempt) else { continue };
            let cid = attempt.next_container_id();
            let container = Container {
                id: cid,
                node_id: node_id.clone(),
                node_http_address: http,
                resource: a.resource,
                priority: a.priority,
                allocation_request_id: a.allocation_request_id,
            };
            if a.is_am {
                attempt.am_container = Some(cid);
            } else {
                attempt.new_containers.push(cid);
            }
            app.live_containers.insert(cid);
            app.ran_on.insert(node_id.clone());
            let mut rc = RMContainer::new(container.clone(), a.is_am, now);
            if let Some(node) = self.nodes.get_mut(node_id) {
                node.place(cid, a.resource);
            }
            self.cluster_used = self.cluster_used.add(&a.resource);
            self.allocated_unlaunched.insert(cid, now);
            self.containers_allocated_total += 1;
            cx.trace("rm.container.state", format!("{cid} NEW->ALLOCATED on {node_id}"));
            if a.is_am {
                // The AM launcher takes the AM container itself.
                rc.acquire();
                self.containers.insert(cid, rc);
                self.attempt_transition(cx, a.attempt, RMAppAttemptState::AllocatedSaving);
                self.persist_attempt(cx, a.attempt);
                self.attempt_transition(cx, a.attempt, RMAppAttemptState::Allocated);
                let mut launch = launch;
                launch.environment.insert(crate::proto::env::YARN_RM_ADDRESS.into(), cx.me().to_string());
                launch.environment.insert(crate::proto::env::APP_SUBMIT_TIME_ENV.into(), submit_time.as_millis().to_string());
                launch.environment.insert(crate::proto::env::MAX_APP_ATTEMPTS.into(), max_attempts.to_string());
                launch.environment.insert(crate::proto::env::APPLICATION_WEB_PROXY_BASE.into(), format!("/proxy/{}", a.app));
                // AMLauncher.setupTokens: the AM's credentials carry its AMRM token.
                launch.tokens = Some(self.am_launch_tokens(a.attempt, launch.tokens.as_deref(), &cx.me().to_string()));
                if let Some(addr) = node_id.addr() {
                    cx.send(addr, YarnMsg::StartContainers { requests: vec![StartContainerRequest { container, launch, user }] });
                }
            } else {
                self.containers.insert(cid, rc);
            }
        }
    }

    /// A container ends, whatever the cause; everything else follows from here exactly once.
    /// `kill_on_node`: the RM ended it, so the NM must be told to stop it.
    fn complete_container(&mut self, cx: &mut Cx, cid: ContainerId, exit: i32, diag: &str, kill_on_node: bool) {
        let now = cx.now();
        let Some(c) = self.containers.get_mut(&cid) else { return };
        let was = c.state;
        if !c.complete(now, exit, diag) {
            return;
        }
        let (res, is_am, node_id) = (c.resource(), c.is_am, c.node().clone());
        let (mem_s, vc_s) = c.usage_seconds(now);
        let status = c.completed_status();
        let priority = c.container.priority;
        let alloc_id = c.container.allocation_request_id;
        cx.trace("rm.container.state", format!("{cid} {was}->COMPLETED exit={exit}"));
        self.allocated_unlaunched.remove(&cid);
        self.cluster_used = self.cluster_used.sub(&res);
        if let Some(node) = self.nodes.get_mut(&node_id) {
            node.remove(&cid, res);
            if kill_on_node && node.state.is_active() {
                node.to_cleanup.insert(cid);
            }
        }
        let app_id = cid.app();
        let Some(app) = self.apps.get_mut(&app_id) else { return };
        app.live_containers.remove(&cid);
        app.memory_seconds_done += mem_s;
        app.vcore_seconds_done += vc_s;
        let keep = app.ctx.keep_containers_across_application_attempts;
        if let Some(q) = self.scheduler.apps.get(&app_id).map(|s| s.queue) {
            self.scheduler.release(q, &res, is_am);
        } else if let Ok(q) = self.scheduler.leaf_queue(&app.queue_path) {
            self.scheduler.release(q, &res, is_am);
        }
        self.kick_async_scheduling(cx);
        if is_am {
            self.am_container_finished(cx, cid.attempt, exit, diag);
            return;
        }
        let Some(app) = self.apps.get_mut(&app_id) else { return };
        let Some(current) = app.attempts.last_mut() else { return };
        if current.id == cid.attempt && was == RMContainerState::Allocated && !current.state.is_final() {
            // The AM never saw it: take it back silently and ask again in its place, as YARN
            // recovers the resource request of a container killed before it was acquired.
            current.new_containers.retain(|c| *c != cid);
            let outstanding = self.scheduler.apps.get(&app_id).and_then(|s| s.asks.get(&(priority, res)).copied());
            let num = outstanding.map(|a| a.num).unwrap_or(0) + 1;
            self.scheduler.set_ask(app_id, priority, res, scheduler::Ask { num, allocation_request_id: alloc_id });
            self.kick_async_scheduling(cx);
            return;
        }
        // Each completion reaches the AM that owns the container, or the attempt that
        // inherited it with kept containers.
        if (current.id == cid.attempt || keep) && !current.state.is_final() && was != RMContainerState::Allocated {
            current.completed_for_am.push(status);
            if self.conf.recovery_enabled {
                self.awaiting_am_ack.insert(cid);
            }
        }
    }

    /// The AM container of `attempt` completed.
    fn am_container_finished(&mut self, cx: &mut Cx, attempt: ApplicationAttemptId, exit: i32, diag: &str) {
        let tracking = self.tracking_url(&attempt.app);
        let Some(at) = self.attempt_mut(attempt) else { return };
        match at.state {
            RMAppAttemptState::Finishing => {
                at.am_exit_status = exit;
                self.attempt_transition(cx, attempt, RMAppAttemptState::Finished);
                self.persist_attempt(cx, attempt);
                self.am_last_heard.remove(&attempt);
                self.finish_unregistered_app(cx, attempt.app);
            }
            RMAppAttemptState::AllocatedSaving
            | RMAppAttemptState::Allocated
            | RMAppAttemptState::Launched
            | RMAppAttemptState::Running => {
                at.am_exit_status = exit;
                let msg = format!(
                    "AM Container for {attempt} exited with  exitCode: {exit}\nFailing this attempt.Diagnostics: {diag}\nFor more detailed output, check the application tracking page: {tracking} Then click on links to logs of each attempt.\n"
                );
                self.fail_attempt(cx, attempt, msg);
            }
            RMAppAttemptState::New
            | RMAppAttemptState::Submitted
            | RMAppAttemptState::Scheduled
            | RMAppAttemptState::FinalSaving
            | RMAppAttemptState::Finished
            | RMAppAttemptState::Failed
            | RMAppAttemptState::Killed => {}
        }
    }

    /// An attempt failed (AM exit, launch failure, expiry): retry or fail the app (§3.4).
    fn fail_attempt(&mut self, cx: &mut Cx, attempt: ApplicationAttemptId, diag: String) {
        let now = cx.now();
        let app_id = attempt.app;
        {
            let Some(at) = self.attempt_mut(attempt) else { return };
            if at.state.is_final() {
                return;
            }
            at.diagnostics = diag.clone();
            at.finish_time = Some(now);
        }
        self.attempt_transition(cx, attempt, RMAppAttemptState::FinalSaving);
        self.attempt_transition(cx, attempt, RMAppAttemptState::Failed);
        self.persist_attempt(cx, attempt);
        self.am_last_heard.remove(&attempt);
        self.scheduler.stop_attempt(app_id);
        let Some(app) = self.apps.get(&app_id) else { return };
        let failures = app.counted_failures(now);
        let retry = app.max_attempts > 1 && failures < app.max_attempts && !app.ctx.unmanaged_am && !app.state.is_final();
        let keep = app.ctx.keep_containers_across_application_attempts && retry;
        // The AM container (if it still runs: expiry, launch failure) and, unless kept, the
        // attempt's other containers are stopped.
        let doomed: Vec<ContainerId> = app
            .live_containers
            .iter()
            .filter(|cid| {
                let c = &self.containers[*cid];
                c.is_am && cid.attempt == attempt || !keep || c.state == RMContainerState::Allocated
            })
            .copied()
            .collect();
        for cid in doomed {
            self.complete_container(cx, cid, exit_status::ABORTED, diagnostics::COMPLETED_APPLICATION, true);
        }
        let Some(app) = self.apps.get(&app_id) else { return };
        if retry {
            cx.trace(
                "rm.app.retry",
                format!("{app_id} failed attempts {failures} of max {}; starting attempt {}", app.max_attempts, attempt.attempt + 1),
            );
            if app.state == RMAppState::Running {
                self.app_transition(cx, app_id, RMAppState::Accepted);
            }
            self.start_attempt(cx, app_id);
        } else {
            let msg = format!(
                "Application {app_id} failed {} times (global limit ={}; local limit is ={}) due to {diag}. Failing the application.",
                app.max_attempts, self.conf.am_max_attempts, app.max_attempts
            );
            self.end_app(cx, app_id, RMAppState::Failed, FinalApplicationStatus::Failed, msg);
        }
    }

    /// After FinishApplicationMaster the app ends once its AM has exited.
    fn finish_unregistered_app(&mut self, cx: &mut Cx, app_id: ApplicationId) {
        let Some(app) = self.apps.get(&app_id) else { return };
        if app.state != RMAppState::Finishing {
            return;
        }
        let (status, diag) = (app.final_status, app.diagnostics.clone());
        self.end_app(cx, app_id, RMAppState::Finished, status, diag);
    }

    /// The final transition of an app: FINISHED, FAILED or KILLED. Its containers are
    /// stopped, the scheduler forgets it and the nodes it ran on are told.
    fn end_app(&mut self, cx: &mut Cx, app_id: ApplicationId, to: RMAppState, status: FinalApplicationStatus, diag: String) {
        let now = cx.now();
        let Some(app) = self.apps.get(&app_id) else { return };
        if app.state.is_final() {
            return;
        }
        if app.state != RMAppState::Finishing && app.state != RMAppState::FinalSaving {
            self.app_transition(cx, app_id, RMAppState::FinalSaving);
        }
        if let Some(app) = self.apps.get_mut(&app_id) {
            app.final_status = status;
            app.diagnostics = diag;
            app.finish_time.get_or_insert(now);
        }
        self.app_transition(cx, app_id, to);
        self.persist_app(cx, app_id);
        self.scheduler.remove_app(app_id);
        let live: Vec<ContainerId> = self.apps[&app_id].live_containers.iter().copied().collect();
        for cid in live {
            self.complete_container(cx, cid, exit_status::ABORTED, diagnostics::COMPLETED_APPLICATION, true);
        }
        let app = &self.apps[&app_id];
        if let Some(at) = app.attempts.last() {
            if !at.state.is_final() {
                let attempt = at.id;
                let end = if to == RMAppState::Killed { RMAppAttemptState::Killed } else { RMAppAttemptState::Finished };
                if at.state != RMAppAttemptState::FinalSaving && at.state != RMAppAttemptState::Finishing {
                    self.attempt_transition(cx, attempt, RMAppAttemptState::FinalSaving);
                }
                self.attempt_transition(cx, attempt, end);
                if let Some(at) = self.attempt_mut(attempt) {
                    at.finish_time.get_or_insert(now);
                }
                self.persist_attempt(cx, attempt);
                self.am_last_heard.remove(&attempt);
            }
        }
        for n in self.apps[&app_id].ran_on.clone() {
            if let Some(node) = self.nodes.get_mut(&n) {
                node.apps_to_cleanup.insert(app_id);
            }
        }
        match to {
            RMAppState::Finished => self.apps_finished += 1,
            RMAppState::Failed => self.apps_failed += 1,
            _ => self.apps_killed += 1,
        }
        self.completed_apps.push_back(app_id);
        while self.completed_apps.len() > self.conf.max_completed_applications {
            let Some(old) = self.completed_apps.pop_front() else { break };
            self.forget_app(old);
            self.unpersist_app(cx, old);
        }
    }

    /// Drops a completed app from memory (max-completed-applications).
    fn forget_app(&mut self, app: ApplicationId) {
        self.apps.remove(&app);
        let lo = ContainerId::new(ApplicationAttemptId::new(app, 0), 0);
        let hi = ContainerId::new(ApplicationAttemptId::new(app, u32::MAX), u64::MAX);
        let ids: Vec<ContainerId> = self.containers.range(lo..=hi).map(|(k, _)| *k).collect();
        for id in ids {
            self.containers.remove(&id);
        }
    }

    fn on_yarn(&mut self, cx: &mut Cx, from: Addr, msg: YarnMsg) {
        match msg {
            YarnMsg::RegisterNodeManager { node_id, http_address, resource, containers } => {
                let reply = self.register_node(cx, node_id, http_address, resource, containers);
                cx.send(from, reply);
            }
            YarnMsg::NodeHeartbeat { node_id, response_id, containers, healthy, health_report } => {
                let reply = self.node_heartbeat(cx, node_id, response_id, containers, healthy, health_report);
                cx.send(from, reply);
            }
            YarnMsg::RegisterApplicationMaster { attempt_id, host, rpc_port, tracking_url } => {
                let r = self.register_am(cx, attempt_id, host, rpc_port, tracking_url);
                cx.send(from, YarnMsg::RegisterApplicationMasterResponse(r));
            }
            YarnMsg::Allocate(req) => {
                let r = self.allocate(cx, req);
                cx.send(from, YarnMsg::AllocateResponse(r));
            }
            YarnMsg::FinishApplicationMaster { attempt_id, final_status, diagnostics, tracking_url } => {
                let r = self.finish_am(cx, attempt_id, final_status, diagnostics, tracking_url);
                cx.send(from, YarnMsg::FinishApplicationMasterResponse(r));
            }
            YarnMsg::StartContainersResponse { succeeded, failed } => self.am_launch_result(cx, succeeded, failed),
            // Replies to requests the RM never makes, and requests meant for NMs: ignored.
            YarnMsg::RegisterNodeManagerResponse { .. }
            | YarnMsg::NodeHeartbeatResponse { .. }
            | YarnMsg::RegisterApplicationMasterResponse(_)
            | YarnMsg::AllocateResponse(_)
            | YarnMsg::FinishApplicationMasterResponse(_)
            | YarnMsg::StartContainers { .. }
            | YarnMsg::StopContainers { .. }
            | YarnMsg::StopContainersResponse { .. }
            | YarnMsg::GetContainerStatuses { .. }
            | YarnMsg::GetContainerStatusesResponse { .. } => {}
        }
    }
}

impl Node for ResourceManager {
    fn on_start(&mut self, cx: &mut Cx) {
        if self.conf.recovery_enabled {
            if let Err(e) = self.load_secrets(cx).and_then(|()| self.recover(cx)) {
                // A store this RM cannot (or must not) recover: say why and do not start,
                // rather than serve an empty cluster that forgot every application.
                cx.trace("rm.recovery.failed", format!("Failed to load/recover state: {e}"));
                cx.print(&format!("ResourceManager failed to start: Failed to load/recover state: {e}"));
                cx.exit(1);
                return;
            }
        } else {
            self.cluster_ts = cx.now().as_millis();
        }
        self.init_secrets(cx);
        cx.trace("rm.start", format!("cluster timestamp {}", self.cluster_ts));
        cx.set_timer(monitor_interval(self.conf.nm_expiry), TIMER_NM_LIVENESS);
        cx.set_timer(monitor_interval(self.conf.am_expiry), TIMER_AM_LIVENESS);
        cx.set_timer(monitor_interval(self.conf.container_alloc_expiry), TIMER_CONTAINER_EXPIRY);
        self.arm_lifetime_monitor(cx);
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        if let Ok(m) = msg.downcast::<YarnMsg>() {
            self.on_yarn(cx, from, m);
        }
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        match timer {
            TIMER_NM_LIVENESS => {
                self.check_nm_liveness(cx);
                cx.set_timer(monitor_interval(self.conf.nm_expiry), TIMER_NM_LIVENESS);
            }
            TIMER_AM_LIVENESS => {
                self.check_am_liveness(cx);
                cx.set_timer(monitor_interval(self.conf.am_expiry), TIMER_AM_LIVENESS);
            }
            TIMER_CONTAINER_EXPIRY => {
                self.check_allocation_expiry(cx);
                cx.set_timer(monitor_interval(self.conf.container_alloc_expiry), TIMER_CONTAINER_EXPIRY);
            }
            TIMER_APP_LIFETIME => {
                self.lifetime_timer_armed = false;
                self.check_lifetimes(cx);
                self.arm_lifetime_monitor(cx);
            }
            TIMER_ASYNC_SCHEDULE => {
                self.async_armed = false;
                self.async_schedule(cx);
            }
            _ => {}
        }
    }

    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }

    /// A heartbeat is coming: start loading its node's entry (at 10,000 NodeManagers the
    /// table is far larger than the caches, and each node is touched once a second).
    fn prefetch_message(&self, msg: &Msg, stage: u8) {
        if let Some(YarnMsg::NodeHeartbeat { node_id, .. }) = msg.peek::<YarnMsg>() {
            self.nodes.prefetch(node_id, stage);
        }
    }
    fn takes_prefetch_hints(&self) -> bool {
        true
    }
}
