//! Flink's network stack in miniature: a task's ResultPartition (one subpartition, here
//! "channel", per consumer subtask) and its InputGate (one channel per producer), with
//! credit-based flow control.
//!
//! Credits: a producer starts with `credits` exclusive buffers per channel and may have at
//! most that many unacknowledged batches in flight; the consumer returns one credit per batch
//! once it processed it. A producer whose output has no room stops pulling input, so the
//! pressure propagates upstream to the sources (backpressure).
//!
//! Barriers: a checkpoint barrier is broadcast to every channel, in line with the records, and
//! ends its batch. The input gate aligns them (Flink's `SingleCheckpointBarrierHandler`):
//! EXACTLY_ONCE blocks each channel after its barrier until every channel that has not ended
//! delivered it, AT_LEAST_ONCE blocks nothing and just waits for the last one. The task
//! snapshots its chain when the barrier is aligned and forwards it.
//!
//! Ordering: links are FIFO (TCP per connection live, the sim's links alike), and each
//! direction of each channel numbers its messages from 0: data batches producer -> consumer,
//! credits consumer -> producer. So watermarks, barriers and the end of partition go out in
//! line with the records, and the receiver checks the numbers: a gap or a duplicate means a
//! message was lost on the way (a lost connection, in Flink's terms) and the receiving task
//! fails rather than stall or compute a wrong result.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use engine::{Addr, Time};
use flink_core::protocol::{CheckpointBarrier, OutputSpec};
use flink_core::runtime::select_channel;
use flink_core::{CheckpointId, CheckpointingMode, Element, ExecutionAttemptId, ShipStrategy};

/// One network batch (Flink: a buffer) on its way to a consumer.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub elements: Vec<Element>,
    /// The elements' encoded size without barriers (`numBytesOut`), summed as they came in.
    pub bytes: u64,
    pub end_of_partition: bool,
}

/// A batch ready to go out: to whom, and its number on the channel.
#[derive(Clone, Debug, PartialEq)]
pub struct Sendable {
    pub consumer: ExecutionAttemptId,
    pub address: Addr,
    pub seq: u64,
    pub batch: Batch,
}

/// A message arrived out of sequence on a channel: one before it was lost (`got > expected`)
/// or it came twice (`got < expected`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfSequence {
    /// The task at the other end of the channel.
    pub peer: ExecutionAttemptId,
    pub expected: u64,
    pub got: u64,
}

/// Why a received batch was not queued.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PushError {
    /// The sender is not one of this task's producers (a stale or misrouted batch): dropped.
    UnknownProducer(ExecutionAttemptId),
    /// The channel lost or repeated a message: the task cannot go on.
    OutOfSequence(OutOfSequence),
}

/// Checks `got` against the next expected number on a channel and advances it.
fn check_seq(next: &mut u64, peer: ExecutionAttemptId, got: u64) -> Result<(), OutOfSequence> {
    if got != *next {
        return Err(OutOfSequence { peer, expected: *next, got });
    }
    *next += 1;
    Ok(())
}

/// The producer's side of one consumer subtask.
#[derive(Debug)]
pub struct OutputChannel {
    pub consumer: ExecutionAttemptId,
    pub address: Addr,
    building: Vec<Element>,
    /// Encoded size of `building`.
    building_bytes: usize,
    queued: VecDeque<Batch>,
    in_flight: u32,
    end_of_partition_sent: bool,
    /// Number of the next data batch on this channel.
    next_seq: u64,
    /// Number of the next credit message expected from the consumer.
    next_credit_seq: u64,
}

impl OutputChannel {
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }
}

/// A task's output: records routed by the edge's ship strategy, batched per channel.
#[derive(Debug)]
pub struct ResultPartition {
    ship: ShipStrategy,
    max_parallelism: u32,
    producer_subtask: u32,
    round_robin: u64,
    /// Bytes of encoded data that fill a batch.
    buffer_size: usize,
    credits: u32,
    channels: Vec<OutputChannel>,
    finished: bool,
    /// When the oldest element still in a partly filled batch was emitted: the output flusher
    /// sends every partly filled batch once the buffer timeout has passed since then.
    oldest_unflushed: Option<Time>,
}

impl ResultPartition {
    pub fn new(spec: &OutputSpec, producer_subtask: u32, buffer_size: usize, credits: u32) -> ResultPartition {
        let channels = spec
            .consumers
            .iter()
            .map(|(consumer, address)| OutputChannel {
                consumer: *consumer,
                address: *address,
                building: Vec::new(),
                building_bytes: 0,
                queued: VecDeque::new(),
                in_flight: 0,
                end_of_partition_sent: false,
                next_seq: 0,
                next_credit_seq: 0,
            })
            .collect();
        ResultPartition {
            ship: spec.ship.clone(),
            max_parallelism: spec.max_parallelism,
            producer_subtask,
            round_robin: 0,
            buffer_size: buffer_size.max(1),
            credits: credits.max(1),
            channels,
            finished: false,
            oldest_unflushed: None,
        }
    }

    pub fn channels(&self) -> &[OutputChannel] {
        &self.channels
    }

    /// Routes one element emitted at `now`: a record to the channel its ship strategy picks, a
    /// watermark or a barrier to all. A barrier ends its batch on every channel, so a consumer
    /// that blocks the channel after it has nothing of the next checkpoint in hand.
    pub fn emit(&mut self, element: Element, now: Time) {
        if self.channels.is_empty() {
            return;
        }
        self.oldest_unflushed.get_or_insert(now);
        match &element {
            Element::Record(r) => {
                let n = self.channels.len() as u32;
                let c = select_channel(&self.ship, r, self.producer_subtask, &mut self.round_robin, n, self.max_parallelism).min(n - 1);
                self.push(c as usize, element);
            }
            Element::Watermark(_) => {
                for c in 0..self.channels.len() {
                    self.push(c, element.clone());
                }
            }
            Element::Barrier(_) => {
                for c in 0..self.channels.len() {
                    self.push(c, element.clone());
                }
                self.flush();
            }
        }
    }

    fn push(&mut self, c: usize, element: Element) {
        let ch = &mut self.channels[c];
        ch.building_bytes += flink_core::codec::data_len(&element) as usize;
        ch.building.push(element);
        if ch.building_bytes >= self.buffer_size {
            Self::cut(ch);
        }
    }

    fn cut(ch: &mut OutputChannel) {
        // The next batch is likely as long as this one: one allocation for it up front.
        let n = ch.building.len();
        let elements = std::mem::replace(&mut ch.building, Vec::with_capacity(n));
        let bytes = std::mem::take(&mut ch.building_bytes) as u64;
        ch.queued.push_back(Batch { elements, bytes, end_of_partition: false });
    }

    /// Cuts every partly filled batch so it can be sent (Flink's output flusher).
    pub fn flush(&mut self) {
        for ch in &mut self.channels {
            if !ch.building.is_empty() {
                Self::cut(ch);
            }
        }
        self.oldest_unflushed = None;
    }

    /// When the output flusher must send the partly filled batches, with a buffer timeout of
    /// `timeout_ms` (None: never, only full batches go out).
    pub fn flush_deadline(&self, timeout_ms: Option<u64>) -> Option<Time> {
        let since = self.oldest_unflushed?;
        if self.channels.iter().all(|ch| ch.building.is_empty()) {
            return None;
        }
        timeout_ms.map(|ms| since + Duration::from_millis(ms))
    }

    /// Flushes if the buffer timeout has passed at `now`; true if it did.
    pub fn flush_if_due(&mut self, now: Time, timeout_ms: Option<u64>) -> bool {
        match self.flush_deadline(timeout_ms) {
            Some(t) if t <= now => {
                self.flush();
                true
            }
            _ => false,
        }
    }

    /// No more output: flush and queue the end of partition on every channel.
    pub fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        self.flush();
        for ch in &mut self.channels {
            ch.queued.push_back(Batch { elements: Vec::new(), bytes: 0, end_of_partition: true });
        }
    }

    /// True when the task may produce more: every channel has credit and nothing waiting.
    pub fn has_capacity(&self) -> bool {
        self.channels.iter().all(|ch| ch.queued.is_empty() && ch.in_flight < self.credits)
    }

    /// Batches that may go out now, in channel order, each taking one credit and the next
    /// number of its channel.
    pub fn take_sendable(&mut self) -> Vec<Sendable> {
        let mut out = Vec::new();
        for ch in &mut self.channels {
            // Links are FIFO: nothing sent later on this channel can overtake this batch.
            while ch.in_flight < self.credits {
                let Some(batch) = ch.queued.pop_front() else { break };
                if batch.end_of_partition {
                    ch.end_of_partition_sent = true;
                } else {
                    // The end of partition is never acknowledged: the producer may be gone.
                    ch.in_flight += 1;
                }
                let seq = ch.next_seq;
                ch.next_seq += 1;
                out.push(Sendable { consumer: ch.consumer, address: ch.address, seq, batch });
            }
        }
        out
    }

    /// The consumer processed `n` batches; `seq` numbers its credit messages. Ok(false) for a
    /// consumer that is not on this partition (a stale credit).
    pub fn add_credit(&mut self, consumer: ExecutionAttemptId, seq: u64, n: u32) -> Result<bool, OutOfSequence> {
        match self.channels.iter_mut().find(|ch| ch.consumer == consumer) {
            Some(ch) => {
                check_seq(&mut ch.next_credit_seq, consumer, seq)?;
                ch.in_flight = ch.in_flight.saturating_sub(n);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Every channel got its end of partition.
    pub fn is_finished(&self) -> bool {
        self.finished && self.channels.iter().all(|ch| ch.end_of_partition_sent)
    }
}

/// A batch received from a producer, waiting for the task to process it.
#[derive(Clone, Debug, PartialEq)]
pub struct InputBatch {
    pub source: ExecutionAttemptId,
    /// The producer's TaskExecutor, where the credit goes back.
    pub from: Addr,
    /// Its number on the channel.
    pub seq: u64,
    pub elements: Vec<Element>,
    pub end_of_partition: bool,
}

#[derive(Debug)]
struct InputChannel {
    watermark: i64,
    ended: bool,
    /// Number of the next data batch expected from the producer.
    next_seq: u64,
    /// Number of the next credit message to the producer.
    next_credit_seq: u64,
    /// EXACTLY_ONCE alignment: this channel delivered the pending barrier; its later batches
    /// wait until the barrier is aligned (or the checkpoint given up).
    blocked: bool,
}

/// Where the gate is with checkpoint barriers.
#[derive(Clone, Debug, PartialEq)]
pub enum Alignment {
    /// No checkpoint in progress at this task.
    Idle,
    /// A barrier arrived on some channels and is awaited on the others.
    Aligning {
        barrier: CheckpointBarrier,
        /// When the first barrier arrived.
        started: Time,
        /// Channels that delivered it.
        arrived: BTreeSet<ExecutionAttemptId>,
        /// Bytes of the batches processed meanwhile (Flink's `bytesProcessedDuringAlignment`).
        bytes: u64,
    },
}

/// A barrier every open channel delivered: the task snapshots and forwards it.
#[derive(Clone, Debug, PartialEq)]
pub struct Aligned {
    pub barrier: CheckpointBarrier,
    /// From the first barrier to the last.
    pub duration: Duration,
    pub bytes: u64,
}

/// What a barrier (or an ended channel) did to the alignment.
#[derive(Clone, Debug, PartialEq)]
pub enum BarrierEvent {
    /// A newer barrier arrived while this checkpoint was aligning: it is declined
    /// (CHECKPOINT_DECLINED_SUBSUMED) and the newer one aligned instead.
    Subsumed {
        checkpoint_id: CheckpointId,
        by: CheckpointId,
    },
    Aligned(Aligned),
}

/// A task's input: one channel per producer, a FIFO of received batches, and the combined
/// watermark (the minimum over producers; a producer that ended no longer holds it back).
#[derive(Debug)]
pub struct InputGate {
    channels: BTreeMap<ExecutionAttemptId, InputChannel>,
    queue: VecDeque<InputBatch>,
    emitted_watermark: i64,
    mode: CheckpointingMode,
    alignment: Alignment,
    /// The newest checkpoint this gate started aligning or was told to abort: barriers of it
    /// or older that arrive later belong to a checkpoint already completed, declined or
    /// aborted here, and are dropped.
    latest_checkpoint: CheckpointId,
}

impl InputGate {
    pub fn new(producers: &[ExecutionAttemptId], mode: CheckpointingMode) -> InputGate {
        InputGate {
            channels: producers
                .iter()
                .map(|p| (*p, InputChannel { watermark: i64::MIN, ended: false, next_seq: 0, next_credit_seq: 0, blocked: false }))
                .collect(),
            queue: VecDeque::new(),
            emitted_watermark: i64::MIN,
            mode,
            alignment: Alignment::Idle,
            latest_checkpoint: 0,
        }
    }

    /// Queues a received batch; refused if `source` is not one of this task's producers or the
    /// batch is not the next on its channel.
    pub fn push(&mut self, batch: InputBatch) -> Result<(), PushError> {
        let Some(ch) = self.channels.get_mut(&batch.source) else {
            return Err(PushError::UnknownProducer(batch.source));
        };
        check_seq(&mut ch.next_seq, batch.source, batch.seq).map_err(PushError::OutOfSequence)?;
        self.queue.push_back(batch);
        Ok(())
    }

    /// The number for the next credit message to `producer`.
    pub fn next_credit_seq(&mut self, producer: ExecutionAttemptId) -> u64 {
        match self.channels.get_mut(&producer) {
            Some(ch) => {
                ch.next_credit_seq += 1;
                ch.next_credit_seq - 1
            }
            // Only batches of known producers are queued, so only they are credited.
            None => 0,
        }
    }

    /// The oldest batch of a channel that is not blocked by the alignment.
    pub fn pop(&mut self) -> Option<InputBatch> {
        let i = self.queue.iter().position(|b| self.channels.get(&b.source).is_none_or(|c| !c.blocked))?;
        let batch = self.queue.remove(i)?;
        if let Alignment::Aligning { bytes, .. } = &mut self.alignment {
            *bytes += batch_bytes(&batch.elements);
        }
        Some(batch)
    }

    /// Puts back the unprocessed rest of a batch whose channel a barrier in it just blocked:
    /// it is the next batch of its channel.
    pub fn unpop(&mut self, batch: InputBatch) {
        self.queue.push_front(batch);
    }

    pub fn is_blocked(&self, source: ExecutionAttemptId) -> bool {
        self.channels.get(&source).is_some_and(|c| c.blocked)
    }

    pub fn alignment(&self) -> &Alignment {
        &self.alignment
    }

    /// A barrier from `source`. Returns what it caused: the subsumed older checkpoint and/or
    /// the aligned barrier the task must now snapshot and forward.
    pub fn on_barrier(&mut self, source: ExecutionAttemptId, barrier: CheckpointBarrier, now: Time) -> Vec<BarrierEvent> {
        let mut events = Vec::new();
        let id = barrier.id;
        match &self.alignment {
            Alignment::Aligning { barrier: current, .. } if current.id == id => {}
            // Late barrier of a checkpoint this gate gave up on.
            Alignment::Aligning { barrier: current, .. } if current.id > id => return events,
            Alignment::Aligning { barrier: current, .. } => {
                events.push(BarrierEvent::Subsumed { checkpoint_id: current.id, by: id });
                self.release();
            }
            Alignment::Idle if id <= self.latest_checkpoint => return events,
            Alignment::Idle => {}
        }
        if self.alignment == Alignment::Idle {
            self.latest_checkpoint = id;
            self.alignment = Alignment::Aligning { barrier, started: now, arrived: BTreeSet::new(), bytes: 0 };
        }
        if let Alignment::Aligning { arrived, .. } = &mut self.alignment {
            arrived.insert(source);
        }
        if self.mode == CheckpointingMode::ExactlyOnce {
            if let Some(c) = self.channels.get_mut(&source) {
                c.blocked = true;
            }
        }
        events.extend(self.check_aligned(now).map(BarrierEvent::Aligned));
        events
    }

    /// The barrier being aligned, if every channel delivered it or ended (an ended channel
    /// sends no more barriers, so it counts as aligned). Unblocks the channels.
    pub fn check_aligned(&mut self, now: Time) -> Option<Aligned> {
        let Alignment::Aligning { arrived, .. } = &self.alignment else { return None };
        if !self.channels.iter().all(|(id, c)| c.ended || arrived.contains(id)) {
            return None;
        }
        let Alignment::Aligning { barrier, started, bytes, .. } = std::mem::replace(&mut self.alignment, Alignment::Idle) else {
            return None;
        };
        self.release();
        Some(Aligned { barrier, duration: now.since(started), bytes })
    }

    /// The JobMaster gave checkpoint `checkpoint_id` up: stop aligning it and unblock. Returns
    /// whether it was being aligned.
    pub fn abort(&mut self, checkpoint_id: CheckpointId) -> bool {
        self.latest_checkpoint = self.latest_checkpoint.max(checkpoint_id);
        match &self.alignment {
            Alignment::Aligning { barrier, .. } if barrier.id == checkpoint_id => {
                self.release();
                true
            }
            Alignment::Aligning { .. } | Alignment::Idle => false,
        }
    }

    fn release(&mut self) {
        self.alignment = Alignment::Idle;
        for c in self.channels.values_mut() {
            c.blocked = false;
        }
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The combined input watermark emitted so far (None before the first).
    pub fn watermark(&self) -> Option<i64> {
        (self.emitted_watermark != i64::MIN).then_some(self.emitted_watermark)
    }

    /// A producer's watermark; returns the combined watermark if it advanced.
    pub fn on_watermark(&mut self, source: ExecutionAttemptId, watermark: i64) -> Option<i64> {
        if let Some(ch) = self.channels.get_mut(&source) {
            ch.watermark = ch.watermark.max(watermark);
        }
        self.advance()
    }

    /// A producer ended; returns the combined watermark if that released it.
    pub fn on_end_of_partition(&mut self, source: ExecutionAttemptId) -> Option<i64> {
        if let Some(ch) = self.channels.get_mut(&source) {
            ch.ended = true;
        }
        self.advance()
    }

    fn advance(&mut self) -> Option<i64> {
        // With every producer ended there is no combined watermark: end of input takes over.
        let min = self.channels.values().filter(|c| !c.ended).map(|c| c.watermark).min()?;
        if min > self.emitted_watermark {
            self.emitted_watermark = min;
            Some(min)
        } else {
            None
        }
    }

    /// Every producer ended and every batch was processed.
    pub fn is_finished(&self) -> bool {
        self.queue.is_empty() && self.channels.values().all(|c| c.ended)
    }
}

/// The size of a batch's data on the wire (its binary encoding without barriers), for the
/// alignment and `numBytesIn/Out` metrics; counted without building the encoding.
pub(crate) fn batch_bytes(elements: &[Element]) -> u64 {
    elements.iter().map(flink_core::codec::data_len).sum()
}

/// Data that arrived for an execution not (yet) deployed here: the consumer's SubmitTask may
/// be slower than its producer's first batch. Bounded per target; the excess is dropped.
#[derive(Debug, Default)]
pub struct PendingData {
    by_target: BTreeMap<ExecutionAttemptId, (Time, Vec<InputBatch>)>,
}

impl PendingData {
    /// Holds a batch; false (dropped) when the target already has `max` batches held.
    pub fn hold(&mut self, target: ExecutionAttemptId, batch: InputBatch, now: Time, max: usize) -> bool {
        let entry = self.by_target.entry(target).or_insert_with(|| (now, Vec::new()));
        if entry.1.len() >= max {
            return false;
        }
        entry.1.push(batch);
        true
    }

    pub fn take(&mut self, target: ExecutionAttemptId) -> Vec<InputBatch> {
        self.by_target.remove(&target).map(|(_, b)| b).unwrap_or_default()
    }

    /// Drops what was held since before `cutoff` (its consumer never came); returns the targets.
    pub fn expire(&mut self, cutoff: Time) -> Vec<(ExecutionAttemptId, usize)> {
        let old: Vec<ExecutionAttemptId> = self.by_target.iter().filter(|(_, (since, _))| *since < cutoff).map(|(t, _)| *t).collect();
        old.into_iter().map(|t| (t, self.by_target.remove(&t).map(|(_, b)| b.len()).unwrap_or(0))).collect()
    }

    pub fn len(&self) -> usize {
        self.by_target.values().map(|(_, b)| b.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.by_target.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flink_core::{Record, Value};
    use proptest::prelude::*;

    fn rec(i: i64) -> Element {
        Element::Record(Record::new(vec![Value::Int(i)]))
    }

    fn spec(n: u128) -> OutputSpec {
        OutputSpec {
            ship: ShipStrategy::Forward,
            max_parallelism: 128,
            consumers: (0..n).map(|i| (ExecutionAttemptId(i + 1), "127.0.0.1:9".parse().unwrap())).collect(),
        }
    }

    fn input(source: u128, seq: u64) -> InputBatch {
        InputBatch {
            source: ExecutionAttemptId(source),
            from: "127.0.0.1:9".parse().unwrap(),
            seq,
            elements: vec![],
            end_of_partition: false,
        }
    }

    #[test]
    fn credits_bound_the_batches_in_flight() {
        let mut p = ResultPartition::new(&spec(1), 0, 2, 3);
        for i in 0..20 {
            p.emit(rec(i), Time::ZERO);
        }
        assert!(!p.has_capacity());
        let sent = p.take_sendable();
        assert_eq!(sent.len(), 3, "three credits, three batches");
        assert!(p.take_sendable().is_empty());
        assert_eq!(p.add_credit(ExecutionAttemptId(1), 0, 1), Ok(true));
        assert_eq!(p.take_sendable().len(), 1);
        assert_eq!(p.channels()[0].in_flight(), 3);
    }

    #[test]
    fn batches_are_numbered_per_channel_and_go_out_in_order() {
        let mut p = ResultPartition::new(&spec(2), 0, 10, 4);
        p.emit(rec(1), Time::ZERO);
        p.flush();
        p.emit(Element::Watermark(5), Time::ZERO);
        p.finish();
        let sent = p.take_sendable();
        // Links are FIFO: the watermark and the end of partition follow the records at once.
        let mut ch1: Vec<(u64, Vec<Element>, bool)> = sent
            .iter()
            .filter(|s| s.consumer == ExecutionAttemptId(1))
            .map(|s| (s.seq, s.batch.elements.clone(), s.batch.end_of_partition))
            .collect();
        assert_eq!(ch1.remove(0), (0, vec![rec(1)], false));
        assert_eq!(ch1.remove(0), (1, vec![Element::Watermark(5)], false));
        assert_eq!(ch1.remove(0), (2, vec![], true));
        let ch2: Vec<u64> = sent.iter().filter(|s| s.consumer == ExecutionAttemptId(2)).map(|s| s.seq).collect();
        assert_eq!(ch2, vec![0, 1], "the second channel numbers its own batches (watermark, end of partition)");
        assert!(p.is_finished());
    }

    #[test]
    fn a_lost_or_repeated_credit_is_out_of_sequence() {
        let mut p = ResultPartition::new(&spec(1), 0, 1, 4);
        for i in 0..4 {
            p.emit(rec(i), Time::ZERO);
        }
        assert_eq!(p.take_sendable().len(), 4);
        assert_eq!(p.add_credit(ExecutionAttemptId(1), 0, 1), Ok(true));
        let lost = p.add_credit(ExecutionAttemptId(1), 2, 1);
        assert_eq!(lost, Err(OutOfSequence { peer: ExecutionAttemptId(1), expected: 1, got: 2 }));
        let repeated = p.add_credit(ExecutionAttemptId(1), 0, 1);
        assert_eq!(repeated, Err(OutOfSequence { peer: ExecutionAttemptId(1), expected: 1, got: 0 }));
        assert_eq!(p.channels()[0].in_flight(), 3, "credits out of sequence are not counted");
        assert_eq!(p.add_credit(ExecutionAttemptId(9), 0, 1), Ok(false), "an unknown consumer's credit is ignored");
    }

    #[test]
    fn the_gate_refuses_a_gap_or_a_duplicate() {
        let mut g = InputGate::new(&[ExecutionAttemptId(1), ExecutionAttemptId(2)], CheckpointingMode::ExactlyOnce);
        assert_eq!(g.push(input(1, 0)), Ok(()));
        assert_eq!(g.push(input(2, 0)), Ok(()), "each channel counts on its own");
        assert_eq!(g.push(input(1, 1)), Ok(()));
        let gap = g.push(input(1, 3));
        assert_eq!(gap, Err(PushError::OutOfSequence(OutOfSequence { peer: ExecutionAttemptId(1), expected: 2, got: 3 })));
        let dup = g.push(input(2, 0));
        assert_eq!(dup, Err(PushError::OutOfSequence(OutOfSequence { peer: ExecutionAttemptId(2), expected: 1, got: 0 })));
        assert_eq!(g.push(input(3, 0)), Err(PushError::UnknownProducer(ExecutionAttemptId(3))));
        assert_eq!(g.queued(), 3);
        assert_eq!((g.next_credit_seq(ExecutionAttemptId(1)), g.next_credit_seq(ExecutionAttemptId(1))), (0, 1));
        assert_eq!(g.next_credit_seq(ExecutionAttemptId(2)), 0);
    }

    fn barrier(id: CheckpointId) -> CheckpointBarrier {
        CheckpointBarrier {
            id,
            timestamp: 0,
            options: flink_core::checkpoint::CheckpointOptions {
                kind: flink_core::CheckpointKind::Checkpoint,
                location: format!("chk/chk-{id}"),
            },
        }
    }

    fn batch(source: u128, seq: u64, elements: Vec<Element>) -> InputBatch {
        InputBatch { source: ExecutionAttemptId(source), from: "127.0.0.1:9".parse().unwrap(), seq, elements, end_of_partition: false }
    }

    /// Runs a gate as a task does: pops batches, hands records to the "chain" (a log) and
    /// barriers to the gate, logs what the barriers caused.
    fn drain_gate(g: &mut InputGate, now: Time) -> Vec<String> {
        let mut log = Vec::new();
        while let Some(b) = g.pop() {
            for e in b.elements {
                match e {
                    Element::Record(r) => log.push(r.to_string()),
                    Element::Watermark(_) => {}
                    Element::Barrier(x) => {
                        for ev in g.on_barrier(b.source, *x, now) {
                            log.push(match ev {
                                BarrierEvent::Subsumed { checkpoint_id, by } => format!("declined {checkpoint_id} (subsumed by {by})"),
                                BarrierEvent::Aligned(a) => format!("aligned {}", a.barrier.id),
                            });
                        }
                    }
                }
            }
            if b.end_of_partition {
                g.on_end_of_partition(b.source);
                if let Some(a) = g.check_aligned(now) {
                    log.push(format!("aligned {}", a.barrier.id));
                }
            }
        }
        log
    }

    fn interleaved(mode: CheckpointingMode) -> (InputGate, Vec<String>) {
        let mut g = InputGate::new(&[ExecutionAttemptId(1), ExecutionAttemptId(2)], mode);
        let bar = |id| Element::Barrier(Box::new(barrier(id)));
        // Arrival order: a1 a-barrier a2 b1 b-barrier b2.
        g.push(batch(1, 0, vec![rec(1), bar(1)])).unwrap();
        g.push(batch(1, 1, vec![rec(2)])).unwrap();
        g.push(batch(2, 0, vec![rec(101)])).unwrap();
        g.push(batch(2, 1, vec![bar(1)])).unwrap();
        g.push(batch(2, 2, vec![rec(102)])).unwrap();
        let log = drain_gate(&mut g, Time(5));
        (g, log)
    }

    #[test]
    fn exactly_once_blocks_a_channel_after_its_barrier_until_all_delivered_it() {
        let (g, log) = interleaved(CheckpointingMode::ExactlyOnce);
        // Record 2 came after channel 1's barrier: it waits until channel 2's barrier is in.
        assert_eq!(log, vec!["1", "101", "aligned 1", "2", "102"]);
        assert_eq!(g.alignment(), &Alignment::Idle);
        assert!(!g.is_blocked(ExecutionAttemptId(1)));
    }

    #[test]
    fn at_least_once_blocks_nothing_and_snapshots_at_the_last_barrier() {
        let (_, log) = interleaved(CheckpointingMode::AtLeastOnce);
        assert_eq!(log, vec!["1", "2", "101", "aligned 1", "102"]);
    }

    #[test]
    fn alignment_counts_time_and_bytes() {
        let mut g = InputGate::new(&[ExecutionAttemptId(1), ExecutionAttemptId(2)], CheckpointingMode::ExactlyOnce);
        assert!(g.on_barrier(ExecutionAttemptId(1), barrier(3), Time(1_000)).is_empty());
        g.push(batch(2, 0, vec![rec(7)])).unwrap();
        assert_eq!(g.pop().map(|b| b.elements), Some(vec![rec(7)]));
        let ev = g.on_barrier(ExecutionAttemptId(2), barrier(3), Time(251_000));
        let [BarrierEvent::Aligned(a)] = ev.as_slice() else { panic!("{ev:?}") };
        assert_eq!(a.duration, Duration::from_millis(250));
        // Binary layout: element tag, field count, value tag, zig-zag varint 14.
        assert_eq!(a.bytes, [0u8, 1, 0, 14].len() as u64);
    }

    #[test]
    fn a_newer_barrier_subsumes_the_one_being_aligned() {
        let mut g = InputGate::new(&[ExecutionAttemptId(1), ExecutionAttemptId(2)], CheckpointingMode::ExactlyOnce);
        let bar = |id| Element::Barrier(Box::new(barrier(id)));
        g.push(batch(1, 0, vec![bar(1)])).unwrap();
        g.push(batch(1, 1, vec![rec(1), bar(2)])).unwrap();
        // Channel 2 lost barrier 1 (its checkpoint was aborted upstream) and sends barrier 2.
        g.push(batch(2, 0, vec![bar(2)])).unwrap();
        g.push(batch(2, 1, vec![bar(1)])).unwrap();
        let log = drain_gate(&mut g, Time(0));
        assert_eq!(log, vec!["declined 1 (subsumed by 2)", "1", "aligned 2"], "a late barrier 1 is dropped");
    }

    #[test]
    fn an_abort_unblocks_and_late_barriers_of_it_are_dropped() {
        let mut g = InputGate::new(&[ExecutionAttemptId(1), ExecutionAttemptId(2)], CheckpointingMode::ExactlyOnce);
        assert!(g.on_barrier(ExecutionAttemptId(1), barrier(4), Time(0)).is_empty());
        assert!(g.is_blocked(ExecutionAttemptId(1)));
        assert!(!g.abort(3), "not the one aligning");
        assert!(g.abort(4));
        assert!(!g.is_blocked(ExecutionAttemptId(1)));
        assert!(g.on_barrier(ExecutionAttemptId(2), barrier(4), Time(0)).is_empty());
        assert_eq!(g.alignment(), &Alignment::Idle);
        // An abort before the barrier came: it is dropped on arrival too.
        assert!(!g.abort(5));
        assert!(g.on_barrier(ExecutionAttemptId(1), barrier(5), Time(0)).is_empty());
        assert!(!g.is_blocked(ExecutionAttemptId(1)));
    }

    #[test]
    fn an_ended_channel_counts_as_aligned() {
        let mut g = InputGate::new(&[ExecutionAttemptId(1), ExecutionAttemptId(2)], CheckpointingMode::ExactlyOnce);
        let bar = |id| Element::Barrier(Box::new(barrier(id)));
        g.push(batch(1, 0, vec![bar(1)])).unwrap();
        g.push(InputBatch { end_of_partition: true, ..batch(2, 0, vec![rec(5)]) }).unwrap();
        assert_eq!(drain_gate(&mut g, Time(0)), vec!["5", "aligned 1"]);
        // With channel 2 ended, a barrier on channel 1 alone is aligned at once.
        g.push(batch(1, 1, vec![bar(2)])).unwrap();
        assert_eq!(drain_gate(&mut g, Time(0)), vec!["aligned 2"]);
    }

    #[test]
    fn a_barrier_ends_its_batch_on_every_channel() {
        let mut p = ResultPartition::new(&spec(2), 0, 10, 8);
        p.emit(rec(1), Time::ZERO);
        p.emit(Element::Barrier(Box::new(barrier(1))), Time::ZERO);
        p.emit(rec(2), Time::ZERO);
        p.flush();
        let sent = p.take_sendable();
        let ch = |c: u128| -> Vec<Vec<Element>> {
            sent.iter().filter(|s| s.consumer == ExecutionAttemptId(c)).map(|s| s.batch.elements.clone()).collect()
        };
        let b = Element::Barrier(Box::new(barrier(1)));
        assert_eq!(ch(1), vec![vec![rec(1), b.clone()], vec![rec(2)]], "forward: both records on channel 1");
        assert_eq!(ch(2), vec![vec![b]]);
    }

    /// One channel's batches: records `c*1000 + i`, barriers 1..=k each ending a batch.
    fn channel_batches(c: u128, cuts: &[(usize, bool)], k: CheckpointId) -> Vec<Vec<Element>> {
        let mut batches = Vec::new();
        let mut next = 0i64;
        let mut barrier_id = 0;
        for &(records, with_barrier) in cuts {
            let mut b: Vec<Element> = (0..records)
                .map(|_| {
                    next += 1;
                    rec(c as i64 * 1000 + next)
                })
                .collect();
            if with_barrier && barrier_id < k {
                barrier_id += 1;
                b.push(Element::Barrier(Box::new(barrier(barrier_id))));
            }
            batches.push(b);
        }
        while barrier_id < k {
            barrier_id += 1;
            batches.push(vec![Element::Barrier(Box::new(barrier(barrier_id)))]);
        }
        batches
    }

    fn check_alignment(mode: CheckpointingMode, cuts: Vec<Vec<(usize, bool)>>, schedule: Vec<u8>) -> Result<(), TestCaseError> {
        let k: CheckpointId = 3;
        let n = cuts.len() as u128;
        let producers: Vec<ExecutionAttemptId> = (1..=n).map(ExecutionAttemptId).collect();
        let streams: Vec<Vec<Vec<Element>>> = cuts.iter().enumerate().map(|(i, c)| channel_batches(i as u128 + 1, c, k)).collect();
        let mut sent = vec![0usize; streams.len()];
        let mut g = InputGate::new(&producers, mode);
        // Per channel: records processed, and per checkpoint the count processed at alignment.
        let mut processed: Vec<Vec<i64>> = vec![Vec::new(); streams.len()];
        let mut aligned: Vec<(CheckpointId, Vec<usize>)> = Vec::new();
        let mut subsumed: Vec<CheckpointId> = Vec::new();
        let step = |g: &mut InputGate,
                    processed: &mut Vec<Vec<i64>>,
                    aligned: &mut Vec<(CheckpointId, Vec<usize>)>,
                    subsumed: &mut Vec<CheckpointId>|
         -> bool {
            let Some(b) = g.pop() else { return false };
            let ch = (b.source.0 - 1) as usize;
            for e in b.elements {
                match e {
                    Element::Record(r) => processed[ch].push(r.fields[0].as_i64().unwrap()),
                    Element::Barrier(x) => {
                        for ev in g.on_barrier(b.source, *x, Time(0)) {
                            match ev {
                                BarrierEvent::Aligned(a) => aligned.push((a.barrier.id, processed.iter().map(Vec::len).collect())),
                                BarrierEvent::Subsumed { checkpoint_id, .. } => subsumed.push(checkpoint_id),
                            }
                        }
                    }
                    Element::Watermark(_) => {}
                }
            }
            true
        };
        for s in schedule {
            let c = s as usize % (streams.len() + 1);
            if c == streams.len() {
                step(&mut g, &mut processed, &mut aligned, &mut subsumed);
            } else if sent[c] < streams[c].len() {
                let seq = sent[c] as u64;
                g.push(batch(c as u128 + 1, seq, streams[c][sent[c]].clone())).unwrap();
                sent[c] += 1;
            }
        }
        for c in 0..streams.len() {
            while sent[c] < streams[c].len() {
                g.push(batch(c as u128 + 1, sent[c] as u64, streams[c][sent[c]].clone())).unwrap();
                sent[c] += 1;
            }
        }
        while step(&mut g, &mut processed, &mut aligned, &mut subsumed) {}
        // Every record once, in its channel's order.
        for (c, stream) in streams.iter().enumerate() {
            let all: Vec<i64> = stream
                .iter()
                .flatten()
                .filter_map(|e| match e {
                    Element::Record(r) => r.fields[0].as_i64(),
                    _ => None,
                })
                .collect();
            prop_assert_eq!(&processed[c], &all);
        }
        match mode {
            // A blocked channel cannot deliver the next barrier early: nothing is subsumed.
            CheckpointingMode::ExactlyOnce => {
                prop_assert!(subsumed.is_empty());
                prop_assert_eq!(aligned.iter().map(|a| a.0).collect::<Vec<_>>(), (1..=k).collect::<Vec<_>>());
            }
            // A fast channel's next barrier subsumes the checkpoint still waiting on a slow one;
            // every checkpoint is either taken or declined, in order.
            CheckpointingMode::AtLeastOnce => {
                let mut all: Vec<CheckpointId> = aligned.iter().map(|a| a.0).chain(subsumed.iter().copied()).collect();
                all.sort();
                prop_assert_eq!(all, (1..=k).collect::<Vec<_>>());
                prop_assert!(aligned.windows(2).all(|w| w[0].0 < w[1].0));
            }
        }
        // Records before barrier n on a channel, per channel.
        let before = |c: usize, id: CheckpointId| -> usize {
            let mut count = 0;
            for e in streams[c].iter().flatten() {
                match e {
                    Element::Record(_) => count += 1,
                    Element::Barrier(b) if b.id == id => return count,
                    _ => {}
                }
            }
            count
        };
        for (id, counts) in &aligned {
            for (c, count) in counts.iter().enumerate() {
                match mode {
                    // The snapshot holds exactly what came before the barrier on every channel.
                    CheckpointingMode::ExactlyOnce => prop_assert_eq!(*count, before(c, *id)),
                    // At least that; records after a barrier may slip in.
                    CheckpointingMode::AtLeastOnce => prop_assert!(*count >= before(c, *id)),
                }
            }
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn exactly_once_snapshots_hold_exactly_the_records_before_the_barriers(
            cuts in proptest::collection::vec(proptest::collection::vec((0usize..4, proptest::bool::ANY), 0..8), 1..4),
            schedule in proptest::collection::vec(0u8..8, 0..60),
        ) {
            check_alignment(CheckpointingMode::ExactlyOnce, cuts, schedule)?;
        }

        #[test]
        fn at_least_once_snapshots_hold_at_least_the_records_before_the_barriers(
            cuts in proptest::collection::vec(proptest::collection::vec((0usize..4, proptest::bool::ANY), 0..8), 1..4),
            schedule in proptest::collection::vec(0u8..8, 0..60),
        ) {
            check_alignment(CheckpointingMode::AtLeastOnce, cuts, schedule)?;
        }
    }

    #[test]
    fn gate_watermark_is_the_minimum_and_ended_producers_release_it() {
        let (a, b) = (ExecutionAttemptId(1), ExecutionAttemptId(2));
        let mut g = InputGate::new(&[a, b], CheckpointingMode::ExactlyOnce);
        assert_eq!(g.on_watermark(a, 10), None);
        assert_eq!(g.on_watermark(b, 7), Some(7));
        assert_eq!(g.on_watermark(b, 20), Some(10));
        assert_eq!(g.on_end_of_partition(a), Some(20));
        assert!(!g.is_finished());
        assert_eq!(g.on_end_of_partition(b), None);
        assert!(g.is_finished());
        assert!(g.push(input(3, 0)).is_err());
    }

    #[test]
    fn pending_data_is_bounded_and_expires() {
        let mut p = PendingData::default();
        let b = input(1, 0);
        assert!(p.hold(ExecutionAttemptId(5), b.clone(), Time(10), 2));
        assert!(p.hold(ExecutionAttemptId(5), b.clone(), Time(11), 2));
        assert!(!p.hold(ExecutionAttemptId(5), b.clone(), Time(12), 2));
        assert_eq!(p.len(), 2);
        assert_eq!(p.expire(Time(11)), vec![(ExecutionAttemptId(5), 2)]);
        assert!(p.is_empty());
    }

    /// A step of the batching proptest.
    #[derive(Clone, Debug)]
    enum Step {
        /// Emit this many records (keys from the case's key list), this many ms after the
        /// previous step.
        Emit(usize, u64),
        /// A watermark to every channel.
        Watermark,
        /// The output flusher's turn, `ms` later.
        Tick(u64),
        /// Whatever may go out goes, and the consumer returns credits for what it got.
        Send { credit_back: bool },
    }

    proptest! {
        /// Whatever the buffer size, buffer timeout, credits, keys and timing: every record
        /// reaches exactly one channel, each channel's batches carry consecutive numbers, and
        /// the records of a channel arrive in the order they were emitted; watermarks keep
        /// their place among them.
        #[test]
        fn batching_never_reorders_records_within_a_channel(
            channels in 1u128..4,
            buffer_size in 1usize..64,
            credits in 1u32..4,
            timeout in prop_oneof![Just(None), (0u64..20).prop_map(Some)],
            keys in proptest::collection::vec(any::<i64>(), 1..20),
            steps in proptest::collection::vec(prop_oneof![
                (1usize..30, 0u64..10).prop_map(|(n, ms)| Step::Emit(n, ms)),
                Just(Step::Watermark),
                (0u64..30).prop_map(Step::Tick),
                any::<bool>().prop_map(|credit_back| Step::Send { credit_back }),
            ], 0..40),
        ) {
            let spec = OutputSpec { ship: ShipStrategy::Hash { key: 1 }, ..spec(channels) };
            let mut p = ResultPartition::new(&spec, 0, buffer_size, credits);
            let mut now = Time::ZERO;
            let mut next_id = 0i64;
            let mut got: BTreeMap<ExecutionAttemptId, Vec<Element>> = BTreeMap::new();
            let mut next_seq: BTreeMap<ExecutionAttemptId, u64> = BTreeMap::new();
            let mut receive = |p: &mut ResultPartition, credit_back: bool| -> Result<(), TestCaseError> {
                for s in p.take_sendable() {
                    let n = next_seq.entry(s.consumer).or_insert(0);
                    prop_assert_eq!(s.seq, *n, "batches of a channel are numbered in order");
                    *n += 1;
                    got.entry(s.consumer).or_default().extend(s.batch.elements);
                }
                if credit_back {
                    for ch in 0..channels {
                        let c = ExecutionAttemptId(ch + 1);
                        let inflight = p.channels().iter().find(|x| x.consumer == c).map_or(0, |x| x.in_flight());
                        if inflight > 0 {
                            let seq = p.channels().iter().find(|x| x.consumer == c).map_or(0, |x| x.next_credit_seq);
                            prop_assert_eq!(p.add_credit(c, seq, inflight), Ok(true));
                        }
                    }
                }
                Ok(())
            };
            for step in &steps {
                match step {
                    Step::Emit(n, ms) => {
                        now = now + Duration::from_millis(*ms);
                        for _ in 0..*n {
                            let key = keys[(next_id as usize) % keys.len()];
                            p.emit(Element::Record(Record::new(vec![Value::Int(next_id), Value::Int(key)])), now);
                            next_id += 1;
                        }
                    }
                    Step::Watermark => p.emit(Element::Watermark(next_id), now),
                    Step::Tick(ms) => {
                        now = now + Duration::from_millis(*ms);
                        let due = p.flush_deadline(timeout).is_some_and(|t| t <= now);
                        prop_assert_eq!(p.flush_if_due(now, timeout), due);
                    }
                    Step::Send { credit_back } => receive(&mut p, *credit_back)?,
                }
            }
            p.finish();
            while !p.is_finished() {
                receive(&mut p, true)?;
            }
            let mut all: Vec<i64> = Vec::new();
            for els in got.values() {
                let mut last_id = -1;
                let mut last_wm = i64::MIN;
                for e in els {
                    match e {
                        Element::Record(r) => {
                            let id = r.fields[0].as_i64().unwrap();
                            prop_assert!(id > last_id, "record {} after {} on one channel", id, last_id);
                            prop_assert!(id >= last_wm, "record {} behind watermark {}", id, last_wm);
                            last_id = id;
                            all.push(id);
                        }
                        // A watermark carries the id of the next record: none before it may follow it.
                        Element::Watermark(w) => {
                            prop_assert!(*w > last_id);
                            last_wm = *w;
                        }
                        Element::Barrier(_) => {}
                    }
                }
            }
            all.sort_unstable();
            prop_assert_eq!(all, (0..next_id).collect::<Vec<_>>(), "every record exactly once");
        }
    }
}
