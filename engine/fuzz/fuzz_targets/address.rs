//! The address, CIDR and entry parsers on arbitrary text: they never panic,
//! agree with the standard library on every address both accept, and what
//! they accept prints back to something that parses to the same value.
#![no_main]

use std::net::IpAddr;

use ipam_engine::{AddressEntry, Cidr, parse_address};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };

    let ours = parse_address(text);
    let _ = ours.as_ref().map_err(ToString::to_string);
    // The grammar is Go's; the standard library's is the same RFC 4291 text
    // form, so both must agree on everything without a zone.
    if !text.contains('%') {
        let std = text.parse::<IpAddr>();
        assert_eq!(
            ours.as_ref().ok(),
            std.as_ref().ok(),
            "parsers disagree on {text:?}"
        );
    } else {
        assert!(ours.is_err(), "a zone slipped through in {text:?}");
    }
    if let Ok(address) = ours {
        assert_eq!(parse_address(&address.to_string()), Ok(address));
    }

    for parsed in [Cidr::parse(text), Cidr::parse_lenient(text)] {
        match parsed {
            Ok(cidr) => {
                let range = cidr.range();
                assert!(range.first() <= range.last());
                assert!(cidr.contains(cidr.address()));
                assert_eq!(Cidr::parse(&cidr.to_string()), Ok(cidr));
            }
            Err(error) => drop(error.to_string()),
        }
    }

    match AddressEntry::parse(text) {
        Ok(entry) => {
            let range = entry.range();
            assert!(range.first() <= range.last());
            assert!(range.size() >= 1);
            let again = AddressEntry::parse(&range.to_string()).expect("a printed range parses");
            assert_eq!(again.range(), range);
        }
        Err(error) => drop(error.to_string()),
    }
});
