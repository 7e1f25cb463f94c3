//! The front matter: the title line, the preamble (which names the parties), and the agreement
//! and effective dates.
//!
//! The preamble is the first sentence near the top that says what the agreement is and who makes
//! it (`This ... Agreement ... is made ... by and between ...`). The title is the heading-like line
//! with an instrument word (`AGREEMENT`, `CONTRACT`, `AMENDMENT`, ...) nearest above it. The
//! agreement date is the preamble's date (else a `Dated:` line); the effective date is the same date
//! when the preamble calls it effective, else the sentence that defines when the agreement takes
//! effect.

use std::sync::LazyLock;

use regex::Regex;

use super::{Doc, Found, Span};

/// A date as written (lower-cased text): `may 8, 2014`, `8th day of may, 2014`, `15t h day of
/// january 2018`, `31 october 2019`, `5/8/2014`, `2014-05-08`, and blanks left for signing
/// (`november ___, 2006`, `_____ day of ________, 19____`).
pub(crate) static DATE: LazyLock<Regex> = LazyLock::new(|| {
    let month = r"(?:january|february|march|april|may|june|july|august|september|october|november|december|jan|feb|mar|apr|jun|jul|aug|sept|sep|oct|nov|dec)\.?";
    let day = r"(?:\d{1,2}|_+)(?:\s?(?:st|nd|rd|th|t\s?h))?";
    let year = r"(?:\d{4}|(?:19|20)_+|_{2,})";
    let pattern = format!(
        r"\b(?:{day}\s+day\s+of\s+(?:{month}|_+)\s*,?\s*{year}|\d{{1,2}}(?:st|nd|rd|th)?\s+{month}\s*,?\s*\d{{4}}|{month}\s*(?:{day})?\s*,?\s*{year}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}/\d{{1,2}}/\d{{2,4}}|\d{{1,2}}-\d{{1,2}}-\d{{2,4}})\b|_{{3,}}\s*,?\s*\d{{4}}\b"
    );
    super::ascii_regex(&pattern).expect("date pattern")
});

/// A formal preamble: `This ... Agreement ... is made | entered into | dated ... by and between`.
static PREAMBLE: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r#"(?s)\b(this|the)\s+(?:[\w\-&,.()"“”']+\s+){0,12}?(?:agreement|contract|amendment|addendum|lease|licen[cs]e|deed|memorandum)\b.{0,250}?(?:\bmade\b|\bentered\b|\bdated\b|\b(?:is|was|are)\s+executed\b|\bexecuted\s+(?:this|as\s+of|on)\b|\beffective\s+as\s+of\b|\bby\s+and\s+(?:between|among)\b|\b(?:is|are)\s+(?:by\s+)?(?:between|among)\b|\bis\s+effective\b|\bbetween\s*:)"#,
    )
    .expect("preamble pattern")
});

/// Other openings: a cover line (`... AGREEMENT by and between ...`), a recital of who entered into
/// the contract, or a letter agreement (`Ladies and Gentlemen: ... hereby confirm`).
static PREAMBLE_OTHER: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r"(?s)\b(?:by\s+and\s+between|by\s+and\s+among|have\s+entered\s+into\s+this|hereby\s+confirm|(?:agreement|contract)\s+between)\b",
    )
    .expect("other preamble pattern")
});

/// Not a preamble: boilerplate that also names the agreement and the parties.
static NOT_PREAMBLE: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(r"\b(?:entire\s+agreement|supersede|counterparts|in\s+witness|amended\s+only|whereas|be\s+executed)\b")
        .expect("not preamble pattern")
});

/// A sentence after the preamble that still belongs to the parties (`each a "Party"`, `BETWEEN:`,
/// `AND:`, a name with its defined term).
static PARTY_TAIL: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r#"(?s)\b(?:collectively|individually|each\s+a\s+["“]?party|hereinafter|referred\s+to\s+(?:herein\s+)?as|together\s+with)\b|^(?:between|and|by\s+and\s+between)\b|\(\s*["“'‘]|^[^a-z]{0,3}["“'‘]the\s"#,
    )
    .expect("party tail pattern")
});

/// What ends the preamble.
static PREAMBLE_END: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r"^(?:whereas|recitals?\b|now,?\s+therefore|background|witnesseth|w\s+i\s+t\s+n\s+e\s+s|in\s+consideration|the\s+parties\s+(?:hereby\s+)?agree|definitions|article|section)",
    )
    .expect("preamble end pattern")
});

/// An instrument word in a title line.
static TITLE_WORD: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r"\b(?:agreement|contract|amendment|addendum|licen[cs]e|lease|deed|memorandum|terms\s+and\s+conditions|charter|guarant(?:y|ee))\b",
    )
    .expect("title word pattern")
});

/// `This Collaboration Agreement`: the title as the preamble names it.
static TITLE_IN_PREAMBLE: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r"^(?:this|the)\s+((?:[a-z][a-z\-&,]*\s+){0,8}?(?:agreement|contract|amendment|addendum))\b",
    )
    .expect("title in preamble pattern")
});

/// A date line (`Dated: July 6, 2020`, `Date: 5/17/12`).
static DATED: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(r"(?:^|[^e]\s+|\n)(?:dated|date)\s*:\s*").expect("dated pattern")
});

/// The preamble calls its date the effective date.
static EFFECTIVE_NEAR: LazyLock<Regex> =
    LazyLock::new(|| super::ascii_regex(r"effective").expect("effective pattern"));

/// A sentence that says when the agreement takes effect.
static EFFECTIVE_SENTENCE: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r#"(?x)
        ^["“]?(?P<def>effective\s+date)["”]?\s+(?:shall\s+)?(?:means?|be)\b
        |\b(?P<def2>effective\s+date)\s+of\s+this\s+(?:\w+\s+){0,3}(?:agreement|contract|amendment)\s+(?:shall\s+be|is)\b
        |\bthis\s+(?:[\w\-]+\s+){0,3}(?:agreement|contract|amendment)\s+(?:shall|will)\s+(?:become|be|come\s+into|enter\s+into)\s+(?:effective|in\s+force|into\s+force|force)\b
        |\bthis\s+(?:[\w\-]+\s+){0,3}(?:agreement|contract|amendment)\s+(?:shall\s+)?(?:commences?|begins?|becomes?\s+effective|is\s+effective)\s+(?:on|upon|as\s+of)\b"#,
    )
    .expect("effective sentence pattern")
});

/// Conditions on amendments in general, not the agreement's start.
static NOT_EFFECTIVE: LazyLock<Regex> = LazyLock::new(|| {
    super::ascii_regex(
        r"\beffective\s+(?:only|unless)\b|\bno\s+(?:waiver|amendment|modification)\b",
    )
    .expect("not effective pattern")
});

/// The front matter found.
#[derive(Debug, Default)]
pub(crate) struct Front {
    title: Option<Span>,
    parties: Vec<Span>,
    agreement: Option<Span>,
    effective: Option<(Span, Option<Span>)>,
}

impl Front {
    /// Reads the front matter of `d`.
    pub fn read(d: &Doc<'_>) -> Self {
        let (preamble, cover) = find_preamble(d);
        let title = find_title(d, preamble);
        let mut parties: Vec<Span> = preamble.map(|p| parties_span(d, p)).into_iter().collect();
        if let Some(c) = cover.filter(|c| c.span.end - c.span.start <= 600) {
            parties.insert(0, c.span);
        }
        if parties.is_empty() {
            parties.extend(signature_block(d));
        }
        let agreement = preamble
            .and_then(|p| date_in(d, p.span))
            .or_else(|| cover.and_then(|c| date_in(d, c.span)))
            .or_else(|| title.and_then(|t| date_after(d, t)))
            .or_else(|| dated_line(d));
        // The preamble's date when it calls it effective; else a sentence saying when the
        // agreement takes effect; else the preamble's date unless it is only "dated" or blank.
        let preamble_date = preamble
            .and_then(|p| date_in(d, p.span))
            .or_else(|| cover.and_then(|c| date_in(d, c.span)));
        let called_effective = preamble_date.filter(|date| {
            let before = &d.lower[floor(d.text, date.start.saturating_sub(60))..date.start];
            let after = &d.lower[date.end..ceil(d.text, (date.end + 60).min(d.lower.len()))];
            EFFECTIVE_NEAR.is_match(before) || after.contains("effective date")
        });
        let effective = called_effective
            .or_else(|| labelled_effective(d))
            .map(|date| (date, Some(date)))
            .or_else(|| effective_sentence(d))
            .or_else(|| {
                let date = preamble_date?;
                let before = &d.lower[floor(d.text, date.start.saturating_sub(25))..date.start];
                let blank = d.text[date.start..date.end].contains('_');
                (!before.contains("dated") && !blank).then_some((date, Some(date)))
            });
        Self {
            title,
            parties,
            agreement,
            effective,
        }
    }

    /// The title and the preamble (and cover) spans: front matter, not clauses.
    pub fn spans(&self) -> Vec<Span> {
        self.title
            .iter()
            .chain(self.parties.iter())
            .copied()
            .collect()
    }

    /// What was found for front-matter category `name`, or `None` for other categories.
    pub fn found(&self, name: &str) -> Option<Found> {
        let (span, answer) = match name {
            "Document Name" => (self.title, self.title),
            "Parties" => {
                return Some(Found {
                    spans: self.parties.clone(),
                    answer: None,
                });
            }
            "Agreement Date" => (self.agreement, self.agreement),
            "Effective Date" => match self.effective {
                Some((s, a)) => (Some(s), a),
                None => (None, None),
            },
            _ => return None,
        };
        Some(Found {
            spans: span.into_iter().collect(),
            answer,
        })
    }
}

fn floor(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn ceil(text: &str, mut i: usize) -> usize {
    while i < text.len() && !text.is_char_boundary(i) {
        i += 1;
    }
    i
}

fn unit_span(d: &Doc<'_>, i: usize) -> Span {
    let u = &d.seg.units[i];
    Span {
        start: u.start,
        end: u.end,
    }
}

/// The preamble: its unit, and its span from where it starts (`This ... Agreement`; in text
/// without line breaks the title and exhibit number are in the same unit, before it).
#[derive(Clone, Copy, Debug)]
struct Preamble {
    unit: usize,
    span: Span,
}

/// The preamble: the first formal one within the first fifth of the text (at least 20,000
/// bytes), else the first other opening. A `This ...` opening may come anywhere in its unit (the
/// title and exhibit number often share it); a `The ...` one only after title-like words.
fn find_preamble(d: &Doc<'_>) -> (Option<Preamble>, Option<Preamble>) {
    let limit = (d.text.len() / 5).max(20_000);
    let mut other = None;
    for (i, u) in d.seg.units.iter().enumerate() {
        if u.start >= limit {
            break;
        }
        let l = d.lower_unit(i);
        let bare = l.trim_end_matches([':', ' ']);
        if other.is_none()
            && u.is_heading
            && matches!(
                bare,
                "between" | "by and between" | "among" | "by and among"
            )
        {
            // A title block: `AGREEMENT` / `BETWEEN` / names on their own lines.
            other = Some(Preamble {
                unit: i,
                span: unit_span(d, i),
            });
        }
        if u.is_heading || l.len() < 30 {
            continue;
        }
        if let Some(c) = PREAMBLE.captures(l) {
            let m = c.get(0).map_or(0..0, |m| m.range());
            let opener = c.get(1).map_or("", |g| g.as_str());
            let prefix = &d.text[u.start..u.start + m.start];
            let named = &d.text[u.start + m.start..u.start + m.end];
            let tail = &l[m.start..ceil(l, (m.end + 120).min(l.len()))];
            let shouted = named.starts_with("THIS ");
            if (shouted || titleish(prefix) && (opener == "this" || capitalised_name(named)))
                && !NOT_PREAMBLE.is_match(tail)
            {
                let formal = Preamble {
                    unit: i,
                    span: Span {
                        start: u.start + m.start,
                        end: u.end,
                    },
                };
                return (Some(formal), other);
            }
        }
        if other.is_none() && PREAMBLE_OTHER.is_match(l) && !NOT_PREAMBLE.is_match(l) {
            other = Some(Preamble {
                unit: i,
                span: Span {
                    start: u.start,
                    end: u.end,
                },
            });
        }
    }
    (other, None)
}

/// Whether the words between `The` and the instrument word are capitalised (`The Franchise
/// Agreement`, not `the sale or any other type of agreement`).
fn capitalised_name(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    let Some(m) = TITLE_WORD.find(&lower) else {
        return false;
    };
    s[..m.end()]
        .split_whitespace()
        .all(|w| !w.starts_with(|c: char| c.is_lowercase()) || w.eq_ignore_ascii_case("the"))
}

/// Whether `s` holds only title-like words (capitalised, numbers, small words).
fn titleish(s: &str) -> bool {
    let mut n = 0;
    let mut lower = 0;
    for w in s.split_whitespace() {
        n += 1;
        let first = w.chars().next().unwrap_or(' ');
        let small = matches!(
            w.to_ascii_lowercase().as_str(),
            "of" | "and" | "to" | "the" | "for" | "on" | "in" | "&" | "-" | "by" | "between"
        );
        if n > 40 {
            return false;
        }
        if first.is_lowercase() && !small {
            lower += 1;
            if lower > 2 {
                return false;
            }
        }
    }
    true
}

/// The preamble and the sentences after it that still name or define the parties.
/// When the preamble ends in `BETWEEN:` (or the next line is `BETWEEN`), the names follow in
/// their own lines: everything up to the recitals is taken.
fn parties_span(d: &Doc<'_>, p: Preamble) -> Span {
    let mut span = p.span;
    let p = p.unit;
    let own = d.lower[span.start..span.end].trim_end();
    let mut listing = own.ends_with(':') || own.ends_with("between") || own.ends_with("among");
    for i in p + 1..(p + 16).min(d.seg.units.len()) {
        let l = d.lower_unit(i);
        if PREAMBLE_END.is_match(l) || d.seg.units[i].end > span.start + 3_000 {
            break;
        }
        if i == p + 1 && (l.starts_with("between") || l.starts_with("by and between")) {
            listing = true;
        }
        if listing || PARTY_TAIL.is_match(l) {
            span.end = d.seg.units[i].end;
        } else {
            break;
        }
    }
    span
}

/// The signature block: what follows the last `IN WITNESS WHEREOF` (up to 2,500 bytes).
fn signature_block(d: &Doc<'_>) -> Option<Span> {
    static WITNESS: LazyLock<Regex> = LazyLock::new(|| {
        super::ascii_regex(r"\bin\s+witness\s+whereof\b|^(?:dated|date)\s*:")
            .expect("witness pattern")
    });
    let n = d.seg.units.len();
    let from = (0..n)
        .rev()
        .take(400)
        .find(|&i| WITNESS.is_match(d.lower_unit(i)))?;
    let start = d.seg.units.get(from + 1)?.start;
    let end = d.seg.units[from + 1..]
        .iter()
        .take_while(|u| u.end <= start + 2_500)
        .last()
        .map_or(d.seg.units[from + 1].end, |u| u.end);
    Some(Span { start, end })
}

/// The first date in `span`.
fn date_in(d: &Doc<'_>, span: Span) -> Option<Span> {
    DATE.find(&d.lower[span.start..span.end]).map(|m| Span {
        start: span.start + m.start(),
        end: span.start + m.end(),
    })
}

/// A date right after the title (a letter agreement's date line).
fn date_after(d: &Doc<'_>, title: Span) -> Option<Span> {
    let window = &d.lower[title.end..ceil(d.text, (title.end + 60).min(d.lower.len()))];
    let m = DATE.find(window)?;
    window[..m.start()].trim().is_empty().then_some(Span {
        start: title.end + m.start(),
        end: title.end + m.end(),
    })
}

/// `Effective Date: April 17, 2017` near the top.
fn labelled_effective(d: &Doc<'_>) -> Option<Span> {
    static LABEL: LazyLock<Regex> = LazyLock::new(|| {
        super::ascii_regex(r"\beffective\s+date\s*:\s*").expect("effective label pattern")
    });
    let top = ceil(d.text, d.lower.len().min(5_000));
    let m = LABEL.find(&d.lower[..top])?;
    let at = m.end();
    let dm = DATE.find(&d.lower[at..ceil(d.text, (at + 40).min(d.lower.len()))])?;
    (dm.start() == 0).then_some(Span {
        start: at,
        end: at + dm.end(),
    })
}

/// A `Dated:` or `Date:` line near the top or in the signature pages.
fn dated_line(d: &Doc<'_>) -> Option<Span> {
    let n = d.lower.len();
    let regions = [
        (0, ceil(d.text, n.min(3_000))),
        (floor(d.text, n - n * 3 / 10), n),
    ];
    for (s, e) in regions {
        for m in DATED.find_iter(&d.lower[s..e]) {
            let at = s + m.end();
            let window = ceil(d.text, (at + 40).min(n));
            if let Some(dm) = DATE.find(&d.lower[at..window]).filter(|dm| dm.start() == 0) {
                return Some(Span {
                    start: at,
                    end: at + dm.end(),
                });
            }
        }
    }
    None
}

/// A sentence defining when the agreement takes effect, with a date in it if it has one.
fn effective_sentence(d: &Doc<'_>) -> Option<(Span, Option<Span>)> {
    let (i, definition) = (0..d.seg.units.len()).find_map(|i| {
        if d.seg.units[i].is_heading {
            return None;
        }
        let l = d.lower_unit(i);
        let c = EFFECTIVE_SENTENCE.captures(l)?;
        (!NOT_EFFECTIVE.is_match(l)).then_some((i, c.name("def").or(c.name("def2")).is_some()))
    })?;
    let span = unit_span(d, i);
    let date = date_in(d, span);
    // A definition is quoted whole; elsewhere the date alone, when there is one.
    Some(match date {
        Some(date) if !definition => (date, Some(date)),
        _ => (span, date),
    })
}

/// The title: the title-like line nearest above the preamble (else the first near the top), else
/// the name the preamble gives (`This Collaboration Agreement`).
fn find_title(d: &Doc<'_>, preamble: Option<Preamble>) -> Option<Span> {
    let top = ceil(d.text, d.text.len().min(3_000));
    let (from, to, backwards) = match preamble {
        Some(p) => (
            floor(d.text, p.span.start.saturating_sub(3_000)),
            p.span.start,
            true,
        ),
        None => (0, top, false),
    };
    let lines = lines(d.text, from, to);
    let pick = |s: &Span| title_line(d, *s);
    // Lines naming an agreement or contract first; then other instruments (addendum, license).
    let strong = |s: &Span| {
        title_line(d, *s).filter(|t| {
            let l = &d.lower[t.start..t.end];
            l.contains("agreement") || l.contains("contract")
        })
    };
    let found = if backwards {
        lines
            .iter()
            .rev()
            .take(12)
            .find_map(strong)
            .or_else(|| lines.iter().rev().find_map(pick))
    } else {
        lines
            .iter()
            .find_map(strong)
            .or_else(|| lines.iter().find_map(pick))
    };
    found
        .or_else(|| backwards.then(|| capitalised_run(d, to)).flatten())
        .or_else(|| {
            let p = preamble?.span;
            let m = PREAMBLE_OTHER.find(&d.lower[p.start..p.end])?;
            let matched = &d.lower[p.start + m.start()..p.start + m.end()];
            let joint = ["by", "between", "among"]
                .iter()
                .filter_map(|w| matched.find(w))
                .min()
                .unwrap_or(0);
            capitalised_run(d, p.start + m.start() + joint)
        })
        .or_else(|| {
            let u = preamble?.span;
            let c = TITLE_IN_PREAMBLE.captures(&d.lower[u.start..u.end])?;
            let g = c.get(1)?;
            Some(Span {
                start: u.start + g.start(),
                end: u.start + g.end(),
            })
        })
}

/// The title in line `s`, if the line is one: few words, capitalised, an instrument word, not a
/// table-of-contents entry. A leading `Exhibit 10.1` is dropped.
fn title_line(d: &Doc<'_>, s: Span) -> Option<Span> {
    let line = &d.text[s.start..s.end];
    let lower = &d.lower[s.start..s.end];
    if line.len() > 140 || !TITLE_WORD.is_match(lower) {
        return None;
    }
    let mut start = s.start;
    static EXHIBIT: LazyLock<Regex> = LazyLock::new(|| {
        super::ascii_regex(
            r"^(?:(?:exhibit|annex|schedule|appendix|attachment)\s+[\w.()\-]+\s+|execution\s+(?:copy|version)\s+|confidential\s+|(?:january|february|march|april|may|june|july|august|september|october|november|december)\s+\d{1,2},?\s+\d{4}\s+)+",
        )
        .expect("exhibit pattern")
    });
    if let Some(m) = EXHIBIT.find(lower) {
        start += m.end();
    }
    let body = &d.text[start..s.end];
    let words: Vec<&str> = body.split_whitespace().collect();
    if words.is_empty() || words.len() > 14 {
        return None;
    }
    if lower.contains("page")
        || lower.contains("....")
        || body.ends_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let lower_body = &d.lower[start..s.end];
    if lower_body.starts_with("this ") || lower_body.starts_with("the ") && words.len() > 6 {
        return None;
    }
    let letters: Vec<char> = body.chars().filter(|c| c.is_alphabetic()).collect();
    let upper = letters.iter().filter(|c| c.is_uppercase()).count();
    let capitalised = words
        .iter()
        .filter(|w| {
            w.chars()
                .next()
                .is_some_and(|c| c.is_uppercase() || !c.is_alphabetic())
        })
        .count();
    (upper * 10 >= letters.len() * 7 || capitalised * 10 >= words.len() * 7)
        .then_some(Span { start, end: s.end })
}

/// The lines of `text[from..to]`, trimmed; three or more spaces also end a line (text extracted
/// without line breaks keeps the layout's gaps).
fn lines(text: &str, from: usize, to: usize) -> Vec<Span> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut start = from;
    let mut i = from;
    let mut push = |s: usize, e: usize| {
        let mut s = s;
        let mut e = e;
        while s < e && b[s].is_ascii_whitespace() {
            s += 1;
        }
        while e > s && b[e - 1].is_ascii_whitespace() {
            e -= 1;
        }
        if e > s {
            out.push(Span { start: s, end: e });
        }
    };
    while i < to {
        if b[i] == b'\n' {
            push(start, i);
            start = i + 1;
        } else if b[i] == b' ' && i + 2 < to && b[i + 1] == b' ' && b[i + 2] == b' ' {
            push(start, i);
            while i < to && b[i] == b' ' {
                i += 1;
            }
            start = i;
            continue;
        }
        i += 1;
    }
    push(start, to);
    out
}

/// The run of capitalised words just before byte `at` that ends in an instrument word
/// (`Exhibit 10.1 Development Agreement This ...` gives `Development Agreement`).
fn capitalised_run(d: &Doc<'_>, at: usize) -> Option<Span> {
    let before = &d.text[floor(d.text, at.saturating_sub(200))..at];
    let base = at - before.len();
    let mut words: Vec<(usize, &str)> = Vec::new();
    let mut pos = before.len();
    for w in before.rsplit(|c: char| c.is_ascii_whitespace()) {
        let start = pos - w.len();
        pos = start.saturating_sub(1);
        if w.is_empty() {
            continue;
        }
        let first = w.chars().next().unwrap_or(' ');
        let lw = w.to_ascii_lowercase();
        let small = matches!(
            lw.as_str(),
            "of" | "and" | "to" | "the" | "for" | "on" | "in" | "&" | "-"
        );
        if first.is_uppercase()
            && !w.ends_with(['.', ':', ';', ','])
            && !w.chars().any(|c| c.is_ascii_digit())
            || small
        {
            words.push((start, w));
            if words.len() > 12 {
                return None;
            }
        } else {
            break;
        }
    }
    while words.last().is_some_and(|(_, w)| {
        matches!(
            w.to_ascii_lowercase().as_str(),
            "of" | "and" | "to" | "the" | "for" | "on" | "in" | "&" | "-"
        )
    }) {
        words.pop();
    }
    let (last_start, last) = *words.first()?;
    let (first_start, _) = *words.last()?;
    TITLE_WORD
        .is_match(&last.to_ascii_lowercase())
        .then_some(Span {
            start: base + first_start,
            end: base + last_start + last.len(),
        })
}
