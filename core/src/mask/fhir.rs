//! The FHIR JSON walker: finds each element's data type from its name and shape, applies the
//! first matching rule, and sends any text no rule claimed through the free-text checks.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::date::FhirDate;
use super::engine::{
    Engine, FREE_TEXT_REMOVE_NOTE, FREE_TEXT_REMOVE_RULE, PERSON_TYPES, is_textual,
    kind_of_identifier, kind_of_system, reference_id,
};
use super::policy::{DataType, FreeText, IdentifierKind, Method, Rule};
use super::preview::Loc;
use super::zip::generalize_zip;

/// Elements that hold codes, URIs and other machine values, never free text.
const NOT_TEXT: [&str; 18] = [
    "hash",
    "uid",
    "resourceType",
    "system",
    "url",
    "code",
    "id",
    "reference",
    "fullUrl",
    "contentType",
    "language",
    "status",
    "use",
    "profile",
    "unit",
    "currency",
    "gender",
    "data",
];

/// String elements that hold prose wherever they are (`free_text: remove` drops them):
/// descriptions, comments, conclusions, summaries, string and markdown values, message
/// contents and instructions.
const PROSE_STRINGS: [&str; 10] = [
    "description",
    "comment",
    "valueString",
    "valueMarkdown",
    "conclusion",
    "summary",
    "contentString",
    "patientInstruction",
    "answerString",
    "outcomeString",
];

/// Whether a `text` string under this parent element is prose (an Annotation's or a Dosage's)
/// rather than a CodeableConcept's text or a label.
fn prose_text_parent(parent: Option<&str>) -> bool {
    matches!(
        parent,
        None | Some("note" | "dosageInstruction" | "dosage" | "patientInstruction")
    )
}

/// Elements of FHIR type `instant` by name alone, wherever they are.
const INSTANT_KEYS: [&str; 5] = ["issued", "lastUpdated", "valueInstant", "instant", "when"];

/// Elements of type `instant` that share their name with `date`/`dateTime` elements of other
/// resources: (resource type, path from the resource).
const INSTANT_PATHS: [(&str, &str); 14] = [
    ("Provenance", "recorded"),
    ("AuditEvent", "recorded"),
    ("DocumentReference", "date"),
    ("Bundle", "timestamp"),
    ("Bundle", "entry.response.lastModified"),
    ("Appointment", "start"),
    ("Appointment", "end"),
    ("AppointmentResponse", "start"),
    ("AppointmentResponse", "end"),
    ("Slot", "start"),
    ("Slot", "end"),
    ("Subscription", "end"),
    ("DeviceMetric", "calibration.time"),
    ("Media", "issued"),
];

/// Elements of type `instant` that FHIR R4 requires (min 1): they cannot be removed, so
/// generalising them gives the first instant of their year instead of a bare year (which the
/// type does not allow). `when` is Signature.when.
const REQUIRED_INSTANTS: [(&str, &str); 5] = [
    ("Provenance", "recorded"),
    ("AuditEvent", "recorded"),
    ("Slot", "start"),
    ("Slot", "end"),
    ("*", "when"),
];

/// Whether the element at this path of this resource is of type `instant`.
fn is_instant(rtype: &str, path: &[String], key: &str) -> bool {
    if INSTANT_KEYS.contains(&key) {
        return true;
    }
    let joined = path.join(".");
    INSTANT_PATHS
        .iter()
        .any(|(r, p)| *r == rtype && *p == joined)
}

/// Whether an `instant` element is required, so it must be kept in some valid form.
fn instant_required(rtype: &str, path: &[String], key: &str) -> bool {
    let joined = path.join(".");
    REQUIRED_INSTANTS
        .iter()
        .any(|(r, p)| (*r == rtype && *p == joined) || (*r == "*" && *p == key))
}

/// The note the report carries when timestamps were generalised.
const INSTANT_NOTE: &str = "Timestamps (FHIR instant: when a result was issued, a document \
     made, a record last changed) cannot hold a year alone: optional ones were removed, and \
     required ones (when a provenance or audit record was made, signature times, slot times) \
     were set to 1 January of their year, 00:00 UTC.";

/// Elements whose values are never dates even when they look like one.
const NOT_DATE: [&str; 9] = [
    "code",
    "system",
    "version",
    "reference",
    "url",
    "id",
    "unit",
    "display",
    "div",
];

const SHIFT_NONE: &str = "";

/// Where the walker is.
struct Cx {
    rtype: String,
    path: Vec<String>,
    /// The original id of the patient whose dates these are (empty if none).
    patient: String,
    contained: bool,
    /// A sibling to add next to the current element (`_birthDate` for the over-89 marker).
    sibling: Option<(String, Value)>,
    /// Where the walker is, for the preview; `None` unless changes are being recorded.
    loc: Option<Loc>,
}

impl Cx {
    fn push_key(&mut self, key: &str) {
        if let Some(l) = &mut self.loc {
            l.push_key(key);
        }
    }

    fn push_index(&mut self, i: usize) {
        if let Some(l) = &mut self.loc {
            l.push_index(i);
        }
    }

    fn pop_loc(&mut self) {
        if let Some(l) = &mut self.loc {
            l.pop();
        }
    }

    fn location(&self) -> String {
        self.loc.as_ref().map(Loc::render).unwrap_or_default()
    }
}

impl<'p> Engine<'p> {
    // ---------------------------------------------------------------- the walk

    /// Masks a whole JSON document (Bundle, resource or other JSON).
    pub(crate) fn mask_document(&mut self, v: Value) -> Value {
        match v {
            Value::Object(map) if map.contains_key("resourceType") => {
                Value::Object(self.walk_resource(map, None, None))
            }
            other => {
                let label = self.line.map(|n| format!("line {n}")).unwrap_or_default();
                let mut cx = Cx {
                    rtype: String::new(),
                    path: Vec::new(),
                    patient: self.default_patient(),
                    contained: false,
                    sibling: None,
                    loc: self.tally.recording().then(|| Loc::label(label)),
                };
                self.walk(other, "", &mut cx).unwrap_or(Value::Null)
            }
        }
    }

    fn default_patient(&self) -> String {
        if self.patients.len() == 1 {
            self.patients.iter().next().cloned().unwrap_or_default()
        } else {
            SHIFT_NONE.to_owned()
        }
    }

    fn patient_of(&self, rt: &str, map: &Map<String, Value>) -> String {
        if rt == "Patient"
            && let Some(id) = map.get("id").and_then(Value::as_str)
        {
            return id.to_owned();
        }
        for key in ["subject", "patient", "beneficiary", "individual"] {
            if let Some(r) = map
                .get(key)
                .and_then(|s| s.get("reference"))
                .and_then(Value::as_str)
            {
                let id = reference_id(r);
                if self.patients.contains(id) {
                    return id.to_owned();
                }
            }
        }
        self.default_patient()
    }

    /// Masks one resource. `parent` is the resource that contains it (for `contained`);
    /// `outer` the preview location of the place it sits in, if it is not the document.
    fn walk_resource(
        &mut self,
        map: Map<String, Value>,
        parent: Option<&Cx>,
        outer: Option<&Loc>,
    ) -> Map<String, Value> {
        let rt = map
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let patient = match parent {
            Some(p) => p.patient.clone(),
            None => self.patient_of(&rt, &map),
        };
        let loc = self.tally.recording().then(|| {
            let id = map.get("id").and_then(Value::as_str);
            match (id, outer) {
                (Some(id), _) if parent.is_none() => Loc::label(format!("{rt}/{id}")),
                (_, Some(o)) => Loc::continuing(o),
                _ => Loc::label(
                    self.line
                        .map_or_else(|| rt.clone(), |n| format!("line {n}")),
                ),
            }
        });
        let mut cx = Cx {
            rtype: rt,
            path: Vec::new(),
            patient,
            contained: parent.is_some(),
            sibling: None,
            loc,
        };
        self.walk_map(map, None, &mut cx)
    }

    fn walk_map(
        &mut self,
        map: Map<String, Value>,
        dt: Option<DataType>,
        cx: &mut Cx,
    ) -> Map<String, Value> {
        self.walk_map_with(map, dt, cx, None).0
    }

    /// Walks an object's members; the member named in `pseudonymize` (a Reference's
    /// `reference` or an Identifier's `value`) is replaced by its pseudonym in place, keeping
    /// member order, under the rule and kind given with it. Returns the object and whether
    /// that member changed.
    fn walk_map_with(
        &mut self,
        map: Map<String, Value>,
        dt: Option<DataType>,
        cx: &mut Cx,
        pseudonymize: Option<(&str, &str, IdentifierKind)>,
    ) -> (Map<String, Value>, bool) {
        let content_type = map
            .get("contentType")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut out = Map::with_capacity(map.len());
        let mut changed = false;
        let codeable = map.contains_key("coding");
        let remove_prose = self.policy.text.free_text == FreeText::Remove;
        for (k, child) in map {
            self.in_codeable = codeable;
            if remove_prose && self.is_prose(&k, &child, codeable, cx) {
                self.remove_prose(&k, &child, cx);
                continue;
            }
            if let Some((field, rule, kind)) = pseudonymize.filter(|p| p.0 == k)
                && let Value::String(s) = &child
            {
                let p = if field == "reference" {
                    self.pseudonym_reference(s)
                } else {
                    self.pseudonym(s)
                };
                changed |= p != *s;
                if let (Some(r), Some(loc)) = (&mut self.tally.preview, &mut cx.loc) {
                    loc.push_key(&k);
                    r.whole(&|| loc.render(), rule, kind, Method::Pseudonym, s, Some(&p));
                    loc.pop();
                }
                out.insert(k, Value::String(p));
                continue;
            }
            if dt == Some(DataType::Attachment) && k == "data" {
                cx.push_key(&k);
                let masked = self.attachment_data(child, content_type.as_deref(), cx);
                cx.pop_loc();
                if let Some(v) = masked {
                    out.insert(k, v);
                }
                continue;
            }
            if let Value::Object(m) = &child
                && (k == "resource" || k == "contained")
                && m.contains_key("resourceType")
            {
                if let Value::Object(m) = child {
                    let contained = k == "contained";
                    let parent = if contained { Some(&*cx) } else { None };
                    let outer = cx.loc.as_ref().map(|l| {
                        let mut l = l.clone();
                        l.push_key(&k);
                        l
                    });
                    let masked = self.walk_resource(m, parent, outer.as_ref());
                    out.insert(k, Value::Object(masked));
                }
                continue;
            }
            if k == "contained"
                && let Value::Array(items) = child
            {
                let masked: Vec<Value> = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, item)| match item {
                        Value::Object(m) if m.contains_key("resourceType") => {
                            let outer = cx.loc.as_ref().map(|l| {
                                let mut l = l.clone();
                                l.push_key(&k);
                                l.push_index(i);
                                l
                            });
                            Value::Object(self.walk_resource(m, Some(&*cx), outer.as_ref()))
                        }
                        other => other,
                    })
                    .collect();
                out.insert(k, Value::Array(masked));
                continue;
            }
            cx.path.push(k.clone());
            cx.push_key(&k);
            let masked = self.walk(child, &k, cx);
            cx.pop_loc();
            cx.path.pop();
            if let Some(v) = masked {
                out.insert(k, v);
            }
            if let Some((sk, sv)) = cx.sibling.take() {
                out.insert(sk, sv);
            }
        }
        (out, changed)
    }

    fn infer_type(&self, key: &str, v: &Value, cx: &Cx) -> Option<DataType> {
        match v {
            Value::String(s) => {
                if key == "id" && cx.path.len() == 1 && !cx.contained && !cx.rtype.is_empty() {
                    return Some(DataType::Id);
                }
                if key == "fullUrl" {
                    return Some(DataType::Reference);
                }
                if cx.rtype == "Bundle"
                    && key == "url"
                    && cx.path.len() == 3
                    && cx.path[1] == "request"
                    && s.contains('/')
                {
                    return Some(DataType::Reference);
                }
                let b = s.as_bytes();
                if b.len() >= 4 && b[0].is_ascii_digit() && !NOT_DATE.contains(&key) {
                    let datey =
                        b.len() >= 7 || key.contains("ate") || matches!(key, "start" | "end");
                    if datey && let Some(d) = FhirDate::parse(s) {
                        return Some(if is_instant(&cx.rtype, &cx.path, key) {
                            DataType::Instant
                        } else if d.time.is_empty() {
                            DataType::Date
                        } else {
                            DataType::DateTime
                        });
                    }
                }
                None
            }
            Value::Object(m) => {
                if m.contains_key("resourceType") {
                    return None;
                }
                if m.contains_key("family") || m.contains_key("given") {
                    return Some(DataType::HumanName);
                }
                if matches!(key, "address" | "valueAddress")
                    || ["line", "city", "postalCode", "district"]
                        .iter()
                        .any(|k| m.contains_key(*k))
                {
                    return Some(DataType::Address);
                }
                if matches!(key, "telecom" | "valueContactPoint") {
                    return Some(DataType::ContactPoint);
                }
                if key == "identifier" || key.ends_with("Identifier") {
                    return Some(DataType::Identifier);
                }
                if m.get("reference").is_some_and(Value::is_string) {
                    return Some(DataType::Reference);
                }
                if key.ends_with("Age")
                    || (m.get("code").and_then(Value::as_str) == Some("a")
                        && m.get("value").is_some_and(Value::is_number))
                {
                    return Some(DataType::Age);
                }
                if m.get("data").is_some_and(Value::is_string)
                    || (m.contains_key("contentType") && !m.contains_key("resourceType"))
                {
                    return Some(DataType::Attachment);
                }
                None
            }
            _ => None,
        }
    }

    fn find_rule(&self, cx: &Cx, dt: Option<DataType>, ext: Option<&str>) -> Option<&'p Rule> {
        self.rules
            .iter()
            .find(|r| {
                r.resources.is_none_or(|rs| rs.contains(&cx.rtype))
                    && r.path_resource.is_none_or(|x| x == cx.rtype)
                    && r.types.is_none_or(|ts| dt.is_some_and(|d| ts.contains(&d)))
                    && r.extension.is_none_or(|u| ext == Some(u))
                    && r.path.as_ref().is_none_or(|p| {
                        p.len() == cx.path.len()
                            && p.iter().zip(&cx.path).all(|(a, b)| *a == "*" || a == b)
                    })
            })
            .map(|r| r.rule)
    }

    fn walk(&mut self, v: Value, key: &str, cx: &mut Cx) -> Option<Value> {
        let dt = self.infer_type(key, &v, cx);
        let ext = if matches!(key, "extension" | "modifierExtension") {
            v.get("url").and_then(Value::as_str).map(str::to_owned)
        } else {
            None
        };
        if (dt.is_some() || ext.is_some() || !matches!(v, Value::Object(_)))
            && let Some(rule) = self.find_rule(cx, dt, ext.as_deref())
        {
            return self.apply(rule, v, key, dt, cx);
        }
        let out = self.descend(v, key, dt, cx);
        if ext.is_some()
            && let Some(Value::Object(m)) = &out
            && !m.keys().any(|k| k.starts_with("value") || k == "extension")
        {
            // An extension must have a value or extensions (FHIR ext-1): one whose value was
            // removed (an instant, say) goes as a whole rather than as a bare url.
            return None;
        }
        out
    }

    fn descend(&mut self, v: Value, key: &str, dt: Option<DataType>, cx: &mut Cx) -> Option<Value> {
        match v {
            Value::Object(map) => {
                let was_empty = map.is_empty();
                let out = self.walk_map(map, dt, cx);
                (was_empty || !out.is_empty()).then_some(Value::Object(out))
            }
            Value::Array(items) => {
                let was_empty = items.is_empty();
                let out: Vec<Value> = items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(n, i)| {
                        cx.push_index(n);
                        let v = self.walk(i, key, cx);
                        cx.pop_loc();
                        v
                    })
                    .collect();
                (was_empty || !out.is_empty()).then_some(Value::Array(out))
            }
            Value::String(s) => Some(Value::String(self.free_text(s, key, cx))),
            other => Some(other),
        }
    }

    fn free_text(&mut self, s: String, key: &str, cx: &Cx) -> String {
        if NOT_TEXT.contains(&key) || s.len() < 2 {
            return s;
        }
        let patient = cx.patient.clone();
        // Terminology displays ("Parkinson's disease") are not prose: only the patterns run.
        // So are a CodeableConcept's text, and the names and values of things that are not
        // people (an Organization's name, a ContactPoint's or Identifier's value: those of
        // people are removed by their rules).
        // A `text` string is prose in an Annotation (`note`) or a Dosage; elsewhere in FHIR it
        // is a CodeableConcept's text (with or without codings) or a label.
        let parent = cx.path.len().checked_sub(2).map(|i| cx.path[i].as_str());
        let prose_text = prose_text_parent(parent);
        self.coded = matches!(key, "display" | "name" | "value")
            || (key == "text" && (self.in_codeable || !prose_text));
        let out = self.scan_text(s, &patient, true, &|| cx.location());
        self.coded = false;
        out
    }

    /// Whether member `key` of the object being walked is prose that `free_text: remove`
    /// drops whole: a Narrative (`text` with a `div`), Annotations (`note`), or a prose string.
    /// Required elements are never dropped alone: an Annotation goes with its `text`, a
    /// Narrative with its `div`, and an object left empty goes with it.
    fn is_prose(&self, key: &str, v: &Value, codeable: bool, cx: &Cx) -> bool {
        match v {
            Value::Object(m) => key == "text" && m.contains_key("div"),
            Value::Array(_) => key == "note",
            Value::String(_) => {
                PROSE_STRINGS.contains(&key)
                    || (key == "text"
                        && !codeable
                        && prose_text_parent(cx.path.last().map(String::as_str)))
            }
            _ => false,
        }
    }

    fn remove_prose(&mut self, key: &str, v: &Value, cx: &mut Cx) {
        let (rule, kind) = (FREE_TEXT_REMOVE_RULE, IdentifierKind::Other);
        self.tally.add(rule, kind, Method::Redact);
        self.tally.note(FREE_TEXT_REMOVE_NOTE.to_owned());
        cx.push_key(key);
        // A Narrative is shown by its `div` (its `status` says nothing about the patient).
        if let Some(div) = v.get("div") {
            cx.push_key("div");
            self.record(cx, rule, kind, Method::Redact, div, None);
            cx.pop_loc();
        } else {
            self.record(cx, rule, kind, Method::Redact, v, None);
        }
        cx.pop_loc();
    }

    fn attachment_data(&mut self, v: Value, content_type: Option<&str>, cx: &Cx) -> Option<Value> {
        let Value::String(data) = v else {
            return Some(v);
        };
        let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(compact.as_bytes())
            .ok();
        let size = decoded.as_ref().map(Vec::len);
        let text = decoded.and_then(|bytes| {
            let textual = content_type.is_none_or(is_textual);
            if textual {
                String::from_utf8(bytes).ok()
            } else {
                None
            }
        });
        match text {
            Some(t) if self.policy.text.free_text == FreeText::Remove => {
                let (rule, kind) = (FREE_TEXT_REMOVE_RULE, IdentifierKind::Other);
                self.tally.add(rule, kind, Method::Redact);
                self.tally.note(FREE_TEXT_REMOVE_NOTE.to_owned());
                if let Some(r) = &mut self.tally.preview {
                    let what = format!("a text attachment, {} bytes", t.len());
                    r.whole(&|| cx.location(), rule, kind, Method::Redact, &what, None);
                }
                None
            }
            Some(t) => {
                let patient = cx.patient.clone();
                let at = || format!("{} (decoded text)", cx.location());
                let masked = self.scan_text(t.clone(), &patient, true, &at);
                if masked == t {
                    Some(Value::String(data))
                } else {
                    Some(Value::String(
                        base64::engine::general_purpose::STANDARD.encode(masked.as_bytes()),
                    ))
                }
            }
            None if self.policy.text.redact_binary_attachments => {
                let (rule, kind) = ("binary-attachments", IdentifierKind::Photo);
                self.tally.add(rule, kind, Method::Redact);
                self.tally.note(
                    "Attachments that are not text (images, PDFs) were removed because they cannot be checked for identifiers.".to_owned(),
                );
                if let Some(r) = &mut self.tally.preview {
                    let what = match (content_type, size) {
                        (Some(ct), Some(n)) => format!("an attachment of type {ct}, {n} bytes"),
                        (None, Some(n)) => format!("an attachment, {n} bytes"),
                        (Some(ct), None) => format!("an attachment of type {ct}"),
                        (None, None) => "an attachment".to_owned(),
                    };
                    r.whole(&|| cx.location(), rule, kind, Method::Redact, &what, None);
                }
                None
            }
            None => Some(Value::String(data)),
        }
    }

    // ---------------------------------------------------------------- methods

    /// Records, for the preview, that the element at the walker's place changed from `before`
    /// to `after` (removed when `None`).
    fn record(
        &mut self,
        cx: &mut Cx,
        rule: &str,
        kind: IdentifierKind,
        method: Method,
        before: &Value,
        after: Option<&Value>,
    ) {
        if let (Some(r), Some(loc)) = (&mut self.tally.preview, &mut cx.loc) {
            r.value(loc, rule, kind, method, before, after);
        }
    }

    fn apply(
        &mut self,
        rule: &'p Rule,
        v: Value,
        key: &str,
        dt: Option<DataType>,
        cx: &mut Cx,
    ) -> Option<Value> {
        if let Value::Array(items) = v {
            // A rule that names an array applies to each item.
            let out: Vec<Value> = items
                .into_iter()
                .enumerate()
                .filter_map(|(n, i)| {
                    let idt = self.infer_type(key, &i, cx).or(dt);
                    cx.push_index(n);
                    let v = self.apply(rule, i, key, idt, cx);
                    cx.pop_loc();
                    v
                })
                .collect();
            return (!out.is_empty()).then_some(Value::Array(out));
        }
        let kind = match (&v, dt) {
            (Value::Object(m), Some(DataType::ContactPoint))
                if rule.kind == IdentifierKind::Telephone =>
            {
                kind_of_system(m.get("system").and_then(Value::as_str).unwrap_or("phone"))
            }
            (Value::Object(m), Some(DataType::Identifier))
                if PERSON_TYPES.contains(&cx.rtype.as_str()) && rule.method == Method::Redact =>
            {
                match kind_of_identifier(m) {
                    IdentifierKind::Other => rule.kind,
                    k => k,
                }
            }
            _ => rule.kind,
        };
        let id = rule.id.as_str();
        match rule.method {
            Method::Keep => Some(v),
            Method::Redact => {
                self.tally.add(id, kind, Method::Redact);
                self.record(cx, id, kind, Method::Redact, &v, None);
                None
            }
            Method::Substitute => {
                self.tally.add(id, kind, Method::Substitute);
                let out = rule.value.clone();
                self.record(cx, id, kind, Method::Substitute, &v, out.as_ref());
                out
            }
            Method::Generalize => self.generalize(rule, kind, v, key, dt, cx),
            Method::DateShift => match v {
                Value::String(s) if FhirDate::parse(&s).is_some() => {
                    if key == "birthDate" && self.over_89(&s) {
                        return self.ninety_or_older(id, key, &s, cx);
                    }
                    let shift = self.shift_for(&cx.patient.clone());
                    let out = FhirDate::parse(&s)
                        .map(|d| d.shifted(shift))
                        .unwrap_or_else(|| s.clone());
                    self.tally.add(id, kind, Method::DateShift);
                    let out = Value::String(out);
                    self.record(
                        cx,
                        id,
                        kind,
                        Method::DateShift,
                        &Value::String(s),
                        Some(&out),
                    );
                    Some(out)
                }
                other => {
                    self.tally.add(id, kind, Method::Redact);
                    self.record(cx, id, kind, Method::Redact, &other, None);
                    None
                }
            },
            Method::Pseudonym => self.pseudonymize(rule, kind, v, key, dt, cx),
        }
    }

    fn ninety_or_older(
        &mut self,
        rule: &str,
        key: &str,
        before: &str,
        cx: &mut Cx,
    ) -> Option<Value> {
        self.tally
            .add(rule, IdentifierKind::Dates, Method::Generalize);
        if let (Some(r), Some(loc)) = (&mut self.tally.preview, &cx.loc) {
            // The element goes; a marker saying "90 or older" takes its place.
            r.whole(
                &|| loc.render(),
                rule,
                IdentifierKind::Dates,
                Method::Generalize,
                before,
                Some(super::NINETY_OR_OLDER),
            );
        }
        cx.sibling = Some((
            format!("_{key}"),
            serde_json::json!({
                "extension": [
                    { "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "masked" },
                    { "url": super::AGE_GROUP_EXTENSION, "valueString": super::NINETY_OR_OLDER }
                ]
            }),
        ));
        None
    }

    fn generalize(
        &mut self,
        rule: &'p Rule,
        kind: IdentifierKind,
        v: Value,
        key: &str,
        dt: Option<DataType>,
        cx: &mut Cx,
    ) -> Option<Value> {
        let id = rule.id.as_str();
        let g = Method::Generalize;
        match v {
            Value::String(s) => {
                if let Some(d) = FhirDate::parse(&s) {
                    if key == "birthDate" && self.over_89(&s) {
                        return self.ninety_or_older(id, key, &s, cx);
                    }
                    if dt == Some(DataType::Instant) {
                        self.tally.note(INSTANT_NOTE.to_owned());
                        self.tally.add(id, kind, g);
                        if !instant_required(&cx.rtype, &cx.path, key) {
                            self.record(cx, id, kind, Method::Redact, &Value::String(s), None);
                            return None;
                        }
                        let out = Value::String(format!("{:04}-01-01T00:00:00Z", d.year));
                        self.record(cx, id, kind, g, &Value::String(s), Some(&out));
                        return Some(out);
                    }
                    let year = Value::String(d.year_string());
                    if year != s.as_str() {
                        self.tally.add(id, kind, g);
                        self.record(cx, id, kind, g, &Value::String(s), Some(&year));
                    }
                    return Some(year);
                }
                self.tally.add(id, kind, g);
                let out = if key == "postalCode" || key.to_ascii_lowercase().contains("zip") {
                    generalize_zip(&s).map(Value::String)
                } else {
                    None
                };
                self.record(cx, id, kind, g, &Value::String(s), out.as_ref());
                out
            }
            Value::Number(n) => {
                // A bare number under a generalize rule is taken as an age.
                if n.as_f64().is_some_and(|a| a > 89.0) {
                    self.tally.add(id, kind, g);
                    let out = Value::from(90);
                    self.record(cx, id, kind, g, &Value::Number(n), Some(&out));
                    Some(out)
                } else {
                    Some(Value::Number(n))
                }
            }
            Value::Object(mut m) => {
                let before = cx.loc.is_some().then(|| Value::Object(m.clone()));
                let out = match dt {
                    Some(DataType::Address) => {
                        let len = m.len();
                        let zip = m
                            .get("postalCode")
                            .and_then(Value::as_str)
                            .map(generalize_zip);
                        m.retain(|k, _| matches!(k.as_str(), "use" | "type" | "state" | "country"));
                        let had_zip = zip.is_some();
                        if let Some(Some(z)) = zip {
                            m.insert("postalCode".to_owned(), Value::String(z));
                        }
                        if m.len() != len || had_zip {
                            self.tally.add(id, kind, g);
                        }
                        (!m.is_empty()).then_some(Value::Object(m))
                    }
                    Some(DataType::Age) => {
                        if m.get("value")
                            .and_then(Value::as_f64)
                            .is_some_and(|a| a > 89.0)
                        {
                            m.insert("value".to_owned(), Value::from(90));
                            m.insert("comparator".to_owned(), Value::String(">=".to_owned()));
                            self.tally.add(id, kind, g);
                        }
                        Some(Value::Object(m))
                    }
                    _ => {
                        self.tally.add(id, kind, Method::Redact);
                        if let Some(b) = &before {
                            self.record(cx, id, kind, Method::Redact, b, None);
                        }
                        return None;
                    }
                };
                if let Some(b) = &before {
                    self.record(cx, id, kind, g, b, out.as_ref());
                }
                out
            }
            other => Some(other),
        }
    }

    fn pseudonymize(
        &mut self,
        rule: &'p Rule,
        kind: IdentifierKind,
        v: Value,
        key: &str,
        dt: Option<DataType>,
        cx: &mut Cx,
    ) -> Option<Value> {
        let id = rule.id.as_str();
        let p = Method::Pseudonym;
        match (v, dt) {
            (Value::String(s), Some(DataType::Reference)) => {
                self.tally.add(id, kind, p);
                let out = Value::String(self.pseudonym_reference(&s));
                self.record(cx, id, kind, p, &Value::String(s), Some(&out));
                Some(out)
            }
            (Value::String(s), _) => {
                self.tally.add(id, kind, p);
                let out = Value::String(self.pseudonym(&s));
                self.record(cx, id, kind, p, &Value::String(s), Some(&out));
                Some(out)
            }
            (Value::Object(m), Some(t @ (DataType::Reference | DataType::Identifier))) => {
                let field = if t == DataType::Reference {
                    "reference"
                } else {
                    "value"
                };
                // Everything else (display text, periods, nested identifiers) goes through the
                // other rules as usual.
                let (out, changed) = self.walk_map_with(m, None, cx, Some((field, id, kind)));
                if changed {
                    self.tally.add(id, kind, p);
                }
                Some(Value::Object(out))
            }
            (other, _) => {
                let _ = key;
                self.tally.add(id, kind, Method::Redact);
                self.record(cx, id, kind, Method::Redact, &other, None);
                None
            }
        }
    }
}
