//! Marking a cache record used without decoding it. A COPY of a large
//! context keeps one ingredient per file (so `cache why` can name the file
//! that changed): its record is megabytes of JSON, and a fully cached
//! build must not parse and re-encode it to bump two numbers. The record's
//! top-level `last_used` and `usage_count` values are found by a scan that
//! only tracks strings and nesting, and replaced in place.

use std::ops::Range;
use std::time::SystemTime;

/// The record's bytes with `last_used` set to `now` and `usage_count`
/// `uses` higher, or `None` when either field is missing or the bytes are
/// not a JSON object (the caller then decodes the record the slow way).
pub(crate) fn touched(json: &[u8], now: SystemTime, uses: u64) -> Option<Vec<u8>> {
    let fields = top_level(json)?;
    let find = |name: &[u8]| {
        fields
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, r)| r.clone())
    };
    let (used, count) = (find(b"last_used")?, find(b"usage_count")?);
    let n: u64 = serde_json::from_slice(&json[count.clone()]).ok()?;
    let mut edits = [
        (used, serde_json::to_vec(&now).ok()?),
        (count, n.saturating_add(uses).to_string().into_bytes()),
    ];
    edits.sort_by_key(|(r, _)| r.start);
    let mut out = Vec::with_capacity(json.len() + 16);
    let mut at = 0;
    for (range, value) in edits {
        out.extend_from_slice(json.get(at..range.start)?);
        out.extend_from_slice(&value);
        at = range.end;
    }
    out.extend_from_slice(json.get(at..)?);
    Some(out)
}

/// The keys of a JSON object's own fields (raw, without quotes) and the
/// byte range of each value.
fn top_level(json: &[u8]) -> Option<Vec<(&[u8], Range<usize>)>> {
    let mut i = skip_ws(json, 0);
    if json.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(json, i + 1);
    let mut out = Vec::new();
    if json.get(i) == Some(&b'}') {
        return Some(out);
    }
    loop {
        if json.get(i) != Some(&b'"') {
            return None;
        }
        let key_end = string_end(json, i + 1)?;
        let key = &json[i + 1..key_end];
        i = skip_ws(json, key_end + 1);
        if json.get(i) != Some(&b':') {
            return None;
        }
        let start = skip_ws(json, i + 1);
        let end = value_end(json, start)?;
        let mut trimmed = end;
        while trimmed > start && json[trimmed - 1].is_ascii_whitespace() {
            trimmed -= 1;
        }
        out.push((key, start..trimmed));
        match json.get(end)? {
            b',' => i = skip_ws(json, end + 1),
            b'}' => return Some(out),
            _ => return None,
        }
    }
}

fn skip_ws(json: &[u8], mut i: usize) -> usize {
    while json.get(i).is_some_and(u8::is_ascii_whitespace) {
        i += 1;
    }
    i
}

/// The index of the quote closing a string whose content starts at `i`.
fn string_end(json: &[u8], mut i: usize) -> Option<usize> {
    loop {
        match json.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
}

/// The index of the `,` or `}` that ends the value starting at `i`.
fn value_end(json: &[u8], mut i: usize) -> Option<usize> {
    let mut depth = 0usize;
    loop {
        match json.get(i)? {
            b'"' => i = string_end(json, i + 1)?,
            b'{' | b'[' => depth += 1,
            b'}' | b']' if depth == 0 => return Some(i),
            b'}' | b']' => depth -= 1,
            b',' if depth == 0 => return Some(i),
            _ => {}
        }
        i += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{CacheRecord, Ingredient, RecordKind};

    fn record() -> CacheRecord {
        let t = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(5);
        CacheRecord {
            id: "r".into(),
            cache_key: Some("k".into()),
            parent: None,
            snapshot: None,
            ingredients: vec![Ingredient {
                // Text that looks like the fields, inside a string.
                name: "file:\"usage_count\":9,\"last_used\":{}".into(),
                value: "644 file:x}],{".into(),
            }],
            description: "[a 2/2] COPY . /".into(),
            created: t,
            last_used: t,
            usage_count: 3,
            size: 1,
            kind: RecordKind::Regular,
        }
    }

    #[test]
    fn bumps_usage_and_keeps_everything_else() {
        let r = record();
        let now = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(99);
        let bytes = touched(&serde_json::to_vec(&r).unwrap(), now, 1).unwrap();
        let back: CacheRecord = serde_json::from_slice(&bytes).unwrap();
        let mut want = r;
        want.last_used = now;
        want.usage_count = 4;
        assert_eq!(back, want);
        let pretty = serde_json::to_vec_pretty(&want).unwrap();
        let again: CacheRecord =
            serde_json::from_slice(&touched(&pretty, now, 3).unwrap()).unwrap();
        assert_eq!(again.usage_count, 7);
    }

    #[test]
    fn not_an_object_or_missing_fields_is_none() {
        let now = SystemTime::now();
        assert!(touched(b"[1,2]", now, 1).is_none());
        assert!(touched(b"{\"usage_count\":1}", now, 1).is_none());
        assert!(touched(b"{\"usage_count\":1,\"last_used\":", now, 1).is_none());
    }
}
