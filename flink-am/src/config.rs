//! The AM's configuration: Flink's options that matter to this miniature (names and defaults
//! from Flink's option tables, harness values where the brief sets them) and the container
//! environment YARN gave the AM process.

use std::collections::BTreeMap;

use flink_core::{JobGraph, RestartStrategy};

/// Which YARN entrypoint this AM is (YarnSessionClusterEntrypoint,
/// YarnApplicationClusterEntrypoint, YarnJobClusterEntrypoint).
#[derive(Clone, Debug, PartialEq)]
// Built once per AM; boxing the per-job graph would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum AmMode {
    /// Waits for jobs submitted over REST; lives until `shutdown_cluster`.
    Session,
    /// Runs the application's jobs one after another, then deregisters.
    Application { jobs: Vec<JobGraph> },
    /// Runs one job, then deregisters.
    PerJob { job: JobGraph },
}

impl AmMode {
    pub fn name(&self) -> &'static str {
        match self {
            AmMode::Session => "YarnSessionClusterEntrypoint",
            AmMode::Application { .. } => "YarnApplicationClusterEntrypoint",
            AmMode::PerJob { .. } => "YarnJobClusterEntrypoint",
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct AmConfig {
    pub mode: AmMode,
    /// `taskmanager.numberOfTaskSlots`.
    pub slots_per_tm: u32,
    /// `taskmanager.memory.process.size` in MB: the YARN container's memory.
    pub tm_memory_mb: u64,
    /// `yarn.containers.vcores` (defaults to the slots per TaskManager).
    pub tm_vcores: u32,
    /// The TaskManager's command line (its first word names the program in the sim).
    pub taskexec_command: String,
    /// `heartbeat.interval` between the JobManager's components and TaskExecutors.
    pub heartbeat_interval_ms: u64,
    /// `heartbeat.timeout`.
    pub heartbeat_timeout_ms: u64,
    /// The normal AMRM heartbeat (`yarn.heartbeat.interval`, 5 s in Flink; 1 s in the harness).
    pub yarn_heartbeat_ms: u64,
    /// The fast AMRM heartbeat while container requests are pending
    /// (`yarn.heartbeat.container-request-interval`, 500 ms in Flink; 50 ms in the harness).
    pub container_request_heartbeat_ms: u64,
    /// `resourcemanager.taskmanager-registration.timeout` (5 min in Flink; 60 s in the harness).
    pub registration_timeout_ms: u64,
    /// `resourcemanager.taskmanager-timeout`: an idle TaskManager is released after this.
    pub idle_tm_timeout_ms: u64,
    /// `resourcemanager.start-worker.max-failure-rate`, failures per minute.
    pub start_worker_max_failure_rate: f64,
    /// `resourcemanager.start-worker.retry-interval`.
    pub start_worker_retry_interval_ms: u64,
    /// How long a StartContainers request may go unanswered before the start counts as failed
    /// (Hadoop's NMClient gives up after `yarn.client.nodemanager-connect.max-wait-ms`, 3 min;
    /// 10 s in the harness) and Flink's onStartContainerError releases the container.
    pub start_container_timeout_ms: u64,
    /// The cluster's `restart-strategy.type`: what clients should put into JobGraphs that do
    /// not choose one (a JobGraph always carries its strategy; the JobMaster uses the graph's).
    pub restart_strategy: RestartStrategy,
    /// The cluster's `execution.checkpointing.savepoint-dir` (a shared-store path): where
    /// savepoints go when neither the request nor the job names a directory.
    pub savepoint_dir: Option<String>,
    /// The shared store's directory (fs.defaultFS), so absolute `file:` paths in requests can
    /// be checked against it; None in the sim (only store-relative paths then).
    pub store_root: Option<std::path::PathBuf>,
    /// The REST endpoint's URL, registered with YARN as the tracking URL (empty in the sim).
    pub tracking_url: String,
    /// The container environment YARN gave the AM (CONTAINER_ID, YARN_RM_ADDRESS, NM_HOST, ...).
    pub env: BTreeMap<String, String>,
    /// Files every TaskManager container localizes (the shipped config and `-t` ship files):
    /// name in the working dir -> path in the shared store.
    pub tm_local_resources: BTreeMap<String, String>,
    /// `high-availability.type: zookeeper` and its settings; None = NONE.
    pub ha: Option<crate::ha::HaConfig>,
}

impl AmConfig {
    /// The harness defaults for `mode` with the AM container's environment.
    pub fn new(mode: AmMode, env: BTreeMap<String, String>) -> AmConfig {
        AmConfig {
            mode,
            slots_per_tm: 1,
            tm_memory_mb: 1728,
            tm_vcores: 1,
            taskexec_command: "taskexec".into(),
            heartbeat_interval_ms: 1_000,
            heartbeat_timeout_ms: 5_000,
            yarn_heartbeat_ms: 1_000,
            container_request_heartbeat_ms: 50,
            registration_timeout_ms: 60_000,
            idle_tm_timeout_ms: 30_000,
            start_worker_max_failure_rate: 10.0,
            start_worker_retry_interval_ms: 3_000,
            start_container_timeout_ms: 10_000,
            restart_strategy: RestartStrategy::NoRestart,
            savepoint_dir: None,
            store_root: None,
            tracking_url: String::new(),
            env,
            tm_local_resources: BTreeMap::new(),
            ha: None,
        }
    }

    /// Sets the slots per TaskManager and, as `yarn.containers.vcores: -1` does, as many vcores.
    pub fn with_slots(mut self, slots_per_tm: u32) -> AmConfig {
        self.slots_per_tm = slots_per_tm.max(1);
        self.tm_vcores = self.slots_per_tm;
        self
    }

    /// Checks what Flink checks at start-up; the message names the option.
    pub fn validate(&self) -> Result<(), String> {
        if self.slots_per_tm == 0 {
            return Err("Invalid configuration value for taskmanager.numberOfTaskSlots: 0. It must be greater than 0.".into());
        }
        if self.start_worker_max_failure_rate <= 0.0 {
            return Err(format!(
                "Configured max start worker failure rate ({}) is invalid: it must be positive (resourcemanager.start-worker.max-failure-rate).",
                self.start_worker_max_failure_rate
            ));
        }
        if self.heartbeat_interval_ms == 0 || self.heartbeat_timeout_ms < self.heartbeat_interval_ms {
            return Err(format!(
                "The heartbeat timeout ({} ms) must be larger than the heartbeat interval ({} ms).",
                self.heartbeat_timeout_ms, self.heartbeat_interval_ms
            ));
        }
        if self.yarn_heartbeat_ms == 0 || self.container_request_heartbeat_ms == 0 {
            return Err("yarn.heartbeat.interval and yarn.heartbeat.container-request-interval must be positive.".into());
        }
        Ok(())
    }
}
