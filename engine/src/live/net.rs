//! The live transport: one port per node, shared by HTTP and node-to-node frames.
//!
//! A node listens on a single `127.0.0.1:port`. Every accepted connection is sniffed: one that
//! opens with [`MAGIC`] is a frame stream from another node, anything else is HTTP/1 served by
//! hyper with the node's axum `Router` (public REST/web routes and `POST /_rpc`).
//!
//! A frame stream opens with [`MAGIC`] and a challenge-response that proves both sides know
//! the cluster secret (see [`super::auth`]); a stream that fails it is logged and closed before
//! a single frame is read. A frame is a big-endian `u32` length followed by that many bytes of
//! an [`Envelope`]: the sender's address and the family name, each a length byte and ASCII, then
//! the message in its family's encoding (JSON, or the family's binary layout) to the end of the
//! frame. A frame longer than [`MAX_FRAME`] closes the connection; a malformed one is dropped
//! and logged.
//!
//! Sending: each destination has one writer task that owns one connection (opened lazily, the
//! preface written once) and a bounded queue of [`OUTBOX_FRAMES`] envelopes, so per-destination
//! order is kept and memory stays bounded. The writer drains whatever is queued (up to
//! [`WRITE_BATCH_BYTES`]) into one write. If the connection cannot be opened or a write fails
//! or stalls past [`IO_TIMEOUT`], that batch is dropped and the next message reconnects: a
//! peer that is down loses messages, as a network would, and the protocols tolerate it. A
//! connection the peer closed (it exited or restarted) is noticed by a watcher on its read
//! half and replaced before the next write.
//!
//! Overflow policy: `send` is called under the node's mutex from sync code and must not block,
//! so when a destination's queue is full the new message is dropped (tail drop, as a router
//! queue would) and counted; the count is reported on stderr at every power of two. The nodes'
//! own flow control (Flink credits, request/response protocols) keeps real traffic far below
//! the bound; hitting it means the peer stopped reading.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::auth::{random_bytes, ClusterSecret, NONCE_LEN, PROOF_LEN};
use super::{Envelope, LiveNode};
use crate::fault::{NetFaults, Verdict};
use crate::node::{Addr, Node};

/// The preface that marks a connection as a node-to-node frame stream. (Version 2: the
/// preface is followed by the authentication handshake; a version-1 peer is told apart.)
pub const MAGIC: &[u8; 8] = b"YSIMRPC2";
/// Largest frame accepted or sent.
pub const MAX_FRAME: usize = 64 << 20;
/// Envelopes queued per destination before `send` starts dropping.
pub const OUTBOX_FRAMES: usize = 4096;
/// A writer coalesces queued frames into one write of up to about this many bytes.
const WRITE_BATCH_BYTES: usize = 256 << 10;
/// Connect and write timeout of a writer.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a connection may take to send enough bytes to be told apart.
const SNIFF_TIMEOUT: Duration = Duration::from_secs(10);

/// Appends one frame holding `env` to `buf`; false (and `buf` unchanged) if it is too large.
pub fn encode(env: &Envelope, buf: &mut Vec<u8>) -> bool {
    use std::io::Write as _;
    let start = buf.len();
    buf.extend_from_slice(&[0; 5]);
    write!(buf, "{}", env.from).expect("writing to a Vec cannot fail");
    buf[start + 4] = (buf.len() - start - 5) as u8;
    let family = env.family.as_bytes();
    if family.len() > usize::from(u8::MAX) {
        buf.truncate(start);
        return false;
    }
    buf.push(family.len() as u8);
    buf.extend_from_slice(family);
    buf.extend_from_slice(&env.body);
    let len = buf.len() - start - 4;
    if len > MAX_FRAME {
        buf.truncate(start);
        return false;
    }
    buf[start..start + 4].copy_from_slice(&(len as u32).to_be_bytes());
    true
}

/// Reads the envelope of one frame (its bytes after the length).
pub fn decode(frame: &[u8]) -> Result<Envelope, String> {
    fn short<'a>(rest: &mut &'a [u8], what: &str) -> Result<&'a str, String> {
        let (&n, tail) = rest.split_first().ok_or_else(|| format!("truncated frame: no {what}"))?;
        let n = usize::from(n);
        if tail.len() < n {
            return Err(format!("truncated frame: {what} of {n} bytes, {} left", tail.len()));
        }
        let (s, tail) = tail.split_at(n);
        *rest = tail;
        std::str::from_utf8(s).map_err(|_| format!("the frame's {what} is not UTF-8"))
    }
    let mut rest = frame;
    let from = short(&mut rest, "sender address")?;
    let from: Addr = from.parse().map_err(|_| format!("bad sender address '{from}' in a frame"))?;
    let family = short(&mut rest, "family name")?.to_string();
    Ok(Envelope { from, family, body: rest.to_vec() })
}

/// Counters shared by a node's writers and its listener.
#[derive(Default)]
pub(super) struct Stats {
    /// Envelopes accepted by `send` and not yet written or dropped (`run` drains it on exit).
    pub in_flight: AtomicUsize,
    /// Envelopes dropped because a destination's queue was full.
    pub dropped_full: AtomicU64,
    /// Frame streams and `/_rpc` requests refused for want of a valid proof, and peers that
    /// could not prove the secret to us.
    pub refused: AtomicU64,
}

impl Stats {
    /// Counts a refusal; true when it should be logged (the first 16, then at powers of two,
    /// so a flood of forgeries cannot fill the disk with log lines).
    pub fn note_refusal(&self) -> (u64, bool) {
        let n = self.refused.fetch_add(1, Ordering::SeqCst) + 1;
        (n, n <= 16 || n.is_power_of_two())
    }
}

/// The queue of one destination; spawns its writer task.
pub(super) fn outbox(to: Addr, stats: Arc<Stats>, secret: ClusterSecret) -> mpsc::Sender<Envelope> {
    let (tx, rx) = mpsc::channel(OUTBOX_FRAMES);
    tokio::spawn(write_loop(to, rx, stats, secret));
    tx
}

fn io_err(kind: std::io::ErrorKind, msg: &str) -> std::io::Error {
    std::io::Error::new(kind, msg.to_string())
}

/// The connecting side of the handshake: sends [`MAGIC`] and a nonce, checks the peer's proof,
/// sends its own. Public so tests can open authenticated (or wrongly authenticated) streams.
pub async fn client_handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, secret: &ClusterSecret) -> std::io::Result<()> {
    let nc = random_bytes(NONCE_LEN)?;
    let mut hello = MAGIC.to_vec();
    hello.extend_from_slice(&nc);
    s.write_all(&hello).await?;
    let mut reply = [0u8; NONCE_LEN + PROOF_LEN];
    s.read_exact(&mut reply).await?;
    let (ns, server_proof) = reply.split_at(NONCE_LEN);
    if !secret.verify(&[b"server", &nc, ns], server_proof) {
        return Err(io_err(std::io::ErrorKind::PermissionDenied, "the peer did not prove the cluster secret"));
    }
    s.write_all(&secret.proof(&[b"client", &nc, ns])).await
}

/// The accepting side: reads the preface and nonce, proves itself, checks the client's proof.
async fn server_handshake<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S, secret: &ClusterSecret) -> std::io::Result<()> {
    let mut hello = [0u8; MAGIC.len() + NONCE_LEN];
    s.read_exact(&mut hello).await?;
    let nc = &hello[MAGIC.len()..];
    let ns = random_bytes(NONCE_LEN)?;
    let mut reply = ns.clone();
    reply.extend_from_slice(&secret.proof(&[b"server", nc, &ns]));
    s.write_all(&reply).await?;
    let mut client_proof = [0u8; PROOF_LEN];
    s.read_exact(&mut client_proof).await?;
    if !secret.verify(&[b"client", nc, &ns], &client_proof) {
        return Err(io_err(std::io::ErrorKind::PermissionDenied, "no valid proof of the cluster secret"));
    }
    Ok(())
}

/// An open connection to a peer, with a watcher that flags it once the peer closes it.
struct Conn {
    w: OwnedWriteHalf,
    closed: Arc<AtomicBool>,
    watcher: JoinHandle<()>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.watcher.abort();
    }
}

async fn connect(to: Addr, secret: &ClusterSecret) -> std::io::Result<Conn> {
    let mut s = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(to))
        .await
        .map_err(|_| io_err(std::io::ErrorKind::TimedOut, "connect timed out"))??;
    s.set_nodelay(true)?;
    tokio::time::timeout(IO_TIMEOUT, client_handshake(&mut s, secret))
        .await
        .map_err(|_| io_err(std::io::ErrorKind::TimedOut, "handshake timed out"))??;
    let (mut r, w) = s.into_split();
    let closed = Arc::new(AtomicBool::new(false));
    let flag = closed.clone();
    // Peers never write on a frame stream: any read result means the connection is gone.
    let watcher = tokio::spawn(async move {
        let mut b = [0u8; 64];
        let _ = r.read(&mut b).await;
        flag.store(true, Ordering::SeqCst);
    });
    Ok(Conn { w, closed, watcher })
}

async fn write_loop(to: Addr, mut rx: mpsc::Receiver<Envelope>, stats: Arc<Stats>, secret: ClusterSecret) {
    let mut conn: Option<Conn> = None;
    let mut buf = Vec::with_capacity(64 << 10);
    while let Some(first) = rx.recv().await {
        buf.clear();
        let mut taken = 1;
        if !encode(&first, &mut buf) {
            eprintln!("live: dropped a {} message to {to}: frame over {MAX_FRAME} bytes", first.family);
        }
        while buf.len() < WRITE_BATCH_BYTES {
            let Ok(env) = rx.try_recv() else { break };
            taken += 1;
            if !encode(&env, &mut buf) {
                eprintln!("live: dropped a {} message to {to}: frame over {MAX_FRAME} bytes", env.family);
            }
        }
        if conn.as_ref().is_some_and(|c| c.closed.load(Ordering::SeqCst)) {
            conn = None;
        }
        if !buf.is_empty() {
            if conn.is_none() {
                // A destination that is down loses the batch, as a network would; one that
                // cannot prove the cluster secret is not a node of ours and gets nothing.
                conn = match connect(to, &secret).await {
                    Ok(c) => Some(c),
                    Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
                        let (n, log) = stats.note_refusal();
                        if log {
                            eprintln!("live: {to} did not prove the cluster secret; dropped {taken} messages to it (refusal {n})");
                        }
                        None
                    }
                    Err(_) => None,
                };
            }
            if let Some(c) = conn.as_mut() {
                if !matches!(tokio::time::timeout(IO_TIMEOUT, c.w.write_all(&buf)).await, Ok(Ok(()))) {
                    conn = None;
                }
            }
        }
        stats.in_flight.fetch_sub(taken, Ordering::SeqCst);
        if buf.capacity() > 4 * WRITE_BATCH_BYTES {
            buf = Vec::with_capacity(64 << 10);
        }
    }
}

/// Accepts connections on `listener` forever, telling frame streams, registered raw
/// protocols and HTTP apart.
pub(super) async fn serve<N: Node>(host: LiveNode<N>, listener: TcpListener, app: Router) {
    loop {
        let stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(_) => {
                // Out of file descriptors or a connection reset before accept: try again soon.
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let host = host.clone();
        let app = app.clone();
        tokio::spawn(async move {
            let prefixes: Vec<&'static [u8]> = host.inner.raw_protocols.iter().map(|(p, _)| *p).collect();
            match tokio::time::timeout(SNIFF_TIMEOUT, sniff(&stream, &prefixes)).await {
                Ok(Some(Opening::Frames)) => {
                    let _ = stream.set_nodelay(true);
                    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    read_loop(host, stream, peer).await
                }
                Ok(Some(Opening::Raw(i))) => {
                    let _ = stream.set_nodelay(true);
                    let peer = stream.peer_addr().map(|a| a.to_string()).unwrap_or_default();
                    let handler = host.inner.raw_protocols[i].1.clone();
                    handler(stream, peer).await
                }
                Ok(Some(Opening::Http)) => serve_http(stream, app).await,
                _ => {}
            }
        });
    }
}

/// What a connection opened with.
#[derive(Debug, PartialEq, Eq)]
enum Opening {
    /// [`MAGIC`]: a node-to-node frame stream.
    Frames,
    /// The `i`th registered raw protocol's prefix.
    Raw(usize),
    /// Anything else.
    Http,
}

/// Which of [`MAGIC`] and `prefixes` the connection opens with (the first complete match), or
/// HTTP as soon as its bytes can start none of them; None if it closes first.
async fn sniff(s: &TcpStream, prefixes: &[&[u8]]) -> Option<Opening> {
    let want = prefixes.iter().map(|p| p.len()).chain([MAGIC.len()]).max().unwrap_or(MAGIC.len());
    let mut b = vec![0u8; want];
    loop {
        let n = s.peek(&mut b).await.ok()?;
        if n == 0 {
            return None;
        }
        match classify(&b[..n], prefixes) {
            Some(o) => return Some(o),
            // A prefix of some opening so far: wait for the rest.
            None => tokio::time::sleep(Duration::from_millis(1)).await,
        }
    }
}

/// The opening `seen` settles, or None while it is still a proper prefix of a candidate.
fn classify(seen: &[u8], prefixes: &[&[u8]]) -> Option<Opening> {
    let candidates = std::iter::once(&MAGIC[..]).chain(prefixes.iter().copied());
    let mut pending = false;
    for (i, c) in candidates.enumerate() {
        let k = seen.len().min(c.len());
        if seen[..k] != c[..k] {
            continue;
        }
        if k == c.len() {
            return Some(if i == 0 { Opening::Frames } else { Opening::Raw(i - 1) });
        }
        pending = true;
    }
    if pending {
        None
    } else {
        Some(Opening::Http)
    }
}

async fn serve_http(stream: TcpStream, app: Router) {
    use hyper::service::Service as _;
    let _ = stream.set_nodelay(true);
    // Handlers may ask who is calling (`ConnectInfo<SocketAddr>`), e.g. to log a refusal.
    let peer = stream.peer_addr().unwrap_or_else(|_| std::net::SocketAddr::from(([0, 0, 0, 0], 0)));
    let io = hyper_util::rt::TokioIo::new(stream);
    let inner = hyper_util::service::TowerToHyperService::new(app);
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        req.extensions_mut().insert(axum::extract::ConnectInfo(peer));
        inner.call(req)
    });
    let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, svc).await;
}

/// Authenticates the stream, then reads frames until the peer closes, delivering each in
/// order. Frames already buffered are decoded and delivered without going back to the socket.
async fn read_loop<N: Node, S: AsyncRead + AsyncWrite + Unpin>(host: LiveNode<N>, mut stream: S, peer: String) {
    let secret = host.inner.secret.clone();
    let verdict = tokio::time::timeout(SNIFF_TIMEOUT, server_handshake(&mut stream, &secret)).await;
    if !matches!(verdict, Ok(Ok(()))) {
        let why = match verdict {
            Ok(Err(e)) => e.to_string(),
            _ => "handshake timed out".to_string(),
        };
        let (n, log) = host.inner.stats.note_refusal();
        if log {
            eprintln!("live: refused a frame stream from {peer}: {why} (refusal {n})");
        }
        return;
    }
    let mut r = BufReader::with_capacity(256 << 10, stream);
    let mut frame = Vec::new();
    loop {
        let mut len = [0u8; 4];
        if r.read_exact(&mut len).await.is_err() {
            return;
        }
        let len = u32::from_be_bytes(len) as usize;
        if len > MAX_FRAME {
            eprintln!("live: {peer} sent a frame of {len} bytes (max {MAX_FRAME}); closing");
            return;
        }
        frame.resize(len, 0);
        if r.read_exact(&mut frame).await.is_err() {
            return;
        }
        let delivered = decode(&frame).and_then(|env| host.deliver(env));
        if let Err(e) = delivered {
            eprintln!("live: dropped a frame from {peer}: {e}");
        }
        if frame.capacity() > (1 << 20) {
            frame = Vec::new();
        }
    }
}

// ---- The fault layer

/// The live transport's fault layer: the scenario runner sets [`NetFaults`] rules through the
/// authenticated `POST /_fault` route (see [`super::LiveNode::fault_router`]), and every
/// message this node sends is decided by them at send time, as the simulator decides it:
/// lost on a cut link or by a drop rule, held while its link is held (delivered in order on
/// release), or delayed on a clogged link. In live mode every process is on 127.0.0.1, so the
/// runner names processes (`Endpoint::Process`) and installs each rule at the senders it
/// concerns; both ends of a partition get it. Drops are installed at the receiver, which
/// checks them on arrival (`LiveNode::deliver`). Delayed messages go through a per-destination
/// delay line whose release times never decrease, so a destination's order is kept.
pub(super) struct FaultLayer {
    pub rules: NetFaults,
    pub rng: crate::Rng,
    /// Messages held per destination, in send order.
    held: std::collections::BTreeMap<Addr, Vec<Envelope>>,
    /// A connection's messages from an in-process gateway (its peer's side) that wait for a
    /// cut link to heal, in arrival order.
    pub held_in: Vec<(Addr, crate::Msg)>,
    /// Destinations with a delay line (created by the first delayed message to them; every
    /// later message to them goes through it) and the last release time on it.
    lines: std::collections::BTreeMap<Addr, (mpsc::UnboundedSender<(tokio::time::Instant, Envelope)>, tokio::time::Instant)>,
    /// Messages lost to the rules (logged at powers of two).
    pub lost: u64,
}

/// What the fault layer does with a message.
pub(super) enum Decision {
    /// Send it now.
    Now(Envelope),
    /// It was lost, held or delayed: nothing more to do.
    Taken,
}

impl FaultLayer {
    pub fn new() -> FaultLayer {
        use rand::SeedableRng as _;
        let seed = random_bytes(8).ok().and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0);
        FaultLayer {
            rules: NetFaults::default(),
            rng: crate::Rng::seed_from_u64(seed),
            held: Default::default(),
            held_in: Vec::new(),
            lines: Default::default(),
            lost: 0,
        }
    }

    /// Counts a message the rules took (at its send, or on arrival), logged at powers of two.
    pub fn note_lost(&mut self, from: Addr, to: Addr, kind: &str, why: &str) {
        self.lost += 1;
        if self.lost.is_power_of_two() {
            eprintln!("live fault: {from} -> {to}: a {kind} message was lost ({why}); {} lost so far", self.lost);
        }
    }

    /// Decides a message from `me` to `to`. `outbox` is the destination's queue (for the delay
    /// line to feed).
    pub fn decide(
        &mut self,
        me: Addr,
        to: Addr,
        kind: &str,
        stream: bool,
        env: Envelope,
        outbox: impl FnOnce() -> (mpsc::Sender<Envelope>, Arc<Stats>),
    ) -> Decision {
        if self.rules.is_empty() && self.lines.is_empty() && self.held.is_empty() {
            return Decision::Now(env);
        }
        let extra = match self.rules.on_send(&mut self.rng, me, to, &env.family, kind, stream) {
            // A connection's message waits for the link to heal, behind what waits already.
            Verdict::Wait => {
                self.held.entry(to).or_default().push(env);
                return Decision::Taken;
            }
            Verdict::Lost { why } => {
                self.note_lost(me, to, kind, why);
                return Decision::Taken;
            }
            Verdict::Pass { extra } => extra,
        };
        if self.rules.is_held(me, to) || self.held.contains_key(&to) {
            // Behind what is already held for this destination, in order.
            self.held.entry(to).or_default().push(env);
            return Decision::Taken;
        }
        if extra.is_zero() && !self.lines.contains_key(&to) {
            return Decision::Now(env);
        }
        let now = tokio::time::Instant::now();
        let (line, last) = self.lines.entry(to).or_insert_with(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<(tokio::time::Instant, Envelope)>();
            let (out, stats) = outbox();
            tokio::spawn(async move {
                while let Some((at, env)) = rx.recv().await {
                    tokio::time::sleep_until(at).await;
                    stats.in_flight.fetch_add(1, Ordering::SeqCst);
                    if out.send(env).await.is_err() {
                        stats.in_flight.fetch_sub(1, Ordering::SeqCst);
                    }
                }
            });
            (tx, now)
        });
        let at = (now + extra).max(*last);
        *last = at;
        let _ = line.send((at, env));
        Decision::Taken
    }

    /// A gateway's messages to `me` whose links are no longer cut, in arrival order.
    pub fn take_released_in(&mut self, me: Addr) -> Vec<(Addr, crate::Msg)> {
        let rules = &self.rules;
        let (go, keep): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held_in).into_iter().partition(|(from, _)| !rules.is_cut(*from, me));
        self.held_in = keep;
        go
    }

    /// Held messages whose links are neither held nor cut any more (after a release or a
    /// heal), by destination, in order.
    pub fn take_released(&mut self, me: Addr) -> Vec<(Addr, Envelope)> {
        let free: Vec<Addr> = self.held.keys().copied().filter(|to| !self.rules.is_held(me, *to) && !self.rules.is_cut(me, *to)).collect();
        let mut out = Vec::new();
        for to in free {
            for env in self.held.remove(&to).unwrap_or_default() {
                out.push((to, env));
            }
        }
        out
    }
}

/// The frame decoder under arbitrary input: no byte sequence may panic the node or deliver
/// anything but a well-formed envelope; without the handshake nothing is delivered at all.
#[cfg(test)]
mod sniffing {
    use super::{classify, Opening, MAGIC};

    #[test]
    fn openings_are_told_apart_by_their_first_bytes() {
        let hrpc: &[&[u8]] = &[b"hrpc"];
        assert_eq!(classify(b"YSIM", hrpc), None, "a prefix of the preface waits");
        assert_eq!(classify(MAGIC, hrpc), Some(Opening::Frames));
        assert_eq!(classify(b"hr", hrpc), None);
        assert_eq!(classify(b"hrpc\x09\x00\x00", hrpc), Some(Opening::Raw(0)));
        assert_eq!(classify(b"GET / HTTP/1.1", hrpc), Some(Opening::Http));
        assert_eq!(classify(b"h", &[]), Some(Opening::Http), "unregistered: HTTP (which then fails)");
        assert_eq!(classify(b"hrpX", hrpc), Some(Opening::Http));
    }
}

#[cfg(test)]
mod fuzz {
    use std::any::Any;

    use proptest::prelude::*;
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::msg::{Codecs, Msg, Wire};
    use crate::node::{Cx, Node, TimerId};

    #[derive(Debug, Serialize, Deserialize)]
    struct Num(Vec<u32>);
    impl Wire for Num {
        const FAMILY: &'static str = "fuzz.num";
        fn kind(&self) -> &'static str {
            "Num"
        }
    }

    #[derive(Default)]
    struct Sink(Vec<Vec<u32>>);
    impl Node for Sink {
        fn on_start(&mut self, _: &mut Cx) {}
        fn on_message(&mut self, _: &mut Cx, _: Addr, msg: Msg) {
            self.0.push(msg.downcast::<Num>().expect("only Num is registered").0);
        }
        fn on_timer(&mut self, _: &mut Cx, _: TimerId) {}
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }

    fn cases() -> u32 {
        ["FUZZ_CASES", "PROPTEST_CASES"].iter().find_map(|k| std::env::var(k).ok()?.parse().ok()).unwrap_or(64)
    }

    fn frame(body: &[u8]) -> Vec<u8> {
        let mut b = (body.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(body);
        b
    }

    /// Feeds `input` to a node's read loop over an in-memory pipe, after a handshake with
    /// `client` (None: no handshake, the bytes follow the preface raw); returns what the node
    /// got.
    enum Client {
        Honest(ClusterSecret),
        Forger(ClusterSecret),
    }

    fn feed(input: Vec<u8>, client: Option<Client>) -> Vec<Vec<u32>> {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async move {
            let me: Addr = "127.0.0.1:9".parse().unwrap();
            let host = LiveNode::new(Sink::default(), me, std::env::temp_dir(), Codecs::new().with::<Num>(), 1)
                .with_secret(ClusterSecret::from_hex(&"ab".repeat(32)).unwrap());
            let (mut a, b) = tokio::io::duplex(1 << 16);
            let reader = tokio::spawn(read_loop(host.clone(), b, "fuzz".into()));
            let written = async move {
                match client {
                    Some(Client::Honest(k)) => {
                        if client_handshake(&mut a, &k).await.is_ok() {
                            let _ = a.write_all(&input).await;
                        }
                    }
                    Some(Client::Forger(k)) => {
                        // Ignores the server's proof and answers with what it can make.
                        let nc = [7u8; NONCE_LEN];
                        let _ = a.write_all(MAGIC).await;
                        let _ = a.write_all(&nc).await;
                        let mut reply = [0u8; NONCE_LEN + PROOF_LEN];
                        if a.read_exact(&mut reply).await.is_ok() {
                            let _ = a.write_all(&k.proof(&[b"client", &nc, &reply[..NONCE_LEN]])).await;
                            let _ = a.write_all(&input).await;
                        }
                    }
                    None => {
                        let _ = a.write_all(MAGIC).await;
                        let _ = a.write_all(&input).await;
                    }
                }
                // Dropping our end ends the stream.
            };
            written.await;
            tokio::time::timeout(Duration::from_secs(20), reader).await.expect("the read loop ends").expect("no panic");
            host.read(|s| s.0.clone())
        })
    }

    /// An envelope frame's contents as a sender builds it.
    fn envelope(from: &str, family: &str, body: &[u8]) -> Vec<u8> {
        let mut b = vec![from.len() as u8];
        b.extend_from_slice(from.as_bytes());
        b.push(family.len() as u8);
        b.extend_from_slice(family.as_bytes());
        b.extend_from_slice(body);
        b
    }

    /// One frame of the fuzz input, and what the node must make of it.
    #[derive(Debug, Clone)]
    enum Case {
        /// Garbage whose first byte claims a sender address longer than any IPv4 one.
        Raw(Vec<u8>),
        /// An envelope whose header is cut short.
        Truncated(Vec<u8>),
        /// A well-formed header: delivered iff the sender parses, the family is ours and the
        /// body is that family's JSON.
        Env { from: String, family: String, body: Vec<u8> },
    }

    /// Arbitrary frames: bytes, truncated headers, JSON-ish text, deep nesting and huge tokens
    /// inside a body.
    fn case() -> impl Strategy<Value = Case> {
        let json_body = prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..300),
            "[\\[\\]{}\":,0-9a-z ]{0,300}".prop_map(String::into_bytes),
            (1usize..20_000).prop_map(|d| format!("{}{}", "[".repeat(d), "]".repeat(d)).into_bytes()),
            (1usize..20_000).prop_map(|d| format!("{}1{}", "{\"a\":".repeat(d), "}".repeat(d)).into_bytes()),
            (1usize..200_000).prop_map(|n| format!("[{}]", "9".repeat(n)).into_bytes()),
            proptest::collection::vec(0u32..1000, 0..20).prop_map(|v| serde_json::to_vec(&v).unwrap()),
        ];
        let from = prop_oneof![Just("127.0.0.1:1".to_string()), "[0-9.:a-z]{0,22}"];
        let family = prop_oneof![Just("fuzz.num".to_string()), "[a-z.]{0,12}"];
        prop_oneof![
            (22u8..=255, proptest::collection::vec(any::<u8>(), 0..300)).prop_map(|(n, mut v)| {
                v.insert(0, n);
                Case::Raw(v)
            }),
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..3)).prop_map(|(n, v)| {
                let n = n.max(v.len() as u8 + 1);
                let mut b = vec![n];
                b.extend(v);
                Case::Truncated(b)
            }),
            (from, family, json_body).prop_map(|(from, family, body)| Case::Env { from, family, body }),
        ]
    }

    impl Case {
        fn bytes(&self) -> Vec<u8> {
            match self {
                Case::Raw(b) | Case::Truncated(b) => b.clone(),
                Case::Env { from, family, body } => envelope(from, family, body),
            }
        }
        fn delivered(&self) -> Option<Vec<u32>> {
            match self {
                Case::Raw(_) | Case::Truncated(_) => None,
                Case::Env { from, family, body } => {
                    if from.parse::<Addr>().is_err() || family != "fuzz.num" {
                        return None;
                    }
                    serde_json::from_slice::<Vec<u32>>(body).ok()
                }
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_frames_after_the_handshake_deliver_only_well_formed_envelopes(
            cases in proptest::collection::vec(case(), 0..6),
            tail in proptest::collection::vec(any::<u8>(), 0..16),
        ) {
            let mut input = Vec::new();
            let mut expect = Vec::new();
            for c in &cases {
                input.extend_from_slice(&frame(&c.bytes()));
                expect.extend(c.delivered());
            }
            // A truncated frame at the end (a peer that died mid-write) delivers nothing more.
            input.extend_from_slice(&tail);
            prop_assert_eq!(feed(input, Some(Client::Honest(ClusterSecret::from_hex(&"ab".repeat(32)).unwrap()))), expect);
        }

        #[test]
        fn without_the_secret_nothing_is_delivered(
            raw in proptest::collection::vec(any::<u8>(), 0..2000),
            wrong in any::<bool>(),
        ) {
            let mut input = raw;
            input.extend_from_slice(&frame(&envelope("127.0.0.1:1", "fuzz.num", b"[1]")));
            let client = if wrong { Some(Client::Forger(ClusterSecret::from_hex(&"cd".repeat(32)).unwrap())) } else { None };
            prop_assert!(feed(input, client).is_empty());
        }
    }
}

#[cfg(test)]
mod fault_layer {
    use super::*;
    use crate::fault::{Endpoint, Fault};

    /// A connection's messages (Flink's data plane) wait on a cut link and go out, in order,
    /// when it heals; an RPC message on the same cut link is lost.
    #[test]
    fn a_cut_link_holds_a_connections_messages_until_it_heals_and_loses_the_rest() {
        let (me, to): (Addr, Addr) = ("127.0.0.1:1".parse().unwrap(), "127.0.0.1:2".parse().unwrap());
        let mut f = FaultLayer::new();
        f.rules.apply(&Fault::Partition { a: Endpoint::Process(me), b: Endpoint::Process(to), one_way: true });
        let env = |n: u8| Envelope { from: me, family: "flink-data".into(), body: vec![n] };
        let no_line = || -> (mpsc::Sender<Envelope>, Arc<Stats>) { unreachable!("nothing is delayed") };
        assert!(matches!(f.decide(me, to, "Data", true, env(1), no_line), Decision::Taken));
        assert!(matches!(f.decide(me, to, "Heartbeat", false, env(9), no_line), Decision::Taken));
        assert!(matches!(f.decide(me, to, "Data", true, env(2), no_line), Decision::Taken));
        assert_eq!(f.lost, 1, "the heartbeat");
        assert!(f.take_released(me).is_empty(), "still cut");
        f.rules.apply(&Fault::Heal { a: Endpoint::Process(me), b: Endpoint::Process(to) });
        let out: Vec<(Addr, u8)> = f.take_released(me).into_iter().map(|(t, e)| (t, e.body[0])).collect();
        assert_eq!(out, vec![(to, 1), (to, 2)]);
        assert!(matches!(f.decide(me, to, "Data", true, env(3), no_line), Decision::Now(_)), "a healed link sends at once");
    }
}
