//! The pool kinds come in pairs, as upstream declares them: a namespaced kind and its
//! cluster-scoped twin (`Global…`), with one spec, one status, the same labels and the same
//! printer columns. [`pool_kinds!`] declares a pair from that one description.

/// Declares a namespaced pool kind and its cluster-scoped twin.
///
/// - `version`: the API version; `pool`: the spec both kinds flatten into `spec`;
/// - `flags`: extra `#[kube]` flags of both (e.g. `deprecated`);
/// - `columns`: printer columns before the counts, for both kinds; `namespaced_columns`:
///   ones only the namespaced kind shows, after those;
/// - `counts`: the descriptions of the Total, Free and Used columns.
macro_rules! pool_kinds {
    (
        version: $version:literal,
        pool: $pool:ty,
        namespaced: $ns_kind:literal => $ns_spec:ident,
        global: $global_kind:literal => $global_spec:ident,
        flags: [$($flag:ident),*],
        columns: [$($column:tt)*],
        namespaced_columns: [$($ns_column:tt)*],
        counts: [$total:literal, $free:literal, $used:literal $(,)?] $(,)?
    ) => {
        $crate::api::kinds::pool_kinds!(@kind $version, $pool, $ns_kind, $ns_spec, [namespaced $(, $flag)*],
            [$($column)* $($ns_column)*], [$total, $free, $used]);
        $crate::api::kinds::pool_kinds!(@kind $version, $pool, $global_kind, $global_spec, [$($flag),*],
            [$($column)*], [$total, $free, $used]);
    };
    (@kind $version:literal, $pool:ty, $kind:literal, $spec:ident, [$($flag:ident),*],
        [$($column:tt)*], [$total:literal, $free:literal, $used:literal]) => {
        #[derive(
            kube::CustomResource,
            kube::KubeSchema,
            serde::Serialize,
            serde::Deserialize,
            Clone,
            Debug,
            Default,
            PartialEq,
        )]
        #[kube(
            group = "ipam.cluster.x-k8s.io",
            version = $version,
            kind = $kind,
            $($flag,)*
            status = "crate::api::PoolStatus",
            category = "cluster-api",
            label("clusterctl.cluster.x-k8s.io/move-hierarchy", ""),
            label("cluster.x-k8s.io/v1beta1", "v1alpha2"),
            label("cluster.x-k8s.io/v1beta2", "v1alpha2"),
            $($column)*
            printcolumn(name = "Total", type_ = "integer",
                json_path = ".status.ipAddresses.total", description = $total),
            printcolumn(name = "Free", type_ = "integer",
                json_path = ".status.ipAddresses.free", description = $free),
            printcolumn(name = "Used", type_ = "integer",
                json_path = ".status.ipAddresses.used", description = $used)
        )]
        pub struct $spec {
            #[serde(flatten)]
            pub pool: $pool,
        }
    };
}

pub(crate) use pool_kinds;
