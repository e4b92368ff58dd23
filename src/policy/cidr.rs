//! IPv4 and IPv6 address ranges for a token's `allowed_ips`, on std's address parsers (no crate).
//!
//! IPv4 and IPv6 are kept apart: `::/0` means every IPv6 client, not every client. The one bridge
//! is the IPv4-mapped form `::ffff:a.b.c.d`, which is IPv4 on both sides (in a range and in a
//! client address), because a dual-stack socket may report an IPv4 client that way.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cidr {
    V4 { net: u32, len: u8 },
    V6 { net: u128, len: u8 },
}

fn mask4(len: u8) -> u32 {
    u32::MAX.checked_shl(32 - len as u32).unwrap_or(0)
}

fn mask6(len: u8) -> u128 {
    u128::MAX.checked_shl(128 - len as u32).unwrap_or(0)
}

/// An address as the proxy compares it: IPv4-mapped IPv6 becomes IPv4.
pub fn normalize_ip(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The client address as Cloudflare reports it (`CF-Connecting-IP`); `None` when unreadable.
pub fn parse_client_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok().map(normalize_ip)
}

impl Cidr {
    /// Parses `addr/len`, or a bare address as a single host (/32 or /128).
    ///
    /// A range with host bits set (`10.0.0.1/8`) is refused rather than masked: the operator may
    /// have meant the single host or the whole network, and guessing wrong opens or closes access
    /// silently. The message suggests the network form. IPv4 with leading zeros (`010.0.0.1`) is
    /// refused by std's parser, since some tools read it as octal.
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, len) = match s.split_once('/') {
            Some((addr, len)) => (addr, Some(len)),
            None => (s, None),
        };
        let ip: IpAddr = addr
            .parse()
            .map_err(|_| format!("\"{s}\" is not an IPv4 or IPv6 address or CIDR range"))?;
        let max = if ip.is_ipv4() { 32 } else { 128 };
        let len = match len {
            None => max,
            Some(l) if !l.is_empty() && l.len() <= 3 && l.bytes().all(|b| b.is_ascii_digit()) => {
                l.parse::<u8>().ok().filter(|&n| n <= max).ok_or_else(|| format!("\"{s}\": prefix length must be 0 to {max}"))?
            }
            Some(_) => return Err(format!("\"{s}\": prefix length must be a number from 0 to {max}")),
        };
        let cidr = match ip {
            IpAddr::V4(v4) => Cidr::V4 { net: u32::from(v4), len },
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) if len >= 96 => Cidr::V4 { net: u32::from(v4), len: len - 96 },
                _ => Cidr::V6 { net: u128::from(v6), len },
            },
        };
        let masked = cidr.masked();
        if masked != cidr {
            return Err(format!("\"{s}\" has host bits set; did you mean {masked}?"));
        }
        Ok(cidr)
    }

    fn masked(self) -> Cidr {
        match self {
            Cidr::V4 { net, len } => Cidr::V4 { net: net & mask4(len), len },
            Cidr::V6 { net, len } => Cidr::V6 { net: net & mask6(len), len },
        }
    }

    /// Whether `ip` is in this range (an IPv4-mapped `ip` counts as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (*self, normalize_ip(ip)) {
            (Cidr::V4 { net, len }, IpAddr::V4(a)) => u32::from(a) & mask4(len) == net,
            (Cidr::V6 { net, len }, IpAddr::V6(a)) => u128::from(a) & mask6(len) == net,
            _ => false,
        }
    }
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Cidr::V4 { net, len } => write!(f, "{}/{len}", Ipv4Addr::from(net)),
            Cidr::V6 { net, len } => write!(f, "{}/{len}", Ipv6Addr::from(net)),
        }
    }
}

/// Whether the client address is in any of the listed ranges. Entries that do not parse match
/// nothing, so a damaged record narrows access instead of widening it.
pub fn any_contains(ranges: &[String], client: IpAddr) -> bool {
    ranges.iter().any(|r| Cidr::parse(r.trim()).is_ok_and(|c| c.contains(client)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        parse_client_ip(s).unwrap()
    }

    fn has(range: &str, addr: &str) -> bool {
        Cidr::parse(range).unwrap().contains(ip(addr))
    }

    #[test]
    fn ipv4_ranges() {
        assert!(has("203.0.113.0/24", "203.0.113.255"));
        assert!(!has("203.0.113.0/24", "203.0.114.0"));
        assert!(has("10.0.0.0/8", "10.255.1.2"));
        assert!(has("0.0.0.0/0", "198.51.100.7"));
        assert!(!has("0.0.0.0/0", "2001:db8::1"), "an IPv4 range never matches an IPv6 client");
    }

    #[test]
    fn bare_addresses_are_single_hosts() {
        assert_eq!(Cidr::parse("198.51.100.7"), Cidr::parse("198.51.100.7/32"));
        assert!(has("198.51.100.7", "198.51.100.7"));
        assert!(!has("198.51.100.7", "198.51.100.8"));
        assert!(has("2001:db8::1", "2001:db8::1"));
        assert!(!has("2001:db8::1", "2001:db8::2"));
        assert_eq!(Cidr::parse("2001:db8::1"), Cidr::parse("2001:db8::1/128"));
    }

    #[test]
    fn ipv6_ranges_with_compression_case_and_leading_zeros() {
        assert!(has("2001:db8::/32", "2001:0DB8:ffff::1"));
        assert!(has("2001:0db8:0000::/48", "2001:db8:0:abcd::1"));
        assert!(!has("2001:db8::/32", "2001:db9::1"));
        assert!(has("::/0", "fe80::1"));
        assert!(!has("::/0", "192.0.2.1"), "::/0 is every IPv6 client, not every client");
        assert!(has("2001:DB8:AbCd::/48", "2001:db8:abcd:1::"));
        assert!(has("::1/128", "::1"));
        assert!(has("2001:db8::8000:0/97", "2001:db8::ffff:ffff"));
        assert!(!has("2001:db8::8000:0/97", "2001:db8::7fff:ffff"));
    }

    #[test]
    fn ipv4_mapped_ipv6_is_ipv4_on_both_sides() {
        assert!(has("192.0.2.0/24", "::ffff:192.0.2.9"));
        assert!(has("::ffff:192.0.2.0/120", "192.0.2.9"));
        assert_eq!(Cidr::parse("::ffff:192.0.2.0/120"), Cidr::parse("192.0.2.0/24"));
        assert!(has("::FFFF:c000:0209", "192.0.2.9"));
    }

    #[test]
    fn host_bits_are_refused_with_the_network_suggested() {
        let e = Cidr::parse("10.0.0.1/8").unwrap_err();
        assert!(e.contains("did you mean 10.0.0.0/8"), "{e}");
        let e = Cidr::parse("2001:db8::1/32").unwrap_err();
        assert!(e.contains("did you mean 2001:db8::/32"), "{e}");
        assert!(Cidr::parse("1.2.3.4/0").is_err());
    }

    #[test]
    fn malformed_ranges_are_refused() {
        for bad in [
            "", "/24", "10.0.0.0/", "10.0.0.0/33", "::/129", "10.0.0.0/-1", "10.0.0.0/+8", "10.0.0.0/8/8",
            "10.0.0", "256.0.0.1", "010.0.0.1", "1.2.3.4 ", "example.com", "2001:db8:::1", "2001:db8::00001",
            "fe80::1%eth0", "10.0.0.0/0008", "10.0.0.0/ 8",
        ] {
            assert!(Cidr::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn any_contains_ignores_damaged_entries() {
        let list = vec!["not an ip".to_string(), " 192.0.2.0/24 ".to_string()];
        assert!(any_contains(&list, ip("192.0.2.1")));
        assert!(!any_contains(&list, ip("198.51.100.1")));
        assert!(!any_contains(&["10.0.0.1/8".to_string()], ip("10.0.0.1")));
        assert!(!any_contains(&[], ip("10.0.0.1")));
    }

    #[test]
    fn client_addresses() {
        assert_eq!(parse_client_ip(" 2001:db8::1 "), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(parse_client_ip("::ffff:10.1.2.3"), Some("10.1.2.3".parse().unwrap()));
        assert_eq!(parse_client_ip(""), None);
        assert_eq!(parse_client_ip("unknown"), None);
    }
}
