//! What a container changed in its filesystem (`diff`), read from its
//! overlay upper directory as Docker's overlay driver reports it.

use kiln_runtime::container::diff;
use kiln_runtime::Rootfs;

use crate::{Engine, Error};

pub use kiln_runtime::container::diff::Kind;

impl Engine {
    /// Every change, sorted by path (paths start with `/`).
    pub fn changes(&self, key: &str) -> Result<Vec<(Kind, String)>, Error> {
        let c = self.container(key)?;
        let Rootfs::Overlay { upper, lowers, .. } = &c.record.rootfs else {
            return Err(Error::NotFromImage("diff"));
        };
        diff::changes(upper, lowers).map_err(Error::Changes)
    }
}
