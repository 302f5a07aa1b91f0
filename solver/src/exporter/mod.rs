//! Build outputs (BuildKit's exporters): `image` puts layers and the image
//! into the store; `archive` writes `--output type=oci|docker,dest=…`;
//! `local` writes the final filesystem (`type=local`, `type=tar`); `push`
//! sends the image to a registry (`--push`), `compress` makes the
//! compressed layer blobs it and cache exports ship; `encoder` is the
//! layer compression (levels, every core) and `annotations` the
//! `--annotation` places they all share.

pub mod annotations;
pub mod archive;
pub mod compress;
pub mod encoder;
pub mod epoch;
pub mod error;
pub mod image;
pub mod local;
pub mod push;
pub mod squash;
