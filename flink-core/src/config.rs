//! Flink's configuration: `config.yaml` (Flink 1.19+, nested YAML flattened to dotted keys) or
//! the legacy flat `flink-conf.yaml`, `-D key=value` dynamic properties, and typed getters
//! with Flink's value syntax (MemorySize, Duration). The YAML reader is a small subset of our
//! own: block maps by indentation, scalars, quoted strings, comments, and lists (joined with
//! `;`, Flink's legacy list syntax).

use std::collections::BTreeMap;
use std::path::Path;

use crate::graph::RestartStrategy;

/// The key names used across the crates, with Flink's defaults noted where we apply them.
pub mod keys {
    /// Slots per TaskManager (default 1).
    pub const NUM_TASK_SLOTS: &str = "taskmanager.numberOfTaskSlots";
    pub const TM_PROCESS_MEMORY: &str = "taskmanager.memory.process.size";
    pub const JM_PROCESS_MEMORY: &str = "jobmanager.memory.process.size";
    /// Default job parallelism (default 1).
    pub const PARALLELISM_DEFAULT: &str = "parallelism.default";
    /// Default 10 s.
    pub const HEARTBEAT_INTERVAL: &str = "heartbeat.interval";
    /// Default 50 s.
    pub const HEARTBEAT_TIMEOUT: &str = "heartbeat.timeout";
    pub const YARN_APPLICATION_NAME: &str = "yarn.application.name";
    pub const YARN_APPLICATION_QUEUE: &str = "yarn.application.queue";
    pub const YARN_APPLICATION_TYPE: &str = "yarn.application.type";
    pub const YARN_APPLICATION_ATTEMPTS: &str = "yarn.application-attempts";
    /// Default 5 s.
    pub const YARN_HEARTBEAT_INTERVAL: &str = "yarn.heartbeat.interval";
    /// Default 500 ms.
    pub const YARN_CONTAINER_REQUEST_INTERVAL: &str = "yarn.heartbeat.container-request-interval";
    /// Default 5 min.
    pub const TM_REGISTRATION_TIMEOUT: &str = "resourcemanager.taskmanager-registration.timeout";
    /// Default 30 s.
    pub const TM_IDLE_TIMEOUT: &str = "resourcemanager.taskmanager-timeout";
    /// Default 10 (per minute).
    pub const START_WORKER_MAX_FAILURE_RATE: &str = "resourcemanager.start-worker.max-failure-rate";
    /// Default 3 s.
    pub const START_WORKER_RETRY_INTERVAL: &str = "resourcemanager.start-worker.retry-interval";
    pub const REST_PORT: &str = "rest.port";
    pub const REST_ADDRESS: &str = "rest.address";
    pub const RESTART_STRATEGY_TYPE: &str = "restart-strategy.type";
    /// The pre-1.19 name of `restart-strategy.type`.
    pub const RESTART_STRATEGY_LEGACY: &str = "restart-strategy";
    pub const RESTART_FIXED_DELAY_ATTEMPTS: &str = "restart-strategy.fixed-delay.attempts";
    pub const RESTART_FIXED_DELAY_DELAY: &str = "restart-strategy.fixed-delay.delay";
}

/// Defaults of the keys above, in the getters' units.
pub mod defaults {
    pub const NUM_TASK_SLOTS: u32 = 1;
    pub const PARALLELISM: u32 = 1;
    pub const HEARTBEAT_INTERVAL_MS: u64 = 10_000;
    pub const HEARTBEAT_TIMEOUT_MS: u64 = 50_000;
    pub const YARN_HEARTBEAT_INTERVAL_MS: u64 = 5_000;
    pub const YARN_CONTAINER_REQUEST_INTERVAL_MS: u64 = 500;
    pub const TM_REGISTRATION_TIMEOUT_MS: u64 = 300_000;
    pub const TM_IDLE_TIMEOUT_MS: u64 = 30_000;
    pub const START_WORKER_MAX_FAILURE_RATE: u32 = 10;
    pub const START_WORKER_RETRY_INTERVAL_MS: u64 = 3_000;
}

pub const CONFIG_FILE: &str = "config.yaml";
pub const LEGACY_CONFIG_FILE: &str = "flink-conf.yaml";

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlinkConfig {
    pub entries: BTreeMap<String, String>,
}

/// Parses Flink's MemorySize syntax to bytes: a number with an optional unit (b/bytes,
/// k/kb/kibibytes, m/mb/mebibytes, g/gb/gibibytes, t/tb/tebibytes); a bare number is bytes.
pub fn parse_memory_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| format!("Could not parse memory size '{text}': it must start with a number"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" | "bytes" => 1,
        "k" | "kb" | "kibibytes" => 1 << 10,
        "m" | "mb" | "mebibytes" => 1 << 20,
        "g" | "gb" | "gibibytes" => 1 << 30,
        "t" | "tb" | "tebibytes" => 1 << 40,
        u => return Err(format!("Could not parse memory size '{text}': unknown unit '{u}' (use b, k, m, g or t)")),
    };
    n.checked_mul(mult).ok_or_else(|| format!("Memory size '{text}' is too large"))
}

/// Parses Flink's Duration syntax to milliseconds: a number with an optional unit (ns, us,
/// ms, s, min, h, d and their long forms); a bare number is milliseconds.
pub fn parse_duration_ms(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let n: u64 = num.parse().map_err(|_| format!("Could not parse duration '{text}': it must start with a number"))?;
    let (mul, div): (u64, u64) = match unit.trim().to_ascii_lowercase().as_str() {
        "ns" | "nano" | "nanos" | "nanosecond" | "nanoseconds" => (1, 1_000_000),
        "us" | "µs" | "micro" | "micros" | "microsecond" | "microseconds" => (1, 1_000),
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => (1, 1),
        "s" | "sec" | "secs" | "second" | "seconds" => (1_000, 1),
        "m" | "min" | "mins" | "minute" | "minutes" => (60_000, 1),
        "h" | "hour" | "hours" => (3_600_000, 1),
        "d" | "day" | "days" => (86_400_000, 1),
        u => return Err(format!("Could not parse duration '{text}': unknown time unit '{u}'")),
    };
    n.checked_mul(mul).map(|v| v / div).ok_or_else(|| format!("Duration '{text}' is too large"))
}

/// Removes a trailing `# comment` (a `#` at the start or after whitespace, outside quotes).
fn strip_comment(line: &str) -> &str {
    let (mut single, mut double) = (false, false);
    let mut prev_space = true;
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single => double = !double,
            '#' if !single && !double && prev_space => return &line[..i],
            _ => {}
        }
        prev_space = c.is_whitespace();
    }
    line
}

/// A scalar: quoted strings unquoted (with escapes), flow lists `[a, b]` as `a;b`.
fn scalar(raw: &str, line_no: usize) -> Result<String, String> {
    let v = raw.trim();
    if let Some(body) = v.strip_prefix('"') {
        let body = body.strip_suffix('"').ok_or_else(|| format!("line {line_no}: unterminated double-quoted string"))?;
        let mut out = String::new();
        let mut chars = body.chars();
        while let Some(c) = chars.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some(e @ ('"' | '\\' | '/')) => out.push(e),
                other => return Err(format!("line {line_no}: unsupported escape '\\{}'", other.map(String::from).unwrap_or_default())),
            }
        }
        return Ok(out);
    }
    if let Some(body) = v.strip_prefix('\'') {
        let body = body.strip_suffix('\'').ok_or_else(|| format!("line {line_no}: unterminated single-quoted string"))?;
        return Ok(body.replace("''", "'"));
    }
    if let Some(body) = v.strip_prefix('[') {
        let body = body.strip_suffix(']').ok_or_else(|| format!("line {line_no}: unterminated list '['"))?;
        let items = body.split(',').map(|s| scalar(s, line_no)).collect::<Result<Vec<_>, _>>()?;
        return Ok(items.into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(";"));
    }
    if v.starts_with('{') || v.starts_with('&') || v.starts_with('*') || v.starts_with('|') || v.starts_with('>') {
        return Err(format!("line {line_no}: unsupported YAML ('{v}'): use block maps and plain or quoted scalars"));
    }
    Ok(v.to_string())
}

/// Splits `key: value` at the first `:` followed by a space or the end of line (so values
/// like `hdfs://x` and keys like `a.b` stay whole).
fn split_key(line: &str) -> Option<(&str, &str)> {
    let bytes = line.as_bytes();
    (0..bytes.len()).find(|&i| bytes[i] == b':' && (i + 1 == bytes.len() || bytes[i + 1] == b' ')).map(|i| (&line[..i], &line[i + 1..]))
}

/// Flattens our YAML subset into dotted keys.
pub fn parse_yaml(text: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    // Open maps: (indent of their key, key).
    let mut stack: Vec<(usize, String)> = Vec::new();
    // A key awaiting a block list: (indent of the key, full key, items).
    let mut list: Option<(usize, String, Vec<String>)> = None;
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = strip_comment(raw).trim_end();
        if line.trim().is_empty() || line.trim() == "---" {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line[indent..].starts_with('\t') {
            return Err(format!("line {n}: tabs are not allowed for indentation"));
        }
        let body = &line[indent..];
        if let Some(item) = body.strip_prefix("- ").or(if body == "-" { Some("") } else { None }) {
            if let Some((_, _, items)) = &mut list {
                items.push(scalar(item, n)?);
            } else if stack.last().is_some_and(|(key_indent, _)| indent >= *key_indent) {
                // The key above with no value opens a block list.
                let (key_indent, key) = stack.pop().expect("checked");
                let full = stack.iter().map(|(_, k)| k.as_str()).chain([key.as_str()]).collect::<Vec<_>>().join(".");
                list = Some((key_indent, full, vec![scalar(item, n)?]));
            } else {
                return Err(format!("line {n}: a list item without a key above it"));
            }
            continue;
        }
        if let Some((_, full, items)) = list.take() {
            out.insert(full, items.join(";"));
        }
        while stack.last().is_some_and(|(ind, _)| *ind >= indent) {
            stack.pop();
        }
        if indent > 0 && stack.is_empty() {
            return Err(format!("line {n}: unexpected indentation"));
        }
        let (key, value) = split_key(body).ok_or_else(|| format!("line {n}: expected 'key: value', got '{}'", body.trim()))?;
        let key = scalar(key, n)?;
        if key.is_empty() {
            return Err(format!("line {n}: empty key"));
        }
        if value.trim().is_empty() {
            stack.push((indent, key));
        } else {
            let full = stack.iter().map(|(_, k)| k.as_str()).chain([key.as_str()]).collect::<Vec<_>>().join(".");
            out.insert(full, scalar(value, n)?);
        }
    }
    if let Some((_, full, items)) = list {
        out.insert(full, items.join(";"));
    }
    Ok(out)
}

/// Quotes a value when writing it plain would not read back the same.
fn yaml_value(v: &str) -> String {
    let plain = !v.is_empty()
        && v.trim() == v
        && !v.contains(": ")
        && !v.contains(" #")
        && !v.contains('\n')
        && !v.ends_with(':')
        && !v.starts_with(['"', '\'', '[', '{', '&', '*', '|', '>', '-', '#']);
    if plain {
        v.to_string()
    } else {
        format!("\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n").replace('\t', "\\t"))
    }
}

impl FlinkConfig {
    pub fn new() -> FlinkConfig {
        FlinkConfig::default()
    }

    /// Reads `<dir>/config.yaml`, else the legacy `<dir>/flink-conf.yaml`.
    pub fn load(dir: &Path) -> Result<FlinkConfig, String> {
        for name in [CONFIG_FILE, LEGACY_CONFIG_FILE] {
            let path = dir.join(name);
            // Config loading is start-up IO in the binaries, never called by node code.
            #[allow(clippy::disallowed_methods)]
            let read = std::fs::read_to_string(&path);
            match read {
                Ok(text) => return Self::parse(&text).map_err(|e| format!("Invalid configuration {}: {e}", path.display())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(format!("Cannot read {}: {e}", path.display())),
            }
        }
        Err(format!("No {CONFIG_FILE} or {LEGACY_CONFIG_FILE} in {}", dir.display()))
    }

    /// Parses configuration text (either file format).
    pub fn parse(text: &str) -> Result<FlinkConfig, String> {
        Ok(FlinkConfig { entries: parse_yaml(text)? })
    }

    pub fn set(&mut self, key: &str, value: &str) {
        self.entries.insert(key.to_string(), value.to_string());
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries.get(key).map(String::as_str)
    }

    /// `-D key=value` properties, applied over the file's.
    pub fn apply_dynamic(&mut self, props: &[String]) -> Result<(), String> {
        for p in props {
            match p.split_once('=') {
                Some((k, v)) if !k.trim().is_empty() => self.set(k.trim(), v.trim()),
                _ => return Err(format!("Dynamic property {p} is not of the form key=value")),
            }
        }
        Ok(())
    }

    /// A MemorySize in MB (rounded down), None when unset.
    pub fn memory_mb(&self, key: &str) -> Result<Option<u64>, String> {
        self.get(key).map(|v| parse_memory_size(v).map(|b| b >> 20).map_err(|e| format!("{key}: {e}"))).transpose()
    }

    /// A Duration in ms, `default_ms` when unset.
    pub fn duration_ms(&self, key: &str, default_ms: u64) -> Result<u64, String> {
        self.get(key).map_or(Ok(default_ms), |v| parse_duration_ms(v).map_err(|e| format!("{key}: {e}")))
    }

    pub fn u32(&self, key: &str, default: u32) -> Result<u32, String> {
        self.get(key).map_or(Ok(default), |v| {
            // Flink's float-typed options (e.g. max-failure-rate 10.0) read as whole numbers here.
            let t = v.trim().strip_suffix(".0").unwrap_or(v.trim());
            t.parse().map_err(|_| format!("Could not parse value '{v}' for key '{key}': expected a non-negative integer"))
        })
    }

    pub fn bool(&self, key: &str, default: bool) -> Result<bool, String> {
        self.get(key).map_or(Ok(default), |v| match v.trim().to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(format!("Could not parse value '{v}' for key '{key}': expected true or false")),
        })
    }

    pub fn string(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_string()
    }

    /// The job restart strategy from `restart-strategy.type` (or the legacy
    /// `restart-strategy`): `fixed-delay`/`fixeddelay` with `.fixed-delay.attempts` (Flink's
    /// default 1) and `.fixed-delay.delay` (1 s), or `none`/`off`/`disable`. Unset: with
    /// checkpointing, fixed-delay with unlimited (i32::MAX) attempts as Flink before 1.19;
    /// without, OUR default fixed-delay, 3 attempts, 1 s ([`DEFAULT_RESTART_STRATEGY`]) where
    /// Flink would not restart, so simulated failures show recovery.
    pub fn restart_strategy(&self, checkpointing: bool) -> Result<RestartStrategy, String> {
        let kind = self.get(keys::RESTART_STRATEGY_TYPE).or(self.get(keys::RESTART_STRATEGY_LEGACY));
        let delay_ms = self.duration_ms(keys::RESTART_FIXED_DELAY_DELAY, 1000)?;
        match kind.map(|k| k.trim().to_ascii_lowercase()) {
            None if checkpointing => Ok(RestartStrategy::FixedDelay { attempts: i32::MAX as u32, delay_ms }),
            None => Ok(DEFAULT_RESTART_STRATEGY),
            Some(k) => match k.as_str() {
                "fixed-delay" | "fixeddelay" => {
                    Ok(RestartStrategy::FixedDelay { attempts: self.u32(keys::RESTART_FIXED_DELAY_ATTEMPTS, 1)?, delay_ms })
                }
                "none" | "off" | "disable" => Ok(RestartStrategy::NoRestart),
                other => Err(format!("Unsupported restart strategy '{other}' (supported: fixed-delay, none)")),
            },
        }
    }

    /// Flat `key: value` lines, sorted: what the client ships to the cluster.
    pub fn to_yaml(&self) -> String {
        self.entries.iter().map(|(k, v)| format!("{}: {}\n", yaml_value(k), yaml_value(v))).collect()
    }
}

pub use crate::program::DEFAULT_RESTART_STRATEGY;

#[cfg(test)]
mod tests {
    use super::*;

    const NESTED: &str = r##"
# Flink 1.19+ config.yaml
jobmanager:
  rpc:
    address: localhost   # trailing comment
    port: 6123
  memory:
    process:
      size: 1600m
taskmanager.memory.process.size: 1728m
taskmanager:
  numberOfTaskSlots: 2
parallelism.default: "3"
env.java.opts: 'it''s -Dx=1'
high-availability.storageDir: hdfs:///flink/ha/
yarn.ship-files: [a.txt, "b c.txt"]
yarn.tags:
  - one
  - two
rest.address: "#not-a-comment"
"##;

    #[test]
    fn nested_and_flat_keys_flatten_with_dots() {
        let c = FlinkConfig::parse(NESTED).unwrap();
        assert_eq!(c.get("jobmanager.rpc.address"), Some("localhost"));
        assert_eq!(c.get("jobmanager.rpc.port"), Some("6123"));
        assert_eq!(c.memory_mb(keys::JM_PROCESS_MEMORY).unwrap(), Some(1600));
        assert_eq!(c.memory_mb(keys::TM_PROCESS_MEMORY).unwrap(), Some(1728));
        assert_eq!(c.u32(keys::NUM_TASK_SLOTS, 1).unwrap(), 2);
        assert_eq!(c.u32(keys::PARALLELISM_DEFAULT, 1).unwrap(), 3);
        assert_eq!(c.get("env.java.opts"), Some("it's -Dx=1"));
        assert_eq!(c.get("high-availability.storageDir"), Some("hdfs:///flink/ha/"));
        assert_eq!(c.get("yarn.ship-files"), Some("a.txt;b c.txt"));
        assert_eq!(c.get("yarn.tags"), Some("one;two"));
        assert_eq!(c.get("rest.address"), Some("#not-a-comment"));
        assert_eq!(c.u32(keys::REST_PORT, 8081).unwrap(), 8081);
    }

    #[test]
    fn yaml_errors_name_the_line() {
        assert_eq!(FlinkConfig::parse("a: 1\n  b: 2\n").unwrap_err(), "line 2: unexpected indentation");
        assert_eq!(FlinkConfig::parse("a: 1\n\nnot a pair\n").unwrap_err(), "line 3: expected 'key: value', got 'not a pair'");
        assert!(FlinkConfig::parse("a:\n\tb: 1\n").unwrap_err().starts_with("line 2: tabs"));
        assert!(FlinkConfig::parse("a: \"open\n").unwrap_err().starts_with("line 1: unterminated"));
        assert!(FlinkConfig::parse("a: {b: 1}\n").unwrap_err().starts_with("line 1: unsupported YAML"));
    }

    #[test]
    fn memory_sizes_and_durations_use_flinks_syntax() {
        assert_eq!(parse_memory_size("1024m").unwrap(), 1 << 30);
        assert_eq!(parse_memory_size("1g").unwrap(), 1 << 30);
        assert_eq!(parse_memory_size("1728 mb").unwrap(), 1728 << 20);
        assert_eq!(parse_memory_size("2048").unwrap(), 2048);
        assert_eq!(parse_memory_size("64 kb").unwrap(), 64 << 10);
        assert!(parse_memory_size("12 parsecs").unwrap_err().contains("unknown unit"));
        assert_eq!(parse_duration_ms("10 s").unwrap(), 10_000);
        assert_eq!(parse_duration_ms("500 ms").unwrap(), 500);
        assert_eq!(parse_duration_ms("1 min").unwrap(), 60_000);
        assert_eq!(parse_duration_ms("250").unwrap(), 250);
        assert_eq!(parse_duration_ms("2h").unwrap(), 7_200_000);
        assert!(parse_duration_ms("soon").is_err());
        let c = FlinkConfig::new();
        assert_eq!(c.duration_ms(keys::HEARTBEAT_INTERVAL, defaults::HEARTBEAT_INTERVAL_MS).unwrap(), 10_000);
        assert_eq!(c.memory_mb(keys::TM_PROCESS_MEMORY).unwrap(), None);
        assert!(c.bool("x", true).unwrap());
    }

    #[test]
    fn dynamic_properties_override_and_are_checked() {
        let mut c = FlinkConfig::parse("heartbeat.timeout: 50 s\n").unwrap();
        c.apply_dynamic(&["heartbeat.timeout=5 s".into(), "yarn.application.name=my app".into()]).unwrap();
        assert_eq!(c.duration_ms(keys::HEARTBEAT_TIMEOUT, 0).unwrap(), 5000);
        assert_eq!(c.string(keys::YARN_APPLICATION_NAME, "Flink session cluster"), "my app");
        assert_eq!(c.apply_dynamic(&["oops".into()]).unwrap_err(), "Dynamic property oops is not of the form key=value");
        assert!(c.u32(keys::HEARTBEAT_TIMEOUT, 1).is_err());
    }

    #[test]
    fn restart_strategy_from_config() {
        let mut c = FlinkConfig::new();
        assert_eq!(c.restart_strategy(false).unwrap(), DEFAULT_RESTART_STRATEGY);
        assert_eq!(c.restart_strategy(true).unwrap(), RestartStrategy::FixedDelay { attempts: i32::MAX as u32, delay_ms: 1000 });
        c.set("restart-strategy", "fixeddelay");
        c.set(keys::RESTART_FIXED_DELAY_DELAY, "2 s");
        assert_eq!(c.restart_strategy(false).unwrap(), RestartStrategy::FixedDelay { attempts: 1, delay_ms: 2000 });
        c.set(keys::RESTART_STRATEGY_TYPE, "none");
        assert_eq!(c.restart_strategy(true).unwrap(), RestartStrategy::NoRestart);
        c.set(keys::RESTART_STRATEGY_TYPE, "failure-rate");
        assert!(c.restart_strategy(true).is_err());
    }

    #[test]
    fn to_yaml_round_trips() {
        let mut c = FlinkConfig::parse(NESTED).unwrap();
        c.set("odd", "a: b # c");
        c.set("empty", "");
        c.set("quote", "\"x\"");
        let yaml = c.to_yaml();
        assert!(yaml.contains("empty: \"\"\n") && yaml.contains("taskmanager.numberOfTaskSlots: 2\n"), "{yaml}");
        assert_eq!(FlinkConfig::parse(&yaml).unwrap(), c);
    }
}
