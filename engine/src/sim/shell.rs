//! A tiny shell for container commands in the sim: `echo`, `hostname`, `sleep`, `exit`,
//! `true`, `false`, `printenv`, joined by `;`, `&&` and `||`. Anything else is
//! "command not found" (exit 127), as bash would say; real programs are registered nodes.

use std::any::Any;
use std::collections::BTreeMap;
use std::time::Duration;

use crate::node::{Addr, Cx, Node, TimerId};
use crate::Msg;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Join {
    Seq,
    And,
    Or,
}

/// The built-in shell: runs one command line step by step in virtual time.
pub struct SimShell {
    steps: Vec<(Join, Vec<String>)>,
    next: usize,
    status: i32,
    hostname: String,
    env: BTreeMap<String, String>,
}

/// Splits a command line into words, honouring single and double quotes.
pub fn split_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut has = false;
    let mut quote: Option<char> = None;
    for c in line.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                has = true;
            }
            (None, c) if c.is_whitespace() => {
                if has || !cur.is_empty() {
                    words.push(std::mem::take(&mut cur));
                    has = false;
                }
            }
            (None, c) => cur.push(c),
        }
    }
    if has || !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Splits a script on `;`, `&&`, `||` outside quotes.
fn split_script(script: &str) -> Vec<(Join, String)> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut join = Join::Seq;
    let mut quote: Option<char> = None;
    let cs: Vec<char> = script.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match quote {
            Some(q) => {
                if c == q {
                    quote = None;
                }
                cur.push(c);
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                cur.push(c);
            }
            None if c == ';' || c == '\n' => {
                out.push((join, std::mem::take(&mut cur)));
                join = Join::Seq;
            }
            None if (c == '&' || c == '|') && cs.get(i + 1) == Some(&c) => {
                out.push((join, std::mem::take(&mut cur)));
                join = if c == '&' { Join::And } else { Join::Or };
                i += 1;
            }
            None => cur.push(c),
        }
        i += 1;
    }
    out.push((join, cur));
    out.into_iter().filter(|(_, s)| !s.trim().is_empty()).collect()
}

/// Removes redirections (`>f`, `1>f`, `2>f`, `2>&1`) from a word list and returns
/// (words, stdout target, stderr target).
pub fn strip_redirects(words: Vec<String>) -> (Vec<String>, Option<String>, Option<String>) {
    let (mut rest, mut out, mut err) = (Vec::new(), None, None);
    for w in words {
        if w == "2>&1" || w == "1>&2" {
            continue;
        } else if let Some(p) = w.strip_prefix("1>").or_else(|| w.strip_prefix('>')) {
            out = Some(p.trim_start_matches('>').to_string());
        } else if let Some(p) = w.strip_prefix("2>") {
            err = Some(p.trim_start_matches('>').to_string());
        } else {
            rest.push(w);
        }
    }
    (rest, out, err)
}

/// True if a command line needs the shell (several commands) rather than one program.
pub fn is_script(line: &str) -> bool {
    split_script(line).len() > 1
}

impl SimShell {
    pub fn new(script: &str, hostname: String, env: BTreeMap<String, String>) -> SimShell {
        let steps = split_script(script).into_iter().map(|(j, s)| (j, strip_redirects(split_words(&s)).0)).collect();
        SimShell { steps, next: 0, status: 0, hostname, env }
    }

    fn run(&mut self, cx: &mut Cx) {
        while self.next < self.steps.len() {
            let (join, words) = self.steps[self.next].clone();
            self.next += 1;
            let skip = match join {
                Join::Seq => false,
                Join::And => self.status != 0,
                Join::Or => self.status == 0,
            };
            if skip || words.is_empty() {
                continue;
            }
            let args = &words[1..];
            match words[0].as_str() {
                "echo" => {
                    let line = args.join(" ");
                    cx.print(&line);
                    self.status = 0;
                }
                "hostname" => {
                    let h = self.hostname.clone();
                    cx.print(&h);
                    self.status = 0;
                }
                "printenv" => {
                    for a in args {
                        if let Some(v) = self.env.get(a) {
                            let v = v.clone();
                            cx.print(&v);
                        }
                    }
                    self.status = 0;
                }
                "true" | ":" => self.status = 0,
                "false" => self.status = 1,
                "exit" => {
                    let code = args.first().and_then(|a| a.parse().ok()).unwrap_or(self.status);
                    cx.exit(code);
                    self.next = self.steps.len();
                    return;
                }
                "sleep" => {
                    let secs: f64 = args.first().and_then(|a| a.parse().ok()).unwrap_or(0.0);
                    self.status = 0;
                    cx.set_timer(Duration::from_secs_f64(secs.max(0.0)), 0);
                    return;
                }
                other => {
                    let msg = format!("bash: line 1: {other}: command not found");
                    cx.trace("shell.not_found", &msg);
                    self.status = 127;
                }
            }
        }
        cx.exit(self.status);
    }
}

impl Node for SimShell {
    fn on_start(&mut self, cx: &mut Cx) {
        self.run(cx);
    }
    fn on_message(&mut self, _cx: &mut Cx, _from: Addr, _msg: Msg) {}
    fn on_timer(&mut self, cx: &mut Cx, _t: TimerId) {
        self.run(cx);
    }
    fn as_any(&mut self) -> &mut dyn Any {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_quotes_and_redirects() {
        let w = split_words("echo 'a b' \"c\" 1>/x/stdout 2>/x/stderr");
        assert_eq!(w, vec!["echo", "a b", "c", "1>/x/stdout", "2>/x/stderr"]);
        let (rest, o, e) = strip_redirects(w);
        assert_eq!(rest, vec!["echo", "a b", "c"]);
        assert_eq!(o.as_deref(), Some("/x/stdout"));
        assert_eq!(e.as_deref(), Some("/x/stderr"));
    }

    #[test]
    fn scripts_split_on_operators_outside_quotes() {
        let s = split_script("hostname; echo 'a;b' && false || echo x");
        let joins: Vec<_> = s.iter().map(|(j, _)| *j).collect();
        assert_eq!(joins, vec![Join::Seq, Join::Seq, Join::And, Join::Or]);
        assert_eq!(s[1].1.trim(), "echo 'a;b'");
        assert!(!is_script("sleep 1"));
    }
}
