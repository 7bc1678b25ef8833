//! Hadoop `Configuration`: `<configuration><property><name/><value/></property>...` files
//! (yarn-site.xml, capacity-scheduler.xml), `${key}` expansion, typed getters.

use std::collections::BTreeMap;
use std::path::Path;

use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use quick_xml::{Reader, Writer};

/// Hadoop's files are kilobytes; the bounds turn a hostile file into a clear error.
pub const MAX_CONF_BYTES: usize = 4 << 20;
/// `configuration/property/value` is 3 levels.
pub const MAX_CONF_DEPTH: usize = 32;

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Configuration {
    props: BTreeMap<String, String>,
    /// Descriptions written back out with `to_xml` (the harness documents its defaults).
    descriptions: BTreeMap<String, String>,
}

impl Configuration {
    pub fn new() -> Configuration {
        Configuration::default()
    }

    /// Parses a Hadoop configuration file's text. Errors name the problem, as Hadoop's
    /// `Configuration` does ("... not a valid XML ...").
    pub fn parse(xml: &str) -> Result<Configuration, String> {
        let mut conf = Configuration::new();
        conf.merge_xml(xml)?;
        Ok(conf)
    }

    pub fn load(path: &Path) -> Result<Configuration, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Configuration::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// Adds the properties of another file; later files win, as with Hadoop's resources.
    pub fn merge_xml(&mut self, xml: &str) -> Result<(), String> {
        if xml.len() > MAX_CONF_BYTES {
            return Err(format!("bad conf file: {} bytes, more than the limit of {MAX_CONF_BYTES}", xml.len()));
        }
        let mut r = Reader::from_str(xml);
        let mut stack: Vec<String> = Vec::new();
        let (mut name, mut value, mut desc) = (None::<String>, None::<String>, None::<String>);
        let mut saw_root = false;
        loop {
            match r.read_event() {
                Ok(Event::Start(e)) => {
                    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if stack.is_empty() {
                        if tag != "configuration" {
                            return Err(format!("bad conf file: top-level element not <configuration>: <{tag}>"));
                        }
                        saw_root = true;
                    }
                    if tag == "property" {
                        name = None;
                        value = None;
                        desc = None;
                    }
                    if stack.len() >= MAX_CONF_DEPTH {
                        return Err(format!("bad conf file: elements nested deeper than {MAX_CONF_DEPTH} levels"));
                    }
                    stack.push(tag);
                }
                Ok(Event::Empty(e)) => {
                    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if stack.is_empty() && tag == "configuration" {
                        saw_root = true;
                    }
                    if tag == "value" && stack.last().map(|s| s == "property").unwrap_or(false) {
                        value = Some(String::new());
                    }
                }
                Ok(Event::Text(t)) => {
                    let text = t.decode().map_err(|e| format!("bad conf file: {e}"))?.into_owned();
                    append_text(&stack, &text, &mut name, &mut value, &mut desc);
                }
                Ok(Event::GeneralRef(r)) => {
                    let raw = format!("&{};", r.decode().map_err(|e| format!("bad conf file: {e}"))?);
                    let text = quick_xml::escape::unescape(&raw).map_err(|e| format!("bad conf file: {e}"))?.into_owned();
                    append_text(&stack, &text, &mut name, &mut value, &mut desc);
                }
                Ok(Event::End(e)) => {
                    let tag = String::from_utf8_lossy(e.name().as_ref()).into_owned();
                    if stack.pop().as_deref() != Some(tag.as_str()) {
                        return Err(format!("bad conf file: mismatched </{tag}>"));
                    }
                    if tag == "value" && value.is_none() {
                        value = Some(String::new());
                    }
                    if tag == "property" {
                        let n = name.take().ok_or("bad conf file: <property> without <name>")?.trim().to_string();
                        if let Some(v) = value.take() {
                            self.props.insert(n.clone(), v);
                        }
                        if let Some(d) = desc.take() {
                            self.descriptions.insert(n, d);
                        }
                    }
                }
                Ok(Event::Eof) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("bad conf file: not a valid XML document: {e}")),
            }
        }
        if let Some(n) = name.as_mut() {
            *n = n.trim().to_string();
        }
        if !stack.is_empty() {
            return Err("bad conf file: unexpected end of document".into());
        }
        if !saw_root {
            return Err("bad conf file: no <configuration> element".into());
        }
        Ok(())
    }

    pub fn set(&mut self, key: &str, value: impl ToString) {
        self.props.insert(key.to_string(), value.to_string());
    }

    pub fn set_described(&mut self, key: &str, value: impl ToString, description: &str) {
        self.set(key, value);
        self.descriptions.insert(key.to_string(), description.to_string());
    }

    /// The raw value with `${other.key}` references expanded (up to 20 levels, as Hadoop).
    pub fn get(&self, key: &str) -> Option<String> {
        let mut v = self.props.get(key)?.clone();
        for _ in 0..20 {
            let Some(start) = v.find("${") else { break };
            let Some(len) = v[start..].find('}') else { break };
            let var = v[start + 2..start + len].to_string();
            let sub = self.props.get(&var).cloned().or_else(|| std::env::var(&var).ok()).unwrap_or_default();
            v.replace_range(start..start + len + 1, &sub);
        }
        Some(v)
    }

    pub fn get_or(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or_else(|| default.to_string())
    }

    /// A number, or an error that names the key and the bad value.
    pub fn get_u64(&self, key: &str, default: u64) -> Result<u64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| format!("For input string: \"{}\" ({key})", v.trim())),
        }
    }

    pub fn get_i64(&self, key: &str, default: i64) -> Result<i64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| format!("For input string: \"{}\" ({key})", v.trim())),
        }
    }

    pub fn get_f64(&self, key: &str, default: f64) -> Result<f64, String> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|_| format!("For input string: \"{}\" ({key})", v.trim())),
        }
    }

    pub fn get_bool(&self, key: &str, default: bool) -> Result<bool, String> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if v == "true" => Ok(true),
            Some(v) if v == "false" => Ok(false),
            Some(v) => Err(format!("Invalid boolean value \"{v}\" for {key}")),
        }
    }

    /// Comma-separated values, trimmed, empties dropped (`getTrimmedStrings`).
    pub fn get_strings(&self, key: &str) -> Vec<String> {
        self.get(key).map(|v| v.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
    }

    /// Keys starting with `prefix`, in order.
    pub fn keys_with_prefix<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.props.range(prefix.to_string()..).map(|(k, _)| k.as_str()).take_while(move |k| k.starts_with(prefix))
    }

    pub fn to_xml(&self) -> String {
        let mut w = Writer::new_with_indent(Vec::new(), b' ', 2);
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", None, None)));
        let _ = w.write_event(Event::Start(BytesStart::new("configuration")));
        for (k, v) in &self.props {
            let _ = w.write_event(Event::Start(BytesStart::new("property")));
            if let Some(d) = self.descriptions.get(k) {
                write_text(&mut w, "description", d);
            }
            write_text(&mut w, "name", k);
            write_text(&mut w, "value", v);
            let _ = w.write_event(Event::End(BytesEnd::new("property")));
        }
        let _ = w.write_event(Event::End(BytesEnd::new("configuration")));
        let mut s = String::from_utf8(w.into_inner()).expect("utf-8 in, utf-8 out");
        s.push('\n');
        s
    }
}

/// Text may arrive in pieces (entity references are events of their own).
fn append_text(stack: &[String], text: &str, name: &mut Option<String>, value: &mut Option<String>, desc: &mut Option<String>) {
    let slot = match stack.last().map(|s| s.as_str()) {
        Some("name") => name,
        Some("value") => value,
        Some("description") => desc,
        _ => return,
    };
    slot.get_or_insert_with(String::new).push_str(text);
}

fn write_text(w: &mut Writer<Vec<u8>>, tag: &str, text: &str) {
    let _ = w.write_event(Event::Start(BytesStart::new(tag)));
    let _ = w.write_event(Event::Text(BytesText::new(text)));
    let _ = w.write_event(Event::End(BytesEnd::new(tag)));
}

/// Finds the client configuration the Hadoop way: `$YARN_CONF_DIR`, then `$HADOOP_CONF_DIR`,
/// each holding `yarn-site.xml`.
pub fn client_conf_dir() -> Option<std::path::PathBuf> {
    for var in ["YARN_CONF_DIR", "HADOOP_CONF_DIR"] {
        if let Ok(d) = std::env::var(var) {
            let p = std::path::PathBuf::from(d);
            if p.join("yarn-site.xml").is_file() {
                return Some(p);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn huge_or_deep_files_are_clear_errors() {
        let deep = format!("<configuration>{}{}</configuration>", "<a>".repeat(100_000), "</a>".repeat(100_000));
        assert!(Configuration::parse(&deep).unwrap_err().contains("nested deeper than 32"));
        let huge = format!("<configuration>{}</configuration>", " ".repeat(MAX_CONF_BYTES));
        assert!(Configuration::parse(&huge).unwrap_err().contains("more than the limit"));
    }

    #[test]
    fn parses_hadoop_files_with_expansion() {
        let xml = r#"<?xml version="1.0"?>
<?xml-stylesheet type="text/xsl" href="configuration.xsl"?>
<!-- comment -->
<configuration>
  <property><name>yarn.resourcemanager.hostname</name><value>127.0.0.1</value></property>
  <property>
    <description>The address &amp; port.</description>
    <name>yarn.resourcemanager.webapp.address</name>
    <value>${yarn.resourcemanager.hostname}:8088</value>
  </property>
  <property><name>empty</name><value/></property>
  <property><name>unset</name></property>
</configuration>"#;
        let c = Configuration::parse(xml).unwrap();
        assert_eq!(c.get("yarn.resourcemanager.webapp.address").unwrap(), "127.0.0.1:8088");
        assert_eq!(c.get("empty").unwrap(), "");
        assert!(c.get("unset").is_none());
        let again = Configuration::parse(&c.to_xml()).unwrap();
        assert_eq!(again, c);
        assert!(c.to_xml().contains("<description>The address &amp; port.</description>"));
    }

    #[test]
    fn malformed_files_are_refused_with_a_reason() {
        assert!(Configuration::parse("<configuration><property>").unwrap_err().contains("bad conf file"));
        assert!(Configuration::parse("<foo/>").is_err());
        assert!(Configuration::parse("<configuration><property><value>1</value></property></configuration>")
            .unwrap_err()
            .contains("without <name>"));
        let c = Configuration::parse("<configuration><property><name>n</name><value>x1</value></property></configuration>").unwrap();
        assert_eq!(c.get_u64("n", 0).unwrap_err(), "For input string: \"x1\" (n)");
    }
}
