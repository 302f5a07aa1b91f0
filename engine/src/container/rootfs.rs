//! A container's root filesystem: an overlay on its image's layers, with
//! its upper and work dirs in the container's directory, or a directory
//! given as it is.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

use kiln_runtime::Rootfs;

use super::options::CreateOptions;
use crate::image::Image;
use crate::{Engine, Error};

impl Engine {
    /// The rootfs and image of `opts`, making `dir` (the container's) for
    /// an overlay.
    pub(super) fn rootfs(
        &self,
        opts: &CreateOptions,
        dir: &Path,
    ) -> Result<(Rootfs, Image), Error> {
        if let Some(root) = &opts.rootfs {
            if !root.is_dir() {
                return Err(Error::RootfsNotDir(root.clone()));
            }
            return Ok((Rootfs::Dir(root.clone()), Image::default()));
        }
        let reference = opts.image.as_deref().ok_or(Error::NoImage)?;
        let image = self.resolve_image(reference)?;
        let (upper, work) = (dir.join("upper"), dir.join("work"));
        // The container's directory is root's alone, as Docker's
        // containers/<id>: its upper holds what the container wrote.
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|source| creating(dir, source))?;
        for d in [&upper, &work] {
            std::fs::create_dir_all(d).map_err(|source| creating(d, source))?;
        }
        let rootfs = Rootfs::Overlay {
            lowers: image.lowers.clone(),
            upper,
            work,
            volatile: opts.rm,
        };
        Ok((rootfs, image))
    }
}

fn creating(path: &Path, source: std::io::Error) -> Error {
    Error::CreateDir {
        path: path.to_path_buf(),
        source,
    }
}
