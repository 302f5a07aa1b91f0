//! One `--change` line (`import`, `commit`): a Dockerfile instruction read
//! with kiln's Dockerfile parser and word expansion, as Docker reads it.

use std::collections::HashMap;

use kiln_cache::image::change::{self, Change};
use kiln_parser::ast::{CommandLine, InstructionKind};
use kiln_parser::expand::{ExpandError, Lexer};
use kiln_parser::ParseError;

#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    #[error("--change {text:?}")]
    Parse { text: String, source: ParseError },
    #[error("--change {text:?}: expected exactly one instruction")]
    NotOne { text: String },
    #[error("--change {text:?}")]
    Expand { text: String, source: ExpandError },
    #[error("{0} is not a valid change command")]
    NotAChange(String),
}

/// The change `text` asks for: CMD, ENTRYPOINT, ENV, LABEL, EXPOSE, VOLUME,
/// USER, WORKDIR or STOPSIGNAL.
pub fn parse_change(text: &str) -> Result<Change, ChangeError> {
    let df = kiln_parser::parse(text.as_bytes()).map_err(|source| ChangeError::Parse {
        text: text.to_string(),
        source,
    })?;
    let [instruction] = df.instructions.as_slice() else {
        return Err(ChangeError::NotOne {
            text: text.to_string(),
        });
    };
    let words = Words {
        lexer: Lexer::new(df.escape),
        env: HashMap::new(),
        text,
    };
    let command = |c: &CommandLine| match c {
        CommandLine::Exec(v) => v.clone(),
        CommandLine::Shell(s) => change::shell_form(s),
    };
    Ok(match &instruction.kind {
        InstructionKind::Cmd(c) => Change::Cmd(command(c)),
        InstructionKind::Entrypoint(c) => Change::Entrypoint(command(c)),
        InstructionKind::Env(env) => Change::Env(
            words.pairs(
                env.pairs
                    .iter()
                    .map(|kv| (kv.key.as_str(), kv.value.as_str())),
            )?,
        ),
        InstructionKind::Label(pairs) => {
            Change::Label(words.pairs(pairs.iter().map(|kv| (kv.key.as_str(), kv.value.as_str())))?)
        }
        InstructionKind::Expose(ports) => Change::Expose(words.all(ports)?),
        InstructionKind::Volume(vols) => Change::Volume(words.all(vols)?),
        InstructionKind::User(u) => Change::User(words.one(u)?),
        InstructionKind::Workdir(w) => Change::Workdir(words.one(w)?),
        InstructionKind::Stopsignal(s) => Change::StopSignal(words.one(s)?),
        _ => return Err(ChangeError::NotAChange(instruction.keyword.to_uppercase())),
    })
}

/// Word expansion with an empty environment: a change sees no build args.
struct Words<'a> {
    lexer: Lexer,
    env: HashMap<String, String>,
    text: &'a str,
}

impl Words<'_> {
    fn one(&self, word: &str) -> Result<String, ChangeError> {
        self.lexer
            .process_word(word, &self.env)
            .map_err(|source| ChangeError::Expand {
                text: self.text.to_string(),
                source,
            })
    }

    fn all(&self, words: &[String]) -> Result<Vec<String>, ChangeError> {
        words.iter().map(|w| self.one(w)).collect()
    }

    fn pairs<'p>(
        &self,
        pairs: impl Iterator<Item = (&'p str, &'p str)>,
    ) -> Result<Vec<(String, String)>, ChangeError> {
        pairs
            .map(|(k, v)| Ok((self.one(k)?, self.one(v)?)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_parse_with_the_dockerfile_parser() {
        assert_eq!(
            parse_change(r#"CMD ["sh"]"#).unwrap(),
            Change::Cmd(vec!["sh".into()])
        );
        assert_eq!(
            parse_change("CMD echo hi").unwrap(),
            Change::Cmd(change::shell_form("echo hi"))
        );
        assert_eq!(
            parse_change(r#"ENV A="x y" B=2"#).unwrap(),
            Change::Env(vec![("A".into(), "x y".into()), ("B".into(), "2".into())])
        );
        assert_eq!(
            parse_change("LABEL a=1").unwrap(),
            Change::Label(vec![("a".into(), "1".into())])
        );
    }

    #[test]
    fn other_instructions_and_several_are_refused() {
        let err = parse_change("RUN true").unwrap_err();
        assert_eq!(err.to_string(), "RUN is not a valid change command");
        assert!(matches!(
            parse_change("CMD a\nCMD b"),
            Err(ChangeError::NotOne { .. })
        ));
    }
}
