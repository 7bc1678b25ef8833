//! The AM side of ApplicationMasterProtocol, like Hadoop's `AMRMClient`: it keeps the
//! outstanding asks table (totals per priority and capability, re-sent on every allocate),
//! pending releases, the responseId handshake, and one allocate in flight at a time. It is a
//! helper owned by an AM node, not a node itself.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::{Addr, Cx, Time};

use crate::ids::{ApplicationAttemptId, ContainerId};
use crate::proto::{AllocateRequest, AllocateResponse, RegisterResponse, RemoteError, YarnMsg};
use crate::records::{Container, ContainerStatus, FinalApplicationStatus, NodeUpdate, Resource, ResourceRequest};

/// What an RM reply meant for the AM.
#[derive(Debug)]
pub enum AmRmEvent {
    Registered(RegisterResponse),
    Allocated(Vec<Container>),
    Completed(Vec<ContainerStatus>),
    NodesUpdated(Vec<NodeUpdate>),
    /// The RM refused a call; `fatal` when the attempt is gone and the AM should exit.
    Error {
        error: RemoteError,
        fatal: bool,
    },
    Unregistered,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    New,
    Registering,
    Registered,
    Unregistering,
    Unregistered,
}

pub struct AmRmClient {
    rm: Addr,
    attempt: ApplicationAttemptId,
    phase: Phase,
    response_id: i32,
    in_flight_since: Option<Time>,
    asks: BTreeMap<(i32, Resource), u32>,
    /// Asks changed since the RM last acknowledged an allocate. Like AMRMClient, only these
    /// are sent: re-sending an unchanged total would undo the RM's own decrements as it
    /// allocates, and the cluster would over-allocate (YARN-1902).
    changed: BTreeSet<(i32, Resource)>,
    /// The asks the allocate in flight carries.
    changed_sent: BTreeSet<(i32, Resource)>,
    releases: Vec<ContainerId>,
    /// How many of `releases` the allocate in flight carries.
    releases_sent: usize,
    progress: f32,
    /// An allocate unanswered for this long is sent again (same responseId, so the RM
    /// answers a duplicate with its cached response).
    retry_after: Duration,
    last_headroom: Resource,
    num_cluster_nodes: u32,
    register_args: (String, i32, String),
    finish_args: Option<(FinalApplicationStatus, String, String)>,
    /// Re-registering after the RM lost this AM (an RM restart): the answer is not news to
    /// the AM, and every outstanding ask and release must reach the new RM again.
    resyncing: bool,
}

impl AmRmClient {
    pub fn new(rm: Addr, attempt: ApplicationAttemptId) -> AmRmClient {
        AmRmClient {
            rm,
            attempt,
            phase: Phase::New,
            response_id: 0,
            in_flight_since: None,
            asks: BTreeMap::new(),
            changed: BTreeSet::new(),
            changed_sent: BTreeSet::new(),
            releases: Vec::new(),
            releases_sent: 0,
            progress: 0.0,
            retry_after: Duration::from_secs(2),
            last_headroom: Resource::ZERO,
            num_cluster_nodes: 0,
            register_args: (String::new(), -1, String::new()),
            finish_args: None,
            resyncing: false,
        }
    }

    pub fn attempt(&self) -> ApplicationAttemptId {
        self.attempt
    }
    pub fn is_registered(&self) -> bool {
        self.phase == Phase::Registered
    }
    pub fn headroom(&self) -> Resource {
        self.last_headroom
    }
    pub fn num_cluster_nodes(&self) -> u32 {
        self.num_cluster_nodes
    }
    pub fn set_progress(&mut self, p: f32) {
        self.progress = p;
    }

    pub fn register(&mut self, cx: &mut Cx, host: &str, rpc_port: i32, tracking_url: &str) {
        self.register_args = (host.to_string(), rpc_port, tracking_url.to_string());
        self.phase = Phase::Registering;
        self.send_register(cx);
    }

    fn send_register(&mut self, cx: &mut Cx) {
        let (host, rpc_port, tracking_url) = self.register_args.clone();
        self.in_flight_since = Some(cx.now());
        cx.send(self.rm, YarnMsg::RegisterApplicationMaster { attempt_id: self.attempt, host, rpc_port, tracking_url });
    }

    /// Adds `n` containers to the outstanding total for (priority, capability).
    pub fn add_container_request(&mut self, priority: i32, capability: Resource, n: u32) {
        *self.asks.entry((priority, capability)).or_insert(0) += n;
        self.changed.insert((priority, capability));
    }

    /// Takes `n` containers off the outstanding total (after a match, or when no longer needed).
    pub fn remove_container_request(&mut self, priority: i32, capability: Resource, n: u32) {
        if let Some(v) = self.asks.get_mut(&(priority, capability)) {
            *v = v.saturating_sub(n);
            self.changed.insert((priority, capability));
        }
    }

    pub fn outstanding(&self, priority: i32, capability: Resource) -> u32 {
        self.asks.get(&(priority, capability)).copied().unwrap_or(0)
    }

    pub fn release(&mut self, id: ContainerId) {
        self.releases.push(id);
    }

    /// The periodic heartbeat: sends an allocate unless one is in flight (and not overdue).
    pub fn heartbeat(&mut self, cx: &mut Cx) {
        match self.phase {
            Phase::Registering => {
                if self.overdue(cx.now()) {
                    self.send_register(cx);
                }
            }
            Phase::Registered => {
                if self.in_flight_since.is_none() || self.overdue(cx.now()) {
                    self.send_allocate(cx);
                }
            }
            Phase::Unregistering => {
                if self.overdue(cx.now()) {
                    self.send_finish(cx);
                }
            }
            Phase::New | Phase::Unregistered => {}
        }
    }

    fn overdue(&self, now: Time) -> bool {
        self.in_flight_since.map(|t| now.since(t) >= self.retry_after).unwrap_or(true)
    }

    fn send_allocate(&mut self, cx: &mut Cx) {
        // A retry of an unanswered call carries what the lost one carried, plus newer changes.
        self.changed_sent.extend(self.changed.iter().copied());
        self.changed.clear();
        let asks = self.changed_sent.iter().map(|k| ResourceRequest::any(k.0, k.1, self.asks.get(k).copied().unwrap_or(0))).collect();
        let req = AllocateRequest {
            attempt_id: self.attempt,
            response_id: self.response_id,
            asks,
            releases: self.releases.clone(),
            progress: self.progress,
        };
        self.releases_sent = self.releases.len();
        self.in_flight_since = Some(cx.now());
        cx.send(self.rm, YarnMsg::Allocate(req));
    }

    pub fn unregister(&mut self, cx: &mut Cx, status: FinalApplicationStatus, diagnostics: &str, tracking_url: &str) {
        self.finish_args = Some((status, diagnostics.to_string(), tracking_url.to_string()));
        self.phase = Phase::Unregistering;
        self.send_finish(cx);
    }

    fn send_finish(&mut self, cx: &mut Cx) {
        if let Some((final_status, diagnostics, tracking_url)) = self.finish_args.clone() {
            self.in_flight_since = Some(cx.now());
            cx.send(self.rm, YarnMsg::FinishApplicationMaster { attempt_id: self.attempt, final_status, diagnostics, tracking_url });
        }
    }

    /// Handles an RM reply; returns what it meant.
    pub fn handle(&mut self, msg: YarnMsg) -> Vec<AmRmEvent> {
        match msg {
            YarnMsg::RegisterApplicationMasterResponse(r) => {
                self.in_flight_since = None;
                match r {
                    Ok(resp) => {
                        self.phase = Phase::Registered;
                        if std::mem::take(&mut self.resyncing) {
                            // AMRMClientImpl after ApplicationMasterNotRegisteredException: the
                            // recovered RM lost the asks with its memory, so the whole table
                            // goes out again (releases are still queued); the AM itself
                            // carries on as if nothing happened. An AM that was unregistering
                            // unregisters again at the next heartbeat.
                            self.changed.extend(self.asks.keys().copied());
                            self.changed_sent.clear();
                            self.releases_sent = 0;
                            if self.finish_args.is_some() {
                                self.phase = Phase::Unregistering;
                            }
                            return Vec::new();
                        }
                        vec![AmRmEvent::Registered(resp)]
                    }
                    Err(error) => {
                        let fatal = !error.exception.contains("AlreadyRegistered") && !error.message.contains("already registered");
                        if !fatal {
                            self.phase = Phase::Registered;
                            if std::mem::take(&mut self.resyncing) {
                                self.changed.extend(self.asks.keys().copied());
                            }
                        }
                        vec![AmRmEvent::Error { error, fatal }]
                    }
                }
            }
            YarnMsg::AllocateResponse(r) => {
                self.in_flight_since = None;
                match r {
                    Ok(resp) => self.on_allocate(resp),
                    Err(error) => {
                        if error.exception == "ApplicationMasterNotRegisteredException" {
                            // The RM lost us (restart): register again, as AMRMClient does,
                            // then re-send every ask (see the register answer above).
                            self.phase = Phase::Registering;
                            self.response_id = 0;
                            self.resyncing = true;
                            return vec![AmRmEvent::Error { error, fatal: false }];
                        }
                        let fatal = error.exception == "ApplicationAttemptNotFoundException";
                        vec![AmRmEvent::Error { error, fatal }]
                    }
                }
            }
            YarnMsg::FinishApplicationMasterResponse(r) => {
                self.in_flight_since = None;
                match r {
                    Ok(true) => {
                        self.phase = Phase::Unregistered;
                        vec![AmRmEvent::Unregistered]
                    }
                    Ok(false) => Vec::new(),
                    Err(error) if error.exception == "ApplicationMasterNotRegisteredException" => {
                        // The RM restarted before the unregister reached it: register again,
                        // then unregister (AMRMClientImpl.unregisterApplicationMaster).
                        self.phase = Phase::Registering;
                        self.response_id = 0;
                        self.resyncing = true;
                        vec![AmRmEvent::Error { error, fatal: false }]
                    }
                    Err(error) => vec![AmRmEvent::Error { error, fatal: true }],
                }
            }
            _ => Vec::new(),
        }
    }

    fn on_allocate(&mut self, resp: AllocateResponse) -> Vec<AmRmEvent> {
        // A stale duplicate answer carries an older id: ignore it.
        if resp.response_id <= self.response_id && self.response_id != 0 {
            return Vec::new();
        }
        self.response_id = resp.response_id;
        // The releases this call carried reached the RM; later ones go with the next.
        let sent = self.releases_sent.min(self.releases.len());
        self.releases.drain(..sent);
        self.releases_sent = 0;
        self.changed_sent.clear();
        self.last_headroom = resp.headroom;
        self.num_cluster_nodes = resp.num_cluster_nodes;
        let mut out = Vec::new();
        if !resp.updated_nodes.is_empty() {
            out.push(AmRmEvent::NodesUpdated(resp.updated_nodes));
        }
        if !resp.completed.is_empty() {
            out.push(AmRmEvent::Completed(resp.completed));
        }
        if !resp.allocated.is_empty() {
            out.push(AmRmEvent::Allocated(resp.allocated));
        }
        out
    }
}
