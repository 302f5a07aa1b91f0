//! Build outputs (BuildKit's exporters): `image` puts layers and the image
//! into the store; `archive` writes `--output type=oci|docker,dest=…`.

pub mod archive;
pub mod image;
