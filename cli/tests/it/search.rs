//! `kiln search REGISTRY/TERM` against the real local registry: the
//! repositories whose name holds the term, Docker's table and templates.

use super::registry::kiln_cmd;
use super::support::{kiln_with_busybox, privileged, Registry};

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn search_lists_a_registrys_repositories_holding_the_term() {
    if !privileged() {
        return;
    }
    let reg = Registry::start(None);
    let k = kiln_with_busybox();
    let cfg = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| kiln_cmd(&k, cfg.path(), args).output().unwrap();
    for name in ["busybox", "team/busy-app", "other"] {
        let image = format!("{}/{name}:1", reg.addr);
        assert!(run(&["tag", "busybox", &image]).status.success());
        let pushed = run(&["push", "-q", &image]);
        assert!(pushed.status.success(), "{}", text(&pushed.stderr));
    }
    let term = format!("{}/bus", reg.addr);
    let out = run(&["search", &term]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["NAME", "DESCRIPTION", "STARS", "OFFICIAL", "AUTOMATED"]
    );
    let names: Vec<&str> = lines
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    let want = [
        format!("{}/busybox", reg.addr),
        format!("{}/team/busy-app", reg.addr),
    ];
    assert_eq!(names, want);
    let one = run(&[
        "search",
        "--limit",
        "1",
        "--format",
        "{{.Name}} {{.StarCount}}",
        &term,
    ]);
    assert_eq!(text(&one.stdout), format!("{} 0\n", want[0]));
    // Docker Hub's search API is not a registry's: kiln says what to give.
    let hub = run(&["search", "busybox"]);
    assert_eq!(hub.status.code(), Some(1));
    assert!(
        text(&hub.stderr).contains("REGISTRY/TERM"),
        "{}",
        text(&hub.stderr)
    );
    let bad = run(&["search", "-f", "bogus=1", &term]);
    assert!(text(&bad.stderr).contains("invalid filter 'bogus'"));
}
