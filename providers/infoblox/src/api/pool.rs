//! InfobloxIPPool (namespaced): Infoblox networks that serve Cluster API IPAddressClaims.
//! Schema-compatible with telekom/cluster-api-ipam-provider-infoblox v1alpha1
//! (infoblox-wapi.md §1.2); `reservation` is this operator's addition.

// Each `printcolumn(...)` of the kube derive repeats `type_`; clippy reads that as a duplicate.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRef {
    /// The InfobloxInstance's name.
    #[schemars(length(min = 1))]
    pub name: String,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Subnet {
    /// An existing leaf `network` (or `ipv6network`) in the pool's network view.
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("isCIDR(self)").message("cidr must be a CIDR such as 10.0.0.0/24"))]
    pub cidr: String,
    /// Copied to each IPAddress's `spec.gateway`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 64))]
    #[x_kube(validation = Rule::new("self == '' || isIP(self)").message("gateway must be an IP address"))]
    pub gateway: Option<String>,
}

/// How an address is held in Infoblox.
#[derive(
    Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq, Eq, schemars::JsonSchema,
)]
pub enum Reservation {
    /// A `record:host` named after the claim (telekom's way); in DNS when `dnsZone` is set.
    #[default]
    HostRecord,
    /// A `fixedaddress` (DHCP reservation with MAC 00:00:00:00:00:00) named after the claim.
    /// IPv4 only, and never in DNS.
    FixedAddress,
}

/// The one mapping between the kind as the pool and the claim spell it and the kind the WAPI
/// client reserves.
impl Reservation {
    /// The name in `spec.reservation`, also recorded on claims (`crate::location`).
    pub fn name(self) -> &'static str {
        match self {
            Reservation::HostRecord => "HostRecord",
            Reservation::FixedAddress => "FixedAddress",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        [Reservation::HostRecord, Reservation::FixedAddress]
            .into_iter()
            .find(|r| r.name() == name)
    }
}

impl From<Reservation> for crate::wapi::Kind {
    fn from(r: Reservation) -> Self {
        match r {
            Reservation::HostRecord => crate::wapi::Kind::HostRecord,
            Reservation::FixedAddress => crate::wapi::Kind::FixedAddress,
        }
    }
}

impl From<crate::wapi::Kind> for Reservation {
    fn from(k: crate::wapi::Kind) -> Self {
        match k {
            crate::wapi::Kind::HostRecord => Reservation::HostRecord,
            crate::wapi::Kind::FixedAddress => Reservation::FixedAddress,
        }
    }
}

#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[kube(
    group = "ipam.cluster.x-k8s.io",
    version = "v1alpha1",
    kind = "InfobloxIPPool",
    namespaced,
    status = "InfobloxPoolStatus",
    category = "cluster-api",
    label("clusterctl.cluster.x-k8s.io/move-hierarchy", ""),
    label("cluster.x-k8s.io/v1beta1", "v1alpha1"),
    label("cluster.x-k8s.io/v1beta2", "v1alpha1"),
    printcolumn(
        name = "Network view",
        type_ = "string",
        json_path = ".spec.networkView",
        description = "Default network view"
    ),
    printcolumn(
        name = "Subnets",
        type_ = "string",
        json_path = ".spec.subnets",
        description = "Subnets to allocate IPs from"
    )
)]
#[x_kube(validation = Rule::new(
    "!has(self.reservation) || self.reservation != 'FixedAddress' || !has(self.dnsZone) || self.dnsZone == ''"
).message("a FixedAddress pool cannot register names in DNS: unset dnsZone or use HostRecord"))]
#[serde(rename_all = "camelCase")]
pub struct InfobloxIPPoolSpec {
    /// The InfobloxInstance to allocate from.
    pub instance: InstanceRef,
    /// The networks to allocate from, tried in order: a full one falls through to the next.
    // maxItems and the strings' maxLength bound the cost of the CEL rules.
    #[schemars(length(min = 1, max = 64))]
    pub subnets: Vec<Subnet>,
    /// The network view; the instance's `defaultNetworkView`, else `default`, when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_view: Option<String>,
    /// The DNS view; when unset, the instance's `defaultDNSView`, else `default` for the network
    /// view `default` and `default.<networkView>` for any other.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_view: Option<String>,
    /// When set, host records are registered in DNS as `<host>.<dnsZone>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_zone: Option<String>,
    /// How addresses are held: `HostRecord` (default) or `FixedAddress`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reservation: Option<Reservation>,
}

#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct InfobloxPoolStatus {
    /// `NetworkViewReady`, `NetworksReady` and the summary `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Vec<Condition>,
}

/// The network and DNS views a pool resolves to with its instance's defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Views {
    pub network_view: String,
    pub dns_view: String,
}

impl InfobloxIPPoolSpec {
    /// infoblox-wapi.md §1.3: the pool's view, else the instance's default, else `default`;
    /// the DNS view is the pool's, else the instance's default, else `default` for the
    /// default network view and `default.<view>` otherwise.
    pub fn views(&self, instance: &super::InstanceSpec) -> Views {
        let non_empty = |v: &Option<String>| v.clone().filter(|v| !v.is_empty());
        let network_view = non_empty(&self.network_view)
            .or_else(|| non_empty(&instance.default_network_view))
            .unwrap_or_else(|| "default".into());
        let dns_view = non_empty(&self.dns_view)
            .or_else(|| non_empty(&instance.default_dns_view))
            .unwrap_or_else(|| {
                if network_view == "default" {
                    "default".into()
                } else {
                    format!("default.{network_view}")
                }
            });
        Views {
            network_view,
            dns_view,
        }
    }

    pub fn zone(&self) -> Option<&str> {
        self.dns_zone.as_deref().filter(|z| !z.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reservation_name_is_the_spelling_of_spec_reservation() {
        for r in [Reservation::HostRecord, Reservation::FixedAddress] {
            assert_eq!(serde_json::to_value(r).unwrap(), r.name());
            assert_eq!(Reservation::from_name(r.name()), Some(r));
            assert_eq!(Reservation::from(crate::wapi::Kind::from(r)), r);
        }
        assert_eq!(Reservation::from_name("Lease"), None);
    }

    #[test]
    fn views_follow_the_telekom_rules() {
        let mut pool = InfobloxIPPoolSpec::default();
        let mut instance = super::super::InstanceSpec::default();
        assert_eq!(pool.views(&instance).dns_view, "default");
        pool.network_view = Some("nv".into());
        assert_eq!(
            pool.views(&instance),
            Views {
                network_view: "nv".into(),
                dns_view: "default.nv".into()
            }
        );
        instance.default_dns_view = Some("internal".into());
        assert_eq!(pool.views(&instance).dns_view, "internal");
        pool.dns_view = Some("ext".into());
        assert_eq!(pool.views(&instance).dns_view, "ext");
        pool.network_view = None;
        instance.default_network_view = Some("corp".into());
        assert_eq!(pool.views(&instance).network_view, "corp");
    }
}
