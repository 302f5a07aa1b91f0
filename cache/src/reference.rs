//! Image references and Docker's normalisation of them: `busybox` means
//! `docker.io/library/busybox:latest`, `index.docker.io/x` means
//! `docker.io/x`, and a reference names a repository, a tag and/or a
//! manifest digest. The grammar follows distribution/reference, which every
//! Docker-compatible tool shares, so `kiln tag` accepts what `docker tag`
//! accepts and refuses what it refuses.

use std::fmt;

use crate::digest::Digest;

const DEFAULT_DOMAIN: &str = "docker.io";
const LEGACY_DOMAIN: &str = "index.docker.io";
const OFFICIAL_PREFIX: &str = "library/";
const DEFAULT_TAG: &str = "latest";
const NAME_MAX: usize = 255;
const TAG_MAX: usize = 128;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    #[error("invalid reference format: {0:?}")]
    Format(String),
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexName(String),
    #[error("invalid reference format: repository name must not be more than 255 characters")]
    NameTooLong,
    #[error("invalid reference format: bad tag {0:?}")]
    Tag(String),
    #[error("invalid reference format: bad digest {0:?}")]
    Digest(String),
}

/// A normalised image reference: a domain, a path, and a tag, a digest or
/// both. Built only through [`Reference::parse_normalized`], so a
/// `Reference` is always valid.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses what a user typed and normalises it the way Docker does,
    /// adding `:latest` when neither a tag nor a digest is given.
    pub fn parse_normalized(input: &str) -> Result<Reference, ReferenceError> {
        let mut r = Reference::parse_name_only(input)?;
        if r.tag.is_none() && r.digest.is_none() {
            r.tag = Some(DEFAULT_TAG.to_string());
        }
        Ok(r)
    }

    /// Like [`Reference::parse_normalized`] without adding `:latest`: for
    /// a repository name alone (`kiln images busybox` lists every tag).
    pub fn parse_name_only(input: &str) -> Result<Reference, ReferenceError> {
        if Digest::from_hex(input).is_some() {
            return Err(ReferenceError::HexName(input.to_string()));
        }
        let (rest, digest) = match input.split_once('@') {
            Some((rest, d)) => {
                let digest = Digest::parse(d).map_err(|_| ReferenceError::Digest(d.to_string()))?;
                (rest, Some(digest))
            }
            None => (input, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(tag) = tag {
            if !valid_tag(tag) {
                return Err(ReferenceError::Tag(tag.to_string()));
            }
        }
        let (domain, path) = split_domain(name);
        validate_name(input, &domain, &path)?;
        Ok(Reference {
            domain,
            path,
            tag: tag.map(str::to_string),
            digest,
        })
    }

    /// `docker.io/library/busybox`: the full repository name.
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// `busybox`, `foo/bar`, `ghcr.io/x/y`: the name as Docker prints it.
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        self.path
            .strip_prefix(OFFICIAL_PREFIX)
            .filter(|rest| !rest.contains('/'))
            .unwrap_or(&self.path)
            .to_string()
    }

    /// `busybox:latest`: the familiar name with tag and/or digest.
    pub fn familiar(&self) -> String {
        self.with_suffix(self.familiar_name())
    }

    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path without the domain: `library/busybox`.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The same repository with another tag and no digest.
    pub fn with_tag(&self, tag: &str) -> Result<Reference, ReferenceError> {
        if !valid_tag(tag) {
            return Err(ReferenceError::Tag(tag.to_string()));
        }
        Ok(Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        })
    }

    fn with_suffix(&self, mut s: String) -> String {
        if let Some(tag) = &self.tag {
            s.push(':');
            s.push_str(tag);
        }
        if let Some(digest) = &self.digest {
            s.push('@');
            s.push_str(&digest.to_string());
        }
        s
    }
}

impl fmt::Display for Reference {
    /// The full normalised form: `docker.io/library/busybox:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.with_suffix(self.name()))
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({self})")
    }
}

impl std::str::FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Reference::parse_normalized(s)
    }
}

/// A `:` after the last `/` starts a tag; before it, it is a registry port.
fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

/// distribution/reference's rule: the first component is a registry only if
/// it has a `.` or a `:`, or is `localhost`, and is lower-case.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        Some((first, rest))
            if (first.contains(['.', ':']) || first == "localhost")
                && first.to_lowercase() == first =>
        {
            (first.to_string(), rest.to_string())
        }
        _ => (DEFAULT_DOMAIN.to_string(), name.to_string()),
    };
    let domain = if domain == LEGACY_DOMAIN {
        DEFAULT_DOMAIN.to_string()
    } else {
        domain
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_PREFIX}{path}")
    } else {
        path
    };
    (domain, path)
}

fn validate_name(input: &str, domain: &str, path: &str) -> Result<(), ReferenceError> {
    if domain.len() + 1 + path.len() > NAME_MAX {
        return Err(ReferenceError::NameTooLong);
    }
    if path.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(ReferenceError::Uppercase(path.to_string()));
    }
    let ok = valid_domain(domain) && path.split('/').all(valid_path_component);
    if ok {
        Ok(())
    } else {
        Err(ReferenceError::Format(input.to_string()))
    }
}

/// `[a-z0-9]+` runs joined by `.`, `_`, `__` or one or more `-`.
fn valid_path_component(c: &str) -> bool {
    let bytes = c.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    loop {
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        let sep_start = i;
        while i < bytes.len() && !alnum(bytes[i]) {
            i += 1;
        }
        let sep = &c[sep_start..i];
        let valid_sep =
            matches!(sep, "." | "_" | "__") || (!sep.is_empty() && sep.bytes().all(|b| b == b'-'));
        if !valid_sep {
            return false;
        }
    }
}

/// Host components (letters, digits, inner `-`) joined by `.`, an optional
/// numeric port; or a bracketed IPv6 address with an optional port.
fn valid_domain(domain: &str) -> bool {
    let (host, port) = match domain.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((addr, after)) => {
                if !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') || addr.is_empty() {
                    return false;
                }
                return after.is_empty() || after.strip_prefix(':').is_some_and(valid_port);
            }
            None => return false,
        },
        None => match domain.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        },
    };
    let host_ok = host.split('.').all(|c| {
        !c.is_empty()
            && c.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !c.starts_with('-')
            && !c.ends_with('-')
    });
    host_ok && port.is_none_or(valid_port)
}

fn valid_port(p: &str) -> bool {
    !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit())
}

/// `[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}`.
fn valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse_normalized(s).unwrap().to_string()
    }

    #[test]
    fn normalises_like_docker() {
        assert_eq!(norm("busybox"), "docker.io/library/busybox:latest");
        assert_eq!(norm("busybox:1.36"), "docker.io/library/busybox:1.36");
        assert_eq!(norm("foo/bar"), "docker.io/foo/bar:latest");
        assert_eq!(norm("index.docker.io/foo/bar:x"), "docker.io/foo/bar:x");
        assert_eq!(
            norm("docker.io/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("localhost/x"), "localhost/x:latest");
        assert_eq!(norm("localhost:5000/x:y"), "localhost:5000/x:y");
        assert_eq!(norm("ghcr.io/a/b/c:v1"), "ghcr.io/a/b/c:v1");
        assert_eq!(norm("[::1]:5000/img"), "[::1]:5000/img:latest");
        let d = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert_eq!(
            norm(&format!("busybox@{d}")),
            format!("docker.io/library/busybox@{d}")
        );
    }

    #[test]
    fn prints_the_familiar_form() {
        let r = Reference::parse_normalized("docker.io/library/busybox").unwrap();
        assert_eq!(r.familiar(), "busybox:latest");
        assert_eq!(r.familiar_name(), "busybox");
        let r = Reference::parse_normalized("foo/bar:1").unwrap();
        assert_eq!(r.familiar(), "foo/bar:1");
        let r = Reference::parse_normalized("quay.io/library/x").unwrap();
        assert_eq!(r.familiar(), "quay.io/library/x:latest");
    }

    #[test]
    fn refuses_what_docker_refuses() {
        let bad = [
            "",
            "Busybox",
            "foo/Bar",
            "busybox:",
            "busybox:-x",
            "busybox::x",
            "a//b",
            "-a",
            "a-",
            "a..b",
            "busybox@sha256:xyz",
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "http://x/y",
        ];
        for b in bad {
            assert!(Reference::parse_normalized(b).is_err(), "{b:?} accepted");
        }
        let long = "a".repeat(300);
        assert_eq!(
            Reference::parse_normalized(&long),
            Err(ReferenceError::NameTooLong)
        );
    }

    #[test]
    fn uppercase_registry_is_a_path_component_and_refused() {
        // distribution/reference: "Foo.io/bar" is not a domain (not
        // lower-case), so it becomes a path and is refused as upper-case.
        assert!(matches!(
            Reference::parse_normalized("Foo.io/bar"),
            Err(ReferenceError::Uppercase(_))
        ));
    }

    #[test]
    fn separators_in_path_components() {
        for ok in ["a_b", "a__b", "a.b", "a-b", "a---b", "a1/b2"] {
            assert!(Reference::parse_normalized(ok).is_ok(), "{ok} refused");
        }
        for bad in ["a___b", "a._b", "_a", "a_"] {
            assert!(Reference::parse_normalized(bad).is_err(), "{bad} accepted");
        }
    }
}
