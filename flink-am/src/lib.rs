//! The Flink JobManager as a YARN ApplicationMaster: the cluster entrypoint
//! ([`FlinkAppMaster`], one node for session, application and per-job mode), the Dispatcher,
//! a JobMaster per job (ExecutionGraph, eager scheduling, full restarts), and the active
//! ResourceManager (declarative SlotManager, worker accounting, YarnResourceManagerDriver).
//! All node code is sans-IO and deterministic; `rest`, `cli` and `bin` adapt it to the world.

pub mod async_ops;
// CLIs are clients with real clocks and sockets, not nodes.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod cli;
pub mod config;
// The dashboard reads logs and environment in the live driver, like the REST adapter.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod dashboard;
pub mod dispatcher;
pub mod entrypoint;
pub mod ha;
pub mod jobmaster;
pub mod resourcemanager;
// REST and web adapters run in the live driver (they list the AM container's log files).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod rest;
pub mod webmonitor;
pub mod webmonitor_io;

#[cfg(test)]
mod ha_tests;
#[cfg(test)]
mod tests;

pub use config::{AmConfig, AmMode};
pub use entrypoint::{AmPhase, FlinkAppMaster};

/// The Flink version this miniature reports (REST `/config`, `/overview`).
pub const FLINK_VERSION: &str = "1.20.0";
/// The revision it reports: this crate's version.
pub const FLINK_REVISION: &str = concat!("yarn-sim-", env!("CARGO_PKG_VERSION"));
