//! A clinician's reading of FHIR R4 content: the patient summary, problems, medications,
//! allergies, immunizations, encounters, results grouped by test, notes and attachments.
//!
//! The browser's record viewer renders this model; it is built here, as pure code, so that it is
//! tested natively on real bundles. Everything in it is plain text: the viewer never renders any
//! of it as HTML.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

/// Who the record is about.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PatientSummary {
    pub name: String,
    pub sex: String,
    pub birth_date: String,
    /// Age in whole years at `today` (or at death), when the birth date is known.
    pub age: Option<u32>,
    pub deceased: Option<String>,
    pub contact: Vec<String>,
    pub address: Vec<String>,
    /// Identifiers as "kind: value".
    pub identifiers: Vec<String>,
}

/// One line of a clinical list (problem, medication, allergy, immunization, procedure).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Entry {
    pub text: String,
    /// The first coding, as "system-name code".
    pub code: String,
    pub status: String,
    pub date: String,
}

/// An encounter on the timeline.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Encounter {
    pub start: String,
    pub end: String,
    pub kind: String,
    pub class: String,
    pub reason: String,
}

/// One measurement of a test.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Measurement {
    pub date: String,
    /// The value as text, as the record states it.
    pub display: String,
    /// The numeric value, when there is one (for the trend chart).
    pub value: Option<f64>,
    pub interpretation: String,
}

/// All measurements of one test (one LOINC code, or one component of a panel).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct TestResults {
    pub name: String,
    pub code: String,
    pub unit: String,
    pub reference_range: String,
    /// `vital-signs`, `laboratory`, `survey`...
    pub category: String,
    /// Oldest first.
    pub measurements: Vec<Measurement>,
}

/// A clinical note decoded from a base64 attachment or written in a narrative.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Note {
    pub date: String,
    pub title: String,
    pub text: String,
}

/// A non-text attachment (PDF, image) carried inside the FHIR content.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Attachment {
    pub title: String,
    pub media_type: String,
    pub data: Vec<u8>,
}

/// The whole clinical reading of a record.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ClinicalRecord {
    pub patient: Option<PatientSummary>,
    pub problems: Vec<Entry>,
    pub medications: Vec<Entry>,
    pub allergies: Vec<Entry>,
    pub immunizations: Vec<Entry>,
    pub procedures: Vec<Entry>,
    pub encounters: Vec<Encounter>,
    pub results: Vec<TestResults>,
    pub notes: Vec<Note>,
    pub attachments: Vec<Attachment>,
    /// How many resources of each type the record holds, sorted by type.
    pub resource_counts: Vec<(String, usize)>,
}

/// Why content could not be read as FHIR.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    /// Neither JSON nor NDJSON.
    #[error("this is not FHIR JSON: {0}")]
    NotJson(String),
    /// JSON, but with no FHIR resource in it.
    #[error("this JSON holds no FHIR resource")]
    NoResources,
}

/// Reads a FHIR Bundle, a single resource, or FHIR NDJSON. `today` (`YYYY-MM-DD`) is the date
/// ages are computed at; the core reads no clock.
///
/// # Errors
/// [`RecordError`] when the bytes are not FHIR JSON or NDJSON.
pub fn read_fhir(bytes: &[u8], today: &str) -> Result<ClinicalRecord, RecordError> {
    let resources = parse_resources(bytes)?;
    if resources.is_empty() {
        return Err(RecordError::NoResources);
    }
    Ok(build(&resources, today))
}

/// True if the bytes look like FHIR JSON or NDJSON (cheap check on the first resource).
#[must_use]
pub fn looks_like_fhir(bytes: &[u8]) -> bool {
    let head = &bytes[..bytes.len().min(4096)];
    let text = String::from_utf8_lossy(head);
    let trimmed = text.trim_start_matches('\u{feff}').trim_start();
    trimmed.starts_with('{') && text.contains("\"resourceType\"")
}

fn parse_resources(bytes: &[u8]) -> Result<Vec<Value>, RecordError> {
    let mut out = Vec::new();
    match serde_json::from_slice::<Value>(bytes) {
        Ok(value) => collect(&value, &mut out),
        Err(whole) => {
            // NDJSON: one resource a line.
            let text =
                std::str::from_utf8(bytes).map_err(|_| RecordError::NotJson("not UTF-8".into()))?;
            let mut any = false;
            for line in text.lines().filter(|l| !l.trim().is_empty()) {
                let value: Value = serde_json::from_str(line)
                    .map_err(|_| RecordError::NotJson(whole.to_string()))?;
                collect(&value, &mut out);
                any = true;
            }
            if !any {
                return Err(RecordError::NotJson(whole.to_string()));
            }
        }
    }
    Ok(out)
}

/// Flattens bundles (and nested bundles) into their resources.
fn collect(value: &Value, out: &mut Vec<Value>) {
    if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
        for entry in value
            .get("entry")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(resource) = entry.get("resource") {
                let before = out.len();
                collect(resource, out);
                // A Medication that others reference by the entry's `fullUrl` (`urn:uuid:...`)
                // keeps that address, for `medicationReference`.
                let single = out.len() == before + 1;
                if let (true, Some(full_url), Some(Value::Object(m))) = (
                    single,
                    entry.get("fullUrl").and_then(Value::as_str),
                    out.get_mut(before),
                ) {
                    if m.get("resourceType").and_then(Value::as_str) == Some("Medication") {
                        m.insert(FULL_URL_KEY.to_owned(), Value::String(full_url.to_owned()));
                    }
                }
            }
        }
    } else if value.get("resourceType").is_some() {
        out.push(value.clone());
    }
}

/// Where [`collect`] notes a Medication's bundle address; not a FHIR element name (those never
/// start with a space), so it can clash with nothing.
const FULL_URL_KEY: &str = " fullUrl";

/// The display text of the Medication a MedicationStatement or MedicationRequest references,
/// found in the bundle by `fullUrl`, by `Medication/id` (also as the tail of a `fullUrl`), or
/// among the resource's `contained` resources by `#id`.
fn referenced_medication(resource: &Value, medications: &[&Value]) -> String {
    let Some(reference) = resource
        .pointer("/medicationReference/reference")
        .and_then(Value::as_str)
    else {
        return String::new();
    };
    let found = if let Some(local) = reference.strip_prefix('#') {
        arr(resource, "contained")
            .find(|c| s(c, "resourceType") == "Medication" && s(c, "id") == local)
    } else {
        medications.iter().copied().find(|m| {
            let full = s(m, FULL_URL_KEY);
            let typed = format!("Medication/{}", s(m, "id"));
            (!full.is_empty() && full == reference)
                || (!s(m, "id").is_empty()
                    && (reference == typed
                        || reference.ends_with(&format!("/{typed}"))
                        || full.ends_with(&format!("/{reference}"))))
        })
    };
    found
        .map(|m| concept_text(m.get("code")))
        .unwrap_or_default()
}

fn s<'a>(value: &'a Value, key: &str) -> &'a str {
    value.get(key).and_then(Value::as_str).unwrap_or("")
}

fn arr<'a>(value: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    value
        .get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

/// The readable text of a CodeableConcept: its text, else its first coding's display.
fn concept_text(concept: Option<&Value>) -> String {
    let Some(concept) = concept else {
        return String::new();
    };
    let text = s(concept, "text");
    if !text.is_empty() {
        return text.to_owned();
    }
    arr(concept, "coding")
        .map(|c| s(c, "display"))
        .find(|d| !d.is_empty())
        .unwrap_or("")
        .to_owned()
}

/// Short names for the code systems clinicians recognise.
fn system_name(system: &str) -> &str {
    match system {
        "http://loinc.org" => "LOINC",
        "http://snomed.info/sct" => "SNOMED CT",
        "http://www.nlm.nih.gov/research/umls/rxnorm" => "RxNorm",
        "http://hl7.org/fhir/sid/cvx" => "CVX",
        "http://hl7.org/fhir/sid/icd-10-cm" | "http://hl7.org/fhir/sid/icd-10" => "ICD-10",
        other => other.rsplit('/').next().unwrap_or(other),
    }
}

fn concept_code(concept: Option<&Value>) -> String {
    concept
        .and_then(|c| arr(c, "coding").next())
        .map(|coding| {
            format!("{} {}", system_name(s(coding, "system")), s(coding, "code"))
                .trim()
                .to_owned()
        })
        .unwrap_or_default()
}

fn status_of(resource: &Value, key: &str) -> String {
    match resource.get(key) {
        Some(Value::String(text)) => text.clone(),
        Some(concept @ Value::Object(_)) => {
            let text = concept_text(Some(concept));
            if text.is_empty() {
                arr(concept, "coding")
                    .map(|c| s(c, "code"))
                    .next()
                    .unwrap_or("")
                    .to_owned()
            } else {
                text
            }
        }
        _ => String::new(),
    }
}

/// The first date-like field present, trimmed to the day.
fn date_of(resource: &Value, keys: &[&str]) -> String {
    for key in keys {
        match resource.get(*key) {
            Some(Value::String(text)) => return day(text),
            Some(period @ Value::Object(_)) if !s(period, "start").is_empty() => {
                return day(s(period, "start"));
            }
            _ => {}
        }
    }
    String::new()
}

fn day(text: &str) -> String {
    text.get(..10).unwrap_or(text).to_owned()
}

fn human_name(names: Option<&Value>) -> String {
    let Some(name) = names.and_then(Value::as_array).and_then(|n| {
        n.iter()
            .find(|x| s(x, "use") == "official")
            .or_else(|| n.first())
    }) else {
        return String::new();
    };
    if !s(name, "text").is_empty() {
        return s(name, "text").to_owned();
    }
    let parts: Vec<&str> = arr(name, "prefix")
        .chain(arr(name, "given"))
        .filter_map(Value::as_str)
        .chain(std::iter::once(s(name, "family")))
        .filter(|p| !p.is_empty())
        .collect();
    parts.join(" ")
}

fn parse_ymd(text: &str) -> Option<(i32, u32, u32)> {
    let year = text.get(..4)?.parse().ok()?;
    let month = text.get(5..7).and_then(|m| m.parse().ok()).unwrap_or(1);
    let day = text.get(8..10).and_then(|d| d.parse().ok()).unwrap_or(1);
    Some((year, month, day))
}

/// Whole years between two dates.
fn age_between(birth: &str, at: &str) -> Option<u32> {
    let (by, bm, bd) = parse_ymd(birth)?;
    let (ay, am, ad) = parse_ymd(at)?;
    let mut years = ay - by;
    if (am, ad) < (bm, bd) {
        years -= 1;
    }
    u32::try_from(years).ok()
}

fn patient_summary(patient: &Value, today: &str) -> PatientSummary {
    let birth_date = s(patient, "birthDate").to_owned();
    let deceased = match patient
        .get("deceasedDateTime")
        .or_else(|| patient.get("deceasedBoolean"))
    {
        Some(Value::String(date)) => Some(day(date)),
        Some(Value::Bool(true)) => Some("yes".to_owned()),
        _ => None,
    };
    let age_at = deceased
        .as_deref()
        .filter(|d| d.len() >= 4 && *d != "yes")
        .unwrap_or(today)
        .to_owned();
    let contact = arr(patient, "telecom")
        .map(|t| {
            format!("{} {}", s(t, "system"), s(t, "value"))
                .trim()
                .to_owned()
        })
        .filter(|t| !t.is_empty())
        .collect();
    let address = arr(patient, "address")
        .map(|a| {
            let mut parts: Vec<String> = arr(a, "line")
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            for key in ["city", "state", "postalCode", "country"] {
                if !s(a, key).is_empty() {
                    parts.push(s(a, key).to_owned());
                }
            }
            parts.join(", ")
        })
        .filter(|a| !a.is_empty())
        .collect();
    let identifiers = arr(patient, "identifier")
        .map(|id| {
            let kind = concept_text(id.get("type"));
            let kind = if kind.is_empty() {
                system_name(s(id, "system")).to_owned()
            } else {
                kind
            };
            format!("{kind}: {}", s(id, "value"))
        })
        .collect();
    PatientSummary {
        name: human_name(patient.get("name")),
        sex: s(patient, "gender").to_owned(),
        age: age_between(&birth_date, &age_at),
        birth_date,
        deceased,
        contact,
        address,
        identifiers,
    }
}

fn entry(resource: &Value, code_key: &str, status_key: &str, date_keys: &[&str]) -> Entry {
    Entry {
        text: concept_text(resource.get(code_key)),
        code: concept_code(resource.get(code_key)),
        status: status_of(resource, status_key),
        date: date_of(resource, date_keys),
    }
}

fn quantity_display(q: &Value) -> (String, Option<f64>) {
    let value = q.get("value").and_then(Value::as_f64);
    let unit = if s(q, "unit").is_empty() {
        s(q, "code")
    } else {
        s(q, "unit")
    };
    let comparator = s(q, "comparator");
    let shown = value
        .map(|v| format!("{comparator}{v} {unit}").trim().to_owned())
        .unwrap_or_default();
    (shown, value)
}

/// The value of an Observation or of one of its components.
fn observation_value(node: &Value) -> (String, Option<f64>, String) {
    if let Some(q) = node.get("valueQuantity") {
        let (shown, value) = quantity_display(q);
        let unit = if s(q, "unit").is_empty() {
            s(q, "code")
        } else {
            s(q, "unit")
        };
        return (shown, value, unit.to_owned());
    }
    if let Some(concept) = node.get("valueCodeableConcept") {
        return (concept_text(Some(concept)), None, String::new());
    }
    for key in ["valueString", "valueDateTime", "valueTime"] {
        if let Some(text) = node.get(key).and_then(Value::as_str) {
            return (text.to_owned(), None, String::new());
        }
    }
    if let Some(v) = node.get("valueInteger").and_then(Value::as_f64) {
        return (v.to_string(), Some(v), String::new());
    }
    if let Some(b) = node.get("valueBoolean").and_then(Value::as_bool) {
        return (b.to_string(), None, String::new());
    }
    (String::new(), None, String::new())
}

fn reference_range(node: &Value) -> String {
    arr(node, "referenceRange")
        .next()
        .map(|range| {
            if !s(range, "text").is_empty() {
                return s(range, "text").to_owned();
            }
            let low = range
                .get("low")
                .map(|q| quantity_display(q).0)
                .unwrap_or_default();
            let high = range
                .get("high")
                .map(|q| quantity_display(q).0)
                .unwrap_or_default();
            match (low.is_empty(), high.is_empty()) {
                (false, false) => format!("{low} – {high}"),
                (false, true) => format!("≥ {low}"),
                (true, false) => format!("≤ {high}"),
                (true, true) => String::new(),
            }
        })
        .unwrap_or_default()
}

fn add_measurement(results: &mut Vec<TestResults>, node: &Value, category: &str, date: &str) {
    let (display, value, unit) = observation_value(node);
    if display.is_empty() {
        return;
    }
    let name = concept_text(node.get("code"));
    let code = concept_code(node.get("code"));
    let interpretation = arr(node, "interpretation")
        .map(|c| concept_text(Some(c)))
        .next()
        .unwrap_or_default();
    let position = results
        .iter()
        .position(|t| t.code == code && t.name == name && t.unit == unit);
    let test = match position {
        Some(i) => &mut results[i],
        None => {
            results.push(TestResults {
                name,
                code,
                unit,
                reference_range: reference_range(node),
                category: category.to_owned(),
                measurements: Vec::new(),
            });
            let last = results.len() - 1;
            &mut results[last]
        }
    };
    if test.reference_range.is_empty() {
        test.reference_range = reference_range(node);
    }
    test.measurements.push(Measurement {
        date: date.to_owned(),
        display,
        value,
        interpretation,
    });
}

fn attachment_note(attachment: &Value, title: &str, date: &str, record: &mut ClinicalRecord) {
    let media_type = s(attachment, "contentType").to_owned();
    let Some(data) = attachment.get("data").and_then(Value::as_str) else {
        return;
    };
    let Ok(bytes) = STANDARD.decode(data.trim()) else {
        return;
    };
    let title = if s(attachment, "title").is_empty() {
        title.to_owned()
    } else {
        s(attachment, "title").to_owned()
    };
    let textual = media_type.starts_with("text/") || media_type.is_empty();
    match String::from_utf8(bytes) {
        Ok(text) if textual => record.notes.push(Note {
            date: date.to_owned(),
            title,
            text,
        }),
        Ok(text) => record.attachments.push(Attachment {
            title,
            media_type,
            data: text.into_bytes(),
        }),
        Err(e) => record.attachments.push(Attachment {
            title,
            media_type,
            data: e.into_bytes(),
        }),
    }
}

fn build(resources: &[Value], today: &str) -> ClinicalRecord {
    let mut record = ClinicalRecord::default();
    let medications: Vec<&Value> = resources
        .iter()
        .filter(|r| s(r, "resourceType") == "Medication")
        .collect();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for resource in resources {
        let kind = s(resource, "resourceType");
        *counts.entry(kind.to_owned()).or_default() += 1;
        match kind {
            "Patient" if record.patient.is_none() => {
                record.patient = Some(patient_summary(resource, today))
            }
            "Condition" => record.problems.push(entry(
                resource,
                "code",
                "clinicalStatus",
                &["onsetDateTime", "onsetPeriod", "recordedDate"],
            )),
            "MedicationRequest" | "MedicationStatement" => {
                let mut e = entry(
                    resource,
                    "medicationCodeableConcept",
                    "status",
                    &["authoredOn", "effectiveDateTime", "effectivePeriod"],
                );
                if e.text.is_empty() {
                    e.text = resource
                        .pointer("/medicationReference/display")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                }
                if e.text.is_empty() {
                    e.text = referenced_medication(resource, &medications);
                }
                record.medications.push(e);
            }
            "AllergyIntolerance" => {
                let mut e = entry(
                    resource,
                    "code",
                    "clinicalStatus",
                    &["onsetDateTime", "recordedDate"],
                );
                let criticality = s(resource, "criticality");
                if !criticality.is_empty() {
                    e.status = format!("{} ({criticality} criticality)", e.status)
                        .trim()
                        .to_owned();
                }
                record.allergies.push(e);
            }
            "Immunization" => record.immunizations.push(entry(
                resource,
                "vaccineCode",
                "status",
                &["occurrenceDateTime", "date"],
            )),
            "Procedure" => record.procedures.push(entry(
                resource,
                "code",
                "status",
                &["performedDateTime", "performedPeriod"],
            )),
            "Encounter" => {
                let period = resource.get("period");
                record.encounters.push(Encounter {
                    start: period.map(|p| day(s(p, "start"))).unwrap_or_default(),
                    end: period.map(|p| day(s(p, "end"))).unwrap_or_default(),
                    kind: arr(resource, "type")
                        .map(|t| concept_text(Some(t)))
                        .next()
                        .unwrap_or_default(),
                    class: resource
                        .pointer("/class/code")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned(),
                    reason: arr(resource, "reasonCode")
                        .map(|t| concept_text(Some(t)))
                        .next()
                        .unwrap_or_default(),
                });
            }
            "Observation" => {
                let category = arr(resource, "category")
                    .flat_map(|c| arr(c, "coding"))
                    .map(|c| s(c, "code"))
                    .next()
                    .unwrap_or("")
                    .to_owned();
                let date = date_of(
                    resource,
                    &["effectiveDateTime", "effectivePeriod", "issued"],
                );
                add_measurement(&mut record.results, resource, &category, &date);
                for component in arr(resource, "component") {
                    add_measurement(&mut record.results, component, &category, &date);
                }
            }
            "DocumentReference" => {
                let title = concept_text(resource.get("type"));
                let date = date_of(resource, &["date"]);
                for content in arr(resource, "content") {
                    if let Some(attachment) = content.get("attachment") {
                        attachment_note(attachment, &title, &date, &mut record);
                    }
                }
            }
            "DiagnosticReport" => {
                let title = concept_text(resource.get("code"));
                let date = date_of(
                    resource,
                    &["effectiveDateTime", "effectivePeriod", "issued"],
                );
                for attachment in arr(resource, "presentedForm") {
                    attachment_note(attachment, &title, &date, &mut record);
                }
            }
            "Media" | "Binary" => {
                if let Some(content) = resource.get("content") {
                    attachment_note(
                        content,
                        kind,
                        &date_of(resource, &["createdDateTime"]),
                        &mut record,
                    );
                } else if resource.get("data").is_some() {
                    attachment_note(resource, kind, "", &mut record);
                }
            }
            _ => {}
        }
    }
    // Notes from several sources often repeat (a DiagnosticReport presents the same note as its
    // DocumentReference); show each once.
    let mut seen = std::collections::HashSet::new();
    record
        .notes
        .retain(|n| seen.insert((n.date.clone(), n.text.clone())));
    for test in &mut record.results {
        test.measurements.sort_by(|a, b| a.date.cmp(&b.date));
    }
    record.results.sort_by(|a, b| {
        a.category
            .cmp(&b.category)
            .then_with(|| a.name.cmp(&b.name))
    });
    record.encounters.sort_by(|a, b| b.start.cmp(&a.start));
    for list in [
        &mut record.problems,
        &mut record.medications,
        &mut record.immunizations,
        &mut record.procedures,
    ] {
        list.sort_by(|a, b| b.date.cmp(&a.date));
    }
    record.notes.sort_by(|a, b| b.date.cmp(&a.date));
    record.resource_counts = counts.into_iter().collect();
    record
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_bundle() {
        let bundle = serde_json::json!({
            "resourceType": "Bundle",
            "entry": [
                {"resource": {"resourceType": "Patient", "name": [{"given": ["Ada"], "family": "Lovelace"}],
                  "gender": "female", "birthDate": "1815-12-10", "deceasedDateTime": "1852-11-27"}},
                {"resource": {"resourceType": "Observation", "category": [{"coding": [{"code": "laboratory"}]}],
                  "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
                  "effectiveDateTime": "2020-02-01", "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
                  "referenceRange": [{"low": {"value": 3.9, "unit": "mmol/L"}, "high": {"value": 5.6, "unit": "mmol/L"}}]}},
                {"resource": {"resourceType": "Observation", "category": [{"coding": [{"code": "laboratory"}]}],
                  "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
                  "effectiveDateTime": "2020-01-01", "valueQuantity": {"value": 6.1, "unit": "mmol/L"}}},
                {"resource": {"resourceType": "DocumentReference", "type": {"text": "Progress note"}, "date": "2020-01-01",
                  "content": [{"attachment": {"contentType": "text/plain", "data": "SGVsbG8gbm90ZQ=="}}]}}
            ]
        });
        let record = read_fhir(bundle.to_string().as_bytes(), "2026-01-01").unwrap();
        let patient = record.patient.unwrap();
        assert_eq!(patient.name, "Ada Lovelace");
        assert_eq!(patient.age, Some(36));
        assert_eq!(record.results.len(), 1);
        let glucose = &record.results[0];
        assert_eq!(glucose.code, "LOINC 2339-0");
        assert_eq!(glucose.reference_range, "3.9 mmol/L – 5.6 mmol/L");
        let dates: Vec<_> = glucose
            .measurements
            .iter()
            .map(|m| m.date.as_str())
            .collect();
        assert_eq!(dates, ["2020-01-01", "2020-02-01"]);
        assert_eq!(record.notes[0].text, "Hello note");
    }

    #[test]
    fn a_referenced_medication_is_named_by_fullurl_type_and_id_or_contained() {
        let med = |id: &str, name: &str| serde_json::json!({"resourceType": "Medication", "id": id, "code": {"coding": [{"display": name}]}});
        let statement = |reference: &str| {
            serde_json::json!({"resourceType": "MedicationStatement", "status": "active",
            "medicationReference": {"reference": reference}, "effectiveDateTime": "2020-01-01"})
        };
        let mut contained = statement("#m3");
        contained["contained"] = serde_json::json!([med("m3", "Metformin 500 mg tablet")]);
        let bundle = serde_json::json!({"resourceType": "Bundle", "type": "document", "entry": [
            {"fullUrl": "urn:uuid:0c6e5d3c-7c2a-4a53-9a4e-2f5b5e7a3d11", "resource": statement("urn:uuid:1d2b0a3e-5c55-4b52-8e3b-3b9c6f6d1a22")},
            {"fullUrl": "urn:uuid:1d2b0a3e-5c55-4b52-8e3b-3b9c6f6d1a22", "resource": med("local-name", "Anastrozole 1 mg tablet")},
            {"fullUrl": "https://ehr.example/fhir/MedicationStatement/s2", "resource": statement("Medication/m2")},
            {"fullUrl": "https://ehr.example/fhir/Medication/m2", "resource": med("m2", "Lisinopril 10 mg tablet")},
            {"resource": contained},
            {"resource": statement("Medication/missing")},
        ]});
        let record = read_fhir(bundle.to_string().as_bytes(), "2026-01-01").unwrap();
        let mut names: Vec<&str> = record.medications.iter().map(|m| m.text.as_str()).collect();
        names.sort_unstable();
        assert_eq!(
            names,
            [
                "",
                "Anastrozole 1 mg tablet",
                "Lisinopril 10 mg tablet",
                "Metformin 500 mg tablet"
            ]
        );
        assert_eq!(
            record
                .resource_counts
                .iter()
                .find(|(k, _)| k == "Medication")
                .map(|(_, n)| *n),
            Some(2)
        );
    }

    #[test]
    fn rejects_what_is_not_fhir() {
        assert!(matches!(
            read_fhir(b"hello", "2026-01-01"),
            Err(RecordError::NotJson(_))
        ));
        assert_eq!(
            read_fhir(b"{\"a\": 1}", "2026-01-01"),
            Err(RecordError::NoResources)
        );
    }
}
