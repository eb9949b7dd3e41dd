//! `/metrics` of a real operator process: useful from the first scrape (process, build,
//! leader, webhook certificate), and after real flows — allocations, a pool exhausted with a
//! claim waiting, a claim on a missing pool, a release that lets the waiting claim through,
//! admission requests through the API server, the same on a Metal3 IPPool, a ClusterIPAM and
//! an InfobloxInstance — with each family's values. Then every metric name the chart's
//! alerts and dashboard use must be one this scrape has.

mod chart;
mod k0rdent;
mod process;

use std::collections::BTreeSet;

use ipam_in_cluster::api::InClusterIPPool;
use ipam_in_cluster::api::capi::IPAddressClaim;
use ipam_test_support::{TestNamespace, capi_crds, create, install_crds, sample as value};
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::ValidatingWebhookConfiguration;
use kube::Api;
use kube::api::{DeleteParams, PostParams};
use process::{Operator, eventually, free_port, http_get};
use serde_json::json;

const RULES: &str = include_str!("../charts/ipam-operator/files/prometheus-rules.yaml");
const DASHBOARD: &str = include_str!("../charts/ipam-operator/files/grafana-dashboard.json");

async fn scrape(port: u16) -> Option<String> {
    http_get(port, "/metrics")
        .await
        .filter(|(s, _)| *s == 200)
        .map(|(_, body)| body)
}

/// Scrapes until `series` has a value for which `ok` holds; returns that scrape.
async fn until(port: u16, series: &str, ok: impl Fn(f64) -> bool) -> String {
    eventually(30, series, || async {
        let text = scrape(port).await?;
        value(&text, series).filter(|v| ok(*v)).map(|_| text)
    })
    .await
}

fn assert_at_least(text: &str, series: &str, min: f64) {
    let v = value(text, series).unwrap_or_else(|| panic!("{series} missing from\n{text}"));
    assert!(v >= min, "{series} is {v}, expected at least {min}");
}

fn pool(name: &str, addresses: &str) -> serde_json::Value {
    json!({"apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
           "metadata": {"name": name},
           "spec": {"addresses": [addresses], "prefix": 24, "gateway": "10.61.0.1"}})
}

fn claim(name: &str, pool: &str) -> serde_json::Value {
    json!({"apiVersion": "ipam.cluster.x-k8s.io/v1beta2", "kind": "IPAddressClaim",
           "metadata": {"name": name},
           "spec": {"poolRef": {"apiGroup": "ipam.cluster.x-k8s.io", "kind": "InClusterIPPool", "name": pool}}})
}

/// Registers the operator's pool webhook for `ns` only, and waits until the API server
/// calls it (a dry-run create of a pool without addresses is refused by it).
async fn register_webhook(ns: &TestNamespace, port: u16, ca: &str) {
    let configuration: ValidatingWebhookConfiguration = serde_json::from_value(json!({
        "metadata": {"name": ns.name},
        "webhooks": [{
            "name": "validation.inclusterippool.ipam.cluster.x-k8s.io",
            "clientConfig": {"url": format!("https://127.0.0.1:{port}{}", ipam_in_cluster::webhook::IN_CLUSTER_PATH),
                             "caBundle": ByteString(ca.as_bytes().to_vec())},
            "rules": [{"apiGroups": ["ipam.cluster.x-k8s.io"], "apiVersions": ["v1alpha2"],
                       "operations": ["CREATE", "UPDATE", "DELETE"], "resources": ["inclusterippools"]}],
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns.name}},
            "failurePolicy": "Fail", "sideEffects": "None", "admissionReviewVersions": ["v1"],
        }]
    }))
    .unwrap();
    Api::<ValidatingWebhookConfiguration>::all(ns.client.clone())
        .create(&PostParams::default(), &configuration)
        .await
        .unwrap();
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    let empty: InClusterIPPool = serde_json::from_value(json!({
        "apiVersion": "ipam.cluster.x-k8s.io/v1alpha2", "kind": "InClusterIPPool",
        "metadata": {"name": "probe"}, "spec": {"addresses": [], "prefix": 24}}))
    .unwrap();
    eventually(30, "the API server to call the webhook", || async {
        match ns.api::<InClusterIPPool>().create(&dry_run, &empty).await {
            Err(kube::Error::Api(s)) if s.message.starts_with("admission webhook") => Some(()),
            _ => None,
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_from_the_first_scrape_and_after_real_flows() {
    let ns = TestNamespace::new("metrics").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;
    let webhook_port = free_port();
    let certs = std::env::temp_dir().join(format!("{}-webhook-certs", ns.name));
    let operator = Operator::start(
        &ns.name,
        &[
            "--namespace",
            &ns.name,
            "--webhook-port",
            &webhook_port.to_string(),
            "--webhook-cert-dir",
            certs.to_str().unwrap(),
        ],
        &[],
    );
    let port = operator.metrics_port;

    // The first scrape that answers: the process, its build, its certificate.
    let first = eventually(30, "/metrics answers", || scrape(port)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value(&first, "process_start_time_seconds").expect("process_start_time_seconds");
    assert!((now - 60.0..=now + 1.0).contains(&started), "{started}");
    assert!(value(&first, "process_resident_memory_bytes").unwrap() > 1e6);
    assert!(value(&first, "process_virtual_memory_bytes").unwrap() > 1e6);
    assert!(value(&first, "process_open_fds").unwrap() >= 3.0);
    assert!(
        value(&first, "process_max_fds").unwrap() >= value(&first, "process_open_fds").unwrap()
    );
    assert!(value(&first, "process_cpu_seconds_total").unwrap() > 0.0);
    let build = format!(
        "ipam_build_info{{version=\"{}\",commit=\"{}\"}}",
        env!("CARGO_PKG_VERSION"),
        env!("IPAM_COMMIT")
    );
    assert_eq!(value(&first, &build), Some(1.0), "{build} in\n{first}");
    assert_ne!(env!("IPAM_COMMIT"), "unknown", "built from a git checkout");
    // The generated certificate is valid until 2099-12-31.
    assert_eq!(
        value(
            &first,
            "ipam_webhook_certificate_expiry_timestamp_seconds{source=\"generated\"}"
        ),
        Some(4102358400.0)
    );
    assert!(value(&first, "ipam_leader_status").is_some(), "{first}");

    // Without leader election this replica leads once its controllers run.
    until(port, "ipam_leader_status", |v| v == 1.0).await;

    let ca = eventually(30, "ca.crt", || async {
        std::fs::read_to_string(certs.join("ca.crt")).ok()
    })
    .await;
    register_webhook(&ns, webhook_port, &ca).await;

    let pools = ns.api::<InClusterIPPool>();
    create(&pools, pool("pool", "10.61.0.10-10.61.0.13")).await;
    create(&pools, pool("small", "10.61.0.20")).await;
    let claims = ns.api::<IPAddressClaim>();
    create(&claims, claim("c1", "pool")).await;
    create(&claims, claim("s1", "small")).await;
    let s1_ready = eventually(30, "s1 allocated", || async {
        claims.get("s1").await.ok()?.status?.address_ref
    });
    s1_ready.await;
    create(&claims, claim("s2", "small")).await;
    create(&claims, claim("lost", "missing")).await;

    let n = &ns.name;
    let exhausted = format!(
        "ipam_claims_waiting{{kind=\"InClusterIPPool\",namespace=\"{n}\",pool=\"small\",reason=\"PoolExhausted\"}}"
    );
    let text = until(port, &exhausted, |v| v == 1.0).await;
    let text = if value(&text, "ipam_allocations_total{backend=\"in-cluster\"}") == Some(2.0) {
        text
    } else {
        until(
            port,
            "ipam_allocations_total{backend=\"in-cluster\"}",
            |v| v == 2.0,
        )
        .await
    };
    assert_eq!(
        value(
            &text,
            &format!(
                "ipam_claims_waiting{{kind=\"InClusterIPPool\",namespace=\"{n}\",pool=\"missing\",reason=\"PoolNotFound\"}}"
            )
        ),
        Some(1.0),
        "{text}"
    );
    let text = until(
        port,
        &format!(
            "ipam_pool_utilisation_ratio{{kind=\"InClusterIPPool\",namespace=\"{n}\",pool=\"pool\"}}"
        ),
        |v| v == 0.25,
    )
    .await;
    // Each pool is recounted on its own pace (at most once a second): wait for this one too.
    until(
        port,
        &format!(
            "ipam_pool_utilisation_ratio{{kind=\"InClusterIPPool\",namespace=\"{n}\",pool=\"small\"}}"
        ),
        |v| v == 1.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            &format!(
                "ipam_pool_addresses{{kind=\"InClusterIPPool\",namespace=\"{n}\",pool=\"pool\",state=\"free\"}}"
            )
        ),
        Some(3.0)
    );
    assert_eq!(
        value(
            &text,
            "ipam_claim_ready_duration_seconds_count{backend=\"in-cluster\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "ipam_releases_total{backend=\"in-cluster\"}"),
        None,
        "nothing released yet"
    );

    // Releasing s1's address lets s2 through: nothing waits on the pool any more.
    claims.delete("s1", &DeleteParams::default()).await.unwrap();
    let text = until(
        port,
        "ipam_allocations_total{backend=\"in-cluster\"}",
        |v| v == 3.0,
    )
    .await;
    if value(&text, "ipam_releases_total{backend=\"in-cluster\"}") != Some(1.0) {
        until(port, "ipam_releases_total{backend=\"in-cluster\"}", |v| {
            v == 1.0
        })
        .await;
    }
    let text = eventually(30, "no claim waits on small", || async {
        let text = scrape(port).await?;
        value(&text, &exhausted).is_none().then_some(text)
    })
    .await;
    assert_eq!(
        value(
            &text,
            "ipam_claim_ready_duration_seconds_count{backend=\"in-cluster\"}"
        ),
        Some(3.0)
    );
    assert_at_least(
        &text,
        "ipam_allocation_duration_seconds_count{backend=\"in-cluster\"}",
        3.0,
    );

    // Controllers: results, the queue drained, nobody working.
    for controller in ["ipam-operator-claims", "ipam-operator-pools"] {
        let c = format!("controller=\"{controller}\"");
        assert_at_least(
            &text,
            &format!("ipam_reconciles_total{{{c},result=\"success\"}}"),
            1.0,
        );
        assert!(value(&text, &format!("ipam_reconcile_errors_total{{{c}}}")).is_some());
        assert_at_least(&text, &format!("ipam_workqueue_adds_total{{{c}}}"), 2.0);
        assert_at_least(
            &text,
            &format!("ipam_workqueue_queue_duration_seconds_count{{{c}}}"),
            2.0,
        );
    }
    until(
        port,
        "ipam_workqueue_depth{controller=\"ipam-operator-claims\"}",
        |v| v == 0.0,
    )
    .await;
    let text = until(
        port,
        "ipam_active_workers{controller=\"ipam-operator-claims\"}",
        |v| v == 0.0,
    )
    .await;

    // The API requests behind it, by verb, resource and code.
    for (series, min) in [
        (
            "ipam_kube_requests_total{verb=\"create\",resource=\"addressallocations.ipam-operator.io\",code=\"201\"}",
            3.0,
        ),
        (
            "ipam_kube_requests_total{verb=\"create\",resource=\"ipaddresses.ipam.cluster.x-k8s.io\",code=\"201\"}",
            3.0,
        ),
        (
            "ipam_kube_requests_total{verb=\"patch\",resource=\"ipaddressclaims.ipam.cluster.x-k8s.io/status\",code=\"200\"}",
            3.0,
        ),
        (
            "ipam_kube_request_duration_seconds_count{verb=\"create\",resource=\"addressallocations.ipam-operator.io\"}",
            3.0,
        ),
        (
            "ipam_watch_starts_total{resource=\"ipaddressclaims.ipam.cluster.x-k8s.io\"}",
            1.0,
        ),
        (
            "ipam_watch_starts_total{resource=\"inclusterippools.ipam.cluster.x-k8s.io\"}",
            1.0,
        ),
    ] {
        assert_at_least(&text, series, min);
    }

    // The webhook: the probe refused, the pools allowed, through the real API server.
    for (verdict, min) in [("denied", 1.0), ("allowed", 2.0)] {
        assert_at_least(
            &text,
            &format!(
                "ipam_webhook_requests_total{{kind=\"InClusterIPPool\",operation=\"CREATE\",verdict=\"{verdict}\"}}"
            ),
            min,
        );
    }
    assert_at_least(
        &text,
        "ipam_webhook_request_duration_seconds_count{kind=\"InClusterIPPool\",operation=\"CREATE\"}",
        3.0,
    );

    // The Metal3 face: an IPPool of one address, a claim that gets it, one that waits.
    let ippools = Api::<ipam_in_cluster::metal3::api::IPPool>::namespaced(ns.client.clone(), n);
    let ipclaims = Api::<ipam_in_cluster::metal3::api::IPClaim>::namespaced(ns.client.clone(), n);
    create(
        &ippools,
        json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPPool",
        "metadata": {"name": "m3"},
        "spec": {"namePrefix": "m3", "prefix": 24, "pools": [{"start": "10.62.0.10", "end": "10.62.0.10"}]}}),
    )
    .await;
    let ipclaim = |name: &str| {
        json!({"apiVersion": "ipam.metal3.io/v1alpha1", "kind": "IPClaim",
               "metadata": {"name": name}, "spec": {"pool": {"name": "m3"}}})
    };
    create(&ipclaims, ipclaim("m1")).await;
    until(port, "ipam_allocations_total{backend=\"metal3\"}", |v| {
        v == 1.0
    })
    .await;
    create(&ipclaims, ipclaim("m2")).await;
    let m3_waiting = format!(
        "ipam_claims_waiting{{kind=\"IPPool\",namespace=\"{n}\",pool=\"m3\",reason=\"PoolExhausted\"}}"
    );
    until(port, &m3_waiting, |v| v == 1.0).await;
    // The pool is recounted on its own pace (at most once a second).
    let text = until(
        port,
        &format!("ipam_pool_utilisation_ratio{{kind=\"IPPool\",namespace=\"{n}\",pool=\"m3\"}}"),
        |v| v == 1.0,
    )
    .await;
    assert_eq!(
        value(
            &text,
            "ipam_claim_ready_duration_seconds_count{backend=\"metal3\"}"
        ),
        Some(1.0)
    );
    ipclaims
        .delete("m1", &DeleteParams::default())
        .await
        .unwrap();
    until(port, "ipam_releases_total{backend=\"metal3\"}", |v| {
        v == 1.0
    })
    .await;
    let text = until(port, "ipam_allocations_total{backend=\"metal3\"}", |v| {
        v == 2.0
    })
    .await;
    let text = if value(&text, &m3_waiting).is_none() {
        text
    } else {
        eventually(30, "no IPClaim waits on m3", || async {
            let text = scrape(port).await?;
            value(&text, &m3_waiting).is_none().then_some(text)
        })
        .await
    };
    assert_eq!(
        value(
            &text,
            "ipam_claim_ready_duration_seconds_count{backend=\"metal3\"}"
        ),
        Some(2.0)
    );

    // The k0rdent and Infoblox faces of the same process: a ClusterIPAM, an InfobloxInstance.
    let _sim = k0rdent::infoblox_instance(&ns).await;
    k0rdent::switchable_claim(&ns, "net").await;
    let text = until(
        port,
        &format!("ipam_infoblox_instance_reachable{{name=\"{n}\"}}"),
        |v| v == 1.0,
    )
    .await;
    assert_at_least(
        &text,
        "ipam_wapi_requests_total{operation=\"GET networkview\",outcome=\"success\"}",
        1.0,
    );
    // kcm's own gauges of the same claim, under kcm's names and labels.
    let kcm = |metric: &str| {
        format!(
            "kcm_ipam_{metric}{{ipam_kind=\"ClusterIPAM\",ipam_namespace=\"{n}\",ipam_name=\"net\"}}"
        )
    };
    let text = until(port, &kcm("claims_bound"), |v| v == 1.0).await;
    assert_eq!(value(&text, &kcm("claim_use")), Some(1.0), "{text}");
    let text = eventually(30, "ipam_cluster_ipam_bound of net", || async {
        let text = scrape(port).await?;
        value(
            &text,
            &format!("ipam_cluster_ipam_bound{{namespace=\"{n}\",name=\"net\"}}"),
        )
        .map(|_| text)
    })
    .await;
    assert_eq!(
        value(
            &text,
            "ipam_watch_errors_total{resource=\"ipaddressclaims.ipam.cluster.x-k8s.io\"}"
        ),
        Some(0.0),
        "no watch failed"
    );

    // Every name the alerts and the dashboard query is a family of this scrape.
    let families = families(&text);
    let used = used_names();
    assert!(used.len() > 20, "{used:?}");
    for name in &used {
        assert!(
            exposes(&families, name),
            "{name} is used by the chart's alerts or dashboard but no family of /metrics \
             provides it; families: {families:?}"
        );
    }

    let _ = Api::<ValidatingWebhookConfiguration>::all(ns.client.clone())
        .delete(&ns.name, &DeleteParams::default())
        .await;
    let _ = Api::<ipam_infoblox::api::InfobloxInstance>::all(ns.client.clone())
        .delete(&ns.name, &DeleteParams::default())
        .await;
    drop(operator);
    let _ = std::fs::remove_dir_all(&certs);
    ns.delete().await;
}

/// `# TYPE <family> <type>` lines of a scrape: family name → type.
fn families(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .filter_map(|l| l.split_once(' '))
        .map(|(name, kind)| (name.to_string(), kind.to_string()))
        .collect()
}

/// Whether a sample name can come from one of `families`: a gauge by its name, a counter
/// by `_total`, a histogram by `_bucket`, `_count` or `_sum`.
fn exposes(families: &std::collections::BTreeMap<String, String>, name: &str) -> bool {
    let is = |family: &str, kind: &str| families.get(family).is_some_and(|k| k == kind);
    is(name, "gauge")
        || name
            .strip_suffix("_total")
            .is_some_and(|f| is(f, "counter"))
        || ["_bucket", "_count", "_sum"]
            .iter()
            .any(|s| name.strip_suffix(s).is_some_and(|f| is(f, "histogram")))
}

/// The metric names in a PromQL expression: identifiers outside strings and label
/// matchers that name this operator's or the process's series.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let (mut in_string, mut in_braces, mut word) = (false, false, String::new());
    for c in expr.chars().chain(std::iter::once(' ')) {
        if in_string {
            in_string = c != '"';
            continue;
        }
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
            continue;
        }
        if !in_braces && (word.starts_with("ipam_") || word.starts_with("process_")) {
            names.push(word.clone());
        }
        word.clear();
        match c {
            '"' => in_string = true,
            '{' => in_braces = true,
            '}' => in_braces = false,
            _ => {}
        }
    }
    names
}

/// Every metric name the chart's alert rules and dashboard panels (and variables) query.
fn used_names() -> BTreeSet<String> {
    let mut exprs = Vec::new();
    let rules: serde_json::Value = serde_saphyr::from_str(RULES).unwrap();
    for group in rules["groups"].as_array().unwrap() {
        for rule in group["rules"].as_array().unwrap() {
            exprs.push(rule["expr"].as_str().unwrap().to_string());
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    for panel in panels {
        for target in panel["targets"].as_array().into_iter().flatten() {
            exprs.push(target["expr"].as_str().unwrap().to_string());
        }
    }
    for variable in dashboard["templating"]["list"].as_array().unwrap() {
        if let Some(query) = variable["query"]["query"].as_str() {
            exprs.push(query.to_string());
        }
    }
    // Each panel queries something: one without a target would render empty.
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert!(
            panel["targets"].as_array().is_some_and(|t| !t.is_empty()),
            "panel {} has no query",
            panel["title"]
        );
    }
    exprs.iter().flat_map(|e| metric_names(e)).collect()
}

#[test]
fn metric_names_are_read_from_promql() {
    assert_eq!(
        metric_names(
            r#"histogram_quantile(0.95, sum by (le) (rate(ipam_x_bucket{a=~"ipam_no", b="}"}[5m]))) / process_y"#
        ),
        ["ipam_x_bucket", "process_y"]
    );
    let families =
        families("# TYPE ipam_a counter\n# TYPE ipam_h histogram\n# TYPE ipam_g gauge\n");
    assert!(exposes(&families, "ipam_a_total"));
    assert!(!exposes(&families, "ipam_a"));
    assert!(exposes(&families, "ipam_h_bucket") && exposes(&families, "ipam_h_count"));
    assert!(exposes(&families, "ipam_g"));
    assert!(!exposes(&families, "ipam_g_total"));
}

/// The chart installs the promtool-tested rules and the dashboard as they are in files/,
/// and the dashboard with the label Grafana's sidecar looks for.
#[test]
fn the_chart_installs_the_tested_rules_and_the_dashboard_unchanged() {
    let rendered = chart::template(
        "ipam-operator",
        "ipam-system",
        &["prometheusrule.yaml", "grafana-dashboard.yaml"],
        &[
            "metrics.prometheusRule.enabled=true",
            "metrics.prometheusRule.labels.release=prom",
            "metrics.grafanaDashboard.enabled=true",
        ],
    );
    let docs: Vec<serde_json::Value> = rendered
        .split("\n---")
        .filter(|d| d.lines().any(|l| l.starts_with("kind:")))
        .map(|d| serde_saphyr::from_str(d).unwrap())
        .collect();
    let rule = docs.iter().find(|d| d["kind"] == "PrometheusRule").unwrap();
    let file: serde_json::Value = serde_saphyr::from_str(RULES).unwrap();
    assert_eq!(rule["spec"], file);
    assert_eq!(rule["metadata"]["labels"]["release"], "prom");
    let map = docs.iter().find(|d| d["kind"] == "ConfigMap").unwrap();
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let json: serde_json::Value =
        serde_json::from_str(map["data"]["ipam-operator.json"].as_str().unwrap()).unwrap();
    assert_eq!(
        json,
        serde_json::from_str::<serde_json::Value>(DASHBOARD).unwrap()
    );

    // Both are opt-in.
    let default = chart::template("ipam-operator", "ipam-system", &[], &[]);
    assert!(!default.contains("kind: PrometheusRule") && !default.contains("grafana_dashboard"));
}
