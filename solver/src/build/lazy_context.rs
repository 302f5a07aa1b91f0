//! The build context as dispatch reads it: walked and hashed on the first
//! COPY from it only, so a build that copies nothing from the context
//! never walks it.

use std::path::PathBuf;
use std::sync::Mutex;

use crate::context::select::{ContextIndex, Selected};
use crate::context::stat_cache::StatCache;
use crate::context::{contenthash, walk_shared, Entry};
use crate::session::BuildSession;
use crate::BuildError;

pub(super) struct LazyContext<'a> {
    session: &'a BuildSession,
    stat_dir: PathBuf,
    state: Mutex<Option<(ContextIndex, StatCache)>>,
}

impl<'a> LazyContext<'a> {
    /// The context of `session`, its stat cache kept in `stat_dir`.
    pub(super) fn new(session: &'a BuildSession, stat_dir: PathBuf) -> LazyContext<'a> {
        LazyContext {
            session,
            stat_dir,
            state: Mutex::new(None),
        }
    }

    /// The entries `source` selects, with their content digests.
    pub(super) fn select(&self, source: &str) -> Result<(Vec<Selected>, Vec<String>), BuildError> {
        let mut guard = self
            .state
            .lock()
            .map_err(|_| BuildError::Internal("context lock poisoned"))?;
        if guard.is_none() {
            *guard = Some(self.load()?);
        }
        let Some((index, cache)) = guard.as_mut() else {
            return Err(BuildError::Internal("context not loaded"));
        };
        let selected = index.select(source)?;
        let refs: Vec<&Entry> = selected
            .iter()
            .flat_map(|s| s.entries.iter().map(|e| &**e))
            .collect();
        let digests = contenthash::digests(self.root(), &refs, cache)?;
        Ok((selected, digests))
    }

    /// Writes the stat cache back, if the context was read.
    pub(super) fn save(&self) {
        if let Ok(mut guard) = self.state.lock() {
            if let Some((_, cache)) = guard.as_mut() {
                // The stat cache only saves work; failing to write it is not an error.
                let _ = cache.save();
            }
        }
    }

    fn root(&self) -> &std::path::Path {
        &self.session.options().context
    }

    /// Walks the context while the stat cache is read: both are needed
    /// and neither waits for the other.
    fn load(&self) -> Result<(ContextIndex, StatCache), BuildError> {
        let matcher = &self.session.ignore()?.matcher;
        let (entries, cache) = rayon::join(
            || walk_shared(self.root(), matcher),
            || StatCache::load(&self.stat_dir, self.root()),
        );
        Ok((ContextIndex::new(self.root(), entries?), cache))
    }
}
