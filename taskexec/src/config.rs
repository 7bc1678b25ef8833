//! The TaskExecutor's configuration, read from the container environment the Flink
//! ResourceManager (our AM) sets when it launches a TaskManager on YARN.

use std::collections::BTreeMap;
use std::time::Duration;

use engine::Addr;
use flink_core::protocol::env;
use flink_core::{ResourceId, ResourceManagerId};

/// YARN's own variable naming the container; Flink uses it as the TaskExecutor's ResourceID.
pub const CONTAINER_ID: &str = "CONTAINER_ID";
/// Optional override of the heartbeat interval (Flink: `heartbeat.interval`).
pub const FLINK_HEARTBEAT_INTERVAL_MS: &str = "FLINK_HEARTBEAT_INTERVAL_MS";
/// Optional override of the heartbeat timeout (Flink: `heartbeat.timeout`).
pub const FLINK_HEARTBEAT_TIMEOUT_MS: &str = "FLINK_HEARTBEAT_TIMEOUT_MS";

/// ZooKeeper leader retrieval (Flink's ZooKeeperLeaderRetrievalDriver) for HA clusters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaderRetrievalConfig {
    pub quorum: Addr,
    pub cluster_id: String,
    pub root: String,
    pub session_timeout_ms: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskExecutorConfig {
    pub resource_id: ResourceId,
    /// The ResourceManager to register with and its fencing token (standalone leader
    /// retrieval: a fixed address with its leader id); None with HA, where leader retrieval
    /// finds both.
    pub resource_manager: Option<(Addr, ResourceManagerId)>,
    /// HA: where the leader's address is published (ZooKeeper leader retrieval).
    pub leader_retrieval: Option<LeaderRetrievalConfig>,
    pub num_slots: u32,
    pub memory_mb: u64,
    /// How often this TaskExecutor heartbeats the RM and its job masters. 1 s here (Flink's
    /// default is 10 s) so simulated and live failures are noticed quickly.
    pub heartbeat_interval: Duration,
    /// A peer silent for longer than this is considered lost. 5 s here (Flink: 50 s).
    pub heartbeat_timeout: Duration,
    /// How long a slot reserved for a job (offered, or inactive after its job master went
    /// silent) waits for the job master to accept it before it is freed (Flink's
    /// `taskmanager.slot.timeout`, which defaults to the RPC ask timeout, 10 s).
    pub slot_timeout: Duration,
    /// Pause between RegisterTaskExecutor attempts until the RM answers.
    pub registration_retry: Duration,
    /// Exclusive buffers per channel: the number of unacknowledged batches a producer may
    /// have in flight to one consumer (Flink's `taskmanager.network.memory.buffers-per-channel`).
    pub credits_per_channel: u32,
    /// Bytes of encoded records per network batch (Flink's network buffer,
    /// `taskmanager.memory.segment-size`, 32 KiB): a batch goes out when full, when the
    /// buffer timeout expires, or at a barrier or the end of the partition.
    pub buffer_size: usize,
    /// Records a source may emit per poll, so one busy source cannot starve the node.
    pub source_step_budget: usize,
    /// Delay between polls of a source that reported more data (a "mailbox" turn).
    pub source_poll_interval: Duration,
    /// Batches held for a consumer that is not deployed here yet; beyond that they are dropped.
    pub max_pending_batches_per_target: usize,
}

impl TaskExecutorConfig {
    /// A configuration with the defaults and the given identity (tests, embedding).
    pub fn new(
        resource_id: impl Into<ResourceId>,
        resource_manager: (Addr, ResourceManagerId),
        num_slots: u32,
        memory_mb: u64,
    ) -> TaskExecutorConfig {
        Self::with_defaults(resource_id.into(), Some(resource_manager), num_slots, memory_mb)
    }

    fn with_defaults(
        resource_id: ResourceId,
        resource_manager: Option<(Addr, ResourceManagerId)>,
        num_slots: u32,
        memory_mb: u64,
    ) -> TaskExecutorConfig {
        TaskExecutorConfig {
            resource_id,
            resource_manager,
            leader_retrieval: None,
            num_slots,
            memory_mb,
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(5),
            slot_timeout: Duration::from_secs(10),
            registration_retry: Duration::from_millis(100),
            credits_per_channel: 4,
            buffer_size: 32 * 1024,
            source_step_budget: 256,
            source_poll_interval: Duration::from_millis(1),
            max_pending_batches_per_target: 64,
        }
    }

    /// Reads the container environment. Every error names the variable and the bad value.
    pub fn from_env(vars: &BTreeMap<String, String>) -> Result<TaskExecutorConfig, String> {
        let get = |name: &str| vars.get(name).map(|s| s.trim()).filter(|s| !s.is_empty());
        let require = |name: &str| get(name).ok_or_else(|| format!("Missing environment variable {name}"));
        let resource_id = require(CONTAINER_ID)?.to_string();
        use flink_core::zookeeper::env as ha;
        let leader_retrieval = match get(ha::FLINK_HA_ZOOKEEPER_QUORUM) {
            None => None,
            Some(q) => {
                let quorum: Addr =
                    q.parse().map_err(|_| format!("Invalid {}: '{q}' is not an IPv4 host:port address", ha::FLINK_HA_ZOOKEEPER_QUORUM))?;
                let cluster_id = require(ha::FLINK_HA_CLUSTER_ID)?.to_string();
                let root = get(ha::FLINK_HA_ZOOKEEPER_ROOT).unwrap_or("/flink").to_string();
                let raw = get(ha::FLINK_HA_SESSION_TIMEOUT_MS).unwrap_or("60000");
                let session_timeout_ms = match raw.parse::<u64>() {
                    Ok(n) if n > 0 => n,
                    _ => {
                        return Err(format!(
                            "Invalid {}: '{raw}' must be a positive number of milliseconds",
                            ha::FLINK_HA_SESSION_TIMEOUT_MS
                        ))
                    }
                };
                Some(LeaderRetrievalConfig { quorum, cluster_id, root, session_timeout_ms })
            }
        };
        let resource_manager = match (get(env::FLINK_RM_ADDRESS), &leader_retrieval) {
            (Some(rm_raw), _) => {
                let addr: Addr = rm_raw
                    .parse()
                    .map_err(|_| format!("Invalid {}: '{rm_raw}' is not an IPv4 host:port address", env::FLINK_RM_ADDRESS))?;
                let id_raw = require(env::FLINK_RM_ID)?;
                let id: ResourceManagerId = id_raw.parse().map_err(|e| format!("Invalid {}: {e}", env::FLINK_RM_ID))?;
                Some((addr, id))
            }
            (None, Some(_)) => None,
            (None, None) => return Err(format!("Missing environment variable {}", env::FLINK_RM_ADDRESS)),
        };
        let slots_raw = require(env::FLINK_NUM_SLOTS)?;
        let num_slots: u32 = match slots_raw.parse() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("Invalid {}: '{slots_raw}' must be a positive integer", env::FLINK_NUM_SLOTS)),
        };
        let mem_raw = require(env::FLINK_TM_MEMORY_MB)?;
        let memory_mb: u64 = match mem_raw.parse() {
            Ok(n) if n > 0 => n,
            _ => return Err(format!("Invalid {}: '{mem_raw}' must be a positive number of megabytes", env::FLINK_TM_MEMORY_MB)),
        };
        let mut config = TaskExecutorConfig::with_defaults(resource_id, resource_manager, num_slots, memory_mb);
        config.leader_retrieval = leader_retrieval;
        let millis = |name: &str| -> Result<Option<Duration>, String> {
            match get(name) {
                None => Ok(None),
                Some(raw) => match raw.parse::<u64>() {
                    Ok(ms) if ms > 0 => Ok(Some(Duration::from_millis(ms))),
                    _ => Err(format!("Invalid {name}: '{raw}' must be a positive number of milliseconds")),
                },
            }
        };
        if let Some(d) = millis(FLINK_HEARTBEAT_INTERVAL_MS)? {
            config.heartbeat_interval = d;
        }
        if let Some(d) = millis(FLINK_HEARTBEAT_TIMEOUT_MS)? {
            config.heartbeat_timeout = d;
        }
        // Flink refuses a timeout that cannot cover one interval: every peer would look dead.
        if config.heartbeat_timeout <= config.heartbeat_interval {
            return Err(format!(
                "The heartbeat timeout ({} ms) must be larger than the heartbeat interval ({} ms)",
                config.heartbeat_timeout.as_millis(),
                config.heartbeat_interval.as_millis()
            ));
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    fn good() -> BTreeMap<String, String> {
        vars(&[
            (CONTAINER_ID, "container_1_0001_01_000002"),
            (env::FLINK_RM_ADDRESS, "127.0.0.1:6123"),
            (env::FLINK_RM_ID, "9f3175f098076291f8095be45eee44b3"),
            (env::FLINK_NUM_SLOTS, "2"),
            (env::FLINK_TM_MEMORY_MB, "1728"),
        ])
    }

    #[test]
    fn reads_the_container_environment_with_defaults() {
        let c = TaskExecutorConfig::from_env(&good()).unwrap();
        assert_eq!(c.resource_id, "container_1_0001_01_000002");
        let (rm, rm_id) = c.resource_manager.unwrap();
        assert_eq!((rm.to_string(), rm_id.to_string()), ("127.0.0.1:6123".into(), "9f3175f098076291f8095be45eee44b3".into()));
        assert_eq!((c.num_slots, c.memory_mb), (2, 1728));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(1));
        assert_eq!(c.heartbeat_timeout, Duration::from_secs(5));
        assert_eq!((c.credits_per_channel, c.buffer_size), (4, 32768));
    }

    #[test]
    fn optional_heartbeat_overrides() {
        let mut v = good();
        v.insert(FLINK_HEARTBEAT_INTERVAL_MS.into(), "200".into());
        v.insert(FLINK_HEARTBEAT_TIMEOUT_MS.into(), "900".into());
        let c = TaskExecutorConfig::from_env(&v).unwrap();
        assert_eq!((c.heartbeat_interval, c.heartbeat_timeout), (Duration::from_millis(200), Duration::from_millis(900)));
        v.insert(FLINK_HEARTBEAT_TIMEOUT_MS.into(), "100".into());
        assert!(TaskExecutorConfig::from_env(&v).unwrap_err().contains("must be larger"));
    }

    #[test]
    fn missing_and_bad_values_are_named() {
        for (key, bad, expect) in [
            (CONTAINER_ID, "", "Missing environment variable CONTAINER_ID"),
            (env::FLINK_RM_ADDRESS, "nowhere", "Invalid FLINK_RM_ADDRESS: 'nowhere'"),
            (env::FLINK_RM_ID, "zombie", "Invalid FLINK_RM_ID: Cannot parse ResourceManagerId 'zombie'"),
            (env::FLINK_RM_ID, "", "Missing environment variable FLINK_RM_ID"),
            (env::FLINK_NUM_SLOTS, "0", "Invalid FLINK_NUM_SLOTS: '0'"),
            (env::FLINK_TM_MEMORY_MB, "lots", "Invalid FLINK_TM_MEMORY_MB: 'lots'"),
            (FLINK_HEARTBEAT_INTERVAL_MS, "x", "Invalid FLINK_HEARTBEAT_INTERVAL_MS: 'x'"),
        ] {
            let mut v = good();
            v.insert(key.into(), bad.into());
            let err = TaskExecutorConfig::from_env(&v).unwrap_err();
            assert!(err.contains(expect), "{err}");
        }
        let mut v = good();
        v.remove(env::FLINK_NUM_SLOTS);
        assert_eq!(TaskExecutorConfig::from_env(&v).unwrap_err(), "Missing environment variable FLINK_NUM_SLOTS");
    }

    #[test]
    fn with_ha_the_leader_is_retrieved_instead_of_a_fixed_rm_address() {
        use flink_core::zookeeper::env as ha;
        let mut v = good();
        v.remove(env::FLINK_RM_ADDRESS);
        assert_eq!(TaskExecutorConfig::from_env(&v).unwrap_err(), "Missing environment variable FLINK_RM_ADDRESS");
        v.insert(ha::FLINK_HA_ZOOKEEPER_QUORUM.into(), "127.0.0.1:2181".into());
        assert_eq!(TaskExecutorConfig::from_env(&v).unwrap_err(), "Missing environment variable FLINK_HA_CLUSTER_ID");
        v.insert(ha::FLINK_HA_CLUSTER_ID.into(), "application_1_0001".into());
        let c = TaskExecutorConfig::from_env(&v).unwrap();
        assert_eq!(c.resource_manager, None);
        let l = c.leader_retrieval.unwrap();
        assert_eq!((l.quorum.to_string(), l.root.as_str(), l.session_timeout_ms), ("127.0.0.1:2181".into(), "/flink", 60_000));
        v.insert(ha::FLINK_HA_ZOOKEEPER_QUORUM.into(), "zk-host".into());
        assert!(TaskExecutorConfig::from_env(&v).unwrap_err().contains("Invalid FLINK_HA_ZOOKEEPER_QUORUM: 'zk-host'"));
        v.insert(ha::FLINK_HA_ZOOKEEPER_QUORUM.into(), "127.0.0.1:2181".into());
        v.insert(ha::FLINK_HA_SESSION_TIMEOUT_MS.into(), "0".into());
        assert!(TaskExecutorConfig::from_env(&v).unwrap_err().contains("Invalid FLINK_HA_SESSION_TIMEOUT_MS: '0'"));
    }
}
