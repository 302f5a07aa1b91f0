//! Named points where a test can make kiln die as if SIGKILLed, to prove
//! that a crash at that instant leaves a store that `kiln cache check`
//! passes. `KILN_TEST_CRASH_AT=<name>` dies at the first pass through the
//! point, `<name>#<n>` at the n-th (the third blob of a load). Unset, a
//! point costs one comparison. Not a user feature: undocumented in `--help`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

const ENV: &str = "KILN_TEST_CRASH_AT";

/// Dies with SIGKILL here if `KILN_TEST_CRASH_AT` names this point.
pub fn crash_point(name: &str) {
    static TARGET: OnceLock<Option<(String, u64)>> = OnceLock::new();
    static HITS: AtomicU64 = AtomicU64::new(0);
    let target = TARGET.get_or_init(|| std::env::var(ENV).ok().map(|v| parse(&v)));
    let Some((point, nth)) = target else { return };
    if point != name || HITS.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
        return;
    }
    // SIGKILL, not abort or exit: no destructor, no flush, no unlock runs,
    // exactly as when the kernel or a user kills the process.
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
    std::process::abort();
}

fn parse(value: &str) -> (String, u64) {
    match value.rsplit_once('#') {
        Some((name, n)) => (name.to_string(), n.parse().unwrap_or(1)),
        None => (value.to_string(), 1),
    }
}
