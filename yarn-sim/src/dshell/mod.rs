//! Distributed shell, like Hadoop's: a client submits an ApplicationMaster that asks for N
//! containers, runs one shell command in each, and finishes SUCCEEDED when all exit 0.

pub mod am;

pub use am::{DistributedShellAm, DshellArgs};

/// The local resource (and store file) holding the shell command, as Hadoop's client stages it.
pub const SHELL_COMMAND_RESOURCE: &str = "shellCommands";
