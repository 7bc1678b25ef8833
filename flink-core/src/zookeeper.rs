//! ZooKeeper as Flink's HA services use it: the wire protocol between a client and a server
//! (as engine messages, so partitions, kills and pauses apply to it like to any node), a
//! sans-IO client both the JobManager and the TaskExecutors embed, and [`ZooKeeperServer`],
//! a model of a single ZooKeeper server with the semantics Flink relies on (reference §8):
//! sessions that expire when the server hears nothing for their timeout, ephemeral nodes
//! that vanish with their session, parent-wide sequential suffixes (`%010d`), versions for
//! compare-and-set, and one-shot watches.
//!
//! Two Curator conveniences are server-side ops here: `Create { parents }`
//! (`creatingParentsIfNeeded`) and `Delete { recursive }` (`deletingChildrenIfNeeded`).

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::msg::Wire;
use engine::{Addr, Cx, Msg, Node, Time, TimerId};
use serde::{Deserialize, Serialize};

/// A session id as the server numbers it.
pub type SessionId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZkOp {
    Create {
        path: String,
        data: Vec<u8>,
        ephemeral: bool,
        sequential: bool,
        parents: bool,
    },
    /// `version` None = any version (ZooKeeper's -1).
    Delete {
        path: String,
        version: Option<i32>,
        recursive: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Vec<u8>,
        version: Option<i32>,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    Exists {
        path: String,
        watch: bool,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZkReply {
    Created {
        path: String,
    },
    Deleted,
    Data {
        data: Vec<u8>,
        version: i32,
    },
    Set {
        version: i32,
    },
    Children {
        names: Vec<String>,
    },
    /// `Exists`: the node's version, or None when absent (a watch is then set for its creation).
    Stat {
        version: Option<i32>,
    },
}

/// ZooKeeper's `KeeperException.Code`s that can happen here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZkError {
    NoNode,
    NodeExists,
    BadVersion,
    NotEmpty,
    NoChildrenForEphemerals,
    SessionExpired,
    BadArguments,
}

impl std::fmt::Display for ZkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            ZkError::NoNode => "KeeperErrorCode = NoNode",
            ZkError::NodeExists => "KeeperErrorCode = NodeExists",
            ZkError::BadVersion => "KeeperErrorCode = BadVersion",
            ZkError::NotEmpty => "KeeperErrorCode = Directory not empty",
            ZkError::NoChildrenForEphemerals => "KeeperErrorCode = NoChildrenForEphemerals",
            ZkError::SessionExpired => "KeeperErrorCode = Session expired",
            ZkError::BadArguments => "KeeperErrorCode = BadArguments",
        };
        f.write_str(s)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum WatchKind {
    NodeCreated,
    NodeDeleted,
    NodeDataChanged,
    NodeChildrenChanged,
}

/// The `zk` message family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZkMsg {
    /// Client -> server: open a session with this proposed timeout.
    Connect {
        timeout_ms: u64,
    },
    /// Server -> client: the session and the negotiated timeout.
    Connected {
        session: SessionId,
        timeout_ms: u64,
    },
    Request {
        session: SessionId,
        xid: u64,
        op: ZkOp,
    },
    Response {
        xid: u64,
        result: Result<ZkReply, ZkError>,
    },
    /// Keeps the session alive; answered with `Pong`.
    Ping {
        session: SessionId,
    },
    Pong,
    /// A one-shot watch fired.
    Watch {
        path: String,
        kind: WatchKind,
    },
    /// Server -> client: the session is gone (on expiry, and in answer to anything from it).
    Expired {
        session: SessionId,
    },
    Close {
        session: SessionId,
    },
}

impl Wire for ZkMsg {
    const FAMILY: &'static str = "zk";
    /// A ZooKeeper client talks to its server over one TCP connection: a partition delays
    /// requests, answers and pings (the session may expire meanwhile, and then the late
    /// requests are answered with SessionExpired), it does not lose them one by one.
    const STREAM: bool = true;
    fn kind(&self) -> &'static str {
        match self {
            ZkMsg::Connect { .. } => "Connect",
            ZkMsg::Connected { .. } => "Connected",
            ZkMsg::Request { .. } => "Request",
            ZkMsg::Response { .. } => "Response",
            ZkMsg::Ping { .. } => "Ping",
            ZkMsg::Pong => "Pong",
            ZkMsg::Watch { .. } => "Watch",
            ZkMsg::Expired { .. } => "Expired",
            ZkMsg::Close { .. } => "Close",
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Server model

#[derive(Clone, Debug)]
struct ZNode {
    data: Vec<u8>,
    version: i32,
    ephemeral_owner: Option<SessionId>,
    /// The next sequential suffix for children: advanced by every child created (not by a
    /// deletion or a failed create), as the real server numbers them (checked against it by
    /// tests/tests/ha.rs).
    next_seq: u64,
}

#[derive(Clone, Debug)]
struct Session {
    client: Addr,
    timeout_ms: u64,
    last_heard: Time,
}

const T_TICK: TimerId = 1;

/// A single ZooKeeper server (standalone mode, as the harness's `--zookeeper` runs one).
pub struct ZooKeeperServer {
    /// `tickTime`: sessions are checked this often; timeouts are clamped to [2, 20] ticks.
    pub tick_ms: u64,
    nodes: BTreeMap<String, ZNode>,
    sessions: BTreeMap<SessionId, Session>,
    next_session: SessionId,
    data_watches: BTreeMap<String, BTreeSet<SessionId>>,
    child_watches: BTreeMap<String, BTreeSet<SessionId>>,
}

impl ZooKeeperServer {
    pub fn new(tick_ms: u64) -> ZooKeeperServer {
        let mut nodes = BTreeMap::new();
        nodes.insert("/".to_string(), ZNode { data: Vec::new(), version: 0, ephemeral_owner: None, next_seq: 0 });
        ZooKeeperServer {
            tick_ms: tick_ms.max(1),
            nodes,
            sessions: BTreeMap::new(),
            next_session: 0x1000,
            data_watches: BTreeMap::new(),
            child_watches: BTreeMap::new(),
        }
    }

    /// Paths and data of every node (tests inspect the tree).
    pub fn dump(&self) -> Vec<(String, Vec<u8>)> {
        self.nodes.iter().map(|(k, v)| (k.clone(), v.data.clone())).collect()
    }

    pub fn sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Expires a session now (tests; ZooKeeper's own expiry runs on the tick).
    pub fn expire(&mut self, cx: &mut Cx, session: SessionId) {
        self.end(cx, session, true);
    }

    fn end(&mut self, cx: &mut Cx, session: SessionId, tell: bool) {
        let Some(s) = self.sessions.remove(&session) else { return };
        cx.trace(if tell { "zk.session.expired" } else { "zk.session.closed" }, format!("{session:#x}"));
        let owned: Vec<String> = self.nodes.iter().filter(|(_, n)| n.ephemeral_owner == Some(session)).map(|(p, _)| p.clone()).collect();
        for p in owned {
            self.remove_node(cx, &p);
        }
        for w in self.data_watches.values_mut().chain(self.child_watches.values_mut()) {
            w.remove(&session);
        }
        if tell {
            cx.send(s.client, ZkMsg::Expired { session });
        }
    }

    /// The session a client address holds, if any (tests).
    pub fn session_of(&self, client: Addr) -> Option<SessionId> {
        self.sessions.iter().find(|(_, s)| s.client == client).map(|(id, _)| *id)
    }

    fn parent(path: &str) -> Option<&str> {
        if path == "/" {
            return None;
        }
        let i = path.rfind('/')?;
        Some(if i == 0 { "/" } else { &path[..i] })
    }

    fn valid(path: &str) -> bool {
        path == "/" || (path.starts_with('/') && !path.ends_with('/') && !path.contains("//") && !path.contains('\0'))
    }

    fn children(&self, path: &str) -> Vec<String> {
        let prefix = if path == "/" { "/".to_string() } else { format!("{path}/") };
        self.nodes
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .filter(|(k, _)| !k[prefix.len()..].contains('/'))
            .map(|(k, _)| k[prefix.len()..].to_string())
            .collect()
    }

    fn fire(&mut self, cx: &mut Cx, path: &str, kind: WatchKind) {
        let map = if kind == WatchKind::NodeChildrenChanged { &mut self.child_watches } else { &mut self.data_watches };
        let Some(set) = map.remove(path) else { return };
        for s in set {
            if let Some(sess) = self.sessions.get(&s) {
                cx.send(sess.client, ZkMsg::Watch { path: path.to_string(), kind });
            }
        }
    }

    fn remove_node(&mut self, cx: &mut Cx, path: &str) {
        if self.nodes.remove(path).is_some() {
            self.fire(cx, path, WatchKind::NodeDeleted);
            // A deleted node's child watches fire as NodeDeleted too.
            if let Some(set) = self.child_watches.remove(path) {
                for s in set {
                    if let Some(sess) = self.sessions.get(&s) {
                        cx.send(sess.client, ZkMsg::Watch { path: path.to_string(), kind: WatchKind::NodeDeleted });
                    }
                }
            }
            if let Some(p) = Self::parent(path) {
                let p = p.to_string();
                self.fire(cx, &p, WatchKind::NodeChildrenChanged);
            }
        }
    }

    fn create(
        &mut self,
        cx: &mut Cx,
        session: SessionId,
        path: &str,
        data: Vec<u8>,
        (eph, seq): (bool, bool),
        parents: bool,
    ) -> Result<ZkReply, ZkError> {
        if !Self::valid(path) || path == "/" {
            return Err(ZkError::BadArguments);
        }
        let parent = Self::parent(path).ok_or(ZkError::BadArguments)?.to_string();
        if !self.nodes.contains_key(&parent) {
            if !parents {
                return Err(ZkError::NoNode);
            }
            self.create(cx, session, &parent, Vec::new(), (false, false), true)?;
        }
        let pnode = self.nodes.get_mut(&parent).expect("parent exists");
        if pnode.ephemeral_owner.is_some() {
            return Err(ZkError::NoChildrenForEphemerals);
        }
        let full = if seq { format!("{path}{:010}", pnode.next_seq) } else { path.to_string() };
        if self.nodes.contains_key(&full) {
            return Err(ZkError::NodeExists);
        }
        // A failed create leaves the parent's cversion as it was.
        self.nodes.get_mut(&parent).expect("parent exists").next_seq += 1;
        self.nodes.insert(full.clone(), ZNode { data, version: 0, ephemeral_owner: eph.then_some(session), next_seq: 0 });
        self.fire(cx, &full, WatchKind::NodeCreated);
        self.fire(cx, &parent, WatchKind::NodeChildrenChanged);
        Ok(ZkReply::Created { path: full })
    }

    fn apply(&mut self, cx: &mut Cx, session: SessionId, op: ZkOp) -> Result<ZkReply, ZkError> {
        match op {
            ZkOp::Create { path, data, ephemeral, sequential, parents } => {
                self.create(cx, session, &path, data, (ephemeral, sequential), parents)
            }
            ZkOp::Delete { path, version, recursive } => {
                let node = self.nodes.get(&path).ok_or(ZkError::NoNode)?;
                if version.is_some_and(|v| v != node.version) {
                    return Err(ZkError::BadVersion);
                }
                let kids = self.children(&path);
                if !kids.is_empty() && !recursive {
                    return Err(ZkError::NotEmpty);
                }
                for k in kids {
                    let child = format!("{path}/{k}");
                    self.apply(cx, session, ZkOp::Delete { path: child, version: None, recursive: true })?;
                }
                self.remove_node(cx, &path);
                Ok(ZkReply::Deleted)
            }
            ZkOp::GetData { path, watch } => {
                let node = self.nodes.get(&path).ok_or(ZkError::NoNode)?;
                let r = ZkReply::Data { data: node.data.clone(), version: node.version };
                if watch {
                    self.data_watches.entry(path).or_default().insert(session);
                }
                Ok(r)
            }
            ZkOp::SetData { path, data, version } => {
                let node = self.nodes.get_mut(&path).ok_or(ZkError::NoNode)?;
                if version.is_some_and(|v| v != node.version) {
                    return Err(ZkError::BadVersion);
                }
                node.data = data;
                node.version += 1;
                let v = node.version;
                self.fire(cx, &path, WatchKind::NodeDataChanged);
                Ok(ZkReply::Set { version: v })
            }
            ZkOp::GetChildren { path, watch } => {
                if !self.nodes.contains_key(&path) {
                    return Err(ZkError::NoNode);
                }
                let names = self.children(&path);
                if watch {
                    self.child_watches.entry(path).or_default().insert(session);
                }
                Ok(ZkReply::Children { names })
            }
            ZkOp::Exists { path, watch } => {
                let version = self.nodes.get(&path).map(|n| n.version);
                if watch {
                    self.data_watches.entry(path).or_default().insert(session);
                }
                Ok(ZkReply::Stat { version })
            }
        }
    }
}

impl Node for ZooKeeperServer {
    fn on_start(&mut self, cx: &mut Cx) {
        cx.print(&format!("INFO  binding to port {}", cx.me()));
        cx.set_timer(Duration::from_millis(self.tick_ms), T_TICK);
    }

    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let Ok(msg) = msg.downcast::<ZkMsg>() else { return };
        let now = cx.now();
        match msg {
            ZkMsg::Connect { timeout_ms } => {
                let timeout_ms = timeout_ms.clamp(2 * self.tick_ms, 20 * self.tick_ms);
                let session = self.next_session;
                self.next_session += 1;
                self.sessions.insert(session, Session { client: from, timeout_ms, last_heard: now });
                cx.trace("zk.session.established", format!("{session:#x} {from} {timeout_ms}"));
                cx.send(from, ZkMsg::Connected { session, timeout_ms });
            }
            ZkMsg::Request { session, xid, op } => match self.sessions.get_mut(&session) {
                Some(s) => {
                    s.last_heard = now;
                    let result = self.apply(cx, session, op);
                    cx.send(from, ZkMsg::Response { xid, result });
                }
                None => cx.send(from, ZkMsg::Response { xid, result: Err(ZkError::SessionExpired) }),
            },
            ZkMsg::Ping { session } => match self.sessions.get_mut(&session) {
                Some(s) => {
                    s.last_heard = now;
                    cx.send(from, ZkMsg::Pong);
                }
                None => cx.send(from, ZkMsg::Expired { session }),
            },
            ZkMsg::Close { session } => {
                // A closed session ends like an expired one, but its client, which asked for
                // it, is not told (a real server answers the close and says nothing more).
                if self.sessions.contains_key(&session) {
                    self.end(cx, session, false);
                }
            }
            // Server-to-client messages are not requests.
            ZkMsg::Connected { .. } | ZkMsg::Response { .. } | ZkMsg::Pong | ZkMsg::Watch { .. } | ZkMsg::Expired { .. } => {}
        }
    }

    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        if timer != T_TICK {
            return;
        }
        let now = cx.now();
        let due: Vec<SessionId> = self
            .sessions
            .iter()
            .filter(|(_, s)| now.since(s.last_heard) > Duration::from_millis(s.timeout_ms))
            .map(|(id, _)| *id)
            .collect();
        for s in due {
            cx.print(&format!("INFO  Expiring session {s:#x}, timeout of {}ms exceeded", self.sessions[&s].timeout_ms));
            self.expire(cx, s);
        }
        cx.set_timer(Duration::from_millis(self.tick_ms), T_TICK);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

// ---------------------------------------------------------------------------------------------
// Client

/// The client's view of its session (Curator's ConnectionState).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Connecting {
        since: Time,
    },
    Connected {
        session: SessionId,
        timeout_ms: u64,
        last_heard: Time,
    },
    /// Nothing heard for 2/3 of the session timeout: Flink treats SUSPENDED as losing
    /// leadership (`tolerate-suspended-connections` false).
    Suspended {
        session: SessionId,
        timeout_ms: u64,
        since: Time,
    },
    /// The server said the session is gone; a new one must be opened.
    Lost,
}

/// What the client tells its owner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ZkEvent {
    Connected,
    Reply {
        xid: u64,
        result: Result<ZkReply, ZkError>,
    },
    Watch {
        path: String,
        kind: WatchKind,
    },
    /// SUSPENDED or LOST: leadership and leader information are no longer trustworthy.
    ConnectionLost {
        reason: String,
    },
}

/// A sans-IO ZooKeeper client: the owner calls `tick` from a timer and `on_msg` for `zk`
/// messages, and acts on the events.
pub struct ZkClient {
    pub server: Addr,
    pub timeout_ms: u64,
    pub state: ClientState,
    next_xid: u64,
}

impl ZkClient {
    pub fn new(server: Addr, timeout_ms: u64) -> ZkClient {
        ZkClient { server, timeout_ms, state: ClientState::Lost, next_xid: 1 }
    }

    pub fn connect(&mut self, cx: &mut Cx) {
        self.state = ClientState::Connecting { since: cx.now() };
        cx.send(self.server, ZkMsg::Connect { timeout_ms: self.timeout_ms });
    }

    pub fn session(&self) -> Option<SessionId> {
        match self.state {
            ClientState::Connected { session, .. } => Some(session),
            _ => None,
        }
    }

    pub fn is_connected(&self) -> bool {
        self.session().is_some()
    }

    /// Sends a request; None when there is no live session.
    pub fn request(&mut self, cx: &mut Cx, op: ZkOp) -> Option<u64> {
        let session = self.session()?;
        let xid = self.next_xid;
        self.next_xid += 1;
        cx.send(self.server, ZkMsg::Request { session, xid, op });
        Some(xid)
    }

    /// Notices a silent server without pinging it: for a process that wants to know, before it
    /// acts, that its session may still be alive (one resumed after a pause runs its overdue
    /// timers before the next tick; a leader must not act on them if its session may be gone).
    pub fn check_liveness(&mut self, cx: &mut Cx) -> Vec<ZkEvent> {
        if let ClientState::Connected { session, timeout_ms, last_heard } = self.state {
            let now = cx.now();
            if now.since(last_heard) > Duration::from_millis(timeout_ms * 2 / 3) {
                self.state = ClientState::Suspended { session, timeout_ms, since: now };
                cx.print("WARN  Connection to ZooKeeper suspended, waiting for reconnection.");
                return vec![ZkEvent::ConnectionLost { reason: "Connection to ZooKeeper suspended".into() }];
            }
        }
        Vec::new()
    }

    /// Called every few hundred ms: pings, and notices a silent server.
    pub fn tick(&mut self, cx: &mut Cx) -> Vec<ZkEvent> {
        let now = cx.now();
        match self.state {
            ClientState::Connected { session, .. } => {
                let lost = self.check_liveness(cx);
                if !lost.is_empty() {
                    return lost;
                }
                cx.send(self.server, ZkMsg::Ping { session });
            }
            ClientState::Suspended { session, .. } => cx.send(self.server, ZkMsg::Ping { session }),
            ClientState::Connecting { since } => {
                if now.since(since) > Duration::from_millis(self.timeout_ms) {
                    self.connect(cx);
                }
            }
            ClientState::Lost => {}
        }
        Vec::new()
    }

    pub fn on_msg(&mut self, cx: &mut Cx, from: Addr, msg: ZkMsg) -> Vec<ZkEvent> {
        if from != self.server {
            return Vec::new();
        }
        let now = cx.now();
        match msg {
            ZkMsg::Connected { session, timeout_ms } => {
                if !matches!(self.state, ClientState::Connecting { .. }) {
                    // A late answer to an earlier Connect: give that session back.
                    cx.send(self.server, ZkMsg::Close { session });
                    return Vec::new();
                }
                self.state = ClientState::Connected { session, timeout_ms, last_heard: now };
                vec![ZkEvent::Connected]
            }
            ZkMsg::Pong | ZkMsg::Response { .. } | ZkMsg::Watch { .. } => {
                match &mut self.state {
                    ClientState::Connected { last_heard, .. } => *last_heard = now,
                    ClientState::Suspended { session, timeout_ms, .. } => {
                        // Reconnected within the session timeout: the session (and its
                        // ephemeral nodes) survived; the owner re-checks what it holds.
                        self.state = ClientState::Connected { session: *session, timeout_ms: *timeout_ms, last_heard: now };
                        if matches!(msg, ZkMsg::Pong) {
                            return vec![ZkEvent::Connected];
                        }
                    }
                    ClientState::Connecting { .. } | ClientState::Lost => {}
                }
                match msg {
                    ZkMsg::Response { xid, result: Err(ZkError::SessionExpired) } => {
                        self.state = ClientState::Lost;
                        vec![
                            ZkEvent::Reply { xid, result: Err(ZkError::SessionExpired) },
                            ZkEvent::ConnectionLost { reason: "ZooKeeper session expired".into() },
                        ]
                    }
                    ZkMsg::Response { xid, result } => vec![ZkEvent::Reply { xid, result }],
                    ZkMsg::Watch { path, kind } => vec![ZkEvent::Watch { path, kind }],
                    _ => Vec::new(),
                }
            }
            ZkMsg::Expired { session } => {
                let mine = matches!(self.state, ClientState::Connected { session: s, .. } | ClientState::Suspended { session: s, .. } if s == session);
                if !mine {
                    return Vec::new();
                }
                self.state = ClientState::Lost;
                cx.print(&format!("ERROR ZooKeeper session {session:#x} expired."));
                vec![ZkEvent::ConnectionLost { reason: "ZooKeeper session expired".into() }]
            }
            ZkMsg::Connect { .. } | ZkMsg::Request { .. } | ZkMsg::Ping { .. } | ZkMsg::Close { .. } => Vec::new(),
        }
    }
}

/// `connection_info` as this harness writes it: `<address> <leader session id>`.
pub fn encode_leader(address: Addr, session_id: &str) -> Vec<u8> {
    format!("{address} {session_id}").into_bytes()
}

pub fn decode_leader(data: &[u8]) -> Option<(Addr, String)> {
    let s = std::str::from_utf8(data).ok()?;
    let (a, id) = s.split_once(' ')?;
    Some((a.parse().ok()?, id.to_string()))
}

/// ZooKeeper paths of one cluster (reference §7.2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ZkPaths {
    /// `<path.root>/<cluster-id>`, e.g. `/flink/application_1_0001`.
    pub base: String,
}

impl ZkPaths {
    pub fn new(root: &str, cluster_id: &str) -> ZkPaths {
        let root = root.trim_end_matches('/');
        let cid = cluster_id.trim_start_matches('/');
        ZkPaths { base: format!("{root}/{cid}") }
    }
    pub fn latch_dir(&self) -> String {
        format!("{}/leader/latch", self.base)
    }
    pub fn connection_info(&self, component: &str) -> String {
        format!("{}/leader/{component}/connection_info", self.base)
    }
    pub fn execution_plans(&self) -> String {
        format!("{}/execution-plans", self.base)
    }
    pub fn checkpoints(&self, job: &str) -> String {
        format!("{}/jobs/{job}/checkpoints", self.base)
    }
    pub fn counter(&self, job: &str) -> String {
        format!("{}/jobs/{job}/checkpoint_id_counter", self.base)
    }
    pub fn job(&self, job: &str) -> String {
        format!("{}/jobs/{job}", self.base)
    }
}

/// Environment variables the AM gives TaskManagers when HA is on (leader retrieval).
pub mod env {
    pub const FLINK_HA_ZOOKEEPER_QUORUM: &str = "FLINK_HA_ZOOKEEPER_QUORUM";
    pub const FLINK_HA_CLUSTER_ID: &str = "FLINK_HA_CLUSTER_ID";
    pub const FLINK_HA_ZOOKEEPER_ROOT: &str = "FLINK_HA_ZOOKEEPER_ROOT";
    pub const FLINK_HA_SESSION_TIMEOUT_MS: &str = "FLINK_HA_SESSION_TIMEOUT_MS";
}

#[cfg(test)]
mod tests {
    use engine::Effect;
    use rand::SeedableRng;

    use super::*;

    type TestSys = engine::MemSys;

    fn addr(i: u8) -> Addr {
        Addr::new(std::net::Ipv4Addr::new(127, 0, 0, i), 1000)
    }

    /// A server driven by hand: each call delivers one message at `now` ms and returns what
    /// the server sent.
    struct Env {
        zk: ZooKeeperServer,
        sys: TestSys,
        rng: engine::Rng,
        now: u64,
    }

    impl Env {
        fn new() -> Env {
            Env { zk: ZooKeeperServer::new(100), sys: TestSys::default(), rng: engine::Rng::seed_from_u64(1), now: 0 }
        }
        fn run(&mut self, f: impl FnOnce(&mut ZooKeeperServer, &mut Cx)) -> Vec<(Addr, ZkMsg)> {
            let mut effects = Vec::new();
            let mut cx = Cx::new(Time::from_millis(self.now), addr(100), &mut self.rng, &mut effects, &mut self.sys);
            f(&mut self.zk, &mut cx);
            effects
                .into_iter()
                .filter_map(|e| match e {
                    Effect::Send { to, msg } => msg.downcast::<ZkMsg>().ok().map(|m| (to, m)),
                    _ => None,
                })
                .collect()
        }
        fn deliver(&mut self, from: Addr, m: ZkMsg) -> Vec<(Addr, ZkMsg)> {
            self.run(|z, cx| z.on_message(cx, from, Msg::new(m)))
        }
        fn connect(&mut self, from: Addr, timeout_ms: u64) -> SessionId {
            match self.deliver(from, ZkMsg::Connect { timeout_ms }).pop() {
                Some((_, ZkMsg::Connected { session, .. })) => session,
                other => panic!("{other:?}"),
            }
        }
        fn op(&mut self, from: Addr, session: SessionId, op: ZkOp) -> Result<ZkReply, ZkError> {
            let out = self.deliver(from, ZkMsg::Request { session, xid: 7, op });
            out.into_iter()
                .find_map(|(to, m)| match m {
                    ZkMsg::Response { xid: 7, result } if to == from => Some(result),
                    _ => None,
                })
                .expect("a response")
        }
    }

    fn create(path: &str, eph: bool, seq: bool) -> ZkOp {
        ZkOp::Create { path: path.into(), data: b"x".to_vec(), ephemeral: eph, sequential: seq, parents: true }
    }

    #[test]
    fn sequential_children_get_parent_wide_ten_digit_suffixes() {
        let mut e = Env::new();
        let s = e.connect(addr(1), 1000);
        let a = e.op(addr(1), s, create("/l/latch-", true, true)).unwrap();
        let b = e.op(addr(1), s, create("/l/latch-", true, true)).unwrap();
        assert_eq!(a, ZkReply::Created { path: "/l/latch-0000000000".into() });
        assert_eq!(b, ZkReply::Created { path: "/l/latch-0000000001".into() });
        assert_eq!(
            e.op(addr(1), s, ZkOp::GetChildren { path: "/l".into(), watch: false }).unwrap(),
            ZkReply::Children { names: vec!["latch-0000000000".into(), "latch-0000000001".into()] }
        );
        // Without `parents` a missing parent is NoNode; ephemerals have no children.
        let no_parent = ZkOp::Create { path: "/x/y".into(), data: vec![], ephemeral: false, sequential: false, parents: false };
        assert_eq!(e.op(addr(1), s, no_parent), Err(ZkError::NoNode));
        assert_eq!(e.op(addr(1), s, create("/l/latch-0000000000/c", false, false)), Err(ZkError::NoChildrenForEphemerals));
        assert_eq!(e.op(addr(1), s, create("/l", false, false)), Err(ZkError::NodeExists));
        assert_eq!(e.op(addr(1), s, create("bad", false, false)), Err(ZkError::BadArguments));
    }

    #[test]
    fn set_data_and_delete_compare_versions() {
        let mut e = Env::new();
        let s = e.connect(addr(1), 1000);
        e.op(addr(1), s, create("/c", false, false)).unwrap();
        let set = |v| ZkOp::SetData { path: "/c".into(), data: b"2".to_vec(), version: v };
        assert_eq!(e.op(addr(1), s, set(Some(0))), Ok(ZkReply::Set { version: 1 }));
        assert_eq!(e.op(addr(1), s, set(Some(0))), Err(ZkError::BadVersion), "a stale writer loses");
        assert_eq!(e.op(addr(1), s, ZkOp::Delete { path: "/c".into(), version: Some(0), recursive: false }), Err(ZkError::BadVersion));
        e.op(addr(1), s, create("/c/k", false, false)).unwrap();
        assert_eq!(e.op(addr(1), s, ZkOp::Delete { path: "/c".into(), version: None, recursive: false }), Err(ZkError::NotEmpty));
        assert_eq!(e.op(addr(1), s, ZkOp::Delete { path: "/c".into(), version: None, recursive: true }), Ok(ZkReply::Deleted));
        assert_eq!(e.op(addr(1), s, ZkOp::Exists { path: "/c/k".into(), watch: false }), Ok(ZkReply::Stat { version: None }));
    }

    #[test]
    fn an_expired_session_loses_its_ephemerals_fires_watches_and_is_refused() {
        let mut e = Env::new();
        let leader = e.connect(addr(1), 500);
        let follower = e.connect(addr(2), 500);
        e.op(addr(1), leader, create("/leader/info", true, false)).unwrap();
        e.op(addr(2), follower, ZkOp::GetData { path: "/leader/info".into(), watch: true }).unwrap();
        // Only the follower keeps its session alive.
        for t in (100..=700).step_by(100) {
            e.now = t;
            e.deliver(addr(2), ZkMsg::Ping { session: follower });
            let out = e.run(|z, cx| z.on_timer(cx, T_TICK));
            if t < 600 {
                assert!(out.is_empty(), "{t}: {out:?}");
            } else if t == 600 {
                assert!(out.contains(&(addr(2), ZkMsg::Watch { path: "/leader/info".into(), kind: WatchKind::NodeDeleted })), "{out:?}");
                assert!(out.contains(&(addr(1), ZkMsg::Expired { session: leader })), "{out:?}");
            }
        }
        assert_eq!(
            e.op(addr(2), follower, ZkOp::Exists { path: "/leader/info".into(), watch: false }),
            Ok(ZkReply::Stat { version: None })
        );
        assert_eq!(e.op(addr(1), leader, create("/z", false, false)), Err(ZkError::SessionExpired), "a zombie cannot write");
        // The negotiated timeout is clamped to [2, 20] ticks.
        match e.deliver(addr(3), ZkMsg::Connect { timeout_ms: 60_000 }).pop() {
            Some((_, ZkMsg::Connected { timeout_ms, .. })) => assert_eq!(timeout_ms, 2_000),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn watches_fire_once() {
        let mut e = Env::new();
        let s = e.connect(addr(1), 1000);
        e.op(addr(1), s, create("/w", false, false)).unwrap();
        e.op(addr(1), s, ZkOp::GetData { path: "/w".into(), watch: true }).unwrap();
        let set = ZkOp::SetData { path: "/w".into(), data: vec![], version: None };
        let out = e.deliver(addr(1), ZkMsg::Request { session: s, xid: 1, op: set.clone() });
        assert!(out.contains(&(addr(1), ZkMsg::Watch { path: "/w".into(), kind: WatchKind::NodeDataChanged })));
        let out = e.deliver(addr(1), ZkMsg::Request { session: s, xid: 2, op: set });
        assert!(!out.iter().any(|(_, m)| matches!(m, ZkMsg::Watch { .. })), "one-shot: {out:?}");
    }

    #[test]
    fn leader_info_and_paths_round_trip() {
        let a = addr(9);
        assert_eq!(decode_leader(&encode_leader(a, "u-1")), Some((a, "u-1".into())));
        assert_eq!(decode_leader(b"garbage"), None);
        let p = ZkPaths::new("/flink/", "/application_1_0001");
        assert_eq!(p.connection_info("resource_manager"), "/flink/application_1_0001/leader/resource_manager/connection_info");
        assert_eq!(p.checkpoints("j"), "/flink/application_1_0001/jobs/j/checkpoints");
    }
}
