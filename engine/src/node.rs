//! The node contract: inputs in (`on_*`), effects out (recorded on [`Cx`]).

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::msg::{Msg, Wire};
use crate::sim::SimOutbox;
use crate::store::Store;
use crate::time::Time;
use crate::Rng;

/// Where a node listens: an IPv4 address and a port. Live nodes are all on 127.0.0.1 with
/// distinct ports; sim machines get distinct 127.x.y.z addresses (never routed anywhere).
pub type Addr = std::net::SocketAddrV4;

/// A timer's name, chosen by the node. Setting a timer that is already set re-arms it.
pub type TimerId = u64;

/// A process handle chosen by the node that launches it (the NodeManager).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Debug, Serialize, Deserialize)]
pub struct ProcId(pub u64);

/// A process exit code as a shell reports it: the exit status, or 128 + signal number.
pub type ExitCode = i32;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub enum Signal {
    Term,
    Kill,
    Stop,
    Cont,
}

impl Signal {
    pub fn number(self) -> i32 {
        match self {
            Signal::Term => 15,
            Signal::Kill => 9,
            Signal::Stop => 19,
            Signal::Cont => 18,
        }
    }
}

/// What to start: a shell command line with its environment and working directory.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LaunchSpec {
    pub pid: ProcId,
    /// A shell command line, run as `bash -c` in live. In the sim its first word names a
    /// registered program (or the built-in shell handles it).
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub work_dir: String,
    /// Files the process's stdout and stderr go to (the command may redirect further).
    pub stdout: String,
    pub stderr: String,
    /// Set by a NodeManager with recovery on: the process must outlive its launcher (no
    /// parent-death signal) and record itself as YARN's container executor script does —
    /// its pid in `pid_file` when it starts, its exit code in `exit_code_file` when it ends
    /// — so a restarted launcher can [`Cx::reacquire`] it.
    #[serde(default)]
    pub recovery: Option<RecoveryFiles>,
    /// Live: the script the process runs (`/bin/bash <script>`, YARN's launch_container.sh,
    /// which ends by exec'ing `command`) instead of `command` itself. The sim runs `command`
    /// with `env` and ignores the script: its programs are nodes, not shells.
    #[serde(default)]
    pub script: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryFiles {
    pub pid_file: String,
    pub exit_code_file: String,
}

/// The exit code a driver reports for a reacquired process that ended without leaving an
/// exit code file (killed with its whole group, or the file was lost): YARN's
/// `ContainerExecutor.ExitCode.LOST`.
pub const EXIT_CODE_LOST: ExitCode = 154;

/// Resource use of a launched process tree, as the NodeManager's monitor reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ProcUsage {
    /// The root process id as the OS (or the sim) numbers it.
    pub os_pid: u32,
    pub rss_bytes: u64,
    pub vmem_bytes: u64,
    /// One line per process in the tree, YARN's process-tree dump columns.
    pub tree_dump: Vec<String>,
}

/// What `stat` says about a path on the machine's local disk (symbolic links followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStat {
    pub is_dir: bool,
    pub len: u64,
    /// Modification time in milliseconds since the epoch (truncated), as Java's
    /// `FileStatus.getModificationTime` reports it for a local file. The sim's files have none
    /// and report 0.
    pub mtime_ms: i64,
    /// Permission bits (`st_mode & 0o7777`).
    pub mode: u32,
}

/// How a [`LocalCopy`] lands at its destination.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CopyKind {
    /// A byte copy of one file to `dest`.
    File,
    /// A zip archive unpacked into the directory `dest`.
    Zip,
    /// A jar unpacked into the directory `dest`, with the jar itself kept as
    /// `dest/<its file name>` (Hadoop's `RunJar.unJarAndSave`).
    Jar,
    /// A tar archive (`Tar`) or a gzipped one (`TarGz`) unpacked into the directory `dest`.
    Tar,
    TarGz,
}

/// A copy between two paths of the machine's local disk that the driver carries out without
/// holding the node (a localized jar may be hundreds of MB); its outcome comes back as
/// [`Node::on_local_copy_done`] with the same `id`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LocalCopy {
    pub id: u64,
    pub src: String,
    pub dest: String,
    pub kind: CopyKind,
    /// Permission bits every copied or unpacked file gets (live only).
    pub file_mode: u32,
    /// Permission bits every created directory gets, `dest` included for archives (live only).
    pub dir_mode: u32,
}

/// A file written to the shared store without holding the node: Flink's asynchronous part of
/// a checkpoint. `produce` makes the bytes (a state file's serialization runs there too), the
/// driver writes them to `path`, and the outcome comes back as [`Node::on_store_written`] with
/// the same `id`. Live, both run on a blocking thread while the node goes on with its inputs;
/// the sim runs them at once, through the store's faults, and reports at the same instant.
pub struct StoreWrite {
    pub id: u64,
    pub path: String,
    /// The file's bytes, in parts written one after the other (see [`Store::write_parts`]).
    pub produce: Box<dyn FnOnce() -> Vec<Vec<u8>> + Send>,
}

impl fmt::Debug for StoreWrite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreWrite").field("id", &self.id).field("path", &self.path).finish_non_exhaustive()
    }
}

impl StoreWrite {
    /// Makes the bytes and writes them: the written length, or why it failed.
    pub fn run(self, store: &mut dyn Store) -> Result<u64, String> {
        let parts = (self.produce)();
        let refs: Vec<&[u8]> = parts.iter().map(Vec::as_slice).collect();
        let len = refs.iter().map(|p| p.len() as u64).sum();
        store.write_parts(&self.path, &refs).map(|()| len).map_err(|e| e.to_string())
    }
}

/// An effect a node asked for; drivers carry them out after the input handler returns (the
/// sim carries out sends and timers as they are made, in the same order: see `Cx`'s outbox).
#[derive(Debug)]
pub enum Effect {
    Send {
        to: Addr,
        msg: Msg,
    },
    SetTimer {
        id: TimerId,
        at: Time,
    },
    /// A timer on the millisecond tick ([`Cx::set_tick_timer`]): `at` is a whole millisecond.
    /// The sim fires every tick timer due in one millisecond from one event.
    SetTickTimer {
        id: TimerId,
        at: Time,
    },
    CancelTimer {
        id: TimerId,
    },
    /// Boxed: a spec is ~180 bytes, and every effect (a heartbeat's send, its timer) is moved
    /// at that size twice when it sits inline.
    Launch(Box<LaunchSpec>),
    Signal {
        pid: ProcId,
        signal: Signal,
    },
    /// Take over a process a previous incarnation of this node launched (OS pid `os_pid`,
    /// read from its pid file): signals reach its group and its end arrives as
    /// `on_process_exit` with the code from `exit_code_file` (or [`EXIT_CODE_LOST`]).
    Reacquire {
        pid: ProcId,
        os_pid: u32,
        exit_code_file: String,
    },
    Exit {
        code: ExitCode,
    },
    LocalCopy(LocalCopy),
    StoreWrite(StoreWrite),
    Trace {
        kind: &'static str,
        detail: String,
    },
}

/// Synchronous services a driver lends a node during one input: the shared store and process
/// statistics. Both are deterministic in the sim.
pub trait Sys {
    fn store(&mut self) -> &mut dyn Store;
    fn usage(&mut self, pid: ProcId) -> Option<ProcUsage>;
    /// Bytes a node writes to its own stdout (the container's log in both drivers).
    fn stdout(&mut self, bytes: &[u8]);
    /// The machine's local disk (container working and log dirs). Paths are absolute.
    fn local_write(&mut self, path: &str, data: &[u8]) -> Result<(), String>;
    fn local_read(&mut self, path: &str) -> Option<Vec<u8>>;
    /// Files (not dirs) under `dir`, recursively, sorted, as absolute paths.
    fn local_list(&mut self, dir: &str) -> Vec<String>;
    fn local_mkdir(&mut self, dir: &str) -> Result<(), String>;
    fn local_remove(&mut self, path: &str);
    /// `stat` of a local path; None if it does not exist.
    fn local_stat(&mut self, path: &str) -> Option<LocalStat>;
}

/// The context of one input: the time, the node's own address and RNG, and the effect list.
pub struct Cx<'a> {
    now: Time,
    me: Addr,
    rng: &'a mut Rng,
    effects: &'a mut Vec<Effect>,
    sys: &'a mut dyn Sys,
    /// The sim's: it carries out sends and timers as the handler makes them, rather than
    /// after it returns (each of a heartbeat's three effects was written to the list, read
    /// back and matched: ~5 % of a heartbeat's instructions in the release build). Only while
    /// the effect list is empty: once one effect waits there, every later one of that input
    /// waits too, so effects are carried out in the order they were asked for either way,
    /// and a run is the same with an outbox or without.
    outbox: Option<&'a mut SimOutbox<'a>>,
}

impl<'a> Cx<'a> {
    /// Drivers build one per input.
    pub fn new(now: Time, me: Addr, rng: &'a mut Rng, effects: &'a mut Vec<Effect>, sys: &'a mut dyn Sys) -> Self {
        Cx::with_outbox(now, me, rng, effects, sys, None)
    }
    /// [`Cx::new`] with the sim's outbox (if any), which takes sends and timers as they are
    /// made.
    pub(crate) fn with_outbox(
        now: Time,
        me: Addr,
        rng: &'a mut Rng,
        effects: &'a mut Vec<Effect>,
        sys: &'a mut dyn Sys,
        outbox: Option<&'a mut SimOutbox<'a>>,
    ) -> Self {
        Cx { now, me, rng, effects, sys, outbox }
    }
    /// The outbox, if there is one and no effect waits in the list before this one.
    #[inline(always)]
    fn outbox(&mut self) -> Option<&mut SimOutbox<'a>> {
        match &mut self.outbox {
            Some(o) if self.effects.is_empty() => Some(&mut **o),
            _ => None,
        }
    }
    pub fn now(&self) -> Time {
        self.now
    }
    pub fn me(&self) -> Addr {
        self.me
    }
    pub fn rng(&mut self) -> &mut Rng {
        self.rng
    }
    /// 32 lowercase hex digits from the node's RNG: Flink-style ids.
    pub fn random_hex32(&mut self) -> String {
        let v: u128 = self.rng.random();
        format!("{v:032x}")
    }
    pub fn send<M: Wire>(&mut self, to: Addr, msg: M) {
        let msg = Msg::new(msg);
        match self.outbox() {
            Some(o) => o.send(to, msg),
            None => self.effects.push(Effect::Send { to, msg }),
        }
    }
    pub fn set_timer(&mut self, after: Duration, id: TimerId) {
        let at = self.now + after;
        match self.outbox() {
            Some(o) => o.set_timer(id, at, false),
            None => self.effects.push(Effect::SetTimer { id, at }),
        }
    }
    /// A periodic daemon timer whose microsecond does not matter (a NodeManager's heartbeat):
    /// it fires at the first whole millisecond at or after `after` from now, the granularity
    /// of the JVM timers the real daemons sleep on. Same id space as [`Cx::set_timer`]: it
    /// replaces an armed timer of that id, and [`Cx::cancel_timer`] cancels it. The sim fires
    /// every tick timer due in one millisecond from one event, in process order, so a
    /// heartbeat burst of 10,000 NodeManagers costs one queue entry per millisecond, not one
    /// per node, and walks the nodes' memory in order.
    pub fn set_tick_timer(&mut self, after: Duration, id: TimerId) {
        let at = (self.now + after).ceil_millis();
        match self.outbox() {
            Some(o) => o.set_timer(id, at, true),
            None => self.effects.push(Effect::SetTickTimer { id, at }),
        }
    }
    pub fn cancel_timer(&mut self, id: TimerId) {
        match self.outbox() {
            Some(o) => o.cancel_timer(id),
            None => self.effects.push(Effect::CancelTimer { id }),
        }
    }
    pub fn launch(&mut self, spec: LaunchSpec) {
        self.effects.push(Effect::Launch(Box::new(spec)));
    }
    pub fn signal(&mut self, pid: ProcId, signal: Signal) {
        self.effects.push(Effect::Signal { pid, signal });
    }
    pub fn reacquire(&mut self, pid: ProcId, os_pid: u32, exit_code_file: &str) {
        self.effects.push(Effect::Reacquire { pid, os_pid, exit_code_file: exit_code_file.to_string() });
    }
    /// Starts a [`LocalCopy`]; the driver reports its end to [`Node::on_local_copy_done`].
    pub fn local_copy(&mut self, copy: LocalCopy) {
        self.effects.push(Effect::LocalCopy(copy));
    }
    /// Starts a [`StoreWrite`]; the driver reports its end to [`Node::on_store_written`].
    pub fn store_write(&mut self, id: u64, path: String, produce: impl FnOnce() -> Vec<Vec<u8>> + Send + 'static) {
        self.effects.push(Effect::StoreWrite(StoreWrite { id, path, produce: Box::new(produce) }));
    }
    pub fn exit(&mut self, code: ExitCode) {
        self.effects.push(Effect::Exit { code });
    }
    /// Records an event in the run's trace (and its hash).
    pub fn trace(&mut self, kind: &'static str, detail: impl fmt::Display) {
        self.effects.push(Effect::Trace { kind, detail: detail.to_string() });
    }
    pub fn store(&mut self) -> &mut dyn Store {
        self.sys.store()
    }
    pub fn usage(&mut self, pid: ProcId) -> Option<ProcUsage> {
        self.sys.usage(pid)
    }
    pub fn local_write(&mut self, path: &str, data: &[u8]) -> Result<(), String> {
        self.sys.local_write(path, data)
    }
    pub fn local_read(&mut self, path: &str) -> Option<Vec<u8>> {
        self.sys.local_read(path)
    }
    pub fn local_list(&mut self, dir: &str) -> Vec<String> {
        self.sys.local_list(dir)
    }
    pub fn local_mkdir(&mut self, dir: &str) -> Result<(), String> {
        self.sys.local_mkdir(dir)
    }
    pub fn local_remove(&mut self, path: &str) {
        self.sys.local_remove(path)
    }
    pub fn local_stat(&mut self, path: &str) -> Option<LocalStat> {
        self.sys.local_stat(path)
    }
    /// Writes to this node's stdout (its container log).
    pub fn print(&mut self, line: &str) {
        self.sys.stdout(line.as_bytes());
        self.sys.stdout(b"\n");
    }
}

/// A component: a deterministic state machine driven by its inputs.
pub trait Node: Any + Send {
    fn on_start(&mut self, cx: &mut Cx);
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg);
    fn on_timer(&mut self, cx: &mut Cx, timer: TimerId);
    /// A process this node launched has exited (NodeManagers only).
    fn on_process_exit(&mut self, _cx: &mut Cx, _pid: ProcId, _code: ExitCode) {}
    /// A [`LocalCopy`] this node started has ended: `Err` carries why it failed.
    fn on_local_copy_done(&mut self, _cx: &mut Cx, _id: u64, _result: Result<(), String>) {}
    /// A [`StoreWrite`] this node started has ended: the bytes written, or why it failed.
    fn on_store_written(&mut self, _cx: &mut Cx, _id: u64, _result: Result<u64, String>) {}
    fn as_any(&mut self) -> &mut dyn Any;
    /// A hint from the sim: `msg` will be delivered to this node a few events from now. A node
    /// whose handling is bound by memory latency (the ResourceManager's node table, at
    /// 10,000 NodeManagers) may start loading what it will touch with [`crate::prefetch`].
    /// It comes twice, some events apart: `stage` 0, then 1 (so a lookup can first load where
    /// its entry is, then, that being cached, what the entry leads to). It must change
    /// nothing: the run is the same with or without it.
    fn prefetch_message(&self, _msg: &Msg, _stage: u8) {}
    /// Whether [`Node::prefetch_message`] does anything: asked once, when the process starts,
    /// so the sim makes no call (two per delivery) to the many nodes that take no hints.
    fn takes_prefetch_hints(&self) -> bool {
        false
    }
}

/// A [`Sys`] for unit tests that drive a node's handlers directly: the shared store in memory,
/// stdout captured in `out`, no local disk and no processes.
#[derive(Default)]
pub struct MemSys {
    pub store: crate::store::MemStore,
    pub out: String,
}

impl Sys for MemSys {
    fn store(&mut self) -> &mut dyn Store {
        &mut self.store
    }
    fn usage(&mut self, _pid: ProcId) -> Option<ProcUsage> {
        None
    }
    fn stdout(&mut self, bytes: &[u8]) {
        self.out.push_str(&String::from_utf8_lossy(bytes));
    }
    fn local_write(&mut self, _path: &str, _data: &[u8]) -> Result<(), String> {
        Ok(())
    }
    fn local_read(&mut self, _path: &str) -> Option<Vec<u8>> {
        None
    }
    fn local_list(&mut self, _dir: &str) -> Vec<String> {
        Vec::new()
    }
    fn local_mkdir(&mut self, _dir: &str) -> Result<(), String> {
        Ok(())
    }
    fn local_remove(&mut self, _path: &str) {}
    fn local_stat(&mut self, _path: &str) -> Option<LocalStat> {
        None
    }
}
