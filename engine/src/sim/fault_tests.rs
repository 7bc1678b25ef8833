//! Each fault verb in the sim, FIFO links, trace contents and trace divergence.

use std::any::Any;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use serde::{Deserialize, Serialize};

use super::*;
use crate::fault::{DropRule, Endpoint, Fault, Link, StoreFaultKind};
use crate::msg::Wire;
use crate::trace::first_divergence;

#[derive(Debug, Serialize, Deserialize)]
enum Net {
    Data(u32),
    Ping(u32),
}

impl Wire for Net {
    const FAMILY: &'static str = "test.net";
    fn kind(&self) -> &'static str {
        match self {
            Net::Data(_) => "Data",
            Net::Ping(_) => "Ping",
        }
    }
}

const TICK: TimerId = 1;

/// A test process: every `every` it records a tick and, while it has some left, sends
/// `Data(offset + n)` (and `Ping(n)` if asked) to `to`, and writes to the store if asked.
/// It records everything it receives.
#[derive(Default)]
struct Peer {
    to: Option<Addr>,
    every: Duration,
    count: u32,
    offset: u32,
    also_ping: bool,
    store_path: Option<String>,
    sent: u32,
    got: Vec<(Time, Addr, &'static str, u32)>,
    ticks: Vec<Time>,
    store_results: Vec<Result<(), String>>,
}

impl Peer {
    fn sender(to: Addr, every_ms: u64, count: u32) -> Peer {
        Peer { to: Some(to), every: Duration::from_millis(every_ms), count, ..Peer::default() }
    }
    fn ticker(every_ms: u64) -> Peer {
        Peer { every: Duration::from_millis(every_ms), ..Peer::default() }
    }
    fn data(&self) -> Vec<u32> {
        self.got.iter().filter(|g| g.2 == "Data").map(|g| g.3).collect()
    }
}

impl Node for Peer {
    fn on_start(&mut self, cx: &mut Cx) {
        if !self.every.is_zero() {
            cx.set_timer(self.every, TICK);
        }
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let kind = msg.kind();
        match msg.downcast::<Net>() {
            Ok(Net::Data(n) | Net::Ping(n)) => self.got.push((cx.now(), from, kind, n)),
            Err(other) => panic!("unexpected message {other:?}"),
        }
    }
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        self.ticks.push(cx.now());
        if let (Some(to), true) = (self.to, self.sent < self.count) {
            cx.send(to, Net::Data(self.offset + self.sent));
            if self.also_ping {
                cx.send(to, Net::Ping(self.sent));
            }
            self.sent += 1;
        }
        if let Some(p) = self.store_path.clone() {
            let r = cx.store().write(&format!("{p}/{}", self.ticks.len()), b"x").map_err(|e| e.to_string());
            self.store_results.push(r);
        }
        cx.set_timer(self.every, TICK);
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A JSONL sink the test can read back.
#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);

impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Buf {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Two machines: `b` runs a receiving `Peer` (ticking every 50 ms), `a` one sending to it.
struct Two {
    sim: Sim,
    a: Addr,
    b: Addr,
    buf: Buf,
}

fn two(seed: u64, sender: impl FnOnce(Addr) -> Peer) -> Two {
    let buf = Buf::default();
    let mut sim = Sim::with_trace(SimConfig::new(seed), Trace::with_sink(Box::new(buf.clone())));
    let (ha, hb) = (sim.add_machine(), sim.add_machine());
    let b = sim.spawn(hb, 7000, Box::new(Peer::ticker(50)));
    let a = sim.spawn(ha, 7000, Box::new(sender(b)));
    Two { sim, a, b, buf }
}

impl Two {
    fn peer(&mut self, at: Addr) -> &mut Peer {
        self.sim.node::<Peer>(at).expect("peer alive")
    }
    fn hosts(&self) -> (Ipv4Addr, Ipv4Addr) {
        (*self.a.ip(), *self.b.ip())
    }
}

/// A parent that launches `command` and records its child's exit code.
struct Parent {
    command: String,
    exit: Option<ExitCode>,
}

impl Node for Parent {
    fn on_start(&mut self, cx: &mut Cx) {
        cx.launch(LaunchSpec {
            pid: ProcId(1),
            command: self.command.clone(),
            env: BTreeMap::from([("CONTAINER_ID".to_string(), "container_1767225600000_0001_01_000002".to_string())]),
            work_dir: "/w".into(),
            stdout: "/logs/stdout".into(),
            stderr: "/logs/stderr".into(),
            recovery: None,
            script: None,
        });
    }
    fn on_message(&mut self, _cx: &mut Cx, _f: Addr, _m: Msg) {}
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn on_process_exit(&mut self, _cx: &mut Cx, _pid: ProcId, code: ExitCode) {
        self.exit = Some(code);
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A parent on one machine launching a registered `peer` (ticking every 50 ms) as its
/// container; returns the sim, the parent and the child.
fn container(buf: &Buf) -> (Sim, Addr, Addr) {
    let mut sim = Sim::with_trace(SimConfig::new(5), Trace::with_sink(Box::new(buf.clone())));
    sim.registry().register("peer", Box::new(|_| Ok(Box::new(Peer::ticker(50)))));
    let m = sim.add_machine();
    let parent = sim.spawn(m, 8041, Box::new(Parent { command: "peer --tick 50".into(), exit: None }));
    sim.run_for(Duration::from_millis(20));
    let child = sim.find_container("container_1767225600000_0001_01_000002").expect("the container's process");
    (sim, parent, child)
}

#[test]
fn kill_ends_the_process_with_137_and_is_traced() {
    let buf = Buf::default();
    let (mut sim, parent, child) = container(&buf);
    let info = sim.process(child).unwrap();
    assert_eq!(info.program.as_deref(), Some("peer"));
    assert_eq!(info.parent, Some(parent));
    assert_eq!(info.container_id(), Some("container_1767225600000_0001_01_000002"));
    assert_eq!(sim.processes().iter().map(|p| p.addr).collect::<Vec<_>>(), vec![parent, child]);

    sim.apply(Fault::Kill { process: child }).unwrap();
    sim.run_for(Duration::from_millis(1));
    assert!(!sim.alive(child));
    assert_eq!(sim.node::<Parent>(parent).unwrap().exit, Some(137));
    let line = buf.text().lines().find(|l| l.contains("fault.kill")).map(String::from).expect("the kill is in the trace");
    assert!(line.contains(&format!("\"detail\":\"kill -9 {child}\"")), "{line}");
    assert!(line.contains("\"fault\":{\"fault\":\"kill\""), "{line}");

    // A fault on nothing is an error that changes nothing, the trace included.
    let before = sim.trace_hash();
    assert_eq!(sim.apply(Fault::Kill { process: child }), Err(format!("no process at {child}")));
    assert_eq!(sim.trace_hash(), before);
}

#[test]
fn a_stopped_process_runs_nothing_and_gets_its_queue_on_continue() {
    let mut t = two(1, |b| Peer::sender(b, 10, 1000));
    t.sim.run_for(Duration::from_millis(105));
    let before = t.peer(t.b).data().len();
    assert!(before >= 9, "{before}");
    let ticks_before = t.peer(t.b).ticks.len();

    t.sim.apply(Fault::Stop { process: t.b }).unwrap();
    assert!(t.sim.process(t.b).unwrap().stopped);
    t.sim.run_for(Duration::from_millis(500));
    assert_eq!(t.peer(t.b).data().len(), before, "no message while stopped");
    assert_eq!(t.peer(t.b).ticks.len(), ticks_before, "no timer while stopped");

    let resumed_at = t.sim.now();
    t.sim.apply(Fault::Continue { process: t.b }).unwrap();
    let b = t.peer(t.b);
    // The timer that came due fires, once, and ~50 messages queued in the socket arrive at
    // once, in send order.
    assert_eq!(b.ticks.len(), ticks_before + 1);
    assert_eq!(*b.ticks.last().unwrap(), resumed_at);
    let data = b.data();
    assert!(data.len() >= before + 45, "{} queued messages", data.len() - before);
    assert_eq!(data, (0..data.len() as u32).collect::<Vec<_>>(), "in order, none lost");
    assert!(b.got[before..].iter().all(|g| g.0 == resumed_at));
    // And it goes on afterwards.
    t.sim.run_for(Duration::from_millis(100));
    let data = t.peer(t.b).data();
    assert_eq!(data, (0..data.len() as u32).collect::<Vec<_>>());
}

#[test]
fn sigterm_to_a_stopped_process_waits_for_continue_and_sigkill_does_not() {
    let buf = Buf::default();
    let (mut sim, parent, child) = container(&buf);
    sim.apply(Fault::Stop { process: child }).unwrap();
    sim.apply(Fault::Terminate { process: child }).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert!(sim.alive(child), "SIGTERM stays pending while stopped");
    assert_eq!(sim.node::<Parent>(parent).unwrap().exit, None);
    sim.apply(Fault::Continue { process: child }).unwrap();
    sim.run_for(Duration::from_millis(1));
    assert!(!sim.alive(child));
    assert_eq!(sim.node::<Parent>(parent).unwrap().exit, Some(143), "the pending SIGTERM ends it on SIGCONT");

    let (mut sim, parent, child) = container(&buf);
    sim.apply(Fault::Stop { process: child }).unwrap();
    sim.apply(Fault::Kill { process: child }).unwrap();
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.node::<Parent>(parent).unwrap().exit, Some(137), "SIGKILL ends a stopped process");
}

#[test]
fn machine_loss_silences_a_host_and_restart_boots_its_daemons_fresh() {
    let mut t = two(2, |b| Peer::sender(b, 10, 1000));
    let (_, hb) = t.hosts();
    t.sim.set_boot(hb, 7000, Box::new(|| Box::new(Peer::ticker(50))));
    t.sim.run_for(Duration::from_millis(100));
    assert!(!t.peer(t.b).data().is_empty());

    t.sim.apply(Fault::MachineLoss { host: hb }).unwrap();
    assert!(!t.sim.alive(t.b));
    assert!(!t.sim.machine_up(hb));
    assert!(t.sim.processes_on(hb).is_empty());
    t.sim.run_for(Duration::from_millis(200));

    t.sim.apply(Fault::MachineRestart { host: hb }).unwrap();
    assert!(t.sim.machine_up(hb));
    t.sim.run_for(Duration::from_millis(100));
    let b = t.peer(t.b);
    let data = b.data();
    assert!(!data.is_empty(), "the rebooted daemon receives again");
    assert!(data[0] >= 28, "a fresh daemon: nothing from before the reboot, first {}", data[0]);
    assert_eq!(data, (data[0]..data[0] + data.len() as u32).collect::<Vec<_>>());
    let text = t.buf.text();
    assert!(text.contains("fault.machine-loss") && text.contains("fault.machine-restart"), "{text}");
    assert!(t.sim.apply(Fault::MachineLoss { host: Ipv4Addr::new(127, 9, 9, 9) }).is_err());
}

#[test]
fn a_one_way_partition_cuts_one_direction_only() {
    let buf = Buf::default();
    let mut sim = Sim::with_trace(SimConfig::new(3), Trace::with_sink(Box::new(buf.clone())));
    let (ha, hb) = (sim.add_machine(), sim.add_machine());
    let (pa, pb) = (SocketAddrV4::new(ha, 7000), SocketAddrV4::new(hb, 7000));
    sim.spawn(ha, 7000, Box::new(Peer::sender(pb, 10, 1000)));
    sim.spawn(hb, 7000, Box::new(Peer::sender(pa, 10, 1000)));
    sim.apply(Fault::Partition { a: Endpoint::Host(ha), b: Endpoint::Host(hb), one_way: true }).unwrap();
    sim.run_for(Duration::from_millis(500));
    assert!(sim.node::<Peer>(pb).unwrap().got.is_empty(), "a -> b is cut");
    assert!(sim.node::<Peer>(pa).unwrap().got.len() >= 45, "b -> a flows");
    sim.apply(Fault::Heal { a: Endpoint::Host(hb), b: Endpoint::Host(ha) }).unwrap();
    sim.run_for(Duration::from_millis(100));
    let data = sim.node::<Peer>(pb).unwrap().data();
    assert!(data.len() >= 9);
    assert!(data[0] >= 49, "messages sent during the partition are lost, not delayed: first {}", data[0]);
    assert!(buf.text().contains("\"detail\":\"partition 127.0.0.1 -> 127.0.0.2\""));
}

/// A family on a connection (`Wire::STREAM`), as Flink's data plane is.
#[derive(Debug, Serialize, Deserialize)]
struct Conn(u32);

impl Wire for Conn {
    const FAMILY: &'static str = "test.conn";
    const STREAM: bool = true;
    fn kind(&self) -> &'static str {
        "Conn"
    }
}

/// Every 10 ms sends `Conn(n)` and `Net::Data(n)` to `to`; records what it receives.
#[derive(Default)]
struct Both {
    to: Option<Addr>,
    sent: u32,
    conn: Vec<u32>,
    data: Vec<u32>,
}

impl Node for Both {
    fn on_start(&mut self, cx: &mut Cx) {
        if self.to.is_some() {
            cx.set_timer(Duration::from_millis(10), TICK);
        }
    }
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, msg: Msg) {
        match msg.downcast::<Conn>() {
            Ok(Conn(n)) => self.conn.push(n),
            Err(other) => match other.downcast::<Net>() {
                Ok(Net::Data(n)) => self.data.push(n),
                other => panic!("unexpected message {other:?}"),
            },
        }
    }
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        let to = self.to.expect("a sender");
        cx.send(to, Conn(self.sent));
        cx.send(to, Net::Data(self.sent));
        self.sent += 1;
        cx.set_timer(Duration::from_millis(10), TICK);
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[test]
fn a_partition_delays_a_connections_messages_and_loses_the_others() {
    let buf = Buf::default();
    let mut sim = Sim::with_trace(SimConfig::new(6), Trace::with_sink(Box::new(buf.clone())));
    let (ha, hb) = (sim.add_machine(), sim.add_machine());
    let b = sim.spawn(hb, 7000, Box::new(Both::default()));
    sim.spawn(ha, 7000, Box::new(Both { to: Some(b), ..Both::default() }));
    sim.run_for(Duration::from_millis(105));
    let before = sim.node::<Both>(b).unwrap().conn.len();
    assert!(before >= 9);
    sim.apply(Fault::Partition { a: Endpoint::Host(ha), b: Endpoint::Host(hb), one_way: false }).unwrap();
    sim.run_for(Duration::from_millis(300));
    let got = sim.node::<Both>(b).unwrap();
    assert_eq!(got.conn.len(), before, "nothing crosses a cut link");
    let held = sim.held_messages();
    assert!(held >= 29, "the connection's messages wait: {held}");
    sim.apply(Fault::Heal { a: Endpoint::Host(hb), b: Endpoint::Host(ha) }).unwrap();
    assert_eq!(sim.held_messages(), 0, "delivered when the link heals");
    sim.run_for(Duration::from_millis(100));
    let got = sim.node::<Both>(b).unwrap();
    let sent = got.conn.len() as u32;
    assert_eq!(got.conn, (0..sent).collect::<Vec<_>>(), "every Conn message, in send order");
    assert!(sent as usize >= before + held);
    // The RPC family lost what was sent while the link was cut.
    let lost = (before as u32..sent).filter(|n| !got.data.contains(n)).count();
    assert!(lost >= 29, "{lost} Data messages lost: {:?}", got.data);
    assert!(buf.text().contains("\"detail\":\"partition 127.0.0.1 <-> 127.0.0.2\""), "{}", buf.text());
}

#[test]
fn held_messages_are_released_in_order() {
    let mut t = two(4, |b| Peer::sender(b, 10, 1000));
    let (ha, hb) = t.hosts();
    let link = Link::hosts(ha, hb);
    t.sim.run_for(Duration::from_millis(55));
    let before = t.peer(t.b).data().len();
    t.sim.apply(Fault::Hold { link }).unwrap();
    t.sim.run_for(Duration::from_millis(300));
    assert_eq!(t.peer(t.b).data().len(), before, "nothing arrives while held");
    let held = t.sim.held_messages();
    assert!(held >= 29, "{held} held");
    // The other direction is not held.
    assert!(t.sim.apply(Fault::Release { link: link.reversed() }).is_ok());
    assert_eq!(t.sim.held_messages(), held);
    t.sim.apply(Fault::Release { link }).unwrap();
    assert_eq!(t.sim.held_messages(), 0);
    let data = t.peer(t.b).data();
    assert_eq!(data.len(), before + held, "every held message is delivered at release");
    t.sim.run_for(Duration::from_millis(100));
    let data = t.peer(t.b).data();
    assert_eq!(data, (0..data.len() as u32).collect::<Vec<_>>(), "in send order");
}

#[test]
fn a_clog_delays_one_direction_and_keeps_the_link_fifo() {
    let mut t = two(5, |b| Peer::sender(b, 10, 1000));
    let (ha, hb) = t.hosts();
    t.sim.run_for(Duration::from_millis(100));
    let clogged_at = t.sim.now();
    t.sim.apply(Fault::Clog { link: Link::hosts(ha, hb), delay_ms: 500 }).unwrap();
    t.sim.run_for(Duration::from_millis(400));
    let n = t.peer(t.b).data().len();
    assert!((9..=11).contains(&n), "nothing sent after the clog arrives within 400 ms: {n}");
    t.sim.apply(Fault::Unclog { link: Link::hosts(ha, hb) }).unwrap();
    t.sim.run_for(Duration::from_millis(1000));
    let b = t.peer(t.b);
    let first_clogged = b.got.iter().find(|g| g.0 > clogged_at + Duration::from_millis(2)).expect("clogged messages arrive");
    assert!(first_clogged.0 >= clogged_at + Duration::from_millis(500), "{:?}", first_clogged.0);
    let data = b.data();
    // Messages sent after the unclog draw no delay but queue behind the clogged ones.
    assert_eq!(data, (0..data.len() as u32).collect::<Vec<_>>());
    // The backlog drains by ~1 s (the last clogged message, sent at 500 ms); after that
    // messages take their usual latency: at 1.5 s all but the last few sent have arrived.
    assert!(data.len() >= 145, "{}", data.len());
}

#[test]
fn drop_messages_by_kind_and_count() {
    let mut t = two(6, |b| Peer { also_ping: true, ..Peer::sender(b, 10, 1000) });
    let (ha, hb) = t.hosts();
    let rule = DropRule { count: Some(3), ..DropRule::kind(Link::hosts(ha, hb), "Data") };
    t.sim.apply(Fault::DropMessages(rule)).unwrap();
    t.sim.run_for(Duration::from_millis(205));
    let b = t.peer(t.b);
    let pings: Vec<u32> = b.got.iter().filter(|g| g.2 == "Ping").map(|g| g.3).collect();
    assert_eq!(pings, (0..20).collect::<Vec<_>>(), "other kinds pass");
    assert_eq!(b.data(), (3..20).collect::<Vec<_>>(), "the first three Data messages are lost, then the rule ends");

    let mut t = two(6, |b| Peer { also_ping: true, ..Peer::sender(b, 10, 1000) });
    let (ha, hb) = t.hosts();
    let rule = DropRule { probability: 0.5, ..DropRule::kind(Link::hosts(ha, hb), "Data") };
    t.sim.apply(Fault::DropMessages(rule)).unwrap();
    t.sim.run_for(Duration::from_millis(1005));
    let n = t.peer(t.b).data().len();
    assert!((25..=75).contains(&n), "about half of 100 Data messages pass: {n}");
    assert!(t.sim.apply(Fault::DropMessages(DropRule { probability: 1.5, ..DropRule::all(Link::hosts(ha, hb)) })).is_err());
}

#[test]
fn store_faults_fail_writes_under_a_prefix_until_cleared() {
    let mut sim = Sim::new(SimConfig::new(7));
    let m = sim.add_machine();
    let ckpt = sim.spawn(m, 1, Box::new(Peer { store_path: Some("ckpt/job".into()), ..Peer::ticker(100) }));
    let other = sim.spawn(m, 2, Box::new(Peer { store_path: Some("ha/job".into()), ..Peer::ticker(100) }));
    sim.run_for(Duration::from_millis(250));
    sim.apply(Fault::StoreFault { prefix: "ckpt".into(), kind: StoreFaultKind::Full }).unwrap();
    sim.run_for(Duration::from_millis(200));
    sim.apply(Fault::ClearStoreFault { prefix: "ckpt".into() }).unwrap();
    sim.run_for(Duration::from_millis(100));
    let r = sim.node::<Peer>(ckpt).unwrap().store_results.clone();
    assert_eq!(r.len(), 5);
    assert!(r[0].is_ok() && r[1].is_ok() && r[4].is_ok());
    assert_eq!(r[2], Err("ckpt/job/3: No space left on device (os error 28)".to_string()));
    assert!(r[3].is_err());
    assert!(sim.node::<Peer>(other).unwrap().store_results.iter().all(|r| r.is_ok()), "other paths are unaffected");
    assert!(!sim.store().exists("ckpt/job/3") && sim.store().exists("ckpt/job/5"));
}

#[test]
fn heal_all_releases_held_messages_and_lifts_every_rule() {
    let mut t = two(8, |b| Peer::sender(b, 10, 1000));
    let (ha, hb) = t.hosts();
    t.sim.apply(Fault::Hold { link: Link::hosts(ha, hb) }).unwrap();
    t.sim.apply(Fault::Clog { link: Link::new(Endpoint::Any, Endpoint::Any), delay_ms: 1000 }).unwrap();
    t.sim.run_for(Duration::from_millis(100));
    t.sim.apply(Fault::HealAll).unwrap();
    t.sim.run_for(Duration::from_millis(1200));
    let data = t.peer(t.b).data();
    assert_eq!(data, (0..data.len() as u32).collect::<Vec<_>>());
    assert!(data.len() >= 120);
}

#[test]
fn the_trace_hash_covers_message_contents() {
    let run = |offset| {
        let mut t = two(9, |b| Peer { offset, ..Peer::sender(b, 10, 10) });
        t.sim.run_for(Duration::from_millis(300));
        t.sim.trace_hash()
    };
    assert_eq!(run(0), run(0));
    assert_ne!(run(0), run(1), "same kinds, same times, other payloads");
}

/// Runs the two-peer scenario with every step written, optionally killing the receiver.
fn recorded(seed: u64, kill_at_ms: Option<u64>) -> String {
    let buf = Buf::default();
    let mut sim = Sim::with_trace(SimConfig::new(seed), Trace::with_sink(Box::new(buf.clone())).all_steps());
    let (ha, hb) = (sim.add_machine(), sim.add_machine());
    let b = sim.spawn(hb, 7000, Box::new(Peer::ticker(50)));
    sim.spawn(ha, 7000, Box::new(Peer::sender(b, 10, 30)));
    if let Some(ms) = kill_at_ms {
        sim.at(EPOCH + Duration::from_millis(ms), move |s| s.apply(Fault::Kill { process: b }).unwrap());
    }
    sim.run_for(Duration::from_millis(400));
    sim.trace().flush();
    buf.text()
}

#[test]
fn first_divergence_points_at_the_first_different_event() {
    let a = recorded(10, None);
    assert!(a.lines().count() > 60);
    assert_eq!(first_divergence(a.as_bytes(), recorded(10, None).as_bytes()).unwrap(), None, "same seed, same lines");

    let b = recorded(10, Some(200));
    let d = first_divergence(a.as_bytes(), b.as_bytes()).unwrap().expect("a kill diverges");
    let right = d.right.clone().unwrap();
    assert!(right.contains("fault.kill"), "{right}");
    assert_eq!(a.lines().take(d.index).collect::<Vec<_>>(), b.lines().take(d.index).collect::<Vec<_>>());
    assert!(d.to_string().starts_with(&format!("traces diverge at event {} (line {}):", d.index, d.index + 1)));

    let other_seed = recorded(11, None);
    assert!(first_divergence(a.as_bytes(), other_seed.as_bytes()).unwrap().is_some());

    // A trace that stops early diverges where it ends.
    let short: String = a.lines().take(5).map(|l| format!("{l}\n")).collect();
    let d = first_divergence(short.as_bytes(), a.as_bytes()).unwrap().unwrap();
    assert_eq!((d.index, d.left, d.right.as_deref()), (5, None, a.lines().nth(5)));
}

/// Latencies drawn from [0, 50 ms]: per-link order must hold whatever each message draws.
fn fifo_run(seed: u64, reorder: bool, senders: usize) -> Vec<Vec<(Addr, u32)>> {
    let mut cfg = SimConfig::new(seed);
    cfg.net.latency_min = Duration::ZERO;
    cfg.net.latency_max = Duration::from_millis(50);
    cfg.net.reorder = reorder;
    let mut sim = Sim::new(cfg);
    let hosts: Vec<Ipv4Addr> = (0..3).map(|_| sim.add_machine()).collect();
    let receivers: Vec<Addr> = hosts.iter().map(|h| sim.spawn(*h, 7000, Box::new(Peer::default()))).collect();
    for i in 0..senders {
        let to = receivers[i % receivers.len()];
        sim.spawn(hosts[(i + 1) % hosts.len()], 7100 + i as u16, Box::new(Peer::sender(to, 1 + i as u64 % 3, 200)));
    }
    sim.run_for(Duration::from_secs(2));
    receivers.iter().map(|r| sim.node::<Peer>(*r).unwrap().got.iter().map(|g| (g.1, g.3)).collect()).collect()
}

fn in_order_per_sender(got: &[(Addr, u32)]) -> bool {
    let mut last: BTreeMap<Addr, u32> = BTreeMap::new();
    got.iter().all(|(from, n)| last.insert(*from, *n).is_none_or(|prev| prev < *n))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
    #[test]
    fn links_are_fifo_under_random_latency(seed in any::<u64>(), senders in 1usize..7) {
        for got in fifo_run(seed, false, senders) {
            prop_assert!(in_order_per_sender(&got));
            // Nothing is lost either: every sender's 200 messages arrive.
            prop_assert_eq!(got.len() % 200, 0);
        }
    }
}

#[test]
fn reordering_is_an_explicit_knob() {
    let reordered = (0..5).any(|seed| fifo_run(seed, true, 3).iter().any(|got| !in_order_per_sender(got)));
    assert!(reordered, "with reorder on, 50 ms jitter at 1-3 ms spacing overtakes");
}

/// Starts one asynchronous store write per tick and records what comes back.
#[derive(Default)]
struct AsyncWriter {
    started: u64,
    done: Vec<(Time, u64, Result<u64, String>)>,
}

impl Node for AsyncWriter {
    fn on_start(&mut self, cx: &mut Cx) {
        cx.set_timer(Duration::from_millis(100), TICK);
    }
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, _msg: Msg) {}
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        self.started += 1;
        let n = self.started;
        cx.store_write(n, format!("ckpt/chk-{n}/state"), move || vec![b"head:".to_vec(), vec![n as u8; n as usize]]);
        cx.set_timer(Duration::from_millis(100), TICK);
    }
    fn on_store_written(&mut self, cx: &mut Cx, id: u64, result: Result<u64, String>) {
        self.done.push((cx.now(), id, result));
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[test]
fn a_store_write_lands_its_parts_as_one_file_and_reports_back_through_the_store_faults() {
    let mut sim = Sim::new(SimConfig::new(3));
    let m = sim.add_machine();
    let w = sim.spawn(m, 1, Box::new(AsyncWriter::default()));
    sim.run_for(Duration::from_millis(250));
    sim.apply(Fault::StoreFault { prefix: "ckpt/chk-3".into(), kind: StoreFaultKind::Full }).unwrap();
    sim.run_for(Duration::from_millis(100));
    // A stopped process hears of its write when it continues, as of its timers.
    sim.apply(Fault::Stop { process: w }).unwrap();
    let stopped_at = sim.now();
    sim.with_node::<AsyncWriter, _>(w, |n, cx| {
        n.started += 1;
        cx.store_write(4, "ckpt/chk-4/state".into(), || vec![b"late".to_vec()]);
    });
    sim.run_for(Duration::from_millis(50));
    assert_eq!(sim.node::<AsyncWriter>(w).unwrap().done.len(), 3, "parked while stopped");
    sim.apply(Fault::Continue { process: w }).unwrap();
    sim.run_for(Duration::from_millis(10));
    let done = sim.node::<AsyncWriter>(w).unwrap().done.clone();
    let ms = |t: u64| EPOCH + Duration::from_millis(t);
    assert_eq!(done[0], (ms(100), 1, Ok(6)));
    assert_eq!(done[1], (ms(200), 2, Ok(7)));
    assert_eq!(done[2], (ms(300), 3, Err("ckpt/chk-3/state: No space left on device (os error 28)".into())));
    assert_eq!(done[3].1, 4);
    assert!(done[3].0 >= stopped_at + Duration::from_millis(50), "not before SIGCONT");
    assert_eq!(sim.store().read("ckpt/chk-2/state").unwrap(), b"head:\x02\x02");
    assert!(!sim.store().exists("ckpt/chk-3/state"));
    assert_eq!(sim.store().read("ckpt/chk-4/state").unwrap(), b"late");
}
