//! InfobloxInstance: can the Grid Master be reached, does it accept the credentials, does it
//! serve the WAPI version — each a condition of its own, summed up in `Ready`.

use std::future::Future;
use std::sync::Arc;

use ipam_kube_support::conditions::{Decision, READY};
use ipam_kube_support::drive::{Shutdown, drive};
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use kube::runtime::controller::Action;
use kube::{Api, Client, ResourceExt};

use crate::api::InfobloxInstance;
use crate::config::Config;
use crate::connect;
use crate::report::{self, Context};
use crate::wapi::{WapiClient, WapiError};

pub const MANAGER: &str = "ipam-operator-infoblox-instances";
pub const REACHABLE: &str = "Reachable";
pub const AUTHENTICATED: &str = "Authenticated";
pub const VERSION_SUPPORTED: &str = "WAPIVersionSupported";

/// The conditions `Ready` sums up, from one probe of the Grid Master.
pub async fn check(wapi: &WapiClient, instance: &InfobloxInstance) -> Vec<Decision> {
    let endpoint = wapi.endpoint().to_string();
    let version = &instance.spec.wapi_version;
    let probe = wapi
        .get::<serde_json::Value>(
            "networkview",
            &[
                ("_max_results", "1".into()),
                ("_return_fields", "name".into()),
            ],
        )
        .await;
    // The probe's steps in order: each one passed is True; the first that failed is False
    // with the error (when it has a condition of its own), and `Ready` says the same.
    let steps = [
        Decision::new(REACHABLE, true, "Connected", format!("{endpoint} answers")),
        Decision::new(AUTHENTICATED, true, "Authenticated", "credentials accepted"),
        Decision::new(
            VERSION_SUPPORTED,
            true,
            "Supported",
            format!("{endpoint} serves WAPI v{version}"),
        ),
    ];
    let (passed, failed) = match &probe {
        Ok(_) => (steps.len(), None),
        Err(WapiError::Unreachable { .. } | WapiError::Timeout { .. }) => {
            (0, Some((REACHABLE, "Unreachable")))
        }
        Err(WapiError::Unauthorized { .. }) => (1, Some((AUTHENTICATED, "AuthenticationFailed"))),
        Err(WapiError::UnsupportedVersion { .. }) => {
            (2, Some((VERSION_SUPPORTED, "WAPIVersionUnsupported")))
        }
        Err(_) => (1, None),
    };
    let mut out: Vec<Decision> = steps.into_iter().take(passed).collect();
    if let Err(e) = &probe {
        let reason = failed.map_or(e.reason(), |(_, reason)| reason);
        if let Some((type_, _)) = failed {
            out.push(Decision::new(type_, false, reason, e.to_string()));
        }
        out.push(Decision::new(READY, false, reason, e.to_string()));
        return out;
    }
    // The defaults pools inherit must exist (telekom's reasons).
    let spec = &instance.spec;
    if let Some(view) = spec
        .default_network_view
        .as_deref()
        .filter(|v| !v.is_empty())
    {
        match wapi.find_network_view(view).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                out.push(Decision::new(READY, false, "NetworkViewNotFound", format!(
                    "spec.defaultNetworkView {view:?} does not exist on {endpoint}; create it in Infoblox or fix the name"
                )));
                return out;
            }
            Err(e) => {
                out.push(Decision::new(READY, false, e.reason(), e.to_string()));
                return out;
            }
        }
    }
    if let Some(view) = spec.default_dns_view.as_deref().filter(|v| !v.is_empty()) {
        match wapi.find_dns_view(view).await {
            Ok(Some(_)) => {}
            Ok(None) => {
                out.push(Decision::new(READY, false, "DNSViewNotFound", format!(
                    "spec.defaultDNSView {view:?} does not exist on {endpoint}; create it in Infoblox or fix the name"
                )));
                return out;
            }
            Err(e) => {
                out.push(Decision::new(READY, false, e.reason(), e.to_string()));
                return out;
            }
        }
    }
    out.push(Decision::new(
        READY,
        true,
        "ConfigurationValid",
        format!("{endpoint} reachable, credentials accepted, WAPI v{version} served"),
    ));
    out
}

async fn reconcile(
    instance: Arc<InfobloxInstance>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let decisions =
        match connect::client_for(&ctx.client, &instance, &ctx.config.secret_namespace).await {
            Ok(wapi) => check(&wapi, &instance).await,
            Err(e) => vec![Decision::new(READY, false, e.reason(), e.to_string())],
        };
    let reachable = decisions.iter().any(|d| d.type_ == REACHABLE && d.status);
    ipam_kube_support::metrics::get().domain.infoblox_reachable(
        &instance.name_any(),
        instance.metadata.uid.as_deref(),
        reachable,
    );
    let api = Api::<InfobloxInstance>::all(ctx.client.clone());
    report::show(&api, MANAGER, instance.as_ref(), &decisions, &ctx.config)
        .await
        .map_err(Reconciling::new(instance.as_ref()).at("write status"))
}

pub fn run(client: Client, config: &Config, stop: Shutdown) -> impl Future<Output = ()> + use<> {
    let ctx = Context::new(&client, config);
    let controller = config.controller(
        "infoblox",
        Api::<InfobloxInstance>::all(client),
        config.concurrency,
    );
    drive(controller, MANAGER, reconcile, ctx, config.retry, stop)
}
