//! Masking (de-identification): removes every identifier from a health record and keeps the
//! medicine, before anything leaves the patient's device.
//!
//! Value in, value out, no I/O: [`mask_bytes`] takes the record's bytes, a [`Policy`] and the
//! caller's [`PseudonymKey`], and returns the masked bytes in the same form (Bundle in, Bundle
//! out; NDJSON in, NDJSON out; CSV in, CSV out; text in, text out) with a [`MaskReport`] of
//! what changed. [`mask_bytes_preview`] also lists each change ([`Change`]: where, by which
//! rule, the value before and after) for the patient's side-by-side preview; that list holds
//! the patient's identifiers and never leaves the device.
//!
//! ```
//! use medseal_core::mask::{mask_bytes, Policy, PseudonymKey};
//!
//! let policy = Policy::safe_harbor();
//! let key = PseudonymKey::from_bytes(&[7; 32]).unwrap();
//! let record = br#"{"resourceType":"Patient","id":"p1","name":[{"family":"Doe","given":["Jane"]}],
//!                  "birthDate":"1969-03-27","address":[{"city":"Redmond","postalCode":"98053","state":"WA"}]}"#;
//! let (masked, report) = mask_bytes(record, None, &policy, &key).unwrap();
//! let text = String::from_utf8(masked).unwrap();
//! assert!(!text.contains("Doe") && !text.contains("Redmond") && text.contains("\"980\""));
//! assert!(report.total > 0);
//! ```

mod csv;
mod date;
mod engine;
mod fasthash;
mod fhir;
mod key;
mod needles;
mod policy;
mod preview;
mod prose;
mod quasi;
mod report;
mod text;
mod zip;

pub use date::{FhirDate, civil_from_days};
pub use key::{MAX_SHIFT_DAYS, PseudonymKey};
pub use policy::{
    ColumnRule, CsvRules, DataType, FreeText, IdentifierKind, Method, OneOrMany, POLICY_FORMAT,
    POLICY_VERSION, Policy, PolicyError, Rule, SAFE_HARBOR_JSON, Selector, TextPattern, TextRules,
    normalize_column,
};
pub use preview::{Change, MaskPreview, PREVIEW_TEXT_LIMIT};
pub use quasi::{QuasiIdentifiers, quasi_identifiers};
pub use report::{ColumnReport, InputFormat, MaskReport, RuleCount};
pub use zip::{LOW_POPULATION_ZIP3, generalize_zip};

use serde_json::Value;

/// URL of the extension MedSeal puts on a birth date it removed because the person is over 89.
pub const AGE_GROUP_EXTENSION: &str = "https://medseal.org/fhir/StructureDefinition/age-group";
/// The value that replaces ages over 89.
pub const NINETY_OR_OLDER: &str = "90 or older";

/// Why masking failed. Nothing is returned on failure: a half-masked record must never leak.
#[derive(Debug, thiserror::Error)]
pub enum MaskError {
    /// The key is too short to make pseudonyms that cannot be guessed.
    #[error("the pseudonym key is {len} bytes long; at least {min} are needed")]
    KeyTooShort {
        /// Bytes given.
        len: usize,
        /// Bytes needed.
        min: usize,
    },
    /// The platform's random number generator is unavailable.
    #[error("no secure random numbers are available to make a key")]
    Random,
    /// The input is not UTF-8 text, so it is none of the forms masking understands.
    #[error(
        "the input is not text (FHIR JSON, NDJSON, CSV or plain text); binary files cannot be masked"
    )]
    NotText,
    /// The input was declared (or looks like) JSON but does not parse.
    #[error("the input is not valid JSON: {0}")]
    Json(String),
    /// A line of an NDJSON input is not a JSON object.
    #[error("line {line} of the NDJSON input is not a JSON object: {message}")]
    NdjsonLine {
        /// One-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The CSV input is malformed.
    #[error("the CSV input is malformed at row {row}: {message}")]
    Csv {
        /// One-based row number (the header is row 1).
        row: usize,
        /// What is wrong.
        message: String,
    },
    /// The policy is invalid.
    #[error(transparent)]
    Policy(#[from] PolicyError),
}

/// Options beyond the policy and key.
#[derive(Clone, Debug, Default)]
pub struct MaskOptions {
    /// The date ages are computed at (year, month, day), normally today. Without it, the
    /// latest date found in the record is used.
    pub as_of: Option<(i32, u32, u32)>,
    /// Force the input form instead of detecting it.
    pub format: Option<InputFormat>,
}

/// Masks a record with today's date unknown (ages are computed at the record's latest date).
///
/// `media_hint` is a media type or file name (`application/fhir+json`, `text/csv`,
/// `export.ndjson`...); without it the form is detected from the content.
///
/// # Errors
/// [`MaskError`] if the input cannot be read in the form it claims or the policy is invalid.
pub fn mask_bytes(
    input: &[u8],
    media_hint: Option<&str>,
    policy: &Policy,
    key: &PseudonymKey,
) -> Result<(Vec<u8>, MaskReport), MaskError> {
    mask_bytes_with(input, media_hint, policy, key, &MaskOptions::default())
}

/// Masks a record, with [`MaskOptions`].
///
/// # Errors
/// See [`mask_bytes`].
pub fn mask_bytes_with(
    input: &[u8],
    media_hint: Option<&str>,
    policy: &Policy,
    key: &PseudonymKey,
    options: &MaskOptions,
) -> Result<(Vec<u8>, MaskReport), MaskError> {
    mask_inner(input, media_hint, policy, key, options, None).map(|(out, report, _)| (out, report))
}

/// Masks a record like [`mask_bytes_with`] (the same masked bytes and the same report) and
/// also lists what changed, for the patient's side-by-side preview: up to `max_changes`
/// [`Change`]s in document order, with the number of the rest in [`MaskPreview::omitted`].
///
/// **The preview holds the patient's identifiers in the clear.** It is for the patient's eyes
/// on their own device: it is not part of the report or the masked output, and must never be
/// uploaded, sealed into a share, logged or stored.
///
/// ```
/// use medseal_core::mask::{mask_bytes_preview, MaskOptions, Policy, PseudonymKey};
///
/// let key = PseudonymKey::from_bytes(&[7; 32]).unwrap();
/// let record = br#"{"resourceType":"Patient","id":"p1","name":[{"family":"Doe"}]}"#;
/// let (masked, report, preview) = mask_bytes_preview(
///     record, None, &Policy::safe_harbor(), &key, &MaskOptions::default(), 100).unwrap();
/// let c = &preview.changes[1];
/// assert_eq!((c.location.as_str(), c.before.as_str(), c.after.as_deref()),
///            ("Patient/p1 name[0].family", "Doe", None));
/// assert!(!String::from_utf8(masked).unwrap().contains("Doe"));
/// assert_eq!(report.total, 2);
/// ```
///
/// # Errors
/// See [`mask_bytes`].
pub fn mask_bytes_preview(
    input: &[u8],
    media_hint: Option<&str>,
    policy: &Policy,
    key: &PseudonymKey,
    options: &MaskOptions,
    max_changes: usize,
) -> Result<(Vec<u8>, MaskReport, MaskPreview), MaskError> {
    mask_inner(input, media_hint, policy, key, options, Some(max_changes))
        .map(|(out, report, preview)| (out, report, preview.unwrap_or_default()))
}

fn mask_inner(
    input: &[u8],
    media_hint: Option<&str>,
    policy: &Policy,
    key: &PseudonymKey,
    options: &MaskOptions,
    max_changes: Option<usize>,
) -> Result<(Vec<u8>, MaskReport, Option<MaskPreview>), MaskError> {
    policy.validate()?;
    let text = std::str::from_utf8(input).map_err(|_| MaskError::NotText)?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let format = match options.format {
        Some(f) => f,
        None => detect_format(text, media_hint),
    };
    let mut engine = engine::Engine::new(policy, key, options.as_of);
    engine.tally.preview = max_changes.map(preview::Recorder::new);
    let mut format = format;
    let out = match format {
        InputFormat::FhirBundle | InputFormat::FhirResource => {
            let value: Value =
                serde_json::from_str(text).map_err(|e| MaskError::Json(e.to_string()))?;
            format = if value.get("resourceType").and_then(Value::as_str) == Some("Bundle") {
                InputFormat::FhirBundle
            } else {
                InputFormat::FhirResource
            };
            engine.learn(&value);
            let masked = engine.mask_document(value);
            let pretty = text
                .trim_start()
                .get(..200.min(text.trim_start().len()))
                .is_some_and(|head| head.contains("\n "));
            // Written into a buffer of about the output's size: growing a buffer of megabytes
            // by doubling copies it and frees the old ones.
            let mut buf = Vec::with_capacity(text.len() + text.len() / 8 + 16);
            if pretty {
                serde_json::to_writer_pretty(&mut buf, &masked)
            } else {
                serde_json::to_writer(&mut buf, &masked)
            }
            .map_err(|e| MaskError::Json(e.to_string()))?;
            let mut s = String::from_utf8(buf).map_err(|e| MaskError::Json(e.to_string()))?;
            if text.ends_with('\n') {
                s.push('\n');
            }
            s
        }
        InputFormat::Ndjson => {
            let mut values = Vec::new();
            let mut numbers = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(line).map_err(|e| MaskError::NdjsonLine {
                    line: i + 1,
                    message: e.to_string(),
                })?;
                if !v.is_object() {
                    return Err(MaskError::NdjsonLine {
                        line: i + 1,
                        message: "expected a JSON object".to_owned(),
                    });
                }
                engine.learn(&v);
                values.push(v);
                numbers.push(i + 1);
            }
            let mut buf = Vec::with_capacity(text.len());
            for (v, n) in values.into_iter().zip(numbers) {
                engine.line = Some(n);
                let masked = engine.mask_document(v);
                serde_json::to_writer(&mut buf, &masked)
                    .map_err(|e| MaskError::Json(e.to_string()))?;
                buf.push(b'\n');
            }
            String::from_utf8(buf).map_err(|e| MaskError::Json(e.to_string()))?
        }
        InputFormat::Csv => csv::mask_csv(text, &mut engine, policy)?,
        InputFormat::Text => {
            engine.tally.records = text.lines().count() as u64;
            engine.scan_document(text)
        }
    };
    let preview = engine.tally.take_preview();
    let report = engine.tally.finish(&policy.name, policy.version, format);
    Ok((out.into_bytes(), report, preview))
}

/// Decides the input's form from a media type or file name, else from its content. JSON is
/// reported as [`InputFormat::FhirResource`] here; masking tells a Bundle apart once parsed.
#[must_use]
pub fn detect_format(text: &str, media_hint: Option<&str>) -> InputFormat {
    let hint = media_hint.unwrap_or("").to_ascii_lowercase();
    if hint.contains("ndjson") || hint.contains("jsonl") {
        return InputFormat::Ndjson;
    }
    if hint.contains("csv") {
        return InputFormat::Csv;
    }
    if hint.contains("json") {
        return InputFormat::FhirResource;
    }
    if hint.starts_with("text/") || hint.ends_with(".txt") {
        return InputFormat::Text;
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        // NDJSON: several lines, each a complete JSON object. Pretty JSON's first line ("{")
        // is not complete on its own, and a single line is read as one JSON document.
        let mut lines = trimmed.lines().filter(|l| !l.trim().is_empty());
        let first_complete = lines
            .next()
            .is_some_and(|l| serde_json::from_str::<serde::de::IgnoredAny>(l).is_ok());
        if first_complete
            && lines
                .next()
                .is_some_and(|l| l.trim_start().starts_with('{'))
        {
            return InputFormat::Ndjson;
        }
        return InputFormat::FhirResource;
    }
    if csv::looks_like_csv(text) {
        return InputFormat::Csv;
    }
    InputFormat::Text
}

impl Policy {
    /// The identifier kinds this policy addresses, through its rules, its CSV columns, its
    /// text patterns and its handling of binary attachments.
    #[must_use]
    pub fn covered_kinds(&self) -> std::collections::BTreeSet<IdentifierKind> {
        use IdentifierKind as K;
        let mut kinds = std::collections::BTreeSet::new();
        for r in &self.rules {
            if r.method == Method::Keep {
                continue;
            }
            kinds.insert(r.kind);
            let types = r
                .selector
                .data_type
                .as_ref()
                .map(OneOrMany::as_slice)
                .unwrap_or(&[]);
            let person = r
                .selector
                .resource
                .as_ref()
                .is_some_and(|rs| rs.as_slice().iter().any(|x| x == "Patient"));
            if types.contains(&DataType::ContactPoint) {
                kinds.extend([K::Telephone, K::Fax, K::Email, K::Url]);
            }
            if types.contains(&DataType::Identifier) && person && r.method == Method::Redact {
                kinds.extend([
                    K::Ssn,
                    K::Mrn,
                    K::License,
                    K::HealthPlan,
                    K::Account,
                    K::Vehicle,
                    K::Other,
                ]);
            }
            if types.iter().any(|t| t.is_date() || *t == DataType::Age) {
                kinds.insert(K::Dates);
            }
        }
        for c in &self.csv.columns {
            if c.method != Method::Keep {
                kinds.insert(c.kind);
            }
        }
        for p in &self.text.patterns {
            kinds.insert(p.kind());
        }
        if self.text.redact_binary_attachments {
            kinds.extend([K::Photo, K::Biometric]);
        }
        kinds
    }
}
