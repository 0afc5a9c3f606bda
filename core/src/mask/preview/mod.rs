//! The change list behind the patient's side-by-side preview: where each value changed, by
//! which rule, what it was and what it became.
//!
//! The list is made only on request ([`super::mask_bytes_preview`]); the plain entry points
//! never build locations or copies of values. Everything here holds the patient's own
//! identifiers in the clear, so none of it is ever put in a [`super::MaskReport`] or in the
//! masked output.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::policy::{IdentifierKind, Method};

mod edits;
mod loc;

use edits::{
    Edit, Group, ceil_boundary, cut, cut_whole, floor_boundary, map_to_output, value_text,
};
pub(crate) use edits::{TextEdits, TextHit};
pub(crate) use loc::Loc;

/// The longest `before` (and, for the same window, `after`) a [`Change`] holds, in bytes.
/// Longer values are cut on a character boundary around their first span and marked with `…`;
/// a cut never splits a span, so a value can end up a little longer than this.
pub const PREVIEW_TEXT_LIMIT: usize = 1024;

/// Bytes of context kept before the first span when a long value is cut.
const CONTEXT: usize = 160;

/// Marks text left out of a cut value.
pub(super) const ELLIPSIS: &str = "…";

/// One change masking made, for the patient's side-by-side preview.
///
/// **A `Change` holds the patient's identifiers in the clear** (`before` is the original
/// value). It is for the patient's own eyes on their own device: it is never part of the
/// [`super::MaskReport`] or of the masked output, and must not be uploaded, logged or stored.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// Where: `Patient/abc name[0].family`, `Observation/x valueString`,
    /// `Bundle entry[0].fullUrl`, `DocumentReference/d content[0].attachment.data (decoded
    /// text)`, `row 3, column NAME` (the header is row 1), `line 2` (or `lines 2-3` when a
    /// replaced value spans a line break). A resource is named by its original type and id;
    /// one without an id, or a contained one, by the place it sits in.
    pub location: String,
    /// The rule's id, as in [`super::RuleCount::rule`].
    pub rule: String,
    /// The kind of identifier.
    pub kind: IdentifierKind,
    /// What was done.
    pub method: Method,
    /// The original value: a string as it was, a number or boolean as JSON text, a decoded
    /// text attachment as text; for an attachment that is not text, a description of it
    /// (its base64 says nothing to a reader). Values longer than [`PREVIEW_TEXT_LIMIT`] are
    /// cut around their first span, with `…` where text was left out.
    pub before: String,
    /// The replacement (cut like `before`, over the same stretch of text), or `None` when the
    /// element was removed.
    pub after: Option<String>,
    /// Byte ranges of `before` that were removed or replaced, for highlighting: sorted,
    /// non-overlapping, on character boundaries. The whole value for a whole-value change;
    /// the matched known identifiers or patterns for a free-text change.
    pub spans: Vec<(usize, usize)>,
}

/// The changes of one masking run, for the patient's preview.
///
/// **Holds the patient's identifiers in the clear**: see [`Change`]. It is never part of the
/// [`super::MaskReport`] or of the masked output, and must not leave the device.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskPreview {
    /// The first changes, in document order.
    pub changes: Vec<Change>,
    /// How many more changes there were beyond the requested maximum.
    pub omitted: u64,
}

// ------------------------------------------------------------------------------ recorder

/// Collects changes while masking, up to a maximum; counts the rest.
#[derive(Debug)]
pub(crate) struct Recorder {
    max: usize,
    changes: Vec<Change>,
    omitted: u64,
}

impl Recorder {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            changes: Vec::new(),
            omitted: 0,
        }
    }

    pub(crate) fn finish(self) -> MaskPreview {
        MaskPreview {
            changes: self.changes,
            omitted: self.omitted,
        }
    }

    fn full(&mut self) -> bool {
        if self.changes.len() >= self.max {
            self.omitted += 1;
            true
        } else {
            false
        }
    }

    /// A whole value replaced (`after` some) or removed (`after` none). Equal values are no
    /// change.
    pub(crate) fn whole(
        &mut self,
        location: &dyn Fn() -> String,
        rule: &str,
        kind: IdentifierKind,
        method: Method,
        before: &str,
        after: Option<&str>,
    ) {
        if after == Some(before) || self.full() {
            return;
        }
        let (before, kept) = cut_whole(before);
        let spans = if kept == 0 {
            Vec::new()
        } else {
            vec![(0, kept)]
        };
        self.changes.push(Change {
            location: location(),
            rule: rule.to_owned(),
            kind,
            method,
            before,
            after: after.map(|a| cut_whole(a).0),
            spans,
        });
    }

    /// A JSON value replaced or removed, one change for each string, number or boolean in it
    /// that changed (members the masking added are not changes of the original).
    pub(crate) fn value(
        &mut self,
        loc: &mut Loc,
        rule: &str,
        kind: IdentifierKind,
        method: Method,
        before: &Value,
        after: Option<&Value>,
    ) {
        match (before, after) {
            (Value::Object(b), None) => {
                for (k, v) in b {
                    loc.push_key(k);
                    self.value(loc, rule, kind, method, v, None);
                    loc.pop();
                }
            }
            (Value::Object(b), Some(Value::Object(a))) => {
                for (k, v) in b {
                    loc.push_key(k);
                    self.value(loc, rule, kind, method, v, a.get(k));
                    loc.pop();
                }
            }
            (Value::Array(b), None) => {
                for (i, v) in b.iter().enumerate() {
                    loc.push_index(i);
                    self.value(loc, rule, kind, method, v, None);
                    loc.pop();
                }
            }
            (Value::Array(b), Some(Value::Array(a))) => {
                for (i, v) in b.iter().enumerate() {
                    loc.push_index(i);
                    self.value(loc, rule, kind, method, v, a.get(i));
                    loc.pop();
                }
            }
            (b, a) => {
                let after = a.map(value_text);
                self.whole(
                    &|| loc.render(),
                    rule,
                    kind,
                    method,
                    &value_text(b),
                    after.as_deref(),
                );
            }
        }
    }

    /// The free-text checks' changes to one value: one change for each rule that matched.
    pub(crate) fn text(
        &mut self,
        location: &dyn Fn() -> String,
        before: &str,
        after: &str,
        edits: &TextEdits<'_>,
    ) {
        if edits.is_empty() {
            return;
        }
        let location = location();
        for g in &edits.groups {
            self.segment(&location, before, after, g, &g.spans, &edits.edits);
        }
    }

    /// The free-text changes to a whole plain-text document, line by line (a stretch of
    /// lines when a replaced value spans a line break).
    pub(crate) fn lines(&mut self, before: &str, after: &str, edits: &TextEdits<'_>) {
        if edits.is_empty() {
            return;
        }
        let bytes = before.as_bytes();
        let all = &edits.edits;
        let (mut line, mut first_line, mut start, mut e) = (1usize, 1usize, 0usize, 0usize);
        for pos in memchr::memchr_iter(b'\n', bytes).chain(std::iter::once(bytes.len())) {
            while e < all.len() && all[e].orig.1 <= pos {
                e += 1;
            }
            // A line break inside a replaced value does not end the stretch.
            let inside = pos < bytes.len() && e < all.len() && all[e].orig.0 <= pos;
            if !inside {
                let mut end = pos;
                let cr_replaced = all[..e].last().is_some_and(|x| x.orig.1 >= end);
                if end > start && bytes[end - 1] == b'\r' && !cr_replaced {
                    end -= 1;
                }
                self.stretch(before, after, edits, (start, end), (first_line, line));
                start = pos + 1;
                first_line = line + 1;
            }
            line += 1;
        }
    }

    /// The changes in one stretch `[a, b)` of a plain-text document (lines `first..=last`).
    fn stretch(
        &mut self,
        before: &str,
        after: &str,
        edits: &TextEdits<'_>,
        (a, b): (usize, usize),
        (first, last): (usize, usize),
    ) {
        let all = &edits.edits;
        let from = all.partition_point(|x| x.orig.0 < a);
        let to = all.partition_point(|x| x.orig.1 <= b);
        if from >= to {
            return;
        }
        let fa = map_to_output(all, a);
        let fb = map_to_output(all, b);
        let shifted: Vec<Edit> = all[from..to]
            .iter()
            .map(|x| Edit {
                orig: (x.orig.0 - a, x.orig.1 - a),
                new: (x.new.0 - fa, x.new.1 - fa),
            })
            .collect();
        let location = if first == last {
            format!("line {first}")
        } else {
            format!("lines {first}-{last}")
        };
        let (seg_before, seg_after) = (&before[a..b], &after[fa..fb]);
        let mut groups: Vec<(&Group<'_>, Vec<(usize, usize)>)> = edits
            .groups
            .iter()
            .filter_map(|g| {
                let i = g.spans.partition_point(|s| s.0 < a);
                let j = g.spans.partition_point(|s| s.1 <= b);
                let spans: Vec<(usize, usize)> = g
                    .spans
                    .get(i..j)
                    .unwrap_or(&[])
                    .iter()
                    .map(|s| (s.0 - a, s.1 - a))
                    .collect();
                (!spans.is_empty()).then_some((g, spans))
            })
            .collect();
        groups.sort_by_key(|(_, s)| s[0]);
        for (g, spans) in groups {
            self.segment(&location, seg_before, seg_after, g, &spans, &shifted);
        }
    }

    /// One rule's change to one text, cut around its first span when long.
    fn segment(
        &mut self,
        location: &str,
        before: &str,
        after: &str,
        g: &Group<'_>,
        spans: &[(usize, usize)],
        edits: &[Edit],
    ) {
        if spans.is_empty() || self.full() {
            return;
        }
        let (before_cut, after_cut, spans) = if before.len() <= PREVIEW_TEXT_LIMIT {
            (before.to_owned(), after.to_owned(), spans.to_vec())
        } else {
            let mut a = floor_boundary(before, spans[0].0.saturating_sub(CONTEXT));
            if let Some(x) = edits.iter().find(|x| x.orig.0 < a && a < x.orig.1) {
                a = x.orig.0;
            }
            let mut b = ceil_boundary(before, a + PREVIEW_TEXT_LIMIT);
            if let Some(x) = edits.iter().find(|x| x.orig.0 < b && b < x.orig.1) {
                b = x.orig.1;
            }
            let (fa, fb) = (map_to_output(edits, a), map_to_output(edits, b));
            let lead = if a > 0 { ELLIPSIS.len() } else { 0 };
            let kept = spans
                .iter()
                .filter(|s| s.0 >= a && s.1 <= b)
                .map(|s| (s.0 - a + lead, s.1 - a + lead))
                .collect();
            (cut(before, a, b), cut(after, fa, fb), kept)
        };
        self.changes.push(Change {
            location: location.to_owned(),
            rule: g.rule.to_owned(),
            kind: g.kind,
            method: g.method,
            before: before_cut,
            after: Some(after_cut),
            spans,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hit(rule: &'static str, start: usize, end: usize, len: usize) -> TextHit<'static> {
        TextHit {
            rule,
            kind: IdentifierKind::Names,
            method: Method::Redact,
            start,
            end,
            len,
        }
    }

    #[test]
    fn two_passes_compose_back_to_the_original() {
        // "Ann saw Bob at http://x.example/Bob today"
        //  sweep: Ann -> [NAME], Bob -> [NAME] (twice)
        let original = "Ann saw Bob at http://x.example/Bob today";
        let mid = "[NAME] saw [NAME] at http://x.example/[NAME] today";
        let out = "[NAME] saw [NAME] at [URL] today";
        let first = [hit("s", 0, 3, 6), hit("s", 8, 11, 6), hit("s", 32, 35, 6)];
        let url_start = mid.find("http").unwrap();
        let url_end = mid.find(" today").unwrap();
        let second = [hit("u", url_start, url_end, 5)];
        let t = TextEdits::compose(&first, &second);
        let spans: Vec<_> = t.groups.iter().map(|g| (g.rule, g.spans.clone())).collect();
        assert_eq!(
            spans,
            vec![
                ("s", vec![(0, 3), (8, 11), (32, 35)]),
                ("u", vec![(15, 35)])
            ]
        );
        assert_eq!(&original[15..35], "http://x.example/Bob");
        let e: Vec<_> = t.edits.iter().map(|x| (x.orig, x.new)).collect();
        assert_eq!(
            e,
            vec![((0, 3), (0, 6)), ((8, 11), (11, 17)), ((15, 35), (21, 26))]
        );
        for x in &t.edits {
            assert!(!out[x.new.0..x.new.1].is_empty());
        }
        assert_eq!(map_to_output(&t.edits, 35), 26);
        assert_eq!(&out[map_to_output(&t.edits, 35)..], " today");
    }

    #[test]
    fn locations_read_like_paths() {
        let mut l = Loc::label("Patient/abc".to_owned());
        l.push_key("name");
        l.push_index(0);
        l.push_key("family");
        assert_eq!(l.render(), "Patient/abc name[0].family");
        let mut b = Loc::label("Bundle".to_owned());
        b.push_key("entry");
        b.push_index(3);
        b.push_key("resource");
        let mut n = Loc::continuing(&b);
        n.push_key("valueString");
        assert_eq!(n.render(), "Bundle entry[3].resource.valueString");
        let mut root = Loc::label(String::new());
        root.push_key("a");
        root.push_index(1);
        assert_eq!(root.render(), "a[1]");
    }

    #[test]
    fn long_values_are_cut_around_their_first_span_on_char_boundaries() {
        let filler = "é".repeat(700); // 1400 bytes
        let before = format!("{filler} call Ann now {filler}");
        let after = before.replace("Ann", "[NAME]");
        let at = before.find("Ann").unwrap();
        let t = TextEdits::compose(&[hit("s", at, at + 3, 6)], &[]);
        let mut r = Recorder::new(10);
        r.text(&|| "x".to_owned(), &before, &after, &t);
        let c = &r.changes[0];
        assert!(c.before.starts_with(ELLIPSIS) && c.before.ends_with(ELLIPSIS));
        assert!(c.before.len() <= PREVIEW_TEXT_LIMIT + 2 * ELLIPSIS.len());
        let (a, b) = c.spans[0];
        assert_eq!(&c.before[a..b], "Ann");
        let after_cut = c.after.as_deref().unwrap();
        assert!(after_cut.contains("call [NAME] now"));
        assert_eq!(
            after_cut.len() - c.before.len(),
            3,
            "the same stretch on both sides"
        );
    }

    #[test]
    fn plain_text_is_cut_into_lines_and_stretches() {
        // Line 2 holds a replaced value that runs onto line 3; lines end in CRLF.
        let before = "a Bob\r\nx 1 Elm\r\nSt y\r\nz\r\nBob";
        let at = before.find("1 Elm").unwrap();
        let end = before.find(" y").unwrap();
        let first = [
            hit("s", 2, 5, 6),
            hit("s", at, end, 9),
            hit("s", before.len() - 3, before.len(), 6),
        ];
        let after = "a [NAME]\r\nx [ADDRESS] y\r\nz\r\n[NAME]";
        let t = TextEdits::compose(&first, &[]);
        let mut r = Recorder::new(10);
        r.lines(before, after, &t);
        let got: Vec<_> = r
            .changes
            .iter()
            .map(|c| {
                (
                    c.location.as_str(),
                    c.before.as_str(),
                    c.after.as_deref().unwrap(),
                    c.spans.clone(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                ("line 1", "a Bob", "a [NAME]", vec![(2, 5)]),
                (
                    "lines 2-3",
                    "x 1 Elm\r\nSt y",
                    "x [ADDRESS] y",
                    vec![(2, 11)]
                ),
                ("line 5", "Bob", "[NAME]", vec![(0, 3)]),
            ]
        );
    }

    /// The edits of the two passes, applied to the original, give the output; every span
    /// lies inside an edit, on character boundaries.
    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use proptest::prelude::*;

        use super::super::super::policy::TextPattern;
        use super::super::super::text::{Scanner, Sweep};
        use super::*;

        const TOKENS: [&str; 16] = [
            "Ann",
            "Annual",
            "Bob Lee",
            "bob",
            "http://x.example/Bob",
            "555-123-4567",
            "2003-06-12",
            "June 12, 2003",
            " ",
            "\n",
            "é",
            "[",
            "]",
            "a@b.com",
            "92 year-old",
            "1 Elm\nSt",
        ];

        proptest! {
            #[test]
            fn edits_rebuild_the_output(picks in proptest::collection::vec(0..TOKENS.len(), 0..40)) {
                let before: String = picks.iter().map(|&i| TOKENS[i]).collect();
                let mut sweep = Sweep::default();
                for (v, k) in [("Ann", IdentifierKind::Names), ("Bob Lee", IdentifierKind::Names),
                               ("Bob", IdentifierKind::Names), ("1 Elm\nSt", IdentifierKind::Geographic),
                               ("555-123-4567", IdentifierKind::Telephone)] {
                    sweep.add(v, k);
                }
                let patterns = [TextPattern::Phone, TextPattern::Email, TextPattern::Url,
                                TextPattern::Date, TextPattern::Age];
                let scanner = Scanner { patterns: &patterns, dates: Method::Generalize, shift_days: 0 };
                let mut first = Vec::new();
                let mid = sweep
                    .apply(&before, &mut |h| first.push(TextHit::new(h, Method::Redact)))
                    .unwrap_or_else(|| before.clone());
                let mut second = Vec::new();
                let after = scanner
                    .apply(&mid, &mut |h| second.push(TextHit::new(h, Method::Generalize)))
                    .unwrap_or_else(|| mid.clone());
                let t = TextEdits::compose(&first, &second);
                let mut rebuilt = String::new();
                let mut at = 0;
                for e in &t.edits {
                    prop_assert!(e.orig.0 >= at && e.orig.0 < e.orig.1);
                    rebuilt.push_str(&before[at..e.orig.0]);
                    rebuilt.push_str(&after[e.new.0..e.new.1]);
                    at = e.orig.1;
                }
                rebuilt.push_str(&before[at..]);
                prop_assert_eq!(&rebuilt, &after);
                for g in &t.groups {
                    let mut last = 0;
                    for &(a, b) in &g.spans {
                        prop_assert!(a >= last && a < b);
                        prop_assert!(before.is_char_boundary(a) && before.is_char_boundary(b));
                        prop_assert!(t.edits.iter().any(|e| e.orig.0 <= a && b <= e.orig.1));
                        last = b;
                    }
                }
                // Line by line, every change's stretch is a piece of the input and of the output.
                let mut r = Recorder::new(usize::MAX);
                r.lines(&before, &after, &t);
                for c in &r.changes {
                    prop_assert!(before.contains(c.before.as_str()));
                    prop_assert!(after.contains(c.after.as_deref().unwrap_or("")));
                    for &(a, b) in &c.spans {
                        prop_assert!(c.before.is_char_boundary(a) && c.before.is_char_boundary(b));
                    }
                }
            }
        }
    }
}
