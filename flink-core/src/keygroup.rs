//! Key groups, Flink's unit of keyed-state distribution (`KeyGroupRangeAssignment`,
//! `MathUtils.murmurHash`, `KeyGroupRange`). A key belongs to key group
//! `murmurHash(key.hashCode()) % maxParallelism`; subtask `i` of `p` owns a contiguous range of
//! key groups, so keyed state moves between subtasks by whole key groups when the parallelism
//! changes. The hash is Java's `hashCode` of the key as Flink would see it (our `Int` is a
//! `java.lang.Long`, `Float` a `Double`, `Str` a `String`), so a key lands in the same key group
//! (and the same subtask) as in a real Flink job with the same max parallelism.

use crate::checkpoint::KeyGroupRange;
use crate::record::Value;

/// Flink's `KeyGroupRangeAssignment.DEFAULT_LOWER_BOUND_MAX_PARALLELISM`.
pub const DEFAULT_LOWER_BOUND_MAX_PARALLELISM: u32 = 128;
/// Flink's `KeyGroupRangeAssignment.UPPER_BOUND_MAX_PARALLELISM` (1 << 15).
pub const UPPER_BOUND_MAX_PARALLELISM: u32 = 32768;

/// Flink's default max parallelism: 1.5 x parallelism rounded up to a power of two, at least
/// 128, at most 32768 (`KeyGroupRangeAssignment.computeDefaultMaxParallelism`).
pub fn default_max_parallelism(parallelism: u32) -> u32 {
    let p = u64::from(parallelism);
    (p + p / 2).next_power_of_two().clamp(u64::from(DEFAULT_LOWER_BOUND_MAX_PARALLELISM), u64::from(UPPER_BOUND_MAX_PARALLELISM)) as u32
}

/// Java's `hashCode()` of the boxed value: `Long.hashCode` for Int (`(int)(v ^ (v >>> 32))`),
/// `Double.hashCode` for Float (over `doubleToLongBits`, which folds every NaN into one), and
/// `String.hashCode` (`s[0]*31^(n-1) + ... + s[n-1]` over UTF-16 code units) for Str.
pub fn java_hash_code(v: &Value) -> i32 {
    fn long_hash(bits: u64) -> i32 {
        (bits ^ (bits >> 32)) as u32 as i32
    }
    match v {
        Value::Int(i) => long_hash(*i as u64),
        Value::Float(f) => long_hash(if f.is_nan() { 0x7ff8_0000_0000_0000 } else { f.to_bits() }),
        Value::Str(s) => s.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c))),
    }
}

/// Flink's `MathUtils.murmurHash(int)`: one murmur3 round plus fmix32, made non-negative
/// (`i32::MIN` maps to 0, as Flink does).
pub fn murmur_hash(code: i32) -> i32 {
    let mut c = code as u32;
    c = c.wrapping_mul(0xcc9e_2d51);
    c = c.rotate_left(15);
    c = c.wrapping_mul(0x1b87_3593);
    c = c.rotate_left(13);
    c = c.wrapping_mul(5).wrapping_add(0xe654_6b64);
    c ^= 4;
    c ^= c >> 16;
    c = c.wrapping_mul(0x85eb_ca6b);
    c ^= c >> 13;
    c = c.wrapping_mul(0xc2b2_ae35);
    c ^= c >> 16;
    let c = c as i32;
    if c >= 0 {
        c
    } else if c != i32::MIN {
        -c
    } else {
        0
    }
}

/// `KeyGroupRangeAssignment.computeKeyGroupForKeyHash`.
pub fn key_group_for_hash(hash_code: i32, max_parallelism: u32) -> u32 {
    murmur_hash(hash_code) as u32 % max_parallelism.max(1)
}

/// `KeyGroupRangeAssignment.assignToKeyGroup`: the key group of `key`.
pub fn assign_to_key_group(key: &Value, max_parallelism: u32) -> u32 {
    key_group_for_hash(java_hash_code(key), max_parallelism)
}

/// `KeyGroupRangeAssignment.computeOperatorIndexForKeyGroup`: the subtask (of `parallelism`)
/// owning `key_group`.
pub fn operator_index_for_key_group(max_parallelism: u32, parallelism: u32, key_group: u32) -> u32 {
    (u64::from(key_group) * u64::from(parallelism) / u64::from(max_parallelism.max(1))) as u32
}

impl KeyGroupRange {
    /// `KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex`: the key groups subtask
    /// `index` of `parallelism` owns (inclusive). Assumes `parallelism <= max_parallelism`
    /// (the JobGraph checks it), so the range is never empty.
    pub fn of_subtask(max_parallelism: u32, parallelism: u32, index: u32) -> KeyGroupRange {
        let (m, p, i) = (u64::from(max_parallelism), u64::from(parallelism.max(1)), u64::from(index));
        let start = (i * m).div_ceil(p);
        let end = ((i + 1) * m - 1) / p;
        KeyGroupRange { start: start as u32, end: end as u32 }
    }

    pub fn contains(&self, key_group: u32) -> bool {
        self.start <= key_group && key_group <= self.end
    }

    /// Number of key groups (0 for an empty range, start > end).
    pub fn len(&self) -> u32 {
        if self.end < self.start {
            0
        } else {
            self.end - self.start + 1
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The common key groups, or None (Flink's `EMPTY_KEY_GROUP_RANGE`).
    pub fn intersection(&self, other: &KeyGroupRange) -> Option<KeyGroupRange> {
        let r = KeyGroupRange { start: self.start.max(other.start), end: self.end.min(other.end) };
        (!r.is_empty() && !self.is_empty() && !other.is_empty()).then_some(r)
    }

    pub fn intersects(&self, other: &KeyGroupRange) -> bool {
        self.intersection(other).is_some()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    #[test]
    fn reference_vectors() {
        assert_eq!(murmur_hash(0), 593_689_054);
        let kg = |v: Value| assign_to_key_group(&v, 128);
        assert_eq!([0, 1, 2, 3, 42].map(|i| kg(Value::Int(i))), [94, 86, 127, 113, 29]);
        assert_eq!(kg(s("a")), 81);
        assert_eq!(kg(s("hello")), 35);
        assert_eq!(kg(s("key-1")), 54);
        let ranges: Vec<KeyGroupRange> = (0..3).map(|i| KeyGroupRange::of_subtask(128, 3, i)).collect();
        assert_eq!(
            ranges,
            vec![KeyGroupRange { start: 0, end: 42 }, KeyGroupRange { start: 43, end: 85 }, KeyGroupRange { start: 86, end: 127 }]
        );
    }

    #[test]
    fn java_hash_codes() {
        assert_eq!(java_hash_code(&s("")), 0);
        assert_eq!(java_hash_code(&s("a")), 97);
        assert_eq!(java_hash_code(&s("hello")), 99_162_322);
        // Overflowing String.hashCode wraps like Java's int.
        assert_eq!(java_hash_code(&s("hello world")), 1_794_106_052);
        // UTF-16 units: U+1F600 is the surrogate pair D83D DE00.
        assert_eq!(java_hash_code(&s("\u{1F600}")), 0xD83D * 31 + 0xDE00);
        assert_eq!(java_hash_code(&s("é")), 0xE9);
        // Long.hashCode.
        assert_eq!(java_hash_code(&Value::Int(7)), 7);
        assert_eq!(java_hash_code(&Value::Int(-1)), 0);
        assert_eq!(java_hash_code(&Value::Int(1 << 32)), 1);
        assert_eq!(java_hash_code(&Value::Int(i64::MIN)), i32::MIN);
        // Double.hashCode: 1.0 = 0x3ff0000000000000 -> 0x3ff00000.
        assert_eq!(java_hash_code(&Value::Float(1.0)), 0x3ff0_0000);
        assert_eq!(java_hash_code(&Value::Float(0.0)), 0);
        assert_eq!(java_hash_code(&Value::Float(f64::NAN)), java_hash_code(&Value::Float(-f64::NAN)));
        assert_eq!(java_hash_code(&Value::Float(f64::NAN)), 0x7ff8_0000);
    }

    #[test]
    fn default_max_parallelism_follows_flink() {
        assert_eq!(default_max_parallelism(1), 128);
        assert_eq!(default_max_parallelism(100), 256);
        assert_eq!(default_max_parallelism(200), 512);
        assert_eq!(default_max_parallelism(30000), 32768);
        assert_eq!(default_max_parallelism(32768), 32768);
    }

    #[test]
    fn range_operations() {
        let a = KeyGroupRange { start: 0, end: 63 };
        let b = KeyGroupRange { start: 43, end: 85 };
        assert_eq!(a.intersection(&b), Some(KeyGroupRange { start: 43, end: 63 }));
        assert!(a.intersects(&b));
        assert!(!a.intersects(&KeyGroupRange { start: 64, end: 127 }));
        assert_eq!(a.len(), 64);
        assert!(a.contains(0) && a.contains(63) && !a.contains(64));
        assert_eq!(KeyGroupRange { start: 5, end: 4 }.intersection(&a), None);
    }

    proptest! {
        #[test]
        fn ranges_partition_the_key_groups_and_match_operator_index(max_p in 1u32..600, p_seed in 0u32..10_000) {
            let p = p_seed % max_p + 1;
            let mut next = 0;
            for i in 0..p {
                let r = KeyGroupRange::of_subtask(max_p, p, i);
                prop_assert_eq!(r.start, next);
                prop_assert!(!r.is_empty());
                for kg in [r.start, r.end] {
                    prop_assert_eq!(operator_index_for_key_group(max_p, p, kg), i);
                }
                next = r.end + 1;
            }
            prop_assert_eq!(next, max_p);
        }

        #[test]
        fn murmur_hash_is_non_negative(c in any::<i32>()) {
            prop_assert!(murmur_hash(c) >= 0);
        }
    }
}
