//! Faults: one enum of named verbs that both drivers apply and trace (DESIGN.md §9).
//!
//! A scenario says *what* breaks ([`Fault`]); a driver says *how*: the sim changes its model
//! (`Sim::apply`), the live driver sends real signals and sets rules in its transport's fault
//! layer. The rule books that are the same in both, [`NetFaults`] (which messages a link
//! cuts, drops, delays or holds) and [`StoreFaults`] (which store paths fail), live here so
//! both drivers decide alike.
//!
//! Semantics, stated once for both drivers:
//! - `Kill` is SIGKILL: the process ends at once, even when stopped; its parent (the
//!   NodeManager) sees exit code 137.
//! - `Terminate` is SIGTERM. Our daemons handle it (as the JVM's shutdown hooks do), so while a
//!   process is stopped it stays pending, as Linux keeps a handled signal pending for a stopped
//!   process, and takes effect on `Continue` (exit code 143).
//! - `Stop` is SIGSTOP: the process runs nothing. Messages sent to it queue in its socket and
//!   its timers that come due wait; on `Continue` (SIGCONT) a pending SIGTERM ends it first,
//!   otherwise the waiting timers fire and the queued messages are delivered, in arrival order,
//!   before anything newer.
//! - `MachineLoss`: every process on the host vanishes and nobody is told (no exit codes);
//!   messages to it are lost. `MachineRestart` brings the host back with its boot daemons
//!   (the NodeManager), empty of containers, as a rebooted machine (a host that is up reboots:
//!   it loses everything first).
//! - Links are directed, from a sender to a receiver; an [`Endpoint`] is a host, one process,
//!   or any. `Partition` cuts (messages on a cut link are lost, as a send over a broken
//!   connection fails); `Hold` keeps every message that reaches the link's end until
//!   `Release`, then delivers them in order; `Clog` adds delay (the link stays FIFO, so later
//!   messages queue behind); `DropMessages` loses matching messages by count or probability.
//! - `StoreFault` makes writes under a path prefix of the shared store fail (EIO, or ENOSPC
//!   for `Full`) until `ClearStoreFault`; reads keep working.

use std::fmt;
use std::net::Ipv4Addr;
use std::time::Duration;

use rand::Rng as _;
use serde::{Deserialize, Serialize};

use crate::node::Addr;
use crate::store::{check_path, Store, StoreError};
use crate::Rng;

/// One end of a link: a whole host, one process (host and port), or anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Endpoint {
    Any,
    Host(Ipv4Addr),
    Process(Addr),
}

impl Endpoint {
    pub fn matches(&self, a: Addr) -> bool {
        match self {
            Endpoint::Any => true,
            Endpoint::Host(h) => a.ip() == h,
            Endpoint::Process(p) => *p == a,
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Any => write!(f, "*"),
            Endpoint::Host(h) => write!(f, "{h}"),
            Endpoint::Process(p) => write!(f, "{p}"),
        }
    }
}

/// A directed link: messages sent by `from` to `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Link {
    pub from: Endpoint,
    pub to: Endpoint,
}

impl Link {
    pub fn new(from: Endpoint, to: Endpoint) -> Link {
        Link { from, to }
    }
    /// Every message from host `a` to host `b`.
    pub fn hosts(a: Ipv4Addr, b: Ipv4Addr) -> Link {
        Link { from: Endpoint::Host(a), to: Endpoint::Host(b) }
    }
    pub fn reversed(self) -> Link {
        Link { from: self.to, to: self.from }
    }
    pub fn matches(&self, from: Addr, to: Addr) -> bool {
        self.from.matches(from) && self.to.matches(to)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} -> {}", self.from, self.to)
    }
}

/// Which messages `DropMessages` loses.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DropRule {
    pub link: Link,
    /// Only messages of this protocol family (`Wire::FAMILY`), if set.
    #[serde(default)]
    pub family: Option<String>,
    /// Only messages of this kind (`Wire::kind`, e.g. "NodeHeartbeat"), if set.
    #[serde(default)]
    pub kind: Option<String>,
    /// Lose at most this many matching messages, then the rule ends; `None`: until healed.
    #[serde(default)]
    pub count: Option<u64>,
    /// Each matching message is lost with this probability (1.0: every one).
    #[serde(default = "one")]
    pub probability: f64,
}

fn one() -> f64 {
    1.0
}

impl DropRule {
    /// Every message on `link`, until healed.
    pub fn all(link: Link) -> DropRule {
        DropRule { link, family: None, kind: None, count: None, probability: 1.0 }
    }
    /// Messages of one kind on `link`.
    pub fn kind(link: Link, kind: &str) -> DropRule {
        DropRule { kind: Some(kind.to_string()), ..DropRule::all(link) }
    }
    fn matches(&self, from: Addr, to: Addr, family: &str, kind: &str) -> bool {
        self.link.matches(from, to) && self.family.as_deref().is_none_or(|f| f == family) && self.kind.as_deref().is_none_or(|k| k == kind)
    }
}

/// How the shared store fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoreFaultKind {
    /// Writes, renames and deletes fail with EIO.
    Io,
    /// The disk is full: writes fail with ENOSPC (renames and deletes need no space).
    Full,
}

/// A named fault. `Display` is the line the trace and the scenario runner print.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fault", rename_all = "kebab-case")]
pub enum Fault {
    /// SIGKILL to the process at this address.
    Kill { process: Addr },
    /// SIGTERM (pending while the process is stopped).
    Terminate { process: Addr },
    /// SIGSTOP.
    Stop { process: Addr },
    /// SIGCONT: pending signals, then waiting timers and queued messages.
    Continue { process: Addr },
    /// The host vanishes with every process on it.
    MachineLoss { host: Ipv4Addr },
    /// A lost host comes back and starts its boot daemons.
    MachineRestart { host: Ipv4Addr },
    /// Cuts `a -> b`, and `b -> a` unless `one_way`.
    Partition { a: Endpoint, b: Endpoint, one_way: bool },
    /// Removes partitions, clogs and drop rules between `a` and `b`, both ways.
    Heal { a: Endpoint, b: Endpoint },
    /// Removes every network fault and releases every held message.
    HealAll,
    /// Keeps messages arriving over `link` until released.
    Hold { link: Link },
    /// Delivers what `Hold` kept on `link`, in order, and stops holding.
    Release { link: Link },
    /// Adds `delay_ms` to every message on `link` (the link stays FIFO).
    Clog { link: Link, delay_ms: u64 },
    /// Ends a clog on `link`.
    Unclog { link: Link },
    /// Loses messages by family/kind on a link, by count or probability.
    DropMessages(DropRule),
    /// Store writes under `prefix` fail ("" is the whole store).
    StoreFault { prefix: String, kind: StoreFaultKind },
    /// Ends the store faults on `prefix`.
    ClearStoreFault { prefix: String },
}

impl Fault {
    /// The verb, as the trace's event kind (`fault.kill`, `fault.partition`, ...).
    pub fn verb(&self) -> &'static str {
        match self {
            Fault::Kill { .. } => "fault.kill",
            Fault::Terminate { .. } => "fault.terminate",
            Fault::Stop { .. } => "fault.stop",
            Fault::Continue { .. } => "fault.continue",
            Fault::MachineLoss { .. } => "fault.machine-loss",
            Fault::MachineRestart { .. } => "fault.machine-restart",
            Fault::Partition { .. } => "fault.partition",
            Fault::Heal { .. } => "fault.heal",
            Fault::HealAll => "fault.heal-all",
            Fault::Hold { .. } => "fault.hold",
            Fault::Release { .. } => "fault.release",
            Fault::Clog { .. } => "fault.clog",
            Fault::Unclog { .. } => "fault.unclog",
            Fault::DropMessages(_) => "fault.drop-messages",
            Fault::StoreFault { .. } => "fault.store",
            Fault::ClearStoreFault { .. } => "fault.store-clear",
        }
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Fault::Kill { process } => write!(f, "kill -9 {process}"),
            Fault::Terminate { process } => write!(f, "kill -TERM {process}"),
            Fault::Stop { process } => write!(f, "kill -STOP {process}"),
            Fault::Continue { process } => write!(f, "kill -CONT {process}"),
            Fault::MachineLoss { host } => write!(f, "machine {host} lost"),
            Fault::MachineRestart { host } => write!(f, "machine {host} restarted"),
            Fault::Partition { a, b, one_way: true } => write!(f, "partition {a} -> {b}"),
            Fault::Partition { a, b, one_way: false } => write!(f, "partition {a} <-> {b}"),
            Fault::Heal { a, b } => write!(f, "heal {a} <-> {b}"),
            Fault::HealAll => write!(f, "heal all"),
            Fault::Hold { link } => write!(f, "hold {link}"),
            Fault::Release { link } => write!(f, "release {link}"),
            Fault::Clog { link, delay_ms } => write!(f, "clog {link} +{delay_ms}ms"),
            Fault::Unclog { link } => write!(f, "unclog {link}"),
            Fault::DropMessages(r) => {
                write!(f, "drop {}", r.link)?;
                if let Some(fam) = &r.family {
                    write!(f, " family={fam}")?;
                }
                if let Some(k) = &r.kind {
                    write!(f, " kind={k}")?;
                }
                if let Some(n) = r.count {
                    write!(f, " count={n}")?;
                }
                if r.probability < 1.0 {
                    write!(f, " p={}", r.probability)?;
                }
                Ok(())
            }
            Fault::StoreFault { prefix, kind } => {
                let what = match kind {
                    StoreFaultKind::Io => "I/O errors",
                    StoreFaultKind::Full => "full",
                };
                write!(f, "store '{prefix}' {what}")
            }
            Fault::ClearStoreFault { prefix } => write!(f, "store '{prefix}' healthy"),
        }
    }
}

/// What the network does with one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Goes through, `extra` later than the latency model says.
    Pass { extra: Duration },
    /// On a cut link, but its family is a connection (`Wire::STREAM`): it waits for the link
    /// to heal, as TCP retransmits, instead of being lost.
    Wait,
    /// Lost: the link is cut (`"partition"`) or a drop rule took it (`"dropped"`).
    Lost { why: &'static str },
}

#[derive(Clone, Debug)]
struct DropState {
    rule: DropRule,
    /// Messages this rule may still lose (`None`: no limit).
    left: Option<u64>,
}

/// The network's fault rules: partitions, clogs, drop rules and holds. Both drivers ask it
/// about every message; it is empty (and cheap) in a healthy run.
#[derive(Clone, Debug, Default)]
pub struct NetFaults {
    cuts: Vec<Link>,
    clogs: Vec<(Link, Duration)>,
    drops: Vec<DropState>,
    holds: Vec<Link>,
    /// Whether any rule is set, kept by every change to the rules: both drivers ask for
    /// every message, and in a healthy run the answer is one flag, not four lengths.
    any: bool,
}

impl NetFaults {
    pub fn is_empty(&self) -> bool {
        !self.any
    }

    fn rules_changed(&mut self) {
        self.any = !(self.cuts.is_empty() && self.clogs.is_empty() && self.drops.is_empty() && self.holds.is_empty());
    }

    /// Applies a network fault. Returns false for faults that are not about the network.
    /// `Release` and `HealAll` only change the rules here: the driver delivers what it held.
    pub fn apply(&mut self, f: &Fault) -> bool {
        match f {
            Fault::Partition { a, b, one_way } => {
                let l = Link::new(*a, *b);
                push_unique(&mut self.cuts, l);
                if !one_way {
                    push_unique(&mut self.cuts, l.reversed());
                }
            }
            Fault::Heal { a, b } => {
                let (l, r) = (Link::new(*a, *b), Link::new(*b, *a));
                let between = |x: &Link| *x == l || *x == r;
                self.cuts.retain(|x| !between(x));
                self.clogs.retain(|(x, _)| !between(x));
                self.drops.retain(|d| !between(&d.rule.link));
            }
            Fault::HealAll => *self = NetFaults::default(),
            Fault::Hold { link } => push_unique(&mut self.holds, *link),
            Fault::Release { link } => self.holds.retain(|x| x != link),
            Fault::Clog { link, delay_ms } => {
                self.clogs.retain(|(x, _)| x != link);
                self.clogs.push((*link, Duration::from_millis(*delay_ms)));
            }
            Fault::Unclog { link } => self.clogs.retain(|(x, _)| x != link),
            Fault::DropMessages(rule) => self.drops.push(DropState { left: rule.count, rule: rule.clone() }),
            Fault::Kill { .. }
            | Fault::Terminate { .. }
            | Fault::Stop { .. }
            | Fault::Continue { .. }
            | Fault::MachineLoss { .. }
            | Fault::MachineRestart { .. }
            | Fault::StoreFault { .. }
            | Fault::ClearStoreFault { .. } => return false,
        }
        self.rules_changed();
        true
    }

    /// Decides a message at send time. Draws from `rng` only when a probabilistic drop rule
    /// matches, so a healthy run's random sequence is untouched. `stream`: the message's
    /// family is a connection (`Wire::STREAM`).
    pub fn on_send(&mut self, rng: &mut Rng, from: Addr, to: Addr, family: &str, kind: &str, stream: bool) -> Verdict {
        if self.is_cut(from, to) {
            return if stream { Verdict::Wait } else { Verdict::Lost { why: "partition" } };
        }
        if self.dropped(rng, from, to, family, kind) {
            return Verdict::Lost { why: "dropped" };
        }
        let extra = self.clogs.iter().filter(|(l, _)| l.matches(from, to)).map(|(_, d)| *d).max().unwrap_or_default();
        Verdict::Pass { extra }
    }

    /// Whether a drop rule takes this message (and counts it). Send-time rules go through
    /// [`NetFaults::on_send`]; a live receiver asks this on arrival, for the rules it was given
    /// as the receiver of messages from anyone (so senders that start later are covered too).
    pub fn dropped(&mut self, rng: &mut Rng, from: Addr, to: Addr, family: &str, kind: &str) -> bool {
        for d in &mut self.drops {
            if d.left == Some(0) || !d.rule.matches(from, to, family, kind) {
                continue;
            }
            if d.rule.probability >= 1.0 || (d.rule.probability > 0.0 && rng.random_bool(d.rule.probability)) {
                if let Some(n) = d.left.as_mut() {
                    *n -= 1;
                }
                self.drops.retain(|d| d.left != Some(0));
                self.rules_changed();
                return true;
            }
        }
        false
    }

    /// True if the link from `from` to `to` is cut (checked again on arrival: a message in
    /// flight when the cable is pulled is lost too).
    pub fn is_cut(&self, from: Addr, to: Addr) -> bool {
        self.cuts.iter().any(|l| l.matches(from, to))
    }

    /// True if messages arriving over this link are held.
    pub fn is_held(&self, from: Addr, to: Addr) -> bool {
        self.holds.iter().any(|l| l.matches(from, to))
    }

    /// True if a message on this link waits rather than arrives: its link is held, or it is
    /// a connection's (`stream`) and its link is cut.
    pub fn waits(&self, from: Addr, to: Addr, stream: bool) -> bool {
        self.is_held(from, to) || (stream && self.is_cut(from, to))
    }
}

fn push_unique(v: &mut Vec<Link>, l: Link) {
    if !v.contains(&l) {
        v.push(l);
    }
}

/// The store's fault rules, by path prefix.
#[derive(Clone, Debug, Default)]
pub struct StoreFaults {
    rules: Vec<(String, StoreFaultKind)>,
}

impl StoreFaults {
    /// Applies a store fault. Returns false for faults that are not about the store.
    pub fn apply(&mut self, f: &Fault) -> bool {
        match f {
            Fault::StoreFault { prefix, kind } => {
                let p = norm_prefix(prefix);
                self.rules.retain(|(x, _)| *x != p);
                self.rules.push((p, *kind));
                true
            }
            Fault::ClearStoreFault { prefix } => {
                let p = norm_prefix(prefix);
                self.rules.retain(|(x, _)| *x != p);
                true
            }
            _ => false,
        }
    }
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
    /// The fault that applies to `path`, if any (the longest matching prefix).
    fn fault_for(&self, path: &str) -> Option<StoreFaultKind> {
        let p = check_path(path).ok()?;
        self.rules
            .iter()
            .filter(|(pre, _)| pre.is_empty() || p == *pre || p.strip_prefix(pre.as_str()).is_some_and(|r| r.starts_with('/')))
            .max_by_key(|(pre, _)| pre.len())
            .map(|(_, k)| *k)
    }
}

fn norm_prefix(p: &str) -> String {
    let p = p.strip_prefix("file://").unwrap_or(p).trim_matches('/');
    check_path(p).unwrap_or_default()
}

/// A store behind its fault rules, as the nodes see it: what changes the store goes through
/// the rules, and the errors read like the live store's (the path, then the OS error as Rust
/// prints it); reads, lists and lookups read the store itself.
#[derive(Default)]
pub struct FaultyStore<S> {
    pub inner: S,
    pub faults: StoreFaults,
}

fn os_error(path: &str, kind: StoreFaultKind) -> StoreError {
    match kind {
        StoreFaultKind::Io => StoreError::Io(format!("{path}: Input/output error (os error 5)")),
        StoreFaultKind::Full => StoreError::Io(format!("{path}: No space left on device (os error 28)")),
    }
}

impl<S: Store> Store for FaultyStore<S> {
    fn read(&self, path: &str) -> Result<Vec<u8>, StoreError> {
        self.inner.read(path)
    }
    fn write(&mut self, path: &str, data: &[u8]) -> Result<(), StoreError> {
        if let Some(k) = self.faults.fault_for(path) {
            return Err(os_error(path, k));
        }
        self.inner.write(path, data)
    }
    fn rename(&mut self, from: &str, to: &str) -> Result<(), StoreError> {
        for p in [from, to] {
            if let Some(StoreFaultKind::Io) = self.faults.fault_for(p) {
                return Err(os_error(p, StoreFaultKind::Io));
            }
        }
        self.inner.rename(from, to)
    }
    fn delete(&mut self, path: &str) -> Result<(), StoreError> {
        if let Some(StoreFaultKind::Io) = self.faults.fault_for(path) {
            return Err(os_error(path, StoreFaultKind::Io));
        }
        self.inner.delete(path)
    }
    fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        self.inner.list(prefix)
    }
    fn exists(&self, path: &str) -> bool {
        self.inner.exists(path)
    }
    fn local_path(&self, path: &str) -> Option<std::path::PathBuf> {
        self.inner.local_path(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MemStore;
    use rand::SeedableRng;

    fn a(s: &str) -> Addr {
        s.parse().unwrap()
    }

    #[test]
    fn one_way_partition_cuts_one_direction_and_heal_restores() {
        let mut n = NetFaults::default();
        let (h1, h2) = (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
        n.apply(&Fault::Partition { a: Endpoint::Host(h1), b: Endpoint::Host(h2), one_way: true });
        let mut rng = Rng::seed_from_u64(1);
        assert_eq!(n.on_send(&mut rng, a("127.0.0.1:1"), a("127.0.0.2:1"), "f", "k", false), Verdict::Lost { why: "partition" });
        assert_eq!(n.on_send(&mut rng, a("127.0.0.1:1"), a("127.0.0.2:1"), "f", "k", true), Verdict::Wait, "a connection's message waits");
        assert_eq!(n.on_send(&mut rng, a("127.0.0.2:1"), a("127.0.0.1:1"), "f", "k", false), Verdict::Pass { extra: Duration::ZERO });
        n.apply(&Fault::Heal { a: Endpoint::Host(h2), b: Endpoint::Host(h1) });
        assert!(n.is_empty());
    }

    #[test]
    fn drop_rules_match_kind_and_expire_after_count() {
        let mut n = NetFaults::default();
        let link = Link::new(Endpoint::Any, Endpoint::Process(a("127.0.0.1:8088")));
        n.apply(&Fault::DropMessages(DropRule { count: Some(2), ..DropRule::kind(link, "Heartbeat") }));
        let mut rng = Rng::seed_from_u64(1);
        let mut send = |k| n.on_send(&mut rng, a("127.0.0.5:9"), a("127.0.0.1:8088"), "yarn", k, false);
        assert_eq!(send("Allocate"), Verdict::Pass { extra: Duration::ZERO });
        assert_eq!(send("Heartbeat"), Verdict::Lost { why: "dropped" });
        assert_eq!(send("Heartbeat"), Verdict::Lost { why: "dropped" });
        assert_eq!(send("Heartbeat"), Verdict::Pass { extra: Duration::ZERO });
        assert!(n.is_empty(), "an exhausted rule is gone");
    }

    /// A receiver's check on arrival: the same rule, counted once per message, and only for
    /// messages to the receiver it names.
    #[test]
    fn a_receiver_drops_what_a_rule_from_anyone_names() {
        let mut n = NetFaults::default();
        let me = a("127.0.0.1:8081");
        let link = Link::new(Endpoint::Any, Endpoint::Process(me));
        n.apply(&Fault::DropMessages(DropRule { count: Some(1), ..DropRule::kind(link, "RegisterTaskExecutor") }));
        let mut rng = Rng::seed_from_u64(1);
        assert!(!n.dropped(&mut rng, a("127.0.0.1:40001"), a("127.0.0.1:9999"), "flink-rm", "RegisterTaskExecutor"), "another receiver");
        assert!(!n.dropped(&mut rng, a("127.0.0.1:40001"), me, "flink-rm", "TaskExecutorHeartbeat"), "another kind");
        assert!(n.dropped(&mut rng, a("127.0.0.1:40002"), me, "flink-rm", "RegisterTaskExecutor"), "any sender, even a new one");
        assert!(!n.dropped(&mut rng, a("127.0.0.1:40002"), me, "flink-rm", "RegisterTaskExecutor"), "counted once: the rule is spent");
        assert!(n.is_empty());
    }

    #[test]
    fn faulty_store_fails_writes_under_its_prefix_only() {
        let mut s = FaultyStore { inner: MemStore::default(), faults: StoreFaults::default() };
        s.faults.apply(&Fault::StoreFault { prefix: "/ckpt/".into(), kind: StoreFaultKind::Full });
        s.inner.write("ckpt/old", b"x").unwrap();
        let e = s.write("ckpt/job/chk-1/_metadata", b"m").unwrap_err();
        assert_eq!(e.to_string(), "ckpt/job/chk-1/_metadata: No space left on device (os error 28)");
        assert!(s.write("ckptx/a", b"1").is_ok(), "a sibling with the same leading letters is not under the prefix");
        assert_eq!(s.read("ckpt/old").unwrap(), b"x", "reads keep working");
        assert!(s.delete("ckpt/old").is_ok(), "a full disk still deletes");
        s.faults.apply(&Fault::StoreFault { prefix: String::new(), kind: StoreFaultKind::Io });
        assert!(s.write("any/where", b"1").unwrap_err().to_string().contains("Input/output error"));
        s.faults.apply(&Fault::ClearStoreFault { prefix: String::new() });
        s.faults.apply(&Fault::ClearStoreFault { prefix: "ckpt".into() });
        assert!(s.faults.is_empty());
        assert!(s.write("ckpt/job/x", b"1").is_ok());
    }

    #[test]
    fn faults_round_trip_as_json() {
        let f = Fault::Partition { a: Endpoint::Host(Ipv4Addr::new(127, 0, 0, 2)), b: Endpoint::Any, one_way: true };
        let j = serde_json::to_string(&f).unwrap();
        assert_eq!(j, r#"{"fault":"partition","a":{"host":"127.0.0.2"},"b":"any","one_way":true}"#);
        assert_eq!(serde_json::from_str::<Fault>(&j).unwrap(), f);
        assert_eq!(f.to_string(), "partition 127.0.0.2 -> *");
    }
}
