//! COPY/ADD `--exclude=PATTERN` (repeatable): patterns in .dockerignore
//! syntax, matched against each path relative to the source it was copied
//! from (BuildKit's `ExcludePatterns` on the copy's source).

use kiln_parser::ignore::Matcher;

use crate::context::select::Selected;

/// The patterns, compiled; `None` when there are none.
pub fn matcher(patterns: &[String]) -> Result<Option<Matcher>, String> {
    if patterns.is_empty() {
        return Ok(None);
    }
    Matcher::from_lines("--exclude", patterns.iter().map(|p| (0, p.as_str())))
        .map(Some)
        .map_err(|e| format!("--exclude: {e}"))
}

fn excluded(m: &Matcher, path: &str) -> bool {
    m.matches(path).map(|d| d.excluded).unwrap_or(false)
}

/// `selected` (with the digests of its entries, in order) without what
/// the patterns exclude.
pub fn exclude(
    m: &Matcher,
    selected: Vec<Selected>,
    digests: Vec<String>,
) -> (Vec<Selected>, Vec<String>) {
    let mut digests = digests.into_iter();
    let mut out_sel = Vec::new();
    let mut out_dig = Vec::new();
    for mut item in selected {
        let mine: Vec<String> = digests.by_ref().take(item.entries.len()).collect();
        if item.entries.len() == 1 && item.entries[0].path == item.root && excluded(m, &item.name) {
            continue;
        }
        let mut keep = Vec::new();
        for (e, d) in std::mem::take(&mut item.entries).into_iter().zip(mine) {
            let rel = e.path.strip_prefix(&item.root).unwrap_or(&e.path);
            let rel = rel.to_string_lossy();
            if rel.is_empty() || !excluded(m, &rel) {
                keep.push(e);
                out_dig.push(d);
            }
        }
        item.entries = keep;
        out_sel.push(item);
    }
    (out_sel, out_dig)
}
