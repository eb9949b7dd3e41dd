//! The driver's own requests, counted as it makes them, so that they can be taken out of the
//! API server's totals and what is left is the system under test's.

use std::sync::{Arc, Mutex};

use crate::apiserver_metrics::RequestCounts;

#[derive(Clone, Default)]
pub struct Tally(Arc<Mutex<RequestCounts>>);

impl Tally {
    /// Counts one request of `verb` on `resource` whose outcome was `result`, with the code
    /// the API server recorded for it (`ok` on success).
    pub fn record<T>(&self, verb: &str, resource: &str, ok: &str, result: &kube::Result<T>) {
        let code = match result {
            Ok(_) => ok.to_string(),
            Err(kube::Error::Api(status)) => status.code.to_string(),
            // Never reached the API server's handler: nothing to take out.
            Err(_) => return,
        };
        self.0.lock().unwrap().add(verb, resource, &code, 1.0);
    }

    pub fn counts(&self) -> RequestCounts {
        self.0.lock().unwrap().clone()
    }
}
