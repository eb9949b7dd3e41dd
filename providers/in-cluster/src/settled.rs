//! Claims this process has seen through to the end.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

/// The claims whose `Ready` status this process wrote with their address, by claim uid. A
/// claim reconciled again right after that write may be read from a cache that does not show
/// it yet; this keeps such a pass from writing everything again.
#[derive(Default)]
pub struct Settled(Mutex<HashMap<String, IpAddr>>);

impl Settled {
    pub fn mark(&self, claim_uid: &str, address: IpAddr) {
        self.0
            .lock()
            .expect("settled lock")
            .insert(claim_uid.to_string(), address);
    }

    pub fn is(&self, claim_uid: &str, address: IpAddr) -> bool {
        self.0.lock().expect("settled lock").get(claim_uid) == Some(&address)
    }

    /// The address this process last wrote for the claim.
    pub fn address(&self, claim_uid: &str) -> Option<IpAddr> {
        self.0.lock().expect("settled lock").get(claim_uid).copied()
    }

    /// Whether this process saw the claim through, whatever address.
    pub fn knows(&self, claim_uid: &str) -> bool {
        self.0.lock().expect("settled lock").contains_key(claim_uid)
    }

    pub fn forget(&self, claim_uid: &str) {
        self.0.lock().expect("settled lock").remove(claim_uid);
    }
}
