//! `kiln network create|ls|rm|prune`: user networks, on which containers reach
//! each other by name.

use std::process::ExitCode;

use kiln_engine::Engine;
use kiln_runtime::network::user::Options;

use crate::globals::Globals;
use crate::table::Table;

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
            Command::Ls { quiet } => {
                let mut table = Table::new(&["NETWORK ID", "NAME", "DRIVER", "SUBNET"]);
                for mode in ["bridge", "host", "none"] {
                    table.push(vec!["-".into(), mode.into(), mode.into(), String::new()]);
                }
                for n in engine.list_networks()? {
                    // Read back from a file under the store root: an ID
                    // shorter than 12 (or cut in a character) is shown whole.
                    let short = n.id.get(..12).unwrap_or(&n.id);
                    match quiet {
                        true => println!("{short}"),
                        false => table.push(vec![
                            short.to_string(),
                            n.name.clone(),
                            "bridge".into(),
                            n.subnet(),
                        ]),
                    }
                }
                if !quiet {
                    table.write(&mut std::io::stdout().lock())?;
                }
            }
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
