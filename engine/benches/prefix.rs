//! Prefix pools at scale: an IPv6 /32 cut into /64s (2^32 blocks).
//! 1. 100,000 /64s handed out one after another;
//! 2. one allocation and release with 1 k versus 100 k blocks in use, every other block
//!    taken so each free block is a run of its own: the cost must not grow with either.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use ipam_engine::{Cidr, PrefixAllocator, PrefixPool};

fn slash_32() -> PrefixPool {
    PrefixPool::new(&[Cidr::parse("2001:db8::/32").expect("a CIDR")], 64, &[])
        .expect("a /32 holds /64s")
}

fn sequential_64s(c: &mut Criterion) {
    let names: Vec<String> = (0..100_000).map(|i| format!("claim-{i}")).collect();
    c.bench_function("100k sequential /64s from a /32", |b| {
        b.iter_batched(
            || PrefixAllocator::new(slash_32()),
            |mut allocator| {
                for name in &names {
                    black_box(allocator.allocate(name).expect("a /32 has room"));
                }
                allocator
            },
            BatchSize::PerIteration,
        );
    });
}

/// `used` /64s at every other block from the start of the /32.
fn every_other_block(used: usize) -> PrefixAllocator {
    let mut allocator = PrefixAllocator::new(slash_32());
    let base = u128::from("2001:db8::".parse::<std::net::Ipv6Addr>().unwrap());
    for i in 0..used {
        let address = std::net::Ipv6Addr::from(base + ((2 * i as u128) << 64));
        allocator.record(&format!("existing-{i}"), address.into(), 64);
    }
    allocator
}

fn one_allocation_by_used(c: &mut Criterion) {
    let mut group = c.benchmark_group("one /64 allocation and release");
    for used in [1_000, 100_000] {
        let mut allocator = every_other_block(used);
        group.bench_with_input(BenchmarkId::new("used", used), &used, |b, _| {
            b.iter(|| {
                let (block, _) = allocator.allocate("probe").expect("room");
                allocator.release("probe");
                block
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
    targets = sequential_64s
}
criterion_group! {
    name = flat;
    config = Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(3));
    targets = one_allocation_by_used
}
criterion_main!(scale, flat);
