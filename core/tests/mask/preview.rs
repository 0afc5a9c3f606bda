//! The change list of the patient's preview: locations, before and after, spans.

use medseal_core::mask::{Change, MaskPreview, Policy, mask_bytes_preview};

use crate::frozen::INPUTS;
use crate::{check, key, opts};

/// One line per change: `location | rule kind method | before with ⟦spans⟧ -> after`.
fn render(p: &MaskPreview) -> String {
    let mut out = String::new();
    for c in &p.changes {
        out.push_str(&render_change(c));
        out.push('\n');
    }
    if p.omitted > 0 {
        out.push_str(&format!("... {} more\n", p.omitted));
    }
    out
}

fn render_change(c: &Change) -> String {
    let mut before = String::new();
    let mut at = 0;
    for &(a, b) in &c.spans {
        before.push_str(&c.before[at..a]);
        before.push('⟦');
        before.push_str(&c.before[a..b]);
        before.push('⟧');
        at = b;
    }
    before.push_str(&c.before[at..]);
    format!(
        "{} | {} {} {} | {} -> {}",
        c.location,
        c.rule,
        serde_json::to_value(c.kind).unwrap().as_str().unwrap(),
        c.method.as_str(),
        before.replace('\n', "\\n"),
        c.after
            .as_deref()
            .map_or("(removed)".to_owned(), |a| a.replace('\n', "\\n")),
    )
}

fn preview_of(name: &str, max: usize) -> (String, MaskPreview) {
    let input = INPUTS.iter().find(|(n, _)| *n == name).expect("input").1;
    let hint = name.rsplit('/').next();
    let (out, _, p) =
        mask_bytes_preview(input, hint, &Policy::safe_harbor(), &key(1), &opts(), max)
            .expect("masks");
    (String::from_utf8(out).expect("UTF-8"), p)
}

/// Spans are sorted, non-overlapping, non-empty, on character boundaries, inside `before`.
fn check_spans(c: &Change) {
    let mut last = 0;
    for &(a, b) in &c.spans {
        assert!(a >= last && a < b && b <= c.before.len(), "{c:?}");
        assert!(
            c.before.is_char_boundary(a) && c.before.is_char_boundary(b),
            "{c:?}"
        );
        last = b;
    }
    assert!(!c.spans.is_empty(), "{c:?}");
}

#[test]
fn preview_gives_the_same_output_and_report_and_valid_spans_on_every_fixture() {
    let policy = Policy::safe_harbor();
    let k = key(1);
    let mut changes = 0;
    let mut bad = Vec::new();
    for (path, _) in crate::fixtures::fixtures() {
        let input = std::fs::read(&path).expect("fixture");
        let plain =
            medseal_core::mask::mask_bytes_with(&input, None, &policy, &k, &opts()).expect("masks");
        let (out, report, p) =
            mask_bytes_preview(&input, None, &policy, &k, &opts(), usize::MAX).expect("masks");
        assert_eq!((&out, &report), (&plain.0, &plain.1), "{}", path.display());
        assert_eq!(p.omitted, 0);
        for c in &p.changes {
            check_spans(c);
            assert_ne!(c.after.as_deref(), Some(c.before.as_str()), "{c:?}");
            // What was replaced is gone from the replacement. This holds on these fixtures,
            // whose identifiers carry digits (Carolee951) and whose ids are UUIDs, but not in
            // general: the sweep matches whole words ignoring case, so the same letters may
            // stay inside a longer word ("Ann" in "Annual"); the pseudonym of a short value
            // ("7") may contain it; a date shift may move another date of the text onto this
            // one; a substitute value may contain the original.
            if let Some(after) = &c.after {
                for &(a, b) in &c.spans {
                    if after.contains(&c.before[a..b]) {
                        bad.push(render_change(c));
                    }
                }
            }
        }
        changes += p.changes.len();
    }
    assert!(changes > 50_000, "{changes} changes");
    assert!(
        bad.is_empty(),
        "{} changes keep what they replaced:\n{}",
        bad.len(),
        bad[..bad.len().min(20)].join("\n")
    );
}

#[test]
fn a_fhir_resource() {
    let (_, p) = preview_of("mask-inputs/resource.json", 100);
    let id = key(1).pseudonym("pat-1");
    let xhtml = r#"<div xmlns="http://www.w3.org/1999/xhtml">"#;
    check(
        &render(&p),
        &format!(
            "\
Patient/pat-1 id | record-ids other pseudonym | ⟦pat-1⟧ -> {id}
Patient/pat-1 text.div | known-identifier-sweep names redact | {xhtml}⟦Adaeze34 Okafor12⟧, born 1931-05-17</div> -> {xhtml}[NAME], born [DATE]</div>
Patient/pat-1 text.div | known-identifier-sweep dates redact | {xhtml}Adaeze34 Okafor12, born ⟦1931-05-17⟧</div> -> {xhtml}[NAME], born [DATE]</div>
Patient/pat-1 identifier[0].system | person-identifiers mrn redact | ⟦http://hospital.example/mrn⟧ -> (removed)
Patient/pat-1 identifier[0].value | person-identifiers mrn redact | ⟦MRN-20431⟧ -> (removed)
Patient/pat-1 name[0].use | person-names names redact | ⟦official⟧ -> (removed)
Patient/pat-1 name[0].family | person-names names redact | ⟦Okafor12⟧ -> (removed)
Patient/pat-1 name[0].given[0] | person-names names redact | ⟦Adaeze34⟧ -> (removed)
Patient/pat-1 telecom[0].system | person-contacts telephone redact | ⟦phone⟧ -> (removed)
Patient/pat-1 telecom[0].value | person-contacts telephone redact | ⟦555-201-7788⟧ -> (removed)
Patient/pat-1 birthDate | birth-date dates generalize | ⟦1931-05-17⟧ -> 90 or older
Patient/pat-1 address[0].line[0] | addresses geographic generalize | ⟦42 Willow Lane⟧ -> (removed)
Patient/pat-1 address[0].city | addresses geographic generalize | ⟦Springfield⟧ -> (removed)
Patient/pat-1 address[0].postalCode | addresses geographic generalize | ⟦62704⟧ -> 627
"
        ),
    );
}

#[test]
fn a_bundle_with_a_narrative_and_a_text_attachment() {
    let (_, p) = preview_of("mask-inputs/bundle.json", 100);
    let [pat, obs, doc] = ["p-7", "obs-1", "doc-1"].map(|id| key(1).pseudonym(id));
    let xhtml = r#"<div xmlns="http://www.w3.org/1999/xhtml">"#;
    let note = "Visit note for Tomás78 Rivera56, seen 2024-03-01.\\nLives at 9 Elm St; call 617-555-0142.\\n";
    let masked_note = "Visit note for [NAME], seen 2024.\\nLives at [ADDRESS]; call [PHONE].\\n";
    let mark = |s: &str| note.replacen(s, &format!("⟦{s}⟧"), 1);
    let value = "Tomás78 reports no pain; wife asks for a call at 617-555-0142.";
    let masked_value = "[NAME] reports no pain; wife asks for a call at [PHONE].";
    let mark_value = |s: &str| value.replacen(s, &format!("⟦{s}⟧"), 1);
    let attachment = "DocumentReference/doc-1 content[0].attachment.data (decoded text)";
    check(
        &render(&p),
        &format!(
            "\
Bundle entry[0].fullUrl | references other pseudonym | ⟦urn:uuid:p-7⟧ -> urn:uuid:{pat}
Patient/p-7 id | record-ids other pseudonym | ⟦p-7⟧ -> {pat}
Patient/p-7 text.div | known-identifier-sweep names redact | {xhtml}⟦Tomás78 Rivera56⟧</div> -> {xhtml}[NAME]</div>
Patient/p-7 name[0].family | person-names names redact | ⟦Rivera56⟧ -> (removed)
Patient/p-7 name[0].given[0] | person-names names redact | ⟦Tomás78⟧ -> (removed)
Patient/p-7 telecom[0].system | person-contacts telephone redact | ⟦phone⟧ -> (removed)
Patient/p-7 telecom[0].value | person-contacts telephone redact | ⟦617-555-0142⟧ -> (removed)
Patient/p-7 birthDate | birth-date dates generalize | ⟦1984-02-29⟧ -> 1984
Patient/p-7 address[0].line[0] | addresses geographic generalize | ⟦9 Elm St⟧ -> (removed)
Patient/p-7 address[0].city | addresses geographic generalize | ⟦Cambridge⟧ -> (removed)
Patient/p-7 address[0].postalCode | addresses geographic generalize | ⟦02139⟧ -> 021
Bundle entry[1].fullUrl | references other pseudonym | ⟦urn:uuid:obs-1⟧ -> urn:uuid:{obs}
Observation/obs-1 id | record-ids other pseudonym | ⟦obs-1⟧ -> {obs}
Observation/obs-1 subject.reference | references other pseudonym | ⟦urn:uuid:p-7⟧ -> urn:uuid:{pat}
Observation/obs-1 effectiveDateTime | dates dates generalize | ⟦2024-03-01T09:30:00-05:00⟧ -> 2024
Observation/obs-1 valueString | known-identifier-sweep names redact | {} -> {masked_value}
Observation/obs-1 valueString | known-identifier-sweep telephone redact | {} -> {masked_value}
Bundle entry[2].fullUrl | references other pseudonym | ⟦urn:uuid:doc-1⟧ -> urn:uuid:{doc}
DocumentReference/doc-1 id | record-ids other pseudonym | ⟦doc-1⟧ -> {doc}
DocumentReference/doc-1 subject.reference | references other pseudonym | ⟦urn:uuid:p-7⟧ -> urn:uuid:{pat}
{attachment} | known-identifier-sweep names redact | {} -> {masked_note}
{attachment} | text-pattern:date dates generalize | {} -> {masked_note}
{attachment} | known-identifier-sweep geographic redact | {} -> {masked_note}
{attachment} | known-identifier-sweep telephone redact | {} -> {masked_note}
",
            mark_value("Tomás78"),
            mark_value("617-555-0142"),
            mark("Tomás78 Rivera56"),
            mark("2024-03-01"),
            mark("9 Elm St"),
            mark("617-555-0142"),
        ),
    );
    // A span is a byte range: "Tomás78" is 8 bytes.
    let c = &p.changes[15];
    assert_eq!(
        (c.location.as_str(), c.spans.as_slice()),
        ("Observation/obs-1 valueString", &[(0, 8)][..])
    );
}

#[test]
fn ndjson_names_lines_without_an_id() {
    let (_, p) = preview_of("mask-inputs/patients.ndjson", 100);
    let id = key(1).pseudonym("nd-1");
    check(
        &render(&p),
        &format!(
            "\
Patient/nd-1 id | record-ids other pseudonym | ⟦nd-1⟧ -> {id}
Patient/nd-1 name[0].family | person-names names redact | ⟦Lindqvist90⟧ -> (removed)
Patient/nd-1 name[0].given[0] | person-names names redact | ⟦Maja11⟧ -> (removed)
Patient/nd-1 birthDate | birth-date dates generalize | ⟦1990-12-01⟧ -> 1990
Patient/nd-1 address[0].postalCode | addresses geographic generalize | ⟦55414⟧ -> 554
line 2 subject.reference | references other pseudonym | ⟦Patient/nd-1⟧ -> Patient/{id}
line 2 onsetDateTime | dates dates generalize | ⟦2023-10-04⟧ -> 2023
line 2 note[0].text | known-identifier-sweep names redact | ⟦Maja11⟧ had a sore throat since 10/02/2023. -> [NAME] had a sore throat since 2023.
line 2 note[0].text | text-pattern:date dates generalize | Maja11 had a sore throat since ⟦10/02/2023⟧. -> [NAME] had a sore throat since 2023.
"
        ),
    );
}

#[test]
fn csv_names_rows_and_columns() {
    let (_, p) = preview_of("mask-inputs/patients.csv", 100);
    let [c1, c2] = ["c-1", "c-2"].map(|id| key(1).pseudonym(id));
    check(
        &render(&p),
        &format!(
            "\
row 2, column Id | csv-default:id other pseudonym | ⟦c-1⟧ -> {c1}
row 2, column BIRTHDATE | csv-default:birthdate dates generalize | ⟦1958-07-14⟧ -> 1958
row 2, column FIRST | csv-default:first names redact | ⟦Henrik45⟧ -> (removed)
row 2, column LAST | csv-default:last names redact | ⟦Solberg67⟧ -> (removed)
row 2, column ZIP | csv-default:zip geographic generalize | ⟦94110⟧ -> 941
row 2, column NOTES | known-identifier-sweep names redact | ⟦Henrik45⟧ prefers email: h.solberg@example.com -> [NAME] prefers email: [EMAIL]
row 2, column NOTES | text-pattern:email email redact | Henrik45 prefers email: ⟦h.solberg@example.com⟧ -> [NAME] prefers email: [EMAIL]
row 3, column Id | csv-default:id other pseudonym | ⟦c-2⟧ -> {c2}
row 3, column BIRTHDATE | csv-default:birthdate dates generalize | ⟦1930-01-09⟧ -> 90 or older
row 3, column FIRST | csv-default:first names redact | ⟦Ines23⟧ -> (removed)
row 3, column LAST | csv-default:last names redact | ⟦Duarte89⟧ -> (removed)
row 3, column ZIP | csv-default:zip geographic generalize | ⟦03601⟧ -> 000
row 3, column NOTES | text-pattern:date dates generalize | seen ⟦06/12/2003⟧ -> seen 2003
"
        ),
    );
}

#[test]
fn plain_text_names_lines() {
    // Plain text reveals no record to learn names from, so only the patterns apply: the
    // name stays (and the preview shows the patient that it does).
    let (out, p) = preview_of("mask-inputs/note.txt", 100);
    assert!(out.contains("Duarte89"));
    check(
        &render(&p),
        "\
line 1 | text-pattern:date dates generalize | Referral for Ms. Duarte89, DOB ⟦01/09/1930⟧. -> Referral for Ms. Duarte89, DOB 1930.
line 2 | text-pattern:phone telephone redact | Phone ⟦212-555-0199⟧ or mail ines.d@example.org. -> Phone [PHONE] or mail [EMAIL].
line 2 | text-pattern:email email redact | Phone 212-555-0199 or mail ⟦ines.d@example.org⟧. -> Phone [PHONE] or mail [EMAIL].
line 3 | text-pattern:age dates generalize | A ⟦96 year-old⟧ woman; see https://portal.clinic.example/p/7731. -> A 90 or older woman; see [URL].
line 3 | text-pattern:url url redact | A 96 year-old woman; see ⟦https://portal.clinic.example/p/7731⟧. -> A 90 or older woman; see [URL].
",
    );
}

#[test]
fn a_known_value_with_a_line_break_is_one_span() {
    let mut policy = Policy::safe_harbor();
    policy.text.patterns.clear();
    let ndjson = concat!(
        r#"{"resourceType":"Patient","id":"p1","address":[{"text":"1 Elm St\nLacey"}]}"#,
        "\n",
        r#"{"resourceType":"Observation","subject":{"reference":"Patient/p1"},"valueString":"lives at 1 Elm St\nLacey, alone"}"#,
        "\n"
    );
    let (_, _, p) = mask_bytes_preview(
        ndjson.as_bytes(),
        Some("x.ndjson"),
        &policy,
        &key(1),
        &opts(),
        100,
    )
    .expect("masks");
    let c = p
        .changes
        .iter()
        .find(|c| c.location == "line 2 valueString")
        .expect("the note changed");
    assert_eq!(c.before, "lives at 1 Elm St\nLacey, alone");
    assert_eq!(c.after.as_deref(), Some("lives at [ADDRESS], alone"));
    assert_eq!(c.spans, [(9, 23)]);
    assert_eq!(&c.before[9..23], "1 Elm St\nLacey");
}

#[test]
fn at_most_max_changes_in_document_order_and_the_rest_counted() {
    let (_, all) = preview_of("mask-inputs/bundle.json", usize::MAX);
    let (_, some) = preview_of("mask-inputs/bundle.json", 5);
    assert_eq!(some.changes[..], all.changes[..5]);
    assert_eq!(some.omitted, all.changes.len() as u64 - 5);
    let (_, none) = preview_of("mask-inputs/bundle.json", 0);
    assert!(none.changes.is_empty());
    assert_eq!(none.omitted, all.changes.len() as u64);
}

#[test]
fn the_preview_is_not_in_the_report_or_the_output() {
    for (name, input) in INPUTS {
        let hint = name.rsplit('/').next();
        let (out, report, p) =
            mask_bytes_preview(input, hint, &Policy::safe_harbor(), &key(1), &opts(), 1000)
                .expect("masks");
        let (plain, plain_report) = medseal_core::mask::mask_bytes_with(
            input,
            hint,
            &Policy::safe_harbor(),
            &key(1),
            &opts(),
        )
        .expect("masks");
        assert_eq!((&out, &report), (&plain, &plain_report), "{name}");
        let report_json = serde_json::to_string(&report).expect("JSON");
        let out = String::from_utf8(out).expect("UTF-8");
        for c in p
            .changes
            .iter()
            .filter(|c| c.method == medseal_core::mask::Method::Redact)
        {
            for &(a, b) in &c.spans {
                let removed = &c.before[a..b];
                if removed.len() >= 5 && !matches!(removed, "phone" | "official") {
                    assert!(
                        !report_json.contains(removed),
                        "{name}: {removed} in the report"
                    );
                    if !name.ends_with(".txt") {
                        assert!(!out.contains(removed), "{name}: {removed} in the output");
                    }
                }
            }
        }
    }
}

#[test]
fn contained_resources_entries_without_ids_binary_attachments_and_long_notes() {
    let long_note = format!(
        "{}Seen by Dr. Who; patient Kim42 Park17 called from 555-123-4567.{}",
        "Routine follow-up. ".repeat(80),
        " Plan: rest, fluids.".repeat(80)
    );
    let note64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &long_note);
    let bundle = serde_json::json!({
        "resourceType": "Bundle", "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "id": "k1",
                "name": [{"family": "Park17", "given": ["Kim42"]}],
                "telecom": [{"system": "phone", "value": "555-123-4567"}]}},
            {"resource": {"resourceType": "Observation", "status": "final",
                "subject": {"reference": "Patient/k1"},
                "valueString": "Kim42 is well"}},
            {"resource": {"resourceType": "Claim", "id": "c1",
                "contained": [{"resourceType": "Coverage", "id": "cov",
                    "beneficiary": {"reference": "Patient/k1", "display": "Kim42 Park17"}}]}},
            {"resource": {"resourceType": "DocumentReference", "id": "d1",
                "content": [
                    {"attachment": {"contentType": "image/png", "data": "iVBORw0KGgo="}},
                    {"attachment": {"contentType": "text/plain", "data": note64}}]}}
        ]
    });
    let (_, _, p) = mask_bytes_preview(
        bundle.to_string().as_bytes(),
        None,
        &Policy::safe_harbor(),
        &key(1),
        &opts(),
        1000,
    )
    .expect("masks");
    let find = |loc: &str| {
        p.changes
            .iter()
            .filter(|c| c.location == loc)
            .map(render_change)
            .collect::<Vec<_>>()
            .join("\n")
    };
    check(
        &find("Bundle entry[1].resource.valueString"),
        "Bundle entry[1].resource.valueString | known-identifier-sweep names redact | ⟦Kim42⟧ is well -> [NAME] is well",
    );
    check(
        &find("Claim/c1 contained[0].beneficiary.display"),
        "Claim/c1 contained[0].beneficiary.display | known-identifier-sweep names redact | ⟦Kim42 Park17⟧ -> [NAME]",
    );
    check(
        &find("DocumentReference/d1 content[0].attachment.data"),
        "DocumentReference/d1 content[0].attachment.data | binary-attachments photo redact | ⟦an attachment of type image/png, 8 bytes⟧ -> (removed)",
    );
    // The long note is cut around its first span, on both sides over the same stretch.
    let notes: Vec<&Change> = p
        .changes
        .iter()
        .filter(|c| c.location == "DocumentReference/d1 content[1].attachment.data (decoded text)")
        .collect();
    assert_eq!(
        notes.len(),
        3,
        "the doctor's name after a title, the sweep's names, the phone"
    );
    for c in notes {
        check_spans(c);
        assert!(
            c.before.starts_with('…') && c.before.ends_with('…'),
            "{}",
            c.before
        );
        assert!(c.before.len() <= medseal_core::mask::PREVIEW_TEXT_LIMIT + 6);
        let after = c.after.as_deref().expect("kept");
        assert!(after.starts_with('…') && after.ends_with('…'));
        assert!(
            after.contains("patient [NAME] called from [PHONE]."),
            "{after}"
        );
        let marked: Vec<&str> = c.spans.iter().map(|&(a, b)| &c.before[a..b]).collect();
        assert!(
            marked == ["Kim42 Park17"] || marked == ["555-123-4567"] || marked == ["Who"],
            "{marked:?}"
        );
    }
}
