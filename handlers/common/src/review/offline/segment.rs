//! The contract cut into units: sentences (or clause-sized pieces of over-long ones) and the
//! headings above them, with section numbers and enumerators stripped so that a unit starts where a
//! lawyer's highlight would.
//!
//! Sentence ends are a `.`, `?` or `!` (then any closing quotes) before white space and a capital,
//! digit, bracket or enumerator, unless the word before is an abbreviation or an initial. Line breaks
//! end a unit only after a heading-like line, a colon, or a blank line after something that is not
//! the middle of a sentence (PDF text breaks lines and even paragraphs mid-sentence). Every scan is
//! linear and units are capped in length, so hostile input (megabytes without punctuation) costs no
//! more than a long contract.

/// Units longer than this (bytes) are cut at a word break.
pub(crate) const MAX_UNIT_BYTES: usize = 3_000;
/// A line longer than this (bytes) is never a heading.
const MAX_HEADING_BYTES: usize = 110;
/// A heading has at most this many words.
const MAX_HEADING_WORDS: usize = 10;

/// A piece of the text: a sentence, a heading, or part of an over-long sentence.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unit {
    /// First byte (after enumerators).
    pub start: usize,
    /// One past the last byte (terminal punctuation included).
    pub end: usize,
    /// Whether it reads as a heading.
    pub is_heading: bool,
    /// The nearest heading before it (index into the units).
    pub heading: Option<u32>,
}

/// The segmented text.
#[derive(Debug, Default)]
pub(crate) struct Segments {
    /// Units in document order.
    pub units: Vec<Unit>,
    /// Character offset of each unit's start.
    chars: Vec<u64>,
}

impl Segments {
    /// Cuts `text` into units.
    pub fn new(text: &str) -> Self {
        let mut units = Vec::new();
        for (s, e) in sentences(text) {
            refine(text, s, e, &mut units);
        }
        let mut last_heading = None;
        for (i, u) in units.iter_mut().enumerate() {
            if u.is_heading {
                u.heading = last_heading;
                last_heading = Some(u32::try_from(i).unwrap_or(u32::MAX));
            } else {
                u.heading = last_heading;
            }
        }
        let mut chars = Vec::with_capacity(units.len());
        let (mut at_byte, mut at_char) = (0usize, 0u64);
        for u in &units {
            at_char += text[at_byte..u.start].chars().count() as u64;
            at_byte = u.start;
            chars.push(at_char);
        }
        Self { units, chars }
    }

    /// The character offset of byte `byte`, which lies in unit `unit` (at or after its start).
    pub fn char_offset(&self, text: &str, unit: usize, byte: usize) -> u64 {
        let u = &self.units[unit];
        self.chars[unit] + text[u.start..byte.max(u.start)].chars().count() as u64
    }

    /// The unit holding byte `byte` (the last unit starting at or before it).
    pub fn unit_at(&self, byte: usize) -> Option<usize> {
        let i = self.units.partition_point(|u| u.start <= byte);
        i.checked_sub(1)
    }
}

fn is_ws(b: u8) -> bool {
    b.is_ascii_whitespace()
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && is_ws(b[i]) {
        i += 1;
    }
    i
}

/// Whether a unit may start at byte `k`: a capital, digit, opening bracket or quote, bullet, or a
/// lower-case enumerator (`b.`, `(ii)`, `iv)`).
fn is_starter(text: &str, k: usize) -> bool {
    let b = text.as_bytes();
    let Some(&c) = b.get(k) else {
        return true;
    };
    match c {
        b'A'..=b'Z' | b'0'..=b'9' | b'(' | b'"' | b'\'' | b'[' | b'*' | b'_' | b'$' => true,
        b'a'..=b'z' => {
            let mut j = k;
            while j < b.len() && j - k < 5 && b[j].is_ascii_lowercase() {
                j += 1;
            }
            j < b.len() && (b[j] == b'.' || b[j] == b')') && b.get(j + 1).is_some_and(|&x| is_ws(x))
        }
        _ if c >= 0x80 => text[k..]
            .chars()
            .next()
            .is_some_and(|ch| ch.is_uppercase() || matches!(ch, '“' | '‘' | '•' | '·' | '§')),
        _ => false,
    }
}

/// Words that end in a full stop without ending a sentence.
const ABBREVIATIONS: &[&str] = &[
    "inc", "ltd", "co", "corp", "no", "nos", "sec", "secs", "art", "arts", "para", "paras", "vs",
    "v", "mr", "mrs", "ms", "dr", "st", "jr", "sr", "messrs", "fig", "approx", "dept", "est",
    "ref", "cf", "pp", "p", "ch", "sub", "subs", "incl", "viz", "ave", "blvd", "rd", "ste", "fl",
    "tel", "fax", "attn", "bros", "llc", "plc", "lp", "llp", "gmbh", "ag", "sa", "nv", "bv", "pty",
    "sarl", "spa", "srl", "oy", "ab", "kk", "hon", "gen", "gov", "jan", "feb", "mar", "apr", "jun",
    "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mon", "tue", "wed", "thu", "fri", "sat",
    "sun", "etc",
];

/// Whether the full stop at `dot` follows an abbreviation, an initial, or the unit's own number.
fn is_abbreviation(text: &str, unit_start: usize, dot: usize) -> bool {
    let b = text.as_bytes();
    let mut s = dot;
    while s > unit_start && dot - s < 24 && !is_ws(b[s - 1]) && b[s - 1] != b'(' {
        s -= 1;
    }
    while !text.is_char_boundary(s) {
        s += 1;
    }
    let token = &text[s..dot];
    if token.is_empty() {
        return false;
    }
    let lower = token.to_ascii_lowercase();
    let letters: String = lower.chars().filter(char::is_ascii_alphabetic).collect();
    if token.contains('.') && token.split('.').all(|p| p.len() <= 3) && !letters.is_empty() {
        // U.S., e.g., S.A., L.L.C.
        return true;
    }
    if token.len() == 1 && token.as_bytes()[0].is_ascii_uppercase() {
        return true; // an initial
    }
    if token.bytes().all(|c| c.is_ascii_digit()) {
        // "12." opening a unit is its number, not a sentence.
        return s == unit_start;
    }
    let word = lower.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
    ABBREVIATIONS.contains(&word) && word == letters
        || (s == unit_start && word.len() <= 4 && roman_or_letter(word))
}

/// `iv`, `b`: an enumerator opening a unit.
fn roman_or_letter(w: &str) -> bool {
    !w.is_empty()
        && (w.len() == 1 && w.bytes().all(|c| c.is_ascii_alphabetic())
            || w.bytes().all(|c| matches!(c, b'i' | b'v' | b'x')))
}

/// Whether `s` reads as a heading: short, few words, every word capitalised (small words aside)
/// or all capitals, no sentence punctuation inside.
pub(crate) fn heading_like(s: &str) -> bool {
    let s = s.trim().trim_end_matches(['.', ':', '-', '—', '–']).trim();
    if s.is_empty() || s.len() > MAX_HEADING_BYTES || s.contains([',', '"', '“', '”']) {
        return false;
    }
    let mut words = 0;
    let mut letters = false;
    for w in s.split_whitespace() {
        words += 1;
        if words > MAX_HEADING_WORDS {
            return false;
        }
        let Some(first) = w.chars().find(|c| c.is_alphanumeric()) else {
            continue;
        };
        if first.is_alphabetic() {
            letters = true;
            let lw = w.to_ascii_lowercase();
            let small = matches!(
                lw.trim_matches(|c: char| !c.is_ascii_alphabetic()),
                "of" | "and"
                    | "or"
                    | "the"
                    | "to"
                    | "for"
                    | "in"
                    | "on"
                    | "a"
                    | "an"
                    | "by"
                    | "with"
                    | "from"
                    | "upon"
                    | "under"
                    | "as"
                    | "at"
                    | "not"
                    | "its"
                    | "no"
            );
            if !small && first.is_lowercase() {
                return false;
            }
            if matches!(
                lw.trim_matches(|c: char| !c.is_ascii_alphabetic()),
                "shall"
                    | "will"
                    | "must"
                    | "may"
                    | "is"
                    | "are"
                    | "be"
                    | "means"
                    | "hereby"
                    | "agree"
                    | "agrees"
                    | "has"
                    | "have"
            ) {
                return false;
            }
        }
    }
    letters
}

/// Raw sentence spans (byte ranges, trimmed).
fn sentences(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let n = b.len();
    let mut out = Vec::new();
    let mut start = skip_ws(b, 0);
    let mut last_ws = None; // last white space byte inside the current unit
    let mut i = start;
    while i < n {
        let c = b[i];
        if matches!(c, b'.' | b'?' | b'!') {
            let mut j = i + 1;
            loop {
                if j < n && matches!(b[j], b'"' | b'\'' | b')' | b']') {
                    j += 1;
                } else if text[j.min(n)..].starts_with(['”', '’']) {
                    j += 3;
                } else {
                    break;
                }
            }
            if j >= n || is_ws(b[j]) {
                let k = skip_ws(b, j);
                if (k >= n || is_starter(text, k))
                    && !(c == b'.' && is_abbreviation(text, start, i))
                {
                    out.push((start, j.min(n)));
                    start = k;
                    last_ws = None;
                    i = k;
                    continue;
                }
            }
        } else if c == b'\n' || c == b'\x0c' {
            let k = skip_ws(b, i);
            if k < n && k > start {
                let newlines = b[i..k]
                    .iter()
                    .filter(|&&x| x == b'\n' || x == b'\x0c')
                    .count();
                let end = trim_end(b, start, i);
                let prev = if end > start { b[end - 1] } else { b' ' };
                let so_far = &text[start..end];
                let breaks = is_starter(text, k)
                    && end > start
                    && (prev == b':'
                        || (so_far.len() <= MAX_HEADING_BYTES && heading_like(so_far))
                        || (newlines >= 2
                            && !(prev.is_ascii_lowercase()
                                || matches!(prev, b',' | b'-' | b'(' | b'&'))));
                if breaks {
                    out.push((start, end));
                    start = k;
                    last_ws = None;
                    i = k;
                    continue;
                }
            }
            last_ws = Some(i);
            i = k.max(i + 1);
            continue;
        } else if is_ws(c) {
            last_ws = Some(i);
        }
        if i - start >= MAX_UNIT_BYTES {
            let cut = last_ws
                .filter(|&w| w > start)
                .unwrap_or_else(|| floor_char(text, i));
            out.push((start, trim_end(b, start, cut)));
            start = skip_ws(b, cut);
            last_ws = None;
            i = start;
            continue;
        }
        i += 1;
    }
    let end = trim_end(b, start, n);
    if end > start {
        out.push((start, end));
    }
    out
}

fn floor_char(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

fn trim_end(b: &[u8], start: usize, mut end: usize) -> usize {
    while end > start && is_ws(b[end - 1]) {
        end -= 1;
    }
    end
}

/// Length in bytes of an enumerator or section number at the start of `s` (with the white space
/// after it), or 0.
fn enumerator_len(s: &str) -> usize {
    let b = s.as_bytes();
    let n = b.len().min(40);
    let mut i = 0;
    // "Section 12.1", "ARTICLE IV", "Clause 3"
    for word in ["section", "article", "clause", "paragraph", "schedule"] {
        if n > word.len()
            && s.get(..word.len())
                .is_some_and(|w| w.eq_ignore_ascii_case(word))
            && is_ws(b[word.len()])
        {
            let mut j = skip_ws(b, word.len());
            let num_start = j;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric() || b[j] == b'.')
                && j - num_start < 12
            {
                j += 1;
            }
            let num = &s[num_start..j];
            if num.bytes().any(|c| c.is_ascii_digit())
                || (!num.is_empty()
                    && num
                        .trim_end_matches('.')
                        .bytes()
                        .all(|c| matches!(c, b'I' | b'V' | b'X' | b'L')))
            {
                let k = skip_dash(b, j);
                return k;
            }
            return 0;
        }
    }
    if i < n && b[i] == b'(' {
        // (a) (iv) (12) (A)
        let mut j = i + 1;
        while j < n && b[j].is_ascii_alphanumeric() && j - i <= 5 {
            j += 1;
        }
        if j < n && b[j] == b')' && j > i + 1 {
            let k = skip_ws(b, j + 1);
            if k > j + 1 || k >= b.len() {
                return k;
            }
        }
        return 0;
    }
    // 12. / 12.1 / 12.1.3 / 8.4Limitation
    if i < n && b[i].is_ascii_digit() {
        while i < n && (b[i].is_ascii_digit() || b[i] == b'.') {
            i += 1;
        }
        let number = &s[..i];
        if i < n && b[i] == b')' {
            i += 1;
        }
        let k = skip_ws(b, i);
        let next_upper = k < b.len() && (b[k].is_ascii_uppercase() || b[k] == b'(' || b[k] == b'"');
        let dotted = number.contains('.');
        if next_upper && (k > i || dotted) && !starts_with_month(&s[k..]) && number.len() <= 12 {
            return k;
        }
        return 0;
    }
    // a. / b) / iv. / A. / IV.
    let mut j = 0;
    while j < n && b[j].is_ascii_alphabetic() && j < 5 {
        j += 1;
    }
    if j > 0 && j < n && (b[j] == b'.' || b[j] == b')') && b.get(j + 1).is_some_and(|&c| is_ws(c)) {
        let w = &s[..j];
        let lw = w.to_ascii_lowercase();
        if w.len() == 1 || lw.bytes().all(|c| matches!(c, b'i' | b'v' | b'x')) {
            return skip_ws(b, j + 1);
        }
    }
    // bullets
    for bullet in ["•", "·", "-", "*", "§"] {
        if s.starts_with(bullet) && s[bullet.len()..].starts_with(|c: char| c.is_whitespace()) {
            return skip_ws(b, bullet.len());
        }
    }
    0
}

fn skip_dash(b: &[u8], j: usize) -> usize {
    let mut k = skip_ws(b, j);
    if k < b.len() && matches!(b[k], b'-' | b':') {
        k = skip_ws(b, k + 1);
    }
    k
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

fn starts_with_month(s: &str) -> bool {
    let w: String = s
        .chars()
        .take_while(char::is_ascii_alphabetic)
        .take(10)
        .collect::<String>()
        .to_ascii_lowercase();
    MONTHS.contains(&w.as_str())
}

/// Strips enumerators, splits an inline heading off the front, and pushes the unit(s).
fn refine(text: &str, mut s: usize, e: usize, out: &mut Vec<Unit>) {
    for _ in 0..4 {
        let k = enumerator_len(&text[s..e]);
        if k == 0 || s + k >= e {
            break;
        }
        s += k;
    }
    // Runs of dashes or underscores after a heading ("ASSIGNMENT ----------").
    let seg = &text[s..e];
    if !seg.bytes().any(|c| c.is_ascii_alphanumeric()) && !seg.chars().any(char::is_alphanumeric) {
        return;
    }
    // Inline heading: "Governing Law: This ...", "Assignment - Neither ...", "Insurance 11.1 During".
    if let Some((head_end, body)) = inline_heading(seg) {
        out.push(Unit {
            start: s,
            end: s + head_end,
            is_heading: true,
            heading: None,
        });
        let body_start = s + body;
        refine_body(text, body_start, e, out);
        return;
    }
    refine_body(text, s, e, out);
}

fn refine_body(text: &str, mut s: usize, e: usize, out: &mut Vec<Unit>) {
    for _ in 0..4 {
        let k = enumerator_len(&text[s..e]);
        if k == 0 || s + k >= e {
            break;
        }
        s += k;
    }
    let seg = text[s..e].trim_start_matches(['-', '_', '=', ' ', '\n', '\t', '\r']);
    let s = e - seg.len();
    if s >= e || !seg.chars().any(char::is_alphanumeric) {
        return;
    }
    out.push(Unit {
        start: s,
        end: e,
        is_heading: heading_like(seg) && !seg.trim_end().ends_with(['?', '!', ';']),
        heading: None,
    });
}

/// `(heading end, body start)` when `seg` opens with a heading followed by `:`, a dash, a line of
/// dashes, or a section number.
fn inline_heading(seg: &str) -> Option<(usize, usize)> {
    let b = seg.as_bytes();
    let limit = seg.len().min(MAX_HEADING_BYTES + 10);
    let mut i = 0;
    while i < limit {
        let c = b[i];
        let delim_end = match c {
            b':' if b.get(i + 1).is_none_or(|&x| is_ws(x)) => Some(i + 1),
            b'-' if i > 0 && is_ws(b[i - 1]) => {
                let mut j = i;
                while j < b.len() && b[j] == b'-' {
                    j += 1;
                }
                b.get(j).is_some_and(|&x| is_ws(x)).then_some(j)
            }
            b'\n' => None,
            _ if c >= 0x80 && seg.is_char_boundary(i) && seg[i..].starts_with(['—', '–']) => {
                Some(i + 3)
            }
            b'0'..=b'9' if i > 0 && is_ws(b[i - 1]) => {
                // a section number "11.1 " before a capital
                let mut j = i;
                while j < b.len() && (b[j].is_ascii_digit() || b[j] == b'.') {
                    j += 1;
                }
                let num = &seg[i..j];
                let k = skip_ws(b, j);
                (num.contains('.')
                    && num.trim_end_matches('.').contains('.')
                    && k > j
                    && k < b.len()
                    && (b[k].is_ascii_uppercase() || b[k] == b'('))
                    .then_some(i)
                    .filter(|_| {
                        let before = seg[..i].trim_end().to_ascii_lowercase();
                        ![
                            "section",
                            "sections",
                            "article",
                            "clause",
                            "paragraph",
                            "and",
                            "or",
                            "to",
                        ]
                        .iter()
                        .any(|w| before.ends_with(w))
                    })
            }
            _ => None,
        };
        if let Some(d) = delim_end {
            let head = seg[..i].trim_end();
            if !head.is_empty() && heading_like(head) && head.split_whitespace().count() <= 8 {
                let body = skip_ws(b, d);
                if body < seg.len() && seg[body..].chars().any(char::is_alphanumeric) {
                    return Some((head.len(), body));
                }
            }
            return None;
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &str) -> Vec<(String, bool)> {
        Segments::new(t)
            .units
            .iter()
            .map(|u| (t[u.start..u.end].to_owned(), u.is_heading))
            .collect()
    }

    #[test]
    fn numbered_headings_and_sentences() {
        let t = "12. GENERAL PROVISIONS.\n\n12.1 GOVERNING LAW. This Agreement will be governed by \
                 the laws of the State of California. Each party, e.g. Acme Inc. and Beta Co., agrees.\n\n\
                 12.2 Assignment: Neither party may assign. (a) Any attempt is void.";
        let got = texts(t);
        let want = [
            ("GENERAL PROVISIONS.", true),
            ("GOVERNING LAW.", true),
            (
                "This Agreement will be governed by the laws of the State of California.",
                false,
            ),
            ("Each party, e.g. Acme Inc. and Beta Co., agrees.", false),
            ("Assignment", true),
            ("Neither party may assign.", false),
            ("Any attempt is void.", false),
        ];
        let got: Vec<(&str, bool)> = got.iter().map(|(s, h)| (s.as_str(), *h)).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn paragraph_breaks_inside_sentences_do_not_split() {
        let t = "either party may terminate at any time after the first three\n\n   months of the Term. Next one.";
        let got = texts(t);
        assert_eq!(got.len(), 2);
        assert!(got[0].0.ends_with("Term."));
    }

    #[test]
    fn heading_lines_without_punctuation_split() {
        let t = "10. GOVERNING LAW\nThis agreement shall be governed by the Laws of England.";
        let got = texts(t);
        assert_eq!(got[0], ("GOVERNING LAW".to_owned(), true));
        assert_eq!(
            got[1].0,
            "This agreement shall be governed by the Laws of England."
        );
        let s = Segments::new(t);
        assert_eq!(s.units[1].heading, Some(0));
    }

    #[test]
    fn inline_section_numbers_split_headings() {
        let got = texts("11. Insurance 11.1 During the term, Licensee shall maintain insurance.");
        assert_eq!(got[0], ("Insurance".to_owned(), true));
        assert_eq!(
            got[1].0,
            "During the term, Licensee shall maintain insurance."
        );
    }

    #[test]
    fn char_offsets_count_characters() {
        let t = "Ünïcödé heading\nThe first sentence. The second one.";
        let s = Segments::new(t);
        let last = s.units.len() - 1;
        let u = s.units[last];
        let c = s.char_offset(t, last, u.start) as usize;
        assert_eq!(t.chars().skip(c).take(3).collect::<String>(), "The");
        assert_eq!(&t[u.start..u.end], "The second one.");
    }

    #[test]
    fn long_runs_are_cut() {
        let t = "word ".repeat(10_000);
        let s = Segments::new(&t);
        assert!(s.units.iter().all(|u| u.end - u.start <= MAX_UNIT_BYTES));
        assert!(s.units.len() >= 16);
        let one = "x".repeat(20_000);
        let s = Segments::new(&one);
        assert!(s.units.iter().all(|u| u.end - u.start <= MAX_UNIT_BYTES));
    }
}
