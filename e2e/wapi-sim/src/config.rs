//! Settings that tests may change at run time (through `PUT /_sim/config`), as opposed to the
//! listen address and certificate directory, which are fixed at start.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SimConfig {
    /// Highest WAPI version served; every version from `min_wapi_version` up to it is accepted,
    /// as a real grid accepts every version up to its own.
    pub max_wapi_version: String,
    pub min_wapi_version: String,
    /// Lifetime of an `ibapauth` session, written into the cookie as `timeout=`.
    pub session_timeout_secs: u64,
    /// Offset of the first address `nextavailableip` may hand out. 1 skips the network
    /// address (IPv4) or the subnet-router anycast address (IPv6).
    pub first_usable_offset: u64,
    /// Further offsets never handed out in any network; negative ones count from the end
    /// (-1 is the last address). Grids often reserve the gateway this way.
    pub reserved_offsets: Vec<i64>,
    /// Whether two non-DNS host records may share a name in one network view. NIOS
    /// behaviour is uncertain; refusing is the safer default for idempotency tests.
    pub allow_duplicate_non_dns_hosts: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            max_wapi_version: "2.13.6".into(),
            min_wapi_version: "2.0".into(),
            session_timeout_secs: 600,
            first_usable_offset: 1,
            reserved_offsets: Vec::new(),
            allow_duplicate_non_dns_hosts: false,
        }
    }
}

/// A WAPI version as a comparable tuple; a missing patch level counts as 0.
pub fn parse_version(v: &str) -> Option<(u32, u32, u32)> {
    let mut parts = v.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = match parts.next() {
        Some(p) => p.parse().ok()?,
        None => 0,
    };
    if parts.next().is_some() {
        return None;
    }
    Some((major, minor, patch))
}

impl SimConfig {
    pub fn accepts_version(&self, v: &str) -> bool {
        match (
            parse_version(v),
            parse_version(&self.min_wapi_version),
            parse_version(&self.max_wapi_version),
        ) {
            (Some(v), Some(lo), Some(hi)) => lo <= v && v <= hi,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_up_to_the_maximum_are_accepted() {
        let c = SimConfig::default();
        for v in ["2.5", "2.7", "2.10", "2.11.2", "2.12", "2.12.3", "2.13.6"] {
            assert!(c.accepts_version(v), "{v}");
        }
        for v in ["2.13.7", "2.14", "3.0", "1.9", "x", "2", "2.12.1.1"] {
            assert!(!c.accepts_version(v), "{v}");
        }
    }
}
