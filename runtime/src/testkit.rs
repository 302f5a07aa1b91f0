//! Helpers shared by the crate's unit tests.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType};

use crate::container::restart::RestartPolicy;
use crate::container::state::{now, Record};
use crate::network::NetworkMode;
use crate::spec::Config;
use crate::Rootfs;

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

/// A container record as `create` writes it, with Docker's defaults.
pub fn record(id: &str, name: &str) -> Record {
    Record {
        id: id.into(),
        name: name.into(),
        created: now(),
        image: "busybox".into(),
        image_id: String::new(),
        spec: Config::default().to_spec(id).unwrap(),
        rootfs: Rootfs::Dir("/x".into()),
        tty: false,
        open_stdin: false,
        restart: RestartPolicy::default(),
        auto_remove: false,
        stop_signal: "SIGTERM".into(),
        stop_timeout: None,
        network: NetworkMode::None,
        ports: Vec::new(),
        mounts: Vec::new(),
        config: serde_json::Value::Null,
    }
}
