//! Everything the engine's operations can fail with. The messages are the
//! ones `kiln` prints (Docker's where Docker has one); a failure of a lower
//! crate is kept whole, as its own variant, so its source chain survives.

use std::io;
use std::path::PathBuf;

use kiln_cache::image::config::ConfigError;
use kiln_cache::image::ManifestError;
use kiln_cache::layer::{ApplyError, DiffError};
use kiln_cache::StoreError;
use kiln_runtime::container::restart::BadPolicy;
use kiln_runtime::container::{self, attach, copy, exec, filesystem, lifecycle, monitor, state};
use kiln_runtime::{network, process, spec, volume};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("\"kiln run\" requires an IMAGE (or --rootfs DIR)")]
    NoImage,
    #[error("--rootfs {}: not a directory", .0.display())]
    RootfsNotDir(PathBuf),
    #[error("opening the store")]
    OpenStore(#[source] StoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("reading the image config")]
    ImageConfig(#[source] ConfigError),
    #[error("creating {}", .path.display())]
    CreateDir { path: PathBuf, source: io::Error },
    #[error("{op} /dev/urandom")]
    Random { op: &'static str, source: io::Error },

    #[error("no command specified")]
    NoCommand,
    #[error("reading {}", .path.display())]
    EnvFile { path: PathBuf, source: io::Error },
    #[error("invalid {flag} value {value:?}")]
    BadSize { flag: &'static str, value: String },
    #[error("you should always set the memory limit when using the memory swap limit")]
    SwapWithoutMemory,
    /// A `run`/`create` flag value Docker's CLI would refuse.
    #[error("invalid argument {value:?} for \"{flag}\" flag: {reason}")]
    BadFlag {
        flag: &'static str,
        value: String,
        reason: String,
    },
    /// A field of an API request (the create body) kiln refuses.
    #[error("invalid {field} {value:?}: {reason}")]
    BadField {
        field: &'static str,
        value: String,
        reason: String,
    },
    #[error("conflicting options: {0} and the network mode")]
    ConflictsWithNetwork(&'static str),
    /// `--hostname` with `--uts host`, IPC sysctls with `--ipc host`.
    #[error("conflicting options: {what} and the {namespace} mode")]
    ConflictsWithNamespace {
        what: &'static str,
        namespace: &'static str,
    },
    #[error("network-scoped alias is supported only for containers in user defined networks")]
    AliasWithoutNetwork,
    #[error("container ID file found, make sure the other container isn't running or delete {}", .0.display())]
    CidfileExists(PathBuf),
    #[error("writing the container ID file {}", .path.display())]
    Cidfile { path: PathBuf, source: io::Error },
    #[error("invalid --cpus value {0}: must be positive")]
    BadCpus(f64),
    #[error("reading seccomp profile {file}")]
    SeccompRead { file: String, source: io::Error },
    #[error("parsing seccomp profile {file}")]
    SeccompParse {
        file: String,
        source: serde_json::Error,
    },
    #[error("unsupported --security-opt {0:?}")]
    SecurityOpt(String),

    #[error("invalid volume specification {0:?}: use SRC:DST[:ro]")]
    BindSpec(String),
    #[error("invalid bind {0:?}: the host path must be absolute")]
    BindNotAbsolute(String),
    #[error("invalid volume {0:?}: the container path must be absolute")]
    VolumeNotAbsolute(String),
    #[error("invalid volume mode {mode:?} in {spec:?}")]
    VolumeMode { mode: String, spec: String },
    #[error("invalid volume specification {0:?}")]
    VolumeSpec(String),
    #[error("published ports are discarded when using host network mode")]
    PortsOnHost,
    #[error("image with reference {reference} was found but does not match the specified platform: wanted {wanted}, actual: {actual}")]
    PlatformMismatch {
        reference: String,
        wanted: String,
        actual: String,
    },
    #[error("conflicting options: --restart and --rm")]
    RestartWithRm,
    #[error("could not link to {key}")]
    Link { key: String, source: state::Error },
    #[error("could not get container for {0}: No such container: {0}")]
    NoLinkTarget(String),
    #[error("Cannot link to a non running container: /{target} AS /{own}/{alias}")]
    LinkNotRunning {
        target: String,
        own: String,
        alias: String,
    },
    #[error("conflicting options: host type networking can't be used with links. This would result in undefined behavior")]
    LinkHostNetwork,
    #[error("Cannot link to /{0}, as it does not belong to the default network")]
    LinkNotDefault(String),
    #[error("network name {0} is kept for the links of the default network")]
    ReservedNetwork(String),
    /// The runtime reports network wiring failures as text.
    #[error("{0}")]
    Wiring(String),

    #[error(transparent)]
    Run(#[from] container::Error),
    #[error(transparent)]
    State(#[from] state::Error),
    #[error(transparent)]
    Spec(#[from] spec::Error),
    #[error(transparent)]
    User(#[from] process::user::Error),
    #[error(transparent)]
    Restart(#[from] BadPolicy),
    #[error(transparent)]
    Update(#[from] crate::container::UpdateError),
    #[error(transparent)]
    Network(#[from] network::user::Error),
    #[error(transparent)]
    Connect(#[from] crate::ConnectError),
    #[error(transparent)]
    Port(#[from] network::Error),
    #[error(transparent)]
    Volume(#[from] volume::Error),
    #[error(transparent)]
    Lifecycle(#[from] lifecycle::Error),
    /// The container's monitor could not start it (Docker's exit status
    /// is in the error).
    #[error(transparent)]
    Monitor(#[from] monitor::Error),
    /// Marking the container as expecting an attach client.
    #[error(transparent)]
    AttachClient(io::Error),

    /// Looking at a container and taking from it.
    #[error("container {0} is not running")]
    NotRunning(String),
    #[error("container {0} is paused, unpause the container before exec")]
    Paused(String),
    #[error("you cannot attach to a stopped container, start it first")]
    AttachStopped,
    #[error("kiln {0} needs a container made from an image")]
    NotFromImage(&'static str),
    #[error("invalid filter '{0}'")]
    ListFilter(String),
    #[error("no public port '{port}' published for {container}")]
    NotPublished { port: String, container: String },
    #[error(transparent)]
    Logs(io::Error),
    /// The container's log driver (`none`) keeps nothing to read.
    #[error("configured logging driver does not support reading")]
    LogsNotReadable,
    #[error(transparent)]
    Changes(io::Error),
    #[error("reading /proc")]
    Proc(#[source] io::Error),
    #[error(transparent)]
    Attach(#[from] attach::Error),
    /// The exec helper could not be started.
    #[error(transparent)]
    Exec(exec::Error),
    #[error(transparent)]
    Filesystem(#[from] filesystem::Error),
    #[error(transparent)]
    Copy(#[from] copy::Error),
    #[error("exporting the container")]
    Export(#[source] DiffError),
    #[error("the image of container {container}")]
    CommitBase {
        container: String,
        source: StoreError,
    },
    #[error("{op} {}", .path.display())]
    CommitFile {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error(transparent)]
    Layer(#[from] DiffError),
    #[error(transparent)]
    Unpack(#[from] ApplyError),
    #[error(transparent)]
    NewConfig(ConfigError),
    #[error(transparent)]
    ConfigEncode(serde_json::Error),
    #[error(transparent)]
    Manifest(#[from] ManifestError),

    #[error("opening the store at {}", .root.display())]
    StoreAt { root: PathBuf, source: StoreError },
    #[error("remove {name}: volume is in use - [{container}]")]
    VolumeInUse { name: String, container: String },
    #[error("{op} {}", .path.display())]
    Events {
        op: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("encoding an event")]
    EventEncode(#[source] serde_json::Error),

    /// Boxed: a registry's error would make every `Result` large.
    #[error(transparent)]
    Image(Box<crate::images::ImageError>),
}

impl Error {
    /// Docker's 126/127 when the container's command could not be run.
    pub fn exec_exit_code(&self) -> Option<u8> {
        match self {
            Error::Run(container::Error::Exec(e)) => Some(e.exit_code()),
            _ => None,
        }
    }
}
