//! `--ulimit`: the spec's rlimits set on the container's first process
//! before it drops its capabilities (raising a hard limit needs
//! CAP_SYS_RESOURCE), so the command and its children start with them.

use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{PosixRlimit, PosixRlimitType};

/// Sets every rlimit; the first the kernel refuses is the error.
pub fn apply(rlimits: &[PosixRlimit]) -> Result<(), String> {
    for r in rlimits {
        let resource = resource(r.typ());
        setrlimit(resource, r.soft(), r.hard())
            .map_err(|e| format!("setting {:?} to {}:{}: {e}", r.typ(), r.soft(), r.hard()))?;
    }
    Ok(())
}

fn resource(typ: PosixRlimitType) -> Resource {
    use PosixRlimitType as T;
    match typ {
        T::RlimitCpu => Resource::RLIMIT_CPU,
        T::RlimitFsize => Resource::RLIMIT_FSIZE,
        T::RlimitData => Resource::RLIMIT_DATA,
        T::RlimitStack => Resource::RLIMIT_STACK,
        T::RlimitCore => Resource::RLIMIT_CORE,
        T::RlimitRss => Resource::RLIMIT_RSS,
        T::RlimitNproc => Resource::RLIMIT_NPROC,
        T::RlimitNofile => Resource::RLIMIT_NOFILE,
        T::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        T::RlimitAs => Resource::RLIMIT_AS,
        T::RlimitLocks => Resource::RLIMIT_LOCKS,
        T::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        T::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        T::RlimitNice => Resource::RLIMIT_NICE,
        T::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        T::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}
