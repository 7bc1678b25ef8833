//! The live driver's ZooKeeper: a [`engine::live::Gateway`] that carries the `zk` message family
//! ([`ZkMsg`]) to a real ZooKeeper server through the `zookeeper-client` crate, so the AM's HA
//! services and the TaskExecutors' leader retrieval run unchanged against Apache ZooKeeper.
//! A process hosting a node with a [`crate::zookeeper::ZkClient`] registers one gateway for the
//! quorum address; what the node sends there (after the live fault layer, so partitions and
//! drops apply) comes here, and the answers go back to the node as from the quorum address.
//!
//! How the model's messages map onto a real session:
//! - `Connect { timeout_ms }` opens a real session with that timeout (the server negotiates it
//!   into its [min, max]) and answers `Connected` with the real session id and timeout. A server
//!   that cannot be reached loses the `Connect` (the node retries, and gives up after its
//!   connection timeout with its own message).
//! - `Request` runs the op on the session, one at a time in arrival order (ZooKeeper's FIFO
//!   client order); `Create { parents }` is Curator's `creatingParentsIfNeeded` (create, and on
//!   NoNode create the missing parents as persistent nodes, then retry) and `Delete { recursive }`
//!   its `deletingChildrenIfNeeded` (the node's version is checked first, then the children go
//!   depth first, then the node). A request on a session that is gone answers SessionExpired;
//!   one lost with the connection (ConnectionLoss) answers nothing, as a lost message.
//! - Watches are the server's one-shot watches; a second watch of the same kind on the same
//!   path before the first fired is one watch (the server keeps a set per session).
//! - `Ping` is answered with `Pong` while the real session is connected, nothing while it is
//!   disconnected (the node's client notices and suspends), `Expired` once it is gone. The
//!   crate keeps the real session alive by itself, so the gateway expires a session whose node
//!   it has not heard from for the session timeout (a partition between the node and ZooKeeper,
//!   or a stopped process): it closes the real session, whose ephemeral nodes the server then
//!   deletes, and tells the node `Expired`, which is what a server does to a silent client.
//! - `Close` closes the real session.
// Driver code, not node code: it owns sockets, tasks and the wall clock by design.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use engine::live::{Envelope, Gateway, Inbox};
use engine::Addr;
use tokio::sync::mpsc;
use tokio::time::Instant;
use zookeeper_client as zk;

use crate::zookeeper::{SessionId, WatchKind, ZkError, ZkMsg, ZkOp, ZkReply};

/// How often the gateway looks for sessions whose node fell silent.
const WATCHDOG_EVERY: Duration = Duration::from_millis(50);

struct Sess {
    requests: mpsc::UnboundedSender<(u64, ZkOp)>,
    state: zk::StateWatcher,
    timeout: Duration,
    last_heard: Instant,
}

struct State {
    sessions: BTreeMap<SessionId, Sess>,
    watchdog: bool,
}

/// The gateway to one real ZooKeeper server (a standalone quorum of one, as the harness runs).
pub struct ZkGateway {
    server: Addr,
    state: Arc<Mutex<State>>,
}

impl ZkGateway {
    pub fn new(server: Addr) -> Arc<ZkGateway> {
        Arc::new(ZkGateway { server, state: Arc::new(Mutex::new(State { sessions: BTreeMap::new(), watchdog: false })) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn on_msg(&self, msg: ZkMsg, inbox: &Inbox) {
        match msg {
            ZkMsg::Connect { timeout_ms } => {
                self.start_watchdog(inbox);
                let server = self.server;
                let state = self.state.clone();
                let inbox = inbox.clone();
                tokio::spawn(async move { connect(server, timeout_ms, state, inbox).await });
            }
            ZkMsg::Request { session, xid, op } => {
                let mut st = self.lock();
                match st.sessions.get_mut(&session) {
                    Some(s) => {
                        s.last_heard = Instant::now();
                        let _ = s.requests.send((xid, op));
                    }
                    None => inbox.deliver(ZkMsg::Response { xid, result: Err(ZkError::SessionExpired) }),
                }
            }
            ZkMsg::Ping { session } => {
                let mut st = self.lock();
                match st.sessions.get_mut(&session) {
                    Some(s) => {
                        s.last_heard = Instant::now();
                        match s.state.peek_state() {
                            zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => inbox.deliver(ZkMsg::Pong),
                            // Not connected to the server right now: no answer, as from a
                            // server that cannot be reached; the state task reports an end.
                            zk::SessionState::Disconnected
                            | zk::SessionState::Expired
                            | zk::SessionState::AuthFailed
                            | zk::SessionState::Closed => {}
                        }
                    }
                    None => inbox.deliver(ZkMsg::Expired { session }),
                }
            }
            ZkMsg::Close { session } => {
                // Dropping the session's worker drops its client, which closes the session.
                self.lock().sessions.remove(&session);
            }
            // Server-to-client messages: nothing a client sends.
            ZkMsg::Connected { .. } | ZkMsg::Response { .. } | ZkMsg::Pong | ZkMsg::Watch { .. } | ZkMsg::Expired { .. } => {}
        }
    }

    fn start_watchdog(&self, inbox: &Inbox) {
        let mut st = self.lock();
        if st.watchdog {
            return;
        }
        st.watchdog = true;
        let state = self.state.clone();
        let inbox = inbox.clone();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(WATCHDOG_EVERY).await;
                let now = Instant::now();
                let silent: Vec<SessionId> = {
                    let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
                    let ids: Vec<SessionId> =
                        st.sessions.iter().filter(|(_, s)| now.duration_since(s.last_heard) > s.timeout).map(|(id, _)| *id).collect();
                    for id in &ids {
                        st.sessions.remove(id);
                    }
                    ids
                };
                for session in silent {
                    eprintln!("zk gateway: session {session:#x} heard nothing from its client for its timeout; closed it (expired)");
                    inbox.deliver(ZkMsg::Expired { session });
                }
            }
        });
    }
}

impl Gateway for ZkGateway {
    fn on_envelope(&self, env: Envelope, inbox: &Inbox) {
        match <ZkMsg as engine::Wire>::decode(&env.body) {
            Ok(m) => self.on_msg(m, inbox),
            Err(e) => eprintln!("zk gateway: dropped a {} message from {}: {e}", env.family, env.from),
        }
    }
}

async fn connect(server: Addr, timeout_ms: u64, state: Arc<Mutex<State>>, inbox: Inbox) {
    let connector = zk::Client::connector()
        .with_session_timeout(Duration::from_millis(timeout_ms.max(1)))
        .with_connection_timeout(Duration::from_millis(timeout_ms.clamp(100, 2000)))
        .with_fail_eagerly();
    let client = match connector.connect(&server.to_string()).await {
        Ok(c) => c,
        Err(e) => {
            // Lost, as a Connect to a server that is down: the node retries on its own clock.
            eprintln!("zk gateway: could not open a session with ZooKeeper at {server}: {e}");
            return;
        }
    };
    let session = client.session_id().0 as SessionId;
    let timeout = client.session_timeout();
    let (tx, rx) = mpsc::unbounded_channel();
    let mut watcher = client.state_watcher();
    state
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .sessions
        .insert(session, Sess { requests: tx, state: watcher.clone(), timeout, last_heard: Instant::now() });
    inbox.deliver(ZkMsg::Connected { session, timeout_ms: timeout.as_millis() as u64 });
    // The session's end as the server reports it (expiry, or a refused reconnect).
    let st = state.clone();
    let ib = inbox.clone();
    tokio::spawn(async move {
        loop {
            match watcher.changed().await {
                zk::SessionState::Expired | zk::SessionState::AuthFailed | zk::SessionState::Closed => {
                    let known = st.lock().unwrap_or_else(|e| e.into_inner()).sessions.remove(&session).is_some();
                    if known {
                        eprintln!("zk gateway: ZooKeeper ended session {session:#x}");
                        ib.deliver(ZkMsg::Expired { session });
                    }
                    return;
                }
                zk::SessionState::Disconnected | zk::SessionState::SyncConnected | zk::SessionState::ConnectedReadOnly => {}
            }
        }
    });
    tokio::spawn(worker(client, session, rx, inbox));
}

/// Runs a session's requests in order; ends (closing the session) when the gateway drops it.
async fn worker(client: zk::Client, session: SessionId, mut rx: mpsc::UnboundedReceiver<(u64, ZkOp)>, inbox: Inbox) {
    let armed: Arc<Mutex<BTreeSet<(String, bool)>>> = Arc::default();
    while let Some((xid, op)) = rx.recv().await {
        let result = run(&client, op, &armed, &inbox).await;
        match result {
            Ok(r) => inbox.deliver(ZkMsg::Response { xid, result: Ok(r) }),
            Err(e) => match error(&e) {
                Some(code) => inbox.deliver(ZkMsg::Response { xid, result: Err(code) }),
                None => eprintln!("zk gateway: request {xid} of session {session:#x} lost: {e}"),
            },
        }
    }
}

/// ZooKeeper's error codes as the model names them; None for a lost connection (the request's
/// answer is lost, as a message would be).
fn error(e: &zk::Error) -> Option<ZkError> {
    Some(match e {
        zk::Error::NoNode => ZkError::NoNode,
        zk::Error::NodeExists => ZkError::NodeExists,
        zk::Error::BadVersion => ZkError::BadVersion,
        zk::Error::NotEmpty => ZkError::NotEmpty,
        zk::Error::NoChildrenForEphemerals => ZkError::NoChildrenForEphemerals,
        zk::Error::SessionExpired | zk::Error::ClientClosed => ZkError::SessionExpired,
        zk::Error::BadArguments(_) | zk::Error::InvalidAcl => ZkError::BadArguments,
        _ => return None,
    })
}

fn parent(path: &str) -> Option<&str> {
    let i = path.rfind('/')?;
    (i > 0).then(|| &path[..i])
}

async fn run(client: &zk::Client, op: ZkOp, armed: &Arc<Mutex<BTreeSet<(String, bool)>>>, inbox: &Inbox) -> Result<ZkReply, zk::Error> {
    match op {
        ZkOp::Create { path, data, ephemeral, sequential, parents } => {
            let mode = match (ephemeral, sequential) {
                (false, false) => zk::CreateMode::Persistent,
                (false, true) => zk::CreateMode::PersistentSequential,
                (true, false) => zk::CreateMode::Ephemeral,
                (true, true) => zk::CreateMode::EphemeralSequential,
            };
            let options = mode.with_acls(zk::Acls::anyone_all());
            let mut r = client.create(&path, &data, &options).await;
            if parents && matches!(r, Err(zk::Error::NoNode)) {
                if let Some(p) = parent(&path) {
                    client.mkdir(p, &zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all())).await?;
                    r = client.create(&path, &data, &options).await;
                }
            }
            let (_, seq) = r?;
            Ok(ZkReply::Created { path: if sequential { format!("{path}{seq}") } else { path } })
        }
        ZkOp::Delete { path, version, recursive } => {
            if recursive {
                if let Some(v) = version {
                    match client.check_stat(&path).await? {
                        None => return Err(zk::Error::NoNode),
                        Some(s) if s.version != v => return Err(zk::Error::BadVersion),
                        Some(_) => {}
                    }
                }
                let mut stack = vec![path.clone()];
                let mut order = Vec::new();
                while let Some(p) = stack.pop() {
                    match client.list_children(&p).await {
                        Ok(kids) => {
                            for k in kids {
                                stack.push(format!("{p}/{k}"));
                            }
                            order.push(p);
                        }
                        Err(zk::Error::NoNode) if p != path => {}
                        Err(e) => return Err(e),
                    }
                }
                // Deepest first: every path comes after its parent in `order`.
                for p in order.iter().skip(1).rev() {
                    match client.delete(p, None).await {
                        Ok(()) | Err(zk::Error::NoNode) => {}
                        Err(e) => return Err(e),
                    }
                }
            }
            client.delete(&path, version).await?;
            Ok(ZkReply::Deleted)
        }
        ZkOp::GetData { path, watch } => {
            if watch {
                let (data, stat, w) = client.get_and_watch_data(&path).await?;
                arm(armed, inbox, (path, false), w);
                Ok(ZkReply::Data { data, version: stat.version })
            } else {
                let (data, stat) = client.get_data(&path).await?;
                Ok(ZkReply::Data { data, version: stat.version })
            }
        }
        ZkOp::SetData { path, data, version } => {
            let stat = client.set_data(&path, &data, version).await?;
            Ok(ZkReply::Set { version: stat.version })
        }
        ZkOp::GetChildren { path, watch } => {
            let mut names = if watch {
                let (names, w) = client.list_and_watch_children(&path).await?;
                arm(armed, inbox, (path, true), w);
                names
            } else {
                client.list_children(&path).await?
            };
            // The server answers in its hash order; the model (and every caller) sorts.
            names.sort();
            Ok(ZkReply::Children { names })
        }
        ZkOp::Exists { path, watch } => {
            let stat = if watch {
                let (stat, w) = client.check_and_watch_stat(&path).await?;
                arm(armed, inbox, (path, false), w);
                stat
            } else {
                client.check_stat(&path).await?
            };
            Ok(ZkReply::Stat { version: stat.map(|s| s.version) })
        }
    }
}

/// Waits for a one-shot watch and forwards it; a second watch of the same kind on the same path
/// while one is armed is the same watch (ZooKeeper keeps one per session), so it is dropped.
fn arm(armed: &Arc<Mutex<BTreeSet<(String, bool)>>>, inbox: &Inbox, key: (String, bool), w: zk::OneshotWatcher) {
    if !armed.lock().unwrap_or_else(|e| e.into_inner()).insert(key.clone()) {
        return;
    }
    let armed = armed.clone();
    let inbox = inbox.clone();
    tokio::spawn(async move {
        let ev = w.changed().await;
        armed.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        let kind = match ev.event_type {
            zk::EventType::NodeCreated => WatchKind::NodeCreated,
            zk::EventType::NodeDeleted => WatchKind::NodeDeleted,
            zk::EventType::NodeDataChanged => WatchKind::NodeDataChanged,
            zk::EventType::NodeChildrenChanged => WatchKind::NodeChildrenChanged,
            // The session ended: its watches go with it (the node hears Expired).
            zk::EventType::Session => return,
        };
        inbox.deliver(ZkMsg::Watch { path: ev.path, kind });
    });
}
