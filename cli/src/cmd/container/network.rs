//! `kiln network create|ls|rm|prune`: user networks, on which containers reach
//! each other by name.

use std::process::ExitCode;

use kiln_runtime::container::state::now;
use kiln_runtime::network::user::{Networks, Options};

use super::run::new_id;
use crate::globals::Globals;

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
        let nets = Networks::new(globals.root.join("networks"));
        match self {
            Command::Create { opts, name } => {
                let opts = Options::parse(&opts)?;
                let net = nets.create(&name, &new_id()?, &now(), &opts)?;
                println!("{}", net.id);
            }
            Command::Ls { quiet } => {
                if !quiet {
                    println!("{:<14}{:<20}{:<10}SUBNET", "NETWORK ID", "NAME", "DRIVER");
                    for mode in ["bridge", "host", "none"] {
                        println!("{:<14}{:<20}{:<10}", "-", mode, mode);
                    }
                }
                for n in nets.list()? {
                    match quiet {
                        true => println!("{}", &n.id[..12]),
                        false => println!(
                            "{:<14}{:<20}{:<10}{}",
                            &n.id[..12],
                            n.name,
                            "bridge",
                            n.subnet()
                        ),
                    }
                }
            }
            Command::Prune(args) => return super::prune::network_prune(args, globals),
            Command::Rm { names } => {
                for name in names {
                    nets.remove(&name)?;
                    println!("{name}");
                }
            }
        }
        Ok(ExitCode::SUCCESS)
    }
}
