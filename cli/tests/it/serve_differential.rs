//! The Engine API side by side: the requests of
//! `testdata/differential/api.txt` sent to docker 20.10's dockerd and to
//! `kiln serve`, their status codes and JSON keys compared.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

use super::dockerd::Dockerd;
use crate::serve::Server;
use crate::support::{kiln_with_busybox, privileged, testdata};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Check {
    Status,
    Keys,
    Items,
}

struct Request {
    check: Check,
    method: String,
    path: String,
    body: String,
}

fn script() -> Vec<Request> {
    let text = std::fs::read_to_string(testdata().join("differential/api.txt")).unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut parts = l.splitn(4, ' ');
            let check = match parts.next() {
                Some("status") => Check::Status,
                Some("keys") => Check::Keys,
                Some("items") => Check::Items,
                other => panic!("api.txt: unknown check {other:?} in {l:?}"),
            };
            Request {
                check,
                method: parts.next().unwrap().to_string(),
                path: parts.next().unwrap().to_string(),
                body: parts.next().unwrap_or("").to_string(),
            }
        })
        .collect()
}

/// One request on its own connection; the status and the body, with a
/// chunked body put back together.
fn send(socket: &Path, r: &Request) -> (u16, Vec<u8>) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "{} {} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
        r.method,
        r.path,
        r.body.len(),
        r.body
    )
    .unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let head = String::from_utf8_lossy(&raw[..split]).to_lowercase();
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head.contains("transfer-encoding: chunked") {
        dechunk(&body)
    } else {
        body
    };
    (status, body)
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        let start = eol + 2;
        out.extend_from_slice(&data[start..(start + size).min(data.len())]);
        data = data.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// The keys of an object (the first JSON value of a stream of them).
fn keys(body: &[u8], first_item: bool) -> Result<BTreeSet<String>, String> {
    let value: Value = serde_json::Deserializer::from_slice(body)
        .into_iter()
        .next()
        .ok_or("no JSON")?
        .map_err(|e| format!("not JSON: {e}: {}", String::from_utf8_lossy(body)))?;
    let object = if first_item {
        value.get(0).cloned().ok_or("an empty list")?
    } else {
        value
    };
    Ok(object
        .as_object()
        .ok_or("not an object")?
        .keys()
        .cloned()
        .collect())
}

fn differ(r: &Request, docker: &(u16, Vec<u8>), kiln: &(u16, Vec<u8>)) -> Option<String> {
    if docker.0 != kiln.0 {
        return Some(format!(
            "status {} (docker) vs {} (kiln): {}",
            docker.0,
            kiln.0,
            String::from_utf8_lossy(&kiln.1)
        ));
    }
    if r.check == Check::Status {
        return None;
    }
    let items = r.check == Check::Items;
    let want = match keys(&docker.1, items) {
        Ok(k) => k,
        Err(e) => return Some(format!("docker's answer: {e}")),
    };
    let got = match keys(&kiln.1, items) {
        Ok(k) => k,
        Err(e) => return Some(format!("kiln's answer: {e}")),
    };
    let missing: Vec<&String> = want.difference(&got).collect();
    (!missing.is_empty()).then(|| format!("kiln lacks keys {missing:?}"))
}

#[test]
fn api_requests_agree_with_dockerd() {
    if !privileged() {
        return;
    }
    let Some(docker) = Dockerd::start() else {
        return;
    };
    let k = kiln_with_busybox();
    let saved = k.cmd(["save", "busybox"]).output().unwrap();
    assert!(saved.status.success());
    let mut load = docker.cmd(["load"]);
    load.stdin(Stdio::piped()).stdout(Stdio::null());
    let mut child = load.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&saved.stdout)
        .unwrap();
    assert!(child.wait().unwrap().success(), "docker load");
    let server = Server::start(&k);

    let script = script();
    let mut report = Vec::new();
    for r in &script {
        let d = send(&docker.socket(), r);
        let kn = send(&server.socket(), r);
        if let Some(why) = differ(r, &d, &kn) {
            report.push(format!("{} {} {}: {why}", r.method, r.path, r.body));
        }
    }
    assert!(
        report.is_empty(),
        "{} of {} requests differ from dockerd:\n{}",
        report.len(),
        script.len(),
        report.join("\n")
    );
}

#[test]
fn chunked_bodies_are_put_back_together() {
    assert_eq!(dechunk(b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"), b"abcde");
}
