//! Server-side paging state. Clients either resend the whole query with `_page_id`
//! (Python) or only `_page_id` (Posh-IBWAPI), so the rest of a result lives here, by page id.

use crate::errors::{WapiError, WapiResult};
use serde_json::Value;
use std::collections::{HashMap, VecDeque};

/// Abandoned searches are dropped oldest first beyond this many.
const MAX_OPEN: usize = 256;

#[derive(Debug, Default)]
pub struct Pages {
    open: HashMap<String, (VecDeque<Value>, usize)>,
    order: VecDeque<String>,
}

pub type Page = (Vec<Value>, Option<String>);

impl Pages {
    /// Serves the first page of a result and keeps the rest.
    pub fn start(&mut self, items: Vec<Value>, size: usize) -> Page {
        self.serve(items.into(), size.max(1))
    }

    pub fn next(&mut self, id: &str) -> WapiResult<Page> {
        let (rest, size) = self
            .open
            .remove(id)
            .ok_or_else(|| WapiError::BadPageId(id.into()))?;
        self.order.retain(|o| o != id);
        Ok(self.serve(rest, size))
    }

    fn serve(&mut self, mut items: VecDeque<Value>, size: usize) -> Page {
        let page: Vec<Value> = items.drain(..size.min(items.len())).collect();
        if items.is_empty() {
            return (page, None);
        }
        // Real ids are zlib streams in hex, hence the `789c` start.
        let id = format!("789c{}", crate::auth::random_hex(12));
        self.open.insert(id.clone(), (items, size));
        self.order.push_back(id.clone());
        while self.order.len() > MAX_OPEN {
            if let Some(old) = self.order.pop_front() {
                self.open.remove(&old);
            }
        }
        (page, Some(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pages_until_the_last_has_no_id() {
        let mut p = Pages::default();
        let (first, id) = p.start((0..5).map(|i| json!(i)).collect(), 2);
        assert_eq!(first, vec![json!(0), json!(1)]);
        let id = id.unwrap();
        assert!(id.starts_with("789c"));
        let (second, id2) = p.next(&id).unwrap();
        assert_eq!(second, vec![json!(2), json!(3)]);
        let (last, none) = p.next(&id2.unwrap()).unwrap();
        assert_eq!(last, vec![json!(4)]);
        assert!(none.is_none());
        assert_eq!(p.next(&id).unwrap_err(), WapiError::BadPageId(id));
    }

    #[test]
    fn an_exact_fit_has_no_next_page() {
        let mut p = Pages::default();
        let (page, id) = p.start(vec![json!(1), json!(2)], 2);
        assert_eq!(page.len(), 2);
        assert!(id.is_none());
    }
}
