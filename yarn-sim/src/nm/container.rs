//! One container as the NodeManager tracks it: YARN's NM-side `ContainerState` machine and the
//! record REST, heartbeats and `yarn logs` read.

use std::fmt;

use engine::{Cx, ProcId};
use serde::{Deserialize, Serialize};

use crate::ids::ContainerId;
use crate::records::{exit_status, ContainerState as PublicState, ContainerStatus, NMContainerStatus, Resource};

/// `org.apache.hadoop.yarn.server.nodemanager.containermanager.container.ContainerState`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ContainerState {
    New,
    Localizing,
    LocalizationFailed,
    Localized,
    Running,
    ExitedWithSuccess,
    ExitedWithFailure,
    Killing,
    ContainerCleanedupAfterKill,
    ContainerResourcesCleaningup,
    Done,
}

impl ContainerState {
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Localizing => "LOCALIZING",
            Self::LocalizationFailed => "LOCALIZATION_FAILED",
            Self::Localized => "LOCALIZED",
            Self::Running => "RUNNING",
            Self::ExitedWithSuccess => "EXITED_WITH_SUCCESS",
            Self::ExitedWithFailure => "EXITED_WITH_FAILURE",
            Self::Killing => "KILLING",
            Self::ContainerCleanedupAfterKill => "CONTAINER_CLEANEDUP_AFTER_KILL",
            Self::ContainerResourcesCleaningup => "CONTAINER_RESOURCES_CLEANINGUP",
            Self::Done => "DONE",
        }
    }

    /// The transitions ContainerImpl's state machine allows (the subset this NM drives).
    pub fn can_become(self, to: ContainerState) -> bool {
        use ContainerState::*;
        matches!(
            (self, to),
            (New, Localizing | Localized | LocalizationFailed | Done)
                | (Localizing, Localized | LocalizationFailed | ContainerResourcesCleaningup)
                | (Localized, Running | ExitedWithFailure | ContainerResourcesCleaningup)
                | (Running, ExitedWithSuccess | ExitedWithFailure | Killing)
                | (Killing, ContainerCleanedupAfterKill | ExitedWithSuccess | ExitedWithFailure)
                | (
                    LocalizationFailed | ExitedWithSuccess | ExitedWithFailure | ContainerCleanedupAfterKill | ContainerResourcesCleaningup,
                    Done
                )
        )
    }

    /// A process may still be alive (it holds the node's resources).
    pub fn is_active(self) -> bool {
        matches!(self, Self::New | Self::Localizing | Self::Localized | Self::Running | Self::Killing)
    }

    /// What the RM and AMs see.
    pub fn public(self) -> PublicState {
        match self {
            Self::New | Self::Localizing | Self::Localized => PublicState::New,
            Self::Running | Self::Killing => PublicState::Running,
            _ => PublicState::Complete,
        }
    }
}

impl fmt::Display for ContainerState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a container is being killed; it becomes the exit status once the process is gone.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct KillReason {
    pub exit_status: i32,
    pub diagnostics: String,
}

#[derive(Clone, Debug)]
pub struct Container {
    pub id: ContainerId,
    pub user: String,
    pub resource: Resource,
    pub state: ContainerState,
    /// `exit_status::INVALID` until the container completes.
    pub exit_status: i32,
    pub diagnostics: String,
    pub pid: Option<ProcId>,
    pub work_dir: String,
    pub log_dir: String,
    pub kill: Option<KillReason>,
}

impl Container {
    pub fn new(id: ContainerId, user: String, resource: Resource, work_dir: String, log_dir: String) -> Container {
        Container {
            id,
            user,
            resource,
            state: ContainerState::New,
            exit_status: exit_status::INVALID,
            diagnostics: String::new(),
            pid: None,
            work_dir,
            log_dir,
            kill: None,
        }
    }

    /// Moves to `to` if ContainerImpl allows it; otherwise YARN logs "Can't handle this event
    /// at current state" and stays put, and so do we.
    pub fn transition(&mut self, cx: &mut Cx, to: ContainerState) -> bool {
        if !self.state.can_become(to) {
            cx.trace("nm.container.invalid", format!("{} {} -> {}", self.id, self.state, to));
            return false;
        }
        cx.trace("nm.container", format!("{} {} -> {}", self.id, self.state, to));
        self.state = to;
        true
    }

    /// Appends one diagnostic line as YARN's `addDiagnostics` does (each ends with a newline).
    pub fn add_diagnostics(&mut self, d: &str) {
        self.diagnostics.push_str(d);
        if !d.ends_with('\n') {
            self.diagnostics.push('\n');
        }
    }

    /// The registration's form of [`Container::status`], with the container's size.
    pub fn nm_status(&self) -> NMContainerStatus {
        NMContainerStatus {
            container_id: self.id,
            state: self.state.public(),
            exit_status: self.exit_status,
            diagnostics: self.diagnostics.clone(),
            resource: self.resource,
        }
    }

    pub fn status(&self) -> ContainerStatus {
        ContainerStatus {
            container_id: self.id,
            state: self.state.public(),
            exit_status: self.exit_status,
            diagnostics: self.diagnostics.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ContainerState::*;

    #[test]
    fn lifecycle_transitions() {
        for (a, b) in [
            (New, Localizing),
            (Localizing, Localized),
            (Localized, Running),
            (Running, Killing),
            (Killing, ContainerCleanedupAfterKill),
            (ContainerCleanedupAfterKill, Done),
            (Localizing, LocalizationFailed),
            (Running, ExitedWithFailure),
        ] {
            assert!(a.can_become(b), "{a} -> {b}");
        }
        for (a, b) in [(Done, Running), (ExitedWithSuccess, Killing), (New, Running), (Killing, Running)] {
            assert!(!a.can_become(b), "{a} -> {b}");
        }
        assert_eq!(ContainerCleanedupAfterKill.name(), "CONTAINER_CLEANEDUP_AFTER_KILL");
        assert_eq!(serde_json::to_string(&ContainerResourcesCleaningup).unwrap(), "\"CONTAINER_RESOURCES_CLEANINGUP\"");
    }
}
