//! User networks (`<root>/networks`), on which containers reach each other
//! by name: create, list, remove, connect and disconnect containers. A
//! network with a container on it is kept.

mod connect;
mod link_network;

pub use connect::{ConnectError, ConnectOptions};
pub use link_network::LINK_NETWORK;

use kiln_runtime::container::state::now;
use kiln_runtime::network::user::{Network, Networks, Options};
use serde_json::{json, Value};

use crate::container::new_id;
use crate::events::{Event, EventType};
use crate::{Engine, Error};

impl Engine {
    pub(crate) fn network_store(&self) -> Networks {
        Networks::new(self.root().join("networks"))
    }

    pub fn create_network(&self, name: &str, opts: &Options) -> Result<Network, Error> {
        if name == LINK_NETWORK {
            return Err(Error::ReservedNetwork(name.into()));
        }
        let net = self
            .network_store()
            .create(name, &new_id()?, &now(), opts)?;
        self.note(network_event("create", &net));
        Ok(net)
    }

    /// The user networks, the hidden one behind default-network links
    /// left out (and removed if no container needs it any more).
    pub fn list_networks(&self) -> Result<Vec<Network>, Error> {
        self.sweep_link_network();
        let mut all = self.network_store().list()?;
        all.retain(|n| n.name != LINK_NETWORK);
        Ok(all)
    }

    /// Docker's `network inspect` object for the user network `name`, or
    /// for one of the modes Docker lists as networks (`bridge`, `host`,
    /// `none`), with the containers on it.
    pub fn inspect_network(&self, name: &str) -> Result<Value, Error> {
        if BUILTIN.contains(&name) {
            return Ok(network_object(name, "", name, "", None, json!({})));
        }
        let store = self.network_store();
        let net = store.get(name)?;
        let containers: serde_json::Map<String, Value> = store
            .leases(&net.name)
            .into_iter()
            .map(|l| {
                let endpoint = json!({
                    "Name": l.name,
                    "EndpointID": "",
                    "MacAddress": "",
                    "IPv4Address": format!("{}/24", l.ip),
                    "IPv6Address": "",
                });
                (l.id, endpoint)
            })
            .collect();
        let ipam = json!([{ "Subnet": net.subnet(), "Gateway": net.gateway() }]);
        Ok(network_object(
            &net.name,
            &net.id,
            "bridge",
            &net.created,
            Some(ipam),
            Value::Object(containers),
        ))
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

/// The modes Docker shows as predefined networks.
const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

fn network_object(
    name: &str,
    id: &str,
    driver: &str,
    created: &str,
    ipam: Option<Value>,
    containers: Value,
) -> Value {
    json!({
        "Name": name,
        "Id": id,
        "Created": if created.is_empty() { "0001-01-01T00:00:00Z" } else { created },
        "Scope": "local",
        "Driver": driver,
        "EnableIPv6": false,
        "IPAM": { "Driver": "default", "Options": {}, "Config": ipam.unwrap_or(json!([])) },
        "Internal": false,
        "Attachable": false,
        "Ingress": false,
        "ConfigFrom": { "Network": "" },
        "ConfigOnly": false,
        "Containers": containers,
        "Options": {},
        "Labels": {},
    })
}

/// Docker's network event: the network's ID, its name and driver.
fn network_event(action: &str, net: &Network) -> Event {
    Event::new(EventType::Network, action, &net.id)
        .with("name", net.name.clone())
        .with("type", "bridge")
}
