//! A Hadoop IPC client as the Java `ipc.Client` behaves (for Rust tests and a Rust AM): the
//! sans-IO handshake ([`ClientHandshake`]: preamble, SASL TOKEN/DIGEST-MD5, connection
//! context), call framing and response decoding, and [`RpcClient`] over a tokio TCP stream.

use std::sync::atomic::{AtomicU32, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, ToSocketAddrs};

use crate::connection::{
    push_frame, write_delimited_bytes, AUTH_PROTOCOL_NONE, AUTH_PROTOCOL_SASL, CONNECTION_CONTEXT_CALL_ID, HADOOP_MAX_DATA_LENGTH,
    INVALID_RETRY_COUNT, IPC_VERSION, PREAMBLE_MAGIC, SASL_CALL_ID,
};
use crate::proto::{
    self, IpcConnectionContextProto, OperationProto, RequestHeaderProto, RpcKindProto, RpcRequestHeaderProto, RpcResponseHeaderProto,
    RpcSaslProto, RpcStatusProto, SaslState, UserInformationProto,
};
use crate::sasl::{DigestClient, NONCE_BYTES};
use crate::token::Token;

/// How the client authenticates.
#[derive(Clone, Debug)]
pub enum ClientAuth {
    /// No SASL (preamble auth byte NONE); the context names `user` (YarnClient without tokens).
    Simple { user: String },
    /// SASL TOKEN with DIGEST-MD5 (an AM with its AMRM token, NMClient with an NM token).
    Token(Token),
}

/// Why a connection could not be set up.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientError {
    /// The server refused (FATAL reply; it closed the connection).
    Fatal { class: String, message: String },
    /// The SASL exchange failed on our side (bad challenge, wrong rspauth).
    Sasl(String),
    /// I/O failure or a reply that is not Hadoop IPC.
    Transport(String),
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientError::Fatal { class, message } => write!(f, "{class}: {message}"),
            ClientError::Sasl(m) => write!(f, "SASL: {m}"),
            ClientError::Transport(m) => write!(f, "transport: {m}"),
        }
    }
}

impl std::error::Error for ClientError {}

/// Why a call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The service threw (`RemoteException(class, message)`); the connection stays usable.
    Remote { class: String, message: String },
    /// The server failed the connection (FATAL); it is closed.
    Fatal { class: String, message: String },
    /// I/O failure, a closed connection, or a reply that is not Hadoop IPC.
    Transport(String),
    /// The response does not decode as the expected message.
    Decode(String),
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallError::Remote { class, message } => write!(f, "{class}: {message}"),
            CallError::Fatal { class, message } => write!(f, "fatal: {class}: {message}"),
            CallError::Transport(m) => write!(f, "transport: {m}"),
            CallError::Decode(m) => write!(f, "decode: {m}"),
        }
    }
}

impl std::error::Error for CallError {}

/// The request header the Java client writes.
fn request_header(call_id: i32, client_id: &[u8], retry: i32) -> RpcRequestHeaderProto {
    RpcRequestHeaderProto {
        rpc_kind: Some(RpcKindProto::RpcProtocolBuffer as i32),
        rpc_op: Some(OperationProto::RpcFinalPacket as i32),
        call_id: Some(call_id),
        client_id: Some(client_id.to_vec()),
        retry_count: Some(retry),
    }
}

/// The 7-byte connection preamble.
pub fn preamble(sasl: bool) -> [u8; 7] {
    let m = PREAMBLE_MAGIC;
    [m[0], m[1], m[2], m[3], IPC_VERSION, 0, if sasl { AUTH_PROTOCOL_SASL } else { AUTH_PROTOCOL_NONE }]
}

/// Appends a SASL packet (call id −33, empty client id, retry −1).
pub fn push_sasl(out: &mut Vec<u8>, msg: &RpcSaslProto) {
    let header = request_header(SASL_CALL_ID, &[], INVALID_RETRY_COUNT);
    push_frame(out, |b| {
        proto::write_delimited(&header, b);
        proto::write_delimited(msg, b);
    });
}

/// Appends the connection context (call id −3). `user`: SIMPLE's effective user; TOKEN
/// sends an empty `userInfo`.
pub fn push_context(out: &mut Vec<u8>, client_id: &[u8], protocol: &str, user: Option<&str>) {
    let header = request_header(CONNECTION_CONTEXT_CALL_ID, client_id, INVALID_RETRY_COUNT);
    let cx = IpcConnectionContextProto {
        user_info: Some(UserInformationProto { effective_user: user.map(str::to_string), real_user: None }),
        protocol: Some(protocol.to_string()),
    };
    push_frame(out, |b| {
        proto::write_delimited(&header, b);
        proto::write_delimited(&cx, b);
    });
}

/// Appends one call: header, `RequestHeaderProto`, the delimited request (retry count 0).
pub fn push_call(out: &mut Vec<u8>, call_id: i32, client_id: &[u8], protocol: &str, method: &str, request: &[u8]) {
    let header = request_header(call_id, client_id, 0);
    let rh = RequestHeaderProto {
        method_name: method.to_string(),
        declaring_class_protocol_name: protocol.to_string(),
        client_protocol_version: 1,
    };
    push_frame(out, |b| {
        proto::write_delimited(&header, b);
        proto::write_delimited(&rh, b);
        write_delimited_bytes(request, b);
    });
}

/// A decoded response frame.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub call_id: i32,
    pub header: RpcResponseHeaderProto,
    /// SUCCESS: the response message's bytes (SASL: the RpcSaslProto's bytes).
    pub body: Vec<u8>,
}

impl Response {
    pub fn status(&self) -> Option<RpcStatusProto> {
        RpcStatusProto::try_from(self.header.status).ok()
    }
    fn class_and_message(&self) -> (String, String) {
        (self.header.exception_class_name.clone().unwrap_or_default(), self.header.error_msg.clone().unwrap_or_default())
    }
}

/// Decodes one response frame's payload: the delimited header and, on SUCCESS, the
/// delimited message ("RPC response length mismatch" when anything else is left).
pub fn decode_response(payload: &[u8]) -> Result<Response, String> {
    let mut rest = payload;
    let header: RpcResponseHeaderProto = proto::read_delimited(&mut rest).map_err(|e| format!("bad RpcResponseHeaderProto: {e}"))?;
    let body = if header.status == RpcStatusProto::Success as i32 {
        proto::read_delimited_bytes(&mut rest).map_err(|e| format!("bad response message: {e}"))?.to_vec()
    } else {
        Vec::new()
    };
    if !rest.is_empty() {
        return Err("RPC response length mismatch".to_string());
    }
    Ok(Response { call_id: header.call_id as i32, header, body })
}

/// Splits a byte stream into frames, refusing lengths ≤ 0 or above the maximum
/// (`ipc.maximum.response.length`), as the Java client does.
#[derive(Debug)]
pub struct FrameReader {
    buf: Vec<u8>,
    max: u32,
}

impl FrameReader {
    pub fn new(max: u32) -> FrameReader {
        FrameReader { buf: Vec::new(), max }
    }
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }
    /// The next complete frame's payload, `Ok(None)` when more bytes are needed.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, String> {
        if self.buf.len() < 4 {
            return Ok(None);
        }
        let len = i32::from_be_bytes(self.buf[..4].try_into().expect("4 bytes"));
        check_response_length(len, self.max)?;
        let len = len as usize;
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let frame = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(frame))
    }
}

fn check_response_length(len: i32, max: u32) -> Result<(), String> {
    if len <= 0 || len as u32 > max {
        // What a Java client says to an HTTP server (the "1213486160").
        return Err(format!("RPC response has a length of {len} exceeds maximum data length"));
    }
    Ok(())
}

/// Where the handshake stands.
#[derive(Clone, Debug)]
enum HandshakeState {
    /// Sent NEGOTIATE; waiting for the server's.
    Negotiating,
    /// Sent INITIATE/RESPONSE with our digest; waiting for SUCCESS (or CHALLENGE).
    Responded { digest: Option<DigestClient> },
    /// The context is out; calls may follow.
    Done,
}

/// The client side of connection setup, sans-IO: [`ClientHandshake::start`] gives the first
/// bytes; each server frame goes to [`ClientHandshake::on_frame`] until it reports done.
#[derive(Clone, Debug)]
pub struct ClientHandshake {
    protocol: String,
    client_id: [u8; 16],
    token: Option<Token>,
    cnonce_random: [u8; NONCE_BYTES],
    state: HandshakeState,
}

/// What one server frame made the handshake do.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HandshakeStep {
    /// Bytes for the server.
    pub send: Vec<u8>,
    /// The connection is set up: calls may be sent.
    pub done: bool,
}

impl ClientHandshake {
    /// Starts a handshake; returns it and the bytes to send first. SIMPLE is done at once
    /// (preamble + context in one burst, as the Java client sends them).
    pub fn start(protocol: &str, auth: &ClientAuth, client_id: [u8; 16], cnonce_random: [u8; NONCE_BYTES]) -> (ClientHandshake, Vec<u8>) {
        let mut out = Vec::new();
        let (token, state) = match auth {
            ClientAuth::Simple { user } => {
                out.extend_from_slice(&preamble(false));
                push_context(&mut out, &client_id, protocol, Some(user));
                (None, HandshakeState::Done)
            }
            ClientAuth::Token(t) => {
                out.extend_from_slice(&preamble(true));
                push_sasl(&mut out, &RpcSaslProto { version: None, state: SaslState::Negotiate as i32, token: None, auths: vec![] });
                (Some(t.clone()), HandshakeState::Negotiating)
            }
        };
        let hs = ClientHandshake { protocol: protocol.to_string(), client_id, token, cnonce_random, state };
        (hs, out)
    }

    pub fn is_done(&self) -> bool {
        matches!(self.state, HandshakeState::Done)
    }

    /// One frame from the server during setup.
    pub fn on_frame(&mut self, payload: &[u8]) -> Result<HandshakeStep, ClientError> {
        let resp = decode_response(payload).map_err(ClientError::Transport)?;
        if resp.status() != Some(RpcStatusProto::Success) {
            let (class, message) = resp.class_and_message();
            return Err(ClientError::Fatal { class, message });
        }
        if resp.call_id != SASL_CALL_ID {
            return Err(ClientError::Transport(format!("unexpected call id {} during SASL", resp.call_id)));
        }
        let sasl: RpcSaslProto =
            prost::Message::decode(resp.body.as_slice()).map_err(|e| ClientError::Transport(format!("bad RpcSaslProto: {e}")))?;
        let token = self.token.clone().ok_or_else(|| ClientError::Sasl("no token".into()))?;
        let state = SaslState::try_from(sasl.state).ok();
        let mut step = HandshakeStep::default();
        match (&self.state, state) {
            (HandshakeState::Negotiating, Some(SaslState::Negotiate)) => {
                let Some(auth) = sasl.auths.iter().find(|a| a.method == "TOKEN" && a.mechanism == "DIGEST-MD5") else {
                    let offered: Vec<&str> = sasl.auths.iter().map(|a| a.method.as_str()).collect();
                    return Err(ClientError::Sasl(format!("Client cannot authenticate via:[TOKEN]; server offers {offered:?}")));
                };
                let mut chosen = auth.clone();
                chosen.challenge = None;
                let (digest, response) = match &auth.challenge {
                    Some(ch) => {
                        let (d, r) =
                            DigestClient::respond(ch, &token, &self.cnonce_random).map_err(|e| ClientError::Sasl(e.to_string()))?;
                        (Some(d), r)
                    }
                    // No pre-computed challenge: INITIATE with an empty token, a CHALLENGE follows.
                    None => (None, Vec::new()),
                };
                push_sasl(
                    &mut step.send,
                    &RpcSaslProto { version: None, state: SaslState::Initiate as i32, token: Some(response), auths: vec![chosen] },
                );
                self.state = HandshakeState::Responded { digest };
            }
            (HandshakeState::Responded { digest: None }, Some(SaslState::Challenge)) => {
                let ch = sasl.token.unwrap_or_default();
                let (d, r) = DigestClient::respond(&ch, &token, &self.cnonce_random).map_err(|e| ClientError::Sasl(e.to_string()))?;
                push_sasl(
                    &mut step.send,
                    &RpcSaslProto { version: None, state: SaslState::Response as i32, token: Some(r), auths: vec![] },
                );
                self.state = HandshakeState::Responded { digest: Some(d) };
            }
            (HandshakeState::Responded { digest: Some(d) }, Some(SaslState::Success)) => {
                d.verify_rspauth(&sasl.token.unwrap_or_default()).map_err(|e| ClientError::Sasl(e.to_string()))?;
                push_context(&mut step.send, &self.client_id, &self.protocol, None);
                self.state = HandshakeState::Done;
                step.done = true;
            }
            (HandshakeState::Negotiating, Some(SaslState::Success)) => {
                return Err(ClientError::Sasl("the server offers only SIMPLE; a token-authenticated client needs TOKEN".into()));
            }
            (_, _) => {
                return Err(ClientError::Sasl(format!("unexpected SASL state {} in the exchange", sasl.state)));
            }
        }
        Ok(step)
    }
}

/// The JVM-wide call id counter (`Client.callIdCounter`): shared by all connections of the
/// process, masked to non-negative.
static CALL_IDS: AtomicU32 = AtomicU32::new(0);

fn next_call_id() -> i32 {
    (CALL_IDS.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff) as i32
}

/// A Hadoop IPC connection to one protocol, one call at a time.
pub struct RpcClient {
    stream: TcpStream,
    reader: FrameReader,
    protocol: String,
    client_id: [u8; 16],
    closed: bool,
    /// `ipc.client.rpc-timeout.ms`: how long a call waits for its response (None: forever).
    call_timeout: Option<std::time::Duration>,
}

fn transport(e: std::io::Error) -> ClientError {
    ClientError::Transport(e.to_string())
}

impl RpcClient {
    /// Connects, sends the preamble, runs SASL for a token, and sends the connection context.
    pub async fn connect(addr: impl ToSocketAddrs, protocol: &str, auth: ClientAuth) -> Result<RpcClient, ClientError> {
        let stream = TcpStream::connect(addr).await.map_err(transport)?;
        stream.set_nodelay(true).map_err(transport)?;
        let client_id = crate::server::os_random::<16>();
        let (mut hs, first) = ClientHandshake::start(protocol, &auth, client_id, crate::server::os_random());
        let mut client = RpcClient {
            stream,
            reader: FrameReader::new(HADOOP_MAX_DATA_LENGTH),
            protocol: protocol.to_string(),
            client_id,
            closed: false,
            call_timeout: None,
        };
        client.stream.write_all(&first).await.map_err(transport)?;
        while !hs.is_done() {
            let frame = client.read_frame().await.map_err(ClientError::Transport)?;
            let step = hs.on_frame(&frame)?;
            client.stream.write_all(&step.send).await.map_err(transport)?;
        }
        Ok(client)
    }

    /// Sets how long a call waits for its response; a call that runs out closes the
    /// connection (its response could still arrive and would be mistaken for the next one's).
    pub fn set_call_timeout(&mut self, timeout: Option<std::time::Duration>) {
        self.call_timeout = timeout;
    }

    async fn read_frame(&mut self) -> Result<Vec<u8>, String> {
        let mut chunk = [0u8; 8192];
        loop {
            if let Some(f) = self.reader.next_frame()? {
                return Ok(f);
            }
            let n = self.stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
            if n == 0 {
                return Err("connection closed by the server".to_string());
            }
            self.reader.push(&chunk[..n]);
        }
    }

    /// One call: `request` is the request message's bytes; the answer the response's.
    pub async fn call(&mut self, method: &str, request: &[u8]) -> Result<Vec<u8>, CallError> {
        if self.closed {
            return Err(CallError::Transport("the connection is closed".into()));
        }
        let call_id = next_call_id();
        let mut out = Vec::new();
        push_call(&mut out, call_id, &self.client_id, &self.protocol, method, request);
        if let Err(e) = self.stream.write_all(&out).await {
            self.closed = true;
            return Err(CallError::Transport(e.to_string()));
        }
        let read = match self.call_timeout {
            Some(t) => tokio::time::timeout(t, self.read_frame())
                .await
                .unwrap_or_else(|_| Err(format!("Call {method} timed out after {} ms", t.as_millis()))),
            None => self.read_frame().await,
        };
        let frame = match read {
            Ok(f) => f,
            Err(e) => {
                self.closed = true;
                return Err(CallError::Transport(e));
            }
        };
        let resp = decode_response(&frame).map_err(|e| {
            self.closed = true;
            CallError::Transport(e)
        })?;
        let (class, message) = resp.class_and_message();
        match resp.status() {
            Some(RpcStatusProto::Fatal) => {
                self.closed = true;
                Err(CallError::Fatal { class, message })
            }
            _ if resp.call_id != call_id => {
                self.closed = true;
                Err(CallError::Transport(format!("response to call {} while waiting for {call_id}", resp.call_id)))
            }
            Some(RpcStatusProto::Success) => Ok(resp.body),
            Some(RpcStatusProto::Error) => Err(CallError::Remote { class, message }),
            None => {
                self.closed = true;
                Err(CallError::Transport(format!("unknown response status {}", resp.header.status)))
            }
        }
    }

    /// [`RpcClient::call`] with typed messages.
    pub async fn call_msg<Req: prost::Message, Resp: prost::Message + Default>(
        &mut self,
        method: &str,
        request: &Req,
    ) -> Result<Resp, CallError> {
        let bytes = self.call(method, &request.encode_to_vec()).await?;
        Resp::decode(bytes.as_slice()).map_err(|e| CallError::Decode(e.to_string()))
    }

    /// Sends a ping (call id −4), as the Java client does on a read timeout.
    pub async fn ping(&mut self) -> Result<(), CallError> {
        let header = request_header(crate::connection::PING_CALL_ID, &self.client_id, INVALID_RETRY_COUNT);
        let mut out = Vec::new();
        push_frame(&mut out, |b| proto::write_delimited(&header, b));
        self.stream.write_all(&out).await.map_err(|e| CallError::Transport(e.to_string()))
    }
}
