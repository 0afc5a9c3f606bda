//! The policy in plain words, for the patient's preview and the contribution page.

use super::{DataType, FreeText, Method, OneOrMany, Policy, Rule, TextPattern};

impl Policy {
    /// The policy in plain words, one sentence a line, for the patient's preview.
    #[must_use]
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.description.is_empty() {
            out.push(self.description.clone());
        }
        for rule in &self.rules {
            out.push(match &rule.description {
                Some(d) => d.clone(),
                None => describe_rule(rule),
            });
        }
        let t = &self.text;
        if t.sweep_known_identifiers {
            out.push(
                "Your names, address, phone numbers, email, record and ID numbers and birth date \
                 are also searched for and removed everywhere else they appear: notes, \
                 narratives, display text and attached documents."
                    .to_owned(),
            );
        }
        if t.free_text == FreeText::Remove {
            out.push(
                "Notes, narratives, comments, descriptions and text documents are removed \
                 entirely; only the structured data (codes, values, units, dates) is shared."
                    .to_owned(),
            );
        }
        if !t.patterns.is_empty() {
            let names: Vec<&str> = t.patterns.iter().map(|p| pattern_plain(*p)).collect();
            let what = if t.free_text == FreeText::Remove {
                "The remaining text (labels and display text)"
            } else {
                "Free text"
            };
            out.push(format!(
                "{what} is also scanned for {}.",
                join_words(&names)
            ));
        }
        if t.patterns.contains(&TextPattern::Date) {
            out.push(format!(
                "Dates found in free text are {}.",
                method_plain(t.dates, true)
            ));
        }
        if t.redact_binary_attachments {
            out.push(
                "Attached images and PDF files are removed, because they cannot be checked for \
                 identifiers."
                    .to_owned(),
            );
        }
        out.push(
            "Medical content is kept: diagnoses, lab results, medications, immunizations and \
             procedures, with their codes (LOINC, SNOMED CT, RxNorm, CVX, ICD), values, units \
             and reference ranges."
                .to_owned(),
        );
        out
    }
}

fn pattern_plain(p: TextPattern) -> &'static str {
    match p {
        TextPattern::Phone => "phone numbers",
        TextPattern::Email => "email addresses",
        TextPattern::Ssn => "social security numbers",
        TextPattern::Url => "web addresses",
        TextPattern::Ip => "IP addresses",
        TextPattern::Date => "dates",
        TextPattern::Age => "ages over 89",
        TextPattern::Name => "people's names",
        TextPattern::Place => "addresses and places",
        TextPattern::Employer => "employers",
        TextPattern::Identifier => "identifying numbers",
    }
}

fn join_words(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => (*one).to_owned(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn method_plain(m: Method, dates: bool) -> &'static str {
    match m {
        Method::Keep => "kept as they are",
        Method::Redact => "removed",
        Method::Generalize if dates => "reduced to the year",
        Method::Generalize => "made less precise",
        Method::DateShift => {
            "moved by a secret number of days, the same for all of one patient's dates, so the \
             time between events is kept"
        }
        Method::Pseudonym => {
            "replaced by a code that links your records together inside this study only"
        }
        Method::Substitute => "replaced by a fixed text",
    }
}

fn describe_rule(rule: &Rule) -> String {
    let s = &rule.selector;
    let mut what = match s.data_type.as_ref().map(OneOrMany::as_slice) {
        Some(types) => {
            let names: Vec<&str> = types.iter().map(|t| type_plain(*t)).collect();
            join_words(&names)
        }
        None => match &s.path {
            Some(p) => format!("the element {p}"),
            None => rule.kind.plain().to_owned(),
        },
    };
    if let Some(url) = &s.extension {
        what = format!("extensions {url}");
    }
    if let Some(res) = &s.resource {
        what = format!("{what} in {}", res.as_slice().join(", "));
    }
    let dates = s
        .data_type
        .as_ref()
        .is_some_and(|t| t.as_slice().iter().all(|t| t.is_date()));
    let mut line = format!(
        "{}: {}.",
        capitalize(&what),
        method_plain(rule.method, dates)
    );
    if rule.method == Method::Generalize && !dates {
        line = format!(
            "{}: made less precise (addresses keep only the state, country and the first three \
             digits of the ZIP code; ages over 89 become \"90 or older\").",
            capitalize(&what)
        );
    }
    line
}

fn type_plain(t: DataType) -> &'static str {
    match t {
        DataType::HumanName => "names",
        DataType::Address => "addresses",
        DataType::ContactPoint => "phone numbers, emails and other contact details",
        DataType::Identifier => "identifiers",
        DataType::Reference => "links between records",
        DataType::Attachment => "attachments",
        DataType::Age => "ages",
        DataType::Date => "dates",
        DataType::DateTime => "dates with times",
        DataType::Instant => "timestamps",
        DataType::Id => "record ids",
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => String::new(),
    }
}
