//! Policies as data: round trip, validation errors, plain words, coverage of the 18 kinds.

use medseal_core::mask::{IdentifierKind, Policy, PolicyError, SAFE_HARBOR_JSON};

#[test]
fn safe_harbor_round_trips_through_json() {
    let p = Policy::safe_harbor();
    assert_eq!(p.name, "safe-harbor");
    assert!(!p.rules.is_empty());
    let again = Policy::from_json(&p.to_json()).expect("re-reads");
    assert_eq!(again, p);
    assert_eq!(
        Policy::from_json(SAFE_HARBOR_JSON).expect("built-in parses"),
        p
    );
    assert_eq!(Policy::builtin("safe-harbor"), Some(p));
    assert_eq!(Policy::builtin("nope"), None);
}

#[test]
fn safe_harbor_covers_all_18_identifier_kinds() {
    let covered = Policy::safe_harbor().covered_kinds();
    let missing: Vec<_> = IdentifierKind::ALL
        .iter()
        .filter(|k| !covered.contains(k))
        .collect();
    assert!(missing.is_empty(), "not covered: {missing:?}");
}

#[test]
fn describe_speaks_plain_words() {
    let lines = Policy::safe_harbor().describe();
    crate::check(
        &lines.join("\n"),
        r#"
HIPAA Safe Harbor: the 18 kinds of identifier are removed or made coarse; the medical content stays.
Photos of people are removed.
Your mother's maiden name is removed.
Your name and the names of your relatives and contacts are removed.
Your phone, fax, email and web addresses, and those of your relatives and contacts, are removed.
Your medical record, social security, driver's licence, passport, health plan and account numbers are removed.
Insurance subscriber numbers are removed.
Addresses keep only the state, the country and the first three digits of the ZIP code (000 where fewer than 20,000 people share them); street, city and map coordinates are removed.
Map coordinates of places are removed.
Device barcodes (UDI) are removed.
Device serial numbers are removed.
Birth dates keep only the year; if you are over 89, the birth date is removed and shown as "90 or older".
All other dates keep only the year.
Ages over 89 become "90 or older".
Record ids are replaced by codes that link your records together inside this study only.
Links between your records use the same codes, so they still fit together.
Other numbers (visit, claim and account numbers) are replaced by codes that mean nothing outside this study.
Your names, address, phone numbers, email, record and ID numbers and birth date are also searched for and removed everywhere else they appear: notes, narratives, display text and attached documents.
Free text is also scanned for phone numbers, email addresses, social security numbers, web addresses, IP addresses, dates, ages over 89, people's names, addresses and places, employers and identifying numbers.
Dates found in free text are reduced to the year.
Attached images and PDF files are removed, because they cannot be checked for identifiers.
Medical content is kept: diagnoses, lab results, medications, immunizations and procedures, with their codes (LOINC, SNOMED CT, RxNorm, CVX, ICD), values, units and reference ranges.
"#,
    );
}

fn with(edit: &str) -> Result<Policy, PolicyError> {
    let mut v: serde_json::Value = serde_json::from_str(SAFE_HARBOR_JSON).expect("JSON");
    let patch: serde_json::Value = serde_json::from_str(edit).expect("patch JSON");
    for (k, val) in patch.as_object().expect("object") {
        if k == "rule" {
            v["rules"].as_array_mut().expect("rules").push(val.clone());
        } else {
            v[k] = val.clone();
        }
    }
    Policy::from_json(&v.to_string())
}

#[test]
fn invalid_policies_are_rejected_with_clear_errors() {
    let cases: [(&str, &str); 10] = [
        (
            r#"{"version": 2}"#,
            "masking policy version 2 is not supported (this version of MedSeal reads version 1)",
        ),
        (
            r#"{"format": "other"}"#,
            "this is not a MedSeal masking policy (format is \"other\", expected \"medseal-mask-policy\")",
        ),
        (r#"{"name": " "}"#, "the policy has no name"),
        (
            r#"{"rule": {"id": "dates", "match": {"path": "x"}, "method": "redact", "kind": "dates"}}"#,
            "two rules share the id \"dates\"",
        ),
        (
            r#"{"rule": {"id": "all", "match": {}, "method": "redact", "kind": "other"}}"#,
            "rule \"all\" matches nothing in particular: give at least one of resource, path, type or extension",
        ),
        (
            r#"{"rule": {"id": "n", "match": {"type": "HumanName"}, "method": "generalize", "kind": "names"}}"#,
            "rule \"n\": generalize cannot be applied to HumanName (generalize applies to dates, addresses and ages; use redact, pseudonym or substitute)",
        ),
        (
            r#"{"rule": {"id": "s", "match": {"path": "gender"}, "method": "substitute", "kind": "other"}}"#,
            "rule \"s\": substitute needs a \"value\" to put in place of the original",
        ),
        (
            r#"{"rule": {"id": "p", "match": {"path": "a..b"}, "method": "redact", "kind": "other"}}"#,
            "rule \"p\": \"a..b\" is not a valid element path (expected names separated by dots, such as \"Patient.address.postalCode\")",
        ),
        (
            r#"{"rule": {"id": "d", "match": {"type": "Address"}, "method": "date-shift", "kind": "dates"}}"#,
            "rule \"d\": date-shift cannot be applied to Address (date-shift applies to date, dateTime and instant only)",
        ),
        (
            r#"{"rule": {"id": "m", "match": {"type": "Address"}, "method": "scramble", "kind": "dates"}}"#,
            "",
        ),
    ];
    for (edit, expected) in cases {
        let err = with(edit).expect_err(edit).to_string();
        if expected.is_empty() {
            assert!(err.contains("unknown variant `scramble`"), "{err}");
        } else {
            assert_eq!(err, expected);
        }
    }
    let err = Policy::from_json(
        "{\"format\": \"medseal-mask-policy\", \"version\": 1, \"name\": \"x\", \"rulez\": []}",
    )
    .expect_err("typo");
    assert!(err.to_string().contains("unknown field `rulez`"), "{err}");
}
