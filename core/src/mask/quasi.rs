//! Quasi-identifiers of masked records, for the research bundle's k-anonymity report.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The quasi-identifiers of one masked patient: what could still single someone out when
/// combined with outside data.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct QuasiIdentifiers {
    /// The (pseudonymous) patient id.
    pub patient: Option<String>,
    /// Birth year, or "90 or older".
    pub birth_year: Option<String>,
    /// Administrative gender (or birth sex when gender is absent).
    pub sex: Option<String>,
    /// The three-digit ZIP prefix.
    pub zip3: Option<String>,
}

fn from_patient(p: &serde_json::Map<String, Value>) -> QuasiIdentifiers {
    let birth_year = match p.get("birthDate").and_then(Value::as_str) {
        Some(d) => d.get(..4).map(str::to_owned),
        None => {
            let over_89 = p
                .get("_birthDate")
                .and_then(|b| b.get("extension"))
                .and_then(Value::as_array)
                .is_some_and(|exts| {
                    exts.iter().any(|e| {
                        e.get("valueString").and_then(Value::as_str) == Some(super::NINETY_OR_OLDER)
                    })
                });
            over_89.then(|| super::NINETY_OR_OLDER.to_owned())
        }
    };
    let sex = p
        .get("gender")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .or_else(|| {
            p.get("extension")?.as_array()?.iter().find_map(|e| {
                let url = e.get("url")?.as_str()?;
                url.ends_with("us-core-birthsex")
                    .then(|| e.get("valueCode")?.as_str().map(str::to_owned))?
            })
        });
    let zip3 = match p.get("address") {
        Some(Value::Array(a)) => a.iter().find_map(|a| {
            a.get("postalCode")?
                .as_str()
                .map(|z| z.chars().take(3).collect())
        }),
        _ => None,
    };
    QuasiIdentifiers {
        patient: p.get("id").and_then(Value::as_str).map(str::to_owned),
        birth_year,
        sex,
        zip3,
    }
}

/// The quasi-identifiers of every Patient in a masked document: a Bundle, a resource or a
/// list of resources (parse NDJSON lines into an array first).
#[must_use]
pub fn quasi_identifiers(masked: &Value) -> Vec<QuasiIdentifiers> {
    let mut out = Vec::new();
    collect(masked, &mut out);
    out
}

fn collect(v: &Value, out: &mut Vec<QuasiIdentifiers>) {
    match v {
        Value::Object(m) => {
            if m.get("resourceType").and_then(Value::as_str) == Some("Patient") {
                out.push(from_patient(m));
                return;
            }
            for key in ["entry", "resource"] {
                if let Some(child) = m.get(key) {
                    collect(child, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        _ => {}
    }
}
