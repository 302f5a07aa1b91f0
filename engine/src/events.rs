//! One journal of what happened, as `docker events` tells it: each event
//! has a type (container, image, volume, network), an action (`create`,
//! `start`, `die` …) and an actor (an ID and attributes such as `name`,
//! `image`, `exitCode`). There is no daemon to keep events in memory, so
//! they are appended, one JSON line each, to `<root>/events.jsonl`
//! (`journal`), which every kiln process shares and any may read or
//! follow. Exits of containers no kiln process watched are journaled by
//! the next process that looks (`exits`).

mod exits;
mod journal;
mod stream;

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use kiln_runtime::container::state::Container;
use serde::{Deserialize, Serialize};

pub use journal::ROTATE_AT;
pub use stream::Events;

use crate::filter::LabelFilter;
use crate::{Engine, Error};

/// What an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Container,
    Image,
    Volume,
    Network,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Container => "container",
            EventType::Image => "image",
            EventType::Volume => "volume",
            EventType::Network => "network",
        }
    }
}

/// Who the event happened to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, with Docker's field names (the journal's line and the API's
/// message are the same JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    #[serde(rename = "Type")]
    pub kind: EventType,
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// An event happening now.
    pub fn new(kind: EventType, action: &str, id: &str) -> Event {
        Event {
            kind,
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes: BTreeMap::new(),
            },
            scope: "local".into(),
            time: 0,
            time_nano: 0,
        }
        .dated(SystemTime::now())
    }

    /// The same event, as having happened at `when`.
    pub fn dated(mut self, when: SystemTime) -> Event {
        let nanos = when
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as i64);
        self.time = nanos.div_euclid(1_000_000_000);
        self.time_nano = nanos;
        self
    }

    /// A container event with Docker's attributes: its labels, `image`
    /// (as the user named it) and `name`.
    pub fn container(action: &str, c: &Container) -> Event {
        let mut e = Event::new(EventType::Container, action, &c.record.id);
        e.actor.attributes = c.record.labels();
        e.actor
            .attributes
            .insert("image".into(), c.record.image.clone());
        e.actor
            .attributes
            .insert("name".into(), c.record.name.clone());
        e
    }

    pub fn with(mut self, key: &str, value: impl Into<String>) -> Event {
        self.actor.attributes.insert(key.into(), value.into());
        self
    }

    pub fn when(&self) -> SystemTime {
        UNIX_EPOCH + std::time::Duration::from_nanos(self.time_nano.max(0) as u64)
    }
}

/// Docker's `--filter` for events: within a key any value may match,
/// across keys all must; labels all must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilters {
    pub types: Vec<EventType>,
    /// `event=`: the action (`start`, `die` …).
    pub actions: Vec<String>,
    /// A container's ID (or prefix) or name.
    pub containers: Vec<String>,
    /// The image a container runs, or an image event's ID or name.
    pub images: Vec<String>,
    pub volumes: Vec<String>,
    pub networks: Vec<String>,
    /// Against the actor's attributes.
    pub labels: Vec<LabelFilter>,
}

impl EventFilters {
    pub fn matches(&self, e: &Event) -> bool {
        let any = |wanted: &[String], hit: &dyn Fn(&str) -> bool| {
            wanted.is_empty() || wanted.iter().any(|w| hit(w))
        };
        let attr = |k: &str| e.actor.attributes.get(k).map(String::as_str);
        let named = |kind: EventType, w: &str| {
            e.kind == kind && (e.actor.id.starts_with(w) || attr("name") == Some(w))
        };
        (self.types.is_empty() || self.types.contains(&e.kind))
            && any(&self.actions, &|w| action_matches(&e.action, w))
            && any(&self.containers, &|w| named(EventType::Container, w))
            && any(&self.images, &|w| {
                same_image(attr("image"), w) || named(EventType::Image, w)
            })
            && any(&self.volumes, &|w| named(EventType::Volume, w))
            && any(&self.networks, &|w| named(EventType::Network, w))
            && self.labels.iter().all(|l| l.matches(&e.actor.attributes))
    }
}

/// `event=`: the action, or for Docker's actions with a detail after a
/// colon (`health_status: healthy`) the word before it.
fn action_matches(action: &str, wanted: &str) -> bool {
    const PREFIXED: [&str; 3] = ["health_status", "exec_create", "exec_start"];
    action == wanted || (PREFIXED.contains(&wanted) && action.starts_with(wanted))
}

/// `busybox` and `busybox:latest` name the same image.
fn same_image(image: Option<&str>, wanted: &str) -> bool {
    let strip = |s: &str| s.strip_suffix(":latest").unwrap_or(s).to_string();
    image.is_some_and(|i| strip(i) == strip(wanted))
}

/// Which events to read, and whether to wait for more.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsOptions {
    /// Only events at or after this time.
    pub since: Option<SystemTime>,
    /// Only events at or before this time; a follower stops once it has
    /// passed.
    pub until: Option<SystemTime>,
    pub filters: EventFilters,
    /// Keep reading as events are journaled (Docker's default without
    /// `--until`).
    pub follow: bool,
}

impl Engine {
    /// Appends `event` to the journal.
    pub fn record_event(&self, event: Event) -> Result<(), Error> {
        self.journal().append(&event)
    }

    /// The journaled events `opts` selects, oldest first; with `follow`,
    /// the iterator waits for new ones.
    pub fn events(&self, opts: &EventsOptions) -> Result<Events, Error> {
        self.journal_exits();
        Events::open(self.clone(), opts.clone())
    }

    /// An event about a container operation that already happened: a
    /// journal that cannot be written must not fail it, since the change
    /// is made and the caller would report it as not made.
    pub(crate) fn note(&self, event: Event) {
        let _ = self.record_event(event);
    }

    fn journal(&self) -> journal::Journal {
        journal::Journal::new(self.root())
    }
}

#[cfg(test)]
mod tests;
