//! `--secret`, `--ssh` and `--platform` of `kiln build`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use anyhow::bail;
use kiln_solver::SecretSource;

pub fn secrets(flags: &[String]) -> anyhow::Result<BTreeMap<String, SecretSource>> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (id, source) = SecretSource::parse_flag(f)?;
        if let SecretSource::File(p) = &source {
            if !p.is_file() {
                bail!("--secret {f:?}: {} is not a file", p.display());
            }
        }
        out.insert(id, source);
    }
    Ok(out)
}

/// `default` (from `$SSH_AUTH_SOCK`), `ID=SOCKET`, or `ID` alone (also
/// `$SSH_AUTH_SOCK`), as buildx takes them.
pub fn ssh(flags: &[String]) -> anyhow::Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    for f in flags {
        let (id, path) = match f.split_once('=') {
            Some((id, path)) => (id.to_string(), PathBuf::from(path)),
            None => match std::env::var_os("SSH_AUTH_SOCK") {
                Some(p) => (f.clone(), PathBuf::from(p)),
                None => bail!("--ssh {f}: SSH_AUTH_SOCK is not set"),
            },
        };
        if !path.exists() {
            bail!("--ssh {f}: {} does not exist", path.display());
        }
        out.insert(id, path);
    }
    Ok(out)
}

fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "arm" => "arm",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        "riscv64" => "riscv64",
        other => other,
    }
}

/// The qemu name binfmt_misc registers an emulator under.
fn qemu_name(arch: &str) -> &str {
    match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "ppc64le" => "ppc64le",
        other => other,
    }
}

/// Checks `--platform`: the host's is built natively; another one runs
/// its RUN steps through binfmt_misc emulation (qemu-user-static), which
/// must be registered and enabled for it, as BuildKit's does.
pub fn check_platform(platform: &str) -> anyhow::Result<()> {
    let host = format!("linux/{}", host_arch());
    let list: Vec<&str> = platform.split(',').map(str::trim).collect();
    if list.len() > 1 {
        bail!("--platform {platform}: kiln builds one platform at a time");
    }
    for p in list {
        let arch = p
            .strip_prefix("linux/")
            .unwrap_or(p)
            .split('/')
            .next()
            .unwrap_or("");
        if p == host || arch == host_arch() {
            continue;
        }
        let entry =
            PathBuf::from("/proc/sys/fs/binfmt_misc").join(format!("qemu-{}", qemu_name(arch)));
        let enabled =
            std::fs::read_to_string(&entry).is_ok_and(|s| s.lines().next() == Some("enabled"));
        if !enabled {
            bail!(
                "--platform {p}: this machine is {host} and no binfmt_misc emulation for {p} is registered ({} is missing or disabled); install qemu-user-static (and mount binfmt_misc on /proc/sys/fs/binfmt_misc) to build for it",
                entry.display()
            );
        }
    }
    Ok(())
}
