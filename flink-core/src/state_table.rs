//! Keyed state of one operator, Flink's heap `StateTable`: a hash table for the record path
//! (one probe per record, where an ordered tree costs a cache miss per level on millions of
//! keys), and entries sorted by key whenever they are read out as a whole (snapshots, the end
//! of a bounded input), so nothing that leaves the table depends on hash order.

use std::hash::{BuildHasherDefault, Hash, Hasher};

/// The engine's stable hash: no per-process seed, so the same keys land in the same buckets on
/// every run and platform.
#[derive(Default)]
pub struct StableHasher(engine::trace::Fnv64);

impl Hasher for StableHasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.write(bytes);
    }
    fn write_u8(&mut self, v: u8) {
        self.0.write_u64(v as u64);
    }
    fn write_u32(&mut self, v: u32) {
        self.0.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0.write_u64(v);
    }
    fn write_i64(&mut self, v: i64) {
        self.0.write_u64(v as u64);
    }
    fn write_usize(&mut self, v: usize) {
        self.0.write_u64(v as u64);
    }
    fn finish(&self) -> u64 {
        self.0.finish()
    }
}

// Lookup and update only: whole-table reads go through `sorted` / `into_sorted`, never through
// the map's own iteration order.
#[allow(clippy::disallowed_types)]
type Map<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<StableHasher>>;

pub struct StateTable<K, V> {
    map: Map<K, V>,
}

impl<K: Hash + Eq + Ord, V> Default for StateTable<K, V> {
    fn default() -> Self {
        StateTable { map: Map::default() }
    }
}

impl<K: Hash + Eq + Ord, V> StateTable<K, V> {
    pub fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        self.map.get_mut(k)
    }
    pub fn insert(&mut self, k: K, v: V) {
        self.map.insert(k, v);
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
    /// Every entry, in key order.
    pub fn sorted(&self) -> Vec<(&K, &V)> {
        #[allow(clippy::disallowed_methods)] // sorted right below
        let mut v: Vec<(&K, &V)> = self.map.iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(b.0));
        v
    }
    /// Empties the table, returning its entries in key order.
    pub fn into_sorted(self) -> Vec<(K, V)> {
        let mut v: Vec<(K, V)> = self.map.into_iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_table_reads_are_in_key_order_whatever_the_insertion_order() {
        let mut a = StateTable::default();
        let mut b = StateTable::default();
        for i in 0..1000i64 {
            a.insert(i * 7919 % 1000, i);
        }
        for i in (0..1000i64).rev() {
            b.insert(i * 7919 % 1000, i);
        }
        let ka: Vec<i64> = a.sorted().into_iter().map(|(k, _)| *k).collect();
        let kb: Vec<i64> = b.into_sorted().into_iter().map(|(k, _)| k).collect();
        assert_eq!(ka, (0..1000).collect::<Vec<_>>());
        assert_eq!(ka, kb);
    }

    #[test]
    fn updates_in_place() {
        let mut t: StateTable<String, i64> = StateTable::default();
        t.insert("a".into(), 1);
        *t.get_mut(&"a".to_string()).unwrap() += 41;
        assert_eq!(t.len(), 1);
        assert_eq!(t.sorted(), vec![(&"a".to_string(), &42)]);
        assert!(t.get_mut(&"b".to_string()).is_none());
    }
}
