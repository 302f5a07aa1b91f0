//! `kiln info`: Docker's system-wide report (container and image counts,
//! storage and cgroup drivers, the host), or `--format` over Docker's
//! `GET /info` keys.

use std::io::{self, Write};
use std::process::ExitCode;

use kiln_cache::registry::config::DOCKER_HUB;
use kiln_cache::units::bytes_size;
use kiln_engine::info::SystemInfo;
use kiln_engine::Engine;

use crate::globals::Globals;

#[derive(clap::Args)]
pub struct Args {
    /// Format the output using a Go template ({{json .}}, {{.Driver}})
    #[arg(short, long)]
    format: Option<String>,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let mirrors = crate::config::registry_config(globals)?
        .hosts
        .remove(DOCKER_HUB)
        .map(|h| h.mirrors)
        .unwrap_or_default();
    let info = Engine::new(&globals.root).info(mirrors)?;
    let mut out = io::stdout().lock();
    if let Some(template) = args.format {
        let value = serde_json::to_value(&info)?;
        return crate::cmd::version::write_formatted(&mut out, &template, &value);
    }
    write!(out, "{}{}", client_text(globals), text(&info))?;
    Ok(ExitCode::SUCCESS)
}

/// Docker's first section: the client's side (kiln has one context).
fn client_text(globals: &Globals) -> String {
    format!(
        "Client:\n Context:    default\n Debug Mode: {}\n\n",
        globals.debug
    )
}

fn text(i: &SystemInfo) -> String {
    let mut t = String::from("Server:\n");
    let mut line = |indent: usize, key: &str, value: &dyn std::fmt::Display| {
        t.push_str(&format!("{:indent$}{key}: {value}\n", ""));
    };
    line(1, "Containers", &i.containers);
    line(2, "Running", &i.containers_running);
    line(2, "Paused", &i.containers_paused);
    line(2, "Stopped", &i.containers_stopped);
    line(1, "Images", &i.images);
    line(1, "Server Version", &i.server_version);
    line(1, "Storage Driver", &i.driver);
    line(1, "Logging Driver", &i.logging_driver);
    line(1, "Cgroup Driver", &i.cgroup_driver);
    line(1, "Cgroup Version", &i.cgroup_version);
    line(1, "Kernel Version", &i.kernel_version);
    line(1, "Operating System", &i.operating_system);
    line(1, "OSType", &i.os_type);
    line(1, "Architecture", &i.architecture);
    line(1, "CPUs", &i.ncpu);
    line(1, "Total Memory", &bytes_size(i.mem_total));
    line(1, "Name", &i.name);
    line(1, "Kiln Root Dir", &i.docker_root_dir);
    if !i.registry_config.mirrors.is_empty() {
        t.push_str(" Registry Mirrors:\n");
        for m in &i.registry_config.mirrors {
            t.push_str(&format!("  {m}\n"));
        }
    }
    t
}
