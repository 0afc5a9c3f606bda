//! IPS documents against the IPS implementation guide's own example bundles
//! (`core/tests/data/ips`, see `SOURCE.md` there), and against hostile input.

use medseal_core::ips::{self, Block, EmptyReason, Inline};
use serde_json::{Value, json};

const FIXTURES: [&str; 3] = [
    "bundle-minimal.json",
    "bundle-no-info-required-sections.json",
    "Bundle-IPS-examples-Bundle-01.json",
];

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/data/ips/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn composition(bundle: &Value) -> &Value {
    let first = &bundle["entry"][0]["resource"];
    assert_eq!(first["resourceType"], "Composition");
    first
}

/// The text of an XHTML div by another road than the module's: everything between `<` and `>`
/// dropped, the XML entities decoded.
fn stripped(div: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in div.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&nbsp;", "\u{a0}")
        .replace("&amp;", "&")
}

/// Without any white space: the comparison is of the characters, in order.
fn squeezed(text: &str) -> String {
    text.chars().filter(|c| !c.is_whitespace()).collect()
}

fn div(resource: &Value) -> Option<&str> {
    resource.pointer("/text/div").and_then(Value::as_str)
}

#[test]
fn every_section_title_and_narrative_of_the_examples_is_read() {
    for name in FIXTURES {
        let bundle = fixture(name);
        let composition = composition(&bundle);
        let doc = ips::document(&bundle).unwrap_or_else(|| panic!("{name} is a document"));

        let want: Vec<&str> = composition["section"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["title"].as_str().unwrap())
            .collect();
        let got: Vec<&str> = doc.sections.iter().map(|s| s.title.as_str()).collect();
        assert_eq!(got, want, "{name}: section titles in order");

        for (json, section) in composition["section"]
            .as_array()
            .unwrap()
            .iter()
            .zip(&doc.sections)
        {
            let context = format!("{name}, section {:?}", section.title);
            let div = div(json).unwrap_or_else(|| panic!("{context}: the examples all have text"));
            assert!(!section.narrative.is_empty(), "{context}: narrative");
            assert!(!section.narrative.truncated, "{context}");
            let text = section.narrative.plain_text();
            assert!(!text.trim().is_empty(), "{context}: narrative text");
            assert_eq!(
                squeezed(&text),
                squeezed(&stripped(div)),
                "{context}: all of the narrative's text, in order"
            );
            let entries = json["entry"].as_array().map_or(0, Vec::len);
            assert_eq!(section.entries.len(), entries, "{context}: entries");
            for entry in &section.entries {
                assert!(!entry.unresolved, "{context}: {entry:?} resolves");
                assert!(!entry.summary.is_empty(), "{context}: {entry:?}");
                assert!(entry.absent.is_none(), "{context}: {entry:?}");
            }
            assert!(section.children.is_empty(), "{context}");
        }

        let div = div(composition).expect("the examples' Compositions have text");
        assert_eq!(
            squeezed(&doc.narrative.plain_text()),
            squeezed(&stripped(div)),
            "{name}: the Composition's own narrative"
        );
        assert_eq!(doc.title, composition["title"].as_str().unwrap());
        assert_eq!(doc.date.as_deref(), composition["date"].as_str());
        assert_eq!(doc.status.as_deref(), Some("final"));
        assert!(!doc.subject.as_ref().unwrap().unresolved, "{name}: subject");
        assert!(!doc.authors.is_empty(), "{name}: authors");
        // No markup at all reaches the model.
        let serialised = serde_json::to_string(&doc).unwrap();
        for markup in ["<div", "<b>", "style=", "href=", "xmlns"] {
            assert!(!serialised.contains(markup), "{name}: {markup}");
        }
    }
}

#[test]
fn the_minimal_example_reads_as_written() {
    let doc = ips::document(&fixture("bundle-minimal.json")).unwrap();
    assert_eq!(doc.title, "Patient Summary as of December 11, 2020 14:30");
    assert_eq!(doc.date.as_deref(), Some("2020-12-11T14:30:00+01:00"));
    assert_eq!(doc.type_label.as_deref(), Some("Patient summary Document"));
    let subject = doc.subject.as_ref().unwrap();
    assert_eq!(subject.name, "Martha DeLarosa");
    assert_eq!(subject.birth_date.as_deref(), Some("1972-05-01"));
    assert_eq!(subject.gender.as_deref(), Some("female"));
    assert_eq!(doc.authors, ["Beetje van Hulp"]);
    let custodian = "Anorg Aniza Tion BV / The best custodian ever";
    assert_eq!(doc.custodian.as_deref(), Some(custodian));
    let parties: Vec<_> = doc
        .attesters
        .iter()
        .map(|a| (a.mode.as_str(), a.party.as_deref().unwrap()))
        .collect();
    assert_eq!(
        parties,
        [("legal", "Beetje van Hulp"), ("legal", custodian)]
    );

    let [problems, medication, allergies] = &doc.sections[..] else {
        panic!("three sections");
    };
    assert_eq!(
        problems.code.as_deref(),
        Some("Problem list Reported (LOINC 11450-4)")
    );
    let condition = &problems.entries[0];
    assert_eq!(condition.resource_type, "Condition");
    assert_eq!(
        condition.summary,
        "Menopausal flushing (finding) — active, confirmed, Moderate, onset 2015, recorded 2016-10"
    );
    assert_eq!(condition.date.as_deref(), Some("2015"));
    let codes: Vec<_> = condition.codes.iter().map(|c| c.code.as_str()).collect();
    assert_eq!(codes, ["198436008", "N95.1"]);

    // The medication is a reference to a Medication resource of the bundle.
    let statement = &medication.entries[0];
    assert_eq!(
        statement.summary,
        "Product containing anastrozole (medicinal product) — active, 1 tablet, Oral use, since 2015-03"
    );
    assert_eq!(statement.codes.len(), 4);

    let allergy = &allergies.entries[0];
    assert!(allergy.summary.contains("high criticality"), "{allergy:?}");
    assert!(allergy.summary.starts_with("Substance with penicillin"));

    // The list narrative keeps its items and its emphasis.
    let Block::List { ordered, items } = &problems.narrative.blocks[0] else {
        panic!("{:?}", problems.narrative);
    };
    assert!(!ordered);
    assert_eq!(items.len(), 1);
    assert_eq!(
        items[0][0],
        Inline::Text {
            text: "Condition Name".into(),
            bold: true,
            italic: false
        }
    );
}

#[test]
fn the_no_information_example_says_why_sections_are_empty() {
    let doc = ips::document(&fixture("bundle-no-info-required-sections.json")).unwrap();
    let unavailable = EmptyReason {
        code: "unavailable".into(),
        text: "No information available".into(),
    };
    for section in &doc.sections[..3] {
        assert_eq!(
            section.empty_reason.as_ref(),
            Some(&unavailable),
            "{}",
            section.title
        );
        assert!(section.entries.is_empty());
    }
    // Relative references resolve against the Composition's RESTful fullUrl.
    let immunizations = &doc.sections[3];
    assert_eq!(immunizations.empty_reason, None);
    let summaries: Vec<_> = immunizations
        .entries
        .iter()
        .map(|e| e.summary.as_str())
        .collect();
    assert_eq!(
        summaries,
        [
            "Influenza, seasonal, injectable — completed, dose 2, 2020-07-03",
            "Influenza, seasonal, injectable — completed, dose 1, 2019-06-03",
        ]
    );
    let Block::Table { head, rows } = &immunizations.narrative.blocks[0] else {
        panic!("{:?}", immunizations.narrative);
    };
    assert_eq!(
        head,
        &[
            "Vaccine",
            "Date",
            "Seq",
            "Route",
            "Site",
            "Indication",
            "Status"
        ]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1][1], "03/06/2019");

    assert_eq!(doc.subject.unwrap().name, "James Judge");
    assert_eq!(doc.authors, ["Northcare, Thomas Road"]);
    assert_eq!(doc.custodian.as_deref(), Some("NorthCare Pukete Road"));
    assert_eq!(
        doc.attesters[0].party.as_deref(),
        Some("Dr Richard Kildare Kildare (Doctor)")
    );
}

#[test]
fn the_2018_example_reads_its_tables_and_results() {
    let doc = ips::document(&fixture("Bundle-IPS-examples-Bundle-01.json")).unwrap();
    let results = doc.sections.iter().find(|s| s.title == "Results").unwrap();
    let tables: Vec<_> = results
        .narrative
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Table { head, .. } => Some(head.join("|")),
            _ => None,
        })
        .collect();
    assert_eq!(
        tables,
        ["Blood typing", "Hemoglobin A1c monitoring", "Bacteriology"]
    );
    assert_eq!(results.entries.len(), 7);
    assert!(
        results.entries.iter().any(|e| e
            .summary
            .starts_with("Hemoglobin A1c/Hemoglobin.total in Blood by HPLC: 7.5 %")),
        "{:?}",
        results.entries
    );
    let medication = doc
        .sections
        .iter()
        .find(|s| s.title == "Medication")
        .unwrap();
    assert!(medication.entries[0].summary.starts_with("Anastrozole"));
    assert_eq!(doc.authors, ["Beetje van Hulp"]);
}

fn one_section_document(section: Value, resources: Vec<Value>) -> Value {
    let mut entry = vec![json!({"fullUrl": "urn:uuid:c", "resource": {
        "resourceType": "Composition", "status": "final", "title": "T", "date": "2026-01-01",
        "section": [section]}})];
    for (i, resource) in resources.into_iter().enumerate() {
        entry.push(json!({"fullUrl": format!("urn:uuid:r{i}"), "resource": resource}));
    }
    json!({"resourceType": "Bundle", "type": "document", "entry": entry})
}

#[test]
fn empty_reasons_are_said_plainly() {
    let reason = |empty: Value| {
        let doc = ips::document(&one_section_document(
            json!({"title": "S", "emptyReason": empty}),
            vec![],
        ))
        .unwrap();
        doc.sections[0].empty_reason.clone()
    };
    let list = "http://terminology.hl7.org/CodeSystem/list-empty-reason";
    for (code, text) in [
        ("nilknown", "None known"),
        ("notasked", "Not asked"),
        ("withheld", "Withheld"),
        ("unavailable", "No information available"),
        ("notstarted", "Not started yet"),
        ("closed", "Closed"),
    ] {
        assert_eq!(
            reason(json!({"coding": [{"system": list, "code": code}]})),
            Some(EmptyReason {
                code: code.into(),
                text: text.into()
            })
        );
    }
    assert_eq!(
        reason(json!({"coding": [{"system": "urn:x", "code": "z", "display": "Zed"}]})),
        Some(EmptyReason {
            code: "z".into(),
            text: "Zed".into()
        })
    );
    assert_eq!(
        reason(json!({"text": "Patient declined"})),
        Some(EmptyReason {
            code: String::new(),
            text: "Patient declined".into()
        })
    );
    assert_eq!(reason(json!({})), None);
}

#[test]
fn entries_that_state_an_absence_say_so() {
    let sct = "http://snomed.info/sct";
    let legacy = "http://hl7.org/fhir/uv/ips/CodeSystem/absent-unknown-uv-ips";
    let section = json!({"title": "S", "entry": [
        {"reference": "urn:uuid:r0"}, {"reference": "urn:uuid:r1"}, {"reference": "urn:uuid:r2"},
        {"reference": "urn:uuid:r3"}, {"reference": "urn:uuid:r4"}, {"reference": "urn:uuid:r5"}]});
    let doc = ips::document(&one_section_document(
        section,
        vec![
            json!({"resourceType": "AllergyIntolerance", "code": {"coding": [{"system": sct, "code": "716186003", "display": "No known allergy (situation)"}]}}),
            json!({"resourceType": "AllergyIntolerance", "code": {"coding": [{"system": legacy, "code": "no-allergy-info"}]}}),
            json!({"resourceType": "MedicationStatement", "status": "active", "medicationCodeableConcept": {"coding": [{"system": legacy, "code": "no-known-medications"}]}}),
            json!({"resourceType": "MedicationStatement", "medicationReference": {"reference": "urn:uuid:r5"}}),
            json!({"resourceType": "Condition", "code": {"coding": [{"system": sct, "code": "38341003", "display": "Hypertension"}]}}),
            json!({"resourceType": "Medication", "code": {"coding": [{"system": sct, "code": "787481004"}]}}),
        ],
    ))
    .unwrap();
    let absent: Vec<_> = doc.sections[0]
        .entries
        .iter()
        .map(|e| e.absent.as_deref())
        .collect();
    assert_eq!(
        absent,
        [
            Some("No known allergies"),
            Some("No information about allergies"),
            Some("No known medications"),
            Some("No known medications"),
            None,
            // The Medication resource itself, when a section lists it.
            Some("No known medications"),
        ]
    );
}

#[test]
fn hostile_narrative_keeps_only_its_visible_text() {
    let hostile = r#"<div xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script><img src=x onerror=alert(1)><a href="javascript:alert(1)">x</a></div>"#;
    let doc = ips::document(&one_section_document(
        json!({"title": "S", "text": {"status": "generated", "div": hostile}}),
        vec![],
    ))
    .unwrap();
    let narrative = &doc.sections[0].narrative;
    assert_eq!(narrative.plain_text(), "x");
    let serialised = serde_json::to_string(narrative).unwrap().to_lowercase();
    for word in [
        "script",
        "onerror",
        "javascript",
        "alert",
        "src",
        "href",
        "img",
    ] {
        assert!(!serialised.contains(word), "{word} in {serialised}");
    }
}

#[test]
fn deeply_nested_narrative_does_not_overflow() {
    let depth = 10_000;
    let div = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
    let doc = ips::document(&one_section_document(
        json!({"title": "S", "text": {"div": div}}),
        vec![],
    ))
    .unwrap();
    assert_eq!(doc.sections[0].narrative.plain_text(), "deep");
    let lists = format!("{}deep", "<ul><li><table><tr><td><b><i>".repeat(depth));
    assert_eq!(ips::narrative(&lists).plain_text(), "deep");
}

#[test]
fn other_content_is_not_a_document() {
    let bundle = fixture("bundle-minimal.json");
    let mut collection = bundle.clone();
    collection["type"] = json!("collection");
    assert!(ips::document(&collection).is_none());
    let mut headless = bundle.clone();
    headless["entry"].as_array_mut().unwrap().remove(0);
    assert!(ips::document(&headless).is_none());
    assert!(ips::document(&bundle["entry"][1]["resource"]).is_none());
    assert!(ips::document(&json!({"resourceType": "Bundle", "type": "document"})).is_none());
    assert!(ips::document(&json!([1, 2])).is_none());
    assert!(ips::read_document(b"not json").is_none());
    assert!(ips::read_document(bundle.to_string().as_bytes()).is_some());
}
