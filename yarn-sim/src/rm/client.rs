//! ClientRMService: new-application, submit and kill, as REST handlers and the sim call them.

use std::collections::BTreeSet;

use engine::Cx;

use crate::ids::ApplicationId;
use crate::proto::RemoteError;
use crate::records::{ApplicationSubmissionContext, FinalApplicationStatus, Resource, YarnApplicationState};

use super::acls::{check_app_access, ApplicationAccessType, QueueACL};
use super::config::QueueState;
use super::rmapp::{RMApp, RMAppState};
use super::scheduler::QueueLookup;
use super::ResourceManager;

/// `SchedulerUtils.normalizeResource`: each dimension at least the minimum, rounded up to a
/// multiple of it, at most the maximum.
pub fn normalize(r: Resource, min: Resource, max: Resource) -> Resource {
    fn dim(v: u64, min: u64, max: u64) -> u64 {
        let v = v.max(min);
        let v = if min > 0 { v.div_ceil(min) * min } else { v };
        v.min(max)
    }
    Resource::new(dim(r.memory_mb, min.memory_mb, max.memory_mb), dim(r.vcores as u64, min.vcores as u64, max.vcores as u64) as u32)
}

/// `SchedulerUtils.validateResourceRequest`'s "greater than maximum" check, YARN 3's text.
pub fn validate_against_max(r: Resource, max: Resource) -> Result<(), RemoteError> {
    let kind = if r.memory_mb > max.memory_mb {
        "memory-mb"
    } else if r.vcores > max.vcores {
        "vcores"
    } else {
        return Ok(());
    };
    Err(RemoteError::invalid_resource_request(format!(
        "Invalid resource request! Cannot allocate containers as requested resource is greater than maximum allowed allocation. Requested resource type=[{kind}], Requested resource={r}, maximum allowed allocation={max}, please note that maximum allowed allocation is calculated by scheduler based on maximum resource of registered NodeManagers, which might be less than configured maximum allocation={max}"
    )))
}

impl ResourceManager {
    /// A fresh application id and the maximum resource a container may have.
    pub fn new_application(&mut self, cx: &mut Cx) -> (ApplicationId, Resource) {
        self.next_app_seq += 1;
        let id = ApplicationId::new(self.cluster_ts, self.next_app_seq);
        self.handed_out.insert(id);
        cx.trace("rm.app.new", id);
        self.persist_cluster(cx);
        (id, self.conf.maximum_allocation)
    }

    /// Validates and accepts a submission; on error nothing changes.
    pub fn submit_application(&mut self, cx: &mut Cx, mut ctx: ApplicationSubmissionContext, user: &str) -> Result<(), RemoteError> {
        let id = ctx.application_id;
        if self.apps.contains_key(&id)
            || (!self.handed_out.contains(&id) && id.cluster_timestamp == self.cluster_ts && id.id <= self.next_app_seq)
        {
            return Err(RemoteError::yarn(format!("Application with id {id} is already present! Cannot add a duplicate!")));
        }
        if !self.handed_out.contains(&id) {
            return Err(RemoteError::yarn(format!(
                "Application with id {id} was not handed out by this ResourceManager (cluster timestamp {}); call new-application first",
                self.cluster_ts
            )));
        }
        let queue = match self.scheduler.leaf_queue(&ctx.queue) {
            Ok(q) => q,
            Err(QueueLookup::Unknown) => {
                return Err(RemoteError::yarn(format!("Application {id} submitted by user {user} to unknown queue: {}", ctx.queue)))
            }
            Err(QueueLookup::NotLeaf(name)) => {
                return Err(RemoteError::yarn(format!("Application {id} submitted by user {user} to non-leaf queue: {name}")))
            }
        };
        let q = &self.scheduler.queues[queue];
        if q.state == QueueState::Stopped {
            return Err(RemoteError::yarn(format!("Queue {} is STOPPED. Cannot accept submission of application: {id}", q.path)));
        }
        let (queue_path, queue_name) = (q.path.clone(), q.name.clone());
        // RMAppManager: the submitter needs SUBMIT_APPLICATIONS or ADMINISTER_QUEUE on the queue
        // (or an ancestor).
        if self.conf.acls.enabled && !self.queue_access(queue, user) {
            return Err(RemoteError::access_control(format!("User {user} does not have permission to submit {id} to queue {}", ctx.queue)));
        }
        if !ctx.unmanaged_am {
            validate_against_max(ctx.resource, self.conf.maximum_allocation)?;
            ctx.resource = normalize(ctx.resource, self.conf.minimum_allocation, self.conf.maximum_allocation);
        }
        // §3.5: an out-of-range per-app limit falls back to the global one.
        let global = self.conf.am_max_attempts;
        let max_attempts =
            if ctx.max_app_attempts <= 0 || ctx.max_app_attempts as u32 > global { global } else { ctx.max_app_attempts as u32 };
        self.handed_out.remove(&id);
        self.apps_submitted += 1;
        let priority = ctx.priority;
        self.apps.insert(
            id,
            RMApp {
                id,
                user: user.to_string(),
                ctx,
                queue_path,
                queue: queue_name,
                state: RMAppState::New,
                state_before: RMAppState::New,
                final_status: FinalApplicationStatus::Undefined,
                diagnostics: String::new(),
                max_attempts,
                attempts: Vec::new(),
                submit_time: cx.now(),
                launch_time: None,
                finish_time: None,
                live_containers: BTreeSet::new(),
                ran_on: BTreeSet::new(),
                memory_seconds_done: 0,
                vcore_seconds_done: 0,
            },
        );
        // The store write is synchronous: the saving state passes at once.
        self.app_transition(cx, id, RMAppState::NewSaving);
        self.persist_app(cx, id);
        self.persist_cluster(cx);
        self.app_transition(cx, id, RMAppState::Submitted);
        self.scheduler.add_app(id, queue, priority);
        self.app_transition(cx, id, RMAppState::Accepted);
        self.start_attempt(cx, id);
        self.arm_lifetime_monitor(cx);
        Ok(())
    }

    /// Kills an app (no-op on an ended one) and returns the state it is in afterwards.
    pub fn kill_application(&mut self, cx: &mut Cx, id: ApplicationId, diagnostics: &str) -> Result<YarnApplicationState, RemoteError> {
        let Some(app) = self.apps.get(&id) else {
            return Err(RemoteError::app_not_found(format!("Application with id '{id}' doesn't exist in RM.")));
        };
        if app.state.is_final() {
            return Ok(app.yarn_state());
        }
        if app.state == RMAppState::Finishing {
            // The AM already unregistered: RMAppImpl ends it FINISHED with its own status.
            let (status, diag) = (app.final_status, app.diagnostics.clone());
            self.end_app(cx, id, RMAppState::Finished, status, diag);
            return Ok(YarnApplicationState::Finished);
        }
        let diag = if diagnostics.is_empty() { "Application killed by user.".to_string() } else { diagnostics.to_string() };
        if matches!(app.state, RMAppState::Accepted | RMAppState::Running) {
            self.app_transition(cx, id, RMAppState::Killing);
        }
        self.end_app(cx, id, RMAppState::Killed, FinalApplicationStatus::Killed, diag);
        Ok(self.apps.get(&id).map(|a| a.yarn_state()).unwrap_or(YarnApplicationState::Killed))
    }
}

/// The states in which an app is tracked by the scheduler (ClientRMService.ACTIVE_APP_STATES):
/// only then can it move or change priority.
fn active(state: RMAppState) -> bool {
    matches!(state, RMAppState::New | RMAppState::NewSaving | RMAppState::Submitted | RMAppState::Accepted | RMAppState::Running)
}

impl ResourceManager {
    /// Who a web request is: its `user.name`, else `hadoop.http.staticuser.user` ("dr.who"),
    /// as Hadoop's StaticUserWebFilter makes anonymous requests.
    pub fn web_user(&self, user_name: Option<&str>) -> String {
        match user_name.map(str::trim).filter(|u| !u.is_empty()) {
            Some(u) => u.to_string(),
            None => self.conf.acls.static_user.clone(),
        }
    }

    /// Whether ACLs are on (`yarn.acl.enable`).
    pub fn acls_enabled(&self) -> bool {
        self.conf.acls.enabled
    }

    /// `yarn.admin.acl` (plus the RM's owner).
    pub fn is_admin(&self, user: &str) -> bool {
        !self.conf.acls.enabled || self.conf.acls.is_admin(user)
    }

    fn queue_access(&self, queue: usize, user: &str) -> bool {
        let groups = self.conf.acls.groups_of(user);
        self.scheduler.has_access(queue, QueueACL::SubmitApplications, user, &groups)
            || self.scheduler.has_access(queue, QueueACL::AdministerQueue, user, &groups)
    }

    fn queue_admin(&self, queue_path: &str, user: &str) -> bool {
        match self.scheduler.leaf_queue(queue_path) {
            Ok(q) => self.scheduler.has_access(q, QueueACL::AdministerQueue, user, &self.conf.acls.groups_of(user)),
            Err(_) => false,
        }
    }

    /// ClientRMService.checkAccess: the app's ACL (owner, admins, VIEW_APP/MODIFY_APP lists)
    /// or ADMINISTER_QUEUE on the app's queue.
    pub fn check_access(&self, user: &str, access: ApplicationAccessType, app: &ApplicationId) -> bool {
        let Some(a) = self.apps.get(app) else { return false };
        check_app_access(&self.conf.acls, user, access, &a.user, &a.ctx.application_acls) || self.queue_admin(&a.queue_path, user)
    }

    /// RMWebServices.hasAccess: whether `user` sees all of an app's report or only the fields
    /// YARN shows everyone.
    pub fn can_view(&self, user: &str, app: &ApplicationId) -> bool {
        self.check_access(user, ApplicationAccessType::ViewApp, app)
    }

    /// ClientRMService.verifyUserAccessForRMApp.
    fn verify_access(&self, id: ApplicationId, user: &str, access: ApplicationAccessType) -> Result<&RMApp, RemoteError> {
        let Some(app) = self.apps.get(&id) else {
            return Err(RemoteError::app_not_found(format!(
                "Application with id '{id}' doesn't exist in RM. Please check that the job submission was successful."
            )));
        };
        if !self.check_access(user, access, &id) {
            return Err(RemoteError::access_control(format!("User {user} cannot perform operation {} on {id}", access.name())));
        }
        Ok(app)
    }

    /// `forceKillApplication` on behalf of `user` (REST `PUT /state`, `yarn application -kill`,
    /// the RM UI's kill button): MODIFY_APP or queue admin, else an AccessControlException and
    /// nothing changes. Returns the state after the kill (KILLED, or the final state it had).
    pub fn kill_application_as(
        &mut self,
        cx: &mut Cx,
        id: ApplicationId,
        user: &str,
        diagnostics: Option<&str>,
    ) -> Result<YarnApplicationState, RemoteError> {
        self.verify_access(id, user, ApplicationAccessType::ModifyApp)?;
        let mut msg = format!("Application {id} was killed by user {user}");
        if let Some(d) = diagnostics.map(str::trim).filter(|d| !d.is_empty()) {
            msg.push_str(" with diagnostic message: ");
            msg.push_str(d);
        }
        cx.trace("rm.app.kill", format!("{id} by {user}"));
        self.kill_application(cx, id, &msg)
    }

    /// `moveApplicationAcrossQueues`: MODIFY_APP on the app, SUBMIT or ADMINISTER on the
    /// target queue, and an app the scheduler still tracks. Returns the new queue's name.
    pub fn move_application(&mut self, cx: &mut Cx, id: ApplicationId, user: &str, target: &str) -> Result<String, RemoteError> {
        let app = self.verify_access(id, user, ApplicationAccessType::ModifyApp)?;
        let state = app.state;
        let to = match self.scheduler.leaf_queue(target) {
            Ok(q) if !self.conf.acls.enabled || self.queue_access(q, user) => q,
            Ok(_) | Err(_) => {
                return Err(RemoteError::access_control(format!(
                    "User {user} cannot submit applications to target queue or the target queue doesn't exist: {target} while moving {id}"
                )))
            }
        };
        if !active(state) {
            return Err(RemoteError::yarn(format!("App in {state} state cannot be moved.")));
        }
        if self.scheduler.queues[to].state == QueueState::Stopped {
            return Err(RemoteError::yarn(format!("Move not allowed: queue {target} is STOPPED")));
        }
        let live: Vec<(Resource, bool)> =
            self.apps[&id].live_containers.iter().filter_map(|c| self.containers.get(c)).map(|c| (c.resource(), c.is_am)).collect();
        self.scheduler.move_app(id, to, &live);
        let (path, name) = (self.scheduler.queues[to].path.clone(), self.scheduler.queues[to].name.clone());
        if let Some(a) = self.apps.get_mut(&id) {
            cx.trace("rm.app.move", format!("{id} {} -> {path} by {user}", a.queue_path));
            a.queue_path = path;
            a.queue = name.clone();
            a.ctx.queue = name.clone();
        }
        self.persist_app(cx, id);
        Ok(name)
    }

    /// `updateApplicationPriority`: MODIFY_APP; capped at `yarn.cluster.max-application-priority`;
    /// an app in a final state keeps its priority. Returns the priority now in force.
    pub fn update_application_priority(&mut self, cx: &mut Cx, id: ApplicationId, user: &str, priority: i32) -> Result<i32, RemoteError> {
        let app = self.verify_access(id, user, ApplicationAccessType::ModifyApp)?;
        let state = app.state;
        if !active(state) {
            if state.is_final() {
                return Ok(app.ctx.priority);
            }
            return Err(RemoteError::yarn(format!("Application in {state} state cannot update priority.")));
        }
        let p = priority.clamp(0, self.conf.max_application_priority);
        self.scheduler.update_priority(id, p);
        if let Some(a) = self.apps.get_mut(&id) {
            a.ctx.priority = p;
        }
        cx.trace("rm.app.priority", format!("{id} {p} by {user}"));
        self.persist_app(cx, id);
        Ok(p)
    }

    /// When the app's LIFETIME timeout expires (ms since the epoch), or None for UNLIMITED.
    pub fn lifetime_expiry(&self, id: &ApplicationId) -> Option<u64> {
        let a = self.apps.get(id)?;
        let secs = a.ctx.lifetime_secs?;
        Some(a.submit_time.as_millis().saturating_add((secs.max(0) as u64).saturating_mul(1000)))
    }

    /// `updateApplicationTimeouts` for LIFETIME: the new expiry must lie in the future. Returns
    /// the expiry now in force.
    pub fn update_application_lifetime(
        &mut self,
        cx: &mut Cx,
        id: ApplicationId,
        user: &str,
        expiry_ms: u64,
    ) -> Result<Option<u64>, RemoteError> {
        let app = self.verify_access(id, user, ApplicationAccessType::ModifyApp)?;
        let state = app.state;
        if !matches!(state, RMAppState::Submitted | RMAppState::Accepted | RMAppState::Running) {
            if state.is_final() {
                return Ok(self.lifetime_expiry(&id));
            }
            return Err(RemoteError::yarn(format!("Application is in {state} state can not update timeout.")));
        }
        let now = cx.now().as_millis();
        if expiry_ms <= now {
            return Err(RemoteError::yarn(format!(
                "Timeout value must be greater than current time. ExpiryTime is {expiry_ms} and current time is {now}"
            )));
        }
        let submit = app.submit_time.as_millis();
        // Whole seconds from submission, rounded up so the app never ends before the asked time.
        let secs = (expiry_ms - submit).div_ceil(1000) as i64;
        if let Some(a) = self.apps.get_mut(&id) {
            a.ctx.lifetime_secs = Some(secs);
        }
        cx.trace("rm.app.lifetime", format!("{id} expires {expiry_ms} by {user}"));
        self.persist_app(cx, id);
        self.arm_lifetime_monitor(cx);
        Ok(self.lifetime_expiry(&id))
    }

    /// RMAppLifetimeMonitor: kills apps whose LIFETIME has passed.
    pub(super) fn check_lifetimes(&mut self, cx: &mut Cx) {
        let now = cx.now().as_millis();
        let expired: Vec<ApplicationId> = self
            .apps
            .iter()
            .filter(|(id, a)| !a.state.is_final() && self.lifetime_expiry(id).map(|e| e <= now).unwrap_or(false))
            .map(|(id, _)| *id)
            .collect();
        for id in expired {
            cx.trace("rm.app.lifetime-expired", id);
            let _ = self.kill_application(cx, id, "Application is killed by ResourceManager as it has exceeded the lifetime period.");
        }
    }
}
