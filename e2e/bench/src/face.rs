//! The two claim APIs the load scenarios drive: Cluster API's IPAddressClaim on an
//! InClusterIPPool, and Metal3's IPClaim on an IPPool. Each says how its pool, claim and
//! address look, when a claim is bound, and which writes a provider must make for it (the raw
//! limit does exactly those).

use std::net::Ipv4Addr;

use kube::core::{ApiResource, DynamicObject};
use serde_json::{Value, json};

use crate::kinds;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
pub enum Face {
    /// ipam.cluster.x-k8s.io: IPAddressClaim (v1beta2) on an InClusterIPPool (v1alpha2).
    Capi,
    /// ipam.metal3.io/v1alpha1: IPClaim on an IPPool.
    Metal3,
}

/// A pool of the load: a /16 of its own, `10.<index>.0.0/16`, gateway `.0.1`.
#[derive(Debug, Clone)]
pub struct PoolPlan {
    pub name: String,
    pub network: Ipv4Addr,
    pub prefix: u8,
}

impl PoolPlan {
    pub fn nth(index: usize, prefix: u8) -> PoolPlan {
        PoolPlan {
            name: format!("pool-{index}"),
            network: Ipv4Addr::new(10, index as u8, 0, 0),
            prefix,
        }
    }
    pub fn gateway(&self) -> Ipv4Addr {
        self.host(1)
    }
    /// The `n`th address after the network's (network + n).
    pub fn host(&self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) + n)
    }
    fn broadcast(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network) | (u32::MAX >> self.prefix))
    }
}

impl Face {
    pub fn claim_kind(self) -> ApiResource {
        match self {
            Face::Capi => kinds::capi_claim(),
            Face::Metal3 => kinds::metal3_claim(),
        }
    }
    pub fn address_kind(self) -> ApiResource {
        match self {
            Face::Capi => kinds::capi_address(),
            Face::Metal3 => kinds::metal3_address(),
        }
    }
    pub fn pool_kind(self) -> ApiResource {
        match self {
            Face::Capi => kinds::in_cluster_pool(),
            Face::Metal3 => kinds::metal3_pool(),
        }
    }
    /// The resources (plural names) this face's provider writes or reads per claim, besides
    /// the ones every face shares (events, the operator's own records).
    pub fn resources(self) -> Vec<String> {
        vec![
            self.claim_kind().plural,
            self.address_kind().plural,
            self.pool_kind().plural,
        ]
    }

    pub fn pool(self, plan: &PoolPlan) -> DynamicObject {
        let spec = match self {
            Face::Capi => json!({
                "addresses": [format!("{}/{}", plan.network, plan.prefix)],
                "prefix": plan.prefix, "gateway": plan.gateway().to_string()}),
            Face::Metal3 => json!({
                "namePrefix": plan.name, "prefix": plan.prefix, "gateway": plan.gateway().to_string(),
                "pools": [{"start": plan.host(2).to_string(),
                           "end": Ipv4Addr::from(u32::from(plan.broadcast()) - 1).to_string()}]}),
        };
        kinds::object(
            &self.pool_kind(),
            json!({"metadata": {"name": plan.name}, "spec": spec}),
        )
    }

    pub fn claim(self, name: &str, pool: &str) -> DynamicObject {
        let spec = match self {
            Face::Capi => {
                json!({"poolRef": {"apiGroup": kinds::CAPI_IPAM, "kind": "InClusterIPPool", "name": pool}})
            }
            Face::Metal3 => json!({"pool": {"name": pool}}),
        };
        kinds::object(
            &self.claim_kind(),
            json!({"metadata": {"name": name}, "spec": spec}),
        )
    }

    /// Bound: Cluster API's claim names its address, and says Ready=True if it says Ready at
    /// all (the upstream in-cluster provider v1.1.0 writes no condition on v1beta2, only the
    /// reference); Metal3's names its address.
    pub fn is_bound(self) -> fn(&DynamicObject) -> bool {
        match self {
            Face::Capi => capi_bound,
            Face::Metal3 => metal3_bound,
        }
    }

    /// The finalizer a provider puts on a claim before it hands out an address.
    pub fn claim_finalizer(self) -> &'static str {
        match self {
            Face::Capi => "ipam.cluster.x-k8s.io/ReleaseAddress",
            Face::Metal3 => "ipclaim.ipam.metal3.io",
        }
    }

    /// The address object a provider writes for `claim` (created with `claim_uid`) in `pool`.
    pub fn address(
        self,
        claim: &str,
        claim_uid: &str,
        pool: &PoolPlan,
        pool_uid: &str,
        address: Ipv4Addr,
    ) -> DynamicObject {
        let claim_kind = self.claim_kind();
        let pool_kind = self.pool_kind();
        let owners = json!([
            {"apiVersion": claim_kind.api_version, "kind": claim_kind.kind, "name": claim,
             "uid": claim_uid, "controller": true, "blockOwnerDeletion": true},
            {"apiVersion": pool_kind.api_version, "kind": pool_kind.kind, "name": pool.name,
             "uid": pool_uid, "controller": false, "blockOwnerDeletion": true},
        ]);
        let (finalizer, spec) = match self {
            Face::Capi => (
                "ipam.cluster.x-k8s.io/ProtectAddress",
                json!({"address": address.to_string(), "prefix": pool.prefix,
                   "gateway": pool.gateway().to_string(), "claimRef": {"name": claim},
                   "poolRef": {"apiGroup": kinds::CAPI_IPAM, "kind": "InClusterIPPool", "name": pool.name}}),
            ),
            Face::Metal3 => (
                "ipaddress.ipam.metal3.io",
                json!({"address": address.to_string(), "prefix": pool.prefix,
                   "gateway": pool.gateway().to_string(), "claim": {"name": claim},
                   "pool": {"name": pool.name}}),
            ),
        };
        kinds::object(
            &self.address_kind(),
            json!({"metadata": {"name": claim, "ownerReferences": owners, "finalizers": [finalizer]},
                   "spec": spec}),
        )
    }

    /// The claim status a provider writes once `address_name` exists.
    pub fn bound_status(self, address_name: &str) -> Value {
        let kind = self.claim_kind();
        let status = match self {
            Face::Capi => json!({
                "addressRef": {"name": address_name},
                "conditions": [{"type": "Ready", "status": "True", "reason": "Allocated", "message": "",
                                "lastTransitionTime": now_rfc3339()}]}),
            Face::Metal3 => json!({"address": {"name": address_name}}),
        };
        json!({"apiVersion": kind.api_version, "kind": kind.kind, "status": status})
    }

    /// (pool name, address) of an address object, to find one handed out twice.
    pub fn pool_and_address(self, object: &DynamicObject) -> (String, String) {
        let spec = &object.data["spec"];
        let pool = match self {
            Face::Capi => &spec["poolRef"]["name"],
            Face::Metal3 => &spec["pool"]["name"],
        };
        (
            pool.as_str().unwrap_or_default().to_string(),
            spec["address"].as_str().unwrap_or_default().to_string(),
        )
    }
}

fn capi_bound(claim: &DynamicObject) -> bool {
    let status = &claim.data["status"];
    let named = status["addressRef"]["name"]
        .as_str()
        .is_some_and(|n| !n.is_empty());
    let ready = status["conditions"].as_array().is_none_or(|conditions| {
        conditions
            .iter()
            .all(|c| c["type"] != "Ready" || c["status"] == "True")
    });
    named && ready
}

fn metal3_bound(claim: &DynamicObject) -> bool {
    claim.data["status"]["address"]["name"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
}

/// Now as RFC 3339 in UTC, for a condition's lastTransitionTime.
fn now_rfc3339() -> String {
    k8s_openapi::jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pools_are_disjoint_sixteens() {
        let p = PoolPlan::nth(3, 16);
        assert_eq!(
            (p.gateway(), p.host(2), p.broadcast()),
            (
                Ipv4Addr::new(10, 3, 0, 1),
                Ipv4Addr::new(10, 3, 0, 2),
                Ipv4Addr::new(10, 3, 255, 255)
            )
        );
    }

    #[test]
    fn a_capi_claim_is_bound_once_named_and_not_unready() {
        let bound = Face::Capi.is_bound();
        let mut claim = Face::Capi.claim("c", "p");
        assert!(!bound(&claim));
        claim.data["status"] = Face::Capi.bound_status("c")["status"].clone();
        assert!(bound(&claim));
        claim.data["status"]["conditions"][0]["status"] = "False".into();
        assert!(!bound(&claim), "named but not ready");
        claim.data["status"] = serde_json::json!({"addressRef": {"name": "c"}});
        assert!(bound(&claim), "named, and no condition at all");
    }
}
