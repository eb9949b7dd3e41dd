//! Which TLS versions and cipher suites the operator's HTTPS listeners offer, from the flags
//! Cluster API managers take (`--tls-min-version`, `--tls-cipher-suites`), with Go's names
//! for both, so that a Deployment written for an upstream provider runs unchanged.
//!
//! What differs from a Go manager, and why it is safe: rustls speaks TLS 1.2 and 1.3 only
//! and offers only ECDHE key exchange with AEAD ciphers. A minimum of TLS 1.0 or 1.1 is
//! therefore served as 1.2 (nothing older is ever accepted, which is what a minimum asks),
//! and a suite Go knows but rustls does not offer (CBC, RC4, 3DES, RSA key exchange) is
//! refused at start with the suites that can be chosen. As in Go, the list governs TLS 1.2
//! only: TLS 1.3's suites are always offered.

use rustls::SupportedCipherSuite;
use rustls::SupportedProtocolVersion;
use rustls::crypto::CryptoProvider;
use rustls::crypto::ring::cipher_suite as ring;

/// Go's names of the TLS 1.2 suites rustls offers, with the legacy aliases Kubernetes
/// accepts for the two ChaCha20 ones.
const TLS12: &[(&str, SupportedCipherSuite)] = &[
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        ring::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        ring::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305",
        ring::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        ring::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        ring::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305",
        ring::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
    ),
];

/// TLS 1.3's suites: accepted in the list, always offered (Go ignores them in the list too).
const TLS13: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
];

/// Suites Go names (secure and insecure) that rustls does not implement.
const NOT_OFFERED: &[&str] = &[
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA",
    "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA",
    "TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256",
    "TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_RC4_128_SHA",
    "TLS_RSA_WITH_3DES_EDE_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA",
    "TLS_RSA_WITH_AES_256_CBC_SHA",
    "TLS_RSA_WITH_AES_128_CBC_SHA256",
    "TLS_RSA_WITH_AES_128_GCM_SHA256",
    "TLS_RSA_WITH_AES_256_GCM_SHA384",
    "TLS_ECDHE_ECDSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_RC4_128_SHA",
    "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA",
];

/// The values `--tls-min-version` takes, as in Kubernetes components.
pub const VERSIONS: &[&str] = &[
    "VersionTLS10",
    "VersionTLS11",
    "VersionTLS12",
    "VersionTLS13",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsPolicyError {
    #[error("--tls-min-version {0:?} is not a TLS version; use one of {VERSIONS:?}")]
    Version(String),
    #[error("--tls-cipher-suites: {0:?} is not a TLS cipher suite name")]
    UnknownSuite(String),
    #[error(
        "--tls-cipher-suites: {suite} is not offered by this operator (its TLS library serves only ECDHE key exchange with AEAD ciphers); choose among {choices}"
    )]
    NotOffered { suite: String, choices: String },
}

/// The protocol versions and suites the listeners offer.
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    tls13_only: bool,
    /// `None`: every TLS 1.2 suite rustls offers.
    tls12_suites: Option<Vec<SupportedCipherSuite>>,
}

impl Default for TlsPolicy {
    /// Go's defaults: TLS 1.2 and up, the library's own suites.
    fn default() -> Self {
        TlsPolicy {
            tls13_only: false,
            tls12_suites: None,
        }
    }
}

impl TlsPolicy {
    pub fn from_flags(min_version: &str, suites: &[String]) -> Result<Self, TlsPolicyError> {
        let tls13_only = match min_version {
            "VersionTLS10" | "VersionTLS11" | "VersionTLS12" => false,
            "VersionTLS13" => true,
            other => return Err(TlsPolicyError::Version(other.to_string())),
        };
        let mut tls12_suites = Vec::new();
        for name in suites.iter().map(|s| s.trim()).filter(|s| !s.is_empty()) {
            if let Some((_, suite)) = TLS12.iter().find(|(go, _)| *go == name) {
                if !tls12_suites.contains(suite) {
                    tls12_suites.push(*suite);
                }
            } else if TLS13.contains(&name) {
                continue;
            } else if NOT_OFFERED.contains(&name) {
                return Err(TlsPolicyError::NotOffered {
                    suite: name.to_string(),
                    choices: TLS12
                        .iter()
                        .map(|(go, _)| *go)
                        .chain(TLS13.iter().copied())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            } else {
                return Err(TlsPolicyError::UnknownSuite(name.to_string()));
            }
        }
        let listed = suites.iter().any(|s| !s.trim().is_empty());
        Ok(TlsPolicy {
            tls13_only,
            tls12_suites: listed.then_some(tls12_suites),
        })
    }

    pub fn versions(&self) -> &'static [&'static SupportedProtocolVersion] {
        static TLS13_ONLY: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];
        if self.tls13_only {
            TLS13_ONLY
        } else {
            rustls::DEFAULT_VERSIONS
        }
    }

    /// The ring provider, its TLS 1.2 suites narrowed to the chosen ones.
    pub fn provider(&self) -> CryptoProvider {
        let mut provider = rustls::crypto::ring::default_provider();
        if let Some(chosen) = &self.tls12_suites {
            provider
                .cipher_suites
                .retain(|s| s.version() == &rustls::version::TLS13 || chosen.contains(s));
        }
        provider
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(policy: &TlsPolicy) -> Vec<String> {
        policy
            .provider()
            .cipher_suites
            .iter()
            .map(|s| format!("{:?}", s.suite()))
            .collect()
    }

    #[test]
    fn defaults_offer_tls12_and_13_with_every_suite() {
        let policy = TlsPolicy::from_flags("VersionTLS12", &[]).unwrap();
        assert_eq!(policy.versions().len(), 2);
        assert_eq!(offered(&policy).len(), 9);
    }

    #[test]
    fn a_minimum_of_tls13_offers_tls13_alone() {
        let policy = TlsPolicy::from_flags("VersionTLS13", &[]).unwrap();
        assert_eq!(policy.versions(), &[&rustls::version::TLS13]);
    }

    #[test]
    fn older_minimums_are_served_as_tls12() {
        for min in ["VersionTLS10", "VersionTLS11"] {
            let policy = TlsPolicy::from_flags(min, &[]).unwrap();
            assert_eq!(policy.versions(), rustls::DEFAULT_VERSIONS);
        }
    }

    #[test]
    fn listed_suites_narrow_tls12_and_leave_tls13_alone() {
        let suites = vec![
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string(),
            "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305".to_string(),
            "TLS_AES_128_GCM_SHA256".to_string(),
        ];
        let offered = offered(&TlsPolicy::from_flags("VersionTLS12", &suites).unwrap());
        assert_eq!(offered.len(), 5, "{offered:?}");
        assert!(offered.contains(&"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256".to_string()));
        assert!(offered.contains(&"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256".to_string()));
        assert!(!offered.contains(&"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384".to_string()));
    }

    #[test]
    fn bad_values_name_the_flag_and_the_rule() {
        let err = TlsPolicy::from_flags("TLS1.2", &[]).unwrap_err();
        assert!(
            err.to_string().contains("--tls-min-version \"TLS1.2\""),
            "{err}"
        );
        let err = TlsPolicy::from_flags("VersionTLS12", &["TLS_FOO".into()]).unwrap_err();
        assert_eq!(err, TlsPolicyError::UnknownSuite("TLS_FOO".into()));
        let err = TlsPolicy::from_flags("VersionTLS12", &["TLS_RSA_WITH_AES_128_CBC_SHA".into()])
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("TLS_RSA_WITH_AES_128_CBC_SHA is not offered"),
            "{text}"
        );
        assert!(
            text.contains("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
            "{text}"
        );
    }
}
