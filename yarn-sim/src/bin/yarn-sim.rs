//! `yarn-sim`: start, stop and inspect a miniature YARN cluster; run distributed shell;
//! simulate thousands of nodes.
// A process main and CLI (live driver glue, wall-clock timing): not node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};
use yarn_sim::cli::{cluster, daemons, dshell};

#[derive(Parser)]
#[command(name = "yarn-sim", version, about = "A miniature YARN: live on loopback, or simulated")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Start a ResourceManager and N NodeManager processes on 127.0.0.1.
    Start {
        #[arg(long, default_value_t = 3)]
        nodes: u32,
        #[arg(long, default_value_t = 8192)]
        node_memory_mb: u64,
        #[arg(long, default_value_t = 8)]
        node_vcores: u32,
        #[arg(long)]
        work_dir: Option<PathBuf>,
        /// Extra yarn-site.xml / capacity-scheduler.xml files, applied over the defaults.
        #[arg(long)]
        conf: Vec<PathBuf>,
        #[arg(long, default_value_t = 8088)]
        rm_port: u16,
        /// Return once all nodes are RUNNING, leaving the cluster in the background.
        #[arg(long, short)]
        detach: bool,
        /// Also start a real ZooKeeper server (Debian's zookeeper package) on 127.0.0.1, for
        /// Flink's high-availability.type: zookeeper; stopped with the cluster.
        #[arg(long)]
        zookeeper: bool,
        /// The ZooKeeper client port (with --zookeeper).
        #[arg(long, default_value_t = 2181, requires = "zookeeper")]
        zookeeper_port: u16,
    },
    /// Stop the cluster started from the work dir.
    Stop {
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Show the cluster's daemons and what the RM reports.
    Status {
        #[arg(long)]
        work_dir: Option<PathBuf>,
    },
    /// Run a ResourceManager in the foreground.
    Resourcemanager {
        #[arg(long)]
        conf_dir: Option<PathBuf>,
        /// Overrides yarn.resourcemanager.webapp.address's port.
        #[arg(long)]
        port: Option<u16>,
        /// The cluster secret (hex, mode 600); created if missing. Default: <conf-dir>/cluster-secret.
        #[arg(long)]
        cluster_secret_file: Option<PathBuf>,
    },
    /// Run a NodeManager in the foreground that joins the RM at --rm.
    Nodemanager {
        #[arg(long)]
        rm: String,
        #[arg(long)]
        conf_dir: Option<PathBuf>,
        #[arg(long, default_value = "./nm")]
        work_dir: PathBuf,
        #[arg(long)]
        memory_mb: Option<u64>,
        #[arg(long)]
        vcores: Option<u32>,
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// The ResourceManager's cluster secret file. Default: <conf-dir>/cluster-secret.
        #[arg(long)]
        cluster_secret_file: Option<PathBuf>,
    },
    /// Run a distributed-shell application: N containers each running a shell command.
    Dshell {
        #[arg(long)]
        shell_command: String,
        #[arg(long, default_value_t = 1)]
        num_containers: u32,
        #[arg(long, default_value_t = 128)]
        container_memory: u64,
        #[arg(long, default_value_t = 1)]
        container_vcores: u32,
        #[arg(long, default_value_t = 128)]
        master_memory: u64,
        #[arg(long, default_value_t = 1)]
        master_vcores: u32,
        #[arg(long, default_value_t = 0)]
        priority: i32,
        #[arg(long, default_value = "default")]
        queue: String,
        #[arg(long, default_value = "DistributedShell")]
        appname: String,
        #[arg(long)]
        shell_env: Vec<String>,
        #[arg(long, default_value_t = 0)]
        max_app_attempts: i32,
        /// Milliseconds before the client kills the application.
        #[arg(long, default_value_t = 600000)]
        timeout: u64,
        #[arg(long)]
        rm: Option<String>,
    },
    /// Simulate a cluster in virtual time: NodeManagers heartbeating, dshell apps with
    /// container lifetimes drawn from the seed. Prints speed and the trace hash.
    Simulate {
        #[arg(long, default_value_t = 1000)]
        nodes: u32,
        #[arg(long, default_value_t = 200)]
        apps: u32,
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// Apps arrive uniformly over this many simulated seconds.
        #[arg(long, default_value_t = 600)]
        arrival_secs: u64,
        /// Simulated seconds to run at most (the run ends earlier when every app is done).
        #[arg(long, default_value_t = 3600)]
        duration_secs: u64,
        #[arg(long, default_value_t = 10)]
        max_containers_per_app: u32,
        /// Every app asks for exactly this many containers (instead of 1..=max drawn per app):
        /// a scheduler-bound run, e.g. 100 apps x 1000 on 10,000 nodes.
        #[arg(long)]
        containers_per_app: Option<u32>,
        #[arg(long, default_value_t = 120)]
        max_container_secs: u32,
        /// The NodeManagers start one after another, evenly, over this many milliseconds, as
        /// a real cluster's machines come up at their own moments, and their heartbeats keep
        /// those phases: the default, YARN's heartbeat interval, spreads them evenly over
        /// each second, as a real ResourceManager sees them. 0 starts them all at once, and
        /// every second's heartbeats then come in one burst of a few milliseconds.
        #[arg(long, default_value_t = 1000)]
        nm_start_spread_ms: u64,
    },
    /// The distributed-shell ApplicationMaster (launched by a NodeManager).
    #[command(name = "dshell-am", hide = true)]
    DshellAm {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

/// Set (to how it was optimized) when this binary is the simulation build (`make sim-build`,
/// `scripts/sim-build.sh`): optimized with a profile of simulated runs and built with
/// `panic=abort`, so unwinding code leaves the hot path. A daemon must not run on it: one
/// panic in a request handler would end the whole process, where the release build's
/// handlers fail that request alone. So it runs `simulate` and refuses the rest.
const SIMULATION_BUILD: Option<&str> = option_env!("YARN_SIM_SIMULATION_BUILD");

/// `Err` (the message) for a command the simulation build does not run.
fn refused_by_simulation_build(simulation_build: Option<&str>, cmd: &Cmd) -> Result<(), String> {
    match (simulation_build, cmd) {
        (None, _) | (Some(_), Cmd::Simulate { .. }) => Ok(()),
        (Some(_), _) => Err("this is the simulation build of yarn-sim (panics abort): it runs `simulate` only; \
             daemons and clients run from the release build (target/release/yarn-sim)"
            .to_string()),
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = refused_by_simulation_build(SIMULATION_BUILD, &cli.cmd) {
        eprintln!("yarn-sim: {e}");
        std::process::exit(2);
    }
    let mut out = std::io::stdout();
    let work = |w: Option<PathBuf>| w.unwrap_or_else(cluster::default_work_dir);
    let r = match cli.cmd {
        Cmd::Start { nodes, node_memory_mb, node_vcores, work_dir, conf, rm_port, detach, zookeeper, zookeeper_port } => {
            let work_dir = std::path::absolute(work(work_dir)).unwrap_or_default();
            let zookeeper = zookeeper.then_some(zookeeper_port);
            cluster::start(
                &cluster::StartOpts { nodes, node_memory_mb, node_vcores, work_dir, rm_port, confs: conf, detach, zookeeper },
                &mut out,
            )
        }
        Cmd::Stop { work_dir } => cluster::stop(&work(work_dir), &mut out),
        Cmd::Status { work_dir } => cluster::status(&work(work_dir), &mut out),
        Cmd::Resourcemanager { conf_dir, port, cluster_secret_file } => daemons::resourcemanager(conf_dir, port, cluster_secret_file),
        Cmd::Nodemanager { rm, conf_dir, work_dir, memory_mb, vcores, port, cluster_secret_file } => {
            daemons::nodemanager(daemons::NmOpts { rm, conf_dir, work_dir, memory_mb, vcores, port, secret_file: cluster_secret_file })
        }
        Cmd::Dshell {
            shell_command,
            num_containers,
            container_memory,
            container_vcores,
            master_memory,
            master_vcores,
            priority,
            queue,
            appname,
            shell_env,
            max_app_attempts,
            timeout,
            rm,
        } => dshell::run(
            &dshell::DshellOpts {
                rm,
                shell_command,
                num_containers,
                container_memory_mb: container_memory,
                container_vcores,
                master_memory_mb: master_memory,
                master_vcores,
                priority,
                queue,
                app_name: appname,
                shell_env,
                max_app_attempts,
                timeout: Duration::from_millis(timeout),
            },
            &mut out,
        ),
        Cmd::DshellAm { args } => daemons::dshell_am(args),
        Cmd::Simulate {
            nodes,
            apps,
            seed,
            arrival_secs,
            duration_secs,
            max_containers_per_app,
            containers_per_app,
            max_container_secs,
            nm_start_spread_ms,
        } => {
            huge_pages_for_the_heap();
            let o = yarn_sim::simcluster::SimulateOpts {
                seed,
                nodes,
                apps,
                arrival_window: Duration::from_secs(arrival_secs),
                max_time: Duration::from_secs(duration_secs),
                max_containers_per_app,
                containers_per_app,
                max_container_secs,
                nm_start_spread: Duration::from_millis(nm_start_spread_ms),
            };
            let t0 = std::time::Instant::now();
            // The allocation waves: the simulated slices in which the allocation count rose,
            // their wall time and what they allocated. Nodes heartbeat about together, so a
            // scheduler with asks fills the cluster within a few slices; the rest of the run
            // is the containers' launches and the full cluster's heartbeats.
            let (mut wave_wall, mut wave_allocs, mut wave_slices) = (Duration::ZERO, 0u64, 0u32);
            let (mut last_count, mut slice_start) = (0, std::time::Instant::now());
            let observe = |allocated: u64| {
                let now = std::time::Instant::now();
                if allocated > last_count {
                    wave_wall += now.duration_since(slice_start);
                    wave_allocs += allocated - last_count;
                    wave_slices += 1;
                    last_count = allocated;
                }
                slice_start = now;
            };
            yarn_sim::simcluster::simulate_observed(&o, observe).map(|(r, cluster)| {
                let wall = t0.elapsed().as_secs_f64();
                // The process exits next: the OS frees the cluster faster than its destructors.
                std::mem::forget(cluster);
                println!("nodes: {nodes}  apps: {apps}  seed: {seed}");
                println!("simulated time: {:.1} s", r.simulated.as_secs_f64());
                println!("wall time: {wall:.2} s  ({:.0}x real time)", r.simulated.as_secs_f64() / wall.max(1e-9));
                println!("events: {}  ({:.0} events/s)", r.events, r.events as f64 / wall.max(1e-9));
                println!(
                    "containers allocated: {}  ({:.0} allocations per wall second)",
                    r.containers_allocated,
                    r.containers_allocated as f64 / wall.max(1e-9)
                );
                if wave_slices > 0 {
                    println!(
                        "allocating: {wave_allocs} allocations in {:.3} s wall, over {wave_slices} slices of {} ms simulated ({:.0} allocations per wall second)",
                        wave_wall.as_secs_f64(),
                        yarn_sim::simcluster::PROGRESS_EVERY.as_millis(),
                        wave_allocs as f64 / wave_wall.as_secs_f64().max(1e-9)
                    );
                }
                println!("apps finished: {} of {apps}, succeeded: {}", r.apps_finished, r.apps_succeeded);
                println!("trace hash: {:016x}", r.trace_hash);
                if let Some(how) = SIMULATION_BUILD {
                    println!("build: simulation ({how}, panic=abort)");
                }
                0
            })
        }
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("yarn-sim: {e}");
            std::process::exit(1);
        }
    }
}

/// `simulate` walks tens of megabytes of process and node records in an order no hardware
/// prefetcher predicts: with 4 KiB pages most of those reads also miss the TLB, and the page
/// walks were ~15 % of a 10,000-node run (~20 % on the eighteenth round's machine). glibc's malloc
/// backs its heap with transparent huge pages (2 MiB) when the `glibc.malloc.hugetlb=1`
/// tunable is set, which it reads only at process start: so `simulate` runs itself again with
/// it unless the caller set `GLIBC_TUNABLES` already. Where that fails (or on another libc) it
/// runs as it is; the simulation is the same either way, only faster.
///
/// glibc 2.35 and 2.36 (Debian 12's) decide whether the kernel's huge pages are in `madvise`
/// mode by reading `/sys/kernel/mm/transparent_hugepage/enabled` into a buffer they do not
/// terminate before comparing it as a string: the answer depends on one byte of leftover
/// stack, which address randomization and the environment change from run to run. Runs of
/// one binary split into two speeds a fifth apart (10,000 NodeManagers x 1,200 s: 2.62-2.67 s
/// with ~52 MiB on huge pages, 3.15-3.27 s with none; half the runs started this way had
/// none). So the run started with the tunable checks that glibc took it (a mapping it made
/// carries the kernel's `hg` flag) and, if not, starts again, a few times at most: each start
/// draws a new stack.
fn huge_pages_for_the_heap() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        const TRIES: &str = "YARN_SIM_HUGE_PAGE_TRIES";
        const MAX_TRIES: u32 = 8;
        let tries: Option<u32> = std::env::var(TRIES).ok().and_then(|v| v.parse().ok());
        let again = match tries {
            // Not started by us: the caller's own tunables, if any, stand.
            None if std::env::var_os("GLIBC_TUNABLES").is_some() => return,
            None => 1,
            Some(n) if n >= MAX_TRIES || malloc_asks_for_huge_pages() != Some(false) => return,
            Some(n) => n + 1,
        };
        if let Ok(exe) = std::env::current_exe() {
            // `exec` returns only if it failed.
            let _ = std::process::Command::new(exe)
                .args(std::env::args_os().skip(1))
                .env("GLIBC_TUNABLES", "glibc.malloc.hugetlb=1")
                .env(TRIES, again.to_string())
                .exec();
        }
    }
}

/// Whether this process's malloc asks the kernel for huge pages: a block too large for the
/// heap gets a mapping of its own, which glibc advises (`MADV_HUGEPAGE`, shown as `hg` in
/// `/proc/self/smaps`) when the tunable took. `None` where that cannot be told (the kernel
/// not in `madvise` mode, where glibc rightly asks for nothing; no `/proc`).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn malloc_asks_for_huge_pages() -> Option<bool> {
    let mode = std::fs::read_to_string("/sys/kernel/mm/transparent_hugepage/enabled").ok()?;
    if !mode.contains("[madvise]") {
        return None;
    }
    // Kept alive (and its address taken) until the listing is read: the mapping is there.
    let block: Vec<u8> = std::hint::black_box(Vec::with_capacity(4 << 20));
    let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
    advised_huge(&smaps, block.as_ptr() as usize)
}

/// Whether the mapping holding `at` in an `smaps` listing carries the `hg` flag
/// (`MADV_HUGEPAGE`); `None` if no mapping holds it or the listing has no flags for it.
#[cfg(any(test, all(target_os = "linux", target_env = "gnu")))]
fn advised_huge(smaps: &str, at: usize) -> Option<bool> {
    // A mapping's first line: `start-end perms offset dev inode [path]`, in hex.
    let range = |line: &str| -> Option<(usize, usize)> {
        let (lo, hi) = line.split_whitespace().next()?.split_once('-')?;
        Some((usize::from_str_radix(lo, 16).ok()?, usize::from_str_radix(hi, 16).ok()?))
    };
    let mut inside = false;
    for line in smaps.lines() {
        if let Some((lo, hi)) = range(line) {
            inside = lo <= at && at < hi;
        } else if let Some(flags) = line.strip_prefix("VmFlags:").filter(|_| inside) {
            return Some(flags.split_whitespace().any(|f| f == "hg"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags of the mapping that holds the address, not of its neighbours; an address no
    /// mapping holds (or a mapping's end, which is outside it) gives no answer.
    #[test]
    fn advised_huge_reads_the_flags_of_the_mapping_that_holds_the_address() {
        let smaps = "\
55f3a8eca000-55f3a90ca000 rw-p 00000000 00:00 0                          [heap]
Size:               2048 kB
AnonHugePages:         0 kB
VmFlags: rd wr mr mw me ac
7f54d8b0d000-7f54d910f000 rw-p 00000000 00:00 0
Size:               6152 kB
THPeligible:    1
AnonHugePages:      2048 kB
VmFlags: rd wr mr mw me ac hg
7f54d9593000-7f54d9677000 rw-p 00000000 00:00 0
VmFlags: rd wr mr mw me nh
";
        assert_eq!(advised_huge(smaps, 0x55f3_a8ec_a000), Some(false));
        assert_eq!(advised_huge(smaps, 0x7f54_d8b0_d000 + 4096), Some(true));
        assert_eq!(advised_huge(smaps, 0x7f54_d910_f000), None, "the end is outside");
        assert_eq!(advised_huge(smaps, 0x7f54_d959_3000), Some(false), "nh is not hg");
        assert_eq!(advised_huge(smaps, 0x1000), None);
    }

    /// The simulation build runs `simulate` and nothing that serves requests; the release
    /// build runs everything.
    #[test]
    fn the_simulation_build_runs_simulate_only() {
        let parse = |args: &[&str]| Cli::try_parse_from(std::iter::once("yarn-sim").chain(args.iter().copied())).expect("parses").cmd;
        let simulate = parse(&["simulate", "--nodes", "3"]);
        let start = parse(&["start", "--nodes", "1"]);
        let rm = parse(&["resourcemanager"]);
        for cmd in [&simulate, &start, &rm] {
            assert_eq!(refused_by_simulation_build(None, cmd), Ok(()));
        }
        assert_eq!(refused_by_simulation_build(Some("training runs"), &simulate), Ok(()));
        for cmd in [&start, &rm] {
            let e = refused_by_simulation_build(Some("training runs"), cmd).expect_err("refused");
            assert!(e.contains("simulation build") && e.contains("target/release/yarn-sim"), "{e}");
        }
    }
}
