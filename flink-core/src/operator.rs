//! What a program's operators are: sources, transformations, windows and sinks. A JobVertex
//! holds a chain of these; the runtime (`runtime`) executes them.

use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SourceSpec {
    /// Numbers `from..=to`, split across subtasks (subtask i emits from+i, from+i+p, ...).
    Sequence { from: i64, to: i64 },
    /// A built-in text corpus (lines), repeated `repeat` times, lines split across subtasks.
    Words { repeat: u32 },
    /// A text file in the shared store (or local path in the client), lines split across subtasks.
    TextFile { path: String },
    /// Seeded generated records at `rate_per_sec` (0 = as fast as possible), `count` per subtask
    /// (None = unbounded). `kind` picks the schema.
    Datagen { kind: DatagenKind, rate_per_sec: u64, count: Option<u64>, seed: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DatagenKind {
    /// TopSpeedWindowing's cars: (carId, speed, distance, timestamp ms).
    Cars,
    /// (n) with n a random u32.
    Numbers,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "kebab-case")]
pub enum MapFn {
    /// x -> (x, 1)
    PairWithOne,
    /// Lower-cases string fields.
    Lowercase,
    /// Splits a line on `separator` into fields, parsing ints and floats where they parse.
    ParseFields { separator: String },
    /// Keeps the listed fields, in order.
    Project { fields: Vec<usize> },
    /// Replaces integer field `field` by its non-negative remainder modulo `by` (a key of at
    /// most `by` values, e.g. for keyed counts over generated numbers).
    Modulo { field: usize, by: i64 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "kebab-case")]
pub enum FlatMapFn {
    /// Flink's WordCount Tokenizer: lower-case, split on non-word characters, drop empties.
    Tokenize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "kebab-case")]
pub enum FilterFn {
    NonEmpty,
    /// Keeps records whose `field` is greater than `value`.
    GreaterThan {
        field: usize,
        value: f64,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TimeCharacteristic {
    ProcessingTime,
    EventTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "fn", rename_all = "kebab-case")]
pub enum Aggregate {
    Sum { field: usize },
    Max { field: usize },
    Min { field: usize },
    Count,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
pub enum SinkSpec {
    /// Flink's print sink: `N> record` on stdout (N = subtask index + 1 when parallelism > 1).
    Print,
    /// Flink's FileSink (row format, exactly-once): lines into part files
    /// `<path>/part-<uid>-<n>` in the shared store, visible once committed (see the runtime).
    File {
        path: String,
    },
    Discard,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum OperatorSpec {
    Source {
        source: SourceSpec,
    },
    Map {
        map: MapFn,
    },
    FlatMap {
        flat_map: FlatMapFn,
    },
    Filter {
        filter: FilterFn,
    },
    /// Event timestamps from `field` (ms) and bounded-out-of-orderness watermarks.
    AssignTimestamps {
        field: usize,
        max_out_of_orderness_ms: i64,
    },
    /// Keyed running aggregate (after a key-by on `key`): emits the updated record per input.
    KeyedAggregate {
        key: usize,
        aggregate: Aggregate,
    },
    /// Keyed tumbling (slide = size) or sliding window; emits one record per key and window.
    Window {
        key: usize,
        size_ms: i64,
        slide_ms: i64,
        time: TimeCharacteristic,
        aggregate: Aggregate,
    },
    Sink {
        sink: SinkSpec,
    },
}

impl OperatorSpec {
    /// The name Flink's plan shows (e.g. "Source: Words", "Flat Map", "Keyed Aggregation").
    pub fn name(&self) -> String {
        match self {
            OperatorSpec::Source { source } => match source {
                SourceSpec::Sequence { .. } => "Source: Sequence Source".into(),
                SourceSpec::Words { .. } => "Source: Words".into(),
                SourceSpec::TextFile { path } => format!("Source: File {path}"),
                SourceSpec::Datagen { .. } => "Source: Datagen".into(),
            },
            OperatorSpec::Map { .. } => "Map".into(),
            OperatorSpec::FlatMap { .. } => "Flat Map".into(),
            OperatorSpec::Filter { .. } => "Filter".into(),
            OperatorSpec::AssignTimestamps { .. } => "Timestamps/Watermarks".into(),
            OperatorSpec::KeyedAggregate { .. } => "Keyed Aggregation".into(),
            OperatorSpec::Window { size_ms, slide_ms, time, .. } => {
                let kind = if slide_ms == size_ms { "Tumbling" } else { "Sliding" };
                let t = if *time == TimeCharacteristic::EventTime { "EventTime" } else { "ProcessingTime" };
                format!("Window({kind}{t}Windows({size_ms}), Aggregate)")
            }
            OperatorSpec::Sink { sink } => match sink {
                SinkSpec::Print => "Sink: Print to Std. Out".into(),
                SinkSpec::File { .. } => "Sink: File Sink".into(),
                SinkSpec::Discard => "Sink: Discard".into(),
            },
        }
    }
    pub fn is_source(&self) -> bool {
        matches!(self, OperatorSpec::Source { .. })
    }
}
