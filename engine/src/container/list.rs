//! Docker's container list (`ps`, `GET /containers/json`): which records
//! are shown, and the two texts Docker computes for each (the status line
//! and the published ports), which both the table and the API give.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use kiln_cache::units::human_duration;
use kiln_cache::Store;
use kiln_runtime::container::state::{Container, MountPoint, State, Status};
use kiln_runtime::container::usage;
use kiln_runtime::process::rootfs::Rootfs;

use crate::filter::LabelFilter;
use crate::{Engine, Error};

/// Which containers a list holds.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Stopped ones too (else only running, paused and restarting; a
    /// `status` filter shows every state, as in Docker).
    pub all: bool,
    /// Only the newest N, in every state (`-n`, `--latest` is 1).
    pub last: Option<usize>,
    /// Filters of different kinds must all hold; of one kind, any one
    /// (labels: every one), as Docker combines them.
    pub filters: Vec<ListFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFilter {
    /// The state's name (`running`, `exited` …).
    Status(String),
    /// A regular expression found in the name or in Docker's `/name`.
    Name(String),
    /// A prefix of the ID.
    Id(String),
    Label(LabelFilter),
    /// Made from this image (a name, `name:tag` or an ID prefix).
    Ancestor(String),
    /// Started, stopped, and ended with this code.
    Exited(i32),
    /// Mounts this volume (by name), host path or container path.
    Volume(String),
    /// Attached to this network (by name).
    Network(String),
    /// Created before (or since) this container, named or by ID.
    Before(String),
    Since(String),
    /// `starting`, `healthy`, `unhealthy`, or `none` (no check).
    Health(String),
}

/// Docker's container states, the values `status=` takes.
const STATES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

impl ListFilter {
    /// Docker's `ps` filter `KEY=VALUE` once split: `status`, `name`,
    /// `id`, `label` (`K` or `K=V`), `label!`, `ancestor`, `exited`,
    /// `volume`, `network`, `before`, `since`.
    pub fn parse(key: &str, value: &str) -> Result<ListFilter, Error> {
        let invalid = || Error::ListFilter(format!("{key}={value}"));
        Ok(match key {
            "status" if STATES.contains(&value) => ListFilter::Status(value.into()),
            "status" => return Err(invalid()),
            "name" => ListFilter::Name(value.into()),
            "id" => ListFilter::Id(value.into()),
            "label" => ListFilter::Label(LabelFilter::parse(value, false)),
            "label!" => ListFilter::Label(LabelFilter::parse(value, true)),
            "ancestor" => ListFilter::Ancestor(value.into()),
            "exited" => ListFilter::Exited(value.parse().map_err(|_| invalid())?),
            "volume" => ListFilter::Volume(value.into()),
            "network" => ListFilter::Network(value.into()),
            "before" => ListFilter::Before(value.into()),
            "since" => ListFilter::Since(value.into()),
            "health" if super::health::FILTER_VALUES.contains(&value) => {
                ListFilter::Health(value.into())
            }
            "health" => return Err(invalid()),
            _ => return Err(Error::ListFilter(key.into())),
        })
    }

    /// Filters of one kind are ORed; labels are each a kind of their own.
    fn kind(&self) -> std::mem::Discriminant<ListFilter> {
        std::mem::discriminant(self)
    }

    /// Whether `c` passes; `images` holds the IDs the ancestor filters
    /// name.
    fn matches(&self, c: &Container, images: &[String]) -> bool {
        let r = &c.record;
        match self {
            ListFilter::Status(s) => c.state.status.as_str() == s,
            ListFilter::Name(n) => name_matches(n, &r.name),
            ListFilter::Id(prefix) => r.id.starts_with(prefix.as_str()),
            ListFilter::Label(l) => l.matches(&r.labels()),
            ListFilter::Ancestor(_) => images.contains(&r.image_id),
            ListFilter::Exited(code) => {
                !c.state.status.is_live()
                    && c.state.started_at.is_some()
                    && c.state.exit_code == *code
            }
            ListFilter::Volume(v) => r.mounts.iter().any(|m| mounts(m, v)),
            ListFilter::Network(n) => r.network.name() == n,
            // Positions in the list: applied before the rest.
            ListFilter::Before(_) | ListFilter::Since(_) => true,
            ListFilter::Health(h) => super::health::health_word(&c.state) == h,
        }
    }
}

/// Docker's name filter: an unanchored regular expression, tried on the
/// name and on `/name`; one that does not compile matches nothing.
fn name_matches(pattern: &str, name: &str) -> bool {
    regex::Regex::new(pattern).is_ok_and(|re| re.is_match(name) || re.is_match(&format!("/{name}")))
}

/// Docker's volume filter: the mount's volume name (a bind's host path)
/// or its path in the container.
fn mounts(m: &MountPoint, value: &str) -> bool {
    let source = match m.name.is_empty() {
        true => m.source.to_str() == Some(value),
        false => m.name == value,
    };
    source || m.destination == value
}

/// Whether every kind of filter holds: one of its kind, or every label.
fn passes(filters: &[ListFilter], c: &Container, images: &[String]) -> bool {
    filters.iter().all(|f| {
        if matches!(f, ListFilter::Label(_)) {
            return f.matches(c, images);
        }
        filters
            .iter()
            .filter(|g| g.kind() == f.kind())
            .any(|g| g.matches(c, images))
    })
}

impl Engine {
    /// The containers selected, newest first.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<Container>, Error> {
        let mut list = self.containers().list()?;
        for f in &opts.filters {
            match f {
                ListFilter::Before(key) => {
                    let id = self.container(key)?.record.id;
                    let at = list.iter().position(|c| c.record.id == id);
                    list.drain(..at.map_or(list.len(), |i| i + 1));
                }
                ListFilter::Since(key) => {
                    let id = self.container(key)?.record.id;
                    let at = list.iter().position(|c| c.record.id == id);
                    list.truncate(at.unwrap_or(0));
                }
                _ => {}
            }
        }
        let by_status = opts
            .filters
            .iter()
            .any(|f| matches!(f, ListFilter::Status(_)));
        if !opts.all && opts.last.is_none() && !by_status {
            list.retain(|c| c.state.status.is_live());
        }
        let images = self.ancestor_ids(&opts.filters);
        list.retain(|c| passes(&opts.filters, c, &images));
        if let Some(n) = opts.last {
            list.truncate(n);
        }
        Ok(list)
    }

    /// The image IDs `ancestor=` filters name; one that names no image
    /// matches no container, as in Docker.
    fn ancestor_ids(&self, filters: &[ListFilter]) -> Vec<String> {
        let names: Vec<&str> = filters
            .iter()
            .filter_map(|f| match f {
                ListFilter::Ancestor(a) => Some(a.as_str()),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Vec::new();
        }
        let Ok(store) = Store::open(self.root()) else {
            return Vec::new();
        };
        names
            .iter()
            .filter_map(|n| store.find_image(n).ok())
            .map(|e| e.image.id().to_string())
            .collect()
    }

    /// Each container's writable layer and, with its image's layers, its
    /// whole root filesystem, in bytes (`ps --size`).
    pub fn container_sizes(&self, list: &[Container]) -> Result<Vec<ContainerSize>, Error> {
        let store = Store::open(self.root()).map_err(|source| Error::StoreAt {
            root: self.root().to_path_buf(),
            source,
        })?;
        let images: HashMap<String, u64> = store
            .images()?
            .iter()
            .map(|e| (e.image.id().to_string(), e.image.size))
            .collect();
        Ok(list
            .iter()
            .map(|c| {
                let writable = match &c.record.rootfs {
                    Rootfs::Overlay { upper, .. } => usage::apparent_size(upper),
                    Rootfs::Dir(_) => 0,
                };
                let image = images.get(&c.record.image_id).copied().unwrap_or(0);
                ContainerSize {
                    writable,
                    root: writable + image,
                }
            })
            .collect())
    }
}

/// Docker's `SizeRw` and `SizeRootFs`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ContainerSize {
    pub writable: u64,
    pub root: u64,
}

/// How long ago an RFC 3339 time was.
fn since(time: &str) -> Option<Duration> {
    let t = humantime::parse_rfc3339(time).ok()?;
    SystemTime::now().duration_since(t).ok()
}

/// `5 minutes ago`, or nothing for a time that cannot be read.
pub fn ago(time: &str) -> String {
    since(time).map_or_else(String::new, |d| format!("{} ago", human_duration(d)))
}

/// Docker's status line: `Up 5 minutes`, `Exited (0) 2 hours ago` …
pub fn status_text(s: &State) -> String {
    let up = || {
        s.started_at
            .as_deref()
            .and_then(since)
            .map_or_else(|| "Up".into(), |d| format!("Up {}", human_duration(d)))
    };
    let ended = |word: &str| {
        let when = s.finished_at.as_deref().map(ago).unwrap_or_default();
        format!("{word} ({}) {when}", s.exit_code)
    };
    match s.status {
        Status::Created => "Created".into(),
        Status::Running => super::health::with_health(up(), s),
        Status::Paused => format!("{} (Paused)", up()),
        Status::Restarting => ended("Restarting"),
        Status::Exited => ended("Exited"),
        Status::Dead => "Dead".into(),
    }
}

/// The published ports of a live container, `IP:HOST->PORT/PROTO, …`.
pub fn ports_text(s: &State) -> String {
    if !s.status.is_live() {
        return String::new();
    }
    let parts: Vec<String> = s
        .ports
        .iter()
        .map(|p| {
            let proto = p.proto.as_str();
            format!(
                "{}:{}->{}/{proto}",
                p.host_ip, p.host_port, p.container_port
            )
        })
        .collect();
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_read_as_ps_takes_them() {
        let label = |key: &str, value: Option<&str>, negated| {
            let (key, value) = (key.to_string(), value.map(Into::into));
            ListFilter::Label(LabelFilter {
                key,
                value,
                negated,
            })
        };
        let parse = |k, v| ListFilter::parse(k, v).unwrap();
        assert_eq!(
            parse("label", "tier=web"),
            label("tier", Some("web"), false)
        );
        assert_eq!(parse("label!", "tier"), label("tier", None, true));
        assert_eq!(parse("name", "/web"), ListFilter::Name("/web".into()));
        assert_eq!(parse("exited", "3"), ListFilter::Exited(3));
        assert!(name_matches("^web1$", "web1") && name_matches("^/web1$", "web1"));
        assert!(name_matches("w.b", "web10") && name_matches("/web", "web1"));
        assert!(!name_matches("^web1$", "web10") && !name_matches("[", "["));
        assert_eq!(
            parse("ancestor", "busybox"),
            ListFilter::Ancestor("busybox".into())
        );
        let err = |k, v| ListFilter::parse(k, v).unwrap_err().to_string();
        assert_eq!(err("isolation", "x"), "invalid filter 'isolation'");
        assert_eq!(err("status", "bogus"), "invalid filter 'status=bogus'");
        assert_eq!(err("exited", "x"), "invalid filter 'exited=x'");
    }

    #[test]
    fn a_stopped_container_says_how_it_ended_and_publishes_nothing() {
        let mut s = State {
            status: Status::Exited,
            exit_code: 3,
            finished_at: Some("2000-01-01T00:00:00Z".into()),
            ..State::default()
        };
        assert!(
            status_text(&s).starts_with("Exited (3) "),
            "{}",
            status_text(&s)
        );
        assert!(status_text(&s).ends_with(" ago"));
        s.ports = vec![kiln_runtime::network::PortBinding::parse("127.0.0.1:8080:80").unwrap()];
        assert_eq!(ports_text(&s), "");
        s.status = Status::Running;
        s.started_at = None;
        assert_eq!(status_text(&s), "Up");
        assert_eq!(ports_text(&s), "127.0.0.1:8080->80/tcp");
    }

    #[test]
    fn an_empty_root_lists_nothing() {
        let root = tempfile::tempdir().unwrap();
        let opts = ListOptions {
            all: true,
            ..ListOptions::default()
        };
        assert!(Engine::new(root.path()).list(&opts).unwrap().is_empty());
    }
}
