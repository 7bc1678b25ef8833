//! Runs a scenario in the deterministic simulator: a YARN cluster (RM + NodeManagers, the
//! real node code), the real Flink AM and TaskExecutors as registered programs, deployments
//! made the way the CLIs make them, steps applied as traced faults, and observations taken
//! from the nodes' own trace events.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::fault::{DropRule, Endpoint, Fault, Link, StoreFaultKind};
use engine::sim::{Sim, SimConfig};
use engine::trace::TraceEvent;
use engine::{Addr, Node, Store, Time, Trace};
use flink_am::{AmMode, FlinkAppMaster};
use flink_core::config::FlinkConfig;
use flink_core::graph::RestartStrategy;
use flink_core::operator::{OperatorSpec, SinkSpec};
use flink_core::program::Program;
use flink_core::{JobGraph, JobId, JobStatus};
use yarn_sim::conf::Configuration;
use yarn_sim::ids::ApplicationId;
use yarn_sim::nm::{NmConfig, NodeManager};
use yarn_sim::records::{ApplicationSubmissionContext, ContainerLaunchContext, Resource};
use yarn_sim::rm::{ResourceManager, RmConfig};

use crate::invariants::{self, Violation};
use crate::model::{compare_output, CommittedOutput, ContainerSpan, Event, ExpectedLines, Observed, RunResult, Status, Verdict};
use crate::spec::{Action, DeployKind, Expect, Role, Spec, Trigger, When};

pub const RM_PORT: u16 = 8088;
pub const NM_PORT: u16 = 8041;

/// Whether TaskManager launches fail (the `fail-launch` verb: the command cannot start, as
/// on a node whose disk or image is broken). The registered program reads it.
pub type LaunchFault = Arc<AtomicBool>;

/// A deterministic id source (job and vertex ids) per deployment: the same on every attempt
/// of an application, as Flink derives application-mode job ids from the cluster id.
fn id_source(seed: u64, deploy: usize) -> impl FnMut() -> u128 {
    let mut n = 0u128;
    move || {
        n += 1;
        ((seed as u128) << 64) ^ ((deploy as u128 + 1) << 32) ^ n
    }
}

/// The Flink configuration of a deployment: the cluster's, then the deployment's `-D`s.
pub fn flink_conf(spec: &Spec, d: usize) -> Result<FlinkConfig, String> {
    let mut conf = FlinkConfig::new();
    for (k, v) in spec.cluster.flink.iter().chain(spec.deploys[d].flink.iter()) {
        conf.set(k, v);
    }
    if let Some(p) = spec.deploys[d].parallelism {
        conf.set("parallelism.default", &p.to_string());
    }
    Ok(conf)
}

/// The ZooKeeper client port of `requires = ["ha"]` scenarios (a ZooKeeperServer node in the
/// sim, a real server live).
pub const ZK_PORT: u16 = 2181;

/// The options an HA deployment adds (unless the scenario sets them): ZooKeeper HA at `quorum`,
/// a storage dir in the shared store, and two application attempts (what an HA user sets).
pub fn ha_options(spec: &Spec, quorum: &str) -> Vec<(String, String)> {
    if !spec.requires.iter().any(|r| r == "ha") {
        return Vec::new();
    }
    let set = |k: &str| spec.cluster.flink.iter().chain(spec.deploys.iter().flat_map(|d| d.flink.iter())).any(|(key, _)| key == k);
    let mut out = vec![
        ("high-availability.type".to_string(), "zookeeper".to_string()),
        ("high-availability.zookeeper.quorum".to_string(), quorum.to_string()),
    ];
    for (k, v) in [("high-availability.storageDir", "ha"), ("yarn.application-attempts", "2")] {
        if !set(k) {
            out.push((k.to_string(), v.to_string()));
        }
    }
    out
}

/// `flink_conf` with the HA options of the scenario (sim: the model's address).
fn flink_conf_ha(spec: &Spec, d: usize, zk: Option<Addr>) -> Result<FlinkConfig, String> {
    let mut conf = flink_conf(spec, d)?;
    if let Some(zk) = zk {
        for (k, v) in ha_options(spec, &zk.to_string()) {
            conf.set(&k, &v);
        }
    }
    Ok(conf)
}

/// The job graphs a program deployment runs.
pub fn job_graphs(spec: &Spec, d: usize, seed: u64) -> Result<Vec<JobGraph>, String> {
    let dep = &spec.deploys[d];
    let Some((_, _, text)) = &dep.program else { return Ok(vec![]) };
    // A `run` takes its session's configuration plus its own.
    let mut conf = match dep.session {
        Some(s) => flink_conf(spec, s)?,
        None => FlinkConfig::new(),
    };
    for (k, v) in spec.cluster.flink.iter().chain(dep.flink.iter()) {
        conf.set(k, v);
    }
    if let Some(p) = dep.parallelism {
        conf.set("parallelism.default", &p.to_string());
    }
    let program = Program::parse(text, &dep.args)?;
    let p = conf.u32("parallelism.default", 1)?;
    // As the CLI does: checkpointing, failover and restore settings come from configuration
    // (the sim's shared store is rooted at `/`, so its paths are relative).
    let settings = conf.job_settings(None)?;
    let mut graphs = program.job_graphs_with(p, &settings.restart, &mut id_source(seed, d))?;
    for g in &mut graphs {
        settings.apply(g);
        // The scenario's restart budget (fuzz reports) raises what the program set.
        if let (Some(min), RestartStrategy::FixedDelay { attempts, .. }) = (spec.restart_budget, &mut g.restart_strategy) {
            *attempts = (*attempts).max(min);
        }
    }
    Ok(graphs)
}

/// Where a job's file sinks write (store paths).
pub fn file_sink_dirs(g: &JobGraph) -> Vec<String> {
    let mut out = Vec::new();
    for v in &g.vertices {
        for op in &v.operators {
            if let OperatorSpec::Sink { sink: SinkSpec::File { path } } = op {
                out.push(path.clone());
            }
        }
    }
    out
}

pub fn yarn_conf(spec: &Spec, rm: Addr) -> Configuration {
    let mut conf = Configuration::new();
    conf.set("yarn.resourcemanager.webapp.address", rm);
    conf.set("yarn.resourcemanager.resource-tracker.address", rm);
    conf.set("yarn.nodemanager.resource.memory-mb", spec.cluster.node_memory_mb);
    conf.set("yarn.nodemanager.resource.cpu-vcores", spec.cluster.node_vcores);
    conf.set("yarn.nodemanager.local-dirs", "/yarn/local");
    conf.set("yarn.nodemanager.log-dirs", "/yarn/logs");
    if !spec.cluster.queues.is_empty() {
        conf.set("yarn.scheduler.capacity.root.queues", spec.cluster.queues.keys().cloned().collect::<Vec<_>>().join(","));
        for (q, c) in &spec.cluster.queues {
            conf.set(&format!("yarn.scheduler.capacity.root.{q}.capacity"), c);
        }
    }
    for (k, v) in &spec.cluster.yarn {
        conf.set(k, v);
    }
    conf
}

/// Per deployment, what the runner knows.
#[derive(Default, Clone)]
struct DeployState {
    app: Option<ApplicationId>,
    jobs: Vec<JobGraph>,
    deployed: bool,
    /// Wall clock of the sim when it was deployed.
    at: Option<Time>,
    ckpt: CheckpointObs,
}

/// A savepoint or stop-with-savepoint the scenario triggered: (JobManager, job, trigger, verb).
type PendingOp = (Addr, JobId, flink_am::async_ops::TriggerId, &'static str);

/// What the runner saw of a deployment's first job's checkpoints, read from the JobMaster's
/// statistics (each JobMaster instance by its address: a new application attempt starts over)
/// and checked against the TaskManagers' own acknowledgement events.
#[derive(Default, Clone)]
pub struct CheckpointObs {
    /// Completed checkpoints (not savepoints): (JobManager, id) -> store location.
    pub completed: BTreeMap<(Addr, u64), String>,
    /// Completed savepoints: (JobManager, id).
    pub savepoints: BTreeSet<(Addr, u64)>,
    /// Failed checkpoints seen in the history: (JobManager, id).
    pub failed: BTreeSet<(Addr, u64)>,
    /// Flink's numFailedCheckpoints per JobManager instance (includes failures to trigger).
    pub num_failed: BTreeMap<Addr, u64>,
    /// The latest restore: (JobManager, checkpoint id, restore timestamp).
    pub restored: Option<(Addr, u64, u64)>,
    /// Completed checkpoints that lacked acknowledgements: what was missing.
    pub ack_violations: Vec<String>,
    pub op: Option<PendingOp>,
    /// The triggered savepoint's outcome: Ok(path) or Err(failure).
    pub op_outcome: Option<Result<String, String>>,
    /// The JobMaster has checkpoints in progress (observe again soon).
    pub in_progress: bool,
}

/// Wraps a node in another (a planted bug around the AM in tests).
pub type WrapNode = fn(Box<dyn Node>) -> Box<dyn Node>;

/// Options that change what a run does (fuzzing and tests).
#[derive(Clone, Default)]
pub struct SimOptions {
    /// Leave the steps out (the fault-free reference run).
    pub no_steps: bool,
    /// Check fuzz invariants after every observed change.
    pub check_invariants: bool,
    /// Keep the JSONL lines (trace files, replay).
    pub keep_trace: bool,
    /// Wraps the AM node (a planted bug in tests).
    pub wrap_am: Option<WrapNode>,
    /// A step whose target is gone is noted, not a failure (drawn fault schedules).
    pub lenient_steps: bool,
}

pub struct SimRun<'a> {
    spec: &'a Spec,
    seed: u64,
    opts: SimOptions,
    pub sim: Sim,
    rm: Addr,
    nms: Vec<Addr>,
    /// The NodeManager (index into `nms`) each `nm-of` role last resolved to, by the role's
    /// text: what a later `restart` of that role restarts.
    nm_bound: BTreeMap<String, usize>,
    launch_fault: LaunchFault,
    /// The trace's events not yet observed (a buffer kept across drains).
    pending: Vec<TraceEvent>,
    /// Every trace line, when kept.
    pub lines: Vec<String>,
    start: Time,
    deploys: Vec<DeployState>,
    pub events: Vec<Event>,
    pub observed: Observed,
    /// Steps: fired, or the time they fire at once their predicate held.
    fired: Vec<bool>,
    due: Vec<Option<Time>>,
    /// Faults healed later: (when, what).
    heals: Vec<(Time, Action)>,
    /// Engine faults that undo a fault later: (when, fault, what the log says).
    engine_heals: Vec<(Time, Fault, String)>,
    /// Jobs (by id) -> deployment.
    job_owner: BTreeMap<JobId, usize>,
    pub violations: Vec<Violation>,
    /// Containers the AM was given: when each was acquired.
    acquired: BTreeMap<String, Time>,
    /// TaskManagers' `checkpoint.ack` events: checkpoint location -> execution attempts.
    ack_dirs: BTreeMap<String, BTreeSet<String>>,
    /// Checkpoint activity since the last look at the JobMasters' statistics.
    ckpt_dirty: bool,
    /// The ZooKeeper model of `requires = ["ha"]` scenarios.
    zk: Option<Addr>,
}

fn us(d: Duration) -> u64 {
    d.as_micros() as u64
}

impl<'a> SimRun<'a> {
    pub fn new(spec: &'a Spec, seed: u64, opts: SimOptions) -> Result<SimRun<'a>, String> {
        let mut sim = Sim::with_trace(SimConfig::new(seed), Trace::collecting());
        let rm_host = sim.add_machine();
        let rm = Addr::new(rm_host, RM_PORT);
        let conf = yarn_conf(spec, rm);
        // Daemons are the machines' boot daemons: a restarted machine starts them again.
        let rm_conf = RmConfig::from_conf(&conf)?;
        sim.spawn_boot(rm_host, RM_PORT, Box::new(move || Box::new(ResourceManager::new(rm_conf.clone()))));
        let mut nms = Vec::new();
        for _ in 0..spec.cluster.nodes {
            let host = sim.add_machine();
            let nm_conf = NmConfig::from_conf(&conf, format!("{host}:8042"), "/etc/hadoop")?;
            nms.push(sim.spawn_boot(host, NM_PORT, Box::new(move || Box::new(NodeManager::new(nm_conf.clone())))));
        }
        // HA scenarios get a standalone ZooKeeper on a machine of its own (tickTime 200 ms, as
        // `yarn-sim start --zookeeper` runs the real one).
        let zk = spec.requires.iter().any(|r| r == "ha").then(|| {
            let host = sim.add_machine();
            sim.spawn_boot(host, ZK_PORT, Box::new(|| Box::new(flink_core::zookeeper::ZooKeeperServer::new(200))))
        });
        // The cluster is up when every NodeManager has registered (as `yarn-sim start` waits).
        let up = sim.run_until_true(Duration::from_secs(60), |sim| {
            nms.iter().all(|a| sim.node::<NodeManager>(*a).is_some_and(|n| n.is_registered()))
        });
        if !up {
            return Err("the NodeManagers did not register within 60 s".into());
        }
        let start = sim.now();
        let mut run = SimRun {
            spec,
            seed,
            opts,
            sim,
            rm,
            nms,
            nm_bound: BTreeMap::new(),
            launch_fault: LaunchFault::default(),
            pending: Vec::new(),
            lines: Vec::new(),
            start,
            deploys: vec![DeployState::default(); spec.deploys.len()],
            events: Vec::new(),
            observed: Observed::default(),
            fired: vec![false; spec.steps.len()],
            due: vec![None; spec.steps.len()],
            heals: Vec::new(),
            engine_heals: Vec::new(),
            job_owner: BTreeMap::new(),
            violations: Vec::new(),
            acquired: BTreeMap::new(),
            ack_dirs: BTreeMap::new(),
            ckpt_dirty: false,
            zk,
        };
        run.register_programs()?;
        Ok(run)
    }

    fn register_programs(&mut self) -> Result<(), String> {
        // Per deployment: its AM mode and configuration, as the CLI would stage them.
        let mut modes: Vec<Option<(AmMode, FlinkConfig)>> = Vec::new();
        for (i, d) in self.spec.deploys.iter().enumerate() {
            let conf = flink_conf_ha(self.spec, i, self.zk)?;
            let jobs = job_graphs(self.spec, i, self.seed)?;
            for j in &jobs {
                self.job_owner.insert(j.job_id, i);
            }
            self.deploys[i].jobs = jobs.clone();
            modes.push(match d.kind {
                DeployKind::YarnSession => Some((AmMode::Session, conf)),
                DeployKind::RunApplication => Some((AmMode::Application { jobs }, conf)),
                DeployKind::PerJob => Some((AmMode::PerJob { job: jobs.into_iter().next().ok_or("the program has no job")? }, conf)),
                DeployKind::Run => None,
            });
        }
        let wrap = self.opts.wrap_am;
        self.sim.registry().register(
            "flink-am",
            Box::new(move |env| {
                // flink-am <mode> --deploy <index>
                let i: usize = env.argv.get(3).and_then(|s| s.parse().ok()).ok_or("flink-am: --deploy <index> missing")?;
                let (mode, conf) = modes.get(i).cloned().flatten().ok_or("flink-am: no such deployment")?;
                // The sim's shared store is an in-memory tree rooted at `/`.
                let cfg = flink_am::cli::launcher::am_config(mode, &conf, env.spec.env.clone(), std::path::Path::new("/"))?;
                let am: Box<dyn Node> = Box::new(FlinkAppMaster::new(cfg));
                Ok(match wrap {
                    Some(w) => w(am),
                    None => am,
                })
            }),
        );
        let failing = self.launch_fault.clone();
        self.sim.registry().register(
            "taskexec",
            Box::new(move |env| {
                if failing.load(Ordering::Relaxed) {
                    return Err("taskexec: cannot execute: Input/output error (fault: fail-launch)".into());
                }
                Ok(Box::new(taskexec::TaskExecutor::new(taskexec::TaskExecutorConfig::from_env(&env.spec.env)?)))
            }),
        );
        Ok(())
    }

    fn t(&self) -> u64 {
        self.sim.now().as_micros().saturating_sub(self.start.as_micros())
    }

    /// A runner event: logged, and hashed into the trace like the nodes' events.
    fn event(&mut self, kind: &str, detail: String) {
        let now = self.sim.now();
        self.sim.trace().event(now, Addr::new(Ipv4Addr::UNSPECIFIED, 0), &format!("scenario.{kind}"), &detail);
        self.events.push(Event { t: self.t(), kind: kind.to_string(), detail });
    }

    fn rm_node(&mut self) -> Option<&mut ResourceManager> {
        let rm = self.rm;
        self.sim.node::<ResourceManager>(rm)
    }

    fn nm_index(&self, host: &str) -> i32 {
        self.nms.iter().position(|a| a.ip().to_string() == host).map(|i| i as i32).unwrap_or(-1)
    }

    // ---- deployments ----

    fn deploy(&mut self, i: usize) -> Result<(), String> {
        let d = &self.spec.deploys[i];
        self.deploys[i].deployed = true;
        self.deploys[i].at = Some(self.sim.now());
        match d.kind {
            DeployKind::Run => {
                let s = d.session.expect("validated");
                let am = self.am_addr(s).ok_or_else(|| format!("session '{}' has no running JobManager", self.spec.deploys[s].name))?;
                for g in self.deploys[i].jobs.clone() {
                    let id = g.job_id;
                    let r = self.sim.with_node::<FlinkAppMaster, _>(am, |am, cx| am.submit_job(cx, g)).ok_or("the JobManager is gone")?;
                    r.map_err(|e| format!("flink run: {e}"))?;
                    self.event("deploy", format!("flink run {}: job {id} submitted to {}", d.name, self.spec.deploys[s].name));
                }
                Ok(())
            }
            _ => {
                let conf = flink_conf_ha(self.spec, i, self.zk)?;
                let jm_mb = conf.memory_mb("jobmanager.memory.process.size")?.unwrap_or(1600);
                let attempts = conf.u32("yarn.application-attempts", 1)?;
                let queue = conf.string("yarn.application.queue", "default");
                let rm = self.rm;
                let (app, _) = self.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.new_application(cx)).ok_or("the RM is down")?;
                let mut ctx = ApplicationSubmissionContext::new(app);
                ctx.application_name = conf.string(
                    "yarn.application.name",
                    match d.kind {
                        DeployKind::YarnSession => "Flink session cluster",
                        _ => "Flink Application Cluster",
                    },
                );
                ctx.application_type = "Apache Flink".into();
                ctx.queue = queue;
                ctx.max_app_attempts = attempts as i32;
                // With HA a new attempt adopts the TaskManagers (YarnClusterDescriptor sets this).
                ctx.keep_containers_across_application_attempts = conf.ha_zookeeper()?;
                // Flink's YarnClusterDescriptor sets a 10 s failure validity interval by default.
                ctx.attempt_failures_validity_interval =
                    conf.duration_ms("yarn.application-attempt-failures-validity-interval", 10_000)? as i64;
                ctx.resource = Resource::new(jm_mb, 1);
                let mode = match d.kind {
                    DeployKind::YarnSession => "session",
                    DeployKind::RunApplication => "application",
                    _ => "per-job",
                };
                ctx.am_container_spec = ContainerLaunchContext {
                    commands: vec![format!("flink-am {mode} --deploy {i} 1><LOG_DIR>/jobmanager.log 2><LOG_DIR>/jobmanager.err")],
                    ..Default::default()
                };
                self.sim
                    .with_node::<ResourceManager, _>(rm, |r, cx| r.submit_application(cx, ctx, "sim"))
                    .ok_or("the RM is down")?
                    .map_err(|e| format!("{}: {}", e.exception, e.message))?;
                self.deploys[i].app = Some(app);
                self.event("deploy", format!("{} {}: submitted {app}", d.kind.name(), d.name));
                Ok(())
            }
        }
    }

    /// The deployment's YARN application (a `run` is in its session's).
    fn app_of(&self, d: usize) -> Option<ApplicationId> {
        match self.spec.deploys[d].session {
            Some(s) => self.deploys[s].app,
            None => self.deploys[d].app,
        }
    }

    /// Container processes: (address, container id, "AM" or "TaskManager").
    fn procs(&self) -> Vec<(Addr, String, &'static str)> {
        self.sim
            .launched()
            .filter_map(|(addr, program, container)| {
                let label = match program {
                    "flink-am" => "AM",
                    "taskexec" => "TaskManager",
                    _ => return None,
                };
                Some((addr, container?.to_string(), label))
            })
            .collect()
    }

    fn container_of(&self, a: Addr) -> String {
        self.sim.process(a).and_then(|p| p.container_id().map(str::to_string)).unwrap_or_default()
    }

    fn am_addr(&mut self, d: usize) -> Option<Addr> {
        let app = self.app_of(d)?.to_string();
        let p = self.procs();
        p.into_iter().filter(|(_, c, l)| *l == "AM" && c.contains(app.trim_start_matches("application"))).map(|(a, _, _)| a).next_back()
    }

    fn tms(&mut self, d: usize) -> Vec<(Addr, String)> {
        let Some(app) = self.app_of(d) else { return vec![] };
        let key = app.to_string();
        let key = key.trim_start_matches("application");
        let mut v: Vec<(Addr, String)> =
            self.procs().into_iter().filter(|(_, c, l)| *l == "TaskManager" && c.contains(key)).map(|(a, c, _)| (a, c)).collect();
        v.sort_by(|a, b| a.1.cmp(&b.1));
        v
    }

    fn first_job(&self, d: usize) -> Option<JobId> {
        self.deploys[d].jobs.first().map(|g| g.job_id)
    }

    fn job_status(&mut self, d: usize) -> Option<JobStatus> {
        let id = self.first_job(d)?;
        let s = self.spec.deploys[d].session.unwrap_or(d);
        let am = self.am_addr(s)?;
        self.sim.node::<FlinkAppMaster>(am)?.job_statuses().get(&id).copied()
    }

    fn registered_tms(&mut self, d: usize) -> u32 {
        let s = self.spec.deploys[d].session.unwrap_or(d);
        let Some(am) = self.am_addr(s) else { return 0 };
        self.sim
            .node::<FlinkAppMaster>(am)
            .and_then(|am| am.resource_manager())
            .map(|rm| rm.workers().values().filter(|w| w.state == flink_am::resourcemanager::WorkerState::Registered).count() as u32)
            .unwrap_or(0)
    }

    fn records_written(&mut self, d: usize) -> u64 {
        let Some(id) = self.first_job(d) else { return 0 };
        let s = self.spec.deploys[d].session.unwrap_or(d);
        let Some(am) = self.am_addr(s) else { return 0 };
        let Some(am) = self.sim.node::<FlinkAppMaster>(am) else { return 0 };
        let Some(jm) = am.dispatcher().job(&id) else { return 0 };
        let n = jm.graph.vertices.len();
        (0..n)
            .map(|v| {
                let (i, o) = jm.vertex_records(v);
                i.max(o)
            })
            .max()
            .unwrap_or(0)
    }

    // ---- roles ----

    fn host_of_role(&mut self, role: &Role, d: usize) -> Result<(Ipv4Addr, Option<Addr>, String), String> {
        match role {
            Role::Am => {
                let a = self.am_addr(d).ok_or("no running AM")?;
                let cid = self.container_of(a);
                Ok((*a.ip(), Some(a), format!("{cid} (JobManager)")))
            }
            Role::TaskManager(n) | Role::RemoteTaskManager(n) => {
                let am_host = self.am_addr(d).map(|a| *a.ip());
                let tms: Vec<_> = self
                    .tms(d)
                    .into_iter()
                    .filter(|(a, _)| !matches!(role, Role::RemoteTaskManager(_)) || Some(*a.ip()) != am_host)
                    .collect();
                let (a, cid) = tms.get(n - 1).cloned().ok_or_else(|| format!("there is no {role}: {} running", tms.len()))?;
                Ok((*a.ip(), Some(a), format!("{cid} (TaskManager)")))
            }
            Role::Nm(n) => {
                let a = self.nms[n - 1];
                Ok((*a.ip(), Some(a), format!("NodeManager {} ({})", n, a.ip())))
            }
            Role::NmOf(inner) => {
                let (ip, _, what) = self.host_of_role(inner, d).map_err(|e| format!("{e}, so no NodeManager hosting it"))?;
                let i = self.nms.iter().position(|n| *n.ip() == ip).ok_or(format!("the machine of {what} has no NodeManager"))?;
                self.nm_bound.insert(role.to_string(), i);
                let hosting = if **inner == Role::Am { "the AM".to_string() } else { what };
                Ok((ip, Some(self.nms[i]), format!("NodeManager {} ({ip}, hosting {hosting})", i + 1)))
            }
            Role::Rm => Ok((*self.rm.ip(), Some(self.rm), format!("ResourceManager ({})", self.rm.ip()))),
            Role::ZooKeeper => {
                let zk = self.zk.ok_or("there is no ZooKeeper: the scenario does not require ha")?;
                Ok((*zk.ip(), Some(zk), format!("ZooKeeper ({zk})")))
            }
        }
    }

    fn default_deploy(&self) -> usize {
        self.spec.deploys.iter().position(|d| d.kind.is_app()).unwrap_or(0)
    }

    /// Applies an engine fault (traced by the engine) and logs it with `what` it hit.
    fn fault(&mut self, f: Fault, what: String) -> Result<(), String> {
        self.sim.apply(f)?;
        self.event("fault", what);
        Ok(())
    }

    /// Undoes a fault at `at` with a concrete engine fault (bound now, not re-resolved).
    fn heal_later(&mut self, at: Time, f: Fault, what: String) {
        self.engine_heals.push((at, f, what));
        self.sim.at(at, |_| {});
    }

    /// Two roles' machines, for a link fault between them.
    fn link(&mut self, a: &Role, b: &Role, d: usize) -> Result<(Ipv4Addr, Ipv4Addr, String, String), String> {
        let (ha, _, wa) = self.host_of_role(a, d)?;
        let (hb, _, wb) = self.host_of_role(b, d)?;
        if ha == hb {
            return Err(format!("{a} and {b} share machine {ha}: no network between them"));
        }
        Ok((ha, hb, wa, wb))
    }

    /// Applies an action now. Err: the step cannot be applied (the run fails, naming it).
    fn apply(&mut self, action: &Action) -> Result<(), String> {
        let d = self.default_deploy();
        let now = self.sim.now();
        let host = Endpoint::Host;
        match action {
            Action::Kill(r) | Action::Term(r) | Action::Stop(r, _) | Action::Continue(r) => {
                let (_, addr, what) = self.host_of_role(r, d)?;
                let process = addr.expect("process roles have addresses");
                let (f, verb) = match action {
                    Action::Kill(_) => (Fault::Kill { process }, "kill -9"),
                    Action::Term(_) => (Fault::Terminate { process }, "kill -TERM"),
                    Action::Stop(_, _) => (Fault::Stop { process }, "kill -STOP"),
                    _ => (Fault::Continue { process }, "kill -CONT"),
                };
                self.fault(f, format!("{verb} {what}")).map_err(|e| format!("{what}: {e}"))?;
                if let Action::Stop(_, Some(after)) = action {
                    // The same process continues, whatever the role names by then.
                    self.heal_later(now + *after, Fault::Continue { process }, format!("kill -CONT {what}"));
                }
            }
            Action::LoseMachine(r) => {
                let (h, _, what) = self.host_of_role(r, d)?;
                self.fault(Fault::MachineLoss { host: h }, format!("machine {h} lost ({what} and everything on it)"))?;
            }
            Action::Restart(r) => {
                // An `nm-of` role restarts the NodeManager its last fault hit: its containers,
                // which the role names, are gone now.
                let bound = match r {
                    Role::NmOf(_) => self.nm_bound.get(&r.to_string()).copied(),
                    _ => None,
                };
                let (h, _, what) = match (r, bound) {
                    (_, Some(i)) => {
                        let a = self.nms[i];
                        (*a.ip(), Some(a), format!("NodeManager {} ({}, {r} when it was hit)", i + 1, a.ip()))
                    }
                    (Role::Nm(_) | Role::NmOf(_) | Role::Rm, None) => self.host_of_role(r, d)?,
                    (other, None) => return Err(format!("cannot restart {other}")),
                };
                let recovery = self.spec.cluster.yarn.get("yarn.resourcemanager.recovery.enabled").is_some_and(|v| v.trim() == "true");
                let note = match (r, recovery) {
                    (Role::Rm, true) => " (RM state store: applications and attempts are recovered)",
                    (Role::Rm, false) => " (no RM state store: applications are forgotten)",
                    _ => "",
                };
                self.fault(Fault::MachineRestart { host: h }, format!("restart {what}: machine {h} reboots{note}"))?;
            }
            Action::Partition { a, b, one_way, heal_after } => {
                let (ha, hb, wa, wb) = self.link(a, b, d)?;
                let arrow = if *one_way { "->" } else { "<->" };
                self.fault(Fault::Partition { a: host(ha), b: host(hb), one_way: *one_way }, format!("partition {wa} {arrow} {wb}"))?;
                if let Some(after) = heal_after {
                    // The same machines heal, whatever the roles name by then.
                    self.heal_later(now + *after, Fault::Heal { a: host(ha), b: host(hb) }, format!("heal {wa} <-> {wb}"));
                }
            }
            Action::Heal { a, b } => {
                let (ha, hb, wa, wb) = self.link(a, b, d)?;
                self.sim.apply(Fault::Heal { a: host(ha), b: host(hb) })?;
                self.event("heal", format!("heal {wa} <-> {wb}"));
            }
            Action::HealAll => {
                self.sim.apply(Fault::HealAll)?;
                self.event("heal", "heal all links".into());
            }
            Action::Clog { a, b, delay, heal_after } => {
                let (ha, hb, wa, wb) = self.link(a, b, d)?;
                let delay_ms = delay.as_millis() as u64;
                self.sim.apply(Fault::Clog { link: Link::hosts(ha, hb), delay_ms })?;
                self.fault(Fault::Clog { link: Link::hosts(hb, ha), delay_ms }, format!("clog {wa} <-> {wb} (+{delay_ms} ms)"))?;
                if let Some(after) = heal_after {
                    self.heal_later(now + *after, Fault::Heal { a: host(ha), b: host(hb) }, format!("unclog {wa} <-> {wb}"));
                }
            }
            Action::Drop { at, from, rpc, heal_after } => {
                let (h, _, w) = self.host_of_role(at, d)?;
                let src = match from {
                    Some(f) => Some(self.host_of_role(f, d)?),
                    None => None,
                };
                let link = Link::new(src.as_ref().map(|s| host(s.0)).unwrap_or(Endpoint::Any), host(h));
                let by = src.as_ref().map(|x| format!(" from {}", x.2)).unwrap_or_default();
                self.fault(Fault::DropMessages(DropRule::kind(link, rpc)), format!("drop {rpc} arriving at {w}{by}"))?;
                if let Some(after) = heal_after {
                    let (a, b) = (link.from, link.to);
                    self.heal_later(now + *after, Fault::Heal { a, b }, format!("{rpc} reaches {w}{by} again"));
                }
            }
            Action::FailStore { heal_after, prefix, full } => {
                let (kind, errno) = if *full { (StoreFaultKind::Full, "ENOSPC") } else { (StoreFaultKind::Io, "EIO") };
                let under = if prefix.is_empty() { String::new() } else { format!(" under {prefix}/") };
                self.fault(Fault::StoreFault { prefix: prefix.clone(), kind }, format!("shared store writes{under} fail ({errno})"))?;
                if let Some(after) = heal_after {
                    self.heal_later(
                        now + *after,
                        Fault::ClearStoreFault { prefix: prefix.clone() },
                        format!("shared store{under} healthy"),
                    );
                }
            }
            Action::RestoreStore => {
                self.sim.apply(Fault::ClearStoreFault { prefix: String::new() })?;
                self.event("heal", "shared store healthy".into());
            }
            Action::Submit(name) => {
                let i = self.spec.deploys.iter().position(|x| &x.name == name).expect("validated");
                self.deploy(i)?;
            }
            Action::Cancel(name) => {
                let i = self.spec.deploys.iter().position(|x| &x.name == name).expect("validated");
                let id = self.first_job(i).ok_or("no job to cancel")?;
                let s = self.spec.deploys[i].session.unwrap_or(i);
                let am = self.am_addr(s).ok_or("no JobManager to cancel the job on")?;
                self.sim.with_node::<FlinkAppMaster, _>(am, |am, cx| am.cancel_job(cx, id)).ok_or("the JobManager is gone")??;
                self.event("action", format!("flink cancel {id}"));
            }
            Action::FailLaunch { heal_after } => {
                self.launch_fault.store(true, Ordering::Relaxed);
                self.event("fault", "TaskManager containers fail to start (exit 127)".into());
                if let Some(after) = heal_after {
                    self.heals.push((now + *after, Action::RestoreLaunch));
                    self.sim.at(now + *after, |_| {});
                }
            }
            Action::RestoreLaunch => {
                self.launch_fault.store(false, Ordering::Relaxed);
                self.event("heal", "TaskManager containers start again".into());
            }
            Action::Savepoint(name) | Action::StopJob(name) => {
                use flink_am::async_ops::{OperationKind, SavepointFormat};
                let i = self.spec.deploys.iter().position(|x| &x.name == name).expect("validated");
                let id = self.first_job(i).ok_or("no job to take a savepoint of")?;
                let s = self.spec.deploys[i].session.unwrap_or(i);
                let am = self.am_addr(s).ok_or("no JobManager to take the savepoint")?;
                let (kind, verb) = match action {
                    Action::Savepoint(_) => {
                        (OperationKind::Savepoint { cancel_job: false, format: SavepointFormat::Canonical }, "savepoint")
                    }
                    _ => (OperationKind::StopWithSavepoint { drain: false, format: SavepointFormat::Canonical }, "stop"),
                };
                // As `flink savepoint <id> savepoints` / `flink stop --savepointPath savepoints <id>`
                // do through REST: the same dispatcher call, then its operation status.
                let trigger = self
                    .sim
                    .with_node::<FlinkAppMaster, _>(am, |am, cx| am.trigger_savepoint(cx, id, Some("savepoints"), kind, None))
                    .ok_or("the JobManager is gone")?
                    .map_err(|r| format!("flink {verb}: {} ({})", r.message, r.status))?;
                self.deploys[i].ckpt.op = Some((am, id, trigger, verb));
                self.deploys[i].ckpt.op_outcome = None;
                self.ckpt_dirty = true;
                self.event("action", format!("flink {verb} {id} savepoints: triggered ({trigger})"));
            }
        }
        Ok(())
    }

    // ---- observation ----

    /// Reads the nodes' new trace lines into the observed model. True when anything changed.
    fn drain_trace(&mut self) -> bool {
        let mut evs = std::mem::take(&mut self.pending);
        self.sim.trace().take_events(&mut evs);
        if evs.is_empty() {
            self.pending = evs;
            return false;
        }
        let mut changed = false;
        for e in evs.drain(..) {
            if self.opts.keep_trace {
                self.lines.push(e.to_json_line());
            }
            let t = e.at.as_micros().saturating_sub(self.start.as_micros());
            changed |= self.observe(t, &e.kind, &e.detail);
        }
        self.pending = evs;
        changed
    }

    fn deploy_of_app(&self, app: &str) -> Option<usize> {
        self.deploys.iter().position(|d| d.app.map(|a| a.to_string()) == Some(app.to_string()))
    }

    fn observe(&mut self, t: u64, kind: &str, detail: &str) -> bool {
        match kind {
            "rm.app.state" => {
                let Some((app, _)) = detail.split_once(' ') else { return false };
                let Some(d) = self.deploy_of_app(app) else { return false };
                let id = self.deploys[d].app.expect("known");
                let now = self.sim.now();
                let Some(r) = self.rm_node().and_then(|r| r.app_report(&id, now)) else { return false };
                let state = format!("{}/{}", r.state, r.final_status);
                let ch = self.observed.push(t, d, "app", &state);
                if ch {
                    self.events.push(Event { t, kind: "app".into(), detail: format!("{app} {}", state.replace("/UNDEFINED", "")) });
                }
                ch
            }
            "rm.attempt.state" => {
                // appattempt_<ts>_<app>_<n> FROM->TO
                let Some((att, tr)) = detail.split_once(' ') else { return false };
                let Some(n) = att.rsplit('_').next().and_then(|n| n.parse::<u32>().ok()) else { return false };
                let app = format!("application_{}", att.trim_start_matches("appattempt_").rsplit_once('_').map(|x| x.0).unwrap_or(""));
                let Some(d) = self.deploy_of_app(&app) else { return false };
                let prev: u32 = self.observed.last(d, "attempt").and_then(|s| s.parse().ok()).unwrap_or(0);
                let mut ch = false;
                if n > prev {
                    ch = self.observed.push(t, d, "attempt", &n.to_string());
                    self.events.push(Event { t, kind: "app".into(), detail: format!("{att} started") });
                }
                if tr.ends_with("->FAILED") || tr.ends_with("->KILLED") || tr.ends_with("->FINISHED") {
                    self.events.push(Event { t, kind: "app".into(), detail: format!("{att} {}", tr.rsplit("->").next().unwrap_or("")) });
                }
                ch
            }
            "rm.container.state" => {
                let mut w = detail.split(' ');
                let (Some(cid), Some(tr)) = (w.next(), w.next()) else { return false };
                let to = tr.rsplit("->").next().unwrap_or("");
                let node = if to == "ALLOCATED" {
                    let host = w.nth(1).and_then(|n| n.split(':').next()).unwrap_or("");
                    self.nm_index(host)
                } else {
                    -1
                };
                let role = if cid.ends_with("_000001") { "AM" } else { "TaskManager" };
                let c = self.observed.containers.entry(cid.to_string()).or_insert(ContainerSpan {
                    id: cid.to_string(),
                    node,
                    role: role.into(),
                    allocated: t,
                    running: None,
                    completed: None,
                    exit: None,
                });
                match to {
                    "RUNNING" => c.running = c.running.or(Some(t)),
                    "COMPLETED" => {
                        c.completed = Some(t);
                        c.exit = detail.rsplit("exit=").next().and_then(|e| e.split_whitespace().next()).and_then(|e| e.parse().ok());
                        self.acquired.remove(cid);
                    }
                    "ACQUIRED" => {
                        self.acquired.insert(cid.to_string(), self.sim.now());
                    }
                    _ => {}
                }
                if to == "RUNNING" {
                    self.acquired.remove(cid);
                }
                if matches!(to, "RUNNING" | "COMPLETED") {
                    let ex = if to == "COMPLETED" { format!(" exit {}", c.exit.unwrap_or(0)) } else { String::new() };
                    self.events.push(Event { t, kind: "container".into(), detail: format!("{cid} ({role}) {to}{ex}") });
                }
                true
            }
            "job-status" => {
                let Some((id, st)) = detail.split_once(' ') else { return false };
                let Some(d) = self.job_owner.iter().find(|(j, _)| j.to_string() == id).map(|(_, d)| *d) else { return false };
                if self.first_job(d).map(|j| j.to_string()) != Some(id.to_string()) {
                    return false;
                }
                let ch = self.observed.push(t, d, "job", st);
                if ch {
                    self.events.push(Event { t, kind: "job".into(), detail: format!("{} {id} {st}", self.spec.deploys[d].name) });
                }
                ch
            }
            "checkpoint.ack" => {
                // <execution> <checkpoint id> <state file under the checkpoint's location>
                let mut w = detail.split(' ');
                if let (Some(exec), Some(_), Some(path)) = (w.next(), w.next(), w.next()) {
                    if let Some((dir, _)) = path.rsplit_once('/') {
                        self.ack_dirs.entry(dir.to_string()).or_default().insert(exec.to_string());
                    }
                }
                self.ckpt_dirty = true;
                false
            }
            "checkpoint.decline" | "checkpoint.aborted" => {
                self.ckpt_dirty = true;
                false
            }
            "fault.dropped" => false,
            _ => false,
        }
    }

    /// Reads the JobMasters' checkpoint statistics: completed, failed and restored checkpoints
    /// become events; every newly completed checkpoint is checked against the TaskManagers'
    /// acknowledgement events and its `_metadata`; a triggered savepoint's outcome is read from
    /// the dispatcher's operation, as REST reads it. True when anything new was seen.
    fn observe_checkpoints(&mut self) -> bool {
        use flink_am::jobmaster::checkpoint_stats::CheckpointStatsStatus;
        struct Entry {
            id: u64,
            status: CheckpointStatsStatus,
            savepoint: bool,
            path: Option<String>,
            acked: usize,
            subtasks: usize,
            failure: Option<String>,
        }
        let mut changed = false;
        let mut busy = false;
        let t = self.t();
        for d in 0..self.deploys.len() {
            if !self.deploys[d].deployed {
                continue;
            }
            let Some(job) = self.first_job(d) else { continue };
            let s = self.spec.deploys[d].session.unwrap_or(d);
            let Some(am) = self.am_addr(s) else { continue };
            let op = self.deploys[d].ckpt.op;
            let Some(node) = self.sim.node::<FlinkAppMaster>(am) else { continue };
            // The savepoint operation, as GET /jobs/:id/savepoints/:trigger shows it.
            let op_result = op.filter(|o| o.0 == am).and_then(|(_, j, trig, _)| {
                let v = node.operation_status(&j, &trig, true).ok()?;
                if v["status"]["id"] != "COMPLETED" {
                    return None;
                }
                let o = &v["operation"];
                Some(match o["location"].as_str() {
                    Some(l) => Ok(l.to_string()),
                    None => Err(o["failure-cause"]["stack-trace"].as_str().unwrap_or("failed").to_string()),
                })
            });
            let Some(jm) = node.dispatcher().job(&job) else { continue };
            let Some(st) = jm.checkpoint_stats() else { continue };
            let entries: Vec<Entry> = st
                .history
                .iter()
                .rev()
                .map(|c| Entry {
                    id: c.id,
                    status: c.status,
                    savepoint: c.kind.is_savepoint(),
                    path: c.external_path.clone(),
                    acked: c.num_acknowledged(),
                    subtasks: c.num_subtasks(),
                    failure: c.failure_message.clone(),
                })
                .collect();
            let num_failed = st.num_failed;
            let restored = st.latest_restored.as_ref().map(|r| (r.id, r.restore_timestamp, r.external_path.clone()));
            busy |= st.num_in_progress > 0;
            let expected_subtasks: usize = self.deploys[d].jobs[0].vertices.iter().map(|v| v.parallelism as usize).sum();
            if let Some(outcome) = op_result {
                let verb = op.map(|o| o.3).unwrap_or("savepoint");
                let line = match &outcome {
                    Ok(p) => format!("flink {verb}: savepoint completed: {p}"),
                    Err(e) => format!("flink {verb}: savepoint failed: {}", first_line(e)),
                };
                self.deploys[d].ckpt.op = None;
                self.deploys[d].ckpt.op_outcome = Some(outcome);
                self.events.push(Event { t, kind: "savepoint".into(), detail: line });
                changed = true;
            } else if op.is_some() {
                busy = true;
            }
            if self.deploys[d].ckpt.num_failed.insert(am, num_failed) != Some(num_failed) {
                changed = true;
            }
            if let Some((id, ts, path)) = restored {
                if self.deploys[d].ckpt.restored.map(|r| (r.0, r.2)) != Some((am, ts)) {
                    self.deploys[d].ckpt.restored = Some((am, id, ts));
                    self.events.push(Event {
                        t,
                        kind: "checkpoint".into(),
                        detail: format!("job {job} restored from checkpoint {id} ({path})"),
                    });
                    changed = true;
                }
            }
            for e in entries {
                let key = (am, e.id);
                match e.status {
                    CheckpointStatsStatus::InProgress => {}
                    CheckpointStatsStatus::Completed => {
                        let c = &self.deploys[d].ckpt;
                        if c.completed.contains_key(&key) || c.savepoints.contains(&key) {
                            continue;
                        }
                        let external = e.path.clone().unwrap_or_default();
                        let loc = flink_am::jobmaster::checkpoint_coordinator::pointer_to_store_path(&external).unwrap_or_default();
                        let what = if e.savepoint { "savepoint" } else { "checkpoint" };
                        let tm_acks = self.ack_dirs.remove(&loc).map(|s| s.len()).unwrap_or(0);
                        self.events.push(Event {
                            t,
                            kind: "checkpoint".into(),
                            detail: format!("{what} {} completed: {}/{} acknowledgements ({external})", e.id, e.acked, e.subtasks),
                        });
                        // Independent of the JobMaster's bookkeeping: the TaskManagers' own ack
                        // events and the `_metadata` the coordinator wrote.
                        let mut problems = Vec::new();
                        if e.acked != e.subtasks || e.subtasks != expected_subtasks {
                            problems.push(format!(
                                "the JobMaster counts {}/{} acknowledgements of {expected_subtasks} subtasks",
                                e.acked, e.subtasks
                            ));
                        }
                        if tm_acks < expected_subtasks {
                            problems.push(format!("the TaskManagers acknowledged {tm_acks} of {expected_subtasks} subtasks"));
                        }
                        match self.metadata_subtasks(&loc) {
                            Ok(n) if n == expected_subtasks => {}
                            Ok(n) => problems.push(format!("_metadata holds {n} of {expected_subtasks} subtask states")),
                            Err(err) => problems.push(format!("_metadata: {err}")),
                        }
                        if !problems.is_empty() {
                            let v = format!("{what} {} of job {job} completed, but {}", e.id, problems.join("; "));
                            if self.opts.check_invariants {
                                self.violations.push(Violation {
                                    t,
                                    kind: "checkpoint completed without all acknowledgements",
                                    detail: v.clone(),
                                });
                            }
                            self.deploys[d].ckpt.ack_violations.push(v);
                        }
                        let c = &mut self.deploys[d].ckpt;
                        if e.savepoint {
                            c.savepoints.insert(key);
                        } else {
                            c.completed.insert(key, loc);
                        }
                        changed = true;
                    }
                    CheckpointStatsStatus::Failed => {
                        if self.deploys[d].ckpt.failed.insert(key) {
                            let why = e.failure.as_deref().map(first_line).unwrap_or("").to_string();
                            let what = if e.savepoint { "savepoint" } else { "checkpoint" };
                            self.events.push(Event { t, kind: "checkpoint".into(), detail: format!("{what} {} failed: {why}", e.id) });
                            changed = true;
                        }
                    }
                }
            }
        }
        self.ckpt_dirty = busy;
        changed
    }

    /// Subtask states listed in a checkpoint's `_metadata` (distinct per vertex and index).
    fn metadata_subtasks(&mut self, loc: &str) -> Result<usize, String> {
        let bytes = self.sim.store().read(&format!("{loc}/_metadata")).map_err(|e| format!("cannot read {loc}/_metadata: {e}"))?;
        let m: flink_am::jobmaster::checkpoint_coordinator::CheckpointMetadata =
            serde_json::from_slice(&bytes).map_err(|e| format!("{loc}/_metadata does not parse: {e}"))?;
        let mut seen = BTreeSet::new();
        for v in &m.vertices {
            for st in &v.subtasks {
                if st.subtask_index < v.parallelism {
                    seen.insert((v.uid.clone(), st.subtask_index));
                }
            }
        }
        Ok(seen.len())
    }

    fn predicate(&mut self, w: &When) -> bool {
        match w {
            When::Job { deploy, status } => self.job_status(*deploy).map(|s| s.name() == status).unwrap_or(false),
            When::TaskManagers { deploy, n } => self.registered_tms(*deploy) >= *n,
            When::App { deploy, state } => {
                self.observed.last(*deploy, "app").map(|s| s.split('/').next() == Some(state.as_str())).unwrap_or(false)
            }
            When::Attempt { deploy, n } => self.observed.last(*deploy, "attempt").and_then(|s| s.parse::<u32>().ok()) >= Some(*n),
            When::Container { deploy, role, state } => {
                let Ok((_, Some(a), _)) = self.host_of_role(role, *deploy) else { return false };
                let cid = self.container_of(a);
                let c = self.observed.containers.get(&cid);
                match state.as_str() {
                    "NEW" => c.is_some_and(|c| c.running.is_none()),
                    "RUNNING" => c.is_some_and(|c| c.running.is_some() && c.completed.is_none()),
                    _ => c.is_some_and(|c| c.completed.is_some()),
                }
            }
            When::Records { deploy, n } => self.records_written(*deploy) >= *n,
            When::Checkpoint { deploy, n } => self.deploys[*deploy].ckpt.completed.len() as u64 >= u64::from(*n),
        }
    }

    /// Whether every job/app expectation's subject has reached an end state.
    fn settled(&mut self) -> bool {
        let spec = self.spec;
        for e in &spec.expect {
            match &e.expect {
                Expect::Job { deploy, status, .. } => {
                    let s = self.observed.last(*deploy, "job").map(str::to_string);
                    let terminal = matches!(s.as_deref(), Some("FINISHED" | "FAILED" | "CANCELED" | "SUSPENDED"));
                    if !(terminal || s.as_deref() == Some(status.as_str()) && !is_terminal_job(status)) {
                        return false;
                    }
                }
                Expect::App { deploy, state, .. } => {
                    let s = self.observed.last(*deploy, "app").map(|s| s.split('/').next().unwrap_or("").to_string());
                    let terminal = matches!(s.as_deref(), Some("FINISHED" | "FAILED" | "KILLED"));
                    if !(terminal || s.as_deref() == Some(state.as_str()) && !matches!(state.as_str(), "FINISHED" | "FAILED" | "KILLED")) {
                        return false;
                    }
                }
                Expect::OutputExactlyOnce { deploy }
                    if !matches!(self.observed.last(*deploy, "job"), Some("FINISHED" | "FAILED" | "CANCELED")) =>
                {
                    return false;
                }
                Expect::Savepoint { deploy, .. } if self.deploys[*deploy].ckpt.op_outcome.is_none() => return false,
                _ => {}
            }
        }
        true
    }

    /// Runs the scenario. Returns the result (verdicts included).
    pub fn run(&mut self) -> RunResult {
        let spec = self.spec;
        let nodes = spec.cluster.nodes;
        self.event(
            "cluster",
            format!(
                "cluster up: RM {} + {} NMs ({} MB, {} vcores each)",
                self.rm, nodes, spec.cluster.node_memory_mb, spec.cluster.node_vcores
            ),
        );
        let deadline = self.start + spec.timeout;
        self.sim.at(deadline, |_| {});
        // Deployment times and timed steps are wake-ups in the event queue.
        for d in &spec.deploys {
            self.sim.at(self.start + d.at, |_| {});
        }
        if !self.opts.no_steps {
            for s in &spec.steps {
                if let Trigger::At(t) = s.trigger {
                    self.sim.at(self.start + t + s.after, |_| {});
                }
            }
        }
        let mut failure: Option<String> = None;
        let mut settled_at: Option<Time> = None;
        let settle = Duration::from_secs(5);
        let poll = Duration::from_millis(10);
        let mut next_poll = self.start;
        loop {
            let now = self.sim.now();
            let mut changed = self.drain_trace();
            if self.ckpt_dirty || changed {
                changed |= self.observe_checkpoints();
            }
            if self.opts.check_invariants && changed {
                self.check_invariants();
            }
            // Deployments due.
            for i in 0..spec.deploys.len() {
                let d = &spec.deploys[i];
                if self.deploys[i].deployed || d.manual || now < self.start + d.at {
                    continue;
                }
                if let Some(s) = d.session {
                    // A `run` waits for its session's JobManager.
                    let ready = self.am_addr(s).is_some_and(|a| {
                        self.sim
                            .node::<FlinkAppMaster>(a)
                            .and_then(|am| am.resource_manager().map(|r| r.is_registered_with_yarn()))
                            .unwrap_or(false)
                    });
                    if !ready {
                        continue;
                    }
                }
                if let Err(e) = self.deploy(i) {
                    failure = Some(format!("deployment '{}' failed: {e}", d.name));
                }
            }
            // Heals due.
            let due: Vec<Action> = {
                let (due, keep): (Vec<_>, Vec<_>) = self.heals.drain(..).partition(|(t, _)| *t <= now);
                self.heals = keep;
                due.into_iter().map(|(_, a)| a).collect()
            };
            for a in due {
                if let Err(e) = self.apply(&a) {
                    self.event("note", format!("heal skipped: {e}"));
                }
            }
            let (due, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.engine_heals).into_iter().partition(|(t, _, _)| *t <= now);
            self.engine_heals = keep;
            for (_, f, what) in due {
                match self.sim.apply(f) {
                    Ok(()) => self.event("heal", what),
                    Err(e) => self.event("note", format!("heal skipped: {e}")),
                }
            }
            // Steps.
            let polling = now >= next_poll;
            if polling {
                next_poll = now + poll;
            }
            if !self.opts.no_steps {
                for (i, s) in spec.steps.iter().enumerate() {
                    if self.fired[i] {
                        continue;
                    }
                    let ready = match (&s.trigger, self.due[i]) {
                        (_, Some(t)) => now >= t,
                        (Trigger::At(t), None) => now >= self.start + *t + s.after,
                        (Trigger::When(w), None) => {
                            // Predicates are checked when a node's state changed and on the poll tick.
                            if (changed || polling) && self.predicate(w) {
                                if s.after.is_zero() {
                                    true
                                } else {
                                    self.due[i] = Some(now + s.after);
                                    self.sim.at(now + s.after, |_| {});
                                    self.event("step", format!("line {}: {w} held; acting in {:?}", s.line, s.after));
                                    false
                                }
                            } else {
                                false
                            }
                        }
                    };
                    if ready {
                        self.fired[i] = true;
                        if let Trigger::When(w) = &s.trigger {
                            if s.after.is_zero() {
                                self.event("step", format!("line {}: {w}", s.line));
                            }
                        }
                        if let Err(e) = self.apply(&s.action) {
                            if self.opts.lenient_steps {
                                self.event("note", format!("fault not applied: {e}"));
                            } else {
                                failure = Some(format!("step at line {} cannot be applied: {e}", s.line));
                            }
                        }
                    }
                }
            }
            if failure.is_some() {
                break;
            }
            let steps_done = self.opts.no_steps || self.fired.iter().all(|f| *f);
            if steps_done && self.heals.is_empty() && self.engine_heals.is_empty() && self.settled() {
                match settled_at {
                    None => {
                        settled_at = Some(now);
                        self.sim.at(now + settle, |_| {});
                    }
                    Some(t) if now >= t + settle => break,
                    Some(_) => {}
                }
            } else {
                settled_at = None;
            }
            if now >= deadline {
                let waiting: Vec<String> = spec
                    .steps
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !self.fired[*i] && !self.opts.no_steps)
                    .map(|(_, s)| match &s.trigger {
                        Trigger::When(w) => format!("step at line {} waited for {w}", s.line),
                        Trigger::At(t) => format!("step at line {} (at {:?}) never ran", s.line, t),
                    })
                    .collect();
                let what = if waiting.is_empty() { "the expected end states were not reached".to_string() } else { waiting.join("; ") };
                failure = Some(format!("timed out after {:?}: {what}", spec.timeout));
                break;
            }
            // A pending poll-only predicate needs wake-ups while nothing else happens.
            if polling
                && !self.opts.no_steps
                && spec.steps.iter().enumerate().any(|(i, s)| !self.fired[i] && matches!(s.trigger, Trigger::When(_)))
            {
                self.sim.at(next_poll, |_| {});
            }
            if !self.sim.step() {
                // Nothing left to happen: jump to the next wake-up or the deadline.
                self.sim.run_until(deadline);
            }
        }
        self.drain_trace();
        // Liveness (the job reaches its expected state once faults heal) is the verdicts' part.
        if self.opts.check_invariants {
            self.check_invariants();
        }
        let verdicts = self.verdicts(failure);
        let duration = self.t();
        let hash = self.sim.trace_hash();
        let result = RunResult {
            name: spec.name.clone(),
            mode: "sim".into(),
            seed: self.seed,
            events: std::mem::take(&mut self.events),
            verdicts,
            observed: std::mem::take(&mut self.observed),
            nodes,
            deploys: spec.deploys.iter().map(|d| d.name.clone()).collect(),
            trace_hash: hash,
            duration,
            skipped: None,
        };
        result
    }

    fn am_log(&self, d: usize) -> String {
        let Some(app) = self.app_of(d) else { return String::new() };
        let key = app.to_string();
        let key = key.trim_start_matches("application");
        let mut s = String::new();
        for nm in &self.nms {
            for (path, data) in self.sim.local_files_under(*nm.ip(), "/yarn/logs") {
                if path.ends_with("jobmanager.log") && path.contains(key) {
                    s.push_str(&String::from_utf8_lossy(data));
                }
            }
        }
        s
    }

    /// Committed lines of the deployment's file sinks.
    pub fn output(&mut self, d: usize) -> Option<CommittedOutput> {
        let g = self.deploys[d].jobs.first()?;
        let dirs = file_sink_dirs(g);
        if dirs.is_empty() {
            return None;
        }
        let mut out = CommittedOutput::default();
        for dir in dirs {
            let store = self.sim.store();
            let files: Vec<(String, Vec<u8>)> =
                store.list(&dir).unwrap_or_default().into_iter().filter_map(|p| store.read(&p).ok().map(|b| (p, b))).collect();
            out.add_files(files, &dir);
        }
        Some(out)
    }

    /// Containers still running on a NodeManager whose application is over (or unknown).
    fn leaked(&mut self) -> Vec<String> {
        let now = self.sim.now();
        let mut out = Vec::new();
        let nms = self.nms.clone();
        let finals: BTreeMap<String, bool> = match self.rm_node() {
            Some(r) => r.app_reports(now).into_iter().map(|a| (a.id.to_string(), a.state.is_final())).collect(),
            None => BTreeMap::new(),
        };
        for nm in nms {
            let Some(n) = self.sim.node::<NodeManager>(nm) else { continue };
            for c in n.containers(&mut |_| vec![]) {
                if !matches!(c.state.as_str(), "RUNNING" | "NEW" | "LOCALIZING" | "LOCALIZED" | "KILLING") {
                    continue;
                }
                let app = c.id.parse::<yarn_sim::ids::ContainerId>().map(|c| c.app().to_string()).unwrap_or_default();
                if finals.get(&app).copied().unwrap_or(true) {
                    out.push(c.id.clone());
                }
            }
        }
        out
    }

    fn verdicts(&mut self, failure: Option<String>) -> Vec<Verdict> {
        let spec = self.spec;
        let mut out = Vec::new();
        if let Some(f) = failure {
            out.push(Verdict { status: Status::Fail, text: f, line: 0 });
        }
        for e in &spec.expect {
            let (status, text) = self.check(&e.expect);
            out.push(Verdict { status, text, line: e.line });
        }
        for v in &self.violations {
            out.push(Verdict { status: Status::Fail, text: format!("invariant: {v}"), line: 0 });
        }
        out
    }

    fn check(&mut self, e: &Expect) -> (Status, String) {
        let pass = |ok: bool| if ok { Status::Pass } else { Status::Fail };
        match e {
            Expect::Job { deploy, status, within } => {
                let got = self.observed.last(*deploy, "job").unwrap_or("none").to_string();
                let when = self.observed.first_time(*deploy, "job", status);
                let mut ok = got == *status;
                let mut text = if ok { format!("job {status}") } else { format!("job {got}, expected {status}") };
                if let (true, Some(w)) = (ok, within) {
                    let t = when.unwrap_or(u64::MAX);
                    ok = t <= us(*w);
                    text = format!("{text} at {:.1}s (bound {:?})", t as f64 / 1e6, w);
                }
                (pass(ok), text)
            }
            Expect::App { deploy, state, final_status, within } => {
                let got = self.observed.last(*deploy, "app").unwrap_or("none/none").to_string();
                let (gs, gf) = got.split_once('/').unwrap_or((&got, ""));
                let mut ok = gs == state && final_status.as_ref().is_none_or(|f| f == gf);
                let want = match final_status {
                    Some(f) => format!("{state}/{f}"),
                    None => state.clone(),
                };
                let mut text = if ok { format!("app {want}") } else { format!("app {gs}/{gf}, expected {want}") };
                if let (true, Some(w)) = (ok, within) {
                    let t = self.observed.first_time(*deploy, "app", &got).unwrap_or(u64::MAX);
                    ok = t <= us(*w);
                    text = format!("{text} at {:.1}s (bound {:?})", t as f64 / 1e6, w);
                }
                (pass(ok), text)
            }
            Expect::OutputExactlyOnce { deploy } => {
                let Some(got) = self.output(*deploy) else {
                    return (Status::Fail, "output exactly-once: the job has no file sink to compare".into());
                };
                match reference_output(self.spec, self.seed, *deploy) {
                    Err(e) => (Status::Fail, format!("output exactly-once: the fault-free run failed: {e}")),
                    Ok(want) => match compare_output(&got.lines(), &want) {
                        Ok(n) => (Status::Pass, format!("output exactly-once ({n} lines = fault-free run)")),
                        Err(e) => (Status::Fail, format!("output exactly-once: {e}")),
                    },
                }
            }
            Expect::ContainersLeaked(n) => {
                let leaked = self.leaked();
                let ok = leaked.len() as u32 == *n;
                let text = if ok {
                    format!("{} containers leaked", leaked.len())
                } else {
                    format!("{} containers leaked, expected {n}: {}", leaked.len(), leaked.join(", "))
                };
                (pass(ok), text)
            }
            Expect::Attempts { deploy, n, cmp } => {
                let got: u64 = self.observed.last(*deploy, "attempt").and_then(|s| s.parse().ok()).unwrap_or(0);
                (pass(cmp.holds(got, *n as u64)), format!("{got} app attempts (expected {}{n})", cmp.word()))
            }
            Expect::Restarts { deploy, n, cmp } => {
                let got = self.observed.count(*deploy, "job", "RESTARTING") as u64;
                (pass(cmp.holds(got, *n as u64)), format!("{got} job restarts (expected {}{n})", cmp.word()))
            }
            Expect::Log { deploy, text, present } => {
                let log = self.am_log(*deploy);
                let seen = log.contains(text.as_str());
                let ok = seen == *present;
                let what = if *present { "seen" } else { "absent" };
                (pass(ok), format!("log {what}: \"{text}\"{}", if ok { "" } else { " (not so)" }))
            }
            Expect::Checkpoints { deploy, n, cmp } => {
                let got = self.deploys[*deploy].ckpt.completed.len() as u64;
                (pass(cmp.holds(got, *n as u64)), format!("{got} checkpoints completed (expected {}{n})", cmp.word()))
            }
            Expect::CheckpointsFailed { deploy, n, cmp } => {
                let got: u64 = self.deploys[*deploy].ckpt.num_failed.values().sum();
                (pass(cmp.holds(got, *n as u64)), format!("{got} checkpoints failed (expected {}{n})", cmp.word()))
            }
            Expect::CheckpointAcks { deploy } => {
                let c = &self.deploys[*deploy].ckpt;
                if let Some(v) = c.ack_violations.first() {
                    (Status::Fail, format!("checkpoint acknowledgements: {v}"))
                } else if c.completed.is_empty() {
                    (Status::Fail, "checkpoint acknowledgements: no checkpoint completed, nothing to check".into())
                } else {
                    (Status::Pass, format!("all {} completed checkpoints had every acknowledgement", c.completed.len()))
                }
            }
            Expect::RestoredFrom { deploy, n, cmp } => match self.deploys[*deploy].ckpt.restored {
                Some((_, id, _)) => (pass(cmp.holds(id, *n as u64)), format!("restored from checkpoint {id} (expected {}{n})", cmp.word())),
                None => (Status::Fail, format!("the job never restored from a checkpoint (expected {}{n})", cmp.word())),
            },
            Expect::Savepoint { deploy, completed } => {
                let want = if *completed { "COMPLETED" } else { "FAILED" };
                match &self.deploys[*deploy].ckpt.op_outcome {
                    Some(Ok(p)) => (pass(*completed), format!("savepoint COMPLETED ({p}), expected {want}")),
                    Some(Err(e)) => (pass(!*completed), format!("savepoint FAILED ({}), expected {want}", first_line(e))),
                    None => (Status::Fail, format!("the savepoint has no outcome (expected {want})")),
                }
            }
        }
    }

    fn check_invariants(&mut self) {
        let now = self.sim.now();
        let t = self.t();
        let nms = self.nms.clone();
        let mut per_node = Vec::new();
        for nm in &nms {
            let Some(n) = self.sim.node::<NodeManager>(*nm) else { continue };
            let cs: Vec<invariants::ContainerRow> = n
                .containers(&mut |_| vec![])
                .into_iter()
                .map(|c| (c.id, c.state, c.total_memory_needed_mb, c.total_vcores_needed))
                .collect();
            per_node.push((nm.ip().to_string(), cs));
        }
        let cap = (self.spec.cluster.node_memory_mb, self.spec.cluster.node_vcores);
        let acquired: Vec<(String, Duration)> = self.acquired.iter().map(|(c, at)| (c.clone(), now.since(*at))).collect();
        let live_apps: BTreeSet<String> = match self.rm_node() {
            Some(r) => r.app_reports(now).into_iter().filter(|a| !a.state.is_final()).map(|a| a.id.to_string()).collect(),
            None => BTreeSet::new(),
        };
        for v in invariants::check(t, &per_node, cap, &acquired, &live_apps) {
            if !self.violations.iter().any(|x| x.kind == v.kind) {
                self.violations.push(v);
            }
        }
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("")
}

fn is_terminal_job(s: &str) -> bool {
    matches!(s, "FINISHED" | "FAILED" | "CANCELED" | "SUSPENDED")
}

/// Fault-free outputs by (scenario text, deployment).
type ReferenceCache = BTreeMap<(String, usize), Result<Arc<ExpectedLines>, String>>;

/// Shared by the fuzz workers: one fault-free run per deployment, not one per seed.
static REFERENCE: Mutex<ReferenceCache> = Mutex::new(BTreeMap::new());

/// The committed output of the same deployment without the steps, memoized per deployment:
/// the programs' data are seeded by the program (`seed = 7`), not by the simulator, so the
/// fault-free committed lines (compared as a multiset) are the same for every simulator seed;
/// the first seed asked runs it. Shared, not copied: each seed reads the same lines.
pub fn reference_output(spec: &Spec, seed: u64, deploy: usize) -> Result<Arc<ExpectedLines>, String> {
    let key = (spec.text.clone(), deploy);
    if let Some(r) = REFERENCE.lock().expect("reference cache").get(&key).cloned() {
        return r;
    }
    let r = reference_inner(spec, seed, deploy).map(|v| Arc::new(ExpectedLines::new(v)));
    REFERENCE.lock().expect("reference cache").insert(key, r.clone());
    r
}

fn reference_inner(spec: &Spec, seed: u64, deploy: usize) -> Result<Vec<String>, String> {
    let mut s = spec.clone();
    s.steps.clear();
    // Only the job's own end state matters for the reference.
    s.expect = vec![crate::spec::ExpectAt { line: 0, expect: Expect::Job { deploy, status: "FINISHED".into(), within: None } }];
    let mut run = SimRun::new(&s, seed, SimOptions { no_steps: true, ..Default::default() })?;
    let res = run.run();
    if let Some(v) = res.verdicts.iter().find(|v| v.status == Status::Fail) {
        return Err(v.text.clone());
    }
    run.output(deploy).map(|o| o.owned_lines()).ok_or_else(|| "no file sink".into())
}
