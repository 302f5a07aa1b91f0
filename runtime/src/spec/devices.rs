//! Devices in the spec: the device cgroup's allow-list (Docker's default
//! set, everything with `--privileged`, and each `--device` with its own
//! access) and the nodes `--device` asks the runtime to make.

use std::path::PathBuf;

use oci_spec::runtime::{
    LinuxDevice, LinuxDeviceBuilder, LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType,
};

use super::{build_err, Error};

/// One `--device HOST[:CONTAINER][:PERMS]`, its numbers read from the
/// host's node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceMapping {
    /// Where the node is made, under `/dev`.
    pub path: PathBuf,
    pub major: i64,
    pub minor: i64,
    pub file_mode: u32,
    /// The device cgroup's access: some of `rwm`.
    pub access: String,
    /// A block device (`b` in the cgroup rule); a character one otherwise.
    pub block: bool,
}

impl DeviceMapping {
    fn typ(&self) -> LinuxDeviceType {
        if self.block {
            LinuxDeviceType::B
        } else {
            LinuxDeviceType::C
        }
    }
}

/// One device cgroup rule; `None` leaves a field as a wildcard.
fn rule(
    allow: bool,
    typ: Option<LinuxDeviceType>,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> Result<LinuxDeviceCgroup, Error> {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .access(access);
    if let Some(t) = typ {
        b = b.typ(t);
    }
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().map_err(build_err)
}

/// The device cgroup allow-list. Docker's spec denies every device and
/// runc then allows its default set (libcontainer/specconv
/// `AllowedDevices`): mknod of any device, the standard character
/// devices, ptys and /dev/net/tun. Written out here so that kiln's own
/// runtime, runc and crun apply the same list. `--privileged` allows all;
/// each `--device` adds its own rule.
pub(super) fn cgroup_rules(
    privileged: bool,
    devices: &[DeviceMapping],
) -> Result<Vec<LinuxDeviceCgroup>, Error> {
    let mut rules = if privileged {
        vec![rule(true, None, None, None, "rwm")?]
    } else {
        default_rules()?
    };
    for d in devices {
        rules.push(rule(
            true,
            Some(d.typ()),
            Some(d.major),
            Some(d.minor),
            &d.access,
        )?);
    }
    Ok(rules)
}

fn default_rules() -> Result<Vec<LinuxDeviceCgroup>, Error> {
    use LinuxDeviceType::{B, C};
    let mut rules = vec![
        rule(false, None, None, None, "rwm")?,
        rule(true, Some(C), None, None, "m")?,
        rule(true, Some(B), None, None, "m")?,
    ];
    let allowed: [(i64, Option<i64>); 9] = [
        (1, Some(3)),    // null
        (1, Some(8)),    // random
        (1, Some(7)),    // full
        (5, Some(0)),    // tty
        (1, Some(5)),    // zero
        (1, Some(9)),    // urandom
        (136, None),     // /dev/pts/*
        (5, Some(2)),    // ptmx
        (10, Some(200)), // tun
    ];
    for (major, minor) in allowed {
        rules.push(rule(true, Some(C), Some(major), minor, "rwm")?);
    }
    Ok(rules)
}

/// The nodes the runtime makes in the container's /dev for `--device`.
pub(super) fn linux_devices(devices: &[DeviceMapping]) -> Result<Vec<LinuxDevice>, Error> {
    devices
        .iter()
        .map(|d| {
            LinuxDeviceBuilder::default()
                .path(d.path.clone())
                .typ(d.typ())
                .major(d.major)
                .minor(d.minor)
                .file_mode(d.file_mode)
                .build()
                .map_err(build_err)
        })
        .collect()
}
