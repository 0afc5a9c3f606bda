//! The FHIR JSON walker: finds each element's data type from its name and shape, applies the
//! first matching rule, and sends any text no rule claimed through the free-text checks.

use base64::Engine as _;
use serde_json::{Map, Value};

use super::date::FhirDate;
use super::engine::{
    Engine, FREE_TEXT_REMOVE_NOTE, FREE_TEXT_REMOVE_RULE, PERSON_TYPES, has_key, is_textual,
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
fn is_instant(rtype: &str, path: &KeyPath, key: &str) -> bool {
    if INSTANT_KEYS.contains(&key) {
        return true;
    }
    let joined = path.joined();
    INSTANT_PATHS
        .iter()
        .any(|(r, p)| *r == rtype && *p == joined)
}

/// Whether an `instant` element is required, so it must be kept in some valid form.
fn instant_required(rtype: &str, path: &KeyPath, key: &str) -> bool {
    let joined = path.joined();
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

/// The member names from the resource down to the element being walked, kept joined with
/// dots in one buffer (with where each name ends), so walking a member allocates nothing.
#[derive(Default)]
struct KeyPath {
    joined: String,
    ends: Vec<usize>,
}

impl KeyPath {
    fn push(&mut self, key: &str) {
        if !self.ends.is_empty() {
            self.joined.push('.');
        }
        self.joined.push_str(key);
        self.ends.push(self.joined.len());
    }

    fn pop(&mut self) {
        self.ends.pop();
        self.joined.truncate(self.ends.last().copied().unwrap_or(0));
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    /// The names joined with dots (`entry.response.lastModified`).
    fn joined(&self) -> &str {
        &self.joined
    }

    fn get(&self, i: usize) -> Option<&str> {
        let end = *self.ends.get(i)?;
        let start = if i == 0 { 0 } else { self.ends[i - 1] + 1 };
        Some(&self.joined[start..end])
    }

    fn last(&self) -> Option<&str> {
        self.len().checked_sub(1).and_then(|i| self.get(i))
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        (0..self.len()).filter_map(|i| self.get(i))
    }
}

/// Where the walker is.
struct Cx {
    rtype: String,
    /// The policy's rules that can apply in this resource (by its type), in order.
    rules: Vec<usize>,
    path: KeyPath,
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
        let mut v = v;
        match &mut v {
            Value::Object(map) if map.contains_key("resourceType") => {
                self.walk_resource(map, None, None);
            }
            _ => {
                let label = self.line.map(|n| format!("line {n}")).unwrap_or_default();
                let mut cx = Cx {
                    rules: self.rules_for(""),
                    rtype: String::new(),
                    path: KeyPath::default(),
                    patient: self.default_patient(),
                    contained: false,
                    sibling: None,
                    loc: self.tally.recording().then(|| Loc::label(label)),
                };
                if !self.walk(&mut v, "", &mut cx) {
                    v = Value::Null;
                }
            }
        }
        v
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

    /// Masks one resource in place. `parent` is the resource that contains it (for
    /// `contained`); `outer` the preview location of the place it sits in, if it is not the
    /// document.
    fn walk_resource(
        &mut self,
        map: &mut Map<String, Value>,
        parent: Option<&Cx>,
        outer: Option<&Loc>,
    ) {
        let rt = map
            .get("resourceType")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let patient = match parent {
            Some(p) => p.patient.clone(),
            None => self.patient_of(&rt, map),
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
            rules: self.rules_for(&rt),
            rtype: rt,
            path: KeyPath::default(),
            patient,
            contained: parent.is_some(),
            sibling: None,
            loc,
        };
        self.walk_map(map, None, &mut cx);
    }

    fn walk_map(&mut self, map: &mut Map<String, Value>, dt: Option<DataType>, cx: &mut Cx) {
        self.walk_map_with(map, dt, cx, None);
    }

    /// Walks an object's members in place; the member named in `pseudonymize` (a Reference's
    /// `reference` or an Identifier's `value`) is replaced by its pseudonym, under the rule
    /// and kind given with it. Returns whether that member changed.
    ///
    /// Members keep their order; those whose masking removed them go, and a sibling a member
    /// asked for (`_birthDate`) comes right after it, as if the object were rebuilt member by
    /// member with `insert`.
    fn walk_map_with(
        &mut self,
        map: &mut Map<String, Value>,
        dt: Option<DataType>,
        cx: &mut Cx,
        pseudonymize: Option<(&str, &str, IdentifierKind)>,
    ) -> bool {
        let content_type = if dt == Some(DataType::Attachment) {
            map.get("contentType")
                .and_then(Value::as_str)
                .map(str::to_owned)
        } else {
            None
        };
        let mut changed = false;
        let codeable = has_key(map, "coding");
        let remove_prose = self.policy.text.free_text == FreeText::Remove;
        // Positions of the members to remove, in order; siblings to add after a position.
        let mut removed: Vec<usize> = Vec::new();
        let mut siblings: Vec<(usize, String, Value)> = Vec::new();
        for (at, (k, child)) in map.iter_mut().enumerate() {
            let k = k.as_str();
            self.in_codeable = codeable;
            if remove_prose && self.is_prose(k, child, codeable, cx) {
                self.remove_prose(k, child, cx);
                removed.push(at);
                continue;
            }
            if let Some((field, rule, kind)) = pseudonymize.filter(|p| p.0 == k)
                && let Value::String(s) = child
            {
                let p = if field == "reference" {
                    self.pseudonym_reference(s)
                } else {
                    self.pseudonym(s)
                };
                changed |= p != *s;
                if let (Some(r), Some(loc)) = (&mut self.tally.preview, &mut cx.loc) {
                    loc.push_key(k);
                    r.whole(&|| loc.render(), rule, kind, Method::Pseudonym, s, Some(&p));
                    loc.pop();
                }
                *s = p;
                continue;
            }
            if dt == Some(DataType::Attachment) && k == "data" {
                cx.push_key(k);
                let masked =
                    self.attachment_data(std::mem::take(child), content_type.as_deref(), cx);
                cx.pop_loc();
                match masked {
                    Some(v) => *child = v,
                    None => removed.push(at),
                }
                continue;
            }
            if (k == "resource" || k == "contained")
                && let Value::Object(m) = child
                && m.contains_key("resourceType")
            {
                let contained = k == "contained";
                let parent = if contained { Some(&*cx) } else { None };
                let outer = cx.loc.as_ref().map(|l| {
                    let mut l = l.clone();
                    l.push_key(k);
                    l
                });
                self.walk_resource(m, parent, outer.as_ref());
                continue;
            }
            if k == "contained"
                && let Value::Array(items) = child
            {
                for (i, item) in items.iter_mut().enumerate() {
                    if let Value::Object(m) = item
                        && m.contains_key("resourceType")
                    {
                        let outer = cx.loc.as_ref().map(|l| {
                            let mut l = l.clone();
                            l.push_key(k);
                            l.push_index(i);
                            l
                        });
                        self.walk_resource(m, Some(&*cx), outer.as_ref());
                    }
                }
                continue;
            }
            cx.path.push(k);
            cx.push_key(k);
            let keep = self.walk(child, k, cx);
            cx.pop_loc();
            cx.path.pop();
            if !keep {
                removed.push(at);
            }
            if let Some((sk, sv)) = cx.sibling.take() {
                siblings.push((at, sk, sv));
            }
        }
        if !siblings.is_empty() {
            // Rare (an over-89 birth date): rebuild the object with the same inserts as a
            // walk member by member, so a sibling's name met again replaces it in place.
            let old = std::mem::take(map);
            let mut out = Map::with_capacity(old.len() + siblings.len());
            let mut removed = removed.into_iter().peekable();
            let mut siblings = siblings.into_iter().peekable();
            for (at, (k, v)) in old.into_iter().enumerate() {
                if removed.next_if_eq(&at).is_none() {
                    out.insert(k, v);
                }
                while let Some((_, sk, sv)) = siblings.next_if(|s| s.0 == at) {
                    out.insert(sk, sv);
                }
            }
            *map = out;
        } else if !removed.is_empty() {
            let mut at = 0;
            let mut removed = removed.into_iter().peekable();
            map.retain(|_, _| {
                let keep = removed.next_if_eq(&at).is_none();
                at += 1;
                keep
            });
        }
        changed
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
                    && cx.path.get(1) == Some("request")
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
                // One pass over the members for every name the tests below ask about.
                let (mut person, mut address, mut content_type) = (false, false, false);
                let (mut reference, mut code_a, mut number, mut data) =
                    (false, false, false, false);
                for (k, v) in m {
                    match k.as_str() {
                        "resourceType" => return None,
                        "family" | "given" => person = true,
                        "line" | "city" | "postalCode" | "district" => address = true,
                        "reference" => reference = v.is_string(),
                        "code" => code_a = v.as_str() == Some("a"),
                        "value" => number = v.is_number(),
                        "data" => data = v.is_string(),
                        "contentType" => content_type = true,
                        _ => {}
                    }
                }
                if person {
                    return Some(DataType::HumanName);
                }
                if matches!(key, "address" | "valueAddress") || address {
                    return Some(DataType::Address);
                }
                if matches!(key, "telecom" | "valueContactPoint") {
                    return Some(DataType::ContactPoint);
                }
                if key == "identifier" || key.ends_with("Identifier") {
                    return Some(DataType::Identifier);
                }
                if reference {
                    return Some(DataType::Reference);
                }
                if key.ends_with("Age") || (code_a && number) {
                    return Some(DataType::Age);
                }
                if data || content_type {
                    return Some(DataType::Attachment);
                }
                None
            }
            _ => None,
        }
    }

    /// The rules that can apply in a resource of this type, in policy order.
    fn rules_for(&self, rtype: &str) -> Vec<usize> {
        self.rules
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.resources.is_none_or(|rs| rs.iter().any(|x| x == rtype))
                    && r.path_resource.is_none_or(|x| x == rtype)
            })
            .map(|(n, _)| n)
            .collect()
    }

    fn find_rule(&self, cx: &Cx, dt: Option<DataType>, ext: Option<&str>) -> Option<&'p Rule> {
        cx.rules
            .iter()
            .map(|&n| &self.rules[n])
            .find(|r| {
                r.types.is_none_or(|ts| dt.is_some_and(|d| ts.contains(&d)))
                    && r.extension.is_none_or(|u| ext == Some(u))
                    && r.path.as_ref().is_none_or(|p| {
                        p.len() == cx.path.len()
                            && p.iter()
                                .zip(cx.path.iter())
                                .all(|(a, b)| *a == "*" || *a == b)
                    })
            })
            .map(|r| r.rule)
    }

    /// Masks a value in place; returns whether it stays (`false`: remove it).
    fn walk(&mut self, v: &mut Value, key: &str, cx: &mut Cx) -> bool {
        let dt = self.infer_type(key, v, cx);
        let ext = if matches!(key, "extension" | "modifierExtension") {
            v.get("url").and_then(Value::as_str)
        } else {
            None
        };
        let is_ext = ext.is_some();
        let rule = if dt.is_some() || is_ext || !matches!(v, Value::Object(_)) {
            self.find_rule(cx, dt, ext)
        } else {
            None
        };
        if let Some(rule) = rule {
            return match self.apply(rule, std::mem::take(v), key, dt, cx) {
                Some(out) => {
                    *v = out;
                    true
                }
                None => false,
            };
        }
        let keep = self.descend(v, key, dt, cx);
        if is_ext
            && keep
            && let Value::Object(m) = v
            && !m.keys().any(|k| k.starts_with("value") || k == "extension")
        {
            // An extension must have a value or extensions (FHIR ext-1): one whose value was
            // removed (an instant, say) goes as a whole rather than as a bare url.
            return false;
        }
        keep
    }

    /// Masks an object's members, an array's items or a string's text in place; returns
    /// whether the value stays (an object or array emptied by masking goes).
    fn descend(&mut self, v: &mut Value, key: &str, dt: Option<DataType>, cx: &mut Cx) -> bool {
        match v {
            Value::Object(map) => {
                let was_empty = map.is_empty();
                self.walk_map(map, dt, cx);
                was_empty || !map.is_empty()
            }
            Value::Array(items) => {
                let was_empty = items.is_empty();
                let mut removed: Vec<usize> = Vec::new();
                for (n, item) in items.iter_mut().enumerate() {
                    cx.push_index(n);
                    if !self.walk(item, key, cx) {
                        removed.push(n);
                    }
                    cx.pop_loc();
                }
                if !removed.is_empty() {
                    let mut at = 0;
                    let mut removed = removed.into_iter().peekable();
                    items.retain(|_| {
                        let keep = removed.next_if_eq(&at).is_none();
                        at += 1;
                        keep
                    });
                }
                was_empty || !items.is_empty()
            }
            Value::String(s) => {
                let text = std::mem::take(s);
                *s = self.free_text(text, key, cx);
                true
            }
            _ => true,
        }
    }
    fn free_text(&mut self, s: String, key: &str, cx: &Cx) -> String {
        if NOT_TEXT.contains(&key) || s.len() < 2 {
            return s;
        }
        // Terminology displays ("Parkinson's disease") are not prose: only the patterns run.
        // So are a CodeableConcept's text, and the names and values of things that are not
        // people (an Organization's name, a ContactPoint's or Identifier's value: those of
        // people are removed by their rules).
        // A `text` string is prose in an Annotation (`note`) or a Dosage; elsewhere in FHIR it
        // is a CodeableConcept's text (with or without codings) or a label.
        let parent = cx.path.len().checked_sub(2).and_then(|i| cx.path.get(i));
        let prose_text = prose_text_parent(parent);
        self.coded = matches!(key, "display" | "name" | "value")
            || (key == "text" && (self.in_codeable || !prose_text));
        let out = self.scan_text(s, &cx.patient, true, &|| cx.location());
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
                    || (key == "text" && !codeable && prose_text_parent(cx.path.last()))
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
        let b64 = base64::engine::general_purpose::STANDARD;
        let decoded = if data.bytes().any(|c| c.is_ascii_whitespace()) {
            let compact: String = data.chars().filter(|c| !c.is_ascii_whitespace()).collect();
            b64.decode(compact.as_bytes()).ok()
        } else {
            b64.decode(data.as_bytes()).ok()
        };
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
                let at = || format!("{} (decoded text)", cx.location());
                match self.scan_text_changed(&t, &cx.patient, true, &at) {
                    None => Some(Value::String(data)),
                    Some(masked) => Some(Value::String(b64.encode(masked.as_bytes()))),
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
                    let shift = self.shift_for(&cx.patient);
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
                let mut m = m;
                let changed = self.walk_map_with(&mut m, None, cx, Some((field, id, kind)));
                if changed {
                    self.tally.add(id, kind, p);
                }
                Some(Value::Object(m))
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
