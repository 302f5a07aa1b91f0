//! Image commands, at the top level as Docker has them: images, tag, rmi,
//! image inspect, history, import, save, load. Flags and output shapes are
//! Docker's, so scripts written for `docker` read kiln's output.

use std::collections::HashSet;
use std::fs::File;
use std::io::{self, BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context};
use kiln_cache::{Digest, Reference};
pub(crate) use kiln_engine::images::parse_change;
use kiln_engine::images::{
    ArchiveFormat, HistoryRow, ImageFilters, ImageRow, ImportOptions, Removed,
};
use kiln_engine::Engine;

use crate::error_text;
use crate::globals::Globals;
use crate::table::{ellipsis, Table};
use crate::template::{self, Format, Item};

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
        /// Format the output using the given Go template
        #[arg(long)]
        format: Option<String>,
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
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        images: Vec<String>,
    },
}

#[derive(clap::Args)]
pub struct ImagesArgs {
    /// Show only images of this repository (and tag)
    repository: Option<String>,
    /// Show all images (kiln keeps no intermediate images: the same list)
    #[arg(short, long)]
    all: bool,
    /// Filter: dangling=true|false, label=K[=V], reference=PATTERN,
    /// before=IMAGE, since=IMAGE
    #[arg(short, long, value_parser = crate::cmd::filter::key_value)]
    filter: Vec<String>,
    /// Only show image IDs
    #[arg(short, long)]
    quiet: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// `table` (default), `json` (one object per line) or a Go template
    #[arg(long)]
    format: Option<String>,
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let engine = Engine::new(&globals.root);
        match self {
            Command::Images(args) => images(&engine, args),
            Command::Tag { source, target } => {
                engine.tag_image(&source, &target)?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Rmi { force, images } => rmi(&engine, force, &images),
            Command::Image(ImageCommand::Inspect { format, images }) => {
                inspect_images(&engine, &images, format.as_deref())
            }
            Command::History {
                image,
                no_trunc,
                quiet,
                format,
            } => show_history(&engine, &image, no_trunc, quiet, format.as_deref()),
            Command::Import {
                file,
                reference,
                changes,
                message,
            } => import(&engine, file, reference, &changes, message),
            Command::Save {
                output,
                format,
                images,
            } => save(&engine, output, &format, &images),
            Command::Load { input, quiet } => load(&engine, input, quiet),
        }
    }
}

fn images(engine: &Engine, args: ImagesArgs) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(args.format.as_deref()) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let filters = image_filters(&args.filter)?;
    let rows = engine.list_images_filtered(args.repository.as_deref(), &filters)?;
    let mut out = io::stdout().lock();
    if args.quiet {
        let mut seen = HashSet::new();
        for row in &rows {
            let id = image_id(&row.id, args.no_trunc);
            if seen.insert(id.clone()) {
                writeln!(out, "{id}")?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<Item> = rows.iter().map(|r| image_item(r, args.no_trunc)).collect();
    if let Some(code) = template::write_list(&format, &items, IMAGE_HEADERS)? {
        return Ok(code);
    }
    let mut header = vec!["REPOSITORY", "TAG"];
    if args.digests {
        header.push("DIGEST");
    }
    header.extend(["IMAGE ID", "CREATED", "SIZE"]);
    let body = rows
        .iter()
        .map(|row| {
            let (repo, tag) = repo_tag(row.name.as_ref());
            let mut cells = vec![repo, tag];
            if args.digests {
                cells.push(row.digest.to_string());
            }
            cells.push(image_id(&row.id, args.no_trunc));
            cells.push(since(row.created));
            cells.push(human_size(row.size));
            cells
        })
        .collect();
    write_table(&mut out, &header, body)?;
    Ok(ExitCode::SUCCESS)
}

/// `--filter KEY=VALUE`s into the engine's selections.
fn image_filters(args: &[String]) -> anyhow::Result<ImageFilters> {
    let mut filters = ImageFilters::default();
    for arg in args {
        let (key, value) = crate::cmd::filter::split(arg)?;
        filters.add(key, value)?;
    }
    Ok(filters)
}

pub(crate) fn repo_tag(name: Option<&Reference>) -> (String, String) {
    match name {
        Some(n) => (n.familiar_name(), n.tag().unwrap_or("<none>").to_string()),
        None => ("<none>".to_string(), "<none>".to_string()),
    }
}

fn image_id(id: &Digest, no_trunc: bool) -> String {
    if no_trunc {
        id.to_string()
    } else {
        id.short()
    }
}

/// Docker's column names for `images` templates.
const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "VIRTUAL SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// An image under the fields of Docker's `images` templates (and the
/// keys of `--format json`).
fn image_item(row: &ImageRow, no_trunc: bool) -> Item {
    let (repo, tag) = repo_tag(row.name.as_ref());
    Item::new()
        .with("Containers", "N/A")
        .with(
            "CreatedAt",
            row.created.map(template::go_time).unwrap_or_default(),
        )
        .with("CreatedSince", since(row.created))
        .with("Digest", row.digest.to_string())
        .with("ID", image_id(&row.id, no_trunc))
        .with("Repository", repo)
        .with("SharedSize", "N/A")
        .with("Size", human_size(row.size))
        .with("Tag", tag)
        .with("UniqueSize", "N/A")
        .with("VirtualSize", human_size(row.size))
}

/// Each image on its own: one that cannot be removed is reported and the
/// rest still go, as with `docker rmi`.
fn rmi(engine: &Engine, force: bool, refs: &[String]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    let mut out = io::stdout().lock();
    for user_ref in refs {
        match engine.remove_image(user_ref, force) {
            Ok(removed) => {
                for r in removed {
                    match r {
                        Removed::Untagged(name) => writeln!(out, "Untagged: {}", name.familiar())?,
                        Removed::Deleted(id) => writeln!(out, "Deleted: {id}")?,
                    }
                }
            }
            Err(err) => {
                error_text::print(&anyhow::Error::from(err));
                failed = true;
            }
        }
    }
    Ok(exit_status(failed))
}

fn exit_status(failed: bool) -> ExitCode {
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn inspect_images(
    engine: &Engine,
    refs: &[String],
    format: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let mut found = Vec::new();
    let mut failed = false;
    for user_ref in refs {
        match engine.inspect_image(user_ref) {
            Ok(json) => found.push(json),
            Err(err) => {
                // The error alone, as `docker image inspect` prints it.
                eprintln!(
                    "kiln: error: {}",
                    error_text::for_terminal(&err.to_string())
                );
                failed = true;
            }
        }
    }
    match template::write_documents(format, &found)? {
        Some(code) if code != ExitCode::SUCCESS => return Ok(code),
        Some(_) => {}
        None => println!("{}", serde_json::to_string_pretty(&found)?),
    }
    Ok(exit_status(failed))
}

fn show_history(
    engine: &Engine,
    user_ref: &str,
    no_trunc: bool,
    quiet: bool,
    format: Option<&str>,
) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(format) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let rows = engine.image_history(user_ref)?;
    let mut out = io::stdout().lock();
    let id_of = |r: &HistoryRow| match &r.id {
        Some(id) => image_id(id, no_trunc),
        None => "<missing>".to_string(),
    };
    if quiet {
        for r in &rows {
            writeln!(out, "{}", id_of(r))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<Item> = rows
        .iter()
        .map(|r| history_item(r, id_of(r), no_trunc))
        .collect();
    if let Some(code) = template::write_list(&format, &items, HISTORY_HEADERS)? {
        return Ok(code);
    }
    let body = rows
        .iter()
        .map(|r| {
            let created = created_time(r);
            vec![
                id_of(r),
                since(created),
                created_by(r, no_trunc),
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

/// Docker's column names for `history` templates.
const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

fn history_item(r: &HistoryRow, id: String, no_trunc: bool) -> Item {
    let created = created_time(r);
    Item::new()
        .with("ID", id)
        .with("CreatedSince", since(created))
        .with(
            "CreatedAt",
            created.map(template::go_time).unwrap_or_default(),
        )
        .with("CreatedBy", created_by(r, no_trunc))
        .with("Size", human_size(r.size))
        .with("Comment", r.comment.as_str())
}

fn created_time(r: &HistoryRow) -> Option<SystemTime> {
    r.created
        .as_deref()
        .and_then(|c| humantime::parse_rfc3339_weak(c).ok())
}

/// The step, cut to 45 characters unless `--no-trunc`; Docker shows a tab
/// in it as a space.
fn created_by(r: &HistoryRow, no_trunc: bool) -> String {
    let max = if no_trunc { usize::MAX } else { 45 };
    ellipsis(&r.created_by.replace('\t', " "), max)
}

fn import(
    engine: &Engine,
    file: String,
    reference: Option<String>,
    changes: &[String],
    message: Option<String>,
) -> anyhow::Result<ExitCode> {
    let opts = ImportOptions {
        reference: reference
            .map(|r| Reference::parse_normalized(&r))
            .transpose()?,
        changes: changes
            .iter()
            .map(|c| parse_change(c))
            .collect::<Result<_, _>>()?,
        message,
        source: file,
    };
    let id = if opts.source == "-" {
        engine.import_image(io::stdin().lock(), &opts)?
    } else {
        let input = File::open(&opts.source).with_context(|| format!("opening {}", opts.source))?;
        engine.import_image(input, &opts)?
    };
    println!("{id}");
    Ok(ExitCode::SUCCESS)
}

fn save(
    engine: &Engine,
    output: Option<PathBuf>,
    format: &str,
    refs: &[String],
) -> anyhow::Result<ExitCode> {
    let format = match format {
        "oci" => ArchiveFormat::Oci,
        _ => ArchiveFormat::Docker,
    };
    match output {
        Some(path) => engine.save_images_to(refs, format, &path)?,
        None => {
            if io::stdout().is_terminal() {
                bail!("cowardly refusing to save to a terminal. Use the -o flag or redirect");
            }
            let out = BufWriter::new(io::stdout().lock());
            engine.save_images(refs, format, out)?.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn load(engine: &Engine, input: Option<PathBuf>, quiet: bool) -> anyhow::Result<ExitCode> {
    let loaded = match &input {
        Some(path) => {
            let file = File::open(path).with_context(|| format!("opening {}", path.display()))?;
            engine.load_images(file)?
        }
        None => {
            if io::stdin().is_terminal() {
                bail!("requested load from stdin, but stdin is empty");
            }
            engine.load_images(io::stdin().lock())?
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
    t.map_or_else(|| "N/A".to_string(), super::cache::ago)
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
}
