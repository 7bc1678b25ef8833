//! YARN's protobuf messages (package `hadoop.yarn`) as hand-written prost types, from the wire
//! facts of `../shared/reference/hadoop-rpc.md` §3–§4 (field numbers and types of
//! yarn_protos.proto, yarn_service_protos.proto and yarn_security_token.proto, identical in
//! Hadoop 3.4.1 and 3.5.0).
//!
//! All of YARN's protos are proto2: every `optional` field is an `Option` (absent and default
//! are different things to a Java reader), the documented defaults are prost `default`s (so
//! the generated getters return them), and `required` fields are plain values. Fields whose
//! message types this harness never reads or writes (log aggregation contexts, reservation
//! ids, placement constraints, utilization, preemption, ...) are not declared: prost skips
//! them on decode like any unknown field, which is what proto2 asks of a reader of a newer
//! writer. Enumerations are carried as `i32` (prost's representation), so an unknown value
//! decodes; the conversions in [`super::convert`] refuse values they cannot map.
//!
//! `TokenProto` (package `hadoop.common`) is hadoop-rpc's [`hadoop_rpc::proto::TokenProto`].

pub use hadoop_rpc::proto::TokenProto;

// ------------------------------------------------------------------------------------------
// Enumerations (yarn_protos.proto §4.4)

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum YarnApplicationStateProto {
    New = 1,
    NewSaving = 2,
    Submitted = 3,
    Accepted = 4,
    Running = 5,
    Finished = 6,
    Failed = 7,
    Killed = 8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum FinalApplicationStatusProto {
    AppUndefined = 0,
    AppSucceeded = 1,
    AppFailed = 2,
    AppKilled = 3,
    AppEnded = 4,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ContainerStateProto {
    CNew = 1,
    CRunning = 2,
    CComplete = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ContainerSubStateProto {
    CssScheduled = 1,
    CssRunning = 2,
    CssPaused = 3,
    CssCompleting = 4,
    CssDone = 5,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NodeStateProto {
    NsNew = 1,
    NsRunning = 2,
    NsUnhealthy = 3,
    NsDecommissioned = 4,
    NsLost = 5,
    NsRebooted = 6,
    NsDecommissioning = 7,
    NsShutdown = 8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum NodeUpdateTypeProto {
    NodeUsable = 0,
    NodeUnusable = 1,
    NodeUpdate = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum LocalResourceTypeProto {
    Archive = 1,
    File = 2,
    Pattern = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum LocalResourceVisibilityProto {
    Public = 1,
    Private = 2,
    Application = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ExecutionTypeProto {
    Guaranteed = 1,
    Opportunistic = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ContainerTypeProto {
    ApplicationMaster = 1,
    Task = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum QueueStateProto {
    QStopped = 1,
    QRunning = 2,
    QDraining = 3,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum QueueAclProto {
    QaclSubmitApplications = 1,
    QaclAdministerQueue = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ApplicationsRequestScopeProto {
    All = 0,
    Viewable = 1,
    Own = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum LogAggregationStatusProto {
    LogDisabled = 1,
    LogNotStart = 2,
    LogRunning = 3,
    LogSucceeded = 4,
    LogFailed = 5,
    LogTimeOut = 6,
    LogRunningWithFailure = 7,
}

/// The exit codes the proto names (Java's ContainerExitStatus has more; see
/// `records::exit_status`). `exit_status` fields are plain int32.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ContainerExitStatusProto {
    Success = 0,
    Invalid = -1000,
    Aborted = -100,
    DisksFailed = -101,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ResourceTypesProto {
    Countable = 0,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum AmCommandProto {
    AmResync = 1,
    AmShutdown = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ApplicationAccessTypeProto {
    AppaccessViewApp = 1,
    AppaccessModifyApp = 2,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum ApplicationTimeoutTypeProto {
    AppTimeoutLifetime = 1,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum SchedulerResourceTypes {
    Memory = 0,
    Cpu = 1,
}

// ------------------------------------------------------------------------------------------
// Ids and small records (yarn_protos.proto §4.3)

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationIdProto {
    #[prost(int32, optional, tag = "1")]
    pub id: Option<i32>,
    #[prost(int64, optional, tag = "2")]
    pub cluster_timestamp: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationAttemptIdProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
    #[prost(int32, optional, tag = "2")]
    pub attempt_id: Option<i32>,
}

/// Java clients send only `app_attempt_id` and `id` (= sequence | epoch << 40).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerIdProto {
    #[prost(message, optional, tag = "1")]
    pub app_id: Option<ApplicationIdProto>,
    #[prost(message, optional, tag = "2")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(int64, optional, tag = "3")]
    pub id: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeIdProto {
    #[prost(string, optional, tag = "1")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub port: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringStringMapProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub value: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringBytesMapProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub value: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringLongMapProto {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(int64, required, tag = "2")]
    pub value: i64,
}

/// `memory-mb` (units `Mi`), `vcores` (units ""), or another countable resource.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceInformationProto {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(int64, optional, tag = "2")]
    pub value: Option<i64>,
    #[prost(string, optional, tag = "3")]
    pub units: Option<String>,
    #[prost(enumeration = "ResourceTypesProto", optional, tag = "4")]
    pub r#type: Option<i32>,
    #[prost(string, repeated, tag = "5")]
    pub tags: Vec<String>,
    #[prost(message, repeated, tag = "6")]
    pub attributes: Vec<StringStringMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceProto {
    /// MB.
    #[prost(int64, optional, tag = "1")]
    pub memory: Option<i64>,
    #[prost(int32, optional, tag = "2")]
    pub virtual_cores: Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub resource_value_map: Vec<ResourceInformationProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceTypeInfoProto {
    #[prost(string, required, tag = "1")]
    pub name: String,
    #[prost(string, optional, tag = "2")]
    pub units: Option<String>,
    #[prost(enumeration = "ResourceTypesProto", optional, tag = "3")]
    pub r#type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct PriorityProto {
    #[prost(int32, optional, tag = "1")]
    pub priority: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerProto {
    #[prost(message, optional, tag = "1")]
    pub id: Option<ContainerIdProto>,
    #[prost(message, optional, tag = "2")]
    pub node_id: Option<NodeIdProto>,
    #[prost(string, optional, tag = "3")]
    pub node_http_address: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub resource: Option<ResourceProto>,
    #[prost(message, optional, tag = "5")]
    pub priority: Option<PriorityProto>,
    #[prost(message, optional, tag = "6")]
    pub container_token: Option<TokenProto>,
    #[prost(enumeration = "ExecutionTypeProto", optional, tag = "7", default = "Guaranteed")]
    pub execution_type: Option<i32>,
    #[prost(int64, optional, tag = "8", default = "-1")]
    pub allocation_request_id: Option<i64>,
    #[prost(int32, optional, tag = "9", default = "0")]
    pub version: Option<i32>,
    #[prost(string, repeated, tag = "10")]
    pub allocation_tags: Vec<String>,
    #[prost(string, optional, tag = "11")]
    pub exposed_ports: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerStatusProto {
    #[prost(message, optional, tag = "1")]
    pub container_id: Option<ContainerIdProto>,
    #[prost(enumeration = "ContainerStateProto", optional, tag = "2")]
    pub state: Option<i32>,
    #[prost(string, optional, tag = "3", default = "N/A")]
    pub diagnostics: Option<String>,
    #[prost(int32, optional, tag = "4", default = "-1000")]
    pub exit_status: Option<i32>,
    #[prost(message, optional, tag = "5")]
    pub capability: Option<ResourceProto>,
    #[prost(enumeration = "ExecutionTypeProto", optional, tag = "6", default = "Guaranteed")]
    pub execution_type: Option<i32>,
    #[prost(message, repeated, tag = "7")]
    pub container_attributes: Vec<StringStringMapProto>,
    #[prost(enumeration = "ContainerSubStateProto", optional, tag = "8")]
    pub container_sub_state: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ExecutionTypeRequestProto {
    #[prost(enumeration = "ExecutionTypeProto", optional, tag = "1", default = "Guaranteed")]
    pub execution_type: Option<i32>,
    #[prost(bool, optional, tag = "2", default = "false")]
    pub enforce_execution_type: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceRequestProto {
    #[prost(message, optional, tag = "1")]
    pub priority: Option<PriorityProto>,
    /// `*` = ANY.
    #[prost(string, optional, tag = "2")]
    pub resource_name: Option<String>,
    #[prost(message, optional, tag = "3")]
    pub capability: Option<ResourceProto>,
    #[prost(int32, optional, tag = "4")]
    pub num_containers: Option<i32>,
    #[prost(bool, optional, tag = "5", default = "true")]
    pub relax_locality: Option<bool>,
    #[prost(string, optional, tag = "6")]
    pub node_label_expression: Option<String>,
    #[prost(message, optional, tag = "7")]
    pub execution_type_request: Option<ExecutionTypeRequestProto>,
    #[prost(int64, optional, tag = "8", default = "-1")]
    pub allocation_request_id: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ResourceBlacklistRequestProto {
    #[prost(string, repeated, tag = "1")]
    pub blacklist_additions: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub blacklist_removals: Vec<String>,
}

// ------------------------------------------------------------------------------------------
// Launch contexts and local resources

/// `URL.fromURI("file:/opt/app/x.jar")`: scheme `file`, port −1, file `/opt/app/x.jar`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct UrlProto {
    #[prost(string, optional, tag = "1")]
    pub scheme: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub port: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub file: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub user_info: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct LocalResourceProto {
    #[prost(message, optional, tag = "1")]
    pub resource: Option<UrlProto>,
    #[prost(int64, optional, tag = "2")]
    pub size: Option<i64>,
    /// Modification time, ms.
    #[prost(int64, optional, tag = "3")]
    pub timestamp: Option<i64>,
    #[prost(enumeration = "LocalResourceTypeProto", optional, tag = "4")]
    pub r#type: Option<i32>,
    #[prost(enumeration = "LocalResourceVisibilityProto", optional, tag = "5")]
    pub visibility: Option<i32>,
    #[prost(string, optional, tag = "6")]
    pub pattern: Option<String>,
    #[prost(bool, optional, tag = "7")]
    pub should_be_uploaded_to_shared_cache: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StringLocalResourceMapProto {
    #[prost(string, optional, tag = "1")]
    pub key: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub value: Option<LocalResourceProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationAclMapProto {
    #[prost(enumeration = "ApplicationAccessTypeProto", optional, tag = "1")]
    pub access_type: Option<i32>,
    #[prost(string, optional, tag = "2", default = " ")]
    pub acl: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerLaunchContextProto {
    #[prost(message, repeated, tag = "1")]
    pub local_resources: Vec<StringLocalResourceMapProto>,
    /// The container's Credentials, `HDTS…`.
    #[prost(bytes = "vec", optional, tag = "2")]
    pub tokens: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "3")]
    pub service_data: Vec<StringBytesMapProto>,
    #[prost(message, repeated, tag = "4")]
    pub environment: Vec<StringStringMapProto>,
    #[prost(string, repeated, tag = "5")]
    pub command: Vec<String>,
    #[prost(message, repeated, tag = "6")]
    pub application_acls: Vec<ApplicationAclMapProto>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub tokens_conf: Option<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationTimeoutMapProto {
    #[prost(enumeration = "ApplicationTimeoutTypeProto", optional, tag = "1")]
    pub application_timeout_type: Option<i32>,
    /// Seconds.
    #[prost(int64, optional, tag = "2")]
    pub timeout: Option<i64>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationSubmissionContextProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
    #[prost(string, optional, tag = "2", default = "N/A")]
    pub application_name: Option<String>,
    #[prost(string, optional, tag = "3", default = "default")]
    pub queue: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub priority: Option<PriorityProto>,
    #[prost(message, optional, tag = "5")]
    pub am_container_spec: Option<ContainerLaunchContextProto>,
    #[prost(bool, optional, tag = "6", default = "true")]
    pub cancel_tokens_when_complete: Option<bool>,
    #[prost(bool, optional, tag = "7", default = "false")]
    pub unmanaged_am: Option<bool>,
    #[prost(int32, optional, tag = "8", default = "0")]
    pub max_app_attempts: Option<i32>,
    #[prost(message, optional, tag = "9")]
    pub resource: Option<ResourceProto>,
    #[prost(string, optional, tag = "10", default = "YARN")]
    pub application_type: Option<String>,
    #[prost(bool, optional, tag = "11", default = "false")]
    pub keep_containers_across_application_attempts: Option<bool>,
    #[prost(string, repeated, tag = "12")]
    pub application_tags: Vec<String>,
    #[prost(int64, optional, tag = "13", default = "-1")]
    pub attempt_failures_validity_interval: Option<i64>,
    #[prost(string, optional, tag = "16")]
    pub node_label_expression: Option<String>,
    #[prost(message, repeated, tag = "17")]
    pub am_container_resource_request: Vec<ResourceRequestProto>,
    #[prost(message, repeated, tag = "18")]
    pub application_timeouts: Vec<ApplicationTimeoutMapProto>,
    #[prost(message, repeated, tag = "19")]
    pub application_scheduling_properties: Vec<StringStringMapProto>,
}

// ------------------------------------------------------------------------------------------
// Reports

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationResourceUsageReportProto {
    #[prost(int32, optional, tag = "1")]
    pub num_used_containers: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub num_reserved_containers: Option<i32>,
    #[prost(message, optional, tag = "3")]
    pub used_resources: Option<ResourceProto>,
    #[prost(message, optional, tag = "4")]
    pub reserved_resources: Option<ResourceProto>,
    #[prost(message, optional, tag = "5")]
    pub needed_resources: Option<ResourceProto>,
    #[prost(int64, optional, tag = "6")]
    pub memory_seconds: Option<i64>,
    #[prost(int64, optional, tag = "7")]
    pub vcore_seconds: Option<i64>,
    #[prost(float, optional, tag = "8")]
    pub queue_usage_percentage: Option<f32>,
    #[prost(float, optional, tag = "9")]
    pub cluster_usage_percentage: Option<f32>,
    #[prost(int64, optional, tag = "10")]
    pub preempted_memory_seconds: Option<i64>,
    #[prost(int64, optional, tag = "11")]
    pub preempted_vcore_seconds: Option<i64>,
    #[prost(message, repeated, tag = "12")]
    pub application_resource_usage_map: Vec<StringLongMapProto>,
    #[prost(message, repeated, tag = "13")]
    pub application_preempted_resource_usage_map: Vec<StringLongMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ApplicationReportProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
    #[prost(string, optional, tag = "2")]
    pub user: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub queue: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub name: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "6")]
    pub rpc_port: Option<i32>,
    #[prost(message, optional, tag = "7")]
    pub client_to_am_token: Option<TokenProto>,
    #[prost(enumeration = "YarnApplicationStateProto", optional, tag = "8")]
    pub yarn_application_state: Option<i32>,
    #[prost(string, optional, tag = "9")]
    pub tracking_url: Option<String>,
    #[prost(string, optional, tag = "10", default = "N/A")]
    pub diagnostics: Option<String>,
    #[prost(int64, optional, tag = "11")]
    pub start_time: Option<i64>,
    #[prost(int64, optional, tag = "12")]
    pub finish_time: Option<i64>,
    #[prost(enumeration = "FinalApplicationStatusProto", optional, tag = "13")]
    pub final_application_status: Option<i32>,
    #[prost(message, optional, tag = "14")]
    pub app_resource_usage: Option<ApplicationResourceUsageReportProto>,
    #[prost(string, optional, tag = "15")]
    pub original_tracking_url: Option<String>,
    #[prost(message, optional, tag = "16")]
    pub current_application_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(float, optional, tag = "17")]
    pub progress: Option<f32>,
    #[prost(string, optional, tag = "18")]
    pub application_type: Option<String>,
    #[prost(message, optional, tag = "19")]
    pub am_rm_token: Option<TokenProto>,
    #[prost(string, repeated, tag = "20")]
    pub application_tags: Vec<String>,
    #[prost(enumeration = "LogAggregationStatusProto", optional, tag = "21")]
    pub log_aggregation_status: Option<i32>,
    #[prost(bool, optional, tag = "22", default = "false")]
    pub unmanaged_application: Option<bool>,
    #[prost(message, optional, tag = "23")]
    pub priority: Option<PriorityProto>,
    #[prost(string, optional, tag = "24")]
    pub app_node_label_expression: Option<String>,
    #[prost(string, optional, tag = "25")]
    pub am_node_label_expression: Option<String>,
    #[prost(int64, optional, tag = "27")]
    pub launch_time: Option<i64>,
    #[prost(int64, optional, tag = "28")]
    pub submit_time: Option<i64>,
    #[prost(string, optional, tag = "29")]
    pub rm_cluster_id: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NodeReportProto {
    #[prost(message, optional, tag = "1")]
    pub node_id: Option<NodeIdProto>,
    #[prost(string, optional, tag = "2")]
    pub http_address: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub rack_name: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub used: Option<ResourceProto>,
    #[prost(message, optional, tag = "5")]
    pub capability: Option<ResourceProto>,
    #[prost(int32, optional, tag = "6")]
    pub num_containers: Option<i32>,
    #[prost(enumeration = "NodeStateProto", optional, tag = "7")]
    pub node_state: Option<i32>,
    #[prost(string, optional, tag = "8")]
    pub health_report: Option<String>,
    #[prost(int64, optional, tag = "9")]
    pub last_health_report_time: Option<i64>,
    #[prost(string, repeated, tag = "10")]
    pub node_labels: Vec<String>,
    #[prost(uint32, optional, tag = "13")]
    pub decommissioning_timeout: Option<u32>,
    #[prost(enumeration = "NodeUpdateTypeProto", optional, tag = "14")]
    pub node_update_type: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueInfoProto {
    #[prost(string, optional, tag = "1")]
    pub queue_name: Option<String>,
    #[prost(float, optional, tag = "2")]
    pub capacity: Option<f32>,
    #[prost(float, optional, tag = "3")]
    pub maximum_capacity: Option<f32>,
    #[prost(float, optional, tag = "4")]
    pub current_capacity: Option<f32>,
    #[prost(enumeration = "QueueStateProto", optional, tag = "5")]
    pub state: Option<i32>,
    #[prost(message, repeated, tag = "6")]
    pub child_queues: Vec<QueueInfoProto>,
    #[prost(message, repeated, tag = "7")]
    pub applications: Vec<ApplicationReportProto>,
    #[prost(string, repeated, tag = "8")]
    pub accessible_node_labels: Vec<String>,
    #[prost(string, optional, tag = "9")]
    pub default_node_label_expression: Option<String>,
    #[prost(bool, optional, tag = "11")]
    pub preemption_disabled: Option<bool>,
    #[prost(bool, optional, tag = "13")]
    pub intra_queue_preemption_disabled: Option<bool>,
    #[prost(float, optional, tag = "14")]
    pub weight: Option<f32>,
    #[prost(string, optional, tag = "15")]
    pub queue_path: Option<String>,
    #[prost(int32, optional, tag = "16")]
    pub max_parallel_apps: Option<i32>,
    #[prost(string, optional, tag = "17")]
    pub scheduler_type: Option<String>,
    #[prost(int32, optional, tag = "18")]
    pub min_resource_vcore: Option<i32>,
    #[prost(int64, optional, tag = "19")]
    pub min_resource_memory: Option<i64>,
    #[prost(int32, optional, tag = "20")]
    pub max_resource_vcore: Option<i32>,
    #[prost(int64, optional, tag = "21")]
    pub max_resource_memory: Option<i64>,
    #[prost(int32, optional, tag = "22")]
    pub reserved_resource_vcore: Option<i32>,
    #[prost(int64, optional, tag = "23")]
    pub reserved_resource_memory: Option<i64>,
    #[prost(int32, optional, tag = "24")]
    pub steady_fair_share_vcore: Option<i32>,
    #[prost(int64, optional, tag = "25")]
    pub steady_fair_share_memory: Option<i64>,
    #[prost(string, optional, tag = "26")]
    pub sub_cluster_id: Option<String>,
    #[prost(int32, optional, tag = "27")]
    pub max_running_app: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct QueueUserAclInfoProto {
    #[prost(string, optional, tag = "1")]
    pub queue_name: Option<String>,
    #[prost(enumeration = "QueueAclProto", repeated, packed = "false", tag = "2")]
    pub user_acls: Vec<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct YarnClusterMetricsProto {
    #[prost(int32, optional, tag = "1")]
    pub num_node_managers: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub num_decommissioned_nms: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub num_active_nms: Option<i32>,
    #[prost(int32, optional, tag = "4")]
    pub num_lost_nms: Option<i32>,
    #[prost(int32, optional, tag = "5")]
    pub num_unhealthy_nms: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    pub num_rebooted_nms: Option<i32>,
    #[prost(int32, optional, tag = "7")]
    pub num_decommissioning_nms: Option<i32>,
    #[prost(int32, optional, tag = "8")]
    pub num_shutdown_nms: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NmTokenProto {
    #[prost(message, optional, tag = "1")]
    pub node_id: Option<NodeIdProto>,
    #[prost(message, optional, tag = "2")]
    pub token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SerializedExceptionProto {
    #[prost(string, optional, tag = "1")]
    pub message: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub trace: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub class_name: Option<String>,
    #[prost(message, optional, boxed, tag = "4")]
    pub cause: Option<Box<SerializedExceptionProto>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerExceptionMapProto {
    #[prost(message, optional, tag = "1")]
    pub container_id: Option<ContainerIdProto>,
    #[prost(message, optional, tag = "2")]
    pub exception: Option<SerializedExceptionProto>,
}

// ------------------------------------------------------------------------------------------
// ApplicationClientProtocol (yarn_service_protos.proto §4.2)

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetNewApplicationRequestProto {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetNewApplicationResponseProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
    #[prost(message, optional, tag = "2")]
    pub maximum_capability: Option<ResourceProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitApplicationRequestProto {
    #[prost(message, optional, tag = "1")]
    pub application_submission_context: Option<ApplicationSubmissionContextProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct SubmitApplicationResponseProto {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetApplicationReportRequestProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetApplicationReportResponseProto {
    #[prost(message, optional, tag = "1")]
    pub application_report: Option<ApplicationReportProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetApplicationsRequestProto {
    #[prost(string, repeated, tag = "1")]
    pub application_types: Vec<String>,
    #[prost(enumeration = "YarnApplicationStateProto", repeated, packed = "false", tag = "2")]
    pub application_states: Vec<i32>,
    #[prost(string, repeated, tag = "3")]
    pub users: Vec<String>,
    #[prost(string, repeated, tag = "4")]
    pub queues: Vec<String>,
    #[prost(int64, optional, tag = "5")]
    pub limit: Option<i64>,
    #[prost(int64, optional, tag = "6")]
    pub start_begin: Option<i64>,
    #[prost(int64, optional, tag = "7")]
    pub start_end: Option<i64>,
    #[prost(int64, optional, tag = "8")]
    pub finish_begin: Option<i64>,
    #[prost(int64, optional, tag = "9")]
    pub finish_end: Option<i64>,
    #[prost(string, repeated, tag = "10")]
    pub application_tags: Vec<String>,
    #[prost(enumeration = "ApplicationsRequestScopeProto", optional, tag = "11", default = "All")]
    pub scope: Option<i32>,
    #[prost(string, optional, tag = "12")]
    pub name: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetApplicationsResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub applications: Vec<ApplicationReportProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KillApplicationRequestProto {
    #[prost(message, optional, tag = "1")]
    pub application_id: Option<ApplicationIdProto>,
    #[prost(string, optional, tag = "2")]
    pub diagnostics: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct KillApplicationResponseProto {
    #[prost(bool, optional, tag = "1", default = "false")]
    pub is_kill_completed: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetClusterMetricsRequestProto {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetClusterMetricsResponseProto {
    #[prost(message, optional, tag = "1")]
    pub cluster_metrics: Option<YarnClusterMetricsProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetClusterNodesRequestProto {
    #[prost(enumeration = "NodeStateProto", repeated, packed = "false", tag = "1")]
    pub node_states: Vec<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetClusterNodesResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub node_reports: Vec<NodeReportProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetQueueInfoRequestProto {
    #[prost(string, optional, tag = "1")]
    pub queue_name: Option<String>,
    #[prost(bool, optional, tag = "2")]
    pub include_applications: Option<bool>,
    #[prost(bool, optional, tag = "3")]
    pub include_child_queues: Option<bool>,
    #[prost(bool, optional, tag = "4")]
    pub recursive: Option<bool>,
    #[prost(string, optional, tag = "5")]
    pub sub_cluster_id: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetQueueInfoResponseProto {
    #[prost(message, optional, tag = "1")]
    pub queue_info: Option<QueueInfoProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetQueueUserAclsInfoRequestProto {}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetQueueUserAclsInfoResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub queue_user_acls: Vec<QueueUserAclInfoProto>,
}

// ------------------------------------------------------------------------------------------
// ApplicationMasterProtocol

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterApplicationMasterRequestProto {
    #[prost(string, optional, tag = "1")]
    pub host: Option<String>,
    #[prost(int32, optional, tag = "2")]
    pub rpc_port: Option<i32>,
    #[prost(string, optional, tag = "3")]
    pub tracking_url: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct RegisterApplicationMasterResponseProto {
    #[prost(message, optional, tag = "1")]
    pub maximum_capability: Option<ResourceProto>,
    #[prost(bytes = "vec", optional, tag = "2")]
    pub client_to_am_token_master_key: Option<Vec<u8>>,
    #[prost(message, repeated, tag = "3")]
    pub application_acls: Vec<ApplicationAclMapProto>,
    #[prost(message, repeated, tag = "4")]
    pub containers_from_previous_attempts: Vec<ContainerProto>,
    #[prost(string, optional, tag = "5")]
    pub queue: Option<String>,
    #[prost(message, repeated, tag = "6")]
    pub nm_tokens_from_previous_attempts: Vec<NmTokenProto>,
    #[prost(enumeration = "SchedulerResourceTypes", repeated, packed = "false", tag = "7")]
    pub scheduler_resource_types: Vec<i32>,
    #[prost(message, repeated, tag = "9")]
    pub resource_types: Vec<ResourceTypeInfoProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FinishApplicationMasterRequestProto {
    #[prost(string, optional, tag = "1")]
    pub diagnostics: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub tracking_url: Option<String>,
    #[prost(enumeration = "FinalApplicationStatusProto", optional, tag = "3")]
    pub final_application_status: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct FinishApplicationMasterResponseProto {
    #[prost(bool, optional, tag = "1", default = "false")]
    pub is_unregistered: Option<bool>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub ask: Vec<ResourceRequestProto>,
    #[prost(message, repeated, tag = "2")]
    pub release: Vec<ContainerIdProto>,
    #[prost(message, optional, tag = "3")]
    pub blacklist_request: Option<ResourceBlacklistRequestProto>,
    #[prost(int32, optional, tag = "4")]
    pub response_id: Option<i32>,
    #[prost(float, optional, tag = "5")]
    pub progress: Option<f32>,
    #[prost(string, optional, tag = "11")]
    pub tracking_url: Option<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct AllocateResponseProto {
    #[prost(enumeration = "AmCommandProto", optional, tag = "1")]
    pub a_m_command: Option<i32>,
    #[prost(int32, optional, tag = "2")]
    pub response_id: Option<i32>,
    #[prost(message, repeated, tag = "3")]
    pub allocated_containers: Vec<ContainerProto>,
    #[prost(message, repeated, tag = "4")]
    pub completed_container_statuses: Vec<ContainerStatusProto>,
    /// Headroom.
    #[prost(message, optional, tag = "5")]
    pub limit: Option<ResourceProto>,
    #[prost(message, repeated, tag = "6")]
    pub updated_nodes: Vec<NodeReportProto>,
    #[prost(int32, optional, tag = "7")]
    pub num_cluster_nodes: Option<i32>,
    #[prost(message, repeated, tag = "9")]
    pub nm_tokens: Vec<NmTokenProto>,
    #[prost(message, optional, tag = "12")]
    pub am_rm_token: Option<TokenProto>,
    #[prost(message, optional, tag = "13")]
    pub application_priority: Option<PriorityProto>,
    #[prost(message, repeated, tag = "17")]
    pub containers_from_previous_attempts: Vec<ContainerProto>,
}

// ------------------------------------------------------------------------------------------
// ContainerManagementProtocol

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainerRequestProto {
    #[prost(message, optional, tag = "1")]
    pub container_launch_context: Option<ContainerLaunchContextProto>,
    #[prost(message, optional, tag = "2")]
    pub container_token: Option<TokenProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainersRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub start_container_request: Vec<StartContainerRequestProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StartContainersResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub services_meta_data: Vec<StringBytesMapProto>,
    #[prost(message, repeated, tag = "2")]
    pub succeeded_requests: Vec<ContainerIdProto>,
    #[prost(message, repeated, tag = "3")]
    pub failed_requests: Vec<ContainerExceptionMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainersRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub container_id: Vec<ContainerIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct StopContainersResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub succeeded_requests: Vec<ContainerIdProto>,
    #[prost(message, repeated, tag = "2")]
    pub failed_requests: Vec<ContainerExceptionMapProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetContainerStatusesRequestProto {
    #[prost(message, repeated, tag = "1")]
    pub container_id: Vec<ContainerIdProto>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct GetContainerStatusesResponseProto {
    #[prost(message, repeated, tag = "1")]
    pub status: Vec<ContainerStatusProto>,
    #[prost(message, repeated, tag = "2")]
    pub failed_requests: Vec<ContainerExceptionMapProto>,
}

// ------------------------------------------------------------------------------------------
// Token identifiers (yarn_security_token.proto §3.1). A token's identifier bytes are the raw
// serialization of one of these (no length prefix).

#[derive(Clone, PartialEq, prost::Message)]
pub struct AmrmTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(int32, optional, tag = "2", default = "-1")]
    pub key_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct NmTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(message, optional, tag = "2")]
    pub node_id: Option<NodeIdProto>,
    #[prost(string, optional, tag = "3")]
    pub app_submitter: Option<String>,
    #[prost(int32, optional, tag = "4", default = "-1")]
    pub key_id: Option<i32>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ContainerTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub container_id: Option<ContainerIdProto>,
    /// `host:port` of the NM.
    #[prost(string, optional, tag = "2")]
    pub nm_host_addr: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub app_submitter: Option<String>,
    #[prost(message, optional, tag = "4")]
    pub resource: Option<ResourceProto>,
    #[prost(int64, optional, tag = "5")]
    pub expiry_time_stamp: Option<i64>,
    #[prost(int32, optional, tag = "6", default = "-1")]
    pub master_key_id: Option<i32>,
    #[prost(int64, optional, tag = "7")]
    pub rm_identifier: Option<i64>,
    #[prost(message, optional, tag = "8")]
    pub priority: Option<PriorityProto>,
    #[prost(int64, optional, tag = "9")]
    pub creation_time: Option<i64>,
    #[prost(string, optional, tag = "11")]
    pub node_label_expression: Option<String>,
    #[prost(enumeration = "ContainerTypeProto", optional, tag = "12")]
    pub container_type: Option<i32>,
    #[prost(enumeration = "ExecutionTypeProto", optional, tag = "13", default = "Guaranteed")]
    pub execution_type: Option<i32>,
    #[prost(int32, optional, tag = "14", default = "0")]
    pub version: Option<i32>,
    #[prost(int64, optional, tag = "15", default = "-1")]
    pub allocation_request_id: Option<i64>,
    #[prost(string, repeated, tag = "16")]
    pub allocation_tags: Vec<String>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub struct ClientToAmTokenIdentifierProto {
    #[prost(message, optional, tag = "1")]
    pub app_attempt_id: Option<ApplicationAttemptIdProto>,
    #[prost(string, optional, tag = "2")]
    pub client_name: Option<String>,
}

/// Token kinds (Text) of YARN's identifiers.
pub mod kind {
    /// `AMRMTokenIdentifier.KIND_NAME`.
    pub const AMRM_TOKEN: &str = "YARN_AM_RM_TOKEN";
    /// `NMTokenIdentifier.KIND`.
    pub const NM_TOKEN: &str = "NMToken";
    /// `ContainerTokenIdentifier.KIND`.
    pub const CONTAINER_TOKEN: &str = "ContainerToken";
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn amrm_identifier_encodes_as_the_reference_example() {
        // attempt 1 of application_1700000000000_0007, keyId 42 (§3.1).
        let id = AmrmTokenIdentifierProto {
            app_attempt_id: Some(ApplicationAttemptIdProto {
                application_id: Some(ApplicationIdProto { id: Some(7), cluster_timestamp: Some(1_700_000_000_000) }),
                attempt_id: Some(1),
            }),
            key_id: Some(42),
        };
        let bytes = id.encode_to_vec();
        assert_eq!(hex(&bytes), "0a 0d 0a 09 08 07 10 80 d0 95 ff bc 31 10 01 10 2a");
        assert_eq!(AmrmTokenIdentifierProto::decode(bytes.as_slice()).unwrap(), id);
    }

    #[test]
    fn defaults_are_yarns() {
        let s = ContainerStatusProto::default();
        assert_eq!(s.exit_status(), -1000);
        assert_eq!(s.diagnostics(), "N/A");
        assert_eq!(s.execution_type(), ExecutionTypeProto::Guaranteed);
        let r = ResourceRequestProto::default();
        assert!(r.relax_locality());
        assert_eq!(r.allocation_request_id(), -1);
        let a = ApplicationSubmissionContextProto::default();
        assert_eq!((a.application_name(), a.queue(), a.application_type()), ("N/A", "default", "YARN"));
        assert!(a.cancel_tokens_when_complete());
        assert_eq!(a.attempt_failures_validity_interval(), -1);
        assert_eq!(AmrmTokenIdentifierProto::default().key_id(), -1);
        assert_eq!(ApplicationAclMapProto::default().acl(), " ");
        assert_eq!(GetApplicationsRequestProto::default().scope(), ApplicationsRequestScopeProto::All);
        // An empty message is zero bytes; absent optionals are not written.
        assert!(GetNewApplicationRequestProto::default().encode_to_vec().is_empty());
        assert!(ContainerProto::default().encode_to_vec().is_empty());
    }

    #[test]
    fn unknown_fields_and_enum_values_are_tolerated() {
        // A ContainerStatusProto with a field 99 (varint) and state 77, from a newer writer.
        let mut b = ContainerStatusProto { state: Some(2), ..Default::default() }.encode_to_vec();
        b.extend([0x98, 0x06, 0x05]); // tag 99 varint 5
        b.extend([0x10, 77]); // state = 77 (last wins)
        let s = ContainerStatusProto::decode(b.as_slice()).unwrap();
        assert_eq!(s.state, Some(77));
        // The getter falls back to the default for a value it does not know.
        assert_eq!(s.state(), ContainerStateProto::CNew);
    }

    #[test]
    fn a_url_with_port_minus_one_takes_ten_bytes() {
        let u = UrlProto { scheme: Some("file".into()), port: Some(-1), file: Some("/opt/app/x.jar".into()), ..Default::default() };
        let b = u.encode_to_vec();
        // 0a 04 "file" 18 <10-byte varint -1> 22 0e "/opt/app/x.jar"
        assert_eq!(&b[6..17], &[0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(UrlProto::decode(b.as_slice()).unwrap(), u);
    }

    #[test]
    fn recursive_exception_round_trips() {
        let e = SerializedExceptionProto {
            message: Some("outer".into()),
            class_name: Some("org.apache.hadoop.yarn.exceptions.YarnException".into()),
            cause: Some(Box::new(SerializedExceptionProto { message: Some("inner".into()), ..Default::default() })),
            ..Default::default()
        };
        assert_eq!(SerializedExceptionProto::decode(e.encode_to_vec().as_slice()).unwrap(), e);
    }
}
