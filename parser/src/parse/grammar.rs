//! The pest grammar of `dockerfile.pest`, shared by the parse modules.

#[derive(pest_derive::Parser)]
#[grammar = "dockerfile.pest"]
pub struct Grammar;

/// Parses `input` with `rule`, returning the top pair's inner pairs, or
/// `None` when the rule does not match.
pub fn inner(rule: Rule, input: &str) -> Option<pest::iterators::Pairs<'_, Rule>> {
    use pest::Parser;
    let mut pairs = Grammar::parse(rule, input).ok()?;
    pairs.next().map(|p| p.into_inner())
}
