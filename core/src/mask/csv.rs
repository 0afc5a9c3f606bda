//! CSV with a header row: rules by column name, with defaults for common names.

use super::MaskError;
use super::date::FhirDate;
use super::fhir::Engine;
use super::policy::{DataType, IdentifierKind, Method, Policy, normalize_column};
use super::preview::{TextEdits, TextHit};
use super::text::{Scanner, Sweep};
use super::zip::generalize_zip;

/// What a column is for, beyond its method.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Plain,
    PatientId,
    BirthDate,
    Date,
    Zip,
    Age,
}

#[derive(Clone, Debug)]
struct Column {
    method: Option<Method>,
    kind: IdentifierKind,
    role: Role,
    value: Option<String>,
    rule: String,
}

/// Built-in rules for common header names (already normalised).
fn default_column(name: &str, date_method: Method) -> Option<(Method, IdentifierKind, Role)> {
    use IdentifierKind as K;
    use Method as M;
    let r = match name {
        "name" | "firstname" | "lastname" | "givenname" | "familyname" | "fullname"
        | "patientname" | "given" | "family" | "middlename" | "first" | "last" | "maiden"
        | "maidenname" | "mothersmaidenname" | "surname" => (M::Redact, K::Names, Role::Plain),
        "address" | "street" | "streetaddress" | "address1" | "address2" | "addressline"
        | "line" | "city" | "county" | "district" | "birthplace" | "lat" | "lon" | "lng"
        | "latitude" | "longitude" | "town" => (M::Redact, K::Geographic, Role::Plain),
        "zip" | "zipcode" | "postalcode" | "postcode" | "zip5" => {
            (M::Generalize, K::Geographic, Role::Zip)
        }
        "phone" | "telephone" | "tel" | "mobile" | "cell" | "homephone" | "workphone"
        | "phonenumber" => (M::Redact, K::Telephone, Role::Plain),
        "fax" | "faxnumber" => (M::Redact, K::Fax, Role::Plain),
        "email" | "emailaddress" | "mail" => (M::Redact, K::Email, Role::Plain),
        "ssn" | "socialsecuritynumber" | "socialsecurity" => (M::Redact, K::Ssn, Role::Plain),
        "drivers" | "driverslicense" | "license" | "licence" | "passport" | "passportnumber" => {
            (M::Redact, K::License, Role::Plain)
        }
        "memberid" | "insuranceid" | "healthplan" | "subscriberid" | "policynumber" => {
            (M::Redact, K::HealthPlan, Role::Plain)
        }
        "url" | "website" | "homepage" => (M::Redact, K::Url, Role::Plain),
        "ip" | "ipaddress" => (M::Redact, K::Ip, Role::Plain),
        "mrn" | "medicalrecordnumber" => (M::Pseudonym, K::Mrn, Role::PatientId),
        "patient" | "patientid" | "subject" | "subjectid" | "personid" | "id" => {
            (M::Pseudonym, K::Other, Role::PatientId)
        }
        "encounter" | "encounterid" | "account" | "accountnumber" | "claimid" => {
            (M::Pseudonym, K::Account, Role::Plain)
        }
        "birthdate" | "dob" | "dateofbirth" | "birthday" => {
            (M::Generalize, K::Dates, Role::BirthDate)
        }
        "age" => (M::Generalize, K::Dates, Role::Age),
        n if n.ends_with("date")
            || n.starts_with("date")
            || n.ends_with("time")
            || matches!(n, "start" | "stop" | "end") =>
        {
            (date_method, K::Dates, Role::Date)
        }
        _ => return None,
    };
    Some(r)
}

/// Splits CSV text into rows of fields (RFC 4180: quotes, doubled quotes, CRLF or LF).
fn parse(text: &str) -> Result<Vec<Vec<String>>, MaskError> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    let mut at_field_start = true;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    field.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                field.push(c);
            }
            continue;
        }
        match c {
            '"' if at_field_start => {
                in_quotes = true;
                at_field_start = false;
            }
            ',' => {
                row.push(std::mem::take(&mut field));
                at_field_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
                at_field_start = true;
            }
            c => {
                field.push(c);
                at_field_start = false;
            }
        }
    }
    if in_quotes {
        return Err(MaskError::Csv {
            row: rows.len() + 1,
            message: "a quoted field is never closed".to_owned(),
        });
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    Ok(rows)
}

fn write_field(out: &mut String, f: &str) {
    if f.contains([',', '"', '\n', '\r']) {
        out.push('"');
        out.push_str(&f.replace('"', "\"\""));
        out.push('"');
    } else {
        out.push_str(f);
    }
}

/// Whether text looks like CSV: a header with commas and the next lines with as many fields.
pub(crate) fn looks_like_csv(text: &str) -> bool {
    let head: String = text.lines().take(6).collect::<Vec<_>>().join("\n");
    let Ok(rows) = parse(&head) else { return false };
    let Some(first) = rows.first() else {
        return false;
    };
    first.len() >= 2
        && rows.len() >= 2
        && rows
            .iter()
            .take(rows.len().saturating_sub(1).max(1))
            .all(|r| r.len() == first.len())
}

pub(crate) fn mask_csv(
    text: &str,
    engine: &mut Engine<'_>,
    policy: &Policy,
) -> Result<String, MaskError> {
    let rows = parse(text)?;
    let newline = if text.contains("\r\n") { "\r\n" } else { "\n" };
    let Some((header, body)) = rows.split_first() else {
        return Ok(String::new());
    };
    let date_method = policy
        .rules
        .iter()
        .find(|r| {
            r.selector
                .data_type
                .as_ref()
                .is_some_and(|t| t.as_slice().contains(&DataType::DateTime))
        })
        .map_or(policy.text.dates, |r| r.method);
    let columns: Vec<Column> = header
        .iter()
        .map(|h| {
            let n = normalize_column(h);
            let role_guess = default_column(&n, date_method).map_or(Role::Plain, |d| d.2);
            if let Some(c) = policy
                .csv
                .columns
                .iter()
                .find(|c| normalize_column(&c.column) == n)
            {
                return Column {
                    method: Some(c.method),
                    kind: c.kind,
                    role: role_guess,
                    value: c
                        .value
                        .as_ref()
                        .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned)),
                    rule: format!("csv:{}", c.column),
                };
            }
            match default_column(&n, date_method).filter(|_| policy.csv.default_columns) {
                Some((method, kind, role)) => Column {
                    method: Some(method),
                    kind,
                    role,
                    value: None,
                    rule: format!("csv-default:{n}"),
                },
                None => Column {
                    method: None,
                    kind: IdentifierKind::Other,
                    role: Role::Plain,
                    value: None,
                    rule: String::new(),
                },
            }
        })
        .collect();
    for (i, r) in body.iter().enumerate() {
        if r.len() != header.len() && !(r.len() == 1 && r[0].is_empty()) {
            return Err(MaskError::Csv {
                row: i + 2,
                message: format!("{} fields where the header has {}", r.len(), header.len()),
            });
        }
    }
    // Pre-pass: the identifying cells of a row are known identifiers for the sweep of that
    // row's free-text cells (per row, so the cost stays linear in the size of the table).
    let mut sweeps: Vec<Sweep> = Vec::with_capacity(body.len());
    for r in body {
        let mut sweep = Sweep::default();
        for (cell, col) in r.iter().zip(&columns) {
            if cell.is_empty() {
                continue;
            }
            match (col.method, col.role) {
                (_, Role::Date | Role::BirthDate) => {
                    engine.note_date(cell);
                    if col.role == Role::BirthDate {
                        sweep.add(cell, IdentifierKind::Dates);
                    }
                }
                (Some(Method::Redact | Method::Pseudonym | Method::Substitute), _) => {
                    if col.kind == IdentifierKind::Names || col.kind == IdentifierKind::Geographic {
                        for part in cell.split_whitespace().filter(|p| p.len() >= 2) {
                            sweep.add(part, col.kind);
                        }
                    }
                    if cell.len() >= 4 || col.kind == IdentifierKind::Names {
                        sweep.add(cell, col.kind);
                    }
                }
                _ => {}
            }
        }
        sweeps.push(sweep);
    }
    engine.tally.records = body.len() as u64;
    let patient_col = columns.iter().position(|c| c.role == Role::PatientId);
    let mut out = String::with_capacity(text.len());
    for (i, h) in header.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_field(&mut out, h);
    }
    out.push_str(newline);
    for (n, (r, mut sweep)) in body.iter().zip(sweeps).enumerate() {
        if r.len() == 1 && r[0].is_empty() {
            continue;
        }
        std::mem::swap(&mut engine.sweep, &mut sweep);
        let patient = patient_col
            .and_then(|p| r.get(p))
            .cloned()
            .unwrap_or_default();
        for (i, (cell, col)) in r.iter().zip(&columns).enumerate() {
            if i > 0 {
                out.push(',');
            }
            let at = Cell {
                row: n + 2,
                column: &header[i],
            };
            let masked = mask_cell(engine, cell, col, &patient, &at);
            write_field(&mut out, &masked);
        }
        std::mem::swap(&mut engine.sweep, &mut sweep);
        out.push_str(newline);
    }
    Ok(out)
}

/// Where a cell is, for the preview: `row 3, column NAME` (the header is row 1).
struct Cell<'a> {
    row: usize,
    column: &'a str,
}

impl Cell<'_> {
    fn location(&self) -> String {
        format!("row {}, column {}", self.row, self.column)
    }
}

fn mask_cell(
    engine: &mut Engine<'_>,
    cell: &str,
    col: &Column,
    patient: &str,
    at: &Cell<'_>,
) -> String {
    if cell.is_empty() {
        return String::new();
    }
    let location = || at.location();
    let Some(method) = col.method else {
        return engine.scan_text(cell.to_owned(), patient, true, &location);
    };
    let rule = col.rule.as_str();
    // Counts a change, and records it for the preview (an emptied cell is a removed value).
    let change = |engine: &mut Engine<'_>, m: Method, out: String| {
        engine.tally.add(rule, col.kind, m);
        if let Some(r) = &mut engine.tally.preview {
            let after = (!out.is_empty()).then_some(out.as_str());
            r.whole(&location, rule, col.kind, m, cell, after);
        }
        out
    };
    match method {
        Method::Keep => cell.to_owned(),
        Method::Redact => change(engine, Method::Redact, String::new()),
        Method::Substitute => {
            let value = col.value.clone().unwrap_or_default();
            change(engine, Method::Substitute, value)
        }
        Method::Pseudonym => {
            let p = engine.pseudonym(cell);
            change(engine, Method::Pseudonym, p)
        }
        Method::Generalize | Method::DateShift => match col.role {
            Role::BirthDate if engine.over_89(cell) => change(
                engine,
                Method::Generalize,
                super::NINETY_OR_OLDER.to_owned(),
            ),
            Role::Zip => change(
                engine,
                Method::Generalize,
                generalize_zip(cell).unwrap_or_default(),
            ),
            Role::Age => match cell.trim().parse::<f64>() {
                Ok(a) if a > 89.0 => change(
                    engine,
                    Method::Generalize,
                    super::NINETY_OR_OLDER.to_owned(),
                ),
                Ok(_) => cell.to_owned(),
                Err(_) => engine.scan_text(cell.to_owned(), patient, true, &location),
            },
            _ => {
                if let Some(d) = FhirDate::parse(cell.trim()) {
                    let out = if method == Method::DateShift {
                        d.shifted(engine.shift_for(patient))
                    } else {
                        d.year_string()
                    };
                    return change(engine, method, out);
                }
                // Other layouts (06/12/2003): the text scanner knows them.
                let shift_days = engine.shift_for(patient);
                let patterns = [super::policy::TextPattern::Date];
                let scanner = Scanner {
                    patterns: &patterns,
                    dates: method,
                    shift_days,
                };
                let mut hits: Vec<TextHit<'_>> = Vec::new();
                let out = scanner.apply(cell, &mut |h| {
                    hits.push(TextHit {
                        rule,
                        kind: col.kind,
                        method,
                        start: h.start,
                        end: h.end,
                        len: h.len,
                    });
                });
                if !hits.is_empty() {
                    engine.tally.add(rule, col.kind, method);
                }
                match out {
                    Some(out) => {
                        if let Some(r) = &mut engine.tally.preview {
                            let edits = TextEdits::compose(&[], &hits);
                            r.text(&location, cell, &out, &edits);
                        }
                        out
                    }
                    None => engine.scan_text(cell.to_owned(), patient, true, &location),
                }
            }
        },
    }
}
