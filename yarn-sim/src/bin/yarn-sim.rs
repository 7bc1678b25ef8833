//! `yarn-sim`: start, stop and inspect a miniature YARN cluster; run distributed shell;
//! simulate thousands of nodes.
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
    /// The distributed-shell ApplicationMaster (launched by a NodeManager).
    #[command(name = "dshell-am", hide = true)]
    DshellAm {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}

fn main() {
    let cli = Cli::parse();
    let mut out = std::io::stdout();
    let work = |w: Option<PathBuf>| w.unwrap_or_else(cluster::default_work_dir);
    let r = match cli.cmd {
        Cmd::Start { nodes, node_memory_mb, node_vcores, work_dir, conf, rm_port, detach } => {
            let work_dir = std::path::absolute(work(work_dir)).unwrap_or_default();
            cluster::start(&cluster::StartOpts { nodes, node_memory_mb, node_vcores, work_dir, rm_port, confs: conf, detach }, &mut out)
        }
        Cmd::Stop { work_dir } => cluster::stop(&work(work_dir), &mut out),
        Cmd::Status { work_dir } => cluster::status(&work(work_dir), &mut out),
        Cmd::Resourcemanager { conf_dir, port } => daemons::resourcemanager(conf_dir, port),
        Cmd::Nodemanager { rm, conf_dir, work_dir, memory_mb, vcores, port } => {
            daemons::nodemanager(daemons::NmOpts { rm, conf_dir, work_dir, memory_mb, vcores, port })
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
    };
    match r {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("yarn-sim: {e}");
            std::process::exit(1);
        }
    }
}
