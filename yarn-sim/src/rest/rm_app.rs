//! The RM's per-application REST resources beyond the report: state, queue, priority,
//! timeouts, one attempt, one attempt container, and `/appstatistics`. Handlers parse the
//! request, call the ResourceManager (which checks the ACLs) and render YARN's shapes;
//! an AccessControlException becomes YARN's 403 with RMWebServices' message.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use engine::live::{wall_now, LiveNode};
use serde_json::{json, Value};

use super::body;
use super::render::{bad_request, error, forbidden, not_found, render, render_value, Format};
use crate::ids::{ApplicationAttemptId, ApplicationId, ContainerId};
use crate::proto::RemoteError;
use crate::records::YarnApplicationState;
use crate::rm::ResourceManager;

type Host = LiveNode<ResourceManager>;
type Q = Query<BTreeMap<String, String>>;

/// Who the request is (simple auth's `user.name`, else the static user "dr.who").
pub fn caller(host: &Host, q: &BTreeMap<String, String>) -> String {
    host.read(|rm| rm.web_user(q.get("user.name").map(String::as_str)))
}

/// JAXB "root-unwrapped" types (AppState, AppQueue, AppPriority): bare fields in JSON, the
/// root element in XML.
fn unwrapped(fmt: Format, status: StatusCode, root: &str, v: Value) -> Response {
    match fmt {
        Format::Json => render_value(fmt, status, v),
        Format::Xml => render(fmt, status, root, v),
    }
}

fn parse_app(fmt: Format, id: &str) -> Result<ApplicationId, Response> {
    id.parse().map_err(|e: String| bad_request(fmt, e))
}

fn app_missing(fmt: Format, id: &str) -> Response {
    not_found(fmt, format!("app with id: {id} not found"))
}

fn body_of(h: &HeaderMap, bytes: &[u8]) -> Result<Value, String> {
    body::parse(h.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()), bytes)
}

/// A refused or failed update: YARN answers an AccessControlException with 403 and
/// RMWebServices' "Unauthorized attempt to ..." text, a state that forbids the change with 400,
/// an absent app with 404.
fn refused(fmt: Format, e: &RemoteError, what: &str, id: &str, user: &str) -> Response {
    match e.exception.as_str() {
        "AccessControlException" => forbidden(fmt, format!("Unauthorized attempt to {what} appid {id} by remote user {user}")),
        "ApplicationNotFoundException" => app_missing(fmt, id),
        _ => error(fmt, StatusCode::BAD_REQUEST, e),
    }
}

pub async fn get_state(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match host.read(|rm| rm.app(&app).map(|a| a.yarn_state())) {
        Some(st) => unwrapped(fmt, StatusCode::OK, "appstate", json!({ "state": st.name() })),
        None => app_missing(fmt, &id),
    }
}

/// `PUT /apps/{id}/state` `{"state":"KILLED"[,"diagnostics":".."]}`: 200 with the final state
/// once killed, 202 (with `Location`) while the kill is under way, 403 without MODIFY_APP.
pub async fn put_state(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>, Query(q): Q, bytes: Bytes) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let v = match body_of(&h, &bytes) {
        Ok(v) => v,
        Err(e) => return bad_request(fmt, e),
    };
    let (target, diagnostics) = match body::app_state(&v) {
        Ok(t) => (t, v.get("appstate").unwrap_or(&v).get("diagnostics").and_then(|d| d.as_str()).map(String::from)),
        Err(e) => return bad_request(fmt, e),
    };
    let user = caller(&host, &q);
    let Some(before) = host.read(|rm| rm.app(&app).map(|a| a.yarn_state())) else { return app_missing(fmt, &id) };
    if target == before.name() {
        return unwrapped(fmt, StatusCode::OK, "appstate", json!({ "state": before.name() }));
    }
    if target != "KILLED" {
        return bad_request(fmt, "Only 'KILLED' is allowed as a target state.");
    }
    match host.with(|rm, cx| rm.kill_application_as(cx, app, &user, diagnostics.as_deref())) {
        Ok(st) if st.is_final() => unwrapped(fmt, StatusCode::OK, "appstate", json!({ "state": st.name() })),
        Ok(_) => {
            let mut r = unwrapped(fmt, StatusCode::ACCEPTED, "appstate", json!({ "state": before.name() }));
            if let Ok(loc) = format!("/ws/v1/cluster/apps/{id}/state").parse() {
                r.headers_mut().insert(header::LOCATION, loc);
            }
            r
        }
        Err(e) => refused(fmt, &e, "kill", &id, &user),
    }
}

pub async fn get_queue(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match host.read(|rm| rm.app(&app).map(|a| a.queue.clone())) {
        Some(queue) => unwrapped(fmt, StatusCode::OK, "appqueue", json!({ "queue": queue })),
        None => app_missing(fmt, &id),
    }
}

/// `PUT /apps/{id}/queue` `{"queue":"q"}`: moves the app (MODIFY_APP, and submit or
/// administer rights on the target queue).
pub async fn put_queue(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>, Query(q): Q, bytes: Bytes) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let target = match body_of(&h, &bytes).and_then(|v| body::app_queue(&v)) {
        Ok(t) => t,
        Err(e) => return bad_request(fmt, e),
    };
    let user = caller(&host, &q);
    let Some(current) = host.read(|rm| rm.app(&app).map(|a| (a.queue.clone(), a.queue_path.clone()))) else {
        return app_missing(fmt, &id);
    };
    if target == current.0 || target == current.1 {
        return unwrapped(fmt, StatusCode::OK, "appqueue", json!({ "queue": current.0 }));
    }
    match host.with(|rm, cx| rm.move_application(cx, app, &user, &target)) {
        Ok(queue) => unwrapped(fmt, StatusCode::OK, "appqueue", json!({ "queue": queue })),
        Err(e) => refused(fmt, &e, "move", &id, &user),
    }
}

pub async fn get_priority(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match host.read(|rm| rm.app(&app).map(|a| a.ctx.priority)) {
        Some(p) => unwrapped(fmt, StatusCode::OK, "applicationpriority", json!({ "priority": p })),
        None => app_missing(fmt, &id),
    }
}

/// `PUT /apps/{id}/priority` `{"priority":N}`: MODIFY_APP; the answer is the priority in force
/// (capped at `yarn.cluster.max-application-priority`).
pub async fn put_priority(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>, Query(q): Q, bytes: Bytes) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let target = match body_of(&h, &bytes).and_then(|v| body::app_priority(&v)) {
        Ok(t) => t,
        Err(e) => return bad_request(fmt, e),
    };
    let user = caller(&host, &q);
    let Some(current) = host.read(|rm| rm.app(&app).map(|a| a.ctx.priority)) else { return app_missing(fmt, &id) };
    if current == target {
        return unwrapped(fmt, StatusCode::OK, "applicationpriority", json!({ "priority": current }));
    }
    match host.with(|rm, cx| rm.update_application_priority(cx, app, &user, target)) {
        Ok(p) => unwrapped(fmt, StatusCode::OK, "applicationpriority", json!({ "priority": p })),
        Err(e) => refused(fmt, &e, "change priority of", &id, &user),
    }
}

/// AppTimeoutInfo: `expiryTime` in ISO 8601 or "UNLIMITED", `remainingTimeInSeconds` (-1 when
/// unlimited).
fn timeout_info(expiry: Option<u64>, now_ms: u64) -> Value {
    match expiry {
        None => json!({"type": "LIFETIME", "expiryTime": "UNLIMITED", "remainingTimeInSeconds": -1}),
        Some(e) => json!({"type": "LIFETIME", "expiryTime": iso8601(e), "remainingTimeInSeconds": e.saturating_sub(now_ms) / 1000}),
    }
}

fn check_timeout_type(fmt: Format, kind: &str) -> Result<(), Response> {
    if kind.eq_ignore_ascii_case("LIFETIME") {
        Ok(())
    } else {
        Err(bad_request(fmt, format!("Invalid application-timeout type {kind}: the only type is LIFETIME")))
    }
}

pub async fn get_timeouts(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    match host.read(|rm| rm.app(&app).map(|_| rm.lifetime_expiry(&app))) {
        Some(e) => render(fmt, StatusCode::OK, "timeouts", json!({ "timeout": [timeout_info(e, wall_now().as_millis())] })),
        None => app_missing(fmt, &id),
    }
}

pub async fn get_timeout(State(host): State<Host>, h: HeaderMap, Path((id, kind)): Path<(String, String)>) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    if let Err(r) = check_timeout_type(fmt, &kind) {
        return r;
    }
    match host.read(|rm| rm.app(&app).map(|_| rm.lifetime_expiry(&app))) {
        Some(e) => render(fmt, StatusCode::OK, "timeout", timeout_info(e, wall_now().as_millis())),
        None => app_missing(fmt, &id),
    }
}

/// `PUT /apps/{id}/timeout` `{"timeout":{"type":"LIFETIME","expiryTime":"2026-11-27T22:51:00.104+0000"}}`.
pub async fn put_timeout(State(host): State<Host>, h: HeaderMap, Path(id): Path<String>, Query(q): Q, bytes: Bytes) -> Response {
    let fmt = Format::from_headers(&h);
    let app = match parse_app(fmt, &id) {
        Ok(a) => a,
        Err(r) => return r,
    };
    let (kind, expiry) = match body_of(&h, &bytes).and_then(|v| body::app_timeout(&v)) {
        Ok(t) => t,
        Err(e) => return bad_request(fmt, e),
    };
    if let Err(r) = check_timeout_type(fmt, &kind) {
        return r;
    }
    let expiry_ms = match parse_iso8601(&expiry) {
        Ok(ms) => ms,
        Err(e) => return bad_request(fmt, e),
    };
    let user = caller(&host, &q);
    match host.with(|rm, cx| rm.update_application_lifetime(cx, app, &user, expiry_ms)) {
        Ok(e) => render(fmt, StatusCode::OK, "timeout", timeout_info(e, wall_now().as_millis())),
        Err(e) => refused(fmt, &e, "change timeout of", &id, &user),
    }
}

pub async fn attempt(State(host): State<Host>, h: HeaderMap, Path((id, attempt)): Path<(String, String)>, Query(q): Q) -> Response {
    let fmt = Format::from_headers(&h);
    if let Err(r) = parse_app(fmt, &id) {
        return r;
    }
    let att: ApplicationAttemptId = match attempt.parse() {
        Ok(a) => a,
        Err(e) => return bad_request(fmt, e),
    };
    let user = caller(&host, &q);
    match host.read(|rm| rm.attempt_info_as(&att, &user)) {
        Some(info) => render(fmt, StatusCode::OK, "appAttempt", serde_json::to_value(info).expect("reports serialize")),
        None => not_found(fmt, format!("appattempt with id: {attempt} not found")),
    }
}

pub async fn container(State(host): State<Host>, h: HeaderMap, Path((id, attempt, cid)): Path<(String, String, String)>) -> Response {
    let fmt = Format::from_headers(&h);
    if let Err(r) = parse_app(fmt, &id) {
        return r;
    }
    let att: ApplicationAttemptId = match attempt.parse() {
        Ok(a) => a,
        Err(e) => return bad_request(fmt, e),
    };
    let container: ContainerId = match cid.parse() {
        Ok(c) => c,
        Err(e) => return bad_request(fmt, e),
    };
    match host.read(|rm| rm.container_report(&att, &container, wall_now())) {
        Some(r) => render(fmt, StatusCode::OK, "container", serde_json::to_value(r).expect("reports serialize")),
        None => not_found(fmt, format!("container with id: {cid} not found")),
    }
}

/// `/appstatistics?states=..&applicationTypes=..` (at most one type, as YARN).
pub async fn app_statistics(State(host): State<Host>, h: HeaderMap, Query(q): Q) -> Response {
    let fmt = Format::from_headers(&h);
    let mut states = Vec::new();
    for st in q.get("states").map(|s| body::csv_upper(s)).unwrap_or_default() {
        match st.parse::<YarnApplicationState>() {
            Ok(s) if !states.contains(&s) => states.push(s),
            Ok(_) => {}
            Err(_) => {
                return bad_request(
                    fmt,
                    format!("Invalid application-state {st} specified. It should be one of NEW, NEW_SAVING, SUBMITTED, ACCEPTED, RUNNING, FINISHED, FAILED, KILLED"),
                )
            }
        }
    }
    let mut types: Vec<String> = q.get("applicationTypes").map(|t| body::csv_upper(t)).unwrap_or_default();
    types.dedup();
    if types.len() > 1 {
        return bad_request(fmt, format!("# of applicationTypes = {}, we temporarily support at most one applicationType", types.len()));
    }
    let items = host.read(|rm| rm.app_statistics(&states, types.first().map(String::as_str)));
    render(fmt, StatusCode::OK, "appStatInfo", json!({ "statItem": serde_json::to_value(items).expect("reports serialize") }))
}

/// Milliseconds since the epoch as YARN prints expiry times (`yyyy-MM-dd'T'HH:mm:ss.SSSZ`),
/// in UTC.
pub fn iso8601(ms: u64) -> String {
    crate::times::format_iso8601(ms.min(i64::MAX as u64) as i64)
}

/// Parses `yyyy-MM-dd'T'HH:mm:ss.SSSZ` (zone `+HHMM`, `-HHMM` or `Z`; millis optional).
pub fn parse_iso8601(s: &str) -> Result<u64, String> {
    let bad = || format!("Invalid date format {s}: expected yyyy-MM-dd'T'HH:mm:ss.SSSZ, e.g. 2026-11-27T22:51:00.104+0000");
    let s = s.trim();
    let (date, rest) = s.split_once('T').ok_or_else(bad)?;
    let mut dp = date.split('-');
    let (y, mo, d): (i64, i64, i64) = match (dp.next(), dp.next(), dp.next(), dp.next()) {
        (Some(y), Some(m), Some(d), None) => (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, d.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    let zone_at = rest.find(['+', '-', 'Z']).ok_or_else(bad)?;
    let (time, zone) = rest.split_at(zone_at);
    let offset_min: i64 = if zone == "Z" {
        0
    } else {
        let digits = zone[1..].replace(':', "");
        if digits.len() != 4 {
            return Err(bad());
        }
        let v: i64 = digits.parse().map_err(|_| bad())?;
        let m = v / 100 * 60 + v % 100;
        if zone.starts_with('-') {
            -m
        } else {
            m
        }
    };
    let (hms, frac) = time.split_once('.').unwrap_or((time, "0"));
    let mut tp = hms.split(':');
    let (hh, mm, ss): (i64, i64, i64) = match (tp.next(), tp.next(), tp.next(), tp.next()) {
        (Some(h), Some(m), Some(s), None) => (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?, s.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    let millis: i64 = format!("{frac:0<3}")[..3].parse().map_err(|_| bad())?;
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || hh > 23 || mm > 59 || ss > 60 {
        return Err(bad());
    }
    // days_from_civil.
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let ms = ((days * 86_400 + hh * 3600 + mm * 60 + ss) - offset_min * 60) * 1000 + millis;
    u64::try_from(ms).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_round_trips_and_reads_offsets() {
        for ms in [0u64, 1_795_237_690_575, 951_782_400_123, 4_102_444_799_999] {
            assert_eq!(parse_iso8601(&iso8601(ms)).unwrap(), ms, "{}", iso8601(ms));
        }
        assert_eq!(iso8601(1_795_237_690_575), "2026-11-21T05:08:10.575+0000");
        // YARN's doc example: 22:51 at +05:30 is 17:21 UTC.
        assert_eq!(iso8601(parse_iso8601("2016-12-05T22:51:00.104+0530").unwrap()), "2016-12-05T17:21:00.104+0000");
        assert_eq!(parse_iso8601("2016-12-05T17:21:00Z").unwrap() % 1000, 0);
        for bad in ["", "tomorrow", "2016-13-05T22:51:00.104+0530", "2016-12-05 22:51:00", "2016-12-05T22:51+0530"] {
            assert!(parse_iso8601(bad).is_err(), "{bad}");
        }
    }
}
