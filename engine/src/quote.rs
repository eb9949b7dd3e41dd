//! Quoting the way Go's `strconv.Quote` does, so that messages the upstream
//! controllers print with `%q` read the same when this engine prints them.

/// Renders `text` between double quotes with Go's escapes.
///
/// Go decides what is printable from Unicode tables; outside ASCII this
/// treats every character that is neither a control nor a space character as
/// printable, which agrees with Go for the letters, digits and symbols real
/// input carries.
pub(crate) fn go_quote(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            ' ' => out.push(' '),
            c if !c.is_control() && !c.is_whitespace() => out.push(c),
            c if (c as u32) < 0x80 => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if (c as u32) < 0x10000 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push_str(&format!("\\U{:08x}", c as u32)),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::go_quote;

    #[test]
    fn quotes_like_go() {
        assert_eq!(go_quote("10.0.0.1"), "\"10.0.0.1\"");
        assert_eq!(go_quote("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(go_quote("tab\there\n"), "\"tab\\there\\n\"");
        assert_eq!(go_quote("\u{0}\u{7f}"), "\"\\x00\\x7f\"");
        assert_eq!(go_quote("\u{a0}é"), "\"\\u00a0é\"");
        assert_eq!(go_quote(""), "\"\"");
    }
}
