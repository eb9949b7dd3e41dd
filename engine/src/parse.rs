//! The address grammar of Go's `netip.ParseAddr`, which both upstream
//! providers use (Metal3 through `net.ParseIP`, which calls it). Accepting
//! exactly what they accept keeps a manifest valid here iff it was valid
//! there, and failing with their words keeps webhook messages identical: the
//! in-cluster webhook prints this error verbatim for a bad gateway.
//!
//! One deliberate difference: Go accepts an IPv6 zone (`fe80::1%eth0`), which
//! has no meaning for an address handed to a machine, so it is refused here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::error::AddressError;

/// Parses one IPv4 or IPv6 address in the textual forms Go's
/// `netip.ParseAddr` accepts: dotted quads without leading zeros, and RFC 4291
/// IPv6 text including `::` and an embedded IPv4 tail.
///
/// # Errors
/// [`AddressError::Malformed`] with Go's own reason for text Go refuses, and
/// [`AddressError::Zone`] for an IPv6 address carrying a zone.
pub fn parse_address(text: &str) -> Result<IpAddr, AddressError> {
    // Go picks the grammar from the first separator it meets.
    for byte in text.bytes() {
        match byte {
            b'.' => return parse_v4_fields(text, text).map(|o| IpAddr::V4(Ipv4Addr::from(o))),
            b':' => return parse_v6(text),
            b'%' => return Err(malformed(text, "missing IPv6 address", None)),
            _ => {}
        }
    }
    Err(malformed(text, "unable to parse IP", None))
}

fn malformed(input: &str, reason: &'static str, at: Option<&str>) -> AddressError {
    AddressError::Malformed {
        input: input.to_owned(),
        reason,
        at: at.map(str::to_owned),
    }
}

/// Reads the dotted quad `part`; `input` is the whole text, which the error
/// names even when `part` is only the IPv4 tail of an IPv6 address.
fn parse_v4_fields(input: &str, part: &str) -> Result<[u8; 4], AddressError> {
    let bytes = part.as_bytes();
    let mut octets = [0u8; 4];
    let mut filled = 0;
    let mut value: u32 = 0;
    let mut digits = 0;
    for (i, &byte) in bytes.iter().enumerate() {
        match byte {
            b'0'..=b'9' => {
                if digits == 1 && value == 0 {
                    return Err(malformed(
                        input,
                        "IPv4 field has octet with leading zero",
                        None,
                    ));
                }
                value = value * 10 + u32::from(byte - b'0');
                digits += 1;
                if value > 255 {
                    return Err(malformed(input, "IPv4 field has value >255", None));
                }
            }
            b'.' => {
                if i == 0 || i == bytes.len() - 1 || bytes[i - 1] == b'.' {
                    return Err(malformed(
                        input,
                        "IPv4 field must have at least one digit",
                        Some(&part[i..]),
                    ));
                }
                if filled == 3 {
                    return Err(malformed(input, "IPv4 address too long", None));
                }
                octets[filled] = value as u8;
                filled += 1;
                value = 0;
                digits = 0;
            }
            _ => return Err(malformed(input, "unexpected character", Some(&part[i..]))),
        }
    }
    if filled < 3 {
        return Err(malformed(input, "IPv4 address too short", None));
    }
    octets[3] = value as u8;
    Ok(octets)
}

fn parse_v6(input: &str) -> Result<IpAddr, AddressError> {
    let (mut rest, zone) = match input.find('%') {
        Some(i) => (&input[..i], Some(&input[i + 1..])),
        None => (input, None),
    };
    if zone == Some("") {
        return Err(malformed(input, "zone must be a non-empty string", None));
    }

    let mut bytes = [0u8; 16];
    let mut ellipsis: Option<usize> = None;
    let mut filled = 0;

    if let Some(after) = rest.strip_prefix("::") {
        ellipsis = Some(0);
        rest = after;
    }
    while filled < 16 && !(rest.is_empty() && ellipsis == Some(filled)) {
        let (group, digits) = read_hex_group(input, rest)?;
        if digits == 0 {
            return Err(malformed(
                input,
                "each colon-separated field must have at least one digit",
                Some(rest),
            ));
        }

        if rest.as_bytes().get(digits) == Some(&b'.') {
            if ellipsis.is_none() && filled != 12 {
                return Err(malformed(
                    input,
                    "embedded IPv4 address must replace the final 2 fields of the address",
                    Some(rest),
                ));
            }
            if filled + 4 > 16 {
                return Err(malformed(
                    input,
                    "too many hex fields to fit an embedded IPv4 at the end of the address",
                    Some(rest),
                ));
            }
            let octets = parse_v4_fields(input, rest)?;
            bytes[filled..filled + 4].copy_from_slice(&octets);
            filled += 4;
            rest = "";
            break;
        }

        bytes[filled..filled + 2].copy_from_slice(&group.to_be_bytes());
        filled += 2;
        rest = &rest[digits..];
        if rest.is_empty() {
            break;
        }
        if !rest.starts_with(':') {
            return Err(malformed(
                input,
                "unexpected character, want colon",
                Some(rest),
            ));
        }
        if rest.len() == 1 {
            return Err(malformed(
                input,
                "colon must be followed by more characters",
                Some(rest),
            ));
        }
        rest = &rest[1..];
        if rest.starts_with(':') {
            if ellipsis.is_some() {
                return Err(malformed(input, "multiple :: in address", Some(rest)));
            }
            ellipsis = Some(filled);
            rest = &rest[1..];
            if rest.is_empty() {
                break;
            }
        }
    }

    if !rest.is_empty() {
        return Err(malformed(
            input,
            "trailing garbage after address",
            Some(rest),
        ));
    }
    if filled < 16 {
        let Some(at) = ellipsis else {
            return Err(malformed(input, "address string too short", None));
        };
        let gap = 16 - filled;
        bytes.copy_within(at..filled, at + gap);
        bytes[at..at + gap].fill(0);
    } else if ellipsis.is_some() {
        return Err(malformed(
            input,
            "the :: must expand to at least one field of zeros",
            None,
        ));
    }

    if let Some(zone) = zone {
        return Err(AddressError::Zone {
            input: input.to_owned(),
            zone: zone.to_owned(),
        });
    }
    Ok(IpAddr::V6(Ipv6Addr::from(bytes)))
}

/// Reads up to four hex digits at the start of `rest`, returning the value
/// and how many digits were read.
fn read_hex_group(input: &str, rest: &str) -> Result<(u16, usize), AddressError> {
    let mut value: u32 = 0;
    let mut digits = 0;
    for &byte in rest.as_bytes() {
        let Some(digit) = (byte as char).to_digit(16) else {
            break;
        };
        if digits == 4 {
            return Err(malformed(
                input,
                "each group must have 4 or less digits",
                Some(rest),
            ));
        }
        value = (value << 4) | digit;
        digits += 1;
    }
    Ok((value as u16, digits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(text: &str) -> String {
        parse_address(text).unwrap_err().to_string()
    }

    #[test]
    fn accepts_what_go_accepts() {
        for (text, expected) in [
            ("10.0.0.1", "10.0.0.1"),
            ("0.0.0.0", "0.0.0.0"),
            ("::", "::"),
            ("::1", "::1"),
            ("fd00::", "fd00::"),
            ("1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"),
            ("::2:3:4:5:6:7:8", "0:2:3:4:5:6:7:8"),
            ("FD00:0DB8::0001", "fd00:db8::1"),
            ("::ffff:10.0.0.1", "::ffff:10.0.0.1"),
            ("1:2:3:4:5:6:1.2.3.4", "1:2:3:4:5:6:102:304"),
            ("1::1.2.3.4", "1::102:304"),
        ] {
            assert_eq!(parse_address(text).unwrap().to_string(), expected, "{text}");
            assert_eq!(
                parse_address(text).unwrap(),
                text.parse::<IpAddr>().unwrap(),
                "{text}"
            );
        }
    }

    #[test]
    fn refuses_with_gos_words() {
        assert_eq!(
            message("invalid"),
            "ParseAddr(\"invalid\"): unable to parse IP"
        );
        assert_eq!(message(""), "ParseAddr(\"\"): unable to parse IP");
        assert_eq!(
            message("%eth0"),
            "ParseAddr(\"%eth0\"): missing IPv6 address"
        );
        assert_eq!(
            message("10.0.0.256"),
            "ParseAddr(\"10.0.0.256\"): IPv4 field has value >255"
        );
        assert_eq!(
            message("10.0.0.01"),
            "ParseAddr(\"10.0.0.01\"): IPv4 field has octet with leading zero"
        );
        assert_eq!(
            message("10.0.0"),
            "ParseAddr(\"10.0.0\"): IPv4 address too short"
        );
        assert_eq!(
            message("10.0.0.1.2"),
            "ParseAddr(\"10.0.0.1.2\"): IPv4 address too long"
        );
        assert_eq!(
            message("10..0.1"),
            "ParseAddr(\"10..0.1\"): IPv4 field must have at least one digit (at \".0.1\")"
        );
        assert_eq!(
            message("10.0.0.1 "),
            "ParseAddr(\"10.0.0.1 \"): unexpected character (at \" \")"
        );
        assert_eq!(
            message("1:2"),
            "ParseAddr(\"1:2\"): address string too short"
        );
        assert_eq!(
            message("12345::"),
            "ParseAddr(\"12345::\"): each group must have 4 or less digits (at \"12345::\")"
        );
        assert_eq!(
            message("1::2::3"),
            "ParseAddr(\"1::2::3\"): multiple :: in address (at \":3\")"
        );
        assert_eq!(
            message("1:2:3:4:5:6:7:8:9"),
            "ParseAddr(\"1:2:3:4:5:6:7:8:9\"): trailing garbage after address (at \"9\")"
        );
        assert_eq!(
            message("1:2:3:4::5:6:7:8"),
            "ParseAddr(\"1:2:3:4::5:6:7:8\"): the :: must expand to at least one field of zeros"
        );
        assert_eq!(
            message("1:"),
            "ParseAddr(\"1:\"): colon must be followed by more characters (at \":\")"
        );
        assert_eq!(
            message("1:g"),
            "ParseAddr(\"1:g\"): each colon-separated field must have at least one digit (at \"g\")"
        );
        assert_eq!(
            message("1:2.3.4.5"),
            "ParseAddr(\"1:2.3.4.5\"): embedded IPv4 address must replace the final 2 fields of the address (at \"2.3.4.5\")"
        );
        assert_eq!(
            message("fe80::1%"),
            "ParseAddr(\"fe80::1%\"): zone must be a non-empty string"
        );
        assert_eq!(
            message("::1.2.3"),
            "ParseAddr(\"::1.2.3\"): IPv4 address too short"
        );
    }

    #[test]
    fn refuses_zones_that_go_would_accept() {
        let error = parse_address("fe80::1%eth0").unwrap_err();
        assert!(matches!(error, AddressError::Zone { .. }));
        assert!(error.to_string().contains("eth0"), "{error}");
        assert!(
            parse_address("fe80::zz%eth0")
                .unwrap_err()
                .to_string()
                .contains("must have at least one digit")
        );
    }
}
