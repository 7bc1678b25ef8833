//! A whole YARN cluster inside the deterministic simulator: an RM, N NodeManagers on their own
//! machines, and distributed-shell applications, all the same node code as live. Used by the
//! sim tests, `yarn-sim simulate` and the benchmark.

use std::net::Ipv4Addr;
use std::time::Duration;

use engine::sim::{Registry, Sim, SimConfig};
use engine::{Addr, Store, Time, Trace};
use rand::{Rng as _, SeedableRng};

use crate::conf::Configuration;
use crate::dshell::{DistributedShellAm, DshellArgs, SHELL_COMMAND_RESOURCE};
use crate::ids::ApplicationId;
use crate::nm::{NmConfig, NodeManager};
use crate::proto::RemoteError;
use crate::records::{ApplicationSubmissionContext, ContainerLaunchContext, LocalResource, Resource, YarnApplicationState};
use crate::rm::{ResourceManager, RmConfig};

pub const RM_PORT: u16 = 8088;
pub const NM_PORT: u16 = 8041;

#[derive(Clone)]
pub struct SimClusterConfig {
    pub seed: u64,
    pub nodes: u32,
    pub node_memory_mb: u64,
    pub node_vcores: u32,
    /// yarn-site.xml overrides (queues, intervals, ...).
    pub conf: Configuration,
    /// The NodeManagers start one after another over this span (evenly), as the machines
    /// of a real cluster come up at their own moments, so their heartbeats keep those
    /// phases; zero (the default) starts every one at once, and their heartbeats come in a
    /// burst each interval.
    pub nm_start_spread: Duration,
}

impl SimClusterConfig {
    pub fn new(seed: u64, nodes: u32) -> Self {
        SimClusterConfig { seed, nodes, node_memory_mb: 8192, node_vcores: 8, conf: Configuration::new(), nm_start_spread: Duration::ZERO }
    }
}

/// Registers the programs YARN containers may run in the sim.
pub fn register_programs(reg: &mut Registry) {
    reg.register(
        "yarn-sim",
        Box::new(|env| match env.argv.get(1).map(|s| s.as_str()) {
            Some("dshell-am") => {
                let args = DshellArgs::parse(&env.argv[2..])?;
                Ok(Box::new(DistributedShellAm::new(args, env.spec.env.clone())))
            }
            other => Err(format!("yarn-sim: unknown subcommand {other:?}")),
        }),
    );
}

pub struct SimCluster {
    pub sim: Sim,
    pub rm: Addr,
    pub nms: Vec<Addr>,
    pub user: String,
    rm_conf: RmConfig,
}

/// One distributed-shell application to submit.
#[derive(Clone, Debug)]
pub struct DshellApp {
    pub shell_command: String,
    pub num_containers: u32,
    pub container_memory_mb: u64,
    pub master_memory_mb: u64,
    pub queue: String,
    pub max_app_attempts: i32,
    pub heartbeat_ms: u64,
}

impl DshellApp {
    pub fn new(cmd: &str, n: u32) -> DshellApp {
        DshellApp {
            shell_command: cmd.into(),
            num_containers: n,
            container_memory_mb: 1024,
            master_memory_mb: 1024,
            queue: "default".into(),
            max_app_attempts: 0,
            heartbeat_ms: 1000,
        }
    }
}

impl SimCluster {
    pub fn new(cfg: SimClusterConfig) -> Result<SimCluster, String> {
        SimCluster::with_trace(cfg, Trace::new())
    }

    pub fn with_trace(cfg: SimClusterConfig, trace: Trace) -> Result<SimCluster, String> {
        let mut sim_config = SimConfig::new(cfg.seed);
        if !cfg.nm_start_spread.is_zero() {
            // The calendar queue sized to the run: a heartbeat is about three events (the
            // NM's timer, the heartbeat, the answer), and with the starts spread the
            // heartbeats are spread as thin over each interval.
            let interval_ms = cfg.conf.get_u64("yarn.resourcemanager.nodemanagers.heartbeat-interval-ms", 1000)?.max(1);
            let spread_ms = (cfg.nm_start_spread.as_millis() as u64).clamp(1, interval_ms);
            sim_config.queue_bucket_shift = SimConfig::bucket_shift_for(3 * cfg.nodes as u64 * 1000 / spread_ms);
        }
        SimCluster::with_sim_config(cfg, sim_config, trace)
    }

    /// [`SimCluster::with_trace`] on a simulation configured by hand (the engine's own knobs:
    /// its network model, its queue's bucket width); `cfg.seed` is not used, `sim_config`'s is.
    pub fn with_sim_config(cfg: SimClusterConfig, sim_config: SimConfig, trace: Trace) -> Result<SimCluster, String> {
        let mut sim = Sim::with_trace(sim_config, trace);
        register_programs(sim.registry());
        let mut conf = cfg.conf.clone();
        let rm_host = sim.add_machine();
        let rm = Addr::new(rm_host, RM_PORT);
        conf.set("yarn.resourcemanager.webapp.address", rm);
        conf.set("yarn.resourcemanager.resource-tracker.address", rm);
        conf.set("yarn.nodemanager.resource.memory-mb", cfg.node_memory_mb);
        conf.set("yarn.nodemanager.resource.cpu-vcores", cfg.node_vcores);
        conf.set("yarn.nodemanager.local-dirs", "/yarn/local");
        conf.set("yarn.nodemanager.log-dirs", "/yarn/logs");
        let rm_conf = RmConfig::from_conf(&conf)?;
        sim.spawn(rm_host, RM_PORT, Box::new(ResourceManager::new(rm_conf.clone())));
        let mut nms = Vec::new();
        let spread = cfg.nm_start_spread.as_micros() as u64;
        for i in 0..cfg.nodes as u64 {
            let host = sim.add_machine();
            let nm_conf = NmConfig::from_conf(&conf, format!("{host}:8042"), "/etc/hadoop")?;
            // The NodeManager is the machine's boot daemon: a `MachineRestart` fault starts it again.
            let boot: engine::sim::Boot = Box::new(move || Box::new(NodeManager::new(nm_conf.clone())));
            let after = spread * i / cfg.nodes.max(1) as u64;
            if after == 0 {
                nms.push(sim.spawn_boot(host, NM_PORT, boot));
            } else {
                // Unless the machine was lost before its NodeManager came up (a restart
                // before then brings up nothing, since the boot daemon is set here).
                sim.at(sim.now() + Duration::from_micros(after), move |sim| {
                    if sim.machine_up(host) {
                        sim.spawn_boot(host, NM_PORT, boot);
                    }
                });
                nms.push(Addr::new(host, NM_PORT));
            }
        }
        Ok(SimCluster { sim, rm, nms, user: "sim".into(), rm_conf })
    }

    pub fn rm(&mut self) -> &mut ResourceManager {
        self.sim.node::<ResourceManager>(self.rm).expect("the RM is never removed")
    }

    /// `kill -9` of the ResourceManager, `down` of nothing, and a new one on the same address
    /// with the same configuration (recovery on or off as configured); the shared store survives.
    pub fn restart_resourcemanager(&mut self, down: Duration) -> Result<(), String> {
        self.sim.apply(engine::Fault::Kill { process: self.rm })?;
        self.sim.run_for(down);
        self.sim.spawn(*self.rm.ip(), self.rm.port(), Box::new(ResourceManager::new(self.rm_conf.clone())));
        Ok(())
    }

    /// Brings machine `i` back (after a loss) with a new NodeManager at the same address.
    pub fn restart_nodemanager(&mut self, i: usize) -> Result<(), String> {
        let host = self.nm_host(i);
        self.sim.apply(engine::Fault::MachineRestart { host })
    }

    pub fn nm_host(&self, i: usize) -> Ipv4Addr {
        *self.nms[i].ip()
    }

    /// What a client does: new-application, stage the command, submit.
    pub fn submit_dshell(&mut self, app: &DshellApp) -> Result<ApplicationId, RemoteError> {
        let rm = self.rm;
        let (id, _max) = self.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.new_application(cx)).expect("RM is up");
        let rel = format!(".yarn-sim/dshell/{id}/{SHELL_COMMAND_RESOURCE}");
        self.sim.store().write(&rel, app.shell_command.as_bytes()).map_err(|e| RemoteError::yarn(e.to_string()))?;
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.application_name = "DistributedShell".into();
        ctx.queue = app.queue.clone();
        ctx.max_app_attempts = app.max_app_attempts;
        ctx.resource = Resource::new(app.master_memory_mb, 1);
        let mut launch = ContainerLaunchContext::default();
        launch.local_resources.insert(
            SHELL_COMMAND_RESOURCE.into(),
            LocalResource {
                resource: rel,
                kind: Default::default(),
                visibility: Default::default(),
                size: app.shell_command.len() as i64,
                timestamp: 0,
            },
        );
        launch.commands.push(format!(
            "yarn-sim dshell-am --num_containers {} --container_memory {} --heartbeat_ms {} 1><LOG_DIR>/AppMaster.stdout 2><LOG_DIR>/AppMaster.stderr",
            app.num_containers, app.container_memory_mb, app.heartbeat_ms
        ));
        ctx.am_container_spec = launch;
        let user = self.user.clone();
        self.sim.with_node::<ResourceManager, _>(rm, |r, cx| r.submit_application(cx, ctx, &user)).expect("RM is up")?;
        Ok(id)
    }

    pub fn state(&mut self, id: &ApplicationId) -> Option<(YarnApplicationState, String)> {
        let now = self.sim.now();
        self.rm().app_report(id, now).map(|r| (r.state, r.final_status.to_string()))
    }

    /// Runs until the app is FINISHED, FAILED or KILLED, or `limit` of virtual time passes.
    pub fn run_until_done(&mut self, id: &ApplicationId, limit: Duration) -> Option<(YarnApplicationState, String)> {
        let rm = self.rm;
        let id = *id;
        self.sim.run_until_true(limit, |sim| {
            let now = sim.now();
            sim.node::<ResourceManager>(rm).and_then(|r| r.app_report(&id, now)).map(|r| r.state.is_final()).unwrap_or(false)
        });
        self.state(&id)
    }
}

/// `yarn-sim simulate`: many nodes, many dshell apps with lifetimes drawn from the seed.
pub struct SimulateOpts {
    pub seed: u64,
    pub nodes: u32,
    pub apps: u32,
    /// Apps arrive uniformly over this window.
    pub arrival_window: Duration,
    /// Stop after this much virtual time even if apps remain (and when `apps` is 0).
    pub max_time: Duration,
    pub max_containers_per_app: u32,
    /// A fixed number of containers per app instead of a draw from 1..=max.
    pub containers_per_app: Option<u32>,
    pub max_container_secs: u32,
    /// The NodeManagers start evenly over this span ([`SimClusterConfig::nm_start_spread`]).
    pub nm_start_spread: Duration,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SimulateReport {
    pub simulated: Duration,
    pub events: u64,
    pub containers_allocated: u64,
    pub apps_finished: u32,
    pub apps_succeeded: u32,
    pub trace_hash: u64,
}

pub fn simulate(o: &SimulateOpts) -> Result<SimulateReport, String> {
    simulate_and_keep(o).map(|(report, _cluster)| report)
}

/// [`simulate`], handing back the cluster as it ended. `yarn-sim simulate` exits right after
/// printing the report, so it forgets the cluster instead of dropping it: freeing every
/// process, container record and trace buffer one by one took a tenth of the run's wall time
/// at 10,000 nodes, and the OS reclaims the memory at exit in one go.
pub fn simulate_and_keep(o: &SimulateOpts) -> Result<(SimulateReport, SimCluster), String> {
    simulate_observed(o, |_| {})
}

/// How often [`simulate_observed`] reports progress, in simulated time.
pub const PROGRESS_EVERY: Duration = Duration::from_millis(2);

/// [`simulate_and_keep`], calling `progress(containers allocated so far)`
/// every [`PROGRESS_EVERY`] of simulated time (when there are apps). `yarn-sim
/// simulate` times the allocation waves with it on the wall clock, which the simulation
/// itself never reads. Stepping the clock in slices changes no event: the run and its trace
/// hash are the same as without it.
pub fn simulate_observed(o: &SimulateOpts, mut progress: impl FnMut(u64)) -> Result<(SimulateReport, SimCluster), String> {
    let mut cfg = SimClusterConfig::new(o.seed, o.nodes);
    cfg.nm_start_spread = o.nm_start_spread;
    // YARN's own defaults for intervals: the sim has no reason to hurry.
    cfg.conf.set("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5");
    let mut c = SimCluster::new(cfg)?;
    let mut rng = engine::Rng::seed_from_u64(o.seed ^ 0x5151);
    let start = c.sim.now();
    let mut arrivals: Vec<(Time, DshellApp)> = (0..o.apps)
        .map(|_| {
            let at = start + Duration::from_millis(rng.random_range(0..=o.arrival_window.as_millis().max(1) as u64));
            let drawn = rng.random_range(1..=o.max_containers_per_app.max(1));
            let n = o.containers_per_app.unwrap_or(drawn);
            let secs = rng.random_range(1..=o.max_container_secs.max(1));
            let mem = [512u64, 1024, 2048][rng.random_range(0..3usize)];
            let mut app = DshellApp::new(&format!("sleep {secs}"), n);
            app.container_memory_mb = mem;
            (at, app)
        })
        .collect();
    arrivals.sort_by_key(|(t, _)| *t);
    // Without apps there is nothing to observe: the clock moves in one step.
    let every = if arrivals.is_empty() { o.max_time } else { PROGRESS_EVERY };
    let mut advance = |c: &mut SimCluster, until: Time| {
        while c.sim.now() < until {
            let slice = (c.sim.now() + every).min(until);
            c.sim.run_until(slice);
            progress(c.rm().containers_allocated_total());
        }
    };
    let mut ids = Vec::new();
    for (at, app) in arrivals {
        advance(&mut c, at);
        if let Ok(id) = c.submit_dshell(&app) {
            ids.push(id);
        }
    }
    let limit = start + o.max_time;
    let rm = c.rm;
    while c.sim.now() < limit {
        let step_to = (c.sim.now() + Duration::from_secs(10)).min(limit);
        advance(&mut c, step_to);
        let now = c.sim.now();
        let done = ids
            .iter()
            .all(|id| c.sim.node::<ResourceManager>(rm).and_then(|r| r.app_report(id, now)).map(|r| r.state.is_final()).unwrap_or(true));
        if done && !ids.is_empty() {
            break;
        }
    }
    let now = c.sim.now();
    let reports: Vec<_> = ids.iter().filter_map(|id| c.rm().app_report(id, now)).collect();
    let report = SimulateReport {
        simulated: now.since(start),
        events: c.sim.events(),
        containers_allocated: c.rm().containers_allocated_total(),
        apps_finished: reports.iter().filter(|r| r.state.is_final()).count() as u32,
        apps_succeeded: reports.iter().filter(|r| r.final_status.to_string() == "SUCCEEDED").count() as u32,
        trace_hash: c.sim.trace_hash(),
    };
    Ok((report, c))
}
