//! Executes one subtask's operator chain, sans-IO: the task (in the TaskExecutor) hands it
//! upstream elements, the current time and the shared store; it hands back what leaves the
//! chain (records and watermarks for downstream, printed lines, file lines).
//!
//! Metrics follow Flink's task metrics: `records_in` counts records received from upstream
//! (a source task receives none), `records_out` counts records sent downstream (a chain ending
//! in a sink sends none).

use std::collections::BTreeMap;

use engine::{Store, StoreError, Time};
use rand::SeedableRng as _;
use serde::{Deserialize, Serialize};

use crate::checkpoint::{CheckpointId, KeyGroupRange};
use crate::graph::{JobType, ShipStrategy};
use crate::keygroup;
use crate::operator::{Aggregate, DatagenKind, FilterFn, FlatMapFn, MapFn, OperatorSpec, SinkSpec, SourceSpec, TimeCharacteristic};
use crate::protocol::Element;
use crate::record::{Record, Value};
use crate::state_table::{Key, KeyGroupRows, StateTable};

/// Flink's WordCountData: Hamlet's soliloquy (public domain), the built-in `words` corpus.
pub const WORDS: &[&str] = &[
    "To be, or not to be,--that is the question:--",
    "Whether 'tis nobler in the mind to suffer",
    "The slings and arrows of outrageous fortune",
    "Or to take arms against a sea of troubles,",
    "And by opposing end them?--To die,--to sleep,--",
    "No more; and by a sleep to say we end",
    "The heartache, and the thousand natural shocks",
    "That flesh is heir to,--'tis a consummation",
    "Devoutly to be wish'd. To die,--to sleep;--",
    "To sleep! perchance to dream:--ay, there's the rub;",
    "For in that sleep of death what dreams may come,",
    "When we have shuffled off this mortal coil,",
    "Must give us pause: there's the respect",
    "That makes calamity of so long life;",
    "For who would bear the whips and scorns of time,",
    "The oppressor's wrong, the proud man's contumely,",
    "The pangs of despis'd love, the law's delay,",
    "The insolence of office, and the spurns",
    "That patient merit of the unworthy takes,",
    "When he himself might his quietus make",
    "With a bare bodkin? who would these fardels bear,",
    "To grunt and sweat under a weary life,",
    "But that the dread of something after death,--",
    "The undiscover'd country, from whose bourn",
    "No traveller returns,--puzzles the will,",
    "And makes us rather bear those ills we have",
    "Than fly to others that we know not of?",
    "Thus conscience does make cowards of us all;",
    "And thus the native hue of resolution",
    "Is sicklied o'er with the pale cast of thought;",
    "And enterprises of great pith and moment,",
    "With this regard, their currents turn awry,",
    "And lose the name of action.--Soft you now!",
    "The fair Ophelia!--Nymph, in thy orisons",
    "Be all my sins remember'd.",
];

/// Cars per source subtask, Flink's TopSpeedWindowing default (`numOfCars = 2`).
pub const NUM_CARS: i64 = 2;

/// Flink's default auto-watermark interval (`pipeline.auto-watermark-interval`), used both as
/// event-time distance between watermarks and as the processing-time period off sources.
const WATERMARK_INTERVAL_MS: i64 = 200;

/// What one call produced.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Output {
    /// Records and watermarks for the downstream vertex, in order.
    pub elements: Vec<Element>,
    /// Lines for the TaskManager's stdout (print sink).
    pub printed: Vec<String>,
    /// (store path, lines) appended by a file sink (its in-progress part file): one or more
    /// lines, each but the last followed by a newline.
    pub files: Vec<(String, String)>,
    /// (staging path, final path): part files to commit by rename, in order. The task flushes
    /// `files` first. A commit whose staging file is gone and whose final file exists was done
    /// before (idempotent, as Flink's `commitAfterRecovery`).
    pub commits: Vec<(String, String)>,
}

impl Output {
    pub fn new() -> Output {
        Output::default()
    }
    pub fn clear(&mut self) {
        self.elements.clear();
        self.printed.clear();
        self.files.clear();
        self.commits.clear();
    }
}

/// What a source chain says after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceStatus {
    /// More records are available right away.
    More,
    /// Rate-limited: nothing more before this time.
    IdleUntil(Time),
    /// The bounded source is exhausted; the caller now calls `end_of_input`.
    Finished,
}

fn key_of(record: &Record, key: usize) -> Result<Key, String> {
    record.field(key).map(Key::of).ok_or_else(|| format!("Key field {key} is out of range for record {record}"))
}

fn numeric(record: &Record, field: usize) -> Result<&Value, String> {
    match record.field(field) {
        Some(v @ (Value::Int(_) | Value::Float(_))) => Ok(v),
        Some(Value::Str(_)) => Err(format!("Aggregation field {field} of record {record} is not numeric")),
        None => Err(format!("Aggregation field {field} is out of range for record {record}")),
    }
}

fn add(a: &Value, b: &Value) -> Value {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Value::Int(x.wrapping_add(*y)),
        _ => Value::Float(a.as_f64().unwrap_or(0.0) + b.as_f64().unwrap_or(0.0)),
    }
}

/// Numeric comparison (fields are checked numeric before).
fn greater(a: &Value, b: &Value) -> bool {
    a.as_f64().unwrap_or(0.0) > b.as_f64().unwrap_or(0.0)
}

/// Per-subtask facts every operator may need.
#[derive(Clone, Copy, Debug)]
struct Ctx {
    subtask: u32,
    parallelism: u32,
    batch: bool,
}

// ---------------------------------------------------------------------------------------------
// Sources
//
// A source reads splits (Flink's FLIP-27 `SourceSplit`s): a fresh subtask creates its own one
// from the spec; a restored subtask reads the splits handed to it (0, 1 or several, after a
// rescale) from the positions they were snapshotted at. Split positions are operator state
// (Flink's `SourceReaderState`), redistributed round-robin on restore.

/// Lines of a line source, before selection.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum LinesOrigin {
    /// The built-in corpus repeated `repeat` times.
    Words { repeat: u32 },
    /// A text file in the shared store, read on the split's first poll.
    File { path: String },
}

/// A snapshotted split: what it reads and how far it got.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum SplitState {
    Sequence {
        next: Option<i64>,
        to: i64,
        step: i64,
    },
    /// Lines `j` of the origin with `j % of == index`; `pos` of them were emitted.
    Lines {
        origin: LinesOrigin,
        index: u32,
        of: u32,
        pos: usize,
    },
    Datagen(DatagenState),
}

/// A generator's exact position: the RNG (ChaCha8 seed, stream, word position) and the cars.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct DatagenState {
    kind: DatagenKind,
    rate_per_sec: u64,
    count: Option<u64>,
    emitted: u64,
    rng_seed: [u8; 32],
    rng_stream: u64,
    /// u128 as decimal text: JSON numbers stop at 64 bits.
    rng_word_pos: String,
    speeds: Vec<i64>,
    distances: Vec<f64>,
    first_car: i64,
}

enum Split {
    /// `next` is None once the range is done (also when stepping would overflow).
    Sequence {
        next: Option<i64>,
        to: i64,
        step: i64,
    },
    /// `lines` = the selected lines, once loaded.
    Lines {
        origin: LinesOrigin,
        index: u32,
        of: u32,
        pos: usize,
        lines: Option<Vec<String>>,
    },
    Datagen(Box<Datagen>),
}

/// What a split says when asked for a record.
enum SplitNext {
    Record(Record),
    IdleUntil(Time),
    Done,
}

struct Datagen {
    kind: DatagenKind,
    rate_per_sec: u64,
    count: Option<u64>,
    emitted: u64,
    rng: engine::Rng,
    /// First poll (of this attempt) and `emitted` then: the rate limit is relative to them.
    started: Option<(Time, u64)>,
    speeds: Vec<i64>,
    distances: Vec<f64>,
    first_car: i64,
}

impl Datagen {
    fn new(kind: DatagenKind, rate_per_sec: u64, count: Option<u64>, seed: u64, subtask: u32) -> Datagen {
        // Each subtask draws its own stream; mixing keeps nearby seeds/subtasks apart.
        let rng = engine::Rng::seed_from_u64(seed ^ (u64::from(subtask) + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Datagen {
            kind,
            rate_per_sec,
            count,
            emitted: 0,
            rng,
            started: None,
            speeds: vec![50; NUM_CARS as usize],
            distances: vec![0.0; NUM_CARS as usize],
            first_car: i64::from(subtask) * NUM_CARS,
        }
    }

    fn snapshot(&self) -> DatagenState {
        DatagenState {
            kind: self.kind,
            rate_per_sec: self.rate_per_sec,
            count: self.count,
            emitted: self.emitted,
            rng_seed: self.rng.get_seed(),
            rng_stream: self.rng.get_stream(),
            rng_word_pos: self.rng.get_word_pos().to_string(),
            speeds: self.speeds.clone(),
            distances: self.distances.clone(),
            first_car: self.first_car,
        }
    }

    fn restore(s: DatagenState) -> Result<Datagen, String> {
        let word_pos: u128 = s.rng_word_pos.parse().map_err(|_| format!("Invalid datagen RNG position '{}'", s.rng_word_pos))?;
        if s.speeds.len() != NUM_CARS as usize || s.distances.len() != NUM_CARS as usize {
            return Err(format!("Datagen state has {} cars, expected {NUM_CARS}", s.speeds.len()));
        }
        let mut rng = engine::Rng::from_seed(s.rng_seed);
        rng.set_stream(s.rng_stream);
        rng.set_word_pos(word_pos);
        Ok(Datagen {
            kind: s.kind,
            rate_per_sec: s.rate_per_sec,
            count: s.count,
            emitted: s.emitted,
            rng,
            started: None,
            speeds: s.speeds,
            distances: s.distances,
            first_car: s.first_car,
        })
    }

    fn exhausted(&self) -> bool {
        self.count.is_some_and(|c| self.emitted >= c)
    }

    /// When the next record may be emitted under the rate limit (None = now).
    fn not_before(&mut self, now: Time) -> Option<Time> {
        if self.rate_per_sec == 0 {
            return None;
        }
        let (start, base) = *self.started.get_or_insert((now, self.emitted));
        // The k-th record of this attempt is due k/rate seconds after its first poll.
        let due = Time(start.0 + (self.emitted - base).saturating_mul(1_000_000).div_ceil(self.rate_per_sec));
        (due > now).then_some(due)
    }

    fn next_record(&mut self) -> Record {
        use rand::Rng as _;
        let k = self.emitted;
        self.emitted += 1;
        match self.kind {
            DatagenKind::Cars => {
                // Flink's CarSource: each step a car speeds up or slows down by 5 (kept within
                // 50..=100 here), and covers speed/3.6 metres per 100 ms step.
                let car = (k % NUM_CARS as u64) as usize;
                let up: bool = self.rng.random();
                let s = self.speeds[car];
                self.speeds[car] = if up { (s + 5).min(100) } else { (s - 5).max(50) };
                self.distances[car] += self.speeds[car] as f64 / 3.6;
                let ts = (k / NUM_CARS as u64) as i64 * 100;
                Record::new(smallvec::smallvec![
                    Value::Int(self.first_car + car as i64),
                    Value::Int(self.speeds[car]),
                    Value::Float(self.distances[car]),
                    Value::Int(ts),
                ])
            }
            DatagenKind::Numbers => Record::new(smallvec::smallvec![Value::Int(i64::from(self.rng.random::<u32>()))]),
        }
    }
}

/// Lines `j` with `j % of == index`.
fn select_lines<'a>(lines: impl Iterator<Item = &'a str>, index: u32, of: u32) -> Vec<String> {
    lines.enumerate().filter(|(j, _)| *j as u64 % u64::from(of.max(1)) == u64::from(index)).map(|(_, l)| l.to_string()).collect()
}

impl Split {
    /// The split a fresh subtask reads.
    fn new(spec: &SourceSpec, ctx: Ctx) -> Split {
        let (index, of) = (ctx.subtask, ctx.parallelism);
        match spec {
            SourceSpec::Sequence { from, to } => {
                Split::Sequence { next: from.checked_add(i64::from(ctx.subtask)), to: *to, step: i64::from(ctx.parallelism) }
            }
            SourceSpec::Words { repeat } => Split::Lines { origin: LinesOrigin::Words { repeat: *repeat }, index, of, pos: 0, lines: None },
            SourceSpec::TextFile { path } => {
                Split::Lines { origin: LinesOrigin::File { path: path.clone() }, index, of, pos: 0, lines: None }
            }
            SourceSpec::Datagen { kind, rate_per_sec, count, seed } => {
                Split::Datagen(Box::new(Datagen::new(*kind, *rate_per_sec, *count, *seed, ctx.subtask)))
            }
        }
    }

    fn snapshot(&self) -> SplitState {
        match self {
            Split::Sequence { next, to, step } => SplitState::Sequence { next: *next, to: *to, step: *step },
            Split::Lines { origin, index, of, pos, .. } => SplitState::Lines { origin: origin.clone(), index: *index, of: *of, pos: *pos },
            Split::Datagen(g) => SplitState::Datagen(g.snapshot()),
        }
    }

    fn restore(s: SplitState) -> Result<Split, String> {
        Ok(match s {
            SplitState::Sequence { next, to, step } => Split::Sequence { next, to, step },
            SplitState::Lines { origin, index, of, pos } => Split::Lines { origin, index, of, pos, lines: None },
            SplitState::Datagen(d) => Split::Datagen(Box::new(Datagen::restore(d)?)),
        })
    }

    fn next(&mut self, now: Time, store: &dyn Store) -> Result<SplitNext, String> {
        Ok(match self {
            Split::Sequence { next, to, step } => match *next {
                Some(n) if n <= *to => {
                    *next = n.checked_add(*step);
                    SplitNext::Record(Record::new(smallvec::smallvec![Value::Int(n)]))
                }
                _ => SplitNext::Done,
            },
            Split::Lines { origin, index, of, pos, lines } => {
                if lines.is_none() {
                    *lines = Some(match origin {
                        LinesOrigin::Words { repeat } => select_lines((0..*repeat).flat_map(|_| WORDS.iter().copied()), *index, *of),
                        LinesOrigin::File { path } => {
                            let text = match store.read(path) {
                                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                                Err(StoreError::NotFound(_)) => return Err(format!("File {path} does not exist")),
                                Err(e) => return Err(format!("Cannot read {path}: {e}")),
                            };
                            select_lines(text.lines(), *index, *of)
                        }
                    });
                }
                match lines.as_ref().and_then(|l| l.get(*pos)) {
                    Some(l) => {
                        *pos += 1;
                        SplitNext::Record(Record::new(smallvec::smallvec![Value::Str(l.clone())]))
                    }
                    None => SplitNext::Done,
                }
            }
            Split::Datagen(g) => {
                if g.exhausted() {
                    SplitNext::Done
                } else if let Some(t) = g.not_before(now) {
                    SplitNext::IdleUntil(t)
                } else {
                    SplitNext::Record(g.next_record())
                }
            }
        })
    }

    fn finished(&self) -> bool {
        match self {
            Split::Sequence { next, to, .. } => next.is_none_or(|n| n > *to),
            // Not loaded yet: a file may have lines.
            Split::Lines { lines, pos, .. } => lines.as_ref().is_some_and(|l| *pos >= l.len()),
            Split::Datagen(g) => g.exhausted(),
        }
    }
}

/// A source subtask: its splits, read round-robin (one record each in turn) so a subtask that
/// took over several rate-limited splits keeps each one's rate.
struct Source {
    splits: Vec<Split>,
    cursor: usize,
}

impl Source {
    fn new(spec: &SourceSpec, ctx: Ctx) -> Source {
        Source { splits: vec![Split::new(spec, ctx)], cursor: 0 }
    }

    /// The next record, or why there is none.
    fn next(&mut self, now: Time, store: &dyn Store) -> Result<Result<Record, SourceStatus>, String> {
        let mut idle: Option<Time> = None;
        let mut tried = 0;
        while tried < self.splits.len() {
            let i = self.cursor % self.splits.len();
            match self.splits[i].next(now, store)? {
                SplitNext::Record(r) => {
                    self.cursor = i + 1;
                    return Ok(Ok(r));
                }
                SplitNext::IdleUntil(t) => {
                    idle = Some(idle.map_or(t, |m| m.min(t)));
                    self.cursor = i + 1;
                    tried += 1;
                }
                // A finished split is dropped (and so is not in later snapshots).
                SplitNext::Done => {
                    self.splits.remove(i);
                }
            }
        }
        Ok(Err(idle.map_or(SourceStatus::Finished, SourceStatus::IdleUntil)))
    }

    fn finished(&self) -> bool {
        self.splits.iter().all(Split::finished)
    }
}

// ---------------------------------------------------------------------------------------------
// Operators after the source

/// Timestamps/Watermarks with Flink's bounded-out-of-orderness generator: watermark =
/// max timestamp seen - out-of-orderness - 1.
struct Timestamps {
    field: usize,
    out_of_orderness: i64,
    max_ts: Option<i64>,
    emitted: i64,
    /// Processing time at which a pending watermark is emitted (non-source chains).
    periodic_due: Option<Time>,
}

impl Timestamps {
    fn candidate(&self) -> Option<i64> {
        self.max_ts.map(|m| m.saturating_sub(self.out_of_orderness).saturating_sub(1))
    }
    /// The watermark to emit now, if it advanced.
    fn take(&mut self) -> Option<Element> {
        self.periodic_due = None;
        match self.candidate() {
            Some(w) if w > self.emitted => {
                self.emitted = w;
                Some(Element::Watermark(w))
            }
            _ => None,
        }
    }
}

/// What an operator hands on for one input element: usually one or none, kept inline.
type Emitted = smallvec::SmallVec<[Element; 1]>;

/// Running aggregate per key, Flink's `keyBy(k).sum(f)` / `max(f)` / `min(f)`: the first
/// record of a key is kept and only the aggregated field changes.
struct KeyedAgg {
    key: usize,
    aggregate: Aggregate,
    state: StateTable,
}

impl KeyedAgg {
    fn update(&mut self, r: Record) -> Result<Record, String> {
        let k = r.field(self.key).cloned().ok_or_else(|| format!("Key field {} is out of range for record {r}", self.key))?;
        if let Aggregate::Sum { field } | Aggregate::Max { field } | Aggregate::Min { field } = self.aggregate {
            numeric(&r, field)?;
        }
        let agg = &self.aggregate;
        self.state.update(&k, |acc| match (acc, agg) {
            (None, Aggregate::Count) => Record { fields: smallvec::smallvec![k.clone(), Value::Int(1)], timestamp: r.timestamp },
            (None, _) => r,
            (Some(mut acc), agg) => {
                match *agg {
                    Aggregate::Sum { field } => acc.fields[field] = add(&acc.fields[field], &r.fields[field]),
                    Aggregate::Max { field } => {
                        if greater(&r.fields[field], &acc.fields[field]) {
                            acc.fields[field] = r.fields[field].clone();
                        }
                    }
                    Aggregate::Min { field } => {
                        if greater(&acc.fields[field], &r.fields[field]) {
                            acc.fields[field] = r.fields[field].clone();
                        }
                    }
                    Aggregate::Count => acc.fields[1] = add(&acc.fields[1], &Value::Int(1)),
                }
                acc.timestamp = r.timestamp;
                acc
            }
        })
    }
}

/// One key's contents of one window.
struct WindowAcc {
    record: Record,
    count: i64,
}

struct WindowOp {
    key: usize,
    size: i64,
    slide: i64,
    time: TimeCharacteristic,
    aggregate: Aggregate,
    /// (window end, key) -> accumulator; ordered so windows fire by end, then key.
    windows: BTreeMap<(i64, Key), WindowAcc>,
    watermark: i64,
}

impl WindowOp {
    /// Window ends containing `ts` (start = end - size, start <= ts < end).
    fn ends(&self, ts: i64) -> Vec<i64> {
        let last_start = ts - ts.rem_euclid(self.slide);
        let mut ends = Vec::new();
        let mut start = last_start;
        while start > ts - self.size {
            ends.push(start + self.size);
            start -= self.slide;
        }
        ends.reverse();
        ends
    }

    fn add(&mut self, r: Record, now: Time) -> Result<(), String> {
        let ts = match self.time {
            TimeCharacteristic::ProcessingTime => now.as_millis() as i64,
            TimeCharacteristic::EventTime => r.timestamp.ok_or_else(|| {
                format!(
                    "Record {r} has no timestamp. Is the time characteristic set to 'ProcessingTime', or did you forget to call 'assignTimestampsAndWatermarks(...)'?"
                )
            })?,
        };
        let k = key_of(&r, self.key)?;
        if let Aggregate::Sum { field } | Aggregate::Max { field } | Aggregate::Min { field } = self.aggregate {
            numeric(&r, field)?;
        }
        for end in self.ends(ts) {
            // Flink drops an element for windows whose max timestamp the watermark passed.
            if self.time == TimeCharacteristic::EventTime && end - 1 <= self.watermark {
                continue;
            }
            match self.windows.get_mut(&(end, k.clone())) {
                None => {
                    self.windows.insert((end, k.clone()), WindowAcc { record: r.clone(), count: 1 });
                }
                Some(acc) => {
                    acc.count += 1;
                    match self.aggregate {
                        Aggregate::Sum { field } => {
                            acc.record.fields[field] = add(&acc.record.fields[field], &r.fields[field]);
                        }
                        // maxBy/minBy: the whole record that carried the extreme; ties keep the first.
                        Aggregate::Max { field } => {
                            if greater(&r.fields[field], &acc.record.fields[field]) {
                                acc.record = r.clone();
                            }
                        }
                        Aggregate::Min { field } => {
                            if greater(&acc.record.fields[field], &r.fields[field]) {
                                acc.record = r.clone();
                            }
                        }
                        Aggregate::Count => {}
                    }
                }
            }
        }
        Ok(())
    }

    /// Fires (in end, key order) every window whose end - 1 <= `upto`.
    fn fire(&mut self, upto: i64) -> Vec<Element> {
        let mut out = Vec::new();
        while let Some(entry) = self.windows.first_entry() {
            let end = entry.key().0;
            if end - 1 > upto {
                break;
            }
            let ((end, key), acc) = entry.remove_entry();
            let mut r = match self.aggregate {
                Aggregate::Count => Record::new(smallvec::smallvec![key.value(), Value::Int(acc.count)]),
                _ => acc.record,
            };
            r.timestamp = Some(end - 1);
            out.push(Element::Record(r));
        }
        out
    }

    fn next_timer(&self) -> Option<Time> {
        if self.time != TimeCharacteristic::ProcessingTime {
            return None;
        }
        self.windows.keys().next().map(|(end, _)| Time::from_millis((end - 1).max(0) as u64))
    }
}

/// A sink at the end of a chain.
enum Sink {
    /// Flink's print sink (at-least-once: replays after a restore print again).
    Print,
    File(FileSink),
    Discard,
}

/// Flink's `FileSink` (row format), exactly-once by two-phase commit: lines go to a hidden
/// in-progress file; a checkpoint closes it into a pending committable recorded in the state
/// under the checkpoint id; when that checkpoint completes the file is committed (renamed to
/// its final, visible name). A restore commits what the restored state had pending (the
/// checkpoint it was taken for completed). At end of input the open file becomes pending too
/// and is committed by the JobMaster once the whole job finished. Readers skip names starting
/// with '.' or '_', so uncommitted (possibly replayed) lines are never read.
struct FileSink {
    dir: String,
    /// Unique per task attempt (the task sets a random one), so part names never collide
    /// across attempts or subtasks.
    uid: String,
    /// Part files this attempt opened.
    counter: u64,
    /// The open part file: (staging, final).
    current: Option<(String, String)>,
    /// Closed files waiting for their checkpoint (or a later one) to complete.
    pending: BTreeMap<CheckpointId, Vec<(String, String)>>,
    /// Closed at end of input.
    at_end: Vec<(String, String)>,
}

impl FileSink {
    fn new(path: &str, subtask: u32) -> FileSink {
        FileSink {
            dir: path.trim_end_matches('/').to_string(),
            uid: subtask.to_string(),
            counter: 0,
            current: None,
            pending: BTreeMap::new(),
            at_end: Vec::new(),
        }
    }

    /// Appends `r` as a line of the open part file (opening one if none is), to the entry
    /// `out.files` already has for it if that is the last one: one path and one buffer per
    /// batch of records instead of a copy of the path and a string per record.
    fn write(&mut self, r: &Record, out: &mut Output) {
        let staging = match &self.current {
            Some((staging, _)) => staging,
            None => {
                // Flink names in-progress files `.part-<uid>-<n>.inprogress.<uuid>`; the suffix
                // only has to be unique, and uid already is, so it is derived from (uid, n).
                let mut h = engine::trace::Fnv64::default();
                h.write(self.uid.as_bytes());
                h.write_u64(self.counter);
                let name = format!("part-{}-{}", self.uid, self.counter);
                let staging = format!("{}/.{name}.inprogress.{:016x}", self.dir, h.finish());
                self.counter += 1;
                &self.current.insert((staging, format!("{}/{name}", self.dir))).0
            }
        };
        match out.files.last_mut() {
            Some((path, lines)) if path == staging => lines.push('\n'),
            // Room for a few records at once: grown a byte at a time, a record's text cost
            // two or three reallocations (the TaskManager wakes for each record of a slow
            // source, so an entry often holds one).
            _ => out.files.push((staging.clone(), String::with_capacity(64))),
        }
        let (_, lines) = out.files.last_mut().expect("an entry for the open part file");
        r.render(lines).expect("writing to a String cannot fail");
    }

    /// Closes the open file (if any) into the committables of `checkpoint_id`.
    fn close_for(&mut self, checkpoint_id: CheckpointId) {
        if let Some(f) = self.current.take() {
            self.pending.entry(checkpoint_id).or_default().push(f);
        }
    }

    /// Commits everything pending for checkpoints up to `checkpoint_id` (an aborted
    /// checkpoint's files go with the next one that completes).
    fn notify(&mut self, checkpoint_id: CheckpointId, out: &mut Output) {
        let later = match checkpoint_id.checked_add(1) {
            Some(next) => self.pending.split_off(&next),
            None => BTreeMap::new(),
        };
        for (_, files) in std::mem::replace(&mut self.pending, later) {
            out.commits.extend(files);
        }
    }

    fn pending_commits(&self) -> Vec<(String, String)> {
        self.pending.values().flatten().chain(&self.at_end).cloned().collect()
    }
}

/// One committable in a file sink's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Committable {
    checkpoint_id: CheckpointId,
    staging: String,
    #[serde(rename = "final")]
    final_path: String,
}

/// One key's window contents in a window operator's state.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct WindowEntry {
    end: i64,
    key: Key,
    record: Record,
    count: i64,
}

/// The entries of one key group, as Flink writes keyed state key group by key group.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct KeyGroupEntries<T> {
    key_group: u32,
    entries: Vec<T>,
}

/// Groups keyed entries by key group, in key-group order.
fn by_key_group<T>(entries: impl Iterator<Item = (u32, T)>) -> Vec<KeyGroupEntries<T>> {
    let mut groups: BTreeMap<u32, Vec<T>> = BTreeMap::new();
    for (kg, e) in entries {
        groups.entry(kg).or_default().push(e);
    }
    groups.into_iter().map(|(key_group, entries)| KeyGroupEntries { key_group, entries }).collect()
}

/// One operator's snapshot. Keyed state is grouped by key group (Flink's
/// `KeyGroupsStateHandle`) so a restore takes exactly the key groups of its new range.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "kebab-case")]
enum OperatorState {
    /// Maps, filters, print and discard sinks, and the watermark generator (Flink restarts it
    /// from Long.MIN_VALUE).
    Stateless,
    /// Running aggregate per key, key group by key group in the state table's binary layout.
    KeyedAggregate { key_groups: Vec<KeyGroupRows> },
    /// Open windows per key (their ends are the timers) and the operator's watermark, so
    /// records that were late before the snapshot stay late after it.
    Window { watermark: i64, key_groups: Vec<KeyGroupEntries<WindowEntry>> },
    /// Operator state: the committables not yet committed when the snapshot was taken.
    FileSink { pending: Vec<Committable> },
}

impl OperatorState {
    fn kind(&self) -> &'static str {
        match self {
            OperatorState::Stateless => "stateless",
            OperatorState::KeyedAggregate { .. } => "keyed-aggregate",
            OperatorState::Window { .. } => "window",
            OperatorState::FileSink { .. } => "file-sink",
        }
    }
}

enum Op {
    Map(MapFn),
    FlatMap(FlatMapFn),
    Filter(FilterFn),
    Timestamps(Timestamps),
    KeyedAgg(KeyedAgg),
    Window(WindowOp),
    Sink(Sink),
}

fn parse_field(s: &str) -> Value {
    if let Ok(i) = s.parse::<i64>() {
        Value::Int(i)
    } else if let Ok(f) = s.parse::<f64>() {
        Value::Float(f)
    } else {
        Value::Str(s.to_string())
    }
}

/// The text a line-oriented function works on: the single field, or the printed tuple.
fn text_of(r: &Record) -> String {
    match r.fields.as_slice() {
        [Value::Str(s)] => s.clone(),
        _ => r.to_string(),
    }
}

impl Op {
    fn new(spec: &OperatorSpec, ctx: Ctx) -> Result<Op, String> {
        Ok(match spec {
            OperatorSpec::Source { .. } => return Err("A source can only be the head of a chain".into()),
            OperatorSpec::Map { map: MapFn::Modulo { by, .. } } if *by <= 0 => {
                return Err(format!("The modulo map needs a positive 'by', got {by}"));
            }
            OperatorSpec::Map { map } => Op::Map(map.clone()),
            OperatorSpec::FlatMap { flat_map } => Op::FlatMap(flat_map.clone()),
            OperatorSpec::Filter { filter } => Op::Filter(filter.clone()),
            OperatorSpec::AssignTimestamps { field, max_out_of_orderness_ms } => {
                if *max_out_of_orderness_ms < 0 {
                    return Err(format!("max out-of-orderness must not be negative, got {max_out_of_orderness_ms}"));
                }
                Op::Timestamps(Timestamps {
                    field: *field,
                    out_of_orderness: *max_out_of_orderness_ms,
                    max_ts: None,
                    emitted: i64::MIN,
                    periodic_due: None,
                })
            }
            OperatorSpec::KeyedAggregate { key, aggregate } => Op::KeyedAgg(KeyedAgg {
                key: *key,
                aggregate: aggregate.clone(),
                state: StateTable::new(keygroup::default_max_parallelism(ctx.parallelism)),
            }),
            OperatorSpec::Window { key, size_ms, slide_ms, time, aggregate } => {
                if *size_ms <= 0 || *slide_ms <= 0 {
                    return Err(format!("Window size and slide must be positive, got size {size_ms} ms, slide {slide_ms} ms"));
                }
                Op::Window(WindowOp {
                    key: *key,
                    size: *size_ms,
                    slide: *slide_ms,
                    time: *time,
                    aggregate: aggregate.clone(),
                    windows: BTreeMap::new(),
                    watermark: i64::MIN,
                })
            }
            OperatorSpec::Sink { sink } => Op::Sink(match sink {
                SinkSpec::Print => Sink::Print,
                SinkSpec::File { path } => Sink::File(FileSink::new(path, ctx.subtask)),
                SinkSpec::Discard => Sink::Discard,
            }),
        })
    }

    /// Handles one element; returns what goes on to the next operator.
    fn process(&mut self, el: Element, now: Time, ctx: Ctx, out: &mut Output) -> Result<Emitted, String> {
        let r = match el {
            Element::Watermark(w) => return Ok(self.on_watermark(w).into()),
            Element::Record(r) => r,
            // The task aligns barriers and snapshots the chain; they never enter operators.
            Element::Barrier(b) => return Err(format!("Checkpoint barrier {} reached an operator", b.id)),
        };
        Ok(match self {
            Op::Map(f) => {
                let mut r = r;
                match f {
                    MapFn::PairWithOne => r.fields.push(Value::Int(1)),
                    MapFn::Lowercase => {
                        for v in &mut r.fields {
                            if let Value::Str(s) = v {
                                *s = s.to_lowercase();
                            }
                        }
                    }
                    MapFn::ParseFields { separator } => {
                        let text = text_of(&r);
                        r.fields = if separator.is_empty() {
                            smallvec::smallvec![parse_field(text.trim())]
                        } else {
                            text.split(separator.as_str()).map(|s| parse_field(s.trim())).collect()
                        };
                    }
                    MapFn::Project { fields } => {
                        let mut projected = Vec::with_capacity(fields.len());
                        for &i in fields.iter() {
                            projected.push(r.field(i).cloned().ok_or_else(|| format!("Cannot project field {i} of record {r}"))?);
                        }
                        r.fields = projected.into();
                    }
                    MapFn::Modulo { field, by } => match r.fields.get_mut(*field) {
                        Some(Value::Int(i)) => *i = i.rem_euclid(*by),
                        _ => return Err(format!("Modulo field {field} of record {r} is missing or not an integer")),
                    },
                }
                smallvec::smallvec![Element::Record(r)]
            }
            Op::FlatMap(FlatMapFn::Tokenize) => {
                // Flink's Tokenizer: lower-case, split on non-word characters, drop empties.
                let text = text_of(&r).to_lowercase();
                text.split(|c: char| !c.is_alphanumeric())
                    .filter(|w| !w.is_empty())
                    .map(|w| Element::Record(Record { fields: smallvec::smallvec![Value::Str(w.to_string())], timestamp: r.timestamp }))
                    .collect()
            }
            Op::Filter(f) => {
                let keep = match f {
                    FilterFn::NonEmpty => match r.fields.first() {
                        None => false,
                        Some(Value::Str(s)) => !s.trim().is_empty(),
                        Some(_) => true,
                    },
                    FilterFn::GreaterThan { field, value } => r.field(*field).and_then(Value::as_f64).is_some_and(|x| x > *value),
                };
                if keep {
                    smallvec::smallvec![Element::Record(r)]
                } else {
                    Emitted::new()
                }
            }
            Op::Timestamps(t) => {
                let ts = r
                    .field(t.field)
                    .and_then(Value::as_i64)
                    .ok_or_else(|| format!("Timestamp field {} of record {r} is missing or not a number", t.field))?;
                let mut r = r;
                r.timestamp = Some(ts);
                t.max_ts = Some(t.max_ts.map_or(ts, |m| m.max(ts)));
                let mut outs = smallvec::smallvec![Element::Record(r)];
                let cand = t.candidate().unwrap_or(i64::MIN);
                if t.emitted == i64::MIN || cand.saturating_sub(t.emitted) >= WATERMARK_INTERVAL_MS {
                    outs.extend(t.take());
                } else if cand > t.emitted && t.periodic_due.is_none() {
                    t.periodic_due = Some(now + std::time::Duration::from_millis(WATERMARK_INTERVAL_MS as u64));
                }
                outs
            }
            Op::KeyedAgg(a) => {
                let updated = a.update(r)?;
                // Batch execution emits only the final value per key, at end of input.
                if ctx.batch {
                    Emitted::new()
                } else {
                    smallvec::smallvec![Element::Record(updated)]
                }
            }
            Op::Window(w) => {
                w.add(r, now)?;
                Emitted::new()
            }
            Op::Sink(sink) => {
                match sink {
                    Sink::Print => out.printed.push(if ctx.parallelism > 1 { format!("{}> {r}", ctx.subtask + 1) } else { r.to_string() }),
                    Sink::File(f) => f.write(&r, out),
                    Sink::Discard => {}
                }
                Emitted::new()
            }
        })
    }

    fn on_watermark(&mut self, w: i64) -> Vec<Element> {
        match self {
            // The assigner makes its own watermarks; only the end-of-input one passes.
            Op::Timestamps(t) => {
                if w == i64::MAX && t.emitted < i64::MAX {
                    t.emitted = i64::MAX;
                    t.periodic_due = None;
                    vec![Element::Watermark(w)]
                } else {
                    vec![]
                }
            }
            Op::Window(win) => {
                if w <= win.watermark {
                    return vec![];
                }
                win.watermark = w;
                let mut outs = if win.time == TimeCharacteristic::EventTime { win.fire(w) } else { vec![] };
                outs.push(Element::Watermark(w));
                outs
            }
            Op::Sink(_) => vec![],
            _ => vec![Element::Watermark(w)],
        }
    }

    fn on_processing_time(&mut self, now: Time) -> Vec<Element> {
        match self {
            Op::Window(w) if w.time == TimeCharacteristic::ProcessingTime => w.fire(now.as_millis() as i64),
            Op::Timestamps(t) if t.periodic_due.is_some_and(|d| d <= now) => t.take().into_iter().collect(),
            _ => vec![],
        }
    }

    fn next_timer(&self) -> Option<Time> {
        match self {
            Op::Window(w) => w.next_timer(),
            Op::Timestamps(t) => t.periodic_due,
            _ => None,
        }
    }

    fn end_of_input(&mut self, ctx: Ctx) -> Result<Vec<Element>, String> {
        Ok(match self {
            Op::Timestamps(t) if t.emitted < i64::MAX => {
                t.emitted = i64::MAX;
                t.periodic_due = None;
                vec![Element::Watermark(i64::MAX)]
            }
            Op::Window(w) => w.fire(i64::MAX),
            Op::KeyedAgg(a) if ctx.batch => a.state.drain_sorted()?.into_iter().map(Element::Record).collect(),
            Op::Sink(Sink::File(f)) => {
                f.at_end.extend(f.current.take());
                vec![]
            }
            _ => vec![],
        })
    }

    /// This operator's part of a checkpoint. A file sink closes its open file into the
    /// checkpoint's committables.
    fn snapshot(&mut self, checkpoint_id: CheckpointId, max_parallelism: u32) -> Result<OperatorState, String> {
        let group = |k: &Key| keygroup::assign_to_key_group(&k.value(), max_parallelism);
        Ok(match self {
            Op::KeyedAgg(a) => OperatorState::KeyedAggregate { key_groups: a.state.snapshot()? },
            Op::Window(w) => OperatorState::Window {
                watermark: w.watermark,
                key_groups: by_key_group(w.windows.iter().map(|((end, k), acc)| {
                    (group(k), WindowEntry { end: *end, key: k.clone(), record: acc.record.clone(), count: acc.count })
                })),
            },
            Op::Sink(Sink::File(f)) => {
                f.close_for(checkpoint_id);
                let pending = f
                    .pending
                    .iter()
                    .flat_map(|(id, files)| {
                        files.iter().map(|(staging, fin)| Committable {
                            checkpoint_id: *id,
                            staging: staging.clone(),
                            final_path: fin.clone(),
                        })
                    })
                    .collect();
                OperatorState::FileSink { pending }
            }
            Op::Map(_) | Op::FlatMap(_) | Op::Filter(_) | Op::Timestamps(_) | Op::Sink(Sink::Print | Sink::Discard) => {
                OperatorState::Stateless
            }
        })
    }

    /// The kind of state `snapshot` produces, to check a restored state fits this operator.
    fn state_kind(&self) -> &'static str {
        match self {
            Op::KeyedAgg(_) => "keyed-aggregate",
            Op::Window(_) => "window",
            Op::Sink(Sink::File(_)) => "file-sink",
            Op::Map(_) | Op::FlatMap(_) | Op::Filter(_) | Op::Timestamps(_) | Op::Sink(Sink::Print | Sink::Discard) => "stateless",
        }
    }

    /// Adds the keyed state of `st` whose key groups are in `range`. `first`: the first
    /// snapshot restored (a window takes the lowest watermark of all; they are equal, as
    /// every subtask saw the same watermarks before the aligned barrier).
    fn restore_keyed(&mut self, st: &OperatorState, range: KeyGroupRange, first: bool) -> Result<(), String> {
        match (self, st) {
            (Op::KeyedAgg(a), OperatorState::KeyedAggregate { key_groups }) => {
                for g in key_groups.iter().filter(|g| range.contains(g.key_group)) {
                    a.state.restore(g)?;
                }
            }
            (Op::Window(w), OperatorState::Window { watermark, key_groups }) => {
                w.watermark = if first { *watermark } else { w.watermark.min(*watermark) };
                for g in key_groups.iter().filter(|g| range.contains(g.key_group)) {
                    for e in &g.entries {
                        w.windows.insert((e.end, e.key.clone()), WindowAcc { record: e.record.clone(), count: e.count });
                    }
                }
            }
            // Operator state, or nothing: restored by `restore_operator`.
            _ => {}
        }
        Ok(())
    }

    /// Takes over the operator (non-keyed) state of `st`: a file sink commits the files the
    /// snapshot had pending (its checkpoint completed, or it would not be restored).
    fn restore_operator(&mut self, st: &OperatorState, out: &mut Output) {
        if let (Op::Sink(Sink::File(_)), OperatorState::FileSink { pending }) = (self, st) {
            out.commits.extend(pending.iter().map(|c| (c.staging.clone(), c.final_path.clone())));
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The chain

/// One subtask's chain: an optional source head and the operators after it.
pub struct OperatorChain {
    source: Option<Source>,
    ops: Vec<Op>,
    ctx: Ctx,
    records_in: u64,
    records_out: u64,
    /// Last watermark sent downstream: watermarks leave the chain strictly increasing.
    last_watermark: i64,
    ended: bool,
    failure: Option<String>,
    /// Number of key groups, and the ones this subtask owns.
    max_parallelism: u32,
    key_groups: KeyGroupRange,
    /// False after `stop_without_drain`.
    draining: bool,
}

impl OperatorChain {
    pub fn new(ops: &[OperatorSpec], subtask: u32, parallelism: u32) -> Result<OperatorChain, String> {
        if parallelism == 0 || subtask >= parallelism {
            return Err(format!("Subtask {subtask} is out of range for parallelism {parallelism}"));
        }
        let ctx = Ctx { subtask, parallelism, batch: false };
        let (source, rest) = match ops.split_first() {
            None => return Err("An operator chain needs at least one operator".into()),
            Some((OperatorSpec::Source { source }, rest)) => (Some(Source::new(source, ctx)), rest),
            Some(_) => (None, ops),
        };
        let ops = rest.iter().map(|o| Op::new(o, ctx)).collect::<Result<Vec<_>, _>>()?;
        let max_parallelism = keygroup::default_max_parallelism(parallelism);
        Ok(OperatorChain {
            source,
            ops,
            ctx,
            records_in: 0,
            records_out: 0,
            last_watermark: i64::MIN,
            ended: false,
            failure: None,
            max_parallelism,
            key_groups: KeyGroupRange::of_subtask(max_parallelism, parallelism, subtask),
            draining: true,
        })
    }

    /// Batch jobs (JobType::Batch) emit keyed aggregates once per key at end of input, as
    /// Flink's BATCH execution mode does; streaming (the default) emits every update.
    pub fn set_job_type(&mut self, job_type: JobType) {
        self.ctx.batch = job_type == JobType::Batch;
    }

    pub fn is_source(&self) -> bool {
        self.source.is_some()
    }

    /// The number of key groups (the vertex's max parallelism, default Flink's derived one);
    /// keyed state is partitioned by key group so it can be redistributed on rescale. Call
    /// before processing or restoring.
    pub fn set_max_parallelism(&mut self, max_parallelism: u32) {
        self.max_parallelism = max_parallelism.max(1);
        for op in &mut self.ops {
            if let Op::KeyedAgg(a) = op {
                a.state.set_max_parallelism(self.max_parallelism);
            }
        }
        self.key_groups = KeyGroupRange::of_subtask(self.max_parallelism, self.ctx.parallelism, self.ctx.subtask);
    }

    /// The key groups this subtask owns (the `key_groups` of its TaskStateSnapshot).
    pub fn key_group_range(&self) -> KeyGroupRange {
        self.key_groups
    }

    /// Names this attempt's file-sink part files (`part-<uid>-<n>`): unique per task attempt
    /// (the task draws it from its RNG), so a restarted or rescaled job never reuses a name.
    /// Without it the subtask index is used. Call before processing.
    pub fn set_writer_uid(&mut self, uid: String) {
        for op in &mut self.ops {
            if let Op::Sink(Sink::File(f)) = op {
                f.uid = uid.clone();
            }
        }
    }

    /// The synchronous part of a checkpoint, taken when the barrier is aligned (or, for a
    /// source, between two polls): every operator's state (keyed state by key group, source
    /// positions, a file sink's in-progress file closed into a pending committable) in a
    /// serializable form. Output the chain must emit before the barrier (a sink's final
    /// appends) goes to `out` (nothing today: file lines already went to `out.files`, which
    /// the task flushes before writing the state).
    pub fn snapshot_state(&mut self, checkpoint_id: crate::CheckpointId, out: &mut Output) -> Result<ChainState, String> {
        let _ = out;
        let splits = self.source.as_ref().map_or_else(Vec::new, |s| s.splits.iter().map(Split::snapshot).collect());
        let max_p = self.max_parallelism;
        let operators = self.ops.iter_mut().map(|op| op.snapshot(checkpoint_id, max_p)).collect::<Result<_, _>>()?;
        Ok(ChainState { max_parallelism: max_p, key_groups: self.key_groups, splits, operators })
    }

    /// Restores from the snapshots of the old subtasks: keyed state for the key groups of this
    /// subtask only (from `keyed`: the snapshots whose key groups intersect this subtask's),
    /// operator state from `operator_states` (the snapshots whose operator state this subtask
    /// takes, round-robin): a source reads exactly their splits (none: it finishes at once),
    /// a file sink first re-commits what they had pending (`out.commits`). A snapshot may be
    /// in both lists. Call before processing, after `set_max_parallelism`.
    pub fn restore_state(&mut self, keyed: &[ChainState], operator_states: &[ChainState], out: &mut Output) -> Result<(), String> {
        for st in keyed.iter().chain(operator_states) {
            if st.max_parallelism != self.max_parallelism {
                return Err(format!(
                    "Max parallelism mismatch between checkpoint/savepoint state ({}) and new program ({})",
                    st.max_parallelism, self.max_parallelism
                ));
            }
            let want: Vec<&str> = self.ops.iter().map(Op::state_kind).collect();
            let got: Vec<&str> = st.operators.iter().map(OperatorState::kind).collect();
            if want != got {
                return Err(format!("The snapshot's operator state ({}) does not fit this chain ({})", got.join(", "), want.join(", ")));
            }
            if self.source.is_none() && !st.splits.is_empty() {
                return Err("The snapshot has source splits but this chain has no source".into());
            }
        }
        if let Some(source) = self.source.as_mut() {
            let splits = operator_states.iter().flat_map(|st| st.splits.iter().cloned()).map(Split::restore);
            source.splits = splits.collect::<Result<Vec<_>, _>>()?;
            source.cursor = 0;
        }
        for (i, op) in self.ops.iter_mut().enumerate() {
            for (j, st) in keyed.iter().enumerate() {
                op.restore_keyed(&st.operators[i], self.key_groups, j == 0).map_err(|e| format!("Could not restore keyed state: {e}"))?;
            }
            for st in operator_states {
                op.restore_operator(&st.operators[i], out);
            }
        }
        Ok(())
    }

    /// Checkpoint `checkpoint_id` completed: a file sink commits (renames) its part files
    /// pending up to that checkpoint (`out.commits`).
    pub fn notify_checkpoint_complete(&mut self, checkpoint_id: crate::CheckpointId, out: &mut Output) {
        for op in &mut self.ops {
            if let Op::Sink(Sink::File(f)) = op {
                f.notify(checkpoint_id, out);
            }
        }
    }

    /// The pending part files not yet committed: those of checkpoints not yet notified and
    /// (after `end_of_input`) the final ones. A finished task reports them in
    /// UpdateTaskExecutionState(FINISHED).committables; the JobMaster commits them once every
    /// task of the job finished.
    pub fn pending_commits(&self) -> Vec<(String, String)> {
        let mut all = Vec::new();
        for op in &self.ops {
            if let Op::Sink(Sink::File(f)) = op {
                all.extend(f.pending_commits());
            }
        }
        all
    }

    /// Pushes `el` into operator `idx` (`ops.len()` = out of the chain).
    fn push(&mut self, idx: usize, el: Element, now: Time, out: &mut Output) -> Result<(), String> {
        if idx == self.ops.len() {
            match el {
                Element::Record(_) => {
                    self.records_out += 1;
                    out.elements.push(el);
                }
                Element::Watermark(w) => {
                    if w > self.last_watermark {
                        self.last_watermark = w;
                        out.elements.push(el);
                    }
                }
                Element::Barrier(b) => return Err(format!("Checkpoint barrier {} was emitted by an operator", b.id)),
            }
            return Ok(());
        }
        let ctx = self.ctx;
        for e in self.ops[idx].process(el, now, ctx, out)? {
            self.push(idx + 1, e, now, out)?;
        }
        Ok(())
    }

    /// Pushes elements an operator produced on its own (timers, end of input) into operator
    /// `target`. These calls cannot return errors, so the first failure is kept: `error()`
    /// reports it and the next `process`/`poll_source` returns it.
    fn push_into(&mut self, target: usize, els: Vec<Element>, now: Time, out: &mut Output) {
        for e in els {
            if let Err(err) = self.push(target, e, now, out) {
                self.failure.get_or_insert(err);
            }
        }
    }

    /// A failure raised while firing timers or ending the input (the task fails with it).
    pub fn error(&self) -> Option<&str> {
        self.failure.as_deref()
    }

    fn check_failed(&self) -> Result<(), String> {
        self.failure.clone().map_or(Ok(()), Err)
    }

    /// Source chains: emit up to `max` source records through the chain. TextFile reads its
    /// file from `store` on the first call.
    pub fn poll_source(&mut self, now: Time, max: usize, store: &dyn Store, out: &mut Output) -> Result<SourceStatus, String> {
        self.check_failed()?;
        if self.source.is_none() {
            return Err("poll_source called on a chain without a source".into());
        }
        let mut status = SourceStatus::More;
        for _ in 0..max {
            let Some(source) = self.source.as_mut() else { break };
            match source.next(now, store)? {
                Ok(r) => self.push(0, Element::Record(r), now, out)?,
                Err(s) => {
                    status = s;
                    break;
                }
            }
        }
        if status == SourceStatus::More && self.source.as_ref().is_some_and(Source::finished) {
            status = SourceStatus::Finished;
        }
        // Periodic watermarks: at least one per poll when event time advanced.
        for idx in 0..self.ops.len() {
            if let Op::Timestamps(t) = &mut self.ops[idx] {
                let wm: Vec<Element> = t.take().into_iter().collect();
                self.push_into(idx + 1, wm, now, out);
            }
        }
        self.check_failed()?;
        Ok(status)
    }

    /// A record that will come through `process` soon: a keyed first operator starts loading
    /// its state for it (a cache hint, nothing else changes).
    pub fn prefetch(&self, element: &Element) {
        if let (Some(Op::KeyedAgg(a)), Element::Record(r)) = (self.ops.first(), element) {
            if let Some(k) = r.field(a.key) {
                a.state.prefetch(k);
            }
        }
    }

    /// One element from upstream; watermarks are already the minimum over the task's input
    /// channels.
    pub fn process(&mut self, element: Element, now: Time, out: &mut Output) -> Result<(), String> {
        self.check_failed()?;
        match element {
            Element::Record(_) => self.records_in += 1,
            // Stopped without drain: event time stops where the savepoint left it.
            Element::Watermark(_) if !self.draining => return Ok(()),
            Element::Watermark(_) | Element::Barrier(_) => {}
        }
        self.push(0, element, now, out)
    }

    /// Fires due processing-time windows and pending periodic watermarks; returns when it
    /// next needs calling.
    pub fn on_processing_time(&mut self, now: Time, out: &mut Output) -> Option<Time> {
        if !self.draining {
            return None;
        }
        for idx in 0..self.ops.len() {
            let els = self.ops[idx].on_processing_time(now);
            self.push_into(idx + 1, els, now, out);
        }
        self.next_timer()
    }

    pub fn next_timer(&self) -> Option<Time> {
        if !self.draining {
            return None;
        }
        self.ops.iter().filter_map(Op::next_timer).min()
    }

    /// Bounded input ended: the source (if any) emits the final watermark, event-time windows
    /// fire as if the watermark were +inf, processing-time windows fire too (nothing is left
    /// behind), and batch keyed aggregates emit their final value per key. Idempotent.
    pub fn end_of_input(&mut self, now: Time, out: &mut Output) {
        if self.ended {
            return;
        }
        self.ended = true;
        if !self.draining {
            for op in &mut self.ops {
                if let Op::Sink(Sink::File(f)) = op {
                    f.at_end.extend(f.current.take());
                }
            }
            return;
        }
        if self.source.is_some() {
            // Flink's sources emit MAX_WATERMARK when they finish.
            self.push_into(0, vec![Element::Watermark(i64::MAX)], now, out);
        }
        let ctx = self.ctx;
        for idx in 0..self.ops.len() {
            match self.ops[idx].end_of_input(ctx) {
                Ok(els) => self.push_into(idx + 1, els, now, out),
                Err(e) => {
                    self.failure.get_or_insert(e);
                }
            }
        }
    }

    /// Stop-with-savepoint without drain (`flink stop` without `--drain`): call right after
    /// snapshotting the SyncSavepoint{drain: false} (a source: before emitting its barrier; other
    /// tasks: when the aligned barrier arrives). From then on nothing is flushed as if time ran
    /// out: watermarks (e.g. the one an input gate derives when every channel ended) are
    /// dropped, timers do not fire, and `end_of_input` emits no MAX_WATERMARK, fires no window
    /// (windows live on in the savepoint) and emits no batch aggregate; a file sink still
    /// closes its open file into the final committables (see `pending_commits`).
    pub fn stop_without_drain(&mut self) {
        self.draining = false;
    }

    /// `stop_without_drain` and `end_of_input` in one: a source task ends its input this way
    /// after the barrier of a stop-with-savepoint without drain.
    pub fn end_of_input_without_flush(&mut self, now: Time, out: &mut Output) {
        self.stop_without_drain();
        self.end_of_input(now, out);
    }

    pub fn records_in(&self) -> u64 {
        self.records_in
    }
    pub fn records_out(&self) -> u64 {
        self.records_out
    }
}

/// A chain's snapshot, as written to the store ([`ChainState::to_bytes`]). Opaque outside
/// the runtime.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ChainState {
    /// Key groups the keyed state is partitioned into (fixed for the job's lifetime).
    max_parallelism: u32,
    /// The key groups of the subtask that took it.
    key_groups: KeyGroupRange,
    /// A source's unfinished splits with their positions (operator state).
    splits: Vec<SplitState>,
    /// Per operator after the source, in chain order.
    operators: Vec<OperatorState>,
}

impl ChainState {
    /// The key groups of the subtask that took the snapshot.
    pub fn key_groups(&self) -> KeyGroupRange {
        self.key_groups
    }
    /// The source splits it holds (the task logs how many it restores).
    pub fn num_splits(&self) -> usize {
        self.splits.len()
    }

    const MAGIC: &'static [u8; 8] = b"YSIMST1\n";

    /// The state file: [`Self::MAGIC`], a big-endian `u32` length, that many bytes of JSON (the
    /// chain's state with each key group's place in the binary part), then the binary part:
    /// keyed state as the state table keeps it, written without re-encoding.
    pub fn to_bytes(self) -> Vec<u8> {
        self.to_parts().concat()
    }

    /// [`Self::to_bytes`] in parts, to be written one after the other: the header, then each
    /// key group's bytes as the snapshot made them (no copy into one buffer).
    pub fn to_parts(mut self) -> Vec<Vec<u8>> {
        // The keyed state's bytes move out of the header (no copy of the state).
        let mut blobs: Vec<Vec<u8>> = Vec::new();
        let mut offset = 0u64;
        for op in &mut self.operators {
            if let OperatorState::KeyedAggregate { key_groups } = op {
                for g in key_groups {
                    let data = std::mem::take(&mut g.data);
                    g.offset = offset;
                    g.len = data.len() as u64;
                    offset += g.len;
                    blobs.push(data);
                }
            }
        }
        let json = serde_json::to_vec(&self).expect("a chain state serializes");
        let mut head = Vec::with_capacity(12 + json.len());
        head.extend_from_slice(Self::MAGIC);
        head.extend_from_slice(&(json.len() as u32).to_be_bytes());
        head.extend_from_slice(&json);
        let mut parts = Vec::with_capacity(1 + blobs.len());
        parts.push(head);
        parts.extend(blobs);
        parts
    }

    /// Reads a state file written by [`Self::to_bytes`]; any other input is an error.
    pub fn from_bytes(bytes: &[u8]) -> Result<ChainState, String> {
        let rest = bytes.strip_prefix(Self::MAGIC.as_slice()).ok_or("not a state file (no YSIMST1 header)")?;
        let (len, rest) = rest.split_first_chunk::<4>().ok_or("truncated state file header")?;
        let len = u32::from_be_bytes(*len) as usize;
        if rest.len() < len {
            return Err(format!("truncated state file: a {len}-byte header, {} bytes left", rest.len()));
        }
        let (json, blobs) = rest.split_at(len);
        let mut st: ChainState = serde_json::from_slice(json).map_err(|e| e.to_string())?;
        for op in &mut st.operators {
            if let OperatorState::KeyedAggregate { key_groups } = op {
                for g in key_groups {
                    let end = g.offset.checked_add(g.len).filter(|e| *e <= blobs.len() as u64).ok_or_else(|| {
                        format!("key group {} lies outside the state file ({} + {} > {})", g.key_group, g.offset, g.len, blobs.len())
                    })?;
                    g.data = blobs[g.offset as usize..end as usize].to_vec();
                    // In memory the bytes are in `data`; offsets only mean something in a file.
                    g.offset = 0;
                }
            }
        }
        Ok(st)
    }
}

/// Which consumer subtask a record goes to on an edge. Hash: Flink's `KeyGroupStreamPartitioner`,
/// the key field's key group (of `max_parallelism`) -> the consumer owning it; a record without
/// the key field goes to 0 (the keyed operator then fails on it with a clear message).
/// Rebalance: round-robin starting at `producer_subtask`; Forward: `producer_subtask`.
pub fn select_channel(
    ship: &ShipStrategy,
    record: &Record,
    producer_subtask: u32,
    round_robin: &mut u64,
    consumers: u32,
    max_parallelism: u32,
) -> u32 {
    let n = consumers.max(1);
    match ship {
        ShipStrategy::Hash { key } => {
            // A max parallelism below the consumer count cannot come from a valid JobGraph;
            // derive Flink's default rather than leave channels unreachable.
            let max_p = if max_parallelism < n { keygroup::default_max_parallelism(n) } else { max_parallelism };
            record.field(*key).map_or(0, |v| keygroup::operator_index_for_key_group(max_p, n, keygroup::assign_to_key_group(v, max_p)))
        }
        ShipStrategy::Rebalance => {
            let c = (u64::from(producer_subtask) + *round_robin) % u64::from(n);
            *round_robin = round_robin.wrapping_add(1);
            c as u32
        }
        ShipStrategy::Forward => producer_subtask % n,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use engine::{MemStore, Store as _, Time};
    use proptest::prelude::*;

    use super::*;
    use crate::operator::{Aggregate, DatagenKind, FlatMapFn, MapFn, OperatorSpec as O, SinkSpec, SourceSpec, TimeCharacteristic};

    fn src(source: SourceSpec) -> O {
        O::Source { source }
    }
    fn rec(fields: Vec<Value>) -> Record {
        Record::new(fields)
    }
    fn s(x: &str) -> Value {
        Value::Str(x.into())
    }

    /// The state file holds the keyed state's bytes after its JSON header; reading it back
    /// gives the same state (a sum keyed on the summed field, strings and ints), and a cut,
    /// a foreign file or a key group pointing past the end is an error.
    #[test]
    fn state_files_round_trip_and_refuse_damage() {
        let ops = [O::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 0 } }];
        let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
        let mut out = Output::new();
        for i in 0..500i64 {
            c.process(Element::Record(rec(vec![Value::Int(i % 37)])), Time::ZERO, &mut out).unwrap();
        }
        let st = c.snapshot_state(1, &mut out).unwrap();
        let bytes = st.clone().to_bytes();
        assert!(bytes.starts_with(b"YSIMST1\n"));
        let back = ChainState::from_bytes(&bytes).unwrap();
        assert_eq!(back, st);
        let mut d = OperatorChain::new(&ops, 0, 1).unwrap();
        d.restore_state(std::slice::from_ref(&back), std::slice::from_ref(&back), &mut out).unwrap();
        out.elements.clear();
        d.process(Element::Record(rec(vec![Value::Int(5)])), Time::ZERO, &mut out).unwrap();
        // Key 5 was seen 14 times (5, 42, ..., 486): 14 * 5, plus this 5.
        assert_eq!(out.elements, vec![Element::Record(rec(vec![Value::Int(75)]))]);
        assert!(ChainState::from_bytes(b"{}").unwrap_err().contains("not a state file"));
        assert!(ChainState::from_bytes(&bytes[..bytes.len() - 1]).unwrap_err().contains("lies outside the state file"));
        assert!(ChainState::from_bytes(&bytes[..12]).unwrap_err().contains("truncated state file"));
    }

    /// Drains a source chain completely (then ends its input).
    fn drain(chain: &mut OperatorChain, store: &dyn engine::Store) -> Output {
        let mut out = Output::new();
        let mut now = Time::ZERO;
        loop {
            match chain.poll_source(now, 7, store, &mut out).unwrap() {
                SourceStatus::More => {}
                SourceStatus::IdleUntil(t) => now = t,
                SourceStatus::Finished => break,
            }
        }
        chain.end_of_input(now, &mut out);
        out
    }

    fn records(out: &Output) -> Vec<Record> {
        out.elements
            .iter()
            .filter_map(|e| match e {
                Element::Record(r) => Some(r.clone()),
                Element::Watermark(_) | Element::Barrier(_) => None,
            })
            .collect()
    }

    fn word_count_ops() -> (Vec<O>, Vec<O>) {
        let head =
            vec![src(SourceSpec::Words { repeat: 2 }), O::FlatMap { flat_map: FlatMapFn::Tokenize }, O::Map { map: MapFn::PairWithOne }];
        let tail = vec![O::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } }, O::Sink { sink: SinkSpec::Discard }];
        (head, tail)
    }

    #[test]
    fn word_count_matches_a_straightforward_count() {
        let mut expected: BTreeMap<String, i64> = BTreeMap::new();
        for _ in 0..2 {
            for line in WORDS {
                for w in line.to_lowercase().split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()) {
                    *expected.entry(w.to_string()).or_default() += 1;
                }
            }
        }
        let (head, mut tail) = word_count_ops();
        tail.pop();
        let p = 3;
        let store = MemStore::default();
        let mut counts: BTreeMap<String, i64> = BTreeMap::new();
        let mut sums: Vec<OperatorChain> = (0..p).map(|i| OperatorChain::new(&tail, i, p).unwrap()).collect();
        for i in 0..p {
            let mut chain = OperatorChain::new(&head, i, p).unwrap();
            assert!(chain.is_source());
            let out = drain(&mut chain, &store);
            assert_eq!(chain.records_in(), 0);
            assert_eq!(chain.records_out() as usize, records(&out).len());
            let mut rr = 0;
            for r in records(&out) {
                let c = select_channel(&ShipStrategy::Hash { key: 0 }, &r, i, &mut rr, p, 128);
                let mut o = Output::new();
                sums[c as usize].process(Element::Record(r), Time::ZERO, &mut o).unwrap();
                for r in records(&o) {
                    counts.insert(r.fields[0].to_string(), r.fields[1].as_i64().unwrap());
                }
            }
        }
        assert_eq!(counts, expected);
        assert_eq!(counts["to"], 2 * 15);
    }

    #[test]
    fn batch_word_count_emits_once_per_key_at_end() {
        let ops = vec![
            src(SourceSpec::Words { repeat: 1 }),
            O::FlatMap { flat_map: FlatMapFn::Tokenize },
            O::Map { map: MapFn::PairWithOne },
            O::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } },
        ];
        let mut chain = OperatorChain::new(&ops, 0, 1).unwrap();
        chain.set_job_type(JobType::Batch);
        let out = drain(&mut chain, &MemStore::default());
        let recs = records(&out);
        let keys: Vec<String> = recs.iter().map(|r| r.fields[0].to_string()).collect();
        let mut sorted = keys.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(keys, sorted, "one record per key, in key order");
        assert!(recs.iter().any(|r| r.to_string() == "(to,15)"));
    }

    #[test]
    fn partitioning_is_stable_and_covers_all_channels() {
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let r = rec(vec![s(&format!("w{i}")), Value::Int(1)]);
            let mut rr = 0;
            let a = select_channel(&ShipStrategy::Hash { key: 0 }, &r, 0, &mut rr, 4, 128);
            let b = select_channel(&ShipStrategy::Hash { key: 0 }, &r, 3, &mut rr, 4, 128);
            assert_eq!(a, b);
            assert!(a < 4);
            seen.insert(a);
        }
        assert_eq!(seen.len(), 4);
        // Key group -> operator index (reference vectors, maxP 128, p 3: [0,42] [43,85] [86,127]).
        let mut rr = 0;
        let hash = |v: Value| select_channel(&ShipStrategy::Hash { key: 0 }, &rec(vec![v]), 0, &mut 0, 3, 128);
        assert_eq!([0, 1, 2, 3, 42].map(|i| hash(Value::Int(i))), [2, 2, 2, 2, 0]);
        assert_eq!([hash(s("a")), hash(s("hello")), hash(s("key-1"))], [1, 0, 1]);
        let r = rec(vec![Value::Int(1)]);
        let rb: Vec<u32> = (0..5).map(|_| select_channel(&ShipStrategy::Rebalance, &r, 1, &mut rr, 3, 128)).collect();
        assert_eq!(rb, vec![1, 2, 0, 1, 2]);
        assert_eq!(select_channel(&ShipStrategy::Forward, &r, 2, &mut rr, 3, 128), 2);
    }

    #[test]
    fn sequence_and_words_split_across_subtasks() {
        let store = MemStore::default();
        let mut all = Vec::new();
        for i in 0..3 {
            let mut c = OperatorChain::new(&[src(SourceSpec::Sequence { from: 1, to: 10 })], i, 3).unwrap();
            all.extend(records(&drain(&mut c, &store)).into_iter().map(|r| r.fields[0].as_i64().unwrap()));
        }
        all.sort();
        assert_eq!(all, (1..=10).collect::<Vec<_>>());
        let mut top = OperatorChain::new(&[src(SourceSpec::Sequence { from: i64::MAX - 2, to: i64::MAX })], 0, 1).unwrap();
        assert_eq!(records(&drain(&mut top, &store)).len(), 3);
        let mut c = OperatorChain::new(&[src(SourceSpec::Words { repeat: 1 })], 1, 2).unwrap();
        let lines = records(&drain(&mut c, &store));
        assert_eq!(lines[0].to_string(), WORDS[1]);
        assert_eq!(lines.len(), WORDS.len() / 2);
    }

    #[test]
    fn text_file_is_read_from_the_store_or_fails_clearly() {
        let mut store = MemStore::default();
        let ops = [src(SourceSpec::TextFile { path: "in/a.txt".into() }), O::Sink { sink: SinkSpec::File { path: "out".into() } }];
        let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
        let err = c.poll_source(Time::ZERO, 10, &store, &mut Output::new()).unwrap_err();
        assert_eq!(err, "File in/a.txt does not exist");
        store.write("in/a.txt", b"x\ny\n").unwrap();
        let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
        c.set_writer_uid("u1".into());
        let out = drain(&mut c, &store);
        let staging = "out/.part-u1-0.inprogress.".to_string();
        assert_eq!(out.files.iter().flat_map(|(_, l)| l.lines()).collect::<Vec<_>>(), ["x", "y"]);
        assert!(out.files.iter().all(|(p, _)| p.starts_with(&staging) && *p == out.files[0].0), "{:?}", out.files);
        assert!(out.commits.is_empty(), "nothing is committed before the job finished");
        assert_eq!(c.pending_commits(), vec![(out.files[0].0.clone(), "out/part-u1-0".to_string())]);
        assert_eq!(c.records_out(), 0);
    }

    #[test]
    fn print_format_with_and_without_subtask_prefix() {
        let ops = [O::Sink { sink: SinkSpec::Print }];
        let r = rec(vec![s("hello"), Value::Int(3)]);
        let mut one = OperatorChain::new(&ops, 0, 1).unwrap();
        let mut out = Output::new();
        one.process(Element::Record(r.clone()), Time::ZERO, &mut out).unwrap();
        assert_eq!(out.printed, vec!["(hello,3)"]);
        let mut par = OperatorChain::new(&ops, 1, 2).unwrap();
        out.clear();
        par.process(Element::Record(r), Time::ZERO, &mut out).unwrap();
        par.process(Element::Watermark(5), Time::ZERO, &mut out).unwrap();
        assert_eq!(out.printed, vec!["2> (hello,3)"]);
        assert!(out.elements.is_empty());
        assert_eq!(par.records_in(), 1);
    }

    fn window(time: TimeCharacteristic, size: i64, slide: i64, aggregate: Aggregate) -> O {
        O::Window { key: 0, size_ms: size, slide_ms: slide, time, aggregate }
    }

    fn timed(k: &str, v: i64, ts: i64) -> Element {
        Element::Record(Record { fields: smallvec::smallvec![s(k), Value::Int(v)], timestamp: Some(ts) })
    }

    #[test]
    fn event_time_windows_fire_on_watermarks_and_at_end() {
        let mut c = OperatorChain::new(&[window(TimeCharacteristic::EventTime, 1000, 1000, Aggregate::Sum { field: 1 })], 0, 1).unwrap();
        let mut out = Output::new();
        let now = Time::ZERO;
        c.process(timed("a", 1, 10), now, &mut out).unwrap();
        c.process(timed("a", 2, 999), now, &mut out).unwrap();
        c.process(timed("b", 5, 1500), now, &mut out).unwrap();
        c.process(Element::Watermark(998), now, &mut out).unwrap();
        assert!(records(&out).is_empty());
        c.process(Element::Watermark(999), now, &mut out).unwrap();
        let r = records(&out);
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].to_string(), "(a,3)");
        assert_eq!(r[0].timestamp, Some(999));
        assert_eq!(out.elements.last(), Some(&Element::Watermark(999)));
        // Late: its window [0, 1000) is past the watermark.
        c.process(timed("a", 100, 500), now, &mut out).unwrap();
        out.clear();
        c.end_of_input(now, &mut out);
        assert_eq!(records(&out).iter().map(|r| r.to_string()).collect::<Vec<_>>(), vec!["(b,5)"]);
        assert_eq!(c.next_timer(), None);
    }

    #[test]
    fn sliding_windows_count_each_record_in_every_window() {
        let mut c = OperatorChain::new(&[window(TimeCharacteristic::EventTime, 1000, 500, Aggregate::Count)], 0, 1).unwrap();
        let mut out = Output::new();
        c.process(timed("a", 1, 700), Time::ZERO, &mut out).unwrap();
        c.end_of_input(Time::ZERO, &mut out);
        let r = records(&out);
        assert_eq!(
            r.iter().map(|r| (r.to_string(), r.timestamp)).collect::<Vec<_>>(),
            vec![("(a,1)".into(), Some(999)), ("(a,1)".into(), Some(1499))]
        );
    }

    #[test]
    fn processing_time_windows_fire_by_now() {
        let mut c =
            OperatorChain::new(&[window(TimeCharacteristic::ProcessingTime, 1000, 1000, Aggregate::Max { field: 1 })], 0, 1).unwrap();
        let mut out = Output::new();
        let t0 = Time::from_millis(10_200);
        c.process(Element::Record(rec(vec![s("a"), Value::Int(4)])), t0, &mut out).unwrap();
        c.process(Element::Record(rec(vec![s("a"), Value::Int(9)])), t0, &mut out).unwrap();
        c.process(Element::Record(rec(vec![s("a"), Value::Int(2)])), t0, &mut out).unwrap();
        assert_eq!(c.next_timer(), Some(Time::from_millis(10_999)));
        assert_eq!(c.on_processing_time(Time::from_millis(10_998), &mut out), Some(Time::from_millis(10_999)));
        assert!(out.elements.is_empty());
        assert_eq!(c.on_processing_time(Time::from_millis(11_000), &mut out), None);
        assert_eq!(records(&out).iter().map(|r| r.to_string()).collect::<Vec<_>>(), vec!["(a,9)"]);
    }

    fn top_speed(seed: u64, subtask: u32) -> Vec<String> {
        let ops = [
            src(SourceSpec::Datagen { kind: DatagenKind::Cars, rate_per_sec: 0, count: Some(400), seed }),
            O::AssignTimestamps { field: 3, max_out_of_orderness_ms: 0 },
            window(TimeCharacteristic::EventTime, 10_000, 10_000, Aggregate::Max { field: 1 }),
            O::Sink { sink: SinkSpec::Print },
        ];
        let mut c = OperatorChain::new(&ops, subtask, 2).unwrap();
        drain(&mut c, &MemStore::default()).printed
    }

    #[test]
    fn top_speed_cars_are_deterministic_per_seed() {
        let a = top_speed(7, 0);
        assert_eq!(a, top_speed(7, 0));
        assert_ne!(a, top_speed(8, 0));
        assert_ne!(a, top_speed(7, 1));
        // 400 records = 200 per car = 20 s of event time: two windows per car.
        assert_eq!(a.len(), 4, "{a:?}");
        assert!(a.iter().all(|l| l.starts_with("1> (")));
        let mut g = Datagen::new(DatagenKind::Cars, 0, Some(100), 1, 0);
        for k in 0..100u64 {
            let r = g.next_record();
            let speed = r.fields[1].as_i64().unwrap();
            assert!((50..=100).contains(&speed));
            assert_eq!(r.fields[3], Value::Int((k / 2) as i64 * 100));
        }
    }

    #[test]
    fn datagen_rate_limits_relative_to_now_and_watermarks_advance() {
        let ops = [
            src(SourceSpec::Datagen { kind: DatagenKind::Cars, rate_per_sec: 10, count: None, seed: 1 }),
            O::AssignTimestamps { field: 3, max_out_of_orderness_ms: 0 },
        ];
        let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
        let mut out = Output::new();
        let t0 = Time::from_millis(5_000);
        let st = c.poll_source(t0, 100, &MemStore::default(), &mut out).unwrap();
        assert_eq!(st, SourceStatus::IdleUntil(Time::from_millis(5_100)));
        assert_eq!(records(&out).len(), 1);
        let st = c.poll_source(Time::from_millis(6_000), 100, &MemStore::default(), &mut out).unwrap();
        assert_eq!(st, SourceStatus::IdleUntil(Time::from_millis(6_100)));
        assert_eq!(records(&out).len(), 11);
        let wms: Vec<i64> = out.elements.iter().filter_map(|e| if let Element::Watermark(w) = e { Some(*w) } else { None }).collect();
        assert!(wms.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(*wms.last().unwrap(), 500 - 1);
        c.end_of_input(Time::from_millis(6_000), &mut out);
        assert_eq!(out.elements.last(), Some(&Element::Watermark(i64::MAX)));
    }

    #[test]
    fn errors_are_clear() {
        assert!(OperatorChain::new(&[], 0, 1).is_err());
        assert!(OperatorChain::new(&[O::Sink { sink: SinkSpec::Print }, src(SourceSpec::Words { repeat: 1 })], 0, 1).is_err());
        let mut c = OperatorChain::new(&[window(TimeCharacteristic::EventTime, 10, 10, Aggregate::Count)], 0, 1).unwrap();
        let e = c.process(Element::Record(rec(vec![s("a")])), Time::ZERO, &mut Output::new()).unwrap_err();
        assert!(e.contains("no timestamp"), "{e}");
        let mut c = OperatorChain::new(&[O::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } }], 0, 1).unwrap();
        let e = c.process(Element::Record(rec(vec![s("a"), s("b")])), Time::ZERO, &mut Output::new()).unwrap_err();
        assert!(e.contains("not numeric"), "{e}");
    }

    proptest! {
        #[test]
        fn parallel_hash_partitioned_sums_equal_a_single_subtask(
            input in proptest::collection::vec((0i64..8, -50i64..50), 0..120),
            p in 1u32..5,
        ) {
            let agg = [O::KeyedAggregate { key: 0, aggregate: Aggregate::Sum { field: 1 } }];
            let final_sums = |chains: &mut Vec<OperatorChain>, routed: Vec<(u32, Record)>| {
                let mut last = BTreeMap::new();
                for (c, r) in routed {
                    let mut o = Output::new();
                    chains[c as usize].process(Element::Record(r), Time::ZERO, &mut o).unwrap();
                    for r in records(&o) {
                        last.insert(r.fields[0].as_i64().unwrap(), r.fields[1].as_i64().unwrap());
                    }
                }
                last
            };
            let recs: Vec<Record> = input.iter().map(|(k, v)| rec(vec![Value::Int(*k), Value::Int(*v)])).collect();
            let mut one = vec![OperatorChain::new(&agg, 0, 1).unwrap()];
            let single = final_sums(&mut one, recs.iter().map(|r| (0, r.clone())).collect());
            let mut many: Vec<OperatorChain> = (0..p).map(|i| OperatorChain::new(&agg, i, p).unwrap()).collect();
            let mut rr = vec![0u64; p as usize];
            let routed = recs.iter().enumerate().map(|(i, r)| {
                let producer = i as u32 % p;
                (select_channel(&ShipStrategy::Hash { key: 0 }, r, producer, &mut rr[producer as usize], p, 128), r.clone())
            }).collect();
            prop_assert_eq!(final_sums(&mut many, routed), single);
        }
    }

    // -----------------------------------------------------------------------------------------
    // Checkpoint state

    /// Through the state file's bytes, as the task writes and reads it.
    fn through_json(st: ChainState) -> ChainState {
        ChainState::from_bytes(&st.to_bytes()).unwrap()
    }

    /// `new_p` subtasks of `ops` restored from `old` (old subtask i's state at index i) the way
    /// the JobMaster assigns state: keyed = the snapshots whose key groups intersect the new
    /// range, operator state round-robin (old i -> new i % new_p).
    fn restored(ops: &[O], old: &[ChainState], new_p: u32, max_p: u32, out: &mut Output) -> Vec<OperatorChain> {
        (0..new_p)
            .map(|j| {
                let mut c = OperatorChain::new(ops, j, new_p).unwrap();
                c.set_max_parallelism(max_p);
                let range = c.key_group_range();
                let keyed: Vec<ChainState> = old.iter().filter(|s| s.key_groups().intersects(&range)).cloned().collect();
                let mine: Vec<ChainState> =
                    old.iter().enumerate().filter(|(i, _)| *i as u32 % new_p == j).map(|(_, s)| s.clone()).collect();
                c.restore_state(&keyed, &mine, out).unwrap();
                c
            })
            .collect()
    }

    fn fresh(ops: &[O], p: u32, max_p: u32) -> Vec<OperatorChain> {
        (0..p)
            .map(|i| {
                let mut c = OperatorChain::new(ops, i, p).unwrap();
                c.set_max_parallelism(max_p);
                c
            })
            .collect()
    }

    fn snapshot_all(chains: &mut [OperatorChain], id: u64) -> Vec<ChainState> {
        chains.iter_mut().map(|c| through_json(c.snapshot_state(id, &mut Output::new()).unwrap())).collect()
    }

    /// Feeds `els` to hash-partitioned `chains` (records by key 0, watermarks to all); returns
    /// every record they emit (as "record@timestamp").
    fn feed(chains: &mut [OperatorChain], els: &[Element], max_p: u32) -> Vec<String> {
        let mut emitted = Vec::new();
        let p = chains.len() as u32;
        for el in els {
            let targets: Vec<u32> = match el {
                Element::Record(r) => vec![select_channel(&ShipStrategy::Hash { key: 0 }, r, 0, &mut 0, p, max_p)],
                _ => (0..p).collect(),
            };
            for t in targets {
                let mut o = Output::new();
                chains[t as usize].process(el.clone(), Time::ZERO, &mut o).unwrap();
                emitted.extend(records(&o).iter().map(|r| format!("{r}@{:?}", r.timestamp)));
            }
        }
        emitted
    }

    fn end_all(chains: &mut [OperatorChain]) -> Vec<String> {
        let mut o = Output::new();
        for c in chains.iter_mut() {
            c.end_of_input(Time::ZERO, &mut o);
            assert_eq!(c.error(), None);
        }
        records(&o).iter().map(|r| format!("{r}@{:?}", r.timestamp)).collect()
    }

    /// Per key (field 0), the records emitted for it, in order.
    fn per_key(lines: &[String]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for l in lines {
            let key = l.trim_start_matches('(').split(',').next().unwrap().to_string();
            m.entry(key).or_default().push(l.clone());
        }
        m
    }

    /// Drains one source subtask, returning its records in order.
    fn drain_records(chain: &mut OperatorChain) -> Vec<String> {
        records(&drain(chain, &MemStore::default())).iter().map(|r| r.to_string()).collect()
    }

    fn source_spec(which: u8, seed: u64) -> SourceSpec {
        match which {
            0 => SourceSpec::Sequence { from: 1, to: 60 },
            1 => SourceSpec::Words { repeat: 2 },
            2 => SourceSpec::Datagen { kind: DatagenKind::Numbers, rate_per_sec: 0, count: Some(25), seed },
            _ => SourceSpec::Datagen { kind: DatagenKind::Cars, rate_per_sec: 0, count: Some(25), seed },
        }
    }

    #[test]
    fn restored_datagen_continues_exactly_and_restarts_its_rate_limit() {
        let spec = SourceSpec::Datagen { kind: DatagenKind::Cars, rate_per_sec: 10, count: Some(40), seed: 3 };
        let whole = drain_records(&mut OperatorChain::new(&[src(spec.clone())], 0, 1).unwrap());
        let mut c = OperatorChain::new(&[src(spec.clone())], 0, 1).unwrap();
        let mut out = Output::new();
        let store = MemStore::default();
        let mut now = Time::ZERO;
        while records(&out).len() < 13 {
            if let SourceStatus::IdleUntil(t) = c.poll_source(now, 1, &store, &mut out).unwrap() {
                now = t;
            }
        }
        let st = through_json(c.snapshot_state(1, &mut Output::new()).unwrap());
        let mut r = OperatorChain::new(&[src(spec)], 0, 1).unwrap();
        r.restore_state(std::slice::from_ref(&st), std::slice::from_ref(&st), &mut Output::new()).unwrap();
        // 13 records emitted at 10/s: the restored split does not wait 1.3 s for its rate.
        let mut o = Output::new();
        let t = Time::from_millis(100_000);
        assert_eq!(r.poll_source(t, 5, &store, &mut o).unwrap(), SourceStatus::IdleUntil(Time::from_millis(100_100)));
        assert_eq!(records(&o).len(), 1);
        let mut rest: Vec<String> = records(&out).iter().chain(&records(&o)).map(|r| r.to_string()).collect();
        rest.extend(drain_records(&mut r));
        assert_eq!(rest, whole);
    }

    #[test]
    fn rescaled_sources_read_every_split_once() {
        // 2 -> 4: subtasks 2 and 3 get no split and finish at once; 2 -> 1 reads both.
        let spec = src(SourceSpec::Sequence { from: 1, to: 20 });
        let mut old = fresh(std::slice::from_ref(&spec), 2, 128);
        let mut first = Vec::new();
        for c in old.iter_mut() {
            let mut o = Output::new();
            c.poll_source(Time::ZERO, 3, &MemStore::default(), &mut o).unwrap();
            first.extend(records(&o).iter().map(|r| r.fields[0].as_i64().unwrap()));
        }
        let states = snapshot_all(&mut old, 1);
        let mut four = restored(std::slice::from_ref(&spec), &states, 4, 128, &mut Output::new());
        assert!(drain_records(&mut four[2]).is_empty() && drain_records(&mut four[3]).is_empty());
        let mut all = first.clone();
        for c in four.iter_mut().take(2) {
            all.extend(drain_records(c).iter().map(|s| s.parse::<i64>().unwrap()));
        }
        all.sort();
        assert_eq!(all, (1..=20).collect::<Vec<_>>());
        let mut one = restored(std::slice::from_ref(&spec), &states, 1, 128, &mut Output::new());
        let mut all: Vec<i64> = first.into_iter().chain(drain_records(&mut one[0]).iter().map(|s| s.parse().unwrap())).collect();
        all.sort();
        assert_eq!(all, (1..=20).collect::<Vec<_>>());
    }

    #[test]
    fn restore_rejects_state_that_does_not_fit() {
        let agg = [O::KeyedAggregate { key: 0, aggregate: Aggregate::Count }];
        let mut c = fresh(&agg, 1, 128);
        let st = snapshot_all(&mut c, 1);
        let mut other = OperatorChain::new(&agg, 0, 1).unwrap();
        other.set_max_parallelism(256);
        let e = other.restore_state(&st, &st, &mut Output::new()).unwrap_err();
        assert!(e.contains("Max parallelism mismatch"), "{e}");
        let mut other = OperatorChain::new(&[O::Sink { sink: SinkSpec::Print }], 0, 1).unwrap();
        let e = other.restore_state(&st, &st, &mut Output::new()).unwrap_err();
        assert!(e.contains("does not fit"), "{e}");
    }

    #[test]
    fn stop_without_drain_keeps_windows_and_sends_no_final_watermark() {
        let mut w = OperatorChain::new(&[window(TimeCharacteristic::EventTime, 1000, 1000, Aggregate::Sum { field: 1 })], 0, 1).unwrap();
        let mut out = Output::new();
        w.process(timed("a", 1, 10), Time::ZERO, &mut out).unwrap();
        let st = through_json(w.snapshot_state(7, &mut out).unwrap());
        w.stop_without_drain();
        // The input gate's watermark once every channel ended, then the end of input.
        w.process(Element::Watermark(i64::MAX), Time::ZERO, &mut out).unwrap();
        w.end_of_input(Time::ZERO, &mut out);
        assert!(out.elements.is_empty(), "{:?}", out.elements);
        // The window lives on in the savepoint and fires after a restore.
        let mut r = OperatorChain::new(&[window(TimeCharacteristic::EventTime, 1000, 1000, Aggregate::Sum { field: 1 })], 0, 1).unwrap();
        r.restore_state(std::slice::from_ref(&st), std::slice::from_ref(&st), &mut out).unwrap();
        r.end_of_input(Time::ZERO, &mut out);
        assert_eq!(records(&out).iter().map(|r| r.to_string()).collect::<Vec<_>>(), ["(a,1)"]);
        let mut seq = OperatorChain::new(&[src(SourceSpec::Sequence { from: 1, to: 5 })], 0, 1).unwrap();
        let mut out = Output::new();
        seq.poll_source(Time::ZERO, 2, &MemStore::default(), &mut out).unwrap();
        seq.end_of_input_without_flush(Time::ZERO, &mut out);
        assert!(!out.elements.iter().any(|e| matches!(e, Element::Watermark(_))));
        // A processing-time window does not fire either; a file sink's open file is final.
        let ops = [
            window(TimeCharacteristic::ProcessingTime, 1000, 1000, Aggregate::Count),
            O::Sink { sink: SinkSpec::File { path: "o".into() } },
        ];
        let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
        let mut out = Output::new();
        c.process(Element::Record(rec(vec![s("a")])), Time::ZERO, &mut out).unwrap();
        c.on_processing_time(Time::from_millis(5000), &mut out);
        c.process(Element::Record(rec(vec![s("b")])), Time::from_millis(5000), &mut out).unwrap();
        c.stop_without_drain();
        assert_eq!(c.next_timer(), None);
        assert_eq!(c.on_processing_time(Time::from_millis(9000), &mut out), None);
        c.end_of_input(Time::from_millis(9000), &mut out);
        assert_eq!(out.files.iter().flat_map(|(_, l)| l.lines()).collect::<Vec<_>>(), ["(a,1)"]);
        assert_eq!(c.pending_commits().len(), 1);
    }

    /// What the task and JobMaster do with a file sink's output, on a map of store files:
    /// append lines, commit by rename (idempotent: a commit whose staging file is gone must
    /// find its final file).
    #[derive(Default)]
    struct Files(BTreeMap<String, Vec<String>>);

    impl Files {
        fn apply(&mut self, out: &mut Output) {
            for (p, l) in out.files.drain(..) {
                self.0.entry(p).or_default().extend(l.lines().map(str::to_string));
            }
            let commits: Vec<(String, String)> = out.commits.drain(..).collect();
            self.commit(&commits);
            out.clear();
        }
        fn commit(&mut self, commits: &[(String, String)]) {
            for (staging, fin) in commits {
                match self.0.remove(staging) {
                    Some(lines) => assert!(self.0.insert(fin.clone(), lines).is_none(), "{fin} committed twice"),
                    None => assert!(self.0.contains_key(fin), "commit {staging} -> {fin}: the data is lost"),
                }
            }
        }
        /// Lines a reader sees: files whose name does not start with '.' or '_'.
        fn visible(&self) -> Vec<String> {
            let visible = |p: &str| !p.rsplit('/').next().unwrap().starts_with(['.', '_']);
            let mut all: Vec<String> = self.0.iter().filter(|(p, _)| visible(p)).flat_map(|(_, l)| l.clone()).collect();
            all.sort();
            all
        }
    }

    #[test]
    fn file_sink_commits_on_notify_and_hides_uncommitted_lines() {
        let ops = [O::Sink { sink: SinkSpec::File { path: "out/".into() } }];
        let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
        c.set_writer_uid("w".into());
        let mut files = Files::default();
        let mut out = Output::new();
        c.process(Element::Record(rec(vec![s("a")])), Time::ZERO, &mut out).unwrap();
        files.apply(&mut out);
        assert!(files.visible().is_empty());
        c.snapshot_state(1, &mut out).unwrap();
        c.process(Element::Record(rec(vec![s("b")])), Time::ZERO, &mut out).unwrap();
        c.snapshot_state(2, &mut out).unwrap();
        c.process(Element::Record(rec(vec![s("c")])), Time::ZERO, &mut out).unwrap();
        files.apply(&mut out);
        c.notify_checkpoint_complete(1, &mut out);
        assert_eq!(out.commits.len(), 1);
        files.apply(&mut out);
        assert_eq!(files.visible(), ["a"]);
        assert!(files.0.contains_key("out/part-w-0"));
        assert_eq!(c.pending_commits().len(), 1, "checkpoint 2's file");
        c.end_of_input(Time::ZERO, &mut out);
        let pending = c.pending_commits();
        assert_eq!(pending.iter().map(|(_, f)| f.as_str()).collect::<Vec<_>>(), ["out/part-w-1", "out/part-w-2"]);
        files.commit(&pending);
        assert_eq!(files.visible(), ["a", "b", "c"]);
    }

    #[test]
    fn rescaled_file_sinks_commit_each_old_pending_file_once() {
        let ops = [O::Sink { sink: SinkSpec::File { path: "out".into() } }];
        for new_p in [1, 2, 4] {
            let mut old = fresh(&ops, 2, 128);
            let mut files = Files::default();
            for (i, c) in old.iter_mut().enumerate() {
                c.set_writer_uid(format!("old{i}"));
                let mut out = Output::new();
                c.process(Element::Record(rec(vec![Value::Int(i as i64)])), Time::ZERO, &mut out).unwrap();
                files.apply(&mut out);
            }
            let states = snapshot_all(&mut old, 4);
            let mut out = Output::new();
            let _ = restored(&ops, &states, new_p, 128, &mut out);
            assert_eq!(out.commits.len(), 2, "new_p {new_p}: {:?}", out.commits);
            files.apply(&mut out);
            assert_eq!(files.visible(), ["0", "1"]);
        }
    }

    #[derive(Clone, Debug)]
    enum SinkAction {
        Process(usize),
        Snapshot,
        /// The newest in-flight checkpoint completes (older in-flight ones were aborted);
        /// `notify`: the task hears of it before anything else happens.
        Complete {
            notify: bool,
        },
        /// The task fails; a new attempt restores the latest completed checkpoint.
        Fail,
    }

    fn sink_action() -> impl Strategy<Value = SinkAction> {
        prop_oneof![
            3 => (1usize..6).prop_map(SinkAction::Process),
            2 => Just(SinkAction::Snapshot),
            2 => any::<bool>().prop_map(|notify| SinkAction::Complete { notify }),
            1 => Just(SinkAction::Fail),
        ]
    }

    proptest! {
        #[test]
        fn keyed_state_survives_snapshot_and_rescale(
            input in proptest::collection::vec((0i64..12, -50i64..50), 0..100),
            cut in 0usize..100,
            old_p in 1u32..5,
            new_p in 1u32..5,
            string_keys in any::<bool>(),
            agg in 0u8..3,
        ) {
            let aggregate = match agg { 0 => Aggregate::Sum { field: 1 }, 1 => Aggregate::Count, _ => Aggregate::Max { field: 1 } };
            let ops = [O::KeyedAggregate { key: 0, aggregate }];
            let key = |k: i64| if string_keys { s(&format!("key-{k}")) } else { Value::Int(k) };
            let els: Vec<Element> = input.iter().map(|(k, v)| Element::Record(rec(vec![key(*k), Value::Int(*v)]))).collect();
            let cut = cut.min(els.len());
            let single = feed(&mut fresh(&ops, 1, 128), &els, 128);
            let mut old = fresh(&ops, old_p, 128);
            let mut split = feed(&mut old, &els[..cut], 128);
            let states = snapshot_all(&mut old, 1);
            let mut new = restored(&ops, &states, new_p, 128, &mut Output::new());
            split.extend(feed(&mut new, &els[cut..], 128));
            // Per key, the same running values in the same order as without the restore.
            prop_assert_eq!(per_key(&split), per_key(&single));
        }

        #[test]
        fn windows_survive_snapshot_and_rescale(
            events in proptest::collection::vec((0i64..6, 0i64..20, 0i64..4000, any::<bool>()), 0..80),
            cut in 0usize..120,
            old_p in 1u32..4,
            new_p in 1u32..4,
            sliding in any::<bool>(),
        ) {
            let ops = [window(TimeCharacteristic::EventTime, 1000, if sliding { 500 } else { 1000 }, Aggregate::Sum { field: 1 })];
            let mut els = Vec::new();
            let mut max_ts = i64::MIN;
            for (k, v, ts, wm) in &events {
                els.push(timed(&format!("k{k}"), *v, *ts));
                max_ts = max_ts.max(*ts);
                if *wm {
                    els.push(Element::Watermark(max_ts - 700));
                }
            }
            let cut = cut.min(els.len());
            let mut one = fresh(&ops, 1, 128);
            let mut single = feed(&mut one, &els, 128);
            single.extend(end_all(&mut one));
            let mut old = fresh(&ops, old_p, 128);
            let mut split = feed(&mut old, &els[..cut], 128);
            let states = snapshot_all(&mut old, 1);
            let mut new = restored(&ops, &states, new_p, 128, &mut Output::new());
            split.extend(feed(&mut new, &els[cut..], 128));
            split.extend(end_all(&mut new));
            single.sort();
            split.sort();
            prop_assert_eq!(split, single);
        }

        #[test]
        fn sources_survive_snapshot_and_rescale(
            which in 0u8..4,
            seed in 0u64..1000,
            old_p in 1u32..4,
            new_p in 1u32..4,
            cuts in proptest::collection::vec(0usize..40, 3),
        ) {
            let ops = [src(source_spec(which, seed))];
            let whole: Vec<Vec<String>> = fresh(&ops, old_p, 128).iter_mut().map(drain_records).collect();
            let mut old = fresh(&ops, old_p, 128);
            let mut before: Vec<Vec<String>> = Vec::new();
            for (i, c) in old.iter_mut().enumerate() {
                let mut o = Output::new();
                for _ in 0..cuts[i] {
                    if c.poll_source(Time::ZERO, 1, &MemStore::default(), &mut o).unwrap() == SourceStatus::Finished {
                        break;
                    }
                }
                before.push(records(&o).iter().map(|r| r.to_string()).collect());
            }
            let states = snapshot_all(&mut old, 1);
            let mut new = restored(&ops, &states, new_p, 128, &mut Output::new());
            let after: Vec<Vec<String>> = new.iter_mut().map(drain_records).collect();
            if old_p == new_p {
                // Same parallelism: every subtask continues exactly where it was.
                for i in 0..old_p as usize {
                    let mut cont = before[i].clone();
                    cont.extend(after[i].clone());
                    prop_assert_eq!(&cont, &whole[i]);
                }
            }
            let mut a: Vec<String> = before.into_iter().chain(after).flatten().collect();
            let mut b: Vec<String> = whole.into_iter().flatten().collect();
            a.sort();
            b.sort();
            prop_assert_eq!(a, b);
        }

        #[test]
        fn file_sink_commits_every_line_exactly_once(
            n in 0usize..60,
            actions in proptest::collection::vec(sink_action(), 0..40),
        ) {
            let ops = [O::Sink { sink: SinkSpec::File { path: "out".into() } }];
            let lines: Vec<String> = (0..n).map(|i| format!("line-{i}")).collect();
            let mut files = Files::default();
            let mut attempt = 0;
            let new_attempt = |attempt: u32| {
                let mut c = OperatorChain::new(&ops, 0, 1).unwrap();
                c.set_writer_uid(format!("a{attempt}"));
                c
            };
            let mut chain = new_attempt(attempt);
            let mut pos = 0;
            let mut next_id = 1;
            let mut in_flight: Vec<(u64, usize, ChainState)> = Vec::new();
            let mut completed: Option<(usize, ChainState)> = None;
            let mut out = Output::new();
            for a in actions {
                match a {
                    SinkAction::Process(k) => {
                        for l in &lines[pos..(pos + k).min(n)] {
                            chain.process(Element::Record(rec(vec![s(l)])), Time::ZERO, &mut out).unwrap();
                        }
                        pos = (pos + k).min(n);
                    }
                    SinkAction::Snapshot => {
                        let st = through_json(chain.snapshot_state(next_id, &mut out).unwrap());
                        in_flight.push((next_id, pos, st));
                        next_id += 1;
                    }
                    SinkAction::Complete { notify } => {
                        if let Some((id, p, st)) = in_flight.pop() {
                            in_flight.clear();
                            completed = Some((p, st));
                            if notify {
                                chain.notify_checkpoint_complete(id, &mut out);
                            }
                        }
                    }
                    SinkAction::Fail => {
                        // Lines the failed attempt wrote stay behind in hidden files.
                        files.apply(&mut out);
                        attempt += 1;
                        chain = new_attempt(attempt);
                        in_flight.clear();
                        pos = 0;
                        if let Some((p, st)) = &completed {
                            chain.restore_state(std::slice::from_ref(st), std::slice::from_ref(st), &mut out).unwrap();
                            pos = *p;
                        }
                    }
                }
                files.apply(&mut out);
            }
            for l in &lines[pos..] {
                chain.process(Element::Record(rec(vec![s(l)])), Time::ZERO, &mut out).unwrap();
            }
            chain.end_of_input(Time::ZERO, &mut out);
            files.apply(&mut out);
            files.commit(&chain.pending_commits());
            let mut want = lines.clone();
            want.sort();
            prop_assert_eq!(files.visible(), want);
        }
    }
}
