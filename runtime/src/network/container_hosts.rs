//! A running container's own /etc/hosts, edited in place when it is
//! connected to a user network while it runs (or taken off one), as Docker
//! adds the network's containers to it. The file is reached through
//! `/proc/PID/root` with `RESOLVE_IN_ROOT`, so a symlink the container
//! planted resolves inside its own root, never the host's.

use std::fs::File;
use std::io::{self, Read, Seek, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};

/// Appends `lines` to the hosts file of the container whose first
/// process is `pid`, after dropping any lines on `subnet_prefix`
/// (`10.89.N.`) it already had.
pub fn add(pid: u32, subnet_prefix: &str, lines: &str) -> io::Result<()> {
    edit(pid, |text| without(text, subnet_prefix) + lines)
}

/// Drops the lines naming addresses on `subnet_prefix`.
pub fn remove(pid: u32, subnet_prefix: &str) -> io::Result<()> {
    edit(pid, |text| without(text, subnet_prefix))
}

fn without(text: &str, subnet_prefix: &str) -> String {
    text.lines()
        .filter(|l| !l.starts_with(subnet_prefix))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// Rewritten in place, not replaced: the container holds the file as a
/// bind mount, which would keep showing a replaced file's old inode.
fn edit(pid: u32, change: impl FnOnce(&str) -> String) -> io::Result<()> {
    let root: OwnedFd = File::open(format!("/proc/{pid}/root"))?.into();
    let how = OpenHow::new()
        .flags(OFlag::O_RDWR | OFlag::O_CLOEXEC | OFlag::O_NOFOLLOW)
        .resolve(ResolveFlag::RESOLVE_IN_ROOT | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    let fd = openat2(root.as_fd(), Path::new("/etc/hosts"), how)?;
    let mut file = File::from(fd);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other("/etc/hosts is not a regular file"));
    }
    let mut text = String::new();
    file.read_to_string(&mut text)?;
    let new = change(&text);
    file.set_len(0)?;
    file.rewind()?;
    file.write_all(new.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_networks_lines_go() {
        let text = "127.0.0.1\tlocalhost\n10.89.3.2\tweb abc\n10.89.30.2\tother\n";
        assert_eq!(
            without(text, "10.89.3."),
            "127.0.0.1\tlocalhost\n10.89.30.2\tother\n"
        );
    }
}
