//! `taskexec`: a Flink TaskManager process, as a NodeManager launches it in its container.
//! Configuration comes from the container environment the ApplicationMaster set.
// A process main (live driver glue, reads its config files): not node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::collections::BTreeMap;

use engine::live::{bind_loopback, LiveNode};
use engine::Codecs;
use taskexec::{TaskExecutor, TaskExecutorConfig};

fn main() {
    let secret = match engine::live::ClusterSecret::for_container() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("taskexec: {e}");
            std::process::exit(1);
        }
    };
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let cfg = match TaskExecutorConfig::from_env(&env) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("taskexec: {e}");
            std::process::exit(1);
        }
    };
    // The shared store, for file sources and sinks: fs.defaultFS of the cluster's yarn-site.
    let store = env.get("HADOOP_CONF_DIR").and_then(|d| yarn_conf_store(d)).unwrap_or_else(|| std::path::PathBuf::from("."));
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    let code = rt.block_on(async move {
        let (listener, addr) = match bind_loopback(0).await {
            Ok(x) => x,
            Err(e) => {
                eprintln!("taskexec: cannot bind: {e}");
                return 1;
            }
        };
        println!("Starting TaskExecutor {} at {addr} with {} slots", cfg.resource_id, cfg.num_slots);
        let seed = std::process::id() as u64;
        let quorum = cfg.leader_retrieval.as_ref().map(|l| l.quorum);
        let mut host =
            LiveNode::new(TaskExecutor::new(cfg), addr, store, flink_core::protocol::codecs(Codecs::new()), seed).with_secret(secret);
        if let Some(q) = quorum {
            // Leader retrieval's ZooKeeper messages go to the real server through the gateway.
            host = host.with_gateway(q, flink_core::live::zk_gateway::ZkGateway::new(q));
        }
        host.run(listener, axum::Router::new()).await
    });
    std::process::exit(code);
}

/// `fs.defaultFS` (file://) from `<dir>/yarn-site.xml`, read without pulling in the YARN crate.
fn yarn_conf_store(dir: &str) -> Option<std::path::PathBuf> {
    let text = std::fs::read_to_string(std::path::Path::new(dir).join("yarn-site.xml")).ok()?;
    let i = text.find("<name>fs.defaultFS</name>")?;
    let rest = &text[i..];
    let v = rest.split("<value>").nth(1)?.split("</value>").next()?;
    v.strip_prefix("file://").map(std::path::PathBuf::from)
}
