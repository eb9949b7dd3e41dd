//! In-cluster pools: the allocatable set, allocation order, counts and
//! rebuild, each rule for IPv4 and IPv6.

use std::net::IpAddr;

use ipam_engine::{
    AllocateError, Allocator, InClusterSpec, Placement, Pool, RecordIssue, Style, Violation,
    Withheld,
};

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn spec(addresses: &[&str], prefix: i64) -> InClusterSpec {
    InClusterSpec {
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        prefix,
        ..InClusterSpec::default()
    }
}

fn ranges(pool: &Pool) -> Vec<String> {
    pool.allocatable_ranges().map(|r| r.to_string()).collect()
}

fn pool(spec: &InClusterSpec) -> Pool {
    Pool::in_cluster(spec).unwrap()
}

#[test]
fn entries_are_ips_cidrs_and_ranges() {
    let v4 = pool(&InClusterSpec {
        allocate_reserved_ip_addresses: true,
        ..spec(&["10.0.0.9", "10.0.0.16/30", "10.0.0.3-10.0.0.5"], 24)
    });
    assert_eq!(
        ranges(&v4),
        [
            "10.0.0.3-10.0.0.5",
            "10.0.0.9-10.0.0.9",
            "10.0.0.16-10.0.0.19"
        ]
    );
    let v6 = pool(&InClusterSpec {
        allocate_reserved_ip_addresses: true,
        ..spec(&["fd00::9", "fd00::10/126", "fd00::3-fd00::5"], 64)
    });
    assert_eq!(
        ranges(&v6),
        ["fd00::3-fd00::5", "fd00::9-fd00::9", "fd00::10-fd00::13"]
    );
}

#[test]
fn a_cidr_with_host_bits_means_its_whole_subnet() {
    let v4 = pool(&spec(&["192.168.1.77/24"], 24));
    assert_eq!(ranges(&v4), ["192.168.1.1-192.168.1.254"]);
    let v6 = pool(&spec(&["fd00::77/120"], 120));
    assert_eq!(ranges(&v6), ["fd00::1-fd00::ff"]);
}

#[test]
fn ipv4_reserves_network_and_broadcast_of_the_lowest_address_subnet() {
    let p = pool(&spec(&["10.0.0.0-10.0.0.255"], 24));
    assert_eq!(ranges(&p), ["10.0.0.1-10.0.0.254"]);
    assert_eq!(
        p.placement(ip("10.0.0.0")),
        Placement::Withheld(Withheld::Reserved)
    );
    assert_eq!(
        p.placement(ip("10.0.0.255")),
        Placement::Withheld(Withheld::Reserved)
    );
    assert_eq!(p.total(), 254);
}

#[test]
fn only_the_one_subnet_is_reserved() {
    // The upstream's own example: prefix 16 around the lowest address
    // (192.168.0.3) reserves 192.168.0.0 and 192.168.255.255, not .0.255 or
    // .1.0.
    let p = pool(&InClusterSpec {
        gateway: Some("192.168.0.1".into()),
        ..spec(
            &[
                "192.168.1.0",
                "192.168.0.255",
                "192.168.0.3-192.168.0.4",
                "192.168.0.6/31",
                "192.168.255.255",
            ],
            16,
        )
    });
    assert!(p.contains(ip("192.168.1.0")));
    assert!(p.contains(ip("192.168.0.255")));
    assert!(!p.contains(ip("192.168.255.255")));
    assert_eq!(p.total(), 6);
}

#[test]
fn ipv6_reserves_only_the_first_address() {
    let p = pool(&spec(&["fd00::/120"], 120));
    assert_eq!(
        p.placement(ip("fd00::")),
        Placement::Withheld(Withheld::Reserved)
    );
    assert!(
        p.contains(ip("fd00::ff")),
        "the last IPv6 address is allocatable"
    );
    assert_eq!(p.total(), 255);
    // The upstream's example: a lone last address of the subnet is allocatable.
    let last = pool(&InClusterSpec {
        gateway: Some("fe80::a".into()),
        ..spec(&["fe80::ffff"], 120)
    });
    assert_eq!(last.total(), 1);
}

#[test]
fn reserved_addresses_come_from_the_prefix_not_the_entries() {
    // Entries inside a /24 with prefix 28: the /28 around the lowest address.
    let v4 = pool(&spec(&["10.0.0.16-10.0.0.40"], 28));
    assert!(!v4.contains(ip("10.0.0.16")));
    assert!(!v4.contains(ip("10.0.0.31")));
    assert!(
        v4.contains(ip("10.0.0.32")),
        "the next /28's network address is not reserved"
    );
    let v6 = pool(&spec(&["fd00::10-fd00::40"], 124));
    assert!(!v6.contains(ip("fd00::10")));
    assert!(v6.contains(ip("fd00::20")));
}

#[test]
fn allocate_reserved_makes_them_allocatable_but_never_the_gateway() {
    for (addresses, gateway, reserved) in [
        (["10.0.0.0/30"], "10.0.0.1", ["10.0.0.0", "10.0.0.3"]),
        (["fd00::/126"], "fd00::1", ["fd00::", "fd00::"]),
    ] {
        let p = pool(&InClusterSpec {
            allocate_reserved_ip_addresses: true,
            gateway: Some(gateway.into()),
            ..spec(&addresses, if gateway.contains(':') { 126 } else { 30 })
        });
        for address in reserved {
            assert!(p.contains(ip(address)), "{address}");
        }
        assert_eq!(
            p.placement(ip(gateway)),
            Placement::Withheld(Withheld::Gateway)
        );
        assert_eq!(p.total(), 3);
    }
}

#[test]
fn the_gateway_is_never_handed_out() {
    for (addresses, gateway, prefix) in [
        ("10.0.0.1-10.0.0.3", "10.0.0.1", 24),
        ("fd00::1-fd00::3", "fd00::1", 64),
    ] {
        let p = pool(&InClusterSpec {
            gateway: Some(gateway.into()),
            ..spec(&[addresses], prefix)
        });
        let mut allocator = Allocator::new(p);
        let handed: Vec<IpAddr> = (0..3)
            .filter_map(|i| allocator.allocate(&format!("c{i}"), None).ok())
            .map(|a| a.address)
            .collect();
        assert_eq!(handed.len(), 2);
        assert!(!handed.contains(&ip(gateway)));
        let refused = allocator
            .allocate("wants-gateway", Some(gateway))
            .unwrap_err();
        assert_eq!(
            refused,
            AllocateError::Withheld {
                address: ip(gateway),
                reason: Withheld::Gateway
            }
        );
        assert!(
            refused
                .to_string()
                .starts_with("Requested IP not available"),
            "{refused}"
        );
    }
}

#[test]
fn exclusions_take_ips_ranges_and_cidrs_out() {
    let v4 = pool(&InClusterSpec {
        excluded_addresses: vec![
            "10.0.0.5".into(),
            "10.0.0.10-10.0.0.12".into(),
            "10.0.0.16/30".into(),
        ],
        ..spec(&["10.0.0.0/24"], 24)
    });
    assert_eq!(
        ranges(&v4),
        [
            "10.0.0.1-10.0.0.4",
            "10.0.0.6-10.0.0.9",
            "10.0.0.13-10.0.0.15",
            "10.0.0.20-10.0.0.254"
        ]
    );
    assert_eq!(
        v4.placement(ip("10.0.0.11")),
        Placement::Withheld(Withheld::Excluded)
    );
    let v6 = pool(&InClusterSpec {
        excluded_addresses: vec![
            "fd00::5".into(),
            "fd00::a-fd00::c".into(),
            "fd00::10/126".into(),
        ],
        ..spec(&["fd00::/64"], 64)
    });
    assert!(!v6.contains(ip("fd00::b")));
    assert!(!v6.contains(ip("fd00::13")));
    assert!(v6.contains(ip("fd00::14")));
}

#[test]
fn lowest_free_address_first_whatever_the_entry_order() {
    for (entries, expected) in [
        (
            ["10.0.0.50-10.0.0.60", "10.0.0.5-10.0.0.6", "10.0.0.20"],
            ["10.0.0.5", "10.0.0.6", "10.0.0.20", "10.0.0.50"],
        ),
        (
            ["fd00::50-fd00::60", "fd00::5-fd00::6", "fd00::20"],
            ["fd00::5", "fd00::6", "fd00::20", "fd00::50"],
        ),
    ] {
        let prefix = if expected[0].contains(':') { 64 } else { 24 };
        let mut allocator = Allocator::new(pool(&spec(&entries, prefix)));
        let got: Vec<String> = (0..4)
            .map(|i| {
                allocator
                    .allocate(&format!("c{i}"), None)
                    .unwrap()
                    .address
                    .to_string()
            })
            .collect();
        assert_eq!(got, expected);
        allocator.release("c1");
        assert_eq!(
            allocator
                .allocate("next", None)
                .unwrap()
                .address
                .to_string(),
            expected[1]
        );
    }
}

#[test]
fn allocations_carry_the_pool_prefix_and_gateway() {
    let p = pool(&InClusterSpec {
        gateway: Some("fd00::1".into()),
        ..spec(&["fd00::/64"], 64)
    });
    let allocation = Allocator::new(p).allocate("c", None).unwrap();
    assert_eq!(allocation.address, ip("fd00::2"));
    assert_eq!(allocation.attributes.prefix, 64);
    assert_eq!(allocation.attributes.gateway, Some(ip("fd00::1")));
    assert!(allocation.attributes.dns_servers.is_empty());
    assert!(allocation.newly_allocated);
}

#[test]
fn a_claim_keeps_its_address() {
    let mut allocator = Allocator::new(pool(&spec(&["10.0.0.0/29"], 29)));
    let first = allocator.allocate("c", None).unwrap();
    let again = allocator.allocate("c", Some("10.0.0.5")).unwrap();
    assert_eq!(again.address, first.address);
    assert!(!again.newly_allocated);
}

#[test]
fn exhaustion_says_no_address_available_with_the_numbers() {
    let mut allocator = Allocator::new(pool(&spec(&["10.0.0.0/30"], 30)));
    allocator.allocate("a", None).unwrap();
    allocator.allocate("b", None).unwrap();
    let error = allocator.allocate("c", None).unwrap_err();
    assert!(error.is_exhausted());
    assert_eq!(error.upstream_message(), "no address available");
    assert_eq!(
        error.to_string(),
        "no address available: 2 of 2 allocatable addresses in 10.0.0.1-10.0.0.2 are in use"
    );
    assert!(matches!(
        error,
        AllocateError::Exhausted {
            style: Style::InCluster,
            ..
        }
    ));
}

#[test]
fn counts_are_exact_and_saturate_for_status() {
    let mut allocator = Allocator::new(pool(&spec(&["fd00::/64"], 64)));
    allocator.allocate("a", None).unwrap();
    let counts = allocator.counts();
    assert_eq!(counts.total, (1u128 << 64) - 1);
    assert_eq!(counts.used, 1);
    assert_eq!(counts.free, (1u128 << 64) - 2);
    assert_eq!(counts.out_of_range, 0);
    let status = counts.saturated();
    assert_eq!(
        (status.total, status.used, status.free),
        (i64::MAX, 1, i64::MAX)
    );

    let v4 = Allocator::new(pool(&spec(&["10.0.0.0/24"], 24))).counts();
    assert_eq!(
        (v4.total, v4.used, v4.free, v4.out_of_range),
        (254, 0, 254, 0)
    );
}

#[test]
fn rebuild_counts_out_of_range_addresses_after_a_shrink() {
    for (addresses, prefix, existing, outside, next) in [
        (
            ["10.0.0.10-10.0.0.20"],
            24,
            ["10.0.0.10", "10.0.0.11", "10.0.0.99", "10.0.0.0"],
            2,
            "10.0.0.12",
        ),
        (
            ["fd00::10-fd00::1a"],
            64,
            ["fd00::10", "fd00::11", "fd00::99", "fd00::"],
            2,
            "fd00::12",
        ),
    ] {
        let pairs = existing
            .iter()
            .enumerate()
            .map(|(i, a)| (a.to_string(), format!("c{i}")));
        let (mut allocator, issues) = Allocator::rebuild(pool(&spec(&addresses, prefix)), pairs);
        assert!(issues.is_empty());
        let counts = allocator.counts();
        assert_eq!(counts.total, 11);
        assert_eq!(counts.used, 4);
        assert_eq!(counts.out_of_range, outside);
        // total − (used − outOfRange): the upstream's total − used would say 7.
        assert_eq!(counts.free, 9);
        assert_eq!(allocator.allocate("new", None).unwrap().address, ip(next));
        // Releasing an out-of-range address does not make it allocatable.
        assert_eq!(allocator.release("c2"), Some(ip(existing[2])));
        assert_eq!(allocator.counts().out_of_range, outside - 1);
        assert!(!allocator.pool().contains(ip(existing[2])));
    }
}

#[test]
fn rebuild_reports_what_it_cannot_record_cleanly() {
    let existing = [
        ("10.0.0.1", "a"),
        ("10.0.0.1", "b"),
        ("10.0.0.2", "a"),
        ("bogus", "c"),
        ("10.0.0.1", "a"),
    ];
    let (mut allocator, issues) = Allocator::rebuild(pool(&spec(&["10.0.0.0/24"], 24)), existing);
    assert_eq!(issues.len(), 3, "{issues:?}");
    assert!(
        matches!(&issues[0], RecordIssue::Duplicate { owner, other, .. } if owner == "a" && other == "b")
    );
    assert!(matches!(&issues[1], RecordIssue::SecondAddress { owner, .. } if owner == "a"));
    assert!(matches!(&issues[2], RecordIssue::Unparsable { owner, .. } if owner == "c"));
    assert_eq!(
        issues[0].to_string(),
        "address 10.0.0.1 is held by claim \"a\" and also by claim \"b\""
    );
    let counts = allocator.counts();
    assert_eq!((counts.used, counts.out_of_range, counts.free), (3, 1, 252));
    assert_eq!(allocator.address_of("a"), Some(ip("10.0.0.1")));
    assert_eq!(allocator.owner_of(ip("10.0.0.2")), Some("a"));
    assert_eq!(
        allocator.release_address(ip("10.0.0.2")),
        Some("a".to_string())
    );
    assert_eq!(allocator.address_of("a"), Some(ip("10.0.0.1")));
    assert_eq!(allocator.release("c"), None);
    assert_eq!(allocator.counts().out_of_range, 0);
    assert!(allocator.is_allocated(ip("10.0.0.1")));
    assert_eq!(
        allocator.allocate("d", None).unwrap().address,
        ip("10.0.0.2")
    );
}

#[test]
fn a_requested_address_is_granted_or_refused_with_a_reason() {
    let mut allocator = Allocator::new(pool(&InClusterSpec {
        excluded_addresses: vec!["10.0.0.9".into()],
        ..spec(&["10.0.0.0/28"], 28)
    }));
    assert_eq!(
        allocator.allocate("a", Some("10.0.0.7")).unwrap().address,
        ip("10.0.0.7")
    );
    let taken = allocator.allocate("b", Some("10.0.0.7")).unwrap_err();
    assert_eq!(
        taken.to_string(),
        "Requested IP not available: 10.0.0.7 is in use by claim \"a\""
    );
    let excluded = allocator.allocate("b", Some("10.0.0.9")).unwrap_err();
    assert_eq!(
        excluded.to_string(),
        "Requested IP not available: 10.0.0.9 is never handed out because it is excluded from the pool"
    );
    let reserved = allocator.allocate("b", Some("10.0.0.15")).unwrap_err();
    assert_eq!(
        reserved,
        AllocateError::Withheld {
            address: ip("10.0.0.15"),
            reason: Withheld::Reserved
        }
    );
    let outside = allocator.allocate("b", Some("10.0.1.1")).unwrap_err();
    assert_eq!(
        outside.to_string(),
        "Requested IP out of bounds: 10.0.1.1 lies in no entry of the pool"
    );
    let other_family = allocator.allocate("b", Some("fd00::1")).unwrap_err();
    assert!(matches!(
        other_family,
        AllocateError::RequestOutOfBounds { .. }
    ));
    let bad = allocator.allocate("b", Some("10.0.0.300")).unwrap_err();
    assert_eq!(
        bad.to_string(),
        "Invalid ipAddress annotation \"10.0.0.300\": not a valid IP address (ParseAddr(\"10.0.0.300\"): IPv4 field has value >255)"
    );
    // In-cluster order continues around the specific address.
    assert_eq!(
        allocator.allocate("b", None).unwrap().address,
        ip("10.0.0.1")
    );
}

#[test]
fn pools_that_cannot_be_built_say_why() {
    let mixed = Pool::in_cluster(&spec(&["10.0.0.1", "fd00::1"], 24)).unwrap_err();
    assert!(
        mixed
            .0
            .iter()
            .any(|e| e.violation == Violation::MixedFamilies),
        "{mixed}"
    );
    let empty = Pool::in_cluster(&spec(&[], 24)).unwrap_err();
    assert_eq!(
        empty.to_string(),
        "spec.addresses: Invalid value: []string{}: addresses is required"
    );
    let too_long = Pool::in_cluster(&spec(&["10.0.0.1"], 33)).unwrap_err();
    assert_eq!(
        too_long.to_string(),
        "spec.prefix: Invalid value: 33: provided prefix is not valid"
    );
    let v6_too_long = Pool::in_cluster(&spec(&["fd00::1"], 129)).unwrap_err();
    assert_eq!(v6_too_long.0[0].violation, Violation::PrefixNotValid);
}

#[test]
fn prefix_zero_is_allowed() {
    // Upstream issue #287: the reserved subnet is then the whole space.
    let v4 = pool(&spec(&["0.0.0.0-0.0.0.3"], 0));
    assert_eq!(ranges(&v4), ["0.0.0.1-0.0.0.3"]);
    let v6 = pool(&spec(&["::-::3"], 0));
    assert_eq!(ranges(&v6), ["::1-::3"]);
}

#[test]
fn the_whole_ipv6_space_is_one_range() {
    let p = pool(&InClusterSpec {
        allocate_reserved_ip_addresses: true,
        ..spec(&["::/0"], 0)
    });
    assert_eq!(p.total(), u128::MAX, "2^128 saturates");
    let mut allocator = Allocator::new(p);
    assert_eq!(allocator.allocate("a", None).unwrap().address, ip("::"));
    let top = "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff";
    assert_eq!(allocator.allocate("b", Some(top)).unwrap().address, ip(top));
    allocator.release("b");
    assert!(!allocator.is_allocated(ip(top)));
}

#[test]
fn allocators_move_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<Allocator>();
    send_and_sync::<Pool>();
}
