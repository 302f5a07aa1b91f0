//! Opaque identifiers for snapshots, cache records and leases: random,
//! lower-case base-36 (BuildKit's record IDs look the same), and validated
//! whenever one comes back from outside because it ends up in a path.

use std::fs::File;
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const ALPHABET: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// The length of every generated ID: 25 base-36 digits, ~129 bits.
pub const ID_LEN: usize = 25;

/// A fresh random ID. Reads the kernel's CSPRNG; if that is unreadable
/// (a broken chroot), falls back to blake3 of the time, pid and a counter,
/// which is still unique per process and never repeats within one.
pub fn random_id() -> String {
    let mut seed = [0u8; 32];
    let from_kernel = File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .is_ok();
    if !from_kernel {
        seed = fallback_seed();
    }
    let mut n = u128::from_le_bytes(seed[..16].try_into().unwrap_or([0; 16]));
    (0..ID_LEN)
        .map(|_| {
            let c = ALPHABET[(n % 36) as usize] as char;
            n /= 36;
            c
        })
        .collect()
}

fn fallback_seed() -> [u8; 32] {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut h = blake3::Hasher::new();
    h.update(&nanos.to_le_bytes());
    h.update(&std::process::id().to_le_bytes());
    h.update(&COUNTER.fetch_add(1, Ordering::Relaxed).to_le_bytes());
    *h.finalize().as_bytes()
}

/// True for a string that could be an ID of ours: safe as a path component.
pub fn is_valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_valid_and_distinct() {
        let a = random_id();
        let b = random_id();
        assert_eq!(a.len(), ID_LEN);
        assert!(is_valid_id(&a));
        assert_ne!(a, b);
        assert!(!is_valid_id("../x"));
        assert!(!is_valid_id(""));
        assert!(!is_valid_id("ABC"));
    }
}
