//! Helpers shared by Lode's integration tests, test helper binaries and benchmarks.

pub mod alluxio;
pub mod bench;
pub mod cluster;
pub mod election;
pub mod etcd;
pub mod faults;
pub mod glusterfs;
pub mod hdfs;
pub mod jars;
pub mod netns;
pub mod process;
pub mod s3;
pub mod spark;
pub mod zookeeper;

/// Deterministic content for object `index` of `length` bytes: a header naming both, then a
/// filler derived from them, so a reader can tell a whole object from a torn one. `length`
/// should exceed the header (64 bytes does).
pub fn object_content(index: u64, length: usize) -> Vec<u8> {
    let mut bytes = format!("object {index} length {length}\n").into_bytes();
    // One pseudo-random 4 KiB block per object, repeated: cheap to make even for 8 MiB.
    let mut state = index.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let block: Vec<u8> = (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    while bytes.len() < length {
        let take = (length - bytes.len()).min(block.len());
        bytes.extend_from_slice(&block[..take]);
    }
    bytes.truncate(length.max(1));
    bytes
}

/// Whether `bytes` is exactly the object its header names.
pub fn is_whole_object(bytes: &[u8]) -> bool {
    let header = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let header = String::from_utf8_lossy(header);
    let mut words = header.split_whitespace();
    let parsed = match (words.next(), words.next(), words.next(), words.next()) {
        (Some("object"), Some(index), Some("length"), Some(length)) => {
            index.parse::<u64>().ok().zip(length.parse::<usize>().ok())
        }
        _ => None,
    };
    match parsed {
        Some((index, length)) => bytes == object_content(index, length).as_slice(),
        None => false,
    }
}

/// The backend names in a `--backends` / `lode conf backends` report, in order.
pub fn registered_backend_names(report: &str) -> Vec<String> {
    report
        .lines()
        .filter(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Configuration from this process's `-Dkey=value` / `key=value` arguments (for helper
/// binaries), on top of the defaults.
pub fn config_from_args() -> anyhow::Result<lode_core::config::Config> {
    let defines = std::env::args()
        .skip(1)
        .map(|arg| lode_core::config::parse_define(&arg).map_err(anyhow::Error::msg))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(lode_core::config::Config::from_pairs(defines)?)
}

/// A command for one of Lode's binaries with an empty environment and no configuration
/// directory, so the machine's own Alluxio settings cannot leak into a test.
pub fn isolated_command(program: &str) -> std::process::Command {
    let mut command = std::process::Command::new(program);
    command.env_clear().env("ALLUXIO_CONF_DIR", "/nonexistent-lode-conf");
    command
}

/// `GET path` from `127.0.0.1:port` over HTTP/1.0: the body of a 200 answer, else `None`.
pub fn http_get(port: u16, path: &str) -> Option<String> {
    use std::io::{Read, Write};
    let address = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream =
        std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(1)).ok()?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok()?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    head.split_whitespace().nth(1).filter(|code| *code == "200").map(|_| body.to_string())
}
