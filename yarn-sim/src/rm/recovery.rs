//! RM restart recovery (`yarn.resourcemanager.recovery.enabled`), work-preserving: state goes
//! to the [`statestore`] at the transitions YARN stores at (NEW_SAVING, ALLOCATED_SAVING,
//! FINAL_SAVING, plus registration), and a starting RM loads it back. Containers are not
//! stored: NodeManagers re-register with their running containers (NMContainerStatus) and
//! the RM rebuilds RMContainers, node and queue usage from them; AMs are told to re-register
//! (ApplicationMasterNotRegisteredException) and re-send their asks.

use engine::{Cx, Time};

use crate::ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
use crate::records::{Container, ContainerState, FinalApplicationStatus, NMContainerStatus};

use super::rmapp::{RMApp, RMAppState};
use super::rmappattempt::{RMAppAttempt, RMAppAttemptState};
use super::rmcontainer::RMContainer;
use super::statestore::{self, ApplicationAttemptStateData, ApplicationStateData, ClusterState};
use super::ResourceManager;

fn final_app_state(s: &str) -> Option<RMAppState> {
    match s {
        "FINISHED" => Some(RMAppState::Finished),
        "FAILED" => Some(RMAppState::Failed),
        "KILLED" => Some(RMAppState::Killed),
        _ => None,
    }
}

fn final_attempt_state(s: &str) -> Option<RMAppAttemptState> {
    match s {
        "FINISHED" => Some(RMAppAttemptState::Finished),
        "FAILED" => Some(RMAppAttemptState::Failed),
        "KILLED" => Some(RMAppAttemptState::Killed),
        _ => None,
    }
}

impl ResourceManager {
    fn store_failed(cx: &mut Cx, what: &str, err: String) {
        // YARN's RMStateStore would fence the RM; here the RM keeps serving and says so.
        cx.trace("rm.statestore.error", format!("storing {what} failed: {err}"));
    }

    /// Writes the cluster node (timestamp, app sequence, ids handed out but not submitted).
    pub(super) fn persist_cluster(&mut self, cx: &mut Cx) {
        if !self.conf.recovery_enabled {
            return;
        }
        let c = ClusterState {
            cluster_id: self.conf.cluster_id.clone(),
            cluster_timestamp: self.cluster_ts,
            app_sequence: self.next_app_seq,
            handed_out: self.handed_out.iter().copied().collect(),
        };
        let root = self.conf.state_store_root.clone();
        if let Err(e) = statestore::store_cluster(cx.store(), &root, &c) {
            Self::store_failed(cx, "the cluster state", e);
        }
    }

    pub(super) fn persist_app(&mut self, cx: &mut Cx, id: ApplicationId) {
        if !self.conf.recovery_enabled {
            return;
        }
        let Some(app) = self.apps.get(&id) else { return };
        let final_state = match app.state {
            RMAppState::Finished | RMAppState::Finishing => Some("FINISHED"),
            RMAppState::Failed => Some("FAILED"),
            RMAppState::Killed => Some("KILLED"),
            _ => None,
        };
        let data = ApplicationStateData {
            submit_time: app.submit_time.as_millis(),
            start_time: app.submit_time.as_millis(),
            launch_time: app.launch_time.map(Time::as_millis),
            user: app.user.clone(),
            application_submission_context: app.ctx.clone(),
            queue_path: app.queue_path.clone(),
            max_attempts: app.max_attempts,
            application_state: final_state.map(str::to_string),
            final_application_status: app.final_status,
            diagnostics: app.diagnostics.clone(),
            finish_time: app.finish_time.map(Time::as_millis),
            memory_seconds: app.memory_seconds_done,
            vcore_seconds: app.vcore_seconds_done,
        };
        let root = self.conf.state_store_root.clone();
        if let Err(e) = statestore::store_app(cx.store(), &root, id, &data) {
            Self::store_failed(cx, &id.to_string(), e);
        }
    }

    pub(super) fn persist_attempt(&mut self, cx: &mut Cx, id: ApplicationAttemptId) {
        if !self.conf.recovery_enabled {
            return;
        }
        let Some(at) = self.attempt(id) else { return };
        let master_container = at.am_container.and_then(|c| self.containers.get(&c)).map(|c| c.container.clone());
        let final_state = match at.state {
            RMAppAttemptState::Finished | RMAppAttemptState::Finishing => Some("FINISHED"),
            RMAppAttemptState::Failed => Some("FAILED"),
            RMAppAttemptState::Killed => Some("KILLED"),
            _ => None,
        };
        let data = ApplicationAttemptStateData {
            attempt_id: id,
            master_container,
            app_attempt_state: final_state.map(str::to_string),
            registered: at.registered,
            final_tracking_url: at.am_tracking_url.clone(),
            diagnostics: at.diagnostics.clone(),
            start_time: at.start_time.as_millis(),
            finish_time: at.finish_time.map(Time::as_millis),
            final_application_status: at.final_status,
            am_container_exit_status: at.am_exit_status,
        };
        let root = self.conf.state_store_root.clone();
        if let Err(e) = statestore::store_attempt(cx.store(), &root, &data) {
            Self::store_failed(cx, &id.to_string(), e);
        }
    }

    pub(super) fn unpersist_app(&mut self, cx: &mut Cx, id: ApplicationId) {
        if !self.conf.recovery_enabled {
            return;
        }
        let root = self.conf.state_store_root.clone();
        if let Err(e) = statestore::remove_app(cx.store(), &root, id) {
            Self::store_failed(cx, &format!("the removal of {id}"), e);
        }
    }

    /// Loads the state store (on start with recovery on). On error nothing is recovered and
    /// the caller refuses to start.
    pub(super) fn recover(&mut self, cx: &mut Cx) -> Result<(), String> {
        let root = self.conf.state_store_root.clone();
        let state = statestore::load(cx.store(), &root, &self.conf.cluster_id)?;
        let now = cx.now();
        match &state.cluster {
            Some(c) => {
                self.cluster_ts = c.cluster_timestamp;
                self.next_app_seq = c.app_sequence;
                self.handed_out = c.handed_out.iter().copied().filter(|a| a.cluster_timestamp == c.cluster_timestamp).collect();
            }
            None => self.cluster_ts = now.as_millis(),
        }
        // RMStateStore.getAndIncrementEpoch: this RM runs in the stored epoch; the next one
        // in the one after.
        self.epoch = state.epoch;
        statestore::store_epoch(cx.store(), &root, state.epoch + 1)?;
        statestore::store_cluster(
            cx.store(),
            &root,
            &ClusterState {
                cluster_id: self.conf.cluster_id.clone(),
                cluster_timestamp: self.cluster_ts,
                app_sequence: self.next_app_seq,
                handed_out: self.handed_out.iter().copied().collect(),
            },
        )?;
        let n = state.apps.len();
        for (data, attempts) in state.apps {
            self.recover_app(cx, data, attempts);
        }
        // The store may hold more finished apps than this RM keeps (a smaller
        // max-completed-applications than before): the oldest go, from the store too.
        while self.completed_apps.len() > self.conf.max_completed_applications {
            let Some(old) = self.completed_apps.pop_front() else { break };
            self.forget_app(old);
            self.unpersist_app(cx, old);
        }
        cx.trace(
            "rm.recovered",
            format!("{n} applications from {root}/{}; cluster timestamp {}, epoch {}", statestore::ROOT_DIR, self.cluster_ts, self.epoch),
        );
        Ok(())
    }

    fn recover_app(&mut self, cx: &mut Cx, data: ApplicationStateData, stored: Vec<ApplicationAttemptStateData>) {
        let now = cx.now();
        let id = data.application_submission_context.application_id;
        let app_final = data.application_state.as_deref().and_then(final_app_state);
        let mut attempts = Vec::new();
        for a in &stored {
            let mut at = RMAppAttempt::new(a.attempt_id, Time::from_millis(a.start_time), 0);
            at.state = a.app_attempt_state.as_deref().and_then(final_attempt_state).unwrap_or(RMAppAttemptState::Launched);
            at.am_container = a.master_container.as_ref().map(|c| c.id);
            at.finish_time = a.finish_time.map(Time::from_millis);
            at.diagnostics = a.diagnostics.clone();
            at.am_exit_status = a.am_container_exit_status;
            at.am_tracking_url = a.final_tracking_url.clone();
            at.final_status = a.final_application_status;
            // Containers allocated from now on carry this RM's epoch: no id from before the
            // restart (launched or not) is ever handed out again.
            at.next_container_seq = self.epoch << ContainerId::EPOCH_SHIFT;
            attempts.push(at);
        }
        let queue = self.scheduler.leaf_queue(&data.queue_path).ok();
        let queue_name = data.queue_path.rsplit('.').next().unwrap_or(&data.queue_path).to_string();
        let mut app = RMApp {
            id,
            user: data.user,
            ctx: data.application_submission_context,
            queue_path: data.queue_path.clone(),
            queue: queue_name,
            state: app_final.unwrap_or(RMAppState::Accepted),
            state_before: RMAppState::Accepted,
            final_status: data.final_application_status,
            diagnostics: data.diagnostics,
            max_attempts: data.max_attempts,
            attempts,
            submit_time: Time::from_millis(data.submit_time),
            launch_time: data.launch_time.map(Time::from_millis),
            finish_time: data.finish_time.map(Time::from_millis),
            live_containers: Default::default(),
            ran_on: Default::default(),
            memory_seconds_done: data.memory_seconds,
            vcore_seconds_done: data.vcore_seconds,
        };
        self.apps_submitted += 1;
        if let Some(end) = app_final {
            // A finished app: its attempts end with it.
            for at in &mut app.attempts {
                if !at.state.is_final() {
                    at.state = if end == RMAppState::Killed { RMAppAttemptState::Killed } else { RMAppAttemptState::Finished };
                }
            }
            match end {
                RMAppState::Finished => self.apps_finished += 1,
                RMAppState::Failed => self.apps_failed += 1,
                _ => self.apps_killed += 1,
            }
            self.apps.insert(id, app);
            self.completed_apps.push_back(id);
            cx.trace("rm.app.recovered", format!("{id} {end}"));
            return;
        }
        let last = stored.last();
        let registered = last.is_some_and(|a| a.registered && a.app_attempt_state.is_none());
        if registered {
            app.state = RMAppState::Running;
            if let Some(at) = app.attempts.last_mut() {
                at.state = RMAppAttemptState::Running;
            }
        }
        let priority = app.ctx.priority;
        self.apps.insert(id, app);
        cx.trace("rm.app.recovered", format!("{id} {}", self.apps[&id].state));
        let Some(queue) = queue else {
            let msg = format!("Application {id} recovered into queue {}, which no longer exists", data.queue_path);
            self.end_app(cx, id, RMAppState::Failed, FinalApplicationStatus::Failed, msg);
            self.persist_app(cx, id);
            return;
        };
        self.scheduler.add_app(id, queue, priority);
        match last {
            // The AM container was placed: its AM re-registers or, if it died while the RM
            // was down, its NodeManager reports it completed (or the liveness monitor expires it).
            Some(a) if a.app_attempt_state.is_none() && a.master_container.is_some() => {
                self.scheduler.start_attempt(a.attempt_id, None);
                self.am_last_heard.insert(a.attempt_id, now);
            }
            // Not placed yet: ask for the AM container again.
            Some(a) if a.app_attempt_state.is_none() => {
                let am = self.apps[&id].ctx.resource;
                if let Some(at) = self.attempt_mut(a.attempt_id) {
                    at.state = RMAppAttemptState::Scheduled;
                }
                self.scheduler.start_attempt(a.attempt_id, Some(am));
            }
            // The last attempt ended but the app had not (the RM went down in between), or
            // no attempt was stored: the next one starts.
            _ => {
                self.start_attempt(cx, id);
                let epoch_seq = self.epoch << ContainerId::EPOCH_SHIFT;
                if let Some(at) = self.apps.get_mut(&id).and_then(|a| a.attempts.last_mut()) {
                    at.next_container_seq = at.next_container_seq.max(epoch_seq);
                }
            }
        }
    }

    /// Whether a container a NodeManager reports, unknown to this RM, belongs to a recovered
    /// live application and is rebuilt (its current attempt's, or any with kept containers).
    pub(super) fn recoverable(&self, cid: &ContainerId) -> bool {
        if !self.conf.recovery_enabled || self.containers.contains_key(cid) {
            return false;
        }
        let Some(app) = self.apps.get(&cid.app()) else { return false };
        let Some(current) = app.attempts.last() else { return false };
        !app.state.is_final()
            && !current.state.is_final()
            && (current.id == cid.attempt || app.ctx.keep_containers_across_application_attempts)
            && (cid.attempt.attempt as usize) <= app.attempts.len()
            // The AM container of an attempt that ended is not the application's work: the RM
            // had ordered it stopped (the order may have died with the RM), so it is killed
            // rather than kept, or it would live on as a second AM of the application.
            && !app.attempts.iter().any(|at| at.id == cid.attempt && at.state.is_final() && at.am_container == Some(*cid))
    }

    /// `recoverContainersOnNode`: rebuilds an RMContainer from a re-registering NM's report,
    /// with its node, app and queue usage; a container that completed meanwhile completes now.
    pub(super) fn recover_container(&mut self, cx: &mut Cx, node_id: &NodeId, http: &str, s: &NMContainerStatus) {
        let cid = s.container_id;
        if !self.recoverable(&cid) {
            return;
        }
        let now = cx.now();
        let Some(at) = self.attempt(cid.attempt) else { return };
        let is_am = at.am_container == Some(cid);
        let container = Container {
            id: cid,
            node_id: node_id.clone(),
            node_http_address: http.to_string(),
            resource: s.resource,
            priority: 0,
            allocation_request_id: -1,
        };
        let mut rc = RMContainer::new(container, is_am, now);
        rc.acquire();
        rc.launched(now);
        if let Some(node) = self.nodes.get_mut(node_id) {
            node.place(cid, s.resource);
        }
        self.cluster_used = self.cluster_used.add(&s.resource);
        if let Some(q) = self.scheduler.apps.get(&cid.app()).map(|a| a.queue) {
            self.scheduler.charge(q, &s.resource, is_am);
        }
        if let Some(app) = self.apps.get_mut(&cid.app()) {
            app.live_containers.insert(cid);
            app.ran_on.insert(node_id.clone());
        }
        self.containers.insert(cid, rc);
        cx.trace("rm.container.recovered", format!("{cid} on {node_id} {}", s.resource));
        if s.state == ContainerState::Complete {
            self.complete_container(cx, cid, s.exit_status, &s.diagnostics, false);
        }
    }
}
