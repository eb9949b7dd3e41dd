//! The pool webhook of one test: served in-process on a free loopback port with a generated
//! certificate, and registered with the API server under the test's own
//! ValidatingWebhookConfiguration, scoped so that tests running at once never see each
//! other's webhook: namespaced pools by the test namespace, global pools by a label.

use ipam_in_cluster::api::{GlobalInClusterIPPool, InClusterIPPool};
use ipam_in_cluster::webhook::metal3::{ADDRESS_PATH, CLAIM_PATH, POOL_PATH};
use ipam_in_cluster::webhook::{GLOBAL_PATH, IN_CLUSTER_PATH, prefix, router};
use ipam_kube_support::webhook::{admission, serve, tls};
use ipam_test_support::TestNamespace;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::api::{DeleteParams, PostParams};
use kube::core::Status;
use kube::{Api, Client};
use serde_json::json;

use crate::common::{eventually, global_pool, pool};

/// The upstream's webhook names, which the API server quotes in every denial.
pub const IN_CLUSTER_WEBHOOK: &str = "validation.inclusterippool.ipam.cluster.x-k8s.io";
pub const GLOBAL_WEBHOOK: &str = "validation.globalinclusterippool.ipam.cluster.x-k8s.io";
pub const PREFIX_WEBHOOK: &str = "validation.inclusterprefixpool.ipam.cluster.x-k8s.io";
pub const GLOBAL_PREFIX_WEBHOOK: &str =
    "validation.globalinclusterprefixpool.ipam.cluster.x-k8s.io";
/// Global pools carrying this label, with the test namespace's name, go to the test's webhook.
pub const GLOBAL_LABEL: &str = "ipam-operator.test/webhook";

pub struct Webhook {
    client: Client,
    name: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Webhook {
    /// Serves the webhook for `ns` and waits until the API server calls it.
    pub async fn start(ns: &TestNamespace) -> Webhook {
        let generated = tls::generate(&["127.0.0.1".to_string()]).expect("generate a certificate");
        let config =
            tls::server_config(&generated.serving, &Default::default()).expect("TLS configuration");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind a loopback port");
        let port = listener.local_addr().unwrap().port();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(serve(
            listener,
            config,
            admission(router(ns.client.clone())),
            async {
                let _ = stopped.await;
            },
        ));

        let url = |path: &str| format!("https://127.0.0.1:{port}{path}");
        let common = json!({
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
            "matchPolicy": "Equivalent", "timeoutSeconds": 10,
        });
        let webhook = |name: &str,
                       path: &str,
                       resource: &str,
                       scope: &str,
                       selector: (&str, serde_json::Value)| {
            let mut w = common.clone();
            w["name"] = json!(name);
            w["clientConfig"] = json!({"url": url(path)});
            w["rules"] = json!([{"apiGroups": ["ipam.cluster.x-k8s.io"], "apiVersions": ["v1alpha2"],
                "operations": ["CREATE", "UPDATE", "DELETE"], "resources": [resource], "scope": scope}]);
            w[selector.0] = selector.1;
            w
        };
        let mut configuration: ValidatingWebhookConfiguration = serde_json::from_value(json!({
            "metadata": {"name": ns.name},
            "webhooks": [
                webhook(IN_CLUSTER_WEBHOOK, IN_CLUSTER_PATH, "inclusterippools", "Namespaced",
                    ("namespaceSelector", json!({"matchLabels": {"kubernetes.io/metadata.name": ns.name}}))),
                // A namespace selector does not apply to cluster-scoped objects.
                webhook(GLOBAL_WEBHOOK, GLOBAL_PATH, "globalinclusterippools", "Cluster",
                    ("objectSelector", json!({"matchLabels": {GLOBAL_LABEL: ns.name}}))),
                webhook(PREFIX_WEBHOOK, prefix::IN_CLUSTER_PATH, "inclusterprefixpools", "Namespaced",
                    ("namespaceSelector", json!({"matchLabels": {"kubernetes.io/metadata.name": ns.name}}))),
                webhook(GLOBAL_PREFIX_WEBHOOK, prefix::GLOBAL_PATH, "globalinclusterprefixpools", "Cluster",
                    ("objectSelector", json!({"matchLabels": {GLOBAL_LABEL: ns.name}}))),
            ]
        }))
        .unwrap();
        // Metal3's kinds, on create and update as upstream, in the test's namespace.
        for (kind, path, resource) in [
            ("ippool", POOL_PATH, "ippools"),
            ("ipclaim", CLAIM_PATH, "ipclaims"),
            ("ipaddress", ADDRESS_PATH, "ipaddresses"),
        ] {
            let mut w = webhook(
                &format!("validation.{kind}.ipam.metal3.io"),
                path,
                resource,
                "Namespaced",
                (
                    "namespaceSelector",
                    json!({"matchLabels": {"kubernetes.io/metadata.name": ns.name}}),
                ),
            );
            w["rules"] = json!([{"apiGroups": ["ipam.metal3.io"], "apiVersions": ["v1alpha1"],
                "operations": ["CREATE", "UPDATE"], "resources": [resource], "scope": "Namespaced"}]);
            configuration
                .webhooks
                .get_or_insert_default()
                .push(serde_json::from_value(w).unwrap());
        }
        for webhook in configuration.webhooks.iter_mut().flatten() {
            webhook.client_config.ca_bundle = Some(ByteString(generated.ca.clone().into_bytes()));
        }
        Api::<ValidatingWebhookConfiguration>::all(ns.client.clone())
            .create(&PostParams::default(), &configuration)
            .await
            .expect("register the webhook");
        let webhook = Webhook {
            client: ns.client.clone(),
            name: ns.name.clone(),
            _stop: stop,
        };
        webhook.wait_until_called(ns).await;
        webhook
    }

    /// The API server picks a new configuration up from a watch: probe both webhooks with a
    /// dry-run create the schema allows and the webhook refuses, until it is refused.
    async fn wait_until_called(&self, ns: &TestNamespace) {
        let dry_run = PostParams {
            dry_run: true,
            ..Default::default()
        };
        let empty = json!({"addresses": [], "prefix": 24});
        let namespaced: InClusterIPPool =
            serde_json::from_value(pool("probe", empty.clone())).unwrap();
        let global: GlobalInClusterIPPool =
            serde_json::from_value(global_pool("probe", json!({GLOBAL_LABEL: ns.name}), empty))
                .unwrap();
        eventually(30, "the API server to call the test's webhook", || async {
            let a = ns
                .api::<InClusterIPPool>()
                .create(&dry_run, &namespaced)
                .await;
            let b = Api::<GlobalInClusterIPPool>::all(ns.client.clone())
                .create(&dry_run, &global)
                .await;
            (by_webhook(a.err()) && by_webhook(b.err())).then_some(())
        })
        .await;
    }

    /// Unregisters the webhook; the server stops when the webhook is dropped.
    pub async fn remove(self) {
        let _ = Api::<ValidatingWebhookConfiguration>::all(self.client.clone())
            .delete(&self.name, &DeleteParams::default())
            .await;
    }
}

fn by_webhook(error: Option<kube::Error>) -> bool {
    matches!(error, Some(kube::Error::Api(s)) if s.message.starts_with("admission webhook"))
}

/// The Status of a refused request, whatever refused it.
pub fn refusal<T: std::fmt::Debug>(result: kube::Result<T>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected the API server to refuse the request, got {other:?}"),
    }
}

/// The message a client sees when `webhook` refuses with `message`.
pub fn denied_by(webhook: &str, message: &str) -> String {
    format!("admission webhook \"{webhook}\" denied the request: {message}")
}

/// Creates an object by a raw POST to `path` and returns the HTTP status and the warnings
/// the API server passed on (kube's typed calls drop the `Warning` headers).
pub async fn create_with_warnings(
    client: &Client,
    path: &str,
    body: serde_json::Value,
) -> (u16, Vec<String>) {
    let request = kube::core::Request::new(path)
        .create(&PostParams::default(), serde_json::to_vec(&body).unwrap())
        .unwrap();
    let response = client
        .send(request.map(kube::client::Body::from))
        .await
        .expect("the API server answers");
    let warnings = response
        .headers()
        .get_all("warning")
        .iter()
        .map(|value| {
            // `299 - "<text>"`, as RFC 7234 writes it.
            let text = value.to_str().unwrap();
            text.strip_prefix("299 - \"")
                .and_then(|t| t.strip_suffix('"'))
                .unwrap_or(text)
                .to_string()
        })
        .collect();
    (response.status().as_u16(), warnings)
}
