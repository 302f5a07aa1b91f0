//! The runtime [`Config`] of a container: Docker's rules for how the
//! options and the image's config combine.

use std::io::Read;
use std::path::Path;

use kiln_runtime::spec::{Config, Init, Network};
use kiln_runtime::Rootfs;

use super::options::CreateOptions;
use super::{limits, security, sysctls, ulimits};
use crate::image::Image;
use crate::Error;

/// The config to run `opts` on `rootfs` made from `image`; binds come
/// later, from the mounts.
pub(super) fn build_config(
    opts: &CreateOptions,
    rootfs: &Rootfs,
    image: &Image,
) -> Result<Config, Error> {
    let user = opts.user.as_deref().unwrap_or(image.user());
    let workdir = opts.workdir.as_deref().unwrap_or(image.workdir());
    let (no_new_privileges, seccomp) = security::options(&opts.security_opts)?;
    let mut user = kiln_runtime::resolve_user(rootfs, user)?;
    for gid in kiln_runtime::resolve_groups(rootfs, &opts.group_add)? {
        if gid != user.gid && !user.additional_gids.contains(&gid) {
            user.additional_gids.push(gid);
        }
    }
    Ok(Config {
        args: command(opts, image)?,
        env: environment(opts, image)?,
        cwd: if workdir.is_empty() { "/" } else { workdir }.into(),
        user,
        // Docker's host network keeps the host's name too.
        hostname: opts.hostname.clone().or_else(|| {
            (opts.network == "host")
                .then(|| nix::unistd::gethostname().ok()?.into_string().ok())
                .flatten()
        }),
        network: match opts.network.as_str() {
            "none" => Network::None,
            "host" => Network::Host,
            _ => Network::Private,
        },
        read_only: opts.read_only,
        privileged: opts.privileged,
        cap_add: opts.cap_add.clone(),
        cap_drop: opts.cap_drop.clone(),
        no_new_privileges,
        seccomp,
        binds: Vec::new(),
        tmpfs: opts.tmpfs.clone(),
        limits: limits::limits(&opts.limits)?,
        terminal: opts.tty,
        console_size: opts
            .tty
            .then(kiln_runtime::container::terminal::caller_size)
            .flatten(),
        init: init(opts.init),
        shm_size: shm_size(opts)?,
        rlimits: ulimits::rlimits(&opts.ulimits)?,
        sysctls: sysctls::sysctls(&opts.sysctls, &opts.network)?,
        host_namespaces: super::host_namespaces::host_namespaces(opts)?,
        devices: super::devices::devices(&opts.devices)?,
    })
}

/// Docker's rule: `--entrypoint` replaces the image's and drops its Cmd;
/// command words replace Cmd.
pub(super) fn command(opts: &CreateOptions, image: &Image) -> Result<Vec<String>, Error> {
    let (entrypoint, image_cmd) = match &opts.entrypoint {
        Some(e) if e.is_empty() => (Vec::new(), Vec::new()),
        Some(e) => (vec![e.clone()], Vec::new()),
        None => (image.entrypoint(), image.cmd()),
    };
    let cmd = if opts.command.is_empty() {
        image_cmd
    } else {
        opts.command.clone()
    };
    let all: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if all.is_empty() {
        return Err(Error::NoCommand);
    }
    Ok(all)
}

/// Image Env, then the env files, then `env`, later entries replacing
/// earlier.
pub(super) fn environment(opts: &CreateOptions, image: &Image) -> Result<Vec<String>, Error> {
    let mut env = image.env();
    let mut entries = Vec::new();
    for path in &opts.env_files {
        let text = std::fs::read_to_string(path).map_err(|source| Error::EnvFile {
            path: path.clone(),
            source,
        })?;
        entries.extend(
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string),
        );
    }
    entries.extend(opts.env.iter().cloned());
    for entry in entries {
        let item = match entry.split_once('=') {
            Some(_) => entry,
            // `NAME` alone copies NAME from this process's environment, or
            // is dropped.
            None => match std::env::var(&entry) {
                Ok(v) => format!("{entry}={v}"),
                Err(_) => continue,
            },
        };
        let key = item.split('=').next().unwrap_or("").to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(item);
    }
    Ok(env)
}

/// `--shm-size` in bytes: a size Docker reads (`64m`), more than 0.
pub(super) fn shm_size(opts: &CreateOptions) -> Result<Option<i64>, Error> {
    let Some(text) = &opts.shm_size else {
        return Ok(None);
    };
    match kiln_runtime::spec::parse_bytes(text) {
        Some(n) if n > 0 => Ok(Some(n)),
        _ => Err(Error::BadFlag {
            flag: "--shm-size",
            value: text.clone(),
            reason: format!("invalid size: {text:?}"),
        }),
    }
}

fn init(wanted: bool) -> Init {
    // Debian's tini-static, as Docker ships tini as docker-init.
    let tini = Path::new("/usr/bin/tini-static");
    match (wanted, tini.exists()) {
        (false, _) => Init::None,
        (true, true) => Init::Binary(tini.to_path_buf()),
        (true, false) => Init::Reaper,
    }
}

/// A 64-hex-digit ID, as Docker's containers and anonymous volumes have.
pub fn new_id() -> Result<String, Error> {
    let mut bytes = [0u8; 32];
    let random = |op| move |source| Error::Random { op, source };
    let mut f = std::fs::File::open("/dev/urandom").map_err(random("opening"))?;
    f.read_exact(&mut bytes).map_err(random("reading"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(entrypoint: &[&str], cmd: &[&str], env: &[&str]) -> Image {
        let words = |w: &[&str]| serde_json::to_string(w).unwrap();
        let raw = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},
                "config":{{"Entrypoint":{},"Cmd":{},"Env":{}}}}}"#,
            words(entrypoint),
            words(cmd),
            words(env)
        );
        let blob = kiln_cache::image::config::ConfigBlob::parse(raw.into_bytes()).unwrap();
        Image {
            config: blob.config,
            ..Image::default()
        }
    }

    fn opts(entrypoint: Option<&str>, command: &[&str]) -> CreateOptions {
        CreateOptions {
            entrypoint: entrypoint.map(str::to_string),
            command: command.iter().map(|s| s.to_string()).collect(),
            ..CreateOptions::default()
        }
    }

    #[test]
    fn command_words_replace_cmd_and_follow_the_entrypoint() {
        let i = image(&["/init"], &["serve"], &[]);
        assert_eq!(command(&opts(None, &[]), &i).unwrap(), ["/init", "serve"]);
        assert_eq!(
            command(&opts(None, &["ls", "-l"]), &i).unwrap(),
            ["/init", "ls", "-l"]
        );
    }

    #[test]
    fn an_entrypoint_option_drops_the_image_cmd() {
        let i = image(&["/init"], &["serve"], &[]);
        assert_eq!(command(&opts(Some("sh"), &[]), &i).unwrap(), ["sh"]);
        assert_eq!(
            command(&opts(Some("sh"), &["-c", "x"]), &i).unwrap(),
            ["sh", "-c", "x"]
        );
        assert_eq!(command(&opts(Some(""), &["true"]), &i).unwrap(), ["true"]);
        assert!(matches!(
            command(&opts(Some(""), &[]), &i),
            Err(Error::NoCommand)
        ));
        assert!(matches!(
            command(&opts(None, &[]), &Image::default()),
            Err(Error::NoCommand)
        ));
    }

    #[test]
    fn environment_precedence_is_image_then_files_then_options() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("env");
        std::fs::write(&file, "# comment\n\n B=file \nC=file\n").unwrap();
        let i = image(&[], &["sh"], &["A=image", "B=image", "PATH=/bin"]);
        let o = CreateOptions {
            env_files: vec![file],
            env: vec!["C=flag".into(), "D=x=y".into()],
            ..CreateOptions::default()
        };
        assert_eq!(
            environment(&o, &i).unwrap(),
            ["A=image", "PATH=/bin", "B=file", "C=flag", "D=x=y"]
        );
    }

    #[test]
    fn a_bare_name_copies_this_process_variable_or_is_dropped() {
        let i = image(&[], &["sh"], &["PATH=/image"]);
        let o = CreateOptions {
            env: vec!["KILN_ENGINE_TEST_SURELY_UNSET".into(), "PATH".into()],
            ..CreateOptions::default()
        };
        let path = std::env::var("PATH").unwrap();
        assert_eq!(environment(&o, &i).unwrap(), [format!("PATH={path}")]);
    }

    #[test]
    fn a_missing_env_file_is_named() {
        let o = CreateOptions {
            env_files: vec!["/nonexistent/kiln.env".into()],
            ..CreateOptions::default()
        };
        let err = environment(&o, &Image::default()).unwrap_err();
        assert_eq!(err.to_string(), "reading /nonexistent/kiln.env");
    }

    #[test]
    fn ids_are_64_hex_digits() {
        let id = new_id().unwrap();
        assert_eq!(id.len(), 64);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(id, new_id().unwrap());
    }
}
