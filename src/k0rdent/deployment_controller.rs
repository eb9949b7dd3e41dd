//! ClusterDeployment: the IPAM gate. A deployment with IPAM is provisioned (its Flux
//! HelmRelease created) only once its claim is Bound; `IPAMReady` says what it waits for.
//!
//! An inline `ipamClaim.spec` becomes a claim `<deployment>-ipam` owned by the deployment; a
//! `ipamClaim.ref` must name a claim whose `spec.cluster` is this deployment. The user's
//! `spec.config` is never rewritten: the IPAM values are merged into the HelmRelease only.

use std::sync::Arc;

use ipam_kube_support::conditions::{self, Decision};
use ipam_kube_support::reconcile_error::{ReconcileError, Reconciling};
use ipam_kube_support::{scope, status};
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::{Value, json};

use super::{flux, helm_values};
use crate::api::{ClusterDeployment, ClusterIPAM, ClusterIPAMClaim, ClusterTemplate};

pub const MANAGER: &str = "ipam-operator-clusterdeployment";
pub const IPAM_READY: &str = "IPAMReady";
pub const TEMPLATE_READY: &str = "TemplateReady";
pub const HELM_RELEASE_READY: &str = "HelmReleaseReady";

pub struct Context {
    pub client: Client,
}

/// The claim a deployment uses, if IPAM is enabled (kcm writes `ipamClaim: {}` when it is not).
pub fn claim_name(cd: &ClusterDeployment) -> Option<String> {
    let source = cd.spec.ipam_claim.as_ref()?;
    if source.spec.is_some() {
        return Some(format!("{}-ipam", cd.name_any()));
    }
    source.reference.clone().filter(|r| !r.is_empty())
}

/// What the IPAM side of a deployment came to.
enum Ipam {
    Disabled,
    Waiting(Decision),
    Bound(serde_json::Map<String, Value>, Decision),
}

pub async fn reconcile(
    cd: Arc<ClusterDeployment>,
    ctx: Arc<Context>,
) -> Result<Action, ReconcileError> {
    let ns = cd.namespace().unwrap_or_default();
    let name = cd.name_any();
    let fail = Reconciling::new(cd.as_ref());
    if cd.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ipam = ipam(&cd, &ctx).await.map_err(fail.at("read the claim"))?;
    let mut decisions = Vec::new();
    let ipam_values = match ipam {
        Ipam::Disabled => None,
        Ipam::Waiting(d) => {
            decisions.push(d);
            decisions.push(Decision::new(
                HELM_RELEASE_READY,
                false,
                "WaitingForIPAM",
                "not created until the IPAM claim is bound",
            ));
            write(&ctx, &cd, &decisions)
                .await
                .map_err(fail.at("write status"))?;
            return Ok(Action::await_change());
        }
        Ipam::Bound(values, d) => {
            decisions.push(d);
            Some(values)
        }
    };

    let Some(template) = Api::<ClusterTemplate>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&cd.spec.template)
        .await
        .map_err(fail.at("read the ClusterTemplate"))?
    else {
        decisions.push(Decision::new(
            TEMPLATE_READY,
            false,
            "Failed",
            format!(
                "failed to get ClusterTemplate {ns}/{}: not found",
                cd.spec.template
            ),
        ));
        write(&ctx, &cd, &decisions)
            .await
            .map_err(fail.at("write status"))?;
        return Ok(Action::await_change());
    };
    let template_status = template.status.clone().unwrap_or_default();
    if !template_status.valid {
        let mut message = format!(
            "ClusterTemplate {ns}/{} is not marked as valid",
            cd.spec.template
        );
        if let Some(e) = template_status
            .validation_error
            .as_deref()
            .filter(|e| !e.is_empty())
        {
            message.push_str(&format!(": {e}"));
        }
        decisions.push(Decision::new(TEMPLATE_READY, false, "Failed", message));
        write(&ctx, &cd, &decisions)
            .await
            .map_err(fail.at("write status"))?;
        return Ok(Action::await_change());
    }
    decisions.push(Decision::new(
        TEMPLATE_READY,
        true,
        "Succeeded",
        format!("ClusterTemplate {ns}/{} is valid", cd.spec.template),
    ));

    let values = match ipam_values {
        Some(ipam) => helm_values::with_ipam(cd.spec.config.as_ref(), ipam),
        None => cd.spec.config.clone().unwrap_or_else(|| json!({})),
    };
    let release = helm_release(&cd, &template, values);
    if cd.spec.dry_run == Some(true) {
        decisions.push(Decision::new(
            HELM_RELEASE_READY,
            false,
            "DryRun",
            format!("dry run: HelmRelease {ns}/{name} rendered, not created"),
        ));
        write(&ctx, &cd, &decisions)
            .await
            .map_err(fail.at("write status"))?;
        return Ok(Action::await_change());
    }
    let releases =
        Api::<DynamicObject>::namespaced_with(ctx.client.clone(), &ns, &flux::helm_release());
    match releases.patch(&name, &PatchParams::apply(MANAGER).force(), &Patch::Apply(&release)).await {
        Ok(_) => decisions.push(Decision::new(HELM_RELEASE_READY, true, "Applied", format!("HelmRelease {ns}/{name} is applied"))),
        Err(kube::Error::Api(e)) if e.code == 404 => decisions.push(Decision::new(
            HELM_RELEASE_READY,
            false,
            "FluxNotInstalled",
            "the HelmRelease kind (helm.toolkit.fluxcd.io/v2) is not served: install Flux's helm-controller",
        )),
        Err(e) => return Err(fail.at("apply the HelmRelease")(e)),
    }
    write(&ctx, &cd, &decisions)
        .await
        .map_err(fail.at("write status"))?;
    Ok(Action::await_change())
}

async fn ipam(cd: &ClusterDeployment, ctx: &Context) -> Result<Ipam, kube::Error> {
    let Some(claim_name) = claim_name(cd) else {
        return Ok(Ipam::Disabled);
    };
    let ns = cd.namespace().unwrap_or_default();
    let claims = Api::<ClusterIPAMClaim>::namespaced(ctx.client.clone(), &ns);
    let inline = cd.spec.ipam_claim.as_ref().and_then(|c| c.spec.clone());
    let claim = match inline {
        Some(mut spec) => {
            // The inline claim follows the deployment: edits to it are reverted, as in kcm.
            spec.cluster_ipam_ref = Some(claim_name.clone());
            spec.cluster = Some(cd.name_any());
            let owner = cd.controller_owner_ref(&()).map(|mut o| {
                o.controller = None;
                o
            });
            let body = json!({
                "apiVersion": ClusterIPAMClaim::api_version(&()),
                "kind": "ClusterIPAMClaim",
                "metadata": {"name": claim_name, "ownerReferences": owner.into_iter().collect::<Vec<_>>()},
                "spec": spec,
            });
            let claim = claims
                .patch(
                    &claim_name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&body),
                )
                .await?;
            // kcm writes the claim's name back into `ipamClaim.ref`; manifests rely on it.
            let reference = cd
                .spec
                .ipam_claim
                .as_ref()
                .and_then(|c| c.reference.as_deref());
            if reference != Some(claim_name.as_str()) {
                let patch = json!({"spec": {"ipamClaim": {"ref": claim_name}}});
                Api::<ClusterDeployment>::namespaced(ctx.client.clone(), &ns)
                    .patch(
                        &cd.name_any(),
                        &PatchParams::default(),
                        &Patch::Merge(&patch),
                    )
                    .await?;
            }
            claim
        }
        None => match claims.get_opt(&claim_name).await? {
            Some(claim) => claim,
            None => {
                return Ok(Ipam::Waiting(Decision::new(
                    IPAM_READY,
                    false,
                    "ClaimNotFound",
                    format!(
                        "ClusterIPAMClaim {ns}/{claim_name} named by spec.ipamClaim.ref does not exist"
                    ),
                )));
            }
        },
    };
    if claim.spec.cluster.as_deref() != Some(cd.name_any().as_str()) {
        return Ok(Ipam::Waiting(Decision::new(
            IPAM_READY,
            false,
            "ClaimForAnotherCluster",
            format!(
                "ClusterIPAMClaim {ns}/{claim_name} has spec.cluster {:?}; set it to {:?} to use it for this deployment",
                claim.spec.cluster.clone().unwrap_or_default(),
                cd.name_any()
            ),
        )));
    }
    let claim_status = claim.status.clone().unwrap_or_default();
    if !claim_status.bound {
        let why = conditions::find(&claim_status.conditions, conditions::READY)
            .map(|c| c.message.clone())
            .unwrap_or_else(|| "not reported yet".into());
        return Ok(Ipam::Waiting(Decision::new(
            IPAM_READY,
            false,
            "WaitingForClaim",
            format!("waiting for ClusterIPAMClaim {ns}/{claim_name} to be bound: {why}"),
        )));
    }
    let ipam_name = claim
        .spec
        .cluster_ipam_ref
        .clone()
        .filter(|r| !r.is_empty())
        .unwrap_or(claim_name.clone());
    let Some(ipam) = Api::<ClusterIPAM>::namespaced(ctx.client.clone(), &ns)
        .get_opt(&ipam_name)
        .await?
    else {
        return Ok(Ipam::Waiting(Decision::new(
            IPAM_READY,
            false,
            "WaitingForClaim",
            format!("ClusterIPAM {ns}/{ipam_name} does not exist yet"),
        )));
    };
    let data = ipam.status.map(|s| s.provider_data).unwrap_or_default();
    Ok(Ipam::Bound(
        helm_values::ipam_values(&data),
        Decision::new(
            IPAM_READY,
            true,
            "Bound",
            format!("ClusterIPAMClaim {ns}/{claim_name} is bound"),
        ),
    ))
}

/// The HelmRelease, as kcm renders it: named like the deployment, from the template's chart,
/// reconciled at the template's interval, with the values worked out above.
fn helm_release(cd: &ClusterDeployment, template: &ClusterTemplate, values: Value) -> Value {
    let ns = cd.namespace().unwrap_or_default();
    let status = template.status.clone().unwrap_or_default();
    let chart_ref = match status.chart_ref {
        Some(r) => {
            json!({"kind": r.kind, "name": r.name, "namespace": r.namespace.unwrap_or(ns.clone())})
        }
        None => json!({"kind": "HelmChart", "name": template.name_any(), "namespace": ns}),
    };
    let interval = template
        .spec
        .helm
        .chart_spec
        .as_ref()
        .map(|c| c.interval.clone())
        .unwrap_or_else(|| "10m".into());
    json!({
        "apiVersion": "helm.toolkit.fluxcd.io/v2",
        "kind": "HelmRelease",
        "metadata": {"name": cd.name_any(), "ownerReferences": [cd.controller_owner_ref(&())]},
        "spec": {"chartRef": chart_ref, "interval": interval, "releaseName": cd.name_any(), "values": values},
    })
}

async fn write(
    ctx: &Context,
    cd: &ClusterDeployment,
    decisions: &[Decision],
) -> Result<(), kube::Error> {
    let current = cd.status.clone().unwrap_or_default();
    let generation = cd.metadata.generation;
    if decisions
        .iter()
        .all(|d| conditions::matches(&current.conditions, d, generation))
    {
        return Ok(());
    }
    let mut conditions = current.conditions.clone();
    for decision in decisions {
        conditions::set(&mut conditions, decision, generation);
    }
    let api = Api::<ClusterDeployment>::namespaced(
        ctx.client.clone(),
        &cd.namespace().unwrap_or_default(),
    );
    status::apply(
        &api,
        MANAGER,
        &cd.name_any(),
        json!({"conditions": conditions, "observedGeneration": generation}),
    )
    .await
    .map(|_| ())
}

/// The ClusterDeployment controller, to be driven by [`super::run`].
pub fn controller(ctx: &Context, namespace: Option<&str>) -> Controller<ClusterDeployment> {
    let client = ctx.client.clone();
    let deployments: Api<ClusterDeployment> = scope::api(&client, namespace);
    let claims: Api<ClusterIPAMClaim> = scope::api(&client, namespace);
    let templates: Api<ClusterTemplate> = scope::api(&client, namespace);
    let controller = ipam_kube_support::readiness::controller(
        "k0rdent",
        deployments,
        watcher::Config::default().any_semantic(),
    );
    let by_claim = controller.store();
    let by_template = controller.store();
    controller
        .watches(
            claims,
            watcher::Config::default(),
            move |claim: ClusterIPAMClaim| {
                let ns = claim.namespace();
                by_claim
                    .state()
                    .into_iter()
                    .filter(|cd| {
                        cd.namespace() == ns
                            && claim_name(cd).as_deref() == Some(claim.name_any().as_str())
                    })
                    .map(|cd| ObjectRef::from_obj(cd.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
        .watches(
            templates,
            watcher::Config::default(),
            move |template: ClusterTemplate| {
                let ns = template.namespace();
                by_template
                    .state()
                    .into_iter()
                    .filter(|cd| cd.namespace() == ns && cd.spec.template == template.name_any())
                    .map(|cd| ObjectRef::from_obj(cd.as_ref()))
                    .collect::<Vec<_>>()
            },
        )
}
