//! Which pool a claim means: group, kind, and for namespaced kinds the claim's namespace.

use std::fmt;

use crate::api::allocation::PoolIdentity;

#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PoolKey {
    pub group: String,
    pub kind: String,
    /// None for cluster-scoped pools.
    pub namespace: Option<String>,
    pub name: String,
}

impl PoolKey {
    pub fn namespaced(group: &str, kind: &str, namespace: &str, name: &str) -> Self {
        PoolKey {
            group: group.into(),
            kind: kind.into(),
            namespace: Some(namespace.into()),
            name: name.into(),
        }
    }

    pub fn global(group: &str, kind: &str, name: &str) -> Self {
        PoolKey {
            group: group.into(),
            kind: kind.into(),
            namespace: None,
            name: name.into(),
        }
    }

    /// A stable 16-hex-digit digest (FNV-1a), short enough for object names and label values.
    pub fn digest(&self) -> String {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        let text = format!(
            "{}/{}/{}/{}",
            self.group,
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        );
        for byte in text.bytes() {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
        format!("{hash:016x}")
    }

    pub fn identity(&self) -> PoolIdentity {
        PoolIdentity {
            api_group: self.group.clone(),
            kind: self.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }
}

impl fmt::Display for PoolKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}
