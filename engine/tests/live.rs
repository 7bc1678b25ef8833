//! The live driver with real sockets and real processes.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use engine::live::{bind_loopback, LiveNode};
use engine::{Addr, Codecs, Cx, ExitCode, LaunchSpec, Msg, Node, ProcId, Signal, TimerId, Wire};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
struct Echo(u32);
impl Wire for Echo {
    const FAMILY: &'static str = "test.echo";
    fn kind(&self) -> &'static str {
        "Echo"
    }
}

#[derive(Default)]
struct Peer {
    target: Option<Addr>,
    got: Vec<u32>,
    exits: Vec<(ProcId, ExitCode)>,
}

impl Node for Peer {
    fn on_start(&mut self, cx: &mut Cx) {
        if let Some(t) = self.target {
            for i in 0..5 {
                cx.send(t, Echo(i));
            }
        }
    }
    fn on_message(&mut self, cx: &mut Cx, from: Addr, msg: Msg) {
        let Echo(n) = msg.downcast::<Echo>().unwrap();
        self.got.push(n);
        if self.target.is_none() {
            cx.send(from, Echo(n * 10));
        }
    }
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        cx.signal(ProcId(2), Signal::Term);
    }
    fn on_process_exit(&mut self, _cx: &mut Cx, pid: ProcId, code: ExitCode) {
        self.exits.push((pid, code));
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

async fn wait_until(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if f() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

#[tokio::test(flavor = "current_thread")]
async fn messages_keep_order_over_http_and_processes_report_exit_codes() {
    let dir = std::env::temp_dir().join(format!("engine-live-{}", std::process::id()));
    let codecs = Codecs::new().with::<Echo>();
    let (l1, a1) = bind_loopback(0).await.unwrap();
    let server = LiveNode::new(Peer::default(), a1, &dir, codecs.clone(), 1);
    tokio::spawn(server.clone().run(l1, axum::Router::new()));
    let (l2, a2) = bind_loopback(0).await.unwrap();
    let client = LiveNode::new(Peer { target: Some(a1), ..Default::default() }, a2, &dir, codecs, 2);
    tokio::spawn(client.clone().run(l2, axum::Router::new()));

    assert!(wait_until(|| client.read(|p| p.got.len() == 5)).await);
    assert_eq!(server.read(|p| p.got.clone()), vec![0, 1, 2, 3, 4]);
    assert_eq!(client.read(|p| p.got.clone()), vec![0, 10, 20, 30, 40]);

    let spec = |pid, cmd: &str| LaunchSpec {
        pid: ProcId(pid),
        command: cmd.into(),
        env: BTreeMap::from([("GREETING".to_string(), "hi".to_string())]),
        work_dir: dir.join(format!("w{pid}")).display().to_string(),
        stdout: dir.join(format!("l{pid}/stdout")).display().to_string(),
        stderr: dir.join(format!("l{pid}/stderr")).display().to_string(),
    };
    server.with(|_, cx| {
        cx.launch(spec(1, "echo $GREETING; pwd; exit 7"));
        cx.launch(spec(2, "sleep 30"));
        cx.set_timer(Duration::from_millis(100), 9);
    });
    assert!(wait_until(|| server.read(|p| p.exits.len() == 2)).await);
    let mut exits = server.read(|p| p.exits.clone());
    exits.sort();
    assert_eq!(exits, vec![(ProcId(1), 7), (ProcId(2), 143)]);
    let out = std::fs::read_to_string(dir.join("l1/stdout")).unwrap();
    assert_eq!(out, format!("hi\n{}\n", dir.join("w1").display()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn usage_reads_the_process_tree() {
    let me = std::process::id();
    assert!(engine::live::proc::self_rss_bytes() > 0);
    assert!(engine::live::proc::rss_bytes(me).unwrap() > 0);
}
