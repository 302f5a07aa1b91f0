//! `kiln image inspect`: the JSON object `docker image inspect` prints, so
//! scripts that read `.Config.Cmd`, `.RootFS.Layers` or `.Id` keep working.

use serde_json::{json, Map, Value};

use crate::digest::Digest;
use crate::reference::Reference;

/// The parts of a stored image the inspect object shows.
pub struct InspectInput<'a> {
    pub image_id: &'a Digest,
    pub manifest_digest: &'a Digest,
    pub refs: &'a [Reference],
    /// The config JSON exactly as stored.
    pub config_bytes: &'a [u8],
    /// Unpacked size of all layers.
    pub size: u64,
}

/// Docker's `Config` always lists these keys, set or not.
fn default_container_config() -> Map<String, Value> {
    let v = json!({
        "Hostname": "", "Domainname": "", "User": "",
        "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
        "Tty": false, "OpenStdin": false, "StdinOnce": false,
        "Env": null, "Cmd": null, "Image": "", "Volumes": null,
        "WorkingDir": "", "Entrypoint": null, "OnBuild": null, "Labels": null
    });
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

pub fn inspect(input: &InspectInput<'_>) -> Value {
    let raw: Value = serde_json::from_slice(input.config_bytes).unwrap_or(Value::Null);
    let field = |k: &str| raw.get(k).cloned();
    let mut config = default_container_config();
    if let Some(Value::Object(image_config)) = field("config") {
        config.extend(image_config);
    }
    let repo_tags: Vec<String> = input
        .refs
        .iter()
        .filter(|r| r.tag().is_some())
        .map(Reference::familiar)
        .collect();
    let mut repo_digests: Vec<String> = input
        .refs
        .iter()
        .map(|r| format!("{}@{}", r.familiar_name(), input.manifest_digest))
        .collect();
    repo_digests.dedup();
    let comment = raw
        .get("history")
        .and_then(Value::as_array)
        .and_then(|h| h.last())
        .and_then(|h| h.get("comment"))
        .cloned()
        .unwrap_or(Value::String(String::new()));
    // Docker's builder-era fields: kiln builds record no container, so
    // they stay as an image made by BuildKit shows them.
    let container_config = match field("container_config") {
        Some(Value::Object(c)) => Value::Object(c),
        _ => Value::Object(default_container_config()),
    };
    json!({
        "Id": input.image_id.to_string(),
        "RepoTags": repo_tags,
        "RepoDigests": repo_digests,
        "Parent": "",
        "Comment": comment,
        "Created": field("created").unwrap_or(Value::String(String::new())),
        "Container": field("container").unwrap_or(Value::String(String::new())),
        "ContainerConfig": container_config,
        "DockerVersion": "",
        "Author": field("author").unwrap_or(Value::String(String::new())),
        "Config": config,
        "Architecture": field("architecture").unwrap_or(Value::String(String::new())),
        "Variant": field("variant"),
        "Os": field("os").unwrap_or(Value::String(String::new())),
        "Size": input.size,
        "VirtualSize": input.size,
        // Layers live in kiln's store, not in a graph driver's directories.
        "GraphDriver": { "Data": null, "Name": "overlay2" },
        "RootFS": {
            "Type": "layers",
            "Layers": raw.pointer("/rootfs/diff_ids").cloned().unwrap_or(json!([])),
        },
        "Metadata": { "LastTagTime": "0001-01-01T00:00:00Z" },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_docker_shape_with_image_settings() {
        let cfg = br#"{"architecture":"amd64","os":"linux","created":"2024-01-01T00:00:00Z","config":{"Cmd":["sh"]},"rootfs":{"type":"layers","diff_ids":["sha256:aa"]},"history":[{"comment":"Imported from -"}]}"#;
        let id = Digest::of_bytes(cfg);
        let manifest = Digest::of_bytes(b"m");
        let refs = [Reference::parse_normalized("busybox").unwrap()];
        let v = inspect(&InspectInput {
            image_id: &id,
            manifest_digest: &manifest,
            refs: &refs,
            config_bytes: cfg,
            size: 42,
        });
        assert_eq!(v["Id"], id.to_string());
        assert_eq!(v["RepoTags"], json!(["busybox:latest"]));
        assert_eq!(v["RepoDigests"], json!([format!("busybox@{manifest}")]));
        assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
        assert_eq!(v["Config"]["Tty"], json!(false));
        assert_eq!(v["RootFS"]["Layers"], json!(["sha256:aa"]));
        assert_eq!(v["Comment"], "Imported from -");
        assert_eq!(v["Size"], 42);
    }
}
