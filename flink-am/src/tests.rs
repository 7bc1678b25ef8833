//! Whole deployments in the simulator: a YARN cluster (RM + NodeManagers), the Flink AM as a
//! registered program, and fake TaskExecutors that speak the flink-core protocol (the real
//! TaskExecutor is written in parallel; these follow the same contract with scripted tasks).

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use engine::{Addr, Cx, Msg, Node, Signal, TimerId};
use flink_core::graph::JobEdge;
use flink_core::operator::{SinkSpec, SourceSpec};
use flink_core::protocol::{env as fenv, SlotOffer, SlotStatus};
use flink_core::{
    AllocationId, ExecutionAttemptId, ExecutionState, FlinkMsg, JobGraph, JobId, JobStatus, JobType, JobVertex, JobVertexId, OperatorSpec,
    RestartStrategy, ShipStrategy,
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
}

const T_HB: TimerId = 1;

struct FakeTaskExecutor {
    id: String,
    rm: Addr,
    slots: Vec<Option<(AllocationId, JobId, Addr)>>,
    memory: u64,
    hb_ms: u64,
    script: Script,
    /// Running tasks: execution -> (job, job master, timer)
    tasks: BTreeMap<ExecutionAttemptId, (JobId, Addr, TimerId)>,
    next_timer: TimerId,
    timers: BTreeMap<TimerId, ExecutionAttemptId>,
}

impl FakeTaskExecutor {
    fn from_env(env: &BTreeMap<String, String>, script: Script) -> Result<Self, String> {
        let get = |k: &str| env.get(k).cloned().ok_or(format!("{k} missing"));
        Ok(FakeTaskExecutor {
            id: get("CONTAINER_ID")?,
            rm: get(fenv::FLINK_RM_ADDRESS)?.parse().map_err(|e| format!("{e}"))?,
            slots: vec![None; get(fenv::FLINK_NUM_SLOTS)?.parse::<usize>().map_err(|e| e.to_string())?],
            memory: get(fenv::FLINK_TM_MEMORY_MB)?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
            hb_ms: get("FLINK_HEARTBEAT_INTERVAL_MS")?.parse().map_err(|e: std::num::ParseIntError| e.to_string())?,
            script,
            tasks: BTreeMap::new(),
            next_timer: 100,
            timers: BTreeMap::new(),
        })
    }

    fn report(&self, cx: &mut Cx, to: Addr, job_id: JobId, execution_id: ExecutionAttemptId, state: ExecutionState, error: Option<String>) {
        cx.send(to, FlinkMsg::UpdateTaskExecutionState { job_id, execution_id, state, error, records_in: 10, records_out: 10 });
    }
}

impl Node for FakeTaskExecutor {
    fn on_start(&mut self, cx: &mut Cx) {
        cx.send(
            self.rm,
            FlinkMsg::RegisterTaskExecutor {
                resource_id: self.id.clone(),
                num_slots: self.slots.len() as u32,
                memory_mb: self.memory,
                data_address: cx.me(),
            },
        );
        cx.set_timer(Duration::from_millis(self.hb_ms), T_HB);
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let Ok(m) = msg.downcast::<FlinkMsg>() else { return };
        match m {
            FlinkMsg::RequestSlot { slot_index, allocation_id, job_id, job_master } => {
                self.slots[slot_index as usize] = Some((allocation_id, job_id, job_master));
                cx.send(
                    job_master,
                    FlinkMsg::OfferSlots { job_id, resource_id: self.id.clone(), slots: vec![SlotOffer { allocation_id, slot_index }] },
                );
            }
            FlinkMsg::AcceptSlots { accepted, job_id } => {
                for s in self.slots.iter_mut() {
                    if matches!(s, Some((a, j, _)) if *j == job_id && !accepted.contains(a)) {
                        *s = None;
                    }
                }
            }
            FlinkMsg::FreeSlot { allocation_id, .. } => {
                for s in self.slots.iter_mut() {
                    if matches!(s, Some((a, _, _)) if *a == allocation_id) {
                        *s = None;
                    }
                }
            }
            FlinkMsg::SubmitTask(tdd) => {
                self.report(cx, tdd.job_master, tdd.job_id, tdd.execution_id, ExecutionState::Running, None);
                let after = self.script.fail_ms.or(self.script.task_ms);
                let t = self.next_timer;
                self.next_timer += 1;
                self.tasks.insert(tdd.execution_id, (tdd.job_id, tdd.job_master, t));
                if let Some(ms) = after {
                    self.timers.insert(t, tdd.execution_id);
                    cx.set_timer(Duration::from_millis(ms), t);
                }
            }
            FlinkMsg::CancelTask { execution_id } => {
                if let Some((job, jm, t)) = self.tasks.remove(&execution_id) {
                    self.timers.remove(&t);
                    self.report(cx, jm, job, execution_id, ExecutionState::Canceled, None);
                }
            }
            FlinkMsg::JobManagerHeartbeat { job_id } => {
                let tasks = self.tasks.iter().filter(|(_, v)| v.0 == job_id).map(|(k, _)| (*k, 10, 10)).collect();
                cx.send(from, FlinkMsg::TaskExecutorToJobManagerHeartbeat { job_id, resource_id: self.id.clone(), tasks });
            }
            FlinkMsg::Shutdown { .. } => cx.exit(0),
            _ => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        if timer == T_HB {
            let slots = self
                .slots
                .iter()
                .enumerate()
                .map(|(i, s)| SlotStatus { slot_index: i as u32, allocation: s.map(|(a, j, _)| (a, j)) })
                .collect();
            cx.send(self.rm, FlinkMsg::TaskExecutorHeartbeat { resource_id: self.id.clone(), slots });
            cx.set_timer(Duration::from_millis(self.hb_ms), T_HB);
            return;
        }
        if let Some(exec) = self.timers.remove(&timer) {
            if let Some((job, jm, _)) = self.tasks.remove(&exec) {
                if self.script.fail_ms.is_some() {
                    self.report(cx, jm, job, exec, ExecutionState::Failed, Some("java.lang.RuntimeException: scripted failure".into()));
                } else {
                    self.report(cx, jm, job, exec, ExecutionState::Finished, None);
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

fn deploy(seed: u64, mode: AmMode, slots: u32, tm_mb: u64, script: Script) -> Deployment {
    let mut c = SimCluster::new(SimClusterConfig::new(seed, 3)).expect("cluster");
    let reg = c.sim.registry();
    reg.register(
        "flink-am",
        Box::new(move |env| Ok(Box::new(FlinkAppMaster::new(am_config(mode.clone(), env.spec.env.clone(), slots, tm_mb))))),
    );
    reg.register("taskexec", Box::new(move |env| Ok(Box::new(FakeTaskExecutor::from_env(&env.spec.env, script)?))));
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

const FINISHING: Script = Script { task_ms: Some(2_000), fail_ms: None };
const UNBOUNDED: Script = Script { task_ms: None, fail_ms: None };

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
    let script = Script { task_ms: Some(8_000), fail_ms: None };
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
    let script = Script { task_ms: None, fail_ms: Some(300) };
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
    let mut d = deploy(8, AmMode::PerJob { job }, 2, 2048, Script { task_ms: None, fail_ms: Some(200) });
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
        node_id: yarn_sim::ids::NodeId { host: nm.ip().to_string(), port: nm.port() },
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
    let mut d = deploy(seed, mode, slots, 2048, UNBOUNDED);
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
/// with real TaskExecutors; returns the final count per word and the trace hash.
fn sim_wordcount(seed: u64) -> (BTreeMap<String, i64>, u64) {
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
                    let e = counts.entry(w.to_string()).or_insert(0i64);
                    *e = (*e).max(c.parse::<i64>().unwrap());
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
    assert_eq!(counts, expected);
    let (again, hash2) = sim_wordcount(5);
    assert_eq!((again, hash2), (counts, hash), "the same seed replays byte for byte");
}
