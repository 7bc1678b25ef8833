//! The data plane's binary layout (Flink: the `TypeSerializer`s writing records into network
//! buffers). Records are most of the bytes between TaskManagers, so they travel without field
//! names or JSON: a tag byte per element and per value, integers as zig-zag varints.
//!
//! ```text
//! element   := 0x00 record | 0x01 varint(timestamp) record | 0x02 varint(watermark)
//!            | 0x03 varint(len) <len bytes of the barrier's JSON>
//! record    := varint(field count) value*
//! value     := 0x00 varint(i64) | 0x01 <8 bytes f64, little endian> | 0x02 varint(len) <UTF-8>
//! varint    := LEB128 of the zig-zag of an i64, at most 10 bytes
//! ```
//!
//! Decoding is total: a truncated buffer, an unknown tag, an overlong varint, a length beyond
//! the buffer or invalid UTF-8 is an error, never a panic, and no count is trusted before the
//! bytes it promises are there (so a hostile count cannot make us allocate).

use crate::protocol::{CheckpointBarrier, Element};
use crate::record::{Record, Value};

const E_RECORD: u8 = 0;
const E_RECORD_TS: u8 = 1;
const E_WATERMARK: u8 = 2;
const E_BARRIER: u8 = 3;
/// Value tags, shared with the state table's rows.
pub(crate) const V_INT: u8 = 0;
pub(crate) const V_FLOAT: u8 = 1;
pub(crate) const V_STR: u8 = 2;

pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn put_value(out: &mut Vec<u8>, v: &Value) {
    match v {
        Value::Int(i) => {
            out.push(V_INT);
            put_varint(out, *i);
        }
        Value::Float(f) => {
            out.push(V_FLOAT);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(V_STR);
            put_uvarint(out, s.len() as u64);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

pub fn put_record_fields(out: &mut Vec<u8>, r: &Record) {
    put_uvarint(out, r.fields.len() as u64);
    for v in r.fields.iter() {
        put_value(out, v);
    }
}

pub fn put_element(out: &mut Vec<u8>, e: &Element) {
    match e {
        Element::Record(r) => {
            match r.timestamp {
                None => out.push(E_RECORD),
                Some(t) => {
                    out.push(E_RECORD_TS);
                    put_varint(out, t);
                }
            }
            put_record_fields(out, r);
        }
        Element::Watermark(w) => {
            out.push(E_WATERMARK);
            put_varint(out, *w);
        }
        Element::Barrier(b) => {
            out.push(E_BARRIER);
            let json = serde_json::to_vec(b).expect("a barrier serializes");
            put_uvarint(out, json.len() as u64);
            out.extend_from_slice(&json);
        }
    }
}

fn uvarint_len(v: u64) -> u64 {
    u64::from((64 - (v | 1).leading_zeros()).div_ceil(7))
}

fn varint_len(v: i64) -> u64 {
    uvarint_len(((v << 1) ^ (v >> 63)) as u64)
}

/// The bytes [`put_element`] writes for a record or watermark, counted without writing them
/// (the `numBytesIn/Out` metrics). Barriers are not data: 0.
pub fn data_len(e: &Element) -> u64 {
    match e {
        Element::Record(r) => {
            let ts = r.timestamp.map_or(0, varint_len);
            let fields: u64 = r
                .fields
                .iter()
                .map(|v| match v {
                    Value::Int(i) => 1 + varint_len(*i),
                    Value::Float(_) => 9,
                    Value::Str(s) => 1 + uvarint_len(s.len() as u64) + s.len() as u64,
                })
                .sum();
            1 + ts + uvarint_len(r.fields.len() as u64) + fields
        }
        Element::Watermark(w) => 1 + varint_len(*w),
        Element::Barrier(_) => 0,
    }
}

/// A cursor over bytes being decoded.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Reader<'a> {
        Reader { buf }
    }

    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn u8(&mut self, what: &str) -> Result<u8, String> {
        let (&b, rest) = self.buf.split_first().ok_or_else(|| format!("truncated: no {what}"))?;
        self.buf = rest;
        Ok(b)
    }

    pub fn bytes(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if self.buf.len() < n {
            return Err(format!("truncated: {what} of {n} bytes, {} left", self.buf.len()));
        }
        let (b, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(b)
    }

    pub fn uvarint(&mut self, what: &str) -> Result<u64, String> {
        let mut v: u64 = 0;
        for i in 0..10 {
            let b = self.u8(what)?;
            if i == 9 && b > 1 {
                return Err(format!("{what}: varint overflows 64 bits"));
            }
            v |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("{what}: varint longer than 10 bytes"))
    }

    pub fn varint(&mut self, what: &str) -> Result<i64, String> {
        let u = self.uvarint(what)?;
        Ok(((u >> 1) as i64) ^ -((u & 1) as i64))
    }

    /// A count of items that take at least `min_bytes` each: refused if the buffer cannot hold
    /// that many, before anything is allocated for them.
    pub fn count(&mut self, min_bytes: usize, what: &str) -> Result<usize, String> {
        let n = self.uvarint(what)?;
        if n > (self.buf.len() / min_bytes.max(1)) as u64 {
            return Err(format!("{what} {n} exceeds what the remaining {} bytes can hold", self.buf.len()));
        }
        Ok(n as usize)
    }

    pub fn u128(&mut self, what: &str) -> Result<u128, String> {
        let b = self.bytes(16, what)?;
        Ok(u128::from_le_bytes(b.try_into().expect("16 bytes")))
    }

    pub fn value(&mut self) -> Result<Value, String> {
        match self.u8("value tag")? {
            V_INT => Ok(Value::Int(self.varint("integer")?)),
            V_FLOAT => Ok(Value::Float(f64::from_le_bytes(self.bytes(8, "float")?.try_into().expect("8 bytes")))),
            V_STR => {
                let n = self.count(1, "string length")?;
                let s = std::str::from_utf8(self.bytes(n, "string")?).map_err(|_| "a string is not valid UTF-8".to_string())?;
                Ok(Value::Str(s.to_string()))
            }
            t => Err(format!("unknown value tag {t}")),
        }
    }

    pub fn record_fields(&mut self, timestamp: Option<i64>) -> Result<Record, String> {
        // Every value takes at least two bytes (tag and payload).
        let n = self.count(2, "field count")?;
        let mut r = Record { fields: crate::record::Fields::with_capacity(n), timestamp };
        for _ in 0..n {
            r.fields.push(self.value()?);
        }
        Ok(r)
    }

    pub fn element(&mut self) -> Result<Element, String> {
        match self.u8("element tag")? {
            E_RECORD => Ok(Element::Record(self.record_fields(None)?)),
            E_RECORD_TS => {
                let t = self.varint("timestamp")?;
                Ok(Element::Record(self.record_fields(Some(t))?))
            }
            E_WATERMARK => Ok(Element::Watermark(self.varint("watermark")?)),
            E_BARRIER => {
                let n = self.count(1, "barrier length")?;
                let b: CheckpointBarrier = serde_json::from_slice(self.bytes(n, "barrier")?).map_err(|e| format!("bad barrier: {e}"))?;
                Ok(Element::Barrier(Box::new(b)))
            }
            t => Err(format!("unknown element tag {t}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::checkpoint::{CheckpointKind, CheckpointOptions};

    fn value() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(Value::Int),
            any::<f64>().prop_filter("NaN is not equal to itself", |f| !f.is_nan()).prop_map(Value::Float),
            ".{0,20}".prop_map(Value::Str),
        ]
    }

    fn element() -> impl Strategy<Value = Element> {
        prop_oneof![
            (proptest::collection::vec(value(), 0..5), proptest::option::of(any::<i64>()))
                .prop_map(|(f, t)| Element::Record(Record { fields: f.into(), timestamp: t })),
            any::<i64>().prop_map(Element::Watermark),
            (1u64..1000, any::<u64>()).prop_map(|(id, ts)| Element::Barrier(Box::new(CheckpointBarrier {
                id,
                timestamp: ts,
                options: CheckpointOptions { kind: CheckpointKind::Checkpoint, location: format!("/chk/chk-{id}") }
            }))),
        ]
    }

    fn encode_all(es: &[Element]) -> Vec<u8> {
        let mut out = Vec::new();
        for e in es {
            put_element(&mut out, e);
        }
        out
    }

    fn decode_all(b: &[u8]) -> Result<Vec<Element>, String> {
        let mut r = Reader::new(b);
        let mut es = Vec::new();
        while !r.is_empty() {
            es.push(r.element()?);
        }
        Ok(es)
    }

    #[test]
    fn every_value_type_and_the_edges_round_trip() {
        let es = vec![
            Element::Record(Record::new(vec![Value::Int(0), Value::Int(i64::MIN), Value::Int(i64::MAX), Value::Int(-1)])),
            Element::Record(Record {
                fields: vec![Value::Float(-0.0), Value::Float(f64::INFINITY), Value::Float(1.5e300)].into(),
                timestamp: Some(-5),
            }),
            Element::Record(Record::new(vec![Value::Str(String::new()), Value::Str("héllo, wörld".into())])),
            Element::Record(Record::new(vec![])),
            Element::Watermark(i64::MIN),
            Element::Watermark(i64::MAX),
        ];
        assert_eq!(decode_all(&encode_all(&es)).unwrap(), es);
        // Small integers are small on the wire: tag, count, tag, one byte.
        let mut b = Vec::new();
        put_element(&mut b, &Element::Record(Record::new(vec![Value::Int(-3)])));
        assert_eq!(b, vec![E_RECORD, 1, V_INT, 5]);
    }

    #[test]
    fn data_len_counts_what_put_element_writes() {
        for v in [0, 1, -1, 63, -64, 64, 8191, 8192, i64::MAX, i64::MIN] {
            for e in [
                Element::Watermark(v),
                Element::Record(Record { fields: smallvec::smallvec![Value::Int(v), Value::Str("x".repeat(200))], timestamp: Some(v) }),
            ] {
                let mut b = Vec::new();
                put_element(&mut b, &e);
                assert_eq!(data_len(&e), b.len() as u64, "{e:?}");
            }
        }
    }

    #[test]
    fn corrupt_frames_are_errors_not_panics() {
        let cases: &[(&[u8], &str)] = &[
            (&[9], "unknown element tag 9"),
            (&[E_RECORD, 1, 7, 0], "unknown value tag 7"),
            (&[E_RECORD, 1, V_INT], "field count 1 exceeds what the remaining 1 bytes can hold"),
            (&[E_RECORD, 1, V_INT, 0x80], "truncated: no integer"),
            (&[E_RECORD, 1, V_FLOAT, 1, 2], "truncated: float of 8 bytes, 2 left"),
            (&[E_RECORD, 1, V_STR, 5, b'a'], "string length 5 exceeds what the remaining 1 bytes can hold"),
            (&[E_RECORD, 1, V_STR, 2, 0xff, 0xfe], "a string is not valid UTF-8"),
            (&[E_RECORD, 0xff, 0xff, 0xff, 0xff, 0x0f], "field count 4294967295 exceeds what the remaining 0 bytes can hold"),
            (&[E_WATERMARK, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], "watermark: varint overflows 64 bits"),
            (&[E_BARRIER, 3, b'{', b'}', b'x'], "bad barrier"),
        ];
        for (bytes, want) in cases {
            let err = decode_all(bytes).unwrap_err();
            assert!(err.contains(want), "{bytes:?}: got '{err}', want '{want}'");
        }
    }

    proptest! {
        #[test]
        fn elements_round_trip(es in proptest::collection::vec(element(), 0..40)) {
            let data: u64 = es.iter().map(data_len).sum();
            let barriers = encode_all(&es.iter().filter(|e| matches!(e, Element::Barrier(_))).cloned().collect::<Vec<_>>()).len();
            prop_assert_eq!(data + barriers as u64, encode_all(&es).len() as u64);
            prop_assert_eq!(decode_all(&encode_all(&es)).unwrap(), es);
        }

        /// Every strict prefix of a valid encoding and every single-byte corruption decodes to
        /// an error or to some elements, never a panic; a cut inside the last element is an
        /// error.
        #[test]
        fn truncated_and_corrupted_buffers_never_panic(
            es in proptest::collection::vec(element(), 1..10),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let full = encode_all(&es);
            let last_start = encode_all(&es[..es.len() - 1]).len();
            // Every element takes at least two bytes, so there is a cut inside the last one.
            let at = last_start + 1 + cut.index(full.len() - last_start - 1);
            prop_assert!(decode_all(&full[..at]).is_err());
            let mut bad = full.clone();
            let i = flip.index(bad.len());
            bad[i] = byte;
            let _ = decode_all(&bad);
        }
    }
}
