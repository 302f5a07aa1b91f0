//! Image commands, at the top level as Docker has them: images, tag, rmi,
//! image inspect, history, import, save, load. Flags and output shapes are
//! Docker's, so scripts written for `docker` read kiln's output.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use anyhow::{bail, Context};
use kiln_cache::archive::docker::SaveImage;
use kiln_cache::archive::{self, ImportOptions};
use kiln_cache::image::change::{self, Change};
use kiln_cache::image::{history, inspect, ConfigBlob};
use kiln_cache::image_store::ImageEntry;
use kiln_cache::reference::Reference;
use kiln_cache::Store;
use kiln_engine::ContainerHolds;
use kiln_parser::ast::{CommandLine, InstructionKind};
use kiln_parser::expand::Lexer;
use kiln_runtime::container::state::Container;

use crate::globals::Globals;
use crate::table::{ellipsis, Table};

#[derive(clap::Subcommand)]
pub enum Command {
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag { source: String, target: String },
    /// Remove one or more images
    Rmi {
        /// Remove the image even if several repositories refer to it
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Manage images
    #[command(subcommand)]
    Image(ImageCommand),
    /// Show the history of an image
    History {
        image: String,
        /// Do not truncate output
        #[arg(long)]
        no_trunc: bool,
        /// Only show image IDs
        #[arg(short, long)]
        quiet: bool,
    },
    /// Import a rootfs tarball (plain, gzip, zstd, xz, bzip2) as an image
    Import {
        /// A file, or - for standard input
        file: String,
        /// The name to give the image
        reference: Option<String>,
        /// Apply a Dockerfile instruction to the image (CMD, ENTRYPOINT,
        /// ENV, EXPOSE, LABEL, USER, WORKDIR, VOLUME, STOPSIGNAL)
        #[arg(short, long = "change")]
        changes: Vec<String>,
        /// Set the history comment
        #[arg(short, long)]
        message: Option<String>,
    },
    /// Save images to a tar archive (standard output by default)
    Save {
        /// Write to a file instead of standard output
        #[arg(short, long)]
        output: Option<PathBuf>,
        /// Archive kind: docker (`docker save`) or oci (an OCI image layout)
        #[arg(long, default_value = "docker", value_parser = ["docker", "oci"])]
        format: String,
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Load images from a tar archive (docker or OCI, compressed or not)
    Load {
        /// Read from a file instead of standard input
        #[arg(short, long)]
        input: Option<PathBuf>,
        /// Suppress the load output
        #[arg(short, long)]
        quiet: bool,
    },
}

#[derive(clap::Subcommand)]
pub enum ImageCommand {
    /// Display detailed information on one or more images
    Inspect {
        #[arg(required = true)]
        images: Vec<String>,
    },
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Show only images of this repository (and tag)
    repository: Option<String>,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// `table` (default) or `json` (one object per line)
    #[arg(long)]
    format: Option<String>,
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let store = Store::open(&globals.root)
            .with_context(|| format!("opening the store at {}", globals.root.display()))?;
        match self {
            Command::Images(args) => images(&store, args),
            Command::Tag { source, target } => tag(&store, &source, &target),
            Command::Rmi { force, images } => rmi(&store, globals, force, &images),
            Command::Image(ImageCommand::Inspect { images }) => inspect_images(&store, &images),
            Command::History {
                image,
                no_trunc,
                quiet,
            } => show_history(&store, &image, no_trunc, quiet),
            Command::Import {
                file,
                reference,
                changes,
                message,
            } => import(&store, &file, reference, &changes, message),
            Command::Save {
                output,
                format,
                images,
            } => save(&store, output, &format, &images),
            Command::Load { input, quiet } => load(&store, input, quiet),
        }
    }
}

/// One row of `kiln images`: an image under one of its names (or none).
struct Row<'a> {
    entry: &'a ImageEntry,
    name: Option<&'a Reference>,
}

fn images(store: &Store, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let mut entries = store.images()?;
    entries.sort_by_key(|e| std::cmp::Reverse(created(e)));
    let filter = match &args.repository {
        Some(r) => Some(Reference::parse_name_only(r)?),
        None => None,
    };
    let rows: Vec<Row<'_>> = entries
        .iter()
        .flat_map(|entry| {
            let names: Vec<Option<&Reference>> = if entry.refs.is_empty() {
                vec![None]
            } else {
                entry.refs.iter().map(Some).collect()
            };
            names.into_iter().map(move |name| Row { entry, name })
        })
        .filter(|row| match (&filter, row.name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(f), Some(n)) => n.name() == f.name() && (f.tag().is_none() || f.tag() == n.tag()),
        })
        .collect();
    let mut out = io::stdout().lock();
    if args.quiet {
        let mut seen = std::collections::HashSet::new();
        for row in &rows {
            let id = image_id(row.entry, args.no_trunc);
            if seen.insert(id.clone()) {
                writeln!(out, "{id}")?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.format.as_deref() == Some("json") {
        for row in &rows {
            writeln!(out, "{}", serde_json::to_string(&image_json(row))?)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(other) = args.format.as_deref().filter(|f| *f != "table") {
        bail!("unsupported --format {other:?}: use table or json");
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let body = rows
        .iter()
        .map(|row| {
            let (repo, tag) = repo_tag(row.name);
            let mut cells = vec![repo, tag];
            if args.digests {
                cells.push(row.entry.image.manifest.digest.to_string());
            }
            cells.push(image_id(row.entry, args.no_trunc));
            cells.push(since(created(row.entry)));
            cells.push(human_size(row.entry.image.size));
            cells
        })
        .collect();
    write_table(&mut out, &header, body)?;
    Ok(ExitCode::SUCCESS)
}

fn repo_tag(name: Option<&Reference>) -> (String, String) {
    match name {
        Some(n) => (n.familiar_name(), n.tag().unwrap_or("<none>").to_string()),
        None => ("<none>".to_string(), "<none>".to_string()),
    }
}

fn image_id(entry: &ImageEntry, no_trunc: bool) -> String {
    let id = entry.image.id();
    if no_trunc {
        id.to_string()
    } else {
        id.short()
    }
}

/// `docker images --format json`: one object per line, Docker's keys.
fn image_json(row: &Row<'_>) -> serde_json::Value {
    let (repo, tag) = repo_tag(row.name);
    let created_at = created(row.entry)
        .map(|t| humantime::format_rfc3339_seconds(t).to_string())
        .unwrap_or_default();
    serde_json::json!({
        "Containers": "N/A",
        "CreatedAt": created_at,
        "CreatedSince": since(created(row.entry)),
        "Digest": row.entry.image.manifest.digest.to_string(),
        "ID": row.entry.image.id().short(),
        "Repository": repo,
        "SharedSize": "N/A",
        "Size": human_size(row.entry.image.size),
        "Tag": tag,
        "UniqueSize": "N/A",
        "VirtualSize": human_size(row.entry.image.size),
    })
}

fn created(entry: &ImageEntry) -> Option<SystemTime> {
    entry
        .image
        .created
        .as_deref()
        .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
}

fn tag(store: &Store, source: &str, target: &str) -> anyhow::Result<ExitCode> {
    let entry = store.resolve_image(source)?;
    let target = Reference::parse_normalized(target)?;
    if target.digest().is_some() {
        bail!("refusing to create a tag with a digest reference");
    }
    store.tag_image(&entry.image.manifest.digest, &target)?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's rules: a name untags (and deletes the image when that was its
/// last name); an ID deletes, which needs -f when several names remain.
/// An image a container (running or stopped) was made from is not deleted:
/// without -f that is a conflict naming the container; with -f its names
/// go and the image stays, untagged, with its content (an image in use by
/// a running container is never deleted by ID, as in Docker).
fn rmi(store: &Store, globals: &Globals, force: bool, refs: &[String]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut out = io::stdout().lock();
    let holds = ContainerHolds::new(&globals.root);
    for user_ref in refs {
        if let Err(err) = rmi_one(store, &holds, force, user_ref, &mut out) {
            eprintln!("kiln: error: {err:#}");
            failed = true;
        }
    }
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn rmi_one(
    store: &Store,
    holds: &ContainerHolds,
    force: bool,
    user_ref: &str,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    // Not resolve_image: its lease would keep what the removal frees.
    let entry = store.find_image(user_ref)?;
    let image_id = entry.image.id().to_string();
    let short = entry.image.id().short();
    let users: Vec<Container> = holds
        .containers()?
        .into_iter()
        .filter(|c| c.record.image_id == image_id)
        .collect();
    let running = users.iter().find(|c| c.state.status.is_live());
    let by_name = Reference::parse_normalized(user_ref)
        .ok()
        .filter(|r| entry.refs.contains(r));
    if let Some(name) = by_name {
        let last = entry.refs.len() == 1;
        if let (true, false, Some(c)) = (last, force, users.first()) {
            bail!(
                "conflict: unable to remove repository reference \"{user_ref}\" (must force) - container {} is using its referenced image {short}",
                c.short_id()
            );
        }
        store.untag(&name)?;
        writeln!(out, "Untagged: {}", name.familiar())?;
        if !last || !users.is_empty() {
            return Ok(());
        }
    } else if let Some(c) = running {
        bail!(
            "conflict: unable to delete {short} (cannot be forced) - image is being used by running container {}",
            c.short_id()
        );
    } else if let (false, Some(c)) = (force, users.first()) {
        bail!(
            "conflict: unable to delete {short} (must be forced) - image is being used by stopped container {}",
            c.short_id()
        );
    } else if entry.refs.len() > 1 && !force {
        bail!(
            "conflict: unable to delete {short} (must be forced) - image is referenced in multiple repositories"
        );
    } else if !users.is_empty() {
        // -f on an image stopped containers use: its names go, it stays.
        for name in &entry.refs {
            store.untag(name)?;
            writeln!(out, "Untagged: {}", name.familiar())?;
        }
        return Ok(());
    } else {
        for name in &entry.refs {
            writeln!(out, "Untagged: {}", name.familiar())?;
        }
    }
    let removed = store.remove_image(&entry.image.manifest.digest, holds)?;
    writeln!(out, "Deleted: {}", removed.image.id())?;
    Ok(())
}

fn inspect_images(store: &Store, refs: &[String]) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    let mut failed = false;
    for user_ref in refs {
        match store.resolve_image(user_ref) {
            Ok(entry) => {
                let config = store.image_config(&entry.image)?;
                found.push(inspect::inspect(&inspect::InspectInput {
                    image_id: entry.image.id(),
                    manifest_digest: &entry.image.manifest.digest,
                    refs: &entry.refs,
                    config_bytes: &config,
                    size: entry.image.size,
                }));
            }
            Err(err) => {
                eprintln!("kiln: error: {err}");
                failed = true;
            }
        }
    }
    println!("{}", serde_json::to_string_pretty(&found)?);
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn show_history(
    store: &Store,
    user_ref: &str,
    no_trunc: bool,
    quiet: bool,
) -> anyhow::Result<ExitCode> {
    let entry = store.resolve_image(user_ref)?;
    let config = ConfigBlob::parse(store.image_config(&entry.image)?)?;
    let mut sizes = Vec::new();
    for layer in &entry.image.layers {
        let size = store.snapshot(&layer.snapshot)?.map_or(0, |s| s.size);
        sizes.push(size);
    }
    let rows = history::rows(&config.config, entry.image.id(), &sizes);
    let mut out = io::stdout().lock();
    let id_of = |r: &history::HistoryRow| match r.id {
        Some(id) if no_trunc => id.to_string(),
        Some(id) => id.short(),
        None => "<missing>".to_string(),
    };
    if quiet {
        for r in &rows {
            writeln!(out, "{}", id_of(r))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let body = rows
        .iter()
        .map(|r| {
            let created = r
                .created
                .as_deref()
                .and_then(|c| humantime::parse_rfc3339_weak(c).ok());
            vec![
                id_of(r),
                since(created),
                // Docker shows a tab of a step as a space.
                ellipsis(
                    &r.created_by.replace('\t', " "),
                    if no_trunc { usize::MAX } else { 45 },
                ),
                human_size(r.size),
                r.comment.clone(),
            ]
        })
        .collect();
    write_table(
        &mut out,
        &["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
        body,
    )?;
    Ok(ExitCode::SUCCESS)
}

fn import(
    store: &Store,
    file: &str,
    reference: Option<String>,
    changes: &[String],
    message: Option<String>,
) -> anyhow::Result<ExitCode> {
    let tags = match reference {
        Some(r) => vec![Reference::parse_normalized(&r)?],
        None => Vec::new(),
    };
    let parsed = changes
        .iter()
        .map(|c| parse_change(c))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let settings = (!parsed.is_empty()).then(|| {
        let mut config = oci_config_default();
        change::apply_all(&mut config, parsed);
        config
    });
    let opts = ImportOptions {
        changes: settings,
        message,
        source: file.to_string(),
        tags,
    };
    let image = if file == "-" {
        archive::import(store, io::stdin().lock(), &opts)?
    } else {
        let input = File::open(file).with_context(|| format!("opening {file}"))?;
        archive::import(store, input, &opts)?
    };
    println!("{}", image.id());
    Ok(ExitCode::SUCCESS)
}

fn oci_config_default() -> kiln_cache::image::change::Config {
    Default::default()
}

/// One `--change` line, read with kiln's Dockerfile parser.
pub(crate) fn parse_change(text: &str) -> anyhow::Result<Change> {
    let df = kiln_parser::parse(text.as_bytes())
        .map_err(|e| anyhow::anyhow!("--change {text:?}: {e}"))?;
    let [instruction] = df.instructions.as_slice() else {
        bail!("--change {text:?}: expected exactly one instruction");
    };
    let lexer = Lexer::new(df.escape);
    let env: HashMap<String, String> = HashMap::new();
    let word = |w: &str| -> anyhow::Result<String> {
        lexer
            .process_word(w, &env)
            .map_err(|e| anyhow::anyhow!("--change {text:?}: {e}"))
    };
    let words = |ws: &[String]| {
        ws.iter()
            .map(|w| word(w))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    let command = |c: &CommandLine| match c {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => change::shell_form(s),
    };
    Ok(match &instruction.kind {
        InstructionKind::Cmd(c) => Change::Cmd(command(c)),
        InstructionKind::Entrypoint(c) => Change::Entrypoint(command(c)),
        InstructionKind::Env(env) => Change::Env(
            env.pairs
                .iter()
                .map(|kv| Ok((word(&kv.key)?, word(&kv.value)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        InstructionKind::Label(pairs) => Change::Label(
            pairs
                .iter()
                .map(|kv| Ok((word(&kv.key)?, word(&kv.value)?)))
                .collect::<anyhow::Result<_>>()?,
        ),
        InstructionKind::Expose(ports) => Change::Expose(words(ports)?),
        InstructionKind::Volume(vols) => Change::Volume(words(vols)?),
        InstructionKind::User(u) => Change::User(word(u)?),
        InstructionKind::Workdir(w) => Change::Workdir(word(w)?),
        InstructionKind::Stopsignal(s) => Change::StopSignal(word(s)?),
        _ => bail!(
            "{} is not a valid change command",
            instruction.keyword.to_uppercase()
        ),
    })
}

fn save(
    store: &Store,
    output: Option<PathBuf>,
    format: &str,
    refs: &[String],
) -> anyhow::Result<ExitCode> {
    let mut entries = Vec::new();
    for user_ref in refs {
        let entry = store.resolve_image(user_ref)?;
        // Saved by name: that name; by ID: no name, as `docker save`.
        let names = Reference::parse_normalized(user_ref)
            .ok()
            .filter(|r| entry.refs.contains(r))
            .into_iter()
            .collect::<Vec<_>>();
        entries.push((entry, names));
    }
    let items: Vec<SaveImage<'_>> = entries
        .iter()
        .map(|(entry, names)| SaveImage {
            image: &entry.image,
            names: names.clone(),
        })
        .collect();
    let write = |out: Box<dyn Write>| -> anyhow::Result<()> {
        let out = match format {
            "oci" => archive::save_oci(store, &items, out, None)?,
            _ => archive::save_docker(store, &items, out)?,
        };
        drop(out);
        Ok(())
    };
    match output {
        Some(path) => {
            // Written beside the target and renamed: a failed save never
            // leaves a truncated archive under the asked-for name.
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            let tmp = tempfile_in(dir)?;
            let file = File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            let result = write(Box::new(BufWriter::new(file)));
            if let Err(e) = result {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            std::fs::rename(&tmp, &path).with_context(|| format!("writing {}", path.display()))?;
        }
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            write(Box::new(BufWriter::new(io::stdout().lock())))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tempfile_in(dir: &std::path::Path) -> anyhow::Result<PathBuf> {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Ok(dir.join(format!(".kiln-save-{}-{nanos}.tmp", std::process::id())))
}

fn load(store: &Store, input: Option<PathBuf>, quiet: bool) -> anyhow::Result<ExitCode> {
    let loaded = match &input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            archive::load(store, file)?
        }
        None => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            archive::load(store, io::stdin().lock())?
        }
    };
    if quiet {
        return Ok(ExitCode::SUCCESS);
    }
    let mut out = io::stdout().lock();
    for image in loaded {
        if image.names.is_empty() {
            writeln!(out, "Loaded image ID: {}", image.id)?;
        }
        for name in &image.names {
            writeln!(out, "Loaded image: {}", name.familiar())?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn write_table(out: &mut impl Write, header: &[&str], rows: Vec<Vec<String>>) -> io::Result<()> {
    let mut table = Table::new(header);
    for row in rows {
        table.push(row);
    }
    table.write(out)
}

/// Docker's image tables print sizes with three significant digits
/// (`units.HumanSizeWithPrecision(size, 3)`).
fn human_size(bytes: u64) -> String {
    kiln_cache::units::human_size_with_precision(bytes, 3)
}

/// Docker's `units.HumanDuration` + " ago".
fn since(t: Option<SystemTime>) -> String {
    let Some(t) = t else {
        return "N/A".to_string();
    };
    let d = SystemTime::now()
        .duration_since(t)
        .unwrap_or(Duration::ZERO);
    format!("{} ago", kiln_cache::units::human_duration(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_print_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_000), "4.26MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(human_size(12_345), "12.3kB");
    }

    #[test]
    fn changes_parse_with_the_dockerfile_parser() {
        assert_eq!(
            parse_change(r#"CMD ["sh"]"#).unwrap(),
            Change::Cmd(vec!["sh".into()])
        );
        assert_eq!(
            parse_change("CMD echo hi").unwrap(),
            Change::Cmd(change::shell_form("echo hi"))
        );
        assert_eq!(
            parse_change(r#"ENV A="x y" B=2"#).unwrap(),
            Change::Env(vec![("A".into(), "x y".into()), ("B".into(), "2".into())])
        );
        assert!(parse_change("RUN true").is_err());
    }
}
