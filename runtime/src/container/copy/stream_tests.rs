use std::io::Read;
use std::os::unix::fs::{symlink, PermissionsExt};

use super::*;

fn root_fd(path: &Path) -> OwnedFd {
    File::open(path).unwrap().into()
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn a_walked_tree_is_made_again_with_modes_and_links() {
    let t = tempfile::tempdir().unwrap();
    let (from, to) = (t.path().join("from"), t.path().join("to"));
    std::fs::create_dir_all(from.join("data/sub")).unwrap();
    std::fs::create_dir_all(to.join("dst")).unwrap();
    std::fs::write(from.join("data/sub/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        from.join("data/sub/run.sh"),
        PermissionsExt::from_mode(0o751),
    )
    .unwrap();
    std::fs::set_permissions(from.join("data/sub"), PermissionsExt::from_mode(0o700)).unwrap();
    symlink("/etc/passwd", from.join("data/abs")).unwrap();

    let mut seen = Vec::new();
    let (src, dst) = (root_fd(&from), root_fd(&to));
    walk(src.as_fd(), Path::new("/data"), &mut |rel, st, found| {
        seen.push(rel.to_path_buf());
        let mode = st.st_mode & 0o7777;
        let dir = Path::new("/dst");
        let made = match found {
            Found::Dir => create_under(dst.as_fd(), dir, rel, mode, Entry::Dir),
            Found::File(mut f) => create_under(dst.as_fd(), dir, rel, mode, Entry::File(&mut f)),
            Found::Symlink(target) => {
                create_under(dst.as_fd(), dir, rel, mode, Entry::Symlink(&target))
            }
        };
        made.map_err(io::Error::other)
    })
    .unwrap();

    assert_eq!(seen[0], Path::new("data"), "the source's own name first");
    let out = to.join("dst/data");
    assert_eq!(mode_of(&out.join("sub")), 0o700);
    assert_eq!(mode_of(&out.join("sub/run.sh")), 0o751);
    let mut text = String::new();
    File::open(out.join("sub/run.sh"))
        .unwrap()
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "#!/bin/sh\n");
    assert_eq!(
        std::fs::read_link(out.join("abs")).unwrap(),
        Path::new("/etc/passwd")
    );
}

#[test]
fn hostile_entries_never_write_outside_the_destination() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("root");
    std::fs::create_dir_all(root.join("dst")).unwrap();
    let fd = root_fd(&root);
    let put = |rel: &str, entry: Entry| {
        create_under(fd.as_fd(), Path::new("/dst"), Path::new(rel), 0o644, entry)
    };

    let climb = put("../escape", Entry::File(&mut "x".as_bytes()));
    assert!(matches!(climb, Err(Error::Outside(_))), "{climb:?}");
    assert!(!root.join("escape").exists() && !t.path().join("escape").exists());

    // a link the stream planted (absolute, or climbing) is not walked through
    let outside = t.path().display().to_string();
    put("abs", Entry::Symlink(Path::new(&outside))).unwrap();
    put("up", Entry::Symlink(Path::new("../.."))).unwrap();
    for through in ["abs/pwned", "up/pwned", "abs/new/pwned"] {
        let r = put(through, Entry::File(&mut "x".as_bytes()));
        assert!(matches!(r, Err(Error::Symlink(_))), "{through}: {r:?}");
    }
    assert!(!t.path().join("pwned").exists() && !root.join("pwned").exists());
    // nor written through at its own name, nor hard-linked to from outside
    let r = put("abs", Entry::File(&mut "x".as_bytes()));
    assert!(matches!(r, Err(Error::Symlink(_))), "{r:?}");
    let r = put("hard", Entry::Link(Path::new("../../secret")));
    assert!(matches!(r, Err(Error::Outside(_))), "{r:?}");
}
