//! Rendering for YARN's REST surfaces: JSON by default, XML when the request's Accept header
//! asks for it, with the same element names (`{"apps":{"app":[..]}}` is `<apps><app/>..</apps>`),
//! and errors as `RemoteException`.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::Writer;
use serde_json::{Map, Value};

use crate::proto::RemoteError;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Format {
    Json,
    Xml,
}

impl Format {
    /// `Accept: application/xml` (or text/xml) selects XML; anything else JSON.
    pub fn from_headers(h: &HeaderMap) -> Format {
        let accept = h.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or("");
        let xml = accept.split(',').map(|p| p.split(';').next().unwrap_or("").trim()).any(|m| m == "application/xml" || m == "text/xml");
        let json_first = accept.split(',').next().map(|m| m.trim().starts_with("application/json")).unwrap_or(false);
        if xml && !json_first {
            Format::Xml
        } else {
            Format::Json
        }
    }
}

/// Renders `{root: body}`. `body` is what serde makes of a report.
pub fn render(fmt: Format, status: StatusCode, root: &str, body: Value) -> Response {
    let mut wrapped = Map::new();
    wrapped.insert(root.to_string(), body);
    render_value(fmt, status, Value::Object(wrapped))
}

/// Renders a value whose single top-level key is the root element.
pub fn render_value(fmt: Format, status: StatusCode, v: Value) -> Response {
    match fmt {
        Format::Json => {
            let body = serde_json::to_string(&v).expect("values serialize");
            (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response()
        }
        Format::Xml => (status, [(header::CONTENT_TYPE, HeaderValue::from_static("application/xml"))], to_xml(&v)).into_response(),
    }
}

/// `{"RemoteException":{"exception","message","javaClassName"}}` with the HTTP status.
pub fn error(fmt: Format, status: StatusCode, e: &RemoteError) -> Response {
    let body = serde_json::json!({"exception": e.exception, "message": e.message, "javaClassName": e.java_class_name});
    render(fmt, status, "RemoteException", body)
}

pub fn bad_request(fmt: Format, message: impl Into<String>) -> Response {
    let e = RemoteError::new("org.apache.hadoop.yarn.webapp.BadRequestException", format!("java.lang.Exception: {}", message.into()));
    error(fmt, StatusCode::BAD_REQUEST, &e)
}

pub fn not_found(fmt: Format, message: impl Into<String>) -> Response {
    let e = RemoteError::new("org.apache.hadoop.yarn.webapp.NotFoundException", format!("java.lang.Exception: {}", message.into()));
    error(fmt, StatusCode::NOT_FOUND, &e)
}

pub fn forbidden(fmt: Format, message: impl Into<String>) -> Response {
    let e = RemoteError::new("org.apache.hadoop.yarn.webapp.ForbiddenException", format!("java.lang.Exception: {}", message.into()));
    error(fmt, StatusCode::FORBIDDEN, &e)
}

/// The request limits of the RM's and NM's web servers, refused as a `RemoteException` in the
/// format the client asked for (413 for a body over 1 MiB, 414 for a URI over 8 KiB).
pub fn limits() -> engine::live::limits::HttpLimits {
    engine::live::limits::HttpLimits::new(refuse_oversize)
}

fn refuse_oversize(h: &HeaderMap, e: engine::live::limits::Exceeded) -> Response {
    let err = RemoteError::new("org.apache.hadoop.yarn.webapp.BadRequestException", format!("java.lang.Exception: {}", e.message()));
    error(Format::from_headers(h), e.status(), &err)
}

/// JSON -> XML with YARN's conventions: object keys are elements, arrays repeat their key,
/// a `type` inside scheduler objects becomes `xsi:type`.
pub fn to_xml(v: &Value) -> String {
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), Some("yes"))));
    if let Value::Object(m) = v {
        for (k, child) in m {
            write_elem(&mut w, k, child, true);
        }
    }
    String::from_utf8(w.into_inner()).expect("utf-8")
}

fn write_elem(w: &mut Writer<Vec<u8>>, name: &str, v: &Value, root: bool) {
    match v {
        Value::Array(items) => {
            for it in items {
                write_elem(w, name, it, false);
            }
        }
        Value::Object(m) => {
            let mut start = BytesStart::new(name);
            let xsi_type = m.get("type").and_then(|t| t.as_str()).filter(|t| t.ends_with("Scheduler") || t.contains("QueueInfo"));
            if root || xsi_type.is_some() {
                start.push_attribute(("xmlns:xsi", "http://www.w3.org/2001/XMLSchema-instance"));
            }
            if let Some(t) = xsi_type {
                start.push_attribute(("xsi:type", t));
            }
            let _ = w.write_event(Event::Start(start));
            for (k, child) in m {
                if k == "type" && xsi_type.is_some() {
                    continue;
                }
                write_elem(w, k, child, false);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
        Value::Null => {
            let _ = w.write_event(Event::Empty(BytesStart::new(name)));
        }
        scalar => {
            let text = match scalar {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let _ = w.write_event(Event::Start(BytesStart::new(name)));
            let _ = w.write_event(Event::Text(BytesText::new(&text)));
            let _ = w.write_event(Event::End(BytesEnd::new(name)));
        }
    }
}

/// XML request body -> JSON value: elements with children become objects, repeated names
/// become arrays, text stays a string (the body readers accept numbers as strings).
/// How deep a request body's elements may nest. YARN's deepest record (a submission context's
/// `am-container-spec/local-resources/entry/value/resource`) is 6 levels; anything far deeper is
/// an attack on the stack (the tree below and its drop are recursive), refused with a 400.
pub const MAX_XML_DEPTH: usize = 64;

pub fn xml_to_value(xml: &str) -> Result<Value, String> {
    use quick_xml::Reader;
    let mut r = Reader::from_str(xml);
    // (name, children, text)
    let mut stack: Vec<(String, Map<String, Value>, String)> = vec![("#doc".into(), Map::new(), String::new())];
    loop {
        match r.read_event() {
            Ok(Event::Start(e)) => {
                if stack.len() > MAX_XML_DEPTH {
                    return Err(format!("malformed XML: elements nested deeper than {MAX_XML_DEPTH} levels"));
                }
                stack.push((String::from_utf8_lossy(e.name().as_ref()).into_owned(), Map::new(), String::new()))
            }
            Ok(Event::Empty(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                insert(&mut stack.last_mut().expect("document frame").1, name, Value::String(String::new()));
            }
            Ok(Event::Text(t)) => {
                let s = t.decode().map_err(|e| e.to_string())?;
                stack.last_mut().expect("document frame").2.push_str(&s);
            }
            Ok(Event::GeneralRef(g)) => {
                let raw = format!("&{};", g.decode().map_err(|e| e.to_string())?);
                let s = quick_xml::escape::unescape(&raw).map_err(|e| e.to_string())?;
                stack.last_mut().expect("document frame").2.push_str(&s);
            }
            Ok(Event::CData(c)) => stack.last_mut().expect("document frame").2.push_str(&String::from_utf8_lossy(&c)),
            Ok(Event::End(_)) => {
                let (name, children, text) = stack.pop().ok_or("unbalanced XML")?;
                let v = if children.is_empty() { Value::String(text.trim().to_string()) } else { Value::Object(children) };
                let parent = stack.last_mut().ok_or("unbalanced XML")?;
                insert(&mut parent.1, name, v);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(format!("malformed XML: {e}")),
        }
    }
    if stack.len() != 1 {
        return Err("malformed XML: unexpected end of document".into());
    }
    let (_, doc, _) = stack.pop().expect("document frame");
    if doc.is_empty() {
        return Err("malformed XML: no root element".into());
    }
    Ok(Value::Object(doc))
}

fn insert(m: &mut Map<String, Value>, k: String, v: Value) {
    match m.get_mut(&k) {
        Some(Value::Array(a)) => a.push(v),
        Some(prev) => {
            let p = prev.take();
            *prev = Value::Array(vec![p, v]);
        }
        None => {
            m.insert(k, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn arrays_repeat_their_element_like_yarn() {
        let v = json!({"apps": {"app": [{"id": "application_1_0001", "progress": 100.0}, {"id": "application_1_0002", "progress": 0.0}]}});
        let x = to_xml(&v);
        assert!(x.contains("<apps xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"><app><id>application_1_0001</id><progress>100.0</progress></app><app><id>application_1_0002</id>"), "{x}");
        assert!(x.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>"));
    }

    #[test]
    fn scheduler_type_becomes_xsi_type() {
        let v = json!({"scheduler": {"schedulerInfo": {"type": "capacityScheduler", "capacity": 100.0}}});
        assert!(to_xml(&v).contains("<schedulerInfo xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:type=\"capacityScheduler\"><capacity>100.0</capacity>"));
    }

    #[test]
    fn xml_bodies_become_values_and_junk_is_refused() {
        let v = xml_to_value("<appstate><state>KILLED</state></appstate>").unwrap();
        assert_eq!(v, json!({"appstate": {"state": "KILLED"}}));
        let v = xml_to_value("<a><tag>x</tag><tag>y &amp; z</tag><n>1</n></a>").unwrap();
        assert_eq!(v, json!({"a": {"tag": ["x", "y & z"], "n": "1"}}));
        assert!(xml_to_value("<a><b></a>").is_err());
        assert!(xml_to_value("").is_err());
        // 149,000 levels once overflowed the RM's stack; now a clear error, quickly.
        let deep = "<a>".repeat(149_000) + &"</a>".repeat(149_000);
        let err = xml_to_value(&deep).unwrap_err();
        assert!(err.contains("nested deeper than 64"), "{err}");
        let ok = "<a>".repeat(MAX_XML_DEPTH) + "x" + &"</a>".repeat(MAX_XML_DEPTH);
        assert!(xml_to_value(&ok).is_ok());
    }

    #[test]
    fn accept_header_negotiation() {
        let mut h = HeaderMap::new();
        assert_eq!(Format::from_headers(&h), Format::Json);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/xml"));
        assert_eq!(Format::from_headers(&h), Format::Xml);
        h.insert(header::ACCEPT, HeaderValue::from_static("application/json, application/xml"));
        assert_eq!(Format::from_headers(&h), Format::Json);
    }
}
