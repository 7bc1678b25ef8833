//! ResourceTrackerService (NM registration and heartbeats, where the capacity scheduler
//! allocates) and the NMLivelinessMonitor.

use engine::Cx;

use crate::ids::{ContainerId, NodeId};
use crate::proto::{NodeAction, YarnMsg};
use crate::records::{diagnostics, exit_status, ContainerState, ContainerStatus, NMContainerStatus, NodeState, NodeUpdate, Resource};

use super::rmcontainer::RMContainerState;
use super::rmnode::RMNode;
use super::ResourceManager;

impl ResourceManager {
    pub(super) fn register_node(
        &mut self,
        cx: &mut Cx,
        node_id: NodeId,
        http_address: String,
        resource: Resource,
        containers: Vec<NMContainerStatus>,
    ) -> YarnMsg {
        let now = cx.now();
        let was = self.nodes.get(&node_id).map(|n| n.state);
        if was.is_some_and(|s| s.is_active()) {
            // A reconnect (NM restart): containers that ended meanwhile end with their own
            // status (a recovering NM read it from the exit code file) ...
            for s in containers.iter().filter(|s| s.state == ContainerState::Complete) {
                let live_here = self.containers.get(&s.container_id).is_some_and(|c| c.is_live() && *c.node() == node_id);
                if live_here {
                    self.complete_container(cx, s.container_id, s.exit_status, &s.diagnostics, false);
                }
            }
            // ... and containers it no longer reports at all are gone.
            let running: std::collections::BTreeSet<ContainerId> =
                containers.iter().filter(|s| s.state != ContainerState::Complete).map(|s| s.container_id).collect();
            let gone: Vec<ContainerId> = self.nodes[&node_id].containers.iter().filter(|c| !running.contains(c)).copied().collect();
            for cid in gone {
                self.complete_container(cx, cid, exit_status::ABORTED, diagnostics::LOST_CONTAINER, false);
            }
            if self.nodes[&node_id].counts_in_cluster() {
                self.cluster_total = self.cluster_total.sub(&self.nodes[&node_id].total);
            }
            let n = self.nodes.get_mut(&node_id).expect("present");
            n.total = resource;
            n.http_address = http_address.clone();
            n.state = NodeState::Running;
            n.last_heartbeat = now;
            n.last_response_id = 0;
        } else {
            self.nodes.insert(node_id.clone(), RMNode::new(node_id.clone(), http_address.clone(), resource, now));
        }
        self.cluster_total = self.cluster_total.add(&resource);
        // Work-preserving recovery: containers of recovered applications this RM has not
        // seen are rebuilt from the report (the node is known now, so usage lands on it).
        for s in &containers {
            self.recover_container(cx, &node_id, &http_address, s);
        }
        for s in &containers {
            if s.state == ContainerState::Running {
                if let Some(c) = self.containers.get_mut(&s.container_id).filter(|c| c.is_live() && *c.node() == node_id) {
                    if c.launched(now) {
                        self.allocated_unlaunched.remove(&s.container_id);
                    }
                }
            }
        }
        let from = was.map(|s| s.name()).unwrap_or("NEW");
        cx.trace("rm.node.state", format!("{node_id} {from}->RUNNING {resource}"));
        if was == Some(NodeState::Lost) {
            self.broadcast_node_update(&node_id, NodeState::Running);
        }
        YarnMsg::RegisterNodeManagerResponse {
            action: NodeAction::Normal,
            rm_identifier: self.cluster_ts,
            heartbeat_interval_ms: self.conf.nm_heartbeat_interval_ms,
            diagnostics: String::new(),
            container_token_master_key: self.secrets.container_token_master_key.clone(),
            nm_token_master_key: self.secrets.nm_token_master_key.clone(),
        }
    }

    /// One NM heartbeat: container statuses in, cleanup orders and new allocations out. With
    /// nothing pending and nothing changing this is O(containers on the node).
    pub(super) fn node_heartbeat(
        &mut self,
        cx: &mut Cx,
        node_id: NodeId,
        response_id: u64,
        statuses: Vec<ContainerStatus>,
        healthy: bool,
        health_report: String,
    ) -> YarnMsg {
        let now = cx.now();
        let next_heartbeat_ms = self.conf.nm_heartbeat_interval_ms;
        let resync = || YarnMsg::NodeHeartbeatResponse {
            response_id: response_id + 1,
            action: NodeAction::Resync,
            containers_to_cleanup: Vec::new(),
            apps_to_cleanup: Vec::new(),
            containers_to_be_removed: Vec::new(),
            next_heartbeat_ms,
        };
        let Some(slot) = self.nodes.slot(&node_id) else { return resync() };
        if !self.nodes.at_mut(slot).state.is_active() {
            return resync();
        }
        // A running container of a recovered app that this RM has not rebuilt (the AM started
        // it after the node re-registered): have the node register again, with the container's
        // size, rather than kill work the application still owns.
        if statuses.iter().any(|s| s.state != ContainerState::Complete && self.recoverable(&s.container_id)) {
            cx.trace("rm.node.resync", format!("{node_id} reports containers of recovered applications"));
            return resync();
        }
        let node = self.nodes.at_mut(slot);
        if let Some(state) = node.health_update(healthy, health_report, now) {
            let total = node.total;
            cx.trace("rm.node.state", format!("{node_id} ->{state}"));
            if state == NodeState::Running {
                self.cluster_total = self.cluster_total.add(&total);
            } else {
                self.cluster_total = self.cluster_total.sub(&total);
            }
            self.broadcast_node_update(&node_id, state);
        }
        let mut acked = Vec::new();
        let mut kill = Vec::new();
        for s in statuses {
            let cid = s.container_id;
            // One lookup per status: at 10,000 nodes the container table is deep and cold, and
            // a RUNNING report of a container the RM knows live here (nearly all of them) is
            // settled on the spot.
            let known = self.containers.get_mut(&cid).filter(|c| c.is_live() && *c.node() == node_id);
            if let (ContainerState::Running, Some(c)) = (s.state, known.as_deref()) {
                if c.state == RMContainerState::Running {
                    continue;
                }
            }
            let known_live = known.map(|c| c.state);
            match (s.state, known_live) {
                (ContainerState::Complete, Some(_)) => {
                    self.complete_container(cx, cid, s.exit_status, &s.diagnostics, false);
                    if !self.awaiting_am_ack.contains(&cid) {
                        acked.push(cid);
                    }
                }
                (ContainerState::Complete, None) => {
                    if !self.awaiting_am_ack.contains(&cid) || !self.am_may_still_pull(&cid) {
                        self.awaiting_am_ack.remove(&cid);
                        acked.push(cid);
                    }
                }
                (ContainerState::Running | ContainerState::New, Some(_)) => {
                    if s.state == ContainerState::Running {
                        let c = self.containers.get_mut(&cid).expect("live");
                        let was = c.state;
                        if c.launched(now) {
                            self.allocated_unlaunched.remove(&cid);
                            cx.trace("rm.container.state", format!("{cid} {was}->RUNNING"));
                        }
                    }
                }
                // Ended as far as the RM knows (released, killed, of an ended or unknown app):
                // the NM must stop it.
                (ContainerState::Running | ContainerState::New, None) => kill.push(cid),
            }
        }
        // Nodes are never removed: the slot still holds this node.
        let node = self.nodes.at_mut(slot);
        node.to_cleanup.extend(kill);
        if node.schedulable() && self.scheduler.pending > 0 {
            let free = node.available();
            let assignments = self.scheduler.assign(free, &self.cluster_total, &self.conf.minimum_allocation);
            if !assignments.is_empty() {
                self.place_assignments(cx, &node_id, assignments);
            }
        }
        let node = self.nodes.at_mut(slot);
        node.last_response_id = response_id + 1;
        YarnMsg::NodeHeartbeatResponse {
            response_id: response_id + 1,
            action: NodeAction::Normal,
            containers_to_cleanup: drain_set(&mut node.to_cleanup),
            apps_to_cleanup: drain_set(&mut node.apps_to_cleanup),
            containers_to_be_removed: acked,
            next_heartbeat_ms,
        }
    }

    /// Whether a live attempt may still pull this container's completion (its own, or the
    /// next one with kept containers); if not, the NM may forget it.
    fn am_may_still_pull(&self, cid: &ContainerId) -> bool {
        self.apps.get(&cid.app()).is_some_and(|a| {
            !a.state.is_final()
                && a.current_attempt()
                    .is_some_and(|at| !at.state.is_final() && (at.id == cid.attempt || a.ctx.keep_containers_across_application_attempts))
        })
    }

    /// Every current attempt learns of a node's state change in its next allocate response.
    fn broadcast_node_update(&mut self, node_id: &NodeId, state: NodeState) {
        for app in self.apps.values_mut() {
            if app.state.is_final() {
                continue;
            }
            if let Some(at) = app.attempts.last_mut() {
                at.updated_nodes.push(NodeUpdate { node_id: node_id.clone(), state });
            }
        }
    }

    pub(super) fn check_nm_liveness(&mut self, cx: &mut Cx) {
        let now = cx.now();
        let expiry = self.conf.nm_expiry;
        let lost: Vec<NodeId> =
            self.nodes.values().filter(|n| n.state.is_active() && now.since(n.last_heartbeat) >= expiry).map(|n| n.id.clone()).collect();
        for id in lost {
            self.node_lost(cx, &id);
        }
    }

    /// A node fell silent: it leaves the cluster and all its containers are ABORTED.
    fn node_lost(&mut self, cx: &mut Cx, id: &NodeId) {
        let Some(node) = self.nodes.get_mut(id) else { return };
        let from = node.state;
        let counted = node.counts_in_cluster();
        node.state = NodeState::Lost;
        node.to_cleanup.clear();
        node.apps_to_cleanup.clear();
        let total = node.total;
        let containers: Vec<ContainerId> = node.containers.iter().copied().collect();
        if counted {
            self.cluster_total = self.cluster_total.sub(&total);
        }
        cx.trace("rm.node.state", format!("{id} {from}->LOST"));
        self.broadcast_node_update(id, NodeState::Lost);
        for cid in containers {
            self.complete_container(cx, cid, exit_status::ABORTED, diagnostics::LOST_CONTAINER, false);
        }
    }
}

/// A set's contents in order, leaving it empty; an empty set (a steady heartbeat's) costs no
/// walk of a tree.
fn drain_set<T: Ord>(set: &mut std::collections::BTreeSet<T>) -> Vec<T> {
    if set.is_empty() {
        return Vec::new();
    }
    std::mem::take(set).into_iter().collect()
}
