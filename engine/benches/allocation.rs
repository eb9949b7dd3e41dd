//! The engine's cost at scale, in four scenarios:
//! 1. 1,000,000 sequential allocations from an IPv6 /64;
//! 2. 100,000 allocations into a /16 whose free space starts 30 % fragmented;
//! 3. rebuilding a pool from 100,000 existing allocations;
//! 4. one allocation with 1 k versus 100 k addresses in use, which must cost
//!    the same.
//!
//! An IPv4 /16 holds only 65,536 addresses, fewer than the 100,000 of
//! scenario 2, so that scenario uses an IPv6 /16 whose first 2^18 addresses
//! are 30 % taken at scattered places: every allocation has to find a hole.

use std::hint::black_box;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use ipam_engine::{Allocator, InClusterSpec, Pool};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

fn pool(addresses: &str, prefix: i64) -> Pool {
    Pool::in_cluster(&InClusterSpec {
        addresses: vec![addresses.to_owned()],
        prefix,
        ..InClusterSpec::default()
    })
    .expect("benchmark pools are valid")
}

fn names(count: usize) -> Vec<String> {
    (0..count).map(|i| format!("claim-{i}")).collect()
}

/// Existing allocations at every other address of 10.0.0.0/8 from
/// 10.0.0.1: each leaves a one-address hole, the most runs per address.
fn every_other_v4(count: usize) -> Vec<(String, String)> {
    let base = u32::from(Ipv4Addr::new(10, 0, 0, 1));
    (0..count)
        .map(|i| {
            (
                Ipv4Addr::from(base + 2 * i as u32).to_string(),
                format!("existing-{i}"),
            )
        })
        .collect()
}

fn sequential_ipv6_64(c: &mut Criterion) {
    let pool = pool("fd00::/64", 64);
    c.bench_function("1M sequential allocations from an IPv6 /64", |b| {
        b.iter_batched(
            || (Allocator::new(pool.clone()), names(1_000_000)),
            |(mut allocator, names)| {
                for name in &names {
                    black_box(allocator.allocate(name, None).expect("a /64 has room"));
                }
                allocator
            },
            BatchSize::PerIteration,
        );
    });
}

fn fragmented_16(c: &mut Criterion) {
    const WINDOW: u128 = 1 << 18;
    let pool = pool("fd00::/16", 16);
    let base = u128::from("fd00::".parse::<Ipv6Addr>().expect("literal"));
    let mut rng = StdRng::seed_from_u64(30);
    let existing: Vec<(String, String)> = (1..WINDOW)
        .filter(|_| rng.random_bool(0.3))
        .map(|offset| {
            (
                Ipv6Addr::from(base + offset).to_string(),
                format!("existing-{offset}"),
            )
        })
        .collect();
    c.bench_function("100k allocations into a 30% fragmented /16", |b| {
        b.iter_batched(
            || {
                let (allocator, _) =
                    Allocator::rebuild(pool.clone(), existing.iter().map(|(a, c)| (a, c)));
                (allocator, names(100_000))
            },
            |(mut allocator, names)| {
                for name in &names {
                    black_box(allocator.allocate(name, None).expect("the /16 has room"));
                }
                allocator
            },
            BatchSize::PerIteration,
        );
    });
}

fn rebuild_100k(c: &mut Criterion) {
    let pool = pool("10.0.0.0/8", 8);
    let existing = every_other_v4(100_000);
    c.bench_function("rebuild from 100k existing allocations", |b| {
        b.iter(|| {
            let (allocator, issues) =
                Allocator::rebuild(pool.clone(), existing.iter().map(|(a, c)| (a, c)));
            assert!(issues.is_empty());
            allocator
        });
    });
}

fn one_allocation_by_used(c: &mut Criterion) {
    let mut group = c.benchmark_group("one allocation and release");
    for used in [1_000, 100_000] {
        let (mut allocator, _) = Allocator::rebuild(pool("10.0.0.0/8", 8), every_other_v4(used));
        group.bench_with_input(BenchmarkId::new("used", used), &used, |b, _| {
            b.iter(|| {
                let allocation = allocator.allocate("probe", None).expect("room");
                allocator.release("probe");
                allocation.address
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = scale;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(10));
    targets = sequential_ipv6_64, fragmented_16, rebuild_100k
}
criterion_group! {
    name = flat;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = one_allocation_by_used
}
criterion_main!(scale, flat);
