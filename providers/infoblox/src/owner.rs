//! Which claim a reservation in Infoblox belongs to, written in its `comment`.
//!
//! A host name (plus network view) is the key that finds a reservation again after a crash,
//! but two claims can resolve to the same name: claims of one name in two namespaces, on pools
//! without a `dnsZone` and with one network view. The key alone would let the second claim
//! adopt the first one's record and hand out its address twice. So every reservation this
//! operator creates carries the comment `ipam-operator: IPAddressClaim <namespace>/<name>`,
//! and a claim adopts or frees only a reservation whose comment names it, or one with no such
//! mark at all: the upstream Go provider writes no comment, and its records must be taken over
//! when this operator replaces it.
//!
//! The comment, not an extensible attribute: on NIOS an EA must be defined grid-wide before
//! any object may carry it (infoblox-wapi.md §6), and a comment needs nothing.

use ipam_kube_support::capi::IPAddressClaim;
use kube::ResourceExt;

/// What every owner mark starts with, so it is told apart from a comment a person wrote.
const PREFIX: &str = "ipam-operator: IPAddressClaim ";

/// A claim as it is named in an owner mark: `<namespace>/<name>`.
pub fn claim_id(claim: &IPAddressClaim) -> String {
    format!(
        "{}/{}",
        claim.namespace().unwrap_or_default(),
        claim.name_any()
    )
}

/// The comment that marks a reservation as `claim`'s (a [`claim_id`]).
pub fn mark(claim: &str) -> String {
    format!("{PREFIX}{claim}")
}

/// The most NIOS keeps in a `comment`.
const MAX_COMMENT_CHARS: usize = 256;

/// The comment that marks an unmarked reservation as `claim`'s, keeping what a person wrote
/// there after the mark (cut to fit NIOS's limit).
pub fn mark_over(claim: &str, old: Option<&str>) -> String {
    match old.map(str::trim).filter(|o| !o.is_empty()) {
        None => mark(claim),
        Some(old) => format!("{}; {old}", mark(claim))
            .chars()
            .take(MAX_COMMENT_CHARS)
            .collect(),
    }
}

/// The claim a reservation's comment names, if it carries an owner mark. A claim's
/// `<namespace>/<name>` holds no whitespace or `;`, so it ends at the first of them.
pub fn owner(comment: Option<&str>) -> Option<&str> {
    let rest = comment?.trim_start().strip_prefix(PREFIX)?;
    let end = rest
        .find(|c: char| c.is_whitespace() || c == ';')
        .unwrap_or(rest.len());
    Some(&rest[..end]).filter(|o| !o.is_empty())
}

/// The other claim that owns a reservation with `comment`, when that is not `claim`; `None`
/// when `claim` may adopt or free it (its own, or unmarked).
pub fn other_owner<'c>(comment: Option<&'c str>, claim: &str) -> Option<&'c str> {
    owner(comment).filter(|o| *o != claim)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mark_names_its_claim_and_only_that_claim_may_use_it() {
        let mark = mark("team-a/web");
        assert_eq!(mark, "ipam-operator: IPAddressClaim team-a/web");
        assert_eq!(owner(Some(&mark)), Some("team-a/web"));
        assert_eq!(other_owner(Some(&mark), "team-a/web"), None);
        assert_eq!(other_owner(Some(&mark), "team-b/web"), Some("team-a/web"));
    }

    #[test]
    fn marking_a_commented_record_keeps_the_comment_after_the_mark() {
        let marked = mark_over("team-a/web", Some("web server, rack 4"));
        assert_eq!(
            marked,
            "ipam-operator: IPAddressClaim team-a/web; web server, rack 4"
        );
        assert_eq!(owner(Some(&marked)), Some("team-a/web"));
        assert_eq!(mark_over("team-a/web", Some(" ")), mark("team-a/web"));
        let long = mark_over("team-a/web", Some(&"x".repeat(400)));
        assert_eq!(long.chars().count(), 256);
        assert_eq!(owner(Some(&long)), Some("team-a/web"));
    }

    #[test]
    fn a_reservation_without_a_mark_belongs_to_nobody() {
        // The upstream provider writes no comment; a person may have written any other.
        for comment in [None, Some(""), Some("web server, rack 4"), Some(PREFIX)] {
            assert_eq!(owner(comment), None, "{comment:?}");
            assert_eq!(other_owner(comment, "team-b/web"), None, "{comment:?}");
        }
    }
}
