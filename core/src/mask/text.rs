//! Free text: the known-identifier sweep and the pattern scanner.
//!
//! The sweep finds every known value in one pass with an Aho-Corasick automaton
//! (`needles.rs`) and applies its own whole-word rules; the pattern scanner is a hand-written
//! byte scanner rather than regular expressions, which keeps the wasm small and the behaviour
//! easy to read. Matches always start and end on ASCII bytes, so slicing at them never splits
//! a UTF-8 character.

use super::date::{FhirDate, days_from_civil, days_in_month};
use super::needles::Needles;
use super::policy::{IdentifierKind, Method, TextPattern};

/// Rule name under which sweep hits are reported.
pub const SWEEP_RULE: &str = "known-identifier-sweep";

/// One replacement made in a piece of text: the rule, the kind, the byte range replaced and
/// the length of what replaced it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Hit {
    pub(crate) rule: &'static str,
    pub(crate) kind: IdentifierKind,
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) len: usize,
}

/// One value the record itself reveals, to be removed wherever it appears.
#[derive(Debug)]
struct Needle {
    lower: Vec<u8>,
    kind: IdentifierKind,
}

/// The values the record's own people reveal, collected before masking.
#[derive(Debug, Default)]
pub struct Sweep {
    needles: Vec<Needle>,
    seen: std::collections::HashSet<Vec<u8>>,
    min_len: usize,
    /// One automaton for all needles, made at the first search after the last addition.
    matcher: std::cell::OnceCell<Needles>,
}

/// The replacement text shown in place of a removed value of a kind.
#[must_use]
pub fn placeholder(kind: IdentifierKind) -> &'static str {
    match kind {
        IdentifierKind::Names => "[NAME]",
        IdentifierKind::Geographic => "[ADDRESS]",
        IdentifierKind::Dates => "[DATE]",
        IdentifierKind::Telephone | IdentifierKind::Fax => "[PHONE]",
        IdentifierKind::Email => "[EMAIL]",
        IdentifierKind::Url => "[URL]",
        IdentifierKind::Ip => "[IP]",
        _ => "[ID]",
    }
}

impl Sweep {
    /// Adds a value and its common spellings (digits only for numbers, other date layouts).
    pub fn add(&mut self, value: &str, kind: IdentifierKind) {
        let value = value.trim();
        if value.chars().count() < 2 {
            return;
        }
        // States and the country may stay (Safe Harbor): a birthplace or address that names
        // one must not make it vanish from the rest of the record.
        if kind == IdentifierKind::Geographic && super::zip::is_state_or_country(value) {
            return;
        }
        self.push(value, kind);
        let digits: String = value.chars().filter(char::is_ascii_digit).collect();
        let mostly_digits = digits.len() >= 7
            && value
                .chars()
                .all(|c| c.is_ascii_digit() || " -.()+/".contains(c));
        if mostly_digits
            && matches!(
                kind,
                IdentifierKind::Telephone | IdentifierKind::Fax | IdentifierKind::Ssn
            )
        {
            self.push(&digits, kind);
            if digits.len() == 10 {
                let (a, b, c) = (&digits[..3], &digits[3..6], &digits[6..]);
                for v in [
                    format!("({a}) {b}-{c}"),
                    format!("({a}){b}-{c}"),
                    format!("{a}-{b}-{c}"),
                    format!("{a}.{b}.{c}"),
                    format!("{a} {b} {c}"),
                ] {
                    self.push(&v, kind);
                }
            }
            if digits.len() == 9 && kind == IdentifierKind::Ssn {
                let (a, b, c) = (&digits[..3], &digits[3..5], &digits[5..]);
                self.push(&format!("{a}-{b}-{c}"), kind);
                self.push(&format!("{a} {b} {c}"), kind);
            }
        }
        if kind == IdentifierKind::Dates
            && let Some(d) = FhirDate::parse(value)
            && let (Some(m), Some(day)) = (d.month, d.day)
        {
            let y = d.year;
            self.push(&format!("{y:04}-{m:02}-{day:02}"), kind);
            self.push(&format!("{m:02}/{day:02}/{y:04}"), kind);
            self.push(&format!("{m}/{day}/{y:04}"), kind);
            self.push(&format!("{day:02}.{m:02}.{y:04}"), kind);
            let month = MONTHS[(m - 1) as usize];
            self.push(&format!("{month} {day}, {y:04}"), kind);
            self.push(&format!("{day} {month} {y:04}"), kind);
        }
    }

    /// How many values the sweep looks for; it only grows, so a change means new needles.
    pub(crate) fn needle_count(&self) -> usize {
        self.needles.len()
    }

    fn push(&mut self, value: &str, kind: IdentifierKind) {
        let lower = value.to_ascii_lowercase().into_bytes();
        if !self.seen.insert(lower.clone()) {
            return;
        }
        // Longest first, so "Carolee951 Sanford861" wins over "Carolee951".
        let at = self
            .needles
            .partition_point(|n| n.lower.len() >= lower.len());
        self.min_len = if self.needles.is_empty() {
            lower.len()
        } else {
            self.min_len.min(lower.len())
        };
        self.needles.insert(at, Needle { lower, kind });
        self.matcher = std::cell::OnceCell::new();
    }

    /// Replaces every whole-word occurrence (ignoring ASCII case) of a known value.
    pub(crate) fn apply(&self, s: &str, hit: &mut dyn FnMut(Hit)) -> Option<String> {
        if self.needles.is_empty() || s.len() < self.min_len {
            return None;
        }
        let found = self.find(s.as_bytes());
        if found.is_empty() {
            return None;
        }
        let mut out = String::with_capacity(s.len());
        let mut at = 0;
        for (a, b, kind) in found {
            out.push_str(&s[at..a]);
            let p = placeholder(kind);
            out.push_str(p);
            hit(Hit {
                rule: SWEEP_RULE,
                kind,
                start: a,
                end: b,
                len: p.len(),
            });
            at = b;
        }
        out.push_str(&s[at..]);
        Some(out)
    }
}

impl Sweep {
    /// The whole-word occurrences to replace, sorted and disjoint: needles in order (longest
    /// first), each one's occurrences left to right as a plain substring search finds them
    /// (a match hides the occurrences that overlap it), each kept when it is a whole word and
    /// overlaps nothing kept before.
    fn find(&self, hay: &[u8]) -> Vec<(usize, usize, IdentifierKind)> {
        let matcher = self
            .matcher
            .get_or_init(|| Needles::new(self.needles.iter().map(|n| n.lower.as_slice())));
        let mut all: Vec<(u32, usize)> = Vec::new();
        matcher.find_all(hay, &mut |k, start| all.push((k, start)));
        if all.is_empty() {
            return Vec::new();
        }
        all.sort_unstable();
        // Kept matches by start; disjoint, so the one starting last before a range's end is
        // the only one that can overlap it.
        let mut kept: std::collections::BTreeMap<usize, (usize, IdentifierKind)> =
            std::collections::BTreeMap::new();
        let mut current = u32::MAX;
        let mut searched_to = 0;
        for (k, start) in all {
            if k != current {
                current = k;
                searched_to = 0;
            }
            if start < searched_to {
                continue;
            }
            let n = &self.needles[k as usize];
            let end = start + n.lower.len();
            searched_to = end;
            let word_start = !n.lower[0].is_ascii_alphanumeric()
                || start == 0
                || !hay[start - 1].is_ascii_alphanumeric();
            let word_end = !n.lower[n.lower.len() - 1].is_ascii_alphanumeric()
                || end == hay.len()
                || !hay[end].is_ascii_alphanumeric();
            let overlaps = kept
                .range(..end)
                .next_back()
                .is_some_and(|(_, &(e, _))| e > start);
            if word_start && word_end && !overlaps {
                kept.insert(start, (end, n.kind));
            }
        }
        kept.into_iter()
            .map(|(a, (b, kind))| (a, b, kind))
            .collect()
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// How the pattern scanner treats what it finds.
#[derive(Clone, Copy, Debug)]
pub struct Scanner<'a> {
    /// Patterns to look for.
    pub patterns: &'a [TextPattern],
    /// What happens to dates.
    pub dates: Method,
    /// The patient's date shift, for `date-shift`.
    pub shift_days: i64,
}

/// Rule names for the report, one per pattern.
#[must_use]
pub fn pattern_rule(p: TextPattern) -> &'static str {
    match p {
        TextPattern::Phone => "text-pattern:phone",
        TextPattern::Email => "text-pattern:email",
        TextPattern::Ssn => "text-pattern:ssn",
        TextPattern::Url => "text-pattern:url",
        TextPattern::Ip => "text-pattern:ip",
        TextPattern::Date => "text-pattern:date",
        TextPattern::Age => "text-pattern:age",
        TextPattern::Name => "text-pattern:name",
        TextPattern::Place => "text-pattern:place",
        TextPattern::Employer => "text-pattern:employer",
        TextPattern::Identifier => "text-pattern:identifier",
    }
}

fn is_email_local(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'%' | b'+' | b'-')
}

fn is_email_domain(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'.' | b'-')
}

fn run(b: &[u8], i: usize, max: usize, pred: fn(u8) -> bool) -> usize {
    let mut j = i;
    while j < b.len() && j - i < max && pred(b[j]) {
        j += 1;
    }
    j - i
}

fn is_digit(c: u8) -> bool {
    c.is_ascii_digit()
}

fn num(b: &[u8]) -> u32 {
    b.iter().fold(0u32, |n, d| {
        n.saturating_mul(10).saturating_add(u32::from(d - b'0'))
    })
}

/// Exactly `n` digits at `i`, not followed by another digit.
fn exact_digits(b: &[u8], i: usize, n: usize) -> bool {
    run(b, i, n + 1, is_digit) == n
}

enum DateStyle {
    Iso,
    Us,
    Long,
}

/// The enabled patterns as a bit set, tested at every byte.
#[derive(Clone, Copy)]
struct Enabled(u32);

impl Enabled {
    fn of(patterns: &[TextPattern]) -> Self {
        Self(patterns.iter().fold(0, |set, &p| set | 1 << p as u32))
    }

    fn has(self, p: TextPattern) -> bool {
        self.0 & 1 << p as u32 != 0
    }
}

impl<'a> Scanner<'a> {
    /// Scans text for the enabled patterns and replaces what it finds.
    pub(crate) fn apply(&self, s: &str, hit: &mut dyn FnMut(Hit)) -> Option<String> {
        if self.patterns.is_empty() {
            return None;
        }
        let b = s.as_bytes();
        let prose = super::prose::find(s, self.patterns, self.dates);
        // Every match of `match_at` holds an ASCII digit (dates, numbers, ages), an `@`
        // (emails) or a URL's `://` or `www.`: in a string with none of these only prose spans
        // can be found, so the byte-by-byte pattern tests are skipped.
        let patterns = b.iter().any(|&c| c.is_ascii_digit() || c == b'@')
            || memchr::memmem::find(b, b"://").is_some()
            || b.windows(4).any(|w| w.eq_ignore_ascii_case(b"www."));
        if !patterns && prose.is_empty() {
            return None;
        }
        let on = Enabled::of(self.patterns);
        let mut next_prose = 0;
        let mut out: Option<String> = None;
        let mut copied = 0;
        let mut i = 0;
        while i < b.len() {
            let c = b[i];
            let prev = if i == 0 { b' ' } else { b[i - 1] };
            let mut found = if patterns && c.is_ascii() {
                self.match_at(on, b, i, prev)
                    .map(|(e, p, r)| (e, p, r, p.kind()))
            } else {
                None
            };
            // A prose span starting here wins over a shorter pattern match.
            while prose.get(next_prose).is_some_and(|p| p.start < i) {
                next_prose += 1;
            }
            if let Some(p) = prose.get(next_prose).filter(|p| p.start == i)
                && found.as_ref().is_none_or(|f| f.0 < p.end)
            {
                found = Some((p.end, p.pattern, p.replacement.clone(), p.kind));
            }
            match found {
                Some((end, pattern, replacement, kind)) => {
                    let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                    o.push_str(&s[copied..i]);
                    o.push_str(&replacement);
                    hit(Hit {
                        rule: pattern_rule(pattern),
                        kind,
                        start: i,
                        end,
                        len: replacement.len(),
                    });
                    copied = end;
                    i = end;
                }
                None => i += 1,
            }
        }
        let mut o = out?;
        o.push_str(&s[copied..]);
        Some(o)
    }

    fn match_at(
        &self,
        on: Enabled,
        b: &[u8],
        i: usize,
        prev: u8,
    ) -> Option<(usize, TextPattern, String)> {
        let c = b[i];
        if on.has(TextPattern::Url)
            && !prev.is_ascii_alphanumeric()
            && matches!(c, b'h' | b'H' | b'w' | b'W')
            && let Some(end) = url_at(b, i)
        {
            return Some((
                end,
                TextPattern::Url,
                placeholder(IdentifierKind::Url).to_owned(),
            ));
        }
        if on.has(TextPattern::Email)
            && is_email_local(c)
            && !is_email_local(prev)
            && c != b'.'
            && let Some(end) = email_at(b, i)
        {
            return Some((
                end,
                TextPattern::Email,
                placeholder(IdentifierKind::Email).to_owned(),
            ));
        }
        let digit_start = c.is_ascii_digit() && !prev.is_ascii_digit();
        if on.has(TextPattern::Date) && self.dates != Method::Keep {
            let word_start = !prev.is_ascii_alphanumeric();
            let date = if digit_start && word_start {
                iso_date_at(b, i)
                    .or_else(|| us_date_at(b, i))
                    .or_else(|| day_month_year_at(b, i))
            } else if c.is_ascii_alphabetic() && word_start {
                month_day_year_at(b, i)
            } else {
                None
            };
            if let Some((end, y, m, d, time, style)) = date {
                return Some((
                    end,
                    TextPattern::Date,
                    self.date_replacement(y, m, d, time, style),
                ));
            }
        }
        if on.has(TextPattern::Ip)
            && digit_start
            && prev != b'.'
            && !prev.is_ascii_alphabetic()
            && let Some(end) = ip_at(b, i)
        {
            return Some((
                end,
                TextPattern::Ip,
                placeholder(IdentifierKind::Ip).to_owned(),
            ));
        }
        if on.has(TextPattern::Ssn)
            && digit_start
            && prev != b'-'
            && let Some(end) = ssn_at(b, i)
        {
            return Some((
                end,
                TextPattern::Ssn,
                placeholder(IdentifierKind::Ssn).to_owned(),
            ));
        }
        if on.has(TextPattern::Phone)
            && (digit_start || ((c == b'(' || c == b'+') && !prev.is_ascii_digit()))
            && prev != b'-'
            && let Some(end) = phone_at(b, i)
        {
            return Some((
                end,
                TextPattern::Phone,
                placeholder(IdentifierKind::Telephone).to_owned(),
            ));
        }
        if on.has(TextPattern::Age)
            && digit_start
            && !prev.is_ascii_alphabetic()
            && prev != b'.'
            && let Some(end) = old_age_at(b, i)
        {
            return Some((end, TextPattern::Age, "90 or older".to_owned()));
        }
        None
    }

    fn date_replacement(&self, y: i32, m: u32, d: u32, time: &str, style: DateStyle) -> String {
        match self.dates {
            Method::Generalize => format!("{y:04}"),
            Method::DateShift => {
                let (y2, m2, d2) =
                    super::date::civil_from_days(days_from_civil(y, m, d) + self.shift_days);
                match style {
                    DateStyle::Iso => format!("{y2:04}-{m2:02}-{d2:02}{time}"),
                    DateStyle::Us => format!("{m2:02}/{d2:02}/{y2:04}"),
                    DateStyle::Long => format!("{} {d2}, {y2:04}", MONTHS[(m2 - 1) as usize]),
                }
            }
            _ => placeholder(IdentifierKind::Dates).to_owned(),
        }
    }
}

fn url_at(b: &[u8], i: usize) -> Option<usize> {
    let rest = &b[i..];
    let lower_starts = |p: &[u8]| rest.len() > p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
    let skip = if lower_starts(b"https://") {
        8
    } else if lower_starts(b"http://") {
        7
    } else if lower_starts(b"www.") {
        4
    } else {
        return None;
    };
    let mut j = i + skip;
    while j < b.len()
        && !b[j].is_ascii_whitespace()
        && !matches!(b[j], b'<' | b'>' | b'"' | b'\'' | b'`')
    {
        j += 1;
    }
    while j > i + skip && matches!(b[j - 1], b'.' | b',' | b';' | b':' | b')' | b'!' | b'?') {
        j -= 1;
    }
    if j == i + skip {
        return None;
    }
    // Standards bodies' addresses (the XHTML namespace of every narrative, code systems) say
    // nothing about a person, and removing them would break the markup.
    let host_start = if skip == 4 { i } else { i + skip };
    let host_end = b[host_start..j]
        .iter()
        .position(|&c| matches!(c, b'/' | b':' | b'?' | b'#'))
        .map_or(j, |p| host_start + p);
    let host = b[host_start..host_end].to_ascii_lowercase();
    let public = STANDARD_HOSTS
        .iter()
        .any(|h| host == h.as_bytes() || host.ends_with(format!(".{h}").as_bytes()));
    (!public).then_some(j)
}

/// Hosts of standards and terminologies whose URLs are kept in free text.
const STANDARD_HOSTS: [&str; 7] = [
    "w3.org",
    "hl7.org",
    "loinc.org",
    "snomed.info",
    "unitsofmeasure.org",
    "nlm.nih.gov",
    "cdc.gov",
];

fn email_at(b: &[u8], i: usize) -> Option<usize> {
    let local = run(b, i, 64, is_email_local);
    let at = i + local;
    if local == 0 || at >= b.len() || b[at] != b'@' {
        return None;
    }
    let mut end = at + 1 + run(b, at + 1, 253, is_email_domain);
    while end > at + 1 && matches!(b[end - 1], b'.' | b'-') {
        end -= 1;
    }
    let domain = &b[at + 1..end];
    let dot = domain.iter().rposition(|&c| c == b'.')?;
    let tld = &domain[dot + 1..];
    (dot > 0 && tld.len() >= 2 && tld.iter().all(u8::is_ascii_alphabetic)).then_some(end)
}

fn ip_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    for part in 0..4 {
        let n = run(b, j, 4, is_digit);
        if n == 0 || n > 3 || num(&b[j..j + n]) > 255 {
            return None;
        }
        j += n;
        if part < 3 {
            if j >= b.len() || b[j] != b'.' {
                return None;
            }
            j += 1;
        }
    }
    let next_ok = j >= b.len()
        || !(b[j].is_ascii_alphanumeric()
            || (b[j] == b'.' && j + 1 < b.len() && b[j + 1].is_ascii_digit()));
    next_ok.then_some(j)
}

fn ssn_at(b: &[u8], i: usize) -> Option<usize> {
    if !exact_digits(b, i, 3) || b.len() < i + 11 {
        return None;
    }
    let sep = b[i + 3];
    if !(sep == b'-' || sep == b' ')
        || b[i + 6] != sep
        || !exact_digits(b, i + 4, 2)
        || !exact_digits(b, i + 7, 4)
    {
        return None;
    }
    let end = i + 11;
    (end >= b.len() || !(b[end].is_ascii_alphanumeric() || b[end] == b'-')).then_some(end)
}

fn phone_at(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    // Country code: "+1" or "1" followed by a separator.
    if b[j] == b'+' {
        j += 1;
        let n = run(b, j, 4, is_digit);
        if n == 0 || n > 3 {
            return None;
        }
        j += n;
        if j < b.len() && matches!(b[j], b' ' | b'-' | b'.') {
            j += 1;
        }
    } else if b[j] == b'1'
        && j + 1 < b.len()
        && matches!(b[j + 1], b' ' | b'-' | b'.')
        && exact_digits(b, j + 2, 3)
    {
        j += 2;
    }
    if j < b.len() && b[j] == b'(' {
        if !exact_digits(b, j + 1, 3) || b.get(j + 4) != Some(&b')') {
            return None;
        }
        j += 5;
        if j < b.len() && b[j] == b' ' {
            j += 1;
        }
    } else {
        if !exact_digits(b, j, 3) {
            return None;
        }
        j += 3;
        if j >= b.len() || !matches!(b[j], b'-' | b'.' | b' ') {
            return None;
        }
        j += 1;
    }
    if !exact_digits(b, j, 3) {
        return None;
    }
    j += 3;
    if j >= b.len() || !matches!(b[j], b'-' | b'.' | b' ') {
        return None;
    }
    j += 1;
    if !exact_digits(b, j, 4) {
        return None;
    }
    j += 4;
    (j >= b.len() || !(b[j].is_ascii_alphanumeric() || b[j] == b'-')).then_some(j)
}

type DateMatch<'t> = (usize, i32, u32, u32, &'t str, DateStyle);

fn valid_ymd(y: u32, m: u32, d: u32) -> bool {
    (1800..=2200).contains(&y) && (1..=12).contains(&m) && d >= 1 && d <= days_in_month(y as i32, m)
}

fn iso_date_at(b: &[u8], i: usize) -> Option<DateMatch<'_>> {
    if !exact_digits(b, i, 4)
        || b.get(i + 4) != Some(&b'-')
        || !exact_digits(b, i + 5, 2)
        || b.get(i + 7) != Some(&b'-')
        || !exact_digits(b, i + 8, 2)
    {
        return None;
    }
    let (y, m, d) = (
        num(&b[i..i + 4]),
        num(&b[i + 5..i + 7]),
        num(&b[i + 8..i + 10]),
    );
    if !valid_ymd(y, m, d) {
        return None;
    }
    let mut end = i + 10;
    // A time of day: Thh:mm[:ss[.fff]][Z|+hh:mm].
    if b.get(end) == Some(&b'T') && exact_digits(b, end + 1, 2) && b.get(end + 3) == Some(&b':') {
        let mut j = end + 1;
        while j < b.len()
            && (b[j].is_ascii_digit() || matches!(b[j], b':' | b'.' | b'Z' | b'+' | b'-'))
        {
            j += 1;
        }
        end = j;
    }
    if end < b.len() && b[end].is_ascii_alphanumeric() {
        return None;
    }
    let time = std::str::from_utf8(&b[i + 10..end]).ok()?;
    Some((end, y as i32, m, d, time, DateStyle::Iso))
}

fn us_date_at(b: &[u8], i: usize) -> Option<DateMatch<'_>> {
    let m_len = run(b, i, 3, is_digit);
    if !(1..=2).contains(&m_len) || b.get(i + m_len) != Some(&b'/') {
        return None;
    }
    let j = i + m_len + 1;
    let d_len = run(b, j, 3, is_digit);
    if !(1..=2).contains(&d_len) || b.get(j + d_len) != Some(&b'/') {
        return None;
    }
    let k = j + d_len + 1;
    if !exact_digits(b, k, 4) {
        return None;
    }
    let (m, d, y) = (
        num(&b[i..i + m_len]),
        num(&b[j..j + d_len]),
        num(&b[k..k + 4]),
    );
    let end = k + 4;
    (valid_ymd(y, m, d) && (end >= b.len() || !b[end].is_ascii_alphanumeric())).then_some((
        end,
        y as i32,
        m,
        d,
        "",
        DateStyle::Us,
    ))
}

fn month_at(b: &[u8], i: usize) -> Option<(u32, usize)> {
    let n = run(b, i, 10, |c| c.is_ascii_alphabetic());
    if n < 3 {
        return None;
    }
    let word = &b[i..i + n];
    for (k, name) in MONTHS.iter().enumerate() {
        let name = name.as_bytes();
        let abbrev = n == 3 || (n == 4 && word[3] == b'.');
        if word.eq_ignore_ascii_case(name) || (abbrev && word[..3].eq_ignore_ascii_case(&name[..3]))
        {
            let mut end = i + n;
            if b.get(end) == Some(&b'.') {
                end += 1;
            }
            return Some((k as u32 + 1, end));
        }
    }
    None
}

fn month_day_year_at(b: &[u8], i: usize) -> Option<DateMatch<'_>> {
    let (m, mut j) = month_at(b, i)?;
    if b.get(j) != Some(&b' ') {
        return None;
    }
    j += 1;
    let d_len = run(b, j, 3, is_digit);
    if !(1..=2).contains(&d_len) {
        return None;
    }
    let d = num(&b[j..j + d_len]);
    j += d_len;
    if b.get(j) == Some(&b',') {
        j += 1;
    }
    if b.get(j) != Some(&b' ') || !exact_digits(b, j + 1, 4) {
        return None;
    }
    let y = num(&b[j + 1..j + 5]);
    let end = j + 5;
    valid_ymd(y, m, d).then_some((end, y as i32, m, d, "", DateStyle::Long))
}

fn day_month_year_at(b: &[u8], i: usize) -> Option<DateMatch<'_>> {
    let d_len = run(b, i, 3, is_digit);
    if !(1..=2).contains(&d_len) || b.get(i + d_len) != Some(&b' ') {
        return None;
    }
    let d = num(&b[i..i + d_len]);
    let (m, j) = month_at(b, i + d_len + 1)?;
    if b.get(j) != Some(&b' ') || !exact_digits(b, j + 1, 4) {
        return None;
    }
    let y = num(&b[j + 1..j + 5]);
    valid_ymd(y, m, d).then_some((j + 5, y as i32, m, d, "", DateStyle::Long))
}

/// "92 year-old", "92-year-old", "92 years old", "92 yo", "92 y/o" with a number over 89.
fn old_age_at(b: &[u8], i: usize) -> Option<usize> {
    let n = run(b, i, 4, is_digit);
    if !(2..=3).contains(&n) {
        return None;
    }
    let age = num(&b[i..i + n]);
    if age <= 89 || age > 150 {
        return None;
    }
    let mut j = i + n;
    if matches!(b.get(j), Some(b' ' | b'-')) {
        j += 1;
    }
    let rest = &b[j..];
    let starts = |p: &[u8]| rest.len() >= p.len() && rest[..p.len()].eq_ignore_ascii_case(p);
    let unit = [
        &b"years-old"[..],
        b"year-old",
        b"years old",
        b"year old",
        b"years",
        b"year",
        b"yrs",
        b"yr",
        b"y/o",
        b"yo",
    ]
    .into_iter()
    .find(|p| starts(p))?;
    let end = j + unit.len();
    (end >= b.len() || !b[end].is_ascii_alphanumeric()).then_some(end)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(s: &str, dates: Method) -> String {
        let all = [
            TextPattern::Phone,
            TextPattern::Email,
            TextPattern::Ssn,
            TextPattern::Url,
            TextPattern::Ip,
            TextPattern::Date,
            TextPattern::Age,
        ];
        let sc = Scanner {
            patterns: &all,
            dates,
            shift_days: 10,
        };
        sc.apply(s, &mut |_| {}).unwrap_or_else(|| s.to_owned())
    }

    #[test]
    fn patterns() {
        assert_eq!(
            scan(
                "Call (555) 657-5098 or 555.657.5098, mail a.b@example.org, see https://x.org/a.",
                Method::Generalize
            ),
            "Call [PHONE] or [PHONE], mail [EMAIL], see [URL]."
        );
        assert_eq!(
            scan("SSN 999-33-5538 from 10.0.0.12", Method::Generalize),
            "SSN [ID] from [IP]"
        );
        assert_eq!(
            scan(
                "seen 2003-06-12T12:26:53-07:00 and 6/12/2003, June 12, 2003",
                Method::Generalize
            ),
            "seen 2003 and 2003, 2003"
        );
        assert_eq!(
            scan("seen 2003-06-12 and 06/12/2003", Method::DateShift),
            "seen 2003-06-22 and 06/22/2003"
        );
        assert_eq!(
            scan("a 92 year-old man, 45 years old", Method::Generalize),
            "a 90 or older man, 45 years old"
        );
        assert_eq!(
            scan(
                "seed: -4045212109268654805 v2.5.0-32-g5503ea1 LOINC 8302-2 value 167.7",
                Method::Generalize
            ),
            "seed: -4045212109268654805 v2.5.0-32-g5503ea1 LOINC 8302-2 value 167.7"
        );
    }

    #[test]
    fn sweep_whole_words_any_case() {
        let mut s = Sweep::default();
        s.add("Carolee951", IdentifierKind::Names);
        s.add("555-657-5098", IdentifierKind::Telephone);
        s.add("Ann", IdentifierKind::Names);
        let out = s.apply(
            "CAROLEE951 called 5556575098; Annual visit with Ann.",
            &mut |_| {},
        );
        assert_eq!(
            out.as_deref(),
            Some("[NAME] called [PHONE]; Annual visit with [NAME].")
        );
    }

    /// The sweep's search before it had one automaton for all needles: one substring search
    /// per needle, longest first. The automaton must find exactly the same.
    fn reference_find(sweep: &Sweep, s: &str) -> Vec<(usize, usize, IdentifierKind)> {
        let lower = s.to_ascii_lowercase();
        let hay = lower.as_bytes();
        let mut found: Vec<(usize, usize, IdentifierKind)> = Vec::new();
        for n in &sweep.needles {
            if n.lower.len() > hay.len() {
                continue;
            }
            for start in memchr::memmem::find_iter(hay, &n.lower) {
                let end = start + n.lower.len();
                let word_start = !n.lower[0].is_ascii_alphanumeric()
                    || start == 0
                    || !hay[start - 1].is_ascii_alphanumeric();
                let word_end = !n.lower[n.lower.len() - 1].is_ascii_alphanumeric()
                    || end == hay.len()
                    || !hay[end].is_ascii_alphanumeric();
                if word_start && word_end && !found.iter().any(|&(a, b, _)| start < b && a < end) {
                    found.push((start, end, n.kind));
                }
            }
        }
        found.sort_by_key(|r| r.0);
        found
    }

    #[test]
    fn sweep_keeps_its_matching_rules() {
        let mut s = Sweep::default();
        for v in ["a-a", "aa", "Bob", "Bob Lee", "-"] {
            s.push(v, IdentifierKind::Names);
        }
        for hay in ["ba-a-a", "aaa aa", "bob lee bob", "a-a-a-a", "x-y"] {
            assert_eq!(s.find(hay.as_bytes()), reference_find(&s, hay), "{hay}");
        }
        // A needle added after a search is found by the next one.
        s.push("zed", IdentifierKind::Names);
        assert_eq!(s.find(b"a zed"), vec![(2, 5, IdentifierKind::Names)]);
    }

    #[cfg(not(target_arch = "wasm32"))]
    mod props {
        use proptest::prelude::*;

        use super::*;

        proptest! {
            #[test]
            fn one_automaton_finds_what_one_search_per_needle_found(
                needles in proptest::collection::vec(("[aA1 .-]{1,5}", 0..3u8), 1..12),
                hay in "[aAb1 .-]{0,60}",
            ) {
                let mut s = Sweep::default();
                for (v, k) in &needles {
                    let kind = [IdentifierKind::Names, IdentifierKind::Dates, IdentifierKind::Ssn][*k as usize];
                    s.push(v, kind);
                }
                prop_assert_eq!(s.find(hay.as_bytes()), reference_find(&s, &hay));
            }
        }
    }
}
