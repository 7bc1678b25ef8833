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

/// A family name as one word, computed once per family at compile time (FNV-1a over its
/// bytes: stable on every platform and release).
pub(crate) const fn family_id(family: &str) -> u64 {
    let b = family.as_bytes();
    let mut h = FNV_OFFSET;
    let mut i = 0;
    while i < b.len() {
        h = (h ^ b[i] as u64).wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

fn addr_u64(a: Addr) -> u64 {
    ((u32::from(*a.ip()) as u64) << 16) | a.port() as u64
}

/// The stable hash of a message's contents (its family, kind and every field).
pub fn message_digest(msg: &Msg) -> u64 {
    let mut h = Fnv64::default();
    h.write(msg.family().as_bytes());
    h.write(msg.kind().as_bytes());
    msg.hash_contents(&mut h);
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
    /// Node events and faults kept as they are instead of written ([`Trace::collecting`]).
    kept: Option<Vec<TraceEvent>>,
    all_steps: bool,
}

/// A node event or a fault as the trace records it: what its JSON line says.
#[derive(Clone, Debug)]
pub struct TraceEvent {
    pub at: Time,
    pub node: Addr,
    pub kind: String,
    pub detail: String,
    /// The trace hash just after it.
    pub hash: u64,
    /// For a fault: the fault itself (its line carries it, for replay).
    pub fault: Option<Fault>,
}

impl TraceEvent {
    /// The JSON line [`Trace::with_sink`] writes for it (without the newline).
    pub fn to_json_line(&self) -> String {
        let h = format!("{:016x}", self.hash);
        let (t_ms, t, node) = (self.at.as_millis(), self.at.as_micros(), self.node.to_string());
        let mut line = serde_json::json!({"t_ms": t_ms, "t": t, "node": node, "kind": self.kind, "detail": self.detail});
        // Keys keep their insertion order: a fault's JSON goes before the hash, as ever.
        if let Some(f) = &self.fault {
            line["fault"] = serde_json::json!(f);
        }
        line["h"] = h.into();
        line.to_string()
    }
}

impl Trace {
    pub fn new() -> Trace {
        Trace::default()
    }
    /// Also write JSON lines to `sink`: node events and faults.
    pub fn with_sink(sink: Box<dyn Write + Send>) -> Trace {
        Trace { sink: Some(sink), ..Trace::default() }
    }
    /// Keep node events and faults in memory, for [`Trace::take_events`], instead of writing
    /// them: a reader that acts on each event (the scenario runner) gets it without a JSON
    /// line written and parsed back.
    pub fn collecting() -> Trace {
        Trace { kept: Some(Vec::new()), ..Trace::default() }
    }
    /// The events kept since the last call ([`Trace::collecting`]; none otherwise), in order.
    pub fn take_events(&mut self, into: &mut Vec<TraceEvent>) {
        if let Some(k) = self.kept.as_mut() {
            into.append(k);
        }
    }
    /// Also write a line for every step (deliveries with their message digest, timers,
    /// starts, exits): large, but `first_divergence` then points at the very message.
    pub fn all_steps(mut self) -> Trace {
        self.all_steps = true;
        self
    }
    /// A timer firing, a process start or exit: hashed (and written in `all_steps` mode). The
    /// tag names the step (`what` is its word for the JSON line), so only the tag is hashed.
    pub fn step(&mut self, at: Time, tag: u8, a: Addr, b: Addr, what: &str) {
        self.mix(at, tag, a, b);
        if self.all_steps {
            self.write_step(at, tag, a, b, what, None);
        }
    }
    fn mix(&mut self, at: Time, tag: u8, a: Addr, b: Addr) {
        self.events += 1;
        // An address takes 48 bits: the tag rides in the top byte of the first one.
        self.hash.write_u64(at.as_micros());
        self.hash.write_u64(addr_u64(a) | (tag as u64) << 56);
        self.hash.write_u64(addr_u64(b));
    }
    /// A message delivered (or lost, held, undeliverable): its family and its contents are
    /// hashed, so two runs that send the same kinds with different payloads differ. The kind
    /// needs no hashing of its own: the contents begin with the variant's index. The family
    /// goes in as one word, hashed from its name once at compile time.
    pub fn message(&mut self, at: Time, tag: u8, from: Addr, to: Addr, msg: &Msg) {
        self.mix(at, tag, from, to);
        msg.hash_family_and_contents(&mut self.hash);
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
        self.mix(at, b'e', node, node);
        self.hash.write(kind.as_bytes());
        self.hash.write(detail.as_bytes());
        self.record(at, node, kind, detail, None);
    }
    /// Keeps or writes a node event or fault just hashed.
    fn record(&mut self, at: Time, node: Addr, kind: &str, detail: &str, fault: Option<&Fault>) {
        if self.kept.is_none() && self.sink.is_none() {
            return;
        }
        let e =
            TraceEvent { at, node, kind: kind.to_string(), detail: detail.to_string(), hash: self.hash.finish(), fault: fault.cloned() };
        if let Some(k) = self.kept.as_mut() {
            k.push(e);
        } else if let Some(w) = self.sink.as_mut() {
            let _ = writeln!(w, "{}", e.to_json_line());
        }
    }
    /// A fault a driver applied: an event of kind `fault.<verb>` whose detail is the fault's
    /// printed form; the line also carries the fault as JSON (`"fault"`), so a recorded run
    /// can be replayed from its trace.
    pub fn fault(&mut self, at: Time, node: Addr, fault: &Fault) {
        let detail = fault.to_string();
        self.mix(at, b'f', node, node);
        self.hash.write(fault.verb().as_bytes());
        self.hash.write(detail.as_bytes());
        self.record(at, node, fault.verb(), &detail, Some(fault));
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

/// Feeds a value's contents into a hash through serde, without formatting it: integers as
/// words, strings as bytes, enum variants by index, struct fields in declaration order (their
/// names are the same for every value of a type, so they are skipped). Much cheaper than
/// hashing the JSON text, which matters at millions of messages per run.
pub(crate) struct HashSer<'a>(pub(crate) &'a mut Fnv64);

/// Carries no text: a zero-sized error makes each of the walk's `Result`s a flag in a
/// register where a `String` in it made them three words in memory, written and checked at
/// every field of every delivered message (and hashing cannot fail for our messages: serde's
/// derives only fail on a map key or a `Display` that fails).
#[derive(Debug)]
pub(crate) struct HashSerError;

impl fmt::Display for HashSerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message's contents did not serialize for the trace hash")
    }
}

impl std::error::Error for HashSerError {}

impl serde::ser::Error for HashSerError {
    fn custom<T: fmt::Display>(_msg: T) -> Self {
        HashSerError
    }
}

/// Markers that keep `[[1],[2]]` apart from `[[1,2]]` and `None` from `Some(0)`.
const MARK_NONE: u64 = 0x6e6f_6e65;
const MARK_SOME: u64 = 0x736f_6d65;
const MARK_UNIT: u64 = 0x756e_6974;
const MARK_END: u64 = 0x0065_6e64;
const MARK_SKIP: u64 = 0x736b_6970;

impl<'a> HashSer<'a> {
    fn w(&mut self, v: u64) {
        self.0.write_u64(v);
    }
}

impl<'a, 'b> serde::Serializer for &'b mut HashSer<'a> {
    type Ok = ();
    type Error = HashSerError;
    type SerializeSeq = Self;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Self;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), HashSerError> {
        self.w(v as u64);
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), HashSerError> {
        self.serialize_i64(v as i64)
    }
    fn serialize_i16(self, v: i16) -> Result<(), HashSerError> {
        self.serialize_i64(v as i64)
    }
    fn serialize_i32(self, v: i32) -> Result<(), HashSerError> {
        self.serialize_i64(v as i64)
    }
    fn serialize_i64(self, v: i64) -> Result<(), HashSerError> {
        self.w(v as u64);
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), HashSerError> {
        self.w(v as u64);
        self.w((v >> 64) as u64);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), HashSerError> {
        self.serialize_u64(v as u64)
    }
    fn serialize_u16(self, v: u16) -> Result<(), HashSerError> {
        self.serialize_u64(v as u64)
    }
    fn serialize_u32(self, v: u32) -> Result<(), HashSerError> {
        self.serialize_u64(v as u64)
    }
    fn serialize_u64(self, v: u64) -> Result<(), HashSerError> {
        self.w(v);
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), HashSerError> {
        self.w(v as u64);
        self.w((v >> 64) as u64);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), HashSerError> {
        self.serialize_f64(v as f64)
    }
    fn serialize_f64(self, v: f64) -> Result<(), HashSerError> {
        self.w(v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), HashSerError> {
        self.w(v as u64);
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), HashSerError> {
        self.serialize_bytes(v.as_bytes())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), HashSerError> {
        // Fnv64::write ends a partial word with its length; a full last word needs the length
        // too, or "a" "bc" would equal "ab" "c" across two fields.
        self.w(v.len() as u64);
        self.0.write(v);
        Ok(())
    }
    /// Not human-readable: types that have a compact form (YARN's ids: their numbers; IP
    /// addresses: their bytes) hand the hash that instead of formatting their text. The hash
    /// covers the same contents either way.
    fn is_human_readable(&self) -> bool {
        false
    }
    /// Ids and addresses serialize through `Display`: formatted straight into the hash, not
    /// into a `String` first (serde's default).
    fn collect_str<T: ?Sized + fmt::Display>(self, value: &T) -> Result<(), HashSerError> {
        // Gathered in a stack buffer and hashed whole words at a time: the hash depends on
        // the text only, not on how `Display` cut it into pieces (and an id written in a
        // dozen pieces costs one pass).
        struct Into<'h> {
            h: &'h mut Fnv64,
            buf: [u8; 128],
            n: usize,
        }
        impl fmt::Write for Into<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                let mut s = s.as_bytes();
                while !s.is_empty() {
                    let take = s.len().min(self.buf.len() - self.n);
                    self.buf[self.n..self.n + take].copy_from_slice(&s[..take]);
                    self.n += take;
                    s = &s[take..];
                    if self.n == self.buf.len() {
                        // A multiple of 8 bytes: no partial word, so no length mark.
                        self.h.write(&self.buf);
                        self.n = 0;
                    }
                }
                Ok(())
            }
        }
        let mut into = Into { h: self.0, buf: [0; 128], n: 0 };
        fmt::write(&mut into, format_args!("{value}")).map_err(|_| HashSerError)?;
        let Into { h, buf, n } = into;
        h.write(&buf[..n]);
        self.w(MARK_END);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), HashSerError> {
        self.w(MARK_NONE);
        Ok(())
    }
    fn serialize_some<T: ?Sized + serde::Serialize>(self, value: &T) -> Result<(), HashSerError> {
        self.w(MARK_SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), HashSerError> {
        self.w(MARK_UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), HashSerError> {
        self.serialize_unit()
    }
    fn serialize_unit_variant(self, _name: &'static str, index: u32, _variant: &'static str) -> Result<(), HashSerError> {
        self.w(index as u64);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + serde::Serialize>(self, _name: &'static str, value: &T) -> Result<(), HashSerError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + serde::Serialize>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), HashSerError> {
        self.w(index as u64);
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self, HashSerError> {
        Ok(self)
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, HashSerError> {
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashSerError> {
        Ok(self)
    }
    fn serialize_tuple_variant(self, _name: &'static str, index: u32, _variant: &'static str, _len: usize) -> Result<Self, HashSerError> {
        self.w(index as u64);
        Ok(self)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self, HashSerError> {
        Ok(self)
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, HashSerError> {
        Ok(self)
    }
    fn serialize_struct_variant(self, _name: &'static str, index: u32, _variant: &'static str, _len: usize) -> Result<Self, HashSerError> {
        self.w(index as u64);
        Ok(self)
    }
}

macro_rules! hash_compound {
    ($trait:ident, $method:ident $(, $key:ident)?) => {
        impl<'a, 'b> serde::ser::$trait for &'b mut HashSer<'a> {
            type Ok = ();
            type Error = HashSerError;
            fn $method<T: ?Sized + serde::Serialize>(&mut self, $($key: &'static str,)? value: &T) -> Result<(), HashSerError> {
                $(let _ = $key;)?
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), HashSerError> {
                self.w(MARK_END);
                Ok(())
            }
        }
    };
}

hash_compound!(SerializeSeq, serialize_element);
hash_compound!(SerializeTuple, serialize_element);
hash_compound!(SerializeTupleStruct, serialize_field);
hash_compound!(SerializeTupleVariant, serialize_field);

macro_rules! hash_struct {
    ($trait:ident) => {
        impl<'a, 'b> serde::ser::$trait for &'b mut HashSer<'a> {
            type Ok = ();
            type Error = HashSerError;
            fn serialize_field<T: ?Sized + serde::Serialize>(&mut self, _key: &'static str, value: &T) -> Result<(), HashSerError> {
                value.serialize(&mut **self)
            }
            // Field names are not hashed, so a field left out (`skip_serializing_if`) leaves
            // a mark: `{a: 1}` and `{b: 1}` of one type differ.
            fn skip_field(&mut self, _key: &'static str) -> Result<(), HashSerError> {
                self.w(MARK_SKIP);
                Ok(())
            }
            fn end(self) -> Result<(), HashSerError> {
                self.w(MARK_END);
                Ok(())
            }
        }
    };
}

hash_struct!(SerializeStruct);
hash_struct!(SerializeStructVariant);

impl<'a, 'b> serde::ser::SerializeMap for &'b mut HashSer<'a> {
    type Ok = ();
    type Error = HashSerError;
    fn serialize_key<T: ?Sized + serde::Serialize>(&mut self, key: &T) -> Result<(), HashSerError> {
        key.serialize(&mut **self)
    }
    fn serialize_value<T: ?Sized + serde::Serialize>(&mut self, value: &T) -> Result<(), HashSerError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), HashSerError> {
        self.w(MARK_END);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::{Ipv4Addr, SocketAddrV4};

    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::msg::Wire;

    /// A collecting trace keeps what a writing one writes: the same events, the same hash,
    /// and each kept event prints the very line the other wrote (faults with their JSON).
    #[test]
    fn kept_events_print_the_lines_a_sink_gets() {
        #[derive(Clone, Default)]
        struct Buf(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Buf {
            fn write(&mut self, b: &[u8]) -> io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(b);
                Ok(b.len())
            }
            fn flush(&mut self) -> io::Result<()> {
                Ok(())
            }
        }
        let buf = Buf::default();
        let mut written = Trace::with_sink(Box::new(buf.clone()));
        let mut kept = Trace::collecting();
        let node = SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 2), 8042);
        for t in [&mut written, &mut kept] {
            t.event(Time(5), node, "nm.start", "up");
            t.fault(Time(9), node, &Fault::Kill { process: node });
            t.event(Time(12), node, "rm.app.state", "application_1_0001 \"quoted\"");
        }
        assert_eq!(written.hash(), kept.hash());
        let mut evs = Vec::new();
        kept.take_events(&mut evs);
        let lines: String = evs.iter().map(|e| e.to_json_line() + "\n").collect();
        assert_eq!(lines, String::from_utf8(buf.0.lock().unwrap().clone()).unwrap());
        assert_eq!(evs.len(), 3);
        assert!(evs[1].to_json_line().contains(r#""fault":{"fault":"kill""#), "{}", evs[1].to_json_line());
        // Taken once: the next call finds only what came after.
        kept.event(Time(20), node, "x", "y");
        let mut more = Vec::new();
        kept.take_events(&mut more);
        assert_eq!(more.len(), 1);
    }

    #[derive(Debug, Serialize, Deserialize)]
    enum Probe {
        Status {
            node: SocketAddrV4,
            containers: Vec<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            a: Option<u32>,
            #[serde(skip_serializing_if = "Option::is_none")]
            b: Option<u32>,
        },
        Nested(Vec<Vec<u8>>),
        Map(BTreeMap<String, f64>),
    }

    impl Wire for Probe {
        const FAMILY: &'static str = "test.probe";
        fn kind(&self) -> &'static str {
            "Probe"
        }
    }

    fn digest(p: Probe) -> u64 {
        message_digest(&Msg::new(p))
    }

    fn status(port: u16, containers: &[&str], a: Option<u32>, b: Option<u32>) -> Probe {
        let node = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
        Probe::Status { node, containers: containers.iter().map(|s| s.to_string()).collect(), a, b }
    }

    #[test]
    fn message_digests_see_every_field_and_boundary() {
        let base = digest(status(1, &["c1", "c2"], None, None));
        assert_eq!(base, digest(status(1, &["c1", "c2"], None, None)));
        let others = [
            digest(status(2, &["c1", "c2"], None, None)),
            digest(status(1, &["c1", "c3"], None, None)),
            digest(status(1, &["c1c2"], None, None)),
            digest(status(1, &["c1", "c2", ""], None, None)),
            digest(status(1, &["c1", "c2"], Some(1), None)),
            digest(status(1, &["c1", "c2"], None, Some(1))),
            digest(status(1, &["c1", "c2"], Some(0), None)),
        ];
        for (i, d) in others.iter().enumerate() {
            assert_ne!(*d, base, "variant {i}");
        }
        assert_ne!(digest(status(1, &[], Some(1), None)), digest(status(1, &[], None, Some(1))), "a skipped field keeps its place");
        assert_ne!(digest(Probe::Nested(vec![vec![1], vec![2]])), digest(Probe::Nested(vec![vec![1, 2]])));
        let m = |k: &str, v| Probe::Map(BTreeMap::from([(k.to_string(), v)]));
        assert_ne!(digest(m("x", 1.0)), digest(m("x", 1.5)));
        assert_ne!(digest(m("x", 1.0)), digest(m("y", 1.0)));
    }

    /// `Nested` is variant 1, as `Probe::Nested` is: the same contents, another family.
    #[derive(Debug, Serialize, Deserialize)]
    enum Other {
        Status(u8),
        Nested(Vec<Vec<u8>>),
    }

    impl Wire for Other {
        const FAMILY: &'static str = "test.other";
        fn kind(&self) -> &'static str {
            "Other"
        }
    }

    /// The trace hashes a message's family (one word per family) with its contents: the same
    /// contents in another family, or at another time, leave another hash.
    #[test]
    fn the_trace_tells_families_apart() {
        let a = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 1);
        let hash = |m: Msg, at: u64| {
            let mut t = Trace::new();
            t.message(Time(at), b'm', a, a, &m);
            t.hash()
        };
        let (p, o) = (|| Msg::new(Probe::Nested(vec![vec![1]])), || Msg::new(Other::Nested(vec![vec![1]])));
        assert_eq!(hash(p(), 5), hash(p(), 5));
        assert_ne!(hash(p(), 5), hash(p(), 6));
        let mut hp = Fnv64::default();
        let mut ho = Fnv64::default();
        p().hash_contents(&mut hp);
        o().hash_contents(&mut ho);
        assert_eq!(hp.finish(), ho.finish(), "the same contents");
        assert_ne!(hash(p(), 5), hash(o(), 5));
        assert_ne!(family_id("test.probe"), family_id("test.other"));
        assert_eq!(Msg::new(Other::Status(0)).family_id(), family_id("test.other"));
    }
}
