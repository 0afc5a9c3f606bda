//! CSV with a header row: rules by column name, with defaults for common names.

use super::MaskError;
use super::date::FhirDate;
use super::engine::Engine;
use super::policy::{DataType, FreeText, IdentifierKind, Method, Policy, normalize_column};
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
    /// How the column was recognised, for the report.
    how: How,
}

/// How a column's treatment was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum How {
    /// The policy names the column.
    Policy,
    /// Its header is a known name, or has words that say what it holds.
    Header,
    /// Its cells are mostly of one kind of identifier.
    Content,
    /// Nothing said what it holds: its cells are scanned as free text.
    FreeText,
    /// Its header says it holds notes, and the policy removes free text (`free_text: remove`).
    Notes,
}

/// Header words of columns of notes, emptied under `free_text: remove`.
const NOTE_WORDS: [&str; 9] = [
    "note",
    "notes",
    "comment",
    "comments",
    "remark",
    "remarks",
    "narrative",
    "narratives",
    "memo",
];

/// Whether a cell of an unrecognised column reads as prose (`free_text: remove` empties it):
/// six words or more with a sentence's end in it. Code displays ("Body mass index (BMI)
/// [Ratio]") have no full stop.
fn is_prose_cell(cell: &str) -> bool {
    let words = cell
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    let t = cell.trim_end();
    words >= 6 && (t.ends_with('.') || t.ends_with('!') || t.ends_with('?') || cell.contains(". "))
}

/// Built-in rules for common header names (already normalised).
fn default_column(name: &str, date_method: Method) -> Option<(Method, IdentifierKind, Role)> {
    use IdentifierKind as K;
    use Method as M;
    let r = match name {
        "name" | "firstname" | "lastname" | "givenname" | "familyname" | "fullname"
        | "patientname" | "given" | "family" | "middlename" | "first" | "last" | "maiden"
        | "maidenname" | "mothersmaidenname" | "surname" | "middle" | "mi" | "prefix"
        | "suffix" | "initials" => (M::Redact, K::Names, Role::Plain),
        "address" | "street" | "streetaddress" | "address1" | "address2" | "addressline"
        | "line" | "city" | "county" | "district" | "birthplace" | "lat" | "lon" | "lng"
        | "latitude" | "longitude" | "town" | "fips" | "countyfips" | "fipscode" => {
            (M::Redact, K::Geographic, Role::Plain)
        }
        // Safe Harbor keeps states (and countries): such a column is kept as it is.
        "state" | "statecode" | "stateabbr" | "stateabbreviation" | "statename" | "country"
        | "countrycode" | "countryname" | "nation" => (M::Keep, K::Geographic, Role::Plain),
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

/// The words of a header: split at anything not a letter or digit and where a lower-case
/// letter meets an upper-case one (`patientFirstName`), lower-cased.
fn header_words(header: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut prev_lower = false;
    for c in header.chars() {
        if !c.is_ascii_alphanumeric() {
            if !cur.is_empty() {
                words.push(std::mem::take(&mut cur));
            }
            prev_lower = false;
            continue;
        }
        if c.is_ascii_uppercase() && prev_lower && !cur.is_empty() {
            words.push(std::mem::take(&mut cur));
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
        cur.push(c.to_ascii_lowercase());
    }
    if !cur.is_empty() {
        words.push(cur);
    }
    words
}

/// Header words that say a `...name` column names a thing, not a person.
const NOT_PERSON: [&str; 40] = [
    "drug",
    "medication",
    "medicine",
    "med",
    "product",
    "brand",
    "generic",
    "test",
    "lab",
    "procedure",
    "code",
    "device",
    "facility",
    "organization",
    "organisation",
    "org",
    "hospital",
    "clinic",
    "payer",
    "payor",
    "plan",
    "insurer",
    "vaccine",
    "allergen",
    "specimen",
    "file",
    "display",
    "condition",
    "diagnosis",
    "unit",
    "study",
    "site",
    "department",
    "dept",
    "ward",
    "pharmacy",
    "column",
    "field",
    "table",
    "panel",
];

/// What a column is, read from the words of its header when no exact name is known: person
/// names of any part, places below a state, contacts, numbers that identify, dates. `None`
/// for a header that says none of these (its cells are then scanned as free text).
fn column_by_words(header: &str, date_method: Method) -> Option<(Method, IdentifierKind, Role)> {
    use IdentifierKind as K;
    use Method as M;
    let words = header_words(header);
    let joined: String = words.concat();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    let contains = |list: &[&str]| list.iter().any(|p| joined.contains(p));
    let last = words.last().map_or("", String::as_str);
    if has(&["ssn", "social"]) || contains(&["ssn", "socialsecurity"]) {
        return Some((M::Redact, K::Ssn, Role::Plain));
    }
    if has(&["email", "mail"]) || contains(&["email"]) {
        return Some((M::Redact, K::Email, Role::Plain));
    }
    if has(&["fax"]) || contains(&["faxnumber"]) {
        return Some((M::Redact, K::Fax, Role::Plain));
    }
    if has(&["phone", "telephone", "tel", "mobile", "cellphone", "pager"]) || contains(&["phone"]) {
        return Some((M::Redact, K::Telephone, Role::Plain));
    }
    if has(&["url", "website", "homepage", "web", "uri"]) || contains(&["website"]) {
        return Some((M::Redact, K::Url, Role::Plain));
    }
    if contains(&["ipaddress", "ipaddr"]) {
        return Some((M::Redact, K::Ip, Role::Plain));
    }
    if has(&[
        "fingerprint",
        "voiceprint",
        "biometric",
        "biometrics",
        "retina",
        "iris",
        "faceprint",
    ]) || contains(&["fingerprint", "voiceprint", "biometric"])
    {
        return Some((M::Redact, K::Biometric, Role::Plain));
    }
    if has(&[
        "photo",
        "photograph",
        "picture",
        "selfie",
        "portrait",
        "headshot",
    ]) {
        return Some((M::Redact, K::Photo, Role::Plain));
    }
    if has(&["vin", "plate", "vehicle"]) || contains(&["licenseplate", "licenceplate"]) {
        return Some((M::Redact, K::Vehicle, Role::Plain));
    }
    if has(&["serial", "udi", "imei", "sn"]) || contains(&["serialnumber", "serialno"]) {
        return Some((M::Redact, K::Device, Role::Plain));
    }
    if has(&[
        "license",
        "licence",
        "drivers",
        "driver",
        "dl",
        "passport",
        "certificate",
        "permit",
    ]) || contains(&["license", "licence", "passport"])
    {
        return Some((M::Redact, K::License, Role::Plain));
    }
    if has(&[
        "member",
        "subscriber",
        "beneficiary",
        "medicaid",
        "medicare",
        "policy",
    ]) || contains(&[
        "memberid",
        "healthplan",
        "subscriberid",
        "policynumber",
        "insuranceid",
        "insurancenumber",
    ]) {
        return Some((M::Redact, K::HealthPlan, Role::Plain));
    }
    if has(&["account", "acct", "billing", "invoice", "claim"]) || contains(&["account"]) {
        return Some((M::Pseudonym, K::Account, Role::Plain));
    }
    if has(&["mrn"]) || contains(&["medicalrecord"]) {
        return Some((M::Pseudonym, K::Mrn, Role::PatientId));
    }
    if has(&["zip", "zipcode", "postal", "postcode", "zip5", "zip9"])
        || contains(&["zipcode", "postalcode"])
    {
        return Some((M::Generalize, K::Geographic, Role::Zip));
    }
    if has(&[
        "address",
        "addr",
        "street",
        "city",
        "town",
        "county",
        "district",
        "birthplace",
        "lat",
        "latitude",
        "lon",
        "lng",
        "longitude",
        "fips",
        "geo",
        "geolocation",
        "neighborhood",
        "neighbourhood",
        "borough",
        "apartment",
        "apt",
        "residence",
        "village",
        "municipality",
        "parish",
        "suburb",
        "coordinates",
        "gps",
    ]) || contains(&[
        "address",
        "street",
        "latitude",
        "longitude",
        "birthplace",
        "county",
        "censustract",
    ]) {
        return Some((M::Redact, K::Geographic, Role::Plain));
    }
    if has(&["state", "country", "province", "nationality"]) {
        return Some((M::Keep, K::Geographic, Role::Plain));
    }
    // Person names of any part; "...name" unless the header says it names a thing.
    if has(&[
        "middle",
        "maiden",
        "surname",
        "forename",
        "fname",
        "lname",
        "mname",
        "nickname",
        "alias",
        "initials",
        "firstname",
        "lastname",
        "middlename",
        "fullname",
    ]) || contains(&[
        "firstname",
        "lastname",
        "middlename",
        "maidenname",
        "surname",
        "givenname",
        "familyname",
        "fullname",
        "nickname",
        "forename",
    ]) || ((has(&["name", "nm"]) || joined.ends_with("name")) && !has(&NOT_PERSON))
    {
        return Some((M::Redact, K::Names, Role::Plain));
    }
    if has(&["dob", "birthdate", "birthday"]) || contains(&["dateofbirth", "birthdate"]) {
        return Some((M::Generalize, K::Dates, Role::BirthDate));
    }
    if has(&["date", "time", "datetime", "timestamp", "dt", "day"]) {
        return Some((date_method, K::Dates, Role::Date));
    }
    if has(&["age"]) {
        return Some((M::Generalize, K::Dates, Role::Age));
    }
    if matches!(
        last,
        "id" | "uuid" | "guid" | "identifier" | "key" | "number" | "no" | "num" | "nbr"
    ) && !has(&["code"])
    {
        return Some((M::Pseudonym, K::Other, Role::Plain));
    }
    None
}

/// Whether a cell is a UUID (8-4-4-4-12 hexadecimal digits), the shape of record ids.
fn is_uuid(s: &str) -> bool {
    let b = s.trim().as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) {
                *c == b'-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

/// What a column is, read from its cells when its header says nothing: a column whose cells
/// are mostly e-mail addresses, phone numbers, social security numbers, web or IP addresses
/// (each cell one whole match of the text scanner), or UUIDs, is that.
fn column_by_content<'a>(
    cells: impl Iterator<Item = &'a str>,
) -> Option<(Method, IdentifierKind, Role)> {
    use super::policy::TextPattern as P;
    let patterns = [P::Email, P::Phone, P::Ssn, P::Url, P::Ip];
    let scanner = Scanner {
        patterns: &patterns,
        dates: Method::Keep,
        shift_days: 0,
    };
    let mut seen = 0u32;
    let mut by_kind: std::collections::BTreeMap<IdentifierKind, u32> =
        std::collections::BTreeMap::new();
    let mut uuids = 0u32;
    for cell in cells.map(str::trim).filter(|c| !c.is_empty()).take(200) {
        seen += 1;
        if is_uuid(cell) {
            uuids += 1;
            continue;
        }
        let mut whole: Option<IdentifierKind> = None;
        let mut hits = 0;
        let _ = scanner.apply(cell, &mut |h| {
            hits += 1;
            if h.start == 0 && h.end == cell.len() {
                whole = Some(h.kind);
            }
        });
        if let (Some(k), 1) = (whole, hits) {
            *by_kind.entry(k).or_default() += 1;
        }
    }
    if seen == 0 {
        return None;
    }
    // More than half of the cells seen.
    if uuids * 2 > seen {
        return Some((Method::Pseudonym, IdentifierKind::Other, Role::Plain));
    }
    let (kind, n) = by_kind.into_iter().max_by_key(|(_, n)| *n)?;
    (n * 2 > seen).then_some((Method::Redact, kind, Role::Plain))
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
        .enumerate()
        .map(|(i, h)| {
            let n = normalize_column(h);
            let by_header =
                default_column(&n, date_method).or_else(|| column_by_words(h, date_method));
            let role_guess = by_header.map_or(Role::Plain, |d| d.2);
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
                    how: How::Policy,
                };
            }
            let found = if policy.csv.default_columns {
                by_header.map(|d| (d, How::Header)).or_else(|| {
                    column_by_content(body.iter().filter_map(|r| r.get(i)).map(String::as_str))
                        .map(|d| (d, How::Content))
                })
            } else {
                None
            };
            match found {
                Some(((method, kind, role), how)) => Column {
                    method: Some(method),
                    kind,
                    role,
                    value: None,
                    rule: format!("csv-default:{n}"),
                    how,
                },
                None if policy.text.free_text == FreeText::Remove
                    && header_words(h)
                        .iter()
                        .any(|w| NOTE_WORDS.contains(&w.as_str())) =>
                {
                    Column {
                        method: Some(Method::Redact),
                        kind: IdentifierKind::Other,
                        role: Role::Plain,
                        value: None,
                        rule: super::engine::FREE_TEXT_REMOVE_RULE.to_owned(),
                        how: How::Notes,
                    }
                }
                None => Column {
                    method: None,
                    kind: IdentifierKind::Other,
                    role: Role::Plain,
                    value: None,
                    rule: String::new(),
                    how: How::FreeText,
                },
            }
        })
        .collect();
    for (h, c) in header.iter().zip(&columns) {
        engine.tally.column(h, column_treatment(c));
    }
    for (i, r) in body.iter().enumerate() {
        if r.len() != header.len() && !(r.len() == 1 && r[0].is_empty()) {
            return Err(MaskError::Csv {
                row: i + 2,
                message: format!("{} fields where the header has {}", r.len(), header.len()),
            });
        }
    }
    // Pre-pass: the identifying cells of every row are known identifiers for the sweep of
    // every scanned cell of the file (one automaton, built once, so the cost stays linear).
    let mut sweep = Sweep::default();
    for r in body {
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
                (_, Role::Zip) if cell.trim().len() >= 5 => {
                    sweep.add(cell, IdentifierKind::Geographic);
                }
                (_, Role::Zip) => {}
                (Some(Method::Redact | Method::Pseudonym | Method::Substitute), _) => {
                    if col.kind == IdentifierKind::Names {
                        for part in cell.split_whitespace().filter(|p| p.len() >= 2) {
                            sweep.add(part, col.kind);
                        }
                    } else if col.kind == IdentifierKind::Geographic {
                        // The place names in an address or birthplace, not its numbers (a
                        // suite number would eat "9039.16") nor its street words (a "Tunnel"
                        // would eat "carpal tunnel").
                        for part in cell.split(|c: char| c.is_whitespace() || c == ',') {
                            if is_place_word(part) {
                                sweep.add(part, col.kind);
                            }
                        }
                    }
                    if cell.len() >= 4 || col.kind == IdentifierKind::Names {
                        sweep.add(cell, col.kind);
                    }
                }
                _ => {}
            }
        }
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
    std::mem::swap(&mut engine.sweep, &mut sweep);
    for (n, r) in body.iter().enumerate() {
        if r.len() == 1 && r[0].is_empty() {
            continue;
        }
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
        out.push_str(newline);
    }
    std::mem::swap(&mut engine.sweep, &mut sweep);
    Ok(out)
}

/// Words of addresses that name no place: USPS street suffixes and unit designators
/// (Publication 28, appendices C1 and C2, common forms) and compass points.
const STREET_WORDS: [&str; 72] = [
    "street",
    "st",
    "avenue",
    "ave",
    "road",
    "rd",
    "boulevard",
    "blvd",
    "lane",
    "ln",
    "drive",
    "dr",
    "court",
    "ct",
    "way",
    "place",
    "pl",
    "terrace",
    "ter",
    "circle",
    "cir",
    "parkway",
    "pkwy",
    "highway",
    "hwy",
    "square",
    "sq",
    "trail",
    "trl",
    "tunnel",
    "vale",
    "suite",
    "ste",
    "apt",
    "apartment",
    "unit",
    "row",
    "loop",
    "run",
    "path",
    "pike",
    "park",
    "walk",
    "hill",
    "heights",
    "gardens",
    "crossing",
    "ridge",
    "point",
    "port",
    "view",
    "glen",
    "grove",
    "landing",
    "manor",
    "meadow",
    "mill",
    "mills",
    "springs",
    "station",
    "summit",
    "valley",
    "village",
    "center",
    "north",
    "south",
    "east",
    "west",
    "box",
    "floor",
    "room",
    "route",
];

/// Whether a word of an address is worth sweeping from the rest of the file: letters (at
/// least four), not a street word, not a state or the country.
fn is_place_word(w: &str) -> bool {
    let w = w.trim_matches(|c: char| !c.is_alphanumeric());
    w.len() >= 4
        && w.chars()
            .all(|c| c.is_alphabetic() || c == '-' || c == '\'')
        && !STREET_WORDS.contains(&w.to_ascii_lowercase().as_str())
        && !super::zip::is_state_or_country(w)
}

/// What was done to a column, in plain words for the patient's report.
fn column_treatment(c: &Column) -> String {
    let kind = c.kind.plain();
    let by = match c.how {
        How::Policy => " (the policy names this column)",
        How::Header => "",
        How::Content => " (its cells look like them)",
        How::FreeText | How::Notes => "",
    };
    match (c.how, c.method) {
        (How::Notes, _) => "notes: removed (the policy removes free text)".to_owned(),
        (How::FreeText, _) | (_, None) => {
            "not recognised: every cell is checked as free text for identifiers".to_owned()
        }
        (_, Some(Method::Keep)) => format!("{kind}: kept{by}"),
        (_, Some(Method::Redact)) => format!("{kind}: removed{by}"),
        (_, Some(Method::Pseudonym)) => format!("{kind}: replaced by pseudonyms{by}"),
        (_, Some(Method::Substitute)) => format!("{kind}: replaced by a fixed value{by}"),
        (_, Some(Method::Generalize)) => match c.role {
            Role::Zip => format!("{kind}: first three digits of ZIP codes kept{by}"),
            Role::Age => format!("{kind}: ages over 89 shown as 90 or older{by}"),
            _ => format!("{kind}: only the year kept{by}"),
        },
        (_, Some(Method::DateShift)) => format!("{kind}: shifted by the patient's date shift{by}"),
    }
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
        if engine.removes_free_text() && is_prose_cell(cell) {
            return engine.remove_document_text(cell, &location);
        }
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
