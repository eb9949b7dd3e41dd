//! Webhook rules with the upstream's exact messages, and the checks across
//! objects: overlap and stranded addresses.

use std::collections::BTreeMap;

use ipam_engine::{
    AllocationStrategy, BadValue, FieldError, InClusterSpec, Metal3Entry, Metal3Spec, Pool,
    Validation, Violation, Warning, invalid_message, overlap, stranded_addresses,
    validate_in_cluster, validate_metal3_create, validate_metal3_update,
};

fn in_cluster(addresses: &[&str], prefix: i64) -> InClusterSpec {
    InClusterSpec {
        addresses: addresses.iter().map(|a| a.to_string()).collect(),
        prefix,
        ..InClusterSpec::default()
    }
}

fn messages(validation: &Validation) -> Vec<String> {
    validation.errors.iter().map(ToString::to_string).collect()
}

#[test]
fn in_cluster_valid_specs_pass_in_both_families() {
    assert!(validate_in_cluster(&in_cluster(&["10.0.0.0/24"], 24)).is_valid());
    assert!(validate_in_cluster(&in_cluster(&["fd00::/64"], 64)).is_valid());
    assert!(
        validate_in_cluster(&in_cluster(&["10.0.0.1"], 0)).is_valid(),
        "prefix 0 is allowed"
    );
}

#[test]
fn in_cluster_first_stage_collects_every_error() {
    let spec = InClusterSpec {
        addresses: vec![],
        prefix: -1,
        address_reuse_grace_period_seconds: Some(-5),
        ..InClusterSpec::default()
    };
    assert_eq!(
        messages(&validate_in_cluster(&spec)),
        [
            "spec.addresses: Invalid value: []string{}: addresses is required",
            "spec.prefix: Invalid value: -1: a valid prefix is required",
            "spec.addressReuseGracePeriodSeconds: Invalid value: -5: addressReuseGracePeriodSeconds must not be negative",
        ]
    );
}

#[test]
fn in_cluster_unparsable_entries_and_mixed_families() {
    let spec = InClusterSpec {
        excluded_addresses: vec!["nope".into(), "fd00::1".into()],
        gateway: Some("fd00::1".into()),
        ..in_cluster(&["10.0.0.1-10.0.0.0", "10.0.0.5", "fd00::5", "bad/24"], 24)
    };
    assert_eq!(
        messages(&validate_in_cluster(&spec)),
        [
            "spec.addresses: Invalid value: \"10.0.0.1-10.0.0.0\": provided address is not a valid IP, range, nor CIDR",
            "spec.addresses: Invalid value: \"bad/24\": provided address is not a valid IP, range, nor CIDR",
            "spec.addresses: Invalid value: []string{\"10.0.0.1-10.0.0.0\", \"10.0.0.5\", \"fd00::5\", \"bad/24\"}: provided addresses are of mixed IP families",
            "spec.gateway: Invalid value: \"fd00::1\": provided gateway and addresses are of mixed IP families",
            "spec.excludedAddresses: Invalid value: \"nope\": provided address is not a valid IP, range, nor CIDR",
            "spec.excludedAddresses: Invalid value: []string{\"nope\", \"fd00::1\"}: addresses and excluded addresses are of mixed IP families",
        ]
    );
}

#[test]
fn in_cluster_gateway_errors_use_gos_parser_words() {
    let spec = InClusterSpec {
        gateway: Some("invalid".into()),
        ..in_cluster(&["10.0.0.0/24"], 24)
    };
    assert_eq!(
        messages(&validate_in_cluster(&spec)),
        ["spec.gateway: Invalid value: \"invalid\": ParseAddr(\"invalid\"): unable to parse IP"]
    );
    let v6 = InClusterSpec {
        gateway: Some("10.0.0.1".into()),
        ..in_cluster(&["fd00::/64"], 64)
    };
    assert_eq!(
        messages(&validate_in_cluster(&v6)),
        [
            "spec.gateway: Invalid value: \"10.0.0.1\": provided gateway and addresses are of mixed IP families"
        ]
    );
}

#[test]
fn in_cluster_excluded_families() {
    let mixed = InClusterSpec {
        excluded_addresses: vec!["10.0.0.1".into(), "fd00::1".into()],
        ..in_cluster(&["10.0.0.0/24"], 24)
    };
    assert_eq!(
        messages(&validate_in_cluster(&mixed)),
        [
            "spec.excludedAddresses: Invalid value: []string{\"10.0.0.1\", \"fd00::1\"}: provided addresses are of mixed IP families",
            "spec.excludedAddresses: Invalid value: []string{\"10.0.0.1\", \"fd00::1\"}: addresses and excluded addresses are of mixed IP families",
        ]
    );
}

#[test]
fn in_cluster_second_stage_prefix_and_one_subnet() {
    assert_eq!(
        messages(&validate_in_cluster(&in_cluster(&["10.0.0.1"], 33))),
        ["spec.prefix: Invalid value: 33: provided prefix is not valid"]
    );
    assert_eq!(
        messages(&validate_in_cluster(&in_cluster(&["fd00::1"], 129))),
        ["spec.prefix: Invalid value: 129: provided prefix is not valid"]
    );
    assert_eq!(
        messages(&validate_in_cluster(&in_cluster(
            &["10.0.0.10-10.0.0.20", "10.0.1.5", "10.0.0.0/23"],
            24
        ))),
        [
            "spec.addresses: Invalid value: \"10.0.1.5\": provided address belongs to a different subnet than others",
            "spec.addresses: Invalid value: \"10.0.0.0/23\": provided address belongs to a different subnet than others",
        ]
    );
    assert_eq!(
        messages(&validate_in_cluster(&in_cluster(
            &["fd00::1", "fd00:0:0:1::1"],
            64
        ))),
        [
            "spec.addresses: Invalid value: \"fd00:0:0:1::1\": provided address belongs to a different subnet than others"
        ]
    );
}

#[test]
fn in_cluster_second_stage_waits_for_the_first() {
    // A different-subnet entry goes unreported while a first-stage rule fails.
    let spec = InClusterSpec {
        gateway: Some("bad".into()),
        ..in_cluster(&["10.0.0.1", "10.9.0.1"], 24)
    };
    assert_eq!(validate_in_cluster(&spec).errors.len(), 1);
}

#[test]
fn in_cluster_refuses_a_gateway_outside_a_subnet_that_could_hold_it() {
    for (addresses, prefix, gateway, subnet) in [
        (&["10.0.0.10-10.0.0.20"][..], 24, "10.0.1.1", "10.0.0.0/24"),
        (&["10.0.0.4"][..], 30, "10.0.0.9", "10.0.0.4/30"),
        (&["fd00::10-fd00::20"][..], 64, "fd01::1", "fd00::/64"),
    ] {
        let spec = InClusterSpec {
            gateway: Some(gateway.into()),
            ..in_cluster(addresses, prefix)
        };
        let messages: Vec<_> = validate_in_cluster(&spec)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            messages,
            [format!(
                "spec.gateway: Invalid value: \"{gateway}\": gateway {gateway} lies outside the pool's subnet {subnet}, so hosts on it could not reach it"
            )]
        );
    }
}

#[test]
fn in_cluster_warns_about_a_gateway_outside_the_subnet() {
    let spec = InClusterSpec {
        gateway: Some("172.31.1.1".into()),
        ..in_cluster(&["10.0.0.5"], 32)
    };
    let validation = validate_in_cluster(&spec);
    assert!(validation.is_valid());
    assert_eq!(
        validation
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["spec.gateway: gateway 172.31.1.1 lies outside the pool's subnet 10.0.0.5/32"]
    );
    let inside = InClusterSpec {
        gateway: Some("fd00::1".into()),
        ..in_cluster(&["fd00::/64"], 64)
    };
    assert!(validate_in_cluster(&inside).warnings.is_empty());
}

#[test]
fn in_cluster_update_refuses_to_strand_addresses_in_use() {
    let shrunk = Pool::in_cluster(&InClusterSpec {
        gateway: Some("10.0.0.1".into()),
        excluded_addresses: vec!["10.0.0.7".into()],
        ..in_cluster(&["10.0.0.0/28"], 28)
    })
    .unwrap();
    let in_use = [
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.7",
        "10.0.0.15",
        "10.0.0.16",
        "10.0.0.17",
        "fd00::1",
        "garbage",
    ];
    let error = stranded_addresses(&shrunk, in_use).unwrap_err();
    assert_eq!(
        error.to_string(),
        "pool addresses do not contain allocated addresses: [10.0.0.1-10.0.0.1 10.0.0.7-10.0.0.7 10.0.0.15-10.0.0.17 fd00::1-fd00::1]"
    );
    assert!(stranded_addresses(&shrunk, ["10.0.0.2", "10.0.0.3"]).is_ok());
    let v6 = Pool::in_cluster(&in_cluster(&["fd00::/120"], 120)).unwrap();
    assert_eq!(
        stranded_addresses(&v6, ["fd00::", "fd00::5"])
            .unwrap_err()
            .to_string(),
        "pool addresses do not contain allocated addresses: [fd00::-fd00::]"
    );
}

#[test]
fn invalid_message_matches_the_api_server() {
    let validation = validate_in_cluster(&in_cluster(&["10.0.0.1", "x"], 24));
    assert_eq!(
        invalid_message(
            "InClusterIPPool",
            "ipam.cluster.x-k8s.io",
            "pool-a",
            &validation.errors
        ),
        "InClusterIPPool.ipam.cluster.x-k8s.io \"pool-a\" is invalid: spec.addresses: Invalid value: \"x\": provided address is not a valid IP, range, nor CIDR"
    );
}

fn entry(start: Option<&str>, end: Option<&str>, subnet: Option<&str>) -> Metal3Entry {
    Metal3Entry {
        start: start.map(Into::into),
        end: end.map(Into::into),
        subnet: subnet.map(Into::into),
        ..Metal3Entry::default()
    }
}

fn metal3(pools: Vec<Metal3Entry>) -> Metal3Spec {
    Metal3Spec {
        name_prefix: "pool".into(),
        pools,
        ..Metal3Spec::default()
    }
}

#[test]
fn metal3_valid_specs_pass_in_both_families() {
    assert!(
        validate_metal3_create(&metal3(vec![entry(
            Some("10.0.0.10"),
            Some("10.0.0.20"),
            Some("10.0.0.0/24")
        )]))
        .is_valid()
    );
    assert!(validate_metal3_create(&metal3(vec![entry(None, None, Some("fd00::/64"))])).is_valid());
}

#[test]
fn metal3_range_rules() {
    let mut bad_gateway_entry = entry(Some("10.0.0.1"), None, None);
    bad_gateway_entry.gateway = Some("gw".into());
    bad_gateway_entry.dns_servers = vec!["10.0.0.53".into(), "dns".into()];
    let spec = Metal3Spec {
        gateway: Some("10.0.0.x".into()),
        dns_servers: vec!["nine".into()],
        pre_allocations: BTreeMap::from([
            ("a".to_string(), "10.0.0.5".to_string()),
            ("b".to_string(), "10.0.0.5".to_string()),
            ("c".to_string(), "five".to_string()),
        ]),
        ..metal3(vec![
            entry(None, None, None),
            entry(Some("10.0.0.x"), Some("also bad"), None),
            entry(Some("10.0.0.1"), Some("bad"), None),
            entry(None, None, Some("10.0.0.0/33")),
            entry(Some("10.0.0.9"), Some("10.0.0.1"), None),
            bad_gateway_entry,
        ])
    };
    assert_eq!(
        messages(&validate_metal3_create(&spec)),
        [
            "spec.gateway: Invalid value: \"10.0.0.x\": is not a valid IP address",
            "spec.dnsServers[0]: Invalid value: \"nine\": is not a valid IP address",
            "spec.preAllocations.b: Invalid value: \"10.0.0.5\": IP address is already pre-allocated to claim \"a\"",
            "spec.preAllocations.c: Invalid value: \"five\": is not a valid IP address",
            "spec.pools[0]: Invalid value: \"\": pool entry must specify at least one of start, end, or subnet",
            "spec.pools[1]: Invalid value: \"\": invalid Start IP \"10.0.0.x\"",
            "spec.pools[2]: Invalid value: \"\": invalid End IP \"bad\"",
            "spec.pools[3]: Invalid value: \"\": invalid Subnet \"10.0.0.0/33\": invalid CIDR address: 10.0.0.0/33",
            "spec.pools[4]: Invalid value: \"\": end IP 10.0.0.1 is before start IP 10.0.0.9",
            "spec.pools[5].gateway: Invalid value: \"gw\": is not a valid IP address",
            "spec.pools[5].dnsServers[1]: Invalid value: \"dns\": is not a valid IP address",
            // 10.0.0.5 lies in entry 5 (start 10.0.0.1, no end); text that is
            // no address never lies in an entry.
            "spec.preAllocations: Invalid value: \"five\": is out of bonds of the pools given",
        ]
    );
}

#[test]
fn metal3_random_needs_a_sized_entry() {
    let spec = Metal3Spec {
        allocation_strategy: AllocationStrategy::Random,
        prefix: 64,
        ..metal3(vec![
            entry(Some("fd00::1"), None, None),
            entry(None, Some("fd00::9"), None),
            entry(Some("fd01::1"), None, Some("fd00::/64")),
            entry(None, None, Some("fd00::/64")),
            entry(Some("fd00::1"), Some("fd00::9"), None),
        ])
    };
    let validation = validate_metal3_create(&spec);
    assert_eq!(
        messages(&validation),
        [
            "spec.pools[0]: Invalid value: \"\": cannot be used with allocationStrategy \"random\": pool with Start requires End or Subnet to determine size",
            "spec.pools[1]: Invalid value: \"\": cannot be used with allocationStrategy \"random\": either Start or Subnet is required for ipAddress",
            "spec.pools[2]: Invalid value: \"\": cannot be used with allocationStrategy \"random\": end IP fd00::ffff:ffff:ffff:ffff is before start IP fd01::1",
        ]
    );
    assert_eq!(
        validation
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        [
            "spec.pools[1]: an entry with only an end address never yields an address; set start or subnet"
        ]
    );
    let sequential = Metal3Spec {
        allocation_strategy: AllocationStrategy::Sequential,
        ..spec
    };
    assert!(validate_metal3_create(&sequential).is_valid());
}

#[test]
fn metal3_mixed_families_and_long_prefixes_are_refused_here() {
    let mut v6_entry = entry(Some("fd00::1"), Some("fd00::9"), None);
    v6_entry.prefix = 64;
    let spec = Metal3Spec {
        prefix: 40,
        gateway: Some("fd00::1".into()),
        pre_allocations: BTreeMap::from([("a".to_string(), "fd00::5".to_string())]),
        ..metal3(vec![
            entry(Some("10.0.0.1"), Some("10.0.0.9"), None),
            v6_entry,
        ])
    };
    assert_eq!(
        messages(&validate_metal3_create(&spec)),
        [
            "spec.pools[1].start: Invalid value: \"fd00::1\": is an IPv6 address but the pool's first address is IPv4: IPv4 and IPv6 never mix in one pool",
            "spec.pools[1].end: Invalid value: \"fd00::9\": is an IPv6 address but the pool's first address is IPv4: IPv4 and IPv6 never mix in one pool",
            "spec.gateway: Invalid value: \"fd00::1\": is an IPv6 address but the pool's first address is IPv4: IPv4 and IPv6 never mix in one pool",
            "spec.preAllocations.a: Invalid value: \"fd00::5\": is an IPv6 address but the pool's first address is IPv4: IPv4 and IPv6 never mix in one pool",
            "spec.prefix: Invalid value: 40: is not a prefix length for IPv4 (0 to 32 bits)",
            "spec.pools[1].prefix: Invalid value: 64: is not a prefix length for IPv4 (0 to 32 bits)",
        ]
    );
}

#[test]
fn metal3_update_rules() {
    let old = Metal3Spec {
        prefix: 24,
        ..metal3(vec![entry(None, None, Some("10.0.0.0/24"))])
    };
    let new = Metal3Spec {
        name_prefix: "renamed".into(),
        allocation_strategy: AllocationStrategy::Random,
        pre_allocations: BTreeMap::from([("a".to_string(), "10.0.0.200".to_string())]),
        ..metal3(vec![entry(Some("10.0.0.10"), Some("10.0.0.20"), None)])
    };
    assert_eq!(
        messages(&validate_metal3_update(
            &old,
            &new,
            ["10.0.0.15", "10.0.0.100", "fd00::1"]
        )),
        [
            "spec.namePrefix: Invalid value: \"renamed\": cannot be modified",
            "spec.allocationStrategy: Invalid value: \"random\": cannot be modified after creation",
            "spec.preAllocations: Invalid value: \"10.0.0.200\": is out of bounds of the pools given",
            "spec.pools: Invalid value: \"10.0.0.100\": is in use but out of bounds of the pools given",
            "spec.pools: Invalid value: \"fd00::1\": is in use but out of bounds of the pools given",
        ]
    );
    assert!(
        validate_metal3_update(&old, &old, ["10.0.0.0", "10.0.0.255"]).is_valid(),
        "Metal3 bounds include the whole subnet"
    );
    let v6 = metal3(vec![entry(None, None, Some("fd00::/64"))]);
    assert_eq!(
        validate_metal3_update(&v6, &v6, ["fd01::1"]).errors.len(),
        1
    );
}

#[test]
fn metal3_warns_about_withheld_preallocations_and_gateways_outside_the_subnet() {
    let mut entry = entry(None, None, Some("10.0.0.0/24"));
    entry.gateway = Some("10.0.1.1".into());
    let spec = Metal3Spec {
        gateway: Some("10.0.0.1".into()),
        pre_allocations: BTreeMap::from([("router".to_string(), "10.0.0.255".to_string())]),
        prefix: 24,
        ..metal3(vec![entry])
    };
    let validation = validate_metal3_create(&spec);
    assert!(validation.is_valid());
    assert_eq!(
        validation.warnings,
        [
            Warning::GatewayOutsideSubnet {
                field: "spec.pools[0].gateway".into(),
                gateway: "10.0.1.1".parse().unwrap(),
                subnet: "10.0.0.0/24".into()
            },
            Warning::PreAllocationWithheld {
                field: "spec.preAllocations.router".into(),
                address: "10.0.0.255".parse().unwrap(),
                reason: ipam_engine::Withheld::Reserved
            },
        ]
    );
}

#[test]
fn overlap_between_pools_in_both_families() {
    let a = Pool::in_cluster(&in_cluster(&["10.0.0.0/24"], 24)).unwrap();
    let b = Pool::in_cluster(&in_cluster(&["10.0.0.200-10.0.1.10"], 16)).unwrap();
    let shared = overlap(&a, &b).unwrap();
    assert_eq!(shared.addresses, 55);
    assert_eq!(
        shared.to_string(),
        "both pools may hand out 55 addresses: 10.0.0.200-10.0.0.254"
    );
    let disjoint = Pool::in_cluster(&in_cluster(&["10.0.2.0/24"], 24)).unwrap();
    assert!(overlap(&a, &disjoint).is_none());
    // Withheld addresses are not shared: a's broadcast is b's last address.
    let edge = Pool::in_cluster(&InClusterSpec {
        allocate_reserved_ip_addresses: true,
        ..in_cluster(&["10.0.0.255"], 32)
    })
    .unwrap();
    assert!(overlap(&a, &edge).is_none());

    let c = Pool::metal3(&Metal3Spec {
        prefix: 64,
        ..metal3(vec![entry(Some("fd00::10"), Some("fd00::20"), None)])
    })
    .unwrap();
    let d = Pool::in_cluster(&in_cluster(&["fd00::/64"], 64)).unwrap();
    assert_eq!(overlap(&c, &d).unwrap().addresses, 17);
    assert!(overlap(&a, &d).is_none(), "families never overlap");
}

#[test]
fn an_overlap_reads_as_a_field_error_naming_the_other_pool() {
    let a = Pool::in_cluster(&in_cluster(&["10.0.0.0/24"], 24)).unwrap();
    let b = Pool::in_cluster(&in_cluster(&["10.0.0.250-10.0.1.10"], 16)).unwrap();
    let error = FieldError {
        field: "spec.addresses".into(),
        value: BadValue::List(vec!["10.0.0.250-10.0.1.10".into()]),
        violation: Violation::Overlaps {
            pool: "InClusterIPPool ns/a".into(),
            overlap: overlap(&b, &a).unwrap(),
        },
    };
    assert_eq!(
        error.to_string(),
        "spec.addresses: Invalid value: []string{\"10.0.0.250-10.0.1.10\"}: overlaps InClusterIPPool ns/a: \
         both pools may hand out 5 addresses: 10.0.0.250-10.0.0.254"
    );
}
