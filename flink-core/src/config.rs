//! Flink's configuration: `config.yaml` (Flink 1.19+, nested YAML flattened to dotted keys) or
//! the legacy flat `flink-conf.yaml`, `-D key=value` dynamic properties, and typed getters
//! with Flink's value syntax (MemorySize, Duration). The YAML reader is a small subset of our
//! own: block maps by indentation, scalars, quoted strings, comments, and lists (joined with
//! `;`, Flink's legacy list syntax).

use std::collections::BTreeMap;
use std::path::Path;

use crate::checkpoint::{CheckpointConfig, CheckpointingMode, ExternalizedRetention};
use crate::graph::{FailoverStrategy, JobGraph, RestartStrategy, SavepointRestoreSettings};

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
    pub const RESTART_FAILURE_RATE_MAX_FAILURES: &str = "restart-strategy.failure-rate.max-failures-per-interval";
    pub const RESTART_FAILURE_RATE_INTERVAL: &str = "restart-strategy.failure-rate.failure-rate-interval";
    pub const RESTART_FAILURE_RATE_DELAY: &str = "restart-strategy.failure-rate.delay";
    pub const RESTART_EXP_INITIAL_BACKOFF: &str = "restart-strategy.exponential-delay.initial-backoff";
    pub const RESTART_EXP_MAX_BACKOFF: &str = "restart-strategy.exponential-delay.max-backoff";
    pub const RESTART_EXP_MULTIPLIER: &str = "restart-strategy.exponential-delay.backoff-multiplier";
    pub const RESTART_EXP_RESET_THRESHOLD: &str = "restart-strategy.exponential-delay.reset-backoff-threshold";
    pub const RESTART_EXP_JITTER: &str = "restart-strategy.exponential-delay.jitter-factor";
    pub const RESTART_EXP_ATTEMPTS_BEFORE_RESET: &str = "restart-strategy.exponential-delay.attempts-before-reset-backoff";
    /// `region` (default) or `full`.
    pub const FAILOVER_STRATEGY: &str = "jobmanager.execution.failover-strategy";

    // Checkpointing (Flink 2.x CheckpointingOptions); the deprecated names are in
    // [`super::CHECKPOINT_ALIASES`].
    /// Unset = checkpointing off.
    pub const CHECKPOINTING_INTERVAL: &str = "execution.checkpointing.interval";
    /// How long a partly filled network buffer may wait before it is sent (default 100 ms).
    pub const BUFFER_TIMEOUT: &str = "execution.buffer-timeout";
    /// false: buffers are sent only when full.
    pub const BUFFER_TIMEOUT_ENABLED: &str = "execution.buffer-timeout.enabled";
    pub const CHECKPOINTING_MODE: &str = "execution.checkpointing.mode";
    pub const CHECKPOINTING_TIMEOUT: &str = "execution.checkpointing.timeout";
    pub const CHECKPOINTING_MIN_PAUSE: &str = "execution.checkpointing.min-pause";
    pub const CHECKPOINTING_MAX_CONCURRENT: &str = "execution.checkpointing.max-concurrent-checkpoints";
    pub const CHECKPOINTING_TOLERABLE_FAILED: &str = "execution.checkpointing.tolerable-failed-checkpoints";
    pub const CHECKPOINTING_RETENTION: &str = "execution.checkpointing.externalized-checkpoint-retention";
    pub const CHECKPOINTING_NUM_RETAINED: &str = "execution.checkpointing.num-retained";
    pub const CHECKPOINTING_DIR: &str = "execution.checkpointing.dir";
    pub const SAVEPOINT_DIR: &str = "execution.checkpointing.savepoint-dir";
    pub const CHECKPOINT_STORAGE: &str = "execution.checkpointing.storage";
    pub const CHECKPOINTING_CREATE_SUBDIR: &str = "execution.checkpointing.create-subdir";
    pub const CHECKPOINTING_INCREMENTAL: &str = "execution.checkpointing.incremental";
    pub const CHECKPOINTING_UNALIGNED: &str = "execution.checkpointing.unaligned.enabled";
    pub const CHECKPOINTING_ALIGNED_TIMEOUT: &str = "execution.checkpointing.aligned-checkpoint-timeout";
    pub const STATE_BACKEND_TYPE: &str = "state.backend.type";
    /// `flink run -s`: the savepoint or retained checkpoint to start from.
    pub const STATE_RECOVERY_PATH: &str = "execution.state-recovery.path";
    pub const STATE_RECOVERY_CLAIM_MODE: &str = "execution.state-recovery.claim-mode";
    /// `flink run -n` (`--allowNonRestoredState`).
    pub const STATE_RECOVERY_IGNORE_UNCLAIMED: &str = "execution.state-recovery.ignore-unclaimed-state";
    /// How long the CLI waits for a savepoint or checkpoint (default 60 s).
    pub const CLIENT_TIMEOUT: &str = "client.timeout";
    /// How often, and how far apart, the REST client retries a request the JobManager answered
    /// 503 (a leader election under way).
    pub const REST_RETRY_MAX_ATTEMPTS: &str = "rest.retry.max-attempts";
    pub const REST_RETRY_DELAY: &str = "rest.retry.delay";
}

/// Deprecated key names Flink still reads, per 2.x key (reference flink-checkpoints-ha.md
/// §1.5): the 2.x key wins when both are set, then the aliases in this order.
pub const CHECKPOINT_ALIASES: &[(&str, &[&str])] = &[
    (keys::CHECKPOINTING_NUM_RETAINED, &["state.checkpoints.num-retained"]),
    (keys::CHECKPOINTING_DIR, &["state.checkpoints.dir", "state.backend.fs.checkpointdir"]),
    (keys::SAVEPOINT_DIR, &["state.savepoints.dir", "savepoints.state.backend.fs.dir"]),
    (keys::CHECKPOINT_STORAGE, &["state.checkpoint-storage"]),
    (keys::CHECKPOINTING_CREATE_SUBDIR, &["state.checkpoints.create-subdir"]),
    (keys::CHECKPOINTING_INCREMENTAL, &["state.backend.incremental"]),
    (keys::CHECKPOINTING_UNALIGNED, &["execution.checkpointing.unaligned"]),
    (keys::CHECKPOINTING_ALIGNED_TIMEOUT, &["execution.checkpointing.alignment-timeout"]),
    (keys::STATE_BACKEND_TYPE, &["state.backend"]),
    (keys::STATE_RECOVERY_PATH, &["execution.savepoint.path"]),
    (keys::STATE_RECOVERY_CLAIM_MODE, &["execution.savepoint-restore-mode"]),
    (keys::STATE_RECOVERY_IGNORE_UNCLAIMED, &["execution.savepoint.ignore-unclaimed-state"]),
];

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
    pub const CHECKPOINTING_TIMEOUT_MS: u64 = 10 * 60 * 1000;
    pub const CHECKPOINTING_MAX_CONCURRENT: u32 = 1;
    pub const CHECKPOINTING_NUM_RETAINED: u32 = 1;
    pub const FIXED_DELAY_ATTEMPTS: u32 = 1;
    pub const FIXED_DELAY_DELAY_MS: u64 = 1_000;
    pub const FAILURE_RATE_MAX_FAILURES: u32 = 1;
    pub const FAILURE_RATE_INTERVAL_MS: u64 = 60_000;
    pub const FAILURE_RATE_DELAY_MS: u64 = 1_000;
    pub const EXP_INITIAL_BACKOFF_MS: u64 = 1_000;
    /// 1 min and x1.5 since Flink 1.19 (FLINK-33736).
    pub const EXP_MAX_BACKOFF_MS: u64 = 60_000;
    pub const EXP_MULTIPLIER: f64 = 1.5;
    pub const EXP_RESET_THRESHOLD_MS: u64 = 3_600_000;
    pub const EXP_JITTER: f64 = 0.1;
    pub const EXP_ATTEMPTS_BEFORE_RESET: u32 = i32::MAX as u32;
    pub const CLIENT_TIMEOUT_MS: u64 = 60_000;
    pub const REST_RETRY_MAX_ATTEMPTS: u32 = 20;
    /// Flink: 3 s. The harness's leaders are elected within a few hundred ms.
    pub const REST_RETRY_DELAY_MS: u64 = 200;
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

/// Flink's config.yaml is kilobytes; the bounds turn a hostile file into a clear error.
pub const MAX_CONFIG_BYTES: usize = 4 << 20;
/// Nested maps (`a:` / `  b:` / ...) deeper than this are refused; Flink's keys have < 10 parts.
pub const MAX_CONFIG_DEPTH: usize = 32;

/// Flattens our YAML subset into dotted keys.
pub fn parse_yaml(text: &str) -> Result<BTreeMap<String, String>, String> {
    if text.len() > MAX_CONFIG_BYTES {
        return Err(format!("{} bytes, more than the limit of {MAX_CONFIG_BYTES}", text.len()));
    }
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
            if stack.len() >= MAX_CONFIG_DEPTH {
                return Err(format!("line {n}: maps nested deeper than {MAX_CONFIG_DEPTH} levels"));
            }
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

    /// The value of `key`, else of its first set deprecated alias (see [`CHECKPOINT_ALIASES`]),
    /// with the key it was read from (for messages).
    pub fn get_aliased<'a>(&'a self, key: &'a str) -> Option<(&'a str, &'a str)> {
        if let Some(v) = self.get(key) {
            return Some((key, v));
        }
        let aliases = CHECKPOINT_ALIASES.iter().find(|(k, _)| *k == key).map(|(_, a)| *a).unwrap_or(&[]);
        aliases.iter().find_map(|a| self.get(a).map(|v| (*a, v)))
    }

    /// `high-availability.type` (old keys `high-availability`, `recovery.mode`): true for
    /// `zookeeper`, false for `NONE`; anything else is refused (Kubernetes HA needs Kubernetes,
    /// and factory classes cannot be loaded here).
    pub fn ha_zookeeper(&self) -> Result<bool, String> {
        let set = ["high-availability.type", "high-availability", "recovery.mode"].into_iter().find_map(|k| self.get(k).map(|v| (k, v)));
        match set {
            None => Ok(false),
            Some((k, v)) => match v.trim().to_ascii_lowercase().as_str() {
                "none" => Ok(false),
                "zookeeper" => Ok(true),
                other => Err(format!(
                    "Invalid configuration value for {k}: '{other}'. This harness supports NONE and zookeeper (kubernetes needs a Kubernetes cluster; factory classes cannot be loaded)."
                )),
            },
        }
    }

    /// A float option (`1.5`), `default` when unset.
    pub fn f64(&self, key: &str, default: f64) -> Result<f64, String> {
        self.get(key).map_or(Ok(default), |v| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| format!("Could not parse value '{v}' for key '{key}': expected a number"))
        })
    }

    /// An enum option, matched case-insensitively as Flink's ConfigurationUtils does.
    fn enum_value<T: Copy>(&self, key: &str, values: &[(&str, T)]) -> Result<Option<T>, String> {
        let Some((k, v)) = self.get_aliased(key) else { return Ok(None) };
        match values.iter().find(|(name, _)| name.eq_ignore_ascii_case(v.trim())) {
            Some((_, t)) => Ok(Some(*t)),
            None => Err(format!(
                "Could not parse value '{v}' for key '{k}': it must be one of [{}]",
                values.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ")
            )),
        }
    }

    fn aliased_duration_ms(&self, key: &str, default_ms: u64) -> Result<u64, String> {
        self.get_aliased(key).map_or(Ok(default_ms), |(k, v)| parse_duration_ms(v).map_err(|e| format!("{k}: {e}")))
    }

    fn aliased_u32(&self, key: &str, default: u32) -> Result<u32, String> {
        self.get_aliased(key).map_or(Ok(default), |(k, _)| self.u32(k, default))
    }

    fn aliased_bool(&self, key: &str, default: bool) -> Result<bool, String> {
        self.get_aliased(key).map_or(Ok(default), |(k, _)| self.bool(k, default))
    }

    /// `execution.checkpointing.mode`: EXACTLY_ONCE (default) or AT_LEAST_ONCE.
    pub fn checkpointing_mode(&self) -> Result<CheckpointingMode, String> {
        Ok(self
            .enum_value(
                keys::CHECKPOINTING_MODE,
                &[("EXACTLY_ONCE", CheckpointingMode::ExactlyOnce), ("AT_LEAST_ONCE", CheckpointingMode::AtLeastOnce)],
            )?
            .unwrap_or(CheckpointingMode::ExactlyOnce))
    }

    /// `execution.checkpointing.savepoint-dir` (or `state.savepoints.dir`) as a shared-store
    /// path; None when unset.
    pub fn savepoint_dir(&self, store_root: Option<&Path>) -> Result<Option<String>, String> {
        self.get_aliased(keys::SAVEPOINT_DIR).map(|(k, v)| store_path(v, store_root, k)).transpose()
    }

    /// The job's checkpointing settings from Flink's 2.x keys and their deprecated names;
    /// None when `execution.checkpointing.interval` is unset (checkpointing off). Options
    /// this harness cannot honour (unaligned checkpoints, RocksDB/ForSt, no per-job subdir)
    /// are refused with a message rather than silently ignored. Directories must lie in the
    /// shared store (`store_root` = fs.defaultFS's directory, to accept absolute paths).
    pub fn checkpoint_config(&self, store_root: Option<&Path>) -> Result<Option<CheckpointConfig>, String> {
        let min = CheckpointConfig::MINIMAL_CHECKPOINT_TIME_MS;
        let mode = self.checkpointing_mode()?;
        let timeout_ms = self.aliased_duration_ms(keys::CHECKPOINTING_TIMEOUT, defaults::CHECKPOINTING_TIMEOUT_MS)?;
        if timeout_ms < min {
            return Err(format!("java.lang.IllegalArgumentException: Checkpoint timeout must be larger than or equal to {min} ms"));
        }
        let min_pause_ms = self.aliased_duration_ms(keys::CHECKPOINTING_MIN_PAUSE, 0)?;
        let max_concurrent = self.aliased_u32(keys::CHECKPOINTING_MAX_CONCURRENT, defaults::CHECKPOINTING_MAX_CONCURRENT)?;
        if max_concurrent < 1 {
            return Err("java.lang.IllegalArgumentException: The maximum number of concurrent attempts must be at least one.".into());
        }
        let tolerable_failed = self.aliased_u32(keys::CHECKPOINTING_TOLERABLE_FAILED, 0)?;
        let retention = self
            .enum_value(
                keys::CHECKPOINTING_RETENTION,
                &[
                    ("NO_EXTERNALIZED_CHECKPOINTS", ExternalizedRetention::NoExternalizedCheckpoints),
                    ("DELETE_ON_CANCELLATION", ExternalizedRetention::DeleteOnCancellation),
                    ("RETAIN_ON_CANCELLATION", ExternalizedRetention::RetainOnCancellation),
                ],
            )?
            .unwrap_or(ExternalizedRetention::NoExternalizedCheckpoints);
        let num_retained = self.aliased_u32(keys::CHECKPOINTING_NUM_RETAINED, defaults::CHECKPOINTING_NUM_RETAINED)?;
        if num_retained < 1 {
            return Err(format!(
                "Invalid value {num_retained} for {}: the number of retained checkpoints must be at least 1.",
                self.get_aliased(keys::CHECKPOINTING_NUM_RETAINED).map(|(k, _)| k).unwrap_or(keys::CHECKPOINTING_NUM_RETAINED)
            ));
        }
        let dir = self.get_aliased(keys::CHECKPOINTING_DIR).map(|(k, v)| store_path(v, store_root, k)).transpose()?;
        let savepoint_dir = self.savepoint_dir(store_root)?;
        #[derive(Clone, Copy, PartialEq)]
        enum Storage {
            JobManager,
            FileSystem,
        }
        let storage = self.enum_value(
            keys::CHECKPOINT_STORAGE,
            &[
                ("jobmanager", Storage::JobManager),
                ("filesystem", Storage::FileSystem),
                ("org.apache.flink.runtime.state.storage.JobManagerCheckpointStorage", Storage::JobManager),
                ("org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage", Storage::FileSystem),
            ],
        )?;
        if storage == Some(Storage::FileSystem) && dir.is_none() {
            return Err(format!(
                "org.apache.flink.configuration.IllegalConfigurationException: Cannot create the file system state backend: The configuration does not specify the checkpoint directory '{}'",
                keys::CHECKPOINTING_DIR
            ));
        }
        if !self.aliased_bool(keys::CHECKPOINTING_CREATE_SUBDIR, true)? {
            return Err(format!(
                "{}: false is not supported here: checkpoints always go to <dir>/<job-id>/chk-<n>.",
                self.get_aliased(keys::CHECKPOINTING_CREATE_SUBDIR).map(|(k, _)| k).unwrap_or(keys::CHECKPOINTING_CREATE_SUBDIR)
            ));
        }
        // The hashmap backend always takes full snapshots; Flink ignores the flag for it too.
        self.aliased_bool(keys::CHECKPOINTING_INCREMENTAL, false)?;
        if self.aliased_bool(keys::CHECKPOINTING_UNALIGNED, false)? {
            return Err(format!(
                "{}: unaligned checkpoints are not supported here; use aligned (EXACTLY_ONCE) or AT_LEAST_ONCE checkpoints.",
                keys::CHECKPOINTING_UNALIGNED
            ));
        }
        // Only meaningful with unaligned checkpoints; parsed so a typo is still an error.
        self.aliased_duration_ms(keys::CHECKPOINTING_ALIGNED_TIMEOUT, 0)?;
        if let Some((k, v)) = self.get_aliased(keys::STATE_BACKEND_TYPE) {
            let v = v.trim().to_ascii_lowercase();
            if !matches!(v.as_str(), "hashmap" | "org.apache.flink.runtime.state.hashmap.hashmapstatebackend") {
                return Err(format!("Could not create the state backend '{v}' ({k}): only the 'hashmap' state backend is available here."));
            }
        }
        let Some((k, v)) = self.get_aliased(keys::CHECKPOINTING_INTERVAL) else { return Ok(None) };
        let interval_ms = parse_duration_ms(v).map_err(|e| format!("{k}: {e}"))?;
        if interval_ms < min {
            return Err(format!("java.lang.IllegalArgumentException: Checkpoint interval must be larger than or equal to {min} ms"));
        }
        Ok(Some(CheckpointConfig {
            interval_ms,
            mode,
            timeout_ms,
            min_pause_ms,
            max_concurrent,
            tolerable_failed,
            retention,
            num_retained,
            dir,
            savepoint_dir,
        }))
    }

    /// The job restart strategy from `restart-strategy.type` (or the legacy
    /// `restart-strategy`) and the chosen strategy's keys, with Flink 2.x's defaults. Unset:
    /// `exponential-delay` with its defaults when checkpointing is on, no restart when it is
    /// off (Flink since 1.19; reference flink-checkpoints-ha.md §3.1).
    pub fn restart_strategy(&self, checkpointing: bool) -> Result<RestartStrategy, String> {
        let kind = self.get(keys::RESTART_STRATEGY_TYPE).or(self.get(keys::RESTART_STRATEGY_LEGACY));
        let kind = match kind.map(|k| k.trim().to_ascii_lowercase()) {
            None if checkpointing => "exponential-delay".to_string(),
            None => "disable".to_string(),
            Some(k) => k,
        };
        match kind.as_str() {
            "none" | "off" | "disable" => Ok(RestartStrategy::NoRestart),
            "fixed-delay" | "fixeddelay" => Ok(RestartStrategy::FixedDelay {
                attempts: self.u32(keys::RESTART_FIXED_DELAY_ATTEMPTS, defaults::FIXED_DELAY_ATTEMPTS)?,
                delay_ms: self.duration_ms(keys::RESTART_FIXED_DELAY_DELAY, defaults::FIXED_DELAY_DELAY_MS)?,
            }),
            "failure-rate" | "failurerate" => {
                let max_failures = self.u32(keys::RESTART_FAILURE_RATE_MAX_FAILURES, defaults::FAILURE_RATE_MAX_FAILURES)?;
                let interval_ms = self.duration_ms(keys::RESTART_FAILURE_RATE_INTERVAL, defaults::FAILURE_RATE_INTERVAL_MS)?;
                let delay_ms = self.duration_ms(keys::RESTART_FAILURE_RATE_DELAY, defaults::FAILURE_RATE_DELAY_MS)?;
                if max_failures < 1 {
                    return Err(format!(
                        "java.lang.IllegalArgumentException: {} must be at least 1.",
                        keys::RESTART_FAILURE_RATE_MAX_FAILURES
                    ));
                }
                if interval_ms < 1 {
                    return Err(format!(
                        "java.lang.IllegalArgumentException: {} must be at least 1 ms.",
                        keys::RESTART_FAILURE_RATE_INTERVAL
                    ));
                }
                Ok(RestartStrategy::FailureRate { max_failures, interval_ms, delay_ms })
            }
            "exponential-delay" | "exponentialdelay" => {
                let initial_backoff_ms = self.duration_ms(keys::RESTART_EXP_INITIAL_BACKOFF, defaults::EXP_INITIAL_BACKOFF_MS)?;
                let max_backoff_ms = self.duration_ms(keys::RESTART_EXP_MAX_BACKOFF, defaults::EXP_MAX_BACKOFF_MS)?;
                let multiplier = self.f64(keys::RESTART_EXP_MULTIPLIER, defaults::EXP_MULTIPLIER)?;
                let reset_threshold_ms = self.duration_ms(keys::RESTART_EXP_RESET_THRESHOLD, defaults::EXP_RESET_THRESHOLD_MS)?;
                let jitter = self.f64(keys::RESTART_EXP_JITTER, defaults::EXP_JITTER)?;
                let attempts_before_reset = self.u32(keys::RESTART_EXP_ATTEMPTS_BEFORE_RESET, defaults::EXP_ATTEMPTS_BEFORE_RESET)?;
                // ExponentialDelayRestartBackoffTimeStrategy's preconditions.
                let bad = |m: &str| Err(format!("java.lang.IllegalArgumentException: {m}"));
                if initial_backoff_ms < 1 {
                    return bad("Initial backoff must be at least 1.");
                }
                if max_backoff_ms < 1 {
                    return bad("Maximum backoff must be at least 1.");
                }
                if initial_backoff_ms > max_backoff_ms {
                    return bad("Initial backoff cannot be higher than max backoff.");
                }
                if multiplier < 1.0 {
                    return bad("Backoff multiplier must be at least 1.");
                }
                if reset_threshold_ms < 1 {
                    return bad("Threshold duration for exponential backoff reset must be at least 1.");
                }
                if !(0.0..=1.0).contains(&jitter) {
                    return bad("Jitter factor must be >= 0 and <= 1.");
                }
                if attempts_before_reset < 1 {
                    return bad("The attemptsBeforeResetBackoff must be greater than 0.");
                }
                Ok(RestartStrategy::ExponentialDelay {
                    initial_backoff_ms,
                    max_backoff_ms,
                    multiplier,
                    reset_threshold_ms,
                    jitter,
                    attempts_before_reset,
                })
            }
            other => Err(format!(
                "Unknown restart strategy {other}: use none/off/disable, fixed-delay, failure-rate or exponential-delay ({}).",
                keys::RESTART_STRATEGY_TYPE
            )),
        }
    }

    /// `jobmanager.execution.failover-strategy`: `region` (default) or `full`.
    pub fn failover_strategy(&self) -> Result<FailoverStrategy, String> {
        match self.get(keys::FAILOVER_STRATEGY).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(FailoverStrategy::Region),
            Some(v) if v == "region" => Ok(FailoverStrategy::Region),
            Some(v) if v == "full" => Ok(FailoverStrategy::Full),
            Some(v) => Err(format!("org.apache.flink.configuration.IllegalConfigurationException: Unknown failover strategy: {v}")),
        }
    }

    /// `execution.state-recovery.path` (old `execution.savepoint.path`) with
    /// `.ignore-unclaimed-state` (`--allowNonRestoredState`): what `flink run -s` sets. The
    /// path becomes a shared-store path; `claim-mode` NO_CLAIM (the default) is the only mode
    /// offered (the snapshot is never deleted by the job).
    pub fn savepoint_restore(&self, store_root: Option<&Path>) -> Result<Option<SavepointRestoreSettings>, String> {
        #[derive(Clone, Copy, PartialEq)]
        enum RecoveryClaimMode {
            Claim,
            NoClaim,
            Legacy,
        }
        use RecoveryClaimMode as Claim;
        let claim = self.enum_value(
            keys::STATE_RECOVERY_CLAIM_MODE,
            &[("CLAIM", Claim::Claim), ("NO_CLAIM", Claim::NoClaim), ("LEGACY", Claim::Legacy)],
        )?;
        if matches!(claim, Some(Claim::Claim | Claim::Legacy)) {
            return Err(format!(
                "{}: only NO_CLAIM is supported here (the job never deletes or reuses the snapshot's files).",
                keys::STATE_RECOVERY_CLAIM_MODE
            ));
        }
        let allow_non_restored_state = self.aliased_bool(keys::STATE_RECOVERY_IGNORE_UNCLAIMED, false)?;
        let Some((k, v)) = self.get_aliased(keys::STATE_RECOVERY_PATH) else { return Ok(None) };
        if v.trim().is_empty() {
            return Ok(None);
        }
        Ok(Some(SavepointRestoreSettings { path: store_path(v, store_root, k)?, allow_non_restored_state }))
    }

    /// Everything of a job that comes from configuration rather than the program.
    pub fn job_settings(&self, store_root: Option<&Path>) -> Result<JobSettings, String> {
        let checkpointing = self.checkpoint_config(store_root)?;
        let buffer_timeout_ms = if self.bool(keys::BUFFER_TIMEOUT_ENABLED, true)? {
            Some(self.duration_ms(keys::BUFFER_TIMEOUT, crate::graph::DEFAULT_BUFFER_TIMEOUT_MS)?)
        } else {
            None
        };
        Ok(JobSettings {
            buffer_timeout_ms,
            restart: self.restart_strategy(checkpointing.is_some())?,
            failover: self.failover_strategy()?,
            savepoint_restore: self.savepoint_restore(store_root)?,
            checkpointing,
        })
    }

    /// Flat `key: value` lines, sorted: what the client ships to the cluster.
    pub fn to_yaml(&self) -> String {
        self.entries.iter().map(|(k, v)| format!("{}: {}\n", yaml_value(k), yaml_value(v))).collect()
    }
}

/// A job's settings from configuration (the client puts them into the JobGraph).
#[derive(Clone, Debug, PartialEq)]
pub struct JobSettings {
    pub checkpointing: Option<CheckpointConfig>,
    /// For jobs whose program sets no restart strategy.
    pub restart: RestartStrategy,
    pub failover: FailoverStrategy,
    pub savepoint_restore: Option<SavepointRestoreSettings>,
    /// `execution.buffer-timeout` in ms; None: `execution.buffer-timeout.enabled: false`.
    pub buffer_timeout_ms: Option<u64>,
}

impl JobSettings {
    /// Sets the graph's checkpointing, failover and restore settings (its restart strategy
    /// was chosen when it was built: the program's own, else `self.restart`).
    pub fn apply(&self, graph: &mut JobGraph) {
        graph.checkpointing = self.checkpointing.clone();
        graph.failover_strategy = self.failover;
        graph.savepoint_restore = self.savepoint_restore.clone();
        graph.buffer_timeout_ms = self.buffer_timeout_ms;
    }
}

/// A user-given directory (`execution.checkpointing.dir`, a savepoint target, `flink run -s`)
/// as a shared-store path: relative paths are store paths; `file:///abs`, `file:/abs` and
/// `/abs` must lie under the store's directory `store_root` (fs.defaultFS). Anything else is an
/// error naming the key and the store.
pub fn store_path(value: &str, store_root: Option<&Path>, key: &str) -> Result<String, String> {
    let raw = value.trim();
    let path = if let Some(p) = raw.strip_prefix("file://") {
        p
    } else if let Some(p) = raw.strip_prefix("file:") {
        p
    } else if let Some((scheme, _)) = raw.split_once("://") {
        return Err(format!(
            "The path '{raw}' ({key}) uses the file system scheme '{scheme}', which is not available here: use the shared store (fs.defaultFS, file://)."
        ));
    } else {
        raw
    };
    let outside = |root: Option<&Path>| match root {
        Some(r) => format!(
            "The path '{raw}' ({key}) is outside the shared store {}: use a directory under file://{} or a path relative to it.",
            r.display(),
            r.display()
        ),
        None => {
            format!("The path '{raw}' ({key}) is absolute but the shared store's location is unknown: use a path relative to the store.")
        }
    };
    let rel = if path.starts_with('/') {
        let root = store_root.ok_or_else(|| outside(None))?;
        match Path::new(path).strip_prefix(root) {
            Ok(r) => r.to_string_lossy().into_owned(),
            Err(_) => return Err(outside(store_root)),
        }
    } else {
        path.to_string()
    };
    engine::store::check_path(&rel).map_err(|_| outside(store_root))
}

#[cfg(test)]
mod tests {
    #[test]
    fn high_availability_type_and_its_old_keys() {
        let mut c = FlinkConfig::default();
        assert_eq!(c.ha_zookeeper(), Ok(false));
        c.set("recovery.mode", "ZooKeeper");
        assert_eq!(c.ha_zookeeper(), Ok(true));
        c.set("high-availability.type", "NONE");
        assert_eq!(c.ha_zookeeper(), Ok(false), "the current key wins over the old ones");
        c.set("high-availability.type", "kubernetes");
        assert!(c.ha_zookeeper().unwrap_err().contains("Invalid configuration value for high-availability.type: 'kubernetes'"));
    }

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

    fn conf(pairs: &[(&str, &str)]) -> FlinkConfig {
        let mut c = FlinkConfig::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        c
    }

    fn exp_defaults() -> RestartStrategy {
        RestartStrategy::ExponentialDelay {
            initial_backoff_ms: 1000,
            max_backoff_ms: 60_000,
            multiplier: 1.5,
            reset_threshold_ms: 3_600_000,
            jitter: 0.1,
            attempts_before_reset: i32::MAX as u32,
        }
    }

    #[test]
    fn restart_strategy_defaults_follow_flink_2() {
        let c = FlinkConfig::new();
        assert_eq!(c.restart_strategy(false).unwrap(), RestartStrategy::NoRestart);
        assert_eq!(c.restart_strategy(true).unwrap(), exp_defaults());
        // The settings pick the default from whether checkpointing is on.
        assert_eq!(c.job_settings(None).unwrap().restart, RestartStrategy::NoRestart);
        let on = conf(&[(keys::CHECKPOINTING_INTERVAL, "1 s")]);
        assert_eq!(on.job_settings(None).unwrap().restart, exp_defaults());
    }

    #[test]
    fn every_restart_strategy_and_its_keys() {
        for t in ["none", "off", "disable", "NONE"] {
            assert_eq!(conf(&[(keys::RESTART_STRATEGY_TYPE, t)]).restart_strategy(true).unwrap(), RestartStrategy::NoRestart);
        }
        for t in ["fixed-delay", "fixeddelay"] {
            assert_eq!(
                conf(&[(keys::RESTART_STRATEGY_TYPE, t)]).restart_strategy(false).unwrap(),
                RestartStrategy::FixedDelay { attempts: 1, delay_ms: 1000 }
            );
        }
        let c = conf(&[
            ("restart-strategy", "fixeddelay"),
            (keys::RESTART_FIXED_DELAY_ATTEMPTS, "3"),
            (keys::RESTART_FIXED_DELAY_DELAY, "2 s"),
        ]);
        assert_eq!(c.restart_strategy(false).unwrap(), RestartStrategy::FixedDelay { attempts: 3, delay_ms: 2000 });
        // The 2.x key wins over the legacy one.
        let c = conf(&[("restart-strategy", "fixed-delay"), (keys::RESTART_STRATEGY_TYPE, "none")]);
        assert_eq!(c.restart_strategy(false).unwrap(), RestartStrategy::NoRestart);
        for t in ["failure-rate", "failurerate"] {
            assert_eq!(
                conf(&[(keys::RESTART_STRATEGY_TYPE, t)]).restart_strategy(false).unwrap(),
                RestartStrategy::FailureRate { max_failures: 1, interval_ms: 60_000, delay_ms: 1000 }
            );
        }
        let c = conf(&[
            (keys::RESTART_STRATEGY_TYPE, "failure-rate"),
            (keys::RESTART_FAILURE_RATE_MAX_FAILURES, "4"),
            (keys::RESTART_FAILURE_RATE_INTERVAL, "5 min"),
            (keys::RESTART_FAILURE_RATE_DELAY, "10 s"),
        ]);
        assert_eq!(
            c.restart_strategy(false).unwrap(),
            RestartStrategy::FailureRate { max_failures: 4, interval_ms: 300_000, delay_ms: 10_000 }
        );
        for t in ["exponential-delay", "exponentialdelay"] {
            assert_eq!(conf(&[(keys::RESTART_STRATEGY_TYPE, t)]).restart_strategy(false).unwrap(), exp_defaults());
        }
        let c = conf(&[
            (keys::RESTART_STRATEGY_TYPE, "exponential-delay"),
            (keys::RESTART_EXP_INITIAL_BACKOFF, "10 ms"),
            (keys::RESTART_EXP_MAX_BACKOFF, "2 s"),
            (keys::RESTART_EXP_MULTIPLIER, "2.0"),
            (keys::RESTART_EXP_RESET_THRESHOLD, "10 min"),
            (keys::RESTART_EXP_JITTER, "0"),
            (keys::RESTART_EXP_ATTEMPTS_BEFORE_RESET, "5"),
        ]);
        assert_eq!(
            c.restart_strategy(false).unwrap(),
            RestartStrategy::ExponentialDelay {
                initial_backoff_ms: 10,
                max_backoff_ms: 2000,
                multiplier: 2.0,
                reset_threshold_ms: 600_000,
                jitter: 0.0,
                attempts_before_reset: 5
            }
        );
    }

    #[test]
    fn bad_restart_settings_are_clear_errors() {
        let err = |pairs: &[(&str, &str)]| conf(pairs).restart_strategy(true).unwrap_err();
        assert!(err(&[(keys::RESTART_STRATEGY_TYPE, "sometimes")]).starts_with("Unknown restart strategy sometimes"));
        assert!(err(&[(keys::RESTART_STRATEGY_TYPE, "fixed-delay"), (keys::RESTART_FIXED_DELAY_DELAY, "soon")]).contains("soon"));
        let exp = keys::RESTART_STRATEGY_TYPE;
        assert!(
            err(&[(exp, "exponential-delay"), (keys::RESTART_EXP_MULTIPLIER, "0.5")]).ends_with("Backoff multiplier must be at least 1.")
        );
        assert!(err(&[(exp, "exponential-delay"), (keys::RESTART_EXP_JITTER, "1.5")]).ends_with("Jitter factor must be >= 0 and <= 1."));
        assert!(err(&[(exp, "exponential-delay"), (keys::RESTART_EXP_MULTIPLIER, "x")]).contains("expected a number"));
        assert!(err(&[(exp, "exponential-delay"), (keys::RESTART_EXP_INITIAL_BACKOFF, "2 min")])
            .ends_with("Initial backoff cannot be higher than max backoff."));
        assert!(err(&[(exp, "exponential-delay"), (keys::RESTART_EXP_ATTEMPTS_BEFORE_RESET, "0")]).contains("greater than 0"));
        assert!(err(&[(exp, "failure-rate"), (keys::RESTART_FAILURE_RATE_MAX_FAILURES, "0")]).contains("at least 1"));
    }

    #[test]
    fn failover_strategy_region_by_default() {
        assert_eq!(FlinkConfig::new().failover_strategy().unwrap(), FailoverStrategy::Region);
        assert_eq!(conf(&[(keys::FAILOVER_STRATEGY, "full")]).failover_strategy().unwrap(), FailoverStrategy::Full);
        assert_eq!(conf(&[(keys::FAILOVER_STRATEGY, "Region")]).failover_strategy().unwrap(), FailoverStrategy::Region);
        assert_eq!(
            conf(&[(keys::FAILOVER_STRATEGY, "partial")]).failover_strategy().unwrap_err(),
            "org.apache.flink.configuration.IllegalConfigurationException: Unknown failover strategy: partial"
        );
    }

    #[test]
    fn checkpointing_is_off_without_an_interval_and_has_2x_defaults_with_one() {
        assert_eq!(FlinkConfig::new().checkpoint_config(None).unwrap(), None);
        let c = conf(&[(keys::CHECKPOINTING_INTERVAL, "500ms")]).checkpoint_config(None).unwrap().unwrap();
        assert_eq!(c, CheckpointConfig::with_interval(500));
        assert_eq!(c.mode, CheckpointingMode::ExactlyOnce);
        assert_eq!(c.timeout_ms, 600_000);
        assert_eq!((c.min_pause_ms, c.max_concurrent, c.tolerable_failed, c.num_retained), (0, 1, 0, 1));
        assert_eq!(c.retention, ExternalizedRetention::NoExternalizedCheckpoints);
        assert_eq!((c.dir.as_deref(), c.savepoint_dir.as_deref()), (None, None));
    }

    #[test]
    fn every_checkpoint_key_is_read() {
        let root = Path::new("/tmp/cluster/dfs");
        let c = conf(&[
            (keys::CHECKPOINTING_INTERVAL, "2 s"),
            (keys::CHECKPOINTING_MODE, "at_least_once"),
            (keys::CHECKPOINTING_TIMEOUT, "1 min"),
            (keys::CHECKPOINTING_MIN_PAUSE, "100 ms"),
            (keys::CHECKPOINTING_MAX_CONCURRENT, "2"),
            (keys::CHECKPOINTING_TOLERABLE_FAILED, "3"),
            (keys::CHECKPOINTING_RETENTION, "RETAIN_ON_CANCELLATION"),
            (keys::CHECKPOINTING_NUM_RETAINED, "4"),
            (keys::CHECKPOINTING_DIR, "file:///tmp/cluster/dfs/checkpoints"),
            (keys::SAVEPOINT_DIR, "savepoints"),
            (keys::CHECKPOINT_STORAGE, "filesystem"),
            (keys::CHECKPOINTING_CREATE_SUBDIR, "true"),
            (keys::CHECKPOINTING_INCREMENTAL, "true"),
            (keys::CHECKPOINTING_UNALIGNED, "false"),
            (keys::CHECKPOINTING_ALIGNED_TIMEOUT, "0 ms"),
            (keys::STATE_BACKEND_TYPE, "hashmap"),
        ])
        .checkpoint_config(Some(root))
        .unwrap()
        .unwrap();
        assert_eq!(
            c,
            CheckpointConfig {
                interval_ms: 2000,
                mode: CheckpointingMode::AtLeastOnce,
                timeout_ms: 60_000,
                min_pause_ms: 100,
                max_concurrent: 2,
                tolerable_failed: 3,
                retention: ExternalizedRetention::RetainOnCancellation,
                num_retained: 4,
                dir: Some("checkpoints".into()),
                savepoint_dir: Some("savepoints".into()),
            }
        );
    }

    #[test]
    fn deprecated_checkpoint_keys_are_read_and_lose_to_the_new_ones() {
        let root = Path::new("/s");
        let old = conf(&[
            (keys::CHECKPOINTING_INTERVAL, "1 s"),
            ("state.checkpoints.num-retained", "3"),
            ("state.checkpoints.dir", "file:/s/old-chk"),
            ("state.savepoints.dir", "old-sp"),
            ("state.checkpoint-storage", "filesystem"),
            ("state.checkpoints.create-subdir", "true"),
            ("state.backend.incremental", "false"),
            ("execution.checkpointing.unaligned", "false"),
            ("execution.checkpointing.alignment-timeout", "0"),
            ("state.backend", "hashmap"),
        ]);
        let c = old.checkpoint_config(Some(root)).unwrap().unwrap();
        assert_eq!((c.num_retained, c.dir.as_deref(), c.savepoint_dir.as_deref()), (3, Some("old-chk"), Some("old-sp")));
        assert_eq!(
            conf(&[("state.backend.fs.checkpointdir", "fs-chk"), (keys::CHECKPOINTING_INTERVAL, "1 s")])
                .checkpoint_config(None)
                .unwrap()
                .unwrap()
                .dir
                .as_deref(),
            Some("fs-chk")
        );
        assert_eq!(conf(&[("savepoints.state.backend.fs.dir", "sp2")]).savepoint_dir(None).unwrap().as_deref(), Some("sp2"));
        let mut both = old.clone();
        both.set(keys::CHECKPOINTING_NUM_RETAINED, "5");
        both.set(keys::CHECKPOINTING_DIR, "new-chk");
        both.set(keys::SAVEPOINT_DIR, "new-sp");
        let c = both.checkpoint_config(Some(root)).unwrap().unwrap();
        assert_eq!((c.num_retained, c.dir.as_deref(), c.savepoint_dir.as_deref()), (5, Some("new-chk"), Some("new-sp")));
        // Every alias names a key of ours.
        for (k, aliases) in CHECKPOINT_ALIASES {
            assert!(k.starts_with("execution.") || k.starts_with("state."), "{k}");
            assert!(!aliases.is_empty());
        }
    }

    #[test]
    fn bad_checkpoint_settings_are_flink_style_errors() {
        let err = |pairs: &[(&str, &str)]| conf(pairs).checkpoint_config(Some(Path::new("/store"))).unwrap_err();
        let i = keys::CHECKPOINTING_INTERVAL;
        assert_eq!(err(&[(i, "5 ms")]), "java.lang.IllegalArgumentException: Checkpoint interval must be larger than or equal to 10 ms");
        assert_eq!(err(&[(i, "0")]), "java.lang.IllegalArgumentException: Checkpoint interval must be larger than or equal to 10 ms");
        assert_eq!(
            err(&[(i, "1 s"), (keys::CHECKPOINTING_TIMEOUT, "9 ms")]),
            "java.lang.IllegalArgumentException: Checkpoint timeout must be larger than or equal to 10 ms"
        );
        assert!(err(&[(i, "often")]).starts_with("execution.checkpointing.interval: Could not parse duration 'often'"));
        assert_eq!(
            err(&[(keys::CHECKPOINTING_MODE, "twice")]),
            "Could not parse value 'twice' for key 'execution.checkpointing.mode': it must be one of [EXACTLY_ONCE, AT_LEAST_ONCE]"
        );
        assert!(err(&[(keys::CHECKPOINTING_RETENTION, "KEEP")])
            .contains("[NO_EXTERNALIZED_CHECKPOINTS, DELETE_ON_CANCELLATION, RETAIN_ON_CANCELLATION]"));
        assert!(err(&[(keys::CHECKPOINTING_MAX_CONCURRENT, "0")]).contains("at least one"));
        assert!(err(&[(keys::CHECKPOINTING_TOLERABLE_FAILED, "-1")]).contains("expected a non-negative integer"));
        assert!(err(&[("state.checkpoints.num-retained", "0")]).starts_with("Invalid value 0 for state.checkpoints.num-retained"));
        assert!(err(&[(keys::CHECKPOINT_STORAGE, "filesystem")])
            .contains("does not specify the checkpoint directory 'execution.checkpointing.dir'"));
        assert!(err(&[(keys::CHECKPOINT_STORAGE, "s3")]).contains("must be one of [jobmanager, filesystem"));
        assert!(err(&[(keys::CHECKPOINTING_UNALIGNED, "true")]).contains("unaligned checkpoints are not supported"));
        assert!(err(&[("execution.checkpointing.unaligned", "yes")]).contains("expected true or false"));
        assert!(err(&[("state.backend", "rocksdb")]).contains("only the 'hashmap' state backend"));
        assert!(err(&[(keys::CHECKPOINTING_CREATE_SUBDIR, "false")]).contains("not supported"));
        assert!(err(&[(keys::CHECKPOINTING_ALIGNED_TIMEOUT, "later")]).contains("later"));
        // Directories must lie in the shared store.
        assert_eq!(
            err(&[(keys::CHECKPOINTING_DIR, "file:///elsewhere/chk")]),
            "The path 'file:///elsewhere/chk' (execution.checkpointing.dir) is outside the shared store /store: use a directory under file:///store or a path relative to it."
        );
        assert!(err(&[(keys::SAVEPOINT_DIR, "../up")]).contains("is outside the shared store"));
        assert!(err(&[("state.savepoints.dir", "hdfs://nn/sp")]).contains("scheme 'hdfs'"));
        assert!(err(&[(keys::CHECKPOINTING_DIR, "/store")]).contains("outside the shared store"));
    }

    #[test]
    fn store_paths_accept_relative_and_absolute_under_the_root() {
        let root = Some(Path::new("/w/dfs"));
        assert_eq!(store_path("chk", root, "k").unwrap(), "chk");
        assert_eq!(store_path("./a//b/", root, "k").unwrap(), "a/b");
        assert_eq!(store_path("/w/dfs/a/b", root, "k").unwrap(), "a/b");
        assert_eq!(store_path("file:/w/dfs/a", root, "k").unwrap(), "a");
        assert_eq!(store_path("file:///w/dfs/a", root, "k").unwrap(), "a");
        assert!(store_path("/w/dfsx/a", root, "k").is_err());
        assert!(store_path("/w/dfs/../x", root, "k").is_err());
        assert!(store_path("/abs", None, "k").unwrap_err().contains("location is unknown"));
    }

    #[test]
    fn state_recovery_path_and_allow_non_restored_state() {
        let root = Some(Path::new("/dfs"));
        assert_eq!(FlinkConfig::new().savepoint_restore(root).unwrap(), None);
        let c = conf(&[(keys::STATE_RECOVERY_PATH, "file:/dfs/sp/savepoint-abcdef-0123456789ab")]);
        assert_eq!(
            c.savepoint_restore(root).unwrap(),
            Some(SavepointRestoreSettings { path: "sp/savepoint-abcdef-0123456789ab".into(), allow_non_restored_state: false })
        );
        let c = conf(&[("execution.savepoint.path", "sp/x/_metadata"), ("execution.savepoint.ignore-unclaimed-state", "true")]);
        assert_eq!(
            c.savepoint_restore(root).unwrap(),
            Some(SavepointRestoreSettings { path: "sp/x/_metadata".into(), allow_non_restored_state: true })
        );
        let c = conf(&[
            (keys::STATE_RECOVERY_PATH, "a"),
            (keys::STATE_RECOVERY_IGNORE_UNCLAIMED, "true"),
            (keys::STATE_RECOVERY_CLAIM_MODE, "no_claim"),
        ]);
        assert!(c.savepoint_restore(root).unwrap().unwrap().allow_non_restored_state);
        assert!(conf(&[(keys::STATE_RECOVERY_PATH, "/other/sp")])
            .savepoint_restore(root)
            .unwrap_err()
            .contains("outside the shared store"));
        assert!(conf(&[("execution.savepoint-restore-mode", "CLAIM")]).savepoint_restore(root).unwrap_err().contains("only NO_CLAIM"));
        assert!(conf(&[(keys::STATE_RECOVERY_CLAIM_MODE, "maybe")])
            .savepoint_restore(root)
            .unwrap_err()
            .contains("[CLAIM, NO_CLAIM, LEGACY]"));
    }

    #[test]
    fn job_settings_go_into_the_graph() {
        let c = conf(&[(keys::CHECKPOINTING_INTERVAL, "100 ms"), (keys::FAILOVER_STRATEGY, "full"), (keys::STATE_RECOVERY_PATH, "sp/s1")]);
        let s = c.job_settings(None).unwrap();
        let mut ids = 0u128;
        let p = crate::program::Program::parse(
            "[[job]]\n[[job.step]]\nsource = { type = \"datagen\", kind = \"numbers\", count = 1 }\n[[job.step]]\nsink = \"discard\"\n",
            &[],
        )
        .unwrap();
        let mut g = p
            .job_graphs_with(1, &s.restart, &mut || {
                ids += 1;
                ids
            })
            .unwrap()
            .remove(0);
        s.apply(&mut g);
        assert_eq!(g.checkpointing, Some(CheckpointConfig::with_interval(100)));
        assert_eq!(g.failover_strategy, FailoverStrategy::Full);
        assert_eq!(g.restart_strategy, exp_defaults());
        assert_eq!(g.savepoint_restore.as_ref().map(|r| r.path.as_str()), Some("sp/s1"));
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

    #[test]
    fn huge_or_deep_files_are_clear_errors() {
        let deep: String = (0..100).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
        assert!(parse_yaml(&deep).unwrap_err().contains("nested deeper than 32"));
        let ok: String = (0..32).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect::<String>() + &" ".repeat(32) + "x: 1\n";
        assert_eq!(parse_yaml(&ok).unwrap().len(), 1);
        assert!(parse_yaml(&"#".repeat(MAX_CONFIG_BYTES + 1)).unwrap_err().contains("more than the limit"));
    }
}
