//! Real processes for the live driver: launch in their own process group (so a kill reaches
//! the whole tree), die with their parent (a lost NodeManager takes its containers along),
//! and are measured from /proc as YARN's ContainersMonitor does.

use std::fs;
use std::path::Path;

use crate::node::{LaunchSpec, ProcUsage};

/// Memory page size on the Linux targets this runs on.
const PAGE_SIZE: u64 = 4096;

/// Starts `bash -c <command>` in `spec.work_dir` with exactly `spec.env` (plus PATH), stdout
/// and stderr to the spec's files, as the leader of a new process group.
pub fn spawn(spec: &LaunchSpec) -> std::io::Result<tokio::process::Child> {
    std::fs::create_dir_all(&spec.work_dir)?;
    for f in [&spec.stdout, &spec.stderr] {
        if let Some(d) = Path::new(f).parent() {
            std::fs::create_dir_all(d)?;
        }
    }
    let out = fs::OpenOptions::new().create(true).append(true).open(&spec.stdout)?;
    let err = fs::OpenOptions::new().create(true).append(true).open(&spec.stderr)?;
    let mut cmd = tokio::process::Command::new("/bin/bash");
    // With a launch script the script is the program (it exec's the command at its end).
    let script_line;
    let command = match &spec.script {
        Some(path) => {
            script_line = format!("/bin/bash {}", single_quoted(path));
            &script_line
        }
        None => &spec.command,
    };
    match &spec.recovery {
        // YARN's default_container_executor.sh: the wrapper records its pid (the process
        // group's), runs the command in a child bash, and records the exit code atomically,
        // so a restarted NodeManager finds both even if it was down when the command ended.
        Some(files) => {
            cmd.arg("-c")
                .arg(RECOVERABLE_WRAPPER)
                .arg("default_container_executor")
                .arg(&files.pid_file)
                .arg(&files.exit_code_file)
                .arg(command);
        }
        // A single program runs as `exec prog`, so it is the group leader that carries the
        // parent-death signal (bash would otherwise fork it and only bash would die with us).
        None => {
            let line = if is_simple(command) { format!("exec {command}") } else { command.clone() };
            cmd.arg("-c").arg(&line);
        }
    }
    cmd.current_dir(&spec.work_dir).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    cmd.envs(&spec.env).stdin(std::process::Stdio::null()).stdout(out).stderr(err).process_group(0).kill_on_drop(false);
    // A recoverable container must survive its NodeManager's crash: no parent-death signal
    // (a NodeManager that stops normally still kills its process groups).
    if spec.recovery.is_none() {
        // SAFETY: only async-signal-safe calls (prctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL).map_err(std::io::Error::from));
        }
    }
    cmd.spawn()
}

/// `s` as one shell word.
pub fn single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// `$1` pid file, `$2` exit code file, `$3` the command.
const RECOVERABLE_WRAPPER: &str = r#"echo $$ > "$1.tmp" && /bin/mv -f "$1.tmp" "$1"
/bin/bash -c "$3"
rc=$?
echo $rc > "$2.tmp" && /bin/mv -f "$2.tmp" "$2"
exit $rc"#;

/// Whether a process still exists (a reacquired one is not our child: it cannot be waited for).
/// A zombie (ended, not reaped yet by whoever adopted it) counts as gone.
pub fn exists(pid: u32) -> bool {
    if pid == 0 || nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err() {
        return false;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let state = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, Some("Z") | Some("X") | None)
}

/// True for one command without shell operators (`;`, `&`, `|`, newlines) outside quotes.
pub fn is_simple(cmd: &str) -> bool {
    let mut quote: Option<char> = None;
    for c in cmd.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';' | '&' | '|' | '\n' | '(' | ')' | '`') => return false,
            (None, '$') => return false,
            _ => {}
        }
    }
    let first = cmd.split_whitespace().next().unwrap_or("");
    !first.is_empty() && !first.contains('=') && !matches!(first, "exec" | "if" | "for" | "while" | "case" | "{" | "!")
}

/// Sends a signal to a process group.
pub fn signal_group(pgid: u32, signal: crate::node::Signal) {
    use nix::sys::signal::Signal as S;
    let sig = match signal {
        crate::node::Signal::Term => S::SIGTERM,
        crate::node::Signal::Kill => S::SIGKILL,
        crate::node::Signal::Stop => S::SIGSTOP,
        crate::node::Signal::Cont => S::SIGCONT,
    };
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid as i32), sig);
}

struct Stat {
    pid: u32,
    ppid: u32,
    pgrp: u32,
    session: u32,
    comm: String,
    utime: u64,
    stime: u64,
    vsize: u64,
    rss_pages: u64,
}

fn read_stat(pid: u32) -> Option<Stat> {
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let comm = text[open + 1..close].to_string();
    let f: Vec<&str> = text[close + 2..].split_whitespace().collect();
    // Fields after "(comm)": state(0) ppid(1) pgrp(2) session(3) ... utime(11) stime(12) ... vsize(20) rss(21)
    Some(Stat {
        pid,
        ppid: f.get(1)?.parse().ok()?,
        pgrp: f.get(2)?.parse().ok()?,
        session: f.get(3)?.parse().ok()?,
        comm,
        utime: f.get(11)?.parse().ok()?,
        stime: f.get(12)?.parse().ok()?,
        vsize: f.get(20)?.parse().ok()?,
        rss_pages: f.get(21)?.parse().ok()?,
    })
}

/// Usage of the process tree rooted at `root` (the container's launch process): the root
/// and every process descended from it by parent pid, as YARN's ProcfsBasedProcessTree
/// walks /proc. A child that moved to its own process group or session (`setsid`) still
/// counts; the tree of bash -> java -> its children is one sum.
pub fn usage(root: u32) -> Option<ProcUsage> {
    let all: Vec<Stat> =
        fs::read_dir("/proc").ok()?.flatten().filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok()).filter_map(read_stat).collect();
    let mut stats = tree(all, root);
    if stats.is_empty() {
        return None;
    }
    stats.sort_by_key(|s| s.pid);
    let mut u = ProcUsage { os_pid: root, ..ProcUsage::default() };
    for s in &stats {
        u.rss_bytes += s.rss_pages * PAGE_SIZE;
        u.vmem_bytes += s.vsize;
        let cmdline = fs::read(format!("/proc/{}/cmdline", s.pid))
            .map(|b| String::from_utf8_lossy(&b).replace('\0', " ").trim().to_string())
            .unwrap_or_default();
        let ms_per_tick = 10;
        u.tree_dump.push(format!(
            "|- {} {} {} {} ({}) {} {} {} {} {}",
            s.pid,
            s.ppid,
            s.pgrp,
            s.session,
            s.comm,
            s.utime * ms_per_tick,
            s.stime * ms_per_tick,
            s.vsize,
            s.rss_pages,
            cmdline
        ));
    }
    Some(u)
}

/// The processes of `all` in the tree rooted at `root` (none if the root is gone).
fn tree(all: Vec<Stat>, root: u32) -> Vec<Stat> {
    let mut children: std::collections::BTreeMap<u32, Vec<u32>> = std::collections::BTreeMap::new();
    for s in &all {
        children.entry(s.ppid).or_default().push(s.pid);
    }
    if !all.iter().any(|s| s.pid == root) {
        return Vec::new();
    }
    let mut keep = std::collections::BTreeSet::new();
    let mut stack = vec![root];
    while let Some(p) = stack.pop() {
        if keep.insert(p) {
            stack.extend(children.get(&p).into_iter().flatten().copied());
        }
    }
    all.into_iter().filter(|s| keep.contains(&s.pid)).collect()
}

/// Resident memory of this process, for benchmarks.
pub fn self_rss_bytes() -> u64 {
    read_stat(std::process::id()).map(|s| s.rss_pages * PAGE_SIZE).unwrap_or(0)
}

/// Resident memory of another process, for benchmarks.
pub fn rss_bytes(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.rss_pages * PAGE_SIZE)
}

#[cfg(test)]
mod tests {
    /// The monitor's view of a container is its whole process tree: bash, a child in the
    /// same group, and one that left for its own session (`setsid`) — the memory is their sum.
    #[test]
    fn usage_sums_the_whole_process_tree() {
        use std::os::unix::process::CommandExt;
        let mut child =
            std::process::Command::new("/bin/bash").arg("-c").arg("sleep 30 & setsid -w sleep 30 & wait").process_group(0).spawn().unwrap();
        let root = child.id();
        // Kill the group and the setsid'd one whatever happens below.
        struct Reap(u32, std::process::Child);
        impl Drop for Reap {
            fn drop(&mut self) {
                if let Some(u) = super::usage(self.0) {
                    for line in &u.tree_dump {
                        if let Some(pid) = line.split_whitespace().nth(1).and_then(|p| p.parse::<i32>().ok()) {
                            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                        }
                    }
                }
                let _ = self.1.kill();
                let _ = self.1.wait();
            }
        }
        let guard = Reap(root, std::process::Command::new("true").spawn().unwrap());
        let mut u = None;
        // Until the whole tree is up and settled: bash, its sleep, and setsid's process in its
        // own group already running sleep (setsid, not a group leader there, execs in place;
        // a process caught mid-exec changes its resident size between the two reads below).
        // Up to 10 s: on a loaded machine bash and setsid take a while to start.
        let root_group = root.to_string();
        for _ in 0..500 {
            u = super::usage(root);
            let settled = |u: &crate::node::ProcUsage| {
                u.tree_dump.len() >= 3
                    && u.tree_dump.iter().any(|l| {
                        let f: Vec<&str> = l.split_whitespace().collect();
                        f.get(3).is_some_and(|g| *g != root_group) && f.get(5) == Some(&"(sleep)")
                    })
            };
            if u.as_ref().is_some_and(settled) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let u = u.expect("the tree is there");
        assert!(u.tree_dump.len() >= 3, "{:#?}", u.tree_dump);
        let stats: Vec<super::Stat> =
            u.tree_dump.iter().filter_map(|l| l.split_whitespace().nth(1)?.parse().ok()).filter_map(super::read_stat).collect();
        assert!(stats.iter().any(|s| s.pgrp != root), "the setsid child is counted: {:#?}", u.tree_dump);
        let pages: u64 = stats.iter().map(|s| s.rss_pages).sum();
        // Each process's own rss, summed: within a few pages of what the monitor saw (the
        // processes run while they are read twice).
        assert!(u.rss_bytes.abs_diff(pages * super::PAGE_SIZE) < 64 * super::PAGE_SIZE, "{} vs {}", u.rss_bytes, pages * super::PAGE_SIZE);
        // Unrelated processes (this test's own) are not in it.
        assert!(!u.tree_dump.iter().any(|l| l.split_whitespace().nth(1) == Some(&std::process::id().to_string())));
        drop(guard);
        let _ = child.kill();
        let _ = child.wait();
        assert!(super::usage(999_999_999).is_none());
    }

    #[test]
    fn single_programs_are_exec_candidates() {
        assert!(super::is_simple("/bin/yarn-sim dshell-am --num_containers 3 1><LOG_DIR>/x 2>/y"));
        assert!(super::is_simple("sleep 30"));
        for s in ["hostname; echo hi", "a && b", "a | b", "x=1 prog", "echo $HOME", "sleep 1 &", "exec foo"] {
            assert!(!super::is_simple(s), "{s}");
        }
    }
}
