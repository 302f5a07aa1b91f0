//! FROM auto-pull: base images a build needs are fetched from their
//! registry before dispatch, as BuildKit resolves every `FROM` first
//! (`[internal] load metadata for …`). Without `--pull` an image already
//! in the store is used as is; with it the registry is asked again and the
//! tag moves if the image changed there (`docker build --pull`).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use kiln_cache::registry::{self, LayerState, Platform, RegistryConfig};
use kiln_cache::units::human_size;
use kiln_cache::{Reference, Store, StoreError};
use kiln_parser::expand::Lexer;

use crate::plan::{stage_ref, Stage};
use crate::progress::{Event, Progress};
use crate::variables::Scope;
use crate::BuildError;

/// What pulling needs from the build's options.
pub struct PullSettings<'a> {
    pub registry: &'a RegistryConfig,
    /// `--pull`: ask the registry even for images in the store.
    pub always: bool,
    /// The build's `--platform`, for stages without `FROM --platform`.
    pub platform: Option<&'a Platform>,
}

/// The image references the `needed` stages start FROM (not stages, not
/// scratch), expanded with the global ARGs as FROM lines are, each with
/// the platform its stage is for. The store keeps one image per name, so
/// one name wanted for two platforms is refused.
pub fn base_images(
    stages: &[Stage],
    needed: &[usize],
    globals: &Scope,
    lexer: &Lexer,
    build: Option<&Platform>,
) -> Result<BTreeMap<String, Platform>, BuildError> {
    let mut out: BTreeMap<String, Platform> = BTreeMap::new();
    for &i in needed {
        let Some(stage) = stages.get(i) else { continue };
        let name = lexer
            .process_word(&stage.from.image, globals)
            .map_err(|e| BuildError::Instruction {
                line: stage.line,
                message: e.to_string(),
            })?;
        let is_stage =
            stage_ref(stages, stage.index, &name).is_some() && name.parse::<usize>().is_err();
        if is_stage || name.eq_ignore_ascii_case("scratch") {
            continue;
        }
        let platform = crate::platform::for_stage(stage, globals, lexer, build)?;
        match out.get(&name) {
            Some(other) if *other != platform => {
                return Err(BuildError::Instruction {
                    line: stage.line,
                    message: format!(
                        "{name} is wanted for both {other} and {platform}; kiln keeps one image \
                         per name, so give one of them another name (kiln tag)"
                    ),
                })
            }
            _ => {
                out.insert(name, platform);
            }
        }
    }
    Ok(out)
}

/// Pulls each of `names` that the store lacks (all of them with `--pull`).
/// Progress vertices are taken from `vertex`.
pub fn pull_missing(
    store: &Store,
    names: &BTreeMap<String, Platform>,
    settings: &PullSettings<'_>,
    progress: &Progress,
    vertex: &AtomicUsize,
) -> Result<(), BuildError> {
    for (name, platform) in names {
        let stored = match store.resolve_image(name) {
            Ok(entry) => Some(is_for(store, &entry.image, platform)),
            Err(StoreError::ImageNotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        if stored == Some(true) && !settings.always {
            continue;
        }
        let reference =
            Reference::parse_normalized(name).map_err(|source| BuildError::BaseReference {
                name: name.clone(),
                source,
            })?;
        let v = vertex.fetch_add(1, Ordering::SeqCst) + 1;
        match pull_one(store, &reference, settings, platform, progress, v) {
            // The stored image is for another platform: the failed pull is
            // on its vertex already, and the stage then refuses the image
            // by name, which says more than the pull error alone.
            Err(_) if stored == Some(false) => {}
            other => other?,
        }
    }
    Ok(())
}

/// Whether the stored `image` is for `platform` (as `docker pull
/// --platform` replaces a tag's image made for another one).
fn is_for(store: &Store, image: &kiln_cache::ImageRecord, platform: &Platform) -> bool {
    store
        .image_config(image)
        .ok()
        .and_then(|bytes| kiln_cache::image::ImageConfig::from_base(&bytes).ok())
        .is_some_and(|c| crate::platform::check_base("", &c, platform).is_ok())
}

fn pull_one(
    store: &Store,
    reference: &Reference,
    settings: &PullSettings<'_>,
    platform: &Platform,
    progress: &Progress,
    vertex: usize,
) -> Result<(), BuildError> {
    progress.send(Event::Started {
        vertex,
        name: format!("[internal] load metadata for {reference}"),
    });
    let started = Instant::now();
    let report = |e: &registry::Event| {
        if let Some(line) = layer_line(e) {
            progress.send(Event::Log { vertex, line });
        }
    };
    let pulled = off_runtime(|| {
        registry::pull(store, reference, settings.registry, Some(platform), &report)
    });
    match pulled {
        Ok(image) => {
            progress.send(Event::Log {
                vertex,
                line: format!("resolved {reference} to {}", image.manifest.digest),
            });
            progress.send(Event::Done {
                vertex,
                elapsed: started.elapsed(),
            });
            Ok(())
        }
        Err(cause) => {
            let failed = BuildError::Pull {
                reference: reference.familiar(),
                cause: Box::new(cause),
            };
            progress.send(Event::Failed {
                vertex,
                message: failed.to_string(),
            });
            Err(failed)
        }
    }
}

/// A layer's state as BuildKit's plain progress writes it.
pub fn layer_line(e: &registry::Event) -> Option<String> {
    let short = e.digest.to_string();
    let size = human_size(e.size);
    match &e.state {
        LayerState::Waiting => None,
        LayerState::Exists => Some(format!("{short} {size} already exists")),
        LayerState::Downloading { done } => Some(format!("{short} {} / {size}", human_size(*done))),
        LayerState::Extracting => Some(format!("extracting {short}")),
        LayerState::Complete => Some(format!("{short} {size} done")),
        LayerState::Mounted { from } => Some(format!("{short} mounted from {from}")),
        LayerState::Uploading { done } => Some(format!("{short} {} / {size}", human_size(*done))),
        LayerState::Pushed => Some(format!("{short} {size} pushed")),
    }
}

/// Runs blocking registry IO off any tokio runtime: reqwest's blocking
/// client refuses to run on a runtime's worker, and a library caller may
/// call [`crate::build`] from one.
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|s| match s.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}
