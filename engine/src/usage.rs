//! `system df`: what the store holds (images, build cache) and, from the
//! container records the store cannot read, the containers and volumes.

use kiln_cache::{DfRow, Store, SystemDf};
use kiln_runtime::container::usage::{self, Usage};

use crate::{Engine, Error};

impl Engine {
    pub fn system_df(&self) -> Result<SystemDf, Error> {
        let store = Store::open(self.root()).map_err(|source| Error::StoreAt {
            root: self.root().to_path_buf(),
            source,
        })?;
        let mut df = store.system_df()?;
        let containers = self.containers();
        df.containers = row(usage::containers(&containers));
        df.volumes = row(usage::volumes(&self.volume_store(), &containers));
        Ok(df)
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
