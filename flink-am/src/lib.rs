//! The Flink JobManager as a YARN ApplicationMaster: the cluster entrypoint
//! ([`FlinkAppMaster`], one node for session, application and per-job mode), the Dispatcher,
//! a JobMaster per job (ExecutionGraph, eager scheduling, full restarts), and the active
//! ResourceManager (declarative SlotManager, worker accounting, YarnResourceManagerDriver).
//! All node code is sans-IO and deterministic; `rest`, `cli` and `bin` adapt it to the world.

pub mod config;
pub mod dispatcher;
pub mod entrypoint;
pub mod jobmaster;
pub mod resourcemanager;
pub mod webmonitor;

#[cfg(test)]
mod tests;

pub use config::{AmConfig, AmMode};
pub use entrypoint::{AmPhase, FlinkAppMaster};
