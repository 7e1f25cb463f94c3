//! The clause rules: one per category, over units (sentences). A unit is quoted when an `any`
//! pattern matches it, or an `under` pattern matches and its heading (or the heading above that)
//! matches a `heading` pattern; a `not` pattern vetoes it. Units that are headings, tables of
//! contents, or the front matter (title and preamble) are never quoted.
//!
//! Patterns are written lower-case (they run over the ASCII-lower-cased text) with a space meaning
//! any run of white space, `~` a gap within the same clause (no `;`) and `~~` a gap anywhere in the
//! unit; `\b` is an ASCII word boundary. Each category keeps at most `limit` units: first `any`
//! matches under a matching heading, then other `any` matches, then `under` matches; within a class
//! the earlier-listed pattern wins, then document order. Rules are drafting patterns (the verbs,
//! nouns and section headings contracts use for each kind of clause), not phrases of particular
//! contracts.

use std::sync::LazyLock;

use regex::Regex;

use super::{Doc, Found, Span};

/// One category's rule, as written.
struct Rule {
    name: &'static str,
    any: &'static [&'static str],
    heading: &'static [&'static str],
    under: &'static [&'static str],
    not: &'static [&'static str],
    limit: usize,
}

/// A rule, compiled.
struct Compiled {
    name: &'static str,
    any: Option<Regex>,
    /// The `any` patterns one by one, to rank a match by the first that fits.
    each: Vec<Regex>,
    heading: Option<Regex>,
    under: Option<Regex>,
    not: Option<Regex>,
    limit: usize,
}

fn compile(parts: &[&str]) -> Option<Regex> {
    if parts.is_empty() {
        return None;
    }
    let joined = parts
        .iter()
        .map(|p| {
            let p = p
                .replace("~~", r"(?s:.)*?")
                .replace('~', r"[^;]*?")
                .replace(' ', r"\s+")
                .replace(r"\b", r"(?-u:\b)");
            format!("(?:{p})")
        })
        .collect::<Vec<_>>()
        .join("|");
    Some(Regex::new(&joined).unwrap_or_else(|e| panic!("rule pattern: {e}")))
}

static COMPILED: LazyLock<Vec<Compiled>> = LazyLock::new(|| {
    RULES
        .iter()
        .map(|r| Compiled {
            name: r.name,
            any: compile(r.any),
            each: r.any.iter().filter_map(|p| compile(&[p])).collect(),
            heading: compile(r.heading),
            under: compile(r.under),
            not: compile(r.not),
            limit: r.limit,
        })
        .collect()
});

/// Runs the rule for category `name` over `d`. Units inside `front` (the preamble and the title,
/// quoted as front matter) are never quoted as clauses.
pub(crate) fn find(name: &str, d: &Doc<'_>, front: &[Span]) -> Found {
    let Some(rule) = COMPILED.iter().find(|r| r.name == name) else {
        return Found::default();
    };
    // (class, pattern rank, unit): class 0 is an `any` match under a matching heading, 1 an `any`
    // match, 2 an `under` match under a matching heading.
    let mut hits: Vec<(u8, usize, usize)> = Vec::new();
    for (i, u) in d.seg.units.iter().enumerate() {
        if u.is_heading
            || d.is_contents(i)
            || front.iter().any(|f| f.start < u.end && u.start < f.end)
        {
            continue;
        }
        let l = d.lower_unit(i);
        let any = rule.any.as_ref().is_some_and(|r| r.is_match(l));
        let under = !any && rule.under.as_ref().is_some_and(|r| r.is_match(l));
        if !any && !under {
            continue;
        }
        let headed = rule
            .heading
            .as_ref()
            .is_some_and(|h| heading_matches(d, i, h));
        let class = match (any, headed) {
            (true, true) => 0,
            (true, false) => 1,
            (false, true) => 2,
            (false, false) => continue,
        };
        if rule.not.as_ref().is_some_and(|r| r.is_match(l)) {
            continue;
        }
        let rank = if any {
            rule.each.iter().position(|r| r.is_match(l)).unwrap_or(0)
        } else {
            0
        };
        hits.push((class, rank, i));
    }
    hits.sort_unstable();
    hits.truncate(rule.limit);
    Found {
        spans: hits
            .iter()
            .map(|&(_, _, i)| Span {
                start: d.seg.units[i].start,
                end: d.seg.units[i].end,
            })
            .collect(),
        answer: None,
    }
}

/// Whether unit `i`'s heading (or the heading above that) matches `h`.
fn heading_matches(d: &Doc<'_>, i: usize, h: &Regex) -> bool {
    let mut at = d.seg.units[i].heading;
    for _ in 0..2 {
        let Some(hi) = at else {
            return false;
        };
        if h.is_match(d.lower_unit(hi as usize)) {
            return true;
        }
        at = d.seg.units[hi as usize].heading;
    }
    false
}

/// The rules, in taxonomy order (front-matter categories are in `front`).
static RULES: &[Rule] = &[
    Rule {
        name: "Expiration Date",
        any: &[
            r"\b(?:initial )?term of this (?:\w+ )?(?:agreement|contract)\b(?: \([^)]{0,40}\))? (?:is|shall|will)\b~\b(?:commenc|begin|continu|remain|expir|end|terminat|year|month|period|until|through)",
            r"\bthis (?:\w+ )?(?:agreement|contract)\b~\b(?:shall|will) (?:commence|continue|remain in (?:full )?(?:force|effect)|expire|have an? (?:initial )?term|be (?:valid|in effect|effective) for|take effect)\b~\b(?:until|for|through|year|month|period|anniversary|expir)",
            r"\bthis (?:\w+ )?(?:agreement|contract) (?:is|shall be) for (?:a|an initial) (?:term|period)\b",
            r"\b(?:agreement|contract) shall (?:expire|terminate) (?:on|at|upon the (?:earlier|later))\b",
            r#"^["“]?(?:initial )?(?:term|contract period|initial term|license period)["”]?\s+(?:shall )?means?\b"#,
            r"\bshall have (?:a|an initial) term of\b",
        ],
        heading: &[r"\b(?:term|duration|period)\b"],
        under: &[r"\b(?:expire|expiration|until|anniversary|period of|years?|months?)\b"],
        not: &[
            r"\b(?:during|throughout|for) the (?:initial )?term\b",
            r"\bupon (?:the )?(?:any )?(?:expiration|termination)\b",
            r"\bterm of (?:any|each|the) (?:license|patent|statement)",
        ],
        limit: 1,
    },
    Rule {
        name: "Renewal Term",
        any: &[
            r"\b(?:automatically|thereafter) (?:be )?(?:renew|extend|continue)",
            r"\b(?:renew|extend|prolong)\w*~\b(?:successive|additional|further|consecutive|subsequent)\b~\b(?:periods?|terms?|years?|months?)\b",
            r"\b(?:renew|extend)\w*\b~\b(?:for|by) (?:an? )?(?:\w+ )?(?:\(\d+\) )?(?:year|month)s?\b",
            r"\brenewal term\b~\b(?:shall|will) (?:be|mean)\b",
            r"\b(?:continue|remain) (?:in (?:full )?(?:force|effect) )?(?:thereafter )?(?:on a|from) (?:year[- ]to[- ]year|month[- ]to[- ]month)",
            r"\bright to renew\b|\boption to (?:renew|extend)\b|\bshall be renewable\b",
        ],
        heading: &[r"\brenew"],
        under: &[r"\b(?:renew|extend|extension)"],
        not: &[
            r"\b(?:insurance|polic(?:y|ies)|letter of credit)\b",
            r#"^["“]?[\w ]{1,30}["”]? (?:shall )?means?\b"#,
            r"\btime period\b",
            r"\bsurviv",
        ],
        limit: 2,
    },
    Rule {
        name: "Notice Period To Terminate Renewal",
        any: &[
            r"\bnotice\b~~\b(?:non-?renewal|not to (?:renew|extend)|intention not to|intent not to|terminate|termination|cancel)\b~~\b(?:prior to|before|in advance of|preceding)\b~\b(?:end|expiration|expiry|renewal|then[- ]current|current term|initial term|term)\b",
            r"\b(?:non-?renewal|not to (?:renew|extend))\b~~\b(?:days|months?)\b~\b(?:prior to|before|in advance of|preceding)\b",
            r"\b(?:renew|extend|continue)\w*\b~~\bunless\b~~\bnotice\b~~\b(?:days|months?)\b",
            r"\b(?:days|months?)\b~\bnotice\b~~\b(?:prior to|before|in advance of)\b~\b(?:end|expiration|expiry)\b",
            r"\bat the (?:end|expiration|expiry) of (?:the|its|any)\b~~\bterm\b~~\b(?:upon|with|by)\b~\bnotice\b",
            r"\buntil terminated\b~~\bnotice\b",
        ],
        heading: &[],
        under: &[],
        not: &[r"\bbreach\b", r"\bconfidential"],
        limit: 2,
    },
    Rule {
        name: "Governing Law",
        any: &[
            r"\b(?:governed|construed|interpreted|enforced)\b~~\b(?:in accordance with|under|by) (?:and subject to )?(?:the )?(?:internal |substantive |applicable )?laws? of\b",
            r"\blaws? of (?:the )?(?:state|commonwealth|province|republic|kingdom)?~\b(?:shall|will) (?:govern|apply)",
            r"\bgoverning law\b~\bshall be\b",
            r"\b(?:legislation|law) of\b~\bshall (?:apply|govern)\b",
        ],
        heading: &[r"\b(?:governing|applicable|choice of) laws?\b"],
        under: &[r"\blaws? of\b"],
        not: &[r"\bnotwithstanding the (?:choice|governing)"],
        limit: 1,
    },
    Rule {
        name: "Most Favored Nation",
        any: &[
            r"\bmost favou?red (?:nation|customer|licensee)",
            r"\b(?:terms|prices?|pricing|rates?|royalt(?:y|ies))\b~\b(?:no less favou?rable|at least as favou?rable|more favou?rable)\b",
            r"\b(?:more|most) favou?rable (?:terms|prices?|pricing|rates?)\b~\b(?:third part|other (?:customer|licensee|distributor))",
            r"\b(?:third part\w*|other (?:customers?|licensees?|distributors?))\b~~\b(?:more|most) favou?rable (?:terms|prices?|pricing|rates?)\b",
            r"\b(?:lower|better) (?:prices?|terms)\b~\b(?:offer|grant|provide)\w*\b~\b(?:any )?(?:third part|other (?:customer|licensee|distributor))~~\b(?:same|such|equivalent|comparable) (?:lower |better )?(?:prices?|terms)\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Non-Compete",
        any: &[
            r"\b(?:not|neither|nor)\b~\b(?:directly or indirectly )?(?:compete\b|engage in (?:any )?(?:business|activit)\w*~\bcompet)",
            r"\bcovenants? not to compete\b",
            r"\bnon-?compet(?:e|ition)\b~\b(?:shall|will|agree|covenant)",
            r"\b(?:shall|will|may) not\b~\b(?:develop|manufacture|market|sell|distribute|commercialize|promote|offer|advertis|run|endorse|research)\w*~\b(?:competing|competitive|compete|competitors?)\b",
            r"\b(?:shall|will) not\b~\b(?:own|manage|operate|engage in|have any interest in)\b~~\bcompetitive business\b",
            r"\b(?:shall|will) not\b~~\bdirectly or indirectly\b~~\b(?:own|manage|operate|maintain|engage|consult|participate|be (?:employed|associated)|have any interest)\b",
            r"\bcompetitive business\b|\bnon-?competition period\b",
            r"\b(?:not|nor)\b~~\bcompeting products?\b|\bcompeting products?\b~~\b(?:shall|will|may) not\b",
        ],
        heading: &[r"\bnon-?compet|\bcompet|\brestrictive covenant"],
        under: &[
            r"\b(?:shall|will) not\b~\b(?:develop|manufacture|market|sell|distribute|commercialize|engage|offer|promote|own|operate)\b",
        ],
        not: &[r"\bsolicit", r"\bconfidential information\b", r"\binjunct"],
        limit: 3,
    },
    Rule {
        name: "Exclusivity",
        any: &[
            r"(?:^|[^\w-])(?:sole and exclusive|exclusive) (?:distributor|agent|reseller|supplier|provider|licensee|license|right to (?:sell|distribute|market|manufacture|use|develop|promote|supply|represent|provide)|rights to|territory|basis|representative|partner|manufacturer|marketing)\b",
            r"\bappoints?\b~(?:^|[^\w-])(?:sole and )?exclusive\b",
            r"\bgrants?\b~~(?:^|[^\w-])exclusive\b~~\b(?:licen[cs]e|right)",
            r"\b(?:shall|will) not\b~\b(?:appoint|grant|license|sell|supply|distribute|authorize)\b~\b(?:any )?(?:other|third part)\w*~~\b(?:territory|products?|distributor|agent|reseller|licensee|franchise)\b",
            r"\b(?:not|neither|nor)\b~\b(?:sell|purchase|order|buy|grant|appoint|manufacture|distribute)\w*~~\b(?:anyone other than|any source other than|any other (?:party|person|source|supplier|distributor))\b",
            r"\b(?:purchase|buy|procure|obtain|source)\w* (?:all|one hundred percent|100%) of\b~\b(?:requirements|needs)\b",
            r"\b(?:purchase|buy|procure|obtain|source)\w*~\bexclusively from\b",
            r"\b(?:license|rights?|appointment)\b~\b(?:is|are|shall be) exclusive\b",
        ],
        heading: &[r"\bexclusiv"],
        under: &[r"(?:^|[^\w-])exclusiv|\bsole\b|\bonly\b|\bother than\b"],
        not: &[
            r"\bexclusive of\b",
            r"\bsole and exclusive (?:remedy|liability|obligation|property|discretion|responsibility|option|cost|expense|owner)",
            r"\bexclusive (?:jurisdiction|venue|remedy|remedies|property|use|right to (?:contest|bring|enforce|prosecute|control))\b",
        ],
        limit: 3,
    },
    Rule {
        name: "No-Solicit Of Customers",
        any: &[
            r"\b(?:not|neither|nor)\b~\b(?:directly or indirectly )?(?:solicit|induce|entice|divert|call on|interfere)\w*~~\b(?:customers?|clients?|accounts?|suppliers?|business relationships?)\b",
            r"\bnon-?solicitation\b~\b(?:customers?|clients?)\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Competitive Restriction Exception",
        any: &[
            r"\b(?:shall not|will not) (?:prevent|restrict|prohibit|preclude|limit)\b~\b(?:from )?(?:develop|market|sell|engag|compet|offer|acquir|own|invest)",
            r"\bnothing (?:in this (?:agreement|section)|herein)\b~\b(?:prevent|restrict|prohibit|preclude|limit)\w*~\b(?:develop|market|sell|engag|compet|offer|acquir|own|invest|doing business)",
            r"\b(?:ownership|own|owning|hold)\w*~\b(?:less than|not more than|up to) (?:\w+ )?(?:\(\d+%?\) )?(?:percent|%)\b~\b(?:securities|stock|shares|outstanding)\b",
            r"\bnotwithstanding\b~\b(?:exclusiv|non-?compet|restriction)\w*~~\b(?:may|shall be (?:free|permitted|entitled))\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "No-Solicit Of Employees",
        any: &[
            r"\b(?:not|neither|nor)\b~\b(?:directly or indirectly )?(?:solicit|recruit|hire)\w*~\b(?:employees?|personnel|staff|consultants?|contractors?|officers?)\b",
            r"\b(?:not|neither|nor)\b~\b(?:induce|entice|encourage)\w*~\b(?:employees?|personnel|staff)\b~\bleave\b",
            r"\bnon-?solicitation of employees\b",
        ],
        heading: &[],
        under: &[],
        not: &[r"\bcustomers?\b"],
        limit: 2,
    },
    Rule {
        name: "Non-Disparagement",
        any: &[
            r"\bdisparag\w*",
            r"\b(?:not|neither|nor)\b~\b(?:make|publish|issue)\w*~\b(?:negative|derogatory|critical|adverse|unfavou?rable)\b~\b(?:statements?|comments?|remarks?)\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Termination For Convenience",
        any: &[
            r"\b(?:either party|any party|each party|[a-z]+)\b~\bmay terminate (?:this (?:\w+ )?(?:agreement|contract)|the (?:agreement|contract))\b~~\b(?:for (?:any|no) reason|for convenience|without cause|at any time|at will|in its (?:sole )?discretion|with or without cause)\b",
            r"\bmay terminate\b~~\b(?:for (?:any|no) reason|for convenience|without cause|at will|with or without cause)\b",
            r"\b(?:for (?:any|no) reason|for convenience|without cause|at any time|with or without cause)\b~~\bmay terminate\b",
            r"\bmay terminate (?:this (?:\w+ )?(?:agreement|contract) )?(?:at any time )?(?:by|upon|on|with) (?:giving )?(?:at least )?(?:\w+ )?(?:\(\d+\) )?(?:days'?|months'?|weeks'?) (?:prior |advance )?(?:written )?notice\b",
            r"\buntil terminated by either party upon\b",
        ],
        heading: &[r"\btermination (?:for convenience|without cause|by)\b|\bconvenience\b"],
        under: &[r"\bmay terminate\b"],
        not: &[r"\b(?:breach|default|insolv|bankrupt|fail(?:s|ure)? to)\b"],
        limit: 2,
    },
    Rule {
        name: "Rofr/Rofo/Rofn",
        any: &[
            r"\bright of first (?:refusal|offer|negotiation)\b",
            r"\bfirst right (?:of|to) (?:refusal|offer|negotiat|purchase|acquire|act)",
            r"\b(?:exclusive )?option to (?:negotiate|acquire|purchase|obtain|license)\b",
            r"\bright to (?:match|first negotiate)\b|\bprior right and option\b",
            r"\b(?:agrees? to|shall) first offer\b|\bfirst offer\b~\bto\b",
            r"\bexercises? (?:its|such|the) (?:option|right of first)\b",
        ],
        heading: &[r"\bfirst (?:refusal|offer|negotiation)|\boption\b"],
        under: &[r"\b(?:option|offer|refus|negotiat)"],
        not: &[
            r"\bwaive\w* (?:its|our|the) right of first\b",
            r"\bdoes not (?:prevent|prohibit)\b",
        ],
        limit: 5,
    },
    Rule {
        name: "Change Of Control",
        any: &[
            r"\bchange (?:of|in) (?:control|ownership)\b",
            r"\b(?:merger|consolidation|reorganization|de-?merger|spin-?off)\b~~\b(?:terminat|consent|assign|deemed)",
            r"\b(?:sale|transfer) of (?:all or )?(?:substantially all|a majority|a controlling)\b~~\b(?:terminat|consent|deemed an assignment|notice)",
            r"\b(?:voting (?:stock|securities|control|interests?)|controlling (?:interest|stock)|equity securities)\b~~\b(?:transfer|sold|sell|acquir|change|pass)",
            r"\bcontrol of (?:either|any|a|the other) party\b~\b(?:pass|change|transfer)",
            r"\bdeemed (?:to be )?an assignment\b",
        ],
        heading: &[r"\bchange (?:of|in) control\b"],
        under: &[r"\bcontrol\b"],
        not: &[
            r#"^["“]?change (?:of|in) control["”]? (?:shall )?means?\b"#,
            r"\bnot be (?:considered|deemed) an assignment\b",
            r"\bfor (?:the )?purposes? of (?:this|the) definition\b",
        ],
        limit: 4,
    },
    Rule {
        name: "Anti-Assignment",
        any: &[
            r"\b(?:not|neither|no)\b~\b(?:assign|assignable|transfer|transferable|delegate|sublicens)\w*~~\bwithout~\b(?:consent|approval|agreement)",
            r"\b(?:assign|transfer)\w*~~\bwithout (?:the )?(?:prior )?(?:express )?(?:written )?(?:consent|approval)",
            r"\b(?:assignment|transfer)~\b(?:in violation|in contravention|not in accordance|not permitted|without such consent)~\b(?:void|null|invalid)",
            r"\b(?:purported|attempted) (?:assignment|transfer)~\b(?:void|null)",
            r"\bpersonal to\b",
            r"\b(?:not|neither|no)\b~\b(?:assignable|be assigned)\b",
        ],
        heading: &[r"\bassign"],
        under: &[r"\b(?:assign|assigned|assignment|assignable|transfer)\b"],
        not: &[
            r"\bassignment of (?:inventions|intellectual|rights in)",
            r"\bassignment for the benefit of creditors\b",
            r"\binure\b|\bbinding upon\b",
            r"\b(?:hereby|shall|will) (?:irrevocably )?assigns?,? (?:and|transfers|\()",
            r"\bconfidential information\b",
        ],
        limit: 3,
    },
    Rule {
        name: "Revenue/Profit Sharing",
        any: &[
            r"\b(?:pay|paid|payable|remit|receive)\w*~~\broyalt(?:y|ies)\b",
            r"\broyalt(?:y|ies)\b~~\b(?:net sales|gross sales|revenues?|sales price|per unit|percent|%|turnover)",
            r"(?:percent|%)\W~\bof (?:the |its |all )?(?:\w+ ){0,2}(?:sales|revenues?|receipts|turnover|premiums|profits?|proceeds|income)\b",
            r"\b(?:share|split|sharing|participation)\b~\b(?:revenues?|profits?|proceeds|income)\b",
            r"\b(?:revenues?|profits?|fees|economic rights)\b~\b(?:shared|split|divided)\b",
            r"\b(?:commission|fee)s?\b~\b(?:equal to|of|at) (?:\w+ )?(?:\(\d+(?:\.\d+)?%?\) )?(?:percent|%)",
        ],
        heading: &[
            r"\broyalt|\brevenue|\bprofit|\bcommission|\bcompensation|\bconsideration|\bfees?\b",
        ],
        under: &[r"\b(?:pay|paid|payable)\b~\b(?:percent|%)"],
        not: &[
            r"\binterest\b~\b(?:per annum|late)",
            r"\blate (?:payment|charge)",
            r"\baudit\b",
            r"\bunderpa",
            r"\bdo not contemplate\b",
            r"\broyalty[- ]free\b",
            r"\b(?:costs|expenses) of (?:the )?(?:arbitra|mediat)",
            r"\bwithhold",
            r"\bindemnif",
        ],
        limit: 4,
    },
    Rule {
        name: "Price Restrictions",
        any: &[
            r"\b(?:not|no)\b~\b(?:increase|raise)\w*(?:\s+[\w'-]+){0,4}\s+(?:prices?|fees|rates|pricing|costs|charges)\b",
            r"\b(?:prices?|fees|rates|costs|charges|pricing)\b(?:\s+[\w'-]+){0,8}\s+(?:will|shall) not (?:increase|change|be (?:increased|changed|raised))\b",
            r"\b(?:adjust|increase|change)\w*\b~\b(?:prices?|fees|supply price)\b~\bnot more (?:often|frequently) than\b",
            r"\b(?:price|fee)s? (?:increase|adjustment)s?\b~\b(?:not (?:to )?exceed|no more than|limited to)\b",
        ],
        heading: &[],
        under: &[],
        not: &[r"\bmaterial adverse change\b"],
        limit: 2,
    },
    Rule {
        name: "Minimum Commitment",
        any: &[
            r"\bminimum (?:annual |monthly |quarterly |yearly |total )?(?:purchase|order|quantit|volume|sales|royalt|payment|commitment|purchasing|performance|guarantee|charge|enrollment|annual|monthly|yearly|quarterly)\w*",
            r"\b(?:purchase|order|buy|sell|pay|transport|tender|supply|offer|make available)\w*~\b(?:at least|a minimum of|not less than|no less than)\b~\b(?:units|\$|dollars|tons?|tonnes|gallons|pounds|pieces|percent|%|\d)",
            r"\b(?:at least|a minimum of|not less than|no less than)\b~\b(?:units|tons?|tonnes|gallons|pounds|pieces)\b~\b(?:per|each|every|annually|a) (?:year|month|quarter|calendar|contract year|annum)",
            r"\b(?:annual|yearly|monthly|quarterly) (?:purchase|sales|revenue|performance) (?:target|quota|requirement|commitment|goal|forecast)s?\b",
            r"\bcommits? (?:to (?:purchase|buy|order)|funding)\b",
            r"\b(?:fails?|failure) to (?:meet|reach|achieve)\b~\b(?:minimum|target|forecast|quota|goals?)\b",
        ],
        heading: &[r"\bminimum|\bcommitment|\bquota|\btarget"],
        under: &[r"\b(?:at least|minimum|not less than)\b"],
        not: &[
            r"\binsurance\b",
            r"\bcoverage\b",
            r"\bat a minimum\b",
            r"\bminimum (?:amount|number) of (?:\w+ )?(?:confidential|information)",
            r"\bnotice\b",
            r"\bshelf life\b",
        ],
        limit: 4,
    },
    Rule {
        name: "Volume Restriction",
        any: &[
            r"\b(?:not be (?:obligated|required)|no obligation) to (?:supply|deliver|accept|fill|purchase)\b~\b(?:in excess|exceed|more than)\b",
            r"\b(?:orders?|quantities|purchases?|usage|use)\b~\bshall not exceed (?:the )?(?:forecast|maximum|capacity)",
            r"\b(?:in excess of|exceeds?)\b~\b(?:forecast|threshold|allotted|allowed|included)\w*\b~~\b(?:additional|extra|excess) (?:fees?|charges?)\b",
        ],
        heading: &[],
        under: &[],
        not: &[r"\bliabilit", r"\bdamages\b"],
        limit: 2,
    },
    Rule {
        name: "Ip Ownership Assignment",
        any: &[
            r"\b(?:hereby|shall|will|agrees? to|does) (?:irrevocably )?(?:assigns?|transfers?|conveys?)\b~~\b(?:right,? title,? and interest|ownership|intellectual property|inventions?|copyrights?|patents?|moral rights|improvements?|work product|deliverables|trademarks?|know-how)\b",
            r"\b(?:inventions?|improvements?|modifications?|enhancements?|developments?|work product|deliverables|works? of authorship|results|materials|data|concepts)\b~~\b(?:shall|will) (?:be|become|constitute) (?:deemed )?(?:to be )?(?:the )?(?:sole (?:and exclusive )?|exclusive )?property of\b",
            r"\bworks? made[- ]for[- ]hire\b",
            r"\b(?:inventions?|improvements?|rights?)\b~\b(?:fully )?vest(?:s|ed)? in\b",
        ],
        heading: &[r"\bownership|\bintellectual property|\binventions?\b"],
        under: &[r"\bassign\w*\b"],
        not: &[
            r"\bjointly\b",
            r"\bretain",
            r"\bremain (?:the )?(?:sole )?property\b",
            r"\beach party (?:shall|will) own\b",
            r"\bits own\b",
            r"\bconfidential information\b",
            r"\bbackground\b",
            r"\bassign this agreement\b",
        ],
        limit: 4,
    },
    Rule {
        name: "Joint Ip Ownership",
        any: &[
            r"\b(?:jointly|joint(?:ly)?|co-?)[- ]?own(?:ed|ership)?\b",
            r"\bjoint (?:inventions?|intellectual property|patents?|technology|ip|know-how|works?|developments?)\b",
            r"\bowned jointly\b|\bjoint and equal\b|\bequal,? undivided\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 3,
    },
    Rule {
        name: "License Grant",
        any: &[
            r"\b(?:hereby )?grants?\b~~\b(?:licen[cs]e|right to (?:use|reproduce|distribute|sell|market|exploit|produce|manufacture|make|display|perform)|sublicense|right and license)\b",
            r"\b(?:is|are) (?:hereby )?(?:granted|licensed)\b~\b(?:licen[cs]e|right to)\b",
            r"\blicen[cs]e (?:is )?(?:hereby )?granted\b",
            r"\bhereby licenses?\b",
            r"\b(?:shall|will) have the (?:sole |exclusive |non-?exclusive |limited |perpetual |worldwide |royalty-free |,\s*)*(?:right and license|license|right) to (?:use|reproduce|distribute|exploit|sell|market|display|exhibit|manufacture|produce|copy)\b",
            r"\bis (?:hereby )?authori[sz]ed to (?:use|resell|sell|distribute|market)\b",
        ],
        heading: &[r"\blicen[cs]e|\bgrant"],
        under: &[r"\b(?:grant\w*|licen[cs]es? to|right to use|may use|authoriz\w*)\b"],
        not: &[
            r"\bno (?:right or )?licen[cs]e\b",
            r"\bnothing\b~\b(?:grant|licen[cs]e)",
            r"\bnot (?:be )?(?:deemed|construed)\b~\bgrant",
            r"^whereas\b",
            r"\bgrants? (?:a |the )?security interest\b",
        ],
        limit: 6,
    },
    Rule {
        name: "Non-Transferable License",
        any: &[
            r"\bnon-?transferable\b",
            r"\bnon-?assignable\b",
            r"\b(?:license|rights?)\b~\b(?:may not|shall not|cannot) be (?:assigned|transferred|sublicensed)\b",
            r"\bwithout the right to (?:sublicense|transfer|assign)\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Affiliate License-Licensor",
        any: &[
            r"\b(?:licensor|grantor)\b~\b(?:and|or) (?:its|their) affiliates\b~\bgrants?\b",
            r"\bon behalf of (?:itself and )?its affiliates\b~\bgrants?\b~\blicen[cs]e",
            r"\bcause its affiliates to grant\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Affiliate License-Licensee",
        any: &[
            r"\bgrants? to (?:\w+ ){1,3}(?:and|or) (?:its|their) (?:affiliates|subsidiaries)\b~\blicen[cs]e",
            r"\blicen[cs]e\b~\b(?:to|for the benefit of) (?:\w+ ){1,3}and (?:its|their) (?:affiliates|subsidiaries)\b",
            r"\b(?:affiliates|subsidiaries) (?:of (?:licensee|\w+) )?(?:shall|may) (?:be entitled to )?(?:use|exercise)\b~\b(?:licen[cs]e|rights)",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Unlimited/All-You-Can-Eat-License",
        any: &[
            r"\bunlimited (?:number of )?(?:licen[cs]es?|copies|users|use|installations|seats)\b",
            r"\benterprise[- ]wide licen[cs]e\b|\ball you can eat\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Irrevocable Or Perpetual License",
        any: &[
            r"\b(?:irrevocable|perpetual)\b~~\blicen[cs]e\b",
            r"\blicen[cs]e\b~~\b(?:irrevocable|perpetual)\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 3,
    },
    Rule {
        name: "Source Code Escrow",
        any: &[
            r"\bsource code\b~~\bescrow\b",
            r"\bescrow\b~~\bsource code\b",
            r"\bescrow agent\b~~\b(?:deposit|release)",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Post-Termination Services",
        any: &[
            r"\b(?:may|shall|will) continue to\b~~\b(?:after|following|upon) (?:the )?(?:any )?(?:such )?(?:expiration|termination|expiry)\b",
            r"\b(?:after|following|upon) (?:the )?(?:any )?(?:such )?(?:expiration|termination|expiry)\b~~\b(?:may|shall|will) continue to\b",
            r"\b(?:retain|maintain|keep)\b~~\brecords\b~~\b(?:after|following) (?:the )?(?:termination|expiration|expiry)",
            r"\b(?:wind[- ]?down|sell[- ]off|transition(?:al)? (?:period|services|assistance)|last[- ]time buy|orderly transition)\b",
            r"\b(?:remaining|existing|unsold|current) (?:inventory|stock)\b~~\b(?:termination|expiration)",
            r"\b(?:termination|expiration)\b~~\b(?:remaining|existing|unsold|current) (?:inventory|stock)\b",
            r"\b(?:upon|after|following) (?:the )?(?:any )?(?:expiration|termination)\b~~\b(?:shall|will) (?:promptly )?(?:transfer|assign|deliver)\b~\b(?:data|regulatory|filings|materials|work product|deliverables|inventory)\b",
        ],
        heading: &[
            r"\b(?:effect|consequences?) of (?:termination|expiration)|\bpost-?termination|\bwind|\btransition|\brights and obligations (?:upon|on|following) termination",
        ],
        under: &[r"\b(?:shall|will)\b"],
        not: &[r"\bsurviv"],
        limit: 4,
    },
    Rule {
        name: "Audit Rights",
        any: &[
            r"\b(?:right|entitled|permit|allow)\w*~\b(?:to )?(?:audit|inspect|examine)\w*~\b(?:books|records|accounts|facilities|premises|operations)\b",
            r"\b(?:audit|inspect|examine)\w*~\b(?:books|records|accounts|facilities|premises)\b",
            r"\b(?:books|records|information)\b~\b(?:open|available)\b~\b(?:inspection|audit|examination|review)\b",
            r"\bmake (?:such |all )?(?:books|records)\b~\bavailable\b",
            r"\b(?:audit|inspection)\b~~\b(?:underpayment|discrepanc|understatement|overpayment|underpaid|understated)",
            r"\b(?:independent|certified) (?:public )?account\w*\b~~\b(?:audit|examine|inspect|review)\b",
        ],
        heading: &[r"\b(?:audit|inspection)"],
        under: &[r"\b(?:audit|inspect|examin)\w*"],
        not: &[
            r"\b(?:governmental|regulatory) (?:authorit|agenc|bod)",
            r"\bfda\b",
        ],
        limit: 4,
    },
    Rule {
        name: "Uncapped Liability",
        any: &[
            r"\b(?:limitations?|exclusions?|cap)\b~\b(?:shall|will) not apply\b~~\b(?:breach|indemnif|confidential|infring|gross negligence|willful|wilful)",
            r"\bexcept (?:for|in the case of|with respect to)\b~~\b(?:breach|indemnif|confidential|infring|gross negligence|willful|wilful)\w*~~\b(?:in no event|neither party|not be liable|shall not exceed|limit)",
            r"\bunlimited liability\b|\bliability (?:shall|will) be unlimited\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Cap On Liability",
        any: &[
            r"\b(?:not|in no event|neither|under no circumstances|no)\b~~\b(?:liab\w*|responsible)\b~~\b(?:indirect|consequential|special|incidental|punitive|exemplary|lost profits)",
            r"\b(?:total|aggregate|maximum|entire|cumulative) (?:\w+ )?liability~~\b(?:exceed|limited to|not to exceed|shall be limited|greater of|lesser of)",
            r"\bliability~\b(?:shall|will) (?:not|in no event) exceed\b",
            r"\bshall not exceed (?:the )?(?:total )?(?:amount|fees|payments|sum)~\b(?:paid|received|payable)",
            r"\b(?:waive|disclaim|exclude)\w*~~\b(?:consequential|punitive|exemplary|special|incidental|indirect) damages\b",
            r"\b(?:claims?|actions?|suits?)\b~\b(?:must be|shall be|may be) (?:brought|commenced|filed)\b~\bwithin\b",
            r"\b(?:bring|commence)\b~\b(?:claim|action|suit)\b~~\bmore than (?:\w+ )?(?:\(\d+\) )?(?:years?|months?) after\b",
            r"\b(?:sole and exclusive|exclusive) (?:remedy|liability|remedies)\b",
            r"\b(?:liability|responsibility|remedy|remedies)\b~\b(?:shall be|is|are) limited to\b",
        ],
        heading: &[r"\blimitation|\bliabilit"],
        under: &[r"\bliab"],
        not: &[
            r"\bdelay\b|\bforce majeure\b",
            r"\binsurance\b",
            r"\bindemnif(?:y|ies)\b~\bhold\b",
            r"\bcriminally\b",
        ],
        limit: 4,
    },
    Rule {
        name: "Liquidated Damages",
        any: &[
            r"\bliquidated damages\b",
            r"\btermination (?:fee|charge|payment)\b",
            r"\b(?:early termination|cancellation) (?:fee|charge|penalty)\b",
            r"\bas a penalty\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Warranty Duration",
        any: &[
            r"\bwarranty period\b",
            r"\bwarrant(?:y|ies)\b~~\b(?:\d+|one|two|three|four|five|six|twelve|eighteen|twenty-four|thirty|sixty|ninety)\b~\b(?:days|months?|years?)\b",
            r"\bwarrants?\b~~\b(?:for a period of|during the (?:period|first))\b~\b(?:days|months?|years?)\b",
        ],
        heading: &[r"\bwarrant"],
        under: &[r"\b(?:days|months?|years?) (?:from|after|following)\b"],
        not: &[r"\brepresents and warrants\b", r"\bliabilit"],
        limit: 2,
    },
    Rule {
        name: "Insurance",
        any: &[
            r"\b(?:maintain|carry|obtain|procure|keep|provide|purchase|secure)\w*~~\binsurance\b",
            r"\binsurance\b~\b(?:coverage|policy|policies)\b~~\b(?:limits?|amount|minimum|not less than)\b",
            r"\bnamed? (?:as )?(?:an )?additional (?:named )?insured",
            r"\b(?:certificates?|evidence|proof) of (?:such )?insurance\b",
            r"\b(?:liability|property|casualty|umbrella|workers'? compensation|automobile|indemnity) insurance\b",
            r"\binsurance (?:policy|policies|coverage|carrier|company)\b",
        ],
        heading: &[r"\binsurance\b"],
        under: &[
            r"\b(?:insurance|insured|insurer|coverage|polic(?:y|ies)|certificates?|limits?|umbrella|occurrence)\b",
        ],
        not: &[
            r"\b(?:deposit accounts|fdic|insurance (?:fund|agency|center|products?|business|policyholders?))\b",
        ],
        limit: 8,
    },
    Rule {
        name: "Covenant Not To Sue",
        any: &[
            r"\b(?:not|never)\b~\b(?:contest|challenge|dispute|attack|oppose)\w*~~\b(?:validity|ownership|enforceability|title|rights?)\b",
            r"\bcovenants? not to (?:sue|bring)\b",
            r"\b(?:not|never)\b~\b(?:sue|bring (?:any )?(?:claim|action|suit))\b",
        ],
        heading: &[],
        under: &[],
        not: &[],
        limit: 2,
    },
    Rule {
        name: "Third Party Beneficiary",
        any: &[
            r"\b(?:is|are|be|shall be|as) (?:an? )?(?:express |intended )?third[- ]party beneficiar",
            r"\bthird[- ]party beneficiar\w* (?:of|to|under) (?:this|such|the|these)\b",
            r"\b(?:intended|express) beneficiar",
        ],
        heading: &[],
        under: &[],
        not: &[
            r"\bno (?:third|other)\b",
            r"\bnot\b",
            r"\bnothing\b",
            r"\bnone\b",
        ],
        limit: 2,
    },
];
