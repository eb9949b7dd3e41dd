//! Metal3 pools: candidate generation per entry, entry order, random
//! allocation, per-entry attributes, pre-allocations and requested
//! addresses, each rule for IPv4 and IPv6.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;

use ipam_engine::{
    AllocateError, AllocationStrategy, Allocator, Metal3Entry, Metal3Spec, Placement, Pool,
    Violation, Withheld,
};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn entry(start: Option<&str>, end: Option<&str>, subnet: Option<&str>) -> Metal3Entry {
    Metal3Entry {
        start: start.map(Into::into),
        end: end.map(Into::into),
        subnet: subnet.map(Into::into),
        ..Metal3Entry::default()
    }
}

fn spec(pools: Vec<Metal3Entry>) -> Metal3Spec {
    Metal3Spec {
        name_prefix: "pool".into(),
        pools,
        prefix: 24,
        ..Metal3Spec::default()
    }
}

fn take(allocator: &mut Allocator, count: usize) -> Vec<String> {
    (0..count)
        .map_while(|i| allocator.allocate(&format!("c{i}"), None).ok())
        .map(|a| a.address.to_string())
        .collect()
}

fn ranges(pool: &Pool) -> Vec<String> {
    pool.allocatable_ranges().map(|r| r.to_string()).collect()
}

#[test]
fn entries_are_consumed_in_order_not_lowest_first() {
    let v4 = Pool::metal3(&spec(vec![
        entry(Some("10.0.0.50"), Some("10.0.0.51"), None),
        entry(Some("10.0.0.5"), Some("10.0.0.6"), None),
    ]))
    .unwrap();
    assert_eq!(
        take(&mut Allocator::new(v4), 5),
        ["10.0.0.50", "10.0.0.51", "10.0.0.5", "10.0.0.6"]
    );
    let v6 = Pool::metal3(&Metal3Spec {
        prefix: 64,
        ..spec(vec![
            entry(Some("fd00::50"), Some("fd00::51"), None),
            entry(Some("fd00::5"), Some("fd00::6"), None),
        ])
    })
    .unwrap();
    assert_eq!(
        take(&mut Allocator::new(v6), 5),
        ["fd00::50", "fd00::51", "fd00::5", "fd00::6"]
    );
}

#[test]
fn a_subnet_alone_starts_one_above_the_address_as_written() {
    // Not masked: 10.0.0.10/28 yields .11 to .14 (.15 is the broadcast,
    // withheld here although Metal3 hands it out).
    let v4 = Pool::metal3(&spec(vec![entry(None, None, Some("10.0.0.10/28"))])).unwrap();
    assert_eq!(ranges(&v4), ["10.0.0.11-10.0.0.14"]);
    let v6 = Pool::metal3(&Metal3Spec {
        prefix: 124,
        ..spec(vec![entry(None, None, Some("fd00::a/124"))])
    })
    .unwrap();
    assert_eq!(ranges(&v6), ["fd00::b-fd00::f"]);
    let network = Pool::metal3(&spec(vec![entry(None, None, Some("10.0.0.0/29"))])).unwrap();
    assert_eq!(ranges(&network), ["10.0.0.1-10.0.0.6"]);
}

#[test]
fn start_with_subnet_runs_to_the_subnet_end_and_start_outside_yields_nothing() {
    let inside = Pool::metal3(&spec(vec![entry(
        Some("10.0.0.4"),
        None,
        Some("10.0.0.0/29"),
    )]))
    .unwrap();
    assert_eq!(ranges(&inside), ["10.0.0.4-10.0.0.6"]);
    let outside = Pool::metal3(&spec(vec![entry(
        Some("10.0.1.4"),
        None,
        Some("10.0.0.0/29"),
    )]))
    .unwrap();
    assert_eq!(outside.total(), 0);
    let v6 = Pool::metal3(&Metal3Spec {
        prefix: 125,
        ..spec(vec![entry(
            Some("fd00::4"),
            Some("fd00::5"),
            Some("fd00::/125"),
        )])
    })
    .unwrap();
    assert_eq!(ranges(&v6), ["fd00::4-fd00::5"]);
}

#[test]
fn start_alone_is_unbounded_and_end_alone_yields_nothing() {
    let v4 = Pool::metal3(&spec(vec![
        entry(Some("255.255.255.250"), None, None),
        entry(None, Some("10.0.0.9"), None),
    ]))
    .unwrap();
    assert_eq!(ranges(&v4), ["255.255.255.250-255.255.255.255"]);
    let v6 = Pool::metal3(&Metal3Spec {
        prefix: 64,
        ..spec(vec![entry(Some("fd00::1"), None, None)])
    })
    .unwrap();
    assert_eq!(v6.total(), u128::MAX - ip_number("fd00::1") + 1);
}

fn ip_number(text: &str) -> u128 {
    match ip(text) {
        IpAddr::V6(v6) => u128::from(v6),
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
    }
}

#[test]
fn an_end_also_bounds_a_subnet_entry() {
    // Metal3 ignores `end` when only a subnet starts the entry and hands out
    // the rest of the subnet; the end is honoured here.
    let p = Pool::metal3(&spec(vec![entry(
        None,
        Some("10.0.0.3"),
        Some("10.0.0.0/24"),
    )]))
    .unwrap();
    assert_eq!(ranges(&p), ["10.0.0.1-10.0.0.3"]);
}

#[test]
fn entries_override_prefix_gateway_and_dns_servers() {
    for (first, second, gateway, entry_gateway, dns, entry_dns) in [
        (
            "10.0.0.0/24",
            "10.0.1.0/24",
            "10.0.0.254",
            "10.0.1.254",
            "10.0.0.53",
            "10.0.1.53",
        ),
        (
            "fd00::/64",
            "fd01::/64",
            "fd00::fe",
            "fd01::fe",
            "fd00::53",
            "fd01::53",
        ),
    ] {
        let mut overriding = entry(None, None, Some(second));
        overriding.prefix = if second.contains(':') { 80 } else { 26 };
        overriding.gateway = Some(entry_gateway.into());
        overriding.dns_servers = vec![entry_dns.into()];
        let mut one_address = entry(None, None, Some(first));
        one_address.end = Some(first.replace("0/24", "1").replace("::/64", "::1"));
        let p = Pool::metal3(&Metal3Spec {
            prefix: if first.contains(':') { 64 } else { 24 },
            gateway: Some(gateway.into()),
            dns_servers: vec![dns.into()],
            ..spec(vec![one_address, overriding.clone()])
        })
        .unwrap();
        let mut allocator = Allocator::new(p);
        let inherited = allocator.allocate("a", None).unwrap();
        assert_eq!(inherited.attributes.gateway, Some(ip(gateway)));
        assert_eq!(inherited.attributes.dns_servers, [ip(dns)]);
        let overridden = allocator.allocate("b", None).unwrap();
        assert_eq!(overridden.attributes.prefix, overriding.prefix as u8);
        assert_eq!(overridden.attributes.gateway, Some(ip(entry_gateway)));
        assert_eq!(overridden.attributes.dns_servers, [ip(entry_dns)]);
    }
}

#[test]
fn gateways_and_subnet_reserved_addresses_are_never_handed_out() {
    // Metal3 hands all of these out; this engine does not.
    let mut with_gateway = entry(None, None, Some("10.0.0.0/29"));
    with_gateway.gateway = Some("10.0.0.2".into());
    let p = Pool::metal3(&Metal3Spec {
        gateway: Some("10.0.0.1".into()),
        ..spec(vec![with_gateway])
    })
    .unwrap();
    assert_eq!(
        p.placement(ip("10.0.0.1")),
        Placement::Withheld(Withheld::Gateway)
    );
    assert_eq!(
        p.placement(ip("10.0.0.2")),
        Placement::Withheld(Withheld::Gateway)
    );
    assert_eq!(
        p.placement(ip("10.0.0.7")),
        Placement::Withheld(Withheld::Reserved)
    );
    assert_eq!(
        take(&mut Allocator::new(p), 9),
        ["10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"]
    );

    let v6 = Pool::metal3(&Metal3Spec {
        prefix: 125,
        gateway: Some("fd00::1".into()),
        ..spec(vec![entry(Some("fd00::"), None, Some("fd00::/125"))])
    })
    .unwrap();
    assert_eq!(
        v6.placement(ip("fd00::")),
        Placement::Withheld(Withheld::Reserved)
    );
    assert!(v6.contains(ip("fd00::7")), "IPv6 has no broadcast");
    assert_eq!(ranges(&v6), ["fd00::2-fd00::7"]);
}

#[test]
fn point_to_point_subnets_reserve_nothing() {
    let v4 = Pool::metal3(&spec(vec![entry(
        Some("10.0.0.0"),
        None,
        Some("10.0.0.0/31"),
    )]))
    .unwrap();
    assert_eq!(ranges(&v4), ["10.0.0.0-10.0.0.1"]);
    let v6 = Pool::metal3(&spec(vec![entry(Some("fd00::"), None, Some("fd00::/127"))])).unwrap();
    assert_eq!(ranges(&v6), ["fd00::-fd00::1"]);
}

#[test]
fn random_picks_inside_the_first_entry_with_room_and_repeats_with_a_seed() {
    let pool = Pool::metal3(&Metal3Spec {
        allocation_strategy: AllocationStrategy::Random,
        prefix: 64,
        ..spec(vec![
            entry(Some("fd00::100"), Some("fd00::1ff"), None),
            entry(Some("fd00::1"), Some("fd00::3"), None),
        ])
    })
    .unwrap();
    let run = |seed| {
        let mut allocator = Allocator::new(pool.clone()).with_seed(seed);
        take(&mut allocator, 259)
    };
    let first = run(7);
    assert_eq!(first, run(7), "a seed makes random allocation repeatable");
    assert_ne!(first, run(8));
    let (entry_one, rest) = first.split_at(256);
    let entry_one: BTreeSet<&String> = entry_one.iter().collect();
    assert_eq!(
        entry_one.len(),
        256,
        "the first entry is used up before the second"
    );
    assert!(
        entry_one
            .iter()
            .all(|a| ip(a) >= ip("fd00::100") && ip(a) <= ip("fd00::1ff"))
    );
    let mut rest: Vec<&String> = rest.iter().collect();
    rest.sort();
    assert_eq!(rest, ["fd00::1", "fd00::2", "fd00::3"]);
}

#[test]
fn random_wraps_around_to_the_start_of_the_entry() {
    let pool = Pool::metal3(&Metal3Spec {
        allocation_strategy: AllocationStrategy::Random,
        ..spec(vec![entry(Some("10.0.0.1"), Some("10.0.0.4"), None)])
    })
    .unwrap();
    // Whatever the random start, four claims fill the four addresses.
    for seed in 0..20 {
        let mut allocator = Allocator::new(pool.clone()).with_seed(seed);
        let mut got = take(&mut allocator, 5);
        got.sort();
        assert_eq!(got, ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4"]);
    }
}

#[test]
fn random_works_on_huge_ipv6_entries() {
    let pool = Pool::metal3(&Metal3Spec {
        allocation_strategy: AllocationStrategy::Random,
        prefix: 64,
        ..spec(vec![entry(None, None, Some("fd00::/64"))])
    })
    .unwrap();
    let mut allocator = Allocator::new(pool).with_seed(1);
    let address = allocator.allocate("a", None).unwrap().address;
    assert!(allocator.pool().contains(address));
}

fn preallocated_pool(v6: bool) -> (Pool, &'static str, &'static str) {
    let (subnet, pre, prefix) = if v6 {
        ("fd00::/125", "fd00::1", 125)
    } else {
        ("10.0.0.0/29", "10.0.0.1", 29)
    };
    let pool = Pool::metal3(&Metal3Spec {
        prefix,
        pre_allocations: BTreeMap::from([("special".to_string(), pre.to_string())]),
        ..spec(vec![entry(None, None, Some(subnet))])
    })
    .unwrap();
    (pool, pre, if v6 { "fd00::2" } else { "10.0.0.2" })
}

#[test]
fn a_preallocated_address_is_kept_for_its_claim() {
    for v6 in [false, true] {
        let (pool, pre, second) = preallocated_pool(v6);
        let mut allocator = Allocator::new(pool);
        assert_eq!(
            allocator.allocate("other", None).unwrap().address,
            ip(second),
            "others skip it"
        );
        let taken = allocator.allocate("thief", Some(pre)).unwrap_err();
        assert_eq!(
            taken.to_string(),
            format!("Requested IP not available: {pre} is pre-allocated to claim \"special\"")
        );
        assert_eq!(
            allocator.allocate("special", None).unwrap().address,
            ip(pre)
        );
        assert_eq!(allocator.release("special"), Some(ip(pre)));
        assert!(
            allocator.allocate("thief", Some(pre)).is_err(),
            "it stays kept after release"
        );
        assert_eq!(
            allocator.allocate("special", Some(pre)).unwrap().address,
            ip(pre)
        );
    }
}

#[test]
fn a_preallocation_conflicting_with_the_request_is_refused() {
    let (pool, pre, second) = preallocated_pool(false);
    let error = Allocator::new(pool)
        .allocate("special", Some(second))
        .unwrap_err();
    assert_eq!(
        error.upstream_message(),
        "PreAllocation and requested ip address are conflicting"
    );
    assert_eq!(
        error.to_string(),
        format!(
            "PreAllocation and requested ip address are conflicting: claim \"special\" is pre-allocated {pre} but requests {second}"
        )
    );
}

#[test]
fn a_preallocation_outside_every_entry_is_refused() {
    for (subnet, pre) in [("10.0.0.0/29", "10.0.9.9"), ("fd00::/125", "fd09::9")] {
        let pool = Pool::metal3(&Metal3Spec {
            pre_allocations: BTreeMap::from([("c".to_string(), pre.to_string())]),
            prefix: if pre.contains(':') { 125 } else { 29 },
            ..spec(vec![entry(None, None, Some(subnet))])
        })
        .unwrap();
        let error = Allocator::new(pool).allocate("c", None).unwrap_err();
        assert_eq!(error.upstream_message(), "Pre-allocated IP out of bounds");
        assert!(
            error
                .to_string()
                .starts_with("Pre-allocated IP out of bounds: "),
            "{error}"
        );
    }
}

#[test]
fn a_preallocation_already_used_by_another_claim_is_refused() {
    let (pool, pre, _) = preallocated_pool(true);
    let (mut allocator, issues) = Allocator::rebuild(pool, [(pre, "squatter")]);
    assert!(issues.is_empty());
    let error = allocator.allocate("special", None).unwrap_err();
    assert_eq!(
        error,
        AllocateError::Taken {
            address: ip(pre),
            owner: "squatter".into(),
            held: false
        }
    );
    allocator.release("squatter");
    assert_eq!(
        allocator.allocate("other", None).unwrap().address,
        ip("fd00::2"),
        "still kept for its claim"
    );
    assert_eq!(
        allocator.allocate("special", None).unwrap().address,
        ip(pre)
    );
}

#[test]
fn requested_addresses_use_metal3_words() {
    let pool = Pool::metal3(&Metal3Spec {
        gateway: Some("10.0.0.1".into()),
        ..spec(vec![entry(Some("10.0.0.1"), Some("10.0.0.9"), None)])
    })
    .unwrap();
    let mut allocator = Allocator::new(pool);
    assert_eq!(
        allocator.allocate("a", Some("10.0.0.5")).unwrap().address,
        ip("10.0.0.5")
    );
    let taken = allocator.allocate("b", Some("10.0.0.5")).unwrap_err();
    assert_eq!(taken.upstream_message(), "Requested IP not available");
    let invalid = allocator.allocate("b", Some("ten")).unwrap_err();
    assert!(
        invalid
            .to_string()
            .starts_with("Invalid ipAddress annotation \"ten\": not a valid IP address")
    );
    assert_eq!(
        invalid.upstream_message(),
        "Invalid ipAddress annotation \"ten\": not a valid IP address"
    );
    let outside = allocator.allocate("b", Some("10.0.0.99")).unwrap_err();
    assert_eq!(outside.upstream_message(), "Exhausted IP Pools");
    assert!(
        !outside.is_exhausted(),
        "a request outside the pool is not an exhausted pool"
    );
    let gateway = allocator.allocate("b", Some("10.0.0.1")).unwrap_err();
    assert_eq!(
        gateway,
        AllocateError::Withheld {
            address: ip("10.0.0.1"),
            reason: Withheld::Gateway
        }
    );
    assert_eq!(
        allocator.allocate("b", None).unwrap().address,
        ip("10.0.0.2")
    );
}

#[test]
fn exhaustion_says_exhausted_ip_pools() {
    let (pool, _, _) = preallocated_pool(false);
    let mut allocator = Allocator::new(pool);
    take(&mut allocator, 5);
    let error = allocator.allocate("late", None).unwrap_err();
    assert!(error.is_exhausted());
    assert_eq!(
        error.to_string(),
        "Exhausted IP Pools: 5 of 6 allocatable addresses in 10.0.0.1-10.0.0.6 are in use, 1 more are held for pre-allocated claims"
    );
    let counts = allocator.counts();
    assert_eq!((counts.total, counts.used, counts.free), (6, 5, 1));
}

#[test]
fn an_empty_pool_has_nothing_to_give() {
    let pool = Pool::metal3(&spec(vec![])).unwrap();
    assert_eq!(pool.total(), 0);
    let error = Allocator::new(pool).allocate("a", None).unwrap_err();
    assert!(
        error.to_string().contains("no allocatable address"),
        "{error}"
    );
}

#[test]
fn broken_specs_are_refused_with_field_paths() {
    let mixed =
        Pool::metal3(&spec(vec![entry(Some("10.0.0.1"), Some("fd00::9"), None)])).unwrap_err();
    assert_eq!(
        mixed.to_string(),
        "spec.pools[0].end: Invalid value: \"fd00::9\": is an IPv6 address but the pool's first address is IPv4: IPv4 and IPv6 never mix in one pool"
    );
    let bad_start = Pool::metal3(&spec(vec![entry(Some("10.0.0.x"), None, None)])).unwrap_err();
    assert_eq!(
        bad_start.0[0].violation,
        Violation::InvalidStart("10.0.0.x".into())
    );
    let long = Pool::metal3(&Metal3Spec {
        prefix: 33,
        ..spec(vec![entry(Some("10.0.0.1"), None, None)])
    })
    .unwrap_err();
    assert_eq!(
        long.to_string(),
        "spec.prefix: Invalid value: 33: is not a prefix length for IPv4 (0 to 32 bits)"
    );
    // Odd but meaningful specs build, as Metal3 serves them.
    let reversed =
        Pool::metal3(&spec(vec![entry(Some("10.0.0.9"), Some("10.0.0.1"), None)])).unwrap();
    assert_eq!(reversed.total(), 0);
}

/// Metal3 keys pre-allocations by claim name whatever the claim's kind; a face that knows
/// claims by kind-qualified keys names one address under several keys. Any of them may take
/// it, one at a time, and nobody else.
#[test]
fn an_address_pre_allocated_under_several_keys_goes_to_whichever_comes_first() {
    let mut s = spec(vec![entry(Some("10.0.0.10"), Some("10.0.0.12"), None)]);
    s.pre_allocations = BTreeMap::from([
        ("IPClaim/ns/m".to_string(), "10.0.0.10".to_string()),
        ("IPAddressClaim/ns/m".to_string(), "10.0.0.10".to_string()),
    ]);
    let mut allocator = Allocator::new(Pool::metal3(&s).unwrap());
    assert_eq!(
        allocator.allocate("other", None).unwrap().address,
        ip("10.0.0.11")
    );
    let first = allocator.allocate("IPAddressClaim/ns/m", None).unwrap();
    assert_eq!(first.address, ip("10.0.0.10"));
    assert!(matches!(
        allocator.allocate("IPClaim/ns/m", None),
        Err(AllocateError::Taken { held: false, .. })
    ));
    allocator.release("IPAddressClaim/ns/m");
    assert_eq!(
        allocator.allocate("IPClaim/ns/m", None).unwrap().address,
        ip("10.0.0.10")
    );
}
