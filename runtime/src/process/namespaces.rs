//! The namespaces a spec asks for, and bringing up `lo` in a new network
//! namespace (`--network none|private` both have a loopback that is up).

use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("joining an existing {0:?} namespace by path is not supported")]
    JoinByPath(LinuxNamespaceType),
    #[error("bringing up lo: {0}")]
    Loopback(std::io::Error),
}

/// The unshare flags for every namespace in the spec that has no path.
pub fn clone_flags(spec: &Spec) -> Result<CloneFlags, Error> {
    let mut flags = CloneFlags::empty();
    let list = spec.linux().as_ref().and_then(|l| l.namespaces().clone());
    for ns in list.iter().flatten() {
        if ns.path().is_some() {
            return Err(Error::JoinByPath(ns.typ()));
        }
        flags |= match ns.typ() {
            LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
            LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
            LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
            LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
            LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
            LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
            LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
            LinuxNamespaceType::Time => CloneFlags::empty(),
        };
    }
    Ok(flags)
}

/// Sets IFF_UP on `lo` of the calling process's network namespace.
pub fn loopback_up() -> Result<(), Error> {
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(Error::Loopback(std::io::Error::last_os_error()));
    }
    // SAFETY: ifreq is plain data; the name fits its 16 bytes.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    let result = unsafe {
        if libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req) < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            if libc::ioctl(fd, libc::SIOCSIFFLAGS, &req) < 0 {
                Err(std::io::Error::last_os_error())
            } else {
                Ok(())
            }
        }
    };
    unsafe { libc::close(fd) };
    result.map_err(Error::Loopback)
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder, SpecBuilder};

    #[test]
    fn flags_follow_the_spec() {
        let ns = |t| LinuxNamespaceBuilder::default().typ(t).build().unwrap();
        let spec = SpecBuilder::default()
            .linux(
                LinuxBuilder::default()
                    .namespaces(vec![
                        ns(LinuxNamespaceType::Mount),
                        ns(LinuxNamespaceType::Pid),
                    ])
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert_eq!(
            clone_flags(&spec).unwrap(),
            CloneFlags::CLONE_NEWNS | CloneFlags::CLONE_NEWPID
        );
    }
}
