//! An admission webhook server: HTTPS with a mounted or generated certificate, axum routes,
//! and responses shaped as controller-runtime's so that clients see the upstream's errors.
//!
//! A backend provides the routes (an `axum::Router` whose handlers decide with
//! [`respond`]); the binary binds the port and calls [`serve`] with [`admission`] around them.

pub mod expiry;
mod observe;
mod review;
mod server;
pub mod tls;
pub mod tls_policy;

pub use review::{Denial, Verdict, invalid_field, respond};
pub use server::serve;

/// `app` with every admission request it answers counted and timed (see `observe`).
pub fn admission(app: axum::Router) -> axum::Router {
    app.layer(axum::middleware::from_fn(observe::observe))
}
