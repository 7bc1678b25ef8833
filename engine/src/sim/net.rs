//! The simulated network: per-message latency, loss, partitions and clogged links.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::time::Duration;

use rand::Rng as _;

use crate::Rng;

#[derive(Clone, Debug)]
pub struct NetModel {
    /// Latency between two machines is drawn uniformly from `[min, max]`.
    pub latency_min: Duration,
    pub latency_max: Duration,
    /// Latency between two processes on one machine.
    pub local_latency: Duration,
    /// Probability that a message between machines is lost.
    pub loss: f64,
    partitions: BTreeSet<(Ipv4Addr, Ipv4Addr)>,
    clogged: BTreeMap<(Ipv4Addr, Ipv4Addr), Duration>,
}

impl Default for NetModel {
    fn default() -> Self {
        NetModel {
            latency_min: Duration::from_micros(200),
            latency_max: Duration::from_micros(1000),
            local_latency: Duration::from_micros(20),
            loss: 0.0,
            partitions: BTreeSet::new(),
            clogged: BTreeMap::new(),
        }
    }
}

fn pair(a: Ipv4Addr, b: Ipv4Addr) -> (Ipv4Addr, Ipv4Addr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl NetModel {
    /// Cuts the link between two machines, both ways.
    pub fn partition(&mut self, a: Ipv4Addr, b: Ipv4Addr) {
        self.partitions.insert(pair(a, b));
    }
    pub fn heal(&mut self, a: Ipv4Addr, b: Ipv4Addr) {
        self.partitions.remove(&pair(a, b));
        self.clogged.remove(&pair(a, b));
    }
    pub fn heal_all(&mut self) {
        self.partitions.clear();
        self.clogged.clear();
    }
    /// Adds `extra` delay to every message on a link.
    pub fn clog(&mut self, a: Ipv4Addr, b: Ipv4Addr, extra: Duration) {
        self.clogged.insert(pair(a, b), extra);
    }
    /// The delay for one message, or `None` if it is lost.
    pub fn delay(&self, rng: &mut Rng, from: Ipv4Addr, to: Ipv4Addr) -> Option<Duration> {
        if from == to {
            return Some(self.local_latency);
        }
        let link = pair(from, to);
        if !self.partitions.is_empty() && self.partitions.contains(&link) {
            return None;
        }
        if self.loss > 0.0 && rng.random_bool(self.loss.min(1.0)) {
            return None;
        }
        let (lo, hi) = (self.latency_min.as_micros() as u64, self.latency_max.as_micros() as u64);
        let mut d = Duration::from_micros(if hi > lo { rng.random_range(lo..=hi) } else { lo });
        if !self.clogged.is_empty() {
            if let Some(extra) = self.clogged.get(&link) {
                d += *extra;
            }
        }
        Some(d)
    }
}
