//! The webhook's serving certificate, in a directory laid out as a `kubernetes.io/tls`
//! Secret mounts it (`tls.crt`, `tls.key`) plus `ca.crt`, the bundle for the webhook
//! configuration's `caBundle`.
//!
//! A deployment mounts the files (cert-manager, the Helm chart). Where none are mounted (a
//! local API server, `make up`, tests) a throwaway CA and a certificate it signs are
//! generated and written, `ca.crt` last so that a script waiting for it finds the others.
//! Two certificates, not one self-signed: rustls refuses a CA certificate as an end entity.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use super::tls_policy::TlsPolicy;

pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";
pub const CA_FILE: &str = "ca.crt";

/// The names of the certificate and key files in the directory: `tls.crt` and `tls.key`
/// unless `--webhook-cert-name` / `--webhook-key-name` say otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert: String,
    pub key: String,
}

impl Default for CertFiles {
    fn default() -> Self {
        CertFiles {
            cert: CERT_FILE.into(),
            key: KEY_FILE.into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the webhook certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable PEM {what}: {source}")]
    Pem {
        path: PathBuf,
        what: &'static str,
        source: rustls::pki_types::pem::Error,
    },
    #[error("building the webhook's TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
}

/// A certificate chain and its key, PEM-encoded.
#[derive(Clone)]
pub struct Serving {
    pub cert: String,
    pub key: String,
}

/// A generated serving certificate and the CA that signed it.
#[derive(Clone)]
pub struct Generated {
    /// The CA certificate, PEM: what `caBundle` must hold.
    pub ca: String,
    pub serving: Serving,
}

/// Generates a CA and a serving certificate for `names` (DNS names or IP addresses, e.g.
/// `127.0.0.1`, `localhost`, `ipam-webhook.ipam-system.svc`).
pub fn generate(names: &[String]) -> Result<Generated, TlsError> {
    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "ipam-operator webhook CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    // Generated certificates serve local API servers; they live as long as their files.
    let (not_before, not_after) = (date_time_ymd(2020, 1, 1), date_time_ymd(2099, 12, 31));
    ca_params.not_before = not_before;
    ca_params.not_after = not_after;
    let ca_key = KeyPair::generate()?;
    let ca = ca_params.self_signed(&ca_key)?;

    let mut params = CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "ipam-operator webhook");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = not_before;
    params.not_after = not_after;
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca, &ca_key)?;
    Ok(Generated {
        ca: ca.pem(),
        serving: Serving {
            cert: cert.pem(),
            key: key.serialize_pem(),
        },
    })
}

/// Reads the certificate and key files of `dir`; `None` when either is missing.
pub fn load(dir: &Path, files: &CertFiles) -> Result<Option<Serving>, TlsError> {
    let read = |name: &str| {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(TlsError::Io { path, source }),
        }
    };
    Ok(match (read(&files.cert)?, read(&files.key)?) {
        (Some(cert), Some(key)) => Some(Serving { cert, key }),
        _ => None,
    })
}

/// Writes `generated` into `dir` (created if needed): the key readable by its owner only,
/// and `ca.crt` last.
pub fn write(dir: &Path, files: &CertFiles, generated: &Generated) -> Result<(), TlsError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| TlsError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let key = dir.join(&files.key);
    write_private(&key, &generated.serving.key).map_err(io(&key))?;
    let cert = dir.join(&files.cert);
    std::fs::write(&cert, &generated.serving.cert).map_err(io(&cert))?;
    let ca = dir.join(CA_FILE);
    std::fs::write(&ca, &generated.ca).map_err(io(&ca))?;
    Ok(())
}

fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_bytes())
}

/// The certificate in `dir`, or, when there is none, one generated for `names` and written
/// there. Says which it did, so the caller can log it.
pub fn load_or_generate(
    dir: &Path,
    files: &CertFiles,
    names: &[String],
) -> Result<(Serving, bool), TlsError> {
    if let Some(serving) = load(dir, files)? {
        return Ok((serving, false));
    }
    let generated = generate(names)?;
    write(dir, files, &generated)?;
    Ok((generated.serving, true))
}

/// A rustls server configuration for `serving`, speaking HTTP/1.1, offering what `policy`
/// allows.
///
/// The ring provider is named here rather than taken from the process default: rustls
/// panics when more than one provider is compiled in and none was installed.
pub fn server_config(serving: &Serving, policy: &TlsPolicy) -> Result<Arc<ServerConfig>, TlsError> {
    let pem = |what: &'static str| {
        move |source| TlsError::Pem {
            path: PathBuf::from(CERT_FILE),
            what,
            source,
        }
    };
    let chain = CertificateDer::pem_slice_iter(serving.cert.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem("certificate"))?;
    let key =
        PrivateKeyDer::from_pem_slice(serving.key.as_bytes()).map_err(|source| TlsError::Pem {
            path: PathBuf::from(KEY_FILE),
            what: "private key",
            source,
        })?;
    let mut config = ServerConfig::builder_with_provider(Arc::new(policy.provider()))
        .with_protocol_versions(policy.versions())?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_certificate_is_written_once_and_then_loaded() {
        let dir = std::env::temp_dir().join(format!("ipam-webhook-tls-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let names = vec!["127.0.0.1".to_string(), "localhost".to_string()];
        let (first, generated) = load_or_generate(&dir, &CertFiles::default(), &names).unwrap();
        assert!(generated);
        assert!(dir.join(CA_FILE).exists());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(dir.join(KEY_FILE)).unwrap().permissions(),
        );
        assert_eq!(mode & 0o777, 0o600, "the key is private");
        let (second, generated) = load_or_generate(&dir, &CertFiles::default(), &names).unwrap();
        assert!(
            !generated,
            "a restart keeps the certificate the caBundle trusts"
        );
        assert_eq!(first.cert, second.cert);
        server_config(&second, &TlsPolicy::default()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_key_that_is_not_pem_is_named() {
        let mut serving = generate(&["localhost".to_string()]).unwrap().serving;
        serving.key = "not a key".into();
        let error = server_config(&serving, &TlsPolicy::default())
            .err()
            .unwrap()
            .to_string();
        assert!(
            error.starts_with("tls.key holds no usable PEM private key"),
            "{error}"
        );
    }
}
