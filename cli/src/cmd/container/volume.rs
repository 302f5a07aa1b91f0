//! `kiln volume create|ls|inspect|rm|prune`. A volume in use by any
//! container (running or not) is never removed.

use std::process::ExitCode;

use anyhow::bail;
use kiln_runtime::container::state::now;
use kiln_runtime::volume::{Volume, Volumes};
use serde_json::json;

use super::create::containers;
use super::run::new_id;
use crate::globals::Globals;
use crate::table::Table;

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
    },
    /// Display detailed information on volumes
    Inspect {
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
        let vols = Volumes::new(globals.root.join("volumes"));
        match self {
            Command::Create { label, name } => {
                let name = match name {
                    Some(n) => n,
                    None => new_id()?,
                };
                let labels = label
                    .iter()
                    .map(|l| {
                        let (k, v) = l.split_once('=').unwrap_or((l, ""));
                        (k.to_string(), v.to_string())
                    })
                    .collect();
                let v = vols.ensure_labeled(&name, false, &now(), labels)?;
                println!("{}", v.name);
            }
            Command::Ls { quiet } => {
                let mut table = Table::new(&["DRIVER", "VOLUME NAME"]);
                for v in vols.list()? {
                    match quiet {
                        true => println!("{}", v.name),
                        false => table.push(vec!["local".into(), v.name]),
                    }
                }
                if !quiet {
                    table.write(&mut std::io::stdout().lock())?;
                }
            }
            Command::Inspect { names } => {
                let docs: Vec<_> = names
                    .iter()
                    .map(|n| vols.get(n).map(|v| volume_json(&v)))
                    .collect::<Result<_, _>>()?;
                println!("{}", serde_json::to_string_pretty(&docs)?);
            }
            Command::Rm { force: _, names } => return remove(globals, &vols, &names),
            Command::Prune(args) => return super::prune::volume_prune(args, globals),
        }
        Ok(ExitCode::SUCCESS)
    }
}

fn volume_json(v: &Volume) -> serde_json::Value {
    json!({"Name": v.name, "Driver": "local", "Mountpoint": v.mountpoint,
           "CreatedAt": v.created, "Scope": "local", "Labels": v.labels,
           "Options": {}, "Anonymous": v.anonymous})
}

/// (volume name, container ID) for every container's volumes.
fn users(globals: &Globals) -> anyhow::Result<Vec<(String, String)>> {
    let mut all = Vec::new();
    for c in containers(globals).list()? {
        for m in c.record.mounts.iter().filter(|m| m.kind == "volume") {
            all.push((m.name.clone(), c.record.id.clone()));
        }
    }
    Ok(all)
}

fn remove(globals: &Globals, vols: &Volumes, names: &[String]) -> anyhow::Result<ExitCode> {
    let users = users(globals)?;
    let mut failed = false;
    for name in names {
        let result = match users.iter().find(|(n, _)| n == name) {
            Some((_, id)) => Err(anyhow::anyhow!("remove {name}: volume is in use - [{id}]")),
            None => vols.remove(name).map_err(anyhow::Error::from),
        };
        match result {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("kiln: error: {e}");
                failed = true;
            }
        }
    }
    if failed {
        bail!("some volumes could not be removed");
    }
    Ok(ExitCode::SUCCESS)
}
