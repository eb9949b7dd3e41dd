//! Everything the server knows, behind one mutex: holding it across a whole request's
//! read-modify-write is what makes `nextavailableip` atomic.

use crate::auth::Sessions;
use crate::config::SimConfig;
use crate::faults::Faults;
use crate::paging::Pages;
use crate::reqlog::RequestLog;
use crate::state::Store;
use serde::{Deserialize, Serialize};
use std::sync::{Mutex, MutexGuard};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct User {
    pub username: String,
    pub password: String,
}

pub struct SimState {
    pub store: Store,
    pub config: SimConfig,
    pub users: Vec<User>,
    pub sessions: Sessions,
    pub faults: Faults,
    pub log: RequestLog,
    pub pages: Pages,
}

pub struct Sim {
    state: Mutex<SimState>,
}

impl Sim {
    pub fn new(config: SimConfig, users: Vec<User>) -> Sim {
        Sim {
            state: Mutex::new(SimState {
                store: Store::new(),
                config,
                users,
                sessions: Sessions::default(),
                faults: Faults::default(),
                log: RequestLog::default(),
                pages: Pages::default(),
            }),
        }
    }

    /// A panic while the lock was held leaves the data as it was at the panic; for a test
    /// server carrying on is more useful than poisoning every later request.
    pub fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SimState {
    /// Back to a fresh grid; users, config and sessions survive so clients stay logged in.
    pub fn reset(&mut self) {
        self.store.reset();
        self.faults = Faults::default();
        self.log.clear();
        self.pages = Pages::default();
    }
}
