//! The tap device slirp4netns attaches to, made beforehand and
//! persistent. slirp4netns makes a plain one, which the kernel unregisters
//! when its descriptor closes: slirp4netns's exit then waits out an RCU
//! barrier (15-40 ms here) and so does whoever waits for it. A persistent
//! device outlives the descriptor and goes with its namespace, which the
//! kernel tears down on a worker of its own once the container's last
//! process and slirp4netns are gone; slirp4netns's exit takes 0.3 ms.

use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};

use nix::sched::CloneFlags;

use crate::syscalls::{Real, Syscalls};

/// Makes `name` a persistent tap device (no packet information, as
/// slirp4netns opens it) in `pid`'s network namespace.
pub fn make_persistent(pid: u32, name: &str) -> io::Result<()> {
    let ns = File::open(format!("/proc/{pid}/ns/net"))?;
    // The namespace a device is made in is the one its opener stood in;
    // namespaces belong to threads, so the opener is a thread of its own.
    let tun = std::thread::scope(|s| s.spawn(|| open_tun(&Real, ns.as_fd())).join())
        .unwrap_or_else(|p| std::panic::resume_unwind(p))?;
    let mut req = request(name)?;
    // SAFETY: TUNSETIFF reads and writes the ifreq it is given, which
    // lives until the call returns; TUNSETPERSIST takes an integer.
    unsafe {
        if libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &mut req) < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::ioctl(tun.as_raw_fd(), libc::TUNSETPERSIST, 1) < 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Moves the calling thread into `ns` and opens the tun control device
/// there.
fn open_tun<S: Syscalls>(sys: &S, ns: BorrowedFd) -> io::Result<File> {
    sys.setns(ns, CloneFlags::CLONE_NEWNET)?;
    File::options()
        .read(true)
        .write(true)
        .open("/dev/net/tun")
        .map_err(explain_tun)
}

/// A rootless kiln opens the device as the user, who needs it mode 0666
/// (distributions' default; some container hosts make it 0600).
fn explain_tun(e: io::Error) -> io::Error {
    if e.kind() != io::ErrorKind::PermissionDenied {
        return e;
    }
    let why = "the private network needs it readable and writable by whoever runs kiln \
               (mode 0666, as distributions make it); otherwise use --network none or host";
    io::Error::new(e.kind(), format!("opening /dev/net/tun: {e}; {why}"))
}

fn request(name: &str) -> io::Result<libc::ifreq> {
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    if name.len() >= req.ifr_name.len() || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{name:?} is not a device name"),
        ));
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *dst = src as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TAP | libc::IFF_NO_PI) as libc::c_short;
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::{Call, Recording};

    #[test]
    fn names_longer_than_the_kernel_takes_are_refused() {
        assert!(request("tap0").is_ok());
        assert!(request(&"t".repeat(15)).is_ok());
        assert!(request(&"t".repeat(16)).is_err());
        assert!(request("ta\0p").is_err());
    }

    #[test]
    fn no_device_is_opened_outside_the_namespace() {
        // A failed setns leaves the thread in the host's namespace: opening
        // the tun device there would make the tap on the host.
        let sys = Recording::new().failing(0, libc::EPERM);
        let here = File::open("/proc/self/ns/net").unwrap();
        let err = open_tun(&sys, here.as_fd()).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EPERM));
        assert_eq!(sys.calls(), vec![Call::Setns(CloneFlags::CLONE_NEWNET)]);
    }

    #[test]
    fn a_persistent_tap_outlives_its_descriptor_in_its_namespace() {
        if !crate::testkit::privileged() {
            return;
        }
        let mut holder = std::process::Command::new("unshare")
            .args(["-n", "sleep", "30"])
            .spawn()
            .unwrap();
        let pid = holder.id();
        let ns = |pid: u32| std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while ns(pid) == ns(std::process::id()) && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let host_had = std::fs::read_to_string("/proc/net/dev")
            .unwrap()
            .contains("tap0:");
        make_persistent(pid, "tap0").unwrap();
        let links = std::process::Command::new("nsenter")
            .args(["-t", &pid.to_string(), "-n", "ip", "-o", "link"])
            .output()
            .unwrap();
        let _ = holder.kill();
        let _ = holder.wait();
        let text = String::from_utf8_lossy(&links.stdout);
        assert!(text.contains("tap0"), "{text}");
        let host = std::fs::read_to_string("/proc/net/dev").unwrap();
        assert_eq!(
            host.contains("tap0:"),
            host_had,
            "made in the host's namespace"
        );
    }
}
