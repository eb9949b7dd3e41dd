//! The request log: what each WAPI call looked like, so tests can assert exact call sequences.
//! Headers are never recorded, so neither passwords nor cookies end up here.

use serde::Serialize;
use serde_json::Value;
use std::collections::VecDeque;

const CAPACITY: usize = 10_000;

#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub seq: u64,
    pub at_ms: u64,
    pub method: String,
    /// The path after one percent-decoding, as the server routed it.
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    /// Query pairs after form decoding, in order, repeats kept.
    pub query: Vec<(String, String)>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// The status sent, or the one that would have been sent when a fault dropped the answer.
    pub status: u16,
    /// `basic`, `cookie`, `denied`, or `none` for paths outside WAPI.
    pub auth: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fault: Option<&'static str>,
    pub duration_ms: u64,
}

#[derive(Debug, Default)]
pub struct RequestLog {
    next: u64,
    entries: VecDeque<Entry>,
}

impl RequestLog {
    pub fn push(&mut self, mut e: Entry) {
        self.next += 1;
        e.seq = self.next;
        if self.entries.len() >= CAPACITY {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }

    pub fn since(&self, seq: u64) -> Vec<Entry> {
        self.entries
            .iter()
            .filter(|e| e.seq > seq)
            .cloned()
            .collect()
    }

    /// Clears entries but not the sequence, so `since` stays meaningful across clears.
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}
