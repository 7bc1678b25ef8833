//! The NodeManager's REST records (`/ws/v1/node/...`), field for field as YARN's DAOs
//! (NodeInfo, AppInfo, ContainerInfo) serialize them.

use serde::{Deserialize, Serialize};

/// The versions this NodeManager reports.
pub const NM_VERSION: &str = "3.3.6";
pub const NM_BUILD_VERSION: &str = "3.3.6 from yarn-sim";
pub const NM_BUILT_ON: &str = "2023-06-18T08:22Z";

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    pub id: String,
    pub node_host_name: String,
    #[serde(rename = "totalPmemAllocatedContainersMB")]
    pub total_pmem_allocated_containers_mb: u64,
    #[serde(rename = "totalVmemAllocatedContainersMB")]
    pub total_vmem_allocated_containers_mb: u64,
    #[serde(rename = "totalVCoresAllocatedContainers")]
    pub total_vcores_allocated_containers: u32,
    pub vmem_check_enabled: bool,
    pub pmem_check_enabled: bool,
    /// Milliseconds since the epoch of the last heartbeat answer (0 before the first).
    pub last_node_update_time: u64,
    pub nm_startup_time: u64,
    pub health_report: String,
    pub node_healthy: bool,
    pub node_manager_version: String,
    pub node_manager_build_version: String,
    pub node_manager_version_built_on: String,
    pub hadoop_version: String,
    pub hadoop_build_version: String,
    pub hadoop_version_built_on: String,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct NmAppInfo {
    pub id: String,
    /// The NM-side application state name.
    pub state: String,
    pub user: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub containerids: Vec<String>,
}

#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NmContainerInfo {
    pub id: String,
    /// The NM-side container state name.
    pub state: String,
    pub node_id: String,
    pub container_logs_link: String,
    pub user: String,
    pub exit_code: i32,
    pub diagnostics: String,
    #[serde(rename = "totalMemoryNeededMB")]
    pub total_memory_needed_mb: u64,
    #[serde(rename = "totalVCoresNeeded")]
    pub total_vcores_needed: u32,
    pub execution_type: String,
    pub container_log_files: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_match_yarn() {
        let c = NmContainerInfo {
            id: "c".into(),
            state: "RUNNING".into(),
            node_id: "h:1".into(),
            container_logs_link: "l".into(),
            user: "u".into(),
            exit_code: -1000,
            diagnostics: String::new(),
            total_memory_needed_mb: 1,
            total_vcores_needed: 1,
            execution_type: "GUARANTEED".into(),
            container_log_files: vec![],
        };
        let v = serde_json::to_value(&c).unwrap();
        for k in
            ["nodeId", "containerLogsLink", "exitCode", "totalMemoryNeededMB", "totalVCoresNeeded", "executionType", "containerLogFiles"]
        {
            assert!(v.get(k).is_some(), "{k}");
        }
        let a = NmAppInfo { id: "a".into(), state: "RUNNING".into(), user: "u".into(), containerids: vec![] };
        assert!(serde_json::to_value(&a).unwrap().get("containerids").is_none());
    }
}
