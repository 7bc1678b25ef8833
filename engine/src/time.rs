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

impl Add<Duration> for Time {
    type Output = Time;
    fn add(self, d: Duration) -> Time {
        Time(self.0.saturating_add(d.as_micros() as u64))
    }
}

impl Sub<Duration> for Time {
    type Output = Time;
    fn sub(self, d: Duration) -> Time {
        Time(self.0.saturating_sub(d.as_micros() as u64))
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
