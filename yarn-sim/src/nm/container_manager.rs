//! ContainerManager: starts, stops and reports containers (ContainerManagementProtocol) and
//! keeps the node's applications in step with them.

use std::collections::{BTreeMap, VecDeque};

use engine::{Cx, ExitCode, LaunchSpec, ProcId, Signal, TimerId};

use crate::ids::{ApplicationId, ContainerId};
use crate::proto::{RemoteError, StartContainerRequest};
use crate::records::{exit_status, ContainerStatus, NMContainerStatus, Resource};

use super::application::{Application, ApplicationState};
use super::config::NmConfig;
use super::container::{Container, ContainerState, KillReason};
use super::launch::{failure_diagnostics, killed_diagnostics, tail_4k, ContainerDirs, ContainerLaunch};
use super::localizer;

/// Timers `KILL_TIMER_BASE + pid` send SIGKILL to a process that outlived its SIGTERM.
pub const KILL_TIMER_BASE: TimerId = 1 << 32;

/// Completed containers (and finished apps) kept for REST and `yarn logs` after the RM has
/// recorded them.
pub const RETAINED_FINISHED: usize = 1000;

#[derive(Default, Debug)]
pub struct ContainerManager {
    /// Active containers and completed ones the RM has not acknowledged yet.
    containers: BTreeMap<ContainerId, Container>,
    /// Acknowledged completed containers, oldest first.
    history: VecDeque<Container>,
    apps: BTreeMap<ApplicationId, Application>,
    pids: BTreeMap<ProcId, ContainerId>,
    next_pid: u64,
}

impl ContainerManager {
    pub fn new() -> ContainerManager {
        ContainerManager::default()
    }

    pub fn get(&self, id: &ContainerId) -> Option<&Container> {
        self.containers.get(id).or_else(|| self.history.iter().rev().find(|c| c.id == *id))
    }

    /// Every container the NM remembers: the tracked ones, then the acknowledged history.
    pub fn all(&self) -> impl Iterator<Item = &Container> {
        self.containers.values().chain(self.history.iter())
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
        self.containers
            .values()
            .filter(|c| c.state == ContainerState::Running)
            .filter_map(|c| c.pid.map(|p| (c.id, p, c.resource)))
            .collect()
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
        if let Err(d) = prepared {
            c.transition(cx, ContainerState::LocalizationFailed);
            c.add_diagnostics(&d);
            self.containers.insert(id, c);
            self.finish(cx, conf, id);
            return Ok(());
        }
        c.transition(cx, ContainerState::Localized);

        let launch = ContainerLaunch::new(conf, cx.me(), &id, &req.user, &req.launch, &dirs);
        // The script is for people reading the working dir; the driver runs `command` itself.
        if let Err(e) = cx.local_write(&format!("{}/launch_container.sh", dirs.work_dir), launch.script.as_bytes()) {
            c.transition(cx, ContainerState::ExitedWithFailure);
            c.add_diagnostics(&format!("Failed to write launch_container.sh: {e}"));
            self.containers.insert(id, c);
            self.finish(cx, conf, id);
            return Ok(());
        }
        self.next_pid += 1;
        let pid = ProcId(self.next_pid);
        cx.launch(LaunchSpec {
            pid,
            command: launch.command,
            env: launch.env,
            work_dir: dirs.work_dir.clone(),
            stdout: format!("{}/stdout", dirs.log_dir),
            stderr: format!("{}/stderr", dirs.log_dir),
        });
        c.pid = Some(pid);
        self.pids.insert(pid, id);
        c.transition(cx, ContainerState::Running);
        self.containers.insert(id, c);
        Ok(())
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
                let stderr = cx.local_read(&format!("{}/stderr", c.log_dir)).unwrap_or_default();
                c.exit_status = code;
                c.diagnostics.push_str(&failure_diagnostics(&id, code, &tail_4k(&stderr)));
                c.transition(cx, ContainerState::ExitedWithFailure);
            }
        }
        self.finish(cx, conf, id);
    }

    /// A completed container is done: release it from its application.
    fn finish(&mut self, cx: &mut Cx, conf: &NmConfig, id: ContainerId) {
        if let Some(c) = self.containers.get_mut(&id) {
            c.transition(cx, ContainerState::Done);
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
        for d in &conf.local_dirs {
            cx.local_remove(&format!("{d}/usercache/{}/appcache/{app_id}", app.user));
        }
        app.transition(cx, ApplicationState::Finished);
        let finished: Vec<ApplicationId> = self.apps.values().filter(|a| a.state == ApplicationState::Finished).map(|a| a.id).collect();
        for old in finished.iter().take(finished.len().saturating_sub(RETAINED_FINISHED)) {
            self.apps.remove(old);
        }
    }

    /// The RM has recorded these completed containers: stop reporting them.
    pub fn forget(&mut self, ids: &[ContainerId]) {
        for id in ids {
            if self.containers.get(id).is_some_and(|c| !c.state.is_active()) {
                if let Some(c) = self.containers.remove(id) {
                    self.history.push_back(c);
                }
            }
        }
        while self.history.len() > RETAINED_FINISHED {
            self.history.pop_front();
        }
    }
}

/// The error for a container the NM never had (or has forgotten).
pub fn not_handled(id: &ContainerId) -> RemoteError {
    RemoteError::yarn(format!("Container {id} is not handled by this NodeManager"))
}
