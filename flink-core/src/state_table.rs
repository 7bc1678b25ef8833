//! Keyed state in memory, Flink's heap backend in miniature (`StateTable`: one `StateMap` per
//! key group). A key's value (a record) lives as a compact row in one byte arena shared by the
//! whole table, and the maps hold only the row's offset: no allocation per key, about 45 bytes
//! per `(i64, i64)` entry instead of a boxed record per key.
//!
//! Why per key group: a snapshot writes key group after key group (Flink's
//! `KeyGroupsStateHandle` layout) without sorting or regrouping the keys, a restore takes whole
//! key groups, and each map grows on its own, so no single rehash doubles the whole state.
//!
//! Determinism: integer keys (the common case) go to an open-addressing table with a fixed
//! hash, so its iteration order is a function of the insertions alone and replays
//! identically; other keys go to an ordered map. Nothing here depends on the process, the clock or an OS seed.
//!
//! An arena entry is a 6-byte header (its key group as a `u16` whose top bit marks the entry
//! dead, and its length as a `u32`, little endian), the key (in [`crate::codec`]'s value
//! layout) and the row. Rows are
//! fixed-width where values are (an int stays 8 bytes whatever its size), so updating an
//! aggregate overwrites its row in place; a row that changes length (a longer string) moves to
//! the end of the arena, and the old entry is flagged dead and is garbage until the arena is
//! compacted. A snapshot is one sequential pass over the arena that sorts the live entries
//! into their key groups' buffers: no random reads, no sort. Its entries are the arena's bytes
//! as they are, and the state file carries them raw after its JSON header (see
//! [`crate::runtime::ChainState::to_bytes`]).

use std::collections::BTreeMap;

use engine::prefetch;
use serde::{Deserialize, Serialize};

use crate::codec::{put_value, Reader, V_FLOAT, V_INT, V_STR};
use crate::keygroup;
use crate::record::{Fields, Record, Value};

/// A Value usable as an ordered map key (Value holds floats, so it is not `Ord`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub(crate) enum Key {
    Int(i64),
    Float(u64),
    Str(String),
}

impl Key {
    pub(crate) fn of(v: &Value) -> Key {
        match v {
            Value::Int(i) => Key::Int(*i),
            Value::Float(f) => Key::Float(f.to_bits()),
            Value::Str(s) => Key::Str(s.clone()),
        }
    }
    pub(crate) fn value(&self) -> Value {
        match self {
            Key::Int(i) => Value::Int(*i),
            Key::Float(b) => Value::Float(f64::from_bits(*b)),
            Key::Str(s) => Value::Str(s.clone()),
        }
    }
}

/// A fixed mix of the key's bits (splitmix64's finalizer): deterministic across processes,
/// and good in the low bits the table indexes with, even for sequential keys.
fn mix(k: i64) -> u64 {
    let mut z = (k as u64).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Marks a free slot (no row can start at the largest offset).
const FREE: u64 = u64::MAX;

/// Integer keys to row offsets: open addressing with linear probing over `(key, row)` slots,
/// so a lookup touches one cache line, where a general hash map touches its control bytes
/// and then its bucket (a random-key update is memory-bound: two misses cost twice one). Its
/// order is the slots', a function of the insertions only.
#[derive(Default)]
struct IntTable {
    slots: Vec<(i64, u64)>,
    len: usize,
}

impl IntTable {
    fn len(&self) -> usize {
        self.len
    }

    /// The row offset of `key`, inserting `new_row` for a key not there yet; true if inserted.
    fn find_or_insert(&mut self, key: i64, new_row: u64) -> (&mut u64, bool) {
        // At most 3/4 full: linear probes stay short.
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = mix(key) as usize & mask;
        loop {
            let (k, row) = self.slots[i];
            if row == FREE {
                self.slots[i] = (key, new_row);
                self.len += 1;
                return (&mut self.slots[i].1, true);
            }
            if k == key {
                return (&mut self.slots[i].1, false);
            }
            i = (i + 1) & mask;
        }
    }

    fn grow(&mut self) {
        let cap = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![(0, FREE); cap]);
        let mask = cap - 1;
        for (k, row) in old.into_iter().filter(|s| s.1 != FREE) {
            let mut i = mix(k) as usize & mask;
            while self.slots[i].1 != FREE {
                i = (i + 1) & mask;
            }
            self.slots[i] = (k, row);
        }
    }

    /// Starts loading the slot `key` probes first (a cache hint; the slot may be another key's).
    fn prefetch(&self, key: i64) {
        if let Some(slot) = self.slots.get(mix(key) as usize & self.slots.len().wrapping_sub(1)) {
            prefetch(slot as *const (i64, u64) as *const u8);
        }
    }

    fn iter(&self) -> impl Iterator<Item = (i64, u64)> + '_ {
        self.slots.iter().copied().filter(|s| s.1 != FREE)
    }

    fn rows_mut(&mut self) -> impl Iterator<Item = &mut u64> + '_ {
        self.slots.iter_mut().map(|s| &mut s.1).filter(|r| **r != FREE)
    }
}

/// The keys of one key group and where their rows are.
#[derive(Default)]
struct StateMap {
    ints: IntTable,
    others: BTreeMap<Key, u64>,
}

impl StateMap {
    fn len(&self) -> usize {
        self.ints.len() + self.others.len()
    }
}

/// One operator's keyed state on one subtask.
pub(crate) struct StateTable {
    max_parallelism: u32,
    /// Indexed by key group (grown on demand up to the max parallelism).
    groups: Vec<StateMap>,
    arena: Vec<u8>,
    /// Bytes of the arena no key points at any more.
    garbage: usize,
}

const ROW_TS: u8 = 1;
/// An arena entry's header: key group (u16, top bit: dead) and entry length (u32).
const ENTRY_HEADER: usize = 6;
/// The entry moved: a snapshot skips it (in the header's key-group word).
const ENTRY_DEAD: u16 = 0x8000;

/// A row: `flags (bit 0: has timestamp) [timestamp i64] count u32 value*`, a value
/// `0x00 i64 | 0x01 f64 | 0x02 u32 len bytes`, all little endian.
fn row_len(r: &Record) -> usize {
    let values: usize = r
        .fields
        .iter()
        .map(|v| match v {
            Value::Int(_) | Value::Float(_) => 9,
            Value::Str(s) => 5 + s.len(),
        })
        .sum();
    1 + if r.timestamp.is_some() { 8 } else { 0 } + 4 + values
}

fn write_row(out: &mut [u8], r: &Record) {
    let mut at = 0;
    let mut put = |b: &[u8]| {
        out[at..at + b.len()].copy_from_slice(b);
        at += b.len();
    };
    put(&[if r.timestamp.is_some() { ROW_TS } else { 0 }]);
    if let Some(t) = r.timestamp {
        put(&t.to_le_bytes());
    }
    put(&(r.fields.len() as u32).to_le_bytes());
    for v in r.fields.iter() {
        match v {
            Value::Int(i) => {
                put(&[V_INT]);
                put(&i.to_le_bytes());
            }
            Value::Float(f) => {
                put(&[V_FLOAT]);
                put(&f.to_le_bytes());
            }
            Value::Str(s) => {
                put(&[V_STR]);
                put(&(s.len() as u32).to_le_bytes());
                put(s.as_bytes());
            }
        }
    }
}

fn append_row(out: &mut Vec<u8>, r: &Record) {
    let start = out.len();
    out.resize(start + row_len(r), 0);
    write_row(&mut out[start..], r);
}

/// Reads one row; total (a snapshot's bytes come from a file).
fn read_row(rd: &mut Reader) -> Result<Record, String> {
    let le8 = |rd: &mut Reader, what: &str| -> Result<[u8; 8], String> { Ok(rd.bytes(8, what)?.try_into().expect("8 bytes")) };
    let flags = rd.u8("row flags")?;
    if flags & !ROW_TS != 0 {
        return Err(format!("unknown row flags {flags:#x}"));
    }
    let timestamp = if flags & ROW_TS != 0 { Some(i64::from_le_bytes(le8(rd, "row timestamp")?)) } else { None };
    let n = u32::from_le_bytes(rd.bytes(4, "row field count")?.try_into().expect("4 bytes")) as usize;
    if n > rd.remaining() / 5 {
        return Err(format!("row field count {n} exceeds what the remaining {} bytes can hold", rd.remaining()));
    }
    let mut fields = Fields::with_capacity(n);
    for _ in 0..n {
        fields.push(match rd.u8("row value tag")? {
            V_INT => Value::Int(i64::from_le_bytes(le8(rd, "row integer")?)),
            V_FLOAT => Value::Float(f64::from_le_bytes(le8(rd, "row float")?)),
            V_STR => {
                let len = u32::from_le_bytes(rd.bytes(4, "row string length")?.try_into().expect("4 bytes")) as usize;
                let s = std::str::from_utf8(rd.bytes(len, "row string")?).map_err(|_| "a row string is not valid UTF-8".to_string())?;
                Value::Str(s.to_string())
            }
            t => return Err(format!("unknown row value tag {t}")),
        });
    }
    Ok(Record { fields, timestamp })
}

/// One key group's entries in a snapshot: arena entries (key, then row). In the state file
/// the JSON header names the group, its entry count and where its bytes are in the binary
/// part; `data` holds them in memory.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct KeyGroupRows {
    pub key_group: u32,
    pub entries: u64,
    /// Offset and length of the group's bytes in the state file's binary part.
    pub offset: u64,
    pub len: u64,
    #[serde(skip)]
    pub data: Vec<u8>,
}

impl StateTable {
    pub(crate) fn new(max_parallelism: u32) -> StateTable {
        StateTable { max_parallelism: max_parallelism.max(1), groups: Vec::new(), arena: Vec::new(), garbage: 0 }
    }

    /// Sets the number of key groups; only while the table is empty (before processing or
    /// restoring), as Flink fixes the max parallelism for the life of the state.
    pub(crate) fn set_max_parallelism(&mut self, max_parallelism: u32) {
        debug_assert!(self.is_empty());
        self.max_parallelism = max_parallelism.max(1);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.groups.iter().all(|g| g.len() == 0)
    }

    fn group_mut(&mut self, key_group: u32) -> &mut StateMap {
        let i = key_group as usize;
        if self.groups.len() <= i {
            self.groups.resize_with(i + 1, StateMap::default);
        }
        &mut self.groups[i]
    }

    /// The entry at `off` of `arena`: where its row starts (from `off`) and the row.
    fn entry_at(arena: &[u8], off: u64) -> Result<(usize, Record), String> {
        let bytes = arena.get(off as usize + ENTRY_HEADER..).ok_or_else(|| format!("state entry offset {off} is past the arena"))?;
        let mut rd = Reader::new(bytes);
        rd.value()?;
        let row_at = ENTRY_HEADER + bytes.len() - rd.remaining();
        Ok((row_at, read_row(&mut rd)?))
    }

    /// The header of the entry at the start of `bytes`: key group, dead, length.
    fn header(bytes: &[u8]) -> Result<(u16, bool, usize), String> {
        let h = bytes.get(..ENTRY_HEADER).ok_or("truncated state entry header")?;
        let kg = u16::from_le_bytes([h[0], h[1]]);
        let len = u32::from_le_bytes([h[2], h[3], h[4], h[5]]) as usize;
        if len < ENTRY_HEADER || len > bytes.len() {
            return Err(format!("state entry length {len} does not fit the arena"));
        }
        Ok((kg & !ENTRY_DEAD, kg & ENTRY_DEAD != 0, len))
    }

    fn append_entry(arena: &mut Vec<u8>, key_group: u32, key: &Value, r: &Record) {
        let start = arena.len();
        arena.extend_from_slice(&(key_group as u16).to_le_bytes());
        arena.extend_from_slice(&[0; 4]);
        put_value(arena, key);
        append_row(arena, r);
        let len = (arena.len() - start) as u32;
        arena[start + 2..start + 6].copy_from_slice(&len.to_le_bytes());
    }

    /// Stores `r` as the row of the entry at `off` (whose row starts `row_at` bytes in and is
    /// `old_len` long): in place if it fits exactly, else as a new entry at the end.
    fn rewrite(
        arena: &mut Vec<u8>,
        garbage: &mut usize,
        off: u64,
        (row_at, old_len): (usize, usize),
        (kg, key): (u32, &Value),
        r: &Record,
    ) -> u64 {
        let row_start = off as usize + row_at;
        let len = row_len(r);
        if len == old_len {
            write_row(&mut arena[row_start..row_start + len], r);
            off
        } else {
            arena[off as usize + 1] |= (ENTRY_DEAD >> 8) as u8;
            *garbage += row_at + old_len;
            let at = arena.len() as u64;
            Self::append_entry(arena, kg, key, r);
            at
        }
    }

    /// Hints the cache about the slot an update of `key` will probe: a keyed operator given
    /// a batch calls this a few records ahead, so the random accesses of a large state overlap
    /// instead of stalling one after another.
    pub(crate) fn prefetch(&self, key: &Value) {
        if let Value::Int(i) = key {
            let kg = keygroup::assign_to_key_group(key, self.max_parallelism) as usize;
            if let Some(g) = self.groups.get(kg) {
                g.ints.prefetch(*i);
            }
        }
    }

    /// Looks `key` up, lets `f` compute its new value from the current one (None: a new key),
    /// stores that, and returns it.
    pub(crate) fn update(&mut self, key: &Value, f: impl FnOnce(Option<Record>) -> Record) -> Result<Record, String> {
        let kg = keygroup::assign_to_key_group(key, self.max_parallelism);
        self.group_mut(kg);
        let StateTable { groups, arena, garbage, .. } = self;
        let group = &mut groups[kg as usize];
        let slot: &mut u64 = match key {
            Value::Int(i) => match group.ints.find_or_insert(*i, arena.len() as u64) {
                (slot, false) => slot,
                (_, true) => {
                    let r = f(None);
                    Self::append_entry(arena, kg, key, &r);
                    return Ok(r);
                }
            },
            _ => match group.others.entry(Key::of(key)) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let r = f(None);
                    e.insert(arena.len() as u64);
                    Self::append_entry(arena, kg, key, &r);
                    return Ok(r);
                }
            },
        };
        let (row_at, old) = Self::entry_at(arena, *slot)?;
        let old_len = row_len(&old);
        let r = f(Some(old));
        *slot = Self::rewrite(arena, garbage, *slot, (row_at, old_len), (kg, key), &r);
        let live = arena.len() - *garbage;
        if *garbage > (1 << 20) && *garbage > live {
            self.compact()?;
        }
        Ok(r)
    }

    /// Rewrites the arena with only the rows keys point at.
    fn compact(&mut self) -> Result<(), String> {
        let mut fresh = Vec::with_capacity(self.arena.len() - self.garbage);
        for g in &mut self.groups {
            for off in g.ints.rows_mut().chain(g.others.values_mut()) {
                let start = *off as usize;
                let (_, _, len) = Self::header(&self.arena[start..])?;
                *off = fresh.len() as u64;
                fresh.extend_from_slice(&self.arena[start..start + len]);
            }
        }
        self.arena = fresh;
        self.garbage = 0;
        Ok(())
    }

    /// Every entry, key group by key group, each group in its maps' order.
    pub(crate) fn entries(&self) -> impl Iterator<Item = Result<(Value, Record), String>> + '_ {
        self.groups.iter().flat_map(move |g| {
            let ints = g.ints.iter().map(|(k, off)| (Value::Int(k), off));
            let others = g.others.iter().map(|(k, off)| (k.value(), *off));
            ints.chain(others).map(move |(k, off)| Self::entry_at(&self.arena, off).map(|(_, r)| (k, r)))
        })
    }

    /// Empties the table, returning its entries sorted by key (Flink's BATCH mode emits keyed
    /// results in key order, from its sorted inputs).
    pub(crate) fn drain_sorted(&mut self) -> Result<Vec<Record>, String> {
        let mut all: Vec<(Key, Record)> = self.entries().map(|e| e.map(|(k, r)| (Key::of(&k), r))).collect::<Result<_, _>>()?;
        all.sort_by(|a, b| a.0.cmp(&b.0));
        *self = StateTable::new(self.max_parallelism);
        Ok(all.into_iter().map(|(_, r)| r).collect())
    }

    /// The snapshot: every non-empty key group's entries, in key-group order; within a group
    /// in arena order (the order of insertion, as replays repeat it).
    pub(crate) fn snapshot(&self) -> Result<Vec<KeyGroupRows>, String> {
        // First each group's entries and bytes, from the headers alone, so every buffer is
        // allocated once at its size: grown by doubling, they were copied again as they grew,
        // and each new page faulted in on the task's thread.
        let mut sizes: Vec<(u64, usize)> = Vec::new();
        let mut at = 0;
        while at < self.arena.len() {
            let (kg, dead, len) = Self::header(&self.arena[at..])?;
            if !dead {
                let kg = usize::from(kg);
                if sizes.len() <= kg {
                    sizes.resize(kg + 1, (0, 0));
                }
                sizes[kg].0 += 1;
                sizes[kg].1 += len - ENTRY_HEADER;
            }
            at += len;
        }
        let mut groups: Vec<(u64, Vec<u8>)> = sizes.iter().map(|(n, bytes)| (*n, Vec::with_capacity(*bytes))).collect();
        let mut at = 0;
        while at < self.arena.len() {
            let bytes = &self.arena[at..];
            let (kg, dead, len) = Self::header(bytes)?;
            if !dead {
                // The snapshot's entries are the arena's without the header.
                groups[usize::from(kg)].1.extend_from_slice(&bytes[ENTRY_HEADER..len]);
            }
            at += len;
        }
        Ok(groups
            .into_iter()
            .enumerate()
            .filter(|(_, (n, _))| *n > 0)
            .map(|(kg, (entries, data))| KeyGroupRows { key_group: kg as u32, entries, offset: 0, len: data.len() as u64, data })
            .collect())
    }

    /// Adds a snapshot's key group (the caller checks the key group is this subtask's).
    pub(crate) fn restore(&mut self, rows: &KeyGroupRows) -> Result<(), String> {
        let what = |e: String| format!("key group {}: {e}", rows.key_group);
        let mut rd = Reader::new(&rows.data);
        let mut n = 0u64;
        while !rd.is_empty() {
            let key = rd.value().map_err(what)?;
            let row = read_row(&mut rd).map_err(what)?;
            if keygroup::assign_to_key_group(&key, self.max_parallelism) != rows.key_group {
                return Err(what(format!("key {key} does not belong to it")));
            }
            self.update(&key, |_| row)?;
            n += 1;
        }
        if n != rows.entries {
            return Err(what(format!("{n} entries, the snapshot says {}", rows.entries)));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn sum(t: &mut StateTable, k: Value, v: i64) -> Record {
        t.update(&k.clone(), |old| match old {
            None => Record::new(vec![k, Value::Int(v)]),
            Some(mut r) => {
                r.fields[1] = Value::Int(r.fields[1].as_i64().unwrap() + v);
                r
            }
        })
        .unwrap()
    }

    #[test]
    fn sums_strings_floats_and_ints_and_moves_rows_that_grow() {
        let mut t = StateTable::new(128);
        sum(&mut t, Value::Int(-4), 1);
        sum(&mut t, Value::Str("a".into()), 2);
        sum(&mut t, Value::Float(0.5), 3);
        assert_eq!(sum(&mut t, Value::Int(-4), 10).fields[1], Value::Int(11));
        assert_eq!(sum(&mut t, Value::Str("a".into()), 5).fields[1], Value::Int(7));
        // A row that grows moves; the key still finds it.
        t.update(&Value::Str("a".into()), |_| Record::new(vec![Value::Str("a".into()), Value::Str("longer".into())])).unwrap();
        assert!(t.garbage > 0);
        let got: Vec<String> = t.drain_sorted().unwrap().iter().map(|r| r.to_string()).collect();
        assert_eq!(got, vec!["(-4,11)", "(0.5,3)", "(a,longer)"]);
        assert!(t.is_empty());
    }

    #[test]
    fn a_corrupt_snapshot_is_an_error() {
        let mut t = StateTable::new(128);
        sum(&mut t, Value::Int(1), 1);
        let snap = t.snapshot().unwrap();
        let mut bad = snap[0].clone();
        bad.entries = 2;
        assert!(StateTable::new(128).restore(&bad).unwrap_err().contains("1 entries, the snapshot says 2"));
        let mut bad = snap[0].clone();
        bad.key_group += 1;
        assert!(StateTable::new(128).restore(&bad).unwrap_err().contains("does not belong to it"));
        let mut bad = snap[0].clone();
        bad.data[1 + 1] = 9; // the row's flags, after the key's tag and varint
        assert!(StateTable::new(128).restore(&bad).unwrap_err().contains("unknown row flags 0x9"));
        let raw = snap[0].data.clone();
        for cut in 1..raw.len() {
            let mut b = snap[0].clone();
            b.data = raw[..cut].to_vec();
            assert!(StateTable::new(128).restore(&b).is_err(), "cut at {cut}");
        }
    }

    proptest! {
        /// The table against a plain ordered map of running sums: every update returns the
        /// same sum, a snapshot restored into a fresh table holds the same entries, and the
        /// key groups of the snapshot are those the keys hash to.
        #[test]
        fn agrees_with_an_ordered_map_and_survives_a_snapshot(
            ops in proptest::collection::vec((prop_oneof![(-50i64..50).prop_map(Value::Int), "[a-c]{0,3}".prop_map(Value::Str)], -5i64..5), 0..400),
        ) {
            let mut t = StateTable::new(128);
            let mut reference: BTreeMap<Key, i64> = BTreeMap::new();
            for (k, v) in &ops {
                let got = sum(&mut t, k.clone(), *v);
                let want = reference.entry(Key::of(k)).or_insert(0);
                *want += v;
                prop_assert_eq!(got.fields[1].clone(), Value::Int(*want));
            }
            let snap = t.snapshot().unwrap();
            for g in &snap {
                prop_assert!(g.entries > 0);
            }
            let mut back = StateTable::new(128);
            for g in &snap {
                back.restore(g).unwrap();
            }
            let got: Vec<(Key, i64)> = back.drain_sorted().unwrap().iter().map(|r| (Key::of(&r.fields[0]), r.fields[1].as_i64().unwrap())).collect();
            prop_assert_eq!(got, reference.into_iter().collect::<Vec<_>>());
        }
    }
}
