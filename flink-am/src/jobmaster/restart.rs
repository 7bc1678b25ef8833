//! Restart back-off strategies (Flink's RestartBackoffTimeStrategy): whether a failed job may
//! restart, after how long, and the name Flink prints when recovery is suppressed.

use flink_core::RestartStrategy;

#[derive(Clone, Debug, PartialEq)]
pub struct RestartBackoffTimeStrategy {
    pub strategy: RestartStrategy,
    /// Restarts done so far.
    pub restarts: u32,
}

impl RestartBackoffTimeStrategy {
    pub fn new(strategy: RestartStrategy) -> Self {
        RestartBackoffTimeStrategy { strategy, restarts: 0 }
    }

    /// Whether one more restart is allowed.
    pub fn can_restart(&self) -> bool {
        match self.strategy {
            RestartStrategy::NoRestart => false,
            RestartStrategy::FixedDelay { attempts, .. } => self.restarts < attempts,
            RestartStrategy::FailureRate { .. } | RestartStrategy::ExponentialDelay { .. } => todo!(),
        }
    }

    pub fn backoff_ms(&self) -> u64 {
        match self.strategy {
            RestartStrategy::NoRestart => 0,
            RestartStrategy::FixedDelay { delay_ms, .. } => delay_ms,
            RestartStrategy::FailureRate { .. } | RestartStrategy::ExponentialDelay { .. } => todo!(),
        }
    }

    /// The strategy's toString() as Flink prints it in "Recovery is suppressed by ...".
    pub fn describe(&self) -> String {
        match self.strategy {
            RestartStrategy::NoRestart => "NoRestartBackoffTimeStrategy".into(),
            RestartStrategy::FixedDelay { attempts, delay_ms } => {
                format!("FixedDelayRestartBackoffTimeStrategy(maxNumberRestartAttempts={attempts}, backoffTimeMS={delay_ms})")
            }
            RestartStrategy::FailureRate { .. } | RestartStrategy::ExponentialDelay { .. } => todo!(),
        }
    }
}
