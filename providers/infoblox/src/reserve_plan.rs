//! What a claim does with the reservations its host name finds, before it writes anything:
//! create one, adopt an address of the one found, add its own address to its Machine's
//! shared host record, or stop. Crash safety rests on the adopt case: an address a write
//! reserved for this claim before a crash is in the record, in the pool's subnets, and held
//! by no IPAddress of another claim, so the retry takes it instead of reserving
//! a second one.

use crate::owner::{Claimant, Owner};
use crate::release_plan::same_address;
use crate::wapi::Reservation;

/// A pool subnet with its gateway.
pub type Subnet = (ipnet::IpNet, Option<String>);

#[derive(Debug, PartialEq, Eq)]
pub enum Plan<'r> {
    /// Nothing found: create a reservation.
    Create,
    /// Use `address` of `record`, writing `remark` to its comment first when set.
    Adopt {
        record: &'r Reservation,
        address: Found,
        remark: Option<String>,
    },
    /// Add an address of the pool's subnets to the Machine's host record `record`, writing
    /// `remark` to its comment first when set.
    Extend {
        record: &'r Reservation,
        remark: Option<String>,
    },
    /// `record` belongs to `owner`, not to this claim or its Machine.
    Conflict {
        record: &'r Reservation,
        owner: Owner,
    },
    /// `record` is this claim's alone but holds no address in the pool's subnets.
    Elsewhere { record: &'r Reservation },
    /// More than one reservation has the name.
    Many(usize),
}

/// An address of a record, with the pool subnet it lies in and that subnet's gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub address: String,
    pub subnet: ipnet::IpNet,
    pub gateway: Option<String>,
}

/// An address an IPAddress of an InfobloxIPPool holds, and its claim (`<namespace>/<name>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub address: String,
    pub claim: String,
}

/// The plan for `claim` given the reservations named like it (`found`), the pool's
/// `subnets`, the addresses the IPAddresses of all other claims hold (`taken`), and
/// what the IPAddresses of all InfobloxIPPools hold (`holders`, needed only when a found
/// record carries no mark).
pub fn plan<'r>(
    found: &'r [Reservation],
    claim: &Claimant,
    subnets: &[Subnet],
    taken: &[String],
    holders: &[Holder],
) -> Plan<'r> {
    if let Some((record, owner)) = found
        .iter()
        .find_map(|r| claim.other_owner(r.comment.as_deref()).map(|o| (r, o)))
    {
        return Plan::Conflict { record, owner };
    }
    let record = match found {
        [] => return Plan::Create,
        [one] => one,
        many => return Plan::Many(many.len()),
    };
    // An unmarked record is taken over only when no other claim's IPAddress holds one of its
    // addresses: one that does shows the record is that claim's, allocated before records
    // were marked (or by the upstream provider), and it marks the record as its own on its
    // next pass. Its Machine's other claims do not count: their record is this claim's too.
    if Owner::of(record.comment.as_deref()).is_none()
        && let Some(holder) = holders.iter().find(|h| {
            h.claim != claim.claim
                && !claim.siblings.contains(&h.claim)
                && record.addresses.iter().any(|a| same_address(a, &h.address))
        })
    {
        return Plan::Conflict {
            record,
            owner: Owner::Claim(holder.claim.clone()),
        };
    }
    let remark = claim.remark(record.comment.as_deref());
    match in_subnets(record, subnets, taken) {
        Some(address) => Plan::Adopt {
            record,
            address,
            remark,
        },
        None if claim.shares() => Plan::Extend { record, remark },
        None => Plan::Elsewhere { record },
    }
}

/// The record's first address inside one of `subnets` that is not `taken`.
pub fn in_subnets(record: &Reservation, subnets: &[Subnet], taken: &[String]) -> Option<Found> {
    record.addresses.iter().find_map(|a| {
        let ip = a.parse::<std::net::IpAddr>().ok()?;
        if taken.iter().any(|t| same_address(a, t)) {
            return None;
        }
        subnets
            .iter()
            .find(|(net, _)| net.contains(&ip))
            .map(|(net, gw)| Found {
                address: a.to_string(),
                subnet: *net,
                gateway: gw.clone(),
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wapi::Kind;

    fn record(comment: Option<String>, addresses: &[&str]) -> Reservation {
        Reservation {
            kind: Kind::HostRecord,
            reference: "record:host/x".into(),
            addresses: addresses.iter().map(|a| a.to_string()).collect(),
            comment,
            entries: Vec::new(),
        }
    }

    fn v4() -> Vec<Subnet> {
        vec![("10.0.1.0/29".parse().unwrap(), Some("10.0.1.1".into()))]
    }

    fn v6() -> Vec<Subnet> {
        vec![("2001:db8::/120".parse().unwrap(), None)]
    }

    fn of_machine(claim: &str, siblings: &[&str]) -> Claimant {
        Claimant {
            claim: claim.into(),
            machine: Some("a/m1".into()),
            siblings: siblings.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_second_claim_of_a_machine_extends_its_record() {
        let machine = Some(Owner::Machine("a/m1".into()).mark());
        let found = [record(machine.clone(), &["10.0.1.2"])];
        let v6_claim = of_machine("a/m1-v6", &["a/m1-v4"]);
        assert_eq!(
            plan(&found, &v6_claim, &v6(), &["10.0.1.2".into()], &[]),
            Plan::Extend {
                record: &found[0],
                remark: None
            }
        );
        // After a crash between that write and the IPAddress: the address is adopted.
        let found = [record(machine, &["10.0.1.2", "2001:db8::1"])];
        let Plan::Adopt {
            address, remark, ..
        } = plan(&found, &v6_claim, &v6(), &["10.0.1.2".into()], &[])
        else {
            panic!("adopts");
        };
        assert_eq!((address.address.as_str(), remark), ("2001:db8::1", None));
    }

    #[test]
    fn an_address_another_claim_of_the_machine_holds_is_never_adopted() {
        // Two claims of one Machine on one pool: the second gets an address of its own.
        let found = [record(
            Some(Owner::Machine("a/m1".into()).mark()),
            &["10.0.1.2"],
        )];
        let nic2 = of_machine("a/m1-nic2", &["a/m1-nic1"]);
        assert!(matches!(
            plan(&found, &nic2, &v4(), &["10.0.1.2".into()], &[]),
            Plan::Extend { .. }
        ));
    }

    #[test]
    fn older_and_missing_marks_are_rewritten_to_the_machines() {
        let v6_claim = of_machine("a/m1-v6", &["a/m1-v4"]);
        for comment in [None, Some(Owner::Claim("a/m1-v4".into()).mark())] {
            let found = [record(comment.clone(), &["10.0.1.2"])];
            assert_eq!(
                plan(&found, &v6_claim, &v6(), &[], &[]),
                Plan::Extend {
                    record: &found[0],
                    remark: Some("ipam-operator: Machine a/m1".into())
                },
                "{comment:?}"
            );
        }
    }

    #[test]
    fn another_owners_record_is_a_conflict() {
        let found = [record(
            Some(Owner::Machine("b/m1".into()).mark()),
            &["10.0.1.2"],
        )];
        assert_eq!(
            plan(&found, &of_machine("a/m1-v4", &[]), &v4(), &[], &[]),
            Plan::Conflict {
                record: &found[0],
                owner: Owner::Machine("b/m1".into())
            }
        );
        let found = [record(Some(Owner::Claim("a/m1-v4".into()).mark()), &[])];
        assert!(matches!(
            plan(&found, &of_machine("a/m1-v6", &[]), &v6(), &[], &[]),
            Plan::Conflict { .. }
        ));
    }

    #[test]
    fn a_claims_own_record_is_adopted_or_reported_never_extended() {
        let alone = Claimant::alone("a/web".into());
        let found = [record(None, &["10.0.1.5"])];
        let Plan::Adopt {
            address, remark, ..
        } = plan(&found, &alone, &v4(), &[], &[])
        else {
            panic!("adopts");
        };
        assert_eq!(address.address, "10.0.1.5");
        assert_eq!(address.gateway.as_deref(), Some("10.0.1.1"));
        assert_eq!(
            remark.as_deref(),
            Some("ipam-operator: IPAddressClaim a/web")
        );
        let found = [record(
            Some(Owner::Claim("a/web".into()).mark()),
            &["10.9.9.9"],
        )];
        assert_eq!(
            plan(&found, &alone, &v4(), &[], &[]),
            Plan::Elsewhere { record: &found[0] }
        );
        assert_eq!(plan(&[], &alone, &v4(), &[], &[]), Plan::Create);
        let two = [record(None, &[]), record(None, &[])];
        assert_eq!(plan(&two, &alone, &v4(), &[], &[]), Plan::Many(2));
    }

    #[test]
    fn an_unmarked_record_another_claims_ipaddress_holds_is_not_taken_over() {
        let found = [record(None, &["10.0.1.5"])];
        let held = [Holder {
            address: "10.0.1.5".into(),
            claim: "a/web".into(),
        }];
        assert_eq!(
            plan(&found, &Claimant::alone("b/web".into()), &v4(), &[], &held),
            Plan::Conflict {
                record: &found[0],
                owner: Owner::Claim("a/web".into())
            }
        );
        // Held by the claim itself, or by another claim of its Machine: taken over.
        assert!(matches!(
            plan(&found, &Claimant::alone("a/web".into()), &v4(), &[], &held),
            Plan::Adopt { .. }
        ));
        let v6_claim = of_machine("a/m1-v6", &["a/web"]);
        assert!(matches!(
            plan(&found, &v6_claim, &v6(), &["10.0.1.5".into()], &held),
            Plan::Extend { .. }
        ));
        // A marked record is decided by its mark alone.
        let found = [record(
            Some(Owner::Claim("b/web".into()).mark()),
            &["10.0.1.5"],
        )];
        assert!(matches!(
            plan(&found, &Claimant::alone("b/web".into()), &v4(), &[], &held),
            Plan::Adopt { .. }
        ));
    }
}
