//! The two textual forms pools are written in beyond single addresses: CIDRs
//! and the in-cluster entry syntax (`IP`, `CIDR` or `first-last`).

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::address::{AddressRange, Family, number, subnet_of};
use crate::error::{CidrError, EntryError};
use crate::parse::parse_address;

/// An address with a prefix length, kept as written: `10.0.0.7/24` keeps its
/// host bits, because Metal3 counts from the written address while the
/// in-cluster provider masks it; [`Cidr::range`] gives the masked subnet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    address: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// Parses `address/length` as Go's `netip.ParsePrefix` does (the
    /// in-cluster provider): the length is plain decimal without sign or
    /// leading zeros.
    ///
    /// # Errors
    /// A [`CidrError`] naming the text and what is wrong with it.
    pub fn parse(text: &str) -> Result<Cidr, CidrError> {
        Cidr::parse_with(text, false)
    }

    /// Parses `address/length` as Go's `net.ParseCIDR` does (Metal3), which
    /// also takes leading zeros in the length (`10.0.0.0/024`).
    ///
    /// # Errors
    /// A [`CidrError`] naming the text and what is wrong with it.
    pub fn parse_lenient(text: &str) -> Result<Cidr, CidrError> {
        Cidr::parse_with(text, true)
    }

    fn parse_with(text: &str, leading_zeros: bool) -> Result<Cidr, CidrError> {
        let Some((address, bits)) = text.rsplit_once('/') else {
            return Err(CidrError::NoSlash {
                input: text.to_owned(),
            });
        };
        let address = parse_address(address).map_err(|source| CidrError::Address {
            input: text.to_owned(),
            source,
        })?;
        let bad_bits = || CidrError::BadBits {
            input: text.to_owned(),
            bits: bits.to_owned(),
        };
        let digits_only = !bits.is_empty() && bits.bytes().all(|b| b.is_ascii_digit());
        if !digits_only || (!leading_zeros && bits.len() > 1 && bits.starts_with('0')) {
            return Err(bad_bits());
        }
        let family = Family::of(address);
        let too_long = || CidrError::LengthOutOfRange {
            input: text.to_owned(),
            family,
        };
        // Go's integer parse overflows on long digit runs and calls them bad bits.
        let prefix = bits.parse::<u32>().map_err(|_| bad_bits())?;
        if prefix > u32::from(family.bits()) {
            return Err(too_long());
        }
        Ok(Cidr {
            address,
            prefix: prefix as u8,
        })
    }

    /// The address as written, host bits included.
    pub fn address(&self) -> IpAddr {
        self.address
    }

    /// The prefix length.
    pub fn prefix_len(&self) -> u8 {
        self.prefix
    }

    /// The family of the address.
    pub fn family(&self) -> Family {
        Family::of(self.address)
    }

    /// The whole subnet, from network address to last address.
    pub fn range(&self) -> AddressRange {
        let (first, last) = subnet_of(self.family(), number(self.address), self.prefix);
        AddressRange::from_numbers(self.family(), first, last)
    }

    /// Whether `address` lies in the subnet.
    pub fn contains(&self, address: IpAddr) -> bool {
        self.range().contains(address)
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.address, self.prefix)
    }
}

/// One entry of an in-cluster `addresses` or `excludedAddresses` list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddressEntry {
    /// A single address.
    Single(IpAddr),
    /// A CIDR; the whole masked subnet belongs to the entry, so host bits
    /// are not an error (`192.168.1.1/24` is all of `192.168.1.0/24`).
    Cidr(Cidr),
    /// An inclusive range `first-last` of one family, not descending.
    Range(AddressRange),
}

impl AddressEntry {
    /// Parses an entry the way the in-cluster provider classifies it: any
    /// `-` makes it a range (split at the first `-`), else any `/` makes it a
    /// CIDR, else it is one address.
    ///
    /// # Errors
    /// An [`EntryError`] naming the entry and what is wrong with it.
    pub fn parse(text: &str) -> Result<AddressEntry, EntryError> {
        if let Some((first, last)) = text.split_once('-') {
            let first_address = parse_address(first).map_err(|source| EntryError::RangeFirst {
                input: text.to_owned(),
                first: first.to_owned(),
                source,
            })?;
            let last_address = parse_address(last).map_err(|source| EntryError::RangeLast {
                input: text.to_owned(),
                last: last.to_owned(),
                source,
            })?;
            if Family::of(first_address) != Family::of(last_address) {
                return Err(EntryError::RangeMixedFamilies {
                    input: text.to_owned(),
                    first: first_address,
                    last: last_address,
                });
            }
            return AddressRange::new(first_address, last_address)
                .map(AddressEntry::Range)
                .ok_or_else(|| EntryError::RangeDescending {
                    input: text.to_owned(),
                    first: first_address,
                    last: last_address,
                });
        }
        if text.contains('/') {
            return Cidr::parse(text)
                .map(AddressEntry::Cidr)
                .map_err(|source| EntryError::Cidr {
                    input: text.to_owned(),
                    source,
                });
        }
        parse_address(text)
            .map(AddressEntry::Single)
            .map_err(|source| EntryError::Address {
                input: text.to_owned(),
                source,
            })
    }

    /// The addresses the entry covers.
    pub fn range(&self) -> AddressRange {
        match self {
            AddressEntry::Single(address) => {
                AddressRange::new(*address, *address).expect("a single address is a range of one")
            }
            AddressEntry::Cidr(cidr) => cidr.range(),
            AddressEntry::Range(range) => *range,
        }
    }

    /// The family of the entry.
    pub fn family(&self) -> Family {
        self.range().family()
    }
}

impl FromStr for AddressEntry {
    type Err = EntryError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        AddressEntry::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(text: &str) -> String {
        AddressEntry::parse(text).unwrap().range().to_string()
    }

    #[test]
    fn entries_of_each_kind_and_family() {
        assert_eq!(range("10.0.0.5"), "10.0.0.5-10.0.0.5");
        assert_eq!(range("192.168.1.1/24"), "192.168.1.0-192.168.1.255");
        assert_eq!(range("10.0.0.1-10.0.0.9"), "10.0.0.1-10.0.0.9");
        assert_eq!(range("fd00::5"), "fd00::5-fd00::5");
        assert_eq!(range("fd00::1/120"), "fd00::-fd00::ff");
        assert_eq!(range("fd00::1-fd00::9"), "fd00::1-fd00::9");
        assert_eq!(range("0.0.0.0/0"), "0.0.0.0-255.255.255.255");
        assert_eq!(range("::/0"), "::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff");
    }

    #[test]
    fn a_dash_wins_over_a_slash() {
        let error = AddressEntry::parse("10.0.0.0/24-10.0.0.9").unwrap_err();
        assert!(matches!(error, EntryError::RangeFirst { .. }), "{error}");
    }

    #[test]
    fn bad_entries_name_the_input_and_the_rule() {
        let error = AddressEntry::parse("10.0.0.9-10.0.0.1").unwrap_err();
        assert_eq!(
            error.to_string(),
            "range 10.0.0.9 to 10.0.0.1 not valid: the first address is above the last (entry \"10.0.0.9-10.0.0.1\")"
        );
        let error = AddressEntry::parse("10.0.0.1-::1").unwrap_err();
        assert!(matches!(error, EntryError::RangeMixedFamilies { .. }));
        let error = AddressEntry::parse("10.0.0.1-10.0.0.x").unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid To IP \"10.0.0.x\" in range \"10.0.0.1-10.0.0.x\": ParseAddr(\"10.0.0.x\"): unexpected character (at \"x\")"
        );
        let error = AddressEntry::parse("10.0.0.0/33").unwrap_err();
        assert!(
            error.to_string().contains("prefix length out of range"),
            "{error}"
        );
        let error = AddressEntry::parse("nonsense").unwrap_err();
        assert_eq!(
            error.to_string(),
            "\"nonsense\" is not a valid IP, range, nor CIDR: ParseAddr(\"nonsense\"): unable to parse IP"
        );
    }

    #[test]
    fn strict_and_lenient_cidr_lengths() {
        assert!(matches!(
            Cidr::parse("10.0.0.0/024"),
            Err(CidrError::BadBits { .. })
        ));
        assert_eq!(
            Cidr::parse_lenient("10.0.0.0/024").unwrap().prefix_len(),
            24
        );
        for text in ["10.0.0.0/", "10.0.0.0/+8", "10.0.0.0/-1", "10.0.0.0/8a"] {
            assert!(
                matches!(Cidr::parse(text), Err(CidrError::BadBits { .. })),
                "{text}"
            );
            assert!(
                matches!(Cidr::parse_lenient(text), Err(CidrError::BadBits { .. })),
                "{text}"
            );
        }
        assert!(matches!(
            Cidr::parse("10.0.0.0"),
            Err(CidrError::NoSlash { .. })
        ));
        assert!(matches!(
            Cidr::parse("fd00::/129"),
            Err(CidrError::LengthOutOfRange { .. })
        ));
        assert!(matches!(
            Cidr::parse("fd00::/99999999999999999999"),
            Err(CidrError::BadBits { .. })
        ));
        assert!(matches!(
            Cidr::parse("fe80::%eth0/64"),
            Err(CidrError::Address { .. })
        ));
        assert_eq!(Cidr::parse("fd00::/0").unwrap().prefix_len(), 0);
    }

    #[test]
    fn a_cidr_keeps_its_host_bits_but_its_range_is_masked() {
        let cidr = Cidr::parse("10.0.0.10/24").unwrap();
        assert_eq!(cidr.address().to_string(), "10.0.0.10");
        assert_eq!(cidr.range().to_string(), "10.0.0.0-10.0.0.255");
        assert_eq!(cidr.to_string(), "10.0.0.10/24");
    }
}
