//! `save` and `load`: images to and from `docker save` archives and OCI
//! image layouts.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use kiln_cache::archive::docker::SaveImage;
use kiln_cache::archive::{self, LoadedImage};
use kiln_cache::image_store::ImageEntry;
use kiln_cache::Reference;

use super::error::ImageError;
use crate::output_file::OutputFile;
use crate::{Engine, Error};

/// The kind of archive `save` writes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// `docker save`'s.
    #[default]
    Docker,
    /// An OCI image layout.
    Oci,
}

impl Engine {
    /// Writes the images `references` name to `out` as one archive.
    pub fn save_images<W: Write>(
        &self,
        references: &[String],
        format: ArchiveFormat,
        out: W,
    ) -> Result<W, Error> {
        let store = self.image_store()?;
        let entries = named_entries(&store, references)?;
        self.write_archive(&store, &entries, format, out)
    }

    /// As [`Engine::save_images`], into the file `path`: written beside it
    /// and renamed, so a failed save never leaves a truncated archive under
    /// the asked-for name.
    pub fn save_images_to(
        &self,
        references: &[String],
        format: ArchiveFormat,
        path: &Path,
    ) -> Result<(), Error> {
        let store = self.image_store()?;
        let entries = named_entries(&store, references)?;
        let out = OutputFile::create(path).map_err(file_error("creating", path))?;
        let written = self
            .write_archive(&store, &entries, format, BufWriter::new(out.file()))
            .and_then(|mut w| w.flush().map_err(file_error("writing", path)));
        if let Err(e) = written {
            out.abandon();
            return Err(e);
        }
        out.commit().map_err(file_error("writing", path))
    }

    fn write_archive<W: Write>(
        &self,
        store: &kiln_cache::Store,
        entries: &[(ImageEntry, Vec<Reference>)],
        format: ArchiveFormat,
        out: W,
    ) -> Result<W, Error> {
        let items: Vec<SaveImage<'_>> = entries
            .iter()
            .map(|(entry, names)| SaveImage {
                image: &entry.image,
                names: names.clone(),
            })
            .collect();
        let out = match format {
            ArchiveFormat::Oci => archive::save_oci(store, &items, out, None),
            ArchiveFormat::Docker => archive::save_docker(store, &items, out),
        }
        .map_err(ImageError::from)?;
        for (entry, _) in entries {
            let id = entry.image.id().to_string();
            self.note_image("save", &id, &id);
        }
        Ok(out)
    }

    /// Stores every image of the archive read from `input` (docker or OCI,
    /// compressed or not).
    pub fn load_images(&self, input: impl Read) -> Result<Vec<LoadedImage>, Error> {
        let store = self.image_store()?;
        let loaded = archive::load(&store, input).map_err(ImageError::from)?;
        for image in &loaded {
            let id = image.id.to_string();
            self.note_image("load", &id, &id);
        }
        Ok(loaded)
    }
}

/// Each image with the names it is saved under: the name it was asked by,
/// none when asked by ID (as `docker save`).
fn named_entries(
    store: &kiln_cache::Store,
    references: &[String],
) -> Result<Vec<(ImageEntry, Vec<Reference>)>, Error> {
    let mut entries = Vec::new();
    for reference in references {
        let entry = store.resolve_image(reference)?;
        let names = Reference::parse_normalized(reference)
            .ok()
            .filter(|r| entry.refs.contains(r))
            .into_iter()
            .collect();
        entries.push((entry, names));
    }
    Ok(entries)
}

fn file_error(op: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.to_path_buf();
    move |source| ImageError::File { op, path, source }.into()
}
