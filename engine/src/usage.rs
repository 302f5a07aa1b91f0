//! `system df`: what the store holds (images, build cache) and, from the
//! container records the store cannot read, the containers and volumes;
//! `system df -v` lists each of them.

use std::collections::{HashMap, HashSet};

use kiln_cache::{DfRow, RecordUsage, Store, SystemDf};
use kiln_runtime::container::state::Container;
use kiln_runtime::container::usage::{self, Usage};

use crate::container::{ContainerSize, ListOptions};
use crate::images::ImageRow;
use crate::{Engine, Error};

/// `system df -v`: every image, container, volume and build cache record.
#[derive(Debug, Clone)]
pub struct DfDetail {
    pub images: Vec<ImageUsage>,
    /// Newest first, with their sizes.
    pub containers: Vec<(Container, ContainerSize)>,
    pub volumes: Vec<VolumeUsage>,
    pub build_cache: Vec<RecordUsage>,
}

/// One image under its first name (Docker shows only that one).
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub row: ImageRow,
    /// Bytes of its layers that other images have too.
    pub shared: u64,
    /// Containers made from it.
    pub containers: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeUsage {
    pub name: String,
    /// Containers that mount it.
    pub links: usize,
    pub size: u64,
}

impl Engine {
    pub fn system_df(&self) -> Result<SystemDf, Error> {
        let store = self.store_for_df()?;
        let mut df = store.system_df()?;
        let containers = self.containers();
        df.containers = row(usage::containers(&containers));
        df.volumes = row(usage::volumes(&self.volume_store(), &containers));
        Ok(df)
    }

    pub fn system_df_verbose(&self) -> Result<DfDetail, Error> {
        let store = self.store_for_df()?;
        let all = ListOptions {
            all: true,
            ..ListOptions::default()
        };
        let list = self.list(&all)?;
        let sizes = self.container_sizes(&list)?;
        let volumes = self
            .volume_store()
            .list()
            .unwrap_or_default()
            .into_iter()
            .map(|v| VolumeUsage {
                links: list
                    .iter()
                    .filter(|c| c.record.mounts.iter().any(|m| m.name == v.name))
                    .count(),
                size: usage::apparent_size(&v.mountpoint),
                name: v.name,
            })
            .collect();
        Ok(DfDetail {
            images: self.image_usage(&store, &list)?,
            containers: list.into_iter().zip(sizes).collect(),
            volumes,
            build_cache: store.disk_usage()?.records,
        })
    }

    fn store_for_df(&self) -> Result<Store, Error> {
        Store::open(self.root()).map_err(|source| Error::StoreAt {
            root: self.root().to_path_buf(),
            source,
        })
    }

    /// Each image once, newest first, with the bytes it shares with other
    /// images (layers in more than one) and the containers made from it.
    fn image_usage(&self, store: &Store, list: &[Container]) -> Result<Vec<ImageUsage>, Error> {
        let entries = store.images()?;
        let mut users: HashMap<String, usize> = HashMap::new();
        for e in &entries {
            let layers: HashSet<_> = e.image.layers.iter().map(|l| &l.snapshot).collect();
            for s in layers {
                *users.entry(s.to_string()).or_default() += 1;
            }
        }
        let mut shared: HashMap<String, u64> = HashMap::new();
        for e in &entries {
            let mut bytes = 0;
            for l in &e.image.layers {
                if users.get(&l.snapshot.to_string()).copied().unwrap_or(0) > 1 {
                    bytes += store.snapshot(&l.snapshot)?.map_or(0, |s| s.size);
                }
            }
            shared.insert(e.image.id().to_string(), bytes);
        }
        let mut seen = HashSet::new();
        Ok(self
            .list_images(None)?
            .into_iter()
            .filter(|r| seen.insert(r.id))
            .map(|row| {
                let id = row.id.to_string();
                ImageUsage {
                    shared: shared.get(&id).copied().unwrap_or(0),
                    containers: list.iter().filter(|c| c.record.image_id == id).count(),
                    row,
                }
            })
            .collect())
    }
}

fn row(u: Usage) -> DfRow {
    DfRow {
        total: u.total,
        active: u.active,
        size: u.size,
        reclaimable: u.reclaimable,
    }
}
