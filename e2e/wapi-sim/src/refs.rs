//! Object references: `<objtype>/<id>:<name part>`. Only `<objtype>/<id>` identifies an object;
//! the name part is for people and is rebuilt from the current fields on every read.

use percent_encoding::{AsciiSet, CONTROLS, utf8_percent_encode};

/// Characters NIOS escapes inside one element of a ref's name part. `/` must be escaped
/// because it separates elements; `:` because it separates the id.
const NAME_PART: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'/')
    .add(b':')
    .add(b'%')
    .add(b'"')
    .add(b'#')
    .add(b'?')
    .add(b'<')
    .add(b'>');

pub fn escape(s: &str) -> String {
    utf8_percent_encode(s, NAME_PART).to_string()
}

/// Ids look like real ones (base64 of an internal key prefix) but only use `[A-Za-z0-9]`,
/// because the Go client parses refs with `\w+`. The counter keeps ids unique for the life of
/// the process, across resets, so a stale ref can never find a new object.
pub fn make_id(tag: &str, seq: u64) -> String {
    format!("{tag}{seq:08}")
}

/// Splits a decoded WAPI path into the object type and, for a ref, the id.
pub fn split_target(path: &str) -> (&str, Option<&str>) {
    match path.split_once('/') {
        None => (path, None),
        Some((ty, rest)) => {
            let id = rest.split([':', '/']).next().unwrap_or("");
            (ty, Some(id))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_spaces_and_slashes() {
        assert_eq!(escape("Internal DNS"), "Internal%20DNS");
        assert_eq!(escape(" "), "%20");
        assert_eq!(escape("10.10.10.0/24"), "10.10.10.0%2F24");
        assert_eq!(escape("fd00::"), "fd00%3A%3A");
        assert_eq!(escape("default.nv1"), "default.nv1");
    }

    #[test]
    fn splits_refs_on_the_id() {
        assert_eq!(split_target("record:host"), ("record:host", None));
        assert_eq!(
            split_target("record:host/ZG5zLmhvc3Qk00000001:h/%20"),
            ("record:host", Some("ZG5zLmhvc3Qk00000001"))
        );
        assert_eq!(
            split_target("network/abc:10.0.0.0/24/nv"),
            ("network", Some("abc"))
        );
        assert_eq!(split_target("network/abc"), ("network", Some("abc")));
    }
}
