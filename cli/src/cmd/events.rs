//! `kiln events`: what happened to containers, images, volumes and
//! networks, from the engine's journal, as `docker events` prints it.
//! Without `--until` it keeps printing as events happen.

use std::io::Write;
use std::process::ExitCode;
use std::time::SystemTime;

use anyhow::{bail, Context};
use kiln_engine::events::{Event, EventFilters, EventType, EventsOptions};
use kiln_engine::filter::LabelFilter;
use kiln_engine::Engine;

use crate::cmd::filter::{parse_time, split};
use crate::globals::Globals;
use crate::template::{self, Template};

#[derive(clap::Args)]
pub struct Args {
    /// Show events since this time (timestamp, RFC 3339 or a duration ago)
    #[arg(long)]
    since: Option<String>,
    /// Show events until this time, then stop
    #[arg(long)]
    until: Option<String>,
    /// type=, event=, container=, image=, volume=, network=, label=K[=V]
    #[arg(short, long = "filter", value_name = "FILTER")]
    filter: Vec<String>,
    /// A Go template ('{{.Type}} {{.Action}}') or json
    #[arg(long)]
    format: Option<String>,
}

pub fn run(args: Args, globals: &Globals) -> anyhow::Result<ExitCode> {
    let now = SystemTime::now();
    let time = |flag: &str, text: &Option<String>| -> anyhow::Result<Option<SystemTime>> {
        text.as_deref()
            .map(|t| parse_time(t, now).with_context(|| format!("invalid --{flag} value {t:?}")))
            .transpose()
    };
    let until = time("until", &args.until)?;
    let opts = EventsOptions {
        // A follower without --since shows only what happens from now on.
        since: time("since", &args.since)?.or(until.is_none().then_some(now)),
        until,
        filters: filters(&args.filter)?,
        follow: until.is_none(),
    };
    let format = match args.format.as_deref().map(str::trim) {
        None | Some("") => Shape::Line,
        Some("json") => Shape::Json,
        Some(text) => match Template::document(text) {
            Ok(t) => Shape::Template(Box::new(t)),
            Err(template::Error::Parse(e)) => {
                eprintln!("kiln: error: Error parsing format: {e}");
                return Ok(ExitCode::from(template::PARSE_FAILED));
            }
            Err(e) => return Ok(template::refuse(&e, template::PARSE_FAILED)),
        },
    };
    let mut out = std::io::stdout().lock();
    for event in Engine::new(&globals.root).events(&opts)? {
        let event = event?;
        let text = match &format {
            Shape::Line => line(&event),
            Shape::Json => serde_json::to_string(&event)?,
            Shape::Template(t) => match t.one(&go_fields(&event)?) {
                Ok(text) => text,
                Err(e) => return Ok(template::refuse(&e, template::PARSE_FAILED)),
            },
        };
        writeln!(out, "{text}")?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// How each event is printed.
enum Shape {
    /// Docker's line (no `--format`).
    Line,
    /// `--format json`: the event as the engine's API gives it.
    Json,
    Template(Box<Template>),
}

/// The event under the field names of Docker's Go type (`.Type`,
/// `.Action`, `.Actor.ID`, `.Actor.Attributes`, `.Scope`, `.Time`,
/// `.TimeNano`, and the older `.ID`, `.Status`, `.From`); `{{json .}}` is
/// the event as `--format json` prints it.
fn go_fields(e: &Event) -> serde_json::Result<gotmpl::Value> {
    let fields = template::from_json(&serde_json::json!({
        "Type": e.kind.as_str(), "Action": e.action,
        "Actor": {"ID": e.actor.id, "Attributes": e.actor.attributes},
        "Scope": e.scope, "Time": e.time, "TimeNano": e.time_nano,
        "ID": e.actor.id, "Status": e.action,
        "From": e.actor.attributes.get("image").map_or("", String::as_str),
    }));
    Ok(template::with_json(fields, serde_json::to_value(e)?))
}

/// Docker's line: time, type, action, actor ID, then `(k=v, …)`.
fn line(e: &Event) -> String {
    let time = humantime::format_rfc3339_nanos(e.when());
    let mut text = format!("{time} {} {} {}", e.kind.as_str(), e.action, e.actor.id);
    if !e.actor.attributes.is_empty() {
        let attrs: Vec<String> = e
            .actor
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        text.push_str(&format!(" ({})", attrs.join(", ")));
    }
    text
}

/// `--filter KEY=VALUE`: a key given twice matches either value.
pub(crate) fn filters(args: &[String]) -> anyhow::Result<EventFilters> {
    let mut f = EventFilters::default();
    for arg in args {
        let (key, value) = split(arg)?;
        let value = value.to_string();
        match key {
            "type" => f.types.push(event_type(&value)?),
            "event" => f.actions.push(value),
            "container" => f.containers.push(value),
            "image" => f.images.push(value),
            "volume" => f.volumes.push(value),
            "network" => f.networks.push(value),
            "label" => f.labels.push(LabelFilter::parse(&value, false)),
            _ => bail!(
                "invalid filter {key:?}: use type, event, container, image, volume, network or label"
            ),
        }
    }
    Ok(f)
}

fn event_type(text: &str) -> anyhow::Result<EventType> {
    Ok(match text {
        "container" => EventType::Container,
        "image" => EventType::Image,
        "volume" => EventType::Volume,
        "network" => EventType::Network,
        _ => bail!("invalid type filter {text:?}: use container, image, volume or network"),
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn the_default_line_is_dockers() {
        let e = Event::new(EventType::Container, "start", "abc")
            .dated(UNIX_EPOCH + Duration::from_nanos(1_700_000_000_123_456_789))
            .with("name", "foo")
            .with("image", "busybox");
        assert_eq!(
            line(&e),
            "2023-11-14T22:13:20.123456789Z container start abc (image=busybox, name=foo)"
        );
        let bare = Event::new(EventType::Volume, "create", "v").dated(UNIX_EPOCH);
        assert_eq!(
            line(&bare),
            "1970-01-01T00:00:00.000000000Z volume create v"
        );
    }

    fn render(text: &str) -> String {
        let e = Event::new(EventType::Container, "die", "abc")
            .dated(UNIX_EPOCH + Duration::from_secs(5))
            .with("name", "web")
            .with("exitCode", "3");
        Template::document(text)
            .unwrap()
            .one(&go_fields(&e).unwrap())
            .unwrap()
    }

    #[test]
    fn templates_see_dockers_field_names() {
        assert_eq!(render("{{.Type}} {{.Action}}"), "container die");
        assert_eq!(
            render("{{ .Actor.ID }}:{{.Actor.Attributes.name}}"),
            "abc:web"
        );
        assert_eq!(render(r#"{{index .Actor.Attributes "exitCode"}}"#), "3");
        assert_eq!(render("{{.Time}} {{.Nope}}"), "5 <no value>");
        assert_eq!(render("{{.Actor.Attributes}}"), "map[exitCode:3 name:web]");
        assert_eq!(render("{{json .Actor.ID}}"), "\"abc\"");
        let whole: serde_json::Value = serde_json::from_str(&render("{{json .}}")).unwrap();
        assert_eq!(
            (&whole["Type"], &whole["timeNano"]),
            (&"container".into(), &5_000_000_000i64.into())
        );
        assert_eq!(
            render("{{if eq .Action \"die\"}}{{upper .Actor.Attributes.name}}{{end}}"),
            "WEB"
        );
    }

    #[test]
    fn filters_are_read_by_key() {
        let args: Vec<String> = ["type=container", "event=die", "event=stop", "label=a=b"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let f = filters(&args).unwrap();
        assert_eq!(f.types, [EventType::Container]);
        assert_eq!(f.actions, ["die", "stop"]);
        assert_eq!(f.labels, [LabelFilter::parse("a=b", false)]);
        assert!(filters(&["type=daemon".into()]).is_err());
        assert!(filters(&["status=up".into()]).is_err());
        assert!(filters(&["type".into()]).is_err());
    }
}
