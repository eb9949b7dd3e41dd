//! Property tests: the engine against a naive model that lists every address.
//! Pools live in a small window above a base address so the model can
//! enumerate them; both families are generated.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipam_engine::{AllocationStrategy, Allocator, InClusterSpec, Metal3Entry, Metal3Spec, Pool};
use proptest::prelude::*;

const WINDOW: u128 = 64;

#[derive(Debug, Clone, Copy)]
struct Space {
    v6: bool,
}

impl Space {
    fn base(self) -> u128 {
        if self.v6 {
            u128::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0))
        } else {
            u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)))
        }
    }
    fn bits(self) -> u32 {
        if self.v6 { 128 } else { 32 }
    }
    fn ip(self, offset: u128) -> IpAddr {
        let value = self.base() + offset;
        if self.v6 {
            IpAddr::V6(Ipv6Addr::from(value))
        } else {
            IpAddr::V4(Ipv4Addr::from(value as u32))
        }
    }
    fn text(self, offset: u128) -> String {
        self.ip(offset).to_string()
    }
    fn offset(self, address: IpAddr) -> u128 {
        let value = match address {
            IpAddr::V4(v4) => u128::from(u32::from(v4)),
            IpAddr::V6(v6) => u128::from(v6),
        };
        value - self.base()
    }
    /// The subnet of length `prefix` around `offset`, as offsets.
    fn subnet(self, offset: u128, prefix: u32) -> (u128, u128) {
        let host = self.bits() - prefix;
        let size = 1u128 << host;
        let first = offset / size * size;
        (first, first + size - 1)
    }
}

#[derive(Debug, Clone)]
enum Entry {
    Single(u128),
    Cidr(u128, u32),
    Range(u128, u128),
}

impl Entry {
    fn text(&self, space: Space) -> String {
        match *self {
            Entry::Single(a) => space.text(a),
            Entry::Cidr(a, host) => format!("{}/{}", space.text(a), space.bits() - host),
            Entry::Range(a, b) => format!("{}-{}", space.text(a), space.text(b)),
        }
    }
    fn addresses(&self, space: Space) -> Vec<u128> {
        match *self {
            Entry::Single(a) => vec![a],
            Entry::Cidr(a, host) => {
                let (first, last) = space.subnet(a, space.bits() - host);
                (first..=last).collect()
            }
            Entry::Range(a, b) => (a..=b).collect(),
        }
    }
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        (0..WINDOW).prop_map(Entry::Single),
        (0..WINDOW, 0u32..=4).prop_map(|(a, host)| Entry::Cidr(a, host)),
        (0..WINDOW, 0..16u128).prop_map(|(a, len)| Entry::Range(a, (a + len).min(WINDOW - 1))),
    ]
}

#[derive(Debug, Clone)]
struct InClusterCase {
    space: Space,
    addresses: Vec<Entry>,
    excluded: Vec<Entry>,
    gateway: Option<u128>,
    host_bits: u32,
    allocate_reserved: bool,
}

impl InClusterCase {
    fn spec(&self) -> InClusterSpec {
        InClusterSpec {
            addresses: self.addresses.iter().map(|e| e.text(self.space)).collect(),
            prefix: i64::from(self.space.bits() - self.host_bits),
            gateway: self.gateway.map(|g| self.space.text(g)),
            excluded_addresses: self.excluded.iter().map(|e| e.text(self.space)).collect(),
            allocate_reserved_ip_addresses: self.allocate_reserved,
            address_reuse_grace_period_seconds: None,
        }
    }

    /// The allocatable set by the upstream rules, address by address.
    fn allocatable(&self) -> BTreeSet<u128> {
        let entries: BTreeSet<u128> = self
            .addresses
            .iter()
            .flat_map(|e| e.addresses(self.space))
            .collect();
        let mut set = entries.clone();
        for excluded in &self.excluded {
            for address in excluded.addresses(self.space) {
                set.remove(&address);
            }
        }
        if !self.allocate_reserved {
            let lowest = *entries.first().expect("at least one entry");
            let (network, broadcast) = self
                .space
                .subnet(lowest, self.space.bits() - self.host_bits);
            set.remove(&network);
            if !self.space.v6 {
                set.remove(&broadcast);
            }
        }
        if let Some(gateway) = self.gateway {
            set.remove(&gateway);
        }
        set
    }
}

fn in_cluster_case() -> impl Strategy<Value = InClusterCase> {
    (
        any::<bool>(),
        proptest::collection::vec(entry(), 1..5),
        proptest::collection::vec(entry(), 0..3),
        proptest::option::of(0..WINDOW),
        0u32..=8,
        any::<bool>(),
    )
        .prop_map(
            |(v6, addresses, excluded, gateway, host_bits, allocate_reserved)| InClusterCase {
                space: Space { v6 },
                addresses,
                excluded,
                gateway,
                host_bits,
                allocate_reserved,
            },
        )
}

#[derive(Debug, Clone)]
enum Op {
    Allocate(u8),
    Request(u8, u128),
    Release(u8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    proptest::collection::vec(
        prop_oneof![
            4 => (0u8..24).prop_map(Op::Allocate),
            1 => (0u8..24, 0..WINDOW + 4).prop_map(|(c, a)| Op::Request(c, a)),
            2 => (0u8..24).prop_map(Op::Release),
        ],
        0..80,
    )
}

fn claim(i: u8) -> String {
    format!("claim-{i}")
}

/// Checks the invariants every state must keep, whatever the pool style.
fn check_state(
    allocator: &Allocator,
    space: Space,
    allocatable: &BTreeSet<u128>,
    holders: &BTreeMap<String, u128>,
) -> Result<(), TestCaseError> {
    let mut seen = BTreeSet::new();
    for (claim, &address) in holders {
        prop_assert!(
            seen.insert(address),
            "{} handed out twice",
            space.text(address)
        );
        prop_assert!(
            allocatable.contains(&address),
            "{} is not allocatable",
            space.text(address)
        );
        prop_assert_eq!(allocator.address_of(claim), Some(space.ip(address)));
        prop_assert_eq!(allocator.owner_of(space.ip(address)), Some(claim.as_str()));
    }
    let counts = allocator.counts();
    prop_assert_eq!(counts.total, allocatable.len() as u128);
    prop_assert_eq!(counts.used, holders.len() as u128);
    prop_assert_eq!(counts.out_of_range, 0);
    prop_assert_eq!(
        counts.free + counts.used - counts.out_of_range,
        counts.total
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn in_cluster_matches_the_model(case in in_cluster_case(), ops in ops()) {
        let space = case.space;
        let pool = Pool::in_cluster(&case.spec()).expect("generated specs are valid");
        let allocatable = case.allocatable();
        let engine_set: BTreeSet<u128> = pool
            .allocatable_ranges()
            .flat_map(|r| space.offset(r.first())..=space.offset(r.last()))
            .collect();
        prop_assert_eq!(&engine_set, &allocatable);

        let mut allocator = Allocator::new(pool);
        let mut holders: BTreeMap<String, u128> = BTreeMap::new();
        for op in ops {
            match op {
                Op::Allocate(i) => {
                    let name = claim(i);
                    let result = allocator.allocate(&name, None);
                    if let Some(&held) = holders.get(&name) {
                        let allocation = result.expect("a holder gets its address back");
                        prop_assert_eq!(allocation.address, space.ip(held));
                        prop_assert!(!allocation.newly_allocated);
                        continue;
                    }
                    let used: BTreeSet<u128> = holders.values().copied().collect();
                    let lowest = allocatable.iter().find(|a| !used.contains(a)).copied();
                    match (result, lowest) {
                        (Ok(allocation), Some(lowest)) => {
                            prop_assert_eq!(allocation.address, space.ip(lowest), "in-cluster takes the lowest free address");
                            holders.insert(name, lowest);
                        }
                        (Err(error), None) => prop_assert!(error.is_exhausted(), "{}", error),
                        (result, lowest) => prop_assert!(false, "engine {:?}, model {:?}", result, lowest),
                    }
                }
                Op::Request(i, offset) => {
                    let name = claim(i);
                    let result = allocator.allocate(&name, Some(&space.text(offset)));
                    if let Some(&held) = holders.get(&name) {
                        prop_assert_eq!(result.expect("a holder keeps its address").address, space.ip(held));
                        continue;
                    }
                    let taken = holders.values().any(|&a| a == offset);
                    if allocatable.contains(&offset) && !taken {
                        prop_assert_eq!(result.expect("a free address is granted").address, space.ip(offset));
                        holders.insert(name, offset);
                    } else {
                        prop_assert!(result.is_err(), "{} granted although not free", space.text(offset));
                    }
                }
                Op::Release(i) => {
                    let name = claim(i);
                    let released = allocator.release(&name);
                    prop_assert_eq!(released, holders.remove(&name).map(|a| space.ip(a)));
                }
            }
            check_state(&allocator, space, &allocatable, &holders)?;
        }
    }

    #[test]
    fn rebuild_counts_what_falls_outside_a_shrunk_pool(case in in_cluster_case(), held in proptest::collection::btree_set(0..WINDOW + 8, 0..24)) {
        let space = case.space;
        let pool = Pool::in_cluster(&case.spec()).expect("generated specs are valid");
        let allocatable = case.allocatable();
        let existing: Vec<(String, String)> = held.iter().map(|&a| (space.text(a), format!("c{a}"))).collect();
        let (mut allocator, issues) = Allocator::rebuild(pool, existing);
        prop_assert!(issues.is_empty());
        let outside = held.iter().filter(|a| !allocatable.contains(a)).count() as u128;
        let counts = allocator.counts();
        prop_assert_eq!(counts.used, held.len() as u128);
        prop_assert_eq!(counts.out_of_range, outside);
        prop_assert_eq!(counts.free, allocatable.len() as u128 - (held.len() as u128 - outside));
        // The next address is the lowest allocatable one nobody holds.
        let expected = allocatable.iter().find(|a| !held.contains(a)).map(|&a| space.ip(a));
        prop_assert_eq!(allocator.allocate("newcomer", None).ok().map(|a| a.address), expected);
    }

    #[test]
    fn release_then_allocate_gives_the_lowest_free_address(case in in_cluster_case(), fill in 1usize..40, released in proptest::collection::vec(0usize..40, 1..6)) {
        let pool = Pool::in_cluster(&case.spec()).expect("generated specs are valid");
        let mut allocator = Allocator::new(pool);
        let mut granted = Vec::new();
        for i in 0..fill {
            if let Ok(allocation) = allocator.allocate(&format!("c{i}"), None) {
                granted.push(allocation.address);
            }
        }
        prop_assume!(!granted.is_empty());
        let mut freed = BTreeSet::new();
        for i in released {
            let i = i % granted.len();
            if let Some(address) = allocator.release(&format!("c{i}")) {
                freed.insert(address);
            }
        }
        for address in freed {
            let again = allocator.allocate(&format!("again-{address}"), None).expect("a freed address is free");
            prop_assert_eq!(again.address, address, "freed addresses come back lowest first");
        }
    }
}

#[derive(Debug, Clone)]
enum M3Entry {
    StartEnd(u128, u128),
    Subnet(u128, u32),
    StartSubnet(u128, u128, u32),
}

#[derive(Debug, Clone)]
struct Metal3Case {
    space: Space,
    entries: Vec<M3Entry>,
    gateway: Option<u128>,
    random: bool,
}

impl Metal3Case {
    fn spec(&self) -> Metal3Spec {
        let bits = self.space.bits();
        let entries = self
            .entries
            .iter()
            .map(|entry| match *entry {
                M3Entry::StartEnd(a, b) => Metal3Entry {
                    start: Some(self.space.text(a)),
                    end: Some(self.space.text(b)),
                    ..Metal3Entry::default()
                },
                M3Entry::Subnet(a, host) => Metal3Entry {
                    subnet: Some(format!("{}/{}", self.space.text(a), bits - host)),
                    ..Metal3Entry::default()
                },
                M3Entry::StartSubnet(start, a, host) => Metal3Entry {
                    start: Some(self.space.text(start)),
                    subnet: Some(format!("{}/{}", self.space.text(a), bits - host)),
                    ..Metal3Entry::default()
                },
            })
            .collect();
        Metal3Spec {
            name_prefix: "pool".into(),
            pools: entries,
            prefix: i64::from(bits - 8),
            gateway: self.gateway.map(|g| self.space.text(g)),
            allocation_strategy: if self.random {
                AllocationStrategy::Random
            } else {
                AllocationStrategy::Sequential
            },
            ..Metal3Spec::default()
        }
    }

    /// Each entry's candidates (Metal3's generation), then the withheld
    /// addresses: gateway and reserved addresses of entry subnets.
    fn model(&self) -> (Vec<BTreeSet<u128>>, BTreeSet<u128>) {
        let bits = self.space.bits();
        let mut withheld: BTreeSet<u128> = self.gateway.into_iter().collect();
        let mut reserve = |first: u128, last: u128, host: u32| {
            if host >= 2 {
                withheld.insert(first);
                if !self.space.v6 {
                    withheld.insert(last);
                }
            }
        };
        let mut candidates = Vec::new();
        for entry in &self.entries {
            let set: BTreeSet<u128> = match *entry {
                M3Entry::StartEnd(a, b) => (a..=b).collect(),
                M3Entry::Subnet(a, host) => {
                    let (first, last) = self.space.subnet(a, bits - host);
                    reserve(first, last, host);
                    (a + 1..=last).collect()
                }
                M3Entry::StartSubnet(start, a, host) => {
                    let (first, last) = self.space.subnet(a, bits - host);
                    reserve(first, last, host);
                    if (first..=last).contains(&start) {
                        (start..=last).collect()
                    } else {
                        BTreeSet::new()
                    }
                }
            };
            candidates.push(set);
        }
        (candidates, withheld)
    }
}

fn metal3_case() -> impl Strategy<Value = Metal3Case> {
    let entry = prop_oneof![
        (0..WINDOW, 0..12u128).prop_map(|(a, len)| M3Entry::StartEnd(a, a + len)),
        (0..WINDOW, 0u32..=4).prop_map(|(a, host)| M3Entry::Subnet(a, host)),
        (0..WINDOW, 0..WINDOW, 0u32..=4).prop_map(|(s, a, host)| M3Entry::StartSubnet(s, a, host)),
    ];
    (
        any::<bool>(),
        proptest::collection::vec(entry, 1..4),
        proptest::option::of(0..WINDOW),
        any::<bool>(),
    )
        .prop_map(|(v6, entries, gateway, random)| Metal3Case {
            space: Space { v6 },
            entries,
            gateway,
            random,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(192))]

    #[test]
    fn metal3_follows_entry_order(case in metal3_case(), ops in ops(), seed in any::<u64>()) {
        let space = case.space;
        let pool = Pool::metal3(&case.spec()).expect("generated specs are valid");
        let (candidates, withheld) = case.model();
        let allocatable: BTreeSet<u128> = candidates.iter().flatten().filter(|a| !withheld.contains(a)).copied().collect();
        let mut allocator = Allocator::new(pool).with_seed(seed);
        let mut holders: BTreeMap<String, u128> = BTreeMap::new();
        for op in ops {
            let name = match op { Op::Allocate(i) | Op::Request(i, _) | Op::Release(i) => claim(i) };
            match op {
                Op::Release(_) => {
                    prop_assert_eq!(allocator.release(&name), holders.remove(&name).map(|a| space.ip(a)));
                }
                _ if holders.contains_key(&name) => {
                    let allocation = allocator.allocate(&name, None).expect("a holder gets its address back");
                    prop_assert_eq!(allocation.address, space.ip(holders[&name]));
                }
                Op::Request(_, offset) => {
                    let free = allocatable.contains(&offset) && !holders.values().any(|&a| a == offset);
                    let result = allocator.allocate(&name, Some(&space.text(offset)));
                    prop_assert_eq!(result.is_ok(), free, "request of {}: {:?}", space.text(offset), result);
                    if free { holders.insert(name, offset); }
                }
                Op::Allocate(_) => {
                    let used: BTreeSet<u128> = holders.values().copied().collect();
                    let first_entry_with_room = candidates.iter().find_map(|set| {
                        let room: BTreeSet<u128> = set.iter().filter(|a| !withheld.contains(a) && !used.contains(a)).copied().collect();
                        (!room.is_empty()).then_some(room)
                    });
                    match (allocator.allocate(&name, None), first_entry_with_room) {
                        (Ok(allocation), Some(room)) => {
                            let got = space.offset(allocation.address);
                            prop_assert!(room.contains(&got), "{} is not in the first entry with room", allocation.address);
                            if !case.random {
                                prop_assert_eq!(Some(&got), room.first(), "sequential takes the entry's first free address");
                            }
                            holders.insert(name, got);
                        }
                        (Err(error), None) => prop_assert!(error.is_exhausted(), "{}", error),
                        (result, room) => prop_assert!(false, "engine {:?}, model {:?}", result, room),
                    }
                }
            }
            check_state(&allocator, space, &allocatable, &holders)?;
        }
    }
}
