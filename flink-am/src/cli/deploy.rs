//! Deploying a Flink cluster to YARN, as YarnClusterDescriptor does: check resources, stage
//! files under `.flink/<appId>/` in the shared store, submit the AM container, wait for it,
//! and print Flink's lines on the way.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use flink_core::config::FlinkConfig;
use serde_json::json;
use yarn_sim::cli::http::{n, s};

use super::Yarn;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ClusterMode {
    Session,
    Application,
    PerJob,
}

impl ClusterMode {
    fn arg(self) -> &'static str {
        match self {
            ClusterMode::Session => "session",
            ClusterMode::Application => "application",
            ClusterMode::PerJob => "per-job",
        }
    }
}

/// The staged files TaskManagers localize, as `name=store-path;...` in the shipped config.
pub const SHIP_RESOURCES_KEY: &str = "$internal.yarn.taskmanager-resources";

pub struct DeploySpec {
    pub mode: ClusterMode,
    pub conf: FlinkConfig,
    /// Files staged next to the config and localized into the AM's (and TMs') working dirs.
    pub files: Vec<(String, Vec<u8>)>,
    /// `-t` ship files and directories.
    pub ship: Vec<PathBuf>,
}

pub struct Deployed {
    pub app_id: String,
    /// The JobManager's REST address, `host:port`.
    pub rest: String,
}

fn flink_am_exe() -> Result<PathBuf, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let p = me.with_file_name("flink-am");
    if p.exists() {
        Ok(p)
    } else {
        Err(format!("cannot find the flink-am binary next to {}", me.display()))
    }
}

/// Memory in MB of a Flink memory setting, with Flink's "m" default unit for bare CLI numbers.
pub fn memory_mb(conf: &FlinkConfig, key: &str, default_mb: u64) -> Result<u64, String> {
    Ok(conf.memory_mb(key)?.unwrap_or(default_mb))
}

/// Writes one staged file under `.flink/<appId>/` and records it as a local resource.
fn stage_file(
    dir: &std::path::Path,
    rel_dir: &str,
    staged: &mut Vec<(String, String, usize)>,
    name: &str,
    bytes: &[u8],
) -> Result<(), String> {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).map_err(|e| e.to_string())?;
    }
    std::fs::write(&p, bytes).map_err(|e| format!("{}: {e}", p.display()))?;
    staged.push((name.to_string(), format!("{rel_dir}/{name}"), bytes.len()));
    Ok(())
}

/// `taskmanager.numberOfTaskSlots` as Flink's ConfigurationParserUtils.getSlot reads it: -1
/// (old configs) means 1, anything below 1 is refused before anything is deployed.
pub fn task_slots(conf: &flink_core::config::FlinkConfig) -> Result<u32, String> {
    const KEY: &str = "taskmanager.numberOfTaskSlots";
    let Some(raw) = conf.get(KEY) else { return Ok(1) };
    let v: i64 = raw.trim().parse().map_err(|_| format!("Could not parse value '{raw}' for key '{KEY}': expected an integer"))?;
    match v {
        -1 => Ok(1),
        v if v >= 1 && v <= u32::MAX as i64 => Ok(v as u32),
        v => Err(format!(
            "org.apache.flink.configuration.IllegalConfigurationException: Invalid configuration value for {KEY} : {v} - Number of task slots must be at least one."
        )),
    }
}

/// Flink's `yarn.view.acls` / `yarn.modify.acls` become the application's VIEW_APP / MODIFY_APP
/// ACLs, as YarnClusterDescriptor sets them on the AM's launch context (Utils.setAclsFor).
pub fn application_acls(conf: &FlinkConfig) -> Vec<serde_json::Value> {
    [("VIEW_APP", "yarn.view.acls"), ("MODIFY_APP", "yarn.modify.acls")]
        .into_iter()
        .filter_map(|(kind, key)| conf.get(key).filter(|v| !v.is_empty()).map(|v| json!({"key": kind, "value": v})))
        .collect()
}

pub fn deploy(y: &Yarn, spec: DeploySpec, out: &mut dyn Write) -> Result<Deployed, String> {
    let conf = &spec.conf;
    let jm_mb = memory_mb(conf, "jobmanager.memory.process.size", 1600)?;
    let tm_mb = memory_mb(conf, "taskmanager.memory.process.size", 1728)?;
    let slots = task_slots(conf)?;
    let name = conf.string("yarn.application.name", "Flink session cluster");
    let queue = conf.string("yarn.application.queue", "default");
    let app_type = conf.string("yarn.application.type", "Apache Flink");
    let attempts = conf.u32("yarn.application-attempts", 1)?;
    let _ = writeln!(
        out,
        "Cluster specification: ClusterSpecification{{masterMemoryMB={jm_mb}, taskManagerMemoryMB={tm_mb}, slotsPerTaskManager={slots}}}"
    );
    let store = y.store()?.clone();
    for p in &spec.ship {
        if !p.exists() {
            return Err(format!("Ship file {} does not exist", p.display()));
        }
    }
    let new = y.rm.post("/ws/v1/cluster/apps/new-application", json!({})).map_err(|e| e.message)?.1;
    let app_id = s(&new, "application-id");
    let max_mb = n(&new["maximum-resource-capability"], "memory") as u64;
    if jm_mb > max_mb {
        return Err(format!(
            "The cluster does not have the requested resources for the JobManager available!\nMaximum Memory: {max_mb}MB Requested: {jm_mb}MB. Please check the 'yarn.scheduler.maximum-allocation-mb' and the 'yarn.nodemanager.resource.memory-mb' configuration values\n"
        ));
    }
    if tm_mb > max_mb {
        return Err(format!(
            "The cluster does not have the requested resources for the TaskManagers available!\nMaximum Memory: {max_mb}MB Requested: {tm_mb}MB. Please check the 'yarn.scheduler.maximum-allocation-mb' and the 'yarn.nodemanager.resource.memory-mb' configuration values\n"
        ));
    }
    // Stage: .flink/<appId>/config.yaml, the mode's files, the ship files.
    let rel_dir = format!(".flink/{app_id}");
    let dir = store.join(&rel_dir);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut staged: Vec<(String, String, usize)> = Vec::new();
    for (name, bytes) in &spec.files {
        stage_file(&dir, &rel_dir, &mut staged, name, bytes)?;
    }
    for p in &spec.ship {
        let files: Vec<PathBuf> = if p.is_dir() {
            let mut v: Vec<PathBuf> =
                std::fs::read_dir(p).map_err(|e| e.to_string())?.flatten().map(|e| e.path()).filter(|p| p.is_file()).collect();
            v.sort();
            v
        } else {
            vec![p.clone()]
        };
        for f in files {
            let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            let name = f.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            stage_file(&dir, &rel_dir, &mut staged, &name, &bytes)?;
        }
    }
    // Ship files and the configuration reach every TaskManager too: the AM reads this list.
    let mut conf = conf.clone();
    let ship_list: Vec<String> =
        staged.iter().filter(|(n, _, _)| !spec.files.iter().any(|(f, _)| f == n)).map(|(n, p, _)| format!("{n}={p}")).collect();
    conf.set(SHIP_RESOURCES_KEY, &[vec![format!("config.yaml={rel_dir}/config.yaml")], ship_list].concat().join(";"));
    stage_file(&dir, &rel_dir, &mut staged, "config.yaml", conf.to_yaml().as_bytes())?;
    let entries: Vec<_> = staged
        .iter()
        .map(|(key, res, size)| json!({"key": key, "value": {"resource": res, "type": "FILE", "visibility": "APPLICATION", "size": size, "timestamp": 0}}))
        .collect();
    let cmd = format!("{} {} 1><LOG_DIR>/jobmanager.log 2><LOG_DIR>/jobmanager.err", flink_am_exe()?.display(), spec.mode.arg());
    let body = json!({
        "application-id": app_id,
        "application-name": name,
        "queue": queue,
        "max-app-attempts": attempts,
        // With HA a new attempt adopts the TaskManagers (YarnClusterDescriptor sets this).
        "keep-containers-across-application-attempts": conf.ha_zookeeper()?,
        "resource": {"memory": jm_mb, "vCores": conf.u32("yarn.appmaster.vcores", 1)?},
        "application-type": app_type,
        "application-tags": conf.get("yarn.tags").map(|t| t.split(',').map(|x| x.trim().to_string()).collect::<Vec<_>>()).unwrap_or_default(),
        "am-container-spec": {
            "local-resources": {"entry": entries}, "commands": {"command": cmd}, "environment": {"entry": []},
            "application-acls": {"entry": application_acls(&conf)},
        },
    });
    let _ = writeln!(out, "Submitting application master {app_id}");
    if let Err(e) = y.rm.post(&format!("/ws/v1/cluster/apps?user.name={}", yarn_sim::cli::current_user()), body) {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(format!("Couldn't deploy Yarn session cluster\n{}", e.message));
    }
    let _ = writeln!(out, "Submitted application {app_id}");
    let _ = writeln!(out, "Waiting for the cluster to be allocated");
    let start = Instant::now();
    let mut last = String::new();
    let mut warned = 0;
    loop {
        let app = y.rm.get(&format!("/ws/v1/cluster/apps/{app_id}")).map_err(|e| e.message)?["app"].clone();
        let state = s(&app, "state");
        match state.as_str() {
            "FAILED" | "KILLED" => {
                return Err(format!(
                    "The YARN application unexpectedly switched to state {state} during deployment. \nDiagnostics from YARN: {}\nIf log aggregation is enabled on your cluster, use this command to further investigate the issue:\nyarn logs -applicationId {app_id}",
                    s(&app, "diagnostics")
                ))
            }
            "FINISHED" => {
                let _ = writeln!(out, "YARN application has been finished successfully.");
                return Ok(Deployed { app_id, rest: String::new() });
            }
            "RUNNING" => {
                if let Ok(rest) = super::rest_address_of(&y.rm, &app_id) {
                    let _ = writeln!(out, "YARN application has been deployed successfully.");
                    let (h, p) = rest.rsplit_once(':').unwrap_or((&rest, ""));
                    let _ = writeln!(out, "Found Web Interface {h}:{p} of application '{app_id}'.");
                    return Ok(Deployed { app_id, rest });
                }
            }
            other => {
                if other != last {
                    let _ = writeln!(out, "Deploying cluster, current state {other}");
                    last = other.to_string();
                }
            }
        }
        if start.elapsed() > Duration::from_secs(60 * (warned + 1)) {
            warned += 1;
            let _ = writeln!(
                out,
                "Deployment took more than {} seconds. Please check if the requested resources are available in the YARN cluster",
                60 * warned
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_slots_follow_flinks_get_slot() {
        let with = |v: &str| {
            let mut c = FlinkConfig::new();
            c.set("taskmanager.numberOfTaskSlots", v);
            task_slots(&c)
        };
        assert_eq!(task_slots(&FlinkConfig::new()), Ok(1));
        assert_eq!(with("4"), Ok(4));
        assert_eq!(with("-1"), Ok(1), "old configs' -1 means one slot");
        for bad in ["0", "-2"] {
            assert_eq!(
                with(bad).unwrap_err(),
                format!("org.apache.flink.configuration.IllegalConfigurationException: Invalid configuration value for taskmanager.numberOfTaskSlots : {bad} - Number of task slots must be at least one.")
            );
        }
        assert!(with("two").is_err());
    }

    #[test]
    fn flinks_yarn_acls_become_the_applications_acls() {
        let mut c = FlinkConfig::new();
        assert!(application_acls(&c).is_empty());
        c.set("yarn.view.acls", "bob,carol ops");
        c.set("yarn.modify.acls", "bob");
        assert_eq!(
            application_acls(&c),
            vec![json!({"key": "VIEW_APP", "value": "bob,carol ops"}), json!({"key": "MODIFY_APP", "value": "bob"})]
        );
    }
}
