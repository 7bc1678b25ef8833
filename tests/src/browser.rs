//! Headless Chromium driven over the DevTools protocol, for the browser tests: load a page,
//! wait for it, and report every console error, uncaught exception and failed request
//! (network failure or HTTP status >= 400) it caused. The protocol runs over a plain
//! `ws://127.0.0.1` socket with `tungstenite` (synchronous, no TLS): the tests are
//! synchronous and need a handful of commands, which a full CDP client crate would not
//! make simpler.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tungstenite::{Message, WebSocket};

pub const CHROMIUM: &str = "/usr/bin/chromium";

/// What loading one page caused.
#[derive(Debug, Default)]
pub struct PageLoad {
    pub url: String,
    pub console_errors: Vec<String>,
    pub failed_requests: Vec<String>,
}

impl PageLoad {
    pub fn is_clean(&self) -> bool {
        self.console_errors.is_empty() && self.failed_requests.is_empty()
    }
}

pub struct Browser {
    ws: WebSocket<TcpStream>,
    next_id: u64,
    // Declared last: dropped after the socket is closed.
    _process: Process,
}

/// The Chromium process group and its profile; killed and removed on drop, also when the
/// start-up fails half way.
struct Process {
    child: Child,
    profile: PathBuf,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(self.child.id() as i32), nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// A GET over HTTP/1.1 on loopback (the DevTools HTTP endpoint), returning the body (read
/// by its Content-Length: the endpoint keeps the connection open).
fn http_get(port: u16, path: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n")?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len = head.lines().find_map(|l| l.strip_prefix("content-length:")).and_then(|v| v.trim().parse::<usize>().ok());
            if let Some(len) = len {
                if buf.len() >= end + 4 + len {
                    return Ok(String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).into_owned());
                }
            }
        }
        let n = s.read(&mut chunk)?;
        if n == 0 {
            let end = buf.windows(4).position(|w| w == b"\r\n\r\n").map_or(buf.len(), |e| e + 4);
            return Ok(String::from_utf8_lossy(&buf[end..]).into_owned());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

impl Browser {
    /// Starts headless Chromium with a fresh profile; None (after printing why) when it is not
    /// installed, so the caller can skip.
    pub fn start(tag: &str) -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() {
            println!("SKIP {tag}: {CHROMIUM} is not installed (make test installs it with `make chromium`)");
            return None;
        }
        let profile = std::env::temp_dir().join(format!("e2e-chromium-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&profile);
        // Its temp files (singleton sockets) go inside the profile too.
        std::fs::create_dir_all(profile.join("tmp")).unwrap();
        let child = Command::new(CHROMIUM)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("about:blank")
            .env("TMPDIR", profile.join("tmp"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so its renderer and helper processes go with it.
            .process_group(0)
            .spawn()
            .expect("chromium starts");
        let process = Process { child, profile: profile.clone() };
        // Chromium writes the port it chose to <profile>/DevToolsActivePort.
        let end = Instant::now() + Duration::from_secs(60);
        let port = loop {
            if let Some(p) =
                std::fs::read_to_string(profile.join("DevToolsActivePort")).ok().and_then(|t| t.lines().next()?.parse::<u16>().ok())
            {
                break p;
            }
            assert!(Instant::now() < end, "chromium did not open its DevTools port");
            std::thread::sleep(Duration::from_millis(50));
        };
        let targets: Value = loop {
            if let Some(v) = http_get(port, "/json/list").ok().and_then(|b| serde_json::from_str::<Value>(&b).ok()) {
                if v.as_array().is_some_and(|l| l.iter().any(|t| t["type"] == "page")) {
                    break v;
                }
            }
            assert!(Instant::now() < end, "chromium lists no page target");
            std::thread::sleep(Duration::from_millis(50));
        };
        let ws_url =
            targets.as_array().unwrap().iter().find(|t| t["type"] == "page").unwrap()["webSocketDebuggerUrl"].as_str().unwrap().to_string();
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
        let (ws, _) = tungstenite::client(ws_url.as_str(), stream).expect("DevTools websocket handshake");
        let mut b = Browser { ws, next_id: 0, _process: process };
        for m in ["Page.enable", "Runtime.enable", "Log.enable", "Network.enable"] {
            b.call(m, json!({}));
        }
        Some(b)
    }

    fn send(&mut self, method: &str, params: Value) -> u64 {
        self.next_id += 1;
        let msg = json!({"id": self.next_id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).expect("send to chromium");
        self.next_id
    }

    /// The next protocol message, or None after a read timeout.
    fn recv(&mut self) -> Option<Value> {
        match self.ws.read() {
            Ok(Message::Text(t)) => serde_json::from_str(t.as_str()).ok(),
            Ok(_) => None,
            Err(tungstenite::Error::Io(e)) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => None,
            Err(e) => panic!("DevTools connection: {e}"),
        }
    }

    /// Sends a command and waits for its result (events meanwhile are dropped).
    pub fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.send(method, params);
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(m) = self.recv() {
                if m["id"].as_u64() == Some(id) {
                    assert!(m.get("error").is_none(), "{method}: {m}");
                    return m["result"].clone();
                }
            }
            assert!(Instant::now() < end, "no answer to {method}");
        }
    }

    /// Navigates to `url` and waits until the page loaded and the network was quiet for a
    /// moment, collecting console errors, exceptions and failed requests.
    pub fn load(&mut self, url: &str) -> PageLoad {
        let mut out = PageLoad { url: url.to_string(), ..Default::default() };
        let id = self.send("Page.navigate", json!({"url": url}));
        let end = Instant::now() + Duration::from_secs(30);
        let mut loaded = false;
        let mut quiet_since = Instant::now();
        let mut urls: std::collections::BTreeMap<String, String> = Default::default();
        loop {
            match self.recv() {
                Some(m) => {
                    quiet_since = Instant::now();
                    let p = &m["params"];
                    match m["method"].as_str().unwrap_or("") {
                        "Page.loadEventFired" => loaded = true,
                        "Runtime.exceptionThrown" => out.console_errors.push(format!("exception: {}", p["exceptionDetails"])),
                        "Runtime.consoleAPICalled" if p["type"] == "error" || p["type"] == "assert" => {
                            out.console_errors.push(format!("console.{}: {}", p["type"], p["args"]))
                        }
                        "Log.entryAdded" if p["entry"]["level"] == "error" => {
                            out.console_errors.push(format!("{}: {} ({})", p["entry"]["source"], p["entry"]["text"], p["entry"]["url"]))
                        }
                        "Network.requestWillBeSent" => {
                            urls.insert(
                                p["requestId"].as_str().unwrap_or("").to_string(),
                                p["request"]["url"].as_str().unwrap_or("").to_string(),
                            );
                        }
                        "Network.loadingFailed" if p["canceled"] != true => {
                            let u = urls.get(p["requestId"].as_str().unwrap_or("")).cloned().unwrap_or_default();
                            out.failed_requests.push(format!("{u}: {}", p["errorText"]));
                        }
                        "Network.responseReceived" if p["response"]["status"].as_u64().unwrap_or(0) >= 400 => {
                            out.failed_requests.push(format!("{}: HTTP {}", p["response"]["url"], p["response"]["status"]))
                        }
                        _ => {}
                    }
                    if m["id"].as_u64() == Some(id) && m["result"]["errorText"].is_string() {
                        out.failed_requests.push(format!("{url}: {}", m["result"]["errorText"]));
                        return out;
                    }
                }
                None if loaded && quiet_since.elapsed() > Duration::from_millis(300) => return out,
                None => {}
            }
            assert!(Instant::now() < end, "{url} did not load: {out:?}");
        }
    }

    /// Evaluates a JavaScript expression in the page and returns its value.
    pub fn eval(&mut self, expr: &str) -> Value {
        let r = self.call("Runtime.evaluate", json!({"expression": expr, "returnByValue": true}));
        assert!(r.get("exceptionDetails").is_none(), "{expr}: {r}");
        r["result"]["value"].clone()
    }

    /// The page's current HTML.
    pub fn html(&mut self) -> String {
        self.eval("document.documentElement.outerHTML").as_str().unwrap_or("").to_string()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.ws.close(None);
    }
}
