//! ClientRMService: new-application, submit and kill, as REST handlers and the sim call them.

use std::collections::BTreeSet;

use engine::Cx;

use crate::ids::ApplicationId;
use crate::proto::RemoteError;
use crate::records::{ApplicationSubmissionContext, FinalApplicationStatus, Resource, YarnApplicationState};

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
