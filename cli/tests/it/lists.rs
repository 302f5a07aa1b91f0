//! The list and show commands' selections that the differential test
//! cannot show, since they differ by ID, size or time: `images --filter`,
//! `ps --filter` and `--size`, `logs --until`/`--details`, `system df -v`.

use std::time::Duration;

use crate::support::{busybox_tar, kiln_with_busybox, ok, privileged, run, Cleanup, Kiln};

fn lines(k: &Kiln, args: &[&str]) -> Vec<String> {
    ok(k, args)
        .lines()
        .map(|l| l.trim_end().to_string())
        .collect()
}

/// `import` of the busybox tar as `name` with one LABEL; its short ID.
/// Creation times have whole seconds: a second first keeps them apart.
fn import_labelled(k: &Kiln, name: &str, label: &str) -> String {
    std::thread::sleep(Duration::from_millis(1100));
    let out = k
        .cmd(["import"])
        .arg(busybox_tar())
        .args([name, "--change", &format!("LABEL {label}")])
        .output()
        .expect("kiln import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    id.trim_start_matches("sha256:")[..12].to_string()
}

#[test]
fn images_filter_by_dangling_label_reference_and_creation() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let base = ok(&k, &["images", "-q", "busybox"]).trim().to_string();
    let web = import_labelled(&k, "labelled:1", "tier=web");
    // The same name again: the first image keeps no name, it dangles.
    let db = import_labelled(&k, "labelled:1", "tier=db");
    let ids = |args: &[&str]| {
        let mut all = vec!["images", "-q"];
        all.extend(args);
        lines(&k, &all)
    };
    assert_eq!(
        ids(&["--filter", "dangling=true"]),
        std::slice::from_ref(&web)
    );
    assert_eq!(
        ids(&["-a", "--filter", "dangling=false"]),
        [db.clone(), base.clone()]
    );
    assert_eq!(ids(&["--filter", "label=tier"]), [db.clone(), web.clone()]);
    assert_eq!(
        ids(&["--filter", "label=tier=db"]),
        std::slice::from_ref(&db)
    );
    assert!(ids(&["--filter", "label=tier=web", "--filter", "dangling=false"]).is_empty());
    assert_eq!(
        ids(&["--filter", "since=busybox"]),
        [db.clone(), web.clone()]
    );
    assert_eq!(
        ids(&["--filter", "before=labelled:1"]),
        [web.clone(), base.clone()]
    );
    assert_eq!(
        ids(&[
            "--filter",
            &format!("since={base}"),
            "--filter",
            &format!("before={db}")
        ]),
        std::slice::from_ref(&web)
    );
    let names = lines(
        &k,
        &[
            "images",
            "--filter",
            "reference=lab*",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert_eq!(names, ["labelled:1"]);
    let names = lines(
        &k,
        &[
            "images",
            "--filter",
            "reference=*:1",
            "--filter",
            "reference=busybox",
            "--format",
            "{{.Repository}}:{{.Tag}}",
        ],
    );
    assert_eq!(names, ["labelled:1", "busybox:latest"]);

    let bad = run(&k, &["images", "--filter", "colour=red"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("invalid filter 'colour'"));
    let usage = run(&k, &["images", "--filter", "colour"]);
    assert_eq!(usage.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&usage.stderr).contains("expected name=value"));
}

#[test]
fn ps_filters_combine_as_dockers_and_size_shows_the_writable_layer() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["up", "bad", "fine", "fresh"]);
    let none = ["--network", "none"];
    let detached = [
        &["run", "-d", "--name", "up"][..],
        &none,
        &[
            "-v",
            "vol1:/data",
            "--label",
            "tier=web",
            "busybox",
            "sleep",
            "1000",
        ],
    ]
    .concat();
    ok(&k, &detached);
    let bad = [
        &["run", "--name", "bad"][..],
        &none,
        &["busybox", "sh", "-c", "exit 3"],
    ]
    .concat();
    assert_eq!(run(&k, &bad).status.code(), Some(3));
    ok(
        &k,
        &[&["run", "--name", "fine"][..], &none, &["busybox", "true"]].concat(),
    );
    ok(
        &k,
        &[
            &["create", "--name", "fresh"][..],
            &none,
            &["busybox", "true"],
        ]
        .concat(),
    );
    let names = |filters: &[&str]| {
        let mut args = vec!["ps", "--format", "{{.Names}}"];
        args.extend(filters);
        lines(&k, &args)
    };
    assert_eq!(names(&["-a", "--filter", "exited=3"]), ["bad"]);
    // Never started: no exit code to match.
    assert_eq!(names(&["-a", "--filter", "exited=0"]), ["fine"]);
    assert!(names(&["--filter", "exited=3"]).is_empty());
    assert_eq!(names(&["--filter", "status=exited"]), ["fine", "bad"]);
    assert_eq!(
        names(&["--filter", "status=exited", "--filter", "status=created"]),
        ["fresh", "fine", "bad"]
    );
    assert_eq!(names(&["-a", "--filter", "volume=vol1"]), ["up"]);
    assert_eq!(names(&["-a", "--filter", "volume=/data"]), ["up"]);
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        ["fresh", "fine", "bad", "up"]
    );
    let image = ok(&k, &["images", "-q", "busybox"]);
    assert_eq!(
        names(&[
            "-a",
            "--filter",
            &format!("ancestor={}", &image.trim()[..6])
        ])
        .len(),
        4
    );
    assert!(names(&["-a", "--filter", "ancestor=nosuch"]).is_empty());
    assert_eq!(
        names(&["-a", "--filter", "network=none", "--filter", "label=tier"]),
        ["up"]
    );
    assert_eq!(
        names(&["-a", "--filter", "name=up", "--filter", "name=bad"]),
        ["bad", "up"]
    );
    assert_eq!(names(&["-a", "--filter", "since=bad"]), ["fresh", "fine"]);
    assert_eq!(names(&["-a", "--filter", "before=fine"]), ["bad", "up"]);
    assert_eq!(names(&["--filter", "before=fresh"]), ["up"]);

    ok(&k, &["exec", "up", "sh", "-c", "printf 12345 > /tmp/f"]);
    let image_size = ok(&k, &["images", "--format", "{{.Size}}", "busybox"]);
    let size = ok(&k, &["ps", "--format", "{{.Size}}"]);
    assert_eq!(size.trim(), format!("5B (virtual {})", image_size.trim()));
    let table = ok(&k, &["ps", "-s"]);
    let header: Vec<&str> = table
        .lines()
        .next()
        .unwrap()
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(header.last(), Some(&"SIZE"), "{table}");
    assert!(
        table
            .lines()
            .nth(1)
            .unwrap()
            .ends_with(&format!("5B (virtual {})", image_size.trim())),
        "{table}"
    );

    for bad in ["status=sleeping", "exited=x", "colour=red", "before=nosuch"] {
        assert_eq!(
            run(&k, &["ps", "--filter", bad]).status.code(),
            Some(1),
            "{bad}"
        );
    }
    assert_eq!(
        run(&k, &["ps", "--filter", "status"]).status.code(),
        Some(125)
    );
}

#[test]
fn logs_until_and_details() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["lg"]);
    ok(
        &k,
        &[
            "run",
            "--name",
            "lg",
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo one; echo two",
        ],
    );
    assert_eq!(ok(&k, &["logs", "--until", "2000-01-01", "lg"]), "");
    assert_eq!(ok(&k, &["logs", "--until", "1h", "lg"]), "");
    assert_eq!(
        ok(&k, &["logs", "--until", "2099-01-01T00:00:00Z", "lg"]),
        "one\ntwo\n"
    );
    assert_eq!(
        ok(&k, &["logs", "--until", "0", "--tail", "1", "lg"]),
        "two\n"
    );
    assert_eq!(ok(&k, &["logs", "--details", "lg"]), " one\n two\n");
    let stamped = ok(&k, &["logs", "--details", "-t", "lg"]);
    assert!(stamped.lines().all(|l| l.contains("Z  ")), "{stamped}");
    let bad = run(&k, &["logs", "--until", "soon", "lg"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--until"));
}

/// Docker 20.10's section titles and column names, in order.
const DF_SECTIONS: &[(&str, &[&str])] = &[
    (
        "Images space usage:",
        &[
            "REPOSITORY",
            "TAG",
            "IMAGE ID",
            "CREATED",
            "SIZE",
            "SHARED SIZE",
            "UNIQUE SIZE",
            "CONTAINERS",
        ],
    ),
    (
        "Containers space usage:",
        &[
            "CONTAINER ID",
            "IMAGE",
            "COMMAND",
            "LOCAL VOLUMES",
            "SIZE",
            "CREATED",
            "STATUS",
            "NAMES",
        ],
    ),
    (
        "Local Volumes space usage:",
        &["VOLUME NAME", "LINKS", "SIZE"],
    ),
    (
        "Build cache usage:",
        &[
            "CACHE ID",
            "CACHE TYPE",
            "SIZE",
            "CREATED",
            "LAST USED",
            "USAGE",
            "SHARED",
        ],
    ),
];

fn cells(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

#[test]
fn system_df_verbose_lists_each_image_container_and_volume() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let _rm = Cleanup(&k, &["keeper"]);
    ok(
        &k,
        &[
            "run",
            "--name",
            "keeper",
            "--network",
            "none",
            "-v",
            "kept:/data",
            "busybox",
            "sh",
            "-c",
            "printf 123 > /f",
        ],
    );
    let out = ok(&k, &["system", "df", "-v"]);
    let all: Vec<&str> = out.lines().collect();
    let mut at = 0;
    for (title, columns) in DF_SECTIONS {
        let found = all[at..].iter().position(|l| l.starts_with(title));
        let i = at + found.unwrap_or_else(|| panic!("no {title:?} in:\n{out}"));
        assert_eq!(all[i + 1], "", "{out}");
        assert_eq!(cells(all[i + 2]), *columns, "{out}");
        at = i + 3;
    }
    let row = |first: &str| {
        all.iter()
            .find(|l| l.starts_with(first))
            .map(|l| cells(l))
            .unwrap_or_else(|| panic!("no row {first:?} in:\n{out}"))
    };
    let image = row("busybox");
    assert_eq!(image[1], "latest");
    assert_eq!(image[7], "1", "one container made from it: {out}");
    let id = ok(&k, &["ps", "-aq"]);
    let container = row(id.trim());
    assert_eq!((container[3], container[4]), ("1", "3B"), "{out}");
    assert_eq!(container.last(), Some(&"keeper"));
    assert_eq!(row("kept"), ["kept", "1", "0B"]);
}
