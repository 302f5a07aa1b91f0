//! `--device HOST[:CONTAINER][:PERMS]`: a host character or block device
//! made in the container's /dev and allowed by its device cgroup with
//! PERMS (`rwm` by default), as Docker maps it.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use kiln_runtime::spec::DeviceMapping;

use crate::Error;

pub(super) fn devices(specs: &[String]) -> Result<Vec<DeviceMapping>, Error> {
    specs.iter().map(|s| device(s)).collect()
}

fn bad(spec: &str, reason: impl Into<String>) -> Error {
    Error::BadFlag {
        flag: "--device",
        value: spec.to_string(),
        reason: reason.into(),
    }
}

fn device(spec: &str) -> Result<DeviceMapping, Error> {
    let (host, container, access) = split(spec)?;
    let meta = std::fs::metadata(host).map_err(|e| {
        bad(
            spec,
            format!("error gathering device information while adding custom device {host:?}: {e}"),
        )
    })?;
    let kind = meta.file_type();
    if !kind.is_char_device() && !kind.is_block_device() {
        return Err(bad(spec, format!("{host} is not a device node")));
    }
    let rdev = meta.rdev();
    Ok(DeviceMapping {
        path: PathBuf::from(container),
        major: i64::from(nix::sys::stat::major(rdev) as u32),
        minor: i64::from(nix::sys::stat::minor(rdev) as u32),
        file_mode: meta.mode() & 0o7777,
        access: access.to_string(),
        block: kind.is_block_device(),
    })
}

/// HOST, the container's path (HOST's own by default, under /dev) and the
/// cgroup access (`rwm` by default).
fn split(spec: &str) -> Result<(&str, &str, &str), Error> {
    let parts: Vec<&str> = spec.split(':').collect();
    let is_access = |p: &str| !p.is_empty() && p.chars().all(|c| "rwm".contains(c));
    let (host, container, access) = match parts.as_slice() {
        [h] => (*h, *h, "rwm"),
        [h, a] if is_access(a) => (*h, *h, *a),
        [h, c] => (*h, *c, "rwm"),
        [h, c, a] => (*h, *c, *a),
        _ => return Err(bad(spec, "expected HOST[:CONTAINER][:PERMS]")),
    };
    if !is_access(access) {
        return Err(bad(spec, format!("invalid device mode: {access}")));
    }
    if !host.starts_with('/') {
        return Err(bad(spec, "the host path must be absolute"));
    }
    let path = Path::new(container);
    let under_dev = path.strip_prefix("/dev").is_ok_and(|rel| {
        !rel.as_os_str().is_empty() && rel.components().all(|c| matches!(c, Component::Normal(_)))
    });
    if !under_dev {
        return Err(bad(spec, "kiln makes devices under /dev only"));
    }
    Ok((host, container, access))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_forms_and_defaults() {
        let d = device("/dev/zero").unwrap();
        assert_eq!(
            (d.path.to_str(), d.major, d.minor, d.access.as_str()),
            (Some("/dev/zero"), 1, 5, "rwm")
        );
        let d = device("/dev/zero:r").unwrap();
        assert_eq!(
            (d.path.to_str(), d.access.as_str()),
            (Some("/dev/zero"), "r")
        );
        let d = device("/dev/zero:/dev/sub/z:rw").unwrap();
        assert_eq!(
            (d.path.to_str(), d.access.as_str()),
            (Some("/dev/sub/z"), "rw")
        );
    }

    #[test]
    fn refusals_name_the_flag() {
        for spec in [
            "/no/such/device",
            "/etc/passwd",
            "dev/zero",
            "/dev/zero:/etc/zero",
            "/dev/zero:/dev/../etc/x",
            "/dev/zero:/dev/z:rwx",
            "/dev/zero:/dev/z:r:extra",
        ] {
            let err = device(spec).unwrap_err().to_string();
            assert!(err.contains("--device"), "{spec}: {err}");
        }
    }
}
