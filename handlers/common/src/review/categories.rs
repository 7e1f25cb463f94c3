//! The review taxonomy: the 41 clause categories of CUAD v1 (names and descriptions from the dataset's
//! category list, (c) The Atticus Project, Inc., CC BY 4.0), each with a stable API key, the kind of
//! normalised answer it has, and the group it is reviewed with.

use serde::{Deserialize, Serialize};

/// The kind of normalised answer a category has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum AnswerKind {
    /// Whether the clause is there (no value beyond `present`).
    YesNo,
    /// The contract's name.
    Title,
    /// Party names.
    Parties,
    /// A calendar date (ISO 8601), or perpetual.
    Date,
    /// A length of time (ISO 8601 duration).
    Duration,
    /// A state, province or country.
    Jurisdiction,
}

/// Categories reviewed together: context is selected per group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Group {
    /// Name, parties, dates, term, renewal, governing law.
    Terms,
    /// Restrictions on competing, soliciting, pricing and volumes; revenue sharing.
    Competition,
    /// Termination, assignment, change of control, post-termination duties.
    Termination,
    /// Intellectual property and licences.
    Ip,
    /// Liability, damages, warranties, insurance, audits.
    Liability,
}

impl Group {
    /// Every group, in review order.
    pub const ALL: [Group; 5] = [
        Group::Terms,
        Group::Competition,
        Group::Termination,
        Group::Ip,
        Group::Liability,
    ];

    /// The categories of this group, in taxonomy order.
    pub fn categories(self) -> impl Iterator<Item = &'static Category> {
        CATEGORIES.iter().filter(move |c| c.group == self)
    }
}

/// One clause category.
#[derive(Debug, PartialEq, Eq)]
pub struct Category {
    /// Stable API key (`governing-law`).
    pub key: &'static str,
    /// CUAD's name (`Governing Law`).
    pub name: &'static str,
    /// What the category covers (CUAD's description).
    pub description: &'static str,
    /// The kind of normalised answer.
    pub answer: AnswerKind,
    /// The group it is reviewed with.
    pub group: Group,
}

impl Category {
    /// Finds a category by key or name, case-insensitively.
    #[must_use]
    pub fn find(name_or_key: &str) -> Option<&'static Category> {
        let wanted = name_or_key.trim();
        CATEGORIES
            .iter()
            .find(|c| c.key.eq_ignore_ascii_case(wanted) || c.name.eq_ignore_ascii_case(wanted))
    }

    /// Its index in [`CATEGORIES`].
    #[must_use]
    pub fn index(&self) -> usize {
        CATEGORIES
            .iter()
            .position(|c| std::ptr::eq(c, self))
            .unwrap_or_else(|| {
                CATEGORIES
                    .iter()
                    .position(|c| c.key == self.key)
                    .unwrap_or(0)
            })
    }
}

/// The 41 categories, in CUAD's order.
pub static CATEGORIES: [Category; 41] = [
    Category {
        key: "document-name",
        name: "Document Name",
        description: "The name of the contract",
        answer: AnswerKind::Title,
        group: Group::Terms,
    },
    Category {
        key: "parties",
        name: "Parties",
        description: "The two or more parties who signed the contract",
        answer: AnswerKind::Parties,
        group: Group::Terms,
    },
    Category {
        key: "agreement-date",
        name: "Agreement Date",
        description: "The date of the contract",
        answer: AnswerKind::Date,
        group: Group::Terms,
    },
    Category {
        key: "effective-date",
        name: "Effective Date",
        description: "The date when the contract is effective",
        answer: AnswerKind::Date,
        group: Group::Terms,
    },
    Category {
        key: "expiration-date",
        name: "Expiration Date",
        description: "On what date will the contract's initial term expire?",
        answer: AnswerKind::Date,
        group: Group::Terms,
    },
    Category {
        key: "renewal-term",
        name: "Renewal Term",
        description: "What is the renewal term after the initial term expires? This includes automatic extensions and unilateral extensions with prior notice.",
        answer: AnswerKind::Duration,
        group: Group::Terms,
    },
    Category {
        key: "notice-period-to-terminate-renewal",
        name: "Notice Period To Terminate Renewal",
        description: "What is the notice period required to terminate renewal?",
        answer: AnswerKind::Duration,
        group: Group::Terms,
    },
    Category {
        key: "governing-law",
        name: "Governing Law",
        description: "Which state/country's law governs the interpretation of the contract?",
        answer: AnswerKind::Jurisdiction,
        group: Group::Terms,
    },
    Category {
        key: "most-favored-nation",
        name: "Most Favored Nation",
        description: "Is there a clause that if a third party gets better terms on the licensing or sale of technology/goods/services described in the contract, the buyer of such technology/goods/services under the contract shall be entitled to those better terms?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "non-compete",
        name: "Non-Compete",
        description: "Is there a restriction on the ability of a party to compete with the counterparty or operate in a certain geography or business or technology sector?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "exclusivity",
        name: "Exclusivity",
        description: "Is there an exclusive dealing commitment with the counterparty? This includes a commitment to procure all “requirements” from one party of certain technology, goods, or services or a prohibition on licensing or selling technology, goods or services to third parties, or a prohibition on collaborating or working with other parties), whether during the contract or after the contract ends (or both).",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "no-solicit-of-customers",
        name: "No-Solicit Of Customers",
        description: "Is a party restricted from contracting or soliciting customers or partners of the counterparty, whether during the contract or after the contract ends (or both)?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "competitive-restriction-exception",
        name: "Competitive Restriction Exception",
        description: "This category includes the exceptions or carveouts to Non-Compete, Exclusivity and No-Solicit of Customers above.",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "no-solicit-of-employees",
        name: "No-Solicit Of Employees",
        description: "Is there a restriction on a party’s soliciting or hiring employees and/or contractors from the counterparty, whether during the contract or after the contract ends (or both)?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "non-disparagement",
        name: "Non-Disparagement",
        description: "Is there a requirement on a party not to disparage the counterparty?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "termination-for-convenience",
        name: "Termination For Convenience",
        description: "Can a party terminate this contract without cause (solely by giving a notice and allowing a waiting period to expire)?",
        answer: AnswerKind::YesNo,
        group: Group::Termination,
    },
    Category {
        key: "rofr-rofo-rofn",
        name: "Rofr/Rofo/Rofn",
        description: "Is there a clause granting one party a right of first refusal, right of first offer or right of first negotiation to purchase, license, market, or distribute equity interest, technology, assets, products or services?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "change-of-control",
        name: "Change Of Control",
        description: "Does one party have the right to terminate or is consent or notice required of the counterparty if such party undergoes a change of control, such as a merger, stock sale, transfer of all or substantially all of its assets or business, or assignment by operation of law?",
        answer: AnswerKind::YesNo,
        group: Group::Termination,
    },
    Category {
        key: "anti-assignment",
        name: "Anti-Assignment",
        description: "Is consent or notice required of a party if the contract is assigned to a third party?",
        answer: AnswerKind::YesNo,
        group: Group::Termination,
    },
    Category {
        key: "revenue-profit-sharing",
        name: "Revenue/Profit Sharing",
        description: "Is one party required to share revenue or profit with the counterparty for any technology, goods, or services?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "price-restrictions",
        name: "Price Restrictions",
        description: "Is there a restriction on the ability of a party to raise or reduce prices of technology, goods, or services provided?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "minimum-commitment",
        name: "Minimum Commitment",
        description: "Is there a minimum order size or minimum amount or units per-time period that one party must buy from the counterparty under the contract?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "volume-restriction",
        name: "Volume Restriction",
        description: "Is there a fee increase or consent requirement, etc. if one party’s use of the product/services exceeds certain threshold?",
        answer: AnswerKind::YesNo,
        group: Group::Competition,
    },
    Category {
        key: "ip-ownership-assignment",
        name: "Ip Ownership Assignment",
        description: "Does intellectual property created by one party become the property of the counterparty, either per the terms of the contract or upon the occurrence of certain events?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "joint-ip-ownership",
        name: "Joint Ip Ownership",
        description: "Is there any clause providing for joint or shared ownership of intellectual property between the parties to the contract?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "license-grant",
        name: "License Grant",
        description: "Does the contract contain a license granted by one party to its counterparty?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "non-transferable-license",
        name: "Non-Transferable License",
        description: "Does the contract limit the ability of a party to transfer the license being granted to a third party?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "affiliate-license-licensor",
        name: "Affiliate License-Licensor",
        description: "Does the contract contain a license grant by affiliates of the licensor or that includes intellectual property of affiliates of the licensor?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "affiliate-license-licensee",
        name: "Affiliate License-Licensee",
        description: "Does the contract contain a license grant to a licensee (incl. sublicensor) and the affiliates of such licensee/sublicensor?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "unlimited-all-you-can-eat-license",
        name: "Unlimited/All-You-Can-Eat-License",
        description: "Is there a clause granting one party an “enterprise,” “all you can eat” or unlimited usage license?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "irrevocable-or-perpetual-license",
        name: "Irrevocable Or Perpetual License",
        description: "Does the contract contain a license grant that is irrevocable or perpetual?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "source-code-escrow",
        name: "Source Code Escrow",
        description: "Is one party required to deposit its source code into escrow with a third party, which can be released to the counterparty upon the occurrence of certain events (bankruptcy, insolvency, etc.)?",
        answer: AnswerKind::YesNo,
        group: Group::Ip,
    },
    Category {
        key: "post-termination-services",
        name: "Post-Termination Services",
        description: "Is a party subject to obligations after the termination or expiration of a contract, including any post-termination transition, payment, transfer of IP, wind-down, last-buy, or similar commitments?",
        answer: AnswerKind::YesNo,
        group: Group::Termination,
    },
    Category {
        key: "audit-rights",
        name: "Audit Rights",
        description: "Does a party have the right to audit the books, records, or physical locations of the counterparty to ensure compliance with the contract?",
        answer: AnswerKind::YesNo,
        group: Group::Liability,
    },
    Category {
        key: "uncapped-liability",
        name: "Uncapped Liability",
        description: "Is a party’s liability uncapped upon the breach of its obligation in the contract? This also includes uncap liability for a particular type of breach such as IP infringement or breach of confidentiality obligation.",
        answer: AnswerKind::YesNo,
        group: Group::Liability,
    },
    Category {
        key: "cap-on-liability",
        name: "Cap On Liability",
        description: "Does the contract include a cap on liability upon the breach of a party’s obligation? This includes time limitation for the counterparty to bring claims or maximum amount for recovery.",
        answer: AnswerKind::YesNo,
        group: Group::Liability,
    },
    Category {
        key: "liquidated-damages",
        name: "Liquidated Damages",
        description: "Does the contract contain a clause that would award either party liquidated damages for breach or a fee upon the termination of a contract (termination fee)?",
        answer: AnswerKind::YesNo,
        group: Group::Liability,
    },
    Category {
        key: "warranty-duration",
        name: "Warranty Duration",
        description: "What is the duration of any warranty against defects or errors in technology, products, or services provided under the contract?",
        answer: AnswerKind::Duration,
        group: Group::Liability,
    },
    Category {
        key: "insurance",
        name: "Insurance",
        description: "Is there a requirement for insurance that must be maintained by one party for the benefit of the counterparty?",
        answer: AnswerKind::YesNo,
        group: Group::Liability,
    },
    Category {
        key: "covenant-not-to-sue",
        name: "Covenant Not To Sue",
        description: "Is a party restricted from contesting the validity of the counterparty’s ownership of intellectual property or otherwise bringing a claim against the counterparty for matters unrelated to the contract?",
        answer: AnswerKind::YesNo,
        group: Group::Termination,
    },
    Category {
        key: "third-party-beneficiary",
        name: "Third Party Beneficiary",
        description: "Is there a non-contracting party who is a beneficiary to some or all of the clauses in the contract and therefore can enforce its rights against a contracting party?",
        answer: AnswerKind::YesNo,
        group: Group::Termination,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_names_are_unique_and_found() {
        for (i, c) in CATEGORIES.iter().enumerate() {
            assert_eq!(Category::find(c.key).map(Category::index), Some(i));
            assert_eq!(
                Category::find(&c.name.to_uppercase()).map(Category::index),
                Some(i)
            );
            assert!(
                c.key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            );
        }
        let groups: usize = Group::ALL.iter().map(|g| g.categories().count()).sum();
        assert_eq!(groups, CATEGORIES.len());
        assert!(Category::find("no such thing").is_none());
    }
}
