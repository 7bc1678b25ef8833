//! The JobGraph: what the client (or the AM, in application mode) submits. Vertices are
//! operator chains (Flink's chaining rules decide which operators share one); edges say how
//! records move between them. Serialized as JSON for `POST /jobs`.

use serde::{Deserialize, Serialize};

use crate::ids::{JobId, JobVertexId};
use crate::operator::OperatorSpec;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum JobType {
    Batch,
    Streaming,
}

/// How records cross an edge, with Flink's plan names.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "strategy", rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ShipStrategy {
    /// Subtask i to subtask i (same parallelism).
    Forward,
    /// By the hash of field `key` (key_by).
    Hash { key: usize },
    /// Round-robin.
    Rebalance,
}

impl ShipStrategy {
    pub fn name(&self) -> &'static str {
        match self {
            ShipStrategy::Forward => "FORWARD",
            ShipStrategy::Hash { .. } => "HASH",
            ShipStrategy::Rebalance => "REBALANCE",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobEdge {
    pub source: JobVertexId,
    pub ship: ShipStrategy,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobVertex {
    pub id: JobVertexId,
    /// Chained operator names joined by " -> ", as Flink names a chain.
    pub name: String,
    pub parallelism: u32,
    pub max_parallelism: u32,
    /// The chain, head first.
    pub operators: Vec<OperatorSpec>,
    pub inputs: Vec<JobEdge>,
    pub slot_sharing_group: String,
    /// Stable operator uid (Flink's OperatorID hash): the same for the same program topology
    /// across submissions and parallelism changes, unlike the random `id`. Checkpoint and
    /// savepoint state is matched to vertices by it. Empty in a JobGraph from outside: the
    /// JobMaster then derives it from the topology (`streamgraph::vertex_uids`).
    #[serde(default)]
    pub uid: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum RestartStrategy {
    NoRestart,
    /// `restart-strategy.type: fixed-delay` with `.attempts` and `.delay`.
    FixedDelay {
        attempts: u32,
        delay_ms: u64,
    },
    /// At most `max_failures` per `interval_ms`, each restart after `delay_ms`.
    FailureRate {
        max_failures: u32,
        interval_ms: u64,
        delay_ms: u64,
    },
    /// delay(k) = min(initial * multiplier^(k-1), max) +- jitter; reset after
    /// `reset_threshold_ms` without failure; FAILED after more than `attempts_before_reset`
    /// consecutive restarts.
    ExponentialDelay {
        initial_backoff_ms: u64,
        max_backoff_ms: u64,
        multiplier: f64,
        reset_threshold_ms: u64,
        jitter: f64,
        attempts_before_reset: u32,
    },
}

/// `jobmanager.execution.failover-strategy`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FailoverStrategy {
    /// Restart the failed task's pipelined region (and the regions it must take with it).
    #[default]
    Region,
    /// Restart every task.
    Full,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JobGraph {
    pub job_id: JobId,
    pub name: String,
    pub job_type: JobType,
    /// In topological order: every vertex comes after its inputs.
    pub vertices: Vec<JobVertex>,
    pub restart_strategy: RestartStrategy,
    #[serde(default)]
    pub failover_strategy: FailoverStrategy,
    /// Flink's JobCheckpointingSettings; None = checkpointing off.
    #[serde(default)]
    pub checkpointing: Option<crate::checkpoint::CheckpointConfig>,
    /// `execution.state-recovery.path` / `flink run -s`: a savepoint or retained checkpoint to
    /// start from, and `--allowNonRestoredState`.
    #[serde(default)]
    pub savepoint_restore: Option<SavepointRestoreSettings>,
    /// `execution.buffer-timeout` (ms; None when `execution.buffer-timeout.enabled` is false:
    /// buffers go out only when full).
    #[serde(default = "default_buffer_timeout_ms")]
    pub buffer_timeout_ms: Option<u64>,
}

/// Flink's default `execution.buffer-timeout`: 100 ms.
pub const DEFAULT_BUFFER_TIMEOUT_MS: u64 = 100;

pub fn default_buffer_timeout_ms() -> Option<u64> {
    Some(DEFAULT_BUFFER_TIMEOUT_MS)
}

/// Flink's `SavepointRestoreSettings`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavepointRestoreSettings {
    /// Store path of the savepoint (or `chk-<n>`) directory or its `_metadata` file.
    pub path: String,
    pub allow_non_restored_state: bool,
}

impl JobGraph {
    /// Slots the job needs: with one slot-sharing group, its maximum parallelism.
    pub fn required_slots(&self) -> u32 {
        self.vertices.iter().map(|v| v.parallelism).max().unwrap_or(0)
    }
    pub fn vertex(&self, id: &JobVertexId) -> Option<&JobVertex> {
        self.vertices.iter().find(|v| v.id == *id)
    }
    /// Vertices fed by `id`, with the edge.
    pub fn consumers<'a>(&'a self, id: &'a JobVertexId) -> impl Iterator<Item = (&'a JobVertex, &'a JobEdge)> + 'a {
        self.vertices.iter().flat_map(move |v| v.inputs.iter().filter(move |e| e.source == *id).map(move |e| (v, e)))
    }
    /// Checks what a JobGraph from outside must satisfy; the message says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        if self.vertices.is_empty() {
            return Err("The given job is empty".into());
        }
        let mut seen = std::collections::BTreeSet::new();
        for v in &self.vertices {
            // JobGraph.addVertex refuses a second vertex with the same id.
            if seen.contains(&v.id) {
                return Err(format!("The JobGraph already contains a vertex with that id. (vertex '{}', id {})", v.name, v.id));
            }
            if v.parallelism == 0 || v.parallelism > v.max_parallelism.max(1) {
                return Err(format!(
                    "Vertex '{}' has an invalid parallelism {} (max parallelism {})",
                    v.name, v.parallelism, v.max_parallelism
                ));
            }
            if v.operators.is_empty() {
                return Err(format!("Vertex '{}' has no operators", v.name));
            }
            for e in &v.inputs {
                if !seen.contains(&e.source) {
                    return Err(format!("Vertex '{}' reads from {} which is not an earlier vertex", v.name, e.source));
                }
                if e.ship == ShipStrategy::Forward {
                    let src = self.vertex(&e.source).expect("seen");
                    if src.parallelism != v.parallelism {
                        return Err(format!(
                            "Forward partitioning does not allow change of parallelism. Upstream operation: {} parallelism: {}, downstream operation: {} parallelism: {}",
                            src.name, src.parallelism, v.name, v.parallelism
                        ));
                    }
                }
            }
            if v.inputs.is_empty() != v.operators[0].is_source() {
                return Err(format!("Vertex '{}' must start with a source exactly when it has no inputs", v.name));
            }
            seen.insert(v.id);
        }
        Ok(())
    }
}
