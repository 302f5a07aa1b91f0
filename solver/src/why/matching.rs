//! Which step of the previous build is a step's own. Within a stage (by
//! label): first the same position and text, then the same text elsewhere
//! (a moved line), then, between two steps already paired, the same
//! instruction in the same order (an edited line). Nothing else pairs: a
//! neighbour that happens to share a parent key is never a step's own.

use serde::Serialize;

use super::history::StepEntry;

/// How a step was paired with its earlier self.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum How {
    /// Same stage, position and instruction text.
    Same,
    /// Same stage and instruction text, another position.
    Moved,
    /// Same stage and instruction, between the same neighbours; edited.
    Edited,
}

/// For each step of `new`, the index of its own step in `old` and how it
/// was found.
pub fn pair(old: &[StepEntry], new: &[StepEntry]) -> Vec<Option<(usize, How)>> {
    let mut out: Vec<Option<(usize, How)>> = vec![None; new.len()];
    let mut taken = vec![false; old.len()];
    let same_stage = |o: usize, n: usize| old[o].stage == new[n].stage;
    for (n, step) in new.iter().enumerate() {
        let hit = (0..old.len()).find(|&o| {
            !taken[o]
                && same_stage(o, n)
                && old[o].position == step.position
                && old[o].text == step.text
        });
        if let Some(o) = hit {
            taken[o] = true;
            out[n] = Some((o, How::Same));
        }
    }
    // Moved lines: equal texts pair in order of appearance.
    for n in 0..new.len() {
        if out[n].is_some() {
            continue;
        }
        let hit =
            (0..old.len()).find(|&o| !taken[o] && same_stage(o, n) && old[o].text == new[n].text);
        if let Some(o) = hit {
            taken[o] = true;
            out[n] = Some((o, How::Moved));
        }
    }
    // Edited lines: within the gap between the nearest paired steps of the
    // stage, the same instruction word, in order.
    for n in 0..new.len() {
        if out[n].is_some() {
            continue;
        }
        let anchor = |range: &mut dyn Iterator<Item = usize>| {
            range
                .filter(|&m| new[m].stage == new[n].stage)
                .find_map(|m| out[m].map(|(o, _)| o))
        };
        let lower = anchor(&mut (0..n).rev());
        let upper = anchor(&mut (n + 1..new.len()));
        let inside = |o: usize| lower.is_none_or(|l| o > l) && upper.is_none_or(|u| o < u);
        let hit = (0..old.len()).find(|&o| {
            !taken[o] && same_stage(o, n) && inside(o) && old[o].kind() == new[n].kind()
        });
        if let Some(o) = hit {
            taken[o] = true;
            out[n] = Some((o, How::Edited));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn steps(stage: &str, texts: &[&str]) -> Vec<StepEntry> {
        texts
            .iter()
            .enumerate()
            .map(|(i, t)| StepEntry {
                name: format!("[{stage} {}/9] {t}", i + 2),
                stage: stage.into(),
                position: i + 2,
                text: t.to_string(),
                key: String::new(),
                cached: false,
                record: None,
            })
            .collect()
    }

    fn pairs(old: &[&str], new: &[&str]) -> Vec<Option<(usize, How)>> {
        pair(&steps("s", old), &steps("s", new))
    }

    #[test]
    fn same_lines_pair_in_place() {
        let p = pairs(&["RUN a", "RUN b"], &["RUN a", "RUN b"]);
        assert_eq!(p, [Some((0, How::Same)), Some((1, How::Same))]);
    }

    #[test]
    fn an_inserted_line_is_new_and_the_rest_moved() {
        let p = pairs(
            &["COPY a /a", "RUN b", "RUN c"],
            &["COPY a /a", "RUN x", "RUN b", "RUN c"],
        );
        assert_eq!(
            p,
            [
                Some((0, How::Same)),
                None,
                Some((1, How::Moved)),
                Some((2, How::Moved))
            ]
        );
    }

    #[test]
    fn an_edited_line_pairs_between_its_neighbours() {
        let p = pairs(
            &["RUN a", "RUN b", "RUN c"],
            &["RUN new", "RUN a", "RUN b2", "RUN c"],
        );
        assert_eq!(p[0], None, "nothing of the old build was before RUN a");
        assert_eq!(p[2], Some((1, How::Edited)));
        // Swapped lines pair by text.
        let p = pairs(&["RUN a", "RUN b"], &["RUN b", "RUN a"]);
        assert_eq!(p, [Some((1, How::Moved)), Some((0, How::Moved))]);
        // A different instruction at the same place is a new step.
        assert_eq!(pairs(&["RUN a"], &["COPY a /a"]), [None]);
    }

    #[test]
    fn stages_never_mix() {
        let old = steps("a", &["RUN x"]);
        let new = steps("b", &["RUN x"]);
        assert_eq!(pair(&old, &new), [None]);
    }
}
