//! A container's network at each start: slirp4netns for `private`, a veth
//! on a user network (plus slirp4netns for its outbound traffic), and
//! published ports pointed at the new namespace. Done at the start gate
//! (before the command runs) and undone at its end; the monitor and a
//! foreground `kiln run` share it.

use std::path::Path;

use super::state::Record;
use crate::network::ports::{Publisher, Target};
use crate::network::user::Networks;
use crate::network::{slirp, NetworkMode, PortBinding};

/// Spec annotation carrying `--network-alias`es, one per line.
pub const ALIASES_ANNOTATION: &str = "org.kiln.network-aliases";

pub struct Wiring {
    publisher: Publisher,
    networks: Networks,
    network: NetworkMode,
    id: String,
    name: String,
    aliases: Vec<String>,
    slirp: Option<slirp::Slirp>,
    /// The address on a user network, once attached.
    pub ip: Option<String>,
}

impl Wiring {
    /// Binds the record's published ports; returns them as bound.
    pub fn new(record: &Record, root: &Path) -> Result<(Wiring, Vec<PortBinding>), String> {
        let (publisher, bound) =
            Publisher::bind(&record.ports).map_err(|e| format!("publishing ports: {e}"))?;
        let w = Wiring {
            publisher,
            networks: Networks::new(root.join("networks")),
            network: record.network.clone(),
            id: record.id.clone(),
            name: record.name.clone(),
            aliases: aliases(record),
            slirp: None,
            ip: None,
        };
        Ok((w, bound))
    }

    /// Takes the network of `record` as it is now (`network connect` may
    /// have changed it while the container ran) for the next start.
    pub fn follow(&mut self, record: &Record) {
        self.network = record.network.clone();
        self.aliases = aliases(record);
    }

    /// Whether the start needs the gate (every mode with its own namespace).
    pub fn needs_gate(&self) -> bool {
        !matches!(self.network, NetworkMode::Host)
    }

    /// At the gate: `pid` is the helper, inside the container's namespace.
    pub fn wire(&mut self, pid: u32) -> Result<(), String> {
        match &self.network {
            NetworkMode::Private => {
                let stack = slirp::require(pid, false).map_err(|e| format!("network: {e}"))?;
                self.slirp = Some(stack);
            }
            NetworkMode::User(name) => {
                let net = self.networks.get(name).map_err(|e| e.to_string())?;
                // slirp first: it sets the default route; eth0 keeps the subnet.
                self.slirp = slirp::start(pid, net.allow_host_loopback)
                    .map_err(|e| format!("slirp4netns: {e}"))?;
                let ip = self
                    .networks
                    .attach(
                        name,
                        &self.id,
                        &self.name,
                        &self.aliases,
                        pid,
                        self.slirp.is_none(),
                    )
                    .map_err(|e| e.to_string())?;
                self.ip = Some(ip);
            }
            NetworkMode::None | NetworkMode::Host => {}
        }
        let addr = self.ip.as_deref().and_then(|ip| ip.parse().ok());
        let target = Target::of_pid(pid, addr).map_err(|e| format!("network namespace: {e}"))?;
        self.publisher.set_target(Some(target));
        Ok(())
    }

    /// After the run: ports point nowhere, slirp stops, the lease goes.
    pub fn unwire(&mut self) {
        self.publisher.set_target(None);
        self.slirp.take();
        if let NetworkMode::User(name) = &self.network {
            let _ = self.networks.detach(name, &self.id);
        }
        self.ip = None;
    }
}

/// The record's `--network-alias`es.
fn aliases(record: &Record) -> Vec<String> {
    let notes = record.spec.annotations().as_ref();
    notes
        .and_then(|a| a.get(ALIASES_ANNOTATION))
        .map(|text| text.lines().map(str::to_string).collect())
        .unwrap_or_default()
}
