//! The NodeManager's settings, read once from a `Configuration` (yarn-site.xml) plus what the
//! harness decides per node (its HTTP address, the conf dir its containers see).

use std::time::Duration;

use engine::Addr;

use crate::conf::Configuration;
use crate::records::Resource;

/// yarn-default.xml keys the NodeManager reads.
pub mod keys {
    pub const NM_PMEM_MB: &str = "yarn.nodemanager.resource.memory-mb";
    pub const NM_VCORES: &str = "yarn.nodemanager.resource.cpu-vcores";
    pub const NM_LOCAL_DIRS: &str = "yarn.nodemanager.local-dirs";
    pub const NM_LOG_DIRS: &str = "yarn.nodemanager.log-dirs";
    pub const NM_PMEM_CHECK_ENABLED: &str = "yarn.nodemanager.pmem-check-enabled";
    pub const NM_VMEM_CHECK_ENABLED: &str = "yarn.nodemanager.vmem-check-enabled";
    pub const NM_VMEM_PMEM_RATIO: &str = "yarn.nodemanager.vmem-pmem-ratio";
    pub const NM_CONTAINER_MON_INTERVAL_MS: &str = "yarn.nodemanager.container-monitor.interval-ms";
    pub const NM_SLEEP_DELAY_BEFORE_SIGKILL_MS: &str = "yarn.nodemanager.sleep-delay-before-sigkill.ms";
    pub const RM_RESOURCE_TRACKER_ADDRESS: &str = "yarn.resourcemanager.resource-tracker.address";
    pub const RM_NM_HEARTBEAT_INTERVAL_MS: &str = "yarn.resourcemanager.nodemanagers.heartbeat-interval-ms";
    pub const RM_CONNECT_RETRY_INTERVAL_MS: &str = "yarn.resourcemanager.connect.retry-interval.ms";
    pub const NM_USER_HOME_DIR: &str = "yarn.nodemanager.user-home-dir";
    pub const RM_WORK_PRESERVING_RECOVERY_ENABLED: &str = "yarn.resourcemanager.work-preserving-recovery.enabled";
    pub const NM_RECOVERY_ENABLED: &str = "yarn.nodemanager.recovery.enabled";
    pub const NM_RECOVERY_DIR: &str = "yarn.nodemanager.recovery.dir";
    pub const NM_DURATION_TO_TRACK_STOPPED_CONTAINERS: &str = "yarn.nodemanager.duration-to-track-stopped-containers";
    pub const NM_ENV_WHITELIST: &str = "yarn.nodemanager.env-whitelist";
    pub const NM_ADMIN_USER_ENV: &str = "yarn.nodemanager.admin-env";
}

/// yarn-default.xml's `yarn.nodemanager.env-whitelist`.
pub const DEFAULT_ENV_WHITELIST: &str =
    "JAVA_HOME,HADOOP_COMMON_HOME,HADOOP_HDFS_HOME,HADOOP_CONF_DIR,CLASSPATH_PREPEND_DISTCACHE,HADOOP_YARN_HOME,HADOOP_HOME,PATH,LANG,TZ";
/// yarn-default.xml's `yarn.nodemanager.admin-env`.
pub const DEFAULT_ADMIN_ENV: &str = "MALLOC_ARENA_MAX=$MALLOC_ARENA_MAX";

#[derive(Clone, Debug, PartialEq)]
pub struct NmConfig {
    /// What the node offers to containers.
    pub resource: Resource,
    /// Absolute paths; container working dirs live under them.
    pub local_dirs: Vec<String>,
    /// Absolute paths; container logs live under them.
    pub log_dirs: Vec<String>,
    pub pmem_check_enabled: bool,
    pub vmem_check_enabled: bool,
    pub vmem_pmem_ratio: f64,
    pub monitor_interval: Duration,
    pub sleep_delay_before_sigkill: Duration,
    pub resource_tracker_address: Addr,
    /// `host:port` of the NM's web server, for REST links and NM_HTTP_PORT.
    pub http_address: String,
    /// Exported to containers as HADOOP_CONF_DIR.
    pub hadoop_conf_dir: String,
    /// Used until the RM dictates its own interval at registration.
    pub heartbeat_interval: Duration,
    /// How often an unanswered registration is sent again.
    pub register_retry_interval: Duration,
    /// HOME inside containers.
    pub user_home_dir: String,
    /// The cluster secret (hex) every container gets in `YARN_SIM_CLUSTER_SECRET`, as YARN hands
    /// containers their tokens; None in the simulation, where nothing is authenticated.
    pub cluster_secret: Option<String>,
    /// `yarn.resourcemanager.work-preserving-recovery.enabled` (YARN: true): on an RM resync
    /// the NM re-registers with its containers instead of killing them; an RM that did not
    /// recover them has them cleaned up on the next heartbeat.
    pub work_preserving_recovery: bool,
    /// `yarn.nodemanager.duration-to-track-stopped-containers` (YARN: 600000 ms): how long a
    /// completed container the RM has recorded stays in the NM's container list.
    pub duration_to_track_stopped_containers: Duration,
    /// `yarn.nodemanager.recovery.enabled` (false): containers outlive an NM crash and a
    /// restarted NM on the same address reacquires them.
    pub recovery_enabled: bool,
    /// `yarn.nodemanager.recovery.dir` (YARN: `${hadoop.tmp.dir}/yarn-nm-recovery`; here
    /// `<first local dir>/yarn-nm-recovery`): the NM's record of each container.
    pub recovery_dir: String,
    /// `yarn.nodemanager.env-whitelist`: NM variables a container inherits unless its launch
    /// context sets them.
    pub env_whitelist: Vec<String>,
    /// `yarn.nodemanager.admin-env` (`K=V,...`): forced into every container.
    pub admin_env: Vec<(String, String)>,
    /// The NM process's own values of the whitelisted variables and of those the admin env
    /// names (`$MALLOC_ARENA_MAX`), captured by the daemon at start (node code reads no
    /// environment); `hadoop_conf_dir` stands before HADOOP_CONF_DIR's.
    pub inherited_env: std::collections::BTreeMap<String, String>,
}

fn millis(conf: &Configuration, key: &str, default: u64) -> Result<Duration, String> {
    Ok(Duration::from_millis(conf.get_u64(key, default)?))
}

fn absolute_dirs(conf: &Configuration, key: &str) -> Result<Vec<String>, String> {
    let dirs = conf.get_strings(key);
    if dirs.is_empty() {
        return Err(format!("{key} is not set: the NodeManager needs at least one directory"));
    }
    for d in &dirs {
        if !d.starts_with('/') {
            return Err(format!("{key}: '{d}' is not an absolute path"));
        }
    }
    Ok(dirs.into_iter().map(|d| d.trim_end_matches('/').to_string()).collect())
}

impl NmConfig {
    /// Reads the NM's keys with yarn-default.xml's defaults, except vmem-check-enabled, which
    /// defaults to false here: the harness's multi-threaded processes reserve far more address
    /// space than they use, and YARN's own docs advise turning the check off for such loads.
    pub fn from_conf(
        conf: &Configuration,
        http_address: impl Into<String>,
        hadoop_conf_dir: impl Into<String>,
    ) -> Result<NmConfig, String> {
        let vcores = conf.get_u64(keys::NM_VCORES, 8)?;
        let resource = Resource::new(
            conf.get_u64(keys::NM_PMEM_MB, 8192)?,
            u32::try_from(vcores).map_err(|_| format!("{}: {vcores} is too large", keys::NM_VCORES))?,
        );
        let vmem_pmem_ratio = conf.get_f64(keys::NM_VMEM_PMEM_RATIO, 2.1)?;
        if vmem_pmem_ratio <= 0.99 {
            return Err(format!("{} should be at least 1.0", keys::NM_VMEM_PMEM_RATIO));
        }
        let tracker =
            conf.get(keys::RM_RESOURCE_TRACKER_ADDRESS).ok_or_else(|| format!("{} is not set", keys::RM_RESOURCE_TRACKER_ADDRESS))?;
        let resource_tracker_address: Addr = tracker
            .trim()
            .parse()
            .map_err(|_| format!("{}: '{}' is not an IPv4 host:port", keys::RM_RESOURCE_TRACKER_ADDRESS, tracker.trim()))?;
        let local_dirs = absolute_dirs(conf, keys::NM_LOCAL_DIRS)?;
        let recovery_dir = match conf.get(keys::NM_RECOVERY_DIR) {
            Some(d) if d.trim().starts_with('/') => d.trim().trim_end_matches('/').to_string(),
            Some(d) => return Err(format!("{}: '{}' is not an absolute path", keys::NM_RECOVERY_DIR, d.trim())),
            None => format!("{}/yarn-nm-recovery", local_dirs[0]),
        };
        Ok(NmConfig {
            resource,
            local_dirs,
            log_dirs: absolute_dirs(conf, keys::NM_LOG_DIRS)?,
            pmem_check_enabled: conf.get_bool(keys::NM_PMEM_CHECK_ENABLED, true)?,
            vmem_check_enabled: conf.get_bool(keys::NM_VMEM_CHECK_ENABLED, false)?,
            vmem_pmem_ratio,
            monitor_interval: millis(conf, keys::NM_CONTAINER_MON_INTERVAL_MS, 3000)?,
            sleep_delay_before_sigkill: millis(conf, keys::NM_SLEEP_DELAY_BEFORE_SIGKILL_MS, 250)?,
            resource_tracker_address,
            http_address: http_address.into(),
            hadoop_conf_dir: hadoop_conf_dir.into(),
            heartbeat_interval: millis(conf, keys::RM_NM_HEARTBEAT_INTERVAL_MS, 1000)?,
            register_retry_interval: millis(conf, keys::RM_CONNECT_RETRY_INTERVAL_MS, 1000)?,
            user_home_dir: conf.get_or(keys::NM_USER_HOME_DIR, "/home/"),
            cluster_secret: None,
            work_preserving_recovery: conf.get_bool(keys::RM_WORK_PRESERVING_RECOVERY_ENABLED, true)?,
            duration_to_track_stopped_containers: millis(conf, keys::NM_DURATION_TO_TRACK_STOPPED_CONTAINERS, 600_000)?,
            recovery_enabled: conf.get_bool(keys::NM_RECOVERY_ENABLED, false)?,
            recovery_dir,
            env_whitelist: conf
                .get(keys::NM_ENV_WHITELIST)
                .unwrap_or_else(|| DEFAULT_ENV_WHITELIST.to_string())
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
            admin_env: parse_env_list(
                keys::NM_ADMIN_USER_ENV,
                &conf.get(keys::NM_ADMIN_USER_ENV).unwrap_or_else(|| DEFAULT_ADMIN_ENV.to_string()),
            )?,
            inherited_env: std::collections::BTreeMap::new(),
        })
    }

    /// The NM's value of a whitelisted variable, if it has one.
    pub fn nm_env(&self, key: &str) -> Option<&str> {
        // The conf dir the harness gives containers comes before the NM's own.
        if key == crate::proto::env::HADOOP_CONF_DIR && !self.hadoop_conf_dir.is_empty() {
            return Some(&self.hadoop_conf_dir);
        }
        self.inherited_env.get(key).map(String::as_str)
    }

    /// The variables whose NM values containers may get: the whitelist and what the admin env
    /// refers to.
    pub fn inheritable(&self) -> Vec<String> {
        let mut names: Vec<String> = self.env_whitelist.clone();
        for (_, v) in &self.admin_env {
            for part in v.split('$').skip(1) {
                let name: String = part.trim_start_matches('{').chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && !names.contains(&name) {
                    names.push(name);
                }
            }
        }
        names
    }

    /// The port of the web address, as containers see it in NM_HTTP_PORT.
    pub fn http_port(&self) -> String {
        self.http_address.rsplit_once(':').map(|(_, p)| p.to_string()).unwrap_or_default()
    }

    /// Virtual memory the node's containers may use in total (REST's totalVmemAllocatedContainersMB).
    pub fn vmem_mb(&self) -> u64 {
        (self.resource.memory_mb as f64 * self.vmem_pmem_ratio) as u64
    }
}

/// `Apps.setEnvFromInputString`: `K=V` pairs separated by commas; a pair without `=` is an
/// error here (YARN skips it silently, which hides a typo in yarn-site.xml).
fn parse_env_list(key: &str, s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for pair in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').ok_or_else(|| format!("{key}: '{pair}' is not NAME=VALUE"))?;
        let k = k.trim();
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!("{key}: '{k}' is not an environment variable name"));
        }
        out.push((k.to_string(), v.to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Configuration {
        let mut c = Configuration::new();
        c.set(keys::NM_LOCAL_DIRS, "/a/local, /b/local/");
        c.set(keys::NM_LOG_DIRS, "/a/logs");
        c.set(keys::RM_RESOURCE_TRACKER_ADDRESS, "127.0.0.1:8031");
        c
    }

    #[test]
    fn defaults_follow_yarn_default_xml() {
        let n = NmConfig::from_conf(&base(), "127.0.0.2:8042", "/conf").unwrap();
        assert_eq!(n.resource, Resource::new(8192, 8));
        assert_eq!(n.local_dirs, vec!["/a/local", "/b/local"]);
        assert!(n.pmem_check_enabled && !n.vmem_check_enabled);
        assert_eq!(n.monitor_interval, Duration::from_millis(3000));
        assert_eq!(n.sleep_delay_before_sigkill, Duration::from_millis(250));
        assert_eq!(n.vmem_mb(), 17203);
        assert_eq!(n.http_port(), "8042");
    }

    #[test]
    fn refuses_bad_values() {
        let mut c = base();
        c.set(keys::NM_LOG_DIRS, "logs");
        assert!(NmConfig::from_conf(&c, "h:1", "/c").unwrap_err().contains("not an absolute path"));
        let mut c = base();
        c.set(keys::NM_VMEM_PMEM_RATIO, "0.5");
        assert!(NmConfig::from_conf(&c, "h:1", "/c").unwrap_err().contains("at least 1.0"));
        let mut c = base();
        c.set(keys::RM_RESOURCE_TRACKER_ADDRESS, "rm:8031");
        assert!(NmConfig::from_conf(&c, "h:1", "/c").is_err());
        let mut c = base();
        c.set(keys::NM_RECOVERY_DIR, "rel/dir");
        assert_eq!(NmConfig::from_conf(&c, "h:1", "/c").unwrap_err(), "yarn.nodemanager.recovery.dir: 'rel/dir' is not an absolute path");
        let c = base();
        let n = NmConfig::from_conf(&c, "h:1", "/c").unwrap();
        // YARN's defaults: no NM recovery, work-preserving resync.
        assert!(!n.recovery_enabled && n.work_preserving_recovery);
        assert!(n.recovery_dir.ends_with("/yarn-nm-recovery"), "{}", n.recovery_dir);
        let mut c = base();
        c.set(keys::NM_ADMIN_USER_ENV, "MALLOC_ARENA_MAX");
        assert_eq!(NmConfig::from_conf(&c, "h:1", "/c").unwrap_err(), "yarn.nodemanager.admin-env: 'MALLOC_ARENA_MAX' is not NAME=VALUE");
    }

    #[test]
    fn env_whitelist_and_admin_env_follow_yarn_default_xml() {
        let n = NmConfig::from_conf(&base(), "h:1", "/conf").unwrap();
        assert_eq!(n.env_whitelist.join(","), DEFAULT_ENV_WHITELIST);
        assert_eq!(n.admin_env, vec![("MALLOC_ARENA_MAX".to_string(), "$MALLOC_ARENA_MAX".to_string())]);
        assert_eq!(n.nm_env("HADOOP_CONF_DIR"), Some("/conf"));
        assert_eq!(n.nm_env("JAVA_HOME"), None);
        assert!(n.inheritable().contains(&"MALLOC_ARENA_MAX".to_string()) && n.inheritable().contains(&"PATH".to_string()));
        let mut c = base();
        c.set(keys::NM_ENV_WHITELIST, "JAVA_HOME, TZ");
        c.set(keys::NM_ADMIN_USER_ENV, "A=1,B=x=y");
        let n = NmConfig::from_conf(&c, "h:1", "/conf").unwrap();
        assert_eq!(n.env_whitelist, ["JAVA_HOME", "TZ"]);
        assert_eq!(n.admin_env, vec![("A".to_string(), "1".to_string()), ("B".to_string(), "x=y".to_string())]);
    }
}
