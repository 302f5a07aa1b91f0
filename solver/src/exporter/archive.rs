//! `--output type=oci|docker,dest=FILE`: the built image written as an OCI
//! layout or `docker save` archive (`dest=-` is stdout, as buildx has it).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use kiln_cache::archive::{docker, oci};
use kiln_cache::{ImageRecord, Reference, Store};

use crate::BuildError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveKind {
    /// With the layers re-encoded in this compression, if any.
    Oci(Option<kiln_cache::compression::Compression>),
    Docker,
}

/// Writes `image` under `names` to `dest`.
pub fn export(
    store: &Store,
    kind: ArchiveKind,
    image: &ImageRecord,
    names: &[Reference],
    dest: &Path,
) -> Result<(), BuildError> {
    let out: Box<dyn Write> = if dest == Path::new("-") {
        Box::new(std::io::stdout().lock())
    } else {
        let f = File::create(dest)
            .map_err(|e| BuildError::Output(format!("{}: {e}", dest.display())))?;
        Box::new(f)
    };
    let out = BufWriter::with_capacity(1 << 20, out);
    let items = [docker::SaveImage {
        image,
        names: names.to_vec(),
    }];
    let mut out = match kind {
        ArchiveKind::Oci(c) => oci::save(store, &items, out, c),
        ArchiveKind::Docker => docker::save(store, &items, out),
    }
    .map_err(|e| BuildError::Output(e.to_string()))?;
    out.flush().map_err(|e| BuildError::Output(e.to_string()))
}
