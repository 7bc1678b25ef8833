//! Messages between nodes.
//!
//! Each protocol family (YARN's, Flink's, ...) is one serde enum implementing [`Wire`]. In the
//! sim a [`Msg`] travels as a box and is never serialized; in live it is written with its
//! family name in the family's own encoding ([`Wire::encode`]: JSON unless the family brings a
//! binary one, as Flink's data plane does), and the receiving process decodes it with the
//! [`Codecs`] it registered.
//! Families stay in the crates that own them: the engine knows none of them.

use std::any::{Any, TypeId};
use std::collections::BTreeMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::trace::{Fnv64, HashSer};

/// A protocol family: one message enum, one name on the wire.
pub trait Wire: Any + Send + fmt::Debug + Serialize + DeserializeOwned + 'static {
    const FAMILY: &'static str;
    /// True for a family carried on a connection that does not lose what it accepted (Flink's
    /// data plane, on Netty over TCP): a partition delays its messages until the link heals,
    /// as TCP's retransmissions do, instead of losing them. RPC families (Pekko's at-most-once
    /// delivery, Hadoop IPC calls that time out) keep the default: a cut link loses them.
    const STREAM: bool = false;
    /// A short name for the message kind, used in traces (e.g. the enum variant).
    fn kind(&self) -> &'static str;
    /// Appends the message's wire form to `out`. JSON by default; a family whose messages are
    /// bulk data (records) brings a compact binary layout instead.
    fn encode(&self, out: &mut Vec<u8>) {
        // Straight to JSON text: a serde_json::Value tree per message cost more than the send.
        serde_json::to_writer(out, self).expect("wire messages serialize")
    }
    /// Reads a message written by [`Wire::encode`]. Must reject any other input with an error
    /// (never panic): it comes off the network.
    fn decode(bytes: &[u8]) -> Result<Self, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }
}

trait Payload: Send + fmt::Debug {
    fn family(&self) -> &'static str;
    /// The family's name hashed (`trace::family_id`), a constant per type.
    fn family_id(&self) -> u64;
    fn kind(&self) -> &'static str;
    fn encode(&self, out: &mut Vec<u8>);
    fn hash_contents(&self, h: &mut Fnv64);
    /// The family's word, then the contents: what the trace hashes per message, in one call.
    fn hash_family_and_contents(&self, h: &mut Fnv64);
    /// The concrete type, in one call (through `as_any` it takes two).
    fn payload_type(&self) -> TypeId;
    fn is_stream(&self) -> bool;
}

impl<T: Wire> Payload for T {
    fn family(&self) -> &'static str {
        T::FAMILY
    }
    fn family_id(&self) -> u64 {
        const { crate::trace::family_id(T::FAMILY) }
    }
    fn kind(&self) -> &'static str {
        Wire::kind(self)
    }
    fn encode(&self, out: &mut Vec<u8>) {
        Wire::encode(self, out)
    }
    fn hash_contents(&self, h: &mut Fnv64) {
        self.serialize(&mut HashSer(h)).expect("wire messages serialize");
    }
    fn hash_family_and_contents(&self, h: &mut Fnv64) {
        h.write_u64(Payload::family_id(self));
        Payload::hash_contents(self, h);
    }
    fn payload_type(&self) -> TypeId {
        TypeId::of::<T>()
    }
    fn is_stream(&self) -> bool {
        T::STREAM
    }
}

/// A message of any family.
#[derive(Debug)]
pub struct Msg(Box<dyn Payload>);

/// Message boxes the receiver emptied, kept for the next message of the same size. In the
/// sim every message is boxed at its send and unboxed at its delivery; at 10,000
/// NodeManagers that is two boxes per heartbeat, freed in one order and allocated in
/// another, and malloc's free lists then read each recycled chunk's link from memory the
/// caches lost long ago (a malloc call was as dear as a heartbeat's handling). Here a
/// recycled box is a pointer popped off a list: nothing in it is read before the message is
/// written. Per thread, and only on threads that run a sim ([`recycle_boxes_on_this_thread`]):
/// a live process takes messages off the network on one thread and handles them on another,
/// where spares would pile up unused. Bounded; the rest go back to malloc.
mod spare {
    use std::alloc::Layout;
    use std::cell::UnsafeCell;
    use std::ptr::NonNull;

    /// Per size: enough for every heartbeat of 50,000 NodeManagers in flight at once.
    const MAX_PER_LAYOUT: usize = 1 << 17;
    /// Blocks aligned to 8 of up to `8 * (CLASSES - 1)` bytes (every message type of YARN's
    /// and Flink's families) are kept in a list per size, found by indexing: a message's
    /// size is a constant of its type, so its list is too. Any other layout is searched for.
    const CLASSES: usize = 65;

    /// The list a block of `layout` is kept in, if it has one of its own: exactly that size,
    /// at alignment 8 (the block is then freed with the layout it was allocated with).
    const fn class(layout: Layout) -> Option<usize> {
        let size = layout.size();
        if layout.align() == 8 && size.is_multiple_of(8) && size / 8 < CLASSES {
            Some(size / 8)
        } else {
            None
        }
    }

    struct Spare {
        enabled: bool,
        by_class: [Vec<NonNull<u8>>; CLASSES],
        others: Vec<(Layout, Vec<NonNull<u8>>)>,
    }

    pub(super) fn enable() {
        with(|s| s.enabled = true);
    }

    /// The thread's lists, for `f`, which must not reach `with` again (nothing in this module
    /// does: `f` only moves pointers), so there is never a second `&mut` to them. `None`
    /// while the thread is being torn down. A `RefCell` would check that at run time, twice a
    /// message.
    #[inline(always)]
    fn with<R>(f: impl FnOnce(&mut Spare) -> R) -> Option<R> {
        // SAFETY: the cell is this thread's; `f` does not call `with` (above), so this is the
        // only reference to its contents while `f` runs.
        SPARE.try_with(|s| f(unsafe { &mut *s.get() })).ok()
    }

    impl Drop for Spare {
        fn drop(&mut self) {
            let classes =
                self.by_class.iter_mut().enumerate().map(|(i, l)| (Layout::from_size_align(i * 8, 8).expect("a class's layout"), l));
            for (layout, list) in classes.chain(self.others.iter_mut().map(|(l, v)| (*l, v))) {
                for p in list.drain(..) {
                    // SAFETY: every pointer here came from the global allocator with `layout`
                    // (a `Box` of a type of that layout) and is owned by this list alone.
                    unsafe { std::alloc::dealloc(p.as_ptr(), layout) };
                }
            }
        }
    }

    thread_local! {
        // Const-initialized: each take and give skips the lazy-init check.
        static SPARE: UnsafeCell<Spare> = const {
            UnsafeCell::new(Spare { enabled: false, by_class: [const { Vec::new() }; CLASSES], others: Vec::new() })
        };
    }

    impl Spare {
        fn list(&mut self, layout: Layout, class: Option<usize>) -> &mut Vec<NonNull<u8>> {
            if let Some(c) = class {
                return &mut self.by_class[c];
            }
            let i = match self.others.iter().position(|(l, _)| *l == layout) {
                Some(i) => i,
                None => {
                    self.others.push((layout, Vec::new()));
                    self.others.len() - 1
                }
            };
            &mut self.others[i].1
        }
    }

    /// A block for a `T` the global allocator handed out earlier, if one is spare.
    /// The next spare block of its size is prefetched: a block kept a while has left the
    /// caches, and writing a message into it would stall the sender on the miss.
    #[inline(always)]
    pub(super) fn take<T>() -> Option<NonNull<u8>> {
        let (layout, class) = (Layout::new::<T>(), const { class(Layout::new::<T>()) });
        with(|s| {
            if !s.enabled {
                return None;
            }
            let list = s.list(layout, class);
            let p = list.pop()?;
            if let Some(next) = list.last() {
                crate::prefetch_range(next.as_ptr(), layout.size());
            }
            Some(p)
        })
        .flatten()
    }

    /// Keeps a `T`'s block from the global allocator (whose contents were moved out) for
    /// [`take`]; returns it if there is no room, for the caller to free.
    #[inline(always)]
    pub(super) fn give<T>(p: NonNull<u8>) -> Option<NonNull<u8>> {
        let (layout, class) = (Layout::new::<T>(), const { class(Layout::new::<T>()) });
        with(|s| {
            if !s.enabled {
                return Some(p);
            }
            let list = s.list(layout, class);
            if list.len() >= MAX_PER_LAYOUT {
                return Some(p);
            }
            list.push(p);
            None
        })
        .unwrap_or(Some(p))
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A class is a layout exactly: the block goes back to the allocator with the
        /// layout it came with.
        #[test]
        fn classes_are_exact_layouts() {
            for size in (8..=512).step_by(8) {
                let c = class(Layout::from_size_align(size, 8).unwrap()).expect("8-aligned up to 512 bytes");
                assert_eq!(c * 8, size);
            }
            assert_eq!(class(Layout::from_size_align(520, 8).unwrap()), None);
            assert_eq!(class(Layout::from_size_align(16, 16).unwrap()), None);
            assert_eq!(class(Layout::from_size_align(4, 4).unwrap()), None);
        }
    }
}

/// Keeps the boxes of messages this thread unboxes for the next messages it boxes (see
/// `spare`). The sim turns it on for the thread it runs on; elsewhere boxes are plain `Box`es.
pub fn recycle_boxes_on_this_thread() {
    spare::enable();
}

impl Msg {
    pub fn new<T: Wire>(m: T) -> Msg {
        let layout = std::alloc::Layout::new::<T>();
        if layout.size() > 0 {
            if let Some(p) = spare::take::<T>() {
                let p = p.as_ptr() as *mut T;
                // SAFETY: `p` came from the global allocator with `T`'s layout (size and
                // alignment), as a `Box` of some type with that layout, and holds nothing
                // (its contents were moved out); writing a `T` makes it a valid `Box<T>`,
                // which frees it with the same layout.
                unsafe {
                    p.write(m);
                    return Msg(Box::from_raw(p));
                }
            }
        }
        Msg(Box::new(m))
    }
    pub fn family(&self) -> &'static str {
        self.0.family()
    }
    pub fn kind(&self) -> &'static str {
        self.0.kind()
    }
    /// Whether its family is carried on a connection a partition delays, not loses
    /// ([`Wire::STREAM`]).
    pub fn is_stream(&self) -> bool {
        self.0.is_stream()
    }
    /// The family's name as one stable word (what the trace hashes).
    pub fn family_id(&self) -> u64 {
        self.0.family_id()
    }
    /// Where the message's contents are, for the sim to prefetch them.
    pub(crate) fn data_ptr(&self) -> *const u8 {
        &*self.0 as *const dyn Payload as *const u8
    }
    /// Takes the message out as family `T`, or gives it back unchanged.
    pub fn downcast<T: Wire>(self) -> Result<T, Msg> {
        // One type id compare through one vtable call: no family-name compare, no `Box<dyn Any>`.
        if self.0.payload_type() != TypeId::of::<T>() {
            return Err(self);
        }
        let layout = std::alloc::Layout::new::<T>();
        let raw = Box::into_raw(self.0) as *mut T;
        if layout.size() == 0 {
            // SAFETY: `raw` is the box of a `T` (checked above); a zero-sized box owns nothing.
            return Ok(unsafe { *Box::from_raw(raw) });
        }
        // SAFETY: `raw` is a live, initialized `T` we own (from the box); after the read it
        // is treated as uninitialized memory of `T`'s layout and either kept as a spare
        // block or freed with that layout, exactly as the box would have freed it.
        unsafe {
            let m = raw.read();
            if let Some(p) = spare::give::<T>(std::ptr::NonNull::new_unchecked(raw as *mut u8)) {
                std::alloc::dealloc(p.as_ptr(), layout);
            }
            Ok(m)
        }
    }
    /// The message as family `T`, borrowed, if it is one (e.g. for a node's prefetch hint).
    pub fn peek<T: Wire>(&self) -> Option<&T> {
        if self.0.payload_type() != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: the payload is a `T` (its type id, checked above).
        Some(unsafe { &*(&*self.0 as *const dyn Payload as *const T) })
    }
    /// The message's wire form (what the live driver puts in a frame).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.0.encode(&mut out);
        out
    }
    /// Feeds the message's contents into `h` (the sim's trace hashes every message this
    /// way, without formatting it).
    pub fn hash_contents(&self, h: &mut Fnv64) {
        self.0.hash_contents(h)
    }
    /// [`Msg::family_id`] then [`Msg::hash_contents`] into `h`, in one call through the vtable.
    pub(crate) fn hash_family_and_contents(&self, h: &mut Fnv64) {
        self.0.hash_family_and_contents(h)
    }
}

type Decoder = fn(&[u8]) -> Result<Msg, String>;

/// The families a live process accepts, by wire name.
#[derive(Default, Clone)]
pub struct Codecs {
    decoders: BTreeMap<&'static str, Decoder>,
}

impl Codecs {
    pub fn new() -> Codecs {
        Codecs::default()
    }
    pub fn with<T: Wire>(mut self) -> Codecs {
        self.decoders.insert(T::FAMILY, |b| T::decode(b).map(Msg::new));
        self
    }
    pub fn decode(&self, family: &str, body: &[u8]) -> Result<Msg, String> {
        match self.decoders.get(family) {
            Some(d) => d(body),
            None => Err(format!("unknown message family '{family}'")),
        }
    }
}

#[cfg(test)]
mod spare_tests {
    use super::*;

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Ping {
        n: u64,
        s: String,
    }

    impl Wire for Ping {
        const FAMILY: &'static str = "test-ping";
        fn kind(&self) -> &'static str {
            "Ping"
        }
    }

    #[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Other(u8);

    impl Wire for Other {
        const FAMILY: &'static str = "test-other";
        fn kind(&self) -> &'static str {
            "Other"
        }
    }

    /// A recycled box carries the next message whole, and a message of another family is
    /// handed back untouched.
    #[test]
    fn recycled_boxes_carry_each_message_whole() {
        recycle_boxes_on_this_thread();
        let a = Msg::new(Ping { n: 1, s: "one".into() });
        let at = a.data_ptr();
        let a = a.downcast::<Other>().expect_err("not an Other");
        assert_eq!(a.downcast::<Ping>().unwrap(), Ping { n: 1, s: "one".into() });
        let b = Msg::new(Ping { n: 2, s: "two".into() });
        assert_eq!(b.data_ptr(), at, "the emptied box is reused");
        assert_eq!(b.peek::<Ping>().map(|p| p.n), Some(2));
        assert!(b.peek::<Other>().is_none());
        assert_eq!(b.downcast::<Ping>().unwrap(), Ping { n: 2, s: "two".into() });
        // Many in flight at once, then all delivered: every one intact.
        let many: Vec<Msg> = (0..1000).map(|n| Msg::new(Ping { n, s: n.to_string() })).collect();
        for (n, m) in many.into_iter().enumerate() {
            assert_eq!(m.downcast::<Ping>().unwrap(), Ping { n: n as u64, s: n.to_string() });
        }
    }
}
