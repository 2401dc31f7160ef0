//! Mining: the plain reference miner and the fast parallel one.

#[cfg(not(minichain_core_only))]
pub mod kernel;
#[cfg(not(minichain_core_only))]
pub mod layout;
pub mod reference;
