//! A miniature YARN: the ResourceManager and NodeManager as sans-IO nodes, their REST
//! surfaces, the `yarn` and `yarn-sim` CLIs, and a distributed-shell application.

pub mod conf;
pub mod ids;
pub mod proto;
pub mod records;
pub mod rm;

pub use ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
pub use proto::{RemoteError, YarnMsg};
pub use records::Resource;
