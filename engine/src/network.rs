//! User networks (`<root>/networks`), on which containers reach each other
//! by name: create, list, remove. A network with a container on it is
//! kept.

use kiln_runtime::container::state::now;
use kiln_runtime::network::user::{Network, Networks, Options};

use crate::container::new_id;
use crate::events::{Event, EventType};
use crate::{Engine, Error};

impl Engine {
    pub(crate) fn network_store(&self) -> Networks {
        Networks::new(self.root().join("networks"))
    }

    pub fn create_network(&self, name: &str, opts: &Options) -> Result<Network, Error> {
        let net = self
            .network_store()
            .create(name, &new_id()?, &now(), opts)?;
        self.note(network_event("create", &net));
        Ok(net)
    }

    pub fn list_networks(&self) -> Result<Vec<Network>, Error> {
        Ok(self.network_store().list()?)
    }

    /// Removes a network no container is on.
    pub fn remove_network(&self, name: &str) -> Result<(), Error> {
        let net = self.network_store().get(name)?;
        self.destroy_network(&net)
    }

    /// Removes `net` (refused while a container is on it).
    pub(crate) fn destroy_network(&self, net: &Network) -> Result<(), Error> {
        self.network_store().remove(&net.name)?;
        self.note(network_event("destroy", net));
        Ok(())
    }
}

/// Docker's network event: the network's ID, its name and driver.
fn network_event(action: &str, net: &Network) -> Event {
    Event::new(EventType::Network, action, &net.id)
        .with("name", net.name.clone())
        .with("type", "bridge")
}
