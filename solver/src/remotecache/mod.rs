//! Cache export and import (BuildKit's remotecache): `--cache-to` writes
//! the cache records of a build, with their layers, where another machine
//! can read them; `--cache-from` lets a build take steps from there by key.
//!
//! * `format`: the cache config (keys → layers, parents, ingredients).
//! * `local`: an OCI image layout in a directory (`type=local`).
//! * `registry`: a manifest in a registry (`type=registry`).
//! * `inline`: the cache config inside the built image's config.
//! * `cachemount`: `RUN --mount=type=cache` contents shipped beside the
//!   records (`cache-mounts=true`), so a fresh runner starts warm.
//! * `export` / `import`: which records go out; which stages a build with
//!   imported records still has to run, and fetching the layers it needs.

pub mod cachemount;
pub mod error;
pub mod export;
pub mod format;
pub mod import;
pub mod inline;
pub mod local;
pub mod registry;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use kiln_cache::image::ImageConfig;
use kiln_cache::registry::RegistryConfig;
use kiln_cache::{Reference, Store};

use crate::dispatch::Dispatched;
use crate::progress::{Event, Progress};
use crate::pull::off_runtime;
use crate::BuildError;
pub use error::CacheError;

/// `mode=min` (BuildKit's default): only the records of the result's
/// layers. `mode=max`: every stage's, intermediate ones too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Min,
    Max,
}

/// `cache-mounts=true[,cache-mounts-max=SIZE]` of a `--cache-to`: ship
/// the build's cache mounts, each at most `max` bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MountExport {
    pub enabled: bool,
    pub max: Option<u64>,
}

/// One `--cache-to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheTo {
    Local {
        dest: PathBuf,
        mode: Mode,
        mounts: MountExport,
    },
    Registry {
        reference: Reference,
        mode: Mode,
        mounts: MountExport,
    },
    Inline,
}

/// One `--cache-from`; `mounts`: `cache-mounts=true`, restore the cache
/// mounts it carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CacheFrom {
    Local { src: PathBuf, mounts: bool },
    Registry { reference: Reference, mounts: bool },
}

#[derive(Debug, thiserror::Error)]
pub enum CacheSpecError {
    #[error("{0:?}: expected key=value pairs")]
    Pair(String),
    #[error("{spec:?}: unknown type {kind:?} (local, registry, inline)")]
    Type { spec: String, kind: String },
    #[error("{spec:?}: {key}= is required")]
    Missing { spec: String, key: &'static str },
    #[error("{spec:?}: mode must be min or max, not {mode:?}")]
    Mode { spec: String, mode: String },
    #[error("{spec:?}: {message}")]
    Reference { spec: String, message: String },
    #[error("{spec:?}: cache-mounts must be true or false, not {value:?}")]
    Bool { spec: String, value: String },
    #[error("{spec:?}: cache-mounts-max")]
    Size {
        spec: String,
        #[source]
        source: kiln_cache::units::UnitsError,
    },
}

struct Spec {
    text: String,
    pairs: Vec<(String, String)>,
}

impl Spec {
    /// `type=local,dest=DIR`; a bare value is BuildKit's short form of
    /// `type=registry,ref=VALUE`.
    fn parse(text: &str) -> Result<Spec, CacheSpecError> {
        if !text.contains('=') {
            return Ok(Spec {
                text: text.to_string(),
                pairs: vec![
                    ("type".into(), "registry".into()),
                    ("ref".into(), text.into()),
                ],
            });
        }
        let pairs = text
            .split(',')
            .map(|p| {
                p.split_once('=')
                    .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.to_string()))
                    .ok_or_else(|| CacheSpecError::Pair(text.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Spec {
            text: text.to_string(),
            pairs,
        })
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn need(&self, key: &'static str) -> Result<&str, CacheSpecError> {
        self.get(key).ok_or_else(|| CacheSpecError::Missing {
            spec: self.text.clone(),
            key,
        })
    }

    fn kind(&self) -> Result<&str, CacheSpecError> {
        self.need("type")
    }

    fn mode(&self) -> Result<Mode, CacheSpecError> {
        match self.get("mode") {
            None | Some("min") => Ok(Mode::Min),
            Some("max") => Ok(Mode::Max),
            Some(other) => Err(CacheSpecError::Mode {
                spec: self.text.clone(),
                mode: other.to_string(),
            }),
        }
    }

    fn reference(&self) -> Result<Reference, CacheSpecError> {
        Reference::parse_normalized(self.need("ref")?).map_err(|e| CacheSpecError::Reference {
            spec: self.text.clone(),
            message: e.to_string(),
        })
    }

    fn mounts(&self) -> Result<bool, CacheSpecError> {
        match self.get("cache-mounts") {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => Err(CacheSpecError::Bool {
                spec: self.text.clone(),
                value: other.to_string(),
            }),
        }
    }

    fn mount_export(&self) -> Result<MountExport, CacheSpecError> {
        let max = self.get("cache-mounts-max").map(|v| {
            kiln_cache::units::parse_ram_bytes(v).map_err(|source| CacheSpecError::Size {
                spec: self.text.clone(),
                source,
            })
        });
        Ok(MountExport {
            enabled: self.mounts()?,
            max: max.transpose()?,
        })
    }

    fn unknown_type(&self, kind: &str) -> CacheSpecError {
        CacheSpecError::Type {
            spec: self.text.clone(),
            kind: kind.to_string(),
        }
    }
}

impl CacheTo {
    pub fn parse(text: &str) -> Result<CacheTo, CacheSpecError> {
        let spec = Spec::parse(text)?;
        match spec.kind()? {
            "local" => Ok(CacheTo::Local {
                dest: PathBuf::from(spec.need("dest")?),
                mode: spec.mode()?,
                mounts: spec.mount_export()?,
            }),
            "registry" => Ok(CacheTo::Registry {
                reference: spec.reference()?,
                mode: spec.mode()?,
                mounts: spec.mount_export()?,
            }),
            "inline" => Ok(CacheTo::Inline),
            other => Err(spec.unknown_type(other)),
        }
    }
}

impl CacheFrom {
    pub fn parse(text: &str) -> Result<CacheFrom, CacheSpecError> {
        let spec = Spec::parse(text)?;
        match spec.kind()? {
            "local" => Ok(CacheFrom::Local {
                src: PathBuf::from(spec.need("src")?),
                mounts: spec.mounts()?,
            }),
            "registry" => Ok(CacheFrom::Registry {
                reference: spec.reference()?,
                mounts: spec.mounts()?,
            }),
            other => Err(spec.unknown_type(other)),
        }
    }
}

/// The build a remote cache is imported into or exported from: its
/// store, its dispatched stages and target, and the caches every
/// `--cache-from` gave (empty when nothing was imported).
pub struct CacheScope<'a> {
    pub store: &'a Store,
    pub plans: &'a Dispatched,
    pub target: usize,
    pub imported: &'a [import::Loaded],
}

/// Where and what [`export_all`] writes.
pub struct ExportTarget<'a> {
    pub cache_to: &'a [CacheTo],
    /// The result's `created` time (see [`finish_config`]).
    pub created: &'a str,
    /// `None`: the default registry settings.
    pub registry: Option<&'a RegistryConfig>,
}

/// The result's config before it is stored: a base image's inline cache
/// is not inherited; a fully cached build takes the imported `created`
/// time; `--cache-to type=inline` embeds this build's cache config.
/// Returns the `created` time the config now has.
pub fn finish_config(
    scope: &CacheScope<'_>,
    config: &mut ImageConfig,
    created: &str,
    fully_cached: bool,
    cache_to: &[CacheTo],
) -> Result<String, BuildError> {
    if let Some(doc) = config.doc.as_object_mut() {
        doc.remove(format::INLINE_KEY);
    }
    let final_key = scope.plans.get(&scope.target).map(|p| p.final_key.as_str());
    let created = match final_key {
        Some(key) => settle_created(scope, config, key, created, fully_cached),
        None => created.to_string(),
    };
    if cache_to.contains(&CacheTo::Inline) {
        let (cache, _) = export::collect(scope, Mode::Min, &created)?;
        inline::embed(config, &cache)?;
    }
    Ok(created)
}

/// The `created` time of a result with `final_key`: a fully cached build
/// takes the one an imported cache recorded, else the one this store
/// remembered (so a cached rebuild gives back the same image ID); what
/// this store did not import is remembered for next time.
fn settle_created(
    scope: &CacheScope<'_>,
    config: &mut ImageConfig,
    final_key: &str,
    created: &str,
    fully_cached: bool,
) -> String {
    let imported = import::created_for(scope.imported, final_key).filter(|_| fully_cached);
    if let Some(then) = imported {
        import::reuse_created(config, created, then);
        return then.to_string();
    }
    let root = scope.store.root();
    let mut settled = created.to_string();
    if let Some(then) = crate::created::remembered(root, final_key).filter(|_| fully_cached) {
        import::reuse_created(config, created, &then);
        settled = then;
    }
    crate::created::remember(root, final_key, &settled);
    settled
}

/// Writes every `--cache-to` but inline (done in [`finish_config`]).
pub fn export_all(
    scope: &CacheScope<'_>,
    target: &ExportTarget<'_>,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<(), BuildError> {
    for to in target.cache_to {
        let (name, mode, mounts) = match to {
            CacheTo::Inline => continue,
            CacheTo::Local {
                dest, mode, mounts, ..
            } => (dest.display().to_string(), *mode, *mounts),
            CacheTo::Registry {
                reference,
                mode,
                mounts,
            } => (reference.to_string(), *mode, *mounts),
        };
        let v = vertex.fetch_add(1, Ordering::SeqCst) + 1;
        let started = Instant::now();
        progress.send(Event::Started {
            vertex: v,
            name: format!("exporting cache to {name}"),
        });
        if let Err(e) = export_one(scope, target, to, (mode, mounts), progress, v) {
            progress.send(Event::Failed {
                vertex: v,
                message: error::with_causes(&e),
            });
            return Err(e);
        }
        progress.send(Event::Done {
            vertex: v,
            elapsed: started.elapsed(),
        });
    }
    Ok(())
}

/// One `--cache-to`: its records and layers collected, compressed, and
/// written to the directory or registry it names.
fn export_one(
    scope: &CacheScope<'_>,
    target: &ExportTarget<'_>,
    to: &CacheTo,
    (mode, mounts): (Mode, MountExport),
    progress: &Progress,
    vertex: usize,
) -> Result<(), BuildError> {
    let store = scope.store;
    let (mut config, layers) = export::collect(scope, mode, target.created)?;
    let mut shipped = export::ship_layers(store, &mut config, &layers)?;
    let layer_count = shipped.len();
    if mounts.enabled {
        shipped.extend(cachemount::pack_all(
            scope,
            &mut config,
            mounts.max,
            progress,
        )?);
    }
    let (config_ref, manifest_ref) = export::manifest(store, &config, &shipped)?;
    progress.send(Event::Log {
        vertex,
        line: format!(
            "{} records, {} layers, {} cache mounts, manifest {}",
            config.records.len(),
            layer_count,
            config.cache_mounts.len(),
            manifest_ref.digest
        ),
    });
    match to {
        CacheTo::Local { dest, .. } => {
            local::write(store, dest, &config_ref, &manifest_ref, &shipped)?
        }
        CacheTo::Registry { reference, .. } => {
            let registry = target.registry.cloned().unwrap_or_default();
            off_runtime(|| {
                registry::write(
                    store,
                    reference,
                    &registry,
                    &config_ref,
                    &manifest_ref,
                    &shipped,
                )
            })?;
        }
        CacheTo::Inline => {}
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_as_buildx_writes_them() {
        assert_eq!(
            CacheTo::parse("type=local,dest=/tmp/c,mode=max").unwrap(),
            CacheTo::Local {
                dest: "/tmp/c".into(),
                mode: Mode::Max,
                mounts: MountExport::default(),
            }
        );
        let CacheTo::Local { mounts, .. } =
            CacheTo::parse("type=local,dest=/c,cache-mounts=true,cache-mounts-max=1g").unwrap()
        else {
            panic!("local");
        };
        assert_eq!(
            mounts,
            MountExport {
                enabled: true,
                max: Some(1 << 30)
            }
        );
        assert!(matches!(
            CacheFrom::parse("type=local,src=/c,cache-mounts=true").unwrap(),
            CacheFrom::Local { mounts: true, .. }
        ));
        assert!(matches!(
            CacheTo::parse("type=local,dest=/c,cache-mounts=yes"),
            Err(CacheSpecError::Bool { .. })
        ));
        assert!(matches!(
            CacheTo::parse("type=local,dest=/c,cache-mounts-max=lots"),
            Err(CacheSpecError::Size { .. })
        ));
        assert_eq!(CacheTo::parse("type=inline").unwrap(), CacheTo::Inline);
        let CacheFrom::Registry { reference, .. } =
            CacheFrom::parse("127.0.0.1:5000/app:cache").unwrap()
        else {
            panic!("short form is a registry ref");
        };
        assert_eq!(reference.to_string(), "127.0.0.1:5000/app:cache");
        assert!(matches!(
            CacheTo::parse("type=registry,ref=x,mode=all"),
            Err(CacheSpecError::Mode { .. })
        ));
        assert!(matches!(
            CacheFrom::parse("type=local"),
            Err(CacheSpecError::Missing { key: "src", .. })
        ));
        assert!(matches!(
            CacheFrom::parse("type=gha"),
            Err(CacheSpecError::Type { .. })
        ));
    }
}
