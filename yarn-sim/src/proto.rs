//! The YARN wire protocols between nodes, as one [`engine::Wire`] family:
//! ResourceTracker (NM -> RM), ApplicationMasterProtocol (AM -> RM) and
//! ContainerManagementProtocol (RM/AM -> NM). Each request has its response variant; an
//! error travels as YARN's exception name and message.

use serde::{Deserialize, Serialize};

use crate::ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
use crate::records::{
    Container, ContainerLaunchContext, ContainerStatus, FinalApplicationStatus, NMContainerStatus, NodeUpdate, Resource, ResourceRequest,
};

/// A YARN exception as it crosses the wire (and as REST renders `RemoteException`).
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct RemoteError {
    /// Simple class name, e.g. `InvalidResourceRequestException`.
    pub exception: String,
    pub message: String,
    /// Fully qualified Java class name.
    pub java_class_name: String,
}

impl RemoteError {
    pub fn new(class: &str, message: impl Into<String>) -> RemoteError {
        let simple = class.rsplit('.').next().unwrap_or(class).to_string();
        RemoteError { exception: simple, message: message.into(), java_class_name: class.to_string() }
    }
    pub fn invalid_resource_request(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.yarn.exceptions.InvalidResourceRequestException", m)
    }
    pub fn invalid_am_request(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.yarn.exceptions.InvalidApplicationMasterRequestException", m)
    }
    pub fn am_not_registered(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException", m)
    }
    pub fn attempt_not_found(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.yarn.exceptions.ApplicationAttemptNotFoundException", m)
    }
    pub fn app_not_found(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException", m)
    }
    /// Refused by an ACL (`org.apache.hadoop.security.AccessControlException`).
    pub fn access_control(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.security.AccessControlException", m)
    }
    pub fn yarn(m: impl Into<String>) -> Self {
        Self::new("org.apache.hadoop.yarn.exceptions.YarnException", m)
    }
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.java_class_name, self.message)
    }
}

/// `MasterKeyProto` (yarn_server_common_protos.proto): a secret manager's key, by id. Token
/// passwords are `HmacSHA1(bytes, identifier)`; an identifier names the key by `key_id`.
#[derive(Clone, PartialEq, Eq, Debug, Default, Serialize, Deserialize)]
pub struct MasterKey {
    pub key_id: i32,
    pub bytes: Vec<u8>,
}

/// What the RM tells an NM to do (`NodeAction`).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeAction {
    Normal,
    Resync,
    Shutdown,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct StartContainerRequest {
    pub container: Container,
    pub launch: ContainerLaunchContext,
    /// The submitting user (the container runs "as" this user: USER, LOGNAME, log paths).
    pub user: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum YarnMsg {
    // ---- ResourceTracker: NM -> RM
    RegisterNodeManager {
        node_id: NodeId,
        http_address: String,
        resource: Resource,
        /// Containers the NM still runs or ran (after an RM or NM restart).
        containers: Vec<NMContainerStatus>,
    },
    RegisterNodeManagerResponse {
        action: NodeAction,
        /// The RM's cluster timestamp, to tell restarts apart.
        rm_identifier: u64,
        heartbeat_interval_ms: u64,
        diagnostics: String,
        /// `RegisterNodeManagerResponseProto.container_token_master_key`: the key the RM signs
        /// container tokens with, so the NM verifies a `StartContainerRequest`'s token itself.
        container_token_master_key: MasterKey,
        /// `nm_token_master_key`: the key of the NM tokens AMs authenticate with (SASL TOKEN).
        nm_token_master_key: MasterKey,
    },
    NodeHeartbeat {
        node_id: NodeId,
        /// The last response id the NM received.
        response_id: u64,
        /// Statuses of every container the NM knows, running and completed-not-yet-acked.
        containers: Vec<ContainerStatus>,
        healthy: bool,
        health_report: String,
    },
    NodeHeartbeatResponse {
        response_id: u64,
        action: NodeAction,
        /// Containers the NM must stop (released, killed, of finished apps).
        containers_to_cleanup: Vec<ContainerId>,
        /// Apps that ended: the NM may clean up their dirs.
        apps_to_cleanup: Vec<ApplicationId>,
        /// Completed containers the RM has recorded: the NM may forget them.
        containers_to_be_removed: Vec<ContainerId>,
        next_heartbeat_ms: u64,
    },

    // ---- ApplicationMasterProtocol: AM -> RM
    RegisterApplicationMaster {
        attempt_id: ApplicationAttemptId,
        host: String,
        rpc_port: i32,
        tracking_url: String,
    },
    RegisterApplicationMasterResponse(Result<RegisterResponse, RemoteError>),
    Allocate(AllocateRequest),
    AllocateResponse(Result<AllocateResponse, RemoteError>),
    FinishApplicationMaster {
        attempt_id: ApplicationAttemptId,
        final_status: FinalApplicationStatus,
        diagnostics: String,
        tracking_url: String,
    },
    FinishApplicationMasterResponse(Result<bool, RemoteError>),

    // ---- ContainerManagementProtocol: RM or AM -> NM
    StartContainers {
        requests: Vec<StartContainerRequest>,
    },
    StartContainersResponse {
        succeeded: Vec<ContainerId>,
        failed: Vec<(ContainerId, RemoteError)>,
    },
    StopContainers {
        containers: Vec<ContainerId>,
    },
    StopContainersResponse {
        succeeded: Vec<ContainerId>,
        failed: Vec<(ContainerId, RemoteError)>,
    },
    GetContainerStatuses {
        containers: Vec<ContainerId>,
    },
    GetContainerStatusesResponse {
        statuses: Vec<ContainerStatus>,
        failed: Vec<(ContainerId, RemoteError)>,
    },
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct RegisterResponse {
    pub maximum_capability: Resource,
    pub queue: String,
    /// Running containers of earlier attempts (keep-containers-across-application-attempts).
    pub containers_from_previous_attempts: Vec<Container>,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct AllocateRequest {
    pub attempt_id: ApplicationAttemptId,
    /// The last response id the AM received (0 on the first call).
    pub response_id: i32,
    pub asks: Vec<ResourceRequest>,
    pub releases: Vec<ContainerId>,
    pub progress: f32,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct AllocateResponse {
    pub response_id: i32,
    pub allocated: Vec<Container>,
    /// Each completed container of the attempt, exactly once.
    pub completed: Vec<ContainerStatus>,
    /// What the application may still get.
    pub headroom: Resource,
    pub num_cluster_nodes: u32,
    pub updated_nodes: Vec<NodeUpdate>,
}

impl engine::Wire for YarnMsg {
    const FAMILY: &'static str = "yarn";
    fn kind(&self) -> &'static str {
        match self {
            YarnMsg::RegisterNodeManager { .. } => "RegisterNodeManager",
            YarnMsg::RegisterNodeManagerResponse { .. } => "RegisterNodeManagerResponse",
            YarnMsg::NodeHeartbeat { .. } => "NodeHeartbeat",
            YarnMsg::NodeHeartbeatResponse { .. } => "NodeHeartbeatResponse",
            YarnMsg::RegisterApplicationMaster { .. } => "RegisterApplicationMaster",
            YarnMsg::RegisterApplicationMasterResponse(_) => "RegisterApplicationMasterResponse",
            YarnMsg::Allocate(_) => "Allocate",
            YarnMsg::AllocateResponse(_) => "AllocateResponse",
            YarnMsg::FinishApplicationMaster { .. } => "FinishApplicationMaster",
            YarnMsg::FinishApplicationMasterResponse(_) => "FinishApplicationMasterResponse",
            YarnMsg::StartContainers { .. } => "StartContainers",
            YarnMsg::StartContainersResponse { .. } => "StartContainersResponse",
            YarnMsg::StopContainers { .. } => "StopContainers",
            YarnMsg::StopContainersResponse { .. } => "StopContainersResponse",
            YarnMsg::GetContainerStatuses { .. } => "GetContainerStatuses",
            YarnMsg::GetContainerStatusesResponse { .. } => "GetContainerStatusesResponse",
        }
    }
}

/// Environment variables YARN sets in every container (ApplicationConstants.Environment),
/// plus this harness's `YARN_RM_ADDRESS` so AMs find the scheduler without a config file.
pub mod env {
    pub const CONTAINER_ID: &str = "CONTAINER_ID";
    pub const NM_HOST: &str = "NM_HOST";
    pub const NM_PORT: &str = "NM_PORT";
    pub const NM_HTTP_PORT: &str = "NM_HTTP_PORT";
    pub const LOG_DIRS: &str = "LOG_DIRS";
    pub const LOCAL_DIRS: &str = "LOCAL_DIRS";
    pub const USER: &str = "USER";
    pub const LOGNAME: &str = "LOGNAME";
    pub const HOME: &str = "HOME";
    pub const PWD: &str = "PWD";
    pub const LOCAL_USER_DIRS: &str = "LOCAL_USER_DIRS";
    pub const JVM_PID: &str = "JVM_PID";
    /// `ApplicationConstants.CONTAINER_TOKEN_FILE_ENV_NAME`: the container's Credentials file.
    pub const HADOOP_TOKEN_FILE_LOCATION: &str = "HADOOP_TOKEN_FILE_LOCATION";
    pub const HADOOP_CONF_DIR: &str = "HADOOP_CONF_DIR";
    pub const APP_SUBMIT_TIME_ENV: &str = "APP_SUBMIT_TIME_ENV";
    /// Set by the RM's AMLauncher: the AM's web UI path behind the RM's web proxy.
    pub const APPLICATION_WEB_PROXY_BASE: &str = "APPLICATION_WEB_PROXY_BASE";
    pub const MAX_APP_ATTEMPTS: &str = "MAX_APP_ATTEMPTS";
    /// Harness addition: the RM's RPC address (`host:port`).
    pub const YARN_RM_ADDRESS: &str = "YARN_RM_ADDRESS";
    /// Harness addition: the cluster secret that authenticates node-to-node messages.
    pub const CLUSTER_SECRET: &str = engine::live::auth::SECRET_ENV;
}
