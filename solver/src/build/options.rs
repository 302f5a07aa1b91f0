//! What a build is asked for ([`BuildOptions`], Docker's and buildx's
//! flags as values) and what it gives back ([`BuildResult`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use kiln_cache::{ImageRecord, Reference};

use crate::exporter::archive::ArchiveOptions;

/// Where the result goes besides the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// Only the store (`type=image`, the default).
    Image,
    /// An OCI layout archive (layers gzip unless the options say otherwise).
    Oci(PathBuf, ArchiveOptions),
    /// A `docker save` archive.
    Docker(PathBuf, ArchiveOptions),
    /// `type=local,dest=DIR`: the final filesystem as files.
    Local(PathBuf),
    /// `type=tar,dest=FILE`: the final filesystem as one tar.
    Tar(PathBuf),
}

/// `kiln build`'s inputs.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    pub context: PathBuf,
    /// Default `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--build-arg`s, values already taken from the environment for `K`.
    pub build_args: BTreeMap<String, String>,
    pub target: Option<String>,
    pub labels: Vec<(String, String)>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub jobs: usize,
    /// Every `--output`, in order (none: the store only).
    pub outputs: Vec<Output>,
    /// `--annotation K=V`: on the image manifest.
    pub annotations: Vec<(String, String)>,
    /// `--secret`.
    pub secrets: BTreeMap<String, crate::ops::mounts::SecretSource>,
    /// `--ssh ID=SOCKET`.
    pub ssh: BTreeMap<String, PathBuf>,
    /// `--no-cache-mounts`: cache mounts start empty in this build.
    pub no_cache_mounts: bool,
    /// `--network none`: RUN steps without a network unless they ask.
    pub network_none: bool,
    /// `--network host`: RUN steps share the host's network namespace.
    pub network_host: bool,
    /// `--allow network.host`: `RUN --network=host` may share it too.
    pub allow_network_host: bool,
    /// Clamp layer mtimes (SOURCE_DATE_EPOCH).
    pub source_date_epoch: Option<i64>,
    /// Registries for FROM auto-pull, `--push` and registry caches;
    /// `None`: nothing is pulled, base images must be in the store.
    pub registry: Option<kiln_cache::registry::RegistryConfig>,
    /// `--pull`: ask the registry for base images even when stored.
    pub pull: bool,
    /// `--platform`: which image of a multi-platform base to pull.
    pub platform: Option<kiln_cache::registry::Platform>,
    /// `--push` / `type=image,push=true`: push the result to its tags.
    pub push: bool,
    pub cache_to: Vec<crate::remotecache::CacheTo>,
    pub cache_from: Vec<crate::remotecache::CacheFrom>,
    /// `--build-context NAME=…`.
    pub named_contexts: BTreeMap<String, crate::context::named::NamedContext>,
    /// `--squash`: the target stage's layers over its base merged into one.
    pub squash: bool,
}

/// What a build made.
#[derive(Debug, Clone)]
pub struct BuildResult {
    pub image: ImageRecord,
    pub tags: Vec<Reference>,
    pub steps_run: usize,
    pub steps_cached: usize,
}

#[cfg(test)]
impl BuildOptions {
    /// A build of `context` with every flag at its default.
    pub(crate) fn in_context(context: &std::path::Path) -> BuildOptions {
        BuildOptions {
            context: context.to_path_buf(),
            dockerfile: None,
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            target: None,
            labels: Vec::new(),
            no_cache: false,
            no_cache_filter: Vec::new(),
            jobs: 1,
            outputs: Vec::new(),
            annotations: Vec::new(),
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            no_cache_mounts: false,
            network_none: false,
            network_host: false,
            allow_network_host: false,
            source_date_epoch: None,
            registry: None,
            pull: false,
            platform: None,
            push: false,
            cache_to: Vec::new(),
            cache_from: Vec::new(),
            named_contexts: BTreeMap::new(),
            squash: false,
        }
    }
}
