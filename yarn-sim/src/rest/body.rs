//! Request bodies of the RM's writeable REST APIs, read from JSON or from XML (via
//! [`super::render::xml_to_value`]), so numbers may arrive as strings. Every problem is a
//! message that names the field.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::ids::ApplicationId;
use crate::records::{
    ApplicationSubmissionContext, ContainerLaunchContext, LocalResource, LocalResourceType, LocalResourceVisibility, Resource,
};

/// Parses a body by content type: XML when it says so (or looks like it), else JSON.
pub fn parse(content_type: Option<&str>, bytes: &[u8]) -> Result<Value, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "request body is not UTF-8".to_string())?;
    let is_xml = content_type.map(|c| c.contains("xml")).unwrap_or(false) || text.trim_start().starts_with('<');
    if is_xml {
        super::render::xml_to_value(text)
    } else {
        if text.trim().is_empty() {
            return Err("request body is empty".into());
        }
        serde_json::from_str(text).map_err(|e| format!("malformed JSON: {e}"))
    }
}

/// Strips a single XML root (e.g. `<application-submission-context>`) if present.
fn unwrap_root<'a>(v: &'a Value, root: &str) -> &'a Value {
    match v {
        Value::Object(m) if m.len() == 1 && m.contains_key(root) => &m[root],
        _ => v,
    }
}

fn field<'a>(v: &'a Value, k: &str) -> Option<&'a Value> {
    v.get(k).filter(|x| !x.is_null())
}

fn string(v: &Value, k: &str) -> Result<Option<String>, String> {
    match field(v, k) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(_) => Err(format!("field '{k}' must be a string")),
    }
}

fn int(v: &Value, k: &str) -> Result<Option<i64>, String> {
    match field(v, k) {
        None => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(|| format!("field '{k}' must be an integer, got {n}")),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| format!("field '{k}' must be an integer, got \"{s}\"")),
        Some(other) => Err(format!("field '{k}' must be an integer, got {other}")),
    }
}

fn boolean(v: &Value, k: &str) -> Result<Option<bool>, String> {
    match field(v, k) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(format!("field '{k}' must be true or false, got {other}")),
    }
}

/// `{"entry":[{"key":..,"value":..}]}`, a single entry object, or a plain map.
fn entries(v: &Value, k: &str) -> Result<Vec<(String, Value)>, String> {
    let Some(x) = field(v, k) else { return Ok(Vec::new()) };
    if let Value::String(s) = x {
        if s.is_empty() {
            return Ok(Vec::new());
        }
    }
    let list = match x.get("entry") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        Some(_) => return Err(format!("field '{k}.entry' must be a list of {{key, value}}")),
        None => match x {
            Value::Object(m) => return Ok(m.iter().map(|(a, b)| (a.clone(), b.clone())).collect()),
            _ => return Err(format!("field '{k}' must be an object with 'entry'")),
        },
    };
    list.iter()
        .map(|e| {
            let key = string(e, "key")?.ok_or_else(|| format!("an entry of '{k}' has no key"))?;
            Ok((key, e.get("value").cloned().unwrap_or(Value::Null)))
        })
        .collect()
}

fn resource(v: &Value, k: &str) -> Result<Option<Resource>, String> {
    let Some(r) = field(v, k) else { return Ok(None) };
    let memory = int(r, "memory")?.or(int(r, "memory-mb")?).unwrap_or(0);
    let vcores = int(r, "vCores")?.or(int(r, "vcores")?).unwrap_or(0);
    if memory < 0 || vcores < 0 {
        return Err(format!(
            "Invalid resource request, requested resource type=[{}] < 0 or greater than maximum allowed allocation. Requested resource=<memory:{memory}, vCores:{vcores}>",
            if memory < 0 { "memory-mb" } else { "vcores" }
        ));
    }
    Ok(Some(Resource::new(memory as u64, vcores as u32)))
}

fn launch_context(v: &Value) -> Result<ContainerLaunchContext, String> {
    let mut ctx = ContainerLaunchContext::default();
    for (key, val) in entries(v, "local-resources")? {
        let resource = string(&val, "resource")?.ok_or_else(|| format!("local resource '{key}' has no 'resource'"))?;
        let kind = match string(&val, "type")?.as_deref() {
            None | Some("FILE") => LocalResourceType::File,
            Some("ARCHIVE") => LocalResourceType::Archive,
            Some("PATTERN") => LocalResourceType::Pattern,
            Some(o) => return Err(format!("local resource '{key}': unknown type {o}")),
        };
        let visibility = match string(&val, "visibility")?.as_deref() {
            None | Some("APPLICATION") => LocalResourceVisibility::Application,
            Some("PUBLIC") => LocalResourceVisibility::Public,
            Some("PRIVATE") => LocalResourceVisibility::Private,
            Some(o) => return Err(format!("local resource '{key}': unknown visibility {o}")),
        };
        let size = int(&val, "size")?.unwrap_or(-1);
        let timestamp = int(&val, "timestamp")?.unwrap_or(-1);
        ctx.local_resources.insert(key, LocalResource { resource, kind, visibility, size, timestamp });
    }
    for (key, val) in entries(v, "environment")? {
        let s = match val {
            Value::String(s) => s,
            Value::Null => String::new(),
            other => other.to_string(),
        };
        ctx.environment.insert(key, s);
    }
    if let Some(c) = field(v, "commands") {
        let cmd = match c.get("command") {
            Some(Value::String(s)) => vec![s.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            _ => return Err("field 'commands' must be {\"command\": \"...\"}".into()),
        };
        ctx.commands = cmd;
    }
    Ok(ctx)
}

/// `POST /ws/v1/cluster/apps`.
pub fn submission_context(body: &Value) -> Result<ApplicationSubmissionContext, String> {
    let v = unwrap_root(body, "application-submission-context");
    if !v.is_object() {
        return Err("the body must be an application-submission-context object".into());
    }
    let id_text = string(v, "application-id")?.ok_or("Trying to submit an application without an application-id")?;
    let id: ApplicationId = id_text.parse()?;
    let mut ctx = ApplicationSubmissionContext::new(id);
    if let Some(n) = string(v, "application-name")? {
        ctx.application_name = n;
    }
    if let Some(q) = string(v, "queue")? {
        ctx.queue = q;
    }
    if let Some(p) = int(v, "priority")? {
        ctx.priority = p as i32;
    }
    if let Some(spec) = field(v, "am-container-spec") {
        ctx.am_container_spec = launch_context(spec)?;
        for (key, val) in entries(spec, "application-acls")? {
            let access: crate::rm::acls::ApplicationAccessType = key.parse()?;
            let acl = match val {
                Value::String(s) => s,
                Value::Null => String::new(),
                other => return Err(format!("application-acls {key}: the value must be an ACL string, got {other}")),
            };
            ctx.application_acls.insert(access, acl);
        }
    }
    if let Some(t) = field(v, "application-timeouts") {
        for item in one_or_many(t.get("timeout").unwrap_or(t)) {
            let kind = string(item, "type")?.unwrap_or_default();
            if kind != "LIFETIME" {
                return Err(format!("application-timeouts: unknown timeout type '{kind}' (only LIFETIME exists)"));
            }
            let secs = int(item, "value")?.ok_or("application-timeouts: a LIFETIME timeout needs a value in seconds")?;
            if secs <= 0 {
                return Err(format!("Invalid application timeout, value={secs} for type=LIFETIME"));
            }
            ctx.lifetime_secs = Some(secs);
        }
    }
    if let Some(b) = boolean(v, "unmanaged-AM")? {
        ctx.unmanaged_am = b;
    }
    if let Some(n) = int(v, "max-app-attempts")? {
        ctx.max_app_attempts = n as i32;
    }
    if let Some(r) = resource(v, "resource")? {
        ctx.resource = r;
    }
    if let Some(t) = string(v, "application-type")? {
        ctx.application_type = t;
    }
    if let Some(b) = boolean(v, "keep-containers-across-application-attempts")? {
        ctx.keep_containers_across_application_attempts = b;
    }
    if let Some(t) = field(v, "application-tags") {
        let tags = match t.get("tag").unwrap_or(t) {
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(String::from)).collect(),
            Value::String(s) => s.split(',').map(|x| x.trim().to_string()).filter(|x| !x.is_empty()).collect(),
            _ => return Err("field 'application-tags' must be a list of tags".into()),
        };
        ctx.application_tags = tags;
    }
    if let Some(n) = int(v, "attempt-failures-validity-interval")? {
        ctx.attempt_failures_validity_interval = n;
    }
    Ok(ctx)
}

fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    }
}

/// `PUT /apps/{id}/queue`: `{"queue":"q"}` (XML `<appqueue>`).
pub fn app_queue(body: &Value) -> Result<String, String> {
    let v = unwrap_root(body, "appqueue");
    string(v, "queue")?.filter(|q| !q.trim().is_empty()).ok_or_else(|| "the body must be {\"queue\": \"<queue name>\"}".to_string())
}

/// `PUT /apps/{id}/priority`: `{"priority":N}` (XML `<applicationpriority>`).
pub fn app_priority(body: &Value) -> Result<i32, String> {
    let v = unwrap_root(body, "applicationpriority");
    let p = int(v, "priority")?.ok_or("the body must be {\"priority\": <integer>}")?;
    i32::try_from(p).map_err(|_| format!("field 'priority' is out of range: {p}"))
}

/// `PUT /apps/{id}/timeout`: `{"timeout":{"type":"LIFETIME","expiryTime":"..."}}`; the
/// expiry time as given (ISO 8601, parsed by the caller).
pub fn app_timeout(body: &Value) -> Result<(String, String), String> {
    let v = unwrap_root(body, "timeout");
    let kind = string(v, "type")?.ok_or("the body must be {\"timeout\": {\"type\": \"LIFETIME\", \"expiryTime\": \"...\"}}")?;
    let expiry = string(v, "expiryTime")?.ok_or("the timeout has no expiryTime")?;
    Ok((kind, expiry))
}

/// `PUT /apps/{id}/state`: the target state.
pub fn app_state(body: &Value) -> Result<String, String> {
    let v = unwrap_root(body, "appstate");
    string(v, "state")?.ok_or_else(|| "the body must be {\"state\": \"KILLED\"}".to_string())
}

/// Query-string lists (`states=RUNNING,ACCEPTED`), upper-cased.
pub fn csv_upper(s: &str) -> Vec<String> {
    s.split(',').map(|x| x.trim().to_ascii_uppercase()).filter(|x| !x.is_empty()).collect()
}

pub type EnvMap = BTreeMap<String, String>;

#[cfg(test)]
mod tests {
    use super::*;

    const DSHELL: &str = r#"{
      "application-id":"application_1404203615263_0001",
      "application-name":"test",
      "am-container-spec": {
        "local-resources": {"entry": [{"key":"AppMaster.jar","value":{"resource":"hdfs://nn:9000/x/AppMaster.jar","type":"FILE","visibility":"APPLICATION","size": 43004,"timestamp": 1405452071209}}]},
        "commands": {"command":"java -Xmx10m Am 1><LOG_DIR>/AppMaster.stdout 2><LOG_DIR>/AppMaster.stderr"},
        "environment": {"entry": [{"key": "DISTRIBUTEDSHELLSCRIPTTIMESTAMP", "value": "1405459400754"}]}
      },
      "unmanaged-AM":false, "max-app-attempts":2, "resource": {"memory":1024, "vCores":1},
      "application-type":"YARN", "keep-containers-across-application-attempts":false,
      "attempt-failures-validity-interval":3600000
    }"#;

    #[test]
    fn reads_the_documented_json_example() {
        let ctx = submission_context(&parse(None, DSHELL.as_bytes()).unwrap()).unwrap();
        assert_eq!(ctx.application_id.to_string(), "application_1404203615263_0001");
        assert_eq!(ctx.max_app_attempts, 2);
        assert_eq!(ctx.resource, Resource::new(1024, 1));
        assert_eq!(ctx.am_container_spec.local_resources["AppMaster.jar"].size, 43004);
        assert_eq!(ctx.am_container_spec.environment["DISTRIBUTEDSHELLSCRIPTTIMESTAMP"], "1405459400754");
        assert_eq!(ctx.attempt_failures_validity_interval, 3_600_000);
    }

    #[test]
    fn reads_xml_with_string_numbers_and_tags() {
        let xml = r#"<?xml version="1.0"?><application-submission-context>
          <application-id>application_1_0002</application-id><application-name>x</application-name>
          <queue>qa</queue><max-app-attempts>3</max-app-attempts>
          <resource><memory>2048</memory><vCores>2</vCores></resource>
          <application-tags><tag>tag 2</tag><tag>tag1</tag></application-tags>
          <am-container-spec><commands><command>sleep 1</command></commands></am-container-spec>
        </application-submission-context>"#;
        let ctx = submission_context(&parse(Some("application/xml"), xml.as_bytes()).unwrap()).unwrap();
        assert_eq!(ctx.queue, "qa");
        assert_eq!(ctx.resource, Resource::new(2048, 2));
        assert_eq!(ctx.application_tags, vec!["tag 2", "tag1"]);
        assert_eq!(ctx.am_container_spec.commands, vec!["sleep 1"]);
    }

    #[test]
    fn bad_bodies_name_the_problem() {
        let e = |s: &str| parse(None, s.as_bytes()).and_then(|v| submission_context(&v)).unwrap_err();
        assert!(e("{").starts_with("malformed JSON"));
        assert!(e("").contains("empty"));
        assert!(e("{}").contains("without an application-id"));
        assert_eq!(e(r#"{"application-id":"app_1"}"#), "Invalid ApplicationId: app_1");
        assert!(e(r#"{"application-id":"application_1_0001","max-app-attempts":"two"}"#).contains("'max-app-attempts' must be an integer"));
        assert!(e(r#"{"application-id":"application_1_0001","resource":{"memory":-5}}"#).contains("< 0"));
        assert_eq!(app_state(&serde_json::json!({"state": "KILLED"})).unwrap(), "KILLED");
    }

    #[test]
    fn deep_json_is_refused_by_serde_json_s_recursion_limit() {
        // The same attack as the 149,000-deep XML, in JSON: a clear error, no overflow.
        for deep in ["[".repeat(149_000), "{\"a\":".repeat(149_000) + "1" + &"}".repeat(149_000)] {
            let e = parse(Some("application/json"), deep.as_bytes()).unwrap_err();
            assert!(e.starts_with("malformed JSON: recursion limit exceeded"), "{e}");
        }
        // The deepest real body (a submission context) is far inside the limit.
        assert!(parse(None, ("[".repeat(100) + &"]".repeat(100)).as_bytes()).is_ok());
    }
}

/// Fuzzing the body readers with proptest (cargo-fuzz needs a nightly toolchain): arbitrary
/// bytes, structure-aware deep nesting and huge tokens. Bounded by default; `FUZZ_CASES=N`
/// (or `make fuzz`) runs more.
#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    use super::*;

    fn cases() -> u32 {
        ["FUZZ_CASES", "PROPTEST_CASES"].iter().find_map(|k| std::env::var(k).ok()?.parse().ok()).unwrap_or(128)
    }

    /// Submission contexts and kill requests with fields moved, mistyped, repeated, nested.
    fn structured() -> impl Strategy<Value = (Option<&'static str>, String)> {
        let field = prop_oneof![
            Just("application-id"),
            Just("application-name"),
            Just("queue"),
            Just("priority"),
            Just("am-container-spec"),
            Just("local-resources"),
            Just("entry"),
            Just("key"),
            Just("value"),
            Just("environment"),
            Just("commands"),
            Just("command"),
            Just("resource"),
            Just("memory"),
            Just("vCores"),
            Just("application-tags"),
            Just("tag"),
            Just("max-app-attempts"),
            Just("state"),
            Just("unmanaged-AM"),
            Just("application-submission-context"),
            Just("appstate"),
            Just("application-acls"),
            Just("application-timeouts"),
            Just("timeout"),
            Just("type"),
            Just("expiryTime"),
            Just("appqueue"),
            Just("applicationpriority"),
        ];
        let leaf = prop_oneof![
            Just("application_1_0001".to_string()),
            Just("KILLED".to_string()),
            Just("VIEW_APP".to_string()),
            Just("LIFETIME".to_string()),
            Just("-5".to_string()),
            Just("true".to_string()),
            any::<i64>().prop_map(|n| n.to_string()),
            "[a-z0-9 &<>]{0,12}",
        ];
        // Each value is one element, rendered.
        let tree = (field.clone(), leaf).prop_map(|(k, v)| format!("<{k}>{v}</{k}>")).prop_recursive(6, 48, 6, move |inner| {
            (field.clone(), proptest::collection::vec(inner, 0..6)).prop_map(|(k, kids)| format!("<{k}>{}</{k}>", kids.concat()))
        });
        let as_xml =
            tree.prop_map(|x| (Some("application/xml"), format!("<application-submission-context>{x}</application-submission-context>")));
        let json_value = any::<i64>().prop_map(serde_json::Value::from).prop_recursive(6, 48, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..5).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(
                    prop_oneof![
                        Just("application-id".to_string()),
                        Just("resource".to_string()),
                        Just("memory".to_string()),
                        Just("am-container-spec".to_string()),
                        Just("environment".to_string()),
                        Just("entry".to_string()),
                        Just("commands".to_string()),
                        Just("state".to_string()),
                        "[a-z-]{1,8}"
                    ],
                    inner,
                    0..5,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        });
        let as_json = json_value.prop_map(|v| (Some("application/json"), v.to_string()));
        prop_oneof![as_xml, as_json]
    }

    /// What a hostile client sends: deep nesting, huge tokens, junk.
    fn hostile() -> impl Strategy<Value = (Option<&'static str>, String)> {
        prop_oneof![
            (1usize..200_000).prop_map(|d| (None, "<a>".repeat(d) + &"</a>".repeat(d))),
            (1usize..200_000).prop_map(|d| (None, "<a>".repeat(d))),
            (1usize..200_000).prop_map(|d| (Some("application/json"), "[".repeat(d) + &"]".repeat(d))),
            (1usize..200_000).prop_map(|d| (Some("application/json"), "{\"a\":".repeat(d) + "0" + &"}".repeat(d))),
            (1usize..1_000_000).prop_map(|n| (None, format!(r#"{{"application-id":"application_1_{}"}}"#, "9".repeat(n)))),
            (1usize..1_000_000).prop_map(|n| (None, format!(r#"{{"application-id":"application_1_0001","priority":{}}}"#, "9".repeat(n)))),
            (1usize..1_000_000).prop_map(|n| (None, format!("<appstate><state>{}</state></appstate>", "K".repeat(n)))),
            (1usize..100_000).prop_map(|n| (None, format!("<a>{}</a>", "&amp;".repeat(n)))),
            (1usize..100_000).prop_map(|n| (None, format!("<a {}/>", (0..n).map(|i| format!("x{i}=\"1\" ")).collect::<String>()))),
        ]
    }

    fn read(ct: Option<&str>, bytes: &[u8]) {
        // Either reader may refuse; neither may panic, overflow or hang.
        if let Ok(v) = parse(ct, bytes) {
            let _ = submission_context(&v);
            let _ = app_state(&v);
            let _ = app_queue(&v);
            let _ = app_priority(&v);
            let _ = app_timeout(&v);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048), xml in any::<bool>()) {
            read(if xml { Some("application/xml") } else { None }, &bytes);
        }

        #[test]
        fn structured_bodies((ct, text) in structured()) {
            read(ct, text.as_bytes());
        }

        #[test]
        fn hostile_bodies((ct, text) in hostile()) {
            read(ct, text.as_bytes());
        }

        #[test]
        fn too_deep_is_an_error_not_a_crash(depth in 65usize..300_000, json in any::<bool>()) {
            let text = if json { "[".repeat(depth + 100) + &"]".repeat(depth + 100) } else { "<a>".repeat(depth) + &"</a>".repeat(depth) };
            let e = parse(None, text.as_bytes()).unwrap_err();
            prop_assert!(e.contains("nested deeper than") || e.contains("recursion limit"), "{}", e);
        }
    }
}
