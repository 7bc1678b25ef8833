//! One server-side Hadoop IPC connection as a sans-IO state machine (`ipc.Server.Connection`):
//! bytes from the client go in, bytes for the client (and whether to close) come out. The
//! preamble, frames, SASL (reference §2.1), the connection context and calls follow the Java
//! server's rules and texts (reference §1). No clocks, threads, sockets or OS randomness: the
//! nonce's random bytes come from the caller, and service calls run inline.

use crate::proto::{
    self, IpcConnectionContextProto, RequestHeaderProto, RpcErrorCodeProto, RpcKindProto, RpcRequestHeaderProto, RpcResponseHeaderProto,
    RpcSaslProto, RpcStatusProto, SaslAuth, SaslState,
};
use crate::sasl::{DigestServer, SaslFailure, DEFAULT_REALM, NONCE_BYTES};
use crate::service::{AuthMethod, CallContext, RpcError, RpcErrorCode, RpcService};

/// `RpcConstants.HEADER`.
pub const PREAMBLE_MAGIC: &[u8; 4] = b"hrpc";
/// `RpcConstants.CURRENT_VERSION`.
pub const IPC_VERSION: u8 = 9;
/// `Server.AuthProtocol.NONE` / `SASL` (−33) as the preamble's last byte.
pub const AUTH_PROTOCOL_NONE: u8 = 0;
pub const AUTH_PROTOCOL_SASL: u8 = 0xdf;
/// Special call ids (RpcConstants, Server.AuthProtocol).
pub const AUTHORIZATION_FAILED_CALL_ID: i32 = -1;
pub const CONNECTION_CONTEXT_CALL_ID: i32 = -3;
pub const PING_CALL_ID: i32 = -4;
pub const SASL_CALL_ID: i32 = -33;
/// `RpcConstants.INVALID_RETRY_COUNT`.
pub const INVALID_RETRY_COUNT: i32 = -1;
/// Hadoop's `ipc.maximum.data.length` default (128 MiB).
pub const HADOOP_MAX_DATA_LENGTH: u32 = 134_217_728;
/// Ours: YARN's messages are kilobytes; 64 MiB leaves room for huge launch contexts while
/// halving what one connection may make us buffer.
pub const DEFAULT_MAX_DATA_LENGTH: u32 = 64 << 20;

/// `Server.RECEIVED_HTTP_REQ_RESPONSE`: what an HTTP GET on an IPC port gets.
pub const HTTP_ON_IPC_PORT_RESPONSE: &str = "HTTP/1.1 404 Not Found\r\nContent-type: text/plain\r\n\r\nIt looks like you are making an HTTP request to a Hadoop IPC port. This is not the correct port for the web interface on this daemon.\r\n";

const RPC_SERVER_EXCEPTION: &str = "org.apache.hadoop.ipc.RpcServerException";
const ACCESS_CONTROL_EXCEPTION: &str = "org.apache.hadoop.security.AccessControlException";
const AUTHORIZATION_EXCEPTION: &str = "org.apache.hadoop.security.authorize.AuthorizationException";
const VERSION_MISMATCH: &str = "org.apache.hadoop.ipc.RPC$VersionMismatch";
const IPC_EXCEPTION: &str = "org.apache.hadoop.ipc.IpcException";
const IO_EXCEPTION: &str = "java.io.IOException";

/// Per-port settings.
#[derive(Clone, Debug)]
pub struct ConnectionConfig {
    /// `ipc.maximum.data.length`: the largest frame accepted.
    pub max_data_length: u32,
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        ConnectionConfig { max_data_length: DEFAULT_MAX_DATA_LENGTH }
    }
}

/// What one [`ServerConnection::feed`] produced.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    /// Bytes to write to the client, in order.
    pub send: Vec<u8>,
    /// Write `send`, then close the connection.
    pub close: bool,
    /// Refusals worth a log line (one line each).
    pub log: Vec<String>,
}

/// Who the connection authenticated as.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Authenticated {
    auth: AuthMethod,
    /// The preamble asked for SASL (it may still have settled on SIMPLE).
    sasl: bool,
    token_identifier: Option<Vec<u8>>,
    /// TOKEN: the identifier's user.
    token_user: Option<String>,
}

#[derive(Clone, Debug)]
enum Phase {
    /// Waiting for the 7-byte preamble.
    Preamble,
    /// SASL preamble read; waiting for the client's NEGOTIATE.
    SaslNegotiate,
    /// Our NEGOTIATE (with TOKEN's challenge when offered) went out; waiting for INITIATE.
    SaslInitiate { offered: Vec<AuthMethod>, digest: Option<DigestServer> },
    /// The client initiated TOKEN without a response; our CHALLENGE went out; waiting for RESPONSE.
    SaslResponse { digest: DigestServer },
    /// Authenticated; the connection context has not come yet.
    AwaitContext(Authenticated),
    /// Context read: calls are served.
    Ready { who: Authenticated, protocol: String, user: String, protocol_refused: Option<RpcError> },
    /// A fatal reply went out (or the peer spoke HTTP); everything further is ignored.
    Closed,
}

/// A FATAL reply: the header's call id and retry count when known, the Java class and text.
struct Fatal {
    call_id: i32,
    retry: i32,
    code: RpcErrorCodeProto,
    class: String,
    message: String,
}

impl Fatal {
    fn new(code: RpcErrorCodeProto, class: &str, message: impl Into<String>) -> Fatal {
        Fatal { call_id: AUTHORIZATION_FAILED_CALL_ID, retry: INVALID_RETRY_COUNT, code, class: class.to_string(), message: message.into() }
    }
    /// `FatalRpcServerException(code, message)`: reported as the RpcServerException it wraps.
    fn rpc(code: RpcErrorCodeProto, message: impl Into<String>) -> Fatal {
        Fatal::new(code, RPC_SERVER_EXCEPTION, message)
    }
    /// `doSaslReply(e)`: FATAL_UNAUTHORIZED at call id −1 with the exception's `toString()`.
    fn sasl_reply(class: &str, message: &str) -> Fatal {
        Fatal::new(RpcErrorCodeProto::FatalUnauthorized, class, format!("{class}: {message}"))
    }
    fn at(mut self, call_id: i32, retry: i32) -> Fatal {
        self.call_id = call_id;
        self.retry = retry;
        self
    }
}

/// The server side of one connection.
pub struct ServerConnection {
    peer: String,
    config: ConnectionConfig,
    nonce_random: [u8; NONCE_BYTES],
    phase: Phase,
    /// Bytes received and not yet consumed: at most a partial frame plus one read.
    buf: Vec<u8>,
}

impl ServerConnection {
    /// `nonce_random` seeds the DIGEST-MD5 nonce should the client negotiate TOKEN.
    pub fn new(peer: impl Into<String>, config: ConnectionConfig, nonce_random: [u8; NONCE_BYTES]) -> Self {
        ServerConnection { peer: peer.into(), config, nonce_random, phase: Phase::Preamble, buf: Vec::new() }
    }

    pub fn is_closed(&self) -> bool {
        matches!(self.phase, Phase::Closed)
    }

    /// The connection's method and user once the context is read.
    pub fn authenticated(&self) -> Option<(AuthMethod, &str)> {
        match &self.phase {
            Phase::Ready { who, user, .. } => Some((who.auth, user.as_str())),
            _ => None,
        }
    }

    /// Bytes currently buffered (tests check the bound).
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Feeds bytes read from the client; runs every complete packet through `service`.
    pub fn feed(&mut self, data: &[u8], service: &dyn RpcService) -> Output {
        let mut out = Output::default();
        if self.is_closed() {
            return out;
        }
        self.buf.extend_from_slice(data);
        let mut pos = 0;
        loop {
            let avail = &self.buf[pos..];
            if matches!(self.phase, Phase::Preamble) {
                if avail.len() >= 4 && &avail[..4] == b"GET " {
                    out.send.extend_from_slice(HTTP_ON_IPC_PORT_RESPONSE.as_bytes());
                    out.log.push(format!("{}: HTTP request on the IPC port", self.peer));
                    self.close(&mut out);
                    break;
                }
                if avail.len() < 7 {
                    break;
                }
                let pre: [u8; 7] = avail[..7].try_into().expect("7 bytes");
                pos += 7;
                if let Err(f) = self.preamble(pre, service) {
                    self.fatal(f, &mut out);
                    break;
                }
                continue;
            }
            if avail.len() < 4 {
                break;
            }
            let len = i32::from_be_bytes(avail[..4].try_into().expect("4 bytes"));
            if len < 0 {
                let msg = format!("Unexpected data length {len}!! from {}", self.peer);
                self.fatal(Fatal::new(RpcErrorCodeProto::FatalInvalidRpcHeader, IO_EXCEPTION, msg), &mut out);
                break;
            }
            if len as u32 > self.config.max_data_length {
                let msg = format!(
                    "Requested data length {len} is longer than maximum configured RPC length {}.  RPC came from {}",
                    self.config.max_data_length, self.peer
                );
                self.fatal(Fatal::new(RpcErrorCodeProto::FatalInvalidRpcHeader, IO_EXCEPTION, msg), &mut out);
                break;
            }
            let len = len as usize;
            if avail.len() < 4 + len {
                break;
            }
            let packet_start = pos + 4;
            pos = packet_start + len;
            // Split the borrow: the packet is read while `self` changes phase.
            let packet = self.buf[packet_start..pos].to_vec();
            if let Err(f) = self.packet(&packet, service, &mut out) {
                self.fatal(f, &mut out);
                break;
            }
        }
        if self.is_closed() {
            self.buf = Vec::new();
        } else {
            self.buf.drain(..pos);
        }
        out
    }

    fn close(&mut self, out: &mut Output) {
        self.phase = Phase::Closed;
        out.close = true;
    }

    fn fatal(&mut self, f: Fatal, out: &mut Output) {
        out.log.push(format!("{}: refused: {}: {}", self.peer, f.class, f.message));
        let header = RpcResponseHeaderProto {
            call_id: f.call_id as u32,
            status: RpcStatusProto::Fatal as i32,
            server_ipc_version_num: Some(u32::from(IPC_VERSION)),
            exception_class_name: Some(f.class),
            error_msg: Some(f.message),
            error_detail: Some(f.code as i32),
            client_id: Some(Vec::new()),
            retry_count: Some(f.retry),
        };
        push_frame(&mut out.send, |b| proto::write_delimited(&header, b));
        self.close(out);
    }

    fn preamble(&mut self, pre: [u8; 7], service: &dyn RpcService) -> Result<(), Fatal> {
        let version = pre[4];
        if &pre[..4] != PREAMBLE_MAGIC || version != IPC_VERSION {
            return Err(Fatal::new(
                RpcErrorCodeProto::FatalVersionMismatch,
                VERSION_MISMATCH,
                format!("Server IPC version {IPC_VERSION} cannot communicate with client version {}", version as i8),
            ));
        }
        // pre[5] is the service class: one class here.
        let methods = service.auth_methods();
        match pre[6] {
            AUTH_PROTOCOL_NONE => {
                if !methods.contains(&AuthMethod::Simple) {
                    return Err(Fatal::sasl_reply(
                        ACCESS_CONTROL_EXCEPTION,
                        &format!("SIMPLE authentication is not enabled.  Available:{}", method_list(&methods)),
                    ));
                }
                self.phase =
                    Phase::AwaitContext(Authenticated { auth: AuthMethod::Simple, sasl: false, token_identifier: None, token_user: None });
            }
            AUTH_PROTOCOL_SASL => self.phase = Phase::SaslNegotiate,
            other => {
                return Err(Fatal::sasl_reply(IPC_EXCEPTION, &format!("Unknown auth protocol:{}", other as i8)));
            }
        }
        Ok(())
    }

    fn packet(&mut self, packet: &[u8], service: &dyn RpcService, out: &mut Output) -> Result<(), Fatal> {
        let mut rest = packet;
        let header: RpcRequestHeaderProto = proto::read_delimited(&mut rest)
            .map_err(|e| Fatal::rpc(RpcErrorCodeProto::FatalDeserializingRequest, format!("Error decoding RpcRequestHeaderProto: {e}")))?;
        let call_id = header.call_id.unwrap_or(0);
        let retry = header.retry_count.unwrap_or(INVALID_RETRY_COUNT);
        check_rpc_header(&header).map_err(|f| f.at(call_id, retry))?;
        if call_id < 0 {
            return self.out_of_band(call_id, rest, service, out).map_err(|f| f.at(call_id, retry));
        }
        let Phase::Ready { who, protocol, user, protocol_refused } = &self.phase else {
            return Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, "Connection context not established").at(call_id, retry));
        };
        // RpcProtobufRequest: a delimited RequestHeaderProto, then the delimited request.
        let request: Result<(RequestHeaderProto, &[u8]), String> = (|| {
            let rh: RequestHeaderProto = proto::read_delimited(&mut rest).map_err(|e| e.to_string())?;
            let body = proto::read_delimited_bytes(&mut rest).map_err(|e| e.to_string())?;
            Ok((rh, body))
        })();
        let (rh, body) = request.map_err(|e| {
            Fatal::rpc(RpcErrorCodeProto::FatalDeserializingRequest, format!("IPC server unable to read call parameters: {e}"))
                .at(call_id, retry)
        })?;
        // Java dispatches on the header's protocol; the context's protocol was authorized
        // already, another one is checked here so a connection cannot borrow a laxer one.
        let refused = if rh.declaring_class_protocol_name == *protocol {
            protocol_refused.clone()
        } else {
            service.accepts(&rh.declaring_class_protocol_name, who.auth).err()
        };
        let result = match refused {
            Some(e) => Err(e),
            None => {
                let cx = CallContext {
                    protocol: rh.declaring_class_protocol_name.clone(),
                    method: rh.method_name.clone(),
                    auth: who.auth,
                    user: user.clone(),
                    token_identifier: who.token_identifier.clone(),
                    peer: self.peer.clone(),
                };
                // A panicking service answers this call with an error; the connection and
                // the server live on.
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| service.call(&cx, body))).unwrap_or_else(|_| {
                    Err(RpcError {
                        class: RPC_SERVER_EXCEPTION.to_string(),
                        message: format!("Internal error in {}.{}", rh.declaring_class_protocol_name, rh.method_name),
                        code: RpcErrorCode::RpcServer,
                    })
                })
            }
        };
        let client_id = header.client_id.clone().unwrap_or_default();
        let mut response = RpcResponseHeaderProto {
            call_id: call_id as u32,
            status: RpcStatusProto::Success as i32,
            server_ipc_version_num: Some(u32::from(IPC_VERSION)),
            client_id: Some(client_id),
            retry_count: Some(retry),
            ..Default::default()
        };
        match result {
            Ok(bytes) => push_frame(&mut out.send, |b| {
                proto::write_delimited(&response, b);
                write_delimited_bytes(&bytes, b);
            }),
            Err(e) => {
                if e.code != RpcErrorCode::Application {
                    out.log.push(format!(
                        "{}: call {}.{}: {}: {}",
                        self.peer, rh.declaring_class_protocol_name, rh.method_name, e.class, e.message
                    ));
                }
                response.status = RpcStatusProto::Error as i32;
                response.exception_class_name = Some(e.class);
                response.error_msg = Some(e.message);
                response.error_detail = Some(error_code(e.code) as i32);
                push_frame(&mut out.send, |b| proto::write_delimited(&response, b));
            }
        }
        Ok(())
    }

    fn out_of_band(&mut self, call_id: i32, payload: &[u8], service: &dyn RpcService, out: &mut Output) -> Result<(), Fatal> {
        match call_id {
            CONNECTION_CONTEXT_CALL_ID => {
                let who = match &self.phase {
                    Phase::AwaitContext(who) => who.clone(),
                    Phase::Ready { .. } => {
                        return Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, "Connection context already processed"))
                    }
                    _ => {
                        return Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, "Connection header sent during SASL negotiation"))
                    }
                };
                self.context(who, payload, service)
            }
            SASL_CALL_ID => self.sasl(payload, service, out),
            PING_CALL_ID => Ok(()),
            _ => Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, format!("Unknown out of band call #{call_id}"))),
        }
    }

    fn context(&mut self, who: Authenticated, payload: &[u8], service: &dyn RpcService) -> Result<(), Fatal> {
        let mut rest = payload;
        let cx: IpcConnectionContextProto = proto::read_delimited(&mut rest).map_err(|e| {
            Fatal::rpc(RpcErrorCodeProto::FatalDeserializingRequest, format!("Error decoding IpcConnectionContextProto: {e}"))
        })?;
        let info = cx.user_info.unwrap_or_default();
        let claimed = info.effective_user.filter(|u| !u.is_empty());
        let user = match (who.auth, &who.token_user) {
            (AuthMethod::Token, Some(token_user)) => {
                // A token may not be used on someone else's behalf.
                if let Some(c) = &claimed {
                    if c != token_user {
                        return Err(Fatal::new(
                            RpcErrorCodeProto::FatalUnauthorized,
                            ACCESS_CONTROL_EXCEPTION,
                            format!("Authenticated user ({token_user}) doesn't match what the client claims to be ({c})"),
                        ));
                    }
                }
                token_user.clone()
            }
            _ => {
                let Some(c) = claimed else {
                    return Err(Fatal::new(
                        RpcErrorCodeProto::FatalUnauthorized,
                        ACCESS_CONTROL_EXCEPTION,
                        "The connection context names no user",
                    ));
                };
                // No proxy users are configured (hadoop.proxyuser.*): impersonation is refused.
                if let Some(real) = info.real_user.filter(|r| !r.is_empty() && *r != c) {
                    return Err(Fatal::new(
                        RpcErrorCodeProto::FatalUnauthorized,
                        AUTHORIZATION_EXCEPTION,
                        format!("User: {real} is not allowed to impersonate {c}"),
                    ));
                }
                c
            }
        };
        let protocol = cx.protocol.unwrap_or_default();
        // An unknown protocol fails each call (ERROR, as Java's dispatch does); a refused
        // authentication method fails the connection.
        let protocol_refused = match service.accepts(&protocol, who.auth) {
            Ok(()) => None,
            Err(e) if e.code == RpcErrorCode::NoSuchProtocol => Some(e),
            Err(e) => {
                return Err(Fatal::new(RpcErrorCodeProto::FatalUnauthorized, &e.class, e.message));
            }
        };
        self.phase = Phase::Ready { who, protocol, user, protocol_refused };
        Ok(())
    }

    fn sasl(&mut self, payload: &[u8], service: &dyn RpcService, out: &mut Output) -> Result<(), Fatal> {
        match &self.phase {
            Phase::AwaitContext(who) | Phase::Ready { who, .. } => {
                let msg = if who.sasl { "SASL negotiation is already complete" } else { "SASL protocol not requested by client" };
                return Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, msg));
            }
            // Packets are read only after the preamble and before closing; answer anyway.
            Phase::Preamble | Phase::Closed => {
                return Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, "SASL before the connection header"))
            }
            Phase::SaslNegotiate | Phase::SaslInitiate { .. } | Phase::SaslResponse { .. } => {}
        }
        let mut rest = payload;
        let msg: RpcSaslProto = proto::read_delimited(&mut rest)
            .map_err(|e| Fatal::rpc(RpcErrorCodeProto::FatalDeserializingRequest, format!("Error decoding RpcSaslProto: {e}")))?;
        let state = SaslState::try_from(msg.state).ok();
        let phase = std::mem::replace(&mut self.phase, Phase::Closed);
        match (phase, state) {
            (Phase::SaslNegotiate, Some(SaslState::Negotiate)) => {
                let offered = service.auth_methods();
                if !offered.contains(&AuthMethod::Token) {
                    // A SIMPLE-only server answers SUCCESS: the client carries on with SIMPLE.
                    if !offered.contains(&AuthMethod::Simple) {
                        return Err(Fatal::sasl_reply(ACCESS_CONTROL_EXCEPTION, "Server is not configured to do any authentication"));
                    }
                    self.send_sasl(out, SaslState::Success, None, Vec::new());
                    self.phase = Phase::AwaitContext(Authenticated {
                        auth: AuthMethod::Simple,
                        sasl: true,
                        token_identifier: None,
                        token_user: None,
                    });
                    return Ok(());
                }
                // TOKEN first, carrying the pre-computed challenge.
                let digest = DigestServer::new(&self.nonce_random);
                let mut auths = vec![token_auth(Some(digest.challenge()))];
                if offered.contains(&AuthMethod::Simple) {
                    auths.push(simple_auth());
                }
                self.send_sasl(out, SaslState::Negotiate, None, auths);
                self.phase = Phase::SaslInitiate { offered, digest: Some(digest) };
                Ok(())
            }
            (Phase::SaslInitiate { .. } | Phase::SaslResponse { .. }, Some(SaslState::Negotiate)) => {
                Err(Fatal::sasl_reply(ACCESS_CONTROL_EXCEPTION, "Client already attempted negotiation"))
            }
            (Phase::SaslInitiate { offered, digest }, Some(SaslState::Initiate)) => {
                if msg.auths.len() != 1 {
                    return Err(Fatal::sasl_reply(crate::sasl::SASL_EXCEPTION, "Client mechanism is malformed"));
                }
                let chosen = &msg.auths[0];
                let method = offered.iter().copied().find(|m| m.name() == chosen.method && mechanism(*m) == chosen.mechanism);
                match method {
                    None => Err(Fatal::sasl_reply(
                        ACCESS_CONTROL_EXCEPTION,
                        &format!("{} authentication is not enabled.  Available:{}", chosen.method, method_list(&offered)),
                    )),
                    Some(AuthMethod::Simple) => {
                        // The client switches to SIMPLE without waiting for a reply.
                        self.phase = Phase::AwaitContext(Authenticated {
                            auth: AuthMethod::Simple,
                            sasl: true,
                            token_identifier: None,
                            token_user: None,
                        });
                        Ok(())
                    }
                    Some(AuthMethod::Token) => {
                        let digest = digest.unwrap_or_else(|| DigestServer::new(&self.nonce_random));
                        let Some(token) = msg.token else {
                            return Err(Fatal::sasl_reply(crate::sasl::SASL_EXCEPTION, "Client did not send a token"));
                        };
                        if token.is_empty() {
                            // The client did not see our challenge: send it as CHALLENGE.
                            self.send_sasl(out, SaslState::Challenge, Some(digest.challenge()), Vec::new());
                            self.phase = Phase::SaslResponse { digest };
                            return Ok(());
                        }
                        self.digest_response(&digest, &token, service, out)
                    }
                }
            }
            (Phase::SaslResponse { digest }, Some(SaslState::Response)) => {
                let Some(token) = msg.token else {
                    return Err(Fatal::sasl_reply(crate::sasl::SASL_EXCEPTION, "Client did not send a token"));
                };
                self.digest_response(&digest, &token, service, out)
            }
            (_, _) => Err(Fatal::sasl_reply(
                crate::sasl::SASL_EXCEPTION,
                &format!("Client sent unsupported state {}", sasl_state_name(msg.state)),
            )),
        }
    }

    fn digest_response(&mut self, digest: &DigestServer, token: &[u8], service: &dyn RpcService, out: &mut Output) -> Result<(), Fatal> {
        match digest.evaluate(token, |id| service.token_password(id)) {
            Ok(ok) => {
                let user = service.token_user(&ok.identifier).unwrap_or_else(|| crate::sasl::encode_identifier(&ok.identifier));
                self.send_sasl(out, SaslState::Success, Some(ok.rspauth), Vec::new());
                self.phase = Phase::AwaitContext(Authenticated {
                    auth: AuthMethod::Token,
                    sasl: true,
                    token_identifier: Some(ok.identifier),
                    token_user: Some(user),
                });
                Ok(())
            }
            Err(f @ (SaslFailure::InvalidToken(_) | SaslFailure::Sasl(_))) => Err(Fatal::sasl_reply(f.class(), f.message())),
        }
    }

    fn send_sasl(&self, out: &mut Output, state: SaslState, token: Option<Vec<u8>>, auths: Vec<SaslAuth>) {
        let header = RpcResponseHeaderProto {
            call_id: SASL_CALL_ID as u32,
            status: RpcStatusProto::Success as i32,
            server_ipc_version_num: Some(u32::from(IPC_VERSION)),
            client_id: Some(Vec::new()),
            retry_count: Some(INVALID_RETRY_COUNT),
            ..Default::default()
        };
        let msg = RpcSaslProto { version: None, state: state as i32, token, auths };
        push_frame(&mut out.send, |b| {
            proto::write_delimited(&header, b);
            proto::write_delimited(&msg, b);
        });
    }
}

/// `checkRpcHeaders` and the rpc-kind check of `processRpcRequest`.
fn check_rpc_header(h: &RpcRequestHeaderProto) -> Result<(), Fatal> {
    let invalid = |m: String| Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, m));
    let Some(op) = h.rpc_op else {
        return invalid(" IPC Server: No rpc op in rpcRequestHeader".to_string());
    };
    if op != proto::OperationProto::RpcFinalPacket as i32 {
        let name = proto::OperationProto::try_from(op).map(|o| o.as_str_name().to_string()).unwrap_or(op.to_string());
        return invalid(format!("IPC Server does not implement rpc header operation{name}"));
    }
    let Some(kind) = h.rpc_kind else {
        return invalid(" IPC Server: No rpc kind in rpcRequestHeader".to_string());
    };
    if kind != RpcKindProto::RpcProtocolBuffer as i32 {
        let name = RpcKindProto::try_from(kind).map(|k| k.as_str_name().to_string()).unwrap_or(kind.to_string());
        return invalid(format!("Unknown rpc kind in rpc header{name}"));
    }
    if h.call_id.is_none() {
        return Err(Fatal::rpc(
            RpcErrorCodeProto::FatalDeserializingRequest,
            "Error decoding RpcRequestHeaderProto: Message missing required fields: callId",
        ));
    }
    Ok(())
}

fn error_code(code: RpcErrorCode) -> RpcErrorCodeProto {
    match code {
        RpcErrorCode::Application => RpcErrorCodeProto::ErrorApplication,
        RpcErrorCode::NoSuchMethod => RpcErrorCodeProto::ErrorNoSuchMethod,
        RpcErrorCode::NoSuchProtocol => RpcErrorCodeProto::ErrorNoSuchProtocol,
        RpcErrorCode::RpcServer => RpcErrorCodeProto::ErrorRpcServer,
    }
}

fn sasl_state_name(state: i32) -> String {
    SaslState::try_from(state).map(|s| s.as_str_name().to_string()).unwrap_or_else(|_| state.to_string())
}

/// `AuthMethod.getMechanismName()`.
pub fn mechanism(m: AuthMethod) -> &'static str {
    match m {
        AuthMethod::Simple => "",
        AuthMethod::Token => "DIGEST-MD5",
    }
}

/// Java's `List<AuthMethod>.toString()`: `[TOKEN, SIMPLE]`.
fn method_list(methods: &[AuthMethod]) -> String {
    format!("[{}]", methods.iter().map(|m| m.name()).collect::<Vec<_>>().join(", "))
}

/// TOKEN as the server offers it: protocol `""`, serverId `default`.
pub fn token_auth(challenge: Option<Vec<u8>>) -> SaslAuth {
    SaslAuth {
        method: AuthMethod::Token.name().to_string(),
        mechanism: mechanism(AuthMethod::Token).to_string(),
        protocol: Some(String::new()),
        server_id: Some(DEFAULT_REALM.to_string()),
        challenge,
    }
}

/// SIMPLE as offered and chosen.
pub fn simple_auth() -> SaslAuth {
    SaslAuth { method: AuthMethod::Simple.name().to_string(), mechanism: String::new(), protocol: None, server_id: None, challenge: None }
}

/// Appends one frame: a 4-byte big-endian length, then what `body` writes.
pub fn push_frame(out: &mut Vec<u8>, body: impl FnOnce(&mut Vec<u8>)) {
    let at = out.len();
    out.extend_from_slice(&[0; 4]);
    body(out);
    let len = (out.len() - at - 4) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Appends raw message bytes as a delimited record.
pub fn write_delimited_bytes(bytes: &[u8], out: &mut Vec<u8>) {
    prost::encoding::encode_varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}
