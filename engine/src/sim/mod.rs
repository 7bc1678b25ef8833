//! The deterministic simulation driver.
//!
//! One thread, one priority queue of events ordered by (virtual time, sequence number).
//! Machines hold processes; a process is a [`Node`]. Launching a container looks its command
//! up in a [`Registry`] of node constructors (or runs it in the built-in [`shell`]). Process
//! death, SIGSTOP/SIGCONT, machine loss, network and store faults are [`Fault`]s a scenario
//! applies with [`Sim::apply`], each traced. Every event is hashed into the [`Trace`],
//! delivered messages with their contents: one seed, one hash.
//!
//! Links are FIFO: messages from one process to another arrive in send order, as over one TCP
//! connection, whatever latency each draws (a message never arrives before the one sent
//! before it on the same link). `NetModel::reorder` turns that off, for tests of code that
//! must survive reordering.

pub mod net;
mod outbox;
mod queue;
pub mod shell;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rand::SeedableRng;

use crate::fault::{Fault, FaultyStore, NetFaults};
use crate::msg::Msg;
use crate::node::{Addr, Cx, Effect, ExitCode, LaunchSpec, LocalCopy, LocalStat, Node, ProcId, ProcUsage, Signal, Sys, TimerId};
use crate::store::{MemStore, Store};
use crate::time::Time;
use crate::trace::Trace;
use crate::Rng;
use crate::{prefetch, prefetch_range};
pub(crate) use outbox::SimOutbox;
use outbox::{Outgoing, Peers, Wire};

pub use net::NetModel;
use queue::EventQueue;
pub use shell::SimShell;

/// The pid a simulated process shows in usage reports.
fn os_pid(slot: usize) -> u32 {
    1000 + slot as u32
}

/// The virtual epoch every simulation starts at (2026-01-01T00:00:00Z): the same seed gives the
/// same cluster timestamp and so the same ids.
pub const EPOCH: Time = Time(1_767_225_600_000_000);

/// What a registered program sees when the sim starts it.
pub struct ProcEnv<'a> {
    /// Words of the command line, redirections removed.
    pub argv: Vec<String>,
    pub spec: &'a LaunchSpec,
    pub hostname: String,
}

pub type Program = Box<dyn Fn(&ProcEnv) -> Result<Box<dyn Node>, String> + Send>;

/// Builds a machine's boot daemon (its NodeManager) each time the machine starts.
pub type Boot = Box<dyn Fn() -> Box<dyn Node> + Send>;

/// A running process as a scenario runner looks for it: "the process of container_X", "the
/// processes on host H".
#[derive(Clone, Debug)]
pub struct ProcInfo {
    pub addr: Addr,
    /// The pid usage reports show.
    pub os_pid: u32,
    /// The process that launched it (its NodeManager), if any.
    pub parent: Option<Addr>,
    /// The program its command ran (`flink-am`, `taskexec`, ...), for launched processes.
    pub program: Option<String>,
    /// How it was launched (command, environment with `CONTAINER_ID`), for launched processes.
    pub launch: Option<LaunchSpec>,
    pub stopped: bool,
}

impl ProcInfo {
    pub fn host(&self) -> Ipv4Addr {
        *self.addr.ip()
    }
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
    /// The YARN container this process runs, from its launch environment.
    pub fn container_id(&self) -> Option<&str> {
        self.launch.as_ref()?.env.get("CONTAINER_ID").map(|s| s.as_str())
    }
}

/// Container commands the sim can start, by program name (the basename of the first word).
#[derive(Default)]
pub struct Registry {
    programs: BTreeMap<String, Program>,
}

impl Registry {
    pub fn register(&mut self, name: &str, p: Program) {
        self.programs.insert(name.to_string(), p);
    }
}

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub seed: u64,
    pub net: NetModel,
    /// Time from `launch` to the process's `on_start` (fork + exec + runtime start).
    pub process_start: Duration,
    /// log2 of the event queue's bucket width in microseconds (default 6: 64 µs, for events
    /// that bunch; at most 12). A run whose events are spread thin over time takes wider
    /// buckets ([`SimConfig::bucket_shift_for`]). Speed only: events run in the same order
    /// whatever the width.
    pub queue_bucket_shift: u32,
}

impl SimConfig {
    pub fn new(seed: u64) -> SimConfig {
        SimConfig { seed, net: NetModel::default(), process_start: Duration::from_millis(5), queue_bucket_shift: queue::DEFAULT_SHIFT }
    }

    /// The bucket width for a run of about `events_per_sec` events spread evenly over time
    /// (the calendar queue sized to the run): wide enough that a bucket holds some hundred
    /// events, several times the 28 that `Sim::prefetch_ahead` looks ahead within the bucket
    /// being drained, and never narrower than the default, which suits events in bursts.
    pub fn bucket_shift_for(events_per_sec: u64) -> u32 {
        const PER_BUCKET: u64 = 128;
        let width_us = (PER_BUCKET * 1_000_000).checked_div(events_per_sec).unwrap_or(u64::MAX).max(1);
        (63 - width_us.leading_zeros()).clamp(queue::DEFAULT_SHIFT, queue::MAX_SHIFT)
    }
}

enum Event {
    Start {
        slot: usize,
    },
    /// `hint`: the slot `to` mapped to when the message was sent (`NO_SLOT` if none). Still
    /// the process at `to` if it is indexed there, which spares the lookup (a cache miss per
    /// delivery at 10,000 nodes); otherwise `to` is looked up as before.
    Deliver {
        from: Addr,
        to: Addr,
        hint: u32,
        /// The sender's slot (`NO_SLOT` if unknown): a reply goes back on the receiver's
        /// link to it, whose clock the sim prefetches.
        sender: u32,
        /// Queued fewer than `prefetch_ahead`'s middle distance before its turn: its node's
        /// second hint comes at the near step instead, or never would.
        late: bool,
        msg: Msg,
    },
    Timer {
        slot: usize,
        id: TimerId,
        gen: u64,
    },
    /// Every tick timer due at this whole millisecond (`Sim::ticks`).
    Tick {
        at: u64,
    },
    Exited {
        parent: usize,
        pid: ProcId,
        code: ExitCode,
    },
    Call(Box<dyn FnOnce(&mut Sim) + Send>),
}

impl Event {
    /// The process slot the event is (most likely) for.
    fn slot_hint(&self) -> Option<usize> {
        match self {
            Event::Start { slot } | Event::Timer { slot, .. } => Some(*slot),
            Event::Deliver { hint, .. } => (*hint != NO_SLOT).then_some(*hint as usize),
            Event::Exited { parent, .. } => Some(*parent),
            Event::Tick { .. } | Event::Call(_) => None,
        }
    }
}

/// No slot: a message sent to an address with no process.
const NO_SLOT: u32 = u32::MAX;

/// Process slots by address without hashing: sim machines are numbered 127.0.0.1, .2, ...,
/// so the IP indexes a list and a machine's few ports are scanned. A machine's first process
/// (the NodeManager, on most) sits inline in that list: a delivery finds its slot without
/// chasing a pointer.
#[derive(Default)]
struct AddrIndex {
    hosts: Vec<HostPorts>,
}

#[derive(Default)]
struct HostPorts {
    first: Option<(u16, usize)>,
    more: Vec<(u16, usize)>,
}

impl AddrIndex {
    fn host(ip: &Ipv4Addr) -> usize {
        (u32::from(*ip).wrapping_sub(0x7f00_0001)) as usize
    }
    fn get(&self, a: &Addr) -> Option<usize> {
        let h = self.hosts.get(Self::host(a.ip()))?;
        match h.first {
            Some((p, s)) if p == a.port() => Some(s),
            _ => h.more.iter().find(|(p, _)| *p == a.port()).map(|(_, s)| *s),
        }
    }
    fn contains_key(&self, a: &Addr) -> bool {
        self.get(a).is_some()
    }
    /// Maps `a` to `slot`; returns the slot it mapped to before, if any.
    fn insert(&mut self, a: Addr, slot: usize) -> Option<usize> {
        let h = Self::host(a.ip());
        if h >= self.hosts.len() {
            self.hosts.resize_with(h + 1, HostPorts::default);
        }
        let old = self.remove(&a);
        let h = &mut self.hosts[h];
        match h.first {
            None => h.first = Some((a.port(), slot)),
            Some(_) => h.more.push((a.port(), slot)),
        }
        old
    }
    /// Unmaps `a`; returns the slot it mapped to, if any.
    fn remove(&mut self, a: &Addr) -> Option<usize> {
        let h = self.hosts.get_mut(Self::host(a.ip()))?;
        match h.first {
            Some((p, s)) if p == a.port() => {
                h.first = h.more.pop();
                Some(s)
            }
            _ => {
                let i = h.more.iter().position(|(p, _)| *p == a.port())?;
                Some(h.more.remove(i).1)
            }
        }
    }
}

/// A process's armed timers with their generations. Daemons arm two or three, so the first
/// few sit inline in the process record and firing a timer chases no pointer; a generation of
/// 0 (never issued) marks a free inline entry. The rest are boxed, so a record without them
/// stays within two cache lines.
#[derive(Default)]
struct Timers {
    inline: [(TimerId, u64); 3],
    // One word in the record where a `Vec` takes three: the record stays in two lines.
    #[allow(clippy::box_collection)]
    more: Option<Box<Vec<(TimerId, u64)>>>,
}

impl Timers {
    fn more(&self) -> &[(TimerId, u64)] {
        self.more.as_deref().map_or(&[], |v| v.as_slice())
    }
    // Plain loops, inline entries first: a chained iterator cost twice as many instructions
    // on a path every timer takes twice.
    fn get(&self, id: &TimerId) -> Option<&u64> {
        for (t, g) in &self.inline {
            if *g != 0 && t == id {
                return Some(g);
            }
        }
        self.more().iter().find(|(t, _)| t == id).map(|(_, g)| g)
    }
    fn insert(&mut self, id: TimerId, gen: u64) {
        debug_assert!(gen != 0, "generations start at 1");
        let mut free = None;
        for (i, e) in self.inline.iter_mut().enumerate() {
            if e.1 != 0 && e.0 == id {
                e.1 = gen;
                return;
            }
            if e.1 == 0 && free.is_none() {
                free = Some(i);
            }
        }
        if let Some(e) = self.more.as_deref_mut().and_then(|m| m.iter_mut().find(|(t, _)| *t == id)) {
            e.1 = gen;
            return;
        }
        match free {
            Some(i) => self.inline[i] = (id, gen),
            None => self.more.get_or_insert_with(Default::default).push((id, gen)),
        }
    }
    /// Disarms `id` if `gen` is its armed generation; whether it was.
    fn take(&mut self, id: &TimerId, gen: u64) -> bool {
        for e in &mut self.inline {
            if e.1 == gen && e.0 == *id {
                e.1 = 0;
                return true;
            }
        }
        match self.more.as_deref_mut() {
            Some(more) => match more.iter().position(|(t, g)| t == id && *g == gen) {
                Some(i) => {
                    more.swap_remove(i);
                    true
                }
                None => false,
            },
            None => false,
        }
    }
    fn remove(&mut self, id: &TimerId) {
        for e in &mut self.inline {
            if e.1 != 0 && e.0 == *id {
                e.1 = 0;
            }
        }
        if let Some(more) = self.more.as_deref_mut() {
            more.retain(|(t, _)| t != id);
        }
    }
}

/// When the last message a process sent on each of its links arrives: FIFO order. Links are
/// keyed by the receiver's slot (slots are never reused, so a restarted process is a new
/// connection). Most processes talk to a few peers: the first in the record itself (a
/// NodeManager's one ResourceManager: its heartbeat's send reads no line of its own beyond
/// the record, where a list's buffer was one more miss per heartbeat at 10,000 nodes), the
/// next ones in a list; a ResourceManager talks to every NodeManager (a table by slot). Kept
/// per sender, so a process's links close with it.
struct LinkClock {
    /// The first peer's slot (`NO_LINK` until there is one) and its link's last arrival.
    first_to: usize,
    first_at: Time,
    /// Peers two to sixteen. Boxed: one word in the process record, as `Timers::more`.
    #[allow(clippy::box_collection)]
    rest: Option<Box<Vec<(usize, Time)>>>,
    /// Boxed: only a process with many peers has one.
    #[allow(clippy::box_collection)]
    many: Option<Box<Vec<Time>>>,
}

const NO_LINK: usize = usize::MAX;

impl Default for LinkClock {
    fn default() -> Self {
        LinkClock { first_to: NO_LINK, first_at: Time::ZERO, rest: None, many: None }
    }
}

impl LinkClock {
    const FEW: usize = 16;
    /// The arrival time of a message to slot `to` that would arrive at `at`: never before the
    /// previous one on the link (equal times pop in send order).
    fn arrival(&mut self, to: usize, at: Time) -> Time {
        if self.many.is_none() {
            if self.first_to == to {
                self.first_at = self.first_at.max(at);
                return self.first_at;
            }
            if self.first_to == NO_LINK {
                (self.first_to, self.first_at) = (to, at);
                return at;
            }
            let rest = self.rest.get_or_insert_with(Default::default);
            if let Some(e) = rest.iter_mut().find(|(s, _)| *s == to) {
                e.1 = e.1.max(at);
                return e.1;
            }
            if 1 + rest.len() < Self::FEW {
                rest.push((to, at));
                return at;
            }
            // The seventeenth peer: from now on every link is in the table (one lookup,
            // not a scan of the list first).
            let rest = self.rest.take().map(|r| *r).unwrap_or_default();
            let first = std::mem::replace(&mut self.first_to, NO_LINK);
            let len = rest.iter().map(|(s, _)| s + 1).max().unwrap_or(0).max(first + 1);
            let mut many = vec![Time::ZERO; len];
            many[first] = self.first_at;
            for (s, t) in rest {
                many[s] = t;
            }
            self.many = Some(Box::new(many));
        }
        let many = self.many.as_deref_mut().expect("set above");
        if to >= many.len() {
            many.resize(to + 1, Time::ZERO);
        }
        let last = &mut many[to];
        *last = (*last).max(at);
        *last
    }
}

/// A process. What every event reads (its address, timers, node, whether it is stopped)
/// sits in two cache lines (128 bytes, checked by a test); what only launches, signals and
/// exits read, and the RNG, are boxed in [`ProcCold`]. At 10,000 NodeManagers the sim is bound by cache misses on these
/// records, not by instructions.
#[repr(C, align(64))]
struct Proc {
    addr: Addr,
    stopped: bool,
    /// The address index maps `addr` to this process: a delivery whose send-time slot is
    /// still indexed at `to` needs no lookup (see `Event::Deliver`).
    indexed: bool,
    /// Its link clocks and timers.
    outgoing: Outgoing,
    node: Option<Box<dyn Node>>,
    cold: Box<ProcCold>,
}

struct ProcCold {
    /// Here, not in the record: a ChaCha state is ~300 bytes, and a dispatch only takes its
    /// address (the node may never draw).
    rng: Rng,
    /// A SIGTERM that arrived while stopped: it takes effect on SIGCONT.
    pending_term: bool,
    /// Inputs that came due while stopped, in arrival order.
    parked: Vec<Event>,
    /// Launched processes: the spec and the program name.
    launch: Option<Box<(LaunchSpec, String)>>,
    /// (parent slot, the parent's handle for this process)
    parent: Option<(usize, ProcId)>,
    children: BTreeMap<ProcId, usize>,
    stdout: Option<String>,
    os_pid: u32,
}

/// One armed tick timer: the process, its timer and the generation that armed it (a timer
/// re-armed or cancelled since leaves a stale entry, skipped as a stale `Event::Timer` is).
#[derive(Clone, Copy)]
struct TickTimer {
    slot: u32,
    id: TimerId,
    gen: u64,
}

struct Machine {
    up: bool,
    next_port: u16,
    procs: Vec<usize>,
}

/// A whole cluster in one thread.
pub struct Sim {
    now: Time,
    /// What sends and timers touch (a dispatch lends it whole to the node's outbox).
    wire: Wire,
    procs: Vec<Option<Proc>>,
    machines: BTreeMap<Ipv4Addr, Machine>,
    pub net: NetModel,
    /// Messages a `Hold` kept, in arrival order.
    held: Vec<(Addr, Addr, Msg)>,
    /// Daemons each machine starts when it (re)boots.
    boot: BTreeMap<Ipv4Addr, Vec<(u16, Boot)>>,
    seed: u64,
    registry: Registry,
    /// What a process's calls to the system reach (one borrow for its [`SimSys`]).
    os: Os,
    config: SimConfig,
    effects: Vec<Effect>,
    /// Tests only: every effect through the list, as before the outbox, to compare runs.
    #[cfg(test)]
    effects_listed: bool,
    events: u64,
}

/// The parts of the sim a process reaches through [`Sys`]: the store, the machines' disks,
/// what processes report of their memory. One struct so that a dispatch lends them in one
/// borrow, rather than building a context of a field each for every input.
#[derive(Default)]
struct Os {
    store: FaultyStore<MemStore>,
    /// Files processes wrote on their machines' local disks (container logs).
    local_files: BTreeMap<(Ipv4Addr, String), Vec<u8>>,
    /// Resident memory each process reports to its NodeManager's monitor, by slot.
    rss: Vec<u64>,
    /// What the process being dispatched printed, for its stdout file after the input
    /// (empty between inputs).
    stdout: Vec<u8>,
}

/// A process's [`Sys`]: three words, built for every input.
struct SimSys<'a> {
    os: &'a mut Os,
    host: Ipv4Addr,
    children: &'a BTreeMap<ProcId, usize>,
}

impl Sys for SimSys<'_> {
    fn store(&mut self) -> &mut dyn Store {
        &mut self.os.store
    }
    fn usage(&mut self, pid: ProcId) -> Option<ProcUsage> {
        let slot = *self.children.get(&pid)?;
        let (os_pid, rss) = (os_pid(slot), *self.os.rss.get(slot)?);
        Some(ProcUsage {
            os_pid,
            rss_bytes: rss,
            vmem_bytes: rss,
            tree_dump: vec![format!("|- {os_pid} 1 {os_pid} {os_pid} sim 0 0 {rss} {} sim", rss / 4096)],
        })
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.os.stdout.extend_from_slice(bytes);
    }
    fn local_write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.os.local_files.insert((self.host, path.to_string()), data.to_vec());
        Ok(())
    }
    fn local_read(&mut self, path: &str) -> Option<Vec<u8>> {
        self.os.local_files.get(&(self.host, path.to_string())).cloned()
    }
    fn local_list(&mut self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.os
            .local_files
            .range((self.host, prefix.clone())..)
            .take_while(|((h, p), _)| *h == self.host && p.starts_with(&prefix))
            .map(|((_, p), _)| p.clone())
            .collect()
    }
    fn local_mkdir(&mut self, _dir: &str) -> Result<(), String> {
        Ok(())
    }
    fn local_remove(&mut self, path: &str) {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        // Only this host's keys that start with `path` (a sorted range), not every file of
        // every machine: NodeManagers remove app dirs on every app end.
        let host = self.host;
        let gone: Vec<(Ipv4Addr, String)> = self
            .os
            .local_files
            .range((host, path.to_string())..)
            .take_while(|((h, p), _)| *h == host && p.starts_with(path))
            .filter(|((_, p), _)| p == path || p.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        for k in gone {
            self.os.local_files.remove(&k);
        }
    }
    /// The sim's files carry no times or modes: every file has mtime 0 and mode 0644; a path
    /// with files under it is a directory (0755).
    fn local_stat(&mut self, path: &str) -> Option<LocalStat> {
        if let Some(data) = self.os.local_files.get(&(self.host, path.to_string())) {
            return Some(LocalStat { is_dir: false, len: data.len() as u64, mtime_ms: 0, mode: 0o644 });
        }
        let prefix = format!("{}/", path.trim_end_matches('/'));
        let is_dir = self
            .os
            .local_files
            .range((self.host, prefix.clone())..)
            .next()
            .is_some_and(|((h, p), _)| *h == self.host && p.starts_with(&prefix));
        is_dir.then_some(LocalStat { is_dir: true, len: 0, mtime_ms: 0, mode: 0o755 })
    }
}

/// An input for a node, run when it comes due.
type NodeInput = Box<dyn FnOnce(&mut dyn Node, &mut Cx) + Send>;

/// The end of something a node started off its thread (a [`LocalCopy`], a
/// [`crate::node::StoreWrite`]) as an input of the node in `slot`; a stopped process gets it
/// on SIGCONT, like its timers.
fn done_input(slot: usize, input: NodeInput) -> Event {
    Event::Call(Box::new(move |sim: &mut Sim| {
        let Some(p) = sim.procs.get_mut(slot).and_then(|p| p.as_mut()) else { return };
        if p.stopped {
            p.cold.parked.push(done_input(slot, input));
            return;
        }
        sim.dispatch(slot, input);
    }))
}

/// A [`LocalCopy`] on a machine's file map, done at once (the sim has no disk to wait for).
fn sim_local_copy(local: &mut BTreeMap<(Ipv4Addr, String), Vec<u8>>, host: Ipv4Addr, c: &LocalCopy) -> Result<(), String> {
    use crate::node::CopyKind;
    use crate::unpack::{self, UnpackSink};
    struct MapSink<'a> {
        local: &'a mut BTreeMap<(Ipv4Addr, String), Vec<u8>>,
        host: Ipv4Addr,
        dest: &'a str,
    }
    impl UnpackSink for MapSink<'_> {
        fn dir(&mut self, _rel: &str) -> std::io::Result<()> {
            Ok(())
        }
        fn file(&mut self, rel: &str, _mode: Option<u32>, data: &mut dyn std::io::Read) -> std::io::Result<()> {
            let mut buf = Vec::new();
            data.read_to_end(&mut buf)?;
            self.local.insert((self.host, format!("{}/{rel}", self.dest)), buf);
            Ok(())
        }
        fn symlink(&mut self, rel: &str, _target: &str) -> std::io::Result<()> {
            Err(std::io::Error::other(format!("{rel}: the simulation's disks have no symbolic links")))
        }
    }
    let src = local.get(&(host, c.src.clone())).cloned().ok_or_else(|| format!("{}: No such file or directory", c.src))?;
    let dest = c.dest.trim_end_matches('/');
    let mut sink = MapSink { local, host, dest };
    match c.kind {
        CopyKind::File => {
            sink.local.insert((host, dest.to_string()), src);
            Ok(())
        }
        CopyKind::Zip => unpack::unzip(std::io::Cursor::new(&src), dest, &mut sink),
        CopyKind::Jar => {
            unpack::unzip(std::io::Cursor::new(&src), dest, &mut sink)?;
            let name = c.src.rsplit('/').next().unwrap_or("job.jar");
            sink.local.insert((host, format!("{dest}/{name}")), src);
            Ok(())
        }
        CopyKind::Tar => unpack::untar(std::io::Cursor::new(&src), false, dest, &mut sink),
        CopyKind::TarGz => unpack::untar(std::io::Cursor::new(&src), true, dest, &mut sink),
    }
}

/// [`Sim::node_hint`] on the fields it reads, for a caller that holds the queue.
fn node_hint_in(procs: Peers, hints: &[bool], ev: &Event, stage: u8) {
    if let Event::Deliver { msg, hint, .. } = ev {
        if let Some(Proc { node: Some(node), .. }) = hinted_in(procs, hints, *hint) {
            node.prefetch_message(msg, stage);
        }
    }
}

/// The process in `slot` if its node takes prefetch hints.
fn hinted_in<'a>(procs: Peers<'a>, hints: &[bool], slot: u32) -> Option<&'a Proc> {
    if !hints.get(slot as usize).copied().unwrap_or(false) {
        return None;
    }
    procs.get(slot as usize)?.as_ref()
}

/// The record in `slot` lent mutably, and every other record as [`Peers`].
fn split_procs(procs: &mut [Option<Proc>], slot: usize) -> (Option<&mut Proc>, Peers<'_>) {
    let len = procs.len();
    assert!(slot < len, "slot {slot} of {len}");
    let base = procs.as_mut_ptr();
    // SAFETY: `slot` is in bounds; the peers read every record but `slot`'s, which alone is
    // lent mutably, for the same borrow of the table.
    unsafe { ((*base.add(slot)).as_mut(), Peers::except(base, len, slot)) }
}

/// The [`SimOutbox`] of the process whose record `peers` leave out (`own`: that record's
/// parts), on the sim's fields other than the process table.
macro_rules! outbox {
    ($sim:expr, $addr:expr, $own:expr, $peers:expr) => {
        SimOutbox { now: $sim.now, addr: $addr, own: $own, peers: $peers, wire: &mut $sim.wire, net: &$sim.net }
    };
}

/// Starts loading a process record (two cache lines) a few inputs before it is dispatched.
#[inline(always)]
fn prefetch_record(p: &Option<Proc>) {
    let at = p as *const Option<Proc> as *const u8;
    prefetch(at);
    prefetch(at.wrapping_add(64));
}

/// Starts loading a process's node, once its record is cached: its first three lines, where a
/// daemon that runs at scale keeps what its inputs read (a NodeManager's heartbeat fields, laid
/// out first and aligned to a line). Its first link's clock is in the record.
#[inline(always)]
fn prefetch_node(p: &Proc) {
    if let Some(node) = &p.node {
        // Three lines whatever the node's size: a prefetch past the end of a small node loads
        // a neighbour's line at worst (prefetches never fault), where asking for the size
        // through the vtable and looping cost more. Six, before: the NodeManager, not yet
        // aligned, straddled four, and the other two were memory traffic nothing read.
        let at = &**node as *const dyn Node as *const u8;
        prefetch(at);
        prefetch(at.wrapping_add(64));
        prefetch(at.wrapping_add(128));
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        Sim::with_trace(config, Trace::new())
    }

    pub fn with_trace(config: SimConfig, trace: Trace) -> Sim {
        // Every message is boxed at its send and unboxed at its delivery, on this thread.
        crate::msg::recycle_boxes_on_this_thread();
        let seed = config.seed;
        Sim {
            now: EPOCH,
            wire: Wire {
                seq: 0,
                queue: EventQueue::with_bucket_shift(config.queue_bucket_shift),
                by_addr: AddrIndex::default(),
                net_rng: Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00),
                faults: NetFaults::default(),
                trace,
                ticks: std::collections::VecDeque::new(),
                tick_spare: Vec::new(),
                hints: Vec::new(),
            },
            procs: Vec::new(),
            machines: BTreeMap::new(),
            net: config.net.clone(),
            held: Vec::new(),
            boot: BTreeMap::new(),
            seed,
            registry: Registry::default(),
            os: Os::default(),
            config,
            effects: Vec::new(),
            #[cfg(test)]
            effects_listed: false,
            events: 0,
        }
    }

    pub fn registry(&mut self) -> &mut Registry {
        &mut self.registry
    }
    pub fn now(&self) -> Time {
        self.now
    }
    pub fn seed(&self) -> u64 {
        self.seed
    }
    pub fn trace(&mut self) -> &mut Trace {
        &mut self.wire.trace
    }
    pub fn trace_hash(&self) -> u64 {
        self.wire.trace.hash()
    }
    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }
    /// The shared store as the test harness sees it: without the store faults nodes see.
    pub fn store(&mut self) -> &mut MemStore {
        &mut self.os.store.inner
    }
    /// Puts a file on a machine's local disk (what a user or an installer left there).
    pub fn put_local_file(&mut self, host: Ipv4Addr, path: &str, data: &[u8]) {
        self.os.local_files.insert((host, path.to_string()), data.to_vec());
    }
    pub fn local_file(&self, host: Ipv4Addr, path: &str) -> Option<&[u8]> {
        self.os.local_files.get(&(host, path.to_string())).map(|v| v.as_slice())
    }
    pub fn local_files_under(&self, host: Ipv4Addr, dir: &str) -> Vec<(String, &[u8])> {
        self.os
            .local_files
            .range((host, dir.to_string())..)
            .take_while(|((h, p), _)| *h == host && p.starts_with(dir))
            .map(|((_, p), v)| (p.clone(), v.as_slice()))
            .collect()
    }

    /// Adds a machine; its address is 127.<n/65536>.<n/256>.<n%256>+1 style, never routed.
    pub fn add_machine(&mut self) -> Ipv4Addr {
        let n = self.machines.len() as u32 + 1;
        let ip = Ipv4Addr::from(0x7f00_0000u32 | n);
        self.machines.insert(ip, Machine { up: true, next_port: 40000, procs: Vec::new() });
        ip
    }

    /// Starts a top-level process (a daemon: RM, NM) on a machine at a fixed port.
    pub fn spawn(&mut self, host: Ipv4Addr, port: u16, node: Box<dyn Node>) -> Addr {
        let addr = SocketAddrV4::new(host, port);
        let slot = self.new_proc(addr, node, None);
        self.schedule(self.now, Event::Start { slot });
        addr
    }

    fn new_proc(&mut self, addr: Addr, node: Box<dyn Node>, parent: Option<(usize, ProcId)>) -> usize {
        let slot = self.procs.len();
        let rng = Rng::seed_from_u64(self.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ (slot as u64 + 1));
        self.wire.hints.push(node.takes_prefetch_hints());
        self.procs.push(Some(Proc {
            addr,
            outgoing: Outgoing::default(),
            node: Some(node),
            stopped: false,
            indexed: true,
            cold: Box::new(ProcCold {
                rng,
                pending_term: false,
                parked: Vec::new(),
                launch: None,
                parent,
                children: BTreeMap::new(),
                stdout: None,
                os_pid: os_pid(slot),
            }),
        }));
        self.os.rss.push(0);
        if let Some(old) = self.wire.by_addr.insert(addr, slot) {
            self.unindexed(old);
        }
        if let Some(m) = self.machines.get_mut(addr.ip()) {
            m.procs.push(slot);
        }
        slot
    }

    /// The process at `slot` is no longer what the address index finds at its address.
    fn unindexed(&mut self, slot: usize) {
        if let Some(p) = self.procs.get_mut(slot).and_then(|p| p.as_mut()) {
            p.indexed = false;
        }
    }

    /// `prefetch_ahead`'s middle distance: a delivery that far ahead gets its node's second
    /// prefetch hint.
    const MID: usize = 5;
    /// Its near distance: a delivery that far ahead gets its node's lines loaded.
    const NEAR: usize = 2;

    fn schedule(&mut self, at: Time, ev: Event) {
        self.wire.schedule(at, ev);
    }

    /// Runs `f` against the simulation at virtual time `at` (a scenario step, a fault).
    pub fn at(&mut self, at: Time, f: impl FnOnce(&mut Sim) + Send + 'static) {
        self.schedule(at.max(self.now), Event::Call(Box::new(f)));
    }

    /// True while the process at `addr` exists.
    pub fn alive(&self, addr: Addr) -> bool {
        self.wire.by_addr.contains_key(&addr)
    }

    /// Processes on a machine, in start order.
    pub fn processes_on(&self, host: Ipv4Addr) -> Vec<Addr> {
        self.machines
            .get(&host)
            .map(|m| m.procs.iter().filter_map(|s| self.procs[*s].as_ref().map(|p| p.addr)).collect())
            .unwrap_or_default()
    }

    /// Borrows a node for reading its state.
    pub fn node<N: Node>(&mut self, addr: Addr) -> Option<&mut N> {
        let slot = self.wire.by_addr.get(&addr)?;
        self.procs[slot].as_mut()?.node.as_mut()?.as_any().downcast_mut::<N>()
    }

    /// Runs `f` on a node with a context, as a client call does, and applies its effects.
    pub fn with_node<N: Node, R>(&mut self, addr: Addr, f: impl FnOnce(&mut N, &mut Cx) -> R) -> Option<R> {
        let slot = self.wire.by_addr.get(&addr)?;
        let mut out = None;
        self.dispatch(slot, |node, cx| {
            if let Some(n) = node.as_any().downcast_mut::<N>() {
                out = Some(f(n, cx));
            }
        });
        out
    }

    /// Processes one event. False when the queue is empty.
    pub fn step(&mut self) -> bool {
        let Some((at, ev)) = self.wire.queue.pop() else { return false };
        self.run_event(at, ev);
        true
    }

    #[inline(always)]
    fn run_event(&mut self, at: u64, ev: Event) {
        if self.wire.queue.take_fresh() {
            self.prefetch_bucket_start();
        }
        self.prefetch_ahead();
        self.now = Time(at);
        self.events += 1;
        self.handle(ev);
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Time) {
        while let Some((at, ev)) = self.wire.queue.pop_until(until.as_micros()) {
            self.run_event(at, ev);
        }
        self.now = self.now.max(until);
    }

    pub fn run_for(&mut self, d: Duration) {
        let until = self.now + d;
        self.run_until(until);
    }

    /// Runs until `pred` holds (checked after every event) or `limit` passes. Returns whether
    /// `pred` held.
    pub fn run_until_true(&mut self, limit: Duration, mut pred: impl FnMut(&mut Sim) -> bool) -> bool {
        let until = self.now + limit;
        loop {
            if pred(self) {
                return true;
            }
            match self.wire.queue.peek_time() {
                Some(at) if Time(at) <= until => {
                    self.step();
                }
                _ => {
                    self.now = self.now.max(until);
                    return pred(self);
                }
            }
        }
    }

    /// Asks the CPU to start loading what the events a few places ahead will touch. At
    /// 10,000 NodeManagers nearly every event is for a process whose record and node were
    /// last touched a heartbeat ago and have left the caches: a NodeManager's first read of
    /// its own state was a quarter of the run, spent waiting on memory. Three steps, as a
    /// pipeline: the process record and a message's contents `RECORD` events ahead; the
    /// receiving node's second hint `MID` ahead ([`Node::prefetch_message`]: the
    /// ResourceManager's `RMNode`, its first hint, the index entry, having come at the send,
    /// `prefetch_for_reply`); then the node `NEAR` ahead. A delivery queued too near the front
    /// for the middle step gets its second hint at the near step or at its send (`send`
    /// notes which), and a bucket's first events, which were in a later bucket while the one
    /// before was drained, at its start (`prefetch_bucket_start`). Only hints: nothing is read
    /// that changes what runs, so the run is the same with or without them.
    fn prefetch_ahead(&self) {
        const RECORD: usize = 28;
        let ahead = self.wire.queue.ahead();
        if let Some(ev) = ahead.get(RECORD) {
            if let Some(p) = ev.slot_hint().and_then(|slot| self.procs.get(slot)) {
                prefetch_record(p);
            }
            if let Event::Deliver { msg, .. } = ev {
                prefetch(msg.data_ptr());
            }
        }
        if let Some(ev) = ahead.get(Self::MID) {
            self.node_hint(ev, 1);
        }
        let Some(ev) = ahead.get(Self::NEAR) else { return };
        if let Some(Some(p)) = ev.slot_hint().and_then(|s| self.procs.get(s)) {
            prefetch_node(p);
        }
        // Some heartbeats land too few events ahead for the middle step (200 us of latency is
        // a few events at 10,000 nodes): their send noted it, and the second hint comes now.
        if let Event::Deliver { late: true, .. } = ev {
            self.node_hint(ev, 1);
        }
    }

    /// A bucket's first events were in a later bucket while the one before was drained, out
    /// of `prefetch_ahead`'s sight (it looks within the bucket being drained): messages sent
    /// near a bucket's end arrive at the next one's start. Their nodes' second hints come
    /// now, once a bucket.
    #[cold]
    fn prefetch_bucket_start(&self) {
        let ahead = self.wire.queue.ahead();
        for k in 0..Self::MID {
            match ahead.get(k) {
                Some(ev) => self.node_hint(ev, 1),
                None => break,
            }
        }
    }

    /// Passes a delivery's prefetch hint to the node that will receive it.
    fn node_hint(&self, ev: &Event, stage: u8) {
        node_hint_in(Peers::all(&self.procs), &self.wire.hints, ev, stage);
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Start { slot } => {
                let Some(p) = self.procs.get(slot).and_then(|p| p.as_ref()) else { return };
                self.wire.trace.step(self.now, b's', p.addr, p.addr, "start");
                self.dispatch(slot, |n, cx| n.on_start(cx));
            }
            Event::Deliver { from, to, hint, sender, msg, late } => {
                if !self.wire.faults.is_empty() {
                    if self.wire.faults.is_cut(from, to) && !msg.is_stream() {
                        self.wire.trace.message(self.now, b'l', from, to, &msg);
                        return;
                    }
                    // Held, or a connection's on a cut link: kept until `release_unheld`.
                    if self.wire.faults.waits(from, to, msg.is_stream()) {
                        self.wire.trace.message(self.now, b'h', from, to, &msg);
                        self.held.push((from, to, msg));
                        return;
                    }
                }
                let hinted = match self.procs.get(hint as usize) {
                    Some(Some(p)) if p.indexed && p.addr == to => Some(hint as usize),
                    _ => self.wire.by_addr.get(&to),
                };
                let Some(slot) = hinted else {
                    self.wire.trace.message(self.now, b'x', from, to, &msg);
                    return;
                };
                let p = self.procs[slot].as_mut().expect("indexed processes exist");
                if p.stopped {
                    // In the socket's receive queue until SIGCONT.
                    p.cold.parked.push(Event::Deliver { from, to, hint, sender, msg, late });
                    return;
                }
                self.wire.trace.message(self.now, b'm', from, to, &msg);
                self.dispatch(slot, move |n, cx| n.on_message(cx, from, msg));
            }
            Event::Timer { slot, id, gen } => self.fire_timer(slot, id, gen),
            Event::Tick { at } => self.fire_tick(at),
            Event::Exited { parent, pid, code } => {
                let Some(p) = self.procs.get_mut(parent).and_then(|p| p.as_mut()) else { return };
                if p.stopped {
                    p.cold.parked.push(Event::Exited { parent, pid, code });
                    return;
                }
                let addr = p.addr;
                self.wire.trace.step(self.now, b'q', addr, addr, "exit");
                self.dispatch(parent, |n, cx| n.on_process_exit(cx, pid, code));
            }
            Event::Call(f) => f(self),
        }
    }

    /// A timer came due: the node's `on_timer`, unless it was re-armed or cancelled since
    /// (another generation), or the process is stopped (it fires on SIGCONT).
    fn fire_timer(&mut self, slot: usize, id: TimerId, gen: u64) {
        let Some(p) = self.procs.get_mut(slot).and_then(|p| p.as_mut()) else { return };
        if p.stopped {
            if p.outgoing.timers.get(&id) == Some(&gen) {
                p.cold.parked.push(Event::Timer { slot, id, gen });
            }
            return;
        }
        // Disarmed in the same pass that checks it is this generation's.
        if !p.outgoing.timers.take(&id, gen) {
            return;
        }
        let addr = p.addr;
        self.wire.trace.step(self.now, b't', addr, addr, "timer");
        self.dispatch(slot, |n, cx| n.on_timer(cx, id));
    }

    /// Fires every tick timer due at `at`, in process (slot) order: the same order whatever
    /// order they were armed in, and one walk up the process table, whose records and nodes
    /// the prefetcher then streams in. Each entry counts as an event, as each timer's own
    /// queue event would (stale ones too). A timer armed for this very
    /// tick while it fires (a zero delay) goes into a new list with its own event.
    fn fire_tick(&mut self, at: u64) {
        // The earliest list: each list has one event, and every earlier one fired at its own.
        let (due_at, mut due) = self.wire.ticks.pop_front().expect("a tick event's list is queued");
        assert_eq!(due_at, at, "tick lists fire in time order");
        due.sort_by_key(|t| t.slot);
        self.events += due.len().saturating_sub(1) as u64;
        // This walk's lead reads the next list's first entries, and the next walk the list
        // after it: written a whole interval ago (a heartbeat's), they have left the caches.
        // Once a tick, so the whole list (a few lines when heartbeats are spread; a burst's
        // thousands only as far as the lead reaches).
        if let Some((_, after_next)) = self.wire.ticks.get(1) {
            prefetch_range(after_next.as_ptr() as *const u8, std::mem::size_of_val(after_next.as_slice()).min(512));
        }
        const RECORD: usize = 8;
        const NODE: usize = 4;
        for i in 0..due.len() {
            // Past this list's end, the next tick's: when heartbeats are spread over the
            // interval a list holds a few timers, and its first ones would get no lead.
            let ahead = |k: usize| match due.get(i + k) {
                Some(t) => Some(*t),
                None => self.wire.ticks.front().and_then(|(_, next)| next.get(i + k - due.len()).copied()),
            };
            if let Some(p) = ahead(RECORD).and_then(|t| self.procs.get(t.slot as usize)) {
                prefetch_record(p);
            }
            if let Some(Some(p)) = ahead(NODE).and_then(|t| self.procs.get(t.slot as usize)) {
                prefetch_node(p);
            }
            let t = due[i];
            self.fire_timer(t.slot as usize, t.id, t.gen);
        }
        due.clear();
        self.wire.tick_spare.push(due);
    }

    fn dispatch(&mut self, slot: usize, f: impl FnOnce(&mut dyn Node, &mut Cx)) {
        // The node is borrowed where it lies, beside the other fields the context borrows
        // (nothing the handler reaches can reach its record but through the outbox, which
        // has the link clocks and timers), rather than taken out of its record and put back:
        // one lookup of the record, no writes to it.
        let (own, peers) = split_procs(&mut self.procs, slot);
        let Some(Proc { node: Some(node), cold, addr, outgoing, .. }) = own else { return };
        let addr = *addr;
        {
            let ProcCold { rng, children, .. } = &mut **cold;
            let mut sys = SimSys { os: &mut self.os, host: *addr.ip(), children };
            // Sends and timers go straight to the queue as the handler makes them; what else
            // it asks for (and what comes after that) waits in `effects`.
            let mut outbox = outbox!(self, addr, Some(outgoing), peers);
            // Tests may send every effect through the list, as before the outbox, to compare.
            #[cfg(test)]
            let direct = !self.effects_listed;
            #[cfg(not(test))]
            let direct = true;
            let mut cx = Cx::with_outbox(self.now, addr, rng, &mut self.effects, &mut sys, direct.then_some(&mut outbox));
            f(&mut **node, &mut cx);
        }
        if !self.os.stdout.is_empty() {
            let path = cold.stdout.clone().unwrap_or_else(|| format!("/proc/{}/stdout", cold.os_pid));
            let Os { local_files, stdout, .. } = &mut self.os;
            local_files.entry((*addr.ip(), path)).or_default().extend_from_slice(stdout);
            stdout.clear();
        }
        if self.effects.is_empty() {
            return;
        }
        let mut effects = std::mem::take(&mut self.effects);
        // By hand rather than `drain(..)`, whose drop (a tail move, a check for elements
        // left) cost as much as a small effect's handling.
        let n = effects.len();
        // SAFETY: the length is zeroed first, so each effect is read out exactly once and the
        // vector never drops one; if `apply_effect` panics, the effects not yet read leak,
        // which is safe. Nothing else reaches this vector meanwhile: it was taken out of
        // `self.effects`, and a nested dispatch takes whatever is there instead.
        unsafe {
            effects.set_len(0);
            for i in 0..n {
                let e = std::ptr::read(effects.as_ptr().add(i));
                self.apply_effect(slot, addr, e);
            }
        }
        // What `take` left there is an empty vector with no buffer (unless a nested dispatch
        // put its own back): nothing to drop, and no call to find that out.
        let left = std::mem::replace(&mut self.effects, effects);
        if left.capacity() == 0 {
            std::mem::forget(left);
        }
    }

    /// The outbox of the process in `slot`, for an effect that waited in the list.
    fn outbox(&mut self, slot: usize, addr: Addr) -> SimOutbox<'_> {
        let (own, peers) = split_procs(&mut self.procs, slot);
        let own = own.map(|p| &mut p.outgoing);
        outbox!(self, addr, own, peers)
    }

    fn apply_effect(&mut self, slot: usize, addr: Addr, e: Effect) {
        match e {
            Effect::Send { to, msg } => self.outbox(slot, addr).send(to, msg),
            Effect::SetTimer { id, at } => self.outbox(slot, addr).set_timer(id, at, false),
            Effect::SetTickTimer { id, at } => self.outbox(slot, addr).set_timer(id, at, true),
            Effect::CancelTimer { id } => self.outbox(slot, addr).cancel_timer(id),
            Effect::Launch(spec) => self.launch(slot, addr, *spec),
            Effect::Signal { pid, signal } => {
                let child = self.procs[slot].as_ref().and_then(|p| p.cold.children.get(&pid).copied());
                if let Some(child) = child {
                    self.signal_slot(child, signal);
                }
            }
            // The sim's processes die with their launcher, so a reacquired one has ended: it
            // reports the exit code it left on the machine's disk, if any.
            Effect::Reacquire { pid, os_pid: _, exit_code_file } => {
                let code = self
                    .os
                    .local_files
                    .get(&(*addr.ip(), exit_code_file))
                    .and_then(|b| String::from_utf8_lossy(b).trim().parse::<ExitCode>().ok())
                    .unwrap_or(crate::node::EXIT_CODE_LOST);
                self.schedule(self.now, Event::Exited { parent: slot, pid, code });
            }
            Effect::Exit { code } => self.end_process(slot, code),
            // Done now; the outcome is a new input of the node at the same instant, after
            // what is already queued for it (as a completion from another thread would be).
            Effect::LocalCopy(copy) => {
                let (id, result) = (copy.id, sim_local_copy(&mut self.os.local_files, *addr.ip(), &copy));
                self.schedule(self.now, done_input(slot, Box::new(move |n, cx| n.on_local_copy_done(cx, id, result))));
            }
            // The same: written now, through the store's faults, reported at this instant.
            Effect::StoreWrite(w) => {
                let id = w.id;
                let result = w.run(&mut self.os.store);
                self.schedule(self.now, done_input(slot, Box::new(move |n, cx| n.on_store_written(cx, id, result))));
            }
            Effect::Trace { kind, detail } => self.wire.trace.event(self.now, addr, kind, &detail),
        }
    }

    fn launch(&mut self, parent: usize, parent_addr: Addr, spec: LaunchSpec) {
        let host = *parent_addr.ip();
        let hostname = host.to_string();
        let (argv, out, _err) = shell::strip_redirects(shell::split_words(&spec.command));
        let program = argv.first().map(|a| a.rsplit('/').next().unwrap_or(a).to_string()).unwrap_or_default();
        let built: Result<Box<dyn Node>, String> = if shell::is_script(&spec.command) || !self.registry.programs.contains_key(&program) {
            if !shell::is_script(&spec.command)
                && !matches!(program.as_str(), "echo" | "hostname" | "sleep" | "exit" | "true" | "false" | "printenv" | ":")
            {
                Err(format!("bash: line 1: {program}: command not found"))
            } else {
                Ok(Box::new(SimShell::new(&spec.command, hostname.clone(), spec.env.clone())))
            }
        } else {
            let env = ProcEnv { argv, spec: &spec, hostname };
            (self.registry.programs[&program])(&env)
        };
        let pid = spec.pid;
        match built {
            Ok(node) => {
                let port = {
                    let m = self.machines.get_mut(&host).expect("launching machine exists");
                    m.next_port = m.next_port.wrapping_add(1).max(40000);
                    m.next_port
                };
                let child = self.new_proc(SocketAddrV4::new(host, port), node, Some((parent, pid)));
                let stdout = out.unwrap_or_else(|| spec.stdout.clone());
                let c = self.procs[child].as_mut().expect("just created");
                c.cold.stdout = Some(stdout);
                c.cold.launch = Some(Box::new((spec, program)));
                self.procs[parent].as_mut().expect("parent is dispatching").cold.children.insert(pid, child);
                let at = self.now + self.config.process_start;
                self.schedule(at, Event::Start { slot: child });
            }
            Err(e) => {
                let path = spec.stderr.clone();
                self.os.local_files.entry((host, path)).or_default().extend_from_slice(format!("{e}\n").as_bytes());
                let at = self.now + self.config.process_start;
                self.schedule(at, Event::Exited { parent, pid, code: 127 });
            }
        }
    }

    fn signal_slot(&mut self, slot: usize, signal: Signal) {
        let Some(p) = self.procs[slot].as_mut() else { return };
        match signal {
            Signal::Stop => p.stopped = true,
            Signal::Cont => {
                if !p.stopped {
                    return;
                }
                p.stopped = false;
                // Pending signals are delivered first: a SIGTERM that waited ends it now.
                if std::mem::take(&mut p.cold.pending_term) {
                    self.end_process(slot, 128 + Signal::Term.number());
                    return;
                }
                // Handled now, not queued again: anything already queued for this instant
                // (a later message on the same link) must not overtake them.
                let parked = std::mem::take(&mut p.cold.parked);
                for ev in parked {
                    self.handle(ev);
                }
            }
            // Our daemons handle SIGTERM (as the JVM does); a stopped process cannot run its
            // handler, so the signal waits, as Linux keeps it pending.
            Signal::Term if p.stopped => p.cold.pending_term = true,
            Signal::Term | Signal::Kill => self.end_process(slot, 128 + signal.number()),
        }
    }

    /// Ends a process: its own children go with it (as containers die with their NM), its
    /// parent is told the exit code.
    fn end_process(&mut self, slot: usize, code: ExitCode) {
        let Some(p) = self.procs[slot].take() else { return };
        if let Some(s) = self.wire.by_addr.remove(&p.addr) {
            self.unindexed(s);
        }
        self.wire.trace.step(self.now, b'd', p.addr, p.addr, "end");
        for (_, c) in p.cold.children {
            self.remove_silently(c);
        }
        if let Some((parent, pid)) = p.cold.parent {
            if self.procs[parent].is_some() {
                self.schedule(self.now, Event::Exited { parent, pid, code });
            }
        }
    }

    fn remove_silently(&mut self, slot: usize) {
        if let Some(p) = self.procs[slot].take() {
            if let Some(s) = self.wire.by_addr.remove(&p.addr) {
                self.unindexed(s);
            }
            for (_, c) in p.cold.children {
                self.remove_silently(c);
            }
        }
    }

    /// Sends a signal to the process at `addr` from outside (a scenario's `kill -9`), as the
    /// matching [`Fault`]. False if no process is there.
    pub fn signal(&mut self, addr: Addr, signal: Signal) -> bool {
        let fault = match signal {
            Signal::Kill => Fault::Kill { process: addr },
            Signal::Term => Fault::Terminate { process: addr },
            Signal::Stop => Fault::Stop { process: addr },
            Signal::Cont => Fault::Continue { process: addr },
        };
        self.apply(fault).is_ok()
    }

    /// Sets the resident memory a process reports to its NodeManager's monitor.
    pub fn set_rss(&mut self, addr: Addr, bytes: u64) {
        if let Some(slot) = self.wire.by_addr.get(&addr) {
            if self.procs[slot].is_some() {
                self.os.rss[slot] = bytes;
            }
        }
    }

    /// The machine is gone: every process on it stops at once, nobody is told.
    pub fn kill_machine(&mut self, host: Ipv4Addr) {
        let _ = self.apply(Fault::MachineLoss { host });
    }

    pub fn machine_up(&self, host: Ipv4Addr) -> bool {
        self.machines.get(&host).map(|m| m.up).unwrap_or(false)
    }

    /// Brings a lost machine back with its boot daemons (see [`Sim::set_boot`]).
    pub fn restart_machine(&mut self, host: Ipv4Addr) {
        let _ = self.apply(Fault::MachineRestart { host });
    }

    /// Registers a daemon `host` starts at `port` whenever it boots (`MachineRestart`). Does
    /// not start it now: see [`Sim::spawn_boot`].
    pub fn set_boot(&mut self, host: Ipv4Addr, port: u16, boot: Boot) {
        let list = self.boot.entry(host).or_default();
        list.retain(|(p, _)| *p != port);
        list.push((port, boot));
    }

    /// Starts a daemon now and again whenever its machine restarts.
    pub fn spawn_boot(&mut self, host: Ipv4Addr, port: u16, boot: Boot) -> Addr {
        let addr = self.spawn(host, port, boot());
        self.set_boot(host, port, boot);
        addr
    }

    /// Applies a fault now and records it in the trace. An error (no such process, no such
    /// machine) changes nothing and is not traced.
    pub fn apply(&mut self, fault: Fault) -> Result<(), String> {
        let unspecified = SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0);
        let node = match &fault {
            Fault::Kill { process } | Fault::Terminate { process } | Fault::Stop { process } | Fault::Continue { process } => {
                let Some(slot) = self.wire.by_addr.get(process) else {
                    return Err(format!("no process at {process}"));
                };
                let signal = match &fault {
                    Fault::Kill { .. } => Signal::Kill,
                    Fault::Terminate { .. } => Signal::Term,
                    Fault::Stop { .. } => Signal::Stop,
                    _ => Signal::Cont,
                };
                // Traced before it acts: what a SIGCONT delivers comes after it in the trace.
                self.wire.trace.fault(self.now, *process, &fault);
                self.signal_slot(slot, signal);
                return Ok(());
            }
            Fault::MachineLoss { host } => {
                let Some(m) = self.machines.get_mut(host) else { return Err(format!("no machine {host}")) };
                m.up = false;
                let slots = std::mem::take(&mut m.procs);
                for s in slots {
                    self.remove_silently(s);
                }
                SocketAddrV4::new(*host, 0)
            }
            Fault::MachineRestart { host } => {
                if !self.machines.contains_key(host) {
                    return Err(format!("no machine {host}"));
                }
                // A machine that is up reboots: everything on it goes first.
                let slots = std::mem::take(&mut self.machines.get_mut(host).expect("checked").procs);
                for s in slots {
                    self.remove_silently(s);
                }
                self.machines.get_mut(host).expect("checked").up = true;
                self.wire.trace.fault(self.now, SocketAddrV4::new(*host, 0), &fault);
                let nodes: Vec<(u16, Box<dyn Node>)> =
                    self.boot.get(host).map(|l| l.iter().map(|(port, b)| (*port, b())).collect()).unwrap_or_default();
                for (port, node) in nodes {
                    self.spawn(*host, port, node);
                }
                return Ok(());
            }
            Fault::StoreFault { .. } | Fault::ClearStoreFault { .. } => {
                self.os.store.faults.apply(&fault);
                unspecified
            }
            Fault::Partition { .. }
            | Fault::Heal { .. }
            | Fault::HealAll
            | Fault::Hold { .. }
            | Fault::Release { .. }
            | Fault::Clog { .. }
            | Fault::Unclog { .. }
            | Fault::DropMessages(_) => {
                if let Fault::DropMessages(r) = &fault {
                    if !(0.0..=1.0).contains(&r.probability) {
                        return Err(format!("drop probability {} is not between 0 and 1", r.probability));
                    }
                }
                self.wire.faults.apply(&fault);
                self.wire.trace.fault(self.now, unspecified, &fault);
                self.release_unheld();
                return Ok(());
            }
        };
        self.wire.trace.fault(self.now, node, &fault);
        Ok(())
    }

    /// Delivers, in the order they arrived, the held messages no hold covers any more (and,
    /// for a connection's messages, whose link is no longer cut).
    fn release_unheld(&mut self) {
        if self.held.is_empty() {
            return;
        }
        let faults = &self.wire.faults;
        let (keep, go): (Vec<_>, Vec<_>) =
            std::mem::take(&mut self.held).into_iter().partition(|(f, t, m)| faults.waits(*f, *t, m.is_stream()));
        self.held = keep;
        for (from, to, msg) in go {
            self.handle(Event::Deliver { from, to, hint: NO_SLOT, sender: NO_SLOT, msg, late: false });
        }
    }

    /// Every process alive, in start order.
    pub fn processes(&self) -> Vec<ProcInfo> {
        self.procs.iter().flatten().map(|p| self.info(p)).collect()
    }

    /// Launched processes as (address, program, the container id of its launch environment),
    /// in the order of [`Sim::processes`]: what a scenario runner polls after each step,
    /// without a copy of every launch spec and environment.
    pub fn launched(&self) -> impl Iterator<Item = (Addr, &str, Option<&str>)> + '_ {
        self.procs.iter().flatten().filter_map(|p| {
            let (spec, program) = &**p.cold.launch.as_ref()?;
            Some((p.addr, program.as_str(), spec.env.get("CONTAINER_ID").map(String::as_str)))
        })
    }

    /// The process at `addr`, if alive.
    pub fn process(&self, addr: Addr) -> Option<ProcInfo> {
        let slot = self.wire.by_addr.get(&addr)?;
        self.procs[slot].as_ref().map(|p| self.info(p))
    }

    /// The process running YARN container `container_id` (by its launch environment).
    pub fn find_container(&self, container_id: &str) -> Option<Addr> {
        self.procs
            .iter()
            .flatten()
            .find(|p| p.cold.launch.as_ref().and_then(|l| l.0.env.get("CONTAINER_ID")).is_some_and(|c| c == container_id))
            .map(|p| p.addr)
    }

    /// Every machine with whether it is up, in address order.
    pub fn machines(&self) -> Vec<(Ipv4Addr, bool)> {
        self.machines.iter().map(|(h, m)| (*h, m.up)).collect()
    }

    /// Messages a `Hold` keeps now.
    pub fn held_messages(&self) -> usize {
        self.held.len()
    }

    fn info(&self, p: &Proc) -> ProcInfo {
        ProcInfo {
            addr: p.addr,
            os_pid: p.cold.os_pid,
            parent: p.cold.parent.and_then(|(s, _)| self.procs[s].as_ref().map(|q| q.addr)),
            program: p.cold.launch.as_ref().map(|l| l.1.clone()),
            launch: p.cold.launch.as_ref().map(|l| l.0.clone()),
            stopped: p.stopped,
        }
    }
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod tests;
