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
            "proto/alluxio/grpc/sasl_server.proto",
            "proto/alluxio/grpc/version.proto",
            "proto/lode/master.proto",
            "proto/lode/worker.proto",
        ];
        for file in files {
            println!("cargo:rerun-if-changed={file}");
        }
        let descriptors = protox::compile(files, ["proto"])?;
        tonic_prost_build::configure()
            // Block data as `Bytes`: decoding slices the received buffer instead of copying.
            .bytes(".alluxio.grpc.block.Chunk.data")
            .compile_fds(descriptors)?;
    }
    Ok(())
}
