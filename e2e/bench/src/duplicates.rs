//! Addresses handed out twice: read back every address object after a run and count, per
//! pool, each address beyond its first holder. Whatever the system under test believes, the
//! objects in the API server are what a cluster's machines get.

use std::collections::HashMap;

use kube::Api;
use kube::api::ListParams;
use kube::core::DynamicObject;

/// (address objects, duplicates) of `api`, keyed by `pool_and_address`.
pub async fn count(
    api: &Api<DynamicObject>,
    pool_and_address: impl Fn(&DynamicObject) -> (String, String),
) -> anyhow::Result<(usize, usize)> {
    let mut holders: HashMap<(String, String), usize> = HashMap::new();
    let mut params = ListParams::default().limit(2000);
    loop {
        let page = api.list(&params).await?;
        for object in &page.items {
            *holders.entry(pool_and_address(object)).or_default() += 1;
        }
        match page.metadata.continue_ {
            Some(token) if !token.is_empty() => params = params.continue_token(&token),
            _ => break,
        }
    }
    let objects = holders.values().sum();
    let duplicates = holders.values().map(|n| n - 1).sum();
    Ok((objects, duplicates))
}
