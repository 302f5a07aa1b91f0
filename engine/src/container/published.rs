//! The ports a container publishes (`port`): only while it is live, since
//! a stopped container's forwarders are gone.

use kiln_runtime::network::PortBinding;

use crate::{Engine, Error};

impl Engine {
    /// Every port the container publishes, or with `want` (`80`,
    /// `53/udp`; tcp when no protocol is given) those of that one port,
    /// which must be published.
    pub fn published_ports(
        &self,
        key: &str,
        want: Option<&str>,
    ) -> Result<Vec<PortBinding>, Error> {
        let c = self.container(key)?;
        if !c.state.status.is_live() {
            return Ok(Vec::new());
        }
        let Some(want) = want else {
            return Ok(c.state.ports);
        };
        let (port, proto) = want.split_once('/').unwrap_or((want, "tcp"));
        let hits: Vec<PortBinding> = c
            .state
            .ports
            .into_iter()
            .filter(|p| p.container_port.to_string() == port && p.proto.as_str() == proto)
            .collect();
        if hits.is_empty() {
            return Err(Error::NotPublished {
                port: format!("{port}/{proto}"),
                container: c.record.name,
            });
        }
        Ok(hits)
    }
}
