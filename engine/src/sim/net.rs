//! The simulated network's healthy behaviour: per-message latency and random loss. Faults
//! (partitions, clogs, holds, drops) are [`crate::fault::NetFaults`], applied by `Sim::apply`.

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

/// `d` in whole microseconds, exactly `d.as_micros() as u64` (wrapping as that cast does),
/// in 64-bit arithmetic: that one goes through 128 bits, twice for every message.
#[inline(always)]
fn micros(d: Duration) -> u64 {
    d.as_secs().wrapping_mul(1_000_000).wrapping_add(u64::from(d.subsec_micros()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The same microseconds as `Duration::as_micros`, truncated to 64 bits as the cast does.
    #[test]
    fn micros_are_as_micros() {
        for d in [
            Duration::ZERO,
            Duration::from_nanos(999),
            Duration::from_nanos(1_999),
            Duration::from_micros(200),
            Duration::new(3, 999_999_999),
            Duration::from_secs(1 << 40),
            Duration::MAX,
        ] {
            assert_eq!(micros(d), d.as_micros() as u64, "{d:?}");
        }
    }
}
