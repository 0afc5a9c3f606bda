//! The masking engine for one input: the policy compiled, the known identifiers learned in a
//! pre-pass, pseudonyms and date shifts per patient, and the free-text checks shared by the
//! FHIR walker (`fhir.rs`), CSV (`csv.rs`) and plain-text documents.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::date::FhirDate;
use super::fasthash::FastMap;
use super::key::PseudonymKey;
use super::policy::{
    DataType, FreeText, IdentifierKind, Method, OneOrMany, Policy, Rule, TextPattern,
};
use super::preview::{TextEdits, TextHit};
use super::report::Tally;
use super::text::{Hit, Scanner, Sweep};

/// Resource types whose own details are the patient's (or a relative's) identifiers.
pub(super) const PERSON_TYPES: [&str; 3] = ["Patient", "RelatedPerson", "Person"];

/// Rule under which prose removed whole (`free_text: remove`) is counted.
pub(crate) const FREE_TEXT_REMOVE_RULE: &str = "free-text-remove";

pub(super) const FREE_TEXT_REMOVE_NOTE: &str = "Notes, narratives, comments, descriptions and text documents were removed entirely, as the policy asks; structured data was kept.";

pub(super) struct CompiledRule<'p> {
    pub(super) rule: &'p Rule,
    pub(super) resources: Option<&'p [String]>,
    pub(super) path_resource: Option<&'p str>,
    pub(super) path: Option<Vec<&'p str>>,
    pub(super) types: Option<&'p [DataType]>,
    pub(super) extension: Option<&'p str>,
}

/// The two passes of the free-text checks, collected for the preview.
#[derive(Default)]
pub(super) struct TextHits {
    pub(super) sweep: Vec<TextHit<'static>>,
    pub(super) patterns: Vec<TextHit<'static>>,
}

/// The masking engine for one input.
pub(crate) struct Engine<'p> {
    pub(super) policy: &'p Policy,
    pub(super) key: &'p PseudonymKey,
    pub(super) rules: Vec<CompiledRule<'p>>,
    pub(crate) sweep: Sweep,
    pub(crate) tally: Tally,
    pub(super) patients: std::collections::HashSet<String>,
    /// The date ages are computed at: the caller's, else the latest in the record.
    pub(super) as_of: Option<(i32, u32, u32)>,
    pub(super) latest: Option<(i32, u32, u32)>,
    pub(super) pseudonyms: HashMap<String, String>,
    pub(super) shifts: HashMap<String, i64>,
    /// The NDJSON line being masked, to name a resource without an id in the preview.
    pub(crate) line: Option<usize>,
    /// The policy's text patterns without the prose detectors, for coded display strings.
    pub(super) coded_patterns: Vec<TextPattern>,
    /// Whether the string being scanned is a coded display (terminology words, not prose).
    pub(super) coded: bool,
    /// Whether the object whose members are being walked is a CodeableConcept.
    pub(super) in_codeable: bool,
    /// What the free-text checks made of short strings already scanned (see `ScanCache`).
    scanned: ScanCache,
}

/// The free-text checks' results for short strings, by the settings they ran under.
///
/// A record repeats its short strings many times (a Synthea bundle scans each terminology
/// display, label and timestamp dozens of times), and the checks are a pure function of the
/// string, the sweep's needles, whether the patterns run, which set of them (`coded`) and the
/// patient's date shift. So each result is kept and replayed: the same output, the same hits
/// counted in the same order. Adding a needle changes the sweep, so the cache is emptied when
/// the number of needles (which only grows) changes.
#[derive(Default)]
struct ScanCache {
    needles: usize,
    entries: usize,
    by_mode: HashMap<ScanMode, FastMap<String, Scanned>>,
}

/// The settings a string is scanned under, apart from the sweep.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct ScanMode {
    patterns: bool,
    coded: bool,
    shift_days: i64,
}

/// One scan's result: the new string (`None` if unchanged) and its hits, in the order found.
struct Scanned {
    out: Option<String>,
    sweep: Vec<Hit>,
    patterns: Vec<(Hit, Method)>,
}

/// Longer strings (notes, narratives) are rarely repeated: they are scanned every time.
const SCAN_CACHE_MAX_LEN: usize = 256;
/// A bound on the cache's size for inputs with very many distinct short strings.
const SCAN_CACHE_MAX_ENTRIES: usize = 1 << 16;

/// `map.contains_key(key)`, by comparing the names of a small object rather than hashing:
/// the walker asks each object of a record for several names, and most have a few members.
pub(super) fn has_key(map: &Map<String, Value>, key: &str) -> bool {
    if map.len() <= 8 {
        map.keys().any(|k| k == key)
    } else {
        map.contains_key(key)
    }
}

/// `map.get(key)`, like [`has_key`].
pub(super) fn get_key<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    if map.len() <= 8 {
        map.iter().find_map(|(k, v)| (k == key).then_some(v))
    } else {
        map.get(key)
    }
}

/// The id a reference points at: `Patient/123` and `urn:uuid:123` both give `123`.
pub(super) fn reference_id(r: &str) -> &str {
    let r = r.split(['?', '#']).next().unwrap_or(r);
    let r = r.split("/_history/").next().unwrap_or(r);
    r.rsplit(['/', ':']).next().unwrap_or(r)
}

pub(super) fn kind_of_system(system: &str) -> IdentifierKind {
    match system {
        "fax" => IdentifierKind::Fax,
        "email" => IdentifierKind::Email,
        "url" => IdentifierKind::Url,
        _ => IdentifierKind::Telephone,
    }
}

pub(super) fn kind_of_identifier(id: &Map<String, Value>) -> IdentifierKind {
    let code = id
        .get("type")
        .and_then(|t| t.get("coding"))
        .and_then(Value::as_array)
        .and_then(|c| c.iter().find_map(|c| c.get("code").and_then(Value::as_str)))
        .unwrap_or("");
    let system = id.get("system").and_then(Value::as_str).unwrap_or("");
    match code {
        "SS" | "SB" => IdentifierKind::Ssn,
        "MR" | "MRT" | "PI" => IdentifierKind::Mrn,
        "DL" | "PPN" | "LN" | "CZ" | "NI" => IdentifierKind::License,
        "MB" | "MA" | "MC" | "SN" | "NH" => IdentifierKind::HealthPlan,
        "AN" | "ANON" | "BA" | "BC" => IdentifierKind::Account,
        _ if system.ends_with("us-ssn") => IdentifierKind::Ssn,
        _ if system.contains("passport") => IdentifierKind::License,
        _ => IdentifierKind::Other,
    }
}

pub(super) fn is_textual(content_type: &str) -> bool {
    let ct = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    ct.starts_with("text/")
        || ct.ends_with("+json")
        || ct.ends_with("+xml")
        || matches!(
            ct.as_str(),
            "application/json"
                | "application/xml"
                | "application/xhtml+xml"
                | "application/rtf"
                | "application/x-ndjson"
                | "application/csv"
        )
}

impl<'p> Engine<'p> {
    pub(crate) fn new(
        policy: &'p Policy,
        key: &'p PseudonymKey,
        as_of: Option<(i32, u32, u32)>,
    ) -> Self {
        let rules = policy
            .rules
            .iter()
            .map(|rule| {
                let s = &rule.selector;
                let mut path_resource = None;
                let path = s.path.as_deref().map(|p| {
                    let mut segs: Vec<&str> = p.split('.').collect();
                    if segs.len() > 1 && segs[0].starts_with(|c: char| c.is_ascii_uppercase()) {
                        path_resource = Some(segs.remove(0));
                    }
                    segs
                });
                CompiledRule {
                    rule,
                    resources: s.resource.as_ref().map(OneOrMany::as_slice),
                    path_resource,
                    path,
                    types: s.data_type.as_ref().map(OneOrMany::as_slice),
                    extension: s.extension.as_deref(),
                }
            })
            .collect();
        Self {
            policy,
            key,
            rules,
            sweep: Sweep::default(),
            tally: Tally::default(),
            patients: std::collections::HashSet::new(),
            as_of,
            latest: None,
            pseudonyms: HashMap::new(),
            shifts: HashMap::new(),
            line: None,
            coded_patterns: policy
                .text
                .patterns
                .iter()
                .copied()
                .filter(|p| {
                    !matches!(
                        p,
                        TextPattern::Name
                            | TextPattern::Place
                            | TextPattern::Employer
                            | TextPattern::Identifier
                    )
                })
                .collect(),
            coded: false,
            in_codeable: false,
            scanned: ScanCache::default(),
        }
    }

    // ---------------------------------------------------------------- pre-pass

    /// Learns what the input reveals before changing anything: the patients, their known
    /// identifiers and the latest date in the record.
    pub(crate) fn learn(&mut self, v: &Value) {
        match v {
            Value::Object(map) => {
                if let Some(rt) = get_key(map, "resourceType").and_then(Value::as_str) {
                    if rt != "Bundle" {
                        self.tally.records += 1;
                    }
                    if PERSON_TYPES.contains(&rt) {
                        self.learn_person(rt, map);
                    }
                }
                for child in map.values() {
                    self.learn(child);
                }
            }
            Value::Array(items) => items.iter().for_each(|i| self.learn(i)),
            Value::String(s) if s.len() >= 10 && s.as_bytes()[0].is_ascii_digit() => {
                self.note_date(s)
            }
            _ => {}
        }
    }

    /// Remembers a date, so ages can be computed at the latest one.
    pub(crate) fn note_date(&mut self, s: &str) {
        if let Some(d) = FhirDate::parse(s)
            && let (Some(m), Some(day)) = (d.month, d.day)
        {
            let t = (d.year, m, day);
            if self.latest.is_none_or(|l| t > l) {
                self.latest = Some(t);
            }
        }
    }

    pub(super) fn learn_person(&mut self, rt: &str, map: &Map<String, Value>) {
        let id = map.get("id").and_then(Value::as_str).unwrap_or("");
        if rt == "Patient" {
            self.tally.patients += 1;
            self.patients.insert(id.to_owned());
        }
        if !self.policy.text.sweep_known_identifiers {
            return;
        }
        if id.len() >= 6 {
            self.sweep.add(id, IdentifierKind::Other);
        }
        self.learn_details(map);
        if let Some(contacts) = map.get("contact").and_then(Value::as_array) {
            for c in contacts.iter().filter_map(Value::as_object) {
                self.learn_details(c);
            }
        }
        for key in ["birthDate", "deceasedDateTime"] {
            if let Some(d) = map.get(key).and_then(Value::as_str) {
                self.sweep
                    .add(d.get(..10).unwrap_or(d), IdentifierKind::Dates);
            }
        }
        if let Some(exts) = map.get("extension").and_then(Value::as_array) {
            for e in exts.iter().filter_map(Value::as_object) {
                let url = e.get("url").and_then(Value::as_str).unwrap_or("");
                if url.ends_with("mothersMaidenName")
                    && let Some(s) = e.get("valueString").and_then(Value::as_str)
                {
                    self.add_name_text(s);
                }
                if let Some(a) = e.get("valueAddress").and_then(Value::as_object) {
                    self.learn_address(a);
                }
            }
        }
    }

    pub(super) fn add_name_text(&mut self, s: &str) {
        self.sweep.add(s, IdentifierKind::Names);
        for part in s.split_whitespace() {
            if part.chars().count() >= 2 {
                self.sweep.add(part, IdentifierKind::Names);
            }
        }
    }

    pub(super) fn learn_address(&mut self, a: &Map<String, Value>) {
        for line in a
            .get("line")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            self.sweep.add(line, IdentifierKind::Geographic);
        }
        for key in ["city", "district", "text"] {
            if let Some(s) = a.get(key).and_then(Value::as_str) {
                self.sweep.add(s, IdentifierKind::Geographic);
            }
        }
        if let Some(z) = a.get("postalCode").and_then(Value::as_str)
            && z.len() >= 5
        {
            self.sweep.add(z, IdentifierKind::Geographic);
        }
    }

    pub(super) fn learn_details(&mut self, map: &Map<String, Value>) {
        let names = match map.get("name") {
            Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        for n in names.into_iter().filter_map(Value::as_object) {
            let given: Vec<&str> = n
                .get("given")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let family = n.get("family").and_then(Value::as_str);
            for g in &given {
                self.add_name_text(g);
            }
            if let Some(f) = family {
                self.add_name_text(f);
                if !given.is_empty() {
                    self.sweep
                        .add(&format!("{} {f}", given.join(" ")), IdentifierKind::Names);
                }
            }
            if let Some(t) = n.get("text").and_then(Value::as_str) {
                self.add_name_text(t);
            }
        }
        for t in map
            .get("telecom")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            if let Some(v) = t.get("value").and_then(Value::as_str) {
                let system = t.get("system").and_then(Value::as_str).unwrap_or("phone");
                self.sweep.add(v, kind_of_system(system));
            }
        }
        let addresses = match map.get("address") {
            Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
            Some(v @ Value::Object(_)) => vec![v],
            _ => Vec::new(),
        };
        for a in addresses.into_iter().filter_map(Value::as_object) {
            self.learn_address(a);
        }
        for i in map
            .get("identifier")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_object)
        {
            if let Some(v) = i.get("value").and_then(Value::as_str)
                && v.len() >= 4
            {
                self.sweep.add(v, kind_of_identifier(i));
            }
        }
    }

    // ---------------------------------------------------------------- helpers

    pub(crate) fn pseudonym(&mut self, value: &str) -> String {
        if let Some(p) = self.pseudonyms.get(value) {
            return p.clone();
        }
        let p = self.key.pseudonym(value);
        self.pseudonyms.insert(value.to_owned(), p.clone());
        p
    }

    /// A reference with its id replaced by the id's pseudonym; local (`#`) references stay.
    pub(super) fn pseudonym_reference(&mut self, r: &str) -> String {
        if r.starts_with('#') {
            return r.to_owned();
        }
        if let Some(id) = r.strip_prefix("urn:uuid:") {
            return format!("urn:uuid:{}", self.pseudonym(id));
        }
        if !r.contains(['?', ':']) {
            let core = r.split("/_history/").next().unwrap_or(r);
            let segs: Vec<&str> = core.split('/').collect();
            if segs.len() >= 2 {
                let (ty, id) = (segs[segs.len() - 2], segs[segs.len() - 1]);
                if ty.starts_with(|c: char| c.is_ascii_uppercase()) && !id.is_empty() {
                    return format!("{ty}/{}", self.pseudonym(id));
                }
            }
        }
        // Absolute URLs, conditional references and anything else: the whole string becomes
        // an opaque pseudonym, which still matches itself everywhere.
        if let Some(pos) = r.find("://") {
            let rest = &r[pos + 3..];
            let segs: Vec<&str> = rest.split('/').collect();
            if segs.len() >= 3 {
                let (ty, id) = (segs[segs.len() - 2], segs[segs.len() - 1]);
                if ty.starts_with(|c: char| c.is_ascii_uppercase()) && !id.contains('?') {
                    return format!("{ty}/{}", self.pseudonym(id));
                }
            }
        }
        format!("urn:uuid:{}", self.pseudonym(r))
    }

    /// The date shift for a patient, by original id (empty: no known patient).
    pub(crate) fn shift_for(&mut self, patient: &str) -> i64 {
        if let Some(s) = self.shifts.get(patient) {
            return *s;
        }
        let s = self.key.date_shift_days(patient);
        self.shifts.insert(patient.to_owned(), s);
        s
    }

    pub(super) fn age_reference(&self) -> Option<(i32, u32, u32)> {
        self.as_of.or(self.latest)
    }

    /// Whether a birth date says the person is over 89 at the reference date.
    pub(crate) fn over_89(&self, birth: &str) -> bool {
        let (Some(b), Some((y, m, d))) = (FhirDate::parse(birth), self.age_reference()) else {
            return false;
        };
        let at = FhirDate {
            year: y,
            month: Some(m),
            day: Some(d),
            time: "",
        };
        super::date::age_at(&b, &at) > 89
    }

    /// Runs the free-text checks (the known-identifier sweep, then the patterns) over a value;
    /// when a preview is being made, records what they changed at `location`.
    pub(crate) fn scan_text(
        &mut self,
        s: String,
        patient: &str,
        patterns: bool,
        location: &dyn Fn() -> String,
    ) -> String {
        if !self.tally.recording() {
            return self.scan(s, patient, patterns, None);
        }
        let mut hits = TextHits::default();
        let out = self.scan(s.clone(), patient, patterns, Some(&mut hits));
        let edits = TextEdits::compose(&hits.sweep, &hits.patterns);
        if let Some(r) = &mut self.tally.preview {
            r.text(location, &s, &out, &edits);
        }
        out
    }

    /// The free-text checks over a whole plain-text document; the preview names lines.
    pub(crate) fn scan_document(&mut self, s: &str) -> String {
        if self.policy.text.free_text == FreeText::Remove {
            if !s.trim().is_empty() {
                let (rule, kind) = (FREE_TEXT_REMOVE_RULE, IdentifierKind::Other);
                self.tally.add(rule, kind, Method::Redact);
                self.tally.note(FREE_TEXT_REMOVE_NOTE.to_owned());
                if let Some(r) = &mut self.tally.preview {
                    let what = format!("a text document of {} lines", s.lines().count());
                    r.whole(
                        &|| "the document".to_owned(),
                        rule,
                        kind,
                        Method::Redact,
                        &what,
                        None,
                    );
                }
            }
            return String::new();
        }
        if !self.tally.recording() {
            return self.scan(s.to_owned(), "", true, None);
        }
        let mut hits = TextHits::default();
        let out = self.scan(s.to_owned(), "", true, Some(&mut hits));
        let edits = TextEdits::compose(&hits.sweep, &hits.patterns);
        if let Some(r) = &mut self.tally.preview {
            r.lines(s, &out, &edits);
        }
        out
    }

    /// Like [`Engine::scan_text`] over a borrowed string: the new text, or `None` when the
    /// checks left it as it was.
    pub(crate) fn scan_text_changed(
        &mut self,
        s: &str,
        patient: &str,
        patterns: bool,
        location: &dyn Fn() -> String,
    ) -> Option<String> {
        if self.tally.recording() || s.len() <= SCAN_CACHE_MAX_LEN {
            let out = self.scan_text(s.to_owned(), patient, patterns, location);
            return (out != s).then_some(out);
        }
        let mode = self.scan_mode(patient, patterns);
        self.scan_uncached(s, mode, None).0.filter(|out| out != s)
    }

    fn scan_mode(&mut self, patient: &str, patterns: bool) -> ScanMode {
        let patterns = patterns && !self.policy.text.patterns.is_empty();
        let shift_days = if patterns && self.policy.text.dates == Method::DateShift {
            self.shift_for(patient)
        } else {
            0
        };
        ScanMode {
            patterns,
            coded: patterns && self.coded,
            shift_days,
        }
    }

    pub(super) fn scan(
        &mut self,
        s: String,
        patient: &str,
        patterns: bool,
        hits: Option<&mut TextHits>,
    ) -> String {
        let mode = self.scan_mode(patient, patterns);
        if s.len() > SCAN_CACHE_MAX_LEN {
            return self.scan_uncached(&s, mode, hits).0.unwrap_or(s);
        }
        if self.scanned.needles != self.sweep.needle_count() {
            self.scanned = ScanCache {
                needles: self.sweep.needle_count(),
                ..ScanCache::default()
            };
        }
        if let Some(done) = self.scanned.by_mode.get(&mode).and_then(|m| m.get(&s)) {
            let mut hits = hits;
            for &h in &done.sweep {
                self.tally.add(h.rule, h.kind, Method::Redact);
                if let Some(hits) = hits.as_deref_mut() {
                    hits.sweep.push(TextHit::new(h, Method::Redact));
                }
            }
            for &(h, method) in &done.patterns {
                self.tally.add(h.rule, h.kind, method);
                if let Some(hits) = hits.as_deref_mut() {
                    hits.patterns.push(TextHit::new(h, method));
                }
            }
            return done.out.clone().unwrap_or(s);
        }
        let (out, done) = self.scan_uncached(&s, mode, hits);
        if self.scanned.entries >= SCAN_CACHE_MAX_ENTRIES {
            self.scanned.by_mode.clear();
            self.scanned.entries = 0;
        }
        self.scanned.entries += 1;
        let out = out.filter(|o| *o != s);
        let result = out.clone().unwrap_or_else(|| s.clone());
        let done = Scanned { out, ..done };
        self.scanned
            .by_mode
            .entry(mode)
            .or_default()
            .insert(s, done);
        result
    }

    /// The free-text checks themselves: the output (`None` if no check rewrote the text)
    /// and the hits (with `out` unset).
    fn scan_uncached(
        &mut self,
        s: &str,
        mode: ScanMode,
        mut hits: Option<&mut TextHits>,
    ) -> (Option<String>, Scanned) {
        let mut done = Scanned {
            out: None,
            sweep: Vec::new(),
            patterns: Vec::new(),
        };
        let mut cur: Option<String> = None;
        if self.policy.text.sweep_known_identifiers {
            let tally = &mut self.tally;
            let found = &mut done.sweep;
            let mut record = |h: Hit| {
                tally.add(h.rule, h.kind, Method::Redact);
                found.push(h);
                if let Some(hits) = hits.as_deref_mut() {
                    hits.sweep.push(TextHit::new(h, Method::Redact));
                }
            };
            if let Some(out) = self.sweep.apply(s, &mut record) {
                cur = Some(out);
            }
        }
        if mode.patterns {
            let scanner = Scanner {
                patterns: if mode.coded {
                    &self.coded_patterns
                } else {
                    &self.policy.text.patterns
                },
                dates: self.policy.text.dates,
                shift_days: mode.shift_days,
            };
            let dates = self.policy.text.dates;
            let tally = &mut self.tally;
            let found = &mut done.patterns;
            let mut hit = |h: Hit| {
                let method = if h.rule == super::text::pattern_rule(TextPattern::Date) {
                    dates
                } else if h.rule == super::text::pattern_rule(TextPattern::Age) {
                    Method::Generalize
                } else {
                    Method::Redact
                };
                tally.add(h.rule, h.kind, method);
                found.push((h, method));
                if let Some(hits) = hits.as_deref_mut() {
                    hits.patterns.push(TextHit::new(h, method));
                }
            };
            if let Some(out) = scanner.apply(cur.as_deref().unwrap_or(s), &mut hit) {
                cur = Some(out);
            }
        }
        (cur, done)
    }

    /// Whether the policy removes free text whole (`free_text: remove`).
    pub(crate) fn removes_free_text(&self) -> bool {
        self.policy.text.free_text == FreeText::Remove
    }

    /// Removes a piece of prose outside FHIR (a CSV cell), counted and previewed.
    pub(crate) fn remove_document_text(
        &mut self,
        s: &str,
        location: &dyn Fn() -> String,
    ) -> String {
        let (rule, kind) = (FREE_TEXT_REMOVE_RULE, IdentifierKind::Other);
        self.tally.add(rule, kind, Method::Redact);
        self.tally.note(FREE_TEXT_REMOVE_NOTE.to_owned());
        if let Some(r) = &mut self.tally.preview {
            r.whole(location, rule, kind, Method::Redact, s, None);
        }
        String::new()
    }
}
