//! `network connect` and `network disconnect`: a container's record says
//! which network it starts on, and a running one is attached (a veth into
//! its namespace, a lease, its name in the network's hosts file and the
//! network's names in its own) or taken off at once. A record holds one
//! network: a container on the default network or none is moved onto a
//! user network, and one already on a user network cannot join a second.

use kiln_runtime::container::state::{
    update_state, Container, Error as StateError, Record, Status,
};
use kiln_runtime::container::wiring::ALIASES_ANNOTATION;
use kiln_runtime::network::container_hosts;
use kiln_runtime::network::user::{Network, Networks};
use kiln_runtime::network::NetworkMode;
use oci_spec::runtime::Mount;

use crate::events::{Event, EventType};
use crate::{Engine, Error};

/// Annotation keeping the mode a container had before it was connected,
/// which a disconnect gives back (`none` or `bridge`).
const CONNECTED_FROM_ANNOTATION: &str = "org.kiln.network-connected-from";

/// What `network connect` may set.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConnectOptions {
    /// `--alias`: more names the network's containers reach it by.
    pub aliases: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("endpoint with name {container} already exists in network {network}")]
    AlreadyConnected { container: String, network: String },
    #[error("container {container} is on network {current}; kiln keeps one user network per container and cannot also connect it to {requested}")]
    SecondNetwork {
        container: String,
        current: String,
        requested: String,
    },
    #[error("container {container} is not connected to network {network}")]
    NotConnected { container: String, network: String },
    #[error("container sharing network namespace with another container or host cannot be connected to any other network")]
    HostNetwork,
    #[error("kiln connects containers to user networks only, not to {0}")]
    Builtin(String),
    #[error("No such container: {0}")]
    NoSuchContainer(String),
    #[error("invalid network alias {0:?}")]
    BadAlias(String),
    #[error("container {0} is restarting, wait until it runs")]
    Restarting(String),
    #[error("editing the /etc/hosts of {container}: {source}")]
    Hosts {
        container: String,
        source: std::io::Error,
    },
}

/// The modes Docker lists as networks; kiln connects to user ones only.
const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

impl Engine {
    /// Connects container `ctr` to the user network `net`: from its next
    /// start on, and at once if it runs.
    pub fn connect_network(
        &self,
        net: &str,
        ctr: &str,
        opts: &ConnectOptions,
    ) -> Result<(), Error> {
        if BUILTIN.contains(&net) {
            return Err(ConnectError::Builtin(net.into()).into());
        }
        for alias in &opts.aliases {
            check_alias(alias)?;
        }
        let store = self.network_store();
        let network = store.get(net)?;
        let c = self.connect_target(ctr)?;
        check_connectable(&c, &network)?;
        let live = live_pid(&c)?;
        if let Some(pid) = live {
            attach_live(&store, &network, &c, &opts.aliases, pid)?;
        }
        let record = connected(&c.record, &store, &network, &opts.aliases);
        if let Err(e) = self.containers().replace_record(record) {
            if let Some(pid) = live {
                let _ = detach_live(&store, &network, &c, pid);
            }
            return Err(e.into());
        }
        self.note(connect_event("connect", &network, &c));
        Ok(())
    }

    /// Takes container `ctr` off the user network `net`. With `force`, a
    /// container that is gone leaves no lease behind either.
    pub fn disconnect_network(&self, net: &str, ctr: &str, force: bool) -> Result<(), Error> {
        if BUILTIN.contains(&net) {
            return Err(ConnectError::Builtin(net.into()).into());
        }
        let store = self.network_store();
        let network = store.get(net)?;
        let c = match self.connect_target(ctr) {
            Ok(c) => c,
            Err(e) => return self.forget_lease(&store, &network, ctr, force, e),
        };
        if c.record.network != NetworkMode::User(network.name.clone()) {
            return Err(ConnectError::NotConnected {
                container: c.record.name.clone(),
                network: network.name.clone(),
            }
            .into());
        }
        if let Some(pid) = live_pid(&c)? {
            detach_live(&store, &network, &c, pid)?;
        }
        self.containers()
            .replace_record(disconnected(&c.record, &store, &network))?;
        self.note(connect_event("disconnect", &network, &c));
        Ok(())
    }

    /// The container `ctr` names, or Docker's message for none.
    fn connect_target(&self, ctr: &str) -> Result<Container, Error> {
        match self.containers().find(ctr) {
            Err(StateError::NotFound(_)) => Err(ConnectError::NoSuchContainer(ctr.into()).into()),
            found => Ok(found?),
        }
    }

    /// `disconnect -f` of a container that no longer exists: its lease
    /// (if the network still holds one by that name or ID) goes.
    fn forget_lease(
        &self,
        store: &Networks,
        network: &Network,
        ctr: &str,
        force: bool,
        not_found: Error,
    ) -> Result<(), Error> {
        let lease = store
            .leases(&network.name)
            .into_iter()
            .find(|l| l.name == ctr || l.id.starts_with(ctr));
        match lease {
            Some(l) if force => Ok(store.detach(&network.name, &l.id)?),
            _ => Err(not_found),
        }
    }
}

fn check_connectable(c: &Container, network: &Network) -> Result<(), ConnectError> {
    match &c.record.network {
        NetworkMode::Host => Err(ConnectError::HostNetwork),
        NetworkMode::User(n) if *n == network.name => Err(ConnectError::AlreadyConnected {
            container: c.record.name.clone(),
            network: network.name.clone(),
        }),
        NetworkMode::User(n) => Err(ConnectError::SecondNetwork {
            container: c.record.name.clone(),
            current: n.clone(),
            requested: network.name.clone(),
        }),
        NetworkMode::None | NetworkMode::Private => Ok(()),
    }
}

/// An alias is one word of a hosts line.
fn check_alias(alias: &str) -> Result<(), ConnectError> {
    if !crate::container::is_hosts_word(alias) {
        return Err(ConnectError::BadAlias(alias.into()));
    }
    Ok(())
}

/// The host PID of a running (or paused) container's first process.
fn live_pid(c: &Container) -> Result<Option<u32>, ConnectError> {
    match c.state.status {
        Status::Running | Status::Paused => match c.process_pid() {
            Some(pid) => Ok(Some(pid)),
            None => Err(ConnectError::Restarting(c.record.name.clone())),
        },
        Status::Restarting => Err(ConnectError::Restarting(c.record.name.clone())),
        Status::Created | Status::Exited | Status::Dead => Ok(None),
    }
}

/// A veth and an address in the running container's namespace, its
/// name in the network's hosts file, the network's names in its own.
fn attach_live(
    store: &Networks,
    network: &Network,
    c: &Container,
    aliases: &[String],
    pid: u32,
) -> Result<(), Error> {
    let r = &c.record;
    let ip = match store.attach_running(&network.name, &r.id, &r.name, aliases, pid) {
        Ok(ip) => ip,
        Err(e) => {
            // The veth may be there already: a failed hosts write comes last.
            let _ = store.unplug(&network.name, &r.id, pid);
            return Err(e.into());
        }
    };
    let _ = update_state(&c.dir, |s| s.ip = Some(ip));
    Ok(())
}

fn detach_live(store: &Networks, network: &Network, c: &Container, pid: u32) -> Result<(), Error> {
    store.unplug(&network.name, &c.record.id, pid)?;
    // On a container started on the network this is the shared file,
    // which the detach above already rewrote; the edit is then a no-op.
    container_hosts::remove(pid, &network.prefix()).map_err(|e| hosts_error(c, e))?;
    let _ = update_state(&c.dir, |s| s.ip = None);
    Ok(())
}

fn hosts_error(c: &Container, source: std::io::Error) -> Error {
    ConnectError::Hosts {
        container: c.record.name.clone(),
        source,
    }
    .into()
}

/// The record of a container that starts on `network`: the mode, the
/// network's shared hosts file as /etc/hosts, its aliases, and the mode
/// it had, for a disconnect to give back.
fn connected(r: &Record, store: &Networks, network: &Network, aliases: &[String]) -> Record {
    let mut record = r.clone();
    let before = record.network.name().to_string();
    record.network = NetworkMode::User(network.name.clone());
    let mut mounts = record.spec.mounts().clone().unwrap_or_default();
    mounts.retain(|m| m.destination().as_os_str() != "/etc/hosts");
    mounts.push(hosts_mount(store, network));
    record.spec.set_mounts(Some(mounts));
    let mut notes = record.spec.annotations().clone().unwrap_or_default();
    notes.insert(CONNECTED_FROM_ANNOTATION.into(), before);
    if aliases.is_empty() {
        notes.remove(ALIASES_ANNOTATION);
    } else {
        notes.insert(ALIASES_ANNOTATION.into(), aliases.join("\n"));
    }
    record.spec.set_annotations(Some(notes));
    record
}

/// The record without the network: the mode it had before a connect
/// (none when it was made on the network, as Docker leaves it).
fn disconnected(r: &Record, store: &Networks, network: &Network) -> Record {
    let mut record = r.clone();
    let hosts = store.hosts_path(&network.name);
    let mut mounts = record.spec.mounts().clone().unwrap_or_default();
    mounts.retain(|m| m.source().as_deref() != Some(hosts.as_path()));
    record.spec.set_mounts(Some(mounts));
    let mut notes = record.spec.annotations().clone().unwrap_or_default();
    let before = notes.remove(CONNECTED_FROM_ANNOTATION);
    notes.remove(ALIASES_ANNOTATION);
    record.spec.set_annotations(Some(notes));
    record.network = match before.as_deref() {
        Some("bridge") => NetworkMode::Private,
        _ => NetworkMode::None,
    };
    record
}

fn hosts_mount(store: &Networks, network: &Network) -> Mount {
    let mut m = Mount::default();
    m.set_destination("/etc/hosts".into());
    m.set_typ(Some("bind".into()));
    m.set_source(Some(store.hosts_path(&network.name)));
    m.set_options(Some(vec!["rbind".into(), "rw".into()]));
    m
}

/// Docker's network event for a container joining or leaving.
fn connect_event(action: &str, network: &Network, c: &Container) -> Event {
    Event::new(EventType::Network, action, &network.id)
        .with("container", c.record.id.clone())
        .with("name", network.name.clone())
        .with("type", "bridge")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_are_single_words() {
        assert!(check_alias("api").is_ok());
        for bad in ["", "a b", "a#b", "a\nb"] {
            assert!(check_alias(bad).is_err(), "{bad:?}");
        }
    }
}
