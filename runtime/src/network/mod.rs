//! Networks for containers: the mode a container runs in, published
//! ports ([`ports`], a user-space proxy into the container's namespace),
//! outbound traffic for `private` and user networks ([`slirp`]), and user
//! networks ([`user`]: a bridge in a network namespace kiln creates).

pub mod container_hosts;
pub mod ports;
pub mod slirp;
mod tap;
pub mod user;

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid port specification {0:?}: use [IP:][HOSTPORT:]CTRPORT[/tcp|udp]")]
    BadPort(String),
}

/// Where a container's network namespace comes from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NetworkMode {
    /// Its own namespace with only `lo`.
    None,
    /// The host's namespace.
    Host,
    /// Its own namespace, outbound through slirp4netns (Docker's bridge).
    Private,
    /// A kiln network: containers on it reach each other by name.
    User(String),
}

impl NetworkMode {
    /// The name `inspect` shows (Docker calls `private` "bridge").
    pub fn name(&self) -> &str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
            NetworkMode::Private => "bridge",
            NetworkMode::User(n) => n,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Proto {
    Tcp,
    Udp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        }
    }
}

/// One `-p`: a host address and port (0: any free port) to a container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortBinding {
    pub host_ip: String,
    pub host_port: u16,
    pub container_port: u16,
    pub proto: Proto,
}

impl PortBinding {
    /// `[IP:]HOSTPORT:CTRPORT[/proto]`, `IP::CTRPORT`, or `CTRPORT`.
    pub fn parse(text: &str) -> Result<PortBinding, Error> {
        let bad = || Error::BadPort(text.into());
        let (ports, proto) = match text.rsplit_once('/') {
            Some((p, "tcp")) => (p, Proto::Tcp),
            Some((p, "udp")) => (p, Proto::Udp),
            Some(_) => return Err(bad()),
            None => (text, Proto::Tcp),
        };
        let port = |s: &str| s.parse::<u16>().map_err(|_| bad());
        let parts: Vec<&str> = ports.rsplitn(3, ':').collect();
        let (ip, host, ctr) = match parts.as_slice() {
            [c] => ("", "", *c),
            [c, h] => ("", *h, *c),
            [c, h, ip] => (*ip, *h, *c),
            _ => return Err(bad()),
        };
        let host_port = if host.is_empty() { 0 } else { port(host)? };
        let container_port = port(ctr)?;
        if container_port == 0 {
            return Err(bad());
        }
        let ip = ip.trim_start_matches('[').trim_end_matches(']');
        if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
            return Err(bad());
        }
        Ok(PortBinding {
            host_ip: if ip.is_empty() {
                "0.0.0.0".into()
            } else {
                ip.into()
            },
            host_port,
            container_port,
            proto,
        })
    }

    /// `80/tcp -> 127.0.0.1:8080`, as `kiln port` prints it.
    pub fn describe(&self) -> String {
        format!(
            "{}/{} -> {}:{}",
            self.container_port,
            self.proto.as_str(),
            self.host_ip,
            self.host_port
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_specs_as_docker() {
        let p = PortBinding::parse("127.0.0.1:8080:80").unwrap();
        assert_eq!(
            (p.host_ip.as_str(), p.host_port, p.container_port, p.proto),
            ("127.0.0.1", 8080, 80, Proto::Tcp)
        );
        let p = PortBinding::parse("53/udp").unwrap();
        assert_eq!(
            (p.host_port, p.container_port, p.proto),
            (0, 53, Proto::Udp)
        );
        let p = PortBinding::parse("127.0.0.1::80").unwrap();
        assert_eq!(p.host_port, 0);
        assert_eq!(PortBinding::parse("9000:90").unwrap().host_ip, "0.0.0.0");
        for bad in ["x", "80/sctp", "1:2:3:4", "0", "nothost:1:2", "70000"] {
            assert!(PortBinding::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(p.describe(), "80/tcp -> 127.0.0.1:0");
    }
}
