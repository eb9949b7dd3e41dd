//! The flags clusterctl's and the Cluster API Operator's Deployments pass to an IPAM
//! provider, given as such a Deployment gives them (flags alone, no subcommand), mean what
//! they mean upstream: leader election, the probe address, `/metrics` over HTTPS for callers
//! the API server authorizes, the webhook's certificate file names, the TLS floor.

mod process;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ipam_kube_support::webhook::tls;
use ipam_test_support::{TestNamespace, capi_crds, install_crds};
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding};
use kube::api::{Api, DeleteParams, PostParams};
use process::{Operator, eventually, free_port, http_get};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What an HTTPS GET got: the status and body, and the certificate the server presented.
struct Answer {
    status: u16,
    body: String,
    certificate: Vec<u8>,
}

/// GET `path` over TLS (only `versions`) on 127.0.0.1:`port`, with a bearer `token` if any.
/// The server's certificate is not verified here: it is returned, for the test to compare.
async fn https_get(
    port: u16,
    path: &str,
    token: Option<&str>,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> std::io::Result<Answer> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(versions)
        .expect("TLS versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let name = ServerName::try_from("localhost").unwrap();
    let mut stream = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let certificate = stream.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let auth = token
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n{auth}Connection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    // A server closing without close_notify is fine here: what was read is the answer.
    let _ = stream.read_to_end(&mut response).await;
    let response = String::from_utf8_lossy(&response).to_string();
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok(Answer {
        status,
        body,
        certificate,
    })
}

#[derive(Debug)]
struct AnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A token of a new ServiceAccount `name` of `ns`.
async fn token(ns: &TestNamespace, name: &str) -> String {
    let accounts: Api<ServiceAccount> = ns.api();
    let account: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": name}})).expect("a ServiceAccount");
    accounts
        .create(&PostParams::default(), &account)
        .await
        .expect("create a ServiceAccount");
    let request: TokenRequest =
        serde_json::from_value(json!({"spec": {"audiences": [], "expirationSeconds": 600}}))
            .expect("a TokenRequest");
    let answered: TokenRequest = accounts
        .create_subresource("token", name, &PostParams::default(), &request)
        .await
        .expect("request a token");
    answered
        .status
        .and_then(|s| s.token)
        .expect("the API server gave a token")
}

/// Lets ServiceAccount `account` of `ns` get /metrics; returns what to delete afterwards.
async fn allow_metrics(ns: &TestNamespace, account: &str) -> String {
    let client = ns.client.clone();
    let name = format!("{}-metrics-reader", ns.name);
    let role: ClusterRole = serde_json::from_value(json!({
        "metadata": {"name": name},
        "rules": [{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}],
    }))
    .unwrap();
    Api::<ClusterRole>::all(client.clone())
        .create(&PostParams::default(), &role)
        .await
        .expect("create the ClusterRole");
    let binding: ClusterRoleBinding = serde_json::from_value(json!({
        "metadata": {"name": name},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": [{"kind": "ServiceAccount", "name": account, "namespace": ns.name}],
    }))
    .unwrap();
    Api::<ClusterRoleBinding>::all(client)
        .create(&PostParams::default(), &binding)
        .await
        .expect("create the ClusterRoleBinding");
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn an_upstream_managers_flags_run_unchanged_with_their_meaning() {
    let ns = TestNamespace::new("capi-flags").await;
    let mut crds = capi_crds();
    crds.extend(ipam_operator::crds::all());
    install_crds(&ns.client, &crds).await;

    // The webhook's certificate under other file names, as --webhook-cert-name and
    // --webhook-key-name let a Secret's keys be named.
    let cert_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("target/test-logs")
        .join(format!("{}-certs", ns.name));
    let _ = std::fs::remove_dir_all(&cert_dir);
    let files = tls::CertFiles {
        cert: "serving.pem".into(),
        key: "serving-key.pem".into(),
    };
    let generated = tls::generate(&["localhost".into()]).unwrap();
    tls::write(&cert_dir, &files, &generated).unwrap();
    let mounted =
        rustls::pki_types::pem::PemObject::from_pem_slice(generated.serving.cert.as_bytes())
            .map(|c: CertificateDer<'static>| c.to_vec())
            .unwrap();

    let (diagnostics, probes, webhook) = (free_port(), free_port(), free_port());
    let args = [
        "--leader-elect".to_string(),
        format!("--diagnostics-address=127.0.0.1:{diagnostics}"),
        "--insecure-diagnostics=false".into(),
        format!("--health-probe-bind-address=127.0.0.1:{probes}"),
        format!("--webhook-port={webhook}"),
        format!("--webhook-cert-dir={}", cert_dir.display()),
        "--webhook-cert-name=serving.pem".into(),
        "--webhook-key-name=serving-key.pem".into(),
        "--tls-min-version=VersionTLS13".into(),
        format!("--namespace={}", ns.name),
        "--ippool-concurrency=4".into(),
        "--v=2".into(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let operator = Operator::start_verbatim(
        &ns.name,
        &args,
        // The Lease goes to the test's namespace (in a pod: the pod's own).
        &[("IPAM_LEADER_ELECTION_NAMESPACE", ns.name.as_str())],
    );

    // Probes where --health-probe-bind-address put them.
    eventually(60, "/readyz 200 on the probe address", || async {
        http_get(probes, "/readyz").await.filter(|(s, _)| *s == 200)
    })
    .await;
    // --leader-elect: the Lease is held by this process.
    let leases: Api<Lease> = ns.api();
    eventually(30, "the Lease held", || async {
        leases
            .get_opt("ipam-operator")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec?.holder_identity)
    })
    .await;
    // --v=2 logs at debug.
    assert!(
        operator.log_text().contains("DEBUG"),
        "no debug line with --v=2"
    );

    // /metrics over HTTPS: no token, 401; a token without the right, 403; with it, 200.
    let tls13 = &[&rustls::version::TLS13][..];
    let anonymous = https_get(diagnostics, "/metrics", None, tls13)
        .await
        .unwrap();
    assert_eq!(anonymous.status, 401, "{}", anonymous.body);
    let outsider = token(&ns, "outsider").await;
    let refused = https_get(diagnostics, "/metrics", Some(&outsider), tls13)
        .await
        .unwrap();
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert!(refused.body.contains("outsider"), "{}", refused.body);
    let scraper = token(&ns, "scraper").await;
    let role = allow_metrics(&ns, "scraper").await;
    let scraped = eventually(30, "/metrics 200 for the scraper", || async {
        https_get(diagnostics, "/metrics", Some(&scraper), tls13)
            .await
            .ok()
            .filter(|a| a.status == 200)
    })
    .await;
    assert!(
        scraped.body.contains("ipam_leader_status 1"),
        "{}",
        scraped.body
    );
    // Plain HTTP is not served there.
    assert_ne!(
        http_get(diagnostics, "/metrics").await.map(|r| r.0),
        Some(200)
    );

    // --tls-min-version=VersionTLS13: a TLS 1.2 client is refused by both listeners.
    let tls12 = &[&rustls::version::TLS12][..];
    assert!(https_get(webhook, "/", None, tls12).await.is_err());
    assert!(
        https_get(diagnostics, "/metrics", None, tls12)
            .await
            .is_err()
    );
    // The webhook serves the certificate from the renamed files.
    let served = https_get(webhook, "/", None, tls13).await.unwrap();
    assert_eq!(served.certificate, mounted);

    drop(operator);
    let delete = DeleteParams::default();
    let _ = Api::<ClusterRole>::all(ns.client.clone())
        .delete(&role, &delete)
        .await;
    let _ = Api::<ClusterRoleBinding>::all(ns.client.clone())
        .delete(&role, &delete)
        .await;
    let _ = std::fs::remove_dir_all(&cert_dir);
    ns.delete().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_flags_the_operator_cannot_honour_stop_it_at_start_naming_them() {
    for (flag, expected) in [
        (
            "--tls-cipher-suites=TLS_RSA_WITH_AES_128_CBC_SHA",
            "TLS_RSA_WITH_AES_128_CBC_SHA is not offered",
        ),
        ("--tls-min-version=TLS1.2", "--tls-min-version \"TLS1.2\""),
        (
            "--diagnostics-address=metrics:8443",
            "is not a listen address",
        ),
    ] {
        let mut operator =
            Operator::start_verbatim("capi-flags-refused", &["--webhook-port=0", flag], &[]);
        let status = operator
            .exited(Duration::from_secs(30))
            .await
            .unwrap_or_else(|| panic!("{flag}: still running"));
        assert!(!status.success(), "{flag}: exited with success");
        let log = operator.log_text();
        assert!(log.contains(expected), "{flag}: {log}");
    }
}
