//! Identifiers in clinical prose that the record does not name elsewhere: people's names
//! after titles, labels and words of kinship or company; places (street addresses, units,
//! "City, ST", counties, places after "lives in"); employers after "works at"; labelled and
//! identifier-shaped numbers; dates written in words or with ordinals; ages over 89 in words.
//!
//! Everything here is found from context and shape, never from a list of the record's own
//! values (that is the sweep's job). The detectors work on words (runs of letters, digits
//! and the joiners `'`, `’`, `-`), so names in any alphabet are one word, and their spans
//! always start and end on character boundaries. Clinical words that look like names
//! (eponyms such as Parkinson's or Crohn's, drug names, weekdays) are never taken.

use super::policy::{IdentifierKind, Method, TextPattern};

/// `LIST.contains(&word)` through a hash set made once (per call site): the detectors test
/// most words of a note against lists of a hundred words or more.
macro_rules! listed {
    ($list:expr, $word:expr) => {{
        static SET: std::sync::OnceLock<super::fasthash::FastSet<&'static str>> =
            std::sync::OnceLock::new();
        SET.get_or_init(|| $list.iter().copied().collect())
            .contains::<str>($word)
    }};
}

/// One identifier found in prose: its byte range, the pattern and kind, and the replacement.
#[derive(Clone, Debug)]
pub(crate) struct Span {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) pattern: TextPattern,
    pub(crate) kind: IdentifierKind,
    pub(crate) replacement: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tk {
    Word,
    Num,
    /// Letters and digits mixed (`A-55821`, `7KXM392`, `HbA1c`).
    Mixed,
    Punct,
}

#[derive(Clone, Copy, Debug)]
struct Tok<'a> {
    start: usize,
    end: usize,
    text: &'a str,
    kind: Tk,
    /// Whitespace before this token contains a line break (or it starts the text).
    line_start: bool,
    /// Spaces before this token (0 when it touches the previous one).
    gap: usize,
}

impl Tok<'_> {
    /// The token in lower case, without allocating when it is already.
    fn low(&self) -> std::borrow::Cow<'_, str> {
        if self.text.chars().any(char::is_uppercase) {
            std::borrow::Cow::Owned(self.text.to_lowercase())
        } else {
            std::borrow::Cow::Borrowed(self.text)
        }
    }
}

/// Word lists compiled in (`data/README.md`: sources and licences): given names and surnames
/// of the 1990 US Census, US places of over 5,000 people and county names (GeoNames), and the
/// hand-written words that are never a name or place from a list alone.
mod lists {
    use std::sync::OnceLock;

    use super::super::fasthash::FastSet as HashSet;

    fn set(
        cell: &'static OnceLock<HashSet<&'static str>>,
        text: &'static str,
    ) -> &'static HashSet<&'static str> {
        cell.get_or_init(|| {
            let mut set =
                HashSet::with_capacity_and_hasher(text.lines().count(), Default::default());
            set.extend(text.lines().map(str::trim).filter(|l| !l.is_empty()));
            set
        })
    }

    pub(super) fn given(w: &str) -> bool {
        static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
        set(&S, include_str!("data/given.txt")).contains(w)
    }

    pub(super) fn surname(w: &str) -> bool {
        static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
        set(&S, include_str!("data/surnames.txt")).contains(w)
    }

    pub(super) fn place(w: &str) -> bool {
        static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
        set(&S, include_str!("data/places.txt")).contains(w)
    }

    pub(super) fn stop(w: &str) -> bool {
        static S: OnceLock<HashSet<&'static str>> = OnceLock::new();
        set(&S, include_str!("data/stop.txt")).contains(w)
    }
}

/// Whether a word (lower case) is a given name from the lists that is not also a common or
/// clinical word.
fn listed_given(l: &str) -> bool {
    lists::given(l) && !lists::stop(l) && !listed!(SOFT_GIVEN, l)
}

fn is_joiner(c: char) -> bool {
    matches!(c, '\'' | '’' | '-')
}

fn tokenize(s: &str) -> Vec<Tok<'_>> {
    let mut out = Vec::new();
    let mut it = s.char_indices().peekable();
    let mut line_start = true;
    let mut gap = 0;
    while let Some(&(i, c)) = it.peek() {
        if c.is_whitespace() {
            if c == '\n' || c == '\r' {
                line_start = true;
            }
            gap += 1;
            it.next();
            continue;
        }
        if c.is_alphanumeric() {
            let mut end = i;
            let (mut letters, mut digits) = (false, false);
            while let Some(&(j, d)) = it.peek() {
                if d.is_alphanumeric() {
                    letters |= d.is_alphabetic();
                    digits |= d.is_numeric();
                    end = j + d.len_utf8();
                    it.next();
                } else if is_joiner(d) {
                    // A joiner inside a word only: "O'Brien", "Al-Masri", "A-55821".
                    let next = s[j + d.len_utf8()..].chars().next();
                    if next.is_some_and(char::is_alphanumeric) {
                        end = j + d.len_utf8();
                        it.next();
                    } else {
                        break;
                    }
                } else {
                    break;
                }
            }
            let kind = match (letters, digits) {
                (true, true) => Tk::Mixed,
                (false, true) => Tk::Num,
                _ => Tk::Word,
            };
            out.push(Tok {
                start: i,
                end,
                text: &s[i..end],
                kind,
                line_start,
                gap,
            });
        } else {
            let end = i + c.len_utf8();
            it.next();
            out.push(Tok {
                start: i,
                end,
                text: &s[i..end],
                kind: Tk::Punct,
                line_start,
                gap,
            });
        }
        line_start = false;
        gap = 0;
    }
    out
}

/// A word in lower case: borrowed when it already is (ASCII without capitals, most words),
/// so the detectors' many look-ups of lower-case words allocate only for the others.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Lower<'a>(std::borrow::Cow<'a, str>);

impl Lower<'_> {
    fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Lower<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Lower<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<&str> for Lower<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<str> for Lower<'_> {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

fn lower(s: &str) -> Lower<'_> {
    // `to_lowercase` leaves ASCII without capitals as it is; anything else (capitals, and
    // non-ASCII letters, whose lower case may differ in other ways) takes the full mapping.
    if s.bytes().any(|b| b.is_ascii_uppercase() || !b.is_ascii()) {
        Lower(std::borrow::Cow::Owned(s.to_lowercase()))
    } else {
        Lower(std::borrow::Cow::Borrowed(s))
    }
}

fn is_capitalised(t: &Tok<'_>) -> bool {
    t.kind == Tk::Word && t.text.chars().next().is_some_and(char::is_uppercase)
}

fn is_all_caps(t: &Tok<'_>) -> bool {
    t.kind == Tk::Word
        && t.text
            .chars()
            .filter(|c| c.is_alphabetic())
            .all(char::is_uppercase)
}

const MONTHS: [&str; 12] = [
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
];

/// The month a word names (`Jan`, `Sept`, `September`), 1 to 12.
fn month_of(w: &str) -> Option<u32> {
    month_of_lower(&lower(w))
}

/// [`month_of`] for a word already in lower case.
fn month_of_lower(l: &str) -> Option<u32> {
    if l.len() < 3 {
        return None;
    }
    MONTHS
        .iter()
        .position(|m| {
            *m == l || (l.len() <= 4 && m.starts_with(l) && (l.len() == 3 || l == "sept"))
        })
        .map(|k| k as u32 + 1)
}

const WEEKDAYS: [&str; 14] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
    "mon",
    "tue",
    "tues",
    "wed",
    "thu",
    "thurs",
    "fri",
];

/// Capitalised words that are never names or places: clinical words, eponyms of diseases,
/// signs, scores, devices and procedures, drug names, words that start sentences and
/// headings, and words of time.
const NEVER_NAME: &[&str] = &[
    // eponyms and their kin
    "parkinson",
    "parkinson's",
    "parkinsons",
    "crohn",
    "crohn's",
    "crohns",
    "addison",
    "addison's",
    "hodgkin",
    "hodgkin's",
    "alzheimer",
    "alzheimer's",
    "cushing",
    "cushing's",
    "graves",
    "graves'",
    "hashimoto",
    "hashimoto's",
    "bell's",
    "babinski",
    "down",
    "foley",
    "whipple",
    "apgar",
    "wilson's",
    "raynaud",
    "raynaud's",
    "tourette",
    "tourette's",
    "kaposi",
    "barrett",
    "barrett's",
    "guillain",
    "barre",
    "barré",
    "guillain-barre",
    "guillain-barré",
    "huntington",
    "huntington's",
    "marfan",
    "meniere",
    "meniere's",
    "ménière's",
    "sjogren",
    "sjogren's",
    "sjögren's",
    "paget",
    "paget's",
    "wernicke",
    "korsakoff",
    "epstein",
    "epstein-barr",
    "glasgow",
    "gleason",
    "nissen",
    "swan-ganz",
    "holter",
    "doppler",
    "heimlich",
    "kegel",
    "lyme",
    "hirschsprung",
    "kawasaki",
    "bartholin",
    "baker's",
    "colles",
    "dupuytren",
    "dupuytren's",
    "horner",
    "horner's",
    "asperger",
    "asperger's",
    "mallampati",
    "kernig",
    "brudzinski",
    "murphy's",
    "mcburney",
    "rovsing",
    "homan",
    "homans",
    "lachman",
    "phalen",
    "tinel",
    "romberg",
    "trendelenburg",
    "valsalva",
    "epley",
    "dix-hallpike",
    "hallpike",
    "snellen",
    "jaeger",
    "ishihara",
    "rinne",
    "schirmer",
    "hartmann",
    "roux-en-y",
    "billroth",
    "seldinger",
    "mohs",
    "lasik",
    "papanicolaou",
    "pap",
    "gram",
    "giemsa",
    "ziehl-neelsen",
    "coombs",
    "westergren",
    "fahrenheit",
    "celsius",
    "kelvin",
    "bence",
    "howell-jolly",
    "virchow's",
    "mini-cog",
    "child-pugh",
    "meld",
    "karnofsky",
    "ecog",
    "nyha",
    "killip",
    "tnm",
    "salter-harris",
    "weber-b",
    "barthel",
    "wenckebach",
    "wolff-parkinson-white",
    "brugada",
    "stokes-adams",
    "cheyne-stokes",
    "beck's",
    "turner's",
    "prader-willi",
    "charcot-marie-tooth",
    "friedreich",
    "gehrig's",
    "ménière",
    "bowen's",
    "conn's",
    "zollinger-ellison",
    "mallory-weiss",
    "boerhaave",
    "budd-chiari",
    "peutz-jeghers",
    "gilbert's",
    "dubin-johnson",
    "crigler-najjar",
    "wegener",
    "wegener's",
    "behcet",
    "behçet's",
    "still's",
    "reiter",
    "reiter's",
    "sydenham",
    "tay-sachs",
    "niemann-pick",
    "von",
    "willebrand",
    "willebrand's",
    "christmas",
    "hartnup",
    "fanconi",
    "bernard-soulier",
    "glanzmann",
    "kasabach-merritt",
    "sturge-weber",
    "osgood-schlatter",
    "legg-calve-perthes",
    "perthes",
    "sever's",
    "hill-sachs",
    "smith's",
    "morton's",
    "horner",
    "eustachian",
    "fallopian",
    "broca's",
    "wernicke's",
    "hasselbalch",
    // drugs and products often capitalised
    "tylenol",
    "advil",
    "motrin",
    "aleve",
    "lasix",
    "coumadin",
    "eliquis",
    "xarelto",
    "plavix",
    "lipitor",
    "zocor",
    "crestor",
    "norvasc",
    "synthroid",
    "levoxyl",
    "glucophage",
    "januvia",
    "jardiance",
    "ozempic",
    "trulicity",
    "lantus",
    "humalog",
    "novolog",
    "levemir",
    "toujeo",
    "zoloft",
    "prozac",
    "lexapro",
    "celexa",
    "paxil",
    "wellbutrin",
    "effexor",
    "cymbalta",
    "abilify",
    "seroquel",
    "zyprexa",
    "risperdal",
    "haldol",
    "ativan",
    "xanax",
    "klonopin",
    "valium",
    "ambien",
    "norco",
    "percocet",
    "vicodin",
    "oxycontin",
    "dilaudid",
    "narcan",
    "suboxone",
    "subutex",
    "vivitrol",
    "keppra",
    "depakote",
    "lamictal",
    "tegretol",
    "dilantin",
    "neurontin",
    "lyrica",
    "flomax",
    "proscar",
    "viagra",
    "cialis",
    "prilosec",
    "nexium",
    "protonix",
    "pepcid",
    "zantac",
    "zofran",
    "phenergan",
    "reglan",
    "miralax",
    "colace",
    "senna",
    "dulcolax",
    "imodium",
    "benadryl",
    "claritin",
    "zyrtec",
    "allegra",
    "flonase",
    "singulair",
    "albuterol",
    "ventolin",
    "proair",
    "symbicort",
    "advair",
    "spiriva",
    "breo",
    "prednisone",
    "medrol",
    "humira",
    "enbrel",
    "remicade",
    "stelara",
    "keytruda",
    "herceptin",
    "epipen",
    "rhogam",
    "depo-provera",
    "nexplanon",
    "mirena",
    "paragard",
    "plan",
    "tdap",
    "pfizer",
    "moderna",
    "janssen",
    "novavax",
    "shingrix",
    "gardasil",
    "prevnar",
    "pneumovax",
    "fluzone",
    "flumist",
    "covid",
    "covid-19",
    "sars-cov-2",
    "medicare",
    "medicaid",
    "ensure",
    "pedialyte",
    "vaseline",
    "aquaphor",
    "eucerin",
    "band-aid",
    "ace",
    // heading and sentence words
    "patient",
    "pt",
    "the",
    "a",
    "an",
    "he",
    "she",
    "they",
    "his",
    "her",
    "their",
    "we",
    "i",
    "it",
    "this",
    "that",
    "these",
    "those",
    "there",
    "here",
    "no",
    "not",
    "none",
    "yes",
    "and",
    "or",
    "but",
    "if",
    "then",
    "when",
    "while",
    "after",
    "before",
    "since",
    "until",
    "on",
    "in",
    "at",
    "to",
    "from",
    "for",
    "with",
    "without",
    "by",
    "of",
    "as",
    "per",
    "via",
    "mr",
    "mrs",
    "ms",
    "miss",
    "mx",
    "dr",
    "doctor",
    "nurse",
    "rn",
    "np",
    "pa",
    "md",
    "do",
    "phd",
    "lpn",
    "cna",
    "msw",
    "lcsw",
    "dds",
    "dmd",
    "pharmd",
    "pt's",
    "family",
    "home",
    "mom",
    "dad",
    "mother",
    "father",
    "wife",
    "husband",
    "son",
    "daughter",
    "brother",
    "aunt",
    "uncle",
    "grandmother",
    "grandfather",
    "friend",
    "neighbor",
    "neighbour",
    "today",
    "tomorrow",
    "yesterday",
    "tonight",
    "morning",
    "afternoon",
    "evening",
    "night",
    "week",
    "month",
    "year",
    "day",
    "hospital",
    "clinic",
    "er",
    "ed",
    "icu",
    "or",
    "pacu",
    "nicu",
    "picu",
    "ccu",
    "emergency",
    "urgent",
    "care",
    "center",
    "department",
    "unit",
    "floor",
    "room",
    "bed",
    "ward",
    "service",
    "team",
    "medicine",
    "surgery",
    "cardiology",
    "neurology",
    "oncology",
    "psychiatry",
    "pediatrics",
    "obstetrics",
    "gynecology",
    "radiology",
    "pathology",
    "dermatology",
    "orthopedics",
    "urology",
    "nephrology",
    "pulmonology",
    "gastroenterology",
    "endocrinology",
    "rheumatology",
    "hematology",
    "infectious",
    "disease",
    "diseases",
    "syndrome",
    "sign",
    "test",
    "score",
    "scale",
    "stage",
    "grade",
    "type",
    "class",
    "level",
    "normal",
    "abnormal",
    "negative",
    "positive",
    "stable",
    "improved",
    "worse",
    "better",
    "denies",
    "reports",
    "states",
    "notes",
    "plan",
    "assessment",
    "impression",
    "diagnosis",
    "history",
    "exam",
    "labs",
    "vitals",
    "meds",
    "medications",
    "allergies",
    "allergy",
    "social",
    "hpi",
    "ros",
    "cc",
    "dx",
    "tx",
    "rx",
    "hx",
    "sx",
    "fx",
    "f/u",
    "follow",
    "followup",
    "follow-up",
    "return",
    "discharge",
    "admit",
    "admitted",
    "admission",
    "discharged",
    "transfer",
    "consult",
    "referral",
    "referred",
    "seen",
    "called",
    "spoke",
    "left",
    "right",
    "bilateral",
    "upper",
    "lower",
    "anterior",
    "posterior",
    "medial",
    "lateral",
    "proximal",
    "distal",
    "north",
    "south",
    "east",
    "west",
    "english",
    "spanish",
    "french",
    "arabic",
    "somali",
    "vietnamese",
    "polish",
    "korean",
    "haitian",
    "creole",
    "mandarin",
    "cantonese",
    "portuguese",
    "russian",
    "hindi",
    "urdu",
    "tagalog",
    "amharic",
    "swahili",
    "yoruba",
    "igbo",
    "hausa",
    "american",
    "african",
    "asian",
    "hispanic",
    "latino",
    "latina",
    "white",
    "black",
    "caucasian",
    "native",
    "catholic",
    "christian",
    "muslim",
    "jewish",
    "buddhist",
    "hindu",
    "god",
    "lord",
    "jehovah's",
    "witness",
    "baptist",
    "methodist",
    "lutheran",
    "spouse",
    "partner",
    "caregiver",
    "guardian",
    "self",
    "male",
    "female",
    "boy",
    "girl",
    "man",
    "woman",
    "baby",
    "infant",
    "child",
    "teen",
    "adult",
    "elderly",
    "veteran",
    "va",
    "army",
    "navy",
    "marine",
    "marines",
    "air",
    "force",
    "police",
    "fire",
    "ems",
    "ambulance",
    "911",
    "cpr",
    "dnr",
    "dni",
    "polst",
    "molst",
    "hospice",
    "palliative",
    "rehab",
    "snf",
    "alf",
    "ltc",
    "pcp",
    "ob",
    "gyn",
    "ent",
    "gi",
    "id",
    "pm",
    "am",
    "noon",
    "midnight",
    "wnl",
    "nad",
    "aox3",
    "a&o",
    "mg",
    "ml",
    "kg",
    "lb",
    "lbs",
    "cm",
    "mm",
    "bp",
    "hr",
    "rr",
    "spo2",
    "temp",
    "good",
    "poor",
    "fair",
    "well",
    "ok",
    "okay",
    "will",
    "may",
    "can",
    "should",
    "would",
    "could",
    "must",
    "might",
    "also",
    "again",
    "still",
    "now",
    "then",
    "last",
    "next",
    "first",
    "second",
    "third",
    "new",
    "old",
    "prior",
    "previous",
    "current",
    "recent",
    "chronic",
    "acute",
    "severe",
    "mild",
    "moderate",
    "significant",
    "likely",
    "possible",
    "probable",
    "rule",
    "out",
    "r/o",
    "s/p",
    "w/",
    "w/o",
    "c/o",
    "hope",
    "faith",
    "grace",
    "joy",
    "rose",
    "lily",
    "iris",
    "ivy",
    "dawn",
    "summer",
    "winter",
    "spring",
    "autumn",
    "fall",
    "christmas",
    "easter",
    "thanksgiving",
    "halloween",
    "new",
    "year's",
    "eve",
    "independence",
    "memorial",
    "labor",
    "veterans",
    "mother's",
    "father's",
    "valentine's",
    // payers and headings
    "health",
    "insurance",
    "medical",
    "cross",
    "shield",
    "blue",
    "aetna",
    "cigna",
    "humana",
    "anthem",
    "kaiser",
    "permanente",
    "healthcare",
    "dental",
    "vision",
    "illness",
    "present",
    "chief",
    "complaint",
    "review",
    "systems",
    "physical",
    "examination",
    "past",
    "surgical",
    "procedures",
    "immunizations",
    "encounter",
    "problem",
    "problems",
    "list",
    "summary",
    "course",
    "instructions",
    "signature",
    "hospital's",
    "inc",
    "llc",
    "corp",
    "company",
];

/// A name word as compared by [`Finder::names_again`]: lower case, without a possessive.
fn name_key(w: &str) -> String {
    let l = lower(w);
    l.strip_suffix("'s")
        .or_else(|| l.strip_suffix("’s"))
        .unwrap_or(&l)
        .to_owned()
}

fn never_name(w: &str) -> bool {
    static SET: std::sync::OnceLock<super::fasthash::FastSet<&'static str>> =
        std::sync::OnceLock::new();
    let set = SET.get_or_init(|| NEVER_NAME.iter().copied().collect());
    // "Spanish-speaking", "Covid-positive", "Medicaid-eligible": a word joined to a lower-case
    // word of description (not "Min-jun" or "Seo-yeon", Korean given names).
    if let Some((_, rest)) = w.split_once('-')
        && rest.split('-').any(|p| {
            matches!(
                p,
                "speaking"
                    | "positive"
                    | "negative"
                    | "related"
                    | "induced"
                    | "based"
                    | "like"
                    | "only"
                    | "free"
                    | "dependent"
                    | "eligible"
                    | "approved"
                    | "compatible"
                    | "associated"
                    | "resistant"
                    | "sensitive"
                    | "shaped"
                    | "type"
                    | "style"
            )
        })
    {
        return true;
    }
    let full = lower(w);
    let l = trim_possessives(&full);
    set.contains(l)
        || set.contains(full.as_str())
        || month_of_lower(&full).is_some()
        || WEEKDAYS.contains(&l)
}

/// `w.trim_end_matches("'s").trim_end_matches("’s")`, without making a substring searcher for
/// each pattern.
fn trim_possessives(w: &str) -> &str {
    let mut l = w;
    while let Some(r) = l.strip_suffix("'s") {
        l = r;
    }
    while let Some(r) = l.strip_suffix("’s") {
        l = r;
    }
    l
}

/// Given names that are also words: a name only with a surname after them.
const SOFT_GIVEN: &[&str] = &[
    "hope", "faith", "grace", "joy", "rose", "lily", "iris", "ivy", "dawn", "summer", "will",
    "may", "june", "april", "august", "mark", "frank", "bill", "art", "pat", "sue", "ray", "guy",
    "gene", "jack", "major", "rich", "sunny", "holly", "violet", "ruby", "pearl", "penny", "robin",
    "sandy", "amber", "crystal", "destiny", "heaven", "mercy", "angel",
];

/// Words whose next capitalised words are a person's name.
const NAME_CONTEXT: &[&str] = &[
    "pt",
    "patient",
    "daughters",
    "sons",
    "sisters",
    "brothers",
    "grandchildren",
    "grandsons",
    "granddaughters",
    "parents",
    "nieces",
    "nephews",
    "friends",
    "neighbors",
    "neighbours",
    "siblings",
    "wife",
    "husband",
    "spouse",
    "partner",
    "son",
    "daughter",
    "mother",
    "father",
    "mom",
    "mum",
    "dad",
    "brother",
    "sister",
    "sibling",
    "aunt",
    "uncle",
    "niece",
    "nephew",
    "cousin",
    "grandson",
    "granddaughter",
    "grandmother",
    "grandfather",
    "grandma",
    "grandpa",
    "granny",
    "stepson",
    "stepdaughter",
    "stepmother",
    "stepfather",
    "fiance",
    "fiancé",
    "fiancee",
    "fiancée",
    "girlfriend",
    "boyfriend",
    "friend",
    "neighbor",
    "neighbour",
    "roommate",
    "housemate",
    "landlord",
    "landlady",
    "caregiver",
    "guardian",
    "boss",
    "supervisor",
    "manager",
    "coworker",
    "co-worker",
    "colleague",
    "employer",
    "pastor",
    "priest",
    "rabbi",
    "imam",
    "sponsor",
    "child",
    "children",
    "kids",
    "twin",
    "baby",
    "infant",
    "stepbrother",
    "stepsister",
    "in-law",
    "mother-in-law",
    "father-in-law",
    "sister-in-law",
    "brother-in-law",
    "son-in-law",
    "daughter-in-law",
    "godmother",
    "godfather",
    "nanny",
    "babysitter",
    "companion",
    "widow",
    "widower",
    "ex-husband",
    "ex-wife",
    "named",
    "called",
    "contacted",
    "texted",
    "emailed",
    "phoned",
    "paged",
    "messaged",
    "accompanied",
    "visited",
    "spoke",
    "per",
    "thanks",
    "thank",
    "dear",
    "sincerely",
    "regards",
    "cc",
    "attn",
    "signed",
    "caller",
    "called:",
    "informant",
    "historian",
    "proxy",
    "poa",
    "hcp",
    "surrogate",
    "nok",
    "kin",
    "contact",
    "interpreter",
    "translator",
    "cousins",
    // Clinicians and staff named in notes: "charge RN Dana ...", "EMT Rosa ...".
    "rn",
    "np",
    "lpn",
    "lvn",
    "cna",
    "cnm",
    "emt",
    "paramedic",
    "doula",
    "midwife",
    "nurse",
    "physician",
    "attending",
    "therapist",
    "pharmacist",
    "technician",
    "technologist",
    "sonographer",
    "dietitian",
    "chaplain",
    "counselor",
    "counsellor",
    "psychologist",
    "surgeon",
    "scribe",
    "aide",
    "clinician",
    "cosigned",
    "co-signed",
    "dictated",
    "transcribed",
    "née",
    "nee",
    "aka",
    "a.k.a",
];

/// Words for people close to the patient, after which a listed given name in lower case is
/// a name too ("my son kevin").
const KIN_WORDS: &[&str] = &[
    "son",
    "daughter",
    "wife",
    "husband",
    "sister",
    "brother",
    "mother",
    "father",
    "mom",
    "dad",
    "neighbor",
    "neighbour",
    "friend",
    "aunt",
    "uncle",
    "cousin",
    "grandson",
    "granddaughter",
    "niece",
    "nephew",
    "boyfriend",
    "girlfriend",
    "partner",
    "roommate",
    "caregiver",
    "stepson",
    "stepdaughter",
    "grandma",
    "grandpa",
];

/// Verbs after which "by" introduces the person who did it: "seen by Hannah Mast".
const BY_VERBS: &[&str] = &[
    "seen",
    "reviewed",
    "screened",
    "signed",
    "examined",
    "verified",
    "approved",
    "performed",
    "read",
    "interpreted",
    "witnessed",
    "ordered",
    "authored",
    "referred",
    "evaluated",
    "counseled",
    "counselled",
    "prepared",
    "completed",
    "entered",
    "documented",
    "reported",
    "accompanied",
    "treated",
    "assessed",
    "triaged",
    "discussed",
    "staffed",
    "supervised",
    "dictated",
    "transcribed",
    "cosigned",
    "co-signed",
    "attested",
    "precepted",
    "administered",
    "given",
    "collected",
    "drawn",
    "placed",
    "obtained",
    "called",
    "taken",
];

/// Credentials written after a name: "Tammy Blankenship, RN", "Jonah Feldstein, PA-C".
const CREDENTIALS: &[&str] = &[
    "RN", "BSN", "MSN", "MD", "DO", "PA-C", "PA", "NP", "FNP", "FNP-C", "APRN", "CNM", "CNS",
    "LPN", "LVN", "CNA", "PharmD", "RPh", "DDS", "DMD", "DPT", "PT", "OT", "OTR", "OTR/L", "SLP",
    "CCC-SLP", "RD", "RDN", "LCSW", "LICSW", "MSW", "LMFT", "LPC", "PhD", "PsyD", "EMT", "EMT-P",
    "NRP", "CRNA", "DNP", "MBBS", "FACP", "FACS", "CMA", "RRT", "RT", "CPhT", "IBCLC", "DC", "AuD",
    "OD", "DPM", "CCRN", "CPNP", "PMHNP", "ANP", "AGNP", "LMSW", "CADC", "BCBA", "ATC", "CRNP",
];

/// Labels (the word before `:`) whose value is a person's name.
const NAME_LABELS: &[&str] = &[
    "id",
    "driver",
    "patient's",
    "pt's",
    "attendee",
    "attendees",
    "present",
    "patient",
    "pt",
    "name",
    "re",
    "to",
    "from",
    "attn",
    "mother",
    "father",
    "guardian",
    "spouse",
    "parent",
    "parents",
    "contact",
    "nok",
    "kin",
    "caregiver",
    "informant",
    "caller",
    "poa",
    "proxy",
    "surrogate",
    "signed",
    "author",
    "member",
    "subscriber",
    "insured",
    "resident",
    "client",
    "student",
    "employee",
    "child",
    "infant",
    "baby",
    "sibling",
    "husband",
    "wife",
    "partner",
    "son",
    "daughter",
    "emergency",
    "witness",
    "interpreter",
    "pcp",
    "referring",
    "provider",
    "rn",
    "np",
    "pa",
    "md",
    "lpn",
    "lvn",
    "cna",
    "cnm",
    "nurse",
    "physician",
    "attending",
    "doula",
    "midwife",
    "therapist",
    "pharmacist",
    "tech",
    "technician",
    "technologist",
    "sonographer",
    "emt",
    "paramedic",
    "medic",
    "scribe",
    "manager",
    "worker",
    "chaplain",
    "aide",
    "by",
    "clinician",
    "counselor",
    "dietitian",
    "coordinator",
    "navigator",
    "dictated",
    "transcribed",
    "cosigner",
    "surgeon",
    "assistant",
    "anesthesiologist",
    "radiologist",
    "pathologist",
    "preceptor",
    "supervisor",
    "staff",
    "examiner",
    "reader",
    "clinicians",
    "nurses",
    "hcp",
    "inmate",
    "detainee",
    "children",
    "kids",
    "siblings",
    "grandchildren",
    "household",
    "family",
];

/// Titles before a name.
const TITLES: &[&str] = &[
    "mr", "mrs", "ms", "miss", "mx", "dr", "sr", "sra", "srta", "prof", "mister", "madam", "señor",
    "señora", "fr", "rev", "sgt",
];

/// Particles inside names (`de la Cruz`, `van der Berg`, `bin Laden`).
const PARTICLES: &[&str] = &[
    "de", "la", "del", "della", "van", "der", "den", "von", "bin", "binti", "ibn", "al", "el",
    "da", "di", "do", "dos", "das", "du", "le", "st", "ter", "ten", "y", "mac", "abu",
];

/// Street suffixes (USPS Publication 28, appendix C1, common forms).
const STREET_SUFFIX: &[&str] = &[
    "st",
    "street",
    "ave",
    "avenue",
    "av",
    "rd",
    "road",
    "blvd",
    "boulevard",
    "dr",
    "drive",
    "ln",
    "lane",
    "ct",
    "court",
    "way",
    "pl",
    "place",
    "ter",
    "terrace",
    "terr",
    "cir",
    "circle",
    "pkwy",
    "parkway",
    "hwy",
    "highway",
    "route",
    "rte",
    "row",
    "trail",
    "trl",
    "pike",
    "loop",
    "sq",
    "square",
    "plz",
    "plaza",
    "aly",
    "alley",
    "xing",
    "crossing",
    "expy",
    "expressway",
    "fwy",
    "freeway",
    "tpke",
    "turnpike",
    "cres",
    "crescent",
    "close",
    "grove",
    "walk",
    "path",
    "run",
    "bend",
    "pt",
    "point",
    "ridge",
    "hollow",
    "mews",
    "commons",
    "green",
];

/// Words that end the name of a building with a street number: "114 Harkness Hall".
const BUILDING_WORDS: &[&str] = &[
    "hall",
    "building",
    "bldg",
    "tower",
    "towers",
    "apartments",
    "apts",
    "residence",
    "residences",
    "manor",
    "dormitory",
    "dorm",
];

/// Street suffixes that a route letter or number may follow: "County Rd K", "State Hwy 29".
const ROUTE_SUFFIX: &[&str] = &["rd", "road", "hwy", "highway", "route", "rte", "trail"];

const DIRECTIONS: &[&str] = &[
    "n", "s", "e", "w", "ne", "nw", "se", "sw", "north", "south", "east", "west",
];

/// Unit designators (USPS Publication 28, appendix C2).
const UNIT_WORDS: &[&str] = &[
    "apt",
    "apartment",
    "unit",
    "suite",
    "ste",
    "lot",
    "space",
    "rm",
    "room",
    "bldg",
    "building",
    "fl",
    "floor",
    "trlr",
    "#",
];

const STATE_ABBR: &[&str] = &[
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN", "IA",
    "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM",
    "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA",
    "WV", "WI", "WY", "PR", "GU", "VI", "AS", "MP",
];

/// Countries and regions larger than a state, which may stay.
const COUNTRIES: &[&str] = &[
    "mexico",
    "canada",
    "nigeria",
    "vietnam",
    "viet",
    "nam",
    "poland",
    "india",
    "china",
    "japan",
    "korea",
    "somalia",
    "haiti",
    "ireland",
    "england",
    "scotland",
    "wales",
    "uk",
    "britain",
    "france",
    "germany",
    "italy",
    "spain",
    "portugal",
    "brazil",
    "colombia",
    "guatemala",
    "honduras",
    "el",
    "salvador",
    "cuba",
    "dominican",
    "republic",
    "jamaica",
    "puerto",
    "rico",
    "philippines",
    "pakistan",
    "bangladesh",
    "iran",
    "iraq",
    "syria",
    "lebanon",
    "jordan",
    "egypt",
    "ethiopia",
    "eritrea",
    "kenya",
    "ghana",
    "liberia",
    "sudan",
    "congo",
    "ukraine",
    "russia",
    "afghanistan",
    "nepal",
    "bhutan",
    "burma",
    "myanmar",
    "thailand",
    "laos",
    "cambodia",
    "samoa",
    "tonga",
    "fiji",
    "guam",
    "israel",
    "palestine",
    "turkey",
    "greece",
    "norway",
    "sweden",
    "finland",
    "denmark",
    "netherlands",
    "belgium",
    "switzerland",
    "austria",
    "peru",
    "chile",
    "argentina",
    "venezuela",
    "ecuador",
    "bolivia",
    "africa",
    "asia",
    "europe",
    "america",
    "usa",
    "us",
    "states",
    "united",
    "latin",
    "caribbean",
    "middle",
    "central",
    "texas",
    "florida",
];

/// Words before capitalised place names.
const PLACE_CONTEXT: &[&[&str]] = &[
    &["in"],
    &["from"],
    &["in", "the"],
    &["lives", "in"],
    &["living", "in"],
    &["lived", "in"],
    &["resides", "in"],
    &["residing", "in"],
    &["resident", "of"],
    &["moved", "to"],
    &["moved", "from"],
    &["relocated", "to"],
    &["relocated", "from"],
    &["born", "in"],
    &["grew", "up", "in"],
    &["raised", "in"],
    &["home", "in"],
    &["house", "in"],
    &["apartment", "in"],
    &["trip", "to"],
    &["traveled", "to"],
    &["travelled", "to"],
    &["travel", "to"],
    &["returned", "from"],
    &["vacation", "in"],
    &["visiting"],
    &["visited"],
    &["near"],
    &["outside"],
    &["lives", "at"],
    &["living", "at"],
    &["moved", "here", "from"],
    &["came", "from"],
    &["comes", "from"],
    &["originally", "from"],
    &["back", "to"],
    &["drove", "to"],
    &["flew", "to"],
    &["went", "to"],
    &["go", "to"],
    &["going", "to"],
    &["driving", "to"],
    &["commutes", "to"],
    &["commute", "from"],
    &["transferred", "from"],
    &["transferred", "to"],
    &["family", "in"],
    &["relatives", "in"],
    &["shelter", "in"],
    &["stays", "in"],
    &["staying", "in"],
    &["stay", "in"],
    &["hometown"],
    &["town", "of"],
    &["city", "of"],
    &["village", "of"],
    &["neighborhood"],
    &["neighbourhood"],
    &["area"],
];

/// Words before an employer's name.
const EMPLOYER_CONTEXT: &[&[&str]] = &[
    &["studies", "at"],
    &["site", "for"],
    &["contractor", "for"],
    &["company"],
    &["works", "at"],
    &["works", "for"],
    &["work", "at"],
    &["work", "for"],
    &["worked", "at"],
    &["worked", "for"],
    &["working", "at"],
    &["working", "for"],
    &["employed", "at"],
    &["employed", "by"],
    &["employer"],
    &["job", "at"],
    &["retired", "from"],
    &["works", "in"],
    &["shift", "at"],
    &["owns"],
    &["owner", "of"],
    &["student", "at"],
    &["attends"],
    &["enrolled", "at"],
    &["teaches", "at"],
    &["volunteers", "at"],
    &["hired", "by"],
    &["laid", "off", "from"],
    &["fired", "from"],
    &["manager", "at"],
    &["cashier", "at"],
    &["driver", "for"],
    &["nurse", "at"],
    &["teacher", "at"],
    &["clerk", "at"],
];

/// Words that continue an organisation's name.
/// Nouns after which capitalised words are an eponym, not a person: "Ramsay Hunt syndrome",
/// "Braxton Hicks contractions".
const EPONYM_NOUNS: &[&str] = &[
    "syndrome",
    "disease",
    "contractions",
    "palsy",
    "sign",
    "signs",
    "test",
    "maneuver",
    "manoeuvre",
    "reflex",
    "phenomenon",
    "lymphoma",
    "sarcoma",
    "tumor",
    "tumour",
    "fracture",
    "classification",
    "criteria",
    "scale",
    "score",
    "procedure",
    "operation",
    "repair",
    "disorder",
    "anomaly",
    "deformity",
    "ulcer",
    "node",
    "nodes",
    "rings",
    "triad",
    "law",
    "rule",
    "index",
    "method",
    "technique",
    "catheter",
    "virus",
    "cells",
    "cell",
    "bodies",
    "body",
    "duct",
    "canal",
    "area",
    "nerve",
    "position",
    "incision",
    "stockings",
    "dressing",
    "splint",
    "shunt",
    "filter",
    "maneuvers",
    "staging",
    "grade",
    "regimen",
    "protocol",
    "equation",
    "formula",
    "murmur",
    "gallop",
    "lesion",
    "lesions",
    "spots",
    "nodules",
    "type",
];

/// Last words of the names of schools, churches and businesses.
const ORG_SUFFIX: &[&str] = &[
    "church",
    "chapel",
    "temple",
    "mosque",
    "synagogue",
    "mandir",
    "gurdwara",
    "parish",
    "congregation",
    "ministries",
    "elementary",
    "school",
    "academy",
    "preschool",
    "daycare",
    "montessori",
    "college",
    "university",
    "roasters",
    "cafe",
    "café",
    "bakery",
    "diner",
    "restaurant",
    "grill",
    "pizzeria",
    "cab",
    "taxi",
    "trucking",
    "freight",
    "logistics",
    "construction",
    "roofing",
    "plumbing",
    "landscaping",
    "salon",
    "barbershop",
    "grocers",
    "grocery",
    "supermarket",
    "motors",
    "warehouse",
    "stockyards",
    "casino",
    "hotel",
    "motel",
    "dairy",
    "creamery",
    "cannery",
    "foundry",
    "sawmill",
    "brewery",
    "winery",
    "distillery",
    "packing",
    "meats",
    "foods",
    "manufacturing",
    "industries",
    "corp",
    "corporation",
    "inc",
    "llc",
    "ltd",
];

const ORG_JOINERS: &[&str] = &["of", "and", "&", "the", "de", "for", "on", "at"];

/// Labels of numbers and codes, with the kind of identifier their value is.
const ID_LABELS: &[(&[&str], IdentifierKind)] = &[
    (&["mrn"], IdentifierKind::Mrn),
    (&["medical", "record"], IdentifierKind::Mrn),
    (&["record"], IdentifierKind::Mrn),
    (&["chart"], IdentifierKind::Mrn),
    (&["patient", "id"], IdentifierKind::Mrn),
    (&["hospital", "number"], IdentifierKind::Mrn),
    (&["member"], IdentifierKind::HealthPlan),
    (&["subscriber"], IdentifierKind::HealthPlan),
    (&["policy"], IdentifierKind::HealthPlan),
    (&["group"], IdentifierKind::HealthPlan),
    (&["medicaid"], IdentifierKind::HealthPlan),
    (&["medicare"], IdentifierKind::HealthPlan),
    (&["insurance"], IdentifierKind::HealthPlan),
    (&["plan"], IdentifierKind::HealthPlan),
    (&["beneficiary"], IdentifierKind::HealthPlan),
    (&["mbi"], IdentifierKind::HealthPlan),
    (&["acct"], IdentifierKind::Account),
    (&["account"], IdentifierKind::Account),
    (&["billing"], IdentifierKind::Account),
    (&["invoice"], IdentifierKind::Account),
    (&["claim"], IdentifierKind::Account),
    (&["license"], IdentifierKind::License),
    (&["licence"], IdentifierKind::License),
    (&["lic"], IdentifierKind::License),
    (&["dl"], IdentifierKind::License),
    (&["passport"], IdentifierKind::License),
    (&["npi"], IdentifierKind::License),
    (&["dea"], IdentifierKind::License),
    (&["certificate"], IdentifierKind::License),
    (&["permit"], IdentifierKind::License),
    (&["plate"], IdentifierKind::Vehicle),
    (&["plates"], IdentifierKind::Vehicle),
    (&["vin"], IdentifierKind::Vehicle),
    (&["tag"], IdentifierKind::Vehicle),
    (&["serial"], IdentifierKind::Device),
    (&["sn"], IdentifierKind::Device),
    (&["s/n"], IdentifierKind::Device),
    (&["udi"], IdentifierKind::Device),
    (&["imei"], IdentifierKind::Device),
    (&["model"], IdentifierKind::Device),
    (&["device", "id"], IdentifierKind::Device),
    (&["fingerprint"], IdentifierKind::Biometric),
    (&["voiceprint"], IdentifierKind::Biometric),
    (&["biometric"], IdentifierKind::Biometric),
    (&["template"], IdentifierKind::Biometric),
    (&["palm"], IdentifierKind::Biometric),
    (&["retina"], IdentifierKind::Biometric),
    (&["iris"], IdentifierKind::Biometric),
    (&["enrollment"], IdentifierKind::Biometric),
    (&["enrolment"], IdentifierKind::Biometric),
    (&["badge"], IdentifierKind::Other),
    (&["employee"], IdentifierKind::Other),
    (&["case"], IdentifierKind::Other),
    (&["docket"], IdentifierKind::Other),
    (&["ticket"], IdentifierKind::Other),
    (&["confirmation"], IdentifierKind::Other),
    (&["reference"], IdentifierKind::Other),
    (&["ref"], IdentifierKind::Other),
    (&["order"], IdentifierKind::Other),
    (&["accession"], IdentifierKind::Other),
    (&["specimen"], IdentifierKind::Other),
    (&["visit"], IdentifierKind::Other),
    (&["encounter"], IdentifierKind::Other),
    (&["id"], IdentifierKind::Other),
    (&["ssn"], IdentifierKind::Ssn),
    (&["social", "security"], IdentifierKind::Ssn),
    (&["fax"], IdentifierKind::Fax),
    (&["tel"], IdentifierKind::Telephone),
    (&["phone"], IdentifierKind::Telephone),
    (&["cell"], IdentifierKind::Telephone),
    (&["pager"], IdentifierKind::Telephone),
    (&["ext"], IdentifierKind::Telephone),
    (&["zip"], IdentifierKind::Geographic),
];

/// Words between a label and its value (`MRN #: `, `member ID number`).
const ID_FILLERS: &[&str] = &[
    "#",
    ":",
    "no",
    "no.",
    "num",
    "number",
    "nbr",
    "id",
    "ids",
    "code",
    "is",
    "=",
    "-",
    ".",
    "of",
    "template",
    "print",
    "enrolment",
    "enrollment",
    "record",
    "plate",
    "account",
    "card",
    "ending",
    "in",
];

/// Clinical codes and names with digits that are never identifiers.
const CLINICAL_MIXED: &[&str] = &[
    "covid-19",
    "covid19",
    "sars-cov-2",
    "phq-9",
    "phq-2",
    "phq9",
    "gad-7",
    "gad7",
    "icd-10",
    "icd-9",
    "hba1c",
    "a1c",
    "t2dm",
    "t1dm",
    "dm2",
    "dm1",
    "spo2",
    "sao2",
    "pao2",
    "paco2",
    "fio2",
    "etco2",
    "b12",
    "b6",
    "b1",
    "d3",
    "d2",
    "k2",
    "cd4",
    "cd8",
    "cd20",
    "her2",
    "brca1",
    "brca2",
    "h1n1",
    "h5n1",
    "h2o",
    "co2",
    "o2",
    "nh3",
    "mmr",
    "tdap",
    "dtap",
    "hpv",
    "hiv-1",
    "hiv-2",
    "hsv-1",
    "hsv-2",
    "c1",
    "c2",
    "c3",
    "c4",
    "c5",
    "c6",
    "c7",
    "t1",
    "t2",
    "t3",
    "t4",
    "t5",
    "t6",
    "t7",
    "t8",
    "t9",
    "t10",
    "t11",
    "t12",
    "l1",
    "l2",
    "l3",
    "l4",
    "l5",
    "s1",
    "s2",
    "s3",
    "s4",
    "s5",
    "g1p0",
    "v1",
    "v2",
    "v3",
    "v4",
    "v5",
    "v6",
    "avr",
    "avl",
    "avf",
    "p2y12",
    "cyp2d6",
    "cyp3a4",
    "apoe4",
    "il-6",
    "tnf",
    "nt-probnp",
    "bnp",
    "ck-mb",
    "g6pd",
    "x1",
    "x2",
    "x3",
    "x4",
    "x5",
    "x6",
    "x7",
    "x10",
    "q1h",
    "q2h",
    "q4h",
    "q6h",
    "q8h",
    "q12h",
    "q24h",
    "q4-6h",
    "q4",
    "q6",
    "q8",
    "q12",
    "1st",
    "2nd",
    "3rd",
    "4th",
    "5th",
    "mg2",
    "ca2",
    "fev1",
    "fvc",
    "dlco",
    "ef",
    "lvef",
    "s3",
    "s4",
    "a2",
    "p2",
    "r1",
    "ii",
    "tsh",
    "ft4",
    "f4",
    "mp3",
    "mp4",
    "3d",
    "4d",
    "2d",
    "24h",
    "48h",
    "72h",
    "u-100",
    "u-500",
    "n95",
    "kn95",
    "ffp2",
    "ppd",
    "bcg",
    "qft",
    "igra",
    "c-section",
    "n/v",
    "o2sat",
    "g2",
    "g3",
    "p1",
    "ab1",
    "2x",
    "3x",
    "4x",
    "x-ray",
    "xray",
    "ct-a",
    "cta",
    "mra",
    "mri",
    "pet-ct",
];

/// Whether a mixed token is a dose, a unit or a count (`500mg`, `10mg/kg`, `2x`, `q6h`,
/// `24hr`, `5d`, `G2P1`, `L4-L5`).
fn clinical_mixed(w: &str) -> bool {
    let l = lower(w);
    if listed!(CLINICAL_MIXED, l.as_str()) {
        return true;
    }
    // Number then unit letters: 500mg, 40mcg, 2tabs, 24hr, 10min, 3wk, 5yo (ages are
    // another pattern's), 37c, 98f.
    let digits_end = l
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(l.len());
    let rest = &l[digits_end..];
    if digits_end > 0
        && !rest.is_empty()
        && rest.chars().all(|c| c.is_ascii_alphabetic() || c == '/')
        && rest.len() <= 6
    {
        return true;
    }
    // Gestational ages: 28w2d, 39w.
    if let Some((w, d)) = l.split_once('w')
        && !w.is_empty()
        && w.len() <= 2
        && w.bytes().all(|c| c.is_ascii_digit())
        && (d.is_empty()
            || (d.len() <= 2
                && d.ends_with('d')
                && d[..d.len() - 1].bytes().all(|c| c.is_ascii_digit())))
    {
        return true;
    }
    // G2P1, G3P2012, L4-L5, C5-C6, T2-T3.
    let b = l.as_bytes();
    if b.len() <= 8 && (l.starts_with('g') && l.contains('p')) {
        return l
            .chars()
            .all(|c| c.is_ascii_digit() || c == 'g' || c == 'p');
    }
    if let Some((a, z)) = l.split_once('-')
        && a.len() <= 3
        && z.len() <= 3
        && listed!(CLINICAL_MIXED, a)
        && listed!(CLINICAL_MIXED, z)
    {
        return true;
    }
    // A letter or two then digits, short: vitamin and gene-style names (B12, D3, HER2, CD19).
    let letters = l.chars().take_while(char::is_ascii_alphabetic).count();
    let digits = l.chars().filter(char::is_ascii_digit).count();
    letters <= 4 && digits <= 2 && l.len() <= 5 && l[letters..].chars().all(|c| c.is_ascii_digit())
}

/// Whether a token looks like an identifier on its own: letters and digits mixed with at least
/// five digits, or a letter prefix joined to at least four digits (`RA-7719204`, `A-55821`),
/// or at least seven digits in a row, or a barcode with parentheses.
/// "1955-1990" as one token: a range of years, not an identifier.
fn is_year_range(s: &str) -> bool {
    let year = |y: &str| y.len() == 4 && y.parse::<u32>().is_ok_and(|y| (1850..=2100).contains(&y));
    s.split_once(['-', '–'])
        .is_some_and(|(a, b)| year(a) && year(b))
}

fn identifier_shaped(t: &Tok<'_>) -> bool {
    let digits = t.text.chars().filter(char::is_ascii_digit).count();
    let letters = t.text.chars().filter(|c| c.is_alphabetic()).count();
    match t.kind {
        Tk::Mixed => {
            !clinical_mixed(t.text)
                && ((digits >= 4 && letters >= 1 && t.text.len() >= 6)
                    || (digits >= 3 && letters >= 2 && t.text.len() >= 6 && t.text.contains('-')))
        }
        Tk::Num => digits >= 7 && !t.text.contains('.'),
        _ => false,
    }
}

struct Finder<'a, 'b> {
    s: &'a str,
    t: &'b [Tok<'a>],
    /// Each token in lower case, made once: the detectors ask for most words many times.
    lows: &'b [Lower<'a>],
    /// [`never_name`] of each token, found at the first question (0: not yet, 1: no, 2: yes).
    never: &'b [std::cell::Cell<u8>],
    patterns: &'b [TextPattern],
    dates: Method,
    out: Vec<Span>,
}

fn placeholder_for(kind: IdentifierKind) -> &'static str {
    super::text::placeholder(kind)
}

impl<'a, 'b> Finder<'a, 'b> {
    fn on(&self, p: TextPattern) -> bool {
        self.patterns.contains(&p)
    }

    fn push(
        &mut self,
        from: usize,
        to: usize,
        pattern: TextPattern,
        kind: IdentifierKind,
        replacement: String,
    ) {
        let (start, end) = (self.t[from].start, self.t[to].end);
        self.out.push(Span {
            start,
            end,
            pattern,
            kind,
            replacement,
        });
    }

    /// Marks tokens `from..=to` as found by `pattern`, with its kind's placeholder.
    fn mark(&mut self, from: usize, to: usize, pattern: TextPattern) {
        let kind = pattern.kind();
        self.push(from, to, pattern, kind, placeholder_for(kind).to_owned());
    }

    fn word(&self, i: usize) -> Option<Lower<'b>> {
        self.t
            .get(i)
            .filter(|t| t.kind != Tk::Punct)
            .map(|_| self.low(i))
    }

    /// [`never_name`] of a token of this text, asked once per token.
    fn never(&self, t: &Tok<'_>) -> bool {
        let at = self.t.partition_point(|x| x.start < t.start);
        match self.never.get(at) {
            Some(memo) if self.t[at].start == t.start && self.t[at].end == t.end => {
                match memo.get() {
                    0 => {
                        let yes = never_name(t.text);
                        memo.set(1 + u8::from(yes));
                        yes
                    }
                    v => v == 2,
                }
            }
            _ => never_name(t.text),
        }
    }

    /// Token `i` in lower case (as [`lower`] gives it), borrowed from the tokens' list.
    fn low(&self, i: usize) -> Lower<'b> {
        let lows: &'b [Lower<'a>] = self.lows;
        Lower(std::borrow::Cow::Borrowed(lows[i].as_str()))
    }

    fn punct(&self, i: usize, c: &str) -> bool {
        self.t
            .get(i)
            .is_some_and(|t| t.kind == Tk::Punct && t.text == c)
    }

    /// Whether the words ending just before `i` are `seq` (case-insensitive).
    fn preceded_by(&self, i: usize, seq: &[&str]) -> bool {
        if i < seq.len() {
            return false;
        }
        seq.iter()
            .enumerate()
            .all(|(k, w)| self.word(i - seq.len() + k).is_some_and(|x| x == *w))
    }

    /// A name starting at token `i`: capitalised name-like words (and particles between them,
    /// an initial with a dot, a quoted nickname, "Last, First" when `comma` is allowed).
    /// Returns the last token of the name.
    fn name_at(&self, i: usize, comma: bool, max: usize) -> Option<usize> {
        let first = self.t.get(i)?;
        let soft_first = listed!(SOFT_GIVEN, first.low().as_ref())
            && self.t.get(i + 1).is_some_and(|n| {
                is_capitalised(n) && !n.line_start && n.gap <= 1 && !self.never(n)
            });
        if !is_capitalised(first) || (self.never(first) && !soft_first) {
            return None;
        }
        // A short all-capitals word is an acronym ("per ASCCP"), except in a labelled field.
        if !comma && is_all_caps(first) && first.text.chars().count() <= 6 {
            return None;
        }
        let mut last = i;
        let mut words = 1;
        let mut j = i + 1;
        while words < max {
            let Some(t) = self.t.get(j) else { break };
            if t.line_start {
                break;
            }
            if t.kind == Tk::Punct {
                // An initial: "J." after a name word; a quoted nickname; "Last, First".
                if t.text == "." && self.t[last].text.chars().count() == 1 {
                    last = j;
                    j += 1;
                    continue;
                }
                if (t.text == "\"" || t.text == "“" || t.text == "'")
                    && let Some(n) = self.t.get(j + 1)
                    && is_capitalised(n)
                    && self
                        .t
                        .get(j + 2)
                        .is_some_and(|q| matches!(q.text, "\"" | "”" | "'"))
                {
                    last = j + 2;
                    j += 3;
                    words += 1;
                    continue;
                }
                if comma
                    && t.text == ","
                    && words == 1
                    && let Some(n) = self.t.get(j + 1)
                    && (is_capitalised(n) && !self.never(n))
                    && (is_all_caps(first)
                        || self.t.get(j + 2).is_none_or(|x| {
                            x.kind == Tk::Punct
                                || x.line_start
                                || !is_capitalised(x)
                                || is_capitalised(x)
                        }))
                {
                    last = j + 1;
                    j += 2;
                    words += 1;
                    continue;
                }
                break;
            }
            if t.gap > 2 {
                break;
            }
            let l = self.low(j);
            if PARTICLES.contains(&l.as_str())
                && self
                    .t
                    .get(j + 1)
                    .is_some_and(|n| is_capitalised(n) && !self.never(n))
            {
                j += 1;
                continue;
            }
            if is_capitalised(t) && !self.never(t) {
                last = j;
                words += 1;
                j += 1;
                continue;
            }
            break;
        }
        Some(last)
    }

    fn names(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        while i < n {
            let t = self.t[i];
            // Every rule below needs a capitalised word here or within the next three tokens.
            let l = self.low(i);
            if !self.t[i..n.min(i + 4)].iter().any(is_capitalised)
                && !(t.kind == Tk::Word
                    && (listed!(NAME_CONTEXT, l.as_str())
                        || TITLES.contains(&l.as_str())
                        || listed_given(&l)))
            {
                i += 1;
                continue;
            }
            // "dr patel" in a patient's lower-case message: a title and a listed surname.
            if t.kind == Tk::Word
                && TITLES.contains(&l.as_str())
                && !t.text.chars().any(char::is_uppercase)
                && let Some(x) = self.t.get(i + 1)
                && x.kind == Tk::Word
                && !x.line_start
                && !x.text.chars().any(char::is_uppercase)
                && (lists::surname(&name_key(x.text)) || listed_given(&name_key(x.text)))
                && !lists::stop(&name_key(x.text))
            {
                self.mark(i + 1, i + 1, TextPattern::Name);
                i += 2;
                continue;
            }
            // Title: Mr. Okafor, Dr. Lucia Ferrer.
            let mut start = None;
            let mut comma = false;
            if t.kind == Tk::Word && TITLES.contains(&l.as_str()) && is_capitalised(&t) {
                let k = if self.punct(i + 1, ".") { i + 2 } else { i + 1 };
                start = Some(k);
                // After a title a word in capitals is a name, not an acronym: "Dr. OKAFOR".
                comma = true;
            } else if t.kind == Tk::Word
                && (listed!(NAME_LABELS, l.as_str())
                    || ((l.ends_with("ist") || l.ends_with("ician")) && l.len() > 6))
                && (self.punct(i + 1, ":") || (l == "re" && self.punct(i + 1, ":")))
            {
                // A label: "Patient: Chinedu Okafor", "Name: HERNANDEZ, LUIS".
                start = Some(i + 2);
                comma = true;
            } else if t.kind == Tk::Word
                && (listed!(NAME_CONTEXT, l.as_str())
                    || (l == "by"
                        && i > 0
                        && self
                            .word(i - 1)
                            .is_some_and(|w| listed!(BY_VERBS, w.as_str()))))
            {
                // "daughter Priya", "her son, Tomasz", "called Maria", "spoke with Ewa".
                let mut k = i + 1;
                while self.punct(k, ",")
                    || self.punct(k, "(")
                    || self.word(k).is_some_and(|w| {
                        matches!(
                            w.as_str(),
                            "with" | "to" | "by" | "named" | "is" | "was" | "name"
                        )
                    })
                {
                    k += 1;
                }
                // "chaplain Rev. Thomas Abernathy": a title between the word and the name.
                if self
                    .t
                    .get(k)
                    .is_some_and(|x| x.kind == Tk::Word && TITLES.contains(&x.low().as_ref()))
                    && self.t.get(k + 1).is_some_and(|x| !x.line_start)
                {
                    k += if self.punct(k + 1, ".") { 2 } else { 1 };
                }
                start = Some(k);
            }
            let start = start.map(|k| {
                if self
                    .t
                    .get(k)
                    .is_some_and(|q| matches!(q.text, "\"" | "“" | "("))
                {
                    k + 1
                } else {
                    k
                }
            });
            // "my son kevin": a listed given name in lower case after a word of kinship.
            if let Some(k) = start
                && k == i + 1
                && KIN_WORDS.contains(&l.as_str())
                && let Some(x) = self.t.get(k)
                && x.text.chars().count() >= 3
                && x.kind == Tk::Word
                && !x.line_start
                && !x.text.chars().any(char::is_uppercase)
                && listed_given(&name_key(x.text))
            {
                let end = match self.t.get(k + 1) {
                    Some(y)
                        if y.kind == Tk::Word
                            && !y.line_start
                            && !y.text.chars().any(char::is_uppercase)
                            && lists::surname(&name_key(y.text))
                            && !lists::stop(&name_key(y.text)) =>
                    {
                        k + 1
                    }
                    _ => k,
                };
                self.mark(k, end, TextPattern::Name);
                i = end + 1;
                continue;
            }
            if let Some(k) = start
                && let Some(mut end) = self.name_at(k, comma, 4)
            {
                // "Marcus and Jasmine Thompson-Reyes", "Ingeborg and Lena": more names.
                let first_end = end;
                while self
                    .t
                    .get(end + 1)
                    .is_some_and(|x| matches!(x.text, "and" | "&" | ",") && !x.line_start)
                    && let Some(e2) = self.name_at(end + 2, false, 3)
                {
                    self.mark(end + 2, e2, TextPattern::Name);
                    end = e2;
                }
                let (end, last) = (first_end, end);
                self.mark(k, end, TextPattern::Name);
                let last = self.nickname_after(last).unwrap_or(last);
                i = last + 1;
                continue;
            }
            // A given name from the Census lists and a surname: "Tammy Blankenship called",
            // "VIKRAM MALHOTRA", and in a patient's lower-case message "marisol reyes". In
            // capitals or lower case the surname must be listed too.
            if t.kind == Tk::Word
                && !is_state_word(t.text)
                && let Some(end) = self.listed_name_at(i)
            {
                self.mark(i, end, TextPattern::Name);
                i = end + 1;
                continue;
            }
            // A name with a credential after it: "Tammy Blankenship, RN", "L. Kahananui, NP".
            if is_capitalised(&t)
                && !self.never(&t)
                && let Some(end) = self.name_at(i, false, 4)
                && (end > i || self.punct(i + 1, "."))
                && self.punct(end + 1, ",")
                && let Some(c) = self.t.get(end + 2)
                && !c.line_start
                && self.credential_at(end + 2)
            {
                let _ = c;
                self.mark(i, end, TextPattern::Name);
                i = end + 1;
                continue;
            }
            // Two or three capitalised name-like words in the middle of a sentence, after a
            // lower-case word or a comma: "... and Kwame Mensah-Boateng ...".
            if i > 0
                && !t.line_start
                && !self.heading_line(i)
                && is_capitalised(&t)
                && !is_all_caps(&t)
                && !self.never(&t)
                && !is_state_word(t.text)
                && !listed!(COUNTRIES, l.as_str())
                && (self.t[i - 1].kind == Tk::Word
                    && self.t[i - 1]
                        .text
                        .chars()
                        .next()
                        .is_some_and(char::is_lowercase)
                    || self.t[i - 1].text == ",")
                && let Some(end) = self.name_at(i, false, 3)
                && end > i
                && self.t[i..=end].iter().all(|x| {
                    x.kind != Tk::Word
                        || (!is_all_caps(x)
                            && !is_state_word(x.text)
                            && !listed!(COUNTRIES, lower(x.text).as_str()))
                })
                && self.t.get(end + 1).is_none_or(|x| !is_capitalised(x))
                && !self
                    .word(end + 1)
                    .is_some_and(|w| listed!(EPONYM_NOUNS, w.as_str()))
            {
                self.mark(i, end, TextPattern::Name);
                i = end + 1;
                continue;
            }
            i += 1;
        }
    }

    /// A listed given name at `i` and the surname after it; returns the surname's last token.
    fn listed_name_at(&self, i: usize) -> Option<usize> {
        let t = self.t[i];
        let l = t.low();
        if !listed_given(&l) || self.never(&t) {
            return None;
        }
        let next = self
            .t
            .get(i + 1)
            .filter(|n| n.kind == Tk::Word && !n.line_start && n.gap <= 1)?;
        let nl = name_key(next.text);
        let surname_listed =
            nl.split('-').all(|p| lists::surname(p) || listed_given(p)) && !lists::stop(&nl);
        if t.text.chars().count() < 3 || next.text.chars().count() < 3 {
            return None;
        }
        if is_all_caps(&t) || !t.text.chars().any(char::is_uppercase) {
            // Capitals everywhere, or no capitals: only the lists say it is a name.
            let same_case = is_all_caps(next) == is_all_caps(&t);
            if !same_case || !surname_listed || self.never(next) || is_state_word(next.text) {
                return None;
            }
            if listed!(EPONYM_NOUNS, self.word(i + 2).unwrap_or_default().as_str()) {
                return None;
            }
            return Some(i + 1);
        }
        if !is_capitalised(next)
            || is_all_caps(next)
            || self.never(next)
            || is_state_word(next.text)
        {
            return None;
        }
        if lists::place(&format!("{} {}", l, nl)) {
            return None;
        }
        let end = self.name_at(i, false, 3)?;
        if end == i
            || self
                .word(end + 1)
                .is_some_and(|w| listed!(EPONYM_NOUNS, w.as_str()))
        {
            return None;
        }
        Some(end)
    }

    /// A nickname or an age in brackets after a name ending at `end`, and names after it in a
    /// list: `("Rosie")`, `(goes by "Seun")`, `Chidera (8) and Obinna (5)`. Marks the nickname
    /// and the listed names; returns the last token used.
    fn nickname_after(&mut self, end: usize) -> Option<usize> {
        if !self.punct(end + 1, "(") {
            return None;
        }
        let mut j = end + 2;
        while self.word(j).is_some_and(|w| {
            matches!(
                w.as_str(),
                "goes" | "by" | "aka" | "prefers" | "called" | "nickname"
            )
        }) || self.punct(j, ":")
        {
            j += 1;
        }
        let quoted = self
            .t
            .get(j)
            .is_some_and(|q| matches!(q.text, "\"" | "“" | "'"));
        if quoted
            && let Some(n) = self.t.get(j + 1)
            && is_capitalised(n)
            && let Some(e) = self.name_at(j + 1, false, 3)
            && self
                .t
                .get(e + 1)
                .is_some_and(|q| matches!(q.text, "\"" | "”" | "'"))
            && self.punct(e + 2, ")")
        {
            self.mark(j + 1, e, TextPattern::Name);
            return Some(e + 2);
        }
        // "(8)": an age or a count, then more names joined by "and" or ",".
        if self.t.get(end + 2).is_some_and(|x| x.kind == Tk::Num) && self.punct(end + 3, ")") {
            let mut last = end + 3;
            while self
                .t
                .get(last + 1)
                .is_some_and(|x| matches!(x.text, "and" | "&" | ",") && !x.line_start)
                && let Some(e2) = self.name_at(last + 2, false, 3)
            {
                self.mark(last + 2, e2, TextPattern::Name);
                last = e2;
                if self.t.get(last + 1).is_some_and(|x| x.text == "(")
                    && self.t.get(last + 2).is_some_and(|x| x.kind == Tk::Num)
                    && self.punct(last + 3, ")")
                {
                    last += 3;
                }
            }
            return Some(last);
        }
        None
    }

    /// Every other occurrence in the text of a name word already found: "husband Rogelio"
    /// makes "Rogelio's cell" a name too. Words that are also common words ([`SOFT_GIVEN`])
    /// count only when capitalised; others in any case ("marisol" in a patient's message).
    fn names_again(&mut self) {
        let mut learned: super::fasthash::FastSet<String> = super::fasthash::FastSet::default();
        let mut covered: Vec<(usize, usize)> = Vec::new();
        for sp in &self.out {
            covered.push((sp.start, sp.end));
            if sp.pattern != TextPattern::Name {
                continue;
            }
            for t in self
                .t
                .iter()
                .filter(|t| t.start >= sp.start && t.end <= sp.end)
            {
                if t.kind == Tk::Word && t.text.chars().count() >= 3 && !self.never(t) {
                    let key = name_key(t.text);
                    // "Nwachukwu-Bello": each part is a name word too.
                    for part in key.split('-').filter(|p| p.chars().count() >= 3) {
                        if !never_name(part) {
                            learned.insert(part.to_owned());
                        }
                    }
                    learned.insert(key);
                }
            }
        }
        if learned.is_empty() {
            return;
        }
        covered.sort_unstable();
        let inside = |t: &Tok<'_>| {
            let k = covered.partition_point(|c| c.0 <= t.start);
            k > 0 && covered[k - 1].1 > t.start
        };
        for i in 0..self.t.len() {
            let t = self.t[i];
            if t.kind != Tk::Word || t.text.chars().count() < 3 || inside(&t) {
                continue;
            }
            let key = name_key(t.text);
            if !learned.contains(&key) && !key.split('-').any(|p| learned.contains(p)) {
                continue;
            }
            if listed!(SOFT_GIVEN, key.as_str()) && !is_capitalised(&t) {
                continue;
            }
            self.mark(i, i, TextPattern::Name);
        }
    }

    /// Whether a credential ([`CREDENTIALS`]) starts at token `i` and ends a phrase there
    /// ("PA-C", "OTR/L"; not "MD-approved").
    fn credential_at(&self, i: usize) -> bool {
        let Some(t) = self.t.get(i) else {
            return false;
        };
        let mut text = t.text.to_owned();
        let mut j = i;
        // "OTR/L", "CCC-SLP" may be cut into several tokens.
        while let (Some(p), Some(n)) = (self.t.get(j + 1), self.t.get(j + 2))
            && p.gap == 0
            && n.gap == 0
            && matches!(p.text, "/" | "-")
            && n.kind == Tk::Word
        {
            text = format!("{text}{}{}", p.text, n.text);
            j += 2;
        }
        listed!(CREDENTIALS, text.as_str())
            && self
                .t
                .get(j + 1)
                .is_none_or(|n| n.line_start || n.kind == Tk::Punct || n.gap > 0)
    }

    /// Whether the line token `i` is on reads as a heading so far: "# History of Present
    /// Illness", "Plan And Follow Up" (every word capitalised or a small joining word).
    fn heading_line(&self, i: usize) -> bool {
        let mut k = i;
        while k > 0 && !self.t[k].line_start {
            k -= 1;
        }
        self.t[k..i].iter().all(|x| {
            x.kind != Tk::Word
                || is_capitalised(x)
                || matches!(
                    lower(x.text).as_str(),
                    "of" | "and"
                        | "the"
                        | "for"
                        | "in"
                        | "to"
                        | "with"
                        | "on"
                        | "at"
                        | "by"
                        | "a"
                        | "an"
                        | "or"
                )
        }) && self.t[k..i].iter().any(|x| is_capitalised(x))
    }

    fn places(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        while i < n {
            let t = self.t[i];
            // A street address: number, 1-4 words, a suffix, a direction, a unit.
            if (t.kind == Tk::Num || (t.kind == Tk::Mixed && t.text.len() <= 7))
                && let Some(end) = self
                    .street_after(i + 1)
                    .or_else(|| self.building_after(i + 1))
            {
                let end = self.unit_after(end + 1).unwrap_or(end);
                let end = self.city_after(end + 1).unwrap_or(end);
                let end = self.city_after(end + 1).unwrap_or(end);
                self.mark(i, end, TextPattern::Place);
                i = end + 1;
                continue;
            }
            // A street without its number: "on Flatbush Ave", "Lorain Ave".
            if is_capitalised(&t)
                && !self.never(&t)
                && let Some(end) = self.street_after(i)
                && end > i
            {
                let end = self.unit_after(end + 1).unwrap_or(end);
                let end = self.city_after(end + 1).unwrap_or(end);
                self.mark(i, end, TextPattern::Place);
                i = end + 1;
                continue;
            }
            // A numbered road alone: "off Route 16", "Hwy 29".
            if is_capitalised(&t)
                && matches!(
                    t.low().as_ref(),
                    "route" | "rte" | "hwy" | "highway" | "interstate"
                )
                && self.t.get(i + 1).is_some_and(|x| {
                    x.kind == Tk::Num && x.text.len() <= 4 && !x.line_start && x.gap <= 1
                })
            {
                self.mark(i, i + 1, TextPattern::Place);
                i += 2;
                continue;
            }
            // Units and boxes: Apt 4B, Suite 300, PO Box 1182.
            if t.text != "#"
                && let Some(end) = self.unit_after(i)
            {
                self.mark(i, end, TextPattern::Place);
                i = end + 1;
                continue;
            }
            let l = self.low(i);
            if (l == "po" || l == "p.o" || l == "p")
                && let Some(end) = self.po_box(i)
            {
                self.mark(i, end, TextPattern::Place);
                i = end + 1;
                continue;
            }
            // "X County", "X Parish".
            if is_capitalised(&t)
                && !self.never(&t)
                && let Some(end) = self.county_at(i)
            {
                self.mark(i, end, TextPattern::Place);
                i = end + 1;
                continue;
            }
            // "City, ST 53703" / "City, State": the city goes, the state stays, the ZIP goes.
            if is_capitalised(&t) && !self.never(&t) && !is_state_word(t.text) {
                let mut j = i;
                while j + 1 < n
                    && j - i < 3
                    && is_capitalised(&self.t[j + 1])
                    && !is_state_word(self.t[j + 1].text)
                    && self.t[j + 1].gap <= 1
                    && !self.t[j + 1].line_start
                {
                    j += 1;
                }
                if self.punct(j + 1, ",")
                    && let Some(st) = self.t.get(j + 2)
                    && (listed!(STATE_ABBR, st.text)
                        || super::zip::is_state_or_country(st.text)
                        || self.state_words_at(j + 2).is_some())
                    && !super::zip::is_state_or_country(&self.s[t.start..self.t[j].end])
                {
                    self.mark(i, j, TextPattern::Place);
                    let after_state = self.state_words_at(j + 2).unwrap_or(j + 2);
                    if let Some(z) = self.t.get(after_state + 1)
                        && z.kind == Tk::Num
                        && (z.text.len() == 5
                            || z.text.len() == 9
                            || (z.text.len() == 10 && z.text.contains('-')))
                    {
                        self.mark(after_state + 1, after_state + 1, TextPattern::Place);
                        i = after_state + 2;
                    } else {
                        i = after_state + 1;
                    }
                    continue;
                }
            }
            // "Seattle WA 98115": a city, a state abbreviation, a ZIP, with no comma.
            if is_capitalised(&t)
                && !is_all_caps(&t)
                && !self.never(&t)
                && let Some(st) = self.t.get(i + 1)
                && listed!(STATE_ABBR, st.text)
                && self
                    .t
                    .get(i + 2)
                    .is_some_and(|z| z.kind == Tk::Num && z.text.len() == 5)
            {
                self.mark(i, i, TextPattern::Place);
                self.mark(i + 2, i + 2, TextPattern::Place);
                i += 3;
                continue;
            }
            // A ZIP after a state abbreviation or a "zip" label.
            if t.kind == Tk::Num
                && (t.text.len() == 5 || t.text.len() == 9)
                && i > 0
                && (listed!(STATE_ABBR, self.t[i - 1].text)
                    || self.preceded_by(i, &["zip"])
                    || self.preceded_by(i, &["zip", "code"])
                    || self.preceded_by(i, &["zipcode"])
                    || (self.punct(i - 1, ":")
                        && i > 1
                        && self
                            .word(i - 2)
                            .is_some_and(|w| w == "zip" || w == "zipcode")))
            {
                self.mark(i, i, TextPattern::Place);
                i += 1;
                continue;
            }
            // Known places (the GeoNames list of US places and counties), one to three
            // capitalised words, not starting a sentence and not an eponym: "Town: Welch",
            // "Alaska Native Primary Care, Anchorage".
            if is_capitalised(&t)
                && !t.line_start
                && i > 0
                && !matches!(self.t[i - 1].text, "." | "!" | "?")
                && !(self.t[i - 1].kind == Tk::Word
                    && TITLES.contains(&self.t[i - 1].low().as_ref()))
                && let Some(end) = self.listed_place_at(i)
            {
                self.mark(i, end, TextPattern::Place);
                i = end + 1;
                continue;
            }
            // Places after "lives in", "moved to", "from", "near"...
            if is_capitalised(&t)
                && !self.never(&t)
                && !is_state_word(t.text)
                && !listed!(COUNTRIES, l.as_str())
                && !t.line_start
            {
                let context = PLACE_CONTEXT.iter().any(|seq| self.preceded_by(i, seq));
                if context {
                    let mut j = i;
                    while j + 1 < n
                        && j - i < 3
                        && is_capitalised(&self.t[j + 1])
                        && !self.never(&self.t[j + 1])
                        && !is_state_word(self.t[j + 1].text)
                        && !self.t[j + 1].line_start
                        && self.t[j + 1].gap <= 1
                    {
                        j += 1;
                    }
                    // "in Pilsen, Chicago": a second place after a comma.
                    self.mark(i, j, TextPattern::Place);
                    if self.punct(j + 1, ",")
                        && let Some(nx) = self.t.get(j + 2)
                        && is_capitalised(nx)
                        && !self.never(nx)
                        && !is_state_word(nx.text)
                        && !listed!(COUNTRIES, lower(nx.text).as_str())
                    {
                        let mut k = j + 2;
                        while k + 1 < n
                            && k - (j + 2) < 2
                            && is_capitalised(&self.t[k + 1])
                            && !is_state_word(self.t[k + 1].text)
                            && self.t[k + 1].gap <= 1
                        {
                            k += 1;
                        }
                        self.mark(j + 2, k, TextPattern::Place);
                        j = k;
                    }
                    i = j + 1;
                    continue;
                }
            }
            i += 1;
        }
    }

    /// The longest known place of one to three capitalised words at `i`; returns its last
    /// token.
    fn listed_place_at(&self, i: usize) -> Option<usize> {
        for len in (1..=3).rev() {
            let Some(toks) = self.t.get(i..i + len) else {
                continue;
            };
            if toks.iter().enumerate().any(|(k, x)| {
                x.kind != Tk::Word
                    || !is_capitalised(x)
                    || is_all_caps(x)
                    || (k > 0 && (x.line_start || x.gap > 1))
            }) {
                continue;
            }
            let words: Vec<Lower<'_>> = toks.iter().map(|x| lower(x.text)).collect();
            let text = words.join(" ");
            if !lists::place(&text) || super::zip::is_state_or_country(&text) {
                continue;
            }
            if len == 1
                && (lists::stop(&text) || self.never(&toks[0]) || is_state_word(toks[0].text))
            {
                continue;
            }
            let end = i + len - 1;
            let next = self.t.get(end + 1);
            // "Wilson disease", "Cleveland Clinic Foundation": not the place alone.
            if self
                .word(end + 1)
                .is_some_and(|w| listed!(EPONYM_NOUNS, w.as_str()))
                || next.is_some_and(|n| {
                    n.kind == Tk::Word
                        && is_capitalised(n)
                        && !n.line_start
                        && n.gap <= 1
                        && !is_state_word(n.text)
                })
            {
                continue;
            }
            return Some(end);
        }
        None
    }

    /// ", City" after an address or an employer: up to three capitalised words (with `St.`
    /// for Saint) that are not a state. Returns the last token.
    fn city_after(&self, i: usize) -> Option<usize> {
        if !self.punct(i, ",") {
            return None;
        }
        let mut j = i + 1;
        let first = self.t.get(j)?;
        if first.line_start
            || !is_capitalised(first)
            || is_state_word(first.text)
            || listed!(COUNTRIES, first.low().as_ref())
        {
            return None;
        }
        if matches!(first.low().as_ref(), "st" | "ft" | "mt") && self.punct(j + 1, ".") {
            j += 2;
        }
        let mut last = None;
        let start = j;
        while let Some(t) = self.t.get(j) {
            let compass = matches!(
                t.low().as_ref(),
                "new" | "west" | "east" | "north" | "south"
            );
            if j - start >= 3
                || t.line_start
                || !is_capitalised(t)
                || is_state_word(t.text)
                || (self.never(t) && !compass)
            {
                break;
            }
            last = Some(j);
            j += 1;
        }
        last
    }

    /// Whether a state name of one or more words starts at `i`; returns its last token.
    fn state_words_at(&self, i: usize) -> Option<usize> {
        for len in (1..=3).rev() {
            if i + len > self.t.len() {
                continue;
            }
            let text = &self.s[self.t[i].start..self.t[i + len - 1].end];
            if self.t[i..i + len].iter().all(|t| t.kind == Tk::Word)
                && super::zip::is_state_or_country(text)
            {
                return Some(i + len - 1);
            }
        }
        None
    }

    /// Street words from `i`: up to four capitalised words or ordinals, then a suffix, then
    /// an optional direction. Returns the last token.
    fn street_after(&self, i: usize) -> Option<usize> {
        let mut j = i;
        let mut words = 0;
        // A leading direction: "NE 65th St", "N Main St".
        if self
            .t
            .get(j)
            .is_some_and(|t| DIRECTIONS.contains(&lower(t.text).as_str()) && is_capitalised(t))
            && self.t.get(j + 1).is_some_and(|t| !t.line_start)
        {
            j += 1;
        }
        while words < 4 {
            let t = self.t.get(j)?;
            if t.line_start && j > i {
                return None;
            }
            let l = self.low(j);
            let is_suffix = listed!(STREET_SUFFIX, l.as_str()) && is_capitalised(t);
            if is_suffix && words >= 1 {
                let mut end = j;
                if self.punct(end + 1, ".") {
                    end += 1;
                }
                if ROUTE_SUFFIX.contains(&l.as_str())
                    && self.t.get(end + 1).is_some_and(|r| {
                        !r.line_start
                            && r.gap <= 1
                            && ((r.kind == Tk::Num && r.text.len() <= 4)
                                || (r.kind == Tk::Word
                                    && r.text.chars().count() <= 2
                                    && r.text.chars().all(|c| c.is_ascii_uppercase())))
                    })
                {
                    end += 1;
                }
                if self.t.get(end + 1).is_some_and(|d| {
                    !d.line_start
                        && d.gap <= 1
                        && DIRECTIONS.contains(&lower(d.text).as_str())
                        && d.text.chars().all(|c| c.is_uppercase())
                }) {
                    end += 1;
                }
                return Some(end);
            }
            let ordinal = t.kind == Tk::Mixed
                && (l.ends_with("st")
                    || l.ends_with("nd")
                    || l.ends_with("rd")
                    || l.ends_with("th"))
                && l.chars().next().is_some_and(|c| c.is_ascii_digit());
            if (is_capitalised(t) && !never_name_street(t.text)) || ordinal {
                words += 1;
                j += 1;
                continue;
            }
            return None;
        }
        None
    }

    /// A named building after its number: "114 Harkness Hall", "20 Riverside Towers": one to
    /// three capitalised words, then a building word. Returns the last token.
    fn building_after(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while j < i + 4 {
            let t = self.t.get(j)?;
            if t.line_start || !is_capitalised(t) {
                return None;
            }
            if j > i && BUILDING_WORDS.contains(&t.low().as_ref()) {
                return Some(j);
            }
            if never_name_street(t.text) || self.never(t) {
                return None;
            }
            j += 1;
        }
        None
    }

    /// A unit designator and its number: "Apt 4B", "Suite 300", "Unit 12", "#5".
    fn unit_after(&self, i: usize) -> Option<usize> {
        let mut k = i;
        if self.punct(k, ",") {
            k += 1;
        }
        let t = self.t.get(k)?;
        let l = self.low(k);
        if !UNIT_WORDS.contains(&l.as_str())
            || (t.kind == Tk::Word && !is_capitalised(t) && l != "apt")
        {
            return None;
        }
        let mut j = k + 1;
        if self.punct(j, ".") || self.punct(j, "#") {
            j += 1;
        }
        let v = self.t.get(j)?;
        (matches!(v.kind, Tk::Num | Tk::Mixed)
            || (v.kind == Tk::Word
                && v.text.chars().count() <= 2
                && v.text.chars().all(char::is_uppercase)))
        .then_some(j)
    }

    fn po_box(&self, i: usize) -> Option<usize> {
        let mut j = i + 1;
        while self.punct(j, ".") || self.word(j).is_some_and(|w| w == "o") {
            j += 1;
        }
        if self.word(j).is_some_and(|w| w == "box")
            && self.t.get(j + 1).is_some_and(|t| t.kind == Tk::Num)
        {
            return Some(j + 1);
        }
        None
    }

    fn county_at(&self, i: usize) -> Option<usize> {
        let mut j = i;
        while j < self.t.len() && j - i < 3 {
            let w = lower(self.t[j].text);
            if j > i
                && matches!(w.as_str(), "county" | "parish" | "borough" | "township")
                && is_capitalised(&self.t[j])
            {
                return Some(j);
            }
            if !is_capitalised(&self.t[j]) || (j > i && self.t[j].line_start) {
                return None;
            }
            j += 1;
        }
        None
    }

    fn employers(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        while i < n {
            let cand = &self.t[i];
            if !(is_capitalised(cand) || cand.kind == Tk::Mixed || cand.text == "the") {
                i += 1;
                continue;
            }
            // Each context ends with the word just before: only those that end with it can match.
            let before = i.checked_sub(1).and_then(|k| self.word(k));
            let ctx = EMPLOYER_CONTEXT
                .iter()
                .filter(|seq| {
                    seq.last()
                        .is_none_or(|l| before.as_ref().is_some_and(|b| b == l))
                })
                .any(|seq| self.preceded_by(i, seq))
                || (i >= 2
                    && self.punct(i - 1, ":")
                    && self.word(i - 2).is_some_and(|w| {
                        matches!(
                            w.as_ref(),
                            "employer"
                                | "occupation"
                                | "school"
                                | "works"
                                | "company"
                                | "workplace"
                                | "business"
                        )
                    }))
                || (i >= 2
                    && self.punct(i - 1, "(")
                    && self
                        .word(i - 2)
                        .is_some_and(|w| matches!(w.as_ref(), "employer" | "company")));
            let t = self.t[i];
            let mut k = i;
            if ctx && self.word(k).is_some_and(|w| w == "the") {
                k += 1;
            }
            if ctx
                && let Some(first) = self.t.get(k)
                && (is_capitalised(first) || first.kind == Tk::Mixed)
                && !self.never(first)
            {
                let _ = t;
                let mut last = k;
                let mut j = k + 1;
                while j < n && j - k < 8 {
                    let x = self.t[j];
                    if x.line_start {
                        break;
                    }
                    let l = lower(x.text);
                    if is_capitalised(&x)
                        || x.kind == Tk::Mixed
                        || (x.kind == Tk::Punct && (x.text == "&" || x.text == "'"))
                    {
                        last = j;
                        j += 1;
                        continue;
                    }
                    if ORG_JOINERS.contains(&l.as_str())
                        && self
                            .t
                            .get(j + 1)
                            .is_some_and(|y| is_capitalised(y) && !y.line_start)
                    {
                        j += 1;
                        continue;
                    }
                    break;
                }
                self.mark(k, last, TextPattern::Employer);
                // "Ogunleye & Sons Auto Repair, Hyattsville": the town after it.
                let last = match self.city_after(last + 1) {
                    Some(c) => {
                        self.mark(last + 2, c, TextPattern::Place);
                        c
                    }
                    None => last,
                };
                i = last + 1;
                continue;
            }
            i += 1;
        }
        // A name that ends in what it is: "Cimarron Bluff Elementary", "Mt. Zion Free Will
        // Baptist Church", "Queen City Cab"; after the rules with context, which win.
        let found: Vec<(usize, usize)> = self
            .out
            .iter()
            .filter(|s| s.pattern == TextPattern::Employer)
            .map(|s| (s.start, s.end))
            .collect();
        let mut i = 0;
        while i < n {
            if is_capitalised(&self.t[i])
                && let Some(end) = self.org_by_suffix(i)
            {
                let (a, b) = (self.t[i].start, self.t[end].end);
                if !found.iter().any(|&(s, e)| s < b && a < e) {
                    self.mark(i, end, TextPattern::Employer);
                }
                i = end + 1;
                continue;
            }
            i += 1;
        }
    }

    /// Capitalised words from `i` ending in an [`ORG_SUFFIX`] word, with at least one word
    /// before it that says which one (not "Medical School"). Returns the suffix's token.
    fn org_by_suffix(&self, i: usize) -> Option<usize> {
        let first = self.t.get(i)?;
        let saint = matches!(first.low().as_ref(), "mt" | "st") && self.punct(i + 1, ".");
        if self.never(first) && !saint {
            return None;
        }
        let mut j = i;
        let mut specific = 0;
        let mut found = None;
        while j < self.t.len() && j - i < 9 {
            let x = self.t[j];
            if j > i && (x.line_start || x.gap > 2) {
                break;
            }
            if x.kind == Tk::Punct {
                if x.text == "." && j > i && matches!(self.t[j - 1].low().as_ref(), "mt" | "st") {
                    j += 1;
                    continue;
                }
                break;
            }
            let l = x.low();
            if j > i && specific > 0 && is_capitalised(&x) && listed!(ORG_SUFFIX, l.as_ref()) {
                found = Some(j);
                if !self.t.get(j + 1).is_some_and(|n| {
                    is_capitalised(n) && !n.line_start && listed!(ORG_SUFFIX, n.low().as_ref())
                }) {
                    break;
                }
                j += 1;
                continue;
            }
            if is_capitalised(&x) {
                if !self.never(&x) || (j == i && saint) {
                    specific += 1;
                }
                j += 1;
                continue;
            }
            if j > i && ORG_JOINERS.contains(&l.as_ref()) {
                j += 1;
                continue;
            }
            break;
        }
        found
    }

    fn identifiers(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        while i < n {
            // A label, its fillers, then a value with a digit.
            let mut labelled = None;
            if self.t[i].kind == Tk::Word || self.t[i].text == "s" {
                let first = self.t[i].low();
                for (seq, kind) in ID_LABELS {
                    let len = seq.len();
                    if seq[0] == first
                        && i + len <= n
                        && seq[1..]
                            .iter()
                            .enumerate()
                            .all(|(k, w)| self.t[i + 1 + k].low() == *w)
                    {
                        labelled = Some((i + len, *kind));
                        break;
                    }
                }
            }
            if let Some((mut j, kind)) = labelled {
                let mut fillers = 0;
                while j < n && fillers < 4 {
                    let t = self.t[j];
                    let l = self.low(j);
                    if t.line_start {
                        break;
                    }
                    if ID_FILLERS.contains(&l.as_str())
                        || (t.kind == Tk::Word
                            && fillers < 3
                            && !t.text.chars().any(|c| c.is_ascii_digit())
                            && matches!(
                                l.as_str(),
                                "member"
                                    | "subscriber"
                                    | "group"
                                    | "policy"
                                    | "driver's"
                                    | "drivers"
                                    | "license"
                                    | "licence"
                                    | "passport"
                                    | "nursing"
                                    | "serial"
                                    | "device"
                                    | "vehicle"
                                    | "car"
                                    | "truck"
                                    | "her"
                                    | "his"
                                    | "their"
                                    | "the"
                                    | "a"
                                    | "our"
                                    | "patient"
                                    | "pacemaker"
                                    | "pump"
                                    | "icd"
                                    | "implant"
                                    | "on"
                                    | "file"
                                    | "with"
                            ))
                    {
                        j += 1;
                        fillers += 1;
                        continue;
                    }
                    break;
                }
                if let Some(v) = self.t.get(j)
                    && !v.line_start
                    && (v.kind == Tk::Mixed
                        || (v.kind == Tk::Num && v.text.len() >= 3)
                        || (v.kind == Tk::Word
                            && v.text.len() >= 5
                            && is_all_caps(v)
                            && kind != IdentifierKind::Telephone))
                    && !(v.kind == Tk::Mixed && clinical_mixed(v.text))
                    && !self.year_range_at(j)
                {
                    // The value may run on with separators: 3318-0472, (01)0080(17)2512.
                    let mut end = j;
                    while end + 2 < n
                        && self.t[end + 1].gap == 0
                        && matches!(self.t[end + 1].text, "-" | "." | "/" | "(" | ")")
                        && self.t[end + 2].gap == 0
                        && matches!(self.t[end + 2].kind, Tk::Num | Tk::Mixed)
                    {
                        end += 2;
                    }
                    if kind != IdentifierKind::Telephone
                        && kind != IdentifierKind::Fax
                        && kind != IdentifierKind::Geographic
                    {
                        self.push(
                            j,
                            end,
                            TextPattern::Identifier,
                            kind,
                            placeholder_for(kind).to_owned(),
                        );
                    }
                    i = end + 1;
                    continue;
                }
            }
            let t = self.t[i];
            // Part of a dotted number (an OID, a version, a decimal) is not an identifier.
            let dotted = (i >= 2
                && self.t[i].gap == 0
                && self.t[i - 1].text == "."
                && self.t[i - 1].gap == 0
                && self.t[i - 2].kind == Tk::Num)
                || (i + 2 < n
                    && self.t[i + 1].text == "."
                    && self.t[i + 1].gap == 0
                    && self.t[i + 2].gap == 0
                    && self.t[i + 2].kind == Tk::Num);
            if identifier_shaped(&t) && !dotted && !is_year_range(t.text) && !self.year_range_at(i)
            {
                let mut end = i;
                while end + 2 < n
                    && self.t[end + 1].gap == 0
                    && matches!(self.t[end + 1].text, "-" | "(" | ")")
                    && self.t[end + 2].gap == 0
                    && matches!(self.t[end + 2].kind, Tk::Num | Tk::Mixed)
                {
                    end += 2;
                }
                self.push(
                    i,
                    end,
                    TextPattern::Identifier,
                    IdentifierKind::Other,
                    placeholder_for(IdentifierKind::Other).to_owned(),
                );
                i = end + 1;
                continue;
            }
            // Barcodes: (01)00802526543214(17)251231(21)204418876.
            if t.text == "("
                && self
                    .t
                    .get(i + 1)
                    .is_some_and(|x| x.kind == Tk::Num && x.gap == 0)
                && self
                    .t
                    .get(i + 2)
                    .is_some_and(|x| x.text == ")" && x.gap == 0)
            {
                let mut end = i + 2;
                let mut digits = 0;
                while end + 1 < n
                    && self.t[end + 1].gap == 0
                    && matches!(self.t[end + 1].kind, Tk::Num | Tk::Mixed | Tk::Punct)
                    && matches!(self.t[end + 1].kind, Tk::Num | Tk::Mixed)
                    || (end + 1 < n
                        && self.t[end + 1].gap == 0
                        && matches!(self.t[end + 1].text, "(" | ")"))
                {
                    digits += self.t[end + 1].text.len();
                    end += 1;
                }
                if digits >= 8 {
                    self.push(
                        i,
                        end,
                        TextPattern::Identifier,
                        IdentifierKind::Device,
                        placeholder_for(IdentifierKind::Device).to_owned(),
                    );
                    i = end + 1;
                    continue;
                }
            }
            i += 1;
        }
    }

    /// Whether a range of years starts at `i` ("1955-1990"): years are not identifiers.
    fn year_range_at(&self, i: usize) -> bool {
        let year = |k: usize| {
            self.t.get(k).is_some_and(|t| {
                t.kind == Tk::Num
                    && t.text.len() == 4
                    && t.text
                        .parse::<u32>()
                        .is_ok_and(|y| (1850..=2100).contains(&y))
            })
        };
        year(i)
            && self
                .t
                .get(i + 1)
                .is_some_and(|d| d.gap == 0 && matches!(d.text, "-" | "–"))
            && self.t.get(i + 2).is_some_and(|t| t.gap == 0)
            && year(i + 2)
    }

    fn date_repl(&self, year: Option<i32>) -> String {
        match (self.dates, year) {
            (Method::Generalize, Some(y)) => format!("{y:04}"),
            _ => placeholder_for(IdentifierKind::Dates).to_owned(),
        }
    }

    /// A year token (4 digits, 1800-2200) or `'17`.
    fn year_at(&self, i: usize) -> Option<(usize, Option<i32>)> {
        let t = self.t.get(i)?;
        if t.kind == Tk::Num && t.text.len() == 4 {
            let y: i32 = t.text.parse().ok()?;
            if (1800..=2200).contains(&y) {
                return Some((i, Some(y)));
            }
        }
        None
    }

    fn day_at(&self, i: usize) -> Option<usize> {
        self.t.get(i)?;
        let l = self.low(i);
        let digits: String = l.chars().take_while(char::is_ascii_digit).collect();
        let rest = &l[digits.len()..];
        if digits.is_empty() || digits.len() > 2 || !matches!(rest, "" | "st" | "nd" | "rd" | "th")
        {
            return None;
        }
        let d: u32 = digits.parse().ok()?;
        (1..=31).contains(&d).then_some(i)
    }

    fn dates(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        while i < n {
            let t = self.t[i];
            // Month [day][,] [year]: Jan 5th, 2017; Sept. 9, 2020; March 3rd; February of 2015.
            if t.kind == Tk::Word
                && let Some(_m) = month_of(t.text)
                && (is_capitalised(&t) || is_all_caps(&t))
                && (lower(t.text) != "may" || self.may_is_month(i))
                && (lower(t.text) != "march" || self.may_is_month(i))
            {
                let mut j = i + 1;
                if self.punct(j, ".") {
                    j += 1;
                }
                if let Some(d) = self.day_at(j).filter(|&d| !self.t[d].line_start) {
                    let mut end = d;
                    let mut k = d + 1;
                    if self.punct(k, ",") {
                        k += 1;
                    }
                    let year = self.year_at(k);
                    if let Some((y_end, _)) = year {
                        end = y_end;
                    }
                    let y = year.and_then(|y| y.1);
                    let r = self.date_repl(y);
                    self.push(i, end, TextPattern::Date, IdentifierKind::Dates, r);
                    i = end + 1;
                    continue;
                }
                let mut k = j;
                if self.word(k).is_some_and(|w| w == "of") || self.punct(k, ",") {
                    k += 1;
                }
                if let Some((y_end, y)) = self.year_at(k) {
                    let r = self.date_repl(y);
                    self.push(i, y_end, TextPattern::Date, IdentifierKind::Dates, r);
                    i = y_end + 1;
                    continue;
                }
            }
            // [the] day[ordinal] [of] Month [,] [year]: 5 Feb 2018, the 4th of July 2016.
            if let Some(d) = self.day_at(i) {
                let mut j = d + 1;
                if self.word(j).is_some_and(|w| w == "of") {
                    j += 1;
                }
                if let Some(m) = self.t.get(j)
                    && m.kind == Tk::Word
                    && month_of(m.text).is_some()
                    && (is_capitalised(m) || is_all_caps(m))
                    && (lower(m.text) != "may" || self.may_is_month(j))
                {
                    let mut end = j;
                    if self.punct(end + 1, ".") {
                        end += 1;
                    }
                    let mut k = end + 1;
                    if self.punct(k, ",") {
                        k += 1;
                    }
                    let y = self.year_at(k);
                    if let Some((y_end, _)) = y {
                        end = y_end;
                    }
                    let r = self.date_repl(y.and_then(|y| y.1));
                    self.push(i, end, TextPattern::Date, IdentifierKind::Dates, r);
                    i = end + 1;
                    continue;
                }
                // "the 14th", "on the 3rd": a day of the month alone.
                let l = lower(self.t[d].text);
                if l.len() > 2
                    && i > 0
                    && self.word(i - 1).is_some_and(|w| w == "the")
                    && !self
                        .word(d + 1)
                        .is_some_and(|w| listed!(NOT_DAY_NOUNS, w.as_str()))
                {
                    self.push(
                        d,
                        d,
                        TextPattern::Date,
                        IdentifierKind::Dates,
                        placeholder_for(IdentifierKind::Dates).to_owned(),
                    );
                    i = d + 1;
                    continue;
                }
            }
            // Numeric dates: 12/25/21, 06.02.2019, 06-02-2019, and m/d with a date word before.
            if t.kind == Tk::Num
                && t.text.len() <= 2
                && let Some(end) = self.numeric_date(i)
            {
                i = end + 1;
                continue;
            }
            // Holidays: Christmas 2019, Thanksgiving Day.
            if is_capitalised(&t)
                && matches!(
                    lower(t.text).as_str(),
                    "christmas" | "thanksgiving" | "easter" | "halloween"
                )
            {
                let mut end = i;
                if self.word(end + 1).is_some_and(|w| w == "day" || w == "eve") {
                    end += 1;
                }
                let y = self.year_at(end + 1);
                if let Some((y_end, _)) = y {
                    end = y_end;
                }
                let r = self.date_repl(y.and_then(|y| y.1));
                self.push(i, end, TextPattern::Date, IdentifierKind::Dates, r);
                i = end + 1;
                continue;
            }
            i += 1;
        }
    }

    /// "May" and "March" are months only next to a day or year.
    fn may_is_month(&self, i: usize) -> bool {
        let mut j = i + 1;
        if self.punct(j, ".") {
            j += 1;
        }
        self.day_at(j).is_some()
            || self.year_at(j).is_some()
            || (self.word(j).is_some_and(|w| w == "of") && self.year_at(j + 1).is_some())
            || (i > 0 && self.day_at(i - 1).is_some())
            || (i > 1
                && self.word(i - 1).is_some_and(|w| w == "of")
                && self.day_at(i - 2).is_some())
    }

    fn numeric_date(&mut self, i: usize) -> Option<usize> {
        let t = self.t;
        let a: u32 = t[i].text.parse().ok()?;
        let sep = t
            .get(i + 1)
            .filter(|x| x.gap == 0 && matches!(x.text, "/" | "." | "-"))?;
        // Month and year: "since 8/2022" (after a date word) keeps the year.
        if sep.text == "/"
            && (1..=12).contains(&a)
            && let Some(y) = t
                .get(i + 2)
                .filter(|x| x.gap == 0 && x.kind == Tk::Num && x.text.len() == 4)
            && let Ok(yv) = y.text.parse::<i32>()
            && (1900..=2100).contains(&yv)
            && t.get(i + 3)
                .is_none_or(|x| x.gap > 0 || x.kind == Tk::Punct && x.text != "/")
            && i.checked_sub(1)
                .and_then(|k| self.word(k))
                .is_some_and(|w| {
                    listed!(DATE_WORDS, w.as_str()) || matches!(w.as_str(), "in" | "since")
                })
        {
            let r = self.date_repl(Some(yv));
            self.push(i, i + 2, TextPattern::Date, IdentifierKind::Dates, r);
            return Some(i + 2);
        }
        let b_tok = t
            .get(i + 2)
            .filter(|x| x.gap == 0 && x.kind == Tk::Num && x.text.len() <= 2)?;
        let b: u32 = b_tok.text.parse().ok()?;
        let valid = |m: u32, d: u32| (1..=12).contains(&m) && (1..=31).contains(&d);
        if !(valid(a, b) || valid(b, a)) {
            return None;
        }
        if let Some(s2) = t.get(i + 3).filter(|x| x.gap == 0 && x.text == sep.text)
            && let Some(y) = t.get(i + 4).filter(|x| x.gap == 0 && x.kind == Tk::Num)
        {
            let _ = s2;
            if y.text.len() == 4 {
                let yv: i32 = y.text.parse().ok()?;
                if (1800..=2200).contains(&yv)
                    && t.get(i + 5)
                        .is_none_or(|x| x.gap > 0 || !matches!(x.kind, Tk::Num | Tk::Mixed))
                {
                    let r = self.date_repl(Some(yv));
                    self.push(i, i + 4, TextPattern::Date, IdentifierKind::Dates, r);
                    return Some(i + 4);
                }
            }
            if y.text.len() == 2 && sep.text != "." || (y.text.len() == 2 && sep.text == ".") {
                self.push(
                    i,
                    i + 4,
                    TextPattern::Date,
                    IdentifierKind::Dates,
                    placeholder_for(IdentifierKind::Dates).to_owned(),
                );
                return Some(i + 4);
            }
            return None;
        }
        // m/d alone: only with a date word before it, and no unit after it.
        if sep.text != "/" {
            return None;
        }
        let next_ok = t.get(i + 3).is_none_or(|x| {
            !((x.gap == 0 && matches!(x.kind, Tk::Num | Tk::Mixed | Tk::Word))
                || (x.kind == Tk::Word && UNIT_AFTER.contains(&lower(x.text).as_str())))
        });
        let before = i.checked_sub(1).and_then(|k| self.word(k));
        let before2 = i.checked_sub(2).and_then(|k| self.word(k));
        let dated = before
            .as_deref()
            .is_some_and(|w| listed!(DATE_WORDS, w) || WEEKDAYS.contains(&w))
            || (i >= 1
                && t[i - 1].text == ":"
                && before2.as_deref().is_some_and(|w| listed!(DATE_WORDS, w)))
            || (i >= 1 && t[i - 1].text == "(" && before2.is_some())
            || self.continues_dates(i)
            // "f/u 6/24".
            || (i >= 3
                && self.word(i - 1).is_some_and(|w| w == "u")
                && t[i - 2].text == "/"
                && self.word(i - 3).is_some_and(|w| w == "f"))
            // "11/21 at 1 PM", "2/5 @ 1420".
            || (self.word(i + 3).is_some_and(|w| w == "at") || t.get(i + 3).is_some_and(|x| x.text == "@"))
                && t.get(i + 4).is_some_and(|x| x.kind == Tk::Num || x.kind == Tk::Mixed);
        if next_ok && dated && valid(a, b) {
            self.push(
                i,
                i + 2,
                TextPattern::Date,
                IdentifierKind::Dates,
                placeholder_for(IdentifierKind::Dates).to_owned(),
            );
            return Some(i + 2);
        }
        None
    }

    /// Whether token `i` follows a date found just before it in a list: "10/02, 10/15",
    /// "3/4 and 3/9".
    fn continues_dates(&self, i: usize) -> bool {
        let Some(prev) = self.out.last() else {
            return false;
        };
        let joined = |k: usize| {
            self.punct(k, ",") || self.punct(k, ";") || self.word(k).is_some_and(|w| w == "and")
        };
        // "10/02, 10/15", "10/02 and 10/15", "10/02, and 10/15".
        let ends_date = |k: usize| self.t[k].end == prev.end;
        prev.pattern == TextPattern::Date
            && i >= 2
            && joined(i - 1)
            && (ends_date(i - 2) || (i >= 3 && joined(i - 2) && ends_date(i - 3)))
    }

    fn ages(&mut self) {
        let n = self.t.len();
        let mut i = 0;
        while i < n {
            let t = self.t[i];
            let l = self.low(i);
            // Words: ninety-three, ninety three years old, one hundred and two.
            if let Some((end, age)) = self.age_words(i)
                && age > 89
            {
                self.push(
                    i,
                    end,
                    TextPattern::Age,
                    IdentifierKind::Dates,
                    "90 or older".to_owned(),
                );
                i = end + 1;
                continue;
            }
            // "mid-nineties", "late 90s", "nonagenarian", "centenarian".
            if matches!(
                l.as_str(),
                "nonagenarian"
                    | "centenarian"
                    | "supercentenarian"
                    | "mid-nineties"
                    | "late-nineties"
                    | "early-nineties"
                    | "nineties"
                    | "90s"
                    | "mid-90s"
                    | "late-90s"
                    | "early-90s"
            ) && (!matches!(l.as_str(), "nineties" | "90s") || self.age_context(i))
            {
                let mut start = i;
                if i > 0 && matches!(self.word(i - 1).as_deref(), Some("mid" | "late" | "early")) {
                    start = i - 1;
                }
                self.push(
                    start,
                    i,
                    TextPattern::Age,
                    IdentifierKind::Dates,
                    "90 or older".to_owned(),
                );
                i += 1;
                continue;
            }
            // Numbers with an age word: aged 94, age: 91, she is 91, 97F, 92 y.o.
            if t.kind == Tk::Num
                && let Ok(age) = t.text.parse::<u32>()
                && (90..=130).contains(&age)
            {
                let before = i.checked_sub(1).and_then(|k| self.word(k));
                let before2 = i.checked_sub(2).and_then(|k| self.word(k));
                let labelled = before
                    .as_deref()
                    .is_some_and(|w| matches!(w, "aged" | "age" | "ages"))
                    || (i >= 1
                        && self.t[i - 1].text == ":"
                        && before2.as_deref().is_some_and(|w| w == "age"))
                    || before
                        .as_deref()
                        .is_some_and(|w| matches!(w, "turned" | "turns" | "turning"))
                    || (before.as_deref().is_some_and(|w| {
                        matches!(w, "is" | "was" | "turned" | "turns" | "turning" | "now")
                    }) && before2.as_deref().is_some_and(|w| {
                        matches!(
                            w,
                            "she"
                                | "he"
                                | "patient"
                                | "pt"
                                | "they"
                                | "who"
                                | "mother"
                                | "father"
                                | "mom"
                                | "dad"
                                | "grandmother"
                                | "grandfather"
                        )
                    }));
                let after = self.word(i + 1);
                let unit = after.as_deref().is_some_and(|w| {
                    matches!(
                        w,
                        "y" | "yo"
                            | "y/o"
                            | "yrs"
                            | "yr"
                            | "years"
                            | "year"
                            | "year-old"
                            | "years-old"
                            | "yr-old"
                            | "f"
                            | "m"
                    )
                });
                if labelled || unit {
                    let mut end = i;
                    if unit {
                        end = i + 1;
                        while end + 1 < n
                            && matches!(self.t[end + 1].text, "." | "/" | "o" | "-" | "old")
                            && self.t[end + 1].gap == 0
                        {
                            end += 1;
                        }
                        if self.word(end + 1).is_some_and(|w| w == "old") {
                            end += 1;
                        }
                    }
                    self.push(
                        i,
                        end,
                        TextPattern::Age,
                        IdentifierKind::Dates,
                        "90 or older".to_owned(),
                    );
                    i = end + 1;
                    continue;
                }
            }
            if t.kind == Tk::Mixed {
                // 97F, 92yo, 91M, 94-year-old.
                let digits: String = l.chars().take_while(char::is_ascii_digit).collect();
                let rest = &l[digits.len()..];
                if let Ok(age) = digits.parse::<u32>()
                    && (90..=130).contains(&age)
                    && matches!(
                        rest,
                        "f" | "m"
                            | "yo"
                            | "y"
                            | "yr"
                            | "yrs"
                            | "-year-old"
                            | "-yr-old"
                            | "-years-old"
                            | "-y-o"
                            | "-yo"
                    )
                {
                    self.push(
                        i,
                        i,
                        TextPattern::Age,
                        IdentifierKind::Dates,
                        "90 or older".to_owned(),
                    );
                    i += 1;
                    continue;
                }
            }
            i += 1;
        }
    }

    fn age_context(&self, i: usize) -> bool {
        (1..=3).any(|k| {
            i >= k
                && self.word(i - k).is_some_and(|w| {
                    matches!(w.as_str(), "her" | "his" | "their" | "in" | "age" | "aged")
                })
        })
    }

    /// A number written in words from `i`, as an age: returns the last token and the value.
    fn age_words(&self, i: usize) -> Option<(usize, u32)> {
        const TENS: [&str; 4] = ["ninety", "hundred", "one", "a"];
        let l = self.word(i)?;
        let first = l.split('-').next().unwrap_or("");
        if !TENS.contains(&first) {
            return None;
        }
        let units = |w: &str| {
            [
                "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
            ]
            .iter()
            .position(|u| *u == w)
            .map(|p| p as u32)
        };
        let (mut value, mut end) = if first == "ninety" {
            match l.split_once('-') {
                Some((_, u)) => (90 + units(u)?, i),
                None => match self.word(i + 1).as_deref().and_then(units) {
                    Some(u) if u > 0 => (90 + u, i + 1),
                    _ => (90, i),
                },
            }
        } else if (first == "one" || first == "a")
            && self.word(i + 1).is_some_and(|w| w == "hundred")
        {
            let mut v = 100;
            let mut e = i + 1;
            let mut k = i + 2;
            if self.word(k).is_some_and(|w| w == "and") {
                k += 1;
            }
            if let Some(u) = self.word(k).as_deref().and_then(units).filter(|u| *u > 0) {
                v += u;
                e = k;
            }
            (v, e)
        } else {
            return None;
        };
        // It is an age only with "years old", "year-old", "-year-old" after it.
        let mut k = end + 1;
        if self.punct(k, "-") {
            k += 1;
        }
        let w = self.word(k)?;
        if !matches!(
            w.as_str(),
            "years" | "year" | "year-old" | "years-old" | "yo" | "y/o"
        ) {
            return None;
        }
        end = k;
        if self.word(end + 1).is_some_and(|w| w == "old" || w == "of") {
            end += 1;
            if self.word(end + 1).is_some_and(|w| w == "age") {
                end += 1;
            }
        }
        if value == 0 {
            value = 90;
        }
        Some((end, value))
    }
}

/// Words after "the Nth" that make it something other than a day of the month.
const NOT_DAY_NOUNS: &[&str] = &[
    "percentile",
    "centile",
    "grade",
    "week",
    "weeks",
    "day",
    "days",
    "time",
    "times",
    "floor",
    "rib",
    "ribs",
    "cranial",
    "nerve",
    "dose",
    "doses",
    "cycle",
    "visit",
    "attempt",
    "digit",
    "finger",
    "toe",
    "metatarsal",
    "metacarpal",
    "intercostal",
    "ventricle",
    "trimester",
    "degree",
    "line",
    "cycle",
    "round",
    "session",
    "episode",
    "admission",
    "pregnancy",
    "child",
    "birthday",
    "year",
    "month",
    "place",
    "stage",
    "generation",
    "edition",
    "most",
    "century",
    "decade",
    "hour",
    "minute",
    "vertebra",
    "lumbar",
    "thoracic",
    "cervical",
    "sacral",
    "molar",
    "premolar",
    "incisor",
    "tooth",
    "teeth",
    "heart",
    "sound",
    "toe",
    "and",
    "or",
    "to",
];

/// Words before a bare month/day (`seen 3/4`, `since 11/20`).
const DATE_WORDS: &[&str] = &[
    "given",
    "administered",
    "filled",
    "fill",
    "refilled",
    "completed",
    "expires",
    "exp",
    "coverage",
    "effective",
    "note",
    "ends",
    "pharmacy",
    "dates",
    "vaccinated",
    "booster",
    "on",
    "since",
    "from",
    "until",
    "till",
    "til",
    "to",
    "by",
    "dated",
    "date",
    "dos",
    "seen",
    "admitted",
    "discharged",
    "as",
    "starting",
    "started",
    "start",
    "stopped",
    "ended",
    "last",
    "next",
    "before",
    "after",
    "of",
    "scheduled",
    "rescheduled",
    "appt",
    "appointment",
    "visit",
    "surgery",
    "procedure",
    "born",
    "dob",
    "died",
    "expired",
    "through",
    "thru",
    "between",
    "and",
    "due",
    "lmp",
    "edd",
    "edc",
    "onset",
    "injury",
    "fall",
    "fell",
    "called",
    "returned",
    "returns",
    "return",
    "sent",
    "received",
    "drawn",
    "collected",
    "done",
    "performed",
    "placed",
    "removed",
    "changed",
    "week",
    "weekend",
    "around",
    "about",
    "approx",
    "approximately",
    "early",
    "mid",
    "late",
    "circa",
    "ca",
    "target",
    "taken",
    "recheck",
    "rtc",
    "repeat",
    "followup",
    "follow-up",
    "fu",
    "checked",
    "tested",
    "obtained",
    "expected",
    "planned",
];

/// Units after a fraction that make it a dose, a ratio or a score (`1/2 tab`, `8/2 mg`).
const UNIT_AFTER: &[&str] = &[
    "mg", "mcg", "g", "ml", "tab", "tabs", "tablet", "tablets", "cap", "caps", "units", "u", "iu",
    "puffs", "puff", "drops", "mmhg", "bpm", "negative", "positive", "strength", "vision", "ou",
    "od", "os", "dilution", "ratio", "split", "of", "cups", "servings",
];

fn is_state_word(w: &str) -> bool {
    super::zip::is_state_or_country(w) || listed!(STATE_ABBR, w)
}

fn never_name_street(w: &str) -> bool {
    let l = lower(w);
    // Words that end a phrase before a suffix-like word: "Emergency Dept", "Heart Center".
    matches!(
        l.as_str(),
        "the"
            | "and"
            | "of"
            | "patient"
            | "pt"
            | "he"
            | "she"
            | "i"
            | "we"
            | "they"
            | "dr"
            | "drive"
    ) || month_of(w).is_some()
        || WEEKDAYS.contains(&l.as_str())
}

/// Finds the identifiers in prose for the enabled patterns, sorted by start and
/// non-overlapping (an earlier or longer span wins).
pub(crate) fn find(s: &str, patterns: &[TextPattern], dates: Method) -> Vec<Span> {
    use TextPattern as P;
    let wanted = [
        P::Name,
        P::Place,
        P::Employer,
        P::Identifier,
        P::Date,
        P::Age,
    ];
    if !wanted.iter().any(|p| patterns.contains(p)) || s.len() < 2 {
        return Vec::new();
    }
    // Most strings are short codes and words: no capital, no digit, nothing to find. (A
    // longer one may be a patient's message in lower case, with names in it.)
    if s.len() < 40
        && !s
            .bytes()
            .any(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        && !s.contains("ninet")
        && !s.contains("hundred")
    {
        return Vec::new();
    }
    let toks = tokenize(s);
    let lows: Vec<Lower<'_>> = toks.iter().map(|t| lower(t.text)).collect();
    let never = vec![std::cell::Cell::new(0); toks.len()];
    let mut f = Finder {
        s,
        t: &toks,
        lows: &lows,
        never: &never,
        patterns,
        dates,
        out: Vec::new(),
    };
    if f.on(P::Date) && f.dates != Method::Keep {
        f.dates();
    }
    if f.on(P::Age) {
        f.ages();
    }
    if f.on(P::Identifier) {
        f.identifiers();
    }
    if f.on(P::Place) {
        f.places();
    }
    if f.on(P::Employer) {
        f.employers();
    }
    if f.on(P::Name) {
        f.names();
        f.names_again();
    }
    let mut spans = f.out;
    spans.sort_by(|a, b| a.start.cmp(&b.start).then(b.end.cmp(&a.end)));
    let mut out: Vec<Span> = Vec::with_capacity(spans.len());
    for sp in spans {
        if out.last().is_some_and(|l| sp.start < l.end) {
            continue;
        }
        out.push(sp);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrub(s: &str) -> String {
        use TextPattern as P;
        let spans = find(
            s,
            &[
                P::Name,
                P::Place,
                P::Employer,
                P::Identifier,
                P::Date,
                P::Age,
            ],
            Method::Generalize,
        );
        let mut out = String::new();
        let mut at = 0;
        for sp in spans {
            out.push_str(&s[at..sp.start]);
            out.push_str(&sp.replacement);
            at = sp.end;
        }
        out.push_str(&s[at..]);
        out
    }

    #[test]
    fn finds_identifiers_in_prose() {
        for (input, gone) in [
            (
                "Home with wife Ngozi. Lives at 1432 Larkspur Ave, Madison, WI 53703.",
                &["Ngozi", "1432 Larkspur", "Madison", "53703"][..],
            ),
            ("Admit: Jan 5th, 2017", &["Jan 5th"]),
            (
                "Seen with Mr. Okafor and his daughter, Adaeze Okafor.",
                &["Okafor", "Adaeze"],
            ),
            (
                "MRN 00482913, member ID XJH482193007, acct 55-01928",
                &["00482913", "XJH482193007", "55-01928"],
            ),
            (
                "She is a 97 yo woman, aged 94 by another count; ninety-three years old.",
                &["97 yo", "94", "ninety-three"],
            ),
            ("Works at Kowalczyk Roofing LLC since 2019.", &["Kowalczyk"]),
            ("Lives in Dane County.", &["Dane"]),
            (
                "on the 4th of July 2016 and Sept. 9, 2020",
                &["4th of July", "Sept. 9"],
            ),
            ("Follow-up on 3/4 and 12/25/21.", &["3/4", "12/25/21"]),
            (
                "Pt: Guadalupe \"Lupita\" Ramírez Ortega, 19F",
                &["Guadalupe", "Lupita", "Ortega"],
            ),
            (
                "Lives at 88 Quarry Rd, West Tisbury, MA 02575.",
                &["Quarry", "Tisbury", "02575"],
            ),
            (
                "Discharged to her niece in Wellfleet; she works at Beacon Marine Supply, Falmouth.",
                &["Wellfleet", "Beacon", "Falmouth"],
            ),
            (
                "Parents: Oskar and Birgit Lindqvist-Haugen",
                &["Oskar", "Birgit", "Lindqvist"],
            ),
            ("Caller: Grace Mbeki (aunt)", &["Mbeki"]),
            (
                "Seen with daughters Anneli and Katrin today.",
                &["Anneli", "Katrin"],
            ),
            ("Moved to Tacoma WA 98402 in 2019.", &["Tacoma", "98402"]),
            (
                "Staying in a shelter on Euclid Ave, Lakewood, until May.",
                &["Euclid", "Lakewood"],
            ),
            (
                "Room 3, 27 Whitcombe Hall, Ann Arbor; ok to text.",
                &["Whitcombe", "Ann Arbor"],
            ),
            (
                "Ranch at W2210 State Hwy 29, Bonduel.",
                &["W2210", "Bonduel"],
            ),
            (
                "INR drawn 4/2, 4/9 and 4/16; next 4/23.",
                &["4/2", "4/9", "4/16"],
            ),
            (
                "Tammy Blankenship called back. Reviewed by Dr. OKAFOR.",
                &["Tammy", "Blankenship", "OKAFOR"],
            ),
            (
                "Signed: Lucia Ferrer, NP-C / Omar Haddad, RN",
                &["Lucia", "Ferrer", "Haddad"],
            ),
            (
                "hi its marisol reyes, my son kevin says dr patel wants labs",
                &["marisol", "reyes", "kevin", "patel"],
            ),
            (
                "Her brother Teodoro drove; Teodoro's truck broke down.",
                &["Teodoro"],
            ),
            (
                "Children: Amara (8) and Tobenna (5) live with her.",
                &["Amara", "Tobenna"],
            ),
            ("Pt: Nguyen, Thi (\"Tina\"), seen today", &["Tina"]),
            (
                "Attends Cedar Ridge Elementary; family at Grace Harbor Church.",
                &["Cedar Ridge", "Harbor"],
            ),
            (
                "Referred from a clinic in town, Anchorage, last week.",
                &["Anchorage"],
            ),
            (
                "Recheck 3/14 at 10 am; on it since 8/2022.",
                &["3/14", "8/2022"],
            ),
            ("Her husband turned 94 last month.", &["94"]),
        ] {
            let out = scrub(input);
            for g in gone {
                assert!(!out.contains(g), "{g:?} survived in {out:?}");
            }
        }
    }

    #[test]
    fn keeps_clinical_meaning() {
        for keep in [
            "BP 142/88 on admission, improved to 128/80",
            "metformin 500 mg twice daily",
            "Parkinson's disease",
            "Crohn's disease flare",
            "Addison's disease",
            "HbA1c 7.9%",
            "a 67-year-old man",
            "since 2015",
            "moved from Ohio in 1962",
            "Bell's palsy",
            "PHQ-9 of 14",
            "Take 1/2 tab at bedtime",
            "Vision 20/25 OU",
            "COVID-19 vaccine",
            "the 3rd dose",
            "in the 90th percentile",
            "You may call us",
            "L4-L5 disc",
            "G2P1 at 32 weeks",
            "seen in Radiology for a CT of the chest",
            "Will call back in the morning.",
            "Hope to see improvement in Spanish-speaking group.",
            "Patient is an active smoker and is an alcoholic.",
            "Screened for Wilson disease and Cushing syndrome.",
            "Occasional Braxton Hicks contractions; Ramsay Hunt syndrome excluded.",
            "OB visit at 28w2d, worked at the plant 1955-1990.",
            "Strength 4/5 in the left arm, pain 7/10.",
            "my son will call and mark the chart",
        ] {
            assert_eq!(scrub(keep), keep);
        }
    }
}
