//! Size limits on what a public HTTP surface reads, before any handler runs.
//!
//! A request whose path and query string are longer than `max_uri` bytes, or whose body is
//! longer than `max_body` bytes, is answered by the surface's own `refuse` renderer (YARN's
//! `RemoteException`, Flink's `{"errors":[...]}`) instead of axum's plain-text rejections, and
//! no handler sees it. The body is read at most to the limit: a client announcing or streaming
//! a gigabyte costs the server one limit's worth of memory. (Depth limits belong to the
//! parsers: serde_json stops at 128 levels, the XML reader at its own bound.)

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;

/// What a request exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exceeded {
    /// The body is longer than `max` bytes.
    Body { max: usize },
    /// The path and query are `len` bytes, more than `max`.
    Uri { len: usize, max: usize },
}

impl Exceeded {
    /// 413 for a body, 414 for a URI, as Jetty and Netty answer them.
    pub fn status(&self) -> StatusCode {
        match self {
            Exceeded::Body { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Exceeded::Uri { .. } => StatusCode::URI_TOO_LONG,
        }
    }

    pub fn message(&self) -> String {
        match self {
            Exceeded::Body { max } => format!("Request entity too large: the body is larger than the limit of {max} bytes"),
            Exceeded::Uri { len, max } => format!("Request URI too long: {len} bytes, the limit is {max} bytes"),
        }
    }
}

/// A surface's limits and how it words a refusal.
#[derive(Clone, Copy)]
pub struct HttpLimits {
    pub max_body: usize,
    pub max_uri: usize,
    /// Renders the refusal in the surface's own format (the request's headers pick e.g. XML).
    pub refuse: fn(&HeaderMap, Exceeded) -> Response,
}

/// Bodies of YARN's and Flink's REST requests are a few kilobytes; 1 MiB leaves room.
pub const DEFAULT_MAX_BODY: usize = 1 << 20;
/// Jetty's default request-header buffer is 8 KiB; the URI is part of it.
pub const DEFAULT_MAX_URI: usize = 8 << 10;

impl HttpLimits {
    pub fn new(refuse: fn(&HeaderMap, Exceeded) -> Response) -> HttpLimits {
        HttpLimits { max_body: DEFAULT_MAX_BODY, max_uri: DEFAULT_MAX_URI, refuse }
    }

    /// `router` with the limits in front of every route it has now (and its fallback).
    pub fn apply(self, router: Router) -> Router {
        router.layer(axum::middleware::from_fn_with_state(self, enforce))
    }
}

async fn enforce(State(l): State<HttpLimits>, req: Request, next: Next) -> Response {
    let uri_len = req.uri().path_and_query().map(|p| p.as_str().len()).unwrap_or(0);
    if uri_len > l.max_uri {
        return (l.refuse)(req.headers(), Exceeded::Uri { len: uri_len, max: l.max_uri });
    }
    let announced = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > l.max_body as u64) {
        return (l.refuse)(req.headers(), Exceeded::Body { max: l.max_body });
    }
    let (parts, body) = req.into_parts();
    // Chunked bodies announce nothing: read up to the limit and stop there.
    match axum::body::to_bytes(body, l.max_body).await {
        Ok(bytes) => next.run(Request::from_parts(parts, Body::from(bytes))).await,
        Err(_) => (l.refuse)(&parts.headers, Exceeded::Body { max: l.max_body }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;
    use axum::routing::post;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn refuse(_: &HeaderMap, e: Exceeded) -> Response {
        (e.status(), format!("refused: {}", e.message())).into_response()
    }

    /// Serves the limited echo route; returns its address.
    async fn server() -> std::net::SocketAddr {
        let r = Router::new().route("/echo", post(|b: axum::body::Bytes| async move { format!("got {}", b.len()) }));
        let app = HttpLimits { max_body: 100, max_uri: 50, refuse }.apply(r);
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(l, app).await });
        a
    }

    async fn raw(addr: std::net::SocketAddr, req: &[u8]) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(req).await.unwrap();
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        String::from_utf8_lossy(&out).into_owned()
    }

    fn post_with(path: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!("POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
        r.extend_from_slice(body);
        r
    }

    #[tokio::test]
    async fn bodies_and_uris_over_the_limit_are_refused_by_the_surface() {
        let a = server().await;
        let r = raw(a, &post_with("/echo", &[b'x'; 100])).await;
        assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("got 100"), "{r}");
        let r = raw(a, &post_with("/echo", &[b'x'; 101])).await;
        assert!(r.starts_with("HTTP/1.1 413") && r.contains("refused: Request entity too large"), "{r}");
        // Chunked, announcing no length: cut at the limit all the same.
        let chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n".to_vec();
        let mut req = chunked;
        req.extend_from_slice(&[b'x'; 60]);
        req.extend_from_slice(b"\r\n3c\r\n");
        req.extend_from_slice(&[b'x'; 60]);
        req.extend_from_slice(b"\r\n0\r\n\r\n");
        let r = raw(a, &req).await;
        assert!(r.starts_with("HTTP/1.1 413"), "{r}");
        let r = raw(a, &post_with(&format!("/echo?q={}", "a".repeat(60)), b"")).await;
        assert!(r.starts_with("HTTP/1.1 414") && r.contains("Request URI too long: 68 bytes"), "{r}");
    }
}
