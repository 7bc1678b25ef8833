//! Scenarios on the deterministic sim: a fake ResourceManager and a fake JobMaster drive real
//! TaskExecutors.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use engine::sim::{Sim, SimConfig};
use engine::{Addr, Cx, MemStore, Msg, Node, Store as _, TimerId};
use flink_core::checkpoint::{CheckpointMetrics, CheckpointOptions, DeclineReason, TaskRestore, TaskStateSnapshot};
use flink_core::operator::{Aggregate, FlatMapFn, MapFn, SinkSpec, SourceSpec};
use flink_core::protocol::{AllocatedSlotInfo, CheckpointBarrier, OutputSpec, SlotOffer, SlotStatus};
use flink_core::runtime::{OperatorChain, Output, SourceStatus};
use flink_core::{
    AllocationId, CheckpointId, CheckpointKind, CheckpointingMode, Element, ExecutionAttemptId, ExecutionState, JobId, JobMasterGateway,
    JobMasterId, JobVertexId, NetworkMsg, OperatorSpec, ResourceManagerGateway, ResourceManagerId, ShipStrategy, TaskDeploymentDescriptor,
    TaskExecutorGateway,
};

use crate::{TaskExecutor, TaskExecutorConfig};

const JOB: JobId = JobId(0x10b);
/// The fake ResourceManager's and JobMaster's fencing tokens.
const RM_ID: ResourceManagerId = ResourceManagerId(0x5e55);
const JM_ID: JobMasterId = JobMasterId(0x1eade5);

#[derive(Default)]
struct FakeRm {
    /// Registrations to ignore before answering (exercises the retry).
    ignore_first: u32,
    reject: Option<String>,
    /// Stops acknowledging heartbeats (a lost RM, as the TaskExecutor sees it).
    silent: bool,
    registrations: u32,
    last_report: BTreeMap<Addr, Vec<SlotStatus>>,
}

impl Node for FakeRm {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        match msg.downcast::<ResourceManagerGateway>() {
            Ok(ResourceManagerGateway::RegisterTaskExecutor { .. }) => {
                self.registrations += 1;
                if self.ignore_first > 0 {
                    self.ignore_first -= 1;
                } else if let Some(reason) = self.reject.clone() {
                    cx.send(from, TaskExecutorGateway::RegistrationRejected { resource_manager_id: RM_ID, reason });
                } else {
                    cx.send(
                        from,
                        TaskExecutorGateway::RegistrationSuccess {
                            resource_manager_id: RM_ID,
                            resource_manager: cx.me(),
                            heartbeat_interval_ms: 1000,
                        },
                    );
                }
            }
            Ok(ResourceManagerGateway::TaskExecutorHeartbeat { slots, .. }) => {
                self.last_report.insert(from, slots);
                if !self.silent {
                    cx.send(from, TaskExecutorGateway::HeartbeatAck { resource_manager_id: RM_ID });
                }
            }
            _ => {}
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[derive(Default)]
struct FakeJm {
    /// Stops answering TaskExecutor heartbeats.
    silent: bool,
    /// Answers nothing at all (a job master that is gone): slot offers are recorded, not accepted.
    mute: bool,
    offers: Vec<(Addr, SlotOffer)>,
    states: Vec<(ExecutionAttemptId, ExecutionState, Option<String>)>,
    heartbeats: u32,
    acks: Vec<Ack>,
    declines: Vec<(ExecutionAttemptId, CheckpointId, DeclineReason, String)>,
    /// From FINISHED reports: the job's final commit.
    committables: Vec<(ExecutionAttemptId, Vec<(String, String)>)>,
    /// What its heartbeats report as allocated (`None`: every slot it accepted from that
    /// TaskExecutor, as a JobMaster's slot pool does).
    report: Option<Vec<AllocatedSlotInfo>>,
    /// FailSlot messages: (allocation, cause).
    failed_slots: Vec<(AllocationId, String)>,
}

#[derive(Clone, Debug)]
struct Ack {
    execution: ExecutionAttemptId,
    checkpoint: CheckpointId,
    metrics: CheckpointMetrics,
    state: TaskStateSnapshot,
}

impl FakeJm {
    /// The most advanced state reported: messages between machines may overtake each other,
    /// so a JobMaster treats terminal states as final and never moves a task backwards.
    fn state_of(&self, e: ExecutionAttemptId) -> Option<ExecutionState> {
        let rank = |s: ExecutionState| match s {
            ExecutionState::Deploying => 1,
            ExecutionState::Initializing => 2,
            ExecutionState::Running => 3,
            s if s.is_terminal() => 4,
            _ => 0,
        };
        self.states.iter().filter(|(x, _, _)| *x == e).map(|(_, s, _)| *s).max_by_key(|s| rank(*s))
    }
    fn error_of(&self, e: ExecutionAttemptId) -> Option<String> {
        self.states.iter().rev().find(|(x, _, _)| *x == e).and_then(|(_, _, err)| err.clone())
    }
}

impl Node for FakeJm {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        match msg.downcast::<JobMasterGateway>() {
            Ok(JobMasterGateway::OfferSlots { job_id, slots, .. }) => {
                let accepted = slots.iter().map(|s| s.allocation_id).collect();
                self.offers.extend(slots.into_iter().map(|s| (from, s)));
                if !self.mute {
                    cx.send(from, TaskExecutorGateway::AcceptSlots { job_id, job_master_id: JM_ID, accepted, rejected: Vec::new() });
                }
            }
            Ok(JobMasterGateway::UpdateTaskExecutionState { execution_id, state, error, committables, .. }) => {
                if state == ExecutionState::Finished {
                    self.committables.push((execution_id, committables));
                }
                self.states.push((execution_id, state, error))
            }
            Ok(JobMasterGateway::AcknowledgeCheckpoint { execution_id, checkpoint_id, metrics, state, .. }) => {
                self.acks.push(Ack { execution: execution_id, checkpoint: checkpoint_id, metrics, state })
            }
            Ok(JobMasterGateway::DeclineCheckpoint { execution_id, checkpoint_id, reason, message, .. }) => {
                self.declines.push((execution_id, checkpoint_id, reason, message))
            }
            Ok(JobMasterGateway::TaskExecutorToJobManagerHeartbeat { job_id, .. }) => {
                self.heartbeats += 1;
                if !self.silent && !self.mute {
                    let allocated_slots = self.report.clone().unwrap_or_else(|| {
                        let mut held: Vec<AllocatedSlotInfo> = self
                            .offers
                            .iter()
                            .filter(|(at, _)| *at == from)
                            .map(|(_, o)| AllocatedSlotInfo { slot_index: o.slot_index, allocation_id: o.allocation_id })
                            .collect();
                        held.dedup();
                        held
                    });
                    cx.send(from, TaskExecutorGateway::JobManagerHeartbeat { job_id, job_master_id: JM_ID, allocated_slots });
                }
            }
            Ok(JobMasterGateway::FailSlot { allocation_id, cause, .. }) => self.failed_slots.push((allocation_id, cause)),
            _ => {}
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A downstream task stand-in that records batches and returns credit only when told to.
#[derive(Default)]
struct FakeConsumer {
    auto_credit: bool,
    records: u64,
    batches: u32,
    credited: u32,
    max_outstanding: u32,
    end_of_partition: bool,
    /// Number of the next credit message (the channel's credit direction counts from 0).
    credit_seq: u64,
    /// Number of the next data batch expected; a gap is recorded, not tolerated.
    data_seq: u64,
    out_of_sequence: bool,
    elements: Vec<Element>,
}

impl FakeConsumer {
    fn next_credit_seq(&mut self) -> u64 {
        self.credit_seq += 1;
        self.credit_seq - 1
    }
}

impl Node for FakeConsumer {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        if let Ok(NetworkMsg::Data { target, source, seq, elements, end_of_partition }) = msg.downcast::<NetworkMsg>() {
            self.out_of_sequence |= seq != self.data_seq;
            self.data_seq += 1;
            self.records += elements.iter().filter(|e| matches!(e, Element::Record(_))).count() as u64;
            self.elements.extend(elements);
            if end_of_partition {
                self.end_of_partition = true;
                return;
            }
            self.batches += 1;
            self.max_outstanding = self.max_outstanding.max(self.batches - self.credited);
            if self.auto_credit {
                self.credited += 1;
                let seq = self.next_credit_seq();
                cx.send(from, NetworkMsg::Credit { target: source, source: target, seq, credits: 1 });
            }
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

struct Cluster {
    sim: Sim,
    rm: Addr,
    jm: Addr,
    tes: Vec<(Ipv4Addr, Addr)>,
}

fn cluster(seed: u64, num_tes: usize, rm_node: FakeRm, jm_node: FakeJm) -> Cluster {
    let mut config = SimConfig::new(seed);
    // Links are FIFO, as TCP connections are: one latency per link keeps messages in order.
    config.net.latency_min = Duration::from_micros(500);
    config.net.latency_max = Duration::from_micros(500);
    let mut sim = Sim::new(config);
    let master = sim.add_machine();
    let rm = sim.spawn(master, 6123, Box::new(rm_node));
    let jm = sim.spawn(master, 6124, Box::new(jm_node));
    let mut tes = Vec::new();
    for i in 0..num_tes {
        let host = sim.add_machine();
        let config = TaskExecutorConfig::new(format!("container_1_0001_01_00000{}", i + 2), (rm, RM_ID), 2, 1728);
        tes.push((host, sim.spawn(host, 7000, Box::new(TaskExecutor::new(config)))));
    }
    Cluster { sim, rm, jm, tes }
}

impl Cluster {
    fn te(&mut self, i: usize) -> &mut TaskExecutor {
        let addr = self.tes[i].1;
        self.sim.node::<TaskExecutor>(addr).expect("TaskExecutor alive")
    }
    fn jm(&mut self) -> &mut FakeJm {
        let jm = self.jm;
        self.sim.node::<FakeJm>(jm).expect("jm")
    }
    fn rm(&mut self) -> &mut FakeRm {
        let rm = self.rm;
        self.sim.node::<FakeRm>(rm).expect("rm")
    }
    fn all_registered(&mut self) -> bool {
        (0..self.tes.len()).all(|i| self.te(i).is_registered())
    }
    fn request_slot(&mut self, te: usize, slot_index: u32, allocation: AllocationId) {
        let (to, jm) = (self.tes[te].1, self.jm);
        self.sim.with_node::<FakeRm, _>(self.rm, move |_, cx| {
            cx.send(
                to,
                TaskExecutorGateway::RequestSlot {
                    resource_manager_id: RM_ID,
                    slot_index,
                    allocation_id: allocation,
                    job_id: JOB,
                    job_master: jm,
                    job_master_id: JM_ID,
                },
            )
        });
    }
    fn submit(&mut self, te: usize, tdd: TaskDeploymentDescriptor) {
        let to = self.tes[te].1;
        self.sim.with_node::<FakeJm, _>(self.jm, move |_, cx| {
            cx.send(to, TaskExecutorGateway::SubmitTask { job_master_id: JM_ID, tdd: Box::new(tdd) })
        });
    }
    fn jm_send(&mut self, te: usize, msg: TaskExecutorGateway) {
        let to = self.tes[te].1;
        self.sim.with_node::<FakeJm, _>(self.jm, move |_, cx| cx.send(to, msg));
    }
    fn stdout(&self, te: usize) -> String {
        let (host, _) = self.tes[te];
        self.sim
            .local_files_under(host, "/proc/")
            .iter()
            .filter(|(p, _)| p.ends_with("/stdout"))
            .map(|(_, b)| String::from_utf8_lossy(b).into_owned())
            .collect()
    }
    /// Registers every TaskExecutor and gives slot 0 of each to the job (allocation i+1).
    fn with_slots(mut self) -> Cluster {
        let tes = self.tes.len();
        self.sim.run_for(Duration::from_millis(50));
        assert!(self.all_registered());
        for i in 0..tes {
            self.request_slot(i, 0, AllocationId(i as u128 + 1));
        }
        self.sim.run_for(Duration::from_millis(50));
        assert_eq!(self.jm().offers.len(), tes);
        self
    }
}

/// `place`: (execution, subtask, parallelism, allocation).
fn tdd(
    place: (u128, u32, u32, u128),
    operators: Vec<OperatorSpec>,
    producers: Vec<u128>,
    output: Option<OutputSpec>,
    jm: Addr,
) -> TaskDeploymentDescriptor {
    let (exec, subtask, parallelism, allocation) = place;
    TaskDeploymentDescriptor {
        job_id: JOB,
        job_name: "test".into(),
        vertex_id: JobVertexId(if producers.is_empty() { 1 } else { 2 }),
        vertex_name: if producers.is_empty() { "Source".into() } else { "Keyed Aggregation -> Sink".into() },
        execution_id: ExecutionAttemptId(exec),
        subtask_index: subtask,
        parallelism,
        attempt_number: 0,
        allocation_id: AllocationId(allocation),
        operators,
        producers: producers.into_iter().map(ExecutionAttemptId).collect(),
        output,
        job_master: jm,
        job_master_id: JM_ID,
        max_parallelism: 128,
        restore: None,
        checkpointing: None,
        buffer_timeout_ms: flink_core::graph::default_buffer_timeout_ms(),
    }
}

fn source_chain(source: SourceSpec) -> Vec<OperatorSpec> {
    vec![
        OperatorSpec::Source { source },
        OperatorSpec::FlatMap { flat_map: FlatMapFn::Tokenize },
        OperatorSpec::Map { map: MapFn::PairWithOne },
    ]
}

fn sum_chain() -> Vec<OperatorSpec> {
    vec![OperatorSpec::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } }, OperatorSpec::Sink { sink: SinkSpec::Print }]
}

/// Word counts computed by running the source chains directly, without any network.
fn expected_counts(source: &SourceSpec, parallelism: u32) -> BTreeMap<String, i64> {
    let mut counts = BTreeMap::new();
    let store = MemStore::default();
    for subtask in 0..parallelism {
        let mut chain = OperatorChain::new(&source_chain(source.clone()), subtask, parallelism).unwrap();
        let mut out = Output::new();
        while chain.poll_source(engine::Time::ZERO, 1000, &store, &mut out).unwrap() != SourceStatus::Finished {}
        chain.end_of_input(engine::Time::ZERO, &mut out);
        for e in out.elements {
            if let Element::Record(r) = e {
                *counts.entry(r.fields[0].to_string()).or_insert(0) += 1;
            }
        }
    }
    counts
}

/// The last count printed per word ("N> (word,count)").
fn final_counts(stdout: &str) -> BTreeMap<String, i64> {
    let mut last = BTreeMap::new();
    for line in stdout.lines() {
        let Some((_, tuple)) = line.split_once("> (") else { continue };
        let Some((word, count)) = tuple.trim_end_matches(')').rsplit_once(',') else { continue };
        last.insert(word.to_string(), count.parse::<i64>().unwrap());
    }
    last
}

/// Source (parallelism 2, one subtask per TaskExecutor) -> hash by word -> keyed sum -> print.
fn word_count(seed: u64) -> (Cluster, u64) {
    let mut c = cluster(seed, 2, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let (te0, te1) = (c.tes[0].1, c.tes[1].1);
    let source = SourceSpec::Words { repeat: 20 };
    let output = OutputSpec {
        max_parallelism: 128,
        ship: ShipStrategy::Hash { key: 0 },
        consumers: vec![(ExecutionAttemptId(21), te0), (ExecutionAttemptId(22), te1)],
    };
    // Sources first: their first batches reach consumers not deployed yet and are held.
    c.submit(0, tdd((11, 0, 2, 1), source_chain(source.clone()), vec![], Some(output.clone()), jm));
    c.submit(1, tdd((12, 1, 2, 2), source_chain(source.clone()), vec![], Some(output), jm));
    c.sim.run_for(Duration::from_micros(1500));
    c.submit(0, tdd((21, 0, 2, 1), sum_chain(), vec![11, 12], None, jm));
    c.submit(1, tdd((22, 1, 2, 2), sum_chain(), vec![11, 12], None, jm));
    let all = [11u128, 12, 21, 22].map(ExecutionAttemptId);
    let done = c.sim.run_until_true(Duration::from_secs(30), |s| {
        let j = s.node::<FakeJm>(jm).unwrap();
        all.iter().all(|e| j.state_of(*e) == Some(ExecutionState::Finished))
    });
    assert!(done, "states: {:?}", c.jm().states);
    let hash = c.sim.trace_hash();
    (c, hash)
}

#[test]
fn word_count_across_two_task_executors_is_exact_and_finishes() {
    let (mut c, _) = word_count(7);
    let mut printed = final_counts(&c.stdout(0));
    let other = final_counts(&c.stdout(1));
    for (w, n) in other {
        assert!(printed.insert(w.clone(), n).is_none(), "key {w} printed by both sink subtasks");
    }
    let expected = expected_counts(&SourceSpec::Words { repeat: 20 }, 2);
    assert!(!expected.is_empty());
    assert_eq!(printed, expected);
    // Every task went DEPLOYING -> INITIALIZING -> RUNNING -> FINISHED.
    for e in [11u128, 12, 21, 22].map(ExecutionAttemptId) {
        let mut seen: Vec<ExecutionState> = c.jm().states.iter().filter(|(x, _, _)| *x == e).map(|(_, s, _)| *s).collect();
        seen.sort();
        assert_eq!(seen, vec![ExecutionState::Deploying, ExecutionState::Running, ExecutionState::Finished, ExecutionState::Initializing]);
    }
    assert_eq!(c.te(0).num_tasks(), 0);
    let info = c.te(1).info();
    assert_eq!((info.slots_total, info.slots_free, info.tasks.len()), (2, 1, 0));
    assert_eq!(info.slots[0].state, "ACTIVE");
}

#[test]
fn the_same_seed_replays_the_same_trace() {
    let (_, a) = word_count(42);
    let (_, b) = word_count(42);
    assert_eq!(a, b);
}

#[test]
fn registration_is_retried_until_the_rm_answers() {
    let mut c = cluster(1, 1, FakeRm { ignore_first: 3, ..FakeRm::default() }, FakeJm::default());
    c.sim.run_for(Duration::from_millis(250));
    assert!(!c.te(0).is_registered());
    c.sim.run_for(Duration::from_millis(200));
    assert!(c.te(0).is_registered());
    assert_eq!(c.rm().registrations, 4);
    c.sim.run_for(Duration::from_secs(2));
    let te = c.tes[0].1;
    assert_eq!(c.rm().last_report.get(&te).map(|r| r.len()), Some(2), "heartbeats carry the slot report");
}

#[test]
fn a_rejected_registration_exits() {
    let mut c = cluster(1, 1, FakeRm { reject: Some("unknown container".into()), ..FakeRm::default() }, FakeJm::default());
    c.sim.run_for(Duration::from_millis(100));
    assert!(!c.sim.alive(c.tes[0].1));
    assert!(c.stdout(0).contains("was rejected: unknown container"));
}

#[test]
fn a_silent_resource_manager_makes_the_task_executor_register_again() {
    let mut c = cluster(1, 1, FakeRm::default(), FakeJm::default());
    c.sim.run_for(Duration::from_secs(2));
    assert_eq!(c.rm().registrations, 1);
    c.rm().silent = true;
    c.sim.run_for(Duration::from_secs(7));
    assert!(c.rm().registrations >= 2);
    assert!(c.stdout(0).contains("The heartbeat of ResourceManager with id"));
    assert!(c.te(0).is_registered(), "registered again");
}

#[test]
fn slots_are_offered_accepted_refused_and_freed() {
    let mut c = cluster(3, 1, FakeRm::default(), FakeJm::default()).with_slots();
    assert_eq!(c.te(0).slot_table().slots()[0].state, crate::TaskSlotState::Active);
    // Another allocation for the same slot is refused; the slot report tells the RM.
    c.request_slot(0, 0, AllocationId(99));
    c.sim.run_for(Duration::from_secs(2));
    assert_eq!(c.jm().offers.len(), 1);
    let te = c.tes[0].1;
    assert_eq!(c.rm().last_report[&te][0].allocation, Some((AllocationId(1), JOB)));
    c.jm_send(
        0,
        TaskExecutorGateway::FreeSlot { job_id: JOB, job_master_id: JM_ID, allocation_id: AllocationId(1), reason: "job finished".into() },
    );
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.te(0).slot_table().num_free(), 2);
    assert_eq!(c.rm().last_report[&te][0].allocation, None, "freed slots are reported at once");
    assert!(c.te(0).connected_jobs().is_empty());
}

#[test]
fn a_task_without_an_allocated_slot_fails() {
    let mut c = cluster(3, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    c.submit(0, tdd((5, 0, 1, 77), source_chain(SourceSpec::Words { repeat: 1 }), vec![], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Failed));
    let err = c.jm().error_of(ExecutionAttemptId(5)).unwrap();
    assert!(err.starts_with(&format!("No task slot allocated for job ID {JOB} and allocation ID {}", AllocationId(77))), "{err}");
}

fn sequence_to(c: &mut Cluster, consumer: Addr, to: i64) {
    let jm = c.jm;
    let ops = vec![OperatorSpec::Source { source: SourceSpec::Sequence { from: 1, to } }];
    let output = OutputSpec { max_parallelism: 128, ship: ShipStrategy::Forward, consumers: vec![(ExecutionAttemptId(50), consumer)] };
    c.submit(0, tdd((5, 0, 1, 1), ops, vec![], Some(output), jm));
}

#[test]
fn a_consumer_without_credit_stops_the_producer() {
    let mut c = cluster(5, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer::default()));
    sequence_to(&mut c, consumer, 100_000);
    c.sim.run_for(Duration::from_secs(1));
    let credits = c.te(0).config().credits_per_channel;
    let held = c.sim.node::<FakeConsumer>(consumer).unwrap().batches;
    assert_eq!(held, credits, "exactly one batch per credit went out");
    let out = c.te(0).task(ExecutionAttemptId(5)).unwrap().records_out();
    c.sim.run_for(Duration::from_secs(1));
    assert_eq!(c.te(0).task(ExecutionAttemptId(5)).unwrap().records_out(), out, "the source stopped polling");
    assert!(out < 100_000);
    // Flink's task metrics see it: the blocked second counts as backpressured time, and
    // what went out was counted in bytes as well as records.
    let now = c.sim.now();
    let t = c.te(0).task(ExecutionAttemptId(5)).unwrap();
    assert_eq!(t.activity(), crate::task::Activity::Backpressured);
    let io = t.io_metrics(now);
    assert!(io.backpressured_ms >= 1000, "{io:?}");
    assert_eq!(io.idle_ms, 0, "a source with data is never idle: {io:?}");
    assert_eq!(io.records_out, out);
    assert!(io.bytes_out > out, "{io:?}");
    assert_eq!((io.records_in, io.bytes_in), (0, 0), "a source receives nothing");
    // Grant credit: the rest flows and the task finishes, never beyond its credits in flight.
    let te = c.tes[0].1;
    c.sim.with_node::<FakeConsumer, _>(consumer, move |n, cx| {
        n.auto_credit = true;
        n.credited = n.batches;
        let seq = n.next_credit_seq();
        cx.send(te, NetworkMsg::Credit { target: ExecutionAttemptId(5), source: ExecutionAttemptId(50), seq, credits })
    });
    let jm = c.jm;
    assert!(c.sim.run_until_true(Duration::from_secs(30), |s| s.node::<FakeJm>(jm).unwrap().state_of(ExecutionAttemptId(5))
        == Some(ExecutionState::Finished)));
    let n = c.sim.node::<FakeConsumer>(consumer).unwrap();
    assert_eq!(n.records, 100_000);
    assert!(n.end_of_partition);
    assert!(!n.out_of_sequence, "batches are numbered 0, 1, 2, ... on the channel");
    assert!(n.max_outstanding <= credits, "{} batches in flight", n.max_outstanding);
}

#[test]
fn cancel_stops_the_task() {
    let mut c = cluster(6, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer { auto_credit: true, ..FakeConsumer::default() }));
    sequence_to(&mut c, consumer, i64::MAX);
    c.sim.run_for(Duration::from_millis(200));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Running));
    c.jm_send(0, TaskExecutorGateway::CancelTask { job_id: JOB, job_master_id: JM_ID, execution_id: ExecutionAttemptId(5) });
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Canceled));
    assert_eq!(c.te(0).num_tasks(), 0);
    let got = c.sim.node::<FakeConsumer>(consumer).unwrap().records;
    c.sim.run_for(Duration::from_millis(500));
    assert_eq!(c.sim.node::<FakeConsumer>(consumer).unwrap().records, got, "nothing is emitted after CANCELED");
}

/// Execution 5 running in allocation 1 for 3 s: a task waiting for input from producer 60,
/// cheap to simulate for many seconds.
fn a_task_waiting_for_input() -> Cluster {
    let mut c = cluster(8, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    c.submit(0, tdd((5, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_secs(3));
    c
}

#[test]
fn a_job_master_that_is_gone_fails_the_tasks_and_its_slots_time_out() {
    let mut c = a_task_waiting_for_input();
    assert!(c.jm().heartbeats >= 2);
    assert_eq!(c.te(0).num_tasks(), 1, "answered heartbeats keep the job alive");
    let offers = c.jm().offers.len();
    c.jm().mute = true;
    c.sim.run_for(Duration::from_secs(7));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Failed));
    assert!(c.jm().error_of(ExecutionAttemptId(5)).unwrap().contains("lost leadership"));
    assert!(c.stdout(0).contains("The heartbeat of JobManager with id"));
    // The job's slot stays its own, offered again; nobody takes it.
    assert_eq!(c.jm().offers.len(), offers + 1, "{:?}", c.jm().offers);
    assert_eq!(c.te(0).slot_table().num_free(), 1);
    let timeout = c.te(0).config().slot_timeout;
    c.sim.run_for(timeout);
    assert_eq!(c.te(0).slot_table().num_free(), 2, "freed after the slot timeout");
    assert!(c.stdout(0).contains("has timed out"));
}

/// The fuzzer's case in small: this TaskExecutor stops hearing the job master (its answers
/// were slow, or the process was stopped) while the job master still counts it alive. The
/// tasks fail; the slots stay reserved and are offered again, the job master takes them back
/// (it knows the allocations), and the restarted task deploys into the same allocation.
/// Freeing them instead made every redeployment fail with "No task slot allocated".
#[test]
fn a_job_master_that_missed_the_silence_takes_the_slots_back_and_deploys_into_them() {
    let mut c = a_task_waiting_for_input();
    let jm = c.jm;
    c.jm().silent = true;
    c.sim.run_for(Duration::from_secs(7));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Failed));
    c.jm().silent = false;
    let slot = c.te(0).slot_table().slots()[0].clone();
    assert_eq!(slot.state, crate::slot_table::TaskSlotState::Active, "accepted again: {slot:?}");
    // The restart: a new attempt into allocation 1, as the job master still holds it.
    c.submit(0, tdd((6, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_secs(3));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(6)), Some(ExecutionState::Running), "{:?}", c.jm().error_of(ExecutionAttemptId(6)));
    assert_eq!(c.te(0).num_tasks(), 1);
}

/// The fuzzer's seed 66720 in small: while the job master and this TaskExecutor could not
/// talk, the TaskExecutor freed a slot (its timeout) that the job master still holds. Its
/// heartbeats report the slot; the TaskExecutor fails it there (Flink's
/// `failNoLongerAllocatedSlots`), where the job master used to deploy into it, restart after
/// restart, each attempt failing with "No task slot allocated".
#[test]
fn a_slot_the_job_master_holds_but_this_task_executor_freed_is_failed_at_the_job_master() {
    let mut c = cluster(4, 1, FakeRm::default(), FakeJm::default()).with_slots();
    c.sim.run_for(Duration::from_secs(3));
    assert!(c.jm().failed_slots.is_empty(), "the slot it holds is not failed: {:?}", c.jm().failed_slots);
    let gone = AllocatedSlotInfo { slot_index: 1, allocation_id: AllocationId(42) };
    let held = AllocatedSlotInfo { slot_index: 0, allocation_id: AllocationId(1) };
    c.jm().report = Some(vec![held, gone]);
    c.sim.run_for(Duration::from_secs(2));
    let failed = c.jm().failed_slots.clone();
    assert!(!failed.is_empty() && failed.iter().all(|(a, _)| *a == AllocationId(42)), "{failed:?}");
    let want = format!("Slot {} on TaskExecutor container_1_0001_01_000002 is not allocated by job {JOB}.", AllocationId(42));
    assert_eq!(failed[0].1, want);
    assert_eq!(c.te(0).slot_table().slots()[0].state, crate::TaskSlotState::Active, "the slot both hold stays");
}

/// Flink's `freeNoLongerUsedSlots`: an accepted slot the job master no longer reports (its
/// FreeSlot was lost on the way) is freed, and the ResourceManager told at once.
#[test]
fn an_accepted_slot_the_job_master_no_longer_reports_is_freed() {
    let mut c = cluster(5, 1, FakeRm::default(), FakeJm::default()).with_slots();
    c.sim.run_for(Duration::from_secs(2));
    assert_eq!(c.te(0).slot_table().num_free(), 1, "a reported slot stays");
    c.jm().report = Some(Vec::new());
    c.sim.run_for(Duration::from_secs(2));
    assert_eq!(c.te(0).slot_table().num_free(), 2);
    let te = c.tes[0].1;
    assert_eq!(c.rm().last_report[&te][0].allocation, None);
    assert!(c.jm().failed_slots.is_empty());
}

#[test]
fn shutdown_cancels_tasks_and_exits() {
    let mut c = cluster(9, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer { auto_credit: true, ..FakeConsumer::default() }));
    sequence_to(&mut c, consumer, i64::MAX);
    c.sim.run_for(Duration::from_millis(100));
    let te = c.tes[0].1;
    c.sim.with_node::<FakeRm, _>(c.rm, move |_, cx| {
        cx.send(te, TaskExecutorGateway::Shutdown { resource_manager_id: RM_ID, reason: "idle timeout".into() })
    });
    c.sim.run_for(Duration::from_millis(100));
    assert!(!c.sim.alive(te));
    assert!(c.stdout(0).contains("idle timeout"));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Canceled));
}

#[test]
fn info_serializes() {
    let mut c = cluster(2, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let info = c.te(0).info();
    let json = serde_json::to_value(&info).unwrap();
    assert_eq!(json["slots_total"], 2);
    assert_eq!(json["slots"][0]["allocation_id"], AllocationId(1).to_string());
}

fn data(target: u128, source: u128, seq: u64, elements: Vec<Element>) -> NetworkMsg {
    NetworkMsg::Data { target: ExecutionAttemptId(target), source: ExecutionAttemptId(source), seq, elements, end_of_partition: false }
}

fn word(w: &str) -> Element {
    Element::Record(flink_core::Record::new(vec![flink_core::Value::Str(w.into()), flink_core::Value::Int(1)]))
}

#[test]
fn a_gap_in_the_data_sequence_fails_the_consumer_with_a_network_error() {
    let mut c = cluster(11, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let host = c.sim.add_machine();
    let producer = c.sim.spawn(host, 9000, Box::new(FakeConsumer::default()));
    c.submit(0, tdd((21, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    let te = c.tes[0].1;
    c.sim.with_node::<FakeConsumer, _>(producer, move |_, cx| {
        cx.send(te, data(21, 60, 0, vec![word("a")]));
        cx.send(te, data(21, 60, 1, vec![word("b")]));
        // #2 is lost on the way.
        cx.send(te, data(21, 60, 3, vec![word("c")]));
    });
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Failed));
    let err = c.jm().error_of(ExecutionAttemptId(21)).unwrap();
    assert!(
        err.starts_with(&format!(
            "org.apache.flink.runtime.io.network.netty.exception.RemoteTransportException: Lost connection to task manager \
             '{producer}'. This indicates that the remote task manager was lost."
        )),
        "{err}"
    );
    assert!(err.contains("Expected data message #2"), "{err}");
    assert_eq!(c.te(0).num_tasks(), 0);
    assert!(c.stdout(0).contains("(b,1)") && !c.stdout(0).contains("(c,1)"), "what came in sequence was processed, nothing after");
}

#[test]
fn a_repeated_data_message_fails_the_consumer() {
    let mut c = cluster(12, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let host = c.sim.add_machine();
    let producer = c.sim.spawn(host, 9000, Box::new(FakeConsumer::default()));
    c.submit(0, tdd((21, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    let te = c.tes[0].1;
    c.sim.with_node::<FakeConsumer, _>(producer, move |_, cx| {
        cx.send(te, data(21, 60, 0, vec![word("a")]));
        cx.send(te, data(21, 60, 0, vec![word("a")]));
    });
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Failed));
    assert!(c.jm().error_of(ExecutionAttemptId(21)).unwrap().contains("Expected data message #1 on the channel with"));
}

#[test]
fn a_lost_credit_fails_the_producer() {
    let mut c = cluster(13, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer::default()));
    sequence_to(&mut c, consumer, 100_000);
    c.sim.run_for(Duration::from_millis(100));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Running));
    let te = c.tes[0].1;
    c.sim.with_node::<FakeConsumer, _>(consumer, move |_, cx| {
        // Credit #0 is lost; #1 arrives.
        cx.send(te, NetworkMsg::Credit { target: ExecutionAttemptId(5), source: ExecutionAttemptId(50), seq: 1, credits: 1 })
    });
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Failed));
    let err = c.jm().error_of(ExecutionAttemptId(5)).unwrap();
    assert!(err.contains(&format!("Lost connection to task manager '{consumer}'")), "{err}");
    assert!(err.contains("Expected credit message #0"), "{err}");
}

// ---- checkpoints

fn options(id: CheckpointId, kind: CheckpointKind) -> CheckpointOptions {
    CheckpointOptions { kind, location: format!("checkpoints/{JOB}/chk-{id}") }
}

fn barrier(id: CheckpointId) -> Element {
    Element::Barrier(Box::new(CheckpointBarrier { id, timestamp: 0, options: options(id, CheckpointKind::Checkpoint) }))
}

impl Cluster {
    fn trigger(&mut self, te: usize, exec: u128, id: CheckpointId, kind: CheckpointKind) {
        let timestamp = self.sim.now().as_millis();
        self.jm_send(
            te,
            TaskExecutorGateway::TriggerCheckpoint {
                job_id: JOB,
                job_master_id: JM_ID,
                execution_id: ExecutionAttemptId(exec),
                checkpoint_id: id,
                timestamp,
                options: options(id, kind),
            },
        );
    }
    fn notify(&mut self, te: usize, exec: u128, id: CheckpointId) {
        let msg = TaskExecutorGateway::NotifyCheckpointComplete {
            job_id: JOB,
            job_master_id: JM_ID,
            execution_id: ExecutionAttemptId(exec),
            checkpoint_id: id,
        };
        self.jm_send(te, msg);
    }
    fn acks_of(&mut self, id: CheckpointId) -> Vec<Ack> {
        self.jm().acks.iter().filter(|a| a.checkpoint == id).cloned().collect()
    }
    /// Runs until the fake JobMaster holds `n` acknowledgements of checkpoint `id`.
    fn await_acks(&mut self, id: CheckpointId, n: usize) -> Vec<Ack> {
        let jm = self.jm;
        let ok = self.sim.run_until_true(Duration::from_secs(10), |s| {
            s.node::<FakeJm>(jm).unwrap().acks.iter().filter(|a| a.checkpoint == id).count() >= n
        });
        let j = self.jm();
        assert!(ok, "acks {:?} declines {:?} states {:?}", j.acks, j.declines, j.states);
        self.acks_of(id)
    }
    fn await_finished(&mut self, execs: &[u128]) {
        let jm = self.jm;
        let all: Vec<ExecutionAttemptId> = execs.iter().map(|e| ExecutionAttemptId(*e)).collect();
        let ok = self.sim.run_until_true(Duration::from_secs(60), |s| {
            let j = s.node::<FakeJm>(jm).unwrap();
            all.iter().all(|e| j.state_of(*e) == Some(ExecutionState::Finished))
        });
        assert!(ok, "states: {:?}", self.jm().states);
    }
    /// The lines of the committed part files under `dir` (readers skip hidden files), sorted.
    fn committed_lines(&mut self, dir: &str) -> Vec<String> {
        let store = self.sim.store();
        let mut lines = Vec::new();
        for path in store.list(dir).unwrap() {
            let name = path.rsplit('/').next().unwrap();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            lines.extend(String::from_utf8(store.read(&path).unwrap()).unwrap().lines().map(str::to_string));
        }
        lines.sort();
        lines
    }
    /// The JobMaster's final commit once the job FINISHED: rename every reported committable.
    fn final_commit(&mut self, execs: &[u128]) {
        let all: Vec<(String, String)> =
            self.jm().committables.iter().filter(|(e, _)| execs.contains(&e.0)).flat_map(|(_, c)| c.clone()).collect();
        let store = self.sim.store();
        for (staging, final_path) in all {
            store.rename(&staging, &final_path).unwrap();
        }
    }
}

/// A sender of hand-made network messages (its address is the "producer TaskManager").
fn fake_peer(c: &mut Cluster) -> Addr {
    let host = c.sim.add_machine();
    c.sim.spawn(host, 9000, Box::new(FakeConsumer::default()))
}

fn send_from(c: &mut Cluster, peer: Addr, msgs: Vec<NetworkMsg>) {
    let te = c.tes[0].1;
    c.sim.with_node::<FakeConsumer, _>(peer, move |_, cx| {
        for m in msgs {
            cx.send(te, m);
        }
    });
}

/// A keyed sum + print task fed by two hand-driven producers (60, 61): channel 60 delivers its
/// barrier 1 and then "b"; channel 61 "c", then (100 ms later) its barrier. Returns the stdout
/// when only 60's barrier was in, and the cluster.
fn two_channel_alignment(mode: CheckpointingMode) -> (Cluster, String) {
    let mut c = cluster(21, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let peer = fake_peer(&mut c);
    let mut t = tdd((21, 0, 1, 1), sum_chain(), vec![60, 61], None, jm);
    t.checkpointing = Some(mode);
    c.submit(0, t);
    c.sim.run_for(Duration::from_millis(10));
    send_from(
        &mut c,
        peer,
        vec![data(21, 60, 0, vec![word("a"), barrier(1)]), data(21, 60, 1, vec![word("b")]), data(21, 61, 0, vec![word("c")])],
    );
    c.sim.run_for(Duration::from_millis(100));
    let before = c.stdout(0);
    send_from(&mut c, peer, vec![data(21, 61, 1, vec![barrier(1)])]);
    (c, before)
}

#[test]
fn exactly_once_alignment_holds_back_a_channel_after_its_barrier() {
    let (mut c, before) = two_channel_alignment(CheckpointingMode::ExactlyOnce);
    assert!(before.contains("(a,1)") && before.contains("(c,1)"), "{before}");
    assert!(!before.contains("(b,1)"), "b came after channel 60's barrier: it waits for the alignment\n{before}");
    assert!(c.jm().acks.is_empty());
    let acks = c.await_acks(1, 1);
    c.sim.run_for(Duration::from_millis(10));
    assert!(c.stdout(0).contains("(b,1)"), "unblocked after the snapshot");
    let ack = &acks[0];
    assert_eq!(ack.execution, ExecutionAttemptId(21));
    assert!(ack.metrics.alignment_duration_ms >= 100, "{:?}", ack.metrics);
    // ("c",1) in the binary layout: element tag, field count, string tag + length + "c", int tag + varint.
    assert_eq!(ack.metrics.bytes_processed_during_alignment, [0u8, 2, 2, 1, b'c', 0, 2].len() as u64);
    let handle = ack.state.handle.clone().unwrap();
    assert!(handle.path.starts_with(&format!("checkpoints/{JOB}/chk-1/")), "{}", handle.path);
    let file = c.sim.store().read(&handle.path).unwrap();
    assert_eq!(file.len() as u64, handle.size);
    assert_eq!(ack.metrics.state_size, handle.size);
    assert_eq!(ack.state.key_groups, flink_core::KeyGroupRange { start: 0, end: 127 });
    // The snapshot holds a and c, not b: restored into a fresh chain, b counts from 1 again
    // and a continues from 1.
    let state = flink_core::runtime::ChainState::from_bytes(&file).unwrap();
    let mut chain = OperatorChain::new(&sum_chain(), 0, 1).unwrap();
    chain.set_max_parallelism(128);
    chain.restore_state(&[state], &[], &mut Output::new()).unwrap();
    let mut out = Output::new();
    for w in ["a", "b", "c"] {
        chain.process(word(w), engine::Time::ZERO, &mut out).unwrap();
    }
    assert_eq!(out.printed, vec!["(a,2)", "(b,1)", "(c,2)"]);
}

#[test]
fn at_least_once_alignment_blocks_nothing() {
    let (mut c, before) = two_channel_alignment(CheckpointingMode::AtLeastOnce);
    assert!(before.contains("(a,1)") && before.contains("(b,1)") && before.contains("(c,1)"), "{before}");
    assert!(c.jm().acks.is_empty(), "the snapshot waits for the last barrier");
    c.await_acks(1, 1);
}

/// A checkpoint's asynchronous part holds its task open. Here the barrier and the end of the
/// input come in one message: the state file is still being written when the input ends, and
/// the task finishes only after its acknowledgement is out. (A task that finished first would
/// be gone when its write completed, and the checkpoint would never be acknowledged.)
#[test]
fn a_task_whose_input_ends_during_its_checkpoint_write_acknowledges_before_it_finishes() {
    let mut c = cluster(23, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let peer = fake_peer(&mut c);
    let mut t = tdd((21, 0, 1, 1), sum_chain(), vec![60], None, jm);
    t.checkpointing = Some(CheckpointingMode::ExactlyOnce);
    c.submit(0, t);
    c.sim.run_for(Duration::from_millis(10));
    let last = NetworkMsg::Data {
        target: ExecutionAttemptId(21),
        source: ExecutionAttemptId(60),
        seq: 0,
        elements: vec![word("a"), barrier(1)],
        end_of_partition: true,
    };
    send_from(&mut c, peer, vec![last]);
    // Checked after every event: when FINISHED arrives, the acknowledgement is already there.
    let mut acked_when_finished = None;
    let finished = c.sim.run_until_true(Duration::from_secs(10), |s| {
        let j = s.node::<FakeJm>(jm).unwrap();
        if j.state_of(ExecutionAttemptId(21)) != Some(ExecutionState::Finished) {
            return false;
        }
        acked_when_finished = Some(j.acks.iter().any(|a| a.checkpoint == 1));
        true
    });
    assert!(finished, "states {:?}", c.jm().states);
    assert_eq!(acked_when_finished, Some(true), "the ack of checkpoint 1 came before FINISHED; declines {:?}", c.jm().declines);
    let acks = c.acks_of(1);
    assert_eq!(acks.len(), 1);
    // The file the ack points to is in the store and holds the sum of "a".
    let handle = acks[0].state.handle.clone().unwrap();
    let file = c.sim.store().read(&handle.path).unwrap();
    assert_eq!(file.len() as u64, handle.size);
    assert!(c.stdout(0).contains("(a,1)"));
}

#[test]
fn a_newer_barrier_declines_the_checkpoint_being_aligned() {
    let mut c = cluster(22, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let peer = fake_peer(&mut c);
    let mut t = tdd((21, 0, 1, 1), sum_chain(), vec![60, 61], None, jm);
    t.checkpointing = Some(CheckpointingMode::ExactlyOnce);
    c.submit(0, t);
    c.sim.run_for(Duration::from_millis(10));
    send_from(&mut c, peer, vec![data(21, 60, 0, vec![barrier(1)]), data(21, 61, 0, vec![barrier(2)])]);
    c.sim.run_for(Duration::from_millis(10));
    let declines = c.jm().declines.clone();
    assert_eq!(declines.len(), 1, "{declines:?}");
    assert_eq!((declines[0].0, declines[0].1, declines[0].2), (ExecutionAttemptId(21), 1, DeclineReason::CheckpointDeclinedSubsumed));
    assert!(declines[0].3.starts_with("Checkpoint was declined (this checkpoint has been subsumed)"), "{}", declines[0].3);
    send_from(&mut c, peer, vec![data(21, 60, 1, vec![barrier(2)]), data(21, 61, 1, vec![barrier(1)])]);
    let acks = c.await_acks(2, 1);
    assert_eq!(acks.len(), 1);
    c.sim.run_for(Duration::from_millis(10));
    assert!(c.acks_of(1).is_empty(), "the late barrier of the subsumed checkpoint is dropped");
}

#[test]
fn an_aborted_checkpoint_unblocks_the_channels() {
    let mut c = cluster(23, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let peer = fake_peer(&mut c);
    c.submit(0, tdd((21, 0, 1, 1), sum_chain(), vec![60, 61], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    send_from(&mut c, peer, vec![data(21, 60, 0, vec![barrier(1)]), data(21, 60, 1, vec![word("x")])]);
    c.sim.run_for(Duration::from_millis(10));
    assert!(!c.stdout(0).contains("(x,1)"));
    let msg = TaskExecutorGateway::NotifyCheckpointAborted {
        job_id: JOB,
        job_master_id: JM_ID,
        execution_id: ExecutionAttemptId(21),
        checkpoint_id: 1,
    };
    c.jm_send(0, msg);
    c.sim.run_for(Duration::from_millis(10));
    assert!(c.stdout(0).contains("(x,1)"));
    assert!(c.jm().acks.is_empty());
}

#[test]
fn a_barrier_never_overtakes_a_record_and_marks_where_the_source_state_was_taken() {
    let mut c = cluster(24, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer { auto_credit: true, ..FakeConsumer::default() }));
    sequence_to(&mut c, consumer, 200_000);
    c.sim.run_for(Duration::from_millis(1));
    c.trigger(0, 5, 1, CheckpointKind::Checkpoint);
    let acks = c.await_acks(1, 1);
    let jm = c.jm;
    assert!(c.sim.run_until_true(Duration::from_secs(30), |s| s.node::<FakeJm>(jm).unwrap().state_of(ExecutionAttemptId(5))
        == Some(ExecutionState::Finished)));
    let n = c.sim.node::<FakeConsumer>(consumer).unwrap();
    assert!(!n.out_of_sequence);
    let at: Vec<usize> = n.elements.iter().enumerate().filter(|(_, e)| matches!(e, Element::Barrier(_))).map(|(i, _)| i).collect();
    assert_eq!(at.len(), 1, "one barrier");
    let numbers: Vec<i64> = n
        .elements
        .iter()
        .filter_map(|e| match e {
            Element::Record(r) => r.fields[0].as_i64(),
            _ => None,
        })
        .collect();
    assert_eq!(numbers, (1..=200_000).collect::<Vec<i64>>(), "every record once, in order");
    let before = n.elements[..at[0]].iter().filter(|e| matches!(e, Element::Record(_))).count() as i64;
    assert!(before > 0 && before < 200_000, "the checkpoint was taken mid-stream ({before})");
    // The source state in the ack resumes exactly after the last record before the barrier.
    let path = acks[0].state.handle.clone().unwrap().path;
    let state = flink_core::runtime::ChainState::from_bytes(&c.sim.store().read(&path).unwrap()).unwrap();
    let ops = vec![OperatorSpec::Source { source: SourceSpec::Sequence { from: 1, to: 200_000 } }];
    let mut chain = OperatorChain::new(&ops, 0, 1).unwrap();
    chain.set_max_parallelism(128);
    chain.restore_state(std::slice::from_ref(&state), std::slice::from_ref(&state), &mut Output::new()).unwrap();
    let mut out = Output::new();
    chain.poll_source(engine::Time::ZERO, 1, &MemStore::default(), &mut out).unwrap();
    assert_eq!(out.elements, vec![Element::Record(flink_core::Record::new(vec![flink_core::Value::Int(before + 1)]))]);
}

#[test]
fn triggers_for_tasks_that_are_not_running_sources_are_declined() {
    let mut c = cluster(25, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    c.submit(0, tdd((21, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    c.trigger(0, 99, 1, CheckpointKind::Checkpoint);
    c.trigger(0, 21, 2, CheckpointKind::Checkpoint);
    // Another job's trigger for this execution: not its task.
    let options = options(3, CheckpointKind::Checkpoint);
    let other = JobId(0x999);
    let msg = TaskExecutorGateway::TriggerCheckpoint {
        job_id: other,
        job_master_id: JM_ID,
        execution_id: ExecutionAttemptId(21),
        checkpoint_id: 3,
        timestamp: 0,
        options,
    };
    c.jm_send(0, msg);
    c.sim.run_for(Duration::from_millis(10));
    let d = c.jm().declines.clone();
    assert_eq!(d.len(), 3, "{d:?}");
    assert!(d.iter().all(|d| d.2 == DeclineReason::CheckpointDeclinedTaskNotReady));
    assert!(d[0].3.contains("is not running on TaskExecutor"), "{}", d[0].3);
    assert!(d[1].3.contains("is not a source task"), "{}", d[1].3);
    assert!(d[2].3.contains("is not running on TaskExecutor"), "{}", d[2].3);
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Running));
}

#[test]
fn a_state_file_that_cannot_be_written_declines_and_the_task_goes_on() {
    let mut c = cluster(26, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer { auto_credit: true, ..FakeConsumer::default() }));
    sequence_to(&mut c, consumer, 100_000);
    c.sim.run_for(Duration::from_millis(1));
    let options = CheckpointOptions { kind: CheckpointKind::Checkpoint, location: "../outside".into() };
    let msg = TaskExecutorGateway::TriggerCheckpoint {
        job_id: JOB,
        job_master_id: JM_ID,
        execution_id: ExecutionAttemptId(5),
        checkpoint_id: 1,
        timestamp: 0,
        options,
    };
    c.jm_send(0, msg);
    c.sim.run_for(Duration::from_millis(10));
    let d = c.jm().declines.clone();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].2, DeclineReason::CheckpointAsyncException);
    assert!(d[0].3.contains("outside the shared store"), "{}", d[0].3);
    let jm = c.jm;
    assert!(c.sim.run_until_true(Duration::from_secs(30), |s| s.node::<FakeJm>(jm).unwrap().state_of(ExecutionAttemptId(5))
        == Some(ExecutionState::Finished)));
    assert_eq!(c.sim.node::<FakeConsumer>(consumer).unwrap().records, 100_000);
}

/// Datagen numbers (1000 at 1000/s) -> file sink, in one chain.
fn numbers_to_files() -> Vec<OperatorSpec> {
    vec![
        OperatorSpec::Source {
            source: SourceSpec::Datagen {
                kind: flink_core::operator::DatagenKind::Numbers,
                rate_per_sec: 1000,
                count: Some(1000),
                seed: 5,
            },
        },
        OperatorSpec::Sink { sink: SinkSpec::File { path: "out".into() } },
    ]
}

#[test]
fn part_files_are_committed_on_notify_and_finished_carries_the_rest() {
    let mut c = cluster(27, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    c.submit(0, tdd((5, 0, 1, 1), numbers_to_files(), vec![], None, jm));
    c.sim.run_for(Duration::from_millis(300));
    c.trigger(0, 5, 1, CheckpointKind::Checkpoint);
    c.await_acks(1, 1);
    assert!(c.committed_lines("out").is_empty(), "nothing is visible before the checkpoint completes");
    c.sim.run_for(Duration::from_millis(100));
    c.notify(0, 5, 1);
    c.sim.run_for(Duration::from_millis(1));
    let first = c.committed_lines("out");
    assert!(first.len() >= 250 && first.len() < 1000, "{} lines committed at checkpoint 1", first.len());
    // Notifying again changes nothing (the commit is idempotent).
    c.notify(0, 5, 1);
    c.sim.run_for(Duration::from_millis(1));
    assert_eq!(c.committed_lines("out"), first);
    c.await_finished(&[5]);
    let committables = c.jm().committables.clone();
    assert_eq!(committables.len(), 1);
    let rest = &committables[0].1;
    assert_eq!(rest.len(), 1, "the part file written after checkpoint 1: {rest:?}");
    let (staging, final_path) = &rest[0];
    assert!(staging.starts_with("out/.part-") && final_path.starts_with("out/part-"), "{staging} {final_path}");
    assert!(c.sim.store().exists(staging) && !c.sim.store().exists(final_path), "the JobMaster commits it, not the task");
    c.final_commit(&[5]);
    assert_eq!(c.committed_lines("out"), expected_numbers());
}

/// Exactly what the numbers source produces, each record once, sorted.
fn expected_numbers() -> Vec<String> {
    let mut chain = OperatorChain::new(&numbers_to_files()[..1], 0, 1).unwrap();
    let mut out = Output::new();
    let mut now = engine::Time::ZERO;
    loop {
        match chain.poll_source(now, 1000, &MemStore::default(), &mut out).unwrap() {
            SourceStatus::Finished => break,
            SourceStatus::IdleUntil(t) => now = t,
            SourceStatus::More => {}
        }
    }
    let mut expected: Vec<String> = out
        .elements
        .iter()
        .filter_map(|e| match e {
            Element::Record(r) => Some(r.to_string()),
            _ => None,
        })
        .collect();
    expected.sort();
    assert_eq!(expected.len(), 1000);
    expected
}

#[test]
fn a_restored_task_commits_what_its_checkpoint_had_pending_before_it_runs() {
    let mut c = cluster(28, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    c.submit(0, tdd((5, 0, 1, 1), numbers_to_files(), vec![], None, jm));
    c.sim.run_for(Duration::from_millis(300));
    c.trigger(0, 5, 1, CheckpointKind::Checkpoint);
    let acks = c.await_acks(1, 1);
    // The checkpoint completes at the JobMaster but the task is gone before it hears so.
    c.sim.run_for(Duration::from_millis(200));
    c.jm_send(0, TaskExecutorGateway::CancelTask { job_id: JOB, job_master_id: JM_ID, execution_id: ExecutionAttemptId(5) });
    c.sim.run_for(Duration::from_millis(5));
    assert!(c.committed_lines("out").is_empty());
    let mut t = tdd((6, 0, 1, 1), numbers_to_files(), vec![], None, jm);
    t.attempt_number = 1;
    t.restore = Some(TaskRestore {
        checkpoint_id: 1,
        external_path: format!("checkpoints/{JOB}/chk-1"),
        states: vec![acks[0].state.clone()],
        operator_states: vec![0],
    });
    c.submit(0, t);
    // Deployment is one message: by the time RUNNING is reported the re-commit is done.
    let jm_addr = c.jm;
    assert!(c.sim.run_until_true(Duration::from_secs(1), |s| s.node::<FakeJm>(jm_addr).unwrap().state_of(ExecutionAttemptId(6))
        == Some(ExecutionState::Running)));
    let recommitted = c.committed_lines("out");
    assert!(!recommitted.is_empty() && recommitted.len() < 1000, "{} lines", recommitted.len());
    c.await_finished(&[6]);
    c.final_commit(&[6]);
    assert_eq!(c.committed_lines("out"), expected_numbers(), "each record exactly once across both attempts");
    assert!(c.stdout(0).contains("Restoring state for 1 split(s) to reader."));
}

/// Cars (400 per source subtask at 400/s) -> hash by car -> keyed sum of speeds -> file sink;
/// two sources and two sums, one of each per TaskExecutor, execution ids `base + 1..=4`.
/// `restore`: the acknowledged snapshots to resume from.
fn deploy_cars(c: &mut Cluster, base: u128, restore: Option<(CheckpointId, &[Ack])>) -> Vec<u128> {
    let jm = c.jm;
    let (te0, te1) = (c.tes[0].1, c.tes[1].1);
    let (s0, s1, k0, k1) = (base + 1, base + 2, base + 3, base + 4);
    let source = vec![OperatorSpec::Source {
        source: SourceSpec::Datagen { kind: flink_core::operator::DatagenKind::Cars, rate_per_sec: 400, count: Some(400), seed: 9 },
    }];
    let sums = vec![
        OperatorSpec::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } },
        OperatorSpec::Sink { sink: SinkSpec::File { path: "out".into() } },
    ];
    let output = OutputSpec {
        max_parallelism: 128,
        ship: ShipStrategy::Hash { key: 0 },
        consumers: vec![(ExecutionAttemptId(k0), te0), (ExecutionAttemptId(k1), te1)],
    };
    let restore_for = |vertex: u128, subtask: u32| {
        restore.map(|(id, acks)| {
            let mut states: Vec<TaskStateSnapshot> =
                acks.iter().filter(|a| a.state.vertex_id == JobVertexId(vertex)).map(|a| a.state.clone()).collect();
            states.sort_by_key(|s| s.subtask_index);
            TaskRestore { checkpoint_id: id, external_path: format!("checkpoints/{JOB}/chk-{id}"), states, operator_states: vec![subtask] }
        })
    };
    let mut place = |te: usize, t: TaskDeploymentDescriptor| {
        let mut t = t;
        t.checkpointing = Some(CheckpointingMode::ExactlyOnce);
        t.attempt_number = u32::from(restore.is_some());
        t.restore = restore_for(t.vertex_id.0, t.subtask_index);
        c.submit(te, t);
    };
    place(0, tdd((s0, 0, 2, 1), source.clone(), vec![], Some(output.clone()), jm));
    place(1, tdd((s1, 1, 2, 2), source, vec![], Some(output), jm));
    place(0, tdd((k0, 0, 2, 1), sums.clone(), vec![s0, s1], None, jm));
    place(1, tdd((k1, 1, 2, 2), sums, vec![s0, s1], None, jm));
    vec![s0, s1, k0, k1]
}

#[test]
fn a_job_restored_from_a_checkpoint_commits_exactly_what_a_fault_free_run_does() {
    // The reference: the same job without failure.
    let mut reference = cluster(30, 2, FakeRm::default(), FakeJm::default()).with_slots();
    let execs = deploy_cars(&mut reference, 10, None);
    reference.await_finished(&execs);
    reference.final_commit(&execs);
    let expected = reference.committed_lines("out");
    assert_eq!(expected.len(), 800, "one line per record");

    let mut c = cluster(30, 2, FakeRm::default(), FakeJm::default()).with_slots();
    let first = deploy_cars(&mut c, 10, None);
    c.sim.run_for(Duration::from_millis(400));
    c.trigger(0, first[0], 1, CheckpointKind::Checkpoint);
    c.trigger(1, first[1], 1, CheckpointKind::Checkpoint);
    let acks = c.await_acks(1, 4);
    for (te, exec) in [(0, first[0]), (1, first[1]), (0, first[2]), (1, first[3])] {
        c.notify(te, exec, 1);
    }
    c.sim.run_for(Duration::from_millis(5));
    let at_checkpoint = c.committed_lines("out");
    assert!(!at_checkpoint.is_empty() && at_checkpoint.len() < 800, "{} lines committed by checkpoint 1", at_checkpoint.len());
    // More records go through, then every task fails (as when a TaskManager is lost) and the
    // job restarts from checkpoint 1 with new attempts.
    c.sim.run_for(Duration::from_millis(300));
    for (te, exec) in [(0, first[0]), (1, first[1]), (0, first[2]), (1, first[3])] {
        c.jm_send(te, TaskExecutorGateway::CancelTask { job_id: JOB, job_master_id: JM_ID, execution_id: ExecutionAttemptId(exec) });
    }
    c.sim.run_for(Duration::from_millis(10));
    assert!(first.iter().all(|e| c.jm().state_of(ExecutionAttemptId(*e)) == Some(ExecutionState::Canceled)));
    let second = deploy_cars(&mut c, 20, Some((1, &acks)));
    c.await_finished(&second);
    c.final_commit(&second);
    let got = c.committed_lines("out");
    let first_difference = got.iter().zip(&expected).position(|(a, b)| a != b);
    assert!(got == expected, "{} lines committed, {} expected; first difference at {first_difference:?}", got.len(), expected.len());
    let logs = c.stdout(0) + &c.stdout(1);
    assert!(logs.contains("Restoring state for 1 split(s) to reader."), "{logs}");
    assert!(logs.contains("restores its state from checkpoint 1 at checkpoints/"), "{logs}");
}

#[test]
fn a_missing_or_corrupt_state_file_fails_the_restoring_task() {
    let mut c = cluster(31, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    let snapshot = |path: &str| TaskStateSnapshot {
        vertex_id: JobVertexId(2),
        subtask_index: 0,
        key_groups: flink_core::KeyGroupRange { start: 0, end: 127 },
        handle: Some(flink_core::checkpoint::StateHandle { path: path.into(), size: 3 }),
    };
    c.sim.store().write("checkpoints/x/chk-3/bad", b"{no").unwrap();
    for (exec, path) in [(21u128, "checkpoints/x/chk-3/gone"), (22, "checkpoints/x/chk-3/bad")] {
        let mut t = tdd((exec, 0, 1, 1), sum_chain(), vec![60], None, jm);
        t.restore = Some(TaskRestore {
            checkpoint_id: 3,
            external_path: "checkpoints/x/chk-3".into(),
            states: vec![snapshot(path)],
            operator_states: vec![0],
        });
        c.submit(0, t);
    }
    c.sim.run_for(Duration::from_millis(10));
    for (exec, what) in [(21u128, "cannot read the state file checkpoints/x/chk-3/gone"), (22, "is corrupt")] {
        assert_eq!(c.jm().state_of(ExecutionAttemptId(exec)), Some(ExecutionState::Failed));
        let err = c.jm().error_of(ExecutionAttemptId(exec)).unwrap();
        assert!(err.starts_with("Could not restore Keyed Aggregation -> Sink (1/1)#0 from checkpoint 3"), "{err}");
        assert!(err.contains(what), "{err}");
        let states: Vec<ExecutionState> = c.jm().states.iter().filter(|s| s.0 == ExecutionAttemptId(exec)).map(|s| s.1).collect();
        assert!(!states.contains(&ExecutionState::Running), "it fails while INITIALIZING: {states:?}");
    }
    assert_eq!(c.te(0).num_tasks(), 0);
}

/// Unbounded cars with event time -> hash -> 1000 s event-time windows (max speed) -> print:
/// nothing fires on its own within the test. Returns the execution ids.
fn deploy_windows(c: &mut Cluster) -> Vec<u128> {
    let jm = c.jm;
    let (te0, te1) = (c.tes[0].1, c.tes[1].1);
    let source = vec![
        OperatorSpec::Source {
            source: SourceSpec::Datagen { kind: flink_core::operator::DatagenKind::Cars, rate_per_sec: 400, count: None, seed: 4 },
        },
        OperatorSpec::AssignTimestamps { field: 3, max_out_of_orderness_ms: 0 },
    ];
    let windows = vec![
        OperatorSpec::Window {
            key: 0,
            size_ms: 1_000_000,
            slide_ms: 1_000_000,
            time: flink_core::operator::TimeCharacteristic::EventTime,
            aggregate: Aggregate::Max { field: 1 },
        },
        OperatorSpec::Sink { sink: SinkSpec::Print },
    ];
    let output = OutputSpec {
        max_parallelism: 128,
        ship: ShipStrategy::Hash { key: 0 },
        consumers: vec![(ExecutionAttemptId(21), te0), (ExecutionAttemptId(22), te1)],
    };
    let mut place = |te: usize, mut t: TaskDeploymentDescriptor| {
        t.checkpointing = Some(CheckpointingMode::ExactlyOnce);
        c.submit(te, t);
    };
    place(0, tdd((11, 0, 2, 1), source.clone(), vec![], Some(output.clone()), jm));
    place(1, tdd((12, 1, 2, 2), source, vec![], Some(output), jm));
    place(0, tdd((21, 0, 2, 1), windows.clone(), vec![11, 12], None, jm));
    place(1, tdd((22, 1, 2, 2), windows, vec![11, 12], None, jm));
    vec![11, 12, 21, 22]
}

fn stop_with_savepoint(drain: bool) -> (Cluster, String, Vec<Ack>) {
    let mut c = cluster(32, 2, FakeRm::default(), FakeJm::default()).with_slots();
    let execs = deploy_windows(&mut c);
    c.sim.run_for(Duration::from_millis(300));
    assert!(!c.stdout(0).contains("> (") && !c.stdout(1).contains("> ("), "no window fired yet");
    c.trigger(0, 11, 7, CheckpointKind::SyncSavepoint { drain });
    c.trigger(1, 12, 7, CheckpointKind::SyncSavepoint { drain });
    let acks = c.await_acks(7, 4);
    // Synchronous: the sources wait for the savepoint to complete before they end.
    c.sim.run_for(Duration::from_millis(200));
    for e in &execs {
        assert_eq!(c.jm().state_of(ExecutionAttemptId(*e)), Some(ExecutionState::Running));
    }
    let out = c.te(0).task(ExecutionAttemptId(11)).unwrap().records_out();
    c.sim.run_for(Duration::from_millis(200));
    assert_eq!(c.te(0).task(ExecutionAttemptId(11)).unwrap().records_out(), out, "nothing is read after the barrier");
    // The savepoint completed: every task hears it, the sources end, the job finishes.
    for (te, e) in [(0, 11), (1, 12), (0, 21), (1, 22)] {
        c.notify(te, e, 7);
    }
    c.await_finished(&execs);
    let out = c.stdout(0) + &c.stdout(1);
    (c, out, acks)
}

#[test]
fn stop_with_savepoint_and_drain_fires_the_windows_before_the_barrier() {
    let (_, out, _) = stop_with_savepoint(true);
    let fired: Vec<&str> = out.lines().filter(|l| l.contains("> (")).collect();
    assert_eq!(fired.len(), 4, "one window per car (4 cars): {out}");
    assert!(out.contains("stops after savepoint 7"), "{out}");
}

#[test]
fn stop_with_savepoint_without_drain_keeps_the_windows_in_the_savepoint() {
    let (mut c, out, acks) = stop_with_savepoint(false);
    assert!(!out.lines().any(|l| l.contains("> (")), "nothing flushed at the end: {out}");
    // The windows live on in the savepoint: a chain restored from it fires them at its end.
    let windows: Vec<Ack> = acks.into_iter().filter(|a| a.state.vertex_id == JobVertexId(2)).collect();
    let mut fired = 0;
    for a in &windows {
        let bytes = c.sim.store().read(&a.state.handle.clone().unwrap().path).unwrap();
        let state = flink_core::runtime::ChainState::from_bytes(&bytes).unwrap();
        let ops = vec![
            OperatorSpec::Window {
                key: 0,
                size_ms: 1_000_000,
                slide_ms: 1_000_000,
                time: flink_core::operator::TimeCharacteristic::EventTime,
                aggregate: Aggregate::Max { field: 1 },
            },
            OperatorSpec::Sink { sink: SinkSpec::Print },
        ];
        let mut chain = OperatorChain::new(&ops, a.state.subtask_index, 2).unwrap();
        chain.set_max_parallelism(128);
        chain.restore_state(&[state], &[], &mut Output::new()).unwrap();
        let mut o = Output::new();
        chain.end_of_input(engine::Time::ZERO, &mut o);
        fired += o.printed.len();
    }
    assert_eq!(fired, 4, "the four cars' open windows are in the savepoint");
}

#[test]
fn a_failed_stop_without_drain_leaves_the_job_running() {
    let mut c = cluster(33, 2, FakeRm::default(), FakeJm::default()).with_slots();
    let execs = deploy_windows(&mut c);
    c.sim.run_for(Duration::from_millis(300));
    c.trigger(0, 11, 7, CheckpointKind::SyncSavepoint { drain: false });
    c.trigger(1, 12, 7, CheckpointKind::SyncSavepoint { drain: false });
    c.await_acks(7, 4);
    let out = c.te(0).task(ExecutionAttemptId(11)).unwrap().records_out();
    for (te, e) in [(0, 11), (1, 12), (0, 21), (1, 22)] {
        let msg = TaskExecutorGateway::NotifyCheckpointAborted {
            job_id: JOB,
            job_master_id: JM_ID,
            execution_id: ExecutionAttemptId(e),
            checkpoint_id: 7,
        };
        c.jm_send(te, msg);
    }
    c.sim.run_for(Duration::from_millis(300));
    assert!(c.te(0).task(ExecutionAttemptId(11)).unwrap().records_out() > out, "the source reads on");
    assert!(c.stdout(0).contains("Stop-with-savepoint 7 failed: Source (1/2)#0 reads on."));
    for e in &execs {
        assert_eq!(c.jm().state_of(ExecutionAttemptId(*e)), Some(ExecutionState::Running));
    }
    // Later checkpoints work as before, and the windows were not flushed by the failed stop.
    c.trigger(0, 11, 8, CheckpointKind::Checkpoint);
    c.trigger(1, 12, 8, CheckpointKind::Checkpoint);
    c.await_acks(8, 4);
    assert!(!(c.stdout(0) + &c.stdout(1)).contains("> ("));
}

#[test]
fn a_failed_stop_with_drain_fails_the_drained_sources() {
    let mut c = cluster(34, 2, FakeRm::default(), FakeJm::default()).with_slots();
    deploy_windows(&mut c);
    c.sim.run_for(Duration::from_millis(300));
    c.trigger(0, 11, 7, CheckpointKind::SyncSavepoint { drain: true });
    c.await_acks(7, 1);
    let msg = TaskExecutorGateway::NotifyCheckpointAborted {
        job_id: JOB,
        job_master_id: JM_ID,
        execution_id: ExecutionAttemptId(11),
        checkpoint_id: 7,
    };
    c.jm_send(0, msg);
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(11)), Some(ExecutionState::Failed));
    let err = c.jm().error_of(ExecutionAttemptId(11)).unwrap();
    assert!(err.contains("Stop-with-savepoint 7 failed after Source (1/2)#0 was drained"), "{err}");
}

/// Sends from the fake RM's address, as a zombie ResourceManager at the same address would.
fn rm_send(c: &mut Cluster, te: usize, msg: TaskExecutorGateway) {
    let to = c.tes[te].1;
    c.sim.with_node::<FakeRm, _>(c.rm, move |_, cx| cx.send(to, msg));
}

#[test]
fn messages_with_a_stale_fencing_token_are_ignored_and_logged() {
    let mut c = cluster(40, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let (jm, rm) = (c.jm, c.rm);
    // A task that waits for input, so it stays RUNNING until told otherwise.
    c.submit(0, tdd((21, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Running));
    let (stale_jm, stale_rm) = (JobMasterId(0xdead), ResourceManagerId(0xdead));
    // The same sender addresses, other tokens: a previous leader's JobMaster and RM.
    c.jm_send(0, TaskExecutorGateway::CancelTask { job_id: JOB, job_master_id: stale_jm, execution_id: ExecutionAttemptId(21) });
    let trigger = TaskExecutorGateway::TriggerCheckpoint {
        job_id: JOB,
        job_master_id: stale_jm,
        execution_id: ExecutionAttemptId(21),
        checkpoint_id: 1,
        timestamp: 0,
        options: options(1, CheckpointKind::Checkpoint),
    };
    c.jm_send(0, trigger);
    c.jm_send(
        0,
        TaskExecutorGateway::FreeSlot { job_id: JOB, job_master_id: stale_jm, allocation_id: AllocationId(1), reason: "x".into() },
    );
    rm_send(&mut c, 0, TaskExecutorGateway::Shutdown { resource_manager_id: stale_rm, reason: "zombie".into() });
    let request = TaskExecutorGateway::RequestSlot {
        resource_manager_id: stale_rm,
        slot_index: 1,
        allocation_id: AllocationId(9),
        job_id: JOB,
        job_master: jm,
        job_master_id: JM_ID,
    };
    rm_send(&mut c, 0, request);
    c.sim.run_for(Duration::from_millis(50));
    // Nothing happened: the task runs, no decline, the slots are as they were, the TaskExecutor lives.
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Running));
    assert!(c.jm().declines.is_empty(), "{:?}", c.jm().declines);
    assert_eq!(c.jm().offers.len(), 1);
    assert_eq!(c.te(0).slot_table().num_free(), 1);
    let out = c.stdout(0);
    for (kind, from, got, expected) in [
        ("CancelTask", jm, stale_jm.to_string(), JM_ID.to_string()),
        ("TriggerCheckpoint", jm, stale_jm.to_string(), JM_ID.to_string()),
        ("FreeSlot", jm, stale_jm.to_string(), JM_ID.to_string()),
        ("Shutdown", rm, stale_rm.to_string(), RM_ID.to_string()),
        ("RequestSlot", rm, stale_rm.to_string(), RM_ID.to_string()),
    ] {
        let line = format!(
            "Fencing token mismatch: Ignoring message {kind} from {from} because the fencing token {got} did not match the expected fencing token {expected}."
        );
        assert!(out.contains(&line), "missing '{line}' in:\n{out}");
    }
    // The current tokens still command it.
    c.jm_send(0, TaskExecutorGateway::CancelTask { job_id: JOB, job_master_id: JM_ID, execution_id: ExecutionAttemptId(21) });
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Canceled));
}

#[test]
fn a_slot_request_under_a_new_job_master_id_revokes_the_old_job_master_and_fences_it() {
    let mut c = cluster(41, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let jm = c.jm;
    c.submit(0, tdd((21, 0, 1, 1), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    // The job's new leader (a JobMaster with another id) gets a slot here through the RM.
    let new_id = JobMasterId(0x2);
    let request = TaskExecutorGateway::RequestSlot {
        resource_manager_id: RM_ID,
        slot_index: 1,
        allocation_id: AllocationId(7),
        job_id: JOB,
        job_master: jm,
        job_master_id: new_id,
    };
    rm_send(&mut c, 0, request);
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(21)), Some(ExecutionState::Failed));
    assert!(c.jm().error_of(ExecutionAttemptId(21)).unwrap().contains("lost leadership"));
    // The old JobMaster's commit is not obeyed; the new one's offer went out under the new id.
    c.submit(0, tdd((22, 0, 1, 7), sum_chain(), vec![60], None, jm));
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(22)), None, "a submission under the old id is fenced");
    let out = c.stdout(0);
    let line = format!(
        "Fencing token mismatch: Ignoring message SubmitTask from {jm} because the fencing token {JM_ID} did not match the expected fencing token {new_id}."
    );
    assert!(out.contains(&line), "missing '{line}' in:\n{out}");
}

/// The task table answers as a B-tree map of the same tasks would: the same task for each id,
/// replaced and removed the same way, and passes in ascending id order (the order of every
/// pass over the tasks, on which a simulated run's events depend).
#[test]
fn task_table_behaves_as_an_ordered_map() {
    let jm = Addr::new(Ipv4Addr::new(127, 0, 0, 9), 6123);
    let config = TaskExecutorConfig::new("container_1_0001_01_000002", (jm, RM_ID), 2, 1728);
    // Each task carries the step that inserted it, as its allocation's number.
    let task = |id: u128, step: u32| {
        crate::task::Task::new(tdd((id, 0, 2, step as u128), sum_chain(), vec![1], None, jm), &config, engine::Time::ZERO).expect("task")
    };
    // A fixed xorshift sequence: the same operations every run.
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut draw = |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut table = crate::task_table::TaskTable::new();
    let mut model: BTreeMap<ExecutionAttemptId, u32> = BTreeMap::new();
    for step in 0..400u32 {
        // Few ids, high bits included, so inserts hit present ids and removes find them.
        let id = ExecutionAttemptId((draw(12) as u128) << 100 | draw(3) as u128);
        match draw(3) {
            0 => {
                let old = table.insert(id, task(id.0, step));
                assert_eq!(old.map(|t| t.tdd.allocation_id.0 as u32), model.insert(id, step), "insert at step {step}");
            }
            1 => assert_eq!(table.remove(&id).map(|t| t.tdd.allocation_id.0 as u32), model.remove(&id), "remove at step {step}"),
            _ => {
                assert_eq!(table.get(&id).map(|t| t.tdd.allocation_id.0 as u32), model.get(&id).copied());
                assert_eq!(table.get_mut(&id).map(|t| t.tdd.allocation_id.0 as u32), model.get(&id).copied());
                assert_eq!(table.contains_key(&id), model.contains_key(&id));
            }
        }
        assert_eq!(table.len(), model.len());
        assert!(table.keys().copied().eq(model.keys().copied()), "order at step {step}");
        assert!(table.values().map(|t| t.tdd.allocation_id.0 as u32).eq(model.values().copied()));
    }
}
