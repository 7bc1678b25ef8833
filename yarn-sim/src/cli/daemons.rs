//! The long-running processes: `yarn-sim resourcemanager`, `yarn-sim nodemanager` and the
//! distributed-shell AM (`yarn-sim dshell-am`), each a node under the live driver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use engine::live::auth::{ClusterSecret, SECRET_ENV, SECRET_FILE};
use engine::live::{bind_loopback, LiveNode};
use engine::Codecs;

use crate::conf::Configuration;
use crate::dshell::{DistributedShellAm, DshellArgs};
use crate::nm::{NmConfig, NodeManager};
use crate::proto::YarnMsg;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime")
}

fn codecs() -> Codecs {
    Codecs::new().with::<YarnMsg>()
}

/// The shared store's directory: `fs.defaultFS` (file://) or `fallback`.
pub fn store_root(conf: &Configuration, fallback: &Path) -> PathBuf {
    conf.get("fs.defaultFS").and_then(|f| f.strip_prefix("file://").map(PathBuf::from)).unwrap_or_else(|| fallback.to_path_buf())
}

fn load_conf(dir: Option<&Path>) -> Result<Configuration, String> {
    match dir {
        Some(d) => Configuration::load(&d.join("yarn-site.xml")),
        None => Ok(Configuration::new()),
    }
}

fn seed() -> u64 {
    std::process::id() as u64
}

/// A daemon's cluster secret: `--cluster-secret-file`, else `<conf-dir>/cluster-secret` (what
/// `yarn-sim start` writes), else `$YARN_SIM_CLUSTER_SECRET`. With `create` (the
/// ResourceManager) a missing file is created with a fresh secret, for NodeManagers to read;
/// otherwise a missing secret is an error: a daemon never runs unauthenticated.
pub fn cluster_secret(flag: Option<&Path>, conf_dir: Option<&Path>, create: bool) -> Result<ClusterSecret, String> {
    let create_in = |f: &Path| -> Result<ClusterSecret, String> {
        let s = ClusterSecret::generate()?;
        s.write_file(f)?;
        eprintln!("created a new cluster secret in {} (NodeManagers need it: --cluster-secret-file)", f.display());
        Ok(s)
    };
    if let Some(f) = flag {
        return match (f.exists(), create) {
            (true, _) => ClusterSecret::read_file(f),
            (false, true) => create_in(f),
            (false, false) => {
                Err(format!("no cluster secret: {} does not exist (copy the ResourceManager's there, mode 600)", f.display()))
            }
        };
    }
    let in_conf = conf_dir.map(|d| d.join(SECRET_FILE));
    if let Some(f) = in_conf.as_ref().filter(|f| f.exists()) {
        return ClusterSecret::read_file(f);
    }
    if let Some(s) = ClusterSecret::from_env()? {
        return Ok(s);
    }
    match in_conf {
        Some(f) if create => create_in(&f),
        _ => Err(format!(
            "no cluster secret: give --cluster-secret-file FILE, a --conf-dir holding {SECRET_FILE} (yarn-sim start writes one), or set {SECRET_ENV}"
        )),
    }
}

/// A daemon's pid file in its cluster's `run/` dir, when its conf dir is a `yarn-sim start`
/// work dir's `conf/`: `yarn-sim status` and `stop` then see a daemon restarted by hand
/// (`yarn-sim resourcemanager --conf-dir <work>/conf`) as they see the ones `start` spawned.
/// Removed when the daemon exits, unless another process has taken it over meanwhile.
struct PidFile(Option<PathBuf>);

impl PidFile {
    fn create(conf_dir: Option<&Path>, name: &str) -> PidFile {
        let run = conf_dir.and_then(|d| std::path::absolute(d).ok()).and_then(|d| d.parent().map(|w| w.join("run")));
        let Some(run) = run.filter(|r| r.is_dir()) else { return PidFile(None) };
        let f = run.join(format!("{name}.pid"));
        match std::fs::write(&f, std::process::id().to_string()) {
            Ok(()) => PidFile(Some(f)),
            Err(e) => {
                eprintln!("cannot write pid file {}: {e}", f.display());
                PidFile(None)
            }
        }
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        if let Some(f) = &self.0 {
            if std::fs::read_to_string(f).ok().and_then(|p| p.trim().parse::<u32>().ok()) == Some(std::process::id()) {
                let _ = std::fs::remove_file(f);
            }
        }
    }
}

/// The pid file name of a NodeManager: `nodemanager-<i>` in `yarn-sim start`'s `nm-<i>` work
/// dirs, else by port.
fn nm_pid_name(work: &Path, port: u16) -> String {
    match work.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("nm-")) {
        Some(i) if !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) => format!("nodemanager-{i}"),
        _ => format!("nodemanager-{port}"),
    }
}

pub struct NmOpts {
    pub rm: String,
    pub conf_dir: Option<PathBuf>,
    pub work_dir: PathBuf,
    pub memory_mb: Option<u64>,
    pub vcores: Option<u32>,
    pub port: u16,
    pub secret_file: Option<PathBuf>,
}

pub fn nodemanager(o: NmOpts) -> Result<i32, String> {
    let secret = cluster_secret(o.secret_file.as_deref(), o.conf_dir.as_deref(), false)?;
    let mut conf = load_conf(o.conf_dir.as_deref())?;
    conf.set("yarn.resourcemanager.resource-tracker.address", &o.rm);
    let work = std::path::absolute(&o.work_dir).map_err(|e| e.to_string())?;
    if conf.get("yarn.nodemanager.local-dirs").is_none() {
        conf.set("yarn.nodemanager.local-dirs", work.join("local").display());
    }
    if conf.get("yarn.nodemanager.log-dirs").is_none() {
        conf.set("yarn.nodemanager.log-dirs", work.join("logs").display());
    }
    if let Some(m) = o.memory_mb {
        conf.set("yarn.nodemanager.resource.memory-mb", m);
    }
    if let Some(v) = o.vcores {
        conf.set("yarn.nodemanager.resource.cpu-vcores", v);
    }
    let store = store_root(&conf, &work.join("dfs"));
    let conf_dir = o.conf_dir.as_ref().map(|d| d.display().to_string()).unwrap_or_default();
    runtime().block_on(async move {
        let (listener, addr) = bind_loopback(o.port).await.map_err(|e| format!("cannot bind 127.0.0.1:{}: {e}", o.port))?;
        let mut cfg = NmConfig::from_conf(&conf, addr.to_string(), conf_dir)?;
        cfg.cluster_secret = Some(secret.to_hex());
        // yarn.nodemanager.env-whitelist and admin-env: containers get the NM's own values.
        cfg.inherited_env = cfg.inheritable().iter().filter_map(|k| Some((k.clone(), std::env::var(k).ok()?))).collect();
        let _pid = PidFile::create(o.conf_dir.as_deref(), &nm_pid_name(&work, addr.port()));
        eprintln!("NodeManager {addr} starting; RM {} ; {} MB, {} vcores", o.rm, cfg.resource.memory_mb, cfg.resource.vcores);
        // ContainerManagementProtocol over Hadoop IPC on the same port (NMClient's address is
        // the container's NodeId, this port).
        let host = LiveNode::new(NodeManager::new(cfg), addr, store, codecs(), seed()).with_secret(secret);
        let host = crate::hrpc::nm_service::with_hadoop_rpc(host);
        let routes = crate::rest::nm::routes(host.clone());
        Ok(host.run(listener, routes).await)
    })
}

pub fn dshell_am(args: Vec<String>) -> Result<i32, String> {
    let a = DshellArgs::parse(&args)?;
    let secret = ClusterSecret::for_container()?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let conf = match env.get("HADOOP_CONF_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Configuration::load(&Path::new(d).join("yarn-site.xml")).unwrap_or_default(),
        None => Configuration::new(),
    };
    let store = store_root(&conf, Path::new("."));
    runtime().block_on(async move {
        let (listener, addr) = bind_loopback(0).await.map_err(|e| e.to_string())?;
        let host = LiveNode::new(DistributedShellAm::new(a, env), addr, store, codecs(), seed()).with_secret(secret);
        Ok(host.run(listener, axum::Router::new()).await)
    })
}

pub fn resourcemanager(conf_dir: Option<PathBuf>, port: Option<u16>, secret_file: Option<PathBuf>) -> Result<i32, String> {
    let secret = cluster_secret(secret_file.as_deref(), conf_dir.as_deref(), true)?;
    let mut conf = load_conf(conf_dir.as_deref())?;
    let configured = conf.get("yarn.resourcemanager.webapp.address").unwrap_or_else(|| "127.0.0.1:8088".into());
    let port = match port {
        Some(p) => p,
        None => configured
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse().ok())
            .ok_or_else(|| format!("bad yarn.resourcemanager.webapp.address: {configured}"))?,
    };
    let store = store_root(&conf, Path::new("./dfs"));
    runtime().block_on(async move {
        let (listener, addr) = bind_loopback(port).await.map_err(|e| format!("Port in use: 127.0.0.1:{port} ({e})"))?;
        // Servers bind loopback whatever the file says; tracking URLs use the bound address.
        conf.set("yarn.resourcemanager.webapp.address", addr);
        let mut cfg = crate::rm::RmConfig::from_conf(&conf)?;
        // AdminACLsManager: the user running the ResourceManager is always an admin.
        cfg.acls.admin.add_user(&super::current_user());
        let _pid = PidFile::create(conf_dir.as_deref(), "resourcemanager");
        eprintln!(
            "ResourceManager starting on http://{addr}{}",
            if cfg.recovery_enabled { format!("; recovery enabled, state store {}", cfg.state_store_root) } else { String::new() }
        );
        let host = LiveNode::new(crate::rm::ResourceManager::new(cfg), addr, store, codecs(), seed()).with_secret(secret);
        // Hadoop RPC (YarnClient, AMRMClient) on the same port: yarn.resourcemanager.address
        // and yarn.resourcemanager.scheduler.address name it.
        let host = crate::hrpc::rm_service::with_hadoop_rpc(host);
        let routes = crate::rest::rm::routes(host.clone());
        Ok(host.run(listener, routes).await)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daemons_find_the_secret_or_refuse_to_start() {
        let dir = std::env::temp_dir().join(format!("yarn-sim-secret-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // The env var is not set in unit tests (and is only read when nothing else is found).
        if std::env::var(SECRET_ENV).is_err() {
            assert!(cluster_secret(None, None, false).unwrap_err().starts_with("no cluster secret"));
            assert!(cluster_secret(None, Some(&dir), false).unwrap_err().starts_with("no cluster secret"));
        }
        // The ResourceManager creates one in its conf dir; a NodeManager then reads it.
        let rm = cluster_secret(None, Some(&dir), true).unwrap();
        assert_eq!(cluster_secret(None, Some(&dir), false).unwrap().to_hex(), rm.to_hex());
        let f = dir.join("other");
        assert!(cluster_secret(Some(&f), Some(&dir), false).unwrap_err().contains("does not exist"));
        let made = cluster_secret(Some(&f), None, true).unwrap();
        assert_ne!(made.to_hex(), rm.to_hex());
        assert_eq!(cluster_secret(Some(&f), Some(&dir), false).unwrap().to_hex(), made.to_hex());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
