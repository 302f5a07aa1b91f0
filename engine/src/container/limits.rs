//! Resource limits: Docker's size texts and the checks Docker makes.

use kiln_runtime::spec::{parse_bytes, Limits};

use super::options::LimitOptions;
use crate::Error;

pub(super) fn limits(opts: &LimitOptions) -> Result<Limits, Error> {
    let memory = bytes("--memory", &opts.memory)?;
    let memory_swap = bytes("--memory-swap", &opts.memory_swap)?;
    if memory_swap.is_some() && memory.is_none() {
        return Err(Error::SwapWithoutMemory);
    }
    // Docker's daemon refuses these before anything runs; a container
    // under 6 MB would be killed by the kernel at its first page.
    if memory.is_some_and(|m| m > 0 && m < MIN_MEMORY) {
        return Err(super::UpdateError::MemoryTooSmall.into());
    }
    if let (Some(m), Some(s)) = (memory, memory_swap) {
        if m > 0 && s > 0 && s < m {
            return Err(super::UpdateError::SwapBelowMemory.into());
        }
    }
    if let Some(c) = opts.cpus {
        if !c.is_finite() || c <= 0.0 {
            return Err(Error::BadCpus(c));
        }
    }
    Ok(Limits {
        memory,
        memory_swap,
        cpus: opts.cpus,
        cpu_shares: opts.cpu_shares,
        pids_limit: opts.pids_limit,
    })
}

/// The smallest memory limit Docker accepts.
pub(super) const MIN_MEMORY: i64 = 6 << 20;

/// A size (`64m`), or `-1` for unlimited.
pub(super) fn bytes(flag: &'static str, value: &Option<String>) -> Result<Option<i64>, Error> {
    match value.as_deref() {
        None => Ok(None),
        Some("-1") => Ok(Some(-1)),
        Some(s) => parse_bytes(s).map(Some).ok_or_else(|| Error::BadSize {
            flag,
            value: s.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn memory(memory: Option<&str>, swap: Option<&str>) -> LimitOptions {
        LimitOptions {
            memory: memory.map(str::to_string),
            memory_swap: swap.map(str::to_string),
            ..LimitOptions::default()
        }
    }

    #[test]
    fn sizes_are_read_and_minus_one_is_unlimited() {
        let l = limits(&memory(Some("64m"), Some("-1"))).unwrap();
        assert_eq!((l.memory, l.memory_swap), (Some(64 << 20), Some(-1)));
        assert_eq!(limits(&LimitOptions::default()).unwrap().memory, None);
    }

    #[test]
    fn a_bad_size_names_its_flag() {
        let err = limits(&memory(Some("lots"), None)).unwrap_err();
        assert_eq!(err.to_string(), "invalid --memory value \"lots\"");
        let err = limits(&memory(Some("1g"), Some("x"))).unwrap_err();
        assert_eq!(err.to_string(), "invalid --memory-swap value \"x\"");
    }

    #[test]
    fn swap_needs_a_memory_limit() {
        assert!(matches!(
            limits(&memory(None, Some("1g"))),
            Err(Error::SwapWithoutMemory)
        ));
    }

    #[test]
    fn cpus_must_be_positive() {
        for bad in [0.0, -1.5, f64::NAN, f64::INFINITY] {
            let o = LimitOptions {
                cpus: Some(bad),
                ..LimitOptions::default()
            };
            assert!(matches!(limits(&o), Err(Error::BadCpus(_))), "{bad}");
        }
        let o = LimitOptions {
            cpus: Some(0.5),
            pids_limit: Some(-1),
            cpu_shares: Some(512),
            ..LimitOptions::default()
        };
        let l = limits(&o).unwrap();
        assert_eq!(
            (l.cpus, l.pids_limit, l.cpu_shares),
            (Some(0.5), Some(-1), Some(512))
        );
    }
}
