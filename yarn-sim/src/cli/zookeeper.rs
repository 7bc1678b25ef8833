//! `yarn-sim start --zookeeper`: a real Apache ZooKeeper server (Debian's `zookeeper` package,
//! run with Java) in standalone mode on 127.0.0.1, for Flink's ZooKeeper HA services. It gets
//! its own `zoo.cfg` and data dir under the cluster's work dir, a pid file in `run/` like the
//! other daemons (so `yarn-sim stop` stops it and `yarn-sim status` shows it), and its log in
//! `logs/zookeeper.log`.
//!
//! ```text
//! zookeeper/zoo.cfg       tickTime 200 ms (as the simulator's model), loopback only
//! zookeeper/data/         snapshots and transaction logs
//! ```

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The server's jar as the Debian package installs it (its manifest names its dependencies).
pub const ZOOKEEPER_JAR: &str = "/usr/share/java/zookeeper.jar";
/// An SLF4J binding so the server's log says something (optional).
const SLF4J_SIMPLE_JAR: &str = "/usr/share/java/slf4j-simple.jar";
/// ZooKeeper's tick: sessions time out within [2, 20] ticks, as in the simulator's model.
pub const TICK_MS: u64 = 200;

/// Why a real ZooKeeper cannot run here, if it cannot.
pub fn unavailable() -> Option<String> {
    if !Path::new(ZOOKEEPER_JAR).exists() {
        return Some(format!(
            "ZooKeeper is not installed ({ZOOKEEPER_JAR} is missing): install Debian's 'zookeeper' package (scripts/install-zookeeper.sh)"
        ));
    }
    if java().is_none() {
        return Some("ZooKeeper needs Java, and there is no java on PATH or in JAVA_HOME".into());
    }
    None
}

fn java() -> Option<PathBuf> {
    if let Some(h) = std::env::var_os("JAVA_HOME") {
        let j = PathBuf::from(h).join("bin/java");
        if j.exists() {
            return Some(j);
        }
    }
    std::env::var_os("PATH")?.to_str()?.split(':').map(|d| Path::new(d).join("java")).find(|p| p.exists())
}

/// The server's configuration: standalone, loopback only, no admin server (it would take port
/// 8080), the four-letter words the harness uses.
pub fn zoo_cfg(data_dir: &Path, port: u16) -> String {
    format!(
        "# Written by yarn-sim start --zookeeper: a standalone server for Flink's HA services.\n\
         tickTime={TICK_MS}\n\
         dataDir={}\n\
         clientPort={port}\n\
         clientPortAddress=127.0.0.1\n\
         maxClientCnxns=0\n\
         admin.enableServer=false\n\
         4lw.commands.whitelist=ruok,srvr,stat,cons\n\
         autopurge.snapRetainCount=3\n\
         autopurge.purgeInterval=1\n",
        data_dir.display()
    )
}

/// Sends a four-letter word and returns the answer (`ruok` -> `imok`).
pub fn four_letter(port: u16, word: &str) -> Result<String, String> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    s.write_all(word.as_bytes()).map_err(|e| e.to_string())?;
    let mut out = String::new();
    s.read_to_string(&mut out).map_err(|e| e.to_string())?;
    Ok(out)
}

/// The client port of the server configured under `work`, if any.
pub fn configured_port(work: &Path) -> Option<u16> {
    let cfg = std::fs::read_to_string(work.join("zookeeper/zoo.cfg")).ok()?;
    cfg.lines().find_map(|l| l.strip_prefix("clientPort=")).and_then(|p| p.trim().parse().ok())
}

/// Starts the server and waits until it serves requests. Returns its pid.
pub fn start(work: &Path, port: u16, detach: bool) -> Result<u32, String> {
    if let Some(why) = unavailable() {
        return Err(why);
    }
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        return Err(format!("Port in use: 127.0.0.1:{port} (another ZooKeeper?). Use --zookeeper-port."));
    }
    let dir = work.join("zookeeper");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).map_err(|e| format!("{}: {e}", data.display()))?;
    let cfg = dir.join("zoo.cfg");
    std::fs::write(&cfg, zoo_cfg(&data, port)).map_err(|e| format!("{}: {e}", cfg.display()))?;
    let log = work.join("logs/zookeeper.log");
    let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let errf = logf.try_clone().map_err(|e| e.to_string())?;
    let mut cp = ZOOKEEPER_JAR.to_string();
    if Path::new(SLF4J_SIMPLE_JAR).exists() {
        cp.push(':');
        cp.push_str(SLF4J_SIMPLE_JAR);
    }
    let mut cmd = Command::new(java().expect("checked by unavailable()"));
    cmd.args([
        "-Xmx256m",
        "-XX:+UseSerialGC",
        "-XX:TieredStopAtLevel=1",
        "-Dzookeeper.admin.enableServer=false",
        "-Dorg.slf4j.simpleLogger.showDateTime=true",
        "-cp",
        &cp,
        "org.apache.zookeeper.server.ZooKeeperServerMain",
    ])
    .arg(&cfg)
    .current_dir(&dir)
    .stdin(Stdio::null())
    .stdout(logf)
    .stderr(errf);
    if detach {
        use std::os::unix::process::CommandExt;
        cmd.process_group(0);
    }
    let child = cmd.spawn().map_err(|e| format!("cannot start ZooKeeper with java: {e}"))?;
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        // `ruok` answers as soon as the process listens; `srvr` reports a mode only once the
        // server serves requests (before that, sessions are refused).
        if four_letter(port, "srvr").is_ok_and(|r| r.contains("Mode: ")) {
            return Ok(pid);
        }
        let dead = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None).is_err();
        if dead || Instant::now() > deadline {
            let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL);
            return Err(format!("ZooKeeper did not start on 127.0.0.1:{port}; see {}", log.display()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_config_is_standalone_on_loopback_without_the_admin_server() {
        let c = super::zoo_cfg(std::path::Path::new("/w/zookeeper/data"), 2181);
        for line in
            ["clientPort=2181", "clientPortAddress=127.0.0.1", "admin.enableServer=false", "dataDir=/w/zookeeper/data", "tickTime=200"]
        {
            assert!(c.lines().any(|l| l == line), "{line} in\n{c}");
        }
    }
}
