//! The scenario file format (TOML), in the spirit of FoundationDB's test specs: a `[cluster]`,
//! what to `[[deploy]]`, a script of `[[step]]`s (at a time or when a predicate holds) and
//! `[[expect]]` verdicts. Every table denies unknown keys; every error names the file and the
//! line (from the TOML spans), so a typo never silently turns a fault off.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

/// A scenario file's error: where and what. Bad input exits with status 2.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            return write!(f, "{}: {}", self.file, self.message);
        }
        write!(f, "{}:{}:{}: {}", self.file, self.line, self.col, self.message)
    }
}

/// Line and column (1-based) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let upto = &text[..offset.min(text.len())];
    let line = upto.matches('\n').count() + 1;
    let col = upto.rsplit('\n').next().map(|l| l.chars().count()).unwrap_or(0) + 1;
    (line, col)
}

/// Features a scenario may need that this build may not have yet. A scenario requiring one
/// that is not available is reported SKIP with the reason, never PASS.
pub const FEATURES: &[(&str, Option<&str>)] = &[("checkpoints", None), ("ha", None), ("rm-recovery", None), ("store-faults", None)];

pub fn feature_missing(name: &str) -> Option<&'static str> {
    FEATURES.iter().find(|(n, _)| *n == name).and_then(|(_, why)| *why)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Scenario {
    /// Defaults to the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// The JIRA issues the scenario is about.
    #[serde(default)]
    pub jira: Vec<String>,
    /// What it breaks (one line, for `scenario list`).
    pub breaks: String,
    /// What correct behaviour is (one line, for `scenario list`).
    pub expects: String,
    /// Features the scenario needs ("checkpoints", "ha", ...).
    #[serde(default)]
    pub requires: Vec<Spanned<String>>,
    /// Modes the scenario makes sense in (default both).
    #[serde(default = "default_modes")]
    pub modes: Vec<Spanned<String>>,
    /// Virtual time in sim, wall time in live, before the run ends with a FAIL.
    #[serde(default = "default_timeout")]
    pub timeout: Spanned<String>,
    /// Sim only: every job's fixed-delay restart strategy gets at least this many attempts
    /// (what `scenario fuzz` gives the jobs it breaks, so its reports replay as found).
    #[serde(default)]
    pub restart_budget: Option<Spanned<u32>>,
    /// The seed the scenario runs with unless `--seed` says otherwise (default 1): a fuzz
    /// finding, or a library scenario whose fault lands where it matters with this seed's
    /// placement and latencies.
    #[serde(default)]
    pub seed: Option<u64>,
    #[serde(default)]
    pub cluster: ClusterSpec,
    #[serde(default)]
    pub deploy: Vec<Spanned<DeploySpec>>,
    #[serde(default)]
    pub step: Vec<Spanned<StepSpec>>,
    #[serde(default)]
    pub expect: Vec<Spanned<ExpectSpec>>,
}

fn default_modes() -> Vec<Spanned<String>> {
    vec![Spanned::new(0..0, "sim".into()), Spanned::new(0..0, "live".into())]
}
fn default_timeout() -> Spanned<String> {
    Spanned::new(0..0, "300s".into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ClusterSpec {
    #[serde(default = "default_nodes")]
    pub nodes: u32,
    #[serde(default = "default_node_memory")]
    pub node_memory_mb: u64,
    #[serde(default = "default_node_vcores")]
    pub node_vcores: u32,
    /// Leaf queues under root with their capacity percentages (they must add up to 100).
    #[serde(default)]
    pub queues: BTreeMap<String, f64>,
    /// yarn-site.xml overrides.
    #[serde(default)]
    pub yarn: BTreeMap<String, toml::Value>,
    /// Flink config.yaml settings for every deployment.
    #[serde(default)]
    pub flink: BTreeMap<String, toml::Value>,
}

fn default_nodes() -> u32 {
    3
}
fn default_node_memory() -> u64 {
    8192
}
fn default_node_vcores() -> u32 {
    8
}

impl Default for ClusterSpec {
    fn default() -> Self {
        ClusterSpec {
            nodes: default_nodes(),
            node_memory_mb: default_node_memory(),
            node_vcores: default_node_vcores(),
            queues: BTreeMap::new(),
            yarn: BTreeMap::new(),
            flink: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeployKind {
    /// `yarn-session -d`: a session cluster.
    YarnSession,
    /// `flink run` into a session (`session = "<deploy name>"`).
    Run,
    /// `flink run-application -t yarn-application`.
    RunApplication,
    /// `flink run -t yarn-per-job`.
    PerJob,
}

impl DeployKind {
    pub fn name(self) -> &'static str {
        match self {
            DeployKind::YarnSession => "yarn-session",
            DeployKind::Run => "run",
            DeployKind::RunApplication => "run-application",
            DeployKind::PerJob => "per-job",
        }
    }
    /// Whether this deployment runs a job (everything but a bare session).
    pub fn is_job(self) -> bool {
        !matches!(self, DeployKind::YarnSession)
    }
    /// Whether this deployment is its own YARN application.
    pub fn is_app(self) -> bool {
        !matches!(self, DeployKind::Run)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct DeploySpec {
    /// How steps and expectations refer to it (default: `<kind>-<n>`).
    #[serde(default)]
    pub name: Option<String>,
    pub kind: DeployKind,
    /// For `run`: the session deployment it submits to.
    #[serde(default)]
    pub session: Option<Spanned<String>>,
    /// The program (TOML), relative to the scenario file, then to the working directory.
    #[serde(default)]
    pub program: Option<Spanned<String>>,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub parallelism: Option<u32>,
    /// `-D` settings for this deployment.
    #[serde(default)]
    pub flink: BTreeMap<String, toml::Value>,
    /// When to deploy (default: at the start, in file order; `run` waits for its session).
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// Deploy only when a step `submit`s it.
    #[serde(default)]
    pub manual: bool,
    /// The Java job this deployment runs under `--flink real`: "compat-job" (the runner compiles
    /// scripts/hadoop-compat/CompatJob.java) or a `.jar` path (relative to the scenario file).
    #[serde(default)]
    pub real_program: Option<Spanned<String>>,
    /// The real program's arguments (compat-job: N RATE).
    #[serde(default)]
    pub real_args: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct WhenSpec {
    /// A job status: the deployment's (or `deploy`'s) first job.
    #[serde(default)]
    pub job: Option<String>,
    /// At least this many TaskManagers registered with the JobManager.
    #[serde(default)]
    pub taskmanagers: Option<u32>,
    /// A YARN application state of the deployment.
    #[serde(default)]
    pub app: Option<String>,
    /// The deployment's current application attempt number.
    #[serde(default)]
    pub attempt: Option<u32>,
    /// A container (by role) in a state (NEW, RUNNING, COMPLETE as YARN reports it).
    #[serde(default)]
    pub container: Option<String>,
    #[serde(default)]
    pub role: Option<String>,
    /// This many checkpoints completed (requires checkpoints).
    #[serde(default)]
    pub checkpoint: Option<u32>,
    /// At least this many records written by the job's sink vertex.
    #[serde(default)]
    pub records: Option<u64>,
    /// Which deployment the predicate is about (default: the first).
    #[serde(default)]
    pub deploy: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct StepSpec {
    /// At a time since the scenario started (`2.5s`).
    #[serde(default)]
    pub at: Option<Spanned<String>>,
    /// When a predicate holds.
    #[serde(default)]
    pub when: Option<Spanned<WhenSpec>>,
    /// Wait this long after the predicate held.
    #[serde(default)]
    pub after: Option<Spanned<String>>,
    pub action: Spanned<String>,
    /// A process role: am, taskmanager N, remote-taskmanager N, nm N, nm-of-am, nm-of
    /// taskmanager N, nm-of remote-taskmanager N, rm, zookeeper.
    #[serde(default)]
    pub target: Option<Spanned<String>>,
    /// The other end of a link (partition/heal/clog/drop).
    #[serde(default)]
    pub peer: Option<Spanned<String>>,
    /// Partitions and drops only from target to peer.
    #[serde(default)]
    pub one_way: bool,
    /// Extra delay for clog.
    #[serde(default)]
    pub delay: Option<Spanned<String>>,
    /// Message kind to drop (e.g. "TaskExecutorHeartbeat").
    #[serde(default)]
    pub rpc: Option<String>,
    /// Deployment for submit / cancel / savepoint / stop-job / am faults.
    #[serde(default)]
    pub deploy: Option<String>,
    /// Heal after this long (partition, clog, drop, stop).
    #[serde(default, rename = "for")]
    pub duration: Option<Spanned<String>>,
    /// fail-store: only paths under this store directory (default: the whole store).
    #[serde(default)]
    pub path: Option<String>,
    /// fail-store: "EIO" (default: writes, renames, deletes fail) or "ENOSPC" (the disk is full).
    #[serde(default)]
    pub error: Option<Spanned<String>>,
}

#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ExpectSpec {
    /// The deployment's first job ends in this status.
    #[serde(default)]
    pub job: Option<String>,
    /// The deployment's YARN application ends in this state (and final status, `FINISHED/SUCCEEDED`).
    #[serde(default)]
    pub app: Option<String>,
    /// The committed output equals a fault-free run of the same deployment and seed.
    #[serde(default)]
    pub output: Option<Spanned<String>>,
    /// Containers still running on NodeManagers at the end that no live application owns.
    #[serde(default)]
    pub containers_leaked: Option<u32>,
    /// Number of application attempts (exact, or `at-least`/`at-most`).
    #[serde(default)]
    pub attempts: Option<u32>,
    /// Number of job restarts.
    #[serde(default)]
    pub restarts: Option<u32>,
    #[serde(default)]
    pub at_least: bool,
    #[serde(default)]
    pub at_most: bool,
    /// The expected end state is reached within this time.
    #[serde(default)]
    pub within: Option<Spanned<String>>,
    /// A line containing this text appears in the JobManager log (or `log-absent`: never).
    #[serde(default)]
    pub log: Option<String>,
    #[serde(default)]
    pub log_absent: Option<String>,
    /// This many checkpoints completed (requires checkpoints).
    #[serde(default)]
    pub checkpoints: Option<u32>,
    /// This many checkpoints failed (counted as Flink's `numFailedCheckpoints` counts them).
    #[serde(default)]
    pub checkpoints_failed: Option<u32>,
    /// `"all"`: every completed checkpoint had an acknowledgement from every subtask (counted
    /// from the TaskManagers' own ack events and the `_metadata` written to the store).
    #[serde(default)]
    pub checkpoint_acks: Option<Spanned<String>>,
    /// The job (last) restored from the checkpoint with this id (`at-least` allowed).
    #[serde(default)]
    pub restored_from: Option<u32>,
    /// The outcome of the scenario's `savepoint` / `stop-job` step: COMPLETED or FAILED.
    #[serde(default)]
    pub savepoint: Option<Spanned<String>>,
    #[serde(default)]
    pub deploy: Option<String>,
}

// ---- validated form ----

#[derive(Debug, Clone, PartialEq)]
pub enum Role {
    Am,
    TaskManager(usize),
    /// A TaskManager not on the AM's machine (links to the AM cross the network).
    RemoteTaskManager(usize),
    Nm(usize),
    /// The NodeManager whose machine runs a container role (am, taskmanager N,
    /// remote-taskmanager N), as placed when the step acts. A `restart` of it restarts the
    /// NodeManager the role's last fault hit, since by then its containers are gone.
    NmOf(Box<Role>),
    Rm,
    ZooKeeper,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::Am => write!(f, "am"),
            Role::TaskManager(n) => write!(f, "taskmanager {n}"),
            Role::RemoteTaskManager(n) => write!(f, "remote-taskmanager {n}"),
            Role::Nm(n) => write!(f, "nm {n}"),
            Role::NmOf(r) if **r == Role::Am => write!(f, "nm-of-am"),
            Role::NmOf(r) => write!(f, "nm-of {r}"),
            Role::Rm => write!(f, "rm"),
            Role::ZooKeeper => write!(f, "zookeeper"),
        }
    }
}

pub fn parse_role(s: &str, nodes: u32) -> Result<Role, String> {
    let words: Vec<&str> = s.split_whitespace().collect();
    let n = |w: Option<&&str>| -> Result<usize, String> {
        match w {
            None => Ok(1),
            Some(w) => w.parse::<usize>().ok().filter(|n| *n >= 1).ok_or(format!("'{w}' is not a number from 1 in role '{s}'")),
        }
    };
    let r = match words.first().copied() {
        Some("am") if words.len() == 1 => Role::Am,
        Some("taskmanager" | "tm") if words.len() <= 2 => Role::TaskManager(n(words.get(1))?),
        Some("remote-taskmanager") if words.len() <= 2 => Role::RemoteTaskManager(n(words.get(1))?),
        Some("nm") if words.len() <= 2 => {
            let i = n(words.get(1))?;
            if i as u32 > nodes {
                return Err(format!("role '{s}' names a NodeManager that does not exist: the cluster has {nodes}"));
            }
            Role::Nm(i)
        }
        Some("nm-of-am") if words.len() == 1 => Role::NmOf(Box::new(Role::Am)),
        Some("nm-of") if words.len() >= 2 => match parse_role(&words[1..].join(" "), nodes)? {
            r @ (Role::Am | Role::TaskManager(_) | Role::RemoteTaskManager(_)) => Role::NmOf(Box::new(r)),
            r => return Err(format!("role '{s}': nm-of names the machine of a container (am, taskmanager N, remote-taskmanager N), not {r}")),
        },
        Some("rm") if words.len() == 1 => Role::Rm,
        Some("zookeeper" | "zk") if words.len() == 1 => Role::ZooKeeper,
        _ => return Err(format!("unknown role '{s}' (expected am, taskmanager N, remote-taskmanager N, nm N, nm-of-am, nm-of taskmanager N, nm-of remote-taskmanager N, rm or zookeeper)")),
    };
    Ok(r)
}

#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// kill -9
    Kill(Role),
    /// kill -15
    Term(Role),
    /// SIGSTOP (with `for`: SIGCONT after it)
    Stop(Role, Option<Duration>),
    /// SIGCONT
    Continue(Role),
    /// The machine of a role is gone (all its processes, nobody told).
    LoseMachine(Role),
    /// Start a NodeManager again on machine N (after a kill or loss).
    Restart(Role),
    Partition {
        a: Role,
        b: Role,
        one_way: bool,
        heal_after: Option<Duration>,
    },
    Heal {
        a: Role,
        b: Role,
    },
    HealAll,
    Clog {
        a: Role,
        b: Role,
        delay: Duration,
        heal_after: Option<Duration>,
    },
    /// Drop messages of a kind arriving at `at` (from anyone, or from `from`).
    Drop {
        at: Role,
        from: Option<Role>,
        rpc: String,
        heal_after: Option<Duration>,
    },
    FailStore {
        heal_after: Option<Duration>,
        /// Store directory the fault is limited to ("" = everything).
        prefix: String,
        /// ENOSPC instead of EIO.
        full: bool,
    },
    /// TaskManager containers fail to start (exit 127) while set.
    FailLaunch {
        heal_after: Option<Duration>,
    },
    /// Ends `FailLaunch`.
    RestoreLaunch,
    /// Ends `FailStore`.
    RestoreStore,
    Submit(String),
    Cancel(String),
    Savepoint(String),
    StopJob(String),
}

impl Action {
    /// The roles this action touches (checked against the cluster).
    pub fn roles(&self) -> Vec<&Role> {
        match self {
            Action::Kill(r) | Action::Term(r) | Action::Stop(r, _) | Action::Continue(r) | Action::LoseMachine(r) | Action::Restart(r) => {
                vec![r]
            }
            Action::Partition { a, b, .. } | Action::Heal { a, b } | Action::Clog { a, b, .. } => vec![a, b],
            Action::Drop { at, from, .. } => std::iter::once(at).chain(from.iter()).collect(),
            _ => vec![],
        }
    }
    pub fn is_network(&self) -> bool {
        matches!(self, Action::Partition { .. } | Action::Heal { .. } | Action::HealAll | Action::Clog { .. } | Action::Drop { .. })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Trigger {
    At(Duration),
    When(When),
}

#[derive(Debug, Clone, PartialEq)]
pub enum When {
    Job { deploy: usize, status: String },
    TaskManagers { deploy: usize, n: u32 },
    App { deploy: usize, state: String },
    Attempt { deploy: usize, n: u32 },
    Container { deploy: usize, role: Role, state: String },
    Checkpoint { deploy: usize, n: u32 },
    Records { deploy: usize, n: u64 },
}

impl fmt::Display for When {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            When::Job { status, .. } => write!(f, "job {status}"),
            When::TaskManagers { n, .. } => write!(f, "{n} TaskManagers registered"),
            When::App { state, .. } => write!(f, "app {state}"),
            When::Attempt { n, .. } => write!(f, "app attempt {n}"),
            When::Container { role, state, .. } => write!(f, "{role} container {state}"),
            When::Checkpoint { n, .. } => write!(f, "checkpoint {n} completed"),
            When::Records { n, .. } => write!(f, "{n} records written"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub line: usize,
    pub trigger: Trigger,
    pub after: Duration,
    pub action: Action,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Compare {
    Exact,
    AtLeast,
    AtMost,
}

impl Compare {
    pub fn holds(&self, got: u64, want: u64) -> bool {
        match self {
            Compare::Exact => got == want,
            Compare::AtLeast => got >= want,
            Compare::AtMost => got <= want,
        }
    }
    pub fn word(&self) -> &'static str {
        match self {
            Compare::Exact => "",
            Compare::AtLeast => ">= ",
            Compare::AtMost => "<= ",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Job { deploy: usize, status: String, within: Option<Duration> },
    App { deploy: usize, state: String, final_status: Option<String>, within: Option<Duration> },
    OutputExactlyOnce { deploy: usize },
    ContainersLeaked(u32),
    Attempts { deploy: usize, n: u32, cmp: Compare },
    Restarts { deploy: usize, n: u32, cmp: Compare },
    Log { deploy: usize, text: String, present: bool },
    Checkpoints { deploy: usize, n: u32, cmp: Compare },
    CheckpointsFailed { deploy: usize, n: u32, cmp: Compare },
    CheckpointAcks { deploy: usize },
    RestoredFrom { deploy: usize, n: u32, cmp: Compare },
    Savepoint { deploy: usize, completed: bool },
}

#[derive(Debug, Clone, PartialEq)]
pub struct ExpectAt {
    pub line: usize,
    pub expect: Expect,
}

/// Which Flink a live run deploys: ours (the model: `flink-am`, `taskexec`) or the real Apache
/// Flink distribution (`--flink real`: `$FLINK_HOME/bin/yarn-session.sh`, `flink run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flink {
    Model,
    Real,
}

impl Flink {
    pub fn parse(s: &str) -> Result<Flink, String> {
        match s {
            "model" => Ok(Flink::Model),
            "real" => Ok(Flink::Real),
            other => Err(format!("--flink must be model or real, got '{other}'")),
        }
    }
}

/// A Java job for the real Flink.
#[derive(Debug, Clone, PartialEq)]
pub enum RealProgram {
    /// scripts/hadoop-compat/CompatJob.java (args: N RATE; N = 0 runs for ever).
    CompatJob { n: u64, rate: u64 },
    /// A job jar with its main class in the manifest; `real-args` go to it.
    Jar(PathBuf),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    pub name: String,
    pub kind: DeployKind,
    /// For `run`: index of its session deployment.
    pub session: Option<usize>,
    /// (path as written, resolved path, program text)
    pub program: Option<(String, PathBuf, String)>,
    pub args: Vec<String>,
    pub parallelism: Option<u32>,
    pub flink: BTreeMap<String, String>,
    pub at: Duration,
    pub manual: bool,
    /// The Java job under `--flink real`.
    pub real: Option<RealProgram>,
    pub real_args: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Cluster {
    pub nodes: u32,
    pub node_memory_mb: u64,
    pub node_vcores: u32,
    pub queues: BTreeMap<String, f64>,
    pub yarn: BTreeMap<String, String>,
    pub flink: BTreeMap<String, String>,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    pub name: String,
    pub file: PathBuf,
    /// The file's text (recorded in traces so replays need not trust the file on disk).
    pub text: String,
    pub jira: Vec<String>,
    pub breaks: String,
    pub expects: String,
    pub requires: Vec<String>,
    pub modes: Vec<String>,
    pub timeout: Duration,
    /// See `Scenario::restart_budget`.
    pub restart_budget: Option<u32>,
    /// See `Scenario::seed`.
    pub seed: Option<u64>,
    pub cluster: Cluster,
    pub deploys: Vec<Deploy>,
    pub steps: Vec<Step>,
    pub expect: Vec<ExpectAt>,
}

/// `2.5s`, `500ms`, `2m`, `1h`, `90` (seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let (num, unit) = match t.find(|c: char| !(c.is_ascii_digit() || c == '.')) {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let v: f64 = num.parse().map_err(|_| format!("'{s}' is not a duration (like 2.5s, 500ms, 2m)"))?;
    let mult = match unit {
        "ms" => 0.001,
        "s" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("'{s}' has an unknown unit '{unit}' (use ms, s, m or h)")),
    };
    if !v.is_finite() || v < 0.0 {
        return Err(format!("'{s}' is not a duration"));
    }
    Ok(Duration::from_micros((v * mult * 1e6).round() as u64))
}

fn value_string(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

struct Ctx<'a> {
    file: &'a str,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> SpecError {
        let (line, col) = line_col(self.text, span.start);
        SpecError { file: self.file.to_string(), line, col, message: message.into() }
    }
}

/// Parses and validates a scenario file.
pub fn load(path: &Path) -> Result<Spec, SpecError> {
    let text = std::fs::read_to_string(path).map_err(|e| SpecError {
        file: path.display().to_string(),
        line: 0,
        col: 0,
        message: format!("cannot read the scenario file: {e}"),
    })?;
    parse(&text, path)
}

/// Parses scenario text; `path` names it in errors and resolves program files.
pub fn parse(text: &str, path: &Path) -> Result<Spec, SpecError> {
    let file = path.display().to_string();
    let cx = Ctx { file: &file, text };
    let raw: Scenario = toml::from_str(text).map_err(|e| {
        let span = e.span().unwrap_or(0..0);
        cx.err(span, e.message().trim_end().to_string())
    })?;
    let name = raw.name.clone().unwrap_or_else(|| path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default());
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(cx.err(0..0, format!("scenario name '{name}' must be letters, digits, '-' or '_'")));
    }
    for r in &raw.requires {
        if !FEATURES.iter().any(|(n, _)| *n == r.get_ref()) {
            let known: Vec<_> = FEATURES.iter().map(|(n, _)| *n).collect();
            return Err(cx.err(r.span(), format!("unknown feature '{}' in requires (known: {})", r.get_ref(), known.join(", "))));
        }
    }
    for m in &raw.modes {
        if m.get_ref() != "sim" && m.get_ref() != "live" {
            return Err(cx.err(m.span(), format!("unknown mode '{}' (expected sim or live)", m.get_ref())));
        }
    }
    let timeout = parse_duration(raw.timeout.get_ref()).map_err(|e| cx.err(raw.timeout.span(), e))?;
    if let Some(b) = &raw.restart_budget {
        // Live jobs run the program as written (the real CLI submits it).
        if raw.modes.iter().any(|m| m.get_ref() == "live") {
            return Err(cx.err(b.span(), "restart-budget applies in sim only: set modes = [\"sim\"]"));
        }
        if *b.get_ref() == 0 {
            return Err(cx.err(b.span(), "restart-budget must be at least 1"));
        }
    }
    let c = &raw.cluster;
    if c.nodes == 0 || c.nodes > 100 {
        return Err(cx.err(0..0, format!("[cluster] nodes must be 1..=100, got {}", c.nodes)));
    }
    if !c.queues.is_empty() {
        let sum: f64 = c.queues.values().sum();
        if (sum - 100.0).abs() > 0.01 {
            return Err(cx.err(0..0, format!("[cluster] queue capacities add up to {sum}, not 100")));
        }
    }
    let cluster = Cluster {
        nodes: c.nodes,
        node_memory_mb: c.node_memory_mb,
        node_vcores: c.node_vcores,
        queues: c.queues.clone(),
        yarn: c.yarn.iter().map(|(k, v)| (k.clone(), value_string(v))).collect(),
        flink: c.flink.iter().map(|(k, v)| (k.clone(), value_string(v))).collect(),
    };
    // Deployments: names, sessions, programs.
    let mut deploys: Vec<Deploy> = Vec::new();
    for (i, d) in raw.deploy.iter().enumerate() {
        let span = d.span();
        let d = d.get_ref();
        let name = d.name.clone().unwrap_or_else(|| format!("{}-{}", d.kind.name(), i + 1));
        if deploys.iter().any(|x| x.name == name) {
            return Err(cx.err(span, format!("two deployments are named '{name}'")));
        }
        let session = match (&d.kind, &d.session) {
            (DeployKind::Run, Some(s)) => match deploys.iter().position(|x| &x.name == s.get_ref()) {
                Some(j) if deploys[j].kind == DeployKind::YarnSession => Some(j),
                Some(_) => return Err(cx.err(s.span(), format!("deployment '{}' is not a yarn-session", s.get_ref()))),
                None => return Err(cx.err(s.span(), format!("no yarn-session deployment named '{}' before this one", s.get_ref()))),
            },
            (DeployKind::Run, None) => match deploys.iter().position(|x| x.kind == DeployKind::YarnSession) {
                Some(j) => Some(j),
                None => return Err(cx.err(span, "a 'run' deployment needs a yarn-session deployment before it")),
            },
            (_, Some(s)) => return Err(cx.err(s.span(), format!("'session' is only for kind = \"run\", not {}", d.kind.name()))),
            (_, None) => None,
        };
        let program = match (&d.kind, &d.program) {
            (DeployKind::YarnSession, Some(p)) => {
                return Err(cx.err(p.span(), "a yarn-session takes no program (add a kind = \"run\" deployment)"))
            }
            (DeployKind::YarnSession, None) => None,
            (_, None) if d.real_program.is_some() => None,
            (_, None) => return Err(cx.err(span, format!("a {} deployment needs a 'program' (or a 'real-program')", d.kind.name()))),
            (_, Some(p)) => {
                let written = p.get_ref().clone();
                let base = path.parent().unwrap_or(Path::new("."));
                let candidates = [base.join(&written), PathBuf::from(&written)];
                let Some(found) = candidates.iter().find(|c| c.is_file()) else {
                    return Err(cx.err(p.span(), format!("program file '{written}' not found (looked in {} and .)", base.display())));
                };
                let ptext = std::fs::read_to_string(found).map_err(|e| cx.err(p.span(), format!("{}: {e}", found.display())))?;
                // The program must parse with its arguments (malformed programs fail here, with
                // the program's own line in the message).
                flink_core::program::Program::parse(&ptext, &d.args)
                    .map_err(|e| cx.err(p.span(), format!("program {}: {e}", found.display())))?;
                Some((written, found.clone(), ptext))
            }
        };
        let real = match (&d.kind, &d.real_program) {
            (_, None) => {
                if !d.real_args.is_empty() {
                    return Err(cx.err(span, "'real-args' without a 'real-program'"));
                }
                None
            }
            (DeployKind::YarnSession, Some(p)) => {
                return Err(cx.err(p.span(), "a yarn-session takes no real-program (add a kind = \"run\" deployment)"))
            }
            (_, Some(p)) => Some(parse_real_program(p.get_ref(), &d.real_args, path).map_err(|e| cx.err(p.span(), e))?),
        };
        let at = match &d.at {
            Some(a) => parse_duration(a.get_ref()).map_err(|e| cx.err(a.span(), e))?,
            None => Duration::ZERO,
        };
        deploys.push(Deploy {
            name,
            kind: d.kind,
            session,
            program,
            args: d.args.clone(),
            parallelism: d.parallelism,
            flink: d.flink.iter().map(|(k, v)| (k.clone(), value_string(v))).collect(),
            at,
            manual: d.manual,
            real,
            real_args: d.real_args.clone(),
        });
    }
    let deploy_ix = |name: &Option<String>, span: Range<usize>| -> Result<usize, SpecError> {
        match name {
            None if deploys.is_empty() => Err(cx.err(span, "this refers to a deployment but the scenario has none")),
            None => Ok(deploys.iter().position(|d| d.kind.is_app()).unwrap_or(0)),
            Some(n) => deploys.iter().position(|d| &d.name == n).ok_or_else(|| {
                let names: Vec<_> = deploys.iter().map(|d| d.name.as_str()).collect();
                cx.err(span, format!("no deployment named '{n}' (there are: {})", names.join(", ")))
            }),
        }
    };
    let job_deploy = |name: &Option<String>, span: Range<usize>| -> Result<usize, SpecError> {
        // Job predicates default to the first deployment that runs a program.
        match name {
            None => deploys
                .iter()
                .position(|d| d.program.is_some() || d.real.is_some())
                .ok_or_else(|| cx.err(span, "this refers to a job but no deployment runs a program")),
            Some(_) => deploy_ix(name, span),
        }
    };
    let role = |s: &Option<Spanned<String>>, span: Range<usize>, what: &str| -> Result<Role, SpecError> {
        let s = s.as_ref().ok_or_else(|| cx.err(span.clone(), format!("this action needs '{what}'")))?;
        parse_role(s.get_ref(), cluster.nodes).map_err(|e| cx.err(s.span(), e))
    };
    let dur = |s: &Option<Spanned<String>>| -> Result<Option<Duration>, SpecError> {
        s.as_ref().map(|s| parse_duration(s.get_ref()).map_err(|e| cx.err(s.span(), e))).transpose()
    };
    let mut steps = Vec::new();
    for st in &raw.step {
        let span = st.span();
        let s = st.get_ref();
        let (line, _) = line_col(text, span.start);
        let trigger = match (&s.at, &s.when) {
            (Some(_), Some(w)) => return Err(cx.err(w.span(), "a step has either 'at' or 'when', not both")),
            (None, None) => return Err(cx.err(span, "a step needs 'at' (a time) or 'when' (a predicate)")),
            (Some(a), None) => Trigger::At(parse_duration(a.get_ref()).map_err(|e| cx.err(a.span(), e))?),
            (None, Some(w)) => {
                let wspan = w.span();
                let w = w.get_ref();
                let set = [
                    w.job.is_some(),
                    w.taskmanagers.is_some(),
                    w.app.is_some(),
                    w.attempt.is_some(),
                    w.container.is_some(),
                    w.checkpoint.is_some(),
                    w.records.is_some(),
                ]
                .iter()
                .filter(|b| **b)
                .count();
                if set != 1 {
                    return Err(
                        cx.err(wspan, "'when' needs exactly one of job, taskmanagers, app, attempt, container, checkpoint, records")
                    );
                }
                if w.role.is_some() && w.container.is_none() {
                    return Err(cx.err(wspan, "'role' in 'when' is only for 'container'"));
                }
                let d = |job: bool| if job { job_deploy(&w.deploy, wspan.clone()) } else { deploy_ix(&w.deploy, wspan.clone()) };
                Trigger::When(if let Some(j) = &w.job {
                    check_job_status(j).map_err(|e| cx.err(wspan.clone(), e))?;
                    When::Job { deploy: d(true)?, status: j.clone() }
                } else if let Some(n) = w.taskmanagers {
                    When::TaskManagers { deploy: d(false)?, n }
                } else if let Some(a) = &w.app {
                    check_app_state(a).map_err(|e| cx.err(wspan.clone(), e))?;
                    When::App { deploy: d(false)?, state: a.clone() }
                } else if let Some(n) = w.attempt {
                    When::Attempt { deploy: d(false)?, n }
                } else if let Some(c) = &w.container {
                    if !["NEW", "RUNNING", "COMPLETE"].contains(&c.as_str()) {
                        return Err(cx.err(wspan, format!("unknown container state '{c}' (expected NEW, RUNNING or COMPLETE)")));
                    }
                    let r = w.role.as_ref().ok_or_else(|| cx.err(wspan.clone(), "'container' needs a 'role'"))?;
                    let role = parse_role(r, cluster.nodes).map_err(|e| cx.err(wspan.clone(), e))?;
                    When::Container { deploy: d(false)?, role, state: c.clone() }
                } else if let Some(n) = w.checkpoint {
                    When::Checkpoint { deploy: d(true)?, n }
                } else {
                    When::Records { deploy: d(true)?, n: w.records.unwrap_or(0) }
                })
            }
        };
        let after = dur(&s.after)?.unwrap_or(Duration::ZERO);
        let heal_after = dur(&s.duration)?;
        let aspan = s.action.span();
        let allowed: &[&str];
        let action = match s.action.get_ref().as_str() {
            "kill" | "kill-9" => {
                allowed = &["target"];
                Action::Kill(role(&s.target, aspan.clone(), "target")?)
            }
            "term" => {
                allowed = &["target"];
                Action::Term(role(&s.target, aspan.clone(), "target")?)
            }
            "stop" => {
                allowed = &["target", "for"];
                Action::Stop(role(&s.target, aspan.clone(), "target")?, heal_after)
            }
            "continue" => {
                allowed = &["target"];
                Action::Continue(role(&s.target, aspan.clone(), "target")?)
            }
            "lose-machine" => {
                allowed = &["target"];
                Action::LoseMachine(role(&s.target, aspan.clone(), "target")?)
            }
            "restart" => {
                allowed = &["target"];
                let r = role(&s.target, aspan.clone(), "target")?;
                if !matches!(r, Role::Nm(_) | Role::NmOf(_) | Role::Rm) {
                    return Err(cx.err(aspan, format!("'restart' restarts a daemon (nm N, nm-of ROLE, rm), not {r}")));
                }
                Action::Restart(r)
            }
            "partition" => {
                allowed = &["target", "peer", "one-way", "for"];
                Action::Partition {
                    a: role(&s.target, aspan.clone(), "target")?,
                    b: role(&s.peer, aspan.clone(), "peer")?,
                    one_way: s.one_way,
                    heal_after,
                }
            }
            "heal" => {
                allowed = &["target", "peer"];
                if s.target.is_none() && s.peer.is_none() {
                    Action::HealAll
                } else {
                    Action::Heal { a: role(&s.target, aspan.clone(), "target")?, b: role(&s.peer, aspan.clone(), "peer")? }
                }
            }
            "clog" | "delay" => {
                allowed = &["target", "peer", "delay", "for"];
                let delay = dur(&s.delay)?.ok_or_else(|| cx.err(aspan.clone(), "'clog' needs 'delay' (like \"2s\")"))?;
                Action::Clog {
                    a: role(&s.target, aspan.clone(), "target")?,
                    b: role(&s.peer, aspan.clone(), "peer")?,
                    delay,
                    heal_after,
                }
            }
            "drop" => {
                allowed = &["target", "peer", "rpc", "for"];
                let rpc = s.rpc.clone().ok_or_else(|| cx.err(aspan.clone(), "'drop' needs 'rpc' (a message kind)"))?;
                let from = match &s.peer {
                    Some(p) => Some(parse_role(p.get_ref(), cluster.nodes).map_err(|e| cx.err(p.span(), e))?),
                    None => None,
                };
                Action::Drop { at: role(&s.target, aspan.clone(), "target")?, from, rpc, heal_after }
            }
            "fail-store" => {
                allowed = &["for", "path", "error"];
                let full = match s.error.as_ref().map(|e| (e.get_ref().as_str(), e.span())) {
                    None | Some(("EIO", _)) => false,
                    Some(("ENOSPC", _)) => true,
                    Some((other, sp)) => return Err(cx.err(sp, format!("unknown store error '{other}' (expected EIO or ENOSPC)"))),
                };
                Action::FailStore { heal_after, prefix: s.path.clone().unwrap_or_default().trim_matches('/').to_string(), full }
            }
            "fail-launch" => {
                allowed = &["for"];
                Action::FailLaunch { heal_after }
            }
            "restore-launch" => {
                allowed = &[];
                Action::RestoreLaunch
            }
            "submit" | "cancel" | "savepoint" | "stop-job" => {
                allowed = &["deploy"];
                let ix = job_deploy(&s.deploy, aspan.clone())?;
                let name = deploys[ix].name.clone();
                match s.action.get_ref().as_str() {
                    "submit" => {
                        if !deploys[ix].manual {
                            return Err(cx.err(aspan, format!("deployment '{name}' is not manual = true, so it is deployed already")));
                        }
                        Action::Submit(name)
                    }
                    "cancel" => Action::Cancel(name),
                    "savepoint" => Action::Savepoint(name),
                    _ => Action::StopJob(name),
                }
            }
            other => {
                return Err(cx.err(
                    aspan,
                    format!(
                        "unknown action '{other}' (expected kill, term, stop, continue, lose-machine, restart, partition, heal, clog, drop, fail-store, fail-launch, restore-launch, submit, cancel, savepoint, stop-job)"
                    ),
                ))
            }
        };
        // Keys the action does not use are mistakes, not silently ignored options.
        let given: [(&str, bool); 9] = [
            ("target", s.target.is_some()),
            ("peer", s.peer.is_some()),
            ("one-way", s.one_way),
            ("delay", s.delay.is_some()),
            ("rpc", s.rpc.is_some()),
            ("deploy", s.deploy.is_some()),
            ("for", s.duration.is_some()),
            ("path", s.path.is_some()),
            ("error", s.error.is_some()),
        ];
        for (k, set) in given {
            if set && !allowed.contains(&k) {
                return Err(cx.err(aspan, format!("key '{k}' is not used by action '{}'", s.action.get_ref())));
            }
        }
        if s.deploy.is_some() && !allowed.contains(&"deploy") {
            return Err(cx.err(aspan, "key 'deploy' is not used by this action"));
        }
        if matches!(action, Action::Savepoint(_) | Action::StopJob(_)) && !raw.requires.iter().any(|r| r.get_ref() == "checkpoints") {
            return Err(cx.err(aspan, "savepoint and stop-job need requires = [\"checkpoints\"]"));
        }
        if action.roles().iter().any(|r| **r == Role::ZooKeeper) && !raw.requires.iter().any(|r| r.get_ref() == "ha") {
            return Err(cx.err(aspan, "role zookeeper needs requires = [\"ha\"]"));
        }
        if matches!(action, Action::FailStore { .. }) && !raw.requires.iter().any(|r| r.get_ref() == "store-faults") {
            return Err(cx.err(aspan, "fail-store needs requires = [\"store-faults\"]"));
        }
        if matches!(trigger, Trigger::When(When::Checkpoint { .. })) && !raw.requires.iter().any(|r| r.get_ref() == "checkpoints") {
            return Err(cx.err(span, "when = { checkpoint = N } needs requires = [\"checkpoints\"]"));
        }
        steps.push(Step { line, trigger, after, action });
    }
    let mut expect = Vec::new();
    for e in &raw.expect {
        let span = e.span();
        let (line, _) = line_col(text, span.start);
        let x = e.get_ref();
        let kinds = [
            x.job.is_some(),
            x.app.is_some(),
            x.output.is_some(),
            x.containers_leaked.is_some(),
            x.attempts.is_some(),
            x.restarts.is_some(),
            x.log.is_some(),
            x.log_absent.is_some(),
            x.checkpoints.is_some(),
            x.checkpoints_failed.is_some(),
            x.checkpoint_acks.is_some(),
            x.restored_from.is_some(),
            x.savepoint.is_some(),
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if kinds != 1 {
            return Err(cx.err(
                span,
                "an [[expect]] needs exactly one of job, app, output, containers-leaked, attempts, restarts, log, log-absent, checkpoints, checkpoints-failed, checkpoint-acks, restored-from, savepoint",
            ));
        }
        let needs_checkpoints = x.checkpoints.is_some()
            || x.checkpoints_failed.is_some()
            || x.checkpoint_acks.is_some()
            || x.restored_from.is_some()
            || x.savepoint.is_some();
        if needs_checkpoints && !raw.requires.iter().any(|r| r.get_ref() == "checkpoints") {
            return Err(cx.err(span, "checkpoint expectations need requires = [\"checkpoints\"]"));
        }
        let cmp = match (x.at_least, x.at_most) {
            (true, true) => return Err(cx.err(span, "'at-least' and 'at-most' together")),
            (true, false) => Compare::AtLeast,
            (false, true) => Compare::AtMost,
            (false, false) => Compare::Exact,
        };
        let counted = x.attempts.is_some()
            || x.restarts.is_some()
            || x.checkpoints.is_some()
            || x.checkpoints_failed.is_some()
            || x.restored_from.is_some();
        if cmp != Compare::Exact && !counted {
            return Err(
                cx.err(span, "'at-least' / 'at-most' are for attempts, restarts, checkpoints, checkpoints-failed and restored-from")
            );
        }
        let within = dur(&x.within)?;
        if within.is_some() && x.job.is_none() && x.app.is_none() {
            return Err(cx.err(span, "'within' is for job and app expectations"));
        }
        let ex = if let Some(j) = &x.job {
            check_job_status(j).map_err(|e| cx.err(span.clone(), e))?;
            Expect::Job { deploy: job_deploy(&x.deploy, span.clone())?, status: j.clone(), within }
        } else if let Some(a) = &x.app {
            let (state, fin) = match a.split_once('/') {
                Some((s, f)) => (s.to_string(), Some(f.to_string())),
                None => (a.clone(), None),
            };
            check_app_state(&state).map_err(|e| cx.err(span.clone(), e))?;
            if let Some(f) = &fin {
                if !["SUCCEEDED", "FAILED", "KILLED", "UNDEFINED"].contains(&f.as_str()) {
                    return Err(cx.err(span, format!("unknown final status '{f}' (SUCCEEDED, FAILED, KILLED, UNDEFINED)")));
                }
            }
            let d = deploy_ix(&x.deploy, span.clone())?;
            if !deploys[d].kind.is_app() {
                return Err(cx.err(span, format!("deployment '{}' is a job in a session, not a YARN application", deploys[d].name)));
            }
            Expect::App { deploy: d, state, final_status: fin, within }
        } else if let Some(o) = &x.output {
            if o.get_ref() != "exactly-once" {
                return Err(cx.err(o.span(), format!("unknown output expectation '{}' (expected \"exactly-once\")", o.get_ref())));
            }
            Expect::OutputExactlyOnce { deploy: job_deploy(&x.deploy, span.clone())? }
        } else if let Some(n) = x.containers_leaked {
            Expect::ContainersLeaked(n)
        } else if let Some(n) = x.attempts {
            Expect::Attempts { deploy: deploy_ix(&x.deploy, span.clone())?, n, cmp }
        } else if let Some(n) = x.restarts {
            Expect::Restarts { deploy: job_deploy(&x.deploy, span.clone())?, n, cmp }
        } else if let Some(n) = x.checkpoints {
            Expect::Checkpoints { deploy: job_deploy(&x.deploy, span.clone())?, n, cmp }
        } else if let Some(n) = x.checkpoints_failed {
            Expect::CheckpointsFailed { deploy: job_deploy(&x.deploy, span.clone())?, n, cmp }
        } else if let Some(a) = &x.checkpoint_acks {
            if a.get_ref() != "all" {
                return Err(cx.err(a.span(), format!("unknown checkpoint-acks expectation '{}' (expected \"all\")", a.get_ref())));
            }
            Expect::CheckpointAcks { deploy: job_deploy(&x.deploy, span.clone())? }
        } else if let Some(n) = x.restored_from {
            Expect::RestoredFrom { deploy: job_deploy(&x.deploy, span.clone())?, n, cmp }
        } else if let Some(o) = &x.savepoint {
            let completed = match o.get_ref().as_str() {
                "COMPLETED" => true,
                "FAILED" => false,
                other => return Err(cx.err(o.span(), format!("unknown savepoint outcome '{other}' (expected COMPLETED or FAILED)"))),
            };
            Expect::Savepoint { deploy: job_deploy(&x.deploy, span.clone())?, completed }
        } else {
            let (text, present) = match (&x.log, &x.log_absent) {
                (Some(t), _) => (t.clone(), true),
                (None, Some(t)) => (t.clone(), false),
                _ => unreachable!("counted above"),
            };
            Expect::Log { deploy: deploy_ix(&x.deploy, span.clone())?, text, present }
        };
        expect.push(ExpectAt { line, expect: ex });
    }
    if expect.is_empty() {
        return Err(cx.err(0..0, "the scenario has no [[expect]]: a run could not fail"));
    }
    Ok(Spec {
        name,
        file: path.to_path_buf(),
        text: text.to_string(),
        jira: raw.jira,
        breaks: raw.breaks,
        expects: raw.expects,
        requires: raw.requires.iter().map(|r| r.get_ref().clone()).collect(),
        modes: raw.modes.iter().map(|m| m.get_ref().clone()).collect(),
        timeout,
        restart_budget: raw.restart_budget.map(|b| *b.get_ref()),
        seed: raw.seed,
        cluster,
        deploys,
        steps,
        expect,
    })
}

pub const JOB_STATUSES: &[&str] = &[
    "INITIALIZING",
    "CREATED",
    "RUNNING",
    "FAILING",
    "FAILED",
    "CANCELLING",
    "CANCELED",
    "FINISHED",
    "RESTARTING",
    "SUSPENDED",
    "RECONCILING",
];
pub const APP_STATES: &[&str] = &["NEW", "NEW_SAVING", "SUBMITTED", "ACCEPTED", "RUNNING", "FINISHED", "FAILED", "KILLED"];

fn check_job_status(s: &str) -> Result<(), String> {
    if JOB_STATUSES.contains(&s) {
        Ok(())
    } else {
        Err(format!("unknown job status '{s}' (expected one of {})", JOB_STATUSES.join(", ")))
    }
}

fn check_app_state(s: &str) -> Result<(), String> {
    if APP_STATES.contains(&s) {
        Ok(())
    } else {
        Err(format!("unknown application state '{s}' (expected one of {})", APP_STATES.join(", ")))
    }
}

/// `real-program`: "compat-job" with its two numbers, or an existing `.jar`.
fn parse_real_program(s: &str, args: &[String], scenario: &Path) -> Result<RealProgram, String> {
    if s == "compat-job" {
        let nums: Vec<u64> = args.iter().filter_map(|a| a.parse().ok()).collect();
        return match nums[..] {
            [n, rate] if args.len() == 2 => Ok(RealProgram::CompatJob { n, rate }),
            _ => Err(format!(
                "real-program \"compat-job\" takes real-args = [\"N\", \"RATE\"] (two numbers: N records, 0 = endless; RATE per second, 0 = unpaced), got {args:?}"
            )),
        };
    }
    if s.ends_with(".jar") {
        let base = scenario.parent().unwrap_or(Path::new("."));
        let candidates = [base.join(s), PathBuf::from(s)];
        return match candidates.iter().find(|c| c.is_file()) {
            Some(p) => Ok(RealProgram::Jar(p.clone())),
            None => Err(format!("real-program jar '{s}' not found (looked in {} and .)", base.display())),
        };
    }
    Err(format!("unknown real-program '{s}' (expected \"compat-job\" or a path to a .jar)"))
}

impl Spec {
    /// Why the scenario cannot run here, if it cannot: a missing feature or a mode it is not for.
    pub fn skip_reason(&self, mode: &str) -> Option<String> {
        self.skip_reason_for(mode, Flink::Model)
    }

    /// As [`Spec::skip_reason`], for our Flink model or the real Flink (`--flink real`, live only).
    pub fn skip_reason_for(&self, mode: &str, flink: Flink) -> Option<String> {
        if let Some(why) = self.skip_reason_features(mode) {
            return Some(why);
        }
        match flink {
            Flink::Model => self
                .deploys
                .iter()
                .find(|d| d.kind.is_job() && d.program.is_none())
                .map(|d| format!("deployment '{}' has only a real-program (a Java job): run it with --mode live --flink real", d.name)),
            Flink::Real if mode != "live" => Some("--flink real runs live only (the simulator runs our Flink model)".into()),
            Flink::Real => self.real_skip_reason(),
        }
    }

    /// What of this scenario has no equivalent with the real Flink: features the runner does not
    /// set up for it, deployments without a Java job, per-job mode (gone in Flink 2.x), and
    /// faults of our live transport's fault layer, which the real Flink's JVMs do not use.
    pub fn real_skip_reason(&self) -> Option<String> {
        for r in &self.requires {
            let why = match r.as_str() {
                "ha" => "ZooKeeper HA for the real Flink is not set up by this runner",
                "checkpoints" => "checkpoint storage and checkpoint observations for the real Flink are not set up by this runner",
                "store-faults" => "store faults need our store's fault layer, which the real Flink does not use",
                _ => continue,
            };
            return Some(format!("requires {r}: {why} (--flink real)"));
        }
        for d in &self.deploys {
            if d.kind == DeployKind::PerJob {
                return Some(format!(
                    "deployment '{}' is per-job: Flink 2.x removed per-job mode (--flink real deploys Flink 2.x)",
                    d.name
                ));
            }
            if d.kind.is_job() && d.real.is_none() {
                return Some(format!(
                    "deployment '{}' runs our program '{}', which has no Java equivalent: give it real-program = \"compat-job\" or a jar",
                    d.name,
                    d.program.as_ref().map(|p| p.0.as_str()).unwrap_or("")
                ));
            }
        }
        for st in &self.steps {
            if st.action.is_network() {
                return Some(format!(
                    "step at line {}: network faults go through yarn-sim's live transport fault layer, which the real Flink's JVMs do not use",
                    st.line
                ));
            }
        }
        for e in &self.expect {
            if let Expect::OutputExactlyOnce { deploy } = &e.expect {
                let d = &self.deploys[*deploy];
                if !matches!(d.real, Some(RealProgram::CompatJob { n, .. }) if n > 0) {
                    return Some(format!(
                        "expectation at line {}: output = \"exactly-once\" with the real Flink compares a finite compat-job's sums; deployment '{}' runs no finite compat-job",
                        e.line, d.name
                    ));
                }
            }
        }
        None
    }

    fn skip_reason_features(&self, mode: &str) -> Option<String> {
        for r in &self.requires {
            if let Some(why) = feature_missing(r) {
                return Some(format!("requires {r}: {why}"));
            }
        }
        if !self.modes.iter().any(|m| m == mode) {
            return Some(format!("not a {mode} scenario (modes = [{}])", self.modes.join(", ")));
        }
        None
    }
}

#[cfg(test)]
mod tests;
