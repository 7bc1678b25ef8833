//! ContainersMonitor: compares each running container's process-tree memory with its limits
//! and decides kills the way ContainersMonitorImpl does.

use std::collections::BTreeMap;

use engine::ProcUsage;

use crate::ids::ContainerId;
use crate::records::{exit_status, Resource};

/// Hadoop's `StringUtils.TraditionalBinaryPrefix.long2String(n, "", 1)`: "512 M", "1.2 G", "100".
pub fn long2string(n: u64) -> String {
    const SYMBOLS: [&str; 6] = ["K", "M", "G", "T", "P", "E"];
    if n < 1024 {
        return n.to_string();
    }
    let mut i = 0;
    while i + 1 < SYMBOLS.len() && n >= 1u64 << (10 * (i + 2)) {
        i += 1;
    }
    let shift = 10 * (i + 1);
    if n & ((1u64 << shift) - 1) == 0 {
        return format!("{} {}", n >> shift, SYMBOLS[i]);
    }
    let mut s = format!("{:.1}", n as f64 / (1u64 << shift) as f64);
    // 1023.96 M rounds to "1024.0": Hadoop moves to the next prefix.
    if s.starts_with("1024") && i + 1 < SYMBOLS.len() {
        i += 1;
        s = format!("{:.1}", n as f64 / (1u64 << (10 * (i + 1))) as f64);
    }
    format!("{s} {}", SYMBOLS[i])
}

/// The header of ProcfsBasedProcessTree's dump.
pub const PROCESS_TREE_HEADER: &str =
    "\t|- PID PPID PGRPID SESSID CMD_NAME USER_MODE_TIME(MILLIS) SYSTEM_TIME(MILLIS) VMEM_USAGE(BYTES) RSSMEM_USAGE(PAGES) FULL_CMD_LINE\n";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum MemType {
    Virtual,
    Physical,
}

/// A container the monitor wants killed.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct Violation {
    pub exit_status: i32,
    pub diagnostics: String,
}

/// Over-limit flags from the previous pass, per container: a tree over its limit twice in a
/// row stands in for YARN's "processes older than one iteration are over the limit", which
/// spares a fork()+exec() that briefly doubles the tree.
#[derive(Clone, Copy, Default, Debug)]
struct Previous {
    vmem_over: bool,
    pmem_over: bool,
}

#[derive(Default, Debug)]
pub struct ContainersMonitor {
    previous: BTreeMap<ContainerId, Previous>,
}

impl ContainersMonitor {
    pub fn new() -> ContainersMonitor {
        ContainersMonitor::default()
    }

    /// Stops tracking containers that are no longer running.
    pub fn retain(&mut self, running: &[ContainerId]) {
        self.previous.retain(|id, _| running.contains(id));
    }

    /// One check of one container: vmem first (if enabled), then pmem, as YARN does.
    pub fn check(
        &mut self,
        id: &ContainerId,
        resource: &Resource,
        usage: &ProcUsage,
        pmem_check: bool,
        vmem_check: bool,
        vmem_ratio: f64,
    ) -> Option<Violation> {
        let pmem_limit = resource.memory_mb * 1024 * 1024;
        let vmem_limit = (pmem_limit as f64 * vmem_ratio) as u64;
        let prev = self.previous.get(id).copied().unwrap_or_default();
        let vmem_over = usage.vmem_bytes > vmem_limit;
        let pmem_over = usage.rss_bytes > pmem_limit;
        self.previous.insert(*id, Previous { vmem_over, pmem_over });
        let over = |now: u64, limit: u64, before: bool| now > limit.saturating_mul(2) || (now > limit && before);
        let kind = if vmem_check && over(usage.vmem_bytes, vmem_limit, prev.vmem_over) {
            MemType::Virtual
        } else if pmem_check && over(usage.rss_bytes, pmem_limit, prev.pmem_over) {
            MemType::Physical
        } else {
            return None;
        };
        self.previous.remove(id);
        let (delta, name, exit) = match kind {
            MemType::Virtual => (usage.vmem_bytes - vmem_limit, "VIRTUAL", exit_status::KILLED_EXCEEDED_VMEM),
            MemType::Physical => (usage.rss_bytes - pmem_limit, "PHYSICAL", exit_status::KILLED_EXCEEDED_PMEM),
        };
        let mut d = format!(
            "Container [pid={},containerID={id}] is running {delta}B beyond the '{name}' memory limit. Current usage: {}B of {}B physical memory used; {}B of {}B virtual memory used. Killing container.\nDump of the process-tree for {id} :\n",
            usage.os_pid,
            long2string(usage.rss_bytes),
            long2string(pmem_limit),
            long2string(usage.vmem_bytes),
            long2string(vmem_limit),
        );
        d.push_str(PROCESS_TREE_HEADER);
        for line in &usage.tree_dump {
            d.push('\t');
            d.push_str(line);
            d.push('\n');
        }
        Some(Violation { exit_status: exit, diagnostics: d })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{ApplicationAttemptId, ApplicationId};

    #[test]
    fn sizes_format_like_hadoop() {
        assert_eq!(long2string(100), "100");
        assert_eq!(long2string(1024), "1 K");
        assert_eq!(long2string(512 << 20), "512 M");
        assert_eq!(long2string(1 << 30), "1 G");
        assert_eq!(long2string((1u64 << 30) + (1 << 30) / 5), "1.2 G");
        assert_eq!(long2string((2u64 << 30) * 21 / 10), "4.2 G");
        assert_eq!(long2string((1u64 << 30) - 1), "1.0 G");
    }

    fn usage(rss: u64) -> ProcUsage {
        ProcUsage { os_pid: 7, rss_bytes: rss, vmem_bytes: rss, tree_dump: vec!["|- 7 1 7 7 (sh) 0 0 1 1 sh".into()] }
    }

    #[test]
    fn kill_on_double_or_twice_over() {
        let id = ContainerId::new(ApplicationAttemptId::new(ApplicationId::new(1, 1), 1), 2);
        let r = Resource::new(100, 1);
        let mut m = ContainersMonitor::new();
        let over = 110 << 20;
        assert!(m.check(&id, &r, &usage(over), true, false, 2.1).is_none());
        let v = m.check(&id, &r, &usage(over), true, false, 2.1).unwrap();
        assert_eq!(v.exit_status, -104);
        assert!(v.diagnostics.starts_with(&format!(
            "Container [pid=7,containerID={id}] is running {}B beyond the 'PHYSICAL' memory limit. Current usage: 110 MB of 100 MB physical memory used; 110 MB of 210 MB virtual memory used. Killing container.\nDump of the process-tree for {id} :\n\t|- PID PPID",
            10u64 << 20
        )));
        assert!(v.diagnostics.ends_with("\t|- 7 1 7 7 (sh) 0 0 1 1 sh\n"));
        let mut m = ContainersMonitor::new();
        assert!(m.check(&id, &r, &usage(201 << 20), true, false, 2.1).is_some());
        let mut m = ContainersMonitor::new();
        assert_eq!(m.check(&id, &r, &usage(300 << 20), true, true, 1.0).unwrap().exit_status, -103);
        assert!(m.check(&id, &r, &usage(300 << 20), false, false, 1.0).is_none());
    }
}
