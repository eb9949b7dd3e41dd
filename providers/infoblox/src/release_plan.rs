//! Which addresses of a reservation found by host name a claim's release may free. A name can
//! be shared (see [`crate::owner`]), so a release frees only what is provably the claim's:
//! - a reservation another claim's mark names: nothing;
//! - one marked as this claim's: its own address and any in the pool's subnets;
//! - an unmarked one (left by the upstream provider or an earlier version of this operator,
//!   never taken over since, as taking over marks it): only the address of the claim's
//!   IPAddress, which proves the claim was given it.

use std::net::IpAddr;

use crate::owner;
use crate::wapi::Reservation;

/// Whether two spellings name one address (IPv6 has many).
pub fn same_address(a: &str, b: &str) -> bool {
    match (a.parse::<IpAddr>(), b.parse::<IpAddr>()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The addresses `record` keeps when `claim` ([`owner::claim_id`]) is released; `None` when
/// the release leaves it untouched. `own` is the claim's IPAddress's address, when known;
/// `subnets` the pool's, empty when the pool is gone.
pub fn keep<'r>(
    record: &'r Reservation,
    claim: &str,
    own: Option<&str>,
    subnets: &[ipnet::IpNet],
) -> Option<Vec<&'r str>> {
    let ours = match owner::owner(record.comment.as_deref()) {
        Some(o) if o == claim => true,
        Some(_) => return None,
        None => false,
    };
    if ours && record.addresses.is_empty() {
        return Some(Vec::new());
    }
    let freed = |a: &str| {
        own.is_some_and(|o| same_address(a, o))
            || (ours
                && a.parse::<IpAddr>()
                    .is_ok_and(|ip| subnets.iter().any(|n| n.contains(&ip))))
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

    #[test]
    fn addresses_compare_by_value() {
        assert!(same_address("2001:db8::1", "2001:0db8:0:0::1"));
        assert!(same_address("10.0.1.2", "10.0.1.2"));
        assert!(!same_address("10.0.1.2", "10.0.1.20"));
    }

    #[test]
    fn only_what_is_provably_the_claims_is_freed() {
        let subnets = ["10.0.1.0/29".parse().unwrap()];
        let mine = owner::mark("a/web");
        let theirs = owner::mark("b/web");
        let both = ["10.0.1.2", "2001:db8::5"];
        // Ours: the pool's subnets and our own address go, others stay.
        let r = record(Some(&mine), &both);
        assert_eq!(keep(&r, "a/web", None, &subnets), Some(vec!["2001:db8::5"]));
        let r = record(Some(&mine), &["10.0.9.9"]);
        assert_eq!(keep(&r, "a/web", Some("10.0.9.9"), &subnets), Some(vec![]));
        assert_eq!(
            keep(&record(Some(&mine), &[]), "a/web", None, &[]),
            Some(vec![])
        );
        // Another claim's: untouched, even holding our address.
        let r = record(Some(&theirs), &both);
        assert_eq!(keep(&r, "a/web", Some("10.0.1.2"), &subnets), None);
        // Unmarked: only the address our IPAddress proves.
        let r = record(None, &both);
        assert_eq!(keep(&r, "a/web", None, &subnets), None);
        assert_eq!(
            keep(&r, "a/web", Some("10.0.1.2"), &subnets),
            Some(vec!["2001:db8::5"])
        );
        assert_eq!(keep(&r, "a/web", Some("10.0.1.3"), &subnets), None);
    }
}
