//! Whole deployments in the simulator: a YARN cluster (RM + NodeManagers), the Flink AM as a
//! registered program, and fake TaskExecutors that speak the flink-core protocol (the real
//! TaskExecutor is written in parallel; these follow the same contract with scripted tasks).

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use engine::{Addr, Cx, Msg, Node, Signal, Store as _, TimerId};
use flink_core::graph::JobEdge;
use flink_core::operator::{SinkSpec, SourceSpec};
use flink_core::protocol::{env as fenv, SlotOffer, SlotStatus};
use flink_core::{
    AllocationId, ExecutionAttemptId, ExecutionState, JobGraph, JobId, JobMasterGateway, JobStatus, JobType, JobVertex, JobVertexId,
    OperatorSpec, ResourceManagerGateway, RestartStrategy, ShipStrategy, TaskExecutorGateway,
};
use yarn_sim::ids::ApplicationId;
use yarn_sim::records::{ApplicationSubmissionContext, ContainerLaunchContext, Resource, YarnApplicationState};
use yarn_sim::rm::ResourceManager;
use yarn_sim::simcluster::{SimCluster, SimClusterConfig};

use crate::{AmConfig, AmMode, FlinkAppMaster};

/// How the fake TaskExecutor's tasks behave.
#[derive(Clone, Copy, Debug)]
struct Script {
    /// A task finishes this long after it starts running (None: runs until canceled).
    task_ms: Option<u64>,
    /// Every task fails this long after it starts.
    fail_ms: Option<u64>,
    /// Only the first attempt of this subtask index fails (after `fail_ms`); others run.
    fail_only_subtask: Option<u32>,
    /// Tasks take part in checkpoints: a triggered source writes a state file, acknowledges
    /// and passes the trigger on to its consumers as the barrier would; every task
    /// acknowledges once per checkpoint.
    checkpoints: bool,
    /// A finishing sink task writes a staging part file and reports it as its committable.
    commit_on_finish: bool,
}

impl Script {
    const fn new(task_ms: Option<u64>, fail_ms: Option<u64>) -> Script {
        Script { task_ms, fail_ms, fail_only_subtask: None, checkpoints: false, commit_on_finish: false }
    }
}

/// What fake TaskExecutors saw, for tests to check (deployments with their restore).
#[derive(Default)]
struct Seen {
    deployed: Vec<flink_core::TaskDeploymentDescriptor>,
    notified: Vec<(ExecutionAttemptId, u64)>,
}

type Shared = std::sync::Arc<std::sync::Mutex<Seen>>;

const T_HB: TimerId = 1;

struct FakeTaskExecutor {
    id: String,
    rm: Addr,
    rm_id: flink_core::ResourceManagerId,
    /// (allocation, job, job master, its fencing token)
    slots: Vec<Option<(AllocationId, JobId, Addr, flink_core::JobMasterId)>>,
    memory: u64,
    hb_ms: u64,
    script: Script,
    /// Running tasks: execution -> (job, job master, timer)
    tasks: BTreeMap<ExecutionAttemptId, (JobId, Addr, TimerId)>,
    next_timer: TimerId,
    timers: BTreeMap<TimerId, ExecutionAttemptId>,
    tdds: BTreeMap<ExecutionAttemptId, flink_core::TaskDeploymentDescriptor>,
    acked: std::collections::BTreeSet<(ExecutionAttemptId, u64)>,
    seen: Shared,
}

impl FakeTaskExecutor {
    fn from_env(env: &BTreeMap<String, String>, script: Script, seen: Shared) -> Result<Self, String> {
        let get = |k: &str| env.get(k).cloned().ok_or(format!("{k} missing"));
        Ok(FakeTaskExecutor {
            id: get("CONTAINER_ID")?,
            rm: get(fenv::FLINK_RM_ADDRESS)?.parse().map_err(|e| format!("{e}"))?,
            rm_id: get(fenv::FLINK_RM_ID)?.parse()?,
            slots: vec![None; get(fenv::FLINK_NUM_SLOTS)?.parse::<usize>().map_err(|e| e.to_string())?],
            memory: get(fenv::FLINK_TM_MEMORY_MB)?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
            hb_ms: get("FLINK_HEARTBEAT_INTERVAL_MS")?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
            script,
            tasks: BTreeMap::new(),
            next_timer: 100,
            timers: BTreeMap::new(),
            tdds: BTreeMap::new(),
            acked: Default::default(),
            seen,
        })
    }

    /// The barrier reached `exec`: acknowledge (once) with a state file, pass it on.
    fn on_barrier(
        &mut self,
        cx: &mut Cx,
        exec: ExecutionAttemptId,
        id: u64,
        timestamp: u64,
        options: flink_core::checkpoint::CheckpointOptions,
    ) {
        let Some(tdd) = self.tdds.get(&exec).cloned() else { return };
        if !self.tasks.contains_key(&exec) || !self.acked.insert((exec, id)) {
            return;
        }
        let path = format!("{}/{}", options.location, cx.random_hex32());
        let body = format!("{{\"task\":\"{exec}\",\"checkpoint\":{id}}}");
        cx.store().write(&path, body.as_bytes()).unwrap();
        let range = flink_am_range(tdd.max_parallelism, tdd.parallelism, tdd.subtask_index);
        cx.send(
            tdd.job_master,
            JobMasterGateway::AcknowledgeCheckpoint {
                job_id: tdd.job_id,
                job_master_id: tdd.job_master_id,
                execution_id: exec,
                checkpoint_id: id,
                metrics: Default::default(),
                state: flink_core::checkpoint::TaskStateSnapshot {
                    vertex_id: tdd.vertex_id,
                    subtask_index: tdd.subtask_index,
                    key_groups: range,
                    handle: Some(flink_core::checkpoint::StateHandle { path, size: body.len() as u64 }),
                },
            },
        );
        if let Some(out) = &tdd.output {
            for (consumer, addr) in &out.consumers {
                cx.send(
                    *addr,
                    TaskExecutorGateway::TriggerCheckpoint {
                        job_id: tdd.job_id,
                        job_master_id: tdd.job_master_id,
                        execution_id: *consumer,
                        checkpoint_id: id,
                        timestamp,
                        options: options.clone(),
                    },
                );
            }
        }
    }

    fn job_master_id(&self, job_id: JobId) -> flink_core::JobMasterId {
        self.tdds.values().rev().find(|t| t.job_id == job_id).map(|t| t.job_master_id).unwrap_or(flink_core::JobMasterId(0))
    }

    fn report(&self, cx: &mut Cx, to: Addr, job_id: JobId, execution_id: ExecutionAttemptId, state: ExecutionState, error: Option<String>) {
        let job_master_id = self.tdds.get(&execution_id).map(|t| t.job_master_id).unwrap_or_else(|| self.job_master_id(job_id));
        cx.send(
            to,
            JobMasterGateway::UpdateTaskExecutionState {
                job_id,
                job_master_id,
                execution_id,
                state,
                error,
                records_in: 10,
                records_out: 10,
                io: Default::default(),
                committables: Vec::new(),
            },
        );
    }
}

impl Node for FakeTaskExecutor {
    fn on_start(&mut self, cx: &mut Cx) {
        cx.send(
            self.rm,
            ResourceManagerGateway::RegisterTaskExecutor {
                resource_manager_id: self.rm_id,
                resource_id: self.id.clone(),
                num_slots: self.slots.len() as u32,
                memory_mb: self.memory,
                data_address: cx.me(),
            },
        );
        cx.set_timer(Duration::from_millis(self.hb_ms), T_HB);
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let Ok(m) = msg.downcast::<TaskExecutorGateway>() else { return };
        match m {
            TaskExecutorGateway::RequestSlot { slot_index, allocation_id, job_id, job_master, job_master_id, .. } => {
                self.slots[slot_index as usize] = Some((allocation_id, job_id, job_master, job_master_id));
                cx.send(
                    job_master,
                    JobMasterGateway::OfferSlots {
                        job_id,
                        job_master_id,
                        resource_id: self.id.clone(),
                        slots: vec![SlotOffer { allocation_id, slot_index }],
                    },
                );
            }
            TaskExecutorGateway::AcceptSlots { accepted, job_id, .. } => {
                for s in self.slots.iter_mut() {
                    if matches!(s, Some((a, j, _, _)) if *j == job_id && !accepted.contains(a)) {
                        *s = None;
                    }
                }
            }
            TaskExecutorGateway::FreeSlot { allocation_id, .. } => {
                for s in self.slots.iter_mut() {
                    if matches!(s, Some((a, _, _, _)) if *a == allocation_id) {
                        *s = None;
                    }
                }
            }
            TaskExecutorGateway::SubmitTask { tdd, .. } => {
                self.tdds.insert(tdd.execution_id, (*tdd).clone());
                self.report(cx, tdd.job_master, tdd.job_id, tdd.execution_id, ExecutionState::Running, None);
                self.seen.lock().unwrap().deployed.push((*tdd).clone());
                let fails = match self.script.fail_only_subtask {
                    Some(k) => tdd.subtask_index == k && tdd.attempt_number == 0,
                    None => true,
                };
                let after = if fails { self.script.fail_ms.or(self.script.task_ms) } else { self.script.task_ms };
                let t = self.next_timer;
                self.next_timer += 1;
                self.tasks.insert(tdd.execution_id, (tdd.job_id, tdd.job_master, t));
                if let Some(ms) = after {
                    self.timers.insert(t, tdd.execution_id);
                    cx.set_timer(Duration::from_millis(ms), t);
                }
            }
            TaskExecutorGateway::CancelTask { execution_id, .. } => {
                if let Some((job, jm, t)) = self.tasks.remove(&execution_id) {
                    self.timers.remove(&t);
                    self.report(cx, jm, job, execution_id, ExecutionState::Canceled, None);
                }
            }
            TaskExecutorGateway::JobManagerHeartbeat { job_id, job_master_id, .. } => {
                let tasks = self.tasks.iter().filter(|(_, v)| v.0 == job_id).map(|(k, _)| (*k, 10, 10)).collect();
                let resource_id = self.id.clone();
                cx.send(
                    from,
                    JobMasterGateway::TaskExecutorToJobManagerHeartbeat { job_id, job_master_id, resource_id, tasks, io: Vec::new() },
                );
            }
            TaskExecutorGateway::Shutdown { .. } => cx.exit(0),
            TaskExecutorGateway::TriggerCheckpoint { execution_id, checkpoint_id, timestamp, options, .. } if self.script.checkpoints => {
                self.on_barrier(cx, execution_id, checkpoint_id, timestamp, options);
            }
            TaskExecutorGateway::NotifyCheckpointComplete { execution_id, checkpoint_id, .. } => {
                self.seen.lock().unwrap().notified.push((execution_id, checkpoint_id));
            }
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        if timer == T_HB {
            let slots = self
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| SlotStatus { slot_index: i as u32, allocation: s.map(|(a, j, _, _)| (a, j)) })
                .collect();
            let resource_manager_id = self.rm_id;
            cx.send(self.rm, ResourceManagerGateway::TaskExecutorHeartbeat { resource_manager_id, resource_id: self.id.clone(), slots });
            cx.set_timer(Duration::from_millis(self.hb_ms), T_HB);
            return;
        }
        if let Some(exec) = self.timers.remove(&timer) {
            if let Some((job, jm, _)) = self.tasks.remove(&exec) {
                let fails = self.script.fail_ms.is_some()
                    && self
                        .tdds
                        .get(&exec)
                        .is_none_or(|t| self.script.fail_only_subtask.is_none_or(|k| t.subtask_index == k && t.attempt_number == 0));
                if fails {
                    self.report(cx, jm, job, exec, ExecutionState::Failed, Some("java.lang.RuntimeException: scripted failure".into()));
                } else {
                    let mut committables = Vec::new();
                    if let Some(t) = self.tdds.get(&exec).filter(|t| self.script.commit_on_finish && t.output.is_none()) {
                        let staging = format!("out/.part-{}-0.inprogress.{}", t.execution_id, cx.random_hex32());
                        cx.store().write(&staging, format!("line of subtask {}\n", t.subtask_index).as_bytes()).unwrap();
                        committables.push((staging, format!("out/part-{}-0", t.execution_id)));
                    }
                    cx.send(
                        jm,
                        JobMasterGateway::UpdateTaskExecutionState {
                            job_id: job,
                            job_master_id: self.job_master_id(job),
                            execution_id: exec,
                            state: ExecutionState::Finished,
                            error: None,
                            records_in: 10,
                            records_out: 10,
                            io: Default::default(),
                            committables,
                        },
                    );
                }
            }
        }
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

fn graph(id: u128, name: &str, parallelism: u32, restart: RestartStrategy) -> JobGraph {
    graph_from(id, name, parallelism, restart, SourceSpec::Sequence { from: 1, to: 1000 })
}

fn graph_from(id: u128, name: &str, parallelism: u32, restart: RestartStrategy, source: SourceSpec) -> JobGraph {
    let src = JobVertexId::from_u128(id * 100 + 1);
    let vertex = |vid: JobVertexId, name: &str, op: OperatorSpec, inputs: Vec<JobEdge>| JobVertex {
        id: vid,
        name: name.into(),
        parallelism,
        max_parallelism: 128,
        operators: vec![op],
        inputs,
        slot_sharing_group: "default".into(),
        uid: String::new(),
    };
    JobGraph {
        job_id: JobId::from_u128(id),
        name: name.into(),
        job_type: JobType::Streaming,
        vertices: vec![
            vertex(src, "Source: Sequence Source", OperatorSpec::Source { source }, vec![]),
            vertex(
                JobVertexId::from_u128(id * 100 + 2),
                "Sink: Discard",
                OperatorSpec::Sink { sink: SinkSpec::Discard },
                vec![JobEdge { source: src, ship: ShipStrategy::Rebalance }],
            ),
        ],
        restart_strategy: restart,
        failover_strategy: Default::default(),
        checkpointing: None,
        savepoint_restore: None,
        buffer_timeout_ms: flink_core::graph::default_buffer_timeout_ms(),
    }
}

struct Deployment {
    c: SimCluster,
    app: ApplicationId,
}

fn am_config(mode: AmMode, env: BTreeMap<String, String>, slots: u32, tm_mb: u64) -> AmConfig {
    let mut cfg = AmConfig::new(mode, env).with_slots(slots);
    cfg.tm_memory_mb = tm_mb;
    cfg.idle_tm_timeout_ms = 5_000;
    cfg
}

fn flink_am_range(max_p: u32, p: u32, i: u32) -> flink_core::checkpoint::KeyGroupRange {
    crate::jobmaster::checkpoint_coordinator::key_group_range(max_p, p, i)
}

fn deploy(seed: u64, mode: AmMode, slots: u32, tm_mb: u64, script: Script) -> Deployment {
    deploy_seen(seed, mode, slots, tm_mb, script, Shared::default())
}

fn deploy_seen(seed: u64, mode: AmMode, slots: u32, tm_mb: u64, script: Script, seen: Shared) -> Deployment {
    deploy_cfg(SimClusterConfig::new(seed, 3), mode, slots, tm_mb, script, seen)
}

fn deploy_cfg(cfg: SimClusterConfig, mode: AmMode, slots: u32, tm_mb: u64, script: Script, seen: Shared) -> Deployment {
    let mut c = SimCluster::new(cfg).expect("cluster");
    let reg = c.sim.registry();
    reg.register(
        "flink-am",
        Box::new(move |env| Ok(Box::new(FlinkAppMaster::new(am_config(mode.clone(), env.spec.env.clone(), slots, tm_mb))))),
    );
    reg.register("taskexec", Box::new(move |env| Ok(Box::new(FakeTaskExecutor::from_env(&env.spec.env, script, seen.clone())?))));
    let rm = c.rm;
    let (app, _) = c.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.new_application(cx)).expect("rm");
    let mut ctx = ApplicationSubmissionContext::new(app);
    ctx.application_name = "Flink session cluster".into();
    ctx.application_type = "Apache Flink".into();
    ctx.resource = Resource::new(1024, 1);
    ctx.am_container_spec = ContainerLaunchContext {
        commands: vec!["flink-am 1><LOG_DIR>/jobmanager.log 2><LOG_DIR>/jobmanager.err".into()],
        ..Default::default()
    };
    c.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.submit_application(cx, ctx, "sim")).expect("rm").expect("submitted");
    Deployment { c, app }
}

impl Deployment {
    fn am(&mut self) -> Option<Addr> {
        let hosts: Vec<_> = (0..self.c.nms.len()).map(|i| self.c.nm_host(i)).collect();
        for h in hosts {
            for a in self.c.sim.processes_on(h) {
                if self.c.sim.node::<FlinkAppMaster>(a).is_some() {
                    return Some(a);
                }
            }
        }
        None
    }

    fn task_executors(&mut self) -> Vec<Addr> {
        let hosts: Vec<_> = (0..self.c.nms.len()).map(|i| self.c.nm_host(i)).collect();
        let mut out = Vec::new();
        for h in hosts {
            for a in self.c.sim.processes_on(h) {
                if self.c.sim.node::<FakeTaskExecutor>(a).is_some() {
                    out.push(a);
                }
            }
        }
        out
    }

    fn log(&self) -> String {
        let mut s = String::new();
        for i in 0..self.c.nms.len() {
            for (path, data) in self.c.sim.local_files_under(self.c.nm_host(i), "/yarn/logs") {
                if path.ends_with("jobmanager.log") {
                    s.push_str(&String::from_utf8_lossy(data));
                }
            }
        }
        s
    }

    fn run_until(&mut self, limit_secs: u64, mut pred: impl FnMut(&mut Deployment) -> bool) -> bool {
        let end = self.c.sim.now() + Duration::from_secs(limit_secs);
        while self.c.sim.now() < end {
            if pred(self) {
                return true;
            }
            let step = self.c.sim.now() + Duration::from_millis(50);
            self.c.sim.run_until(step);
        }
        pred(self)
    }

    fn with_am<R>(&mut self, f: impl FnOnce(&mut FlinkAppMaster, &mut Cx) -> R) -> Option<R> {
        let am = self.am()?;
        self.c.sim.with_node::<FlinkAppMaster, _>(am, f)
    }

    fn job_status(&mut self, id: JobId) -> Option<JobStatus> {
        let am = self.am()?;
        self.c.sim.node::<FlinkAppMaster>(am)?.job_statuses().get(&id).copied()
    }

    fn yarn_state(&mut self) -> (YarnApplicationState, String) {
        let app = self.app;
        self.c.state(&app).expect("app known")
    }
}

const FINISHING: Script = Script::new(Some(2_000), None);
const UNBOUNDED: Script = Script::new(None, None);

/// Runs a session deployment until the AM is registered with YARN.
fn session(seed: u64, slots: u32, tm_mb: u64, script: Script) -> Deployment {
    let mut d = deploy(seed, AmMode::Session, slots, tm_mb, script);
    let up = d.run_until(60, |d| {
        d.am()
            .and_then(|a| d.c.sim.node::<FlinkAppMaster>(a).and_then(|am| am.resource_manager().map(|r| r.is_registered_with_yarn())))
            .unwrap_or(false)
    });
    assert!(up, "the AM registers with YARN; log:\n{}", d.log());
    d
}

fn all_tasks_running(d: &mut Deployment, id: JobId) -> bool {
    let Some(am) = d.am() else { return false };
    let now = d.c.sim.now();
    let Some(am) = d.c.sim.node::<FlinkAppMaster>(am) else { return false };
    am.job_details(&id, now).map(|v| v["status-counts"]["RUNNING"] == 8).unwrap_or(false)
}

#[test]
fn session_deploy_registers_with_yarn() {
    let mut d = session(1, 2, 2048, FINISHING);
    assert_eq!(d.yarn_state().0, YarnApplicationState::Running);
    let log = d.log();
    assert!(log.contains("Starting YarnSessionClusterEntrypoint."), "{log}");
    let now = d.c.sim.now();
    let ov = d.with_am(|am, _| am.overview(now)).unwrap();
    assert_eq!(ov["taskmanagers"], 0);
    assert_eq!(ov["flink-version"], "1.20.0");
    // No job, no TaskManager container.
    assert!(d.task_executors().is_empty());
}

#[test]
fn parallelism_four_with_two_slots_makes_two_taskmanagers_and_finishes() {
    let mut d = session(2, 2, 2048, FINISHING);
    let g = graph(7, "Bounded", 4, RestartStrategy::NoRestart);
    let id = d.with_am(|am, cx| am.submit_job(cx, g.clone())).unwrap().unwrap();
    assert_eq!(d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap_err(), "Job has already been submitted.");
    assert!(d.run_until(60, |d| all_tasks_running(d, id)), "{}", d.log());
    assert_eq!(d.task_executors().len(), 2);
    let now = d.c.sim.now();
    let ov = d.with_am(|am, _| am.overview(now)).unwrap();
    assert_eq!((ov["taskmanagers"].as_u64(), ov["slots-total"].as_u64(), ov["jobs-running"].as_u64()), (Some(2), Some(4), Some(1)));
    assert!(d.run_until(30, |d| d.job_status(id) == Some(JobStatus::Finished)), "{}", d.log());
    let log = d.log();
    assert!(log.contains("need request 2 new workers, current worker number 0, declared worker number 2"), "{log}");
    assert!(log.contains("Requesting new worker with resource spec WorkerResourceSpec {cpuCores=2.0, totalProcessMemory=2048 mb, numSlots=2}, current pending count: 2."), "{log}");
    assert!(log.contains("pending container requests of resource <memory:2048, vCores:2>."), "{log}");
    assert_eq!(log.matches("is registered.").count(), 2, "{log}");
    let now = d.c.sim.now();
    let (ov, jobs, res) = d.with_am(|am, _| (am.overview(now), am.jobs_overview(now), am.execution_result(&id).unwrap())).unwrap();
    assert_eq!(ov["jobs-finished"], 1);
    assert_eq!(jobs["jobs"][0]["tasks"]["finished"], 8);
    assert_eq!(jobs["jobs"][0]["state"], "FINISHED");
    assert_eq!(res["job-execution-result"]["application-status"], "SUCCEEDED");
}

#[test]
fn cancel_makes_the_job_canceled_and_idle_taskmanagers_are_released() {
    let mut d = session(3, 2, 2048, UNBOUNDED);
    let id = d.with_am(|am, cx| am.submit_job(cx, graph(9, "Unbounded", 4, RestartStrategy::NoRestart))).unwrap().unwrap();
    assert!(d.run_until(60, |d| all_tasks_running(d, id)), "{}", d.log());
    let unknown = JobId::from_u128(12345);
    assert!(d.with_am(|am, cx| am.cancel_job(cx, unknown)).unwrap().unwrap_err().contains("not found"));
    d.with_am(|am, cx| am.cancel_job(cx, id)).unwrap().unwrap();
    assert!(d.run_until(20, |d| d.job_status(id) == Some(JobStatus::Canceled)), "{}", d.log());
    assert!(d.with_am(|am, cx| am.cancel_job(cx, id)).unwrap().unwrap_err().contains("globally terminal state CANCELED"));
    // resourcemanager.taskmanager-timeout (5 s here) later both TaskManagers are stopped.
    assert!(d.run_until(30, |d| d.task_executors().is_empty()), "{}", d.log());
    let log = d.log();
    assert_eq!(log.matches("Stopping worker container_").count(), 2, "{log}");
    let now = d.c.sim.now();
    assert_eq!(d.with_am(|am, _| am.overview(now)).unwrap()["taskmanagers"], 0);
    assert_eq!(d.yarn_state().0, YarnApplicationState::Running, "a session outlives its jobs");
}

#[test]
fn a_killed_taskmanager_container_restarts_the_job_which_then_finishes() {
    let script = Script::new(Some(8_000), None);
    let mut d = session(4, 2, 2048, script);
    let id = d
        .with_am(|am, cx| am.submit_job(cx, graph(11, "Restarting", 4, RestartStrategy::FixedDelay { attempts: 3, delay_ms: 500 })))
        .unwrap()
        .unwrap();
    assert!(d.run_until(60, |d| all_tasks_running(d, id)), "{}", d.log());
    let victim = d.task_executors()[0];
    assert!(d.c.sim.signal(victim, Signal::Kill));
    assert!(d.run_until(120, |d| d.job_status(id) == Some(JobStatus::Finished)), "{}", d.log());
    let log = d.log();
    assert!(log.contains("switched from state RUNNING to RESTARTING."), "{log}");
    assert!(log.contains("is terminated. Diagnostics: Container container_") || log.contains("timed out."), "{log}");
    let ex = d.with_am(|am, _| am.job_exceptions(&id)).unwrap().unwrap();
    assert!(!ex["exceptionHistory"]["entries"].as_array().unwrap().is_empty());
    assert_eq!(d.task_executors().len(), 2, "a replacement TaskManager was started");
}

#[test]
fn exhausting_restarts_fails_the_job_with_the_root_cause() {
    let script = Script::new(None, Some(300));
    let mut d = session(5, 2, 2048, script);
    let id = d
        .with_am(|am, cx| am.submit_job(cx, graph(13, "Failing", 2, RestartStrategy::FixedDelay { attempts: 2, delay_ms: 200 })))
        .unwrap()
        .unwrap();
    assert!(d.run_until(60, |d| d.job_status(id) == Some(JobStatus::Failed)), "{}", d.log());
    let (ex, res) = d.with_am(|am, _| (am.job_exceptions(&id).unwrap(), am.execution_result(&id).unwrap())).unwrap();
    let root = ex["root-exception"].as_str().unwrap();
    assert!(
        root.contains("Recovery is suppressed by FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2, backoffTimeMS=200)"),
        "{root}"
    );
    assert!(root.contains("scripted failure"), "{root}");
    assert_eq!(res["job-execution-result"]["application-status"], "FAILED");
    assert!(ex["exceptionHistory"]["entries"].as_array().unwrap().len() >= 3);
}

#[test]
fn a_taskmanager_larger_than_yarn_allows_fails_the_job_with_flinks_message() {
    let mut d = session(6, 2, 16_384, FINISHING);
    let id = d.with_am(|am, cx| am.submit_job(cx, graph(15, "TooBig", 2, RestartStrategy::NoRestart))).unwrap().unwrap();
    assert!(d.run_until(30, |d| d.job_status(id) == Some(JobStatus::Failed)), "{}", d.log());
    let log = d.log();
    assert!(
        log.contains("Requested container resource (<memory:16384, vCores:2>) exceeds the max limitation of the Yarn cluster (<memory:8192, vCores:4>). Will not allocate resource."),
        "{log}"
    );
    let ex = d.with_am(|am, _| am.job_exceptions(&id)).unwrap().unwrap();
    assert!(ex["root-exception"].as_str().unwrap().contains("larger than Yarn's max container resource limit"), "{ex}");
    assert!(d.task_executors().is_empty());
}

#[test]
fn application_mode_runs_two_jobs_in_order_then_unregisters_succeeded() {
    let jobs = vec![graph(21, "First", 2, RestartStrategy::NoRestart), graph(22, "Second", 2, RestartStrategy::NoRestart)];
    let mut d = deploy(7, AmMode::Application { jobs }, 2, 2048, FINISHING);
    assert!(d.run_until(120, |d| d.yarn_state().0.is_final()), "{}", d.log());
    assert_eq!(d.yarn_state(), (YarnApplicationState::Finished, "SUCCEEDED".to_string()));
    let log = d.log();
    assert!(log.contains("Starting YarnApplicationClusterEntrypoint."), "{log}");
    let first_done = log.find(&format!("Job {} reached terminal state FINISHED.", JobId::from_u128(21))).expect("first finished");
    let second_submitted = log.find(&format!("Submitting job 'Second' ({})", JobId::from_u128(22))).expect("second submitted");
    assert!(first_done < second_submitted, "{log}");
    assert!(log.contains(&format!("Job {} reached terminal state FINISHED.", JobId::from_u128(22))));
    assert!(log.contains("Unregister application from the YARN Resource Manager with final status SUCCEEDED."), "{log}");
    assert!(d.am().is_none(), "the AM exited");
}

#[test]
fn per_job_mode_with_a_failing_job_unregisters_failed() {
    let job = graph(31, "PerJob", 2, RestartStrategy::NoRestart);
    let mut d = deploy(8, AmMode::PerJob { job }, 2, 2048, Script::new(None, Some(200)));
    assert!(d.run_until(120, |d| d.yarn_state().0.is_final()), "{}", d.log());
    assert_eq!(d.yarn_state().1, "FAILED");
    assert!(d.log().contains("Starting YarnJobClusterEntrypoint."));
}

#[test]
fn same_seed_same_trace_hash() {
    let run = |seed| {
        let mut d = session(seed, 2, 2048, FINISHING);
        let id = d.with_am(|am, cx| am.submit_job(cx, graph(41, "Det", 4, RestartStrategy::NoRestart))).unwrap().unwrap();
        assert!(d.run_until(60, |d| d.job_status(id) == Some(JobStatus::Finished)));
        d.c.sim.trace_hash()
    };
    assert_eq!(run(99), run(99));
}

#[test]
fn containers_beyond_the_pending_requests_are_returned_as_excess() {
    use yarn_sim::proto::{AllocateResponse, YarnMsg};
    use yarn_sim::records::Container;
    let mut d = session(10, 2, 2048, UNBOUNDED);
    let id = d.with_am(|am, cx| am.submit_job(cx, graph(51, "Excess", 4, RestartStrategy::NoRestart))).unwrap().unwrap();
    assert!(d.run_until(60, |d| all_tasks_running(d, id)), "{}", d.log());
    // YARN hands out one container more than asked (an ask raced an allocation, YARN-1902).
    let am = d.am().unwrap();
    let attempt =
        d.c.sim.node::<FlinkAppMaster>(am).unwrap().container_id().unwrap().parse::<yarn_sim::ids::ContainerId>().unwrap().attempt;
    let nm = d.c.nms[0];
    let extra = Container {
        id: yarn_sim::ids::ContainerId { attempt, seq: 99 },
        node_id: yarn_sim::ids::NodeId::from_addr(nm),
        node_http_address: String::new(),
        resource: Resource::new(2048, 2),
        priority: 1,
        allocation_request_id: -1,
    };
    let resp = AllocateResponse {
        response_id: 1_000_000,
        allocated: vec![extra],
        completed: vec![],
        headroom: Resource::ZERO,
        num_cluster_nodes: 3,
        updated_nodes: vec![],
    };
    let rm = d.c.rm;
    d.with_am(|am, cx| am.on_message(cx, rm, engine::Msg::new(YarnMsg::AllocateResponse(Ok(resp))))).unwrap();
    let log = d.log();
    assert!(log.contains(&format!("Returning excess container {}.", yarn_sim::ids::ContainerId { attempt, seq: 99 })), "{log}");
    assert!(log.contains("Accepted 0 requested containers, returned 1 excess containers, 0 pending container requests of resource <memory:2048, vCores:2>."), "{log}");
    d.c.sim.run_for(Duration::from_secs(3));
    assert_eq!(d.task_executors().len(), 2);
    assert_eq!(d.job_status(id), Some(JobStatus::Running));
}

#[test]
fn shutdown_cluster_stops_taskmanagers_and_unregisters() {
    let mut d = session(11, 2, 2048, UNBOUNDED);
    let id = d.with_am(|am, cx| am.submit_job(cx, graph(61, "Stopped", 2, RestartStrategy::NoRestart))).unwrap().unwrap();
    assert!(d.run_until(60, |d| d.task_executors().len() == 1 && d.job_status(id) == Some(JobStatus::Running)), "{}", d.log());
    d.with_am(|am, cx| am.shutdown_cluster(cx)).unwrap();
    assert!(d.run_until(60, |d| d.yarn_state().0.is_final()), "{}", d.log());
    assert_eq!(d.yarn_state(), (YarnApplicationState::Finished, "SUCCEEDED".to_string()));
    assert!(d.run_until(10, |d| d.am().is_none() && d.task_executors().is_empty()), "{}", d.log());
}

/// The same deployment with the real TaskExecutor from the `taskexec` crate.
fn deploy_real(seed: u64, mode: AmMode, slots: u32) -> Deployment {
    deploy_real_cfg(SimClusterConfig::new(seed, 3), mode, slots)
}

fn deploy_real_cfg(cfg: SimClusterConfig, mode: AmMode, slots: u32) -> Deployment {
    let mut d = deploy_cfg(cfg, mode, slots, 2048, UNBOUNDED, Shared::default());
    // FIFO links (one fixed latency): the sim's random latency reorders messages on a link,
    // which the data plane's sequence numbers rightly refuse; real TCP is FIFO per connection.
    d.c.sim.net.latency_max = d.c.sim.net.latency_min;
    d.c.sim.registry().register(
        "taskexec",
        Box::new(|env| Ok(Box::new(taskexec::TaskExecutor::new(taskexec::TaskExecutorConfig::from_env(&env.spec.env)?)))),
    );
    d
}

#[test]
fn real_taskexecutors_run_a_bounded_job_to_finished() {
    let mut d = deploy_real(20, AmMode::Session, 2);
    assert!(d.run_until(60, |d| d.am().is_some_and(|a| d
        .c
        .sim
        .node::<FlinkAppMaster>(a)
        .is_some_and(|am| am.resource_manager().is_some_and(|r| r.is_registered_with_yarn())))));
    let id = d.with_am(|am, cx| am.submit_job(cx, graph(71, "Real", 4, RestartStrategy::NoRestart))).unwrap().unwrap();
    assert!(d.run_until(120, |d| d.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", d.log());
    assert_eq!(d.job_status(id), Some(JobStatus::Finished), "{}", d.log());
    let now = d.c.sim.now();
    let details = d.with_am(|am, _| am.job_details(&id, now)).unwrap().unwrap();
    let written: u64 = details["vertices"][0]["metrics"]["write-records"].as_u64().unwrap();
    assert_eq!(written, 1000, "{details}");
}

#[test]
fn real_taskexecutors_application_mode_with_a_killed_taskmanager_still_succeeds() {
    // 2000 records per subtask at 500/s: about four seconds of work.
    let slow = SourceSpec::Datagen { kind: flink_core::operator::DatagenKind::Numbers, rate_per_sec: 500, count: Some(2000), seed: 7 };
    let jobs = vec![graph_from(81, "A", 4, RestartStrategy::FixedDelay { attempts: 2, delay_ms: 300 }, slow)];
    let mut d = deploy_real(21, AmMode::Application { jobs }, 2);
    let id = JobId::from_u128(81);
    assert!(d.run_until(60, |d| all_tasks_running(d, id)), "{}", d.log());
    let victim = d.task_executor_addrs_real()[0];
    assert!(d.c.sim.signal(victim, Signal::Kill));
    assert!(d.run_until(120, |d| d.yarn_state().0.is_final()), "{}", d.log());
    let log = d.log();
    assert_eq!(d.yarn_state().1, "SUCCEEDED", "{log}");
    assert!(log.contains("switched from state RUNNING to RESTARTING."), "{log}");
}

impl Deployment {
    fn task_executor_addrs_real(&mut self) -> Vec<Addr> {
        let hosts: Vec<_> = (0..self.c.nms.len()).map(|i| self.c.nm_host(i)).collect();
        let mut out = Vec::new();
        for h in hosts {
            for a in self.c.sim.processes_on(h) {
                if self.c.sim.node::<taskexec::TaskExecutor>(a).is_some() {
                    out.push(a);
                }
            }
        }
        out
    }
}

/// Runs examples/streaming/WordCount.toml (the built-in corpus) at parallelism 4 in the sim
/// with real TaskExecutors; returns every printed running count per word, in print order, and
/// the trace hash.
fn sim_wordcount(seed: u64) -> (BTreeMap<String, Vec<i64>>, u64) {
    #[allow(clippy::disallowed_methods)] // the test reads the example program from disk
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/streaming/WordCount.toml")).unwrap();
    let program = flink_core::program::Program::parse(&text, &[]).unwrap();
    let mut next = 100u128;
    let graphs = program.job_graphs(4, &mut || {
        next += 1;
        next
    });
    let g = graphs.unwrap().remove(0);
    let id = g.job_id;
    let mut d = deploy_real(seed, AmMode::Session, 2);
    assert!(d.run_until(60, |d| d.am().is_some_and(|a| d
        .c
        .sim
        .node::<FlinkAppMaster>(a)
        .is_some_and(|am| am.resource_manager().is_some_and(|r| r.is_registered_with_yarn())))));
    d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(d.run_until(120, |d| d.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", d.log());
    assert_eq!(d.job_status(id), Some(JobStatus::Finished), "{}", d.log());
    // The task metrics the TaskExecutors reported: what the first vertex sent over the one
    // edge is what the second received, in records and in bytes, and the REST figures agree
    // with the subtask metrics.
    let now = d.c.sim.now();
    let details = d.with_am(|am, _| am.job_details(&id, now)).flatten().unwrap();
    let (src, sink) = (&details["vertices"][0]["metrics"], &details["vertices"][1]["metrics"]);
    assert!(src["write-records"].as_u64().unwrap() > 0 && src["write-bytes"].as_u64().unwrap() > 0, "{src}");
    assert_eq!(src["write-records"], sink["read-records"]);
    assert_eq!(src["write-bytes"], sink["read-bytes"]);
    let vid: flink_core::JobVertexId = details["vertices"][1]["id"].as_str().unwrap().parse().unwrap();
    let sums = d
        .with_am(|am, _| {
            crate::webmonitor_io::subtasks_metrics(am.dispatcher().job(&id).unwrap(), &vid, Some("numBytesIn"), &["sum"], None)
        })
        .flatten()
        .unwrap();
    assert_eq!(sums[0]["sum"].as_f64().unwrap() as u64, sink["read-bytes"].as_u64().unwrap());
    // The print sink's "N> (word,count)" lines, from every TaskManager's taskmanager.out.
    let mut counts = BTreeMap::new();
    for i in 0..d.c.nms.len() {
        let host = d.c.nm_host(i);
        for (path, bytes) in d.c.sim.local_files_under(host, "/yarn/logs") {
            if !path.ends_with("taskmanager.out") {
                continue;
            }
            for line in String::from_utf8_lossy(bytes).lines().filter(|l| l.contains("> (") || l.starts_with('(')) {
                let t = line.split_once("> ").map(|x| x.1).unwrap_or(line);
                if let Some((w, c)) = t.trim_start_matches('(').trim_end_matches(')').rsplit_once(',') {
                    counts.entry(w.to_string()).or_insert_with(Vec::new).push(c.parse::<i64>().unwrap());
                }
            }
        }
    }
    (counts, d.c.sim.trace_hash())
}

#[test]
fn wordcount_in_the_sim_gives_the_exact_counts_and_replays() {
    // The oracle: Flink's Tokenizer over the corpus, counted directly.
    let mut expected = BTreeMap::new();
    for line in flink_core::runtime::WORDS {
        for w in line.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
            *expected.entry(w.to_string()).or_insert(0i64) += 1;
        }
    }
    let (counts, hash) = sim_wordcount(5);
    // A streaming sum prints every update once: word w's updates are exactly 1, 2, .., n(w).
    // A lost update, a duplicate or a wrong total all break this.
    let expected_updates: BTreeMap<String, Vec<i64>> = expected.iter().map(|(w, n)| (w.clone(), (1..=*n).collect())).collect();
    assert_eq!(counts, expected_updates);
    let (again, hash2) = sim_wordcount(5);
    assert_eq!((again, hash2), (counts, hash), "the same seed replays byte for byte");
}

// ---- Checkpoints, recovery, failover and savepoints with the fake TaskExecutors (the JobMaster
// side; the fakes acknowledge every checkpoint and pass triggers on as barriers would).

const CHECKPOINTING: Script = Script { task_ms: None, fail_ms: None, fail_only_subtask: None, checkpoints: true, commit_on_finish: false };

fn cp_graph(id: u128, p: u32, ship: ShipStrategy, restart: RestartStrategy) -> JobGraph {
    let mut g = graph(id, "Checkpointed", p, restart);
    g.vertices[1].inputs[0].ship = ship;
    let mut cfg = flink_core::checkpoint::CheckpointConfig::with_interval(500);
    cfg.dir = Some("ckpts".into());
    g.checkpointing = Some(cfg);
    g
}

fn session_seen(seed: u64, script: Script) -> (Deployment, Shared) {
    let seen = Shared::default();
    let mut d = deploy_seen(seed, AmMode::Session, 2, 2048, script, seen.clone());
    let up = d.run_until(60, |d| {
        d.am()
            .and_then(|a| d.c.sim.node::<FlinkAppMaster>(a).and_then(|am| am.resource_manager().map(|r| r.is_registered_with_yarn())))
            .unwrap_or(false)
    });
    assert!(up, "{}", d.log());
    (d, seen)
}

fn stats_of(d: &mut Deployment, id: JobId) -> crate::jobmaster::checkpoint_stats::CheckpointStatsTracker {
    d.with_am(|am, _| am.dispatcher().job(&id).and_then(|j| j.checkpoint_stats().cloned())).flatten().expect("stats")
}

fn running_count(d: &mut Deployment, id: JobId) -> u64 {
    let Some(am) = d.am() else { return 0 };
    let now = d.c.sim.now();
    d.c.sim
        .node::<FlinkAppMaster>(am)
        .and_then(|am| am.job_details(&id, now))
        .map(|v| v["status-counts"]["RUNNING"].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn checkpoints_complete_and_a_restart_restores_the_latest_one() {
    let (mut d, seen) = session_seen(30, CHECKPOINTING);
    let g = cp_graph(90, 4, ShipStrategy::Rebalance, RestartStrategy::FixedDelay { attempts: 3, delay_ms: 300 });
    let id = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(d.run_until(60, |d| stats_of(d, id).num_completed >= 3), "{}", d.log());
    let st = stats_of(&mut d, id);
    assert_eq!(st.num_failed, st.num_total - st.num_completed - st.num_in_progress);
    let latest = st.latest_completed.clone().unwrap();
    assert_eq!(latest.num_acknowledged(), 8, "every task acknowledged");
    // Retained: num-retained 1, so only the latest chk dir is left.
    let files: Vec<String> = d.c.sim.store().list("ckpts").unwrap();
    let dirs: std::collections::BTreeSet<&str> = files.iter().filter_map(|f| f.split('/').nth(2)).collect();
    assert!(dirs.len() <= 2, "the latest completed and maybe one pending: {dirs:?}");
    assert!(files.iter().any(|f| f.ends_with(&format!("chk-{}/_metadata", latest.id))), "{files:?}");
    assert!(seen.lock().unwrap().notified.iter().any(|(_, c)| *c == latest.id));
    // Lose a TaskManager: the job restarts from the latest completed checkpoint.
    let victim = d.task_executors()[0];
    assert!(d.c.sim.signal(victim, Signal::Kill));
    assert!(
        d.run_until(60, |d| d.log().contains("switched from state RESTARTING to RUNNING.") && running_count(d, id) == 8),
        "{}",
        d.log()
    );
    let st = stats_of(&mut d, id);
    let restored = st.latest_restored.clone().expect("restored");
    assert_eq!(st.num_restored, 1);
    // The lost TaskManager ran four tasks (two slots, two vertices): one root failure with
    // three concurrent ones, all naming the TaskManager.
    let history = d.with_am(|am, _| am.dispatcher().job(&id).map(|j| j.exception_history.clone())).unwrap().unwrap();
    assert_eq!(history.len(), 1, "{history:?}");
    assert_eq!(history[0].concurrent.len(), 3, "{history:?}");
    let tm = history[0].root.task_manager_id.clone().expect("task manager id");
    assert!(history[0].concurrent.iter().all(|e| e.task_manager_id.as_ref() == Some(&tm) && e.endpoint.is_some()));
    assert!(history[0].root.stacktrace.contains(&format!("TaskManager {tm} is lost")), "{:?}", history[0].root);
    let log = d.log();
    assert!(log.contains(&format!("Restoring job {id} from Checkpoint {} @ ", restored.id)), "{log}");
    assert!(log.contains(&format!("for {id} located at file:/ckpts/{id}/chk-{}.", restored.id)), "{log}");
    let seen = seen.lock().unwrap();
    let redeployed: Vec<_> = seen.deployed.iter().filter(|t| t.attempt_number == 1).collect();
    assert_eq!(redeployed.len(), 8, "one region: everything restarts");
    for t in redeployed {
        let r = t.restore.as_ref().expect("restore");
        assert_eq!(r.checkpoint_id, restored.id);
        assert_eq!(r.operator_states, vec![t.subtask_index]);
        assert!(r.states.iter().any(|s| s.subtask_index == t.subtask_index && s.vertex_id == t.vertex_id));
    }
    assert!(seen.deployed.iter().filter(|t| t.attempt_number == 0).all(|t| t.restore.is_none()));
}

#[test]
fn region_failover_restarts_only_the_failed_region() {
    let script = Script { task_ms: None, fail_ms: Some(1_500), fail_only_subtask: Some(1), checkpoints: true, commit_on_finish: false };
    let (mut d, seen) = session_seen(31, script);
    let g = cp_graph(91, 2, ShipStrategy::Forward, RestartStrategy::FixedDelay { attempts: 3, delay_ms: 300 });
    let id = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(
        d.run_until(60, |d| d.log().contains("switched from state RESTARTING to RUNNING.") && running_count(d, id) == 4),
        "{}",
        d.log()
    );
    let log = d.log();
    assert!(log.contains("2 tasks will be restarted to recover the failed task"), "{log}");
    let seen = seen.lock().unwrap();
    let restarted: Vec<u32> = seen.deployed.iter().filter(|t| t.attempt_number == 1).map(|t| t.subtask_index).collect();
    assert_eq!(restarted, vec![1, 1], "only subtask 1 of both vertices");
    drop(seen);
    let ex = d.with_am(|am, _| am.dispatcher().job(&id).map(|j| j.exception_history.clone())).unwrap().unwrap();
    assert_eq!(ex.len(), 1);
    assert!(ex[0].root.stacktrace.contains("scripted failure"));
    // Both tasks of subtask 1 fail: the first is the root, the other a concurrent failure.
    let mut names: Vec<_> = std::iter::once(&ex[0].root).chain(&ex[0].concurrent).filter_map(|e| e.task_name.clone()).collect();
    names.sort();
    assert_eq!(names, vec!["Sink: Discard (2/2)".to_string(), "Source: Sequence Source (2/2)".to_string()]);
}

#[test]
fn full_failover_restarts_every_task() {
    let script = Script { task_ms: None, fail_ms: Some(1_500), fail_only_subtask: Some(1), checkpoints: false, commit_on_finish: false };
    let (mut d, seen) = session_seen(32, script);
    let mut g = cp_graph(92, 2, ShipStrategy::Forward, RestartStrategy::FixedDelay { attempts: 3, delay_ms: 300 });
    g.failover_strategy = flink_core::FailoverStrategy::Full;
    let id = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(
        d.run_until(60, |d| d.log().contains("switched from state RESTARTING to RUNNING.") && running_count(d, id) == 4),
        "{}",
        d.log()
    );
    assert!(d.log().contains("4 tasks will be restarted to recover the failed task"));
    assert_eq!(seen.lock().unwrap().deployed.iter().filter(|t| t.attempt_number == 1).count(), 4);
    // No checkpoint completed before the failure (the fakes do not acknowledge here).
    assert!(d.log().contains("No checkpoint found during restore."), "{}", d.log());
}

#[test]
fn a_tolerable_failure_threshold_exceeded_fails_the_job_globally() {
    // The fakes never acknowledge: every checkpoint expires (counted), tolerable is 0.
    let (mut d, _) = session_seen(33, UNBOUNDED);
    let mut g = cp_graph(93, 2, ShipStrategy::Rebalance, RestartStrategy::FixedDelay { attempts: 1, delay_ms: 100 });
    g.checkpointing.as_mut().unwrap().timeout_ms = 300;
    let id = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(d.run_until(60, |d| d.job_status(id) == Some(JobStatus::Failed)), "{}", d.log());
    let log = d.log();
    assert!(log.contains("expired before completing."), "{log}");
    assert!(log.contains("Trying to recover from a global failure."), "{log}");
    let ex = d.with_am(|am, _| am.dispatcher().job(&id).map(|j| j.failure_cause.clone())).unwrap().unwrap().unwrap();
    assert!(ex.contains("Exceeded checkpoint tolerable failure threshold."), "{ex}");
    assert!(ex.contains("FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=1"), "{ex}");
    // The job's checkpoint dir is gone (NO_EXTERNALIZED_CHECKPOINTS).
    assert!(d.c.sim.store().list(&format!("ckpts/{id}")).unwrap().is_empty());
}

#[test]
fn finished_tasks_committables_are_committed_when_the_job_finishes() {
    let script = Script { task_ms: Some(1_000), fail_ms: None, fail_only_subtask: None, checkpoints: false, commit_on_finish: true };
    let (mut d, _) = session_seen(34, script);
    let id = d.with_am(|am, cx| am.submit_job(cx, graph(94, "Commit", 2, RestartStrategy::NoRestart))).unwrap().unwrap();
    assert!(d.run_until(60, |d| d.job_status(id) == Some(JobStatus::Finished)), "{}", d.log());
    let files = d.c.sim.store().list("out").unwrap();
    let finals: Vec<&String> = files.iter().filter(|f| f.starts_with("out/part-")).collect();
    assert_eq!(finals.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| !f.contains(".inprogress")), "{files:?}");
}

/// Runs a p=2 checkpointing job, takes a savepoint, cancels; returns the savepoint path.
fn take_savepoint(d: &mut Deployment, id: u128) -> String {
    let g = cp_graph(id, 2, ShipStrategy::Hash { key: 0 }, RestartStrategy::NoRestart);
    let job = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(d.run_until(60, |d| running_count(d, job) == 4), "{}", d.log());
    let sp = d
        .with_am(|am, cx| {
            am.dispatcher_mut().job_mut(&job).unwrap().trigger_savepoint(cx, "file:/sps", flink_core::CheckpointKind::Savepoint)
        })
        .unwrap()
        .unwrap();
    let mut outcome = None;
    assert!(d.run_until(30, |d| {
        outcome = d.with_am(|am, _| am.dispatcher().job(&job).unwrap().snapshot_outcome(sp)).flatten();
        outcome.is_some()
    }));
    let path = outcome.unwrap().unwrap();
    assert!(path.starts_with("file:/sps/savepoint-"), "{path}");
    d.with_am(|am, cx| am.cancel_job(cx, job)).unwrap().unwrap();
    assert!(d.run_until(30, |d| d.job_status(job) == Some(JobStatus::Canceled)));
    path
}

#[test]
fn a_savepoint_restores_at_another_parallelism_and_resets_the_checkpoint_id() {
    let (mut d, seen) = session_seen(35, CHECKPOINTING);
    let path = take_savepoint(&mut d, 95);
    let meta: serde_json::Value =
        serde_json::from_slice(&d.c.sim.store().read(&format!("{}/_metadata", path.trim_start_matches("file:/"))).unwrap()).unwrap();
    let sp_id = meta["checkpoint_id"].as_u64().unwrap();
    for (n, p) in [(1u128, 1u32), (2, 4)] {
        let mut g = cp_graph(95 + n, p, ShipStrategy::Hash { key: 0 }, RestartStrategy::NoRestart);
        g.savepoint_restore = Some(flink_core::graph::SavepointRestoreSettings { path: path.clone(), allow_non_restored_state: false });
        let job = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
        assert!(d.run_until(60, |d| running_count(d, job) == 2 * p as u64), "{}", d.log());
        let log = d.log();
        assert!(log.contains(&format!("Starting job {job} from savepoint {path} ()")), "{log}");
        assert!(log.contains(&format!("Reset the checkpoint ID of job {job} to {}.", sp_id + 1)), "{log}");
        let st = stats_of(&mut d, job);
        assert!(st.latest_restored.as_ref().is_some_and(|r| r.is_savepoint && r.id == sp_id));
        let seen = seen.lock().unwrap();
        let tdds: Vec<_> = seen.deployed.iter().filter(|t| t.job_id == job).collect();
        assert_eq!(tdds.len(), 2 * p as usize);
        for t in &tdds {
            let r = t.restore.as_ref().expect("restored from the savepoint");
            assert_eq!(r.checkpoint_id, sp_id);
            let expected_ops: Vec<u32> = (0..2).filter(|j| j % p == t.subtask_index).collect();
            assert_eq!(r.operator_states, expected_ops);
            if t.operators[0].is_source() {
                continue;
            }
            // Keyed vertex: every old subtask whose range meets the new one.
            let mine = flink_am_range(128, p, t.subtask_index);
            for s in &r.states {
                let meets = s.key_groups.start <= mine.end && mine.start <= s.key_groups.end;
                assert!(meets || expected_ops.contains(&s.subtask_index));
            }
        }
        drop(seen);
        // Next checkpoint ids continue after the savepoint's.
        assert!(d.run_until(30, |d| stats_of(d, job).latest_completed.is_some()));
        assert!(stats_of(&mut d, job).latest_completed.unwrap().id > sp_id);
        d.with_am(|am, cx| am.cancel_job(cx, job)).unwrap().unwrap();
        assert!(d.run_until(30, |d| d.job_status(job) == Some(JobStatus::Canceled)));
    }
    // The savepoint outlives the jobs.
    assert!(d.c.sim.store().read(&format!("{}/_metadata", path.trim_start_matches("file:/"))).is_ok());
}

#[test]
fn a_savepoint_that_does_not_fit_fails_the_job_at_submission() {
    let (mut d, _) = session_seen(36, CHECKPOINTING);
    let path = take_savepoint(&mut d, 100);
    let submit = |d: &mut Deployment, n: u128, path: &str, allow: bool, edit: &dyn Fn(&mut JobGraph)| {
        let mut g = cp_graph(100 + n, 2, ShipStrategy::Hash { key: 0 }, RestartStrategy::NoRestart);
        edit(&mut g);
        g.savepoint_restore = Some(flink_core::graph::SavepointRestoreSettings { path: path.into(), allow_non_restored_state: allow });
        let job = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
        assert!(d.run_until(30, |d| d.job_status(job).is_some_and(|s| s.is_globally_terminal() || s == JobStatus::Running)));
        let cause = d.with_am(|am, _| am.dispatcher().job(&job).unwrap().failure_cause.clone()).unwrap();
        (d.job_status(job).unwrap(), cause.unwrap_or_default())
    };
    let (st, cause) = submit(&mut d, 1, "file:/sps/nope", false, &|_| {});
    assert_eq!(st, JobStatus::Failed);
    assert!(cause.contains("Cannot find checkpoint or savepoint file/directory 'file:/sps/nope' on file system 'file'."), "{cause}");
    assert!(cause.starts_with("org.apache.flink.runtime.client.JobInitializationException: Could not start the JobMaster."), "{cause}");
    let (st, cause) = submit(&mut d, 2, &path, false, &|g| g.vertices[1].max_parallelism = 256);
    assert_eq!(st, JobStatus::Failed);
    assert!(cause.contains(&format!("Failed to rollback to checkpoint/savepoint {path}. Max parallelism mismatch")), "{cause}");
    let other_sink = |g: &mut JobGraph| g.vertices[1].operators = vec![OperatorSpec::Sink { sink: SinkSpec::Print }];
    let (st, cause) = submit(&mut d, 3, &path, false, &other_sink);
    assert_eq!(st, JobStatus::Failed);
    assert!(cause.contains("Cannot map checkpoint/savepoint state for operator"), "{cause}");
    assert!(cause.contains("If you want to allow to skip this, you can set the --allowNonRestoredState option on the CLI."), "{cause}");
    let (st, _) = submit(&mut d, 4, &path, true, &other_sink);
    assert_eq!(st, JobStatus::Running, "{}", d.log());
    assert!(d.log().contains("Skipping savepoint state for operator"));
}

// ---- Exactly-once with the real TaskExecutor: StatefulCount (keyed running counts into the
// file sink) with checkpointing, TaskManagers killed mid-run; the committed output must equal
// the fault-free run's line for line.

/// StatefulCount at parallelism `p`, `count` records per source subtask at `rate`/s, output
/// into `out`, checkpoints every 200 ms into `ckpts`, generous fixed-delay restarts.
#[allow(clippy::disallowed_methods)] // the test reads the example program from disk
fn stateful_count(job: u128, p: u32, count: u64, rate: u64, out: &str) -> JobGraph {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/streaming/StatefulCount.toml")).unwrap();
    let args: Vec<String> =
        ["--count", &count.to_string(), "--rate", &rate.to_string(), "--output", out].iter().map(|s| s.to_string()).collect();
    let program = flink_core::program::Program::parse(&text, &args).unwrap();
    let mut next = job * 1000;
    let mut g = program
        .job_graphs(p, &mut || {
            next += 1;
            next
        })
        .unwrap()
        .remove(0);
    g.job_id = JobId::from_u128(job);
    let mut cfg = flink_core::checkpoint::CheckpointConfig::with_interval(200);
    cfg.dir = Some("ckpts".into());
    g.checkpointing = Some(cfg);
    g.restart_strategy = RestartStrategy::FixedDelay { attempts: 20, delay_ms: 200 };
    g
}

/// A session with real TaskExecutors (on FIFO links, see `deploy_real_cfg`).
fn real_session(seed: u64) -> Deployment {
    // NodeManagers of lost machines expire in seconds (YARN: 10 min), so the RM stops placing
    // containers there.
    let mut cfg = SimClusterConfig::new(seed, 4);
    cfg.conf.set("yarn.nm.liveness-monitor.expiry-interval-ms", 3000);
    let mut d = deploy_real_cfg(cfg, AmMode::Session, 2);
    assert!(d.run_until(60, |d| d.am().is_some_and(|a| d
        .c
        .sim
        .node::<FlinkAppMaster>(a)
        .is_some_and(|am| am.resource_manager().is_some_and(|r| r.is_registered_with_yarn())))));
    d
}

/// The committed output under `dir`: lines of files whose name starts with neither '.' nor
/// '_', sorted.
fn committed_lines(d: &mut Deployment, dir: &str) -> Vec<String> {
    let mut lines = Vec::new();
    for path in d.c.sim.store().list(dir).unwrap() {
        let name = path.rsplit('/').next().unwrap();
        if name.starts_with('.') || name.starts_with('_') {
            continue;
        }
        let bytes = d.c.sim.store().read(&path).unwrap();
        lines.extend(String::from_utf8_lossy(&bytes).lines().map(str::to_string));
    }
    lines.sort();
    lines
}

fn completed_checkpoints(d: &mut Deployment, id: JobId) -> u64 {
    d.with_am(|am, _| am.dispatcher().job(&id).and_then(|j| j.checkpoint_stats().map(|s| s.num_completed))).flatten().unwrap_or(0)
}

fn fault_free_output(seed: u64, count: u64, rate: u64) -> Vec<String> {
    let mut d = real_session(seed);
    let id = d.with_am(|am, cx| am.submit_job(cx, stateful_count(200, 2, count, rate, "clean"))).unwrap().unwrap();
    assert!(d.run_until(300, |d| d.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", d.log());
    assert_eq!(d.job_status(id), Some(JobStatus::Finished), "{}", d.log());
    committed_lines(&mut d, "clean")
}

/// Every completed checkpoint in the job's history had all its acknowledgements.
fn assert_complete_acks(d: &mut Deployment, id: JobId) {
    let st = d.with_am(|am, _| am.dispatcher().job(&id).and_then(|j| j.checkpoint_stats().cloned())).flatten().unwrap();
    for c in st.history.iter().filter(|c| c.status == crate::jobmaster::checkpoint_stats::CheckpointStatsStatus::Completed) {
        assert_eq!(c.num_acknowledged(), c.num_subtasks(), "checkpoint {} completed without every ack", c.id);
    }
}

#[test]
fn stateful_count_survives_taskmanager_kills_with_exactly_once_output() {
    let (count, rate) = (3_000, 1_000);
    let expected = fault_free_output(40, count, rate);
    // Every key k has (k,1)..(k,n_k): 2 x 3000 records over 100 keys.
    assert_eq!(expected.len(), 2 * count as usize);
    let mut d = real_session(41);
    let id = d.with_am(|am, cx| am.submit_job(cx, stateful_count(201, 2, count, rate, "faulty"))).unwrap().unwrap();
    for round in 0..2 {
        let before = completed_checkpoints(&mut d, id);
        assert!(
            d.run_until(120, |d| completed_checkpoints(d, id) >= before + 2 && running_count(d, id) == 4),
            "round {round}: {}",
            d.log()
        );
        let victim = d.task_executor_addrs_real()[0];
        assert!(d.c.sim.signal(victim, Signal::Kill));
        assert!(d.run_until(120, |d| d.job_status(id) == Some(JobStatus::Restarting)), "{}", d.log());
    }
    assert!(d.run_until(300, |d| d.job_status(id).is_some_and(|s| s.is_globally_terminal())), "{}", d.log());
    assert_eq!(d.job_status(id), Some(JobStatus::Finished), "{}", d.log());
    let log = d.log();
    assert!(log.matches("switched from state RESTARTING to RUNNING.").count() >= 2, "{log}");
    assert!(log.contains(&format!("Restoring job {id} from Checkpoint ")), "{log}");
    let st = d.with_am(|am, _| am.dispatcher().job(&id).and_then(|j| j.checkpoint_stats().cloned())).flatten().unwrap();
    assert!(st.num_restored >= 2, "restored {} times", st.num_restored);
    assert_complete_acks(&mut d, id);
    let got = committed_lines(&mut d, "faulty");
    assert_eq!(got.len(), expected.len(), "no loss, no duplicate");
    assert_eq!(got, expected);
}

/// A fault the proptest injects `after_ms` after the previous one (or the job's start).
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// `kill -9` of a TaskManager container's process.
    KillTaskManager,
    /// SIGTERM: the container exits, YARN reports it.
    TerminateContainer,
    /// The TaskManager hangs (SIGSTOP): only heartbeats time out.
    HangTaskManager,
    /// A machine running a TaskManager (not the AM) is lost with its NodeManager.
    LoseNodeManager,
}

fn fault_strategy() -> impl proptest::strategy::Strategy<Value = Vec<(u64, Fault, usize)>> {
    use proptest::prelude::*;
    let fault = prop_oneof![
        Just(Fault::KillTaskManager),
        Just(Fault::TerminateContainer),
        Just(Fault::HangTaskManager),
        Just(Fault::LoseNodeManager)
    ];
    proptest::collection::vec((150u64..2_500, fault, 0usize..8), 1..6)
}

fn am_host(d: &mut Deployment) -> Option<std::net::Ipv4Addr> {
    d.am().map(|a| *a.ip())
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 12, failure_persistence: None, ..Default::default() })]

    #[test]
    fn committed_output_equals_the_fault_free_run_under_random_faults(faults in fault_strategy(), seed in 50u64..10_000) {
        let (count, rate) = (2_000, 1_000);
        let expected = fault_free_output(seed, count, rate);
        let mut d = real_session(seed + 1);
        let id = d.with_am(|am, cx| am.submit_job(cx, stateful_count(300, 2, count, rate, "faulty"))).unwrap().unwrap();
        let mut lost_nm = false;
        for (after_ms, fault, pick) in faults {
            d.c.sim.run_for(Duration::from_millis(after_ms));
            if d.job_status(id).is_some_and(|s| s.is_globally_terminal()) {
                break;
            }
            let tms = d.task_executor_addrs_real();
            if tms.is_empty() {
                continue;
            }
            let victim = tms[pick % tms.len()];
            match fault {
                Fault::KillTaskManager => { d.c.sim.signal(victim, Signal::Kill); }
                Fault::TerminateContainer => { d.c.sim.signal(victim, Signal::Term); }
                Fault::HangTaskManager => { d.c.sim.signal(victim, Signal::Stop); }
                Fault::LoseNodeManager => {
                    // One machine at most, never the AM's (no HA here: the AM is the job).
                    if !lost_nm && Some(*victim.ip()) != am_host(&mut d) {
                        lost_nm = true;
                        d.c.sim.kill_machine(*victim.ip());
                    }
                }
            }
        }
        let done = d.run_until(900, |d| d.job_status(id).is_some_and(|s| s.is_globally_terminal()));
        proptest::prop_assert!(done, "{}", d.log());
        proptest::prop_assert_eq!(d.job_status(id), Some(JobStatus::Finished), "{}", d.log());
        assert_complete_acks(&mut d, id);
        let got = committed_lines(&mut d, "faulty");
        proptest::prop_assert_eq!(got, expected);
    }
}

#[test]
fn a_restarted_job_continues_its_counts_from_the_checkpoint() {
    // Kill a TaskManager once checkpoints completed: after RESTARTING -> RUNNING the counting
    // task restores its keyed state, so a key's next count continues (no second "(k,1)").
    let (count, rate) = (3_000, 1_000);
    let mut d = real_session(60);
    let id = d.with_am(|am, cx| am.submit_job(cx, stateful_count(400, 2, count, rate, "cont"))).unwrap().unwrap();
    assert!(d.run_until(120, |d| completed_checkpoints(d, id) >= 3 && running_count(d, id) == 4), "{}", d.log());
    let before = committed_lines(&mut d, "cont");
    assert!(!before.is_empty(), "a completed checkpoint committed part files");
    let victim = d.task_executor_addrs_real()[0];
    assert!(d.c.sim.signal(victim, Signal::Kill));
    assert!(d.run_until(120, |d| d.job_status(id) == Some(JobStatus::Restarting)), "{}", d.log());
    assert!(d.run_until(120, |d| d.job_status(id) == Some(JobStatus::Running) && running_count(d, id) == 4), "{}", d.log());
    let restored =
        d.with_am(|am, _| am.dispatcher().job(&id).and_then(|j| j.checkpoint_stats().and_then(|s| s.latest_restored.clone()))).flatten();
    assert!(restored.is_some(), "the restart restored a checkpoint");
    assert!(d.run_until(300, |d| d.job_status(id) == Some(JobStatus::Finished)), "{}", d.log());
    let lines = committed_lines(&mut d, "cont");
    // Every (k,n) exactly once: counts continued from the restored state instead of zero.
    let mut seen = std::collections::BTreeSet::new();
    for l in &lines {
        assert!(seen.insert(l.clone()), "duplicate line {l}");
    }
    let per_key: BTreeMap<String, usize> = lines.iter().fold(BTreeMap::new(), |mut m, l| {
        *m.entry(l.trim_start_matches('(').split(',').next().unwrap().to_string()).or_insert(0) += 1;
        m
    });
    for l in &lines {
        let (k, n) = l.trim_start_matches('(').trim_end_matches(')').split_once(',').unwrap();
        assert!(n.parse::<usize>().unwrap() <= per_key[k], "{l}");
    }
    assert_eq!(lines.len(), 2 * count as usize);
    let log = d.log();
    assert!(log.contains("switched from state RESTARTING to RUNNING."), "{log}");
}

/// Stop-with-savepoint at p=2, resume at `p`: the committed output of both runs together equals
/// one fault-free run's (keyed counts continue across the rescale, sources resume their splits).
fn stop_and_resume_at(p: u32, seed: u64) {
    let (count, rate) = (2_000, 1_000);
    let expected = fault_free_output(seed, count, rate);
    let mut d = real_session(seed + 1);
    let a = d.with_am(|am, cx| am.submit_job(cx, stateful_count(500, 2, count, rate, "resc"))).unwrap().unwrap();
    assert!(d.run_until(120, |d| completed_checkpoints(d, a) >= 2 && running_count(d, a) == 4), "{}", d.log());
    let sp = d
        .with_am(|am, cx| {
            am.dispatcher_mut().job_mut(&a).unwrap().trigger_savepoint(
                cx,
                "sps",
                flink_core::CheckpointKind::SyncSavepoint { drain: false },
            )
        })
        .unwrap()
        .unwrap();
    let mut outcome = None;
    assert!(d.run_until(60, |d| {
        outcome = d.with_am(|am, _| am.dispatcher().job(&a).unwrap().snapshot_outcome(sp)).flatten();
        outcome.is_some()
    }));
    let path = outcome.unwrap().unwrap();
    assert!(d.run_until(60, |d| d.job_status(a) == Some(JobStatus::Finished)), "stop ends the job FINISHED: {}", d.log());
    let first = committed_lines(&mut d, "resc").len();
    assert!(first > 0 && first < expected.len(), "the first run did part of the work: {first} of {}", expected.len());
    let mut g = stateful_count(501, p, count, rate, "resc");
    g.savepoint_restore = Some(flink_core::graph::SavepointRestoreSettings { path: path.clone(), allow_non_restored_state: false });
    let b = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(d.run_until(300, |d| d.job_status(b).is_some_and(|s| s.is_globally_terminal())), "{}", d.log());
    assert_eq!(d.job_status(b), Some(JobStatus::Finished), "{}", d.log());
    let log = d.log();
    assert!(log.contains(&format!("Reset the checkpoint ID of job {b} to {}.", sp + 1)), "{log}");
    assert!(log.contains(&format!("Restoring job {b} from Savepoint {sp} @ ")), "{log}");
    assert_eq!(committed_lines(&mut d, "resc"), expected, "resumed at p={p}");
}

#[test]
fn a_stop_with_savepoint_resumes_at_parallelism_one() {
    stop_and_resume_at(1, 70);
}

#[test]
fn a_stop_with_savepoint_resumes_at_parallelism_four() {
    stop_and_resume_at(4, 71);
}

#[test]
fn a_failure_after_the_stop_with_savepoint_completed_fails_the_job() {
    // The fakes keep running after the synchronous savepoint; a lost TaskManager then is not
    // recoverable (Flink's StopWithSavepointStoppingException).
    let (mut d, _) = session_seen(37, CHECKPOINTING);
    let g = cp_graph(110, 2, ShipStrategy::Rebalance, RestartStrategy::FixedDelay { attempts: 5, delay_ms: 100 });
    let id = d.with_am(|am, cx| am.submit_job(cx, g)).unwrap().unwrap();
    assert!(d.run_until(60, |d| running_count(d, id) == 4), "{}", d.log());
    let sp = d
        .with_am(|am, cx| {
            am.dispatcher_mut().job_mut(&id).unwrap().trigger_savepoint(
                cx,
                "sps",
                flink_core::CheckpointKind::SyncSavepoint { drain: true },
            )
        })
        .unwrap()
        .unwrap();
    assert!(d.run_until(30, |d| d.with_am(|am, _| am.dispatcher().job(&id).unwrap().snapshot_outcome(sp)).flatten().is_some()));
    assert!(d.log().contains("type=SavepointType{name='Terminate Savepoint', postCheckpointAction=TERMINATE, formatType=CANONICAL}"));
    let victim = d.task_executors()[0];
    assert!(d.c.sim.signal(victim, Signal::Kill));
    assert!(d.run_until(60, |d| d.job_status(id) == Some(JobStatus::Failed)), "{}", d.log());
    let cause = d.with_am(|am, _| am.dispatcher().job(&id).unwrap().failure_cause.clone()).unwrap().unwrap();
    assert!(cause.contains("A savepoint has been created at: file:/sps/savepoint-"), "{cause}");
    assert!(cause.contains("but the corresponding job"), "{cause}");
    // The savepoint stays.
    assert!(!d.c.sim.store().list("sps").unwrap().is_empty());
}

#[test]
fn a_restart_discards_the_committables_collected_so_far() {
    // Subtask 0 finishes (its sink reports a part file), then subtask 1 fails: the single
    // region restarts, subtask 0 runs again, and only the second attempt's files are committed.
    let script =
        Script { task_ms: Some(1_000), fail_ms: Some(1_500), fail_only_subtask: Some(1), checkpoints: false, commit_on_finish: true };
    let (mut d, seen) = session_seen(38, script);
    let id = d
        .with_am(|am, cx| am.submit_job(cx, graph(120, "Recommit", 2, RestartStrategy::FixedDelay { attempts: 2, delay_ms: 100 })))
        .unwrap()
        .unwrap();
    assert!(d.run_until(60, |d| d.job_status(id) == Some(JobStatus::Finished)), "{}", d.log());
    let files = d.c.sim.store().list("out").unwrap();
    let finals: Vec<&String> = files.iter().filter(|f| f.starts_with("out/part-")).collect();
    assert_eq!(finals.len(), 2, "{files:?}");
    let seen = seen.lock().unwrap();
    let second: Vec<String> = seen
        .deployed
        .iter()
        .filter(|t| t.attempt_number == 1 && t.output.is_none())
        .map(|t| format!("out/part-{}-0", t.execution_id))
        .collect();
    for f in finals {
        assert!(second.contains(f), "{f} is a second-attempt file: {second:?}");
    }
    assert_eq!(files.iter().filter(|f| f.contains(".inprogress")).count(), 1, "the first attempt's file stays hidden: {files:?}");
}
