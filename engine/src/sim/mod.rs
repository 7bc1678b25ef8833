//! The deterministic simulation driver.
//!
//! One thread, one priority queue of events ordered by (virtual time, sequence number).
//! Machines hold processes; a process is a [`Node`]. Launching a container looks its command
//! up in a [`Registry`] of node constructors (or runs it in the built-in [`shell`]). Process
//! death, SIGSTOP/SIGCONT, machine loss and network faults are driver operations a scenario
//! can apply at any time. Every event is hashed into the [`Trace`]: one seed, one hash.

pub mod net;
mod queue;
pub mod shell;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use rand::SeedableRng;

use crate::msg::Msg;
use crate::node::{Addr, Cx, Effect, ExitCode, LaunchSpec, Node, ProcId, ProcUsage, Signal, Sys, TimerId};
use crate::store::{MemStore, Store};
use crate::time::Time;
use crate::trace::Trace;
use crate::Rng;

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
}

impl SimConfig {
    pub fn new(seed: u64) -> SimConfig {
        SimConfig { seed, net: NetModel::default(), process_start: Duration::from_millis(5) }
    }
}

enum Event {
    Start { slot: usize },
    Deliver { from: Addr, to: Addr, msg: Msg },
    Timer { slot: usize, id: TimerId, gen: u64 },
    Exited { parent: usize, pid: ProcId, code: ExitCode },
    Call(Box<dyn FnOnce(&mut Sim) + Send>),
}

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
    fn insert(&mut self, a: Addr, slot: usize) {
        let h = Self::host(a.ip());
        if h >= self.hosts.len() {
            self.hosts.resize_with(h + 1, HostPorts::default);
        }
        self.remove(&a);
        let h = &mut self.hosts[h];
        match h.first {
            None => h.first = Some((a.port(), slot)),
            Some(_) => h.more.push((a.port(), slot)),
        }
    }
    fn remove(&mut self, a: &Addr) {
        let Some(h) = self.hosts.get_mut(Self::host(a.ip())) else { return };
        match h.first {
            Some((p, _)) if p == a.port() => h.first = h.more.pop(),
            _ => h.more.retain(|(p, _)| *p != a.port()),
        }
    }
}

/// A process's armed timers with their generations. Daemons arm two or three, so the first
/// few sit inline in the process record and firing a timer chases no pointer; a generation of
/// 0 (never issued) marks a free inline entry.
#[derive(Default)]
struct Timers {
    inline: [(TimerId, u64); 3],
    more: Vec<(TimerId, u64)>,
}

impl Timers {
    fn get(&self, id: &TimerId) -> Option<&u64> {
        self.inline.iter().chain(&self.more).find(|(t, g)| *g != 0 && t == id).map(|(_, g)| g)
    }
    fn insert(&mut self, id: TimerId, gen: u64) {
        debug_assert!(gen != 0, "generations start at 1");
        if let Some(e) = self.inline.iter_mut().chain(&mut self.more).find(|(t, g)| *g != 0 && *t == id) {
            e.1 = gen;
        } else if let Some(e) = self.inline.iter_mut().find(|(_, g)| *g == 0) {
            *e = (id, gen);
        } else {
            self.more.push((id, gen));
        }
    }
    fn remove(&mut self, id: &TimerId) {
        for e in self.inline.iter_mut().filter(|(t, g)| *g != 0 && t == id) {
            e.1 = 0;
        }
        self.more.retain(|(t, _)| t != id);
    }
}

struct Proc {
    addr: Addr,
    node: Option<Box<dyn Node>>,
    /// Boxed: a ChaCha state is ~300 bytes that every event would otherwise skip over to
    /// reach the fields it reads.
    rng: Box<Rng>,
    timers: Timers,
    timer_gen: u64,
    stopped: bool,
    parked: Vec<Event>,
    /// (parent slot, the parent's handle for this process)
    parent: Option<(usize, ProcId)>,
    children: BTreeMap<ProcId, usize>,
    stdout: Option<String>,
    os_pid: u32,
}

struct Machine {
    up: bool,
    next_port: u16,
    procs: Vec<usize>,
}

/// A whole cluster in one thread.
pub struct Sim {
    now: Time,
    seq: u64,
    queue: EventQueue<Event>,
    procs: Vec<Option<Proc>>,
    by_addr: AddrIndex,
    machines: BTreeMap<Ipv4Addr, Machine>,
    pub net: NetModel,
    net_rng: Rng,
    seed: u64,
    registry: Registry,
    store: MemStore,
    /// Files processes wrote on their machines' local disks (container logs).
    local_files: BTreeMap<(Ipv4Addr, String), Vec<u8>>,
    trace: Trace,
    config: SimConfig,
    effects: Vec<Effect>,
    /// Resident memory each process reports to its NodeManager's monitor, by slot.
    rss: Vec<u64>,
    events: u64,
}

struct SimSys<'a> {
    host: Ipv4Addr,
    local: &'a mut BTreeMap<(Ipv4Addr, String), Vec<u8>>,
    store: &'a mut MemStore,
    rss: &'a [u64],
    children: &'a BTreeMap<ProcId, usize>,
    out: &'a mut Vec<u8>,
}

impl Sys for SimSys<'_> {
    fn store(&mut self) -> &mut dyn Store {
        self.store
    }
    fn usage(&mut self, pid: ProcId) -> Option<ProcUsage> {
        let slot = *self.children.get(&pid)?;
        let (os_pid, rss) = (os_pid(slot), *self.rss.get(slot)?);
        Some(ProcUsage {
            os_pid,
            rss_bytes: rss,
            vmem_bytes: rss,
            tree_dump: vec![format!("|- {os_pid} 1 {os_pid} {os_pid} sim 0 0 {rss} {} sim", rss / 4096)],
        })
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.extend_from_slice(bytes);
    }
    fn local_write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.local.insert((self.host, path.to_string()), data.to_vec());
        Ok(())
    }
    fn local_read(&mut self, path: &str) -> Option<Vec<u8>> {
        self.local.get(&(self.host, path.to_string())).cloned()
    }
    fn local_list(&mut self, dir: &str) -> Vec<String> {
        let prefix = format!("{}/", dir.trim_end_matches('/'));
        self.local
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
        let host = self.host;
        self.local.retain(|(h, p), _| *h != host || (p != path && !p.starts_with(&prefix)));
    }
}

impl Sim {
    pub fn new(config: SimConfig) -> Sim {
        Sim::with_trace(config, Trace::new())
    }

    pub fn with_trace(config: SimConfig, trace: Trace) -> Sim {
        let seed = config.seed;
        Sim {
            now: EPOCH,
            seq: 0,
            queue: EventQueue::default(),
            procs: Vec::new(),
            by_addr: AddrIndex::default(),
            machines: BTreeMap::new(),
            net: config.net.clone(),
            net_rng: Rng::seed_from_u64(seed ^ 0x6e65_7477_6f72_6b00),
            seed,
            registry: Registry::default(),
            store: MemStore::default(),
            local_files: BTreeMap::new(),
            trace,
            config,
            effects: Vec::new(),
            rss: Vec::new(),
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
        &mut self.trace
    }
    pub fn trace_hash(&self) -> u64 {
        self.trace.hash()
    }
    /// Events processed so far.
    pub fn events(&self) -> u64 {
        self.events
    }
    pub fn store(&mut self) -> &mut MemStore {
        &mut self.store
    }
    pub fn local_file(&self, host: Ipv4Addr, path: &str) -> Option<&[u8]> {
        self.local_files.get(&(host, path.to_string())).map(|v| v.as_slice())
    }
    pub fn local_files_under(&self, host: Ipv4Addr, dir: &str) -> Vec<(String, &[u8])> {
        self.local_files
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
        self.procs.push(Some(Proc {
            addr,
            node: Some(node),
            rng: Box::new(rng),
            timers: Timers::default(),
            timer_gen: 0,
            stopped: false,
            parked: Vec::new(),
            parent,
            children: BTreeMap::new(),
            stdout: None,
            os_pid: os_pid(slot),
        }));
        self.rss.push(0);
        self.by_addr.insert(addr, slot);
        if let Some(m) = self.machines.get_mut(addr.ip()) {
            m.procs.push(slot);
        }
        slot
    }

    fn schedule(&mut self, at: Time, ev: Event) {
        self.seq += 1;
        self.queue.push(at.as_micros(), self.seq, ev);
    }

    /// Runs `f` against the simulation at virtual time `at` (a scenario step, a fault).
    pub fn at(&mut self, at: Time, f: impl FnOnce(&mut Sim) + Send + 'static) {
        self.schedule(at.max(self.now), Event::Call(Box::new(f)));
    }

    /// True while the process at `addr` exists.
    pub fn alive(&self, addr: Addr) -> bool {
        self.by_addr.contains_key(&addr)
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
        let slot = self.by_addr.get(&addr)?;
        self.procs[slot].as_mut()?.node.as_mut()?.as_any().downcast_mut::<N>()
    }

    /// Runs `f` on a node with a context, as a client call does, and applies its effects.
    pub fn with_node<N: Node, R>(&mut self, addr: Addr, f: impl FnOnce(&mut N, &mut Cx) -> R) -> Option<R> {
        let slot = self.by_addr.get(&addr)?;
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
        let Some((at, ev)) = self.queue.pop() else { return false };
        self.now = Time(at);
        self.events += 1;
        self.handle(ev);
        true
    }

    /// Runs every event up to and including `until`, then sets the clock to `until`.
    pub fn run_until(&mut self, until: Time) {
        while let Some(at) = self.queue.peek_time() {
            if Time(at) > until {
                break;
            }
            self.step();
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
            match self.queue.peek_time() {
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

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Start { slot } => {
                let Some(p) = self.procs.get(slot).and_then(|p| p.as_ref()) else { return };
                self.trace.step(self.now, b's', p.addr, p.addr, "start");
                self.dispatch(slot, |n, cx| n.on_start(cx));
            }
            Event::Deliver { from, to, msg } => {
                let Some(slot) = self.by_addr.get(&to) else {
                    self.trace.step(self.now, b'x', from, to, msg.kind());
                    return;
                };
                let p = self.procs[slot].as_mut().expect("indexed processes exist");
                if p.stopped {
                    p.parked.push(Event::Deliver { from, to, msg });
                    return;
                }
                self.trace.step(self.now, b'm', from, to, msg.kind());
                self.dispatch(slot, move |n, cx| n.on_message(cx, from, msg));
            }
            Event::Timer { slot, id, gen } => {
                let Some(p) = self.procs.get_mut(slot).and_then(|p| p.as_mut()) else { return };
                if p.timers.get(&id) != Some(&gen) {
                    return;
                }
                if p.stopped {
                    p.parked.push(Event::Timer { slot, id, gen });
                    return;
                }
                p.timers.remove(&id);
                let addr = p.addr;
                self.trace.step(self.now, b't', addr, addr, "timer");
                self.dispatch(slot, |n, cx| n.on_timer(cx, id));
            }
            Event::Exited { parent, pid, code } => {
                let Some(p) = self.procs.get_mut(parent).and_then(|p| p.as_mut()) else { return };
                if p.stopped {
                    p.parked.push(Event::Exited { parent, pid, code });
                    return;
                }
                let addr = p.addr;
                self.trace.step(self.now, b'q', addr, addr, "exit");
                self.dispatch(parent, |n, cx| n.on_process_exit(cx, pid, code));
            }
            Event::Call(f) => f(self),
        }
    }

    fn dispatch(&mut self, slot: usize, f: impl FnOnce(&mut dyn Node, &mut Cx)) {
        let Some(p) = self.procs[slot].as_mut() else { return };
        let Some(mut node) = p.node.take() else { return };
        let addr = p.addr;
        let mut effects = std::mem::take(&mut self.effects);
        let mut out = Vec::new();
        {
            let Proc { rng, children, .. } = p;
            let mut sys =
                SimSys { host: *addr.ip(), local: &mut self.local_files, store: &mut self.store, rss: &self.rss, children, out: &mut out };
            let mut cx = Cx::new(self.now, addr, rng, &mut effects, &mut sys);
            f(&mut *node, &mut cx);
        }
        let p = self.procs[slot].as_mut().expect("a dispatched process is not removed during dispatch");
        p.node = Some(node);
        if !out.is_empty() {
            let path = p.stdout.clone().unwrap_or_else(|| format!("/proc/{}/stdout", p.os_pid));
            self.local_files.entry((*addr.ip(), path)).or_default().extend_from_slice(&out);
        }
        for e in effects.drain(..) {
            self.apply(slot, addr, e);
        }
        self.effects = effects;
    }

    fn apply(&mut self, slot: usize, addr: Addr, e: Effect) {
        match e {
            Effect::Send { to, msg } => match self.net.delay(&mut self.net_rng, *addr.ip(), *to.ip()) {
                Some(d) => self.schedule(self.now + d, Event::Deliver { from: addr, to, msg }),
                None => self.trace.step(self.now, b'l', addr, to, msg.kind()),
            },
            Effect::SetTimer { id, at } => {
                let Some(p) = self.procs[slot].as_mut() else { return };
                p.timer_gen += 1;
                let gen = p.timer_gen;
                p.timers.insert(id, gen);
                self.schedule(at.max(self.now), Event::Timer { slot, id, gen });
            }
            Effect::CancelTimer { id } => {
                if let Some(p) = self.procs[slot].as_mut() {
                    p.timers.remove(&id);
                }
            }
            Effect::Launch(spec) => self.launch(slot, addr, spec),
            Effect::Signal { pid, signal } => {
                let child = self.procs[slot].as_ref().and_then(|p| p.children.get(&pid).copied());
                if let Some(child) = child {
                    self.signal_slot(child, signal);
                }
            }
            Effect::Exit { code } => self.end_process(slot, code),
            Effect::Trace { kind, detail } => self.trace.event(self.now, addr, kind, &detail),
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
                self.procs[child].as_mut().expect("just created").stdout = Some(stdout);
                self.procs[parent].as_mut().expect("parent is dispatching").children.insert(pid, child);
                let at = self.now + self.config.process_start;
                self.schedule(at, Event::Start { slot: child });
            }
            Err(e) => {
                let path = spec.stderr.clone();
                self.local_files.entry((host, path)).or_default().extend_from_slice(format!("{e}\n").as_bytes());
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
                p.stopped = false;
                let parked = std::mem::take(&mut p.parked);
                let now = self.now;
                for ev in parked {
                    self.schedule(now, ev);
                }
            }
            // A stopped process keeps SIGTERM pending; SIGKILL always ends it.
            Signal::Term if p.stopped => {}
            Signal::Term | Signal::Kill => self.end_process(slot, 128 + signal.number()),
        }
    }

    /// Ends a process: its own children go with it (as containers die with their NM), its
    /// parent is told the exit code.
    fn end_process(&mut self, slot: usize, code: ExitCode) {
        let Some(p) = self.procs[slot].take() else { return };
        self.by_addr.remove(&p.addr);
        self.trace.step(self.now, b'd', p.addr, p.addr, "end");
        for (_, c) in p.children {
            self.remove_silently(c);
        }
        if let Some((parent, pid)) = p.parent {
            if self.procs[parent].is_some() {
                self.schedule(self.now, Event::Exited { parent, pid, code });
            }
        }
    }

    fn remove_silently(&mut self, slot: usize) {
        if let Some(p) = self.procs[slot].take() {
            self.by_addr.remove(&p.addr);
            for (_, c) in p.children {
                self.remove_silently(c);
            }
        }
    }

    /// Sends a signal to the process at `addr` from outside (a scenario's `kill -9`).
    pub fn signal(&mut self, addr: Addr, signal: Signal) -> bool {
        match self.by_addr.get(&addr) {
            Some(slot) => {
                self.signal_slot(slot, signal);
                true
            }
            None => false,
        }
    }

    /// Sets the resident memory a process reports to its NodeManager's monitor.
    pub fn set_rss(&mut self, addr: Addr, bytes: u64) {
        if let Some(slot) = self.by_addr.get(&addr) {
            if self.procs[slot].is_some() {
                self.rss[slot] = bytes;
            }
        }
    }

    /// The machine is gone: every process on it stops at once, nobody is told.
    pub fn kill_machine(&mut self, host: Ipv4Addr) {
        let slots = match self.machines.get_mut(&host) {
            Some(m) => {
                m.up = false;
                std::mem::take(&mut m.procs)
            }
            None => return,
        };
        for s in slots {
            self.remove_silently(s);
        }
        self.trace.event(self.now, SocketAddrV4::new(host, 0), "machine.lost", "");
    }

    pub fn machine_up(&self, host: Ipv4Addr) -> bool {
        self.machines.get(&host).map(|m| m.up).unwrap_or(false)
    }

    /// Brings a lost machine back, empty.
    pub fn restart_machine(&mut self, host: Ipv4Addr) {
        if let Some(m) = self.machines.get_mut(&host) {
            m.up = true;
        }
    }
}

#[cfg(test)]
mod tests;
