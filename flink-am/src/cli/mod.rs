//! The client tools: `yarn-session` (FlinkYarnSessionCli) and `flink` (CliFrontend), printing
//! Flink's lines. They talk to YARN's REST API and to the AM's Flink REST API.

pub mod deploy;
pub mod flink;
pub mod launcher;
pub mod yarn_session;

use std::path::PathBuf;

use flink_core::config::FlinkConfig;

/// `$FLINK_CONF_DIR/config.yaml` (or flink-conf.yaml) plus `-D key=value` overrides.
pub fn load_config(dynamic: &[String]) -> Result<FlinkConfig, String> {
    let mut conf = match std::env::var("FLINK_CONF_DIR") {
        Ok(d) if !d.is_empty() => FlinkConfig::load(std::path::Path::new(&d))?,
        _ => FlinkConfig::default(),
    };
    conf.apply_dynamic(dynamic)?;
    Ok(conf)
}

/// `<yarn.properties-file.location or /tmp>/.yarn-properties-<user>`.
pub fn properties_file(conf: &FlinkConfig) -> PathBuf {
    let dir = conf.get("yarn.properties-file.location").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    dir.join(format!(".yarn-properties-{}", yarn_sim::cli::current_user()))
}

/// The application id in the properties file, as Flink reads it (`applicationID=`).
pub fn read_properties(conf: &FlinkConfig) -> Result<Option<(PathBuf, String)>, String> {
    let path = properties_file(conf);
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(None) };
    let id = text.lines().find_map(|l| l.trim().strip_prefix("applicationID=")).map(|s| s.trim().to_string());
    match id {
        None => Err(format!(
            "Yarn properties file found but doesn't contain a Yarn application id. Please delete the file at {}",
            path.display()
        )),
        Some(id) if id.parse::<yarn_sim::ApplicationId>().is_err() => {
            Err(format!("YARN properties contain an invalid entry for application id: {id}. Please delete the file at {}", path.display()))
        }
        Some(id) => Ok(Some((path, id))),
    }
}

/// The `-D` properties the session was started with (`dynamicPropertiesString`, `@@`-joined),
/// which Flink's client applies to jobs it submits to that session.
pub fn session_dynamic_properties(conf: &FlinkConfig) -> Vec<String> {
    let Ok(text) = std::fs::read_to_string(properties_file(conf)) else { return Vec::new() };
    text.lines()
        .find_map(|l| l.trim().strip_prefix("dynamicPropertiesString="))
        .map(|v| v.split("@@").filter(|p| !p.trim().is_empty()).map(String::from).collect())
        .unwrap_or_default()
}

/// Writes the properties file the way java.util.Properties.store does.
pub fn write_properties(conf: &FlinkConfig, app_id: &str, dynamic: &[String]) -> Result<PathBuf, String> {
    let path = properties_file(conf);
    let mut text = format!("#Generated YARN properties file\n#{}\napplicationID={app_id}\n", yarn_sim::cli::fmt::times(now_ms()));
    if !dynamic.is_empty() {
        text.push_str(&format!("dynamicPropertiesString={}\n", dynamic.join("@@")));
    }
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(path)
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// The AM's REST address (`host:port`) of a running Flink cluster on YARN: the AM registers
/// its REST port as its RPC port, as Flink does.
pub fn rest_address_of(rm: &yarn_sim::cli::http::Rest, app_id: &str) -> Result<String, String> {
    let app = match rm.get(&format!("/ws/v1/cluster/apps/{app_id}")) {
        Ok(v) => v["app"].clone(),
        Err(e) if e.status == 404 => return Err(format!("The Yarn application {app_id} doesn't run anymore.")),
        Err(e) => return Err(e.message),
    };
    let state = yarn_sim::cli::http::s(&app, "state");
    if state != "RUNNING" {
        return Err(format!(
            "The Yarn application {app_id} doesn't run anymore. It has previously completed with final status: {}",
            yarn_sim::cli::http::s(&app, "finalStatus")
        ));
    }
    let rpc = yarn_sim::cli::http::s(&app, "amRPCAddress");
    match rpc.rsplit_once(':') {
        Some((h, p)) if p.parse::<u16>().map(|p| p > 0).unwrap_or(false) => Ok(format!("{h}:{p}")),
        _ => Err(format!("Could not find the JobManager of application {app_id} (no REST address registered yet)")),
    }
}

/// The YARN client side: the RM found the Hadoop way, and the shared store's root.
pub struct Yarn {
    pub rm: yarn_sim::cli::http::Rest,
    pub store_root: Option<PathBuf>,
}

impl Yarn {
    pub fn connect() -> Result<Yarn, String> {
        let conf = match yarn_sim::conf::client_conf_dir() {
            Some(d) => Some(yarn_sim::conf::Configuration::load(&d.join("yarn-site.xml"))?),
            None => None,
        };
        let rm = yarn_sim::cli::rm_address(None)?;
        let store_root = conf.as_ref().and_then(|c| c.get("fs.defaultFS")).and_then(|f| f.strip_prefix("file://").map(PathBuf::from));
        Ok(Yarn { rm: yarn_sim::cli::http::Rest::new(&rm), store_root })
    }

    pub fn store(&self) -> Result<&PathBuf, String> {
        self.store_root
            .as_ref()
            .ok_or_else(|| "fs.defaultFS is not set: export YARN_CONF_DIR=<the dir 'yarn-sim start' printed>".to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sessions_dynamic_properties_are_read_back_from_the_properties_file() {
        let dir = std::env::temp_dir().join(format!("flink-cli-props-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = FlinkConfig::new();
        conf.set("yarn.properties-file.location", &dir.display().to_string());
        assert!(session_dynamic_properties(&conf).is_empty(), "no file, no properties");
        let props = vec!["execution.checkpointing.interval=500ms".to_string(), "a=b=c".to_string()];
        write_properties(&conf, "application_1_0001", &props).unwrap();
        assert_eq!(session_dynamic_properties(&conf), props);
        assert_eq!(read_properties(&conf).unwrap().map(|p| p.1).as_deref(), Some("application_1_0001"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
