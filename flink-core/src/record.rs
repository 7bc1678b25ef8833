//! Records: tuples of values, printed the way Flink prints a Tuple (`(hello,3)`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Serialized as a bare JSON number or string. Deserialized by a visitor that looks at the
/// JSON type once: serde's `untagged` buffers and retries every variant, which made record
/// batches the data plane's bottleneck.
#[derive(Clone, Debug, PartialEq, PartialOrd, Serialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
}

impl<'de> serde::Deserialize<'de> for Value {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Value;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number or a string")
            }
            fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
                Ok(Value::Int(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
                i64::try_from(v).map(Value::Int).map_err(|_| E::custom(format!("integer {v} is out of range")))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
                Ok(Value::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Value, E> {
                Ok(Value::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Value, E> {
                Ok(Value::Str(v))
            }
        }
        d.deserialize_any(V)
    }
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
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f)
    }
}

/// A record's fields: up to two are kept inline, so the usual key/value records of the data
/// plane need no allocation of their own.
pub type Fields = smallvec::SmallVec<[Value; 2]>;

/// A record: one value prints bare, several print as a Flink tuple `(a,b,c)`. Every record
/// carries an event timestamp (ms) when the pipeline assigned one.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub fields: Fields,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp: Option<i64>,
}

impl Record {
    pub fn new(fields: impl Into<Fields>) -> Record {
        Record { fields: fields.into(), timestamp: None }
    }
    pub fn field(&self, i: usize) -> Option<&Value> {
        self.fields.get(i)
    }
}

impl Value {
    /// Writes the value as Flink prints it (what `Display` shows): integers and strings
    /// without the formatting machinery, since a file sink renders every record it writes
    /// straight into its buffer, and a fuzz run writes tens of thousands.
    pub fn render(&self, out: &mut impl fmt::Write) -> fmt::Result {
        match self {
            Value::Int(i) => write_int(out, *i),
            Value::Float(x) => {
                if x.fract() == 0.0 && x.abs() < 1e15 {
                    write!(out, "{x:.1}")
                } else {
                    write!(out, "{x}")
                }
            }
            Value::Str(s) => out.write_str(s),
        }
    }
}

/// An integer in decimal.
fn write_int(out: &mut impl fmt::Write, i: i64) -> fmt::Result {
    let mut digits = [0u8; 20];
    let mut n = i.unsigned_abs();
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if i < 0 {
        out.write_char('-')?;
    }
    out.write_str(std::str::from_utf8(&digits[at..]).expect("ASCII digits"))
}

impl Record {
    /// Writes the record as Flink prints it (what `Display` shows): one value bare, several
    /// as a tuple `(a,b,c)`.
    pub fn render(&self, out: &mut impl fmt::Write) -> fmt::Result {
        if self.fields.len() == 1 {
            return self.fields[0].render(out);
        }
        out.write_char('(')?;
        for (i, v) in self.fields.iter().enumerate() {
            if i > 0 {
                out.write_char(',')?;
            }
            v.render(out)?;
        }
        out.write_char(')')
    }
}

impl fmt::Display for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `render` writes integers as the standard library prints them (the edges included),
    /// floats and strings as Flink does, and tuples of one, two and three fields around them.
    #[test]
    fn render_writes_values_and_tuples_as_flink_prints_them() {
        let values: [(Value, String); 11] = [
            (Value::Int(0), 0i64.to_string()),
            (Value::Int(7), 7i64.to_string()),
            (Value::Int(-7), (-7i64).to_string()),
            (Value::Int(1_000_000), 1_000_000i64.to_string()),
            (Value::Int(i64::MAX), i64::MAX.to_string()),
            (Value::Int(i64::MIN), i64::MIN.to_string()),
            (Value::Float(2.0), "2.0".into()),
            (Value::Float(-0.5), "-0.5".into()),
            (Value::Float(1e20), "100000000000000000000".into()),
            (Value::Str(String::new()), String::new()),
            (Value::Str("héllo, world".into()), "héllo, world".into()),
        ];
        for (a, sa) in &values {
            for (b, sb) in &values {
                for (r, want) in [
                    (Record::new(vec![a.clone()]), sa.clone()),
                    (Record::new(vec![a.clone(), b.clone()]), format!("({sa},{sb})")),
                    (Record::new(vec![b.clone(), a.clone(), b.clone()]), format!("({sb},{sa},{sb})")),
                ] {
                    let mut out = String::from("x");
                    r.render(&mut out).unwrap();
                    assert_eq!(out, format!("x{want}"));
                    assert_eq!(r.to_string(), want);
                }
            }
        }
    }

    #[test]
    fn tuples_print_like_flink() {
        let r = Record::new(vec![Value::Str("hello".into()), Value::Int(3)]);
        assert_eq!(r.to_string(), "(hello,3)");
        assert_eq!(Record::new(vec![Value::Int(7)]).to_string(), "7");
        assert_eq!(Value::Float(2.0).to_string(), "2.0");
        let back: Vec<Value> = serde_json::from_str(r#"[1, -2, 2.5, "x"]"#).unwrap();
        assert_eq!(back, vec![Value::Int(1), Value::Int(-2), Value::Float(2.5), Value::Str("x".into())]);
        assert_eq!(serde_json::to_string(&back).unwrap(), r#"[1,-2,2.5,"x"]"#);
    }
}
