// What a conservative two-thread simulation would gain on this machine, before building one.
//
// `yarn-sim simulate --nodes N --apps 0` is, event for event, this model: N NodeManagers
// whose heartbeat timers are spread evenly over each second; a timer sends a request that
// reaches the ResourceManager after a latency drawn from [200, 1000] us; the RM answers
// after another such latency. Each event costs some work, a chain of arithmetic of four
// lengths (the engine's events take ~800 instructions, 130-180 ns, in the simulation build).
// The same events run two ways:
//   - sequential: one thread, one queue, every event in (time, node, kind) order;
//   - two logical processes (LPs), one thread each, as a conservative parallel engine would
//     split them, messages between them in single-producer rings. Neither runs an event
//     before it knows nothing earlier can still come from the other: each publishes a bound
//     on the arrival time of anything it will yet send (its next event's time, or the
//     other's bound if that is earlier, plus the smallest latency, 200 us: the lookahead),
//     and runs only events before the other's bound.
// Two splits: the RM on one thread and every NodeManager on the other (a third of the
// events against two thirds), and the RM with a quarter of the NodeManagers against the other
// three quarters (half and half: of a heartbeat's three events the RM has one, the
// NodeManager two). Each LP's events must run in the same order both ways (a hash of each
// LP's sequence, checked), and the ratio of wall times is the most a two-thread engine could
// win here, before the costs a real one adds (messages allocated on one core and freed on
// the other, faults and scenario steps as barriers).
//
// Build and run (plain rustc, no crates):
//   make parallel-probe [NODES=10000] [SECS=60]
//   rustc -O -o /tmp/pp scripts/parallel-probe.rs && /tmp/pp NODES SECS

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

const LOOKAHEAD: u64 = 200;
const LAT_MAX: u64 = 1000;
const SECOND: u64 = 1_000_000;

/// A message's latency, drawn (splitmix64) from what sends it (the time, the node, the kind):
/// the same draw however the events are split between threads.
fn latency(t: u64, n: u32, k: u8) -> u64 {
    let mut z = (t ^ (n as u64) << 40 ^ (k as u64) << 60).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    LOOKAHEAD + (z ^ (z >> 31)) % (LAT_MAX - LOOKAHEAD + 1)
}

/// `iters` steps of dependent arithmetic: an event's work.
#[inline(never)]
fn work(seed: u64, iters: u32) -> u64 {
    let mut x = seed | 1;
    for _ in 0..iters {
        x = x.wrapping_mul(0x2545_f491_4f6c_dd1d).rotate_left(7) ^ 0x55;
    }
    black_box(x)
}

fn mix(h: u64, v: u64) -> u64 {
    (h ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15).rotate_left(29)
}

// Event kinds: a NodeManager's timer, the RM receiving a request, a NodeManager receiving
// the answer.
const TIMER: u8 = 0;
const REQUEST: u8 = 1;
const ANSWER: u8 = 2;

/// (time, node, kind): each LP runs its events in this order.
type Ev = Reverse<(u64, u32, u8)>;

struct Model {
    nodes: u32,
    end: u64,
    iters: u32,
    /// A NodeManager is on LP 0 (the RM's) when `n % rm_share_of == 0`; 0: none is.
    rm_share_of: u32,
}

impl Model {
    fn lp_of(&self, n: u32, k: u8) -> usize {
        match k {
            REQUEST => 0,
            _ if self.rm_share_of != 0 && n % self.rm_share_of == 0 => 0,
            _ => 1,
        }
    }
    fn first_timers(&self, lp: usize) -> BinaryHeap<Ev> {
        (0..self.nodes)
            .filter(|&n| self.lp_of(n, TIMER) == lp)
            .map(|n| Reverse((n as u64 * SECOND / self.nodes as u64, n, TIMER)))
            .collect()
    }
    /// Runs one event: its work, its mark in the hash, what it sends (time, node, kind) and
    /// the timer it re-arms.
    fn run(&self, t: u64, n: u32, k: u8, hash: &mut u64, out: &mut Vec<(u64, u32, u8)>) {
        let w = work(t ^ n as u64, self.iters);
        *hash = mix(*hash, t ^ (n as u64) << 40 ^ (k as u64) << 60 ^ w & 1);
        match k {
            TIMER => {
                out.push((t + latency(t, n, k), n, REQUEST));
                out.push((t + SECOND, n, TIMER));
            }
            REQUEST => out.push((t + latency(t, n, k), n, ANSWER)),
            _ => {}
        }
    }
}

/// One thread, one queue. Returns each LP's hash (its events' marks in order) and the count.
fn sequential(m: &Model) -> ([u64; 2], u64) {
    let mut q = m.first_timers(0);
    q.extend(m.first_timers(1));
    let (mut hashes, mut events, mut out) = ([0u64; 2], 0u64, Vec::new());
    while let Some(Reverse((t, n, k))) = q.pop() {
        if t >= m.end {
            break;
        }
        events += 1;
        m.run(t, n, k, &mut hashes[m.lp_of(n, k)], &mut out);
        q.extend(out.drain(..).map(Reverse));
    }
    (hashes, events)
}

/// A single-producer single-consumer ring of (arrival time, node, kind).
struct Ring {
    buf: Vec<AtomicU64>,
    head: AtomicUsize,
    tail: AtomicUsize,
}

impl Ring {
    fn new(cap: usize) -> Ring {
        Ring { buf: (0..cap).map(|_| AtomicU64::new(0)).collect(), head: AtomicUsize::new(0), tail: AtomicUsize::new(0) }
    }
    fn push(&self, (t, n, k): (u64, u32, u8)) {
        let tail = self.tail.load(Ordering::Relaxed);
        while tail - self.head.load(Ordering::Acquire) >= self.buf.len() {
            std::hint::spin_loop();
        }
        self.buf[tail % self.buf.len()].store(t << 22 | (k as u64) << 20 | n as u64, Ordering::Relaxed);
        self.tail.store(tail + 1, Ordering::Release);
    }
    fn drain(&self, into: &mut BinaryHeap<Ev>) {
        let head = self.head.load(Ordering::Relaxed);
        let tail = self.tail.load(Ordering::Acquire);
        for i in head..tail {
            let v = self.buf[i % self.buf.len()].load(Ordering::Relaxed);
            into.push(Reverse((v >> 22, (v & 0xf_ffff) as u32, (v >> 20 & 3) as u8)));
        }
        self.head.store(tail, Ordering::Release);
    }
}

/// Padded so the two bounds do not share a line.
#[repr(align(128))]
struct Bound(AtomicU64);

struct Lp {
    id: usize,
    q: BinaryHeap<Ev>,
    hash: u64,
    events: u64,
    /// Times it found nothing it could run yet.
    waits: u64,
}

impl Lp {
    /// Publishes this LP's bound (nothing it sends from now on arrives earlier): its next
    /// event, or `their` bound if that is earlier, plus the lookahead. Returns the next
    /// event's time.
    fn publish(&self, mine: &Bound, their: u64) -> u64 {
        let next = self.q.peek().map_or(u64::MAX, |e| e.0 .0);
        mine.0.store(next.min(their).saturating_add(LOOKAHEAD), Ordering::Release);
        next
    }
}

/// Runs one LP: `inbox` from the other, `outbox` to it, `mine`/`theirs` the published bounds.
fn run_lp(m: &Model, lp: &mut Lp, inbox: &Ring, outbox: &Ring, mine: &Bound, theirs: &Bound) {
    let mut out = Vec::new();
    loop {
        // The bound first, then the drain: the other side pushes a message before it
        // publishes the bound that no longer covers it, so the drain sees every message the
        // bound does not. (Drain first, and a message pushed in between would be missed
        // while the newer bound let later events run ahead of it.)
        let their = theirs.0.load(Ordering::Acquire);
        inbox.drain(&mut lp.q);
        // Nothing earlier than `their` can still come: the queue's head is safe to run if it
        // is before that.
        let next = lp.publish(mine, their);
        if next >= their || next >= m.end {
            if next >= m.end && their >= m.end {
                return;
            }
            lp.waits += 1;
            std::hint::spin_loop();
            continue;
        }
        // Run every event before `their` (new ones from this LP's own work included).
        while let Some(&Reverse((t, n, k))) = lp.q.peek() {
            if t >= their || t >= m.end {
                break;
            }
            lp.q.pop();
            lp.events += 1;
            m.run(t, n, k, &mut lp.hash, &mut out);
            for e in out.drain(..) {
                if m.lp_of(e.1, e.2) == lp.id {
                    lp.q.push(Reverse(e));
                } else {
                    outbox.push(e);
                }
            }
            // Publish progress as it goes, so the other side need not wait for the batch.
            lp.publish(mine, their);
        }
    }
}

fn parallel(m: &Model) -> ([u64; 2], u64, [u64; 2], [u64; 2]) {
    let (to_0, to_1) = (Ring::new(1 << 16), Ring::new(1 << 16));
    let (b0, b1) = (Bound(AtomicU64::new(LOOKAHEAD)), Bound(AtomicU64::new(LOOKAHEAD)));
    let mut lp1 = Lp { id: 1, q: m.first_timers(1), hash: 0, events: 0, waits: 0 };
    let lp0 = std::thread::scope(|s| {
        let h = s.spawn(|| {
            let mut lp0 = Lp { id: 0, q: m.first_timers(0), hash: 0, events: 0, waits: 0 };
            run_lp(m, &mut lp0, &to_0, &to_1, &b0, &b1);
            lp0
        });
        run_lp(m, &mut lp1, &to_1, &to_0, &b1, &b0);
        h.join().expect("LP 0's thread")
    });
    ([lp0.hash, lp1.hash], lp0.events + lp1.events, [lp0.events, lp1.events], [lp0.waits, lp1.waits])
}

/// The time for one core to see a store of the other's and answer it (half a round trip of
/// a cache line between the two threads), in ns: what each wait for the other's bound costs.
fn ping_pong_ns() -> f64 {
    let (ping, pong) = (Bound(AtomicU64::new(0)), Bound(AtomicU64::new(0)));
    const ROUNDS: u64 = 200_000;
    let t0 = Instant::now();
    std::thread::scope(|s| {
        s.spawn(|| {
            for i in 1..=ROUNDS {
                while ping.0.load(Ordering::Acquire) != i {
                    std::hint::spin_loop();
                }
                pong.0.store(i, Ordering::Release);
            }
        });
        for i in 1..=ROUNDS {
            ping.0.store(i, Ordering::Release);
            while pong.0.load(Ordering::Acquire) != i {
                std::hint::spin_loop();
            }
        }
    });
    t0.elapsed().as_secs_f64() * 1e9 / (2 * ROUNDS) as f64
}

fn main() {
    let args: Vec<u64> = std::env::args().skip(1).map(|a| a.parse().expect("a number")).collect();
    let nodes = *args.first().unwrap_or(&10_000) as u32;
    let secs = *args.get(1).unwrap_or(&60);
    println!("one core sees the other's store in {:.0} ns (half a round trip)", ping_pong_ns());
    println!("{nodes} NodeManagers x {secs} s, lookahead {LOOKAHEAD} us");
    println!(
        "{:<28} {:>8} {:>8} {:>8} {:>8} {:>18} {:>18}",
        "split", "work/ev", "seq s", "2 LPs s", "speedup", "events lp0/lp1", "waits lp0/lp1"
    );
    for (split, rm_share_of) in [("RM | all NodeManagers", 0u32), ("RM + 1/4 NMs | 3/4 NMs", 4)] {
        for iters in [0u32, 50, 100, 200] {
            let m = Model { nodes, end: secs * SECOND, iters, rm_share_of };
            let t0 = Instant::now();
            let (s_hash, s_ev) = sequential(&m);
            let seq = t0.elapsed().as_secs_f64();
            let t0 = Instant::now();
            let (p_hash, p_ev, per, waits) = parallel(&m);
            let par = t0.elapsed().as_secs_f64();
            assert_eq!((s_hash, s_ev), (p_hash, p_ev), "each LP's events in the same order both ways");
            let ns = seq * 1e9 / s_ev as f64;
            println!(
                "{:<28} {:>6.0}ns {:>8.3} {:>8.3} {:>7.2}x {:>18} {:>18}",
                split,
                ns,
                seq,
                par,
                seq / par,
                format!("{}/{}", per[0], per[1]),
                format!("{}/{}", waits[0], waits[1])
            );
        }
    }
}
