//! A throwaway CA and a server certificate it signs, written where clients can trust the CA.
//! Two certificates, not one self-signed: rustls refuses a CA certificate as an end entity.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::ServerConfig;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::danger::ClientCertVerifier;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::client_certs::{self, ClientCertFiles, ClientCertJudge, ClientCertMode};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating the test certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("building the TLS server configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("building the client certificate verifier: {0}")]
    ClientVerifier(String),
}

/// Where the PEM files went.
#[derive(Debug, Clone)]
pub struct CertFiles {
    /// The CA to trust (`ssl_verify=`, `--cacert`, a reqwest root).
    pub ca: PathBuf,
    /// The server certificate followed by the CA.
    pub chain: PathBuf,
    pub key: PathBuf,
    /// The client CA and client certificates, when `--client-certs` is not `off`.
    pub client: Option<ClientCertFiles>,
}

pub(crate) fn write(path: PathBuf, text: &str) -> Result<PathBuf, TlsError> {
    std::fs::write(&path, text).map_err(|source| TlsError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Generates the CA and a server certificate for `localhost`, `127.0.0.1`, `::1` and any
/// extra names, writes them to `dir`, and returns a rustls configuration serving them. With
/// client certificates on, also the client CA and certificates (see [`client_certs`]) and
/// the judge of each connection's certificate.
pub fn generate(
    dir: &Path,
    extra_names: &[String],
    client_certs: ClientCertMode,
) -> Result<(Arc<ServerConfig>, CertFiles, Option<ClientCertJudge>), TlsError> {
    std::fs::create_dir_all(dir).map_err(|source| TlsError::Write {
        path: dir.to_path_buf(),
        source,
    })?;

    let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "wapi-sim test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params.not_before = date_time_ymd(2020, 1, 1);
    ca_params.not_after = date_time_ymd(2099, 12, 31);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca_params.self_signed(&ca_key)?;

    let mut names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    names.extend(extra_names.iter().cloned());
    let mut params = CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(DnType::CommonName, "wapi-sim");
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, &ca_cert, &ca_key)?;

    // The provider is named here rather than taken from the process default, so embedding
    // the server in a test binary that links another provider cannot change it.
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let (client_verifier, judge, client_files) = if client_certs == ClientCertMode::Off {
        (None, None, None)
    } else {
        let (verifier, judge, files) = client_certs::generate(dir, client_certs, &provider)?;
        (Some(verifier), Some(judge), Some(files))
    };

    let files = CertFiles {
        ca: write(dir.join("ca.pem"), &ca_cert.pem())?,
        chain: write(
            dir.join("server.pem"),
            &format!("{}{}", cert.pem(), ca_cert.pem()),
        )?,
        key: write(dir.join("server-key.pem"), &key.serialize_pem())?,
        client: client_files,
    };

    let chain: Vec<CertificateDer<'static>> = vec![cert.der().clone(), ca_cert.der().clone()];
    let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let builder =
        ServerConfig::builder_with_provider(provider).with_safe_default_protocol_versions()?;
    let builder = match client_verifier {
        Some(v) => builder.with_client_cert_verifier(v as Arc<dyn ClientCertVerifier>),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_single_cert(chain, private)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((Arc::new(config), files, judge))
}
