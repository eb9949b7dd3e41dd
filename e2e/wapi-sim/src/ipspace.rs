//! Address arithmetic on `u128`, so IPv4 and IPv6 share one code path, and free-space searches
//! that walk the used intervals rather than the addresses: a /8 (or a /64) costs as much as a /30.

use ipnet::IpNet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    V4,
    V6,
}

impl Family {
    pub fn of(ip: &IpAddr) -> Family {
        if ip.is_ipv4() { Family::V4 } else { Family::V6 }
    }
    pub fn of_net(net: &IpNet) -> Family {
        Family::of(&net.network())
    }
}

pub fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u32::from(a) as u128,
        IpAddr::V6(a) => u128::from(a),
    }
}

pub fn from_u128(v: u128, family: Family) -> IpAddr {
    match family {
        Family::V4 => IpAddr::V4(Ipv4Addr::from(v as u32)),
        Family::V6 => IpAddr::V6(Ipv6Addr::from(v)),
    }
}

/// First and last address of a network, inclusive.
pub fn bounds(net: &IpNet) -> (u128, u128) {
    (to_u128(net.network()), to_u128(net.broadcast()))
}

/// Parses a CIDR and drops host bits, so `10.0.0.5/24` and `10.0.0.0/24` compare equal.
pub fn parse_cidr(s: &str) -> Option<IpNet> {
    s.trim().parse::<IpNet>().ok().map(|n| n.trunc())
}

pub fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok()
}

/// Sorts and merges inclusive intervals.
pub fn merge(mut v: Vec<(u128, u128)>) -> Vec<(u128, u128)> {
    v.sort_unstable();
    let mut out: Vec<(u128, u128)> = Vec::with_capacity(v.len());
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1.saturating_add(1) => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The lowest `num` values in `[lo, hi]` not covered by `used` (any order, may overlap).
pub fn lowest_free(lo: u128, hi: u128, used: Vec<(u128, u128)>, num: usize) -> Vec<u128> {
    let mut found = Vec::with_capacity(num);
    if lo > hi {
        return found;
    }
    let mut cursor = lo;
    let take_until = |start: u128, end: u128, found: &mut Vec<u128>| {
        let mut v = start;
        while found.len() < num {
            found.push(v);
            if v == end {
                break;
            }
            v += 1;
        }
    };
    for (a, b) in merge(used) {
        if found.len() >= num {
            return found;
        }
        if b < cursor {
            continue;
        }
        if a > hi {
            break;
        }
        if a > cursor {
            take_until(cursor, a - 1, &mut found);
        }
        match b.checked_add(1) {
            Some(next) if next <= hi => cursor = next,
            _ => return found,
        }
    }
    if found.len() < num {
        take_until(cursor, hi, &mut found);
    }
    found
}

/// The lowest aligned block of `prefix` length inside `container` that overlaps none of
/// `taken`; `None` when the container has no room.
pub fn next_subnet(container: &IpNet, prefix: u8, taken: Vec<(u128, u128)>) -> Option<IpNet> {
    let family = Family::of_net(container);
    let width: u8 = if family == Family::V4 { 32 } else { 128 };
    if prefix < container.prefix_len() || prefix > width {
        return None;
    }
    let (lo, hi) = bounds(container);
    let host_bits = u32::from(width - prefix);
    // A block spanning the whole 128-bit space only fits an empty ::/0.
    let size = 1u128.checked_shl(host_bits).filter(|_| host_bits < 128);
    let mut cursor = lo;
    let merged = merge(taken);
    let mut i = 0;
    loop {
        let end = match size {
            Some(s) => cursor.checked_add(s - 1)?,
            None => u128::MAX,
        };
        if end > hi {
            return None;
        }
        while i < merged.len() && merged[i].1 < cursor {
            i += 1;
        }
        match merged.get(i) {
            Some(&(a, b)) if a <= end => {
                let s = size?;
                let next = b.checked_add(1)?;
                // Round up to the next block boundary.
                cursor = next.checked_add(s - 1)? & !(s - 1);
            }
            _ => {
                let net = IpNet::new(from_u128(cursor, family), prefix).ok()?;
                return Some(net);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> u128 {
        to_u128(s.parse().unwrap())
    }

    #[test]
    fn lowest_free_skips_used_runs() {
        let used = vec![
            (v4("10.0.0.0"), v4("10.0.0.0")),
            (v4("10.0.0.1"), v4("10.0.0.3")),
        ];
        let got = lowest_free(v4("10.0.0.0"), v4("10.0.0.255"), used, 2);
        assert_eq!(got, vec![v4("10.0.0.4"), v4("10.0.0.5")]);
    }

    #[test]
    fn lowest_free_on_a_slash_eight_does_not_walk_addresses() {
        let lo = v4("10.0.0.0");
        let hi = v4("10.255.255.255");
        let used = vec![(lo, hi - 1)];
        assert_eq!(lowest_free(lo, hi, used, 1), vec![hi]);
        assert!(lowest_free(lo, hi, vec![(lo, hi)], 1).is_empty());
    }

    #[test]
    fn lowest_free_ipv6_to_the_top() {
        let lo = u128::MAX - 3;
        let got = lowest_free(lo, u128::MAX, vec![(lo, lo + 2)], 5);
        assert_eq!(got, vec![u128::MAX]);
    }

    #[test]
    fn next_subnet_fills_gaps_in_order() {
        let c: IpNet = "192.168.200.0/24".parse().unwrap();
        let taken = vec![bounds(&"192.168.200.0/28".parse().unwrap())];
        assert_eq!(
            next_subnet(&c, 28, taken.clone()).unwrap().to_string(),
            "192.168.200.16/28"
        );
        assert_eq!(
            next_subnet(&c, 25, taken).unwrap().to_string(),
            "192.168.200.128/25"
        );
        let full = vec![bounds(&c)];
        assert!(next_subnet(&c, 28, full).is_none());
    }

    #[test]
    fn next_subnet_ipv6() {
        let c: IpNet = "fdf0:9824:ab5c:6f73::/120".parse().unwrap();
        let first = next_subnet(&c, 124, vec![]).unwrap();
        assert_eq!(first.to_string(), "fdf0:9824:ab5c:6f73::/124");
        let second = next_subnet(&c, 124, vec![bounds(&first)]).unwrap();
        assert_eq!(second.to_string(), "fdf0:9824:ab5c:6f73::10/124");
    }

    #[test]
    fn cidrs_compare_after_parsing() {
        assert_eq!(parse_cidr("10.0.0.5/24"), parse_cidr("10.0.0.0/24"));
        assert_eq!(parse_cidr("fd00:0::/64"), parse_cidr("fd00::/64"));
        assert!(parse_cidr("func:nextavailableip:x").is_none());
    }
}
