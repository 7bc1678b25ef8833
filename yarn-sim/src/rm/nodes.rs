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

/// Nodes whose host is an IPv4 address, by address and port packed into one word: an
/// open-addressing table of (key, slot) pairs in one array, four to a cache line. Where an
/// entry would be is a multiply away, so the sim's prefetch hint can load it before the
/// lookup ([`NodeTable::prefetch`]); `std`'s map keeps its control bytes and entries apart
/// and hides where they are. Lookup-only: never iterated, so its order cannot leak out.
#[derive(Default)]
struct IpIndex {
    /// Power-of-two length (or empty); `EMPTY` marks a free entry. Packed keys use 48 bits.
    entries: Vec<(u64, u32)>,
    len: usize,
}

const EMPTY: u64 = u64::MAX;

impl IpIndex {
    fn home(&self, key: u64) -> usize {
        // A multiply spreads the address bits; the top bits pick the entry.
        let h = key.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & (self.entries.len() - 1)
    }
    fn get(&self, key: u64) -> Option<NodeSlot> {
        if self.entries.is_empty() {
            return None;
        }
        let mask = self.entries.len() - 1;
        let mut i = self.home(key);
        loop {
            let (k, s) = self.entries[i];
            if k == key {
                return Some(NodeSlot(s));
            }
            if k == EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }
    fn insert(&mut self, key: u64, slot: NodeSlot) {
        if (self.len + 1) * 2 > self.entries.len() {
            let grown = vec![(EMPTY, 0); (self.entries.len() * 2).max(16)];
            let old = std::mem::replace(&mut self.entries, grown);
            self.len = 0;
            for (k, s) in old.into_iter().filter(|(k, _)| *k != EMPTY) {
                self.insert(k, NodeSlot(s));
            }
        }
        let mask = self.entries.len() - 1;
        let mut i = self.home(key);
        loop {
            let e = &mut self.entries[i];
            if e.0 == key || e.0 == EMPTY {
                if e.0 == EMPTY {
                    self.len += 1;
                }
                *e = (key, slot.0);
                return;
            }
            i = (i + 1) & mask;
        }
    }
    /// Where `key`'s entry most likely is.
    fn home_ptr(&self, key: u64) -> Option<*const u8> {
        (!self.entries.is_empty()).then(|| &self.entries[self.home(key)] as *const (u64, u32) as *const u8)
    }
}

#[derive(Default)]
pub struct NodeTable {
    slots: Vec<RMNode>,
    ordered: BTreeMap<NodeId, NodeSlot>,
    /// Nodes whose host is an IPv4 address (every NodeManager's): one multiply to find, no
    /// string to compare.
    by_ip: IpIndex,
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
            Some(k) => self.by_ip.get(k),
            None => self.index.get(id).copied(),
        }
    }

    /// Starts loading a node's entry into the cache (a hint: changes nothing), in two stages
    /// some events apart: `0` loads where its index entry is (no memory read), `1` looks it
    /// up (now cached) and loads the node.
    pub fn prefetch(&self, id: &NodeId, stage: u8) {
        if stage == 0 {
            if let Some(at) = packed(id).and_then(|k| self.by_ip.home_ptr(k)) {
                engine::prefetch(at);
            }
            return;
        }
        if let Some(s) = self.slot(id) {
            let at = &self.slots[s.0 as usize] as *const RMNode as *const u8;
            engine::prefetch_range(at, RMNode::HOT_BYTES);
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
                    None => {
                        self.index.insert(id, s);
                    }
                }
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

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::Ipv4Addr;

    use super::*;

    /// The open-addressing index against an ordered map, through its growth: every key found,
    /// replaced in place, absent ones not found.
    #[test]
    fn ip_index_finds_what_was_inserted() {
        let mut index = IpIndex::default();
        let mut reference = BTreeMap::new();
        assert_eq!(index.get(7), None);
        for n in 0..3000u64 {
            // Hosts 127.0.x.y on two ports, inserted out of order.
            let key = ((0x7f00_0000 + (n * 7919 % 3000)) << 16) | (8041 + n % 2);
            index.insert(key, NodeSlot(n as u32));
            reference.insert(key, NodeSlot(n as u32));
        }
        for (k, s) in &reference {
            assert_eq!(index.get(*k), Some(*s));
        }
        let first = *reference.keys().next().unwrap();
        index.insert(first, NodeSlot(99_999));
        assert_eq!(index.get(first), Some(NodeSlot(99_999)));
        assert_eq!(index.len, reference.len());
        assert_eq!(index.get((u32::from(Ipv4Addr::new(10, 0, 0, 1)) as u64) << 16 | 8041), None);
    }
}
