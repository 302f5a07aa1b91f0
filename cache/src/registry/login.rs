//! `kiln login`: proves credentials against a registry before they are
//! stored, as `docker login` does, by asking for `/v2/` with them.

use super::client::Client;
use super::config::RegistryConfig;
use super::credentials::Credentials;
use super::RegistryError;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    #[error("login to {host} failed: wrong username or password")]
    Refused { host: String },
    #[error("login to {host} failed")]
    Failed {
        host: String,
        #[source]
        source: RegistryError,
    },
}

/// Succeeds when `host` accepts `creds` (or needs none).
pub fn login(config: &RegistryConfig, host: &str, creds: &Credentials) -> Result<(), LoginError> {
    let failed = |source| LoginError::Failed {
        host: host.to_string(),
        source,
    };
    let client = Client::new(config.endpoint(host), "", Some(creds.clone())).map_err(failed)?;
    match client.ping() {
        Ok(()) => Ok(()),
        Err(RegistryError::Unauthorized { .. } | RegistryError::TokenRefused { .. }) => {
            Err(LoginError::Refused {
                host: host.to_string(),
            })
        }
        Err(e) => Err(failed(e)),
    }
}
