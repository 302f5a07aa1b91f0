//! Named volumes (`<root>/volumes`): create, list, inspect, remove. A
//! volume any container names, running or not, is never removed.

use std::collections::BTreeMap;

use kiln_runtime::container::state::now;
use kiln_runtime::volume::{Volume, Volumes};

use crate::container::new_id;
use crate::events::{Event, EventType};
use crate::{Engine, Error};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumeCreateOptions {
    /// A generated ID when `None`, as Docker names an unnamed volume.
    pub name: Option<String>,
    pub labels: BTreeMap<String, String>,
}

impl Engine {
    pub(crate) fn volume_store(&self) -> Volumes {
        Volumes::new(self.root().join("volumes"))
    }

    /// Creates the volume, or returns it if it exists (Docker's `volume
    /// create` of an existing name).
    pub fn create_volume(&self, opts: &VolumeCreateOptions) -> Result<Volume, Error> {
        let name = match &opts.name {
            Some(n) => n.clone(),
            None => new_id()?,
        };
        let existed = self.volume_store().get(&name).is_ok();
        let v = self
            .volume_store()
            .ensure_labeled(&name, false, &now(), opts.labels.clone())?;
        if !existed {
            self.note(Event::new(EventType::Volume, "create", &v.name).with("driver", "local"));
        }
        Ok(v)
    }

    pub fn list_volumes(&self) -> Result<Vec<Volume>, Error> {
        Ok(self.volume_store().list()?)
    }

    pub fn volume(&self, name: &str) -> Result<Volume, Error> {
        Ok(self.volume_store().get(name)?)
    }

    /// `docker volume inspect`'s document, which the API returns too.
    pub fn inspect_volume(&self, name: &str) -> Result<serde_json::Value, Error> {
        let v = self.volume(name)?;
        Ok(
            serde_json::json!({"Name": v.name, "Driver": "local", "Mountpoint": v.mountpoint,
            "CreatedAt": v.created, "Scope": "local", "Labels": v.labels,
            "Options": {}, "Anonymous": v.anonymous}),
        )
    }

    /// Removes a volume no container names.
    pub fn remove_volume(&self, name: &str) -> Result<(), Error> {
        if let Some(id) = self.volume_users()?.remove(name) {
            return Err(Error::VolumeInUse {
                name: name.to_string(),
                container: id,
            });
        }
        self.destroy_volume(name)
    }

    /// Removes a volume the caller found unused.
    pub(crate) fn destroy_volume(&self, name: &str) -> Result<(), Error> {
        self.volume_store().remove(name)?;
        self.note(Event::new(EventType::Volume, "destroy", name).with("driver", "local"));
        Ok(())
    }

    /// Each volume some container names, with one such container's ID.
    fn volume_users(&self) -> Result<BTreeMap<String, String>, Error> {
        let mut users = BTreeMap::new();
        for c in self.containers().list()? {
            for m in c.record.mounts.iter().filter(|m| m.kind == "volume") {
                users
                    .entry(m.name.clone())
                    .or_insert_with(|| c.record.id.clone());
            }
        }
        Ok(users)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes_are_created_listed_and_removed() {
        let root = tempfile::tempdir().unwrap();
        let engine = Engine::new(root.path());
        let opts = VolumeCreateOptions {
            name: Some("data".into()),
            labels: [("tier".to_string(), "db".to_string())].into(),
        };
        let v = engine.create_volume(&opts).unwrap();
        assert_eq!(v.labels.get("tier").map(String::as_str), Some("db"));
        let unnamed = engine
            .create_volume(&VolumeCreateOptions::default())
            .unwrap();
        assert_eq!(unnamed.name.len(), 64);
        assert_eq!(engine.list_volumes().unwrap().len(), 2);
        engine.remove_volume("data").unwrap();
        assert!(engine.volume("data").is_err());
        assert!(engine.remove_volume("data").is_err());
    }
}
