//! Lode's client library. For now it holds what the `lode conf` commands print; the
//! metadata and data clients come with the master and worker issues.
#![warn(missing_docs)]

pub mod conf;
