//! The network behind `--link` on the default network. Each container on
//! the default network has a namespace of its own (slirp4netns for its
//! outbound traffic), so nothing joins two of them; Docker's default
//! bridge does. Linked containers meet on one user network kiln keeps for
//! them, [`LINK_NETWORK`], which `network ls` does not list: a running
//! target is put on it at once (a veth and an address, as `network
//! connect` does, its default route left to slirp4netns) and the linking
//! container starts on it. The network goes when no container is on it
//! and no container is made to start on it.

use kiln_runtime::container::state::{now, Container};
use kiln_runtime::network::user::{Error as NetError, Networks, Options};
use kiln_runtime::network::NetworkMode;

use crate::container::new_id;
use crate::{Engine, Error};

/// The hidden network's name; `network create` refuses it.
pub const LINK_NETWORK: &str = "kiln-default-links";

impl Engine {
    /// The address of the running `target` on the link network, putting it
    /// there first if it is not on it yet. `pid` is its first process.
    pub(crate) fn link_address(&self, target: &Container, pid: u32) -> Result<String, Error> {
        let store = self.network_store();
        link_network(&store)?;
        let r = &target.record;
        if let Some(ip) = lease_address(&store, &r.id) {
            return Ok(ip);
        }
        match store.attach(LINK_NETWORK, &r.id, &r.name, &[], pid, false) {
            Ok(ip) => Ok(ip),
            Err(e) => match lease_address(&store, &r.id) {
                // Another kiln linking to it at once attached it first.
                Some(ip) => Ok(ip),
                None => {
                    // The veth may be in its namespace already.
                    let _ = store.unplug(LINK_NETWORK, &r.id, pid);
                    Err(e.into())
                }
            },
        }
    }

    /// Removes the link network once no container is on it and none is
    /// made to start on it. Called where containers go and where networks
    /// are listed, so one whose last container was removed by its monitor
    /// goes too.
    pub(crate) fn sweep_link_network(&self) {
        let store = self.network_store();
        if store.get(LINK_NETWORK).is_err() || !store.leases(LINK_NETWORK).is_empty() {
            return;
        }
        let mode = NetworkMode::User(LINK_NETWORK.into());
        let Ok(all) = self.containers().list() else {
            return;
        };
        if all.iter().any(|c| c.record.network == mode) {
            return;
        }
        // Refused (and kept) if a container joined meanwhile.
        let _ = store.remove(LINK_NETWORK);
    }
}

/// The address of container `id` on the link network, if it is on it.
fn lease_address(store: &Networks, id: &str) -> Option<String> {
    store
        .leases(LINK_NETWORK)
        .into_iter()
        .find(|l| l.id == id)
        .map(|l| l.ip)
}

/// The link network, made if missing (another kiln may make it at once).
fn link_network(store: &Networks) -> Result<(), Error> {
    if store.get(LINK_NETWORK).is_ok() {
        return Ok(());
    }
    match store.create(LINK_NETWORK, &new_id()?, &now(), &Options::default()) {
        Ok(_) | Err(NetError::Exists(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}
