//! `kiln volume create|ls|inspect|rm|prune`. A volume in use by any
//! container (running or not) is never removed.

use std::process::ExitCode;

use anyhow::bail;
use kiln_engine::{Engine, VolumeCreateOptions};
use kiln_runtime::volume::Volume;

use crate::globals::Globals;
use crate::table::Table;
use crate::template::{self, Format, Item};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a volume
    Create {
        /// Set metadata on the volume (K=V)
        #[arg(short, long = "label", value_name = "K=V")]
        label: Vec<String>,
        name: Option<String>,
    },
    /// List volumes
    #[command(alias = "list")]
    Ls {
        /// Only display volume names
        #[arg(short, long)]
        quiet: bool,
        /// Output format: table, json, or a Go template ('{{.Name}}')
        #[arg(long)]
        format: Option<String>,
    },
    /// Display detailed information on volumes
    Inspect {
        /// Format the output using the given Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove volumes
    #[command(alias = "remove")]
    Rm {
        /// Accepted for Docker compatibility; in-use volumes are kept
        #[arg(short, long)]
        force: bool,
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove unused anonymous volumes (all unused with -a)
    Prune(super::prune::VolumePruneArgs),
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let engine = Engine::new(&globals.root);
        match self {
            Command::Create { label, name } => {
                let labels = label
                    .iter()
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap_or((l, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                let v = engine.create_volume(&VolumeCreateOptions { name, labels })?;
                println!("{}", v.name);
            }
            Command::Ls { quiet, format } => return list(&engine, quiet, format.as_deref()),
            Command::Inspect { format, names } => {
                let docs: Vec<_> = names
                    .iter()
                    .map(|n| engine.inspect_volume(n))
                    .collect::<Result<_, _>>()?;
                match template::write_documents(format.as_deref(), &docs)? {
                    Some(code) => return Ok(code),
                    None => println!("{}", serde_json::to_string_pretty(&docs)?),
                }
            }
            Command::Rm { force: _, names } => return remove(&engine, &names),
            Command::Prune(args) => return super::prune::volume_prune(args, globals),
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Docker's column names for `volume ls` templates.
const HEADERS: &[(&str, &str)] = &[
    ("Name", "VOLUME NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
];

fn list(engine: &Engine, quiet: bool, format: Option<&str>) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(format) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let volumes = engine.list_volumes()?;
    if !quiet {
        let items: Vec<Item> = volumes.iter().map(item).collect();
        if let Some(code) = template::write_list(&format, &items, HEADERS)? {
            return Ok(code);
        }
    }
    let mut table = Table::new(&["DRIVER", "VOLUME NAME"]);
    for v in volumes {
        match quiet {
            true => println!("{}", v.name),
            false => table.push(vec!["local".into(), v.name]),
        }
    }
    if !quiet {
        table.write(&mut std::io::stdout().lock())?;
    }
    Ok(ExitCode::SUCCESS)
}

/// A volume under the fields of Docker's `volume ls` templates.
fn item(v: &Volume) -> Item {
    let labels: Vec<String> = v.labels.iter().map(|(k, l)| format!("{k}={l}")).collect();
    Item::new()
        .with("Name", v.name.as_str())
        .with("Driver", "local")
        .with("Scope", "local")
        .with("Mountpoint", v.mountpoint.display().to_string())
        .with("Labels", labels.join(","))
        .labels(&v.labels)
}

/// Each name in turn; one that cannot go is reported and the rest tried.
fn remove(engine: &Engine, names: &[String]) -> anyhow::Result<ExitCode> {
    let mut failed = false;
    for name in names {
        match engine.remove_volume(name) {
            Ok(()) => println!("{name}"),
            Err(e) => {
                crate::error_text::print(&e.into());
                failed = true;
            }
        }
    }
    if failed {
        bail!("some volumes could not be removed");
    }
    Ok(ExitCode::SUCCESS)
}
