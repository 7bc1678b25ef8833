//! ContainerManager: starts, stops and reports containers (ContainerManagementProtocol) and
//! keeps the node's applications in step with them.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use engine::{CopyKind, Cx, ExitCode, LaunchSpec, LocalCopy, ProcId, RecoveryFiles, Signal, Time, TimerId};
use serde::{Deserialize, Serialize};

use crate::ids::{ApplicationId, ContainerId};
use crate::proto::{RemoteError, StartContainerRequest};
use crate::records::{exit_status, ContainerStatus, NMContainerStatus, Resource};

use super::application::{Application, ApplicationState};
use super::config::NmConfig;
use super::container::{Container, ContainerState, KillReason};
use super::launch::{
    failure_diagnostics, killed_diagnostics, stderr_log, tail_4k, ContainerDirs, ContainerLaunch, CONTAINER_SCRIPT, CONTAINER_TOKENS_FILE,
    PRELAUNCH_ERR,
};
use super::localizer;

/// Timers `KILL_TIMER_BASE + pid` send SIGKILL to a process that outlived its SIGTERM.
pub const KILL_TIMER_BASE: TimerId = 1 << 32;

/// Completed containers (and finished apps) kept for REST and `yarn logs` after the RM has
/// recorded them.
pub const RETAINED_FINISHED: usize = 1000;

/// The NM state store's record of one container (YARN keeps these in a leveldb under
/// `yarn.nodemanager.recovery.dir`; here one JSON file per container): what was started, the
/// process handle, and the completion once there is one. Removed when the RM acknowledged it.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RecoveredContainerRecord {
    pub request: StartContainerRequest,
    pub pid: ProcId,
    pub work_dir: String,
    pub log_dir: String,
    pub files: RecoveryFiles,
    /// (exit status, diagnostics) once completed.
    pub completed: Option<(i32, String)>,
}

fn record_path(conf: &NmConfig, id: &ContainerId) -> String {
    format!("{}/containers/{id}", conf.recovery_dir)
}

/// `<local-dir>/nmPrivate/<appId>/<containerId>/<containerId>.pid` (and `.pid.exitcode`), as
/// YARN's DefaultContainerExecutor places them.
fn recovery_files(conf: &NmConfig, id: &ContainerId) -> RecoveryFiles {
    let pid_file = format!("{}/nmPrivate/{}/{id}/{id}.pid", conf.local_dirs[0], id.app());
    RecoveryFiles { exit_code_file: format!("{pid_file}.exitcode"), pid_file }
}

/// `repr(C)`: the container map and the history, which every heartbeat reads, stay first
/// (see `NodeManager`'s layout).
#[derive(Default, Debug)]
#[repr(C)]
pub struct ContainerManager {
    /// Active containers and completed ones the RM has not acknowledged yet.
    containers: BTreeMap<ContainerId, Container>,
    /// Acknowledged completed containers with when the RM acknowledged them, oldest first;
    /// listed until `duration-to-track-stopped-containers` has passed.
    history: VecDeque<(Time, Container)>,
    /// Log dirs of containers no longer listed, newest last: `yarn logs` still finds their
    /// logs (YARN serves them from the log dirs until log retention removes them).
    stopped_log_dirs: VecDeque<(ContainerId, String)>,
    apps: BTreeMap<ApplicationId, Application>,
    pids: BTreeMap<ProcId, ContainerId>,
    next_pid: u64,
    /// With NM recovery: the records of containers, for updating them on completion.
    records: BTreeMap<ContainerId, RecoveredContainerRecord>,
    /// Containers waiting for their `file:` resources: what to launch once the copies are in.
    localizing: BTreeMap<ContainerId, Localizing>,
    /// Each application's file cache on this node (LocalResourcesTrackerImpl): one copy per
    /// source, timestamp, kind and visibility, shared by the application's containers here.
    cache: BTreeMap<CacheKey, Cached>,
    /// Copies in flight: the cache entry each fills and where it lands.
    copies: BTreeMap<u64, (CacheKey, String)>,
    next_copy: u64,
}

/// (application, source path, timestamp, how it lands, PUBLIC).
type CacheKey = (ApplicationId, String, i64, CopyKind, bool);

#[derive(Debug)]
struct Cached {
    path: String,
    /// The copy still filling it, if any.
    copy: Option<u64>,
}

/// A container in LOCALIZING with copies outstanding.
#[derive(Debug)]
struct Localizing {
    request: StartContainerRequest,
    dirs: ContainerDirs,
    /// (cached path, link name) for the launch script.
    links: Vec<(String, String)>,
    pending: BTreeSet<u64>,
}

impl ContainerManager {
    pub fn new() -> ContainerManager {
        ContainerManager::default()
    }

    pub fn get(&self, id: &ContainerId) -> Option<&Container> {
        self.containers.get(id).or_else(|| self.history.iter().rev().map(|(_, c)| c).find(|c| c.id == *id))
    }

    /// A container's log dir, listed or not.
    pub fn log_dir(&self, id: &ContainerId) -> Option<&str> {
        self.get(id)
            .map(|c| c.log_dir.as_str())
            .or_else(|| self.stopped_log_dirs.iter().rev().find(|(c, _)| c == id).map(|(_, d)| d.as_str()))
    }

    /// Every container the NM remembers: the tracked ones, then the acknowledged history.
    pub fn all(&self) -> impl Iterator<Item = &Container> {
        self.containers.values().chain(self.history.iter().map(|(_, c)| c))
    }

    pub fn apps(&self) -> impl Iterator<Item = &Application> {
        self.apps.values()
    }

    pub fn app(&self, id: &ApplicationId) -> Option<&Application> {
        self.apps.get(id)
    }

    /// Resources held by containers whose processes may still run.
    pub fn allocated(&self) -> Resource {
        self.containers.values().filter(|c| c.state.is_active()).fold(Resource::ZERO, |acc, c| acc.add(&c.resource))
    }

    /// Running containers and their processes, for the monitor.
    pub fn running(&self) -> Vec<(ContainerId, ProcId, Resource)> {
        self.running_processes().collect()
    }

    #[cfg(test)]
    pub(crate) const CONTAINERS_OFFSET: usize = std::mem::offset_of!(ContainerManager, containers);
    /// Where the fields an idle heartbeat reads end (the map, then the history).
    #[cfg(test)]
    pub(crate) const HOT_END: usize = std::mem::offset_of!(ContainerManager, history) + std::mem::size_of::<VecDeque<(Time, Container)>>();

    /// True while a container's process runs (what the monitor has to watch).
    pub fn has_running(&self) -> bool {
        // An idle node's answer without an iterator: asked after every input.
        !self.containers.is_empty() && self.running_processes().next().is_some()
    }

    fn running_processes(&self) -> impl Iterator<Item = (ContainerId, ProcId, Resource)> + '_ {
        self.containers.values().filter(|c| c.state == ContainerState::Running).filter_map(|c| c.pid.map(|p| (c.id, p, c.resource)))
    }

    /// What the heartbeat reports: every tracked container.
    pub fn statuses(&self) -> Vec<ContainerStatus> {
        self.containers.values().map(Container::status).collect()
    }

    /// What a registration reports: every tracked container with its size.
    pub fn nm_statuses(&self) -> Vec<NMContainerStatus> {
        self.containers.values().map(Container::nm_status).collect()
    }

    /// A container's status for GetContainerStatuses.
    pub fn status(&self, id: &ContainerId) -> Result<ContainerStatus, RemoteError> {
        self.get(id).map(Container::status).ok_or_else(|| not_handled(id))
    }

    pub fn start(&mut self, cx: &mut Cx, conf: &NmConfig, req: &StartContainerRequest) -> Result<(), RemoteError> {
        let id = req.container.id;
        if self.get(&id).is_some() {
            return Err(RemoteError::yarn(format!("Container {id} already is running on this node!!")));
        }
        let free = conf.resource.sub(&self.allocated());
        if !req.container.resource.fits_in(&free) {
            return Err(RemoteError::yarn(format!(
                "Container {id} asks for {} but this NodeManager has only {free} free of {}",
                req.container.resource, conf.resource
            )));
        }
        let app_id = id.app();
        if self.apps.get(&app_id).is_some_and(|a| a.is_finishing() && a.state != ApplicationState::Finished) {
            return Err(RemoteError::yarn(format!("Container {id} rejected: application {app_id} is finishing on this node")));
        }
        let app = self.apps.entry(app_id).or_insert_with(|| Application::new(app_id, req.user.clone()));
        if matches!(app.state, ApplicationState::New | ApplicationState::Finished) {
            app.user = req.user.clone();
            app.transition(cx, ApplicationState::Initing);
            app.transition(cx, ApplicationState::Running);
        }
        app.containers.insert(id);

        let dirs = ContainerDirs::new(conf, &id, &req.user);
        let mut c = Container::new(id, req.user.clone(), req.container.resource, dirs.work_dir.clone(), dirs.log_dir.clone());
        c.transition(cx, ContainerState::Localizing);
        let prepared = cx
            .local_mkdir(&dirs.work_dir)
            .and_then(|_| cx.local_mkdir(&dirs.log_dir))
            .map_err(|e| format!("Failed to create container directories: {e}"))
            .and_then(|_| localizer::localize(cx, &dirs.work_dir, &req.launch.local_resources));
        let plans = match prepared {
            Ok(plans) => plans,
            Err(d) => {
                c.transition(cx, ContainerState::LocalizationFailed);
                c.add_diagnostics(&d);
                self.containers.insert(id, c);
                self.finish(cx, conf, id);
                return Ok(());
            }
        };
        self.containers.insert(id, c);
        // YARN localizes asynchronously too: the container stays LOCALIZING while copies run.
        let (mut links, mut pending) = (Vec::new(), BTreeSet::new());
        for (link, plan) in plans {
            let key: CacheKey = (app_id, plan.src.clone(), plan.timestamp, plan.kind, plan.public);
            if let Some(cached) = self.cache.get(&key) {
                pending.extend(cached.copy);
                links.push((cached.path.clone(), link));
                continue;
            }
            self.next_copy += 1;
            let n = self.next_copy;
            let path = format!("{}/filecache/{n}/{}", dirs.app_local_dirs[n as usize % dirs.app_local_dirs.len()], plan.name());
            cx.trace("nm.localize", format!("{id} {} -> {path}", plan.src));
            cx.local_copy(LocalCopy {
                id: n,
                src: plan.src.clone(),
                dest: path.clone(),
                kind: plan.kind,
                file_mode: plan.file_mode,
                dir_mode: plan.dir_mode,
            });
            self.cache.insert(key.clone(), Cached { path: path.clone(), copy: Some(n) });
            self.copies.insert(n, (key, path.clone()));
            pending.insert(n);
            links.push((path, link));
        }
        if pending.is_empty() {
            self.launch_localized(cx, conf, id, req, &dirs, &links);
        } else {
            self.localizing.insert(id, Localizing { request: req.clone(), dirs, links, pending });
        }
        Ok(())
    }

    /// A copy into the file cache has ended: the containers waiting for it go on (or fail).
    /// True if one of them left LOCALIZING (it was launched, or its localization failed).
    pub fn on_local_copy_done(&mut self, cx: &mut Cx, conf: &NmConfig, copy: u64, result: Result<(), String>) -> bool {
        let Some((key, path)) = self.copies.remove(&copy) else { return false };
        match (&result, self.cache.get_mut(&key)) {
            (Ok(()), Some(cached)) => cached.copy = None,
            // A failed copy leaves the cache, so a later container tries again (what it left
            // goes too).
            (Err(_), Some(_)) => {
                self.cache.remove(&key);
                cx.local_remove(&path);
            }
            // The application was cleaned up meanwhile: what the copy left goes.
            (_, None) => cx.local_remove(&path),
        }
        let waiting: Vec<ContainerId> = self.localizing.iter().filter(|(_, l)| l.pending.contains(&copy)).map(|(id, _)| *id).collect();
        let mut moved = false;
        for id in waiting {
            let Some(l) = self.localizing.get_mut(&id) else { continue };
            l.pending.remove(&copy);
            if let Err(e) = &result {
                self.localizing.remove(&id);
                if let Some(c) = self.containers.get_mut(&id) {
                    c.transition(cx, ContainerState::LocalizationFailed);
                    c.add_diagnostics(&format!("java.io.IOException: {e}"));
                }
                self.finish(cx, conf, id);
                moved = true;
            } else if l.pending.is_empty() {
                if let Some(l) = self.localizing.remove(&id) {
                    self.launch_localized(cx, conf, id, &l.request, &l.dirs, &l.links);
                    moved = true;
                }
            }
        }
        moved
    }

    /// LOCALIZED -> RUNNING: the credentials file, the launch script, the state-store record,
    /// the process.
    fn launch_localized(
        &mut self,
        cx: &mut Cx,
        conf: &NmConfig,
        id: ContainerId,
        req: &StartContainerRequest,
        dirs: &ContainerDirs,
        links: &[(String, String)],
    ) {
        let Some(mut c) = self.containers.remove(&id) else { return };
        c.transition(cx, ContainerState::Localized);
        // ContainerLaunch.call: the Credentials go to <workdir>/container_tokens.
        let tokens_file = req.launch.tokens.as_ref().map(|t| (format!("{}/{CONTAINER_TOKENS_FILE}", dirs.work_dir), t));
        if let Some((path, blob)) = &tokens_file {
            if let Err(e) = cx.local_write(path, blob) {
                c.transition(cx, ContainerState::ExitedWithFailure);
                c.add_diagnostics(&format!("Failed to write {CONTAINER_TOKENS_FILE}: {e}"));
                self.containers.insert(id, c);
                self.finish(cx, conf, id);
                return;
            }
        }
        let launch =
            ContainerLaunch::new(conf, cx.me(), &id, &req.user, &req.launch, dirs, tokens_file.as_ref().map(|(p, _)| p.as_str()), links);
        let script_path = format!("{}/{CONTAINER_SCRIPT}", dirs.work_dir);
        if let Err(e) = cx.local_write(&script_path, launch.script.as_bytes()) {
            c.transition(cx, ContainerState::ExitedWithFailure);
            c.add_diagnostics(&format!("Failed to write {CONTAINER_SCRIPT}: {e}"));
            self.containers.insert(id, c);
            self.finish(cx, conf, id);
            return;
        }
        self.next_pid += 1;
        let pid = ProcId(self.next_pid);
        let mut recovery = None;
        if conf.recovery_enabled {
            // The record goes down before the launch: a crash in between leaves a container
            // that is reacquired as lost rather than one nobody knows of.
            let files = recovery_files(conf, &id);
            let dir = files.pid_file.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap_or_default();
            let record = RecoveredContainerRecord {
                request: req.clone(),
                pid,
                work_dir: dirs.work_dir.clone(),
                log_dir: dirs.log_dir.clone(),
                files: files.clone(),
                completed: None,
            };
            let stored = cx.local_mkdir(&dir).and_then(|_| self.store_record(cx, conf, &record));
            if let Err(e) = stored {
                c.transition(cx, ContainerState::ExitedWithFailure);
                c.add_diagnostics(&format!("Failed to store the container in the NM state store: {e}"));
                self.containers.insert(id, c);
                self.finish(cx, conf, id);
                return;
            }
            self.records.insert(id, record);
            recovery = Some(files);
        }
        cx.launch(LaunchSpec {
            pid,
            command: launch.command,
            env: launch.env,
            work_dir: dirs.work_dir.clone(),
            stdout: format!("{}/stdout", dirs.log_dir),
            stderr: format!("{}/stderr", dirs.log_dir),
            recovery,
            script: Some(script_path),
        });
        c.pid = Some(pid);
        self.pids.insert(pid, id);
        c.transition(cx, ContainerState::Running);
        self.containers.insert(id, c);
    }

    /// Kills a container for `reason`: SIGTERM now, SIGKILL after the configured delay if the
    /// process is still there. False if the NM does not know the container.
    pub fn kill(&mut self, cx: &mut Cx, conf: &NmConfig, id: &ContainerId, reason: KillReason) -> bool {
        let Some(c) = self.containers.get_mut(id) else {
            return self.get(id).is_some();
        };
        match c.state {
            ContainerState::Running => {
                c.transition(cx, ContainerState::Killing);
                c.add_diagnostics(&reason.diagnostics);
                c.kill = Some(reason);
                if let Some(pid) = c.pid {
                    cx.signal(pid, Signal::Term);
                    cx.set_timer(conf.sleep_delay_before_sigkill, KILL_TIMER_BASE + pid.0);
                }
            }
            ContainerState::New | ContainerState::Localizing | ContainerState::Localized => {
                // Copies still in flight go on into the cache, for the application's others.
                self.localizing.remove(id);
                let Some(c) = self.containers.get_mut(id) else { return true };
                c.transition(cx, ContainerState::ContainerResourcesCleaningup);
                c.exit_status = reason.exit_status;
                c.add_diagnostics(&reason.diagnostics);
                self.finish(cx, conf, *id);
            }
            _ => {}
        }
        true
    }

    /// Kills every active container (RESYNC, SHUTDOWN).
    pub fn kill_all(&mut self, cx: &mut Cx, conf: &NmConfig, exit_status: i32, diagnostics: &str) {
        let ids: Vec<ContainerId> = self.containers.values().filter(|c| c.state.is_active()).map(|c| c.id).collect();
        for id in ids {
            self.kill(cx, conf, &id, KillReason { exit_status, diagnostics: diagnostics.to_string() });
        }
    }

    /// Sends `signal` to every live process at once (the NM itself is going away).
    pub fn signal_all(&self, cx: &mut Cx, signal: Signal) {
        for pid in self.pids.keys() {
            cx.signal(*pid, signal);
        }
    }

    pub fn on_kill_timer(&mut self, cx: &mut Cx, timer: TimerId) {
        let pid = ProcId(timer - KILL_TIMER_BASE);
        if self.pids.contains_key(&pid) {
            cx.signal(pid, Signal::Kill);
        }
    }

    pub fn on_process_exit(&mut self, cx: &mut Cx, conf: &NmConfig, pid: ProcId, code: ExitCode) {
        // Whatever the command left running in its process group (a background `sleep`)
        // ends with the container.
        cx.signal(pid, Signal::Kill);
        let Some(id) = self.pids.remove(&pid) else { return };
        cx.cancel_timer(KILL_TIMER_BASE + pid.0);
        let Some(c) = self.containers.get_mut(&id) else { return };
        match c.kill.take() {
            Some(reason) => {
                c.exit_status = reason.exit_status;
                c.diagnostics.push_str(&killed_diagnostics(code));
                c.transition(cx, ContainerState::ContainerCleanedupAfterKill);
            }
            None if code == 0 => {
                c.exit_status = exit_status::SUCCESS;
                c.transition(cx, ContainerState::ExitedWithSuccess);
            }
            None => {
                let log_dir = c.log_dir.clone();
                let prelaunch_err = cx.local_read(&format!("{log_dir}/{PRELAUNCH_ERR}")).map(|b| tail_4k(&b));
                let prefix = format!("{log_dir}/");
                let mut logs = Vec::new();
                for path in cx.local_list(&log_dir) {
                    let Some(name) = path.strip_prefix(&prefix).filter(|n| !n.contains('/')) else { continue };
                    let size = cx.local_stat(&path).map(|s| s.len).unwrap_or(0);
                    logs.push((name.to_string(), size));
                }
                let named: Vec<(&str, u64)> = logs.iter().map(|(n, s)| (n.as_str(), *s)).collect();
                let stderr =
                    stderr_log(&named).map(|n| (n.to_string(), tail_4k(&cx.local_read(&format!("{prefix}{n}")).unwrap_or_default())));
                let Some(c) = self.containers.get_mut(&id) else { return };
                c.exit_status = code;
                c.diagnostics.push_str(&failure_diagnostics(
                    &id,
                    code,
                    prelaunch_err.as_deref(),
                    stderr.as_ref().map(|(n, t)| (n.as_str(), t.as_str())),
                ));
                c.transition(cx, ContainerState::ExitedWithFailure);
            }
        }
        self.finish(cx, conf, id);
    }

    /// A completed container is done: release it from its application.
    fn finish(&mut self, cx: &mut Cx, conf: &NmConfig, id: ContainerId) {
        if let Some(c) = self.containers.get_mut(&id) {
            c.transition(cx, ContainerState::Done);
            let done = (c.exit_status, c.diagnostics.clone());
            if let Some(mut r) = self.records.remove(&id) {
                r.completed = Some(done);
                if let Err(e) = self.store_record(cx, conf, &r) {
                    cx.trace("nm.statestore.error", format!("{id}: {e}"));
                }
                self.records.insert(id, r);
            }
        }
        let Some(app) = self.apps.get_mut(&id.app()) else { return };
        app.containers.remove(&id);
        if app.state == ApplicationState::FinishingContainersWait && app.containers.is_empty() {
            self.clean_up_app(cx, conf, id.app());
        }
    }

    /// The RM says these applications are over: kill what is left, then remove their
    /// working dirs (logs stay for `yarn logs`).
    pub fn finish_apps(&mut self, cx: &mut Cx, conf: &NmConfig, apps: &[ApplicationId]) {
        for app_id in apps {
            let Some(app) = self.apps.get_mut(app_id) else { continue };
            if app.is_finishing() {
                continue;
            }
            if app.containers.is_empty() {
                self.clean_up_app(cx, conf, *app_id);
                continue;
            }
            app.transition(cx, ApplicationState::FinishingContainersWait);
            let ids: Vec<ContainerId> = app.containers.iter().copied().collect();
            for id in ids {
                let diagnostics = format!("Container killed on application-finish event: application {app_id} finished");
                self.kill(cx, conf, &id, KillReason { exit_status: exit_status::KILLED_AFTER_APP_COMPLETION, diagnostics });
            }
        }
    }

    fn clean_up_app(&mut self, cx: &mut Cx, conf: &NmConfig, app_id: ApplicationId) {
        let Some(app) = self.apps.get_mut(&app_id) else { return };
        app.transition(cx, ApplicationState::ApplicationResourcesCleaningup);
        // The application's file cache goes with its appcache dirs.
        self.cache.retain(|k, _| k.0 != app_id);
        for d in &conf.local_dirs {
            cx.local_remove(&format!("{d}/usercache/{}/appcache/{app_id}", app.user));
        }
        if conf.recovery_enabled {
            cx.local_remove(&format!("{}/nmPrivate/{app_id}", conf.local_dirs[0]));
        }
        app.transition(cx, ApplicationState::Finished);
        let finished: Vec<ApplicationId> = self.apps.values().filter(|a| a.state == ApplicationState::Finished).map(|a| a.id).collect();
        for old in finished.iter().take(finished.len().saturating_sub(RETAINED_FINISHED)) {
            self.apps.remove(old);
        }
    }

    /// The RM has recorded these completed containers: stop reporting them (and forget them
    /// in the NM state store).
    pub fn forget(&mut self, cx: &mut Cx, conf: &NmConfig, ids: &[ContainerId]) {
        for id in ids {
            if self.containers.get(id).is_some_and(|c| !c.state.is_active()) {
                if let Some(c) = self.containers.remove(id) {
                    self.history.push_back((cx.now(), c));
                }
                if let Some(r) = self.records.remove(id) {
                    cx.local_remove(&record_path(conf, id));
                    cx.local_remove(&r.files.pid_file);
                    cx.local_remove(&r.files.exit_code_file);
                }
            }
        }
        // NodeStatusUpdaterImpl.removeVeryOldStoppedContainersFromCache: stopped containers
        // leave the list once tracked for the configured duration (or beyond the count cap).
        let now = cx.now();
        while let Some((at, _)) = self.history.front() {
            if now.since(*at) < conf.duration_to_track_stopped_containers && self.history.len() <= RETAINED_FINISHED {
                break;
            }
            if let Some((_, c)) = self.history.pop_front() {
                self.stopped_log_dirs.push_back((c.id, c.log_dir));
                // Trimmed only as it grows: an idle heartbeat reads nothing past `history`,
                // the end of the NodeManager's first three cache lines.
                if self.stopped_log_dirs.len() > RETAINED_FINISHED {
                    self.stopped_log_dirs.pop_front();
                }
            }
        }
    }
}

impl ContainerManager {
    fn store_record(&self, cx: &mut Cx, conf: &NmConfig, r: &RecoveredContainerRecord) -> Result<(), String> {
        let json = serde_json::to_vec(r).map_err(|e| e.to_string())?;
        cx.local_write(&record_path(conf, &r.request.container.id), &json)
    }

    /// NM start with recovery on (ContainerManagerImpl.recoverContainer): every recorded
    /// container comes back — completed ones as they ended, running ones reacquired from
    /// their pid files; the registration then reports them all to the RM.
    pub fn recover(&mut self, cx: &mut Cx, conf: &NmConfig) {
        let files = cx.local_list(&format!("{}/containers", conf.recovery_dir));
        for f in files {
            let record: RecoveredContainerRecord = match cx.local_read(&f).map(|b| serde_json::from_slice(&b)) {
                Some(Ok(r)) => r,
                Some(Err(e)) => {
                    // A record cut short by the crash: nothing to recover from it.
                    cx.trace("nm.recovery.skipped", format!("{f}: {e}"));
                    cx.local_remove(&f);
                    continue;
                }
                None => continue,
            };
            let req = &record.request;
            let id = req.container.id;
            let app = self.apps.entry(id.app()).or_insert_with(|| Application::new(id.app(), req.user.clone()));
            if app.state == ApplicationState::New {
                app.transition(cx, ApplicationState::Initing);
                app.transition(cx, ApplicationState::Running);
            }
            let mut c = Container::new(id, req.user.clone(), req.container.resource, record.work_dir.clone(), record.log_dir.clone());
            self.next_pid = self.next_pid.max(record.pid.0);
            match &record.completed {
                Some((exit, diag)) => {
                    // Recovered straight into its final state (no transitions to replay).
                    c.state = ContainerState::Done;
                    c.exit_status = *exit;
                    c.diagnostics = diag.clone();
                    cx.trace("nm.container.recovered", format!("{id} DONE exit {exit}"));
                }
                None => {
                    let os_pid = cx
                        .local_read(&record.files.pid_file)
                        .and_then(|b| String::from_utf8_lossy(&b).trim().parse::<u32>().ok())
                        .unwrap_or(0);
                    c.state = ContainerState::Running;
                    c.pid = Some(record.pid);
                    self.pids.insert(record.pid, id);
                    app.containers.insert(id);
                    cx.reacquire(record.pid, os_pid, &record.files.exit_code_file);
                    cx.trace("nm.container.recovered", format!("{id} RUNNING pid {os_pid}"));
                }
            }
            self.containers.insert(id, c);
            self.records.insert(id, record);
        }
    }
}

/// The error for a container the NM never had (or has forgotten).
pub fn not_handled(id: &ContainerId) -> RemoteError {
    RemoteError::yarn(format!("Container {id} is not handled by this NodeManager"))
}
