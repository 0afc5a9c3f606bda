//! Replacements in free-text values: the sweep's and the patterns' edits composed, and the
//! cutting of long values around their first span.

use serde_json::Value;

use super::super::policy::{IdentifierKind, Method};
use super::super::text::Hit;
use super::{ELLIPSIS, PREVIEW_TEXT_LIMIT};

/// A replacement in a free-text value, with the method the report counts it under.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TextHit<'a> {
    pub(crate) rule: &'a str,
    pub(crate) kind: IdentifierKind,
    pub(crate) method: Method,
    pub(crate) start: usize,
    pub(crate) end: usize,
    /// Length of the replacement.
    pub(crate) len: usize,
}

impl TextHit<'static> {
    pub(crate) fn new(hit: Hit, method: Method) -> Self {
        TextHit {
            rule: hit.rule,
            kind: hit.kind,
            method,
            start: hit.start,
            end: hit.end,
            len: hit.len,
        }
    }
}

/// The spans of one rule in a free-text value.
#[derive(Clone, Debug)]
pub(super) struct Group<'a> {
    pub(super) rule: &'a str,
    pub(super) kind: IdentifierKind,
    pub(super) method: Method,
    pub(super) spans: Vec<(usize, usize)>,
}

/// A stretch of the original text and the stretch of the output that replaced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Edit {
    pub(super) orig: (usize, usize),
    pub(super) new: (usize, usize),
}

/// What the free-text checks did to one value: spans by rule, and the edits that turn the
/// original into the output (to cut both sides over the same stretch).
#[derive(Clone, Debug, Default)]
pub(crate) struct TextEdits<'a> {
    pub(super) groups: Vec<Group<'a>>,
    pub(super) edits: Vec<Edit>,
}

impl<'a> TextEdits<'a> {
    /// Composes the two passes of the free-text checks: `first` (the known-identifier sweep)
    /// over the original text, then `second` (the pattern scanner) over the first pass's
    /// output. Each list is sorted and non-overlapping in its own input. Either may be empty.
    pub(crate) fn compose(first: &[TextHit<'a>], second: &[TextHit<'a>]) -> Self {
        // Where the first pass's replacements sit in its output.
        let mut mid: Vec<(usize, usize)> = Vec::with_capacity(first.len());
        // Cumulative length change up to and including each first-pass replacement.
        let mut cum: Vec<isize> = Vec::with_capacity(first.len());
        let mut delta = 0isize;
        for h in first {
            let a = offset(h.start, delta);
            mid.push((a, a + h.len));
            delta += h.len as isize - (h.end - h.start) as isize;
            cum.push(delta);
        }
        // An intermediate position back in the original; inside a first-pass replacement, a
        // start goes to the replaced text's start and an end to its end.
        let to_orig = |p: usize, is_end: bool| -> usize {
            let i = if is_end {
                mid.partition_point(|&(_, b)| b < p)
            } else {
                mid.partition_point(|&(_, b)| b <= p)
            };
            if let Some(&(a, b)) = mid.get(i) {
                if !is_end && a <= p && p < b {
                    return first[i].start;
                }
                if is_end && a < p && p <= b {
                    return first[i].end;
                }
            }
            let d = if i == 0 { 0 } else { cum[i - 1] };
            offset(p, -d)
        };

        let mut groups: Vec<Group<'a>> = Vec::new();
        let mut add = |h: &TextHit<'a>, span: (usize, usize)| match groups
            .iter_mut()
            .find(|g| g.rule == h.rule && g.kind == h.kind && g.method == h.method)
        {
            Some(g) => g.spans.push(span),
            None => groups.push(Group {
                rule: h.rule,
                kind: h.kind,
                method: h.method,
                spans: vec![span],
            }),
        };
        for h in first {
            add(h, (h.start, h.end));
        }
        for h in second {
            add(h, (to_orig(h.start, false), to_orig(h.end, true)));
        }
        for g in &mut groups {
            g.spans = merge(std::mem::take(&mut g.spans));
        }
        groups.sort_by_key(|g| g.spans.first().copied());

        // Clusters of overlapping replacements, in intermediate positions, then both ends.
        let mut all: Vec<(usize, usize)> = mid
            .iter()
            .copied()
            .chain(second.iter().map(|h| (h.start, h.end)))
            .collect();
        all.sort_unstable();
        let mut clusters: Vec<(usize, usize)> = Vec::new();
        for (a, b) in all {
            match clusters.last_mut() {
                Some(last) if a < last.1 => last.1 = last.1.max(b),
                _ => clusters.push((a, b)),
            }
        }
        // Second-pass position shifts, to carry an intermediate position to the output.
        let mut second_cum: Vec<(usize, isize)> = Vec::with_capacity(second.len());
        let mut d2 = 0isize;
        for h in second {
            d2 += h.len as isize - (h.end - h.start) as isize;
            second_cum.push((h.end, d2));
        }
        let to_final = |p: usize| -> usize {
            let i = second_cum.partition_point(|&(end, _)| end <= p);
            let d = if i == 0 { 0 } else { second_cum[i - 1].1 };
            offset(p, d)
        };
        let edits = clusters
            .into_iter()
            .map(|(a, b)| Edit {
                orig: (to_orig(a, false), to_orig(b, true)),
                new: (to_final(a), to_final(b)),
            })
            .collect();
        Self { groups, edits }
    }

    /// Whether nothing was replaced.
    pub(crate) fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }
}

pub(super) fn offset(p: usize, d: isize) -> usize {
    p.checked_add_signed(d).unwrap_or(0)
}

/// Sorts spans and joins the ones that overlap.
pub(super) fn merge(mut spans: Vec<(usize, usize)>) -> Vec<(usize, usize)> {
    spans.sort_unstable();
    let mut out: Vec<(usize, usize)> = Vec::with_capacity(spans.len());
    for (a, b) in spans {
        match out.last_mut() {
            Some(last) if a < last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

pub(super) fn floor_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

pub(super) fn ceil_boundary(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i += 1;
    }
    i
}

/// `s[a..b]` with `…` on each side where text was left out.
pub(super) fn cut(s: &str, a: usize, b: usize) -> String {
    let mut out = String::with_capacity(b - a + 2 * ELLIPSIS.len());
    if a > 0 {
        out.push_str(ELLIPSIS);
    }
    out.push_str(&s[a..b]);
    if b < s.len() {
        out.push_str(ELLIPSIS);
    }
    out
}

/// A whole value, cut to [`PREVIEW_TEXT_LIMIT`] from its start, and how much of it is kept.
pub(super) fn cut_whole(s: &str) -> (String, usize) {
    if s.len() <= PREVIEW_TEXT_LIMIT {
        (s.to_owned(), s.len())
    } else {
        let b = floor_boundary(s, PREVIEW_TEXT_LIMIT);
        (cut(s, 0, b), b)
    }
}

/// A value as preview text: strings as they are, anything else as compact JSON.
pub(super) fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Carries a position of the original text, outside every edit, to the output.
pub(super) fn map_to_output(edits: &[Edit], p: usize) -> usize {
    let i = edits.partition_point(|x| x.orig.1 <= p);
    match i.checked_sub(1).map(|j| edits[j]) {
        Some(x) => offset(p, x.new.1 as isize - x.orig.1 as isize),
        None => p,
    }
}
