//! The run trace: every event is hashed, delivered messages with their contents; events nodes
//! record with `cx.trace` and every fault are also written as JSON lines when asked (and, in
//! `all_steps` mode, every delivery, timer, start and exit too). Same seed, same hash, same
//! lines; [`first_divergence`] finds where two recorded runs part.

use std::fmt;
use std::io::{self, BufRead, Write};

use crate::fault::Fault;
use crate::msg::Msg;
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

/// Feeds bytes straight into a hash (a message's JSON, without building the string).
struct HashWriter<'a>(&'a mut Fnv64);

impl Write for HashWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The stable hash of a message's contents (its family, kind and JSON form).
pub fn message_digest(msg: &Msg) -> u64 {
    let mut h = Fnv64::default();
    h.write(msg.family().as_bytes());
    h.write(msg.kind().as_bytes());
    msg.write_json(&mut HashWriter(&mut h));
    h.finish()
}

/// What each step tag means in an `all_steps` JSON line.
fn tag_name(tag: u8) -> &'static str {
    match tag {
        b's' => "start",
        b'm' => "deliver",
        b'x' => "undeliverable",
        b'l' => "lost",
        b'h' => "held",
        b't' => "timer",
        b'q' => "child-exit",
        b'd' => "end",
        _ => "step",
    }
}

#[derive(Default)]
pub struct Trace {
    hash: Fnv64,
    events: u64,
    sink: Option<Box<dyn Write + Send>>,
    all_steps: bool,
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }
    /// Also write JSON lines to `sink`: node events and faults.
    pub fn with_sink(sink: Box<dyn Write + Send>) -> Trace {
        Trace { sink: Some(sink), ..Trace::default() }
    }
    /// Also write a line for every step (deliveries with their message digest, timers,
    /// starts, exits): large, but `first_divergence` then points at the very message.
    pub fn all_steps(mut self) -> Trace {
        self.all_steps = true;
        self
    }
    /// A timer firing, a process start or exit, a lost message: hashed (and written in
    /// `all_steps` mode).
    pub fn step(&mut self, at: Time, tag: u8, a: Addr, b: Addr, what: &str) {
        self.mix(at, tag, a, b, what);
        if self.all_steps {
            self.write_step(at, tag, a, b, what, None);
        }
    }
    fn mix(&mut self, at: Time, tag: u8, a: Addr, b: Addr, what: &str) {
        self.events += 1;
        // An address takes 48 bits: the tag rides in the top byte of the first one.
        self.hash.write_u64(at.as_micros());
        self.hash.write_u64(addr_u64(a) | (tag as u64) << 56);
        self.hash.write_u64(addr_u64(b));
        self.hash.write(what.as_bytes());
    }
    /// A message delivered (or lost, held, undeliverable): its kind and its contents are
    /// hashed, so two runs that send the same kinds with different payloads differ.
    pub fn message(&mut self, at: Time, tag: u8, from: Addr, to: Addr, msg: &Msg) {
        self.mix(at, tag, from, to, msg.kind());
        msg.write_json(&mut HashWriter(&mut self.hash));
        if self.all_steps {
            let digest = format!("{:016x}", message_digest(msg));
            self.write_step(at, tag, from, to, msg.kind(), Some(&digest));
        }
    }
    fn write_step(&mut self, at: Time, tag: u8, a: Addr, b: Addr, what: &str, digest: Option<&str>) {
        let h = format!("{:016x}", self.hash.finish());
        if let Some(w) = self.sink.as_mut() {
            let mut line =
                serde_json::json!({"t": at.as_micros(), "step": tag_name(tag), "from": a.to_string(), "to": b.to_string(), "what": what});
            if let Some(d) = digest {
                line["digest"] = d.into();
            }
            line["h"] = h.into();
            let _ = writeln!(w, "{line}");
        }
    }
    /// An event a node recorded: hashed and written as a JSON line.
    pub fn event(&mut self, at: Time, node: Addr, kind: &str, detail: &str) {
        self.mix(at, b'e', node, node, kind);
        self.hash.write(detail.as_bytes());
        let h = format!("{:016x}", self.hash.finish());
        if let Some(w) = self.sink.as_mut() {
            let line = serde_json::json!({"t_ms": at.as_millis(), "t": at.as_micros(), "node": node.to_string(), "kind": kind, "detail": detail, "h": h});
            let _ = writeln!(w, "{line}");
        }
    }
    /// A fault a driver applied: an event of kind `fault.<verb>` whose detail is the fault's
    /// printed form; the line also carries the fault as JSON (`"fault"`), so a recorded run
    /// can be replayed from its trace.
    pub fn fault(&mut self, at: Time, node: Addr, fault: &Fault) {
        let detail = fault.to_string();
        self.mix(at, b'f', node, node, fault.verb());
        self.hash.write(detail.as_bytes());
        let h = format!("{:016x}", self.hash.finish());
        if let Some(w) = self.sink.as_mut() {
            let line = serde_json::json!({"t_ms": at.as_millis(), "t": at.as_micros(), "node": node.to_string(), "kind": fault.verb(), "detail": detail, "fault": fault, "h": h});
            let _ = writeln!(w, "{line}");
        }
    }
    /// The hash of everything so far.
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

/// Where two JSONL traces part: the 0-based line index and both lines (`None` where that
/// trace had already ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    pub index: usize,
    pub left: Option<String>,
    pub right: Option<String>,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "traces diverge at event {} (line {}):", self.index, self.index + 1)?;
        let side = |l: &Option<String>| l.clone().unwrap_or_else(|| "<end of trace>".to_string());
        writeln!(f, "  left:  {}", side(&self.left))?;
        write!(f, "  right: {}", side(&self.right))
    }
}

/// Compares two JSONL traces line by line and returns the first line that differs, or `None`
/// when they are the same. Each line carries the running hash (`"h"`), so a difference in
/// unwritten steps (a message's contents) shows at the first written line after it.
pub fn first_divergence(left: impl BufRead, right: impl BufRead) -> io::Result<Option<Divergence>> {
    let (mut l, mut r) = (left.lines(), right.lines());
    let mut index = 0;
    loop {
        let (a, b) = (l.next().transpose()?, r.next().transpose()?);
        match (&a, &b) {
            (None, None) => return Ok(None),
            (Some(x), Some(y)) if x == y => index += 1,
            _ => return Ok(Some(Divergence { index, left: a, right: b })),
        }
    }
}
