//! The RM's table of nodes: `RMNode`s in slots, found by `NodeId` through a hash index and
//! walked in `NodeId` order through an ordered one.
//!
//! Why not one `BTreeMap<NodeId, RMNode>`: every heartbeat looks its node up, and on a
//! 10,000-node cluster that is a dozen host-string comparisons, each chasing a pointer into
//! a cold string. The hash index answers with one hash and one comparison (of one packed
//! word, for the IPv4 hosts every NodeManager registers with). It is only ever
//! looked up, never iterated; everything that walks nodes (reports, the liveness monitor)
//! goes through the ordered index, in the same order as before. Nodes are never removed (a
//! lost node stays, LOST), so slots never move.

use std::collections::BTreeMap;
// Lookup-only, with a fixed hasher: never iterated.
#[allow(clippy::disallowed_types)]
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::ops::Index;

use crate::ids::{Host, NodeId};

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

/// Hashes the one `u64` an address-host node id packs into: a multiply and a fold.
#[derive(Default)]
struct Packed(u64);

impl Hasher for Packed {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }
    fn write_u64(&mut self, v: u64) {
        let m = (self.0 ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        self.0 = m ^ (m >> 32);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

#[derive(Default)]
pub struct NodeTable {
    slots: Vec<RMNode>,
    ordered: BTreeMap<NodeId, NodeSlot>,
    /// Nodes whose host is an IPv4 address (every NodeManager's), by address and port packed
    /// into one word: a small table, one multiply to hash, no string to compare.
    #[allow(clippy::disallowed_types)] // lookup-only, fixed hasher: never iterated
    by_ip: HashMap<u64, NodeSlot, BuildHasherDefault<Packed>>,
    /// Nodes with a host name.
    #[allow(clippy::disallowed_types)] // lookup-only, fixed hasher: never iterated
    index: HashMap<NodeId, NodeSlot, BuildHasherDefault<Fnv>>,
}

fn packed(id: &NodeId) -> Option<u64> {
    match &id.host {
        Host::Ip(ip) => Some((u32::from(*ip) as u64) << 16 | id.port as u64),
        Host::Name(_) => None,
    }
}

impl NodeTable {
    pub fn slot(&self, id: &NodeId) -> Option<NodeSlot> {
        match packed(id) {
            Some(k) => self.by_ip.get(&k).copied(),
            None => self.index.get(id).copied(),
        }
    }

    /// Starts loading a node's entry into the cache (a hint: changes nothing).
    pub fn prefetch(&self, id: &NodeId) {
        if let Some(s) = self.slot(id) {
            let at = &self.slots[s.0 as usize] as *const RMNode as *const u8;
            for line in 0..std::mem::size_of::<RMNode>().div_ceil(64) + 1 {
                engine::prefetch(at.wrapping_add(64 * line));
            }
        }
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
                match packed(&id) {
                    Some(k) => self.by_ip.insert(k, s),
                    None => self.index.insert(id, s),
                };
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
