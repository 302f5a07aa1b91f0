//! Docker's `--filter` selections as values: `until=TIME` keeps what was
//! created before TIME; `label=K`, `label=K=V` keep only what carries that
//! label, `label!=…` only what does not. Several label filters must all
//! hold. Reading the flags' text is the caller's.

use std::collections::BTreeMap;
use std::time::SystemTime;

/// One `label=` (or `label!=`) filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    /// `None` asks only that the key be there.
    pub value: Option<String>,
    /// `label!=`: the object must not carry it.
    pub negated: bool,
}

impl LabelFilter {
    /// A filter's value, `K` or `K=V`; `negated` for `label!=`.
    pub fn parse(value: &str, negated: bool) -> LabelFilter {
        let (key, value) = match value.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (value, None),
        };
        LabelFilter {
            key: key.into(),
            value,
            negated,
        }
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let has = match (&self.value, labels.get(&self.key)) {
            (None, got) => got.is_some(),
            (Some(want), got) => got == Some(want),
        };
        has != self.negated
    }
}

/// What a prune takes: objects created before `until`, with `labels`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub until: Option<SystemTime>,
    pub labels: Vec<LabelFilter>,
}

impl Filters {
    /// Whether an object created at `created` with `labels` is selected.
    /// An unknown creation time never passes an `until` filter.
    pub fn matches(&self, created: Option<SystemTime>, labels: &BTreeMap<String, String>) -> bool {
        if let Some(until) = self.until {
            if created.is_none_or(|c| c >= until) {
                return false;
            }
        }
        self.labels.iter().all(|l| l.matches(labels))
    }

    pub fn is_empty(&self) -> bool {
        self.until.is_none() && self.labels.is_empty()
    }

    pub fn has_labels(&self) -> bool {
        !self.labels.is_empty()
    }

    /// The `until` part alone (networks carry no labels here).
    pub fn until_only(&self) -> Filters {
        Filters {
            until: self.until,
            labels: Vec::new(),
        }
    }

    /// The label part alone (Docker's volume prune takes no `until`).
    pub fn labels_only(&self) -> Filters {
        Filters {
            until: None,
            labels: self.labels.clone(),
        }
    }
}

/// The creation time a container, volume or network records (RFC 3339).
pub fn created_time(text: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(text).ok()
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn label(key: &str, value: Option<&str>, negated: bool) -> LabelFilter {
        LabelFilter {
            key: key.into(),
            value: value.map(String::from),
            negated,
        }
    }

    #[test]
    fn labels_select_as_docker_does() {
        let f = Filters {
            until: None,
            labels: vec![label("tier", Some("web"), false), label("keep", None, true)],
        };
        assert!(f.matches(None, &labels(&[("tier", "web")])));
        assert!(!f.matches(None, &labels(&[("tier", "web"), ("keep", "")])));
        assert!(!f.matches(None, &labels(&[("tier", "db")])));
        let not_db = label("tier", Some("db"), true);
        assert!(not_db.matches(&labels(&[("tier", "web")])));
        assert!(Filters::default().matches(None, &labels(&[])));
    }

    #[test]
    fn until_keeps_what_is_newer_or_undated() {
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let f = Filters {
            until: Some(at(1_600_000_000)),
            labels: vec![label("a", None, false)],
        };
        assert!(f.matches(Some(at(1_500_000_000)), &labels(&[("a", "")])));
        assert!(!f.matches(Some(at(1_600_000_000)), &labels(&[("a", "")])));
        assert!(!f.matches(None, &labels(&[("a", "")])));
        assert_eq!(f.until_only().labels, vec![]);
        assert_eq!(f.labels_only().until, None);
        assert_eq!(
            created_time("2020-09-13T12:26:40.5Z"),
            Some(at(1_600_000_000) + Duration::from_millis(500))
        );
    }
}
