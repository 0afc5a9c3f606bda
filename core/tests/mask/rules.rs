//! Individual rules: ZIP prefixes, ages over 89, attachments, and a snapshot of one resource
//! and its report.

use base64::Engine as _;
use medseal_core::mask::{LOW_POPULATION_ZIP3, Policy, generalize_zip, quasi_identifiers};
use serde_json::{Value, json};

use crate::{check, key, mask_json};

#[test]
fn zip_codes_keep_three_digits_except_low_population_prefixes() {
    assert_eq!(LOW_POPULATION_ZIP3.len(), 17);
    for prefix in LOW_POPULATION_ZIP3 {
        assert_eq!(
            generalize_zip(&format!("{prefix}42")).as_deref(),
            Some("000")
        );
    }
    let patient = |zip: &str| json!({"resourceType": "Patient", "id": "z", "address": [{"postalCode": zip, "state": "NH", "city": "Town"}]});
    for (zip, expected) in [
        ("03601", json!("000")),
        ("89301-1234", json!("000")),
        ("98053", json!("980")),
        ("SW1A 1AA", Value::Null),
    ] {
        let (out, _) = mask_json(&patient(zip), &Policy::safe_harbor(), &key(1));
        assert_eq!(out["address"][0]["postalCode"], expected, "{zip}");
        assert!(out["address"][0].get("city").is_none());
    }
}

#[test]
fn ages_over_89_become_90_or_older() {
    let patient = json!({
        "resourceType": "Patient", "id": "old", "birthDate": "1921-02-03", "gender": "female",
        "address": [{"postalCode": "98053"}],
        "text": {"status": "generated", "div": "<div>A 105-year-old woman born 1921-02-03</div>"}
    });
    let (out, report) = mask_json(&patient, &Policy::safe_harbor(), &key(1));
    assert!(
        out.get("birthDate").is_none(),
        "the birth date reveals the age"
    );
    assert_eq!(
        out["_birthDate"]["extension"][1]["valueString"],
        "90 or older"
    );
    assert_eq!(
        out["text"]["div"],
        "<div>A 90 or older woman born [DATE]</div>"
    );
    let q = quasi_identifiers(&out);
    assert_eq!(q[0].birth_year.as_deref(), Some("90 or older"));
    assert_eq!(
        (q[0].sex.as_deref(), q[0].zip3.as_deref()),
        (Some("female"), Some("980"))
    );
    assert!(report.total >= 3);

    // An age as a Quantity.
    let obs = json!({"resourceType": "Observation", "id": "o", "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "30525-0"}]},
        "valueAge": {"value": 95, "unit": "yr", "system": "http://unitsofmeasure.org", "code": "a"}});
    let (out, _) = mask_json(&obs, &Policy::safe_harbor(), &key(1));
    assert_eq!(out["valueAge"]["value"], 90);
    assert_eq!(out["valueAge"]["comparator"], ">=");

    // A younger patient keeps the birth year.
    let young = json!({"resourceType": "Patient", "id": "y", "birthDate": "1969-03-27"});
    let (out, _) = mask_json(&young, &Policy::safe_harbor(), &key(1));
    assert_eq!(out["birthDate"], "1969");
}

#[test]
fn snapshot_of_a_small_masked_bundle_and_its_report() {
    let note = base64::engine::general_purpose::STANDARD
        .encode("Jane42 Doe17 came in on 2019-03-05. Call 555-123-4567.");
    let bundle = json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:p1", "resource": {
                "resourceType": "Patient", "id": "p1",
                "identifier": [{"type": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "SS"}]}, "system": "http://hl7.org/fhir/sid/us-ssn", "value": "999-12-3456"}],
                "name": [{"family": "Doe17", "given": ["Jane42"]}],
                "telecom": [{"system": "phone", "value": "555-123-4567"}, {"system": "email", "value": "jane@example.com"}],
                "gender": "female", "birthDate": "1980-07-04",
                "address": [{"line": ["1 Elm St"], "city": "Lacey", "state": "WA", "postalCode": "98503"}]}},
            {"fullUrl": "urn:uuid:o1", "resource": {
                "resourceType": "Observation", "id": "o1", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0", "display": "Glucose"}]},
                "subject": {"reference": "urn:uuid:p1", "display": "Jane42 Doe17"},
                "effectiveDateTime": "2019-03-05T10:00:00-07:00",
                "valueQuantity": {"value": 98.5, "unit": "mg/dL", "system": "http://unitsofmeasure.org", "code": "mg/dL"},
                "referenceRange": [{"low": {"value": 70, "unit": "mg/dL"}, "high": {"value": 99, "unit": "mg/dL"}}],
                "note": [{"text": "Patient Jane42 reports fasting."}]}},
            {"fullUrl": "urn:uuid:d1", "resource": {
                "resourceType": "DocumentReference", "id": "d1", "status": "current",
                "subject": {"reference": "urn:uuid:p1"},
                "content": [{"attachment": {"contentType": "text/plain", "data": note}}, {"attachment": {"contentType": "image/png", "data": "iVBORw0KGgo="}}]}}
        ]
    });
    let (out, report) = mask_json(&bundle, &Policy::safe_harbor(), &key(9));
    let data = out["entry"][2]["resource"]["content"][0]["attachment"]["data"]
        .as_str()
        .expect("note kept");
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("base64"),
    )
    .expect("text");
    check(&decoded, "[NAME] came in on 2019. Call [PHONE].");
    let mut shown = out.clone();
    shown["entry"][2]["resource"]["content"][0]["attachment"]["data"] = json!("(checked above)");
    check(
        &serde_json::to_string_pretty(&shown["entry"][1]).expect("JSON"),
        r#"
{
  "fullUrl": "urn:uuid:bcd8393b-936f-8f09-b2cf-590be9ab9a14",
  "resource": {
    "resourceType": "Observation",
    "id": "bcd8393b-936f-8f09-b2cf-590be9ab9a14",
    "status": "final",
    "code": {
      "coding": [
        {
          "system": "http://loinc.org",
          "code": "2339-0",
          "display": "Glucose"
        }
      ]
    },
    "subject": {
      "reference": "urn:uuid:9e94ddf5-a0ff-84be-af65-8c4165a7fe29",
      "display": "[NAME]"
    },
    "effectiveDateTime": "2019",
    "valueQuantity": {
      "value": 98.5,
      "unit": "mg/dL",
      "system": "http://unitsofmeasure.org",
      "code": "mg/dL"
    },
    "referenceRange": [
      {
        "low": {
          "value": 70,
          "unit": "mg/dL"
        },
        "high": {
          "value": 99,
          "unit": "mg/dL"
        }
      }
    ],
    "note": [
      {
        "text": "Patient [NAME] reports fasting."
      }
    ]
  }
}
"#,
    );
    check(
        &serde_json::to_string_pretty(&shown["entry"][0]["resource"]).expect("JSON"),
        r#"
{
  "resourceType": "Patient",
  "id": "9e94ddf5-a0ff-84be-af65-8c4165a7fe29",
  "gender": "female",
  "birthDate": "1980",
  "address": [
    {
      "state": "WA",
      "postalCode": "985"
    }
  ]
}
"#,
    );
    check(
        &serde_json::to_string_pretty(&report).expect("JSON"),
        r#"
{
  "policy": "safe-harbor",
  "policy_version": 1,
  "format": "fhir-bundle",
  "records": 3,
  "patients": 1,
  "total": 21,
  "by_rule": [
    {
      "rule": "references",
      "kind": "other",
      "method": "pseudonym",
      "count": 5
    },
    {
      "rule": "known-identifier-sweep",
      "kind": "names",
      "method": "redact",
      "count": 3
    },
    {
      "rule": "record-ids",
      "kind": "other",
      "method": "pseudonym",
      "count": 3
    },
    {
      "rule": "addresses",
      "kind": "geographic",
      "method": "generalize",
      "count": 1
    },
    {
      "rule": "binary-attachments",
      "kind": "photo",
      "method": "redact",
      "count": 1
    },
    {
      "rule": "birth-date",
      "kind": "dates",
      "method": "generalize",
      "count": 1
    },
    {
      "rule": "dates",
      "kind": "dates",
      "method": "generalize",
      "count": 1
    },
    {
      "rule": "known-identifier-sweep",
      "kind": "telephone",
      "method": "redact",
      "count": 1
    },
    {
      "rule": "person-contacts",
      "kind": "telephone",
      "method": "redact",
      "count": 1
    },
    {
      "rule": "person-contacts",
      "kind": "email",
      "method": "redact",
      "count": 1
    },
    {
      "rule": "person-identifiers",
      "kind": "ssn",
      "method": "redact",
      "count": 1
    },
    {
      "rule": "person-names",
      "kind": "names",
      "method": "redact",
      "count": 1
    },
    {
      "rule": "text-pattern:date",
      "kind": "dates",
      "method": "generalize",
      "count": 1
    }
  ],
  "by_kind": {
    "names": 4,
    "geographic": 1,
    "dates": 3,
    "telephone": 2,
    "email": 1,
    "ssn": 1,
    "photo": 1,
    "other": 8
  },
  "notes": [
    "Attachments that are not text (images, PDFs) were removed because they cannot be checked for identifiers."
  ]
}
"#,
    );
    check(
        &report.summary().join("\n"),
        r#"
21 changes under the safe-harbor policy.
names: 4
addresses and places: 1
dates and ages: 3
phone numbers: 2
email addresses: 1
social security numbers: 1
photos and images: 1
other identifying numbers: 8
Attachments that are not text (images, PDFs) were removed because they cannot be checked for identifiers.
"#,
    );
}

#[test]
fn relatives_contained_resources_and_extensions_are_swept() {
    let bundle = json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"fullUrl": "Patient/p9", "resource": {"resourceType": "Patient", "id": "p9",
                "name": [{"text": "Mia77 Park88"}],
                "contact": [{"name": {"family": "Lee55"}, "telecom": [{"system": "email", "value": "lee@example.net"}]}]}},
            {"fullUrl": "RelatedPerson/r1", "resource": {"resourceType": "RelatedPerson", "id": "r1",
                "patient": {"reference": "Patient/p9"},
                "name": [{"family": "Park88", "given": ["Bob99"]}], "telecom": [{"system": "phone", "value": "(206) 555-0100"}]}},
            {"fullUrl": "Claim/c1", "resource": {"resourceType": "Claim", "id": "c1",
                "patient": {"reference": "Patient/p9"},
                "contained": [{"resourceType": "Coverage", "id": "cov", "status": "active",
                    "subscriberId": "SUB-12345", "beneficiary": {"reference": "Patient/p9", "display": "Mia77 Park88"}}],
                "extension": [{"url": "http://example.org/note", "valueString": "Father Bob99 (206) 555-0100, lee@example.net, LEE55"}],
                "insurance": [{"sequence": 1, "focal": true, "coverage": {"reference": "#cov"}}]}}
        ]
    });
    let (out, _) = mask_json(&bundle, &Policy::safe_harbor(), &key(4));
    let text = out.to_string();
    for needle in [
        "Mia77",
        "Park88",
        "Bob99",
        "Lee55",
        "LEE55",
        "555-0100",
        "lee@example.net",
        "SUB-12345",
        "\"p9\"",
        "\"r1\"",
    ] {
        assert!(!text.contains(needle), "{needle} survived: {text}");
    }
    let claim = &out["entry"][2]["resource"];
    assert_eq!(
        claim["insurance"][0]["coverage"]["reference"], "#cov",
        "local references stay"
    );
    assert_eq!(claim["contained"][0]["id"], "cov");
    let p = key(4).pseudonym("p9");
    assert_eq!(
        claim["patient"]["reference"],
        format!("Patient/{p}").as_str()
    );
    assert_eq!(out["entry"][0]["fullUrl"], format!("Patient/{p}").as_str());
    assert_eq!(
        claim["extension"][0]["valueString"],
        "Father [NAME] [PHONE], [EMAIL], [NAME]"
    );
}
