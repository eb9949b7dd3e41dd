//! The k0rdent scenario: ClusterDeployments with an inline IPAM claim, each done when its Flux
//! HelmRelease exists (the operator creates it only once the claim is bound).

use std::sync::Arc;

use futures::StreamExt;
use kube::Client;
use kube::api::{Patch, PatchParams, PostParams};
use serde_json::json;

use crate::measure::{Limits, Window};
use crate::ready_watch::ReadyWatch;
use crate::report::Report;
use crate::retry::{Call, retried};
use crate::{duplicates, face::Face, kinds, setup};

#[derive(Debug, Clone)]
pub struct K0rdentLoad {
    pub scenario: String,
    pub system: String,
    pub namespace: String,
    pub deployments: usize,
    pub concurrency: usize,
    pub limits: Limits,
}

const TEMPLATE: &str = "vsphere-standalone-cp";

pub async fn run(client: &Client, load: &K0rdentLoad) -> anyhow::Result<Report> {
    setup::namespace(client, &load.namespace).await?;
    template(client, &load.namespace).await?;
    let releases = kinds::api(client, &load.namespace, &kinds::helm_release());
    let watch = ReadyWatch::start(releases, |_| true).await?;
    let deployments = kinds::api(client, &load.namespace, &kinds::cluster_deployment());
    let window = Arc::new(Window::open(client).await?);
    let failures: Vec<String> = futures::stream::iter(0..load.deployments)
        .map(|i| {
            let (window, deployments) = (window.clone(), deployments.clone());
            async move {
                let name = format!("cd-{i:04}");
                let body = deployment(&name, i);
                window.sending(&name);
                let call = Call {
                    verb: "POST",
                    resource: "clusterdeployments",
                    ok: "201",
                };
                let params = PostParams::default();
                let created =
                    retried(&window.tally, call, || deployments.create(&params, &body)).await;
                created.err().map(|e| format!("{name}: {e}"))
            }
        })
        .buffer_unordered(load.concurrency)
        .filter_map(|failed| async move { failed })
        .collect()
        .await;
    let notes = failures
        .first()
        .map(|first| {
            vec![format!(
                "{} deployments not created, first: {first}",
                failures.len()
            )]
        })
        .unwrap_or_default();
    let report = window
        .close(client, &watch, load.deployments, &load.limits, notes)
        .await?;
    // Binding a claim reserves capacity; no address is handed out until machines ask, but
    // whatever exists is checked all the same.
    let addresses = kinds::api(client, &load.namespace, &kinds::capi_address());
    let (addresses, duplicates) =
        duplicates::count(&addresses, |a| Face::Capi.pool_and_address(a)).await?;
    Ok(Report {
        scenario: load.scenario.clone(),
        system: load.system.clone(),
        concurrency: load.concurrency,
        pools: load.deployments,
        addresses,
        duplicates,
        ..report
    })
}

/// The ClusterTemplate every deployment names, made valid by the operator's template
/// controller: its HelmRepository exists and the HelmChart the controller makes is given the
/// Ready status and artifact Flux's source-controller would write (fetching a chart is not
/// part of the benchmark).
async fn template(client: &Client, namespace: &str) -> anyhow::Result<()> {
    let repository = kinds::helm_repository();
    kinds::api(client, namespace, &repository)
        .create(
            &PostParams::default(),
            &kinds::object(
                &repository,
                json!({"metadata": {"name": "kcm-templates"},
                       "spec": {"url": "http://127.0.0.1:9/", "interval": "10m"}}),
            ),
        )
        .await?;
    let kind = kinds::cluster_template();
    let api = kinds::api(client, namespace, &kind);
    let template = kinds::object(
        &kind,
        json!({"metadata": {"name": TEMPLATE}, "spec": {"helm": {"chartSpec": {
            "chart": TEMPLATE, "version": "1.0.42", "interval": "10m0s",
            "sourceRef": {"kind": "HelmRepository", "name": "kcm-templates"}}}}}),
    );
    api.create(&PostParams::default(), &template).await?;
    let charts = kinds::api(client, namespace, &kinds::helm_chart());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let chart = loop {
        if let Some(chart) = charts.get_opt(TEMPLATE).await? {
            break chart;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "the operator made no HelmChart for ClusterTemplate {TEMPLATE} within 60s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    let status = json!({"apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmChart",
        "status": {"observedGeneration": chart.metadata.generation,
                   "conditions": [{"type": "Ready", "status": "True", "reason": "ChartPullSucceeded",
                                   "message": "stand-in for source-controller", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                   "artifact": {"path": "helmchart/t.tgz", "url": "http://127.0.0.1:9/helmchart/t.tgz", "revision": "1.0.42",
                                "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000000",
                                "lastUpdateTime": "2026-01-01T00:00:00Z"}}});
    charts
        .patch_status(
            TEMPLATE,
            &PatchParams::apply("source-controller-stand-in").force(),
            &Patch::Apply(&status),
        )
        .await?;
    Ok(())
}

/// Deployment `i` with an inline claim on a /24 of its own, `10.200+i/256.i%256.0/24`: three
/// machines, so three addresses must be available for the claim to bind.
fn deployment(name: &str, i: usize) -> kube::core::DynamicObject {
    let (high, low) = (200 + i / 256, i % 256);
    kinds::object(
        &kinds::cluster_deployment(),
        json!({"metadata": {"name": name},
               "spec": {"template": TEMPLATE, "credential": "vsphere-cred",
                        "config": {"controlPlaneNumber": 1, "workersNumber": 2},
                        "ipamClaim": {"spec": {"provider": "in-cluster", "nodeNetwork": {
                            "cidr": format!("10.{high}.{low}.0/24"), "gateway": format!("10.{high}.{low}.1"),
                            "prefix": 24}}}}}),
    )
}
