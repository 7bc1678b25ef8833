//! `RMAppAttempt`: one run of an application's ApplicationMaster, with its state machine
//! (`RMAppAttemptState`) and its ApplicationMasterService session (response ids, the cached
//! last response, what the next allocate response must carry).

use std::fmt;

use engine::Time;

use crate::ids::{ApplicationAttemptId, ContainerId};
use crate::proto::AllocateResponse;
use crate::records::{exit_status, ContainerStatus, FinalApplicationStatus, NodeUpdate};

/// `RMAppAttemptState`. The *_SAVING states pass at once (no state store) but are kept so
/// traces show YARN's path.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RMAppAttemptState {
    New,
    Submitted,
    Scheduled,
    AllocatedSaving,
    Allocated,
    Launched,
    Running,
    FinalSaving,
    Finishing,
    Finished,
    Failed,
    Killed,
}

impl RMAppAttemptState {
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Submitted => "SUBMITTED",
            Self::Scheduled => "SCHEDULED",
            Self::AllocatedSaving => "ALLOCATED_SAVING",
            Self::Allocated => "ALLOCATED",
            Self::Launched => "LAUNCHED",
            Self::Running => "RUNNING",
            Self::FinalSaving => "FINAL_SAVING",
            Self::Finishing => "FINISHING",
            Self::Finished => "FINISHED",
            Self::Failed => "FAILED",
            Self::Killed => "KILLED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, Self::Finished | Self::Failed | Self::Killed)
    }

    /// Whether the transition `self -> to` is one RMAppAttemptImpl's state machine has.
    pub fn can_go(self, to: RMAppAttemptState) -> bool {
        use RMAppAttemptState::*;
        match (self, to) {
            (New, Submitted) | (Submitted, Scheduled) => true,
            // An unmanaged AM runs outside YARN: no container to allocate (LAUNCHED_UNMANAGED_SAVING).
            (Submitted, Launched) => true,
            (Scheduled, AllocatedSaving) | (AllocatedSaving, Allocated) => true,
            (Allocated, Launched) | (Allocated, Running) | (Launched, Running) => true,
            // Kill, AM crash, launch failure, expiry, unregister: all go through FINAL_SAVING.
            (New | Submitted | Scheduled | AllocatedSaving | Allocated | Launched | Running, FinalSaving) => true,
            (FinalSaving, Finishing | Finished | Failed | Killed) => true,
            (Finishing, Finished) => true,
            _ => false,
        }
    }
}

impl fmt::Display for RMAppAttemptState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug)]
pub struct RMAppAttempt {
    pub id: ApplicationAttemptId,
    pub state: RMAppAttemptState,
    pub am_container: Option<ContainerId>,
    pub start_time: Time,
    pub finish_time: Option<Time>,
    pub diagnostics: String,
    /// The AM container's exit status once it completed (INVALID before).
    pub am_exit_status: i32,
    pub registered: bool,
    pub host: String,
    pub rpc_port: i32,
    pub am_tracking_url: String,
    pub progress: f32,
    /// What the AM asked for when it unregistered.
    pub final_status: FinalApplicationStatus,
    /// The last allocate response, for the duplicate-request rule (§4.6). Its response id is
    /// the one the next request must echo.
    pub last_response: AllocateResponse,
    /// Allocated to this attempt, not yet handed to the AM.
    pub new_containers: Vec<ContainerId>,
    /// Completed statuses for the AM, each queued exactly once.
    pub completed_for_am: Vec<ContainerStatus>,
    pub updated_nodes: Vec<NodeUpdate>,
    /// Container ids this attempt allocates are `<attempt>_<next_container_seq>`.
    pub next_container_seq: u64,
    /// Completions in the last allocate response: the NM may forget them once the AM's next
    /// allocate shows it got that response (RMAppAttemptImpl's finishedContainersSentToAM).
    pub completed_sent: Vec<ContainerId>,
}

impl RMAppAttempt {
    pub fn new(id: ApplicationAttemptId, now: Time, first_container_seq: u64) -> Self {
        RMAppAttempt {
            id,
            state: RMAppAttemptState::New,
            am_container: None,
            start_time: now,
            finish_time: None,
            diagnostics: String::new(),
            am_exit_status: exit_status::INVALID,
            registered: false,
            host: "N/A".into(),
            rpc_port: -1,
            am_tracking_url: String::new(),
            progress: 0.0,
            final_status: FinalApplicationStatus::Undefined,
            last_response: AllocateResponse {
                response_id: 0,
                allocated: Vec::new(),
                completed: Vec::new(),
                headroom: Default::default(),
                num_cluster_nodes: 0,
                updated_nodes: Vec::new(),
            },
            new_containers: Vec::new(),
            completed_for_am: Vec::new(),
            updated_nodes: Vec::new(),
            next_container_seq: first_container_seq,
            completed_sent: Vec::new(),
        }
    }

    /// Whether an AM may talk to the ApplicationMasterService as this attempt.
    pub fn is_serving(&self) -> bool {
        matches!(
            self.state,
            RMAppAttemptState::Allocated | RMAppAttemptState::Launched | RMAppAttemptState::Running | RMAppAttemptState::Finishing
        )
    }

    /// Whether an AM of this attempt is (supposed to be) alive and watched for expiry.
    pub fn is_am_live(&self) -> bool {
        matches!(self.state, RMAppAttemptState::Launched | RMAppAttemptState::Running | RMAppAttemptState::Finishing)
    }

    /// `shouldCountTowardsMaxAttemptRetry` (§3.4): framework-caused AM exits and failures
    /// older than the validity interval do not count.
    pub fn counts_as_failure(&self, now: Time, validity_interval_ms: i64) -> bool {
        if self.state != RMAppAttemptState::Failed {
            return false;
        }
        if validity_interval_ms > 0 {
            if let Some(end) = self.finish_time {
                if end.as_millis() + (validity_interval_ms as u64) < now.as_millis() {
                    return false;
                }
            }
        }
        !matches!(
            self.am_exit_status,
            exit_status::PREEMPTED | exit_status::ABORTED | exit_status::DISKS_FAILED | exit_status::KILLED_BY_RESOURCEMANAGER
        )
    }

    pub fn next_container_id(&mut self) -> ContainerId {
        self.next_container_seq += 1;
        ContainerId::new(self.id, self.next_container_seq)
    }
}
