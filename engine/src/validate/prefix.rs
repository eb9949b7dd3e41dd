//! The in-cluster provider's prefix-pool webhook rules, with its messages, and IPv4 pools
//! beside IPv6 ones (upstream refuses IPv4 with "only IPv6 prefixes are supported"; here a
//! pool is of the family of its first prefix, and the family rules hold it to that).

use crate::address::{Family, number, subnet_of};
use crate::field::{BadValue, FieldError, SpecError, Validation, Violation, Warning};
use crate::parse::parse_address;
use crate::prefix::PrefixPool;
use crate::syntax::{AddressEntry, Cidr};

/// Block length of a pool that does not say: upstream's default.
pub const DEFAULT_ALLOCATION_PREFIX_LENGTH: i64 = 64;

/// A prefix pool's spec, as InClusterPrefixPool writes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixSpec {
    /// CIDRs the blocks are cut from.
    pub prefixes: Vec<String>,
    /// The blocks' length; 0 for the default.
    pub allocation_prefix_length: i64,
    /// Written to each IPAddress; blocks nothing.
    pub gateway: Option<String>,
    /// IPs, CIDRs or ranges no block may touch.
    pub excluded_prefixes: Vec<String>,
}

impl PrefixSpec {
    /// The block length, the default standing in for 0 as upstream's defaulter does.
    pub fn effective_length(&self) -> i64 {
        match self.allocation_prefix_length {
            0 => DEFAULT_ALLOCATION_PREFIX_LENGTH,
            length => length,
        }
    }
}

/// Runs the prefix-pool webhook's create and update rules, in its order: an empty
/// `prefixes` or an out-of-range length stops there; otherwise every prefix, the gateway and
/// every exclusion is checked. An update must also keep its length (see
/// [`PrefixSpec::effective_length`]) and its allocations (see [`non_allocatable`]).
pub fn validate_prefix_pool(spec: &PrefixSpec) -> Validation {
    let mut errors = Vec::new();
    let invalid =
        |field: &str, value: BadValue, violation| FieldError::new(field, value, violation);
    if spec.prefixes.is_empty() {
        errors.push(invalid(
            "spec.prefixes",
            BadValue::List(spec.prefixes.clone()),
            Violation::PrefixesRequired,
        ));
        return Validation {
            errors,
            warnings: Vec::new(),
        };
    }
    let length = spec.effective_length();
    if !(1..=128).contains(&length) {
        errors.push(invalid(
            "spec.allocationPrefixLength",
            BadValue::Number(length),
            Violation::AllocationLengthRange,
        ));
        return Validation {
            errors,
            warnings: Vec::new(),
        };
    }
    let mut family = None;
    let mut parsed = Vec::new();
    for text in &spec.prefixes {
        let value = || BadValue::Text(text.clone());
        let prefix = match Cidr::parse(text) {
            Ok(prefix) => prefix,
            Err(error) => {
                errors.push(invalid(
                    "spec.prefixes",
                    value(),
                    Violation::NotAPrefix(error),
                ));
                continue;
            }
        };
        if *family.get_or_insert(prefix.family()) != prefix.family() {
            errors.push(invalid(
                "spec.prefixes",
                value(),
                Violation::PrefixesMixedFamilies,
            ));
            continue;
        }
        let (first, _) = prefix.range().numbers();
        if first != number(prefix.address()) {
            errors.push(invalid(
                "spec.prefixes",
                value(),
                Violation::NotNetworkAligned,
            ));
        }
        if i64::from(prefix.prefix_len()) > length {
            errors.push(invalid(
                "spec.prefixes",
                value(),
                Violation::PrefixLongerThanAllocation(length),
            ));
        }
        parsed.push(prefix);
    }
    let family = family.unwrap_or(Family::V6);
    if family == Family::V4 && length > 32 {
        errors.push(invalid(
            "spec.allocationPrefixLength",
            BadValue::Number(length),
            Violation::AllocationLengthRangeV4,
        ));
    }
    let gateway = spec.gateway.as_deref().filter(|g| !g.is_empty());
    let mut gateway_address = None;
    if let Some(text) = gateway {
        match parse_address(text) {
            Err(error) => errors.push(invalid(
                "spec.gateway",
                BadValue::Text(text.to_owned()),
                Violation::GatewayUnparsable(error),
            )),
            Ok(address) if Family::of(address) != family => errors.push(invalid(
                "spec.gateway",
                BadValue::Text(text.to_owned()),
                Violation::GatewayMustBe(family),
            )),
            Ok(address) => gateway_address = Some(address),
        }
    }
    for text in &spec.excluded_prefixes {
        let value = || BadValue::Text(text.clone());
        match AddressEntry::parse(text) {
            Err(error) => errors.push(invalid(
                "spec.excludedPrefixes",
                value(),
                Violation::NotAnExcludedEntry(error),
            )),
            Ok(entry) if entry.family() != family => errors.push(invalid(
                "spec.excludedPrefixes",
                value(),
                Violation::ExcludedMustBe(family),
            )),
            Ok(_) => {}
        }
    }
    let mut warnings = Vec::new();
    if errors.is_empty() && length == i64::from(family.bits()) {
        warnings.push(Warning::HostLengthBlocks(family.bits()));
        if let Some(gateway) = gateway_address
            && parsed.iter().any(|p| p.contains(gateway))
        {
            warnings.push(Warning::GatewayMayBeAllocated(family.bits()));
        }
    }
    Validation { errors, warnings }
}

impl PrefixPool {
    /// The pool a valid spec describes.
    ///
    /// # Errors
    /// Every rule of [`validate_prefix_pool`] the spec breaks.
    pub fn from_spec(spec: &PrefixSpec) -> Result<PrefixPool, SpecError> {
        let validation = validate_prefix_pool(spec);
        if !validation.is_valid() {
            return Err(SpecError(validation.errors));
        }
        let prefixes: Vec<Cidr> = spec
            .prefixes
            .iter()
            .map(|p| Cidr::parse(p).expect("validated"))
            .collect();
        let excluded: Vec<AddressEntry> = spec
            .excluded_prefixes
            .iter()
            .map(|e| AddressEntry::parse(e).expect("validated"))
            .collect();
        Ok(
            PrefixPool::new(&prefixes, spec.effective_length(), &excluded)
                .expect("a validated spec compiles"),
        )
    }
}

/// The in-use allocations (`spec.address` and `spec.prefix` of each IPAddress; the prefix
/// may be missing) that `pool` would not hand out, by address, sorted as upstream sorts
/// them: the refusal of an update that strands them.
pub fn non_allocatable(pool: &PrefixPool, in_use: &[(String, Option<i64>)]) -> Vec<String> {
    let mut out: Vec<String> = in_use
        .iter()
        .filter(|(address, prefix)| {
            let allocatable = prefix
                .and_then(|p| u8::try_from(p).ok())
                .zip(parse_address(address).ok())
                .filter(|&(p, a)| p <= Family::of(a).bits())
                .is_some_and(|(p, a)| {
                    let (first, _) = subnet_of(Family::of(a), number(a), p);
                    pool.contains(Family::of(a).address(first), p)
                });
            !allocatable
        })
        .map(|(address, _)| address.clone())
        .collect();
    out.sort();
    out
}

/// Upstream's refusal of an update that strands `addresses` (as [`non_allocatable`] gives
/// them): Go's `%v` of a string slice.
pub fn non_allocatable_message(addresses: &[String]) -> String {
    format!(
        "existing allocations become non-allocatable: [{}]",
        addresses.join(" ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(prefixes: &[&str], length: i64) -> PrefixSpec {
        PrefixSpec {
            prefixes: prefixes.iter().map(|p| p.to_string()).collect(),
            allocation_prefix_length: length,
            ..PrefixSpec::default()
        }
    }

    fn messages(spec: &PrefixSpec) -> Vec<String> {
        validate_prefix_pool(spec)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn upstreams_sample_is_valid_and_defaults_to_64() {
        let sample = PrefixSpec {
            prefixes: vec!["fd00::/48".into(), "fd01::/48".into()],
            allocation_prefix_length: 0,
            gateway: Some("fd00::1".into()),
            excluded_prefixes: vec!["fd00:0:0:1::/64".into()],
        };
        let validation = validate_prefix_pool(&sample);
        assert!(validation.is_valid(), "{validation:?}");
        assert!(validation.warnings.is_empty());
        assert_eq!(PrefixPool::from_spec(&sample).unwrap().length(), 64);
    }

    #[test]
    fn upstreams_messages() {
        assert_eq!(
            messages(&spec(&[], 64)),
            ["spec.prefixes: Invalid value: []string{}: prefixes is required"]
        );
        assert_eq!(
            messages(&spec(&["fd00::/48"], 129)),
            [
                "spec.allocationPrefixLength: Invalid value: 129: allocationPrefixLength must be between 1 and 128"
            ]
        );
        assert_eq!(
            messages(&spec(
                &["fd00::/48", "nonsense", "fd00::1/48", "fd00::/72"],
                64
            )),
            [
                "spec.prefixes: Invalid value: \"nonsense\": provided entry is not a valid IPv6 CIDR",
                "spec.prefixes: Invalid value: \"fd00::1/48\": CIDR must be network-aligned",
                "spec.prefixes: Invalid value: \"fd00::/72\": CIDR prefix length must be <= allocationPrefixLength (64)",
            ]
        );
        let mut bad = spec(&["fd00::/48"], 64);
        bad.gateway = Some("10.0.0.1".into());
        bad.excluded_prefixes = vec!["10.0.0.0/24".into(), "x-y".into()];
        assert_eq!(
            messages(&bad),
            [
                "spec.gateway: Invalid value: \"10.0.0.1\": provided gateway must be IPv6",
                "spec.excludedPrefixes: Invalid value: \"10.0.0.0/24\": only IPv6 excluded prefixes are supported",
                "spec.excludedPrefixes: Invalid value: \"x-y\": provided entry is not a valid IP, range, nor CIDR",
            ]
        );
        bad.gateway = Some("fd00::x".into());
        assert!(
            messages(&bad)[0]
                .starts_with("spec.gateway: Invalid value: \"fd00::x\": ParseAddr(\"fd00::x\"): ")
        );
    }

    #[test]
    fn ipv4_pools_are_taken_in_one_family_with_blocks_of_at_most_32() {
        let mut v4 = spec(&["10.0.0.0/24"], 28);
        v4.gateway = Some("10.0.0.1".into());
        v4.excluded_prefixes = vec!["10.0.0.16/28".into()];
        assert!(validate_prefix_pool(&v4).is_valid());
        assert_eq!(PrefixPool::from_spec(&v4).unwrap().total(), 15);
        assert_eq!(
            messages(&spec(&["10.0.0.0/24"], 0)),
            [
                "spec.allocationPrefixLength: Invalid value: 64: allocationPrefixLength must be between 1 and 32 for IPv4 prefixes"
            ]
        );
        assert_eq!(
            messages(&spec(&["10.0.0.0/24", "fd00::/48"], 28)),
            [
                "spec.prefixes: Invalid value: \"fd00::/48\": provided prefixes are of mixed IP families"
            ]
        );
        v4.gateway = Some("fd00::1".into());
        v4.excluded_prefixes = vec!["fd00::/64".into()];
        assert_eq!(
            messages(&v4),
            [
                "spec.gateway: Invalid value: \"fd00::1\": provided gateway must be IPv4",
                "spec.excludedPrefixes: Invalid value: \"fd00::/64\": only IPv4 excluded prefixes are supported",
            ]
        );
    }

    #[test]
    fn host_length_blocks_warn_and_more_so_with_the_gateway_inside() {
        let mut host = spec(&["fd00::/120"], 128);
        let words: Vec<String> = validate_prefix_pool(&host)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            words,
            [
                "spec.allocationPrefixLength=128 behaves like host-address allocation; consider InClusterIPPool for single-address semantics"
            ]
        );
        host.gateway = Some("fd00::1".into());
        let warnings = validate_prefix_pool(&host).warnings;
        assert_eq!(
            warnings[1].to_string(),
            "spec.gateway is within spec.prefixes and is not reserved; with /128 allocationPrefixLength it may also be allocated to claims"
        );
        host.gateway = Some("fd01::1".into());
        assert_eq!(validate_prefix_pool(&host).warnings.len(), 1);
    }

    #[test]
    fn an_update_is_refused_for_allocations_it_would_strand() {
        let pool = PrefixPool::from_spec(&PrefixSpec {
            prefixes: vec!["fd00::/62".into()],
            excluded_prefixes: vec!["fd00:0:0:1::5".into()],
            ..PrefixSpec::default()
        })
        .unwrap();
        let in_use = [
            ("fd00::".to_string(), Some(64)),
            ("fd00:0:0:3::".to_string(), Some(64)),
            ("fd00:0:0:1::".to_string(), Some(64)),
            ("fd01::".to_string(), Some(64)),
            ("fd00:0:0:2::".to_string(), Some(60)),
            ("fd00:0:0:2::".to_string(), None),
        ];
        let stranded = non_allocatable(&pool, &in_use);
        assert_eq!(
            stranded,
            ["fd00:0:0:1::", "fd00:0:0:2::", "fd00:0:0:2::", "fd01::"]
        );
        assert_eq!(
            non_allocatable_message(&stranded),
            "existing allocations become non-allocatable: [fd00:0:0:1:: fd00:0:0:2:: fd00:0:0:2:: fd01::]"
        );
    }
}
