//! The containers' holds on the store: every container, running or
//! stopped, keeps the snapshots its overlay stacks (and `rmi` of its image
//! is refused). The store asks for them under its lock when it collects
//! garbage; the container records are the one truth, read each time.

use std::io;
use std::path::{Path, PathBuf};

use kiln_cache::{Digest, Hold, Holds, HoldsError, SnapshotId};
use kiln_runtime::container::state::{Container, Status};
use kiln_runtime::Rootfs;

use crate::Engine;

/// The holds of the containers under one root.
#[derive(Debug, Clone)]
pub struct ContainerHolds {
    dir: PathBuf,
}

impl ContainerHolds {
    /// The holds of the containers under the store root `root`.
    pub fn new(root: impl AsRef<Path>) -> ContainerHolds {
        ContainerHolds {
            dir: root.as_ref().join("containers"),
        }
    }

    /// Every readable container. A directory with no record yet is one
    /// being created (its creator's lease covers it) or a crash's leftover;
    /// a record that cannot be read stops the collection: guessing would
    /// lose that container's layers.
    pub fn containers(&self) -> Result<Vec<Container>, HoldsError> {
        let fail = |what: &Path, e: &dyn std::fmt::Display| {
            HoldsError(format!("reading {}: {e}", what.display()))
        };
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(fail(&self.dir, &e)),
        };
        let mut all = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| fail(&self.dir, &e))?;
            if entry.file_name().as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let dir = entry.path();
            match Container::load(&dir) {
                Ok(c) => all.push(c),
                Err(_) if !dir.join("config.json").exists() => {}
                Err(e) => return Err(fail(&dir, &e)),
            }
        }
        Ok(all)
    }
}

impl Engine {
    /// What the store must keep for this root's containers.
    pub fn holds(&self) -> ContainerHolds {
        ContainerHolds::new(self.root())
    }
}

/// What one container needs: the snapshots its overlay stacks (lowers
/// are `<root>/snapshots/<id>`), and its image.
fn hold_of(c: &Container) -> Hold {
    let snapshots = match &c.record.rootfs {
        Rootfs::Overlay { lowers, .. } => lowers
            .iter()
            .filter_map(|l| l.file_name()?.to_str())
            .filter_map(|name| SnapshotId::parse(name).ok())
            .collect(),
        Rootfs::Dir(_) => Vec::new(),
    };
    let running = matches!(
        c.state.status,
        Status::Running | Status::Paused | Status::Restarting
    );
    Hold {
        holder: format!(
            "{} container {}",
            if running { "running" } else { "stopped" },
            c.short_id()
        ),
        image: Digest::parse(&c.record.image_id).ok(),
        snapshots,
    }
}

impl Holds for ContainerHolds {
    fn holds(&self) -> Result<Vec<Hold>, HoldsError> {
        Ok(self.containers()?.iter().map(hold_of).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_containers_directory_holds_nothing() {
        let root = tempfile::tempdir().unwrap();
        assert!(ContainerHolds::new(root.path()).holds().unwrap().is_empty());
    }

    #[test]
    fn an_unreadable_record_stops_the_collection() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("containers/abc");
        std::fs::create_dir_all(&dir).unwrap();
        // A directory without a record is one being created: skipped.
        std::fs::create_dir_all(root.path().join("containers/.tmp")).unwrap();
        assert!(ContainerHolds::new(root.path()).holds().unwrap().is_empty());
        std::fs::write(dir.join("config.json"), "{not json").unwrap();
        let err = ContainerHolds::new(root.path()).holds().unwrap_err();
        assert!(err.0.contains("containers/abc"), "{err:?}");
    }
}
