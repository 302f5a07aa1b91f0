//! The overlay root: its `lowerdir=` list, deduplicated and, when too long
//! for one page, named relative to the snapshots directory.

use std::path::{Path, PathBuf};

use nix::mount::MsFlags;

use super::{mount, Error, Result, Rootfs};
use crate::syscalls::Syscalls;

/// `lowers` without repeats, each kept where it first (highest) appears.
/// overlayfs refuses a directory listed twice (ELOOP, "conflicting
/// lowerdir path"), and the store keeps one snapshot per diff_id, so an
/// image with two identical layers (two empty ones, from RUN or WORKDIR
/// steps that changed nothing) names one directory twice. The lower copy
/// adds nothing: every path it holds, the higher copy holds too.
pub fn distinct_lowers(lowers: &[PathBuf]) -> Vec<&PathBuf> {
    let mut seen = std::collections::HashSet::new();
    lowers.iter().filter(|l| seen.insert(*l)).collect()
}

/// mount(2) reads one page of options (and `,volatile` may follow).
const OPTIONS_MAX: usize = 4095 - ",volatile".len();

/// The layers for `lowerdir=`, top first. A list too long for one page
/// (about 80 store paths) names them relative to the directory that holds
/// them all, the store's `snapshots/`, made the working directory for the
/// mount (as Docker's overlay2 names its short links): about 150 fit.
fn lower_option<S: Syscalls>(sys: &S, lowers: &[&PathBuf], rest: usize) -> Result<String> {
    let absolute: Vec<String> = lowers.iter().map(|l| l.display().to_string()).collect();
    let absolute = absolute.join(":");
    let parent = lowers.first().and_then(|l| l.parent());
    let shared = parent.filter(|p| lowers.iter().all(|l| l.parent() == Some(*p)));
    let Some(parent) = shared.filter(|_| "lowerdir=".len() + absolute.len() + rest > OPTIONS_MAX)
    else {
        return Ok(absolute);
    };
    sys.chdir(parent).map_err(|source| Error::Fs {
        op: "entering",
        path: parent.to_path_buf(),
        source,
    })?;
    let names: Vec<String> = lowers
        .iter()
        .filter_map(|l| l.file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .collect();
    let names = names.join(":");
    if "lowerdir=".len() + names.len() + rest > OPTIONS_MAX {
        return Err(Error::TooDeep(lowers.len()));
    }
    Ok(names)
}

pub(super) fn mount_rootfs<S: Syscalls>(sys: &S, rootfs: &Rootfs, target: &Path) -> Result<()> {
    match rootfs {
        Rootfs::Dir(dir) => {
            let flags = MsFlags::MS_BIND | MsFlags::MS_REC;
            mount(sys, Some(dir), target, None, flags, None)
        }
        Rootfs::Overlay {
            lowers,
            upper,
            work,
            volatile,
        } => {
            if lowers.is_empty() {
                return Err(Error::NoLowers);
            }
            // In a user namespace the `trusted.` xattrs overlayfs keeps its
            // opaque directories in cannot be set (removing a lower
            // directory fails with EIO): rootless, it keeps them in `user.`.
            let xattrs = if crate::rootless::active() {
                ",userxattr"
            } else {
                ""
            };
            let rest = format!(
                ",upperdir={},workdir={}{xattrs}",
                upper.display(),
                work.display()
            );
            let lower = lower_option(sys, &distinct_lowers(lowers), rest.len())?;
            let data = format!("lowerdir={lower}{rest}");
            let source = Some(Path::new("overlay"));
            let overlay = |data: &str| {
                mount(
                    sys,
                    source,
                    target,
                    Some("overlay"),
                    MsFlags::empty(),
                    Some(data),
                )
            };
            // Kernels before 5.10 know no `volatile`: mount as before.
            match volatile {
                true => overlay(&format!("{data},volatile")).or_else(|_| overlay(&data)),
                false => overlay(&data),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{host, layout_with, spec};
    use super::super::{prepare, EtcFiles};
    use super::*;
    use crate::syscalls::Call;

    #[test]
    fn a_lower_list_beyond_a_page_is_named_from_the_snapshots_dir() {
        let sys = host();
        let dir = "/var/lib/kiln/snapshots";
        let lowers: Vec<PathBuf> = (0..120).map(|i| format!("{dir}/{i:0>25}").into()).collect();
        let rootfs = Rootfs::Overlay {
            lowers,
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: true,
        };
        let spec = spec(false);
        let etc = EtcFiles::default();
        prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        let calls = sys.calls();
        let entered = calls.iter().position(|c| *c == Call::Chdir(dir.into()));
        let overlay = calls
            .iter()
            .position(|c| matches!(c, Call::Mount { fstype: Some(t), .. } if t == "overlay"));
        assert!(entered.unwrap() < overlay.unwrap(), "{calls:?}");
        let Call::Mount {
            data: Some(data), ..
        } = &calls[overlay.unwrap()]
        else {
            unreachable!()
        };
        assert!(data.len() < 4096, "{} bytes", data.len());
        let first = format!("lowerdir={:0>25}:{:0>25}:", 0, 1);
        assert!(data.starts_with(&first), "{data}");
        assert!(
            data.ends_with(",upperdir=/c/upper,workdir=/c/work,volatile"),
            "{data}"
        );
    }

    #[test]
    fn a_lower_list_beyond_a_page_even_relative_is_refused_by_count() {
        let sys = host();
        let lowers: Vec<PathBuf> = (0..300)
            .map(|i| format!("/var/lib/kiln/snapshots/{i:0>25}").into())
            .collect();
        let rootfs = Rootfs::Overlay {
            lowers,
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: false,
        };
        let spec = spec(false);
        let etc = EtcFiles::default();
        let err = prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap_err();
        assert!(matches!(err, Error::TooDeep(300)), "{err}");
    }

    #[test]
    fn overlay_lowers_are_top_first() {
        let sys = host();
        let rootfs = Rootfs::Overlay {
            lowers: vec!["/s/top".into(), "/s/base".into()],
            upper: "/c/upper".into(),
            work: "/c/work".into(),
            volatile: false,
        };
        let spec = spec(false);
        let etc = EtcFiles::default();
        prepare(&sys, &layout_with(&spec, &rootfs, &etc)).unwrap();
        let overlay = sys.calls().into_iter().find_map(|c| match c {
            Call::Mount {
                fstype: Some(t),
                data,
                ..
            } if t == "overlay" => data,
            _ => None,
        });
        assert_eq!(
            overlay.unwrap(),
            "lowerdir=/s/top:/s/base,upperdir=/c/upper,workdir=/c/work"
        );
    }

    #[test]
    fn a_layer_listed_twice_is_mounted_once_where_it_is_highest() {
        let lowers: Vec<PathBuf> = ["/s/empty", "/s/a", "/s/empty", "/s/base"]
            .map(PathBuf::from)
            .to_vec();
        let kept: Vec<&str> = distinct_lowers(&lowers)
            .iter()
            .map(|p| p.to_str().unwrap())
            .collect();
        assert_eq!(kept, ["/s/empty", "/s/a", "/s/base"]);
    }
}
