//! `yarn application | applicationattempt | container | node | logs`, printing what Hadoop's
//! YarnCLI prints (reference/yarn.md §7).

use std::io::Write;

use serde_json::{json, Value};

use super::fmt::{percent, row, times};
use super::http::{list, n, s, Rest};
use crate::records::{NodeState, YarnApplicationState};

const USAGE: &str = "Usage: yarn [--rm host:port] COMMAND
  application -list [-appStates States] [-appTypes Types] [-appTags Tags]
  application -status <Application ID>
  application -kill <Application ID> [<Application ID> ...]
  applicationattempt -list <Application ID>
  applicationattempt -status <Application Attempt ID>
  container -list <Application Attempt ID>
  container -status <Container ID>
  node -list [-all] [-states States]
  node -status <NodeId>
  logs -applicationId <Application ID> [-containerId <Container ID>] [-log_files <name,...>]
  version";

/// Runs the `yarn` command; returns the process exit code.
pub fn main(mut args: Vec<String>, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let rm_flag = super::take_rm_flag(&mut args);
    let Some(cmd) = args.first().cloned() else {
        let _ = writeln!(err, "{USAGE}");
        return 1;
    };
    let rest = &args[1..];
    if cmd == "version" {
        let _ = writeln!(out, "Hadoop 3.3.6 (yarn-sim {})", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let rm = match super::rm_address(rm_flag.as_deref()) {
        Ok(a) => Rest::new(&a),
        Err(e) => {
            let _ = writeln!(err, "{e}");
            return 1;
        }
    };
    let r = match cmd.as_str() {
        "application" | "app" => application(&rm, rest, out),
        "applicationattempt" => attempt(&rm, rest, out),
        "container" => container(&rm, rest, out),
        "node" => node(&rm, rest, out),
        "logs" => logs(&rm, rest, out),
        _ => Err(Fail::Usage(format!("Error: Could not find or load main class {cmd}"))),
    };
    match r {
        Ok(code) => code,
        Err(Fail::Usage(m)) => {
            let _ = writeln!(err, "{m}\n{USAGE}");
            1
        }
        Err(Fail::Msg(m, code)) => {
            let _ = writeln!(err, "{m}");
            code
        }
    }
}

enum Fail {
    Usage(String),
    Msg(String, i32),
}

impl From<super::http::RestError> for Fail {
    fn from(e: super::http::RestError) -> Fail {
        Fail::Msg(e.message, if e.status == 0 { 1 } else { 255 })
    }
}

type R = Result<i32, Fail>;

/// The value after `flag`, if the flag is present.
fn opt<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let i = args.iter().position(|a| a.eq_ignore_ascii_case(flag))?;
    args.get(i + 1).map(|s| s.as_str())
}

fn has(args: &[String], flag: &str) -> bool {
    args.iter().any(|a| a.eq_ignore_ascii_case(flag))
}

fn need<'a>(args: &'a [String], flag: &str) -> Result<&'a str, Fail> {
    opt(args, flag)
        .filter(|v| !v.starts_with('-'))
        .ok_or_else(|| Fail::Usage(format!("Missing argument for options: {}", flag.trim_start_matches('-'))))
}

fn csv(v: Option<&str>) -> Vec<String> {
    v.map(|x| x.split(',').map(|s| s.trim().to_ascii_uppercase()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

fn w(out: &mut dyn Write, line: &str) {
    let _ = writeln!(out, "{line}");
}

fn app_not_found(id: &str) -> Fail {
    Fail::Msg(format!("Application with id '{id}' doesn't exist in RM or Timeline Server."), 255)
}

fn get_app(rm: &Rest, id: &str) -> Result<Value, Fail> {
    if id.parse::<crate::ids::ApplicationId>().is_err() {
        return Err(Fail::Msg(format!("Invalid ApplicationId: {id}"), 255));
    }
    match rm.get(&format!("/ws/v1/cluster/apps/{id}")) {
        Ok(v) => Ok(v["app"].clone()),
        Err(e) if e.status == 404 => Err(app_not_found(id)),
        Err(e) => Err(e.into()),
    }
}

fn application(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    if has(a, "-list") {
        let mut states = csv(opt(a, "-appStates"));
        let types = csv(opt(a, "-appTypes"));
        let tags: Vec<String> = opt(a, "-appTags").map(|x| x.split(',').map(|s| s.trim().to_string()).collect()).unwrap_or_default();
        if states.iter().any(|s| s == "ALL") {
            states = YarnApplicationState::ALL.iter().map(|s| s.name().to_string()).collect();
        } else if states.is_empty() {
            states = vec!["SUBMITTED".into(), "ACCEPTED".into(), "RUNNING".into()];
        }
        for st in &states {
            if st.parse::<YarnApplicationState>().is_err() {
                return Err(Fail::Msg(
                    format!("The application state {st} is invalid. The valid application state can be one of the following: ALL,NEW,NEW_SAVING,SUBMITTED,ACCEPTED,RUNNING,FINISHED,FAILED,KILLED"),
                    255,
                ));
            }
        }
        let mut q = format!("/ws/v1/cluster/apps?states={}", states.join(","));
        if !types.is_empty() {
            q.push_str(&format!("&applicationTypes={}", types.join(",")));
        }
        if !tags.is_empty() {
            q.push_str(&format!("&applicationTags={}", tags.join(",")));
        }
        let v = rm.get(&q)?;
        let apps = list(&v, "apps", "app");
        w(
            out,
            &format!(
                "Total number of applications (application-types: [{}], states: [{}] and tags: [{}]):{}",
                types.join(", "),
                states.join(", "),
                tags.join(", "),
                apps.len()
            ),
        );
        let cols = [30, 20, 20, 10, 10, 18, 18, 15, 35];
        let head =
            ["Application-Id", "Application-Name", "Application-Type", "User", "Queue", "State", "Final-State", "Progress", "Tracking-URL"];
        w(out, &row(&head.iter().zip(cols).map(|(h, c)| (*h, c)).collect::<Vec<_>>()));
        for app in apps {
            let url = s(app, "trackingUrl");
            let cells = [
                s(app, "id"),
                s(app, "name"),
                s(app, "applicationType"),
                s(app, "user"),
                s(app, "queue"),
                s(app, "state"),
                s(app, "finalStatus"),
                percent(n(app, "progress")),
                if url.is_empty() { "N/A".into() } else { url },
            ];
            w(out, &row(&cells.iter().zip(cols).map(|(h, c)| (h.as_str(), c)).collect::<Vec<_>>()));
        }
        return Ok(0);
    }
    if let Some(id) = opt(a, "-status") {
        let app = get_app(rm, id)?;
        let url = s(&app, "trackingUrl");
        let fin = n(&app, "finishedTime") as i64;
        let lines = [
            ("Application-Id", s(&app, "id")),
            ("Application-Name", s(&app, "name")),
            ("Application-Type", s(&app, "applicationType")),
            ("User", s(&app, "user")),
            ("Queue", s(&app, "queue")),
            ("Application Priority", s(&app, "applicationPriority")),
            ("Start-Time", s(&app, "startedTime")),
            ("Finish-Time", fin.to_string()),
            ("Progress", percent(n(&app, "progress"))),
            ("State", s(&app, "state")),
            ("Final-State", s(&app, "finalStatus")),
            ("Tracking-URL", if url.is_empty() { "N/A".into() } else { url }),
            ("RPC Port", {
                let a = s(&app, "amRPCAddress");
                a.rsplit_once(':').map(|(_, p)| p.to_string()).unwrap_or_else(|| "-1".into())
            }),
            ("AM Host", {
                let h = s(&app, "amHostHttpAddress");
                if h.is_empty() {
                    "N/A".into()
                } else {
                    h.split(':').next().unwrap_or("").to_string()
                }
            }),
            (
                "Aggregate Resource Allocation",
                format!("{} MB-seconds, {} vcore-seconds", n(&app, "memorySeconds") as i64, n(&app, "vcoreSeconds") as i64),
            ),
            ("Aggregate Resource Preempted", "0 MB-seconds, 0 vcore-seconds".into()),
            ("Log Aggregation Status", "DISABLED".into()),
            ("Diagnostics", s(&app, "diagnostics")),
            ("Unmanaged Application", s(&app, "unmanagedApplication")),
            ("Application Node Label Expression", "<Not set>".into()),
            ("AM container Node Label Expression", "<DEFAULT_PARTITION>".into()),
        ];
        w(out, "Application Report : ");
        for (k, v) in lines {
            w(out, &format!("\t{k} : {v}"));
        }
        w(out, "\tTimeoutType : LIFETIME\tExpiryTime : UNLIMITED\tRemainingTime : -1seconds");
        return Ok(0);
    }
    if has(a, "-kill") {
        let i = a.iter().position(|x| x.eq_ignore_ascii_case("-kill")).expect("has -kill");
        let ids: Vec<&String> = a[i + 1..].iter().take_while(|x| !x.starts_with('-')).collect();
        if ids.is_empty() {
            return Err(Fail::Usage("Missing argument for options: kill".into()));
        }
        let mut code = 0;
        for id in ids {
            match kill_one(rm, id, out) {
                Ok(()) => {}
                Err(Fail::Msg(m, c)) => {
                    w(out, &m);
                    code = c;
                }
                Err(e) => return Err(e),
            }
        }
        return Ok(code);
    }
    Err(Fail::Usage("Invalid Command Usage : ".into()))
}

fn kill_one(rm: &Rest, id: &str, out: &mut dyn Write) -> Result<(), Fail> {
    let app = get_app(rm, id)?;
    let state = s(&app, "state");
    if matches!(state.as_str(), "FINISHED" | "FAILED" | "KILLED") {
        w(out, &format!("Application {id} has already finished "));
        return Ok(());
    }
    w(out, &format!("Killing application {id}"));
    let path = format!("/ws/v1/cluster/apps/{id}/state?user.name={}", super::current_user());
    for _ in 0..200 {
        let (code, v) = rm.put(&path, json!({"state": "KILLED"}))?;
        if code == 200 && s(&v, "state") == "KILLED" {
            w(out, &format!("Killed application {id}"));
            return Ok(());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(Fail::Msg(format!("Application {id} was not killed in time"), 255))
}

fn attempt(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    if has(a, "-list") {
        let id = need(a, "-list")?;
        get_app(rm, id)?;
        let v = rm.get(&format!("/ws/v1/cluster/apps/{id}/appattempts"))?;
        let atts = list(&v, "appAttempts", "appAttempt");
        w(out, &format!("Total number of application attempts :{}", atts.len()));
        let cols = [30, 20, 35, 35];
        w(out, &row(&[("ApplicationAttempt-Id", cols[0]), ("State", cols[1]), ("AM-Container-Id", cols[2]), ("Tracking-URL", cols[3])]));
        for at in atts {
            let url = s(at, "trackingUrl");
            let cells =
                [s(at, "appAttemptId"), s(at, "appAttemptState"), s(at, "containerId"), if url.is_empty() { "N/A".into() } else { url }];
            w(out, &row(&cells.iter().zip(cols).map(|(h, c)| (h.as_str(), c)).collect::<Vec<_>>()));
        }
        return Ok(0);
    }
    if let Some(id) = opt(a, "-status") {
        let att: crate::ids::ApplicationAttemptId = id.parse().map_err(|e: String| Fail::Msg(e, 255))?;
        let app = att.app.to_string();
        get_app(rm, &app)?;
        let v = rm.get(&format!("/ws/v1/cluster/apps/{app}/appattempts"))?;
        let Some(at) = list(&v, "appAttempts", "appAttempt").into_iter().find(|x| s(x, "appAttemptId") == id) else {
            return Err(Fail::Msg(format!("Application Attempt with id '{id}' doesn't exist in RM or Timeline Server."), 255));
        };
        w(out, "Application Attempt Report : ");
        for (k, v) in [
            ("ApplicationAttempt-Id", s(at, "appAttemptId")),
            ("State", s(at, "appAttemptState")),
            ("AMContainer", s(at, "containerId")),
            ("Tracking-URL", "N/A".into()),
            ("RPC Port", "-1".into()),
            ("AM Host", s(at, "nodeId").split(':').next().unwrap_or("").to_string()),
            ("Diagnostics", s(at, "diagnosticsInfo")),
        ] {
            w(out, &format!("\t{k} : {v}"));
        }
        return Ok(0);
    }
    Err(Fail::Usage("Invalid Command Usage : ".into()))
}

fn containers_of(rm: &Rest, attempt: &str) -> Result<Vec<Value>, Fail> {
    let att: crate::ids::ApplicationAttemptId = attempt.parse().map_err(|e: String| Fail::Msg(e, 255))?;
    let app = att.app.to_string();
    get_app(rm, &app)?;
    let v = rm.get(&format!("/ws/v1/cluster/apps/{app}/appattempts/{attempt}/containers"))?;
    Ok(list(&v, "containers", "container").into_iter().cloned().collect())
}

fn container(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    if has(a, "-list") {
        let id = need(a, "-list")?;
        let cs = containers_of(rm, id)?;
        w(out, &format!("Total number of containers :{}", cs.len()));
        let cols = [30, 20, 20, 20, 20, 20, 35];
        let head = ["Container-Id", "Start Time", "Finish Time", "State", "Host", "Node Http Address", "LOG-URL"];
        w(out, &row(&head.iter().zip(cols).map(|(h, c)| (*h, c)).collect::<Vec<_>>()));
        for c in cs {
            let cells = [
                s(&c, "containerId"),
                times(n(&c, "startedTime") as i64),
                times(n(&c, "finishedTime") as i64),
                s(&c, "containerState"),
                s(&c, "nodeId"),
                s(&c, "nodeHttpAddress"),
                s(&c, "logUrl"),
            ];
            w(out, &row(&cells.iter().zip(cols).map(|(h, c)| (h.as_str(), c)).collect::<Vec<_>>()));
        }
        return Ok(0);
    }
    if let Some(id) = opt(a, "-status") {
        let cid: crate::ids::ContainerId = id.parse().map_err(|e: String| Fail::Msg(e, 255))?;
        let Some(c) = containers_of(rm, &cid.attempt.to_string())?.into_iter().find(|c| s(c, "containerId") == id) else {
            return Err(Fail::Msg(format!("Container with id '{id}' doesn't exist in RM or Timeline Server."), 255));
        };
        w(out, "Container Report : ");
        for (k, v) in [
            ("Container-Id", s(&c, "containerId")),
            ("Start-Time", s(&c, "startedTime")),
            ("Finish-Time", s(&c, "finishedTime")),
            ("State", s(&c, "containerState")),
            ("Execution-Type", "GUARANTEED".into()),
            ("LOG-URL", s(&c, "logUrl")),
            ("Host", s(&c, "nodeId")),
            ("NodeHttpAddress", s(&c, "nodeHttpAddress")),
            ("Diagnostics", s(&c, "diagnosticsInfo")),
        ] {
            w(out, &format!("\t{k} : {v}"));
        }
        return Ok(0);
    }
    Err(Fail::Usage("Invalid Command Usage : ".into()))
}

fn node(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    if has(a, "-list") {
        let states: Vec<String> = if has(a, "-all") {
            NodeState::ALL.iter().map(|s| s.name().to_string()).collect()
        } else if let Some(st) = opt(a, "-states") {
            let v = csv(Some(st));
            for x in &v {
                if x.parse::<NodeState>().is_err() {
                    return Err(Fail::Msg(format!("The node state {x} is invalid."), 255));
                }
            }
            v
        } else {
            vec!["RUNNING".into()]
        };
        let v = rm.get("/ws/v1/cluster/nodes")?;
        let nodes: Vec<&Value> = list(&v, "nodes", "node").into_iter().filter(|nd| states.contains(&s(nd, "state"))).collect();
        w(out, &format!("Total Nodes:{}", nodes.len()));
        let cols = [16, 15, 17, 28];
        w(out, &row(&[("Node-Id", 16), ("Node-State", 15), ("Node-Http-Address", 17), ("Number-of-Running-Containers", 28)]));
        for nd in nodes {
            let cells = [s(nd, "id"), s(nd, "state"), s(nd, "nodeHTTPAddress"), s(nd, "numContainers")];
            w(out, &row(&cells.iter().zip(cols).map(|(h, c)| (h.as_str(), c)).collect::<Vec<_>>()));
        }
        return Ok(0);
    }
    if let Some(id) = opt(a, "-status") {
        let nd = match rm.get(&format!("/ws/v1/cluster/nodes/{id}")) {
            Ok(v) => v["node"].clone(),
            Err(e) if e.status == 404 || e.status == 400 => {
                return Err(Fail::Msg(format!("Could not find the node report for node id : {id}"), 255))
            }
            Err(e) => return Err(e.into()),
        };
        w(out, "Node Report : ");
        for (k, v) in [
            ("Node-Id", s(&nd, "id")),
            ("Rack", s(&nd, "rack")),
            ("Node-State", s(&nd, "state")),
            ("Node-Http-Address", s(&nd, "nodeHTTPAddress")),
            ("Last-Health-Update", times(n(&nd, "lastHealthUpdate") as i64)),
            ("Health-Report", s(&nd, "healthReport")),
            ("Containers", s(&nd, "numContainers")),
            ("Memory-Used", format!("{}MB", s(&nd, "usedMemoryMB"))),
            ("Memory-Capacity", format!("{}MB", n(&nd, "usedMemoryMB") as i64 + n(&nd, "availMemoryMB") as i64)),
            ("CPU-Used", format!("{} vcores", s(&nd, "usedVirtualCores"))),
            ("CPU-Capacity", format!("{} vcores", n(&nd, "usedVirtualCores") as i64 + n(&nd, "availableVirtualCores") as i64)),
        ] {
            w(out, &format!("\t{k} : {v}"));
        }
        return Ok(0);
    }
    Err(Fail::Usage("Invalid Command Usage : ".into()))
}

/// `yarn logs`: reads each container's log files from its NodeManager (no log aggregation).
fn logs(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    let id = need(a, "-applicationId")?;
    get_app(rm, id)?;
    let only = opt(a, "-containerId");
    let files: Option<Vec<String>> = opt(a, "-log_files").map(|f| f.split(',').map(|x| x.trim().to_string()).collect());
    let atts = rm.get(&format!("/ws/v1/cluster/apps/{id}/appattempts"))?;
    let mut printed = 0;
    for at in list(&atts, "appAttempts", "appAttempt") {
        let att_id = s(at, "appAttemptId");
        let cs = rm.get(&format!("/ws/v1/cluster/apps/{id}/appattempts/{att_id}/containers"))?;
        for c in list(&cs, "containers", "container") {
            let cid = s(c, "containerId");
            if only.map(|o| o != cid).unwrap_or(false) {
                continue;
            }
            let nm = Rest::new(&s(c, "nodeHttpAddress"));
            let Ok(listing) = nm.get(&format!("/ws/v1/node/containers/{cid}/logs")) else {
                w(out, &format!("Can not find the logs for the container {cid} on node {}", s(c, "nodeId")));
                continue;
            };
            let node_id = s(c, "nodeId").replace(':', "_");
            let mut entries: Vec<Value> = match listing.get("containerLogsInfo").and_then(|x| x.get("containerLogInfo")) {
                Some(Value::Array(v)) => v.clone(),
                Some(o @ Value::Object(_)) => vec![o.clone()],
                _ => Vec::new(),
            };
            entries.sort_by_key(|e| s(e, "fileName"));
            for e in entries {
                let name = s(&e, "fileName");
                if files.as_ref().map(|f| !f.iter().any(|x| x == &name || x == "ALL")).unwrap_or(false) {
                    continue;
                }
                let text = nm.get_text(&format!("{}/ws/v1/node/containerlogs/{cid}/{name}", nm.base())).unwrap_or_default();
                w(out, &format!("\n\nContainer: {cid} on {node_id}"));
                w(out, "LogAggregationType: LOCAL");
                w(out, &"=".repeat(cid.len() + node_id.len() + 15));
                w(out, &format!("LogType:{name}"));
                w(out, &format!("LogLastModifiedTime:{}", times(n(&e, "lastModifiedTime") as i64)));
                w(out, &format!("LogLength:{}", text.len()));
                w(out, "LogContents:");
                let _ = write!(out, "{text}");
                w(out, &format!("\nEnd of LogType:{name}"));
                w(out, &"*".repeat(102));
                printed += 1;
            }
        }
    }
    if printed == 0 && only.is_some() {
        return Err(Fail::Msg(format!("Can not find the container:{} in the application:{id}", only.unwrap_or_default()), 255));
    }
    Ok(0)
}
