//! Whether a claim shares its Machine's host record (see [`crate::owner`]): decided once,
//! with the host name and before any WAPI write, and recorded on the claim, so release acts
//! the same way once the Machine is gone.
//!
//! A claim shares when its host name is its Machine's: `<machine>.<dnsZone>`. A name from
//! the claim (no `dnsZone`), or set by hand to anything else, stays the claim's alone. Fixed
//! addresses are never shared, whatever is recorded: one holds a single address.

use ipam_kube_support::capi::IPAddressClaim;
use kube::{Api, Client, ResourceExt};

use crate::hostname::HOSTNAME_ANNOTATION;
use crate::owner::{self, Claimant};
use crate::wapi::Kind;

/// `Machine/<name>` (the claim shares that Machine's record) or `IPAddressClaim/<name>`
/// (its own), both in the claim's namespace.
pub const OWNER_ANNOTATION: &str = "ipam-operator.io/infoblox-owner";

const MACHINE: &str = "Machine/";
const CLAIM: &str = "IPAddressClaim/";

/// What to record for a claim whose host name is `host`, whose pool's zone is `zone`, and
/// whose Machine (through owner references) is `machine`.
pub fn decide(
    claim: &IPAddressClaim,
    host: &str,
    zone: Option<&str>,
    machine: Option<&str>,
) -> String {
    let machines_name = zone.zip(machine).is_some_and(|(z, m)| {
        host.eq_ignore_ascii_case(&format!("{m}.{}", z.trim_end_matches('.')))
    });
    match machine.filter(|_| machines_name) {
        Some(m) => format!("{MACHINE}{m}"),
        None => format!("{CLAIM}{}", claim.name_any()),
    }
}

/// Whether a claim's reservation of `kind` on a pool with `zone` is named after its Machine
/// (`<machine>.<zone>`). Not a fixed address's: one holds a single address and is never
/// shared, so the Machine's second claim would find the first one's under that name and wait
/// on it for good. Named `<claim>.<zone>` instead, each claim has its own. (The CRD refuses
/// `dnsZone` on a FixedAddress pool; this covers pools stored without that rule.)
pub fn names_after_machine(zone: Option<&str>, kind: Kind) -> bool {
    zone.is_some() && kind == Kind::HostRecord
}

/// The value recorded on `claim`, if any.
pub fn recorded(claim: &IPAddressClaim) -> Option<&str> {
    claim
        .annotations()
        .get(OWNER_ANNOTATION)
        .map(String::as_str)
        .filter(|v| v.starts_with(MACHINE) || v.starts_with(CLAIM))
}

/// The Machine (`<namespace>/<name>`) whose host record `claim` shares for a reservation
/// of `kind`; `None` when it is the claim's alone, or nothing is recorded (claims allocated
/// before this was recorded, whose records carry their claim's mark).
pub fn machine(claim: &IPAddressClaim, kind: Kind) -> Option<String> {
    let name = recorded(claim)?.strip_prefix(MACHINE)?;
    (kind == Kind::HostRecord).then(|| format!("{}/{name}", claim.namespace().unwrap_or_default()))
}

/// `claim` as it acts for a reservation of `kind`; `claims` are those of its namespace,
/// among which its Machine's other claims (the same recorded Machine and host name) are found.
pub fn claimant(claim: &IPAddressClaim, kind: Kind, claims: &[IPAddressClaim]) -> Claimant {
    let machine = machine(claim, kind);
    let siblings = match &machine {
        None => Vec::new(),
        Some(_) => claims
            .iter()
            .filter(|c| c.name_any() != claim.name_any())
            .filter(|c| recorded(c).is_some() && recorded(c) == recorded(claim))
            .filter(|c| {
                c.annotations().get(HOSTNAME_ANNOTATION)
                    == claim.annotations().get(HOSTNAME_ANNOTATION)
            })
            .map(owner::claim_id)
            .collect(),
    };
    Claimant {
        claim: owner::claim_id(claim),
        machine,
        siblings,
    }
}

/// [`claimant`], with the claims of its namespace read from the API server, not a cache:
/// called under the name lock ([`crate::name_lock`]), which the other claims of the Machine
/// hold until their IPAddress is written.
pub async fn load(
    client: &Client,
    claim: &IPAddressClaim,
    kind: Kind,
) -> Result<Claimant, kube::Error> {
    if machine(claim, kind).is_none() {
        return Ok(claimant(claim, kind, &[]));
    }
    let ns = claim.namespace().unwrap_or_default();
    let claims = Api::<IPAddressClaim>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await?
        .items;
    Ok(claimant(claim, kind, &claims))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claim(name: &str, annotations: serde_json::Value) -> IPAddressClaim {
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
            "metadata": {"name": name, "namespace": "ns", "annotations": annotations},
            "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p"}}
        }))
        .unwrap()
    }

    #[test]
    fn only_a_host_name_that_is_the_machines_is_shared() {
        let c = claim("m1-v4", json!({}));
        let zone = Some("example.com.");
        assert_eq!(decide(&c, "m1.example.com", zone, Some("m1")), "Machine/m1");
        assert_eq!(decide(&c, "M1.Example.com", zone, Some("m1")), "Machine/m1");
        // Set by hand to another name, no zone, or no Machine: the claim's alone.
        assert_eq!(
            decide(&c, "db.example.com", zone, Some("m1")),
            "IPAddressClaim/m1-v4"
        );
        assert_eq!(
            decide(&c, "m1-v4", None, Some("m1")),
            "IPAddressClaim/m1-v4"
        );
        assert_eq!(
            decide(&c, "m1-v4.example.com", zone, None),
            "IPAddressClaim/m1-v4"
        );
    }

    #[test]
    fn a_machines_fixed_addresses_are_named_after_their_claims() {
        let zone = Some("example.com");
        assert!(names_after_machine(zone, Kind::HostRecord));
        assert!(!names_after_machine(None, Kind::HostRecord));
        assert!(!names_after_machine(zone, Kind::FixedAddress));
        // What the controller then resolves and records for two claims of Machine m1.
        let names: Vec<(String, String)> = ["m1-nic1", "m1-nic2"]
            .iter()
            .map(|n| {
                let c = claim(n, json!({}));
                let machine = names_after_machine(zone, Kind::FixedAddress).then_some("m1");
                let host = crate::hostname::resolve(&c, zone, machine);
                let owner = decide(&c, &host, zone, machine);
                (host, owner)
            })
            .collect();
        assert_eq!(
            names,
            [
                (
                    "m1-nic1.example.com".into(),
                    "IPAddressClaim/m1-nic1".into()
                ),
                (
                    "m1-nic2.example.com".into(),
                    "IPAddressClaim/m1-nic2".into()
                )
            ]
        );
    }

    #[test]
    fn siblings_are_the_claims_recorded_for_the_same_machine_and_name() {
        let host = |h: &str, owner: &str| json!({HOSTNAME_ANNOTATION: h, OWNER_ANNOTATION: owner});
        let v4 = claim("m1-v4", host("m1.example.com", "Machine/m1"));
        let claims = [
            v4.clone(),
            claim("m1-v6", host("m1.example.com", "Machine/m1")),
            claim("m1-other-zone", host("m1.other.org", "Machine/m1")),
            claim("m2-v4", host("m2.example.com", "Machine/m2")),
            claim("m1", host("m1.example.com", "IPAddressClaim/m1")),
            claim("undecided", json!({HOSTNAME_ANNOTATION: "m1.example.com"})),
        ];
        let c = claimant(&v4, Kind::HostRecord, &claims);
        assert_eq!(c.machine.as_deref(), Some("ns/m1"));
        assert_eq!(c.siblings, ["ns/m1-v6"]);
        // A fixed address is never shared.
        assert_eq!(
            claimant(&v4, Kind::FixedAddress, &claims),
            Claimant::alone("ns/m1-v4".into())
        );
        let alone = claimant(&claims[4], Kind::HostRecord, &claims);
        assert_eq!(alone, Claimant::alone("ns/m1".into()));
        assert_eq!(
            claimant(&claims[5], Kind::HostRecord, &claims),
            Claimant::alone("ns/undecided".into())
        );
    }
}
