//! The operator process: connect, check that what it serves is installed, serve until told
//! to stop.

use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::{Api, Client};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot reach the Kubernetes API server: {0}")]
    Connect(#[source] kube::Error),
    #[error(
        "CustomResourceDefinition {name} is not installed: install crds/ (or the Helm chart) first"
    )]
    CrdMissing { name: String },
    #[error("cannot read CustomResourceDefinition {name}: {source}")]
    CrdRead { name: String, source: kube::Error },
}

pub async fn run() -> Result<(), RunError> {
    let client = Client::try_default().await.map_err(RunError::Connect)?;
    let version = client
        .apiserver_version()
        .await
        .map_err(RunError::Connect)?;
    tracing::info!(server = %version.git_version, "connected to the API server");
    require_crds(&client).await?;
    tracing::info!("every CustomResourceDefinition is installed; serving until SIGTERM or SIGINT");
    shutdown_signal().await;
    tracing::info!("shutting down");
    Ok(())
}

/// A missing CRD would otherwise show up later as watch errors that never name it.
async fn require_crds(client: &Client) -> Result<(), RunError> {
    let api = Api::<CustomResourceDefinition>::all(client.clone());
    for crd in crate::crds::all() {
        let name = crd.metadata.name.unwrap_or_default();
        match api.get_opt(&name).await {
            Ok(Some(_)) => {}
            Ok(None) => return Err(RunError::CrdMissing { name }),
            Err(source) => return Err(RunError::CrdRead { name, source }),
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("install the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}
