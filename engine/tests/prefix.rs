//! Prefix pools against a model that lists every block of a small window: the lowest free
//! aligned block first, never one overlapping another allocation or touching an exclusion,
//! and counts that add up; IPv4 and IPv6 alike.

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipam_engine::{AddressEntry, Block, Cidr, PrefixAllocator, PrefixPool, PrefixPoolError};
use proptest::prelude::*;

/// Offsets 0..WINDOW above a base address hold every prefix, exclusion and allocation.
const WINDOW: u128 = 64;

fn base(v6: bool) -> u128 {
    if v6 {
        u128::from(Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, 0))
    } else {
        u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 0)))
    }
}

fn bits(v6: bool) -> u8 {
    if v6 { 128 } else { 32 }
}

fn ip(v6: bool, offset: u128) -> IpAddr {
    let value = base(v6) + offset;
    if v6 {
        IpAddr::V6(Ipv6Addr::from(value))
    } else {
        IpAddr::V4(Ipv4Addr::from(value as u32))
    }
}

fn offset(v6: bool, address: IpAddr) -> u128 {
    let value = match address {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    value - base(v6)
}

#[derive(Debug, Clone)]
struct Case {
    v6: bool,
    /// Host bits of a block: blocks of 1 to 8 addresses.
    block_bits: u32,
    /// (offset, host bits) of each prefix, host bits at least `block_bits`.
    prefixes: Vec<(u128, u32)>,
    /// Inclusive offset ranges excluded.
    excluded: Vec<(u128, u128)>,
}

impl Case {
    fn block(&self) -> u128 {
        1 << self.block_bits
    }
    fn length(&self) -> u8 {
        bits(self.v6) - self.block_bits as u8
    }
    fn pool(&self) -> PrefixPool {
        let prefixes: Vec<Cidr> = self
            .prefixes
            .iter()
            .map(|&(o, h)| {
                Cidr::parse(&format!("{}/{}", ip(self.v6, o), bits(self.v6) - h as u8)).unwrap()
            })
            .collect();
        let excluded: Vec<AddressEntry> = self
            .excluded
            .iter()
            .map(|&(a, b)| {
                AddressEntry::parse(&format!("{}-{}", ip(self.v6, a), ip(self.v6, b))).unwrap()
            })
            .collect();
        PrefixPool::new(&prefixes, i64::from(self.length()), &excluded).unwrap()
    }
    /// Offsets of the blocks the pool may hand out.
    fn eligible(&self) -> BTreeSet<u128> {
        let inside: BTreeSet<u128> = self
            .prefixes
            .iter()
            .flat_map(|&(o, h)| {
                let size = 1u128 << h;
                let first = o / size * size;
                first..first + size
            })
            .collect();
        let excluded: BTreeSet<u128> = self.excluded.iter().flat_map(|&(a, b)| a..=b).collect();
        (0..WINDOW * 2)
            .step_by(self.block() as usize)
            .filter(|&b| {
                (b..b + self.block()).all(|a| inside.contains(&a) && !excluded.contains(&a))
            })
            .collect()
    }
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), 0u32..4).prop_flat_map(|(v6, block_bits)| {
        let prefix = (0..WINDOW, block_bits..6);
        let excluded = (0..WINDOW, 0u128..4).prop_map(|(a, len)| (a, a + len));
        (
            proptest::collection::vec(prefix, 1..4),
            proptest::collection::vec(excluded, 0..4),
        )
            .prop_map(move |(prefixes, excluded)| Case {
                v6,
                block_bits,
                prefixes,
                excluded,
            })
    })
}

#[derive(Debug, Clone)]
enum Op {
    Allocate(u8),
    Release(u8),
    /// An existing allocation of any length: offset and the difference from the block
    /// length (negative: wider than a block).
    Record(u8, u128, i8),
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    let op = prop_oneof![
        4 => (0u8..24).prop_map(Op::Allocate),
        2 => (0u8..24).prop_map(Op::Release),
        1 => (0u8..24, 0..WINDOW + 8, -2i8..3).prop_map(|(c, o, d)| Op::Record(c, o, d)),
    ];
    proptest::collection::vec(op, 0..60)
}

/// The model: what each claim holds, as inclusive offset spans with their length.
#[derive(Default)]
struct Model {
    held: BTreeMap<String, (u128, u128, u8)>,
}

impl Model {
    fn touched(&self, first: u128, last: u128) -> bool {
        self.held.values().any(|&(a, b, _)| a <= last && first <= b)
    }
    fn lowest_free(&self, case: &Case) -> Option<u128> {
        case.eligible()
            .into_iter()
            .find(|&b| !self.touched(b, b + case.block() - 1))
    }
}

fn check(case: &Case, allocator: &PrefixAllocator, model: &Model) -> Result<(), TestCaseError> {
    let eligible = case.eligible();
    let counts = allocator.counts();
    prop_assert_eq!(counts.total, eligible.len() as u128);
    prop_assert_eq!(counts.used, model.held.len() as u128);
    let free = eligible
        .iter()
        .filter(|&&b| !model.touched(b, b + case.block() - 1))
        .count();
    prop_assert_eq!(counts.free, free as u128);
    let out_of_range = model
        .held
        .values()
        .filter(|&&(a, _, len)| len != case.length() || !eligible.contains(&a))
        .count();
    prop_assert_eq!(counts.out_of_range, out_of_range as u128);
    for (block, claim) in allocator.allocations() {
        let (a, _, len) = model.held[claim];
        prop_assert_eq!((offset(case.v6, block.address), block.prefix), (a, len));
    }
    Ok(())
}

fn claim(i: u8) -> String {
    format!("claim-{i}")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn prefix_pools_match_the_model(case in case(), ops in ops()) {
        let mut allocator = PrefixAllocator::new(case.pool());
        let mut model = Model::default();
        // Blocks handed out by allocate, which must never overlap anything else held.
        for op in ops {
            match op {
                Op::Allocate(i) => {
                    let name = claim(i);
                    if let Some(&(a, _, len)) = model.held.get(&name) {
                        let (block, new) = allocator.allocate(&name).unwrap();
                        prop_assert!(!new);
                        prop_assert_eq!((offset(case.v6, block.address), block.prefix), (a, len));
                        continue;
                    }
                    match (allocator.allocate(&name), model.lowest_free(&case)) {
                        (Ok((block, true)), Some(expected)) => {
                            let first = offset(case.v6, block.address);
                            prop_assert_eq!(first, expected, "the lowest free block");
                            prop_assert_eq!(block.prefix, case.length());
                            let last = first + case.block() - 1;
                            prop_assert!(!model.touched(first, last), "overlaps another allocation");
                            prop_assert!(
                                case.excluded.iter().all(|&(a, b)| b < first || last < a),
                                "touches an exclusion"
                            );
                            model.held.insert(name, (first, last, block.prefix));
                        }
                        (Err(_), None) => {}
                        (got, want) => prop_assert!(false, "allocate gave {:?}, the model {:?}", got, want),
                    }
                }
                Op::Release(i) => {
                    let name = claim(i);
                    let released = allocator.release(&name);
                    let expected = model.held.remove(&name);
                    prop_assert_eq!(
                        released.map(|b| (offset(case.v6, b.address), b.prefix)),
                        expected.map(|(a, _, len)| (a, len))
                    );
                }
                Op::Record(i, o, delta) => {
                    let name = claim(i);
                    let length = (i16::from(case.length()) + i16::from(delta))
                        .clamp(1, i16::from(bits(case.v6))) as u8;
                    let host = u32::from(bits(case.v6) - length);
                    let size = 1u128 << host;
                    let first = o / size * size;
                    let recorded = allocator.record(&name, ip(case.v6, o), length);
                    prop_assert!(recorded.is_some());
                    model.held.insert(name, (first, first + size - 1, length));
                }
            }
            check(&case, &allocator, &model)?;
        }
    }

    #[test]
    fn without_foreign_allocations_free_is_total_less_used(case in case(), n in 0usize..40, released in proptest::collection::vec(0usize..40, 0..8)) {
        let mut allocator = PrefixAllocator::new(case.pool());
        let mut blocks: Vec<Block> = Vec::new();
        for i in 0..n {
            match allocator.allocate(&format!("c{i}")) {
                Ok((block, _)) => blocks.push(block),
                Err(_) => break,
            }
        }
        for r in &released {
            allocator.release(&format!("c{r}"));
        }
        let counts = allocator.counts();
        prop_assert_eq!(counts.out_of_range, 0);
        prop_assert_eq!(counts.free, counts.total - counts.used);
        // Blocks handed out are pairwise apart.
        blocks.sort();
        for pair in blocks.windows(2) {
            let end = offset(case.v6, pair[0].address) + case.block() - 1;
            prop_assert!(end < offset(case.v6, pair[1].address));
        }
    }
}

#[test]
fn a_slash_32_cut_into_slash_64s_counts_without_enumerating() {
    let pool = PrefixPool::new(&[Cidr::parse("2001:db8::/32").unwrap()], 64, &[]).unwrap();
    let mut allocator = PrefixAllocator::new(pool);
    let (first, _) = allocator.allocate("a").unwrap();
    let (second, _) = allocator.allocate("b").unwrap();
    assert_eq!(first.to_string(), "2001:db8::/64");
    assert_eq!(second.to_string(), "2001:db8:0:1::/64");
    let counts = allocator.counts();
    assert_eq!(
        (counts.total, counts.used, counts.free),
        (1 << 32, 2, (1 << 32) - 2)
    );
    assert_eq!(counts.saturated().total, 1 << 32);
}

#[test]
fn exclusions_take_every_block_they_touch_and_the_gateway_none() {
    // Upstream's sample: fd00::/48 and fd01::/48 in /64s, fd00:0:0:1::/64 excluded.
    let prefixes = ["fd00::/48", "fd01::/48"].map(|p| Cidr::parse(p).unwrap());
    let excluded = [AddressEntry::parse("fd00:0:0:1::/64").unwrap()];
    let mut allocator = PrefixAllocator::new(PrefixPool::new(&prefixes, 64, &excluded).unwrap());
    let got: Vec<String> = (0..3)
        .map(|i| allocator.allocate(&format!("c{i}")).unwrap().0.to_string())
        .collect();
    assert_eq!(got, ["fd00::/64", "fd00:0:0:2::/64", "fd00:0:0:3::/64"]);
    // One address of a block is enough to withhold it.
    let excluded = [AddressEntry::parse("10.0.0.17").unwrap()];
    let pool = PrefixPool::new(&[Cidr::parse("10.0.0.0/26").unwrap()], 28, &excluded).unwrap();
    let mut allocator = PrefixAllocator::new(pool);
    let got: Vec<String> = (0..3)
        .map(|i| allocator.allocate(&format!("c{i}")).unwrap().0.to_string())
        .collect();
    assert_eq!(got, ["10.0.0.0/28", "10.0.0.32/28", "10.0.0.48/28"]);
    let exhausted = allocator.allocate("c3").unwrap_err();
    assert_eq!(
        exhausted.to_string(),
        "no free /28 left in the pool: 3 of 3 in use"
    );
}

#[test]
fn a_foreign_wider_allocation_holds_every_block_under_it_until_released() {
    let pool = PrefixPool::new(&[Cidr::parse("fd00::/60").unwrap()], 64, &[]).unwrap();
    let mut allocator = PrefixAllocator::new(pool);
    assert_eq!(
        allocator.record("wide", "fd00::5".parse().unwrap(), 62),
        Some(false)
    );
    assert_eq!(
        allocator.allocate("a").unwrap().0.to_string(),
        "fd00:0:0:4::/64"
    );
    let counts = allocator.counts();
    assert_eq!(
        (counts.total, counts.used, counts.free, counts.out_of_range),
        (16, 2, 11, 1)
    );
    assert_eq!(allocator.release("wide").unwrap().to_string(), "fd00::/62");
    assert_eq!(allocator.allocate("b").unwrap().0.to_string(), "fd00::/64");
}

#[test]
fn pools_refuse_what_they_cannot_hand_out() {
    let cidr = |t: &str| Cidr::parse(t).unwrap();
    assert_eq!(
        PrefixPool::new(&[], 64, &[]),
        Err(PrefixPoolError::NoPrefixes)
    );
    assert_eq!(
        PrefixPool::new(&[cidr("fd00::/48")], 129, &[])
            .unwrap_err()
            .to_string(),
        "allocationPrefixLength 129 is not between 1 and 128 for an IPv6 pool"
    );
    assert_eq!(
        PrefixPool::new(&[cidr("10.0.0.0/24")], 33, &[])
            .unwrap_err()
            .to_string(),
        "allocationPrefixLength 33 is not between 1 and 32 for an IPv4 pool"
    );
    assert_eq!(
        PrefixPool::new(&[cidr("fd00::/72")], 64, &[])
            .unwrap_err()
            .to_string(),
        "fd00::/72 is longer than allocationPrefixLength 64"
    );
    assert!(matches!(
        PrefixPool::new(&[cidr("fd00::/48"), cidr("10.0.0.0/8")], 64, &[]),
        Err(PrefixPoolError::MixedFamilies { .. })
    ));
}

#[test]
fn prefix_pools_overlap_by_the_addresses_their_blocks_share() {
    let pool = |prefix: &str, length: i64, excluded: &[&str]| {
        let excluded: Vec<AddressEntry> = excluded
            .iter()
            .map(|e| AddressEntry::parse(e).unwrap())
            .collect();
        PrefixPool::new(&[Cidr::parse(prefix).unwrap()], length, &excluded).unwrap()
    };
    let slash24 = pool("10.0.0.0/24", 28, &[]);
    // Another block length over the second half of the /24.
    let wide = pool("10.0.0.128/25", 26, &[]);
    let shared = ipam_engine::prefix_overlap(&slash24, &wide).unwrap();
    assert_eq!(
        shared.to_string(),
        "both pools may hand out 128 addresses: 10.0.0.128-10.0.0.255"
    );
    // Excluded blocks are not shared: nothing is left in common.
    let fenced = pool("10.0.0.0/24", 28, &["10.0.0.0/25"]);
    assert!(ipam_engine::prefix_overlap(&wide, &pool("10.0.0.0/25", 28, &[])).is_none());
    assert!(ipam_engine::prefix_overlap(&fenced, &pool("10.0.0.0/25", 27, &[])).is_none());
    assert!(ipam_engine::prefix_overlap(&slash24, &pool("fd00::/48", 64, &[])).is_none());
}
