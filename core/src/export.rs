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

impl Skipped {
    /// The record of `item` left out for `error`.
    #[must_use]
    pub fn of(item: &crate::study::BundleItem<'_>, error: &OpenError) -> Self {
        Self {
            id: item.id.clone(),
            created_at: item.created_at,
            code: error.code().to_owned(),
            reason: error.to_string(),
        }
    }
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
            Err(e) => skipped.push(Skipped::of(item, &e)),
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
    let mut tally = RiskTally::default();
    for r in resources {
        tally.add(r);
    }
    tally.report(k)
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
    /// The spool (where the entries wait for the archive) failed.
    #[error("the export could not be written: {0}")]
    Io(String),
}

impl From<std::io::Error> for ExportError {
    fn from(e: std::io::Error) -> Self {
        Self::Io(e.to_string())
    }
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

/// One CSV table of an export as it fills: its entry name, header, and rows written so far.
struct TableState {
    name: &'static str,
    header: &'static [&'static str],
    rows: usize,
}

impl TableState {
    fn new(name: &'static str, header: &'static [&'static str]) -> Self {
        Self {
            name,
            header,
            rows: 0,
        }
    }
}

fn push_row<S: Spool + ?Sized>(
    spool: &mut S,
    table: &mut TableState,
    row: Vec<String>,
) -> std::io::Result<()> {
    let fields: Vec<String> = row.iter().map(|f| csv_field(f)).collect();
    let mut line = fields.join(",");
    line.push('\n');
    spool.append(table.name, line.as_bytes())?;
    table.rows += 1;
    Ok(())
}

/// Where an export keeps its entries while contributions are added, until [`Exporter::finish`]
/// writes them into the archive: memory for the browser ([`MemorySpool`]), files for
/// `medseal bundle`, so that what is held does not grow with the study.
pub trait Spool {
    /// Appends bytes to an entry, made empty on first use.
    ///
    /// # Errors
    /// The spool's I/O error.
    fn append(&mut self, entry: &str, bytes: &[u8]) -> std::io::Result<()>;
    /// The entry's length so far (0 for an entry never appended to).
    fn len(&self, entry: &str) -> u64;
    /// The entry's bytes from the start. Called once per entry, after the last append.
    ///
    /// # Errors
    /// The spool's I/O error.
    fn reader(&mut self, entry: &str) -> std::io::Result<Box<dyn std::io::Read + '_>>;
}

/// A [`Spool`] in memory.
#[derive(Debug, Default)]
pub struct MemorySpool(BTreeMap<String, Vec<u8>>);

impl Spool for MemorySpool {
    fn append(&mut self, entry: &str, bytes: &[u8]) -> std::io::Result<()> {
        match self.0.get_mut(entry) {
            Some(v) => v.extend_from_slice(bytes),
            None => {
                self.0.insert(entry.to_owned(), bytes.to_vec());
            }
        }
        Ok(())
    }
    fn len(&self, entry: &str) -> u64 {
        self.0.get(entry).map_or(0, |v| v.len() as u64)
    }
    fn reader(&mut self, entry: &str) -> std::io::Result<Box<dyn std::io::Read + '_>> {
        Ok(Box::new(std::io::Cursor::new(
            self.0.remove(entry).unwrap_or_default(),
        )))
    }
}

/// The quasi-identifiers of every patient seen, for the risk report: a few dozen bytes a
/// patient, not the resources.
#[derive(Debug, Default)]
struct RiskTally {
    by_patient: BTreeMap<String, (String, String, String)>,
    resources: usize,
}

impl RiskTally {
    fn add(&mut self, r: &Value) {
        let i = self.resources;
        self.resources += 1;
        for q in quasi_identifiers(r) {
            let id = q.patient.clone().unwrap_or_else(|| format!("#{i}"));
            let unknown = || "unknown".to_owned();
            self.by_patient.entry(id).or_insert((
                q.birth_year.unwrap_or_else(unknown),
                q.sex.unwrap_or_else(unknown),
                q.zip3.unwrap_or_else(unknown),
            ));
        }
    }

    fn report(self, k: u32) -> RiskReport {
        let mut groups: BTreeMap<(String, String, String), Vec<String>> = BTreeMap::new();
        for (patient, key) in self.by_patient {
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
}

/// Builds an export one contribution at a time: each is read into the spool's entries (NDJSON
/// lines per resource type, CSV rows, other files) and dropped, and only the tallies (counts,
/// patients' quasi-identifiers, the manifest's list of contributions) stay in memory.
/// [`Exporter::finish`] then writes the archive. [`export`] is this over a [`MemorySpool`].
pub struct Exporter<S: Spool> {
    spool: S,
    types: BTreeMap<String, usize>,
    odd_types: usize,
    other_files: Vec<String>,
    patients: TableState,
    conditions: TableState,
    observations: TableState,
    medications: TableState,
    immunizations: TableState,
    procedures: TableState,
    contributions_manifest: Vec<Value>,
    seen_patients: BTreeSet<String>,
    risk: RiskTally,
    contributions: usize,
}

/// What [`Exporter::finish`] reports.
#[derive(Clone, Debug)]
pub struct Finished {
    /// The risk report (also in the archive).
    pub report: RiskReport,
    /// Resources per type (also in the manifest).
    pub counts: BTreeMap<String, usize>,
    /// Contributions exported.
    pub contributions: usize,
}

impl<S: Spool> Exporter<S> {
    /// An export that keeps its entries in `spool`.
    ///
    /// # Errors
    /// The spool's I/O error (writing the CSV headers).
    pub fn new(mut spool: S) -> Result<Self, ExportError> {
        let tables = [
            TableState::new(
                "csv/patients.csv",
                &[
                    "patient",
                    "contribution",
                    "birth_year",
                    "sex",
                    "zip3",
                    "state",
                    "country",
                    "deceased",
                ],
            ),
            TableState::new(
                "csv/conditions.csv",
                &[
                    "patient",
                    "id",
                    "system",
                    "code",
                    "display",
                    "clinical_status",
                    "onset",
                    "abatement",
                ],
            ),
            TableState::new(
                "csv/observations.csv",
                &[
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
                ],
            ),
            TableState::new(
                "csv/medications.csv",
                &[
                    "patient", "id", "resource", "system", "code", "display", "status", "authored",
                ],
            ),
            TableState::new(
                "csv/immunizations.csv",
                &[
                    "patient", "id", "system", "code", "display", "status", "date",
                ],
            ),
            TableState::new(
                "csv/procedures.csv",
                &[
                    "patient",
                    "id",
                    "system",
                    "code",
                    "display",
                    "status",
                    "performed",
                ],
            ),
        ];
        for t in &tables {
            let mut header = t.header.join(",");
            header.push('\n');
            spool.append(t.name, header.as_bytes())?;
        }
        let [
            patients,
            conditions,
            observations,
            medications,
            immunizations,
            procedures,
        ] = tables;
        Ok(Self {
            spool,
            types: BTreeMap::new(),
            odd_types: 0,
            other_files: Vec::new(),
            patients,
            conditions,
            observations,
            medications,
            immunizations,
            procedures,
            contributions_manifest: Vec::new(),
            seen_patients: BTreeSet::new(),
            risk: RiskTally::default(),
            contributions: 0,
        })
    }

    /// Adds one opened contribution.
    ///
    /// # Errors
    /// [`ExportError`].
    pub fn add(&mut self, c: &Contribution) -> Result<(), ExportError> {
        self.contributions += 1;
        let mut names = Vec::new();
        for (meta, data) in &c.files {
            names.push(json!({ "name": meta.name, "kind": meta.kind, "masked": meta.masked, "policy": meta.policy }));
            let Some(resources) = resources_of(data) else {
                let name = other_entry(&c.id, self.other_files.len() + 1, &meta.name);
                self.spool.append(&name, data)?;
                self.other_files.push(name);
                continue;
            };
            for r in resources {
                let rt = s(r.get("resourceType"));
                // One JSON object a line, appended with its newline in one call.
                let mut line = serde_json::to_string(&r).map_err(|_| ExportError::Encode)?;
                line.push('\n');
                if !is_resource_type_name(&rt) {
                    // Not a resource type name (`fhir/../../x`, empty, a number): never part
                    // of an entry name; kept apart under other/.
                    self.spool.append(ODD_TYPES_ENTRY, line.as_bytes())?;
                    self.odd_types += 1;
                    continue;
                }
                self.spool
                    .append(&format!("fhir/{rt}.ndjson"), line.as_bytes())?;
                *self.types.entry(rt.clone()).or_default() += 1;
                let id = s(r.get("id"));
                let patient = patient_of(&r);
                match rt.as_str() {
                    "Patient" => {
                        for q in quasi_identifiers(&r) {
                            let pid = q.patient.clone().unwrap_or_default();
                            if !self.seen_patients.insert(pid.clone()) {
                                continue;
                            }
                            let addr = r
                                .get("address")
                                .and_then(Value::as_array)
                                .and_then(|a| a.first());
                            let deceased = r
                                .get("deceasedDateTime")
                                .or_else(|| r.get("deceasedBoolean"));
                            push_row(
                                &mut self.spool,
                                &mut self.patients,
                                vec![
                                    pid,
                                    c.id.clone(),
                                    q.birth_year.unwrap_or_default(),
                                    q.sex.unwrap_or_default(),
                                    q.zip3.unwrap_or_default(),
                                    s(addr.and_then(|a| a.get("state"))),
                                    s(addr.and_then(|a| a.get("country"))),
                                    s(deceased),
                                ],
                            )?;
                        }
                    }
                    "Condition" => {
                        let (sys, code, display) = coding(r.get("code"));
                        push_row(
                            &mut self.spool,
                            &mut self.conditions,
                            vec![
                                patient,
                                id,
                                sys,
                                code,
                                display,
                                coding(r.get("clinicalStatus")).1,
                                s(first_of(&r, &["onsetDateTime", "onsetPeriod"])),
                                s(first_of(&r, &["abatementDateTime", "abatementPeriod"])),
                            ],
                        )?;
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
                        let (spool, observations) = (&mut self.spool, &mut self.observations);
                        let mut push = |part: &Value| -> std::io::Result<()> {
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
                            push_row(
                                &mut *spool,
                                &mut *observations,
                                vec![
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
                                ],
                            )
                        };
                        match r.get("component").and_then(Value::as_array) {
                            Some(components) if !components.is_empty() => {
                                for part in components {
                                    push(part)?;
                                }
                            }
                            _ => push(&r)?,
                        }
                    }
                    "MedicationRequest" | "MedicationStatement" | "MedicationAdministration" => {
                        let (sys, code, display) = coding(
                            r.get("medicationCodeableConcept")
                                .or_else(|| r.get("medication").and_then(|m| m.get("concept"))),
                        );
                        push_row(
                            &mut self.spool,
                            &mut self.medications,
                            vec![
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
                            ],
                        )?;
                    }
                    "Immunization" => {
                        let (sys, code, display) = coding(r.get("vaccineCode"));
                        push_row(
                            &mut self.spool,
                            &mut self.immunizations,
                            vec![
                                patient,
                                id,
                                sys,
                                code,
                                display,
                                s(r.get("status")),
                                s(first_of(&r, &["occurrenceDateTime", "occurrenceString"])),
                            ],
                        )?;
                    }
                    "Procedure" => {
                        let (sys, code, display) = coding(r.get("code"));
                        push_row(
                            &mut self.spool,
                            &mut self.procedures,
                            vec![
                                patient,
                                id,
                                sys,
                                code,
                                display,
                                s(r.get("status")),
                                s(first_of(&r, &["performedDateTime", "performedPeriod"])),
                            ],
                        )?;
                    }
                    _ => {}
                }
                if rt == "Patient" {
                    self.risk.add(&r);
                }
            }
        }
        self.contributions_manifest
            .push(json!({ "id": c.id, "created_at": c.created_at, "files": names }));
        Ok(())
    }

    /// Writes the archive's entries in order through `write(name, content, length)`: NDJSON
    /// per type, the CSV tables, other files, the risk report, the study and the manifest.
    /// `skipped`, `study`, `k` and `now` are as for [`export`].
    ///
    /// # Errors
    /// [`ExportError`].
    pub fn finish(
        mut self,
        skipped: &[Skipped],
        study: Option<&Value>,
        k: u32,
        now: u64,
        write: &mut dyn FnMut(&str, &mut dyn std::io::Read, u64) -> Result<(), ZipError>,
    ) -> Result<Finished, ExportError> {
        let mut report = self.risk.report(k);
        report.skipped = skipped.to_vec();
        let mut output = Vec::new();
        for (rt, n) in &self.types {
            let url = format!("fhir/{rt}.ndjson");
            let len = self.spool.len(&url);
            write(&url, &mut self.spool.reader(&url)?, len)?;
            output.push(json!({ "type": rt, "url": url, "count": n }));
        }
        let mut csv_manifest = Vec::new();
        for table in [
            &self.patients,
            &self.conditions,
            &self.observations,
            &self.medications,
            &self.immunizations,
            &self.procedures,
        ] {
            let len = self.spool.len(table.name);
            write(table.name, &mut self.spool.reader(table.name)?, len)?;
            csv_manifest
                .push(json!({ "url": table.name, "rows": table.rows, "columns": table.header }));
        }
        if self.odd_types > 0 {
            self.other_files.push(ODD_TYPES_ENTRY.to_owned());
        }
        for name in &self.other_files {
            let len = self.spool.len(name);
            write(name, &mut self.spool.reader(name)?, len)?;
        }
        let mut small = |name: &str, bytes: &[u8]| write(name, &mut &bytes[..], bytes.len() as u64);
        let report_json = serde_json::to_vec_pretty(&report).map_err(|_| ExportError::Encode)?;
        small("risk-report.json", &report_json)?;
        small("risk-report.txt", report.to_text().as_bytes())?;
        if let Some(study) = study {
            small(
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
                    "contributions": self.contributions_manifest,
                    "skipped": skipped,
                    "csv": csv_manifest,
                    "other_files": self.other_files,
                    "risk_report": "risk-report.json",
                    "study": study.map(|_| "study.json"),
                }
            }
        });
        small(
            "manifest.json",
            &serde_json::to_vec_pretty(&manifest).map_err(|_| ExportError::Encode)?,
        )?;
        Ok(Finished {
            report,
            counts: self.types,
            contributions: self.contributions,
        })
    }
}

/// Turns decrypted contributions into the export archive, in memory, of stored entries (the
/// browser's export). `skipped` are the contributions that could not be opened
/// ([`open_contributions`]), listed in the manifest and the risk report; `study` is the signed
/// description (put in the archive and manifest as is), `k` the study's k, `now` the export
/// time (Unix seconds; the core has no clock).
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
    let mut exporter = Exporter::new(MemorySpool::default())?;
    for c in contributions {
        exporter.add(c)?;
    }
    exporter.finish_in_memory(skipped, study, k, now)
}

impl Exporter<MemorySpool> {
    /// [`Exporter::finish`] into a zip of stored entries in memory (the browser's export); each
    /// entry leaves the spool as it goes into the archive.
    ///
    /// # Errors
    /// [`ExportError`].
    pub fn finish_in_memory(
        self,
        skipped: &[Skipped],
        study: Option<&Value>,
        k: u32,
        now: u64,
    ) -> Result<Export, ExportError> {
        let mut zip = ZipWriter::new();
        let finished = self.finish(skipped, study, k, now, &mut |name, content, _| {
            let mut bytes = Vec::new();
            content.read_to_end(&mut bytes)?;
            zip.add(name, &bytes)
        })?;
        Ok(Export {
            zip: zip.finish()?,
            report: finished.report,
            counts: finished.counts,
        })
    }
}

fn first_of<'a>(r: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().find_map(|k| {
        let v = r.get(*k)?;
        Some(v.get("start").unwrap_or(v))
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
