//! The sans-IO contract every component is written against, and the two drivers that run it.
//!
//! A component (ResourceManager, NodeManager, an ApplicationMaster, ...) is a plain struct that
//! implements [`Node`]. It reacts to inputs (`on_start`, `on_message`, `on_timer`,
//! `on_process_exit`) and records effects on a [`Cx`]: messages to send, timers to set,
//! processes to launch or signal, trace events. It never touches a socket, a clock, a thread or
//! the OS RNG; time and randomness come from the `Cx` too.
//!
//! Two drivers run the same nodes:
//! - [`live`]: one tokio runtime per OS process, messages as JSON over HTTP on 127.0.0.1,
//!   tokio timers, real child processes;
//! - [`sim`]: one thread, one event queue ordered by (virtual time, sequence), a seeded network
//!   model, in-process "processes" looked up in a registry. Same seed, same trace hash.
//!
//! Architecture invariant: nothing in `node`, `msg`, `store` or `trace` does IO of its own;
//! only `live` does, and `sim` only simulates it.

pub mod fault;
// The live driver is where real clocks, tasks and sockets belong (DESIGN.md §4).
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
pub mod live;
pub mod msg;
pub mod node;
pub mod sim;
pub mod store;
pub mod time;
pub mod trace;
pub mod unpack;

pub use fault::{DropRule, Endpoint, Fault, Link, StoreFaultKind};
pub use msg::{Codecs, Msg, Wire};
pub use node::{
    Addr, CopyKind, Cx, Effect, ExitCode, LaunchSpec, LocalCopy, LocalStat, MemSys, Node, ProcId, ProcUsage, RecoveryFiles, Signal, Sys,
    TimerId, EXIT_CODE_LOST,
};
pub use store::{MemStore, Store, StoreError};
pub use time::Time;
pub use trace::Trace;

/// Starts loading the cache line at `p` (a hint: it never faults, whatever `p` is). For the
/// sim's event loop and for node code whose state is bound by memory latency (keyed state).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(all(target_arch = "x86_64", not(prefetch_as_load)))]
    // SAFETY: PREFETCHT0 only hints the cache; it never faults and reads nothing the
    // program sees, for any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p as *const i8)
    };
    #[cfg(prefetch_as_load)]
    prefetch_coverage::load(p);
    #[cfg(not(any(target_arch = "x86_64", prefetch_as_load)))]
    let _ = p;
}

/// Starts loading every cache line that `len` bytes at `p` touch (`p` need not start on a
/// line): a record or a list whose size is known. A plain loop, not a chained iterator: it
/// runs on every message's path.
#[inline(always)]
pub fn prefetch_range(p: *const u8, len: usize) {
    let mut at = 0;
    while at < len {
        prefetch(p.wrapping_add(at));
        at += 64;
    }
    if len > 0 {
        prefetch(p.wrapping_add(len - 1));
    }
}

/// Only in the build `scripts/prefetch-coverage.sh` makes: cachegrind's and callgrind's cache
/// models ignore prefetch instructions, so there each prefetch is a real one-byte load whose
/// value is folded into a global (valgrind drops a load whose value nothing uses, which would
/// hide all but the last of a run of them). The cache model then sees every line a prefetch
/// asks for at the moment it asks, and what still misses elsewhere is what no prefetch covers.
/// Not for running anything else: unlike a prefetch, a load can fault (a node's prefetch reads
/// a few lines past a small node).
#[cfg(prefetch_as_load)]
mod prefetch_coverage {
    use std::sync::atomic::{AtomicU8, Ordering};

    static SINK: AtomicU8 = AtomicU8::new(0);

    #[inline(always)]
    pub fn load(p: *const u8) {
        // SAFETY: analysis builds only (see above); the address is one the caller was about
        // to prefetch, in a live allocation or just past one.
        let v = unsafe { std::ptr::read_volatile(p) };
        SINK.fetch_xor(v, Ordering::Relaxed);
    }
}

/// The portable, named generator every node draws from (rand's `StdRng` may change its
/// algorithm between releases; ChaCha8 does not).
pub type Rng = rand_chacha::ChaCha8Rng;
