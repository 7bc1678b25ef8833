//! The RM's table of nodes: `RMNode`s in slots, found by `NodeId` through a hash index and
//! walked in `NodeId` order through an ordered one.
//!
//! Why not one `BTreeMap<NodeId, RMNode>`: every heartbeat looks its node up, and on a
//! 10,000-node cluster that is a dozen host-string comparisons, each chasing a pointer into
//! a cold string. The hash index answers with one hash and one comparison. It is only ever
//! looked up, never iterated; everything that walks nodes (reports, the liveness monitor)
//! goes through the ordered index, in the same order as before. Nodes are never removed (a
//! lost node stays, LOST), so slots never move.

use std::collections::BTreeMap;
// Lookup-only, with a fixed hasher: never iterated.
#[allow(clippy::disallowed_types)]
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Index;

use crate::ids::NodeId;

use super::rmnode::RMNode;

/// The engine's stable hash: a fixed hash keeps lookups free of per-process seeds.
#[derive(Default)]
struct Fnv(engine::trace::Fnv64);

impl Hasher for Fnv {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn write_u16(&mut self, v: u16) {
        self.0.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// Where a node sits in the table; valid for the table's life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NodeSlot(u32);

#[derive(Default)]
pub struct NodeTable {
    slots: Vec<RMNode>,
    ordered: BTreeMap<NodeId, NodeSlot>,
    #[allow(clippy::disallowed_types)] // lookup-only, fixed hasher: never iterated
    index: HashMap<NodeId, NodeSlot, BuildHasherDefault<Fnv>>,
}

impl NodeTable {
    pub fn slot(&self, id: &NodeId) -> Option<NodeSlot> {
        self.index.get(id).copied()
    }

    pub fn get(&self, id: &NodeId) -> Option<&RMNode> {
        self.slot(id).map(|s| &self.slots[s.0 as usize])
    }

    pub fn get_mut(&mut self, id: &NodeId) -> Option<&mut RMNode> {
        self.slot(id).map(|s| &mut self.slots[s.0 as usize])
    }

    pub fn at_mut(&mut self, slot: NodeSlot) -> &mut RMNode {
        &mut self.slots[slot.0 as usize]
    }

    /// Adds a node, or replaces the one with its id in place.
    pub fn insert(&mut self, id: NodeId, node: RMNode) {
        match self.slot(&id) {
            Some(s) => self.slots[s.0 as usize] = node,
            None => {
                let s = NodeSlot(self.slots.len() as u32);
                self.slots.push(node);
                self.ordered.insert(id.clone(), s);
                self.index.insert(id, s);
            }
        }
    }

    /// Every node, in `NodeId` order.
    pub fn values(&self) -> impl Iterator<Item = &RMNode> {
        self.ordered.values().map(|s| &self.slots[s.0 as usize])
    }
}

impl Index<&NodeId> for NodeTable {
    type Output = RMNode;
    fn index(&self, id: &NodeId) -> &RMNode {
        self.get(id).expect("a known node")
    }
}

impl Index<NodeSlot> for NodeTable {
    type Output = RMNode;
    fn index(&self, slot: NodeSlot) -> &RMNode {
        &self.slots[slot.0 as usize]
    }
}
