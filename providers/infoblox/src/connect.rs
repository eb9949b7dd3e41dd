//! Turns an InfobloxInstance into a WAPI client: credentials from its Secret, the CA bundle
//! from a Secret or ConfigMap, explicit timeouts. Errors name the object and key to fix and
//! never carry a secret's content.

use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::{Api, Client, ResourceExt};

use crate::api::InfobloxInstance;
use crate::wapi::{ClientConfig, ConfigError, Credentials, WapiClient};

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "InfobloxInstance {instance}: credentials Secret {namespace}/{name} does not exist; create it with username and password (or clientCert and clientKey)"
    )]
    SecretMissing {
        instance: String,
        namespace: String,
        name: String,
    },
    #[error(
        "InfobloxInstance {instance}: credentials Secret {namespace}/{name} has neither a non-empty username+password nor clientCert+clientKey"
    )]
    SecretIncomplete {
        instance: String,
        namespace: String,
        name: String,
    },
    #[error(
        "InfobloxInstance {instance}: CA bundle {kind} {namespace}/{name} has no non-empty key {key}; put the PEM bundle there or set spec.caBundleRef.key"
    )]
    CaBundleMissing {
        instance: String,
        kind: String,
        namespace: String,
        name: String,
        key: String,
    },
    #[error(
        "InfobloxInstance {instance}: spec.customCAPath names a file in the controller's container, which this operator does not read; put the CA bundle in a Secret or ConfigMap and set spec.caBundleRef"
    )]
    CustomCaPath { instance: String },
    #[error("InfobloxInstance {instance}: {source}")]
    Config {
        instance: String,
        source: ConfigError,
    },
    #[error("InfobloxInstance {instance}: cannot read {what}: {source}")]
    Api {
        instance: String,
        what: String,
        source: kube::Error,
    },
}

impl ConnectError {
    pub fn reason(&self) -> &'static str {
        match self {
            ConnectError::SecretMissing { .. } | ConnectError::SecretIncomplete { .. } => {
                "CredentialsInvalid"
            }
            ConnectError::Api { .. } => "CredentialsUnreadable",
            _ => "ConfigurationInvalid",
        }
    }
}

/// Builds the client of `instance`. Secrets and ConfigMaps without a namespace are read in
/// `default_namespace` (the operator's).
pub async fn client_for(
    client: &Client,
    instance: &InfobloxInstance,
    default_namespace: &str,
) -> Result<WapiClient, ConnectError> {
    let name = instance.name_any();
    let spec = &instance.spec;
    if spec
        .custom_ca_path
        .as_deref()
        .is_some_and(|p| !p.is_empty())
        && spec.ca_bundle_ref.is_none()
    {
        return Err(ConnectError::CustomCaPath { instance: name });
    }
    let secret_ref = &spec.credentials_secret_ref;
    let secret_ns = secret_ref
        .namespace
        .clone()
        .unwrap_or_else(|| default_namespace.into());
    let secret = Api::<Secret>::namespaced(client.clone(), &secret_ns)
        .get_opt(&secret_ref.name)
        .await
        .map_err(|source| ConnectError::Api {
            instance: name.clone(),
            what: format!("Secret {secret_ns}/{}", secret_ref.name),
            source,
        })?
        .ok_or_else(|| ConnectError::SecretMissing {
            instance: name.clone(),
            namespace: secret_ns.clone(),
            name: secret_ref.name.clone(),
        })?;
    let credentials = credentials(&secret).ok_or_else(|| ConnectError::SecretIncomplete {
        instance: name.clone(),
        namespace: secret_ns.clone(),
        name: secret_ref.name.clone(),
    })?;

    let ca_bundle_pem = match &spec.ca_bundle_ref {
        None => None,
        Some(r) => {
            let ns = r
                .namespace
                .clone()
                .unwrap_or_else(|| default_namespace.into());
            let key = r.key.clone().unwrap_or_else(|| "ca.crt".into());
            let what = format!("{} {ns}/{}", r.kind, r.name);
            let api_err = |source| ConnectError::Api {
                instance: name.clone(),
                what: what.clone(),
                source,
            };
            let found = if r.kind == "ConfigMap" {
                Api::<ConfigMap>::namespaced(client.clone(), &ns)
                    .get_opt(&r.name)
                    .await
                    .map_err(api_err)?
                    .and_then(|c| c.data.and_then(|mut d| d.remove(&key)))
                    .map(String::into_bytes)
            } else {
                Api::<Secret>::namespaced(client.clone(), &ns)
                    .get_opt(&r.name)
                    .await
                    .map_err(api_err)?
                    .and_then(|s| s.data.and_then(|mut d| d.remove(&key)))
                    .map(|b| b.0)
            };
            let found =
                found
                    .filter(|b| !b.is_empty())
                    .ok_or_else(|| ConnectError::CaBundleMissing {
                        instance: name.clone(),
                        kind: r.kind.clone(),
                        namespace: ns.clone(),
                        name: r.name.clone(),
                        key: key.clone(),
                    })?;
            Some(found)
        }
    };

    let seconds = |v: Option<i32>, default: u64| {
        Duration::from_secs(v.map(|s| s.max(1) as u64).unwrap_or(default))
    };
    let config = ClientConfig {
        host: spec.host.clone(),
        port: if spec.port.is_empty() {
            "443".into()
        } else {
            spec.port.clone()
        },
        wapi_version: spec.wapi_version.clone(),
        credentials,
        ca_bundle_pem,
        disable_tls_verification: spec.disable_tls_verification.unwrap_or(false),
        connect_timeout: seconds(spec.connect_timeout_seconds, 10),
        request_timeout: seconds(spec.request_timeout_seconds, 30),
        attempts: 3,
        backoff: Duration::from_millis(200),
        page_size: 1000,
    };
    WapiClient::new(&config).map_err(|source| ConnectError::Config {
        instance: name,
        source,
    })
}

/// Basic auth from `username`/`password` and a client identity from `clientCert`/`clientKey`;
/// both halves of a pair must be non-empty, and at least one pair must be there.
fn credentials(secret: &Secret) -> Option<Credentials> {
    let data = secret.data.clone().unwrap_or_default();
    let get = |k: &str| data.get(k).map(|b| b.0.clone()).filter(|b| !b.is_empty());
    let basic = get("username").zip(get("password"));
    let identity = get("clientCert")
        .zip(get("clientKey"))
        .map(|(mut cert, key)| {
            cert.push(b'\n');
            cert.extend(key);
            cert
        });
    if basic.is_none() && identity.is_none() {
        return None;
    }
    let (username, password) = basic
        .map(|(u, p)| {
            (
                String::from_utf8_lossy(&u).into_owned(),
                String::from_utf8_lossy(&p).into_owned(),
            )
        })
        .unwrap_or_default();
    Some(Credentials {
        username,
        password,
        client_identity_pem: identity,
    })
}
