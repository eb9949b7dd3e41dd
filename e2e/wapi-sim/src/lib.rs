//! wapi-sim: an in-memory Infoblox WAPI server for tests, with a control API for seeding,
//! request logs and fault injection. `README.md` and `wapi-sim --help` describe the wire API.

pub mod alloc;
pub mod auth;
pub mod client_certs;
pub mod config;
pub mod control;
pub mod errors;
pub mod faults;
pub mod ipspace;
pub mod objects;
pub mod paging;
pub mod query;
pub mod refs;
pub mod reqlog;
pub mod search;
pub mod server;
pub mod sim;
pub mod state;
pub mod tls;
pub mod wapi;

pub use client_certs::ClientCertMode;
pub use config::SimConfig;
pub use server::{Options, Running, StartError, start};
pub use sim::User;
