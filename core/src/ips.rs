//! A FHIR `document` Bundle read as the document it is: an International Patient Summary (HL7
//! FHIR IG `hl7.fhir.uv.ips`) or any other Composition-led document.
//!
//! [`document`] follows the Composition: its sections in their order, with their titles, their
//! narrative, the coded entries each section references (resolved inside the bundle), the
//! section's `emptyReason`, and the document's date, authors, attesters and custodian. Bundles of
//! any other type are left to the clinician view of [`crate::record`].
//!
//! The narrative (`text.div`, XHTML) is never handed on as markup. [`narrative`] reads it with a
//! small, tolerant tokenizer into plain [`Block`]s (paragraphs, headings, lists, tables) of plain
//! text: no attribute survives (no `href`, `src`, `style` or event handler), `script` and
//! `style` are dropped with their content, and the work is bounded on hostile input (nesting
//! depth, token count, input and output size; nothing recurses over the markup).

use std::collections::HashMap;

use serde::Serialize;
use serde_json::Value;

/// The FHIR list-empty-reason code system (`Composition.section.emptyReason`).
pub const LIST_EMPTY_REASON: &str = "http://terminology.hl7.org/CodeSystem/list-empty-reason";
/// The IPS absent/unknown code system of IPS 1.x (`absent-unknown-uv-ips`), withdrawn in IPS
/// 2.0 in favour of SNOMED CT situations; documents written against IPS 1.x still carry it.
pub const IPS_ABSENT_UNKNOWN: &str = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips";
/// SNOMED CT.
pub const SNOMED_CT: &str = "http://snomed.info/sct";

/// Bytes of XHTML read from one narrative; the rest is not read.
pub const MAX_NARRATIVE_INPUT: usize = 2 * 1024 * 1024;
/// Bytes of text kept from one narrative.
pub const MAX_NARRATIVE_TEXT: usize = 256 * 1024;
/// Tags, texts and comments read from one narrative.
pub const MAX_NARRATIVE_TOKENS: usize = 250_000;
/// Elements open at once that still shape the output; deeper ones only contribute their text.
pub const MAX_NARRATIVE_DEPTH: usize = 128;
/// Levels of `Composition.section.section` kept.
pub const MAX_SECTION_DEPTH: usize = 16;

/// A Composition-led document, ready to show as written.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Document {
    /// `Composition.title`, else the document type, else "Untitled document".
    pub title: String,
    /// `Composition.date`, as written (a FHIR `dateTime`).
    pub date: Option<String>,
    /// `Composition.status` (`preliminary`, `final`, `amended`, `entered-in-error`).
    pub status: Option<String>,
    /// `Composition.type`: its text, else its first coding's display, else its code.
    pub type_label: Option<String>,
    /// Who the document is about.
    pub subject: Option<Subject>,
    /// `Composition.author`, one name each.
    pub authors: Vec<String>,
    /// `Composition.custodian`.
    pub custodian: Option<String>,
    /// `Composition.attester`.
    pub attesters: Vec<Attester>,
    /// The Composition's own narrative (often a generated rendering of its header).
    pub narrative: Narrative,
    /// The sections, in the Composition's order.
    pub sections: Vec<Section>,
}

/// The patient (or other subject) of a document.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Subject {
    /// The name; the reference's display or the reference itself when the subject is not in the
    /// bundle.
    pub name: String,
    /// `Patient.birthDate`.
    pub birth_date: Option<String>,
    /// `Patient.gender`.
    pub gender: Option<String>,
    /// The reference points at nothing in the bundle.
    pub unresolved: bool,
}

/// One `Composition.attester`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Attester {
    /// `personal`, `professional`, `legal`, `official` (several joined by ", ").
    pub mode: String,
    /// Who attested, when known.
    pub party: Option<String>,
    /// When, as written.
    pub time: Option<String>,
}

/// One section of a document.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Section {
    /// `section.title`, else the code's text or display, else "Untitled section".
    pub title: String,
    /// The section code as a label, "display (LOINC code)".
    pub code: Option<String>,
    /// Every coding of the section code.
    pub codes: Vec<Coding>,
    /// The section's narrative, as plain blocks.
    pub narrative: Narrative,
    /// The resources the section references, in its order.
    pub entries: Vec<Entry>,
    /// Why the section has no entries, when it says.
    pub empty_reason: Option<EmptyReason>,
    /// `section.section`, in order.
    pub children: Vec<Section>,
}

/// `section.emptyReason`, said plainly.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct EmptyReason {
    /// The list-empty-reason code (`nilknown`, `notasked`, `withheld`, `unavailable`,
    /// `notstarted`, `closed`), or another system's code, or empty when only text was given.
    pub code: String,
    /// A plain sentence: "None known", "No information available"...
    pub text: String,
}

/// A code of a coded element.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Coding {
    /// The code system's URI (`http://loinc.org`, `http://snomed.info/sct`...).
    pub system: String,
    /// The code in that system.
    pub code: String,
    /// The coding's display, as the document gives it ("" when none).
    pub display: String,
}

/// One resource a section references.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Entry {
    /// The resource type (from the reference when the resource is not in the bundle).
    pub resource_type: String,
    /// One line a clinician reads: what, then status, value, dose, dates.
    pub summary: String,
    /// The codings of what the entry is about (the condition, substance, medication, vaccine,
    /// test...).
    pub codes: Vec<Coding>,
    /// The entry's main date (onset, effective, occurrence, performed...), as written.
    pub date: Option<String>,
    /// Set when the entry states an absence ("No known allergies") or a lack of information
    /// ("No information about allergies"), with that statement.
    pub absent: Option<String>,
    /// The reference points at nothing in the bundle.
    pub unresolved: bool,
}

/// A narrative read into plain blocks.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Narrative {
    /// The blocks, in the narrative's order.
    pub blocks: Vec<Block>,
    /// Part of the narrative was not read (past a size, token or text limit).
    pub truncated: bool,
}

/// One block of a narrative. All of it is text: nothing is markup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Block {
    /// Running text (`p`, `div`, loose text); `Inline::Break` where the narrative broke a line.
    Paragraph(Vec<Inline>),
    /// `h1` to `h6`, or a table's `caption`.
    Heading(String),
    /// `ul` or `ol`; each item's text (nested lists are folded into their item).
    List {
        /// `ol` rather than `ul`.
        ordered: bool,
        /// The items' text.
        items: Vec<Vec<Inline>>,
    },
    /// A table: the header row (`thead`, or a first row of `th` cells) and the other rows.
    Table {
        /// The header cells; empty when the table has no header row.
        head: Vec<String>,
        /// The other rows' cells (a nested block's lines are joined with `\n`).
        rows: Vec<Vec<String>>,
    },
}

/// A piece of running text.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub enum Inline {
    /// Text, with the emphasis the narrative gave it (`b`/`strong`, `i`/`em`).
    Text {
        /// The text, white space collapsed as a browser would.
        text: String,
        /// Inside `b` or `strong`.
        bold: bool,
        /// Inside `i`, `em`, `cite`, `var` or `dfn`.
        italic: bool,
    },
    /// A line break (`br`, or a block boundary inside a list item).
    Break,
}

impl Narrative {
    /// True when there is no text at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }

    /// The text alone: blocks and rows on their own lines, table cells separated by tabs.
    #[must_use]
    pub fn plain_text(&self) -> String {
        let mut out = String::new();
        for block in &self.blocks {
            if !out.is_empty() {
                out.push('\n');
            }
            match block {
                Block::Paragraph(inlines) => push_inlines(&mut out, inlines),
                Block::Heading(text) => out.push_str(text),
                Block::List { items, .. } => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push('\n');
                        }
                        push_inlines(&mut out, item);
                    }
                }
                Block::Table { head, rows } => {
                    let mut first = true;
                    for row in std::iter::once(head).chain(rows).filter(|r| !r.is_empty()) {
                        if !first {
                            out.push('\n');
                        }
                        first = false;
                        out.push_str(&row.join("\t"));
                    }
                }
            }
        }
        out
    }
}

fn push_inlines(out: &mut String, inlines: &[Inline]) {
    for inline in inlines {
        match inline {
            Inline::Text { text, .. } => out.push_str(text),
            Inline::Break => out.push('\n'),
        }
    }
}

/// Reads JSON bytes as a document; `None` when they are not JSON or not a document Bundle.
#[must_use]
pub fn read_document(bytes: &[u8]) -> Option<Document> {
    let value: Value = serde_json::from_slice(bytes).ok()?;
    document(&value)
}

/// Reads a FHIR Bundle of type `document` led by a Composition (the first entry, or else the
/// first Composition among the entries). `None` for anything else: the clinician view of
/// [`crate::record`] then shows the content.
#[must_use]
pub fn document(bundle: &Value) -> Option<Document> {
    if s(bundle, "resourceType") != "Bundle" || s(bundle, "type") != "document" {
        return None;
    }
    let index = Index::new(bundle);
    let composition = index.composition?;
    let reader = Reader { index: &index };
    Some(reader.document(composition))
}

/// Reads an XHTML narrative (`text.div`) into plain blocks. Nothing of the markup survives but
/// its text and its shape; see the module documentation.
#[must_use]
pub fn narrative(div: &str) -> Narrative {
    let mut truncated = false;
    let mut input = div;
    if input.len() > MAX_NARRATIVE_INPUT {
        let mut end = MAX_NARRATIVE_INPUT;
        while !input.is_char_boundary(end) {
            end -= 1;
        }
        input = &input[..end];
        truncated = true;
    }
    let mut builder = Builder::default();
    let mut tokens = Tokenizer { src: input, pos: 0 };
    let mut count = 0usize;
    while let Some(token) = tokens.next_token() {
        count += 1;
        if count > MAX_NARRATIVE_TOKENS || builder.text_len >= MAX_NARRATIVE_TEXT {
            truncated = true;
            break;
        }
        match token {
            Token::Start { name, self_closing } => {
                if !self_closing && matches!(name.as_str(), "script" | "style") {
                    tokens.skip_raw_text(&name);
                    continue;
                }
                builder.start(name, self_closing);
            }
            Token::End(name) => builder.end(&name),
            Token::Text(raw) => builder.text(raw, true),
            Token::Cdata(raw) => builder.text(raw, false),
        }
    }
    truncated |= builder.cut;
    let mut blocks = builder.finish();
    if truncated {
        blocks.push(Block::Paragraph(vec![Inline::Text {
            text: "…".to_owned(),
            bold: false,
            italic: false,
        }]));
    }
    Narrative { blocks, truncated }
}

// ------------------------------------------------------------------------------------------
// The bundle: entries by fullUrl and by type and id, and reference resolution.

/// A resource of the bundle, with the `fullUrl` of its entry ("" when none).
#[derive(Clone, Copy)]
struct Found<'a> {
    resource: &'a Value,
    full_url: &'a str,
}

struct Index<'a> {
    by_url: HashMap<&'a str, Found<'a>>,
    by_type_id: HashMap<(&'a str, &'a str), Found<'a>>,
    composition: Option<Found<'a>>,
}

impl<'a> Index<'a> {
    fn new(bundle: &'a Value) -> Self {
        let mut index = Index {
            by_url: HashMap::new(),
            by_type_id: HashMap::new(),
            composition: None,
        };
        for (i, entry) in arr(bundle, "entry").enumerate() {
            let Some(resource) = entry.get("resource").filter(|r| r.is_object()) else {
                continue;
            };
            let found = Found {
                resource,
                full_url: s(entry, "fullUrl"),
            };
            if !found.full_url.is_empty() {
                index.by_url.entry(found.full_url).or_insert(found);
            }
            let kind = s(resource, "resourceType");
            let id = s(resource, "id");
            if !kind.is_empty() && !id.is_empty() {
                index.by_type_id.entry((kind, id)).or_insert(found);
            }
            if kind == "Composition" && (i == 0 || index.composition.is_none()) {
                index.composition = Some(found);
            }
        }
        index
    }

    /// Resolves a reference made by `from`: contained (`#id`), by `fullUrl` (`urn:uuid:`, absolute
    /// URLs, or a relative reference against `from`'s RESTful base), else a relative
    /// `Type/id` by the resources' own type and id.
    fn resolve(&self, reference: &str, from: Found<'a>) -> Option<Found<'a>> {
        let reference = reference.trim();
        if reference.is_empty() {
            return None;
        }
        if let Some(local) = reference.strip_prefix('#') {
            return arr(from.resource, "contained")
                .find(|c| s(c, "id") == local)
                .map(|resource| Found {
                    resource,
                    full_url: from.full_url,
                });
        }
        let reference = reference
            .find("/_history/")
            .map_or(reference, |at| &reference[..at]);
        if let Some(found) = self.by_url.get(reference) {
            return Some(*found);
        }
        if has_scheme(reference) {
            return None;
        }
        if let Some(base) = rest_base(from.full_url) {
            if let Some(found) = self.by_url.get(format!("{base}{reference}").as_str()) {
                return Some(*found);
            }
        }
        let (kind, id) = type_and_id(reference)?;
        self.by_type_id.get(&(kind, id)).copied()
    }
}

fn has_scheme(reference: &str) -> bool {
    match (reference.find(':'), reference.find('/')) {
        (Some(colon), Some(slash)) => colon < slash,
        (Some(_), None) => true,
        (None, _) => false,
    }
}

/// `https://server/fhir/` of `https://server/fhir/Type/id`.
fn rest_base(full_url: &str) -> Option<&str> {
    if !(full_url.starts_with("http://") || full_url.starts_with("https://")) {
        return None;
    }
    let (kind, id) = type_and_id(full_url)?;
    let tail = kind.len() + 1 + id.len();
    full_url.get(..full_url.len().checked_sub(tail)?)
}

/// The last two segments of a reference when they are a resource type and an id.
fn type_and_id(reference: &str) -> Option<(&str, &str)> {
    let mut parts = reference.rsplitn(3, '/');
    let id = parts.next()?;
    let kind = parts.next()?;
    let type_ok = kind.starts_with(|c: char| c.is_ascii_uppercase())
        && kind.chars().all(|c| c.is_ascii_alphanumeric());
    let id_ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
    (type_ok && id_ok).then_some((kind, id))
}

// ------------------------------------------------------------------------------------------
// The Composition.

struct Reader<'i, 'a> {
    index: &'i Index<'a>,
}

impl<'a> Reader<'_, 'a> {
    fn document(&self, composition: Found<'a>) -> Document {
        let c = composition.resource;
        let type_label = c.get("type").and_then(concept_label);
        let title = text_of(c, "title")
            .or_else(|| type_label.clone())
            .unwrap_or_else(|| "Untitled document".to_owned());
        let subject = c.get("subject").map(|r| self.subject(r, composition));
        let authors = arr(c, "author")
            .map(|r| self.party(r, composition))
            .collect();
        let custodian = c.get("custodian").map(|r| self.party(r, composition));
        let attesters = arr(c, "attester")
            .map(|a| Attester {
                mode: match a.get("mode") {
                    Some(Value::Array(modes)) => modes
                        .iter()
                        .filter_map(Value::as_str)
                        .collect::<Vec<_>>()
                        .join(", "),
                    Some(Value::String(mode)) => mode.clone(),
                    _ => String::new(),
                },
                party: a.get("party").map(|r| self.party(r, composition)),
                time: text_of(a, "time"),
            })
            .collect();
        Document {
            title,
            date: text_of(c, "date"),
            status: text_of(c, "status"),
            type_label,
            subject,
            authors,
            custodian,
            attesters,
            narrative: narrative_of(c),
            sections: arr(c, "section")
                .map(|sec| self.section(sec, composition, 1))
                .collect(),
        }
    }

    fn section(&self, section: &Value, composition: Found<'a>, depth: usize) -> Section {
        let code = section.get("code");
        let title = text_of(section, "title")
            .or_else(|| code.and_then(concept_label))
            .unwrap_or_else(|| "Untitled section".to_owned());
        let children = if depth < MAX_SECTION_DEPTH {
            arr(section, "section")
                .map(|child| self.section(child, composition, depth + 1))
                .collect()
        } else {
            Vec::new()
        };
        Section {
            title,
            code: code.and_then(code_label),
            codes: codings(code),
            narrative: narrative_of(section),
            entries: arr(section, "entry")
                .map(|r| self.entry(r, composition))
                .collect(),
            empty_reason: section.get("emptyReason").and_then(empty_reason),
            children,
        }
    }

    fn subject(&self, reference: &Value, from: Found<'a>) -> Subject {
        match self.index.resolve(s(reference, "reference"), from) {
            Some(found) => {
                let r = found.resource;
                Subject {
                    name: self
                        .name_of(found)
                        .unwrap_or_else(|| fallback_name(reference)),
                    birth_date: text_of(r, "birthDate"),
                    gender: text_of(r, "gender"),
                    unresolved: false,
                }
            }
            None => Subject {
                name: fallback_name(reference),
                birth_date: None,
                gender: None,
                unresolved: true,
            },
        }
    }

    /// The name of an author, custodian or attester.
    fn party(&self, reference: &Value, from: Found<'a>) -> String {
        self.index
            .resolve(s(reference, "reference"), from)
            .and_then(|found| self.name_of(found))
            .unwrap_or_else(|| fallback_name(reference))
    }

    fn name_of(&self, found: Found<'a>) -> Option<String> {
        let r = found.resource;
        let name = match s(r, "resourceType") {
            "Practitioner" | "Patient" | "RelatedPerson" | "Person" => human_name(r.get("name")),
            "Device" => arr(r, "deviceName")
                .find_map(|n| text_of(n, "name"))
                .or_else(|| r.get("type").and_then(concept_label)),
            "PractitionerRole" => {
                let who = r.get("practitioner").map(|p| {
                    self.index
                        .resolve(s(p, "reference"), found)
                        .and_then(|f| human_name(f.resource.get("name")))
                        .unwrap_or_else(|| fallback_name(p))
                });
                let role = arr(r, "code").find_map(concept_label);
                let place = r.get("organization").map(|o| {
                    self.index
                        .resolve(s(o, "reference"), found)
                        .and_then(|f| text_of(f.resource, "name"))
                        .unwrap_or_else(|| fallback_name(o))
                });
                let mut out = who.unwrap_or_default();
                if let Some(role) = role {
                    out = if out.is_empty() {
                        role
                    } else {
                        format!("{out} ({role})")
                    };
                }
                if let Some(place) = place {
                    out = if out.is_empty() {
                        place
                    } else {
                        format!("{out}, {place}")
                    };
                }
                Some(out)
            }
            _ => text_of(r, "name").or_else(|| text_of(r, "title")),
        };
        name.filter(|n| !n.trim().is_empty())
    }

    fn entry(&self, reference: &Value, from: Found<'a>) -> Entry {
        let target = s(reference, "reference");
        match self.index.resolve(target, from) {
            Some(found) => self.describe(found),
            None => Entry {
                resource_type: type_and_id(target)
                    .map_or_else(String::new, |(kind, _)| kind.to_owned()),
                summary: fallback_name(reference),
                unresolved: true,
                ..Entry::default()
            },
        }
    }

    /// The medication of a `MedicationStatement` or `MedicationRequest`: its name and codings.
    fn medication(&self, found: Found<'a>) -> (Option<String>, Vec<Coding>) {
        let r = found.resource;
        if let Some(concept) = r.get("medicationCodeableConcept") {
            return (concept_label(concept), codings(Some(concept)));
        }
        let Some(reference) = r.get("medicationReference") else {
            return (None, Vec::new());
        };
        match self.index.resolve(s(reference, "reference"), found) {
            Some(med) => {
                let code = med.resource.get("code");
                (
                    code.and_then(concept_label)
                        .or_else(|| text_of(reference, "display")),
                    codings(code),
                )
            }
            None => (Some(fallback_name(reference)), Vec::new()),
        }
    }

    fn describe(&self, found: Found<'a>) -> Entry {
        let r = found.resource;
        let kind = s(r, "resourceType");
        let mut facts = Facts::default();
        let (what, codes) = match kind {
            "Condition" | "AllergyIntolerance" => problem(r, &mut facts),
            "MedicationStatement"
            | "MedicationRequest"
            | "MedicationAdministration"
            | "MedicationDispense" => self.medication_use(found, &mut facts),
            "Immunization" => immunization(r, &mut facts),
            "Observation" => observation(r, &mut facts),
            "DeviceUseStatement" | "DeviceUsage" => self.device_use(found, &mut facts),
            _ => other(r, &mut facts),
        };
        let what = what.unwrap_or_else(|| kind.to_owned());
        let summary = if facts.details.is_empty() {
            what
        } else {
            format!("{what} — {}", facts.details.join(", "))
        };
        Entry {
            resource_type: kind.to_owned(),
            summary,
            absent: absent_statement(&codes),
            codes,
            date: facts.date,
            unresolved: false,
        }
    }

    fn medication_use(&self, found: Found<'a>, facts: &mut Facts) -> (Option<String>, Vec<Coding>) {
        let r = found.resource;
        facts.add(text_of(r, "status"));
        let dosage: Vec<String> = arr(r, "dosage")
            .chain(arr(r, "dosageInstruction"))
            .filter_map(dosage_text)
            .collect();
        if !dosage.is_empty() {
            facts.add(Some(dosage.join("; ")));
        }
        facts.moment(r, "effective", "");
        facts.dated("prescribed", text_of(r, "authoredOn"));
        self.medication(found)
    }

    fn device_use(&self, found: Found<'a>, facts: &mut Facts) -> (Option<String>, Vec<Coding>) {
        let r = found.resource;
        facts.add(text_of(r, "status"));
        facts.moment(r, "timing", "");
        facts.dated("recorded", text_of(r, "recordedOn"));
        let device = r.get("device");
        match device.and_then(|d| self.index.resolve(s(d, "reference"), found)) {
            Some(dev) => (self.name_of(dev), codings(dev.resource.get("type"))),
            None => (device.map(fallback_name), Vec::new()),
        }
    }
}

/// What an entry's summary says after its subject, and its main date.
#[derive(Default)]
struct Facts {
    details: Vec<String>,
    date: Option<String>,
}

impl Facts {
    fn add(&mut self, detail: Option<String>) {
        self.details.extend(detail.filter(|d| !d.is_empty()));
    }

    /// A `{prefix}[x]` date element; the first one found is the entry's date.
    fn moment(&mut self, r: &Value, prefix: &str, label: &str) {
        let date = moment(r, prefix, &mut self.details, label);
        if self.date.is_none() {
            self.date = date;
        }
    }

    /// A plain date, said after `label`.
    fn dated(&mut self, label: &str, date: Option<String>) {
        if let Some(date) = date {
            self.details.push(format!("{label} {date}"));
            self.date.get_or_insert(date);
        }
    }
}

/// A Condition or an `AllergyIntolerance`.
fn problem(r: &Value, facts: &mut Facts) -> (Option<String>, Vec<Coding>) {
    facts.add(status_text(r.get("clinicalStatus")));
    facts.add(status_text(r.get("verificationStatus")));
    facts.add(r.get("severity").and_then(concept_label));
    if let Some(criticality) = text_of(r, "criticality") {
        facts.add(Some(format!("{criticality} criticality")));
    }
    let reactions: Vec<String> = arr(r, "reaction")
        .flat_map(|x| arr(x, "manifestation"))
        .filter_map(concept_label)
        .collect();
    if !reactions.is_empty() {
        facts.add(Some(format!("reaction: {}", reactions.join(", "))));
    }
    facts.moment(r, "onset", "onset");
    facts.dated("recorded", text_of(r, "recordedDate"));
    main_concept(r, "code")
}

fn immunization(r: &Value, facts: &mut Facts) -> (Option<String>, Vec<Coding>) {
    facts.add(text_of(r, "status"));
    if let Some(dose) = arr(r, "protocolApplied")
        .find_map(|p| p.get("doseNumberPositiveInt").or(p.get("doseNumberString")))
    {
        facts.add(Some(format!("dose {}", scalar(dose))));
    }
    facts.moment(r, "occurrence", "");
    main_concept(r, "vaccineCode")
}

fn observation(r: &Value, facts: &mut Facts) -> (Option<String>, Vec<Coding>) {
    facts.add(arr(r, "interpretation").find_map(concept_label));
    facts.add(text_of(r, "status"));
    facts.moment(r, "effective", "");
    if facts.date.is_none() {
        facts.date = text_of(r, "issued");
    }
    let (name, codes) = main_concept(r, "code");
    let name = match (name, observation_value(r)) {
        (Some(name), Some(value)) => Some(format!("{name}: {value}")),
        (name, value) => name.or(value),
    };
    (name, codes)
}

/// Procedure, `DiagnosticReport` and any other resource: its code, status and date.
fn other(r: &Value, facts: &mut Facts) -> (Option<String>, Vec<Coding>) {
    facts.add(text_of(r, "status"));
    facts.add(text_of(r, "conclusion"));
    for prefix in ["performed", "effective", "occurrence", "onset"] {
        facts.moment(r, prefix, "");
        if facts.date.is_some() {
            break;
        }
    }
    if facts.date.is_none() {
        facts.date = text_of(r, "date").or_else(|| text_of(r, "issued"));
    }
    let key = ["code", "type", "vaccineCode"]
        .into_iter()
        .find(|k| r.get(*k).is_some())
        .unwrap_or("code");
    let (name, codes) = main_concept(r, key);
    let name = name
        .or_else(|| text_of(r, "title"))
        .or_else(|| text_of(r, "description"))
        .or_else(|| text_of(r, "name"));
    (name, codes)
}

fn narrative_of(resource: &Value) -> Narrative {
    resource
        .pointer("/text/div")
        .and_then(Value::as_str)
        .map_or_else(Narrative::default, narrative)
}

fn main_concept(resource: &Value, key: &str) -> (Option<String>, Vec<Coding>) {
    let concept = resource.get(key);
    (concept.and_then(concept_label), codings(concept))
}

/// A reference shown without its target: its display, else the reference, else its identifier.
fn fallback_name(reference: &Value) -> String {
    text_of(reference, "display")
        .or_else(|| text_of(reference, "reference"))
        .or_else(|| reference.pointer("/identifier/value").and_then(non_empty))
        .unwrap_or_else(|| "Unknown".to_owned())
}

/// `{prefix}DateTime`, `{prefix}Period`, `{prefix}String`, `{prefix}Age`, `{prefix}Instant`:
/// adds it to `details` (after `label`), and returns the date it starts on.
fn moment(r: &Value, prefix: &str, details: &mut Vec<String>, label: &str) -> Option<String> {
    let labelled = |text: String| {
        if label.is_empty() {
            text
        } else {
            format!("{label} {text}")
        }
    };
    for suffix in ["DateTime", "Instant", "String"] {
        if let Some(text) = text_of(r, &format!("{prefix}{suffix}")) {
            details.push(labelled(text.clone()));
            return Some(text);
        }
    }
    if let Some(period) = r.get(format!("{prefix}Period").as_str()) {
        let start = text_of(period, "start");
        let end = text_of(period, "end");
        let text = match (&start, &end) {
            (Some(a), Some(b)) => format!("{a} to {b}"),
            (Some(a), None) => format!("since {a}"),
            (None, Some(b)) => format!("until {b}"),
            (None, None) => return None,
        };
        details.push(labelled(text));
        return start.or(end);
    }
    if let Some(age) = r.get(format!("{prefix}Age").as_str()) {
        if let Some(text) = quantity(age) {
            details.push(labelled(format!("at age {text}")));
        }
    }
    None
}

fn observation_value(node: &Value) -> Option<String> {
    if let Some(q) = node.get("valueQuantity") {
        return quantity(q);
    }
    if let Some(c) = node.get("valueCodeableConcept") {
        return concept_label(c);
    }
    for key in ["valueString", "valueDateTime", "valueTime"] {
        if let Some(text) = text_of(node, key) {
            return Some(text);
        }
    }
    for key in ["valueInteger", "valueBoolean"] {
        if let Some(v) = node.get(key).filter(|v| v.is_number() || v.is_boolean()) {
            return Some(scalar(v));
        }
    }
    if let Some(range) = node.get("valueRange") {
        let low = range.get("low").and_then(quantity);
        let high = range.get("high").and_then(quantity);
        return match (low, high) {
            (Some(l), Some(h)) => Some(format!("{l} – {h}")),
            (Some(l), None) => Some(format!("≥ {l}")),
            (None, Some(h)) => Some(format!("≤ {h}")),
            (None, None) => None,
        };
    }
    if let Some(ratio) = node.get("valueRatio") {
        let n = ratio.get("numerator").and_then(quantity)?;
        let d = ratio.get("denominator").and_then(quantity)?;
        return Some(format!("{n} / {d}"));
    }
    if let Some(period) = node.get("valuePeriod") {
        return Some(format!("{} – {}", s(period, "start"), s(period, "end")));
    }
    let components: Vec<String> = arr(node, "component")
        .filter_map(|c| {
            let value = observation_value(c)?;
            Some(match c.get("code").and_then(concept_label) {
                Some(name) => format!("{name} {value}"),
                None => value,
            })
        })
        .collect();
    if !components.is_empty() {
        return Some(components.join("; "));
    }
    node.get("dataAbsentReason")
        .and_then(concept_label)
        .map(|reason| format!("no value ({reason})"))
}

fn quantity(q: &Value) -> Option<String> {
    let value = q.get("value").filter(|v| v.is_number()).map(scalar)?;
    let unit = text_of(q, "unit").or_else(|| text_of(q, "code"));
    let comparator = s(q, "comparator");
    Some(match unit {
        Some(unit) => format!("{comparator}{value} {unit}"),
        None => format!("{comparator}{value}"),
    })
}

/// A Dosage: its text, else the dose, frequency and route it codes.
fn dosage_text(dosage: &Value) -> Option<String> {
    if let Some(text) = text_of(dosage, "text") {
        return Some(text);
    }
    let mut parts = Vec::new();
    if let Some(dose) = arr(dosage, "doseAndRate").find_map(|d| d.get("doseQuantity")) {
        parts.extend(quantity(dose));
    }
    if let Some(repeat) = dosage.pointer("/timing/repeat") {
        let frequency = repeat.get("frequency").and_then(Value::as_u64);
        let period = repeat.get("period").and_then(Value::as_f64);
        let unit = match s(repeat, "periodUnit") {
            "s" => "second",
            "min" => "minute",
            "h" => "hour",
            "d" => "day",
            "wk" => "week",
            "mo" => "month",
            "a" => "year",
            _ => "",
        };
        if let (Some(f), Some(p), false) = (frequency, period, unit.is_empty()) {
            let times = match f {
                1 => "once".to_owned(),
                2 => "twice".to_owned(),
                n => format!("{n} times"),
            };
            let every = if (p - 1.0).abs() < f64::EPSILON {
                format!("a {unit}")
            } else {
                format!("every {p} {unit}s")
            };
            parts.push(format!("{times} {every}"));
        }
    }
    if let Some(code) = dosage.pointer("/timing/code").and_then(concept_label) {
        parts.push(code);
    }
    if let Some(route) = dosage.get("route").and_then(concept_label) {
        parts.push(route);
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn empty_reason(reason: &Value) -> Option<EmptyReason> {
    let coding = arr(reason, "coding").find(|c| !s(c, "code").is_empty());
    let code = coding.map(|c| s(c, "code")).unwrap_or("");
    let known = coding
        .filter(|c| {
            let system = s(c, "system");
            system.is_empty() || system == LIST_EMPTY_REASON
        })
        .and_then(|c| empty_reason_sentence(s(c, "code")));
    let text = known
        .map(str::to_owned)
        .or_else(|| coding.and_then(|c| text_of(c, "display")))
        .or_else(|| text_of(reason, "text"))
        .or_else(|| (!code.is_empty()).then(|| code.to_owned()))?;
    Some(EmptyReason {
        code: code.to_owned(),
        text,
    })
}

/// The plain sentence for a list-empty-reason code.
#[must_use]
pub fn empty_reason_sentence(code: &str) -> Option<&'static str> {
    Some(match code {
        "nilknown" => "None known",
        "notasked" => "Not asked",
        "withheld" => "Withheld",
        "unavailable" => "No information available",
        "notstarted" => "Not started yet",
        "closed" => "Closed",
        _ => return None,
    })
}

/// The statement an entry makes when its code says "none known" or "no information": the SNOMED
/// CT situations IPS 2.0 uses, and the `absent-unknown-uv-ips` codes of IPS 1.x.
#[must_use]
pub fn absent_statement(codes: &[Coding]) -> Option<String> {
    codes.iter().find_map(|c| {
        let text = match c.system.as_str() {
            SNOMED_CT => snomed_absent(&c.code)?,
            IPS_ABSENT_UNKNOWN => ips_absent(&c.code).or_else(|| non_empty_str(&c.display))?,
            _ => return None,
        };
        Some(text.to_owned())
    })
}

fn non_empty_str(text: &str) -> Option<&str> {
    (!text.trim().is_empty()).then_some(text)
}

/// SNOMED CT "no known ..." situations of the IPS 2.0 value sets (the `<<` roots of
/// allergies, medications, problems, procedures, immunizations and devices, and the allergy
/// situations of the withdrawn `absent-or-unknown-snomed-uv-ips` value set).
fn snomed_absent(code: &str) -> Option<&'static str> {
    Some(match code {
        "716186003" => "No known allergies",
        "409137002" => "No known drug allergies",
        "428607008" => "No known environmental allergies",
        "429625007" => "No known food allergies",
        "787481004" => "No known medications",
        "160245001" => "No current problems or disability",
        "787480003" => "No known procedures",
        "787482006" => "No known immunizations",
        "787483001" => "No known devices in use",
        _ => return None,
    })
}

/// The displays of `absent-unknown-uv-ips` (IPS 1.1.0).
fn ips_absent(code: &str) -> Option<&'static str> {
    Some(match code {
        "no-allergy-info" => "No information about allergies",
        "no-known-allergies" => "No known allergies",
        "no-known-medication-allergies" => "No known medication allergies",
        "no-known-environmental-allergies" => "No known environmental allergies",
        "no-known-food-allergies" => "No known food allergies",
        "no-device-info" => "No information about devices",
        "no-known-devices" => "No known devices in use",
        "no-immunization-info" => "No information about immunizations",
        "no-known-immunizations" => "No known immunizations",
        "no-medication-info" => "No information about medications",
        "no-known-medications" => "No known medications",
        "no-problem-info" => "No information about problems",
        "no-known-problems" => "No known problems",
        "no-procedure-info" => "No information about past history of procedures",
        "no-known-procedures" => "No known procedures",
        _ => return None,
    })
}

// ------------------------------------------------------------------------------------------
// Small readers of FHIR JSON.

fn s<'v>(value: &'v Value, key: &str) -> &'v str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn arr<'v>(value: &'v Value, key: &str) -> impl Iterator<Item = &'v Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn non_empty(value: &Value) -> Option<String> {
    value
        .as_str()
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
}

/// A non-empty string field, trimmed.
fn text_of(value: &Value, key: &str) -> Option<String> {
    value.get(key).and_then(non_empty)
}

fn scalar(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn codings(concept: Option<&Value>) -> Vec<Coding> {
    concept
        .into_iter()
        .flat_map(|c| arr(c, "coding"))
        .map(|coding| Coding {
            system: s(coding, "system").to_owned(),
            code: s(coding, "code").to_owned(),
            display: s(coding, "display").to_owned(),
        })
        .collect()
}

/// A `CodeableConcept` as words: its text, else a coding's display, else "system code".
fn concept_label(concept: &Value) -> Option<String> {
    text_of(concept, "text")
        .or_else(|| arr(concept, "coding").find_map(|c| text_of(c, "display")))
        .or_else(|| {
            arr(concept, "coding").find_map(|c| {
                let code = text_of(c, "code")?;
                Some(
                    format!("{} {code}", system_name(s(c, "system")))
                        .trim()
                        .to_owned(),
                )
            })
        })
}

/// A section code as "display (LOINC code)".
fn code_label(concept: &Value) -> Option<String> {
    let coding = arr(concept, "coding").find(|c| !s(c, "code").is_empty());
    let label = text_of(concept, "text").or_else(|| coding.and_then(|c| text_of(c, "display")));
    let code = coding.map(|c| {
        format!("{} {}", system_name(s(c, "system")), s(c, "code"))
            .trim()
            .to_owned()
    });
    match (label, code) {
        (Some(label), Some(code)) => Some(format!("{label} ({code})")),
        (label, code) => label.or(code),
    }
}

/// A status element (a code, or a `CodeableConcept`): its text, else its code, else its display.
fn status_text(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::String(text) => non_empty_str(text).map(str::to_owned),
        concept @ Value::Object(_) => text_of(concept, "text")
            .or_else(|| arr(concept, "coding").find_map(|c| text_of(c, "code")))
            .or_else(|| arr(concept, "coding").find_map(|c| text_of(c, "display"))),
        _ => None,
    }
}

fn system_name(system: &str) -> &str {
    match system {
        "http://loinc.org" => "LOINC",
        SNOMED_CT => "SNOMED CT",
        "http://www.nlm.nih.gov/research/umls/rxnorm" => "RxNorm",
        "http://hl7.org/fhir/sid/cvx" => "CVX",
        "http://hl7.org/fhir/sid/icd-10" | "http://hl7.org/fhir/sid/icd-10-cm" => "ICD-10",
        "http://www.whocc.no/atc" => "ATC",
        "http://standardterms.edqm.eu" => "EDQM",
        other => other,
    }
}

/// A `HumanName` list as one name: `text`, else prefix, given and family names.
fn human_name(names: Option<&Value>) -> Option<String> {
    let names = names?.as_array()?;
    let name = names
        .iter()
        .find(|n| s(n, "use") == "official")
        .or_else(|| names.iter().find(|n| s(n, "use") == "usual"))
        .or_else(|| names.first())?;
    if let Some(text) = text_of(name, "text") {
        return Some(text);
    }
    let parts: Vec<&str> = arr(name, "prefix")
        .chain(arr(name, "given"))
        .filter_map(Value::as_str)
        .chain(std::iter::once(s(name, "family")))
        .chain(arr(name, "suffix").filter_map(Value::as_str))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

// ------------------------------------------------------------------------------------------
// The narrative tokenizer: tags, text, CDATA. Comments, processing instructions and doctypes
// are skipped; attributes are read over and dropped. It never fails: what is not markup is text.

enum Token<'a> {
    /// A start tag: lower-case local name (namespace prefix dropped).
    Start {
        name: String,
        self_closing: bool,
    },
    End(String),
    /// Text with entities still encoded.
    Text(&'a str),
    /// CDATA content, literal.
    Cdata(&'a str),
}

struct Tokenizer<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Tokenizer<'a> {
    fn rest(&self) -> &'a [u8] {
        &self.src.as_bytes()[self.pos..]
    }

    /// Moves past the next `needle`, or to the end.
    fn skip_past(&mut self, needle: &[u8]) {
        self.pos = memchr::memmem::find(self.rest(), needle)
            .map_or(self.src.len(), |at| self.pos + at + needle.len());
    }

    fn next_token(&mut self) -> Option<Token<'a>> {
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return None;
            }
            if rest[0] != b'<' {
                let len = memchr::memchr(b'<', rest).unwrap_or(rest.len());
                let text = &self.src[self.pos..self.pos + len];
                self.pos += len;
                return Some(Token::Text(text));
            }
            let after = rest.get(1).copied();
            match after {
                Some(b'!') => {
                    if rest.starts_with(b"<!--") {
                        self.pos += 4;
                        self.skip_past(b"-->");
                    } else if rest.starts_with(b"<![CDATA[") {
                        self.pos += 9;
                        let start = self.pos;
                        let len = memchr::memmem::find(self.rest(), b"]]>")
                            .unwrap_or(self.src.len() - start);
                        self.pos = (start + len + 3).min(self.src.len());
                        return Some(Token::Cdata(&self.src[start..start + len]));
                    } else {
                        self.skip_past(b">");
                    }
                }
                Some(b'?') => self.skip_past(b">"),
                Some(b'/') => {
                    self.pos += 2;
                    let name = self.name();
                    self.skip_past(b">");
                    if !name.is_empty() {
                        return Some(Token::End(name));
                    }
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    self.pos += 1;
                    let name = self.name();
                    let self_closing = self.attributes();
                    return Some(Token::Start { name, self_closing });
                }
                _ => {
                    let text = &self.src[self.pos..self.pos + 1];
                    self.pos += 1;
                    return Some(Token::Text(text));
                }
            }
        }
    }

    /// A tag name at `pos`, lower-cased, without its namespace prefix.
    fn name(&mut self) -> String {
        let len = self
            .rest()
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.')))
            .unwrap_or(self.rest().len());
        let raw = &self.src[self.pos..self.pos + len];
        self.pos += len;
        let local = raw.rsplit(':').next().unwrap_or(raw);
        local.to_ascii_lowercase()
    }

    /// Reads over a start tag's attributes and its end; true for `/>`.
    fn attributes(&mut self) -> bool {
        loop {
            let rest = self.rest();
            let Some(&b) = rest.first() else {
                return false;
            };
            match b {
                b'>' => {
                    self.pos += 1;
                    return false;
                }
                b'/' if rest.get(1) == Some(&b'>') => {
                    self.pos += 2;
                    return true;
                }
                b'"' | b'\'' => {
                    self.pos += 1;
                    self.skip_past(&[b]);
                }
                _ => self.pos += 1,
            }
        }
    }

    /// Skips the content of a raw-text element (`script`, `style`) and its end tag.
    fn skip_raw_text(&mut self, name: &str) {
        loop {
            let Some(at) = memchr::memmem::find(self.rest(), b"</") else {
                self.pos = self.src.len();
                return;
            };
            self.pos += at + 2;
            let rest = self.rest();
            let matches = rest.len() >= name.len()
                && rest[..name.len()].eq_ignore_ascii_case(name.as_bytes())
                && !rest
                    .get(name.len())
                    .is_some_and(|b| b.is_ascii_alphanumeric());
            if matches {
                self.skip_past(b">");
                return;
            }
        }
    }
}

/// Decodes the XML entities, the numeric references and a few HTML ones (`&nbsp;`...); an
/// unknown or broken one stays as written.
fn decode_entities(raw: &str, out: &mut String) {
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        match entity(after) {
            Some((c, len)) => {
                out.push(c);
                rest = &after[len..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
}

/// The character of the entity at the start of `text` (after `&`), and its length with `;`.
fn entity(text: &str) -> Option<(char, usize)> {
    let semi = text.as_bytes().iter().take(34).position(|&b| b == b';')?;
    let name = &text[..semi];
    let c = if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) if !hex.is_empty() && hex.len() <= 8 => u32::from_str_radix(hex, 16).ok()?,
            Some(_) => return None,
            None if !number.is_empty() && number.len() <= 10 => number.parse::<u32>().ok()?,
            None => return None,
        };
        char::from_u32(code)
            .filter(|&c| c != '\0')
            .unwrap_or('\u{fffd}')
    } else {
        match name {
            "amp" => '&',
            "lt" => '<',
            "gt" => '>',
            "quot" => '"',
            "apos" => '\'',
            "nbsp" => '\u{a0}',
            "ndash" => '–',
            "mdash" => '—',
            "hellip" => '…',
            "lsquo" => '‘',
            "rsquo" => '’',
            "ldquo" => '“',
            "rdquo" => '”',
            "middot" => '·',
            "bull" => '•',
            "deg" => '°',
            "micro" => 'µ',
            "plusmn" => '±',
            "times" => '×',
            "le" => '≤',
            "ge" => '≥',
            "copy" => '©',
            "reg" => '®',
            "euro" => '€',
            "pound" => '£',
            _ => return None,
        }
    };
    Some((c, semi + 1))
}

// ------------------------------------------------------------------------------------------
// The narrative builder: tokens to blocks.

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    /// Dropped with everything inside.
    Dropped,
    Br,
    Hr,
    /// A void element with no text (`img`, `input`...).
    Void,
    Block,
    Heading,
    List {
        ordered: bool,
    },
    Item,
    Table,
    TableHead,
    TableBody,
    Row,
    Cell {
        header: bool,
    },
    Caption,
    Bold,
    Italic,
    Inline,
}

fn kind_of(name: &str) -> Kind {
    match name {
        "script" | "style" | "template" | "iframe" | "object" | "embed" | "applet" | "svg"
        | "math" | "head" | "title" | "noscript" | "frameset" | "frame" | "select" | "audio"
        | "video" | "canvas" => Kind::Dropped,
        "br" => Kind::Br,
        "hr" => Kind::Hr,
        "img" | "input" | "meta" | "link" | "area" | "base" | "col" | "wbr" | "source"
        | "track" | "param" | "keygen" => Kind::Void,
        "p" | "div" | "blockquote" | "pre" | "section" | "article" | "aside" | "header"
        | "footer" | "nav" | "address" | "center" | "dl" | "dt" | "dd" | "figure"
        | "figcaption" | "main" | "details" | "summary" | "fieldset" | "legend" | "form"
        | "body" | "html" => Kind::Block,
        "h1" | "h2" | "h3" | "h4" | "h5" | "h6" => Kind::Heading,
        "ul" | "menu" | "dir" => Kind::List { ordered: false },
        "ol" => Kind::List { ordered: true },
        "li" => Kind::Item,
        "table" => Kind::Table,
        "thead" => Kind::TableHead,
        "tbody" | "tfoot" | "colgroup" => Kind::TableBody,
        "tr" => Kind::Row,
        "td" => Kind::Cell { header: false },
        "th" => Kind::Cell { header: true },
        "caption" => Kind::Caption,
        "b" | "strong" => Kind::Bold,
        "i" | "em" | "cite" | "var" | "dfn" => Kind::Italic,
        _ => Kind::Inline,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Boundary {
    /// Between table cells folded into text.
    Soft,
    /// A line break.
    Line,
    /// The end of a paragraph.
    Block,
}

struct Open {
    name: String,
    kind: Kind,
    /// Opened as a mere boundary inside other structure (a list in a cell, a table in a list
    /// item...), not as structure of its own.
    folded: bool,
}

struct ListState {
    ordered: bool,
    items: Vec<Vec<Inline>>,
    item: Option<Vec<Inline>>,
}

#[derive(Default)]
struct TableState {
    head: Vec<String>,
    rows: Vec<Vec<String>>,
    row: Option<Vec<(String, bool)>>,
    cell: Option<(String, bool)>,
    caption: Option<String>,
    in_head: bool,
}

#[derive(Default)]
struct Builder {
    blocks: Vec<Block>,
    para: Vec<Inline>,
    heading: Option<String>,
    list: Option<ListState>,
    table: Option<TableState>,
    stack: Vec<Open>,
    /// Elements opened past [`MAX_NARRATIVE_DEPTH`] and not closed yet.
    overflow: usize,
    /// Inside a dropped element: its name and how many of it are open.
    skip: Option<(String, usize)>,
    /// Structural elements opened folded and not closed yet.
    folded: usize,
    bold: usize,
    italic: usize,
    /// Bytes of text kept so far.
    text_len: usize,
    /// Text was cut at [`MAX_NARRATIVE_TEXT`].
    cut: bool,
}

/// Where text goes now.
enum Target<'b> {
    Text(&'b mut String, bool),
    Inlines(&'b mut Vec<Inline>),
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}')
}

/// Appends `text` to `out` with HTML white-space collapsing; `at_space` says whether what
/// precedes `out` already ends in white space (or is nothing).
fn collapse_into(out: &mut String, text: &str, mut at_space: bool) {
    for c in text.chars() {
        if is_space(c) {
            if !at_space {
                out.push(' ');
                at_space = true;
            }
        } else if !c.is_control() {
            out.push(c);
            at_space = false;
        }
    }
}

fn ends_in_space(text: &str) -> bool {
    text.is_empty() || text.ends_with([' ', '\n'])
}

fn inlines_at_space(inlines: &[Inline]) -> bool {
    match inlines.last() {
        None | Some(Inline::Break) => true,
        Some(Inline::Text { text, .. }) => ends_in_space(text),
    }
}

/// Drops trailing breaks and white space, and empty spans.
fn trim_inlines(mut inlines: Vec<Inline>) -> Vec<Inline> {
    while let Some(last) = inlines.last_mut() {
        match last {
            Inline::Break => {
                inlines.pop();
            }
            Inline::Text { text, .. } => {
                let kept = text.trim_end_matches([' ', '\n']).len();
                text.truncate(kept);
                if text.is_empty() {
                    inlines.pop();
                } else {
                    break;
                }
            }
        }
    }
    inlines
}

fn trim_text(text: &str) -> String {
    text.trim_matches([' ', '\n']).to_owned()
}

impl Builder {
    fn in_structure(&self) -> bool {
        self.heading.is_some() || self.list.is_some() || self.table.is_some()
    }

    fn target(&mut self) -> Target<'_> {
        if let Some(TableState { caption, cell, .. }) = &mut self.table {
            if let Some(caption) = caption {
                return Target::Text(caption, false);
            }
            let (text, _) = cell.get_or_insert_with(|| (String::new(), false));
            return Target::Text(text, false);
        }
        if let Some(list) = &mut self.list {
            return Target::Inlines(list.item.get_or_insert_with(Vec::new));
        }
        if let Some(heading) = &mut self.heading {
            return Target::Text(heading, true);
        }
        Target::Inlines(&mut self.para)
    }

    fn text(&mut self, raw: &str, decode: bool) {
        if self.skip.is_some() {
            return;
        }
        let decoded;
        let text = if decode && raw.contains('&') {
            let mut out = String::new();
            decode_entities(raw, &mut out);
            decoded = out;
            decoded.as_str()
        } else {
            raw
        };
        let blank = text.chars().all(is_space);
        if blank && !self.wants_space() {
            return;
        }
        let room = MAX_NARRATIVE_TEXT.saturating_sub(self.text_len);
        let text = if text.len() > room {
            self.cut = true;
            let mut end = room;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            &text[..end]
        } else {
            text
        };
        let (bold, italic) = (self.bold > 0, self.italic > 0);
        let added = match self.target() {
            Target::Text(out, _) => {
                let before = out.len();
                let at_space = ends_in_space(out);
                collapse_into(out, text, at_space);
                out.len() - before
            }
            Target::Inlines(inlines) => {
                let mut chunk = String::new();
                collapse_into(&mut chunk, text, inlines_at_space(inlines));
                let added = chunk.len();
                if !chunk.is_empty() {
                    match inlines.last_mut() {
                        Some(Inline::Text {
                            text,
                            bold: b,
                            italic: i,
                        }) if blank || (*b == bold && *i == italic) => text.push_str(&chunk),
                        _ => inlines.push(Inline::Text {
                            text: chunk,
                            bold,
                            italic,
                        }),
                    }
                }
                added
            }
        };
        self.text_len += added;
    }

    /// Whether white space here could separate words (not at the start of a container, and not
    /// loose inside a table or a list, where it would open a cell or an item).
    fn wants_space(&self) -> bool {
        if let Some(table) = &self.table {
            return table.caption.is_some() || table.cell.is_some();
        }
        if let Some(list) = &self.list {
            return list.item.is_some();
        }
        true
    }

    fn boundary(&mut self, boundary: Boundary) {
        if boundary == Boundary::Block && !self.in_structure() {
            self.flush_para();
            return;
        }
        if !self.wants_space() {
            return;
        }
        match self.target() {
            Target::Text(out, heading) => {
                let sep = if heading || boundary == Boundary::Soft {
                    ' '
                } else {
                    '\n'
                };
                if out.ends_with(' ') && sep == '\n' {
                    out.pop();
                    out.push('\n');
                } else if !ends_in_space(out) {
                    out.push(sep);
                }
            }
            Target::Inlines(inlines) => {
                if boundary == Boundary::Soft {
                    if !inlines_at_space(inlines) {
                        if let Some(Inline::Text { text, .. }) = inlines.last_mut() {
                            text.push(' ');
                        }
                    }
                } else if !inlines.is_empty() && inlines.last() != Some(&Inline::Break) {
                    let trimmed = trim_inlines(std::mem::take(inlines));
                    *inlines = trimmed;
                    if !inlines.is_empty() {
                        inlines.push(Inline::Break);
                    }
                }
            }
        }
    }

    fn flush_para(&mut self) {
        let para = trim_inlines(std::mem::take(&mut self.para));
        if !para.is_empty() {
            self.blocks.push(Block::Paragraph(para));
        }
    }

    fn start(&mut self, name: String, self_closing: bool) {
        if let Some((skipping, open)) = &mut self.skip {
            if *skipping == name && !self_closing {
                *open += 1;
            }
            return;
        }
        let kind = kind_of(&name);
        match kind {
            Kind::Dropped => {
                if !self_closing {
                    self.skip = Some((name, 1));
                }
                return;
            }
            Kind::Br => {
                self.boundary(Boundary::Line);
                return;
            }
            Kind::Hr => {
                self.boundary(Boundary::Block);
                return;
            }
            Kind::Void => return,
            _ => {}
        }
        if self.stack.len() >= MAX_NARRATIVE_DEPTH {
            if !self_closing {
                self.overflow += 1;
            }
            return;
        }
        let folded = self.open(kind);
        if self_closing {
            self.close(kind, folded);
        } else {
            self.stack.push(Open { name, kind, folded });
        }
    }

    fn end(&mut self, name: &str) {
        if let Some((skipping, open)) = &mut self.skip {
            if skipping == name {
                *open -= 1;
                if *open == 0 {
                    self.skip = None;
                }
            }
            return;
        }
        if self.overflow > 0 {
            self.overflow -= 1;
            return;
        }
        if let Some(at) = self.stack.iter().rposition(|o| o.name == name) {
            while self.stack.len() > at {
                if let Some(open) = self.stack.pop() {
                    self.close(open.kind, open.folded);
                }
            }
        }
    }

    /// Opens an element; true when it is folded into the text around it.
    fn open(&mut self, kind: Kind) -> bool {
        let folding = self.folded > 0;
        match kind {
            Kind::Block => self.boundary(Boundary::Block),
            Kind::Bold => self.bold += 1,
            Kind::Italic => self.italic += 1,
            Kind::Heading | Kind::List { .. } | Kind::Table if self.in_structure() => {
                self.folded += 1;
                self.boundary(Boundary::Line);
                return true;
            }
            Kind::Heading => {
                self.flush_para();
                self.heading = Some(String::new());
            }
            Kind::List { ordered } => {
                self.flush_para();
                self.list = Some(ListState {
                    ordered,
                    items: Vec::new(),
                    item: None,
                });
            }
            Kind::Table => {
                self.flush_para();
                self.table = Some(TableState::default());
            }
            Kind::Item => match &mut self.list {
                Some(list) if !folding => {
                    if let Some(item) = list.item.take() {
                        let item = trim_inlines(item);
                        if !item.is_empty() {
                            list.items.push(item);
                        }
                    }
                    list.item = Some(Vec::new());
                }
                _ => {
                    self.boundary(Boundary::Line);
                    return true;
                }
            },
            Kind::Row | Kind::Cell { .. } | Kind::Caption | Kind::TableHead | Kind::TableBody => {
                return self.open_table_part(kind, folding);
            }
            Kind::Dropped | Kind::Br | Kind::Hr | Kind::Void | Kind::Inline => {}
        }
        false
    }

    fn open_table_part(&mut self, kind: Kind, folding: bool) -> bool {
        let Some(table) = self.table.as_mut().filter(|_| !folding) else {
            let boundary = if matches!(kind, Kind::Cell { .. }) {
                Boundary::Soft
            } else {
                Boundary::Line
            };
            self.boundary(boundary);
            return true;
        };
        match kind {
            Kind::Row => {
                table.flush_row();
                table.row = Some(Vec::new());
            }
            Kind::Cell { header } => {
                table.flush_cell();
                table.cell = Some((String::new(), header));
            }
            Kind::Caption => {
                table.flush_cell();
                table.caption = Some(String::new());
            }
            Kind::TableHead => {
                table.flush_row();
                table.in_head = true;
            }
            _ => table.flush_row(),
        }
        false
    }

    fn close(&mut self, kind: Kind, folded: bool) {
        match kind {
            Kind::Bold => self.bold = self.bold.saturating_sub(1),
            Kind::Italic => self.italic = self.italic.saturating_sub(1),
            Kind::Block => self.boundary(Boundary::Block),
            Kind::Heading | Kind::List { .. } | Kind::Table if folded => {
                self.folded = self.folded.saturating_sub(1);
                self.boundary(Boundary::Line);
            }
            Kind::Item | Kind::Row | Kind::Caption | Kind::TableHead | Kind::TableBody
                if folded =>
            {
                self.boundary(Boundary::Line);
            }
            Kind::Cell { .. } if folded => self.boundary(Boundary::Soft),
            Kind::Heading => self.close_heading(),
            Kind::List { .. } => self.close_list(),
            Kind::Table => self.close_table(),
            Kind::Item => {
                if let Some(list) = &mut self.list {
                    if let Some(item) = list.item.take() {
                        let item = trim_inlines(item);
                        if !item.is_empty() {
                            list.items.push(item);
                        }
                    }
                }
            }
            Kind::Row | Kind::TableBody | Kind::TableHead => {
                if let Some(table) = &mut self.table {
                    table.flush_row();
                    if kind == Kind::TableHead {
                        table.in_head = false;
                    }
                }
            }
            Kind::Cell { .. } => {
                if let Some(table) = &mut self.table {
                    table.flush_cell();
                }
            }
            Kind::Caption => {
                if let Some(caption) = self.table.as_mut().and_then(|t| t.caption.take()) {
                    let caption = trim_text(&caption);
                    if !caption.is_empty() {
                        self.blocks.push(Block::Heading(caption));
                    }
                }
            }
            Kind::Dropped | Kind::Br | Kind::Hr | Kind::Void | Kind::Inline => {}
        }
    }

    fn close_heading(&mut self) {
        if let Some(heading) = self.heading.take() {
            let heading = trim_text(&heading);
            if !heading.is_empty() {
                self.blocks.push(Block::Heading(heading));
            }
        }
    }

    fn close_list(&mut self) {
        if let Some(mut list) = self.list.take() {
            if let Some(item) = list.item.take() {
                let item = trim_inlines(item);
                if !item.is_empty() {
                    list.items.push(item);
                }
            }
            if !list.items.is_empty() {
                self.blocks.push(Block::List {
                    ordered: list.ordered,
                    items: list.items,
                });
            }
        }
    }

    fn close_table(&mut self) {
        if let Some(mut table) = self.table.take() {
            if let Some(caption) = table.caption.take() {
                let caption = trim_text(&caption);
                if !caption.is_empty() {
                    self.blocks.push(Block::Heading(caption));
                }
            }
            table.flush_row();
            if !table.head.is_empty() || !table.rows.is_empty() {
                self.blocks.push(Block::Table {
                    head: table.head,
                    rows: table.rows,
                });
            }
        }
    }

    fn finish(mut self) -> Vec<Block> {
        self.skip = None;
        while let Some(open) = self.stack.pop() {
            self.close(open.kind, open.folded);
        }
        self.close_heading();
        self.close_list();
        self.close_table();
        self.flush_para();
        self.blocks
    }
}

impl TableState {
    fn flush_cell(&mut self) {
        if let Some((text, header)) = self.cell.take() {
            self.row
                .get_or_insert_with(Vec::new)
                .push((trim_text(&text), header));
        }
    }

    fn flush_row(&mut self) {
        self.flush_cell();
        let Some(row) = self.row.take() else {
            return;
        };
        if row.is_empty() {
            return;
        }
        let is_head = (self.in_head || row.iter().all(|(_, header)| *header))
            && self.head.is_empty()
            && self.rows.is_empty();
        let cells = row.into_iter().map(|(text, _)| text).collect();
        if is_head {
            self.head = cells;
        } else {
            self.rows.push(cells);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(div: &str) -> String {
        narrative(div).plain_text()
    }

    fn t(text: &str) -> Inline {
        Inline::Text {
            text: text.to_owned(),
            bold: false,
            italic: false,
        }
    }

    fn b(text: &str) -> Inline {
        Inline::Text {
            text: text.to_owned(),
            bold: true,
            italic: false,
        }
    }

    #[test]
    fn paragraphs_and_emphasis() {
        let n = narrative(
            "<div xmlns=\"http://www.w3.org/1999/xhtml\"><p><b>status</b>: final</p>\n  <p>two\n lines<br/>here</p>loose</div>",
        );
        assert_eq!(
            n.blocks,
            vec![
                Block::Paragraph(vec![b("status"), t(": final")]),
                Block::Paragraph(vec![t("two lines"), Inline::Break, t("here")]),
                Block::Paragraph(vec![t("loose")]),
            ]
        );
        assert!(!n.truncated);
        let n = narrative("<p><i>a</i> <em><strong>b</strong></em></p>");
        assert_eq!(
            n.blocks,
            vec![Block::Paragraph(vec![
                Inline::Text {
                    text: "a ".into(),
                    bold: false,
                    italic: true
                },
                Inline::Text {
                    text: "b".into(),
                    bold: true,
                    italic: true
                },
            ])]
        );
    }

    #[test]
    fn entities() {
        assert_eq!(
            text("<p>a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; &#65;&#x42;&#X43;&nbsp;x</p>"),
            "a & b <c> \"d\" 'e' ABC\u{a0}x"
        );
        assert_eq!(
            text("<p>&bogus; &amp &#xZZ; &#; &#0;</p>"),
            "&bogus; &amp &#xZZ; &#; \u{fffd}"
        );
        assert_eq!(text("<p>&#x110000;&#xD800;</p>"), "\u{fffd}\u{fffd}");
        assert_eq!(text("<![CDATA[<b>&amp;</b>]]>"), "<b>&amp;</b>");
    }

    #[test]
    fn headings_and_lists() {
        let n = narrative(
            "<h3>Title <b>x</b></h3><ul><li><div><b>Name</b>: A</div><div>Code: 1</div></li><li>B<ul><li>b1</li></ul></li></ul><ol><li>one</li></ol>",
        );
        assert_eq!(
            n.blocks,
            vec![
                Block::Heading("Title x".into()),
                Block::List {
                    ordered: false,
                    items: vec![
                        vec![b("Name"), t(": A"), Inline::Break, t("Code: 1")],
                        vec![t("B"), Inline::Break, t("b1")],
                    ]
                },
                Block::List {
                    ordered: true,
                    items: vec![vec![t("one")]]
                },
            ]
        );
    }

    #[test]
    fn tables() {
        let n = narrative(
            "<table><caption>Cap</caption><thead><tr><th>A</th><th>B</th></tr></thead><tbody>\n<tr><td>1</td><td/></tr><tr><td><p>x</p><p>y</p></td><td><ul><li>l1</li><li>l2</li></ul></td></tr></tbody></table>",
        );
        assert_eq!(
            n.blocks,
            vec![
                Block::Heading("Cap".into()),
                Block::Table {
                    head: vec!["A".into(), "B".into()],
                    rows: vec![
                        vec!["1".into(), String::new()],
                        vec!["x\ny".into(), "l1\nl2".into()],
                    ]
                }
            ]
        );
        // A first row of th cells is the head; without, there is none.
        let n = narrative("<table><tr><th>h</th></tr><tr><th>k</th><td>v</td></tr></table>");
        assert_eq!(
            n.blocks,
            vec![Block::Table {
                head: vec!["h".into()],
                rows: vec![vec!["k".into(), "v".into()]]
            }]
        );
        // A table in a cell folds into the cell's text.
        assert_eq!(
            text("<table><tr><td>a<table><tr><td>b</td><td>c</td></tr></table></td></tr></table>"),
            "a\nb c"
        );
        // Unclosed cells and rows.
        assert_eq!(text("<table><tr><td>a<td>b<tr><td>c"), "a\tb\nc");
    }

    #[test]
    fn hostile_markup_leaves_only_text() {
        let cases = [
            (
                "<script>alert(1)</script><img src=x onerror=alert(1)><a href=\"javascript:alert(1)\">x</a>",
                "x",
            ),
            (
                "<SCRIPT type='text/javascript'>if (a<b) alert(1)</SCRIPT>ok",
                "ok",
            ),
            ("<script>never closed <b>bold</b>", ""),
            ("<style>p { color: red }</style><p style=\"x\">ok</p>", "ok"),
            ("<!-- <script>alert(1)</script> -->ok<!-- unclosed", "ok"),
            ("<svg><script>alert(1)</script><text>t</text></svg>ok", "ok"),
            ("<a title=\"a>b\" onclick='x>y'>t</a>", "t"),
            ("<iframe src=\"javascript:alert(1)\">in</iframe>ok", "ok"),
            // As a browser does, `<scr<script>` is one (unknown) tag: what follows is text.
            ("<scr<script>ipt>alert(1)</script>x", "ipt>alert(1)x"),
            ("<?xml version=\"1.0\"?><!DOCTYPE x>ok", "ok"),
            ("a < b > c", "a < b > c"),
            ("<p onmouseover=alert(1)>m</p>", "m"),
            (
                "<div><object data=x><param name=a value=b>o</object>ok</div>",
                "ok",
            ),
        ];
        for (div, want) in cases {
            assert_eq!(text(div), want, "{div}");
        }
    }

    #[test]
    fn deep_and_large_input_is_bounded() {
        let depth = 10_000;
        let div = format!(
            "{}deep{}",
            "<div><b>".repeat(depth),
            "</b></div>".repeat(depth)
        );
        let n = narrative(&div);
        assert_eq!(n.plain_text(), "deep");
        assert!(!n.truncated);

        let div = format!("{}deep", "<div>".repeat(MAX_NARRATIVE_TOKENS + 1));
        let n = narrative(&div);
        assert!(n.truncated, "more tokens than the limit");
        assert_eq!(n.plain_text(), "…");

        let div = format!(
            "{}x{}",
            "<ul><li><table><tr><td>".repeat(5000),
            "</td></tr></table></li></ul>".repeat(5000)
        );
        assert_eq!(narrative(&div).plain_text(), "x");

        let div = format!("<p>{}</p>", "word ".repeat(200_000));
        let n = narrative(&div);
        assert!(n.truncated);
        assert!(n.plain_text().len() < MAX_NARRATIVE_TEXT + 16 * 1024);

        let div = "<p>".repeat(MAX_NARRATIVE_INPUT);
        assert!(narrative(&div).truncated);
    }

    #[test]
    fn references_resolve() {
        let bundle = serde_json::json!({"resourceType": "Bundle", "type": "document", "entry": [
            {"fullUrl": "https://x.org/fhir/Composition/c", "resource": {"resourceType": "Composition", "id": "c",
              "subject": {"reference": "Patient/p"},
              "author": [{"reference": "https://x.org/fhir/Device/d"}, {"reference": "urn:uuid:o"},
                         {"reference": "Practitioner/missing", "display": "Dr Who"}, {"reference": "#r"}],
              "contained": [{"resourceType": "PractitionerRole", "id": "r", "practitioner": {"display": "Ann"},
                             "code": [{"text": "nurse"}]}],
              "section": [{"code": {"coding": [{"system": "http://loinc.org", "code": "11450-4", "display": "Problem list"}]},
                           "entry": [{"reference": "Condition/k/_history/2"}, {"reference": "urn:uuid:gone"}],
                           "section": [{"title": "Child"}]}]}},
            {"fullUrl": "https://x.org/fhir/Patient/p", "resource": {"resourceType": "Patient", "id": "p",
              "name": [{"given": ["A"], "family": "B"}], "birthDate": "1970", "gender": "other"}},
            {"fullUrl": "https://x.org/fhir/Device/d", "resource": {"resourceType": "Device", "id": "d",
              "deviceName": [{"name": "Summariser"}]}},
            {"fullUrl": "urn:uuid:o", "resource": {"resourceType": "Organization", "id": "o", "name": "Org"}},
            {"fullUrl": "https://x.org/fhir/Condition/k", "resource": {"resourceType": "Condition", "id": "k",
              "code": {"coding": [{"system": "http://snomed.info/sct", "code": "160245001",
                                   "display": "No current problems or disability"}]}}}
        ]});
        let doc = document(&bundle).unwrap();
        assert_eq!(doc.title, "Untitled document");
        let subject = doc.subject.unwrap();
        assert_eq!((subject.name.as_str(), subject.unresolved), ("A B", false));
        assert_eq!(doc.authors, ["Summariser", "Org", "Dr Who", "Ann (nurse)"]);
        let section = &doc.sections[0];
        assert_eq!(section.title, "Problem list");
        assert_eq!(
            section.code.as_deref(),
            Some("Problem list (LOINC 11450-4)")
        );
        assert_eq!(section.children[0].title, "Child");
        assert_eq!(section.entries.len(), 2);
        assert!(!section.entries[0].unresolved);
        assert_eq!(
            section.entries[0].absent.as_deref(),
            Some("No current problems or disability")
        );
        assert!(section.entries[1].unresolved);
        assert_eq!(section.entries[1].summary, "urn:uuid:gone");
    }

    #[test]
    fn reference_parts() {
        assert_eq!(
            rest_base("https://a.b/fhir/Patient/1"),
            Some("https://a.b/fhir/")
        );
        assert_eq!(rest_base("urn:uuid:1"), None);
        assert_eq!(type_and_id("Patient/1"), Some(("Patient", "1")));
        assert_eq!(type_and_id("patient/1"), None);
        assert!(has_scheme("urn:uuid:1") && has_scheme("http://x/P/1") && !has_scheme("P/1"));
    }
}
