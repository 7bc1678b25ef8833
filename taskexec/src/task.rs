//! A Task: one deployed subtask (Flink's `Task`), its operator chain, its input gate and its
//! result partition. The TaskExecutor steps it (no threads): it hands the task received
//! batches, polls its source when the output has room, fires its processing-time timers, and
//! ships what the task's partition lets go out.
//!
//! Checkpoints (Flink's `SubtaskCheckpointCoordinator`): a source task snapshots when the
//! JobMaster triggers it, between two polls; any other task when its input gate aligned the
//! barrier. Either way the chain's state is taken, the barrier goes downstream after
//! everything emitted before it, the state is written as one JSON file under the checkpoint's
//! location in the shared store, and the JobMaster gets the acknowledgement with its handle.
//! A stop-with-savepoint is synchronous, as Flink's: after its barrier the sources read nothing
//! until the savepoint completes (then their input ends, without a flush unless drained, and
//! the job finishes) or fails (then they read on).

use std::collections::BTreeMap;
use std::time::Duration;

use engine::{Addr, Cx, StoreError, Time};
use flink_core::checkpoint::{CheckpointMetrics, DeclineReason, StateHandle, TaskStateSnapshot};
use flink_core::protocol::{CheckpointBarrier, TaskIoMetrics};
use flink_core::runtime::{ChainState, OperatorChain, Output, SourceStatus};
use flink_core::{
    CheckpointId, CheckpointKind, CheckpointingMode, Element, ExecutionAttemptId, ExecutionState, JobMasterGateway, KeyGroupRange,
    TaskDeploymentDescriptor,
};

use crate::config::TaskExecutorConfig;
use crate::network::{BarrierEvent, InputBatch, InputGate, ResultPartition};

/// How many records ahead a task hints its keyed state (see `OperatorChain::prefetch`).
const PREFETCH_AHEAD: usize = 8;

/// File-sink lines are buffered per part file and appended to the shared store in chunks of
/// about this size (and at the end), so a large output is not rewritten line by line.
const FILE_FLUSH_BYTES: usize = 64 * 1024;

/// Where a running task is in producing its output.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskPhase {
    /// Processing input, or polling its source.
    Running,
    /// Input ended: the chain was closed and the end of partition is queued; the task is
    /// FINISHED once every consumer was sent it.
    Draining,
}

/// When a source task wants its next poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourcePoll {
    /// Not a source task.
    None,
    /// Poll at this time (if the output has credit).
    At(Time),
    /// The bounded source is exhausted.
    Exhausted,
    /// Flink's synchronous savepoint (`flink stop`): the barrier of `savepoint` went out and
    /// the source reads nothing more (nor fires timers) until the savepoint completes (then its
    /// input ends and the job finishes) or fails (then it reads on, as the job keeps running).
    Stopping { savepoint: CheckpointId, drain: bool },
}

/// A credit owed to a producer: one batch of its was processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditReturn {
    pub producer: ExecutionAttemptId,
    pub address: Addr,
    /// Its number on the credit direction of the channel.
    pub seq: u64,
}

/// How the input ends (Flink's `StopMode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndOfInput {
    /// Bounded input ran out, or stop-with-savepoint with `--drain`: the chain flushes (final
    /// watermark, remaining windows).
    Drain,
    /// Stop-with-savepoint without drain: nothing is flushed; what is open lives on in the
    /// savepoint.
    NoDrain,
}

/// How long a checkpoint waited at this task for its barriers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct AlignmentStats {
    duration: Duration,
    bytes: u64,
}

pub struct Task {
    pub tdd: TaskDeploymentDescriptor,
    pub state: ExecutionState,
    pub phase: TaskPhase,
    chain: OperatorChain,
    pub partition: Option<ResultPartition>,
    pub gate: InputGate,
    pub source: SourcePoll,
    next_timer: Option<Time>,
    files: BTreeMap<String, String>,
    out: Output,
    /// How the input will end: NoDrain once a stop-with-savepoint without drain completed.
    end_mode: EndOfInput,
    /// A non-source task aligned the barrier of this stop-with-savepoint (id, drain): its
    /// inputs end when the savepoint completed and the sources stopped.
    pending_stop: Option<(CheckpointId, bool)>,
    /// Data bytes taken from the input gate and handed to the partition (as on the wire).
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// What the task has been doing since when, and the time spent so far in each
    /// [`Activity`] (busy, backpressured, idle), for Flink's accumulated time metrics.
    activity: (Activity, Time),
    activity_ms: [u64; 3],
    /// Checkpoints whose state file is being written off the task's thread, by write id: the
    /// task acknowledges each when its write ends, and does not finish before.
    async_parts: BTreeMap<u64, AsyncPart>,
}

/// What a checkpoint's acknowledgement needs once its state file is written.
struct AsyncPart {
    checkpoint_id: CheckpointId,
    path: String,
    started: Time,
    start_delay_ms: u64,
    alignment: AlignmentStats,
    key_groups: KeyGroupRange,
}

/// How a task spends its time between two handler runs, as Flink's task metrics split it:
/// backpressured while its output has no credit, busy while it has input it could process
/// or a source that is producing, idle while it waits for input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activity {
    Busy = 0,
    Backpressured = 1,
    Idle = 2,
}

impl Task {
    /// Builds the task's runtime; an error is the reason the deployment FAILED.
    pub fn new(tdd: TaskDeploymentDescriptor, config: &TaskExecutorConfig, now: Time) -> Result<Task, String> {
        let mut chain = OperatorChain::new(&tdd.operators, tdd.subtask_index, tdd.parallelism)?;
        chain.set_max_parallelism(tdd.max_parallelism);
        let partition =
            tdd.output.as_ref().map(|o| ResultPartition::new(o, tdd.subtask_index, config.buffer_size, config.credits_per_channel));
        let source = if chain.is_source() { SourcePoll::At(now) } else { SourcePoll::None };
        if !chain.is_source() && tdd.producers.is_empty() {
            return Err(format!("Task {} has neither a source nor producers", tdd.vertex_name));
        }
        // Without checkpointing no barrier comes; exactly-once is Flink's default mode.
        let gate = InputGate::new(&tdd.producers, tdd.checkpointing.unwrap_or(CheckpointingMode::ExactlyOnce));
        let next_timer = chain.next_timer();
        Ok(Task {
            tdd,
            state: ExecutionState::Deploying,
            phase: TaskPhase::Running,
            chain,
            partition,
            gate,
            source,
            next_timer,
            files: BTreeMap::new(),
            out: Output::new(),
            end_mode: EndOfInput::Drain,
            pending_stop: None,
            bytes_in: 0,
            bytes_out: 0,
            activity: (Activity::Idle, now),
            activity_ms: [0; 3],
            async_parts: BTreeMap::new(),
        })
    }

    /// Flink's INITIALIZING: names this attempt's part files and restores the chain's state
    /// from the checkpoint or savepoint in the descriptor, committing what it had pending,
    /// before anything is processed. An error fails the task.
    pub fn initialize(&mut self, cx: &mut Cx) -> Result<(), String> {
        let uid = cx.random_hex32();
        self.chain.set_writer_uid(uid);
        let Some(restore) = self.tdd.restore.clone() else { return Ok(()) };
        let name = self.name();
        let mut keyed = Vec::new();
        let mut operator = Vec::new();
        for snapshot in &restore.states {
            // A stateless chain acknowledged no file.
            let Some(handle) = &snapshot.handle else { continue };
            let bytes = cx.store().read(&handle.path).map_err(|e| {
                format!(
                    "Could not restore {name} from checkpoint {} ({}): cannot read the state file {} of subtask {}: {e}",
                    restore.checkpoint_id, restore.external_path, handle.path, snapshot.subtask_index
                )
            })?;
            let state = ChainState::from_bytes(&bytes).map_err(|e| {
                format!(
                    "Could not restore {name} from checkpoint {} ({}): the state file {} of subtask {} is corrupt: {e}",
                    restore.checkpoint_id, restore.external_path, handle.path, snapshot.subtask_index
                )
            })?;
            if restore.operator_states.contains(&snapshot.subtask_index) {
                operator.push(state.clone());
            }
            // The runtime keeps only the key groups of this subtask.
            keyed.push(state);
        }
        cx.print(&format!(
            "{name} restores its state from checkpoint {} at {}: {} state file(s).",
            restore.checkpoint_id,
            restore.external_path,
            keyed.len()
        ));
        if self.chain.is_source() {
            let splits: usize = operator.iter().map(ChainState::num_splits).sum();
            cx.print(&format!("Restoring state for {splits} split(s) to reader."));
        }
        self.chain.restore_state(&keyed, &operator, &mut self.out).map_err(|e| format!("Could not restore {name}: {e}"))?;
        self.absorb(cx)
    }

    /// The part files not committed yet (reported with FINISHED).
    pub fn pending_commits(&self) -> Vec<(String, String)> {
        self.chain.pending_commits()
    }

    pub fn execution_id(&self) -> ExecutionAttemptId {
        self.tdd.execution_id
    }

    /// "Keyed Aggregation -> Sink (2/2)#0", Flink's task name in logs.
    pub fn name(&self) -> String {
        format!("{} ({}/{})#{}", self.tdd.vertex_name, self.tdd.subtask_index + 1, self.tdd.parallelism, self.tdd.attempt_number)
    }

    pub fn records_in(&self) -> u64 {
        self.chain.records_in()
    }
    pub fn records_out(&self) -> u64 {
        self.chain.records_out()
    }

    /// Closes the current activity interval at `now` and starts the next one with what the
    /// task is doing now (called after the TaskExecutor ran its tasks).
    pub fn account(&mut self, now: Time) {
        let (was, since) = self.activity;
        self.activity_ms[was as usize] += now.since(since).as_millis() as u64;
        self.activity = (self.current_activity(), now);
    }

    fn current_activity(&self) -> Activity {
        if self.phase != TaskPhase::Running && self.partition.as_ref().is_none_or(|p| p.is_finished()) {
            Activity::Idle
        } else if !self.has_output_capacity() {
            Activity::Backpressured
        } else if self.gate.queued() > 0 || matches!(self.source, SourcePoll::At(_)) {
            Activity::Busy
        } else {
            Activity::Idle
        }
    }

    pub fn activity(&self) -> Activity {
        self.activity.0
    }

    /// The task's metrics at `now` (the open activity interval counted up to `now`).
    pub fn io_metrics(&self, now: Time) -> TaskIoMetrics {
        let mut ms = self.activity_ms;
        ms[self.activity.0 as usize] += now.since(self.activity.1).as_millis() as u64;
        TaskIoMetrics {
            records_in: self.records_in(),
            records_out: self.records_out(),
            bytes_in: self.bytes_in,
            bytes_out: self.bytes_out,
            busy_ms: ms[Activity::Busy as usize],
            backpressured_ms: ms[Activity::Backpressured as usize],
            idle_ms: ms[Activity::Idle as usize],
            input_watermark: self.gate.watermark(),
        }
    }

    /// A source waiting for its stop-with-savepoint to complete.
    fn is_stopping(&self) -> bool {
        matches!(self.source, SourcePoll::Stopping { .. })
    }

    /// True when the output can take more (no partition, or credit on every channel).
    pub fn has_output_capacity(&self) -> bool {
        self.partition.as_ref().is_none_or(|p| p.has_capacity())
    }

    /// The earliest time this task wants to be woken by the TaskExecutor's work timer.
    pub fn next_wake(&self) -> Option<Time> {
        if self.phase != TaskPhase::Running || self.is_stopping() {
            return None;
        }
        let poll = match self.source {
            // A source without credit waits for the credit, not for a timer.
            SourcePoll::At(t) if self.has_output_capacity() => Some(t),
            _ => None,
        };
        let flush = self.partition.as_ref().and_then(|p| p.flush_deadline(self.tdd.buffer_timeout_ms));
        // By hand: asked of every task at every wake-up, where a chain of iterator adapters
        // over the three cost several times the comparisons.
        fn earlier(a: Option<Time>, b: Option<Time>) -> Option<Time> {
            match (a, b) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, None) => x,
                (None, y) => y,
            }
        }
        earlier(earlier(poll, self.next_timer), flush)
    }

    /// Processes queued input batches while the output has room. Returns the credits to send
    /// back and whether anything happened.
    pub fn process_input(&mut self, cx: &mut Cx) -> Result<(Vec<CreditReturn>, bool), String> {
        let mut credits = Vec::new();
        let mut progress = false;
        while self.phase == TaskPhase::Running && self.has_output_capacity() {
            let Some(batch) = self.gate.pop() else { break };
            progress = true;
            self.bytes_in += crate::network::batch_bytes(&batch.elements);
            let now = cx.now();
            let InputBatch { source, from, seq, elements, end_of_partition } = batch;
            let mut elements = elements.into_iter();
            let mut held_back = false;
            while let Some(element) = elements.next() {
                // Keyed state is mostly cache misses: start the one a few records ahead.
                if let Some(ahead) = elements.as_slice().get(PREFETCH_AHEAD) {
                    self.chain.prefetch(ahead);
                }
                match element {
                    Element::Record(_) => self.chain.process(element, now, &mut self.out)?,
                    Element::Watermark(w) => {
                        if let Some(combined) = self.gate.on_watermark(source, w) {
                            self.chain.process(Element::Watermark(combined), now, &mut self.out)?;
                        }
                    }
                    Element::Barrier(b) => {
                        for event in self.gate.on_barrier(source, *b, now) {
                            self.on_barrier_event(cx, event)?;
                        }
                        // Producers end a batch at a barrier; should one not, what follows
                        // waits with its blocked channel.
                        if self.gate.is_blocked(source) && elements.len() > 0 {
                            let rest = InputBatch { source, from, seq, elements: elements.collect(), end_of_partition };
                            self.gate.unpop(rest);
                            held_back = true;
                            break;
                        }
                    }
                }
            }
            if held_back {
                self.absorb(cx)?;
                continue;
            }
            if end_of_partition {
                if let Some((_, false)) = self.pending_stop {
                    // Sources end only once the stop-with-savepoint completed: from here on
                    // nothing is flushed, not even the watermark the gate derives now.
                    self.stop_without_drain();
                }
                if let Some(combined) = self.gate.on_end_of_partition(source) {
                    self.chain.process(Element::Watermark(combined), now, &mut self.out)?;
                }
                // An ended channel counts as aligned: the barrier may be complete now.
                if let Some(aligned) = self.gate.check_aligned(now) {
                    self.on_barrier_event(cx, BarrierEvent::Aligned(aligned))?;
                }
            } else {
                let seq = self.gate.next_credit_seq(source);
                credits.push(CreditReturn { producer: source, address: from, seq });
            }
            self.absorb(cx)?;
        }
        if self.phase == TaskPhase::Running && self.source == SourcePoll::None && self.gate.is_finished() {
            self.end_input(cx, self.end_mode)?;
            progress = true;
        }
        // Also when nothing came in: the buffer timeout may have passed since the last turn.
        self.flush_output(cx.now());
        Ok((credits, progress))
    }

    fn on_barrier_event(&mut self, cx: &mut Cx, event: BarrierEvent) -> Result<(), String> {
        match event {
            BarrierEvent::Subsumed { checkpoint_id, by } => {
                let message = format!(
                    "{} Checkpoint {checkpoint_id} at {} was subsumed by the barrier of checkpoint {by} before it was aligned.",
                    DeclineReason::CheckpointDeclinedSubsumed.message(),
                    self.name()
                );
                self.decline(cx, checkpoint_id, DeclineReason::CheckpointDeclinedSubsumed, message);
                Ok(())
            }
            BarrierEvent::Aligned(aligned) => {
                let stats = AlignmentStats { duration: aligned.duration, bytes: aligned.bytes };
                self.checkpoint(cx, aligned.barrier, stats)
            }
        }
    }

    /// TriggerCheckpoint at a source task: snapshot now, between two polls, and emit the
    /// barrier after everything emitted so far. A stop-with-savepoint then ends the input.
    pub fn trigger_checkpoint(&mut self, cx: &mut Cx, barrier: CheckpointBarrier) -> Result<(), String> {
        let id = barrier.id;
        if !self.chain.is_source() {
            let message = format!(
                "{} {} is not a source task: only sources are triggered.",
                DeclineReason::CheckpointDeclinedTaskNotReady.message(),
                self.name()
            );
            self.decline(cx, id, DeclineReason::CheckpointDeclinedTaskNotReady, message);
            return Ok(());
        }
        if self.state != ExecutionState::Running
            || self.phase != TaskPhase::Running
            || matches!(self.source, SourcePoll::Exhausted | SourcePoll::Stopping { .. })
        {
            let message = format!(
                "{} Task {} is not running (its source is finished or it is not initialized).",
                DeclineReason::CheckpointDeclinedTaskNotReady.message(),
                self.name()
            );
            self.decline(cx, id, DeclineReason::CheckpointDeclinedTaskNotReady, message);
            return Ok(());
        }
        let stop = match barrier.options.kind {
            CheckpointKind::SyncSavepoint { drain: true } => {
                // --drain: MAX_WATERMARK goes out before the barrier and fires every timer, so
                // the savepoint holds no window that still waits.
                self.chain.end_of_input(cx.now(), &mut self.out);
                self.absorb(cx)?;
                Some(SourcePoll::Stopping { savepoint: id, drain: true })
            }
            CheckpointKind::SyncSavepoint { drain: false } => Some(SourcePoll::Stopping { savepoint: id, drain: false }),
            CheckpointKind::Checkpoint | CheckpointKind::Savepoint => None,
        };
        self.checkpoint(cx, barrier, AlignmentStats::default())?;
        if let Some(stopping) = stop {
            cx.print(&format!("{} took stop-with-savepoint {id}; waiting for it to complete before it finishes.", self.name()));
            self.source = stopping;
        }
        self.flush_output(cx.now());
        Ok(())
    }

    fn stop_without_drain(&mut self) {
        self.chain.stop_without_drain();
        self.end_mode = EndOfInput::NoDrain;
    }

    /// The synchronous part (snapshot the chain, forward the barrier) and the asynchronous one
    /// (write the state file, acknowledge). A failing snapshot declines the checkpoint; the
    /// task goes on. Only an error the task cannot survive (its output) is returned.
    fn checkpoint(&mut self, cx: &mut Cx, barrier: CheckpointBarrier, alignment: AlignmentStats) -> Result<(), String> {
        let id = barrier.id;
        let name = self.name();
        let snapshot = self.chain.snapshot_state(id, &mut self.out);
        if !self.chain.is_source() {
            self.pending_stop = match barrier.options.kind {
                CheckpointKind::SyncSavepoint { drain } => Some((id, drain)),
                CheckpointKind::Checkpoint | CheckpointKind::Savepoint => None,
            };
        }
        // What the chain emitted before the barrier goes before it.
        self.absorb(cx)?;
        let location = barrier.options.location.trim_end_matches('/').to_string();
        let start_delay_ms = cx.now().as_millis().saturating_sub(barrier.timestamp);
        let now = cx.now();
        if let Some(p) = self.partition.as_mut() {
            p.emit(Element::Barrier(Box::new(barrier)), now);
        }
        let state = match snapshot {
            Ok(state) => state,
            Err(e) => {
                let message = format!("Could not complete snapshot {id} for operator {name}. Failure reason: {e}");
                self.decline(cx, id, DeclineReason::CheckpointAsyncException, message);
                return Ok(());
            }
        };
        // The file sink's part files the state refers to must be in the store first.
        self.flush_files(cx, 0)?;
        let file = cx.random_hex32();
        let path = format!("{location}/{file}");
        // The asynchronous part, as Flink's AsyncCheckpointRunnable: the state file is made
        // and written off the task's thread while records keep flowing; the acknowledgement
        // goes when the write is done (`store_written`). The write is known by the file's
        // random name, which no other write of this TaskExecutor shares.
        let write = u64::from_str_radix(&file[..16], 16).expect("random_hex32 is hex");
        self.async_parts.insert(
            write,
            AsyncPart {
                checkpoint_id: id,
                path: path.clone(),
                started: cx.now(),
                start_delay_ms,
                alignment,
                key_groups: self.chain.key_group_range(),
            },
        );
        cx.store_write(write, path, move || state.to_parts());
        Ok(())
    }

    /// Whether `write` is the asynchronous part of one of this task's checkpoints.
    pub fn has_async_part(&self, write: u64) -> bool {
        self.async_parts.contains_key(&write)
    }

    /// The asynchronous part of a checkpoint of this task ended (`write` is its
    /// [`engine::node::StoreWrite`] id): acknowledge it, or decline if the state file could
    /// not be written.
    pub fn store_written(&mut self, cx: &mut Cx, write: u64, result: Result<u64, String>) {
        let Some(part) = self.async_parts.remove(&write) else { return };
        let (id, name) = (part.checkpoint_id, self.name());
        let size = match result {
            Ok(size) => size,
            Err(e) => {
                // The coordinator prefixes the reason's own text ("Asynchronous task checkpoint failed.").
                let message = format!("Could not write the state of {name} for checkpoint {id} to {}: {e}", part.path);
                self.decline(cx, id, DeclineReason::CheckpointAsyncException, message);
                return;
            }
        };
        cx.trace("checkpoint.ack", format!("{} {id} {}", self.execution_id(), part.path));
        let metrics = CheckpointMetrics {
            state_size: size,
            alignment_duration_ms: part.alignment.duration.as_millis() as u64,
            bytes_processed_during_alignment: part.alignment.bytes,
            // Sans-IO: the snapshot takes no time on the node's clock. The write does live
            // (the node's clock is the wall's there); in the sim it is done at once.
            sync_duration_ms: 0,
            async_duration_ms: cx.now().since(part.started).as_millis() as u64,
            start_delay_ms: part.start_delay_ms,
        };
        let state = TaskStateSnapshot {
            vertex_id: self.tdd.vertex_id,
            subtask_index: self.tdd.subtask_index,
            key_groups: part.key_groups,
            handle: Some(StateHandle { path: part.path, size }),
        };
        cx.send(
            self.tdd.job_master,
            JobMasterGateway::AcknowledgeCheckpoint {
                job_id: self.tdd.job_id,
                job_master_id: self.tdd.job_master_id,
                execution_id: self.execution_id(),
                checkpoint_id: id,
                metrics,
                state,
            },
        );
    }

    fn decline(&self, cx: &mut Cx, checkpoint_id: CheckpointId, reason: DeclineReason, message: String) {
        cx.trace("checkpoint.decline", format!("{} {checkpoint_id} {reason:?}", self.execution_id()));
        cx.send(
            self.tdd.job_master,
            JobMasterGateway::DeclineCheckpoint {
                job_id: self.tdd.job_id,
                job_master_id: self.tdd.job_master_id,
                execution_id: self.execution_id(),
                checkpoint_id,
                reason,
                message,
            },
        );
    }

    /// Checkpoint `checkpoint_id` completed: commit what the chain had pending up to it. A
    /// completed stop-with-savepoint ends the input: the source stops (without drain, with no
    /// flush), and the tasks downstream finish when their inputs end.
    pub fn notify_checkpoint_complete(&mut self, cx: &mut Cx, checkpoint_id: CheckpointId) -> Result<(), String> {
        self.chain.notify_checkpoint_complete(checkpoint_id, &mut self.out);
        self.absorb(cx)?;
        if let SourcePoll::Stopping { savepoint, drain } = self.source {
            if savepoint == checkpoint_id && self.phase == TaskPhase::Running {
                cx.print(&format!("{} stops after savepoint {savepoint}: its source ends.", self.name()));
                self.source = SourcePoll::Exhausted;
                self.end_input(cx, if drain { EndOfInput::Drain } else { EndOfInput::NoDrain })?;
                self.flush_output(cx.now());
            }
        }
        if self.pending_stop == Some((checkpoint_id, false)) {
            self.stop_without_drain();
        }
        Ok(())
    }

    /// Checkpoint `checkpoint_id` was given up: stop aligning it. A failed stop-with-savepoint
    /// leaves the job running: the source reads on; but one that was drained (its final
    /// watermark went out) cannot, and fails, so the job recovers from its last checkpoint.
    pub fn notify_checkpoint_aborted(&mut self, cx: &mut Cx, checkpoint_id: CheckpointId) -> Result<(), String> {
        if self.gate.abort(checkpoint_id) {
            cx.trace("checkpoint.aborted", format!("{} {checkpoint_id}", self.execution_id()));
        }
        if self.pending_stop.is_some_and(|(id, _)| id == checkpoint_id) {
            self.pending_stop = None;
        }
        match self.source {
            SourcePoll::Stopping { savepoint, drain: false } if savepoint == checkpoint_id => {
                cx.print(&format!("Stop-with-savepoint {savepoint} failed: {} reads on.", self.name()));
                self.source = SourcePoll::At(cx.now());
                self.next_timer = self.chain.next_timer();
                Ok(())
            }
            SourcePoll::Stopping { savepoint, drain: true } if savepoint == checkpoint_id => Err(format!(
                "Stop-with-savepoint {savepoint} failed after {} was drained (its final watermark went out); the task \
                 cannot read on.",
                self.name()
            )),
            SourcePoll::None | SourcePoll::At(_) | SourcePoll::Exhausted | SourcePoll::Stopping { .. } => Ok(()),
        }
    }

    /// Whether [`Task::poll_source`] or [`Task::fire_timers`] would do anything at `now`.
    pub fn is_due(&self, now: Time) -> bool {
        self.source_due(now) || self.timers_due(now)
    }

    /// The source is due and its output has credit (sources only produce when every channel
    /// can take a batch).
    fn source_due(&self, now: Time) -> bool {
        matches!(self.source, SourcePoll::At(t) if t <= now) && self.phase == TaskPhase::Running && self.has_output_capacity()
    }

    /// A processing-time timer is due (none fire while a synchronous savepoint stops the task).
    fn timers_due(&self, now: Time) -> bool {
        self.next_timer.is_some_and(|t| t <= now) && self.phase == TaskPhase::Running && !self.is_stopping()
    }

    /// Polls the source if it is due and the output has credit (sources only produce when
    /// every channel can take a batch).
    pub fn poll_source(&mut self, cx: &mut Cx, config: &TaskExecutorConfig) -> Result<bool, String> {
        let now = cx.now();
        if !self.source_due(now) {
            return Ok(false);
        }
        let status = self.chain.poll_source(now, config.source_step_budget, &*cx.store(), &mut self.out)?;
        self.absorb(cx)?;
        match status {
            // More to emit: due again at once; the executor bounds how often per wake-up.
            SourceStatus::More => self.source = SourcePoll::At(now),
            SourceStatus::IdleUntil(t) => self.source = SourcePoll::At(t.max(now + config.source_poll_interval)),
            SourceStatus::Finished => {
                self.source = SourcePoll::Exhausted;
                self.end_input(cx, EndOfInput::Drain)?;
            }
        }
        self.next_timer = self.chain.next_timer();
        self.flush_output(cx.now());
        Ok(true)
    }

    /// Fires due processing-time timers (windows, periodic watermarks).
    pub fn fire_timers(&mut self, cx: &mut Cx, config: &TaskExecutorConfig) -> Result<bool, String> {
        let now = cx.now();
        if !self.timers_due(now) {
            return Ok(false);
        }
        // A timer never re-fires in the same instant: that would spin the work timer.
        self.next_timer = self.chain.on_processing_time(now, &mut self.out).map(|t| t.max(now + config.source_poll_interval));
        self.absorb(cx)?;
        self.flush_output(cx.now());
        Ok(true)
    }

    /// The input ended: close the chain (with a drain: final watermark, last windows), write
    /// the part files and queue the end of partition.
    fn end_input(&mut self, cx: &mut Cx, mode: EndOfInput) -> Result<(), String> {
        match mode {
            EndOfInput::Drain => self.chain.end_of_input(cx.now(), &mut self.out),
            EndOfInput::NoDrain => self.chain.end_of_input_without_flush(cx.now(), &mut self.out),
        }
        self.absorb(cx)?;
        self.flush_files(cx, 0)?;
        if let Some(p) = self.partition.as_mut() {
            p.finish();
        }
        self.phase = TaskPhase::Draining;
        self.next_timer = None;
        Ok(())
    }

    /// True once the input ended and every consumer has been sent its end of partition.
    pub fn is_done(&self) -> bool {
        self.phase == TaskPhase::Draining && self.partition.as_ref().is_none_or(|p| p.is_finished()) && self.async_parts.is_empty()
    }

    /// The output flusher: sends the partly filled batches once they waited the job's
    /// buffer timeout (`execution.buffer-timeout`; 0 sends them at once).
    fn flush_output(&mut self, now: Time) {
        let timeout = self.tdd.buffer_timeout_ms;
        if let Some(p) = self.partition.as_mut() {
            p.flush_if_due(now, timeout);
        }
    }

    /// Moves what the chain produced to its destinations: elements to the partition, printed
    /// lines to stdout (taskmanager.out), file lines to the part-file buffers, and performs its
    /// commits (after writing out every buffered line).
    fn absorb(&mut self, cx: &mut Cx) -> Result<(), String> {
        let now = cx.now();
        for e in self.out.elements.drain(..) {
            if let Some(p) = self.partition.as_mut() {
                p.emit(e, now);
            }
        }
        for line in &self.out.printed {
            cx.print(line);
        }
        // Each entry is one or more lines (the sink joins a batch's lines for one file).
        for (path, lines) in self.out.files.drain(..) {
            let buf = self.files.entry(path).or_default();
            buf.push_str(&lines);
            buf.push('\n');
        }
        let commits = std::mem::take(&mut self.out.commits);
        self.out.clear();
        if commits.is_empty() {
            return self.flush_files(cx, FILE_FLUSH_BYTES);
        }
        self.flush_files(cx, 0)?;
        for (staging, final_path) in commits {
            commit_part_file(cx, &staging, &final_path)?;
        }
        Ok(())
    }

    /// Appends buffered lines of every part file holding at least `min_bytes` to the store.
    fn flush_files(&mut self, cx: &mut Cx, min_bytes: usize) -> Result<(), String> {
        let due: Vec<String> = self.files.iter().filter(|(_, b)| !b.is_empty() && b.len() >= min_bytes).map(|(p, _)| p.clone()).collect();
        for path in due {
            let lines = self.files.remove(&path).unwrap_or_default();
            let store = cx.store();
            let mut data = match store.read(&path) {
                Ok(d) => d,
                Err(StoreError::NotFound(_)) => Vec::new(),
                Err(e) => return Err(format!("Cannot append to {path}: {e}")),
            };
            data.extend_from_slice(lines.as_bytes());
            store.write(&path, &data).map_err(|e| format!("Cannot write {path}: {e}"))?;
        }
        Ok(())
    }
}

/// Commits a part file by renaming it from its hidden staging name. Idempotent, as Flink's
/// `commitAfterRecovery`: staging gone and final present means it was committed before.
fn commit_part_file(cx: &mut Cx, staging: &str, final_path: &str) -> Result<(), String> {
    let store = cx.store();
    if store.exists(staging) {
        store.rename(staging, final_path).map_err(|e| format!("Could not commit the part file {staging} as {final_path}: {e}"))?;
        cx.trace("file.commit", final_path);
        return Ok(());
    }
    if store.exists(final_path) {
        return Ok(());
    }
    Err(format!("Could not commit the part file {final_path}: neither it nor its in-progress file {staging} exists"))
}
