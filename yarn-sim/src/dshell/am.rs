//! The distributed-shell ApplicationMaster.

use std::any::Any;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::{Addr, Cx, Msg, Node, TimerId};

use crate::amrm_client::{AmRmClient, AmRmEvent};
use crate::ids::{ContainerId, NodeId};
use crate::proto::{env, StartContainerRequest, YarnMsg};
use crate::records::{exit_status, ContainerLaunchContext, FinalApplicationStatus, Resource};

const HEARTBEAT: TimerId = 1;

/// The AM's command line (Hadoop's names, with dashes).
#[derive(Clone, Debug, PartialEq)]
pub struct DshellArgs {
    pub num_containers: u32,
    pub container_memory_mb: u64,
    pub container_vcores: u32,
    pub priority: i32,
    pub shell_env: BTreeMap<String, String>,
    /// Allocate heartbeat interval.
    pub heartbeat_ms: u64,
}

impl Default for DshellArgs {
    fn default() -> Self {
        DshellArgs {
            num_containers: 1,
            container_memory_mb: 256,
            container_vcores: 1,
            priority: 0,
            shell_env: BTreeMap::new(),
            heartbeat_ms: 100,
        }
    }
}

impl DshellArgs {
    /// Parses `--num_containers 3 --container_memory 256 ...` (dashes or underscores).
    pub fn parse(args: &[String]) -> Result<DshellArgs, String> {
        let mut a = DshellArgs::default();
        let mut it = args.iter();
        while let Some(flag) = it.next() {
            let key = flag.trim_start_matches('-').replace('-', "_");
            let mut val = || it.next().cloned().ok_or_else(|| format!("Missing argument for option: {flag}"));
            let num = |v: String| v.parse::<u64>().map_err(|_| format!("Invalid value for {flag}: {v}"));
            match key.as_str() {
                "num_containers" => a.num_containers = num(val()?)? as u32,
                "container_memory" => a.container_memory_mb = num(val()?)?,
                "container_vcores" => a.container_vcores = num(val()?)? as u32,
                "priority" => a.priority = val()?.parse().map_err(|_| format!("Invalid value for {flag}"))?,
                "heartbeat_ms" => a.heartbeat_ms = num(val()?)?.max(1),
                "shell_env" => {
                    let kv = val()?;
                    let (k, v) = kv.split_once('=').ok_or_else(|| format!("Invalid shell_env: {kv}"))?;
                    a.shell_env.insert(k.to_string(), v.to_string());
                }
                _ => return Err(format!("Unrecognized option: {flag}")),
            }
        }
        if a.num_containers < 1 {
            return Err("Cannot run distributed shell with no containers".into());
        }
        Ok(a)
    }
}

/// Counters as Hadoop's AM keeps them.
#[derive(Default, Debug, Clone, PartialEq, Eq)]
pub struct DshellCounters {
    pub requested: u32,
    pub allocated: u32,
    pub completed: u32,
    pub failed: u32,
}

pub struct DistributedShellAm {
    args: DshellArgs,
    env: BTreeMap<String, String>,
    amrm: Option<AmRmClient>,
    shell_command: String,
    counters: DshellCounters,
    launched: BTreeSet<ContainerId>,
    /// Containers' NMs, to stop them if the AM gives up.
    nodes: BTreeMap<ContainerId, NodeId>,
    finished: bool,
    startup_error: Option<String>,
}

impl DistributedShellAm {
    /// Builds the AM from its arguments and the container environment YARN gave it.
    pub fn new(args: DshellArgs, env: BTreeMap<String, String>) -> DistributedShellAm {
        DistributedShellAm {
            args,
            env,
            amrm: None,
            shell_command: String::new(),
            counters: DshellCounters::default(),
            launched: BTreeSet::new(),
            nodes: BTreeMap::new(),
            finished: false,
            startup_error: None,
        }
    }

    pub fn counters(&self) -> &DshellCounters {
        &self.counters
    }

    fn capability(&self) -> Resource {
        Resource::new(self.args.container_memory_mb, self.args.container_vcores)
    }

    fn start(&mut self, cx: &mut Cx) -> Result<(), String> {
        let cid: ContainerId = self.env.get(env::CONTAINER_ID).ok_or("CONTAINER_ID not set in the environment")?.parse()?;
        let rm: Addr = self
            .env
            .get(env::YARN_RM_ADDRESS)
            .ok_or("YARN_RM_ADDRESS not set in the environment")?
            .parse()
            .map_err(|e| format!("bad YARN_RM_ADDRESS: {e}"))?;
        let pwd = self.env.get(env::PWD).cloned().unwrap_or_default();
        let path = format!("{}/{}", pwd.trim_end_matches('/'), super::SHELL_COMMAND_RESOURCE);
        let cmd = cx.local_read(&path).ok_or_else(|| format!("No shell command found in {path}"))?;
        self.shell_command = String::from_utf8_lossy(&cmd).trim().to_string();
        let mut amrm = AmRmClient::new(rm, cid.attempt);
        let host = self.env.get(env::NM_HOST).cloned().unwrap_or_default();
        amrm.register(cx, &host, -1, "");
        self.amrm = Some(amrm);
        Ok(())
    }

    fn on_event(&mut self, cx: &mut Cx, ev: AmRmEvent) {
        match ev {
            AmRmEvent::Registered(resp) => {
                cx.print(&format!("Registered with the RM; max capability {}, queue {}", resp.maximum_capability, resp.queue));
                let max = resp.maximum_capability;
                cx.print(&format!("Max mem capability of resources in this cluster {}", max.memory_mb));
                cx.print(&format!("Max vcores capability of resources in this cluster {}", max.vcores));
                // DistributedShell's ApplicationMaster: a resource ask cannot exceed the max, so
                // it asks for the max instead (an ask above it would be refused on allocate).
                if self.args.container_memory_mb > max.memory_mb {
                    cx.print(&format!(
                        "Container memory specified above max threshold of cluster. Using max value., specified={}, max={}",
                        self.args.container_memory_mb, max.memory_mb
                    ));
                    self.args.container_memory_mb = max.memory_mb;
                }
                if self.args.container_vcores > max.vcores {
                    cx.print(&format!(
                        "Container virtual cores specified above max threshold of cluster. Using max value., specified={}, max={}",
                        self.args.container_vcores, max.vcores
                    ));
                    self.args.container_vcores = max.vcores;
                }
                let n = self.args.num_containers.saturating_sub(resp.containers_from_previous_attempts.len() as u32);
                let (prio, cap) = (self.args.priority, self.capability());
                if let Some(a) = self.amrm.as_mut() {
                    a.add_container_request(prio, cap, n);
                }
                self.counters.requested += n;
                self.counters.allocated += resp.containers_from_previous_attempts.len() as u32;
            }
            AmRmEvent::Allocated(containers) => {
                let (prio, cap) = (self.args.priority, self.capability());
                let mut by_node: BTreeMap<NodeId, Vec<StartContainerRequest>> = BTreeMap::new();
                for c in containers {
                    let amrm = self.amrm.as_mut().expect("allocated after register");
                    if self.counters.allocated >= self.args.num_containers {
                        // More than we asked for (an ask raced an allocation): give it back.
                        amrm.release(c.id);
                        continue;
                    }
                    amrm.remove_container_request(prio, cap, 1);
                    self.counters.allocated += 1;
                    cx.print(&format!("Launching shell command on a new container., containerId={}, containerNode={}", c.id, c.node_id));
                    let launch = ContainerLaunchContext {
                        local_resources: BTreeMap::new(),
                        environment: self.args.shell_env.clone(),
                        commands: vec![self.shell_command.clone()],
                        tokens: None,
                    };
                    let user = self.env.get(env::USER).cloned().unwrap_or_default();
                    self.launched.insert(c.id);
                    self.nodes.insert(c.id, c.node_id.clone());
                    by_node.entry(c.node_id.clone()).or_default().push(StartContainerRequest { container: c, launch, user });
                }
                for (node, requests) in by_node {
                    if let Some(addr) = node.addr() {
                        cx.send(addr, YarnMsg::StartContainers { requests });
                    }
                }
            }
            AmRmEvent::Completed(statuses) => {
                for s in statuses {
                    if !self.launched.contains(&s.container_id) {
                        continue;
                    }
                    cx.print(&format!(
                        "Got container status for containerID={}, state={:?}, exitStatus={}, diagnostics={}",
                        s.container_id, s.state, s.exit_status, s.diagnostics
                    ));
                    if s.exit_status == exit_status::ABORTED {
                        // Killed by the framework (a lost node): it never ran, so ask again.
                        self.counters.allocated -= 1;
                        let (prio, cap) = (self.args.priority, self.capability());
                        if let Some(a) = self.amrm.as_mut() {
                            a.add_container_request(prio, cap, 1);
                        }
                    } else {
                        self.counters.completed += 1;
                        if s.exit_status != 0 {
                            self.counters.failed += 1;
                        }
                    }
                    self.launched.remove(&s.container_id);
                    self.nodes.remove(&s.container_id);
                }
                self.maybe_finish(cx);
            }
            AmRmEvent::NodesUpdated(_) => {}
            AmRmEvent::Error { error, fatal } => {
                cx.print(&format!("RM error: {error}"));
                if fatal {
                    cx.exit(1);
                }
            }
            AmRmEvent::Unregistered => {
                let code = if self.counters.failed == 0 { 0 } else { 2 };
                cx.exit(code);
            }
        }
    }

    fn maybe_finish(&mut self, cx: &mut Cx) {
        if self.finished || self.counters.completed < self.args.num_containers {
            return;
        }
        self.finished = true;
        let c = &self.counters;
        let (status, msg) = if c.failed == 0 {
            (FinalApplicationStatus::Succeeded, String::new())
        } else {
            (
                FinalApplicationStatus::Failed,
                format!(
                    "Diagnostics., total={}, completed={}, allocated={}, failed={}",
                    self.args.num_containers, c.completed, c.allocated, c.failed
                ),
            )
        };
        cx.print(&format!("Application completed. Signalling finish to RM: {status} {msg}"));
        if let Some(a) = self.amrm.as_mut() {
            a.set_progress(1.0);
            a.unregister(cx, status, &msg, "");
        }
    }
}

impl Node for DistributedShellAm {
    fn on_start(&mut self, cx: &mut Cx) {
        if let Err(e) = self.start(cx) {
            cx.print(&format!("Error running ApplicationMaster: {e}"));
            self.startup_error = Some(e);
            cx.exit(1);
            return;
        }
        cx.set_timer(Duration::from_millis(self.args.heartbeat_ms), HEARTBEAT);
    }

    fn on_message(&mut self, cx: &mut Cx, _from: Addr, msg: Msg) {
        let Ok(m) = msg.downcast::<YarnMsg>() else { return };
        match m {
            YarnMsg::StartContainersResponse { failed, .. } => {
                for (cid, err) in failed {
                    cx.print(&format!("Failed to start Container {cid}: {err}"));
                    if self.launched.remove(&cid) {
                        self.counters.completed += 1;
                        self.counters.failed += 1;
                        if let Some(a) = self.amrm.as_mut() {
                            a.release(cid);
                        }
                    }
                }
                self.maybe_finish(cx);
            }
            m => {
                let events = match self.amrm.as_mut() {
                    Some(a) => a.handle(m),
                    None => Vec::new(),
                };
                for ev in events {
                    self.on_event(cx, ev);
                }
            }
        }
    }

    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        if let Some(a) = self.amrm.as_mut() {
            let done = self.counters.completed as f32 / self.args.num_containers.max(1) as f32;
            if !self.finished {
                a.set_progress(done);
            }
            a.heartbeat(cx);
        }
        cx.set_timer(Duration::from_millis(self.args.heartbeat_ms), HEARTBEAT);
    }

    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn args_parse_like_hadoop_and_refuse_junk() {
        let v = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
        let a = DshellArgs::parse(&v("--num_containers 3 --container-memory 512 --shell_env A=b --priority 2")).unwrap();
        assert_eq!((a.num_containers, a.container_memory_mb, a.priority), (3, 512, 2));
        assert_eq!(a.shell_env["A"], "b");
        assert_eq!(DshellArgs::parse(&v("--bogus 1")).unwrap_err(), "Unrecognized option: --bogus");
        assert!(DshellArgs::parse(&v("--num_containers")).unwrap_err().contains("Missing argument"));
        assert!(DshellArgs::parse(&v("--num_containers 0")).is_err());
    }
}
