//! Nobody on the machine can crash or hijack the cluster: hostile REST bodies are refused in
//! YARN's and Flink's own error formats with the daemons alive and nothing changed, and node
//! messages that do not prove the cluster secret are refused and logged.
// End-to-end tests drive real processes with real clocks: the determinism lint is for node code.
#![allow(clippy::disallowed_types, clippy::disallowed_methods)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use e2e::{bin, list, s, Cluster};
use engine::live::auth::{ClusterSecret, NONCE_LEN, PROOF_LEN, SECRET_ENV};
use serde_json::{json, Value};
use yarn_sim::ids::NodeId;
use yarn_sim::proto::YarnMsg;
use yarn_sim::records::Resource;

/// `curl` with the body from a file (bodies of a megabyte do not fit on a command line).
fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new("curl").args(["-s", "-o", "-", "-w", "\n%{http_code}"]).args(args).output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap();
    (code.parse().unwrap(), body.to_string())
}

fn body_file(c: &Cluster, name: &str, body: &str) -> String {
    let p = c.work.join(name);
    std::fs::write(&p, body).unwrap();
    format!("@{}", p.display())
}

fn node_ids(c: &Cluster) -> Vec<String> {
    let v = c.rest().get("/ws/v1/cluster/nodes").unwrap();
    let mut ids: Vec<String> = list(&v, "nodes", "node").iter().map(|n| s(n, "id")).collect();
    ids.sort();
    ids
}

fn apps(c: &Cluster) -> Vec<(String, String)> {
    let v = c.rest().get("/ws/v1/cluster/apps").unwrap();
    list(&v, "apps", "app").iter().map(|a| (s(a, "id"), s(a, "state"))).collect()
}

fn rm_alive(c: &Cluster) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(c.pid_of("resourcemanager") as i32), None).is_ok()
        && c.rest().get("/ws/v1/cluster/info").is_ok()
}

fn remote_exception(body: &str) -> Value {
    let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
    v["RemoteException"].clone()
}

/// Submits an AM that sleeps, so the kill API has a live target.
fn sleeper(c: &Cluster) -> String {
    let base = format!("http://{}", c.rm);
    let (_, body) = curl(&["-X", "POST", &format!("{base}/ws/v1/cluster/apps/new-application")]);
    let id = serde_json::from_str::<Value>(&body).unwrap()["application-id"].as_str().unwrap().to_string();
    let ctx = json!({"application-id": id, "application-name": "sleeper",
        "am-container-spec": {"commands": {"command": "sleep 60"}}, "resource": {"memory": 128, "vCores": 1}});
    let (code, _) =
        curl(&["-X", "POST", "-H", "Content-Type: application/json", "-d", &ctx.to_string(), &format!("{base}/ws/v1/cluster/apps")]);
    assert_eq!(code, 202);
    id
}

#[test]
fn nested_bodies_of_149000_levels_are_400s_and_the_rm_lives() {
    let c = Cluster::start("harden-deep", 1, &[]);
    let base = format!("http://{}", c.rm);
    let id = sleeper(&c);
    let before = apps(&c);
    let nodes = node_ids(&c);

    // The request of the issue: ~1 MB of XML nested 149,000 deep (under the 1 MiB body limit,
    // so it is the parser's depth bound that answers).
    let deep_xml = "<a>".repeat(149_000) + &"</a>".repeat(149_000);
    assert!(deep_xml.len() > 1_000_000 && deep_xml.len() < 1 << 20);
    let xml = body_file(&c, "deep.xml", &deep_xml);
    let deep_json = "[".repeat(149_000) + &"]".repeat(149_000);
    let js = body_file(&c, "deep.json", &deep_json);
    for (ct, file, expect) in [("application/xml", &xml, "nested deeper than 64"), ("application/json", &js, "recursion limit exceeded")] {
        let ct = format!("Content-Type: {ct}");
        let (code, body) = curl(&["-X", "POST", "-H", &ct, "--data-binary", file, &format!("{base}/ws/v1/cluster/apps")]);
        assert_eq!(code, 400, "{body}");
        let e = remote_exception(&body);
        assert_eq!(e["exception"], "BadRequestException", "{body}");
        assert!(e["message"].as_str().unwrap().contains(expect), "{body}");
        let (code, body) = curl(&["-X", "PUT", "-H", &ct, "--data-binary", file, &format!("{base}/ws/v1/cluster/apps/{id}/state")]);
        assert_eq!(code, 400, "{body}");
        assert!(remote_exception(&body)["message"].as_str().unwrap().contains(expect), "{body}");
    }
    // In XML when the client asks for XML.
    let (code, body) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/xml",
        "-H",
        "Accept: application/xml",
        "--data-binary",
        &xml,
        &format!("{base}/ws/v1/cluster/apps/{id}/state"),
    ]);
    assert_eq!(code, 400);
    assert!(body.contains("<RemoteException") && body.contains("<exception>BadRequestException</exception>"), "{body}");

    assert!(rm_alive(&c), "the ResourceManager died");
    assert_eq!(apps(&c), before, "a refused request changed the applications");
    assert_eq!(node_ids(&c), nodes);
    // And the kill API still works for a well-formed request.
    let (code, _) = curl(&[
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "-d",
        r#"{"state":"KILLED"}"#,
        &format!("{base}/ws/v1/cluster/apps/{id}/state"),
    ]);
    assert!(code == 200 || code == 202, "{code}");
}

#[test]
fn oversize_bodies_and_uris_get_a_remote_exception() {
    let c = Cluster::start("harden-size", 1, &[]);
    let base = format!("http://{}", c.rm);
    let before = apps(&c);
    let big = body_file(&c, "big.json", &format!(r#"{{"application-name":"{}"}}"#, "x".repeat(2 << 20)));
    let url = format!("{base}/ws/v1/cluster/apps");
    // With a Content-Length, and streamed chunked without one.
    for extra in [&[][..], &["-H", "Transfer-Encoding: chunked"][..]] {
        let mut args = vec!["-X", "POST", "-H", "Content-Type: application/json"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--data-binary", &big, &url]);
        let (code, body) = curl(&args);
        assert_eq!(code, 413, "{body}");
        let e = remote_exception(&body);
        assert_eq!(e["javaClassName"], "org.apache.hadoop.yarn.webapp.BadRequestException", "{body}");
        assert!(e["message"].as_str().unwrap().contains("limit of 1048576 bytes"), "{body}");
    }
    let (code, body) =
        curl(&["-X", "POST", "-H", "Accept: application/xml", "-H", "Content-Type: application/json", "--data-binary", &big, &url]);
    assert_eq!(code, 413);
    assert!(body.starts_with("<?xml") && body.contains("<RemoteException"), "{body}");
    // A query string past 8 KiB.
    let (code, body) = curl(&[&format!("{url}?user={}", "u".repeat(9000))]);
    assert_eq!(code, 414, "{body}");
    assert!(remote_exception(&body)["message"].as_str().unwrap().contains("Request URI too long"), "{body}");
    // The NodeManager's web server has the same limits.
    let nm = c.rest().get("/ws/v1/cluster/nodes").unwrap();
    let nm_http = s(list(&nm, "nodes", "node")[0], "nodeHTTPAddress");
    let (code, body) = curl(&["-X", "GET", "--data-binary", &big, &format!("http://{nm_http}/ws/v1/node/info")]);
    assert_eq!(code, 413, "{body}");
    assert!(remote_exception(&body)["message"].is_string(), "{body}");
    assert!(rm_alive(&c));
    assert_eq!(apps(&c), before);
}

/// A NodeManager registration with 1 TB of memory, as the issue's forger sent it.
fn fake_registration(port: u16) -> Vec<u8> {
    let msg = YarnMsg::RegisterNodeManager {
        node_id: NodeId::new("127.0.0.1", port),
        http_address: format!("127.0.0.1:{port}"),
        resource: Resource::new(1 << 20, 1024),
        containers: vec![],
    };
    serde_json::to_vec(&json!({"from": format!("127.0.0.1:{port}"), "family": "yarn", "body": msg})).unwrap()
}

/// The same registration as a frame stream carries it: the sender and the family, each a
/// length byte and ASCII, then the message's JSON.
fn registration_frame(port: u16) -> Vec<u8> {
    let (from, family) = (format!("127.0.0.1:{port}"), "yarn");
    let msg = YarnMsg::RegisterNodeManager {
        node_id: NodeId::new("127.0.0.1", port),
        http_address: format!("127.0.0.1:{port}"),
        resource: Resource::new(1 << 20, 1024),
        containers: vec![],
    };
    let mut b = vec![from.len() as u8];
    b.extend_from_slice(from.as_bytes());
    b.push(family.len() as u8);
    b.extend_from_slice(family.as_bytes());
    b.extend(serde_json::to_vec(&msg).unwrap());
    frame(&b)
}

fn frame(body: &[u8]) -> Vec<u8> {
    let mut b = (body.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(body);
    b
}

/// Opens a frame stream to `addr` and runs the handshake as a client holding `key`, honestly
/// (checking the server) or not; returns the stream ready for frames.
fn frame_stream(addr: &str, key: &ClusterSecret, check_server: bool) -> std::io::Result<TcpStream> {
    let mut s = TcpStream::connect(addr)?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let nc = [42u8; NONCE_LEN];
    s.write_all(engine::live::net::MAGIC)?;
    s.write_all(&nc)?;
    let mut reply = [0u8; NONCE_LEN + PROOF_LEN];
    s.read_exact(&mut reply)?;
    let (ns, proof) = reply.split_at(NONCE_LEN);
    if check_server && !key.verify(&[b"server", &nc, ns], proof) {
        return Err(std::io::Error::new(std::io::ErrorKind::PermissionDenied, "server did not prove the secret"));
    }
    s.write_all(&key.proof(&[b"client", &nc, ns]))?;
    Ok(s)
}

/// Reads until the server closes the connection (it must, in time).
fn closed_by_server(mut s: TcpStream) -> bool {
    let mut sink = Vec::new();
    match s.read_to_end(&mut sink) {
        Ok(_) => true,
        // Unread frames in the server's buffer turn its close into a reset.
        Err(e) => !matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut),
    }
}

#[test]
fn forged_node_messages_are_refused_logged_and_change_nothing() {
    let c = Cluster::start("harden-forge", 2, &[]);
    let secret_path = c.conf_dir().join("cluster-secret");
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&secret_path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let key = ClusterSecret::read_file(&secret_path).unwrap();
    let nodes = node_ids(&c);
    assert_eq!(nodes.len(), 2);
    let rpc = format!("http://{}/_rpc", c.rm);
    let forged = fake_registration(1);
    let forged_file = body_file(&c, "forged.json", std::str::from_utf8(&forged).unwrap());

    // POST /_rpc: no proof, a proof made with another secret, a proof of another body.
    let wrong = ClusterSecret::generate().unwrap();
    for header in [None, Some(wrong.rpc_header(&forged)), Some(key.rpc_header(b"{}"))] {
        let mut args = vec!["-X".to_string(), "POST".into(), "-H".into(), "Content-Type: application/json".into()];
        if let Some(h) = header {
            args.extend(["-H".to_string(), format!("x-yarn-sim-auth: {h}")]);
        }
        args.extend(["--data-binary".to_string(), forged_file.clone(), rpc.clone()]);
        let (code, body) = curl(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert_eq!(code, 401, "{body}");
    }
    // A raw frame stream that skips the handshake, and one that fakes it with another secret.
    let mut s = TcpStream::connect(&c.rm).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    let mut raw = engine::live::net::MAGIC.to_vec();
    raw.extend(registration_frame(2));
    raw.extend(registration_frame(2));
    s.write_all(&raw).unwrap();
    assert!(closed_by_server(s));
    assert_eq!(frame_stream(&c.rm, &wrong, true).unwrap_err().kind(), std::io::ErrorKind::PermissionDenied);
    let mut s = frame_stream(&c.rm, &wrong, false).unwrap();
    let _ = s.write_all(&registration_frame(3));
    assert!(closed_by_server(s));

    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(node_ids(&c), nodes, "a forged registration was accepted");
    let m = c.rest().get("/ws/v1/cluster/metrics").unwrap();
    assert_eq!(m["clusterMetrics"]["totalMB"], 2 * 8192);
    assert!(rm_alive(&c));
    let log = std::fs::read_to_string(c.work.join("logs/resourcemanager.log")).unwrap();
    assert!(log.contains("refused a POST /_rpc from 127.0.0.1:"), "{log}");
    assert!(log.contains("refused a frame stream from 127.0.0.1:"), "{log}");

    // The same envelopes with the cluster's secret are delivered: the refusals above were the
    // authentication's doing, not a malformed message's.
    let (code, body) =
        curl(&["-X", "POST", "-H", &format!("x-yarn-sim-auth: {}", key.rpc_header(&forged)), "--data-binary", &forged_file, &rpc]);
    assert_eq!(code, 202, "{body}");
    let mut s = frame_stream(&c.rm, &key, true).unwrap();
    s.write_all(&registration_frame(2)).unwrap();
    c.wait_for("both signed registrations", Duration::from_secs(10), || (node_ids(&c).len() == 4).then_some(()));
    drop(s);
}

#[test]
fn daemons_and_containers_refuse_to_run_without_a_secret() {
    let dir = std::env::temp_dir().join(format!("e2e-harden-nosecret-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = |program: &str, args: &[&str]| -> e2e::Run {
        Command::new(bin(program)).args(args).current_dir(&dir).env_remove(SECRET_ENV).stdin(Stdio::null()).output().expect("run").into()
    };
    let nm = run("yarn-sim", &["nodemanager", "--rm", "127.0.0.1:1", "--work-dir", dir.join("nm").to_str().unwrap()]);
    assert_ne!(nm.code, 0);
    assert!(nm.stderr.contains("no cluster secret"), "{}", nm.stderr);
    let am = run("flink-am", &["session"]);
    assert_ne!(am.code, 0);
    assert!(am.stderr.contains(&format!("{SECRET_ENV} is not set")), "{}", am.stderr);
    let tm = run("taskexec", &[]);
    assert_ne!(tm.code, 0);
    assert!(tm.stderr.contains(&format!("{SECRET_ENV} is not set")), "{}", tm.stderr);
    let dshell_am = run("yarn-sim", &["dshell-am", "--shell_command", "true"]);
    assert_ne!(dshell_am.code, 0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn containers_get_the_secret_in_their_environment_only() {
    let c = Cluster::start("harden-env", 1, &[]);
    let key = std::fs::read_to_string(c.conf_dir().join("cluster-secret")).unwrap().trim().to_string();
    // The container reads its own launch script (the NM deletes it with the app's dirs).
    let cmd = "echo secret-length=${#YARN_SIM_CLUSTER_SECRET}; test -f launch_container.sh && echo script-present; \
               echo secret-in-script=$(grep -c $YARN_SIM_CLUSTER_SECRET launch_container.sh); grep YARN_SIM launch_container.sh";
    let r = c.run("yarn-sim", &["dshell", "--shell-command", cmd]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let app = e2e::submitted_app(&r.stdout);
    let logs = c.yarn(&["logs", "-applicationId", &app, "-log_files", "stdout"]);
    let out = logs.stdout;
    assert!(out.contains(&format!("secret-length={}", key.len())), "{out}");
    assert!(out.contains("script-present") && out.contains("secret-in-script=0"), "{out}");
    assert!(out.contains("# YARN_SIM_CLUSTER_SECRET is in the container's environment, not written here"), "{out}");
}

#[test]
fn the_flink_rest_refuses_oversize_and_deep_bodies_in_flinks_format() {
    let c = Cluster::start("harden-flink", 1, &[]);
    let flink_conf = c.work.join("flink-conf");
    std::fs::create_dir_all(&flink_conf).unwrap();
    std::fs::write(flink_conf.join("config.yaml"), format!("yarn.properties-file.location: {}\n", c.work.display())).unwrap();
    let r: e2e::Run = Command::new(bin("yarn-session"))
        .args(["-jm", "256m", "-tm", "512m", "-s", "1", "-nm", "harden", "-d"])
        .env("YARN_CONF_DIR", c.conf_dir())
        .env("FLINK_CONF_DIR", &flink_conf)
        .env_remove("HADOOP_CONF_DIR")
        .stdin(Stdio::null())
        .output()
        .unwrap()
        .into();
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    let web = r.stdout.lines().find_map(|l| l.strip_prefix("JobManager Web Interface: http://")).expect("web interface").to_string();
    let jobs = format!("http://{web}/jobs");
    let errors = |body: &str| -> String {
        let v: Value = serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"));
        v["errors"][0].as_str().unwrap_or_else(|| panic!("no errors: {body}")).to_string()
    };
    let big = body_file(&c, "big-graph.json", &format!(r#"{{"name":"{}"}}"#, "x".repeat(2 << 20)));
    let (code, body) = curl(&["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &big, &jobs]);
    assert_eq!(code, 413, "{body}");
    assert!(errors(&body).contains("limit of 1048576 bytes"), "{body}");
    // Deep nesting where the JobGraph expects a name, and inside a field it skips.
    let deep_value = "{\"a\":".repeat(140_000) + "1" + &"}".repeat(140_000);
    for (i, text) in [format!("{{\"name\":{deep_value}}}"), format!("{{\"unknown\":{deep_value}}}")].iter().enumerate() {
        let deep = body_file(&c, &format!("deep-graph-{i}.json"), text);
        let (code, body) = curl(&["-X", "POST", "-H", "Content-Type: application/json", "--data-binary", &deep, &jobs]);
        assert_eq!(code, 400, "{body}");
        assert!(errors(&body).starts_with("Request did not match expected format JobSubmitRequestBody"), "{body}");
    }
    let (code, body) = curl(&[&format!("http://{web}/v1/jobs/overview?x={}", "y".repeat(9000))]);
    assert_eq!(code, 414, "{body}");
    assert!(errors(&body).contains("Request URI too long"), "{body}");
    // Alive, and nothing was submitted.
    let (code, body) = curl(&[&format!("http://{web}/jobs/overview")]);
    assert_eq!(code, 200, "{body}");
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["jobs"], json!([]));
}
