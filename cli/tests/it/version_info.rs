//! `kiln version` and `kiln info`: Docker's sections and JSON keys.

use std::process::Output;

use crate::support::{kiln_with_busybox, privileged, Kiln};

fn text(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn ok(k: &Kiln, args: &[&str]) -> String {
    let out = k.cmd(args).output().expect("kiln");
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    text(&out)
}

#[test]
fn version_shows_client_and_server_sections() {
    let k = Kiln::new();
    let out = ok(&k, &["version"]);
    let version = env!("CARGO_PKG_VERSION");
    assert!(
        out.starts_with(&format!("Client:\n Version:           {version}\n")),
        "{out}"
    );
    assert!(out.contains("\n API version:       1.41\n"), "{out}");
    assert!(out.contains("\nServer:\n Engine:\n"), "{out}");
    for key in ["Git commit:", "Built:", "OS/Arch:", "Rust version:"] {
        assert!(out.contains(key), "{key} in {out}");
    }
}

#[test]
fn version_format_takes_json_and_field_paths() {
    let k = Kiln::new();
    let out = ok(&k, &["version", "--format", "{{.Client.Version}}"]);
    assert_eq!(out, format!("{}\n", env!("CARGO_PKG_VERSION")));
    let out = ok(&k, &["version", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["Client"]["ApiVersion"], "1.41");
    assert_eq!(v["Server"]["Os"], "linux");
    assert!(v["Client"]["GitCommit"]
        .as_str()
        .is_some_and(|c| !c.is_empty()));
}

#[test]
fn bad_templates_exit_as_docker_does() {
    let k = Kiln::new();
    let out = k
        .cmd(["version", "--format", "{{.Client"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("template parsing error"), "{err}");
    let out = k.cmd(["info", "--format", "{{.NoSuch}}"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("NoSuch"), "{err}");
}

#[test]
fn info_counts_containers_and_images() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    ok(&k, &["create", "--name", "idle", "busybox", "true"]);
    let out = ok(&k, &["info"]);
    assert!(out.starts_with("Client:\n Context:    default\n"), "{out}");
    let server = out
        .split_once("\nServer:\n")
        .map(|(_, s)| s)
        .unwrap_or_default();
    let counts = " Containers: 1\n  Running: 0\n  Paused: 0\n  Stopped: 1\n Images: 1\n";
    assert!(server.starts_with(counts), "{out}");
    for line in [
        " Storage Driver: overlay2\n",
        " Cgroup Driver: cgroupfs\n",
        " OSType: linux\n",
        &format!(" Kiln Root Dir: {}\n", k.root().display()),
    ] {
        assert!(out.contains(line), "{line:?} in {out}");
    }
    let cgroup = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    assert!(
        out.contains(&format!(" Cgroup Version: {cgroup}\n")),
        "{out}"
    );
}

#[test]
fn info_json_has_dockers_keys_and_config_mirrors() {
    let k = Kiln::new();
    let config = k.root().join("config.toml");
    std::fs::write(
        &config,
        "[registry.\"docker.io\"]\nmirrors = [\"mirror.example:5000\"]\n",
    )
    .unwrap();
    let config = config.to_str().unwrap();
    let out = ok(&k, &["--config", config, "info", "--format", "{{json .}}"]);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    for key in [
        "Containers",
        "ContainersRunning",
        "Images",
        "Driver",
        "CgroupDriver",
        "CgroupVersion",
        "KernelVersion",
        "OperatingSystem",
        "OSType",
        "Architecture",
        "NCPU",
        "MemTotal",
        "DockerRootDir",
    ] {
        assert!(v.get(key).is_some(), "{key} in {out}");
    }
    assert_eq!(v["Containers"], 0);
    assert_eq!(v["Driver"], "overlay2");
    assert!(v["NCPU"].as_u64().is_some_and(|n| n >= 1));
    assert_eq!(v["RegistryConfig"]["Mirrors"][0], "mirror.example:5000");
    let text = ok(&k, &["--config", config, "info"]);
    assert!(
        text.contains(" Registry Mirrors:\n  mirror.example:5000\n"),
        "{text}"
    );
    assert_eq!(
        ok(&k, &["info", "-f", "{{.OSType}}/{{.Driver}}"]),
        "linux/overlay2\n"
    );
}
