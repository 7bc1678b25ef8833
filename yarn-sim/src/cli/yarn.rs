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
  application -changeQueue <Queue Name> -appId <Application ID>   (-movetoqueue <Application ID> -queue <Queue Name>)
  application -updatePriority <Priority> -appId <Application ID>
  application -updateLifetime <Timeout> -appId <Application ID>
  queue -status <Queue Name>
  applicationattempt -list <Application ID>
  applicationattempt -status <Application Attempt ID>
  container -list <Application Attempt ID>
  container -status <Container ID>
  node -list [-all] [-states States]
  node -status <NodeId>
  logs -applicationId <Application ID> [-containerId <Container ID>] [-am <AM Containers>] [-log_files <name,...>]
       [-size <bytes>] [-out <directory>]
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
        "queue" => queue(&rm, rest, out),
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
        // ApplicationCLI prints each timeout from the report's ApplicationTimeout.
        let timeouts = rm.get(&format!("/ws/v1/cluster/apps/{id}/timeouts"))?;
        for t in list(&timeouts, "timeouts", "timeout") {
            w(
                out,
                &format!(
                    "\tTimeoutType : {}\tExpiryTime : {}\tRemainingTime : {}seconds",
                    s(t, "type"),
                    s(t, "expiryTime"),
                    s(t, "remainingTimeInSeconds")
                ),
            );
        }
        return Ok(0);
    }
    if let Some(target) =
        opt(a, "-changeQueue").map(String::from).or_else(|| opt(a, "-queue").filter(|_| has(a, "-movetoqueue")).map(String::from))
    {
        let id = if has(a, "-movetoqueue") { need(a, "-movetoqueue")? } else { need(a, "-appId")? };
        get_app(rm, id)?;
        w(out, &format!("Moving application {id} to queue {target}"));
        let (_, v) = rm.put(&format!("/ws/v1/cluster/apps/{id}/queue"), json!({ "queue": target }))?;
        if s(&v, "queue").is_empty() {
            return Err(Fail::Msg(format!("Moving application {id} failed: no queue in the answer"), 255));
        }
        w(out, "Successfully completed move.");
        return Ok(0);
    }
    if let Some(p) = opt(a, "-updatePriority") {
        let id = need(a, "-appId")?;
        let priority: i32 = p.parse().map_err(|_| Fail::Msg(format!("Invalid priority {p}: it must be an integer"), 255))?;
        get_app(rm, id)?;
        w(out, &format!("Updating priority of an application {id}"));
        let (_, v) = rm.put(&format!("/ws/v1/cluster/apps/{id}/priority"), json!({ "priority": priority }))?;
        if n(&v, "priority") as i32 == priority {
            w(out, &format!("Successfully updated the application {id} with priority '{priority}'"));
        } else {
            w(out, &format!("Updated priority of an application  {id} to cluster max priority OR keeping old priority as application is in final states"));
        }
        return Ok(0);
    }
    if let Some(t) = opt(a, "-updateLifetime") {
        let id = need(a, "-appId")?;
        let secs: u64 = t.parse().map_err(|_| Fail::Msg(format!("Invalid lifetime {t}: it must be a number of seconds"), 255))?;
        get_app(rm, id)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let expiry = crate::rest::rm_app::iso8601(now + secs * 1000);
        w(out, &format!("Updating timeout for given timeoutType: LIFETIME of an application {id}"));
        let (_, v) =
            rm.put(&format!("/ws/v1/cluster/apps/{id}/timeout"), json!({"timeout": {"type": "LIFETIME", "expiryTime": expiry}}))?;
        w(out, &format!("Successfully updated LIFETIME of an application {id}. New expiry time is {}", s(&v["timeout"], "expiryTime")));
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
    let path = format!("/ws/v1/cluster/apps/{id}/state");
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

/// `yarn queue -status <queue>` as QueueCLI prints it, from the scheduler's queue tree.
fn queue(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    let name = need(a, "-status")?;
    let sched = rm.get("/ws/v1/cluster/scheduler")?;
    fn find<'a>(q: &'a Value, name: &str, path: &str) -> Option<&'a Value> {
        let here = s(q, "queueName");
        let full = if path.is_empty() { here.clone() } else { format!("{path}.{here}") };
        if here == name || full == name {
            return Some(q);
        }
        list(q, "queues", "queue").into_iter().find_map(|c| find(c, name, &full))
    }
    let Some(q) = find(&sched["scheduler"]["schedulerInfo"], name, "") else {
        w(out, &format!("Cannot get queue from RM by queueName = {name}, please check."));
        return Ok(255);
    };
    // DecimalFormat("#.0") of a fraction times 100: 0 prints as ".0".
    let pct = |v: f64| {
        let t = format!("{v:.1}");
        format!("{}%", t.strip_prefix("0.").map(|r| format!(".{r}")).unwrap_or(t))
    };
    let state = if s(q, "state").is_empty() { "RUNNING".to_string() } else { s(q, "state") };
    w(out, "Queue Information : ");
    w(out, &format!("Queue Name : {}", s(q, "queueName")));
    w(out, &format!("\tState : {state}"));
    w(out, &format!("\tCapacity : {}", pct(n(q, "capacity"))));
    w(out, &format!("\tCurrent Capacity : {}", pct(n(q, "usedCapacity"))));
    w(out, &format!("\tMaximum Capacity : {}", pct(n(q, "maxCapacity"))));
    w(out, "\tDefault Node Label expression : <DEFAULT_PARTITION>");
    w(out, "\tAccessible Node Labels : *");
    w(out, "\tPreemption : disabled");
    w(out, "\tIntra-queue Preemption : disabled");
    Ok(0)
}

/// `yarn logs`: reads each container's log files from its NodeManager (no log aggregation).
fn logs(rm: &Rest, a: &[String], out: &mut dyn Write) -> R {
    let id = need(a, "-applicationId")?;
    get_app(rm, id)?;
    let only = opt(a, "-containerId");
    let files: Option<Vec<String>> = opt(a, "-log_files").map(|f| f.split(',').map(|x| x.trim().to_string()).collect());
    // LogsCLI: -size N prints the first N bytes of each file, -size -N the last N.
    let size: Option<i64> =
        match opt(a, "-size") {
            None => None,
            Some(v) => Some(v.parse().map_err(|_| {
                Fail::Msg(format!("Invalid value {v} for -size: it must be a number of bytes (negative: from the end)"), 255)
            })?),
        };
    let atts = rm.get(&format!("/ws/v1/cluster/apps/{id}/appattempts"))?;
    let attempts = list(&atts, "appAttempts", "appAttempt");
    // -am 1,2 / -am -1 (the latest) / -am ALL: only those attempts' AM containers.
    let am_only: Option<Vec<String>> = match opt(a, "-am") {
        None => None,
        Some(v) => {
            let bad = || {
                Fail::Msg(
                    "Invalid input for option -am. Valid inputs are 'ALL', -1 and any other integer which is larger than 0.".into(),
                    255,
                )
            };
            let ams: Vec<String> = attempts.iter().map(|at| s(at, "containerId")).collect();
            let mut pick = Vec::new();
            for part in v.split(',').map(str::trim) {
                if part.eq_ignore_ascii_case("ALL") {
                    pick.extend(ams.iter().cloned());
                } else {
                    let k: i64 = part.parse().map_err(|_| bad())?;
                    match k {
                        -1 => pick.extend(ams.last().cloned()),
                        k if k > 0 => pick.extend(ams.get(k as usize - 1).cloned()),
                        _ => return Err(bad()),
                    }
                }
            }
            Some(pick)
        }
    };
    let out_dir = opt(a, "-out").map(std::path::PathBuf::from);
    let mut printed = 0;
    for at in attempts {
        let att_id = s(at, "appAttemptId");
        let cs = rm.get(&format!("/ws/v1/cluster/apps/{id}/appattempts/{att_id}/containers"))?;
        for c in list(&cs, "containers", "container") {
            let cid = s(c, "containerId");
            if only.map(|o| o != cid).unwrap_or(false) || am_only.as_ref().map(|ams| !ams.contains(&cid)).unwrap_or(false) {
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
            // -out DIR: each container's logs go to DIR/<node>/<container> instead of stdout.
            let mut file_out: Option<std::fs::File> = None;
            if let Some(dir) = &out_dir {
                let node_dir = dir.join(&node_id);
                std::fs::create_dir_all(&node_dir).map_err(|e| Fail::Msg(format!("Cannot create {}: {e}", node_dir.display()), 255))?;
                let path = node_dir.join(&cid);
                file_out = Some(std::fs::File::create(&path).map_err(|e| Fail::Msg(format!("Cannot write {}: {e}", path.display()), 255))?);
            }
            let out: &mut dyn Write = match file_out.as_mut() {
                Some(f) => f,
                None => &mut *out,
            };
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
                let bytes = text.as_bytes();
                let shown = match size {
                    Some(k) if k >= 0 => &bytes[..(k as usize).min(bytes.len())],
                    Some(k) => &bytes[bytes.len().saturating_sub(k.unsigned_abs() as usize)..],
                    None => bytes,
                };
                let _ = out.write_all(shown);
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
