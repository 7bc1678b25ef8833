//! The NodeManager driven inside the deterministic sim, against a fake ResourceManager that
//! records what it hears and a client that plays the ApplicationMaster.

use std::any::Any;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::time::Duration;

use engine::sim::{Sim, SimConfig};
use engine::{Addr, Cx, Msg, Node, Signal, Store, TimerId};

use super::*;
use crate::conf::Configuration;
use crate::ids::{ApplicationAttemptId, ApplicationId, ContainerId, NodeId};
use crate::proto::{NodeAction, StartContainerRequest, YarnMsg};
use crate::records::{self, ContainerLaunchContext, ContainerState as Public, ContainerStatus, LocalResource, Resource};

struct FakeRm {
    answer: bool,
    registrations: Vec<(NodeId, Vec<records::NMContainerStatus>)>,
    heartbeats: Vec<(u64, Vec<ContainerStatus>)>,
    response_id: u64,
    next_action: NodeAction,
    to_cleanup: Vec<ContainerId>,
    apps_to_cleanup: Vec<ApplicationId>,
    ack_completed: bool,
}

impl FakeRm {
    fn new(answer: bool) -> FakeRm {
        FakeRm {
            answer,
            registrations: Vec::new(),
            heartbeats: Vec::new(),
            response_id: 0,
            next_action: NodeAction::Normal,
            to_cleanup: Vec::new(),
            apps_to_cleanup: Vec::new(),
            ack_completed: false,
        }
    }
    fn last_status(&self, id: &ContainerId) -> Option<ContainerStatus> {
        self.heartbeats.last().and_then(|(_, s)| s.iter().find(|s| s.container_id == *id).cloned())
    }
}

impl Node for FakeRm {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        match msg.downcast::<YarnMsg>() {
            Ok(YarnMsg::RegisterNodeManager { node_id, containers, .. }) => {
                self.registrations.push((node_id, containers));
                if self.answer {
                    self.response_id = 0;
                    cx.send(
                        from,
                        YarnMsg::RegisterNodeManagerResponse {
                            action: NodeAction::Normal,
                            rm_identifier: 1,
                            heartbeat_interval_ms: 1000,
                            diagnostics: String::new(),
                            container_token_master_key: Default::default(),
                            nm_token_master_key: Default::default(),
                        },
                    );
                }
            }
            Ok(YarnMsg::NodeHeartbeat { response_id, containers, .. }) => {
                let removed = if self.ack_completed {
                    containers.iter().filter(|s| s.state == Public::Complete).map(|s| s.container_id).collect()
                } else {
                    Vec::new()
                };
                self.heartbeats.push((response_id, containers));
                if self.answer {
                    self.response_id += 1;
                    cx.send(
                        from,
                        YarnMsg::NodeHeartbeatResponse {
                            response_id: self.response_id,
                            action: std::mem::replace(&mut self.next_action, NodeAction::Normal),
                            containers_to_cleanup: std::mem::take(&mut self.to_cleanup),
                            apps_to_cleanup: std::mem::take(&mut self.apps_to_cleanup),
                            containers_to_be_removed: removed,
                            next_heartbeat_ms: 1000,
                        },
                    );
                }
            }
            _ => {}
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

/// Plays the ApplicationMaster: sends what the test asks and keeps the answers.
#[derive(Default)]
struct Client {
    responses: Vec<YarnMsg>,
}

impl Node for Client {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, msg: Msg) {
        if let Ok(m) = msg.downcast::<YarnMsg>() {
            self.responses.push(m);
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

struct World {
    sim: Sim,
    rm: Addr,
    nm: Addr,
    client: Addr,
    host: Ipv4Addr,
}

const TS: u64 = 1767225600000;

fn cid(app: u32, seq: u64) -> ContainerId {
    ContainerId::new(ApplicationAttemptId::new(ApplicationId::new(TS, app), 1), seq)
}

fn conf(rm: Addr, mem_mb: u64, extra: &[(&str, &str)]) -> NmConfig {
    let mut c = Configuration::new();
    for (k, v) in extra {
        c.set(k, v);
    }
    c.set("yarn.nodemanager.local-dirs", "/nm/local");
    c.set("yarn.nodemanager.log-dirs", "/nm/logs");
    c.set("yarn.nodemanager.resource.memory-mb", mem_mb);
    c.set("yarn.resourcemanager.resource-tracker.address", rm);
    NmConfig::from_conf(&c, "127.0.0.2:8042", "/etc/hadoop").unwrap()
}

fn world_with(rm_answers: bool) -> World {
    world_conf(rm_answers, &[])
}

fn world_conf(rm_answers: bool, extra: &[(&str, &str)]) -> World {
    let mut sim = Sim::new(SimConfig::new(11));
    let h1 = sim.add_machine();
    let host = sim.add_machine();
    let rm = sim.spawn(h1, 8031, Box::new(FakeRm::new(rm_answers)));
    let nm = sim.spawn(host, 8041, Box::new(NodeManager::new(conf(rm, 4096, extra))));
    let client = sim.spawn(h1, 9000, Box::new(Client::default()));
    sim.run_for(Duration::from_millis(100));
    World { sim, rm, nm, client, host }
}

fn world() -> World {
    world_with(true)
}

impl World {
    fn rm(&mut self) -> &mut FakeRm {
        self.sim.node::<FakeRm>(self.rm).unwrap()
    }
    fn nm(&mut self) -> &mut NodeManager {
        self.sim.node::<NodeManager>(self.nm).unwrap()
    }
    fn send(&mut self, msg: YarnMsg) {
        let nm = self.nm;
        self.sim.with_node::<Client, _>(self.client, move |_, cx| cx.send(nm, msg));
        self.sim.run_for(Duration::from_millis(20));
    }
    fn request(&self, id: ContainerId, mem: u64, launch: ContainerLaunchContext) -> StartContainerRequest {
        let container = records::Container {
            id,
            node_id: NodeId::from_addr(self.nm),
            node_http_address: "127.0.0.2:8042".into(),
            resource: Resource::new(mem, 1),
            priority: 0,
            allocation_request_id: -1,
        };
        StartContainerRequest { container, launch, user: "alice".into() }
    }
    /// Starts one container and returns the NM's answer.
    fn start(&mut self, id: ContainerId, mem: u64, commands: &[&str], env: &[(&str, &str)], resources: &[(&str, &str)]) -> YarnMsg {
        let launch = ContainerLaunchContext {
            local_resources: resources
                .iter()
                .map(|(k, p)| {
                    (
                        k.to_string(),
                        LocalResource {
                            resource: p.to_string(),
                            kind: Default::default(),
                            visibility: Default::default(),
                            size: 0,
                            timestamp: 0,
                        },
                    )
                })
                .collect(),
            environment: env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            commands: commands.iter().map(|c| c.to_string()).collect(),
            tokens: None,
        };
        let req = self.request(id, mem, launch);
        self.send(YarnMsg::StartContainers { requests: vec![req] });
        self.sim.node::<Client>(self.client).unwrap().responses.pop().expect("a StartContainersResponse")
    }
    fn record(&mut self, id: &ContainerId) -> Container {
        self.nm().container_record(id).cloned().expect("the NM knows the container")
    }
    fn file(&self, path: &str) -> String {
        String::from_utf8_lossy(self.sim.local_file(self.host, path).unwrap_or_else(|| panic!("no file {path}"))).into_owned()
    }
    /// The sim address of the most recently launched container process.
    fn last_process(&self) -> Addr {
        *self.sim.processes_on(self.host).last().filter(|a| **a != self.nm).expect("a container process")
    }
}

fn started(r: &YarnMsg, id: ContainerId) {
    match r {
        YarnMsg::StartContainersResponse { succeeded, failed } => assert!(succeeded == &vec![id] && failed.is_empty(), "{r:?}"),
        other => panic!("unexpected {other:?}"),
    }
}

fn refused(r: &YarnMsg) -> String {
    match r {
        YarnMsg::StartContainersResponse { succeeded, failed } if succeeded.is_empty() && failed.len() == 1 => {
            assert_eq!(failed[0].1.exception, "YarnException");
            failed[0].1.message.clone()
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn registration_is_retried_until_the_rm_answers_then_heartbeats_carry_the_last_response_id() {
    let mut w = world_with(false);
    w.sim.run_for(Duration::from_millis(3500));
    assert!(w.rm().registrations.len() >= 4, "{}", w.rm().registrations.len());
    assert!(!w.nm().is_registered());
    assert!(w.rm().heartbeats.is_empty());
    w.rm().answer = true;
    w.sim.run_for(Duration::from_millis(1100));
    assert!(w.nm().is_registered());
    let me = NodeId::from_addr(w.nm);
    assert_eq!(w.rm().registrations[0].0, me);
    w.sim.run_for(Duration::from_secs(3));
    let ids: Vec<u64> = w.rm().heartbeats.iter().map(|(r, _)| *r).collect();
    assert!(ids.len() >= 3 && ids.windows(2).all(|p| p[1] == p[0] + 1), "{ids:?}");
    // The RM goes silent: heartbeats continue at the same pace.
    w.rm().answer = false;
    let before = w.rm().heartbeats.len();
    w.sim.run_for(Duration::from_secs(5));
    assert!(w.rm().heartbeats.len() >= before + 4);
}

#[test]
fn a_failing_container_reports_exit_status_diagnostics_and_stdout() {
    let mut w = world();
    let id = cid(1, 1);
    started(&w.start(id, 1024, &["echo hello;", "exit 3"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(100));
    let c = w.record(&id);
    assert_eq!(c.state, ContainerState::Done);
    assert_eq!(c.exit_status, 3);
    assert!(
        c.diagnostics.starts_with(&format!("Exception from container-launch.\nContainer id: {id}\nExit code: 3\n")),
        "{}",
        c.diagnostics
    );
    assert!(c.diagnostics.contains("Container exited with a non-zero exit code 3. "));
    let log_dir = format!("/nm/logs/application_{TS}_0001/{id}");
    assert_eq!(c.log_dir, log_dir);
    assert_eq!(w.file(&format!("{log_dir}/stdout")), "hello\n");
    let work = format!("/nm/local/usercache/alice/appcache/application_{TS}_0001/{id}");
    let script = w.file(&format!("{work}/launch_container.sh"));
    assert!(
        script.contains(&format!("export CONTAINER_ID=\"{id}\"\n"))
            && script.contains("exec /bin/bash -c \"echo hello; exit 3\" 1>&3 2>&4 3>&- 4>&-\n"),
        "{script}"
    );
    w.sim.run_for(Duration::from_millis(1100));
    let s = w.rm().last_status(&id).expect("reported");
    assert_eq!((s.state, s.exit_status), (Public::Complete, 3));
}

#[test]
fn a_successful_container_exits_with_success() {
    let mut w = world();
    let id = cid(1, 2);
    started(&w.start(id, 512, &["true"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let c = w.record(&id);
    assert_eq!((c.state, c.exit_status, c.diagnostics.as_str()), (ContainerState::Done, 0, ""));
}

#[test]
fn environment_and_log_dir_expansion() {
    let mut w = world();
    let id = cid(1, 3);
    let cmd = "printenv CONTAINER_ID NM_HOST NM_PORT NM_HTTP_PORT USER LOGNAME PWD LOG_DIRS HADOOP_CONF_DIR OUT CP";
    started(&w.start(id, 512, &[cmd], &[("OUT", "<LOG_DIR>/out"), ("CP", "a<CPS>{{PWD}}/b")], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let log_dir = format!("/nm/logs/application_{TS}_0001/{id}");
    let work = format!("/nm/local/usercache/alice/appcache/application_{TS}_0001/{id}");
    let out = w.file(&format!("{log_dir}/stdout"));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        vec![
            id.to_string().as_str(),
            "127.0.0.2",
            "8041",
            "8042",
            "alice",
            "alice",
            work.as_str(),
            log_dir.as_str(),
            "/etc/hadoop",
            &format!("{log_dir}/out"),
            "a:$PWD/b"
        ]
    );
}

#[test]
fn localization_copies_store_files_and_refuses_escapes_and_missing_files() {
    let mut w = world();
    w.sim.store().write("apps/app1/job.jar", b"JAR").unwrap();
    let ok = cid(1, 4);
    started(&w.start(ok, 512, &["true"], &[], &[("job.jar", "apps/app1/job.jar")]), ok);
    w.sim.run_for(Duration::from_millis(50));
    assert_eq!(w.file(&format!("/nm/local/usercache/alice/appcache/application_{TS}_0001/{ok}/job.jar")), "JAR");
    assert_eq!(w.record(&ok).exit_status, 0);

    let escape = cid(1, 5);
    started(&w.start(escape, 512, &["true"], &[], &[("x", "../x")]), escape);
    let c = w.record(&escape);
    assert_eq!((c.state, c.exit_status), (ContainerState::Done, -1000));
    assert!(c.diagnostics.contains("path '../x' is outside the shared store"), "{}", c.diagnostics);

    let missing = cid(1, 6);
    started(&w.start(missing, 512, &["true"], &[], &[("y", "apps/nope")]), missing);
    let c = w.record(&missing);
    assert_eq!(c.exit_status, -1000);
    assert!(c.diagnostics.contains("File apps/nope does not exist"), "{}", c.diagnostics);
    // Nothing was launched for the failed ones.
    assert_eq!(w.sim.processes_on(w.host), vec![w.nm]);
    w.sim.run_for(Duration::from_millis(1100));
    assert_eq!(w.rm().last_status(&missing).unwrap().state, Public::Complete);
}

#[test]
fn stop_sends_sigterm_and_reports_killed_by_appmaster() {
    let mut w = world();
    let id = cid(1, 7);
    started(&w.start(id, 512, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    assert_eq!(w.record(&id).state, ContainerState::Running);
    w.send(YarnMsg::StopContainers { containers: vec![id, cid(9, 9)] });
    match w.sim.node::<Client>(w.client).unwrap().responses.pop().unwrap() {
        YarnMsg::StopContainersResponse { succeeded, failed } => {
            assert_eq!(succeeded, vec![id]);
            assert_eq!(failed[0].1.message, format!("Container {} is not handled by this NodeManager", cid(9, 9)));
        }
        other => panic!("{other:?}"),
    }
    let c = w.record(&id);
    assert_eq!(c.exit_status, -105);
    assert_eq!(c.diagnostics, "Container killed by the ApplicationMaster.\nContainer killed on request. Exit code is 143\nContainer exited with a non-zero exit code 143. ");
    assert_eq!(c.state, ContainerState::Done);
}

#[test]
fn a_container_ignoring_sigterm_gets_sigkill_after_the_delay() {
    let mut w = world();
    let id = cid(1, 8);
    started(&w.start(id, 512, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let proc_addr = w.last_process();
    // A stopped process keeps SIGTERM pending, as one that traps it would.
    w.sim.signal(proc_addr, Signal::Stop);
    let nm = w.nm;
    w.sim.with_node::<Client, _>(w.client, move |_, cx| cx.send(nm, YarnMsg::StopContainers { containers: vec![id] }));
    w.sim.run_for(Duration::from_millis(240));
    assert!(w.sim.alive(proc_addr));
    assert_eq!(w.record(&id).state, ContainerState::Killing);
    w.sim.run_for(Duration::from_millis(20));
    assert!(!w.sim.alive(proc_addr));
    let c = w.record(&id);
    assert_eq!(c.exit_status, -105);
    assert!(
        c.diagnostics.ends_with("Container killed on request. Exit code is 137\nContainer exited with a non-zero exit code 137. "),
        "{}",
        c.diagnostics
    );
}

#[test]
fn the_monitor_kills_a_container_over_its_physical_memory_limit() {
    let mut w = world();
    let id = cid(1, 9);
    started(&w.start(id, 100, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let proc_addr = w.last_process();
    w.sim.set_rss(proc_addr, 150 << 20);
    w.sim.run_for(Duration::from_millis(3000));
    assert_eq!(w.record(&id).state, ContainerState::Running, "one pass over the limit is tolerated");
    w.sim.run_for(Duration::from_millis(3000));
    let c = w.record(&id);
    assert_eq!(c.exit_status, -104);
    let head = format!(
        "Container [pid=1003,containerID={id}] is running {}B beyond the 'PHYSICAL' memory limit. Current usage: 150 MB of 100 MB physical memory used; 150 MB of 210 MB virtual memory used. Killing container.\nDump of the process-tree for {id} :\n\t|- PID PPID PGRPID SESSID CMD_NAME",
        50u64 << 20
    );
    assert!(c.diagnostics.starts_with(&head), "{}", c.diagnostics);
    assert!(
        c.diagnostics.ends_with("\nContainer killed on request. Exit code is 143\nContainer exited with a non-zero exit code 143. "),
        "{}",
        c.diagnostics
    );
}

/// While no container runs the monitor's timer is parked; a container that starts later is
/// checked at the passes the always-running monitor would have made (every 3 s from the NM's
/// start), not 3 s after its own start.
#[test]
fn a_parked_monitor_checks_a_new_container_on_its_original_schedule() {
    let mut w = world();
    let t0 = engine::sim::EPOCH;
    // Idle passes at +3 s and +6 s; the next would be at +9 s.
    w.sim.run_until(t0 + Duration::from_millis(7500));
    let id = cid(1, 9);
    started(&w.start(id, 100, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let proc_addr = w.last_process();
    w.sim.set_rss(proc_addr, 150 << 20);
    // +9 s: the first pass over the limit (tolerated); +12 s: the second, which kills. A
    // monitor re-armed 3 s after the start (+10.5 s) would kill at +13.5 s instead.
    w.sim.run_until(t0 + Duration::from_millis(11_900));
    assert_eq!(w.record(&id).state, ContainerState::Running);
    w.sim.run_until(t0 + Duration::from_millis(12_100));
    assert_eq!(w.record(&id).exit_status, -104, "killed by the pass at +12 s");
}

#[test]
fn rm_cleanup_kills_containers_and_finishes_apps() {
    let mut w = world();
    let (a, b) = (cid(1, 10), cid(2, 1));
    started(&w.start(a, 512, &["sleep 100"], &[], &[]), a);
    started(&w.start(b, 512, &["sleep 100"], &[], &[]), b);
    w.sim.run_for(Duration::from_millis(50));
    assert_eq!(w.nm().app(&b.app()).unwrap().containerids, vec![b.to_string()]);
    w.rm().to_cleanup = vec![a, b];
    w.rm().apps_to_cleanup = vec![b.app()];
    w.sim.run_for(Duration::from_millis(1100));
    let ca = w.record(&a);
    assert_eq!((ca.exit_status, ca.diagnostics.lines().next()), (-106, Some("Container Killed by ResourceManager")));
    let cb = w.record(&b);
    assert_eq!(cb.exit_status, -107);
    assert!(cb.diagnostics.starts_with("Container killed on application-finish event"));
    let app = w.nm().app(&b.app()).unwrap();
    assert_eq!(app.state, "FINISHED");
    assert!(app.containerids.is_empty());
    assert_eq!(w.nm().app(&a.app()).unwrap().state, "RUNNING");
    let files = w.sim.local_files_under(w.host, &format!("/nm/local/usercache/alice/appcache/application_{TS}_0002"));
    assert!(files.is_empty(), "{files:?}");
    assert!(w
        .sim
        .local_file(w.host, &format!("/nm/local/usercache/alice/appcache/application_{TS}_0001/{a}/launch_container.sh"))
        .is_some());
}

#[test]
fn resync_kills_containers_and_registers_again() {
    // Without work-preserving recovery (YARN's pre-2.6 behaviour).
    let mut w = world_conf(true, &[("yarn.resourcemanager.work-preserving-recovery.enabled", "false")]);
    let id = cid(1, 11);
    started(&w.start(id, 512, &["sleep 100"], &[], &[]), id);
    w.rm().next_action = NodeAction::Resync;
    w.sim.run_for(Duration::from_millis(1100));
    assert_eq!(w.rm().registrations.len(), 2);
    let c = w.record(&id);
    assert_eq!(c.exit_status, -106);
    assert!(c.diagnostics.starts_with("Container Killed on Resync\n"));
    assert!(w.nm().is_registered());
    w.sim.run_for(Duration::from_millis(1100));
    assert_eq!(w.rm().last_status(&id).unwrap().exit_status, -106);
}

#[test]
fn work_preserving_resync_keeps_containers_and_reports_them_with_their_size() {
    let mut w = world();
    let id = cid(1, 12);
    started(&w.start(id, 512, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(1100));
    w.rm().next_action = NodeAction::Resync;
    w.sim.run_for(Duration::from_millis(1100));
    assert_eq!(w.rm().registrations.len(), 2);
    // The re-registration carries the running container (NMContainerStatus) with its size.
    let (_, reported) = w.rm().registrations[1].clone();
    let s = reported.iter().find(|s| s.container_id == id).expect("reported");
    assert_eq!((s.state, s.resource), (Public::Running, Resource::new(512, 1)));
    assert_eq!(w.record(&id).state, ContainerState::Running);
    w.sim.run_for(Duration::from_millis(1100));
    assert_eq!(w.rm().last_status(&id).unwrap().state, Public::Running);
}

#[test]
fn shutdown_stops_everything_and_exits() {
    let mut w = world();
    let id = cid(1, 12);
    started(&w.start(id, 512, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    w.rm().next_action = NodeAction::Shutdown;
    w.sim.run_for(Duration::from_millis(1100));
    assert!(!w.sim.alive(w.nm));
    assert!(w.sim.processes_on(w.host).is_empty());
}

#[test]
fn losing_the_machine_silences_the_node() {
    let mut w = world();
    let id = cid(1, 13);
    started(&w.start(id, 512, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(1100));
    assert_eq!(w.rm().last_status(&id).unwrap().state, Public::Running);
    w.sim.kill_machine(w.host);
    let n = w.rm().heartbeats.len();
    w.sim.run_for(Duration::from_secs(5));
    assert_eq!(w.rm().heartbeats.len(), n);
    assert!(!w.sim.alive(w.nm));
}

#[test]
fn duplicate_and_over_capacity_starts_are_refused() {
    let mut w = world();
    let id = cid(1, 14);
    started(&w.start(id, 3000, &["sleep 100"], &[], &[]), id);
    assert_eq!(refused(&w.start(id, 512, &["true"], &[], &[])), format!("Container {id} already is running on this node!!"));
    let big = cid(1, 15);
    let m = refused(&w.start(big, 2000, &["true"], &[], &[]));
    assert_eq!(m, format!("Container {big} asks for <memory:2000, vCores:1> but this NodeManager has only <memory:1096, vCores:7> free of <memory:4096, vCores:8>"));
    let fits = cid(1, 16);
    started(&w.start(fits, 1096, &["true"], &[], &[]), fits);
}

#[test]
fn containers_are_refused_before_registration() {
    let mut w = world_with(false);
    let id = cid(1, 17);
    match w.start(id, 512, &["true"], &[], &[]) {
        YarnMsg::StartContainersResponse { failed, .. } => assert_eq!(failed[0].1.exception, "NMNotYetReadyException"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn completed_statuses_are_reported_until_acknowledged_then_kept_for_rest_only() {
    let mut w = world();
    let id = cid(1, 18);
    started(&w.start(id, 512, &["exit 1"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(3100));
    let reported = w.rm().heartbeats.iter().filter(|(_, s)| s.iter().any(|s| s.container_id == id && s.state == Public::Complete)).count();
    assert!(reported >= 3, "{reported}");
    w.rm().ack_completed = true;
    w.sim.run_for(Duration::from_millis(2100));
    assert!(w.rm().last_status(&id).is_none());
    assert_eq!(w.record(&id).state, ContainerState::Done);
    w.send(YarnMsg::GetContainerStatuses { containers: vec![id] });
    match w.sim.node::<Client>(w.client).unwrap().responses.pop().unwrap() {
        YarnMsg::GetContainerStatusesResponse { statuses, failed } => {
            assert!(failed.is_empty());
            assert_eq!((statuses[0].state, statuses[0].exit_status), (Public::Complete, 1));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn rest_reports_use_yarn_fields() {
    let mut w = world();
    let id = cid(1, 19);
    started(&w.start(id, 1024, &["echo out;", "sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let now = w.sim.now();
    let (info, c, apps) = w
        .sim
        .with_node::<NodeManager, _>(w.nm, move |n, cx| (n.node_info(now), n.container(&id, &mut |d| cx.local_list(d)).unwrap(), n.apps()))
        .unwrap();
    let v = serde_json::to_value(&info).unwrap();
    assert_eq!(v["id"], "127.0.0.2:8041");
    assert_eq!(v["totalPmemAllocatedContainersMB"], 4096);
    assert_eq!(v["totalVmemAllocatedContainersMB"], 8601);
    assert_eq!(v["pmemCheckEnabled"], true);
    assert_eq!(v["nodeHealthy"], true);
    assert_eq!(c.state, "RUNNING");
    assert_eq!(c.exit_code, -1000);
    assert_eq!(c.container_logs_link, format!("http://127.0.0.2:8042/node/containerlogs/{id}/alice"));
    assert_eq!(c.container_log_files, vec!["stdout".to_string()]);
    assert_eq!(apps.len(), 1);
    assert_eq!((apps[0].state.as_str(), apps[0].containerids.clone()), ("RUNNING", vec![id.to_string()]));
    let nm = w.nm();
    assert_eq!(nm.container_log_dir(&id), Some(format!("/nm/logs/application_{TS}_0001/{id}")));
    assert_eq!(nm.app_log_dirs(&id.app()), vec![format!("/nm/logs/application_{TS}_0001")]);
    let all: BTreeMap<String, String> = nm.containers(&mut |_| Vec::new()).into_iter().map(|c| (c.id, c.state)).collect();
    assert_eq!(all.get(&id.to_string()).map(String::as_str), Some("RUNNING"));
}

#[test]
fn same_seed_same_trace() {
    let run = || {
        let mut w = world();
        let id = cid(1, 20);
        started(&w.start(id, 512, &["echo x;", "sleep 2"], &[], &[]), id);
        w.sim.run_for(Duration::from_secs(5));
        w.sim.trace_hash()
    };
    assert_eq!(run(), run());
}

#[test]
fn the_monitor_kills_over_virtual_memory_when_the_check_is_enabled() {
    let extra = [
        ("yarn.nodemanager.vmem-check-enabled", "true"),
        ("yarn.nodemanager.pmem-check-enabled", "false"),
        ("yarn.nodemanager.vmem-pmem-ratio", "1.0"),
        ("yarn.nodemanager.container-monitor.interval-ms", "1000"),
    ];
    let mut w = world_conf(true, &extra);
    let id = cid(1, 21);
    started(&w.start(id, 100, &["sleep 100"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(50));
    let proc_addr = w.last_process();
    // More than twice the limit at once: no second look needed.
    w.sim.set_rss(proc_addr, 250 << 20);
    w.sim.run_for(Duration::from_millis(1000));
    let c = w.record(&id);
    assert_eq!(c.exit_status, -103);
    assert!(
        c.diagnostics
            .contains("beyond the 'VIRTUAL' memory limit. Current usage: 250 MB of 100 MB physical memory used; 250 MB of 100 MB virtual"),
        "{}",
        c.diagnostics
    );
}

// ---- NM restart recovery

const NM_RECOVERY: [(&str, &str); 1] = [("yarn.nodemanager.recovery.enabled", "true")];

impl World {
    /// `kill -9` of the NodeManager and a new one on the same address and dirs.
    fn restart_nm(&mut self, extra: &[(&str, &str)]) {
        self.sim.apply(engine::Fault::Kill { process: self.nm }).unwrap();
        self.sim.run_for(Duration::from_millis(500));
        self.nm = self.sim.spawn(self.host, 8041, Box::new(NodeManager::new(conf(self.rm, 4096, extra))));
        self.sim.run_for(Duration::from_millis(50));
    }
}

#[test]
fn nm_recovery_records_containers_and_a_restarted_nm_reports_and_reacquires_them() {
    let mut w = world_conf(true, &NM_RECOVERY);
    let (a, b) = (cid(1, 21), cid(1, 22));
    started(&w.start(a, 512, &["sleep 100"], &[], &[]), a);
    started(&w.start(b, 512, &["exit 3"], &[], &[]), b);
    w.sim.run_for(Duration::from_millis(200));
    assert_eq!(w.record(&b).exit_status, 3);
    // The state store: one record per container, pid files where YARN's executor puts them.
    let rec = w.file(&format!("/nm/local/yarn-nm-recovery/containers/{a}"));
    let rec: container_manager::RecoveredContainerRecord = serde_json::from_str(&rec).unwrap();
    assert_eq!(rec.files.pid_file, format!("/nm/local/nmPrivate/{}/{a}/{a}.pid", a.app()));
    assert_eq!(rec.files.exit_code_file, format!("{}.exitcode", rec.files.pid_file));
    assert!(rec.completed.is_none());

    w.restart_nm(&NM_RECOVERY);
    // The new NM registers with both: the completed one with its status, the running one
    // reacquired (its size included).
    let (_, reported) = w.rm().registrations.last().cloned().unwrap();
    let ra = reported.iter().find(|s| s.container_id == a).expect("a reported");
    let rb = reported.iter().find(|s| s.container_id == b).expect("b reported");
    assert_eq!((ra.state, ra.resource), (Public::Running, Resource::new(512, 1)));
    assert_eq!((rb.state, rb.exit_status), (Public::Complete, 3));
    // In the sim a launcher's processes die with it, and no exit code file was left: the
    // reacquired container ends with YARN's LOST exit code.
    w.sim.run_for(Duration::from_millis(1100));
    let c = w.record(&a);
    assert_eq!(c.exit_status, engine::EXIT_CODE_LOST);
    assert!(c.diagnostics.contains("Exit code: 154"), "{}", c.diagnostics);
    assert_eq!(w.rm().last_status(&a).unwrap().exit_status, 154);
    // Once the RM acknowledges them, their records go.
    w.rm().ack_completed = true;
    w.sim.run_for(Duration::from_millis(2200));
    assert!(w.sim.local_files_under(w.host, "/nm/local/yarn-nm-recovery").is_empty());
}

#[test]
fn without_nm_recovery_a_restarted_nm_knows_no_containers() {
    let mut w = world();
    let a = cid(1, 31);
    started(&w.start(a, 512, &["sleep 100"], &[], &[]), a);
    w.sim.run_for(Duration::from_millis(200));
    assert!(w.sim.local_files_under(w.host, "/nm/local/yarn-nm-recovery").is_empty());
    w.restart_nm(&[]);
    let (_, reported) = w.rm().registrations.last().cloned().unwrap();
    assert!(reported.is_empty(), "{reported:?}");
}

#[test]
fn a_corrupt_container_record_is_skipped_and_removed() {
    let mut w = world_conf(true, &NM_RECOVERY);
    let a = cid(1, 41);
    started(&w.start(a, 512, &["sleep 100"], &[], &[]), a);
    w.sim.run_for(Duration::from_millis(200));
    let nm = w.nm;
    let path = format!("/nm/local/yarn-nm-recovery/containers/{a}");
    w.sim.with_node::<NodeManager, _>(nm, |_, cx| cx.local_write(&path, b"{\"request\":")).unwrap().unwrap();
    w.restart_nm(&NM_RECOVERY);
    let (_, reported) = w.rm().registrations.last().cloned().unwrap();
    assert!(reported.is_empty(), "{reported:?}");
    assert!(w.sim.local_file(w.host, &path).is_none());
}

#[test]
fn a_recorded_finished_container_leaves_the_list_after_the_tracking_duration_but_keeps_its_logs() {
    let mut w = world_conf(true, &[("yarn.nodemanager.duration-to-track-stopped-containers", "5000")]);
    let id = cid(1, 21);
    started(&w.start(id, 512, &["exit 0"], &[], &[]), id);
    w.sim.run_for(Duration::from_millis(1500));
    w.rm().ack_completed = true;
    w.sim.run_for(Duration::from_millis(2000));
    let listed =
        |w: &mut World| w.sim.node::<NodeManager>(w.nm).unwrap().containers(&mut |_| Vec::new()).iter().any(|c| c.id == id.to_string());
    assert!(listed(&mut w), "tracked while the duration runs");
    w.sim.run_for(Duration::from_millis(6000));
    assert!(!listed(&mut w), "gone after duration-to-track-stopped-containers");
    let nm = w.sim.node::<NodeManager>(w.nm).unwrap();
    assert!(nm.container(&id, &mut |_| Vec::new()).is_none());
    assert!(nm.container_log_dir(&id).is_some_and(|d| d.contains(&id.to_string())), "yarn logs still finds it");
}

fn jar_of(entries: &[(&str, &str)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, body) in entries {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).unwrap();
        w.write_all(body.as_bytes()).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn file_resource(url: &str, kind: records::LocalResourceType, timestamp: i64) -> LocalResource {
    LocalResource { resource: url.to_string(), kind, visibility: Default::default(), size: 0, timestamp }
}

/// What a Java client sends: `file:` resources (a FILE jar, an ARCHIVE zip, a jar ARCHIVE)
/// and Credentials. They are checked, copied and unpacked before the launch; the token file
/// is where HADOOP_TOKEN_FILE_LOCATION says.
#[test]
fn file_resources_are_localized_before_launch_and_tokens_are_written() {
    use records::LocalResourceType::{Archive, File};
    let mut w = world();
    w.sim.put_local_file(w.host, "/opt/flink/lib/flink-dist.jar", b"DIST");
    w.sim.put_local_file(w.host, "/opt/flink/conf.zip", &jar_of(&[("log4j.properties", "rootLogger=INFO"), ("sub/a.yaml", "a: 1")]));
    w.sim.put_local_file(w.host, "/opt/flink/udf.jar", &jar_of(&[("com/x/Udf.class", "CAFEBABE")]));
    let id = cid(1, 30);
    let mut launch = ContainerLaunchContext::default();
    launch.local_resources.insert("flink-dist.jar".into(), file_resource("file:/opt/flink/lib/flink-dist.jar", File, 0));
    launch.local_resources.insert("conf".into(), file_resource("file:///opt/flink/conf.zip", Archive, 0));
    launch.local_resources.insert("lib/udf".into(), file_resource("file:/opt/flink/udf.jar", Archive, 0));
    launch.commands = vec!["printenv HADOOP_TOKEN_FILE_LOCATION".into()];
    launch.tokens = Some(b"HDTS\x00\x00\x00".to_vec());
    let req = w.request(id, 512, launch);
    w.send(YarnMsg::StartContainers { requests: vec![req] });
    started(&w.sim.node::<Client>(w.client).unwrap().responses.pop().unwrap(), id);
    w.sim.run_for(Duration::from_millis(100));
    let c = w.record(&id);
    assert_eq!((c.state, c.exit_status), (ContainerState::Done, 0), "{}", c.diagnostics);
    let app_dir = format!("/nm/local/usercache/alice/appcache/application_{TS}_0001");
    let work = format!("{app_dir}/{id}");
    // Copied and unpacked into the application's file cache, one entry each, in link order.
    assert_eq!(w.file(&format!("{app_dir}/filecache/1/conf.zip/log4j.properties")), "rootLogger=INFO");
    assert_eq!(w.file(&format!("{app_dir}/filecache/1/conf.zip/sub/a.yaml")), "a: 1");
    assert_eq!(w.file(&format!("{app_dir}/filecache/2/flink-dist.jar")), "DIST");
    assert_eq!(w.file(&format!("{app_dir}/filecache/3/udf.jar/com/x/Udf.class")), "CAFEBABE");
    // RunJar.unJarAndSave keeps the jar itself beside what it unpacked.
    assert_eq!(w.sim.local_file(w.host, &format!("{app_dir}/filecache/3/udf.jar/udf.jar")), w.sim.local_file(w.host, "/opt/flink/udf.jar"));
    // The script links them under their names, as YARN's does.
    let script = w.file(&format!("{work}/launch_container.sh"));
    let check = "hadoop_shell_errorcode=$?\nif [[ \"$hadoop_shell_errorcode\" -ne 0 ]]\nthen\n  exit $hadoop_shell_errorcode\nfi\n";
    for want in [
        format!("echo \"Setting up job resources\"\nln -sf -- \"{app_dir}/filecache/1/conf.zip\" \"conf\"\n{check}"),
        format!("ln -sf -- \"{app_dir}/filecache/2/flink-dist.jar\" \"flink-dist.jar\"\n{check}"),
        format!("mkdir -p lib\n{check}ln -sf -- \"{app_dir}/filecache/3/udf.jar\" \"lib/udf\"\n{check}echo \"Launching container\""),
    ] {
        assert!(script.contains(&want), "{want}\nnot in\n{script}");
    }
    assert_eq!(w.file(&format!("{work}/container_tokens")).as_bytes(), b"HDTS\x00\x00\x00");
    let log_dir = format!("/nm/logs/application_{TS}_0001/{id}");
    assert_eq!(w.file(&format!("{log_dir}/stdout")), format!("{work}/container_tokens\n"));
    assert!(script.contains(&format!("export HADOOP_TOKEN_FILE_LOCATION=\"{work}/container_tokens\"\n")));
    // Another container of the application finds them cached: no copy, the same links.
    let copies = |w: &mut World| w.sim.local_files_under(w.host, &format!("{app_dir}/filecache/")).len();
    let before = copies(&mut w);
    let second = cid(1, 32);
    let mut launch = ContainerLaunchContext::default();
    launch.local_resources.insert("flink-dist.jar".into(), file_resource("file:/opt/flink/lib/flink-dist.jar", File, 0));
    launch.commands = vec!["true".into()];
    let req = w.request(second, 512, launch);
    w.send(YarnMsg::StartContainers { requests: vec![req] });
    started(&w.sim.node::<Client>(w.client).unwrap().responses.pop().unwrap(), second);
    w.sim.run_for(Duration::from_millis(50));
    assert_eq!(w.record(&second).exit_status, 0);
    assert_eq!(copies(&mut w), before);
    assert!(w
        .file(&format!("{app_dir}/{second}/launch_container.sh"))
        .contains(&format!("ln -sf -- \"{app_dir}/filecache/2/flink-dist.jar\" \"flink-dist.jar\"\n")));
    // The containers of our own clients carry no Credentials: no file, no variable.
    let plain = cid(1, 31);
    started(&w.start(plain, 512, &["printenv HADOOP_TOKEN_FILE_LOCATION"], &[], &[]), plain);
    w.sim.run_for(Duration::from_millis(50));
    assert!(w
        .sim
        .local_file(w.host, &format!("/nm/local/usercache/alice/appcache/application_{TS}_0001/{plain}/container_tokens"))
        .is_none());
}

/// FSDownload's checks, in YARN's words: a missing source, a source changed since the client
/// looked (its modification time is not the resource's timestamp), a file system the NM
/// cannot read, an archive that is not one. Each fails the container in LOCALIZATION_FAILED
/// (exit status INVALID) and nothing is launched.
#[test]
fn file_resources_that_fail_their_checks_fail_localization_in_yarn_s_words() {
    use records::LocalResourceType::{Archive, File};
    let mut w = world();
    w.sim.put_local_file(w.host, "/opt/app.jar", b"APP");
    w.sim.put_local_file(w.host, "/opt/broken.zip", b"not a zip at all");
    let cases = [
        ("file:/opt/nope.jar", File, 0, "java.io.FileNotFoundException: File file:/opt/nope.jar does not exist".to_string()),
        (
            "file:/opt/app.jar",
            File,
            1_700_000_000_123,
            "java.io.IOException: Resource file:/opt/app.jar changed on src filesystem - expected: \"2023-11-14T22:13:20.123+0000\", was: \"1970-01-01T00:00:00.000+0000\", current time: \"".to_string(),
        ),
        ("hdfs://nn:8020/app.jar", File, 0, "org.apache.hadoop.fs.UnsupportedFileSystemException: No FileSystem for scheme \"hdfs\"".to_string()),
        ("file:/opt/broken.zip", Archive, 0, "java.io.IOException: Cannot read zip archive".to_string()),
    ];
    for (i, (url, kind, ts, want)) in cases.into_iter().enumerate() {
        let id = cid(2, 40 + i as u64);
        let mut launch = ContainerLaunchContext::default();
        launch.local_resources.insert("app.jar".into(), file_resource(url, kind, ts));
        launch.commands = vec!["true".into()];
        let req = w.request(id, 256, launch);
        w.send(YarnMsg::StartContainers { requests: vec![req] });
        started(&w.sim.node::<Client>(w.client).unwrap().responses.pop().unwrap(), id);
        w.sim.run_for(Duration::from_millis(20));
        let c = w.record(&id);
        assert_eq!((c.state, c.exit_status), (ContainerState::Done, -1000), "{url}");
        assert!(c.diagnostics.starts_with(&want), "{url}: {}", c.diagnostics);
    }
    assert_eq!(w.sim.processes_on(w.host), vec![w.nm], "nothing was launched");
}

/// A container stopped while its copies are in flight is cleaned up at once; the copies'
/// late completions change nothing and launch nothing.
#[test]
fn a_container_stopped_while_localizing_never_launches() {
    let mut w = world();
    w.sim.put_local_file(w.host, "/opt/app.jar", b"APP");
    let id = cid(3, 50);
    let mut launch = ContainerLaunchContext::default();
    launch.local_resources.insert("app.jar".into(), file_resource("file:/opt/app.jar", records::LocalResourceType::File, 0));
    launch.commands = vec!["sleep 100".into()];
    let req = w.request(id, 256, launch);
    let client = w.client;
    // Start and stop within one input: the copy has not ended when the stop arrives.
    let state = w
        .sim
        .with_node::<NodeManager, _>(w.nm, move |n, cx| {
            n.on_message(cx, client, Msg::new(YarnMsg::StartContainers { requests: vec![req] }));
            let localizing = n.container_record(&id).map(|c| c.state);
            n.on_message(cx, client, Msg::new(YarnMsg::StopContainers { containers: vec![id] }));
            localizing
        })
        .unwrap();
    assert_eq!(state, Some(ContainerState::Localizing));
    w.sim.run_for(Duration::from_millis(100));
    let c = w.record(&id);
    assert_eq!((c.state, c.exit_status), (ContainerState::Done, records::exit_status::KILLED_BY_APPMASTER));
    assert_eq!(w.sim.processes_on(w.host), vec![w.nm], "nothing was launched");
    // The copy that ended after the stop is in the application's cache, nothing in the dir.
    assert!(w.sim.local_file(w.host, &format!("{}/app.jar", c.work_dir)).is_none());
    assert_eq!(w.file(&format!("/nm/local/usercache/alice/appcache/application_{TS}_0003/filecache/1/app.jar")), "APP");
}
