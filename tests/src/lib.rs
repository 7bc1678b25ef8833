//! Helpers for end-to-end tests: find the built binaries, start a cluster in a temp dir on a
//! free port, run commands against it, and always stop it and remove the dir (on Drop, so a
//! failing test cleans up too).
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use yarn_sim::cli::http::{list, n, s, Rest};

pub mod browser;
pub mod hrpc_am;

/// The directory holding the workspace's built binaries (next to this test executable).
pub fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe.parent().and_then(|p| p.parent()).expect("target/<profile>");
    dir.to_path_buf()
}

pub fn bin(name: &str) -> PathBuf {
    let p = bin_dir().join(name);
    assert!(p.exists(), "{} not built; run `cargo build --bins` (make test does)", p.display());
    p
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub struct Cluster {
    pub work: PathBuf,
    pub rm: String,
    pub nodes: u32,
}

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(o: Output) -> Run {
        Run {
            code: o.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&o.stdout).into(),
            stderr: String::from_utf8_lossy(&o.stderr).into(),
        }
    }
}

impl Cluster {
    /// `yarn-sim start --detach` with `nodes` NodeManagers and extra `args`.
    pub fn start(name: &str, nodes: u32, args: &[&str]) -> Cluster {
        let work = std::env::temp_dir().join(format!("e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&work);
        let port = free_port();
        let c = Cluster { work: work.clone(), rm: format!("127.0.0.1:{port}"), nodes };
        let out: Run = Command::new(bin("yarn-sim"))
            .args(["start", "--detach", "--nodes", &nodes.to_string(), "--rm-port", &port.to_string(), "--work-dir"])
            .arg(&work)
            .args(args)
            .output()
            .expect("run yarn-sim start")
            .into();
        assert_eq!(out.code, 0, "yarn-sim start failed:\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(&format!("export YARN_CONF_DIR={}", work.join("conf").display())), "{}", out.stdout);
        c
    }

    pub fn conf_dir(&self) -> PathBuf {
        self.work.join("conf")
    }

    pub fn rest(&self) -> Rest {
        Rest::new(&self.rm)
    }

    /// Runs a workspace binary with YARN_CONF_DIR pointing at this cluster.
    pub fn run(&self, program: &str, args: &[&str]) -> Run {
        Command::new(bin(program))
            .args(args)
            .env("YARN_CONF_DIR", self.conf_dir())
            .env_remove("HADOOP_CONF_DIR")
            .output()
            .expect("run")
            .into()
    }

    pub fn yarn(&self, args: &[&str]) -> Run {
        self.run("yarn", args)
    }

    pub fn pid_of(&self, daemon: &str) -> u32 {
        std::fs::read_to_string(self.work.join("run").join(format!("{daemon}.pid"))).unwrap().trim().parse().unwrap()
    }

    /// Polls `f` every 20 ms until it returns Some, or panics after `limit`.
    pub fn wait_for<T>(&self, what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
        let end = Instant::now() + limit;
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(Instant::now() < end, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Processes whose working directory is inside this cluster's work dir (containers).
    pub fn processes_inside(&self) -> Vec<u32> {
        let mut out = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
            if let Ok(cwd) = std::fs::read_link(e.path().join("cwd")) {
                if cwd.starts_with(&self.work) {
                    out.push(pid);
                }
            }
        }
        out
    }

    /// `yarn-sim stop`, then the pids of anything of the cluster's still alive.
    pub fn stop_and_list_leftovers(&self) -> Vec<u32> {
        let _ = Command::new(bin("yarn-sim")).args(["stop", "--work-dir"]).arg(&self.work).output();
        std::thread::sleep(Duration::from_millis(300));
        self.processes_inside()
    }

    pub fn app(&self, id: &str) -> serde_json::Value {
        self.rest().get(&format!("/ws/v1/cluster/apps/{id}")).unwrap()["app"].clone()
    }

    /// `kill -9` of one of the cluster's daemons, returning once it is dead (exited, perhaps
    /// not yet reaped): a daemon restarted on the same port before that would find it taken.
    pub fn kill_9(&self, daemon: &str) {
        let pid = self.pid_of(daemon);
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
        self.wait_for(&format!("{daemon} to die"), Duration::from_secs(10), || (!alive(pid)).then_some(()));
    }

    /// `yarn-sim resourcemanager --conf-dir <work>/conf`, as a user restarts a killed RM,
    /// logging where `yarn-sim start` logs.
    pub fn start_resourcemanager(&self) -> Daemon {
        let log = std::fs::OpenOptions::new().append(true).create(true).open(self.work.join("logs/resourcemanager.log")).unwrap();
        let child = Command::new(bin("yarn-sim"))
            .args(["resourcemanager", "--conf-dir"])
            .arg(self.conf_dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Daemon(child)
    }
}

/// A daemon a test started by hand; killed and reaped however the test ends.
pub struct Daemon(pub Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(bin("yarn-sim")).args(["stop", "--work-dir"]).arg(&self.work).output();
        // Whatever a failed test left behind goes too.
        for pid in self.processes_inside() {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
        }
        if !std::thread::panicking() || std::env::var("E2E_KEEP").is_err() {
            let _ = std::fs::remove_dir_all(&self.work);
        }
    }
}

/// The application id a `yarn-sim dshell` run printed.
pub fn submitted_app(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("Submitted application "))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|| panic!("no app id in:\n{out}"))
}

pub fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// A Flink client command (`flink`, `yarn-session`) against a cluster: `YARN_CONF_DIR` names the
/// cluster's configuration, `FLINK_CONF_DIR` the test's own `config.yaml`.
pub fn run_flink_client(c: &Cluster, flink_conf_dir: &Path, program: &str, args: &[&str]) -> Run {
    Command::new(bin(program))
        .args(args)
        .env("YARN_CONF_DIR", c.conf_dir())
        .env("FLINK_CONF_DIR", flink_conf_dir)
        .env_remove("HADOOP_CONF_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into()
}

/// The committed output under a directory: the lines of every file not starting with '.'
/// (in-progress) or '_' (pending), sorted.
pub fn committed_lines(dir: &Path) -> Vec<String> {
    let mut lines = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.starts_with('_') || !e.path().is_file() {
            continue;
        }
        lines.extend(std::fs::read_to_string(e.path()).unwrap().lines().map(String::from));
    }
    lines.sort();
    lines
}

/// The job id `flink run` printed.
pub fn submitted_job(r: &Run) -> String {
    r.stdout
        .lines()
        .find_map(|l| l.strip_prefix("Job has been submitted with JobID "))
        .unwrap_or_else(|| panic!("no job id in:\n{}\n{}", r.stdout, r.stderr))
        .trim()
        .to_string()
}

/// A job's state from the JobManager's REST, if it answers.
pub fn job_state(am: &Rest, id: &str) -> Option<String> {
    am.get(&format!("/jobs/{id}")).ok()?["state"].as_str().map(String::from)
}

/// Whether a process runs: it exists and has not exited (a zombie, exited but not yet reaped by
/// its parent, counts as gone: it holds no sockets and runs nothing).
pub fn alive(pid: u32) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    !stat.is_empty() && !stat.rsplit_once(')').is_some_and(|(_, r)| matches!(r.trim_start().chars().next(), Some('Z' | 'X')))
}
