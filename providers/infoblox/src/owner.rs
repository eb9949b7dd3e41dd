//! Who a reservation in Infoblox belongs to, written in its `comment`.
//!
//! A host name (plus network view) is the key that finds a reservation again after a crash,
//! but two claims can resolve to the same name: claims of one name in two namespaces, on pools
//! without a `dnsZone` and with one network view; or Machines of one name in two namespaces
//! on pools with the same `dnsZone`. The key alone would let the second adopt the first one's
//! record and hand out its address twice. So every reservation this operator creates names
//! its owner in its comment:
//! - `ipam-operator: Machine <namespace>/<name>` on a host record whose name is a Cluster API
//!   Machine's (`<machine>.<dnsZone>`). Every claim of that Machine adds its own address to
//!   it, as the upstream provider does for dual-stack and multi-subnet Machines.
//! - `ipam-operator: IPAddressClaim <namespace>/<name>` on every other reservation: a host
//!   record named after the claim (no `dnsZone`, or a name set by hand), and every fixed
//!   address, which holds one address only.
//!
//! A claim adopts, extends or frees only a reservation whose mark names it or its Machine, or
//! one with no mark at all: the upstream Go provider writes no comment, and its records must
//! be taken over when this operator replaces it.
//!
//! The comment, not an extensible attribute: on NIOS an EA must be defined grid-wide before
//! any object may carry it (infoblox-wapi.md §6), and a comment needs nothing.

use std::fmt;

use ipam_kube_support::capi::IPAddressClaim;
use kube::ResourceExt;

/// What every owner mark starts with, so it is told apart from a comment a person wrote.
const PREFIX: &str = "ipam-operator: ";
const CLAIM: &str = "IPAddressClaim";
const MACHINE: &str = "Machine";

/// A claim as it is named in an owner mark: `<namespace>/<name>`.
pub fn claim_id(claim: &IPAddressClaim) -> String {
    format!(
        "{}/{}",
        claim.namespace().unwrap_or_default(),
        claim.name_any()
    )
}

/// The owner a mark names, each as `<namespace>/<name>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Claim(String),
    Machine(String),
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Owner::Claim(id) => write!(f, "{CLAIM} {id}"),
            Owner::Machine(id) => write!(f, "{MACHINE} {id}"),
        }
    }
}

/// The most NIOS keeps in a `comment`.
const MAX_COMMENT_CHARS: usize = 256;

impl Owner {
    /// The comment that marks a reservation as this owner's.
    pub fn mark(&self) -> String {
        format!("{PREFIX}{self}")
    }

    /// The comment that marks a reservation now commented `old` as this owner's: an earlier
    /// mark is replaced, and what a person wrote stays after the mark (cut to fit NIOS's limit).
    pub fn mark_over(&self, old: Option<&str>) -> String {
        let old = old.map(str::trim).unwrap_or_default();
        let rest = match parse(old) {
            Some((_, rest)) => rest.trim_start_matches([';', ' ']),
            None => old,
        };
        if rest.is_empty() {
            return self.mark();
        }
        format!("{}; {rest}", self.mark())
            .chars()
            .take(MAX_COMMENT_CHARS)
            .collect()
    }

    /// The owner a reservation's comment names, if it carries an owner mark.
    pub fn of(comment: Option<&str>) -> Option<Owner> {
        parse(comment?).map(|(owner, _)| owner)
    }
}

/// The owner a comment's mark names, and the rest of the comment. An id `<namespace>/<name>`
/// holds no whitespace or `;`, so it ends at the first of them.
fn parse(comment: &str) -> Option<(Owner, &str)> {
    let rest = comment.trim_start().strip_prefix(PREFIX)?;
    let (kind, rest) = rest.split_once(' ')?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(rest.len());
    let (id, rest) = rest.split_at(end);
    if id.is_empty() {
        return None;
    }
    let owner = match kind {
        CLAIM => Owner::Claim(id.to_string()),
        MACHINE => Owner::Machine(id.to_string()),
        _ => return None,
    };
    Some((owner, rest))
}

/// A claim as it acts on reservations: for itself, or for the Machine its host record is
/// named after.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Claimant {
    /// The claim, as [`claim_id`].
    pub claim: String,
    /// The Machine (`<namespace>/<name>`) whose host record the claim shares; `None` when the
    /// reservation is the claim's alone.
    pub machine: Option<String>,
    /// The Machine's other claims. Their claim marks, written before records were marked with
    /// their Machine, count as the Machine's, so a dual-stack Machine allocated then can still
    /// share its record.
    pub siblings: Vec<String>,
}

impl Claimant {
    /// A claim that shares its reservation with nobody.
    pub fn alone(claim: String) -> Self {
        Claimant {
            claim,
            ..Default::default()
        }
    }

    /// Who a reservation this claim creates belongs to.
    pub fn owner(&self) -> Owner {
        match &self.machine {
            Some(m) => Owner::Machine(m.clone()),
            None => Owner::Claim(self.claim.clone()),
        }
    }

    /// Whether the record is shared with the Machine's other claims.
    pub fn shares(&self) -> bool {
        self.machine.is_some()
    }

    /// Whether `owner` is this claim, or its Machine (or one of the Machine's claims).
    pub fn owns(&self, owner: &Owner) -> bool {
        match owner {
            Owner::Claim(c) => *c == self.claim || (self.shares() && self.siblings.contains(c)),
            Owner::Machine(m) => self.machine.as_ref() == Some(m),
        }
    }

    /// The owner of a reservation with `comment` when that is not this claim or its Machine;
    /// `None` when this claim may adopt, extend or free it (its own, or unmarked).
    pub fn other_owner(&self, comment: Option<&str>) -> Option<Owner> {
        Owner::of(comment).filter(|o| !self.owns(o))
    }

    /// The comment to write before using a reservation commented `comment` that this claim
    /// may use but whose mark is not exactly [`Claimant::owner`]: an unmarked one (taken over),
    /// or one a claim of the Machine marked (now the Machine's). `None` when it is marked so.
    pub fn remark(&self, comment: Option<&str>) -> Option<String> {
        let owner = self.owner();
        (Owner::of(comment).as_ref() != Some(&owner)).then(|| owner.mark_over(comment))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn machine_claim(claim: &str, machine: &str, siblings: &[&str]) -> Claimant {
        Claimant {
            claim: claim.into(),
            machine: Some(machine.into()),
            siblings: siblings.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn a_mark_names_its_owner_and_only_that_owner_may_use_it() {
        let mark = Owner::Claim("team-a/web".into()).mark();
        assert_eq!(mark, "ipam-operator: IPAddressClaim team-a/web");
        assert_eq!(
            Owner::of(Some(&mark)),
            Some(Owner::Claim("team-a/web".into()))
        );
        assert_eq!(
            Claimant::alone("team-a/web".into()).other_owner(Some(&mark)),
            None
        );
        assert_eq!(
            Claimant::alone("team-b/web".into()).other_owner(Some(&mark)),
            Some(Owner::Claim("team-a/web".into()))
        );
    }

    #[test]
    fn every_claim_of_a_machine_may_use_the_machines_record_and_no_other_claim() {
        let mark = Owner::Machine("team-a/m1".into()).mark();
        assert_eq!(mark, "ipam-operator: Machine team-a/m1");
        let v4 = machine_claim("team-a/m1-v4", "team-a/m1", &[]);
        let v6 = machine_claim("team-a/m1-v6", "team-a/m1", &[]);
        assert_eq!(v4.other_owner(Some(&mark)), None);
        assert_eq!(v6.other_owner(Some(&mark)), None);
        let elsewhere = machine_claim("team-b/m1-v4", "team-b/m1", &[]);
        assert_eq!(
            elsewhere.other_owner(Some(&mark)).unwrap().to_string(),
            "Machine team-a/m1"
        );
        // A claim acting alone never uses a Machine's record, even with the same name.
        assert!(
            Claimant::alone("team-a/m1".into())
                .other_owner(Some(&mark))
                .is_some()
        );
    }

    #[test]
    fn a_claim_mark_of_the_machines_other_claim_counts_as_the_machines() {
        let older = Owner::Claim("team-a/m1-v4".into()).mark();
        let v6 = machine_claim("team-a/m1-v6", "team-a/m1", &["team-a/m1-v4"]);
        assert_eq!(v6.other_owner(Some(&older)), None);
        assert_eq!(
            v6.remark(Some(&older)).as_deref(),
            Some("ipam-operator: Machine team-a/m1")
        );
        assert_eq!(
            v6.remark(Some(&Owner::Machine("team-a/m1".into()).mark())),
            None
        );
        // Only for a claim acting for the Machine.
        let alone = Claimant {
            siblings: vec!["team-a/m1-v4".into()],
            ..Claimant::alone("team-a/m1-v6".into())
        };
        assert!(alone.other_owner(Some(&older)).is_some());
    }

    #[test]
    fn marking_a_commented_record_keeps_the_comment_after_the_mark() {
        let web = Owner::Claim("team-a/web".into());
        let marked = web.mark_over(Some("web server, rack 4"));
        assert_eq!(
            marked,
            "ipam-operator: IPAddressClaim team-a/web; web server, rack 4"
        );
        assert_eq!(Owner::of(Some(&marked)), Some(web.clone()));
        assert_eq!(web.mark_over(Some(" ")), web.mark());
        let long = web.mark_over(Some(&"x".repeat(400)));
        assert_eq!(long.chars().count(), 256);
        assert_eq!(Owner::of(Some(&long)), Some(web.clone()));
        // Re-marking replaces the earlier mark and keeps the rest.
        let machine = Owner::Machine("team-a/m1".into());
        assert_eq!(
            machine.mark_over(Some(&marked)),
            "ipam-operator: Machine team-a/m1; web server, rack 4"
        );
        assert_eq!(machine.mark_over(Some(&web.mark())), machine.mark());
    }

    #[test]
    fn a_reservation_without_a_mark_belongs_to_nobody() {
        // The upstream provider writes no comment; a person may have written any other.
        for comment in [
            None,
            Some(""),
            Some("web server, rack 4"),
            Some(PREFIX),
            Some("ipam-operator: IPAddressClaim "),
            Some("ipam-operator: Lease a/b"),
        ] {
            assert_eq!(Owner::of(comment), None, "{comment:?}");
            let b = Claimant::alone("team-b/web".into());
            assert_eq!(b.other_owner(comment), None, "{comment:?}");
        }
    }
}
