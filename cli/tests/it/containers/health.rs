//! Health checks as Docker runs them: `--health-*` flags and an image's
//! HEALTHCHECK probed by a detached container's monitor, shown by
//! `inspect` (`State.Health`, `Config.Healthcheck`), `ps` (status and
//! `health=` filter) and `events`. Short intervals keep each test quick.
//! Privileged: run as root, or set KILN_SKIP_PRIVILEGED=1 to skip.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::{privileged, Env};

impl Env {
    fn health(&self, name: &str) -> Value {
        self.inspect(name)["State"]["Health"].clone()
    }

    /// Waits up to `secs` for the container's health status to be `want`.
    fn wait_for(&self, name: &str, want: &str, secs: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let h = self.health(name);
            if h["Status"] == want {
                return h;
            }
            assert!(Instant::now() < deadline, "{name} never {want}: {h}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `ps` with a filter, names only.
    fn ps_names(&self, filter: &str) -> Vec<String> {
        let out = self.ok(&["ps", "--filter", filter, "--format", "{{.Names}}"]);
        let mut names: Vec<String> = out.lines().map(String::from).collect();
        names.sort();
        names
    }

    fn ps_status(&self, name: &str) -> String {
        let filter = format!("name={name}");
        self.ok(&["ps", "--filter", &filter, "--format", "{{.Status}}"])
            .trim()
            .to_string()
    }
}

#[test]
fn a_passing_check_makes_the_container_healthy() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "ok",
        "--health-cmd",
        "echo fine; exit 0",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "60",
    ]);
    env.ok(&["run", "-d", "--name", "plain", "busybox", "sleep", "60"]);
    let config = &env.inspect("ok")["Config"]["Healthcheck"];
    assert_eq!(
        *config,
        serde_json::json!({"Test": ["CMD-SHELL", "echo fine; exit 0"], "Interval": 200_000_000})
    );
    let h = env.wait_for("ok", "healthy", 5);
    assert_eq!(h["FailingStreak"], 0);
    let first = &h["Log"][0];
    assert_eq!(first["ExitCode"], 0);
    assert_eq!(first["Output"], "fine\n");
    assert!(first["Start"].as_str().unwrap() <= first["End"].as_str().unwrap());
    let status = env.ps_status("ok");
    assert!(
        status.starts_with("Up ") && status.ends_with(" (healthy)"),
        "{status}"
    );
    assert!(!env.ps_status("plain").contains('('), "no check, no health");
    assert_eq!(env.inspect("plain")["State"]["Health"], Value::Null);
    assert_eq!(env.ps_names("health=healthy"), ["ok"]);
    assert_eq!(env.ps_names("health=none"), ["plain"]);
    assert!(env.ps_names("health=unhealthy").is_empty());
    let bad = env.out(&["ps", "--filter", "health=fine"]);
    assert!(!bad.status.success(), "health=fine is no health");
    // A commit keeps the container's check, as Docker's does.
    env.ok(&["commit", "ok", "okimage"]);
    let image: Value = serde_json::from_str(&env.ok(&["image", "inspect", "okimage"])).unwrap();
    assert_eq!(image[0]["Config"]["Healthcheck"], *config);
    // At most five results are kept.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(env.health("ok")["Log"].as_array().unwrap().len(), 5);
}

#[test]
fn a_failing_check_makes_it_unhealthy_after_its_retries_and_is_journaled() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "bad",
        "--health-cmd",
        "echo broken >&2; exit 3",
        "--health-interval",
        "200ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "60",
    ]);
    let h = env.wait_for("bad", "unhealthy", 5);
    assert!(h["FailingStreak"].as_u64().unwrap() >= 2, "{h}");
    let last = h["Log"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["ExitCode"], 3);
    assert_eq!(last["Output"], "broken\n");
    assert!(env.ps_status("bad").ends_with(" (unhealthy)"));
    assert_eq!(env.ps_names("health=unhealthy"), ["bad"]);
    let format = "{{.Action}} {{.Actor.Attributes.name}}";
    let events = env.ok(&[
        "events",
        "--since",
        "0",
        "--until",
        "0s",
        "--filter",
        "container=bad",
        "--filter",
        "event=health_status",
        "--format",
        format,
    ]);
    assert_eq!(events.trim(), "health_status: unhealthy bad");
}

#[test]
fn a_foreground_run_is_probed_too() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let o = env.out(&[
        "run",
        "--name",
        "fg",
        "--health-cmd",
        "echo up",
        "--health-interval",
        "100ms",
        "busybox",
        "sleep",
        "1",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let h = env.health("fg");
    assert_eq!(h["Status"], "healthy", "{h}");
    assert_eq!(h["Log"][0]["Output"], "up\n");
}

#[test]
fn a_check_that_runs_too_long_times_out() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slow",
        "--health-cmd",
        "sleep 5",
        "--health-interval",
        "100ms",
        "--health-timeout",
        "300ms",
        "--health-retries",
        "1",
        "busybox",
        "sleep",
        "60",
    ]);
    let h = env.wait_for("slow", "unhealthy", 5);
    assert_eq!(h["Log"][0]["ExitCode"], -1);
    assert_eq!(
        h["Log"][0]["Output"],
        "Health check exceeded timeout (300ms)"
    );
}

#[test]
fn failures_within_the_start_period_do_not_count() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    // Fails until /ready exists, made after a second.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "slowstart",
        "--health-cmd",
        "cat /ready",
        "--health-interval",
        "150ms",
        "--health-retries",
        "1",
        "--health-start-period",
        "3s",
        "busybox",
        "sh",
        "-c",
        "sleep 1; touch /ready; sleep 60",
    ]);
    let starting = env.health("slowstart");
    assert_eq!(starting["Status"], "starting");
    assert!(env.ps_status("slowstart").ends_with(" (health: starting)"));
    assert_eq!(env.ps_names("health=starting"), ["slowstart"]);
    let h = env.wait_for("slowstart", "healthy", 6);
    let failed = h["Log"]
        .as_array()
        .unwrap()
        .iter()
        .any(|p| p["ExitCode"] != 0);
    assert!(failed, "some probes failed before /ready: {h}");
}

#[test]
fn an_image_healthcheck_runs_and_no_healthcheck_turns_it_off() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=200ms --retries=1 CMD [\"test\", \"-e\", \"/etc/passwd\"]\n",
    )
    .unwrap();
    let built = env
        .kiln
        .cmd(["build", "--progress=plain", "-t", "checked"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "{}",
        String::from_utf8_lossy(&built.stderr)
    );
    env.ok(&["run", "-d", "--name", "img", "checked", "sleep", "60"]);
    let config = &env.inspect("img")["Config"]["Healthcheck"];
    assert_eq!(
        config["Test"],
        serde_json::json!(["CMD", "test", "-e", "/etc/passwd"])
    );
    env.wait_for("img", "healthy", 5);
    // The flags go over the image's fields one by one.
    env.ok(&[
        "run",
        "-d",
        "--name",
        "over",
        "--health-cmd",
        "exit 1",
        "checked",
        "sleep",
        "60",
    ]);
    env.wait_for("over", "unhealthy", 5);
    env.ok(&[
        "run",
        "-d",
        "--name",
        "off",
        "--no-healthcheck",
        "checked",
        "sleep",
        "60",
    ]);
    let off = env.inspect("off");
    assert_eq!(
        off["Config"]["Healthcheck"]["Test"],
        serde_json::json!(["NONE"])
    );
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(env.health("off"), Value::Null);
    assert_eq!(env.ps_names("health=none"), ["off"]);
}

#[test]
fn bad_health_flags_are_usage_errors_naming_the_flag() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    let cases: [(&[&str], &str); 5] = [
        (
            &["--health-interval", "500us"],
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (&["--health-interval", "-1s"], "--health-interval"),
        (&["--health-timeout", "soon"], "--health-timeout"),
        (&["--health-retries", "-2"], "--health-retries"),
        (
            &["--no-healthcheck", "--health-cmd", "true"],
            "conflicts with --health-* options",
        ),
    ];
    for (flags, text) in cases {
        let mut args = vec!["create"];
        args.extend_from_slice(flags);
        args.extend(["busybox", "true"]);
        let o = env.out(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(text), "{args:?}: {err}");
    }
    assert_eq!(env.ok(&["ps", "-aq"]), "", "nothing was made");
}

#[test]
fn a_restart_starts_over_and_a_paused_container_is_not_probed() {
    if !privileged() {
        return;
    }
    let env = Env::new();
    env.ok(&[
        "run",
        "-d",
        "--name",
        "again",
        "--health-cmd",
        "true",
        "--health-interval",
        "200ms",
        "busybox",
        "sleep",
        "60",
    ]);
    env.wait_for("again", "healthy", 5);
    env.ok(&["pause", "again"]);
    std::thread::sleep(Duration::from_millis(300));
    let before = env.health("again")["Log"].clone();
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(env.health("again")["Log"], before, "probed while paused");
    env.ok(&["unpause", "again"]);
    env.ok(&["restart", "-t", "0", "again"]);
    let h = env.health("again");
    assert_eq!(h["Status"], "starting", "{h}");
    assert!(!h["Log"].as_array().unwrap().is_empty(), "the log stays");
    env.wait_for("again", "healthy", 5);
}
