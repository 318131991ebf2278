//! Compiles `proto/` into Rust with protox (a pure-Rust protoc) when the `rpc` feature is on.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "rpc")]
    {
        let files = [
            "proto/alluxio/grpc/block_master.proto",
            "proto/alluxio/grpc/block_worker.proto",
            "proto/alluxio/grpc/common.proto",
            "proto/alluxio/grpc/file_system_master.proto",
            "proto/alluxio/grpc/meta_master.proto",
            "proto/alluxio/grpc/version.proto",
            "proto/lode/master.proto",
            "proto/lode/worker.proto",
        ];
        for file in files {
            println!("cargo:rerun-if-changed={file}");
        }
        let descriptors = protox::compile(files, ["proto"])?;
        tonic_prost_build::configure().compile_fds(descriptors)?;
    }
    Ok(())
}
