//! NDJSON, CSV and plain text keep their form.

use medseal_core::mask::{InputFormat, Policy, detect_format};
use serde_json::Value;

use crate::fixtures::fixtures;
use crate::{check, key, mask};

#[test]
fn ndjson_in_ndjson_out() {
    let (path, ids) = fixtures().into_iter().nth(2).expect("a fixture");
    let bundle: Value =
        serde_json::from_slice(&std::fs::read(path).expect("fixture")).expect("JSON");
    let lines: Vec<String> = bundle["entry"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["resource"].to_string())
        .collect();
    let ndjson = lines.join("\n") + "\n";
    assert_eq!(detect_format(&ndjson, None), InputFormat::Ndjson);
    let (out, report) = mask(ndjson.as_bytes(), None, &Policy::safe_harbor(), &key(1));
    assert_eq!(report.format, InputFormat::Ndjson);
    let out_lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    assert_eq!(out_lines.len(), lines.len());
    for needle in ids["must_not_appear_substring"].as_array().expect("list") {
        assert!(
            !out.contains(needle.as_str().expect("string")),
            "{needle} survived in NDJSON"
        );
    }
    // References between lines stay consistent with the ids they point to.
    let ids: std::collections::HashSet<String> = out_lines
        .iter()
        .filter_map(|r| r["id"].as_str().map(str::to_owned))
        .collect();
    for r in &out_lines {
        if let Some(s) = r["subject"]["reference"].as_str() {
            assert!(
                ids.contains(s.trim_start_matches("urn:uuid:")),
                "{s} points at no line"
            );
        }
    }
}

const PATIENTS_CSV: &str = "\
Id,BIRTHDATE,DEATHDATE,SSN,FIRST,LAST,ADDRESS,CITY,STATE,ZIP,GENDER,NOTES
p-001,1969-03-27,,999-33-5538,Carolee951,Sanford861,117 Orn Bypass,Redmond,WA,98053,F,\"Carolee951 called from 555-657-5098, \"\"fine\"\"\"
p-002,1921-02-03,2019-05-06,999-11-2222,Todd315,Stamm704,1 Main St,Lacey,WA,03601,M,seen 06/12/2003
";

#[test]
fn csv_in_csv_out() {
    assert_eq!(detect_format(PATIENTS_CSV, None), InputFormat::Csv);
    let (out, report) = mask(
        PATIENTS_CSV.as_bytes(),
        Some("text/csv"),
        &Policy::safe_harbor(),
        &key(1),
    );
    let p1 = key(1).pseudonym("p-001");
    let p2 = key(1).pseudonym("p-002");
    check(
        &out,
        &format!(
            "\
Id,BIRTHDATE,DEATHDATE,SSN,FIRST,LAST,ADDRESS,CITY,STATE,ZIP,GENDER,NOTES
{p1},1969,,,,,,,WA,980,F,\"[NAME] called from [PHONE], \"\"fine\"\"\"
{p2},90 or older,2019,,,,,,WA,000,M,seen 2003
"
        ),
    );
    assert_eq!(report.records, 2);
    assert_eq!(report.format, InputFormat::Csv);
}

#[test]
fn text_in_text_out() {
    let text = "Seen 2003-06-12 at https://clinic.example/p?id=1 from 10.1.2.3.\nCall 555-657-5098 or mail jo@example.com. SSN 999-33-5538. A 93 year-old woman.\n";
    let (out, report) = mask(
        text.as_bytes(),
        Some("text/plain"),
        &Policy::safe_harbor(),
        &key(1),
    );
    check(
        &out,
        "Seen 2003 at [URL] from [IP].\nCall [PHONE] or mail [EMAIL]. SSN [ID]. A 90 or older woman.",
    );
    assert_eq!(report.format, InputFormat::Text);
    assert_eq!(report.total, 7);
}
