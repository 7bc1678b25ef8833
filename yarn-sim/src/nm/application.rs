//! An application as one NodeManager sees it: YARN's NM-side `ApplicationState` machine.

use std::collections::BTreeSet;
use std::fmt;

use engine::Cx;
use serde::{Deserialize, Serialize};

use crate::ids::{ApplicationId, ContainerId};

/// `org.apache.hadoop.yarn.server.nodemanager.containermanager.application.ApplicationState`.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ApplicationState {
    New,
    Initing,
    Running,
    FinishingContainersWait,
    ApplicationResourcesCleaningup,
    Finished,
}

impl ApplicationState {
    pub fn name(self) -> &'static str {
        match self {
            Self::New => "NEW",
            Self::Initing => "INITING",
            Self::Running => "RUNNING",
            Self::FinishingContainersWait => "FINISHING_CONTAINERS_WAIT",
            Self::ApplicationResourcesCleaningup => "APPLICATION_RESOURCES_CLEANINGUP",
            Self::Finished => "FINISHED",
        }
    }

    fn can_become(self, to: ApplicationState) -> bool {
        use ApplicationState::*;
        matches!(
            (self, to),
            (New, Initing)
                | (Initing, Running | FinishingContainersWait | ApplicationResourcesCleaningup)
                | (Running, FinishingContainersWait | ApplicationResourcesCleaningup)
                | (FinishingContainersWait, ApplicationResourcesCleaningup)
                | (ApplicationResourcesCleaningup, Finished)
                // A finished app whose AM starts a container again (a new attempt) is re-inited.
                | (Finished, Initing)
        )
    }
}

impl fmt::Display for ApplicationState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Debug)]
pub struct Application {
    pub id: ApplicationId,
    pub user: String,
    pub state: ApplicationState,
    /// Containers not yet done, as ApplicationImpl keeps them.
    pub containers: BTreeSet<ContainerId>,
}

impl Application {
    pub fn new(id: ApplicationId, user: String) -> Application {
        Application { id, user, state: ApplicationState::New, containers: BTreeSet::new() }
    }

    pub fn transition(&mut self, cx: &mut Cx, to: ApplicationState) -> bool {
        if !self.state.can_become(to) {
            cx.trace("nm.app.invalid", format!("{} {} -> {}", self.id, self.state, to));
            return false;
        }
        cx.trace("nm.app", format!("{} {} -> {}", self.id, self.state, to));
        self.state = to;
        true
    }

    /// Ending or ended: new containers for it restart the lifecycle.
    pub fn is_finishing(&self) -> bool {
        matches!(
            self.state,
            ApplicationState::FinishingContainersWait | ApplicationState::ApplicationResourcesCleaningup | ApplicationState::Finished
        )
    }
}
