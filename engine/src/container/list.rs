//! Docker's container list (`ps`, `GET /containers/json`): which records
//! are shown, and the two texts Docker computes for each (the status line
//! and the published ports), which both the table and the API give.

use std::time::{Duration, SystemTime};

use kiln_cache::units::human_duration;
use kiln_runtime::container::state::{Container, State, Status};

use crate::filter::LabelFilter;
use crate::{Engine, Error};

/// Which containers a list holds.
#[derive(Debug, Clone, Default)]
pub struct ListOptions {
    /// Stopped ones too (else only running, paused and restarting).
    pub all: bool,
    /// Only the newest N, in every state (`-n`, `--latest` is 1).
    pub last: Option<usize>,
    /// Every filter must hold.
    pub filters: Vec<ListFilter>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListFilter {
    /// The state's name (`running`, `exited` …).
    Status(String),
    /// Part of the name; a leading `/` is Docker's and ignored.
    Name(String),
    /// A prefix of the ID.
    Id(String),
    Label(LabelFilter),
}

impl ListFilter {
    /// Docker's `ps` filter `KEY=VALUE` once split: `status`, `name`,
    /// `id`, `label` (`K` or `K=V`) and `label!`.
    pub fn parse(key: &str, value: &str) -> Result<ListFilter, Error> {
        Ok(match key {
            "status" => ListFilter::Status(value.into()),
            "name" => ListFilter::Name(value.into()),
            "id" => ListFilter::Id(value.into()),
            "label" => ListFilter::Label(LabelFilter::parse(value, false)),
            "label!" => ListFilter::Label(LabelFilter::parse(value, true)),
            _ => return Err(Error::ListFilter(key.into())),
        })
    }

    fn matches(&self, c: &Container) -> bool {
        match self {
            ListFilter::Status(s) => c.state.status.as_str() == s,
            ListFilter::Name(n) => c.record.name.contains(n.trim_start_matches('/')),
            ListFilter::Id(prefix) => c.record.id.starts_with(prefix.as_str()),
            ListFilter::Label(l) => l.matches(&c.record.labels()),
        }
    }
}

impl Engine {
    /// The containers selected, newest first.
    pub fn list(&self, opts: &ListOptions) -> Result<Vec<Container>, Error> {
        let mut list = self.containers().list()?;
        if !opts.all && opts.last.is_none() {
            list.retain(|c| c.state.status.is_live());
        }
        list.retain(|c| opts.filters.iter().all(|f| f.matches(c)));
        if let Some(n) = opts.last {
            list.truncate(n);
        }
        Ok(list)
    }
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
        Status::Running => up(),
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
        let err = ListFilter::parse("ancestor", "x").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid filter \"ancestor\": use status, name, id or label"
        );
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
