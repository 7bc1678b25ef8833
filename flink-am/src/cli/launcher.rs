//! `flink-am <session|application|per-job>`: the ApplicationMaster process a NodeManager
//! starts. It reads the staged `config.yaml` (and `program.toml` / `job-graph.json`) from its
//! working directory, binds the REST endpoint on loopback and runs the AM node.

use std::collections::BTreeMap;
use std::path::Path;

use engine::live::{bind_loopback, LiveNode};
use engine::Codecs;
use flink_core::config::FlinkConfig;
use flink_core::program::Program;
use flink_core::JobGraph;
use yarn_sim::YarnMsg;

use crate::{AmConfig, AmMode, FlinkAppMaster};

fn random_u128() -> u128 {
    let mut b = [0u8; 16];
    let ok = std::fs::File::open("/dev/urandom").and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b)).is_ok();
    if ok {
        u128::from_le_bytes(b)
    } else {
        super::now_ms() as u128 ^ ((std::process::id() as u128) << 64)
    }
}

/// Harness defaults of the ZooKeeper client (Flink: 60 s session, 15 s connection timeout),
/// short so that a dead leader's latch goes with its session within seconds.
pub const HA_SESSION_TIMEOUT_MS: u64 = 3_000;
pub const HA_CONNECTION_TIMEOUT_MS: u64 = 5_000;

/// `high-availability.zookeeper.quorum` as an address: one `host:port` (the harness runs a
/// standalone server), `localhost` meaning 127.0.0.1.
pub fn parse_quorum(v: &str) -> Result<engine::Addr, String> {
    let k = "high-availability.zookeeper.quorum";
    let servers: Vec<&str> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).collect();
    match servers.as_slice() {
        [] => Err(format!("No ZooKeeper quorum specified in config ({k}).")),
        [one] => {
            let one = one.strip_prefix("localhost:").map(|p| format!("127.0.0.1:{p}")).unwrap_or_else(|| one.to_string());
            one.parse().map_err(|_| format!("Invalid {k} '{v}': expected one IPv4 host:port such as 127.0.0.1:2181"))
        }
        _ => {
            Err(format!("Invalid {k} '{v}': this harness runs a standalone ZooKeeper (yarn-sim start --zookeeper), so give one host:port"))
        }
    }
}

/// The HA settings (`high-availability.*`, Flink's keys), None without HA. The storage dir must
/// lie in the shared store; an absolute path outside the store's directory is a path on the
/// default file system (as Hadoop resolves a scheme-less `/ha` against `fs.defaultFS`).
pub fn ha_config(conf: &FlinkConfig, store_root: Option<&Path>) -> Result<Option<crate::ha::HaConfig>, String> {
    if !conf.ha_zookeeper()? {
        return Ok(None);
    }
    let quorum = ["high-availability.zookeeper.quorum", "ha.zookeeper.quorum", "recovery.zookeeper.quorum"]
        .iter()
        .find_map(|k| conf.get(k))
        .ok_or("No ZooKeeper quorum specified in config (high-availability.zookeeper.quorum).")?;
    let quorum = parse_quorum(quorum)?;
    let key = "high-availability.storageDir";
    let raw = ["high-availability.storageDir", "high-availability.zookeeper.storageDir", "recovery.zookeeper.storageDir"]
        .iter()
        .find_map(|k| conf.get(k))
        .ok_or_else(|| format!("Configuration is missing the mandatory parameter: {key}"))?;
    let storage_dir = flink_core::config::store_path(raw, store_root, key).or_else(|e| match raw.trim().strip_prefix('/') {
        Some(rel) => engine::store::check_path(rel).map_err(|_| e),
        None => Err(e),
    })?;
    let session_timeout_ms = conf.duration_ms("high-availability.zookeeper.client.session-timeout", HA_SESSION_TIMEOUT_MS)?;
    let connection_timeout_ms = conf.duration_ms("high-availability.zookeeper.client.connection-timeout", HA_CONNECTION_TIMEOUT_MS)?;
    Ok(Some(crate::ha::HaConfig {
        quorum,
        storage_dir,
        cluster_id: conf.get("high-availability.cluster-id").unwrap_or("").trim().to_string(),
        root: conf.string("high-availability.zookeeper.path.root", "/flink"),
        session_timeout_ms,
        connection_timeout_ms,
    }))
}

/// The AM's configuration from Flink's options (harness defaults where unset).
pub fn am_config(mode: AmMode, conf: &FlinkConfig, env: BTreeMap<String, String>, store_root: &Path) -> Result<AmConfig, String> {
    let mut c = AmConfig::new(mode, env).with_slots(conf.u32("taskmanager.numberOfTaskSlots", 1)?);
    if let Some(mb) = conf.memory_mb("taskmanager.memory.process.size")? {
        c.tm_memory_mb = mb;
    }
    let vcores = conf.string("yarn.containers.vcores", "-1");
    if let Ok(v) = vcores.trim().parse::<i64>() {
        if v > 0 {
            c.tm_vcores = v as u32;
        }
    }
    c.heartbeat_interval_ms = conf.duration_ms("heartbeat.interval", c.heartbeat_interval_ms)?;
    c.heartbeat_timeout_ms = conf.duration_ms("heartbeat.timeout", c.heartbeat_timeout_ms)?;
    c.yarn_heartbeat_ms = conf.duration_ms("yarn.heartbeat.interval", c.yarn_heartbeat_ms)?;
    c.container_request_heartbeat_ms = conf.duration_ms("yarn.heartbeat.container-request-interval", c.container_request_heartbeat_ms)?;
    c.registration_timeout_ms = conf.duration_ms("resourcemanager.taskmanager-registration.timeout", c.registration_timeout_ms)?;
    c.idle_tm_timeout_ms = conf.duration_ms("resourcemanager.taskmanager-timeout", c.idle_tm_timeout_ms)?;
    c.start_worker_retry_interval_ms = conf.duration_ms("resourcemanager.start-worker.retry-interval", c.start_worker_retry_interval_ms)?;
    if let Some(r) = conf.get("resourcemanager.start-worker.max-failure-rate") {
        c.start_worker_max_failure_rate =
            r.trim().parse().map_err(|_| format!("Invalid value for resourcemanager.start-worker.max-failure-rate: {r}"))?;
    }
    c.restart_strategy = conf.restart_strategy(conf.checkpoint_config(Some(store_root))?.is_some())?;
    c.savepoint_dir = conf.savepoint_dir(Some(store_root))?;
    c.store_root = Some(store_root.to_path_buf());
    c.ha = ha_config(conf, Some(store_root))?;
    c.validate()?;
    Ok(c)
}

/// The HA cluster id (`high-availability.cluster-id`, on YARN the application id), None without HA.
fn ha_cluster_id(conf: &FlinkConfig, env: &BTreeMap<String, String>) -> Result<Option<String>, String> {
    if !conf.ha_zookeeper()? {
        return Ok(None);
    }
    if let Some(id) = conf.get("high-availability.cluster-id").map(str::trim).filter(|s| !s.is_empty()) {
        return Ok(Some(id.to_string()));
    }
    let cid: yarn_sim::ids::ContainerId =
        env.get("CONTAINER_ID").ok_or("CONTAINER_ID not set in the environment")?.parse().map_err(|e| format!("CONTAINER_ID: {e}"))?;
    Ok(Some(cid.attempt.app.to_string()))
}

/// Flink's `new JobID(clusterId.hashCode(), i)`: the lower part is Java's `String.hashCode` of
/// the cluster id (sign-extended), the upper part the job's index; printed lower part first.
pub fn application_job_id(cluster_id: &str, index: u64) -> u128 {
    let h = cluster_id.encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
    ((h as i64 as u64 as u128) << 64) | index as u128
}

pub fn main(args: Vec<String>) -> i32 {
    match run(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Could not start cluster entrypoint: {e}");
            println!("Could not start cluster entrypoint: {e}");
            1
        }
    }
}

fn run(args: Vec<String>) -> Result<i32, String> {
    let secret = engine::live::ClusterSecret::for_container()?;
    let cwd = std::env::current_dir().map_err(|e| e.to_string())?;
    let conf = FlinkConfig::load(&cwd)?;
    let env: BTreeMap<String, String> = std::env::vars().collect();
    let p = conf.u32("parallelism.default", 1)?;
    let store = env
        .get("HADOOP_CONF_DIR")
        .and_then(|d| yarn_sim::conf::Configuration::load(&Path::new(d).join("yarn-site.xml")).ok())
        .and_then(|c| c.get("fs.defaultFS"))
        .and_then(|f| f.strip_prefix("file://").map(std::path::PathBuf::from))
        .unwrap_or_else(|| cwd.clone());
    let mode = match args.first().map(|s| s.as_str()) {
        Some("session") => AmMode::Session,
        Some("application") => {
            let text = std::fs::read_to_string(cwd.join("program.toml")).map_err(|e| format!("program.toml: {e}"))?;
            let pargs: Vec<String> = conf
                .get("$internal.application.program-args")
                .map(|a| a.split('\u{1f}').filter(|x| !x.is_empty()).map(String::from).collect())
                .unwrap_or_default();
            let program = Program::parse(&text, &pargs)?;
            // Application mode: main() runs here, so the job settings come from the shipped
            // configuration (with `flink run-application -s` as execution.state-recovery.path).
            let settings = conf.job_settings(Some(&store))?;
            let mut jobs = program.job_graphs_with(p, &settings.restart, &mut random_u128)?;
            // FLINK-19358: with HA, application mode fixes the job ids from the cluster id, so
            // a new attempt's main() builds the jobs it recovers instead of new ones.
            if let Some(cluster_id) = ha_cluster_id(&conf, &env)? {
                for (i, g) in jobs.iter_mut().enumerate() {
                    g.job_id = flink_core::JobId::from_u128(application_job_id(&cluster_id, i as u64));
                }
            }
            for g in &mut jobs {
                settings.apply(g);
            }
            AmMode::Application { jobs }
        }
        Some("per-job") => {
            let text = std::fs::read(cwd.join("job-graph.json")).map_err(|e| format!("job-graph.json: {e}"))?;
            let job: JobGraph = serde_json::from_slice(&text).map_err(|e| format!("job-graph.json: {e}"))?;
            AmMode::PerJob { job }
        }
        other => return Err(format!("unknown entrypoint {other:?}: use session, application or per-job")),
    };
    let taskexec = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name("taskexec");
    let port = conf.u32("rest.port", 0)? as u16;
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    rt.block_on(async move {
        let (listener, addr) =
            bind_loopback(port).await.map_err(|e| format!("Could not bind the REST endpoint to 127.0.0.1:{port}: {e}"))?;
        let mut cfg = am_config(mode, &conf, env, &store)?;
        cfg.taskexec_command = taskexec.display().to_string();
        cfg.tm_local_resources = conf
            .get(super::deploy::SHIP_RESOURCES_KEY)
            .map(|v| v.split(';').filter_map(|e| e.split_once('=')).map(|(n, p)| (n.to_string(), p.to_string())).collect())
            .unwrap_or_default();
        cfg.tracking_url = format!("http://{addr}");
        println!("Starting {} (REST endpoint http://{addr})", cfg.mode.name());
        let codecs = flink_core::protocol::codecs(Codecs::new().with::<YarnMsg>());
        let quorum = cfg.ha.as_ref().map(|h| h.quorum);
        let mut host = LiveNode::new(FlinkAppMaster::new(cfg), addr, store, codecs, random_u128() as u64).with_secret(secret);
        if let Some(q) = quorum {
            // The HA services' ZooKeeper messages go to the real server through the gateway.
            host = host.with_gateway(q, flink_core::live::zk_gateway::ZkGateway::new(q));
        }
        let routes = crate::rest::routes(host.clone());
        Ok(host.run(listener, routes).await)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ha(pairs: &[(&str, &str)]) -> Result<Option<crate::ha::HaConfig>, String> {
        let mut c = FlinkConfig::new();
        for (k, v) in pairs {
            c.set(k, v);
        }
        ha_config(&c, Some(Path::new("/w/dfs")))
    }

    #[test]
    fn ha_settings_come_from_flinks_keys_with_harness_timeouts() {
        assert_eq!(ha(&[]), Ok(None));
        let h = ha(&[
            ("high-availability.type", "zookeeper"),
            ("high-availability.zookeeper.quorum", "localhost:2181"),
            ("high-availability.storageDir", "file:///w/dfs/ha"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!(h.quorum.to_string(), "127.0.0.1:2181");
        assert_eq!((h.storage_dir.as_str(), h.root.as_str(), h.cluster_id.as_str()), ("ha", "/flink", ""));
        assert_eq!((h.session_timeout_ms, h.connection_timeout_ms), (HA_SESSION_TIMEOUT_MS, HA_CONNECTION_TIMEOUT_MS));
        // A scheme-less absolute path is a path on the default file system.
        let h = ha(&[
            ("high-availability", "ZOOKEEPER"),
            ("high-availability.zookeeper.quorum", "127.0.0.1:2999"),
            ("high-availability.storageDir", "/ha"),
            ("high-availability.cluster-id", "my-cluster"),
            ("high-availability.zookeeper.client.session-timeout", "2 s"),
        ])
        .unwrap()
        .unwrap();
        assert_eq!((h.storage_dir.as_str(), h.cluster_id.as_str(), h.session_timeout_ms), ("ha", "my-cluster", 2000));
    }

    #[test]
    fn application_job_ids_derive_from_the_cluster_id_as_flink_does() {
        let h = "application_1_0001".encode_utf16().fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(c as i32));
        assert_eq!(application_job_id("application_1_0001", 0), ((h as i64 as u64 as u128) << 64));
        assert_eq!(application_job_id("a", 1), (97u128 << 64) | 1, "\"a\".hashCode() == 97");
        assert_ne!(application_job_id("application_1_0001", 0), application_job_id("application_1_0002", 0));
        assert_eq!(flink_core::JobId::from_u128(application_job_id("a", 0)).to_string(), "00000000000000610000000000000000");
    }

    #[test]
    fn bad_ha_settings_are_refused_with_the_option_named() {
        let z = ("high-availability.type", "zookeeper");
        let q = ("high-availability.zookeeper.quorum", "127.0.0.1:2181");
        let d = ("high-availability.storageDir", "ha");
        assert!(ha(&[z, d]).unwrap_err().contains("No ZooKeeper quorum specified"));
        assert!(ha(&[z, q]).unwrap_err().contains("missing the mandatory parameter: high-availability.storageDir"));
        let two = ("high-availability.zookeeper.quorum", "127.0.0.1:1,127.0.0.1:2");
        assert!(ha(&[z, two, d]).unwrap_err().contains("standalone ZooKeeper"));
        let host = ("high-availability.zookeeper.quorum", "zk-host:2181");
        assert!(ha(&[z, host, d]).unwrap_err().contains("Invalid high-availability.zookeeper.quorum 'zk-host:2181'"));
        let outside = ("high-availability.storageDir", "../elsewhere");
        assert!(ha(&[z, q, outside]).unwrap_err().contains("high-availability.storageDir"));
        let hdfs = ("high-availability.storageDir", "hdfs:///ha");
        assert!(ha(&[z, q, hdfs]).unwrap_err().contains("scheme 'hdfs'"));
    }
}
