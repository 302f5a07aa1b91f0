//! Build arguments as the Dockerfile reference scopes them: global `ARG`s
//! before the first `FROM` (usable in `FROM` lines, and in a stage only when
//! redeclared there), stage `ARG`s, `--build-arg` overrides, the predefined
//! proxy args (usable without a declaration, never part of a cache key) and
//! the automatic platform args (BuildKit's `TARGETPLATFORM` family).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Mutex;

use kiln_cache::registry::Platform;
use kiln_parser::expand::Env;

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

/// An ordered scope of `NAME=value` pairs; setting a name again moves it to
/// the end (later pairs shadow earlier ones, and key ingredients follow
/// this order). Indexed by name, with tombstones compacted lazily, so a
/// stage of 100,000 `ARG` lines is set and looked up in linear time (a
/// `retain` per set, as before, was quadratic).
#[derive(Debug, Clone, Default)]
pub struct Scope {
    slots: Vec<Option<(String, String)>>,
    index: HashMap<String, usize>,
}

impl PartialEq for Scope {
    fn eq(&self, other: &Scope) -> bool {
        self.pairs().eq(other.pairs())
    }
}

impl Eq for Scope {}

impl Scope {
    pub fn set(&mut self, name: &str, value: String) {
        if let Some(old) = self.index.get(name).copied() {
            if old + 1 == self.slots.len() {
                // Already last: the order does not change.
                if let Some((_, v)) = &mut self.slots[old] {
                    *v = value;
                }
                return;
            }
            self.slots[old] = None;
        }
        self.index.insert(name.to_string(), self.slots.len());
        self.slots.push(Some((name.to_string(), value)));
        // Compact once tombstones outnumber live pairs: amortised O(1).
        if self.slots.len() > 2 * self.index.len() + 16 {
            self.slots.retain(Option::is_some);
            for (i, slot) in self.slots.iter().enumerate() {
                if let Some((k, _)) = slot {
                    self.index.insert(k.clone(), i);
                }
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        let i = *self.index.get(name)?;
        self.slots[i].as_ref().map(|(_, v)| v.as_str())
    }

    /// The pairs in order.
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> + '_ {
        self.slots
            .iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }
}

impl Env for Scope {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.get(name)
    }
}

/// A stage's image environment (`Env`) while dispatch walks it: pairs in
/// the config's order, indexed by name. `ENV` sets a value in O(1) and
/// keeps the variable's place (Docker's order); rewriting the config's
/// whole `Env` list per `ENV`, as before, made 100,000 ENV lines take
/// minutes.
#[derive(Debug, Clone, Default)]
pub struct EnvList {
    pairs: Vec<(String, String)>,
    /// Where `set` writes: a name's first place (a base image may list a
    /// name twice; setting it changed the first, as before).
    first: HashMap<String, usize>,
    /// What a lookup finds: a name's last place (the later pair wins).
    last: HashMap<String, usize>,
}

impl EnvList {
    pub fn new(pairs: Vec<(String, String)>) -> EnvList {
        let mut first = HashMap::new();
        let mut last = HashMap::new();
        for (i, (k, _)) in pairs.iter().enumerate() {
            first.entry(k.clone()).or_insert(i);
            last.insert(k.clone(), i);
        }
        EnvList { pairs, first, last }
    }

    pub fn set(&mut self, name: &str, value: String) {
        match self.first.get(name) {
            Some(&i) => self.pairs[i].1 = value,
            None => {
                let i = self.pairs.len();
                self.first.insert(name.to_string(), i);
                self.last.insert(name.to_string(), i);
                self.pairs.push((name.to_string(), value));
            }
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.first.contains_key(name)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }
}

impl Env for EnvList {
    fn lookup(&self, name: &str) -> Option<&str> {
        let i = *self.last.get(name)?;
        Some(self.pairs[i].1.as_str())
    }
}

/// What an instruction's words are expanded with: the stage's ARGs, then
/// its ENV (ENV wins over an ARG of the same name), looked up by name
/// instead of copied into one list per word.
#[derive(Debug, Clone, Copy)]
pub struct StageVars<'a> {
    pub args: &'a Scope,
    pub env: &'a EnvList,
}

impl Env for StageVars<'_> {
    fn lookup(&self, name: &str) -> Option<&str> {
        self.env.lookup(name).or_else(|| self.args.lookup(name))
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
        assert_eq!(s.len(), 2);
        let order: Vec<_> = s.pairs().collect();
        assert_eq!(order, [("B", "2"), ("A", "3")]);
    }

    #[test]
    fn scope_keeps_order_through_compaction() {
        // Cycling through names leaves tombstones behind; compaction must
        // keep the order a plain retain-and-push list would have.
        let mut s = Scope::default();
        let mut model: Vec<(String, String)> = Vec::new();
        for i in 0..1000 {
            let name = format!("N{}", (i * 7) % 13);
            let value = i.to_string();
            s.set(&name, value.clone());
            model.retain(|(k, _)| *k != name);
            model.push((name, value));
        }
        let got: Vec<(String, String)> = s
            .pairs()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, model);
        assert_eq!(
            s.get("N3"),
            model
                .iter()
                .find(|(k, _)| k == "N3")
                .map(|(_, v)| v.as_str())
        );
        assert_eq!(s.lookup("nope"), None);
    }

    #[test]
    fn env_list_sets_in_place_and_env_wins_over_args() {
        // A base may list a name twice: ENV changes the first, the later wins.
        let pairs = [("A", "1"), ("B", "2"), ("A", "x")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut env = EnvList::new(pairs);
        env.set("A", "3".into());
        env.set("C", "4".into());
        let shown: Vec<String> = env
            .pairs()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(shown, ["A=3", "B=2", "A=x", "C=4"]);
        assert_eq!(env.lookup("A"), Some("x"));
        let mut args = Scope::default();
        args.set("B", "arg".into());
        args.set("D", "arg".into());
        let vars = StageVars {
            args: &args,
            env: &env,
        };
        assert_eq!(vars.lookup("B"), Some("2"));
        assert_eq!(vars.lookup("D"), Some("arg"));
        assert!(env.contains("C") && !env.contains("D"));
    }
}
