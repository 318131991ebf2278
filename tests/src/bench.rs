//! What the benchmarks share: settings from the environment, medians, and release binaries.

/// The value of environment variable `name`, or `fallback` when unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, fallback: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(fallback)
}

/// The median of `samples` (the upper one of an even count).
pub fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Builds the release `lode-master` and `lode-worker` a bench runs as processes:
/// `cargo bench -p lode-tests` builds only this package's binaries, and a stale one would
/// measure old code. `features` are added (`lode-master/etcd`).
pub fn build_release_binaries(features: &[&str]) {
    let mut command = std::process::Command::new(env!("CARGO"));
    command.args(["build", "--release", "-p", "lode-master", "-p", "lode-worker", "--bins"]);
    if !features.is_empty() {
        command.arg("--features").arg(features.join(","));
    }
    let status = command.status().expect("running cargo");
    assert!(status.success(), "building lode-master and lode-worker failed");
}

/// `left` bytes of a repeating pattern for a benchmark's writes, produced without holding them
/// all in memory.
pub struct Pattern {
    left: u64,
    block: Vec<u8>,
}

impl Pattern {
    /// `bytes` bytes of 0x5a.
    pub fn new(bytes: u64) -> Pattern {
        Pattern { left: bytes, block: vec![0x5a; 1 << 20] }
    }
}

impl tokio::io::AsyncRead for Pattern {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let n = (buf.remaining() as u64).min(self.left).min(self.block.len() as u64) as usize;
        buf.put_slice(&self.block[..n]);
        self.left -= n as u64;
        std::task::Poll::Ready(Ok(()))
    }
}

/// The journal's own record of its writes in this process (`lode_journal_commit_seconds`): how
/// many, and their total seconds. The difference of two readings gives the mean write latency
/// between them.
pub fn journal_write_totals() -> (f64, f64) {
    let text = lode_core::web::metrics().render();
    let value = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (value("lode_journal_commit_seconds_count"), value("lode_journal_commit_seconds_sum"))
}
