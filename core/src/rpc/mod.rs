//! The gRPC protocol (DESIGN §5): Lode's own `.proto` subset of Alluxio 2.9's client-facing
//! services — same packages, services, methods, field numbers and types, so stock Alluxio
//! clients interoperate — plus Lode's own `lode.master` service. Modules mirror the packages.
#![allow(clippy::all, clippy::pedantic)]

pub mod leader;
mod limits;
pub mod messages;
mod metered;
pub mod sasl;
mod shutdown;
pub use limits::{connection_cap, limit_connections, stream_cap, CountedConnection};
pub use metered::{Metered, MeteredLayer};
pub use shutdown::{serve_with_bounded_shutdown, ShutdownSignal};

/// The largest block a file may have: a file's block size is at most this (masters refuse
/// larger ones at `CreateFile`), and a worker takes no more for one block, whether reserved
/// (`CreateLocalBlock`) or written (`WriteBlock`).
pub const MAX_BLOCK_BYTES: u64 = u32::MAX as u64;

/// INVALID_ARGUMENT for a write that would make block `block` longer than any block may be.
pub fn block_too_long(block: u64, bytes: u64) -> tonic::Status {
    tonic::Status::invalid_argument(format!(
        "block {block} cannot hold {bytes} bytes: no block is longer than {MAX_BLOCK_BYTES} \
         (the largest block size)"
    ))
}

/// `alluxio.grpc`: shared types.
#[allow(missing_docs)]
pub mod alluxio {
    pub mod grpc {
        include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.rs"));
        /// `alluxio.grpc.block`: the block master's client service and the block worker.
        pub mod block {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.block.rs"));
        }
        /// `alluxio.grpc.file`: the file system master.
        pub mod file {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.file.rs"));
        }
        /// `alluxio.grpc.meta`: the meta master.
        pub mod meta {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.meta.rs"));
        }
        /// `alluxio.grpc.sasl`: channel authentication.
        #[allow(non_camel_case_types)] // The RPC is `authenticate`, lower case, as Alluxio's.
        pub mod sasl {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.sasl.rs"));
        }
        /// `alluxio.grpc.version`: service versions.
        pub mod version {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.version.rs"));
        }
    }
}

/// `lode.*`: Lode's own services.
#[allow(missing_docs)]
pub mod lode {
    /// `lode.master`: roles and journal positions.
    pub mod master {
        include!(concat!(env!("OUT_DIR"), "/lode.master.rs"));
    }
    /// `lode.worker`: worker registration, heartbeats and block commits.
    pub mod worker {
        include!(concat!(env!("OUT_DIR"), "/lode.worker.rs"));
    }
}

/// Alluxio 2.9's service versions, which clients check before calling a service.
pub mod service_version {
    /// `FILE_SYSTEM_MASTER_CLIENT_SERVICE`.
    pub const FILE_SYSTEM_MASTER_CLIENT: i64 = 2;
    /// `META_MASTER_CLIENT_SERVICE`.
    pub const META_MASTER_CLIENT: i64 = 2;
    /// `META_MASTER_CONFIG_SERVICE`.
    pub const META_MASTER_CONFIG: i64 = 2;
    /// `BLOCK_MASTER_CLIENT_SERVICE`.
    pub const BLOCK_MASTER_CLIENT: i64 = 2;
}

use alluxio::grpc::{Bits, LocalityTier, PMode, TieredIdentity};

/// The locality of a worker on `host` as Alluxio's clients expect it (their default
/// `alluxio.locality.order` is node, rack): they choose the nearest worker by these tiers.
pub fn tiered_identity(host: &str) -> TieredIdentity {
    let tier = |name: &str, value: Option<&str>| LocalityTier {
        tier_name: Some(name.into()),
        value: value.map(str::to_string),
    };
    TieredIdentity { tiers: vec![tier("node", Some(host)), tier("rack", None)] }
}

/// Alluxio's `PMode` for a POSIX mode (`Bits` values are the octal digit + 1).
pub fn pmode_from_mode(mode: u32) -> PMode {
    let bits = |digit: u32| Bits::try_from((digit & 7) as i32 + 1).unwrap_or(Bits::None) as i32;
    PMode { owner_bits: bits(mode >> 6), group_bits: bits(mode >> 3), other_bits: bits(mode) }
}

/// The POSIX mode of Alluxio's `PMode`.
pub fn mode_from_pmode(mode: &PMode) -> u32 {
    let digit = |bits: i32| (bits.clamp(1, 8) - 1) as u32;
    digit(mode.owner_bits) << 6 | digit(mode.group_bits) << 3 | digit(mode.other_bits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_alluxio_bits() {
        for mode in [0o755, 0o644, 0o000, 0o777, 0o421] {
            assert_eq!(mode_from_pmode(&pmode_from_mode(mode)), mode);
        }
        let rw_r_r = PMode {
            owner_bits: Bits::ReadWrite as i32,
            group_bits: Bits::Read as i32,
            other_bits: Bits::Read as i32,
        };
        assert_eq!(mode_from_pmode(&rw_r_r), 0o644);
    }
}
