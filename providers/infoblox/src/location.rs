//! Where a claim's reservation lives in Infoblox: the InfobloxInstance, the network view and
//! the reservation kind. Recorded on the IPAddressClaim before the reservation is made, so
//! release can still find the reservation when the InfobloxIPPool is gone (its finalizer
//! stripped by hand), which the pool alone could not tell any more.

use std::collections::BTreeMap;

use ipam_kube_support::capi::IPAddressClaim;
use kube::ResourceExt;

use crate::api::{InfobloxIPPoolSpec, Reservation};
use crate::wapi::Kind;

/// The same keys as on a k0rdent ClusterIPAMClaim (`crate::k0rdent_provider`), with another
/// meaning: there a person writes them to choose which instance and network view the claim's
/// pool uses; on an IPAddressClaim this operator writes them to record where the reservation
/// was made, and release reads them back. Editing them on an IPAddressClaim does not move
/// an allocation; it only misdirects its release. The keys stay shared because claims already
/// carry them.
pub const INSTANCE_ANNOTATION: &str = "ipam-operator.io/infoblox-instance";
pub const NETWORK_VIEW_ANNOTATION: &str = "ipam-operator.io/infoblox-network-view";
/// `HostRecord` or `FixedAddress`, the values of the pool's `spec.reservation`.
pub const RESERVATION_ANNOTATION: &str = "ipam-operator.io/infoblox-reservation";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    pub instance: String,
    pub network_view: String,
    pub kind: Kind,
}

impl Location {
    /// The location recorded on `claim`, when all three parts are there and readable.
    pub fn recorded(claim: &IPAddressClaim) -> Option<Location> {
        let a = claim.annotations();
        let get = |k: &str| a.get(k).filter(|v| !v.is_empty()).cloned();
        let kind = Reservation::from_name(&get(RESERVATION_ANNOTATION)?)?.into();
        Some(Location {
            instance: get(INSTANCE_ANNOTATION)?,
            network_view: get(NETWORK_VIEW_ANNOTATION)?,
            kind,
        })
    }

    /// `pool` as it was when this location was recorded: its instance, network view and
    /// reservation kind. Release goes there, not to what the pool says now, so a pool edited
    /// after allocation does not leave the reservation behind.
    pub fn applied_to(&self, pool: &mut InfobloxIPPoolSpec) {
        pool.instance.name = self.instance.clone();
        pool.network_view = Some(self.network_view.clone());
        pool.reservation = Some(self.kind.into());
    }

    /// The annotations that record this location.
    pub fn annotations(&self) -> BTreeMap<&'static str, String> {
        BTreeMap::from([
            (INSTANCE_ANNOTATION, self.instance.clone()),
            (NETWORK_VIEW_ANNOTATION, self.network_view.clone()),
            (
                RESERVATION_ANNOTATION,
                Reservation::from(self.kind).name().to_string(),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(annotations: &BTreeMap<&str, String>) -> IPAddressClaim {
        let mut claim: IPAddressClaim = serde_json::from_value(serde_json::json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
            "metadata": {"name": "c"},
            "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": "p"}}
        }))
        .unwrap();
        claim.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        );
        claim
    }

    #[test]
    fn a_recorded_location_reads_back_and_a_partial_one_does_not() {
        for kind in [Kind::HostRecord, Kind::FixedAddress] {
            let location = Location {
                instance: "grid".into(),
                network_view: "nv".into(),
                kind,
            };
            let annotations = location.annotations();
            assert_eq!(Location::recorded(&claim(&annotations)), Some(location));
            for key in annotations.keys() {
                let mut partial = annotations.clone();
                partial.remove(key);
                assert_eq!(Location::recorded(&claim(&partial)), None, "without {key}");
            }
        }
        let mut odd = Location {
            instance: "grid".into(),
            network_view: "nv".into(),
            kind: Kind::HostRecord,
        }
        .annotations();
        odd.insert(RESERVATION_ANNOTATION, "Lease".into());
        assert_eq!(Location::recorded(&claim(&odd)), None);
    }
}
