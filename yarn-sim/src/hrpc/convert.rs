//! Conversions between YARN's protobuf messages ([`super::pb`]) and this crate's records.
//!
//! Into records (`*_from_pb`): what a Java client sent, checked. A missing required field or a
//! value out of range is an [`RpcError`] with YARN's exception class and message (the Java
//! client rethrows it as that class); nothing panics on any input. Out of records (`*_to_pb`):
//! total, writing what the Java PB implementations write (both `memory` and the
//! `resource_value_map` of a resource, for example).

use std::collections::BTreeMap;

use hadoop_rpc::service::RpcError;

use super::pb;
use crate::ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
use crate::proto::RemoteError;
use crate::records::{
    ApplicationSubmissionContext, Container, ContainerLaunchContext, ContainerState, ContainerStatus, FinalApplicationStatus,
    LocalResource, LocalResourceType, LocalResourceVisibility, NodeState, Resource, ResourceRequest, YarnApplicationState,
};
use crate::rm::acls::ApplicationAccessType;

pub const YARN_EXCEPTION: &str = "org.apache.hadoop.yarn.exceptions.YarnException";
pub const INVALID_RESOURCE_REQUEST: &str = "org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException";
pub const RESOURCE_NOT_FOUND: &str = "org.apache.hadoop.yarn.exceptions.ResourceNotFoundException";

/// A YarnException (what YARN's services throw for a request they cannot take).
pub fn yarn_error(msg: impl Into<String>) -> RpcError {
    RpcError::application(YARN_EXCEPTION, msg)
}

/// The RM's own refusal, as the Java client rethrows it.
pub fn remote_error(e: RemoteError) -> RpcError {
    RpcError::application(&e.java_class_name, e.message)
}

fn missing(what: &str) -> RpcError {
    yarn_error(format!("{what} is not set"))
}

// ---- ids

pub fn app_id_to_pb(id: ApplicationId) -> pb::ApplicationIdProto {
    pb::ApplicationIdProto { id: Some(id.id as i32), cluster_timestamp: Some(id.cluster_timestamp as i64) }
}

pub fn app_id_from_pb(p: &pb::ApplicationIdProto) -> Result<ApplicationId, RpcError> {
    let (Some(id), Some(ts)) = (p.id, p.cluster_timestamp) else {
        return Err(yarn_error("ApplicationId needs both id and cluster_timestamp"));
    };
    if id < 0 || ts < 0 {
        return Err(yarn_error(format!("Invalid ApplicationId: id {id}, cluster timestamp {ts}")));
    }
    Ok(ApplicationId::new(ts as u64, id as u32))
}

pub fn attempt_id_to_pb(id: ApplicationAttemptId) -> pb::ApplicationAttemptIdProto {
    pb::ApplicationAttemptIdProto { application_id: Some(app_id_to_pb(id.app)), attempt_id: Some(id.attempt as i32) }
}

pub fn attempt_id_from_pb(p: &pb::ApplicationAttemptIdProto) -> Result<ApplicationAttemptId, RpcError> {
    let app = app_id_from_pb(p.application_id.as_ref().ok_or_else(|| missing("ApplicationAttemptId.application_id"))?)?;
    let attempt = p.attempt_id.ok_or_else(|| missing("ApplicationAttemptId.attemptId"))?;
    if attempt < 0 {
        return Err(yarn_error(format!("Invalid ApplicationAttemptId: attempt {attempt}")));
    }
    Ok(ApplicationAttemptId::new(app, attempt as u32))
}

/// Java's ContainerIdPBImpl writes `app_id` too only in old versions; `id` carries the
/// epoch above bit 40, as [`ContainerId::seq`] does.
pub fn container_id_to_pb(id: ContainerId) -> pb::ContainerIdProto {
    pb::ContainerIdProto {
        app_id: Some(app_id_to_pb(id.app())),
        app_attempt_id: Some(attempt_id_to_pb(id.attempt)),
        id: Some(id.seq as i64),
    }
}

/// A container id as Java sends it: `app_attempt_id` and `id` (the app is the attempt's).
pub fn container_id_from_pb(p: &pb::ContainerIdProto) -> Result<ContainerId, RpcError> {
    let attempt = attempt_id_from_pb(p.app_attempt_id.as_ref().ok_or_else(|| missing("ContainerId.app_attempt_id"))?)?;
    if let Some(app) = &p.app_id {
        if app_id_from_pb(app)? != attempt.app {
            return Err(yarn_error(format!("ContainerId: app_id does not match the application of {attempt}")));
        }
    }
    let id = p.id.ok_or_else(|| missing("ContainerId.id"))?;
    if id < 0 {
        return Err(yarn_error(format!("Invalid ContainerId: id {id}")));
    }
    Ok(ContainerId::new(attempt, id as u64))
}

pub fn node_id_to_pb(n: &NodeId) -> pb::NodeIdProto {
    pb::NodeIdProto { host: Some(n.host.to_string()), port: Some(n.port as i32) }
}

pub fn node_id_from_pb(p: &pb::NodeIdProto) -> Result<NodeId, RpcError> {
    let host = p.host.as_deref().filter(|h| !h.is_empty()).ok_or_else(|| missing("NodeId.host"))?;
    let port = p.port.ok_or_else(|| missing("NodeId.port"))?;
    let port = u16::try_from(port).map_err(|_| yarn_error(format!("Invalid NodeId port {port}")))?;
    Ok(NodeId::new(host, port))
}

// ---- resources

/// `ResourcePBImpl`: `memory` and `virtual_cores`, and the same as `memory-mb` (units `Mi`) and
/// `vcores` in `resource_value_map`.
pub fn resource_to_pb(r: Resource) -> pb::ResourceProto {
    pb::ResourceProto {
        memory: Some(r.memory_mb as i64),
        virtual_cores: Some(r.vcores as i32),
        resource_value_map: vec![
            pb::ResourceInformationProto {
                key: "memory-mb".into(),
                value: Some(r.memory_mb as i64),
                units: Some("Mi".into()),
                r#type: Some(pb::ResourceTypesProto::Countable as i32),
                ..Default::default()
            },
            pb::ResourceInformationProto {
                key: "vcores".into(),
                value: Some(r.vcores as i64),
                units: Some(String::new()),
                r#type: Some(pb::ResourceTypesProto::Countable as i32),
                ..Default::default()
            },
        ],
    }
}

/// Memory in MB from a value in `units` (ResourceInformation's unit conversion for the
/// binary prefixes a client might use).
fn to_mb(value: i64, units: &str) -> Option<i64> {
    match units {
        "" | "Mi" | "M" => Some(value),
        "Gi" | "G" => value.checked_mul(1024),
        "Ti" | "T" => value.checked_mul(1024 * 1024),
        "Ki" | "k" | "K" => Some(value / 1024),
        _ => None,
    }
}

/// A resource as Java sends it: the map's `memory-mb` / `vcores` override `memory` /
/// `virtual_cores` (ResourcePBImpl.initResources); other resource types are unknown here.
pub fn resource_from_pb(p: &pb::ResourceProto) -> Result<Resource, RpcError> {
    let mut memory = p.memory.unwrap_or(0);
    let mut vcores = p.virtual_cores.unwrap_or(0) as i64;
    for ri in &p.resource_value_map {
        let v = ri.value.unwrap_or(0);
        match ri.key.as_str() {
            "memory-mb" | "memory" => {
                let units = ri.units.as_deref().unwrap_or("Mi");
                memory = to_mb(v, units).ok_or_else(|| {
                    RpcError::application(INVALID_RESOURCE_REQUEST, format!("Unknown unit '{units}' of resource memory-mb"))
                })?;
            }
            "vcores" => vcores = v,
            // A resource type this cluster does not have: zero asks nothing of it.
            _ if v == 0 => {}
            other => return Err(RpcError::application(RESOURCE_NOT_FOUND, format!("Unknown resource: {other}"))),
        }
    }
    if memory < 0 || vcores < 0 || vcores > u32::MAX as i64 {
        let kind = if memory < 0 { "memory-mb" } else { "vcores" };
        return Err(RpcError::application(
            INVALID_RESOURCE_REQUEST,
            format!(
                "Invalid resource request, requested resource type=[{kind}] < 0 or greater than maximum allowed allocation. Requested resource=<memory:{memory}, vCores:{vcores}>"
            ),
        ));
    }
    Ok(Resource::new(memory as u64, vcores as u32))
}

// ---- launch contexts

/// `URL.fromURI`'s parts back to text: `scheme://[user@]host[:port]file`, `scheme:file` without
/// a host (`file:/opt/x.jar`, as Java prints it), or the bare file without a scheme.
pub fn url_to_string(u: &pb::UrlProto) -> String {
    let file = u.file.as_deref().unwrap_or("");
    let Some(scheme) = u.scheme.as_deref().filter(|s| !s.is_empty()) else { return file.to_string() };
    match u.host.as_deref().filter(|h| !h.is_empty()) {
        Some(host) => {
            let user = u.user_info.as_deref().filter(|x| !x.is_empty()).map(|x| format!("{x}@")).unwrap_or_default();
            let port = u.port.filter(|p| *p >= 0).map(|p| format!(":{p}")).unwrap_or_default();
            format!("{scheme}://{user}{host}{port}{file}")
        }
        None => format!("{scheme}:{file}"),
    }
}

/// Text to `URLProto` as `URL.fromURI` builds it: `file:///x` and `file:/x` both give scheme
/// `file`, no host, port −1, file `/x`; a bare path is a URL with only a file.
pub fn url_from_string(s: &str) -> pb::UrlProto {
    let Some((scheme, rest)) =
        s.split_once(':').filter(|(sc, _)| !sc.is_empty() && sc.chars().all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)))
    else {
        return pb::UrlProto { file: Some(s.to_string()), ..Default::default() };
    };
    let mut url = pb::UrlProto { scheme: Some(scheme.to_string()), port: Some(-1), ..Default::default() };
    match rest.strip_prefix("//") {
        Some(auth_and_path) => {
            let (auth, path) = match auth_and_path.find('/') {
                Some(i) => auth_and_path.split_at(i),
                None => (auth_and_path, ""),
            };
            let (user, hostport) = match auth.rsplit_once('@') {
                Some((u, h)) => (Some(u), h),
                None => (None, auth),
            };
            let (host, port) = match hostport.rsplit_once(':') {
                Some((h, p)) if p.parse::<u16>().is_ok() => (h, p.parse::<i32>().ok()),
                _ => (hostport, None),
            };
            if !host.is_empty() {
                url.host = Some(host.to_string());
            }
            url.user_info = user.map(str::to_string);
            if let Some(p) = port {
                url.port = Some(p);
            }
            url.file = Some(path.to_string());
        }
        None => url.file = Some(rest.to_string()),
    }
    url
}

pub fn local_resource_to_pb(r: &LocalResource) -> pb::LocalResourceProto {
    pb::LocalResourceProto {
        resource: Some(url_from_string(&r.resource)),
        size: Some(r.size),
        timestamp: Some(r.timestamp),
        r#type: Some(match r.kind {
            LocalResourceType::Archive => pb::LocalResourceTypeProto::Archive,
            LocalResourceType::File => pb::LocalResourceTypeProto::File,
            LocalResourceType::Pattern => pb::LocalResourceTypeProto::Pattern,
        } as i32),
        visibility: Some(match r.visibility {
            LocalResourceVisibility::Public => pb::LocalResourceVisibilityProto::Public,
            LocalResourceVisibility::Private => pb::LocalResourceVisibilityProto::Private,
            LocalResourceVisibility::Application => pb::LocalResourceVisibilityProto::Application,
        } as i32),
        ..Default::default()
    }
}

pub fn local_resource_from_pb(key: &str, p: &pb::LocalResourceProto) -> Result<LocalResource, RpcError> {
    let url = p.resource.as_ref().ok_or_else(|| yarn_error(format!("Local resource {key} has no resource URL")))?;
    let resource = url_to_string(url);
    if resource.is_empty() {
        return Err(yarn_error(format!("Local resource {key} has an empty URL")));
    }
    let kind = match p.r#type.map(pb::LocalResourceTypeProto::try_from) {
        None => LocalResourceType::File,
        Some(Ok(pb::LocalResourceTypeProto::Archive)) => LocalResourceType::Archive,
        Some(Ok(pb::LocalResourceTypeProto::File)) => LocalResourceType::File,
        Some(Ok(pb::LocalResourceTypeProto::Pattern)) => LocalResourceType::Pattern,
        Some(Err(_)) => return Err(yarn_error(format!("Local resource {key}: unknown type {}", p.r#type.unwrap_or_default()))),
    };
    let visibility = match p.visibility.map(pb::LocalResourceVisibilityProto::try_from) {
        None => LocalResourceVisibility::Application,
        Some(Ok(pb::LocalResourceVisibilityProto::Public)) => LocalResourceVisibility::Public,
        Some(Ok(pb::LocalResourceVisibilityProto::Private)) => LocalResourceVisibility::Private,
        Some(Ok(pb::LocalResourceVisibilityProto::Application)) => LocalResourceVisibility::Application,
        Some(Err(_)) => return Err(yarn_error(format!("Local resource {key}: unknown visibility {}", p.visibility.unwrap_or_default()))),
    };
    Ok(LocalResource { resource, kind, visibility, size: p.size.unwrap_or(-1), timestamp: p.timestamp.unwrap_or(-1) })
}

fn access_type_to_pb(a: ApplicationAccessType) -> pb::ApplicationAccessTypeProto {
    match a {
        ApplicationAccessType::ViewApp => pb::ApplicationAccessTypeProto::AppaccessViewApp,
        ApplicationAccessType::ModifyApp => pb::ApplicationAccessTypeProto::AppaccessModifyApp,
    }
}

/// A launch context to the proto (maps in key order). `acls` are the application ACLs of an
/// AM container spec (empty for others).
pub fn launch_context_to_pb(c: &ContainerLaunchContext, acls: &crate::rm::acls::ApplicationAcls) -> pb::ContainerLaunchContextProto {
    pb::ContainerLaunchContextProto {
        local_resources: c
            .local_resources
            .iter()
            .map(|(k, v)| pb::StringLocalResourceMapProto { key: Some(k.clone()), value: Some(local_resource_to_pb(v)) })
            .collect(),
        tokens: c.tokens.clone(),
        environment: c.environment.iter().map(|(k, v)| pb::StringStringMapProto { key: Some(k.clone()), value: Some(v.clone()) }).collect(),
        command: c.commands.clone(),
        application_acls: acls
            .iter()
            .map(|(a, acl)| pb::ApplicationAclMapProto { access_type: Some(access_type_to_pb(*a) as i32), acl: Some(acl.clone()) })
            .collect(),
        ..Default::default()
    }
}

/// A launch context from the proto, with its application ACLs. `tokens` must be a readable
/// Credentials blob (HDTS, either format): the NM writes it as the container's token file.
/// `service_data` and `tokens_conf` have no counterpart here and are dropped.
pub fn launch_context_from_pb(
    p: &pb::ContainerLaunchContextProto,
) -> Result<(ContainerLaunchContext, crate::rm::acls::ApplicationAcls), RpcError> {
    let mut c = ContainerLaunchContext::default();
    for e in &p.local_resources {
        let key = e.key.as_deref().filter(|k| !k.is_empty()).ok_or_else(|| yarn_error("A local resource has no key"))?;
        let v = e.value.as_ref().ok_or_else(|| yarn_error(format!("Local resource {key} has no value")))?;
        c.local_resources.insert(key.to_string(), local_resource_from_pb(key, v)?);
    }
    for e in &p.environment {
        let key = e.key.as_deref().filter(|k| !k.is_empty()).ok_or_else(|| yarn_error("An environment entry has no key"))?;
        c.environment.insert(key.to_string(), e.value.clone().unwrap_or_default());
    }
    c.commands = p.command.clone();
    if let Some(t) = &p.tokens {
        hadoop_rpc::token::Credentials::from_bytes(t)
            .map_err(|e| yarn_error(format!("The container launch context's tokens are not a Credentials blob: {e}")))?;
        c.tokens = Some(t.clone());
    }
    let mut acls = BTreeMap::new();
    for e in &p.application_acls {
        let access = match e.access_type.map(pb::ApplicationAccessTypeProto::try_from) {
            Some(Ok(pb::ApplicationAccessTypeProto::AppaccessViewApp)) => ApplicationAccessType::ViewApp,
            Some(Ok(pb::ApplicationAccessTypeProto::AppaccessModifyApp)) => ApplicationAccessType::ModifyApp,
            _ => return Err(yarn_error(format!("Unknown application access type {:?}", e.access_type))),
        };
        acls.insert(access, e.acl().to_string());
    }
    Ok((c, acls))
}

// ---- submission

pub fn submission_context_to_pb(s: &ApplicationSubmissionContext) -> pb::ApplicationSubmissionContextProto {
    pb::ApplicationSubmissionContextProto {
        application_id: Some(app_id_to_pb(s.application_id)),
        application_name: Some(s.application_name.clone()),
        queue: Some(s.queue.clone()),
        priority: Some(pb::PriorityProto { priority: Some(s.priority) }),
        am_container_spec: Some(launch_context_to_pb(&s.am_container_spec, &s.application_acls)),
        unmanaged_am: Some(s.unmanaged_am),
        max_app_attempts: Some(s.max_app_attempts),
        resource: Some(resource_to_pb(s.resource)),
        application_type: Some(s.application_type.clone()),
        keep_containers_across_application_attempts: Some(s.keep_containers_across_application_attempts),
        application_tags: s.application_tags.clone(),
        attempt_failures_validity_interval: Some(s.attempt_failures_validity_interval),
        application_timeouts: s
            .lifetime_secs
            .map(|t| pb::ApplicationTimeoutMapProto {
                application_timeout_type: Some(pb::ApplicationTimeoutTypeProto::AppTimeoutLifetime as i32),
                timeout: Some(t),
            })
            .into_iter()
            .collect(),
        ..Default::default()
    }
}

/// `SubmitApplicationRequest`'s context. The AM's resource is `resource`, else the first
/// `am_container_resource_request`'s capability (RMAppManager), else YARN's default.
pub fn submission_context_from_pb(p: &pb::ApplicationSubmissionContextProto) -> Result<ApplicationSubmissionContext, RpcError> {
    let id =
        app_id_from_pb(p.application_id.as_ref().ok_or_else(|| yarn_error("Trying to submit an application without an application id"))?)?;
    let mut s = ApplicationSubmissionContext::new(id);
    s.application_name = p.application_name().to_string();
    s.queue = p.queue().to_string();
    s.priority = p.priority.as_ref().and_then(|x| x.priority).unwrap_or(0);
    if let Some(spec) = &p.am_container_spec {
        let (clc, acls) = launch_context_from_pb(spec)?;
        s.am_container_spec = clc;
        s.application_acls = acls;
    }
    s.unmanaged_am = p.unmanaged_am();
    s.max_app_attempts = p.max_app_attempts();
    let am_ask = p.am_container_resource_request.first().and_then(|r| r.capability.as_ref());
    if let Some(r) = p.resource.as_ref().or(am_ask) {
        s.resource = resource_from_pb(r)?;
    }
    s.application_type = p.application_type().to_string();
    s.keep_containers_across_application_attempts = p.keep_containers_across_application_attempts();
    s.application_tags = p.application_tags.clone();
    s.attempt_failures_validity_interval = p.attempt_failures_validity_interval();
    for t in &p.application_timeouts {
        match t.application_timeout_type.map(pb::ApplicationTimeoutTypeProto::try_from) {
            Some(Ok(pb::ApplicationTimeoutTypeProto::AppTimeoutLifetime)) => {}
            other => return Err(yarn_error(format!("Unknown application timeout type {other:?}"))),
        }
        let secs = t.timeout.unwrap_or(0);
        if secs <= 0 {
            return Err(yarn_error(format!("Invalid application timeout, value={secs} for type=LIFETIME")));
        }
        s.lifetime_secs = Some(secs);
    }
    Ok(s)
}

// ---- containers, statuses, asks

pub fn container_state_to_pb(s: ContainerState) -> pb::ContainerStateProto {
    match s {
        ContainerState::New => pb::ContainerStateProto::CNew,
        ContainerState::Running => pb::ContainerStateProto::CRunning,
        ContainerState::Complete => pb::ContainerStateProto::CComplete,
    }
}

pub fn container_state_from_pb(v: Option<i32>) -> Result<ContainerState, RpcError> {
    match v.map(pb::ContainerStateProto::try_from) {
        Some(Ok(pb::ContainerStateProto::CNew)) => Ok(ContainerState::New),
        Some(Ok(pb::ContainerStateProto::CRunning)) => Ok(ContainerState::Running),
        Some(Ok(pb::ContainerStateProto::CComplete)) => Ok(ContainerState::Complete),
        _ => Err(yarn_error(format!("Unknown container state {v:?}"))),
    }
}

/// A container without its token (the adapter adds one, see `rm::secrets`).
pub fn container_to_pb(c: &Container) -> pb::ContainerProto {
    pb::ContainerProto {
        id: Some(container_id_to_pb(c.id)),
        node_id: Some(node_id_to_pb(&c.node_id)),
        node_http_address: Some(c.node_http_address.clone()),
        resource: Some(resource_to_pb(c.resource)),
        priority: Some(pb::PriorityProto { priority: Some(c.priority) }),
        execution_type: Some(pb::ExecutionTypeProto::Guaranteed as i32),
        allocation_request_id: Some(c.allocation_request_id),
        version: Some(0),
        ..Default::default()
    }
}

pub fn container_from_pb(p: &pb::ContainerProto) -> Result<Container, RpcError> {
    Ok(Container {
        id: container_id_from_pb(p.id.as_ref().ok_or_else(|| missing("Container.id"))?)?,
        node_id: node_id_from_pb(p.node_id.as_ref().ok_or_else(|| missing("Container.nodeId"))?)?,
        node_http_address: p.node_http_address.clone().unwrap_or_default(),
        resource: resource_from_pb(p.resource.as_ref().ok_or_else(|| missing("Container.resource"))?)?,
        priority: p.priority.as_ref().and_then(|x| x.priority).unwrap_or(0),
        allocation_request_id: p.allocation_request_id(),
    })
}

pub fn container_status_to_pb(s: &ContainerStatus) -> pb::ContainerStatusProto {
    pb::ContainerStatusProto {
        container_id: Some(container_id_to_pb(s.container_id)),
        state: Some(container_state_to_pb(s.state) as i32),
        diagnostics: Some(s.diagnostics.clone()),
        exit_status: Some(s.exit_status),
        execution_type: Some(pb::ExecutionTypeProto::Guaranteed as i32),
        container_sub_state: Some(match s.state {
            ContainerState::New => pb::ContainerSubStateProto::CssScheduled,
            ContainerState::Running => pb::ContainerSubStateProto::CssRunning,
            ContainerState::Complete => pb::ContainerSubStateProto::CssDone,
        } as i32),
        ..Default::default()
    }
}

pub fn container_status_from_pb(p: &pb::ContainerStatusProto) -> Result<ContainerStatus, RpcError> {
    Ok(ContainerStatus {
        container_id: container_id_from_pb(p.container_id.as_ref().ok_or_else(|| missing("ContainerStatus.container_id"))?)?,
        state: container_state_from_pb(p.state)?,
        exit_status: p.exit_status(),
        diagnostics: p.diagnostics.clone().unwrap_or_default(),
    })
}

pub fn resource_request_to_pb(r: &ResourceRequest) -> pb::ResourceRequestProto {
    pb::ResourceRequestProto {
        priority: Some(pb::PriorityProto { priority: Some(r.priority) }),
        resource_name: Some(r.resource_name.clone()),
        capability: Some(resource_to_pb(r.capability)),
        num_containers: Some(r.num_containers.min(i32::MAX as u32) as i32),
        relax_locality: Some(r.relax_locality),
        allocation_request_id: Some(r.allocation_request_id),
        ..Default::default()
    }
}

/// An ask as AMRMClient sends it; a negative count or a missing capability is YARN's
/// InvalidResourceRequestException.
pub fn resource_request_from_pb(p: &pb::ResourceRequestProto) -> Result<ResourceRequest, RpcError> {
    let capability = resource_from_pb(
        p.capability
            .as_ref()
            .ok_or_else(|| RpcError::application(INVALID_RESOURCE_REQUEST, "Invalid resource request, capability is not set"))?,
    )?;
    let num = p.num_containers.unwrap_or(0);
    if num < 0 {
        return Err(RpcError::application(
            INVALID_RESOURCE_REQUEST,
            format!("Invalid resource request, num containers {num} < 0 (resource {})", p.resource_name.as_deref().unwrap_or("*")),
        ));
    }
    Ok(ResourceRequest {
        priority: p.priority.as_ref().and_then(|x| x.priority).unwrap_or(0),
        resource_name: p.resource_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| ResourceRequest::ANY.to_string()),
        capability,
        num_containers: num as u32,
        relax_locality: p.relax_locality(),
        allocation_request_id: p.allocation_request_id(),
    })
}

// ---- states

pub fn app_state_to_pb(s: YarnApplicationState) -> pb::YarnApplicationStateProto {
    match s {
        YarnApplicationState::New => pb::YarnApplicationStateProto::New,
        YarnApplicationState::NewSaving => pb::YarnApplicationStateProto::NewSaving,
        YarnApplicationState::Submitted => pb::YarnApplicationStateProto::Submitted,
        YarnApplicationState::Accepted => pb::YarnApplicationStateProto::Accepted,
        YarnApplicationState::Running => pb::YarnApplicationStateProto::Running,
        YarnApplicationState::Finished => pb::YarnApplicationStateProto::Finished,
        YarnApplicationState::Failed => pb::YarnApplicationStateProto::Failed,
        YarnApplicationState::Killed => pb::YarnApplicationStateProto::Killed,
    }
}

pub fn app_state_from_pb(v: i32) -> Result<YarnApplicationState, RpcError> {
    let s = pb::YarnApplicationStateProto::try_from(v).map_err(|_| yarn_error(format!("Unknown application state {v}")))?;
    Ok(match s {
        pb::YarnApplicationStateProto::New => YarnApplicationState::New,
        pb::YarnApplicationStateProto::NewSaving => YarnApplicationState::NewSaving,
        pb::YarnApplicationStateProto::Submitted => YarnApplicationState::Submitted,
        pb::YarnApplicationStateProto::Accepted => YarnApplicationState::Accepted,
        pb::YarnApplicationStateProto::Running => YarnApplicationState::Running,
        pb::YarnApplicationStateProto::Finished => YarnApplicationState::Finished,
        pb::YarnApplicationStateProto::Failed => YarnApplicationState::Failed,
        pb::YarnApplicationStateProto::Killed => YarnApplicationState::Killed,
    })
}

pub fn final_status_to_pb(s: FinalApplicationStatus) -> pb::FinalApplicationStatusProto {
    match s {
        FinalApplicationStatus::Undefined => pb::FinalApplicationStatusProto::AppUndefined,
        FinalApplicationStatus::Succeeded => pb::FinalApplicationStatusProto::AppSucceeded,
        FinalApplicationStatus::Failed => pb::FinalApplicationStatusProto::AppFailed,
        FinalApplicationStatus::Killed => pb::FinalApplicationStatusProto::AppKilled,
    }
}

/// An AM's final status. APP_ENDED (a long-running service's end) has no counterpart here;
/// YARN's FinishApplicationMaster takes it, and it reads as SUCCEEDED's "ended without
/// failure" for this harness.
pub fn final_status_from_pb(v: Option<i32>) -> Result<FinalApplicationStatus, RpcError> {
    match v.map(pb::FinalApplicationStatusProto::try_from) {
        None | Some(Ok(pb::FinalApplicationStatusProto::AppUndefined)) => Ok(FinalApplicationStatus::Undefined),
        Some(Ok(pb::FinalApplicationStatusProto::AppSucceeded)) | Some(Ok(pb::FinalApplicationStatusProto::AppEnded)) => {
            Ok(FinalApplicationStatus::Succeeded)
        }
        Some(Ok(pb::FinalApplicationStatusProto::AppFailed)) => Ok(FinalApplicationStatus::Failed),
        Some(Ok(pb::FinalApplicationStatusProto::AppKilled)) => Ok(FinalApplicationStatus::Killed),
        Some(Err(_)) => Err(yarn_error(format!("Unknown final application status {}", v.unwrap_or_default()))),
    }
}

pub fn node_state_to_pb(s: NodeState) -> pb::NodeStateProto {
    match s {
        NodeState::New => pb::NodeStateProto::NsNew,
        NodeState::Running => pb::NodeStateProto::NsRunning,
        NodeState::Unhealthy => pb::NodeStateProto::NsUnhealthy,
        NodeState::Decommissioned => pb::NodeStateProto::NsDecommissioned,
        NodeState::Lost => pb::NodeStateProto::NsLost,
        NodeState::Rebooted => pb::NodeStateProto::NsRebooted,
        NodeState::Decommissioning => pb::NodeStateProto::NsDecommissioning,
        NodeState::Shutdown => pb::NodeStateProto::NsShutdown,
    }
}

pub fn node_state_from_pb(v: i32) -> Result<NodeState, RpcError> {
    let s = pb::NodeStateProto::try_from(v).map_err(|_| yarn_error(format!("Unknown node state {v}")))?;
    Ok(NodeState::ALL.into_iter().find(|n| node_state_to_pb(*n) == s).expect("every NodeStateProto has a NodeState"))
}

// ---- reports

/// An application report. `host`/`rpc_port` are the AM's registered address (Flink's REST
/// endpoint), "N/A"/-1 before it registers, as YARN reports them.
pub fn app_report_to_pb(r: &crate::rm::AppReport, extra: &AppReportExtra) -> pb::ApplicationReportProto {
    let (host, port) = match r.am_rpc_address.rsplit_once(':') {
        Some((h, p)) if r.am_rpc_address != "N/A" => (h.to_string(), p.parse::<i32>().unwrap_or(-1)),
        _ => ("N/A".to_string(), -1),
    };
    pb::ApplicationReportProto {
        application_id: Some(app_id_to_pb(r.id)),
        user: Some(r.user.clone()),
        queue: Some(r.queue.clone()),
        name: Some(r.name.clone()),
        host: Some(host),
        rpc_port: Some(port),
        yarn_application_state: Some(app_state_to_pb(r.state) as i32),
        tracking_url: Some(r.tracking_url.clone()),
        diagnostics: Some(r.diagnostics.clone()),
        start_time: Some(r.started_time as i64),
        finish_time: Some(r.finished_time as i64),
        final_application_status: Some(final_status_to_pb(r.final_status) as i32),
        app_resource_usage: Some(pb::ApplicationResourceUsageReportProto {
            num_used_containers: Some(r.running_containers as i32),
            num_reserved_containers: Some(0),
            used_resources: Some(resource_to_pb(Resource::new(r.allocated_mb, r.allocated_vcores as u32))),
            reserved_resources: Some(resource_to_pb(Resource::ZERO)),
            needed_resources: Some(resource_to_pb(Resource::new(r.allocated_mb, r.allocated_vcores as u32))),
            memory_seconds: Some(r.memory_seconds as i64),
            vcore_seconds: Some(r.vcore_seconds as i64),
            queue_usage_percentage: Some(0.0),
            cluster_usage_percentage: Some(0.0),
            preempted_memory_seconds: Some(0),
            preempted_vcore_seconds: Some(0),
            ..Default::default()
        }),
        original_tracking_url: Some(extra.original_tracking_url.clone()),
        current_application_attempt_id: r.current_app_attempt_id.map(attempt_id_to_pb),
        // The report's progress is a percentage; the proto's a fraction.
        progress: Some(r.progress / 100.0),
        application_type: Some(r.application_type.clone()),
        application_tags: r.application_tags.split(',').filter(|t| !t.is_empty()).map(str::to_string).collect(),
        log_aggregation_status: Some(pb::LogAggregationStatusProto::LogDisabled as i32),
        unmanaged_application: Some(r.unmanaged_application),
        priority: Some(pb::PriorityProto { priority: Some(r.application_priority) }),
        launch_time: Some(r.launch_time as i64),
        submit_time: Some(r.started_time as i64),
        rm_cluster_id: extra.rm_cluster_id.clone(),
        ..Default::default()
    }
}

/// What an application report carries beyond [`crate::rm::AppReport`].
#[derive(Clone, Debug, Default)]
pub struct AppReportExtra {
    /// The AM's own tracking URL ("N/A" before it registers one).
    pub original_tracking_url: String,
    pub rm_cluster_id: Option<String>,
}

pub fn node_report_to_pb(n: &crate::rm::NodeReport) -> pb::NodeReportProto {
    pb::NodeReportProto {
        node_id: Some(node_id_to_pb(&n.id)),
        http_address: Some(n.node_http_address.clone()),
        rack_name: Some(n.rack.clone()),
        used: Some(resource_to_pb(Resource::new(n.used_memory_mb, n.used_virtual_cores as u32))),
        capability: Some(resource_to_pb(Resource::new(
            n.used_memory_mb + n.avail_memory_mb,
            (n.used_virtual_cores + n.available_virtual_cores) as u32,
        ))),
        num_containers: Some(n.num_containers as i32),
        node_state: Some(node_state_to_pb(n.state) as i32),
        health_report: Some(n.health_report.clone()),
        last_health_report_time: Some(n.last_health_update as i64),
        ..Default::default()
    }
}

pub fn cluster_metrics_to_pb(m: &crate::rm::ClusterMetrics) -> pb::YarnClusterMetricsProto {
    let c = |v: u64| Some(v.min(i32::MAX as u64) as i32);
    pb::YarnClusterMetricsProto {
        num_node_managers: c(m.total_nodes),
        num_decommissioned_nms: c(m.decommissioned_nodes),
        num_active_nms: c(m.active_nodes),
        num_lost_nms: c(m.lost_nodes),
        num_unhealthy_nms: c(m.unhealthy_nodes),
        num_rebooted_nms: c(m.rebooted_nodes),
        num_decommissioning_nms: c(m.decommissioning_nodes),
        num_shutdown_nms: c(m.shutdown_nodes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn attempt() -> ApplicationAttemptId {
        ApplicationAttemptId::new(ApplicationId::new(1_700_000_000_000, 7), 1)
    }

    #[test]
    fn a_container_id_from_java_has_no_app_id_and_carries_the_epoch() {
        // container_e17_1700000000000_0007_01_000002 <-> id 18691697672194 (§4.3).
        let p = pb::ContainerIdProto { app_id: None, app_attempt_id: Some(attempt_id_to_pb(attempt())), id: Some(18_691_697_672_194) };
        let c = container_id_from_pb(&p).unwrap();
        assert_eq!(c.to_string(), "container_e17_1700000000000_0007_01_000002");
        assert_eq!((c.epoch(), c.sequence()), (17, 2));
        let text: ContainerId = "container_e17_1700000000000_0007_01_000002".parse().unwrap();
        assert_eq!(container_id_to_pb(text).id, Some(18_691_697_672_194));
        // Round trip through bytes, with and without the app id.
        let back = pb::ContainerIdProto::decode(container_id_to_pb(c).encode_to_vec().as_slice()).unwrap();
        assert_eq!(container_id_from_pb(&back).unwrap(), c);
    }

    #[test]
    fn bad_ids_are_yarn_exceptions_not_panics() {
        let no_attempt = pb::ContainerIdProto { id: Some(1), ..Default::default() };
        assert_eq!(container_id_from_pb(&no_attempt).unwrap_err().class, YARN_EXCEPTION);
        let neg = pb::ContainerIdProto { app_attempt_id: Some(attempt_id_to_pb(attempt())), id: Some(-5), ..Default::default() };
        assert!(container_id_from_pb(&neg).unwrap_err().message.contains("-5"));
        let other_app = pb::ContainerIdProto {
            app_id: Some(app_id_to_pb(ApplicationId::new(1, 1))),
            app_attempt_id: Some(attempt_id_to_pb(attempt())),
            id: Some(1),
        };
        assert!(container_id_from_pb(&other_app).is_err());
        assert!(app_id_from_pb(&pb::ApplicationIdProto { id: Some(-1), cluster_timestamp: Some(5) }).is_err());
        assert!(app_id_from_pb(&pb::ApplicationIdProto { id: Some(1), cluster_timestamp: None }).is_err());
        assert!(node_id_from_pb(&pb::NodeIdProto { host: Some("h".into()), port: Some(70000) }).is_err());
        assert!(node_id_from_pb(&pb::NodeIdProto { host: None, port: Some(1) }).is_err());
    }

    #[test]
    fn resources_read_the_value_map_as_java_writes_it() {
        let r = Resource::new(2048, 3);
        let p = resource_to_pb(r);
        assert_eq!(resource_from_pb(&p).unwrap(), r);
        // The map wins over the plain fields; units convert.
        let p = pb::ResourceProto {
            memory: Some(1),
            virtual_cores: Some(1),
            resource_value_map: vec![
                pb::ResourceInformationProto { key: "memory-mb".into(), value: Some(2), units: Some("Gi".into()), ..Default::default() },
                pb::ResourceInformationProto { key: "yarn.io/gpu".into(), value: Some(0), ..Default::default() },
            ],
        };
        assert_eq!(resource_from_pb(&p).unwrap(), Resource::new(2048, 1));
        let gpu = pb::ResourceProto {
            resource_value_map: vec![pb::ResourceInformationProto { key: "yarn.io/gpu".into(), value: Some(1), ..Default::default() }],
            ..Default::default()
        };
        assert_eq!(resource_from_pb(&gpu).unwrap_err().class, RESOURCE_NOT_FOUND);
        let neg = pb::ResourceProto { memory: Some(-1), ..Default::default() };
        let e = resource_from_pb(&neg).unwrap_err();
        assert_eq!(e.class, INVALID_RESOURCE_REQUEST);
        assert!(e.message.contains("memory-mb"), "{}", e.message);
    }

    #[test]
    fn urls_round_trip_as_url_from_uri_builds_them() {
        let u = url_from_string("file:/opt/app/x.jar");
        assert_eq!(
            (u.scheme.as_deref(), u.host.as_deref(), u.port, u.file.as_deref()),
            (Some("file"), None, Some(-1), Some("/opt/app/x.jar"))
        );
        assert_eq!(url_to_string(&u), "file:/opt/app/x.jar");
        let u = url_from_string("file:///opt/app/x.jar");
        assert_eq!((u.host.as_deref(), u.file.as_deref()), (None, Some("/opt/app/x.jar")));
        let u = url_from_string("hdfs://nn:8020/a/b");
        assert_eq!((u.host.as_deref(), u.port, u.file.as_deref()), (Some("nn"), Some(8020), Some("/a/b")));
        assert_eq!(url_to_string(&u), "hdfs://nn:8020/a/b");
        let u = url_from_string("apps/x/app.toml");
        assert_eq!((u.scheme.as_deref(), u.file.as_deref()), (None, Some("apps/x/app.toml")));
        assert_eq!(url_to_string(&u), "apps/x/app.toml");
    }

    #[test]
    fn a_submission_context_round_trips_and_bad_tokens_are_refused() {
        let mut s = ApplicationSubmissionContext::new(ApplicationId::new(5, 2));
        s.application_name = "job".into();
        s.queue = "a".into();
        s.priority = 3;
        s.resource = Resource::new(1536, 2);
        s.max_app_attempts = 2;
        s.application_type = "Apache Flink".into();
        s.application_tags = vec!["x".into()];
        s.lifetime_secs = Some(60);
        s.application_acls.insert(ApplicationAccessType::ViewApp, "bob".into());
        s.am_container_spec.commands = vec!["sleep 1".into()];
        s.am_container_spec.environment.insert("K".into(), "V".into());
        s.am_container_spec.local_resources.insert(
            "x.jar".into(),
            LocalResource {
                resource: "file:/tmp/x.jar".into(),
                kind: LocalResourceType::File,
                visibility: LocalResourceVisibility::Application,
                size: 10,
                timestamp: 99,
            },
        );
        let mut creds = hadoop_rpc::token::Credentials::new();
        creds.add_secret("s", vec![1, 2]);
        s.am_container_spec.tokens = Some(creds.to_writable_bytes());
        let p = pb::ApplicationSubmissionContextProto::decode(submission_context_to_pb(&s).encode_to_vec().as_slice()).unwrap();
        assert_eq!(submission_context_from_pb(&p).unwrap(), s);

        let mut bad = p.clone();
        bad.am_container_spec.as_mut().unwrap().tokens = Some(b"HDTX".to_vec());
        assert!(submission_context_from_pb(&bad).unwrap_err().message.contains("Credentials"));
        let mut no_id = p.clone();
        no_id.application_id = None;
        assert!(submission_context_from_pb(&no_id).is_err());
        let mut zero_lifetime = p;
        zero_lifetime.application_timeouts[0].timeout = Some(0);
        assert!(submission_context_from_pb(&zero_lifetime).unwrap_err().message.contains("Invalid application timeout"));
    }

    #[test]
    fn defaults_of_an_empty_submission_are_yarns() {
        let p =
            pb::ApplicationSubmissionContextProto { application_id: Some(app_id_to_pb(ApplicationId::new(5, 1))), ..Default::default() };
        let s = submission_context_from_pb(&p).unwrap();
        assert_eq!(s, ApplicationSubmissionContext::new(ApplicationId::new(5, 1)));
    }

    #[test]
    fn asks_statuses_and_containers_round_trip() {
        let r = ResourceRequest::any(1, Resource::new(1024, 1), 3);
        assert_eq!(resource_request_from_pb(&resource_request_to_pb(&r)).unwrap(), r);
        let neg =
            pb::ResourceRequestProto { num_containers: Some(-1), capability: Some(resource_to_pb(Resource::ZERO)), ..Default::default() };
        assert_eq!(resource_request_from_pb(&neg).unwrap_err().class, INVALID_RESOURCE_REQUEST);
        let cid = ContainerId::new(attempt(), 4);
        let st = ContainerStatus { container_id: cid, state: ContainerState::Complete, exit_status: -105, diagnostics: "bye".into() };
        assert_eq!(container_status_from_pb(&container_status_to_pb(&st)).unwrap(), st);
        let c = Container {
            id: cid,
            node_id: NodeId::new("127.0.0.1", 4545),
            node_http_address: "127.0.0.1:8042".into(),
            resource: Resource::new(1024, 1),
            priority: 1,
            allocation_request_id: -1,
        };
        assert_eq!(container_from_pb(&container_to_pb(&c)).unwrap(), c);
        for s in NodeState::ALL {
            assert_eq!(node_state_from_pb(node_state_to_pb(s) as i32).unwrap(), s);
        }
        for s in YarnApplicationState::ALL {
            assert_eq!(app_state_from_pb(app_state_to_pb(s) as i32).unwrap(), s);
        }
        assert!(app_state_from_pb(0).is_err());
        assert!(final_status_from_pb(Some(9)).is_err());
    }

    proptest::proptest! {
        /// Any bytes decode to a context or an error, and a decoded context converts or is
        /// refused: never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Ok(p) = pb::ApplicationSubmissionContextProto::decode(bytes.as_slice()) {
                let _ = submission_context_from_pb(&p);
            }
            if let Ok(p) = pb::AllocateRequestProto::decode(bytes.as_slice()) {
                for a in &p.ask { let _ = resource_request_from_pb(a); }
                for r in &p.release { let _ = container_id_from_pb(r); }
            }
        }
    }
}
