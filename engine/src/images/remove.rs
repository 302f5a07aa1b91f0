//! `rmi`: Docker's rules. A name untags (and deletes the image when that
//! was its last name); an ID deletes, which needs force when several names
//! remain. An image a container (running or stopped) was made from is not
//! deleted: without force that is a conflict naming the container; with
//! force its names go and the image stays, untagged, with its content (an
//! image in use by a running container is never deleted by ID, as in
//! Docker).

use kiln_cache::image_store::ImageEntry;
use kiln_cache::{Digest, Reference, Store};
use kiln_runtime::container::state::Container;

use super::error::ImageError;
use crate::{ContainerHolds, Engine, Error};

/// What one removal did, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Removed {
    Untagged(Reference),
    /// The image ID.
    Deleted(Digest),
}

/// The image being removed and the containers made from it.
struct Target<'a> {
    entry: ImageEntry,
    users: Vec<Container>,
    store: &'a Store,
}

impl Engine {
    /// Removes the image `reference` names (a name, an ID or its prefix).
    pub fn remove_image(&self, reference: &str, force: bool) -> Result<Vec<Removed>, Error> {
        let store = self.image_store()?;
        let holds = ContainerHolds::new(self.root());
        // Not resolve_image: its lease would keep what the removal frees.
        let entry = store.find_image(reference)?;
        let id = entry.image.id().to_string();
        let users = holds
            .containers()
            .map_err(ImageError::from)?
            .into_iter()
            .filter(|c| c.record.image_id == id)
            .collect();
        let target = Target {
            entry,
            users,
            store: &store,
        };
        let by_name = Reference::parse_normalized(reference)
            .ok()
            .filter(|r| target.entry.refs.contains(r));
        let removed = match by_name {
            Some(name) => self.untag_one(&target, reference, name, force, &holds)?,
            None => self.delete_by_id(&target, force, &holds)?,
        };
        Ok(removed)
    }

    /// Untags `name`; deletes the image when that was its last name and no
    /// container uses it.
    fn untag_one(
        &self,
        t: &Target<'_>,
        reference: &str,
        name: Reference,
        force: bool,
        holds: &ContainerHolds,
    ) -> Result<Vec<Removed>, Error> {
        let last = t.entry.refs.len() == 1;
        if let (true, false, Some(c)) = (last, force, t.users.first()) {
            return Err(ImageError::UntagInUse {
                reference: reference.to_string(),
                container: c.short_id().to_string(),
                image: t.entry.image.id().short(),
            }
            .into());
        }
        let mut done = vec![self.untag(t, name)?];
        if last && t.users.is_empty() {
            done.push(self.delete(t, holds, &[])?);
        }
        Ok(done)
    }

    fn delete_by_id(
        &self,
        t: &Target<'_>,
        force: bool,
        holds: &ContainerHolds,
    ) -> Result<Vec<Removed>, Error> {
        let image = t.entry.image.id().short();
        let running = t.users.iter().find(|c| c.state.status.is_live());
        if let Some(c) = running {
            let container = c.short_id().to_string();
            return Err(ImageError::UsedByRunning { image, container }.into());
        }
        if let (false, Some(c)) = (force, t.users.first()) {
            let container = c.short_id().to_string();
            return Err(ImageError::UsedByStopped { image, container }.into());
        }
        if t.entry.refs.len() > 1 && !force {
            return Err(ImageError::ManyNames { image }.into());
        }
        let mut done = Vec::new();
        if !t.users.is_empty() {
            // Force on an image stopped containers use: its names go, it
            // stays.
            for name in &t.entry.refs {
                done.push(self.untag(t, name.clone())?);
            }
            return Ok(done);
        }
        // The store drops the names with the image.
        let deleted = self.delete(t, holds, &t.entry.refs)?;
        done.extend(t.entry.refs.iter().cloned().map(Removed::Untagged));
        done.push(deleted);
        Ok(done)
    }

    fn untag(&self, t: &Target<'_>, name: Reference) -> Result<Removed, Error> {
        t.store.untag(&name)?;
        let id = t.entry.image.id().to_string();
        self.note_image("untag", &id, &id);
        Ok(Removed::Untagged(name))
    }

    /// Deletes the image; `dropped` are the names that go with it, which
    /// are journaled as untagged once the deletion is made.
    fn delete(
        &self,
        t: &Target<'_>,
        holds: &ContainerHolds,
        dropped: &[Reference],
    ) -> Result<Removed, Error> {
        let removed = t
            .store
            .remove_image(&t.entry.image.manifest.digest, holds)?;
        let id = removed.image.id().to_string();
        for _ in dropped {
            self.note_image("untag", &id, &id);
        }
        self.note_image("delete", &id, &id);
        Ok(Removed::Deleted(*removed.image.id()))
    }
}

#[cfg(test)]
#[path = "remove_tests.rs"]
mod tests;
