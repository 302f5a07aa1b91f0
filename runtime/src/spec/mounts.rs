//! The container's view of the filesystem in the spec: Docker's default
//! mounts (`/proc`, `/dev` and its parts, `/sys`, the cgroups), the
//! caller's binds and tmpfs mounts, and the paths Docker masks or makes
//! read-only.

use oci_spec::runtime::Mount;

use super::{Config, Init, INIT_PATH};

fn mount(dest: &str, typ: &str, source: &str, options: &[&str]) -> Mount {
    let mut m = Mount::default();
    m.set_destination(dest.into());
    m.set_typ(Some(typ.into()));
    m.set_source(Some(source.into()));
    m.set_options(Some(options.iter().map(|o| o.to_string()).collect()));
    m
}

impl Config {
    pub(super) fn mounts(&self, process_sandbox: bool) -> Vec<Mount> {
        let sys_mode = if self.privileged { "rw" } else { "ro" };
        let shm_size = match self.shm_size {
            Some(bytes) if bytes > 0 => format!("size={bytes}"),
            _ => "size=65536k".to_string(),
        };
        let proc_options = ["nosuid", "noexec", "nodev"];
        let proc = match process_sandbox {
            true => mount("/proc", "proc", "proc", &proc_options),
            // Without a PID namespace of its own, the container sees the
            // one it shares through kiln's /proc, with its covers.
            false => mount(
                "/proc",
                "bind",
                "/proc",
                &[&["rbind"], &proc_options[..]].concat(),
            ),
        };
        let mut mounts = vec![
            proc,
            mount(
                "/dev",
                "tmpfs",
                "tmpfs",
                &["nosuid", "strictatime", "mode=755", "size=65536k"],
            ),
            mount(
                "/dev/pts",
                "devpts",
                "devpts",
                &[
                    "nosuid",
                    "noexec",
                    "newinstance",
                    "ptmxmode=0666",
                    "mode=0620",
                    "gid=5",
                ],
            ),
            mount(
                "/dev/shm",
                "tmpfs",
                "shm",
                &["nosuid", "noexec", "nodev", "mode=1777", &shm_size],
            ),
            mount(
                "/dev/mqueue",
                "mqueue",
                "mqueue",
                &["nosuid", "noexec", "nodev"],
            ),
            mount(
                "/sys",
                "sysfs",
                "sysfs",
                &["nosuid", "noexec", "nodev", sys_mode],
            ),
            // The container's own cgroups, read-only unless privileged
            // (moby clears `ro` on this mount for --privileged).
            mount(
                "/sys/fs/cgroup",
                "cgroup",
                "cgroup",
                &["nosuid", "noexec", "nodev", "relatime", sys_mode],
            ),
        ];
        for b in &self.binds {
            let mode = if b.read_only { "ro" } else { "rw" };
            let source = b.source.to_string_lossy();
            mounts.push(mount(&b.destination, "bind", &source, &["rbind", mode]));
        }
        for t in &self.tmpfs {
            let (dest, extra) = t.split_once(':').unwrap_or((t.as_str(), ""));
            let mut options = vec!["nosuid", "nodev", "noexec"];
            options.extend(extra.split(',').filter(|o| !o.is_empty()));
            mounts.push(mount(dest, "tmpfs", "tmpfs", &options));
        }
        if let Init::Binary(path) = &self.init {
            mounts.push(mount(
                INIT_PATH,
                "bind",
                &path.to_string_lossy(),
                &["bind", "ro"],
            ));
        }
        mounts
    }
}

/// Docker's masked paths (moby `oci/defaults.go`).
pub(super) fn masked_paths() -> Vec<String> {
    [
        "/proc/asound",
        "/proc/acpi",
        "/proc/interrupts",
        "/proc/kcore",
        "/proc/keys",
        "/proc/latency_stats",
        "/proc/timer_list",
        "/proc/timer_stats",
        "/proc/sched_debug",
        "/proc/scsi",
        "/sys/firmware",
        "/sys/devices/virtual/powercap",
    ]
    .iter()
    .map(|p| p.to_string())
    .collect()
}

/// Docker's read-only paths.
pub(super) const READONLY_PATHS: [&str; 5] = [
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];
