//! A NodeManager over Hadoop RPC, as Java's NMClient reaches it: a live cluster, an unmanaged
//! Rust AM that gets a container with its container and NM tokens over the AM protocol, then
//! starts it on the NM's one port over the ContainerManagementProtocol with the NM token
//! (SASL DIGEST-MD5; SIMPLE is refused) — with a `file:` resource, `{{PWD}}` in its environment and Credentials —
//! and watches it complete through getContainerStatuses. A forged NM token is refused at SASL.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use e2e::Cluster;
use hadoop_rpc::client::{ClientAuth, RpcClient};
use hadoop_rpc::token::{Credentials, Token};
use yarn_sim::hrpc::convert;
use yarn_sim::hrpc::nm_service::CONTAINER_MANAGEMENT_PROTOCOL;
use yarn_sim::hrpc::pb;
use yarn_sim::hrpc::rm_service::{APPLICATION_CLIENT_PROTOCOL, APPLICATION_MASTER_PROTOCOL};
use yarn_sim::records::{ApplicationSubmissionContext, ContainerLaunchContext, LocalResource, LocalResourceType};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

fn find_dir(root: &Path, name: &str) -> Option<PathBuf> {
    for e in std::fs::read_dir(root).ok()?.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n == name) && p.to_string_lossy().contains("/logs/") {
                return Some(p);
            }
            if let Some(found) = find_dir(&p, name) {
                return Some(found);
            }
        }
    }
    None
}

#[test]
fn an_am_starts_and_watches_a_container_over_the_container_management_protocol() {
    let c = Cluster::start("hrpc-cmp", 1, &[]);
    runtime().block_on(async {
        let mut cl =
            RpcClient::connect(c.rm.as_str(), APPLICATION_CLIENT_PROTOCOL, ClientAuth::Simple { user: "rpcuser".into() }).await.unwrap();
        let r: pb::GetNewApplicationResponseProto = cl.call_msg("getNewApplication", &pb::GetNewApplicationRequestProto {}).await.unwrap();
        let id = convert::app_id_from_pb(r.application_id.as_ref().unwrap()).unwrap();
        let mut ctx = ApplicationSubmissionContext::new(id);
        ctx.unmanaged_am = true;
        let req = pb::SubmitApplicationRequestProto { application_submission_context: Some(convert::submission_context_to_pb(&ctx)) };
        let _: pb::SubmitApplicationResponseProto = cl.call_msg("submitApplication", &req).await.unwrap();
        let end = Instant::now() + Duration::from_secs(20);
        let amrm = loop {
            let req = pb::GetApplicationReportRequestProto { application_id: Some(convert::app_id_to_pb(id)) };
            let r: pb::GetApplicationReportResponseProto = cl.call_msg("getApplicationReport", &req).await.unwrap();
            if let Some(t) = r.application_report.and_then(|r| r.am_rm_token) {
                break Token::from_proto(&t);
            }
            assert!(Instant::now() < end, "no AMRM token");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut am = RpcClient::connect(c.rm.as_str(), APPLICATION_MASTER_PROTOCOL, ClientAuth::Token(amrm)).await.unwrap();
        e2e::hrpc_am::register(&mut am).await;
        let got = e2e::hrpc_am::allocate_one_container(&mut am).await;
        let container = got.allocated_containers[0].clone();
        let cid = convert::container_id_from_pb(container.id.as_ref().unwrap()).unwrap();
        let node = container.node_id.clone().unwrap();
        let nm_addr = format!("{}:{}", node.host(), node.port());
        let nm_token = Token::from_proto(got.nm_tokens[0].token.as_ref().unwrap());

        // SASL with a forged NM token fails; with the RM's it succeeds.
        let mut forged = nm_token.clone();
        forged.password[0] ^= 1;
        assert!(RpcClient::connect(nm_addr.as_str(), CONTAINER_MANAGEMENT_PROTOCOL, ClientAuth::Token(forged)).await.is_err());
        // The port is TOKEN only, as ContainerManagerImpl makes it.
        let simple =
            RpcClient::connect(nm_addr.as_str(), CONTAINER_MANAGEMENT_PROTOCOL, ClientAuth::Simple { user: "rpcuser".into() }).await;
        if let Ok(mut s) = simple {
            assert!(s.call("getContainerStatuses", &[]).await.is_err(), "a SIMPLE caller gets nothing");
        }
        let mut nm = RpcClient::connect(nm_addr.as_str(), CONTAINER_MANAGEMENT_PROTOCOL, ClientAuth::Token(nm_token))
            .await
            .expect("SASL with the NM token");

        let res = c.work.join("app.txt");
        std::fs::write(&res, b"payload").unwrap();
        let mtime = std::fs::metadata(&res).unwrap().modified().unwrap().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let mut launch = ContainerLaunchContext::default();
        launch.local_resources.insert(
            "app.txt".into(),
            LocalResource {
                resource: format!("file:{}", res.display()),
                kind: LocalResourceType::File,
                visibility: Default::default(),
                size: 7,
                timestamp: mtime,
            },
        );
        launch.environment.insert("CLASSPATH".into(), "{{PWD}}/app.txt<CPS>lib".into());
        launch.tokens = Some(Credentials::new().to_writable_bytes());
        launch.commands = vec![
            "/bin/bash -c 'printenv CONTAINER_ID HADOOP_TOKEN_FILE_LOCATION CLASSPATH PWD; cat app.txt; test -f container_tokens'".into(),
            "1><LOG_DIR>/am.out".into(),
            "2><LOG_DIR>/am.err".into(),
        ];
        let req = pb::StartContainersRequestProto {
            start_container_request: vec![pb::StartContainerRequestProto {
                container_launch_context: Some(convert::launch_context_to_pb(&launch, &Default::default())),
                container_token: container.container_token.clone(),
            }],
        };
        let r: pb::StartContainersResponseProto = nm.call_msg("startContainers", &req).await.unwrap();
        assert_eq!(r.succeeded_requests, vec![container.id.clone().unwrap()], "{:?}", r.failed_requests);

        let status = loop {
            let req = pb::GetContainerStatusesRequestProto { container_id: vec![container.id.clone().unwrap()] };
            let r: pb::GetContainerStatusesResponseProto = nm.call_msg("getContainerStatuses", &req).await.unwrap();
            let s = r.status[0].clone();
            if s.state() == pb::ContainerStateProto::CComplete {
                break s;
            }
            assert!(Instant::now() < end + Duration::from_secs(10), "the container never completed: {s:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        assert_eq!(status.exit_status(), 0, "{}", status.diagnostics());
        let log_dir = find_dir(&c.work, &cid.to_string()).expect("the container's log dir");
        let out = std::fs::read_to_string(log_dir.join("am.out")).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        let pwd = lines[3];
        assert_eq!(lines, [cid.to_string().as_str(), &format!("{pwd}/container_tokens"), &format!("{pwd}/app.txt:lib"), pwd, "payload"]);
        assert!(pwd.ends_with(&format!("/{cid}")));
        assert_eq!(
            std::fs::read_to_string(log_dir.join("prelaunch.out")).unwrap(),
            "Setting up env variables\nSetting up job resources\nLaunching container\n"
        );

        // Another start of the same container is the NM's refusal, per container.
        let r: pb::StartContainersResponseProto = nm.call_msg("startContainers", &req).await.unwrap();
        assert!(r.succeeded_requests.is_empty());
        let e = r.failed_requests[0].exception.clone().unwrap();
        assert_eq!(e.message(), format!("Container {cid} already is running on this node!!"));

        e2e::hrpc_am::unregister_succeeded(&mut am, None).await;
    });
    assert!(c.stop_and_list_leftovers().is_empty());
}
