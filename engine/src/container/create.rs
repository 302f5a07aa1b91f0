//! Making a container: its runtime spec, rootfs, mounts, network, ports and
//! links, written as a record under `<root>/containers/<id>` (Docker's
//! `create`; `run` makes one the same way).

use std::path::Path;

use kiln_runtime::container::restart::RestartPolicy;
use kiln_runtime::container::state::{now, Container, Record};
use kiln_runtime::network::user::Networks;
use kiln_runtime::network::NetworkMode;
use kiln_runtime::spec::{Bind, Config};
use serde_json::{json, Map, Value};

use super::options::CreateOptions;
use super::{dns, expose, health, host_config, platform, ports, spec};
use crate::events::Event;
use crate::image::Image;
use crate::{Engine, Error};

impl Engine {
    /// Makes and records a container (created, not started). On failure
    /// nothing of it is left.
    pub fn create(&self, opts: &CreateOptions) -> Result<Container, Error> {
        if let Some(path) = opts.cidfile.as_deref().filter(|p| p.exists()) {
            return Err(Error::CidfileExists(path.to_path_buf()));
        }
        let id = spec::new_id()?;
        let dir = self.containers().dir().join(&id);
        let result = self.create_in(opts, &id, &dir).and_then(|c| {
            // A container whose ID could not be written is not kept.
            if let Err(e) = write_cidfile(opts, &c) {
                let _ = self.containers().forget(&c);
                return Err(e);
            }
            Ok(c)
        });
        match &result {
            Ok(c) => self.note(Event::container("create", c)),
            Err(_) => {
                let _ = std::fs::remove_dir_all(&dir);
            }
        }
        result
    }

    fn create_in(&self, opts: &CreateOptions, id: &str, dir: &Path) -> Result<Container, Error> {
        let name = match &opts.name {
            Some(n) => n.trim_start_matches('/').to_string(),
            None => generated_name(id),
        };
        let (rootfs, image) = self.rootfs(opts, dir)?;
        kiln_cache::stop_point("container-before-record");
        if let (Some(wanted), Some(reference)) = (platform::requested(opts)?, &opts.image) {
            platform::check_image(reference, &image.config, &wanted)?;
        }
        let mut config = spec::build_config(opts, &rootfs, &image)?;
        if config.hostname.is_none() {
            config.hostname = Some(id[..12].to_string());
        }
        let mut network = self.network_mode(&opts.network)?;
        let mounts = self.mounts(opts, &image)?;
        config.binds.extend(mounts.binds);
        if let NetworkMode::User(net) = &network {
            config.binds.push(Bind {
                source: self.networks().hosts_path(net),
                destination: "/etc/hosts".into(),
                read_only: false,
            });
        }
        let links = self.links(&opts.links, &name, &network)?;
        config.env.extend(links.env);
        // Its own /etc/hosts is kept: the shared file is not bound.
        if let Some(mode) = links.network {
            network = mode;
        }
        let ports = ports::ports(opts, &image)?;
        let exposed = expose::exposed(opts, &image)?;
        let healthcheck = health::merged(
            health::healthcheck(&opts.health)?,
            image.healthcheck.as_ref(),
        );
        let mut spec = config.to_spec(id)?;
        dns::annotate(&mut spec, opts, &links.hosts)?;
        host_config::note(&mut spec, opts);
        super::log_options::log_config(opts)?.note(&mut spec);
        let mut record = Record {
            id: id.to_string(),
            name,
            created: now(),
            image: opts.image.clone().unwrap_or_default(),
            image_id: image.id.clone(),
            spec,
            rootfs,
            tty: opts.tty,
            open_stdin: opts.interactive,
            restart: RestartPolicy::parse(&opts.restart)?,
            auto_remove: opts.rm,
            stop_signal: stop_signal(opts, &image).unwrap_or("SIGTERM").to_string(),
            stop_timeout: opts.stop_timeout,
            network,
            ports,
            mounts: mounts.points,
            config: docker_config(opts, &image, &config, &exposed),
        };
        if let (Some(check), Some(fields)) = (healthcheck, record.config.as_object_mut()) {
            fields.insert("Healthcheck".into(), check);
        }
        if opts.rm && record.restart != RestartPolicy::No {
            return Err(Error::RestartWithRm);
        }
        Ok(self.containers().create(&record)?)
    }

    fn networks(&self) -> Networks {
        Networks::new(self.root().join("networks"))
    }

    fn network_mode(&self, name: &str) -> Result<NetworkMode, Error> {
        Ok(match name {
            "none" => NetworkMode::None,
            "host" => NetworkMode::Host,
            "private" | "bridge" | "default" => NetworkMode::Private,
            n => NetworkMode::User(self.networks().get(n)?.name),
        })
    }
}

/// `--cidfile`: the ID, in a file that must not exist yet (made with
/// O_EXCL, so two containers cannot both claim it).
fn write_cidfile(opts: &CreateOptions, c: &Container) -> Result<(), Error> {
    use std::io::Write;
    let Some(path) = &opts.cidfile else {
        return Ok(());
    };
    let mut f = match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(Error::CidfileExists(path.clone()))
        }
        Err(source) => {
            return Err(Error::Cidfile {
                path: path.clone(),
                source,
            })
        }
    };
    f.write_all(c.record.id.as_bytes())
        .map_err(|source| Error::Cidfile {
            path: path.clone(),
            source,
        })
}

/// The option's, else the image's STOPSIGNAL.
fn stop_signal<'a>(opts: &'a CreateOptions, image: &'a Image) -> Option<&'a str> {
    opts.stop_signal
        .as_deref()
        .or_else(|| Some(image.stop_signal()).filter(|s| !s.is_empty()))
}

/// Docker's `Config` section of `inspect`.
fn docker_config(
    opts: &CreateOptions,
    image: &Image,
    config: &Config,
    exposed: &[String],
) -> Value {
    // With a rootfs and no image, the first command word stands in the
    // image's place, as it always has in kiln's records.
    let image_name = opts.image.as_ref().or(opts.command.first());
    let exposed: Map<String, Value> = exposed.iter().map(|p| (p.clone(), json!({}))).collect();
    json!({
        "Hostname": config.hostname,
        "User": opts.user.as_deref().unwrap_or(image.user()),
        "Tty": opts.tty,
        "OpenStdin": opts.interactive,
        "Env": config.env,
        "Cmd": config.args,
        "Image": image_name,
        "WorkingDir": config.cwd,
        "Entrypoint": image.entrypoint(),
        "StopSignal": opts.stop_signal.as_deref().unwrap_or(image.stop_signal()),
        "ExposedPorts": exposed,
        "Labels": labels(&opts.labels, image),
    })
}

/// The image's labels with the option's over them, as Docker merges them.
fn labels(options: &[String], image: &Image) -> Value {
    let mut all = image.labels();
    for l in options {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        all.insert(k.to_string(), Value::String(v.to_string()));
    }
    Value::Object(all)
}

/// A Docker-like `adjective_noun` name, derived from the ID.
fn generated_name(id: &str) -> String {
    const LEFT: [&str; 8] = [
        "brave", "calm", "eager", "fond", "keen", "lucid", "quiet", "swift",
    ];
    const RIGHT: [&str; 8] = [
        "curie", "darwin", "euler", "hopper", "lovelace", "noether", "ritchie", "turing",
    ];
    let b = u32::from_str_radix(&id[..6], 16).unwrap_or(0) as usize;
    format!("{}_{}_{}", LEFT[b % 8], RIGHT[(b / 8) % 8], &id[6..10])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_names_come_from_the_id() {
        let id = "000009abcdef";
        assert_eq!(generated_name(id), "calm_darwin_abcd");
        assert_eq!(generated_name(id), generated_name(id));
    }

    #[test]
    fn option_labels_go_over_the_image_labels() {
        let raw =
            br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]},
            "config":{"Labels":{"a":"image","b":"image"}}}"#;
        let blob = kiln_cache::image::config::ConfigBlob::parse(raw.to_vec()).unwrap();
        let image = Image {
            config: blob.config,
            ..Image::default()
        };
        let merged = labels(&["b=flag".into(), "c".into()], &image);
        assert_eq!(merged, json!({"a": "image", "b": "flag", "c": ""}));
    }

    #[test]
    fn the_stop_signal_is_the_option_then_the_image() {
        let image = Image::default();
        assert_eq!(stop_signal(&CreateOptions::default(), &image), None);
        let o = CreateOptions {
            stop_signal: Some("SIGINT".into()),
            ..CreateOptions::default()
        };
        assert_eq!(stop_signal(&o, &image), Some("SIGINT"));
    }
}
