//! `RMNode`: a NodeManager as the RM sees it — its lifecycle (`NodeState`), its capacity and
//! the containers placed on it (the scheduler's `SchedulerNode` view), and what the next
//! heartbeat response must tell it.

use std::collections::BTreeSet;

use engine::Time;

use crate::ids::{ApplicationId, ContainerId, NodeId};
use crate::records::{NodeState, Resource};

/// Laid out by hand (`repr(C)`, one node to a run of whole cache lines): what every
/// heartbeat reads and writes comes first and fills the first two lines, which are all the
/// ResourceManager's prefetch hint asks for ([`RMNode::HOT_BYTES`]). At 10,000 NodeManagers
/// each node is touched once a second and has left the caches by then; left to the compiler
/// and packed at 200 bytes, a node straddled four lines.
#[derive(Clone, Debug)]
#[repr(C, align(64))]
pub struct RMNode {
    pub state: NodeState,
    pub healthy: bool,
    pub last_heartbeat: Time,
    /// The response id of the last heartbeat response sent.
    pub last_response_id: u64,
    pub health_report: String,
    /// Containers the NM must stop, drained into the next response. Should that response be
    /// lost, the NM keeps reporting the container RUNNING and the RM asks again.
    pub to_cleanup: BTreeSet<ContainerId>,
    /// Apps whose end the NM has not been told of yet.
    pub apps_to_cleanup: BTreeSet<ApplicationId>,
    pub total: Resource,
    pub used: Resource,
    // Read by reports, registration and placement, not by an idle heartbeat.
    pub id: NodeId,
    pub http_address: String,
    /// Live containers placed here.
    pub containers: BTreeSet<ContainerId>,
}

impl RMNode {
    /// The bytes an idle heartbeat touches: everything before `id`.
    pub const HOT_BYTES: usize = std::mem::offset_of!(RMNode, id);

    pub fn new(id: NodeId, http_address: String, total: Resource, now: Time) -> Self {
        RMNode {
            id,
            http_address,
            state: NodeState::Running,
            total,
            used: Resource::ZERO,
            containers: BTreeSet::new(),
            last_heartbeat: now,
            healthy: true,
            health_report: String::new(),
            last_response_id: 0,
            to_cleanup: BTreeSet::new(),
            apps_to_cleanup: BTreeSet::new(),
        }
    }

    /// Whether the scheduler may place containers here.
    pub fn schedulable(&self) -> bool {
        self.state == NodeState::Running
    }

    /// Whether its capacity counts toward the cluster's (YARN drops LOST nodes and, for
    /// scheduling, unhealthy ones).
    pub fn counts_in_cluster(&self) -> bool {
        self.state == NodeState::Running
    }

    pub fn available(&self) -> Resource {
        self.total.sub(&self.used)
    }

    /// RUNNING <-> UNHEALTHY from the health report; returns the new state if it changed.
    pub fn health_update(&mut self, healthy: bool, report: String, now: Time) -> Option<NodeState> {
        self.healthy = healthy;
        self.health_report = report;
        self.last_heartbeat = now;
        let next = match (self.state, healthy) {
            (NodeState::Running, false) => NodeState::Unhealthy,
            (NodeState::Unhealthy, true) => NodeState::Running,
            _ => return None,
        };
        self.state = next;
        Some(next)
    }

    pub fn place(&mut self, id: ContainerId, r: Resource) {
        if self.containers.insert(id) {
            self.used = self.used.add(&r);
        }
    }

    pub fn remove(&mut self, id: &ContainerId, r: Resource) {
        if self.containers.remove(id) {
            self.used = self.used.sub(&r);
        }
    }
}

// What an idle heartbeat touches fits the two lines the prefetch hint loads, and a node starts
// on a line of its own: checked at every build.
const _: () = assert!(RMNode::HOT_BYTES <= 2 * 64 && std::mem::align_of::<RMNode>() == 64);
