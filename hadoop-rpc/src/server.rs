//! The tokio side of a Hadoop IPC port: runs a [`ServerConnection`] over a TCP stream.
//!
//! This is the IO side by design (sockets, a task per connection, OS randomness for nonces);
//! the protocol itself stays in the sans-IO `connection`.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub use crate::connection::PREAMBLE_MAGIC;
use crate::connection::{ConnectionConfig, ServerConnection};
use crate::service::RpcService;

/// Refusal lines logged per connection at most (a client looping on bad frames cannot flood
/// the log).
const MAX_LOG_LINES_PER_CONNECTION: usize = 8;

/// OS randomness for nonces and client ids (IO side only: the protocol core takes bytes).
pub fn os_random<const N: usize>() -> [u8; N] {
    use std::io::Read;
    let mut b = [0u8; N];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        if f.read_exact(&mut b).is_ok() {
            return b;
        }
    }
    // No /dev/urandom: std's per-process random hash keys, stirred with a counter.
    use std::hash::{BuildHasher, Hasher};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let state = std::collections::hash_map::RandomState::new();
    for (i, chunk) in b.chunks_mut(8).enumerate() {
        let mut h = state.build_hasher();
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        h.write_usize(i);
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    b
}

/// Serves one accepted connection until the client leaves or the connection fails.
pub async fn serve_connection(stream: TcpStream, service: Arc<dyn RpcService>, peer: String) {
    serve_connection_with(stream, service, peer, ConnectionConfig::default(), Vec::new()).await
}

/// [`serve_connection`] with a configuration and the bytes a caller already read off the
/// stream (e.g. a port that sniffed `hrpc` before handing the connection over).
pub async fn serve_connection_with(
    mut stream: TcpStream,
    service: Arc<dyn RpcService>,
    peer: String,
    config: ConnectionConfig,
    already_read: Vec<u8>,
) {
    let _ = stream.set_nodelay(true);
    let mut conn = ServerConnection::new(peer, config, os_random());
    let mut logged = 0usize;
    let mut pending = already_read;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let data: &[u8] = if !pending.is_empty() {
            &pending
        } else {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => &buf[..n],
            }
        };
        let out = conn.feed(data, &*service);
        pending.clear();
        for line in out.log {
            if logged < MAX_LOG_LINES_PER_CONNECTION {
                eprintln!("hadoop-rpc: {line}");
            }
            logged += 1;
        }
        if !out.send.is_empty() && stream.write_all(&out.send).await.is_err() {
            break;
        }
        if out.close {
            let _ = stream.flush().await;
            let _ = stream.shutdown().await;
            break;
        }
    }
}

/// Accepts connections forever, each on its own task.
pub async fn serve(listener: TcpListener, service: Arc<dyn RpcService>) {
    serve_with(listener, service, ConnectionConfig::default()).await
}

/// [`serve`] with a configuration.
pub async fn serve_with(listener: TcpListener, service: Arc<dyn RpcService>, config: ConnectionConfig) {
    loop {
        match listener.accept().await {
            Ok((stream, addr)) => {
                tokio::spawn(serve_connection_with(stream, service.clone(), addr.to_string(), config.clone(), Vec::new()));
            }
            Err(e) => {
                // Out of descriptors and the like: back off instead of spinning.
                eprintln!("hadoop-rpc: accept failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}
