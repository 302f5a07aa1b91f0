//! `COPY --chmod`: octal (`0755`) or symbolic (`u=rwx,go+rX`) modes, as
//! BuildKit accepts them since dockerfile 1.14.

#[derive(Debug, thiserror::Error)]
#[error("invalid --chmod value {0:?}: want octal (0755) or symbolic (u+x,go-w)")]
pub struct ChmodError(String);

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    Octal(u32),
    Symbolic(Vec<Clause>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    /// Bits of `u`, `g`, `o` this clause touches (0o700, 0o070, 0o007 masks).
    who: u32,
    op: char,
    perms: String,
}

impl Chmod {
    pub fn parse(text: &str) -> Result<Chmod, ChmodError> {
        let bad = || ChmodError(text.to_string());
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            let v = u32::from_str_radix(text, 8).map_err(|_| bad())?;
            return if v <= 0o7777 {
                Ok(Chmod::Octal(v))
            } else {
                Err(bad())
            };
        }
        let mut clauses = Vec::new();
        for part in text.split(',') {
            let op_at = part.find(['+', '-', '=']).ok_or_else(bad)?;
            let (who_text, rest) = part.split_at(op_at);
            let mut who = 0;
            for c in who_text.chars() {
                who |= match c {
                    'u' => 0o4700,
                    'g' => 0o2070,
                    'o' => 0o1007,
                    'a' => 0o7777,
                    _ => return Err(bad()),
                };
            }
            if who == 0 {
                who = 0o7777;
            }
            let mut chars = rest.chars();
            let op = chars.next().ok_or_else(bad)?;
            let perms: String = chars.collect();
            if !perms.chars().all(|c| "rwxXst".contains(c)) {
                return Err(bad());
            }
            clauses.push(Clause { who, op, perms });
        }
        Ok(Chmod::Symbolic(clauses))
    }

    /// The new permission bits for an entry with `mode` (type bits ignored).
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut m = mode & 0o7777;
        match self {
            Chmod::Octal(v) => *v,
            Chmod::Symbolic(clauses) => {
                for c in clauses {
                    let any_x = m & 0o111 != 0;
                    let mut bits = 0;
                    for p in c.perms.chars() {
                        bits |= match p {
                            'r' => 0o444,
                            'w' => 0o222,
                            'x' => 0o111,
                            'X' if is_dir || any_x => 0o111,
                            's' => 0o6000,
                            't' => 0o1000,
                            _ => 0,
                        };
                    }
                    let bits = bits & c.who;
                    m = match c.op {
                        '+' => m | bits,
                        '-' => m & !bits,
                        _ => (m & !(c.who & 0o777)) | bits,
                    };
                }
                m
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(Chmod::parse("0755").unwrap().apply(0o644, false), 0o755);
        assert_eq!(Chmod::parse("u+x").unwrap().apply(0o644, false), 0o744);
        assert_eq!(Chmod::parse("go-r").unwrap().apply(0o644, false), 0o600);
        assert_eq!(Chmod::parse("a=rX").unwrap().apply(0o640, true), 0o555);
        assert_eq!(Chmod::parse("a=rX").unwrap().apply(0o640, false), 0o444);
        assert_eq!(
            Chmod::parse("u=rwx,g=rx,o=").unwrap().apply(0o600, false),
            0o750
        );
        assert!(Chmod::parse("0999").is_err());
        assert!(Chmod::parse("q+x").is_err());
        assert!(Chmod::parse("u+z").is_err());
    }
}
