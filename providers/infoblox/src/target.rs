//! Where a claim's WAPI calls go: the pool's instance, a client for it, its views and its
//! subnets, read and checked before anything is asked of Infoblox.

use ipam_kube_support::claim_outcome::Outcome;
use kube::{Api, Client, ResourceExt};

use crate::api::{InfobloxIPPool, InfobloxInstance, Views};
use crate::claim_steps::{self, Refused};
use crate::config::Config;
use crate::connect::{self, ConnectError};
use crate::reserve_plan::Subnet;
use crate::wapi::{Kind, WapiClient};

/// A pool with everything the WAPI calls need.
pub struct Target {
    pub pool: InfobloxIPPool,
    /// The pool's InfobloxInstance, whose defaults other pools on it use too.
    pub instance: InfobloxInstance,
    pub kind: Kind,
    pub wapi: WapiClient,
    pub views: Views,
    pub subnets: Vec<Subnet>,
}

/// What a [`Target`] is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Allocate,
    /// Finds the reservation by host name: a subnet that does not parse, or one a
    /// FixedAddress pool cannot use, is left out rather than blocking the release.
    Release,
}

/// The pool's target, or what the claim shows while there is none: a missing instance or one
/// that cannot be reached is retried, a pool whose subnets cannot serve waits for an edit.
pub async fn target(
    client: &Client,
    config: &Config,
    pool: InfobloxIPPool,
    purpose: Purpose,
) -> Result<Result<Target, Outcome>, kube::Error> {
    let instance_name = &pool.spec.instance.name;
    let Some(instance) = Api::<InfobloxInstance>::all(client.clone())
        .get_opt(instance_name)
        .await?
    else {
        return Ok(Err(instance_missing(&pool).retried(config.retry)));
    };
    let wapi = match connect::client_for(client, &instance, &config.secret_namespace).await {
        Ok(w) => w,
        Err(e) => return Ok(Err(unconnected(&e).retried(config.retry))),
    };
    let subnets = match subnets(&pool, purpose) {
        Ok(subnets) => subnets,
        Err(refused) => return Ok(Err(refused.waits())),
    };
    let views = pool.spec.views(&instance.spec);
    Ok(Ok(Target {
        kind: claim_steps::kind(&pool),
        pool,
        instance,
        wapi,
        views,
        subnets,
    }))
}

fn instance_missing(pool: &InfobloxIPPool) -> Refused {
    Refused {
        reason: "PoolNotReady",
        message: format!(
            "InfobloxInstance {} (spec.instance of InfobloxIPPool {}/{}) does not exist",
            pool.spec.instance.name,
            pool.namespace().unwrap_or_default(),
            pool.name_any()
        ),
    }
}

/// The pool's instance names credentials or a CA bundle that cannot make a client: retried,
/// since fixing the Secret or ConfigMap is no change to the claim or the pool.
fn unconnected(error: &ConnectError) -> Refused {
    Refused {
        reason: "PoolNotReady",
        message: error.to_string(),
    }
}

/// The pool's subnets as networks, with their gateways.
fn subnets(pool: &InfobloxIPPool, purpose: Purpose) -> Result<Vec<Subnet>, Refused> {
    let described = format!(
        "InfobloxIPPool {}/{}",
        pool.namespace().unwrap_or_default(),
        pool.name_any()
    );
    let mut subnets = Vec::new();
    for s in &pool.spec.subnets {
        match s.cidr.parse::<ipnet::IpNet>() {
            Ok(net) => subnets.push((net.trunc(), s.gateway.clone())),
            Err(_) if purpose == Purpose::Release => {}
            Err(_) => {
                return Err(Refused {
                    reason: "PoolNotReady",
                    message: format!("{described}: subnet {:?} is not a CIDR", s.cidr),
                });
            }
        }
    }
    let fixed = claim_steps::kind(pool) == Kind::FixedAddress;
    if fixed && purpose == Purpose::Release {
        subnets.retain(|(n, _)| n.addr().is_ipv4());
    }
    if fixed && subnets.iter().any(|(n, _)| n.addr().is_ipv6()) {
        return Err(Refused {
            reason: "PoolNotReady",
            message: format!(
                "{described}: FixedAddress reservations are IPv4 only; use HostRecord for IPv6 subnets"
            ),
        });
    }
    Ok(subnets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pool(reservation: &str, cidrs: &[&str]) -> InfobloxIPPool {
        let subnets: Vec<_> = cidrs.iter().map(|c| json!({"cidr": c})).collect();
        serde_json::from_value(json!({
            "apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InfobloxIPPool",
            "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"instance": {"name": "grid"}, "subnets": subnets,
                     "reservation": reservation},
        }))
        .unwrap()
    }

    #[test]
    fn a_subnet_that_is_no_cidr_stops_allocation_but_not_release() {
        let p = pool("HostRecord", &["10.0.0.0/24", "bogus"]);
        let refused = subnets(&p, Purpose::Allocate).unwrap_err();
        assert_eq!(refused.reason, "PoolNotReady");
        assert!(
            refused.message.contains("\"bogus\" is not a CIDR"),
            "{}",
            refused.message
        );
        assert_eq!(subnets(&p, Purpose::Release).unwrap().len(), 1);
    }

    #[test]
    fn fixed_addresses_are_ipv4_only() {
        let p = pool("FixedAddress", &["10.0.0.0/24", "fd00::/64"]);
        let refused = subnets(&p, Purpose::Allocate).unwrap_err();
        assert!(refused.message.contains("IPv4 only"), "{}", refused.message);
        assert_eq!(subnets(&p, Purpose::Release).unwrap().len(), 1);
    }

    #[test]
    fn an_instance_that_cannot_connect_leaves_the_pool_not_ready_and_is_retried() {
        let error = ConnectError::SecretMissing {
            instance: "grid".into(),
            namespace: "ops".into(),
            name: "grid-creds".into(),
        };
        let retry = std::time::Duration::from_secs(7);
        let outcome = unconnected(&error).retried(retry);
        assert_eq!(outcome.reason(), Some("PoolNotReady"));
        assert_eq!(outcome.retry, Some(retry));
        let message = outcome.ready.unwrap().message;
        assert!(
            message.starts_with(
                "InfobloxInstance grid: credentials Secret ops/grid-creds does not exist"
            ),
            "{message}"
        );
    }

    #[test]
    fn a_missing_instance_names_the_pool_that_wants_it() {
        let refused = instance_missing(&pool("HostRecord", &[]));
        assert_eq!(refused.reason, "PoolNotReady");
        assert!(
            refused.message.contains("InfobloxIPPool ns/p"),
            "{}",
            refused.message
        );
    }
}
