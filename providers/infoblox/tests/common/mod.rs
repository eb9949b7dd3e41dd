//! Shared by the Infoblox tests: a namespace with the CRDs installed, a wapi-sim of the
//! test's own, an InfobloxInstance and InfobloxIPPool pointing at it, and an operator
//! instance scoped to the namespace.
#![allow(dead_code)] // each test binary uses a different part

mod machines;

use std::time::Duration;

use ipam_infoblox::api::{InfobloxIPPool, InfobloxInstance};
use ipam_kube_support::capi::{IPAddress, IPAddressClaim};
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use k8s_openapi::api::core::v1::Secret;
use kube::api::PostParams;
use kube::runtime::events::Reporter;
use kube::{Api, Resource};
use serde_json::{Value, json};

pub use ipam_test_support::eventually;
pub use ipam_test_support::wapi_sim::Sim;

pub const USERNAME: &str = "ops";
/// Distinctive, so a test can tell it never leaks into logs, events or status.
pub const PASSWORD: &str = "Pa55-n3ver-logged";

pub struct Env {
    pub ns: TestNamespace,
    pub sim: Sim,
    /// The InfobloxInstance's name (cluster-scoped, so unique per test).
    pub instance: String,
}

pub async fn setup(prefix: &str) -> Env {
    let sim = Sim::start(USERNAME, PASSWORD).await;
    let credentials = json!({"type": "kubernetes.io/basic-auth",
                             "stringData": {"username": USERNAME, "password": PASSWORD}});
    setup_with(prefix, sim, credentials).await
}

/// [`setup`] with the test's own sim and credentials Secret (`type` and `stringData`).
pub async fn setup_with(prefix: &str, sim: Sim, credentials: Value) -> Env {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,ipam_infoblox=debug".into()),
        )
        .with_writer(|| LogWriter)
        .with_ansi(false)
        .try_init();
    let ns = TestNamespace::new(prefix).await;
    let mut crds = capi_crds();
    crds.extend(ipam_infoblox::crds());
    install_crds(&ns.client, &crds).await;
    sim.seed(json!({
        "network_views": ["nv"],
        "zones": [{"fqdn": "example.com", "view": "default.nv"}],
        "networks": [
            {"network": "10.0.1.0/29", "network_view": "nv"},
            {"network": "10.0.2.0/24", "network_view": "nv"}
        ]
    }))
    .await;
    let mut secret = json!({"apiVersion": "v1", "kind": "Secret",
                            "metadata": {"name": "infoblox-credentials"}});
    for (k, v) in credentials.as_object().unwrap() {
        secret[k] = v.clone();
    }
    create(&ns.api::<Secret>(), secret).await;
    create(
        &ns.api::<Secret>(),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "infoblox-ca"},
               "stringData": {"ca.crt": String::from_utf8(sim.ca_pem.clone()).unwrap()}}),
    )
    .await;
    let instance = ns.name.clone();
    let env = Env { ns, sim, instance };
    create(&env.instances(), env.instance_body(json!({}))).await;
    env
}

impl Env {
    pub fn instances(&self) -> Api<InfobloxInstance> {
        Api::all(self.ns.client.clone())
    }

    /// The test's InfobloxInstance, with `extra` merged into its spec.
    pub fn instance_body(&self, extra: Value) -> Value {
        let mut spec = json!({
            "host": "127.0.0.1", "port": self.sim.port(), "wapiVersion": "2.12",
            "credentialsSecretRef": {"name": "infoblox-credentials", "namespace": self.ns.name},
            "caBundleRef": {"kind": "Secret", "name": "infoblox-ca", "namespace": self.ns.name},
            "connectTimeoutSeconds": 2, "requestTimeoutSeconds": 2
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InfobloxInstance",
               "metadata": {"name": self.instance, "labels": {"cluster.x-k8s.io/watch-filter": self.ns.name}},
               "spec": spec})
    }

    pub fn pools(&self) -> Api<InfobloxIPPool> {
        self.ns.api()
    }

    pub fn claims(&self) -> Api<IPAddressClaim> {
        self.ns.api()
    }

    pub fn addresses(&self) -> Api<IPAddress> {
        self.ns.api()
    }

    pub async fn pool(&self, name: &str, extra: Value) -> InfobloxIPPool {
        self.pool_in(&self.ns.name, name, extra).await
    }

    /// [`Env::pool`] in namespace `ns`, for the test's operator to serve too.
    pub async fn pool_in(&self, ns: &str, name: &str, extra: Value) -> InfobloxIPPool {
        let mut spec = json!({
            "instance": {"name": self.instance},
            "networkView": "nv",
            "subnets": [{"cidr": "10.0.1.0/29", "gateway": "10.0.1.1"}]
        });
        for (k, v) in extra.as_object().unwrap() {
            spec[k] = v.clone();
        }
        create(
            &Api::namespaced(self.ns.client.clone(), ns),
            json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha1", "kind": "InfobloxIPPool",
                   "metadata": {"name": name, "labels": {"cluster.x-k8s.io/watch-filter": self.ns.name}},
                   "spec": spec}),
        )
        .await
    }

    pub async fn claim(&self, name: &str, pool: &str) -> IPAddressClaim {
        self.claim_in(&self.ns.name, name, pool).await
    }

    /// [`Env::claim`] in namespace `ns`.
    pub async fn claim_in(&self, ns: &str, name: &str, pool: &str) -> IPAddressClaim {
        create(
            &Api::namespaced(self.ns.client.clone(), ns),
            json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
                   "metadata": {"name": name, "labels": {"cluster.x-k8s.io/watch-filter": self.ns.name}},
                   "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InfobloxIPPool", "name": pool}}}),
        )
        .await
    }

    /// Runs the Infoblox controllers for this namespace until the returned [`Operator`] is
    /// dropped or stopped.
    pub fn operator(&self) -> Operator {
        self.operator_in(Some(self.ns.name.clone()))
    }

    /// [`Env::operator`] for every namespace; it still serves only objects labelled with this
    /// test's watch filter, so other tests' objects are left alone.
    pub fn operator_in_all_namespaces(&self) -> Operator {
        self.operator_in(None)
    }

    fn operator_in(&self, namespace: Option<String>) -> Operator {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let config = ipam_infoblox::Config {
            scope: ipam_infoblox::config::Scope {
                namespace,
                watch_filter: Some(self.ns.name.clone()),
            },
            secret_namespace: self.ns.name.clone(),
            concurrency: 4,
            resync: Duration::from_secs(2),
            retry: Duration::from_millis(500),
        };
        let reporter = Reporter {
            controller: "ipam-operator-test".into(),
            instance: Some(self.ns.name.clone()),
        };
        let task = tokio::spawn(ipam_infoblox::run(
            self.ns.client.clone(),
            config,
            reporter,
            async move {
                let _ = stopped.await;
            },
        ));
        Operator {
            stop: Some(stop),
            task,
        }
    }

    /// The claim's `Ready` condition as (status, message), once its reason is `reason`.
    pub async fn claim_reason(&self, name: &str, reason: &str) -> (String, String) {
        self.claim_reason_in(&self.ns.name, name, reason).await
    }

    /// [`Env::claim_reason`] in namespace `ns`.
    pub async fn claim_reason_in(&self, ns: &str, name: &str, reason: &str) -> (String, String) {
        let api: Api<IPAddressClaim> = Api::namespaced(self.ns.client.clone(), ns);
        eventually(
            30,
            &format!("claim {name} Ready reason {reason}"),
            || async {
                let claim = api.get(name).await.ok()?;
                let ready = claim
                    .status?
                    .conditions
                    .into_iter()
                    .find(|c| c.type_ == "Ready")?;
                (ready.reason == reason).then_some((ready.status, ready.message))
            },
        )
        .await
    }

    /// Deletes the cluster-scoped InfobloxInstance and the namespace, so a passing test
    /// leaves nothing behind.
    ///
    /// Claims and pools go first, while the test's operator still runs to release them, so
    /// no finalizer is left without a controller.
    pub async fn finish(self) {
        let (claims, pools) = (self.claims(), self.pools());
        let _ = claims
            .delete_collection(&Default::default(), &Default::default())
            .await;
        let _ = pools
            .delete_collection(&Default::default(), &Default::default())
            .await;
        let drained = async {
            loop {
                let left_claims = claims
                    .list(&Default::default())
                    .await
                    .map(|l| l.items.len());
                let left_pools = pools.list(&Default::default()).await.map(|l| l.items.len());
                if matches!((left_claims, left_pools), (Ok(0), Ok(0))) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(30), drained).await;
        let _ = self
            .instances()
            .delete(&self.instance, &Default::default())
            .await;
        self.ns.delete().await;
    }

    /// The IPAddress of an allocated claim.
    pub async fn allocated(&self, name: &str) -> IPAddress {
        self.allocated_in(&self.ns.name, name).await
    }

    /// [`Env::allocated`] in namespace `ns`.
    pub async fn allocated_in(&self, ns: &str, name: &str) -> IPAddress {
        let client = &self.ns.client;
        let (claims, addresses): (Api<IPAddressClaim>, Api<IPAddress>) = (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        );
        eventually(30, &format!("claim {name} allocated"), || async {
            let claim = claims.get(name).await.ok()?;
            let reference = claim.status?.address_ref?;
            addresses.get_opt(&reference.name).await.ok().flatten()
        })
        .await
    }
}

/// A running operator. Dropped, it is told to stop and may still finish the passes under way;
/// [`Operator::stop`] waits until it has.
pub struct Operator {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Operator {
    /// Stops the operator and waits until its controllers have finished, so nothing it does
    /// afterwards races the test.
    pub async fn stop(mut self) {
        drop(self.stop.take());
        (&mut self.task).await.expect("the operator stops cleanly");
    }
}

static LOG: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Every log line of this test binary so far.
pub fn logs() -> String {
    String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned()
}

/// Keeps each log line for [`logs`] and prints it for the test harness to show on failure.
struct LogWriter;

impl std::io::Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        print!("{}", String::from_utf8_lossy(buf));
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub async fn create<K>(api: &Api<K>, body: Value) -> K
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned + serde::Serialize,
{
    let obj: K = serde_json::from_value(body).expect("test object deserializes");
    api.create(&PostParams::default(), &obj)
        .await
        .expect("API server accepts the object")
}

/// The InfobloxInstance's condition `type_` as (reason, message), once its status is `status`.
pub async fn instance_condition(
    api: &Api<InfobloxInstance>,
    name: &str,
    type_: &str,
    status: &str,
) -> (String, String) {
    eventually(30, &format!("instance {type_}={status}"), || async {
        let i = api.get(name).await.ok()?;
        let c = i
            .status?
            .conditions
            .into_iter()
            .find(|c| c.type_ == type_)?;
        (c.status == status).then_some((c.reason, c.message))
    })
    .await
}

pub async fn gone<K>(api: &Api<K>, name: &str)
where
    K: Resource + Clone + std::fmt::Debug + serde::de::DeserializeOwned,
{
    eventually(30, &format!("{name} gone"), || async {
        api.get_opt(name).await.ok()?.is_none().then_some(())
    })
    .await
}
