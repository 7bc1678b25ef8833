//! The tokio server and client over real sockets on 127.0.0.1: SIMPLE and TOKEN calls, a bad
//! token, an unknown method, an oversize frame, HTTP on the IPC port.
// Tests own their sockets and tasks.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::Arc;
use std::time::Duration;

use hadoop_rpc::client::{decode_response, CallError, ClientAuth, ClientError, ClientHandshake, FrameReader, RpcClient};
use hadoop_rpc::connection::HADOOP_MAX_DATA_LENGTH;
use hadoop_rpc::proto::{RpcStatusProto, UserInformationProto};
use hadoop_rpc::server::{serve, PREAMBLE_MAGIC};
use hadoop_rpc::service::{AuthMethod, CallContext, RpcError, RpcService};
use hadoop_rpc::token::{password, Token};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const KEY: &[u8] = b"test-master-key";
const ECHO: &str = "test.EchoProtocolPB";

struct Echo {
    methods: Vec<AuthMethod>,
}

impl RpcService for Echo {
    fn auth_methods(&self) -> Vec<AuthMethod> {
        self.methods.clone()
    }
    fn accepts(&self, protocol: &str, _auth: AuthMethod) -> Result<(), RpcError> {
        if protocol == ECHO {
            Ok(())
        } else {
            Err(RpcError::no_such_protocol(protocol))
        }
    }
    fn token_password(&self, identifier: &[u8]) -> Result<Vec<u8>, String> {
        if identifier.starts_with(b"appattempt_") {
            Ok(password(KEY, identifier))
        } else {
            Err("Given NMToken for application : x seems to have been generated illegally.".to_string())
        }
    }
    fn token_user(&self, identifier: &[u8]) -> Option<String> {
        Some(String::from_utf8_lossy(identifier).into_owned())
    }
    fn call(&self, cx: &CallContext, request: &[u8]) -> Result<Vec<u8>, RpcError> {
        match cx.method.as_str() {
            "echo" => Ok(request.to_vec()),
            "whoami" => Ok(cx.user.clone().into_bytes()),
            m => Err(RpcError::no_such_method(m, &cx.protocol)),
        }
    }
}

async fn start(methods: Vec<AuthMethod>) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(serve(listener, Arc::new(Echo { methods })));
    (addr, task)
}

fn token(identifier: &str, key: &[u8]) -> Token {
    Token::mint(key, identifier.as_bytes().to_vec(), "NMToken", "")
}

/// Reads until the server closes, returning everything it sent.
async fn read_to_close(s: &mut TcpStream) -> Vec<u8> {
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all)).await.expect("the server closes").unwrap();
    all
}

/// A hang guard, not a timing assertion.
async fn guarded<F: std::future::Future<Output = ()>>(f: F) {
    tokio::time::timeout(Duration::from_secs(30), f).await.expect("test hung");
}

#[tokio::test]
async fn simple_and_token_clients_call_through_the_server() {
    guarded(async {
        let (addr, task) = start(vec![AuthMethod::Token, AuthMethod::Simple]).await;
        let mut simple = RpcClient::connect(&addr, ECHO, ClientAuth::Simple { user: "alice".into() }).await.unwrap();
        assert_eq!(simple.call("echo", b"hello").await.unwrap(), b"hello");
        assert_eq!(simple.call("whoami", b"").await.unwrap(), b"alice");
        let req = UserInformationProto { effective_user: Some("x".into()), real_user: Some("y".into()) };
        let back: UserInformationProto = simple.call_msg("echo", &req).await.unwrap();
        assert_eq!(back, req);
        simple.ping().await.unwrap();
        assert_eq!(simple.call("echo", b"after ping").await.unwrap(), b"after ping");

        let t = token("appattempt_1700000000000_0007_000001", KEY);
        let mut am = RpcClient::connect(&addr, ECHO, ClientAuth::Token(t)).await.unwrap();
        assert_eq!(am.call("whoami", b"").await.unwrap(), b"appattempt_1700000000000_0007_000001");
        task.abort();
    })
    .await
}

#[tokio::test]
async fn an_unknown_method_is_a_remote_error_and_the_connection_lives_on() {
    guarded(async {
        let (addr, task) = start(vec![AuthMethod::Simple]).await;
        let mut c = RpcClient::connect(&addr, ECHO, ClientAuth::Simple { user: "alice".into() }).await.unwrap();
        assert_eq!(
            c.call("getNewReservation", b"").await.unwrap_err(),
            CallError::Remote {
                class: "org.apache.hadoop.ipc.RpcNoSuchMethodException".into(),
                message: format!("Unknown method getNewReservation called on {ECHO} protocol."),
            }
        );
        assert_eq!(c.call("echo", b"still here").await.unwrap(), b"still here");
        task.abort();
    })
    .await
}

#[tokio::test]
async fn a_bad_token_fails_sasl_and_the_server_closes() {
    guarded(async {
        let (addr, task) = start(vec![AuthMethod::Token]).await;
        // Through the client: the FATAL comes back as the connect error.
        let forged = token("appattempt_1700000000000_0007_000001", b"not-the-key");
        match RpcClient::connect(&addr, ECHO, ClientAuth::Token(forged)).await {
            Err(ClientError::Fatal { class, .. }) => assert_eq!(class, "javax.security.sasl.SaslException"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("a forged token was accepted"),
        }
        // By hand, to see the close: an unknown identifier is InvalidToken, then EOF.
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let bad = token("container_1", KEY);
        let (mut hs, first) = ClientHandshake::start(ECHO, &ClientAuth::Token(bad), [1; 16], [2; 30]);
        s.write_all(&first).await.unwrap();
        let mut r = FrameReader::new(HADOOP_MAX_DATA_LENGTH);
        let frame = loop {
            let mut b = [0u8; 4096];
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0);
            r.push(&b[..n]);
            if let Some(f) = r.next_frame().unwrap() {
                break f;
            }
        };
        let step = hs.on_frame(&frame).unwrap();
        s.write_all(&step.send).await.unwrap();
        let rest = read_to_close(&mut s).await;
        r.push(&rest);
        let fatal = decode_response(&r.next_frame().unwrap().unwrap()).unwrap();
        assert_eq!(fatal.status(), Some(RpcStatusProto::Fatal));
        assert_eq!(fatal.call_id, -1);
        assert_eq!(fatal.header.exception_class_name.as_deref(), Some("org.apache.hadoop.security.token.SecretManager$InvalidToken"));
        assert!(r.next_frame().unwrap().is_none(), "nothing after the FATAL");
        task.abort();
    })
    .await
}

#[tokio::test]
async fn simple_is_refused_where_only_token_is_enabled() {
    guarded(async {
        let (addr, task) = start(vec![AuthMethod::Token]).await;
        let mut c = RpcClient::connect(&addr, ECHO, ClientAuth::Simple { user: "alice".into() }).await.unwrap();
        match c.call("echo", b"x").await.unwrap_err() {
            CallError::Fatal { class, message } => {
                assert_eq!(class, "org.apache.hadoop.security.AccessControlException");
                assert!(message.ends_with("SIMPLE authentication is not enabled.  Available:[TOKEN]"));
            }
            e => panic!("{e}"),
        }
        assert!(matches!(c.call("echo", b"x").await, Err(CallError::Transport(_))));
        task.abort();
    })
    .await
}

#[tokio::test]
async fn an_oversize_frame_is_refused_and_the_server_keeps_serving() {
    guarded(async {
        let (addr, task) = start(vec![AuthMethod::Simple]).await;
        let mut s = TcpStream::connect(&addr).await.unwrap();
        let mut b = PREAMBLE_MAGIC.to_vec();
        b.extend_from_slice(&[9, 0, 0]);
        b.extend_from_slice(&0x7fff_fff0u32.to_be_bytes());
        s.write_all(&b).await.unwrap();
        let sent = read_to_close(&mut s).await;
        let mut r = FrameReader::new(HADOOP_MAX_DATA_LENGTH);
        r.push(&sent);
        let fatal = decode_response(&r.next_frame().unwrap().unwrap()).unwrap();
        assert_eq!(fatal.header.exception_class_name.as_deref(), Some("java.io.IOException"));
        let msg = fatal.header.error_msg.unwrap();
        assert!(msg.starts_with("Requested data length 2147483632 is longer than maximum configured RPC length"), "{msg}");

        let mut c = RpcClient::connect(&addr, ECHO, ClientAuth::Simple { user: "bob".into() }).await.unwrap();
        assert_eq!(c.call("whoami", b"").await.unwrap(), b"bob");
        task.abort();
    })
    .await
}

#[tokio::test]
async fn http_on_the_ipc_port_gets_a_404() {
    guarded(async {
        let (addr, task) = start(vec![AuthMethod::Simple]).await;
        let mut s = TcpStream::connect(&addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
        let sent = read_to_close(&mut s).await;
        assert!(String::from_utf8(sent).unwrap().starts_with("HTTP/1.1 404 Not Found\r\n"));
        task.abort();
    })
    .await
}

#[tokio::test]
async fn a_call_without_an_answer_times_out_and_closes_the_client() {
    guarded(async {
        // A peer that accepts and reads but never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let mute = tokio::spawn(async move {
            let (mut s, _) = listener.accept().await.unwrap();
            let mut sink = Vec::new();
            let _ = s.read_to_end(&mut sink).await;
        });
        let mut c = RpcClient::connect(&addr, ECHO, ClientAuth::Simple { user: "alice".into() }).await.unwrap();
        c.set_call_timeout(Some(Duration::from_millis(100)));
        match c.call("echo", b"x").await.unwrap_err() {
            CallError::Transport(m) => assert!(m.contains("timed out"), "{m}"),
            e => panic!("{e}"),
        }
        assert_eq!(c.call("echo", b"x").await.unwrap_err(), CallError::Transport("the connection is closed".into()));
        mute.abort();
    })
    .await
}
