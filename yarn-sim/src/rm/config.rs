//! `RmConfig`: the ResourceManager's settings read from yarn-site.xml and
//! capacity-scheduler.xml, with YARN's keys, defaults and start-up validation.

use std::time::Duration;

use crate::conf::Configuration;
use crate::records::Resource;

pub const MIN_ALLOC_MB: &str = "yarn.scheduler.minimum-allocation-mb";
pub const MAX_ALLOC_MB: &str = "yarn.scheduler.maximum-allocation-mb";
pub const MIN_ALLOC_VCORES: &str = "yarn.scheduler.minimum-allocation-vcores";
pub const MAX_ALLOC_VCORES: &str = "yarn.scheduler.maximum-allocation-vcores";
pub const AM_MAX_ATTEMPTS: &str = "yarn.resourcemanager.am.max-attempts";
pub const AM_EXPIRY_MS: &str = "yarn.am.liveness-monitor.expiry-interval-ms";
pub const NM_EXPIRY_MS: &str = "yarn.nm.liveness-monitor.expiry-interval-ms";
pub const NM_HEARTBEAT_MS: &str = "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms";
pub const CONTAINER_ALLOC_EXPIRY_MS: &str = "yarn.resourcemanager.rm.container-allocation.expiry-interval-ms";
pub const MAX_COMPLETED_APPS: &str = "yarn.resourcemanager.max-completed-applications";
pub const WEBAPP_ADDRESS: &str = "yarn.resourcemanager.webapp.address";
pub const RECOVERY_ENABLED: &str = "yarn.resourcemanager.recovery.enabled";
pub const STORE_CLASS: &str = "yarn.resourcemanager.store.class";
pub const FS_STATE_STORE_URI: &str = "yarn.resourcemanager.fs.state-store.uri";
pub const CLUSTER_ID: &str = "yarn.resourcemanager.cluster-id";
/// YARN's default store class, and the only one here.
pub const FS_STATE_STORE_CLASS: &str = "org.apache.hadoop.yarn.server.resourcemanager.recovery.FileSystemRMStateStore";
/// `${hadoop.tmp.dir}/yarn/system/rmstore` in YARN; here relative to the shared store.
pub const DEFAULT_FS_STATE_STORE_URI: &str = "yarn/system/rmstore";
pub const CS_PREFIX: &str = "yarn.scheduler.capacity.";
pub const CS_MAX_AM_PERCENT: &str = "yarn.scheduler.capacity.maximum-am-resource-percent";
pub const MAX_APP_PRIORITY: &str = "yarn.cluster.max-application-priority";
pub const CS_ASYNC_SCHEDULING: &str = "yarn.scheduler.capacity.schedule-asynchronously.enable";
pub const CS_ASYNC_SCHEDULING_INTERVAL_MS: &str = "yarn.scheduler.capacity.schedule-asynchronously.scheduling-interval-ms";

/// Whether a queue accepts applications (`QueueState`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum QueueState {
    Running,
    Stopped,
}

impl QueueState {
    pub fn name(self) -> &'static str {
        match self {
            QueueState::Running => "RUNNING",
            QueueState::Stopped => "STOPPED",
        }
    }
}

/// One queue of the capacity-scheduler tree as configured; `children` empty means leaf.
#[derive(Clone, Debug)]
pub struct QueueConf {
    /// Short name ("default"); the root is "root".
    pub name: String,
    /// Full path ("root.default").
    pub path: String,
    /// Percent of the parent's capacity guaranteed to this queue.
    pub capacity: f64,
    /// Percent of the parent's capacity this queue may grow to.
    pub maximum_capacity: f64,
    pub state: QueueState,
    /// `acl_submit_applications` and `acl_administer_queue` as configured; unset means "*"
    /// on the root and " " (no one) below it, so a queue's ACL is its own or an ancestor's.
    pub acl_submit_applications: String,
    pub acl_administer_queue: String,
    pub children: Vec<QueueConf>,
}

#[derive(Clone, Debug)]
pub struct RmConfig {
    pub minimum_allocation: Resource,
    pub maximum_allocation: Resource,
    pub am_max_attempts: u32,
    pub am_expiry: Duration,
    pub nm_expiry: Duration,
    pub nm_heartbeat_interval_ms: u64,
    pub container_alloc_expiry: Duration,
    pub max_completed_applications: usize,
    /// `host:port` of the RM web UI; tracking URLs point at its proxy.
    pub webapp_address: String,
    pub max_am_resource_percent: f64,
    pub root_queue: QueueConf,
    /// `yarn.resourcemanager.recovery.enabled`: keep apps and attempts in the state store and
    /// recover them (work-preserving) on start.
    pub recovery_enabled: bool,
    /// The state store's root in the shared store (`yarn.resourcemanager.fs.state-store.uri`).
    pub state_store_root: String,
    /// `yarn.resourcemanager.cluster-id` (default `yarn-cluster`): the store refuses another's.
    pub cluster_id: String,
    /// `yarn.acl.enable`, `yarn.admin.acl` and the group mapping.
    pub acls: super::acls::AclConfig,
    /// `yarn.cluster.max-application-priority` (YARN's default 0): priority updates are capped.
    pub max_application_priority: i32,
    /// CapacityScheduler's asynchronous scheduling: with it, asks are placed within this
    /// interval of arriving instead of at the next NodeManager heartbeat (None: off, YARN's
    /// default).
    pub async_scheduling: Option<Duration>,
}

impl Default for RmConfig {
    fn default() -> Self {
        RmConfig::from_conf(&Configuration::new()).expect("YARN's defaults are valid")
    }
}

impl RmConfig {
    pub fn from_conf(conf: &Configuration) -> Result<RmConfig, String> {
        let min_mb = conf.get_u64(MIN_ALLOC_MB, 1024)?;
        let max_mb = conf.get_u64(MAX_ALLOC_MB, 8192)?;
        let min_vc = conf.get_u64(MIN_ALLOC_VCORES, 1)? as u32;
        let max_vc = conf.get_u64(MAX_ALLOC_VCORES, 4)? as u32;
        // YarnConfiguration/SchedulerUtils refuse an inverted or zero range at start-up.
        if min_mb == 0 || max_mb < min_mb {
            return Err(format!(
                "Invalid resource scheduler memory allocation configuration, {MIN_ALLOC_MB}={min_mb}, {MAX_ALLOC_MB}={max_mb}, min should equal greater than 0, max should be no smaller than min."
            ));
        }
        if min_vc == 0 || max_vc < min_vc {
            return Err(format!(
                "Invalid resource scheduler vcores allocation configuration, {MIN_ALLOC_VCORES}={min_vc}, {MAX_ALLOC_VCORES}={max_vc}, min should equal greater than 0, max should be no smaller than min."
            ));
        }
        let attempts = conf.get_i64(AM_MAX_ATTEMPTS, 2)?;
        if attempts <= 0 {
            return Err(format!(
                "Invalid global max attempts configuration, {AM_MAX_ATTEMPTS}={attempts}, it should be a positive integer."
            ));
        }
        let nm_expiry = conf.get_u64(NM_EXPIRY_MS, 600_000)?;
        let hb = conf.get_u64(NM_HEARTBEAT_MS, 1000)?;
        if hb == 0 {
            return Err(format!("Invalid NM heartbeat interval {NM_HEARTBEAT_MS}={hb}, it should be a positive number."));
        }
        if nm_expiry < hb {
            return Err("Nodemanager expiry interval should be no less than heartbeat interval".into());
        }
        let max_am = conf.get_f64(CS_MAX_AM_PERCENT, 0.1)?;
        if !(0.0..=1.0).contains(&max_am) {
            return Err(format!("Illegal {CS_MAX_AM_PERCENT}={max_am}, it should be between 0 and 1"));
        }
        let root_queue = queue_conf(conf, "root", "root", 100.0, 100.0)?;
        let recovery_enabled = conf.get_bool(RECOVERY_ENABLED, false)?;
        let class = conf.get_or(STORE_CLASS, FS_STATE_STORE_CLASS);
        if recovery_enabled && class.trim() != FS_STATE_STORE_CLASS && class.trim() != "FileSystemRMStateStore" {
            return Err(format!("{STORE_CLASS}={class} is not supported: only {FS_STATE_STORE_CLASS} (on the shared store) is"));
        }
        let uri = conf.get_or(FS_STATE_STORE_URI, DEFAULT_FS_STATE_STORE_URI);
        let state_store_root = engine::store::check_path(uri.trim())
            .map_err(|e| format!("Invalid {FS_STATE_STORE_URI}={uri}: {e} (it must be a path in the shared store)"))?;
        let cluster_id = conf.get_or(CLUSTER_ID, "yarn-cluster");
        if cluster_id.trim().is_empty() {
            return Err(format!("{CLUSTER_ID} must not be empty"));
        }
        let acls = super::acls::AclConfig::from_conf(conf)?;
        let max_application_priority = conf.get_i64(MAX_APP_PRIORITY, 0)?.clamp(0, i32::MAX as i64) as i32;
        let async_scheduling = if conf.get_bool(CS_ASYNC_SCHEDULING, false)? {
            Some(Duration::from_millis(conf.get_u64(CS_ASYNC_SCHEDULING_INTERVAL_MS, 5)?.max(1)))
        } else {
            None
        };
        Ok(RmConfig {
            async_scheduling,
            acls,
            max_application_priority,
            recovery_enabled,
            state_store_root,
            cluster_id: cluster_id.trim().to_string(),
            minimum_allocation: Resource::new(min_mb, min_vc),
            maximum_allocation: Resource::new(max_mb, max_vc),
            am_max_attempts: attempts.min(u32::MAX as i64) as u32,
            am_expiry: Duration::from_millis(conf.get_u64(AM_EXPIRY_MS, 600_000)?),
            nm_expiry: Duration::from_millis(nm_expiry),
            nm_heartbeat_interval_ms: hb,
            container_alloc_expiry: Duration::from_millis(conf.get_u64(CONTAINER_ALLOC_EXPIRY_MS, 600_000)?),
            max_completed_applications: conf.get_u64(MAX_COMPLETED_APPS, 1000)? as usize,
            webapp_address: conf.get_or(WEBAPP_ADDRESS, "0.0.0.0:8088"),
            max_am_resource_percent: max_am,
            root_queue,
        })
    }
}

/// Reads one queue and, recursively, its children. The root's children default to "default"
/// (capacity-scheduler.xml ships with exactly that queue).
fn queue_conf(conf: &Configuration, name: &str, path: &str, capacity: f64, maximum: f64) -> Result<QueueConf, String> {
    let key = |k: &str| format!("{CS_PREFIX}{path}.{k}");
    let mut children_names = conf.get_strings(&key("queues"));
    if path == "root" && children_names.is_empty() {
        children_names.push("default".into());
    }
    let state = match conf.get(&key("state")).map(|s| s.trim().to_ascii_uppercase()) {
        None => QueueState::Running,
        Some(s) if s == "RUNNING" => QueueState::Running,
        Some(s) if s == "STOPPED" => QueueState::Stopped,
        Some(s) => return Err(format!("Invalid queue state {s} for queue {path}")),
    };
    let mut children = Vec::new();
    for child in &children_names {
        let cpath = format!("{path}.{child}");
        let ckey = |k: &str| format!("{CS_PREFIX}{cpath}.{k}");
        // A lone child with no capacity set gets everything, as the shipped default queue does.
        let default_cap = if children_names.len() == 1 { 100.0 } else { 0.0 };
        let cap = conf.get_f64(&ckey("capacity"), default_cap)?;
        let max = conf.get_f64(&ckey("maximum-capacity"), 100.0)?;
        let max = if max < 0.0 { 100.0 } else { max };
        if !(0.0..=100.0).contains(&cap) {
            return Err(format!("Illegal capacity of {} for queue {cpath}", cap / 100.0));
        }
        if max > 100.0 {
            return Err(format!("Illegal value  of maximumCapacity {} used in call to setMaxCapacity for queue {child}", max / 100.0));
        }
        if cap > max {
            return Err(format!(
                "Illegal queue capacity setting (abs-capacity={}) > (abs-maximum-capacity={}) for queue {cpath}",
                cap / 100.0,
                max / 100.0
            ));
        }
        children.push(queue_conf(conf, child, &cpath, cap, max)?);
    }
    if !children.is_empty() {
        let sum: f64 = children.iter().map(|c| c.capacity).sum();
        // CSQueueUtils allows float slack of 1e-6 around 100.
        if (sum - 100.0).abs() > 1e-6 {
            // ParentQueue prints the sum as a fraction, the way Java prints a float (0.9, 1.1).
            return Err(format!("Illegal capacity sum of {:?} for children of queue {path}", (sum / 100.0 * 1e6).round() / 1e6));
        }
    }
    let acl_default = if path == "root" { "*" } else { " " };
    let acl_submit_applications = conf.get_or(&key(super::acls::QueueACL::SubmitApplications.key()), acl_default);
    let acl_administer_queue = conf.get_or(&key(super::acls::QueueACL::AdministerQueue.key()), acl_default);
    Ok(QueueConf {
        name: name.to_string(),
        path: path.to_string(),
        capacity,
        maximum_capacity: maximum,
        state,
        acl_submit_applications,
        acl_administer_queue,
        children,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_yarns() {
        let c = RmConfig::default();
        assert_eq!(c.minimum_allocation, Resource::new(1024, 1));
        assert_eq!(c.maximum_allocation, Resource::new(8192, 4));
        assert_eq!(c.am_max_attempts, 2);
        assert_eq!(c.nm_heartbeat_interval_ms, 1000);
        assert_eq!(c.nm_expiry, Duration::from_millis(600_000));
        assert_eq!(c.max_completed_applications, 1000);
        assert_eq!(c.root_queue.children.len(), 1);
        assert_eq!(c.root_queue.children[0].path, "root.default");
        assert_eq!(c.root_queue.children[0].capacity, 100.0);
    }

    #[test]
    fn validation_messages() {
        let mut conf = Configuration::new();
        conf.set(AM_MAX_ATTEMPTS, 0);
        assert_eq!(
            RmConfig::from_conf(&conf).unwrap_err(),
            "Invalid global max attempts configuration, yarn.resourcemanager.am.max-attempts=0, it should be a positive integer."
        );
        let mut conf = Configuration::new();
        conf.set(NM_EXPIRY_MS, 500);
        assert_eq!(RmConfig::from_conf(&conf).unwrap_err(), "Nodemanager expiry interval should be no less than heartbeat interval");
        let mut conf = Configuration::new();
        conf.set("yarn.scheduler.capacity.root.queues", "a,b");
        conf.set("yarn.scheduler.capacity.root.a.capacity", 60);
        conf.set("yarn.scheduler.capacity.root.b.capacity", 30);
        assert_eq!(RmConfig::from_conf(&conf).unwrap_err(), "Illegal capacity sum of 0.9 for children of queue root");
        conf.set("yarn.scheduler.capacity.root.b.capacity", 40);
        conf.set("yarn.scheduler.capacity.root.b.maximum-capacity", 50);
        conf.set("yarn.scheduler.capacity.root.b.state", "STOPPED");
        let c = RmConfig::from_conf(&conf).unwrap();
        assert_eq!(c.root_queue.children[1].maximum_capacity, 50.0);
        assert_eq!(c.root_queue.children[1].state, QueueState::Stopped);
    }
}
