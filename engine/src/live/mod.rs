//! The live driver: one node per OS process.
//!
//! Messages travel as length-delimited JSON envelopes over one persistent TCP connection per
//! destination on 127.0.0.1, on the same port as the node's HTTP routes (see [`net`]), and a
//! node with a cluster secret accepts only peers that prove it (see [`auth`]); timers
//! are tokio timers; `launch` forks `bash -c` in a new process group; the shared store is a
//! directory. Public HTTP APIs are added by the binary as extra
//! routes whose handlers call [`LiveNode::with`] (a node method with a context) or
//! [`LiveNode::read`] — parse, call, render, nothing else. A service that speaks its own
//! protocol (a real ZooKeeper) is reached through a [`Gateway`] registered for its address:
//! the node sends it messages like to any node, and the gateway answers as that address.

pub mod auth;
pub mod limits;
pub mod localcopy;
pub mod net;
pub mod proc;
pub mod store;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Extension, Router};
use rand::SeedableRng;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};

use crate::msg::{Codecs, Msg};
use crate::node::{Addr, Cx, Effect, ExitCode, LocalStat, Node, ProcId, ProcUsage, Sys, TimerId};
use crate::store::Store;
use crate::time::Time;
use crate::Rng;
pub use auth::ClusterSecret;
pub use store::DirStore;

/// The wall clock, as live nodes see it through `cx.now()`.
pub fn wall_now() -> Time {
    Time(SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0))
}

/// A message on the wire between live processes (its frame layout is [`net::encode`]'s).
pub struct Envelope {
    pub from: Addr,
    pub family: String,
    /// The message in its family's encoding ([`crate::Wire::encode`]), decoded straight into
    /// its family's type on arrival.
    pub body: Vec<u8>,
}

/// An envelope posted to `/_rpc` as JSON (`{"from", "family", "body"}`, the body the message's
/// JSON): for families that use the default JSON encoding.
#[derive(Serialize, Deserialize)]
pub struct JsonEnvelope {
    pub from: Addr,
    pub family: String,
    pub body: Box<serde_json::value::RawValue>,
}

struct HostState<N> {
    node: N,
    rng: Rng,
    timers: BTreeMap<TimerId, u64>,
    timer_gen: u64,
    children: BTreeMap<ProcId, u32>,
    store: DirStore,
}

struct Shared<N> {
    state: Mutex<HostState<N>>,
    me: Addr,
    codecs: Codecs,
    outboxes: Mutex<BTreeMap<Addr, mpsc::Sender<Envelope>>>,
    stats: Arc<net::Stats>,
    /// Proves this node to its peers and checks theirs (see [`auth`]).
    secret: ClusterSecret,
    /// Network fault rules set by the scenario runner (see [`net::FaultLayer`]).
    faults: Mutex<net::FaultLayer>,
    exit: watch::Sender<Option<ExitCode>>,
    /// Process-local gateways by the address they stand in for (see [`Gateway`]).
    gateways: BTreeMap<Addr, Arc<dyn Gateway>>,
    /// Other protocols served on the node's port, by the bytes a connection opens with (see
    /// [`LiveNode::with_raw_protocol`]).
    raw_protocols: Vec<(&'static [u8], RawHandler)>,
}

/// Serves one accepted connection of a protocol the engine does not know (e.g. Hadoop IPC):
/// gets the stream, its first bytes still unread, and the peer's `ip:port`.
pub type RawHandler =
    Arc<dyn Fn(tokio::net::TcpStream, String) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> + Send + Sync>;

/// A process-local stand-in for a service that does not speak the node protocol (a real
/// ZooKeeper server, reached through its own client library): what the node sends to the
/// gateway's address is handed to it instead of a TCP frame stream, after the fault layer like
/// any send (so partitions, holds and drops apply), and the gateway answers through an
/// [`Inbox`] as that address. The node code cannot tell it from a remote node.
pub trait Gateway: Send + Sync + 'static {
    /// An envelope the node sent to the gateway's address. Called on a tokio task, in send order.
    fn on_envelope(&self, env: Envelope, inbox: &Inbox);
}

/// Delivers a gateway's messages to its node, as sent by the gateway's address.
#[derive(Clone)]
pub struct Inbox {
    from: Addr,
    deliver: Arc<dyn Fn(Addr, Msg) + Send + Sync>,
}

impl Inbox {
    /// The address the gateway answers as.
    pub fn addr(&self) -> Addr {
        self.from
    }
    /// Delivers `msg` to the node (dropped when the node's fault rules cut the link).
    pub fn deliver<M: crate::msg::Wire>(&self, msg: M) {
        (self.deliver)(self.from, Msg::new(msg))
    }
}

/// A node hosted by this process.
pub struct LiveNode<N: Node> {
    inner: Arc<Shared<N>>,
}

impl<N: Node> Clone for LiveNode<N> {
    fn clone(&self) -> Self {
        LiveNode { inner: self.inner.clone() }
    }
}

struct LiveSys<'a> {
    store: &'a mut DirStore,
    children: &'a BTreeMap<ProcId, u32>,
}

impl Sys for LiveSys<'_> {
    fn store(&mut self) -> &mut dyn Store {
        self.store
    }
    fn usage(&mut self, pid: ProcId) -> Option<ProcUsage> {
        proc::usage(*self.children.get(&pid)?)
    }
    fn stdout(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }
    fn local_write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        let p = std::path::Path::new(path);
        if let Some(d) = p.parent() {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        std::fs::write(p, data).map_err(|e| format!("{path}: {e}"))
    }
    fn local_read(&mut self, path: &str) -> Option<Vec<u8>> {
        std::fs::read(path).ok()
    }
    fn local_list(&mut self, dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![PathBuf::from(dir)];
        while let Some(d) = stack.pop() {
            let Ok(rd) = std::fs::read_dir(&d) else { continue };
            for e in rd.flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push(p.display().to_string());
                }
            }
        }
        out.sort();
        out
    }
    fn local_mkdir(&mut self, dir: &str) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{dir}: {e}"))
    }
    fn local_remove(&mut self, path: &str) {
        let p = std::path::Path::new(path);
        let _ = if p.is_dir() { std::fs::remove_dir_all(p) } else { std::fs::remove_file(p) };
    }
    fn local_stat(&mut self, path: &str) -> Option<LocalStat> {
        localcopy::stat(path)
    }
}

impl<N: Node> LiveNode<N> {
    /// Hosts `node` at `me`. `seed` seeds the node's RNG (live runs need not replay, but the
    /// same code path is used).
    pub fn new(node: N, me: Addr, store_root: impl Into<PathBuf>, codecs: Codecs, seed: u64) -> Self {
        let (exit, _) = watch::channel(None);
        LiveNode {
            inner: Arc::new(Shared {
                state: Mutex::new(HostState {
                    node,
                    rng: Rng::seed_from_u64(seed),
                    timers: BTreeMap::new(),
                    timer_gen: 0,
                    children: BTreeMap::new(),
                    store: DirStore::new(store_root),
                }),
                me,
                codecs,
                outboxes: Mutex::new(BTreeMap::new()),
                stats: Arc::new(net::Stats::default()),
                secret: ClusterSecret::open(),
                faults: Mutex::new(net::FaultLayer::new()),
                exit,
                gateways: BTreeMap::new(),
                raw_protocols: Vec::new(),
            }),
        }
    }

    /// Authenticates this node's messages with `secret` (both directions). Call right after
    /// `new`, before the node is cloned or run; without it the node is open (see [`auth`]).
    pub fn with_secret(mut self, secret: ClusterSecret) -> Self {
        Arc::get_mut(&mut self.inner).expect("with_secret is called before the node is shared").secret = secret;
        self
    }

    /// Routes what the node sends to `addr` to `gateway` in this process (see [`Gateway`]).
    /// Call right after `new`, before the node is cloned or run.
    pub fn with_gateway(mut self, addr: Addr, gateway: Arc<dyn Gateway>) -> Self {
        Arc::get_mut(&mut self.inner).expect("with_gateway is called before the node is shared").gateways.insert(addr, gateway);
        self
    }

    /// Serves connections that open with `prefix` on the node's port with `handler` (the
    /// engine stays protocol-agnostic: the crate that owns the protocol registers it). The
    /// accept loop tells these from frame streams and HTTP by their first bytes; a prefix must
    /// not be a prefix of the frame preface or of an HTTP request. Call right after `new`,
    /// before the node is cloned or run.
    pub fn with_raw_protocol(mut self, prefix: &'static [u8], handler: RawHandler) -> Self {
        assert!(!prefix.is_empty(), "a raw protocol needs a prefix");
        Arc::get_mut(&mut self.inner).expect("with_raw_protocol is called before the node is shared").raw_protocols.push((prefix, handler));
        self
    }

    pub fn addr(&self) -> Addr {
        self.inner.me
    }

    /// Reads the node's state without a context.
    pub fn read<R>(&self, f: impl FnOnce(&N) -> R) -> R {
        let st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&st.node)
    }

    /// Runs `f` on the node with a context and carries out the effects it recorded.
    /// Must be called inside the tokio runtime.
    pub fn with<R>(&self, f: impl FnOnce(&mut N, &mut Cx) -> R) -> R {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        let st = &mut *st;
        let mut effects = Vec::new();
        let r = {
            let mut sys = LiveSys { store: &mut st.store, children: &st.children };
            let mut cx = Cx::new(wall_now(), self.inner.me, &mut st.rng, &mut effects, &mut sys);
            f(&mut st.node, &mut cx)
        };
        for e in effects {
            self.apply(st, e);
        }
        r
    }

    fn apply(&self, st: &mut HostState<N>, e: Effect) {
        match e {
            Effect::Send { to, msg } => self.send(to, msg),
            // Live has no batching to gain: a tick timer is a timer at its whole millisecond.
            Effect::SetTimer { id, at } | Effect::SetTickTimer { id, at } => {
                st.timer_gen += 1;
                let gen = st.timer_gen;
                st.timers.insert(id, gen);
                let delay = Duration::from_micros(at.as_micros().saturating_sub(wall_now().as_micros()));
                let me = self.clone();
                if delay.is_zero() {
                    // Due now ("come back right after the messages that arrived meanwhile"):
                    // tokio's timer wheel would round it up to its next 1 ms tick, idling a
                    // busy node (a TaskManager's source turns) for most of a millisecond.
                    tokio::spawn(async move { me.fire_timer(id, gen) });
                } else {
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        me.fire_timer(id, gen);
                    });
                }
            }
            Effect::CancelTimer { id } => {
                st.timers.remove(&id);
            }
            Effect::Launch(spec) => {
                let pid = spec.pid;
                match proc::spawn(&spec) {
                    Ok(mut child) => {
                        let os_pid = child.id().unwrap_or(0);
                        st.children.insert(pid, os_pid);
                        let me = self.clone();
                        tokio::spawn(async move {
                            let code = match child.wait().await {
                                Ok(s) => {
                                    use std::os::unix::process::ExitStatusExt;
                                    s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0))
                                }
                                Err(_) => 255,
                            };
                            me.with(|n, cx| {
                                n.on_process_exit(cx, pid, code);
                            });
                            me.inner.state.lock().unwrap_or_else(|e| e.into_inner()).children.remove(&pid);
                        });
                    }
                    Err(err) => {
                        let _ = std::fs::write(&spec.stderr, format!("failed to launch: {err}\n"));
                        let me = self.clone();
                        tokio::spawn(async move { me.with(|n, cx| n.on_process_exit(cx, pid, 127)) });
                    }
                }
            }
            Effect::Signal { pid, signal } => {
                if let Some(os_pid) = st.children.get(&pid) {
                    proc::signal_group(*os_pid, signal);
                }
            }
            Effect::Reacquire { pid, os_pid, exit_code_file } => {
                st.children.insert(pid, os_pid);
                let me = self.clone();
                tokio::spawn(async move {
                    while proc::exists(os_pid) {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    // The wrapper writes the exit code file as the command ends; give it the
                    // NodeManager's process-kill-wait (2 s) to appear.
                    let mut code = crate::node::EXIT_CODE_LOST;
                    for _ in 0..20 {
                        if let Some(c) = std::fs::read_to_string(&exit_code_file).ok().and_then(|s| s.trim().parse::<ExitCode>().ok()) {
                            code = c;
                            break;
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                    me.with(|n, cx| n.on_process_exit(cx, pid, code));
                    me.inner.state.lock().unwrap_or_else(|e| e.into_inner()).children.remove(&pid);
                });
            }
            Effect::Exit { code } => {
                let _ = self.inner.exit.send(Some(code));
            }
            // Off the node's lock and off the runtime's workers: a localized jar may be
            // hundreds of MB. The node hears the outcome as a new input.
            Effect::LocalCopy(copy) => {
                let me = self.clone();
                tokio::spawn(async move {
                    let id = copy.id;
                    let result = tokio::task::spawn_blocking(move || localcopy::run(&copy))
                        .await
                        .unwrap_or_else(|e| Err(format!("the copy task failed: {e}")));
                    me.with(|n, cx| n.on_local_copy_done(cx, id, result));
                });
            }
            // The same for a store write (a checkpoint's state file): made and written on a
            // blocking thread while the node handles its next inputs.
            Effect::StoreWrite(w) => {
                let me = self.clone();
                let mut store = st.store.clone();
                tokio::spawn(async move {
                    let id = w.id;
                    let result = tokio::task::spawn_blocking(move || w.run(&mut store))
                        .await
                        .unwrap_or_else(|e| Err(format!("the write task failed: {e}")));
                    me.with(|n, cx| n.on_store_written(cx, id, result));
                });
            }
            Effect::Trace { kind, detail } => {
                eprintln!("{} {} {kind} {detail}", wall_now(), self.inner.me);
            }
        }
    }

    fn fire_timer(&self, id: TimerId, gen: u64) {
        {
            let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
            if st.timers.get(&id) != Some(&gen) {
                return;
            }
            st.timers.remove(&id);
        }
        self.with(|n, cx| n.on_timer(cx, id));
    }

    fn send(&self, to: Addr, msg: Msg) {
        let env = Envelope { from: self.inner.me, family: msg.family().to_string(), body: msg.to_bytes() };
        // The fault layer first (lost, held or delayed messages are its business).
        let decided = {
            let mut faults = self.inner.faults.lock().unwrap_or_else(|e| e.into_inner());
            faults.decide(self.inner.me, to, msg.kind(), msg.is_stream(), env, || (self.outbox(to), self.inner.stats.clone()))
        };
        if let net::Decision::Now(env) = decided {
            self.enqueue(to, env);
        }
    }

    /// The queue to `to` (its writer started on first use).
    fn outbox(&self, to: Addr) -> mpsc::Sender<Envelope> {
        let mut boxes = self.inner.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        boxes.entry(to).or_insert_with(|| self.new_outbox(to)).clone()
    }

    /// A queue to `to`: a TCP writer, or the gateway that stands in for `to`.
    fn new_outbox(&self, to: Addr) -> mpsc::Sender<Envelope> {
        let Some(gw) = self.inner.gateways.get(&to).cloned() else {
            return net::outbox(to, self.inner.stats.clone(), self.inner.secret.clone());
        };
        let (tx, mut rx) = mpsc::channel::<Envelope>(net::OUTBOX_FRAMES);
        let me = self.clone();
        let inbox = Inbox { from: to, deliver: Arc::new(move |from, msg| me.deliver_local(from, msg)) };
        let stats = self.inner.stats.clone();
        tokio::spawn(async move {
            while let Some(env) = rx.recv().await {
                gw.on_envelope(env, &inbox);
                stats.in_flight.fetch_sub(1, Ordering::SeqCst);
            }
        });
        tx
    }

    /// A message from a gateway in this process. The fault layer decides it as if `from` had
    /// sent it: a cut or dropping link loses it, or, for a connection's message on a cut link,
    /// keeps it until the link heals (holds and delays apply to sends only).
    fn deliver_local(&self, from: Addr, msg: Msg) {
        {
            let mut faults = self.inner.faults.lock().unwrap_or_else(|e| e.into_inner());
            let faults = &mut *faults;
            if !faults.rules.is_empty() {
                match faults.rules.on_send(&mut faults.rng, from, self.inner.me, msg.family(), msg.kind(), msg.is_stream()) {
                    crate::fault::Verdict::Lost { .. } => return,
                    crate::fault::Verdict::Wait => return faults.held_in.push((from, msg)),
                    crate::fault::Verdict::Pass { .. } => {}
                }
            }
        }
        self.with(|n, cx| n.on_message(cx, from, msg));
    }

    fn enqueue(&self, to: Addr, env: Envelope) {
        let stats = &self.inner.stats;
        let mut boxes = self.inner.outboxes.lock().unwrap_or_else(|e| e.into_inner());
        let tx = boxes.entry(to).or_insert_with(|| self.new_outbox(to));
        stats.in_flight.fetch_add(1, Ordering::SeqCst);
        // Never blocks: a full queue drops the message (see `net` for the policy).
        match tx.try_send(env) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(env)) => {
                stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                let n = stats.dropped_full.fetch_add(1, Ordering::SeqCst) + 1;
                if n.is_power_of_two() {
                    eprintln!(
                        "{} {}: queue to {to} full, dropped a {} message ({n} dropped so far)",
                        wall_now(),
                        self.inner.me,
                        env.family
                    );
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                // The writer is gone (it panicked): the next message starts a new one.
                stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                boxes.remove(&to);
            }
        }
    }

    /// Delivers an envelope that arrived from another node (a frame or `POST /_rpc`).
    pub fn deliver(&self, env: Envelope) -> Result<(), String> {
        let msg = self.inner.codecs.decode(&env.family, &env.body)?;
        {
            // Drop rules this node holds as the receiver (the scenario runner puts them here:
            // a sender may start after the rule, or never be addressable). Rules about this
            // node's own sends never match here: their `to` is another node.
            let mut faults = self.inner.faults.lock().unwrap_or_else(|e| e.into_inner());
            let faults = &mut *faults;
            if !faults.rules.is_empty() && faults.rules.dropped(&mut faults.rng, env.from, self.inner.me, &env.family, msg.kind()) {
                faults.note_lost(env.from, self.inner.me, msg.kind(), "dropped on arrival");
                return Ok(());
            }
        }
        self.with(|n, cx| n.on_message(cx, env.from, msg));
        Ok(())
    }

    /// The `/_rpc` route; merge it with the node's public routes. A secured node delivers only
    /// envelopes whose [`auth::RPC_AUTH_HEADER`] proves the secret over the body; anything else
    /// is refused with 401, logged, and changes nothing.
    pub fn rpc_router(&self) -> Router {
        async fn rpc<N: Node>(
            State(host): State<LiveNode<N>>,
            peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
            headers: HeaderMap,
            body: Bytes,
        ) -> (StatusCode, String) {
            let proof = headers.get(auth::RPC_AUTH_HEADER).and_then(|v| v.to_str().ok());
            if !host.inner.secret.check_rpc(proof, &body) {
                let (n, log) = host.inner.stats.note_refusal();
                if log {
                    let who = peer.map(|Extension(ConnectInfo(a))| a.to_string()).unwrap_or_else(|| "?".into());
                    let why = if proof.is_some() { "a wrong proof" } else { "no proof" };
                    eprintln!(
                        "{} {}: refused a POST /_rpc from {who}: {why} of the cluster secret (refusal {n})",
                        wall_now(),
                        host.inner.me
                    );
                }
                return (StatusCode::UNAUTHORIZED, "the envelope does not prove the cluster secret".into());
            }
            let env = match serde_json::from_slice::<JsonEnvelope>(&body) {
                Ok(e) => Envelope { from: e.from, family: e.family, body: e.body.get().as_bytes().to_vec() },
                Err(e) => return (StatusCode::BAD_REQUEST, format!("not an envelope: {e}")),
            };
            match host.deliver(env) {
                Ok(()) => (StatusCode::ACCEPTED, String::new()),
                Err(e) => (StatusCode::BAD_REQUEST, e),
            }
        }
        Router::new().route("/_rpc", post(rpc::<N>)).route("/_fault", post(fault::<N>)).with_state(self.clone())
    }

    /// Applies a network fault to this node's sends (the scenario runner's `POST /_fault`, or
    /// a test); logs it. Err for a fault that is not about the network.
    pub fn apply_fault(&self, f: &crate::fault::Fault) -> Result<(), String> {
        let (released, released_in) = {
            let mut faults = self.inner.faults.lock().unwrap_or_else(|e| e.into_inner());
            if !faults.rules.apply(f) {
                return Err(format!(
                    "'{f}' is not a network fault: the live fault layer takes partition, heal, hold, release, clog and drop-messages (processes get signals)"
                ));
            }
            (faults.take_released(self.inner.me), faults.take_released_in(self.inner.me))
        };
        eprintln!("{} {}: fault applied: {f}", wall_now(), self.inner.me);
        for (to, env) in released {
            self.enqueue(to, env);
        }
        for (from, msg) in released_in {
            self.with(|n, cx| n.on_message(cx, from, msg));
        }
        Ok(())
    }

    /// Serves `routes` (plus `/_rpc`) and node-to-node frame streams on `listener`, starts
    /// the node, and returns the exit code once the node calls `cx.exit` or the process gets
    /// SIGTERM/SIGINT.
    pub async fn run(self, listener: tokio::net::TcpListener, routes: Router) -> ExitCode {
        let app = routes.merge(self.rpc_router());
        let mut exit_rx = self.inner.exit.subscribe();
        let server = tokio::spawn(net::serve(self.clone(), listener, app));
        self.with(|n, cx| n.on_start(cx));
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        let code = tokio::select! {
            r = exit_rx.wait_for(|c| c.is_some()) => r.map(|c| c.unwrap_or(0)).unwrap_or(0),
            _ = term.recv() => 143,
            _ = tokio::signal::ctrl_c() => 130,
        };
        // Give queued messages (a final status, an unregister) a moment to leave.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
        while self.inner.stats.in_flight.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        server.abort();
        // Processes this node launched end with it (a NodeManager's containers).
        let children: Vec<u32> = self.inner.state.lock().unwrap_or_else(|e| e.into_inner()).children.values().copied().collect();
        for pgid in children {
            proc::signal_group(pgid, crate::node::Signal::Kill);
        }
        code
    }
}

/// `POST /_fault` (body: a JSON [`crate::fault::Fault`]): the scenario runner's control route
/// for the fault layer. Only a request whose [`auth::FAULT_AUTH_HEADER`] proves the cluster
/// secret over the body changes anything; a node without a secret refuses all (403).
async fn fault<N: Node>(
    State(host): State<LiveNode<N>>,
    peer: Option<Extension<ConnectInfo<std::net::SocketAddr>>>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    if host.inner.secret.is_open() {
        return (StatusCode::FORBIDDEN, "this node has no cluster secret, so it takes faults from nobody".into());
    }
    let proof = headers.get(auth::FAULT_AUTH_HEADER).and_then(|v| v.to_str().ok());
    if !host.inner.secret.check_fault(proof, &body) {
        let (n, log) = host.inner.stats.note_refusal();
        if log {
            let who = peer.map(|Extension(ConnectInfo(a))| a.to_string()).unwrap_or_else(|| "?".into());
            eprintln!(
                "{} {}: refused a POST /_fault from {who}: no valid proof of the cluster secret (refusal {n})",
                wall_now(),
                host.inner.me
            );
        }
        return (StatusCode::UNAUTHORIZED, "the request does not prove the cluster secret".into());
    }
    let f: crate::fault::Fault = match serde_json::from_slice(&body) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, format!("not a fault: {e}")),
    };
    match host.apply_fault(&f) {
        Ok(()) => (StatusCode::OK, format!("applied: {f}")),
        Err(e) => (StatusCode::BAD_REQUEST, e),
    }
}

/// Binds 127.0.0.1:`port` (0 = any free port).
pub async fn bind_loopback(port: u16) -> std::io::Result<(tokio::net::TcpListener, Addr)> {
    let l = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = match l.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        std::net::SocketAddr::V6(_) => unreachable!("bound an IPv4 address"),
    };
    Ok((l, addr))
}

/// A gateway gets what the node sends to its address, after the fault layer, and its answers
/// reach the node as from that address; a partition cuts both directions.
#[cfg(test)]
mod gateway_tests {
    // A driver test: real tasks and sleeps.
    #![allow(clippy::disallowed_methods)]
    use std::any::Any;

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::fault::{Endpoint, Fault};
    use crate::msg::Wire;

    #[derive(Debug, Serialize, Deserialize)]
    struct Word(String);
    impl Wire for Word {
        const FAMILY: &'static str = "test.word";
        fn kind(&self) -> &'static str {
            "Word"
        }
    }

    /// A family on a connection (`Wire::STREAM`): a cut link delays it.
    #[derive(Debug, Serialize, Deserialize)]
    struct Line(String);
    impl Wire for Line {
        const FAMILY: &'static str = "test.line";
        const STREAM: bool = true;
        fn kind(&self) -> &'static str {
            "Line"
        }
    }

    /// Keeps what it hears, and from whom.
    #[derive(Default)]
    struct Ear(Vec<(Addr, String)>);
    impl Node for Ear {
        fn on_start(&mut self, _: &mut Cx) {}
        fn on_message(&mut self, _: &mut Cx, from: Addr, msg: Msg) {
            match msg.downcast::<Word>() {
                Ok(Word(w)) => self.0.push((from, w)),
                Err(m) => {
                    if let Ok(Line(l)) = m.downcast::<Line>() {
                        self.0.push((from, l));
                    }
                }
            }
        }
        fn on_timer(&mut self, _: &mut Cx, _: TimerId) {}
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    /// Answers every word with its upper case, and counts them.
    #[derive(Default)]
    struct Shout(std::sync::atomic::AtomicUsize);
    impl Gateway for Shout {
        fn on_envelope(&self, env: Envelope, inbox: &Inbox) {
            self.0.fetch_add(1, Ordering::SeqCst);
            if env.family == Line::FAMILY {
                let Line(l) = serde_json::from_slice(&env.body).expect("a line");
                return inbox.deliver(Line(l.to_uppercase()));
            }
            let Word(w) = serde_json::from_slice(&env.body).expect("a word");
            inbox.deliver(Word(w.to_uppercase()));
        }
    }

    /// A node at 127.0.0.1:7 (an `Ear`) with a `Shout` gateway standing in for 127.0.0.1:2181.
    fn ear_and_shout() -> (LiveNode<Ear>, Arc<Shout>, Addr, Addr) {
        let me: Addr = "127.0.0.1:7".parse().unwrap();
        let gw: Addr = "127.0.0.1:2181".parse().unwrap();
        let shout = Arc::new(Shout::default());
        let n = LiveNode::new(Ear::default(), me, std::env::temp_dir(), Codecs::new(), 1).with_gateway(gw, shout.clone());
        (n, shout, me, gw)
    }

    async fn heard(n: &LiveNode<Ear>, want: usize) -> Vec<(Addr, String)> {
        for _ in 0..200 {
            if n.read(|e| e.0.len()) >= want {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        n.read(|e| e.0.clone())
    }

    #[test]
    fn a_gateway_answers_as_its_address_and_faults_apply_both_ways() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (n, shout, me, gw) = ear_and_shout();
            n.with(|_, cx| cx.send(gw, Word("hello".into())));
            assert_eq!(heard(&n, 1).await, vec![(gw, "HELLO".to_string())]);
            // Cut: nothing reaches the gateway, and nothing it would say reaches the node.
            let cut = Fault::Partition { a: Endpoint::Process(me), b: Endpoint::Process(gw), one_way: false };
            n.apply_fault(&cut).unwrap();
            n.with(|_, cx| cx.send(gw, Word("lost".into())));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!((n.read(|e| e.0.len()), shout.0.load(Ordering::SeqCst)), (1, 1));
            // One way, from the gateway: it hears the node, its answer is lost.
            n.apply_fault(&Fault::HealAll).unwrap();
            n.apply_fault(&Fault::Partition { a: Endpoint::Process(gw), b: Endpoint::Process(me), one_way: true }).unwrap();
            n.with(|_, cx| cx.send(gw, Word("quiet".into())));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!((n.read(|e| e.0.len()), shout.0.load(Ordering::SeqCst)), (1, 2));
            n.apply_fault(&Fault::HealAll).unwrap();
            n.with(|_, cx| cx.send(gw, Word("again".into())));
            assert_eq!(heard(&n, 2).await.last(), Some(&(gw, "AGAIN".to_string())));
        });
    }

    /// A connection's messages wait on a cut link, both ways: the node's for the gateway, and
    /// the gateway's answer for the node; both arrive when the link heals.
    #[test]
    fn a_connections_messages_wait_for_a_cut_link_through_a_gateway() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let (n, shout, me, gw) = ear_and_shout();
            n.apply_fault(&Fault::Partition { a: Endpoint::Process(me), b: Endpoint::Process(gw), one_way: false }).unwrap();
            n.with(|_, cx| cx.send(gw, Line("later".into())));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!((n.read(|e| e.0.len()), shout.0.load(Ordering::SeqCst)), (0, 0), "held on the way out");
            n.apply_fault(&Fault::HealAll).unwrap();
            assert_eq!(heard(&n, 1).await, vec![(gw, "LATER".to_string())]);
            // One way, from the gateway: it hears the node; its answer waits for the heal.
            n.apply_fault(&Fault::Partition { a: Endpoint::Process(gw), b: Endpoint::Process(me), one_way: true }).unwrap();
            n.with(|_, cx| cx.send(gw, Line("wait".into())));
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert_eq!((n.read(|e| e.0.len()), shout.0.load(Ordering::SeqCst)), (1, 2));
            n.apply_fault(&Fault::Heal { a: Endpoint::Process(gw), b: Endpoint::Process(me) }).unwrap();
            assert_eq!(heard(&n, 2).await.last(), Some(&(gw, "WAIT".to_string())));
        });
    }
}
