//! Data-path figures (issue 5): one client writing and reading a large file through a worker on
//! the same host — streamed over loopback gRPC, and in place (short-circuit) — and the time
//! for workers to register with a new leader after a failover. Medians of several runs.
//!
//! `cargo bench -p lode-tests --bench data`. `LODE_BENCH_MIB` (1024) sets the file size,
//! `LODE_BENCH_RUNS` (3) the runs, `LODE_BENCH_TRIALS` (10) the failovers, `LODE_BENCH_WORKERS`
//! (3) the workers that must re-register (0 trials skips them).

use std::time::{Duration, Instant};

use lode_client::data;
use lode_tests::bench::{build_release_binaries, env_or, median, Pattern};
use lode_tests::cluster::Cluster;
use tokio::io::AsyncWrite;

// The allocator the `lode` binary uses (see its main.rs), so the client's figures are its.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
const BLOCK: u64 = 64 << 20;

/// Counts and discards what it is given.
struct Sink(u64);

impl AsyncWrite for Sink {
    fn poll_write(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        self.0 += buf.len() as u64;
        std::task::Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::task::Poll::Ready(Ok(()))
    }
}

fn gb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e9
}

async fn throughput(bytes: u64, runs: usize) {
    let mut cluster = Cluster::start(1, "2s", HELPER);
    cluster.start_worker_with_capacity(&format!("{}MB", (bytes >> 20) * 2 + 256));
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let client = cluster.client();
    let streamed = cluster.client().with_short_circuit(false);
    let (mut remote_writes, mut local_writes) = (Vec::new(), Vec::new());
    let (mut remote_reads, mut local_reads) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let path = format!("/bench-{run}");
        for (writer, samples) in [(&streamed, &mut remote_writes), (&client, &mut local_writes)] {
            let _ = client.remove(&path, false).await;
            let mut source = Pattern::new(bytes);
            let started = Instant::now();
            data::write_file(writer, &path, &mut source, Some(BLOCK), &|_| {}).await.unwrap();
            samples.push(gb_per_s(bytes, started.elapsed()));
        }
        for (reader, samples) in [(&streamed, &mut remote_reads), (&client, &mut local_reads)] {
            let mut sink = Sink(0);
            let started = Instant::now();
            data::read_file(reader, &path, 0, None, &mut sink, &|_| {}).await.unwrap();
            assert_eq!(sink.0, bytes);
            samples.push(gb_per_s(bytes, started.elapsed()));
        }
        client.remove(&path, false).await.unwrap();
    }
    let mib = bytes >> 20;
    let rate = |samples: Vec<f64>| format!("{:.2} GB/s", median(samples));
    println!("write {mib} MiB streamed to the local worker:  {}", rate(remote_writes));
    println!("write {mib} MiB in place (short-circuit):      {}", rate(local_writes));
    println!("read  {mib} MiB streamed from the local worker: {}", rate(remote_reads));
    println!("read  {mib} MiB in place (short-circuit):       {}", rate(local_reads));
}

async fn reregistration(trials: usize, workers: usize) {
    let mut cluster = Cluster::start(2, "2s", HELPER);
    for _ in 0..workers {
        cluster.start_worker();
    }
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let mut samples = Vec::new();
    for _ in 0..trials {
        let old = cluster.leader(None).await;
        cluster.kill(old);
        cluster.leader(Some(old)).await;
        let serving = Instant::now();
        cluster.wait_workers_registered().await;
        samples.push(serving.elapsed().as_secs_f64() * 1e3);
        cluster.restart(old);
    }
    samples.sort_by(f64::total_cmp);
    println!(
        "{workers} workers registered with the new leader, after it serves: median {:.0} ms, max {:.0} ms ({trials} failovers)",
        median(samples.clone()),
        samples.last().unwrap()
    );
}

#[tokio::main]
async fn main() {
    build_release_binaries(&[]);
    let bytes = env_or("LODE_BENCH_MIB", 1024u64) << 20;
    throughput(bytes, env_or("LODE_BENCH_RUNS", 3)).await;
    let trials = env_or("LODE_BENCH_TRIALS", 10);
    if trials > 0 {
        reregistration(trials, env_or("LODE_BENCH_WORKERS", 3)).await;
    }
}
