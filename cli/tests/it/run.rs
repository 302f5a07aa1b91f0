//! `kiln run`: isolation, limits, exit codes, signals, terminal, flags, and
//! a differential run against runc. Privileged: run as root, or set
//! KILN_SKIP_PRIVILEGED=1 to skip with a note.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::support::{busybox_rootfs, privileged, Kiln};

/// Docker's default capability set as /proc/self/status prints it.
const DOCKER_CAPS: &str = "00000000a80425fb";

/// `kiln run --rm [FLAGS] --rootfs BUSYBOX CMD…`
fn run(flags: &[&str], cmd: &[&str]) -> Output {
    let kiln = Kiln::new();
    let mut c = kiln.cmd(["run", "--rm"]);
    c.args(flags)
        .arg("--rootfs")
        .arg(busybox_rootfs())
        .args(cmd);
    c.stdin(Stdio::null()).output().expect("running kiln")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs `sh -c SCRIPT` and returns its stdout, asserting success.
fn sh(flags: &[&str], script: &str) -> String {
    let o = run(flags, &["sh", "-c", script]);
    assert!(
        o.status.success(),
        "kiln run failed: {:?}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(&o),
        stderr(&o)
    );
    stdout(&o)
}

fn status_field(text: &str, field: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{field}:")))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("{field} missing in {text}"))
}

#[test]
fn command_is_pid_1_and_sees_no_host_process() {
    if !privileged() {
        return;
    }
    let out = sh(&[], "echo $$; ls -d /proc/[0-9]* | wc -l");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "1");
    // sh, ls and wc at most: nothing from the host
    assert!(lines[1].trim().parse::<u32>().unwrap() <= 3, "{out}");
}

#[test]
fn hostname_is_set_and_written_to_etc() {
    if !privileged() {
        return;
    }
    assert_eq!(
        sh(&["-h", "box1"], "hostname; cat /etc/hostname"),
        "box1\nbox1\n"
    );
    assert!(sh(&[], "cat /etc/hosts").contains("127.0.0.1\tlocalhost"));
}

#[test]
fn signals_start_with_default_dispositions() {
    // kiln's own SIGPIPE is ignored (Rust does that); inherited, it made
    // `yes | head` spin forever in RUN steps.
    if !privileged() {
        return;
    }
    let out = sh(
        &[],
        "grep SigIgn /proc/self/status; yes line | head -c 100000 | wc -c",
    );
    let (ignored, count) = out.split_once('\n').expect("two lines");
    let mask = u64::from_str_radix(status_field(ignored, "SigIgn").trim(), 16).expect("hex mask");
    const SIGPIPE: u32 = 13;
    assert_eq!(mask & (1 << (SIGPIPE - 1)), 0, "SIGPIPE ignored: {out}");
    assert_eq!(count.trim(), "100000");
}

#[test]
fn mount_is_refused() {
    if !privileged() {
        return;
    }
    let o = run(&[], &["mount", "-t", "tmpfs", "none", "/mnt"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
}

#[test]
fn proc_sys_is_read_only() {
    if !privileged() {
        return;
    }
    let o = run(&[], &["sh", "-c", "echo 1 > /proc/sys/kernel/ns_last_pid"]);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn masked_paths_read_empty() {
    if !privileged() {
        return;
    }
    // /proc/interrupts and /proc/keys exist on this kernel; kcore does not.
    let out = sh(
        &[],
        "cat /proc/interrupts /proc/keys | wc -c; ls /sys/firmware | wc -l",
    );
    assert_eq!(out, "0\n0\n");
    let unmasked = sh(&["--privileged"], "cat /proc/interrupts | wc -c");
    assert_ne!(unmasked, "0\n", "--privileged should not mask");
}

#[test]
fn capabilities_match_docker_defaults() {
    if !privileged() {
        return;
    }
    let status = sh(&[], "cat /proc/self/status");
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert_eq!(status_field(&status, set), DOCKER_CAPS, "{set}");
    }
    assert_eq!(status_field(&status, "CapInh"), "0000000000000000");
    assert_eq!(status_field(&status, "CapAmb"), "0000000000000000");
    // a non-root user keeps the bounding set but holds nothing
    let user = sh(&["-u", "1000"], "cat /proc/self/status");
    assert_eq!(status_field(&user, "CapEff"), "0000000000000000");
    assert_eq!(status_field(&user, "CapBnd"), DOCKER_CAPS);
    // --cap-drop / --cap-add change the sets (CHOWN is bit 0, SYS_ADMIN bit 21)
    let dropped = sh(
        &["--cap-drop", "CHOWN", "--cap-add", "SYS_ADMIN"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&dropped, "CapEff"), "00000000a82425fa");
}

#[test]
fn no_new_privs_follows_security_opt() {
    if !privileged() {
        return;
    }
    assert_eq!(
        status_field(&sh(&[], "cat /proc/self/status"), "NoNewPrivs"),
        "0"
    );
    let on = sh(
        &["--security-opt", "no-new-privileges"],
        "cat /proc/self/status",
    );
    assert_eq!(status_field(&on, "NoNewPrivs"), "1");
}

#[test]
fn seccomp_denies_unshare_and_privileged_lifts_it() {
    if !privileged() {
        return;
    }
    let status = sh(&[], "cat /proc/self/status");
    assert_eq!(status_field(&status, "Seccomp"), "2");
    // A user namespace needs no capability; only the profile stops it.
    let denied = run(&[], &["unshare", "-U", "true"]);
    assert!(!denied.status.success());
    assert!(
        stderr(&denied).contains("Operation not permitted"),
        "{}",
        stderr(&denied)
    );
    assert!(run(&["--privileged"], &["unshare", "-U", "true"])
        .status
        .success());
    assert!(run(
        &["--security-opt", "seccomp=unconfined"],
        &["unshare", "-U", "true"]
    )
    .status
    .success());
}

#[test]
fn memory_hog_is_oom_killed_with_137() {
    if !privileged() {
        return;
    }
    let o = run(
        &["-m", "32m"],
        &["dd", "if=/dev/zero", "of=/dev/null", "bs=100M", "count=1"],
    );
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert!(stderr(&o).contains("OOMKilled"), "{}", stderr(&o));
}

#[test]
fn fork_bomb_is_contained_by_pids_limit() {
    if !privileged() {
        return;
    }
    // The subshell forks until the limit stops it; the outer shell then
    // counts the container's processes with builtins only.
    let script = "(for i in $(seq 200); do sleep 5 & done) 2>/dev/null; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n";
    let out = sh(&["--pids-limit", "50"], script);
    let n: u32 = out.trim().parse().unwrap();
    assert!(
        (40..=50).contains(&n),
        "{n} processes under --pids-limit 50"
    );
    assert!(
        Command::new("true").status().unwrap().success(),
        "the host can still fork"
    );
}

#[test]
fn cpus_are_visible_in_the_cgroup_files() {
    if !privileged() {
        return;
    }
    let script = "cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us /sys/fs/cgroup/cpu/cpu.cfs_period_us";
    let out = sh(&["--cpus", "0.5"], script);
    assert_eq!(out, "50000\n100000\n");
}

#[test]
fn cgroup_view_shows_the_containers_own_limits_read_only() {
    if !privileged() {
        return;
    }
    let f = "/sys/fs/cgroup/memory/memory.limit_in_bytes";
    let o = run(
        &["-m", "64m"],
        &["sh", "-c", &format!("cat {f}; echo 1 > {f}")],
    );
    assert_eq!(stdout(&o), "67108864\n");
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    // one directory per hierarchy, the tmpfs holding them read-only too
    let out = sh(&[], "ls /sys/fs/cgroup; touch /sys/fs/cgroup/x 2>&1; true");
    for h in ["cpu", "devices", "freezer", "memory", "pids"] {
        assert!(out.lines().any(|l| l == h), "{h} missing: {out}");
    }
    assert!(out.contains("Read-only file system"), "{out}");
    // --privileged may change its own limits, as with Docker
    let out = sh(
        &["--privileged", "--pids-limit", "100"],
        "echo 77 > /sys/fs/cgroup/pids/pids.max && cat /sys/fs/cgroup/pids/pids.max",
    );
    assert_eq!(out, "77\n");
}

/// A block device the host itself can open, as (major, minor).
fn openable_block_device() -> Option<(u32, u32)> {
    let entries = std::fs::read_dir("/sys/class/block").ok()?;
    entries.flatten().find_map(|e| {
        let dev = std::fs::read_to_string(e.path().join("dev")).ok()?;
        let (major, minor) = dev.trim().split_once(':')?;
        std::fs::File::open(Path::new("/dev").join(e.file_name())).ok()?;
        Some((major.parse().ok()?, minor.parse().ok()?))
    })
}

#[test]
fn devices_outside_the_allow_list_cannot_be_opened() {
    if !privileged() {
        return;
    }
    // mknod is CAP_MKNOD's and allowed; opening is the device cgroup's call.
    // /dev is the one tmpfs without nodev, so only the cgroup can refuse.
    let script = "mknod /dev/sda b 8 0 && echo made; echo ok > /dev/null && head -c1 /dev/sda";
    let o = run(&[], &["sh", "-c", script]);
    assert_eq!(stdout(&o), "made\n");
    assert!(
        stderr(&o).contains("/dev/sda: Operation not permitted"),
        "{}",
        stderr(&o)
    );
    // --privileged allows every device: what is left is the kernel's own
    // answer (no such device when the host has no sda)
    let o = run(&["--privileged"], &["sh", "-c", script]);
    assert!(
        !stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let Some((major, minor)) = openable_block_device() else {
        eprintln!("no block device the host can open: skipping the read under --privileged");
        return;
    };
    let script = format!("mknod /dev/blk b {major} {minor} && head -c1 /dev/blk >/dev/null");
    let o = run(&[], &["sh", "-c", &script]);
    assert!(
        stderr(&o).contains("Operation not permitted"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--privileged"], &["sh", "-c", &script]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn exit_codes_follow_docker() {
    if !privileged() {
        return;
    }
    assert_eq!(run(&[], &["sh", "-c", "exit 3"]).status.code(), Some(3));
    let missing = run(&[], &["no-such-command"]);
    assert_eq!(missing.status.code(), Some(127));
    assert!(
        stderr(&missing).contains("exec: \"no-such-command\": executable file not found in $PATH")
    );
    let dir = run(&[], &["/etc"]);
    assert_eq!(dir.status.code(), Some(126));
    assert!(stderr(&dir).contains("exec: \"/etc\""), "{}", stderr(&dir));
    // killed by a signal: 128+N (under --init the shell is not PID 1)
    assert_eq!(
        run(&["--init"], &["sh", "-c", "kill -KILL $$"])
            .status
            .code(),
        Some(137)
    );
}

/// Spawns `kiln run` of `script`, waits until it printed `ready`.
/// Returns the child, its stdout and what it printed up to `ready`.
fn spawn_until_ready(
    kiln: &Kiln,
    script: &str,
) -> (std::process::Child, std::process::ChildStdout, String) {
    let mut c = kiln.cmd(["run", "--rm", "--rootfs"]);
    c.arg(busybox_rootfs()).args(["sh", "-c", script]);
    let mut child = c
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&seen).contains("ready\n") {
        assert_eq!(
            out.read(&mut byte).unwrap(),
            1,
            "kiln ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.push(byte[0]);
    }
    (child, out, String::from_utf8_lossy(&seen).into_owned())
}

fn signal(pid: u32, sig: &str) {
    assert!(Command::new("kill")
        .args([&format!("-{sig}"), &pid.to_string()])
        .status()
        .unwrap()
        .success());
}

#[test]
fn sigterm_to_kiln_reaches_the_container() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let script = "trap 'echo got-term; exit 7' TERM; echo ready; while :; do sleep 0.1; done";
    let (mut child, mut out, _) = spawn_until_ready(&kiln, script);
    signal(child.id(), "TERM");
    let status = child.wait().unwrap();
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "got-term\n");
    assert_eq!(status.code(), Some(7));
}

/// The container's pids cgroup directory on the host.
fn pids_cgroup(relative: &str) -> PathBuf {
    Path::new("/sys/fs/cgroup/pids").join(relative.trim_start_matches('/'))
}

fn wait_gone(path: &Path) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !path.exists() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn nothing_is_left_after_the_container_is_killed() {
    if !privileged() || !Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        return;
    }
    let kiln = Kiln::new();
    let script =
        "grep -E '^[0-9]+:pids:' /proc/self/cgroup | cut -d: -f3; echo ready; exec sleep 30";
    let (mut child, _out, seen) = spawn_until_ready(&kiln, script);
    let cgroup = pids_cgroup(seen.lines().next().unwrap_or(""));
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap();
    for pid in procs.split_whitespace() {
        signal(pid.parse().unwrap(), "KILL");
    }
    assert_eq!(child.wait().unwrap().code(), Some(137));
    assert!(wait_gone(&cgroup), "{} left behind", cgroup.display());
}

#[test]
fn nothing_is_left_after_kiln_is_killed() {
    if !privileged() || !Path::new("/sys/fs/cgroup/pids/cgroup.procs").exists() {
        return;
    }
    let kiln = Kiln::new();
    let script =
        "grep -E '^[0-9]+:pids:' /proc/self/cgroup | cut -d: -f3; echo ready; exec sleep 30";
    let (mut child, _out, seen) = spawn_until_ready(&kiln, script);
    let cgroup = pids_cgroup(seen.lines().next().unwrap_or(""));
    let procs = std::fs::read_to_string(cgroup.join("cgroup.procs")).unwrap();
    signal(child.id(), "KILL");
    child.wait().unwrap();
    assert!(wait_gone(&cgroup), "{} left behind", cgroup.display());
    for pid in procs.split_whitespace() {
        assert!(
            wait_gone(&Path::new("/proc").join(pid)),
            "container process {pid} survived"
        );
    }
}

#[test]
fn tty_is_a_pty_with_the_callers_size() {
    if !privileged() {
        return;
    }
    // util-linux `script` gives kiln a terminal, as a user's shell would.
    let inner = format!(
        "stty rows 33 cols 101; {} --root {} run --rm -t --rootfs {} sh -c 'stty size; tty; echo $TERM'; echo status=$?; stty -a | grep -c -- '-icanon'",
        crate::support::bin().display(),
        tempfile::tempdir().unwrap().keep().display(),
        busybox_rootfs().display()
    );
    let o = Command::new("script")
        .args(["-qec", &inner, "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let out = stdout(&o).replace('\r', "");
    // the size is there from the command's first instant
    assert!(out.contains("33 101\n/dev/pts/0\nxterm\n"), "{out}");
    assert!(out.contains("status=0"), "{out}");
    // the caller's terminal is back in canonical mode afterwards
    assert!(out.trim_end().ends_with('0'), "terminal left raw: {out}");
}

#[test]
fn user_workdir_env_flags() {
    if !privileged() {
        return;
    }
    assert_eq!(
        sh(&["-u", "kiln"], "id"),
        "uid=1000(kiln) gid=1000(kiln) groups=10(wheel),1000(kiln)\n"
    );
    assert_eq!(sh(&["-u", "1000:10"], "id -u; id -g"), "1000\n10\n");
    assert_eq!(sh(&["-u", "kiln"], "echo $HOME"), "/home/kiln\n");
    let bad = run(&["-u", "mallory"], &["true"]);
    assert_eq!(bad.status.code(), Some(125));
    assert!(stderr(&bad).contains("unable to find user mallory"));
    assert_eq!(sh(&["-w", "/made/by/kiln"], "pwd"), "/made/by/kiln\n");
    // As runc makes it: root's and 0755, parents too, whoever runs in it.
    assert_eq!(
        sh(
            &["-u", "kiln", "-w", "/made/by"],
            "stat -c '%a %u' /made/by /made"
        ),
        "755 0\n755 0\n"
    );
    let env_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(env_file.path(), "# comment\nFROM_FILE=yes\nA=overridden\n").unwrap();
    let env_path = env_file.path().to_str().unwrap();
    let env = sh(
        &["--env-file", env_path, "-e", "A=1", "-e", "B=two words"],
        "env",
    );
    for want in [
        "A=1",
        "B=two words",
        "FROM_FILE=yes",
        "HOME=/root",
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    ] {
        assert!(env.lines().any(|l| l == want), "{want} missing in {env}");
    }
}

#[test]
fn volumes_read_only_root_and_tmpfs() {
    if !privileged() {
        return;
    }
    let host = tempfile::tempdir().unwrap();
    std::fs::write(host.path().join("in"), "from host\n").unwrap();
    let rw = format!("{}:/data", host.path().display());
    assert_eq!(
        sh(&["-v", &rw], "cat /data/in; echo from ctr > /data/out"),
        "from host\n"
    );
    assert_eq!(
        std::fs::read_to_string(host.path().join("out")).unwrap(),
        "from ctr\n"
    );
    let ro = format!("{}:/data:ro", host.path().display());
    let o = run(&["-v", &ro], &["sh", "-c", "echo x > /data/out"]);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--read-only"], &["touch", "/newfile"]);
    assert!(
        stderr(&o).contains("Read-only file system"),
        "{}",
        stderr(&o)
    );
    assert_eq!(
        sh(
            &["--read-only", "--tmpfs", "/scratch"],
            "echo ok > /scratch/f; cat /scratch/f"
        ),
        "ok\n"
    );
}

#[test]
fn network_none_has_only_loopback() {
    if !privileged() {
        return;
    }
    assert_eq!(sh(&["--network", "none"], "ls /sys/class/net"), "lo\n");
    let flags = sh(
        &["--network", "none"],
        "cat /sys/class/net/lo/operstate /sys/class/net/lo/flags",
    );
    // IFF_UP is bit 0 of the flags
    let value =
        u32::from_str_radix(flags.lines().nth(1).unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(value & 1, 1, "lo is not up: {flags}");
}

/// What the differential test compares, from one run of the probe: the
/// limits and device rules as the container's own /sys/fs/cgroup shows them.
fn probe(runtime: &str) -> String {
    let script = "id; grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status; hostname; \
        for f in pids/pids.max memory/memory.limit_in_bytes cpu/cpu.cfs_quota_us; do echo $f=$(cat /sys/fs/cgroup/$f); done; \
        sort /sys/fs/cgroup/devices/devices.list; \
        awk '{split($6,o,\",\"); for (i=1;i<=NF;i++) if ($i==\"-\") t=$(i+1); print $5, t, o[1]}' /proc/self/mountinfo | sort";
    let flags = [
        "--runtime",
        runtime,
        "-h",
        "diffhost",
        "-m",
        "64m",
        "--cpus",
        "0.5",
        "--pids-limit",
        "40",
    ];
    sh(&flags, script)
}

#[test]
fn runc_sees_the_same_container() {
    if !privileged() {
        return;
    }
    if Command::new("runc").arg("--version").output().is_err() {
        panic!("runc is not installed (testdata/apt-packages.txt lists it)");
    }
    // The generated /etc files come from kiln's staging tmpfs or from the
    // bundle directory: same mounts, different source filesystems. runc 1.1
    // leaves the tmpfs that holds the cgroup hierarchies writable; kiln
    // makes it read-only too, as runc 1.0 (and so Docker) did.
    let normalise = |text: String| {
        text.lines()
            .map(|l| match l.split_once(' ') {
                Some((path, rest)) if path.starts_with("/etc/") => {
                    format!("{path} (file) {}", rest.rsplit(' ').next().unwrap_or(""))
                }
                Some(("/sys/fs/cgroup", "tmpfs rw")) => "/sys/fs/cgroup tmpfs ro".to_string(),
                _ => l.to_string(),
            })
            .collect::<Vec<_>>()
            .join("\n")
    };
    let raw = probe("kiln");
    assert!(raw.contains("/sys/fs/cgroup tmpfs ro\n"), "{raw}");
    let ours = normalise(raw);
    let theirs = normalise(probe("runc"));
    assert!(
        ours.contains(
            "pids/pids.max=40\nmemory/memory.limit_in_bytes=67108864\ncpu/cpu.cfs_quota_us=50000\n"
        ),
        "{ours}"
    );
    assert!(ours.contains("/proc/sys proc ro\n"), "{ours}");
    assert!(ours.contains("/sys/fs/cgroup/memory cgroup ro\n"), "{ours}");
    assert!(ours.contains("c 1:3 rwm\n"), "{ours}");
    assert_eq!(ours, theirs);
}

#[test]
fn image_config_applies_as_docker_applies_it() {
    if !privileged() {
        return;
    }
    let kiln = Kiln::new();
    let tar = kiln.root().join("busybox.tar");
    let tarred = Command::new("tar")
        .arg("-C")
        .arg(busybox_rootfs())
        .arg("-cf")
        .arg(&tar)
        .arg(".")
        .status()
        .unwrap();
    assert!(tarred.success());
    let import = kiln
        .cmd([
            "import",
            "--change",
            "CMD [\"sh\", \"-c\", \"echo cmd:$FOO:$(pwd)\"]",
            "--change",
            "WORKDIR /srv",
        ])
        .args(["--change", "ENV FOO=bar"])
        .arg(&tar)
        .arg("bb:test")
        .output()
        .unwrap();
    assert!(
        import.status.success(),
        "import failed: {}",
        stderr(&import)
    );
    let run = |args: &[&str]| {
        kiln.cmd(["run", "--rm"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    assert_eq!(stdout(&run(&["bb:test"])), "cmd:bar:/srv\n");
    // CMD words after the image replace the image's Cmd; Env and WorkingDir stay
    assert_eq!(
        stdout(&run(&["bb:test", "sh", "-c", "echo $FOO; pwd"])),
        "bar\n/srv\n"
    );
    assert_eq!(
        stdout(&run(&["--entrypoint", "echo", "bb:test", "hi"])),
        "hi\n"
    );
    // writes land in the container's upper dir, removed with --rm
    assert_eq!(
        stdout(&run(&["bb:test", "sh", "-c", "echo x > /new; cat /new"])),
        "x\n"
    );
    assert_eq!(
        stdout(&run(&["bb:test", "sh", "-c", "ls /new 2>&1 || true"])),
        "ls: /new: No such file or directory\n"
    );
    // Neither a container directory nor a name in the names index stays.
    let listing = |dir: std::path::PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n != ".names")
                    .collect()
            })
            .unwrap_or_default()
    };
    let containers = kiln.root().join("containers");
    let left = listing(containers.clone());
    assert!(left.is_empty(), "container dirs left behind: {left:?}");
    let names = listing(containers.join(".names"));
    assert!(names.is_empty(), "names left in the index: {names:?}");
}

/// The fds of process `pid`, as their link targets.
fn open_files(pid: u32) -> Vec<PathBuf> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("/proc/PID/fd")
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .collect()
}

fn parent_of(pid: u32) -> u32 {
    let stat = crate::support::proc_stat(pid).expect("/proc/PID/stat");
    stat.get(1).expect("ppid").parse().expect("a pid")
}

/// The pid of container `name`'s first process, once it runs.
fn started_pid(k: &Kiln, name: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let o = k
            .cmd(["inspect", "-f", "{{.State.Pid}}", name])
            .output()
            .expect("kiln inspect");
        let pid: u32 = stdout(&o).trim().parse().unwrap_or(0);
        if pid > 0 {
            return pid;
        }
        assert!(Instant::now() < deadline, "{name} never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The files of `files` inside the store `k` uses.
fn in_store(k: &Kiln, files: &[PathBuf]) -> Vec<PathBuf> {
    let root = k.root().canonicalize().expect("the root");
    files
        .iter()
        .filter(|f| f.starts_with(&root))
        .cloned()
        .collect()
}

/// The helper that runs a container: kiln forked it (no second exec of
/// kiln), it is named for what it is, and it keeps none of the files its
/// kiln had open in the store. The kiln beside it, the monitor of a
/// detached run or the CLI of a foreground one, holds the container's
/// monitor lock: a helper holding that too would keep a container whose
/// monitor died looking alive, and one holding a lease would pin content.
fn assert_forked_helper(k: &Kiln, name: &str, kiln_pid: Option<u32>) {
    let helper = parent_of(started_pid(k, name));
    let parent = parent_of(helper);
    let comm = std::fs::read_to_string(format!("/proc/{helper}/comm")).expect("comm");
    let (helper_files, parent_files) = (open_files(helper), open_files(parent));
    let _ = k.cmd(["kill", name]).output();
    if let Some(pid) = kiln_pid {
        assert_eq!(parent, pid, "the helper is the CLI's child");
    }
    assert_eq!(comm.trim(), "kiln-init");
    assert!(!in_store(k, &parent_files).is_empty(), "{parent_files:?}");
    assert_eq!(in_store(k, &helper_files), Vec::<PathBuf>::new());
}

#[test]
fn a_containers_init_helper_is_forked_and_holds_no_store_file() {
    if !privileged() {
        return;
    }
    let k = crate::support::kiln_with_busybox();
    let mut cli = k
        .cmd(["run", "--rm", "--name", "fg", "busybox", "sleep", "60"])
        .stdin(Stdio::null())
        .spawn()
        .expect("kiln run");
    assert_forked_helper(&k, "fg", Some(cli.id()));
    let _ = cli.wait();
    let o = k
        .cmd(["run", "-d", "--name", "bg", "busybox", "sleep", "60"])
        .output()
        .expect("kiln run -d");
    assert!(o.status.success(), "{}", stderr(&o));
    assert_forked_helper(&k, "bg", None);
}
