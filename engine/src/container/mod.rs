//! Containers from images: [`CreateOptions`] become a runtime spec
//! (`spec`, `limits`, `security`), a root filesystem (`rootfs`), mounts,
//! ports and links, then a container record (`create`) or a foreground run
//! (`run`); `lifecycle` is what is done to a container once it exists.
//! What can be seen of one and taken from it: `list`, `logs`, `inspect`,
//! `top`, `stats`, `changes`, `published` ports, `attach`, `exec`, `copy`,
//! `export`, `commit`.

mod attach;
mod changes;
mod commit;
mod copy;
mod create;
pub mod create_json;
mod devices;
mod dns;
pub(crate) use dns::is_hosts_word;
mod exec;
mod export;
mod expose;
mod health;
mod host_config;
mod host_namespaces;
mod inspect;
mod lifecycle;
mod limits;
mod links;
mod list;
mod log_options;
mod logs;
mod mount_flag;
mod mounts;
mod options;
mod platform;
mod ports;
mod published;
mod rootfs;
mod run;
mod security;
mod spec;
pub mod stats;
mod sysctls;
mod top;
mod ulimits;
mod update;

use kiln_runtime::Stdio;

pub use attach::{attach_to, AttachEnd, AttachOptions, DetachKeys};
pub use changes::Kind as ChangeKind;
pub use commit::CommitOptions;
pub use create_json::CreateBody;
pub use exec::ExecOptions;
pub use lifecycle::{stop_timeout, KillOptions, RemoveOptions, Signal, StartOptions, StopOptions};
pub use list::{ago, ports_text, status_text, ContainerSize, ListFilter, ListOptions};
pub use logs::{Logs, LogsOptions};
pub use mount_flag::with_mount_flags;
pub use options::{AttachStreams, CreateOptions, HealthOptions, LimitOptions, Runtime};
pub use spec::new_id;
pub use top::Process;
pub use update::{UpdateError, UpdateOptions};

/// The container's stdio for `-t` and `-i`: a pty, or pipes that kiln
/// copies to its own stdout and stderr and to the log, as Docker's
/// attached run does (stdin is this process's own with `-i`). An init
/// helper started early must have been given the same.
pub fn stdio(tty: bool, interactive: bool) -> Stdio {
    if tty {
        Stdio::Pty
    } else {
        Stdio::Piped { stdin: interactive }
    }
}
