//! What the prunes remove (Docker's `container prune`, `volume prune`,
//! `network prune`, `system prune`) and the space it gave back; asking
//! first and listing what went are the caller's.

use std::collections::BTreeMap;
use std::time::SystemTime;

use kiln_cache::{ImageEntry, PruneOptions, Store, StoreError};
use kiln_runtime::container::state::Status;
use kiln_runtime::container::usage;
use kiln_runtime::network::NetworkMode;
use kiln_runtime::Rootfs;

use crate::container::RemoveOptions;
use crate::events::{Event, EventType};
use crate::filter::{created_time, Filters};
use crate::{Engine, Error};

/// What one prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Container IDs, volume or network names.
    pub deleted: Vec<String>,
    /// Bytes given back.
    pub reclaimed: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumePruneOptions {
    /// Named volumes too, not only anonymous ones.
    pub all: bool,
    /// Labels only: Docker's volume prune takes no `until`.
    pub filters: Filters,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPruneOptions {
    /// Every unused image, not only dangling ones; all build cache.
    pub all: bool,
    /// Anonymous volumes too.
    pub volumes: bool,
    pub filters: Filters,
}

/// What `system prune` removed, by kind, in the order it goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SystemPruned {
    pub containers: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    /// Image IDs.
    pub images: Vec<String>,
    pub build_cache: Vec<String>,
    pub reclaimed: u64,
}

impl Engine {
    /// Removes the stopped containers `filters` selects; the bytes their
    /// upper directories held.
    pub fn prune_containers(&self, filters: &Filters) -> Result<Pruned, Error> {
        let mut pruned = Pruned::default();
        for c in self.containers().list()? {
            let stopped = matches!(
                c.state.status,
                Status::Exited | Status::Dead | Status::Created
            );
            if !stopped || !filters.matches(created_time(&c.record.created), &c.record.labels()) {
                continue;
            }
            if let Rootfs::Overlay { upper, .. } = &c.record.rootfs {
                pruned.reclaimed += usage::apparent_size(upper);
            }
            let force = RemoveOptions {
                force: true,
                volumes: false,
            };
            self.remove_container(&c, force)?;
            pruned.deleted.push(c.record.id);
        }
        Ok(pruned)
    }

    /// Removes the volumes no container names (only anonymous ones unless
    /// `all`) that the filters select.
    pub fn prune_volumes(&self, opts: &VolumePruneOptions) -> Result<Pruned, Error> {
        let users = self.containers().list()?;
        let mut pruned = Pruned::default();
        for v in self.list_volumes()? {
            let used = users
                .iter()
                .any(|c| c.record.mounts.iter().any(|m| m.name == v.name));
            let wanted = (opts.all || v.anonymous)
                && opts.filters.matches(created_time(&v.created), &v.labels);
            if !used && wanted {
                pruned.reclaimed += usage::apparent_size(&v.mountpoint);
                self.destroy_volume(&v.name)?;
                pruned.deleted.push(v.name);
            }
        }
        Ok(pruned)
    }

    /// Removes the user networks no container (running or stopped) names,
    /// as Docker keeps a network while any container is connected to it.
    pub fn prune_networks(&self, filters: &Filters) -> Result<Vec<String>, Error> {
        let users = self.containers().list()?;
        let mut deleted = Vec::new();
        for n in self.list_networks()? {
            let used = users
                .iter()
                .any(|c| c.record.network == NetworkMode::User(n.name.clone()));
            if !used && filters.matches(created_time(&n.created), &BTreeMap::new()) {
                self.destroy_network(&n)?;
                deleted.push(n.name);
            }
        }
        Ok(deleted)
    }

    /// Stopped containers, unused networks, (anonymous volumes,) unused
    /// images and the build cache. Networks carry no labels and cache
    /// records neither: a label filter selects none of them.
    pub fn prune_system(&self, opts: &SystemPruneOptions) -> Result<SystemPruned, Error> {
        let f = &opts.filters;
        let containers = self.prune_containers(f)?;
        let mut done = SystemPruned {
            containers: containers.deleted,
            reclaimed: containers.reclaimed,
            ..SystemPruned::default()
        };
        if opts.volumes {
            let volumes = VolumePruneOptions {
                all: false,
                filters: f.labels_only(),
            };
            let gone = self.prune_volumes(&volumes)?;
            done.reclaimed += gone.reclaimed;
            done.volumes = gone.deleted;
        }
        if !f.has_labels() {
            done.networks = self.prune_networks(&f.until_only())?;
        }
        let store = Store::open(self.root())?;
        self.prune_images(&store, opts, &mut done)?;
        if !f.has_labels() {
            let cache = PruneOptions {
                all: opts.all,
                until: f
                    .until
                    .and_then(|t| SystemTime::now().duration_since(t).ok()),
                ..PruneOptions::default()
            };
            let report = store.prune(&cache, &self.holds())?;
            done.reclaimed += report.reclaimed;
            done.build_cache = report.deleted;
        }
        Ok(done)
    }

    /// The build cache: what no image needs, or all with `all`.
    pub fn prune_build_cache(&self, all: bool) -> Result<Pruned, Error> {
        let store = Store::open(self.root())?;
        let opts = PruneOptions {
            all,
            ..PruneOptions::default()
        };
        let report = store.prune(&opts, &self.holds())?;
        Ok(Pruned {
            deleted: report.deleted,
            reclaimed: report.reclaimed,
        })
    }

    /// `image prune`: the images no container was made from, dangling ones
    /// or all with `all`; their IDs and the bytes given back.
    pub fn prune_unused_images(&self, all: bool, filters: &Filters) -> Result<Pruned, Error> {
        let store = Store::open(self.root())?;
        let opts = SystemPruneOptions {
            all,
            volumes: false,
            filters: filters.clone(),
        };
        let mut done = SystemPruned::default();
        self.prune_images(&store, &opts, &mut done)?;
        Ok(Pruned {
            deleted: done.images,
            reclaimed: done.reclaimed,
        })
    }

    /// The images no container was made from: dangling ones, or all with
    /// `all`.
    fn prune_images(
        &self,
        store: &Store,
        opts: &SystemPruneOptions,
        done: &mut SystemPruned,
    ) -> Result<(), Error> {
        let remaining = self.containers().list()?;
        // Asked again under the store lock by each removal: a container
        // made since `remaining` was read keeps its image's layers.
        let holds = self.holds();
        for e in store.images()? {
            let id = e.image.id().to_string();
            let used = remaining.iter().any(|c| c.record.image_id == id);
            let wanted =
                (opts.all || e.refs.is_empty()) && image_selected(store, &e, &opts.filters);
            if used || !wanted {
                continue;
            }
            match store.remove_image(&e.image.manifest.digest, &holds) {
                Ok(r) => {
                    done.reclaimed += r.reclaimed;
                    self.note(Event::new(EventType::Image, "delete", &id));
                    done.images.push(id);
                }
                // A container was made from it since `remaining` was read.
                Err(StoreError::ImageInUse { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }
}

/// An image by its creation time (else when it entered the store) and
/// its config's labels.
fn image_selected(store: &Store, e: &ImageEntry, filters: &Filters) -> bool {
    if filters.is_empty() {
        return true;
    }
    let created = e
        .image
        .created
        .as_deref()
        .and_then(created_time)
        .or(Some(e.image.added));
    // An `until` alone needs no labels: the config is read only for a
    // label filter, not once per stored image.
    let labels = if filters.has_labels() {
        config_labels(store, e)
    } else {
        BTreeMap::new()
    };
    filters.matches(created, &labels)
}

fn config_labels(store: &Store, e: &ImageEntry) -> BTreeMap<String, String> {
    store
        .image_config(&e.image)
        .ok()
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
        .and_then(|doc| doc["config"]["Labels"].as_object().cloned())
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.as_str().unwrap_or_default().to_string()))
        .collect()
}
