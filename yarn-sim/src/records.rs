//! YARN's records: resources, launch contexts, containers and their statuses, states and exit
//! codes. Names and values follow hadoop-yarn-api.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ids::{ApplicationId, ContainerId, NodeId};

/// Memory in MB and virtual cores. Serialized as YARN's REST writes it: `{memory, vCores}`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Default, Serialize, Deserialize)]
pub struct Resource {
    #[serde(rename = "memory")]
    pub memory_mb: u64,
    #[serde(rename = "vCores")]
    pub vcores: u32,
}

impl Resource {
    pub const ZERO: Resource = Resource { memory_mb: 0, vcores: 0 };
    pub fn new(memory_mb: u64, vcores: u32) -> Resource {
        Resource { memory_mb, vcores }
    }
    pub fn fits_in(&self, other: &Resource) -> bool {
        self.memory_mb <= other.memory_mb && self.vcores <= other.vcores
    }
    pub fn add(&self, o: &Resource) -> Resource {
        Resource { memory_mb: self.memory_mb + o.memory_mb, vcores: self.vcores + o.vcores }
    }
    pub fn sub(&self, o: &Resource) -> Resource {
        Resource { memory_mb: self.memory_mb.saturating_sub(o.memory_mb), vcores: self.vcores.saturating_sub(o.vcores) }
    }
}

impl fmt::Display for Resource {
    /// YARN's `Resource.toString()`: `<memory:1024, vCores:1>`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<memory:{}, vCores:{}>", self.memory_mb, self.vcores)
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LocalResourceType {
    Archive,
    #[default]
    File,
    Pattern,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum LocalResourceVisibility {
    Public,
    Private,
    #[default]
    Application,
}

/// A file in the shared store that the NodeManager copies into the container's working dir.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct LocalResource {
    /// A path in the shared store (optionally `file://`-prefixed); never outside it.
    pub resource: String,
    #[serde(rename = "type", default)]
    pub kind: LocalResourceType,
    #[serde(default)]
    pub visibility: LocalResourceVisibility,
    #[serde(default)]
    pub size: i64,
    #[serde(default)]
    pub timestamp: i64,
}

/// What to run in a container: "RECT" (resources, environment, command, tokens).
#[derive(Clone, PartialEq, Debug, Default, Serialize, Deserialize)]
pub struct ContainerLaunchContext {
    pub local_resources: BTreeMap<String, LocalResource>,
    pub environment: BTreeMap<String, String>,
    pub commands: Vec<String>,
    /// The container's Credentials in Hadoop's token-storage format (`HDTS…`), as
    /// `ContainerLaunchContextProto.tokens` carries them: the NM writes them to the container's
    /// `container_tokens` file (`HADOOP_TOKEN_FILE_LOCATION`). Absent for our own AMs and TMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<Vec<u8>>,
}

/// The fields of `ApplicationSubmissionContext` the RM honours.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ApplicationSubmissionContext {
    pub application_id: ApplicationId,
    pub application_name: String,
    pub queue: String,
    pub priority: i32,
    pub am_container_spec: ContainerLaunchContext,
    pub unmanaged_am: bool,
    /// 0 or out of range means "use yarn.resourcemanager.am.max-attempts".
    pub max_app_attempts: i32,
    pub resource: Resource,
    pub application_type: String,
    pub keep_containers_across_application_attempts: bool,
    pub application_tags: Vec<String>,
    /// Milliseconds; failures older than this do not count. 0 or less: all count.
    pub attempt_failures_validity_interval: i64,
    /// The AM container spec's `application-acls` (VIEW_APP / MODIFY_APP -> ACL string); the
    /// RM keeps them beside the app as ApplicationACLsManager does.
    #[serde(default)]
    pub application_acls: crate::rm::acls::ApplicationAcls,
    /// `application-timeouts` LIFETIME in seconds from submission (`None`: UNLIMITED); a PUT
    /// to `/timeouts` moves it. RMAppLifetimeMonitor kills the app when it passes.
    #[serde(default)]
    pub lifetime_secs: Option<i64>,
}

impl ApplicationSubmissionContext {
    /// A context with YARN's defaults for everything but the id.
    pub fn new(application_id: ApplicationId) -> Self {
        ApplicationSubmissionContext {
            application_id,
            application_name: "N/A".into(),
            queue: "default".into(),
            priority: 0,
            am_container_spec: ContainerLaunchContext::default(),
            unmanaged_am: false,
            max_app_attempts: 0,
            resource: Resource::new(1024, 1),
            application_type: "YARN".into(),
            keep_containers_across_application_attempts: false,
            application_tags: Vec::new(),
            attempt_failures_validity_interval: -1,
            application_acls: Default::default(),
            lifetime_secs: None,
        }
    }
}

/// A container as the RM hands it to an AM.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Container {
    pub id: ContainerId,
    pub node_id: NodeId,
    pub node_http_address: String,
    pub resource: Resource,
    pub priority: i32,
    pub allocation_request_id: i64,
}

/// `ContainerState` of the public API.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerState {
    New,
    Running,
    Complete,
}

/// `ContainerExitStatus` values.
pub mod exit_status {
    pub const SUCCESS: i32 = 0;
    pub const INVALID: i32 = -1000;
    pub const ABORTED: i32 = -100;
    pub const DISKS_FAILED: i32 = -101;
    pub const PREEMPTED: i32 = -102;
    pub const KILLED_EXCEEDED_VMEM: i32 = -103;
    pub const KILLED_EXCEEDED_PMEM: i32 = -104;
    pub const KILLED_BY_APPMASTER: i32 = -105;
    pub const KILLED_BY_RESOURCEMANAGER: i32 = -106;
    pub const KILLED_AFTER_APP_COMPLETION: i32 = -107;
}

/// SchedulerUtils' diagnostics, verbatim.
pub mod diagnostics {
    pub const RELEASED_CONTAINER: &str = "Container released by application";
    pub const LOST_CONTAINER: &str = "Container released on a *lost* node";
    pub const COMPLETED_APPLICATION: &str = "Container of a completed application";
    pub const EXPIRED_CONTAINER: &str = "Container expired since it was unused";
    pub const KILLED_BY_APPMASTER: &str = "Container killed by the ApplicationMaster.";
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ContainerStatus {
    pub container_id: ContainerId,
    pub state: ContainerState,
    /// `exit_status::INVALID` while running.
    pub exit_status: i32,
    pub diagnostics: String,
}

/// `NMContainerStatus`: what a NodeManager reports of each container when it registers, so a
/// recovered ResourceManager can rebuild the container (its size included) without having
/// allocated it in this incarnation.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NMContainerStatus {
    pub container_id: ContainerId,
    pub state: ContainerState,
    pub exit_status: i32,
    pub diagnostics: String,
    pub resource: Resource,
}

impl NMContainerStatus {
    pub fn status(&self) -> ContainerStatus {
        ContainerStatus {
            container_id: self.container_id,
            state: self.state,
            exit_status: self.exit_status,
            diagnostics: self.diagnostics.clone(),
        }
    }
}

/// `ResourceRequest`: `num_containers` is the total outstanding for this
/// (priority, resource_name, capability), as the AMRMClient re-sends it.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ResourceRequest {
    pub priority: i32,
    pub resource_name: String,
    pub capability: Resource,
    pub num_containers: u32,
    pub relax_locality: bool,
    pub allocation_request_id: i64,
}

impl ResourceRequest {
    pub const ANY: &'static str = "*";
    pub fn any(priority: i32, capability: Resource, num_containers: u32) -> Self {
        ResourceRequest {
            priority,
            resource_name: Self::ANY.into(),
            capability,
            num_containers,
            relax_locality: true,
            allocation_request_id: -1,
        }
    }
}

/// `YarnApplicationState`, as clients see it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum YarnApplicationState {
    New,
    NewSaving,
    Submitted,
    Accepted,
    Running,
    Finished,
    Failed,
    Killed,
}

impl YarnApplicationState {
    pub const ALL: [YarnApplicationState; 8] =
        [Self::New, Self::NewSaving, Self::Submitted, Self::Accepted, Self::Running, Self::Finished, Self::Failed, Self::Killed];
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::NewSaving => "NEW_SAVING",
            Self::Submitted => "SUBMITTED",
            Self::Accepted => "ACCEPTED",
            Self::Running => "RUNNING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }
    pub fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }
}

impl fmt::Display for YarnApplicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for YarnApplicationState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|st| st.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| format!("Invalid application state: {s}"))
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FinalApplicationStatus {
    Undefined,
    Succeeded,
    Failed,
    Killed,
}

impl fmt::Display for FinalApplicationStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Undefined => "UNDEFINED",
            Self::Succeeded => "SUCCEEDED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        })
    }
}

/// `NodeState` of the public API.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum NodeState {
    New,
    Running,
    Unhealthy,
    Decommissioned,
    Lost,
    Rebooted,
    Decommissioning,
    Shutdown,
}

impl NodeState {
    pub const ALL: [NodeState; 8] = [
        Self::New,
        Self::Running,
        Self::Unhealthy,
        Self::Decommissioned,
        Self::Lost,
        Self::Rebooted,
        Self::Decommissioning,
        Self::Shutdown,
    ];
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Running => "RUNNING",
            Self::Unhealthy => "UNHEALTHY",
            Self::Decommissioned => "DECOMMISSIONED",
            Self::Lost => "LOST",
            Self::Rebooted => "REBOOTED",
            Self::Decommissioning => "DECOMMISSIONING",
            Self::Shutdown => "SHUTDOWN",
        }
    }
    pub fn is_active(self) -> bool {
        matches!(self, Self::New | Self::Running | Self::Unhealthy | Self::Decommissioning)
    }
}

impl fmt::Display for NodeState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for NodeState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL.into_iter().find(|st| st.name().eq_ignore_ascii_case(s.trim())).ok_or_else(|| format!("Invalid node state: {s}"))
    }
}

/// A node status change an AM learns about in `AllocateResponse.updated_nodes`.
#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct NodeUpdate {
    pub node_id: NodeId,
    pub state: NodeState,
}
