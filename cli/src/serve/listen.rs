//! Where `kiln serve` listens: a unix socket (the default, reachable by
//! root and the `kiln` group) or a TCP port on a loopback address. The API
//! gives whoever reaches it root on this machine, so a TCP address anyone
//! else can reach is refused: kiln has no TLS client authentication.

use std::fmt;
use std::io::ErrorKind;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

/// Root's socket; a rootless kiln serves from the user's runtime dir.
const ROOT_SOCKET: &str = "/run/kiln/docker.sock";

pub fn default_host() -> String {
    if kiln_runtime::rootless::active() {
        let sock = kiln_runtime::rootless::runtime_dir().join("docker.sock");
        return format!("unix://{}", sock.display());
    }
    format!("unix://{ROOT_SOCKET}")
}

/// The group whose members may use the socket when `--group` is not given.
const DEFAULT_GROUP: &str = "kiln";

#[derive(Debug, Clone)]
pub enum Endpoint {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

impl Endpoint {
    pub fn parse(text: &str) -> anyhow::Result<Endpoint> {
        if let Some(path) = text.strip_prefix("unix://") {
            let path = PathBuf::from(path);
            if !path.is_absolute() {
                bail!("a unix socket's path must be absolute: {text:?}");
            }
            return Ok(Endpoint::Unix(path));
        }
        let Some(addr) = text.strip_prefix("tcp://") else {
            bail!("unsupported address {text:?}: use unix:///PATH or tcp://127.0.0.1:PORT");
        };
        let addr = addr
            .to_socket_addrs()
            .with_context(|| format!("resolving {addr:?}"))?
            .next()
            .with_context(|| format!("{addr:?} names no address"))?;
        if !is_loopback(addr.ip()) {
            bail!(
                "{text}: kiln serve listens on loopback addresses only; whoever reaches the API is root \
                 on this machine (use a unix socket, or a tunnel such as ssh -L)"
            );
        }
        Ok(Endpoint::Tcp(addr))
    }

    /// A unix socket is removed when the server stops, so a client sees no
    /// server rather than a dead one.
    pub fn remove_socket(&self) {
        if let Endpoint::Unix(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Unix(p) => write!(f, "unix://{}", p.display()),
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// A connection's byte stream, whichever kind of socket it came on.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub enum Listener {
    Unix(UnixListener),
    Tcp(TcpListener),
}

impl Listener {
    pub fn bind(endpoint: &Endpoint, group: Option<&str>) -> anyhow::Result<Listener> {
        match endpoint {
            Endpoint::Unix(path) => bind_unix(path, group).map(Listener::Unix),
            Endpoint::Tcp(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .with_context(|| format!("listening on tcp://{addr}"))?;
                l.set_nonblocking(true)?;
                Ok(Listener::Tcp(TcpListener::from_std(l)?))
            }
        }
    }

    pub async fn accept(&self) -> std::io::Result<Box<dyn Io>> {
        Ok(match self {
            Listener::Unix(l) => Box::new(l.accept().await?.0),
            Listener::Tcp(l) => {
                let (s, _) = l.accept().await?;
                let _ = s.set_nodelay(true);
                Box::new(s)
            }
        })
    }
}

fn bind_unix(path: &Path, group: Option<&str>) -> anyhow::Result<UnixListener> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    clear_stale(path)?;
    let std_listener = std::os::unix::net::UnixListener::bind(path)
        .with_context(|| format!("listening on unix://{}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting the mode of {}", path.display()))?;
    give_to_group(path, group)?;
    std_listener.set_nonblocking(true)?;
    Ok(UnixListener::from_std(std_listener)?)
}

/// A socket left by a server that died is replaced; one a live server
/// answers on, or a file that is not a socket, is not touched.
fn clear_stale(path: &Path) -> anyhow::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e).with_context(|| format!("looking at {}", path.display())),
    };
    if !meta.file_type().is_socket() {
        bail!(
            "{} exists and is not a socket; not replacing it",
            path.display()
        );
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        bail!("another server is listening on unix://{}", path.display());
    }
    std::fs::remove_file(path)
        .with_context(|| format!("removing the stale socket {}", path.display()))
}

fn give_to_group(path: &Path, group: Option<&str>) -> anyhow::Result<()> {
    let name = group.unwrap_or(DEFAULT_GROUP);
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let gid = match kiln_runtime::process::user::group_id(&groups, name) {
        Some(gid) => nix::unistd::Gid::from_raw(gid),
        None if group.is_none() => return Ok(()),
        None => bail!("--group {name}: no such group in /etc/group"),
    };
    nix::unistd::chown(path, None, Some(gid))
        .with_context(|| format!("giving {} to group {name}", path.display()))
}
