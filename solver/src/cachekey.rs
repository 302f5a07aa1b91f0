//! Cache keys (DESIGN.md): blake3 over a step's ingredients — the parent
//! step's key, the instruction, its expanded arguments, the environment and
//! build args it can see, and for COPY/ADD a digest per selected file. The
//! ingredient list is kept with the cache record so `kiln cache why` can
//! say which one changed.

use kiln_cache::Ingredient;

pub mod files;
pub mod from_stage;
pub mod runtime;

/// Collects ingredients in a fixed order and hashes them.
#[derive(Debug, Default, Clone)]
pub struct KeyBuilder {
    ingredients: Vec<Ingredient>,
}

impl KeyBuilder {
    pub fn new(kind: &str) -> KeyBuilder {
        let mut k = KeyBuilder::default();
        k.add("kind", kind);
        k
    }

    pub fn add(
        &mut self,
        name: impl Into<std::borrow::Cow<'static, str>>,
        value: impl Into<String>,
    ) -> &mut Self {
        self.ingredients.push(Ingredient::new(name, value));
        self
    }

    /// The key (blake3 hex) and the ingredients that made it. Names and
    /// values are length-prefixed so no two lists hash alike.
    pub fn finish(self) -> (String, Vec<Ingredient>) {
        let key = key_of(&self.ingredients);
        (key, self.ingredients)
    }
}

/// `(name, value)` pairs as ingredients, for tests.
#[cfg(test)]
pub(crate) fn ingredients(pairs: &[(&str, &str)]) -> Vec<Ingredient> {
    pairs
        .iter()
        .map(|&(n, v)| Ingredient::new(n.to_string(), v))
        .collect()
}

/// blake3 of an ingredient list, as [`KeyBuilder::finish`] computes it.
pub fn key_of(ingredients: &[Ingredient]) -> String {
    let mut h = blake3::Hasher::new();
    // v2: every step makes a layer. A v1 record of a step that changed
    // nothing has none, and would make an image with a layer too few.
    h.update(b"kiln-step-key-v2\0");
    for i in ingredients {
        for part in [i.name.as_ref(), i.value.as_str()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    h.finalize().to_hex().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(pairs: &[(&str, &str)]) -> String {
        let mut k = KeyBuilder::new("RUN");
        for (n, v) in pairs {
            k.add(n.to_string(), *v);
        }
        k.finish().0
    }

    #[test]
    fn every_ingredient_counts_and_order_is_fixed() {
        let base = key(&[("parent", "p"), ("cmd", "make")]);
        assert_eq!(base, key(&[("parent", "p"), ("cmd", "make")]));
        assert_ne!(base, key(&[("parent", "q"), ("cmd", "make")]));
        assert_ne!(base, key(&[("parent", "p"), ("cmd", "make ")]));
        // Length prefixes: moving a byte between name and value changes the key.
        assert_ne!(key(&[("ab", "c")]), key(&[("a", "bc")]));
    }
}
