//! The policy's choice for free text: `scrub` (the default) keeps prose with its identifiers
//! replaced; `remove` drops narratives, notes, prose strings, text attachments, plain-text
//! documents and CSV notes whole, and keeps the structured data. Validity of the output under
//! both is checked by `schema.rs`.

use medseal_core::mask::{FreeText, Policy, mask_bytes_preview};
use medseal_core::study::StudyPolicy;
use serde_json::Value;

use crate::{each_string, key, mask, opts};

fn remove_policy() -> Policy {
    let mut p = Policy::safe_harbor();
    p.text.free_text = FreeText::Remove;
    p
}

fn prose_input() -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/mask-inputs/prose.json"),
    )
    .expect("prose.json")
}

fn resource<'a>(bundle: &'a Value, rtype: &str) -> &'a Value {
    bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| &e["resource"])
        .find(|r| r["resourceType"] == rtype)
        .unwrap_or_else(|| panic!("no {rtype} in the output"))
}

/// Every string of the output, joined, to look for words that must be gone or kept.
fn all_strings(v: &Value) -> String {
    let mut out = String::new();
    each_string(v, "", &mut |_, s| {
        out.push_str(s);
        out.push('\n');
    });
    out
}

#[test]
fn remove_drops_prose_and_keeps_structured_data() {
    let input = prose_input();
    let (out, report) = mask(
        &input,
        Some("application/fhir+json"),
        &remove_policy(),
        &key(5),
    );
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let strings = all_strings(&v);
    // Prose is gone, with whatever it said (identifiers and clinical words alike).
    for gone in [
        "nephew",
        "Halvorsen",
        "husband",
        "supper",
        "Hold if not eating",
        "please call",
        "Whitebear",
        "No nodules",
    ] {
        assert!(!strings.contains(gone), "{gone:?} survived: {out}");
    }
    let patient = resource(&v, "Patient");
    assert!(patient.get("text").is_none(), "the narrative goes whole");
    assert!(
        patient.get("extension").is_none(),
        "an extension whose only value was prose goes whole (ext-1)"
    );
    assert!(resource(&v, "Condition").get("note").is_none());
    let obs = resource(&v, "Observation");
    assert!(obs.get("valueString").is_none());
    assert_eq!(obs["component"][0]["valueQuantity"]["value"], 138);
    assert_eq!(obs["code"]["coding"][0]["code"], "72166-2");
    let mr = resource(&v, "MedicationRequest");
    let dosage = mr["dosageInstruction"].as_array().expect("dosage");
    assert_eq!(
        dosage.len(),
        1,
        "a dosage of only text goes, one with timing stays"
    );
    assert_eq!(dosage[0]["timing"]["repeat"]["frequency"], 1);
    assert!(dosage[0].get("text").is_none());
    let comm = resource(&v, "Communication");
    let payload = comm["payload"].as_array().expect("payload");
    assert_eq!(
        payload.len(),
        1,
        "a payload of only prose goes whole (content is required)"
    );
    assert!(payload[0].get("contentAttachment").is_some());
    let doc = resource(&v, "DocumentReference");
    assert!(doc.get("description").is_none());
    let attachment = &doc["content"][0]["attachment"];
    assert!(attachment.get("data").is_none(), "a text attachment goes");
    assert_eq!(attachment["contentType"], "text/plain");
    let dr = resource(&v, "DiagnosticReport");
    assert!(dr.get("conclusion").is_none());
    assert_eq!(dr["conclusionCode"][0]["coding"][0]["code"], "281900007");
    // Structured identifiers are still masked by their rules.
    assert!(!strings.contains("Okonkwo") && !strings.contains("Bozeman"));
    assert_eq!(patient["address"][0]["state"], "MT");
    // The report counts it and says so in plain words.
    let removed = report
        .by_rule
        .iter()
        .find(|r| r.rule == "free-text-remove")
        .expect("free-text-remove counted");
    assert_eq!(removed.count, 10, "{:?}", report.by_rule);
    assert!(report.notes.iter().any(|n| n.contains("removed entirely")));
}

#[test]
fn scrub_keeps_prose_without_its_identifiers() {
    let input = prose_input();
    let (out, report) = mask(
        &input,
        Some("application/fhir+json"),
        &Policy::safe_harbor(),
        &key(5),
    );
    let v: Value = serde_json::from_str(&out).expect("JSON");
    let strings = all_strings(&v);
    for kept in [
        "nephew",
        "husband",
        "supper",
        "Hold if not eating",
        "No nodules",
    ] {
        assert!(strings.contains(kept), "{kept:?} was lost: {out}");
    }
    for gone in [
        "Tobias",
        "Halvorsen",
        "Desmond",
        "Ines",
        "406-555-0177",
        "Whitebear",
        "Okonkwo",
    ] {
        assert!(!strings.contains(gone), "{gone:?} survived: {out}");
    }
    assert!(report.by_rule.iter().all(|r| r.rule != "free-text-remove"));
}

#[test]
fn remove_previews_each_removed_element() {
    let input = prose_input();
    let (_, _, preview) = mask_bytes_preview(
        &input,
        Some("application/fhir+json"),
        &remove_policy(),
        &key(5),
        &opts(),
        1000,
    )
    .expect("mask");
    let removed: Vec<_> = preview
        .changes
        .iter()
        .filter(|c| c.rule == "free-text-remove")
        .collect();
    assert_eq!(removed.len(), 10, "{removed:#?}");
    assert!(
        removed
            .iter()
            .any(|c| c.location.contains("valueString") && c.after.is_none())
    );
    assert!(removed.iter().any(|c| c.location.contains("note")));
    assert!(removed.iter().any(|c| c.before.contains("text attachment")));
}

#[test]
fn remove_empties_text_documents_and_csv_notes() {
    let policy = remove_policy();
    let text = b"Seen today with her son Marcus. Lives on Birch Lane, Duluth.\nBP 128/80.\n";
    let (out, report) = mask(text, Some("note.txt"), &policy, &key(6));
    assert_eq!(out, "");
    assert!(report.by_rule.iter().any(|r| r.rule == "free-text-remove"));
    let csv = "Id,CODE,DESCRIPTION,VALUE,Clinician Notes,Other\n\
               p1,8480-6,Systolic blood pressure,128,Pt anxious; wife Dana waiting outside,\
               Walked in from the lot. Her brother Ali drove her here today.\n\
               p2,8462-4,Diastolic blood pressure,80,,ok\n";
    let (out, report) = mask(csv.as_bytes(), Some("obs.csv"), &policy, &key(6));
    for gone in ["Dana", "anxious", "Ali", "Walked"] {
        assert!(!out.contains(gone), "{gone:?} survived: {out}");
    }
    for kept in [
        "8480-6",
        "Systolic blood pressure",
        "128",
        "Diastolic blood pressure",
        "ok",
    ] {
        assert!(out.contains(kept), "{kept:?} was lost: {out}");
    }
    let notes = report
        .columns
        .iter()
        .find(|c| c.column == "Clinician Notes")
        .expect("column reported");
    assert!(notes.treatment.contains("removed"), "{}", notes.treatment);
    // Scrub keeps the note's clinical words.
    let (out, _) = mask(
        csv.as_bytes(),
        Some("obs.csv"),
        &Policy::safe_harbor(),
        &key(6),
    );
    assert!(out.contains("anxious") && !out.contains("Dana"), "{out}");
}

#[test]
fn a_study_may_ask_for_remove_and_the_patient_reads_it() {
    let study = StudyPolicy {
        free_text: FreeText::Remove,
        ..StudyPolicy::safe_harbor()
    };
    let policy = study.to_policy().expect("policy");
    assert_eq!(policy.text.free_text, FreeText::Remove);
    let words = policy.describe().join(" ");
    assert!(words.contains("removed entirely"), "{words}");
    let default_words = StudyPolicy::safe_harbor()
        .to_policy()
        .expect("policy")
        .describe()
        .join(" ");
    assert!(!default_words.contains("removed entirely"));
    // Written in a policy file, read back.
    let json = policy.to_json();
    assert!(json.contains(r#""free_text": "remove""#), "{json}");
    assert_eq!(
        Policy::from_json(&json).expect("parse").text.free_text,
        FreeText::Remove
    );
    assert!(!Policy::safe_harbor().to_json().contains("free_text"));
}
