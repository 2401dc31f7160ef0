//! Counts of what each client address holds open (connections, event streams), so
//! that a cap per address can keep one client from taking a whole shared cap.
//!
//! Why per address and how an address is told: a client can open as many connections
//! as the node allows and pace them to stay just inside every timeout, so caps over
//! all clients alone let one client take everything. An IPv4 address counts alone (an
//! IPv4-mapped IPv6 one as that IPv4 address); an IPv6 address counts by its /64,
//! which one host may hold whole. Behind a reverse proxy every client has the proxy's
//! address, so the caps are settings (`--max-connections-per-ip`,
//! `--max-streams-per-ip`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A request's client address, which the server puts on each request it reads off a
/// socket (absent on requests made without one, as tests make through the router).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddress(pub IpAddr);

/// What each client address holds open, under a cap per address.
#[derive(Debug)]
pub struct AddressCounts {
    max: usize,
    /// Only addresses with something open: at most as many entries as places held.
    open: Mutex<HashMap<IpAddr, usize>>,
    refused: AtomicU64,
}

/// A place held by one address, given back when dropped.
#[derive(Debug)]
pub struct AddressSlot {
    counts: Arc<AddressCounts>,
    address: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut open = self
            .counts
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.address);
            }
        }
    }
}

impl AddressCounts {
    /// Counts with at most `max` (at least one) places per address.
    pub fn new(max: usize) -> Arc<AddressCounts> {
        Arc::new(AddressCounts {
            max: max.max(1),
            open: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        })
    }

    /// The cap per address.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Places refused because their address held its share.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// A place for `peer`, or `None` (counted) when its address holds its share.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Option<AddressSlot> {
        let address = client_address(peer);
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(address).or_insert(0);
        if *count >= self.max {
            drop(open);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        *count += 1;
        Some(AddressSlot {
            counts: Arc::clone(self),
            address,
        })
    }

    /// Addresses holding something now (tests).
    #[cfg(test)]
    fn addresses(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

/// The address `peer`'s places count under (see the module docs).
fn client_address(peer: IpAddr) -> IpAddr {
    match peer.to_canonical() {
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(prefix.into())
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    /// IPv4 addresses count alone, IPv4-mapped IPv6 ones as their IPv4 address, and
    /// IPv6 addresses by their /64.
    #[test]
    fn ipv6_counts_by_its_64() {
        assert_eq!(client_address(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_address(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        let a = client_address(ip("2001:db8:1:2:aaaa::1"));
        assert_eq!(a, ip("2001:db8:1:2::"));
        assert_eq!(a, client_address(ip("2001:db8:1:2:ffff:1:2:3")));
        assert_ne!(a, client_address(ip("2001:db8:1:3::1")));
    }

    /// An address gets its share and no more, another address its own; a place given
    /// back is free again, and an address with nothing open leaves no entry behind.
    #[test]
    fn an_address_gets_its_share() {
        let counts = AddressCounts::new(2);
        let first = counts.admit(ip("192.0.2.7")).expect("room");
        let second = counts.admit(ip("::ffff:192.0.2.7")).expect("room");
        assert!(counts.admit(ip("192.0.2.7")).is_none());
        let other = counts.admit(ip("192.0.2.8")).expect("another address");
        assert_eq!(counts.refused(), 1);
        drop(first);
        let third = counts.admit(ip("192.0.2.7")).expect("room again");
        assert_eq!(counts.addresses(), 2);
        drop((second, third, other));
        assert_eq!(counts.addresses(), 0);
    }
}
