//! The operations a step performs (BuildKit's `ops`): `exec` runs a RUN in
//! a container, `file` writes COPY/ADD/WORKDIR results into a new layer
//! directory, `source` turns a base into layer directories.

pub mod archive;
pub mod chown;
pub mod exec;
pub mod fetch;
pub mod file;
pub mod layered;
pub mod mode;
pub mod mounts;
