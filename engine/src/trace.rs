//! The run trace: every delivered event is hashed; events nodes record with `cx.trace` are
//! also kept as JSON lines when asked. Same seed, same hash.

use std::io::Write;

use crate::node::Addr;
use crate::time::Time;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
/// 2^64 / golden ratio, odd.
const WORD_MULTIPLIER: u64 = 0x9e37_79b9_7f4a_7c15;

/// A stable 64-bit hash (same on every platform and Rust release, unlike std's hashers):
/// multiply-rotate over 8-byte little-endian words (it runs on every simulated event) and a
/// final avalanche.
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(FNV_OFFSET)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        let mut words = bytes.chunks_exact(8);
        for w in &mut words {
            self.write_u64(u64::from_le_bytes(w.try_into().expect("8 bytes")));
        }
        let rest = words.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            // The length tells "ab" from "ab\0".
            self.write_u64(u64::from_le_bytes(last) ^ ((rest.len() as u64) << 59));
        }
    }
    pub fn write_u64(&mut self, v: u64) {
        // A dense odd multiplier spreads every input bit upward; the rotation brings the
        // well-mixed high bits back down for the next word.
        self.0 = (self.0 ^ v).wrapping_mul(WORD_MULTIPLIER).rotate_left(29);
    }
    /// Avalanches the state so every output bit depends on every input bit (callers take
    /// `hash % n` for partitioning).
    pub fn finish(self) -> u64 {
        let mut z = self.0;
        z ^= z >> 33;
        z = z.wrapping_mul(0xff51_afd7_ed55_8ccd);
        z ^= z >> 33;
        z = z.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        z ^ (z >> 33)
    }
}

fn addr_u64(a: Addr) -> u64 {
    ((u32::from(*a.ip()) as u64) << 16) | a.port() as u64
}

#[derive(Default)]
pub struct Trace {
    hash: Fnv64,
    events: u64,
    sink: Option<Box<dyn Write + Send>>,
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }
    /// Also write JSON lines to `sink`.
    pub fn with_sink(sink: Box<dyn Write + Send>) -> Trace {
        Trace { sink: Some(sink), ..Trace::default() }
    }
    /// A message delivery, a timer firing, a process start or exit: hashed, not written.
    pub fn step(&mut self, at: Time, tag: u8, a: Addr, b: Addr, what: &str) {
        self.events += 1;
        // An address takes 48 bits: the tag rides in the top byte of the first one.
        self.hash.write_u64(at.as_micros());
        self.hash.write_u64(addr_u64(a) | (tag as u64) << 56);
        self.hash.write_u64(addr_u64(b));
        self.hash.write(what.as_bytes());
    }
    /// An event a node recorded: hashed and written as a JSON line.
    pub fn event(&mut self, at: Time, node: Addr, kind: &str, detail: &str) {
        self.step(at, b'e', node, node, kind);
        self.hash.write(detail.as_bytes());
        if let Some(w) = self.sink.as_mut() {
            let line =
                serde_json::json!({"t_ms": at.as_millis(), "t": at.as_micros(), "node": node.to_string(), "kind": kind, "detail": detail});
            let _ = writeln!(w, "{line}");
        }
    }
    pub fn hash(&self) -> u64 {
        self.hash.finish()
    }
    pub fn events(&self) -> u64 {
        self.events
    }
    pub fn flush(&mut self) {
        if let Some(w) = self.sink.as_mut() {
            let _ = w.flush();
        }
    }
}
