//! The AM side of the ApplicationMasterProtocol over Hadoop RPC, as the Java AMRMClient drives
//! it, for the end-to-end tests that play a Java AM in Rust.

use std::time::{Duration, Instant};

use hadoop_rpc::client::RpcClient;
use yarn_sim::hrpc::{convert, pb};
use yarn_sim::records::Resource;

/// registerApplicationMaster as AMRMClient sends it for an AM at 127.0.0.1 without an RPC port.
pub async fn register(am: &mut RpcClient) -> pb::RegisterApplicationMasterResponseProto {
    let reg =
        pb::RegisterApplicationMasterRequestProto { host: Some("127.0.0.1".into()), rpc_port: Some(-1), tracking_url: Some(String::new()) };
    am.call_msg("registerApplicationMaster", &reg).await.unwrap()
}

/// finishApplicationMaster with SUCCEEDED (and `diagnostics`, if any).
pub async fn unregister_succeeded(am: &mut RpcClient, diagnostics: Option<&str>) -> pb::FinishApplicationMasterResponseProto {
    let fin = pb::FinishApplicationMasterRequestProto {
        diagnostics: diagnostics.map(str::to_string),
        tracking_url: None,
        final_application_status: Some(pb::FinalApplicationStatusProto::AppSucceeded as i32),
    };
    am.call_msg("finishApplicationMaster", &fin).await.unwrap()
}

/// Asks for one 128 MB, 1-vcore container at `*` and heartbeats as AMRMClient does (the ask
/// once, then empty calls) until it comes; the response that brought it carries the next
/// response id.
pub async fn allocate_one_container(am: &mut RpcClient) -> pb::AllocateResponseProto {
    let mut asks = vec![pb::ResourceRequestProto {
        priority: Some(pb::PriorityProto { priority: Some(1) }),
        resource_name: Some("*".into()),
        capability: Some(convert::resource_to_pb(Resource::new(128, 1))),
        num_containers: Some(1),
        ..Default::default()
    }];
    let mut response_id = 0;
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let req = pb::AllocateRequestProto {
            ask: std::mem::take(&mut asks),
            blacklist_request: Some(Default::default()),
            response_id: Some(response_id),
            progress: Some(0.5),
            ..Default::default()
        };
        let r: pb::AllocateResponseProto = am.call_msg("allocate", &req).await.unwrap();
        response_id = r.response_id();
        if !r.allocated_containers.is_empty() {
            return r;
        }
        assert!(Instant::now() < end, "timed out waiting for a container");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
