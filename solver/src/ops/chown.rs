//! `COPY --chown=user:group`: names are looked up in the destination
//! image's /etc/passwd and /etc/group; a user without a group uses the same
//! number for the group, as the Dockerfile reference says.

#[derive(Debug, thiserror::Error)]
pub enum ChownError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    User(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    Group(String),
}

fn lookup(name: &str, file: &str, field: usize) -> Option<u32> {
    file.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(field)?.parse().ok())
}

/// `(uid, gid)` for a `--chown` value.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32), ChownError> {
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(user, passwd, 2).ok_or_else(|| ChownError::User(user.to_string()))?,
    };
    let gid = match grp {
        None | Some("") => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(g, group, 2).ok_or_else(|| ChownError::Group(g.to_string()))?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0::/root:/bin/sh\nkiln:x:1000:1000::/home/kiln:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:kiln\n";

    #[test]
    fn names_numbers_and_defaults() {
        assert_eq!(resolve("kiln", PASSWD, GROUP).unwrap(), (1000, 1000));
        assert_eq!(resolve("kiln:wheel", PASSWD, GROUP).unwrap(), (1000, 10));
        assert_eq!(resolve("55", PASSWD, GROUP).unwrap(), (55, 55));
        assert_eq!(resolve("1:2", "", "").unwrap(), (1, 2));
        assert!(matches!(
            resolve("bob", PASSWD, GROUP),
            Err(ChownError::User(_))
        ));
        assert!(matches!(
            resolve("kiln:staff", PASSWD, GROUP),
            Err(ChownError::Group(_))
        ));
    }
}
