//! Per-registry settings and where a reference's requests go. The keys are
//! BuildKit's (`[registry."docker.io"] mirrors = […]`, `http`, `insecure`)
//! so a buildkitd.toml carries over; the CLI parses the file and hands the
//! result here as plain data.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use super::credentials::CredentialsFile;

/// Docker Hub's name in references, and the host that serves its API.
pub const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_API: &str = "registry-1.docker.io";

/// Settings for one registry host (`host` or `host:port`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostConfig {
    /// Hosts to try first when pulling from this one, in order.
    pub mirrors: Vec<String>,
    /// Plain HTTP. Unset means: only for loopback addresses.
    pub http: Option<bool>,
    /// HTTPS without certificate verification.
    pub insecure: bool,
}

/// Everything a pull or push needs to know besides the reference.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    pub hosts: BTreeMap<String, HostConfig>,
    /// Credentials from Docker's config.json (empty: anonymous only).
    pub credentials: CredentialsFile,
    pub timeouts: Timeouts,
}

/// How long a registry may keep kiln waiting. There is no limit on a whole
/// transfer (a layer takes as long as it takes), only on silence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// To open a TCP (and TLS) connection.
    pub connect: Duration,
    /// Between bytes: for response headers after a request, and between
    /// two reads of a body.
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(30),
            read: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("invalid {name} {value:?}: {reason} (a duration such as 30s or 500ms)")]
pub struct TimeoutError {
    pub name: String,
    pub value: String,
    pub reason: String,
}

impl Timeouts {
    /// The defaults with the values given (`30s`, `1m`, `500ms`; a bare
    /// number is seconds) put in; `name`s are for the error.
    pub fn with(
        connect: Option<(&str, &str)>,
        read: Option<(&str, &str)>,
    ) -> Result<Timeouts, TimeoutError> {
        let mut t = Timeouts::default();
        if let Some((name, value)) = connect {
            t.connect = parse_duration(name, value)?;
        }
        if let Some((name, value)) = read {
            t.read = parse_duration(name, value)?;
        }
        Ok(t)
    }
}

fn parse_duration(name: &str, value: &str) -> Result<Duration, TimeoutError> {
    let err = |reason: String| TimeoutError {
        name: name.to_string(),
        value: value.to_string(),
        reason,
    };
    let trimmed = value.trim();
    let parsed = match trimmed.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => humantime::parse_duration(trimmed).map_err(|e| err(e.to_string()))?,
    };
    // Zero would mean "fail at once", never what anyone wants from a timeout.
    if parsed.is_zero() {
        return Err(err("must be more than zero".to_string()));
    }
    Ok(parsed)
}

/// One place to send requests: a registry or a mirror.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The name as configured or referenced (`docker.io`, `127.0.0.1:5000`):
    /// the key for settings and credentials.
    pub host: String,
    /// `http://127.0.0.1:5000`, `https://registry-1.docker.io`.
    pub base_url: String,
    pub insecure: bool,
    pub is_mirror: bool,
    pub timeouts: Timeouts,
}

impl RegistryConfig {
    /// Where to pull `domain`'s images from: its mirrors, then itself.
    pub fn pull_endpoints(&self, domain: &str) -> Vec<Endpoint> {
        let mut out: Vec<Endpoint> = self
            .hosts
            .get(domain)
            .map(|h| h.mirrors.as_slice())
            .unwrap_or_default()
            .iter()
            .map(|m| self.mirror_endpoint(m))
            .collect();
        out.push(self.endpoint(domain));
        out
    }

    /// The registry itself (pushes, logins: never a mirror).
    pub fn endpoint(&self, host: &str) -> Endpoint {
        let settings = self.hosts.get(host).cloned().unwrap_or_default();
        let http = settings.http.unwrap_or_else(|| is_loopback(host));
        let api_host = if host == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            host
        };
        Endpoint {
            host: host.to_string(),
            base_url: format!("{}://{api_host}", if http { "http" } else { "https" }),
            insecure: settings.insecure,
            is_mirror: false,
            timeouts: self.timeouts,
        }
    }

    /// A mirror may be written with a scheme (`http://10.0.0.1:5000`), which
    /// then decides plain HTTP; a path after the host is not used (mirrors
    /// serve `/v2/` at their root, as BuildKit expects).
    fn mirror_endpoint(&self, mirror: &str) -> Endpoint {
        let (scheme, rest) = match mirror.split_once("://") {
            Some((s, rest)) => (Some(s), rest),
            None => (None, mirror),
        };
        let host = rest.split('/').next().unwrap_or(rest);
        let mut ep = self.endpoint(host);
        if let Some(scheme) = scheme {
            ep.base_url = format!("{scheme}://{host}");
        }
        ep.is_mirror = true;
        ep
    }
}

/// `localhost`, `127.0.0.1:5000`, `[::1]:5000`: Docker allows plain HTTP to
/// these without configuration, and so does kiln.
pub fn is_loopback(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(rest),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name == "localhost" || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_plain_http_others_are_https() {
        let config = RegistryConfig::default();
        assert_eq!(
            config.endpoint("127.0.0.1:5000").base_url,
            "http://127.0.0.1:5000"
        );
        assert_eq!(config.endpoint("localhost").base_url, "http://localhost");
        assert_eq!(config.endpoint("[::1]:5000").base_url, "http://[::1]:5000");
        assert_eq!(config.endpoint("ghcr.io").base_url, "https://ghcr.io");
        assert_eq!(
            config.endpoint("docker.io").base_url,
            "https://registry-1.docker.io"
        );
        assert!(!is_loopback("127.example.com"));
    }

    #[test]
    fn timeouts_default_and_parse() {
        let t = Timeouts::with(None, None).unwrap();
        assert_eq!(t, Timeouts::default());
        assert_eq!(t.connect, Duration::from_secs(30));
        assert_eq!(t.read, Duration::from_secs(60));
        let t = Timeouts::with(Some(("C", "5")), Some(("R", "500ms"))).unwrap();
        assert_eq!(t.connect, Duration::from_secs(5));
        assert_eq!(t.read, Duration::from_millis(500));
        let err = Timeouts::with(None, Some(("KILN_REGISTRY_READ_TIMEOUT", "soon"))).unwrap_err();
        assert!(
            err.to_string().contains("KILN_REGISTRY_READ_TIMEOUT"),
            "{err}"
        );
        assert!(Timeouts::with(Some(("C", "0s")), None).is_err());
    }

    #[test]
    fn configured_hosts_and_mirrors() {
        let mut config = RegistryConfig::default();
        config.hosts.insert(
            "docker.io".into(),
            HostConfig {
                mirrors: vec!["mirror.local:5000".into(), "http://10.0.0.1/x".into()],
                ..HostConfig::default()
            },
        );
        config.hosts.insert(
            "mirror.local:5000".into(),
            HostConfig {
                http: Some(true),
                ..HostConfig::default()
            },
        );
        config.hosts.insert(
            "127.0.0.1:443".into(),
            HostConfig {
                http: Some(false),
                insecure: true,
                ..HostConfig::default()
            },
        );
        let eps = config.pull_endpoints("docker.io");
        let urls: Vec<_> = eps.iter().map(|e| e.base_url.as_str()).collect();
        assert_eq!(
            urls,
            [
                "http://mirror.local:5000",
                "http://10.0.0.1",
                "https://registry-1.docker.io"
            ]
        );
        assert_eq!(eps.iter().filter(|e| e.is_mirror).count(), 2);
        let tls = config.endpoint("127.0.0.1:443");
        assert_eq!(tls.base_url, "https://127.0.0.1:443");
        assert!(tls.insecure);
    }
}
