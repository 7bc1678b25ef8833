//! `RMContainer`: one allocated container as the RM tracks it, from the scheduler's
//! assignment to its completion.

use std::fmt;

use engine::Time;

use crate::ids::{ContainerId, NodeId};
use crate::records::{Container, ContainerState, ContainerStatus, Resource};

/// `RMContainerState` (reservations are not modelled: the scheduler never reserves).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RMContainerState {
    /// The scheduler assigned it on a node heartbeat; the AM has not pulled it yet.
    Allocated,
    /// Handed to the AM in an allocate response (or to the AM launcher for AM containers).
    Acquired,
    /// The NM reported it running.
    Running,
    /// Done: exited, released, killed, expired or lost. Kept for reports.
    Completed,
}

impl RMContainerState {
    pub fn name(self) -> &'static str {
        match self {
            RMContainerState::Allocated => "ALLOCATED",
            RMContainerState::Acquired => "ACQUIRED",
            RMContainerState::Running => "RUNNING",
            RMContainerState::Completed => "COMPLETED",
        }
    }
}

impl fmt::Display for RMContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug)]
pub struct RMContainer {
    pub container: Container,
    pub state: RMContainerState,
    pub is_am: bool,
    pub allocated_at: Time,
    /// When the NM first reported it RUNNING.
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
    /// Set once, on completion.
    pub exit_status: i32,
    pub diagnostics: String,
}

impl RMContainer {
    pub fn new(container: Container, is_am: bool, now: Time) -> Self {
        RMContainer {
            container,
            state: RMContainerState::Allocated,
            is_am,
            allocated_at: now,
            started_at: None,
            finished_at: None,
            exit_status: crate::records::exit_status::INVALID,
            diagnostics: String::new(),
        }
    }

    pub fn id(&self) -> ContainerId {
        self.container.id
    }

    pub fn node(&self) -> &NodeId {
        &self.container.node_id
    }

    pub fn resource(&self) -> Resource {
        self.container.resource
    }

    pub fn is_live(&self) -> bool {
        self.state != RMContainerState::Completed
    }

    /// ALLOCATED -> ACQUIRED when the AM (or the AM launcher) takes it. Other states stay.
    pub fn acquire(&mut self) -> bool {
        match self.state {
            RMContainerState::Allocated => {
                self.state = RMContainerState::Acquired;
                true
            }
            RMContainerState::Acquired | RMContainerState::Running | RMContainerState::Completed => false,
        }
    }

    /// ALLOCATED/ACQUIRED -> RUNNING on the first RUNNING status from the NM.
    pub fn launched(&mut self, now: Time) -> bool {
        match self.state {
            RMContainerState::Allocated | RMContainerState::Acquired => {
                self.state = RMContainerState::Running;
                self.started_at = Some(now);
                true
            }
            RMContainerState::Running | RMContainerState::Completed => false,
        }
    }

    /// Any live state -> COMPLETED, exactly once. Returns false if it was already completed.
    pub fn complete(&mut self, now: Time, exit_status: i32, diagnostics: &str) -> bool {
        match self.state {
            RMContainerState::Completed => false,
            RMContainerState::Allocated | RMContainerState::Acquired | RMContainerState::Running => {
                self.state = RMContainerState::Completed;
                self.finished_at = Some(now);
                self.exit_status = exit_status;
                self.diagnostics = diagnostics.to_string();
                true
            }
        }
    }

    /// The status an AM sees for it once completed.
    pub fn completed_status(&self) -> ContainerStatus {
        ContainerStatus {
            container_id: self.id(),
            state: ContainerState::Complete,
            exit_status: self.exit_status,
            diagnostics: self.diagnostics.clone(),
        }
    }

    /// MB-seconds and vcore-seconds from allocation to completion (or `now`), as YARN meters.
    pub fn usage_seconds(&self, now: Time) -> (u64, u64) {
        let end = self.finished_at.unwrap_or(now);
        let ms = end.since(self.allocated_at).as_millis() as u64;
        let r = self.resource();
        (r.memory_mb * ms / 1000, r.vcores as u64 * ms / 1000)
    }
}
