//! Published ports: the monitor listens on the host address and, for each
//! connection (or UDP peer), opens a socket inside the container's network
//! namespace from a thread that joined it. Works the same for `private`
//! and user networks, needs no firewall rules, and the listeners close
//! with the monitor, so published ports are torn down with the container.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, OwnedFd};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sched::CloneFlags;

use super::{PortBinding, Proto};
use crate::syscalls::{Real, Syscalls};

/// Where connections go: a network namespace and an address in it.
#[derive(Debug)]
pub struct Target {
    pub netns: OwnedFd,
    pub addr: IpAddr,
}

impl Target {
    /// The namespace of process `pid` (the container's helper).
    pub fn of_pid(pid: u32, addr: Option<IpAddr>) -> io::Result<Target> {
        let file = std::fs::File::open(format!("/proc/{pid}/ns/net"))?;
        Ok(Target {
            netns: file.into(),
            addr: addr.unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        })
    }
}

type Shared = Arc<Mutex<Option<Target>>>;

/// The listeners of one container; they stop when it is dropped (the
/// monitor exits) — the accept threads die with the process.
pub struct Publisher {
    target: Shared,
}

impl Publisher {
    /// Binds every port on the host and starts forwarding; returns the
    /// bindings with the host ports actually bound.
    pub fn bind(bindings: &[PortBinding]) -> io::Result<(Publisher, Vec<PortBinding>)> {
        let target: Shared = Arc::new(Mutex::new(None));
        let mut bound = Vec::new();
        for b in bindings {
            let ip: IpAddr = b
                .host_ip
                .parse()
                .map_err(|_| io::Error::other(format!("bad host address {}", b.host_ip)))?;
            let at = SocketAddr::new(ip, b.host_port);
            let port = match b.proto {
                Proto::Tcp => {
                    let l = TcpListener::bind(at)?;
                    let port = l.local_addr()?.port();
                    let (t, cport) = (target.clone(), b.container_port);
                    std::thread::spawn(move || accept_loop(l, t, cport));
                    port
                }
                Proto::Udp => {
                    let s = UdpSocket::bind(at)?;
                    let port = s.local_addr()?.port();
                    let (t, cport) = (target.clone(), b.container_port);
                    std::thread::spawn(move || udp_loop(s, t, cport));
                    port
                }
            };
            bound.push(PortBinding {
                host_port: port,
                ..b.clone()
            });
        }
        Ok((Publisher { target }, bound))
    }

    /// Points the forwarding at a (re)started container, or at nothing.
    pub fn set_target(&self, target: Option<Target>) {
        if let Ok(mut t) = self.target.lock() {
            *t = target;
        }
    }
}

/// Joins the target's namespace (this thread only) and returns its address.
fn enter(target: &Shared) -> io::Result<IpAddr> {
    let guard = target.lock().map_err(|_| io::Error::other("poisoned"))?;
    let t = guard
        .as_ref()
        .ok_or_else(|| io::Error::other("the container is not running"))?;
    Real.setns(t.netns.as_fd(), CloneFlags::CLONE_NEWNET)?;
    Ok(t.addr)
}

fn accept_loop(listener: TcpListener, target: Shared, port: u16) {
    for conn in listener.incoming().flatten() {
        let target = target.clone();
        std::thread::spawn(move || {
            let Ok(addr) = enter(&target) else { return };
            if let Ok(inner) =
                TcpStream::connect_timeout(&SocketAddr::new(addr, port), Duration::from_secs(5))
            {
                splice(conn, inner);
            }
        });
    }
}

/// Copies both ways until each side has closed.
fn splice(a: TcpStream, b: TcpStream) {
    let (Ok(a2), Ok(b2)) = (a.try_clone(), b.try_clone()) else {
        return;
    };
    let back = std::thread::spawn(move || copy_half(b2, a2));
    copy_half(a, b);
    let _ = back.join();
}

fn copy_half(mut from: TcpStream, mut to: TcpStream) {
    let _ = io::copy(&mut from, &mut to);
    let _ = to.shutdown(std::net::Shutdown::Write);
}

fn udp_loop(host: UdpSocket, target: Shared, port: u16) {
    let peers: Arc<Mutex<HashMap<SocketAddr, UdpSocket>>> = Arc::default();
    let mut buf = vec![0u8; 65536];
    while let Ok((n, peer)) = host.recv_from(&mut buf) {
        let known = peers
            .lock()
            .ok()
            .and_then(|p| p.get(&peer).and_then(|s| s.try_clone().ok()));
        let inner = match known {
            Some(s) => s,
            None => match udp_peer(&host, &target, port, peer, &peers) {
                Some(s) => s,
                None => continue,
            },
        };
        let _ = inner.send(&buf[..n]);
    }
}

/// A socket in the container for one UDP peer, with a thread sending the
/// container's replies back to that peer.
fn udp_peer(
    host: &UdpSocket,
    target: &Shared,
    port: u16,
    peer: SocketAddr,
    peers: &Arc<Mutex<HashMap<SocketAddr, UdpSocket>>>,
) -> Option<UdpSocket> {
    let (tx, rx) = std::sync::mpsc::channel();
    let (target, host) = (target.clone(), host.try_clone().ok()?);
    std::thread::spawn(move || {
        let made = enter(&target).and_then(|addr| {
            let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
            s.connect(SocketAddr::new(addr, port))?;
            Ok(s)
        });
        let Ok(s) = made else {
            let _ = tx.send(None);
            return;
        };
        let _ = tx.send(s.try_clone().ok());
        let _ = s.set_read_timeout(Some(Duration::from_secs(120)));
        let mut buf = vec![0u8; 65536];
        while let Ok(n) = s.recv(&mut buf) {
            let _ = host.send_to(&buf[..n], peer);
        }
    });
    let s = rx.recv().ok()??;
    if let Ok(mut p) = peers.lock() {
        p.insert(peer, s.try_clone().ok()?);
    }
    Some(s)
}
