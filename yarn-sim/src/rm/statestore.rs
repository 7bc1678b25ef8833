//! The RM state store for restart recovery, in `FileSystemRMStateStore`'s layout on the shared
//! store (YARN: `yarn.resourcemanager.fs.state-store.uri`):
//!
//! ```text
//! <root>/FSRMStateRoot/RMVersionNode                         store format version
//! <root>/FSRMStateRoot/EpochNode                             RM epoch, +1 per recovery
//! <root>/FSRMStateRoot/RMClusterNode                         cluster id, cluster timestamp, app sequence
//! <root>/FSRMStateRoot/RMAppRoot/<appId>/<appId>             ApplicationStateData
//! <root>/FSRMStateRoot/RMAppRoot/<appId>/<appattemptId>      ApplicationAttemptStateData
//! ```
//!
//! YARN writes protobuf records; here each node is JSON with the protobuf's field names. YARN
//! gives a recovered RM a new cluster timestamp; this one keeps the first (in
//! `RMClusterNode`, with the last application sequence number) so application ids handed out
//! before a restart stay valid for `submit` after it, and records the cluster id
//! (`yarn.resourcemanager.cluster-id`) so a store of another cluster is refused instead of
//! being recovered into this one. Everything here is pure functions over a [`Store`]: the
//! ResourceManager calls them through `cx.store()`.

use engine::Store;
use serde::{Deserialize, Serialize};

use crate::ids::{ApplicationAttemptId, ApplicationId};
use crate::records::{ApplicationSubmissionContext, Container, FinalApplicationStatus};

pub const ROOT_DIR: &str = "FSRMStateRoot";
pub const VERSION_NODE: &str = "RMVersionNode";
pub const EPOCH_NODE: &str = "EpochNode";
pub const CLUSTER_NODE: &str = "RMClusterNode";
pub const APP_ROOT: &str = "RMAppRoot";
/// The secret managers' master keys (YARN keeps the AMRM key here; this harness keeps the NM
/// and container token keys beside it, see `rm/secrets.rs`).
pub const SECRET_MANAGER_NODE: &str = "AMRMTokenSecretManagerRoot";

/// `FileSystemRMStateStore.CURRENT_VERSION_INFO` (1.3 there; the JSON form is ours).
pub const CURRENT_VERSION: Version = Version { major_version: 1, minor_version: 3 };

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct Version {
    pub major_version: u32,
    pub minor_version: u32,
}

#[derive(Clone, PartialEq, Eq, Debug, Serialize, Deserialize)]
pub struct ClusterState {
    pub cluster_id: String,
    pub cluster_timestamp: u64,
    /// The last application sequence number handed out.
    pub app_sequence: u32,
    /// Ids from new-application not submitted yet: a client may submit them after a restart.
    #[serde(default)]
    pub handed_out: Vec<ApplicationId>,
}

/// `ApplicationStateDataProto`, plus the queue the app was placed in.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ApplicationStateData {
    pub submit_time: u64,
    pub start_time: u64,
    pub launch_time: Option<u64>,
    pub user: String,
    pub application_submission_context: ApplicationSubmissionContext,
    pub queue_path: String,
    pub max_attempts: u32,
    /// The final state once the app is in FINAL_SAVING: FINISHED, FAILED or KILLED.
    pub application_state: Option<String>,
    pub final_application_status: FinalApplicationStatus,
    pub diagnostics: String,
    pub finish_time: Option<u64>,
    pub memory_seconds: u64,
    pub vcore_seconds: u64,
}

/// `ApplicationAttemptStateDataProto`, plus what a re-registering AM needs kept.
#[derive(Clone, PartialEq, Debug, Serialize, Deserialize)]
pub struct ApplicationAttemptStateData {
    pub attempt_id: ApplicationAttemptId,
    pub master_container: Option<Container>,
    /// The final state once stored at FINAL_SAVING: FINISHED, FAILED or KILLED.
    pub app_attempt_state: Option<String>,
    /// The AM had registered before the state was stored (the attempt was RUNNING).
    pub registered: bool,
    pub final_tracking_url: String,
    pub diagnostics: String,
    pub start_time: u64,
    pub finish_time: Option<u64>,
    pub final_application_status: FinalApplicationStatus,
    pub am_container_exit_status: i32,
}

/// Everything a recovering RM loads.
#[derive(Clone, Debug, PartialEq)]
pub struct RMState {
    /// None for an empty (new) store.
    pub cluster: Option<ClusterState>,
    pub epoch: u64,
    pub apps: Vec<(ApplicationStateData, Vec<ApplicationAttemptStateData>)>,
}

pub fn root_dir(root: &str) -> String {
    format!("{root}/{ROOT_DIR}")
}

pub fn app_dir(root: &str, app: ApplicationId) -> String {
    format!("{root}/{ROOT_DIR}/{APP_ROOT}/{app}")
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec_pretty(v).expect("state records serialize")
}

fn parse<T: for<'de> Deserialize<'de>>(store: &dyn Store, path: &str) -> Result<Option<T>, String> {
    match store.read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("corrupt state store node {path}: {e}")),
        Err(engine::StoreError::NotFound(_)) => Ok(None),
        Err(e) => Err(format!("cannot read state store node {path}: {e}")),
    }
}

pub fn store_cluster(store: &mut dyn Store, root: &str, c: &ClusterState) -> Result<(), String> {
    let dir = root_dir(root);
    store.write(&format!("{dir}/{VERSION_NODE}"), &json(&CURRENT_VERSION)).map_err(|e| e.to_string())?;
    store.write(&format!("{dir}/{CLUSTER_NODE}"), &json(c)).map_err(|e| e.to_string())
}

pub fn store_epoch(store: &mut dyn Store, root: &str, epoch: u64) -> Result<(), String> {
    store.write(&format!("{}/{EPOCH_NODE}", root_dir(root)), epoch.to_string().as_bytes()).map_err(|e| e.to_string())
}

pub fn store_app(store: &mut dyn Store, root: &str, app: ApplicationId, data: &ApplicationStateData) -> Result<(), String> {
    let dir = app_dir(root, app);
    store.write(&format!("{dir}/{app}"), &json(data)).map_err(|e| e.to_string())
}

pub fn store_attempt(store: &mut dyn Store, root: &str, data: &ApplicationAttemptStateData) -> Result<(), String> {
    let dir = app_dir(root, data.attempt_id.app);
    store.write(&format!("{dir}/{}", data.attempt_id), &json(data)).map_err(|e| e.to_string())
}

/// `storeOrUpdateAMRMTokenSecretManager`: the master keys.
pub fn store_secret_keys(store: &mut dyn Store, root: &str, keys: &super::secrets::SecretKeys) -> Result<(), String> {
    store.write(&format!("{}/{SECRET_MANAGER_NODE}", root_dir(root)), &json(keys)).map_err(|e| e.to_string())
}

/// The stored master keys, if any.
pub fn load_secret_keys(store: &dyn Store, root: &str) -> Result<Option<super::secrets::SecretKeys>, String> {
    parse(store, &format!("{}/{SECRET_MANAGER_NODE}", root_dir(root)))
}

/// `removeApplication`: the app's directory with its attempts.
pub fn remove_app(store: &mut dyn Store, root: &str, app: ApplicationId) -> Result<(), String> {
    store.delete(&app_dir(root, app)).map_err(|e| e.to_string())
}

/// `loadState`: checks the version and the cluster id, then reads every application with its
/// attempts. Any unreadable node is an error: an RM must not start with half its state.
pub fn load(store: &dyn Store, root: &str, cluster_id: &str) -> Result<RMState, String> {
    let dir = root_dir(root);
    engine::store::check_path(&dir).map_err(|e| format!("bad yarn.resourcemanager.fs.state-store.uri {root}: {e}"))?;
    let version: Option<Version> = parse(store, &format!("{dir}/{VERSION_NODE}"))?;
    if let Some(v) = version {
        if v.major_version != CURRENT_VERSION.major_version {
            return Err(format!(
                "Expecting RM state version {}.{}, but loading version {}.{}",
                CURRENT_VERSION.major_version, CURRENT_VERSION.minor_version, v.major_version, v.minor_version
            ));
        }
    }
    let cluster: Option<ClusterState> = parse(store, &format!("{dir}/{CLUSTER_NODE}"))?;
    if let Some(c) = &cluster {
        if c.cluster_id != cluster_id {
            return Err(format!(
                "the state store {dir} belongs to cluster '{}', not to this ResourceManager's cluster '{cluster_id}' (yarn.resourcemanager.cluster-id); refusing to recover another cluster's applications",
                c.cluster_id
            ));
        }
    }
    let epoch = match store.read(&format!("{dir}/{EPOCH_NODE}")) {
        Ok(b) => String::from_utf8_lossy(&b)
            .trim()
            .parse::<u64>()
            .map_err(|_| format!("corrupt state store node {dir}/{EPOCH_NODE}: not a number"))?,
        Err(engine::StoreError::NotFound(_)) => 0,
        Err(e) => return Err(format!("cannot read state store node {dir}/{EPOCH_NODE}: {e}")),
    };
    if cluster.is_none() && version.is_none() {
        // Nodes under the root but no cluster node: not a state store this RM wrote.
        let stray = store.list(&dir).map_err(|e| e.to_string())?;
        if let Some(p) = stray.iter().find(|p| !p.ends_with(EPOCH_NODE) && !p.ends_with(SECRET_MANAGER_NODE)) {
            return Err(format!("corrupt state store {dir}: {p} but no {CLUSTER_NODE}"));
        }
    }
    let app_root = format!("{dir}/{APP_ROOT}/");
    let files = store.list(&format!("{dir}/{APP_ROOT}")).map_err(|e| e.to_string())?;
    // <appId>/<node>: group by app directory, in id order.
    let mut by_app: std::collections::BTreeMap<ApplicationId, (Option<String>, Vec<String>)> = Default::default();
    for f in files {
        let rel = f.strip_prefix(&app_root).unwrap_or(&f);
        let Some((app_s, node)) = rel.split_once('/') else {
            return Err(format!("corrupt state store: unexpected node {f}"));
        };
        let app: ApplicationId = app_s.parse().map_err(|e| format!("corrupt state store node {f}: {e}"))?;
        let entry = by_app.entry(app).or_default();
        if node == app_s {
            entry.0 = Some(f.clone());
        } else if node.parse::<ApplicationAttemptId>().is_ok_and(|a| a.app == app) {
            entry.1.push(f.clone());
        } else {
            return Err(format!("corrupt state store: unexpected node {f}"));
        }
    }
    let mut apps = Vec::new();
    for (app, (app_file, attempt_files)) in by_app {
        let app_file = app_file.ok_or_else(|| format!("corrupt state store: application {app} has attempts but no application node"))?;
        let data: ApplicationStateData = parse(store, &app_file)?.ok_or_else(|| format!("{app_file} vanished"))?;
        if data.application_submission_context.application_id != app {
            return Err(format!("corrupt state store node {app_file}: it holds {}", data.application_submission_context.application_id));
        }
        let mut attempts = Vec::new();
        for f in attempt_files {
            let a: ApplicationAttemptStateData = parse(store, &f)?.ok_or_else(|| format!("{f} vanished"))?;
            if !f.ends_with(&a.attempt_id.to_string()) {
                return Err(format!("corrupt state store node {f}: it holds {}", a.attempt_id));
            }
            attempts.push(a);
        }
        attempts.sort_by_key(|a| a.attempt_id.attempt);
        // Attempts are numbered 1..n without gaps.
        if let Some((i, a)) = attempts.iter().enumerate().find(|(i, a)| a.attempt_id.attempt as usize != i + 1) {
            return Err(format!("corrupt state store: {} has attempt {} where attempt {} belongs", app, a.attempt_id, i + 1));
        }
        apps.push((data, attempts));
    }
    Ok(RMState { cluster, epoch, apps })
}
