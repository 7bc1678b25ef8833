//! A small blocking-style REST client for the CLIs (one current-thread runtime per call).

use std::time::Duration;

use serde_json::Value;

/// A REST error as the CLI reports it: the RemoteException message when there is one.
#[derive(Debug)]
pub struct RestError {
    pub status: u16,
    pub message: String,
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

pub struct Rest {
    base: String,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
}

impl Rest {
    pub fn new(base: &str) -> Rest {
        let base = if base.starts_with("http") { base.to_string() } else { format!("http://{base}") };
        Rest {
            base: base.trim_end_matches('/').to_string(),
            rt: tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime"),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client"),
        }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Result<(u16, Value), RestError> {
        let url = format!("{}{}", self.base, with_user(path));
        self.rt.block_on(async {
            let mut req = self.http.request(method, &url).header("Accept", "application/json");
            if let Some(b) = body {
                req = req.json(&b);
            }
            let resp = req.send().await.map_err(|e| RestError {
                status: 0,
                message: format!(
                    "Failed to connect to {}: {}",
                    self.base,
                    if e.is_connect() { "Connection refused".to_string() } else { e.to_string() }
                ),
            })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            let v: Value = if text.trim().is_empty() { Value::Null } else { serde_json::from_str(&text).unwrap_or(Value::String(text)) };
            if status >= 400 {
                let message = v
                    .pointer("/RemoteException/message")
                    .and_then(|m| m.as_str())
                    .map(|m| m.trim_start_matches("java.lang.Exception: ").to_string())
                    .or_else(|| v.pointer("/errors/0").and_then(|m| m.as_str()).map(String::from))
                    .unwrap_or_else(|| format!("HTTP {status} from {url}"));
                return Err(RestError { status, message });
            }
            Ok((status, v))
        })
    }

    pub fn get(&self, path: &str) -> Result<Value, RestError> {
        self.call(reqwest::Method::GET, path, None).map(|r| r.1)
    }
    pub fn post(&self, path: &str, body: Value) -> Result<(u16, Value), RestError> {
        self.call(reqwest::Method::POST, path, Some(body))
    }
    pub fn put(&self, path: &str, body: Value) -> Result<(u16, Value), RestError> {
        self.call(reqwest::Method::PUT, path, Some(body))
    }
    pub fn delete(&self, path: &str) -> Result<(u16, Value), RestError> {
        self.call(reqwest::Method::DELETE, path, None)
    }
    pub fn patch(&self, path: &str) -> Result<(u16, Value), RestError> {
        self.call(reqwest::Method::PATCH, path, None)
    }

    /// GET of a plain-text resource (container logs).
    pub fn get_text(&self, url: &str) -> Result<String, RestError> {
        self.rt.block_on(async {
            let resp = self.http.get(url).send().await.map_err(|e| RestError { status: 0, message: e.to_string() })?;
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            if status >= 400 {
                return Err(RestError { status, message: text });
            }
            Ok(text)
        })
    }
}

/// YARN REST calls carry the invoking user (`user.name`, Hadoop's simple auth), so the RM
/// checks ACLs against who runs the client, as Hadoop's clients do; other REST APIs (Flink's)
/// are left alone.
fn with_user(path: &str) -> String {
    if !path.starts_with("/ws/v1/cluster") || path.contains("user.name=") {
        return path.to_string();
    }
    let sep = if path.contains('?') { '&' } else { '?' };
    format!("{path}{sep}user.name={}", super::current_user())
}

/// `items` of `{"apps":{"app":[..]}}`-style wrappers (null or missing = empty).
pub fn list<'a>(v: &'a Value, outer: &str, inner: &str) -> Vec<&'a Value> {
    match v.get(outer).and_then(|o| o.get(inner)) {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => Vec::new(),
    }
}

pub fn s(v: &Value, k: &str) -> String {
    match v.get(k) {
        Some(Value::String(x)) => x.clone(),
        Some(Value::Null) | None => String::new(),
        Some(o) => o.to_string(),
    }
}

pub fn n(v: &Value, k: &str) -> f64 {
    v.get(k).and_then(|x| x.as_f64().or_else(|| x.as_str().and_then(|s| s.parse().ok()))).unwrap_or(0.0)
}
