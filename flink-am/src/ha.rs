//! Flink's HA services on ZooKeeper (reference §7), as a sans-IO part of the AM node:
//! one leader election per JobManager process (a Curator-style latch: the lowest
//! EPHEMERAL_SEQUENTIAL child of `leader/latch` wins), the leader's `connection_info`
//! (address + leader session id) for leader retrieval, the JobGraph store, the
//! completed-checkpoint store and checkpoint-id counter (pointers in ZooKeeper, data under
//! `high-availability.storageDir` on the shared store) and the job result store.
//!
//! Everything goes through [`ZkClient`], i.e. `zk` messages to the quorum address: in the
//! sim that is a [`flink_core::zookeeper::ZooKeeperServer`] node; the same AM code would
//! talk to a real server through a driver-side bridge (see the README).

use std::collections::BTreeMap;

use engine::{Addr, Cx};
use flink_core::zookeeper::{encode_leader, ZkClient, ZkError, ZkEvent, ZkOp, ZkPaths, ZkReply};
use flink_core::{CheckpointId, JobGraph, JobId};
use serde::{Deserialize, Serialize};

/// `high-availability.*` settings of this AM.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HaConfig {
    /// `high-availability.zookeeper.quorum` (one server here).
    pub quorum: Addr,
    /// `high-availability.storageDir` as a shared-store path.
    pub storage_dir: String,
    /// `high-availability.cluster-id` (on YARN the application id when unset).
    pub cluster_id: String,
    /// `high-availability.zookeeper.path.root`.
    pub root: String,
    /// `high-availability.zookeeper.client.session-timeout`.
    pub session_timeout_ms: u64,
    /// `high-availability.zookeeper.client.connection-timeout` (15 s in Flink): a quorum not
    /// reached within it is a fatal error, not an AM waiting forever.
    pub connection_timeout_ms: u64,
}

impl HaConfig {
    pub fn paths(&self) -> ZkPaths {
        ZkPaths::new(&self.root, &self.cluster_id)
    }
    fn data_dir(&self) -> String {
        format!("{}/{}", self.storage_dir.trim_end_matches('/'), self.cluster_id)
    }
    fn job_result_dir(&self) -> String {
        format!("{}/job-result-store/{}", self.storage_dir.trim_end_matches('/'), self.cluster_id)
    }
    pub fn dirty_result(&self, job: &JobId) -> String {
        format!("{}/{job}_DIRTY.json", self.job_result_dir())
    }
}

/// The leader election's state (LeaderElectionDriver + LeaderContender in one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Election {
    /// Opening a ZooKeeper session.
    Connecting,
    /// Our latch node (once created) is not the lowest yet.
    Contending { latch: Option<String> },
    /// Granted: the leader session id fences this leader's messages.
    Leader { latch: String, session_id: String },
    /// Leadership (or the chance of it) is gone for good in this process.
    Revoked,
}

/// A job the new leader found in the stores.
#[derive(Clone, Debug, PartialEq)]
pub struct RecoveredJob {
    pub graph: JobGraph,
    /// Store path of the latest completed checkpoint's directory.
    pub checkpoint: Option<String>,
    /// The checkpoint-id counter's value (the next id to use).
    pub counter: Option<CheckpointId>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HaEvent {
    Granted {
        session_id: String,
    },
    Revoked {
        reason: String,
    },
    Recovered(Vec<RecoveredJob>),
    /// A store could not be read: recovery must not go on with a silently empty job list.
    RecoveryFailed(String),
    /// ZooKeeper could not be reached at all.
    Unreachable(String),
    CheckpointPersisted {
        job: JobId,
        id: CheckpointId,
    },
    CheckpointPersistFailed {
        job: JobId,
        id: CheckpointId,
        error: String,
    },
}

/// What a pending ZooKeeper request was for.
#[derive(Clone, Debug)]
enum Pending {
    CreateLatch,
    ListLatch,
    WatchPredecessor,
    PublishLeader,
    ListPlans,
    ReadPlan(JobId),
    ListCheckpoints(JobId),
    ReadCheckpoint(JobId),
    ReadCounter(JobId),
    PutPlan(JobId),
    PutCheckpoint(JobId, CheckpointId),
    Quiet,
    Cleanup(JobId),
}

/// The pointer file a checkpoint's ZooKeeper node names (Flink: a serialized
/// RetrievableStateHandle<CompletedCheckpoint>).
#[derive(Serialize, Deserialize)]
struct CheckpointPointer {
    job_id: JobId,
    checkpoint_id: CheckpointId,
    location: String,
}

pub struct HaServices {
    pub cfg: HaConfig,
    paths: ZkPaths,
    zk: ZkClient,
    pub election: Election,
    pending: BTreeMap<u64, Pending>,
    events: Vec<HaEvent>,
    /// Recovery in progress: jobs found so far, by id.
    recovering: Option<BTreeMap<JobId, RecoveredJob>>,
    /// Checkpoint pointer nodes written, per job (to delete subsumed ones).
    persisted: BTreeMap<JobId, Vec<CheckpointId>>,
    /// The counter value last written, per job.
    counters: BTreeMap<JobId, CheckpointId>,
    address: Option<Addr>,
    /// Since when this process tries to open its first session (None once it had one).
    connecting_since: Option<engine::Time>,
}

fn job_of(name: &str) -> Option<JobId> {
    name.parse().ok()
}

impl HaServices {
    pub fn new(cfg: HaConfig) -> HaServices {
        let zk = ZkClient::new(cfg.quorum, cfg.session_timeout_ms);
        HaServices {
            paths: cfg.paths(),
            cfg,
            zk,
            election: Election::Connecting,
            pending: BTreeMap::new(),
            events: Vec::new(),
            recovering: None,
            persisted: BTreeMap::new(),
            counters: BTreeMap::new(),
            address: None,
            connecting_since: None,
        }
    }

    pub fn take_events(&mut self) -> Vec<HaEvent> {
        std::mem::take(&mut self.events)
    }

    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    pub fn is_leader(&self) -> bool {
        matches!(self.election, Election::Leader { .. })
    }

    pub fn leader_session_id(&self) -> Option<&str> {
        match &self.election {
            Election::Leader { session_id, .. } => Some(session_id),
            _ => None,
        }
    }

    /// Starts the leader election for this process, reachable at `address`.
    pub fn start(&mut self, cx: &mut Cx, address: Addr) {
        self.address = Some(address);
        cx.print(&format!(
            "INFO  Using ZooKeeper HA services: quorum {}, root {}, storage {}.",
            self.cfg.quorum,
            self.paths.base,
            self.cfg.data_dir()
        ));
        self.connecting_since = Some(cx.now());
        self.zk.connect(cx);
    }

    fn send(&mut self, cx: &mut Cx, op: ZkOp, what: Pending) {
        if let Some(xid) = self.zk.request(cx, op) {
            self.pending.insert(xid, what);
        }
    }

    pub fn tick(&mut self, cx: &mut Cx) {
        if let Some(since) = self.connecting_since {
            if cx.now().since(since) > std::time::Duration::from_millis(self.cfg.connection_timeout_ms) {
                self.connecting_since = None;
                self.election = Election::Revoked;
                self.events.push(HaEvent::Unreachable(format!(
                    "Could not connect to ZooKeeper quorum {} within {} ms (high-availability.zookeeper.client.connection-timeout).",
                    self.cfg.quorum, self.cfg.connection_timeout_ms
                )));
                return;
            }
        }
        let evs = self.zk.tick(cx);
        self.on_events(cx, evs);
    }

    /// Before the leader acts: a session that may have expired (nothing heard for 2/3 of its
    /// timeout, e.g. after this process was paused) revokes leadership first.
    pub fn check_lease(&mut self, cx: &mut Cx) {
        let evs = self.zk.check_liveness(cx);
        self.on_events(cx, evs);
    }

    /// The owner knows the session may be gone (e.g. the process was not running for most of
    /// the session timeout): leadership ends as on a suspended connection.
    pub fn suspend(&mut self, cx: &mut Cx, reason: String) {
        self.revoke(cx, reason);
    }

    pub fn on_msg(&mut self, cx: &mut Cx, from: Addr, msg: flink_core::zookeeper::ZkMsg) {
        let evs = self.zk.on_msg(cx, from, msg);
        self.on_events(cx, evs);
    }

    fn revoke(&mut self, cx: &mut Cx, reason: String) {
        match self.election {
            Election::Leader { .. } => {
                cx.print(&format!("WARN  Leadership revoked: {reason}."));
                self.election = Election::Revoked;
                self.events.push(HaEvent::Revoked { reason });
            }
            Election::Revoked => {}
            // Not leader yet: contend again with a new session.
            Election::Connecting | Election::Contending { .. } => {
                self.pending.clear();
                self.election = Election::Connecting;
                self.zk.connect(cx);
            }
        }
    }

    fn on_events(&mut self, cx: &mut Cx, evs: Vec<ZkEvent>) {
        for ev in evs {
            match ev {
                ZkEvent::Connected => {
                    self.connecting_since = None;
                    if self.election == Election::Connecting {
                        self.election = Election::Contending { latch: None };
                        let op = ZkOp::Create {
                            path: format!("{}/latch-", self.paths.latch_dir()),
                            data: Vec::new(),
                            ephemeral: true,
                            sequential: true,
                            parents: true,
                        };
                        self.send(cx, op, Pending::CreateLatch);
                    }
                }
                ZkEvent::ConnectionLost { reason } => self.revoke(cx, reason),
                ZkEvent::Watch { path, .. } => {
                    // Our predecessor went away (or something else under the latch changed).
                    if matches!(self.election, Election::Contending { latch: Some(_) }) && path.starts_with(&self.paths.latch_dir()) {
                        self.list_latch(cx);
                    }
                }
                ZkEvent::Reply { xid, result } => {
                    if let Some(p) = self.pending.remove(&xid) {
                        self.on_reply(cx, p, result);
                    }
                }
            }
        }
    }

    fn list_latch(&mut self, cx: &mut Cx) {
        let op = ZkOp::GetChildren { path: self.paths.latch_dir(), watch: false };
        self.send(cx, op, Pending::ListLatch);
    }

    fn on_reply(&mut self, cx: &mut Cx, p: Pending, result: Result<ZkReply, ZkError>) {
        match (p, result) {
            (Pending::CreateLatch, Ok(ZkReply::Created { path })) => {
                self.election = Election::Contending { latch: Some(path) };
                self.list_latch(cx);
            }
            (Pending::ListLatch, Ok(ZkReply::Children { mut names })) => {
                let Election::Contending { latch: Some(mine) } = self.election.clone() else { return };
                names.sort_by_key(|n| n.rsplit('-').next().unwrap_or("").to_string());
                let my_name = mine.rsplit('/').next().unwrap_or("").to_string();
                match names.iter().position(|n| *n == my_name) {
                    Some(0) => self.grant(cx, mine),
                    Some(i) => {
                        let pred = format!("{}/{}", self.paths.latch_dir(), names[i - 1]);
                        cx.print(&format!("INFO  Waiting for leadership: {pred} is ahead of {mine}."));
                        self.send(cx, ZkOp::Exists { path: pred, watch: true }, Pending::WatchPredecessor);
                    }
                    None => self.revoke(cx, "our latch node disappeared".into()),
                }
            }
            (Pending::WatchPredecessor, Ok(ZkReply::Stat { version: None })) => self.list_latch(cx),
            (Pending::WatchPredecessor, Ok(_)) => {}
            (Pending::PublishLeader, Ok(_)) => {}
            (Pending::PublishLeader, Err(ZkError::NodeExists)) => {
                // A node of the previous leader's session not expired yet cannot be ours to
                // replace; with one latch this only happens if the old session outlived its
                // latch, so write over it.
                if let (Some(addr), Some(id)) = (self.address, self.leader_session_id().map(str::to_string)) {
                    let op = ZkOp::SetData {
                        path: self.paths.connection_info("resource_manager"),
                        data: encode_leader(addr, &id),
                        version: None,
                    };
                    self.send(cx, op, Pending::Quiet);
                }
            }
            // Recovery chain.
            (Pending::ListPlans, Ok(ZkReply::Children { names })) => {
                for n in names {
                    match job_of(&n) {
                        Some(job) => {
                            if cx.store().exists(&self.cfg.dirty_result(&job)) {
                                cx.print(&format!("INFO  Job {job} has a job result entry: only its cleanup runs again."));
                                self.cleanup(cx, job);
                                continue;
                            }
                            cx.print(&format!("INFO  Trying to recover job with job id {job}."));
                            self.send(
                                cx,
                                ZkOp::GetData { path: format!("{}/{n}", self.paths.execution_plans()), watch: false },
                                Pending::ReadPlan(job),
                            );
                        }
                        None => self.fail_recovery(cx, format!("'{n}' under {} is not a job id", self.paths.execution_plans())),
                    }
                }
                self.maybe_recovered();
            }
            (Pending::ListPlans, Err(ZkError::NoNode)) => self.maybe_recovered(),
            (Pending::ReadPlan(job), Ok(ZkReply::Data { data, .. })) => {
                let path = String::from_utf8_lossy(&data).to_string();
                let graph = cx
                    .store()
                    .read(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| serde_json::from_slice::<JobGraph>(&b).map_err(|e| format!("corrupt JobGraph: {e}")));
                match graph {
                    Ok(g) if g.job_id == job => {
                        cx.print(&format!("INFO  Recovered JobGraph(jobId: {job})."));
                        if let Some(r) = self.recovering.as_mut() {
                            r.insert(job, RecoveredJob { graph: g, checkpoint: None, counter: None });
                        }
                        let op = ZkOp::GetChildren { path: self.paths.checkpoints(&job.to_string()), watch: false };
                        self.send(cx, op, Pending::ListCheckpoints(job));
                    }
                    Ok(g) => self.fail_recovery(cx, format!("{path} holds job {} where {job} was expected", g.job_id)),
                    Err(e) => self.fail_recovery(cx, format!("Could not retrieve the JobGraph of job {job} from {path}: {e}")),
                }
            }
            (Pending::ListCheckpoints(job), Ok(ZkReply::Children { names })) => {
                match names.iter().filter_map(|n| n.parse::<u64>().ok().map(|id| (id, n))).max() {
                    Some((_, n)) => {
                        let op = ZkOp::GetData { path: format!("{}/{n}", self.paths.checkpoints(&job.to_string())), watch: false };
                        self.send(cx, op, Pending::ReadCheckpoint(job));
                    }
                    None => self.read_counter(cx, job),
                }
            }
            (Pending::ListCheckpoints(job), Err(ZkError::NoNode)) => self.read_counter(cx, job),
            (Pending::ReadCheckpoint(job), Ok(ZkReply::Data { data, .. })) => {
                let path = String::from_utf8_lossy(&data).to_string();
                let ptr =
                    cx.store().read(&path).map_err(|e| e.to_string()).and_then(|b| {
                        serde_json::from_slice::<CheckpointPointer>(&b).map_err(|e| format!("corrupt checkpoint pointer: {e}"))
                    });
                match ptr {
                    Ok(p) => {
                        self.persisted.entry(job).or_default().push(p.checkpoint_id);
                        if let Some(r) = self.recovering.as_mut().and_then(|r| r.get_mut(&job)) {
                            r.checkpoint = Some(p.location);
                        }
                        self.read_counter(cx, job);
                    }
                    Err(e) => self.fail_recovery(cx, format!("Could not read the completed checkpoint of job {job} from {path}: {e}")),
                }
            }
            (Pending::ReadCounter(job), Ok(ZkReply::Data { data, .. })) => {
                let v = String::from_utf8_lossy(&data).trim().parse::<u64>();
                match v {
                    Ok(v) => {
                        self.counters.insert(job, v);
                        if let Some(r) = self.recovering.as_mut().and_then(|r| r.get_mut(&job)) {
                            r.counter = Some(v);
                        }
                        self.maybe_recovered();
                    }
                    Err(_) => self.fail_recovery(cx, format!("corrupt checkpoint id counter of job {job}")),
                }
            }
            (Pending::ReadCounter(_), Err(ZkError::NoNode)) => self.maybe_recovered(),
            (Pending::PutCheckpoint(job, id), Ok(_)) => {
                self.persisted.entry(job).or_default().push(id);
                self.events.push(HaEvent::CheckpointPersisted { job, id });
            }
            (Pending::PutCheckpoint(job, id), Err(e)) => {
                self.events.push(HaEvent::CheckpointPersistFailed { job, id, error: e.to_string() })
            }
            (Pending::PutPlan(job), Err(e)) => cx.print(&format!("ERROR Could not persist the JobGraph of job {job}: {e}")),
            (Pending::Cleanup(job), Ok(_) | Err(ZkError::NoNode)) => {
                // job-result-store.delete-on-commit: the entry goes once cleanup is done.
                let _ = cx.store().delete(&self.cfg.dirty_result(&job));
                cx.print(&format!("INFO  Cleaned up the HA data of job {job}."));
            }
            (Pending::PutPlan(_) | Pending::Quiet | Pending::Cleanup(_), _) => {}
            (p, Err(e)) => {
                let what = format!("{p:?}");
                if self.recovering.is_some() {
                    self.fail_recovery(cx, format!("ZooKeeper request {what} failed: {e}"));
                } else if !matches!(self.election, Election::Leader { .. } | Election::Revoked) {
                    self.revoke(cx, format!("ZooKeeper request {what} failed: {e}"));
                }
            }
            (p, Ok(r)) => cx.print(&format!("WARN  Unexpected ZooKeeper reply to {p:?}: {r:?}")),
        }
    }

    fn grant(&mut self, cx: &mut Cx, latch: String) {
        let hex = cx.random_hex32();
        let session_id = format!("{}-{}-{}-{}-{}", &hex[0..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        cx.print(&format!("INFO  Granted leadership with session id {session_id} ({latch})."));
        self.election = Election::Leader { latch, session_id: session_id.clone() };
        if let Some(addr) = self.address {
            let op = ZkOp::Create {
                path: self.paths.connection_info("resource_manager"),
                data: encode_leader(addr, &session_id),
                ephemeral: true,
                sequential: false,
                parents: true,
            };
            self.send(cx, op, Pending::PublishLeader);
        }
        self.events.push(HaEvent::Granted { session_id });
    }

    /// Dispatcher recovery: every persisted JobGraph that is not finished, with its latest
    /// checkpoint and counter; ends in `Recovered` or `RecoveryFailed`.
    pub fn recover(&mut self, cx: &mut Cx) {
        cx.print("INFO  Recover all persisted job graphs that are not finished, yet.");
        self.recovering = Some(BTreeMap::new());
        self.send(cx, ZkOp::GetChildren { path: self.paths.execution_plans(), watch: false }, Pending::ListPlans);
    }

    fn read_counter(&mut self, cx: &mut Cx, job: JobId) {
        self.send(cx, ZkOp::GetData { path: self.paths.counter(&job.to_string()), watch: false }, Pending::ReadCounter(job));
    }

    fn recovery_pending(&self) -> bool {
        self.pending.values().any(|p| {
            matches!(
                p,
                Pending::ListPlans
                    | Pending::ReadPlan(_)
                    | Pending::ListCheckpoints(_)
                    | Pending::ReadCheckpoint(_)
                    | Pending::ReadCounter(_)
            )
        })
    }

    fn maybe_recovered(&mut self) {
        if self.recovering.is_some() && !self.recovery_pending() {
            let jobs: Vec<RecoveredJob> = self.recovering.take().expect("checked").into_values().collect();
            self.events.push(HaEvent::Recovered(jobs));
        }
    }

    fn fail_recovery(&mut self, _cx: &mut Cx, e: String) {
        if self.recovering.take().is_some() {
            self.events.push(HaEvent::RecoveryFailed(e));
        }
    }

    /// JobGraph store: the graph into storageDir, its pointer into ZooKeeper.
    pub fn put_job_graph(&mut self, cx: &mut Cx, graph: &JobGraph) -> Result<(), String> {
        let hex = cx.random_hex32();
        let path = format!("{}/submittedExecutionPlan{}", self.cfg.data_dir(), &hex[..12]);
        let bytes = serde_json::to_vec(graph).map_err(|e| e.to_string())?;
        cx.store().write(&path, &bytes).map_err(|e| format!("Could not persist the JobGraph in {path}: {e}"))?;
        let op = ZkOp::Create {
            path: format!("{}/{}", self.paths.execution_plans(), graph.job_id),
            data: path.into_bytes(),
            ephemeral: false,
            sequential: false,
            parents: true,
        };
        self.send(cx, op, Pending::PutPlan(graph.job_id));
        Ok(())
    }

    /// Completed-checkpoint store: the pointer file and node for `id`; older pointers not in
    /// `retained` go. `CheckpointPersisted` comes when ZooKeeper has it.
    pub fn put_checkpoint(&mut self, cx: &mut Cx, job: JobId, id: CheckpointId, location: &str, retained: &[CheckpointId]) {
        let hex = cx.random_hex32();
        let path = format!("{}/completedCheckpoint{}", self.cfg.data_dir(), &hex[..12]);
        let ptr = CheckpointPointer { job_id: job, checkpoint_id: id, location: location.to_string() };
        if let Err(e) = cx.store().write(&path, &serde_json::to_vec(&ptr).expect("serializes")) {
            self.events.push(HaEvent::CheckpointPersistFailed { job, id, error: e.to_string() });
            return;
        }
        let op = ZkOp::Create {
            path: format!("{}/{id:019}", self.paths.checkpoints(&job.to_string())),
            data: path.into_bytes(),
            ephemeral: false,
            sequential: false,
            parents: true,
        };
        if self.zk.is_connected() {
            self.send(cx, op, Pending::PutCheckpoint(job, id));
        } else {
            self.events.push(HaEvent::CheckpointPersistFailed { job, id, error: "no ZooKeeper session".into() });
            return;
        }
        let old: Vec<CheckpointId> =
            self.persisted.get(&job).map(|v| v.iter().copied().filter(|c| !retained.contains(c) && *c != id).collect()).unwrap_or_default();
        for c in old {
            let op = ZkOp::Delete { path: format!("{}/{c:019}", self.paths.checkpoints(&job.to_string())), version: None, recursive: true };
            self.send(cx, op, Pending::Quiet);
            if let Some(v) = self.persisted.get_mut(&job) {
                v.retain(|x| *x != c);
            }
        }
    }

    /// The checkpoint-id counter (Flink's SharedCount), written when the next id changes.
    pub fn update_counter(&mut self, cx: &mut Cx, job: JobId, next: CheckpointId) {
        if self.counters.get(&job) == Some(&next) || !self.is_leader() {
            return;
        }
        let path = self.paths.counter(&job.to_string());
        let data = next.to_string().into_bytes();
        let op = if self.counters.contains_key(&job) {
            ZkOp::SetData { path, data, version: None }
        } else {
            ZkOp::Create { path, data, ephemeral: false, sequential: false, parents: true }
        };
        self.counters.insert(job, next);
        self.send(cx, op, Pending::Quiet);
    }

    /// A job reached a globally terminal state: the job result store gets a dirty entry,
    /// its ZooKeeper data goes, then the entry.
    pub fn job_terminated(&mut self, cx: &mut Cx, job: JobId, status: &str) {
        let entry = serde_json::json!({"result": {"id": job.to_string(), "application-status": status}, "version": 1});
        let _ = cx.store().write(&self.cfg.dirty_result(&job), entry.to_string().as_bytes());
        self.cleanup(cx, job);
    }

    fn cleanup(&mut self, cx: &mut Cx, job: JobId) {
        let op = ZkOp::Delete { path: format!("{}/{job}", self.paths.execution_plans()), version: None, recursive: true };
        self.send(cx, op, Pending::Quiet);
        let op = ZkOp::Delete { path: self.paths.job(&job.to_string()), version: None, recursive: true };
        self.send(cx, op, Pending::Cleanup(job));
        self.persisted.remove(&job);
        self.counters.remove(&job);
    }
}
