//! What a Hadoop IPC port serves: the contract between the IPC layer (framing, SASL,
//! connection context) and the protocols behind it.

/// How a connection authenticated (`SaslRpcServer.AuthMethod`).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum AuthMethod {
    /// No SASL, or SASL that settled on SIMPLE: the user is whoever the context claims.
    Simple,
    /// SASL DIGEST-MD5 with a token the service's secret manager knows.
    Token,
}

impl AuthMethod {
    /// The method name as SaslAuth carries it.
    pub fn name(self) -> &'static str {
        match self {
            AuthMethod::Simple => "SIMPLE",
            AuthMethod::Token => "TOKEN",
        }
    }
}

/// `RpcErrorCodeProto`: why a call failed (ERROR_*: the connection stays open).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RpcErrorCode {
    /// The service threw (YarnException and friends).
    Application = 1,
    NoSuchMethod = 2,
    NoSuchProtocol = 3,
    RpcServer = 4,
}

/// A failed call as the Java client rethrows it: `RemoteException(class, message)`, unwrapped
/// by YARN's RPCUtil into an instance of `class`.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RpcError {
    /// The Java class name, `$` for nested classes (e.g. `org.apache.hadoop.yarn.exceptions.ApplicationNotFoundException`).
    pub class: String,
    pub message: String,
    pub code: RpcErrorCode,
}

impl RpcError {
    /// A service-level failure (`ERROR_APPLICATION`).
    pub fn application(class: &str, message: impl Into<String>) -> RpcError {
        RpcError { class: class.to_string(), message: message.into(), code: RpcErrorCode::Application }
    }
    /// `RpcNoSuchProtocolException` "Unknown protocol: X".
    pub fn no_such_protocol(protocol: &str) -> RpcError {
        RpcError {
            class: "org.apache.hadoop.ipc.RpcNoSuchProtocolException".to_string(),
            message: format!("Unknown protocol: {protocol}"),
            code: RpcErrorCode::NoSuchProtocol,
        }
    }
    /// `RpcNoSuchMethodException` "Unknown method M called on P protocol."
    pub fn no_such_method(method: &str, protocol: &str) -> RpcError {
        RpcError {
            class: "org.apache.hadoop.ipc.RpcNoSuchMethodException".to_string(),
            message: format!("Unknown method {method} called on {protocol} protocol."),
            code: RpcErrorCode::NoSuchMethod,
        }
    }
    /// A request body that does not parse as the method's message.
    pub fn malformed(method: &str, why: impl std::fmt::Display) -> RpcError {
        RpcError {
            class: "org.apache.hadoop.ipc.RpcServerException".to_string(),
            message: format!("Could not decode the request of {method}: {why}"),
            code: RpcErrorCode::RpcServer,
        }
    }
}

/// Who is calling what, once the connection is set up.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct CallContext {
    /// The protocol the connection context named (e.g. `org.apache.hadoop.yarn.api.ApplicationMasterProtocolPB`).
    pub protocol: String,
    /// `RequestHeaderProto.methodName` (e.g. `allocate`).
    pub method: String,
    pub auth: AuthMethod,
    /// SIMPLE: the context's effective user. TOKEN: the token identifier's user
    /// (`appattempt_…` for AMRM and NM tokens).
    pub user: String,
    /// TOKEN: the raw identifier bytes the client authenticated with.
    pub token_identifier: Option<Vec<u8>>,
    /// The client's address (`ip:port`).
    pub peer: String,
}

/// A port's protocols. Calls may block briefly (they lock a node); they run on the tokio
/// runtime of the server.
pub trait RpcService: Send + Sync + 'static {
    /// What SASL offers, in order (the RM: `[Token, Simple]`; an NM: `[Token]`). A client that
    /// sends no SASL preamble is SIMPLE and is refused when `Simple` is not listed.
    fn auth_methods(&self) -> Vec<AuthMethod>;

    /// The protocols a connection context may name; others are refused at the context.
    /// `auth` is checked per protocol: e.g. ApplicationMasterProtocolPB accepts only `Token`.
    fn accepts(&self, protocol: &str, auth: AuthMethod) -> Result<(), RpcError>;

    /// `SecretManager.retrievePassword`: the password of a token identifier (raw bytes), or
    /// why it is not valid (→ `SecretManager$InvalidToken`, SASL fails, the connection closes).
    fn token_password(&self, identifier: &[u8]) -> Result<Vec<u8>, String>;

    /// `TokenIdentifier.getUser()` of a token that passed [`RpcService::token_password`]:
    /// the connection's user under TOKEN (`appattempt_…` for AMRM and NM tokens). `None`
    /// (the default) makes it the identifier's Base64 text, SASL's authorization id.
    fn token_user(&self, identifier: &[u8]) -> Option<String> {
        let _ = identifier;
        None
    }

    /// One call: `request` is the request message's bytes (not length-delimited); the answer
    /// is the response message's bytes.
    fn call(&self, cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, RpcError>;
}
