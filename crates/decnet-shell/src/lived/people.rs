//! The organisation's people: colleagues who log in, write mail and own
//! documents. Drawn from the persona's domain, not from the decky, so
//! every decky of one organisation knows the same people and their mail
//! threads name each other.

use decnet_core::DeckySeed;
use rand::seq::SliceRandom;

const FIRST: &[&str] = &[
    "James", "Maria", "Robert", "Linda", "Michael", "Sarah", "David", "Karen", "Thomas", "Anna",
    "Daniel", "Laura", "Peter", "Julia", "Mark", "Nina",
];
const LAST: &[&str] = &[
    "Smith", "Johnson", "Brown", "Garcia", "Miller", "Davis", "Wilson", "Moore", "Taylor",
    "Anderson", "Clark", "Lewis", "Walker", "Young", "Hall", "Wright",
];
/// Departments and what their people are called in signatures.
const ROLES: &[(&str, &str)] = &[
    ("it", "Systems Administrator"),
    ("it", "Network Engineer"),
    ("dev", "Software Developer"),
    ("finance", "Accountant"),
    ("hr", "HR Manager"),
    ("ops", "Operations Lead"),
    ("it", "IT Manager"),
    ("sales", "Account Manager"),
];

/// One colleague.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Person {
    /// Given name.
    pub first: &'static str,
    /// Family name.
    pub last: &'static str,
    /// Department slug (`it`, `finance`…).
    pub dept: &'static str,
    /// Job title for signatures.
    pub title: &'static str,
}

impl Person {
    /// Mail local part (`j.smith`).
    pub fn local(&self) -> String {
        format!(
            "{}.{}",
            self.first
                .chars()
                .next()
                .unwrap_or('x')
                .to_ascii_lowercase(),
            self.last.to_ascii_lowercase()
        )
    }

    /// `Name <address>` as a From: header shows it.
    pub fn address(&self, domain: &str) -> String {
        format!("{} {} <{}@{domain}>", self.first, self.last, self.local())
    }
}

/// The people of the organisation behind `domain` (always `ROLES.len()`).
pub fn colleagues(domain: &str) -> Vec<Person> {
    let mut rng = DeckySeed::new(domain, 0).rng("people");
    let mut first = FIRST.to_vec();
    let mut last = LAST.to_vec();
    first.shuffle(&mut rng);
    last.shuffle(&mut rng);
    ROLES
        .iter()
        .zip(first.iter().zip(last.iter()))
        .map(|(&(dept, title), (&first, &last))| Person {
            first,
            last,
            dept,
            title,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_domain_has_one_staff_and_names_are_unique() {
        let a = colleagues("corp.local");
        assert_eq!(a, colleagues("corp.local"));
        assert_ne!(a, colleagues("office.lan"));
        let mut locals: Vec<String> = a.iter().map(Person::local).collect();
        locals.sort();
        locals.dedup();
        assert_eq!(locals.len(), a.len());
        assert!(a[0].address("corp.local").ends_with("@corp.local>"));
    }
}
