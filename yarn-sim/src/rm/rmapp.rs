//! `RMApp`: a submitted application and its state machine (`RMAppState`).

use std::collections::BTreeSet;
use std::fmt;

use engine::Time;

use crate::ids::{ApplicationId, ContainerId, NodeId};
use crate::records::{ApplicationSubmissionContext, FinalApplicationStatus, YarnApplicationState};

use super::rmappattempt::RMAppAttempt;

/// `RMAppState`. NEW_SAVING and FINAL_SAVING pass at once (no state store).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RMAppState {
    New,
    NewSaving,
    Submitted,
    Accepted,
    Running,
    FinalSaving,
    Finishing,
    Finished,
    Failed,
    Killing,
    Killed,
}

impl RMAppState {
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::NewSaving => "NEW_SAVING",
            Self::Submitted => "SUBMITTED",
            Self::Accepted => "ACCEPTED",
            Self::Running => "RUNNING",
            Self::FinalSaving => "FINAL_SAVING",
            Self::Finishing => "FINISHING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killing => "KILLING",
            Self::Killed => "KILLED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }

    /// Whether RMAppImpl's state machine has the transition `self -> to`.
    pub fn can_go(self, to: RMAppState) -> bool {
        use RMAppState::*;
        match (self, to) {
            (New, NewSaving) | (NewSaving, Submitted) | (Submitted, Accepted) => true,
            (Accepted, Running) => true,
            // A failed attempt with retries left sends the app back to ACCEPTED.
            (Running, Accepted) => true,
            (New | NewSaving | Submitted | Accepted | Running | Killing, FinalSaving) => true,
            (Accepted | Running, Killing) => true,
            (FinalSaving, Finishing | Finished | Failed | Killed) => true,
            (Finishing, Finished) => true,
            _ => false,
        }
    }
}

impl fmt::Display for RMAppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug)]
pub struct RMApp {
    pub id: ApplicationId,
    pub user: String,
    pub ctx: ApplicationSubmissionContext,
    /// Full path of the leaf queue ("root.default").
    pub queue_path: String,
    /// Short name of the leaf queue, as reports show it.
    pub queue: String,
    pub state: RMAppState,
    /// The state FINAL_SAVING / KILLING came from, which reports show meanwhile.
    pub state_before: RMAppState,
    pub final_status: FinalApplicationStatus,
    pub diagnostics: String,
    pub max_attempts: u32,
    pub attempts: Vec<RMAppAttempt>,
    pub submit_time: Time,
    pub launch_time: Option<Time>,
    pub finish_time: Option<Time>,
    /// Live containers (of any attempt): what a kill or the app's end must stop.
    pub live_containers: BTreeSet<ContainerId>,
    /// Nodes that ran any of its containers: told to clean the app up when it ends.
    pub ran_on: BTreeSet<NodeId>,
    /// MB-seconds and vcore-seconds of containers that already completed.
    pub memory_seconds_done: u64,
    pub vcore_seconds_done: u64,
}

impl RMApp {
    pub fn current_attempt(&self) -> Option<&RMAppAttempt> {
        self.attempts.last()
    }

    /// Failed attempts that count toward the maximum (RMAppImpl.getNumFailedAppAttempts).
    pub fn counted_failures(&self, now: Time) -> u32 {
        self.attempts.iter().filter(|a| a.counts_as_failure(now, self.ctx.attempt_failures_validity_interval)).count() as u32
    }

    pub fn current_attempt_mut(&mut self) -> Option<&mut RMAppAttempt> {
        self.attempts.last_mut()
    }

    /// `createApplicationState()`: FINAL_SAVING and KILLING show the state before them.
    pub fn yarn_state(&self) -> YarnApplicationState {
        let shown = match self.state {
            RMAppState::FinalSaving | RMAppState::Killing => self.state_before,
            s => s,
        };
        match shown {
            RMAppState::New => YarnApplicationState::New,
            RMAppState::NewSaving => YarnApplicationState::NewSaving,
            RMAppState::Submitted => YarnApplicationState::Submitted,
            RMAppState::Accepted => YarnApplicationState::Accepted,
            RMAppState::Running => YarnApplicationState::Running,
            // FINISHING (the AM unregistered, its container may still run) already reads
            // FINISHED, as in RMAppImpl.
            RMAppState::Finishing | RMAppState::Finished => YarnApplicationState::Finished,
            RMAppState::Failed => YarnApplicationState::Failed,
            RMAppState::Killed | RMAppState::Killing => YarnApplicationState::Killed,
            RMAppState::FinalSaving => YarnApplicationState::Running,
        }
    }
}
