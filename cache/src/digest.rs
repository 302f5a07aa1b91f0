//! Content digests as OCI writes them: `sha256:<64 lower-case hex>`.
//!
//! A digest names a file under `blobs/sha256/`, so parsing is strict: any
//! other algorithm, length or character is refused before it can reach a
//! path (no `sha256:../../etc/passwd`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("invalid digest {0:?}: expected sha256:<64 lower-case hex digits>")]
    Invalid(String),
}

/// A sha256 digest. Always valid once constructed.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest([u8; 32]);

impl Digest {
    /// Parses `sha256:<64 hex>`; upper-case hex is refused because the same
    /// blob must never have two names.
    pub fn parse(s: &str) -> Result<Digest, DigestError> {
        let invalid = || DigestError::Invalid(s.chars().take(100).collect());
        let hex_part = s.strip_prefix("sha256:").ok_or_else(invalid)?;
        Digest::from_hex(hex_part).ok_or_else(invalid)
    }

    /// Parses the bare 64-hex form (a blob file name, a Docker image ID).
    pub fn from_hex(hex_part: &str) -> Option<Digest> {
        let valid = hex_part.len() == 64
            && hex_part
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return None;
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).ok()?;
        Some(Digest(bytes))
    }

    pub fn from_sha256_bytes(bytes: [u8; 32]) -> Digest {
        Digest(bytes)
    }

    /// The digest of `bytes`.
    pub fn of_bytes(bytes: &[u8]) -> Digest {
        Digest(Sha256::digest(bytes).into())
    }

    /// The 64 hex digits without the algorithm.
    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits: the IMAGE ID Docker prints.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Digest({self})")
    }
}

impl FromStr for Digest {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Digest::parse(s)
    }
}

impl Serialize for Digest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Digest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Digest::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl TryFrom<&oci_spec::image::Digest> for Digest {
    type Error = DigestError;
    fn try_from(d: &oci_spec::image::Digest) -> Result<Self, Self::Error> {
        Digest::parse(d.as_ref())
    }
}

impl From<Digest> for oci_spec::image::Digest {
    fn from(d: Digest) -> Self {
        oci_spec::image::Sha256Digest::from_str(&d.hex())
            .map(Into::into)
            .unwrap_or_else(|_| unreachable_digest())
    }
}

/// `Sha256Digest::from_str` accepts every 64-hex string, which `Digest`
/// always is; this arm exists only because its signature is fallible.
fn unreachable_digest() -> oci_spec::image::Digest {
    oci_spec::image::Digest::from_str(
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
    )
    .unwrap_or_else(|_| unreachable!("a zero sha256 digest is valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn parses_and_prints_the_same_string() {
        let d = Digest::parse(EMPTY).unwrap();
        assert_eq!(d.to_string(), EMPTY);
        assert_eq!(d, Digest::of_bytes(b""));
        assert_eq!(d.short(), "e3b0c44298fc");
    }

    #[test]
    fn refuses_anything_that_could_escape_a_path() {
        for bad in [
            "sha256:../../../../etc/passwd",
            "sha256:E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
            "sha512:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "sha256:e3b0",
            "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b85/",
            "",
        ] {
            assert!(Digest::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn converts_to_and_from_oci_spec() {
        let d = Digest::parse(EMPTY).unwrap();
        let oci: oci_spec::image::Digest = d.into();
        assert_eq!(oci.to_string(), EMPTY);
        assert_eq!(Digest::try_from(&oci).unwrap(), d);
    }
}
