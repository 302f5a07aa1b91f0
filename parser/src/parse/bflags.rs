//! Typing an instruction's flags, as BuildKit's BFlags does: each
//! instruction declares its flags (boolean, string, repeatable string);
//! anything else is an error naming the flag's position.

use crate::ast::{Flag, Position};
use crate::error::ErrorKind;

use super::node::Located;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--link` or `--link=true|false`.
    Bool,
    /// `--from=x`, once.
    Str,
    /// `--exclude=x`, any number of times.
    List,
}

/// The flags of one instruction, checked against its declaration.
#[derive(Debug, Default)]
pub struct Flags {
    found: Vec<(&'static str, String, Position)>,
}

impl Flags {
    /// Checks `flags` against `declared` (name, kind) for `instruction`.
    pub fn parse(
        flags: &[Flag],
        instruction: &'static str,
        declared: &[(&'static str, Kind)],
    ) -> Result<Flags, Located> {
        let mut out = Flags::default();
        for flag in flags {
            let body = flag.text.strip_prefix("--").unwrap_or(&flag.text);
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(name, kind)) = declared.iter().find(|(n, _)| *n == name) else {
                let kind = ErrorKind::UnknownFlag {
                    instruction,
                    flag: format!("--{name}"),
                };
                return Err((kind, flag.position));
            };
            if kind != Kind::List && out.found.iter().any(|(n, _, _)| *n == name) {
                return Err((ErrorKind::DuplicateFlag(name.into()), flag.position));
            }
            let value = match (kind, value) {
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Bool, Some(v)) => match v.to_ascii_lowercase().as_str() {
                    "true" | "1" | "t" => "true".to_string(),
                    "false" | "0" | "f" => "false".to_string(),
                    _ => {
                        return Err(invalid(
                            name,
                            format!("expecting a boolean, not {v:?}"),
                            flag.position,
                        ))
                    }
                },
                (_, None) => return Err((ErrorKind::MissingFlagValue(name.into()), flag.position)),
                (_, Some(v)) => v.to_string(),
            };
            out.found.push((name, value, flag.position));
        }
        Ok(out)
    }

    /// The value of a string flag, and where it was written.
    pub fn string(&self, name: &str) -> Option<(String, Position)> {
        self.found
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|(_, v, p)| (v.clone(), *p))
    }

    pub fn value(&self, name: &str) -> Option<String> {
        self.string(name).map(|(v, _)| v)
    }

    pub fn boolean(&self, name: &str) -> bool {
        self.value(name).is_some_and(|v| v == "true")
    }

    /// Every value of a repeatable flag, in order.
    pub fn list(&self, name: &str) -> Vec<(String, Position)> {
        self.found
            .iter()
            .filter(|(n, _, _)| *n == name)
            .map(|(_, v, p)| (v.clone(), *p))
            .collect()
    }
}

/// An invalid value for `--flag`.
pub fn invalid(flag: &str, message: String, position: Position) -> Located {
    let kind = ErrorKind::InvalidFlagValue {
        flag: flag.into(),
        message,
    };
    (kind, position)
}
