//! Exec instances: `POST /containers/{id}/exec` makes one (kept in this
//! server's memory, as dockerd keeps them), `POST /exec/{id}/start` runs
//! it over a hijacked connection (a pty under `Tty`, else stdout and
//! stderr multiplexed), `GET /exec/{id}/json` tells its exit code and
//! `POST /exec/{id}/resize` sizes its terminal.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::process::{Child, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::{Method, StatusCode};
use kiln_engine::container::ExecOptions;
use serde::Deserialize;
use serde_json::json;

use super::hijack::{self, Conn, Hijack};
use super::reply::{self, ApiError, Reply};
use super::route::{not_found, ApiRequest};
use super::Ctx;

/// How long an ended exec can still be inspected.
const KEEP_ENDED: Duration = Duration::from_secs(300);

#[derive(Default)]
pub struct Execs(Mutex<HashMap<String, Arc<Mutex<Instance>>>>);

struct Instance {
    container: String,
    opts: ExecOptions,
    stdin: bool,
    stdout: bool,
    stderr: bool,
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: u32,
    /// The pty's master while it runs, for resizes.
    master: Option<Arc<OwnedFd>>,
    ended_at: Option<Instant>,
}

impl Execs {
    fn get(&self, id: &str) -> reply::Result<Arc<Mutex<Instance>>> {
        let map = self
            .0
            .lock()
            .map_err(|_| ApiError::internal("exec table poisoned"))?;
        map.get(id)
            .cloned()
            .ok_or_else(|| ApiError::not_found(format!("No such exec instance: {id}")))
    }

    fn add(&self, id: String, instance: Instance) {
        if let Ok(mut map) = self.0.lock() {
            map.retain(|_, i| {
                i.lock()
                    .is_ok_and(|i| i.ended_at.is_none_or(|t| t.elapsed() < KEEP_ENDED))
            });
            map.insert(id, Arc::new(Mutex::new(instance)));
        }
    }
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "PascalCase")]
struct CreateBody {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    privileged: bool,
    user: String,
    working_dir: String,
}

pub fn create(ctx: &Ctx, container: &str, req: &mut ApiRequest) -> reply::Result {
    let b: CreateBody = req.json()?;
    let cmd = b.cmd.unwrap_or_default();
    if cmd.is_empty() {
        return Err(ApiError::bad_request("No exec command specified"));
    }
    let c = ctx.engine.container(container)?;
    if !matches!(
        c.state.status,
        kiln_runtime::container::state::Status::Running
    ) {
        return Err(ApiError::conflict(format!(
            "Container {} is not running",
            c.record.id
        )));
    }
    let opts = ExecOptions {
        command: cmd,
        env: b
            .env
            .unwrap_or_default()
            .into_iter()
            .filter(|e| e.contains('='))
            .collect(),
        workdir: Some(b.working_dir).filter(|w| !w.is_empty()),
        user: Some(b.user).filter(|u| !u.is_empty()),
        tty: b.tty,
        privileged: b.privileged,
        detach: false,
    };
    let id = kiln_engine::container::new_id().map_err(|e| ApiError::internal(e.to_string()))?;
    ctx.execs.add(
        id.clone(),
        Instance {
            container: c.record.id,
            opts,
            stdin: b.attach_stdin,
            stdout: b.attach_stdout,
            stderr: b.attach_stderr,
            started: false,
            running: false,
            exit_code: None,
            pid: 0,
            master: None,
            ended_at: None,
        },
    );
    reply::ok_json_status(StatusCode::CREATED, &json!({"Id": id}))
}

pub fn route(
    ctx: &Ctx,
    method: &Method,
    id: &str,
    rest: &[&str],
    req: &mut ApiRequest,
) -> reply::Result {
    match rest {
        ["start"] if *method == Method::POST => start(ctx, id, req),
        ["json"] if *method == Method::GET => inspect(ctx, id),
        ["resize"] if *method == Method::POST => resize(ctx, id, req),
        _ => Err(not_found(method, &[&["exec", id], rest].concat())),
    }
}

fn start(ctx: &Ctx, id: &str, req: &mut ApiRequest) -> reply::Result {
    #[derive(Deserialize, Default)]
    #[serde(default, rename_all = "PascalCase")]
    struct StartBody {
        detach: bool,
    }
    let b: StartBody = req.json()?;
    let instance = ctx.execs.get(id)?;
    let (container, opts, tty) = {
        let mut i = instance
            .lock()
            .map_err(|_| ApiError::internal("exec poisoned"))?;
        if i.started {
            return Err(ApiError::conflict(format!(
                "Error: Exec command {id} has already run"
            )));
        }
        i.started = true;
        (i.container.clone(), i.opts.clone(), i.opts.tty)
    };
    let engine = ctx.engine.clone();
    if b.detach {
        let child = engine.exec_spawn(
            &container,
            &opts,
            [Stdio::null(), Stdio::null(), Stdio::null()],
        )?;
        watch(instance, child, None);
        return reply::status(StatusCode::OK);
    }
    Ok(Reply::Hijack(Hijack::new(tty, move |conn| {
        let _ = if tty {
            run_tty(&engine, &container, &opts, instance, conn)
        } else {
            run_piped(&engine, &container, &opts, instance, conn)
        };
    })))
}

/// Records the helper as running, then its exit once it ends.
fn watch(
    instance: Arc<Mutex<Instance>>,
    mut child: Child,
    master: Option<Arc<OwnedFd>>,
) -> std::thread::JoinHandle<()> {
    if let Ok(mut i) = instance.lock() {
        i.running = true;
        i.pid = child.id();
        i.master = master;
    }
    std::thread::spawn(move || {
        let code = child.wait().map(|s| s.code().unwrap_or(137)).unwrap_or(126);
        if let Ok(mut i) = instance.lock() {
            i.running = false;
            i.exit_code = Some(code);
            i.master = None;
            i.ended_at = Some(Instant::now());
        }
    })
}

fn run_piped(
    engine: &kiln_engine::Engine,
    container: &str,
    opts: &ExecOptions,
    instance: Arc<Mutex<Instance>>,
    conn: Conn,
) -> reply::Result<()> {
    let (stdin, stdout, stderr) = {
        let i = instance
            .lock()
            .map_err(|_| ApiError::internal("exec poisoned"))?;
        (i.stdin, i.stdout, i.stderr)
    };
    let piped = |on: bool| if on { Stdio::piped() } else { Stdio::null() };
    let mut child = engine.exec_spawn(
        container,
        opts,
        [piped(stdin), piped(stdout), piped(stderr)],
    )?;
    let (child_in, child_out, child_err) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take());
    let waiter = watch(instance, child, None);
    let Conn { mut input, output } = conn;
    if let Some(mut child_in) = child_in {
        std::thread::spawn(move || {
            let _ = std::io::copy(&mut input, &mut child_in);
        });
    }
    let (mut out, mut err) = hijack::multiplexed(output);
    let copier = child_err.map(|mut e| std::thread::spawn(move || std::io::copy(&mut e, &mut err)));
    if let Some(mut o) = child_out {
        let _ = std::io::copy(&mut o, &mut out);
    }
    if let Some(c) = copier {
        let _ = c.join();
    }
    // The exit code must be known before the client, seeing the stream
    // end, asks for it.
    let _ = waiter.join();
    Ok(())
}

fn run_tty(
    engine: &kiln_engine::Engine,
    container: &str,
    opts: &ExecOptions,
    instance: Arc<Mutex<Instance>>,
    conn: Conn,
) -> reply::Result<()> {
    let pty =
        nix::pty::openpty(None, None).map_err(|e| ApiError::internal(format!("openpty: {e}")))?;
    let slave = |_: ()| pty.slave.try_clone().map(Stdio::from);
    let stdio = [slave(())?, slave(())?, slave(())?];
    let child = engine.exec_spawn(container, opts, stdio)?;
    drop(pty.slave);
    let master = Arc::new(pty.master);
    let waiter = watch(instance, child, Some(master.clone()));
    let Conn {
        mut input,
        mut output,
    } = conn;
    let writer = master.try_clone()?;
    std::thread::spawn(move || {
        let mut w = std::fs::File::from(writer);
        let _ = std::io::copy(&mut input, &mut w);
    });
    let mut reader = std::fs::File::from(master.try_clone()?);
    let mut buf = [0u8; 16 * 1024];
    // EIO once the helper and the command have closed the terminal.
    while let Ok(n) = reader.read(&mut buf) {
        if n == 0
            || output
                .write_all(&buf[..n])
                .and_then(|()| output.flush())
                .is_err()
        {
            break;
        }
    }
    let _ = waiter.join();
    Ok(())
}

fn inspect(ctx: &Ctx, id: &str) -> reply::Result {
    let instance = ctx.execs.get(id)?;
    let i = instance
        .lock()
        .map_err(|_| ApiError::internal("exec poisoned"))?;
    let (entrypoint, arguments) = i
        .opts
        .command
        .split_first()
        .map_or((String::new(), Vec::new()), |(f, r)| {
            (f.clone(), r.to_vec())
        });
    reply::ok_json(&json!({
        "ID": id,
        "Running": i.running,
        "ExitCode": i.exit_code,
        "ProcessConfig": {
            "tty": i.opts.tty,
            "entrypoint": entrypoint,
            "arguments": arguments,
            "privileged": i.opts.privileged,
            "user": i.opts.user.clone().unwrap_or_default(),
        },
        "OpenStdin": i.stdin,
        "OpenStdout": i.stdout,
        "OpenStderr": i.stderr,
        "CanRemove": false,
        "ContainerID": i.container,
        "DetachKeys": "",
        "Pid": i.pid,
    }))
}

fn resize(ctx: &Ctx, id: &str, req: &ApiRequest) -> reply::Result {
    let rows = req.query.number::<u16>("h")?.unwrap_or(0);
    let cols = req.query.number::<u16>("w")?.unwrap_or(0);
    let instance = ctx.execs.get(id)?;
    let i = instance
        .lock()
        .map_err(|_| ApiError::internal("exec poisoned"))?;
    let Some(master) = &i.master else {
        return Err(ApiError::conflict(format!(
            "exec {id} is not running with a TTY"
        )));
    };
    let size = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads the winsize we own.
    if unsafe { libc::ioctl(master.as_fd().as_raw_fd(), libc::TIOCSWINSZ, &size) } < 0 {
        return Err(ApiError::internal(
            std::io::Error::last_os_error().to_string(),
        ));
    }
    // The helper is not the terminal's session leader: tell it directly.
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i.pid as i32),
        nix::sys::signal::Signal::SIGWINCH,
    );
    reply::status(StatusCode::OK)
}
