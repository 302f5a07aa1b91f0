//! `RUN --mount=…`: a CSV list of `key=value` fields (and bare boolean
//! keys), typed by mount type as BuildKit's parseMount reads them. Values
//! stay raw because BuildKit expands them with the build args first; a
//! literal number or mode is checked here.

use crate::ast::{
    BindMount, CacheMount, CacheSharing, Mount, Position, SecretMount, SshMount, TmpfsMount,
};

use super::bflags::invalid;
use super::grammar::{inner, Rule};
use super::node::Located;

/// The fields of one mount, keys lower-cased.
#[derive(Debug, Default)]
struct Fields {
    pairs: Vec<(String, Option<String>)>,
}

impl Fields {
    fn get(&self, keys: &[&str]) -> Option<String> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.clone().unwrap_or_default())
    }

    fn flag(&self, keys: &[&str]) -> Option<bool> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.as_deref().is_none_or(is_true))
    }
}

fn is_true(v: &str) -> bool {
    matches!(v, "1" | "t" | "T" | "true" | "TRUE" | "True")
}

const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "src",
    "target",
    "dst",
    "destination",
    "readonly",
    "ro",
    "readwrite",
    "rw",
    "required",
    "id",
    "sharing",
    "mode",
    "uid",
    "gid",
    "size",
    "env",
];
const BOOL_KEYS: &[&str] = &["readonly", "ro", "readwrite", "rw", "required"];

/// Parses the value of one `--mount` flag.
pub fn parse(value: &str, at: Position) -> Result<Mount, Located> {
    let bad = |message: String| invalid("mount", message, at);
    let fields = fields(value).map_err(bad)?;
    let kind = fields.get(&["type"]).unwrap_or_else(|| "bind".into());
    let target = fields.get(&["target", "dst", "destination"]);
    // BuildKit mounts at the working directory when no target is given.
    let need_target = || Ok::<String, Located>(target.clone().unwrap_or_default());
    let kind_lower = kind.to_ascii_lowercase();
    check_keys_for_type(&fields, &kind_lower).map_err(bad)?;
    for key in ["mode", "uid", "gid"] {
        if let Some(v) = fields.get(&[key]) {
            check_number(key, &v, if key == "mode" { 8 } else { 10 }).map_err(bad)?;
        }
    }
    let mount = match kind_lower.as_str() {
        "bind" => Mount::Bind(BindMount {
            target: need_target()?,
            source: fields.get(&["source", "src"]),
            from: fields.get(&["from"]),
            readwrite: fields.flag(&["readwrite", "rw"]).unwrap_or(false)
                || fields.flag(&["readonly", "ro"]) == Some(false),
        }),
        "cache" => Mount::Cache(CacheMount {
            target: need_target()?,
            id: fields.get(&["id"]),
            sharing: sharing(fields.get(&["sharing"])).map_err(bad)?,
            readonly: fields.flag(&["readonly", "ro"]).unwrap_or(false),
            from: fields.get(&["from"]),
            source: fields.get(&["source", "src"]),
            mode: fields.get(&["mode"]),
            uid: fields.get(&["uid"]),
            gid: fields.get(&["gid"]),
        }),
        "tmpfs" => Mount::Tmpfs(TmpfsMount {
            target: need_target()?,
            size: fields.get(&["size"]),
        }),
        "secret" => Mount::Secret(SecretMount {
            id: fields.get(&["id"]),
            target: target.clone(),
            env: fields.get(&["env"]),
            required: fields.flag(&["required"]).unwrap_or(false),
            mode: fields.get(&["mode"]),
            uid: fields.get(&["uid"]),
            gid: fields.get(&["gid"]),
        }),
        "ssh" => Mount::Ssh(SshMount {
            id: fields.get(&["id"]),
            target: target.clone(),
            required: fields.flag(&["required"]).unwrap_or(false),
            mode: fields.get(&["mode"]),
            uid: fields.get(&["uid"]),
            gid: fields.get(&["gid"]),
        }),
        _ => return Err(bad(format!("unsupported mount type {kind:?}"))),
    };
    Ok(mount)
}

/// Options that only some mount types take (BuildKit's parseMount).
fn check_keys_for_type(fields: &Fields, kind: &str) -> Result<(), String> {
    let only = [
        ("mode", &["secret", "ssh", "cache"][..]),
        ("uid", &["secret", "ssh", "cache"]),
        ("gid", &["secret", "ssh", "cache"]),
        ("required", &["secret", "ssh"]),
        ("size", &["tmpfs"]),
        ("sharing", &["cache"]),
    ];
    for (key, types) in only {
        if fields.get(&[key]).is_some() && !types.contains(&kind) {
            return Err(format!("{key} not allowed for {kind:?} type mounts"));
        }
    }
    if kind == "secret" {
        if fields.get(&["from"]).is_some() {
            return Err("secret mount should not have a from".into());
        }
        if fields
            .get(&["source", "src", "target", "dst", "destination", "id"])
            .is_none()
        {
            return Err("invalid secret mount. one of source, target required".into());
        }
    }
    Ok(())
}

fn sharing(value: Option<String>) -> Result<CacheSharing, String> {
    match value.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("shared") => Ok(CacheSharing::Shared),
        Some("private") => Ok(CacheSharing::Private),
        Some("locked") => Ok(CacheSharing::Locked),
        Some(other) => Err(format!("unsupported sharing value {other:?}")),
    }
}

/// A literal number must parse; a value with `$` waits for expansion.
fn check_number(key: &str, value: &str, radix: u32) -> Result<(), String> {
    if value.contains('$') || u64::from_str_radix(value, radix).is_ok() {
        return Ok(());
    }
    Err(format!("invalid {key} {value:?}"))
}

/// Splits the CSV value (Go's encoding/csv: `"…"` quotes a field, `""` is a
/// quote inside it) and reads each field as `key[=value]`.
fn fields(value: &str) -> Result<Fields, String> {
    let mut out = Fields::default();
    for field in csv_fields(value)? {
        let Some(pairs) = inner(Rule::mount_field, &field) else {
            return Err(format!("invalid field {field:?}"));
        };
        let mut key = String::new();
        let mut val = None;
        for pair in pairs {
            match pair.as_rule() {
                Rule::mount_key => key = pair.as_str().to_ascii_lowercase(),
                Rule::mount_value => val = Some(pair.as_str().to_string()),
                _ => {}
            }
        }
        if !KEYS.contains(&key.as_str()) {
            return Err(format!("unexpected key {key:?} in {field:?}"));
        }
        if val.is_none() && !BOOL_KEYS.contains(&key.as_str()) {
            return Err(format!("invalid field {field:?}: must be a key=value pair"));
        }
        out.pairs.push((key, val));
    }
    Ok(out)
}

fn csv_fields(value: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quote in --mount".into()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err("extraneous text after a quoted field in --mount".into());
            }
        } else {
            while let Some(c) = chars.peek().copied().filter(|c| *c != ',') {
                if c == '"' {
                    return Err("bare \" in a non-quoted field of --mount".into());
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mount(v: &str) -> Result<Mount, Located> {
        parse(v, Position::default())
    }

    #[test]
    fn types_each_kind_of_mount() {
        let Ok(Mount::Cache(c)) = mount("type=cache,target=/root/.cache,sharing=locked,id=x")
        else {
            panic!("not a cache mount")
        };
        assert_eq!(
            (c.target.as_str(), c.sharing),
            ("/root/.cache", CacheSharing::Locked)
        );
        assert!(matches!(mount("target=/src,rw"), Ok(Mount::Bind(b)) if b.readwrite));
        assert!(matches!(mount("type=secret,id=tok,required"), Ok(Mount::Secret(s)) if s.required));
        assert!(matches!(mount("type=ssh"), Ok(Mount::Ssh(_))));
        assert!(matches!(mount("from=binaries"), Ok(Mount::Bind(b)) if b.target.is_empty()));
        assert!(matches!(
            mount("type=tmpfs,target=/t,size=1m"),
            Ok(Mount::Tmpfs(_))
        ));
        assert!(matches!(
            mount("\"type=bind\",target=/a"),
            Ok(Mount::Bind(_))
        ));
    }

    #[test]
    fn rejects_bad_mounts() {
        for bad in [
            "type=foo,target=/x",
            "type=cache,target=/x,sharing=maybe",
            "type=cache,target=/x,mode=0999",
            "type=bind,target=/x,colour=red",
            "type=bind,target",
            "type=bind,target=/x,mode=0755",
            "type=secret",
            "type=secret,id=x,from=y",
        ] {
            assert!(mount(bad).is_err(), "{bad}");
        }
        assert!(mount("type=cache,target=/x,uid=$UID").is_ok());
    }
}
