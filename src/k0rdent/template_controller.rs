//! ClusterTemplate: turns the template's chart into a Flux HelmChart and reports, as kcm's
//! template controller does, whether the template can be installed (`valid`, `chartRef`,
//! `chartVersion`, `validationError`). A ClusterDeployment waits for `valid`.
//!
//! With `spec.helm.chartSpec`, the HelmChart is named like the template, in its namespace,
//! with kcm's `k0rdent.mirantis.com/managed` label and a plain owner reference to the
//! template (so it goes with the template). With `spec.helm.chartRef`, the named HelmChart is
//! only read.
//!
//! HelmCharts are polled rather than watched: Flux may be installed after the operator, and a
//! watch on a kind that is not served fails until it is.

use std::sync::Arc;
use std::time::Duration;

use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use ipam_kube_support::{scope, status};
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::controller::Action;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};

use super::flux;
use super::template_status::{self, Found, Verdict};
use crate::api::ClusterTemplate;
use crate::api::cluster_template::ChartRefKind;

pub const MANAGER: &str = "ipam-operator-clustertemplate";
/// kcm's label on the HelmCharts it manages.
const MANAGED_LABEL: &str = "k0rdent.mirantis.com/managed";

/// How soon a template that is not valid yet is looked at again (source-controller is
/// fetching), and how often a valid one is re-checked (its chart may fail later).
const WAITING: Duration = Duration::from_secs(3);
const VALID: Duration = Duration::from_secs(60);

pub struct Context {
    pub client: Client,
}

pub async fn reconcile(
    template: Arc<ClusterTemplate>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let fail = Reconciling::new(template.as_ref());
    if template.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let found = find_chart(&template, &ctx.client)
        .await
        .map_err(fail.at("find the chart"))?;
    let verdict = template_status::decide(&found);
    write(&ctx.client, &template, &verdict)
        .await
        .map_err(fail.at("write status"))?;
    Ok(Action::requeue(if verdict.valid { VALID } else { WAITING }))
}

/// The fetch half: the HelmChart (applied first for a `chartSpec`) and its source.
async fn find_chart(template: &ClusterTemplate, client: &Client) -> Result<Found, kube::Error> {
    let ns = template.namespace().unwrap_or_default();
    let charts = |namespace: &str| {
        Api::<DynamicObject>::namespaced_with(client.clone(), namespace, &flux::helm_chart())
    };
    let helm = &template.spec.helm;
    if let Some(reference) = &helm.chart_ref {
        if reference.kind != ChartRefKind::HelmChart {
            return Ok(Found::UnsupportedKind(reference.kind));
        }
        let namespace = reference.namespace.clone().unwrap_or(ns);
        return match charts(&namespace).get_opt(&reference.name).await {
            Ok(Some(chart)) => Ok(Found::Chart {
                chart: serde_json::to_value(chart).expect("an object serializes"),
                missing_source: None,
            }),
            Ok(None) => Ok(Found::ChartMissing {
                namespace,
                name: reference.name.clone(),
            }),
            Err(e) if not_served(&e) => Ok(Found::FluxMissing),
            Err(e) => Err(e),
        };
    }
    // The schema makes chartSpec the only other choice (chartSource is refused by CEL).
    let Some(spec) = &helm.chart_spec else {
        return Ok(Found::FluxMissing);
    };
    let owner = template.controller_owner_ref(&()).map(|mut o| {
        o.controller = None;
        o
    });
    let body = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1",
        "kind": "HelmChart",
        "metadata": {"name": template.name_any(), "labels": {MANAGED_LABEL: "true"},
                     "ownerReferences": owner.into_iter().collect::<Vec<_>>()},
        "spec": spec,
    });
    let chart = match charts(&ns)
        .patch(
            &template.name_any(),
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
    {
        Ok(chart) => chart,
        Err(e) if not_served(&e) => return Ok(Found::FluxMissing),
        Err(e) => return Err(e),
    };
    let source = &spec.source_ref;
    let sources =
        Api::<DynamicObject>::namespaced_with(client.clone(), &ns, &flux::source(source.kind));
    let missing_source = sources.get_opt(&source.name).await?.is_none().then(|| {
        let kind = serde_json::to_value(source.kind).expect("an enum serializes");
        format!("{} {ns}/{}", kind.as_str().unwrap_or_default(), source.name)
    });
    Ok(Found::Chart {
        chart: serde_json::to_value(chart).expect("an object serializes"),
        missing_source,
    })
}

/// A 404 on a whole collection: the kind itself is not served.
fn not_served(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}

/// The apply half: the owned status fields, written only when they change.
async fn write(
    client: &Client,
    template: &ClusterTemplate,
    verdict: &Verdict,
) -> Result<(), kube::Error> {
    let current = template.status.clone().unwrap_or_default();
    let generation = template.metadata.generation;
    let mut providers = template.spec.providers.clone();
    providers.sort();
    providers.dedup();
    if current.valid == verdict.valid
        && current.validation_error == verdict.validation_error
        && current.chart_ref == verdict.chart_ref
        && current.chart_version == verdict.chart_version
        && current.observed_generation == generation
        && current.providers == providers
    {
        return Ok(());
    }
    let mut status = json!({
        "valid": verdict.valid,
        "observedGeneration": generation,
        "providers": providers,
        "providerContracts": template.spec.provider_contracts,
    });
    let fields = [
        ("validationError", json!(verdict.validation_error)),
        ("chartRef", json!(verdict.chart_ref)),
        ("chartVersion", json!(verdict.chart_version)),
        ("k8sVersion", json!(template.spec.k8s_version)),
    ];
    // A field this manager leaves out of the apply is removed: an error that is gone is unset.
    for (key, value) in fields {
        if value != Value::Null {
            status[key] = value;
        }
    }
    let api = Api::<ClusterTemplate>::namespaced(
        client.clone(),
        &template.namespace().unwrap_or_default(),
    );
    status::apply(&api, MANAGER, &template.name_any(), status)
        .await
        .map(|_| ())
}

/// The ClusterTemplate controller, to be driven by [`super::run`].
pub fn controller(ctx: &Context, namespace: Option<&str>) -> Controller<ClusterTemplate> {
    let templates: Api<ClusterTemplate> = scope::api(&ctx.client, namespace);
    ipam_kube_support::readiness::controller("k0rdent", templates, watcher::Config::default())
}
