//! `run`/`create --platform`: the platform is one this machine runs (its
//! own, or one binfmt_misc emulates), and the image the container is made
//! from is for it, as Docker checks the image's config after a pull.

use std::path::PathBuf;

use kiln_cache::image::config::ConfigBlob;
use kiln_cache::registry::platform::{self, Platform};
use kiln_cache::store::Store;
use kiln_cache::StoreError;

use super::options::CreateOptions;
use crate::{Engine, Error};

/// The platform asked for, checked: well formed and runnable here.
pub(super) fn requested(opts: &CreateOptions) -> Result<Option<Platform>, Error> {
    let Some(text) = opts.platform.as_deref() else {
        return Ok(None);
    };
    let bad = |reason: String| Error::BadFlag {
        flag: "--platform",
        value: text.to_string(),
        reason,
    };
    let wanted = Platform::parse(text).map_err(|e| bad(e.to_string()))?;
    if wanted.os != "linux" {
        return Err(bad(format!(
            "kiln runs linux containers only, not {}",
            wanted.os
        )));
    }
    let host = platform::host();
    if wanted.architecture != host.architecture && !emulated(&wanted.architecture) {
        return Err(bad(format!(
            "this machine is {host} and cannot run {wanted}: no binfmt_misc emulation for it is registered and enabled ({}); install qemu-user-static to run it",
            binfmt_entry(&wanted.architecture).display()
        )));
    }
    Ok(Some(wanted))
}

/// binfmt_misc's entry for the qemu emulator of `arch`.
fn binfmt_entry(arch: &str) -> PathBuf {
    let qemu = match arch {
        "amd64" => "x86_64",
        "arm64" => "aarch64",
        "386" => "i386",
        other => other,
    };
    PathBuf::from("/proc/sys/fs/binfmt_misc").join(format!("qemu-{qemu}"))
}

fn emulated(arch: &str) -> bool {
    std::fs::read_to_string(binfmt_entry(arch)).is_ok_and(|s| s.lines().next() == Some("enabled"))
}

/// The image's platform as its config names it (`linux/amd64`, with the
/// variant when it has one).
fn image_platform(config: &oci_spec::image::ImageConfiguration) -> Platform {
    Platform {
        os: config.os().to_string(),
        architecture: config.architecture().to_string(),
        variant: config.variant().clone(),
    }
}

/// Whether `image` is for `wanted`: same OS and architecture, and the
/// variant when one is asked for and the image names one.
fn fits(image: &Platform, wanted: &Platform) -> bool {
    let variant_ok = match (&wanted.variant, &image.variant) {
        (Some(w), Some(i)) => w == i,
        _ => true,
    };
    image.os == wanted.os && image.architecture == wanted.architecture && variant_ok
}

/// Refuses an image made for another platform than the one asked for.
pub(super) fn check_image(
    reference: &str,
    config: &oci_spec::image::ImageConfiguration,
    wanted: &Platform,
) -> Result<(), Error> {
    let actual = image_platform(config);
    if fits(&actual, wanted) {
        return Ok(());
    }
    Err(Error::PlatformMismatch {
        reference: reference.to_string(),
        wanted: wanted.to_string(),
        actual: actual.to_string(),
    })
}

impl Engine {
    /// Whether the store's `reference` is for `wanted` (false when the
    /// store has no such image): a `--pull missing` run with `--platform`
    /// pulls again when it is not, as Docker's does.
    pub fn image_fits_platform(&self, reference: &str, wanted: &str) -> Result<bool, Error> {
        let Ok(wanted) = Platform::parse(wanted) else {
            return Ok(false);
        };
        let store = Store::open(self.root()).map_err(Error::OpenStore)?;
        let entry = match store.resolve_image(reference) {
            Ok(entry) => entry,
            Err(StoreError::ImageNotFound(_)) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        let blob =
            ConfigBlob::parse(store.image_config(&entry.image)?).map_err(Error::ImageConfig)?;
        Ok(fits(&image_platform(&blob.config), &wanted))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(platform: &str) -> CreateOptions {
        CreateOptions {
            platform: Some(platform.into()),
            ..CreateOptions::default()
        }
    }

    #[test]
    fn the_hosts_platform_is_taken_and_nonsense_refused() {
        let host = platform::host().to_string();
        assert_eq!(
            requested(&opts(&host)).unwrap().map(|p| p.to_string()),
            Some(host)
        );
        assert!(requested(&CreateOptions::default()).unwrap().is_none());
        for bad in ["foo", "linux/", "windows/amd64", "linux/amd64/v1/x", ""] {
            let e = requested(&opts(bad)).unwrap_err().to_string();
            assert!(e.contains("--platform"), "{bad}: {e}");
        }
    }

    #[test]
    fn an_image_fits_its_own_platform_only() {
        let p = |s: &str| Platform::parse(s).unwrap();
        assert!(fits(&p("linux/amd64"), &p("linux/amd64")));
        assert!(fits(&p("linux/arm64/v8"), &p("linux/arm64")));
        assert!(!fits(&p("linux/amd64"), &p("linux/arm64")));
        assert!(!fits(&p("linux/arm/v6"), &p("linux/arm/v7")));
    }
}
