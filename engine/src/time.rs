//! Time as nodes see it: microseconds since the Unix epoch, read only from `Cx::now()`.

use std::fmt;
use std::ops::{Add, Sub};
use std::time::Duration;

/// An instant, in microseconds since the Unix epoch. In the sim it is virtual; in live it is
/// the wall clock read by the driver when it hands an input to a node.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time(pub u64);

impl Time {
    pub const ZERO: Time = Time(0);
    pub fn from_millis(ms: u64) -> Time {
        Time(ms * 1000)
    }
    pub fn as_millis(self) -> u64 {
        self.0 / 1000
    }
    pub fn as_micros(self) -> u64 {
        self.0
    }
    /// The first whole millisecond at or after this instant.
    pub fn ceil_millis(self) -> Time {
        Time(self.0.div_ceil(1000).saturating_mul(1000))
    }
    /// Time elapsed since `earlier`, zero if `earlier` is later.
    pub fn since(self, earlier: Time) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

/// `d` in whole microseconds, exactly `d.as_micros() as u64` (wrapping as that cast does),
/// in 64-bit arithmetic: `as_micros` goes through 128 bits, on every message's latency and
/// every timer the sim arms.
#[inline(always)]
pub(crate) fn micros(d: Duration) -> u64 {
    d.as_secs().wrapping_mul(1_000_000).wrapping_add(u64::from(d.subsec_micros()))
}

impl Add<Duration> for Time {
    type Output = Time;
    #[inline]
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(micros(d)))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    #[inline]
    fn sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(micros(d)))
    }
}

impl fmt::Debug for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
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
        // Saturating at the ends of time, as before.
        assert_eq!(Time(5) + Duration::from_secs(1 << 40), Time(5 + (1u64 << 40) * 1_000_000));
        assert_eq!(Time(u64::MAX - 1) + Duration::from_micros(5), Time(u64::MAX));
        assert_eq!(Time(3) - Duration::from_micros(5), Time(0));
    }
}
