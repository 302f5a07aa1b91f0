//! Paths inside the container's root, resolved without leaving it.

use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};

use super::{Error, Result};
use crate::syscalls::{Kind, Syscalls};

/// `root` joined with `path`, resolving symlinks as if `root` were `/`, so
/// an image's symlink cannot point a mount at the host.
pub fn secure_join<S: Syscalls>(sys: &S, root: &Path, path: &Path) -> Result<PathBuf> {
    let mut resolved = PathBuf::new();
    let mut queue: VecDeque<PathBuf> = path
        .components()
        .map(|c| PathBuf::from(c.as_os_str()))
        .collect();
    let mut links = 0;
    while let Some(part) = queue.pop_front() {
        match part.components().next() {
            Some(Component::Normal(name)) => {
                let candidate = resolved.join(name);
                if sys.kind(&root.join(&candidate)) != Some(Kind::Symlink) {
                    resolved = candidate;
                    continue;
                }
                links += 1;
                if links > 40 {
                    return Err(Error::Loop(path.to_path_buf()));
                }
                let target = sys
                    .read_link(&root.join(&candidate))
                    .map_err(|source| Error::Fs {
                        op: "readlink",
                        path: candidate.clone(),
                        source,
                    })?;
                if target.is_absolute() {
                    resolved.clear();
                }
                for c in target.components().rev() {
                    queue.push_front(PathBuf::from(c.as_os_str()));
                }
            }
            Some(Component::ParentDir) => {
                resolved.pop();
            }
            _ => {}
        }
    }
    Ok(root.join(resolved))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::syscalls::Recording;

    #[test]
    fn symlinks_resolve_inside_the_root() {
        let sys = Recording::new()
            .with_link("/r/etc", "/../../host-etc")
            .with_link("/r/host-etc/x", "y");
        let p = secure_join(&sys, Path::new("/r"), Path::new("/etc/x/z")).unwrap();
        assert_eq!(p, Path::new("/r/host-etc/y/z"));
        let looped = Recording::new().with_link("/r/a", "/a");
        assert!(matches!(
            secure_join(&looped, Path::new("/r"), Path::new("/a")),
            Err(Error::Loop(_))
        ));
    }
}
