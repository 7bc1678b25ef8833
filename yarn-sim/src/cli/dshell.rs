//! `yarn-sim dshell`: the distributed-shell client, like Hadoop's `Client`: stage the shell
//! command in the shared store, submit the AM, monitor the application until it ends.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::json;

use super::http::{n, s, Rest};
use crate::conf::{client_conf_dir, Configuration};

pub struct DshellOpts {
    pub rm: Option<String>,
    pub shell_command: String,
    pub num_containers: u32,
    pub container_memory_mb: u64,
    pub container_vcores: u32,
    pub master_memory_mb: u64,
    pub master_vcores: u32,
    pub priority: i32,
    pub queue: String,
    pub app_name: String,
    pub shell_env: Vec<String>,
    pub max_app_attempts: i32,
    pub timeout: Duration,
}

/// The shared store's root from `fs.defaultFS` in the client configuration.
fn store_root(conf: Option<&Configuration>) -> Result<PathBuf, String> {
    let fs = conf
        .and_then(|c| c.get("fs.defaultFS"))
        .ok_or("fs.defaultFS is not set: export YARN_CONF_DIR=<the dir 'yarn-sim start' printed>")?;
    let path = fs.strip_prefix("file://").ok_or_else(|| format!("fs.defaultFS must be a file:// URI, got {fs}"))?;
    Ok(PathBuf::from(path))
}

pub fn run(o: &DshellOpts, out: &mut dyn Write) -> Result<i32, String> {
    if o.shell_command.trim().is_empty() {
        return Err("No shell command or shell script specified to be executed by application master".into());
    }
    if o.num_containers < 1 {
        return Err(format!("Invalid no. of containers specified, exiting. Specified numContainer={}", o.num_containers));
    }
    let conf = match client_conf_dir() {
        Some(d) => Some(Configuration::load(&d.join("yarn-site.xml"))?),
        None => None,
    };
    let rm_addr = super::rm_address(o.rm.as_deref())?;
    let rest = Rest::new(&rm_addr);
    let root = store_root(conf.as_ref())?;
    let user = super::current_user();
    let _ = writeln!(out, "Running Client");
    let new = rest.post("/ws/v1/cluster/apps/new-application", json!({})).map_err(|e| e.message)?.1;
    let app_id = s(&new, "application-id");
    let max_mem = n(&new["maximum-resource-capability"], "memory") as u64;
    let _ = writeln!(out, "Got new application id={app_id}, max mem capability of resources in this cluster {max_mem}");
    let rel = format!(".yarn-sim/dshell/{app_id}/{}", crate::dshell::SHELL_COMMAND_RESOURCE);
    let staged = root.join(&rel);
    std::fs::create_dir_all(staged.parent().expect("has a parent")).map_err(|e| e.to_string())?;
    std::fs::write(&staged, &o.shell_command).map_err(|e| format!("{}: {e}", staged.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut am_cmd = format!(
        "{} dshell-am --num_containers {} --container_memory {} --container_vcores {} --priority {}",
        exe.display(),
        o.num_containers,
        o.container_memory_mb,
        o.container_vcores,
        o.priority
    );
    for kv in &o.shell_env {
        am_cmd.push_str(&format!(" --shell_env '{}'", kv.replace('\'', "'\\''")));
    }
    am_cmd.push_str(" 1><LOG_DIR>/AppMaster.stdout 2><LOG_DIR>/AppMaster.stderr");
    let body = json!({
        "application-id": app_id,
        "application-name": o.app_name,
        "queue": o.queue,
        "priority": 0,
        "max-app-attempts": o.max_app_attempts,
        "resource": {"memory": o.master_memory_mb, "vCores": o.master_vcores},
        "application-type": "YARN",
        "am-container-spec": {
            "local-resources": {"entry": [{"key": crate::dshell::SHELL_COMMAND_RESOURCE, "value": {
                "resource": rel, "type": "FILE", "visibility": "APPLICATION",
                "size": o.shell_command.len(), "timestamp": 0}}]},
            "commands": {"command": am_cmd},
            "environment": {"entry": []}
        }
    });
    let _ = writeln!(out, "Submitting application to ASM");
    if let Err(e) = rest.post(&format!("/ws/v1/cluster/apps?user.name={user}"), body) {
        let _ = std::fs::remove_dir_all(staged.parent().expect("has a parent"));
        return Err(format!("Failed to submit {app_id} to YARN : {}", e.message));
    }
    let _ = writeln!(out, "Submitted application {app_id}");
    let deadline = Instant::now() + o.timeout;
    let mut last = String::new();
    let mut retries = 0u32;
    loop {
        let app = match rest.get(&format!("/ws/v1/cluster/apps/{app_id}")) {
            Ok(v) => {
                retries = 0;
                v["app"].clone()
            }
            // The RM is down (a restart): keep trying, as YARN's client retries its connection
            // (yarn.resourcemanager.connect.max-wait.ms), within the client's own timeout.
            Err(e) if e.status == 0 && Instant::now() < deadline => {
                retries += 1;
                let _ = writeln!(out, "Retrying connect to server: {}. Already tried {} time(s).", rest.base(), retries - 1);
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            Err(e) => return Err(e.message),
        };
        let (state, fin) = (s(&app, "state"), s(&app, "finalStatus"));
        let line = format!(
            "Got application report from ASM for, appId={}, clientToAMToken=null, appDiagnostics={}, appMasterHost={}, appQueue={}, appMasterRpcPort=-1, appStartTime={}, yarnAppState={state}, distributedFinalState={fin}, appTrackingUrl={}, appUser={}",
            app_id.rsplit('_').next().unwrap_or("").trim_start_matches('0'),
            s(&app, "diagnostics"),
            s(&app, "amHostHttpAddress").split(':').next().unwrap_or("N/A"),
            s(&app, "queue"),
            s(&app, "startedTime"),
            s(&app, "trackingUrl"),
            s(&app, "user"),
        );
        if line != last {
            let _ = writeln!(out, "{line}");
            last = line;
        }
        match state.as_str() {
            "FINISHED" if fin == "SUCCEEDED" => {
                let _ = writeln!(out, "Application has completed successfully. Breaking monitoring loop");
                let _ = writeln!(out, "Application completed successfully");
                return Ok(0);
            }
            "FINISHED" => {
                let _ = writeln!(
                    out,
                    "Application did finished unsuccessfully. YarnState={state}, DSFinalStatus={fin}. Breaking monitoring loop"
                );
                let _ = writeln!(out, "Application failed to complete successfully");
                return Ok(2);
            }
            "KILLED" | "FAILED" => {
                let _ = writeln!(out, "Application did not finish. YarnState={state}, DSFinalStatus={fin}. Breaking monitoring loop");
                let _ = writeln!(out, "Application failed to complete successfully");
                return Ok(2);
            }
            _ => {}
        }
        if Instant::now() > deadline {
            let _ = writeln!(out, "Reached client specified timeout for application. Killing application");
            let _ = rest.put(&format!("/ws/v1/cluster/apps/{app_id}/state?user.name={user}"), json!({"state": "KILLED"}));
            let _ = writeln!(out, "Application failed to complete successfully");
            return Ok(2);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
