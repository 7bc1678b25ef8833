//! What this machine's memory looks like from one process, now: the time of one dependent
//! read at a random cache line of a block of 1, 4 and 32 MiB (one chain through every line
//! of the block in a random order, so each read waits for the one before and no prefetcher
//! can guess it). A block that fits a cache reads at that cache's latency; past the last
//! level, at memory's. `make bench` and `scripts/scale-gap.sh` print it beside the
//! simulator's wall times, which swing with it: 10,000 NodeManagers touch ~6 MB a second.
//!
//! Built with plain `rustc` (no crate, no dependency). Each block asks the kernel for huge
//! pages itself (`madvise`, before its pages are first written), as the simulator's heap has
//! them, so page walks do not add to the reads: glibc's `glibc.malloc.hugetlb=1` tunable
//! alone took in only about half the runs on glibc 2.35/2.36 (see `huge_pages_for_the_heap`
//! in yarn-sim/src/bin/yarn-sim.rs).

use std::time::Instant;

const LINE: usize = 64;
const WORDS_PER_LINE: usize = LINE / 8;

/// A small generator of our own (xorshift64*): the order only has to defeat prefetchers.
struct Order(u64);

impl Order {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Nanoseconds per read of a chain through every line of `bytes` in a random order.
fn read_latency(bytes: usize, reads: usize) -> f64 {
    let lines = bytes / LINE;
    // The first word of each line holds the index (in words) of the next line to read.
    let mut block = vec![0usize; lines * WORDS_PER_LINE];
    advise_huge_pages(&mut block);
    let mut visit: Vec<usize> = (0..lines).collect();
    let mut order = Order(0x9e37_79b9_7f4a_7c15);
    for i in (1..lines).rev() {
        let j = (order.next() % (i as u64 + 1)) as usize;
        visit.swap(i, j);
    }
    for k in 0..lines {
        block[visit[k] * WORDS_PER_LINE] = visit[(k + 1) % lines] * WORDS_PER_LINE;
    }
    let mut at = visit[0] * WORDS_PER_LINE;
    // Once round first: the block's pages and whatever of it fits in the caches are in.
    for _ in 0..lines.min(reads) {
        at = block[at];
    }
    let start = Instant::now();
    for _ in 0..reads {
        at = block[at];
    }
    let ns = start.elapsed().as_secs_f64() * 1e9 / reads as f64;
    // The chain's end is used, so the loop is not optimized away.
    std::hint::black_box(at);
    ns
}

/// Asks for transparent huge pages on the whole 2 MiB pages inside `block` (a hint; Linux
/// only). A block this large is a fresh mapping of zero pages from `calloc`, not yet
/// written, so its pages are faulted in as huge ones when the chain is written.
fn advise_huge_pages(block: &mut [usize]) {
    #[cfg(target_os = "linux")]
    {
        extern "C" {
            fn madvise(addr: *mut u8, len: usize, advice: i32) -> i32;
        }
        const MADV_HUGEPAGE: i32 = 14;
        const HUGE: usize = 2 << 20;
        let start = block.as_mut_ptr() as usize;
        let end = start + std::mem::size_of_val(block);
        let lo = (start + HUGE - 1) & !(HUGE - 1);
        let hi = end & !(HUGE - 1);
        if lo < hi {
            // SAFETY: the range lies within `block`'s allocation, and MADV_HUGEPAGE changes
            // no contents, only how the kernel backs the pages.
            unsafe {
                madvise(lo as *mut u8, hi - lo, MADV_HUGEPAGE);
            }
        }
    }
}

fn main() {
    let sizes = [1usize, 4, 32];
    let figures: Vec<String> = sizes.iter().map(|mib| format!("{mib} MiB {:.1} ns", read_latency(mib << 20, 2_000_000))).collect();
    println!("random dependent reads: {}", figures.join(", "));
}
