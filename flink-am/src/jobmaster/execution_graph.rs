//! The ExecutionGraph: the JobGraph's vertices expanded to parallel subtasks
//! (ExecutionVertex), each with its current execution attempt (Execution) and the state
//! machine Flink's ExecutionState follows.

use std::collections::BTreeMap;

use engine::{Addr, Cx, Time};
use flink_core::protocol::TaskIoMetrics;
use flink_core::{AllocationId, ExecutionAttemptId, ExecutionState, JobGraph, JobVertex, ResourceId};

/// Where an execution was deployed: the slot and its TaskExecutor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub allocation_id: AllocationId,
    pub resource_id: ResourceId,
    pub address: Addr,
}

/// ExecutionState's allowed transitions. Terminal states have none: a late report from a
/// task that was already canceled or failed must not resurrect it.
pub fn can_transition(from: ExecutionState, to: ExecutionState) -> bool {
    use ExecutionState::*;
    match from {
        Created => matches!(to, Scheduled | Canceled | Failed),
        Scheduled => matches!(to, Deploying | Canceled | Failed),
        Deploying => matches!(to, Initializing | Running | Finished | Canceling | Canceled | Failed),
        Initializing => matches!(to, Running | Finished | Canceling | Canceled | Failed),
        Running => matches!(to, Finished | Canceling | Canceled | Failed),
        Canceling => matches!(to, Canceled | Failed),
        Reconciling => matches!(to, Running | Finished | Canceling | Canceled | Failed),
        Finished | Canceled | Failed => false,
    }
}

/// One attempt to run one subtask.
#[derive(Clone, Debug)]
pub struct Execution {
    pub attempt_id: ExecutionAttemptId,
    pub attempt_number: u32,
    pub state: ExecutionState,
    /// When each state was entered (ms since the epoch), for REST.
    pub timestamps: BTreeMap<ExecutionState, u64>,
    pub location: Option<Location>,
    pub records_in: u64,
    pub records_out: u64,
    /// The latest I/O and time metrics its TaskExecutor reported, when (ms), and the report
    /// before (for per-second rates such as `busyTimeMsPerSecond`).
    pub io: TaskIoMetrics,
    pub io_at: u64,
    pub io_prev: Option<(u64, TaskIoMetrics)>,
    pub failure: Option<String>,
}

impl Execution {
    fn new(cx: &mut Cx, attempt_number: u32) -> Execution {
        let mut timestamps = BTreeMap::new();
        timestamps.insert(ExecutionState::Created, cx.now().as_millis());
        Execution {
            attempt_id: ExecutionAttemptId::random(cx),
            attempt_number,
            state: ExecutionState::Created,
            timestamps,
            location: None,
            records_in: 0,
            records_out: 0,
            io: TaskIoMetrics::default(),
            io_at: 0,
            io_prev: None,
            failure: None,
        }
    }

    /// A metrics report from the TaskExecutor (heartbeat or final state update).
    pub fn record_io(&mut self, io: TaskIoMetrics, now: Time) {
        let at = now.as_millis();
        if self.io_at > 0 && at > self.io_at {
            self.io_prev = Some((self.io_at, self.io));
        }
        self.io = io;
        self.io_at = at;
    }

    /// (busy, backpressured, idle) in ms per second over the last two reports, or over the
    /// whole run before there are two; None before any time was reported.
    pub fn time_ratios(&self) -> Option<(f64, f64, f64)> {
        let (b, p, i) = match self.io_prev {
            Some((_, prev)) => (
                self.io.busy_ms.saturating_sub(prev.busy_ms),
                self.io.backpressured_ms.saturating_sub(prev.backpressured_ms),
                self.io.idle_ms.saturating_sub(prev.idle_ms),
            ),
            None => (self.io.busy_ms, self.io.backpressured_ms, self.io.idle_ms),
        };
        let total = (b + p + i) as f64;
        (total > 0.0).then(|| (b as f64 * 1000.0 / total, p as f64 * 1000.0 / total, i as f64 * 1000.0 / total))
    }

    /// Moves to `to` if the state machine allows it; returns whether it moved.
    pub fn transition(&mut self, to: ExecutionState, now: Time) -> bool {
        if self.state == to || !can_transition(self.state, to) {
            return false;
        }
        self.state = to;
        self.timestamps.insert(to, now.as_millis());
        true
    }

    pub fn start_time(&self) -> Option<u64> {
        self.timestamps.get(&ExecutionState::Deploying).copied()
    }

    pub fn end_time(&self) -> Option<u64> {
        if self.state.is_terminal() {
            self.timestamps.get(&self.state).copied()
        } else {
            None
        }
    }
}

#[derive(Clone, Debug)]
pub struct ExecutionVertex {
    pub subtask: u32,
    pub current: Execution,
}

#[derive(Clone, Debug)]
pub struct ExecutionJobVertex {
    pub vertex: JobVertex,
    pub subtasks: Vec<ExecutionVertex>,
}

impl ExecutionJobVertex {
    /// The vertex's aggregate state as Flink's web UI derives it.
    pub fn aggregate_state(&self) -> ExecutionState {
        use ExecutionState::*;
        let count = |s: ExecutionState| self.subtasks.iter().filter(|e| e.current.state == s).count();
        let n = self.subtasks.len();
        if count(Failed) > 0 {
            Failed
        } else if count(Canceling) > 0 {
            Canceling
        } else if count(Canceled) > 0 && count(Canceled) + count(Finished) == n {
            Canceled
        } else if count(Finished) == n {
            Finished
        } else if count(Running) > 0 || count(Finished) > 0 {
            Running
        } else if count(Initializing) > 0 {
            Initializing
        } else if count(Deploying) > 0 {
            Deploying
        } else if count(Scheduled) > 0 {
            Scheduled
        } else {
            Created
        }
    }

    pub fn counts(&self) -> BTreeMap<ExecutionState, u32> {
        let mut m: BTreeMap<ExecutionState, u32> = ExecutionState::ALL.iter().map(|s| (*s, 0)).collect();
        for e in &self.subtasks {
            *m.entry(e.current.state).or_insert(0) += 1;
        }
        m
    }
}

#[derive(Clone, Debug)]
pub struct ExecutionGraph {
    pub vertices: Vec<ExecutionJobVertex>,
}

impl ExecutionGraph {
    pub fn new(cx: &mut Cx, graph: &JobGraph) -> ExecutionGraph {
        let vertices = graph
            .vertices
            .iter()
            .map(|v| ExecutionJobVertex {
                vertex: v.clone(),
                subtasks: (0..v.parallelism).map(|i| ExecutionVertex { subtask: i, current: Execution::new(cx, 0) }).collect(),
            })
            .collect();
        ExecutionGraph { vertices }
    }

    /// New attempts for every subtask (a full restart).
    pub fn reset_for_restart(&mut self, cx: &mut Cx) {
        for v in &mut self.vertices {
            for ev in &mut v.subtasks {
                let next = ev.current.attempt_number + 1;
                ev.current = Execution::new(cx, next);
            }
        }
    }

    /// New attempts for the given (vertex, subtask) executions (a region or full restart).
    pub fn reset_executions(&mut self, cx: &mut Cx, set: &std::collections::BTreeSet<(usize, usize)>) {
        for &(vi, si) in set {
            let ev = &mut self.vertices[vi].subtasks[si];
            let next = ev.current.attempt_number + 1;
            ev.current = Execution::new(cx, next);
        }
    }

    pub fn executions(&self) -> impl Iterator<Item = &Execution> {
        self.vertices.iter().flat_map(|v| v.subtasks.iter().map(|e| &e.current))
    }

    pub fn executions_mut(&mut self) -> impl Iterator<Item = &mut Execution> {
        self.vertices.iter_mut().flat_map(|v| v.subtasks.iter_mut().map(|e| &mut e.current))
    }

    /// (vertex index, subtask) of the current attempt with this id.
    pub fn find(&self, id: &ExecutionAttemptId) -> Option<(usize, usize)> {
        self.vertices.iter().enumerate().find_map(|(vi, v)| v.subtasks.iter().position(|e| e.current.attempt_id == *id).map(|si| (vi, si)))
    }

    pub fn all_in(&self, pred: impl Fn(ExecutionState) -> bool) -> bool {
        self.executions().all(|e| pred(e.state))
    }

    pub fn counts(&self) -> BTreeMap<ExecutionState, u32> {
        let mut m: BTreeMap<ExecutionState, u32> = ExecutionState::ALL.iter().map(|s| (*s, 0)).collect();
        for e in self.executions() {
            *m.entry(e.state).or_insert(0) += 1;
        }
        m
    }

    pub fn total_tasks(&self) -> u32 {
        self.vertices.iter().map(|v| v.subtasks.len() as u32).sum()
    }
}
