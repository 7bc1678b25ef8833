//! A miniature YARN: the ResourceManager and NodeManager as sans-IO nodes, their REST
//! surfaces, the `yarn` and `yarn-sim` CLIs, and a distributed-shell application.

pub mod amrm_client;
// CLIs are clients with real clocks and sockets, not nodes.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod cli;
pub mod conf;
pub mod dshell;
pub mod ids;
pub mod nm;
pub mod proto;
pub mod records;
pub mod rest;
pub mod rm;
pub mod simcluster;

pub use ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
pub use proto::{RemoteError, YarnMsg};
pub use records::Resource;
