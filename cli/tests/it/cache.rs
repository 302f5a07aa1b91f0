//! `kiln cache du|ls|inspect|prune|check` and `kiln system df` end to end,
//! on images that enter the store through `kiln import`.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::support::privileged;
use crate::support::Kiln;

fn run(cmd: &mut Command) -> Output {
    cmd.stdin(Stdio::null()).output().expect("kiln runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?} failed: {}\n{}",
        stdout(&o),
        String::from_utf8_lossy(&o.stderr)
    );
    stdout(&o)
}

/// A small rootfs tar whose one file holds `content`.
pub fn rootfs_tar(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let root = dir.join(format!("{name}-rootfs"));
    fs::create_dir_all(root.join("data")).unwrap();
    fs::write(root.join("data/file"), content).unwrap();
    let tar = dir.join(format!("{name}.tar"));
    let status = Command::new("tar")
        .arg("-C")
        .arg(&root)
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(status.success());
    tar
}

/// `kiln import` of a 10 kB rootfs tagged `tag`.
pub fn import(kiln: &Kiln, tag: &str) {
    let dir = kiln
        .root()
        .join("..")
        .join(format!("src-{}", tag.replace([':', '/'], "-")));
    fs::create_dir_all(&dir).unwrap();
    let tar = rootfs_tar(&dir, "img", &vec![tag.as_bytes()[0]; 10_000]);
    ok(&mut kiln.cmd(["import", tar.to_str().unwrap(), tag]));
}

#[test]
fn du_on_an_empty_store_prints_zero_totals() {
    let kiln = Kiln::new();
    let out = ok(&mut kiln.cmd(["cache", "du"]));
    assert_eq!(out, "Reclaimable:   0B\nTotal:         0B\n");
    let df = ok(&mut kiln.cmd(["system", "df"]));
    let first = df.lines().next().unwrap();
    assert_eq!(
        first.split_whitespace().collect::<Vec<_>>(),
        ["TYPE", "TOTAL", "ACTIVE", "SIZE", "RECLAIMABLE"]
    );
    assert!(
        df.contains("Build Cache     0         0         0B        0B"),
        "{df}"
    );
}

#[test]
fn an_image_layer_is_cache_that_only_becomes_reclaimable_after_rmi() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    import(&kiln, "app:1");
    let du = ok(&mut kiln.cmd(["cache", "du"]));
    let lines: Vec<&str> = du.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["ID", "RECLAIMABLE", "SIZE", "LAST", "ACCESSED"]
    );
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells[1], "false", "{du}");
    assert_eq!(cells[2], "10kB*", "shared with the image: {du}");
    assert!(du.contains("Reclaimable:   0B"), "{du}");
    assert!(du.contains("Total:         10kB"), "{du}");

    // Nothing an image needs is pruned, even with -a.
    let out = ok(&mut kiln.cmd(["cache", "prune", "-a", "-f"]));
    assert_eq!(out, "Total reclaimed space: 0B\n");

    ok(&mut kiln.cmd(["rmi", "app:1"]));
    let du = ok(&mut kiln.cmd(["cache", "du", "--verbose"]));
    assert!(du.contains("Reclaimable:   true"), "{du}");
    assert!(du.contains("Type:          source.image"), "{du}");
    assert!(du.contains("Description:   import "), "{du}");

    // Without -a, base layers stay (like BuildKit's internal records).
    let out = ok(&mut kiln.cmd(["cache", "prune", "-f"]));
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = ok(&mut kiln.cmd(["cache", "prune", "-a", "-f"]));
    assert!(out.starts_with("Deleted build cache objects:\n"), "{out}");
    assert!(out.ends_with("Total reclaimed space: 10kB\n"), "{out}");
    let du = ok(&mut kiln.cmd(["cache", "du"]));
    assert_eq!(du, "Reclaimable:   0B\nTotal:         0B\n");
    ok(&mut kiln.cmd(["cache", "check"]));
}

#[test]
fn prune_without_force_asks_and_a_closed_stdin_cancels() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    import(&kiln, "app:1");
    ok(&mut kiln.cmd(["rmi", "app:1"]));
    let o = run(&mut kiln.cmd(["cache", "prune", "-a"]));
    // docker builder prune: a cancelled prune exits 0 and removes nothing.
    assert!(o.status.success());
    assert_eq!(
        stdout(&o),
        "WARNING! This will remove all build cache. Are you sure you want to continue? [y/N] \n"
    );
    let ls = ok(&mut kiln.cmd(["cache", "ls", "-q"]));
    assert_eq!(ls.lines().count(), 1);

    let mut child = kiln
        .cmd(["cache", "prune", "-a"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"y\n").unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        stdout(&o).contains("Total reclaimed space: 10kB"),
        "{}",
        stdout(&o)
    );
}

#[test]
fn prune_filters_and_keep_storage() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    import(&kiln, "a:1");
    import(&kiln, "b:1");
    import(&kiln, "c:1");
    ok(&mut kiln.cmd(["rmi", "a:1", "b:1", "c:1"]));
    // Used moments ago: an until=1h filter keeps them all.
    let out = ok(&mut kiln.cmd(["cache", "prune", "-af", "--filter", "until=1h"]));
    assert_eq!(out, "Total reclaimed space: 0B\n");
    // Keep 20 kB: the least recently used of the three goes.
    let before = ok(&mut kiln.cmd(["cache", "ls", "-q"]));
    let oldest = before.lines().last().unwrap().to_string();
    let out = ok(&mut kiln.cmd(["cache", "prune", "-af", "--keep-storage", "20000"]));
    assert_eq!(
        out,
        format!("Deleted build cache objects:\n{oldest}\n\nTotal reclaimed space: 10kB\n")
    );
    let o = run(&mut kiln.cmd(["cache", "prune", "-f", "--filter", "label=x"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid filter"));
}

#[test]
fn ls_json_and_inspect_show_the_record() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    import(&kiln, "app:1");
    let line = ok(&mut kiln.cmd(["cache", "du", "--format", "json"]));
    let v: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(v["Size"], 10_000);
    assert_eq!(v["Type"], "source.image");
    assert_eq!(v["Reclaimable"], false);
    let id = v["ID"].as_str().unwrap().to_string();
    let out = ok(&mut kiln.cmd(["cache", "inspect", &id[..8]]));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v[0]["ID"], id.as_str());
    assert_eq!(v[0]["UsageCount"], 0);
    let o = run(&mut kiln.cmd(["cache", "inspect", "zzzzzz"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("no such cache record: zzzzzz"));
    let table = ok(&mut kiln.cmd(["cache", "ls"]));
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table.contains(&id) && table.contains("source.image"),
        "{table}"
    );
}

#[test]
fn check_reports_corruption_and_repair_fixes_it() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    import(&kiln, "app:1");
    let out = ok(&mut kiln.cmd(["cache", "check"]));
    assert!(out.ends_with(": ok\n"), "{out}");
    // Flip the content of every blob: configs, manifests, layers.
    for e in fs::read_dir(kiln.root().join("blobs/sha256")).unwrap() {
        fs::write(e.unwrap().path(), b"bit rot").unwrap();
    }
    let o = run(&mut kiln.cmd(["cache", "check"]));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("is corrupt: its content hashes to sha256:"),
        "{}",
        stdout(&o)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("kiln cache check --repair"));
    let out = ok(&mut kiln.cmd(["cache", "check", "--repair"]));
    assert!(out.contains("repaired: moved "), "{out}");
    assert!(out.contains("repaired: removed images entry"), "{out}");
    assert!(out.ends_with(": repaired\n"), "{out}");
    let out = ok(&mut kiln.cmd(["cache", "check"]));
    assert!(out.ends_with(": ok\n"), "{out}");
    let o = run(&mut kiln.cmd(["image", "inspect", "app:1"]));
    assert!(!o.status.success(), "a broken image is gone, not served");
    // The layer's snapshot was intact and stays as cache: importing the
    // same tar again works.
    import(&kiln, "app:1");
    ok(&mut kiln.cmd(["cache", "check"]));
}

#[test]
fn system_df_counts_images_and_cache() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    import(&kiln, "a:1");
    import(&kiln, "b:1");
    ok(&mut kiln.cmd(["rmi", "b:1"]));
    let df = ok(&mut kiln.cmd(["system", "df"]));
    let images: Vec<&str> = df.lines().nth(1).unwrap().split_whitespace().collect();
    assert_eq!(
        images,
        ["Images", "1", "0", "10kB", "10kB", "(100%)"],
        "{df}"
    );
    let cache: Vec<&str> = df.lines().nth(4).unwrap().split_whitespace().collect();
    assert_eq!(cache, ["Build", "Cache", "2", "1", "20kB", "10kB"], "{df}");
}

/// Whether process `pid` is stopped (state `T` in its stat line).
fn is_stopped(pid: u32) -> bool {
    crate::support::proc_stat(pid).is_some_and(|f| f.first().is_some_and(|s| s == "T"))
}

/// `rmi` and a prune in the instant between a `run` finding its image and
/// writing its container's record: the layers are leased by the kiln that
/// makes the container until the record holds them, so the run goes on.
/// The creator is stopped at that instant (KILN_TEST_STOP_AT) and let go
/// once the prune has run.
#[test]
fn a_prune_while_a_container_is_made_spares_its_image_layers() {
    if !privileged() {
        return;
    }
    let kiln = crate::support::kiln_with_busybox();
    let creator = kiln
        .cmd(["run", "--rm", "busybox", "echo", "made"])
        .env("KILN_TEST_STOP_AT", "container-before-record")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kiln run");
    let pid = creator.id();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !is_stopped(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let stopped = is_stopped(pid);
    let rmi = run(&mut kiln.cmd(["rmi", "busybox"]));
    let prune = run(&mut kiln.cmd(["cache", "prune", "-a", "-f"]));
    let _ = Command::new("kill")
        .args(["-CONT", &pid.to_string()])
        .status();
    let o = creator.wait_with_output().expect("kiln run ends");
    assert!(stopped, "kiln never reached its stop point");
    assert!(
        rmi.status.success(),
        "{}",
        String::from_utf8_lossy(&rmi.stderr)
    );
    assert!(
        prune.status.success(),
        "{}",
        String::from_utf8_lossy(&prune.stderr)
    );
    assert!(
        o.status.success(),
        "the run lost its layers: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(stdout(&o), "made\n");
    // Once the container is gone nothing holds them: the next prune frees them.
    let freed = ok(&mut kiln.cmd(["cache", "prune", "-a", "-f"]));
    let left = fs::read_dir(kiln.root().join("snapshots"))
        .expect("snapshots")
        .count();
    assert_eq!(left, 0, "{freed}");
}
