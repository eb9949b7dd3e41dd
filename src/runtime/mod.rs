//! What running in production takes besides the controllers: leader election, the metrics
//! and probe endpoints, logging.

pub mod controllers;
pub mod diagnostics;
pub mod endpoints;
pub mod gate;
pub mod leader;
pub mod listen;
pub mod logging;
pub mod tls_flags;
