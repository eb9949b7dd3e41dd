//! Addresses as numbers. Every set and every count in the engine works on
//! `u128`, IPv4 addresses taking the low 32 bits, so one code path serves both
//! families and no arithmetic ever iterates address by address.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The IP family of an address, a range or a pool. A pool holds one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// IPv4, 32-bit addresses.
    V4,
    /// IPv6, 128-bit addresses. IPv4-mapped forms such as `::ffff:10.0.0.1`
    /// belong here, as they do for Go's `netip`.
    V6,
}

impl Family {
    /// The family `address` belongs to.
    pub fn of(address: IpAddr) -> Family {
        match address {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Address length in bits: the longest valid prefix length.
    pub fn bits(self) -> u8 {
        match self {
            Family::V4 => 32,
            Family::V6 => 128,
        }
    }

    /// The highest address of the family, as a number.
    pub(crate) fn max(self) -> u128 {
        match self {
            Family::V4 => u128::from(u32::MAX),
            Family::V6 => u128::MAX,
        }
    }

    /// The address whose number is `value`; `value` must fit the family.
    pub(crate) fn address(self, value: u128) -> IpAddr {
        match self {
            Family::V4 => {
                let v4 = u32::try_from(value).expect("an IPv4 address number fits in 32 bits");
                IpAddr::V4(Ipv4Addr::from(v4))
            }
            Family::V6 => IpAddr::V6(Ipv6Addr::from(value)),
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::V4 => "IPv4",
            Family::V6 => "IPv6",
        })
    }
}

/// The number of an address within its family.
pub(crate) fn number(address: IpAddr) -> u128 {
    match address {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

/// First and last address of the subnet of length `prefix` around `value`.
/// `prefix` must not exceed the family's bits.
pub(crate) fn subnet_of(family: Family, value: u128, prefix: u8) -> (u128, u128) {
    let host_bits = u32::from(family.bits() - prefix);
    let host_mask = if host_bits >= 128 {
        u128::MAX
    } else {
        (1u128 << host_bits) - 1
    };
    let first = value & !host_mask;
    (first, first | (host_mask & family.max()))
}

/// An inclusive, non-empty run of addresses of one family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AddressRange {
    family: Family,
    first: u128,
    last: u128,
}

impl AddressRange {
    /// The range from `first` to `last`, both included; `None` when the two
    /// are of different families or `first` lies above `last`.
    pub fn new(first: IpAddr, last: IpAddr) -> Option<AddressRange> {
        let family = Family::of(first);
        if family != Family::of(last) || number(first) > number(last) {
            return None;
        }
        Some(AddressRange::from_numbers(
            family,
            number(first),
            number(last),
        ))
    }

    pub(crate) fn from_numbers(family: Family, first: u128, last: u128) -> AddressRange {
        debug_assert!(first <= last && last <= family.max());
        AddressRange {
            family,
            first,
            last,
        }
    }

    /// The family of both ends.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The lowest address of the range.
    pub fn first(&self) -> IpAddr {
        self.family.address(self.first)
    }

    /// The highest address of the range.
    pub fn last(&self) -> IpAddr {
        self.family.address(self.last)
    }

    /// How many addresses the range holds. The whole IPv6 space, 2^128
    /// addresses, is the one range whose size does not fit and reads as
    /// `u128::MAX`.
    pub fn size(&self) -> u128 {
        (self.last - self.first).saturating_add(1)
    }

    /// Whether `address` lies in the range.
    pub fn contains(&self, address: IpAddr) -> bool {
        Family::of(address) == self.family && (self.first..=self.last).contains(&number(address))
    }

    pub(crate) fn numbers(&self) -> (u128, u128) {
        (self.first, self.last)
    }
}

/// Written `first-last`, the form Go's `netipx.IPRange` prints and the
/// in-cluster syntax reads back, single addresses included.
impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first(), self.last())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn numbers_round_trip_for_both_families() {
        for text in [
            "0.0.0.0",
            "10.1.2.3",
            "255.255.255.255",
            "::",
            "fd00::1",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let address = ip(text);
            assert_eq!(Family::of(address).address(number(address)), address);
        }
    }

    #[test]
    fn subnet_bounds_per_family() {
        assert_eq!(
            subnet_of(Family::V4, number(ip("10.0.0.77")), 24),
            (number(ip("10.0.0.0")), number(ip("10.0.0.255")))
        );
        assert_eq!(
            subnet_of(Family::V4, number(ip("10.0.0.77")), 0),
            (0, u128::from(u32::MAX))
        );
        assert_eq!(
            subnet_of(Family::V4, number(ip("10.0.0.77")), 32),
            (number(ip("10.0.0.77")), number(ip("10.0.0.77")))
        );
        assert_eq!(
            subnet_of(Family::V6, number(ip("fd00::77")), 0),
            (0, u128::MAX)
        );
        assert_eq!(
            subnet_of(Family::V6, number(ip("fd00::1:77")), 112),
            (number(ip("fd00::1:0")), number(ip("fd00::1:ffff")))
        );
    }

    #[test]
    fn ranges_refuse_mixed_families_and_descending_ends() {
        assert!(AddressRange::new(ip("10.0.0.1"), ip("::1")).is_none());
        assert!(AddressRange::new(ip("10.0.0.2"), ip("10.0.0.1")).is_none());
        let range = AddressRange::new(ip("10.0.0.1"), ip("10.0.0.1")).unwrap();
        assert_eq!(range.to_string(), "10.0.0.1-10.0.0.1");
        assert_eq!(range.size(), 1);
    }

    #[test]
    fn the_whole_ipv6_space_saturates_its_size() {
        let all =
            AddressRange::new(ip("::"), ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")).unwrap();
        assert_eq!(all.size(), u128::MAX);
        assert!(all.contains(ip("fd00::1")));
        assert!(!all.contains(ip("10.0.0.1")));
    }
}
