//! `kiln serve`: the Docker Engine API (v1.41, what docker 20.10 speaks)
//! on a unix socket or a loopback TCP port, for the tools that speak it
//! (the docker CLI, docker-compose, the SDKs). Every request maps onto the
//! same engine calls the CLI makes, on the same store: the server holds no
//! state of its own beyond the connections it serves, so `kiln` commands
//! and API clients can be used side by side, and containers outlive the
//! server (their monitors own them).

mod body;
mod build;
mod containers;
mod exec;
mod hijack;
mod images;
mod listen;
mod networks;
mod query;
mod reply;
mod route;
mod system;
mod volumes;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

use crate::globals::Globals;
use listen::{Endpoint, Listener};

/// The API version served; newer clients negotiate down to it (`/_ping`
/// and every response carry it).
pub const API_VERSION: &str = "1.41";
/// The oldest version whose requests are understood.
pub const MIN_API_VERSION: &str = "1.12";

#[derive(clap::Args)]
pub struct Args {
    /// Where to listen, repeatable: unix:///PATH or tcp://127.0.0.1:PORT (loopback only); default unix:///run/kiln/docker.sock, rootless $XDG_RUNTIME_DIR/kiln/docker.sock
    #[arg(short = 'H', long = "host", value_name = "ADDR")]
    hosts: Vec<String>,
    /// Group that may use the unix socket (default: `kiln` if it exists, else root only)
    #[arg(long, value_name = "NAME")]
    group: Option<String>,
}

/// What every request handler is given.
pub(crate) struct Ctx {
    pub engine: kiln_engine::Engine,
    pub globals: Globals,
    pub pending: containers::PendingAttaches,
    pub execs: exec::Execs,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let hosts = if args.hosts.is_empty() {
        vec![listen::default_host()]
    } else {
        args.hosts.clone()
    };
    let endpoints = hosts
        .iter()
        .map(|h| Endpoint::parse(h).with_context(|| format!("-H {h}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .max_blocking_threads(1024)
        .build()
        .context("starting the server's runtime")?;
    let ctx = Arc::new(Ctx {
        engine: kiln_engine::Engine::new(&globals.root),
        globals: globals.clone(),
        pending: Default::default(),
        execs: Default::default(),
    });
    runtime.block_on(serve(endpoints, args.group, ctx))?;
    // Blocking handlers (a followed log, an attach) end with their clients;
    // the containers they watch keep running under their monitors.
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(ExitCode::SUCCESS)
}

async fn serve(
    endpoints: Vec<Endpoint>,
    group: Option<String>,
    ctx: Arc<Ctx>,
) -> anyhow::Result<()> {
    let mut listeners = Vec::new();
    for e in &endpoints {
        listeners.push(Listener::bind(e, group.as_deref())?);
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("watching SIGTERM")?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut accepting = Vec::new();
    for l in listeners {
        let ctx = ctx.clone();
        accepting.push(tokio::spawn(accept_loop(l, ctx, stop_rx.clone())));
    }
    eprintln!(
        "kiln serve: API {API_VERSION} on {}",
        endpoints
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    let _ = stop_tx.send(true);
    for a in accepting {
        let _ = a.await;
    }
    for e in &endpoints {
        e.remove_socket();
    }
    Ok(())
}

async fn accept_loop(
    listener: Listener,
    ctx: Arc<Ctx>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let conn = tokio::select! {
            c = listener.accept() => c,
            _ = stop.changed() => return,
        };
        match conn {
            Ok(io) => {
                tokio::spawn(serve_connection(io, ctx.clone()));
            }
            // Out of descriptors or a reset before accept: the next may work.
            Err(e) => {
                if ctx.globals.debug {
                    eprintln!("kiln serve: accept: {e}");
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        }
    }
}

async fn serve_connection<S>(io: S, ctx: Arc<Ctx>)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req| route::dispatch(ctx.clone(), req));
    let conn = http1::Builder::new()
        .max_buf_size(1 << 20)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    // A client that goes away mid-request is its own business.
    let _ = conn.await;
}
