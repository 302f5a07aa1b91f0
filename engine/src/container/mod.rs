//! Containers from images: [`CreateOptions`] become a runtime spec
//! (`spec`, `limits`, `security`), a root filesystem (`rootfs`), mounts,
//! ports and links, then a container record (`create`) or a foreground run
//! (`run`); `lifecycle` is what is done to a container once it exists.

mod create;
mod lifecycle;
mod limits;
mod links;
mod mounts;
mod options;
mod ports;
mod rootfs;
mod run;
mod security;
mod spec;

use kiln_runtime::Stdio;

pub use lifecycle::{stop_timeout, KillOptions, RemoveOptions, Signal, StartOptions, StopOptions};
pub use options::{CreateOptions, LimitOptions, Runtime};
pub use spec::new_id;

/// The container's stdio for `-t` and `-i`: a pty, or this process's own
/// (stdin only with `-i`). An init helper started early must have been
/// given the same.
pub fn stdio(tty: bool, interactive: bool) -> Stdio {
    if tty {
        Stdio::Pty
    } else {
        Stdio::Inherit { stdin: interactive }
    }
}
