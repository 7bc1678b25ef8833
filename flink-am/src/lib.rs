//! The Flink ApplicationMaster.
