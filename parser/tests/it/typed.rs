//! The typed AST: instructions, flags parsed into fields, and the errors of
//! typing with their line and column.

use kiln_parser::ast::*;
use kiln_parser::ErrorKind;

fn one(src: &str) -> InstructionKind {
    let file = kiln_parser::parse(src.as_bytes()).unwrap_or_else(|e| panic!("{}", e.render("D")));
    file.instructions.last().unwrap().kind.clone()
}

fn error(src: &str) -> kiln_parser::ParseError {
    match kiln_parser::parse(src.as_bytes()) {
        Ok(f) => panic!("{src:?} typed as {:?}", f.instructions),
        Err(e) => e,
    }
}

#[test]
fn from_with_platform_and_stage_name() {
    let InstructionKind::From(f) = one("FROM --platform=$BUILDPLATFORM golang:1.22 as build")
    else {
        panic!()
    };
    assert_eq!(f.image, "golang:1.22");
    assert_eq!(f.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(f.name.as_deref(), Some("build"));
    assert_eq!(f.as_keyword.as_deref(), Some("as"));
}

#[test]
fn run_flags_become_fields_and_heredocs_are_attached() {
    let src = "FROM a\nRUN --mount=type=cache,target=/c,sharing=locked --mount=type=secret,id=t \\\n  --network=none --security=insecure <<-EOF\n\techo hi\n\tEOF\n";
    let file = kiln_parser::parse(src.as_bytes()).unwrap();
    let run = &file.instructions[1];
    assert_eq!(
        (
            run.span.start_line,
            run.span.start_column,
            run.span.end_line
        ),
        (2, 1, 5)
    );
    let InstructionKind::Run(r) = &run.kind else {
        panic!()
    };
    assert!(
        matches!(&r.mounts[0], Mount::Cache(c) if c.target == "/c" && c.sharing == CacheSharing::Locked)
    );
    assert!(matches!(&r.mounts[1], Mount::Secret(s) if s.id.as_deref() == Some("t")));
    assert_eq!(
        (r.network, r.security),
        (Some(Network::None), Some(Security::Insecure))
    );
    assert_eq!(r.command, CommandLine::Shell("<<-EOF".into()));
    assert_eq!(r.heredocs[0].content, "\techo hi\n");
    assert_eq!(r.heredocs[0].body(), "echo hi\n");
    let InstructionKind::Run(r) = one("RUN [\"sh\", \"-c\", \"x\"]") else {
        panic!()
    };
    assert_eq!(
        r.command,
        CommandLine::Exec(vec!["sh".into(), "-c".into(), "x".into()])
    );
}

#[test]
fn copy_and_add_flags() {
    let InstructionKind::Copy(c) =
        one("COPY --from=build --chown=1:1 --chmod=0755 --link --parents --exclude=*.md --exclude=x a b /dst/")
    else {
        panic!()
    };
    assert_eq!(c.sources, vec!["a", "b"]);
    assert_eq!(c.dest, "/dst/");
    assert_eq!(c.from.as_deref(), Some("build"));
    assert_eq!(c.chmod.as_deref(), Some("0755"));
    assert!(c.link && c.parents);
    assert_eq!(c.exclude, vec!["*.md", "x"]);
    let InstructionKind::Add(a) =
        one("ADD --checksum=sha256:abc --keep-git-dir=true https://x/y.git /src")
    else {
        panic!()
    };
    assert_eq!(a.checksum.as_deref(), Some("sha256:abc"));
    assert!(a.keep_git_dir);
}

#[test]
fn env_label_and_arg_keep_raw_values() {
    let InstructionKind::Env(e) = one("ENV A=1 B=\"two words\"") else {
        panic!()
    };
    assert!(!e.legacy);
    assert_eq!(
        e.pairs[1],
        KeyValue {
            key: "B".into(),
            value: "\"two words\"".into()
        }
    );
    let InstructionKind::Env(e) = one("ENV K some value") else {
        panic!()
    };
    assert!(e.legacy);
    assert_eq!(
        e.pairs,
        vec![KeyValue {
            key: "K".into(),
            value: "some value".into()
        }]
    );
    let InstructionKind::Arg(a) = one("ARG x y=\"1 2\"") else {
        panic!()
    };
    assert_eq!(
        a[0],
        ArgDecl {
            name: "x".into(),
            default: None
        }
    );
    assert_eq!(a[1].default.as_deref(), Some("\"1 2\""));
    let InstructionKind::Label(l) = one("LABEL a=b c=d") else {
        panic!()
    };
    assert_eq!(l.len(), 2);
}

#[test]
fn healthcheck_onbuild_shell_and_the_rest() {
    let InstructionKind::Healthcheck(Healthcheck::Cmd(h)) =
        one("HEALTHCHECK --interval=5s --timeout=3s --start-period=1m --retries=3 CMD curl -f x")
    else {
        panic!()
    };
    assert_eq!(h.interval, Some(std::time::Duration::from_secs(5)));
    assert_eq!(h.start_period, Some(std::time::Duration::from_secs(60)));
    assert_eq!(h.retries, Some(3));
    assert_eq!(h.command, CommandLine::Shell("curl -f x".into()));
    assert_eq!(
        one("HEALTHCHECK NONE"),
        InstructionKind::Healthcheck(Healthcheck::None)
    );
    let InstructionKind::Onbuild(i) = one("ONBUILD COPY . /app") else {
        panic!()
    };
    assert!(matches!(i.kind, InstructionKind::Copy(_)));
    assert_eq!(
        one("SHELL [\"pwsh\", \"-c\"]"),
        InstructionKind::Shell(vec!["pwsh".into(), "-c".into()])
    );
    assert_eq!(
        one("EXPOSE 80 53/udp 8000-8010"),
        InstructionKind::Expose(vec!["80".into(), "53/udp".into(), "8000-8010".into()])
    );
    assert_eq!(
        one("VOLUME [\"/a\"]"),
        InstructionKind::Volume(vec!["/a".into()])
    );
    assert_eq!(
        one("STOPSIGNAL SIGTERM"),
        InstructionKind::Stopsignal("SIGTERM".into())
    );
    assert_eq!(one("workdir /x"), InstructionKind::Workdir("/x".into()));
}

#[test]
fn typing_errors_name_line_and_column() {
    let cases: &[(&str, (usize, usize))] = &[
        ("FROM a\n  FOO bar\n", (2, 3)),
        ("FROM a\nCOPY --frm=x a b\n", (2, 6)),
        ("FROM a\nRUN --mount=type=foo x\n", (2, 5)),
        ("FROM a\nRUN --network=bogus x\n", (2, 5)),
        ("FROM a\nCOPY --chmod=xyz a b\n", (2, 6)),
        ("FROM a\nCOPY onlyone\n", (2, 6)),
        ("FROM\n", (1, 5)),
        ("FROM a\nONBUILD ONBUILD RUN x\n", (2, 9)),
        ("FROM a\nONBUILD FROM b\n", (2, 9)),
        ("FROM a\nONBUILD MAINTAINER me\n", (2, 9)),
        ("FROM a\nRUN x \\\n  --y\nCOPY --from a b\n", (4, 6)),
        ("FROM a\nCMD --x y\n", (2, 5)),
    ];
    for (src, (line, column)) in cases {
        let e = error(src);
        assert_eq!(
            (e.position.line, e.position.column),
            (*line, *column),
            "{src:?}: {e}"
        );
    }
    assert!(
        matches!(error("FROM a\nFOO x\n").kind, ErrorKind::UnknownInstruction(k) if k == "FOO")
    );
    let rendered = error("FROM a\nCOPY --chmod=xyz a b\n").render("Dockerfile");
    assert_eq!(
        rendered,
        "Dockerfile:2:6: invalid value for flag --chmod: invalid mode \"xyz\"\nCOPY --chmod=xyz a b\n     ^\n"
    );
}

#[test]
fn warnings_reach_callers() {
    let file = kiln_parser::parse(b"FROM a\nRUN a \\\n\n  b\n").unwrap();
    assert_eq!(file.warnings.len(), 1);
    assert_eq!(
        file.warnings[0].message,
        "Empty continuation line found in: RUN a   b"
    );
    assert_eq!(file.warnings[0].line, 4);
}
