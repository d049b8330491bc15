//! Address encoding shared by every map.
//!
//! An address is four `u32` words exactly as the kernel's `bpf_sock_addr.user_ip6`
//! holds them (network byte order); an IPv4 address is stored v4-mapped
//! (`::ffff:a.b.c.d`), which is also how a dual-stack IPv6 socket presents an
//! IPv4 destination to `connect6`. A port is a `u16` in network byte order.

/// The third word of a v4-mapped IPv6 address, as it sits in memory
/// (network byte order `0x0000ffff`).
pub const V4_MAPPED_WORD: u32 = u32::from_be(0x0000_ffff);

/// Builds the stored form of an IPv4 address given as a network-order word
/// (`bpf_sock_addr.user_ip4`).
pub const fn v4_mapped(ip4_be: u32) -> [u32; 4] {
    [0, 0, V4_MAPPED_WORD, ip4_be]
}

/// Whether a stored address is IPv4 (v4-mapped).
pub const fn is_v4_mapped(addr: &[u32; 4]) -> bool {
    addr[0] == 0 && addr[1] == 0 && addr[2] == V4_MAPPED_WORD
}

#[cfg(feature = "user")]
mod user {
    extern crate std;
    use std::net::{IpAddr, Ipv6Addr, SocketAddr};

    /// Converts an IP address to the stored form.
    pub fn to_words(ip: IpAddr) -> [u32; 4] {
        let v6 = match ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let o = v6.octets();
        core::array::from_fn(|i| u32::from_ne_bytes([o[4 * i], o[4 * i + 1], o[4 * i + 2], o[4 * i + 3]]))
    }

    /// Converts the stored form back to an IP address (IPv4 when v4-mapped).
    pub fn from_words(words: [u32; 4]) -> IpAddr {
        let mut o = [0u8; 16];
        for (i, w) in words.iter().enumerate() {
            o[4 * i..4 * i + 4].copy_from_slice(&w.to_ne_bytes());
        }
        let v6 = Ipv6Addr::from(o);
        match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }
    }

    /// Converts a socket address to stored `(address, port)`.
    pub fn socket_to_words(sa: SocketAddr) -> ([u32; 4], u16) {
        (to_words(sa.ip()), sa.port().to_be())
    }

    /// Converts stored `(address, port)` back to a socket address.
    pub fn socket_from_words(words: [u32; 4], port_be: u16) -> SocketAddr {
        SocketAddr::new(from_words(words), u16::from_be(port_be))
    }
}

#[cfg(feature = "user")]
pub use user::*;

#[cfg(all(test, feature = "user"))]
mod tests {
    extern crate std;
    use super::*;
    use std::net::SocketAddr;

    #[test]
    fn round_trips_v4_and_v6() {
        for s in ["127.1.2.3:8080", "[::1]:443", "[fd00::7]:1"] {
            let sa: SocketAddr = s.parse().unwrap();
            let (w, p) = socket_to_words(sa);
            assert_eq!(socket_from_words(w, p), sa);
        }
    }

    #[test]
    fn v4_is_stored_v4_mapped_like_the_kernel_sees_it() {
        let sa: SocketAddr = "127.0.0.9:80".parse().unwrap();
        let (w, p) = socket_to_words(sa);
        assert!(is_v4_mapped(&w));
        assert_eq!(w, v4_mapped(u32::from_ne_bytes([127, 0, 0, 9])));
        assert_eq!(p.to_ne_bytes(), [0, 80]);
    }
}
