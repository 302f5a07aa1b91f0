//! `kiln check`: lint findings with file:line:col, exit codes.

use std::fs;

use crate::support::Kiln;

/// Lint `dockerfile`, returning (exit code, stdout, stderr).
fn check(dockerfile: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("Dockerfile");
    fs::write(&path, dockerfile).unwrap();
    let kiln = Kiln::new();
    let out = kiln
        .cmd(["check"].iter().chain(extra))
        .current_dir(dir.path())
        .output()
        .expect("run kiln");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn clean_file_prints_nothing() {
    let (code, out, err) = check(
        "FROM alpine AS base\nENV A=1\nWORKDIR /app\nCMD [\"sh\"]\n",
        &[],
    );
    assert_eq!((code, out.as_str(), err.as_str()), (0, "", ""));
}

#[test]
fn instruction_rules() {
    let df = "FROM alpine\nENV key value\nMAINTAINER me\nWORKDIR app\nCMD echo hi\nCMD [\"a\"]\nENTRYPOINT run\nHEALTHCHECK NONE\nHEALTHCHECK NONE\n";
    let (code, out, _) = check(df, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Dockerfile:2:1: warning[LegacyKeyValueFormat]: \"ENV key=value\" should be used instead of legacy \"ENV key value\" format
Dockerfile:3:1: warning[MaintainerDeprecated]: Maintainer instruction is deprecated in favor of using label
Dockerfile:4:1: warning[WorkdirRelativePath]: Relative workdir \"app\" can have unexpected results if the base image changes
Dockerfile:5:1: warning[JSONArgsRecommended]: JSON arguments recommended for CMD to prevent unintended behavior related to OS signals
Dockerfile:5:1: warning[MultipleInstructionsDisallowed]: Multiple CMD instructions should not be used in the same stage because only the last one will be used
Dockerfile:7:1: warning[JSONArgsRecommended]: JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals
Dockerfile:8:1: warning[MultipleInstructionsDisallowed]: Multiple HEALTHCHECK instructions should not be used in the same stage because only the last one will be used
"
    );
}

#[test]
fn stage_rules() {
    let df = "FROM alpine as build\nRUN true\nFROM alpine AS build\nRUN true\nFROM alpine AS unused\nFROM scratch\nCOPY --from=build /a /a\n";
    let (code, out, _) = check(df, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Dockerfile:1:1: warning[FromAsCasing]: 'as' and 'FROM' keywords' casing do not match
Dockerfile:3:1: warning[DuplicateStageName]: Duplicate stage name \"build\", stage names should be unique (first used on line 1)
Dockerfile:5:1: warning[UnreachableStage]: Stage 'unused' is not used by the target stage and will not be built
"
    );
}

#[test]
fn target_changes_what_is_unreachable() {
    let df = "FROM alpine AS a\nFROM alpine AS b\n";
    let (_, out, _) = check(df, &["--target", "a"]);
    assert_eq!(out, "Dockerfile:2:1: warning[UnreachableStage]: Stage 'b' is not used by the target stage and will not be built\n");
}

#[test]
fn variable_rules() {
    let df = "ARG TAG=3\nFROM alpine:${TAG}-${LATER}\nARG LATER\nENV A=1\nCOPY $A ${MISSING} ${OPT:-x} /dst/\nLABEL l=$a\nRUN echo $NOT_CHECKED\nFROM alpine:$NOWHERE\n";
    let (code, out, _) = check(df, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Dockerfile:2:1: warning[UndefinedArgInFrom]: FROM argument 'LATER' is not declared (ARG LATER on line 3 comes after this FROM; declare it before the first FROM)
Dockerfile:2:1: warning[UnreachableStage]: Stage 0 is not used by the target stage and will not be built
Dockerfile:5:1: warning[UndefinedVar]: Usage of undefined variable '$MISSING'
Dockerfile:6:1: warning[UndefinedVar]: Usage of undefined variable '$a' (did you mean $A?)
Dockerfile:8:1: warning[UndefinedArgInFrom]: FROM argument 'NOWHERE' is not declared
"
    );
}

#[test]
fn strict_fails_on_warnings() {
    let (code, out, _) = check("FROM alpine\nMAINTAINER me\n", &["--strict"]);
    assert_eq!(code, 1);
    assert_eq!(out, "Dockerfile:2:1: warning[MaintainerDeprecated]: Maintainer instruction is deprecated in favor of using label\n");
}

#[test]
fn check_directive_skips_and_escalates() {
    let df = "# check=skip=JSONArgsRecommended;error=true\nFROM alpine\nCMD run\nMAINTAINER me\n";
    let (code, out, _) = check(df, &[]);
    assert_eq!(code, 1);
    assert_eq!(out, "Dockerfile:4:1: error[MaintainerDeprecated]: Maintainer instruction is deprecated in favor of using label\n");
}

#[test]
fn bad_substitution_is_an_error() {
    let (code, out, _) = check("FROM alpine\nENV A=${B\n", &[]);
    assert_eq!(code, 1);
    assert_eq!(out, "Dockerfile:2:1: error[InvalidSubstitution]: failed to process \"${B\": syntax error: missing '}'\n");
}

#[test]
fn parse_error_shows_line_and_caret() {
    let (code, out, err) = check("FROM alpine\n  BOGUS thing\n", &[]);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        "Dockerfile:2:3: unknown instruction: BOGUS\n  BOGUS thing\n  ^\n"
    );
}

#[test]
fn reads_file_flag_and_reports_missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.Dockerfile");
    fs::write(&path, "FROM alpine\nMAINTAINER me\n").unwrap();
    let out = Kiln::new()
        .cmd(["check", "-f", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.starts_with(&format!(
            "{}:2:1: warning[MaintainerDeprecated]",
            path.display()
        )),
        "{stdout}"
    );
    let out = Kiln::new()
        .cmd(["check", "-f", "/nonexistent/Dockerfile"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn casing_and_continuation_rules() {
    let df = "FROM alpine AS Base\nrun echo a \\\n\n  b\nFROM scratch AS context\nCOPY --from=base / /\n";
    let (code, out, _) = check(df, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        out,
        "Dockerfile:1:1: warning[StageNameCasing]: Stage name 'Base' should be lowercase
Dockerfile:2:1: warning[ConsistentInstructionCasing]: Command 'run' should match the case of the command majority (uppercase)
Dockerfile:4:1: warning[NoEmptyContinuation]: Empty continuation line
Dockerfile:5:1: warning[ReservedStageName]: Stage name should not use the same name as reserved stage \"context\"
"
    );
}
