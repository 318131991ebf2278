//! Lode's client library: the metadata client ([`master::MasterClient`]) that finds the leading
//! master and retries through failover, and what the `lode` shell prints.
#![warn(missing_docs)]

mod backends;

pub mod conf;
pub mod copy;
pub mod data;
pub mod fs;
pub mod fsadmin;
pub mod local;
pub mod master;
pub mod persist;
