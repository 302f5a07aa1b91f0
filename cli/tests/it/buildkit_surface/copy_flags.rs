//! COPY --parents, --exclude and --link.

use super::{build_ok, cached_steps, case, kiln_with_busybox, privileged, run_sh};

#[test]
fn parents_exclude_and_link() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let dir = case("copy-flags");
    let (id, _) = build_ok(&k, &dir, &[]);
    assert_eq!(
        run_sh(&k, &id, "find /p /x /linked | sort"),
        "/linked\n/linked/keep.txt\n/p\n/p/a\n/p/a/b\n/p/a/b/c.txt\n/p/a/b/d.log\n/x\n/x/keep.txt"
    );
    // A change below a --link layer re-runs the steps before it, and the
    // --link step itself stays cached: its layer does not depend on them.
    let (changed, stderr) = build_ok(&k, &dir, &["--build-arg", "BEFORE=1"]);
    let cached = cached_steps(&stderr);
    assert!(cached.iter().any(|s| s.contains("COPY --link")), "{stderr}");
    assert!(!cached.iter().any(|s| s.contains("--parents")), "{stderr}");
    assert_eq!(
        run_sh(&k, &changed, "cat /before /linked/keep.txt"),
        "1\nkeep"
    );
}

#[test]
fn exclude_with_from_filters_below_the_source() {
    if !privileged() {
        return;
    }
    let k = kiln_with_busybox();
    let (id, _) = build_ok(&k, &case("copy-exclude-from"), &[]);
    // `*.md` is anchored at the source's top, as in .dockerignore.
    assert_eq!(
        run_sh(&k, &id, "find /x /y /z | sort | tr '\\n' ' '"),
        "/x /x/a.txt /x/keep /x/keep/j.txt /x/keep/k.md /y /y/a.txt /y/b.md /y/keep /y/keep/k.md /y/sub /y/sub/s.txt /z /z/a.txt"
    );
}
