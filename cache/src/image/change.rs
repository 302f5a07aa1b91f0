//! The Dockerfile instructions `docker import --change` accepts, applied to
//! an image config. The CLI parses the text (with kiln-parser); this module
//! only knows what each instruction does to the config, as Docker's
//! `dockerfile.BuildFromConfig` does for import.

use std::collections::HashMap;

pub use oci_spec::image::Config;

/// One `--change` instruction, its words already unquoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Exec form as given; shell form is `["/bin/sh", "-c", text]`.
    Cmd(Vec<String>),
    Entrypoint(Vec<String>),
    Env(Vec<(String, String)>),
    Expose(Vec<String>),
    Label(Vec<(String, String)>),
    User(String),
    Workdir(String),
    Volume(Vec<String>),
    StopSignal(String),
}

/// The shell-form wrapping Docker uses on Linux.
pub fn shell_form(text: &str) -> Vec<String> {
    vec!["/bin/sh".to_string(), "-c".to_string(), text.to_string()]
}

/// Applies `changes` in order. ENTRYPOINT clears a CMD that did not come
/// from these same changes, as a Dockerfile's ENTRYPOINT clears an
/// inherited CMD (Docker's `cmdSet`).
pub fn apply_all(config: &mut Config, changes: Vec<Change>) {
    let mut cmd_set = false;
    for change in changes {
        match change {
            Change::Cmd(_) => cmd_set = true,
            Change::Entrypoint(_) if !cmd_set => {
                config.set_cmd(None);
            }
            _ => {}
        }
        apply(config, change);
    }
}

fn apply(config: &mut Config, change: Change) {
    match change {
        Change::Cmd(cmd) => {
            config.set_cmd(Some(cmd));
        }
        Change::Entrypoint(ep) => {
            config.set_entrypoint(Some(ep));
        }
        Change::Env(pairs) => {
            let mut env = config.env().clone().unwrap_or_default();
            for (k, v) in pairs {
                env.retain(|e| e.split('=').next() != Some(k.as_str()));
                env.push(format!("{k}={v}"));
            }
            config.set_env(Some(env));
        }
        Change::Expose(ports) => {
            let mut all = config.exposed_ports().clone().unwrap_or_default();
            for p in ports {
                let p = if p.contains('/') {
                    p
                } else {
                    format!("{p}/tcp")
                };
                if !all.contains(&p) {
                    all.push(p);
                }
            }
            config.set_exposed_ports(Some(all));
        }
        Change::Label(pairs) => {
            let mut labels: HashMap<String, String> = config.labels().clone().unwrap_or_default();
            labels.extend(pairs);
            config.set_labels(Some(labels));
        }
        Change::User(u) => {
            config.set_user(Some(u));
        }
        Change::Workdir(w) => {
            let joined = match config.working_dir() {
                Some(base) if !w.starts_with('/') => format!("{}/{w}", base.trim_end_matches('/')),
                _ => w,
            };
            config.set_working_dir(Some(joined));
        }
        Change::Volume(vols) => {
            let mut all = config.volumes().clone().unwrap_or_default();
            for v in vols {
                if !all.contains(&v) {
                    all.push(v);
                }
            }
            config.set_volumes(Some(all));
        }
        Change::StopSignal(s) => {
            config.set_stop_signal(Some(s));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_build_the_config_docker_import_makes() {
        let mut c = Config::default();
        apply_all(
            &mut c,
            vec![
                Change::Cmd(vec!["sh".into()]),
                Change::Env(vec![("A".into(), "1".into())]),
                Change::Env(vec![("A".into(), "2".into())]),
                Change::Expose(vec!["80".into(), "53/udp".into()]),
                Change::Workdir("/app".into()),
                Change::Workdir("sub".into()),
                Change::Entrypoint(vec!["/bin/init".into()]),
            ],
        );
        assert_eq!(c.cmd().as_deref(), Some(&["sh".to_string()][..]));
        assert_eq!(c.env().as_deref(), Some(&["A=2".to_string()][..]));
        assert_eq!(
            c.exposed_ports().as_ref().unwrap(),
            &vec!["80/tcp".to_string(), "53/udp".to_string()]
        );
        assert_eq!(c.working_dir().as_deref(), Some("/app/sub"));
        assert_eq!(
            c.entrypoint().as_deref(),
            Some(&["/bin/init".to_string()][..])
        );
        // A CMD from an earlier import survives no ENTRYPOINT change here.
        apply_all(&mut c, vec![Change::Entrypoint(vec!["/x".into()])]);
        assert_eq!(c.cmd(), &None);
    }
}
