//! What a pull or push reports while it runs, one event per layer change,
//! the states `docker pull` and `docker push` show. The CLI renders them
//! (bars on a terminal, lines otherwise); the library never prints.

use crate::digest::Digest;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayerState {
    /// Queued behind other layers.
    Waiting,
    /// In the store (pull) or in the registry (push) already.
    Exists,
    /// Bytes received so far; the layer is unpacked as it arrives.
    Downloading {
        done: u64,
    },
    /// Unpacking a layer whose blob was already in the store.
    Extracting,
    /// Verified and committed.
    Complete,
    /// Linked from another repository on the same registry.
    Mounted {
        from: String,
    },
    /// Bytes sent so far.
    Uploading {
        done: u64,
    },
    Pushed,
}

/// One layer's (or a config's) new state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub digest: Digest,
    pub size: u64,
    pub state: LayerState,
}

/// The callback pull and push report to; called from worker threads.
pub type Progress<'a> = &'a (dyn Fn(&Event) + Sync);

/// A progress callback that ignores everything.
pub fn silent(_: &Event) {}
