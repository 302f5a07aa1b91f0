//! `kiln search`: the distribution API has no search, so a registry's
//! repository list (`GET /v2/_catalog`, paged) is read and filtered by the
//! term. Bounded: a registry that pages forever is read for
//! [`MAX_PAGES`] pages at most.

use super::client::Client;
use super::{RegistryConfig, RegistryError};

/// How many catalog pages one search reads at most (100 names a page).
pub const MAX_PAGES: usize = 100;

/// The repositories of `host` whose name contains `term`, in the
/// registry's order, `limit` at most.
pub fn search(
    config: &RegistryConfig,
    host: &str,
    term: &str,
    limit: usize,
) -> Result<Vec<String>, RegistryError> {
    let creds = config.credentials.get(host);
    let client = Client::new(config.endpoint(host), "", creds)?;
    let mut found = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let (repos, link) = client.catalog_page(next.as_deref())?;
        found.extend(repos.into_iter().filter(|r| r.contains(term)));
        if found.len() >= limit {
            found.truncate(limit);
            break;
        }
        match link {
            Some(l) => next = Some(l),
            None => break,
        }
    }
    Ok(found)
}
