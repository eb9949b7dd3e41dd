//! Client-certificate authentication (`--client-certs optional|required`), as NIOS offers it
//! besides passwords.
//!
//! At start the server makes a client CA and a client certificate it signs, plus a second
//! pair signed by a CA it does not trust (for negative tests), and writes all of them to the
//! certificate directory.
//!
//! The TLS handshake asks every client for a certificate but never fails over one: it only
//! checks that the client holds the key of the certificate it sent. Whether the certificate
//! chains to the client CA is judged after the handshake with rustls' WebPKI verifier, and a
//! certificate that does not (or none, when required) gets the same 401 as a wrong password.
//! So a client sees one clear failure for every kind of bad credential, and the control API
//! (which has no authentication) stays reachable without a certificate.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme};

use crate::tls::{TlsError, write};

/// Whether clients are asked for a certificate, and whether they must send one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientCertMode {
    /// No certificate is asked for; Basic auth and the cookie only.
    #[default]
    Off,
    /// A trusted certificate authenticates a request without Basic auth; without one,
    /// Basic auth or the cookie still do.
    Optional,
    /// Every WAPI request needs a trusted certificate (Basic auth, if sent, must be right too).
    Required,
}

/// Where the client PEM files went.
#[derive(Debug, Clone)]
pub struct ClientCertFiles {
    /// The CA the server trusts for client certificates.
    pub ca: PathBuf,
    /// A client certificate signed by `ca`.
    pub cert: PathBuf,
    /// Its PKCS#8 private key.
    pub key: PathBuf,
    /// A client certificate signed by a CA the server does not trust.
    pub untrusted_cert: PathBuf,
    pub untrusted_key: PathBuf,
}

/// What the connection showed, put on each of its requests for [`crate::auth::authenticate`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ClientCert {
    /// No certificate, and none required.
    #[default]
    None,
    /// Required, but none was sent.
    Missing,
    /// Chains to the client CA.
    Trusted,
    /// Sent, but does not chain to the client CA (or has expired).
    Untrusted,
}

/// Judges a connection's certificate once its handshake is done.
#[derive(Debug, Clone)]
pub struct ClientCertJudge {
    webpki: Arc<dyn ClientCertVerifier>,
    required: bool,
}

impl ClientCertJudge {
    pub fn judge(&self, presented: Option<&[CertificateDer<'static>]>) -> ClientCert {
        match presented {
            Some([end_entity, intermediates @ ..]) => {
                match self
                    .webpki
                    .verify_client_cert(end_entity, intermediates, UnixTime::now())
                {
                    Ok(_) => ClientCert::Trusted,
                    Err(e) => {
                        tracing::debug!(error = %e, "client certificate refused");
                        ClientCert::Untrusted
                    }
                }
            }
            _ if self.required => ClientCert::Missing,
            _ => ClientCert::None,
        }
    }
}

/// The handshake half: asks for a certificate, proves key possession, defers trust.
#[derive(Debug)]
struct AskOnly {
    webpki: Arc<dyn ClientCertVerifier>,
}

impl ClientCertVerifier for AskOnly {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    /// No hints: a client sends whatever certificate it has, so an untrusted one reaches
    /// the 401 instead of being silently withheld.
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

fn ca(name: &str) -> Result<(Certificate, KeyPair), rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    let key = KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    Ok((cert, key))
}

fn client(name: &str, ca: &Certificate, ca_key: &KeyPair) -> Result<(String, String), TlsError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.use_authority_key_identifier_extension = true;
    params.not_before = date_time_ymd(2020, 1, 1);
    params.not_after = date_time_ymd(2099, 12, 31);
    let key = KeyPair::generate()?;
    let cert = params.signed_by(&key, ca, ca_key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Makes the client CA and the two client pairs in `dir`; returns the handshake verifier,
/// the judge for after the handshake, and the file names.
pub(crate) fn generate(
    dir: &Path,
    mode: ClientCertMode,
    provider: &Arc<rustls::crypto::CryptoProvider>,
) -> Result<
    (
        Arc<dyn ClientCertVerifier>,
        ClientCertJudge,
        ClientCertFiles,
    ),
    TlsError,
> {
    let (ca_cert, ca_key) = ca("wapi-sim client CA")?;
    let (cert, key) = client("wapi-sim-client", &ca_cert, &ca_key)?;
    let (other_ca, other_key) = ca("wapi-sim untrusted client CA")?;
    let (untrusted_cert, untrusted_key) = client("wapi-sim-untrusted", &other_ca, &other_key)?;
    let files = ClientCertFiles {
        ca: write(dir.join("client-ca.pem"), &ca_cert.pem())?,
        cert: write(dir.join("client.pem"), &cert)?,
        key: write(dir.join("client-key.pem"), &key)?,
        untrusted_cert: write(dir.join("untrusted-client.pem"), &untrusted_cert)?,
        untrusted_key: write(dir.join("untrusted-client-key.pem"), &untrusted_key)?,
    };

    let mut roots = RootCertStore::empty();
    roots.add(ca_cert.der().clone())?;
    let webpki = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .allow_unauthenticated()
        .build()
        .map_err(|e| TlsError::ClientVerifier(e.to_string()))?;
    let judge = ClientCertJudge {
        webpki: webpki.clone(),
        required: mode == ClientCertMode::Required,
    };
    Ok((Arc::new(AskOnly { webpki }), judge, files))
}
