//! Automatic list numbers ("1.", "2.1", "(a)", "IV.") from `word/numbering.xml`, for paragraphs
//! that reference a numbering instance directly (`w:numPr`) or through their paragraph style
//! (`word/styles.xml`, following `w:basedOn`).
//!
//! Counters are kept per abstract numbering definition, so instances that share one continue
//! each other's count, and a `w:startOverride` restarts a level when its instance is first used.
//! A level restarts whenever a higher level advances. Bullets produce no label (they are not
//! clause numbers). Formats other than decimal, letters and roman numerals are written as
//! decimal numbers.

use std::collections::{HashMap, HashSet};

use quick_xml::Reader;
use quick_xml::events::Event;

use super::{attribute, utf8_xml};

/// Levels per numbering definition (`w:ilvl` 0 to 8).
const LEVELS: usize = 9;
/// How far `w:basedOn` chains are followed.
const MAX_STYLE_DEPTH: usize = 16;

/// The numbering a paragraph asked for in its `w:pPr`.
#[derive(Clone, Debug, Default)]
pub(crate) struct ParagraphNumbering {
    /// `w:numPr/w:numId`.
    pub(crate) num_id: Option<u32>,
    /// `w:numPr/w:ilvl`.
    pub(crate) level: Option<u32>,
    /// `w:pStyle`.
    pub(crate) style: Option<String>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Format {
    #[default]
    Decimal,
    DecimalZero,
    LowerLetter,
    UpperLetter,
    LowerRoman,
    UpperRoman,
    /// Bullets and `none`: no label.
    Silent,
}

impl Format {
    fn parse(s: &str) -> Self {
        match s {
            "decimalZero" => Self::DecimalZero,
            "lowerLetter" => Self::LowerLetter,
            "upperLetter" => Self::UpperLetter,
            "lowerRoman" => Self::LowerRoman,
            "upperRoman" => Self::UpperRoman,
            "bullet" | "none" => Self::Silent,
            _ => Self::Decimal,
        }
    }

    fn render(self, n: u32) -> String {
        match self {
            Self::Decimal | Self::Silent => n.to_string(),
            Self::DecimalZero => format!("{n:02}"),
            Self::UpperLetter => letters(n),
            Self::LowerLetter => letters(n).to_lowercase(),
            Self::UpperRoman => roman(n),
            Self::LowerRoman => roman(n).to_lowercase(),
        }
    }
}

/// Word's letter numbering: A..Z, then AA..ZZ, AAA...
fn letters(n: u32) -> String {
    if n == 0 {
        return "0".into();
    }
    let letter = char::from(b'A' + u8::try_from((n - 1) % 26).unwrap_or(0));
    let times = usize::try_from((n - 1) / 26 + 1).unwrap_or(1).min(10);
    std::iter::repeat_n(letter, times).collect()
}

fn roman(mut n: u32) -> String {
    if n == 0 || n >= 4000 {
        return n.to_string();
    }
    const TABLE: [(u32, &str); 13] = [
        (1000, "M"),
        (900, "CM"),
        (500, "D"),
        (400, "CD"),
        (100, "C"),
        (90, "XC"),
        (50, "L"),
        (40, "XL"),
        (10, "X"),
        (9, "IX"),
        (5, "V"),
        (4, "IV"),
        (1, "I"),
    ];
    let mut out = String::new();
    for (value, digits) in TABLE {
        while n >= value {
            out.push_str(digits);
            n -= value;
        }
    }
    out
}

#[derive(Clone, Debug)]
struct Level {
    start: u32,
    format: Format,
    text: String,
    legal: bool,
}

impl Default for Level {
    fn default() -> Self {
        Self {
            start: 1,
            format: Format::Decimal,
            text: String::new(),
            legal: false,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct Instance {
    abstract_id: u32,
    start_overrides: [Option<u32>; LEVELS],
}

#[derive(Clone, Debug, Default)]
struct StyleNumbering {
    num_id: Option<u32>,
    level: Option<u32>,
    based_on: Option<String>,
}

/// The numbering definitions and the running counters.
#[derive(Debug, Default)]
pub(crate) struct Numbering {
    abstracts: HashMap<u32, [Level; LEVELS]>,
    instances: HashMap<u32, Instance>,
    styles: HashMap<String, StyleNumbering>,
    counters: HashMap<u32, [Option<u32>; LEVELS]>,
    started: HashSet<u32>,
}

fn number(v: Option<String>) -> Option<u32> {
    v.and_then(|v| v.trim().parse().ok())
}

fn level_index(v: Option<String>) -> Option<usize> {
    number(v)
        .and_then(|l| usize::try_from(l).ok())
        .filter(|&l| l < LEVELS)
}

fn is_on(v: Option<String>) -> bool {
    !matches!(v.as_deref(), Some("0" | "false" | "off"))
}

impl Numbering {
    /// Reads `numbering.xml` and, when given, `styles.xml`. `None` when numbering.xml is not
    /// usable (not UTF-8, not well-formed, or with a DTD, which is never read); a bad styles.xml
    /// only loses style-based numbering.
    pub(crate) fn parse(numbering: &[u8], styles: Option<&[u8]>) -> Option<Self> {
        let mut out = Self::default();
        out.read_numbering(utf8_xml(numbering, "numbering").ok()?)?;
        if let Some(styles) = styles.and_then(|s| utf8_xml(s, "styles").ok()) {
            let mut styled = Self::default();
            if styled.read_styles(styles).is_some() {
                out.styles = styled.styles;
            }
        }
        Some(out)
    }

    fn read_numbering(&mut self, xml: &str) -> Option<()> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().expand_empty_elements = true;
        // The abstract definition or instance being read, and the level within it.
        let mut abstract_def: Option<(u32, [Level; LEVELS])> = None;
        let mut instance: Option<(u32, Instance)> = None;
        let mut level: Option<usize> = None;
        loop {
            match reader.read_event().ok()? {
                Event::Eof => return Some(()),
                Event::DocType(_) => return None,
                Event::Start(e) => {
                    let name = e.local_name();
                    match name.as_ref() {
                        b"abstractNum" => {
                            abstract_def = number(attribute(&e, b"abstractNumId"))
                                .map(|id| (id, Default::default()));
                        }
                        b"num" => {
                            instance =
                                number(attribute(&e, b"numId")).map(|id| (id, Instance::default()));
                        }
                        b"lvl" => level = level_index(attribute(&e, b"ilvl")),
                        b"lvlOverride" => level = level_index(attribute(&e, b"ilvl")),
                        b"abstractNumId" => {
                            if let (Some((_, inst)), Some(id)) =
                                (instance.as_mut(), number(attribute(&e, b"val")))
                            {
                                inst.abstract_id = id;
                            }
                        }
                        b"startOverride" => {
                            if let (Some((_, inst)), Some(l)) = (instance.as_mut(), level) {
                                inst.start_overrides[l] = number(attribute(&e, b"val"));
                            }
                        }
                        field => {
                            // Level fields count only inside an abstract definition (a level
                            // redefined inside w:lvlOverride is ignored).
                            if instance.is_none()
                                && let (Some((_, levels)), Some(l)) = (abstract_def.as_mut(), level)
                            {
                                let lvl = &mut levels[l];
                                match field {
                                    b"start" => {
                                        lvl.start = number(attribute(&e, b"val")).unwrap_or(1);
                                    }
                                    b"numFmt" => {
                                        lvl.format = Format::parse(
                                            &attribute(&e, b"val").unwrap_or_default(),
                                        );
                                    }
                                    b"lvlText" => {
                                        lvl.text = attribute(&e, b"val").unwrap_or_default();
                                    }
                                    b"isLgl" => lvl.legal = is_on(attribute(&e, b"val")),
                                    _ => {}
                                }
                            }
                        }
                    }
                }
                Event::End(e) => match e.local_name().as_ref() {
                    b"abstractNum" => {
                        if let Some((id, levels)) = abstract_def.take() {
                            self.abstracts.insert(id, levels);
                        }
                    }
                    b"num" => {
                        if let Some((id, inst)) = instance.take() {
                            self.instances.insert(id, inst);
                        }
                    }
                    b"lvl" | b"lvlOverride" => level = None,
                    _ => {}
                },
                _ => {}
            }
        }
    }

    fn read_styles(&mut self, xml: &str) -> Option<()> {
        let mut reader = Reader::from_str(xml);
        reader.config_mut().expand_empty_elements = true;
        let mut style: Option<(String, StyleNumbering)> = None;
        loop {
            match reader.read_event().ok()? {
                Event::Eof => return Some(()),
                Event::DocType(_) => return None,
                Event::Start(e) => {
                    let name = e.local_name();
                    match name.as_ref() {
                        b"style" => {
                            let paragraph = attribute(&e, b"type").as_deref() == Some("paragraph");
                            style = attribute(&e, b"styleId")
                                .filter(|_| paragraph)
                                .map(|id| (id, StyleNumbering::default()));
                        }
                        b"basedOn" => {
                            if let Some((_, s)) = style.as_mut() {
                                s.based_on = attribute(&e, b"val");
                            }
                        }
                        b"numId" => {
                            if let Some((_, s)) = style.as_mut() {
                                s.num_id = number(attribute(&e, b"val"));
                            }
                        }
                        b"ilvl" => {
                            if let Some((_, s)) = style.as_mut() {
                                s.level = number(attribute(&e, b"val"));
                            }
                        }
                        _ => {}
                    }
                }
                Event::End(e) if e.local_name().as_ref() == b"style" => {
                    if let Some((id, s)) = style.take() {
                        self.styles.insert(id, s);
                    }
                }
                _ => {}
            }
        }
    }

    /// The numbering instance and level a style gives, following `w:basedOn`.
    fn style_numbering(&self, style: &str) -> (Option<u32>, Option<u32>) {
        let mut current = Some(style);
        let (mut num_id, mut level) = (None, None);
        for _ in 0..MAX_STYLE_DEPTH {
            let Some(s) = current.and_then(|id| self.styles.get(id)) else {
                break;
            };
            num_id = num_id.or(s.num_id);
            level = level.or(s.level);
            if num_id.is_some() {
                break;
            }
            current = s.based_on.as_deref();
        }
        (num_id, level)
    }

    /// Advances the counters for a paragraph and returns its label (`None` when not numbered,
    /// or numbered with bullets).
    pub(crate) fn label(&mut self, p: &ParagraphNumbering) -> Option<String> {
        let (style_num, style_level) = p
            .style
            .as_deref()
            .map(|s| self.style_numbering(s))
            .unwrap_or_default();
        let num_id = p.num_id.or(style_num).filter(|&id| id != 0)?;
        let level = usize::try_from(p.level.or(style_level).unwrap_or(0))
            .ok()
            .filter(|&l| l < LEVELS)?;
        let instance = self.instances.get(&num_id)?;
        let levels = self.abstracts.get(&instance.abstract_id)?;
        let counters = self.counters.entry(instance.abstract_id).or_default();
        if self.started.insert(num_id) {
            for (l, start) in instance.start_overrides.iter().enumerate() {
                if let Some(start) = start {
                    counters[l] = Some(start.saturating_sub(1));
                }
            }
        }
        counters[level] = Some(match counters[level] {
            Some(n) => n.saturating_add(1),
            None => levels[level].start,
        });
        for deeper in counters.iter_mut().skip(level + 1) {
            *deeper = None;
        }
        let this = &levels[level];
        if this.format == Format::Silent {
            return None;
        }
        let mut label = String::new();
        let mut chars = this.text.chars().peekable();
        while let Some(c) = chars.next() {
            let digit = chars.peek().and_then(|d| d.to_digit(10));
            match (c, digit) {
                ('%', Some(d @ 1..=9)) => {
                    chars.next();
                    let l = usize::try_from(d - 1).unwrap_or(0);
                    let value = counters[l].unwrap_or(levels[l].start);
                    let format = if this.legal {
                        Format::Decimal
                    } else {
                        levels[l].format
                    };
                    label.push_str(&format.render(value));
                }
                _ => label.push(c),
            }
        }
        let label = label.trim().to_owned();
        (!label.is_empty()).then_some(label)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(letters(1), "A");
        assert_eq!(letters(26), "Z");
        assert_eq!(letters(28), "BB");
        assert_eq!(roman(4), "IV");
        assert_eq!(roman(1999), "MCMXCIX");
        assert_eq!(Format::LowerRoman.render(9), "ix");
        assert_eq!(Format::DecimalZero.render(3), "03");
    }
}
