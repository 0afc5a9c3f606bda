//! Masking policies: versioned JSON data that says, element by element, what happens to a
//! record. Rules are tried in order and the first that matches an element decides its fate;
//! elements no rule matches are kept, but their text still goes through the free-text checks
//! of the `text` section (the known-identifier sweep and the patterns).

use serde::{Deserialize, Serialize};

mod describe;

/// The value of a policy's `format` field.
pub const POLICY_FORMAT: &str = "medseal-mask-policy";
/// The policy schema version this code reads and writes.
pub const POLICY_VERSION: u32 = 1;

/// Why a policy was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PolicyError {
    /// The text is not JSON of the policy's shape; the message names the field and position.
    #[error("the policy is not valid JSON for a masking policy: {0}")]
    Json(String),
    /// The `format` field names something other than a MedSeal masking policy.
    #[error(
        "this is not a MedSeal masking policy (format is \"{0}\", expected \"medseal-mask-policy\")"
    )]
    Format(String),
    /// The policy was written for a schema version this code does not know.
    #[error(
        "masking policy version {0} is not supported (this version of MedSeal reads version 1)"
    )]
    Version(u32),
    /// The policy has no name.
    #[error("the policy has no name")]
    NoName,
    /// A rule has an empty `id`.
    #[error("rule number {0} has an empty id")]
    EmptyRuleId(usize),
    /// Two rules share an `id`, so the report could not tell them apart.
    #[error("two rules share the id \"{0}\"")]
    DuplicateRuleId(String),
    /// A rule's `match` has no criterion, so it would match every element of every record.
    #[error(
        "rule \"{0}\" matches nothing in particular: give at least one of resource, path, type or extension"
    )]
    EmptyMatch(String),
    /// A rule's path is not of the form `Resource.element.element` or `element.element`.
    #[error(
        "rule \"{rule}\": \"{path}\" is not a valid element path (expected names separated by dots, such as \"Patient.address.postalCode\")"
    )]
    BadPath {
        /// The rule's id.
        rule: String,
        /// The path as written.
        path: String,
    },
    /// A rule applies a method to a data type it cannot handle.
    #[error("rule \"{rule}\": {method} cannot be applied to {data_type} ({hint})")]
    Incompatible {
        /// The rule's id.
        rule: String,
        /// The method, as written in JSON.
        method: &'static str,
        /// The data type, as written in JSON.
        data_type: &'static str,
        /// What to use instead.
        hint: &'static str,
    },
    /// A `substitute` rule has no `value` to substitute.
    #[error("rule \"{0}\": substitute needs a \"value\" to put in place of the original")]
    MissingValue(String),
    /// A rule other than `substitute` has a `value`, which would be silently ignored.
    #[error("rule \"{0}\": only substitute rules take a \"value\"")]
    UnexpectedValue(String),
    /// The CSV section names a column twice.
    #[error("CSV column \"{0}\" has two rules")]
    DuplicateColumn(String),
    /// The date method for free text is not one that applies to dates.
    #[error("text.dates must be keep, redact, generalize or date-shift, not {0}")]
    TextDates(&'static str),
}

/// What a rule does to the elements it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Leave the element exactly as it is (no free-text checks either).
    Keep,
    /// Remove the element.
    Redact,
    /// Make it coarser: dates to the year, ZIP codes to three digits (000 for the low-population
    /// prefixes), addresses to state and country, ages over 89 to "90 or older".
    Generalize,
    /// Move dates by the patient's secret offset in days, the same for all of one patient's dates.
    DateShift,
    /// Replace with a keyed pseudonym (HMAC-SHA256 under the caller's key).
    Pseudonym,
    /// Replace with the rule's `value`.
    Substitute,
}

impl Method {
    /// The method's name as written in policies.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Keep => "keep",
            Self::Redact => "redact",
            Self::Generalize => "generalize",
            Self::DateShift => "date-shift",
            Self::Pseudonym => "pseudonym",
            Self::Substitute => "substitute",
        }
    }
}

/// FHIR data types (and a few element roles) rules can select.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DataType {
    /// A person's name.
    HumanName,
    /// A postal address (also `valueAddress` in extensions such as birthPlace).
    Address,
    /// A phone number, fax, email, pager or URL.
    ContactPoint,
    /// A business identifier (MRN, SSN, licence, claim number...).
    Identifier,
    /// A reference to another resource, and a Bundle entry's `fullUrl`.
    Reference,
    /// An attachment (clinical notes, PDFs, photos).
    Attachment,
    /// An age (a Quantity in years).
    Age,
    /// A date without a time (`YYYY`, `YYYY-MM`, `YYYY-MM-DD`).
    #[serde(rename = "date")]
    Date,
    /// A date with a time of day.
    #[serde(rename = "dateTime")]
    DateTime,
    /// A machine timestamp (`issued`, `meta.lastUpdated`, `recorded`...).
    #[serde(rename = "instant")]
    Instant,
    /// A resource's logical id (not the ids of contained resources, which are local).
    #[serde(rename = "id")]
    Id,
}

impl DataType {
    /// The type's name as written in policies.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HumanName => "HumanName",
            Self::Address => "Address",
            Self::ContactPoint => "ContactPoint",
            Self::Identifier => "Identifier",
            Self::Reference => "Reference",
            Self::Attachment => "Attachment",
            Self::Age => "Age",
            Self::Date => "date",
            Self::DateTime => "dateTime",
            Self::Instant => "instant",
            Self::Id => "id",
        }
    }

    /// Whether values of this type are dates.
    #[must_use]
    pub fn is_date(self) -> bool {
        matches!(self, Self::Date | Self::DateTime | Self::Instant)
    }
}

/// The 18 kinds of identifier of HIPAA Safe Harbor, 45 CFR 164.514(b)(2)(i)(A) to (R), used to
/// label what a rule removes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdentifierKind {
    /// (A) Names.
    Names,
    /// (B) Geographic subdivisions smaller than a state, including ZIP codes.
    Geographic,
    /// (C) All elements of dates (except year) related to the individual, and ages over 89.
    Dates,
    /// (D) Telephone numbers.
    Telephone,
    /// (E) Fax numbers.
    Fax,
    /// (F) Email addresses.
    Email,
    /// (G) Social security numbers.
    Ssn,
    /// (H) Medical record numbers.
    Mrn,
    /// (I) Health plan beneficiary numbers.
    HealthPlan,
    /// (J) Account numbers.
    Account,
    /// (K) Certificate and licence numbers (driver's licence, passport).
    License,
    /// (L) Vehicle identifiers and serial numbers, including licence plates.
    Vehicle,
    /// (M) Device identifiers and serial numbers.
    Device,
    /// (N) Web URLs.
    Url,
    /// (O) IP addresses.
    Ip,
    /// (P) Biometric identifiers, including finger and voice prints.
    Biometric,
    /// (Q) Full-face photographs and comparable images.
    Photo,
    /// (R) Any other unique identifying number, characteristic or code.
    Other,
}

impl IdentifierKind {
    /// All 18 kinds, in the order of the regulation.
    pub const ALL: [IdentifierKind; 18] = [
        Self::Names,
        Self::Geographic,
        Self::Dates,
        Self::Telephone,
        Self::Fax,
        Self::Email,
        Self::Ssn,
        Self::Mrn,
        Self::HealthPlan,
        Self::Account,
        Self::License,
        Self::Vehicle,
        Self::Device,
        Self::Url,
        Self::Ip,
        Self::Biometric,
        Self::Photo,
        Self::Other,
    ];

    /// The kind's name as written in policies and reports.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Names => "names",
            Self::Geographic => "geographic",
            Self::Dates => "dates",
            Self::Telephone => "telephone",
            Self::Fax => "fax",
            Self::Email => "email",
            Self::Ssn => "ssn",
            Self::Mrn => "mrn",
            Self::HealthPlan => "health-plan",
            Self::Account => "account",
            Self::License => "license",
            Self::Vehicle => "vehicle",
            Self::Device => "device",
            Self::Url => "url",
            Self::Ip => "ip",
            Self::Biometric => "biometric",
            Self::Photo => "photo",
            Self::Other => "other",
        }
    }

    /// A plain-words name for the patient's preview.
    #[must_use]
    pub fn plain(self) -> &'static str {
        match self {
            Self::Names => "names",
            Self::Geographic => "addresses and places",
            Self::Dates => "dates and ages",
            Self::Telephone => "phone numbers",
            Self::Fax => "fax numbers",
            Self::Email => "email addresses",
            Self::Ssn => "social security numbers",
            Self::Mrn => "medical record numbers",
            Self::HealthPlan => "health plan numbers",
            Self::Account => "account numbers",
            Self::License => "licence and passport numbers",
            Self::Vehicle => "vehicle identifiers",
            Self::Device => "device identifiers",
            Self::Url => "web addresses",
            Self::Ip => "IP addresses",
            Self::Biometric => "biometric identifiers",
            Self::Photo => "photos and images",
            Self::Other => "other identifying numbers",
        }
    }
}

/// One value or a list of them, so `"resource": "Patient"` and `"resource": ["Patient"]` both
/// read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany<T> {
    /// A single value.
    One(T),
    /// A list.
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    /// The values as a slice.
    #[must_use]
    pub fn as_slice(&self) -> &[T] {
        match self {
            Self::One(t) => std::slice::from_ref(t),
            Self::Many(v) => v,
        }
    }
}

/// Which elements a rule applies to. Every criterion given must hold.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Selector {
    /// Resource types (`Patient`, `RelatedPerson`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<OneOrMany<String>>,
    /// Element path from the resource, e.g. `address.postalCode` or `Patient.birthDate`; array
    /// positions are not written and `*` stands for any one name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Data types.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub data_type: Option<OneOrMany<DataType>>,
    /// An extension URL: the rule applies to extensions with this URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
}

/// One rule of a policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// A short name, unique in the policy; the report counts changes under it.
    pub id: String,
    /// Which elements the rule applies to.
    #[serde(rename = "match")]
    pub selector: Selector,
    /// What happens to them.
    pub method: Method,
    /// The kind of identifier this rule removes (for the report and the coverage check).
    pub kind: IdentifierKind,
    /// For `substitute`: the JSON value put in place of the original.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    /// A plain-words description shown to the patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// Patterns the free-text scanner looks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextPattern {
    /// Phone and fax numbers such as `555-657-5098` or `(555) 657-5098`.
    Phone,
    /// Email addresses.
    Email,
    /// Social security numbers (`999-33-5538`).
    Ssn,
    /// Web addresses (`http://`, `https://`, `www.`).
    Url,
    /// IPv4 addresses.
    Ip,
    /// Dates (`2003-06-12`, `06/12/2003`, `June 12, 2003`), handled by `text.dates`.
    Date,
    /// Ages over 89 (`92 year-old`, `aged 94`, `ninety-three years old`), replaced by
    /// "90 or older".
    Age,
    /// People's names in prose, from context: after titles (`Mr.`), labels (`Patient:`) and
    /// words of kinship or company (`daughter Priya`, `spoke with`).
    Name,
    /// Places in prose: street addresses, units, PO boxes, `City, ST` (the state stays),
    /// counties, ZIP codes after a state or label, places after `lives in`, `from`, `near`.
    Place,
    /// Employers and schools after `works at`, `employed by`, `Employer:`.
    Employer,
    /// Labelled numbers (`MRN`, `member ID`, `acct`, `licence`, `plate`, `serial`...) and
    /// identifier-shaped tokens (`RA-7719204`, seven digits or more).
    Identifier,
}

impl TextPattern {
    /// The identifier kind the pattern finds.
    #[must_use]
    pub fn kind(self) -> IdentifierKind {
        match self {
            Self::Phone => IdentifierKind::Telephone,
            Self::Email => IdentifierKind::Email,
            Self::Ssn => IdentifierKind::Ssn,
            Self::Url => IdentifierKind::Url,
            Self::Ip => IdentifierKind::Ip,
            Self::Date | Self::Age => IdentifierKind::Dates,
            Self::Name => IdentifierKind::Names,
            Self::Place => IdentifierKind::Geographic,
            Self::Employer | Self::Identifier => IdentifierKind::Other,
        }
    }

    /// The pattern's name as written in policies.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Phone => "phone",
            Self::Email => "email",
            Self::Ssn => "ssn",
            Self::Url => "url",
            Self::Ip => "ip",
            Self::Date => "date",
            Self::Age => "age",
            Self::Name => "name",
            Self::Place => "place",
            Self::Employer => "employer",
            Self::Identifier => "identifier",
        }
    }
}

fn yes() -> bool {
    true
}

fn default_text_dates() -> Method {
    Method::Generalize
}

/// How free text is treated: narratives, notes, display strings, decoded attachments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TextRules {
    /// Remove, wherever they occur, the values the record's own Patient, RelatedPerson and
    /// Person resources reveal (names, address lines, phone, email, identifiers, birth date).
    #[serde(default = "yes")]
    pub sweep_known_identifiers: bool,
    /// Patterns to look for in free text.
    #[serde(default)]
    pub patterns: Vec<TextPattern>,
    /// What happens to dates found in free text.
    #[serde(default = "default_text_dates")]
    pub dates: Method,
    /// Remove attachments that are not text (images, PDFs): they cannot be checked.
    #[serde(default = "yes")]
    pub redact_binary_attachments: bool,
    /// Prose (narratives, notes, comments, descriptions, text attachments and documents):
    /// scanned and scrubbed (the default), or removed whole.
    #[serde(default, skip_serializing_if = "FreeText::is_scrub")]
    pub free_text: FreeText,
}

/// What happens to prose: narratives (`text.div`), annotations (`note`), prose strings
/// (`description`, `comment`, `valueString`...), decoded text attachments, plain-text
/// documents and CSV cells of notes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FreeText {
    /// Searched for identifiers, which are replaced; the rest of the prose is kept.
    #[default]
    Scrub,
    /// Removed whole; structured data (codes, values, dates, references) is kept.
    Remove,
}

impl FreeText {
    /// Whether this is the default, [`FreeText::Scrub`].
    #[must_use]
    pub fn is_scrub(&self) -> bool {
        *self == Self::Scrub
    }
}

impl Default for TextRules {
    fn default() -> Self {
        Self {
            sweep_known_identifiers: true,
            patterns: Vec::new(),
            dates: Method::Generalize,
            redact_binary_attachments: true,
            free_text: FreeText::Scrub,
        }
    }
}

/// A rule for one CSV column, by header name (compared without case, spaces or punctuation).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnRule {
    /// The header name.
    pub column: String,
    /// What happens to the column's cells.
    pub method: Method,
    /// The kind of identifier the column holds.
    pub kind: IdentifierKind,
    /// For `substitute`: the text put in place of each cell (a JSON string).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// How CSV tables are treated.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvRules {
    /// Rules for named columns, tried before the defaults.
    #[serde(default)]
    pub columns: Vec<ColumnRule>,
    /// Recognise common column names (name, address, zip, phone, email, ssn, mrn, birth date,
    /// age, dates...) and treat them like the matching FHIR data.
    #[serde(default = "yes")]
    pub default_columns: bool,
}

impl Default for CsvRules {
    fn default() -> Self {
        Self {
            columns: Vec::new(),
            default_columns: true,
        }
    }
}

/// A masking policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Always `medseal-mask-policy`.
    pub format: String,
    /// The schema version, 1.
    pub version: u32,
    /// A short name such as `safe-harbor`.
    pub name: String,
    /// One sentence for people.
    #[serde(default)]
    pub description: String,
    /// Rules, first match wins.
    pub rules: Vec<Rule>,
    /// Free-text handling.
    #[serde(default)]
    pub text: TextRules,
    /// CSV handling.
    #[serde(default)]
    pub csv: CsvRules,
}

/// The built-in Safe Harbor policy, as JSON (readable, and the same text the UI can show).
pub const SAFE_HARBOR_JSON: &str = include_str!("safe-harbor.json");

impl Policy {
    /// The built-in HIPAA Safe Harbor policy: all 18 identifier kinds, clinical content kept.
    #[must_use]
    pub fn safe_harbor() -> Self {
        // The built-in text is checked by a unit test, so parsing cannot fail at run time; an
        // empty policy that keeps nothing would be wrong, hence the fall back to no rules only
        // as a last resort that the test makes unreachable.
        Self::from_json(SAFE_HARBOR_JSON).unwrap_or_else(|_| Self {
            format: POLICY_FORMAT.to_owned(),
            version: POLICY_VERSION,
            name: "safe-harbor".to_owned(),
            description: String::new(),
            rules: Vec::new(),
            text: TextRules::default(),
            csv: CsvRules::default(),
        })
    }

    /// A built-in policy by name (`safe-harbor`).
    #[must_use]
    pub fn builtin(name: &str) -> Option<Self> {
        match name {
            "safe-harbor" => Some(Self::safe_harbor()),
            _ => None,
        }
    }

    /// Reads and validates a policy.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the field or rule at fault.
    pub fn from_json(text: &str) -> Result<Self, PolicyError> {
        #[derive(Deserialize)]
        struct Head {
            format: Option<String>,
            version: Option<u32>,
        }
        // Check the format and version first, so an old or foreign file gets that message
        // rather than a complaint about some field.
        if let Ok(head) = serde_json::from_str::<Head>(text) {
            if let Some(f) = head.format.filter(|f| f != POLICY_FORMAT) {
                return Err(PolicyError::Format(f));
            }
            if let Some(v) = head.version.filter(|v| *v != POLICY_VERSION) {
                return Err(PolicyError::Version(v));
            }
        }
        let policy: Policy =
            serde_json::from_str(text).map_err(|e| PolicyError::Json(e.to_string()))?;
        policy.validate()?;
        Ok(policy)
    }

    /// The policy as pretty JSON.
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Checks everything `from_json` checks, for policies built in code.
    ///
    /// # Errors
    /// A [`PolicyError`] naming the rule at fault.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.format != POLICY_FORMAT {
            return Err(PolicyError::Format(self.format.clone()));
        }
        if self.version != POLICY_VERSION {
            return Err(PolicyError::Version(self.version));
        }
        if self.name.trim().is_empty() {
            return Err(PolicyError::NoName);
        }
        let mut ids = std::collections::HashSet::new();
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.id.trim().is_empty() {
                return Err(PolicyError::EmptyRuleId(i + 1));
            }
            if !ids.insert(rule.id.as_str()) {
                return Err(PolicyError::DuplicateRuleId(rule.id.clone()));
            }
            let s = &rule.selector;
            if s.resource.is_none()
                && s.path.is_none()
                && s.data_type.is_none()
                && s.extension.is_none()
            {
                return Err(PolicyError::EmptyMatch(rule.id.clone()));
            }
            if let Some(path) = &s.path {
                let ok = !path.is_empty()
                    && path.split('.').all(|seg| {
                        seg == "*"
                            || (!seg.is_empty()
                                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_'))
                    });
                if !ok {
                    return Err(PolicyError::BadPath {
                        rule: rule.id.clone(),
                        path: path.clone(),
                    });
                }
            }
            check_value(&rule.id, rule.method, rule.value.is_some())?;
            for t in s.data_type.as_ref().map(OneOrMany::as_slice).unwrap_or(&[]) {
                check_compatible(&rule.id, rule.method, *t)?;
            }
        }
        let mut columns = std::collections::HashSet::new();
        for c in &self.csv.columns {
            if !columns.insert(normalize_column(&c.column)) {
                return Err(PolicyError::DuplicateColumn(c.column.clone()));
            }
            check_value(&c.column, c.method, c.value.is_some())?;
        }
        if matches!(self.text.dates, Method::Pseudonym | Method::Substitute) {
            return Err(PolicyError::TextDates(self.text.dates.as_str()));
        }
        Ok(())
    }
}

fn check_value(rule: &str, method: Method, has_value: bool) -> Result<(), PolicyError> {
    match (method, has_value) {
        (Method::Substitute, false) => Err(PolicyError::MissingValue(rule.to_owned())),
        (Method::Substitute, true) | (_, false) => Ok(()),
        (_, true) => Err(PolicyError::UnexpectedValue(rule.to_owned())),
    }
}

fn check_compatible(rule: &str, method: Method, t: DataType) -> Result<(), PolicyError> {
    use DataType as T;
    let bad = |hint| {
        Err(PolicyError::Incompatible {
            rule: rule.to_owned(),
            method: method.as_str(),
            data_type: t.as_str(),
            hint,
        })
    };
    match method {
        Method::Keep | Method::Redact | Method::Substitute => Ok(()),
        Method::Generalize => match t {
            T::Date | T::DateTime | T::Instant | T::Address | T::Age => Ok(()),
            _ => bad(
                "generalize applies to dates, addresses and ages; use redact, pseudonym or substitute",
            ),
        },
        Method::DateShift => match t {
            T::Date | T::DateTime | T::Instant => Ok(()),
            _ => bad("date-shift applies to date, dateTime and instant only"),
        },
        Method::Pseudonym => match t {
            T::Identifier | T::Reference | T::Id => Ok(()),
            _ => bad("pseudonym applies to Identifier, Reference and id; use redact or generalize"),
        },
    }
}

/// A CSV header name reduced for comparison: lower case, letters and digits only.
#[must_use]
pub fn normalize_column(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}
