//! A miniature YARN: the ResourceManager and NodeManager as sans-IO nodes, their REST
//! surfaces, the `yarn` and `yarn-sim` CLIs, and a distributed-shell application.

pub mod amrm_client;
// CLIs are clients with real clocks and sockets, not nodes.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod cli;
// Configuration files and HADOOP_CONF_DIR are read at process start-up, before any node exists.
#[allow(clippy::disallowed_methods)]
pub mod conf;
pub mod dshell;
pub mod hrpc;
pub mod ids;
pub mod nm;
pub mod proto;
pub mod records;
// REST and web adapters run in the live driver (they read container logs from the local disk).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod rest;
pub mod rm;
pub mod simcluster;
pub mod times;

pub use ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
pub use proto::{RemoteError, YarnMsg};
pub use records::Resource;
