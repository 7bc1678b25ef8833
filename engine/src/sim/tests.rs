use std::any::Any;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;
use crate::fault::{Endpoint, Fault};
use crate::msg::Wire;

#[derive(Debug, Serialize, Deserialize)]
enum Ping {
    Ping(u32),
    Pong(u32),
}

impl Wire for Ping {
    const FAMILY: &'static str = "test.ping";
    fn kind(&self) -> &'static str {
        match self {
            Ping::Ping(_) => "Ping",
            Ping::Pong(_) => "Pong",
        }
    }
}

#[derive(Default)]
struct Pinger {
    peer: Option<Addr>,
    pongs: u32,
    lost_timeouts: u32,
}

impl Node for Pinger {
    fn on_start(&mut self, cx: &mut Cx) {
        if let Some(p) = self.peer {
            cx.send(p, Ping::Ping(0));
            cx.set_timer(Duration::from_millis(100), 1);
        }
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        match msg.downcast::<Ping>() {
            Ok(Ping::Ping(n)) => cx.send(from, Ping::Pong(n)),
            Ok(Ping::Pong(n)) => {
                self.pongs += 1;
                cx.trace("pong", n);
                if n < 9 {
                    cx.send(from, Ping::Ping(n + 1));
                    cx.set_timer(Duration::from_millis(100), 1);
                } else {
                    cx.cancel_timer(1);
                }
            }
            Err(_) => {}
        }
    }
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        self.lost_timeouts += 1;
        if let Some(p) = self.peer {
            cx.send(p, Ping::Ping(self.pongs));
            cx.set_timer(Duration::from_millis(100), 1);
        }
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

fn pair(seed: u64, loss: f64) -> (Sim, Addr) {
    let mut cfg = SimConfig::new(seed);
    cfg.net.loss = loss;
    let mut sim = Sim::new(cfg);
    let (a, b) = (sim.add_machine(), sim.add_machine());
    let server = sim.spawn(b, 9000, Box::new(Pinger::default()));
    let client = sim.spawn(a, 9000, Box::new(Pinger { peer: Some(server), ..Default::default() }));
    (sim, client)
}

#[test]
fn two_nodes_exchange_messages_in_virtual_time() {
    let (mut sim, client) = pair(1, 0.0);
    sim.run_for(Duration::from_secs(1));
    let c = sim.node::<Pinger>(client).unwrap();
    assert_eq!(c.pongs, 10);
    assert_eq!(c.lost_timeouts, 0);
    // Ten round trips of at most 2 ms each: far less than the second we ran.
    assert!(sim.now() == EPOCH + Duration::from_secs(1));
}

#[test]
fn same_seed_same_trace_hash_and_other_seed_differs() {
    let run = |seed| {
        let (mut sim, _) = pair(seed, 0.3);
        sim.run_for(Duration::from_secs(5));
        (sim.trace_hash(), sim.events())
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0, run(8).0);
}

#[test]
fn lossy_network_is_survived_by_retries() {
    let (mut sim, client) = pair(3, 0.4);
    sim.run_for(Duration::from_secs(10));
    let c = sim.node::<Pinger>(client).unwrap();
    assert!(c.pongs >= 10, "pongs {}", c.pongs);
    assert!(c.lost_timeouts > 0);
}

#[test]
fn partition_blocks_until_healed() {
    let (mut sim, client) = pair(1, 0.0);
    let (a, b) = (*client.ip(), Ipv4Addr::new(127, 0, 0, 2));
    sim.apply(Fault::Partition { a: Endpoint::Host(a), b: Endpoint::Host(b), one_way: false }).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.node::<Pinger>(client).unwrap().pongs, 0);
    sim.apply(Fault::Heal { a: Endpoint::Host(a), b: Endpoint::Host(b) }).unwrap();
    sim.run_for(Duration::from_secs(3));
    assert!(sim.node::<Pinger>(client).unwrap().pongs >= 10);
}

/// A parent that launches one command and records its exit code.
struct Launcher {
    cmd: String,
    exit: Option<ExitCode>,
}

impl Node for Launcher {
    fn on_start(&mut self, cx: &mut Cx) {
        cx.launch(LaunchSpec {
            pid: ProcId(1),
            command: self.cmd.clone(),
            env: BTreeMap::from([("X".to_string(), "42".to_string())]),
            work_dir: "/w".into(),
            stdout: "/logs/stdout".into(),
            stderr: "/logs/stderr".into(),
            recovery: None,
            script: None,
        });
    }
    fn on_message(&mut self, _cx: &mut Cx, _f: Addr, _m: Msg) {}
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        cx.signal(ProcId(1), Signal::Kill);
    }
    fn on_process_exit(&mut self, _cx: &mut Cx, _pid: ProcId, code: ExitCode) {
        self.exit = Some(code);
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

fn launch(cmd: &str) -> (Sim, Addr) {
    let mut sim = Sim::new(SimConfig::new(1));
    let m = sim.add_machine();
    let a = sim.spawn(m, 1, Box::new(Launcher { cmd: cmd.into(), exit: None }));
    (sim, a)
}

#[test]
fn shell_runs_builtins_and_reports_exit_code() {
    let (mut sim, a) = launch("hostname; printenv X; sleep 2 && echo done; exit 3");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.node::<Launcher>(a).unwrap().exit, None, "still sleeping");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.node::<Launcher>(a).unwrap().exit, Some(3));
    let out = String::from_utf8(sim.local_file(*a.ip(), "/logs/stdout").unwrap().to_vec()).unwrap();
    assert_eq!(out, "127.0.0.1\n42\ndone\n");
}

#[test]
fn unknown_command_exits_127_with_bash_message() {
    let (mut sim, a) = launch("no-such-program --flag");
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.node::<Launcher>(a).unwrap().exit, Some(127));
    let err = String::from_utf8(sim.local_file(*a.ip(), "/logs/stderr").unwrap().to_vec()).unwrap();
    assert!(err.contains("no-such-program: command not found"), "{err}");
}

#[test]
fn sigkill_and_stopped_processes() {
    let (mut sim, a) = launch("sleep 100");
    sim.run_for(Duration::from_millis(100));
    let child = sim.processes_on(*a.ip())[1];
    sim.signal(child, Signal::Stop);
    sim.signal(child, Signal::Term);
    assert!(sim.alive(child), "SIGTERM stays pending while stopped");
    sim.signal(child, Signal::Kill);
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.node::<Launcher>(a).unwrap().exit, Some(137));
}

#[test]
fn machine_loss_takes_every_process_silently() {
    let (mut sim, a) = launch("sleep 100");
    sim.run_for(Duration::from_millis(100));
    assert_eq!(sim.processes_on(*a.ip()).len(), 2);
    sim.kill_machine(*a.ip());
    assert!(!sim.alive(a));
    assert!(sim.processes_on(*a.ip()).is_empty());
    sim.run_for(Duration::from_secs(200));
}

/// Records the pings it receives.
#[derive(Default)]
struct Recorder {
    got: Vec<u32>,
}

impl Node for Recorder {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, msg: Msg) {
        if let Ok(Ping::Ping(n)) = msg.downcast::<Ping>() {
            self.got.push(n);
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// A delivery goes to whatever process its address names when it arrives, not to the one that
/// was there when it was sent (deliveries remember the receiver's slot only to skip a lookup):
/// a process started at the address meanwhile gets it, one another process displaced from
/// the address does not, and an address whose mapping went away delivers to no one.
#[test]
fn deliveries_find_the_process_at_their_address_on_arrival() {
    let mut sim = Sim::new(SimConfig::new(3));
    let (a, b) = (sim.add_machine(), sim.add_machine());
    let client = sim.spawn(a, 9000, Box::new(Recorder::default()));
    let first = sim.spawn(b, 9000, Box::new(Recorder::default()));
    sim.run_for(Duration::from_millis(10));
    let send = |sim: &mut Sim, to: Addr, n: u32| {
        sim.with_node::<Recorder, _>(client, |_, cx| cx.send(to, Ping::Ping(n))).expect("client is up");
    };
    let got = |sim: &mut Sim, at: Addr| sim.node::<Recorder>(at).map(|r| r.got.clone());

    // Killed and replaced while the message is in flight: the new process gets it.
    send(&mut sim, first, 1);
    sim.apply(Fault::Kill { process: first }).unwrap();
    sim.spawn(b, 9000, Box::new(Recorder::default()));
    sim.run_for(Duration::from_millis(10));
    assert_eq!(got(&mut sim, first), Some(vec![1]));

    // A second process spawned at a live process's address takes the address over.
    let other = Addr::new(b, 9001);
    sim.spawn(b, 9001, Box::new(Recorder::default()));
    sim.run_for(Duration::from_millis(10));
    send(&mut sim, other, 2);
    sim.spawn(b, 9001, Box::new(Recorder { got: vec![100] }));
    sim.run_for(Duration::from_millis(10));
    assert_eq!(got(&mut sim, other), Some(vec![100, 2]));
    // Sent now, then the address is unmapped before it arrives: nobody gets it.
    send(&mut sim, other, 3);
    let slot = sim.wire.by_addr.get(&other).unwrap();
    sim.wire.by_addr.remove(&other);
    sim.unindexed(slot);
    sim.run_for(Duration::from_millis(10));
    assert_eq!(
        sim.procs[slot].as_mut().and_then(|p| p.node.as_mut()?.as_any().downcast_mut::<Recorder>().map(|r| r.got.clone())),
        Some(vec![100, 2])
    );
}

/// Every event reads its process's record: two cache lines, so the sim's prefetch of two
/// lines covers it.
#[test]
fn process_record_is_two_cache_lines() {
    assert_eq!(std::mem::size_of::<Option<super::Proc>>(), 128);
}

/// Records the instant and id of each timer it gets in a log all tickers share; on timer 1 it
/// arms a zero-delay tick timer 2 (due in the very tick being fired).
struct Ticker {
    name: u32,
    log: std::sync::Arc<std::sync::Mutex<Vec<(u64, u32, TimerId)>>>,
}

impl Node for Ticker {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, _msg: Msg) {}
    fn on_timer(&mut self, cx: &mut Cx, t: TimerId) {
        self.log.lock().unwrap().push((cx.now().as_micros() - EPOCH.as_micros(), self.name, t));
        if t == 1 && self.name == 0 {
            cx.set_tick_timer(Duration::ZERO, 2);
        }
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Tick timers armed in any order fire at their whole millisecond in process order, from one
/// queue event; re-arming replaces and cancelling removes one; a tick timer armed for the
/// tick being fired fires after the rest of it; each entry counts as an event.
#[test]
fn tick_timers_fire_on_the_millisecond_in_process_order() {
    let mut sim = Sim::new(SimConfig::new(3));
    let host = sim.add_machine();
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let addrs: Vec<Addr> = (0..5).map(|n| sim.spawn(host, 9000 + n as u16, Box::new(Ticker { name: n, log: log.clone() }))).collect();
    sim.run_until(EPOCH + Duration::from_micros(300));
    let events = sim.events();
    // Armed in another order than the processes': all due at 2,000 µs (1,300 and 1,500
    // round up to the millisecond).
    for (n, after) in [(4, 1000), (2, 1000), (0, 1200), (3, 1000), (1, 1100)] {
        sim.with_node::<Ticker, _>(addrs[n], |_, cx| cx.set_tick_timer(Duration::from_micros(after), 1));
    }
    sim.with_node::<Ticker, _>(addrs[3], |_, cx| cx.set_tick_timer(Duration::from_micros(1200), 1));
    sim.with_node::<Ticker, _>(addrs[2], |_, cx| cx.cancel_timer(1));
    sim.run_until(EPOCH + Duration::from_millis(5));
    assert_eq!(*log.lock().unwrap(), vec![(2000, 0, 1), (2000, 1, 1), (2000, 3, 1), (2000, 4, 1), (2000, 0, 2)]);
    // Two tick events (the list, then the zero-delay timer's), counted per entry as the
    // queue counts timer events, stale ones too: six in the first list (node 3 armed twice),
    // one in the second.
    assert_eq!(sim.events() - events, 7);
}

/// A link's clock keeps each link FIFO across the switch from the list (16 peers) to the
/// table: a message never arrives before the last one sent on its link, whichever holds it.
#[test]
fn link_clocks_stay_fifo_past_sixteen_peers() {
    let mut l = LinkClock::default();
    let t = |us: u64| Time(1_000_000 + us);
    // Peers 0..16 in the list, each with a late last arrival.
    for peer in 0..16 {
        assert_eq!(l.arrival(peer * 3, t(500)), t(500));
    }
    assert!(l.many.is_none());
    // The first peer's link (in the record) is FIFO too.
    assert_eq!(l.arrival(0, t(100)), t(500));
    // The seventeenth peer moves every link to the table.
    assert_eq!(l.arrival(100, t(10)), t(10));
    assert!(l.many.is_some() && l.rest.is_none() && l.first_to == NO_LINK);
    for peer in 0..16 {
        assert_eq!(l.arrival(peer * 3, t(20)), t(500), "peer {peer} keeps its last arrival");
    }
    assert_eq!(l.arrival(100, t(5)), t(10));
    assert_eq!(l.arrival(100, t(700)), t(700));
    assert_eq!(l.arrival(7, t(1)), t(1), "a new peer starts free");
}

/// A process's timers: three inline, the rest in the overflow list; re-arming an id updates
/// its generation wherever it sits, and removing frees its place.
#[test]
fn timers_keep_one_generation_per_id_inline_or_not() {
    let mut t = Timers::default();
    for id in 1..=5u64 {
        t.insert(id, id * 10);
    }
    assert!(t.more.is_some(), "ids 4 and 5 overflow");
    for id in 1..=5u64 {
        assert_eq!(t.get(&id), Some(&(id * 10)));
    }
    t.insert(2, 21);
    t.insert(5, 51);
    assert_eq!((t.get(&2), t.get(&5)), (Some(&21), Some(&51)));
    t.remove(&2);
    t.remove(&4);
    assert_eq!((t.get(&2), t.get(&4)), (None, None));
    // The freed inline place takes the next new id; the overflow keeps 5 once.
    t.insert(6, 60);
    assert_eq!(t.inline.iter().filter(|(id, g)| *id == 6 && *g == 60).count(), 1);
    t.insert(5, 52);
    assert_eq!(t.more().iter().filter(|(id, _)| *id == 5).count(), 1);
    assert_eq!(t.get(&5), Some(&52));
    assert_eq!(t.get(&7), None);
    // A firing disarms only its own generation, inline or in the overflow.
    assert!(!t.take(&5, 51), "a stale generation");
    assert_eq!(t.get(&5), Some(&52));
    assert!(t.take(&5, 52));
    assert_eq!(t.get(&5), None);
    assert!(!t.take(&5, 52), "already disarmed");
    assert!(!t.take(&6, 61));
    assert!(t.take(&6, 60));
    assert_eq!((t.get(&6), t.get(&1), t.get(&3)), (None, Some(&10), Some(&30)));
}

/// The queue's bucket width follows the run's density: ~128 events a bucket, between the
/// default 64 µs (bursts) and 4 ms.
#[test]
fn bucket_width_is_sized_to_the_events_per_second() {
    assert_eq!(SimConfig::new(1).queue_bucket_shift, 6);
    // 10,000 NodeManagers over a second: ~30,000 events a second, the widest bucket.
    assert_eq!(SimConfig::bucket_shift_for(30_000), 12);
    // Over 100 ms: 300,000 a second; 256 µs holds ~77 of them.
    assert_eq!(SimConfig::bucket_shift_for(300_000), 8);
    // Dense or unknown.
    assert_eq!(SimConfig::bucket_shift_for(10_000_000), 6);
    assert_eq!(SimConfig::bucket_shift_for(0), 12);
}

/// Logs its timers and the end of a process it reacquires. Its start arms timer 1,
/// reacquires a process (whose end is reported at once: the sim has no such process) and
/// arms timer 2, all three due at the same instant.
struct Orderly {
    log: Vec<&'static str>,
}

impl Node for Orderly {
    fn on_start(&mut self, cx: &mut Cx) {
        // Timer 1 goes straight to the queue (the outbox); the reacquire waits in the effect
        // list, and so must timer 2 behind it, or it would come due before the exit.
        cx.set_timer(Duration::ZERO, 1);
        cx.reacquire(ProcId(1), 4242, "/nm/exit_code");
        cx.set_timer(Duration::ZERO, 2);
    }
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, _msg: Msg) {}
    fn on_timer(&mut self, _cx: &mut Cx, t: TimerId) {
        self.log.push(if t == 1 { "timer 1" } else { "timer 2" });
    }
    fn on_process_exit(&mut self, _cx: &mut Cx, _pid: ProcId, _code: ExitCode) {
        self.log.push("exit");
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Effects are carried out in the order a handler asked for them, whether they go straight
/// to the queue (sends, timers) or wait in the effect list (a reacquire): events due at the
/// same instant come due in that order.
#[test]
fn effects_keep_their_order_around_one_that_waits() {
    let mut sim = Sim::new(SimConfig::new(5));
    let host = sim.add_machine();
    let a = sim.spawn(host, 1, Box::new(Orderly { log: Vec::new() }));
    sim.run_for(Duration::from_millis(1));
    assert_eq!(sim.node::<Orderly>(a).map(|o| o.log.clone()), Some(vec!["timer 1", "exit", "timer 2"]));
}

/// A node that sends to itself gets its message (the send gives no prefetch hint to the node
/// being dispatched, whose record is lent to its handler).
#[test]
fn a_node_can_message_itself() {
    struct Echo(u32);
    impl Node for Echo {
        fn on_start(&mut self, cx: &mut Cx) {
            let me = cx.me();
            cx.send(me, Ping::Ping(1));
        }
        fn on_message(&mut self, cx: &mut Cx, _from: Addr, msg: Msg) {
            if let Ok(Ping::Ping(n)) = msg.downcast::<Ping>() {
                self.0 = n;
                if n < 3 {
                    let me = cx.me();
                    cx.send(me, Ping::Ping(n + 1));
                }
            }
        }
        fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
        fn as_any(&mut self) -> &mut dyn Any {
            self
        }
    }
    let mut sim = Sim::new(SimConfig::new(6));
    let host = sim.add_machine();
    let a = sim.spawn(host, 1, Box::new(Echo(0)));
    sim.run_for(Duration::from_millis(10));
    assert_eq!(sim.node::<Echo>(a).map(|e| e.0), Some(3));
}

/// Does something random on every input, up to `left` inputs: sends (to a peer, itself, or an
/// address with no process), timers and tick timers armed and cancelled, trace events, and
/// reacquires (whose end comes back at the same instant), one to six of them in any order.
struct Chaos {
    peers: Vec<Addr>,
    left: u32,
}

impl Chaos {
    fn act(&mut self, cx: &mut Cx) {
        use rand::Rng as _;
        if self.left == 0 {
            return;
        }
        self.left -= 1;
        for _ in 0..cx.rng().random_range(1..=6) {
            let k: u32 = cx.rng().random_range(0..1000);
            match cx.rng().random_range(0..8) {
                0..=2 => {
                    let to = self.peers[k as usize % self.peers.len()];
                    cx.send(to, Ping::Ping(k));
                }
                3 => cx.set_timer(Duration::from_micros(u64::from(k) * 3), TimerId::from(k % 3)),
                4 => cx.set_tick_timer(Duration::from_micros(u64::from(k) * 3), TimerId::from(k % 3)),
                5 => cx.cancel_timer(TimerId::from(k % 3)),
                6 => cx.trace("chaos", k),
                _ => cx.reacquire(ProcId(u64::from(k)), k, "/nowhere"),
            }
        }
    }
}

impl Node for Chaos {
    fn on_start(&mut self, cx: &mut Cx) {
        self.act(cx);
    }
    fn on_message(&mut self, cx: &mut Cx, _from: Addr, msg: Msg) {
        assert!(msg.downcast::<Ping>().is_ok(), "only pings are sent");
        self.act(cx);
    }
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        self.act(cx);
    }
    fn on_process_exit(&mut self, cx: &mut Cx, _pid: ProcId, _code: ExitCode) {
        self.act(cx);
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Eight `Chaos` nodes on four machines, every effect through the list or not: the trace
/// hash and the event count.
fn chaos_run(seed: u64, listed: bool) -> (u64, u64) {
    let mut sim = Sim::new(SimConfig::new(seed));
    sim.effects_listed = listed;
    let hosts: Vec<Ipv4Addr> = (0..4).map(|_| sim.add_machine()).collect();
    let addrs: Vec<Addr> = (0..8).map(|i| SocketAddrV4::new(hosts[i % 4], 7000 + i as u16)).collect();
    let mut peers = addrs.clone();
    peers.push(SocketAddrV4::new(hosts[0], 6999));
    for a in &addrs {
        sim.spawn(*a.ip(), a.port(), Box::new(Chaos { peers: peers.clone(), left: 400 }));
    }
    sim.run_for(Duration::from_secs(2));
    (sim.trace_hash(), sim.events())
}

/// Sends and timers carried out as handlers make them run exactly as when every effect went
/// through the list after the handler returned (as before the outbox): the same trace hash,
/// event for event, over random mixes of every kind of effect.
#[test]
fn the_outbox_runs_as_the_effect_list_did() {
    let mut hashes = std::collections::BTreeSet::new();
    for seed in 1..=12 {
        let (listed, n_listed) = chaos_run(seed, true);
        let (direct, n_direct) = chaos_run(seed, false);
        assert!(n_listed > 2_000, "seed {seed}: only {n_listed} events");
        assert_eq!((direct, n_direct), (listed, n_listed), "seed {seed}");
        hashes.insert(direct);
    }
    assert_eq!(hashes.len(), 12, "every seed a run of its own");
}
