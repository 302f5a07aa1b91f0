//! `--platform os/arch[/variant]` and picking a manifest from an index or a
//! Docker manifest list. Without a platform the host's is used, through the
//! store's own rule ([`crate::image::index::pick_platform`]).

use std::fmt;

use oci_spec::image::{Descriptor, ImageIndex};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlatformError {
    #[error("invalid platform {0:?}: expected os/arch[/variant], as linux/arm64/v8")]
    Invalid(String),
}

/// A platform a user asked for, normalised as containerd does
/// (`x86_64` → `amd64`, `aarch64` → `arm64`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Result<Platform, PlatformError> {
        let invalid = || PlatformError::Invalid(s.to_string());
        let parts: Vec<&str> = s.split('/').collect();
        let valid = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.')
        };
        if !(2..=3).contains(&parts.len()) || !parts.iter().all(valid) {
            return Err(invalid());
        }
        let architecture = match parts[1].to_ascii_lowercase().as_str() {
            "x86_64" | "x86-64" => "amd64".to_string(),
            "aarch64" => "arm64".to_string(),
            a => a.to_string(),
        };
        Ok(Platform {
            os: parts[0].to_ascii_lowercase(),
            architecture,
            variant: parts.get(2).map(|v| v.to_ascii_lowercase()),
        })
    }

    fn matches(&self, desc: &Descriptor) -> bool {
        let Some(p) = desc.platform() else {
            return false;
        };
        let variant_ok = match (&self.variant, p.variant()) {
            (None, _) => true,
            (Some(want), Some(have)) => want == have,
            // arm64's only variant is v8, often left out.
            (Some(want), None) => want == "v8" && self.architecture == "arm64",
        };
        p.os().to_string() == self.os
            && p.architecture().to_string() == self.architecture
            && variant_ok
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// The entry of `index` for `wanted`, or for the host when `None`.
pub fn pick<'i>(index: &'i ImageIndex, wanted: Option<&Platform>) -> Option<&'i Descriptor> {
    match wanted {
        None => crate::image::index::pick_platform(index),
        Some(w) => index.manifests().iter().find(|d| w.matches(d)),
    }
}

/// `linux/amd64, linux/arm64/v8`: what an index offers, for an error.
pub fn available(index: &ImageIndex) -> String {
    let list: Vec<String> = index
        .manifests()
        .iter()
        .filter_map(|d| d.platform().as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os(), p.architecture());
            if let Some(v) = p.variant() {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect();
    if list.is_empty() {
        "no platforms".to_string()
    } else {
        list.join(", ")
    }
}

/// The host's platform as a user would write it.
pub fn host() -> Platform {
    let arch = oci_spec::image::Arch::default().to_string();
    Platform {
        os: "linux".to_string(),
        architecture: arch,
        variant: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> ImageIndex {
        serde_json::from_str(
            r#"{"schemaVersion":2,"manifests":[
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
               "digest":"sha256:1111111111111111111111111111111111111111111111111111111111111111",
               "platform":{"os":"linux","architecture":"amd64"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
               "digest":"sha256:2222222222222222222222222222222222222222222222222222222222222222",
               "platform":{"os":"linux","architecture":"arm64","variant":"v8"}},
              {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,
               "digest":"sha256:3333333333333333333333333333333333333333333333333333333333333333",
               "platform":{"os":"linux","architecture":"arm","variant":"v7"}}]}"#,
        )
        .unwrap()
    }

    fn digit(d: Option<&Descriptor>) -> Option<char> {
        d.map(|d| d.digest().to_string().chars().nth(7).unwrap())
    }

    #[test]
    fn picks_by_platform_and_variant() {
        let idx = index();
        let p = |s| Platform::parse(s).unwrap();
        assert_eq!(digit(pick(&idx, Some(&p("linux/x86_64")))), Some('1'));
        assert_eq!(digit(pick(&idx, Some(&p("linux/arm64")))), Some('2'));
        assert_eq!(digit(pick(&idx, Some(&p("linux/arm64/v8")))), Some('2'));
        assert_eq!(digit(pick(&idx, Some(&p("linux/arm/v7")))), Some('3'));
        assert_eq!(digit(pick(&idx, Some(&p("linux/arm/v6")))), None);
        assert_eq!(digit(pick(&idx, Some(&p("windows/amd64")))), None);
        assert_eq!(available(&idx), "linux/amd64, linux/arm64/v8, linux/arm/v7");
    }

    #[test]
    fn refuses_malformed_platforms() {
        for bad in ["linux", "linux/", "/amd64", "a/b/c/d", "linux/am d64", ""] {
            assert!(Platform::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Platform::parse("Linux/AMD64").unwrap().to_string(),
            "linux/amd64"
        );
    }
}
