//! The simulated network's healthy behaviour: per-message latency and random loss. Faults
//! (partitions, clogs, holds, drops) are [`crate::fault::NetFaults`], applied by `Sim::apply`.

use std::net::Ipv4Addr;
use std::time::Duration;

use rand::Rng as _;

use crate::time::micros;
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
    /// Let a message overtake an earlier one on the same link when it draws a shorter latency.
    /// Off: links are FIFO, as one TCP connection is (DESIGN.md §9).
    pub reorder: bool,
}

impl Default for NetModel {
    fn default() -> Self {
        NetModel {
            latency_min: Duration::from_micros(200),
            latency_max: Duration::from_micros(1000),
            local_latency: Duration::from_micros(20),
            loss: 0.0,
            reorder: false,
        }
    }
}

impl NetModel {
    /// The latency of one message, or `None` if it is lost.
    pub fn delay(&self, rng: &mut Rng, from: Ipv4Addr, to: Ipv4Addr) -> Option<Duration> {
        self.delay_micros(rng, from, to).map(Duration::from_micros)
    }

    /// [`NetModel::delay`] in whole microseconds, the sim's clock unit (the same draws): every
    /// message takes this path, and a `Duration` costs a 128-bit conversion at each use.
    #[inline]
    pub fn delay_micros(&self, rng: &mut Rng, from: Ipv4Addr, to: Ipv4Addr) -> Option<u64> {
        if from == to {
            return Some(micros(self.local_latency));
        }
        if self.loss > 0.0 && rng.random_bool(self.loss.min(1.0)) {
            return None;
        }
        let (lo, hi) = (micros(self.latency_min), micros(self.latency_max));
        Some(if hi > lo { rng.random_range(lo..=hi) } else { lo })
    }
}
