//! Build arguments as the Dockerfile reference scopes them: global `ARG`s
//! before the first `FROM` (usable in `FROM` lines, and in a stage only when
//! redeclared there), stage `ARG`s, `--build-arg` overrides, the predefined
//! proxy args (usable without a declaration, never part of a cache key) and
//! the automatic platform args (BuildKit's `TARGETPLATFORM` family).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use kiln_cache::registry::Platform;

/// Args every build accepts without an `ARG` line (BuildKit's
/// `defaultArgs`); they reach RUN steps but never cache keys.
pub const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// BuildKit's automatic platform args: `BUILD*` name this machine, as Go
/// names it; `TARGET*` name `--platform`'s platform, else this machine too.
pub fn platform_args(target: Option<&Platform>) -> Vec<(String, String)> {
    let host = host_platform();
    let target = target.cloned().unwrap_or_else(|| host.clone());
    let mut out = Vec::new();
    for (prefix, p) in [("TARGET", &target), ("BUILD", &host)] {
        let variant = p.variant.clone().unwrap_or_default();
        out.push((format!("{prefix}PLATFORM"), p.to_string()));
        out.push((format!("{prefix}OS"), p.os.clone()));
        out.push((format!("{prefix}ARCH"), p.architecture.clone()));
        out.push((format!("{prefix}VARIANT"), variant));
    }
    out
}

/// This machine's platform with Go's architecture names.
pub fn host_platform() -> Platform {
    let arch = match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    };
    let variant = (arch == "arm").then(|| "v7".to_string());
    Platform {
        os: "linux".to_string(),
        architecture: arch.to_string(),
        variant,
    }
}

/// The `--build-arg` values of one build, and which of them a stage used.
#[derive(Debug, Default)]
pub struct BuildArgs {
    given: BTreeMap<String, String>,
    used: Mutex<BTreeSet<String>>,
}

impl BuildArgs {
    pub fn new(given: BTreeMap<String, String>) -> BuildArgs {
        BuildArgs {
            given,
            used: Mutex::new(BTreeSet::new()),
        }
    }

    /// The value given with `--build-arg NAME=…`, marking it used.
    pub fn take(&self, name: &str) -> Option<String> {
        let value = self.given.get(name).cloned();
        if value.is_some() {
            if let Ok(mut used) = self.used.lock() {
                used.insert(name.to_string());
            }
        }
        value
    }

    /// Proxy args the user gave: they reach RUN without a declaration.
    pub fn proxies(&self) -> Vec<(String, String)> {
        PROXY_ARGS
            .iter()
            .filter_map(|n| self.take(n).map(|v| (n.to_string(), v)))
            .collect()
    }

    /// `--build-arg`s no stage that ran declared: Docker warns about them.
    pub fn unused(&self) -> Vec<String> {
        let used = self.used.lock().map(|u| u.clone()).unwrap_or_default();
        self.given
            .keys()
            .filter(|k| !used.contains(*k) && !PROXY_ARGS.contains(&k.as_str()))
            .cloned()
            .collect()
    }
}

/// An ordered scope of `NAME=value` pairs; a later pair shadows an earlier.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope {
    pairs: Vec<(String, String)>,
}

impl Scope {
    pub fn set(&mut self, name: &str, value: String) {
        self.pairs.retain(|(k, _)| k != name);
        self.pairs.push((name.to_string(), value));
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unused_build_args_are_those_never_taken() {
        let given = [("A", "1"), ("B", "2"), ("HTTP_PROXY", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let args = BuildArgs::new(given);
        assert_eq!(args.take("A").as_deref(), Some("1"));
        assert_eq!(args.take("C"), None);
        assert_eq!(args.unused(), vec!["B".to_string()]);
    }

    #[test]
    fn platform_args_name_linux() {
        let p = platform_args(None);
        let get = |n: &str| p.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
        assert_eq!(get("TARGETOS").as_deref(), Some("linux"));
        assert_eq!(get("BUILDPLATFORM"), get("TARGETPLATFORM"));
    }

    #[test]
    fn platform_flag_sets_target_args_only() {
        let arm = Platform::parse("linux/arm64/v8").unwrap();
        let p = platform_args(Some(&arm));
        let get = |k: &str| p.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("TARGETPLATFORM"), Some("linux/arm64/v8"));
        assert_eq!(get("TARGETARCH"), Some("arm64"));
        assert_eq!(get("TARGETVARIANT"), Some("v8"));
        assert_eq!(
            get("BUILDPLATFORM"),
            Some(host_platform().to_string().as_str())
        );
    }

    #[test]
    fn scope_later_value_wins() {
        let mut s = Scope::default();
        s.set("A", "1".into());
        s.set("B", "2".into());
        s.set("A", "3".into());
        assert_eq!(s.get("A"), Some("3"));
        assert_eq!(s.pairs().len(), 2);
    }
}
