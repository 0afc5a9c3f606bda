//! Free-text de-identification scored on `data/notes/notes.json`, a corpus of fictitious
//! clinical notes written for MedSeal (see `data/notes/README.md`): every note is masked as a
//! plain-text document with the built-in Safe Harbor policy, then each marked identifier must
//! be gone and each clinical phrase must still be there.
//!
//! Run with `cargo test -p medseal-core --test mask notes -- --nocapture` to see the scores
//! and every identifier that survived and phrase that was lost.

use super::{key, mask};
use medseal_core::mask::{IdentifierKind, Policy};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// Share of identifier spans that masking must remove (issue 12's bar; 1.000 on 2026-12-03).
/// The detectors were written against this corpus, so it is also measured on a held-out one.
const MIN_RECALL: f64 = 0.99;
/// Share of keep phrases that must survive verbatim.
const MIN_KEPT: f64 = 0.95;
/// Floors of the held-out corpus (see `heldout_notes_are_masked_by_safe_harbor`).
const HELDOUT_MIN_RECALL: f64 = 0.93;
const HELDOUT_MIN_KEPT: f64 = 0.99;
/// Floors of the blind corpus (see `blind_notes_are_masked_by_safe_harbor`).
const BLIND_MIN_RECALL: f64 = 0.88;
const BLIND_MIN_KEPT: f64 = 0.995;

const MIN_NOTES: usize = 48;
const MIN_SPANS: usize = 260;
const MIN_KEEP: usize = 150;
/// Kinds the corpus must cover, with the least number of spans of each.
const MIN_PER_KIND: [(&str, usize); 17] = [
    ("names", 8),
    ("geographic", 8),
    ("dates", 8),
    ("telephone", 3),
    ("fax", 3),
    ("email", 3),
    ("ssn", 3),
    ("mrn", 3),
    ("health-plan", 3),
    ("account", 3),
    ("license", 3),
    ("vehicle", 3),
    ("device", 3),
    ("url", 3),
    ("ip", 3),
    ("biometric", 3),
    ("other", 3),
];

/// Titles and address or label words that may stay when the identifier around them goes.
const GENERIC: &[&str] = &[
    "Mr", "Mrs", "Ms", "Miss", "Mx", "Dr", "Prof", "St", "Apt", "Ave", "Avenue", "Street", "Road",
    "Rd", "Blvd", "Drive", "Lane", "Ln", "Court", "Ct", "Hall", "Suite", "Ste", "Unit", "Box",
    "Route", "County", "City", "MRN", "SSN", "LLC", "Inc",
];

struct Span {
    text: String,
    kind: String,
}

struct Note {
    id: String,
    text: String,
    spans: Vec<Span>,
    keep: Vec<String>,
}

fn corpus() -> Vec<Note> {
    corpus_of(include_str!("../data/notes/notes.json"))
}

fn corpus_of(json: &str) -> Vec<Note> {
    let v: Value = serde_json::from_str(json).expect("the corpus is JSON");
    assert_eq!(v["format"], "medseal-deid-corpus");
    assert_eq!(v["version"], 1);
    let s = |v: &Value| v.as_str().expect("a string").to_owned();
    v["notes"]
        .as_array()
        .expect("notes is an array")
        .iter()
        .map(|n| Note {
            id: s(&n["id"]),
            text: s(&n["text"]),
            spans: n["identifiers"]
                .as_array()
                .expect("identifiers is an array")
                .iter()
                .map(|i| Span {
                    text: s(&i["text"]),
                    kind: s(&i["kind"]),
                })
                .collect(),
            keep: n["keep"]
                .as_array()
                .expect("keep is an array")
                .iter()
                .map(s)
                .collect(),
        })
        .collect()
}

/// Byte ranges where `needle` occurs in `hay` as whole words: an end of the needle that is a
/// letter or digit must not touch another letter or digit.
fn whole(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    let alnum = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let (first, last) = (needle.chars().next(), needle.chars().next_back());
    hay.match_indices(needle)
        .map(|(i, _)| (i, i + needle.len()))
        .filter(|&(i, j)| {
            let glued_before = alnum(first) && alnum(hay[..i].chars().next_back());
            let glued_after = alnum(last) && alnum(hay[j..].chars().next());
            !glued_before && !glued_after
        })
        .collect()
}

/// Plain substring occurrences, for keep phrases.
fn plain(hay: &str, needle: &str) -> Vec<(usize, usize)> {
    hay.match_indices(needle)
        .map(|(i, _)| (i, i + needle.len()))
        .collect()
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
}

/// The words of the note outside every identifier span.
fn outside_words(note: &Note) -> BTreeSet<String> {
    let mut masked: Vec<char> = Vec::new();
    let mut covered = vec![false; note.text.len()];
    for s in &note.spans {
        for (i, j) in whole(&note.text, &s.text) {
            covered[i..j].iter_mut().for_each(|c| *c = true);
        }
    }
    for (i, c) in note.text.char_indices() {
        masked.push(if covered[i] { ' ' } else { c });
    }
    let masked: String = masked.into_iter().collect();
    words(&masked).map(str::to_owned).collect()
}

/// Why an identifier span survived masking, or `None` when it is gone.
///
/// The rule: the span's text must not occur in the output as whole words. For `dates` that is
/// all (a 4-digit year in the span may stay, and it does unless the whole span stays). For
/// every other kind its distinctive tokens must also be gone: each token of the span (split
/// at characters that are not letters or digits) that is at least 3 characters long and has a
/// digit or starts with an upper-case letter must not occur as a whole word in the output,
/// except titles and address or label words (`GENERIC`) and words that also occur in the note
/// outside every span (which the masker is right to keep there). So "Mr. Okafor" leaves no
/// "Okafor", and "1432 Larkspur Ave" leaves neither "1432" nor "Larkspur".
fn survived(span: &Span, outside: &BTreeSet<String>, out: &str) -> Option<String> {
    // Safe Harbor's own category for ages over 89 is "90 or older": "who is 90" masked to
    // "who is 90 or older" has left the category, not the age.
    let aggregated = |&(_, j): &(usize, usize)| out[j..].starts_with(" or older");
    if whole(out, &span.text).iter().any(|o| !aggregated(o)) {
        return Some("whole span".into());
    }
    if span.kind == "dates" {
        return None;
    }
    let left: Vec<&str> = words(&span.text)
        .filter(|w| w.chars().count() >= 3)
        .filter(|w| {
            w.chars().any(|c| c.is_ascii_digit())
                || w.chars().next().is_some_and(char::is_uppercase)
        })
        .filter(|w| !GENERIC.contains(w) && !outside.contains(*w))
        .filter(|w| !whole(out, w).is_empty())
        .collect();
    (!left.is_empty()).then(|| format!("token {}", left.join(", ")))
}

#[test]
fn notes_corpus_is_well_formed() {
    let notes = corpus();
    assert!(notes.len() >= MIN_NOTES, "{} notes", notes.len());
    let known: BTreeSet<&str> = IdentifierKind::ALL.iter().map(|k| k.as_str()).collect();
    let mut ids = BTreeSet::new();
    let mut per_kind: BTreeMap<&str, usize> = BTreeMap::new();
    let (mut spans, mut keep) = (0, 0);
    for n in &notes {
        assert!(ids.insert(n.id.as_str()), "duplicate note id {}", n.id);
        let mut seen = BTreeSet::new();
        let mut ranges = Vec::new();
        for s in &n.spans {
            assert!(
                known.contains(s.kind.as_str()),
                "{}: unknown kind {}",
                n.id,
                s.kind
            );
            assert!(
                seen.insert(s.text.as_str()),
                "{}: {:?} marked twice",
                n.id,
                s.text
            );
            let found = whole(&n.text, &s.text);
            assert!(
                !found.is_empty(),
                "{}: span {:?} not in the text",
                n.id,
                s.text
            );
            ranges.extend(found);
            *per_kind.entry(s.kind.as_str()).or_default() += 1;
            spans += 1;
        }
        for k in &n.keep {
            let found = plain(&n.text, k);
            assert!(!found.is_empty(), "{}: keep {:?} not in the text", n.id, k);
            for (i, j) in found {
                for &(a, b) in &ranges {
                    assert!(
                        j <= a || b <= i,
                        "{}: keep {:?} overlaps an identifier",
                        n.id,
                        k
                    );
                }
            }
            keep += 1;
        }
    }
    assert!(spans >= MIN_SPANS, "{spans} identifier spans");
    assert!(keep >= MIN_KEEP, "{keep} keep phrases");
    for (kind, min) in MIN_PER_KIND {
        let got = per_kind.get(kind).copied().unwrap_or(0);
        assert!(got >= min, "{got} spans of {kind}, want {min}");
    }
}

#[test]
fn notes_are_masked_by_safe_harbor() {
    let (recall, kept_share) = score("notes", corpus());
    assert!(
        recall >= MIN_RECALL,
        "recall {recall:.3} is below {MIN_RECALL}"
    );
    assert!(
        kept_share >= MIN_KEPT,
        "kept {kept_share:.3} is below {MIN_KEPT}"
    );
}

/// The held-out corpus (`data/notes/heldout.json`), written later and blind to the detectors,
/// in other styles (portal messages, letters, flow sheets, all-caps dictations...). First
/// measured at recall 0.794, kept 0.987; general rules drawn from what it missed (clinicians
/// with credentials and role words, names found once and seen again, nicknames, schools and
/// churches by their last word, eponyms before disease nouns, more date forms) brought it to
/// 0.912 and 0.997, and the Census and GeoNames word lists to 0.940, so it is now a development set and `blind.json` the measure. Raise the
/// floors, never lower them.
#[test]
fn heldout_notes_are_masked_by_safe_harbor() {
    let (recall, kept_share) = score(
        "held-out notes",
        corpus_of(include_str!("../data/notes/heldout.json")),
    );
    assert!(
        recall >= HELDOUT_MIN_RECALL,
        "held-out recall {recall:.3} is below {HELDOUT_MIN_RECALL}"
    );
    assert!(
        kept_share >= HELDOUT_MIN_KEPT,
        "held-out kept {kept_share:.3} is below {HELDOUT_MIN_KEPT}"
    );
}

/// The blind corpus (`data/notes/blind.json`), written by another hand after the detectors
/// and the held-out corpus, never looked at while changing the detectors: the honest measure
/// of how they generalise. Its floors hold what was first measured.
#[test]
fn blind_notes_are_masked_by_safe_harbor() {
    let (recall, kept_share) = score(
        "blind notes",
        corpus_of(include_str!("../data/notes/blind.json")),
    );
    assert!(
        recall >= BLIND_MIN_RECALL,
        "blind recall {recall:.3} is below {BLIND_MIN_RECALL}"
    );
    assert!(
        kept_share >= BLIND_MIN_KEPT,
        "blind kept {kept_share:.3} is below {BLIND_MIN_KEPT}"
    );
}

/// Masks every note as a plain-text document with the Safe Harbor policy; prints and returns
/// (recall, share of keep phrases kept).
fn score(name: &str, notes: Vec<Note>) -> (f64, f64) {
    let policy = Policy::safe_harbor();
    let key = key(7);
    let mut per_kind: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    let (mut spans, mut removed, mut keep, mut kept) = (0, 0, 0, 0);
    let mut survivors = Vec::new();
    let mut lost = Vec::new();
    for n in notes {
        let (out, _) = mask(n.text.as_bytes(), Some("text/plain"), &policy, &key);
        let outside = outside_words(&n);
        for s in &n.spans {
            let tally = per_kind.entry(s.kind.clone()).or_default();
            tally.1 += 1;
            spans += 1;
            match survived(s, &outside, &out) {
                Some(why) => survivors.push(format!("{} {} {:?} ({why})", n.id, s.kind, s.text)),
                None => {
                    tally.0 += 1;
                    removed += 1;
                }
            }
        }
        for k in &n.keep {
            keep += 1;
            if out.contains(k.as_str()) {
                kept += 1;
            } else {
                lost.push(format!("{} {:?}", n.id, k));
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let recall = ratio(removed, spans);
    let kept_share = ratio(kept, keep);
    println!(
        "{name}: recall {recall:.3} ({removed}/{spans}), kept {kept_share:.3} ({kept}/{keep})"
    );
    for (kind, (r, t)) in &per_kind {
        println!("  {kind:<12} {:.3} ({r}/{t})", ratio(*r, *t));
    }
    println!("identifiers that survived ({}):", survivors.len());
    survivors.iter().for_each(|s| println!("  {s}"));
    println!("keep phrases lost ({}):", lost.len());
    lost.iter().for_each(|s| println!("  {s}"));
    (recall, kept_share)
}

#[test]
fn notes_scoring_rule_looks_at_tokens() {
    let span = |text: &str, kind: &str| Span {
        text: text.into(),
        kind: kind.into(),
    };
    let none = BTreeSet::new();
    let name = span("Mr. Okafor", "names");
    assert!(survived(&name, &none, "Mr. Okafor came").is_some());
    assert!(survived(&name, &none, "Mr. [NAME] (Okafor) came").is_some());
    assert!(survived(&name, &none, "Mr. [NAME] came, Okaforth").is_none());
    let street = span("1432 Larkspur Ave", "geographic");
    assert!(survived(&street, &none, "[ADDRESS] 1432").is_some());
    assert!(survived(&street, &none, "[ADDRESS] Ave").is_none());
    let outside: BTreeSet<String> = ["Grand".to_owned()].into();
    let street = span("881 Grand Ave", "geographic");
    assert!(survived(&street, &outside, "[ADDRESS], a Grand day").is_none());
    let date = span("Jan 5th, 2017", "dates");
    assert!(survived(&date, &none, "Admit: 2017").is_none());
    let age = span("who is 90", "dates");
    assert!(survived(&age, &none, "who is 90 or older, witnessed").is_none());
    assert!(survived(&age, &none, "who is 90, witnessed").is_some());
    assert!(survived(&date, &none, "Admit: Jan 5th, 2017").is_some());
}
