//! What a run leaves behind: a JSONL trace (header with the scenario text and seed, the
//! nodes' and the runner's events, verdicts) and a self-contained HTML timeline (inline SVG).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::model::{RunResult, Status};
use crate::spec::Spec;

pub fn out_dir() -> PathBuf {
    std::env::var("SCENARIO_OUT").map(PathBuf::from).unwrap_or_else(|_| PathBuf::from("target/scenarios"))
}

/// The trace's first line: enough to rerun the run (`scenario replay`).
pub fn header(spec: &Spec, mode: &str, seed: u64) -> serde_json::Value {
    json!({"scenario": spec.name, "file": spec.file.display().to_string(), "mode": mode, "seed": seed, "text": spec.text})
}

pub fn write_jsonl(path: &Path, spec: &Spec, r: &RunResult, lines: &[String]) -> std::io::Result<()> {
    let mut s = String::new();
    s.push_str(&header(spec, &r.mode, r.seed).to_string());
    s.push('\n');
    for l in lines {
        s.push_str(l);
        s.push('\n');
    }
    if lines.is_empty() {
        // Live runs have no node trace: the runner's events are the trace.
        for e in &r.events {
            s.push_str(&json!({"t": e.t, "kind": format!("scenario.{}", e.kind), "detail": e.detail}).to_string());
            s.push('\n');
        }
    }
    s.push_str(&json!({"verdicts": r.verdicts, "trace_hash": format!("{:016x}", r.trace_hash), "events": r.events.len()}).to_string());
    s.push('\n');
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d)?;
    }
    std::fs::write(path, s)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn state_color(s: &str) -> &'static str {
    match s.split('/').next().unwrap_or("") {
        "RUNNING" => "#4caf50",
        "FINISHED" => "#2196f3",
        "FAILED" | "FAILING" => "#e53935",
        "RESTARTING" => "#ff9800",
        "CANCELED" | "CANCELLING" | "KILLED" => "#9e9e9e",
        "CREATED" | "INITIALIZING" | "ACCEPTED" | "SUBMITTED" | "NEW" | "NEW_SAVING" => "#b0bec5",
        _ => "#795548",
    }
}

/// A self-contained HTML page: containers per node over time, job and app states, faults,
/// verdicts (the failing expectation marked).
pub fn html(spec: &Spec, r: &RunResult) -> String {
    let end = r.duration.max(1) as f64;
    let width = 1000.0;
    let left = 170.0;
    let x = |t: u64| left + (t as f64 / end) * (width - left - 10.0);
    let row = 22.0;
    let mut svg = String::new();
    let mut y = 30.0;
    // Time axis.
    let ticks = 10;
    for i in 0..=ticks {
        let t = (end as u64) * i / ticks;
        let _ = write!(
            svg,
            r##"<line x1="{x:.1}" y1="20" x2="{x:.1}" y2="{{H}}" stroke="#eee"/><text x="{x:.1}" y="14" font-size="10" text-anchor="middle">{:.1}s</text>"##,
            t as f64 / 1e6,
            x = x(t)
        );
    }
    // Containers, one lane per container, grouped by node.
    let mut nodes: Vec<i32> = r.observed.containers.values().map(|c| c.node).collect();
    nodes.sort();
    nodes.dedup();
    for n in nodes {
        let label = if n >= 0 { format!("NodeManager {}", n + 1) } else { "node ?".into() };
        let _ = write!(svg, r##"<text x="4" y="{:.1}" font-size="12" font-weight="bold">{}</text>"##, y + 14.0, esc(&label));
        y += row;
        for c in r.observed.containers.values().filter(|c| c.node == n) {
            let start = c.allocated;
            let run = c.running.unwrap_or(c.completed.unwrap_or(r.duration));
            let stop = c.completed.unwrap_or(r.duration);
            let color = if c.role == "AM" { "#3f51b5" } else { "#009688" };
            let short = c.id.rsplit('_').take(2).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("_");
            let _ = write!(
                svg,
                r##"<text x="14" y="{ty:.1}" font-size="10">{role} {short}</text><rect class="container" x="{x0:.1}" y="{y:.1}" width="{w0:.1}" height="14" fill="#cfd8dc"><title>{id} allocated</title></rect><rect class="container" x="{x1:.1}" y="{y:.1}" width="{w1:.1}" height="14" fill="{color}"><title>{id} ({role}) running; exit {exit}</title></rect>"##,
                ty = y + 11.0,
                role = esc(&c.role),
                short = esc(&short),
                id = esc(&c.id),
                x0 = x(start),
                w0 = (x(run) - x(start)).max(1.0),
                x1 = x(run),
                w1 = (x(stop) - x(run)).max(if c.running.is_some() { 1.0 } else { 0.0 }),
                exit = c.exit.map(|e| e.to_string()).unwrap_or_else(|| "-".into()),
            );
            y += row;
        }
    }
    // App, attempt and job states per deployment.
    for (d, name) in r.deploys.iter().enumerate() {
        for what in ["app", "job"] {
            let changes: Vec<_> = r.observed.changes.iter().filter(|c| c.deploy == d && c.what == what).collect();
            if changes.is_empty() {
                continue;
            }
            let _ = write!(svg, r##"<text x="4" y="{:.1}" font-size="11">{} {}</text>"##, y + 11.0, esc(name), what);
            for (i, c) in changes.iter().enumerate() {
                let stop = changes.get(i + 1).map(|n| n.t).unwrap_or(r.duration);
                let _ = write!(
                    svg,
                    r##"<rect class="state" x="{:.1}" y="{y:.1}" width="{:.1}" height="14" fill="{}"><title>{} {}</title></rect>"##,
                    x(c.t),
                    (x(stop) - x(c.t)).max(1.0),
                    state_color(&c.state),
                    esc(what),
                    esc(&c.state)
                );
                let _ = write!(
                    svg,
                    r##"<text x="{:.1}" y="{:.1}" font-size="9" fill="#fff">{}</text>"##,
                    x(c.t) + 2.0,
                    y + 11.0,
                    esc(c.state.split('/').next().unwrap_or(""))
                );
            }
            y += row;
        }
    }
    // Faults as red markers across the chart.
    let top = 20.0;
    for e in r.events.iter().filter(|e| e.kind == "fault" || e.kind == "heal") {
        let color = if e.kind == "fault" { "#d32f2f" } else { "#388e3c" };
        let _ = write!(
            svg,
            r##"<line class="fault" x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{{H}}" stroke="{color}" stroke-width="2" stroke-dasharray="4,2"><title>{}</title></line>"##,
            esc(&e.to_string()),
            x = x(e.t)
        );
        // A short label under the axis: the verb and what it hit.
        let short: String = e.detail.split(" (").next().unwrap_or("").split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        let _ = write!(svg, r##"<text x="{:.1}" y="{{H}}" font-size="9" fill="{color}">{}</text>"##, x(e.t) + 3.0, esc(&short));
    }
    let height = y + 14.0;
    let svg = svg.replace("{H}", &format!("{height:.1}"));
    let mut verdicts = String::new();
    for v in &r.verdicts {
        let (cls, mark) = match v.status {
            Status::Pass => ("pass", "PASS"),
            Status::Fail => ("fail", "FAIL"),
            Status::Skip => ("skip", "SKIP"),
        };
        let line = if v.line > 0 { format!(" <small>(line {})</small>", v.line) } else { String::new() };
        let _ = write!(verdicts, r#"<li class="{cls}"><b>{mark}</b> {}{line}</li>"#, esc(&v.text));
    }
    let mut log = String::new();
    for e in &r.events {
        let _ = writeln!(log, "{}", esc(&e.to_string()));
    }
    format!(
        r##"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{name} (seed {seed})</title>
<style>body{{font-family:sans-serif;margin:16px}} li.fail{{color:#c62828;font-weight:bold;background:#ffebee}} li.pass{{color:#2e7d32}} li.skip{{color:#757575}} pre{{background:#fafafa;font-size:11px;max-height:400px;overflow:auto}}</style>
</head><body>
<h1>{name}</h1>
<p>{breaks}<br>Expects: {expects}<br>Mode {mode}, seed {seed}, trace hash {hash:016x}, {dur:.3}s</p>
<ul class="verdicts">{verdicts}</ul>
<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height:.0}" viewBox="0 0 {width} {height:.0}">{svg}</svg>
<h2>Events</h2>
<pre>{log}</pre>
</body></html>
"##,
        name = esc(&spec.name),
        breaks = esc(&spec.breaks),
        expects = esc(&spec.expects),
        mode = r.mode,
        seed = r.seed,
        hash = r.trace_hash,
        dur = r.duration as f64 / 1e6,
    )
}

/// Writes `<name>-<seed>.{jsonl,html}` under the output dir; returns their paths.
pub fn write(spec: &Spec, r: &RunResult, lines: &[String]) -> std::io::Result<(PathBuf, PathBuf)> {
    let dir = out_dir();
    std::fs::create_dir_all(&dir)?;
    let suffix = if r.mode == "live" { "-live" } else { "" };
    let base = dir.join(format!("{}-{}{suffix}", spec.name, r.seed));
    let jsonl = base.with_extension("jsonl");
    let htmlp = base.with_extension("html");
    write_jsonl(&jsonl, spec, r, lines)?;
    std::fs::write(&htmlp, html(spec, r))?;
    Ok((htmlp, jsonl))
}
