//! The Flink TaskExecutor (TaskManager): registers with the ResourceManager, offers its slots
//! to job masters, runs the subtasks they deploy and exchanges records with other
//! TaskExecutors under credit-based flow control. Sans-IO: one [`engine::Node`].

pub mod config;
pub mod executor;
pub mod info;
pub mod network;
pub mod slot_table;
pub mod task;
pub mod task_table;

pub use config::TaskExecutorConfig;
pub use executor::TaskExecutor;
pub use info::{SlotInfo, TaskExecutorInfo, TaskInfo};
pub use slot_table::{TaskSlotState, TaskSlotTable};

#[cfg(test)]
mod tests;
