//! ipam-operator installed the way every Cluster API IPAM provider is: by `clusterctl`, from
//! a provider repository holding what `make release-manifests` renders. The real clusterctl
//! (`e2e/bin/build-clusterctl.sh`) reads a local file repository (its stand-ins for the
//! providers it insists on are described in `e2e/fixtures/clusterctl/README.md`), generates
//! the provider's components with their variables, and installs them on the test control
//! plane, where every object must pass the real API server.

use std::path::{Path, PathBuf};
use std::process::Command;

use ipam_test_support::scripts::{root, script_output};
use ipam_test_support::{capi_crds, client, crds_from_yaml, install_crds, kubeconfig_path};
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::core::{ApiResource, GroupVersionKind};

const VERSION: &str = concat!("v", env!("CARGO_PKG_VERSION"));
/// The Cluster API release the stand-in providers claim to be (clusterctl's own).
const CAPI_VERSION: &str = "v1.14.2";
const NAMESPACE: &str = "ipam-operator-system";

fn clusterctl() -> PathBuf {
    std::env::var_os("IPAM_CLUSTERCTL")
        .map(PathBuf::from)
        .unwrap_or_else(|| script_output("build-clusterctl.sh"))
        .join("clusterctl")
}

/// Runs clusterctl with the test's configuration; its stdout, or a panic with its output.
fn run(config: &Path, args: &[&str]) -> String {
    let out = Command::new(clusterctl())
        .args(args)
        .arg("--config")
        .arg(config)
        .env("KUBECONFIG", kubeconfig_path())
        // clusterctl would ask GitHub whether it is the newest release.
        .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
        .env("IPAM_OPERATOR_CONCURRENCY", "24")
        .output()
        .expect("run clusterctl");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    assert!(
        out.status.success(),
        "clusterctl {args:?} failed:\n{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// Writes `<repo>/<folder>/<version>/{file, metadata.yaml}` and returns the file's URL.
fn provider(repo: &Path, folder: &str, version: &str, file: &str, components: &str) -> String {
    let dir = repo.join(folder).join(version);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(file), components).unwrap();
    let minor: Vec<&str> = version.trim_start_matches('v').split('.').collect();
    std::fs::write(
        dir.join("metadata.yaml"),
        format!(
            "apiVersion: clusterctl.cluster.x-k8s.io/v1alpha3\nkind: Metadata\nreleaseSeries:\n  - major: {}\n    minor: {}\n    contract: v1beta2\n",
            minor[0], minor[1]
        ),
    )
    .unwrap();
    format!("file://{}", dir.join(file).display())
}

fn namespace_yaml(name: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {name}\n")
}

/// Removes what the install left cluster-wide that would disturb other tests (the webhook
/// configuration points at a Service no pod backs here), even when the test fails.
struct Cleanup(PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let kubectl = std::env::var_os("IPAM_TESTBIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| script_output("build-control-plane.sh"))
            .join("kubectl");
        let _ = Command::new(kubectl)
            .arg("--kubeconfig")
            .arg(kubeconfig_path())
            .args([
                "delete",
                "validatingwebhookconfiguration",
                "ipam-operator",
                "--ignore-not-found",
            ])
            .status();
        // The providers themselves (not the CRDs other tests use), and clusterctl's inventory.
        let _ = Command::new(clusterctl())
            .args(["delete", "--all", "--include-namespace", "--config"])
            .arg(&self.0)
            .env("KUBECONFIG", kubeconfig_path())
            .env("CLUSTERCTL_DISABLE_VERSIONCHECK", "true")
            .status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clusterctl_generates_and_installs_the_release_manifests() {
    let client = client().await;
    let work = root()
        .join("target/test-logs/clusterctl")
        .join(ipam_test_support::unique_name("run"));
    std::fs::create_dir_all(&work).unwrap();

    // What a release publishes, rendered by the project's own command.
    let release = work.join("release");
    let status = Command::new(root().join("e2e/bin/release-manifests.sh"))
        .arg(&release)
        .status()
        .unwrap();
    assert!(status.success(), "e2e/bin/release-manifests.sh failed");
    let components = std::fs::read_to_string(release.join("ipam-components.yaml")).unwrap();

    // The local repository: ours as released, the stand-ins beside it.
    let repo = work.join("repository");
    let ours = repo.join("ipam-ipam-operator").join(VERSION);
    std::fs::create_dir_all(&ours).unwrap();
    for file in ["ipam-components.yaml", "metadata.yaml"] {
        std::fs::copy(release.join(file), ours.join(file)).unwrap();
    }
    let ipam_url = format!("file://{}", ours.join("ipam-components.yaml").display());
    let mut core = namespace_yaml("capi-system");
    for entry in std::fs::read_dir(root().join("e2e/fixtures/capi")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            core.push_str("---\n");
            core.push_str(&std::fs::read_to_string(path).unwrap());
        }
    }
    let core_url = provider(
        &repo,
        "cluster-api",
        CAPI_VERSION,
        "core-components.yaml",
        &core,
    );
    let bootstrap_url = provider(
        &repo,
        "bootstrap-kubeadm",
        CAPI_VERSION,
        "bootstrap-components.yaml",
        &namespace_yaml("capi-kubeadm-bootstrap-system"),
    );
    let control_plane_url = provider(
        &repo,
        "control-plane-kubeadm",
        CAPI_VERSION,
        "control-plane-components.yaml",
        &namespace_yaml("capi-kubeadm-control-plane-system"),
    );
    let config = work.join("clusterctl.yaml");
    std::fs::write(
        &config,
        format!(
            "providers:\n\
             - name: cluster-api\n  type: CoreProvider\n  url: {core_url}\n\
             - name: kubeadm\n  type: BootstrapProvider\n  url: {bootstrap_url}\n\
             - name: kubeadm\n  type: ControlPlaneProvider\n  url: {control_plane_url}\n\
             - name: ipam-operator\n  type: IPAMProvider\n  url: {ipam_url}\n"
        ),
    )
    .unwrap();

    // generate: the variables are listed, and filled from the environment or their defaults.
    let variables = run(
        &config,
        &[
            "generate",
            "provider",
            "--ipam",
            &format!("ipam-operator:{VERSION}"),
            "--describe",
        ],
    );
    for var in [
        "IPAM_OPERATOR_CONTROLLERS",
        "IPAM_OPERATOR_CONCURRENCY",
        "IPAM_OPERATOR_LOG_LEVEL",
    ] {
        assert!(variables.contains(var), "{var} not listed:\n{variables}");
    }
    let generated = run(
        &config,
        &[
            "generate",
            "provider",
            "--ipam",
            &format!("ipam-operator:{VERSION}"),
        ],
    );
    assert!(generated.contains("- --concurrency=24"), "{generated}");
    assert!(
        generated.contains("- --controllers=in-cluster,infoblox,k0rdent,metal3"),
        "{generated}"
    );
    assert!(
        !generated.contains("${"),
        "a variable left unfilled:\n{generated}"
    );

    // init: cert-manager's API is there (the stand-in kinds), the CRDs ipam-operator serves
    // are installed as other tests install them, then clusterctl installs the providers.
    let mut crds = capi_crds();
    crds.extend(crds_from_yaml(
        &root().join("e2e/fixtures/clusterctl/cert-manager-crds.yaml"),
    ));
    install_crds(&client, &crds).await;
    let _cleanup = Cleanup(config.clone());
    run(
        &config,
        &[
            "init",
            "--core",
            &format!("cluster-api:{CAPI_VERSION}"),
            "--bootstrap",
            &format!("kubeadm:{CAPI_VERSION}"),
            "--control-plane",
            &format!("kubeadm:{CAPI_VERSION}"),
            "--ipam",
            &format!("ipam-operator:{VERSION}"),
        ],
    );

    // The objects landed, as clusterctl labels a provider's, with the variables applied.
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NAMESPACE);
    let deployment = deployments
        .get("ipam-operator")
        .await
        .expect("the Deployment");
    let labels = deployment.metadata.labels.clone().unwrap_or_default();
    assert_eq!(
        labels.get("cluster.x-k8s.io/provider").map(String::as_str),
        Some("ipam-ipam-operator")
    );
    let args = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert!(args.contains(&"--concurrency=24".to_string()), "{args:?}");
    let webhooks: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let webhook = webhooks.get("ipam-operator").await.expect("the webhook");
    let annotations = webhook.metadata.annotations.unwrap_or_default();
    assert_eq!(
        annotations
            .get("cert-manager.io/inject-ca-from")
            .map(String::as_str),
        Some("ipam-operator-system/ipam-operator-webhook")
    );
    let certificates = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "cert-manager.io",
            "v1",
            "Certificate",
        )),
    );
    certificates
        .get("ipam-operator-webhook")
        .await
        .expect("the webhook's Certificate");
    // clusterctl's inventory knows the provider, at this version.
    let inventory = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        NAMESPACE,
        &ApiResource::from_gvk(&GroupVersionKind::gvk(
            "clusterctl.cluster.x-k8s.io",
            "v1alpha3",
            "Provider",
        )),
    );
    let providers = inventory.list(&ListParams::default()).await.unwrap();
    let ours = providers
        .items
        .iter()
        .find(|p| p.metadata.name.as_deref() == Some("ipam-ipam-operator"))
        .expect("clusterctl's inventory lists ipam-operator");
    assert_eq!(ours.data["version"], VERSION);
    assert_eq!(ours.data["type"], "IPAMProvider");
    assert!(components.contains("kind: CustomResourceDefinition"));

    // The webhook must not outlive the test (see Cleanup); deleted here as well, so a
    // failure to delete it shows.
    webhooks
        .delete("ipam-operator", &DeleteParams::default())
        .await
        .expect("delete the webhook configuration");
}
