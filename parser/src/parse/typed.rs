//! Raw nodes to typed instructions (BuildKit's `instructions` package):
//! unknown instructions, unknown or malformed flags and missing arguments
//! become errors with a position.

use std::time::Duration;

use crate::ast::{
    ArgDecl, CommandLine, Copy, Dockerfile, Env, From, Healthcheck, HealthcheckCmd, Instruction,
    InstructionKind, KeyValue, Network, Node, NodeArgs, Position, RawDockerfile, Run, Security,
};
use crate::error::{ErrorKind, ParseError};

use super::bflags::{invalid, Flags, Kind};
use super::grammar::{inner, Rule};
use super::node::{lower_keyword, Located};
use super::{error_at, mount, text};

impl RawDockerfile {
    /// The typed form of these nodes.
    pub fn typed(&self) -> Result<Dockerfile, ParseError> {
        let instructions = self
            .nodes
            .iter()
            .map(instruction)
            .collect::<Result<Vec<_>, Located>>()
            .map_err(|(kind, position)| error_at(&self.source, kind, position))?;
        Ok(Dockerfile {
            directives: self.directives.clone(),
            escape: self.escape,
            instructions,
            warnings: self.warnings.clone(),
        })
    }
}

fn keyword_position(node: &Node) -> Position {
    Position {
        line: node.span.start_line,
        column: node.span.start_column,
    }
}

/// The node's values as text (U+FFFD for bytes that are not UTF-8).
fn values(node: &Node) -> Vec<String> {
    match &node.args {
        NodeArgs::Values(v) => v.iter().map(|b| text::lossy(b)).collect(),
        NodeArgs::Nested(_) => Vec::new(),
    }
}

fn missing(node: &Node, instruction: &'static str, requirement: &'static str) -> Located {
    let kind = ErrorKind::MissingArgument {
        instruction,
        requirement,
    };
    (kind, node.args_position)
}

fn no_flags(node: &Node, name: &'static str) -> Result<(), Located> {
    Flags::parse(&node.flags, name, &[]).map(|_| ())
}

/// One node to one instruction.
pub fn instruction(node: &Node) -> Result<Instruction, Located> {
    let keyword = text::lossy(&node.keyword);
    let kind = match lower_keyword(&node.keyword).as_str() {
        "from" => InstructionKind::From(from(node)?),
        "run" => InstructionKind::Run(run(node)?),
        "cmd" => InstructionKind::Cmd(command(node, "CMD")?),
        "entrypoint" => InstructionKind::Entrypoint(command(node, "ENTRYPOINT")?),
        "label" => InstructionKind::Label(pairs(node, "LABEL")?),
        "env" => env(node)?,
        "maintainer" => InstructionKind::Maintainer(single(node, "MAINTAINER")?),
        "expose" => InstructionKind::Expose(at_least_one(node, "EXPOSE")?),
        "add" => InstructionKind::Add(copy(node, true)?),
        "copy" => InstructionKind::Copy(copy(node, false)?),
        "volume" => InstructionKind::Volume(at_least_one(node, "VOLUME")?),
        "user" => InstructionKind::User(single(node, "USER")?),
        "workdir" => InstructionKind::Workdir(single(node, "WORKDIR")?),
        "stopsignal" => InstructionKind::Stopsignal(single(node, "STOPSIGNAL")?),
        "arg" => InstructionKind::Arg(args(node)?),
        "onbuild" => InstructionKind::Onbuild(Box::new(onbuild(node)?)),
        "healthcheck" => InstructionKind::Healthcheck(healthcheck(node)?),
        "shell" => InstructionKind::Shell(shell(node)?),
        _ => {
            let kind = ErrorKind::UnknownInstruction(keyword);
            return Err((kind, keyword_position(node)));
        }
    };
    Ok(Instruction {
        span: node.span,
        keyword,
        kind,
    })
}

fn from(node: &Node) -> Result<From, Located> {
    let flags = Flags::parse(&node.flags, "FROM", &[("platform", Kind::Str)])?;
    let v = values(node);
    let (image, name, as_keyword) = match v.as_slice() {
        [image] => (image.clone(), None, None),
        [image, kw, name] if kw.eq_ignore_ascii_case("as") => {
            (image.clone(), Some(name.clone()), Some(kw.clone()))
        }
        _ => return Err(missing(node, "FROM", "either one or three arguments")),
    };
    if let Some(name) = &name {
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !valid {
            let msg = format!("invalid name for build stage: {name:?}, name can't start with a number or contain symbols");
            return Err((ErrorKind::Invalid(msg), node.args_position));
        }
    }
    Ok(From {
        image,
        platform: flags.value("platform"),
        name,
        as_keyword,
    })
}

/// Exec form for JSON, else the shell text.
fn command_line(node: &Node, v: Vec<String>) -> CommandLine {
    if node.json {
        CommandLine::Exec(v)
    } else {
        CommandLine::Shell(v.into_iter().next().unwrap_or_default())
    }
}

fn command(node: &Node, name: &'static str) -> Result<CommandLine, Located> {
    no_flags(node, name)?;
    Ok(command_line(node, values(node)))
}

fn run(node: &Node) -> Result<Run, Located> {
    let declared = [
        ("mount", Kind::List),
        ("network", Kind::Str),
        ("security", Kind::Str),
    ];
    let flags = Flags::parse(&node.flags, "RUN", &declared)?;
    let v = values(node);
    if v.is_empty() {
        return Err(missing(node, "RUN", "at least one argument"));
    }
    let mounts = flags
        .list("mount")
        .iter()
        .map(|(value, at)| mount::parse(value, *at))
        .collect::<Result<Vec<_>, _>>()?;
    let network = match flags.string("network") {
        None => None,
        Some((v, at)) => Some(match v.as_str() {
            "default" => Network::Default,
            "none" => Network::None,
            "host" => Network::Host,
            _ => {
                return Err(invalid(
                    "network",
                    format!("unsupported network mode {v:?}"),
                    at,
                ))
            }
        }),
    };
    let security = match flags.string("security") {
        None => None,
        Some((v, at)) => Some(match v.as_str() {
            "sandbox" => Security::Sandbox,
            "insecure" => Security::Insecure,
            _ => {
                return Err(invalid(
                    "security",
                    format!("unsupported security mode {v:?}"),
                    at,
                ))
            }
        }),
    };
    Ok(Run {
        mounts,
        network,
        security,
        command: command_line(node, v),
        heredocs: node.heredocs.clone(),
    })
}

/// LABEL/ENV triplets (`k v =` or legacy `k v ""`) to pairs.
fn pairs(node: &Node, name: &'static str) -> Result<Vec<KeyValue>, Located> {
    no_flags(node, name)?;
    let v = values(node);
    if v.is_empty() {
        return Err(missing(node, name, "at least one argument"));
    }
    Ok(v.chunks(3)
        .map(|kv| KeyValue {
            key: kv[0].clone(),
            value: kv.get(1).cloned().unwrap_or_default(),
        })
        .collect())
}

fn env(node: &Node) -> Result<InstructionKind, Located> {
    let pairs = pairs(node, "ENV")?;
    let legacy = matches!(&node.args, NodeArgs::Values(v) if v.len() == 3 && v[2].is_empty());
    Ok(InstructionKind::Env(Env { pairs, legacy }))
}

fn single(node: &Node, name: &'static str) -> Result<String, Located> {
    no_flags(node, name)?;
    values(node)
        .into_iter()
        .next()
        .ok_or_else(|| missing(node, name, "exactly one argument"))
}

fn at_least_one(node: &Node, name: &'static str) -> Result<Vec<String>, Located> {
    no_flags(node, name)?;
    let v = values(node);
    if v.is_empty() {
        return Err(missing(node, name, "at least one argument"));
    }
    Ok(v)
}

fn copy(node: &Node, add: bool) -> Result<Copy, Located> {
    let (name, declared): (&'static str, &[(&'static str, Kind)]) = if add {
        (
            "ADD",
            &[
                ("chown", Kind::Str),
                ("chmod", Kind::Str),
                ("link", Kind::Bool),
                ("exclude", Kind::List),
                ("checksum", Kind::Str),
                ("keep-git-dir", Kind::Bool),
            ],
        )
    } else {
        (
            "COPY",
            &[
                ("from", Kind::Str),
                ("chown", Kind::Str),
                ("chmod", Kind::Str),
                ("link", Kind::Bool),
                ("parents", Kind::Bool),
                ("exclude", Kind::List),
            ],
        )
    };
    let flags = Flags::parse(&node.flags, name, declared)?;
    let mut v = values(node);
    if v.len() < 2 {
        return Err(missing(node, name, "at least two arguments"));
    }
    if let Some((mode, at)) = flags.string("chmod") {
        let literal = !mode.contains('$');
        if literal && inner(Rule::file_mode, &mode).is_none() {
            return Err(invalid("chmod", format!("invalid mode {mode:?}"), at));
        }
    }
    let dest = v.pop().unwrap_or_default();
    Ok(Copy {
        sources: v,
        dest,
        json: node.json,
        from: flags.value("from"),
        chown: flags.value("chown"),
        chmod: flags.value("chmod"),
        link: flags.boolean("link"),
        parents: flags.boolean("parents"),
        exclude: flags.list("exclude").into_iter().map(|(v, _)| v).collect(),
        checksum: flags.value("checksum"),
        keep_git_dir: flags.boolean("keep-git-dir"),
        heredocs: node.heredocs.clone(),
    })
}

fn args(node: &Node) -> Result<Vec<ArgDecl>, Located> {
    let v = at_least_one(node, "ARG")?;
    Ok(v.into_iter()
        .map(|word| match word.split_once('=') {
            Some((name, default)) => ArgDecl {
                name: name.into(),
                default: Some(default.into()),
            },
            None => ArgDecl {
                name: word,
                default: None,
            },
        })
        .collect())
}

fn onbuild(node: &Node) -> Result<Instruction, Located> {
    no_flags(node, "ONBUILD")?;
    let NodeArgs::Nested(child) = &node.args else {
        return Err(missing(node, "ONBUILD", "at least one argument"));
    };
    let trigger = lower_keyword(&child.keyword);
    if matches!(trigger.as_str(), "onbuild" | "from" | "maintainer") {
        let kind = ErrorKind::BadOnbuildTrigger(trigger.to_ascii_uppercase());
        return Err((kind, keyword_position(child)));
    }
    instruction(child)
}

fn shell(node: &Node) -> Result<Vec<String>, Located> {
    let v = at_least_one(node, "SHELL")?;
    if !node.json {
        let msg = "SHELL requires the arguments to be in JSON form".to_string();
        return Err((ErrorKind::Invalid(msg), node.args_position));
    }
    Ok(v)
}

fn healthcheck(node: &Node) -> Result<Healthcheck, Located> {
    let declared = [
        ("interval", Kind::Str),
        ("timeout", Kind::Str),
        ("start-period", Kind::Str),
        ("start-interval", Kind::Str),
        ("retries", Kind::Str),
    ];
    let flags = Flags::parse(&node.flags, "HEALTHCHECK", &declared)?;
    let mut v = values(node);
    if v.is_empty() {
        return Err(missing(node, "HEALTHCHECK", "an argument (NONE or CMD)"));
    }
    let kind = v.remove(0);
    match kind.to_ascii_uppercase().as_str() {
        "NONE" if v.is_empty() && node.flags.is_empty() => return Ok(Healthcheck::None),
        "NONE" => {
            let msg = "HEALTHCHECK NONE takes no arguments or options".to_string();
            return Err((ErrorKind::Invalid(msg), node.args_position));
        }
        "CMD" if v.is_empty() => return Err(missing(node, "HEALTHCHECK CMD", "a command")),
        "CMD" => {}
        _ => {
            let msg = format!("unknown type {kind:?} for HEALTHCHECK (try CMD)");
            return Err((ErrorKind::Invalid(msg), node.args_position));
        }
    }
    let retries = match flags.string("retries") {
        None => None,
        Some((r, at)) => Some(
            r.parse::<u32>()
                .map_err(|_| invalid("retries", format!("invalid count {r:?}"), at))?,
        ),
    };
    Ok(Healthcheck::Cmd(HealthcheckCmd {
        interval: duration_flag(&flags, "interval")?,
        timeout: duration_flag(&flags, "timeout")?,
        start_period: duration_flag(&flags, "start-period")?,
        start_interval: duration_flag(&flags, "start-interval")?,
        retries,
        command: command_line(node, v),
    }))
}

fn duration_flag(flags: &Flags, name: &str) -> Result<Option<Duration>, Located> {
    let Some((text, at)) = flags.string(name) else {
        return Ok(None);
    };
    let bad = || invalid(name, format!("invalid duration {text:?}"), at);
    let d = duration(&text).ok_or_else(bad)?;
    // BuildKit refuses anything between zero and one millisecond.
    if !d.is_zero() && d < Duration::from_millis(1) {
        return Err(invalid(
            name,
            format!("{text:?} cannot be less than 1ms"),
            at,
        ));
    }
    Ok(Some(d))
}

/// Go's time.ParseDuration, for non-negative durations.
pub fn duration(text: &str) -> Option<Duration> {
    let pairs = inner(Rule::duration, text)?;
    let mut nanos = 0f64;
    for part in pairs.filter(|p| p.as_rule() == Rule::duration_part) {
        let mut inner = part.into_inner();
        let value: f64 = inner.next()?.as_str().parse().ok()?;
        let unit = match inner.next()?.as_str() {
            "ns" => 1.0,
            "us" | "\u{b5}s" | "\u{3bc}s" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            _ => 3600e9,
        };
        nanos += value * unit;
    }
    (nanos <= 9.2e18).then(|| Duration::from_nanos(nanos.round() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_go_durations() {
        assert_eq!(duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(duration("0"), Some(Duration::ZERO));
        assert_eq!(duration("10"), None);
        assert_eq!(duration("abc"), None);
    }
}
