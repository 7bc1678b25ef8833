//! The NodeManager's ContainerManagementProtocol over Hadoop RPC (NMClient: startContainers,
//! stopContainers, getContainerStatuses) over the live NM node. As the REST handlers do, each
//! method decodes, checks the caller's tokens, calls the node through [`LiveNode::with`] /
//! [`LiveNode::read`] and encodes.
//!
//! Authentication is YARN's: the port takes only TOKEN (ContainerManagerImpl forces it even
//! without Kerberos), with an NM token whose password is `HmacSHA1` under the NM-token master
//! key the RM sent at registration (NMTokenSecretManagerInNM); each start carries a container
//! token, checked under the container-token master key (NMContainerTokenSecretManager), and
//! the container's id, resource and user are the ones that token names. Refusals follow
//! ContainerManagerImpl: a bad container token fails the whole call with
//! `SecretManager$InvalidToken` (earlier containers of the same call stay started, as in
//! YARN); an authorized token for the wrong application, an expired one, one from another RM,
//! or the node's own refusal fails that container only, in `failed_requests`.

use std::sync::{Arc, OnceLock};

use engine::live::{wall_now, LiveNode, RawHandler};
use hadoop_rpc::service::{AuthMethod, CallContext, RpcError, RpcService};
use hadoop_rpc::token;
use prost::Message;

use super::convert::{self, yarn_error};
use super::pb;
use crate::ids::{ApplicationAttemptId, ContainerId, NodeId};
use crate::nm::NodeManager;
use crate::proto::{MasterKey, RemoteError, StartContainerRequest};
use crate::records::Container;

/// `@ProtocolInfo` name of the protocol this port serves.
pub const CONTAINER_MANAGEMENT_PROTOCOL: &str = "org.apache.hadoop.yarn.api.ContainerManagementProtocolPB";

const INVALID_TOKEN: &str = "org.apache.hadoop.security.token.SecretManager$InvalidToken";
const INVALID_CONTAINER: &str = "org.apache.hadoop.yarn.exceptions.InvalidContainerException";
const ACCESS_CONTROL: &str = "org.apache.hadoop.security.AccessControlException";

/// What the NM checks tokens against, read from the node in one go.
#[derive(Clone, Debug)]
struct Keys {
    node_id: NodeId,
    http_address: String,
    nm_key: Option<MasterKey>,
    container_key: Option<MasterKey>,
    rm_identifier: Option<u64>,
}

/// A container start refused on its own: (id, exception class, message).
type Refusal = (ContainerId, &'static str, String);

pub struct NmService {
    host: LiveNode<NodeManager>,
}

fn decode<M: Message + Default>(method: &str, bytes: &[u8]) -> Result<M, RpcError> {
    M::decode(bytes).map_err(|e| RpcError::malformed(method, e))
}

fn invalid_token(message: impl Into<String>) -> RpcError {
    RpcError::application(INVALID_TOKEN, message)
}

/// `SerializedException.newInstance(e)`: the class, the message, and a trace whose first line is
/// what Java's `printStackTrace` prints first (there are no Java frames to show).
fn serialized(id: ContainerId, class: &str, message: &str) -> pb::ContainerExceptionMapProto {
    pb::ContainerExceptionMapProto {
        container_id: Some(convert::container_id_to_pb(id)),
        exception: Some(pb::SerializedExceptionProto {
            message: Some(message.to_string()),
            trace: Some(format!("{class}: {message}\n")),
            class_name: Some(class.to_string()),
            cause: None,
        }),
    }
}

fn node_refusal(id: ContainerId, e: &RemoteError) -> pb::ContainerExceptionMapProto {
    serialized(id, &e.java_class_name, &e.message)
}

/// NMTokenSecretManagerInNM.retrievePassword: the attempt an NM token names and its password,
/// if it was made with the current key for this node.
fn nm_token_password(keys: &Keys, identifier: &[u8]) -> Result<(ApplicationAttemptId, Vec<u8>), String> {
    let id = pb::NmTokenIdentifierProto::decode(identifier).map_err(|e| format!("Malformed NMTokenIdentifier: {e}"))?;
    let attempt = id
        .app_attempt_id
        .as_ref()
        .ok_or_else(|| "NMTokenIdentifier without an application attempt".to_string())
        .and_then(|a| convert::attempt_id_from_pb(a).map_err(|e| e.message))?;
    let node = id.node_id.as_ref().map(|n| convert::node_id_from_pb(n).map_err(|e| e.message)).transpose()?;
    if let Some(node) = node.filter(|n| *n != keys.node_id) {
        return Err(format!(
            "Given NMToken for application : {attempt} is not valid for current node manager.expected : {} found : {node}",
            keys.node_id
        ));
    }
    match &keys.nm_key {
        Some(k) if id.key_id() == k.key_id => Ok((attempt, token::password(&k.bytes, identifier))),
        _ => Err(format!("Given NMToken for application : {attempt} seems to have been generated illegally.")),
    }
}

impl NmService {
    pub fn new(host: LiveNode<NodeManager>) -> NmService {
        NmService { host }
    }

    fn keys(&self) -> Keys {
        self.host.read(|nm| Keys {
            node_id: nm.node_id().cloned().unwrap_or_else(|| NodeId::from_addr(self.host.addr())),
            http_address: nm.config().http_address.clone(),
            nm_key: nm.nm_token_master_key().cloned(),
            container_key: nm.container_token_master_key().cloned(),
            rm_identifier: nm.status_updater().rm_identifier,
        })
    }

    /// The attempt of the NM token the connection authenticated with.
    fn attempt_of(cx: &CallContext, keys: &Keys) -> Result<ApplicationAttemptId, RpcError> {
        if cx.auth != AuthMethod::Token {
            return Err(RpcError::application(
                ACCESS_CONTROL,
                format!("{} authentication is not enabled.  Available:[{}]", cx.auth.name(), AuthMethod::Token.name()),
            ));
        }
        let id = cx.token_identifier.as_deref().ok_or_else(|| yarn_error("Invalid NMToken"))?;
        nm_token_password(keys, id).map(|(a, _)| a).map_err(invalid_token)
    }

    /// One StartContainerRequest's tokens, as startContainers and
    /// authorizeStartAndResourceIncreaseRequest check them. `Err(Ok(refusal))` refuses this
    /// container; `Err(Err(e))` fails the whole call (YARN throws InvalidToken and IOExceptions).
    #[allow(clippy::result_large_err)]
    fn verify(
        keys: &Keys,
        attempt: ApplicationAttemptId,
        r: &pb::StartContainerRequestProto,
        now_ms: i64,
    ) -> Result<StartContainerRequest, Result<Refusal, RpcError>> {
        let whole = |m: String| Err(Err(yarn_error(m)));
        let Some(t) = r.container_token.as_ref().filter(|t| !t.identifier.is_empty()) else {
            return whole("java.io.IOException: Invalid ContainerToken".into());
        };
        let ident = match pb::ContainerTokenIdentifierProto::decode(t.identifier.as_slice()) {
            Ok(i) => i,
            Err(e) => return whole(format!("java.io.IOException: Malformed ContainerTokenIdentifier: {e}")),
        };
        let id = match ident.container_id.as_ref().map(convert::container_id_from_pb) {
            Some(Ok(id)) => id,
            Some(Err(e)) => return whole(format!("java.io.IOException: {}", e.message)),
            None => return whole("java.io.IOException: ContainerTokenIdentifier without a container id".into()),
        };
        // NMContainerTokenSecretManager.retrievePassword, then the password comparison.
        let host = ident.nm_host_addr.clone().unwrap_or_default();
        if host != keys.node_id.to_string() {
            return Err(Err(invalid_token(format!(
                "Given Container {id} identifier is not valid for current Node manager. Expected : {} Found : {host}",
                keys.node_id
            ))));
        }
        let key = match &keys.container_key {
            Some(k) if ident.master_key_id() == k.key_id => k,
            _ => return Err(Err(invalid_token(format!("Given Container {id} seems to have an illegally generated token.")))),
        };
        if token::password(&key.bytes, &t.identifier) != t.password {
            return Err(Err(invalid_token(format!("Invalid container token used for starting container on : {}", keys.node_id))));
        }
        // authorizeStartAndResourceIncreaseRequest.
        let mut unauthorized = String::from("Unauthorized request to start container.");
        if attempt.app != id.app() {
            unauthorized.push_str(&format!(
                "\nNMToken for application attempt : {attempt} was used for starting container with container token issued for application attempt : {}",
                id.attempt
            ));
            return Err(Ok((id, convert::YARN_EXCEPTION, unauthorized)));
        }
        let expiry = ident.expiry_time_stamp.unwrap_or(0);
        if expiry < now_ms {
            unauthorized.push_str(&format!(
                "\nThis token is expired. current time is {now_ms} found {expiry}\nNote: System times on machines may be out of sync. Check system time and time zones."
            ));
            return Err(Ok((id, convert::YARN_EXCEPTION, unauthorized)));
        }
        if keys.rm_identifier.map(|r| r as i64) != ident.rm_identifier {
            return Err(Ok((id, INVALID_CONTAINER, format!("\nContainer {id} rejected as it is allocated by a previous RM"))));
        }
        let resource = match ident.resource.as_ref().map(convert::resource_from_pb) {
            Some(Ok(r)) => r,
            Some(Err(e)) => return Err(Ok((id, convert::YARN_EXCEPTION, e.message))),
            None => return Err(Ok((id, convert::YARN_EXCEPTION, format!("The container token of {id} names no resource")))),
        };
        let launch = match r.container_launch_context.as_ref().map(convert::launch_context_from_pb) {
            Some(Ok((launch, _acls))) => launch,
            Some(Err(e)) => return Err(Ok((id, convert::YARN_EXCEPTION, e.message))),
            None => return Err(Ok((id, convert::YARN_EXCEPTION, format!("Container {id} has no launch context")))),
        };
        // The container is what its token names: id, size and submitter come from there.
        let container = Container {
            id,
            node_id: keys.node_id.clone(),
            node_http_address: keys.http_address.clone(),
            resource,
            priority: ident.priority.as_ref().and_then(|p| p.priority).unwrap_or(0),
            allocation_request_id: ident.allocation_request_id.unwrap_or(-1),
        };
        Ok(StartContainerRequest { container, launch, user: ident.app_submitter.clone().unwrap_or_default() })
    }

    fn start_containers(
        &self,
        attempt: ApplicationAttemptId,
        keys: &Keys,
        req: pb::StartContainersRequestProto,
    ) -> Result<pb::StartContainersResponseProto, RpcError> {
        let now_ms = (wall_now().as_micros() / 1000) as i64;
        let mut resp = pb::StartContainersResponseProto::default();
        for r in &req.start_container_request {
            match Self::verify(keys, attempt, r, now_ms) {
                Ok(start) => {
                    let id = start.container.id;
                    // Each container starts as soon as it is verified, as in YARN.
                    let (ok, failed) = self.host.with(|nm, cx| {
                        let result = nm.start_container_requests(cx, std::slice::from_ref(&start));
                        if !result.0.is_empty() {
                            nm.heartbeat_now(cx);
                        }
                        result
                    });
                    resp.succeeded_requests.extend(ok.into_iter().map(convert::container_id_to_pb));
                    resp.failed_requests.extend(failed.iter().map(|(_, e)| node_refusal(id, e)));
                }
                Err(Ok((id, class, message))) => resp.failed_requests.push(serialized(id, class, &message)),
                Err(Err(e)) => return Err(e),
            }
        }
        Ok(resp)
    }

    /// ContainerManagerImpl.authorizeGetAndStopContainerRequest: an NM token only reaches its
    /// own application's containers.
    fn ids(
        attempt: ApplicationAttemptId,
        ids: &[pb::ContainerIdProto],
        verb: &str,
    ) -> Result<(Vec<ContainerId>, Vec<pb::ContainerExceptionMapProto>), RpcError> {
        let (mut mine, mut refused) = (Vec::new(), Vec::new());
        for p in ids {
            let id = convert::container_id_from_pb(p)?;
            if id.app() == attempt.app {
                mine.push(id);
            } else {
                refused.push(serialized(
                    id,
                    convert::YARN_EXCEPTION,
                    &format!("{attempt} attempted to {verb} non-application container : {id}"),
                ));
            }
        }
        Ok((mine, refused))
    }

    fn stop_containers(
        &self,
        attempt: ApplicationAttemptId,
        req: pb::StopContainersRequestProto,
    ) -> Result<pb::StopContainersResponseProto, RpcError> {
        let (mine, mut failed_requests) = Self::ids(attempt, &req.container_id, "stop")?;
        let (ok, failed) = self.host.with(|nm, cx| nm.stop_container_ids(cx, mine));
        failed_requests.extend(failed.iter().map(|(id, e)| node_refusal(*id, e)));
        Ok(pb::StopContainersResponseProto {
            succeeded_requests: ok.into_iter().map(convert::container_id_to_pb).collect(),
            failed_requests,
        })
    }

    fn get_container_statuses(
        &self,
        attempt: ApplicationAttemptId,
        req: pb::GetContainerStatusesRequestProto,
    ) -> Result<pb::GetContainerStatusesResponseProto, RpcError> {
        let (mine, mut failed_requests) = Self::ids(attempt, &req.container_id, "get status for")?;
        let (status, failed) = self.host.read(|nm| {
            let (statuses, failed) = nm.container_statuses(mine);
            // ContainerStatus.getCapability: the container's size.
            let status = statuses
                .iter()
                .map(|s| {
                    let mut p = convert::container_status_to_pb(s);
                    p.capability = nm.container_record(&s.container_id).map(|c| convert::resource_to_pb(c.resource));
                    p
                })
                .collect();
            (status, failed)
        });
        failed_requests.extend(failed.iter().map(|(id, e)| node_refusal(*id, e)));
        Ok(pb::GetContainerStatusesResponseProto { status, failed_requests })
    }
}

impl RpcService for NmService {
    fn auth_methods(&self) -> Vec<AuthMethod> {
        // ContainerManagerImpl.serviceStart: "always enforce it to be token-based".
        vec![AuthMethod::Token]
    }

    fn accepts(&self, protocol: &str, auth: AuthMethod) -> Result<(), RpcError> {
        match protocol {
            CONTAINER_MANAGEMENT_PROTOCOL if auth == AuthMethod::Token => Ok(()),
            CONTAINER_MANAGEMENT_PROTOCOL => Err(RpcError::application(
                ACCESS_CONTROL,
                format!("{} authentication is not enabled.  Available:[{}]", auth.name(), AuthMethod::Token.name()),
            )),
            other => Err(RpcError::no_such_protocol(other)),
        }
    }

    fn token_password(&self, identifier: &[u8]) -> Result<Vec<u8>, String> {
        nm_token_password(&self.keys(), identifier).map(|(_, pw)| pw)
    }

    fn token_user(&self, identifier: &[u8]) -> Option<String> {
        let id = pb::NmTokenIdentifierProto::decode(identifier).ok()?;
        convert::attempt_id_from_pb(id.app_attempt_id.as_ref()?).ok().map(|a| a.to_string())
    }

    fn call(&self, cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, RpcError> {
        if cx.protocol != CONTAINER_MANAGEMENT_PROTOCOL {
            return Err(RpcError::no_such_protocol(&cx.protocol));
        }
        let m = cx.method.as_str();
        if !matches!(m, "startContainers" | "stopContainers" | "getContainerStatuses") {
            return Err(RpcError::no_such_method(m, CONTAINER_MANAGEMENT_PROTOCOL));
        }
        let keys = self.keys();
        let attempt = Self::attempt_of(cx, &keys)?;
        Ok(match m {
            "startContainers" => self.start_containers(attempt, &keys, decode(m, request)?)?.encode_to_vec(),
            "stopContainers" => self.stop_containers(attempt, decode(m, request)?)?.encode_to_vec(),
            _ => self.get_container_statuses(attempt, decode(m, request)?)?.encode_to_vec(),
        })
    }
}

/// Serves the ContainerManagementProtocol (connections opening with `hrpc`) on the NM's one
/// port, beside REST and node frames: NMClient reaches it at the container's NodeId. Call
/// right after `LiveNode::new`, before the node is cloned or run.
pub fn with_hadoop_rpc(host: LiveNode<NodeManager>) -> LiveNode<NodeManager> {
    // The service holds the host, which must take the handler before it is shared: the
    // handler finds the service in a slot filled right after.
    let slot: Arc<OnceLock<Arc<dyn RpcService>>> = Arc::new(OnceLock::new());
    let s = slot.clone();
    let handler: RawHandler = Arc::new(move |stream, peer| {
        let svc = s.get().cloned();
        Box::pin(async move {
            if let Some(svc) = svc {
                hadoop_rpc::server::serve_connection(stream, svc, peer).await
            }
        })
    });
    let host = host.with_raw_protocol(hadoop_rpc::connection::PREAMBLE_MAGIC, handler);
    let _ = slot.set(Arc::new(NmService::new(host.clone())));
    host
}

#[cfg(test)]
#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test: real files, processes and the wall clock
mod tests {
    use std::path::PathBuf;
    use std::time::Duration;

    use engine::{Codecs, Msg, Node};
    use hadoop_rpc::token::{Credentials, Token};

    use super::*;
    use crate::conf::Configuration;
    use crate::ids::ApplicationId;
    use crate::nm::NmConfig;
    use crate::proto::{NodeAction, YarnMsg};
    use crate::records::{self, ContainerLaunchContext, LocalResource, Resource};

    const TS: u64 = 1_767_225_600_000;
    const CT_KEY: (i32, [u8; 64]) = (7, [7u8; 64]);
    const NM_KEY: (i32, [u8; 64]) = (8, [8u8; 64]);

    struct Fixture {
        host: LiveNode<NodeManager>,
        service: NmService,
        dir: PathBuf,
        started: Vec<ContainerId>,
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            // Whatever the test left running goes (SIGTERM, then the NM's SIGKILL timer).
            let ids = self.started.clone();
            self.host.with(|nm, cx| {
                nm.stop_container_ids(cx, ids);
            });
            std::thread::sleep(Duration::from_millis(300));
            let _ = std::process::Command::new("chmod").arg("-R").arg("u+rwx").arg(&self.dir).status();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    async fn fixture(name: &str) -> Fixture {
        let dir = std::env::temp_dir().join(format!("nm-service-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = Configuration::new();
        c.set("yarn.nodemanager.local-dirs", dir.join("local").display());
        c.set("yarn.nodemanager.log-dirs", dir.join("logs").display());
        // An RM address nobody listens on: the registration is answered by the test.
        c.set("yarn.resourcemanager.resource-tracker.address", "127.0.0.1:9");
        let conf = NmConfig::from_conf(&c, "127.0.0.1:8042", "").unwrap();
        let (_listener, addr) = engine::live::bind_loopback(0).await.unwrap();
        let host = LiveNode::new(NodeManager::new(conf), addr, dir.join("dfs"), Codecs::new().with::<YarnMsg>(), 1);
        let rm: engine::Addr = "127.0.0.1:9".parse().unwrap();
        host.with(|nm, cx| {
            nm.on_start(cx);
            let keys = |(key_id, bytes): (i32, [u8; 64])| MasterKey { key_id, bytes: bytes.to_vec() };
            let m = YarnMsg::RegisterNodeManagerResponse {
                action: NodeAction::Normal,
                rm_identifier: TS,
                heartbeat_interval_ms: 100_000,
                diagnostics: String::new(),
                container_token_master_key: keys(CT_KEY),
                nm_token_master_key: keys(NM_KEY),
            };
            nm.on_message(cx, rm, Msg::new(m));
        });
        assert!(host.read(|nm| nm.is_registered()));
        Fixture { service: NmService::new(host.clone()), host, dir, started: Vec::new() }
    }

    fn attempt(app: u32) -> ApplicationAttemptId {
        ApplicationAttemptId::new(ApplicationId::new(TS, app), 1)
    }

    fn nm_token(f: &Fixture, attempt: ApplicationAttemptId, key: (i32, [u8; 64])) -> Token {
        let id = pb::NmTokenIdentifierProto {
            app_attempt_id: Some(convert::attempt_id_to_pb(attempt)),
            node_id: Some(convert::node_id_to_pb(&NodeId::from_addr(f.host.addr()))),
            app_submitter: Some("alice".into()),
            key_id: Some(key.0),
        };
        Token::mint(&key.1, id.encode_to_vec(), pb::kind::NM_TOKEN, &f.host.addr().to_string())
    }

    fn container_token(f: &Fixture, id: ContainerId, expiry: i64) -> pb::TokenProto {
        let ident = pb::ContainerTokenIdentifierProto {
            container_id: Some(convert::container_id_to_pb(id)),
            nm_host_addr: Some(NodeId::from_addr(f.host.addr()).to_string()),
            app_submitter: Some("alice".into()),
            resource: Some(convert::resource_to_pb(Resource::new(128, 1))),
            expiry_time_stamp: Some(expiry),
            master_key_id: Some(CT_KEY.0),
            rm_identifier: Some(TS as i64),
            ..Default::default()
        };
        Token::mint(&CT_KEY.1, ident.encode_to_vec(), pb::kind::CONTAINER_TOKEN, &f.host.addr().to_string()).to_proto()
    }

    fn call_cx(token: &Token, method: &str) -> CallContext {
        CallContext {
            protocol: CONTAINER_MANAGEMENT_PROTOCOL.into(),
            method: method.into(),
            auth: AuthMethod::Token,
            user: String::new(),
            token_identifier: Some(token.identifier.clone()),
            peer: "127.0.0.1:1".into(),
        }
    }

    fn later() -> i64 {
        (wall_now().as_micros() / 1000) as i64 + 600_000
    }

    fn statuses(f: &Fixture, t: &Token, ids: &[ContainerId]) -> pb::GetContainerStatusesResponseProto {
        let req = pb::GetContainerStatusesRequestProto { container_id: ids.iter().map(|i| convert::container_id_to_pb(*i)).collect() };
        let out = f.service.call(&call_cx(t, "getContainerStatuses"), &req.encode_to_vec()).unwrap();
        pb::GetContainerStatusesResponseProto::decode(out.as_slice()).unwrap()
    }

    async fn wait_for_state(f: &Fixture, t: &Token, id: ContainerId, state: pb::ContainerStateProto) -> pb::ContainerStatusProto {
        for _ in 0..200 {
            let r = statuses(f, t, &[id]);
            if let Some(s) = r.status.first().filter(|s| s.state == Some(state as i32)) {
                return s.clone();
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{id} never reached {state:?}: {:?}", statuses(f, t, &[id]));
    }

    /// NMTokenSecretManagerInNM: the password of an NM token made with the RM's key for this
    /// node; the user is the attempt; other keys and other nodes are refused in YARN's words.
    #[tokio::test]
    async fn nm_tokens_are_checked_against_the_rm_s_key() {
        let f = fixture("nmtoken").await;
        let a = attempt(1);
        let t = nm_token(&f, a, NM_KEY);
        assert_eq!(f.service.token_password(&t.identifier).unwrap(), t.password);
        assert_eq!(f.service.token_user(&t.identifier).as_deref(), Some("appattempt_1767225600000_0001_000001"));
        let old = nm_token(&f, a, (9, [8u8; 64]));
        assert_eq!(
            f.service.token_password(&old.identifier).unwrap_err(),
            "Given NMToken for application : appattempt_1767225600000_0001_000001 seems to have been generated illegally."
        );
        let elsewhere = pb::NmTokenIdentifierProto {
            app_attempt_id: Some(convert::attempt_id_to_pb(a)),
            node_id: Some(pb::NodeIdProto { host: Some("127.0.0.9".into()), port: Some(1) }),
            app_submitter: None,
            key_id: Some(NM_KEY.0),
        };
        assert!(f.service.token_password(&elsewhere.encode_to_vec()).unwrap_err().contains("is not valid for current node manager"));
        assert!(f.service.token_password(b"\xff\xff").is_err());
        assert_eq!(f.service.auth_methods(), vec![AuthMethod::Token]);
        assert_eq!(f.service.accepts(CONTAINER_MANAGEMENT_PROTOCOL, AuthMethod::Simple).unwrap_err().class, ACCESS_CONTROL);
        assert_eq!(
            f.service.accepts("org.apache.hadoop.yarn.api.ApplicationClientProtocolPB", AuthMethod::Token).unwrap_err().code,
            hadoop_rpc::service::RpcErrorCode::NoSuchProtocol
        );
        let e = f.service.call(&call_cx(&t, "signalToContainer"), &[]).unwrap_err();
        assert_eq!(e.code, hadoop_rpc::service::RpcErrorCode::NoSuchMethod);
        let e = f.service.call(&call_cx(&t, "startContainers"), b"\x0a\xff").unwrap_err();
        assert_eq!(e.code, hadoop_rpc::service::RpcErrorCode::RpcServer);
    }

    /// startContainers as NMClient sends it: a valid container token starts its container (with
    /// a `file:` resource localized and the Credentials written); an invalid one in the same
    /// call fails the call with InvalidToken, as ContainerManagerImpl throws it; a token of
    /// another application or an expired one fails only its container. Then the status, the
    /// stop (KILLED_BY_APPMASTER) and the refusal of other applications' containers.
    #[tokio::test]
    async fn start_stop_and_status_over_the_container_management_protocol() {
        let mut f = fixture("cmp").await;
        let a = attempt(1);
        let t = nm_token(&f, a, NM_KEY);
        let jar = f.dir.join("app.jar");
        std::fs::write(&jar, b"APP").unwrap();
        let mtime = engine::live::localcopy::stat(&jar.display().to_string()).unwrap().mtime_ms;
        let mut launch = ContainerLaunchContext { commands: vec!["sleep 30".into()], ..Default::default() };
        launch.environment.insert("CLASSPATH".into(), "{{PWD}}/app.jar".into());
        launch.local_resources.insert(
            "app.jar".into(),
            LocalResource {
                resource: format!("file:{}", jar.display()),
                kind: records::LocalResourceType::File,
                visibility: records::LocalResourceVisibility::Application,
                size: 3,
                timestamp: mtime,
            },
        );
        launch.tokens = Some(Credentials::new().to_writable_bytes());
        let clc = convert::launch_context_to_pb(&launch, &Default::default());
        let c2 = ContainerId::new(a, 2);
        let c3 = ContainerId::new(a, 3);
        let mut bad = container_token(&f, c3, later());
        bad.password[0] ^= 1;
        let req = pb::StartContainersRequestProto {
            start_container_request: vec![
                pb::StartContainerRequestProto {
                    container_launch_context: Some(clc.clone()),
                    container_token: Some(container_token(&f, c2, later())),
                },
                pb::StartContainerRequestProto { container_launch_context: Some(clc.clone()), container_token: Some(bad) },
            ],
        };
        f.started.push(c2);
        let e = f.service.call(&call_cx(&t, "startContainers"), &req.encode_to_vec()).unwrap_err();
        assert_eq!(e.class, INVALID_TOKEN);
        assert_eq!(e.message, format!("Invalid container token used for starting container on : {}", NodeId::from_addr(f.host.addr())));
        // The valid one before it was started, as YARN does; the bad one was not.
        let s = wait_for_state(&f, &t, c2, pb::ContainerStateProto::CRunning).await;
        assert_eq!(s.capability.as_ref().and_then(|r| r.memory), Some(128));
        let work = f.host.read(|nm| nm.container_record(&c2).unwrap().work_dir.clone());
        assert_eq!(std::fs::read(format!("{work}/app.jar")).unwrap(), b"APP");
        assert!(std::fs::read(format!("{work}/container_tokens")).unwrap().starts_with(b"HDTS"));
        assert!(f.host.read(|nm| nm.container_record(&c3).is_none()));

        // Another application's container token (under this attempt's NM token), and an
        // expired one: refused one by one in failed_requests, the call succeeds.
        let other = ContainerId::new(attempt(2), 4);
        let c5 = ContainerId::new(a, 5);
        let req = pb::StartContainersRequestProto {
            start_container_request: vec![
                pb::StartContainerRequestProto {
                    container_launch_context: Some(clc.clone()),
                    container_token: Some(container_token(&f, other, later())),
                },
                pb::StartContainerRequestProto {
                    container_launch_context: Some(clc.clone()),
                    container_token: Some(container_token(&f, c5, 1)),
                },
                pb::StartContainerRequestProto { container_launch_context: Some(clc), container_token: None },
            ],
        };
        let e = f.service.call(&call_cx(&t, "startContainers"), &req.encode_to_vec()).unwrap_err();
        assert_eq!((e.class.as_str(), e.message.as_str()), (convert::YARN_EXCEPTION, "java.io.IOException: Invalid ContainerToken"));
        let req = pb::StartContainersRequestProto { start_container_request: req.start_container_request[..2].to_vec() };
        let out = f.service.call(&call_cx(&t, "startContainers"), &req.encode_to_vec()).unwrap();
        let r = pb::StartContainersResponseProto::decode(out.as_slice()).unwrap();
        assert!(r.succeeded_requests.is_empty());
        let failed: Vec<(ContainerId, String, String)> = r
            .failed_requests
            .iter()
            .map(|m| {
                let e = m.exception.clone().unwrap();
                (convert::container_id_from_pb(m.container_id.as_ref().unwrap()).unwrap(), e.class_name.unwrap(), e.message.unwrap())
            })
            .collect();
        assert_eq!(failed[0].0, other);
        assert_eq!(failed[0].1, convert::YARN_EXCEPTION);
        assert_eq!(failed[0].2, format!("Unauthorized request to start container.\nNMToken for application attempt : {a} was used for starting container with container token issued for application attempt : {}", other.attempt));
        assert_eq!(failed[1].0, c5);
        assert!(
            failed[1].2.starts_with("Unauthorized request to start container.\nThis token is expired. current time is "),
            "{}",
            failed[1].2
        );

        // Statuses and stops reach this application's containers only.
        let r = statuses(&f, &t, &[c2, other, c3]);
        assert_eq!(r.status.len(), 1);
        let msgs: Vec<String> = r.failed_requests.iter().map(|m| m.exception.clone().unwrap().message.unwrap()).collect();
        assert_eq!(
            msgs,
            [
                format!("{a} attempted to get status for non-application container : {other}"),
                format!("Container {c3} is not handled by this NodeManager")
            ]
        );
        let req =
            pb::StopContainersRequestProto { container_id: vec![convert::container_id_to_pb(c2), convert::container_id_to_pb(other)] };
        let out = f.service.call(&call_cx(&t, "stopContainers"), &req.encode_to_vec()).unwrap();
        let r = pb::StopContainersResponseProto::decode(out.as_slice()).unwrap();
        assert_eq!(r.succeeded_requests, vec![convert::container_id_to_pb(c2)]);
        assert_eq!(
            r.failed_requests[0].exception.clone().unwrap().message.unwrap(),
            format!("{a} attempted to stop non-application container : {other}")
        );
        let s = wait_for_state(&f, &t, c2, pb::ContainerStateProto::CComplete).await;
        assert_eq!(s.exit_status, Some(records::exit_status::KILLED_BY_APPMASTER));
        assert!(s.diagnostics.unwrap().starts_with("Container killed by the ApplicationMaster.\n"));
    }

    /// Bad input changes nothing and crashes nothing: random bytes and mutations (flipped,
    /// dropped, inserted bytes, truncations) of a valid request to every method, and random
    /// token identifiers; the service answers each (Ok or Hadoop's error) and keeps serving.
    #[tokio::test]
    async fn mutated_requests_get_answers_and_the_nm_keeps_serving() {
        use rand::{Rng as _, SeedableRng as _};
        let mut f = fixture("fuzz").await;
        let a = attempt(1);
        let t = nm_token(&f, a, NM_KEY);
        let c2 = ContainerId::new(a, 2);
        f.started.push(c2);
        let launch = ContainerLaunchContext { commands: vec!["true".into()], ..Default::default() };
        let clc = convert::launch_context_to_pb(&launch, &Default::default());
        let start = pb::StartContainersRequestProto {
            start_container_request: vec![pb::StartContainerRequestProto {
                container_launch_context: Some(clc),
                container_token: Some(container_token(&f, c2, later())),
            }],
        }
        .encode_to_vec();
        let ids = pb::StopContainersRequestProto { container_id: vec![convert::container_id_to_pb(c2)] }.encode_to_vec();
        let mut rng = engine::Rng::seed_from_u64(0x6e6d);
        for i in 0..600 {
            let (method, base) = match i % 3 {
                0 => ("startContainers", &start),
                1 => ("stopContainers", &ids),
                _ => ("getContainerStatuses", &ids),
            };
            let mut bytes = base.clone();
            match rng.random_range(0..5) {
                0 => bytes = (0..rng.random_range(0..64)).map(|_| rng.random()).collect(),
                1 => bytes.truncate(rng.random_range(0..bytes.len().max(1))),
                2 => {
                    let at = rng.random_range(0..bytes.len().max(1));
                    bytes.insert(at.min(bytes.len()), rng.random());
                }
                3 if !bytes.is_empty() => {
                    let at = rng.random_range(0..bytes.len());
                    bytes.remove(at);
                }
                _ if !bytes.is_empty() => {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] ^= 1 << rng.random_range(0..8);
                }
                _ => {}
            }
            let _ = f.service.call(&call_cx(&t, method), &bytes);
            let junk: Vec<u8> = (0..rng.random_range(0..48)).map(|_| rng.random()).collect();
            assert!(f.service.token_password(&junk).is_err() || pb::NmTokenIdentifierProto::decode(junk.as_slice()).is_ok());
        }
        // Still serving, and what it says is consistent.
        let r = statuses(&f, &t, &[c2]);
        assert_eq!(r.status.len() + r.failed_requests.len(), 1);
        assert!(f.host.read(|nm| nm.is_registered()));
    }
}
