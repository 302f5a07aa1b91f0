//! Which instructions make a layer, as BuildKit's dockerfile2llb decides
//! (`commitToHistory`'s `withLayer`): RUN, COPY, ADD and WORKDIR other
//! than `/` are steps; every other instruction changes the config and
//! writes an `empty_layer` history entry, except ONBUILD, which writes none.

use super::key_tests::last_stage;

/// `(created_by, empty_layer)` of every history entry of the last stage.
fn history(text: &str) -> Vec<(String, bool)> {
    let stage = last_stage(text, &[]);
    let entries = stage.config.doc["history"].as_array().cloned();
    entries
        .unwrap_or_default()
        .iter()
        .map(|e| {
            let by = e["created_by"].as_str().unwrap_or_default().to_string();
            (by, e["empty_layer"] == true)
        })
        .collect()
}

#[test]
fn config_instructions_write_empty_layer_entries() {
    let text = "FROM scratch\nARG A=1\nENV E=2\nLABEL l=3\nMAINTAINER m\nEXPOSE 80\n\
                VOLUME /v\nUSER 1\nSTOPSIGNAL 9\nSHELL [\"/bin/sh\",\"-c\"]\n\
                HEALTHCHECK NONE\nCMD [\"c\"]\nENTRYPOINT [\"e\"]\n";
    let h = history(text);
    assert_eq!(h.len(), 12, "{h:?}");
    assert!(h.iter().all(|(_, empty)| *empty), "{h:?}");
    assert!(last_stage(text, &[]).steps.is_empty());
}

#[test]
fn onbuild_writes_no_history() {
    let h = history("FROM scratch\nENV E=1\nONBUILD RUN make\n");
    assert_eq!(h, [("ENV E=1".to_string(), true)]);
}

#[test]
fn workdir_root_is_no_step_and_any_other_path_is_one() {
    let text = "FROM scratch\nWORKDIR /\nWORKDIR /w\nWORKDIR .\nRUN r\n\
                COPY <<EOT /f\nx\nEOT\nADD <<EOT /g\ny\nEOT\n";
    let stage = last_stage(text, &[]);
    let names: Vec<&str> = stage.steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "[stage-0 3/7] WORKDIR /w",
            "[stage-0 4/7] WORKDIR .",
            "[stage-0 5/7] RUN r",
            "[stage-0 6/7] COPY <<EOT /f",
            "[stage-0 7/7] ADD <<EOT /g",
        ]
    );
    let h = history(text);
    let marks: Vec<bool> = h.iter().map(|(_, empty)| *empty).collect();
    assert_eq!(marks, [true, false, false, false, false, false], "{h:?}");
    assert_eq!(h[0].0, "WORKDIR /");
    assert_eq!(h[2].0, "WORKDIR /w", "the path as it resolved");
    let at: Vec<usize> = stage.steps.iter().map(|s| s.history_index).collect();
    assert_eq!(at, [1, 2, 3, 4, 5]);
}

#[test]
fn config_entries_read_as_buildkit_writes_them() {
    let text = "FROM scratch\nSHELL [\"/bin/sh\", \"-ec\"]\nCMD echo \"hi\"\n\
                ENTRYPOINT [\"/bin/tini\", \"--\"]\n\
                HEALTHCHECK --interval=5s --retries=2 CMD [\"true\"]\n";
    let by: Vec<String> = history(text).into_iter().map(|(by, _)| by).collect();
    assert_eq!(
        by,
        [
            "SHELL [/bin/sh -ec]",
            r#"CMD ["/bin/sh" "-ec" "echo \"hi\""]"#,
            r#"ENTRYPOINT ["/bin/tini" "--"]"#,
            "HEALTHCHECK {Test:[CMD true] Interval:5s Timeout:0s StartPeriod:0s \
             StartInterval:0s Retries:2}",
        ]
    );
}

#[test]
fn run_history_starts_with_the_args_it_sees() {
    let text = "FROM scratch AS a\nARG A=1\nARG B\nFROM a\nARG C=3\nENV A=env\nRUN echo hi\n";
    let by: Vec<String> = history(text).into_iter().map(|(by, _)| by).collect();
    assert_eq!(
        by.last().unwrap(),
        "RUN |3 A=env B= C=3 /bin/sh -c echo hi # buildkit"
    );
    let plain = history("FROM scratch\nRUN [\"true\"]\n");
    assert_eq!(plain[0].0, "RUN true # buildkit");
}
