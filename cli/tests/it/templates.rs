//! `--format` Go templates: Docker's field names, functions and `table`
//! output for ps, images, inspect, history, volume ls, network ls and
//! system df, over real containers and images.

use super::support::{kiln_with_busybox, ok, privileged, run, Kiln};

/// Exit status and stderr of a command that must fail.
fn fails(k: &Kiln, args: &[&str]) -> (i32, String) {
    let out = run(k, args);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert!(out.stdout.is_empty(), "{args:?} printed output");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().unwrap_or(-1), err)
}

/// A root with busybox and a created container `web` labelled tier=front.
fn with_container() -> Kiln {
    let k = kiln_with_busybox();
    let args = ["create", "--name", "web", "--label", "tier=front"];
    ok(&k, &[&args[..], &["busybox", "sleep", "1"]].concat());
    k
}

#[test]
fn ps_fields_functions_and_label() {
    if !privileged() {
        return;
    }
    let k = with_container();
    let out = ok(
        &k,
        &[
            "ps",
            "-a",
            "--format",
            r#"{{.Names}} {{.State}} {{.Label "tier"}} {{.Image}} {{upper .Names}}"#,
        ],
    );
    assert_eq!(out, "web created front busybox WEB\n");
    let out = ok(
        &k,
        &[
            "ps",
            "-a",
            "--format",
            "{{json .Names}}|{{.Labels}}|{{.Command}}",
        ],
    );
    assert_eq!(out, "\"web\"|tier=front|\"sleep 1\"\n");
    let id = ok(&k, &["ps", "-aq"]);
    let out = ok(&k, &["ps", "-a", "--format", "{{.ID}}\\t{{.Names}}"]);
    assert_eq!(out, format!("{}\tweb\n", id.trim()));
}

#[test]
fn ps_table_has_dockers_headers_and_aligned_columns() {
    if !privileged() {
        return;
    }
    let k = with_container();
    let id = ok(&k, &["ps", "-aq"]);
    let out = ok(
        &k,
        &[
            "ps",
            "-a",
            "--format",
            "table {{.ID}}\\t{{.Names}}\\t{{.Status}}",
        ],
    );
    assert_eq!(
        out,
        format!(
            "CONTAINER ID   NAMES     STATUS\n{}   web       Created\n",
            id.trim()
        )
    );
    // No containers: the header alone.
    let empty = kiln_with_busybox();
    assert_eq!(
        ok(&empty, &["ps", "--format", "table {{.Names}}"]),
        "NAMES\n"
    );
}

#[test]
fn a_bad_template_is_refused_with_dockers_status() {
    if !privileged() {
        return;
    }
    let k = with_container();
    let (code, err) = fails(&k, &["ps", "-a", "--format", "{{.ID"]);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        "kiln: error: template parsing error: template: :1: unclosed action\n"
    );
    // A block without its {{end}} is refused, not closed at the end.
    let (code, err) = fails(&k, &["ps", "-a", "--format", "{{if .Names}}x"]);
    assert_eq!(code, 1);
    assert!(err.contains("unexpected EOF"), "{err}");
    let (code, err) = fails(&k, &["ps", "-a", "--format", "{{.Nope}}"]);
    assert_eq!(code, 1);
    assert!(err.contains("Nope"), "{err}");
    let (code, err) = fails(&k, &["images", "--format", "{{nofunc .ID}}"]);
    assert_eq!(code, 1);
    assert!(err.contains("nofunc"), "{err}");
    // inspect, as Docker's: 64 for a template that does not parse.
    let (code, err) = fails(&k, &["inspect", "-f", "{{.State", "web"]);
    assert_eq!(code, 64);
    assert!(err.contains("template parsing error"), "{err}");
    let (code, _) = fails(&k, &["events", "--until", "0s", "--format", "{{.Type"]);
    assert_eq!(code, 64);
}

#[test]
fn inspect_container_and_image_documents() {
    if !privileged() {
        return;
    }
    let k = with_container();
    let out = ok(
        &k,
        &[
            "inspect",
            "-f",
            "{{.State.Status}} {{.Name}} {{json .Config.Labels}}",
            "web",
        ],
    );
    assert_eq!(out, "created /web {\"tier\":\"front\"}\n");
    let out = ok(
        &k,
        &[
            "container",
            "inspect",
            "--format",
            "{{.Config.Cmd}}|{{range .Config.Cmd}}<{{.}}>{{end}}|{{len .Config.Cmd}}",
            "web",
        ],
    );
    assert_eq!(out, "[sleep 1]|<sleep><1>|2\n");
    let out = ok(
        &k,
        &[
            "image",
            "inspect",
            "-f",
            "{{.Config.Cmd}} {{index .RepoTags 0}}",
            "busybox",
        ],
    );
    assert_eq!(out, "[sh] busybox:latest\n");
    // One line per document.
    let out = ok(&k, &["inspect", "--format", "{{.Name}}", "web", "web"]);
    assert_eq!(out, "/web\n/web\n");
}

#[test]
fn images_and_history_templates() {
    let k = kiln_with_busybox();
    let out = ok(
        &k,
        &["images", "--format", "{{.Repository}}:{{.Tag}} {{len .ID}}"],
    );
    assert_eq!(out, "busybox:latest 12\n");
    let out = ok(
        &k,
        &["images", "--format", "table {{.Repository}}\\t{{.Tag}}"],
    );
    assert_eq!(out, "REPOSITORY   TAG\nbusybox      latest\n");
    let out = ok(&k, &["images", "--format", "{{.CreatedAt}}"]);
    assert!(out.trim_end().ends_with(" +0000 UTC"), "{out}");
    let table = ok(
        &k,
        &[
            "history",
            "--format",
            "table {{.ID}}\\t{{.Comment}}",
            "busybox",
        ],
    );
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("IMAGE "), "{table}");
    assert!(lines[0].ends_with("COMMENT"), "{table}");
    assert!(lines.len() >= 2, "{table}");
    let ids = ok(&k, &["history", "--format", "{{.ID}}", "busybox"]);
    assert_eq!(ids, ok(&k, &["history", "-q", "busybox"]));
}

#[test]
fn volume_and_network_listings() {
    if !privileged() {
        return;
    }
    let k = Kiln::new();
    ok(&k, &["volume", "create", "--label", "a=1", "data"]);
    let out = ok(
        &k,
        &[
            "volume",
            "ls",
            "--format",
            r#"{{.Name}} {{.Driver}} {{.Scope}} {{.Labels}} {{.Label "a"}}"#,
        ],
    );
    assert_eq!(out, "data local local a=1 1\n");
    let out = ok(
        &k,
        &["volume", "ls", "--format", "table {{.Name}}\\t{{.Driver}}"],
    );
    assert_eq!(out, "VOLUME NAME   DRIVER\ndata          local\n");
    let out = ok(
        &k,
        &["volume", "inspect", "-f", "{{.Name}} {{.Labels}}", "data"],
    );
    assert_eq!(out, "data map[a:1]\n");
    ok(&k, &["network", "create", "backend"]);
    let out = ok(&k, &["network", "ls", "--format", "{{.Name}}/{{.Driver}}"]);
    assert_eq!(out, "bridge/bridge\nhost/host\nnone/none\nbackend/bridge\n");
    let out = ok(
        &k,
        &["network", "ls", "--format", "table {{.Name}}\\t{{.Scope}}"],
    );
    assert!(
        out.starts_with("NAME      SCOPE\nbridge    local\n"),
        "{out}"
    );
    let out = ok(&k, &["system", "df", "--format", "{{.Type}}"]);
    assert_eq!(out, "Images\nContainers\nLocal Volumes\nBuild Cache\n");
}
