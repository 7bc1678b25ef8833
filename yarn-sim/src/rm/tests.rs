//! ResourceManager tests: the RM runs in an `engine::sim::Sim`; the tests play the NMs and AMs
//! by calling its service entry points through `Sim::with_node`, and a fake NM process
//! answers the AM launcher's StartContainers.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use engine::sim::{Sim, SimConfig};
use engine::{Addr, Cx, Msg, Node, Store, TimerId};
use proptest::prelude::*;

use super::*;
use crate::conf::Configuration;
use crate::proto::{AllocateRequest, AllocateResponse, NodeAction, RegisterResponse, RemoteError, StartContainerRequest, YarnMsg};
use crate::records::{
    ApplicationSubmissionContext, ContainerState, ContainerStatus, NMContainerStatus, NodeState, ResourceRequest, YarnApplicationState,
};

/// Answers StartContainers like a NodeManager that starts everything (or nothing).
struct FakeNm {
    started: Vec<StartContainerRequest>,
    fail_starts: bool,
}

impl Node for FakeNm {
    fn on_start(&mut self, _cx: &mut Cx) {}
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        if let Ok(YarnMsg::StartContainers { requests }) = msg.downcast::<YarnMsg>() {
            let ids: Vec<ContainerId> = requests.iter().map(|r| r.container.id).collect();
            self.started.extend(requests);
            let reply = if self.fail_starts {
                YarnMsg::StartContainersResponse {
                    succeeded: Vec::new(),
                    failed: ids.into_iter().map(|c| (c, RemoteError::yarn("disk on fire"))).collect(),
                }
            } else {
                YarnMsg::StartContainersResponse { succeeded: ids, failed: Vec::new() }
            };
            cx.send(from, reply);
        }
    }
    fn on_timer(&mut self, _cx: &mut Cx, _t: TimerId) {}
    fn as_any(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

struct H {
    sim: Sim,
    rm: Addr,
    nm_addr: BTreeMap<NodeId, Addr>,
    hb_ids: BTreeMap<NodeId, u64>,
}

fn conf_with(pairs: &[(&str, &str)]) -> Configuration {
    let mut c = Configuration::new();
    for (k, v) in pairs {
        c.set(k, v);
    }
    c
}

impl H {
    fn new(pairs: &[(&str, &str)]) -> H {
        let mut sim = Sim::new(SimConfig::new(7));
        let ip = sim.add_machine();
        let conf = RmConfig::from_conf(&conf_with(pairs)).unwrap();
        let rm = sim.spawn(ip, 8030, Box::new(ResourceManager::new(conf)));
        sim.run_for(Duration::from_millis(1));
        H { sim, rm, nm_addr: BTreeMap::new(), hb_ids: BTreeMap::new() }
    }

    fn call<R>(&mut self, f: impl FnOnce(&mut ResourceManager, &mut Cx) -> R) -> R {
        self.sim.with_node::<ResourceManager, R>(self.rm, f).expect("rm is up")
    }

    fn rm(&mut self) -> &mut ResourceManager {
        self.sim.node::<ResourceManager>(self.rm).expect("rm is up")
    }

    fn add_nm(&mut self, mb: u64, vcores: u32) -> NodeId {
        let ip = self.sim.add_machine();
        let addr = self.sim.spawn(ip, 8041, Box::new(FakeNm { started: Vec::new(), fail_starts: false }));
        let id = NodeId::from_addr(addr);
        self.nm_addr.insert(id.clone(), addr);
        let nid = id.clone();
        let r = self.call(|rm, cx| rm.register_node(cx, nid.clone(), format!("{}:8042", nid.host), Resource::new(mb, vcores), vec![]));
        assert!(matches!(r, YarnMsg::RegisterNodeManagerResponse { action: NodeAction::Normal, .. }));
        id
    }

    fn fake_nm(&mut self, id: &NodeId) -> &mut FakeNm {
        let a = self.nm_addr[id];
        self.sim.node::<FakeNm>(a).expect("fake nm")
    }

    /// One heartbeat: (action, cleanup, apps to clean, acked).
    fn hb(&mut self, id: &NodeId, statuses: Vec<ContainerStatus>) -> (NodeAction, Vec<ContainerId>, Vec<ApplicationId>, Vec<ContainerId>) {
        let rid = *self.hb_ids.get(id).unwrap_or(&0);
        let nid = id.clone();
        let r = self.call(|rm, cx| rm.node_heartbeat(cx, nid, rid, statuses, true, String::new()));
        match r {
            YarnMsg::NodeHeartbeatResponse {
                response_id,
                action,
                containers_to_cleanup,
                apps_to_cleanup,
                containers_to_be_removed,
                ..
            } => {
                assert_eq!(response_id, rid + 1);
                self.hb_ids.insert(id.clone(), response_id);
                (action, containers_to_cleanup, apps_to_cleanup, containers_to_be_removed)
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn submit_ctx(&mut self, f: impl FnOnce(&mut ApplicationSubmissionContext)) -> Result<ApplicationId, RemoteError> {
        let (id, _) = self.call(|rm, cx| rm.new_application(cx));
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.am_container_spec.commands.push("am".into());
        f(&mut ctx);
        self.call(|rm, cx| rm.submit_application(cx, ctx, "alice")).map(|_| id)
    }

    fn submit(&mut self) -> ApplicationId {
        self.submit_ctx(|_| {}).unwrap()
    }

    fn attempt(&mut self, app: ApplicationId) -> RMAppAttempt {
        self.rm().app(&app).unwrap().current_attempt().unwrap().clone()
    }

    fn app_state(&mut self, app: ApplicationId) -> RMAppState {
        self.rm().app(&app).unwrap().state
    }

    /// Heartbeats `node` until the app's current attempt has its AM container, lets the
    /// fake NM answer the launch, reports it running and registers the AM.
    fn run_am(&mut self, app: ApplicationId, node: &NodeId) -> ApplicationAttemptId {
        self.hb(node, vec![]);
        let at = self.attempt(app);
        let am = at.am_container.expect("AM container allocated");
        self.sim.run_for(Duration::from_millis(10));
        assert_eq!(self.attempt(app).state, RMAppAttemptState::Launched);
        self.hb(node, vec![running(am)]);
        self.register(at.id).unwrap();
        at.id
    }

    fn register(&mut self, id: ApplicationAttemptId) -> Result<RegisterResponse, RemoteError> {
        self.call(|rm, cx| rm.register_am(cx, id, "amhost".into(), 7000, "http://amhost:7001".into()))
    }

    fn alloc(
        &mut self,
        id: ApplicationAttemptId,
        rid: i32,
        asks: Vec<ResourceRequest>,
        releases: Vec<ContainerId>,
    ) -> Result<AllocateResponse, RemoteError> {
        let req = AllocateRequest { attempt_id: id, response_id: rid, asks, releases, progress: 0.5 };
        self.call(|rm, cx| rm.allocate(cx, req))
    }
}

fn running(c: ContainerId) -> ContainerStatus {
    ContainerStatus { container_id: c, state: ContainerState::Running, exit_status: exit_status::INVALID, diagnostics: String::new() }
}

fn done(c: ContainerId, code: i32, diag: &str) -> ContainerStatus {
    ContainerStatus { container_id: c, state: ContainerState::Complete, exit_status: code, diagnostics: diag.into() }
}

fn gb(n: u32) -> ResourceRequest {
    ResourceRequest::any(1, Resource::new(1024, 1), n)
}

#[test]
fn new_submit_kill() {
    let mut h = H::new(&[]);
    let ts = h.rm().cluster_timestamp();
    assert_eq!(ts, engine::sim::EPOCH.as_millis());
    let (id, max) = h.call(|rm, cx| rm.new_application(cx));
    assert_eq!(id.to_string(), format!("application_{ts}_0001"));
    assert_eq!(max, Resource::new(8192, 4));
    let mut ctx = ApplicationSubmissionContext::new(id);
    ctx.max_app_attempts = 5;
    let c2 = ctx.clone();
    h.call(|rm, cx| rm.submit_application(cx, ctx, "alice")).unwrap();
    assert_eq!(h.app_state(id), RMAppState::Accepted);
    assert_eq!(h.rm().app(&id).unwrap().max_attempts, 2, "above the global limit falls back to it");
    assert_eq!(h.attempt(id).state, RMAppAttemptState::Scheduled);
    let dup = h.call(|rm, cx| rm.submit_application(cx, c2, "alice")).unwrap_err();
    assert_eq!(dup.message, format!("Application with id {id} is already present! Cannot add a duplicate!"));
    let never = ApplicationSubmissionContext::new(ApplicationId::new(ts, 99));
    assert_eq!(h.call(|rm, cx| rm.submit_application(cx, never, "alice")).unwrap_err().exception, "YarnException");

    assert_eq!(h.call(|rm, cx| rm.kill_application(cx, id, "")).unwrap(), YarnApplicationState::Killed);
    let r = h.rm().app_report(&id, engine::sim::EPOCH).unwrap();
    assert_eq!((r.state, r.final_status), (YarnApplicationState::Killed, FinalApplicationStatus::Killed));
    assert_eq!(r.diagnostics, "Application killed by user.");
    assert_eq!(r.tracking_ui, "History");
    assert_eq!(h.attempt(id).state, RMAppAttemptState::Killed);
    let unknown = ApplicationId::new(ts, 42);
    let e = h.call(|rm, cx| rm.kill_application(cx, unknown, "")).unwrap_err();
    assert_eq!(e.exception, "ApplicationNotFoundException");
    assert_eq!(e.message, format!("Application with id '{unknown}' doesn't exist in RM."));
    assert_eq!(h.rm().cluster_metrics().apps_killed, 1);
}

#[test]
fn queue_errors_change_nothing() {
    let mut h = H::new(&[
        ("yarn.scheduler.capacity.root.queues", "a,b"),
        ("yarn.scheduler.capacity.root.a.capacity", "50"),
        ("yarn.scheduler.capacity.root.b.capacity", "50"),
        ("yarn.scheduler.capacity.root.b.state", "STOPPED"),
    ]);
    let (id, _) = h.call(|rm, cx| rm.new_application(cx));
    let mut ctx = ApplicationSubmissionContext::new(id);
    ctx.queue = "nope".into();
    let e = h.call(|rm, cx| rm.submit_application(cx, ctx.clone(), "bob")).unwrap_err();
    assert_eq!(e.message, format!("Application {id} submitted by user bob to unknown queue: nope"));
    ctx.queue = "root".into();
    let e = h.call(|rm, cx| rm.submit_application(cx, ctx.clone(), "bob")).unwrap_err();
    assert_eq!(e.message, format!("Application {id} submitted by user bob to non-leaf queue: root"));
    ctx.queue = "b".into();
    let e = h.call(|rm, cx| rm.submit_application(cx, ctx.clone(), "bob")).unwrap_err();
    assert_eq!(e.message, format!("Queue root.b is STOPPED. Cannot accept submission of application: {id}"));
    assert!(h.rm().app(&id).is_none());
    ctx.queue = "root.a".into();
    h.call(|rm, cx| rm.submit_application(cx, ctx, "bob")).unwrap();
    assert_eq!(h.rm().app_report(&id, engine::sim::EPOCH).unwrap().queue, "a");
}

#[test]
fn oversize_and_normalization() {
    let mut h = H::new(&[]);
    let e = h.submit_ctx(|c| c.resource = Resource::new(10000, 1)).unwrap_err();
    assert_eq!(e.exception, "InvalidResourceRequestException");
    assert_eq!(
        e.message,
        "Invalid resource request! Cannot allocate containers as requested resource is greater than maximum allowed allocation. Requested resource type=[memory-mb], Requested resource=<memory:10000, vCores:1>, maximum allowed allocation=<memory:8192, vCores:4>, please note that maximum allowed allocation is calculated by scheduler based on maximum resource of registered NodeManagers, which might be less than configured maximum allocation=<memory:8192, vCores:4>"
    );
    let e = h.submit_ctx(|c| c.resource = Resource::new(1024, 5)).unwrap_err();
    assert!(e.message.contains("Requested resource type=[vcores]"), "{}", e.message);
    assert_eq!(h.rm().cluster_metrics().apps_submitted, 0);

    let app = h.submit_ctx(|c| c.resource = Resource::new(1500, 0)).unwrap();
    assert_eq!(h.rm().app(&app).unwrap().ctx.resource, Resource::new(2048, 1));
    let n = h.add_nm(16384, 16);
    let at = h.run_am(app, &n);
    let am = h.attempt(app).am_container.unwrap();
    assert_eq!(h.rm().container(&am).unwrap().resource(), Resource::new(2048, 1));
    let big = ResourceRequest::any(1, Resource::new(8193, 1), 1);
    let e = h.alloc(at, 0, vec![big], vec![]).unwrap_err();
    assert_eq!(e.exception, "InvalidResourceRequestException");
    let r = h.alloc(at, 0, vec![ResourceRequest::any(1, Resource::new(1500, 1), 1)], vec![]).unwrap();
    assert_eq!(r.response_id, 1);
    h.hb(&n, vec![running(am)]);
    let r = h.alloc(at, 1, vec![], vec![]).unwrap();
    assert_eq!(r.allocated.len(), 1);
    assert_eq!(r.allocated[0].resource, Resource::new(2048, 1));
}

#[test]
fn am_launch_message_and_register_twice() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit_ctx(|c| c.am_container_spec.environment.insert("K".into(), "v".into()).map(|_| ()).unwrap_or(())).unwrap();
    h.hb(&n, vec![]);
    let at = h.attempt(app);
    assert_eq!(at.state, RMAppAttemptState::Allocated);
    h.sim.run_for(Duration::from_millis(10));
    let started = h.fake_nm(&n).started.clone();
    assert_eq!(started.len(), 1);
    let s = &started[0];
    assert_eq!(Some(s.container.id), at.am_container);
    assert_eq!(s.container.id.to_string(), format!("container_{}_0001_01_000001", app.cluster_timestamp));
    assert_eq!(s.user, "alice");
    let rm_addr = h.rm.to_string();
    assert_eq!(s.launch.environment.get("YARN_RM_ADDRESS"), Some(&rm_addr));
    assert_eq!(s.launch.environment.get("MAX_APP_ATTEMPTS").map(|s| s.as_str()), Some("2"));
    assert!(s.launch.environment.contains_key("APP_SUBMIT_TIME_ENV"));
    assert_eq!(s.launch.environment.get("K").map(|s| s.as_str()), Some("v"));
    assert_eq!(h.attempt(app).state, RMAppAttemptState::Launched);

    let r = h.register(at.id).unwrap();
    assert_eq!(r.maximum_capability, Resource::new(8192, 4));
    assert_eq!(r.queue, "default");
    assert_eq!(h.app_state(app), RMAppState::Running);
    let e = h.register(at.id).unwrap_err();
    assert_eq!(e.exception, "InvalidApplicationMasterRequestException");
    assert_eq!(e.message, format!("Application Master is already registered : {app}"));
    let ghost = ApplicationAttemptId::new(app, 9);
    let e = h.register(ghost).unwrap_err();
    assert_eq!(e.message, format!("Application attempt {ghost} doesn't exist in ApplicationMasterService cache."));
}

#[test]
fn failed_launch_fails_the_attempt() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    h.fake_nm(&n).fail_starts = true;
    let app = h.submit();
    h.hb(&n, vec![]);
    h.sim.run_for(Duration::from_millis(10));
    let app_ = h.rm().app(&app).unwrap().clone();
    assert_eq!(app_.attempts[0].state, RMAppAttemptState::Failed);
    assert!(app_.attempts[0].diagnostics.starts_with("Error launching appattempt_"));
    assert_eq!(app_.attempts.len(), 2);
}

#[test]
fn response_ids() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    h.hb(&n, vec![]);
    let at = h.attempt(app).id;
    h.sim.run_for(Duration::from_millis(10));
    let e = h.alloc(at, 0, vec![], vec![]).unwrap_err();
    assert_eq!(e.exception, "ApplicationMasterNotRegisteredException");
    assert_eq!(
        e.message,
        format!(
            "AM is not registered for known application attempt: {at} or RM had restarted after AM registered.  AM should re-register."
        )
    );
    h.register(at).unwrap();
    let r1 = h.alloc(at, 0, vec![gb(2)], vec![]).unwrap();
    assert_eq!(r1.response_id, 1);
    // The same request again (the AM never got r1): the cached response, asks not re-applied.
    let again = h.alloc(at, 0, vec![gb(5)], vec![]).unwrap();
    assert_eq!(again, r1);
    assert_eq!(h.rm().scheduler.outstanding(app), 2);
    let e = h.alloc(at, 7, vec![], vec![]).unwrap_err();
    assert_eq!(e.exception, "InvalidApplicationMasterRequestException");
    assert_eq!(
        e.message,
        format!("Invalid responseId in AllocateRequest from application attempt: {at}, expect responseId to be 1, but get 7")
    );
    let r2 = h.alloc(at, 1, vec![], vec![]).unwrap();
    assert_eq!(r2.response_id, 2);
    let e = h.alloc(at, 0, vec![], vec![]).unwrap_err();
    assert!(e.message.ends_with("expect responseId to be 2, but get 0"));
}

#[test]
fn asks_replace_totals_and_are_never_over_satisfied() {
    let mut h = H::new(&[]);
    let n = h.add_nm(4096, 8);
    let app = h.submit();
    let at = h.run_am(app, &n);
    let am = h.attempt(app).am_container.unwrap();
    h.alloc(at, 0, vec![gb(5)], vec![]).unwrap();
    h.hb(&n, vec![running(am)]);
    // 1 GB for the AM, 3 GB free: three of the five.
    assert_eq!(h.rm().scheduler.outstanding(app), 2);
    let r = h.alloc(at, 1, vec![gb(1)], vec![]).unwrap();
    assert_eq!(r.allocated.len(), 3);
    assert_eq!(h.rm().scheduler.outstanding(app), 1, "the new total replaces the old one");
    let n2 = h.add_nm(8192, 8);
    h.hb(&n2, vec![]);
    let r = h.alloc(at, 2, vec![], vec![]).unwrap();
    assert_eq!(r.allocated.len(), 1);
    h.hb(&n2, vec![]);
    assert_eq!(h.alloc(at, 3, vec![], vec![]).unwrap().allocated.len(), 0);
    assert_eq!(h.rm().containers_allocated_total(), 5);
}

#[test]
fn release_completes_once_and_cleans_up_on_the_node() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    h.hb(&n, vec![running(c)]);
    let r = h.alloc(at, 2, vec![], vec![c]).unwrap();
    assert_eq!(r.completed, vec![done(c, exit_status::ABORTED, "Container released by application")]);
    assert!(h.alloc(at, 3, vec![], vec![c]).unwrap().completed.is_empty());
    let (_, cleanup, _, _) = h.hb(&n, vec![running(c)]);
    assert_eq!(cleanup, vec![c]);
    // The NM's own report of the kill is acked but not delivered again.
    let (_, _, _, acked) = h.hb(&n, vec![done(c, 143, "killed")]);
    assert_eq!(acked, vec![c]);
    assert!(h.alloc(at, 4, vec![], vec![]).unwrap().completed.is_empty());
}

#[test]
fn lost_node_aborts_its_containers() {
    let mut h =
        H::new(&[("yarn.nm.liveness-monitor.expiry-interval-ms", "3000"), ("yarn.am.liveness-monitor.expiry-interval-ms", "100000")]);
    let a = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &a);
    let b = h.add_nm(8192, 8);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&b, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    assert_eq!(h.rm().container(&c).unwrap().node(), &b);
    h.hb(&b, vec![running(c)]);
    let am = h.attempt(app).am_container.unwrap();
    for _ in 0..5 {
        h.sim.run_for(Duration::from_secs(1));
        h.hb(&a, vec![running(am)]);
        let rid = h.attempt(app).last_response.response_id;
        h.alloc(at, rid, vec![], vec![]).unwrap();
    }
    assert_eq!(h.rm().node(&b).unwrap().state, NodeState::Lost);
    assert_eq!(h.rm().node_report(&b).unwrap().state, NodeState::Lost);
    let cs = h.rm().container(&c).unwrap().clone();
    assert_eq!((cs.exit_status, cs.diagnostics.as_str()), (-100, "Container released on a *lost* node"));
    // The completed status and the node update were delivered in one of the allocates above.
    let att = h.attempt(app);
    assert!(att.completed_for_am.is_empty() && att.updated_nodes.is_empty());
    let (action, ..) = h.hb(&b, vec![running(c)]);
    assert_eq!(action, NodeAction::Resync);
    assert_eq!(h.rm().cluster_metrics().lost_nodes, 1);
    assert_eq!(h.rm().cluster_metrics().total_mb, 8192);
}

#[test]
fn lost_node_statuses_reach_the_am() {
    let mut h = H::new(&[("yarn.nm.liveness-monitor.expiry-interval-ms", "3000")]);
    let a = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &a);
    let b = h.add_nm(8192, 8);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&b, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    let am = h.attempt(app).am_container.unwrap();
    for _ in 0..5 {
        h.sim.run_for(Duration::from_secs(1));
        h.hb(&a, vec![running(am)]);
    }
    let r = h.alloc(at, 2, vec![], vec![]).unwrap();
    assert_eq!(r.completed, vec![done(c, -100, "Container released on a *lost* node")]);
    assert_eq!(r.updated_nodes, vec![crate::records::NodeUpdate { node_id: b.clone(), state: NodeState::Lost }]);
    assert_eq!(r.num_cluster_nodes, 1);
    // The NM comes back: it re-registers and is RUNNING again.
    let nid = b.clone();
    h.call(|rm, cx| rm.register_node(cx, nid.clone(), "x:8042".into(), Resource::new(8192, 8), vec![]));
    assert_eq!(h.rm().node(&b).unwrap().state, NodeState::Running);
}

fn fail_am(h: &mut H, app: ApplicationId, node: &NodeId, code: i32, diag: &str) -> ApplicationAttemptId {
    let at = h.run_am(app, node);
    let am = h.attempt(app).am_container.unwrap();
    h.hb(node, vec![done(am, code, diag)]);
    at
}

#[test]
fn attempt_retry_then_fail_with_yarns_diagnostic() {
    let mut h = H::new(&[("yarn.resourcemanager.webapp.address", "rmhost:8088")]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    fail_am(&mut h, app, &n, 1, "boom");
    assert_eq!(h.app_state(app), RMAppState::Accepted);
    let second = h.attempt(app);
    assert_eq!(second.id.attempt, 2);
    // The heartbeat that reported the exit already placed the new AM container.
    assert_eq!(second.state, RMAppAttemptState::Allocated);
    let at2 = h.run_am(app, &n);
    let am2 = h.attempt(app).am_container.unwrap();
    let (_, _, apps, _) = h.hb(&n, vec![done(am2, 1, "boom again")]);
    assert_eq!(apps, vec![app], "the node that ran it is told the app ended");
    assert_eq!(h.app_state(app), RMAppState::Failed);
    let r = h.rm().app_report(&app, engine::sim::EPOCH).unwrap();
    assert_eq!(r.final_status, FinalApplicationStatus::Failed);
    assert_eq!(
        r.diagnostics,
        format!(
            "Application {app} failed 2 times (global limit =2; local limit is =2) due to AM Container for {at2} exited with  exitCode: 1\nFailing this attempt.Diagnostics: boom again\nFor more detailed output, check the application tracking page: http://rmhost:8088/proxy/{app}/ Then click on links to logs of each attempt.\n. Failing the application."
        )
    );
    let reports = h.rm().attempt_reports(&app).unwrap();
    assert_eq!(reports.len(), 2);
    assert_eq!(reports[1].app_attempt_state, "FAILED");
}

#[test]
fn aborted_am_exit_is_not_counted() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    fail_am(&mut h, app, &n, exit_status::ABORTED, "lost");
    fail_am(&mut h, app, &n, exit_status::PREEMPTED, "preempted");
    fail_am(&mut h, app, &n, 1, "real");
    assert_eq!(h.app_state(app), RMAppState::Accepted);
    assert_eq!(h.attempt(app).id.attempt, 4);
    fail_am(&mut h, app, &n, 1, "real");
    assert_eq!(h.app_state(app), RMAppState::Failed);
}

#[test]
fn max_attempts_one_never_retries() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit_ctx(|c| c.max_app_attempts = 1).unwrap();
    fail_am(&mut h, app, &n, exit_status::ABORTED, "lost");
    assert_eq!(h.app_state(app), RMAppState::Failed);
}

#[test]
fn keep_containers_across_attempts() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit_ctx(|c| c.keep_containers_across_application_attempts = true).unwrap();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    h.hb(&n, vec![running(c)]);
    let am = h.attempt(app).am_container.unwrap();
    h.hb(&n, vec![running(c), done(am, 1, "crash")]);
    assert_eq!(h.rm().container(&c).unwrap().state, RMContainerState::Running);
    let at2 = h.run_am(app, &n);
    assert_eq!(at2.attempt, 2);
    let am2 = h.attempt(app).am_container.unwrap();
    assert_eq!(am2.seq, 3, "the id sequence continues");
    // run_am registered already; a fresh look at what registration returned:
    let prev = {
        let rm = h.rm();
        let app_ = rm.app(&app).unwrap();
        app_.live_containers.iter().filter(|x| x.attempt != at2).copied().collect::<Vec<_>>()
    };
    assert_eq!(prev, vec![c]);
    // Its later completion reaches the new AM.
    h.hb(&n, vec![done(c, 0, "")]);
    let r = h.alloc(at2, 0, vec![], vec![]).unwrap();
    assert_eq!(r.completed, vec![done(c, 0, "")]);
}

#[test]
fn keep_containers_register_response_lists_them() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit_ctx(|c| c.keep_containers_across_application_attempts = true).unwrap();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(2)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let got: Vec<ContainerId> = h.alloc(at, 1, vec![], vec![]).unwrap().allocated.iter().map(|c| c.id).collect();
    h.hb(&n, got.iter().map(|c| running(*c)).collect());
    let am = h.attempt(app).am_container.unwrap();
    h.hb(&n, vec![done(am, 1, "crash")]);
    h.hb(&n, vec![]);
    let at2 = h.attempt(app);
    h.sim.run_for(Duration::from_millis(10));
    let r = h.register(at2.id).unwrap();
    let ids: Vec<ContainerId> = r.containers_from_previous_attempts.iter().map(|c| c.id).collect();
    assert_eq!(ids, got);
}

#[test]
fn without_keep_containers_they_are_killed() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    h.hb(&n, vec![running(c)]);
    let am = h.attempt(app).am_container.unwrap();
    let (_, cleanup, _, _) = h.hb(&n, vec![running(c), done(am, 1, "crash")]);
    assert_eq!(cleanup, vec![c]);
    assert_eq!(h.rm().container(&c).unwrap().state, RMContainerState::Completed);
}

#[test]
fn queue_max_capacity_under_contention() {
    let mut h = H::new(&[
        ("yarn.scheduler.capacity.root.queues", "a,b"),
        ("yarn.scheduler.capacity.root.a.capacity", "50"),
        ("yarn.scheduler.capacity.root.a.maximum-capacity", "50"),
        ("yarn.scheduler.capacity.root.b.capacity", "50"),
        ("yarn.scheduler.capacity.maximum-am-resource-percent", "0.5"),
    ]);
    let n = h.add_nm(16384, 16);
    let x = h.submit_ctx(|c| c.queue = "a".into()).unwrap();
    let y = h.submit_ctx(|c| c.queue = "b".into()).unwrap();
    let ax = h.run_am(x, &n);
    let ay = h.run_am(y, &n);
    h.alloc(ax, 0, vec![gb(20)], vec![]).unwrap();
    h.alloc(ay, 0, vec![gb(3)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let gx = h.alloc(ax, 1, vec![], vec![]).unwrap();
    let gy = h.alloc(ay, 1, vec![], vec![]).unwrap();
    // a: 8 GB max = its AM + 7; b: its AM + 3; 2 GB stay free but a may not have them.
    assert_eq!((gx.allocated.len(), gy.allocated.len()), (7, 3));
    assert_eq!(gx.headroom.memory_mb, 0);
    assert_eq!(h.rm().node(&n).unwrap().used.memory_mb, 12 * 1024);
    let info = h.rm().scheduler_info();
    assert_eq!(info["queues"]["queue"][0]["type"], "capacitySchedulerLeafQueueInfo");
    assert_eq!(info["queues"]["queue"][0]["numContainers"], 8);
    assert_eq!(info["queues"]["queue"][0]["absoluteMaxCapacity"], 50.0);
}

#[test]
fn am_liveness_expiry_fails_the_attempt() {
    let mut h = H::new(&[("yarn.am.liveness-monitor.expiry-interval-ms", "2000")]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &n);
    h.sim.run_for(Duration::from_secs(3));
    let a = h.rm().app(&app).unwrap().clone();
    assert_eq!(a.attempts[0].state, RMAppAttemptState::Failed);
    assert_eq!(a.attempts[0].diagnostics, format!("ApplicationMaster for attempt {at} timed out"));
    assert_eq!(a.attempts.len(), 2);
    assert_eq!(a.state, RMAppState::Accepted);
}

#[test]
fn allocation_expiry_releases_unused_containers() {
    let mut h = H::new(&[("yarn.resourcemanager.rm.container-allocation.expiry-interval-ms", "2000")]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    h.sim.run_for(Duration::from_secs(3));
    let r = h.alloc(at, 2, vec![], vec![]).unwrap();
    assert_eq!(r.completed, vec![done(c, -100, "Container expired since it was unused")]);
}

#[test]
fn unregister_then_finished_and_reports() {
    let mut h = H::new(&[("yarn.resourcemanager.webapp.address", "rm:8088")]);
    let n = h.add_nm(8192, 8);
    let app = h.submit_ctx(|c| c.application_tags = vec!["x".into(), "y".into()]).unwrap();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let c = h.alloc(at, 1, vec![], vec![]).unwrap().allocated[0].id;
    h.hb(&n, vec![running(c)]);
    h.sim.run_for(Duration::from_secs(10));
    let now = h.sim.now();
    let running_report = h.rm().app_report(&app, now).unwrap();
    assert_eq!(running_report.state, YarnApplicationState::Running);
    assert_eq!(running_report.tracking_ui, "ApplicationMaster");
    assert_eq!(running_report.finished_time, 0);
    assert_eq!(running_report.running_containers, 2);
    assert_eq!(running_report.allocated_mb, 2048);
    assert_eq!(running_report.progress, 50.0);
    assert_eq!(running_report.application_tags, "x,y");
    assert_eq!(running_report.am_rpc_address, "amhost:7000");
    assert!(running_report.memory_seconds >= 2 * 1024 * 10);
    let json = serde_json::to_value(&running_report).unwrap();
    for k in ["trackingUI", "trackingUrl", "amRPCAddress", "allocatedMB", "allocatedVCores", "finalStatus", "clusterId", "amContainerLogs"]
    {
        assert!(json.get(k).is_some(), "{k}");
    }
    assert!(json.get("currentAppAttemptId").is_none());
    assert_eq!(json["trackingUrl"], format!("http://rm:8088/proxy/{app}/"));

    let r = h.call(|rm, cx| rm.finish_am(cx, at, FinalApplicationStatus::Succeeded, "all good".into(), String::new()));
    assert_eq!(r, Ok(true));
    assert_eq!(h.app_state(app), RMAppState::Finishing);
    let am = h.attempt(app).am_container.unwrap();
    let (_, cleanup, apps, _) = h.hb(&n, vec![running(c), done(am, 0, "")]);
    assert_eq!(h.app_state(app), RMAppState::Finished);
    assert_eq!(cleanup, vec![c]);
    assert_eq!(apps, vec![app]);
    let r = h.rm().app_report(&app, now).unwrap();
    assert_eq!((r.state, r.final_status), (YarnApplicationState::Finished, FinalApplicationStatus::Succeeded));
    assert_eq!(r.diagnostics, "all good");
    assert_eq!(r.progress, 100.0);
    assert!(r.finished_time > 0);
    let cr = h.rm().container_reports(&at, now).unwrap();
    assert_eq!(cr.len(), 2);
    assert!(cr.iter().all(|c| c.state == ContainerState::Complete));
    let m = h.rm().cluster_metrics();
    assert_eq!((m.apps_completed, m.allocated_mb, m.total_mb, m.active_nodes), (1, 0, 8192, 1));
    let nr = serde_json::to_value(h.rm().node_reports()).unwrap();
    assert_eq!(nr[0]["rack"], "/default-rack");
    assert!(nr[0].get("nodeHTTPAddress").is_some());
    assert_eq!(serde_json::to_value(h.rm().cluster_info()).unwrap()["haState"], "ACTIVE");
    let e = h.alloc(at, 2, vec![], vec![]).unwrap_err();
    assert_eq!(e.exception, "ApplicationAttemptNotFoundException");
}

#[test]
fn max_completed_applications_evicts_the_oldest() {
    let mut h = H::new(&[("yarn.resourcemanager.max-completed-applications", "2")]);
    let ids: Vec<ApplicationId> = (0..3).map(|_| h.submit()).collect();
    for id in &ids {
        let id = *id;
        h.call(|rm, cx| rm.kill_application(cx, id, "bye")).unwrap();
    }
    assert!(h.rm().app(&ids[0]).is_none());
    assert_eq!(h.rm().app_reports(engine::sim::EPOCH).len(), 2);
    assert_eq!(h.rm().app(&ids[2]).unwrap().diagnostics, "bye");
}

// ---- property test: random workloads keep the scheduler's invariants

#[derive(Clone, Debug)]
enum Op {
    Submit { keep: bool, max_attempts: i32 },
    Ask { app: usize, n: u32, mb: u64 },
    Release { app: usize, pick: usize },
    Heartbeat { node: usize },
    CompleteOne { node: usize, pick: usize, code: i32 },
    AmCrash { app: usize, code: i32 },
    LoseNode { node: usize },
    Kill { app: usize },
    Advance { secs: u64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => (any::<bool>(), 0..4i32).prop_map(|(keep, max_attempts)| Op::Submit { keep, max_attempts }),
        6 => (0..6usize, 0..6u32, 1..3000u64).prop_map(|(app, n, mb)| Op::Ask { app, n, mb }),
        2 => (0..6usize, 0..8usize).prop_map(|(app, pick)| Op::Release { app, pick }),
        8 => (0..4usize).prop_map(|node| Op::Heartbeat { node }),
        2 => (0..4usize, 0..8usize, prop_oneof![Just(0), Just(1), Just(-100)]).prop_map(|(node, pick, code)| Op::CompleteOne { node, pick, code }),
        1 => (0..6usize, prop_oneof![Just(1), Just(-100), Just(-102)]).prop_map(|(app, code)| Op::AmCrash { app, code }),
        1 => (0..4usize).prop_map(|node| Op::LoseNode { node }),
        1 => (0..6usize).prop_map(|app| Op::Kill { app }),
        1 => (1..4u64).prop_map(|secs| Op::Advance { secs }),
    ]
}

/// The model's view of one AM: what it asked for and what it was given.
#[derive(Default)]
struct AmView {
    rid: i32,
    /// Per ask key: the total last set and how many the RM placed since.
    asks: BTreeMap<(i32, Resource), (u32, u32)>,
    /// Containers the RM had placed but the AM not yet pulled when it last set a total:
    /// they were placed against the earlier total.
    placed_before: BTreeSet<ContainerId>,
    held: Vec<ContainerId>,
}

fn check_invariants(h: &mut H, seen_completed: &BTreeSet<ContainerId>) {
    let rm = h.rm();
    for n in rm.nodes.values() {
        assert!(n.used.fits_in(&n.total), "node {} over-committed: {} of {}", n.id, n.used, n.total);
        let sum = n.containers.iter().map(|c| rm.containers[c].resource()).fold(Resource::ZERO, |a, b| a.add(&b));
        assert_eq!(sum, n.used);
    }
    for a in rm.apps.values() {
        let failures =
            a.attempts.iter().filter(|x| x.counts_as_failure(h_now(rm), a.ctx.attempt_failures_validity_interval)).count() as u32;
        assert!(failures <= a.max_attempts);
        assert!(a.max_attempts >= 1 && a.max_attempts <= rm.conf.am_max_attempts);
        assert!(a.attempts.iter().rev().skip(1).all(|x| x.state.is_final()), "only the last attempt may be live");
        for s in &a.attempts.last().unwrap().completed_for_am {
            assert!(!seen_completed.contains(&s.container_id), "{} queued again", s.container_id);
        }
    }
    let live: u64 = rm.nodes.values().map(|n| n.containers.len() as u64).sum();
    let live2 = rm.containers.values().filter(|c| c.is_live()).count() as u64;
    assert_eq!(live, live2);
}

fn h_now(rm: &ResourceManager) -> engine::Time {
    rm.containers.values().filter_map(|c| c.finished_at).max().unwrap_or(engine::sim::EPOCH)
}

fn run_ops(ops: Vec<Op>) -> (usize, usize) {
    let mut h = H::new(&[("yarn.nm.liveness-monitor.expiry-interval-ms", "5000"), ("yarn.resourcemanager.am.max-attempts", "3")]);
    let nodes: Vec<NodeId> = (0..4).map(|i| h.add_nm(4096 + 2048 * i as u64, 4)).collect();
    let mut apps: Vec<ApplicationId> = Vec::new();
    let mut views: BTreeMap<ApplicationAttemptId, AmView> = BTreeMap::new();
    let mut handed: BTreeSet<ContainerId> = BTreeSet::new();
    let mut seen_completed: BTreeSet<ContainerId> = BTreeSet::new();
    let mut lost: BTreeSet<usize> = BTreeSet::new();
    // Containers the fake NMs run (reported RUNNING), per node.
    let mut on_node: BTreeMap<usize, BTreeSet<ContainerId>> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Submit { keep, max_attempts } => {
                if apps.len() < 6 {
                    let id = h
                        .submit_ctx(|c| {
                            c.keep_containers_across_application_attempts = keep;
                            c.max_app_attempts = max_attempts;
                        })
                        .unwrap();
                    apps.push(id);
                }
            }
            Op::Heartbeat { node } | Op::CompleteOne { node, .. } if lost.contains(&node) => {
                let nid = nodes[node].clone();
                let (action, ..) = h.hb(&nid, vec![]);
                assert_eq!(action, NodeAction::Resync);
                h.call(|rm, cx| rm.register_node(cx, nid.clone(), "h:8042".into(), Resource::new(4096 + 2048 * node as u64, 4), vec![]));
                lost.remove(&node);
                on_node.remove(&node);
            }
            Op::Heartbeat { node } => {
                let nid = nodes[node].clone();
                // The NM runs everything placed on it.
                let placed: Vec<ContainerId> = h.rm().node(&nid).unwrap().containers.iter().copied().collect();
                let set = on_node.entry(node).or_default();
                set.extend(placed);
                let statuses = set.iter().map(|c| running(*c)).collect();
                let (_, cleanup, _, _) = h.hb(&nid, statuses);
                for c in cleanup {
                    set.remove(&c);
                }
                h.sim.run_for(Duration::from_millis(5));
            }
            Op::CompleteOne { node, pick, code } => {
                let set = on_node.entry(node).or_default();
                if let Some(c) = set.iter().nth(pick % set.len().max(1)).copied() {
                    set.remove(&c);
                    let nid = nodes[node].clone();
                    h.hb(&nid, vec![done(c, code, "exited")]);
                }
            }
            Op::AmCrash { app, code } => {
                let Some(&id) = apps.get(app % apps.len().max(1)) else { continue };
                let at = h.attempt(id);
                if let Some(am) = at.am_container.filter(|_| !at.state.is_final()) {
                    let c = h.rm().container(&am).unwrap().clone();
                    if c.is_live() {
                        let node = nodes.iter().position(|n| n == c.node()).unwrap();
                        on_node.entry(node).or_default().remove(&am);
                        let nid = nodes[node].clone();
                        if !lost.contains(&node) {
                            h.hb(&nid, vec![done(am, code, "am died")]);
                        }
                    }
                }
            }
            Op::LoseNode { node } => {
                if !lost.contains(&node) {
                    // Everyone else heartbeats; this one stays silent past the expiry.
                    for _ in 0..6 {
                        h.sim.run_for(Duration::from_secs(1));
                        for (i, n) in nodes.iter().enumerate() {
                            if i != node && !lost.contains(&i) {
                                let statuses = on_node.entry(i).or_default().iter().map(|c| running(*c)).collect();
                                let (_, cleanup, _, _) = h.hb(&n.clone(), statuses);
                                for c in cleanup {
                                    on_node.entry(i).or_default().remove(&c);
                                }
                            }
                        }
                    }
                    assert_eq!(h.rm().node(&nodes[node]).unwrap().state, NodeState::Lost);
                    lost.insert(node);
                }
            }
            Op::Kill { app } => {
                if let Some(&id) = apps.get(app % apps.len().max(1)) {
                    h.call(|rm, cx| rm.kill_application(cx, id, "")).unwrap();
                }
            }
            Op::Advance { secs } => h.sim.run_for(Duration::from_secs(secs)),
            Op::Ask { app, .. } | Op::Release { app, .. } => {
                let Some(&id) = apps.get(app % apps.len().max(1)) else { continue };
                let at = h.attempt(id);
                if !at.is_serving() || h.rm().app(&id).unwrap().state.is_final() {
                    continue;
                }
                if !at.registered {
                    if at.state != RMAppAttemptState::Launched {
                        continue;
                    }
                    h.register(at.id).unwrap();
                }
                let unpulled: BTreeSet<ContainerId> = at.new_containers.iter().copied().collect();
                let view = views.entry(at.id).or_default();
                let (asks, releases) = match op {
                    Op::Ask { n, mb, .. } => {
                        let r = ResourceRequest::any(1, Resource::new(mb, 1), n);
                        let key = (1, super::client::normalize(r.capability, Resource::new(1024, 1), Resource::new(8192, 4)));
                        view.asks.insert(key, (n, 0));
                        view.placed_before = unpulled;
                        (vec![r], vec![])
                    }
                    Op::Release { pick, .. } => {
                        if view.held.is_empty() {
                            (vec![], vec![])
                        } else {
                            let c = view.held.remove(pick % view.held.len());
                            (vec![], vec![c])
                        }
                    }
                    _ => unreachable!(),
                };
                let rid = view.rid;
                let r = h.alloc(at.id, rid, asks, releases).unwrap();
                let view = views.get_mut(&at.id).unwrap();
                view.rid = r.response_id;
                for c in &r.allocated {
                    assert!(handed.insert(c.id), "container {} handed out twice", c.id);
                    view.held.push(c.id);
                    if view.placed_before.contains(&c.id) {
                        continue;
                    }
                    let e = view.asks.entry((c.priority, c.resource)).or_insert((0, 0));
                    e.1 += 1;
                    assert!(e.1 <= e.0, "ask {:?} over-satisfied: {} of {}", (c.priority, c.resource), e.1, e.0);
                }
                for s in &r.completed {
                    assert!(seen_completed.insert(s.container_id), "{} reported twice", s.container_id);
                    view.held.retain(|c| *c != s.container_id);
                }
            }
        }
        check_invariants(&mut h, &seen_completed);
    }
    (handed.len(), seen_completed.len())
}

#[test]
fn scripted_workload_exercises_the_model() {
    let mut ops = vec![Op::Submit { keep: true, max_attempts: 0 }, Op::Submit { keep: false, max_attempts: 2 }];
    for round in 0..4 {
        ops.extend([Op::Heartbeat { node: 0 }, Op::Heartbeat { node: 1 }, Op::Advance { secs: 1 }]);
        ops.extend([Op::Ask { app: 0, n: 3, mb: 1024 }, Op::Ask { app: 1, n: 2, mb: 1500 }]);
        ops.extend([Op::Heartbeat { node: 2 }, Op::Heartbeat { node: 3 }]);
        ops.extend([Op::Release { app: 0, pick: round }, Op::Release { app: 1, pick: 0 }]);
        ops.extend([Op::CompleteOne { node: 2, pick: 0, code: 0 }, Op::Ask { app: 0, n: 1, mb: 900 }]);
    }
    ops.extend([Op::AmCrash { app: 0, code: 1 }, Op::LoseNode { node: 3 }, Op::Heartbeat { node: 3 }, Op::Kill { app: 1 }]);
    ops.extend([Op::Heartbeat { node: 0 }, Op::Advance { secs: 1 }, Op::Ask { app: 0, n: 2, mb: 2000 }, Op::Heartbeat { node: 1 }]);
    ops.push(Op::Release { app: 0, pick: 0 });
    let (handed, completed) = run_ops(ops);
    assert!(handed >= 6, "handed {handed}");
    assert!(completed >= 2, "completed {completed}");
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(48),
        rng_seed: std::env::var("PROPTEST_RNG_SEED").ok().and_then(|v| v.parse().ok()).map(proptest::test_runner::RngSeed::Fixed).unwrap_or(proptest::test_runner::RngSeed::Fixed(7)),
        .. ProptestConfig::default()
    })]
    #[test]
    fn random_workloads_keep_invariants(keep in any::<bool>(), ops in proptest::collection::vec(op(), 20..80)) {
        // Two apps from the start so most cases reach allocation.
        let mut all = vec![Op::Submit { keep, max_attempts: 0 }, Op::Submit { keep: !keep, max_attempts: 1 }];
        all.extend(ops);
        let (handed, completed) = run_ops(all);
        if std::env::var("RM_PROPTEST_STATS").is_ok() {
            eprintln!("handed {handed} completed {completed}");
        }
    }
}

// ---- RM restart recovery

const RECOVERY: [(&str, &str); 1] = [("yarn.resourcemanager.recovery.enabled", "true")];

impl H {
    /// `kill -9` of the RM and a new one on the same address with `pairs`; the shared store
    /// (the sim's) survives, as a DFS does.
    fn restart_rm(&mut self, pairs: &[(&str, &str)]) {
        self.sim.apply(engine::Fault::Kill { process: self.rm }).unwrap();
        self.sim.run_for(Duration::from_secs(3));
        let conf = RmConfig::from_conf(&conf_with(pairs)).unwrap();
        let ip = *self.rm.ip();
        self.rm = self.sim.spawn(ip, 8030, Box::new(ResourceManager::new(conf)));
        self.sim.run_for(Duration::from_millis(1));
        self.hb_ids.clear();
    }

    fn reregister(&mut self, id: &NodeId, containers: Vec<NMContainerStatus>) {
        let nid = id.clone();
        let r = self.call(|rm, cx| rm.register_node(cx, nid.clone(), format!("{}:8042", nid.host), Resource::new(8192, 8), containers));
        assert!(matches!(r, YarnMsg::RegisterNodeManagerResponse { action: NodeAction::Normal, .. }));
    }
}

fn nm_running(c: ContainerId, mb: u64) -> NMContainerStatus {
    NMContainerStatus {
        container_id: c,
        state: ContainerState::Running,
        exit_status: exit_status::INVALID,
        diagnostics: String::new(),
        resource: Resource::new(mb, 1),
    }
}

#[test]
fn state_store_round_trip() {
    use statestore::*;
    let mut store = engine::MemStore::default();
    let root = "yarn/system/rmstore";
    let app = ApplicationId::new(1700000000000, 3);
    let cluster = ClusterState { cluster_id: "c1".into(), cluster_timestamp: 1700000000000, app_sequence: 4, handed_out: vec![] };
    store_cluster(&mut store, root, &cluster).unwrap();
    store_epoch(&mut store, root, 2).unwrap();
    let mut ctx = ApplicationSubmissionContext::new(app);
    ctx.application_name = "n".into();
    let data = ApplicationStateData {
        submit_time: 5,
        start_time: 5,
        launch_time: Some(6),
        user: "alice".into(),
        application_submission_context: ctx,
        queue_path: "root.default".into(),
        max_attempts: 2,
        application_state: None,
        final_application_status: FinalApplicationStatus::Undefined,
        diagnostics: String::new(),
        finish_time: None,
        memory_seconds: 1,
        vcore_seconds: 2,
    };
    store_app(&mut store, root, app, &data).unwrap();
    let attempts: Vec<ApplicationAttemptStateData> = (1..=2)
        .map(|n| ApplicationAttemptStateData {
            attempt_id: ApplicationAttemptId::new(app, n),
            master_container: None,
            app_attempt_state: (n == 1).then(|| "FAILED".to_string()),
            registered: n == 2,
            final_tracking_url: String::new(),
            diagnostics: format!("d{n}"),
            start_time: 7,
            finish_time: None,
            final_application_status: FinalApplicationStatus::Undefined,
            am_container_exit_status: -1000,
        })
        .collect();
    for a in attempts.iter().rev() {
        store_attempt(&mut store, root, a).unwrap();
    }
    // YARN's layout.
    let files = store.list(root).unwrap();
    assert!(files.contains(&format!("{root}/FSRMStateRoot/RMAppRoot/{app}/{app}")), "{files:?}");
    assert!(files.contains(&format!("{root}/FSRMStateRoot/RMAppRoot/{app}/appattempt_1700000000000_0003_000002")), "{files:?}");
    assert!(files.contains(&format!("{root}/FSRMStateRoot/EpochNode")), "{files:?}");
    let s = load(&store, root, "c1").unwrap();
    assert_eq!(s.cluster, Some(cluster));
    assert_eq!(s.epoch, 2);
    assert_eq!(s.apps, vec![(data, attempts)]);
    // Another cluster's store, and corrupt nodes, are refused with what is wrong.
    let e = load(&store, root, "c2").unwrap_err();
    assert!(e.contains("belongs to cluster 'c1'") && e.contains("'c2'"), "{e}");
    store.write(&format!("{root}/FSRMStateRoot/RMAppRoot/{app}/appattempt_1700000000000_0003_000002"), b"{not json").unwrap();
    let e = load(&store, root, "c1").unwrap_err();
    assert!(e.starts_with("corrupt state store node") && e.contains("appattempt_1700000000000_0003_000002"), "{e}");
    remove_app(&mut store, root, app).unwrap();
    assert!(load(&store, root, "c1").unwrap().apps.is_empty());
    store.write(&format!("{root}/FSRMStateRoot/RMAppRoot/junk/x"), b"1").unwrap();
    assert!(load(&store, root, "c1").unwrap_err().contains("Invalid ApplicationId: junk"));
}

#[test]
fn without_recovery_nothing_is_stored() {
    let mut h = H::new(&[]);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    h.run_am(app, &n);
    assert!(h.sim.store().list("yarn").unwrap().is_empty());
}

#[test]
fn restart_recovers_apps_attempts_and_containers_and_the_am_resyncs() {
    let mut h = H::new(&RECOVERY);
    let n = h.add_nm(8192, 8);
    let done_app = h.submit();
    let done_at = h.run_am(done_app, &n);
    h.call(|rm, cx| rm.finish_am(cx, done_at, FinalApplicationStatus::Succeeded, "ok".into(), String::new())).unwrap();
    let done_am = h.attempt(done_app).am_container.unwrap();
    h.hb(&n, vec![done(done_am, 0, "")]);
    assert_eq!(h.app_state(done_app), RMAppState::Finished);

    let app = h.submit();
    let at = h.run_am(app, &n);
    h.alloc(at, 0, vec![gb(2)], vec![]).unwrap();
    h.hb(&n, vec![]);
    let got = h.alloc(at, 1, vec![], vec![]).unwrap().allocated;
    assert_eq!(got.len(), 2);
    let am = h.attempt(app).am_container.unwrap();
    h.hb(&n, vec![running(am), running(got[0].id), running(got[1].id)]);
    let ts = h.rm().cluster_timestamp();
    let handed = h.call(|rm, cx| rm.new_application(cx)).0;
    let used_before = h.rm().node(&n).unwrap().used;

    h.restart_rm(&RECOVERY);
    assert_eq!(h.rm().cluster_timestamp(), ts);
    assert_eq!(h.rm().epoch(), 1);
    // Apps and attempts are back, with their ids and states.
    assert_eq!(h.app_state(done_app), RMAppState::Finished);
    let now = h.sim.now();
    let r = h.rm().app_report(&done_app, now).unwrap();
    assert_eq!((r.final_status, r.diagnostics.as_str()), (FinalApplicationStatus::Succeeded, "ok"));
    assert_eq!(h.app_state(app), RMAppState::Running);
    let recovered = h.attempt(app);
    assert_eq!((recovered.id, recovered.state, recovered.am_container), (at, RMAppAttemptState::Running, Some(am)));
    // The NM is unknown to the new RM: its heartbeat gets a resync, and it re-registers with
    // its containers, which the RM rebuilds (node usage included) instead of killing.
    assert_eq!(h.hb(&n, vec![running(am)]).0, NodeAction::Resync);
    h.hb_ids.clear();
    h.reregister(&n, vec![nm_running(am, 1024), nm_running(got[0].id, 1024), nm_running(got[1].id, 1024)]);
    assert_eq!(h.rm().node(&n).unwrap().used, used_before);
    assert!(h.rm().container(&got[0].id).is_some_and(|c| c.state == RMContainerState::Running));
    let (_, cleanup, _, _) = h.hb(&n, vec![running(am), running(got[0].id), running(got[1].id)]);
    assert!(cleanup.is_empty(), "{cleanup:?}");
    // The AM is told to re-register (YARN's message), does, and asks again.
    let e = h.alloc(at, 2, vec![], vec![]).unwrap_err();
    assert_eq!(e.exception, "ApplicationMasterNotRegisteredException");
    assert!(e.message.contains("RM had restarted after AM registered"), "{e:?}");
    h.register(at).unwrap();
    h.alloc(at, 0, vec![gb(1)], vec![]).unwrap();
    h.hb(&n, vec![running(am), running(got[0].id), running(got[1].id)]);
    let more = h.alloc(at, 1, vec![], vec![]).unwrap().allocated;
    assert_eq!(more.len(), 1);
    // Containers of the new epoch never reuse an id from before the restart.
    assert_eq!(more[0].id.epoch(), 1);
    assert_eq!(more[0].id.to_string(), format!("container_e01_{ts}_0002_01_000001"));
    // Ids keep counting from the stored sequence, and one handed out before is still valid.
    assert_eq!(h.call(|rm, cx| rm.new_application(cx)).0, ApplicationId::new(ts, 4));
    let mut ctx = ApplicationSubmissionContext::new(handed);
    ctx.am_container_spec.commands.push("am".into());
    h.call(|rm, cx| rm.submit_application(cx, ctx, "alice")).unwrap();
    // The app finishes as usual.
    h.call(|rm, cx| rm.finish_am(cx, at, FinalApplicationStatus::Succeeded, String::new(), String::new())).unwrap();
    h.hb(&n, vec![done(am, 0, ""), running(got[0].id), running(got[1].id)]);
    assert_eq!(h.app_state(app), RMAppState::Finished);
    assert_eq!(h.rm().app(&app).unwrap().attempts.len(), 1);

    // A second restart is epoch 2 and still knows both apps as finished.
    h.restart_rm(&RECOVERY);
    assert_eq!(h.rm().epoch(), 2);
    assert_eq!(h.app_state(app), RMAppState::Finished);
    assert_eq!(h.app_state(done_app), RMAppState::Finished);
}

#[test]
fn an_am_that_died_while_the_rm_was_down_fails_its_attempt_and_a_new_one_starts() {
    let mut h = H::new(&RECOVERY);
    let n = h.add_nm(8192, 8);
    let app = h.submit();
    let at = h.run_am(app, &n);
    let am = h.attempt(app).am_container.unwrap();
    h.restart_rm(&RECOVERY);
    let mut gone = nm_running(am, 1024);
    gone.state = ContainerState::Complete;
    gone.exit_status = 137;
    h.reregister(&n, vec![gone]);
    let attempts = &h.rm().app(&app).unwrap().attempts;
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0].state, RMAppAttemptState::Failed);
    assert!(attempts[0].diagnostics.contains(&format!("AM Container for {at} exited with  exitCode: 137")));
    assert_eq!(attempts[1].state, RMAppAttemptState::Scheduled);
}

#[test]
fn a_state_store_of_another_cluster_or_corrupt_refuses_to_start() {
    for (what, setup) in [
        (
            "other cluster",
            &(|s: &mut engine::MemStore| {
                statestore::store_cluster(
                    s,
                    statestore_root(),
                    &statestore::ClusterState {
                        cluster_id: "someone-else".into(),
                        cluster_timestamp: 1,
                        app_sequence: 0,
                        handed_out: vec![],
                    },
                )
                .unwrap()
            }) as &dyn Fn(&mut engine::MemStore),
        ),
        ("corrupt epoch", &|s: &mut engine::MemStore| s.write(&format!("{}/FSRMStateRoot/EpochNode", statestore_root()), b"x").unwrap()),
        ("another version", &|s: &mut engine::MemStore| {
            s.write(&format!("{}/FSRMStateRoot/RMVersionNode", statestore_root()), br#"{"major_version":2,"minor_version":0}"#).unwrap()
        }),
        ("stray nodes", &|s: &mut engine::MemStore| s.write(&format!("{}/FSRMStateRoot/something", statestore_root()), b"x").unwrap()),
        ("corrupt secret keys", &|s: &mut engine::MemStore| {
            s.write(&format!("{}/FSRMStateRoot/AMRMTokenSecretManagerRoot", statestore_root()), b"{").unwrap()
        }),
        ("corrupt app", &|s: &mut engine::MemStore| {
            s.write(&format!("{}/FSRMStateRoot/RMAppRoot/application_1_0001/application_1_0001", statestore_root()), b"[").unwrap()
        }),
    ] {
        let mut sim = Sim::new(SimConfig::new(7));
        let ip = sim.add_machine();
        setup(sim.store());
        let before = sim.store().list("yarn").unwrap();
        let conf = RmConfig::from_conf(&conf_with(&RECOVERY)).unwrap();
        let rm = sim.spawn(ip, 8030, Box::new(ResourceManager::new(conf)));
        sim.run_for(Duration::from_millis(10));
        assert!(!sim.alive(rm), "{what}: the RM must refuse to start");
        // Nothing was written over the store it refused.
        assert_eq!(sim.store().list("yarn").unwrap(), before, "{what}");
    }
}

fn statestore_root() -> &'static str {
    config::DEFAULT_FS_STATE_STORE_URI
}

#[test]
fn bad_state_store_settings_are_config_errors() {
    let e = RmConfig::from_conf(&conf_with(&[("yarn.resourcemanager.fs.state-store.uri", "/etc")])).unwrap_err();
    assert!(e.starts_with("Invalid yarn.resourcemanager.fs.state-store.uri=/etc"), "{e}");
    let e = RmConfig::from_conf(&conf_with(&[
        ("yarn.resourcemanager.recovery.enabled", "true"),
        ("yarn.resourcemanager.store.class", "org.apache.hadoop.yarn.server.resourcemanager.recovery.ZKRMStateStore"),
    ]))
    .unwrap_err();
    assert!(e.contains("is not supported"), "{e}");
}

// ---- ACLs (ApplicationACLsManager, queue ACLs) and the app updates they guard

fn submit_as(h: &mut H, user: &str, f: impl FnOnce(&mut ApplicationSubmissionContext)) -> Result<ApplicationId, RemoteError> {
    let (id, _) = h.call(|rm, cx| rm.new_application(cx));
    let mut ctx = ApplicationSubmissionContext::new(id);
    ctx.am_container_spec.commands.push("am".into());
    f(&mut ctx);
    let user = user.to_string();
    h.call(|rm, cx| rm.submit_application(cx, ctx, &user)).map(|_| id)
}

fn acl_cluster(extra: &[(&str, &str)]) -> H {
    let mut pairs = vec![
        ("yarn.admin.acl", "root"),
        ("yarn.scheduler.capacity.root.queues", "a,b"),
        ("yarn.scheduler.capacity.root.a.capacity", "50"),
        ("yarn.scheduler.capacity.root.b.capacity", "50"),
        // YARN's default "*" on the root would make everyone a queue admin.
        ("yarn.scheduler.capacity.root.acl_administer_queue", "opslead"),
        ("yarn.cluster.max-application-priority", "5"),
        ("hadoop.user.group.static.mapping.overrides", "erin=auditors;dr.who=;"),
    ];
    pairs.extend_from_slice(extra);
    let mut h = H::new(&pairs);
    h.sim.run_for(Duration::from_secs(1));
    h.add_nm(8192, 8);
    h
}

#[test]
fn modify_app_guards_kill_move_and_priority_with_yarns_messages() {
    let mut h = acl_cluster(&[]);
    let id = submit_as(&mut h, "alice", |c| {
        c.queue = "a".into();
        c.application_acls.insert(acls::ApplicationAccessType::ViewApp, "bob auditors".into());
    })
    .unwrap();
    let e = h.call(|rm, cx| rm.kill_application_as(cx, id, "bob", None)).unwrap_err();
    assert_eq!(e.java_class_name, "org.apache.hadoop.security.AccessControlException");
    assert_eq!(e.message, format!("User bob cannot perform operation MODIFY_APP on {id}"));
    assert_eq!(h.app_state(id), RMAppState::Accepted, "a refused kill changes nothing");
    let e = h.call(|rm, cx| rm.move_application(cx, id, "bob", "b")).unwrap_err();
    assert_eq!(e.message, format!("User bob cannot perform operation MODIFY_APP on {id}"));
    let e = h.call(|rm, cx| rm.update_application_priority(cx, id, "dr.who", 3)).unwrap_err();
    assert_eq!(e.message, format!("User dr.who cannot perform operation MODIFY_APP on {id}"));

    // The owner moves it: queue usage follows the app.
    let e = h.call(|rm, cx| rm.move_application(cx, id, "alice", "nowhere")).unwrap_err();
    assert_eq!(
        e.message,
        format!("User alice cannot submit applications to target queue or the target queue doesn't exist: nowhere while moving {id}")
    );
    assert_eq!(h.call(|rm, cx| rm.move_application(cx, id, "alice", "b")).unwrap(), "b");
    assert_eq!(h.rm().app(&id).unwrap().queue_path, "root.b");
    let qb = h.rm().scheduler.leaf_queue("b").unwrap();
    assert!(h.rm().scheduler.queues[qb].apps.iter().any(|(_, a)| *a == id));
    // Capped at yarn.cluster.max-application-priority.
    assert_eq!(h.call(|rm, cx| rm.update_application_priority(cx, id, "alice", 9)).unwrap(), 5);
    assert_eq!(h.rm().app(&id).unwrap().ctx.priority, 5);

    // A queue administrator (of an ancestor) may kill it; the diagnostics say who.
    assert_eq!(h.call(|rm, cx| rm.kill_application_as(cx, id, "opslead", Some("cleanup"))).unwrap(), YarnApplicationState::Killed);
    assert_eq!(
        h.rm().app(&id).unwrap().diagnostics,
        format!("Application {id} was killed by user opslead with diagnostic message: cleanup")
    );
    let e = h.call(|rm, cx| rm.move_application(cx, id, "alice", "a")).unwrap_err();
    assert_eq!(e.message, "App in KILLED state cannot be moved.");
    assert_eq!(h.call(|rm, cx| rm.update_application_priority(cx, id, "alice", 1)).unwrap(), 5, "a final app keeps its priority");
}

#[test]
fn view_app_decides_which_report_fields_a_user_sees() {
    let mut h = acl_cluster(&[]);
    let id = submit_as(&mut h, "alice", |c| {
        c.queue = "a".into();
        c.application_acls.insert(acls::ApplicationAccessType::ViewApp, "bob auditors".into());
    })
    .unwrap();
    let now = h.sim.now();
    let full = h.rm().app_report(&id, now).unwrap();
    assert!(full.started_time > 0);
    for (user, sees_all) in
        [("alice", true), ("bob", true), ("erin", true), ("root", true), ("opslead", true), ("carol", false), ("dr.who", false)]
    {
        let r = h.rm().app_report_as(&id, now, user).unwrap();
        assert_eq!(r.started_time == full.started_time, sees_all, "{user}");
        assert_eq!((r.id, r.user.as_str(), r.name.as_str(), r.state), (full.id, full.user.as_str(), full.name.as_str(), full.state));
    }
    let r = h.rm().app_report_as(&id, now, "carol").unwrap();
    assert_eq!((r.elapsed_time, r.am_container_logs.as_str(), r.memory_seconds), (0, "", 0));

    // Once the AM container is placed, attempts show it only to those who may view the app.
    let nid = h.nm_addr.keys().next().unwrap().clone();
    h.hb(&nid, vec![]);
    let attempt = h.attempt(id).id;
    let am = h.attempt(id).am_container.expect("AM container placed").to_string();
    let bob = h.rm().attempt_reports_as(&id, "bob").unwrap();
    let carol = h.rm().attempt_reports_as(&id, "carol").unwrap();
    assert_eq!((bob[0].container_id.as_str(), carol[0].container_id.as_str()), (am.as_str(), ""));
    assert_eq!(carol[0].app_attempt_id, attempt);
    assert_eq!(h.rm().attempt_info_as(&attempt, "bob").unwrap().am_container_id, am);
    assert_eq!(h.rm().attempt_info_as(&attempt, "carol").unwrap().am_container_id, "");
}

#[test]
fn queue_acls_decide_who_submits_where() {
    let mut h = acl_cluster(&[
        ("yarn.scheduler.capacity.root.acl_submit_applications", " "),
        ("yarn.scheduler.capacity.root.a.acl_submit_applications", "alice"),
    ]);
    assert!(submit_as(&mut h, "alice", |c| c.queue = "a".into()).is_ok());
    let t = h.sim.now();
    let before = h.rm().app_reports(t).len();
    let (id, _) = h.call(|rm, cx| rm.new_application(cx));
    let mut ctx = ApplicationSubmissionContext::new(id);
    ctx.queue = "b".into();
    let e = h.call(|rm, cx| rm.submit_application(cx, ctx, "alice")).unwrap_err();
    assert_eq!(e.message, format!("User alice does not have permission to submit {id} to queue b"));
    assert_eq!(h.rm().app_reports(t).len(), before, "a refused submission changes nothing");
    // The queue administrator may submit anywhere below the root.
    assert!(submit_as(&mut h, "opslead", |c| c.queue = "b".into()).is_ok());
    // And with ACLs off, anyone anywhere.
    let mut off = acl_cluster(&[("yarn.acl.enable", "false"), ("yarn.scheduler.capacity.root.acl_submit_applications", " ")]);
    let id = submit_as(&mut off, "mallory", |c| c.queue = "b".into()).unwrap();
    assert_eq!(off.call(|rm, cx| rm.kill_application_as(cx, id, "eve", None)).unwrap(), YarnApplicationState::Killed);
}

#[test]
fn an_expired_lifetime_kills_the_app_and_statistics_count_states() {
    let mut h = acl_cluster(&[]);
    let id = submit_as(&mut h, "alice", |c| {
        c.queue = "a".into();
        c.application_type = "Apache Flink".into();
    })
    .unwrap();
    let other = submit_as(&mut h, "alice", |c| {
        c.queue = "b".into();
        c.lifetime_secs = Some(600);
    })
    .unwrap();
    assert_eq!(h.rm().lifetime_expiry(&id), None);
    let now = h.sim.now().as_millis();
    let e = h.call(|rm, cx| rm.update_application_lifetime(cx, id, "alice", now)).unwrap_err();
    assert!(e.message.starts_with("Timeout value must be greater than current time."), "{}", e.message);
    let e = h.call(|rm, cx| rm.update_application_lifetime(cx, id, "bob", now + 2000)).unwrap_err();
    assert_eq!(e.message, format!("User bob cannot perform operation MODIFY_APP on {id}"));
    let exp = h.call(|rm, cx| rm.update_application_lifetime(cx, id, "alice", now + 2000)).unwrap().unwrap();
    assert!(exp >= now + 2000 && exp < now + 3000, "{exp} vs {now}");
    h.sim.run_for(Duration::from_secs(1));
    assert_eq!(h.app_state(id), RMAppState::Accepted);
    h.sim.run_for(Duration::from_secs(6));
    assert_eq!(h.app_state(id), RMAppState::Killed);
    assert_eq!(h.rm().app(&id).unwrap().diagnostics, "Application is killed by ResourceManager as it has exceeded the lifetime period.");
    assert_eq!(h.app_state(other), RMAppState::Accepted, "600 s have not passed");

    let stats = h.rm().app_statistics(&[], None);
    assert_eq!(stats.len(), 8);
    let count = |v: &[report::StatItem], s: YarnApplicationState| v.iter().find(|i| i.state == s).map(|i| i.count);
    assert_eq!(count(&stats, YarnApplicationState::Killed), Some(1));
    assert_eq!(count(&stats, YarnApplicationState::Accepted), Some(1));
    let flink = h.rm().app_statistics(&[YarnApplicationState::Killed, YarnApplicationState::Accepted], Some("APACHE FLINK"));
    assert_eq!(
        flink.iter().map(|i| (i.state, i.kind.as_str(), i.count)).collect::<Vec<_>>(),
        vec![(YarnApplicationState::Killed, "apache flink", 1), (YarnApplicationState::Accepted, "apache flink", 0)]
    );
}

#[test]
fn a_move_carries_the_apps_live_usage_to_the_new_queue() {
    let mut h = acl_cluster(&[]);
    let id = submit_as(&mut h, "alice", |c| c.queue = "a".into()).unwrap();
    let nid = h.nm_addr.keys().next().unwrap().clone();
    h.hb(&nid, vec![]);
    let am = h.rm().app(&id).unwrap().ctx.resource;
    let (qa, qb) = (h.rm().scheduler.leaf_queue("a").unwrap(), h.rm().scheduler.leaf_queue("b").unwrap());
    assert_eq!(h.rm().scheduler.queues[qa].used, am);
    assert_eq!(h.call(|rm, cx| rm.move_application(cx, id, "alice", "root.b")).unwrap(), "b");
    let s = &h.rm().scheduler;
    assert_eq!((s.queues[qa].used, s.queues[qb].used), (Resource::ZERO, am));
    assert_eq!((s.queues[qa].running_ams, s.queues[qb].running_ams), (0, 1));
    // Its end releases from the queue it is in now.
    h.call(|rm, cx| rm.kill_application_as(cx, id, "alice", None)).unwrap();
    let s = &h.rm().scheduler;
    assert_eq!((s.queues[qa].used, s.queues[qb].used), (Resource::ZERO, Resource::ZERO));
}

#[test]
fn a_restarted_rm_kills_the_am_container_of_an_attempt_that_ended_before_it_went_down() {
    // AM liveness expires attempt 1; the RM dies before the NM's next heartbeat carries the
    // order to stop its AM container, so the NM still runs it when it re-registers.
    let pairs = [("yarn.resourcemanager.recovery.enabled", "true"), ("yarn.am.liveness-monitor.expiry-interval-ms", "1000")];
    let mut h = H::new(&pairs);
    let n = h.add_nm(8192, 8);
    let app = h
        .submit_ctx(|c| {
            c.keep_containers_across_application_attempts = true;
            c.max_app_attempts = 3;
        })
        .unwrap();
    let at = h.run_am(app, &n);
    let am1 = h.attempt(app).am_container.unwrap();
    h.sim.run_for(Duration::from_secs(2));
    let attempts = &h.rm().app(&app).unwrap().attempts;
    assert_eq!(attempts[0].state, RMAppAttemptState::Failed, "{:?}", attempts[0]);
    assert_eq!(attempts[0].id, at);
    h.restart_rm(&pairs);
    h.reregister(&n, vec![nm_running(am1, 1024)]);
    // Not kept as work of the application: the old AM would live on as a second AM.
    assert!(h.rm().container(&am1).is_none_or(|c| !c.is_live()), "{:?}", h.rm().container(&am1));
    let (_, cleanup, _, _) = h.hb(&n, vec![running(am1)]);
    assert!(cleanup.contains(&am1), "the NM is told to stop it: {cleanup:?}");
}

/// AMLauncher.setupTokens: the AM container's credentials hold the attempt's AMRM token, merged
/// with what the submission carried; the keys survive an RM restart with recovery, so the
/// token still authenticates; NMs get the NM and container token keys when they register.
#[test]
fn the_am_container_carries_its_amrm_token_and_the_keys_survive_a_restart() {
    use hadoop_rpc::token::{Credentials, KIND_AM_RM_TOKEN};
    let mut h = H::new(&RECOVERY);
    let node = h.add_nm(4096, 4);
    let mut submitted = Credentials::new();
    submitted.add_secret("s3", b"shh".to_vec());
    let blob = submitted.to_writable_bytes();
    let app = h.submit_ctx(|c| c.am_container_spec.tokens = Some(blob)).unwrap();
    let attempt = h.run_am(app, &node);
    let req = h.fake_nm(&node).started.last().unwrap().clone();
    let creds = Credentials::from_bytes(req.launch.tokens.as_deref().expect("the AM CLC has tokens")).unwrap();
    let tok = creds.token_of_kind(KIND_AM_RM_TOKEN).expect("an AMRM token").clone();
    assert_eq!(creds.secrets.len(), 1, "the submission's secret is kept");
    assert_eq!(req.launch.environment.get("APPLICATION_WEB_PROXY_BASE"), Some(&format!("/proxy/{app}")));
    assert_eq!(h.rm().amrm_token_password(&tok.identifier).unwrap(), (attempt, tok.password.clone()));
    let keys = h.rm().secret_keys().clone();
    assert_ne!(keys.amrm_master_key.bytes, keys.nm_token_master_key.bytes);
    assert_eq!(keys.amrm_master_key.bytes.len(), 64);

    h.restart_rm(&RECOVERY);
    assert_eq!(h.rm().secret_keys(), &keys, "the keys come back from the state store");
    let nid = node.clone();
    let r = h.call(|rm, cx| rm.register_node(cx, nid.clone(), "x:8042".into(), Resource::new(4096, 4), vec![]));
    match r {
        YarnMsg::RegisterNodeManagerResponse { container_token_master_key, nm_token_master_key, .. } => {
            assert_eq!(container_token_master_key, keys.container_token_master_key);
            assert_eq!(nm_token_master_key, keys.nm_token_master_key);
        }
        other => panic!("unexpected {other:?}"),
    }
    // The recovered attempt's token still authenticates; a finished attempt's does not.
    assert_eq!(h.rm().amrm_token_password(&tok.identifier).unwrap().1, tok.password);
    h.call(|rm, cx| rm.kill_application(cx, app, "bye")).unwrap();
    assert!(h.rm().amrm_token_password(&tok.identifier).unwrap_err().contains("not found in AMRMTokenSecretManager"));
}

/// CapacityScheduler's `schedule-asynchronously`: the AM container and later asks are placed
/// one scheduling interval after they arrive, with no NodeManager heartbeat in between; and
/// the asks stay bounded by the room the nodes have. Without it, nothing moves until a
/// heartbeat.
#[test]
fn asynchronous_scheduling_places_asks_without_a_heartbeat() {
    let mut h = H::new(&[
        ("yarn.scheduler.capacity.schedule-asynchronously.enable", "true"),
        ("yarn.scheduler.capacity.schedule-asynchronously.scheduling-interval-ms", "5"),
    ]);
    let n1 = h.add_nm(4096, 8);
    let n2 = h.add_nm(4096, 8);
    let app = h.submit();
    assert_eq!(h.attempt(app).state, RMAppAttemptState::Scheduled);
    h.sim.run_for(Duration::from_millis(6));
    let at = h.attempt(app);
    let am = at.am_container.expect("the AM container is placed by the asynchronous pass");
    h.sim.run_for(Duration::from_millis(10));
    assert_eq!(h.attempt(app).state, RMAppAttemptState::Launched);
    let am_node = h.rm().container(&am).unwrap().container.node_id.clone();
    h.hb(&am_node, vec![running(am)]);
    h.register(at.id).unwrap();
    // Ten 1 GB asks: 7 fit beside the 1 GB AM on two 4 GB nodes.
    let r = h.alloc(at.id, 0, vec![gb(10)], vec![]).unwrap();
    assert!(r.allocated.is_empty(), "placed after the interval, returned by the next allocate");
    h.sim.run_for(Duration::from_millis(6));
    let r = h.alloc(at.id, 1, vec![], vec![]).unwrap();
    assert_eq!(r.allocated.len(), 7);
    let on = |n: &NodeId| r.allocated.iter().filter(|c| &c.node_id == n).count();
    assert_eq!(on(&n1) + on(&n2), 7);
    assert_eq!(h.rm().pending_containers(), 3);
    // A release makes room: the next pass places one more, again without a heartbeat.
    let r = h.alloc(at.id, 2, vec![], vec![r.allocated[0].id]).unwrap();
    assert!(r.allocated.is_empty());
    h.sim.run_for(Duration::from_millis(6));
    let r = h.alloc(at.id, 3, vec![], vec![]).unwrap();
    assert_eq!(r.allocated.len(), 1);
    assert_eq!(h.rm().pending_containers(), 2);

    // YARN's default: the same submission waits for a heartbeat.
    let mut h = H::new(&[]);
    let n = h.add_nm(4096, 8);
    let app = h.submit();
    h.sim.run_for(Duration::from_millis(50));
    assert_eq!(h.attempt(app).am_container, None);
    h.hb(&n, vec![]);
    assert!(h.attempt(app).am_container.is_some());
}
