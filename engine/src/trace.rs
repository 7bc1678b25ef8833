//! The run trace: every delivered event is hashed; events nodes record with `cx.trace` are
//! also kept as JSON lines when asked. Same seed, same hash.

use std::io::Write;

use crate::node::Addr;
use crate::time::Time;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit: stable across platforms and Rust releases (std's hashers are not).
#[derive(Clone, Copy, Debug)]
pub struct Fnv64(u64);

impl Default for Fnv64 {
    fn default() -> Self {
        Fnv64(FNV_OFFSET)
    }
}

impl Fnv64 {
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(FNV_PRIME);
        }
    }
    pub fn write_u64(&mut self, v: u64) {
        self.write(&v.to_le_bytes());
    }
    pub fn finish(self) -> u64 {
        self.0
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
        self.hash.write_u64(at.as_micros());
        self.hash.write(&[tag]);
        self.hash.write_u64(addr_u64(a));
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
