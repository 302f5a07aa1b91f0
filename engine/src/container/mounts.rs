//! A container's mounts: `-v` (anonymous, named, bind), `--volumes-from`,
//! and the image's VOLUMEs that nothing else covers.

use std::path::PathBuf;

use kiln_runtime::container::state::{now, MountPoint};
use kiln_runtime::spec::Bind;
use kiln_runtime::volume::Volumes;

use super::options::CreateOptions;
use super::spec::new_id;
use crate::image::Image;
use crate::{Engine, Error};

/// Binds for the runtime plus the mount points the record keeps.
pub(super) struct Mounts {
    pub binds: Vec<Bind>,
    pub points: Vec<MountPoint>,
}

impl Engine {
    /// The mounts of `opts` over `image`; new volumes are seeded from the
    /// image's files at their mount point.
    pub(super) fn mounts(&self, opts: &CreateOptions, image: &Image) -> Result<Mounts, Error> {
        let vols = Volumes::new(self.root().join("volumes"));
        let mut points = self.volumes_from(&opts.volumes_from)?;
        for spec in &opts.volumes {
            let point = volume_point(spec, &vols)?;
            points.retain(|p| p.destination != point.destination);
            points.push(point);
        }
        for dest in image.volumes() {
            if !points.iter().any(|p| p.destination == dest) {
                points.push(anonymous(&vols, &dest, false)?);
            }
        }
        for p in points.iter().filter(|p| p.kind == "volume") {
            vols.seed(&p.name, &image.lowers, &p.destination)?;
        }
        let binds = points
            .iter()
            .map(|p| Bind {
                source: p.source.clone(),
                destination: p.destination.clone(),
                read_only: p.read_only,
            })
            .collect();
        Ok(Mounts { binds, points })
    }

    /// `C[:ro|rw]`: C's mount points, read-only or not as asked.
    fn volumes_from(&self, from: &[String]) -> Result<Vec<MountPoint>, Error> {
        let mut points = Vec::new();
        for from in from {
            let (key, mode) = from.split_once(':').unwrap_or((from.as_str(), ""));
            let source = self.containers().find(key)?;
            for m in source.record.mounts {
                let read_only = match mode {
                    "ro" => true,
                    "rw" => false,
                    _ => m.read_only,
                };
                points.push(MountPoint { read_only, ..m });
            }
        }
        Ok(points)
    }
}

fn anonymous(vols: &Volumes, dest: &str, read_only: bool) -> Result<MountPoint, Error> {
    let name = new_id()?;
    let v = vols.ensure(&name, true, &now())?;
    Ok(MountPoint {
        kind: "volume".into(),
        name,
        source: v.mountpoint,
        destination: dest.into(),
        read_only,
        anonymous: true,
    })
}

/// One `-v`: `/ctr`, `NAME:/ctr[:ro]` or `/host:/ctr[:ro]`.
fn volume_point(spec: &str, vols: &Volumes) -> Result<MountPoint, Error> {
    let parts: Vec<&str> = spec.split(':').collect();
    match parts.as_slice() {
        [dest] if dest.starts_with('/') => anonymous(vols, dest, false),
        [src, ..] if src.starts_with('/') => {
            let b = parse_bind(spec)?;
            Ok(MountPoint {
                kind: "bind".into(),
                name: String::new(),
                source: b.source,
                destination: b.destination,
                read_only: b.read_only,
                anonymous: false,
            })
        }
        [name, dest, rest @ ..] if dest.starts_with('/') && rest.len() <= 1 => {
            let read_only = match rest.first() {
                None => false,
                Some(mode) => is_read_only(mode, spec)?,
            };
            let v = vols.ensure(name, false, &now())?;
            Ok(MountPoint {
                kind: "volume".into(),
                name: name.to_string(),
                source: v.mountpoint,
                destination: dest.to_string(),
                read_only,
                anonymous: false,
            })
        }
        _ => Err(Error::VolumeSpec(spec.to_string())),
    }
}

/// `/host:/ctr[:ro|rw]`. Docker creates a missing host directory.
fn parse_bind(spec: &str) -> Result<Bind, Error> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, mode) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, m] => (*s, *d, *m),
        _ => return Err(Error::BindSpec(spec.to_string())),
    };
    if !src.starts_with('/') {
        return Err(Error::BindNotAbsolute(spec.to_string()));
    }
    if !dst.starts_with('/') {
        return Err(Error::VolumeNotAbsolute(spec.to_string()));
    }
    let read_only = !mode.is_empty() && is_read_only(mode, spec)?;
    std::fs::create_dir_all(src).ok();
    Ok(Bind {
        source: PathBuf::from(src),
        destination: dst.to_string(),
        read_only,
    })
}

/// A named volume's mode must be given when its colon is; a bind's may be
/// empty.
fn is_read_only(mode: &str, spec: &str) -> Result<bool, Error> {
    match mode {
        "rw" => Ok(false),
        "ro" => Ok(true),
        m => Err(Error::VolumeMode {
            mode: m.to_string(),
            spec: spec.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volumes() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("made");
        let b = parse_bind(&format!("{}:/data:ro", src.display())).unwrap();
        assert_eq!((b.destination.as_str(), b.read_only), ("/data", true));
        assert!(src.is_dir(), "a missing host directory is made");
        assert!(parse_bind("named:/data").is_err());
        assert!(parse_bind("/a:/b:zz").is_err());
    }

    #[test]
    fn bind_errors_say_what_is_wrong() {
        let msg = |s| parse_bind(s).unwrap_err().to_string();
        assert_eq!(
            msg("/a"),
            "invalid volume specification \"/a\": use SRC:DST[:ro]"
        );
        assert_eq!(
            msg("/a:b"),
            "invalid volume \"/a:b\": the container path must be absolute"
        );
        assert_eq!(
            msg("/a:/b:zz"),
            "invalid volume mode \"zz\" in \"/a:/b:zz\""
        );
    }

    #[test]
    fn volume_specs_that_name_no_container_path_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let vols = Volumes::new(dir.path());
        for spec in ["data", "name:rel", "name:/ctr:ro:x"] {
            assert!(
                matches!(volume_point(spec, &vols), Err(Error::VolumeSpec(_))),
                "{spec}"
            );
        }
        for spec in ["name:/ctr:zz", "name:/ctr:"] {
            assert!(
                matches!(volume_point(spec, &vols), Err(Error::VolumeMode { .. })),
                "{spec}"
            );
        }
    }
}
