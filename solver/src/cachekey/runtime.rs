//! Keys as steps run. Dispatch computes every key before anything runs;
//! a `COPY --from=<stage>` is then keyed by the stage's chain. When it
//! runs, its key takes the content digest of the copied paths instead
//! (BuildKit's content-based key for file ops), and every later step of
//! the chain — in its stage and in stages built FROM it — is re-derived
//! from that key, so equal copied files keep them all cached.

use kiln_cache::Ingredient;

use super::{key_of, KeyBuilder};

/// The chain key after a step: as dispatch computed it, and as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub dispatched: String,
    pub runtime: String,
}

impl Chain {
    /// A chain starting at a base key both ways.
    pub fn at(key: &str) -> Chain {
        Chain {
            dispatched: key.to_string(),
            runtime: key.to_string(),
        }
    }
}

/// The ingredient that names the copied stage's chain at dispatch time.
pub const FROM_STAGE: &str = "from-stage";
/// Its run-time replacement: `from-content:<stage>` = the content digest.
pub const FROM_CONTENT: &str = "from-content";

/// The run-time key and ingredients of a step, or `None` when the
/// dispatch-time key stands (same parent, no content digest).
pub fn rekey(
    ingredients: &[Ingredient],
    chain: &Chain,
    content: Option<(&str, &str)>,
) -> Option<(String, Vec<Ingredient>)> {
    if chain.runtime == chain.dispatched && content.is_none() {
        return None;
    }
    let mut list = ingredients.to_vec();
    if let Some(p) = list
        .iter_mut()
        .find(|i| i.name == "parent" && i.value == chain.dispatched)
    {
        p.value = chain.runtime.clone();
    }
    if let Some((stage, digest)) = content {
        if let Some(i) = list.iter_mut().find(|i| i.name == FROM_STAGE) {
            i.name = format!("{FROM_CONTENT}:{stage}").into();
            i.value = digest.to_string();
        }
    }
    Some((key_of(&list), list))
}

/// The chain after a step whose keys are `dispatched` and `runtime`. A
/// `COPY --link` layer does not chain from its parent, so the chain
/// combines both (as dispatch does).
pub fn after(before: &Chain, link: bool, dispatched: &str, runtime: &str) -> Chain {
    if !link {
        return Chain {
            dispatched: dispatched.to_string(),
            runtime: runtime.to_string(),
        };
    }
    Chain {
        dispatched: link_chain(&before.dispatched, dispatched),
        runtime: link_chain(&before.runtime, runtime),
    }
}

/// The key later steps chain from after a `--link` step.
pub fn link_chain(parent: &str, step: &str) -> String {
    let mut chain = KeyBuilder::new("link-chain");
    chain.add("parent", parent);
    chain.add("step", step);
    chain.finish().0
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::cachekey::ingredients as ing;

    #[test]
    fn unchanged_chain_keeps_the_dispatch_key() {
        let list = ing(&[("kind", "RUN"), ("parent", "p")]);
        assert!(rekey(&list, &Chain::at("p"), None).is_none());
    }

    #[test]
    fn new_parent_and_content_rekey() {
        let list = ing(&[("kind", "COPY"), ("parent", "p"), (FROM_STAGE, "s1")]);
        let chain = Chain {
            dispatched: "p".into(),
            runtime: "q".into(),
        };
        let (key, new) = rekey(&list, &chain, Some(("a", "d1"))).unwrap();
        assert_eq!(new[1].value, "q");
        assert_eq!(
            (new[2].name.as_ref(), new[2].value.as_str()),
            ("from-content:a", "d1")
        );
        assert_eq!(key, key_of(&new));
        // The stage's chain no longer counts; its content does.
        let other_stage = ing(&[("kind", "COPY"), ("parent", "p"), (FROM_STAGE, "s2")]);
        let (same, _) = rekey(&other_stage, &chain, Some(("a", "d1"))).unwrap();
        assert_eq!(same, key);
        let (changed, _) = rekey(&list, &chain, Some(("a", "d2"))).unwrap();
        assert_ne!(changed, key);
    }

    #[test]
    fn link_chain_follows_both_keys() {
        let before = Chain::at("p");
        let c = after(&before, true, "k", "k2");
        assert_eq!(c.dispatched, link_chain("p", "k"));
        assert_ne!(c.dispatched, c.runtime);
        assert_eq!(after(&before, false, "k", "k2").runtime, "k2");
    }
}
