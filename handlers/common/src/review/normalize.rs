//! Normalised answers (ISO 8601 dates and durations, jurisdictions, party names), the key dates
//! derived from them, and the summary written from verified findings.
//!
//! Every parser here reads a short raw answer or an excerpt; none of them returns text that is not
//! either a normalised value (a date, a duration, a canonical place name) or a substring of the
//! contract (a title, a party name).

use std::ops::Range;
use std::sync::LazyLock;

use regex::Regex;
use time::{Date, Month};

use super::categories::{AnswerKind, Category};
use super::model::{Answer, Excerpt, Finding, KeyDates, RiskLevel};

/// The normalised answer for `category`, from the provider's raw answer if it has one, else from the
/// verified excerpts. Values that must come from the document (party names, titles) are only kept
/// when they occur in `text`.
#[must_use]
pub fn answer(
    category: &Category,
    raw: Option<&str>,
    excerpts: &[Excerpt],
    text: &str,
) -> Option<Answer> {
    let raw = raw.map(str::trim).filter(|r| !r.is_empty());
    let from_raw = raw.and_then(|r| read(category, r, text, true));
    from_raw.or_else(|| {
        excerpts
            .iter()
            .find_map(|e| read(category, &e.text, text, false))
    })
}

/// Reads one piece of text (a raw answer, or an excerpt) as `category`'s answer.
fn read(category: &Category, s: &str, text: &str, raw: bool) -> Option<Answer> {
    match category.answer {
        AnswerKind::YesNo => None,
        AnswerKind::Title => title(s, text),
        AnswerKind::Parties => parties(s, text, raw),
        _ => locate(category, s).map(|(a, _)| a),
    }
}

/// The dated, timed or placed answer in `s` and where it is written (bytes of `s`).
fn locate(category: &Category, s: &str) -> Option<(Answer, Range<usize>)> {
    match category.answer {
        AnswerKind::Date => if category.name == "Expiration Date" {
            expiry_date(s)
        } else {
            find_date(s)
        }
        .map(|(d, r)| (Answer::Date { date: iso(d) }, r))
        .or_else(|| perpetual(s).map(|r| (Answer::Perpetual, r))),
        AnswerKind::Duration => {
            let cue: &[&str] = match category.name {
                "Renewal Term" => &["renew", "extend", "extension", "successive", "additional"],
                "Notice Period To Terminate Renewal" => &["notice", "notif"],
                "Warranty Duration" => &["warrant"],
                _ => &[],
            };
            duration_near(s, cue)
                .map(|(d, successive, r)| {
                    let answer = Answer::Duration {
                        duration: d.iso(),
                        successive: successive
                            || (category.name == "Renewal Term" && mentions_repeat(s)),
                    };
                    (answer, r)
                })
                .or_else(|| perpetual(s).map(|r| (Answer::Perpetual, r)))
        }
        AnswerKind::Jurisdiction => jurisdiction(s).map(|(name, country, r)| {
            let answer = Answer::Jurisdiction {
                name: name.to_owned(),
                country: country.map(str::to_owned),
            };
            (answer, r)
        }),
        AnswerKind::YesNo | AnswerKind::Title | AnswerKind::Parties => None,
    }
}

/// Where in `excerpt` the raw answer for a date, duration or jurisdiction category is written
/// (`May 8, 2014`, `successive one (1) year periods`, `the State of New York`), for providers
/// that quote it. `None` for other categories or when there is none.
#[must_use]
pub(crate) fn raw_answer_span(category: &Category, excerpt: &str) -> Option<Range<usize>> {
    static LEAD: LazyLock<Regex> = LazyLock::new(|| {
        ascii_regex(
            r"(?i)(?:\b(?:successive|additional|consecutive|renewal|further|subsequent)\s+|\bthe\s+(?:state|commonwealth|province|republic)\s+of\s+)$",
        )
        .expect("lead pattern")
    });
    let (_, r) = locate(category, excerpt)?;
    let lead = LEAD.find(tail(excerpt, r.start, 40)).map_or(0, |m| m.len());
    Some(r.start - lead..r.end)
}

/// The party names in a preamble excerpt, as written, that occur in `text`.
#[must_use]
pub(crate) fn party_names(excerpt: &str, text: &str) -> Vec<String> {
    match parties(excerpt, text, false) {
        Some(Answer::Parties { names }) => names,
        _ => Vec::new(),
    }
}

/// Compiles `pattern` with ASCII word boundaries (a Unicode `\b` keeps the regex engine off its
/// fast automaton whenever the text has a non-ASCII character).
fn ascii_regex(pattern: &str) -> Result<Regex, regex::Error> {
    Regex::new(&pattern.replace(r"\b", r"(?-u:\b)"))
}

// ---------------------------------------------------------------------------------------------
// Dates
// ---------------------------------------------------------------------------------------------

const MONTHS: [(&str, Month); 12] = [
    ("jan", Month::January),
    ("feb", Month::February),
    ("mar", Month::March),
    ("apr", Month::April),
    ("may", Month::May),
    ("jun", Month::June),
    ("jul", Month::July),
    ("aug", Month::August),
    ("sep", Month::September),
    ("oct", Month::October),
    ("nov", Month::November),
    ("dec", Month::December),
];

const MONTH_NAMES: &str = r"(?:january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?";

/// The date forms we read; each alternative names its groups.
static DATE_FORMS: LazyLock<Regex> = LazyLock::new(|| {
    let m = MONTH_NAMES;
    let ord = r"(?:\s?(?:st|nd|rd|th|t\s?h))?";
    let pattern = format!(
        r"(?ix)
        \b(?P<d1>\d{{1,2}}){ord}\s+day\s+of\s+(?P<m1>{m})\s*,?\s*(?P<y1>\d{{4}})\b
        |\b(?P<m2>{m})\s+(?P<d2>\d{{1,2}}){ord}\s*,?\s*(?P<y2>\d{{4}})\b
        |\b(?P<d3>\d{{1,2}}){ord}\s+(?P<m3>{m})\s*,?\s*(?P<y3>\d{{4}})\b
        |\b(?P<y4>\d{{4}})-(?P<m4>\d{{1,2}})-(?P<d4>\d{{1,2}})\b
        |\b(?P<m5>\d{{1,2}})[/\-.](?P<d5>\d{{1,2}})[/\-.](?P<y5>\d{{4}}|\d{{2}})\b"
    );
    ascii_regex(&pattern).expect("date forms")
});

fn month_of(s: &str) -> Option<Month> {
    let l = s.trim_end_matches('.').to_ascii_lowercase();
    MONTHS
        .iter()
        .find(|(p, _)| l.starts_with(p))
        .map(|&(_, m)| m)
}

fn year_of(s: &str) -> Option<i32> {
    let y: i32 = s.parse().ok()?;
    Some(match s.len() {
        2 if y < 50 => 2000 + y,
        2 => 1900 + y,
        _ => y,
    })
}

/// The first calendar date written in `s`, with its byte range. US order for numeric dates
/// (`5/8/2014` is May 8). Dates that do not exist (`February 30, 2019`) are skipped.
#[must_use]
pub(crate) fn find_date(s: &str) -> Option<(Date, Range<usize>)> {
    DATE_FORMS.captures_iter(s).find_map(|c| {
        let g = |n: &str| c.name(n).map(|m| m.as_str());
        let (day, month, year) = if let Some(d) = g("d1") {
            (d, month_of(g("m1")?)?, g("y1")?)
        } else if let Some(d) = g("d2") {
            (d, month_of(g("m2")?)?, g("y2")?)
        } else if let Some(d) = g("d3") {
            (d, month_of(g("m3")?)?, g("y3")?)
        } else if let Some(d) = g("d4") {
            (
                d,
                Month::try_from(g("m4")?.parse::<u8>().ok()?).ok()?,
                g("y4")?,
            )
        } else {
            let d = g("d5")?;
            (
                d,
                Month::try_from(g("m5")?.parse::<u8>().ok()?).ok()?,
                g("y5")?,
            )
        };
        let date = Date::from_calendar_date(year_of(year)?, month, day.parse().ok()?).ok()?;
        Some((date, c.get(0)?.range()))
    })
}

/// `YYYY-MM-DD`.
fn iso(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

fn parse_iso(s: &str) -> Option<Date> {
    let mut it = s.splitn(3, '-');
    let y = it.next()?.parse().ok()?;
    let m = Month::try_from(it.next()?.parse::<u8>().ok()?).ok()?;
    let d = it.next()?.parse().ok()?;
    Date::from_calendar_date(y, m, d).ok()
}

/// The date a term ends on, from an expiration clause: the date after `until`, `through`,
/// `expire on`, `terminate on`, `ending` or `concluding`; else the last of two or more dates; else a
/// lone date that does not open the term.
fn expiry_date(s: &str) -> Option<(Date, Range<usize>)> {
    static ENDING: LazyLock<Regex> = LazyLock::new(|| {
        ascii_regex(
            r"(?i)\b(?:until|through|thru|to|expir\w*|terminat\w*|end\w*|conclud\w*|last\w*)\s+(?:on\s+|at\s+|upon\s+)?(?:the\s+)?(?:close\s+of\s+business\s+on\s+)?$",
        )
        .expect("ending pattern")
    });
    let mut dates = Vec::new();
    let mut at = 0;
    while let Some((d, r)) = find_date(&s[at..]) {
        dates.push((d, at + r.start..at + r.end));
        at += r.end;
    }
    let pick = dates
        .iter()
        .find(|(_, r)| ENDING.is_match(tail(s, r.start, 40)))
        .or_else(|| (dates.len() >= 2).then(|| dates.last()).flatten())
        .or_else(|| {
            let (_, r) = dates.first()?;
            let before = s[..r.start].to_ascii_lowercase();
            let opens = ["commenc", "effective", "begin", "from", "dated", "as of"]
                .iter()
                .any(|w| before.contains(w));
            (dates.len() == 1 && !opens && duration_near(s, &[]).is_none())
                .then(|| dates.first())
                .flatten()
        })?;
    Some(pick.clone())
}

/// Where `s` says the term has no end (and gives no length).
fn perpetual(s: &str) -> Option<Range<usize>> {
    static PERPETUAL: LazyLock<Regex> = LazyLock::new(|| {
        ascii_regex(
            r"(?i)\b(?:perpetu(?:al|ity)|in\s+perpetuity|indefinite(?:ly)?|(?:continue|remain)\w*\s+(?:in\s+(?:full\s+)?(?:force|effect)\s+)?(?:unless\s+and\s+)?until\s+(?:it\s+is\s+)?terminated|evergreen)\b",
        )
        .expect("perpetual pattern")
    });
    let m = PERPETUAL.find(s)?;
    duration_near(s, &[]).is_none().then(|| m.range())
}

// ---------------------------------------------------------------------------------------------
// Durations
// ---------------------------------------------------------------------------------------------

/// A length of time in one unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Duration {
    /// How many units.
    pub(crate) count: u32,
    /// `D`, `W`, `M` or `Y`.
    pub(crate) unit: char,
}

impl Duration {
    /// ISO 8601 (`P30D`).
    #[must_use]
    pub(crate) fn iso(self) -> String {
        format!("P{}{}", self.count, self.unit)
    }

    /// Parses `P30D`, `P1Y`, `P6M`, `P2W` (one unit only).
    #[must_use]
    pub(crate) fn parse_iso(s: &str) -> Option<Self> {
        let body = s.strip_prefix('P')?;
        let unit = body.chars().last()?;
        if !matches!(unit, 'D' | 'W' | 'M' | 'Y') {
            return None;
        }
        let count = body[..body.len() - 1].parse().ok()?;
        Some(Self { count, unit })
    }

    /// About how many days (for comparisons only).
    #[must_use]
    pub(crate) fn approx_days(self) -> u32 {
        self.count.saturating_mul(match self.unit {
            'W' => 7,
            'M' => 30,
            'Y' => 365,
            _ => 1,
        })
    }

    /// `date` plus this duration (month ends clamp: January 31 plus one month is February 28).
    #[must_use]
    pub(crate) fn after(self, date: Date) -> Option<Date> {
        self.shift(date, 1)
    }

    /// `date` less this duration.
    #[must_use]
    pub(crate) fn before(self, date: Date) -> Option<Date> {
        self.shift(date, -1)
    }

    fn shift(self, date: Date, sign: i64) -> Option<Date> {
        let n = i64::from(self.count) * sign;
        match self.unit {
            'D' => date.checked_add(time::Duration::days(n)),
            'W' => date.checked_add(time::Duration::weeks(n)),
            'M' | 'Y' => {
                let months = if self.unit == 'Y' { n * 12 } else { n };
                let total =
                    i64::from(date.year()) * 12 + i64::from(u8::from(date.month())) - 1 + months;
                let year = i32::try_from(total.div_euclid(12)).ok()?;
                let month = Month::try_from(u8::try_from(total.rem_euclid(12) + 1).ok()?).ok()?;
                let day = date.day().min(month.length(year));
                Date::from_calendar_date(year, month, day).ok()
            }
            _ => None,
        }
    }
}

const NUMBER_WORDS: [(&str, u32); 28] = [
    ("one", 1),
    ("two", 2),
    ("three", 3),
    ("four", 4),
    ("five", 5),
    ("six", 6),
    ("seven", 7),
    ("eight", 8),
    ("nine", 9),
    ("ten", 10),
    ("eleven", 11),
    ("twelve", 12),
    ("thirteen", 13),
    ("fourteen", 14),
    ("fifteen", 15),
    ("sixteen", 16),
    ("seventeen", 17),
    ("eighteen", 18),
    ("nineteen", 19),
    ("twenty", 20),
    ("thirty", 30),
    ("forty", 40),
    ("forty-five", 45),
    ("fifty", 50),
    ("sixty", 60),
    ("seventy", 70),
    ("eighty", 80),
    ("ninety", 90),
];

/// Durations as written: `thirty (30) days`, `(30) days`, `30 days`, `one year`, `one-year`,
/// `1 year`, `twelve (12) months`, `half a year`, `annual`, `year-to-year`.
static DURATION: LazyLock<Regex> = LazyLock::new(|| {
    let words = NUMBER_WORDS
        .iter()
        .rev()
        .map(|(w, _)| *w)
        .collect::<Vec<_>>()
        .join("|");
    let pattern = format!(
        r"(?ix)
        \b(?P<half>half\s+(?:a|one)\s+year)\b
        |\b(?P<annual>annual(?:ly)?|year[- ]to[- ]year|month[- ]to[- ]month)\b
        |(?:\b(?P<word>(?:twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)[- ](?:one|two|three|four|five|six|seven|eight|nine)|hundred|{words})\b[\s-]*)?
        (?:\(\s*(?P<paren>\d{{1,4}})\s*\)[\s-]*|\b(?P<digits>\d{{1,4}})[\s-]*)?
        (?:(?:calendar|business|working|consecutive|full|contract|successive|additional|renewal)[\s-]+)?
        (?P<unit>days?|weeks?|months?|years?)\b"
    );
    ascii_regex(&pattern).expect("duration pattern")
});

fn word_number(w: &str) -> Option<u32> {
    let l = w.to_ascii_lowercase().replace(' ', "-");
    if let Some((tens, ones)) = l.split_once('-') {
        let t = NUMBER_WORDS.iter().find(|(n, _)| *n == tens)?.1;
        let o = NUMBER_WORDS.iter().find(|(n, _)| *n == ones)?.1;
        if l != "forty-five" {
            return Some(t + o);
        }
    }
    if l == "hundred" {
        return Some(100);
    }
    NUMBER_WORDS.iter().find(|(n, _)| *n == l).map(|&(_, v)| v)
}

/// Every duration written in `s`, with its byte range.
fn durations(s: &str) -> Vec<(Duration, Range<usize>)> {
    let mut out = Vec::new();
    for c in DURATION.captures_iter(s) {
        let Some(whole) = c.get(0) else { continue };
        if c.name("half").is_some() {
            out.push((
                Duration {
                    count: 6,
                    unit: 'M',
                },
                whole.range(),
            ));
            continue;
        }
        if let Some(a) = c.name("annual") {
            let unit = if a.as_str().to_ascii_lowercase().starts_with("month") {
                'M'
            } else {
                'Y'
            };
            out.push((Duration { count: 1, unit }, whole.range()));
            continue;
        }
        let count = c
            .name("paren")
            .or_else(|| c.name("digits"))
            .and_then(|m| m.as_str().parse().ok())
            .or_else(|| c.name("word").and_then(|m| word_number(m.as_str())));
        let Some(count) = count.filter(|&n| n > 0) else {
            continue;
        };
        let unit = match c
            .name("unit")
            .map(|u| u.as_str().as_bytes()[0].to_ascii_lowercase())
        {
            Some(b'd') => 'D',
            Some(b'w') => 'W',
            Some(b'm') => 'M',
            Some(b'y') => 'Y',
            _ => continue,
        };
        out.push((Duration { count, unit }, whole.range()));
    }
    out
}

/// The duration in `s` that goes with one of the `cue` words. For a notice, the duration that
/// measures it (followed by `prior`, `before`, `in advance`, `written` or `notice`); otherwise the
/// first after a cue; else the first. The flag says whether it repeats (`successive`,
/// `additional`, `renewal`, `each` just before it).
fn duration_near(s: &str, cue: &[&str]) -> Option<(Duration, bool, Range<usize>)> {
    let all = durations(s);
    let first = all.first()?;
    let lower = s.to_ascii_lowercase();
    let pick = if cue.contains(&"notice") {
        all.iter()
            .find(|(_, r)| {
                let after = lower[r.end..].trim_start();
                [
                    "prior",
                    "before",
                    "in advance",
                    "notice",
                    "written",
                    "'",
                    "’",
                    "advance",
                ]
                .iter()
                .any(|w| after.starts_with(w))
            })
            .or_else(|| {
                let at = lower.find("notice")?;
                all.iter().find(|(_, r)| r.start >= at)
            })
    } else {
        cue.iter()
            .filter_map(|c| lower.find(c))
            .min()
            .and_then(|at| all.iter().find(|(_, r)| r.start >= at))
    }
    .unwrap_or(first);
    let before = tail(&lower, pick.1.start, 30);
    let around = format!("{before}{}", &lower[pick.1.clone()]);
    let successive = [
        "successive",
        "additional",
        "renewal",
        "each",
        "consecutive",
        "subsequent",
        "further",
    ]
    .iter()
    .any(|w| around.contains(w));
    Some((pick.0, successive, pick.1.clone()))
}

/// Up to `n` bytes of `s` before byte `end` (on a character boundary).
fn tail(s: &str, end: usize, n: usize) -> &str {
    let mut start = end.saturating_sub(n);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    &s[start..end]
}

/// Whether a renewal clause says the renewal repeats (successive, automatic, year to year).
fn mentions_repeat(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    [
        "successive",
        "each renewal",
        "consecutive",
        "year to year",
        "year-to-year",
        "month to month",
        "month-to-month",
        "thereafter",
        "automatic",
        "another",
        "additional",
    ]
    .iter()
    .any(|w| l.contains(w))
}

// ---------------------------------------------------------------------------------------------
// Jurisdictions
// ---------------------------------------------------------------------------------------------

/// `(as written, canonical name, ISO 3166-1 alpha-2 country)`.
const PLACES: &[(&str, &str, &str)] = &[
    ("alabama", "Alabama", "US"),
    ("alaska", "Alaska", "US"),
    ("arizona", "Arizona", "US"),
    ("arkansas", "Arkansas", "US"),
    ("california", "California", "US"),
    ("colorado", "Colorado", "US"),
    ("connecticut", "Connecticut", "US"),
    ("delaware", "Delaware", "US"),
    ("district of columbia", "District of Columbia", "US"),
    ("florida", "Florida", "US"),
    ("georgia", "Georgia", "US"),
    ("hawaii", "Hawaii", "US"),
    ("idaho", "Idaho", "US"),
    ("illinois", "Illinois", "US"),
    ("indiana", "Indiana", "US"),
    ("iowa", "Iowa", "US"),
    ("kansas", "Kansas", "US"),
    ("kentucky", "Kentucky", "US"),
    ("louisiana", "Louisiana", "US"),
    ("maine", "Maine", "US"),
    ("maryland", "Maryland", "US"),
    ("massachusetts", "Massachusetts", "US"),
    ("michigan", "Michigan", "US"),
    ("minnesota", "Minnesota", "US"),
    ("mississippi", "Mississippi", "US"),
    ("missouri", "Missouri", "US"),
    ("montana", "Montana", "US"),
    ("nebraska", "Nebraska", "US"),
    ("nevada", "Nevada", "US"),
    ("new hampshire", "New Hampshire", "US"),
    ("new jersey", "New Jersey", "US"),
    ("new mexico", "New Mexico", "US"),
    ("new york", "New York", "US"),
    ("north carolina", "North Carolina", "US"),
    ("north dakota", "North Dakota", "US"),
    ("ohio", "Ohio", "US"),
    ("oklahoma", "Oklahoma", "US"),
    ("oregon", "Oregon", "US"),
    ("pennsylvania", "Pennsylvania", "US"),
    ("rhode island", "Rhode Island", "US"),
    ("south carolina", "South Carolina", "US"),
    ("south dakota", "South Dakota", "US"),
    ("tennessee", "Tennessee", "US"),
    ("texas", "Texas", "US"),
    ("utah", "Utah", "US"),
    ("vermont", "Vermont", "US"),
    ("virginia", "Virginia", "US"),
    ("west virginia", "West Virginia", "US"),
    ("washington", "Washington", "US"),
    ("wisconsin", "Wisconsin", "US"),
    ("wyoming", "Wyoming", "US"),
    ("puerto rico", "Puerto Rico", "PR"),
    ("united states of america", "United States", "US"),
    ("united states", "United States", "US"),
    ("u.s.a", "United States", "US"),
    ("alberta", "Alberta", "CA"),
    ("british columbia", "British Columbia", "CA"),
    ("manitoba", "Manitoba", "CA"),
    ("new brunswick", "New Brunswick", "CA"),
    ("newfoundland", "Newfoundland and Labrador", "CA"),
    ("nova scotia", "Nova Scotia", "CA"),
    ("ontario", "Ontario", "CA"),
    ("prince edward island", "Prince Edward Island", "CA"),
    ("quebec", "Quebec", "CA"),
    ("québec", "Quebec", "CA"),
    ("saskatchewan", "Saskatchewan", "CA"),
    ("canada", "Canada", "CA"),
    ("england and wales", "England and Wales", "GB"),
    ("england", "England and Wales", "GB"),
    ("english", "England and Wales", "GB"),
    ("scotland", "Scotland", "GB"),
    ("scottish", "Scotland", "GB"),
    ("northern ireland", "Northern Ireland", "GB"),
    ("united kingdom", "United Kingdom", "GB"),
    ("ireland", "Ireland", "IE"),
    ("irish", "Ireland", "IE"),
    ("hong kong", "Hong Kong", "HK"),
    ("people's republic of china", "China", "CN"),
    ("peoples republic of china", "China", "CN"),
    ("prc", "China", "CN"),
    ("china", "China", "CN"),
    ("chinese", "China", "CN"),
    ("taiwan", "Taiwan", "TW"),
    ("singapore", "Singapore", "SG"),
    ("japan", "Japan", "JP"),
    ("japanese", "Japan", "JP"),
    ("korea", "South Korea", "KR"),
    ("india", "India", "IN"),
    ("israel", "Israel", "IL"),
    ("israeli", "Israel", "IL"),
    ("germany", "Germany", "DE"),
    ("german", "Germany", "DE"),
    ("federal republic of germany", "Germany", "DE"),
    ("france", "France", "FR"),
    ("french", "France", "FR"),
    ("italy", "Italy", "IT"),
    ("italian", "Italy", "IT"),
    ("spain", "Spain", "ES"),
    ("spanish", "Spain", "ES"),
    ("netherlands", "Netherlands", "NL"),
    ("dutch", "Netherlands", "NL"),
    ("belgium", "Belgium", "BE"),
    ("luxembourg", "Luxembourg", "LU"),
    ("switzerland", "Switzerland", "CH"),
    ("swiss", "Switzerland", "CH"),
    ("austria", "Austria", "AT"),
    ("sweden", "Sweden", "SE"),
    ("swedish", "Sweden", "SE"),
    ("norway", "Norway", "NO"),
    ("denmark", "Denmark", "DK"),
    ("finland", "Finland", "FI"),
    ("australia", "Australia", "AU"),
    ("new south wales", "New South Wales", "AU"),
    ("victoria", "Victoria", "AU"),
    ("new zealand", "New Zealand", "NZ"),
    ("brazil", "Brazil", "BR"),
    ("mexico", "Mexico", "MX"),
    ("argentina", "Argentina", "AR"),
    ("kazakhstan", "Kazakhstan", "KZ"),
    ("russia", "Russia", "RU"),
    ("russian federation", "Russia", "RU"),
    ("cayman islands", "Cayman Islands", "KY"),
    ("bermuda", "Bermuda", "BM"),
    ("british virgin islands", "British Virgin Islands", "VG"),
    ("south africa", "South Africa", "ZA"),
    ("united arab emirates", "United Arab Emirates", "AE"),
    ("philippines", "Philippines", "PH"),
    ("malaysia", "Malaysia", "MY"),
    ("thailand", "Thailand", "TH"),
    ("vietnam", "Vietnam", "VN"),
    ("indonesia", "Indonesia", "ID"),
    ("cyprus", "Cyprus", "CY"),
    ("greece", "Greece", "GR"),
    ("poland", "Poland", "PL"),
    ("portugal", "Portugal", "PT"),
    ("turkey", "Turkey", "TR"),
    ("chile", "Chile", "CL"),
    ("colombia", "Colombia", "CO"),
    ("peru", "Peru", "PE"),
];

static PLACE: LazyLock<Regex> = LazyLock::new(|| {
    let mut names: Vec<&str> = PLACES.iter().map(|p| p.0).collect();
    names.sort_by_key(|n| std::cmp::Reverse(n.len()));
    let alternatives = names
        .iter()
        .map(|n| regex::escape(n).replace(' ', r"\s+"))
        .collect::<Vec<_>>()
        .join("|");
    ascii_regex(&format!(r"(?i)\b(?:{alternatives})\b")).expect("place pattern")
});

/// Where the law of a clause comes from, as `(canonical name, country)`: the place right after
/// `law(s) of [the State of]`, else a place right before `law` (`Italian law`), else the first
/// place after the word `law`, else the first place named.
fn jurisdiction(s: &str) -> Option<(&'static str, Option<&'static str>, Range<usize>)> {
    static LAW_OF: LazyLock<Regex> = LazyLock::new(|| {
        ascii_regex(
            r"(?i)\b(?:laws?|legislation)\s+(?:of|in\s+force\s+in)\s+(?:the\s+)?(?:(?:state|commonwealth|province|republic|kingdom|federal\s+republic|people'?s\s+republic|district)\s+of\s+)?",
        )
        .expect("law-of pattern")
    });
    static LAW: LazyLock<Regex> =
        LazyLock::new(|| ascii_regex(r"(?i)\b(?:laws?|legislation)\b").expect("law pattern"));
    let places: Vec<regex::Match<'_>> = PLACE
        .find_iter(s)
        .filter(|m| {
            !s[m.end()..]
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("general obligations")
        })
        .collect();
    let after_law_of = LAW_OF
        .find_iter(s)
        .find_map(|l| places.iter().find(|p| p.start() == l.end()));
    let before_law = || {
        places.iter().find(|p| {
            let rest = s[p.end()..].trim_start().to_ascii_lowercase();
            rest.starts_with("law") || rest.starts_with("legislation")
        })
    };
    let after_law = || {
        let at = LAW.find(s)?.start();
        places.iter().find(|p| p.start() >= at)
    };
    let found = after_law_of
        .or_else(before_law)
        .or_else(after_law)
        .or_else(|| places.first())?;
    let key = fold(found.as_str()).to_lowercase();
    let (_, name, country) = PLACES.iter().find(|p| p.0 == key)?;
    Some((name, Some(country), found.range()))
}

// ---------------------------------------------------------------------------------------------
// Titles and parties
// ---------------------------------------------------------------------------------------------

/// `s` with every run of white space made one space.
fn fold(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `needle` occurs in `hay` (white space runs compared as one space).
fn occurs(hay: &str, needle: &str) -> bool {
    !needle.is_empty() && (hay.contains(needle) || fold(hay).contains(&fold(needle)))
}

fn title(s: &str, text: &str) -> Option<Answer> {
    let t = s
        .trim()
        .trim_end_matches(['(', '"', '“', ',', ':', ';', '.'])
        .trim();
    if t.is_empty() || t.chars().count() > 200 || !occurs(text, t) {
        return None;
    }
    Some(Answer::Title { title: fold(t) })
}

/// Names of legal persons: a run of capitalised words ending in a corporate form.
static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    ascii_regex(
        r"(?x)
        (?:[A-Z0-9][\w&'’.\-/]*,?\s+(?:(?:of|and|de|du|la|le|the|für|für|&)\s+)?){0,8}?
        [A-Z0-9][\w&'’.\-/]*,?\s+
        (?:Inc|INC|Incorporated|INCORPORATED|Corporation|CORPORATION|Corp|CORP|Company|COMPANY|
           Co\.,?\s+(?:Ltd|LTD)|Co|CO|LLC|L\.L\.C|Ltd|LTD|Limited|LIMITED|L\.P|LP|LLP|PLC|plc|GmbH|GMBH|AG|
           S\.A\.S|S\.A|SA|SAS|N\.V|B\.V|S\.R\.L|S\.r\.l|SRL|S\.p\.A|SpA|Pte\.?\s+(?:Ltd|LTD)|Pty\.?\s+(?:Ltd|LTD)|
           SE|KK|Trust|TRUST|Bank|BANK|Association|ASSOCIATION|Partnership|PARTNERSHIP|University|UNIVERSITY|
           Center|CENTER|Centre|Fund|FUND)\b\.?",
    )
    .expect("entity pattern")
});

/// A defined short name in brackets: `("CNS")`, `(the "Company")`, `(hereinafter "Licensor")`.
static DEFINED: LazyLock<Regex> = LazyLock::new(|| {
    ascii_regex(
        r#"\(\s*(?:the\s+|each\s+a\s+|hereinafter\s+(?:referred\s+to\s+as\s+)?(?:the\s+)?|referred\s+to\s+(?:herein\s+)?as\s+(?:the\s+)?)?["“'‘]([^"”'’]{1,40})["”'’]"#,
    )
    .expect("defined name pattern")
});

/// Defined names that are not parties.
const NOT_NAMES: &[&str] = &[
    "agreement",
    "amendment",
    "contract",
    "effective date",
    "execution date",
    "party",
    "parties",
    "term",
    "initial term",
    "territory",
    "products",
    "product",
    "services",
    "plan",
];

/// Party names in `s` (a preamble, or a raw answer listing names one per line or separated by
/// `;`), as written, kept only when they occur in `text`.
fn parties(s: &str, text: &str, raw: bool) -> Option<Answer> {
    let mut names: Vec<String> = Vec::new();
    let mut push = |n: &str| {
        let n = n.trim().trim_end_matches([',', ';', ':']).trim();
        let folded = fold(n);
        if folded.len() >= 2
            && folded.chars().count() <= 120
            && folded.chars().any(char::is_alphabetic)
            && !NOT_NAMES.contains(&folded.to_lowercase().as_str())
            && occurs(text, n)
            && !names.iter().any(|x| x.eq_ignore_ascii_case(&folded))
        {
            names.push(folded);
        }
    };
    let entities: Vec<&str> = ENTITY.find_iter(s).map(|m| m.as_str()).collect();
    if raw && s.len() < 2_000 {
        for part in s.split(['\n', ';']) {
            push(part);
        }
    } else if !entities.is_empty() {
        for e in entities {
            let name = strip_lead(e);
            if name.split_whitespace().count() >= 2 {
                push(name);
            }
        }
        for c in DEFINED.captures_iter(s) {
            if let Some(m) = c.get(1) {
                push(m.as_str());
            }
        }
    } else {
        for c in DEFINED.captures_iter(s) {
            if let Some(m) = c.get(1) {
                push(m.as_str());
            }
        }
    }
    (!names.is_empty()).then(|| Answer::Parties {
        names: names.into_iter().take(12).collect(),
    })
}

/// Drops words a name match may start with that are not part of the name (`This Agreement is
/// made between`, `and`).
fn strip_lead(e: &str) -> &str {
    let mut rest = e;
    loop {
        let trimmed = rest.trim_start();
        let word_end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        let word = trimmed[..word_end].trim_end_matches(',');
        let lw = word.to_ascii_lowercase();
        if matches!(
            lw.as_str(),
            "between"
                | "and"
                | "among"
                | "by"
                | "this"
                | "the"
                | "agreement"
                | "is"
                | "made"
                | "dated"
        ) || word.ends_with(',')
            && trimmed.len() > word_end + 1
            && lw.chars().all(|c| c.is_ascii_digit())
        {
            rest = &trimmed[word_end..];
        } else {
            return trimmed;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Key dates and summary
// ---------------------------------------------------------------------------------------------

fn finding<'a>(findings: &'a [Finding], name: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.name == name)
}

fn date_answer(f: Option<&Finding>) -> Option<Date> {
    match f?.answer.as_ref()? {
        Answer::Date { date } => parse_iso(date),
        _ => None,
    }
}

fn duration_answer(f: Option<&Finding>) -> Option<Duration> {
    match f?.answer.as_ref()? {
        Answer::Duration { duration, .. } => Duration::parse_iso(duration),
        _ => None,
    }
}

/// Effective, expiry, renewal and notice-deadline dates from the findings' answers.
///
/// - effective: the Effective Date's date, else the Agreement Date's;
/// - expiry: the Expiration Date's date, else the effective date plus the initial term when the
///   expiration excerpt states one (`for a period of five (5) years`);
/// - renewal: the expiry, when a Renewal Term was found; renewal term: its ISO duration;
/// - notice deadline: the renewal date less the Notice Period To Terminate Renewal.
#[must_use]
pub fn key_dates(findings: &[Finding]) -> KeyDates {
    let effective = date_answer(finding(findings, "Effective Date").filter(|f| f.present))
        .or_else(|| date_answer(finding(findings, "Agreement Date").filter(|f| f.present)));
    let expiration = finding(findings, "Expiration Date").filter(|f| f.present);
    let expiry = date_answer(expiration).or_else(|| {
        let start = effective?;
        let initial = expiration?
            .excerpts
            .iter()
            .find_map(|e| duration_near(&e.text, &["term", "period", "for"]))?
            .0;
        initial.after(start)
    });
    let renewal_finding = finding(findings, "Renewal Term").filter(|f| f.present);
    let renewal = renewal_finding.and(expiry);
    let renewal_term = duration_answer(renewal_finding);
    let notice = duration_answer(
        finding(findings, "Notice Period To Terminate Renewal").filter(|f| f.present),
    );
    let notice_deadline = renewal.zip(notice).and_then(|(r, n)| n.before(r));
    KeyDates {
        effective: effective.map(iso),
        expiry: expiry.map(iso),
        renewal: renewal.map(iso),
        renewal_term: renewal_term.map(Duration::iso),
        notice_deadline: notice_deadline.map(iso),
    }
}

/// A short summary from the verified findings (used when the provider writes none). Built only
/// from normalised answers, category names, the title and the party names.
#[must_use]
pub fn summary(findings: &[Finding]) -> String {
    let mut out = String::new();
    let title = match finding(findings, "Document Name").and_then(|f| f.answer.as_ref()) {
        Some(Answer::Title { title }) => Some(title.clone()),
        _ => None,
    };
    let names = match finding(findings, "Parties").and_then(|f| f.answer.as_ref()) {
        Some(Answer::Parties { names }) if !names.is_empty() => Some(names.clone()),
        _ => None,
    };
    out.push_str(title.as_deref().unwrap_or("Contract"));
    if let Some(names) = names {
        out.push_str(" between ");
        out.push_str(&join_names(&names));
    }
    let dates = key_dates(findings);
    let mut clauses = Vec::new();
    if let Some(e) = &dates.effective {
        clauses.push(format!("effective {e}"));
    }
    match (
        &dates.expiry,
        finding(findings, "Expiration Date").and_then(|f| f.answer.as_ref()),
    ) {
        (Some(x), _) => clauses.push(format!("expiring {x}")),
        (None, Some(Answer::Perpetual)) => clauses.push("with no fixed end".to_owned()),
        _ => {}
    }
    if let Some(term) = &dates.renewal_term {
        let mut c = format!("renews for {term}");
        if let Some(n) = &dates.notice_deadline {
            c.push_str(&format!(" unless notice is given by {n}"));
        }
        clauses.push(c);
    }
    for c in clauses {
        out.push_str(", ");
        out.push_str(&c);
    }
    if let Some(Answer::Jurisdiction { name, .. }) =
        finding(findings, "Governing Law").and_then(|f| f.answer.as_ref())
    {
        out.push_str(&format!("; governed by {name} law"));
    }
    out.push('.');
    let high: Vec<&str> = findings
        .iter()
        .filter(|f| f.risk.as_ref().is_some_and(|r| r.level == RiskLevel::High))
        .map(|f| f.name.as_str())
        .collect();
    if !high.is_empty() {
        out.push_str(&format!(" High risk: {}.", high.join(", ")));
    }
    let present = findings.iter().filter(|f| f.present).count();
    out.push_str(&format!(
        " {present} of {} categories found.",
        findings.len()
    ));
    out
}

fn join_names(names: &[String]) -> String {
    match names {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::model::Risk;
    use crate::review::{CATEGORIES, Category};

    fn cat(name: &str) -> &'static Category {
        Category::find(name).expect("category")
    }

    fn excerpt(text: &str) -> Excerpt {
        Excerpt {
            text: text.to_owned(),
            start: 0,
            end: text.chars().count() as u64,
            page: 1,
            chunk: "c-0".to_owned(),
        }
    }

    fn date(s: &str) -> Option<String> {
        match answer(cat("Agreement Date"), Some(s), &[], "") {
            Some(Answer::Date { date }) => Some(date),
            Some(Answer::Perpetual) => Some("perpetual".to_owned()),
            _ => None,
        }
    }

    fn duration(category: &str, s: &str) -> Option<(String, bool)> {
        match answer(cat(category), Some(s), &[], "") {
            Some(Answer::Duration {
                duration,
                successive,
            }) => Some((duration, successive)),
            _ => None,
        }
    }

    #[test]
    fn dates_in_every_written_form() {
        for (written, iso) in [
            ("May 8, 2014", "2014-05-08"),
            ("8th day of May, 2014", "2014-05-08"),
            ("the 8th day of May 2014", "2014-05-08"),
            ("15t h day of January 2018", "2018-01-15"),
            ("5/8/2014", "2014-05-08"),
            ("5/8/14", "2014-05-08"),
            ("03/24/06", "2006-03-24"),
            ("2014-05-08", "2014-05-08"),
            ("May 8th, 2014", "2014-05-08"),
            ("December 31st, 2002", "2002-12-31"),
            ("31 October 2019", "2019-10-31"),
            ("31 January, 1994", "1994-01-31"),
            ("Sept 29, 2004", "2004-09-29"),
            ("July 11 , 2006", "2006-07-11"),
            ("JUNE 21, 1999", "1999-06-21"),
            (
                "made as of the 23rd day of  September, 2016 (the Effective Date)",
                "2016-09-23",
            ),
        ] {
            assert_eq!(date(written).as_deref(), Some(iso), "{written}");
        }
    }

    #[test]
    fn non_dates_are_not_dates() {
        for s in [
            "the date first written above",
            "November ___, 2006",
            "_____ day of ________, 19____",
            "February 30, 2019",
            "13/45/2014",
            "the date of the Closing",
            "",
        ] {
            assert_eq!(date(s), None, "{s}");
        }
    }

    #[test]
    fn perpetual_terms() {
        let e = cat("Expiration Date");
        for s in [
            "This Agreement shall continue in perpetuity.",
            "This Agreement shall commence as of the Effective Date and shall continue unless and until terminated as provided herein.",
            "perpetual",
        ] {
            assert_eq!(answer(e, Some(s), &[], ""), Some(Answer::Perpetual), "{s}");
        }
        assert_eq!(
            answer(cat("Renewal Term"), Some("renews indefinitely"), &[], ""),
            Some(Answer::Perpetual)
        );
    }

    #[test]
    fn expiry_dates_pick_the_end_of_the_term() {
        let e = cat("Expiration Date");
        let got = |s: &str| match answer(e, None, &[excerpt(s)], "") {
            Some(Answer::Date { date }) => Some(date),
            _ => None,
        };
        assert_eq!(
            got("\"Contract Period\" shall mean that period of time commencing on January 1, 2000 and concluding December 31, 2003, unless terminated sooner.").as_deref(),
            Some("2003-12-31")
        );
        assert_eq!(
            got("The term shall commence on the Effective Date and shall terminate on June 30, 2010.").as_deref(),
            Some("2010-06-30")
        );
        assert_eq!(
            got("This Agreement shall commence on March 1, 2016 and continue for five (5) years.")
                .as_deref(),
            None
        );
        assert_eq!(
            got("Term shall mean the Effective Date through June 15, 2001.").as_deref(),
            Some("2001-06-15")
        );
    }

    #[test]
    fn durations_in_every_written_form() {
        let d = |s: &str| duration("Warranty Duration", s).map(|(d, _)| d);
        for (written, iso) in [
            ("thirty (30) days", "P30D"),
            ("(30) days", "P30D"),
            ("30 days", "P30D"),
            ("one year", "P1Y"),
            ("one (1) year", "P1Y"),
            ("one-year", "P1Y"),
            ("1-year", "P1Y"),
            ("twelve (12) months", "P12M"),
            ("six months", "P6M"),
            ("half a year", "P6M"),
            ("ninety (90) calendar days", "P90D"),
            ("two weeks", "P2W"),
            ("twenty-four (24) months", "P24M"),
            ("forty-five (45) days", "P45D"),
            ("5 years", "P5Y"),
        ] {
            assert_eq!(d(written).as_deref(), Some(iso), "{written}");
        }
        assert_eq!(d("no time at all"), None);
    }

    #[test]
    fn renewal_terms_are_successive_and_follow_the_renewal_words() {
        assert_eq!(
            duration("Renewal Term", "successive one-year periods"),
            Some(("P1Y".to_owned(), true))
        );
        assert_eq!(
            duration(
                "Renewal Term",
                "The initial term shall be five (5) years and shall thereafter automatically renew for successive two (2) year periods."
            ),
            Some(("P2Y".to_owned(), true))
        );
        assert_eq!(
            duration(
                "Renewal Term",
                "At its option, Rogers may renew for a subsequent term of two (2) years."
            ),
            Some(("P2Y".to_owned(), true))
        );
        assert_eq!(
            duration("Renewal Term", "renew on a year-to-year basis"),
            Some(("P1Y".to_owned(), true))
        );
    }

    #[test]
    fn notice_periods_measure_the_notice() {
        assert_eq!(
            duration(
                "Notice Period To Terminate Renewal",
                "The term renews for successive one (1) year periods unless either party gives at least ninety (90) days prior written notice of non-renewal."
            ),
            Some(("P90D".to_owned(), false))
        );
        assert_eq!(
            duration(
                "Notice Period To Terminate Renewal",
                "renews for one year unless notice is given no less than 6 months prior to expiry"
            )
            .map(|d| d.0),
            Some("P6M".to_owned())
        );
    }

    #[test]
    fn jurisdictions_are_canonical_with_countries() {
        let j = |s: &str| match answer(cat("Governing Law"), Some(s), &[], "") {
            Some(Answer::Jurisdiction { name, country }) => Some((name, country)),
            _ => None,
        };
        let us = Some("US".to_owned());
        for (written, name, country) in [
            ("New York", "New York", us.clone()),
            (
                "governed by the laws of the State of New York, without regard to conflicts",
                "New York",
                us.clone(),
            ),
            (
                "the laws of the Commonwealth of Pennsylvania",
                "Pennsylvania",
                us.clone(),
            ),
            (
                "laws of the District of Columbia",
                "District of Columbia",
                us.clone(),
            ),
            (
                "the Laws of England (English common and statutory Law)",
                "England and Wales",
                Some("GB".to_owned()),
            ),
            (
                "England and Wales",
                "England and Wales",
                Some("GB".to_owned()),
            ),
            (
                "laws of the Province of Ontario and the federal laws of Canada",
                "Ontario",
                Some("CA".to_owned()),
            ),
            ("the laws of Hong Kong", "Hong Kong", Some("HK".to_owned())),
            ("the laws of PRC", "China", Some("CN".to_owned())),
            (
                "legislation of the Republic of Kazakhstan shall apply",
                "Kazakhstan",
                Some("KZ".to_owned()),
            ),
            (
                "subject to the application of the Italian Law, take place in Paris, France",
                "Italy",
                Some("IT".to_owned()),
            ),
            (
                "Pursuant to Section 5-1401 of the New York General Obligations Law, governed by the laws of the State of Texas",
                "Texas",
                us.clone(),
            ),
        ] {
            assert_eq!(j(written), Some((name.to_owned(), country)), "{written}");
        }
        assert_eq!(j("the laws of Atlantis"), None);
    }

    #[test]
    fn parties_come_from_the_preamble_and_must_be_in_the_text() {
        let text = "This Development Agreement (the \"Agreement\") dated as of March 20, 2020 is entered into by and between CNS Pharmaceuticals, Inc. (\"CNS\"), a Nevada corporation, and WPD Pharmaceuticals Sp. z o.o. (\"WPD\"), a Polish company.";
        let got = answer(cat("Parties"), None, &[excerpt(text)], text);
        let Some(Answer::Parties { names }) = got else {
            panic!("no parties");
        };
        assert!(
            names.contains(&"CNS Pharmaceuticals, Inc.".to_owned()),
            "{names:?}"
        );
        assert!(names.contains(&"CNS".to_owned()), "{names:?}");
        assert!(names.contains(&"WPD".to_owned()), "{names:?}");
        assert!(!names.iter().any(|n| n == "Agreement"));
        // A raw list: names not in the text are dropped.
        let got = answer(cat("Parties"), Some("CNS\nAcme Corp"), &[], text);
        assert_eq!(
            got,
            Some(Answer::Parties {
                names: vec!["CNS".to_owned()]
            })
        );
        assert_eq!(answer(cat("Parties"), Some("Acme Corp"), &[], text), None);
    }

    #[test]
    fn titles_must_occur_in_the_text() {
        let text = "EXCLUSIVE  DISTRIBUTOR AGREEMENT\n\nThis Agreement is made...";
        assert_eq!(
            answer(
                cat("Document Name"),
                Some("EXCLUSIVE  DISTRIBUTOR AGREEMENT"),
                &[],
                text
            ),
            Some(Answer::Title {
                title: "EXCLUSIVE DISTRIBUTOR AGREEMENT".to_owned()
            })
        );
        assert_eq!(
            answer(cat("Document Name"), Some("Supply Agreement"), &[], text),
            None
        );
        // Yes/no categories have no normalised answer.
        assert_eq!(answer(cat("Anti-Assignment"), Some("yes"), &[], text), None);
    }

    fn found(name: &str, answer: Option<Answer>, excerpts: &[&str]) -> Finding {
        Finding {
            category: cat(name).key.to_owned(),
            name: name.to_owned(),
            present: true,
            excerpts: excerpts.iter().map(|e| excerpt(e)).collect(),
            answer,
            risk: None,
        }
    }

    fn absent(c: &Category) -> Finding {
        Finding {
            category: c.key.to_owned(),
            name: c.name.to_owned(),
            present: false,
            excerpts: Vec::new(),
            answer: None,
            risk: None,
        }
    }

    fn d(s: &str) -> Option<Answer> {
        Some(Answer::Date { date: s.to_owned() })
    }

    fn dur(s: &str, successive: bool) -> Option<Answer> {
        Some(Answer::Duration {
            duration: s.to_owned(),
            successive,
        })
    }

    #[test]
    fn key_dates_follow_the_answers() {
        let findings = vec![
            found("Agreement Date", d("2018-12-01"), &[]),
            found("Effective Date", d("2019-01-01"), &[]),
            found("Expiration Date", d("2024-01-01"), &[]),
            found("Renewal Term", dur("P1Y", true), &[]),
            found(
                "Notice Period To Terminate Renewal",
                dur("P90D", false),
                &[],
            ),
        ];
        let k = key_dates(&findings);
        assert_eq!(k.effective.as_deref(), Some("2019-01-01"));
        assert_eq!(k.expiry.as_deref(), Some("2024-01-01"));
        assert_eq!(k.renewal.as_deref(), Some("2024-01-01"));
        assert_eq!(k.renewal_term.as_deref(), Some("P1Y"));
        assert_eq!(k.notice_deadline.as_deref(), Some("2023-10-03"));
    }

    #[test]
    fn expiry_from_the_initial_term_and_agreement_date_fallback() {
        let findings = vec![
            found("Agreement Date", d("2016-02-29"), &[]),
            found(
                "Expiration Date",
                None,
                &[
                    "This Agreement shall remain in force for a period of five (5) years from the Effective Date.",
                ],
            ),
            found("Notice Period To Terminate Renewal", dur("P3M", false), &[]),
        ];
        let k = key_dates(&findings);
        assert_eq!(k.effective.as_deref(), Some("2016-02-29"));
        assert_eq!(k.expiry.as_deref(), Some("2021-02-28"));
        // No renewal term found: no renewal date and so no notice deadline.
        assert_eq!(k.renewal, None);
        assert_eq!(k.notice_deadline, None);
        assert_eq!(key_dates(&[]), KeyDates::default());
    }

    #[test]
    fn duration_arithmetic_clamps_month_ends() {
        let jan31 = Date::from_calendar_date(2021, Month::January, 31).unwrap();
        let one_month = Duration {
            count: 1,
            unit: 'M',
        };
        assert_eq!(iso(one_month.after(jan31).unwrap()), "2021-02-28");
        assert_eq!(
            iso(Duration {
                count: 30,
                unit: 'D'
            }
            .before(jan31)
            .unwrap()),
            "2021-01-01"
        );
        assert_eq!(
            iso(Duration {
                count: 2,
                unit: 'W'
            }
            .after(jan31)
            .unwrap()),
            "2021-02-14"
        );
        assert_eq!(
            Duration::parse_iso("P90D"),
            Some(Duration {
                count: 90,
                unit: 'D'
            })
        );
        assert_eq!(Duration::parse_iso("P1X"), None);
        assert_eq!(
            Duration {
                count: 2,
                unit: 'M'
            }
            .approx_days(),
            60
        );
    }

    #[test]
    fn summary_uses_only_normalised_answers() {
        let mut findings: Vec<Finding> = CATEGORIES.iter().map(absent).collect();
        let set = |fs: &mut Vec<Finding>, f: Finding| {
            let i = fs.iter().position(|x| x.name == f.name).unwrap();
            fs[i] = f;
        };
        set(
            &mut findings,
            found(
                "Document Name",
                Some(Answer::Title {
                    title: "Distributor Agreement".to_owned(),
                }),
                &["DISTRIBUTOR AGREEMENT"],
            ),
        );
        set(
            &mut findings,
            found(
                "Parties",
                Some(Answer::Parties {
                    names: vec!["Acme Inc.".to_owned(), "Beta LLC".to_owned()],
                }),
                &["SECRET PREAMBLE TEXT"],
            ),
        );
        set(&mut findings, found("Effective Date", d("2019-01-01"), &[]));
        set(
            &mut findings,
            found("Expiration Date", d("2024-01-01"), &[]),
        );
        set(&mut findings, found("Renewal Term", dur("P1Y", true), &[]));
        set(
            &mut findings,
            found(
                "Notice Period To Terminate Renewal",
                dur("P90D", false),
                &[],
            ),
        );
        set(
            &mut findings,
            found(
                "Governing Law",
                Some(Answer::Jurisdiction {
                    name: "New York".to_owned(),
                    country: Some("US".to_owned()),
                }),
                &["governed by the laws of the State of New York"],
            ),
        );
        let mut nc = found("Non-Compete", None, &["SECRET CLAUSE TEXT"]);
        nc.risk = Some(Risk {
            level: RiskLevel::High,
            reason: "why".to_owned(),
        });
        set(&mut findings, nc);
        let s = summary(&findings);
        assert_eq!(
            s,
            "Distributor Agreement between Acme Inc. and Beta LLC, effective 2019-01-01, expiring \
             2024-01-01, renews for P1Y unless notice is given by 2023-10-03; governed by New York \
             law. High risk: Non-Compete. 8 of 41 categories found."
        );
        assert!(!s.contains("SECRET"));
        let empty: Vec<Finding> = CATEGORIES.iter().map(absent).collect();
        assert_eq!(summary(&empty), "Contract. 0 of 41 categories found.");
    }

    proptest::proptest! {
        #[test]
        fn numeric_dates_round_trip(y in 1950i32..2090, m in 1u8..=12, day in 1u8..=28) {
            let written = format!("{m}/{day}/{y}");
            let want = format!("{y:04}-{m:02}-{day:02}");
            proptest::prop_assert_eq!(date(&written), Some(want.clone()));
            let month = Month::try_from(m).unwrap();
            let long = format!("{month} {day}, {y}");
            proptest::prop_assert_eq!(date(&long), Some(want.clone()));
            let ordinal = format!("{day}th day of {month}, {y}");
            proptest::prop_assert_eq!(date(&ordinal), Some(want));
        }

        #[test]
        fn day_counts_round_trip(n in 1u32..=999) {
            let got = duration("Warranty Duration", &format!("{n} days"));
            proptest::prop_assert_eq!(got.map(|g| g.0), Some(format!("P{n}D")));
        }

        #[test]
        fn parsers_never_panic(s in "\\PC{0,300}") {
            for c in CATEGORIES.iter() {
                let _ = answer(c, Some(&s), &[excerpt(&s)], &s);
            }
        }
    }
}
