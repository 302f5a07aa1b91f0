//! Bytes as Go sees them. BuildKit works on Go strings: bytes that need not
//! be UTF-8, decoded one rune at a time where an invalid byte is one
//! U+FFFD of width 1. These helpers reproduce that on `&[u8]`, and carry
//! bytes losslessly through `&str` for the pest grammars.
//!
//! The lossless text form ("repr"): valid UTF-8 stays as is; every byte that
//! Go would decode as an invalid rune becomes the private-use scalar
//! `U+10FF00 + byte`. Genuine scalars in `U+10FF00..=U+10FFFF` are treated
//! like invalid bytes too, so that the mapping is reversible. Grammars see
//! such scalars as ordinary non-space characters, which is how Go treats an
//! invalid byte.

/// The first scalar that stands for a raw byte in the lossless text form.
const RAW_BASE: u32 = 0x10FF00;

/// Decodes one rune the Go way: `(Some(char), len)` or `(None, 1)` for an
/// invalid byte.
pub fn decode(bytes: &[u8]) -> (Option<char>, usize) {
    let len = match bytes.first() {
        None => return (None, 0),
        Some(b) if *b < 0x80 => return (Some(char::from(*b)), 1),
        Some(b) if *b >= 0xF0 => 4,
        Some(b) if *b >= 0xE0 => 3,
        Some(b) if *b >= 0xC0 => 2,
        Some(_) => return (None, 1),
    };
    match bytes.get(..len).map(std::str::from_utf8) {
        Some(Ok(s)) => (s.chars().next(), len),
        _ => (None, 1),
    }
}

/// The number of runes Go counts in `bytes`.
pub fn rune_count(mut bytes: &[u8]) -> usize {
    if bytes.is_ascii() {
        return bytes.len();
    }
    let mut n = 0;
    while !bytes.is_empty() {
        bytes = &bytes[decode(bytes).1..];
        n += 1;
    }
    n
}

/// Go's `unicode.IsSpace`.
pub fn is_space(c: char) -> bool {
    c.is_whitespace()
}

/// Go's `strings.TrimLeftFunc(s, unicode.IsSpace)`.
pub fn trim_left_space(mut bytes: &[u8]) -> &[u8] {
    loop {
        match decode(bytes) {
            (Some(c), n) if is_space(c) => bytes = &bytes[n..],
            _ => return bytes,
        }
    }
}

/// Go's `strings.TrimRightFunc(s, unicode.IsSpace)`.
pub fn trim_right_space(bytes: &[u8]) -> &[u8] {
    let mut end = bytes.len();
    'outer: while end > 0 {
        // A space is at most 3 bytes long in UTF-8; look for one ending here.
        for width in 1..=3.min(end) {
            let start = end - width;
            if let (Some(c), n) = decode(&bytes[start..end]) {
                if n == width && is_space(c) {
                    end = start;
                    continue 'outer;
                }
            }
        }
        break;
    }
    &bytes[..end]
}

/// Go's `strings.TrimSpace`.
pub fn trim_space(bytes: &[u8]) -> &[u8] {
    trim_right_space(trim_left_space(bytes))
}

/// Go's conversion of bytes to runes and back (`string([]rune(s))`):
/// each invalid byte becomes U+FFFD.
pub fn lossy(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        let (c, n) = decode(rest);
        out.push(c.unwrap_or(char::REPLACEMENT_CHARACTER));
        rest = &rest[n..];
    }
    out
}

/// Bytes to the lossless text form.
pub fn to_repr(bytes: &[u8]) -> String {
    if let Ok(s) = std::str::from_utf8(bytes) {
        if !s.chars().any(is_raw_char) {
            return s.to_owned();
        }
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    let mut rest = bytes;
    while !rest.is_empty() {
        match decode(rest) {
            (Some(c), n) if !is_raw_char(c) => {
                out.push(c);
                rest = &rest[n..];
            }
            (_, _) => {
                out.push(raw_char(rest[0]));
                rest = &rest[1..];
            }
        }
    }
    out
}

/// The lossless text form back to bytes.
pub fn from_repr(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut buf = [0u8; 4];
    for c in text.chars() {
        if is_raw_char(c) {
            out.push((u32::from(c) - RAW_BASE) as u8);
        } else {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    out
}

/// Latin-1 view: byte `b` becomes scalar `b`. BuildKit scans flags byte by
/// byte and turns each byte into the rune of that value.
pub fn to_latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|b| char::from(*b)).collect()
}

fn is_raw_char(c: char) -> bool {
    u32::from(c) >= RAW_BASE
}

fn raw_char(b: u8) -> char {
    char::from_u32(RAW_BASE + u32::from(b)).unwrap_or(char::REPLACEMENT_CHARACTER)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repr_round_trips_invalid_and_reserved_bytes() {
        let input = b"a\xff\xfe \xf4\x8f\xbc\x81 \xc3\xa9 \xe2\x82";
        let repr = to_repr(input);
        assert_eq!(from_repr(&repr), input.to_vec());
        assert!(repr.starts_with('a'));
    }

    #[test]
    fn trims_unicode_space_but_not_invalid_bytes() {
        assert_eq!(trim_space("\u{a0} a \u{2028}".as_bytes()), b"a");
        assert_eq!(trim_space(b"\xa0a "), b"\xa0a");
    }

    #[test]
    fn lossy_replaces_each_invalid_byte() {
        assert_eq!(lossy(b"\xf0\x9f\x98"), "\u{fffd}\u{fffd}\u{fffd}");
    }
}
