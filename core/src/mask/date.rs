//! FHIR date, dateTime and instant values: recognising them, generalising them to the year and
//! shifting them by whole days (time of day and zone are kept, so intervals survive exactly).

/// A parsed FHIR date or dateTime: `YYYY`, `YYYY-MM`, `YYYY-MM-DD`, optionally followed by a
/// time part starting with `T` that is carried along untouched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FhirDate<'a> {
    pub year: i32,
    pub month: Option<u32>,
    pub day: Option<u32>,
    /// Everything from `T` onwards (empty for a plain date).
    pub time: &'a str,
}

fn digits(s: &[u8]) -> Option<u32> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(s.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0')))
}

impl<'a> FhirDate<'a> {
    /// Parses a whole string as a FHIR date/dateTime/instant; `None` if it is anything else.
    #[must_use]
    pub fn parse(s: &'a str) -> Option<Self> {
        let b = s.as_bytes();
        if b.len() < 4 {
            return None;
        }
        let year = digits(&b[0..4])? as i32;
        let mut date = FhirDate {
            year,
            month: None,
            day: None,
            time: "",
        };
        if b.len() == 4 {
            return Some(date);
        }
        if b.len() < 7 || b[4] != b'-' {
            return None;
        }
        let month = digits(&b[5..7])?;
        if !(1..=12).contains(&month) {
            return None;
        }
        date.month = Some(month);
        if b.len() == 7 {
            return Some(date);
        }
        if b.len() < 10 || b[7] != b'-' {
            return None;
        }
        let day = digits(&b[8..10])?;
        if day < 1 || day > days_in_month(year, month) {
            return None;
        }
        date.day = Some(day);
        if b.len() == 10 {
            return Some(date);
        }
        if b[10] != b'T' || !valid_time(&b[11..]) {
            return None;
        }
        date.time = &s[10..];
        Some(date)
    }

    /// The year alone, as a FHIR date.
    #[must_use]
    pub fn year_string(&self) -> String {
        format!("{:04}", self.year)
    }

    /// The same value moved by `days`, at the same precision. A month-precision value is
    /// shifted from mid-month and a year-precision one from mid-year, then truncated again.
    #[must_use]
    pub fn shifted(&self, days: i64) -> String {
        let (m, d) = (
            self.month.unwrap_or(7),
            self.day
                .unwrap_or(if self.month.is_some() { 15 } else { 2 }),
        );
        let n = days_from_civil(self.year, m, d) + days;
        let (y, m2, d2) = civil_from_days(n);
        match (self.month, self.day) {
            (None, _) => format!("{y:04}"),
            (Some(_), None) => format!("{y:04}-{m2:02}"),
            (Some(_), Some(_)) => format!("{y:04}-{m2:02}-{d2:02}{}", self.time),
        }
    }

    /// Whether the value names a day (or something finer).
    #[must_use]
    pub fn has_day(&self) -> bool {
        self.day.is_some()
    }
}

fn valid_time(t: &[u8]) -> bool {
    // hh:mm[:ss[.f+]][Z|(+|-)hh:mm]; lenient on the zone, strict on the shape of the clock.
    t.len() >= 5
        && t[0].is_ascii_digit()
        && t[1].is_ascii_digit()
        && t[2] == b':'
        && t[3].is_ascii_digit()
        && t[4].is_ascii_digit()
        && t[5..]
            .iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b':' | b'.' | b'Z' | b'+' | b'-'))
}

/// Days in a month of the proleptic Gregorian calendar.
#[must_use]
pub fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 0,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
#[must_use]
pub fn days_from_civil(y: i32, m: u32, d: u32) -> i64 {
    let y = i64::from(y) - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The inverse of `days_from_civil`: the civil date of a day number.
#[must_use]
pub fn civil_from_days(z: i64) -> (i32, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    ((y + i64::from(m <= 2)) as i32, m, d)
}

/// Whole years between a birth date and a later date.
#[must_use]
pub fn age_at(birth: &FhirDate<'_>, at: &FhirDate<'_>) -> i32 {
    let mut age = at.year - birth.year;
    let before_birthday = match (birth.month, at.month) {
        (Some(bm), Some(am)) => (am, at.day.unwrap_or(31)) < (bm, birth.day.unwrap_or(1)),
        _ => false,
    };
    if before_birthday {
        age -= 1;
    }
    age
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_shifts() {
        let d = FhirDate::parse("2003-06-12T12:26:53-07:00").unwrap();
        assert_eq!(d.year_string(), "2003");
        assert_eq!(d.shifted(20), "2003-07-02T12:26:53-07:00");
        assert_eq!(
            FhirDate::parse("2020-02-28").unwrap().shifted(1),
            "2020-02-29"
        );
        assert_eq!(FhirDate::parse("2019-12").unwrap().shifted(30), "2020-01");
        assert!(FhirDate::parse("2186-5").is_none());
        assert!(FhirDate::parse("2003-13-01").is_none());
        assert!(FhirDate::parse("12345").is_none());
        for z in [-800_000, -1, 0, 1, 18_000, 50_000] {
            let (y, m, d) = civil_from_days(z);
            assert_eq!(days_from_civil(y, m, d), z);
        }
    }
}
