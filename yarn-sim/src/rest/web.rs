//! Server-rendered pages (the RM UI here, the Flink AM's dashboard in flink-am): minijinja
//! templates compiled in, HTML autoescaping, and the filters both UIs use for times, durations
//! and sizes. Pages link relatively only, so they work behind the RM's `/proxy/<app>/`.

use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use minijinja::{AutoEscape, Environment, Value};

/// An environment holding `templates` (name, source); `.html` names are autoescaped.
pub fn environment(templates: &[(&'static str, &'static str)]) -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|name| if name.ends_with(".html") { AutoEscape::Html } else { AutoEscape::None });
    // An undefined variable is an error, so a template typo fails its test instead of
    // rendering an empty cell.
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    for (name, src) in templates {
        env.add_template(name, src).unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env.add_filter("ts", |v: Value| timestamp(v.as_i64().unwrap_or(-1)));
    env.add_filter("dur", |v: Value| duration(v.as_i64().unwrap_or(-1)));
    env.add_filter("bytes", |v: Value| bytes(v.as_i64().unwrap_or(0)));
    env
}

/// Renders `name` with `ctx`; a rendering error is a 500 page naming it (never a panic).
pub fn render(env: &Environment<'static>, status: StatusCode, name: &str, ctx: Value) -> Response {
    match env.get_template(name).and_then(|t| t.render(ctx)) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Html(format!("<!DOCTYPE html><title>Error</title><pre>{}</pre>", escape(&format!("{e:#}")))),
        )
            .into_response(),
    }
}

pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}

/// Epoch milliseconds as `YYYY-MM-DD HH:MM:SS` (UTC); zero or negative is "-" (not set).
pub fn timestamp(ms: i64) -> String {
    if ms <= 0 {
        return "-".into();
    }
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = crate::cli::fmt::civil(days);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Milliseconds as `1h 2m 3s`, `4s 120ms` or `350ms`; negative is "-".
pub fn duration(ms: i64) -> String {
    if ms < 0 {
        return "-".into();
    }
    let (h, m, s, r) = (ms / 3_600_000, ms / 60_000 % 60, ms / 1000 % 60, ms % 1000);
    if h > 0 {
        format!("{h}h {m}m {s}s")
    } else if m > 0 {
        format!("{m}m {s}s")
    } else if s > 0 {
        format!("{s}s {r}ms")
    } else {
        format!("{r}ms")
    }
}

/// A size in bytes as B, KB, MB, GB (1024-based, as Flink's and YARN's UIs show them).
pub fn bytes(n: i64) -> String {
    let units = ["B", "KB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v.abs() >= 1024.0 && u + 1 < units.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_format_times_durations_and_sizes() {
        assert_eq!(timestamp(0), "-");
        assert_eq!(timestamp(1_000), "1970-01-01 00:00:01");
        // 2026-11-27 21:00:30 UTC.
        assert_eq!(timestamp(1_795_813_230_000), "2026-11-27 21:00:30");
        assert_eq!(timestamp(951_782_400_000), "2000-02-29 00:00:00");
        assert_eq!(duration(350), "350ms");
        assert_eq!(duration(4_120), "4s 120ms");
        assert_eq!(duration(3_723_000), "1h 2m 3s");
        assert_eq!(duration(-1), "-");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KB");
        assert_eq!(bytes(3 * 1024 * 1024), "3.0 MB");
    }

    #[test]
    fn templates_escape_html_and_refuse_undefined_names() {
        let env = environment(&[("t.html", "<b>{{ x }}</b>"), ("u.html", "{{ nope }}")]);
        let r = env.get_template("t.html").unwrap().render(minijinja::context! { x => "<script>" }).unwrap();
        assert_eq!(r, "<b>&lt;script&gt;</b>");
        assert!(env.get_template("u.html").unwrap().render(minijinja::context! {}).is_err());
    }
}
