//! ApplicationMasterService (register, allocate, finish), the AMLauncher's results and the
//! AMLivelinessMonitor / ContainerAllocationExpirer.

use engine::Cx;

use crate::ids::{ApplicationAttemptId, ContainerId};
use crate::proto::{AllocateRequest, AllocateResponse, RegisterResponse, RemoteError};
use crate::records::{diagnostics, exit_status, Container, FinalApplicationStatus, ResourceRequest};

use super::client::{normalize, validate_against_max};
use super::rmapp::RMAppState;
use super::rmappattempt::RMAppAttemptState;
use super::rmcontainer::RMContainerState;
use super::scheduler::Ask;
use super::ResourceManager;

fn not_found(id: ApplicationAttemptId) -> RemoteError {
    RemoteError::attempt_not_found(format!("Application attempt {id} doesn't exist in ApplicationMasterService cache."))
}

/// `[0,1]`, with NaN and -inf as 0 and +inf as 1 (ApplicationMasterService).
fn clamp_progress(p: f32) -> f32 {
    if p.is_nan() || p < 0.0 {
        0.0
    } else if p > 1.0 {
        1.0
    } else {
        p
    }
}

impl ResourceManager {
    /// The current, serving attempt `id`, or the AMS "not in cache" error.
    fn serving_attempt(&self, id: ApplicationAttemptId) -> Result<(), RemoteError> {
        let app = self.apps.get(&id.app).ok_or_else(|| not_found(id))?;
        match app.attempts.last() {
            Some(at) if at.id == id && at.is_serving() && !app.state.is_final() => Ok(()),
            _ => Err(not_found(id)),
        }
    }

    pub(crate) fn register_am(
        &mut self,
        cx: &mut Cx,
        id: ApplicationAttemptId,
        host: String,
        rpc_port: i32,
        tracking_url: String,
    ) -> Result<RegisterResponse, RemoteError> {
        self.serving_attempt(id)?;
        let now = cx.now();
        let at = self.attempt_mut(id).ok_or_else(|| not_found(id))?;
        if at.registered {
            return Err(RemoteError::invalid_am_request(format!("Application Master is already registered : {}", id.app)));
        }
        at.registered = true;
        at.host = host;
        at.rpc_port = rpc_port;
        at.am_tracking_url = tracking_url;
        at.last_response.response_id = 0;
        let state = at.state;
        if matches!(state, RMAppAttemptState::Allocated | RMAppAttemptState::Launched) {
            self.attempt_transition(cx, id, RMAppAttemptState::Running);
        }
        self.am_last_heard.insert(id, now);
        let app = self.apps.get_mut(&id.app).expect("checked");
        app.launch_time.get_or_insert(now);
        if app.state == RMAppState::Accepted {
            self.app_transition(cx, id.app, RMAppState::Running);
        }
        self.persist_attempt(cx, id);
        let app = &self.apps[&id.app];
        let previous: Vec<Container> = if app.ctx.keep_containers_across_application_attempts {
            app.live_containers
                .iter()
                .filter(|c| c.attempt != id)
                .filter_map(|c| self.containers.get(c))
                .filter(|c| !c.is_am && matches!(c.state, RMContainerState::Acquired | RMContainerState::Running))
                .map(|c| c.container.clone())
                .collect()
        } else {
            Vec::new()
        };
        Ok(RegisterResponse {
            maximum_capability: self.conf.maximum_allocation,
            queue: app.queue.clone(),
            containers_from_previous_attempts: previous,
        })
    }

    pub(crate) fn allocate(&mut self, cx: &mut Cx, req: AllocateRequest) -> Result<AllocateResponse, RemoteError> {
        let id = req.attempt_id;
        self.serving_attempt(id)?;
        let at = self.attempt(id).ok_or_else(|| not_found(id))?;
        if !at.registered {
            return Err(RemoteError::am_not_registered(format!(
                "AM is not registered for known application attempt: {id} or RM had restarted after AM registered.  AM should re-register."
            )));
        }
        let last = at.last_response.response_id;
        if req.response_id + 1 == last {
            // A retry of the previous call: the same answer again.
            return Ok(at.last_response.clone());
        }
        if req.response_id != last {
            return Err(RemoteError::invalid_am_request(format!(
                "Invalid responseId in AllocateRequest from application attempt: {id}, expect responseId to be {last}, but get {}",
                req.response_id
            )));
        }
        let finishing = at.state == RMAppAttemptState::Finishing;
        // Validate every ask before changing anything.
        let (min, max) = (self.conf.minimum_allocation, self.conf.maximum_allocation);
        for ask in &req.asks {
            validate_against_max(ask.capability, max)?;
        }
        self.am_last_heard.insert(id, cx.now());
        // This call acknowledges the previous response: its completions reached the AM.
        let sent = self.attempt_mut(id).map(|at| std::mem::take(&mut at.completed_sent)).unwrap_or_default();
        for cid in sent {
            self.awaiting_am_ack.remove(&cid);
        }
        if !finishing {
            for ask in req.asks.iter().filter(|a| a.resource_name == ResourceRequest::ANY) {
                let cap = normalize(ask.capability, min, max);
                self.scheduler.set_ask(
                    id.app,
                    ask.priority,
                    cap,
                    Ask { num: ask.num_containers, allocation_request_id: ask.allocation_request_id },
                );
            }
        }
        for cid in &req.releases {
            let releasable = self.containers.get(cid).is_some_and(|c| c.is_live() && !c.is_am && cid.app() == id.app);
            if releasable {
                self.complete_container(cx, *cid, exit_status::ABORTED, diagnostics::RELEASED_CONTAINER, true);
            }
        }
        let headroom = self.scheduler.headroom(id.app, &self.cluster_total, &self.cluster_used);
        let num_cluster_nodes = self.nodes.values().filter(|n| n.state.is_active()).count() as u32;
        let at = self.attempt_mut(id).ok_or_else(|| not_found(id))?;
        at.progress = clamp_progress(req.progress);
        let new_ids: Vec<ContainerId> = std::mem::take(&mut at.new_containers);
        let completed = std::mem::take(&mut at.completed_for_am);
        at.completed_sent = completed.iter().map(|s| s.container_id).collect();
        let updated_nodes = std::mem::take(&mut at.updated_nodes);
        let mut allocated = Vec::with_capacity(new_ids.len());
        for cid in new_ids {
            if let Some(c) = self.containers.get_mut(&cid) {
                if c.acquire() {
                    cx.trace("rm.container.state", format!("{cid} ALLOCATED->ACQUIRED"));
                }
                allocated.push(c.container.clone());
            }
        }
        let response = AllocateResponse { response_id: last + 1, allocated, completed, headroom, num_cluster_nodes, updated_nodes };
        let at = self.attempt_mut(id).ok_or_else(|| not_found(id))?;
        at.last_response = response.clone();
        Ok(response)
    }

    pub(crate) fn finish_am(
        &mut self,
        cx: &mut Cx,
        id: ApplicationAttemptId,
        final_status: FinalApplicationStatus,
        diagnostics: String,
        tracking_url: String,
    ) -> Result<bool, RemoteError> {
        self.serving_attempt(id)?;
        let now = cx.now();
        let at = self.attempt_mut(id).ok_or_else(|| not_found(id))?;
        if !at.registered {
            return Err(RemoteError::am_not_registered(format!("Application Master is trying to unregister before registering for: {id}")));
        }
        if at.state == RMAppAttemptState::Finishing {
            return Ok(true);
        }
        at.final_status = final_status;
        at.diagnostics = diagnostics.clone();
        if !tracking_url.is_empty() {
            at.am_tracking_url = tracking_url;
        }
        at.finish_time = Some(now);
        let am_done = at.am_container.is_none_or(|c| self.containers.get(&c).is_none_or(|c| !c.is_live()));
        self.attempt_transition(cx, id, RMAppAttemptState::FinalSaving);
        self.attempt_transition(cx, id, RMAppAttemptState::Finishing);
        self.scheduler.stop_attempt(id.app);
        self.app_transition(cx, id.app, RMAppState::FinalSaving);
        let app = self.apps.get_mut(&id.app).expect("serving");
        app.final_status = final_status;
        app.diagnostics = diagnostics;
        app.finish_time = Some(now);
        self.app_transition(cx, id.app, RMAppState::Finishing);
        // FINAL_SAVING stores the app as FINISHED with the AM's status (RMAppImpl).
        self.persist_attempt(cx, id);
        self.persist_app(cx, id.app);
        if am_done {
            // Unmanaged AMs (and AMs whose container already ended) finish at once.
            self.attempt_transition(cx, id, RMAppAttemptState::Finished);
            self.am_last_heard.remove(&id);
            self.finish_unregistered_app(cx, id.app);
        }
        Ok(true)
    }

    /// The NM's answer to the AMLauncher's StartContainers.
    pub(super) fn am_launch_result(&mut self, cx: &mut Cx, succeeded: Vec<ContainerId>, failed: Vec<(ContainerId, RemoteError)>) {
        let now = cx.now();
        for cid in succeeded {
            let Some(at) = self.attempt(cid.attempt) else { continue };
            if at.am_container == Some(cid) && at.state == RMAppAttemptState::Allocated {
                self.attempt_transition(cx, cid.attempt, RMAppAttemptState::Launched);
                self.am_last_heard.insert(cid.attempt, now);
                if let Some(app) = self.apps.get_mut(&cid.app()) {
                    app.launch_time.get_or_insert(now);
                }
            }
        }
        for (cid, err) in failed {
            let Some(at) = self.attempt(cid.attempt) else { continue };
            if at.am_container == Some(cid) && at.state == RMAppAttemptState::Allocated {
                let msg = format!("Error launching {}. Got exception: {err}", cid.attempt);
                self.fail_attempt(cx, cid.attempt, msg);
            }
        }
    }

    pub(super) fn check_am_liveness(&mut self, cx: &mut Cx) {
        let now = cx.now();
        let expiry = self.conf.am_expiry;
        let expired: Vec<ApplicationAttemptId> =
            self.am_last_heard.iter().filter(|(_, t)| now.since(**t) >= expiry).map(|(id, _)| *id).collect();
        for id in expired {
            self.am_last_heard.remove(&id);
            let Some((state, am_container)) = self.attempt(id).map(|at| (at.state, at.am_container)) else { continue };
            match state {
                // FINISHING --EXPIRE--> FINISHED: the AM unregistered; its exit went unseen.
                RMAppAttemptState::Finishing => {
                    self.attempt_transition(cx, id, RMAppAttemptState::Finished);
                    self.persist_attempt(cx, id);
                    if let Some(am) = am_container {
                        self.complete_container(cx, am, exit_status::ABORTED, diagnostics::COMPLETED_APPLICATION, true);
                    }
                    self.finish_unregistered_app(cx, id.app);
                }
                RMAppAttemptState::Launched | RMAppAttemptState::Running | RMAppAttemptState::Allocated => {
                    cx.trace("rm.am.expired", id);
                    self.fail_attempt(cx, id, format!("ApplicationMaster for attempt {id} timed out"));
                }
                _ => {}
            }
        }
    }

    pub(super) fn check_allocation_expiry(&mut self, cx: &mut Cx) {
        let now = cx.now();
        let expiry = self.conf.container_alloc_expiry;
        let expired: Vec<ContainerId> =
            self.allocated_unlaunched.iter().filter(|(_, t)| now.since(**t) >= expiry).map(|(id, _)| *id).collect();
        for cid in expired {
            self.complete_container(cx, cid, exit_status::ABORTED, diagnostics::EXPIRED_CONTAINER, true);
        }
    }
}
