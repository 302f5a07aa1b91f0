//! User networks (`kiln network create NAME`): a network namespace kiln
//! creates and keeps alive by binding it onto `<root>/networks/NAME/netns`,
//! holding a bridge `br0` with the subnet's gateway address. Each container
//! gets a veth pair (its end is `eth0`) on that bridge and an address from
//! the network's lease file; every container on the network shares one
//! hosts file listing them all by name, so they reach each other by name.
//! Nothing of the host's own network stack is touched: the bridge lives in
//! kiln's namespace, and there is no route out of it. Outbound traffic
//! leaves each container through its own slirp4netns (as `private` does),
//! whose tap0 carries the default route while eth0 keeps the subnet: no
//! NAT rules, no forwarding, nothing that outlives the container.

use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;
use serde::{Deserialize, Serialize};

use crate::syscalls::{Real, Syscalls};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("network {0} already exists")]
    Exists(String),
    #[error("network {0} not found")]
    NotFound(String),
    #[error("invalid network name {0:?}")]
    BadName(String),
    #[error("network {0} has active endpoints: {1}")]
    InUse(String, String),
    #[error("no free subnet left for a new network")]
    NoSubnet,
    #[error("network {0} has no free address left")]
    Full(String),
    #[error("ip {args}: {message}")]
    Ip { args: String, message: String },
    #[error("unknown network option {0:?}: kiln knows allow_host_loopback=true|false")]
    BadOption(String),
    #[error("network {path}: {source}")]
    Json {
        path: PathBuf,
        source: serde_json::Error,
    },
}

type Result<T> = std::result::Result<T, Error>;

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> Error + 'a {
    move |source| Error::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Docker's reserved names, which are modes here, not networks.
const RESERVED: [&str; 5] = ["none", "host", "bridge", "private", "default"];

const LOCAL_HOSTS: &str = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    pub id: String,
    /// The third octet of 10.89.N.0/24.
    pub octet: u8,
    pub created: String,
    /// Containers reach the host's 127.0.0.1 at 10.0.2.2 (slirp4netns's
    /// gateway); off by default, as in Docker and podman.
    #[serde(default)]
    pub allow_host_loopback: bool,
}

/// What `network create -o KEY=VALUE` may set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    pub allow_host_loopback: bool,
}

impl Options {
    /// `KEY=VALUE` pairs; an unknown key or value is an error rather than
    /// silently ignored.
    pub fn parse(pairs: &[String]) -> Result<Options> {
        let mut opts = Options::default();
        for pair in pairs {
            match pair.split_once('=') {
                Some(("allow_host_loopback", "true")) => opts.allow_host_loopback = true,
                Some(("allow_host_loopback", "false")) => opts.allow_host_loopback = false,
                _ => return Err(Error::BadOption(pair.clone())),
            }
        }
        Ok(opts)
    }
}

impl Network {
    pub fn subnet(&self) -> String {
        format!("10.89.{}.0/24", self.octet)
    }
    /// What every address on the network starts with (`10.89.N.`).
    pub fn prefix(&self) -> String {
        format!("10.89.{}.", self.octet)
    }
    pub fn gateway(&self) -> String {
        format!("10.89.{}.1", self.octet)
    }
}

/// One container on a network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub ip: String,
    pub id: String,
    pub name: String,
    /// `--network-alias`es: more names for the same address.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// The container's first process and its network namespace
    /// (`net:[inode]`) when attached: a lease whose process no longer
    /// holds that namespace is stale (its container stopped without
    /// detaching, as one connected while it ran does).
    #[serde(default)]
    pub pid: u32,
    #[serde(default)]
    pub netns: String,
    /// It keeps its own /etc/hosts (connected while it ran), into which
    /// the network's names are written as containers join and leave.
    #[serde(default)]
    pub own_hosts: bool,
}

impl Lease {
    /// A lease for the container whose helper is `pid`, its address not
    /// yet given; `own_hosts` for one that keeps its own /etc/hosts.
    fn new(id: &str, cname: &str, aliases: &[String], pid: u32, own_hosts: bool) -> Lease {
        Lease {
            ip: String::new(),
            id: id.into(),
            name: cname.into(),
            aliases: aliases.to_vec(),
            pid,
            netns: netns_of(pid).unwrap_or_default(),
            own_hosts,
        }
    }

    /// Whether its container still holds the namespace it was attached in.
    fn live(&self) -> bool {
        self.netns.is_empty() || netns_of(self.pid).is_some_and(|ns| ns == self.netns)
    }
}

/// `net:[inode]` of `pid`'s network namespace.
fn netns_of(pid: u32) -> Option<String> {
    let link = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok()?;
    Some(link.to_string_lossy().into_owned())
}

/// `<root>/networks`.
#[derive(Debug, Clone)]
pub struct Networks {
    dir: PathBuf,
}

impl Networks {
    pub fn new(dir: impl Into<PathBuf>) -> Networks {
        Networks { dir: dir.into() }
    }

    fn lock(&self) -> Result<File> {
        std::fs::create_dir_all(&self.dir).map_err(io_err("creating", &self.dir))?;
        let path = self.dir.join(".lock");
        let f = File::create(&path).map_err(io_err("creating", &path))?;
        f.lock().map_err(io_err("locking", &path))?;
        Ok(f)
    }

    /// The shared hosts file containers on `name` mount as /etc/hosts.
    pub fn hosts_path(&self, name: &str) -> PathBuf {
        self.dir.join(name).join("hosts")
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return Ok(Vec::new());
        };
        let mut all: Vec<Network> = entries
            .flatten()
            .filter_map(|e| read_json(&e.path().join("network.json")).ok())
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(all)
    }

    pub fn get(&self, name: &str) -> Result<Network> {
        self.list()?
            .into_iter()
            .find(|n| n.name == name || (name.len() >= 3 && n.id.starts_with(name)))
            .ok_or_else(|| Error::NotFound(name.into()))
    }

    /// Creates the namespace, its bridge, and the empty hosts file.
    pub fn create(&self, name: &str, id: &str, created: &str, opts: &Options) -> Result<Network> {
        check_name(name)?;
        let _lock = self.lock()?;
        let existing = self.list()?;
        if existing.iter().any(|n| n.name == name) {
            return Err(Error::Exists(name.into()));
        }
        let octet = (1..=254u8)
            .find(|o| !existing.iter().any(|n| n.octet == *o))
            .ok_or(Error::NoSubnet)?;
        let net = Network {
            name: name.into(),
            id: id.into(),
            octet,
            created: created.into(),
            allow_host_loopback: opts.allow_host_loopback,
        };
        let dir = self.dir.join(name);
        std::fs::create_dir_all(&dir).map_err(io_err("creating", &dir))?;
        let nsfile = dir.join("netns");
        File::create(&nsfile).map_err(io_err("creating", &nsfile))?;
        let script = format!(
            "link set lo up\nlink add br0 type bridge\naddr add {}/24 dev br0\nlink set br0 up\n",
            net.gateway()
        );
        if let Err(e) = ip_in_new_netns(&nsfile, &script) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        write_hosts(&dir.join("hosts"), &[])?;
        write_json(&dir.join("leases.json"), &Vec::<Lease>::new())?;
        write_json(&dir.join("network.json"), &net)?;
        Ok(net)
    }

    /// Removes a network no container is on.
    pub fn remove(&self, name: &str) -> Result<()> {
        let _lock = self.lock()?;
        let net = self.get(name)?;
        let dir = self.dir.join(&net.name);
        let leases = live_leases(&dir);
        if !leases.is_empty() {
            let names: Vec<&str> = leases.iter().map(|l| l.name.as_str()).collect();
            return Err(Error::InUse(net.name, names.join(", ")));
        }
        let _ = release_netns(&Real, &dir.join("netns"));
        std::fs::remove_dir_all(&dir).map_err(io_err("removing", &dir))
    }

    /// Puts the container whose helper is `pid` on the network: a veth
    /// into the bridge, an address, and a hosts entry for its name and
    /// `aliases`. Returns its address. `default_route` routes everything
    /// off-subnet to the bridge's gateway; without it the default route is
    /// left to slirp4netns.
    pub fn attach(
        &self,
        name: &str,
        id: &str,
        cname: &str,
        aliases: &[String],
        pid: u32,
        default_route: bool,
    ) -> Result<String> {
        let lease = Lease::new(id, cname, aliases, pid, false);
        self.join(name, lease, default_route)
    }

    /// Puts a running container that keeps its own /etc/hosts on the
    /// network (`network connect`): as [`Networks::attach`], and the
    /// network's names go into its hosts file, now and as others join and
    /// leave.
    pub fn attach_running(
        &self,
        name: &str,
        id: &str,
        cname: &str,
        aliases: &[String],
        pid: u32,
    ) -> Result<String> {
        let lease = Lease::new(id, cname, aliases, pid, true);
        self.join(name, lease, false)
    }

    /// `lease` (its address yet to be chosen) on the network `name`.
    fn join(&self, name: &str, mut lease: Lease, default_route: bool) -> Result<String> {
        let (id, pid) = (lease.id.clone(), lease.pid);
        let net = self.get(name)?;
        let dir = self.dir.join(&net.name);
        let _lock = self.lock()?;
        let mut leases = live_leases(&dir);
        leases.retain(|l| l.id != id);
        let host = (2..=254u8)
            .find(|h| {
                !leases
                    .iter()
                    .any(|l| l.ip == format!("10.89.{}.{h}", net.octet))
            })
            .ok_or_else(|| Error::Full(name.into()))?;
        let ip = format!("10.89.{}.{host}", net.octet);
        let veth = format!("kv{}", &id[..id.len().min(12)]);
        let bridge_side = format!(
            "link add {veth} type veth peer name eth0 netns {pid}\nlink set {veth} master br0 up\n"
        );
        ip_in_netns(&dir.join("netns"), &bridge_side)?;
        let mut container_side = format!("addr add {ip}/24 dev eth0\nlink set eth0 up\n");
        if default_route {
            container_side.push_str(&format!("route add default via {}\n", net.gateway()));
        }
        ip_in_netns(Path::new(&format!("/proc/{pid}/ns/net")), &container_side)?;
        lease.ip = ip.clone();
        let own_hosts = lease.own_hosts;
        leases.push(lease);
        write_json(&dir.join("leases.json"), &leases)?;
        write_hosts(&dir.join("hosts"), &leases)?;
        let failed = refresh_own_hosts(&net, &leases, Some(&id));
        if own_hosts && failed {
            let hosts = PathBuf::from(format!("/proc/{pid}/root/etc/hosts"));
            return Err(Error::Io {
                op: "writing",
                path: hosts,
                source: io::Error::other("its /etc/hosts could not be written"),
            });
        }
        Ok(ip)
    }

    /// Takes the container off the network's leases and hosts file (its
    /// veth went with its namespace).
    pub fn detach(&self, name: &str, id: &str) -> Result<()> {
        let _lock = self.lock()?;
        let dir = self.dir.join(name);
        if !dir.is_dir() {
            return Ok(());
        }
        let mut leases = live_leases(&dir);
        leases.retain(|l| l.id != id);
        write_json(&dir.join("leases.json"), &leases)?;
        write_hosts(&dir.join("hosts"), &leases)?;
        if let Ok(net) = self.get(name) {
            refresh_own_hosts(&net, &leases, None);
        }
        Ok(())
    }

    /// Takes a running container off the network: its veth (`eth0`, the
    /// network's end in its namespace) is deleted, then its lease.
    pub fn unplug(&self, name: &str, id: &str, pid: u32) -> Result<()> {
        let ns = PathBuf::from(format!("/proc/{pid}/ns/net"));
        ip_in_netns(&ns, "link del eth0\n")?;
        self.detach(name, id)
    }

    /// The containers on the network, stale leases left out.
    pub fn leases(&self, name: &str) -> Vec<Lease> {
        live_leases(&self.dir.join(name))
    }
}

fn check_name(name: &str) -> Result<()> {
    let ok = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
        && !RESERVED.contains(&name);
    if ok {
        Ok(())
    } else {
        Err(Error::BadName(name.into()))
    }
}

/// Writes the network's names into the hosts file of each container on
/// it that keeps its own; whether that failed for `joining`. Another
/// one's failure is left alone: it may be on its way out.
fn refresh_own_hosts(net: &Network, leases: &[Lease], joining: Option<&str>) -> bool {
    let lines = entries_text(leases);
    let mut failed = false;
    for l in leases.iter().filter(|l| l.own_hosts) {
        let result = super::container_hosts::add(l.pid, &net.prefix(), &lines);
        failed |= result.is_err() && joining == Some(l.id.as_str());
    }
    failed
}

fn live_leases(dir: &Path) -> Vec<Lease> {
    let all: Vec<Lease> = read_json(&dir.join("leases.json")).unwrap_or_default();
    all.into_iter().filter(Lease::live).collect()
}

/// The hosts text: localhost, then each container by name and short ID.
fn hosts_text(leases: &[Lease]) -> String {
    LOCAL_HOSTS.to_string() + &entries_text(leases)
}

/// One line per container: its address, name, short ID and aliases.
fn entries_text(leases: &[Lease]) -> String {
    let mut text = String::new();
    for l in leases {
        let short = &l.id[..l.id.len().min(12)];
        let mut names = format!("{} {short}", l.name);
        for alias in &l.aliases {
            names.push(' ');
            names.push_str(alias);
        }
        text.push_str(&format!("{}\t{names}\n", l.ip));
    }
    text
}

/// Rewritten in place, not renamed: containers hold it as a bind mount,
/// which would keep showing a replaced file's old inode.
fn write_hosts(path: &Path, leases: &[Lease]) -> Result<()> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(path)
        .map_err(io_err("writing", path))?;
    f.write_all(hosts_text(leases).as_bytes())
        .map_err(io_err("writing", path))
}

/// Runs `ip -batch -` inside the namespace bound at (or linked from) `ns`.
fn ip_in_netns(ns: &Path, script: &str) -> Result<()> {
    let fd: OwnedFd = File::open(ns).map_err(io_err("opening", ns))?.into();
    on_own_thread(|| {
        enter_netns(&Real, fd.as_fd()).map_err(|e| ip_error(script, e.to_string()))?;
        run_ip(Command::new("ip"), script)
    })
}

/// Runs `ip -batch -` in a new network namespace, first bound onto
/// `nsfile` so it outlives the command.
fn ip_in_new_netns(nsfile: &Path, script: &str) -> Result<()> {
    on_own_thread(|| {
        enter_new_netns(&Real, nsfile).map_err(|e| ip_error(script, e.to_string()))?;
        run_ip(Command::new("ip"), script)
    })
}

/// Runs `f` on a thread of its own. Namespaces belong to threads: one
/// that thread enters or makes is its alone, and a command it spawns
/// starts there, while the rest of kiln stays in the host's.
fn on_own_thread<T: Send>(f: impl FnOnce() -> Result<T> + Send) -> Result<T> {
    std::thread::scope(|s| s.spawn(f).join()).unwrap_or_else(|p| std::panic::resume_unwind(p))
}

fn enter_netns<S: Syscalls>(sys: &S, ns: BorrowedFd) -> io::Result<()> {
    sys.setns(ns, CloneFlags::CLONE_NEWNET)
}

/// Moves the calling thread into a new network namespace and binds it
/// onto `nsfile`, which keeps it alive after the thread is gone.
fn enter_new_netns<S: Syscalls>(sys: &S, nsfile: &Path) -> io::Result<()> {
    sys.unshare(CloneFlags::CLONE_NEWNET)?;
    // thread-self: /proc/self is the process's first thread, which stays
    // in the host's namespace.
    let own = Path::new("/proc/thread-self/ns/net");
    sys.mount(Some(own), nsfile, None, MsFlags::MS_BIND, None)
}

/// Lets the namespace bound onto `nsfile` go once nothing else holds it.
fn release_netns<S: Syscalls>(sys: &S, nsfile: &Path) -> io::Result<()> {
    sys.umount(nsfile, MntFlags::MNT_DETACH)
}

fn ip_error(script: &str, message: String) -> Error {
    Error::Ip {
        args: script.lines().next().unwrap_or("").to_string(),
        message,
    }
}

fn run_ip(mut cmd: Command, script: &str) -> Result<()> {
    cmd.args(["-batch", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let ip_err = |message: String| ip_error(script, message);
    let mut child = cmd.spawn().map_err(|e| ip_err(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(script.as_bytes())
            .map_err(|e| ip_err(e.to_string()))?;
    }
    let out = child
        .wait_with_output()
        .map_err(|e| ip_err(e.to_string()))?;
    if !out.status.success() {
        return Err(ip_err(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ));
    }
    Ok(())
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let bytes = std::fs::read(path).map_err(io_err("reading", path))?;
    serde_json::from_slice(&bytes).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })
}

fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).map_err(|source| Error::Json {
        path: path.to_path_buf(),
        source,
    })?;
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io_err("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err("renaming", path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};

    #[test]
    fn a_new_network_namespace_is_made_then_bound_to_outlive_its_thread() {
        let sys = Recording::new();
        let nsfile = Path::new("/root/networks/n/netns");
        enter_new_netns(&sys, nsfile).unwrap();
        release_netns(&sys, nsfile).unwrap();
        assert_eq!(
            sys.calls(),
            [
                Call::Unshare(CloneFlags::CLONE_NEWNET),
                Call::Mount {
                    source: Some("/proc/thread-self/ns/net".into()),
                    target: nsfile.into(),
                    fstype: None,
                    flags: MsFlags::MS_BIND,
                    data: None,
                },
                Call::Umount(nsfile.into(), MntFlags::MNT_DETACH),
            ]
        );
        let refused = Recording::new().failing(0, libc::EPERM);
        assert!(enter_new_netns(&refused, nsfile).is_err());
        assert_eq!(refused.calls().len(), 1, "no bind without a namespace");
    }

    #[test]
    fn joining_a_network_enters_its_namespace_only() {
        let sys = Recording::new();
        let ns = File::open("/dev/null").unwrap();
        enter_netns(&sys, ns.as_fd()).unwrap();
        assert_eq!(sys.calls(), [Call::Setns(CloneFlags::CLONE_NEWNET)]);
    }

    #[test]
    fn a_namespace_that_cannot_be_entered_fails_as_ip_did() {
        let e = ip_error(
            "link set lo up\nlink add br0 type bridge\n",
            "denied".into(),
        );
        assert_eq!(e.to_string(), "ip link set lo up: denied");
        let thread = std::thread::current().id();
        let other = on_own_thread(|| Ok(std::thread::current().id())).unwrap();
        assert_ne!(
            other, thread,
            "the namespace change stays off the caller's thread"
        );
    }

    #[test]
    fn hosts_list_every_container() {
        let mut leases = vec![Lease {
            ip: "10.89.1.2".into(),
            id: "0123456789abcdef".into(),
            name: "web".into(),
            aliases: Vec::new(),
            pid: 0,
            netns: String::new(),
            own_hosts: false,
        }];
        let text = hosts_text(&leases);
        assert!(text.starts_with("127.0.0.1\tlocalhost\n"));
        assert!(text.ends_with("10.89.1.2\tweb 0123456789ab\n"));
        leases[0].aliases = vec!["api".into(), "www".into()];
        assert!(hosts_text(&leases).ends_with("10.89.1.2\tweb 0123456789ab api www\n"));
    }

    #[test]
    fn options_are_known_or_refused() {
        let on = Options::parse(&["allow_host_loopback=true".into()]).unwrap();
        assert!(on.allow_host_loopback);
        assert_eq!(Options::parse(&[]).unwrap(), Options::default());
        for bad in ["allow_host_loopback=yes", "mtu=1500", "allow_host_loopback"] {
            assert!(Options::parse(&[bad.into()]).is_err(), "{bad}");
        }
        let old: Network =
            serde_json::from_str(r#"{"name":"n","id":"i","octet":1,"created":""}"#).unwrap();
        assert!(!old.allow_host_loopback, "networks made before the option");
    }

    #[test]
    fn reserved_names_are_modes() {
        assert!(check_name("bridge").is_err());
        assert!(check_name("-x").is_err());
        assert!(check_name("backend_1").is_ok());
    }
}
