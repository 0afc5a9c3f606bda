//! Finds many needles in one pass over a haystack (Aho-Corasick, from the `aho-corasick`
//! crate), so the known-identifier sweep costs the length of the text, not the length of the
//! text times the number of known values: a Bundle or NDJSON file of many patients knows
//! thousands of values.
//!
//! The sweep needs every occurrence of every needle, overlapping ones included, to keep its
//! exact matching rules (each needle's own left-to-right matches, then whole words, longest
//! needle first; see `Sweep::find`): so the automaton uses the standard match kind and an
//! overlapping search, which reports every needle at every place it ends. The leftmost match
//! kinds would hide the occurrences that overlap a match. Matching ignores ASCII case: needles
//! are given in lower case, and the automaton also accepts the upper case of each ASCII letter.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

/// An Aho-Corasick automaton over a fixed list of needles.
#[derive(Clone, Debug)]
pub(crate) struct Needles {
    automaton: AhoCorasick,
}

impl Needles {
    /// An automaton for these needles (lower-case bytes, none empty, no two the same); a match
    /// reports the needle's index in this list.
    pub(crate) fn new<'a>(needles: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .ascii_case_insensitive(true)
            .build(
                needles
                    .into_iter()
                    .inspect(|n| debug_assert!(!n.is_empty())),
            )
            // Only more than 2^31 needles or states could fail, which no record comes near.
            .expect("an automaton for the sweep's needles");
        Self { automaton }
    }

    /// Calls `found(needle, start)` for every occurrence of every needle in `hay` (ASCII
    /// case ignored), overlapping ones included, in order of their end.
    pub(crate) fn find_all(&self, hay: &[u8], found: &mut impl FnMut(u32, usize)) {
        for m in self.automaton.find_overlapping_iter(hay) {
            found(m.pattern().as_u32(), m.start());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(needles: &[&str], hay: &str) -> Vec<(u32, usize)> {
        let n = Needles::new(needles.iter().map(|s| s.as_bytes()));
        let mut out = Vec::new();
        n.find_all(hay.as_bytes(), &mut |k, at| out.push((k, at)));
        out.sort_unstable();
        out
    }

    #[test]
    fn finds_every_occurrence_ignoring_case() {
        assert_eq!(
            all(&["he", "she", "his", "hers"], "uSHErs"),
            vec![(0, 2), (1, 1), (3, 2)]
        );
        assert_eq!(all(&["aa"], "aaaa"), vec![(0, 0), (0, 1), (0, 2)]);
        assert_eq!(
            all(&["a-a", "-"], "a-a-a"),
            vec![(0, 0), (0, 2), (1, 1), (1, 3)]
        );
        assert!(all(&["xyz"], "xy").is_empty());
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn agrees_with_a_naive_search(
                mut needles in proptest::collection::vec("[ab-]{1,4}", 1..8),
                hay in "[abAB -]{0,40}",
            ) {
                // The sweep never gives the same needle twice.
                needles.sort();
                needles.dedup();
                let refs: Vec<&str> = needles.iter().map(String::as_str).collect();
                let got = all(&refs, &hay);
                let lower = hay.to_ascii_lowercase();
                let mut want = Vec::new();
                for (k, n) in needles.iter().enumerate() {
                    for at in 0..lower.len() {
                        if lower[at..].starts_with(n.as_str()) {
                            want.push((k as u32, at));
                        }
                    }
                }
                want.sort_unstable();
                prop_assert_eq!(got, want);
            }
        }
    }
}
