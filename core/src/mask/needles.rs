//! Finds many needles in one pass over a haystack (Aho-Corasick), so the known-identifier
//! sweep costs the length of the text, not the length of the text times the number of known
//! values: a Bundle or NDJSON file of many patients knows thousands of values.
//!
//! Written here rather than taken from a crate: it is small, the sweep needs every
//! occurrence (overlapping ones included) to keep its exact matching rules, and the wasm stays
//! lean. Matching ignores ASCII case: needles are given in lower case and haystack bytes are
//! lowered as they are read.

/// The automaton's root state.
const ROOT: u32 = 0;
/// No state (no output link).
const NONE: u32 = u32::MAX;

#[derive(Clone, Debug)]
struct State {
    /// Transitions, sorted by byte.
    next: Vec<(u8, u32)>,
    /// The longest proper suffix of this state's string that is also a trie state.
    fail: u32,
    /// The needle that ends here, if any.
    needle: u32,
    /// The next state on the fail chain where a needle ends.
    output: u32,
}

impl State {
    fn new() -> Self {
        Self {
            next: Vec::new(),
            fail: ROOT,
            needle: NONE,
            output: NONE,
        }
    }

    fn get(&self, b: u8) -> Option<u32> {
        if self.next.len() <= 8 {
            self.next.iter().find(|t| t.0 == b).map(|t| t.1)
        } else {
            self.next
                .binary_search_by_key(&b, |t| t.0)
                .ok()
                .map(|i| self.next[i].1)
        }
    }
}

/// An Aho-Corasick automaton over a fixed list of needles.
#[derive(Clone, Debug)]
pub(crate) struct Needles {
    states: Vec<State>,
    /// The root's transitions for every byte (the root is visited the most).
    root: Box<[u32; 256]>,
    lens: Vec<u32>,
}

impl Needles {
    /// An automaton for these needles (lower-case bytes, none empty); a match reports the
    /// needle's index in this list.
    pub(crate) fn new<'a>(needles: impl IntoIterator<Item = &'a [u8]>) -> Self {
        let mut states = vec![State::new()];
        let mut lens = Vec::new();
        for (k, needle) in needles.into_iter().enumerate() {
            debug_assert!(!needle.is_empty());
            let mut s = ROOT;
            for &b in needle {
                s = match states[s as usize].get(b) {
                    Some(t) => t,
                    None => {
                        let t = states.len() as u32;
                        states.push(State::new());
                        let next = &mut states[s as usize].next;
                        let at = next.partition_point(|x| x.0 < b);
                        next.insert(at, (b, t));
                        t
                    }
                };
            }
            if states[s as usize].needle == NONE {
                states[s as usize].needle = k as u32;
            }
            lens.push(needle.len() as u32);
        }
        // Fail and output links, breadth first.
        let mut queue = std::collections::VecDeque::new();
        for &(_, t) in &states[ROOT as usize].next {
            queue.push_back(t);
        }
        while let Some(s) = queue.pop_front() {
            let edges = states[s as usize].next.clone();
            for (b, t) in edges {
                let mut f = states[s as usize].fail;
                let target = loop {
                    if let Some(x) = states[f as usize].get(b) {
                        break x;
                    }
                    if f == ROOT {
                        break ROOT;
                    }
                    f = states[f as usize].fail;
                };
                let fail = if target == t { ROOT } else { target };
                let output = if states[fail as usize].needle != NONE {
                    fail
                } else {
                    states[fail as usize].output
                };
                let st = &mut states[t as usize];
                st.fail = fail;
                st.output = output;
                queue.push_back(t);
            }
        }
        let mut root = Box::new([ROOT; 256]);
        for &(b, t) in &states[ROOT as usize].next {
            root[b as usize] = t;
        }
        Self { states, root, lens }
    }

    /// Calls `found(needle, start)` for every occurrence of every needle in `hay` (ASCII
    /// case ignored), overlapping ones included, in order of their end.
    pub(crate) fn find_all(&self, hay: &[u8], found: &mut impl FnMut(u32, usize)) {
        let mut s = ROOT;
        for (i, &b) in hay.iter().enumerate() {
            let b = b.to_ascii_lowercase();
            s = loop {
                if s == ROOT {
                    break self.root[b as usize];
                }
                if let Some(t) = self.states[s as usize].get(b) {
                    break t;
                }
                s = self.states[s as usize].fail;
            };
            let st = &self.states[s as usize];
            let mut out = if st.needle != NONE { s } else { st.output };
            while out != NONE {
                let o = &self.states[out as usize];
                found(o.needle, i + 1 - self.lens[o.needle as usize] as usize);
                out = o.output;
            }
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
