//! A WAPI (Infoblox NIOS REST) client: reqwest over rustls, typed errors, paged searches,
//! retries for idempotent calls only.

pub mod client;
pub mod error;
pub mod objects;
pub mod paging;
pub mod reservations;

pub use client::{ClientConfig, ConfigError, Credentials, WapiClient};
pub use error::WapiError;
pub use objects::{HostRecord, HostRequest};
pub use reservations::{Kind, Reservation};
