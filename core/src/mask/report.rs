//! What masking changed, counted by rule and by kind, for the patient's preview.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::policy::{IdentifierKind, Method};
use super::preview::{MaskPreview, Recorder};

/// The form of the input (and of the output, which keeps it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum InputFormat {
    /// A FHIR R4 Bundle.
    FhirBundle,
    /// A single FHIR resource (or other JSON).
    FhirResource,
    /// FHIR NDJSON, one resource a line.
    Ndjson,
    /// CSV with a header row.
    Csv,
    /// Plain text.
    Text,
}

/// How many changes one rule made to one kind of identifier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleCount {
    /// The rule's id (or `known-identifier-sweep`, `text-pattern:phone`...).
    pub rule: String,
    /// The kind of identifier.
    pub kind: IdentifierKind,
    /// What was done.
    pub method: Method,
    /// How many values.
    pub count: u64,
}

/// The report that comes with every masked output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MaskReport {
    /// The policy's name.
    pub policy: String,
    /// The policy's schema version.
    pub policy_version: u32,
    /// The form of the input and output.
    pub format: InputFormat,
    /// Resources, NDJSON lines, CSV rows or text lines processed.
    pub records: u64,
    /// Patients found in the input.
    pub patients: u64,
    /// All changes.
    pub total: u64,
    /// Changes by rule and kind, most frequent first.
    pub by_rule: Vec<RuleCount>,
    /// Changes by kind of identifier.
    pub by_kind: BTreeMap<IdentifierKind, u64>,
    /// Things the patient should know (attachments removed, values that could not be masked).
    pub notes: Vec<String>,
    /// For CSV: every column, in order, with what was done to it in plain words.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnReport>,
}

/// What masking did to one CSV column.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnReport {
    /// The header, as written.
    pub column: String,
    /// What was done, in plain words ("names: removed", "not recognised: every cell is
    /// checked as free text for identifiers").
    pub treatment: String,
}

impl MaskReport {
    /// The report in plain words, one line each.
    #[must_use]
    pub fn summary(&self) -> Vec<String> {
        let mut out = vec![format!(
            "{} change{} under the {} policy.",
            self.total,
            if self.total == 1 { "" } else { "s" },
            self.policy
        )];
        for (kind, n) in &self.by_kind {
            out.push(format!("{}: {n}", kind.plain()));
        }
        out.extend(self.notes.iter().cloned());
        for c in &self.columns {
            out.push(format!("Column {}: {}.", c.column, c.treatment));
        }
        out
    }
}

/// Collects counts while masking, and the preview's changes when asked to.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    counts: BTreeMap<(String, IdentifierKind, Method), u64>,
    pub(crate) notes: Vec<String>,
    pub(crate) columns: Vec<ColumnReport>,
    pub(crate) records: u64,
    pub(crate) patients: u64,
    /// The change list, only when a preview was asked for. Kept apart from the counts: it
    /// holds the patient's identifiers and never goes into the report.
    pub(crate) preview: Option<Recorder>,
}

impl Tally {
    /// Whether changes are being recorded for a preview.
    pub(crate) fn recording(&self) -> bool {
        self.preview.is_some()
    }

    /// The preview's changes, taken out before the report is made.
    pub(crate) fn take_preview(&mut self) -> Option<MaskPreview> {
        self.preview.take().map(Recorder::finish)
    }

    pub(crate) fn add(&mut self, rule: &str, kind: IdentifierKind, method: Method) {
        *self
            .counts
            .entry((rule.to_owned(), kind, method))
            .or_default() += 1;
    }

    pub(crate) fn column(&mut self, column: &str, treatment: String) {
        self.columns.push(ColumnReport {
            column: column.to_owned(),
            treatment,
        });
    }

    pub(crate) fn note(&mut self, note: String) {
        if !self.notes.contains(&note) {
            self.notes.push(note);
        }
    }

    pub(crate) fn finish(
        self,
        policy: &str,
        policy_version: u32,
        format: InputFormat,
    ) -> MaskReport {
        let mut by_kind = BTreeMap::new();
        let mut total = 0;
        let mut by_rule: Vec<RuleCount> = self
            .counts
            .into_iter()
            .map(|((rule, kind, method), count)| {
                *by_kind.entry(kind).or_insert(0) += count;
                total += count;
                RuleCount {
                    rule,
                    kind,
                    method,
                    count,
                }
            })
            .collect();
        by_rule.sort_by(|a, b| {
            b.count
                .cmp(&a.count)
                .then_with(|| a.rule.cmp(&b.rule))
                .then_with(|| a.kind.cmp(&b.kind))
        });
        MaskReport {
            policy: policy.to_owned(),
            policy_version,
            format,
            records: self.records,
            patients: self.patients,
            total,
            by_rule,
            by_kind,
            notes: self.notes,
            columns: self.columns,
        }
    }
}
