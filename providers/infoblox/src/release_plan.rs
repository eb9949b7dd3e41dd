//! Which addresses of a reservation found by host name a claim's release may free. A name can
//! be shared (see [`crate::owner`]), so a release frees only what is provably the claim's:
//! - a reservation another owner's mark names: nothing;
//! - one marked as this claim's or its Machine's: the claim's own address when its IPAddress
//!   tells it; without one, any in the pool's subnets that no other claim's IPAddress holds
//!   (an address left by a crash before the claim's IPAddress was written is the claim's);
//! - an unmarked one (left by the upstream provider or an earlier version of this operator,
//!   never taken over since, as taking over marks it): only the address of the claim's
//!   IPAddress, which proves the claim was given it.
//!
//! A host record that keeps no address is deleted.

use std::net::IpAddr;

use crate::owner::{Claimant, Owner};
use crate::wapi::Reservation;

/// What an attempt to free a claim's reservation in Infoblox came to, through its pool or
/// (the pool gone) through the location the claim records.
#[derive(Debug, PartialEq)]
pub enum Freed {
    /// Infoblox confirmed, or held nothing of the claim's.
    Done,
    /// Nothing could be freed, and no retry would change that (the instance is gone, or
    /// which address is the claim's is unknown): what may remain, for a Warning event. The
    /// claim's teardown goes on.
    Skipped(String),
    /// Infoblox could not confirm: keep the claim and retry; why, in words.
    Failed(String),
}

/// Whether two spellings name one address (IPv6 has many).
pub fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The addresses `record` keeps when `claim` is released; `None` when the release leaves it
/// untouched. `own` is the claim's IPAddress's address, when known; `subnets` the pool's,
/// empty when the pool is gone; `taken` the addresses the IPAddresses of all other claims hold
/// ([`crate::holders::taken`]).
pub fn keep<'r>(
    record: &'r Reservation,
    claim: &Claimant,
    own: Option<&str>,
    subnets: &[ipnet::IpNet],
    taken: &[String],
) -> Option<Vec<&'r str>> {
    let ours = match Owner::of(record.comment.as_deref()) {
        Some(o) if claim.owns(&o) => true,
        Some(_) => return None,
        None => false,
    };
    if ours && record.addresses.is_empty() {
        return Some(Vec::new());
    }
    // A known address is all the claim ever had: any other one of the record is another
    // claim's, or left by someone this release cannot tell.
    let freed = |a: &str| match own {
        Some(o) => same_address(a, o),
        None => {
            ours && !taken.iter().any(|t| same_address(a, t))
                && a.parse::<IpAddr>()
                    .is_ok_and(|ip| subnets.iter().any(|n| n.contains(&ip)))
        }
    };
    let keep: Vec<&str> = record
        .addresses
        .iter()
        .map(String::as_str)
        .filter(|a| !freed(a))
        .collect();
    (keep.len() < record.addresses.len()).then_some(keep)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wapi::Kind;

    fn record(comment: Option<&str>, addresses: &[&str]) -> Reservation {
        Reservation {
            kind: Kind::HostRecord,
            reference: "record:host/x".into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            comment: comment.map(String::from),
            entries: Vec::new(),
        }
    }

    fn alone(claim: &str) -> Claimant {
        Claimant::alone(claim.into())
    }

    #[test]
    fn addresses_compare_by_value() {
        assert!(same_address("2001:db8::1", "2001:0db8:0:0::1"));
        assert!(same_address("10.0.1.2", "10.0.1.2"));
        assert!(!same_address("10.0.1.2", "10.0.1.20"));
    }

    #[test]
    fn only_what_is_provably_the_claims_is_freed() {
        let subnets = ["10.0.1.0/29".parse().unwrap()];
        let mine = Owner::Claim("a/web".into()).mark();
        let theirs = Owner::Claim("b/web".into()).mark();
        let both = ["10.0.1.2", "2001:db8::5"];
        let a = alone("a/web");
        // Ours: the pool's subnets and our own address go, others stay.
        let r = record(Some(&mine), &both);
        assert_eq!(keep(&r, &a, None, &subnets, &[]), Some(vec!["2001:db8::5"]));
        let r = record(Some(&mine), &["10.0.9.9"]);
        assert_eq!(keep(&r, &a, Some("10.0.9.9"), &subnets, &[]), Some(vec![]));
        assert_eq!(
            keep(&record(Some(&mine), &[]), &a, None, &[], &[]),
            Some(vec![])
        );
        // Another claim's: untouched, even holding our address.
        let r = record(Some(&theirs), &both);
        assert_eq!(keep(&r, &a, Some("10.0.1.2"), &subnets, &[]), None);
        // Unmarked: only the address our IPAddress proves.
        let r = record(None, &both);
        assert_eq!(keep(&r, &a, None, &subnets, &[]), None);
        assert_eq!(
            keep(&r, &a, Some("10.0.1.2"), &subnets, &[]),
            Some(vec!["2001:db8::5"])
        );
        assert_eq!(keep(&r, &a, Some("10.0.1.3"), &subnets, &[]), None);
    }

    #[test]
    fn a_machines_claim_frees_its_own_address_and_leaves_the_others() {
        let v4_subnet: [ipnet::IpNet; 1] = ["10.0.1.0/29".parse().unwrap()];
        let v6_subnet: [ipnet::IpNet; 1] = ["2001:db8::/120".parse().unwrap()];
        let machine = Owner::Machine("a/m1".into()).mark();
        let v4 = Claimant {
            claim: "a/m1-v4".into(),
            machine: Some("a/m1".into()),
            siblings: vec!["a/m1-v6".into()],
        };
        let v6 = Claimant {
            claim: "a/m1-v6".into(),
            ..v4.clone()
        };
        let r = record(Some(&machine), &["10.0.1.2", "2001:db8::2"]);
        assert_eq!(
            keep(
                &r,
                &v6,
                Some("2001:db8::2"),
                &v6_subnet,
                &["10.0.1.2".into()]
            ),
            Some(vec!["10.0.1.2"])
        );
        // The last address goes with the record.
        let r = record(Some(&machine), &["10.0.1.2"]);
        assert_eq!(
            keep(&r, &v4, Some("10.0.1.2"), &v4_subnet, &[]),
            Some(vec![])
        );
        // Without its IPAddress (a crash before it was written), the claim's address is the
        // one in its pool's subnets that no other claim of the Machine holds.
        let r = record(Some(&machine), &["10.0.1.2", "10.0.1.3", "2001:db8::2"]);
        assert_eq!(
            keep(
                &r,
                &v4,
                None,
                &v4_subnet,
                &["10.0.1.2".into(), "2001:db8::2".into()]
            ),
            Some(vec!["10.0.1.2", "2001:db8::2"])
        );
        // With its IPAddress, only that address goes: another one of the pool's subnets may be
        // another claim's (its IPAddress in `taken`) or none this release can prove its own.
        assert_eq!(
            keep(&r, &v4, Some("10.0.1.3"), &v4_subnet, &[]),
            Some(vec!["10.0.1.2", "2001:db8::2"])
        );
        // Another Machine of the same name elsewhere: untouched.
        let other = Claimant {
            claim: "b/m1-v4".into(),
            machine: Some("b/m1".into()),
            siblings: vec![],
        };
        assert_eq!(keep(&r, &other, Some("10.0.1.2"), &v4_subnet, &[]), None);
    }
}
