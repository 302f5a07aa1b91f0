//! What a person sees in a terminal: kiln driven under tmux (Debian's
//! `tmux`, installed from testdata/apt-packages.txt) at 80 and 200
//! columns, the pane captured once the command is done. The checks are a
//! person's: one line per layer in its final state, no line left behind by
//! a redraw, table columns that do not run into each other.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::support::{kiln_with_busybox, privileged, Kiln, Registry};

const DONE: &str = "__screen_done__";

/// A tmux server of its own (its own socket) with one detached session of a
/// fixed size; killed when dropped.
struct Tmux {
    socket: String,
}

impl Tmux {
    /// Runs `script` (a shell command line) in a fresh window `width`
    /// columns wide; the window stays open after it, showing its output.
    fn start(width: usize, height: usize, script: &str) -> Tmux {
        let found = Command::new("tmux")
            .arg("-V")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            found,
            "tmux is not installed: apt-get install tmux (testdata/apt-packages.txt lists it)"
        );
        let socket = format!(
            "kiln-screen-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        );
        let tmux = Tmux { socket };
        let line = format!("{script}; echo {DONE} $?; sleep 3600");
        let out = tmux
            .cmd()
            .args(["-f", "/dev/null", "new-session", "-d", "-s", "t"])
            .args(["-x", &width.to_string(), "-y", &height.to_string()])
            .arg(line)
            .output()
            .unwrap();
        assert!(out.status.success(), "tmux: {}", text(&out.stderr));
        tmux
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::new("tmux");
        cmd.args(["-L", &self.socket]).stdin(Stdio::null());
        cmd
    }

    /// The pane with its scrollback, wrapped lines joined (`-J`), as the
    /// logical lines that were written.
    fn capture(&self) -> String {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
            .output()
            .unwrap();
        assert!(out.status.success(), "capture-pane: {}", text(&out.stderr));
        text(&out.stdout)
    }

    /// The rows on the screen now, as tmux shows them (no scrollback, no
    /// joining).
    fn visible(&self) -> Vec<String> {
        let out = self
            .cmd()
            .args(["capture-pane", "-p", "-t", "t"])
            .output()
            .unwrap();
        text(&out.stdout).lines().map(str::to_string).collect()
    }

    fn resize(&self, width: usize) {
        let ok = self
            .cmd()
            .args(["resize-window", "-t", "t", "-x", &width.to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "tmux resize-window");
    }

    /// Waits for the script to end; the captured pane without the marker.
    fn wait(&self, timeout: Duration) -> String {
        let start = Instant::now();
        loop {
            let pane = self.capture();
            if let Some(at) = pane.find(DONE) {
                let status = pane[at + DONE.len()..].split_whitespace().next();
                assert_eq!(status, Some("0"), "the command failed:\n{pane}");
                return pane[..at].trim_end().to_string();
            }
            assert!(
                start.elapsed() < timeout,
                "not done after {timeout:?}:\n{pane}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd().arg("kill-server").status();
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `s` quoted for sh.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The command line that runs `kiln --root ROOT ARGS…` with `env` set.
fn kiln_line(kiln: &Kiln, env: &[(&str, &str)], args: &[&str]) -> String {
    let mut words = vec!["env".to_string()];
    words.extend(env.iter().map(|(k, v)| sh_quote(&format!("{k}={v}"))));
    words.push(sh_quote(super::support::bin().to_str().unwrap()));
    words.push("--root".into());
    words.push(sh_quote(kiln.root().to_str().unwrap()));
    words.extend(args.iter().map(|a| sh_quote(a)));
    words.join(" ")
}

fn ok(kiln: &Kiln, args: &[&str]) -> String {
    let out = kiln.cmd(args).stdin(Stdio::null()).output().unwrap();
    assert_ok(args, &out);
    text(&out.stdout)
}

fn assert_ok(args: &[&str], out: &Output) {
    assert!(
        out.status.success(),
        "kiln {args:?} failed: {}\n{}",
        text(&out.stderr),
        text(&out.stdout)
    );
}

/// Lines that appear more than once (blank ones aside).
fn repeated(lines: &[&str]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    lines
        .iter()
        .filter(|l| !l.trim().is_empty())
        .filter(|l| !seen.insert(l.trim_end()))
        .map(|l| l.to_string())
        .collect()
}

/// The columns of a table under `header`: where each header word starts
/// (a header cell is words separated by single spaces).
fn column_starts(header: &str, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|n| {
            header
                .find(n)
                .unwrap_or_else(|| panic!("no {n:?} in {header:?}"))
        })
        .collect()
}

/// The cells of `row` under columns starting at `starts`, asserting that
/// each cell ends in Docker's three spaces of padding before the next
/// column starts: a cell that ran into the next column would not.
fn cells(row: &str, starts: &[usize]) -> Vec<String> {
    let chars: Vec<char> = row.chars().collect();
    let mut out = Vec::new();
    for (i, &start) in starts.iter().enumerate() {
        let end = starts.get(i + 1).copied().unwrap_or(chars.len());
        assert!(
            chars.len() >= start,
            "row too short for its columns: {row:?}"
        );
        let cell: String = chars[start..end.min(chars.len())].iter().collect();
        if i + 1 < starts.len() {
            assert!(
                cell.ends_with("   "),
                "column {i} runs into the next one in {row:?}"
            );
            assert!(
                start == 0 || chars[start - 1] == ' ',
                "column {i} does not start at its header in {row:?}"
            );
        }
        out.push(cell.trim().to_string());
    }
    out
}

#[test]
fn ps_a_columns_fit_their_content_at_80_and_200_columns() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    struct Cleanup<'a>(&'a Kiln);
    impl Drop for Cleanup<'_> {
        fn drop(&mut self) {
            let _ = self.0.cmd(["rm", "-f", "killed", "running"]).output();
        }
    }
    let _cleanup = Cleanup(&k);
    ok(
        &k,
        &["run", "-d", "--name", "killed", "busybox", "sleep", "1000"],
    );
    ok(&k, &["kill", "killed"]);
    let long_name = "a-container-with-a-name-longer-than-any-column";
    let out = k
        .cmd(["run", "--name", long_name, "busybox", "sh", "-c", "exit 3"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    ok(
        &k,
        &[
            "run",
            "-d",
            "--name",
            "running",
            "busybox",
            "sh",
            "-c",
            "sleep 1000; echo a command longer than twenty characters",
        ],
    );
    ok(&k, &["create", "--name", "created", "busybox"]);

    let names = [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ];
    for width in [80, 200] {
        let tmux = Tmux::start(width, 40, &kiln_line(&k, &[], &["ps", "-a"]));
        let pane = tmux.wait(Duration::from_secs(30));
        eprintln!("ps -a at {width} columns:\n{pane}");
        let lines: Vec<&str> = pane.lines().collect();
        assert!(repeated(&lines).is_empty(), "repeated lines:\n{pane}");
        let at = lines
            .iter()
            .position(|l| l.starts_with("CONTAINER ID"))
            .unwrap_or_else(|| panic!("no header at {width} columns:\n{pane}"));
        let starts = column_starts(lines[at], &names);
        let rows: Vec<Vec<String>> = lines[at + 1..]
            .iter()
            .filter(|l| !l.trim().is_empty())
            .map(|l| cells(l, &starts))
            .collect();
        assert_eq!(rows.len(), 4, "four containers at {width} columns:\n{pane}");
        let row = |name: &str| {
            rows.iter()
                .find(|r| r[6] == name)
                .unwrap_or_else(|| panic!("no row named {name} at {width} columns:\n{pane}"))
        };
        assert!(row("killed")[4].starts_with("Exited (137) "), "{pane}");
        assert!(row(long_name)[4].starts_with("Exited (3) "), "{pane}");
        assert!(row("running")[4].starts_with("Up "), "{pane}");
        assert_eq!(row("created")[4], "Created", "{pane}");
        // Docker cuts the command at 20 characters, quoted, and nothing else.
        let command = &row("running")[2];
        assert!(
            command.starts_with("\"sh -c ") && command.ends_with("…\""),
            "{pane}"
        );
        assert_eq!(command.chars().count(), 22, "{pane}");
        assert_eq!(row("running")[1], "busybox", "{pane}");
        for r in &rows {
            assert_eq!(r[0].len(), 12, "a short ID in {r:?}");
        }
        // The same table as through a pipe: the terminal changes nothing.
        let piped = ok(&k, &["ps", "-a"]);
        let piped: Vec<&str> = piped.lines().collect();
        assert_eq!(piped[0], lines[at], "{pane}");
        assert_eq!(piped.len(), 5);
    }
}

/// What a kiln talking to the test registry needs: its own Docker config
/// and no way out of the machine.
fn registry_env(docker_config: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("DOCKER_CONFIG", docker_config.to_str().unwrap().to_string()),
        ("HTTPS_PROXY", "http://127.0.0.1:9".into()),
        ("HTTP_PROXY", "http://127.0.0.1:9".into()),
        ("NO_PROXY", "127.0.0.1".into()),
    ]
}

fn env_refs<'a>(env: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    env.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

/// Builds `name` FROM scratch with ten COPY layers of `layer_size` bytes
/// that do not compress (so each takes a while to move).
fn build_ten_layers(kiln: &Kiln, env: &[(&'static str, String)], name: &str, layer_size: usize) {
    let ctx = kiln.root().join("ten-layers");
    std::fs::create_dir_all(&ctx).unwrap();
    let mut dockerfile = String::from("FROM scratch\n");
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..10 {
        let bytes: Vec<u8> = (0..layer_size)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        std::fs::write(ctx.join(format!("f{i}")), bytes).unwrap();
        dockerfile.push_str(&format!("COPY f{i} /f{i}\n"));
    }
    std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
    let mut cmd = kiln.cmd(["build", "--progress", "plain", "-t", name]);
    cmd.arg(&ctx).envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap();
    assert_ok(&["build"], &out);
}

/// The lines of a pull or push that name a layer (`0123456789ab: …`).
fn layer_lines(pane: &str) -> Vec<&str> {
    pane.lines()
        .filter(|l| {
            l.len() > 13
                && l.as_bytes()[12] == b':'
                && l[..12].bytes().all(|b| b.is_ascii_hexdigit())
        })
        .collect()
}

/// One line per layer, each in `final_state`, each layer once; no line
/// repeated and none wider than the terminal.
fn assert_one_final_line_per_layer(pane: &str, width: usize, final_state: &str) {
    let lines: Vec<&str> = pane.lines().collect();
    assert!(
        repeated(&lines).is_empty(),
        "repeated lines at {width} columns:\n{pane}"
    );
    let layers = layer_lines(pane);
    assert_eq!(
        layers.len(),
        10,
        "ten layer lines at {width} columns:\n{pane}"
    );
    let digests: std::collections::HashSet<&str> = layers.iter().map(|l| &l[..12]).collect();
    assert_eq!(
        digests.len(),
        10,
        "each layer once at {width} columns:\n{pane}"
    );
    for l in &layers {
        assert_eq!(
            l[12..].trim_end(),
            format!(": {final_state}"),
            "at {width} columns:\n{pane}"
        );
    }
    for l in &layers {
        assert!(
            l.trim_end().chars().count() < width,
            "a progress line as wide as the terminal ({width}):\n{pane}"
        );
    }
    for l in &lines {
        assert!(
            !l.contains("=>") && !l.contains("Downloading") && !l.contains("Pushing"),
            "a bar left on the screen at {width} columns:\n{pane}"
        );
    }
}

#[test]
fn push_and_pull_of_ten_layers_leave_one_line_per_layer_at_80_and_200_columns() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let env = registry_env(cfg.path());
    let a = Kiln::new();
    let name = format!("{}/screen/ten:latest", reg.addr);
    build_ten_layers(&a, &env, &name, 1 << 20);

    let tmux = Tmux::start(80, 50, &kiln_line(&a, &env_refs(&env), &["push", &name]));
    let pane = tmux.wait(Duration::from_secs(120));
    eprintln!("push at 80 columns:\n{pane}");
    assert_one_final_line_per_layer(&pane, 80, "Pushed");
    drop(tmux);

    for width in [80, 200] {
        let b = Kiln::new();
        let tmux = Tmux::start(width, 50, &kiln_line(&b, &env_refs(&env), &["pull", &name]));
        let pane = tmux.wait(Duration::from_secs(120));
        eprintln!("pull at {width} columns:\n{pane}");
        assert_one_final_line_per_layer(&pane, width, "Pull complete");
        let first: Vec<&str> = pane.lines().filter(|l| !l.is_empty()).take(1).collect();
        assert_eq!(first, ["latest: Pulling from screen/ten"], "{pane}");
        assert!(
            pane.contains("Status: Downloaded newer image for"),
            "{pane}"
        );
    }
}

/// A TCP forwarder to `to` that lets the registry's answers through at
/// about `bytes_per_sec` per connection, so a pull is still moving bytes
/// when the test resizes the terminal. Runs until the test process ends.
fn slow_forwarder(to: &str, bytes_per_sec: usize) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let to = to.to_string();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(&to) else {
                continue;
            };
            let (mut c_read, mut s_write) =
                (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut c_read, &mut s_write);
                let _ = s_write.shutdown(std::net::Shutdown::Write);
            });
            let (mut s_read, mut c_write) = (server, client);
            std::thread::spawn(move || {
                let chunk = 16 * 1024;
                let pause = Duration::from_secs_f64(chunk as f64 / bytes_per_sec as f64);
                let mut buf = vec![0; chunk];
                while let Ok(n) = s_read.read(&mut buf) {
                    if n == 0 || c_write.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(pause);
                }
                let _ = c_write.shutdown(std::net::Shutdown::Write);
            });
        }
    });
    addr
}

/// Pulls `name` through a slow forwarder under tmux, resizing the window
/// from `widths[0]` to each of the rest while bytes are moving; returns the
/// window (and the store, which must outlive the pull) while it goes on.
fn pull_while_resizing(
    registry: &str,
    env: &[(&'static str, String)],
    widths: &[usize],
) -> (Tmux, Kiln) {
    let slow = slow_forwarder(registry, 1 << 20);
    let name = format!("{slow}/screen/resize:latest");
    let b = Kiln::new();
    let tmux = Tmux::start(
        widths[0],
        40,
        &kiln_line(&b, &env_refs(env), &["pull", &name]),
    );
    let start = Instant::now();
    while !tmux.capture().contains("Downloading [") {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no bar:\n{}",
            tmux.capture()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for &width in &widths[1..] {
        tmux.resize(width);
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        !tmux.capture().contains(DONE),
        "the pull ended before the last resize; slow the forwarder down"
    );
    (tmux, b)
}

#[test]
fn resizing_the_terminal_during_a_pull_leaves_no_debris() {
    let reg = Registry::start(None);
    let cfg = tempfile::tempdir().unwrap();
    let env = registry_env(cfg.path());
    let a = Kiln::new();
    let name = format!("{}/screen/resize:latest", reg.addr);
    build_ten_layers(&a, &env, &name, 1 << 20);
    let mut push = a.cmd(["push", &name]);
    push.envs(env.iter().map(|(k, v)| (k, v)));
    assert_ok(&["push"], &push.output().unwrap());

    // Never below 80 columns: no line is re-wrapped, so nothing is left
    // anywhere, scrollback included.
    let widths = [200, 120, 80, 160, 100];
    let (tmux, _store) = pull_while_resizing(&reg.addr, &env, &widths);
    let pane = tmux.wait(Duration::from_secs(120));
    eprintln!("pull resized {widths:?}:\n{pane}");
    assert_one_final_line_per_layer(&pane, 100, "Pull complete");
    let header = pane.lines().filter(|l| l.contains("Pulling from")).count();
    assert_eq!(header, 1, "{pane}");
    drop(tmux);

    // Narrower than a line: the terminal re-wraps what was drawn (tmux
    // pushes rows into its scrollback to keep the cursor's row); the
    // screen a person looks at is redrawn clean.
    let widths = [120, 60, 45, 100];
    let (tmux, _store) = pull_while_resizing(&reg.addr, &env, &widths);
    tmux.wait(Duration::from_secs(120));
    let screen = tmux.visible().join("\n");
    let screen = &screen[..screen.find(DONE).unwrap_or(screen.len())];
    eprintln!("pull resized {widths:?}, the screen:\n{screen}");
    assert_one_final_line_per_layer(screen, 100, "Pull complete");
}

#[test]
fn build_of_two_parallel_stages_leaves_one_line_per_step_at_80_and_200_columns() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let ctx = k.root().join("parallel");
    std::fs::create_dir_all(&ctx).unwrap();
    // Both stages run at once, printing while the other does; the last
    // stage needs both. The printing steps meet in a shared cache mount
    // before they print, so a loaded machine cannot run them one after
    // the other.
    let stage = |name: &str, width: usize| {
        format!(
            "FROM busybox AS {name}\n\
             RUN for i in 1 2 3 4 5 6; do echo {name}-output-$i; sleep 0.3; done > /{name}.txt\n\
             RUN --mount=type=cache,id=meet{width},target=/m,sharing=shared \
             touch /m/{name}; n=0; while [ $(ls /m | wc -l) -lt 2 ] && [ $n -lt 600 ]; \
             do sleep 0.1; n=$((n+1)); done; \
             for i in 1 2 3 4 5 6; do echo {name}-line-$i; sleep 0.2; done\n"
        )
    };
    for width in [80, 200] {
        let dockerfile = format!(
            "{}{}FROM busybox\nCOPY --from=left /left.txt /\nCOPY --from=right /right.txt /\n",
            stage("left", width),
            stage("right", width)
        );
        std::fs::write(ctx.join("Dockerfile"), dockerfile).unwrap();
        let ctx_arg = ctx.to_str().unwrap();
        let args = [
            "build",
            "--no-cache",
            "--progress",
            "tty",
            "-t",
            "two",
            ctx_arg,
        ];
        let tmux = Tmux::start(width, 50, &kiln_line(&k, &[], &args));
        // While both stages run: a live line for each, with its output.
        let start = Instant::now();
        let mut both = None;
        loop {
            let pane = tmux.capture();
            if pane.contains(DONE) || start.elapsed() > Duration::from_secs(120) {
                break;
            }
            let lines: Vec<&str> = pane.lines().collect();
            assert!(repeated(&lines).is_empty(), "repeated lines:\n{pane}");
            let tail = |stage: &str| {
                lines
                    .iter()
                    .any(|l| l.starts_with(&format!("    {stage}-line-")))
            };
            if tail("left") && tail("right") {
                both = Some(pane);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let both =
            both.unwrap_or_else(|| panic!("never saw both stages running at {width} columns"));
        eprintln!("build at {width} columns, both stages running:\n{both}");
        let pane = tmux.wait(Duration::from_secs(120));
        eprintln!("build at {width} columns:\n{pane}");
        let lines: Vec<&str> = pane.lines().collect();
        assert!(repeated(&lines).is_empty(), "repeated lines:\n{pane}");
        // Every step once, finished: ` => #N [stage i/n] … 1.2s`.
        let steps: Vec<&str> = lines
            .iter()
            .copied()
            .filter(|l| l.starts_with(" => "))
            .collect();
        let vertices: std::collections::HashSet<&str> = steps
            .iter()
            .map(|l| l.split_whitespace().nth(1).unwrap())
            .collect();
        assert_eq!(vertices.len(), steps.len(), "a step twice:\n{pane}");
        for stage in ["left", "right"] {
            for (i, word) in [(2, "output"), (3, "line")] {
                let step = steps
                    .iter()
                    .find(|l| l.contains(&format!("[{stage} {i}/3]")))
                    .unwrap_or_else(|| panic!("no step {stage} {i}/3:\n{pane}"));
                assert!(step.contains(&format!("{stage}-{word}")), "{step}");
                assert!(step.trim_end().ends_with('s'), "not finished: {step}");
            }
        }
        // The live lines (timers, a step's last output) are gone.
        for n in 1..=6 {
            for word in ["output", "line"] {
                assert!(
                    !pane.contains(&format!("-{word}-{n}")),
                    "a step's output left behind:\n{pane}"
                );
            }
        }
    }
}
