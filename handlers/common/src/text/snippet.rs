//! Search snippets: the part of a chunk where the query's words are densest, with the matching words
//! marked by character ranges (not markup, so clients never have to trust HTML from a document).

use serde::Serialize;

use super::analyze::{query_terms, tokens};

/// A piece of a chunk with the query's words marked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Snippet {
    /// The text (`…` marks a cut).
    pub text: String,
    /// `[start, end)` character ranges of matching words in `text`.
    pub highlights: Vec<[usize; 2]>,
}

/// Cuts a snippet of about `max_chars` characters from `text` for `query`.
#[must_use]
pub fn snippet(text: &str, query: &str, max_chars: usize) -> Snippet {
    let terms = query_terms(query, 32);
    let all = tokens(text);
    let hits: Vec<_> = all.iter().filter(|t| terms.contains(&t.term)).collect();
    let window = max_chars.max(16);
    // Character offsets of every token boundary, in one pass.
    let mut chars_before = std::collections::HashMap::with_capacity(all.len() * 2);
    {
        let mut wanted: Vec<usize> = all.iter().flat_map(|t| [t.start, t.end]).collect();
        wanted.sort_unstable();
        wanted.dedup();
        let mut next = wanted.iter().peekable();
        for (n, (b, _)) in text.char_indices().chain([(text.len(), ' ')]).enumerate() {
            while next.peek().is_some_and(|w| **w == b) {
                chars_before.insert(b, n);
                next.next();
            }
        }
    }
    let char_at = |byte: usize| chars_before.get(&byte).copied().unwrap_or(0);
    let (mut best_start, mut best_count) = (0usize, 0usize);
    for (i, h) in hits.iter().enumerate() {
        let start = char_at(h.start);
        let count = hits[i..]
            .iter()
            .take_while(|o| char_at(o.end) - start <= window)
            .count();
        if count > best_count {
            (best_start, best_count) = (h.start, count);
        }
    }
    // Open the window a little before the first hit, at a word start.
    let lead = max_chars / 4;
    let mut from = all
        .iter()
        .rev()
        .find(|t| t.start <= best_start && char_at(best_start) - char_at(t.start) >= lead)
        .map_or(0, |t| t.start);
    if best_count == 0 {
        from = 0;
    }
    let to = text[from..]
        .char_indices()
        .nth(max_chars)
        .map_or(text.len(), |(i, _)| from + i);
    // End at a word end when cutting.
    let to = if to < text.len() {
        all.iter()
            .rfind(|t| t.end <= to && t.start >= from)
            .map_or(to, |t| t.end)
    } else {
        to
    };
    let body = text[from..to].trim();
    let body_start = from + (text[from..to].len() - text[from..to].trim_start().len());
    let prefix = if from > 0 { "…" } else { "" };
    let suffix = if to < text.len() { "…" } else { "" };
    let shift = prefix.chars().count();
    let highlights = hits
        .iter()
        .filter(|h| h.start >= body_start && h.end <= body_start + body.len())
        .map(|h| {
            let s = text[body_start..h.start].chars().count() + shift;
            [s, s + text[h.start..h.end].chars().count()]
        })
        .collect();
    Snippet {
        text: format!("{prefix}{}{suffix}", collapse(body)),
        highlights,
    }
    .normalised(body, shift)
}

impl Snippet {
    /// Recomputes highlights if whitespace collapsing moved characters.
    fn normalised(self, body: &str, shift: usize) -> Self {
        if collapse(body) == body {
            return self;
        }
        // Map each original char index to its collapsed index.
        let mut map = Vec::with_capacity(body.len() + 1);
        let mut out = 0usize;
        let mut prev_space = false;
        for c in body.chars() {
            map.push(out);
            let space = c.is_whitespace();
            if !(space && prev_space) {
                out += 1;
            }
            prev_space = space;
        }
        map.push(out);
        let highlights = self
            .highlights
            .iter()
            .map(|[s, e]| [map[s - shift] + shift, map[e - shift] + shift])
            .collect();
        Self {
            text: self.text,
            highlights,
        }
    }
}

/// Runs of whitespace (line breaks, form feeds) become one space.
fn collapse(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            if !prev_space {
                out.push(' ');
            }
            prev_space = true;
        } else {
            out.push(c);
            prev_space = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn marked(s: &Snippet) -> Vec<String> {
        let chars: Vec<char> = s.text.chars().collect();
        s.highlights
            .iter()
            .map(|[a, b]| chars[*a..*b].iter().collect())
            .collect()
    }

    #[test]
    fn marks_the_matching_words() {
        let s = snippet(
            "This Agreement may be terminated by either party on thirty days notice.",
            "termination notice",
            200,
        );
        assert_eq!(
            s.text,
            "This Agreement may be terminated by either party on thirty days notice."
        );
        assert_eq!(marked(&s), ["terminated", "notice"]);
    }

    #[test]
    fn long_text_is_cut_around_the_densest_matches() {
        let text = format!(
            "{} The governing law is Delaware law, and Delaware courts decide. {}",
            "Filler words here. ".repeat(40),
            "More filler. ".repeat(40)
        );
        let s = snippet(&text, "Delaware law", 120);
        assert!(
            s.text.starts_with('…') && s.text.ends_with('…'),
            "{}",
            s.text
        );
        assert!(s.text.chars().count() <= 124);
        assert_eq!(marked(&s), ["law", "Delaware", "law", "Delaware"]);
    }

    #[test]
    fn whitespace_runs_collapse_and_marks_follow() {
        let s = snippet("Term:\n\n\n  the   Term shall\u{c}renew", "term renew", 200);
        assert_eq!(s.text, "Term: the Term shall renew");
        assert_eq!(marked(&s), ["Term", "Term", "renew"]);
    }

    #[test]
    fn no_match_gives_the_start() {
        let s = snippet("Alpha beta gamma delta.", "zeta", 11);
        assert_eq!(s.text, "Alpha beta…");
        assert!(s.highlights.is_empty());
    }

    proptest::proptest! {
        #[test]
        fn highlights_are_inside_the_text(text in "\\PC{0,300}", q in "\\PC{0,20}", max in 10usize..200) {
            let s = snippet(&text, &q, max);
            let n = s.text.chars().count();
            for [a, b] in &s.highlights {
                proptest::prop_assert!(a < b && *b <= n);
            }
        }
    }
}
