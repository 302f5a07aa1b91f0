//! A build record drawn as a timeline: one bar per step on a time axis,
//! the stages as lanes, cached steps hatched, the critical path in red;
//! each bar's tooltip gives the instruction, FILE:LINE, its duration and
//! why it missed the cache. SVG alone, or inside a self-contained HTML
//! page (no network: styles and script inline) whose script notes where
//! the browser laid each bar out, for tests and for anyone reading the DOM.

use std::collections::HashSet;
use std::fmt::Write;

use kiln_solver::record::dag::critical_path;
use kiln_solver::record::{BuildRecord, StepRecord};

const WIDTH: f64 = 1200.0;
const LABEL: f64 = 360.0;
const ROW: f64 = 22.0;
const TOP: f64 = 40.0;
/// Zero-length steps (cache hits) stay visible.
const MIN_BAR: f64 = 3.0;
/// The lane of vertices outside the stages: pulls, exports, pushes.
const OTHER_LANE: &str = "build";

pub fn html(record: &BuildRecord) -> String {
    let mut out = String::new();
    let title = format!("kiln build {}", record.id);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n<p class=\"summary\">{}</p>\n{LEGEND}\n{}<script>{SCRIPT}</script>\n</body>\n</html>\n",
        escape(&title),
        escape(&title),
        escape(&summary(record)),
        svg(record),
    );
    out
}

const LEGEND: &str = "<p class=\"legend\"><span class=\"key ran\"></span> ran \
<span class=\"key cached\"></span> cached \
<span class=\"key critical\"></span> critical path \
(hover a bar for its instruction, line, duration and cache miss)</p>";

const STYLE: &str = "body{font:14px sans-serif;margin:16px;color:#222}\
h1{font-size:18px}.summary{color:#555}\
.lane{fill:#f4f4f4}.lane.odd{fill:#e9eef5}\
.lane-label{font-weight:bold;font-size:12px;fill:#333}\
.step-label{font:12px monospace;fill:#222}\
.bar{fill:#4a7bd0}.bar.cached{fill:url(#hatch);stroke:#888;stroke-dasharray:3 2}\
.bar.failed{fill:#d08a2e}.bar.critical{fill:#d33;stroke:#700;stroke-width:1.5}\
.bar.cached.critical{fill:url(#hatch-critical)}\
.axis{stroke:#bbb}.tick{font-size:11px;fill:#666}\
.key{display:inline-block;width:24px;height:10px;margin-left:12px;vertical-align:middle}\
.key.ran{background:#4a7bd0}.key.critical{background:#d33}\
.key.cached{background:repeating-linear-gradient(45deg,#ddd 0 3px,#999 3px 6px)}";

/// Runs once the page is laid out: each bar gets the box the browser
/// gave it, the body the number of bars.
const SCRIPT: &str = "window.addEventListener('load',function(){\
var bars=document.querySelectorAll('rect.bar');\
bars.forEach(function(b){var r=b.getBoundingClientRect();\
b.setAttribute('data-rendered-x',r.left.toFixed(1));\
b.setAttribute('data-rendered-width',r.width.toFixed(1));});\
document.body.setAttribute('data-bars',String(bars.length));});";

fn summary(record: &BuildRecord) -> String {
    let ran = record.steps.iter().filter(|s| !s.cached).count();
    let cached = record.steps.len() - ran;
    let result = match (&record.outcome.image, &record.outcome.error) {
        (_, Some(e)) => format!("failed: {e}"),
        (Some(i), None) => format!("image {i}"),
        (None, None) => "no image".to_string(),
    };
    format!(
        "{} · {} · {} steps ({ran} ran, {cached} cached) · {result}",
        record.file,
        seconds(record.finished.saturating_sub(record.started)),
        record.steps.len(),
    )
}

/// Steps grouped by lane, lanes in Dockerfile order (the first line of
/// their steps), the vertices outside the stages last.
fn lanes(record: &BuildRecord) -> Vec<(String, Vec<&StepRecord>)> {
    let mut lanes: Vec<(String, Vec<&StepRecord>)> = Vec::new();
    for s in &record.steps {
        let lane = s.stage.as_deref().unwrap_or(OTHER_LANE);
        match lanes.iter_mut().find(|(l, _)| l == lane) {
            Some((_, steps)) => steps.push(s),
            None => lanes.push((lane.to_string(), vec![s])),
        }
    }
    lanes.sort_by_key(|(lane, steps)| {
        let first = steps.iter().filter_map(|s| s.line).min();
        (lane == OTHER_LANE, first.is_none(), first)
    });
    lanes
}

pub fn svg(record: &BuildRecord) -> String {
    let critical: HashSet<usize> = critical_path(&record.steps).into_iter().collect();
    let t0 = record
        .steps
        .iter()
        .map(|s| s.start)
        .min()
        .unwrap_or(record.started);
    let t1 = record.steps.iter().map(|s| s.end).max().unwrap_or(t0);
    let span = t1.saturating_sub(t0).max(1) as f64;
    let x = |t: u64| LABEL + (t.saturating_sub(t0) as f64) / span * (WIDTH - LABEL - 10.0);
    let lanes = lanes(record);
    let rows: usize = lanes.iter().map(|(_, s)| s.len() + 1).sum();
    let height = TOP + rows as f64 * ROW + 10.0;
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\" font-family=\"sans-serif\">\n{}",
        defs()
    );
    axis(&mut out, t0, t1, height, &x);
    let mut y = TOP;
    for (i, (lane, steps)) in lanes.iter().enumerate() {
        let h = (steps.len() + 1) as f64 * ROW;
        let odd = if i % 2 == 1 { " odd" } else { "" };
        let _ = writeln!(
            out,
            "<g class=\"lane-group\" data-lane=\"{0}\"><rect class=\"lane{odd}\" fill=\"{1}\" x=\"0\" y=\"{y}\" width=\"{WIDTH}\" height=\"{h}\"/><text class=\"lane-label\" x=\"6\" y=\"{2}\">{0}</text>",
            escape(lane),
            if odd.is_empty() { "#f4f4f4" } else { "#e9eef5" },
            y + 15.0
        );
        y += ROW;
        for s in steps {
            bar(&mut out, record, s, critical.contains(&s.vertex), y, &x);
            y += ROW;
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n");
    out
}

fn defs() -> &'static str {
    "<defs><pattern id=\"hatch\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#ddd\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#999\" stroke-width=\"3\"/></pattern>\
<pattern id=\"hatch-critical\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#f5c0c0\"/><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#d33\" stroke-width=\"3\"/></pattern></defs>\n"
}

/// Ticks at round seconds (or tenths of one) along the top.
fn axis(out: &mut String, t0: u64, t1: u64, height: f64, x: &dyn Fn(u64) -> f64) {
    let total = t1.saturating_sub(t0) as f64 / 1e9;
    let step = [
        0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
    ]
    .into_iter()
    .find(|s| total / s <= 10.0)
    .unwrap_or(1800.0);
    let mut t = 0.0;
    while t <= total + 1e-9 {
        let offset = (t * 1e9) as u64;
        let px = x(t0 + offset);
        let _ = writeln!(
            out,
            "<line class=\"axis\" stroke=\"#bbb\" x1=\"{px:.1}\" y1=\"{}\" x2=\"{px:.1}\" y2=\"{height}\"/><text class=\"tick\" x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            TOP - 12.0,
            TOP - 16.0,
            seconds(offset)
        );
        t += step;
    }
}

fn bar(
    out: &mut String,
    record: &BuildRecord,
    s: &StepRecord,
    critical: bool,
    y: f64,
    x: &dyn Fn(u64) -> f64,
) {
    let mut class = String::from("bar");
    for (on, name) in [
        (s.cached, " cached"),
        (s.error.is_some(), " failed"),
        (critical, " critical"),
    ] {
        if on {
            class.push_str(name);
        }
    }
    let left = x(s.start);
    let width = (x(s.end) - left).max(MIN_BAR);
    let label: String = s.name.chars().take(48).collect();
    let _ = writeln!(
        out,
        "<text class=\"step-label\" x=\"20\" y=\"{:.1}\">{}</text><rect class=\"{class}\" fill=\"{}\" data-vertex=\"{}\" data-stage=\"{}\" data-cached=\"{}\" data-critical=\"{critical}\" data-start-ms=\"{:.3}\" data-duration-ms=\"{:.3}\" x=\"{left:.1}\" y=\"{:.1}\" width=\"{width:.1}\" height=\"{:.1}\" rx=\"2\"><title>{}</title></rect>",
        y + 15.0,
        escape(&label),
        fill(s.cached, critical),
        s.vertex,
        escape(s.stage.as_deref().unwrap_or(OTHER_LANE)),
        s.cached,
        s.start.saturating_sub(record.started) as f64 / 1e6,
        s.duration_ns() as f64 / 1e6,
        y + 3.0,
        ROW - 6.0,
        escape(&tooltip(record, s)),
    );
}

/// The fill for viewers without the page's style sheet (the SVG alone).
fn fill(cached: bool, critical: bool) -> &'static str {
    match (cached, critical) {
        (true, false) => "url(#hatch)",
        (true, true) => "url(#hatch-critical)",
        (false, true) => "#d33",
        (false, false) => "#4a7bd0",
    }
}

pub fn tooltip(record: &BuildRecord, s: &StepRecord) -> String {
    let mut lines = vec![s.text().to_string()];
    if let Some(line) = s.line {
        lines.push(format!("{}:{line}", record.file));
    }
    let state = if s.cached { "CACHED" } else { "ran" };
    lines.push(format!("{} ({state})", seconds(s.duration_ns())));
    if let Some(e) = &s.error {
        lines.push(format!("failed: {e}"));
    }
    lines.extend(s.miss.iter().map(|m| format!("cache miss: {m}")));
    lines.join("\n")
}

pub fn seconds(ns: u64) -> String {
    format!("{:.2}s", ns as f64 / 1e9)
}

/// Text and attribute values: the Dockerfile's words are the user's.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML allows no other control character, even as a reference.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
#[path = "timeline_tests.rs"]
mod tests;
