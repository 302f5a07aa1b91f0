//! `search REGISTRY/TERM`: the repositories of a registry whose name
//! contains the term, from its catalog. Docker searches Docker Hub through
//! the Hub's own search API, which no other registry has; kiln searches
//! the registry the term names and says so when it names none.

use kiln_cache::registry::catalog;
use kiln_cache::registry::{RegistryConfig, RegistryError};

use crate::Engine;

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("search {0:?}: name the registry to search, as REGISTRY/TERM (kiln searches a registry's catalog; Docker Hub has none)")]
    NoRegistry(String),
    #[error("searching {host}")]
    Registry {
        host: String,
        #[source]
        source: RegistryError,
    },
}

/// One repository found, under the fields of Docker's search results.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    /// `REGISTRY/REPOSITORY`, as it would be pulled.
    pub name: String,
}

impl Engine {
    pub fn search(
        &self,
        config: &RegistryConfig,
        term: &str,
        limit: usize,
    ) -> Result<Vec<Found>, SearchError> {
        let (host, text) = split_term(term).ok_or_else(|| SearchError::NoRegistry(term.into()))?;
        let names =
            catalog::search(config, host, text, limit).map_err(|source| SearchError::Registry {
                host: host.to_string(),
                source,
            })?;
        Ok(names
            .into_iter()
            .map(|repo| Found {
                name: format!("{host}/{repo}"),
            })
            .collect())
    }
}

/// `HOST/TEXT` when the first component is a registry host, as a
/// reference's domain is told apart: it has a dot or a port, or is
/// `localhost`.
fn split_term(term: &str) -> Option<(&str, &str)> {
    let (host, text) = term.split_once('/')?;
    let is_host = host.contains('.') || host.contains(':') || host == "localhost";
    is_host.then_some((host, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registry_is_the_first_component_when_it_looks_like_a_host() {
        assert_eq!(
            split_term("127.0.0.1:5000/busy"),
            Some(("127.0.0.1:5000", "busy"))
        );
        assert_eq!(
            split_term("registry.example/team/app"),
            Some(("registry.example", "team/app"))
        );
        assert_eq!(split_term("localhost/x"), Some(("localhost", "x")));
        assert_eq!(split_term("busybox"), None);
        assert_eq!(split_term("library/busybox"), None);
    }
}
