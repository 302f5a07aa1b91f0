//! Per-registry settings and where a reference's requests go. The keys are
//! BuildKit's (`[registry."docker.io"] mirrors = […]`, `http`, `insecure`)
//! so a buildkitd.toml carries over; the CLI parses the file and hands the
//! result here as plain data.

use std::collections::BTreeMap;
use std::net::IpAddr;

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
