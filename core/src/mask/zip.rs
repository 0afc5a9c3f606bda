//! ZIP code generalisation for HIPAA Safe Harbor.

/// Three-digit ZIP prefixes whose geographic units held 20,000 people or fewer in the 2000 US
/// census. Safe Harbor (45 CFR 164.514(b)(2)(i)(B)) lets the first three digits of a ZIP code
/// stay only when the unit they form has more than 20,000 people; these must become `000`.
/// Source: HHS Office for Civil Rights, "Guidance Regarding Methods for De-identification of
/// Protected Health Information in Accordance with the HIPAA Privacy Rule" (2012), section
/// 2.4 (the list of the 17 restricted prefixes drawn from the 2000 census).
pub const LOW_POPULATION_ZIP3: [&str; 17] = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821", "823", "830", "831", "878",
    "879", "884", "890", "893",
];

/// The Safe Harbor form of a postal code: a US ZIP (5 digits, ZIP+4, or 9 digits) becomes its
/// first three digits, or `000` for a low-population prefix. Anything else is not a US ZIP code
/// and cannot be generalised safely, so it gives `None` (the caller removes it).
#[must_use]
pub fn generalize_zip(code: &str) -> Option<String> {
    let code = code.trim();
    let b = code.as_bytes();
    let us = match b.len() {
        5 | 9 => b.iter().all(u8::is_ascii_digit),
        10 => b[5] == b'-' && b[..5].iter().chain(&b[6..]).all(u8::is_ascii_digit),
        3 => b.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !us {
        return None;
    }
    let prefix = &code[..3];
    Some(if LOW_POPULATION_ZIP3.contains(&prefix) {
        "000".to_owned()
    } else {
        prefix.to_owned()
    })
}

/// US states, the District of Columbia and the inhabited territories, by name and USPS
/// abbreviation (USPS Publication 28, appendix B), and ways of writing the country. Safe Harbor
/// removes geographic units smaller than a state, so these may stay.
const STATES: [(&str, &str); 56] = [
    ("alabama", "al"),
    ("alaska", "ak"),
    ("arizona", "az"),
    ("arkansas", "ar"),
    ("california", "ca"),
    ("colorado", "co"),
    ("connecticut", "ct"),
    ("delaware", "de"),
    ("district of columbia", "dc"),
    ("florida", "fl"),
    ("georgia", "ga"),
    ("hawaii", "hi"),
    ("idaho", "id"),
    ("illinois", "il"),
    ("indiana", "in"),
    ("iowa", "ia"),
    ("kansas", "ks"),
    ("kentucky", "ky"),
    ("louisiana", "la"),
    ("maine", "me"),
    ("maryland", "md"),
    ("massachusetts", "ma"),
    ("michigan", "mi"),
    ("minnesota", "mn"),
    ("mississippi", "ms"),
    ("missouri", "mo"),
    ("montana", "mt"),
    ("nebraska", "ne"),
    ("nevada", "nv"),
    ("new hampshire", "nh"),
    ("new jersey", "nj"),
    ("new mexico", "nm"),
    ("new york", "ny"),
    ("north carolina", "nc"),
    ("north dakota", "nd"),
    ("ohio", "oh"),
    ("oklahoma", "ok"),
    ("oregon", "or"),
    ("pennsylvania", "pa"),
    ("rhode island", "ri"),
    ("south carolina", "sc"),
    ("south dakota", "sd"),
    ("tennessee", "tn"),
    ("texas", "tx"),
    ("utah", "ut"),
    ("vermont", "vt"),
    ("virginia", "va"),
    ("washington", "wa"),
    ("west virginia", "wv"),
    ("wisconsin", "wi"),
    ("wyoming", "wy"),
    ("puerto rico", "pr"),
    ("guam", "gu"),
    ("american samoa", "as"),
    ("u.s. virgin islands", "vi"),
    ("northern mariana islands", "mp"),
];

const COUNTRY: [&str; 7] = [
    "us",
    "usa",
    "u.s.",
    "u.s.a.",
    "united states",
    "united states of america",
    "america",
];

/// Whether a value is a US state (name or abbreviation) or the country, which Safe Harbor
/// lets stay: such a value is never a known identifier to sweep from other text.
#[must_use]
pub fn is_state_or_country(value: &str) -> bool {
    // The lists are in lower-case ASCII and at most 24 bytes long: the value is lowered (ASCII
    // only, as before) into a small buffer and looked up in a set of them all.
    static SET: std::sync::OnceLock<super::fasthash::FastSet<&'static str>> =
        std::sync::OnceLock::new();
    let v = value.trim().as_bytes();
    let mut buf = [0u8; 32];
    let Some(low) = buf.get_mut(..v.len()) else {
        return false;
    };
    for (d, c) in low.iter_mut().zip(v) {
        *d = c.to_ascii_lowercase();
    }
    let Ok(low) = std::str::from_utf8(low) else {
        return false;
    };
    SET.get_or_init(|| {
        STATES
            .iter()
            .flat_map(|(name, abbr)| [*name, *abbr])
            .chain(COUNTRY)
            .collect()
    })
    .contains(low)
}

#[cfg(test)]
mod tests {
    use super::{COUNTRY, STATES, generalize_zip, is_state_or_country};

    #[test]
    fn states_and_country_found_as_a_plain_comparison_finds_them() {
        let plain = |value: &str| {
            let v = value.trim().to_ascii_lowercase();
            STATES.iter().any(|(name, abbr)| v == *name || v == *abbr)
                || COUNTRY.contains(&v.as_str())
        };
        let mut cases: Vec<String> = STATES
            .iter()
            .flat_map(|(n, a)| [n.to_uppercase(), format!(" {a} "), format!("{n}x")])
            .collect();
        cases.extend(COUNTRY.iter().map(|c| c.to_uppercase()));
        cases.extend(
            [
                "",
                "W",
                "Wa.",
                "Ohio\n",
                "United  States",
                "Zürich",
                "ﬁ",
                "Massachusetts Avenue",
            ]
            .map(str::to_owned),
        );
        cases.push("x".repeat(40));
        for c in &cases {
            assert_eq!(is_state_or_country(c), plain(c), "{c:?}");
        }
        assert!(STATES.iter().all(|(n, a)| n.len() <= 32 && a.len() <= 32));
        assert!(COUNTRY.iter().all(|c| c.len() <= 32));
    }

    #[test]
    fn zip3() {
        assert_eq!(generalize_zip("98053").as_deref(), Some("980"));
        assert_eq!(generalize_zip("98028-2702").as_deref(), Some("980"));
        assert_eq!(generalize_zip("03601").as_deref(), Some("000"));
        assert_eq!(generalize_zip("89301").as_deref(), Some("000"));
        assert_eq!(generalize_zip("SW1A 1AA"), None);
    }
}
