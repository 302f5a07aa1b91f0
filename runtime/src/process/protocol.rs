//! Messages between kiln and its init helper over one SOCK_SEQPACKET
//! socket (fd 3 in the helper): the config goes in, progress comes out,
//! and the container's pty master travels as an SCM_RIGHTS attachment.

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use nix::sys::socket::{recvmsg, sendmsg, ControlMessage, ControlMessageOwned, MsgFlags};
use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};

use super::exec::ExecError;
use super::rootfs::{EtcFiles, Rootfs};

/// The helper's end of the socket.
pub const HELPER_FD: RawFd = 3;

/// Largest message: a spec with a large seccomp profile fits easily.
const MAX_MESSAGE: usize = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("talking to the init helper: {0}")]
    Io(#[from] nix::Error),
    #[error("init helper message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("init helper message larger than {MAX_MESSAGE} bytes")]
    TooLarge,
}

/// Everything the helper needs, sent once at start.
#[derive(Debug, Serialize, Deserialize)]
pub struct HelperConfig {
    /// Sent without its seccomp profile: the profile travels compiled, in
    /// `seccomp`, and Docker's is most of the spec's text (the helper's
    /// start-up is on every container's critical path).
    #[serde(serialize_with = "without_seccomp")]
    pub spec: Spec,
    pub rootfs: Rootfs,
    pub etc: EtcFiles,
    /// Host directory for the helper's private staging tmpfs.
    pub staging: PathBuf,
    /// Allocate a pty inside the container and send its master back.
    pub pty: bool,
    /// The spec's seccomp profile, compiled by kiln while the helper starts.
    pub seccomp: Vec<Filter>,
}

fn without_seccomp<S: serde::Serializer>(spec: &Spec, out: S) -> Result<S::Ok, S::Error> {
    let Some(linux) = spec.linux().as_ref().filter(|l| l.seccomp().is_some()) else {
        return spec.serialize(out);
    };
    let mut linux = linux.clone();
    linux.set_seccomp(None);
    let mut slim = spec.clone();
    slim.set_linux(Some(linux));
    slim.serialize(out)
}

/// One compiled BPF program: (code, jt, jf, k) per instruction.
pub type Filter = Vec<(u16, u8, u8, u32)>;

/// How the container's first process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    Config(Box<HelperConfig>),
    /// The container's pty master is attached to this message.
    Pty,
    /// Setup is done; the command is about to be executed.
    Started,
    /// The container waits for [`Message::Go`] before its command runs, so
    /// the caller can wire its network namespace first.
    Gate,
    /// Answer to [`Message::Gate`].
    Go,
    /// Host paths of the empty /etc mount points the runtime created in the
    /// rootfs; removed when the container ends (as BuildKit removes its
    /// mount stubs after a step), so they never reach a layer.
    Stubs(Vec<PathBuf>),
    /// The command could not start (not found, not executable).
    Exec(ExecError),
    /// Setup failed before the command could start.
    Setup(String),
    Exited {
        status: ExitStatus,
        oom_killed: bool,
    },
}

/// Sends `msg`, with `fd` attached when given.
pub fn send(sock: BorrowedFd, msg: &Message, fd: Option<RawFd>) -> Result<(), Error> {
    let bytes = serde_json::to_vec(msg)?;
    if bytes.len() > MAX_MESSAGE {
        return Err(Error::TooLarge);
    }
    let iov = [IoSlice::new(&bytes)];
    let fds: Vec<RawFd> = fd.into_iter().collect();
    let cmsg: Vec<ControlMessage> = if fds.is_empty() {
        Vec::new()
    } else {
        vec![ControlMessage::ScmRights(&fds)]
    };
    sendmsg::<()>(sock.as_raw_fd(), &iov, &cmsg, MsgFlags::MSG_NOSIGNAL, None)?;
    Ok(())
}

/// Receives one message; `None` when the other side has closed.
pub fn recv(sock: BorrowedFd) -> Result<Option<(Message, Option<OwnedFd>)>, Error> {
    // Peek at the packet's length first: a zeroed 1 MiB buffer per message
    // cost ~250 page faults in each process on every container start.
    let wanted = nix::sys::socket::recv(
        sock.as_raw_fd(),
        &mut [],
        MsgFlags::MSG_PEEK | MsgFlags::MSG_TRUNC,
    )?;
    if wanted > MAX_MESSAGE {
        return Err(Error::TooLarge);
    }
    let mut buf = vec![0u8; wanted.max(1)];
    let mut cmsg_space = nix::cmsg_space!([RawFd; 1]);
    let (len, fd, truncated) = {
        let mut iov = [IoSliceMut::new(&mut buf)];
        let msg = recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg_space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )?;
        let mut fd = None;
        for c in msg.cmsgs()? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                for raw in fds {
                    // SAFETY: the kernel just installed this descriptor for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    fd.get_or_insert(owned);
                }
            }
        }
        (msg.bytes, fd, msg.flags.contains(MsgFlags::MSG_TRUNC))
    };
    if truncated {
        return Err(Error::TooLarge);
    }
    if len == 0 {
        return Ok(None);
    }
    Ok(Some((serde_json::from_slice(&buf[..len])?, fd)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Config;

    #[test]
    fn the_profile_travels_compiled_only() {
        let spec = Config::default().to_spec("c").unwrap();
        let config = HelperConfig {
            seccomp: crate::process::seccomp::compile_spec(&spec).unwrap(),
            spec,
            rootfs: Rootfs::Dir("/r".into()),
            etc: EtcFiles::default(),
            staging: "/s".into(),
            pty: false,
        };
        let text = serde_json::to_string(&Message::Config(Box::new(config))).unwrap();
        let Message::Config(back) = serde_json::from_str(&text).unwrap() else {
            panic!("not a config")
        };
        assert!(back.spec.linux().as_ref().unwrap().seccomp().is_none());
        assert!(!back.seccomp.is_empty());
        assert!(back.spec.linux().as_ref().unwrap().resources().is_some());
    }
}
