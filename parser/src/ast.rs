//! The Dockerfile syntax tree, in two layers made by one parse.
//!
//! * [`RawDockerfile`] / [`Node`]: BuildKit's own node form (keyword, flags as
//!   written, values), which is what `kiln debug ast` dumps. It accepts unknown
//!   instructions, as BuildKit's parser does.
//! * [`Dockerfile`] / [`Instruction`]: the typed form built from the raw
//!   nodes by [`RawDockerfile::typed`]: one variant per instruction, flags
//!   parsed into fields. Unknown instructions and bad flags are errors here.
//!
//! Strings in the typed layer are raw: word expansion (`$VAR`) and quote
//! removal happen later (see `crate::expand`). Bytes that are not UTF-8
//! survive in the raw layer (`Vec<u8>` values); the typed layer holds UTF-8
//! text in which each such byte became U+FFFD.

use std::time::Duration;

/// A 1-based line and column (column counted in Unicode scalars).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

/// Where an instruction sits in the source: its first line and the column of
/// its keyword, and its last line (heredoc bodies included), all 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start_line: usize,
    pub start_column: usize,
    pub end_line: usize,
}

/// One parser directive (`# syntax=…`, `# escape=…`, `# check=…`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    /// The value, trailing whitespace trimmed.
    pub value: String,
    /// 1-based line of the directive.
    pub line: usize,
}

/// The parser directives found at the top of the file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Directives {
    pub syntax: Option<Directive>,
    pub escape: Option<Directive>,
    pub check: Option<Directive>,
}

/// A non-fatal finding of the parser (BuildKit reports the same ones).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// BuildKit's text, e.g. `Empty continuation line found in: RUN a b`.
    pub message: String,
    /// 1-based line the warning points at.
    pub line: usize,
}

/// A heredoc taken from a `RUN`, `COPY` or `ADD` line (`<<EOF` … `EOF`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter word with its quotes removed.
    pub name: String,
    /// The body exactly as read (line endings kept), before any tab
    /// stripping; see [`Heredoc::body`].
    pub content: String,
    /// False when any part of the delimiter was quoted: no expansion.
    pub expand: bool,
    /// True for `<<-`: leading tabs are stripped from every body line.
    pub chomp: bool,
    /// The file descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

impl Heredoc {
    /// The body as the build sees it: with `<<-`, leading tabs removed from
    /// every line.
    pub fn body(&self) -> String {
        if !self.chomp {
            return self.content.clone();
        }
        self.content
            .split_inclusive('\n')
            .map(|line| line.trim_start_matches('\t'))
            .collect()
    }
}

// ---------------------------------------------------------------- raw layer

/// The result of parsing: BuildKit's node list plus what surrounds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawDockerfile {
    pub directives: Directives,
    /// The escape character in force (`\` or `` ` ``).
    pub escape: char,
    /// One node per instruction, in source order.
    pub nodes: Vec<Node>,
    pub warnings: Vec<Warning>,
    /// The input, for the source lines of typing errors.
    pub source: Vec<u8>,
}

/// One instruction as BuildKit's parser sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub span: Span,
    /// The keyword as written (case kept; dumped lower-cased).
    pub keyword: Vec<u8>,
    /// Flags as written after quote and escape removal (`--from=build`).
    pub flags: Vec<Flag>,
    pub args: NodeArgs,
    /// True when the values came from a JSON array.
    pub json: bool,
    pub heredocs: Vec<Heredoc>,
    /// The logical line (continuations joined), for messages.
    pub original: Vec<u8>,
    /// Where the arguments after the flags start.
    pub args_position: Position,
}

/// A flag of a raw node and where it starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Flag {
    pub text: String,
    pub position: Position,
}

/// The values of a raw node: a list of strings, or (ONBUILD) a nested node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeArgs {
    Values(Vec<Vec<u8>>),
    Nested(Box<Node>),
}

// -------------------------------------------------------------- typed layer

/// A Dockerfile with typed instructions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    pub directives: Directives,
    pub escape: char,
    pub instructions: Vec<Instruction>,
    pub warnings: Vec<Warning>,
}

/// One typed instruction with its source span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub span: Span,
    /// The keyword as written (`from`, `FROM`, `From`…), for lint rules.
    pub keyword: String,
    pub kind: InstructionKind,
}

/// The instructions of the Dockerfile reference, one variant each.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstructionKind {
    From(From),
    Run(Run),
    Cmd(CommandLine),
    /// `LABEL k=v …`: keys and values raw (quotes kept).
    Label(Vec<KeyValue>),
    Maintainer(String),
    /// `EXPOSE 80 80/udp 8000-8010`: the raw port words.
    Expose(Vec<String>),
    /// `ENV k=v …` or legacy `ENV k v`: keys and values raw (quotes kept).
    Env(Env),
    Add(Copy),
    Copy(Copy),
    Entrypoint(CommandLine),
    /// `VOLUME ["/a"]` or `VOLUME /a /b`.
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    /// `ARG a b=1`: one entry per declared name.
    Arg(Vec<ArgDecl>),
    Onbuild(Box<Instruction>),
    Stopsignal(String),
    Healthcheck(Healthcheck),
    /// `SHELL ["sh", "-c"]` (JSON form only).
    Shell(Vec<String>),
}

/// `FROM [--platform=P] IMAGE [AS NAME]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct From {
    /// The image reference, unexpanded (may hold `$ARG`s).
    pub image: String,
    pub platform: Option<String>,
    /// The stage name as written (BuildKit compares it case-insensitively).
    pub name: Option<String>,
    /// How the `AS` word was written (`AS`, `as`…), for lint rules.
    pub as_keyword: Option<String>,
}

/// A shell-form or exec-form (JSON) command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandLine {
    /// Shell form: the text after the flags, run with the stage's SHELL.
    Shell(String),
    /// Exec form: the JSON array's strings.
    Exec(Vec<String>),
}

/// `RUN [--mount=…]… [--network=…] [--security=…] COMMAND`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub mounts: Vec<Mount>,
    pub network: Option<Network>,
    pub security: Option<Security>,
    pub command: CommandLine,
    pub heredocs: Vec<Heredoc>,
}

/// `RUN --network=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Network {
    Default,
    None,
    Host,
}

/// `RUN --security=…`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Security {
    Sandbox,
    Insecure,
}

/// One `RUN --mount=…`. Option values are raw (BuildKit expands them with
/// the build args before use); literal numbers are validated at parse time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Bind(BindMount),
    Cache(CacheMount),
    Tmpfs(TmpfsMount),
    Secret(SecretMount),
    Ssh(SshMount),
}

/// `type=bind` (the default type). For bind, cache and tmpfs mounts an
/// empty `target` means none was given: BuildKit then mounts at the working
/// directory (a relative target is joined to it).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BindMount {
    pub target: String,
    pub source: Option<String>,
    pub from: Option<String>,
    /// Bind mounts are read-only unless `rw`/`readwrite` is given.
    pub readwrite: bool,
}

/// `type=cache`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CacheMount {
    pub target: String,
    pub id: Option<String>,
    pub sharing: CacheSharing,
    pub readonly: bool,
    pub from: Option<String>,
    pub source: Option<String>,
    /// Octal mode text, e.g. `0755`.
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
}

/// `sharing=` of a cache mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheSharing {
    #[default]
    Shared,
    Private,
    Locked,
}

/// `type=tmpfs`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TmpfsMount {
    pub target: String,
    /// Size text as written (`size=64m`).
    pub size: Option<String>,
}

/// `type=secret`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SecretMount {
    pub id: Option<String>,
    /// Defaults to `/run/secrets/<id>` at use time.
    pub target: Option<String>,
    /// `env=NAME`: expose the secret as an environment variable.
    pub env: Option<String>,
    pub required: bool,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
}

/// `type=ssh`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SshMount {
    pub id: Option<String>,
    pub target: Option<String>,
    pub required: bool,
    pub mode: Option<String>,
    pub uid: Option<String>,
    pub gid: Option<String>,
}

/// A key and value of `ENV` or `LABEL`, raw: `b="two words"` gives key `b`
/// and value `"two words"` (quotes kept; `expand` removes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// `ENV` pairs, and whether the legacy `ENV k v` form was used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Env {
    pub pairs: Vec<KeyValue>,
    /// True for `ENV key value` (one pair, value = rest of the line).
    pub legacy: bool,
}

/// One `ARG` name with its optional raw default (`ARG a="x y"` keeps quotes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    pub name: String,
    pub default: Option<String>,
}

/// `COPY`/`ADD` with their flags. Sources may name heredocs (`<<EOF`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Copy {
    pub sources: Vec<String>,
    pub dest: String,
    /// True when written in JSON form.
    pub json: bool,
    pub from: Option<String>,
    pub chown: Option<String>,
    /// Octal (`0755`) or symbolic (`u=rwx,go=rx`) mode text.
    pub chmod: Option<String>,
    pub link: bool,
    pub parents: bool,
    pub exclude: Vec<String>,
    /// `ADD --checksum=sha256:…`.
    pub checksum: Option<String>,
    /// `ADD --keep-git-dir`.
    pub keep_git_dir: bool,
    pub heredocs: Vec<Heredoc>,
}

/// `HEALTHCHECK NONE` or `HEALTHCHECK [options] CMD …`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    None,
    Cmd(HealthcheckCmd),
}

/// The options and command of `HEALTHCHECK CMD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthcheckCmd {
    pub interval: Option<Duration>,
    pub timeout: Option<Duration>,
    pub start_period: Option<Duration>,
    pub start_interval: Option<Duration>,
    pub retries: Option<u32>,
    pub command: CommandLine,
}
