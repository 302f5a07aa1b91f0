//! The registry side of `kiln build`'s flags: `--push`, `--pull`,
//! `--cache-to`/`--cache-from`, and the `name=`/`push=` keys of
//! `--output type=image` (buildx's `type=registry` is `type=image,push=true`).

use anyhow::Context;
use kiln_solver::remotecache::{CacheFrom, CacheTo};

/// What `--output` specs say about pushing: the names to tag and push,
/// whether to push, and the specs with those keys removed.
pub struct ImageOutput {
    pub names: Vec<String>,
    pub push: bool,
    pub rest: Vec<String>,
}

fn is_true(v: &str) -> bool {
    matches!(v, "true" | "1" | "yes")
}

pub fn image_output(specs: &[String]) -> ImageOutput {
    let mut out = ImageOutput {
        names: Vec::new(),
        push: false,
        rest: Vec::new(),
    };
    for spec in specs {
        let parts: Vec<&str> = spec.split(',').collect();
        let kind = parts.iter().find_map(|p| p.strip_prefix("type="));
        if !matches!(kind, Some("image") | Some("registry")) {
            out.rest.push(spec.clone());
            continue;
        }
        out.push |= kind == Some("registry");
        let mut kept = Vec::new();
        for p in parts {
            match p.split_once('=') {
                Some(("push", v)) => out.push |= is_true(v),
                // Several names may be given in one quoted value: name="a,b".
                Some(("name", v)) => out.names.extend(
                    v.trim_matches('"')
                        .split(',')
                        .filter(|n| !n.is_empty())
                        .map(str::to_string),
                ),
                _ => kept.push(p),
            }
        }
        out.rest.push(kept.join(","));
    }
    out
}

pub fn cache_to(specs: &[String]) -> anyhow::Result<Vec<CacheTo>> {
    specs
        .iter()
        .map(|s| CacheTo::parse(s).with_context(|| "--cache-to".to_string()))
        .collect()
}

pub fn cache_from(specs: &[String]) -> anyhow::Result<Vec<CacheFrom>> {
    specs
        .iter()
        .map(|s| CacheFrom::parse(s).with_context(|| "--cache-from".to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_output_names_and_push_are_taken_out() {
        let o = image_output(&[
            "type=image,name=r/a:1,push=true".to_string(),
            "type=oci,dest=x.tar".to_string(),
        ]);
        assert_eq!(o.names, ["r/a:1"]);
        assert!(o.push);
        assert_eq!(o.rest, ["type=image", "type=oci,dest=x.tar"]);
        let o = image_output(&["type=registry,name=r/b".to_string()]);
        assert!(o.push);
        let o = image_output(&["type=image,push=false".to_string()]);
        assert!(!o.push && o.names.is_empty());
    }
}
