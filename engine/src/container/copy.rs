//! Copying between a container and the host (`cp`), in any state, as
//! Docker allows. A running container's root shows its volumes; a stopped
//! one's files are its layers under its upper directory (mounted detached,
//! seen by no other process), and under a volume's destination, that
//! volume's.

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use kiln_runtime::container::copy::{Entry, Found};
use kiln_runtime::container::state::{Container, Status};
use kiln_runtime::container::{copy, filesystem};
use nix::sys::stat::FileStat;
use tar::EntryType;

use crate::{Engine, Error};

impl Engine {
    /// Copies `inside` (a path in the container) to `host`: into it when
    /// it is a directory, else as it.
    pub fn copy_out(&self, key: &str, inside: &str, host: &Path) -> Result<(), Error> {
        let c = self.container(key)?;
        let (root, inside) = open(&c, inside, false)?;
        Ok(copy::copy_out(root.as_fd(), &inside, host)?)
    }

    /// Copies the host path `host` to `inside`: into it when it is a
    /// directory in the container, else as it.
    pub fn copy_in(&self, key: &str, host: &Path, inside: &str) -> Result<(), Error> {
        let c = self.container(key)?;
        let (root, inside) = open(&c, inside, true)?;
        Ok(copy::copy_in(root.as_fd(), host, &inside)?)
    }
}

impl Engine {
    /// Writes `inside` (a path in the container) to `out` as a tar, its
    /// entries named from its own name down (`dir/file`), as `docker cp
    /// CONTAINER:PATH -` does.
    pub fn copy_out_tar(&self, key: &str, inside: &str, out: impl Write) -> Result<(), Error> {
        let c = self.container(key)?;
        let (root, inside) = open(&c, inside, false)?;
        let mut tar = tar::Builder::new(io::BufWriter::new(out));
        tar.follow_symlinks(false);
        copy::walk(root.as_fd(), &inside, &mut |rel, st, found| {
            append(&mut tar, rel, st, found)
        })?;
        let finished = tar.into_inner().and_then(|mut out| out.flush());
        Ok(finished.map_err(stream_error(&inside))?)
    }

    /// Docker's stat of a path in the container (`HEAD …/archive`): its
    /// name, size, mode in Go's `FileMode` bits, time and link target.
    pub fn stat_path(&self, key: &str, inside: &str) -> Result<serde_json::Value, Error> {
        let c = self.container(key)?;
        let (root, inside) = open(&c, inside, false)?;
        let (st, link) = copy::stat(root.as_fd(), &inside)?;
        let kind = st.st_mode & libc::S_IFMT;
        let go_kind: u32 = match kind {
            libc::S_IFDIR => 1 << 31,
            libc::S_IFLNK => 1 << 27,
            libc::S_IFIFO => 1 << 25,
            libc::S_IFSOCK => 1 << 24,
            libc::S_IFBLK => 1 << 26,
            libc::S_IFCHR => (1 << 26) | (1 << 21),
            _ => 0,
        };
        let mtime =
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(st.st_mtime.max(0) as u64);
        let name = inside
            .file_name()
            .map_or("/".into(), |n| n.to_string_lossy().into_owned());
        Ok(serde_json::json!({
            "name": name,
            "size": st.st_size,
            "mode": go_kind | (st.st_mode & 0o7777),
            "mtime": humantime::format_rfc3339(mtime).to_string(),
            "linkTarget": link.map(|l| l.display().to_string()).unwrap_or_default(),
        }))
    }

    /// Extracts the tar `input` into `dir`, a directory in the container.
    /// The tar is untrusted: no entry lands outside `dir` (see
    /// [`copy::create_under`]).
    pub fn copy_in_tar(&self, key: &str, dir: &str, input: impl Read) -> Result<(), Error> {
        let c = self.container(key)?;
        let (root, dir) = open(&c, dir, true)?;
        let mut archive = tar::Archive::new(input);
        for entry in archive.entries().map_err(stream_error(&dir))? {
            let mut entry = entry.map_err(stream_error(&dir))?;
            let rel = entry.path().map_err(stream_error(&dir))?.into_owned();
            let header = entry.header();
            let mode = header.mode().map_err(stream_error(&rel))?;
            let kind = header.entry_type();
            let link = entry.link_name().map_err(stream_error(&rel))?;
            let link = link.map(|l| l.into_owned()).unwrap_or_default();
            let made = match kind {
                EntryType::Directory => Entry::Dir,
                EntryType::Regular | EntryType::Continuous => Entry::File(&mut entry),
                EntryType::Symlink => Entry::Symlink(&link),
                EntryType::Link => Entry::Link(&link),
                // devices and fifos are not copied, as `cp` from a path
                _ => continue,
            };
            copy::create_under(root.as_fd(), &dir, &rel, mode, made)?;
        }
        Ok(())
    }
}

/// One walked entry as a tar entry.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    rel: &Path,
    st: &FileStat,
    found: Found,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_mode(st.st_mode & 0o7777);
    header.set_uid(st.st_uid.into());
    header.set_gid(st.st_gid.into());
    header.set_mtime(st.st_mtime.max(0) as u64);
    header.set_size(0);
    match found {
        Found::Dir => {
            header.set_entry_type(EntryType::Directory);
            tar.append_data(&mut header, rel, io::empty())
        }
        Found::File(file) => {
            header.set_entry_type(EntryType::Regular);
            header.set_size(st.st_size as u64);
            // a file that grows meanwhile is cut at the size it was stated at
            tar.append_data(&mut header, rel, file.take(st.st_size as u64))
        }
        Found::Symlink(target) => {
            header.set_entry_type(EntryType::Symlink);
            tar.append_link(&mut header, rel, target)
        }
    }
}

fn stream_error(path: &Path) -> impl FnOnce(io::Error) -> copy::Error + '_ {
    move |source| copy::Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether the container's own root is there to be read (`/proc/PID/root`).
pub(super) fn running_pid(c: &Container) -> Option<i32> {
    let live = matches!(c.state.status, Status::Running | Status::Paused);
    (live && c.state.pid > 0).then_some(c.state.pid)
}

/// The directory to copy from or into (`write`), and `inside` relative
/// to it.
fn open(c: &Container, inside: &str, write: bool) -> Result<(OwnedFd, PathBuf), Error> {
    let inside = Path::new("/").join(inside.trim_start_matches('/'));
    let pid = running_pid(c);
    let mount = pid
        .is_none()
        .then(|| filesystem::in_mount(&c.record.mounts, &inside))
        .flatten();
    Ok(match mount {
        Some((m, rest)) => filesystem::open_mount(m, rest, write)?,
        None => (filesystem::open(&c.record.rootfs, pid)?, inside),
    })
}
