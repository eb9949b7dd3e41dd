//! InfobloxIPPool: do its network view and networks exist in Infoblox? `NetworkViewReady` and
//! `NetworksReady` say which part is missing; `Ready` sums up. The pool finalizer keeps a
//! pool until its claims have released their reservations through it.

use std::future::Future;
use std::sync::Arc;

use ipam_kube_support::capi::IPAddressClaim;
use ipam_kube_support::capi::keys::POOL_FINALIZER;
use ipam_kube_support::conditions::{Decision, READY};
use ipam_kube_support::drive::{Shutdown, drive};
use ipam_kube_support::finalizers;
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Client, Resource, ResourceExt};

use crate::api::{InfobloxIPPool, InfobloxInstance};
use crate::config::Config;
use crate::connect;
use crate::report::{self, Context};

pub const MANAGER: &str = "ipam-operator-infoblox-pools";
pub const NETWORK_VIEW_READY: &str = "NetworkViewReady";
pub const NETWORKS_READY: &str = "NetworksReady";

async fn decide(pool: &InfobloxIPPool, ctx: &Context) -> Result<Vec<Decision>, kube::Error> {
    let instance_name = &pool.spec.instance.name;
    let Some(instance) = Api::<InfobloxInstance>::all(ctx.client.clone())
        .get_opt(instance_name)
        .await?
    else {
        return Ok(vec![Decision::new(
            READY,
            false,
            "InstanceNotFound",
            format!(
                "InfobloxInstance {instance_name} does not exist; create it or fix spec.instance.name"
            ),
        )]);
    };
    let wapi = match connect::client_for(&ctx.client, &instance, &ctx.config.secret_namespace).await
    {
        Ok(wapi) => wapi,
        Err(e) => return Ok(vec![Decision::new(READY, false, e.reason(), e.to_string())]),
    };
    let views = pool.spec.views(&instance.spec);
    let nv = &views.network_view;
    let mut out = Vec::new();
    match wapi.find_network_view(nv).await {
        Ok(Some(_)) => out.push(Decision::new(
            NETWORK_VIEW_READY,
            true,
            "NetworkViewFound",
            format!("network view {nv} exists"),
        )),
        Ok(None) => {
            let msg = format!(
                "network view {nv:?} does not exist in Infoblox {}; create it or set spec.networkView",
                wapi.endpoint()
            );
            out.push(Decision::new(
                NETWORK_VIEW_READY,
                false,
                "NetworkViewNotFound",
                msg.clone(),
            ));
            out.push(Decision::new(READY, false, "NetworkViewNotFound", msg));
            return Ok(out);
        }
        Err(e) => {
            out.push(Decision::new(READY, false, e.reason(), e.to_string()));
            return Ok(out);
        }
    }
    // The DNS view matters only to pools that register names in DNS.
    if let Some(zone) = pool.spec.zone() {
        let view = &views.dns_view;
        match wapi.find_dns_view(view).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                out.push(Decision::new(READY, false, "DNSViewNotFound", format!(
                    "DNS view {view:?} (for zone {zone}) does not exist in Infoblox; create it or set spec.dnsView"
                )));
                return Ok(out);
            }
            Err(e) => {
                out.push(Decision::new(READY, false, e.reason(), e.to_string()));
                return Ok(out);
            }
        }
    }
    let mut missing = Vec::new();
    for subnet in &pool.spec.subnets {
        let Ok(cidr) = subnet.cidr.parse::<ipnet::IpNet>() else {
            missing.push(format!("{} (not a CIDR)", subnet.cidr));
            continue;
        };
        match wapi.find_network(&cidr, nv).await {
            Ok(Some(_)) => {}
            Ok(None) => missing.push(subnet.cidr.clone()),
            Err(e) => {
                out.push(Decision::new(READY, false, e.reason(), e.to_string()));
                return Ok(out);
            }
        }
    }
    if missing.is_empty() {
        out.push(Decision::new(
            NETWORKS_READY,
            true,
            "NetworksFound",
            format!(
                "{} network(s) exist in network view {nv}",
                pool.spec.subnets.len()
            ),
        ));
        out.push(Decision::new(
            READY,
            true,
            "Ready",
            format!("network view {nv} and every subnet exist"),
        ));
    } else {
        let msg = format!(
            "network(s) {} do not exist in network view {nv}; create them in Infoblox (as leaf networks, not containers) or fix spec.subnets",
            missing.join(", ")
        );
        out.push(Decision::new(
            NETWORKS_READY,
            false,
            "NetworkNotFound",
            msg.clone(),
        ));
        out.push(Decision::new(READY, false, "NetworkNotFound", msg));
    }
    Ok(out)
}

/// Claims of `pool` still present, deleting ones included: each still needs the pool to
/// release its reservation in Infoblox.
async fn claims_of(pool: &InfobloxIPPool, client: &Client) -> Result<Vec<String>, kube::Error> {
    let ns = pool.namespace().unwrap_or_default();
    let claims = Api::<IPAddressClaim>::namespaced(client.clone(), &ns)
        .list(&Default::default())
        .await?;
    Ok(claims
        .items
        .iter()
        .filter(|c| crate::claim_controller::serves(c) && c.spec.pool_ref.name == pool.name_any())
        .map(|c| c.name_any())
        .collect())
}

async fn reconcile(pool: Arc<InfobloxIPPool>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let fail = Reconciling::new(pool.as_ref());
    let api = Api::<InfobloxIPPool>::namespaced(
        ctx.client.clone(),
        &pool.namespace().unwrap_or_default(),
    );
    if pool.meta().deletion_timestamp.is_some() {
        // The pool stays until its claims have released their reservations through it.
        let users = claims_of(&pool, &ctx.client)
            .await
            .map_err(fail.at("list the pool's claims"))?;
        if users.is_empty() {
            finalizers::remove(&api, pool.as_ref(), POOL_FINALIZER)
                .await
                .map_err(fail.at("remove the finalizer"))?;
            return Ok(Action::await_change());
        }
        let d = Decision::new(
            READY,
            false,
            "PoolInUse",
            format!(
                "being deleted; waits for {} claim(s) to release their addresses: {}",
                users.len(),
                users.join(", ")
            ),
        );
        return report::show(&api, MANAGER, pool.as_ref(), &[d], &ctx.config)
            .await
            .map_err(fail.at("write status"));
    }
    if !finalizers::has(pool.as_ref(), POOL_FINALIZER) {
        finalizers::add(&api, pool.as_ref(), POOL_FINALIZER)
            .await
            .map_err(fail.at("add the finalizer"))?;
        return Ok(Action::await_change());
    }
    let decisions = decide(&pool, &ctx)
        .await
        .map_err(fail.at("check the networks"))?;
    report::show(&api, MANAGER, pool.as_ref(), &decisions, &ctx.config)
        .await
        .map_err(fail.at("write status"))
}

pub fn run(client: Client, config: &Config, stop: Shutdown) -> impl Future<Output = ()> + use<> {
    let ctx = Context::new(&client, config);
    let controller = config.controller(
        "infoblox",
        config.api::<InfobloxIPPool>(&client),
        config.concurrency,
    );
    let pools = controller.store();
    // An instance that changes (fixed credentials, new CA) re-checks the pools using it.
    let controller = controller.watches(
        Api::<InfobloxInstance>::all(client),
        config.watcher(),
        move |instance: InfobloxInstance| {
            let name = instance.name_any();
            pools
                .state()
                .into_iter()
                .filter(|p| p.spec.instance.name == name)
                .map(|p| ObjectRef::from_obj(p.as_ref()))
                .collect::<Vec<_>>()
        },
    );
    drive(controller, MANAGER, reconcile, ctx, config.retry, stop)
}
