//! `kiln run`'s init helper, started before the command line is parsed.
//! Parsing takes about as long as the helper's exec and start-up, so a
//! foreground `run` starts the helper first (a fork: the exec is not waited
//! for) and the two overlap. The flags that matter (`-i`, `-t`, `-d`,
//! `--runtime`) are guessed from the raw arguments; `run` takes the helper
//! only when the parsed flags agree, and otherwise drops it (its socket
//! closes and it exits) and spawns another. A wrong guess costs time,
//! never behaviour.

use std::ffi::OsString;
use std::sync::Mutex;

use kiln_runtime::container::{self, Spawned};
use kiln_runtime::Stdio;

/// The helper started before parsing, with the stdio it was given.
static EARLY: Mutex<Option<(Wanted, Spawned)>> = Mutex::new(None);

/// Global flags that take a value as the next argument.
const GLOBAL_VALUED: [&str; 2] = ["--root", "--config"];

/// `run`'s long flags that take no value; any other long flag without `=`
/// is taken to take the next argument.
const RUN_SWITCHES: [&str; 8] = [
    "--rm",
    "--interactive",
    "--tty",
    "--detach",
    "--publish-all",
    "--read-only",
    "--privileged",
    "--init",
];

/// `run`'s short flags that take no value; they may be bundled (`-it`).
const RUN_SHORT_SWITCHES: &str = "itdP";

/// What the helper's stdio depends on.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Wanted {
    pub tty: bool,
    pub interactive: bool,
}

impl Wanted {
    pub fn stdio(self) -> Stdio {
        kiln_engine::container::stdio(self.tty, self.interactive)
    }
}

/// The arguments after `run` when `args` (without argv[0]) are plainly a
/// `kiln run`: before `run` only `--root`, `--config` (with values) and
/// `--debug`, so that no other command's flag (`--help`) is involved.
pub fn after_run(args: &[OsString]) -> Option<&[OsString]> {
    let i = command_at(args)?;
    (args[i] == "run").then(|| &args[i + 1..])
}

/// Where the command word is in `args` (without argv[0]) when only global
/// flags come before it.
pub fn command_at(args: &[OsString]) -> Option<usize> {
    let mut i = 0;
    while let Some(arg) = args.get(i).and_then(|a| a.to_str()) {
        match arg {
            "--debug" => i += 1,
            a if a.starts_with("--debug=") => i += 1,
            a if GLOBAL_VALUED.contains(&a) => i += 2,
            a if GLOBAL_VALUED
                .iter()
                .any(|g| a.strip_prefix(g).is_some_and(|v| v.starts_with('='))) =>
            {
                i += 1
            }
            a if a.starts_with('-') => return None,
            _ => return Some(i),
        }
    }
    None
}

/// Starts the helper when `run_args` (what follows `run`) ask for a
/// foreground run on kiln's own runtime.
pub fn start(run_args: &[OsString]) {
    let Some(wanted) = guess(run_args) else {
        return;
    };
    if let (Ok(helper), Ok(mut slot)) = (container::spawn(wanted.stdio()), EARLY.lock()) {
        *slot = Some((wanted, helper));
    }
}

/// The early helper, if there is one and it was started for `wanted`.
pub fn take(wanted: Wanted) -> Option<Spawned> {
    let (started_for, helper) = EARLY.lock().ok()?.take()?;
    (started_for == wanted).then_some(helper)
}

fn guess(run_args: &[OsString]) -> Option<Wanted> {
    let mut args = run_args.iter().map(|a| a.to_str());
    let mut wanted = Wanted {
        tty: false,
        interactive: false,
    };
    // Up to the image: what follows is the container's command line.
    while let Some(arg) = args.next() {
        let arg = arg?;
        // `--tty=false`, `-d=true`: a switch given its value.
        let (arg, on) = match arg.split_once('=') {
            Some((flag, value)) if is_switch(flag) => (flag, value != "false" && value != "0"),
            _ => (arg, true),
        };
        match arg {
            "--" => break,
            "--tty" => wanted.tty = on,
            "--interactive" => wanted.interactive = on,
            "--detach" if on => return None,
            "--runtime" | "--help" => return None,
            a if a.starts_with("--runtime=") => return None,
            a if a.starts_with("--") => {
                if !RUN_SWITCHES.contains(&a) && !a.contains('=') {
                    args.next();
                }
            }
            a if a.starts_with('-') && a.len() > 1 => {
                let letters = &a[1..];
                if !letters.chars().all(|c| RUN_SHORT_SWITCHES.contains(c)) {
                    // `-e K=V` or `-eK=V`: a value follows or is attached.
                    if letters.len() == 1 {
                        args.next();
                    }
                    continue;
                }
                if letters.contains('d') && on {
                    return None;
                }
                if letters.contains('t') {
                    wanted.tty = on;
                }
                if letters.contains('i') {
                    wanted.interactive = on;
                }
            }
            _ => break,
        }
    }
    Some(wanted)
}

/// Whether `flag` (`--rm`, `-it`) is one or more of `run`'s switches.
fn is_switch(flag: &str) -> bool {
    match flag.strip_prefix('-') {
        Some(long) if long.starts_with('-') => RUN_SWITCHES.contains(&flag),
        Some(letters) => {
            !letters.is_empty() && letters.chars().all(|c| RUN_SHORT_SWITCHES.contains(c))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<OsString> {
        line.split_whitespace().map(Into::into).collect()
    }

    fn guessed(line: &str) -> Option<Wanted> {
        guess(after_run(&words(line))?)
    }

    fn w(tty: bool, interactive: bool) -> Option<Wanted> {
        Some(Wanted { tty, interactive })
    }

    #[test]
    fn foreground_runs_are_recognised_with_their_stdio() {
        assert_eq!(guessed("run --rm busybox true"), w(false, false));
        assert_eq!(guessed("--root /r run -it busybox sh"), w(true, true));
        assert_eq!(
            guessed("--debug run -e A=1 -i --name x img"),
            w(false, true)
        );
        assert_eq!(guessed("run --network none --tty img"), w(true, false));
    }

    #[test]
    fn switches_given_a_value_count_as_that_value() {
        assert_eq!(guessed("run --tty=true -i=false img"), w(true, false));
        assert_eq!(guessed("run -it --tty=false img"), w(false, true));
        assert_eq!(guessed("run -d=false --rm=true img"), w(false, false));
        assert_eq!(guessed("run -e=X --interactive=1 img"), w(false, true));
    }

    #[test]
    fn the_command_after_the_image_is_not_read() {
        assert_eq!(guessed("run img ls -lt"), w(false, false));
        assert_eq!(guessed("run -e X img sh -c -t"), w(false, false));
        assert_eq!(guessed("run -- img -t"), w(false, false));
    }

    #[test]
    fn other_commands_detached_runs_and_other_runtimes_get_none() {
        assert_eq!(guessed("build ."), None);
        assert_eq!(guessed("--root run ps"), None);
        assert_eq!(guessed("--help run img"), None);
        assert_eq!(guessed("--root=/r --config /c run img"), w(false, false));
        assert_eq!(guessed("run -dit img"), None);
        assert_eq!(guessed("run --runtime crun img"), None);
        assert_eq!(guessed("run --runtime=runc img"), None);
        assert_eq!(guessed("run --help"), None);
        assert_eq!(guessed("run -d=true img"), None);
        assert_eq!(guessed("run --detach=1 img"), None);
        assert_eq!(guessed(""), None);
    }
}
