//! Pool specs of both styles, from text that is mostly address-shaped: the
//! rules and builders never panic, a spec that builds hands out only
//! addresses of its pool, never one twice, and its counts add up.
#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, Ipv6Addr};

use ipam_engine::{
    AllocationStrategy, Allocator, InClusterSpec, Metal3Entry, Metal3Spec, Pool,
    validate_in_cluster, validate_metal3_create, validate_metal3_update,
};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

/// Text that is usually an address, CIDR or range near a few bases, and
/// sometimes anything at all.
#[derive(Debug, Arbitrary)]
enum Text {
    Raw(String),
    V4(u8, u16),
    V6(u8, u16),
    Cidr4(u8, u16, u8),
    Cidr6(u8, u16, u8),
    Range4(u8, u16, u16),
    Range6(u8, u16, u16),
}

fn v4(base: u8, offset: u16) -> Ipv4Addr {
    let bases = [0x0a00_0000u32, 0xc0a8_0000, 0xffff_0000, 0];
    Ipv4Addr::from(bases[usize::from(base % 4)].wrapping_add(u32::from(offset)))
}

fn v6(base: u8, offset: u16) -> Ipv6Addr {
    let bases = [0xfd00u128 << 112, u128::MAX - 0xffff, 0, 0xffff_0000_0000];
    Ipv6Addr::from(bases[usize::from(base % 4)].wrapping_add(u128::from(offset)))
}

impl Text {
    fn render(&self) -> String {
        match self {
            Text::Raw(text) => text.clone(),
            Text::V4(base, offset) => v4(*base, *offset).to_string(),
            Text::V6(base, offset) => v6(*base, *offset).to_string(),
            Text::Cidr4(base, offset, bits) => format!("{}/{}", v4(*base, *offset), bits % 34),
            Text::Cidr6(base, offset, bits) => format!("{}/{}", v6(*base, *offset), bits % 130),
            Text::Range4(base, a, b) => format!("{}-{}", v4(*base, *a), v4(*base, *b)),
            Text::Range6(base, a, b) => format!("{}-{}", v6(*base, *a), v6(*base, *b)),
        }
    }
}

#[derive(Debug, Arbitrary)]
struct InCluster {
    addresses: Vec<Text>,
    prefix: i8,
    gateway: Option<Text>,
    excluded: Vec<Text>,
    allocate_reserved: bool,
}

#[derive(Debug, Arbitrary)]
struct Entry {
    start: Option<Text>,
    end: Option<Text>,
    subnet: Option<Text>,
    prefix: i8,
    gateway: Option<Text>,
}

#[derive(Debug, Arbitrary)]
struct Metal3 {
    entries: Vec<Entry>,
    prefix: i8,
    gateway: Option<Text>,
    pre_allocations: Vec<(u8, Text)>,
    random: bool,
}

#[derive(Debug, Arbitrary)]
struct Input {
    in_cluster: InCluster,
    metal3: Metal3,
    claims: Vec<(u8, Option<Text>, bool)>,
    in_use: Vec<Text>,
    seed: u64,
}

fn render(texts: &[Text]) -> Vec<String> {
    texts.iter().map(Text::render).collect()
}

/// Allocates and releases, checking what the allocator promises.
fn exercise(pool: Pool, claims: &[(u8, Option<Text>, bool)], in_use: &[String], seed: u64) {
    let existing = in_use
        .iter()
        .enumerate()
        .map(|(i, a)| (a.clone(), format!("existing-{i}")));
    let (allocator, _) = Allocator::rebuild(pool, existing);
    let mut allocator = allocator.with_seed(seed);
    for (claim, requested, release) in claims.iter().take(16) {
        let name = format!("claim-{}", claim % 8);
        let requested = requested.as_ref().map(Text::render);
        if let Ok(allocation) = allocator.allocate(&name, requested.as_deref()) {
            if allocation.newly_allocated {
                assert!(
                    allocator.pool().contains(allocation.address),
                    "{} is not allocatable",
                    allocation.address
                );
            }
            assert_eq!(allocator.owner_of(allocation.address), Some(name.as_str()));
        }
        if *release {
            allocator.release(&name);
        }
        let counts = allocator.counts();
        assert!(counts.out_of_range <= counts.used);
        assert_eq!(
            counts.free + (counts.used - counts.out_of_range),
            counts.total
        );
    }
    let mut seen = BTreeSet::new();
    for (address, _) in allocator.allocations() {
        assert!(seen.insert(address), "{address} held twice");
    }
}

fuzz_target!(|input: Input| {
    let in_use = render(&input.in_use);

    let spec = InClusterSpec {
        addresses: render(&input.in_cluster.addresses),
        prefix: i64::from(input.in_cluster.prefix),
        gateway: input.in_cluster.gateway.as_ref().map(Text::render),
        excluded_addresses: render(&input.in_cluster.excluded),
        allocate_reserved_ip_addresses: input.in_cluster.allocate_reserved,
        address_reuse_grace_period_seconds: None,
    };
    let validation = validate_in_cluster(&spec);
    match Pool::in_cluster(&spec) {
        Ok(pool) => {
            let _ = ipam_engine::stranded_addresses(&pool, &in_use).map_err(|e| e.to_string());
            exercise(pool, &input.claims, &in_use, input.seed);
        }
        Err(error) => {
            assert!(
                !validation.is_valid(),
                "the build refused a spec the webhook accepts: {error}"
            );
        }
    }

    let spec = Metal3Spec {
        name_prefix: "fuzz".into(),
        pools: input
            .metal3
            .entries
            .iter()
            .map(|entry| Metal3Entry {
                start: entry.start.as_ref().map(Text::render),
                end: entry.end.as_ref().map(Text::render),
                subnet: entry.subnet.as_ref().map(Text::render),
                prefix: i64::from(entry.prefix),
                gateway: entry.gateway.as_ref().map(Text::render),
                dns_servers: Vec::new(),
            })
            .collect(),
        prefix: i64::from(input.metal3.prefix),
        gateway: input.metal3.gateway.as_ref().map(Text::render),
        dns_servers: Vec::new(),
        pre_allocations: input
            .metal3
            .pre_allocations
            .iter()
            .map(|(claim, text)| (format!("claim-{}", claim % 8), text.render()))
            .collect::<BTreeMap<_, _>>(),
        allocation_strategy: if input.metal3.random {
            AllocationStrategy::Random
        } else {
            AllocationStrategy::Sequential
        },
    };
    let validation = validate_metal3_create(&spec);
    let _ = validate_metal3_update(&spec, &spec, &in_use);
    match Pool::metal3(&spec) {
        Ok(pool) => {
            if let Ok(other) = Pool::in_cluster(&InClusterSpec {
                addresses: in_use.clone(),
                prefix: 0,
                ..InClusterSpec::default()
            }) {
                let _ = ipam_engine::overlap(&pool, &other).map(|o| o.to_string());
            }
            exercise(pool, &input.claims, &in_use, input.seed);
        }
        Err(error) => assert!(
            !validation.is_valid(),
            "the build refused a spec the webhook accepts: {error}"
        ),
    }
});
