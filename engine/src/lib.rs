//! The address-pool engine of ipam-operator: pure functions and data, no
//! Kubernetes types, no async, no I/O.
//!
//! It reads pools in both upstream syntaxes (the in-cluster provider's
//! `InClusterIPPool` and Metal3's `IPPool`), hands out addresses in the order
//! each upstream does, counts exactly in `u128`, and runs both upstreams'
//! admission rules with their exact messages.
//!
//! A reconciler's round for one pool:
//! 1. [`Pool::in_cluster`] or [`Pool::metal3`] compiles the spec;
//! 2. [`Allocator::rebuild`] records the addresses that already exist;
//! 3. [`Allocator::allocate`] and [`Allocator::release`] serve claims;
//! 4. [`Allocator::counts`] gives the status counts.
//!
//! A webhook calls [`validate_in_cluster`], [`validate_metal3_create`],
//! [`validate_metal3_update`], [`stranded_addresses`] and [`overlap`], and
//! formats refusals with [`invalid_message`].
//!
//! A prefix pool ([`PrefixPool`], [`PrefixAllocator`]) hands out aligned sub-prefixes of
//! one length instead of addresses, lowest first, on the same interval sets.
//!
//! Free space is an interval set over `u128`: allocation, release and lookup
//! cost O(log n) in the number of free runs, and an IPv6 /48 costs what a /29
//! costs.

mod address;
mod allocator;
mod counts;
mod error;
mod field;
mod free_space;
mod holders;
mod parse;
mod pool;
mod prefix;
mod quote;
mod syntax;
mod validate;

pub use address::{AddressRange, Family};
pub use allocator::{Allocation, Allocator};
pub use counts::{Counts, StatusCounts};
pub use error::{AddressError, AllocateError, CidrError, EntryError, RecordIssue, Withheld};
pub use field::{
    BadValue, FieldError, SizeUnknown, SpecError, Validation, Violation, Warning, invalid_message,
};
pub use parse::parse_address;
pub use pool::{
    AllocationStrategy, Attributes, InClusterSpec, Metal3Entry, Metal3Spec, Placement, Pool, Style,
};
pub use prefix::{Block, PrefixAllocator, PrefixExhausted, PrefixPool, PrefixPoolError};
pub use syntax::{AddressEntry, Cidr};
pub use validate::{
    DEFAULT_ALLOCATION_PREFIX_LENGTH, Overlap, PrefixSpec, StrandedAddresses, non_allocatable,
    non_allocatable_message, overlap, prefix_overlap, stranded_addresses, validate_in_cluster,
    validate_metal3_create, validate_metal3_update, validate_prefix_pool,
};
