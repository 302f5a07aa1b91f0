//! A record as an OpenTelemetry trace in the OTLP JSON file format (what
//! the collector's file exporter writes and Jaeger imports): one span for
//! the build, one per step as its child. 64-bit integers are strings, as
//! protobuf's JSON mapping has them.

use serde_json::{json, Value};

use super::{BuildRecord, StepRecord};

/// OTLP's `SPAN_KIND_INTERNAL`.
const INTERNAL: u8 = 1;
/// `STATUS_CODE_OK`, `STATUS_CODE_ERROR`.
const OK: u8 = 1;
const ERROR: u8 = 2;

pub fn trace(record: &BuildRecord) -> Value {
    let trace_id = hex_id(&record.id, 32);
    let root_id = hex_id(&format!("{}/build", record.id), 16);
    let mut spans = vec![build_span(record, &trace_id, &root_id)];
    spans.extend(
        record
            .steps
            .iter()
            .map(|s| step_span(record, s, &trace_id, &root_id)),
    );
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [string("service.name", "kiln")]},
            "scopeSpans": [{
                "scope": {"name": "kiln", "version": env!("CARGO_PKG_VERSION")},
                "spans": spans,
            }],
        }],
    })
}

fn build_span(record: &BuildRecord, trace_id: &str, span_id: &str) -> Value {
    let mut attributes = vec![
        string("kiln.build.id", &record.id),
        string("code.filepath", &record.file),
        string("kiln.context", &record.options.context),
    ];
    if let Some(d) = &record.dockerfile_digest {
        attributes.push(string("kiln.dockerfile.digest", d));
    }
    if let Some(i) = &record.outcome.image {
        attributes.push(string("kiln.image", i));
    }
    if let Some(io) = record.io {
        attributes.push(int("kiln.io.read_bytes", io.read));
        attributes.push(int("kiln.io.write_bytes", io.written));
    }
    json!({
        "traceId": trace_id,
        "spanId": span_id,
        "parentSpanId": "",
        "name": "build",
        "kind": INTERNAL,
        "startTimeUnixNano": record.started.to_string(),
        "endTimeUnixNano": record.finished.to_string(),
        "attributes": attributes,
        "status": status(record.outcome.error.as_deref()),
    })
}

fn step_span(record: &BuildRecord, step: &StepRecord, trace_id: &str, parent: &str) -> Value {
    let mut attributes = vec![
        int("kiln.vertex", step.vertex as u64),
        json!({"key": "kiln.cached", "value": {"boolValue": step.cached}}),
    ];
    if let Some(stage) = &step.stage {
        attributes.push(string("kiln.stage", stage));
    }
    if let Some(line) = step.line {
        attributes.push(string("code.filepath", &record.file));
        attributes.push(int("code.lineno", line as u64));
    }
    if !step.miss.is_empty() {
        attributes.push(string("kiln.cache.miss", &step.miss.join("\n")));
    }
    json!({
        "traceId": trace_id,
        "spanId": hex_id(&format!("{}/{}", record.id, step.vertex), 16),
        "parentSpanId": parent,
        "name": step.name,
        "kind": INTERNAL,
        "startTimeUnixNano": step.start.to_string(),
        "endTimeUnixNano": step.end.to_string(),
        "attributes": attributes,
        "status": status(step.error.as_deref()),
    })
}

fn status(error: Option<&str>) -> Value {
    match error {
        Some(message) => json!({"code": ERROR, "message": message}),
        None => json!({"code": OK}),
    }
}

fn string(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

fn int(key: &str, value: u64) -> Value {
    json!({"key": key, "value": {"intValue": value.to_string()}})
}

/// `len` hex digits derived from `seed`: the same record always gives the
/// same IDs, so a trace exported twice is one trace.
fn hex_id(seed: &str, len: usize) -> String {
    blake3::hash(seed.as_bytes()).to_hex()[..len].to_string()
}
