//! The live driver with real sockets and real processes.
// Live tests drive real tasks and clocks (the determinism lint is for node code).
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use engine::live::{bind_loopback, ClusterSecret, LiveNode};
use engine::{Addr, Codecs, Cx, ExitCode, LaunchSpec, Msg, Node, ProcId, Signal, TimerId, Wire};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Echo(u32);
impl Wire for Echo {
    const FAMILY: &'static str = "test.echo";
    fn kind(&self) -> &'static str {
        "Echo"
    }
}

#[derive(Default)]
struct Peer {
    target: Option<Addr>,
    got: Vec<u32>,
    exits: Vec<(ProcId, ExitCode)>,
}

impl Node for Peer {
    fn on_start(&mut self, cx: &mut Cx) {
        if let Some(t) = self.target {
            for i in 0..5 {
                cx.send(t, Echo(i));
            }
        }
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let Echo(n) = msg.downcast::<Echo>().unwrap();
        self.got.push(n);
        if self.target.is_none() {
            cx.send(from, Echo(n * 10));
        }
    }
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        cx.signal(ProcId(2), Signal::Term);
    }
    fn on_process_exit(&mut self, _cx: &mut Cx, pid: ProcId, code: ExitCode) {
        self.exits.push((pid, code));
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

async fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "current_thread")]
async fn messages_keep_order_and_processes_report_exit_codes() {
    let dir = std::env::temp_dir().join(format!("engine-live-{}", std::process::id()));
    let codecs = Codecs::new().with::<Echo>();
    let (l1, a1) = bind_loopback(0).await.unwrap();
    let server = LiveNode::new(Peer::default(), a1, &dir, codecs.clone(), 1);
    tokio::spawn(server.clone().run(l1, axum::Router::new()));
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let client = LiveNode::new(Peer { target: Some(a1), ..Default::default() }, a2, &dir, codecs, 2);
    tokio::spawn(client.clone().run(l2, axum::Router::new()));

    assert!(wait_until(|| client.read(|p| p.got.len() == 5)).await);
    assert_eq!(server.read(|p| p.got.clone()), vec![0, 1, 2, 3, 4]);
    assert_eq!(client.read(|p| p.got.clone()), vec![0, 10, 20, 30, 40]);

    let spec = |pid, cmd: &str| LaunchSpec {
        pid: ProcId(pid),
        command: cmd.into(),
        env: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        work_dir: dir.join(format!("w{pid}")).display().to_string(),
        stdout: dir.join(format!("l{pid}/stdout")).display().to_string(),
        stderr: dir.join(format!("l{pid}/stderr")).display().to_string(),
        recovery: None,
        script: None,
    };
    server.with(|_, cx| {
        cx.launch(spec(1, "echo $GREETING; pwd; exit 7"));
        cx.launch(spec(2, "sleep 30"));
        cx.set_timer(Duration::from_millis(100), 9);
    });
    assert!(wait_until(|| server.read(|p| p.exits.len() == 2)).await);
    let mut exits = server.read(|p| p.exits.clone());
    exits.sort();
    assert_eq!(exits, vec![(ProcId(1), 7), (ProcId(2), 143)]);
    let out = std::fs::read_to_string(dir.join("l1/stdout")).unwrap();
    assert_eq!(out, format!("hi\n{}\n", dir.join("w1").display()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_reads_the_process_tree() {
    let me = std::process::id();
    assert!(engine::live::proc::self_rss_bytes() > 0);
    assert!(engine::live::proc::rss_bytes(me).unwrap() > 0);
}

/// A windowed stream: the sender keeps at most `window` unacknowledged messages in flight
/// (as Flink's credits do), the receiver checks order and acknowledges every `ack_every`.
#[derive(Debug, Serialize, Deserialize)]
enum Flow {
    Seq { n: u32, pad: String },
    Ack(u32),
}
impl Wire for Flow {
    const FAMILY: &'static str = "test.flow";
    fn kind(&self) -> &'static str {
        match self {
            Flow::Seq { .. } => "Seq",
            Flow::Ack(_) => "Ack",
        }
    }
}

const ACK_EVERY: u32 = 128;

#[derive(Default)]
struct Streamer {
    // Sender side.
    target: Option<Addr>,
    total: u32,
    window: u32,
    pad: String,
    sent: u32,
    // Receiver side.
    next: u32,
    unacked: u32,
    out_of_order: u32,
}

impl Streamer {
    fn pump(&mut self, cx: &mut Cx, acked: u32) {
        let Some(t) = self.target else { return };
        let limit = (acked + self.window).min(self.total);
        while self.sent < limit {
            cx.send(t, Flow::Seq { n: self.sent, pad: self.pad.clone() });
            self.sent += 1;
        }
    }
}

impl Node for Streamer {
    fn on_start(&mut self, cx: &mut Cx) {
        self.pump(cx, 0);
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        match msg.downcast::<Flow>().unwrap() {
            Flow::Seq { n, .. } => {
                if n != self.next {
                    self.out_of_order += 1;
                }
                self.next = n + 1;
                self.unacked += 1;
                if self.unacked == ACK_EVERY {
                    self.unacked = 0;
                    cx.send(from, Flow::Ack(self.next));
                }
            }
            Flow::Ack(k) => self.pump(cx, k),
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn on_process_exit(&mut self, _cx: &mut Cx, _pid: ProcId, _code: ExitCode) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Starts a receiver (with a `/hello` route) and a sender streaming `total` messages to it;
/// returns both hosts once the receiver has seen the last one, and the time that took.
async fn stream(total: u32, window: u32, pad_bytes: usize) -> (LiveNode<Streamer>, LiveNode<Streamer>, Duration) {
    let dir = std::env::temp_dir().join(format!("engine-live-stream-{}-{total}-{pad_bytes}", std::process::id()));
    let codecs = Codecs::new().with::<Flow>();
    let (l1, a1) = bind_loopback(0).await.unwrap();
    let rx = LiveNode::new(Streamer::default(), a1, &dir, codecs.clone(), 1);
    let routes = axum::Router::new().route("/hello", axum::routing::get(|| async { "hello from the node port" }));
    tokio::spawn(rx.clone().run(l1, routes));
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let streamer = Streamer { target: Some(a1), total, window, pad: "x".repeat(pad_bytes), ..Default::default() };
    let tx = LiveNode::new(streamer, a2, &dir, codecs, 2);
    let start = std::time::Instant::now();
    tokio::spawn(tx.clone().run(l2, axum::Router::new()));
    for _ in 0..60_000 {
        if rx.read(|s| s.next == total) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = start.elapsed();
    let _ = std::fs::remove_dir_all(&dir);
    (rx, tx, took)
}

/// A raw HTTP/1.1 request on `addr`; returns the whole response.
async fn http(addr: Addr, request: String) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).await.unwrap();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_messages_arrive_complete_and_in_order_and_http_shares_the_port() {
    let total = 20_000;
    let (rx, tx, _) = stream(total, 2_000, 16).await;
    assert_eq!(rx.read(|s| (s.next, s.out_of_order)), (total, 0));
    assert_eq!(tx.read(|s| s.sent), total);

    // The node's public routes answer on the same port.
    let addr = rx.addr();
    let r = http(addr, format!("GET /hello HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n")).await;
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    assert!(r.ends_with("hello from the node port"), "{r}");

    // Envelopes can still be posted over HTTP.
    let body = serde_json::json!({"from": tx.addr(), "family": "test.flow", "body": {"Seq": {"n": total, "pad": ""}}}).to_string();
    let post = format!(
        "POST /_rpc HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let r = http(addr, post).await;
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    assert_eq!(rx.read(|s| (s.next, s.out_of_order)), (total + 1, 0));
}

/// Throughput between two live nodes on loopback. Run with
/// `cargo test --release -p engine --test live -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn bench_live_message_throughput() {
    let total: u32 = std::env::var("BENCH_MESSAGES").ok().and_then(|v| v.parse().ok()).unwrap_or(200_000);
    for pad in [16, 1024] {
        let (rx, _tx, took) = stream(total, 2_000, pad).await;
        assert_eq!(rx.read(|s| (s.next, s.out_of_order)), (total, 0));
        let rate = total as f64 / took.as_secs_f64();
        println!("live transport: {total} messages of ~{pad} B payload in {took:.2?}: {rate:.0} msg/s");
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_peer_that_is_down_loses_messages_and_a_later_one_gets_them() {
    let dir = std::env::temp_dir().join(format!("engine-live-down-{}", std::process::id()));
    let codecs = Codecs::new().with::<Echo>();
    // Nothing listens at a1 yet: the client's five opening messages are lost.
    let (l1, a1) = bind_loopback(0).await.unwrap();
    drop(l1);
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let client = LiveNode::new(Peer { target: Some(a1), ..Default::default() }, a2, &dir, codecs.clone(), 2);
    tokio::spawn(client.clone().run(l2, axum::Router::new()));
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Once a node listens there, the next message connects again and gets through.
    let (l1, _) = bind_loopback(a1.port()).await.unwrap();
    let server = LiveNode::new(Peer::default(), a1, &dir, codecs, 1);
    tokio::spawn(server.clone().run(l1, axum::Router::new()));
    client.with(|_, cx| cx.send(a1, Echo(7)));
    assert!(wait_until(|| client.read(|p| p.got.len() == 1)).await);
    assert_eq!(server.read(|p| p.got.clone()), vec![7]);
    assert_eq!(client.read(|p| p.got.clone()), vec![70]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A frame's contents as the wire layout has them: the sender's address and the family name,
/// each a length byte and ASCII, then the message's own encoding (JSON for these families).
fn envelope(family: &str, body: &[u8]) -> Vec<u8> {
    let from = "127.0.0.1:1";
    let mut b = vec![from.len() as u8];
    b.extend_from_slice(from.as_bytes());
    b.push(family.len() as u8);
    b.extend_from_slice(family.as_bytes());
    b.extend_from_slice(body);
    b
}

#[tokio::test(flavor = "current_thread")]
async fn an_oversized_or_garbled_frame_is_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("engine-live-big-{}", std::process::id()));
    let (l1, a1) = bind_loopback(0).await.unwrap();
    let server = LiveNode::new(Peer::default(), a1, &dir, Codecs::new().with::<Echo>(), 1);
    tokio::spawn(server.clone().run(l1, axum::Router::new()));

    // A frame that does not decode is dropped; the stream goes on.
    let mut s = tokio::net::TcpStream::connect(a1).await.unwrap();
    engine::live::net::client_handshake(&mut s, &ClusterSecret::open()).await.unwrap();
    let mut bytes = Vec::new();
    for body in [&b"not an envelope"[..], &envelope("test.echo", b"not json"), &envelope("test.echo", b"7")] {
        bytes.extend_from_slice(&(body.len() as u32).to_be_bytes());
        bytes.extend_from_slice(body);
    }
    s.write_all(&bytes).await.unwrap();
    assert!(wait_until(|| server.read(|p| p.got == vec![7])).await);

    // A frame over the limit closes the connection.
    s.write_all(&(engine::live::net::MAX_FRAME as u32 + 1).to_be_bytes()).await.unwrap();
    let mut b = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut b)).await.expect("closed in time");
    assert!(matches!(n, Ok(0) | Err(_)), "{n:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

fn secret(byte: &str) -> ClusterSecret {
    ClusterSecret::from_hex(&byte.repeat(32)).unwrap()
}

/// Two nodes on the same secret talk; a node on another secret, or on none, is refused in both
/// directions and delivers nothing.
#[tokio::test(flavor = "current_thread")]
async fn only_nodes_that_prove_the_cluster_secret_exchange_messages() {
    let dir = std::env::temp_dir().join(format!("engine-live-auth-{}", std::process::id()));
    let codecs = Codecs::new().with::<Echo>();
    let (l1, a1) = bind_loopback(0).await.unwrap();
    let server = LiveNode::new(Peer::default(), a1, &dir, codecs.clone(), 1).with_secret(secret("ab"));
    tokio::spawn(server.clone().run(l1, axum::Router::new()));
    for (i, other) in [secret("cd"), ClusterSecret::open()].into_iter().enumerate() {
        let (l, a) = bind_loopback(0).await.unwrap();
        let intruder =
            LiveNode::new(Peer { target: Some(a1), ..Default::default() }, a, &dir, codecs.clone(), 10 + i as u64).with_secret(other);
        tokio::spawn(intruder.clone().run(l, axum::Router::new()));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(server.read(|p| p.got.len()), 0, "intruder {i} got through");
        // Nor does the server's reply reach a node without the secret.
        server.with(|_, cx| cx.send(a, Echo(99)));
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(intruder.read(|p| p.got.is_empty()));
    }
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let client = LiveNode::new(Peer { target: Some(a1), ..Default::default() }, a2, &dir, codecs, 2).with_secret(secret("ab"));
    tokio::spawn(client.clone().run(l2, axum::Router::new()));
    assert!(wait_until(|| client.read(|p| p.got.len() == 5)).await);
    assert_eq!(server.read(|p| p.got.clone()), vec![0, 1, 2, 3, 4]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A raw stream that skips the handshake, or completes it with the wrong secret, is closed
/// before any frame is read; `POST /_rpc` needs the body's proof.
#[tokio::test(flavor = "current_thread")]
async fn forged_frames_and_rpc_posts_are_refused() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("engine-live-forged-{}", std::process::id()));
    let (l1, a1) = bind_loopback(0).await.unwrap();
    let key = secret("ab");
    let server = LiveNode::new(Peer::default(), a1, &dir, Codecs::new().with::<Echo>(), 1).with_secret(key.clone());
    tokio::spawn(server.clone().run(l1, axum::Router::new()));
    let frame = |body: &[u8]| {
        let mut b = (body.len() as u32).to_be_bytes().to_vec();
        b.extend_from_slice(body);
        b
    };
    let echo = br#"{"from":"127.0.0.1:1","family":"test.echo","body":7}"#;
    let echo_frame = envelope("test.echo", b"7");

    // Preface then frames straight away: the frame bytes are no proof.
    let mut s = tokio::net::TcpStream::connect(a1).await.unwrap();
    let mut bytes = engine::live::net::MAGIC.to_vec();
    for _ in 0..4 {
        bytes.extend_from_slice(&frame(&echo_frame));
    }
    s.write_all(&bytes).await.unwrap();
    let mut sink = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await.expect("closed in time");
    // The wrong secret fails at the client's own check of the server (the server proved a key
    // the client does not have); a client that ignores that and sends frames is closed too.
    let mut s = tokio::net::TcpStream::connect(a1).await.unwrap();
    let e = engine::live::net::client_handshake(&mut s, &secret("cd")).await.unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::PermissionDenied);
    let _ = s.write_all(&[0u8; 32]).await;
    let _ = s.write_all(&frame(&echo_frame)).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut sink)).await.expect("closed in time");

    let post = |headers: String, body: &[u8]| {
        format!(
            "POST /_rpc HTTP/1.1\r\nHost: {a1}\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{}",
            body.len(),
            String::from_utf8_lossy(body)
        )
    };
    let r = http(a1, post(String::new(), echo)).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    let r = http(a1, post(format!("x-yarn-sim-auth: {}\r\n", secret("cd").rpc_header(echo)), echo)).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    // A proof of another body does not carry over.
    let r = http(a1, post(format!("x-yarn-sim-auth: {}\r\n", key.rpc_header(b"{}")), echo)).await;
    assert!(r.starts_with("HTTP/1.1 401"), "{r}");
    assert!(server.read(|p| p.got.is_empty()));

    // The real thing gets through, both ways.
    let r = http(a1, post(format!("x-yarn-sim-auth: {}\r\n", key.rpc_header(echo)), echo)).await;
    assert!(r.starts_with("HTTP/1.1 202"), "{r}");
    let mut s = tokio::net::TcpStream::connect(a1).await.unwrap();
    engine::live::net::client_handshake(&mut s, &key).await.unwrap();
    s.write_all(&frame(&envelope("test.echo", b"8"))).await.unwrap();
    assert!(wait_until(|| server.read(|p| p.got == vec![7, 8])).await);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The fault layer: `POST /_fault` with the secret's proof partitions a link (messages are
/// lost), heals it, holds and releases it (held messages arrive in order), clogs it; a request
/// without the proof, or with an `/_rpc` proof, changes nothing; a non-network fault is a 400.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_route_partitions_holds_and_clogs_links_only_for_the_secret() {
    use engine::fault::{Endpoint, Fault, Link};
    let dir = std::env::temp_dir().join(format!("engine-live-fault-{}", std::process::id()));
    let codecs = Codecs::new().with::<Echo>();
    let key = secret("ab");
    let (l1, a1) = bind_loopback(0).await.unwrap();
    // Both have a target (so neither echoes back); the server's start-up messages go to a
    // port nobody listens on, the test sends from the client by hand.
    let nowhere: Addr = "127.0.0.1:9".parse().unwrap();
    let server = LiveNode::new(Peer { target: Some(nowhere), ..Default::default() }, a1, &dir, codecs.clone(), 1).with_secret(key.clone());
    tokio::spawn(server.clone().run(l1, axum::Router::new()));
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let client = LiveNode::new(Peer { target: Some(nowhere), ..Default::default() }, a2, &dir, codecs, 2).with_secret(key.clone());
    tokio::spawn(client.clone().run(l2, axum::Router::new()));
    let post = |f: &Fault, proof: Option<String>| {
        let body = serde_json::to_string(f).unwrap();
        let h = proof.map(|p| format!("x-yarn-sim-fault-auth: {p}\r\n")).unwrap_or_default();
        format!(
            "POST /_fault HTTP/1.1\r\nHost: {a2}\r\nContent-Type: application/json\r\n{h}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let signed = |f: &Fault| post(f, Some(key.fault_header(serde_json::to_string(f).unwrap().as_bytes())));
    let cut = Fault::Partition { a: Endpoint::Process(a2), b: Endpoint::Process(a1), one_way: true };
    // Refused: no proof, an /_rpc proof, a wrong secret's proof.
    let body = serde_json::to_string(&cut).unwrap();
    assert!(http(a2, post(&cut, None)).await.starts_with("HTTP/1.1 401"));
    assert!(http(a2, post(&cut, Some(key.rpc_header(body.as_bytes())))).await.starts_with("HTTP/1.1 401"));
    assert!(http(a2, post(&cut, Some(secret("cd").fault_header(body.as_bytes())))).await.starts_with("HTTP/1.1 401"));
    client.with(|_, cx| cx.send(a1, Echo(1)));
    assert!(wait_until(|| server.read(|p| p.got == vec![1])).await, "no rule yet: delivered");
    // Partition: lost.
    let r = http(a2, signed(&cut)).await;
    assert!(r.starts_with("HTTP/1.1 200") && r.contains("applied: partition"), "{r}");
    client.with(|_, cx| cx.send(a1, Echo(2)));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.read(|p| p.got.clone()), vec![1], "a cut link loses the message");
    // Hold after heal: kept, then delivered in order on release.
    assert!(http(a2, signed(&Fault::Heal { a: Endpoint::Process(a2), b: Endpoint::Process(a1) })).await.starts_with("HTTP/1.1 200"));
    let link = Link::new(Endpoint::Process(a2), Endpoint::Process(a1));
    assert!(http(a2, signed(&Fault::Hold { link })).await.starts_with("HTTP/1.1 200"));
    client.with(|_, cx| {
        cx.send(a1, Echo(3));
        cx.send(a1, Echo(4));
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.read(|p| p.got.clone()), vec![1], "held");
    assert!(http(a2, signed(&Fault::Release { link })).await.starts_with("HTTP/1.1 200"));
    assert!(wait_until(|| server.read(|p| p.got == vec![1, 3, 4])).await, "released in order");
    // Clog: delayed, still in order with what follows.
    assert!(http(a2, signed(&Fault::Clog { link, delay_ms: 400 })).await.starts_with("HTTP/1.1 200"));
    let sent = std::time::Instant::now();
    client.with(|_, cx| cx.send(a1, Echo(5)));
    assert!(http(a2, signed(&Fault::Unclog { link })).await.starts_with("HTTP/1.1 200"));
    client.with(|_, cx| cx.send(a1, Echo(6)));
    assert!(wait_until(|| server.read(|p| p.got.len() == 5)).await);
    assert!(sent.elapsed() >= Duration::from_millis(400), "the clog delayed it");
    assert_eq!(server.read(|p| p.got.clone()), vec![1, 3, 4, 5, 6], "the message after the clog waited behind it");
    // Not a network fault.
    let r = http(a2, signed(&Fault::Kill { process: a1 })).await;
    assert!(r.starts_with("HTTP/1.1 400") && r.contains("not a network fault"), "{r}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// One port, three protocols: frames from a peer node, HTTP, and a raw protocol registered by
/// its opening bytes (as the RM registers Hadoop IPC's `hrpc`), each to its own handler.
#[tokio::test(flavor = "current_thread")]
async fn a_raw_protocol_shares_the_port_with_frames_and_http() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = std::env::temp_dir().join(format!("engine-live-raw-{}", std::process::id()));
    let codecs = Codecs::new().with::<Echo>();
    let (l1, a1) = bind_loopback(0).await.unwrap();
    // The handler echoes what follows the prefix, upper-cased: it gets the stream unread.
    let handler: engine::live::RawHandler = std::sync::Arc::new(|mut s: tokio::net::TcpStream, peer: String| {
        Box::pin(async move {
            let mut b = [0u8; 8];
            if s.read_exact(&mut b).await.is_ok() && b.starts_with(b"RAW!") {
                let mut reply = b[4..].to_ascii_uppercase();
                reply.extend(format!(" from {}", peer.split(':').next().unwrap_or("")).as_bytes());
                let _ = s.write_all(&reply).await;
            }
        })
    });
    let server = LiveNode::new(Peer::default(), a1, &dir, codecs.clone(), 1).with_raw_protocol(b"RAW!", handler);
    let routes = axum::Router::new().route("/hi", axum::routing::get(|| async { "hello" }));
    tokio::spawn(server.clone().run(l1, routes));
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let client = LiveNode::new(Peer { target: Some(a1), ..Default::default() }, a2, &dir, codecs, 2);
    tokio::spawn(client.clone().run(l2, axum::Router::new()));

    let mut raw = tokio::net::TcpStream::connect(a1.to_string()).await.unwrap();
    // Sent in two pieces: the sniff waits for the whole prefix.
    raw.write_all(b"RA").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    raw.write_all(b"W!abcd").await.unwrap();
    let mut got = Vec::new();
    raw.read_to_end(&mut got).await.unwrap();
    assert_eq!(String::from_utf8_lossy(&got), "ABCD from 127.0.0.1");

    let mut http = tokio::net::TcpStream::connect(a1.to_string()).await.unwrap();
    http.write_all(b"GET /hi HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut body = String::new();
    http.read_to_string(&mut body).await.unwrap();
    assert!(body.starts_with("HTTP/1.1 200") && body.ends_with("hello"), "{body}");

    assert!(wait_until(|| client.read(|p| p.got.len() == 5)).await, "frames still reach the node");
    let _ = std::fs::remove_dir_all(&dir);
}
