//! ContainerLaunch: turns a launch context into the command line, environment and
//! `launch_container.sh` YARN would produce, and words the diagnostics of an exit.

use std::collections::BTreeMap;

use engine::Addr;

use crate::ids::ContainerId;
use crate::proto::env;
use crate::records::ContainerLaunchContext;

use super::config::NmConfig;

/// Where a container lives on the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerDirs {
    pub work_dir: String,
    /// The container's own log dir (stdout and stderr go here).
    pub log_dir: String,
    /// `<local-dir>/usercache/<user>/appcache/<appId>` for every local dir.
    pub app_local_dirs: Vec<String>,
    /// `<log-dir>/<appId>/<containerId>` for every log dir.
    pub container_log_dirs: Vec<String>,
}

impl ContainerDirs {
    /// Spreads containers over the dirs by sequence number so one disk does not take them all.
    pub fn new(conf: &NmConfig, id: &ContainerId, user: &str) -> ContainerDirs {
        let app = id.app();
        let app_local_dirs: Vec<String> = conf.local_dirs.iter().map(|d| format!("{d}/usercache/{user}/appcache/{app}")).collect();
        let container_log_dirs: Vec<String> = conf.log_dirs.iter().map(|d| format!("{d}/{app}/{id}")).collect();
        let li = (id.seq as usize) % app_local_dirs.len();
        let gi = (id.seq as usize) % container_log_dirs.len();
        ContainerDirs {
            work_dir: format!("{}/{id}", app_local_dirs[li]),
            log_dir: container_log_dirs[gi].clone(),
            app_local_dirs,
            container_log_dirs,
        }
    }
}

/// YARN's launch-time expansion: `<LOG_DIR>`, `<CPS>` and `{{VAR}}` (cross-platform `$VAR`).
pub fn expand(s: &str, log_dir: &str) -> String {
    let mut out = s.replace("<LOG_DIR>", log_dir).replace("<CPS>", ":");
    while let Some(start) = out.find("{{") {
        let Some(len) = out[start + 2..].find("}}") else { break };
        let var = out[start + 2..start + 2 + len].to_string();
        out.replace_range(start..start + 2 + len + 2, &format!("${var}"));
    }
    out
}

/// What `cx.launch` gets, plus the script written for inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLaunch {
    pub command: String,
    pub env: BTreeMap<String, String>,
    pub script: String,
}

impl ContainerLaunch {
    pub fn new(
        conf: &NmConfig,
        me: Addr,
        id: &ContainerId,
        user: &str,
        ctx: &ContainerLaunchContext,
        dirs: &ContainerDirs,
    ) -> ContainerLaunch {
        let mut envs: BTreeMap<String, String> = ctx.environment.iter().map(|(k, v)| (k.clone(), expand(v, &dirs.log_dir))).collect();
        // The NM's own variables win over the user's, except whitelisted ones (HADOOP_CONF_DIR).
        let nm_vars = [
            (env::CONTAINER_ID, id.to_string()),
            (env::NM_HOST, me.ip().to_string()),
            (env::NM_PORT, me.port().to_string()),
            (env::NM_HTTP_PORT, conf.http_port()),
            (env::LOG_DIRS, dirs.container_log_dirs.join(",")),
            (env::LOCAL_DIRS, dirs.app_local_dirs.join(",")),
            (env::USER, user.to_string()),
            (env::LOGNAME, user.to_string()),
            (env::HOME, conf.user_home_dir.clone()),
            (env::PWD, dirs.work_dir.clone()),
        ];
        for (k, v) in nm_vars {
            envs.insert(k.to_string(), v);
        }
        envs.entry(env::HADOOP_CONF_DIR.to_string()).or_insert_with(|| conf.hadoop_conf_dir.clone());
        // The cluster secret is the NM's to give (a user cannot plant one), and it stays out of
        // the world-readable script: only the process environment carries it.
        match &conf.cluster_secret {
            Some(s) => envs.insert(env::CLUSTER_SECRET.to_string(), s.clone()),
            None => envs.remove(env::CLUSTER_SECRET),
        };
        let command = ctx.commands.iter().map(|c| expand(c, &dirs.log_dir)).collect::<Vec<_>>().join(" ; ");
        let script = launch_script(&envs, &command);
        ContainerLaunch { command, env: envs, script }
    }
}

/// Appends `v` for inside double quotes: `\`, `"`, `$` and `` ` `` escaped. One pass into the
/// script, not four `replace`s each allocating: every container launch writes a script.
fn push_quoted(s: &mut String, v: &str) {
    let mut rest = v;
    while let Some(i) = rest.find(['\\', '"', '$', '`']) {
        s.push_str(&rest[..i]);
        s.push('\\');
        s.push_str(&rest[i..i + 1]);
        rest = &rest[i + 1..];
    }
    s.push_str(rest);
}

/// The shape of YARN's `launch_container.sh` (exports, then exec of the command).
fn launch_script(envs: &BTreeMap<String, String>, command: &str) -> String {
    let mut s = String::with_capacity(1024);
    s.push_str("#!/bin/bash\n\nset -o pipefail -e\n");
    for (k, v) in envs {
        if k == env::CLUSTER_SECRET {
            s.push_str("# ");
            s.push_str(k);
            s.push_str(" is in the container's environment, not written here\n");
            continue;
        }
        s.push_str("export ");
        s.push_str(k);
        s.push_str("=\"");
        push_quoted(&mut s, v);
        s.push_str("\"\n");
    }
    s.push_str("echo \"Launching container\"\n");
    s.push_str("exec /bin/bash -c \"");
    push_quoted(&mut s, command);
    s.push_str("\"\n");
    s
}

/// ContainerLaunch's diagnostics for a process that failed on its own.
pub fn failure_diagnostics(id: &ContainerId, code: i32, stderr_tail: &str) -> String {
    let mut d = format!("Exception from container-launch.\nContainer id: {id}\nExit code: {code}\n");
    d.push_str(&format!("Container exited with a non-zero exit code {code}. "));
    if !stderr_tail.is_empty() {
        d.push_str(&format!("Last 4096 bytes of stderr :\n{stderr_tail}\n"));
    }
    d
}

/// What ContainerImpl adds when a killed container's process is gone.
pub fn killed_diagnostics(code: i32) -> String {
    format!("Container killed on request. Exit code is {code}\nContainer exited with a non-zero exit code {code}. ")
}

/// The last 4096 bytes, cut at a character boundary.
pub fn tail_4k(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(4096);
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expansion_matches_yarn() {
        assert_eq!(expand("java -cp a<CPS>b 1><LOG_DIR>/stdout {{JAVA_HOME}}/bin", "/l"), "java -cp a:b 1>/l/stdout $JAVA_HOME/bin");
        assert_eq!(expand("{{unclosed", "/l"), "{{unclosed");
    }

    /// The one-pass quoting against the four `replace`s it stands for.
    #[test]
    fn quoting_escapes_what_bash_expands_in_double_quotes() {
        for v in ["", "plain", "a\\b", "\"q\"", "$HOME `id` \\$", "ünï\"cödé$", "\\\\\"\"$$``", "end\\"] {
            let mut s = String::new();
            push_quoted(&mut s, v);
            let reference = v.replace('\\', "\\\\").replace('"', "\\\"").replace('$', "\\$").replace('`', "\\`");
            assert_eq!(s, reference, "{v:?}");
        }
    }

    #[test]
    fn script_quotes_values() {
        let mut e = BTreeMap::new();
        e.insert("A".to_string(), "x\"y$z".to_string());
        let s = launch_script(&e, "echo \"hi\"");
        assert!(s.contains("export A=\"x\\\"y\\$z\"\n"));
        assert!(s.ends_with("exec /bin/bash -c \"echo \\\"hi\\\"\"\n"));
    }
    #[test]
    fn containers_get_the_nm_s_cluster_secret_and_the_script_does_not_show_it() {
        use crate::conf::Configuration;
        use crate::ids::{ApplicationAttemptId, ApplicationId};
        let mut c = Configuration::new();
        c.set("yarn.nodemanager.local-dirs", "/nm/local");
        c.set("yarn.nodemanager.log-dirs", "/nm/logs");
        c.set("yarn.resourcemanager.resource-tracker.address", "127.0.0.1:8031");
        let mut conf = NmConfig::from_conf(&c, "127.0.0.2:8042", "/etc/hadoop").unwrap();
        let id = ContainerId::new(ApplicationAttemptId::new(ApplicationId::new(1, 1), 1), 1);
        let dirs = ContainerDirs::new(&conf, &id, "u");
        let mut ctx = ContainerLaunchContext::default();
        // A user cannot plant a secret of their own.
        ctx.environment.insert(env::CLUSTER_SECRET.to_string(), "planted".to_string());
        let me: Addr = "127.0.0.2:8041".parse().unwrap();
        let open = ContainerLaunch::new(&conf, me, &id, "u", &ctx, &dirs);
        assert!(!open.env.contains_key(env::CLUSTER_SECRET));
        conf.cluster_secret = Some("ab".repeat(32));
        let l = ContainerLaunch::new(&conf, me, &id, "u", &ctx, &dirs);
        assert_eq!(l.env[env::CLUSTER_SECRET], "ab".repeat(32));
        assert!(!l.script.contains(&"ab".repeat(32)) && !l.script.contains("planted"), "{}", l.script);
    }
}
