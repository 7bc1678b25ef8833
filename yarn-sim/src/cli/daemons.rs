//! The long-running processes: `yarn-sim resourcemanager`, `yarn-sim nodemanager` and the
//! distributed-shell AM (`yarn-sim dshell-am`), each a node under the live driver.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

pub struct NmOpts {
    pub rm: String,
    pub conf_dir: Option<PathBuf>,
    pub work_dir: PathBuf,
    pub memory_mb: Option<u64>,
    pub vcores: Option<u32>,
    pub port: u16,
}

pub fn nodemanager(o: NmOpts) -> Result<i32, String> {
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
        let cfg = NmConfig::from_conf(&conf, addr.to_string(), conf_dir)?;
        eprintln!("NodeManager {addr} starting; RM {} ; {} MB, {} vcores", o.rm, cfg.resource.memory_mb, cfg.resource.vcores);
        let host = LiveNode::new(NodeManager::new(cfg), addr, store, codecs(), seed());
        let routes = crate::rest::nm::routes(host.clone());
        Ok(host.run(listener, routes).await)
    })
}

pub fn dshell_am(args: Vec<String>) -> Result<i32, String> {
    let a = DshellArgs::parse(&args)?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let conf = match env.get("HADOOP_CONF_DIR").filter(|d| !d.is_empty()) {
        Some(d) => Configuration::load(&Path::new(d).join("yarn-site.xml")).unwrap_or_default(),
        None => Configuration::new(),
    };
    let store = store_root(&conf, Path::new("."));
    runtime().block_on(async move {
        let (listener, addr) = bind_loopback(0).await.map_err(|e| e.to_string())?;
        let host = LiveNode::new(DistributedShellAm::new(a, env), addr, store, codecs(), seed());
        Ok(host.run(listener, axum::Router::new()).await)
    })
}

pub fn resourcemanager(conf_dir: Option<PathBuf>, port: Option<u16>) -> Result<i32, String> {
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
        let cfg = crate::rm::RmConfig::from_conf(&conf)?;
        eprintln!("ResourceManager starting on http://{addr}");
        let host = LiveNode::new(crate::rm::ResourceManager::new(cfg), addr, store, codecs(), seed());
        let routes = crate::rest::rm::routes(host.clone());
        Ok(host.run(listener, routes).await)
    })
}
