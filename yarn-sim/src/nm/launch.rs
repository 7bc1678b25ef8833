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
    /// `<local-dir>/usercache/<user>/` for every local dir.
    pub user_local_dirs: Vec<String>,
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
            user_local_dirs: conf.local_dirs.iter().map(|d| format!("{d}/usercache/{user}/")).collect(),
        }
    }
}

/// YARN's launch-time expansion (`ContainerLaunch.expandEnvironment`): `<LOG_DIR>`, `<CPS>`,
/// `{{VAR}}` (cross-platform `$VAR`) and `<ADD_OPENS>`. YARN puts its JDK 17 `--add-opens`
/// list there only when the NM's own JVM is 17 or newer and
/// `yarn.nodemanager.jvm.add-opens-as-default` holds; this NM is no JVM, so it is the empty
/// string, as on a YARN whose NM runs on an older JDK (Flink adds its own `--add-opens`).
pub fn expand(s: &str, log_dir: &str) -> String {
    let mut out = s.replace("<LOG_DIR>", log_dir).replace("<CPS>", ":").replace("<ADD_OPENS>", "");
    while let Some(start) = out.find("{{") {
        let Some(len) = out[start + 2..].find("}}") else { break };
        let var = out[start + 2..start + 2 + len].to_string();
        out.replace_range(start..start + 2 + len + 2, &format!("${var}"));
    }
    out
}

/// `ContainerLaunch.FINAL_CONTAINER_TOKENS_FILE`: the container's Credentials in its work dir.
pub const CONTAINER_TOKENS_FILE: &str = "container_tokens";
/// `ContainerLaunch.CONTAINER_SCRIPT`.
pub const CONTAINER_SCRIPT: &str = "launch_container.sh";
/// `ContainerExecutor.CONTAINER_PRE_LAUNCH_STDOUT` / `_STDERR`.
pub const PRELAUNCH_OUT: &str = "prelaunch.out";
pub const PRELAUNCH_ERR: &str = "prelaunch.err";

/// What `cx.launch` gets, plus the script written for inspection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerLaunch {
    /// The expanded commands joined by spaces, as the script's last line runs them.
    pub command: String,
    /// The environment the container gets: the launch context's (expanded), the NM's own
    /// variables over it, the admin env, and the whitelisted NM variables it lacked.
    pub env: BTreeMap<String, String>,
    /// `launch_container.sh` (live runs it; the sim runs `command` with `env`).
    pub script: String,
}

impl ContainerLaunch {
    /// `tokens_file`: where the container's Credentials were written, if it has any
    /// (`HADOOP_TOKEN_FILE_LOCATION`); `links`: (cached path, link name) of its localized
    /// `file:` resources, which the script links into the working dir.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        conf: &NmConfig,
        me: Addr,
        id: &ContainerId,
        user: &str,
        ctx: &ContainerLaunchContext,
        dirs: &ContainerDirs,
        tokens_file: Option<&str>,
        links: &[(String, String)],
    ) -> ContainerLaunch {
        let mut envs: BTreeMap<String, String> = ctx.environment.iter().map(|(k, v)| (k.clone(), expand(v, &dirs.log_dir))).collect();
        // ContainerLaunch.sanitizeEnv: the NM's variables override the context's, in this order.
        let mut nm_vars = vec![
            (env::CONTAINER_ID, id.to_string()),
            (env::NM_PORT, me.port().to_string()),
            (env::NM_HOST, me.ip().to_string()),
            (env::NM_HTTP_PORT, conf.http_port()),
            (env::LOCAL_DIRS, dirs.app_local_dirs.join(",")),
            (env::LOCAL_USER_DIRS, dirs.user_local_dirs.join(",")),
            (env::LOG_DIRS, dirs.container_log_dirs.join(",")),
            (env::USER, user.to_string()),
            (env::LOGNAME, user.to_string()),
            (env::HOME, conf.user_home_dir.clone()),
            (env::PWD, dirs.work_dir.clone()),
            // The shell's own pid: the script's `exec`s keep it the container's process.
            (env::JVM_PID, "$$".to_string()),
        ];
        if let Some(f) = tokens_file {
            nm_vars.push((env::HADOOP_TOKEN_FILE_LOCATION, f.to_string()));
        }
        for (k, v) in &nm_vars {
            envs.insert(k.to_string(), v.clone());
        }
        // yarn.nodemanager.admin-env is forced in, even over the context's values.
        // The script's line keeps the value as written; the process gets it resolved against
        // the NM's environment, which YARN's containers inherit and ours do not.
        for (k, v) in &conf.admin_env {
            envs.insert(k.clone(), resolve(v, &conf.inherited_env));
        }
        // yarn.nodemanager.env-whitelist: the NM's value where the context has none.
        let mut inherited = Vec::new();
        for k in &conf.env_whitelist {
            if envs.contains_key(k) {
                continue;
            }
            if let Some(v) = conf.nm_env(k) {
                envs.insert(k.clone(), v.to_string());
                inherited.push((k.clone(), v.to_string()));
            }
        }
        // The cluster secret is the NM's to give (a user cannot plant one), and it stays out of
        // the world-readable script: only the process environment carries it.
        match &conf.cluster_secret {
            Some(s) => envs.insert(env::CLUSTER_SECRET.to_string(), s.clone()),
            None => envs.remove(env::CLUSTER_SECRET),
        };
        let command = ctx.commands.iter().map(|c| expand(c, &dirs.log_dir)).collect::<Vec<_>>().join(" ");
        let nm_names: Vec<&str> = nm_vars.iter().map(|(k, _)| *k).chain(conf.admin_env.iter().map(|(k, _)| k.as_str())).collect();
        let mut in_script = envs.clone();
        for (k, v) in &conf.admin_env {
            in_script.insert(k.clone(), v.clone());
        }
        let script = launch_script(dirs, &inherited, &nm_names, &in_script, !ctx.local_resources.is_empty(), links, &command);
        ContainerLaunch { command, env: envs, script }
    }
}

/// True for one program with its arguments and redirections and nothing that needs a shell of
/// its own (`;`, `&`, `|`, `(`, backquotes, `$(`, newlines outside quotes): the script can
/// `exec` it, so it stays the process the NodeManager signals and measures.
pub fn is_single_program(cmd: &str) -> bool {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for c in cmd.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), '`') => return false,
            (Some(_), '(') if prev == '$' => return false,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, ';' | '&' | '|' | '\n' | '(' | ')' | '`') => return false,
            _ => {}
        }
        prev = c;
    }
    let first = cmd.split_whitespace().next().unwrap_or("");
    !first.is_empty()
        && !first.contains('=')
        && !matches!(first, "exec" | "if" | "for" | "while" | "until" | "case" | "{" | "!" | "function")
}

/// `v` with every `$NAME` / `${NAME}` replaced by its value in `vars` (empty if unset).
fn resolve(v: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(v.len());
    let mut rest = v;
    while let Some(i) = rest.find('$') {
        out.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        let braced = after.starts_with('{');
        let name_start = usize::from(braced);
        let name_len = after[name_start..].find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(after.len() - name_start);
        let close = usize::from(braced && after[name_start + name_len..].starts_with('}'));
        if name_len == 0 || (braced && close == 0) {
            out.push('$');
            rest = after;
            continue;
        }
        out.push_str(vars.get(&after[name_start..name_start + name_len]).map(String::as_str).unwrap_or(""));
        rest = &after[name_start + name_len + close..];
    }
    out.push_str(rest);
    out
}

/// Names a value uses as `$NAME` or `${NAME}`.
fn references(v: &str) -> Vec<&str> {
    let b = v.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'$' {
            let braced = b.get(i + 1) == Some(&b'{');
            let start = i + 1 + usize::from(braced);
            let mut end = start;
            while end < b.len() && (b[end].is_ascii_alphanumeric() || b[end] == b'_') {
                end += 1;
            }
            if end > start {
                out.push(&v[start..end]);
            }
            i = end.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

/// `ShellScriptBuilder.orderEnvByDependencies`: a variable whose value uses another of the
/// set comes after it; otherwise name order. A cycle keeps the order it was met in.
fn order_by_dependencies<'a>(envs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    fn visit<'a>(
        i: usize,
        envs: &[(&'a str, &'a str)],
        index: &BTreeMap<&str, usize>,
        seen: &mut [bool],
        out: &mut Vec<(&'a str, &'a str)>,
    ) {
        if seen[i] {
            return;
        }
        seen[i] = true;
        for r in references(envs[i].1) {
            if let Some(&j) = index.get(r) {
                visit(j, envs, index, seen, out);
            }
        }
        out.push(envs[i]);
    }
    let index: BTreeMap<&str, usize> = envs.iter().enumerate().map(|(i, (k, _))| (*k, i)).collect();
    let mut seen = vec![false; envs.len()];
    let mut out = Vec::with_capacity(envs.len());
    for i in 0..envs.len() {
        visit(i, envs, &index, &mut seen, &mut out);
    }
    out
}

/// YARN's `launch_container.sh` (`ContainerExecutor.writeLaunchEnv` with the Unix script
/// builder): values go into double quotes as they are, so `$VAR` (from `{{VAR}}`) expands in
/// the container's shell, as in YARN; the command is quoted (see [`push_quoted`]). One harness
/// addition: the driver's stdout and stderr
/// files (fds 1 and 2 on entry) are kept on fds 3 and 4 and given back to the command, where
/// YARN would leave an unredirected command's output in prelaunch.out/.err.
fn launch_script(
    dirs: &ContainerDirs,
    inherited: &[(String, String)],
    nm_names: &[&str],
    envs: &BTreeMap<String, String>,
    has_resources: bool,
    links: &[(String, String)],
    command: &str,
) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(2048);
    s.push_str("#!/bin/bash\n\nset -o pipefail -e\nexec 3>&1 4>&2\n");
    for (var, redirect, file) in [("PRELAUNCH_OUT", ">", PRELAUNCH_OUT), ("PRELAUNCH_ERR", "2>", PRELAUNCH_ERR)] {
        let _ = write!(s, "export {var}=\"{}/{file}\"\nexec {redirect}\"${{{var}}}\"\n", dirs.log_dir);
    }
    s.push_str("echo \"Setting up env variables\"\n");
    for (k, v) in inherited {
        let _ = writeln!(s, "export {k}=${{{k}:-\"{v}\"}}");
    }
    let line = |s: &mut String, k: &str, v: &str| {
        let _ = if k == env::CLUSTER_SECRET {
            writeln!(s, "# {k} is in the container's environment, not written here")
        } else {
            writeln!(s, "export {k}=\"{v}\"")
        };
    };
    for k in nm_names {
        if let Some(v) = envs.get(*k) {
            line(&mut s, k, v);
        }
    }
    let rest: Vec<(&str, &str)> = envs
        .iter()
        .filter(|(k, _)| !nm_names.contains(&k.as_str()) && !inherited.iter().any(|(i, _)| i == *k))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    for (k, v) in order_by_dependencies(&rest) {
        line(&mut s, k, v);
    }
    if has_resources {
        // Store resources are copied to their link names already; `file:` ones are linked
        // from the application's file cache (UnixShellScriptBuilder.link, with its checks).
        s.push_str("echo \"Setting up job resources\"\n");
        let check = "hadoop_shell_errorcode=$?\nif [[ \"$hadoop_shell_errorcode\" -ne 0 ]]\nthen\n  exit $hadoop_shell_errorcode\nfi\n";
        for (path, link) in links {
            if let Some((dir, _)) = link.rsplit_once('/') {
                let _ = writeln!(s, "mkdir -p {dir}");
                s.push_str(check);
            }
            let _ = writeln!(s, "ln -sf -- \"{path}\" \"{link}\"");
            s.push_str(check);
        }
    }
    s.push_str("echo \"Launching container\"\n");
    let exec = if is_single_program(command) { "exec " } else { "" };
    s.push_str("exec /bin/bash -c \"");
    s.push_str(exec);
    push_quoted(&mut s, command);
    s.push_str("\" 1>&3 2>&4 3>&- 4>&-\n");
    s
}

/// Appends `v` for inside double quotes: `\`, `"`, `$` and `` ` `` escaped. The command goes
/// to the inner `bash -c` as written (YARN pastes it unescaped, so the script's own shell
/// expands it first): the same for the exported variables, but `$$`, `$!` and quotes in the
/// command mean what they say, as when the driver ran the command itself.
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

/// ContainerLaunch's diagnostics for a process that failed on its own
/// (`handleContainerExitWithFailure`): the exit code, then the tail of prelaunch.err if the
/// launch script left one, then the tail of the container's stderr-ish log (`name`, tail).
pub fn failure_diagnostics(id: &ContainerId, code: i32, prelaunch_err: Option<&str>, stderr: Option<(&str, &str)>) -> String {
    let mut d = format!("Exception from container-launch.\nContainer id: {id}\nExit code: {code}\n");
    d.push_str(&format!("Container exited with a non-zero exit code {code}. "));
    if let Some(tail) = prelaunch_err {
        d.push_str(&format!("Error file: {PRELAUNCH_ERR}.\nLast 4096 bytes of {PRELAUNCH_ERR} :\n{tail}\n"));
    }
    if let Some((name, tail)) = stderr.filter(|(_, t)| !t.is_empty()) {
        d.push_str(&format!("Last 4096 bytes of {name} :\n{tail}\n"));
    }
    d
}

/// The log YARN tails for a failed container: the largest file of the log dir whose name
/// matches `yarn.nodemanager.container.stderr.pattern` (`{*stderr*,*STDERR*}`); `files` are
/// (file name, size).
pub fn stderr_log<'a>(files: &[(&'a str, u64)]) -> Option<&'a str> {
    let mut best: Option<(&str, u64)> = None;
    for (name, size) in files {
        if (name.contains("stderr") || name.contains("STDERR")) && best.is_none_or(|(_, s)| *size > s) {
            best = Some((name, *size));
        }
    }
    best.map(|(n, _)| n)
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
    use crate::conf::Configuration;
    use crate::ids::{ApplicationAttemptId, ApplicationId};

    #[test]
    fn expansion_matches_yarn() {
        assert_eq!(expand("java -cp a<CPS>b 1><LOG_DIR>/stdout {{JAVA_HOME}}/bin", "/l"), "java -cp a:b 1>/l/stdout $JAVA_HOME/bin");
        assert_eq!(expand("{{unclosed", "/l"), "{{unclosed");
        assert_eq!(expand("java <ADD_OPENS> -cp {{PWD}}/*<CPS>{{HADOOP_CONF_DIR}}", "/l"), "java  -cp $PWD/*:$HADOOP_CONF_DIR");
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
    fn single_programs_are_exec_candidates() {
        assert!(is_single_program("$JAVA_HOME/bin/java -Xmx1g -Dlog.file=\"/l/jm.log\" Main 1> /l/jm.out 2> /l/jm.err"));
        assert!(is_single_program("sleep 30"));
        for s in ["hostname; echo hi", "a && b", "a | b", "x=1 prog", "echo $(id)", "echo \"$(id)\"", "sleep 1 &", "exec foo", "(a)"] {
            assert!(!is_single_program(s), "{s}");
        }
    }

    #[test]
    fn values_resolve_and_order_by_their_references() {
        let vars: BTreeMap<String, String> = [("A".to_string(), "1".to_string())].into();
        assert_eq!(resolve("$A-${A}-$B-${A-$", &vars), "1-1--${A-$");
        let env =
            [("CLASSPATH", "$FLINK_CP:$X"), ("FLINK_CP", "lib/*"), ("X", "${Y}"), ("Y", "y"), ("LOOP_A", "$LOOP_B"), ("LOOP_B", "$LOOP_A")];
        let names: Vec<&str> = order_by_dependencies(&env).iter().map(|(k, _)| *k).collect();
        assert_eq!(names, ["FLINK_CP", "Y", "X", "CLASSPATH", "LOOP_B", "LOOP_A"]);
    }

    fn conf() -> NmConfig {
        let mut c = Configuration::new();
        c.set("yarn.nodemanager.local-dirs", "/nm/local");
        c.set("yarn.nodemanager.log-dirs", "/nm/logs");
        c.set("yarn.resourcemanager.resource-tracker.address", "127.0.0.1:8031");
        NmConfig::from_conf(&c, "127.0.0.2:8042", "/etc/hadoop").unwrap()
    }

    fn cid() -> ContainerId {
        ContainerId::new(ApplicationAttemptId::new(ApplicationId::new(1_700_000_000_000, 7), 1), 2)
    }

    /// ContainerLaunch's environment: the NM's variables over the context's, admin env forced,
    /// whitelisted NM values only where the context has none, everything expanded.
    #[test]
    fn environment_as_yarn_sanitizes_it() {
        let mut conf = conf();
        conf.inherited_env = [("JAVA_HOME", "/nm/jdk"), ("PATH", "/usr/bin"), ("MALLOC_ARENA_MAX", "4"), ("LANG", "C")]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let id = cid();
        let dirs = ContainerDirs::new(&conf, &id, "alice");
        let mut ctx = ContainerLaunchContext::default();
        for (k, v) in
            [("CONTAINER_ID", "forged"), ("LANG", "de_DE"), ("CLASSPATH", "{{PWD}}/*<CPS>{{HADOOP_CONF_DIR}}"), ("MALLOC_ARENA_MAX", "99")]
        {
            ctx.environment.insert(k.to_string(), v.to_string());
        }
        ctx.commands = vec!["{{JAVA_HOME}}/bin/java".into(), "-Dlog.file=<LOG_DIR>/jm.log".into(), "Main".into()];
        let me: Addr = "127.0.0.2:45454".parse().unwrap();
        let l = ContainerLaunch::new(&conf, me, &id, "alice", &ctx, &dirs, Some("/w/container_tokens"), &[]);
        let app = "application_1700000000000_0007";
        let e = |k: &str| l.env.get(k).map(String::as_str);
        assert_eq!(e("CONTAINER_ID"), Some("container_1700000000000_0007_01_000002"));
        assert_eq!(e("NM_HOST"), Some("127.0.0.2"));
        assert_eq!(e("NM_PORT"), Some("45454"));
        assert_eq!(e("NM_HTTP_PORT"), Some("8042"));
        assert_eq!(e("LOCAL_DIRS"), Some(format!("/nm/local/usercache/alice/appcache/{app}").as_str()));
        assert_eq!(e("LOCAL_USER_DIRS"), Some("/nm/local/usercache/alice/"));
        assert_eq!(e("LOG_DIRS"), Some(format!("/nm/logs/{app}/{id}").as_str()));
        assert_eq!(e("PWD"), Some(format!("/nm/local/usercache/alice/appcache/{app}/{id}").as_str()));
        assert_eq!((e("USER"), e("LOGNAME"), e("HOME")), (Some("alice"), Some("alice"), Some("/home/")));
        assert_eq!(e("JVM_PID"), Some("$$"));
        assert_eq!(e("HADOOP_TOKEN_FILE_LOCATION"), Some("/w/container_tokens"));
        // Admin env beats the context; resolved against the NM's own environment.
        assert_eq!(e("MALLOC_ARENA_MAX"), Some("4"));
        // Whitelist: the context's LANG stays, the NM's JAVA_HOME and PATH fill in.
        assert_eq!((e("LANG"), e("JAVA_HOME"), e("PATH")), (Some("de_DE"), Some("/nm/jdk"), Some("/usr/bin")));
        assert_eq!(e("HADOOP_CONF_DIR"), Some("/etc/hadoop"));
        assert_eq!(e("TZ"), None, "not in the NM's environment either");
        assert_eq!(e("CLASSPATH"), Some("$PWD/*:$HADOOP_CONF_DIR"));
        assert_eq!(l.command, format!("$JAVA_HOME/bin/java -Dlog.file=/nm/logs/{app}/{id}/jm.log Main"));

        let s = &l.script;
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines[..4], ["#!/bin/bash", "", "set -o pipefail -e", "exec 3>&1 4>&2"]);
        let log = format!("/nm/logs/{app}/{id}");
        assert_eq!(
            lines[4..9],
            [
                format!("export PRELAUNCH_OUT=\"{log}/prelaunch.out\"").as_str(),
                "exec >\"${PRELAUNCH_OUT}\"",
                format!("export PRELAUNCH_ERR=\"{log}/prelaunch.err\"").as_str(),
                "exec 2>\"${PRELAUNCH_ERR}\"",
                "echo \"Setting up env variables\"",
            ]
        );
        let pos = |needle: &str| s.find(needle).unwrap_or_else(|| panic!("{needle} not in\n{s}"));
        // Whitelisted first (with the container's own value winning at run time), then the NM's
        // variables in sanitizeEnv's order, then admin env, then the rest.
        assert!(pos("export JAVA_HOME=${JAVA_HOME:-\"/nm/jdk\"}\n") < pos("export CONTAINER_ID="));
        assert!(pos("export CONTAINER_ID=") < pos("export NM_PORT=") && pos("export NM_PORT=") < pos("export NM_HOST="));
        assert!(pos("export PWD=") < pos("export JVM_PID=\"$$\"\n"));
        assert!(
            pos("export HADOOP_TOKEN_FILE_LOCATION=\"/w/container_tokens\"\n") < pos("export MALLOC_ARENA_MAX=\"$MALLOC_ARENA_MAX\"\n")
        );
        assert!(pos("export MALLOC_ARENA_MAX=") < pos("export CLASSPATH=\"$PWD/*:$HADOOP_CONF_DIR\"\n"));
        assert!(!s.contains("export LANG=${LANG:-"), "the context set LANG");
        assert!(s.ends_with(&format!(
            "echo \"Launching container\"\nexec /bin/bash -c \"exec \\$JAVA_HOME/bin/java -Dlog.file={log}/jm.log Main\" 1>&3 2>&4 3>&- 4>&-\n"
        )));
    }

    /// The script run by bash as the live driver runs it: `$VAR`s expand in dependency order,
    /// JVM_PID is the command's own pid (the script exec's it), the command's output reaches
    /// the driver's stdout/stderr files, the script's own output lands in prelaunch.out, and
    /// a failing export stops it with the error in prelaunch.err.
    #[test]
    #[allow(clippy::disallowed_methods, clippy::disallowed_types)] // a test: real files and a real bash
    fn the_script_runs_as_yarn_s_does() {
        let root = std::env::temp_dir().join(format!("nm-launch-{}", std::process::id()));
        struct Clean(std::path::PathBuf);
        impl Drop for Clean {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _clean = Clean(root.clone());
        let mut c = Configuration::new();
        c.set("yarn.nodemanager.local-dirs", root.join("local").display());
        c.set("yarn.nodemanager.log-dirs", root.join("logs").display());
        c.set("yarn.resourcemanager.resource-tracker.address", "127.0.0.1:8031");
        let mut conf = NmConfig::from_conf(&c, "127.0.0.2:8042", "/etc/hadoop").unwrap();
        conf.inherited_env.insert("MALLOC_ARENA_MAX".into(), "2".into());
        let id = cid();
        let dirs = ContainerDirs::new(&conf, &id, "alice");
        std::fs::create_dir_all(&dirs.work_dir).unwrap();
        std::fs::create_dir_all(&dirs.log_dir).unwrap();
        // A `file:` resource in the application's cache, linked as lib/a.jar.
        let cached = root.join("cache/1/a.jar");
        std::fs::create_dir_all(cached.parent().unwrap()).unwrap();
        std::fs::write(&cached, "JAR").unwrap();
        let links = vec![(cached.display().to_string(), "lib/a.jar".to_string())];
        let run = |ctx: &ContainerLaunchContext| {
            let l = ContainerLaunch::new(&conf, "127.0.0.2:1".parse().unwrap(), &id, "alice", ctx, &dirs, None, &links);
            let script = format!("{}/launch_container.sh", dirs.work_dir);
            std::fs::write(&script, &l.script).unwrap();
            let out = std::fs::File::create(format!("{}/stdout", dirs.log_dir)).unwrap();
            let err = std::fs::File::create(format!("{}/stderr", dirs.log_dir)).unwrap();
            let st = std::process::Command::new("/bin/bash")
                .arg(&script)
                .current_dir(&dirs.work_dir)
                .env_clear()
                .envs(&l.env)
                .stdout(out)
                .stderr(err)
                .status()
                .unwrap();
            let read = |f: &str| std::fs::read_to_string(format!("{}/{f}", dirs.log_dir)).unwrap_or_default();
            (st.code(), read("stdout"), read("stderr"), read("prelaunch.out"), read("prelaunch.err"))
        };
        let mut ctx = ContainerLaunchContext::default();
        ctx.environment.insert("CLASSPATH".into(), "{{FLINK_CP}}<CPS>{{PWD}}/conf".into());
        ctx.environment.insert("FLINK_CP".into(), "lib/a.jar".into());
        ctx.local_resources.insert(
            "lib/a.jar".into(),
            crate::records::LocalResource {
                resource: format!("file:{}", cached.display()),
                kind: Default::default(),
                visibility: Default::default(),
                size: 3,
                timestamp: 0,
            },
        );
        ctx.commands =
            vec!["echo cp=$CLASSPATH pid=$JVM_PID self=$$ arena=$MALLOC_ARENA_MAX \"q\" $(cat lib/a.jar);".into(), "echo oops >&2".into()];
        let (code, out, err, pre_out, pre_err) = run(&ctx);
        assert_eq!(code, Some(0), "{pre_err}");
        let words: Vec<&str> = out.split_whitespace().collect();
        assert_eq!(words[0], format!("cp=lib/a.jar:{}/conf", dirs.work_dir));
        assert_eq!(words[1].strip_prefix("pid="), words[2].strip_prefix("self="), "JVM_PID is the command's pid");
        assert_eq!(words[3], "arena=2");
        assert_eq!(words[4], "q", "quotes in the command are the command's");
        assert_eq!(words[5], "JAR", "the cached resource is linked under its name");
        assert_eq!(err, "oops\n");
        assert_eq!(pre_out, "Setting up env variables\nSetting up job resources\nLaunching container\n");
        assert_eq!(pre_err, "");

        ctx.environment.insert("BAD".into(), "${NOPE:?must be set}".into());
        let (code, out, _, _, pre_err) = run(&ctx);
        assert_ne!(code, Some(0));
        assert_eq!(out, "", "the command never ran");
        assert!(pre_err.contains("NOPE: must be set"), "{pre_err}");
    }

    #[test]
    fn failure_diagnostics_carry_the_prelaunch_and_stderr_tails() {
        let id = cid();
        let d = failure_diagnostics(&id, 1, Some("bash: x: unbound\n"), Some(("jobmanager.stderr", "boom\n")));
        assert_eq!(
            d,
            format!(
                "Exception from container-launch.\nContainer id: {id}\nExit code: 1\nContainer exited with a non-zero exit code 1. Error file: prelaunch.err.\nLast 4096 bytes of prelaunch.err :\nbash: x: unbound\n\nLast 4096 bytes of jobmanager.stderr :\nboom\n\n"
            )
        );
        assert_eq!(stderr_log(&[("stdout", 9), ("stderr", 1), ("AppMaster.stderr", 5), ("prelaunch.err", 50)]), Some("AppMaster.stderr"));
        assert_eq!(stderr_log(&[("jobmanager.err", 9)]), None);
    }

    #[test]
    fn containers_get_the_nm_s_cluster_secret_and_the_script_does_not_show_it() {
        let mut conf = conf();
        let id = ContainerId::new(ApplicationAttemptId::new(ApplicationId::new(1, 1), 1), 1);
        let dirs = ContainerDirs::new(&conf, &id, "u");
        let mut ctx = ContainerLaunchContext::default();
        // A user cannot plant a secret of their own.
        ctx.environment.insert(env::CLUSTER_SECRET.to_string(), "planted".to_string());
        let me: Addr = "127.0.0.2:8041".parse().unwrap();
        let open = ContainerLaunch::new(&conf, me, &id, "u", &ctx, &dirs, None, &[]);
        assert!(!open.env.contains_key(env::CLUSTER_SECRET));
        conf.cluster_secret = Some("ab".repeat(32));
        let l = ContainerLaunch::new(&conf, me, &id, "u", &ctx, &dirs, None, &[]);
        assert_eq!(l.env[env::CLUSTER_SECRET], "ab".repeat(32));
        assert!(!l.script.contains(&"ab".repeat(32)) && !l.script.contains("planted"), "{}", l.script);
    }
}
