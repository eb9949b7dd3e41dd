//! Searches read page by page (`_paging=1`, infoblox-wapi.md §2.6), so no search ever hits
//! NIOS's `Result set too large (> 1000)` however many records match.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::client::WapiClient;
use super::error::WapiError;

#[derive(Deserialize)]
struct Page<T> {
    result: Vec<T>,
    #[serde(default)]
    next_page_id: Option<String>,
}

impl WapiClient {
    /// Every `objtype` matching `filters`, with `return_fields`.
    pub async fn search<T: DeserializeOwned>(
        &self,
        objtype: &str,
        filters: &[(&str, String)],
        return_fields: &str,
    ) -> Result<Vec<T>, WapiError> {
        let mut query: Vec<(&str, String)> = filters.to_vec();
        query.extend([
            ("_return_fields", return_fields.to_string()),
            ("_paging", "1".into()),
            ("_return_as_object", "1".into()),
            ("_max_results", self.page_size.to_string()),
        ]);
        let mut all = Vec::new();
        let mut page_id: Option<String> = None;
        loop {
            let mut q = query.clone();
            if let Some(id) = &page_id {
                q.push(("_page_id", id.clone()));
            }
            let page: Page<T> = self.get(objtype, &q).await?;
            all.extend(page.result);
            match page.next_page_id {
                Some(id) if !id.is_empty() => page_id = Some(id),
                _ => return Ok(all),
            }
        }
    }
}
