//! `--mount type=bind|volume|tmpfs,…`: Docker's long form of `-v` and
//! `--tmpfs`, turned into theirs. Unlike `-v`, a bind's source must exist
//! (`-v` makes a missing one; `--mount` refuses, as Docker does).

use std::path::Path;

use crate::Error;

/// `volumes` and `tmpfs` with each `--mount` added in their own syntax.
pub fn with_mount_flags(
    volumes: &[String],
    tmpfs: &[String],
    mounts: &[String],
) -> Result<(Vec<String>, Vec<String>), Error> {
    let (mut volumes, mut tmpfs) = (volumes.to_vec(), tmpfs.to_vec());
    for spec in mounts {
        match parse(spec)? {
            Mount::Volume(v) => volumes.push(v),
            Mount::Tmpfs(t) => tmpfs.push(t),
        }
    }
    Ok((volumes, tmpfs))
}

enum Mount {
    Volume(String),
    Tmpfs(String),
}

fn bad(spec: &str, reason: impl Into<String>) -> Error {
    Error::BadFlag {
        flag: "--mount",
        value: spec.to_string(),
        reason: reason.into(),
    }
}

fn parse(spec: &str) -> Result<Mount, Error> {
    let mut kind = "volume";
    let (mut source, mut target, mut read_only) = (None, None, false);
    let mut tmpfs_opts = Vec::new();
    for field in spec.split(',') {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.trim().to_ascii_lowercase(), Some(v.trim())),
            None => (field.trim().to_ascii_lowercase(), None),
        };
        match (key.as_str(), value) {
            ("type", Some(v)) => kind = v,
            ("source" | "src", Some(v)) => source = Some(v),
            ("target" | "destination" | "dst", Some(v)) => target = Some(v),
            ("readonly" | "ro", None) => read_only = true,
            ("readonly" | "ro", Some(v)) => read_only = switch(spec, v)?,
            ("tmpfs-size", Some(v)) => tmpfs_opts.push(format!("size={v}")),
            ("tmpfs-mode", Some(v)) => tmpfs_opts.push(format!("mode={v}")),
            ("bind-propagation", Some("rprivate")) | ("volume-nocopy", _) => {}
            _ => return Err(bad(spec, format!("unexpected key '{key}' in '{field}'"))),
        }
    }
    let target = target.ok_or_else(|| bad(spec, "target is required"))?;
    if !target.starts_with('/') {
        return Err(bad(spec, format!("mount path must be absolute: {target}")));
    }
    let ro = if read_only { ":ro" } else { "" };
    match kind {
        "bind" => {
            let source = source.ok_or_else(|| bad(spec, "source is required for a bind"))?;
            if !source.starts_with('/') {
                return Err(bad(spec, format!("bind source must be absolute: {source}")));
            }
            if !Path::new(source).exists() {
                return Err(bad(
                    spec,
                    format!("bind source path does not exist: {source}"),
                ));
            }
            Ok(Mount::Volume(format!("{source}:{target}{ro}")))
        }
        "volume" => match source {
            Some(s) if s.starts_with('/') => Err(bad(
                spec,
                format!("a volume's source is a name, not a path: {s}"),
            )),
            Some(s) => Ok(Mount::Volume(format!("{s}:{target}{ro}"))),
            None if read_only => Err(bad(spec, "an anonymous volume cannot be read-only")),
            None => Ok(Mount::Volume(target.to_string())),
        },
        "tmpfs" if source.is_some() => Err(bad(spec, "a tmpfs has no source")),
        "tmpfs" => {
            if read_only {
                tmpfs_opts.push("ro".into());
            }
            let opts = if tmpfs_opts.is_empty() {
                String::new()
            } else {
                format!(":{}", tmpfs_opts.join(","))
            };
            Ok(Mount::Tmpfs(format!("{target}{opts}")))
        }
        other => Err(bad(
            spec,
            format!("mount type {other:?} is not supported (bind, volume, tmpfs)"),
        )),
    }
}

fn switch(spec: &str, v: &str) -> Result<bool, Error> {
    match v.to_ascii_lowercase().as_str() {
        "1" | "true" => Ok(true),
        "0" | "false" => Ok(false),
        _ => Err(bad(spec, format!("invalid value for readonly: {v}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(spec: &str) -> (Vec<String>, Vec<String>) {
        with_mount_flags(&[], &[], &[spec.to_string()]).unwrap()
    }

    #[test]
    fn each_type_becomes_the_short_form() {
        assert_eq!(
            one("type=bind,source=/tmp,target=/t,readonly").0,
            ["/tmp:/t:ro"]
        );
        assert_eq!(one("type=bind,src=/tmp,dst=/t,ro=false").0, ["/tmp:/t"]);
        assert_eq!(one("type=volume,source=data,target=/d").0, ["data:/d"]);
        assert_eq!(one("target=/anon").0, ["/anon"]);
        assert_eq!(
            one("type=tmpfs,target=/t,tmpfs-size=1m,tmpfs-mode=1770").1,
            ["/t:size=1m,mode=1770"]
        );
        assert_eq!(one("type=tmpfs,dst=/t").1, ["/t"]);
    }

    #[test]
    fn docker_refusals() {
        for spec in [
            "type=bind,source=/no/such/dir/here,target=/t",
            "type=bind,source=rel,target=/t",
            "type=bind,target=/t",
            "type=volume,source=/abs,target=/t",
            "type=volume,source=v",
            "type=volume,source=v,target=rel",
            "type=tmpfs,source=x,target=/t",
            "type=npipe,target=/t",
            "type=bind,source=/tmp,target=/t,bogus=1",
            "type=bind,source=/tmp,target=/t,readonly=maybe",
        ] {
            let err = with_mount_flags(&[], &[], &[spec.to_string()]).unwrap_err();
            assert!(err.to_string().contains("--mount"), "{spec}: {err}");
        }
    }
}
