//! The privileged calls kiln makes (mounts, namespaces, device nodes),
//! behind one trait: [`Real`] performs them, [`Recording`] writes them
//! down so the mount and namespace plans can be unit-tested without root
//! (youki's habit).

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};
use nix::sched::CloneFlags;

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
    /// Permission bits; with `S_IFBLK` among them the node is a block
    /// device, else a character one.
    pub mode: u32,
}

/// The privileged operations kiln needs.
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
    /// The working directory, which relative mount options resolve from.
    fn chdir(&self, dir: &Path) -> io::Result<()>;
    /// Reads a small kernel file such as `/proc/self/mountinfo`.
    fn read_to_string(&self, path: &Path) -> io::Result<String>;
    /// Namespaces are per thread: `CLONE_NEWNET` moves only the caller.
    fn unshare(&self, flags: CloneFlags) -> io::Result<()>;
    fn setns(&self, fd: BorrowedFd, nstype: CloneFlags) -> io::Result<()>;
    /// A filesystem context of the new mount API (close-on-exec).
    fn fsopen(&self, fstype: &str) -> io::Result<OwnedFd>;
    fn fsconfig_string(&self, fs: BorrowedFd, key: &str, value: &CStr) -> io::Result<()>;
    /// Creates the superblock the context describes.
    fn fsconfig_create(&self, fs: BorrowedFd) -> io::Result<()>;
    /// A detached mount of the created context (close-on-exec): attached
    /// nowhere, gone when the descriptor closes.
    fn fsmount(&self, fs: BorrowedFd) -> io::Result<OwnedFd>;
}

// linux/mount.h; the libc crate has the syscall numbers but not these.
const FSOPEN_CLOEXEC: libc::c_uint = 1;
const FSCONFIG_SET_STRING: libc::c_uint = 1;
const FSCONFIG_CMD_CREATE: libc::c_uint = 6;
const FSMOUNT_CLOEXEC: libc::c_uint = 1;

/// The kernel.
#[derive(Debug, Default, Clone, Copy)]
pub struct Real;

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// The errno of a failed call, for callers whose messages name it the way
/// nix prints it (`EPERM: Operation not permitted`).
pub(crate) fn as_errno(e: &io::Error) -> nix::Error {
    nix::Error::from_raw(e.raw_os_error().unwrap_or(0))
}

/// A raw syscall's result: the new descriptor or count, or errno.
fn syscall_result(r: libc::c_long) -> io::Result<libc::c_long> {
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(r)
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
        let kind = if device.mode & libc::S_IFMT == libc::S_IFBLK {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        mknod(path, kind, Mode::from_bits_truncate(device.mode), dev).map_err(errno)
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

    fn chdir(&self, dir: &Path) -> io::Result<()> {
        nix::unistd::chdir(dir).map_err(errno)
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        // /proc files report size 0, on which std reads 32 bytes, then 64,
        // … one syscall each: start with room for a whole mountinfo.
        let mut text = String::with_capacity(16 * 1024);
        std::io::Read::read_to_string(&mut std::fs::File::open(path)?, &mut text)?;
        Ok(text)
    }

    fn unshare(&self, flags: CloneFlags) -> io::Result<()> {
        nix::sched::unshare(flags).map_err(errno)
    }

    fn setns(&self, fd: BorrowedFd, nstype: CloneFlags) -> io::Result<()> {
        nix::sched::setns(fd, nstype).map_err(errno)
    }

    fn fsopen(&self, fstype: &str) -> io::Result<OwnedFd> {
        let name = CString::new(fstype)?;
        // SAFETY: a NUL-terminated name and a flag.
        let r = unsafe { libc::syscall(libc::SYS_fsopen, name.as_ptr(), FSOPEN_CLOEXEC) };
        let fd = syscall_result(r)?;
        // SAFETY: fsopen returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
    }

    fn fsconfig_string(&self, fs: BorrowedFd, key: &str, value: &CStr) -> io::Result<()> {
        let key = CString::new(key)?;
        // SAFETY: NUL-terminated key and value that outlive the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_SET_STRING,
                key.as_ptr(),
                value.as_ptr(),
                0,
            )
        };
        syscall_result(r).map(|_| ())
    }

    fn fsconfig_create(&self, fs: BorrowedFd) -> io::Result<()> {
        // SAFETY: a plain syscall on a borrowed descriptor, no pointers.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fsconfig,
                fs.as_raw_fd(),
                FSCONFIG_CMD_CREATE,
                std::ptr::null::<libc::c_char>(),
                std::ptr::null::<libc::c_void>(),
                0,
            )
        };
        syscall_result(r).map(|_| ())
    }

    fn fsmount(&self, fs: BorrowedFd) -> io::Result<OwnedFd> {
        // SAFETY: as above.
        let r = unsafe { libc::syscall(libc::SYS_fsmount, fs.as_raw_fd(), FSMOUNT_CLOEXEC, 0) };
        let fd = syscall_result(r)?;
        // SAFETY: fsmount returned a new descriptor that nothing else owns.
        Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
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
    Umount(PathBuf, MntFlags),
    PivotRoot(PathBuf),
    Mkdir(PathBuf),
    Touch(PathBuf),
    Mknod(PathBuf, Device),
    Symlink(PathBuf, PathBuf),
    WriteFile(PathBuf, Vec<u8>),
    Sethostname(String),
    Chdir(PathBuf),
    Unshare(CloneFlags),
    Setns(CloneFlags),
    Fsopen(String),
    /// A key and its value, as text.
    Fsconfig(String, String),
    FsconfigCreate,
    Fsmount,
}

/// Records every call and answers `kind`/`read_link` from a fake tree.
/// The descriptors it hands out (`fsopen`, `fsmount`) are `/dev/null`.
#[derive(Debug, Default)]
pub struct Recording {
    pub calls: RefCell<Vec<Call>>,
    tree: RefCell<BTreeMap<PathBuf, Kind>>,
    links: BTreeMap<PathBuf, PathBuf>,
    files: BTreeMap<PathBuf, String>,
    /// The call (by its index among all calls) that fails, and its errno.
    failure: Cell<Option<(usize, i32)>>,
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

    /// Makes the `nth` call (0-based, counting every recorded call) fail
    /// with `errno`, after it is recorded.
    pub fn failing(self, nth: usize, errno: i32) -> Recording {
        self.failure.set(Some((nth, errno)));
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

    fn push(&self, call: Call) -> io::Result<()> {
        let mut calls = self.calls.borrow_mut();
        calls.push(call);
        match self.failure.get() {
            Some((nth, errno)) if nth + 1 == calls.len() => {
                Err(io::Error::from_raw_os_error(errno))
            }
            _ => Ok(()),
        }
    }

    fn descriptor() -> io::Result<OwnedFd> {
        Ok(std::fs::File::open("/dev/null")?.into())
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
        })
    }

    fn umount(&self, target: &Path, flags: MntFlags) -> io::Result<()> {
        self.push(Call::Umount(target.to_path_buf(), flags))
    }

    fn pivot_root(&self, new_root: &Path) -> io::Result<()> {
        self.push(Call::PivotRoot(new_root.to_path_buf()))
    }

    fn mkdir_all(&self, path: &Path, _mode: u32) -> io::Result<()> {
        self.tree.borrow_mut().insert(path.to_path_buf(), Kind::Dir);
        self.push(Call::Mkdir(path.to_path_buf()))
    }

    fn touch(&self, path: &Path) -> io::Result<()> {
        self.tree
            .borrow_mut()
            .entry(path.to_path_buf())
            .or_insert(Kind::File);
        self.push(Call::Touch(path.to_path_buf()))
    }

    fn mknod(&self, path: &Path, device: Device) -> io::Result<()> {
        self.push(Call::Mknod(path.to_path_buf(), device))
    }

    fn symlink(&self, target: &Path, link: &Path) -> io::Result<()> {
        self.push(Call::Symlink(target.to_path_buf(), link.to_path_buf()))
    }

    fn write_file(&self, path: &Path, contents: &[u8]) -> io::Result<()> {
        self.push(Call::WriteFile(path.to_path_buf(), contents.to_vec()))
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
        self.push(Call::Sethostname(name.to_string()))
    }

    fn chdir(&self, dir: &Path) -> io::Result<()> {
        self.push(Call::Chdir(dir.to_path_buf()))
    }

    fn read_to_string(&self, path: &Path) -> io::Result<String> {
        self.files
            .get(path)
            .cloned()
            .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
    }

    fn unshare(&self, flags: CloneFlags) -> io::Result<()> {
        self.push(Call::Unshare(flags))
    }

    fn setns(&self, _fd: BorrowedFd, nstype: CloneFlags) -> io::Result<()> {
        self.push(Call::Setns(nstype))
    }

    fn fsopen(&self, fstype: &str) -> io::Result<OwnedFd> {
        self.push(Call::Fsopen(fstype.to_string()))?;
        Recording::descriptor()
    }

    fn fsconfig_string(&self, _fs: BorrowedFd, key: &str, value: &CStr) -> io::Result<()> {
        let value = value.to_string_lossy().into_owned();
        self.push(Call::Fsconfig(key.to_string(), value))
    }

    fn fsconfig_create(&self, _fs: BorrowedFd) -> io::Result<()> {
        self.push(Call::FsconfigCreate)
    }

    fn fsmount(&self, _fs: BorrowedFd) -> io::Result<OwnedFd> {
        self.push(Call::Fsmount)?;
        Recording::descriptor()
    }
}
