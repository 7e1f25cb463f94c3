//! Risk flags for the offline provider: a level and a one-line reason in our own words, never the
//! contract's. Only categories that were found are flagged, and only those that carry risk.
//!
//! | category (found) | level | reason |
//! |---|---|---|
//! | Uncapped Liability | high | Liability is not capped for some breaches. |
//! | Non-Compete | high | A party is restricted from competing. |
//! | Liquidated Damages | high | Fixed damages or a termination fee are payable. |
//! | Ip Ownership Assignment | high | Intellectual property created under the contract passes to the other party. |
//! | Exclusivity | medium | Exclusive dealing limits who else the parties may deal with. |
//! | No-Solicit Of Customers | medium | A party may not solicit the other's customers. |
//! | No-Solicit Of Employees | medium | A party may not solicit or hire the other's staff. |
//! | Most Favored Nation | medium | Better terms given to others must be extended. |
//! | Termination For Convenience | medium | The contract can be ended without cause on notice. |
//! | Change Of Control | medium | A change of control gives rights or needs consent. |
//! | Anti-Assignment | medium | Assignment needs consent or notice. |
//! | Price Restrictions | medium | Prices cannot be changed freely. |
//! | Minimum Commitment | medium | A minimum purchase or payment is committed. |
//! | Volume Restriction | medium | Use beyond a threshold costs more or needs consent. |
//! | Joint Ip Ownership | medium | Intellectual property is jointly owned. |
//! | Irrevocable Or Perpetual License | medium | A license cannot be revoked or never ends. |
//! | Covenant Not To Sue | medium | A party gives up the right to challenge or sue. |
//! | Third Party Beneficiary | medium | Someone outside the contract can enforce it. |
//! | Rofr/Rofo/Rofn | medium | A party has a first right to buy, license or negotiate. |
//! | Renewal Term | medium if automatic, else low | The contract renews automatically / can be renewed. |
//! | Notice Period To Terminate Renewal | medium if 90 days or more, else low | Notice to stop renewal is long / short. |
//! | Cap On Liability | low | Liability is limited. |
//! | Non-Disparagement | low | The parties may not disparage each other. |
//! | Revenue/Profit Sharing | low | Revenue, royalties or profit are shared. |
//! | Post-Termination Services | low | Obligations continue after the contract ends. |
//! | Audit Rights | low | Books or premises may be audited. |
//! | Insurance | low | Insurance must be maintained. |
//! | Non-Transferable License | low | A license cannot be transferred. |
//! | Source Code Escrow | low | Source code is held in escrow. |
//!
//! The other categories (name, parties, dates, governing law, license grants, warranty duration)
//! carry no flag of their own.

use super::super::categories::Category;
use super::super::model::{Risk, RiskLevel};
use super::super::normalize::{Duration, raw_answer_span};
use super::{Doc, Found};

/// Notice periods at least this long (days) to stop a renewal are flagged medium.
const LONG_NOTICE_DAYS: u32 = 90;

/// The fixed part of the table: `(category, level, reason)`.
const TABLE: &[(&str, RiskLevel, &str)] = &[
    (
        "Uncapped Liability",
        RiskLevel::High,
        "Liability is not capped for some breaches.",
    ),
    (
        "Non-Compete",
        RiskLevel::High,
        "A party is restricted from competing.",
    ),
    (
        "Liquidated Damages",
        RiskLevel::High,
        "Fixed damages or a termination fee are payable.",
    ),
    (
        "Ip Ownership Assignment",
        RiskLevel::High,
        "Intellectual property created under the contract passes to the other party.",
    ),
    (
        "Exclusivity",
        RiskLevel::Medium,
        "Exclusive dealing limits who else the parties may deal with.",
    ),
    (
        "No-Solicit Of Customers",
        RiskLevel::Medium,
        "A party may not solicit the other's customers.",
    ),
    (
        "No-Solicit Of Employees",
        RiskLevel::Medium,
        "A party may not solicit or hire the other's staff.",
    ),
    (
        "Most Favored Nation",
        RiskLevel::Medium,
        "Better terms given to others must be extended.",
    ),
    (
        "Termination For Convenience",
        RiskLevel::Medium,
        "The contract can be ended without cause on notice.",
    ),
    (
        "Change Of Control",
        RiskLevel::Medium,
        "A change of control gives rights or needs consent.",
    ),
    (
        "Anti-Assignment",
        RiskLevel::Medium,
        "Assignment needs consent or notice.",
    ),
    (
        "Price Restrictions",
        RiskLevel::Medium,
        "Prices cannot be changed freely.",
    ),
    (
        "Minimum Commitment",
        RiskLevel::Medium,
        "A minimum purchase or payment is committed.",
    ),
    (
        "Volume Restriction",
        RiskLevel::Medium,
        "Use beyond a threshold costs more or needs consent.",
    ),
    (
        "Joint Ip Ownership",
        RiskLevel::Medium,
        "Intellectual property is jointly owned.",
    ),
    (
        "Irrevocable Or Perpetual License",
        RiskLevel::Medium,
        "A license cannot be revoked or never ends.",
    ),
    (
        "Covenant Not To Sue",
        RiskLevel::Medium,
        "A party gives up the right to challenge or sue.",
    ),
    (
        "Third Party Beneficiary",
        RiskLevel::Medium,
        "Someone outside the contract can enforce it.",
    ),
    (
        "Rofr/Rofo/Rofn",
        RiskLevel::Medium,
        "A party has a first right to buy, license or negotiate.",
    ),
    ("Cap On Liability", RiskLevel::Low, "Liability is limited."),
    (
        "Non-Disparagement",
        RiskLevel::Low,
        "The parties may not disparage each other.",
    ),
    (
        "Revenue/Profit Sharing",
        RiskLevel::Low,
        "Revenue, royalties or profit are shared.",
    ),
    (
        "Post-Termination Services",
        RiskLevel::Low,
        "Obligations continue after the contract ends.",
    ),
    (
        "Audit Rights",
        RiskLevel::Low,
        "Books or premises may be audited.",
    ),
    ("Insurance", RiskLevel::Low, "Insurance must be maintained."),
    (
        "Non-Transferable License",
        RiskLevel::Low,
        "A license cannot be transferred.",
    ),
    (
        "Source Code Escrow",
        RiskLevel::Low,
        "Source code is held in escrow.",
    ),
];

fn risk(level: RiskLevel, reason: &str) -> Option<Risk> {
    Some(Risk {
        level,
        reason: reason.to_owned(),
    })
}

/// The risk flag for `category`, when it was found and carries one.
pub(crate) fn risk_for(
    category: &Category,
    present: bool,
    found: &Found,
    d: &Doc<'_>,
) -> Option<Risk> {
    if !present {
        return None;
    }
    let quotes = || found.spans.iter().map(|s| &d.lower[s.start..s.end]);
    match category.name {
        "Renewal Term" => {
            if quotes().any(|q| q.contains("automatic") || q.contains("unless")) {
                risk(RiskLevel::Medium, "The contract renews automatically.")
            } else {
                risk(RiskLevel::Low, "The contract can be renewed.")
            }
        }
        "Notice Period To Terminate Renewal" => {
            let days = found.spans.iter().find_map(|s| {
                let q = &d.text[s.start..s.end];
                let r = raw_answer_span(category, q)?;
                notice_days(&q[r])
            });
            match days {
                Some(n) if n >= LONG_NOTICE_DAYS => risk(
                    RiskLevel::Medium,
                    "Notice to stop the renewal must be given well in advance.",
                ),
                _ => risk(RiskLevel::Low, "Notice is needed to stop the renewal."),
            }
        }
        name => TABLE
            .iter()
            .find(|(n, _, _)| *n == name)
            .and_then(|&(_, level, reason)| risk(level, reason)),
    }
}

/// The length of a written notice period in days (about), via the normaliser.
fn notice_days(raw: &str) -> Option<u32> {
    let category = Category::find("Notice Period To Terminate Renewal")?;
    match super::super::normalize::answer(category, Some(raw), &[], "")? {
        super::super::model::Answer::Duration { duration, .. } => {
            Duration::parse_iso(&duration).map(Duration::approx_days)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::review::CATEGORIES;

    #[test]
    fn every_table_row_names_a_category_and_reasons_are_short() {
        for (name, _, reason) in TABLE {
            assert!(Category::find(name).is_some(), "{name}");
            assert!(reason.len() < 100 && reason.ends_with('.'), "{reason}");
        }
        // Every category is either in the table, special-cased, or deliberately unflagged.
        let unflagged = [
            "Document Name",
            "Parties",
            "Agreement Date",
            "Effective Date",
            "Expiration Date",
            "Governing Law",
            "License Grant",
            "Affiliate License-Licensor",
            "Affiliate License-Licensee",
            "Unlimited/All-You-Can-Eat-License",
            "Warranty Duration",
            "Competitive Restriction Exception",
            "Renewal Term",
            "Notice Period To Terminate Renewal",
        ];
        for c in CATEGORIES.iter() {
            assert!(
                TABLE.iter().any(|(n, _, _)| *n == c.name) || unflagged.contains(&c.name),
                "{}",
                c.name
            );
        }
    }

    #[test]
    fn notice_lengths() {
        assert_eq!(notice_days("ninety (90) days"), Some(90));
        assert_eq!(notice_days("six months"), Some(180));
        assert_eq!(notice_days("whenever"), None);
    }
}
