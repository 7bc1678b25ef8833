//! Scenarios on the deterministic sim: a fake ResourceManager and a fake JobMaster drive real
//! TaskExecutors.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use engine::sim::{Sim, SimConfig};
use engine::{Addr, Cx, MemStore, Msg, Node, TimerId};
use flink_core::operator::{Aggregate, FlatMapFn, MapFn, SinkSpec, SourceSpec};
use flink_core::protocol::{OutputSpec, SlotOffer, SlotStatus};
use flink_core::runtime::{OperatorChain, Output, SourceStatus};
use flink_core::{
    AllocationId, Element, ExecutionAttemptId, ExecutionState, JobId, JobMasterGateway, JobVertexId, NetworkMsg, OperatorSpec,
    ResourceManagerGateway, ShipStrategy, TaskDeploymentDescriptor, TaskExecutorGateway,
};

use crate::{TaskExecutor, TaskExecutorConfig};

const JOB: JobId = JobId(0x10b);

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
                    cx.send(from, TaskExecutorGateway::RegistrationRejected { reason });
                } else {
                    cx.send(from, TaskExecutorGateway::RegistrationSuccess { resource_manager: cx.me(), heartbeat_interval_ms: 1000 });
                }
            }
            Ok(ResourceManagerGateway::TaskExecutorHeartbeat { slots, .. }) => {
                self.last_report.insert(from, slots);
                if !self.silent {
                    cx.send(from, TaskExecutorGateway::HeartbeatAck);
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
    offers: Vec<(Addr, SlotOffer)>,
    states: Vec<(ExecutionAttemptId, ExecutionState, Option<String>)>,
    heartbeats: u32,
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
                cx.send(from, TaskExecutorGateway::AcceptSlots { job_id, accepted });
            }
            Ok(JobMasterGateway::UpdateTaskExecutionState { execution_id, state, error, .. }) => {
                self.states.push((execution_id, state, error))
            }
            Ok(JobMasterGateway::TaskExecutorToJobManagerHeartbeat { job_id, .. }) => {
                self.heartbeats += 1;
                if !self.silent {
                    cx.send(from, TaskExecutorGateway::JobManagerHeartbeat { job_id });
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
        let config = TaskExecutorConfig::new(format!("container_1_0001_01_00000{}", i + 2), rm, 2, 1728);
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
            cx.send(to, TaskExecutorGateway::RequestSlot { slot_index, allocation_id: allocation, job_id: JOB, job_master: jm })
        });
    }
    fn submit(&mut self, te: usize, tdd: TaskDeploymentDescriptor) {
        let to = self.tes[te].1;
        self.sim.with_node::<FakeJm, _>(self.jm, move |_, cx| cx.send(to, TaskExecutorGateway::SubmitTask(Box::new(tdd))));
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
        max_parallelism: 128,
        restore: None,
        checkpointing: None,
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
    c.jm_send(0, TaskExecutorGateway::FreeSlot { allocation_id: AllocationId(1), reason: "job finished".into() });
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
    c.jm_send(0, TaskExecutorGateway::CancelTask { execution_id: ExecutionAttemptId(5) });
    c.sim.run_for(Duration::from_millis(10));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Canceled));
    assert_eq!(c.te(0).num_tasks(), 0);
    let got = c.sim.node::<FakeConsumer>(consumer).unwrap().records;
    c.sim.run_for(Duration::from_millis(500));
    assert_eq!(c.sim.node::<FakeConsumer>(consumer).unwrap().records, got, "nothing is emitted after CANCELED");
}

#[test]
fn a_silent_job_master_fails_its_tasks_and_frees_its_slots() {
    let mut c = cluster(8, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer { auto_credit: true, ..FakeConsumer::default() }));
    sequence_to(&mut c, consumer, i64::MAX);
    c.sim.run_for(Duration::from_secs(3));
    assert!(c.jm().heartbeats >= 2);
    assert_eq!(c.te(0).num_tasks(), 1, "answered heartbeats keep the job alive");
    c.jm().silent = true;
    c.sim.run_for(Duration::from_secs(7));
    assert_eq!(c.jm().state_of(ExecutionAttemptId(5)), Some(ExecutionState::Failed));
    assert!(c.jm().error_of(ExecutionAttemptId(5)).unwrap().contains("lost leadership"));
    assert_eq!(c.te(0).slot_table().num_free(), 2);
    assert!(c.stdout(0).contains("The heartbeat of JobManager with id"));
}

#[test]
fn shutdown_cancels_tasks_and_exits() {
    let mut c = cluster(9, 1, FakeRm::default(), FakeJm::default()).with_slots();
    let host = c.sim.add_machine();
    let consumer = c.sim.spawn(host, 9000, Box::new(FakeConsumer { auto_credit: true, ..FakeConsumer::default() }));
    sequence_to(&mut c, consumer, i64::MAX);
    c.sim.run_for(Duration::from_millis(100));
    let te = c.tes[0].1;
    c.sim.with_node::<FakeRm, _>(c.rm, move |_, cx| cx.send(te, TaskExecutorGateway::Shutdown { reason: "idle timeout".into() }));
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
