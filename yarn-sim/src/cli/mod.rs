//! The command-line tools: `yarn` (Hadoop's client commands) and `yarn-sim` (start, stop and
//! inspect a cluster, run distributed shell, simulate). Binaries in `src/bin` are one line.

pub mod cluster;
pub mod daemons;
pub mod dshell;
pub mod fmt;
pub mod http;
pub mod yarn;
pub mod zookeeper;

use crate::conf::{client_conf_dir, Configuration};

/// The RM's web address, found the Hadoop way: `--rm` if given, else `yarn-site.xml` in
/// `$YARN_CONF_DIR` / `$HADOOP_CONF_DIR`, else 127.0.0.1:8088.
pub fn rm_address(flag: Option<&str>) -> Result<String, String> {
    if let Some(f) = flag {
        return Ok(f.to_string());
    }
    if let Some(dir) = client_conf_dir() {
        let conf = Configuration::load(&dir.join("yarn-site.xml"))?;
        if let Some(a) = conf.get("yarn.resourcemanager.webapp.address") {
            return Ok(a);
        }
    }
    Ok("127.0.0.1:8088".to_string())
}

/// Takes `--rm ADDR` (or `--rm=ADDR`) out of an argument list.
pub fn take_rm_flag(args: &mut Vec<String>) -> Option<String> {
    let i = args.iter().position(|a| a == "--rm" || a.starts_with("--rm="))?;
    let a = args.remove(i);
    match a.strip_prefix("--rm=") {
        Some(v) => Some(v.to_string()),
        None if i < args.len() => Some(args.remove(i)),
        None => None,
    }
}

/// The user clients act as: `$HADOOP_USER_NAME`, else `$USER`, else "root".
pub fn current_user() -> String {
    std::env::var("HADOOP_USER_NAME").or_else(|_| std::env::var("USER")).unwrap_or_else(|_| "root".into())
}
