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
    /// `doSaslReply`: always at call id −1, whatever packet caused it.
    auth_failed_call: bool,
}

impl Fatal {
    fn new(code: RpcErrorCodeProto, class: &str, message: impl Into<String>) -> Fatal {
        Fatal {
            call_id: AUTHORIZATION_FAILED_CALL_ID,
            retry: INVALID_RETRY_COUNT,
            code,
            class: class.to_string(),
            message: message.into(),
            auth_failed_call: false,
        }
    }
    /// `FatalRpcServerException(code, message)`: reported as the RpcServerException it wraps.
    fn rpc(code: RpcErrorCodeProto, message: impl Into<String>) -> Fatal {
        Fatal::new(code, RPC_SERVER_EXCEPTION, message)
    }
    /// `doSaslReply(e)`: FATAL_UNAUTHORIZED at call id −1 with the exception's `toString()`.
    fn sasl_reply(class: &str, message: &str) -> Fatal {
        let mut f = Fatal::new(RpcErrorCodeProto::FatalUnauthorized, class, format!("{class}: {message}"));
        f.auth_failed_call = true;
        f
    }
    fn at(mut self, call_id: i32, retry: i32) -> Fatal {
        if !self.auth_failed_call {
            self.call_id = call_id;
            self.retry = retry;
        }
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
        check_required(&header)?;
        let call_id = header.call_id.unwrap_or(AUTHORIZATION_FAILED_CALL_ID);
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
                // A client that settled on SIMPLE is a NONE connection to Java.
                if who.auth == AuthMethod::Token {
                    return Err(Fatal::new(
                        RpcErrorCodeProto::FatalInvalidRpcHeader,
                        crate::sasl::SASL_EXCEPTION,
                        "Negotiation is already complete",
                    ));
                }
                return Err(Fatal::rpc(RpcErrorCodeProto::FatalInvalidRpcHeader, "SASL protocol not requested by client"));
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
        if state == Some(SaslState::Wrap) {
            // qop is auth only: nothing is ever wrapped.
            return Err(Fatal::new(RpcErrorCodeProto::FatalInvalidRpcHeader, crate::sasl::SASL_EXCEPTION, "Server is not wrapping data"));
        }
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
    Ok(())
}

/// Java's parser refuses a header without its required fields before anything else looks at
/// it, so the refusal goes to call id −1.
fn check_required(h: &RpcRequestHeaderProto) -> Result<(), Fatal> {
    let missing: Vec<&str> =
        [("callId", h.call_id.is_none()), ("clientId", h.client_id.is_none())].iter().filter(|m| m.1).map(|m| m.0).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(Fatal::rpc(
        RpcErrorCodeProto::FatalDeserializingRequest,
        format!("Error decoding RpcRequestHeaderProto: Message missing required fields: {}", missing.join(", ")),
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::{
        decode_response, preamble, push_call, push_context, push_sasl, ClientAuth, ClientHandshake, FrameReader, Response,
    };
    use crate::token::Token;
    use proptest::prelude::*;
    use prost::Message;
    use std::sync::Mutex;

    const KEY: &[u8] = b"cluster-master-key";
    const ECHO: &str = "test.EchoProtocolPB";
    const TOKEN_ONLY: &str = "test.TokenOnlyProtocolPB";
    const ACP: &str = "org.apache.hadoop.yarn.api.ApplicationClientProtocolPB";

    /// A tiny service: `echo` returns the request, `whoami` the caller, `fail` a YARN error.
    struct Echo {
        methods: Vec<AuthMethod>,
        seen: Mutex<Vec<(CallContext, Vec<u8>)>>,
    }

    impl Echo {
        fn new(methods: Vec<AuthMethod>) -> Echo {
            Echo { methods, seen: Mutex::new(Vec::new()) }
        }
    }

    impl RpcService for Echo {
        fn auth_methods(&self) -> Vec<AuthMethod> {
            self.methods.clone()
        }
        fn accepts(&self, protocol: &str, auth: AuthMethod) -> Result<(), RpcError> {
            match protocol {
                ECHO | ACP => Ok(()),
                TOKEN_ONLY if auth == AuthMethod::Token => Ok(()),
                TOKEN_ONLY => Err(RpcError {
                    class: AUTHORIZATION_EXCEPTION.to_string(),
                    message: format!("Protocol {TOKEN_ONLY} needs TOKEN"),
                    code: RpcErrorCode::RpcServer,
                }),
                other => Err(RpcError::no_such_protocol(other)),
            }
        }
        fn token_password(&self, identifier: &[u8]) -> Result<Vec<u8>, String> {
            if identifier.starts_with(b"good") {
                Ok(crate::token::password(KEY, identifier))
            } else {
                Err(format!("Token {} is expired", String::from_utf8_lossy(identifier)))
            }
        }
        fn token_user(&self, identifier: &[u8]) -> Option<String> {
            Some(String::from_utf8_lossy(identifier).into_owned())
        }
        fn call(&self, cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, RpcError> {
            self.seen.lock().unwrap().push((cx.clone(), request.to_vec()));
            match cx.method.as_str() {
                "echo" | "getNewApplication" => Ok(request.to_vec()),
                "whoami" => Ok(cx.user.clone().into_bytes()),
                "panic" => panic!("the service panicked"),
                "fail" => Err(RpcError::application("org.apache.hadoop.yarn.exceptions.YarnException", "boom")),
                m => Err(RpcError::no_such_method(m, &cx.protocol)),
            }
        }
    }

    fn conn() -> ServerConnection {
        ServerConnection::new("127.0.0.1:5555", ConnectionConfig::default(), [7; NONCE_BYTES])
    }

    fn responses(bytes: &[u8]) -> Vec<Response> {
        let mut r = FrameReader::new(HADOOP_MAX_DATA_LENGTH);
        r.push(bytes);
        let mut out = Vec::new();
        while let Some(f) = r.next_frame().unwrap() {
            out.push(decode_response(&f).unwrap());
        }
        out
    }

    fn fatal_of(out: &Output) -> (i32, String, String, Option<i32>) {
        assert!(out.close, "a FATAL closes");
        let rs = responses(&out.send);
        let r = rs.last().expect("a FATAL reply");
        assert_eq!(r.header.status, RpcStatusProto::Fatal as i32);
        (r.call_id, r.header.exception_class_name.clone().unwrap(), r.header.error_msg.clone().unwrap(), r.header.error_detail)
    }

    fn simple_setup(protocol: &str) -> Vec<u8> {
        let mut b = preamble(false).to_vec();
        push_context(&mut b, &[1; 16], protocol, Some("alice"));
        b
    }

    const CLIENT_ID: [u8; 16] = [0x3c, 0x1f, 0x8a, 0x02, 0x77, 0x41, 0x4e, 0x9b, 0xa0, 0x11, 0x5d, 0xe3, 0x6f, 0x28, 0xc4, 0x90];

    /// Reference §1.4: a Hadoop 3.5.0 YarnClient's `createApplication()` stream, byte for byte.
    fn reference_get_new_application_stream() -> Vec<u8> {
        let mut s: Vec<u8> = vec![0x68, 0x72, 0x70, 0x63, 0x09, 0x00, 0x00];
        s.extend_from_slice(&[0x00, 0x00, 0x00, 0x5c, 0x1a, 0x08, 0x02, 0x10, 0x00, 0x18, 0x05, 0x22, 0x10]);
        s.extend_from_slice(&CLIENT_ID);
        s.extend_from_slice(&[0x28, 0x01]);
        s.extend_from_slice(&[0x40, 0x12, 0x06, 0x0a, 0x04]);
        s.extend_from_slice(b"root");
        s.extend_from_slice(&[0x1a, 0x36]);
        s.extend_from_slice(ACP.as_bytes());
        s.extend_from_slice(&[0x00, 0x00, 0x00, 0x6a, 0x1a, 0x08, 0x02, 0x10, 0x00, 0x18, 0x00, 0x22, 0x10]);
        s.extend_from_slice(&CLIENT_ID);
        s.extend_from_slice(&[0x28, 0x00]);
        s.extend_from_slice(&[0x4d, 0x0a, 0x11]);
        s.extend_from_slice(b"getNewApplication");
        s.extend_from_slice(&[0x12, 0x36]);
        s.extend_from_slice(ACP.as_bytes());
        s.extend_from_slice(&[0x18, 0x01]);
        s.push(0x00);
        s
    }

    #[test]
    fn reference_get_new_application_stream_is_parsed_exactly() {
        let stream = reference_get_new_application_stream();
        assert_eq!(stream.len(), 7 + 4 + 0x5c + 4 + 0x6a);
        let svc = Echo::new(vec![AuthMethod::Token, AuthMethod::Simple]);
        let mut c = conn();
        let out = c.feed(&stream, &svc);
        assert!(!out.close, "{:?}", out.log);
        let seen = svc.seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let (cx, req) = &seen[0];
        assert_eq!(cx.protocol, ACP);
        assert_eq!(cx.method, "getNewApplication");
        assert_eq!(cx.user, "root");
        assert_eq!(cx.auth, AuthMethod::Simple);
        assert_eq!(cx.token_identifier, None);
        assert_eq!(cx.peer, "127.0.0.1:5555");
        assert!(req.is_empty());
        assert_eq!(c.authenticated(), Some((AuthMethod::Simple, "root")));
        // SUCCESS for call 0: header {callId 0, SUCCESS, version 9, clientId echoed, retry 0} + `00`.
        let mut expected = vec![0x00, 0x00, 0x00, 0x1c, 0x1a, 0x08, 0x00, 0x10, 0x00, 0x18, 0x09, 0x3a, 0x10];
        expected.extend_from_slice(&CLIENT_ID);
        expected.extend_from_slice(&[0x40, 0x00, 0x00]);
        assert_eq!(out.send, expected);

        // Our client writes the very same bytes.
        let mut ours = preamble(false).to_vec();
        push_context(&mut ours, &CLIENT_ID, ACP, Some("root"));
        push_call(&mut ours, 0, &CLIENT_ID, ACP, "getNewApplication", &[]);
        assert_eq!(ours, stream);
    }

    #[test]
    fn byte_at_a_time_gives_the_same_answers() {
        let stream = reference_get_new_application_stream();
        let svc = Echo::new(vec![AuthMethod::Simple]);
        let mut c = conn();
        let mut all = Vec::new();
        for b in &stream {
            let out = c.feed(std::slice::from_ref(b), &svc);
            assert!(!out.close);
            all.extend(out.send);
        }
        assert_eq!(all, conn().feed(&stream, &Echo::new(vec![AuthMethod::Simple])).send);
        assert_eq!(c.buffered(), 0);
    }

    /// Drives a client handshake against a server connection in memory.
    fn handshake(svc: &Echo, protocol: &str, auth: ClientAuth) -> (ServerConnection, Result<(), crate::client::ClientError>, Vec<Vec<u8>>) {
        let mut server = conn();
        let (mut hs, mut to_server) = ClientHandshake::start(protocol, &auth, [9; 16], [3; NONCE_BYTES]);
        let mut replies = Vec::new();
        while !hs.is_done() {
            let out = server.feed(&to_server, svc);
            to_server.clear();
            let mut r = FrameReader::new(HADOOP_MAX_DATA_LENGTH);
            r.push(&out.send);
            let mut any = false;
            while let Some(f) = r.next_frame().unwrap() {
                any = true;
                replies.push(f.clone());
                match hs.on_frame(&f) {
                    Ok(step) => to_server.extend(step.send),
                    Err(e) => return (server, Err(e), replies),
                }
            }
            assert!(any || hs.is_done(), "the server must answer every SASL step");
        }
        let out = server.feed(&to_server, svc);
        assert!(out.send.is_empty() && !out.close, "{out:?}");
        (server, Ok(()), replies)
    }

    fn good_token() -> Token {
        Token::mint(KEY, b"good-appattempt_1700000000000_0007_000001".to_vec(), "YARN_AM_RM_TOKEN", "")
    }

    #[test]
    fn sasl_token_exchange_end_to_end() {
        let svc = Echo::new(vec![AuthMethod::Token, AuthMethod::Simple]);
        let (mut server, r, replies) = handshake(&svc, TOKEN_ONLY, ClientAuth::Token(good_token()));
        r.unwrap();
        // Step 2: NEGOTIATE with TOKEN first, carrying the challenge; SIMPLE after it.
        let neg = decode_response(&replies[0]).unwrap();
        assert_eq!(neg.call_id, SASL_CALL_ID);
        assert_eq!(neg.header.retry_count, Some(-1));
        let neg = RpcSaslProto::decode(neg.body.as_slice()).unwrap();
        assert_eq!(neg.state, SaslState::Negotiate as i32);
        assert_eq!(neg.auths.len(), 2);
        assert_eq!(neg.auths[0].method, "TOKEN");
        assert_eq!(neg.auths[0].mechanism, "DIGEST-MD5");
        assert_eq!(neg.auths[0].protocol.as_deref(), Some(""));
        assert_eq!(neg.auths[0].server_id.as_deref(), Some("default"));
        let challenge = String::from_utf8(neg.auths[0].challenge.clone().unwrap()).unwrap();
        assert!(challenge.ends_with("qop=\"auth\",charset=utf-8,algorithm=md5-sess"), "{challenge}");
        assert_eq!(neg.auths[1], simple_auth());
        // Step 4: SUCCESS with rspauth.
        let ok = RpcSaslProto::decode(decode_response(&replies[1]).unwrap().body.as_slice()).unwrap();
        assert_eq!(ok.state, SaslState::Success as i32);
        assert!(ok.token.unwrap().starts_with(b"rspauth="));
        // Calls run as the token's user.
        let mut b = Vec::new();
        push_call(&mut b, 5, &[9; 16], TOKEN_ONLY, "whoami", &[]);
        let out = server.feed(&b, &svc);
        let r = &responses(&out.send)[0];
        assert_eq!(r.status(), Some(RpcStatusProto::Success));
        assert_eq!(r.body, b"good-appattempt_1700000000000_0007_000001");
        {
            let seen = svc.seen.lock().unwrap();
            assert_eq!(seen[0].0.auth, AuthMethod::Token);
            assert_eq!(seen[0].0.token_identifier.as_deref(), Some(&good_token().identifier[..]));
        }
        // SASL again on an authenticated connection.
        let mut b = Vec::new();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Negotiate as i32, token: None, auths: vec![] });
        let (id, class, msg, _) = fatal_of(&server.feed(&b, &svc));
        assert_eq!((id, class.as_str(), msg.as_str()), (-33, "javax.security.sasl.SaslException", "Negotiation is already complete"));
    }

    #[test]
    fn wrap_is_refused() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let mut b = preamble(true).to_vec();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Wrap as i32, token: Some(vec![1]), auths: vec![] });
        assert_eq!(fatal_of(&conn().feed(&b, &svc)).2, "Server is not wrapping data");
    }

    #[test]
    fn a_token_only_server_offers_only_token() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let (_, r, replies) = handshake(&svc, ECHO, ClientAuth::Token(good_token()));
        r.unwrap();
        let neg = RpcSaslProto::decode(decode_response(&replies[0]).unwrap().body.as_slice()).unwrap();
        assert_eq!(neg.auths.len(), 1);
    }

    #[test]
    fn an_unknown_token_is_invalid_token_and_closes() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let bad = Token::mint(KEY, b"stale-attempt".to_vec(), "YARN_AM_RM_TOKEN", "");
        let (server, r, _) = handshake(&svc, ECHO, ClientAuth::Token(bad));
        assert_eq!(
            r.unwrap_err(),
            crate::client::ClientError::Fatal {
                class: "org.apache.hadoop.security.token.SecretManager$InvalidToken".into(),
                message: "org.apache.hadoop.security.token.SecretManager$InvalidToken: Token stale-attempt is expired".into()
            }
        );
        assert!(server.is_closed());
    }

    #[test]
    fn a_forged_password_is_a_sasl_exception() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let forged = Token::mint(b"another-key", good_token().identifier, "YARN_AM_RM_TOKEN", "");
        let (server, r, _) = handshake(&svc, ECHO, ClientAuth::Token(forged));
        match r.unwrap_err() {
            crate::client::ClientError::Fatal { class, message } => {
                assert_eq!(class, "javax.security.sasl.SaslException");
                assert!(message.ends_with("Mismatched response."), "{message}");
            }
            e => panic!("{e:?}"),
        }
        assert!(server.is_closed());
    }

    #[test]
    fn simple_on_a_token_only_server_is_refused() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let mut c = conn();
        let out = c.feed(&simple_setup(ECHO), &svc);
        let (id, class, msg, detail) = fatal_of(&out);
        assert_eq!(id, -1);
        assert_eq!(class, "org.apache.hadoop.security.AccessControlException");
        assert_eq!(msg, "org.apache.hadoop.security.AccessControlException: SIMPLE authentication is not enabled.  Available:[TOKEN]");
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalUnauthorized as i32));
        assert!(c.is_closed());
        assert_eq!(c.feed(b"more", &svc), Output::default());
    }

    #[test]
    fn sasl_client_choosing_simple_gets_no_reply_and_simple() {
        let svc = Echo::new(vec![AuthMethod::Token, AuthMethod::Simple]);
        let mut c = conn();
        let mut b = preamble(true).to_vec();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Negotiate as i32, token: None, auths: vec![] });
        let out = c.feed(&b, &svc);
        assert_eq!(responses(&out.send).len(), 1);
        let mut b = Vec::new();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Initiate as i32, token: None, auths: vec![simple_auth()] });
        push_context(&mut b, &[1; 16], ECHO, Some("bob"));
        push_call(&mut b, 1, &[1; 16], ECHO, "whoami", &[]);
        let out = c.feed(&b, &svc);
        let rs = responses(&out.send);
        assert_eq!(rs.len(), 1, "no reply to INITIATE SIMPLE");
        assert_eq!(rs[0].body, b"bob");
    }

    #[test]
    fn sasl_refusals() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let negotiate = || {
            let mut b = preamble(true).to_vec();
            push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Negotiate as i32, token: None, auths: vec![] });
            b
        };
        // SIMPLE chosen but not offered.
        let mut c = conn();
        c.feed(&negotiate(), &svc);
        let mut b = Vec::new();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Initiate as i32, token: None, auths: vec![simple_auth()] });
        let (id, class, msg, _) = fatal_of(&c.feed(&b, &svc));
        assert_eq!(id, -1, "doSaslReply answers at call id -1");
        assert_eq!(class, ACCESS_CONTROL_EXCEPTION);
        assert!(msg.ends_with("SIMPLE authentication is not enabled.  Available:[TOKEN]"), "{msg}");
        // Two auths.
        let mut c = conn();
        c.feed(&negotiate(), &svc);
        let mut b = Vec::new();
        push_sasl(
            &mut b,
            &RpcSaslProto {
                version: None,
                state: SaslState::Initiate as i32,
                token: None,
                auths: vec![token_auth(None), token_auth(None)],
            },
        );
        assert!(fatal_of(&c.feed(&b, &svc)).2.ends_with("Client mechanism is malformed"));
        // No token.
        let mut c = conn();
        c.feed(&negotiate(), &svc);
        let mut b = Vec::new();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Initiate as i32, token: None, auths: vec![token_auth(None)] });
        assert!(fatal_of(&c.feed(&b, &svc)).2.ends_with("Client did not send a token"));
        // Negotiating twice.
        let mut c = conn();
        c.feed(&negotiate(), &svc);
        let mut b = Vec::new();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Negotiate as i32, token: None, auths: vec![] });
        assert!(fatal_of(&c.feed(&b, &svc)).2.ends_with("Client already attempted negotiation"));
        // The context before SASL finished.
        let mut c = conn();
        c.feed(&negotiate(), &svc);
        let mut b = Vec::new();
        push_context(&mut b, &[1; 16], ECHO, None);
        let (id, class, msg, detail) = fatal_of(&c.feed(&b, &svc));
        assert_eq!((id, class.as_str(), msg.as_str()), (-3, RPC_SERVER_EXCEPTION, "Connection header sent during SASL negotiation"));
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalInvalidRpcHeader as i32));
    }

    #[test]
    fn a_client_without_the_challenge_gets_one() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let mut c = conn();
        let mut b = preamble(true).to_vec();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Negotiate as i32, token: None, auths: vec![] });
        c.feed(&b, &svc);
        let mut b = Vec::new();
        push_sasl(
            &mut b,
            &RpcSaslProto { version: None, state: SaslState::Initiate as i32, token: Some(vec![]), auths: vec![token_auth(None)] },
        );
        let rs = responses(&c.feed(&b, &svc).send);
        let ch = RpcSaslProto::decode(rs[0].body.as_slice()).unwrap();
        assert_eq!(ch.state, SaslState::Challenge as i32);
        let (_, resp) = crate::sasl::DigestClient::respond(&ch.token.unwrap(), &good_token(), &[1; NONCE_BYTES]).unwrap();
        let mut b = Vec::new();
        push_sasl(&mut b, &RpcSaslProto { version: None, state: SaslState::Response as i32, token: Some(resp), auths: vec![] });
        let rs = responses(&c.feed(&b, &svc).send);
        assert_eq!(RpcSaslProto::decode(rs[0].body.as_slice()).unwrap().state, SaslState::Success as i32);
    }

    #[test]
    fn a_token_user_may_not_claim_another_user() {
        let svc = Echo::new(vec![AuthMethod::Token]);
        let mut server = conn();
        let (mut hs, first) = ClientHandshake::start(ECHO, &ClientAuth::Token(good_token()), [9; 16], [3; NONCE_BYTES]);
        let out = server.feed(&first, &svc);
        let f = {
            let mut r = FrameReader::new(1 << 20);
            r.push(&out.send);
            r.next_frame().unwrap().unwrap()
        };
        let step = hs.on_frame(&f).unwrap();
        let out = server.feed(&step.send, &svc);
        let f = {
            let mut r = FrameReader::new(1 << 20);
            r.push(&out.send);
            r.next_frame().unwrap().unwrap()
        };
        assert!(hs.on_frame(&f).unwrap().done);
        // Instead of the empty context the client would send, claim to be "mallory".
        let mut b = Vec::new();
        push_context(&mut b, &[9; 16], ECHO, Some("mallory"));
        let (_, class, msg, _) = fatal_of(&server.feed(&b, &svc));
        assert_eq!(class, ACCESS_CONTROL_EXCEPTION);
        assert_eq!(
            msg,
            "Authenticated user (good-appattempt_1700000000000_0007_000001) doesn't match what the client claims to be (mallory)"
        );
    }

    #[test]
    fn http_on_the_ipc_port_gets_404() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        let mut c = conn();
        let out = c.feed(b"GET /ws/v1/cluster HTTP/1.1\r\n\r\n", &svc);
        assert!(out.close);
        assert!(out.send.starts_with(b"HTTP/1.1 404 Not Found\r\n"));
    }

    #[test]
    fn a_bad_version_is_a_version_mismatch() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        let (id, class, msg, detail) = fatal_of(&conn().feed(b"hrpc\x0a\x00\x00", &svc));
        assert_eq!(id, -1);
        assert_eq!(class, "org.apache.hadoop.ipc.RPC$VersionMismatch");
        assert_eq!(msg, "Server IPC version 9 cannot communicate with client version 10");
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalVersionMismatch as i32));
        assert!(fatal_of(&conn().feed(b"xrpc\x09\x00\x00", &svc)).1.ends_with("VersionMismatch"));
        assert!(fatal_of(&conn().feed(b"hrpc\x09\x00\x05", &svc)).2.contains("Unknown auth protocol:5"));
    }

    #[test]
    fn an_oversize_frame_is_refused_with_hadoop_message() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        let mut c = ServerConnection::new("10.0.0.1:1", ConnectionConfig { max_data_length: 1000 }, [0; NONCE_BYTES]);
        let mut b = simple_setup(ECHO);
        b.extend_from_slice(&1001u32.to_be_bytes());
        let (_, class, msg, _) = fatal_of(&c.feed(&b, &svc));
        assert_eq!(class, "java.io.IOException");
        assert_eq!(msg, "Requested data length 1001 is longer than maximum configured RPC length 1000.  RPC came from 10.0.0.1:1");
        let mut c = conn();
        let mut b = simple_setup(ECHO);
        b.extend_from_slice(&(-5i32).to_be_bytes());
        assert_eq!(fatal_of(&c.feed(&b, &svc)).2, "Unexpected data length -5!! from 127.0.0.1:5555");
    }

    #[test]
    fn context_and_out_of_band_rules() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        // A call before the context.
        let mut b = preamble(false).to_vec();
        push_call(&mut b, 3, &[1; 16], ECHO, "echo", b"x");
        let (id, _, msg, detail) = fatal_of(&conn().feed(&b, &svc));
        assert_eq!((id, msg.as_str()), (3, "Connection context not established"));
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalInvalidRpcHeader as i32));
        // The context twice.
        let mut b = simple_setup(ECHO);
        push_context(&mut b, &[1; 16], ECHO, Some("alice"));
        assert_eq!(fatal_of(&conn().feed(&b, &svc)).2, "Connection context already processed");
        // A ping is ignored; an unknown negative id is fatal.
        let mut c = conn();
        let mut b = simple_setup(ECHO);
        let ping = RpcRequestHeaderProto {
            rpc_kind: Some(2),
            rpc_op: Some(0),
            call_id: Some(PING_CALL_ID),
            client_id: Some(vec![]),
            retry_count: Some(-1),
        };
        push_frame(&mut b, |o| proto::write_delimited(&ping, o));
        let out = c.feed(&b, &svc);
        assert!(out.send.is_empty() && !out.close);
        let odd = RpcRequestHeaderProto { call_id: Some(-7), ..ping.clone() };
        let mut b = Vec::new();
        push_frame(&mut b, |o| proto::write_delimited(&odd, o));
        assert_eq!(fatal_of(&c.feed(&b, &svc)).2, "Unknown out of band call #-7");
        // SASL on a connection that did not ask for it.
        let mut c = conn();
        let mut b = simple_setup(ECHO);
        push_sasl(&mut b, &RpcSaslProto { version: None, state: 1, token: None, auths: vec![] });
        assert_eq!(fatal_of(&c.feed(&b, &svc)).2, "SASL protocol not requested by client");
        // No user in the context.
        let mut b = preamble(false).to_vec();
        push_context(&mut b, &[1; 16], ECHO, None);
        assert_eq!(fatal_of(&conn().feed(&b, &svc)).1, ACCESS_CONTROL_EXCEPTION);
    }

    #[test]
    fn errors_keep_the_connection_open() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        let mut c = conn();
        let mut b = simple_setup(ECHO);
        push_call(&mut b, 10, &[1; 16], ECHO, "nope", b"");
        push_call(&mut b, 11, &[1; 16], ECHO, "fail", b"");
        push_call(&mut b, 12, &[1; 16], ECHO, "panic", b"");
        push_call(&mut b, 13, &[1; 16], "test.Unknown", "echo", b"");
        push_call(&mut b, 14, &[1; 16], ECHO, "echo", b"hello");
        let out = c.feed(&b, &svc);
        assert!(!out.close);
        let rs = responses(&out.send);
        assert_eq!(rs.len(), 5);
        let err = |r: &Response| {
            (r.call_id, r.header.exception_class_name.clone().unwrap(), r.header.error_msg.clone().unwrap(), r.header.error_detail.unwrap())
        };
        assert_eq!(
            err(&rs[0]),
            (10, "org.apache.hadoop.ipc.RpcNoSuchMethodException".into(), format!("Unknown method nope called on {ECHO} protocol."), 2)
        );
        assert_eq!(err(&rs[1]), (11, "org.apache.hadoop.yarn.exceptions.YarnException".into(), "boom".into(), 1));
        assert_eq!(err(&rs[2]).3, 4);
        assert_eq!(
            err(&rs[3]),
            (13, "org.apache.hadoop.ipc.RpcNoSuchProtocolException".into(), "Unknown protocol: test.Unknown".into(), 3)
        );
        assert_eq!(rs[4].status(), Some(RpcStatusProto::Success));
        assert_eq!(rs[4].body, b"hello");
        assert_eq!(rs[4].header.client_id.as_deref(), Some(&[1u8; 16][..]));
        assert_eq!(rs[4].header.retry_count, Some(0));
        assert!(rs.iter().all(|r| r.header.server_ipc_version_num == Some(9)));
    }

    #[test]
    fn unknown_and_refused_protocols_at_the_context() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        // An unknown protocol: each call fails, as Java's dispatch does.
        let mut c = conn();
        let mut b = simple_setup("test.Unknown");
        push_call(&mut b, 1, &[1; 16], "test.Unknown", "echo", b"");
        let out = c.feed(&b, &svc);
        assert!(!out.close);
        assert_eq!(
            responses(&out.send)[0].header.exception_class_name.as_deref(),
            Some("org.apache.hadoop.ipc.RpcNoSuchProtocolException")
        );
        // A protocol that needs TOKEN, reached with SIMPLE: the connection is refused.
        let (_, class, _, detail) = fatal_of(&conn().feed(&simple_setup(TOKEN_ONLY), &svc));
        assert_eq!(class, AUTHORIZATION_EXCEPTION);
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalUnauthorized as i32));
        // ... and cannot be borrowed through another protocol's connection.
        let mut c = conn();
        let mut b = simple_setup(ECHO);
        push_call(&mut b, 2, &[1; 16], TOKEN_ONLY, "whoami", b"");
        let rs = responses(&c.feed(&b, &svc).send);
        assert_eq!(rs[0].status(), Some(RpcStatusProto::Error));
        assert!(svc.seen.lock().unwrap().is_empty());
    }

    #[test]
    fn malformed_packets_are_fatal() {
        let svc = Echo::new(vec![AuthMethod::Simple]);
        // Not a header.
        let mut b = simple_setup(ECHO);
        push_frame(&mut b, |o| o.extend_from_slice(&[0x05, 0xff, 0xff]));
        let (id, _, msg, detail) = fatal_of(&conn().feed(&b, &svc));
        assert_eq!(id, -1);
        assert!(msg.starts_with("Error decoding RpcRequestHeaderProto"), "{msg}");
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalDeserializingRequest as i32));
        // A header without rpcKind, or a writable call.
        for (kind, text) in
            [(None, " IPC Server: No rpc kind in rpcRequestHeader"), (Some(1), "Unknown rpc kind in rpc headerRPC_WRITABLE")]
        {
            let mut b = simple_setup(ECHO);
            let h =
                RpcRequestHeaderProto { rpc_kind: kind, rpc_op: Some(0), call_id: Some(4), client_id: Some(vec![]), retry_count: Some(0) };
            push_frame(&mut b, |o| proto::write_delimited(&h, o));
            let (id, _, msg, detail) = fatal_of(&conn().feed(&b, &svc));
            assert_eq!((id, msg.as_str()), (4, text));
            assert_eq!(detail, Some(RpcErrorCodeProto::FatalInvalidRpcHeader as i32));
        }
        // A header without its required call id and client id.
        let mut b = simple_setup(ECHO);
        let h = RpcRequestHeaderProto { rpc_kind: Some(2), rpc_op: Some(0), call_id: None, client_id: None, retry_count: Some(0) };
        push_frame(&mut b, |o| proto::write_delimited(&h, o));
        let (id, _, msg, _) = fatal_of(&conn().feed(&b, &svc));
        assert_eq!((id, msg.as_str()), (-1, "Error decoding RpcRequestHeaderProto: Message missing required fields: callId, clientId"));
        // A call whose request header is cut short.
        let mut b = simple_setup(ECHO);
        let h =
            RpcRequestHeaderProto { rpc_kind: Some(2), rpc_op: Some(0), call_id: Some(6), client_id: Some(vec![]), retry_count: Some(0) };
        push_frame(&mut b, |o| {
            proto::write_delimited(&h, o);
            o.extend_from_slice(&[0x20, 0x0a]);
        });
        let (id, _, msg, detail) = fatal_of(&conn().feed(&b, &svc));
        assert_eq!(id, 6);
        assert!(msg.starts_with("IPC server unable to read call parameters: "), "{msg}");
        assert_eq!(detail, Some(RpcErrorCodeProto::FatalDeserializingRequest as i32));
    }

    /// A valid session (SIMPLE and TOKEN) to mutate.
    fn valid_streams() -> Vec<Vec<u8>> {
        let mut simple = reference_get_new_application_stream();
        push_call(&mut simple, 1, &CLIENT_ID, ACP, "fail", b"abc");
        let (_, mut token) = ClientHandshake::start(ECHO, &ClientAuth::Token(good_token()), [9; 16], [3; NONCE_BYTES]);
        let mut server = conn();
        let svc = Echo::new(vec![AuthMethod::Token]);
        let out = server.feed(&token, &svc);
        let mut hs = ClientHandshake::start(ECHO, &ClientAuth::Token(good_token()), [9; 16], [3; NONCE_BYTES]).0;
        let f = {
            let mut r = FrameReader::new(1 << 20);
            r.push(&out.send);
            r.next_frame().unwrap().unwrap()
        };
        let step = hs.on_frame(&f).unwrap();
        token.extend_from_slice(&step.send);
        push_context(&mut token, &[9; 16], ECHO, None);
        push_call(&mut token, 2, &[9; 16], ECHO, "echo", b"payload");
        vec![simple, token]
    }

    const SMALL_MAX: u32 = 4096;

    fn run(stream: &[u8], cut: usize) {
        for methods in [vec![AuthMethod::Simple], vec![AuthMethod::Token, AuthMethod::Simple]] {
            let svc = Echo::new(methods);
            let mut c = ServerConnection::new("p", ConnectionConfig { max_data_length: SMALL_MAX }, [7; NONCE_BYTES]);
            for chunk in stream.chunks(cut.max(1)) {
                let _ = c.feed(chunk, &svc);
                // Only an unfinished frame stays buffered: never more than the limit allows.
                assert!(c.buffered() <= 4 + SMALL_MAX as usize, "{} buffered", c.buffered());
            }
        }
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), cut in 1usize..64, sasl in any::<bool>()) {
            let mut stream = preamble(sasl).to_vec();
            stream.extend_from_slice(&bytes);
            run(&stream, cut);
            run(&bytes, cut);
        }

        /// The exchange succeeds exactly when the client's password is the one the server
        /// derives from the identifier, whatever the identifier, key and randomness.
        #[test]
        fn token_exchange_succeeds_iff_the_password_matches(
            suffix in proptest::collection::vec(any::<u8>(), 0..80),
            client_key in proptest::collection::vec(any::<u8>(), 0..24),
            same_key in any::<bool>(),
            nonce in any::<[u8; 16]>(),
            cnonce in any::<[u8; 16]>(),
        ) {
            let mut identifier = b"good".to_vec();
            identifier.extend_from_slice(&suffix);
            let key: &[u8] = if same_key { KEY } else { &client_key };
            let token = Token::mint(key, identifier.clone(), "NMToken", "");
            let svc = Echo::new(vec![AuthMethod::Token]);
            let mut random = [0u8; NONCE_BYTES];
            random[..16].copy_from_slice(&nonce);
            let mut server = ServerConnection::new("p", ConnectionConfig::default(), random);
            let mut crandom = [0u8; NONCE_BYTES];
            crandom[..16].copy_from_slice(&cnonce);
            let (mut hs, mut to_server) = ClientHandshake::start(ECHO, &ClientAuth::Token(token), [9; 16], crandom);
            let mut result = Ok(());
            while !hs.is_done() && result.is_ok() {
                let out = server.feed(&to_server, &svc);
                to_server.clear();
                let mut r = FrameReader::new(HADOOP_MAX_DATA_LENGTH);
                r.push(&out.send);
                let f = r.next_frame().unwrap().expect("an answer");
                match hs.on_frame(&f) {
                    Ok(step) => to_server = step.send,
                    Err(e) => result = Err(e),
                }
            }
            let matches = crate::token::password(key, &identifier) == crate::token::password(KEY, &identifier);
            prop_assert_eq!(result.is_ok(), matches);
            prop_assert_eq!(server.is_closed(), !matches);
        }

        #[test]
        fn mutated_valid_streams_never_panic(
            which in 0usize..2,
            edits in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
            cut in 1usize..64,
        ) {
            let mut stream = valid_streams().swap_remove(which);
            for (at, byte, op) in edits {
                let i = at.index(stream.len().max(1));
                match op {
                    0 if i < stream.len() => stream[i] = byte,
                    1 => stream.insert(i.min(stream.len()), byte),
                    _ if i < stream.len() => { stream.remove(i); }
                    _ => {}
                }
            }
            run(&stream, cut);
        }
    }
}
