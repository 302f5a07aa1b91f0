//! `kiln network create|ls|rm|prune|connect|disconnect`: user networks, on which containers reach
//! each other by name.

use std::process::ExitCode;

use kiln_engine::{ConnectOptions, Engine};
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
        /// name=, id=, driver=, scope=local, type=custom|builtin
        #[arg(short, long = "filter", value_name = "KEY=VALUE")]
        filter: Vec<String>,
    },
    /// Display detailed information on one or more networks
    Inspect {
        /// Format the output using a Go template
        #[arg(short, long)]
        format: Option<String>,
        #[arg(required = true, value_name = "NETWORK")]
        names: Vec<String>,
    },
    /// Remove networks no container is on
    #[command(alias = "remove")]
    Rm {
        #[arg(required = true)]
        names: Vec<String>,
    },
    /// Remove all networks no container uses
    Prune(super::prune::NetworkPruneArgs),
    /// Connect a container to a network
    Connect {
        /// Add network-scoped alias for the container
        #[arg(long = "alias")]
        aliases: Vec<String>,
        network: String,
        container: String,
    },
    /// Disconnect a container from a network
    Disconnect {
        /// Force the container to disconnect from a network
        #[arg(short, long)]
        force: bool,
        network: String,
        container: String,
    },
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
            Command::Ls {
                quiet,
                format,
                filter,
            } => {
                let filters = ListFilter::parse(&filter)?;
                return list(&engine, quiet, format.as_deref(), &filters);
            }
            Command::Prune(args) => return super::prune::network_prune(args, globals),
            Command::Inspect { format, names } => {
                return inspect(&engine, format.as_deref(), &names)
            }
            Command::Connect {
                aliases,
                network,
                container,
            } => engine.connect_network(&network, &container, &ConnectOptions { aliases })?,
            Command::Disconnect {
                force,
                network,
                container,
            } => engine.disconnect_network(&network, &container, force)?,
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

/// `network inspect`: every network found, then an error for each not
/// found (exit 1), as Docker prints them.
fn inspect(engine: &Engine, format: Option<&str>, names: &[String]) -> anyhow::Result<ExitCode> {
    let mut docs = Vec::new();
    let mut failed = false;
    for name in names {
        match engine.inspect_network(name) {
            Ok(doc) => docs.push(doc),
            Err(e) => {
                eprintln!("kiln: error: {e}");
                failed = true;
            }
        }
    }
    match template::write_documents(format, &docs)? {
        Some(code) if code != ExitCode::SUCCESS => return Ok(code),
        Some(_) => {}
        None => println!("{}", serde_json::to_string_pretty(&docs)?),
    }
    Ok(ExitCode::from(u8::from(failed)))
}

/// One row of `network ls`: a predefined mode or a user network.
struct Row {
    id: String,
    name: String,
    driver: String,
    created: String,
    subnet: String,
    builtin: bool,
}

fn rows(networks: &[Network]) -> Vec<Row> {
    let modes = BUILTIN.iter().map(|mode| Row {
        id: "-".into(),
        name: mode.to_string(),
        driver: mode.to_string(),
        created: String::new(),
        subnet: String::new(),
        builtin: true,
    });
    let users = networks.iter().map(|n| Row {
        id: short_id(n).to_string(),
        name: n.name.clone(),
        driver: "bridge".into(),
        created: n.created.clone(),
        subnet: n.subnet(),
        builtin: false,
    });
    modes.chain(users).collect()
}

/// `network ls --filter`: Docker's keys; values of one key are alternatives,
/// and every key given must match.
#[derive(Default)]
struct ListFilter(Vec<(String, String)>);

impl ListFilter {
    fn parse(specs: &[String]) -> anyhow::Result<ListFilter> {
        let mut pairs = Vec::new();
        for spec in specs {
            let (key, value) = spec
                .split_once('=')
                .ok_or_else(|| anyhow::anyhow!("--filter {spec:?}: expected KEY=VALUE"))?;
            if !["name", "id", "driver", "scope", "type", "label"].contains(&key) {
                anyhow::bail!("--filter {spec:?}: invalid filter {key:?}");
            }
            if key == "type" && !["custom", "builtin"].contains(&value) {
                anyhow::bail!("--filter {spec:?}: invalid type {value:?} (custom, builtin)");
            }
            pairs.push((key.to_string(), value.to_string()));
        }
        Ok(ListFilter(pairs))
    }

    fn matches(&self, row: &Row) -> bool {
        let keys = self.0.iter().map(|(k, _)| k.as_str());
        let mut keys: Vec<&str> = keys.collect();
        keys.dedup();
        keys.iter().all(|key| {
            self.0
                .iter()
                .filter(|(k, _)| k == key)
                .any(|(_, v)| Self::one(key, v, row))
        })
    }

    fn one(key: &str, value: &str, row: &Row) -> bool {
        match key {
            "name" => row.name.contains(value),
            "id" => !row.builtin && row.id.starts_with(value),
            "driver" => row.driver == value,
            "scope" => value == "local",
            "type" => row.builtin == (value == "builtin"),
            // No network carries labels.
            _ => false,
        }
    }
}

fn list(
    engine: &Engine,
    quiet: bool,
    format: Option<&str>,
    filter: &ListFilter,
) -> anyhow::Result<ExitCode> {
    let format = match Format::parse(format) {
        Ok(f) => f,
        Err(e) => return Ok(template::refuse(&e, 1)),
    };
    let mut rows = rows(&engine.list_networks()?);
    rows.retain(|r| filter.matches(r));
    if quiet {
        for r in rows.iter().filter(|r| !r.builtin) {
            println!("{}", r.id);
        }
        return Ok(ExitCode::SUCCESS);
    }
    let items: Vec<Item> = rows.iter().map(item).collect();
    if let Some(code) = template::write_list(&format, &items, HEADERS)? {
        return Ok(code);
    }
    let mut table = Table::new(&["NETWORK ID", "NAME", "DRIVER", "SCOPE", "SUBNET"]);
    for r in &rows {
        let cells = [&r.id, &r.name, &r.driver, "local", &r.subnet];
        table.push(cells.iter().map(|c| c.to_string()).collect());
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
fn item(r: &Row) -> Item {
    Item::new()
        .with("ID", r.id.as_str())
        .with("Name", r.name.as_str())
        .with("Driver", r.driver.as_str())
        .with("Scope", "local")
        .with("IPv6", "false")
        .with("Internal", "false")
        .with("Labels", "")
        .with("CreatedAt", template::go_time_of(&r.created))
}
