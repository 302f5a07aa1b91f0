//! Images as the image commands see them: listed, tagged, removed,
//! inspected, imported, saved, loaded, pulled and pushed, each journaled as
//! Docker's image events. Operations take typed options and return typed
//! results; rendering them (tables, `--format`, progress bars) is the
//! caller's.

mod archive;
mod change;
mod error;
mod filter;
mod import;
mod inspect;
mod list;
mod pattern;
mod pull;
mod push;
mod remove;
mod tag;

use kiln_cache::Store;

pub use archive::ArchiveFormat;
pub use change::{parse_change, ChangeError};
pub use error::ImageError;
pub use filter::ImageFilters;
pub use import::ImportOptions;
pub(crate) use inspect::image_object;
pub use kiln_cache::archive::LoadedImage;
pub use kiln_cache::image::history::HistoryRow;
pub use kiln_cache::registry::{Event as LayerEvent, LayerState};
pub use list::ImageRow;
pub use pull::{PullNeed, PullOptions, PullPolicy, Pulled};
pub use push::{PushOptions, Pushed};
pub use remove::Removed;

use crate::events::{Event, EventType};
use crate::{Engine, Error};

/// What a pull or push reports while it runs; called from worker threads.
#[derive(Debug, Clone, Copy)]
pub enum Transfer<'a> {
    /// The image is found (push) or the store is open (pull): the transfer
    /// starts now.
    Started,
    /// A layer's new state.
    Layer(&'a LayerEvent),
}

/// The callback a pull or push reports to.
pub type Progress<'a> = &'a (dyn Fn(Transfer<'_>) + Sync);

impl Engine {
    /// The store, with the message the image commands have always given
    /// when it cannot be opened.
    fn image_store(&self) -> Result<Store, Error> {
        Store::open(self.root()).map_err(|source| Error::StoreAt {
            root: self.root().to_path_buf(),
            source,
        })
    }

    /// Docker's image event: the actor is `id`, its `name` attribute
    /// `name` (an image ID for untag, delete, import, load and save; the
    /// reference for tag, pull and push).
    fn note_image(&self, action: &str, id: &str, name: &str) {
        self.note(Event::new(EventType::Image, action, id).with("name", name));
    }
}
