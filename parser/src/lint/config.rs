//! The `# check=` parser directive: `skip=Rule1,Rule2` (or `skip=all`)
//! turns rules off, `error=true` makes their warnings errors, as in BuildKit.

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CheckDirective {
    pub skip_all: bool,
    pub skip: Vec<String>,
    pub error: bool,
}

impl CheckDirective {
    /// Read the directive's value; unknown keys and bad values are ignored
    /// (the linter must not fail on a directive the builder tolerates).
    pub fn parse(value: &str) -> CheckDirective {
        let mut out = CheckDirective::default();
        for part in value.split(';') {
            let Some((key, val)) = part.split_once('=') else {
                continue;
            };
            match key.trim().to_ascii_lowercase().as_str() {
                "skip" => {
                    for rule in val.split(',').map(str::trim).filter(|r| !r.is_empty()) {
                        if rule.eq_ignore_ascii_case("all") {
                            out.skip_all = true;
                        } else {
                            out.skip.push(rule.to_string());
                        }
                    }
                }
                "error" => out.error = val.trim().eq_ignore_ascii_case("true"),
                _ => {}
            }
        }
        out
    }

    pub fn skips(&self, rule: &str) -> bool {
        self.skip_all || self.skip.iter().any(|s| s.eq_ignore_ascii_case(rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_skip_and_error() {
        let c = CheckDirective::parse("skip=JSONArgsRecommended, StageNameCasing;error=true");
        assert!(c.skips("jsonargsrecommended") && c.skips("StageNameCasing"));
        assert!(!c.skips("UndefinedVar"));
        assert!(c.error);
        assert!(CheckDirective::parse("skip=all").skips("Anything"));
        assert_eq!(CheckDirective::parse("nonsense"), CheckDirective::default());
    }
}
