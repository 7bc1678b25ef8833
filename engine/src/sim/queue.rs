//! The sim's event queue: a calendar queue that pops in exactly (time, sequence) order.
//!
//! Why not a binary heap: at 10,000 NodeManagers the queue holds tens of thousands of events
//! and every pop sifts through log2(n) levels of cache misses. Nearly every event is due
//! within a few seconds (heartbeat timers at +1 s, container monitor passes at +3 s, messages
//! at +0.2..1 ms), so a ring of narrow time buckets covering four seconds takes them in O(1): a push appends
//! to its bucket unsorted, and a bucket is sorted once, when it becomes the earliest. Events
//! due further out wait in an overflow heap and move into the ring as it turns.
//!
//! Order is exactly a heap's: the bucket being drained is sorted by (time, seq), a push into
//! it is inserted in order, every later bucket holds only later times, and the overflow only
//! times past the ring's end. A push earlier than the bucket being drained (the clock never
//! goes back, so the sim makes none) joins that bucket in order and still pops first.
//!
//! Entries in the ring carry no sequence number: sequences only rise, so a bucket's entries
//! of one time sit in push order (see `fill_current`), and the ordered insert into the bucket
//! being drained goes after every later time and before its own time's entries. Only the
//! overflow heap, which keeps no push order, keeps them. (An entry is then 48 bytes, not 56:
//! that insert shifts the entries of the events that pop first, a dozen or two for a
//! heartbeat's message at 10,000 nodes.)

use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;

/// Default bucket width: 64 µs (2^6). Heartbeats of 10,000 nodes started together bunch
/// into a few milliseconds of each second, a few hundred events per bucket: sorting those is
/// cheap and contiguous. A run whose events are spread thin takes wider buckets
/// ([`EventQueue::with_bucket_shift`]), so that a bucket still holds the next few dozen
/// events the sim prefetches for.
pub(crate) const DEFAULT_SHIFT: u32 = 6;
/// The widest bucket: 2^12 µs, about 4 ms.
pub(crate) const MAX_SHIFT: u32 = 12;
/// Bits of a time per pass of the sort that orders a bucket (`fill_current`): 64 lists, one
/// word of flags.
const LANE_BITS: u32 = 6;
/// Ring length: 2^16 buckets of 64 µs, about 4.2 s: past the NodeManagers' 3 s monitor
/// interval, which would otherwise send a third of all timers through the overflow heap.
const BUCKETS: u64 = 1 << 16;

struct Entry<E> {
    time: u64,
    ev: E,
}

/// An entry due past the ring, in the overflow heap, with the sequence that orders it among
/// entries of its time.
struct Far<E> {
    time: u64,
    seq: u64,
    ev: E,
}

impl<E> Far<E> {
    fn key(&self) -> (u64, u64) {
        (self.time, self.seq)
    }
}

impl<E> PartialEq for Far<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl<E> Eq for Far<E> {}
impl<E> PartialOrd for Far<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<E> Ord for Far<E> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key().cmp(&other.key())
    }
}

/// The bucket being drained past its next event ([`EventQueue::ahead`]).
pub(crate) struct Ahead<'a, E>(&'a [Entry<E>]);

impl<'a, E> Ahead<'a, E> {
    /// The event `k` places after the next one, if the bucket holds it.
    #[inline(always)]
    pub fn get(&self, k: usize) -> Option<&'a E> {
        let i = self.0.len().checked_sub(1 + k)?;
        Some(&self.0[i].ev)
    }
}

pub(crate) struct EventQueue<E> {
    /// log2 of the bucket width in microseconds.
    shift: u32,
    /// Bucket `b` (absolute: `time >> shift`) lives at `ring[b % BUCKETS]`, unsorted.
    ring: Vec<Vec<Entry<E>>>,
    /// One bit per ring slot: set while the slot holds entries, so finding the next bucket
    /// skips the empty stretches between heartbeat bursts a word at a time.
    occupied: Vec<u64>,
    /// The absolute bucket being drained. The ring holds buckets `cur + 1 .. cur + BUCKETS`.
    cur: u64,
    /// Bucket `cur`'s entries, sorted latest first so the earliest pops off the end.
    current: Vec<Entry<E>>,
    /// Entries in `ring` (not counting `current`).
    in_ring: usize,
    /// Entries due at bucket `cur + BUCKETS` or later.
    overflow: BinaryHeap<Reverse<Far<E>>>,
    /// Emptied bucket buffers, reused by buckets that fill up again: a heartbeat burst fills
    /// some dozens of buckets a second, and allocating each afresh shows up in profiles.
    spare: Vec<Vec<Entry<E>>>,
    /// One list per value of six bits of a time, for putting a bucket in order (see
    /// `fill_current`); empty between uses, kept for their buffers.
    lanes: Vec<Vec<Entry<E>>>,
    len: usize,
    /// Set when a new bucket became the one being drained, until [`EventQueue::take_fresh`].
    fresh: bool,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue::with_bucket_shift(DEFAULT_SHIFT)
    }
}

impl<E> EventQueue<E> {
    /// A queue whose buckets are 2^`shift` microseconds wide (at most [`MAX_SHIFT`]). The
    /// width changes only how fast it runs, never the order it pops in.
    pub fn with_bucket_shift(shift: u32) -> Self {
        let shift = shift.min(MAX_SHIFT);
        EventQueue {
            shift,
            ring: (0..BUCKETS).map(|_| Vec::new()).collect(),
            occupied: vec![0; (BUCKETS / 64) as usize],
            cur: 0,
            current: Vec::new(),
            in_ring: 0,
            overflow: BinaryHeap::new(),
            spare: Vec::new(),
            lanes: (0..1usize << LANE_BITS).map(|_| Vec::new()).collect(),
            len: 0,
            fresh: false,
        }
    }
}

impl<E> EventQueue<E> {
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Queues `ev` at `time`; `seq` must be greater than every earlier push's (the sim's
    /// counter).
    #[inline(always)]
    pub fn push(&mut self, time: u64, seq: u64, ev: E) {
        self.push_near(time, seq, ev);
    }

    /// [`EventQueue::push`], and for an event that joins the bucket being drained, how many
    /// events pop before it (as things stand) with the event itself, for the sim to note
    /// what its lookahead will not see.
    #[inline(always)]
    pub fn push_near(&mut self, time: u64, seq: u64, ev: E) -> Option<(usize, &mut E)> {
        self.len += 1;
        let b = self.bucket(time).max(self.cur);
        if b == self.cur {
            // After every entry of a later time, before those of its own (pushed earlier,
            // they pop first).
            let at = self.current.partition_point(|x| x.time > time);
            self.current.insert(at, Entry { time, ev });
            // Latest first: the entries after `at` pop before it.
            let before = self.current.len() - 1 - at;
            return Some((before, &mut self.current[at].ev));
        } else if b < self.cur + BUCKETS {
            self.ring_put(b, Entry { time, ev });
        } else {
            self.overflow.push(Reverse(Far { time, seq, ev }));
        }
        None
    }

    /// The time of the earliest event.
    pub fn peek_time(&mut self) -> Option<u64> {
        self.fill_current();
        self.current.last().map(|e| e.time)
    }

    /// The events after the next one that are already in the bucket being drained (for
    /// prefetching what they will touch; a later push may still overtake them), looked at
    /// once for several distances.
    pub fn ahead(&self) -> Ahead<'_, E> {
        Ahead(self.current.split_last().map_or(&[], |(_, rest)| rest))
    }

    /// Whether a new bucket became the one being drained since the last call: its first
    /// events were never far enough ahead for the sim's lookahead to see them.
    #[inline(always)]
    pub fn take_fresh(&mut self) -> bool {
        std::mem::take(&mut self.fresh)
    }

    /// Takes the earliest event, with its time, if it is due at or before `until`: one
    /// look at the queue per event where a peek and a pop took two.
    #[inline(always)]
    pub fn pop_until(&mut self, until: u64) -> Option<(u64, E)> {
        self.fill_current();
        if self.current.last()?.time > until {
            return None;
        }
        let e = self.current.pop()?;
        self.len -= 1;
        Some((e.time, e.ev))
    }

    /// Takes the earliest event, with its time.
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.fill_current();
        let e = self.current.pop()?;
        self.len -= 1;
        Some((e.time, e.ev))
    }

    #[inline(always)]
    fn bucket(&self, time: u64) -> u64 {
        time >> self.shift
    }

    #[inline(always)]
    fn ring_put(&mut self, b: u64, e: Entry<E>) {
        let i = (b % BUCKETS) as usize;
        if self.ring[i].capacity() == 0 {
            if let Some(v) = self.spare.pop() {
                self.ring[i] = v;
            }
        }
        self.ring[i].push(e);
        self.occupied[i / 64] |= 1 << (i % 64);
        self.in_ring += 1;
    }

    /// Makes `current` the earliest non-empty bucket, unless the queue is empty.
    fn fill_current(&mut self) {
        if !self.current.is_empty() || self.len == 0 {
            return;
        }
        self.cur = if self.in_ring > 0 {
            self.next_occupied()
        } else {
            self.bucket(self.overflow.peek().expect("entries are in the ring or the overflow").0.time)
        };
        while let Some(Reverse(e)) = self.overflow.peek() {
            if self.bucket(e.time) >= self.cur + BUCKETS {
                break;
            }
            let Reverse(Far { time, ev, .. }) = self.overflow.pop().expect("peeked");
            self.ring_put(self.bucket(time), Entry { time, ev });
        }
        let i = (self.cur % BUCKETS) as usize;
        // The drained buffer goes to the spares rather than staying in its slot: slots the
        // ring passes keep no capacity, so memory follows the busiest moment, not the ring.
        let drained = std::mem::replace(&mut self.current, std::mem::take(&mut self.ring[i]));
        if drained.capacity() > 0 {
            self.spare.push(drained);
        }
        self.occupied[i / 64] &= !(1 << (i % 64));
        self.in_ring -= self.current.len();
        self.fresh = true;
        // Popped from the end, so the bucket must be in descending (time, seq) order. Its
        // entries share all but the low `shift` bits of their time, and entries of one time
        // are already in sequence order: a push appends, pushes come in sequence order, and
        // what the overflow hands over (earlier sequences, in order) is appended before any
        // push can reach the bucket. So stable passes by those low bits (a radix sort, six
        // bits a pass through 64 lists: one pass at the default width, two up to 4 ms) order
        // the bucket in linear time; a general sort of a heartbeat burst's ~800-entry
        // buckets was a tenth of a 10,000-node run. (A list per microsecond of a wide bucket
        // instead: thousands of lists, each a cache miss.)
        let sorted = self.current.is_sorted_by_key(|e| e.time);
        if sorted || self.current.len() <= 32 {
            // A small bucket (a small cluster's): an insertion sort beats 64 lists. Stable, so
            // each time's entries stay in push order, and reversed, last pushed first.
            if !sorted {
                self.current.sort_by_key(|e| e.time);
            }
            self.current.reverse();
        } else {
            // Ascending by the lower bits first; the last pass takes the lists from the
            // highest down, each reversed, which leaves the bucket descending.
            let passes = self.shift.div_ceil(LANE_BITS).max(1);
            for pass in 0..passes {
                let mut used = 0u64;
                for e in self.current.drain(..) {
                    let lane = ((e.time >> (pass * LANE_BITS)) & ((1 << LANE_BITS) - 1)) as usize;
                    used |= 1 << lane;
                    self.lanes[lane].push(e);
                }
                let last = pass + 1 == passes;
                while used != 0 {
                    let lane = if last { 63 - used.leading_zeros() as usize } else { used.trailing_zeros() as usize };
                    used &= !(1 << lane);
                    if last {
                        self.current.extend(self.lanes[lane].drain(..).rev());
                    } else {
                        self.current.append(&mut self.lanes[lane]);
                    }
                }
            }
            debug_assert!(self.current.is_sorted_by_key(|e| std::cmp::Reverse(e.time)), "a bucket in time order");
        }
    }

    /// The first occupied bucket after `cur` (some ring slot is occupied).
    fn next_occupied(&self) -> u64 {
        let start = ((self.cur + 1) % BUCKETS) as usize;
        let words = self.occupied.len();
        let mut w = start / 64;
        let mut word = self.occupied[w] & (!0u64 << (start % 64));
        loop {
            if word != 0 {
                let slot = w * 64 + word.trailing_zeros() as usize;
                let dist = (slot + BUCKETS as usize - start) % BUCKETS as usize;
                return self.cur + 1 + dist as u64;
            }
            w = (w + 1) % words;
            word = self.occupied[w];
        }
    }
}

#[cfg(test)]
mod tests {
    use rand::{Rng as _, SeedableRng};

    use super::*;

    /// `push_near` counts the events that pop before the one it queued in the bucket being
    /// drained (none for a later bucket), and `take_fresh` tells once that a bucket began.
    #[test]
    fn push_near_counts_what_pops_first() {
        let mut q = EventQueue::with_bucket_shift(DEFAULT_SHIFT);
        for (seq, t) in [100u64, 110, 120, 130].into_iter().enumerate() {
            q.push(t, seq as u64, t);
        }
        assert!(!q.take_fresh());
        assert_eq!(q.pop(), Some((100, 100)));
        assert!(q.take_fresh());
        assert!(!q.take_fresh());
        // 110 and 120 pop first; a same-time event pops after those already queued.
        assert_eq!(q.push_near(125, 10, 125).map(|(n, e)| (n, *e)), Some((2, 125)));
        assert_eq!(q.push_near(110, 11, 111).map(|(n, e)| (n, *e)), Some((1, 111)));
        assert_eq!(q.push_near(105, 12, 105).map(|(n, e)| (n, *e)), Some((0, 105)));
        assert!(q.push_near(100_000, 13, 0).is_none());
        let order: Vec<u64> = std::iter::from_fn(|| q.pop().map(|(_, e)| e)).collect();
        assert_eq!(order, [105, 110, 111, 120, 125, 130, 0]);
    }

    /// Random pushes (near, far, same-time and past) interleaved with pops, checked against a
    /// binary heap ordered by (time, seq).
    /// Every bucket width, from the default to the widest: the width changes nothing of the
    /// order.
    #[test]
    fn pops_in_time_then_sequence_order() {
        for (seed, shift) in (0..20u64).zip((DEFAULT_SHIFT..=MAX_SHIFT).cycle()) {
            let mut rng = crate::Rng::seed_from_u64(seed);
            let mut q = EventQueue::with_bucket_shift(shift);
            let mut reference = BinaryHeap::new();
            let (mut now, mut seq) = (1_767_225_600_000_000u64, 0u64);
            for _ in 0..20_000 {
                if rng.random_bool(0.55) {
                    let delta = match rng.random_range(0..6) {
                        0 => 0,
                        1 => rng.random_range(0..64),
                        2 => rng.random_range(200..=1000),
                        3 => 1_000_000,
                        4 => rng.random_range(0..5_000_000),
                        _ => rng.random_range(0..100_000_000),
                    };
                    // Now and then an event in the past: it must still pop first.
                    let t = if rng.random_ratio(1, 200) { now.saturating_sub(rng.random_range(0..10_000)) } else { now + delta };
                    seq += 1;
                    q.push(t, seq, seq);
                    reference.push(Reverse((t, seq)));
                } else {
                    assert_eq!(q.peek_time(), reference.peek().map(|Reverse((t, _))| *t));
                    let got = q.pop();
                    let want = reference.pop().map(|Reverse(k)| k);
                    assert_eq!(got, want);
                    if let Some((t, _)) = got {
                        now = now.max(t);
                    }
                }
                assert_eq!(q.len(), reference.len());
            }
            while let Some(Reverse(k)) = reference.pop() {
                assert_eq!(q.pop(), Some(k));
            }
            assert_eq!(q.pop(), None);
        }
    }

    /// Bursts: thousands of events within a few buckets, pushed in random time order, so each
    /// bucket (more than 32 entries) is put in order by the radix passes (two past 64 us), at
    /// every width.
    #[test]
    fn bursts_pop_in_order_at_every_width() {
        for shift in DEFAULT_SHIFT..=MAX_SHIFT {
            let mut rng = crate::Rng::seed_from_u64(u64::from(shift));
            let mut q = EventQueue::with_bucket_shift(shift);
            let mut reference = Vec::new();
            let width = 1u64 << shift;
            let (mut now, mut seq) = (1_767_225_600_000_000u64, 0u64);
            for _ in 0..4 {
                for _ in 0..3_000 {
                    let t = now + rng.random_range(0..4 * width);
                    seq += 1;
                    q.push(t, seq, seq);
                    reference.push((t, seq));
                }
                reference.sort();
                reference.reverse();
                for _ in 0..1_500 {
                    let want = reference.pop();
                    assert_eq!(q.pop(), want, "shift {shift}");
                    now = want.expect("pushed").0;
                }
            }
            while let Some(k) = reference.pop() {
                assert_eq!(q.pop(), Some(k), "shift {shift}");
            }
            assert_eq!(q.pop(), None);
        }
    }
}
