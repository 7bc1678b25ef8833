//! A Task: one deployed subtask (Flink's `Task`), its operator chain, its input gate and its
//! result partition. The TaskExecutor steps it (no threads): it hands the task received
//! batches, polls its source when the output has room, fires its processing-time timers, and
//! ships what the task's partition lets go out.

use std::collections::BTreeMap;

use engine::{Addr, Cx, StoreError, Time};
use flink_core::runtime::{OperatorChain, Output, SourceStatus};
use flink_core::{Element, ExecutionAttemptId, ExecutionState, TaskDeploymentDescriptor};

use crate::config::TaskExecutorConfig;
use crate::network::{InputGate, ResultPartition};

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
}

/// A credit owed to a producer: one batch of its was processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreditReturn {
    pub producer: ExecutionAttemptId,
    pub address: Addr,
    /// Its number on the credit direction of the channel.
    pub seq: u64,
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
}

impl Task {
    /// Builds the task's runtime; an error is the reason the deployment FAILED.
    pub fn new(tdd: TaskDeploymentDescriptor, config: &TaskExecutorConfig, now: Time) -> Result<Task, String> {
        let chain = OperatorChain::new(&tdd.operators, tdd.subtask_index, tdd.parallelism)?;
        let partition =
            tdd.output.as_ref().map(|o| ResultPartition::new(o, tdd.subtask_index, config.batch_size, config.credits_per_channel));
        let source = if chain.is_source() { SourcePoll::At(now) } else { SourcePoll::None };
        if !chain.is_source() && tdd.producers.is_empty() {
            return Err(format!("Task {} has neither a source nor producers", tdd.vertex_name));
        }
        let gate = InputGate::new(&tdd.producers);
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
        })
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

    /// True when the output can take more (no partition, or credit on every channel).
    pub fn has_output_capacity(&self) -> bool {
        self.partition.as_ref().is_none_or(|p| p.has_capacity())
    }

    /// The earliest time this task wants to be woken by the TaskExecutor's work timer.
    pub fn next_wake(&self) -> Option<Time> {
        if self.phase != TaskPhase::Running {
            return None;
        }
        let poll = match self.source {
            // A source without credit waits for the credit, not for a timer.
            SourcePoll::At(t) if self.has_output_capacity() => Some(t),
            _ => None,
        };
        [poll, self.next_timer].into_iter().flatten().min()
    }

    /// Processes queued input batches while the output has room. Returns the credits to send
    /// back and whether anything happened.
    pub fn process_input(&mut self, cx: &mut Cx) -> Result<(Vec<CreditReturn>, bool), String> {
        let mut credits = Vec::new();
        let mut progress = false;
        while self.phase == TaskPhase::Running && self.has_output_capacity() {
            let Some(batch) = self.gate.pop() else { break };
            progress = true;
            let now = cx.now();
            for element in batch.elements {
                match element {
                    Element::Record(_) => self.chain.process(element, now, &mut self.out)?,
                    Element::Watermark(w) => {
                        if let Some(combined) = self.gate.on_watermark(batch.source, w) {
                            self.chain.process(Element::Watermark(combined), now, &mut self.out)?;
                        }
                    }
                    Element::Barrier(_) => todo!("barrier alignment"),
                }
            }
            if batch.end_of_partition {
                if let Some(combined) = self.gate.on_end_of_partition(batch.source) {
                    self.chain.process(Element::Watermark(combined), now, &mut self.out)?;
                }
            } else {
                let seq = self.gate.next_credit_seq(batch.source);
                credits.push(CreditReturn { producer: batch.source, address: batch.from, seq });
            }
            self.absorb(cx)?;
        }
        if self.phase == TaskPhase::Running && self.source == SourcePoll::None && self.gate.is_finished() {
            self.end_input(cx)?;
            progress = true;
        }
        if progress {
            self.flush_output();
        }
        Ok((credits, progress))
    }

    /// Polls the source if it is due and the output has credit (sources only produce when
    /// every channel can take a batch).
    pub fn poll_source(&mut self, cx: &mut Cx, config: &TaskExecutorConfig) -> Result<bool, String> {
        let now = cx.now();
        match self.source {
            SourcePoll::At(t) if t <= now && self.phase == TaskPhase::Running && self.has_output_capacity() => {}
            _ => return Ok(false),
        }
        let status = self.chain.poll_source(now, config.source_step_budget, &*cx.store(), &mut self.out)?;
        self.absorb(cx)?;
        match status {
            // More to emit: due again at once; the executor bounds how often per wake-up.
            SourceStatus::More => self.source = SourcePoll::At(now),
            SourceStatus::IdleUntil(t) => self.source = SourcePoll::At(t.max(now + config.source_poll_interval)),
            SourceStatus::Finished => {
                self.source = SourcePoll::Exhausted;
                self.end_input(cx)?;
            }
        }
        self.next_timer = self.chain.next_timer();
        self.flush_output();
        Ok(true)
    }

    /// Fires due processing-time timers (windows, periodic watermarks).
    pub fn fire_timers(&mut self, cx: &mut Cx, config: &TaskExecutorConfig) -> Result<bool, String> {
        let now = cx.now();
        match self.next_timer {
            Some(t) if t <= now && self.phase == TaskPhase::Running => {}
            _ => return Ok(false),
        }
        // A timer never re-fires in the same instant: that would spin the work timer.
        self.next_timer = self.chain.on_processing_time(now, &mut self.out).map(|t| t.max(now + config.source_poll_interval));
        self.absorb(cx)?;
        self.flush_output();
        Ok(true)
    }

    /// The input ended: close the chain (final watermark, last windows), write the part files
    /// and queue the end of partition.
    fn end_input(&mut self, cx: &mut Cx) -> Result<(), String> {
        self.chain.end_of_input(cx.now(), &mut self.out);
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
        self.phase == TaskPhase::Draining && self.partition.as_ref().is_none_or(|p| p.is_finished())
    }

    fn flush_output(&mut self) {
        if let Some(p) = self.partition.as_mut() {
            p.flush();
        }
    }

    /// Moves what the chain produced to its destinations: elements to the partition, printed
    /// lines to stdout (taskmanager.out), file lines to the part-file buffers.
    fn absorb(&mut self, cx: &mut Cx) -> Result<(), String> {
        for e in self.out.elements.drain(..) {
            if let Some(p) = self.partition.as_mut() {
                p.emit(e);
            }
        }
        for line in &self.out.printed {
            cx.print(line);
        }
        for (path, line) in self.out.files.drain(..) {
            let buf = self.files.entry(path).or_default();
            buf.push_str(&line);
            buf.push('\n');
        }
        self.out.clear();
        self.flush_files(cx, FILE_FLUSH_BYTES)
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
