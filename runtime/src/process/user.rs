//! `-u USER` as Docker reads it: `name`, `uid`, `name:group`, `uid:gid`,
//! looked up in the container's own `/etc/passwd` and `/etc/group`.

use std::path::PathBuf;

use super::rootfs::Rootfs;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    NoUser(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    NoGroup(String),
}

/// A user resolved to numbers, with the home directory for `HOME`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    pub uid: u32,
    pub gid: u32,
    /// Groups listing the user in `/etc/group` (supplementary groups).
    pub additional_gids: Vec<u32>,
    pub home: String,
}

struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

/// Resolves `user` against the files of `rootfs`. An empty `user` is root.
pub fn resolve_user(rootfs: &Rootfs, user: &str) -> Result<ResolvedUser, Error> {
    let passwd = read(rootfs, "etc/passwd");
    let group = read(rootfs, "etc/group");
    resolve(user, &passwd, &group)
}

/// `--group-add`'s groups as IDs: each a name in the container's
/// `/etc/group`, or a number.
pub fn resolve_groups(rootfs: &Rootfs, groups: &[String]) -> Result<Vec<u32>, Error> {
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    group_ids(groups, &read(rootfs, "etc/group"))
}

fn group_ids(wanted: &[String], group: &str) -> Result<Vec<u32>, Error> {
    let groups = parse_group(group);
    wanted
        .iter()
        .map(|g| match groups.iter().find(|e| &e.name == g) {
            Some(e) => Ok(e.gid),
            None => g.parse().map_err(|_| Error::NoGroup(g.clone())),
        })
        .collect()
}

/// Resolves `user` against the text of `passwd` and `group` files.
pub fn resolve(user: &str, passwd: &str, group: &str) -> Result<ResolvedUser, Error> {
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let (u, g) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    let u = if u.is_empty() { "0" } else { u };
    let entry = users.iter().find(|p| p.name == u).or_else(|| {
        u.parse::<u32>()
            .ok()
            .and_then(|n| users.iter().find(|p| p.uid == n))
    });
    let (uid, mut gid, home, name) = match (entry, u.parse::<u32>()) {
        (Some(p), _) => (p.uid, p.gid, p.home.clone(), Some(p.name.clone())),
        // Docker runs an unknown numeric uid with gid 0 and HOME=/.
        (None, Ok(n)) => (n, 0, "/".to_string(), None),
        (None, Err(_)) => return Err(Error::NoUser(u.to_string())),
    };
    if let Some(g) = g {
        gid = match groups.iter().find(|e| e.name == g) {
            Some(e) => e.gid,
            None => g.parse().map_err(|_| Error::NoGroup(g.to_string()))?,
        };
    }
    // As Docker: the groups listing the user come with the implicit form
    // only (`user:group` names the group), and the primary group is
    // always among the supplementary ones.
    let mut additional_gids: Vec<u32> = name
        .filter(|_| g.is_none())
        .map(|n| {
            groups
                .iter()
                .filter(|e| e.members.contains(&n) && e.gid != gid)
                .map(|e| e.gid)
                .collect()
        })
        .unwrap_or_default();
    additional_gids.push(gid);
    Ok(ResolvedUser {
        uid,
        gid,
        additional_gids,
        home,
    })
}

/// The file at `rel` as the container would see it: the overlay's upper
/// dir first, then its lowers top-down, or the plain rootfs directory.
fn read(rootfs: &Rootfs, rel: &str) -> String {
    let candidates: Vec<PathBuf> = match rootfs {
        Rootfs::Dir(dir) => vec![dir.join(rel)],
        Rootfs::Overlay { lowers, upper, .. } => std::iter::once(upper)
            .chain(lowers.iter())
            .map(|d| d.join(rel))
            .collect(),
    };
    candidates
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .unwrap_or_default()
}

fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 7 {
                return None;
            }
            Some(Passwd {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// The name of user `uid` in the text of a passwd file (the host's one
/// too, for the reason `group_id` gives).
pub fn user_name(text: &str, uid: u32) -> Option<String> {
    parse_passwd(text)
        .into_iter()
        .find(|p| p.uid == uid)
        .map(|p| p.name)
}

/// The ID of the group `name` in the text of a group file. kiln reads
/// the host's /etc/group itself too: the static build's libc cannot load
/// the NSS modules getgrnam needs.
pub fn group_id(text: &str, name: &str) -> Option<u32> {
    parse_group(text)
        .into_iter()
        .find(|g| g.name == name)
        .map(|g| g.gid)
}

fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(Group {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: f[3]
                    .split(',')
                    .filter(|m| !m.is_empty())
                    .map(str::to_string)
                    .collect(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_passwd_text() {
        let text = "root:x:0:0:root:/root:/bin/sh\nalice:x:1001:1001::/home/alice:/bin/sh\n";
        assert_eq!(user_name(text, 1001).as_deref(), Some("alice"));
        assert_eq!(user_name(text, 7), None);
    }

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nalice:x:1000:1000::/home/alice:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nusers:x:100:alice\nalice:x:1000:\nwheel:x:10:alice,bob\n";

    #[test]
    fn added_groups_are_names_or_numbers() {
        let group = "wheel:x:10:\naudio:x:29:bob\n";
        let wanted = ["audio".to_string(), "4000".to_string()];
        assert_eq!(group_ids(&wanted, group).unwrap(), vec![29, 4000]);
        assert!(matches!(
            group_ids(&["nosuch".to_string()], group),
            Err(Error::NoGroup(g)) if g == "nosuch"
        ));
    }

    #[test]
    fn empty_is_root() {
        let u = resolve("", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
    }

    #[test]
    fn name_gives_groups_and_home() {
        let u = resolve("alice", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1000));
        assert_eq!(u.additional_gids, vec![100, 10, 1000]);
        assert_eq!(u.home, "/home/alice");
    }

    #[test]
    fn numeric_forms() {
        let u = resolve("1000:10", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        // An explicit group is the only one: alice's memberships stay out.
        assert_eq!(u.additional_gids, vec![10]);
        let u = resolve("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let u = resolve("nobody:users", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (65534, 100));
    }

    #[test]
    fn unknown_names_are_errors() {
        assert_eq!(
            resolve("mallory", PASSWD, GROUP).unwrap_err().to_string(),
            "unable to find user mallory: no matching entries in passwd file"
        );
        assert!(matches!(
            resolve("alice:nogroup", PASSWD, GROUP),
            Err(Error::NoGroup(_))
        ));
    }
}
