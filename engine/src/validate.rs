//! The admission rules of both upstream webhooks, as pure functions over
//! specs, plus the checks that span objects: overlap between pools and
//! addresses stranded by a shrink. A webhook fetches what the rules need (the
//! old object, the addresses in use, the other pools) and calls these.

mod in_cluster;
mod metal3;
mod overlap;
mod prefix;

pub use in_cluster::validate_in_cluster;
pub use metal3::{validate_metal3_create, validate_metal3_update};
pub use overlap::{Overlap, StrandedAddresses, overlap, prefix_overlap, stranded_addresses};
pub use prefix::{
    DEFAULT_ALLOCATION_PREFIX_LENGTH, PrefixSpec, non_allocatable, non_allocatable_message,
    validate_prefix_pool,
};
