//! The RM's web application proxy (YARN's WebAppProxyServlet, run inside the RM as
//! `yarn.web-proxy.address` unset does): `/proxy/<appId>/<path>` forwards the request to the
//! running AM's tracking URL (loopback only) and rewrites what points back at the AM
//! (`Location` headers, absolute and root-relative links in HTML) to go through the proxy.
//! An application without a running AM (not registered yet, or finished, whose tracking URL
//! is then N/A) is redirected to the RM's application page, as YARN falls back to it; an
//! unknown application gets YARN's "could not be found" 404 page.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use engine::live::{wall_now, LiveNode};

use super::web::escape;
use crate::ids::ApplicationId;
use crate::records::YarnApplicationState;
use crate::rm::ResourceManager;

type Host = LiveNode<ResourceManager>;

/// Bodies larger than this are not relayed (the AM's pages and logs are far smaller).
const MAX_BODY: usize = 16 << 20;

/// YARN's proxy error page (its `notFound` / error HTML, in our own markup).
pub fn error_page(status: StatusCode, message: &str) -> Response {
    let html = format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{t}</title><link rel=\"icon\" href=\"data:,\"></head>\
         <body><h2>{t}</h2><p>{m}</p><p><a href=\"/cluster/apps\">Back to the applications</a></p></body></html>",
        t = match status {
            StatusCode::NOT_FOUND => "Not Found",
            StatusCode::BAD_GATEWAY => "Bad Gateway",
            _ => "Error",
        },
        m = escape(message)
    );
    (status, Html(html)).into_response()
}

/// `/proxy/<appId>` without the slash: the AM's pages link relatively, so the browser is sent
/// to `/proxy/<appId>/` first (keeping the query).
pub async fn proxy_bare(Path(id): Path<String>, q: RawQuery) -> Response {
    let Ok(app) = id.parse::<ApplicationId>() else {
        return error_page(StatusCode::NOT_FOUND, &format!("Invalid application id: {id}"));
    };
    let q = q.0.map(|q| format!("?{q}")).unwrap_or_default();
    Redirect::permanent(&format!("/proxy/{app}/{q}")).into_response()
}

pub async fn proxy_root(State(host): State<Host>, Path(id): Path<String>, m: Method, q: RawQuery, h: HeaderMap, b: Bytes) -> Response {
    forward(host, id, String::new(), m, q, h, b).await
}

pub async fn proxy_path(
    State(host): State<Host>,
    Path((id, rest)): Path<(String, String)>,
    m: Method,
    q: RawQuery,
    h: HeaderMap,
    b: Bytes,
) -> Response {
    forward(host, id, rest, m, q, h, b).await
}

/// `http://host:port` of a tracking URL whose host is loopback; None otherwise.
fn loopback_origin(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    let authority = rest.split('/').next()?;
    let host = match authority.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().is_ok() => h,
        _ => authority,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().map(|ip| ip.is_loopback()).unwrap_or(false);
    loopback.then(|| format!("http://{authority}"))
}

/// Rewrites what points at the AM to go through the proxy: its absolute origin and
/// root-relative `href`/`src`/`action` attributes.
pub fn rewrite_html(html: &str, am_origin: &str, prefix: &str) -> String {
    let mut out = html.replace(&format!("{am_origin}/"), prefix);
    for attr in ["href=\"/", "src=\"/", "action=\"/"] {
        let with = format!("{}{}", &attr[..attr.len() - 1], prefix);
        // Leave links that already go through the proxy as they are.
        let mut s = String::with_capacity(out.len());
        let mut rest = out.as_str();
        while let Some(i) = rest.find(attr) {
            s.push_str(&rest[..i]);
            let after = &rest[i + attr.len() - 1..];
            if after.starts_with(prefix) || after.starts_with("//") {
                s.push_str(attr);
            } else {
                s.push_str(&with);
            }
            rest = &rest[i + attr.len()..];
        }
        s.push_str(rest);
        out = s;
    }
    out
}

/// A `Location` from the AM, through the proxy.
pub fn rewrite_location(loc: &str, am_origin: &str, prefix: &str) -> String {
    if let Some(p) = loc.strip_prefix(am_origin) {
        format!("{prefix}{}", p.trim_start_matches('/'))
    } else if loc.starts_with('/') && !loc.starts_with("//") && !loc.starts_with(prefix) {
        format!("{prefix}{}", loc.trim_start_matches('/'))
    } else {
        loc.to_string()
    }
}

async fn forward(host: Host, id: String, rest: String, method: Method, q: RawQuery, headers: HeaderMap, body: Bytes) -> Response {
    let Ok(app) = id.parse::<ApplicationId>() else {
        return error_page(StatusCode::NOT_FOUND, &format!("Invalid application id: {id}"));
    };
    let Some((state, tracking)) = host.read(|rm| rm.app_report(&app, wall_now()).map(|r| (r.state, rm.am_tracking_url(&app)))) else {
        return error_page(StatusCode::NOT_FOUND, &format!("Application {id} could not be found in RM or history server"));
    };
    // Only a running AM is proxied; before it registers and after it finished the tracking
    // URL is N/A and YARN sends the browser to the RM's application page.
    let origin = match tracking.as_deref().filter(|_| state == YarnApplicationState::Running) {
        Some(url) => match loopback_origin(url) {
            Some(o) => o,
            None => {
                return error_page(StatusCode::BAD_GATEWAY, &format!("The tracking URL of {id} is not on this machine's loopback: {url}"))
            }
        },
        None => return Redirect::temporary(&format!("/cluster/app/{id}")).into_response(),
    };
    let prefix = format!("/proxy/{id}/");
    let mut url = format!("{origin}/{rest}");
    if let Some(q) = q.0 {
        url.push('?');
        url.push_str(&q);
    }
    // No redirects followed (a Location is rewritten and handed to the browser) and, as
    // YARN's proxy does, none of the user's cookies go to the AM.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .expect("reqwest builds");
    let Ok(m) = reqwest::Method::from_bytes(method.as_str().as_bytes()) else {
        return error_page(StatusCode::BAD_REQUEST, &format!("Unsupported method {method}"));
    };
    let mut req = client.request(m, &url);
    for name in [header::ACCEPT, header::CONTENT_TYPE, header::ACCEPT_LANGUAGE] {
        if let Some(v) = headers.get(&name).and_then(|v| v.to_str().ok()) {
            req = req.header(name.as_str(), v);
        }
    }
    let resp = match req.body(body.to_vec()).send().await {
        Ok(r) => r,
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &format!("Could not reach the application master of {id} at {origin}: {e}")),
    };
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap_or(StatusCode::BAD_GATEWAY);
    let content_type = resp.headers().get(reqwest::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(String::from);
    let location = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).map(String::from);
    if resp.content_length().is_some_and(|l| l as usize > MAX_BODY) {
        return error_page(StatusCode::BAD_GATEWAY, &format!("The response of {url} is larger than {MAX_BODY} bytes"));
    }
    let bytes = match resp.bytes().await {
        Ok(b) => b,
        Err(e) => return error_page(StatusCode::BAD_GATEWAY, &format!("Could not read the response of {url}: {e}")),
    };
    let html = content_type.as_deref().is_some_and(|c| c.starts_with("text/html"));
    let body: Vec<u8> = if html { rewrite_html(&String::from_utf8_lossy(&bytes), &origin, &prefix).into_bytes() } else { bytes.to_vec() };
    let mut out = (status, body).into_response();
    if let Some(ct) = content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        out.headers_mut().insert(header::CONTENT_TYPE, ct);
    }
    if let Some(loc) = location.map(|l| rewrite_location(&l, &origin, &prefix)).and_then(|l| HeaderValue::from_str(&l).ok()) {
        out.headers_mut().insert(header::LOCATION, loc);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_to_the_am_are_rewritten_through_the_proxy() {
        let p = "/proxy/application_1_0001/";
        let o = "http://127.0.0.1:4000";
        let html = r#"<a href="web/running">r</a><a href="/jobs">j</a><a href="http://127.0.0.1:4000/web/x">x</a><img src="/i.png"><a href="/proxy/application_1_0001/ok">ok</a><a href="//cdn/x">c</a>"#;
        let out = rewrite_html(html, o, p);
        assert_eq!(
            out,
            r#"<a href="web/running">r</a><a href="/proxy/application_1_0001/jobs">j</a><a href="/proxy/application_1_0001/web/x">x</a><img src="/proxy/application_1_0001/i.png"><a href="/proxy/application_1_0001/ok">ok</a><a href="//cdn/x">c</a>"#
        );
        assert_eq!(rewrite_location("http://127.0.0.1:4000/web/a", o, p), "/proxy/application_1_0001/web/a");
        assert_eq!(rewrite_location("/web/b", o, p), "/proxy/application_1_0001/web/b");
        assert_eq!(rewrite_location("web/c", o, p), "web/c");
        assert_eq!(rewrite_location("http://elsewhere/", o, p), "http://elsewhere/");
    }

    #[test]
    fn only_loopback_tracking_urls_are_proxied() {
        assert_eq!(loopback_origin("http://127.0.0.1:4000"), Some("http://127.0.0.1:4000".into()));
        assert_eq!(loopback_origin("http://localhost:4000/x"), Some("http://localhost:4000".into()));
        assert_eq!(loopback_origin("http://[::1]:4000/"), Some("http://[::1]:4000".into()));
        assert_eq!(loopback_origin("http://10.0.0.1:4000"), None);
        assert_eq!(loopback_origin("http://example.com/"), None);
        assert_eq!(loopback_origin("https://127.0.0.1:1/"), None);
    }
}
