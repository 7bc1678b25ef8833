//! Records: tuples of values, printed the way Flink prints a Tuple (`(hello,3)`).

use std::fmt;

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) => Some(*f as i64),
            Value::Str(s) => s.parse().ok(),
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            Value::Str(s) => s.parse().ok(),
        }
    }
    /// A stable hash for key partitioning (same on every platform and run).
    pub fn key_hash(&self) -> u64 {
        let mut h = engine::trace::Fnv64::default();
        match self {
            Value::Int(i) => h.write(&i.to_le_bytes()),
            Value::Float(f) => h.write(&f.to_bits().to_le_bytes()),
            Value::Str(s) => h.write(s.as_bytes()),
        }
        h.finish()
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => {
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(f, "{x:.1}")
                } else {
                    write!(f, "{x}")
                }
            }
            Value::Str(s) => f.write_str(s),
        }
    }
}

/// A record: one value prints bare, several print as a Flink tuple `(a,b,c)`. Every record
/// carries an event timestamp (ms) when the pipeline assigned one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub fields: Vec<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn new(fields: Vec<Value>) -> Record {
        Record { fields, timestamp: None }
    }
    pub fn field(&self, i: usize) -> Option<&Value> {
        self.fields.get(i)
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.fields.len() == 1 {
            return write!(f, "{}", self.fields[0]);
        }
        f.write_str("(")?;
        for (i, v) in self.fields.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{v}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuples_print_like_flink() {
        let r = Record::new(vec![Value::Str("hello".into()), Value::Int(3)]);
        assert_eq!(r.to_string(), "(hello,3)");
        assert_eq!(Record::new(vec![Value::Int(7)]).to_string(), "7");
        assert_eq!(Value::Float(2.0).to_string(), "2.0");
        assert_eq!(Value::Str("a".into()).key_hash(), Value::Str("a".into()).key_hash());
    }
}
