//! The command line read as Docker's CLI reads it: a boolean flag takes an
//! optional `=true`/`=false` (`--rm=false`, `-d=false`), as Go's flag
//! package allows, and a usage error ends the process with Docker's codes:
//! 125 for a bad flag, 1 and Docker's wording for an unknown command.

use std::ffi::OsString;
use std::process::ExitCode;

use clap::builder::ValueParser;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Arg, ArgAction, Command, CommandFactory, FromArgMatches};

/// Docker's exit code for its own errors, usage errors among them.
const USAGE_ERROR: u8 = 125;

/// Parses `args` (argv[0] first) into `P`, or prints why not (or the help
/// asked for) and gives the code to exit with.
pub fn parse<P: CommandFactory + FromArgMatches>(args: &[OsString]) -> Result<P, ExitCode> {
    let matches = with_bool_values(P::command())
        .try_get_matches_from(args)
        .map_err(|err| refuse::<P>(err, args))?;
    P::from_arg_matches(&matches).map_err(|err| refuse::<P>(err, args))
}

/// `cmd` and all its subcommands with every switch taking an optional
/// `=BOOL`. Done on the built tree so that each flag is declared once, as
/// a plain `bool`.
fn with_bool_values(cmd: Command) -> Command {
    cmd.mut_args(bool_value).mut_subcommands(with_bool_values)
}

fn bool_value(arg: Arg) -> Arg {
    if !matches!(arg.get_action(), ArgAction::SetTrue) {
        return arg;
    }
    // require_equals keeps `-it` two switches and `--rm IMAGE` a switch
    // and an image: only an attached `=` gives a value.
    arg.action(ArgAction::Set)
        .num_args(0..=1)
        .require_equals(true)
        .default_missing_value("true")
        .default_value("false")
        .value_parser(ValueParser::new(go_bool))
}

/// The words Go's `strconv.ParseBool` takes.
fn go_bool(word: &str) -> Result<bool, String> {
    kiln_cache::units::parse_go_bool(word).ok_or_else(|| format!("invalid boolean value {word:?}"))
}

fn refuse<P: CommandFactory>(err: clap::Error, args: &[OsString]) -> ExitCode {
    if err.kind() == ErrorKind::InvalidSubcommand {
        let word = context(&err, ContextKind::InvalidSubcommand).unwrap_or_default();
        eprintln!(
            "kiln: '{}' is not a kiln command.\nSee 'kiln --help'",
            command_words(args, &word)
        );
        return ExitCode::from(1);
    }
    let err = as_declared::<P>(err, args);
    let _ = err.print();
    let stray_word = err.kind() == ErrorKind::UnknownArgument
        && context(&err, ContextKind::InvalidArg).is_some_and(|a| !a.starts_with('-'));
    match err.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            ExitCode::from(err.exit_code() as u8)
        }
        // A stray word that is not a flag stays clap's usage error.
        _ if stray_word => ExitCode::from(err.exit_code() as u8),
        _ if !err.use_stderr() => ExitCode::SUCCESS,
        _ => ExitCode::from(USAGE_ERROR),
    }
}

/// The same error rendered from the flags as declared, when parsing with
/// them fails the same way: help and usage lines would otherwise show the
/// optional `=BOOL` on every switch.
fn as_declared<P: CommandFactory>(err: clap::Error, args: &[OsString]) -> clap::Error {
    let plain = P::command().try_get_matches_from(args).err();
    plain.filter(|e| e.kind() == err.kind()).unwrap_or(err)
}

fn context(err: &clap::Error, kind: ContextKind) -> Option<String> {
    match err.get(kind)? {
        ContextValue::String(s) => Some(s.clone()),
        _ => None,
    }
}

/// The command words up to the unknown `word` (`cache foo`), as Docker
/// names them.
fn command_words(args: &[OsString], word: &str) -> String {
    let start = crate::early_helper::command_at(&args[1..]).map_or(1, |i| i + 1);
    let mut words = Vec::new();
    for arg in args.iter().skip(start).filter_map(|a| a.to_str()) {
        if !arg.starts_with('-') {
            words.push(arg);
        }
        if arg == word {
            break;
        }
    }
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(clap::Parser, Debug)]
    struct Cli {
        #[arg(short, long)]
        interactive: bool,
        #[arg(short, long)]
        tty: bool,
        #[arg(long)]
        rm: bool,
        #[arg(short, long)]
        name: Option<String>,
        #[arg(trailing_var_arg = true)]
        args: Vec<String>,
    }

    fn parsed(line: &str) -> Result<Cli, ExitCode> {
        let args: Vec<OsString> = format!("kiln {line}")
            .split_whitespace()
            .map(Into::into)
            .collect();
        parse::<Cli>(&args)
    }

    fn flags(line: &str) -> (bool, bool, bool, Vec<String>) {
        let c = parsed(line).unwrap();
        (c.interactive, c.tty, c.rm, c.args)
    }

    #[test]
    fn switches_take_an_attached_bool() {
        assert_eq!(
            flags("--rm=false img"),
            (false, false, false, vec!["img".into()])
        );
        assert!(flags("--rm=true -t=1 img").1);
        assert!(!flags("-i=false --tty=True img").0);
        assert_eq!(flags("-it img"), (true, true, false, vec!["img".into()]));
        assert_eq!(flags("--rm img ls -la").3, ["img", "ls", "-la"]);
        assert!(!flags("img").2);
        assert!(parsed("--rm=maybe img").is_err());
    }

    #[test]
    fn usage_errors_exit_125_and_values_still_parse() {
        assert_eq!(parsed("--bogus img").unwrap_err(), ExitCode::from(125));
        assert_eq!(parsed("-n x -t img").unwrap().name.as_deref(), Some("x"));
    }
}
