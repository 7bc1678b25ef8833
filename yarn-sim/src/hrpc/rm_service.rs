//! The ResourceManager's Hadoop RPC protocols, ApplicationClientProtocol (YarnClient, the
//! `yarn` CLI, Flink's client) and ApplicationMasterProtocol (AMRMClient), over the live RM
//! node: as the REST handlers do, each method decodes, calls the node through
//! [`LiveNode::with`] / [`LiveNode::read`] and encodes; the node refuses bad requests before
//! it changes anything, and its refusals travel as YARN's exception class and message.
//!
//! Authentication is Hadoop's: the client protocol takes SIMPLE (the connection context's
//! user is the caller for ACL checks, as REST's `user.name` is) or a token; the AM protocol
//! only an AMRM token (SASL DIGEST-MD5), and the attempt is the one the token names.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, OnceLock};

use engine::live::{wall_now, LiveNode};
use hadoop_rpc::service::{AuthMethod, CallContext, RpcError, RpcService};
use prost::Message;

use super::convert::{self, remote_error, yarn_error};
use super::pb;
use crate::ids::{ApplicationAttemptId, ApplicationId, NodeId};
use crate::proto::AllocateRequest;
use crate::records::{NodeState, YarnApplicationState};
use crate::rm::acls::QueueACL;
use crate::rm::{RMAppAttemptState, ResourceManager};

/// `@ProtocolInfo` names of the protocols this port serves.
pub const APPLICATION_CLIENT_PROTOCOL: &str = "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB";
pub const APPLICATION_MASTER_PROTOCOL: &str = "org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB";

const ACCESS_CONTROL: &str = "org.apache.hadoop.security.AccessControlException";

/// What an attempt has been given of NM tokens (NMTokenSecretManagerInRM's
/// appAttemptToNodeKeyMap): an AM gets a node's token with the first container there.
#[derive(Default)]
struct AttemptTokens {
    nodes: BTreeSet<NodeId>,
    /// The response id and NM tokens of the last allocate answer, for a retried call (the RM
    /// answers it with the same response, so it gets the same tokens).
    last: Option<(i32, Vec<pb::NmTokenProto>)>,
}

/// Serves Hadoop RPC (connections opening with `hrpc`) on the RM's one port, beside REST, the
/// web UI and node frames. Call right after `LiveNode::new`, before the node is cloned or run.
pub fn with_hadoop_rpc(host: LiveNode<ResourceManager>) -> LiveNode<ResourceManager> {
    // The service holds the host, which must take the handler before it is shared: the
    // handler finds the service in a slot filled right after.
    let slot: Arc<OnceLock<Arc<dyn RpcService>>> = Arc::new(OnceLock::new());
    let s = slot.clone();
    let handler: engine::live::RawHandler = Arc::new(move |stream, peer| {
        let svc = s.get().cloned();
        Box::pin(async move {
            if let Some(svc) = svc {
                hadoop_rpc::server::serve_connection(stream, svc, peer).await
            }
        })
    });
    let host = host.with_raw_protocol(hadoop_rpc::connection::PREAMBLE_MAGIC, handler);
    let _ = slot.set(Arc::new(RmService::new(host.clone())));
    host
}

pub struct RmService {
    host: LiveNode<ResourceManager>,
    nm_tokens: Mutex<BTreeMap<ApplicationAttemptId, AttemptTokens>>,
}

fn decode<M: Message + Default>(method: &str, bytes: &[u8]) -> Result<M, RpcError> {
    M::decode(bytes).map_err(|e| RpcError::malformed(method, e))
}

fn app_not_found(id: ApplicationId) -> RpcError {
    RpcError::application(
        "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException",
        format!("Application with id '{id}' doesn't exist in RM. Please check that the job submission was successful."),
    )
}

fn required_app_id(p: Option<&pb::ApplicationIdProto>) -> Result<ApplicationId, RpcError> {
    convert::app_id_from_pb(p.ok_or_else(|| yarn_error("application_id is not set"))?)
}

impl RmService {
    pub fn new(host: LiveNode<ResourceManager>) -> RmService {
        RmService { host, nm_tokens: Mutex::new(BTreeMap::new()) }
    }

    /// The attempt an AMRM-token connection is for.
    fn attempt_of(cx: &CallContext) -> Result<ApplicationAttemptId, RpcError> {
        let refused = || {
            RpcError::application(
                ACCESS_CONTROL,
                format!("SIMPLE authentication is not enabled.  Available:[{}]", AuthMethod::Token.name()),
            )
        };
        if cx.auth != AuthMethod::Token {
            return Err(refused());
        }
        let id = cx.token_identifier.as_deref().ok_or_else(refused)?;
        let ident = pb::AmrmTokenIdentifierProto::decode(id)
            .map_err(|e| RpcError::application(ACCESS_CONTROL, format!("Malformed AMRMTokenIdentifier: {e}")))?;
        convert::attempt_id_from_pb(ident.app_attempt_id.as_ref().ok_or_else(|| yarn_error("AMRMTokenIdentifier without an attempt"))?)
    }

    // ---- ApplicationClientProtocol

    fn get_new_application(&self) -> pb::GetNewApplicationResponseProto {
        let (id, max) = self.host.with(|rm, cx| rm.new_application(cx));
        pb::GetNewApplicationResponseProto {
            application_id: Some(convert::app_id_to_pb(id)),
            maximum_capability: Some(convert::resource_to_pb(max)),
        }
    }

    fn submit_application(
        &self,
        user: &str,
        req: pb::SubmitApplicationRequestProto,
    ) -> Result<pb::SubmitApplicationResponseProto, RpcError> {
        let ctx = convert::submission_context_from_pb(
            req.application_submission_context.as_ref().ok_or_else(|| yarn_error("application_submission_context is not set"))?,
        )?;
        let id = ctx.application_id;
        self.host
            .with(|rm, cx| {
                // ClientRMService: a resubmission of an app the RM has ("This is an earlier
                // submitted application") succeeds without a second app, so a client retrying
                // after a lost answer does not fail.
                if rm.app(&id).is_some() {
                    return Ok(());
                }
                rm.submit_application(cx, ctx, user)
            })
            .map_err(remote_error)?;
        Ok(pb::SubmitApplicationResponseProto {})
    }

    fn report(rm: &ResourceManager, id: &ApplicationId, user: &str, service: &str) -> Option<pb::ApplicationReportProto> {
        let r = rm.app_report_as(id, wall_now(), user)?;
        let full = rm.can_view(user, id);
        let extra = convert::AppReportExtra {
            original_tracking_url: rm.am_tracking_url(id).filter(|_| full).unwrap_or_else(|| "N/A".into()),
            rm_cluster_id: Some(rm.config().cluster_id.clone()),
        };
        let mut p = convert::app_report_to_pb(&r, &extra);
        // RMAppImpl.createAndGetApplicationReport: the owner of an unmanaged AM gets its
        // attempt's AMRM token while the attempt is LAUNCHED (YarnClient.getAMRMToken), which
        // is how an unmanaged AM authenticates to the scheduler.
        let app = rm.app(id)?;
        if let Some(at) = app.current_attempt() {
            if app.ctx.unmanaged_am && app.user == user && at.state == RMAppAttemptState::Launched {
                p.am_rm_token = Some(rm.amrm_token(at.id, service).to_proto());
            }
        }
        Some(p)
    }

    fn service(&self) -> String {
        self.host.addr().to_string()
    }

    fn get_application_report(
        &self,
        user: &str,
        req: pb::GetApplicationReportRequestProto,
    ) -> Result<pb::GetApplicationReportResponseProto, RpcError> {
        let id = required_app_id(req.application_id.as_ref())?;
        let service = self.service();
        let report = self.host.read(|rm| Self::report(rm, &id, user, &service)).ok_or_else(|| app_not_found(id))?;
        Ok(pb::GetApplicationReportResponseProto { application_report: Some(report) })
    }

    /// ClientRMService.getApplications with its filters; an app the caller may not view is
    /// listed with a restricted report (scope ALL) or left out (VIEWABLE), and OWN lists the
    /// caller's apps only.
    fn get_applications(&self, user: &str, req: pb::GetApplicationsRequestProto) -> Result<pb::GetApplicationsResponseProto, RpcError> {
        let states: Vec<YarnApplicationState> =
            req.application_states.iter().map(|s| convert::app_state_from_pb(*s)).collect::<Result<_, _>>()?;
        let scope = pb::ApplicationsRequestScopeProto::try_from(req.scope.unwrap_or(0))
            .map_err(|_| yarn_error(format!("Unknown scope {:?}", req.scope)))?;
        let types: Vec<String> = req.application_types.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
        let tags: Vec<String> = req.application_tags.iter().map(|t| t.trim().to_ascii_lowercase()).collect();
        let limit = req.limit.filter(|l| *l > 0).map(|l| l as usize).unwrap_or(usize::MAX);
        let (sb, se) = (req.start_begin.unwrap_or(0), req.start_end.unwrap_or(i64::MAX));
        let (fb, fe) = (req.finish_begin.unwrap_or(0), req.finish_end.unwrap_or(i64::MAX));
        let finish_filter = req.finish_begin.is_some() || req.finish_end.is_some();
        let service = self.service();
        let applications = self.host.read(|rm| {
            let now = wall_now();
            let mut out = Vec::new();
            for r in rm.app_reports(now) {
                if out.len() >= limit {
                    break;
                }
                let id = r.id;
                match scope {
                    pb::ApplicationsRequestScopeProto::All => {}
                    pb::ApplicationsRequestScopeProto::Viewable if rm.can_view(user, &id) => {}
                    pb::ApplicationsRequestScopeProto::Own if r.user == user => {}
                    pb::ApplicationsRequestScopeProto::Viewable | pb::ApplicationsRequestScopeProto::Own => continue,
                }
                if !states.is_empty() && !states.contains(&r.state) {
                    continue;
                }
                if !types.is_empty() && !types.contains(&r.application_type.trim().to_ascii_lowercase()) {
                    continue;
                }
                if !req.users.is_empty() && !req.users.contains(&r.user) {
                    continue;
                }
                if !req.queues.is_empty() && !req.queues.contains(&r.queue) {
                    continue;
                }
                if req.name.as_ref().is_some_and(|n| *n != r.name) {
                    continue;
                }
                if !tags.is_empty() && !r.application_tags.split(',').any(|t| tags.contains(&t.trim().to_ascii_lowercase())) {
                    continue;
                }
                let (started, finished) = (r.started_time as i64, r.finished_time as i64);
                if started < sb || started > se || finish_filter && (finished < fb || finished > fe) {
                    continue;
                }
                if let Some(p) = Self::report(rm, &id, user, &service) {
                    out.push(p);
                }
            }
            out
        });
        Ok(pb::GetApplicationsResponseProto { applications })
    }

    fn force_kill_application(
        &self,
        user: &str,
        req: pb::KillApplicationRequestProto,
    ) -> Result<pb::KillApplicationResponseProto, RpcError> {
        let id = required_app_id(req.application_id.as_ref())?;
        let state = self
            .host
            .with(|rm, cx| {
                if rm.app(&id).is_none() {
                    // ClientRMService.forceKillApplication's own text for an unknown app.
                    return Err(crate::proto::RemoteError::app_not_found(format!("Trying to kill an absent application {id}")));
                }
                rm.kill_application_as(cx, id, user, req.diagnostics.as_deref())
            })
            .map_err(remote_error)?;
        // YarnClient repeats the call until the kill is complete: here the kill is done at
        // once, so this is true unless the app is somehow still alive.
        Ok(pb::KillApplicationResponseProto { is_kill_completed: Some(state.is_final()) })
    }

    fn get_cluster_metrics(&self) -> pb::GetClusterMetricsResponseProto {
        let m = self.host.read(|rm| rm.cluster_metrics());
        pb::GetClusterMetricsResponseProto { cluster_metrics: Some(convert::cluster_metrics_to_pb(&m)) }
    }

    fn get_cluster_nodes(&self, req: pb::GetClusterNodesRequestProto) -> Result<pb::GetClusterNodesResponseProto, RpcError> {
        let states: Vec<NodeState> = req.node_states.iter().map(|s| convert::node_state_from_pb(*s)).collect::<Result<_, _>>()?;
        let node_reports = self
            .host
            .read(|rm| rm.node_reports())
            .iter()
            .filter(|n| states.is_empty() || states.contains(&n.state))
            .map(convert::node_report_to_pb)
            .collect();
        Ok(pb::GetClusterNodesResponseProto { node_reports })
    }

    /// CapacityScheduler.getQueueInfo: the queue by name or path, its children (one level, or
    /// all with `recursive`), its applications when asked.
    fn get_queue_info(&self, user: &str, req: pb::GetQueueInfoRequestProto) -> Result<pb::GetQueueInfoResponseProto, RpcError> {
        let name = req.queue_name.clone().unwrap_or_default();
        let service = self.service();
        let info = self.host.read(|rm| {
            let s = rm.scheduler();
            let idx = s.queues.iter().position(|q| q.name == name || q.path == name)?;
            Some(queue_info(rm, idx, req.include_child_queues(), req.recursive(), req.include_applications(), user, &service))
        });
        let info = info.ok_or_else(|| yarn_error(format!("java.io.IOException: Unknown queue: {name}")))?;
        Ok(pb::GetQueueInfoResponseProto { queue_info: Some(info) })
    }

    fn get_queue_user_acls(&self, user: &str) -> pb::GetQueueUserAclsInfoResponseProto {
        let queue_user_acls = self.host.read(|rm| {
            let s = rm.scheduler();
            let groups = rm.config().acls.groups_of(user);
            (0..s.queues.len())
                .map(|i| {
                    let mut acls = Vec::new();
                    if !rm.acls_enabled() || s.has_access(i, QueueACL::SubmitApplications, user, &groups) {
                        acls.push(pb::QueueAclProto::QaclSubmitApplications as i32);
                    }
                    if !rm.acls_enabled() || s.has_access(i, QueueACL::AdministerQueue, user, &groups) {
                        acls.push(pb::QueueAclProto::QaclAdministerQueue as i32);
                    }
                    pb::QueueUserAclInfoProto { queue_name: Some(s.queues[i].name.clone()), user_acls: acls }
                })
                .collect()
        });
        pb::GetQueueUserAclsInfoResponseProto { queue_user_acls }
    }

    // ---- ApplicationMasterProtocol

    fn register_application_master(
        &self,
        attempt: ApplicationAttemptId,
        req: pb::RegisterApplicationMasterRequestProto,
    ) -> Result<pb::RegisterApplicationMasterResponseProto, RpcError> {
        let host = req.host.clone().unwrap_or_default();
        let port = req.rpc_port.unwrap_or(-1);
        let tracking = req.tracking_url.clone().unwrap_or_default();
        let (r, previous, acls) = self
            .host
            .with(|rm, cx| {
                let r = rm.register_am(cx, attempt, host, port, tracking)?;
                let app = rm.app(&attempt.app).expect("registered");
                let user = app.user.clone();
                let acls = app.ctx.application_acls.clone();
                let previous: Vec<(pb::ContainerProto, NodeId, pb::NmTokenProto)> = r
                    .containers_from_previous_attempts
                    .iter()
                    .map(|c| (self.container_with_token(rm, c, &user), c.node_id.clone(), nm_token_proto(rm, attempt, &c.node_id, &user)))
                    .collect();
                Ok::<_, crate::proto::RemoteError>((r, previous, acls))
            })
            .map_err(remote_error)?;
        let mut tokens = self.nm_tokens.lock().unwrap_or_else(|e| e.into_inner());
        let entry = tokens.entry(attempt).or_default();
        entry.last = None;
        let mut nm_tokens = Vec::new();
        for (_, node, t) in &previous {
            if entry.nodes.insert(node.clone()) {
                nm_tokens.push(t.clone());
            }
        }
        Ok(pb::RegisterApplicationMasterResponseProto {
            maximum_capability: Some(convert::resource_to_pb(r.maximum_capability)),
            application_acls: convert::launch_context_to_pb(&Default::default(), &acls).application_acls,
            containers_from_previous_attempts: previous.into_iter().map(|(c, _, _)| c).collect(),
            queue: Some(r.queue),
            nm_tokens_from_previous_attempts: nm_tokens,
            // The scheduler fits memory and vcores (DominantResourceCalculator's answer).
            scheduler_resource_types: vec![pb::SchedulerResourceTypes::Memory as i32, pb::SchedulerResourceTypes::Cpu as i32],
            // ResourceUtils.getResourcesTypeInfo(): the two countable types this cluster has.
            resource_types: vec![
                pb::ResourceTypeInfoProto {
                    name: "memory-mb".into(),
                    units: Some("Mi".into()),
                    r#type: Some(pb::ResourceTypesProto::Countable as i32),
                },
                pb::ResourceTypeInfoProto {
                    name: "vcores".into(),
                    units: Some(String::new()),
                    r#type: Some(pb::ResourceTypesProto::Countable as i32),
                },
            ],
            ..Default::default()
        })
    }

    fn container_with_token(&self, rm: &ResourceManager, c: &crate::records::Container, user: &str) -> pb::ContainerProto {
        let mut p = convert::container_to_pb(c);
        let (allocated_at, is_am) = rm.container(&c.id).map(|rc| (rc.allocated_at, rc.is_am)).unwrap_or((engine::Time::ZERO, false));
        p.container_token = Some(rm.container_token(c, user, allocated_at, is_am).to_proto());
        p
    }

    fn allocate(&self, attempt: ApplicationAttemptId, req: pb::AllocateRequestProto) -> Result<pb::AllocateResponseProto, RpcError> {
        let asks = req.ask.iter().map(convert::resource_request_from_pb).collect::<Result<Vec<_>, _>>()?;
        let releases = req.release.iter().map(convert::container_id_from_pb).collect::<Result<Vec<_>, _>>()?;
        let request = AllocateRequest {
            attempt_id: attempt,
            response_id: req.response_id.unwrap_or(0),
            asks,
            releases,
            progress: req.progress.unwrap_or(0.0),
        };
        // The blacklist (always sent by AMRMClient, usually empty) is accepted and not acted
        // on: this scheduler places containers on any node with room.
        let mut tokens = self.nm_tokens.lock().unwrap_or_else(|e| e.into_inner());
        let out = self.host.with(|rm, cx| {
            let r = rm.allocate(cx, request)?;
            let app = rm.app(&attempt.app).expect("served");
            let user = app.user.clone();
            let priority = app.ctx.priority;
            if tokens.len() > 64 {
                // Attempts that ended without unregistering (killed, failed) are forgotten.
                tokens.retain(|a, _| {
                    rm.app(&a.app)
                        .and_then(|app| app.attempts.get((a.attempt as usize).wrapping_sub(1)))
                        .is_some_and(|at| !at.state.is_final())
                });
            }
            let entry = tokens.entry(attempt).or_default();
            let nm_tokens = match &entry.last {
                Some((id, t)) if *id == r.response_id => t.clone(),
                _ => {
                    let mut t = Vec::new();
                    for c in &r.allocated {
                        if entry.nodes.insert(c.node_id.clone()) {
                            t.push(nm_token_proto(rm, attempt, &c.node_id, &user));
                        }
                    }
                    entry.last = Some((r.response_id, t.clone()));
                    t
                }
            };
            let updated_nodes =
                r.updated_nodes
                    .iter()
                    .map(|u| {
                        let mut n = rm.node_report(&u.node_id).map(|n| convert::node_report_to_pb(&n)).unwrap_or_else(|| {
                            pb::NodeReportProto { node_id: Some(convert::node_id_to_pb(&u.node_id)), ..Default::default() }
                        });
                        n.node_state = Some(convert::node_state_to_pb(u.state) as i32);
                        n.node_update_type = Some(if u.state.is_active() && u.state != NodeState::Unhealthy {
                            pb::NodeUpdateTypeProto::NodeUsable
                        } else {
                            pb::NodeUpdateTypeProto::NodeUnusable
                        } as i32);
                        n
                    })
                    .collect();
            Ok::<_, crate::proto::RemoteError>(pb::AllocateResponseProto {
                response_id: Some(r.response_id),
                allocated_containers: r.allocated.iter().map(|c| self.container_with_token(rm, c, &user)).collect(),
                completed_container_statuses: r.completed.iter().map(convert::container_status_to_pb).collect(),
                limit: Some(convert::resource_to_pb(r.headroom)),
                updated_nodes,
                num_cluster_nodes: Some(r.num_cluster_nodes as i32),
                nm_tokens,
                application_priority: Some(pb::PriorityProto { priority: Some(priority) }),
                ..Default::default()
            })
        });
        out.map_err(remote_error)
    }

    fn finish_application_master(
        &self,
        attempt: ApplicationAttemptId,
        req: pb::FinishApplicationMasterRequestProto,
    ) -> Result<pb::FinishApplicationMasterResponseProto, RpcError> {
        let status = convert::final_status_from_pb(req.final_application_status)?;
        let diagnostics = req.diagnostics.clone().unwrap_or_default();
        let tracking = req.tracking_url.clone().unwrap_or_default();
        let done = self.host.with(|rm, cx| rm.finish_am(cx, attempt, status, diagnostics, tracking)).map_err(remote_error)?;
        if done {
            self.nm_tokens.lock().unwrap_or_else(|e| e.into_inner()).remove(&attempt);
        }
        Ok(pb::FinishApplicationMasterResponseProto { is_unregistered: Some(done) })
    }
}

fn nm_token_proto(rm: &ResourceManager, attempt: ApplicationAttemptId, node: &NodeId, user: &str) -> pb::NmTokenProto {
    pb::NmTokenProto { node_id: Some(convert::node_id_to_pb(node)), token: Some(rm.nm_token(attempt, node, user).to_proto()) }
}

/// One queue as QueueInfo: capacities as fractions (YARN's QueueInfo, where the REST view has
/// percentages), children when asked (one level unless `recursive`).
fn queue_info(
    rm: &ResourceManager,
    idx: usize,
    children: bool,
    recursive: bool,
    apps: bool,
    user: &str,
    service: &str,
) -> pb::QueueInfoProto {
    let s = rm.scheduler();
    let q = &s.queues[idx];
    let cluster = rm.cluster_total();
    let guaranteed = q.abs_capacity * cluster.memory_mb as f64;
    let current = if guaranteed > 0.0 { q.used.memory_mb as f64 / guaranteed } else { 0.0 };
    let child_queues = if children {
        q.children.iter().map(|c| queue_info(rm, *c, recursive, recursive, apps, user, service)).collect()
    } else {
        Vec::new()
    };
    let applications = if apps && q.is_leaf() {
        rm.app_reports(wall_now())
            .iter()
            .filter(|r| rm.app(&r.id).is_some_and(|a| a.queue_path == q.path))
            .filter_map(|r| RmService::report(rm, &r.id, user, service))
            .collect()
    } else {
        Vec::new()
    };
    pb::QueueInfoProto {
        queue_name: Some(q.name.clone()),
        capacity: Some((q.capacity / 100.0) as f32),
        maximum_capacity: Some((q.maximum_capacity / 100.0) as f32),
        current_capacity: Some(current as f32),
        state: Some(match q.state {
            crate::rm::config::QueueState::Running => pb::QueueStateProto::QRunning,
            crate::rm::config::QueueState::Stopped => pb::QueueStateProto::QStopped,
        } as i32),
        child_queues,
        applications,
        queue_path: Some(q.path.clone()),
        scheduler_type: Some("CapacityScheduler".into()),
        preemption_disabled: Some(true),
        intra_queue_preemption_disabled: Some(true),
        ..Default::default()
    }
}

impl RpcService for RmService {
    fn auth_methods(&self) -> Vec<AuthMethod> {
        vec![AuthMethod::Token, AuthMethod::Simple]
    }

    fn accepts(&self, protocol: &str, auth: AuthMethod) -> Result<(), RpcError> {
        match protocol {
            APPLICATION_CLIENT_PROTOCOL => Ok(()),
            // ApplicationMasterService enforces TOKEN even without Kerberos.
            APPLICATION_MASTER_PROTOCOL if auth == AuthMethod::Token => Ok(()),
            APPLICATION_MASTER_PROTOCOL => Err(RpcError::application(
                ACCESS_CONTROL,
                format!("{} authentication is not enabled.  Available:[{}]", auth.name(), AuthMethod::Token.name()),
            )),
            other => Err(RpcError::no_such_protocol(other)),
        }
    }

    fn token_password(&self, identifier: &[u8]) -> Result<Vec<u8>, String> {
        self.host.read(|rm| rm.amrm_token_password(identifier)).map(|(_, pw)| pw)
    }

    /// AMRMTokenIdentifier.getUser(): the attempt, `appattempt_…`.
    fn token_user(&self, identifier: &[u8]) -> Option<String> {
        let id = pb::AmrmTokenIdentifierProto::decode(identifier).ok()?;
        convert::attempt_id_from_pb(id.app_attempt_id.as_ref()?).ok().map(|a| a.to_string())
    }

    fn call(&self, cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, RpcError> {
        let m = cx.method.as_str();
        let user = cx.user.as_str();
        match cx.protocol.as_str() {
            APPLICATION_CLIENT_PROTOCOL => Ok(match m {
                "getNewApplication" => {
                    let _: pb::GetNewApplicationRequestProto = decode(m, request)?;
                    self.get_new_application().encode_to_vec()
                }
                "submitApplication" => self.submit_application(user, decode(m, request)?)?.encode_to_vec(),
                "getApplicationReport" => self.get_application_report(user, decode(m, request)?)?.encode_to_vec(),
                "getApplications" => self.get_applications(user, decode(m, request)?)?.encode_to_vec(),
                "forceKillApplication" => self.force_kill_application(user, decode(m, request)?)?.encode_to_vec(),
                "getClusterMetrics" => {
                    let _: pb::GetClusterMetricsRequestProto = decode(m, request)?;
                    self.get_cluster_metrics().encode_to_vec()
                }
                "getClusterNodes" => self.get_cluster_nodes(decode(m, request)?)?.encode_to_vec(),
                "getQueueInfo" => self.get_queue_info(user, decode(m, request)?)?.encode_to_vec(),
                "getQueueUserAcls" => {
                    let _: pb::GetQueueUserAclsInfoRequestProto = decode(m, request)?;
                    self.get_queue_user_acls(user).encode_to_vec()
                }
                _ => return Err(RpcError::no_such_method(m, APPLICATION_CLIENT_PROTOCOL)),
            }),
            APPLICATION_MASTER_PROTOCOL => {
                let known = matches!(m, "registerApplicationMaster" | "allocate" | "finishApplicationMaster");
                if !known {
                    return Err(RpcError::no_such_method(m, APPLICATION_MASTER_PROTOCOL));
                }
                let attempt = Self::attempt_of(cx)?;
                Ok(match m {
                    "registerApplicationMaster" => self.register_application_master(attempt, decode(m, request)?)?.encode_to_vec(),
                    "allocate" => self.allocate(attempt, decode(m, request)?)?.encode_to_vec(),
                    _ => self.finish_application_master(attempt, decode(m, request)?)?.encode_to_vec(),
                })
            }
            other => Err(RpcError::no_such_protocol(other)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a live node on a temp dir, as the daemon hosts it
mod tests {
    use super::*;
    use crate::conf::Configuration;
    use crate::proto::YarnMsg;
    use crate::records::Resource;
    use crate::rm::RmConfig;
    use engine::{Addr, Msg, Node};

    struct T {
        host: LiveNode<ResourceManager>,
        svc: RmService,
        _dir: TempDir,
    }

    struct TempDir(std::path::PathBuf);
    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const NM: &str = "127.0.0.1:1";

    fn setup(pairs: &[(&str, &str)]) -> T {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("hrpc-rm-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = Configuration::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        let rm = ResourceManager::new(RmConfig::from_conf(&c).unwrap());
        let me: Addr = "127.0.0.1:2".parse().unwrap();
        let host = LiveNode::new(rm, me, &dir, engine::Codecs::new().with::<YarnMsg>(), 1);
        host.with(|rm, cx| rm.on_start(cx));
        // One NodeManager (nobody listens at its address: the AM launch goes nowhere, which
        // leaves the AM container ALLOCATED, where an AM may already register).
        let nm: Addr = NM.parse().unwrap();
        host.with(|rm, cx| {
            let m = YarnMsg::RegisterNodeManager {
                node_id: NodeId::from_addr(nm),
                http_address: "127.0.0.1:8042".into(),
                resource: Resource::new(8192, 8),
                containers: vec![],
            };
            rm.on_message(cx, nm, Msg::new(m))
        });
        T { svc: RmService::new(host.clone()), host, _dir: TempDir(dir) }
    }

    impl T {
        fn heartbeat(&self, response_id: u64) {
            let nm: Addr = NM.parse().unwrap();
            self.host.with(|rm, cx| {
                let m = YarnMsg::NodeHeartbeat {
                    node_id: NodeId::from_addr(nm),
                    response_id,
                    containers: vec![],
                    healthy: true,
                    health_report: String::new(),
                };
                rm.on_message(cx, nm, Msg::new(m))
            });
        }

        fn call<Q: Message, R: Message + Default>(&self, cx: &CallContext, req: &Q) -> Result<R, RpcError> {
            let bytes = self.svc.call(cx, &req.encode_to_vec())?;
            Ok(R::decode(bytes.as_slice()).expect("the response decodes"))
        }

        fn acp(&self, user: &str, method: &str) -> CallContext {
            CallContext {
                protocol: APPLICATION_CLIENT_PROTOCOL.into(),
                method: method.into(),
                auth: AuthMethod::Simple,
                user: user.into(),
                token_identifier: None,
                peer: "127.0.0.1:9".into(),
            }
        }

        fn amp(&self, attempt: ApplicationAttemptId, method: &str) -> CallContext {
            let t = self.host.read(|rm| rm.amrm_token(attempt, ""));
            CallContext {
                protocol: APPLICATION_MASTER_PROTOCOL.into(),
                method: method.into(),
                auth: AuthMethod::Token,
                user: attempt.to_string(),
                token_identifier: Some(t.identifier),
                peer: "127.0.0.1:9".into(),
            }
        }

        /// getNewApplication + submitApplication as `user`.
        fn submit(&self, user: &str, queue: &str) -> ApplicationId {
            let r: pb::GetNewApplicationResponseProto =
                self.call(&self.acp(user, "getNewApplication"), &pb::GetNewApplicationRequestProto {}).unwrap();
            let id = convert::app_id_from_pb(r.application_id.as_ref().unwrap()).unwrap();
            let mut ctx = crate::records::ApplicationSubmissionContext::new(id);
            ctx.queue = queue.into();
            ctx.application_type = "Apache Flink".into();
            ctx.am_container_spec.commands = vec!["sleep 100".into()];
            let req = pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(&ctx)) };
            let _: pb::SubmitApplicationResponseProto = self.call(&self.acp(user, "submitApplication"), &req).unwrap();
            id
        }

        fn report(&self, user: &str, id: ApplicationId) -> Result<pb::ApplicationReportProto, RpcError> {
            let req = pb::GetApplicationReportRequestProto { application_id: Some(convert::app_id_to_pb(id)) };
            let r: pb::GetApplicationReportResponseProto = self.call(&self.acp(user, "getApplicationReport"), &req)?;
            Ok(r.application_report.unwrap())
        }
    }

    #[tokio::test]
    async fn the_client_protocol_submits_reports_lists_and_kills() {
        let t = setup(&[("yarn.acl.enable", "true"), ("yarn.admin.acl", " "), ("yarn.scheduler.capacity.root.acl_administer_queue", " ")]);
        let r: pb::GetNewApplicationResponseProto =
            t.call(&t.acp("alice", "getNewApplication"), &pb::GetNewApplicationRequestProto {}).unwrap();
        assert!(r.maximum_capability.unwrap().memory() > 0);
        let id = t.submit("alice", "default");
        let rep = t.report("alice", id).unwrap();
        assert_eq!(rep.yarn_application_state(), pb::YarnApplicationStateProto::Accepted);
        assert_eq!((rep.user(), rep.queue(), rep.application_type()), ("alice", "default", "Apache Flink"));
        assert_eq!((rep.host(), rep.rpc_port()), ("N/A", -1));
        // A resubmission of the same context is accepted and makes no second app.
        let mut ctx = crate::records::ApplicationSubmissionContext::new(id);
        ctx.am_container_spec.commands = vec!["sleep 100".into()];
        let again = pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(&ctx)) };
        let _: pb::SubmitApplicationResponseProto = t.call(&t.acp("alice", "submitApplication"), &again).unwrap();
        // Unknown apps are ApplicationNotFoundException, as YarnClient expects.
        let e = t.report("alice", ApplicationId::new(1, 99)).unwrap_err();
        assert_eq!(e.class, "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException");
        assert!(e.message.contains("doesn't exist in RM"), "{}", e.message);
        // A submission the RM refuses changes nothing and says why (unknown queue).
        let r: pb::GetNewApplicationResponseProto =
            t.call(&t.acp("alice", "getNewApplication"), &pb::GetNewApplicationRequestProto {}).unwrap();
        let bad_id = convert::app_id_from_pb(r.application_id.as_ref().unwrap()).unwrap();
        let mut bad = crate::records::ApplicationSubmissionContext::new(bad_id);
        bad.queue = "nope".into();
        let req = pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(&bad)) };
        let e = t.call::<_, pb::SubmitApplicationResponseProto>(&t.acp("alice", "submitApplication"), &req).unwrap_err();
        assert_eq!(e.class, convert::YARN_EXCEPTION);
        assert!(e.message.contains("unknown queue: nope"), "{}", e.message);
        assert!(t.report("alice", bad_id).is_err());
        // A body that is not the method's message is refused without a panic.
        let e = t.svc.call(&t.acp("alice", "submitApplication"), &[0x0a, 0xff]).unwrap_err();
        assert_eq!(e.code, hadoop_rpc::service::RpcErrorCode::RpcServer);

        // getApplications with filters.
        let list = |req: pb::GetApplicationsRequestProto, user: &str| -> Vec<ApplicationId> {
            let r: pb::GetApplicationsResponseProto = t.call(&t.acp(user, "getApplications"), &req).unwrap();
            r.applications.iter().map(|a| convert::app_id_from_pb(a.application_id.as_ref().unwrap()).unwrap()).collect()
        };
        let other = t.submit("bob", "default");
        assert_eq!(list(Default::default(), "alice"), vec![id, other]);
        let accepted = pb::GetApplicationsRequestProto {
            application_states: vec![pb::YarnApplicationStateProto::Accepted as i32],
            ..Default::default()
        };
        assert_eq!(list(accepted, "alice"), vec![id, other]);
        let running = pb::GetApplicationsRequestProto {
            application_states: vec![pb::YarnApplicationStateProto::Running as i32],
            ..Default::default()
        };
        assert!(list(running, "alice").is_empty());
        let own = pb::GetApplicationsRequestProto { scope: Some(pb::ApplicationsRequestScopeProto::Own as i32), ..Default::default() };
        assert_eq!(list(own, "bob"), vec![other]);
        let typed =
            pb::GetApplicationsRequestProto { application_types: vec!["apache flink".into()], limit: Some(1), ..Default::default() };
        assert_eq!(list(typed, "alice"), vec![id]);

        // Kill: bob may not kill alice's app (ACLs are on); alice may.
        let kill = pb::KillApplicationRequestProto { application_id: Some(convert::app_id_to_pb(id)), diagnostics: None };
        let e = t.call::<_, pb::KillApplicationResponseProto>(&t.acp("bob", "forceKillApplication"), &kill).unwrap_err();
        assert_eq!(e.class, ACCESS_CONTROL);
        assert!(e.message.contains("User bob cannot perform operation MODIFY_APP"), "{}", e.message);
        let k: pb::KillApplicationResponseProto = t.call(&t.acp("alice", "forceKillApplication"), &kill).unwrap();
        assert!(k.is_kill_completed());
        let rep = t.report("alice", id).unwrap();
        assert_eq!(rep.yarn_application_state(), pb::YarnApplicationStateProto::Killed);
        assert_eq!(rep.final_application_status(), pb::FinalApplicationStatusProto::AppKilled);
        assert!(rep.diagnostics().contains("killed by user alice"), "{}", rep.diagnostics());
        let ghost =
            pb::KillApplicationRequestProto { application_id: Some(convert::app_id_to_pb(ApplicationId::new(1, 77))), diagnostics: None };
        let e = t.call::<_, pb::KillApplicationResponseProto>(&t.acp("alice", "forceKillApplication"), &ghost).unwrap_err();
        assert_eq!(
            (e.class.as_str(), e.message.as_str()),
            ("org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException", "Trying to kill an absent application application_1_0077")
        );
        // Killing it again completes at once.
        let k: pb::KillApplicationResponseProto = t.call(&t.acp("alice", "forceKillApplication"), &kill).unwrap();
        assert!(k.is_kill_completed());
    }

    #[tokio::test]
    async fn cluster_metrics_nodes_and_queues() {
        let t = setup(&[
            ("yarn.scheduler.capacity.root.queues", "a,b"),
            ("yarn.scheduler.capacity.root.a.capacity", "60"),
            ("yarn.scheduler.capacity.root.b.capacity", "40"),
            ("yarn.scheduler.capacity.root.b.queues", "b1"),
        ]);
        let m: pb::GetClusterMetricsResponseProto =
            t.call(&t.acp("alice", "getClusterMetrics"), &pb::GetClusterMetricsRequestProto {}).unwrap();
        let m = m.cluster_metrics.unwrap();
        assert_eq!((m.num_node_managers(), m.num_active_nms(), m.num_lost_nms()), (1, 1, 0));
        let nodes = |states: Vec<i32>| -> Vec<pb::NodeReportProto> {
            let r: pb::GetClusterNodesResponseProto =
                t.call(&t.acp("alice", "getClusterNodes"), &pb::GetClusterNodesRequestProto { node_states: states }).unwrap();
            r.node_reports
        };
        let all = nodes(vec![]);
        assert_eq!(all.len(), 1);
        let n = &all[0];
        assert_eq!(n.node_id.as_ref().unwrap().host(), "127.0.0.1");
        assert_eq!(n.node_id.as_ref().unwrap().port(), 1);
        assert_eq!(n.capability.as_ref().unwrap().virtual_cores(), 8);
        assert_eq!(n.node_state(), pb::NodeStateProto::NsRunning);
        assert_eq!(nodes(vec![pb::NodeStateProto::NsRunning as i32]).len(), 1);
        assert!(nodes(vec![pb::NodeStateProto::NsLost as i32]).is_empty());
        assert!(t
            .svc
            .call(&t.acp("alice", "getClusterNodes"), &pb::GetClusterNodesRequestProto { node_states: vec![42] }.encode_to_vec())
            .is_err());

        // YarnClient.getAllQueues: root, recursive, flattened by the client.
        let req = pb::GetQueueInfoRequestProto {
            queue_name: Some("root".into()),
            include_applications: Some(false),
            include_child_queues: Some(true),
            recursive: Some(true),
            sub_cluster_id: None,
        };
        let r: pb::GetQueueInfoResponseProto = t.call(&t.acp("alice", "getQueueInfo"), &req).unwrap();
        let root = r.queue_info.unwrap();
        assert_eq!(root.queue_name(), "root");
        let names: Vec<&str> = root.child_queues.iter().map(|q| q.queue_name()).collect();
        assert_eq!(names, vec!["a", "b"]);
        assert!((root.child_queues[0].capacity() - 0.6).abs() < 1e-6);
        assert_eq!(root.child_queues[1].child_queues[0].queue_name(), "b1");
        assert_eq!(root.child_queues[1].child_queues[0].queue_path(), "root.b.b1");
        // Not recursive: one level.
        let one = pb::GetQueueInfoRequestProto { recursive: Some(false), ..req.clone() };
        let r: pb::GetQueueInfoResponseProto = t.call(&t.acp("alice", "getQueueInfo"), &one).unwrap();
        assert!(r.queue_info.unwrap().child_queues[1].child_queues.is_empty());
        let missing = pb::GetQueueInfoRequestProto { queue_name: Some("zz".into()), ..req };
        let e = t.call::<_, pb::GetQueueInfoResponseProto>(&t.acp("alice", "getQueueInfo"), &missing).unwrap_err();
        assert_eq!(e.message, "java.io.IOException: Unknown queue: zz");

        let acls: pb::GetQueueUserAclsInfoResponseProto =
            t.call(&t.acp("alice", "getQueueUserAcls"), &pb::GetQueueUserAclsInfoRequestProto {}).unwrap();
        let root_acls = acls.queue_user_acls.iter().find(|q| q.queue_name() == "root").unwrap();
        assert!(root_acls.user_acls.contains(&(pb::QueueAclProto::QaclSubmitApplications as i32)));
    }

    #[tokio::test]
    async fn protocols_methods_and_auth_are_refused_as_hadoop_does() {
        let t = setup(&[]);
        assert_eq!(t.svc.auth_methods(), vec![AuthMethod::Token, AuthMethod::Simple]);
        assert!(t.svc.accepts(APPLICATION_CLIENT_PROTOCOL, AuthMethod::Simple).is_ok());
        assert!(t.svc.accepts(APPLICATION_MASTER_PROTOCOL, AuthMethod::Token).is_ok());
        let e = t.svc.accepts(APPLICATION_MASTER_PROTOCOL, AuthMethod::Simple).unwrap_err();
        assert_eq!((e.class.as_str(), e.message.as_str()), (ACCESS_CONTROL, "SIMPLE authentication is not enabled.  Available:[TOKEN]"));
        let e = t.svc.accepts("org.apache.hadoop.yarn.api.ContainerManagementProtocolPB", AuthMethod::Simple).unwrap_err();
        assert_eq!(e.class, "org.apache.hadoop.ipc.RpcNoSuchProtocolException");
        let e = t.svc.call(&t.acp("alice", "frobnicate"), &[]).unwrap_err();
        assert_eq!(e.message, format!("Unknown method frobnicate called on {APPLICATION_CLIENT_PROTOCOL} protocol."));
        // An AMP call on a SIMPLE connection (had the context slipped through) is refused too.
        let mut cx = t.acp("alice", "allocate");
        cx.protocol = APPLICATION_MASTER_PROTOCOL.into();
        assert_eq!(t.svc.call(&cx, &[]).unwrap_err().class, ACCESS_CONTROL);
        // Tokens: garbage and an attempt the RM does not have are InvalidToken texts.
        assert!(t.svc.token_password(&[0xff, 0xff]).is_err());
        let ghost = ApplicationAttemptId::new(ApplicationId::new(1, 1), 1);
        let id = t.host.read(|rm| rm.amrm_token(ghost, "")).identifier;
        assert_eq!(t.svc.token_password(&id).unwrap_err(), format!("{ghost} not found in AMRMTokenSecretManager."));
    }

    #[tokio::test]
    async fn an_unmanaged_am_owner_gets_the_amrm_token_in_the_report() {
        let t = setup(&[("yarn.acl.enable", "true"), ("yarn.admin.acl", " "), ("yarn.scheduler.capacity.root.acl_administer_queue", " ")]);
        let r: pb::GetNewApplicationResponseProto =
            t.call(&t.acp("alice", "getNewApplication"), &pb::GetNewApplicationRequestProto {}).unwrap();
        let id = convert::app_id_from_pb(r.application_id.as_ref().unwrap()).unwrap();
        let mut ctx = crate::records::ApplicationSubmissionContext::new(id);
        ctx.unmanaged_am = true;
        let req = pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(&ctx)) };
        let _: pb::SubmitApplicationResponseProto = t.call(&t.acp("alice", "submitApplication"), &req).unwrap();
        let tok = t.report("alice", id).unwrap().am_rm_token.expect("the owner gets the token");
        assert_eq!((tok.kind.as_str(), tok.service.as_str()), ("YARN_AM_RM_TOKEN", "127.0.0.1:2"));
        assert_eq!(t.svc.token_password(&tok.identifier).unwrap(), tok.password);
        assert_eq!(t.svc.token_user(&tok.identifier), Some(format!("{}", ApplicationAttemptId::new(id, 1))));
        assert!(t.report("bob", id).unwrap().am_rm_token.is_none(), "others do not");
    }

    #[tokio::test]
    async fn an_am_registers_allocates_with_tokens_and_finishes() {
        let t = setup(&[]);
        let app = t.submit("alice", "default");
        t.heartbeat(1); // places the AM container
        let attempt = ApplicationAttemptId::new(app, 1);
        // The token the AM launcher minted is what SASL checks.
        let tok = t.host.read(|rm| rm.amrm_token(attempt, ""));
        assert_eq!(t.svc.token_password(&tok.identifier).unwrap(), tok.password);
        // A token under another key is refused.
        let mut forged = pb::AmrmTokenIdentifierProto::decode(tok.identifier.as_slice()).unwrap();
        forged.key_id = Some(forged.key_id() ^ 1);
        assert_eq!(t.svc.token_password(&forged.encode_to_vec()).unwrap_err(), format!("Invalid AMRMToken from {attempt}"));

        // Allocate before register: AMRMClient resyncs on this exception.
        let e = t.call::<_, pb::AllocateResponseProto>(&t.amp(attempt, "allocate"), &pb::AllocateRequestProto::default()).unwrap_err();
        assert_eq!(e.class, "org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException");

        let reg = pb::RegisterApplicationMasterRequestProto {
            host: Some("am.host".into()),
            rpc_port: Some(8081),
            tracking_url: Some("http://am.host:8081".into()),
        };
        let r: pb::RegisterApplicationMasterResponseProto = t.call(&t.amp(attempt, "registerApplicationMaster"), &reg).unwrap();
        assert_eq!(r.queue(), "default");
        assert!(r.maximum_capability.is_some());
        let rep = t.report("alice", app).unwrap();
        assert_eq!(rep.yarn_application_state(), pb::YarnApplicationStateProto::Running);
        assert_eq!((rep.host(), rep.rpc_port(), rep.original_tracking_url()), ("am.host", 8081, "http://am.host:8081"));
        // Registering twice is InvalidApplicationMasterRequestException.
        let e = t.call::<_, pb::RegisterApplicationMasterResponseProto>(&t.amp(attempt, "registerApplicationMaster"), &reg).unwrap_err();
        assert_eq!(e.class, "org.apache.hadoop.yarn.exceptions.InvalidApplicationMasterRequestException");

        // Ask for two containers as AMRMClient does (memory in both places, blacklist set).
        let ask = pb::ResourceRequestProto {
            priority: Some(pb::PriorityProto { priority: Some(1) }),
            resource_name: Some("*".into()),
            capability: Some(convert::resource_to_pb(Resource::new(1024, 1))),
            num_containers: Some(2),
            ..Default::default()
        };
        let req = pb::AllocateRequestProto {
            ask: vec![ask],
            blacklist_request: Some(Default::default()),
            response_id: Some(0),
            progress: Some(0.1),
            ..Default::default()
        };
        let r: pb::AllocateResponseProto = t.call(&t.amp(attempt, "allocate"), &req).unwrap();
        assert_eq!(r.response_id(), 1);
        assert!(r.allocated_containers.is_empty());
        t.heartbeat(2);
        let next = pb::AllocateRequestProto { response_id: Some(1), ..Default::default() };
        let r: pb::AllocateResponseProto = t.call(&t.amp(attempt, "allocate"), &next).unwrap();
        assert_eq!(r.allocated_containers.len(), 2);
        assert_eq!(r.nm_tokens.len(), 1, "one NM token for the one node");
        let nm = &r.nm_tokens[0];
        assert_eq!(nm.node_id, r.allocated_containers[0].node_id);
        let nmt = nm.token.as_ref().unwrap();
        assert_eq!((nmt.kind.as_str(), nmt.service.as_str()), ("NMToken", NM));
        let nm_id = pb::NmTokenIdentifierProto::decode(nmt.identifier.as_slice()).unwrap();
        assert_eq!(nm_id.app_submitter(), "alice");
        let keys = t.host.read(|rm| rm.secret_keys().clone());
        assert_eq!(nm_id.key_id(), keys.nm_token_master_key.key_id);
        assert_eq!(nmt.password, hadoop_rpc::token::password(&keys.nm_token_master_key.bytes, &nmt.identifier));
        let c = &r.allocated_containers[0];
        let ct = c.container_token.as_ref().unwrap();
        assert_eq!((ct.kind.as_str(), ct.service.as_str()), ("ContainerToken", NM));
        let cid = pb::ContainerTokenIdentifierProto::decode(ct.identifier.as_slice()).unwrap();
        assert_eq!(cid.container_id, c.id);
        assert_eq!((cid.nm_host_addr(), cid.app_submitter()), (NM, "alice"));
        assert_eq!(cid.container_type(), pb::ContainerTypeProto::Task);
        assert_eq!(cid.master_key_id(), keys.container_token_master_key.key_id);
        assert!(cid.expiry_time_stamp() > cid.creation_time());
        assert_eq!(ct.password, hadoop_rpc::token::password(&keys.container_token_master_key.bytes, &ct.identifier));
        // The same call again (a retry) gets the same answer with the same NM tokens; the
        // next call gets no NM token for a node it has one for.
        let again: pb::AllocateResponseProto = t.call(&t.amp(attempt, "allocate"), &next).unwrap();
        assert_eq!(again, r);
        let more = pb::AllocateRequestProto { response_id: Some(2), ..Default::default() };
        let r3: pb::AllocateResponseProto = t.call(&t.amp(attempt, "allocate"), &more).unwrap();
        assert!(r3.nm_tokens.is_empty());
        // A stale response id is refused.
        let e = t.call::<_, pb::AllocateResponseProto>(&t.amp(attempt, "allocate"), &next).unwrap_err();
        assert_eq!(e.class, "org.apache.hadoop.yarn.exceptions.InvalidApplicationMasterRequestException");
        // Releasing a container completes it, reported on the next call.
        let rel = pb::AllocateRequestProto { release: vec![c.id.clone().unwrap()], response_id: Some(3), ..Default::default() };
        let r5: pb::AllocateResponseProto = t.call(&t.amp(attempt, "allocate"), &rel).unwrap();
        assert_eq!(r5.completed_container_statuses.len(), 1);
        assert_eq!(r5.completed_container_statuses[0].container_id, c.id);
        assert_eq!(r5.completed_container_statuses[0].state(), pb::ContainerStateProto::CComplete);

        let fin = pb::FinishApplicationMasterRequestProto {
            diagnostics: Some("done".into()),
            tracking_url: None,
            final_application_status: Some(pb::FinalApplicationStatusProto::AppSucceeded as i32),
        };
        let f: pb::FinishApplicationMasterResponseProto = t.call(&t.amp(attempt, "finishApplicationMaster"), &fin).unwrap();
        assert!(f.is_unregistered());
        let rep = t.report("alice", app).unwrap();
        assert_eq!(rep.final_application_status(), pb::FinalApplicationStatusProto::AppSucceeded);
    }

    /// No request body, for any method of either protocol, panics the service or leaves the RM
    /// unable to serve: each is answered or refused, and a normal call works afterwards.
    #[test]
    fn arbitrary_request_bodies_never_panic() {
        use proptest::prelude::*;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let _guard = rt.enter();
        let t = setup(&[]);
        let app = t.submit("alice", "default");
        t.heartbeat(1);
        let attempt = ApplicationAttemptId::new(app, 1);
        const METHODS: [&str; 13] = [
            "getNewApplication",
            "submitApplication",
            "getApplicationReport",
            "getApplications",
            "forceKillApplication",
            "getClusterMetrics",
            "getClusterNodes",
            "getQueueInfo",
            "getQueueUserAcls",
            "registerApplicationMaster",
            "allocate",
            "finishApplicationMaster",
            "nope",
        ];
        let cases = std::env::var("FUZZ_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
        // Valid bodies to mutate, so decoding succeeds and the conversions and the node see
        // odd values, besides plain random bytes.
        let mut ctx = crate::records::ApplicationSubmissionContext::new(ApplicationId::new(1, 1));
        ctx.am_container_spec.commands = vec!["x".into()];
        let templates: Vec<Vec<u8>> = vec![
            pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(&ctx)) }
                .encode_to_vec(),
            pb::AllocateRequestProto {
                ask: vec![convert::resource_request_to_pb(&crate::records::ResourceRequest::any(1, Resource::new(1024, 1), 2))],
                release: vec![convert::container_id_to_pb(crate::ids::ContainerId::new(attempt, 1))],
                response_id: Some(0),
                ..Default::default()
            }
            .encode_to_vec(),
            pb::KillApplicationRequestProto { application_id: Some(convert::app_id_to_pb(app)), diagnostics: Some("d".into()) }
                .encode_to_vec(),
            pb::GetQueueInfoRequestProto {
                queue_name: Some("root".into()),
                recursive: Some(true),
                include_child_queues: Some(true),
                ..Default::default()
            }
            .encode_to_vec(),
        ];
        let body = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..200),
            (0..templates.len(), proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)).prop_map(
                move |(i, muts)| {
                    let mut b = templates[i].clone();
                    for (at, v) in muts {
                        let k = at.index(b.len());
                        b[k] = v;
                    }
                    b
                }
            ),
        ];
        proptest!(ProptestConfig::with_cases(cases), |(m in 0..METHODS.len(), body in body)| {
            let method = METHODS[m];
            let cx = if (9..12).contains(&m) { t.amp(attempt, method) } else { t.acp("mallory", method) };
            let _ = t.svc.call(&cx, &body);
        });
        // Still serving.
        let r: pb::GetClusterMetricsResponseProto =
            t.call(&t.acp("alice", "getClusterMetrics"), &pb::GetClusterMetricsRequestProto {}).unwrap();
        assert_eq!(r.cluster_metrics.unwrap().num_node_managers(), 1);
    }
}
