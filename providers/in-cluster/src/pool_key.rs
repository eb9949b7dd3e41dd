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

    /// A stable digest of the pool, short enough for object names and label values.
    pub fn digest(&self) -> String {
        digest(&format!(
            "{}/{}/{}/{}",
            self.group,
            self.kind,
            self.namespace.as_deref().unwrap_or(""),
            self.name
        ))
    }

    /// A stable digest of the space this pool's addresses are unique in: its namespace for a
    /// namespaced pool, the whole cluster for a global one. Allocation records are named by
    /// it, so two overlapping pools of one space can never both hand out an address, even when
    /// they were created too close together for admission to see each other. Admission also
    /// keeps namespaced pools off global ones; that pair has no shared space, so two of them
    /// created at the same instant are not kept apart.
    ///
    /// Prefix pools have spaces of their own: their records name blocks, not addresses.
    /// Names keep apart two prefix pools of one space that hand out blocks of one length;
    /// of different lengths, only admission does.
    pub fn address_space(&self) -> String {
        let blocks = if crate::api::prefix_pool::is_prefix_kind(&self.group, &self.kind) {
            "prefixes/"
        } else {
            ""
        };
        match &self.namespace {
            Some(ns) => digest(&format!("{blocks}namespace/{ns}")),
            None => digest(&format!("{blocks}cluster")),
        }
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

/// 16 hex digits of FNV-1a: stable across releases and platforms, unlike std's hasher.
fn digest(text: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}
