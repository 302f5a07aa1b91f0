//! `kiln network create|ls|rm|prune`: user networks, on which containers reach
//! each other by name.

use std::process::ExitCode;

use kiln_engine::Engine;
use kiln_runtime::network::user::{Network, Options};

use crate::globals::Globals;
use crate::table::Table;
use crate::template::{self, Format, Item};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a network
    Create {
        /// Driver options: allow_host_loopback=true lets containers reach
        /// the host's 127.0.0.1 at 10.0.2.2
        #[arg(short = 'o', long = "opt", value_name = "KEY=VALUE")]
        opts: Vec<String>,
        name: String,
    },
    /// List networks
    #[command(alias = "list")]
    Ls {
        #[arg(short, long)]
        quiet: bool,
        /// Output format: table, json, or a Go template ('{{.Name}}')
        #[arg(long)]
        format: Option<String>,
    },
    /// Remove networks no container is on
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all networks no container uses
    Prune(super::prune::NetworkPruneArgs),
}

impl Command {
    pub fn run(self, globals: &Globals) -> anyhow::Result<ExitCode> {
        let engine = Engine::new(&globals.root);
        match self {
            Command::Create { opts, name } => {
                let opts = Options::parse(&opts)?;
                let net = engine.create_network(&name, &opts)?;
                println!("{}", net.id);
            }
            Command::Ls { quiet, format } => return list(&engine, quiet, format.as_deref()),
            Command::Prune(args) => return super::prune::network_prune(args, globals),
            Command::Rm { names } => {
                for name in names {
                    engine.remove_network(&name)?;
                    println!("{name}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Docker's column names for `network ls` templates.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// The modes every container can use, listed first as Docker lists its
/// predefined networks.
const BUILTIN: [&str; 3] = ["bridge", "host", "none"];

fn list(engine: &Engine, quiet: bool, format: Option<&str>) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(format) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let networks = engine.list_networks()?;
    if quiet {
        for n in &networks {
            println!("{}", short_id(n));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut items: Vec<Item> = BUILTIN
        .iter()
        .map(|mode| item("-", mode, mode, ""))
        .collect();
    items.extend(
        networks
            .iter()
            .map(|n| item(short_id(n), &n.name, "bridge", &n.created)),
    );
    if let Some(code) = template::write_list(&format, &items, HEADERS)? {
        return Ok(code);
    }
    let mut table = Table::new(&["NETWORK ID", "NAME", "DRIVER", "SUBNET"]);
    for mode in BUILTIN {
        table.push(vec!["-".into(), mode.into(), mode.into(), String::new()]);
    }
    for n in &networks {
        table.push(vec![
            short_id(n).to_string(),
            n.name.clone(),
            "bridge".into(),
            n.subnet(),
        ]);
    }
    table.write(&mut std::io::stdout().lock())?;
    Ok(ExitCode::SUCCESS)
}

/// Read back from a file under the store root: an ID shorter than 12 (or
/// cut in a character) is shown whole.
fn short_id(n: &Network) -> &str {
    n.id.get(..12).unwrap_or(&n.id)
}

/// A network under the fields of Docker's `network ls` templates.
fn item(id: &str, name: &str, driver: &str, created: &str) -> Item {
    Item::new()
        .with("ID", id)
        .with("Name", name)
        .with("Driver", driver)
        .with("Scope", "local")
        .with("IPv6", "false")
        .with("Internal", "false")
        .with("Labels", "")
        .with("CreatedAt", template::go_time_of(created))
}
