//! Helpers shared by the crate's unit tests.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

/// True when a test may use root-only features. Without root it fails
/// loudly, unless the person running it opted out with
/// KILN_SKIP_PRIVILEGED=1.
pub fn privileged() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert_eq!(
        std::env::var("KILN_SKIP_PRIVILEGED").as_deref(),
        Ok("1"),
        "needs root; set KILN_SKIP_PRIVILEGED=1 to skip"
    );
    eprintln!("skipped: needs root");
    false
}

/// One OCI device cgroup rule; `None` numbers are `*`.
pub fn device_rule(
    allow: bool,
    typ: LinuxDeviceType,
    major: Option<i64>,
    minor: Option<i64>,
    access: &str,
) -> LinuxDeviceCgroup {
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(allow)
        .typ(typ)
        .access(access);
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().expect("a device rule")
}
