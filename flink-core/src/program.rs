//! The program format: what a user's `main()` would build with the DataStream API, written as
//! TOML. One `[[job]]` table per `execute()` call; its `[[job.step]]`s are the pipeline, source
//! first, sink last. `${name}` in string values is replaced by the program argument
//! `--name value` (how `--input`/`--output` reach the program).

use std::collections::BTreeMap;

use crate::graph::{JobGraph, JobType, RestartStrategy};
use crate::ids::JobId;
use crate::operator::{Aggregate, DatagenKind, FilterFn, FlatMapFn, MapFn, OperatorSpec, SinkSpec, SourceSpec, TimeCharacteristic};
use crate::streamgraph::{Partitioning, StreamEdge, StreamGraph, StreamNode};

/// The restart strategy of a job that sets none and runs without a cluster configuration:
/// fixed-delay, 3 attempts, 1 s apart (our default; see `config::FlinkConfig::restart_strategy`).
pub const DEFAULT_RESTART_STRATEGY: RestartStrategy = RestartStrategy::FixedDelay { attempts: 3, delay_ms: 1000 };

/// The largest program text `Program::parse` reads (1 MiB).
pub const MAX_PROGRAM_BYTES: usize = 1 << 20;

/// Flink's name for a DataStream job without a name.
pub const DEFAULT_JOB_NAME: &str = "Flink Streaming Job";

#[derive(Clone, Debug, PartialEq)]
pub struct Program {
    pub name: Option<String>,
    /// Run in order (application mode) or one per submission.
    pub jobs: Vec<JobSpec>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct JobSpec {
    pub name: String,
    /// The job's default operator parallelism; None = the submit-time default.
    pub parallelism: Option<u32>,
    pub job_type: JobType,
    /// None = the cluster's configured strategy.
    pub restart: Option<RestartStrategy>,
    pub steps: Vec<Step>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub kind: StepKind,
    /// The operator's own parallelism (`setParallelism`).
    pub parallelism: Option<u32>,
    /// `disableChaining()`.
    pub disable_chaining: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum StepKind {
    Operator(OperatorSpec),
    /// Hash-partitions the input of the next operator.
    KeyBy(usize),
    /// Round-robins the input of the next operator.
    Rebalance,
}

type Table = toml::Table;

/// Where a problem is, for error messages.
struct At<'a> {
    job: &'a str,
    step: Option<(usize, &'a str)>,
}

impl At<'_> {
    fn err(&self, msg: impl std::fmt::Display) -> String {
        match self.step {
            Some((i, kind)) => format!("Job '{}', step {} ({kind}): {msg}", self.job, i + 1),
            None => format!("Job '{}': {msg}", self.job),
        }
    }
}

/// `--name value` / `--name=value` pairs; a flag without a value is "true".
fn parse_args(args: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let mut i = 0;
    while i < args.len() {
        let Some(name) = args[i].strip_prefix("--") else {
            return Err(format!("Unexpected program argument '{}': arguments are --name value pairs", args[i]));
        };
        if let Some((k, v)) = name.split_once('=') {
            out.insert(k.to_string(), v.to_string());
            i += 1;
        } else if args.get(i + 1).is_some_and(|v| !v.starts_with("--")) {
            out.insert(name.to_string(), args[i + 1].clone());
            i += 2;
        } else {
            out.insert(name.to_string(), "true".into());
            i += 1;
        }
    }
    Ok(out)
}

/// Replaces `${name}` with the argument `--name`, and `${name:-default}` with it or, when it
/// is not given, `default`; Err(name) for the first one without a value.
fn substitute(s: &str, args: &BTreeMap<String, String>) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find('}') else {
            out.push_str(&rest[start..]);
            return Ok(out);
        };
        let (name, default) = match after[..end].split_once(":-") {
            Some((name, default)) => (name, Some(default)),
            None => (&after[..end], None),
        };
        match (args.get(name), default) {
            (Some(v), _) => out.push_str(v),
            (None, Some(d)) => out.push_str(d),
            (None, None) => return Err(name.to_string()),
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Typed access to one TOML table with the location for errors.
struct Fields<'a> {
    table: &'a Table,
    at: &'a At<'a>,
    what: &'a str,
    args: &'a BTreeMap<String, String>,
}

impl Fields<'_> {
    fn only(&self, allowed: &[&str]) -> Result<(), String> {
        for k in self.table.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.at.err(format!("unknown key '{k}' in {} (expected one of: {})", self.what, allowed.join(", "))));
            }
        }
        Ok(())
    }
    /// An integer, or a string of one after `${arg}` substitution (`count = "${count:-1000}"`).
    fn int(&self, key: &str) -> Result<Option<i64>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Integer(i)) => Ok(Some(*i)),
            Some(toml::Value::String(raw)) if raw.contains("${") => {
                let text = self.str(key)?.unwrap_or_default();
                text.trim()
                    .parse()
                    .map(Some)
                    .map_err(|_| self.at.err(format!("'{key}' in {} must be an integer, got \"{text}\" (from \"{raw}\")", self.what)))
            }
            Some(v) => Err(self.at.err(format!("'{key}' in {} must be an integer, got {v}", self.what))),
        }
    }
    fn req_int(&self, key: &str) -> Result<i64, String> {
        self.int(key)?.ok_or_else(|| self.at.err(format!("{} needs '{key}'", self.what)))
    }
    fn index(&self, key: &str) -> Result<usize, String> {
        let i = self.req_int(key)?;
        usize::try_from(i).map_err(|_| self.at.err(format!("'{key}' must be a field index >= 0, got {i}")))
    }
    fn float(&self, key: &str) -> Result<f64, String> {
        match self.table.get(key) {
            Some(toml::Value::Integer(i)) => Ok(*i as f64),
            Some(toml::Value::Float(f)) => Ok(*f),
            None => Err(self.at.err(format!("{} needs '{key}'", self.what))),
            Some(v) => Err(self.at.err(format!("'{key}' in {} must be a number, got {v}", self.what))),
        }
    }
    /// A string whose `${arg}` references are kept for substitution by program arguments.
    fn raw_str(&self, key: &str) -> Result<Option<&str>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s)),
            Some(v) => Err(self.at.err(format!("'{key}' in {} must be a string, got {v}", self.what))),
        }
    }
    fn str(&self, key: &str) -> Result<Option<String>, String> {
        match self.raw_str(key)? {
            None => Ok(None),
            Some(s) => substitute(s, self.args)
                .map(Some)
                .map_err(|name| self.at.err(format!("'{key}' uses ${{{name}}} but no --{name} argument was given"))),
        }
    }
    fn req_str(&self, key: &str) -> Result<String, String> {
        self.str(key)?.ok_or_else(|| self.at.err(format!("{} needs '{key}'", self.what)))
    }
    fn bool(&self, key: &str) -> Result<Option<bool>, String> {
        match self.table.get(key) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(v) => Err(self.at.err(format!("'{key}' in {} must be true or false, got {v}", self.what))),
        }
    }
    fn parallelism(&self, key: &str) -> Result<Option<u32>, String> {
        match self.int(key)? {
            None => Ok(None),
            Some(p) if (1..=32768).contains(&p) => Ok(Some(p as u32)),
            Some(p) => Err(self.at.err(format!("parallelism must be between 1 and 32768, got {p}"))),
        }
    }
}

/// A step value that is either a bare name (`map = "lowercase"`) or a table with `fn`/`type`.
enum NameOrTable<'a> {
    Name,
    Table(&'a Table),
}

fn name_or_table<'a>(v: &'a toml::Value, at: &At, tag: &str) -> Result<(String, NameOrTable<'a>), String> {
    match v {
        toml::Value::String(s) => Ok((s.clone(), NameOrTable::Name)),
        toml::Value::Table(t) => match t.get(tag) {
            Some(toml::Value::String(s)) => Ok((s.clone(), NameOrTable::Table(t))),
            _ => Err(at.err(format!("a table here needs a string '{tag}'"))),
        },
        other => Err(at.err(format!("expected a name or a table, got {other}"))),
    }
}

const STEP_KINDS: &[&str] =
    &["source", "flat-map", "map", "filter", "key-by", "rebalance", "sum", "max", "min", "count", "window", "assign-timestamps", "sink"];

fn parse_source(v: &toml::Value, at: &At, args: &BTreeMap<String, String>) -> Result<SourceSpec, String> {
    let (kind, body) = name_or_table(v, at, "type")?;
    let empty = Table::new();
    let t = match body {
        NameOrTable::Name => &empty,
        NameOrTable::Table(t) => t,
    };
    let f = Fields { table: t, at, what: "the source", args };
    Ok(match kind.as_str() {
        "words" => {
            f.only(&["type", "repeat"])?;
            let repeat = f.int("repeat")?.unwrap_or(1);
            SourceSpec::Words { repeat: u32::try_from(repeat).map_err(|_| at.err(format!("'repeat' must be >= 0, got {repeat}")))? }
        }
        "sequence" => {
            f.only(&["type", "from", "to"])?;
            let (from, to) = (f.req_int("from")?, f.req_int("to")?);
            SourceSpec::Sequence { from, to }
        }
        "text-file" => {
            f.only(&["type", "path", "default"])?;
            let raw = f.raw_str("path")?.ok_or_else(|| at.err("the text-file source needs 'path'"))?;
            match substitute(raw, args) {
                Ok(path) => SourceSpec::TextFile { path },
                // Like Flink's examples: no --input means the built-in data.
                Err(name) => match f.str("default")?.as_deref() {
                    Some("words") => SourceSpec::Words { repeat: 1 },
                    Some(path) => SourceSpec::TextFile { path: path.to_string() },
                    None => return Err(at.err(format!("'path' uses ${{{name}}} but no --{name} argument was given"))),
                },
            }
        }
        "datagen" => {
            f.only(&["type", "kind", "rate-per-sec", "count", "seed"])?;
            let kind = match f.str("kind")?.as_deref() {
                Some("cars") | None => DatagenKind::Cars,
                Some("numbers") => DatagenKind::Numbers,
                Some(k) => return Err(at.err(format!("unknown datagen kind '{k}' (expected cars or numbers)"))),
            };
            let non_neg = |key: &str| -> Result<Option<u64>, String> {
                f.int(key)?.map(|v| u64::try_from(v).map_err(|_| at.err(format!("'{key}' must be >= 0, got {v}")))).transpose()
            };
            SourceSpec::Datagen {
                kind,
                rate_per_sec: non_neg("rate-per-sec")?.unwrap_or(0),
                count: non_neg("count")?,
                seed: non_neg("seed")?.unwrap_or(0),
            }
        }
        other => return Err(at.err(format!("unknown source type '{other}' (expected words, sequence, text-file or datagen)"))),
    })
}

fn parse_aggregate(v: &toml::Value, at: &At, args: &BTreeMap<String, String>) -> Result<Aggregate, String> {
    let (name, body) = name_or_table(v, at, "fn")?;
    let field = || -> Result<usize, String> {
        match body {
            NameOrTable::Name => Err(at.err(format!("aggregate '{name}' needs a field: {{ fn = \"{name}\", field = N }}"))),
            NameOrTable::Table(t) => {
                let f = Fields { table: t, at, what: "the aggregate", args };
                f.only(&["fn", "field"])?;
                f.index("field")
            }
        }
    };
    Ok(match name.as_str() {
        "sum" => Aggregate::Sum { field: field()? },
        "max" => Aggregate::Max { field: field()? },
        "min" => Aggregate::Min { field: field()? },
        "count" => Aggregate::Count,
        other => return Err(at.err(format!("unknown aggregate function '{other}' (expected sum, max, min or count)"))),
    })
}

fn field_index(v: &toml::Value, at: &At) -> Result<usize, String> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(*i as usize),
        other => Err(at.err(format!("expected a field index >= 0, got {other}"))),
    }
}

/// Parses one step into zero or more steps (a keyed window may add its own key-by).
/// Returns the steps and the step's kind name.
fn parse_step(
    table: &Table,
    job: &str,
    index: usize,
    args: &BTreeMap<String, String>,
    prev: Option<&StepKind>,
) -> Result<(Vec<Step>, &'static str), String> {
    let at = &At { job, step: None };
    let kinds: Vec<&'static str> = STEP_KINDS.iter().copied().filter(|k| table.contains_key(*k)).collect();
    let kind = match kinds.as_slice() {
        [k] => *k,
        [] => {
            let keys: Vec<&str> = table.keys().map(String::as_str).collect();
            return Err(format!(
                "Job '{job}', step {}: unknown step kind (keys: {}; expected one of: {})",
                index + 1,
                keys.join(", "),
                STEP_KINDS.join(", ")
            ));
        }
        many => return Err(at.err(format!("a step has exactly one kind, found {}", many.join(", ")))),
    };
    let at = &At { job, step: Some((index, kind)) };
    let f = Fields { table, at, what: "the step", args };
    f.only(&[kind, "parallelism", "disable-chaining"])?;
    let parallelism = f.parallelism("parallelism")?;
    let disable_chaining = f.bool("disable-chaining")?.unwrap_or(false);
    let v = &table[kind];
    let kind_name = kind;
    let prev_key = match prev {
        Some(StepKind::KeyBy(k)) => Some(*k),
        _ => None,
    };
    let keyed = |what: &str| prev_key.ok_or_else(|| at.err(format!("{what} needs a keyed stream: add a key-by step right before it")));
    let op = |o: OperatorSpec| StepKind::Operator(o);
    let mut steps = Vec::new();
    let kind = match kind {
        "source" => op(OperatorSpec::Source { source: parse_source(v, at, args)? }),
        "flat-map" => match name_or_table(v, at, "fn")?.0.as_str() {
            "tokenize" => op(OperatorSpec::FlatMap { flat_map: FlatMapFn::Tokenize }),
            other => return Err(at.err(format!("unknown flat-map function '{other}' (expected tokenize)"))),
        },
        "map" => {
            let (name, body) = name_or_table(v, at, "fn")?;
            let t = match body {
                NameOrTable::Table(t) => Some(Fields { table: t, at, what: "the map function", args }),
                NameOrTable::Name => None,
            };
            let need = |what: &str| at.err(format!("map function '{name}' needs {what}: {{ fn = \"{name}\", ... }}"));
            let map = match name.as_str() {
                "pair-with-one" => MapFn::PairWithOne,
                "lowercase" => MapFn::Lowercase,
                "parse-fields" => {
                    let separator = match &t {
                        Some(t) => {
                            t.only(&["fn", "separator"])?;
                            t.str("separator")?.unwrap_or_else(|| ",".into())
                        }
                        None => ",".into(),
                    };
                    MapFn::ParseFields { separator }
                }
                "project" => {
                    let t = t.ok_or_else(|| need("'fields'"))?;
                    t.only(&["fn", "fields"])?;
                    let fields = match t.table.get("fields") {
                        Some(toml::Value::Array(a)) => a.iter().map(|x| field_index(x, at)).collect::<Result<Vec<_>, _>>()?,
                        _ => return Err(need("'fields' (an array of field indexes)")),
                    };
                    MapFn::Project { fields }
                }
                "modulo" => {
                    let t = t.ok_or_else(|| need("'field' and 'by'"))?;
                    t.only(&["fn", "field", "by"])?;
                    let by = t.req_int("by")?;
                    if by <= 0 {
                        return Err(at.err(format!("'by' of map function 'modulo' must be positive, got {by}")));
                    }
                    MapFn::Modulo { field: t.index("field")?, by }
                }
                other => {
                    return Err(at.err(format!(
                        "unknown map function '{other}' (expected pair-with-one, lowercase, parse-fields, project or modulo)"
                    )))
                }
            };
            op(OperatorSpec::Map { map })
        }
        "filter" => {
            let (name, body) = name_or_table(v, at, "fn")?;
            let filter = match (name.as_str(), body) {
                ("non-empty", _) => FilterFn::NonEmpty,
                ("greater-than", NameOrTable::Table(t)) => {
                    let f = Fields { table: t, at, what: "the filter", args };
                    f.only(&["fn", "field", "value"])?;
                    FilterFn::GreaterThan { field: f.index("field")?, value: f.float("value")? }
                }
                ("greater-than", NameOrTable::Name) => {
                    return Err(at.err("filter 'greater-than' needs { fn = \"greater-than\", field = N, value = X }"))
                }
                (other, _) => return Err(at.err(format!("unknown filter function '{other}' (expected non-empty or greater-than)"))),
            };
            op(OperatorSpec::Filter { filter })
        }
        "key-by" => StepKind::KeyBy(field_index(v, at)?),
        "rebalance" => match v {
            toml::Value::Boolean(true) => StepKind::Rebalance,
            _ => return Err(at.err("write 'rebalance = true'")),
        },
        "sum" | "max" | "min" => {
            let key = keyed(kind)?;
            let field = field_index(v, at)?;
            let aggregate = match kind {
                "sum" => Aggregate::Sum { field },
                "max" => Aggregate::Max { field },
                _ => Aggregate::Min { field },
            };
            op(OperatorSpec::KeyedAggregate { key, aggregate })
        }
        "count" => {
            let key = keyed("count")?;
            if v != &toml::Value::Boolean(true) {
                return Err(at.err("write 'count = true'"));
            }
            op(OperatorSpec::KeyedAggregate { key, aggregate: Aggregate::Count })
        }
        "window" => {
            let toml::Value::Table(t) = v else {
                return Err(at.err("window is a table: { size-ms = N, slide-ms = N, time = \"event-time\", aggregate = { fn = \"max\", field = 1 }, key = 0 }"));
            };
            let w = Fields { table: t, at, what: "the window", args };
            w.only(&["size-ms", "slide-ms", "time", "aggregate", "key"])?;
            let size_ms = w.req_int("size-ms")?;
            let slide_ms = w.int("slide-ms")?.unwrap_or(size_ms);
            if size_ms <= 0 || slide_ms <= 0 {
                return Err(at.err(format!("window size-ms and slide-ms must be positive, got {size_ms} and {slide_ms}")));
            }
            let time = match w.str("time")?.as_deref() {
                Some("event-time") | None => TimeCharacteristic::EventTime,
                Some("processing-time") => TimeCharacteristic::ProcessingTime,
                Some(o) => return Err(at.err(format!("unknown window time '{o}' (expected event-time or processing-time)"))),
            };
            let aggregate = parse_aggregate(t.get("aggregate").ok_or_else(|| at.err("the window needs 'aggregate'"))?, at, args)?;
            let key = match (w.int("key")?, prev_key) {
                (Some(k), Some(p)) if k != p as i64 => {
                    return Err(at.err(format!("the window's key {k} differs from the key-by before it ({p})")));
                }
                (Some(k), None) => {
                    let k = usize::try_from(k).map_err(|_| at.err(format!("'key' must be a field index >= 0, got {k}")))?;
                    // A keyed window keys its own input when no key-by precedes it.
                    steps.push(Step { kind: StepKind::KeyBy(k), parallelism: None, disable_chaining: false });
                    k
                }
                (_, Some(p)) => p,
                (None, None) => keyed("window")?,
            };
            op(OperatorSpec::Window { key, size_ms, slide_ms, time, aggregate })
        }
        "assign-timestamps" => {
            let toml::Value::Table(t) = v else {
                return Err(at.err("assign-timestamps is a table: { field = N, max-out-of-orderness-ms = N }"));
            };
            let a = Fields { table: t, at, what: "assign-timestamps", args };
            a.only(&["field", "max-out-of-orderness-ms"])?;
            let ooo = a.int("max-out-of-orderness-ms")?.unwrap_or(0);
            if ooo < 0 {
                return Err(at.err(format!("max-out-of-orderness-ms must not be negative, got {ooo}")));
            }
            op(OperatorSpec::AssignTimestamps { field: a.index("field")?, max_out_of_orderness_ms: ooo })
        }
        "sink" => {
            let (name, body) = name_or_table(v, at, "type")?;
            let sink = match (name.as_str(), body) {
                ("print", _) => SinkSpec::Print,
                ("discard", _) => SinkSpec::Discard,
                ("file", NameOrTable::Table(t)) => {
                    let f = Fields { table: t, at, what: "the file sink", args };
                    f.only(&["type", "path"])?;
                    SinkSpec::File { path: f.req_str("path")? }
                }
                ("file", NameOrTable::Name) => return Err(at.err("the file sink needs a path: { type = \"file\", path = \"out\" }")),
                (other, _) => return Err(at.err(format!("unknown sink '{other}' (expected print, file or discard)"))),
            };
            op(OperatorSpec::Sink { sink })
        }
        _ => unreachable!("kinds come from STEP_KINDS"),
    };
    if matches!(kind, StepKind::KeyBy(_) | StepKind::Rebalance) && (parallelism.is_some() || disable_chaining) {
        return Err(at.err("parallelism and disable-chaining belong on an operator step, not on a partitioning step"));
    }
    steps.push(Step { kind, parallelism, disable_chaining });
    Ok((steps, kind_name))
}

fn parse_restart(v: &toml::Value, at: &At, args: &BTreeMap<String, String>) -> Result<RestartStrategy, String> {
    let toml::Value::Table(t) = v else {
        return Err(at.err("restart is a table: { type = \"fixed-delay\", attempts = 3, delay-ms = 1000 }"));
    };
    let f = Fields { table: t, at, what: "restart", args };
    f.only(&["type", "attempts", "delay-ms"])?;
    match f.req_str("type")?.as_str() {
        "fixed-delay" | "fixeddelay" => {
            let attempts = f.int("attempts")?.unwrap_or(3);
            let delay = f.int("delay-ms")?.unwrap_or(1000);
            Ok(RestartStrategy::FixedDelay {
                attempts: u32::try_from(attempts).map_err(|_| at.err(format!("restart attempts must be >= 0, got {attempts}")))?,
                delay_ms: u64::try_from(delay).map_err(|_| at.err(format!("restart delay-ms must be >= 0, got {delay}")))?,
            })
        }
        "none" | "off" | "disable" | "no-restart" => Ok(RestartStrategy::NoRestart),
        other => Err(at.err(format!("unknown restart type '{other}' (expected fixed-delay or none)"))),
    }
}

fn parse_job(t: &Table, index: usize, program_name: Option<&str>, args: &BTreeMap<String, String>) -> Result<JobSpec, String> {
    let label = format!("#{}", index + 1);
    let probe = At { job: &label, step: None };
    let name = match t.get("name") {
        None => program_name.unwrap_or(DEFAULT_JOB_NAME).to_string(),
        Some(toml::Value::String(s)) => {
            substitute(s, args).map_err(|n| probe.err(format!("'name' uses ${{{n}}} but no --{n} argument was given")))?
        }
        Some(v) => return Err(probe.err(format!("'name' must be a string, got {v}"))),
    };
    let mut at = At { job: &name, step: None };
    let f = Fields { table: t, at: &at, what: "the job", args };
    f.only(&["name", "parallelism", "type", "restart", "step"])?;
    let parallelism = f.parallelism("parallelism")?;
    let job_type = match f.str("type")?.as_deref() {
        Some("streaming") | None => JobType::Streaming,
        Some("batch") => JobType::Batch,
        Some(o) => return Err(at.err(format!("unknown job type '{o}' (expected streaming or batch)"))),
    };
    let restart = t.get("restart").map(|v| parse_restart(v, &at, args)).transpose()?;
    let raw_steps = match t.get("step") {
        Some(toml::Value::Array(a)) if !a.is_empty() => a,
        Some(toml::Value::Array(_)) | None => return Err(at.err("no steps: add [[job.step]] tables, a source first and a sink last")),
        Some(_) => return Err(at.err("'step' must be an array of tables ([[job.step]])")),
    };
    let mut steps: Vec<Step> = Vec::new();
    for (i, raw) in raw_steps.iter().enumerate() {
        let toml::Value::Table(st) = raw else {
            return Err(format!("Job '{name}', step {}: a step must be a table ([[job.step]])", i + 1));
        };
        let (new, kind) = parse_step(st, &name, i, args, steps.last().map(|s| &s.kind))?;
        at.step = Some((i, kind));
        let first = &new[new.len() - 1].kind;
        let is_source = matches!(first, StepKind::Operator(o) if o.is_source());
        if steps.is_empty() && !is_source {
            return Err(at.err("missing source: a job starts with a source step"));
        }
        if !steps.is_empty() && is_source {
            return Err(at.err("a job has one source, as its first step"));
        }
        if matches!(steps.last().map(|s| &s.kind), Some(StepKind::Operator(OperatorSpec::Sink { .. }))) {
            return Err(at.err("a step after the sink: the sink ends the pipeline"));
        }
        if let (JobType::Batch, StepKind::Operator(OperatorSpec::Source { source: SourceSpec::Datagen { count: None, .. } })) =
            (job_type, first)
        {
            return Err(at.err("a batch job needs bounded sources: give the datagen source a 'count'"));
        }
        steps.extend(new);
    }
    at.step = None;
    if !matches!(steps.last().map(|s| &s.kind), Some(StepKind::Operator(OperatorSpec::Sink { .. }))) {
        return Err(at.err("no sink: the last step must be a sink (print, file or discard)"));
    }
    Ok(JobSpec { name, parallelism, job_type, restart, steps })
}

/// A TOML error quotes the offending source line; a hostile line may be a megabyte long, so
/// quoted lines are cut to 120 characters.
fn excerpt(msg: &str) -> String {
    msg.lines()
        .map(|l| match l.char_indices().nth(120) {
            Some((i, _)) => format!("{}...", &l[..i]),
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

impl Program {
    /// Parses a program; `args` are its arguments (`--input README.md --output out`).
    pub fn parse(text: &str, args: &[String]) -> Result<Program, String> {
        // Programs are a few hundred bytes; the bound keeps a hostile one from costing much.
        // (Nesting depth is bounded by the toml crate's recursion guard: a clear error.)
        if text.len() > MAX_PROGRAM_BYTES {
            return Err(format!("Invalid program: {} bytes, more than the limit of {MAX_PROGRAM_BYTES}", text.len()));
        }
        let args = parse_args(args)?;
        let table: Table = toml::from_str(text).map_err(|e| format!("Invalid program: {}", excerpt(e.to_string().trim_end())))?;
        for k in table.keys() {
            if k != "name" && k != "job" {
                return Err(format!("Invalid program: unknown top-level key '{k}' (expected name and [[job]] tables)"));
            }
        }
        let name = match table.get("name") {
            None => None,
            Some(toml::Value::String(s)) => Some(s.clone()),
            Some(v) => return Err(format!("Invalid program: 'name' must be a string, got {v}")),
        };
        let jobs = match table.get("job") {
            Some(toml::Value::Array(a)) if !a.is_empty() => a,
            Some(toml::Value::Array(_)) | None => return Err("Invalid program: it defines no job (add a [[job]] table)".into()),
            Some(_) => return Err("Invalid program: 'job' must be an array of tables ([[job]])".into()),
        };
        let jobs = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| match j {
                toml::Value::Table(t) => parse_job(t, i, name.as_deref(), &args),
                _ => Err(format!("Invalid program: job #{} must be a table ([[job]])", i + 1)),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Program { name, jobs })
    }

    /// One JobGraph per job, in order; jobs without a restart strategy get
    /// [`DEFAULT_RESTART_STRATEGY`]. `next_id` supplies job and vertex ids.
    pub fn job_graphs(&self, default_parallelism: u32, next_id: &mut dyn FnMut() -> u128) -> Result<Vec<JobGraph>, String> {
        self.job_graphs_with(default_parallelism, &DEFAULT_RESTART_STRATEGY, next_id)
    }

    /// Like `job_graphs`, with the cluster's configured restart strategy as the default.
    pub fn job_graphs_with(
        &self,
        default_parallelism: u32,
        default_restart: &RestartStrategy,
        next_id: &mut dyn FnMut() -> u128,
    ) -> Result<Vec<JobGraph>, String> {
        self.jobs
            .iter()
            .map(|j| {
                let job_id = JobId(next_id());
                j.stream_graph(default_parallelism, default_restart).to_job_graph(job_id, next_id)
            })
            .collect()
    }
}

impl JobSpec {
    /// The StreamGraph: one node per operator step, partitioning steps folded into edges.
    pub fn stream_graph(&self, default_parallelism: u32, default_restart: &RestartStrategy) -> StreamGraph {
        let job_p = self.parallelism.unwrap_or(default_parallelism.max(1));
        let mut nodes: Vec<StreamNode> = Vec::new();
        let mut partitioning = Partitioning::Default;
        for step in &self.steps {
            match &step.kind {
                StepKind::KeyBy(k) => partitioning = Partitioning::KeyBy(*k),
                StepKind::Rebalance => partitioning = Partitioning::Rebalance,
                StepKind::Operator(op) => {
                    let inputs = if nodes.is_empty() { vec![] } else { vec![StreamEdge { source: nodes.len() - 1, partitioning }] };
                    nodes.push(StreamNode {
                        operator: op.clone(),
                        parallelism: step.parallelism.unwrap_or(job_p),
                        inputs,
                        chaining_disabled: step.disable_chaining,
                    });
                    partitioning = Partitioning::Default;
                }
            }
        }
        StreamGraph {
            name: self.name.clone(),
            job_type: self.job_type,
            nodes,
            restart_strategy: self.restart.clone().unwrap_or_else(|| default_restart.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::ShipStrategy;

    const WC: &str = r#"
name = "WordCount"
[[job]]
parallelism = 2
restart = { type = "fixed-delay", attempts = 2, delay-ms = 10 }
[[job.step]]
source = { type = "text-file", path = "${input}", default = "words" }
[[job.step]]
flat-map = "tokenize"
[[job.step]]
map = "pair-with-one"
[[job.step]]
key-by = 0
[[job.step]]
sum = 1
[[job.step]]
sink = { type = "file", path = "${output}/wc" }
"#;

    fn ids() -> impl FnMut() -> u128 {
        let mut n = 0;
        move || {
            n += 1;
            n
        }
    }

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn word_count_program_builds_flinks_job_graph() {
        let p = Program::parse(WC, &args(&["--input", "README.md", "--output=out"])).unwrap();
        assert_eq!(p.name.as_deref(), Some("WordCount"));
        assert_eq!(p.jobs[0].name, "WordCount");
        let g = &p.job_graphs(1, &mut ids()).unwrap()[0];
        assert_eq!(g.job_id, JobId(1));
        assert_eq!(g.restart_strategy, RestartStrategy::FixedDelay { attempts: 2, delay_ms: 10 });
        let names: Vec<&str> = g.vertices.iter().map(|v| v.name.as_str()).collect();
        assert_eq!(names, vec!["Source: File README.md -> Flat Map -> Map", "Keyed Aggregation -> Sink: File Sink"]);
        assert_eq!(g.vertices[1].inputs[0].ship, ShipStrategy::Hash { key: 0 });
        assert_eq!(g.vertices[1].operators[1], OperatorSpec::Sink { sink: SinkSpec::File { path: "out/wc".into() } });
        assert_eq!(g.vertices[0].parallelism, 2);
    }

    #[test]
    fn missing_input_falls_back_to_default_but_missing_output_fails() {
        let e = Program::parse(WC, &[]).unwrap_err();
        assert_eq!(e, "Job 'WordCount', step 6 (sink): 'path' uses ${output} but no --output argument was given");
        let p = Program::parse(WC, &args(&["--output", "o"])).unwrap();
        assert_eq!(p.jobs[0].steps[0].kind, StepKind::Operator(OperatorSpec::Source { source: SourceSpec::Words { repeat: 1 } }));
    }

    fn one_job(steps: &str) -> Result<Program, String> {
        Program::parse(&format!("[[job]]\nname = \"J\"\n{steps}"), &[])
    }

    #[test]
    fn bad_programs_get_clear_errors() {
        let src = "[[job.step]]\nsource = \"words\"\n";
        let print = "[[job.step]]\nsink = \"print\"\n";
        let cases = [
            (format!("{src}[[job.step]]\nfrobnicate = 1\n{print}"), "Job 'J', step 2: unknown step kind"),
            (format!("{src}{print}[[job.step]]\nkey-by = 0\n"), "Job 'J', step 3 (key-by): a step after the sink"),
            (format!("[[job.step]]\nmap = \"lowercase\"\n{print}"), "Job 'J', step 1 (map): missing source"),
            (format!("{src}[[job.step]]\nmap = \"shout\"\n{print}"), "Job 'J', step 2 (map): unknown map function 'shout'"),
            (format!("{src}[[job.step]]\nsum = 1\n{print}"), "Job 'J', step 2 (sum): sum needs a keyed stream"),
            (src.to_string(), "Job 'J': no sink"),
            (format!("type = \"batch\"\n[[job.step]]\nsource = {{ type = \"datagen\" }}\n{print}"), "needs bounded sources"),
        ];
        for (text, want) in cases {
            let e = one_job(&text).unwrap_err();
            assert!(e.starts_with(want) || e.contains(want), "{e}\n  wanted: {want}");
        }
        let e = Program::parse("[[job]\nname = 1", &[]).unwrap_err();
        assert!(e.contains("line 1"), "{e}");
        assert!(Program::parse("", &[]).unwrap_err().contains("no job"));
        assert!(Program::parse(WC, &args(&["stray"])).unwrap_err().contains("Unexpected program argument"));
    }

    #[test]
    fn windows_rebalance_parallelism_and_chaining_options() {
        let p = one_job(
            r#"
[[job.step]]
source = { type = "sequence", from = 1, to = 100 }
parallelism = 1
[[job.step]]
rebalance = true
[[job.step]]
map = { fn = "parse-fields", separator = "," }
disable-chaining = true
[[job.step]]
window = { size-ms = 1000, time = "processing-time", aggregate = "count", key = 0 }
[[job.step]]
sink = "discard"
parallelism = 1
"#,
        )
        .unwrap();
        let g = &p.job_graphs(3, &mut ids()).unwrap()[0];
        let v: Vec<(&str, u32, Option<&str>)> =
            g.vertices.iter().map(|v| (v.name.as_str(), v.parallelism, v.inputs.first().map(|e| e.ship.name()))).collect();
        assert_eq!(
            v,
            vec![
                ("Source: Sequence Source", 1, None),
                ("Map", 3, Some("REBALANCE")),
                ("Window(TumblingProcessingTimeWindows(1000), Aggregate)", 3, Some("HASH")),
                ("Sink: Discard", 1, Some("REBALANCE")),
            ]
        );
        assert_eq!(g.name, "J");
        assert_eq!(g.restart_strategy, DEFAULT_RESTART_STRATEGY);
    }

    #[test]
    fn integer_settings_take_program_arguments_with_defaults() {
        let text = r#"
[[job]]
name = "J"
[[job.step]]
source = { type = "datagen", kind = "numbers", count = "${count:-500}", rate-per-sec = "${rate}", seed = 7 }
[[job.step]]
map = { fn = "modulo", field = 0, by = 100 }
[[job.step]]
sink = "discard"
"#;
        let source = |p: &Program| p.jobs[0].steps[0].kind.clone();
        let p = Program::parse(text, &args(&["--rate", "20"])).unwrap();
        let want = SourceSpec::Datagen { kind: DatagenKind::Numbers, rate_per_sec: 20, count: Some(500), seed: 7 };
        assert_eq!(source(&p), StepKind::Operator(OperatorSpec::Source { source: want }));
        let p = Program::parse(text, &args(&["--rate", "0", "--count", "9"])).unwrap();
        let want = SourceSpec::Datagen { kind: DatagenKind::Numbers, rate_per_sec: 0, count: Some(9), seed: 7 };
        assert_eq!(source(&p), StepKind::Operator(OperatorSpec::Source { source: want }));
        assert_eq!(p.jobs[0].steps[1].kind, StepKind::Operator(OperatorSpec::Map { map: MapFn::Modulo { field: 0, by: 100 } }));
        let e = Program::parse(text, &args(&["--rate", "fast"])).unwrap_err();
        assert_eq!(e, "Job 'J', step 1 (source): 'rate-per-sec' in the source must be an integer, got \"fast\" (from \"${rate}\")");
        let e = Program::parse(text, &[]).unwrap_err();
        assert!(e.contains("uses ${rate} but no --rate argument was given"), "{e}");
        let e = Program::parse(&text.replace("by = 100", "by = 0"), &args(&["--rate", "1"])).unwrap_err();
        assert!(e.contains("'by' of map function 'modulo' must be positive"), "{e}");
    }

    #[test]
    fn several_jobs_run_in_order_with_default_names() {
        let job = "[[job]]\n[[job.step]]\nsource = \"words\"\n[[job.step]]\nsink = \"print\"\n";
        let p = Program::parse(&format!("{job}{job}"), &[]).unwrap();
        let gs = p.job_graphs(1, &mut ids()).unwrap();
        assert_eq!(gs.len(), 2);
        assert_eq!(gs[0].name, DEFAULT_JOB_NAME);
        assert_ne!(gs[0].job_id, gs[1].job_id);
    }
}

/// Fuzzing the program parser with proptest (cargo-fuzz needs a nightly toolchain): arbitrary
/// text, structure-aware programs, deep nesting and huge tokens. Bounded by default;
/// `FUZZ_CASES=N` (or `make fuzz`) runs more.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn cases() -> u32 {
        // The test harness's case count, not node code.
        let from_env = |k: &str| std::env::var(k).ok()?.parse().ok(); // lint: allow test-only
        from_env("FUZZ_CASES").or_else(|| from_env("PROPTEST_CASES")).unwrap_or(128)
    }

    /// Parses and, when that works, builds the job graphs: neither may panic.
    fn run(text: &str) -> Result<(), String> {
        let p = Program::parse(text, &["--input".into(), "x".into()])?;
        let mut n = 0u128;
        p.job_graphs(2, &mut || {
            n += 1;
            n
        })?;
        Ok(())
    }

    fn step() -> impl Strategy<Value = String> {
        prop_oneof![
            Just(r#"source = { type = "text-file", path = "${input}" }"#.to_string()),
            Just(r#"source = { type = "datagen", kind = "words", count = 10 }"#.to_string()),
            Just(r#"flat-map = "tokenize""#.to_string()),
            Just(r#"map = "pair-with-one""#.to_string()),
            (-3i64..5).prop_map(|k| format!("key-by = {k}")),
            (-3i64..5).prop_map(|k| format!("sum = {k}")),
            Just(r#"sink = "print""#.to_string()),
            Just("rebalance = true".to_string()),
            (-2i64..70_000).prop_map(|p| format!("parallelism = {p}")),
            Just(r#"window = { type = "tumbling", size-ms = 0 }"#.to_string()),
            "[a-z-]{1,10} = \"[a-z${}]{0,10}\"",
        ]
    }

    fn program() -> impl Strategy<Value = String> {
        let job = (proptest::option::of(-2i64..100), proptest::collection::vec(proptest::collection::vec(step(), 1..3), 0..8)).prop_map(
            |(p, steps)| {
                let mut s = String::from("[[job]]\n");
                if let Some(p) = p {
                    s.push_str(&format!("parallelism = {p}\n"));
                }
                for st in steps {
                    s.push_str("[[job.step]]\n");
                    for line in st {
                        s.push_str(&line);
                        s.push('\n');
                    }
                }
                s
            },
        );
        proptest::collection::vec(job, 0..3).prop_map(|jobs| jobs.concat())
    }

    fn hostile() -> impl Strategy<Value = String> {
        prop_oneof![
            // Far past the toml crate's recursion guard (80) without costing seconds per case.
            (1usize..5_000).prop_map(|d| format!("a = {}{}", "[".repeat(d), "]".repeat(d))),
            (1usize..5_000).prop_map(|d| format!("a = {}1{}", "{ b = ".repeat(d), " }".repeat(d))),
            (1usize..5_000).prop_map(|d| format!("{} = 1", vec!["k"; d].join("."))),
            (1usize..5_000).prop_map(|d| format!("[{}]\nx = 1", vec!["k"; d].join("."))),
            (1usize..5_000).prop_map(|d| format!("[[job]]\n[[job.step]]\nsource = {}", "{ a = ".repeat(d))),
            (1usize..1_100_000).prop_map(|n| format!("name = \"{}\"\n[[job]]\n[[job.step]]\nsink = \"print\"", "x".repeat(n))),
            (1usize..100_000).prop_map(|n| format!("[[job]]\n[[job.step]]\nkey-by = {}", "9".repeat(n))),
            (1usize..2_000).prop_map(|n| "[[job]]\n".repeat(n)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_text(text in "(?s).{0,400}") {
            let _ = run(&text);
        }

        #[test]
        fn arbitrary_bytes_as_lossy_text(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = run(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn structured_programs(text in program()) {
            let _ = run(&text);
        }

        #[test]
        fn hostile_programs(text in hostile()) {
            let _ = run(&text);
        }

        #[test]
        fn too_deep_or_too_big_is_an_error(d in 200usize..5_000) {
            let e = Program::parse(&format!("a = {}{}", "[".repeat(d), "]".repeat(d)), &[]).unwrap_err();
            prop_assert!(e.starts_with("Invalid program:"), "{}", e);
            prop_assert!(e.len() < 2_000, "the error quotes at most a short excerpt: {} bytes", e.len());
            let e = Program::parse(&"#".repeat(MAX_PROGRAM_BYTES + d), &[]).unwrap_err();
            prop_assert!(e.contains("more than the limit"), "{}", e);
        }
    }
}
