//! The Synthea bundles under the built-in safe-harbor policy.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use medseal_core::mask::{FhirDate, Policy};
use serde_json::Value;

use crate::{each_string, key, mask};

fn fixture_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/synthea-r4")
}

/// (bundle path, identifiers JSON) for every fixture.
pub fn fixtures() -> Vec<(PathBuf, Value)> {
    let mut out: Vec<(PathBuf, Value)> = std::fs::read_dir(fixture_dir())
        .expect("fixture directory")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "json")
                && !p.to_string_lossy().ends_with(".identifiers.json")
        })
        .map(|p| {
            let ids = p.with_extension("identifiers.json");
            let ids: Value = serde_json::from_slice(&std::fs::read(ids).expect("identifiers file"))
                .expect("identifiers JSON");
            (p, ids)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(out.len(), 11, "all eleven Synthea fixtures are present");
    out
}

fn strings_of(v: &Value, key: &str) -> Vec<String> {
    v[key]
        .as_array()
        .expect(key)
        .iter()
        .map(|s| s.as_str().expect("string").to_owned())
        .collect()
}

/// Every decoded base64 attachment in a document.
fn attachments(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    each_string(v, "", &mut |k, s| {
        if k == "data" {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s)
                .expect("attachment is base64");
            out.push(String::from_utf8(bytes).expect("attachment is text"));
        }
    });
    out
}

/// Codings of clinical code systems, as (system, code) with counts.
fn clinical_codings(v: &Value) -> BTreeMap<(String, String), usize> {
    const SYSTEMS: [&str; 6] = [
        "http://loinc.org",
        "http://snomed.info/sct",
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://hl7.org/fhir/sid/cvx",
        "http://hl7.org/fhir/sid/icd-10-cm",
        "http://unitsofmeasure.org",
    ];
    let mut out = BTreeMap::new();
    fn walk(v: &Value, out: &mut BTreeMap<(String, String), usize>) {
        match v {
            Value::Object(m) => {
                if let (Some(s), Some(c)) = (
                    m.get("system").and_then(Value::as_str),
                    m.get("code").and_then(Value::as_str),
                ) && SYSTEMS.contains(&s)
                {
                    *out.entry((s.to_owned(), c.to_owned())).or_default() += 1;
                }
                m.values().for_each(|c| walk(c, out));
            }
            Value::Array(a) => a.iter().for_each(|c| walk(c, out)),
            _ => {}
        }
    }
    walk(v, &mut out);
    out
}

/// Resource types whose codes carry the clinical meaning, counted in the closing figures.
const CLINICAL_TYPES: [&str; 7] = [
    "Condition",
    "Observation",
    "MedicationRequest",
    "Immunization",
    "Procedure",
    "AllergyIntolerance",
    "DiagnosticReport",
];

/// The (system, code) of every Coding (each item of a `coding` array) in a resource.
fn resource_codes(v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, c) in m {
                if k == "coding" {
                    for coding in c.as_array().into_iter().flatten() {
                        if let Some(code) = coding["code"].as_str() {
                            let system = coding["system"].as_str().unwrap_or("");
                            out.push((system.to_owned(), code.to_owned()));
                        }
                    }
                }
                resource_codes(c, out);
            }
        }
        Value::Array(a) => a.iter().for_each(|c| resource_codes(c, out)),
        _ => {}
    }
}

/// Clinical codes of the entries of [`CLINICAL_TYPES`], before and after, entry by entry:
/// (codes in the input, of which still in the output).
fn codes_kept(original: &Value, masked: &Value, name: &str) -> (usize, usize) {
    let (a, b) = (
        original["entry"].as_array().expect("entries"),
        masked["entry"].as_array().expect("entries"),
    );
    assert_eq!(a.len(), b.len(), "{name}: every entry is kept");
    let (mut total, mut kept) = (0, 0);
    for (x, y) in a.iter().zip(b) {
        let rt = x["resource"]["resourceType"].as_str().unwrap_or("");
        assert_eq!(
            rt, y["resource"]["resourceType"],
            "{name}: entries keep their order"
        );
        if !CLINICAL_TYPES.contains(&rt) {
            continue;
        }
        let (mut before, mut after) = (Vec::new(), Vec::new());
        resource_codes(&x["resource"], &mut before);
        resource_codes(&y["resource"], &mut after);
        total += before.len();
        for c in before {
            if let Some(i) = after.iter().position(|d| *d == c) {
                after.swap_remove(i);
                kept += 1;
            }
        }
    }
    (total, kept)
}

/// Observation values: quantity value + unit + code, reference ranges, statuses and
/// interpretations, in document order.
fn observation_content(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for e in v["entry"].as_array().expect("entries") {
        let r = &e["resource"];
        if r["resourceType"] != "Observation" {
            continue;
        }
        out.push(format!(
            "{} {} {}",
            r["status"], r["code"]["coding"][0]["code"], r["valueQuantity"]
        ));
        out.push(format!("{} {}", r["referenceRange"], r["interpretation"]));
        for c in r["component"].as_array().into_iter().flatten() {
            out.push(format!(
                "{} {} {}",
                c["code"]["coding"][0]["code"], c["valueQuantity"], c["valueCodeableConcept"]
            ));
        }
    }
    out
}

#[test]
fn safe_harbor_removes_every_listed_identifier_and_keeps_the_medicine() {
    let policy = Policy::safe_harbor();
    let k = key(1);
    let mut total_bytes = 0usize;
    let started = std::time::Instant::now();
    // The closing figures: identifiers that survived, clinical codes kept.
    let mut leaks: Vec<String> = Vec::new();
    let (mut bundles, mut codes, mut kept) = (0, 0, 0);
    for (path, ids) in fixtures() {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let input = std::fs::read(&path).expect("fixture");
        total_bytes += input.len();
        let original: Value = serde_json::from_slice(&input).expect("fixture JSON");
        let (out, report) = mask(&input, Some("application/fhir+json"), &policy, &k);
        let masked: Value = serde_json::from_str(&out).expect("masked JSON");

        // 1. No listed identifier survives anywhere: raw output, decoded attachments, narratives.
        let decoded = attachments(&masked);
        assert_eq!(
            decoded.len(),
            attachments(&original).len(),
            "{name}: clinical notes are kept (masked, not dropped)"
        );
        for needle in strings_of(&ids, "must_not_appear_substring") {
            if out.contains(&needle) {
                leaks.push(format!("{name}: {needle:?} survived in the output"));
            } else if let Some(i) = decoded.iter().position(|n| n.contains(&needle)) {
                leaks.push(format!(
                    "{name}: {needle:?} survived in decoded attachment {i}"
                ));
            }
        }
        // 2. Short values must not remain as a whole JSON value (string or number).
        let strict = strings_of(&ids, "must_not_appear_as_value_strict");
        fn values(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Number(n) => out.push(n.to_string()),
                Value::Array(a) => a.iter().for_each(|c| values(c, out)),
                Value::Object(m) => m.values().for_each(|c| values(c, out)),
                _ => {}
            }
        }
        let mut all = Vec::new();
        values(&masked, &mut all);
        for s in &strict {
            if all.contains(s) {
                leaks.push(format!("{name}: {s:?} is still a whole value"));
            }
        }
        // 3. No day-precision date is left in structured data or in the notes.
        each_string(&masked, "", &mut |k, s| {
            // A required FHIR `instant` (Provenance.recorded, Signature.when, Slot times)
            // cannot hold a bare year: it keeps only its year as 1 January, 00:00 UTC.
            let year_instant = matches!(k, "recorded" | "when" | "start" | "end")
                && s.len() == 20
                && s.ends_with("-01-01T00:00:00Z");
            if k != "code" && k != "div" && !year_instant {
                let d = FhirDate::parse(s);
                assert!(
                    d.is_none_or(|d| !d.has_day()),
                    "{name}: {k} = {s:?} still has a day"
                );
            }
            // 4. Elements of FHIR type `instant` stay valid instants (a bare year is not one):
            // kept with a full time and zone, or removed.
            if matches!(k, "issued" | "recorded" | "lastUpdated") {
                let ok = s.len() >= 20
                    && s.as_bytes()[4] == b'-'
                    && s.as_bytes()[10] == b'T'
                    && (s.ends_with('Z') || s.contains('+') || s[19..].contains('-'));
                assert!(ok, "{name}: {k} = {s:?} is not a FHIR instant");
            }
        });
        for d in strings_of(&ids["exact_dates"], "values") {
            assert!(!out.contains(&d), "{name}: date {d} survived");
            assert!(
                decoded.iter().all(|n| !n.contains(&d)),
                "{name}: date {d} survived in a note"
            );
        }
        // 4. Clinical content survives: every code of the clinical resources, entry by
        // entry, every coding of the clinical code systems, every observation value.
        let (n, k) = codes_kept(&original, &masked, &name);
        assert!(n > 0, "{name}: the fixture has clinical codes");
        codes += n;
        kept += k;
        bundles += 1;
        assert_eq!(
            clinical_codings(&masked),
            clinical_codings(&original),
            "{name}: clinical codings changed"
        );
        assert_eq!(
            observation_content(&masked),
            observation_content(&original),
            "{name}: observation values changed"
        );
        let loinc = clinical_codings(&original)
            .keys()
            .filter(|(s, _)| s == "http://loinc.org")
            .count();
        assert!(loinc > 0, "{name}: the fixture has LOINC codes to keep");
        // 5. References still resolve: every urn:uuid reference names an entry's fullUrl.
        let full_urls: std::collections::HashSet<&str> = masked["entry"]
            .as_array()
            .expect("entries")
            .iter()
            .filter_map(|e| e["fullUrl"].as_str())
            .collect();
        let mut refs = 0;
        each_string(&masked, "", &mut |k, s| {
            if k == "reference" && s.starts_with("urn:uuid:") {
                refs += 1;
                assert!(
                    full_urls.contains(s),
                    "{name}: reference {s} points nowhere"
                );
            }
        });
        assert!(refs > 0);
        // 6. The report adds up.
        let by_kind: u64 = report.by_kind.values().sum();
        let by_rule: u64 = report.by_rule.iter().map(|r| r.count).sum();
        assert_eq!((by_kind, by_rule), (report.total, report.total), "{name}");
        assert_eq!(report.patients, 1);
    }
    assert!(
        leaks.is_empty(),
        "{} identifiers survived:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    assert_eq!(kept, codes, "every clinical code is kept");
    eprintln!(
        "mask figures: {bundles} bundles, {} leaks, codes kept {kept}/{codes} ({:.1}%)",
        leaks.len(),
        100.0 * kept as f64 / codes as f64
    );
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "masked {:.1} MB in {secs:.2} s ({:.1} MB/s, unoptimised test build)",
        total_bytes as f64 / 1e6,
        total_bytes as f64 / 1e6 / secs
    );
}

#[test]
fn date_shift_keeps_intervals_and_one_offset_per_patient() {
    let mut policy = Policy::safe_harbor();
    for r in &mut policy.rules {
        if r.id == "dates" || r.id == "birth-date" {
            r.method = medseal_core::mask::Method::DateShift;
        }
    }
    policy.text.dates = medseal_core::mask::Method::DateShift;
    policy.name = "shifted".to_owned();
    let (path, ids) = fixtures().into_iter().next().expect("a fixture");
    let input = std::fs::read(path).expect("fixture");
    let original: Value = serde_json::from_slice(&input).expect("JSON");
    let k = key(2);
    let (out, _) = crate::mask(&input, None, &policy, &k);
    let masked: Value = serde_json::from_str(&out).expect("JSON");
    let patient_id = ids["patients"][0]["id"].as_str().expect("patient id");
    let expected = k.date_shift_days(patient_id);
    assert_ne!(expected, 0);
    assert!(expected.abs() <= medseal_core::mask::MAX_SHIFT_DAYS);
    let mut checked = 0;
    for (a, b) in original["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .zip(masked["entry"].as_array().expect("entries"))
    {
        for field in ["start", "end"] {
            let (Some(x), Some(y)) = (
                a["resource"]["period"][field].as_str(),
                b["resource"]["period"][field].as_str(),
            ) else {
                continue;
            };
            let shifted = FhirDate::parse(x).expect("date").shifted(expected);
            assert_eq!(
                y, shifted,
                "every date of the patient moves by the same {expected} days"
            );
            assert_eq!(&y[10..], &x[10..], "time of day and zone are kept");
            checked += 1;
        }
    }
    assert!(checked > 10);
    // The same key gives the same shift; another key another shift.
    assert_eq!(
        k.date_shift_days(patient_id),
        key(2).date_shift_days(patient_id)
    );
    assert_ne!(
        k.date_shift_days(patient_id),
        key(3).date_shift_days(patient_id)
    );
    for needle in strings_of(&ids, "must_not_appear_substring") {
        assert!(
            !out.contains(&needle),
            "{needle:?} survived with date shifting"
        );
    }
}

#[test]
fn pseudonyms_are_consistent_within_a_key_and_differ_across_keys() {
    let (path, ids) = fixtures().into_iter().nth(1).expect("a fixture");
    let input = std::fs::read(path).expect("fixture");
    let policy = Policy::safe_harbor();
    let patient_id = ids["patients"][0]["id"].as_str().expect("id");
    let (a1, _) = mask(&input, None, &policy, &key(5));
    let (a2, _) = mask(&input, None, &policy, &key(5));
    let (b, _) = mask(&input, None, &policy, &key(6));
    assert_eq!(a1, a2, "masking is deterministic for a key");
    let pa = key(5).pseudonym(patient_id);
    let pb = key(6).pseudonym(patient_id);
    assert_ne!(pa, pb);
    assert!(a1.contains(&format!("urn:uuid:{pa}")) && !a1.contains(&pb));
    assert!(b.contains(&format!("urn:uuid:{pb}")) && !b.contains(&pa));
    let masked: Value = serde_json::from_str(&a1).expect("JSON");
    let patient = masked["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["resource"]["resourceType"] == "Patient")
        .expect("patient");
    assert_eq!(patient["resource"]["id"], pa.as_str());
    assert_eq!(patient["fullUrl"], format!("urn:uuid:{pa}").as_str());
}
