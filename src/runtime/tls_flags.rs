//! Cluster API's TLS flags, for every HTTPS listener of the operator (the webhook, and
//! `/metrics` when served securely).

use ipam_kube_support::webhook::tls_policy::{TlsPolicy, TlsPolicyError};

#[derive(clap::Args, Debug, Clone)]
pub struct TlsArgs {
    /// Lowest TLS version accepted: VersionTLS12 or VersionTLS13 (VersionTLS10 and
    /// VersionTLS11 are accepted and served as TLS 1.2, the oldest this operator speaks).
    #[arg(long, env = "IPAM_TLS_MIN_VERSION", default_value = "VersionTLS12")]
    pub tls_min_version: String,
    /// TLS 1.2 cipher suites offered, Go's names, comma-separated (all when unset; TLS 1.3's
    /// are always offered).
    #[arg(long, env = "IPAM_TLS_CIPHER_SUITES", value_delimiter = ',')]
    pub tls_cipher_suites: Vec<String>,
}

impl TlsArgs {
    pub fn policy(&self) -> Result<TlsPolicy, TlsPolicyError> {
        TlsPolicy::from_flags(&self.tls_min_version, &self.tls_cipher_suites)
    }
}
