//! NodeStatusUpdater: the NM side of the ResourceTracker protocol — register until the RM
//! answers, then heartbeat at the interval the RM dictates, answered or not.

use std::time::Duration;

use engine::{Addr, Cx, Time, TimerId};

use crate::ids::NodeId;
use crate::proto::YarnMsg;
use crate::records::{ContainerStatus, NMContainerStatus, Resource};

pub const STATUS_UPDATER_TIMER: TimerId = 1;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum UpdaterState {
    /// Sending RegisterNodeManager until a NORMAL answer arrives.
    Registering,
    /// Heartbeating.
    Registered,
    /// The RM said SHUTDOWN.
    Stopped,
}

#[derive(Debug)]
pub struct NodeStatusUpdater {
    pub state: UpdaterState,
    /// The last response id received (0 after each registration).
    pub response_id: u64,
    pub heartbeat_interval: Duration,
    pub rm_identifier: Option<u64>,
    /// When the RM last answered.
    pub last_update: Option<Time>,
    pub rm: Addr,
    retry_interval: Duration,
}

impl NodeStatusUpdater {
    pub fn new(rm: Addr, heartbeat_interval: Duration, retry_interval: Duration) -> NodeStatusUpdater {
        NodeStatusUpdater {
            state: UpdaterState::Registering,
            response_id: 0,
            heartbeat_interval,
            rm_identifier: None,
            last_update: None,
            rm,
            retry_interval,
        }
    }

    /// Sends a registration and arms the retry.
    pub fn register(&mut self, cx: &mut Cx, node_id: &NodeId, http_address: &str, resource: Resource, containers: Vec<NMContainerStatus>) {
        self.state = UpdaterState::Registering;
        cx.send(
            self.rm,
            YarnMsg::RegisterNodeManager { node_id: node_id.clone(), http_address: http_address.to_string(), resource, containers },
        );
        cx.set_timer(self.retry_interval, STATUS_UPDATER_TIMER);
    }

    /// A NORMAL registration answer: start heartbeating.
    pub fn registered(&mut self, cx: &mut Cx, rm_identifier: u64, heartbeat_interval_ms: u64) {
        self.state = UpdaterState::Registered;
        self.response_id = 0;
        self.rm_identifier = Some(rm_identifier);
        self.last_update = Some(cx.now());
        if heartbeat_interval_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(heartbeat_interval_ms);
        }
        cx.trace("nm.registered", format!("rm {rm_identifier}, heartbeat every {} ms", self.heartbeat_interval.as_millis()));
        cx.set_tick_timer(self.heartbeat_interval, STATUS_UPDATER_TIMER);
    }

    /// Sends one heartbeat and arms the next: heartbeats continue while the RM is silent.
    pub fn heartbeat(&mut self, cx: &mut Cx, node_id: &NodeId, containers: Vec<ContainerStatus>) {
        cx.send(
            self.rm,
            YarnMsg::NodeHeartbeat {
                node_id: node_id.clone(),
                response_id: self.response_id,
                containers,
                healthy: true,
                health_report: String::new(),
            },
        );
        // On the millisecond tick, as the JVM's wait: the sim fires a burst of heartbeats
        // from one event.
        cx.set_tick_timer(self.heartbeat_interval, STATUS_UPDATER_TIMER);
    }

    /// Records a heartbeat answer; false if it is stale (not registered, or an older id).
    pub fn accept_response(&mut self, now: Time, response_id: u64, next_heartbeat_ms: u64) -> bool {
        if self.state != UpdaterState::Registered || response_id < self.response_id {
            return false;
        }
        self.response_id = response_id;
        self.last_update = Some(now);
        if next_heartbeat_ms > 0 {
            self.heartbeat_interval = Duration::from_millis(next_heartbeat_ms);
        }
        true
    }
}
