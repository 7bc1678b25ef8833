//! Flink's shared model: what a program is (operators, StreamGraph -> JobGraph), how its
//! operators run (`runtime`, sans-IO), the records they exchange, and the messages between the
//! JobManager's components and the TaskExecutors.

pub mod checkpoint;
pub mod codec;
pub mod config;
pub mod graph;
pub mod ids;
pub mod keygroup;
#[cfg(feature = "live")]
pub mod live;
pub mod operator;
pub mod plan;
pub mod program;
pub mod protocol;
pub mod record;
pub mod runtime;
pub mod state;
mod state_table;
pub mod streamgraph;
pub mod zookeeper;

pub use checkpoint::{CheckpointConfig, CheckpointId, CheckpointKind, CheckpointingMode, KeyGroupRange};
pub use config::FlinkConfig;
pub use graph::{FailoverStrategy, JobEdge, JobGraph, JobType, JobVertex, RestartStrategy, SavepointRestoreSettings, ShipStrategy};
pub use ids::{AllocationId, ExecutionAttemptId, JobId, JobMasterId, JobVertexId, ResourceId, ResourceManagerId};
pub use operator::OperatorSpec;
pub use plan::plan_json;
pub use program::Program;
pub use protocol::{Element, JobMasterGateway, NetworkMsg, ResourceManagerGateway, TaskDeploymentDescriptor, TaskExecutorGateway};
pub use record::{Record, Value};
pub use runtime::{select_channel, OperatorChain, Output, SourceStatus};
pub use state::{ExecutionState, JobStatus};
pub use streamgraph::StreamGraph;
