//! The gRPC protocol (DESIGN §5): Lode's own `.proto` subset of Alluxio 2.9's client-facing
//! services — same packages, services, methods, field numbers and types, so stock Alluxio
//! clients interoperate — plus Lode's own `lode.master` service. Modules mirror the packages.
#![allow(missing_docs, clippy::all, clippy::pedantic)]

/// `alluxio.grpc`: shared types.
pub mod alluxio {
    pub mod grpc {
        include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.rs"));
        /// `alluxio.grpc.file`: the file system master.
        pub mod file {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.file.rs"));
        }
        /// `alluxio.grpc.meta`: the meta master.
        pub mod meta {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.meta.rs"));
        }
        /// `alluxio.grpc.version`: service versions.
        pub mod version {
            include!(concat!(env!("OUT_DIR"), "/alluxio.grpc.version.rs"));
        }
    }
}

/// `lode.*`: Lode's own services.
pub mod lode {
    /// `lode.master`: roles and journal positions.
    pub mod master {
        include!(concat!(env!("OUT_DIR"), "/lode.master.rs"));
    }
}

/// Alluxio 2.9's service versions, which clients check before calling a service.
pub mod service_version {
    /// `FILE_SYSTEM_MASTER_CLIENT_SERVICE`.
    pub const FILE_SYSTEM_MASTER_CLIENT: i64 = 2;
    /// `META_MASTER_CLIENT_SERVICE`.
    pub const META_MASTER_CLIENT: i64 = 2;
}
