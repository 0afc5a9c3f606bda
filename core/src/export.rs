//! The researcher's export of a study bundle: FHIR NDJSON per resource type (the FHIR Bulk Data
//! layout, with its manifest), flat CSV tables, and a re-identification risk report
//! (k-anonymity over birth year, sex and ZIP prefix), zipped. The browser and `medseal bundle`
//! both call [`export`], so they write the same files.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::archive::{ZipError, ZipWriter};
use crate::container::FileMeta;
use crate::mask::quasi_identifiers;

/// One decrypted contribution.
#[derive(Clone, Debug)]
pub struct Contribution {
    /// Its identifier on the server.
    pub id: String,
    /// When it was uploaded, Unix seconds.
    pub created_at: u64,
    /// Its files (already unpacked).
    pub files: Vec<(FileMeta, Vec<u8>)>,
}

/// A contribution left out of an export because it could not be opened: contributions are
/// anonymous, so one of them may be garbage, sealed to another key or damaged, and it must not
/// stop the researcher from exporting the others.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The contribution's identifier on the server (so the researcher can delete it).
    pub id: String,
    /// When it was uploaded, Unix seconds.
    pub created_at: u64,
    /// Why it was left out, in plain words.
    pub reason: String,
    /// The failure code (`DecryptError::code`, or `pack.malformed`).
    pub code: String,
}

/// Opens every contribution of a bundle with the researcher's key. Those that cannot be
/// opened (not a container, not for this key, altered, a damaged file pack) are returned
/// apart with their reason, and the others are exported as usual.
#[must_use]
pub fn open_contributions(
    items: &[crate::study::BundleItem<'_>],
    key: &crate::pki::PrivateKey,
    mut progress: impl FnMut(usize),
) -> (Vec<Contribution>, Vec<Skipped>) {
    let mut opened = Vec::with_capacity(items.len());
    let mut skipped = Vec::new();
    for (i, item) in items.iter().enumerate() {
        progress(i);
        match open_contribution(item, key) {
            Ok(c) => opened.push(c),
            Err(e) => skipped.push(Skipped {
                id: item.id.clone(),
                created_at: item.created_at,
                code: e.code().to_owned(),
                reason: e.to_string(),
            }),
        }
    }
    (opened, skipped)
}

/// One group of patients sharing birth year, sex and ZIP prefix.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskGroup {
    /// Birth year, `90 or older`, or `unknown`.
    pub birth_year: String,
    /// Sex, or `unknown`.
    pub sex: String,
    /// Three-digit ZIP prefix, or `unknown`.
    pub zip3: String,
    /// How many distinct patients share these values.
    pub size: usize,
    /// Their pseudonymous ids (only listed for groups under k).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patients: Vec<String>,
}

/// The k-anonymity report of a bundle.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskReport {
    /// The study's k.
    pub k: u32,
    /// Distinct patients in the bundle.
    pub patients: usize,
    /// The quasi-identifiers examined.
    pub quasi_identifiers: Vec<String>,
    /// The smallest group size (the bundle's k-anonymity), 0 when there are no patients.
    pub smallest_group: usize,
    /// Number of groups.
    pub groups: usize,
    /// The groups smaller than k, with their patients.
    pub under_k: Vec<RiskGroup>,
    /// Patients in groups smaller than k.
    pub patients_under_k: usize,
    /// Contributions left out of the export because they could not be opened.
    #[serde(default)]
    pub skipped: Vec<Skipped>,
}

impl RiskReport {
    /// The report for people, as plain text.
    #[must_use]
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "Re-identification risk report\n\nQuasi-identifiers: birth year, sex, ZIP prefix.\n\
             Patients: {}\nGroups: {}\nSmallest group: {}\nStudy k: {}\n\
             Groups under k: {}\nPatients in groups under k: {}\n",
            self.patients,
            self.groups,
            self.smallest_group,
            self.k,
            self.under_k.len(),
            self.patients_under_k
        );
        if self.under_k.is_empty() {
            s.push_str("\nEvery group has at least k patients.\n");
        } else {
            s.push_str("\nGroups under k (birth year, sex, ZIP prefix: size):\n");
            for g in &self.under_k {
                s.push_str(&format!(
                    "- {}, {}, {}: {}\n",
                    g.birth_year, g.sex, g.zip3, g.size
                ));
            }
        }
        if !self.skipped.is_empty() {
            s.push_str(&format!(
                "\nContributions left out (they could not be opened): {}\n",
                self.skipped.len()
            ));
            for c in &self.skipped {
                s.push_str(&format!("- {}: {}\n", c.id, c.reason));
            }
        }
        s
    }
}

/// Computes k-anonymity over the Patient resources of `resources`, counting each pseudonymous
/// patient id once however many contributions mention it.
#[must_use]
pub fn risk_report(resources: &[Value], k: u32) -> RiskReport {
    let mut by_patient: BTreeMap<String, (String, String, String)> = BTreeMap::new();
    for (i, r) in resources.iter().enumerate() {
        for q in quasi_identifiers(r) {
            let id = q.patient.clone().unwrap_or_else(|| format!("#{i}"));
            let unknown = || "unknown".to_owned();
            by_patient.entry(id).or_insert((
                q.birth_year.unwrap_or_else(unknown),
                q.sex.unwrap_or_else(unknown),
                q.zip3.unwrap_or_else(unknown),
            ));
        }
    }
    let mut groups: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
    for (patient, key) in by_patient {
        groups.entry(key).or_default().push(patient);
    }
    let smallest_group = groups.values().map(Vec::len).min().unwrap_or(0);
    let under_k: Vec<RiskGroup> = groups
        .iter()
        .filter(|(_, p)| p.len() < k as usize)
        .map(|((birth_year, sex, zip3), p)| RiskGroup {
            birth_year: birth_year.clone(),
            sex: sex.clone(),
            zip3: zip3.clone(),
            size: p.len(),
            patients: p.clone(),
        })
        .collect();
    RiskReport {
        k,
        patients: groups.values().map(Vec::len).sum(),
        quasi_identifiers: vec!["birth_year".into(), "sex".into(), "zip3".into()],
        smallest_group,
        groups: groups.len(),
        patients_under_k: under_k.iter().map(|g| g.size).sum(),
        under_k,
        skipped: Vec::new(),
    }
}

/// The FHIR resources in a file: a Bundle's entries, a single resource, or NDJSON lines.
/// `None` if the file is not FHIR JSON.
#[must_use]
pub fn resources_of(bytes: &[u8]) -> Option<Vec<Value>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        return match v.get("resourceType").and_then(Value::as_str) {
            Some("Bundle") => Some(
                v.get("entry")
                    .and_then(Value::as_array)
                    .map(|entries| {
                        entries
                            .iter()
                            .filter_map(|e| e.get("resource").cloned())
                            .collect()
                    })
                    .unwrap_or_default(),
            ),
            Some(_) => Some(vec![v]),
            None => None,
        };
    }
    let mut out = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).ok()?;
        v.get("resourceType").and_then(Value::as_str)?;
        out.push(v);
    }
    (!out.is_empty()).then_some(out)
}

/// Why an export failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    /// The archive would be too large.
    #[error(transparent)]
    Zip(#[from] ZipError),
    /// JSON encoding failed.
    #[error("the export could not be encoded")]
    Encode,
}

/// What [`export`] produced.
#[derive(Clone, Debug)]
pub struct Export {
    /// The zip archive.
    pub zip: Vec<u8>,
    /// The risk report (also in the archive).
    pub report: RiskReport,
    /// Resources per type (also in the manifest).
    pub counts: BTreeMap<String, usize>,
}

fn s(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

fn coding(concept: Option<&Value>) -> (String, String, String) {
    let c = concept
        .and_then(|c| c.get("coding"))
        .and_then(Value::as_array)
        .and_then(|a| a.first());
    let text = concept.and_then(|c| c.get("text"));
    let display = c.and_then(|c| c.get("display")).or(text);
    (
        s(c.and_then(|c| c.get("system"))),
        s(c.and_then(|c| c.get("code"))),
        s(display),
    )
}

fn reference_id(r: Option<&Value>) -> String {
    let text = s(r.and_then(|r| r.get("reference")));
    text.rsplit(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_owned()
}

fn patient_of(r: &Value) -> String {
    reference_id(r.get("subject").or_else(|| r.get("patient")))
}

/// True for a plain decimal number (`-5.4`, `+12`, `7`), which a spreadsheet reads as that
/// number and never as a formula.
fn is_plain_number(field: &str) -> bool {
    let digits = field.strip_prefix(['-', '+']).unwrap_or(field);
    let (int, frac) = digits.split_once('.').unwrap_or((digits, "0"));
    !int.is_empty()
        && !frac.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// True if `name` may stand in an entry name as a FHIR resource type: the shape of every FHIR
/// resource type name, `^[A-Z][A-Za-z]{0,63}$`.
#[must_use]
pub fn is_resource_type_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b'A'..=b'Z'))
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_alphabetic())
}

/// Where resources whose `resourceType` is not a resource type name go.
pub const ODD_TYPES_ENTRY: &str = "other/unknown-resource-type.ndjson";

/// One CSV cell (RFC 4180 quoting). A cell that a spreadsheet program would read as a formula
/// (it begins with `=`, `+`, `-`, `@`, a tab or a carriage return; OWASP "CSV Injection") gets
/// a leading single quote and is always quoted, so it shows as text; plain decimal numbers
/// such as `-5.4` are kept as they are (FORMAT.md, exports).
fn csv_field(field: &str) -> String {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']) && !is_plain_number(field);
    if formula {
        format!("\"'{}\"", field.replace('"', "\"\""))
    } else if field.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", field.replace('"', "\"\""))
    } else {
        field.to_owned()
    }
}

/// The entry name of a non-FHIR file of a contribution: `other/{contribution}/{n}-{name}`, with
/// the name reduced to `[A-Za-z0-9._-]`, no leading dot and at most 100 characters, so that no
/// entry can climb out of its folder or collide with another.
fn other_entry(contribution: &str, n: usize, name: &str) -> String {
    let safe: String = name
        .chars()
        .map(|ch| {
            if ch.is_ascii_alphanumeric() || ".-_".contains(ch) {
                ch
            } else {
                '_'
            }
        })
        .collect();
    let mut safe = safe;
    while safe.contains("..") {
        safe = safe.replace("..", "_");
    }
    let safe: String = safe.trim_start_matches('.').chars().take(100).collect();
    if safe.is_empty() {
        format!("other/{contribution}/{n}")
    } else {
        format!("other/{contribution}/{n}-{safe}")
    }
}

struct Table {
    header: &'static [&'static str],
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &'static [&'static str]) -> Self {
        Self {
            header,
            rows: Vec::new(),
        }
    }

    fn to_csv(&self) -> String {
        let mut out = self.header.join(",");
        out.push('\n');
        for row in &self.rows {
            let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
            out.push_str(&fields.join(","));
            out.push('\n');
        }
        out
    }
}

fn first_of<'a>(r: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| {
        let v = r.get(*k)?;
        Some(v.get("start").unwrap_or(v))
    })
}

/// Turns decrypted contributions into the export archive. `skipped` are the contributions that
/// could not be opened ([`open_contributions`]), listed in the manifest and the risk report;
/// `study` is the signed description (put in the archive and manifest as is), `k` the study's
/// k, `now` the export time (Unix seconds; the core has no clock).
///
/// # Errors
/// [`ExportError`].
pub fn export(
    contributions: &[Contribution],
    skipped: &[Skipped],
    study: Option<&Value>,
    k: u32,
    now: u64,
) -> Result<Export, ExportError> {
    let mut by_type: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut other_files = Vec::new();
    let mut odd_types: Vec<String> = Vec::new();
    let mut patients = Table::new(&[
        "patient",
        "contribution",
        "birth_year",
        "sex",
        "zip3",
        "state",
        "country",
        "deceased",
    ]);
    let mut conditions = Table::new(&[
        "patient",
        "id",
        "system",
        "code",
        "display",
        "clinical_status",
        "onset",
        "abatement",
    ]);
    let mut observations = Table::new(&[
        "patient",
        "id",
        "category",
        "system",
        "code",
        "display",
        "value",
        "unit",
        "value_system",
        "value_code",
        "effective",
    ]);
    let mut medications = Table::new(&[
        "patient", "id", "resource", "system", "code", "display", "status", "authored",
    ]);
    let mut immunizations = Table::new(&[
        "patient", "id", "system", "code", "display", "status", "date",
    ]);
    let mut procedures = Table::new(&[
        "patient",
        "id",
        "system",
        "code",
        "display",
        "status",
        "performed",
    ]);
    let mut contributions_manifest = Vec::new();
    let mut seen_patients = BTreeSet::new();

    for c in contributions {
        let mut names = Vec::new();
        for (meta, data) in &c.files {
            names.push(json!({ "name": meta.name, "kind": meta.kind, "masked": meta.masked, "policy": meta.policy }));
            let Some(resources) = resources_of(data) else {
                other_files.push((
                    other_entry(&c.id, other_files.len() + 1, &meta.name),
                    data.clone(),
                ));
                continue;
            };
            for r in resources {
                let rt = s(r.get("resourceType"));
                let line = serde_json::to_string(&r).map_err(|_| ExportError::Encode)?;
                if !is_resource_type_name(&rt) {
                    // Not a resource type name (`fhir/../../x`, empty, a number): never part
                    // of an entry name; kept apart under other/.
                    odd_types.push(line);
                    continue;
                }
                by_type.entry(rt.clone()).or_default().push(line);
                let id = s(r.get("id"));
                let patient = patient_of(&r);
                match rt.as_str() {
                    "Patient" => {
                        for q in quasi_identifiers(&r) {
                            let pid = q.patient.clone().unwrap_or_default();
                            if !seen_patients.insert(pid.clone()) {
                                continue;
                            }
                            let addr = r
                                .get("address")
                                .and_then(Value::as_array)
                                .and_then(|a| a.first());
                            let deceased = r
                                .get("deceasedDateTime")
                                .or_else(|| r.get("deceasedBoolean"));
                            patients.rows.push(vec![
                                pid,
                                c.id.clone(),
                                q.birth_year.unwrap_or_default(),
                                q.sex.unwrap_or_default(),
                                q.zip3.unwrap_or_default(),
                                s(addr.and_then(|a| a.get("state"))),
                                s(addr.and_then(|a| a.get("country"))),
                                s(deceased),
                            ]);
                        }
                    }
                    "Condition" => {
                        let (sys, code, display) = coding(r.get("code"));
                        conditions.rows.push(vec![
                            patient,
                            id,
                            sys,
                            code,
                            display,
                            coding(r.get("clinicalStatus")).1,
                            s(first_of(&r, &["onsetDateTime", "onsetPeriod"])),
                            s(first_of(&r, &["abatementDateTime", "abatementPeriod"])),
                        ]);
                    }
                    "Observation" => {
                        let category = r
                            .get("category")
                            .and_then(Value::as_array)
                            .and_then(|a| a.first())
                            .map(|c| coding(Some(c)).1)
                            .unwrap_or_default();
                        let effective = s(first_of(
                            &r,
                            &["effectiveDateTime", "effectivePeriod", "issued"],
                        ));
                        let mut push = |part: &Value| {
                            let (sys, code, display) = coding(part.get("code"));
                            let q = part.get("valueQuantity");
                            let (vsys, vcode, vdisplay) = coding(part.get("valueCodeableConcept"));
                            let value = if q.is_some() {
                                s(q.and_then(|q| q.get("value")))
                            } else if !vdisplay.is_empty() {
                                vdisplay
                            } else {
                                s(part
                                    .get("valueString")
                                    .or_else(|| part.get("valueBoolean"))
                                    .or_else(|| part.get("valueInteger")))
                            };
                            observations.rows.push(vec![
                                patient.clone(),
                                id.clone(),
                                category.clone(),
                                sys,
                                code,
                                display,
                                value,
                                s(q.and_then(|q| q.get("unit").or_else(|| q.get("code")))),
                                vsys,
                                vcode,
                                effective.clone(),
                            ]);
                        };
                        match r.get("component").and_then(Value::as_array) {
                            Some(components) if !components.is_empty() => {
                                components.iter().for_each(&mut push);
                            }
                            _ => push(&r),
                        }
                    }
                    "MedicationRequest" | "MedicationStatement" | "MedicationAdministration" => {
                        let (sys, code, display) = coding(
                            r.get("medicationCodeableConcept")
                                .or_else(|| r.get("medication").and_then(|m| m.get("concept"))),
                        );
                        medications.rows.push(vec![
                            patient,
                            id,
                            rt.clone(),
                            sys,
                            code,
                            display,
                            s(r.get("status")),
                            s(first_of(
                                &r,
                                &["authoredOn", "effectiveDateTime", "effectivePeriod"],
                            )),
                        ]);
                    }
                    "Immunization" => {
                        let (sys, code, display) = coding(r.get("vaccineCode"));
                        immunizations.rows.push(vec![
                            patient,
                            id,
                            sys,
                            code,
                            display,
                            s(r.get("status")),
                            s(first_of(&r, &["occurrenceDateTime", "occurrenceString"])),
                        ]);
                    }
                    "Procedure" => {
                        let (sys, code, display) = coding(r.get("code"));
                        procedures.rows.push(vec![
                            patient,
                            id,
                            sys,
                            code,
                            display,
                            s(r.get("status")),
                            s(first_of(&r, &["performedDateTime", "performedPeriod"])),
                        ]);
                    }
                    _ => {}
                }
                if rt == "Patient" {
                    all.push(r);
                }
            }
        }
        contributions_manifest
            .push(json!({ "id": c.id, "created_at": c.created_at, "files": names }));
    }

    let mut report = risk_report(&all, k);
    report.skipped = skipped.to_vec();
    let mut zip = ZipWriter::new();
    let mut output = Vec::new();
    let mut counts = BTreeMap::new();
    for (rt, lines) in &by_type {
        let url = format!("fhir/{rt}.ndjson");
        let mut body = lines.join("\n");
        body.push('\n');
        zip.add(&url, body.as_bytes())?;
        output.push(json!({ "type": rt, "url": url, "count": lines.len() }));
        counts.insert(rt.clone(), lines.len());
    }
    let tables = [
        ("csv/patients.csv", &patients),
        ("csv/conditions.csv", &conditions),
        ("csv/observations.csv", &observations),
        ("csv/medications.csv", &medications),
        ("csv/immunizations.csv", &immunizations),
        ("csv/procedures.csv", &procedures),
    ];
    let mut csv_manifest = Vec::new();
    for (name, table) in tables {
        zip.add(name, table.to_csv().as_bytes())?;
        csv_manifest
            .push(json!({ "url": name, "rows": table.rows.len(), "columns": table.header }));
    }
    if !odd_types.is_empty() {
        let mut body = odd_types.join("\n");
        body.push('\n');
        other_files.push((ODD_TYPES_ENTRY.to_owned(), body.into_bytes()));
    }
    for (name, data) in &other_files {
        zip.add(name, data)?;
    }
    let report_json = serde_json::to_vec_pretty(&report).map_err(|_| ExportError::Encode)?;
    zip.add("risk-report.json", &report_json)?;
    zip.add("risk-report.txt", report.to_text().as_bytes())?;
    if let Some(study) = study {
        zip.add(
            "study.json",
            &serde_json::to_vec_pretty(study).map_err(|_| ExportError::Encode)?,
        )?;
    }
    let days = i64::try_from(now / 86_400).unwrap_or(0);
    let (y, m, d) = crate::mask::civil_from_days(days);
    let secs = now % 86_400;
    let manifest = json!({
        "transactionTime": format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs / 60 % 60, secs % 60),
        "request": "medseal-study-bundle",
        "requiresAccessToken": false,
        "output": output,
        "error": [],
        "extension": {
            "https://medseal.org/export": {
                "format": "medseal-study-export",
                "version": 1,
                "contributions": contributions_manifest,
                "skipped": skipped,
                "csv": csv_manifest,
                "other_files": other_files.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
                "risk_report": "risk-report.json",
                "study": study.map(|_| "study.json"),
            }
        }
    });
    zip.add(
        "manifest.json",
        &serde_json::to_vec_pretty(&manifest).map_err(|_| ExportError::Encode)?,
    )?;
    Ok(Export {
        zip: zip.finish()?,
        report,
        counts,
    })
}

/// Why a contribution could not be opened.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    /// The container did not decrypt (not for this key, or altered).
    #[error("contribution {id} could not be decrypted: {source}")]
    Decrypt {
        /// The contribution.
        id: String,
        /// Why.
        source: crate::container::DecryptError,
    },
    /// The decrypted content is a damaged file pack.
    #[error("contribution {0} holds a damaged file pack")]
    Pack(String),
}

impl OpenError {
    /// A stable code: the container's failure code, or `pack.malformed`.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::Decrypt { source, .. } => source.code(),
            Self::Pack(_) => "pack.malformed",
        }
    }
}

/// Decrypts one contribution of a bundle with the researcher's key and unpacks its files.
///
/// # Errors
/// [`OpenError`].
pub fn open_contribution(
    item: &crate::study::BundleItem<'_>,
    key: &crate::pki::PrivateKey,
) -> Result<Contribution, OpenError> {
    let (meta, content) =
        crate::container::decrypt(crate::container::Identity::Rsa(key), item.ciphertext).map_err(
            |source| OpenError::Decrypt {
                id: item.id.clone(),
                source,
            },
        )?;
    let files = if meta.media_type == crate::pack::PACK_MEDIA_TYPE && crate::pack::is_pack(&content)
    {
        crate::pack::unpack(&content).map_err(|_| OpenError::Pack(item.id.clone()))?
    } else {
        vec![(meta, content)]
    };
    Ok(Contribution {
        id: item.id.clone(),
        created_at: item.created_at,
        files,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patient(id: &str, year: &str, sex: &str, zip: &str) -> Value {
        json!({"resourceType":"Patient","id":id,"birthDate":year,"gender":sex,
               "address":[{"postalCode":zip,"state":"WA"}]})
    }

    #[test]
    fn the_risk_report_counts_distinct_patients_per_group() {
        let rs = vec![
            patient("a", "1970", "female", "980"),
            patient("b", "1970", "female", "980"),
            patient("a", "1970", "female", "980"),
            patient("c", "1980", "male", "981"),
        ];
        let r = risk_report(&rs, 2);
        assert_eq!((r.patients, r.groups, r.smallest_group), (3, 2, 1));
        assert_eq!(r.under_k.len(), 1);
        assert_eq!(r.under_k[0].patients, vec!["c".to_owned()]);
        assert_eq!(r.patients_under_k, 1);
    }

    #[test]
    fn an_export_has_ndjson_per_type_csv_tables_and_a_manifest() {
        let bundle = json!({"resourceType":"Bundle","entry":[
            {"resource": patient("p1","1970","female","980")},
            {"resource": {"resourceType":"Condition","id":"c1","subject":{"reference":"urn:uuid:p1"},
              "code":{"coding":[{"system":"http://snomed.info/sct","code":"44054006","display":"Diabetes, \"type 2\""}]}}},
            {"resource": {"resourceType":"Observation","id":"o1","subject":{"reference":"Patient/p1"},
              "code":{"coding":[{"system":"http://loinc.org","code":"2345-7"}]},
              "valueQuantity":{"value":5.4,"unit":"mmol/L"}}}
        ]});
        let e = export(
            &[one_file(&bundle)],
            &[],
            Some(&json!({"title":"t"})),
            5,
            86_400 * 365,
        )
        .expect("export");
        let files: BTreeMap<String, Vec<u8>> = crate::archive::read_stored(&e.zip)
            .expect("zip")
            .into_iter()
            .collect();
        for name in [
            "fhir/Patient.ndjson",
            "fhir/Condition.ndjson",
            "fhir/Observation.ndjson",
            "csv/patients.csv",
            "csv/conditions.csv",
            "csv/observations.csv",
            "csv/medications.csv",
            "csv/immunizations.csv",
            "csv/procedures.csv",
            "manifest.json",
            "risk-report.json",
            "study.json",
        ] {
            assert!(files.contains_key(name), "{name} missing");
        }
        let conditions = String::from_utf8(files["csv/conditions.csv"].clone()).expect("utf8");
        assert!(
            conditions
                .contains("p1,c1,http://snomed.info/sct,44054006,\"Diabetes, \"\"type 2\"\"\"")
        );
        let obs = String::from_utf8(files["csv/observations.csv"].clone()).expect("utf8");
        assert!(obs.contains("p1,o1,,http://loinc.org,2345-7,,5.4,mmol/L"));
        let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("json");
        assert_eq!(manifest["transactionTime"], "1971-01-01T00:00:00Z");
        assert_eq!(manifest["output"][0]["type"], "Condition");
        assert_eq!(e.report.under_k.len(), 1);
    }

    fn one_file(bundle: &Value) -> Contribution {
        Contribution {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            created_at: 1,
            files: vec![(
                FileMeta {
                    name: "r.json".into(),
                    ..FileMeta::default()
                },
                serde_json::to_vec(bundle).expect("json"),
            )],
        }
    }

    fn researcher() -> crate::pki::PrivateKey {
        crate::pki::PrivateKey::from_pem(include_str!("../tests/data/rsa3072.pem")).expect("key")
    }

    fn fhir_meta() -> FileMeta {
        FileMeta {
            name: "masked-record-1.json".into(),
            media_type: "application/json".into(),
            masked: true,
            ..FileMeta::default()
        }
    }

    #[test]
    fn bad_contributions_are_skipped_listed_and_the_others_exported() {
        use crate::container::{LinkKey, Recipient, encrypt};
        use crate::study::{BundleItem, parse_bundle, write_bundle};
        let key = researcher();
        let public = key.public_key();
        let good = |id: &str| {
            let bundle = json!({"resourceType":"Bundle","entry":[{"resource": patient(id,"1970","female","980")}]});
            encrypt(
                &[Recipient::Rsa(&public)],
                &fhir_meta(),
                &serde_json::to_vec(&bundle).expect("json"),
            )
            .expect("seal")
        };
        let (a, b) = (good("pa"), good("pb"));
        // A well-formed container that is not for this key.
        let link = LinkKey::generate().expect("key");
        let wrong_key = encrypt(&[Recipient::Link(&link)], &fhir_meta(), b"{}").expect("seal");
        // A valid container whose plaintext claims to be a file pack and is not.
        let pack_meta = FileMeta {
            media_type: crate::pack::PACK_MEDIA_TYPE.into(),
            ..fhir_meta()
        };
        let mut bad_pack = crate::pack::PACK_MAGIC.to_vec();
        bad_pack.extend_from_slice(&[0, 0, 0, 9, 1, 2]);
        let bad_pack = encrypt(&[Recipient::Rsa(&public)], &pack_meta, &bad_pack).expect("seal");
        let garbage = [0x13u8, 0x8a, 0x00, 0xff, 0x42];
        let ids = [
            "AAAAAAAAAAAAAAAAAAAAAA",
            "GGGGGGGGGGGGGGGGGGGGGG",
            "WWWWWWWWWWWWWWWWWWWWWW",
            "PPPPPPPPPPPPPPPPPPPPPP",
            "BBBBBBBBBBBBBBBBBBBBBB",
        ];
        let blobs: [&[u8]; 5] = [&a, &garbage, &wrong_key, &bad_pack, &b];
        let items: Vec<BundleItem<'_>> = ids
            .iter()
            .zip(blobs)
            .map(|(id, c)| BundleItem {
                id: (*id).into(),
                created_at: 7,
                ciphertext: c,
            })
            .collect();
        let bytes = write_bundle(&items);
        let items = parse_bundle(&bytes).expect("the framing is the server's and is intact");
        let mut seen = Vec::new();
        let (opened, skipped) = open_contributions(&items, &key, |i| seen.push(i));
        assert_eq!(seen, [0, 1, 2, 3, 4]);
        assert_eq!(
            opened.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
            [ids[0], ids[4]]
        );
        let codes: Vec<(&str, &str)> = skipped
            .iter()
            .map(|s| (s.id.as_str(), s.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            [
                (ids[1], "header.not_medseal"),
                (ids[2], "unlock.not_for_this_key"),
                (ids[3], "pack.malformed"),
            ]
        );
        let e = export(&opened, &skipped, None, 5, 0).expect("export");
        assert_eq!(e.report.patients, 2);
        assert_eq!(e.report.skipped, skipped);
        assert!(e.report.to_text().contains(ids[1]));
        let files: BTreeMap<String, Vec<u8>> = crate::archive::read_stored(&e.zip)
            .expect("zip")
            .into_iter()
            .collect();
        let manifest: Value = serde_json::from_slice(&files["manifest.json"]).expect("json");
        let listed = &manifest["extension"]["https://medseal.org/export"]["skipped"];
        assert_eq!(listed.as_array().map(Vec::len), Some(3));
        assert_eq!(listed[0]["id"], ids[1]);
        assert!(listed[0]["reason"].as_str().is_some_and(|r| !r.is_empty()));
        let report: RiskReport =
            serde_json::from_slice(&files["risk-report.json"]).expect("report");
        assert_eq!(report.skipped.len(), 3);
        assert_eq!(
            String::from_utf8_lossy(&files["fhir/Patient.ndjson"])
                .lines()
                .count(),
            2
        );
    }

    #[test]
    fn csv_cells_that_spreadsheets_read_as_formulas_are_neutralised() {
        for (cell, want) in [
            (
                "=HYPERLINK(\"http://x\")",
                "\"'=HYPERLINK(\"\"http://x\"\")\"",
            ),
            ("+cmd|' /C calc'!A0", "\"'+cmd|' /C calc'!A0\""),
            ("-2+3+cmd", "\"'-2+3+cmd\""),
            ("@SUM(A1)", "\"'@SUM(A1)\""),
            ("\t=1", "\"'\t=1\""),
            ("\r=1", "\"'\r=1\""),
            ("-5.4", "-5.4"),
            ("+12", "+12"),
            ("a,b", "\"a,b\""),
            ("plain", "plain"),
            ("x=1", "x=1"),
        ] {
            assert_eq!(csv_field(cell), want, "{cell:?}");
        }
        // In a real table: a condition's display that is a formula.
        let bundle = json!({"resourceType":"Bundle","entry":[
            {"resource": {"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/p1"},
              "code":{"coding":[{"system":"s","code":"1","display":"=1+1"}]}}}]});
        let c = Contribution {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            created_at: 1,
            files: vec![(fhir_meta(), serde_json::to_vec(&bundle).expect("json"))],
        };
        let e = export(&[c], &[], None, 5, 0).expect("export");
        let files: BTreeMap<String, Vec<u8>> = crate::archive::read_stored(&e.zip)
            .expect("zip")
            .into_iter()
            .collect();
        let csv = String::from_utf8(files["csv/conditions.csv"].clone()).expect("utf8");
        assert!(csv.contains("p1,c1,s,1,\"'=1+1\","), "{csv}");
    }

    #[test]
    fn entry_names_use_only_resource_type_names() {
        assert!(is_resource_type_name("Patient"));
        assert!(is_resource_type_name("MedicationRequest"));
        for bad in [
            "",
            "patient",
            "fhir/../../x",
            "../x",
            "Pa tient",
            "P1",
            &"A".repeat(65),
        ] {
            assert!(!is_resource_type_name(bad), "{bad:?}");
        }
        let bundle = json!({"resourceType":"Bundle","entry":[
            {"resource": patient("p1","1970","female","980")},
            {"resource": {"resourceType":"fhir/../../x","id":"evil"}},
            {"resource": {"resourceType":"../../../etc/passwd","id":"evil2"}}]});
        let c = Contribution {
            id: "AAAAAAAAAAAAAAAAAAAAAA".into(),
            created_at: 1,
            files: vec![
                (fhir_meta(), serde_json::to_vec(&bundle).expect("json")),
                (
                    FileMeta {
                        name: "../../x.pdf".into(),
                        ..FileMeta::default()
                    },
                    b"%PDF-1.4".to_vec(),
                ),
                (
                    FileMeta {
                        name: "..".into(),
                        ..FileMeta::default()
                    },
                    b"x".to_vec(),
                ),
            ],
        };
        let e = export(&[c], &[], None, 5, 0).expect("export");
        let files = crate::archive::read_stored(&e.zip).expect("zip");
        for (name, _) in &files {
            assert!(
                !name.contains("..") && !name.starts_with('/'),
                "entry {name:?} can climb out"
            );
            if let Some(rt) = name
                .strip_prefix("fhir/")
                .and_then(|n| n.strip_suffix(".ndjson"))
            {
                assert!(is_resource_type_name(rt), "{name}");
            } else {
                assert!(
                    !name.starts_with("fhir"),
                    "{name} is in fhir/ without a type name"
                );
            }
        }
        let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
        assert!(names.contains(&"fhir/Patient.ndjson"));
        assert!(names.contains(&ODD_TYPES_ENTRY), "{names:?}");
        let odd = &files
            .iter()
            .find(|(n, _)| n == ODD_TYPES_ENTRY)
            .expect("odd")
            .1;
        assert_eq!(String::from_utf8_lossy(odd).lines().count(), 2);
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("other/AAAAAAAAAAAAAAAAAAAAAA/1-") && n.ends_with("x.pdf")),
            "{names:?}"
        );
        assert!(
            names.contains(&"other/AAAAAAAAAAAAAAAAAAAAAA/2-_"),
            "{names:?}"
        );
    }
}
