//! `images --filter`, Docker's keys: `dangling=true|false`,
//! `label=K[=V]` (every one must hold), `reference=PATTERN` (any one,
//! Go's glob on `repo:tag` or `repo`), `before=IMAGE` and `since=IMAGE`
//! (created strictly before or after that image). Different keys must all
//! hold.

use std::collections::BTreeMap;
use std::time::SystemTime;

use kiln_cache::Reference;

use super::error::ImageError;
use super::pattern;
use crate::filter::LabelFilter;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageFilters {
    /// `Some(true)`: only untagged images; `Some(false)`: only tagged ones.
    pub dangling: Option<bool>,
    pub labels: Vec<LabelFilter>,
    pub references: Vec<String>,
    /// Images named by the user, resolved when the list is made.
    pub before: Vec<String>,
    pub since: Vec<String>,
}

impl ImageFilters {
    /// Adds one `KEY=VALUE` filter, once split.
    pub fn add(&mut self, key: &str, value: &str) -> Result<(), ImageError> {
        match key {
            "dangling" => self.dangling = Some(dangling(value)? || self.dangling == Some(true)),
            "label" => self.labels.push(LabelFilter::parse(value, false)),
            "reference" => {
                pattern::matches(value, "")?;
                self.references.push(value.into());
            }
            "before" => self.before.push(value.into()),
            "since" => self.since.push(value.into()),
            _ => return Err(ImageError::Filter(key.into())),
        }
        Ok(())
    }

    pub(super) fn has_labels(&self) -> bool {
        !self.labels.is_empty()
    }

    /// An image that has no names passes only `dangling=true` (and no
    /// reference filter); one with names fails it.
    pub(super) fn takes_names(&self, named: bool) -> bool {
        match self.dangling {
            Some(true) => !named && self.references.is_empty(),
            Some(false) => named,
            None => named || self.references.is_empty(),
        }
    }

    /// Docker's label rule: an image without labels fails any label filter.
    pub(super) fn takes_labels(&self, labels: &BTreeMap<String, String>) -> bool {
        self.labels.iter().all(|l| l.matches(labels))
    }

    /// One name of an image: any reference pattern, on `repo:tag` or on
    /// `repo`, matches it.
    pub(super) fn takes_name(&self, name: &Reference) -> bool {
        if self.references.is_empty() {
            return true;
        }
        let (full, short) = (name.familiar(), name.familiar_name());
        self.references.iter().any(|p| {
            pattern::matches(p, &full).unwrap_or(false)
                || pattern::matches(p, &short).unwrap_or(false)
        })
    }
}

/// Created times of the `before=` and `since=` images, which bound the
/// list (an unknown time counts as the epoch, as Go's zero time would).
#[derive(Debug, Clone, Default)]
pub(super) struct Bounds {
    pub before: Vec<SystemTime>,
    pub since: Vec<SystemTime>,
}

impl Bounds {
    pub fn takes(&self, created: Option<SystemTime>) -> bool {
        let t = created.unwrap_or(SystemTime::UNIX_EPOCH);
        self.before.iter().all(|b| t < *b) && self.since.iter().all(|s| t > *s)
    }
}

fn dangling(value: &str) -> Result<bool, ImageError> {
    match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(ImageError::Filter(format!("dangling=[{value}]"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> Result<ImageFilters, ImageError> {
        let mut f = ImageFilters::default();
        for (k, v) in pairs {
            f.add(k, v)?;
        }
        Ok(f)
    }

    #[test]
    fn keys_and_values_are_checked() {
        let err = filters(&[("foo", "bar")]).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'foo'");
        let err = filters(&[("dangling", "maybe")]).unwrap_err();
        assert_eq!(err.to_string(), "invalid filter 'dangling=[maybe]'");
        assert!(filters(&[("reference", "[")]).is_err());
        let f = filters(&[("dangling", "true"), ("dangling", "false")]).unwrap();
        assert_eq!(f.dangling, Some(true));
    }

    #[test]
    fn dangling_and_references_select_names() {
        let f = filters(&[("dangling", "true")]).unwrap();
        assert!(f.takes_names(false) && !f.takes_names(true));
        let f = filters(&[("dangling", "false")]).unwrap();
        assert!(!f.takes_names(false) && f.takes_names(true));
        let f = filters(&[("reference", "busy*"), ("reference", "alp*")]).unwrap();
        assert!(!f.takes_names(false));
        let name = |s| Reference::parse_normalized(s).unwrap();
        assert!(f.takes_name(&name("busybox:1")));
        assert!(f.takes_name(&name("alpine")));
        assert!(!f.takes_name(&name("debian")));
        let f = filters(&[("reference", "busybox:*")]).unwrap();
        assert!(f.takes_name(&name("busybox:1")));
        assert!(!f.takes_name(&name("busyboxes:1")));
    }

    #[test]
    fn bounds_are_strict() {
        let at = |s| SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(s);
        let b = Bounds {
            before: vec![at(10)],
            since: vec![at(5)],
        };
        assert!(b.takes(Some(at(7))));
        assert!(!b.takes(Some(at(10))) && !b.takes(Some(at(5))) && !b.takes(None));
    }
}
