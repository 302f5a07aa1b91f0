//! The privileged calls that shape a container's filesystem, behind one
//! trait: [`Real`] performs them, [`Recording`] writes them down so the
//! mount plan can be unit-tested without root (youki's habit).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

/// What a path is, as far as mount planning cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    File,
    Symlink,
}

/// A device node to create under `/dev`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Device {
    pub major: u64,
    pub minor: u64,
    pub mode: u32,
}

/// The privileged operations rootfs setup needs.
pub trait Syscalls {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()>;
    fn pivot_root(&self, new_root: &Path) -> io::Result<()>;
    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()>;
    /// Creates an empty file if nothing is there (a bind-mount target).
    fn touch(&self, path: &Path) -> io::Result<()>;
    fn mknod(&self, path: &Path, device: Device) -> io::Result<()>;
    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()>;
    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()>;
    fn kind(&self, path: &Path) -> Option<Kind>;
    fn read_link(&self, path: &Path) -> io::Result<PathBuf>;
    fn sethostname(&self, name: &str) -> io::Result<()>;
    /// Reads a small kernel file such as `/proc/self/mountinfo`.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
}

/// The kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Real;

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

impl Syscalls for Real {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(errno)
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        nix::mount::umount2(target, flags).map_err(errno)
    }

    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        // pivot_root(".", ".") then detaching the old root avoids needing a
        // spare directory inside the image (runc's approach).
        nix::unistd::chdir(new_root).map_err(errno)?;
        nix::unistd::pivot_root(".", ".").map_err(errno)?;
        nix::mount::umount2(".", MntFlags::MNT_DETACH).map_err(errno)?;
        nix::unistd::chdir("/").map_err(errno)
    }

    fn mkdir_all(&self, path: &Path, mode: u32) -> io::Result<()> {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(mode)
            .create(path)
    }

    fn touch(&self, path: &Path) -> io::Result<()> {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn mknod(&self, path: &Path, device: Device) -> io::Result<()> {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        let dev = makedev(device.major, device.minor);
        mknod(
            path,
            SFlag::S_IFCHR,
            Mode::from_bits_truncate(device.mode),
            dev,
        )
        .map_err(errno)
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        std::os::unix::fs::symlink(target, link)
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        std::fs::write(path, contents)
    }

    fn kind(&self, path: &Path) -> Option<Kind> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        let ft = meta.file_type();
        Some(if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        })
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::read_link(path)
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(errno)
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        // /proc files report size 0, on which std reads 32 bytes, then 64,
        // … one syscall each: start with room for a whole mountinfo.
        let mut text = String::with_capacity(16 * 1024);
        std::io::Read::read_to_string(&mut std::fs::File::open(path)?, &mut text)?;
        Ok(text)
    }
}

/// One recorded call, in a form tests can compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Mount {
        source: Option<PathBuf>,
        target: PathBuf,
        fstype: Option<String>,
        flags: MsFlags,
        data: Option<String>,
    },
    Umount(PathBuf),
    PivotRoot(PathBuf),
    Mkdir(PathBuf),
    Touch(PathBuf),
    Mknod(PathBuf, Device),
    Symlink(PathBuf, PathBuf),
    WriteFile(PathBuf, Vec<u8>),
    Sethostname(String),
}

/// Records every call and answers `kind`/`read_link` from a fake tree.
#[derive(Debug, Default)]
pub struct Recording {
    pub calls: RefCell<Vec<Call>>,
    tree: RefCell<BTreeMap<PathBuf, Kind>>,
    links: BTreeMap<PathBuf, PathBuf>,
    files: BTreeMap<PathBuf, String>,
}

impl Recording {
    pub fn new() -> Recording {
        Recording::default()
    }

    /// Declares that `path` exists in the fake tree.
    pub fn with(self, path: impl Into<PathBuf>, kind: Kind) -> Recording {
        self.tree.borrow_mut().insert(path.into(), kind);
        self
    }

    /// Declares a symlink in the fake tree.
    pub fn with_link(mut self, link: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Recording {
        let link = link.into();
        self.tree.borrow_mut().insert(link.clone(), Kind::Symlink);
        self.links.insert(link, target.into());
        self
    }

    /// Declares a file's text, answered by `read_to_string`.
    pub fn with_file(mut self, path: impl Into<PathBuf>, text: &str) -> Recording {
        self.files.insert(path.into(), text.to_string());
        self
    }

    pub fn calls(&self) -> Vec<Call> {
        self.calls.borrow().clone()
    }

    /// The targets of every mount, in order.
    pub fn mount_targets(&self) -> Vec<PathBuf> {
        self.calls
            .borrow()
            .iter()
            .filter_map(|c| match c {
                Call::Mount { target, .. } => Some(target.clone()),
                _ => None,
            })
            .collect()
    }

    fn push(&self, call: Call) {
        self.calls.borrow_mut().push(call);
    }
}

impl Syscalls for Recording {
    fn mount(
        &self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.push(Call::Mount {
            source: source.map(Path::to_path_buf),
            target: target.to_path_buf(),
            fstype: fstype.map(str::to_string),
            flags,
            data: data.map(str::to_string),
        });
        Ok(())
    }

    fn umount(&self, target: &Path, _flags: MntFlags) -> io::Result<()> {
        self.push(Call::Umount(target.to_path_buf()));
        Ok(())
    }

    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        self.push(Call::PivotRoot(new_root.to_path_buf()));
        Ok(())
    }

    fn mkdir_all(&self, path: &Path, _mode: u32) -> io::Result<()> {
        self.tree.borrow_mut().insert(path.to_path_buf(), Kind::Dir);
        self.push(Call::Mkdir(path.to_path_buf()));
        Ok(())
    }

    fn touch(&self, path: &Path) -> io::Result<()> {
        self.tree
            .borrow_mut()
            .entry(path.to_path_buf())
            .or_insert(Kind::File);
        self.push(Call::Touch(path.to_path_buf()));
        Ok(())
    }

    fn mknod(&self, path: &Path, device: Device) -> io::Result<()> {
        self.push(Call::Mknod(path.to_path_buf(), device));
        Ok(())
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.push(Call::Symlink(target.to_path_buf(), link.to_path_buf()));
        Ok(())
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.push(Call::WriteFile(path.to_path_buf(), contents.to_vec()));
        Ok(())
    }

    fn kind(&self, path: &Path) -> Option<Kind> {
        self.tree.borrow().get(path).copied()
    }

    fn read_link(&self, path: &Path) -> io::Result<PathBuf> {
        self.links
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.push(Call::Sethostname(name.to_string()));
        Ok(())
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }
}
