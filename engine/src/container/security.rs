//! `--security-opt`: no-new-privileges and the seccomp profile.

use kiln_runtime::oci_spec::runtime::LinuxSeccomp;
use kiln_runtime::spec::Seccomp;

use crate::Error;

/// `no-new-privileges[=true|false|:true]`, `seccomp=unconfined|FILE`.
pub(super) fn options(opts: &[String]) -> Result<(bool, Seccomp), Error> {
    let mut nnp = false;
    let mut seccomp = Seccomp::Default;
    for opt in opts {
        let (key, value) = opt.split_once(['=', ':']).unwrap_or((opt.as_str(), ""));
        match (key, value) {
            ("no-new-privileges", "" | "true") => nnp = true,
            ("no-new-privileges", "false") => nnp = false,
            ("seccomp", "unconfined") => seccomp = Seccomp::Unconfined,
            ("seccomp", file) if !file.is_empty() => {
                seccomp = Seccomp::Profile(Box::new(profile(file)?));
            }
            _ => return Err(Error::SecurityOpt(opt.clone())),
        }
    }
    Ok((nnp, seccomp))
}

fn profile(file: &str) -> Result<LinuxSeccomp, Error> {
    let text = std::fs::read_to_string(file).map_err(|source| Error::SeccompRead {
        file: file.to_string(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|source| Error::SeccompParse {
        file: file.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(opts: &[&str]) -> Vec<String> {
        opts.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn security_opts() {
        let (nnp, s) = options(&texts(&["no-new-privileges", "seccomp=unconfined"])).unwrap();
        assert!(nnp);
        assert!(matches!(s, Seccomp::Unconfined));
        assert!(options(&texts(&["apparmor=x"])).is_err());
    }

    #[test]
    fn the_last_no_new_privileges_wins() {
        let (nnp, s) = options(&texts(&[
            "no-new-privileges:true",
            "no-new-privileges=false",
        ]))
        .unwrap();
        assert!(!nnp);
        assert!(matches!(s, Seccomp::Default));
    }

    #[test]
    fn a_profile_file_is_read_and_named_when_bad() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("p.json");
        std::fs::write(&good, r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#).unwrap();
        let (_, s) = options(&[format!("seccomp={}", good.display())]).unwrap();
        assert!(matches!(s, Seccomp::Profile(_)));
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{").unwrap();
        let err = options(&[format!("seccomp={}", bad.display())]).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("parsing seccomp profile {}", bad.display())
        );
    }
}
