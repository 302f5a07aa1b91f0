//! Capability sets from the spec, applied around the switch of user: the
//! bounding set is cut while still root, the other sets after setuid (with
//! keep-caps on, as the kernel would otherwise clear them).

use std::collections::HashSet;

use caps::{CapSet, Capability as Cap, CapsHashSet};
use oci_spec::runtime::{Capability, LinuxCapabilities};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("capability {0}: {1}")]
    Caps(String, caps::errors::CapsError),
}

/// Docker's default capability set (moby `oci/caps/defaults.go`).
pub const DOCKER_DEFAULT: [Capability; 14] = [
    Capability::Chown,
    Capability::DacOverride,
    Capability::Fsetid,
    Capability::Fowner,
    Capability::Mknod,
    Capability::NetRaw,
    Capability::Setgid,
    Capability::Setuid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::NetBindService,
    Capability::SysChroot,
    Capability::Kill,
    Capability::AuditWrite,
];

/// Converts OCI names to the kernel's, skipping those this kernel lacks.
fn to_kernel(set: &Option<HashSet<Capability>>) -> CapsHashSet {
    let supported = caps::runtime::thread_all_supported();
    set.iter()
        .flatten()
        .filter_map(|c| format!("CAP_{c}").parse::<Cap>().ok())
        .filter(|c| supported.contains(c))
        .collect()
}

/// Drops every capability outside the spec's bounding set.
pub fn limit_bounding(spec: &LinuxCapabilities) -> Result<(), Error> {
    let keep = to_kernel(spec.bounding());
    for cap in caps::runtime::thread_all_supported() {
        if !keep.contains(&cap) {
            caps::drop(None, CapSet::Bounding, cap).map_err(|e| Error::Caps(cap.to_string(), e))?;
        }
    }
    Ok(())
}

/// Keeps permitted capabilities across the coming setuid.
pub fn keep_across_setuid(keep: bool) -> Result<(), Error> {
    caps::securebits::set_keepcaps(keep).map_err(|e| Error::Caps("keepcaps".into(), e))
}

/// Sets effective, permitted, inheritable and ambient sets; shrinking the
/// effective set first keeps each step a subset of the previous one.
pub fn set_process_sets(spec: &LinuxCapabilities) -> Result<(), Error> {
    let set = |which: CapSet, value: &CapsHashSet| {
        caps::set(None, which, value).map_err(|e| Error::Caps(format!("{which:?}"), e))
    };
    let effective = to_kernel(spec.effective());
    let permitted = to_kernel(spec.permitted());
    set(
        CapSet::Effective,
        &effective.intersection(&permitted).copied().collect(),
    )?;
    set(CapSet::Permitted, &permitted)?;
    set(CapSet::Effective, &effective)?;
    set(CapSet::Inheritable, &to_kernel(spec.inheritable()))?;
    let ambient = to_kernel(spec.ambient());
    if !ambient.is_empty() {
        set(CapSet::Ambient, &ambient)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oci_names_map_to_kernel_names() {
        let set: HashSet<Capability> = DOCKER_DEFAULT.into_iter().collect();
        let kernel = to_kernel(&Some(set));
        assert!(kernel.contains(&Cap::CAP_NET_BIND_SERVICE));
        assert!(kernel.contains(&Cap::CAP_AUDIT_WRITE));
        assert_eq!(kernel.len(), 14);
    }
}
