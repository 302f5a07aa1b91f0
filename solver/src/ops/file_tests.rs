//! COPY and WORKDIR on temporary directories. Owners are the test
//! process's own ids, which `lchown` accepts without root; giving a file
//! to anyone else needs root, so that outcome is checked as root and the
//! refusal without it.

use std::fs;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use kiln_parser::ignore::Matcher;

use super::*;
use crate::context::{Entry, Stat};

/// A stage's layer (`source`), the image below the new layer (`image`),
/// a build context and the new layer itself (`staging`).
struct Dirs {
    _tmp: tempfile::TempDir,
    source: PathBuf,
    image: PathBuf,
    context: PathBuf,
    staging: PathBuf,
}

impl Dirs {
    fn new() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let [source, image, context, staging] =
            ["source", "image", "context", "staging"].map(|d| tmp.path().join(d));
        for d in [&source, &image, &context, &staging] {
            fs::create_dir(d).unwrap();
        }
        Dirs {
            _tmp: tmp,
            source,
            image,
            context,
            staging,
        }
    }

    fn layer(&self, name: &str) -> PathBuf {
        self.staging.join(name)
    }
}

fn me() -> (u32, u32) {
    (
        nix::unistd::geteuid().as_raw(),
        nix::unistd::getegid().as_raw(),
    )
}

fn chown_me() -> Option<String> {
    let (u, g) = me();
    Some(format!("{u}:{g}"))
}

fn copy_op(from: CopyFrom, paths: &[&str], dest: &str) -> CopyOp {
    CopyOp {
        from,
        paths: paths.iter().map(|p| p.to_string()).collect(),
        heredocs: Vec::new(),
        dest: dest.into(),
        multi: false,
        chown: None,
        chmod: None,
        add: false,
        parents: false,
        link: false,
        exclude: None,
    }
}

fn write(path: &Path, text: &str, mode: u32) {
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    fs::write(path, text).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mkdir_mode(path: &Path, mode: u32) {
    fs::create_dir_all(path).unwrap();
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    fs::symlink_metadata(path).unwrap().mode() & 0o7777
}

fn owner(path: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(path).unwrap();
    (m.uid(), m.gid())
}

/// A stage with `app/` (0750): `run.sh` (0755, an old mtime), `conf`
/// (0600), `link` → run.sh; the image below has `opt/` (0700).
fn stage_app(d: &Dirs) {
    mkdir_mode(&d.source.join("app"), 0o750);
    write(&d.source.join("app/run.sh"), "#!/bin/sh\n", 0o755);
    write(&d.source.join("app/conf"), "secret\n", 0o600);
    symlink("run.sh", d.source.join("app/link")).unwrap();
    let old = filetime::FileTime::from_unix_time(1_000_000, 0);
    filetime::set_file_mtime(d.source.join("app/run.sh"), old).unwrap();
    mkdir_mode(&d.image.join("opt"), 0o700);
}

fn copy_from_stage(d: &Dirs, op: &CopyOp) -> Result<(), FileError> {
    let source = Layered::new(vec![d.source.clone()]);
    let below = Layered::new(vec![d.image.clone()]);
    let target = Target {
        staging: &d.staging,
        below: &below,
        names: &below,
    };
    copy(op, &d.context, Some(&source), &target)
}

fn copy_from_context(d: &Dirs, op: &CopyOp, names: &Layered) -> Result<(), FileError> {
    let below = Layered::new(vec![d.image.clone()]);
    let target = Target {
        staging: &d.staging,
        below: &below,
        names,
    };
    copy(op, &d.context, None, &target)
}

/// The context directory `root` selected whole, as `select` gives it.
fn selected_dir(context: &Path, root: &str) -> Selected {
    let mut entries = Vec::new();
    let mut stack = vec![PathBuf::from(root)];
    while let Some(rel) = stack.pop() {
        let meta = fs::symlink_metadata(context.join(&rel)).unwrap();
        let kind = match meta.is_dir() {
            true => EntryKind::Dir,
            false => EntryKind::File,
        };
        if meta.is_dir() {
            for e in fs::read_dir(context.join(&rel)).unwrap() {
                stack.push(rel.join(e.unwrap().file_name()));
            }
        }
        entries.push(std::sync::Arc::new(Entry {
            path: rel,
            kind,
            stat: Stat::from(&meta),
        }));
    }
    entries.sort_by(|a, b| a.path.cmp(&b.path));
    Selected {
        name: root.into(),
        root: root.into(),
        kind: EntryKind::Dir,
        entries,
    }
}

#[test]
fn a_stage_copy_keeps_modes_owners_links_and_mtimes() {
    let d = Dirs::new();
    stage_app(&d);
    copy_from_stage(&d, &copy_op(CopyFrom::Stage(0), &["/app"], "/opt/app")).unwrap();
    assert_eq!(mode(&d.layer("opt")), 0o700, "the image's parent as it is");
    assert_eq!(mode(&d.layer("opt/app")), 0o750);
    assert_eq!(mode(&d.layer("opt/app/run.sh")), 0o755);
    assert_eq!(mode(&d.layer("opt/app/conf")), 0o600);
    assert_eq!(
        owner(&d.layer("opt/app/conf")),
        me(),
        "a stage's owners kept"
    );
    let link = fs::read_link(d.layer("opt/app/link")).unwrap();
    assert_eq!(link, Path::new("run.sh"), "a link is copied, not followed");
    let mtime = fs::metadata(d.layer("opt/app/run.sh")).unwrap().mtime();
    assert_eq!(mtime, 1_000_000);
    let text = fs::read_to_string(d.layer("opt/app/conf")).unwrap();
    assert_eq!(text, "secret\n");
}

#[test]
fn chmod_applies_to_every_copied_file_and_directory() {
    let d = Dirs::new();
    stage_app(&d);
    let mut op = copy_op(CopyFrom::Stage(0), &["/app"], "/opt/app");
    op.chmod = Some("a+rX".into());
    copy_from_stage(&d, &op).unwrap();
    assert_eq!(mode(&d.layer("opt/app")), 0o755, "X on a directory");
    assert_eq!(mode(&d.layer("opt/app/run.sh")), 0o755, "X where x was");
    assert_eq!(mode(&d.layer("opt/app/conf")), 0o644, "no X without x");

    let d = Dirs::new();
    stage_app(&d);
    let mut op = copy_op(CopyFrom::Stage(0), &["/app/conf"], "/opt/");
    op.chmod = Some("0640".into());
    copy_from_stage(&d, &op).unwrap();
    assert_eq!(mode(&d.layer("opt/conf")), 0o640);

    op.chmod = Some("u+q".into());
    let e = copy_from_stage(&d, &op).unwrap_err();
    assert!(matches!(e, FileError::Chmod(_)), "{e}");
}

#[test]
fn a_missing_or_excluded_stage_path_is_not_copied() {
    let d = Dirs::new();
    stage_app(&d);
    let e = copy_from_stage(&d, &copy_op(CopyFrom::Stage(0), &["/nope"], "/opt/")).unwrap_err();
    assert_eq!(e.to_string(), "\"/nope\": not found");

    let mut op = copy_op(CopyFrom::Stage(0), &["/app"], "/opt/app");
    op.exclude = Some(Matcher::parse("--exclude", "conf\n").unwrap());
    copy_from_stage(&d, &op).unwrap();
    assert!(d.layer("opt/app/run.sh").exists());
    assert!(!d.layer("opt/app/conf").exists());
}

#[test]
fn context_files_get_the_chown_owner_and_new_parents_0755() {
    let d = Dirs::new();
    mkdir_mode(&d.context.join("src"), 0o711);
    write(&d.context.join("src/a.txt"), "a\n", 0o640);
    let item = selected_dir(&d.context, "src");
    let mut op = copy_op(CopyFrom::Context(vec![item]), &[], "/deep/er");
    op.chown = chown_me();
    copy_from_context(&d, &op, &Layered::default()).unwrap();
    assert_eq!(mode(&d.layer("deep")), 0o755, "a parent the image lacks");
    assert_eq!(mode(&d.layer("deep/er")), 0o711, "made like the source dir");
    assert_eq!(mode(&d.layer("deep/er/a.txt")), 0o640);
    assert_eq!(owner(&d.layer("deep/er/a.txt")), me());
    assert!(
        !d.layer("deep/er/src").exists(),
        "a directory's contents only"
    );
}

#[test]
fn chown_names_are_looked_up_in_the_stage_even_for_a_link_layer() {
    let d = Dirs::new();
    let (uid, gid) = me();
    let names_dir = d.source.clone();
    let passwd = format!("root:x:0:0::/root:/bin/sh\napp:x:{uid}:{gid}::/home/app:/bin/sh\n");
    write(&names_dir.join("etc/passwd"), &passwd, 0o644);
    write(
        &names_dir.join("etc/group"),
        &format!("staff:x:{gid}:\n"),
        0o644,
    );
    write(&d.context.join("f"), "f\n", 0o600);
    let names = Layered::new(vec![names_dir]);
    let mut item = selected_dir(&d.context, "f");
    item.kind = EntryKind::File;
    let mut op = copy_op(CopyFrom::Context(vec![item]), &[], "/f");
    op.link = true;
    op.chown = Some("app:staff".into());
    copy_from_context(&d, &op, &names).unwrap();
    assert_eq!(owner(&d.layer("f")), (uid, gid));

    op.chown = Some("ghost".into());
    let e = copy_from_context(&d, &op, &names).unwrap_err();
    assert_eq!(
        e.to_string(),
        "unable to find user ghost: no matching entries in passwd file"
    );
}

#[test]
fn chown_to_another_user_needs_root_and_says_where_it_failed() {
    let d = Dirs::new();
    write(&d.context.join("f"), "f\n", 0o644);
    let mut item = selected_dir(&d.context, "f");
    item.kind = EntryKind::File;
    let mut op = copy_op(CopyFrom::Context(vec![item]), &[], "/f");
    op.chown = Some("4321:8765".into());
    let result = copy_from_context(&d, &op, &Layered::default());
    if nix::unistd::geteuid().is_root() {
        result.unwrap();
        assert_eq!(owner(&d.layer("f")), (4321, 8765));
    } else {
        match result {
            Err(FileError::Io { path, source }) => {
                assert_eq!(path, d.layer("f"));
                assert_eq!(source.raw_os_error(), Some(libc::EPERM));
            }
            other => panic!("expected EPERM, got {other:?}"),
        }
    }
}

#[test]
fn a_heredoc_is_a_0644_file_unless_chmod_says_otherwise() {
    let d = Dirs::new();
    let mut op = copy_op(CopyFrom::Context(Vec::new()), &[], "/etc/motd");
    op.heredocs = vec![("EOT".into(), "hello\n".into())];
    op.chown = chown_me();
    copy_from_context(&d, &op, &Layered::default()).unwrap();
    assert_eq!(fs::read_to_string(d.layer("etc/motd")).unwrap(), "hello\n");
    assert_eq!(mode(&d.layer("etc/motd")), 0o644);

    op.dest = "/bin/".into();
    op.chmod = Some("0755".into());
    copy_from_context(&d, &op, &Layered::default()).unwrap();
    assert_eq!(mode(&d.layer("bin/EOT")), 0o755, "named by the heredoc");
}

#[test]
fn workdir_makes_missing_directories_for_the_user_only() {
    let d = Dirs::new();
    mkdir_mode(&d.image.join("srv"), 0o700);
    let below = Layered::new(vec![d.image.clone()]);
    let target = Target {
        staging: &d.staging,
        below: &below,
        names: &below,
    };
    mkdir("/srv/app/data", me(), &target).unwrap();
    assert_eq!(mode(&d.layer("srv")), 0o700, "the image's directory kept");
    assert_eq!(mode(&d.layer("srv/app")), 0o755);
    assert_eq!(owner(&d.layer("srv/app/data")), me());

    let again = tempfile::tempdir().unwrap();
    let target = Target {
        staging: again.path(),
        below: &below,
        names: &below,
    };
    mkdir("/srv", me(), &target).unwrap();
    mkdir("/", me(), &target).unwrap();
    let made = fs::read_dir(again.path()).unwrap().count();
    assert_eq!(made, 0, "an existing directory is no change");
}

#[test]
fn workdir_follows_symlinks_in_the_image() {
    let d = Dirs::new();
    mkdir_mode(&d.image.join("run"), 0o755);
    mkdir_mode(&d.image.join("var"), 0o755);
    symlink("../run", d.image.join("var/run")).unwrap();
    let below = Layered::new(vec![d.image.clone()]);
    let target = Target {
        staging: &d.staging,
        below: &below,
        names: &below,
    };
    mkdir("/var/run/app", me(), &target).unwrap();
    assert_eq!(owner(&d.layer("run/app")), me());
    assert!(
        !d.layer("var/run").exists(),
        "the link is not shadowed by a directory"
    );
}
