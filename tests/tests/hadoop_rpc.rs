//! The ResourceManager over Hadoop RPC, as Java's YarnClient and AMRMClient reach it: a live
//! cluster, and hadoop-rpc's Rust client on the RM's one port (`yarn.resourcemanager.address`
//! = `yarn.resourcemanager.scheduler.address` in the generated yarn-site.xml). The client
//! protocol over SIMPLE: new application, submit, reports, list, nodes, metrics, queues, kill;
//! Hadoop's refusals of an unknown method or protocol and of the AM protocol without a token;
//! and an unmanaged AM that takes its AMRM token from its application report (as YarnClient's
//! getAMRMToken does), registers, gets a container with its container and NM tokens, and
//! finishes.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use e2e::Cluster;
use hadoop_rpc::client::{CallError, ClientAuth, RpcClient};
use hadoop_rpc::token::Token;
use yarn_sim::hrpc::convert;
use yarn_sim::hrpc::nm_service::CONTAINER_MANAGEMENT_PROTOCOL;
use yarn_sim::hrpc::pb;
use yarn_sim::hrpc::rm_service::{APPLICATION_CLIENT_PROTOCOL, APPLICATION_MASTER_PROTOCOL};
use yarn_sim::records::{ApplicationSubmissionContext, ContainerLaunchContext, Resource};
use yarn_sim::ApplicationId;

const USER: &str = "rpcuser";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

async fn acp(c: &Cluster) -> RpcClient {
    RpcClient::connect(c.rm.as_str(), APPLICATION_CLIENT_PROTOCOL, ClientAuth::Simple { user: USER.into() }).await.expect("connect")
}

/// Polls `f` until it returns Some (every 50 ms, at most `limit`).
async fn until<T, F: std::future::Future<Output = Option<T>>>(what: &str, limit: Duration, mut f: impl FnMut() -> F) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn new_app(cl: &mut RpcClient) -> (ApplicationId, pb::ResourceProto) {
    let r: pb::GetNewApplicationResponseProto = cl.call_msg("getNewApplication", &pb::GetNewApplicationRequestProto {}).await.unwrap();
    (convert::app_id_from_pb(r.application_id.as_ref().unwrap()).unwrap(), r.maximum_capability.unwrap())
}

async fn submit(cl: &mut RpcClient, ctx: &ApplicationSubmissionContext) {
    let req = pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(ctx)) };
    let _: pb::SubmitApplicationResponseProto = cl.call_msg("submitApplication", &req).await.unwrap();
}

/// The app's report once it is FINISHED (a call that fails, as while the RM restarts, is tried
/// again).
async fn until_finished(c: &Cluster, id: ApplicationId) -> pb::ApplicationReportProto {
    until("the app to finish", Duration::from_secs(30), || async {
        let r = report(&mut acp(c).await, id).await.ok()?;
        (r.yarn_application_state() == pb::YarnApplicationStateProto::Finished).then_some(r)
    })
    .await
}

async fn report(cl: &mut RpcClient, id: ApplicationId) -> Result<pb::ApplicationReportProto, CallError> {
    let req = pb::GetApplicationReportRequestProto { application_id: Some(convert::app_id_to_pb(id)) };
    let r: pb::GetApplicationReportResponseProto = cl.call_msg("getApplicationReport", &req).await?;
    Ok(r.application_report.unwrap())
}

fn remote(e: CallError) -> (String, String) {
    match e {
        CallError::Remote { class, message } | CallError::Fatal { class, message } => (class, message),
        other => panic!("expected a remote exception, got {other}"),
    }
}

#[test]
fn the_client_protocol_over_hadoop_rpc() {
    let c = Cluster::start("hrpc-acp", 2, &[]);
    // The client configuration names the RM's port for both protocols.
    let site = yarn_sim::conf::Configuration::parse(&std::fs::read_to_string(c.conf_dir().join("yarn-site.xml")).unwrap()).unwrap();
    for k in ["yarn.resourcemanager.address", "yarn.resourcemanager.scheduler.address"] {
        assert_eq!(site.get(k).as_deref(), Some(c.rm.as_str()), "{k}");
    }
    let id = runtime().block_on(async {
        let mut cl = acp(&c).await;
        let (id, max) = new_app(&mut cl).await;
        assert!(max.memory() > 0 && max.virtual_cores() > 0);
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.application_name = "rpc-sleeper".into();
        ctx.application_type = "Apache Flink".into();
        ctx.resource = Resource::new(256, 1);
        ctx.am_container_spec.commands = vec!["sleep 60".into()];
        submit(&mut cl, &ctx).await;
        // YarnClient polls until the app leaves NEW/NEW_SAVING/SUBMITTED.
        let state = until("the app to be accepted", Duration::from_secs(20), || async {
            let r = report(&mut acp(&c).await, id).await.unwrap();
            let s = r.yarn_application_state();
            matches!(s, pb::YarnApplicationStateProto::Accepted | pb::YarnApplicationStateProto::Running).then_some(r)
        })
        .await;
        assert_eq!((state.name(), state.user(), state.queue()), ("rpc-sleeper", USER, "default"));
        assert!(state.current_application_attempt_id.is_some());
        // The same connection keeps serving calls.
        let list: pb::GetApplicationsResponseProto =
            cl.call_msg("getApplications", &pb::GetApplicationsRequestProto::default()).await.unwrap();
        assert!(list.applications.iter().any(|a| a.application_id == Some(convert::app_id_to_pb(id))));
        let nodes: pb::GetClusterNodesResponseProto = cl
            .call_msg("getClusterNodes", &pb::GetClusterNodesRequestProto { node_states: vec![pb::NodeStateProto::NsRunning as i32] })
            .await
            .unwrap();
        assert_eq!(nodes.node_reports.len(), 2);
        assert!(nodes.node_reports.iter().all(|n| n.capability.as_ref().unwrap().virtual_cores() > 0));
        let m: pb::GetClusterMetricsResponseProto = cl.call_msg("getClusterMetrics", &pb::GetClusterMetricsRequestProto {}).await.unwrap();
        assert_eq!(m.cluster_metrics.unwrap().num_node_managers(), 2);
        let q = pb::GetQueueInfoRequestProto {
            queue_name: Some("root".into()),
            include_applications: Some(false),
            include_child_queues: Some(true),
            recursive: Some(true),
            sub_cluster_id: None,
        };
        let q: pb::GetQueueInfoResponseProto = cl.call_msg("getQueueInfo", &q).await.unwrap();
        let root = q.queue_info.unwrap();
        assert_eq!(root.queue_name(), "root");
        assert!(root.child_queues.iter().any(|q| q.queue_name() == "default"));
        // An unknown application is ApplicationNotFoundException, the connection stays up.
        let (class, msg) = remote(report(&mut cl, ApplicationId::new(1, 4242)).await.unwrap_err());
        assert_eq!(class, "org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException");
        assert!(msg.contains("application_1_4242"), "{msg}");
        // An unknown method is Hadoop's RpcNoSuchMethodException.
        let (class, msg) = remote(cl.call("getFoo", &[]).await.unwrap_err());
        assert_eq!(class, "org.apache.hadoop.ipc.RpcNoSuchMethodException");
        assert_eq!(msg, format!("Unknown method getFoo called on {APPLICATION_CLIENT_PROTOCOL} protocol."));
        // Kill: completed at once, and the REST view agrees.
        let kill = pb::KillApplicationRequestProto { application_id: Some(convert::app_id_to_pb(id)), diagnostics: None };
        let k: pb::KillApplicationResponseProto = cl.call_msg("forceKillApplication", &kill).await.unwrap();
        assert!(k.is_kill_completed());
        assert_eq!(report(&mut cl, id).await.unwrap().yarn_application_state(), pb::YarnApplicationStateProto::Killed);

        // An unknown protocol, and the AM protocol without a token, are refused as Hadoop does.
        let unknown = RpcClient::connect(c.rm.as_str(), "org.example.NoSuchProtocolPB", ClientAuth::Simple { user: USER.into() }).await;
        let class = match unknown {
            Err(hadoop_rpc::client::ClientError::Fatal { class, .. }) => class,
            Ok(mut cl) => remote(cl.call("x", &[]).await.unwrap_err()).0,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(class, "org.apache.hadoop.ipc.RpcNoSuchProtocolException");
        let amp = RpcClient::connect(c.rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Simple { user: USER.into() }).await;
        let (class, msg) = match amp {
            Err(hadoop_rpc::client::ClientError::Fatal { class, message }) => (class, message),
            Ok(mut cl) => remote(cl.call("allocate", &[]).await.unwrap_err()),
            Err(e) => panic!("{e}"),
        };
        assert_eq!(class, "org.apache.hadoop.security.AccessControlException");
        assert!(msg.contains("SIMPLE authentication is not enabled"), "{msg}");
        id
    });
    // REST, on the same port, agrees.
    assert_eq!(c.app(&id.to_string())["state"], "KILLED");
    assert_eq!(c.app(&id.to_string())["user"], USER);
}

#[test]
fn an_unmanaged_am_registers_allocates_and_finishes_with_its_amrm_token() {
    let c = Cluster::start("hrpc-amp", 1, &[]);
    runtime().block_on(async {
        let mut cl = acp(&c).await;
        let (id, _) = new_app(&mut cl).await;
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.unmanaged_am = true;
        ctx.application_name = "rust-am".into();
        submit(&mut cl, &ctx).await;
        // The owner's report carries the AMRM token while the attempt is LAUNCHED.
        let tok =
            until("the AMRM token", Duration::from_secs(20), || async { report(&mut acp(&c).await, id).await.unwrap().am_rm_token }).await;
        assert_eq!(tok.kind, "YARN_AM_RM_TOKEN");
        let token = Token::from_proto(&tok);
        // A forged password fails SASL: the connection is refused.
        let mut forged = token.clone();
        forged.password[0] ^= 1;
        assert!(RpcClient::connect(c.rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Token(forged)).await.is_err());

        let mut am = RpcClient::connect(c.rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Token(token))
            .await
            .expect("SASL with the AMRM token");
        let r = e2e::hrpc_am::register(&mut am).await;
        assert_eq!(r.queue(), "default");
        assert_eq!(report(&mut cl, id).await.unwrap().yarn_application_state(), pb::YarnApplicationStateProto::Running);
        // AMRMClient's heartbeat: the ask once, then empty calls until the container comes.
        let got = e2e::hrpc_am::allocate_one_container(&mut am).await;
        let response_id = got.response_id();
        let container = &got.allocated_containers[0];
        let ct = container.container_token.as_ref().expect("a container token");
        assert_eq!(ct.kind, "ContainerToken");
        assert_eq!(got.nm_tokens.len(), 1);
        assert_eq!(got.nm_tokens[0].node_id, container.node_id);
        assert_eq!(got.nm_tokens[0].token.as_ref().unwrap().kind, "NMToken");
        // Release it and unregister.
        let rel =
            pb::AllocateRequestProto { release: vec![container.id.clone().unwrap()], response_id: Some(response_id), ..Default::default() };
        let _: pb::AllocateResponseProto = am.call_msg("allocate", &rel).await.unwrap();
        let f = e2e::hrpc_am::unregister_succeeded(&mut am, Some("all done")).await;
        assert!(f.is_unregistered());
        let done = until_finished(&c, id).await;
        assert_eq!(done.final_application_status(), pb::FinalApplicationStatusProto::AppSucceeded);
        assert!(done.am_rm_token.is_none(), "no token once the attempt is over");
    });
}

/// A managed AM as a Java AM is launched: the RM's AM launcher put the attempt's AMRM token in
/// the container's credentials, the NM wrote them to `HADOOP_TOKEN_FILE_LOCATION`; the AM (here
/// a shell that hands the file to the test, which plays the AM's AMRMClient and NMClient)
/// authenticates with that token, registers, allocates, starts the container on its NM with
/// the NM and container tokens, sees its exit code come back through allocate, and
/// unregisters; the app finishes once the AM exits.
#[test]
fn a_managed_am_authenticates_with_the_token_file_its_nm_wrote() {
    use hadoop_rpc::token::{Credentials, KIND_AM_RM_TOKEN};
    let c = Cluster::start("hrpc-token-file", 1, &[]);
    let tokens = c.work.join("am.tokens");
    let done = c.work.join("am.done");
    let id = runtime().block_on(async {
        let mut cl = acp(&c).await;
        let (id, _) = new_app(&mut cl).await;
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.application_name = "token-file-am".into();
        ctx.resource = Resource::new(128, 1);
        ctx.am_container_spec.commands = vec![format!(
            "cp \"$HADOOP_TOKEN_FILE_LOCATION\" {t}.tmp && mv {t}.tmp {t} && while [ ! -e {d} ]; do sleep 0.05; done",
            t = tokens.display(),
            d = done.display()
        )];
        submit(&mut cl, &ctx).await;
        let blob = until("the AM's token file", Duration::from_secs(30), || async { std::fs::read(&tokens).ok() }).await;
        let creds = Credentials::from_bytes(&blob).expect("an HDTS credentials file");
        let token = creds.token_of_kind(KIND_AM_RM_TOKEN).expect("the AMRM token").clone();
        assert_eq!(token.service, c.rm, "the token is for the scheduler address");

        let mut am = RpcClient::connect(c.rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Token(token))
            .await
            .expect("SASL with the file's token");
        e2e::hrpc_am::register(&mut am).await;
        let r = report(&mut cl, id).await.unwrap();
        assert_eq!(r.yarn_application_state(), pb::YarnApplicationStateProto::Running);
        assert!(r.am_rm_token.is_none(), "a managed AM's token is not in the report");
        let got = e2e::hrpc_am::allocate_one_container(&mut am).await;
        let mut response_id = got.response_id();
        assert_eq!(got.nm_tokens.len(), 1);
        // NMClient: start the container on its NM with the NM token and the container token.
        let container = got.allocated_containers[0].clone();
        let node = container.node_id.clone().unwrap();
        let nm_token = Token::from_proto(got.nm_tokens[0].token.as_ref().unwrap());
        let nm_addr = format!("{}:{}", node.host(), node.port());
        let mut nm = RpcClient::connect(nm_addr.as_str(), CONTAINER_MANAGEMENT_PROTOCOL, ClientAuth::Token(nm_token))
            .await
            .expect("SASL with the NM token");
        let clc = ContainerLaunchContext { commands: vec!["sh -c 'exit 3'".into()], ..Default::default() };
        let req = pb::StartContainersRequestProto {
            start_container_request: vec![pb::StartContainerRequestProto {
                container_launch_context: Some(convert::launch_context_to_pb(&clc, &Default::default())),
                container_token: container.container_token.clone(),
            }],
        };
        let r: pb::StartContainersResponseProto = nm.call_msg("startContainers", &req).await.unwrap();
        assert_eq!(r.succeeded_requests, vec![container.id.clone().unwrap()], "{r:?}");
        // Its end reaches the AM through the RM's allocate, with its exit code.
        let end = Instant::now() + Duration::from_secs(20);
        let status = loop {
            let req = pb::AllocateRequestProto { response_id: Some(response_id), ..Default::default() };
            let r: pb::AllocateResponseProto = am.call_msg("allocate", &req).await.unwrap();
            response_id = r.response_id();
            if let Some(s) = r.completed_container_statuses.iter().find(|s| s.container_id == container.id) {
                break s.clone();
            }
            assert!(Instant::now() < end, "timed out waiting for the container's completion");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!((status.state(), status.exit_status()), (pb::ContainerStateProto::CComplete, 3));
        let f = e2e::hrpc_am::unregister_succeeded(&mut am, None).await;
        assert!(f.is_unregistered());
        // The AM process exits; the app is FINISHED with the AM's status.
        std::fs::write(&done, b"").unwrap();
        let r = until_finished(&c, id).await;
        assert_eq!(r.final_application_status(), pb::FinalApplicationStatusProto::AppSucceeded);
        id
    });
    assert_eq!(c.app(&id.to_string())["finalStatus"], "SUCCEEDED");
}

/// Removes a file however the test ends.
struct TempFile(std::path::PathBuf);
impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// After an RM `kill -9` and a restart with recovery, the AM's token still authenticates (the
/// keys are in the state store), its next allocate is ApplicationMasterNotRegisteredException
/// (on which AMRMClient re-registers, as against YARN 3), and re-registered it carries on.
#[test]
fn an_am_resyncs_after_an_rm_restart_with_the_same_token() {
    use hadoop_rpc::token::{Credentials, KIND_AM_RM_TOKEN};
    let extra = TempFile(std::env::temp_dir().join(format!("e2e-hrpc-restart-{}.xml", std::process::id())));
    std::fs::write(
        &extra.0,
        "<?xml version=\"1.0\"?><configuration><property><name>yarn.resourcemanager.recovery.enabled</name><value>true</value></property></configuration>",
    )
    .unwrap();
    let c = Cluster::start("hrpc-restart", 1, &["--conf", extra.0.to_str().unwrap()]);
    let tokens = c.work.join("am.tokens");
    let done = c.work.join("am.done");
    let rt = runtime();
    let (id, token) = rt.block_on(async {
        let mut cl = acp(&c).await;
        let (id, _) = new_app(&mut cl).await;
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.resource = Resource::new(128, 1);
        ctx.am_container_spec.commands = vec![format!(
            "cp \"$HADOOP_TOKEN_FILE_LOCATION\" {t}.tmp && mv {t}.tmp {t} && while [ ! -e {d} ]; do sleep 0.05; done",
            t = tokens.display(),
            d = done.display()
        )];
        submit(&mut cl, &ctx).await;
        let blob = until("the AM's token file", Duration::from_secs(30), || async { std::fs::read(&tokens).ok() }).await;
        let token = Credentials::from_bytes(&blob).unwrap().token_of_kind(KIND_AM_RM_TOKEN).unwrap().clone();
        let mut am = RpcClient::connect(c.rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Token(token.clone())).await.unwrap();
        e2e::hrpc_am::register(&mut am).await;
        let r: pb::AllocateResponseProto =
            am.call_msg("allocate", &pb::AllocateRequestProto { response_id: Some(0), ..Default::default() }).await.unwrap();
        assert_eq!(r.response_id(), 1);
        (id, token)
    });
    c.kill_9("resourcemanager");
    let _rm = c.start_resourcemanager();
    rt.block_on(async {
        // The new RM is up once it answers (the old connection died with the old RM).
        let mut am = until("the restarted RM", Duration::from_secs(30), || {
            let token = token.clone();
            let rm = c.rm.clone();
            async move { RpcClient::connect(rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Token(token)).await.ok() }
        })
        .await;
        let (class, _) = remote(
            am.call_msg::<_, pb::AllocateResponseProto>(
                "allocate",
                &pb::AllocateRequestProto { response_id: Some(1), ..Default::default() },
            )
            .await
            .unwrap_err(),
        );
        assert_eq!(class, "org.apache.hadoop.yarn.exceptions.ApplicationMasterNotRegisteredException");
        // AMRMClient's resync: register again, then allocate from response id 0.
        e2e::hrpc_am::register(&mut am).await;
        let r: pb::AllocateResponseProto =
            am.call_msg("allocate", &pb::AllocateRequestProto { response_id: Some(0), ..Default::default() }).await.unwrap();
        assert_eq!(r.response_id(), 1);
        let f = e2e::hrpc_am::unregister_succeeded(&mut am, None).await;
        assert!(f.is_unregistered());
        std::fs::write(&done, b"").unwrap();
        let r = until_finished(&c, id).await;
        assert_eq!(r.final_application_status(), pb::FinalApplicationStatusProto::AppSucceeded);
    });
}

/// The exact byte stream a Hadoop 3.5.0 YarnClient sends for `createApplication()` (reference
/// §1.4: preamble, context and call in one burst) reaches the RM's port, is told from HTTP and
/// node frames, and gets a SUCCESS answer with a new application id.
#[test]
fn a_java_yarn_clients_get_new_application_bytes_get_an_application_id() {
    use std::io::{Read, Write};
    let c = Cluster::start("hrpc-bytes", 1, &[]);
    let client_id: [u8; 16] = *b"0123456789abcdef";
    let proto = APPLICATION_CLIENT_PROTOCOL.as_bytes();
    assert_eq!(proto.len(), 0x36);
    let mut s = vec![0x68, 0x72, 0x70, 0x63, 0x09, 0x00, 0x00];
    s.extend([0x00, 0x00, 0x00, 0x5c, 0x1a, 0x08, 0x02, 0x10, 0x00, 0x18, 0x05, 0x22, 0x10]);
    s.extend(client_id);
    s.extend([0x28, 0x01, 0x40, 0x12, 0x06, 0x0a, 0x04]);
    s.extend(b"root");
    s.extend([0x1a, 0x36]);
    s.extend(proto);
    s.extend([0x00, 0x00, 0x00, 0x6a, 0x1a, 0x08, 0x02, 0x10, 0x00, 0x18, 0x00, 0x22, 0x10]);
    s.extend(client_id);
    s.extend([0x28, 0x00, 0x4d, 0x0a, 0x11]);
    s.extend(b"getNewApplication");
    s.extend([0x12, 0x36]);
    s.extend(proto);
    s.extend([0x18, 0x01, 0x00]);
    let mut conn = std::net::TcpStream::connect(c.rm.as_str()).unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    conn.write_all(&s).unwrap();
    let mut len = [0u8; 4];
    conn.read_exact(&mut len).unwrap();
    let mut frame = vec![0u8; u32::from_be_bytes(len) as usize];
    conn.read_exact(&mut frame).unwrap();
    let mut buf = frame.as_slice();
    let header: hadoop_rpc::proto::RpcResponseHeaderProto = hadoop_rpc::proto::read_delimited(&mut buf).unwrap();
    assert_eq!(header.call_id, 0);
    assert_eq!(header.status, hadoop_rpc::proto::RpcStatusProto::Success as i32);
    assert_eq!(header.server_ipc_version_num, Some(9));
    let r: pb::GetNewApplicationResponseProto = hadoop_rpc::proto::read_delimited(&mut buf).unwrap();
    assert!(buf.is_empty(), "nothing after the response");
    let id = convert::app_id_from_pb(r.application_id.as_ref().unwrap()).unwrap();
    assert_eq!(id.id, 1);
    assert!(r.maximum_capability.unwrap().memory() > 0);

    // Garbage after the preamble (an oversize frame, then a truncated one) costs the sender its
    // connection and the RM nothing: the next client is served.
    for junk in [&[0xff, 0xff, 0xff, 0xff, 1, 2, 3][..], &[0x00, 0x00, 0x00, 0x10, 0x1a][..]] {
        let mut bad = std::net::TcpStream::connect(c.rm.as_str()).unwrap();
        bad.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        bad.write_all(&[0x68, 0x72, 0x70, 0x63, 0x09, 0x00, 0x00]).unwrap();
        bad.write_all(junk).unwrap();
        let _ = bad.shutdown(std::net::Shutdown::Write);
        let mut rest = Vec::new();
        let _ = bad.read_to_end(&mut rest);
    }
    let again = runtime().block_on(async { new_app(&mut acp(&c).await).await.0 });
    assert_eq!(again.id, 2);
}
