//! The file behind `-o PATH` (`save`, `export`). A regular file, or a new
//! one, is written beside the path and renamed over it once complete, so a
//! failure never leaves a truncated file under the name. A FIFO already at
//! the path is opened and written into; a device is refused, as Docker's
//! CLI refuses it. Neither is ever renamed over, synced or removed: as
//! root that replaced /dev/null with a regular file.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileTypeExt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub struct OutputFile {
    file: File,
    /// The temporary name while a regular file is written.
    tmp: Option<PathBuf>,
    path: PathBuf,
}

impl OutputFile {
    pub fn create(path: &Path) -> io::Result<OutputFile> {
        let kind = std::fs::metadata(path).map(|m| m.file_type()).ok();
        if kind.is_some_and(|t| t.is_char_device() || t.is_block_device() || t.is_socket()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "invalid output path: {:?} must be a directory or a regular file: got a device",
                    path.display().to_string()
                ),
            ));
        }
        if kind.is_some_and(|t| t.is_fifo()) {
            let file = OpenOptions::new().write(true).open(path)?;
            return Ok(OutputFile {
                file,
                tmp: None,
                path: path.to_path_buf(),
            });
        }
        let tmp = temp_beside(path);
        let file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        Ok(OutputFile {
            file,
            tmp: Some(tmp),
            path: path.to_path_buf(),
        })
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// The written file under its name: synced and renamed into place.
    pub fn commit(self) -> io::Result<()> {
        let Some(tmp) = &self.tmp else {
            return Ok(());
        };
        self.file.sync_all()?;
        std::fs::rename(tmp, &self.path)
    }

    /// Gives up: the temporary file goes; what was at the path stays.
    pub fn abandon(self) {
        if let Some(tmp) = &self.tmp {
            let _ = std::fs::remove_file(tmp);
        }
    }
}

fn temp_beside(path: &Path) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    dir.join(format!(".kiln-output-{}-{nanos}.tmp", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_temporary_file_is_beside_the_target() {
        let tmp = temp_beside(Path::new("/a/b/out.tar"));
        assert_eq!(tmp.parent(), Some(Path::new("/a/b")));
        assert_eq!(
            temp_beside(Path::new("out.tar")).parent(),
            Some(Path::new("."))
        );
    }

    #[test]
    fn a_regular_file_appears_whole_or_not_at_all() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.tar");
        std::fs::write(&path, "old").unwrap();
        let mut out = OutputFile::create(&path).unwrap();
        out.file.write_all(b"new").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
        out.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        let out = OutputFile::create(&path).unwrap();
        out.abandon();
        assert_eq!(std::fs::read(&path).unwrap(), b"new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_fifo_is_written_into_and_left_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::from_bits_truncate(0o600)).unwrap();
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || std::fs::read(fifo).unwrap())
        };
        let mut out = OutputFile::create(&fifo).unwrap();
        out.file.write_all(b"through").unwrap();
        out.commit().unwrap();
        assert_eq!(reader.join().unwrap(), b"through");
        let kind = std::fs::metadata(&fifo).unwrap().file_type();
        assert!(kind.is_fifo());
    }
}
