//! Registry commands at the top level, as Docker has them: pull, push,
//! login, logout. Output follows `docker pull`/`docker push`: per-layer
//! progress on stderr (bars on a terminal, one line per change otherwise),
//! the digest and name on stdout.

mod transfer;

use std::io::{self, BufRead, IsTerminal, Read};
use std::process::ExitCode;

use anyhow::{bail, Context};
use kiln_cache::registry::{self, Credentials, CredentialsFile, Platform};
use kiln_cache::Reference;
use kiln_engine::container::CreateOptions;
use kiln_engine::images::{PullNeed, PullOptions, PullPolicy, Pulled, PushOptions, Transfer};
use kiln_engine::Engine;
use transfer::{Direction, TransferView};

use crate::config;
use crate::error_text;
use crate::globals::Globals;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PushArgs),
    /// Log in to a registry (credentials go to Docker's config.json)
    Login(LoginArgs),
    /// Log out from a registry
    Logout {
        /// Registry host; Docker Hub when omitted
        server: Option<String>,
    },
}

#[derive(clap::Args)]
pub struct PullArgs {
    /// Image to pull: NAME[:TAG|@DIGEST]
    reference: String,
    /// Platform to pick from a multi-platform image (os/arch[/variant])
    #[arg(long)]
    platform: Option<String>,
    /// Print only the image name
    #[arg(short, long)]
    quiet: bool,
}

#[derive(clap::Args)]
pub struct PushArgs {
    /// Image to push: NAME[:TAG]
    reference: String,
    /// Print only the digest
    #[arg(short, long)]
    quiet: bool,
    /// Blobs larger than this many bytes are uploaded in chunks of it
    #[arg(long, hide = true)]
    chunk_size: Option<u64>,
}

#[derive(clap::Args)]
pub struct LoginArgs {
    /// Registry host; Docker Hub when omitted
    server: Option<String>,
    #[arg(short, long)]
    username: Option<String>,
    /// Password (prefer --password-stdin: arguments are visible to others)
    #[arg(short, long)]
    password: Option<String>,
    /// Read the password from standard input
    #[arg(long)]
    password_stdin: bool,
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        match self {
            Command::Pull(args) => pull(args, globals),
            Command::Push(args) => push(args, globals),
            Command::Login(args) => login(args, globals),
            Command::Logout { server } => logout(server.as_deref()),
        }
    }
}

fn pull(args: PullArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse_normalized(&args.reference)?;
    let platform = args.platform.as_deref().map(Platform::parse).transpose()?;
    let registry = config::registry_config(globals)?;
    let opts = PullOptions {
        registry: &registry,
        platform: platform.as_ref(),
    };
    let engine = Engine::new(&globals.root);
    let pulled = pull_shown(&engine, &reference, &opts, args.quiet)?;
    if args.quiet {
        println!("{reference}");
        return Ok(ExitCode::SUCCESS);
    }
    println!("Digest: {}", pulled.digest);
    println!("Status: {}", status(&pulled, &reference));
    println!("{reference}");
    Ok(ExitCode::SUCCESS)
}

/// A pull with Docker's progress on stderr: the `TAG: Pulling from PATH`
/// line, then the layers.
fn pull_shown(
    engine: &Engine,
    reference: &Reference,
    opts: &PullOptions<'_>,
    quiet: bool,
) -> Result<Pulled, kiln_engine::Error> {
    let view = TransferView::new(quiet, Direction::Pull);
    let pulled = engine.pull_image(reference, opts, &|t: Transfer<'_>| match t {
        Transfer::Started if !quiet => {
            let what = reference.tag().unwrap_or("latest");
            let what = reference
                .digest()
                .map_or(what.to_string(), |d| d.to_string());
            eprintln!("{what}: Pulling from {}", reference.path());
        }
        Transfer::Started => {}
        Transfer::Layer(e) => view.show(e),
    });
    view.finish();
    pulled
}

fn status(pulled: &Pulled, reference: &Reference) -> String {
    let status = if pulled.newer {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    format!("{status} {}", reference.familiar())
}

/// What `run` and `create` do before the container is made: the image
/// pulled as `--pull` (`pull`) asks, with `docker run`'s messages, all on
/// stderr (stdout is the container's, or the new container's ID). On
/// failure, Docker's status for a container that could not be made (125).
pub(crate) fn pull_first(opts: &CreateOptions, pull: &str, globals: &Globals) -> Option<ExitCode> {
    let image = opts.image.as_deref()?;
    let policy = match pull {
        "always" => PullPolicy::Always,
        "never" => PullPolicy::Never,
        _ => PullPolicy::Missing,
    };
    let err = ensure_image(globals, image, policy, opts.platform.as_deref()).err()?;
    error_text::print(&err);
    Some(ExitCode::from(125))
}

fn ensure_image(
    globals: &Globals,
    reference: &str,
    policy: PullPolicy,
    platform: Option<&str>,
) -> anyhow::Result<()> {
    let engine = Engine::new(&globals.root);
    // The store keeps one image per name: one for another platform than
    // the one asked for is pulled again, as Docker's `--pull missing` does.
    let policy = match platform {
        Some(p)
            if policy == PullPolicy::Missing
                && engine.pull_need(reference, policy)? == PullNeed::Present
                && !engine.image_fits_platform(reference, p)? =>
        {
            PullPolicy::Always
        }
        _ => policy,
    };
    let platform = platform.map(Platform::parse).transpose()?;
    let reference = match engine.pull_need(reference, policy)? {
        PullNeed::Present => return Ok(()),
        PullNeed::Missing(r) => {
            eprintln!("Unable to find image '{}' locally", r.familiar());
            r
        }
        PullNeed::Always(r) => r,
    };
    let registry = config::registry_config(globals)?;
    let opts = PullOptions {
        registry: &registry,
        platform: platform.as_ref(),
    };
    let pulled = pull_shown(&engine, &reference, &opts, false)?;
    eprintln!("Digest: {}", pulled.digest);
    eprintln!("Status: {}", status(&pulled, &reference));
    Ok(())
}

fn push(args: PushArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse_normalized(&args.reference)?;
    let registry = config::registry_config(globals)?;
    let opts = PushOptions {
        registry: &registry,
        chunk_size: args.chunk_size,
    };
    let view = TransferView::new(args.quiet, Direction::Push);
    let pushed =
        Engine::new(&globals.root).push_image(&reference, &opts, &|t: Transfer<'_>| match t {
            Transfer::Started if !args.quiet => eprintln!(
                "The push refers to repository [{}]",
                reference.familiar_name()
            ),
            Transfer::Started => {}
            Transfer::Layer(e) => view.show(e),
        });
    view.finish();
    let pushed = pushed?;
    if args.quiet {
        println!("{}", pushed.digest);
    } else {
        let name = reference.tag().unwrap_or("latest");
        println!("{name}: digest: {} size: {}", pushed.digest, pushed.size);
    }
    Ok(ExitCode::SUCCESS)
}

fn login(args: LoginArgs, globals: &Globals) -> anyhow::Result<ExitCode> {
    let host = server_host(args.server.as_deref());
    let config = config::registry_config(globals)?;
    let username = match args.username {
        Some(u) => u,
        None => prompt("Username: ")?,
    };
    let password = match (args.password, args.password_stdin) {
        (Some(_), true) => bail!("--password and --password-stdin are mutually exclusive"),
        (Some(p), false) => p,
        (None, true) => read_password_stdin()?,
        (None, false) => prompt("Password: ")?,
    };
    if username.is_empty() || password.is_empty() {
        bail!("username and password are required");
    }
    let creds = Credentials { username, password };
    registry::login(&config, &host, &creds)?;
    let mut file = CredentialsFile::load_default()?;
    if let Some(helper) = file.helper_for(&host) {
        eprintln!(
            "WARNING! {} names the credential helper {helper:?} for {host}; kiln does not run \
             credential helpers and stores the credentials in the file itself.",
            file.path()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        );
    }
    file.set(&host, &creds);
    file.save()?;
    if let Some(path) = file.path() {
        eprintln!(
            "WARNING! Your password will be stored unencrypted in {}.",
            path.display()
        );
    }
    println!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

fn logout(server: Option<&str>) -> anyhow::Result<ExitCode> {
    let host = server_host(server);
    let mut file = CredentialsFile::load_default()?;
    if file.remove(&host) {
        file.save()?;
        println!("Removing login credentials for {host}");
    } else {
        println!("Not logged in to {host}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `https://index.docker.io/v1/`, `docker.io` or nothing → `docker.io`;
/// `http://127.0.0.1:5000/` → `127.0.0.1:5000`.
pub(crate) fn server_host(server: Option<&str>) -> String {
    let Some(s) = server else {
        return "docker.io".to_string();
    };
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = rest.split('/').next().unwrap_or(rest);
    match host {
        "index.docker.io" | "registry-1.docker.io" | "" => "docker.io".to_string(),
        h => h.to_string(),
    }
}

/// One line from standard input, with no trailing newline (as
/// `docker login --password-stdin` reads it).
fn read_password_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    io::stdin()
        .lock()
        .take(64 << 10)
        .read_to_string(&mut text)
        .context("reading the password from standard input")?;
    Ok(text.trim_end_matches(['\n', '\r']).to_string())
}

/// Asks on stderr, reads a line from stdin. kiln has no no-echo prompt:
/// on a terminal the password is refused in favour of --password-stdin.
fn prompt(question: &str) -> anyhow::Result<String> {
    if question.starts_with("Password") && io::stdin().is_terminal() {
        bail!("no password given: use --password-stdin (or -p)");
    }
    eprint!("{question}");
    let mut line = String::new();
    io::stdin().lock().read_line(&mut line)?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
