//! Flink's network stack in miniature: a task's ResultPartition (one subpartition, here
//! "channel", per consumer subtask) and its InputGate (one channel per producer), with
//! credit-based flow control.
//!
//! Credits: a producer starts with `credits` exclusive buffers per channel and may have at
//! most that many unacknowledged batches in flight; the consumer returns one credit per batch
//! once it processed it. A producer whose output has no room stops pulling input, so the
//! pressure propagates upstream to the sources (backpressure).
//!
//! Ordering: messages between machines may overtake each other, and the protocol carries no
//! sequence numbers. Records may be reordered harmlessly, but a watermark must not overtake the
//! records before it and the end of partition must come last. So a batch carrying a watermark
//! or the end of partition is only sent once every earlier batch of its channel was
//! acknowledged (nothing in flight): it cannot overtake anything.

use std::collections::{BTreeMap, VecDeque};

use engine::{Addr, Time};
use flink_core::protocol::OutputSpec;
use flink_core::runtime::select_channel;
use flink_core::{Element, ExecutionAttemptId, ShipStrategy};

/// One network batch (Flink: a buffer) on its way to a consumer.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub elements: Vec<Element>,
    pub end_of_partition: bool,
}

impl Batch {
    /// Must not overtake earlier batches (see the module comment).
    fn is_ordered(&self) -> bool {
        self.end_of_partition || self.elements.iter().any(|e| matches!(e, Element::Watermark(_)))
    }
}

/// The producer's side of one consumer subtask.
#[derive(Debug)]
pub struct OutputChannel {
    pub consumer: ExecutionAttemptId,
    pub address: Addr,
    building: Vec<Element>,
    queued: VecDeque<Batch>,
    in_flight: u32,
    end_of_partition_sent: bool,
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
    batch_size: usize,
    credits: u32,
    channels: Vec<OutputChannel>,
    finished: bool,
}

impl ResultPartition {
    pub fn new(spec: &OutputSpec, producer_subtask: u32, batch_size: usize, credits: u32) -> ResultPartition {
        let channels = spec
            .consumers
            .iter()
            .map(|(consumer, address)| OutputChannel {
                consumer: *consumer,
                address: *address,
                building: Vec::new(),
                queued: VecDeque::new(),
                in_flight: 0,
                end_of_partition_sent: false,
            })
            .collect();
        ResultPartition {
            ship: spec.ship.clone(),
            max_parallelism: spec.max_parallelism,
            producer_subtask,
            round_robin: 0,
            batch_size: batch_size.max(1),
            credits: credits.max(1),
            channels,
            finished: false,
        }
    }

    pub fn channels(&self) -> &[OutputChannel] {
        &self.channels
    }

    /// Routes one element: a record to the channel its ship strategy picks, a watermark to all.
    pub fn emit(&mut self, element: Element) {
        if self.channels.is_empty() {
            return;
        }
        match &element {
            Element::Record(r) => {
                let n = self.channels.len() as u32;
                let c = select_channel(&self.ship, r, self.producer_subtask, &mut self.round_robin, n, self.max_parallelism).min(n - 1);
                self.push(c as usize, element);
            }
            Element::Watermark(_) | Element::Barrier(_) => {
                for c in 0..self.channels.len() {
                    self.push(c, element.clone());
                }
            }
        }
    }

    fn push(&mut self, c: usize, element: Element) {
        let ch = &mut self.channels[c];
        ch.building.push(element);
        if ch.building.len() >= self.batch_size {
            let elements = std::mem::take(&mut ch.building);
            ch.queued.push_back(Batch { elements, end_of_partition: false });
        }
    }

    /// Cuts every partly filled batch so it can be sent (Flink's output flusher).
    pub fn flush(&mut self) {
        for ch in &mut self.channels {
            if !ch.building.is_empty() {
                let elements = std::mem::take(&mut ch.building);
                ch.queued.push_back(Batch { elements, end_of_partition: false });
            }
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
            ch.queued.push_back(Batch { elements: Vec::new(), end_of_partition: true });
        }
    }

    /// True when the task may produce more: every channel has credit and nothing waiting.
    pub fn has_capacity(&self) -> bool {
        self.channels.iter().all(|ch| ch.queued.is_empty() && ch.in_flight < self.credits)
    }

    /// Batches that may go out now, each taking one credit, with the channel they belong to.
    pub fn take_sendable(&mut self) -> Vec<(ExecutionAttemptId, Addr, Batch)> {
        let mut out = Vec::new();
        for ch in &mut self.channels {
            while let Some(head) = ch.queued.front() {
                let room = ch.in_flight < self.credits && (!head.is_ordered() || ch.in_flight == 0);
                if !room {
                    break;
                }
                let batch = ch.queued.pop_front().expect("peeked");
                if batch.end_of_partition {
                    ch.end_of_partition_sent = true;
                } else {
                    // The end of partition is never acknowledged: the producer may be gone.
                    ch.in_flight += 1;
                }
                out.push((ch.consumer, ch.address, batch));
            }
        }
        out
    }

    /// The consumer processed `n` batches.
    pub fn add_credit(&mut self, consumer: ExecutionAttemptId, n: u32) -> bool {
        match self.channels.iter_mut().find(|ch| ch.consumer == consumer) {
            Some(ch) => {
                ch.in_flight = ch.in_flight.saturating_sub(n);
                true
            }
            None => false,
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
    pub elements: Vec<Element>,
    pub end_of_partition: bool,
}

#[derive(Debug)]
struct InputChannel {
    watermark: i64,
    ended: bool,
}

/// A task's input: one channel per producer, a FIFO of received batches, and the combined
/// watermark (the minimum over producers; a producer that ended no longer holds it back).
#[derive(Debug)]
pub struct InputGate {
    channels: BTreeMap<ExecutionAttemptId, InputChannel>,
    queue: VecDeque<InputBatch>,
    emitted_watermark: i64,
}

impl InputGate {
    pub fn new(producers: &[ExecutionAttemptId]) -> InputGate {
        InputGate {
            channels: producers.iter().map(|p| (*p, InputChannel { watermark: i64::MIN, ended: false })).collect(),
            queue: VecDeque::new(),
            emitted_watermark: i64::MIN,
        }
    }

    /// Queues a received batch; refused if `source` is not one of this task's producers.
    pub fn push(&mut self, batch: InputBatch) -> Result<(), String> {
        if !self.channels.contains_key(&batch.source) {
            return Err(format!("received data from {} which is not a producer of this task", batch.source));
        }
        self.queue.push_back(batch);
        Ok(())
    }

    pub fn pop(&mut self) -> Option<InputBatch> {
        self.queue.pop_front()
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
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

    #[test]
    fn credits_bound_the_batches_in_flight() {
        let mut p = ResultPartition::new(&spec(1), 0, 2, 3);
        for i in 0..20 {
            p.emit(rec(i));
        }
        assert!(!p.has_capacity());
        let sent = p.take_sendable();
        assert_eq!(sent.len(), 3, "three credits, three batches");
        assert!(p.take_sendable().is_empty());
        assert!(p.add_credit(ExecutionAttemptId(1), 1));
        assert_eq!(p.take_sendable().len(), 1);
        assert_eq!(p.channels()[0].in_flight(), 3);
    }

    #[test]
    fn watermarks_and_end_of_partition_wait_for_acknowledgement() {
        let mut p = ResultPartition::new(&spec(1), 0, 10, 4);
        p.emit(rec(1));
        p.flush();
        p.emit(Element::Watermark(5));
        p.finish();
        assert_eq!(p.take_sendable().len(), 1, "the watermark batch waits for the record batch");
        p.add_credit(ExecutionAttemptId(1), 1);
        let wm = p.take_sendable();
        assert_eq!(wm.len(), 1);
        assert_eq!(wm[0].2.elements, vec![Element::Watermark(5)]);
        assert!(!p.is_finished());
        p.add_credit(ExecutionAttemptId(1), 1);
        let eop = p.take_sendable();
        assert!(eop[0].2.end_of_partition);
        assert!(p.is_finished());
    }

    #[test]
    fn gate_watermark_is_the_minimum_and_ended_producers_release_it() {
        let (a, b) = (ExecutionAttemptId(1), ExecutionAttemptId(2));
        let mut g = InputGate::new(&[a, b]);
        assert_eq!(g.on_watermark(a, 10), None);
        assert_eq!(g.on_watermark(b, 7), Some(7));
        assert_eq!(g.on_watermark(b, 20), Some(10));
        assert_eq!(g.on_end_of_partition(a), Some(20));
        assert!(!g.is_finished());
        assert_eq!(g.on_end_of_partition(b), None);
        assert!(g.is_finished());
        let stranger =
            InputBatch { source: ExecutionAttemptId(3), from: "127.0.0.1:9".parse().unwrap(), elements: vec![], end_of_partition: false };
        assert!(g.push(stranger).is_err());
    }

    #[test]
    fn pending_data_is_bounded_and_expires() {
        let mut p = PendingData::default();
        let b =
            InputBatch { source: ExecutionAttemptId(1), from: "127.0.0.1:9".parse().unwrap(), elements: vec![], end_of_partition: false };
        assert!(p.hold(ExecutionAttemptId(5), b.clone(), Time(10), 2));
        assert!(p.hold(ExecutionAttemptId(5), b.clone(), Time(11), 2));
        assert!(!p.hold(ExecutionAttemptId(5), b.clone(), Time(12), 2));
        assert_eq!(p.len(), 2);
        assert_eq!(p.expire(Time(11)), vec![(ExecutionAttemptId(5), 2)]);
        assert!(p.is_empty());
    }
}
