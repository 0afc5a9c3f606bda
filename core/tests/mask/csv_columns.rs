//! CSV by safe default: every column is recognised (by its header's name or words, or by its
//! cells) or scanned as free text; values of name, contact, address and id columns are swept
//! from every other cell of the file; states stay (Safe Harbor allows them). The columns'
//! meanings below are written out by hand, independently of the masker's lists.

use medseal_core::mask::Policy;

use crate::{key, mask};

const SYNTHEA: &str = include_str!("../data/mask-inputs/synthea-patients.csv");

/// Splits a simple CSV (no quoted commas; the fixtures here have none) into header and rows.
fn table(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut lines = text.lines();
    let header = lines
        .next()
        .expect("header")
        .split(',')
        .map(str::to_owned)
        .collect();
    let rows = lines
        .filter(|l| !l.is_empty())
        .map(|l| l.split(',').map(str::to_owned).collect())
        .collect();
    (header, rows)
}

fn column<'a>(header: &[String], rows: &'a [Vec<String>], name: &str) -> Vec<&'a str> {
    let i = header
        .iter()
        .position(|h| h == name)
        .unwrap_or_else(|| panic!("column {name}"));
    rows.iter().map(|r| r[i].as_str()).collect()
}

/// Whether `needle` occurs in `hay` as a whole word (not inside a longer word or number).
fn has_word(hay: &str, needle: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric();
    hay.match_indices(needle).any(|(at, _)| {
        let before = hay[..at].chars().next_back();
        let after = hay[at + needle.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

fn leaks(output: &str, values: &[String]) -> Vec<String> {
    values
        .iter()
        .filter(|v| !v.is_empty() && has_word(output, v))
        .cloned()
        .collect()
}

/// What the report says was done to a column.
fn treatment_of(report: &medseal_core::mask::MaskReport, name: &str) -> String {
    report
        .columns
        .iter()
        .find(|c| c.column == name)
        .map(|c| c.treatment.clone())
        .expect("reported")
}

#[test]
fn synthea_patients_csv_keeps_no_identifier_and_keeps_the_state() {
    let (out, report) = mask(
        SYNTHEA.as_bytes(),
        Some("patients.csv"),
        &Policy::safe_harbor(),
        &key(5),
    );
    let (header, rows) = table(SYNTHEA);
    let (out_header, out_rows) = table(&out);
    assert_eq!(out_header, header, "the header stays");
    assert_eq!(out_rows.len(), rows.len());

    // Synthea's identifying columns (its csv data dictionary): every value must be gone
    // from the whole output, wherever it might be repeated.
    let mut secret: Vec<String> = Vec::new();
    for c in [
        "Id",
        "SSN",
        "DRIVERS",
        "PASSPORT",
        "FIRST",
        "MIDDLE",
        "LAST",
        "MAIDEN",
        "BIRTHPLACE",
        "ADDRESS",
        "CITY",
        "COUNTY",
        "FIPS",
        "ZIP",
        "LAT",
        "LON",
    ] {
        secret.extend(column(&header, &rows, c).into_iter().map(str::to_owned));
    }
    // The parts that name a place: the street of an address, the town of a birthplace.
    for a in column(&header, &rows, "ADDRESS") {
        let words: Vec<&str> = a.split_whitespace().collect();
        secret.push(words[1].to_owned());
    }
    for b in column(&header, &rows, "BIRTHPLACE") {
        secret.push(b.split_whitespace().next().expect("town").to_owned());
    }
    let leaked = leaks(&out, &secret);
    assert!(leaked.is_empty(), "identifiers survived: {leaked:?}\n{out}");

    // The middle names Synthea writes are gone (they used to be kept: issue 12).
    assert!(
        column(&out_header, &out_rows, "MIDDLE")
            .iter()
            .all(|v| v.is_empty())
    );
    // Safe Harbor keeps states: the column is unchanged.
    assert_eq!(
        column(&out_header, &out_rows, "STATE"),
        column(&header, &rows, "STATE")
    );
    // ZIP codes keep their first three digits; birth dates their year.
    for (o, i) in column(&out_header, &out_rows, "ZIP")
        .iter()
        .zip(column(&header, &rows, "ZIP"))
    {
        assert_eq!(*o, &i[..3]);
    }
    for (o, i) in column(&out_header, &out_rows, "BIRTHDATE")
        .iter()
        .zip(column(&header, &rows, "BIRTHDATE"))
    {
        // Ages are computed at 2026-11-24 (crate::opts): over 89, the year goes too.
        let (y, md): (i32, &str) = (i[..4].parse().expect("year"), &i[5..]);
        let age = 2026 - y - i32::from(md > "11-24");
        let want = if age > 89 { "90 or older" } else { &i[..4] };
        assert_eq!(*o, want, "birth date {i}");
    }
    // What is not an identifier stays as it was.
    for c in [
        "MARITAL",
        "RACE",
        "ETHNICITY",
        "GENDER",
        "HEALTHCARE_EXPENSES",
        "HEALTHCARE_COVERAGE",
        "INCOME",
    ] {
        assert_eq!(
            column(&out_header, &out_rows, c),
            column(&header, &rows, c),
            "{c}"
        );
    }
    // The report says what was done to every column, in order.
    let columns: Vec<&str> = report.columns.iter().map(|c| c.column.as_str()).collect();
    assert_eq!(
        columns,
        header.iter().map(String::as_str).collect::<Vec<_>>()
    );
    let treatment = |name: &str| treatment_of(&report, name);
    assert!(
        treatment("MIDDLE").contains("removed"),
        "{}",
        treatment("MIDDLE")
    );
    assert!(
        treatment("STATE").contains("kept"),
        "{}",
        treatment("STATE")
    );
    assert!(
        treatment("RACE").contains("free text"),
        "{}",
        treatment("RACE")
    );
    assert!(
        report
            .summary()
            .iter()
            .any(|l| l.starts_with("Column MIDDLE: names: removed"))
    );
}

/// Columns named as nobody's list names them, columns with no telling name at all, and a
/// notes column that repeats other rows' values.
const UNKNOWN: &str = "\
Pt Nm,patientFirstName,Middle_Initial,Mothers Maiden,HomeAddr,Town/City,PostCode,contact_tel,e_mail,Social Sec #,Insurance ID,acct,col7,ref,X,Diagnosis,WBC_Cell_Count,Urinary tract infection,given_dose,Notes
Yusuf Adeyemi,Yusuf,T,Balogun,77 Quarry Street,Eastham,02642,508-555-0142,yusuf.a@example.org,999-31-4410,QHX7781203,A-88120,y.adeyemi@example.net,0f8fad5b-d9cb-469f-a165-70867728950e,(774) 555-0190,Type 2 diabetes mellitus,7.2,no,2 tablets,Seen with Ewa; lives in Eastham.
Ewa Kowalczyk,Ewa,M,Zielinska,9 Birchwood Terrace,Truro,02666,508-555-0177,ewa.k@example.org,999-72-1180,QHX5512094,A-33415,ewa.kowal@example.net,7c9e6679-7425-40de-944b-e07fc1f90ae7,(774) 555-0123,Essential hypertension,6.1,yes,1 tablet,Neighbour of Yusuf Adeyemi; Balogun family helps.
";

#[test]
fn unknown_column_names_are_recognised_or_scanned_and_nothing_leaks() {
    let (out, report) = mask(
        UNKNOWN.as_bytes(),
        Some("table.csv"),
        &Policy::safe_harbor(),
        &key(6),
    );
    let (header, rows) = table(UNKNOWN);
    let (out_header, out_rows) = table(&out);
    let mut secret: Vec<String> = Vec::new();
    for c in [
        "Pt Nm",
        "patientFirstName",
        "Mothers Maiden",
        "HomeAddr",
        "Town/City",
        "PostCode",
        "contact_tel",
        "e_mail",
        "Social Sec #",
        "Insurance ID",
        "acct",
        "col7",
        "ref",
        "X",
    ] {
        for v in column(&header, &rows, c) {
            secret.push(v.to_owned());
            secret.extend(
                v.split_whitespace()
                    .filter(|w| w.len() >= 4)
                    .map(str::to_owned),
            );
        }
    }
    secret.retain(|s| !matches!(s.as_str(), "Street" | "Terrace"));
    let leaked = leaks(&out, &secret);
    assert!(leaked.is_empty(), "identifiers survived: {leaked:?}\n{out}");
    // Middle initials are names too.
    assert!(
        column(&out_header, &out_rows, "Middle_Initial")
            .iter()
            .all(|v| v.is_empty())
    );
    // Clinical columns, whatever words their headers share with identifying ones, stay.
    for c in [
        "Diagnosis",
        "WBC_Cell_Count",
        "Urinary tract infection",
        "given_dose",
    ] {
        assert_eq!(
            column(&out_header, &out_rows, c),
            column(&header, &rows, c),
            "{c}"
        );
    }
    // The notes keep their words other than the identifiers.
    let notes = column(&out_header, &out_rows, "Notes");
    assert!(notes[0].starts_with("Seen with "), "{}", notes[0]);
    assert!(notes[1].contains("family helps"), "{}", notes[1]);
    // Columns with no telling name were recognised by what they hold.
    let treatment = |name: &str| treatment_of(&report, name);
    assert!(treatment("col7").starts_with("email addresses: removed (its cells look like them)"));
    assert!(treatment("X").starts_with("phone numbers: removed (its cells look like them)"));
    assert!(
        treatment("ref").contains("pseudonyms"),
        "{}",
        treatment("ref")
    );
    assert!(treatment("Notes").contains("free text"));
}

#[test]
fn a_birthplace_naming_a_state_does_not_remove_the_state_elsewhere() {
    let input = "Id,BIRTHPLACE,STATE,NOTES\np1,Dedham  Massachusetts  US,Massachusetts,Moved from Massachusetts to Ohio\n";
    let (out, _) = mask(
        input.as_bytes(),
        Some("p.csv"),
        &Policy::safe_harbor(),
        &key(1),
    );
    let (h, rows) = table(&out);
    assert_eq!(column(&h, &rows, "STATE"), ["Massachusetts"]);
    assert_eq!(
        column(&h, &rows, "NOTES"),
        ["Moved from Massachusetts to Ohio"]
    );
    assert!(!out.contains("Dedham"));
}
