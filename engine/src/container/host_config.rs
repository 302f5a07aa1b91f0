//! The `HostConfig` fields of `inspect` that the runtime spec keeps:
//! resource limits (which `update` changes), `/dev/shm`'s size, ulimits,
//! sysctls, resolver settings and the log configuration; and the two choices the spec keeps only
//! as numbers or merged lines (`--add-host`, `--group-add`), noted as
//! given so `inspect` can show them.

use oci_spec::runtime::Spec;
use serde_json::{json, Map, Value};

use super::options::CreateOptions;
use kiln_runtime::container::etc;
use kiln_runtime::container::logs::LogConfig;

/// Notes of the values as given, read back by [`fields`] only.
const EXTRA_HOSTS_ANNOTATION: &str = "org.kiln.extra-hosts";
const GROUP_ADD_ANNOTATION: &str = "org.kiln.group-add";

/// Docker's default size of /dev/shm.
const DEFAULT_SHM: i64 = 64 << 20;

/// Notes `--add-host` and `--group-add` as given.
pub(super) fn note(spec: &mut Spec, opts: &CreateOptions) {
    let mut notes = spec.annotations().clone().unwrap_or_default();
    for (key, values) in [
        (EXTRA_HOSTS_ANNOTATION, &opts.add_hosts),
        (GROUP_ADD_ANNOTATION, &opts.group_add),
    ] {
        if !values.is_empty() {
            notes.insert(key.to_string(), values.join("\n"));
        }
    }
    if !notes.is_empty() {
        spec.set_annotations(Some(notes));
    }
}

/// The fields, under Docker's names, to merge into `HostConfig`.
pub(super) fn fields(spec: &Spec) -> Map<String, Value> {
    let mut all = match super::update::host_config_limits(spec) {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let lines = |key: &str| -> Vec<String> {
        let text = spec.annotations().as_ref().and_then(|a| a.get(key));
        text.map(|t| t.lines().map(str::to_string).collect())
            .unwrap_or_default()
    };
    let or_null = |v: Vec<String>| if v.is_empty() { Value::Null } else { json!(v) };
    all.insert("Dns".into(), json!(lines(etc::DNS_ANNOTATION)));
    all.insert("DnsSearch".into(), json!(lines(etc::DNS_SEARCH_ANNOTATION)));
    all.insert(
        "DnsOptions".into(),
        json!(lines(etc::DNS_OPTIONS_ANNOTATION)),
    );
    all.insert("ExtraHosts".into(), or_null(lines(EXTRA_HOSTS_ANNOTATION)));
    all.insert("GroupAdd".into(), or_null(lines(GROUP_ADD_ANNOTATION)));
    all.insert("LogConfig".into(), json!(LogConfig::of(spec)));
    all.insert("ShmSize".into(), json!(shm_size(spec)));
    all.insert("Ulimits".into(), ulimits(spec));
    if let Some(sysctls) = spec.linux().as_ref().and_then(|l| l.sysctl().as_ref()) {
        all.insert("Sysctls".into(), json!(sysctls));
    }
    all
}

/// The `size=` of the /dev/shm mount, in bytes.
fn shm_size(spec: &Spec) -> i64 {
    let shm = spec
        .mounts()
        .iter()
        .flatten()
        .find(|m| m.destination().as_os_str() == "/dev/shm");
    let size = shm
        .and_then(|m| m.options().as_ref())
        .into_iter()
        .flatten()
        .find_map(|o| o.strip_prefix("size="));
    size.and_then(kiln_runtime::spec::parse_bytes)
        .unwrap_or(DEFAULT_SHM)
}

/// `[{"Name": "nofile", "Soft": 1024, "Hard": 2048}]`, or null for none.
fn ulimits(spec: &Spec) -> Value {
    let rlimits = spec.process().as_ref().and_then(|p| p.rlimits().clone());
    let list: Vec<Value> = rlimits
        .into_iter()
        .flatten()
        .map(|r| {
            // RLIMIT_NOFILE -> nofile, as Docker names them.
            let typ = serde_json::to_value(r.typ()).unwrap_or_default();
            let name = typ.as_str().unwrap_or_default();
            let name = name.trim_start_matches("RLIMIT_").to_ascii_lowercase();
            let signed = |n: u64| i64::try_from(n).unwrap_or(-1);
            json!({"Name": name, "Soft": signed(r.soft()), "Hard": signed(r.hard())})
        })
        .collect();
    if list.is_empty() {
        Value::Null
    } else {
        Value::Array(list)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_of(opts: &CreateOptions) -> Spec {
        let config = kiln_runtime::spec::Config {
            shm_size: Some(128 << 20),
            rlimits: super::super::ulimits::rlimits(&opts.ulimits).unwrap(),
            ..kiln_runtime::spec::Config::default()
        };
        let mut spec = config.to_spec("0123456789abcdef").unwrap();
        super::super::dns::annotate(&mut spec, opts, "").unwrap();
        note(&mut spec, opts);
        spec
    }

    #[test]
    fn inspect_shows_the_choices_as_given() {
        let opts = CreateOptions {
            ulimits: vec!["nofile=1024:2048".into()],
            dns: vec!["1.1.1.1".into()],
            add_hosts: vec!["db:10.0.0.5".into()],
            group_add: vec!["wheel".into()],
            ..CreateOptions::default()
        };
        let f = fields(&spec_of(&opts));
        assert_eq!(f["ShmSize"], 128 << 20);
        assert_eq!(
            f["Ulimits"],
            json!([{"Name": "nofile", "Soft": 1024, "Hard": 2048}])
        );
        assert_eq!(f["Dns"], json!(["1.1.1.1"]));
        assert_eq!(f["DnsSearch"], json!([]));
        assert_eq!(f["ExtraHosts"], json!(["db:10.0.0.5"]));
        assert_eq!(f["GroupAdd"], json!(["wheel"]));
        assert_eq!(f["Memory"], 0);
        assert!(f.get("Sysctls").is_none());
    }

    #[test]
    fn defaults_read_as_dockers() {
        let spec = kiln_runtime::spec::Config::default()
            .to_spec("0123456789ab")
            .unwrap();
        let f = fields(&spec);
        assert_eq!(f["ShmSize"], 64 << 20);
        assert!(f["Ulimits"].is_null() && f["ExtraHosts"].is_null());
        assert_eq!(f["LogConfig"], json!({"Type": "json-file", "Config": {}}));
    }
}
