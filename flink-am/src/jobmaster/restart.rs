//! Restart back-off strategies (Flink's `RestartBackoffTimeStrategy` implementations): the
//! JobMaster tells the strategy about each failure (`notify_failure`), then asks whether the job
//! may restart (`can_restart`) and after how long (`backoff_ms`). Reference
//! flink-checkpoints-ha.md §3.1.

use std::collections::VecDeque;

use flink_core::RestartStrategy;
use rand::Rng as _;

#[derive(Clone, Debug, PartialEq)]
pub struct RestartBackoffTimeStrategy {
    pub strategy: RestartStrategy,
    /// Restarts done so far (the job's `numRestarts`).
    pub restarts: u32,
    /// Failures notified so far.
    failures: u32,
    /// failure-rate: failure times (ms) inside the interval.
    failure_times: VecDeque<u64>,
    /// exponential-delay: the current back-off before jitter, the last failure time, and the
    /// attempts since the last reset.
    current_backoff_ms: u64,
    last_failure_ms: Option<u64>,
    attempts_since_reset: u32,
}

impl RestartBackoffTimeStrategy {
    pub fn new(strategy: RestartStrategy) -> Self {
        let current_backoff_ms = match strategy {
            RestartStrategy::ExponentialDelay { initial_backoff_ms, .. } => initial_backoff_ms,
            _ => 0,
        };
        RestartBackoffTimeStrategy {
            strategy,
            restarts: 0,
            failures: 0,
            failure_times: VecDeque::new(),
            current_backoff_ms,
            last_failure_ms: None,
            attempts_since_reset: 0,
        }
    }

    /// A failure happened at `now_ms` (Flink's `notifyFailure`).
    pub fn notify_failure(&mut self, now_ms: u64) {
        self.failures += 1;
        match self.strategy {
            RestartStrategy::NoRestart | RestartStrategy::FixedDelay { .. } => {}
            RestartStrategy::FailureRate { interval_ms, .. } => {
                self.failure_times.push_back(now_ms);
                while self.failure_times.front().is_some_and(|t| now_ms.saturating_sub(*t) > interval_ms) {
                    self.failure_times.pop_front();
                }
            }
            RestartStrategy::ExponentialDelay { initial_backoff_ms, max_backoff_ms, multiplier, reset_threshold_ms, .. } => {
                match self.last_failure_ms {
                    // Quiet for the reset threshold (after the last back-off): start over.
                    Some(last) if now_ms.saturating_sub(last) >= reset_threshold_ms.saturating_add(self.current_backoff_ms) => {
                        self.current_backoff_ms = initial_backoff_ms;
                        self.attempts_since_reset = 0;
                    }
                    Some(_) => {
                        let next = (self.current_backoff_ms as f64 * multiplier).round();
                        self.current_backoff_ms = (next as u64).min(max_backoff_ms);
                    }
                    None => self.current_backoff_ms = initial_backoff_ms.min(max_backoff_ms),
                }
                self.attempts_since_reset += 1;
                self.last_failure_ms = Some(now_ms);
            }
        }
    }

    /// Whether the job may restart after the failures notified so far.
    pub fn can_restart(&self) -> bool {
        match self.strategy {
            RestartStrategy::NoRestart => false,
            RestartStrategy::FixedDelay { attempts, .. } => self.restarts < attempts,
            RestartStrategy::FailureRate { max_failures, .. } => self.failure_times.len() <= max_failures as usize,
            RestartStrategy::ExponentialDelay { attempts_before_reset, .. } => self.attempts_since_reset <= attempts_before_reset,
        }
    }

    /// The delay before the restart; exponential-delay draws its jitter from `rng`.
    pub fn backoff_ms(&self, rng: &mut engine::Rng) -> u64 {
        match self.strategy {
            RestartStrategy::NoRestart => 0,
            RestartStrategy::FixedDelay { delay_ms, .. } | RestartStrategy::FailureRate { delay_ms, .. } => delay_ms,
            RestartStrategy::ExponentialDelay { jitter, .. } => {
                let spread = (self.current_backoff_ms as f64 * jitter.clamp(0.0, 1.0)) as u64;
                if spread == 0 {
                    self.current_backoff_ms
                } else {
                    let lo = self.current_backoff_ms - spread;
                    rng.random_range(lo..=self.current_backoff_ms + spread)
                }
            }
        }
    }

    /// The strategy's toString() as Flink prints it in "Recovery is suppressed by ...".
    pub fn describe(&self) -> String {
        match self.strategy {
            RestartStrategy::NoRestart => "NoRestartBackoffTimeStrategy".into(),
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                format!("FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts={attempts}, backoffTimeMS={delay_ms})")
            }
            RestartStrategy::FailureRate { max_failures, interval_ms, delay_ms } => format!(
                "FailureRateRestartBackoffTimeStrategy(failuresIntervalMS={interval_ms}, backoffTimeMS={delay_ms}, maxFailuresPerInterval={max_failures})"
            ),
            RestartStrategy::ExponentialDelay {
                initial_backoff_ms,
                max_backoff_ms,
                multiplier,
                reset_threshold_ms,
                jitter,
                attempts_before_reset,
            } => format!(
                "ExponentialDelayRestartBackoffTimeStrategy(initialBackoffMS={initial_backoff_ms}, maxBackoffMS={max_backoff_ms}, backoffMultiplier={}, resetBackoffThresholdMS={reset_threshold_ms}, jitterFactor={}, currentBackoffMS={}, lastFailureTimestamp={}, attemptsBeforeResetBackoff={attempts_before_reset})",
                java_double(multiplier),
                java_double(jitter),
                self.current_backoff_ms,
                self.last_failure_ms.map(|t| t as i64).unwrap_or(0),
            ),
        }
    }
}

/// A double as Java's `Double.toString` prints ordinary values (`1.5`, `2.0`, `0.1`).
fn java_double(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e7 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;

    use super::*;

    fn rng() -> engine::Rng {
        engine::Rng::seed_from_u64(1)
    }

    fn exp(attempts_before_reset: u32, jitter: f64) -> RestartBackoffTimeStrategy {
        RestartBackoffTimeStrategy::new(RestartStrategy::ExponentialDelay {
            initial_backoff_ms: 1_000,
            max_backoff_ms: 60_000,
            multiplier: 1.5,
            reset_threshold_ms: 3_600_000,
            jitter,
            attempts_before_reset,
        })
    }

    #[test]
    fn no_restart_never_restarts() {
        let mut s = RestartBackoffTimeStrategy::new(RestartStrategy::NoRestart);
        s.notify_failure(0);
        assert!(!s.can_restart());
        assert_eq!(s.describe(), "NoRestartBackoffTimeStrategy");
    }

    #[test]
    fn fixed_delay_allows_attempts_restarts_with_the_delay() {
        let mut s = RestartBackoffTimeStrategy::new(RestartStrategy::FixedDelay { attempts: 2, delay_ms: 700 });
        for _ in 0..2 {
            s.notify_failure(0);
            assert!(s.can_restart());
            assert_eq!(s.backoff_ms(&mut rng()), 700);
            s.restarts += 1;
        }
        s.notify_failure(0);
        assert!(!s.can_restart());
        assert_eq!(s.describe(), "FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts=2, backoffTimeMS=700)");
    }

    #[test]
    fn failure_rate_counts_failures_inside_the_interval() {
        let mut s = RestartBackoffTimeStrategy::new(RestartStrategy::FailureRate { max_failures: 2, interval_ms: 10_000, delay_ms: 50 });
        s.notify_failure(1_000);
        assert!(s.can_restart());
        s.notify_failure(2_000);
        assert!(s.can_restart());
        assert_eq!(s.backoff_ms(&mut rng()), 50);
        s.notify_failure(3_000);
        assert!(!s.can_restart(), "three failures within 10 s exceed 2 per interval");
        // Long after, the old failures left the window.
        let mut s2 = RestartBackoffTimeStrategy::new(RestartStrategy::FailureRate { max_failures: 1, interval_ms: 10_000, delay_ms: 50 });
        s2.notify_failure(0);
        assert!(s2.can_restart());
        s2.notify_failure(20_000);
        assert!(s2.can_restart());
        s2.notify_failure(25_000);
        assert!(!s2.can_restart());
        assert_eq!(
            s2.describe(),
            "FailureRateRestartBackoffTimeStrategy(failuresIntervalMS=10000, backoffTimeMS=50, maxFailuresPerInterval=1)"
        );
    }

    #[test]
    fn exponential_delay_grows_by_the_multiplier_up_to_the_max() {
        let mut s = exp(u32::MAX, 0.0);
        let mut delays = Vec::new();
        for k in 0..14 {
            s.notify_failure(k * 1_000);
            assert!(s.can_restart());
            delays.push(s.backoff_ms(&mut rng()));
        }
        assert_eq!(&delays[..5], &[1_000, 1_500, 2_250, 3_375, 5_063]);
        assert_eq!(*delays.last().unwrap(), 60_000, "{delays:?}");
        assert!(s.describe().starts_with(
            "ExponentialDelayRestartBackoffTimeStrategy(initialBackoffMS=1000, maxBackoffMS=60000, backoffMultiplier=1.5, resetBackoffThresholdMS=3600000, jitterFactor=0.0, currentBackoffMS=60000"
        ));
    }

    #[test]
    fn exponential_delay_jitter_stays_within_the_factor() {
        let mut s = exp(u32::MAX, 0.1);
        s.notify_failure(0);
        s.notify_failure(1);
        let mut r = rng();
        let ds: Vec<u64> = (0..200).map(|_| s.backoff_ms(&mut r)).collect();
        assert!(ds.iter().all(|d| (1_350..=1_650).contains(d)), "{ds:?}");
        assert!(ds.iter().any(|d| *d != 1_500), "jitter varies the delay");
    }

    #[test]
    fn exponential_delay_resets_after_the_threshold_and_limits_attempts() {
        let mut s = exp(2, 0.0);
        s.notify_failure(0);
        s.notify_failure(1_000);
        assert!(s.can_restart());
        assert_eq!(s.backoff_ms(&mut rng()), 1_500);
        // Quiet for more than an hour (+ the back-off): back to the initial delay and count.
        s.notify_failure(1_000 + 3_600_000 + 1_500);
        assert_eq!(s.backoff_ms(&mut rng()), 1_000);
        assert!(s.can_restart());
        s.notify_failure(3_700_000);
        assert!(s.can_restart());
        s.notify_failure(3_700_001);
        assert!(!s.can_restart(), "a third consecutive attempt exceeds attempts-before-reset-backoff=2");
    }
}
