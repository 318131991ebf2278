//! Under-file-system figures (issue 19), each beside the bound it hits, measured in the same
//! run: CACHE_THROUGH and THROUGH writes beside a worker-only write and OpenDAL writing the same
//! bytes straight to the UFS, one after the other and both at once (what a CACHE_THROUGH write
//! has to do: where the machine, not the UFS, is the bound, that is the bound it hits); a cold
//! read of a persisted file no worker caches beside OpenDAL reading it straight from the UFS and
//! a streamed read of a cached copy, one after the other and both at once (a streamed cold read
//! does both), and beside OpenDAL's read and a worker-only write at once (a cold read on the
//! worker's host, in place, does those), and the warm re-read; how soon an ASYNC_THROUGH file is PERSISTED, and how many small
//! files are persisted per minute.
//!
//! `cargo bench -p lode-tests --bench ufs`. `LODE_BENCH_UFS` is `local` (a folder on /dev/shm,
//! or in `LODE_BENCH_UFS_DIR`; default) or `hdfs` (the project's NameNode and two DataNodes); `LODE_BENCH_MIB` (1024) the large file,
//! `LODE_BENCH_RUNS` (3) the runs, `LODE_BENCH_SMALL_FILES` (1000) the small files.

use std::time::{Duration, Instant};

use lode_client::data;
use lode_client::master::{MasterClient, WriteType};
use lode_tests::bench::{build_release_binaries, env_or, median, Pattern};
use lode_tests::cluster::{Cluster, Election};
use lode_ufs::Ufs;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
const BLOCK: u64 = 64 << 20;
/// What OpenDAL is handed at a time when it writes or reads straight to or from the UFS.
const PIECE: u64 = 8 << 20;

fn gb_per_s(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e9
}

async fn write(client: &MasterClient, path: &str, bytes: u64) -> Duration {
    let mut source = Pattern::new(bytes);
    let started = Instant::now();
    data::write_file(client, path, &mut source, Some(BLOCK), &|_| {}).await.unwrap();
    started.elapsed()
}

async fn read(client: &MasterClient, path: &str, bytes: u64) -> Duration {
    let mut sink = tokio::io::sink();
    let started = Instant::now();
    let read = data::read_file(client, path, 0, None, &mut sink, &|_| {}).await.unwrap();
    assert_eq!(read, bytes);
    started.elapsed()
}

/// OpenDAL writing `bytes` straight to `path` in the UFS, as the worker's UFS writes do.
async fn direct_write(ufs: &Ufs, path: &str, bytes: u64) -> Duration {
    let piece = bytes::Bytes::from(vec![0x5a; PIECE as usize]);
    let started = Instant::now();
    let mut file = ufs.create(path).await.unwrap();
    let mut left = bytes;
    while left > 0 {
        let n = left.min(PIECE);
        file.write(piece.slice(..n as usize)).await.unwrap();
        left -= n;
    }
    file.finish().await.unwrap();
    started.elapsed()
}

/// OpenDAL reading `bytes` of `path` straight from the UFS, in the ranges a worker reads.
async fn direct_read(ufs: &Ufs, path: &str, bytes: u64) -> Duration {
    let started = Instant::now();
    let mut done = 0;
    while done < bytes {
        let pieces = ufs.read_pieces(path, done, PIECE.min(bytes - done)).await.unwrap();
        let n = pieces.iter().map(|p| p.len() as u64).sum::<u64>();
        assert!(n > 0);
        done += n;
    }
    started.elapsed()
}

/// Writes and removes `bytes` of zeros in `folder`: the pages it used are then the machine's to
/// reuse at memory speed (see `main`).
fn touch_memory(folder: &std::path::Path, bytes: u64) {
    use std::io::Write;
    let path = folder.join("touch");
    let mut file = std::fs::File::create(&path).unwrap();
    let piece = vec![0u8; PIECE as usize];
    for _ in 0..bytes.div_ceil(PIECE) {
        file.write_all(&piece).unwrap();
    }
    drop(file);
    std::fs::remove_file(path).unwrap();
}

async fn persisted(client: &MasterClient, path: &str) -> bool {
    client.get_status(path).await.unwrap().persistence_state() == "PERSISTED"
}

#[tokio::main]
async fn main() {
    build_release_binaries(&[]);
    let kind = std::env::var("LODE_BENCH_UFS").unwrap_or_else(|_| "local".into());
    let bytes = env_or("LODE_BENCH_MIB", 1024u64) << 20;
    let runs = env_or("LODE_BENCH_RUNS", 3usize);
    let small_files = env_or("LODE_BENCH_SMALL_FILES", 1000usize);
    // A local UFS on a tmpfs by default, so the figures are Lode's and not the disk's fsync;
    // `LODE_BENCH_UFS_DIR` puts it elsewhere (a disk folder).
    let parent = std::env::var("LODE_BENCH_UFS_DIR").unwrap_or_else(|_| "/dev/shm".into());
    let folder = tempfile::tempdir_in(parent).unwrap();
    // On a virtual machine, memory the guest never touched (or gave back to the host) costs a
    // fault in the host on first touch: a tmpfs written into such pages ran at 0.19 GB/s where
    // reused ones took 2.1 GB/s, the same minute. So the bench touches what its runs will use
    // first, and removes each file once measured.
    touch_memory(folder.path(), 4 * bytes);
    let hdfs = (kind == "hdfs").then(lode_tests::hdfs::Hdfs::start);
    let root = match &hdfs {
        Some(hdfs) => format!("{}/bench-ufs", hdfs.uri()),
        None => folder.path().display().to_string(),
    };
    let site = vec![("alluxio.master.mount.table.root.ufs".to_string(), root.clone())];
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let mut cluster = Cluster::start_on(1, election, &site, HELPER);
    cluster.start_worker_with_capacity(&format!("{}MB", (bytes >> 20) * 4 + 1024));
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let client = cluster.client();
    let with = |write_type| cluster.client().with_write_type(write_type);
    let (cache_only, cache_through, through) =
        (with(WriteType::MustCache), with(WriteType::CacheThrough), with(WriteType::Through));
    let ufs = Ufs::open(&root, &Default::default(), &Default::default()).unwrap();
    let mib = bytes >> 20;
    println!("UFS: {root} ({kind}); {mib} MiB files, {runs} runs, medians");

    let streamed = cluster.client().with_short_circuit(false);
    let mut samples: [Vec<f64>; 11] = Default::default();
    for run in 0..runs {
        let path = |what: &str| format!("/{what}-{run}");
        let rate = |elapsed| gb_per_s(bytes, elapsed);
        // Both halves of each at once, each on a task of its own (a short-circuit write
        // blocks its thread as it writes): the bound where the machine is what limits. First,
        // while little else is in memory (these runs slowed down several times over when
        // 7 GiB of files were on /dev/shm).
        let (beside, beside_ufs) = (path("beside"), format!("beside-{run}"));
        let started = Instant::now();
        let worker_side = tokio::spawn({
            let (client, path) = (with(WriteType::MustCache), beside.clone());
            async move { write(&client, &path, bytes).await }
        });
        let ufs_side = tokio::spawn({
            let (ufs, path) = (ufs.clone(), beside_ufs.clone());
            async move { direct_write(&ufs, &path, bytes).await }
        });
        let (a, b) = tokio::join!(worker_side, ufs_side);
        a.unwrap();
        b.unwrap();
        samples[8].push(rate(started.elapsed()));
        let started = Instant::now();
        let worker_side = tokio::spawn({
            let (client, path) = (cluster.client().with_short_circuit(false), beside.clone());
            async move { read(&client, &path, bytes).await }
        });
        let ufs_side = tokio::spawn({
            let (ufs, path) = (ufs.clone(), beside_ufs.clone());
            async move { direct_read(&ufs, &path, bytes).await }
        });
        let (a, b) = tokio::join!(worker_side, ufs_side);
        a.unwrap();
        b.unwrap();
        samples[9].push(rate(started.elapsed()));
        // What a cold read on the worker's host does when it reads in place: the worker reads
        // the UFS and writes its cache.
        let written_beside = path("written-beside");
        let started = Instant::now();
        let worker_side = tokio::spawn({
            let (client, path) = (with(WriteType::MustCache), written_beside.clone());
            async move { write(&client, &path, bytes).await }
        });
        let ufs_side = tokio::spawn({
            let (ufs, path) = (ufs.clone(), beside_ufs.clone());
            async move { direct_read(&ufs, &path, bytes).await }
        });
        let (a, b) = tokio::join!(worker_side, ufs_side);
        a.unwrap();
        b.unwrap();
        samples[10].push(rate(started.elapsed()));
        client.remove(&written_beside, false).await.unwrap();
        client.remove(&beside, false).await.unwrap();
        ufs.delete(&beside_ufs).await.unwrap();
        // Each file goes as soon as it is measured, so memory in use stays low (see main's
        // first lines).
        samples[0].push(rate(write(&cache_only, &path("cached"), bytes).await));
        client.remove(&path("cached"), false).await.unwrap();
        samples[1].push(rate(direct_write(&ufs, &format!("direct-{run}"), bytes).await));
        samples[4].push(rate(direct_read(&ufs, &format!("direct-{run}"), bytes).await));
        ufs.delete(&format!("direct-{run}")).await.unwrap();
        samples[2].push(rate(write(&cache_through, &path("cache-through"), bytes).await));
        samples[3].push(rate(write(&through, &path("through"), bytes).await));
        client.remove(&path("through"), false).await.unwrap();
        // Cold: persisted, no worker holds it; the read caches it, so the next one is warm.
        client.free(&path("cache-through"), false).await.unwrap();
        tokio::time::sleep(Duration::from_millis(500)).await; // The worker drops its blocks.
        samples[5].push(rate(read(&client, &path("cache-through"), bytes).await));
        samples[6].push(rate(read(&client, &path("cache-through"), bytes).await));
        samples[7].push(rate(read(&streamed, &path("cache-through"), bytes).await));
        client.remove(&path("cache-through"), false).await.unwrap();
    }
    let [cached, direct_w, cache_through_w, through_w, direct_r, cold, warm, warm_streamed, both_w, both_r, read_and_cache] =
        samples.map(median);
    let bound = cached.min(direct_w);
    println!("write, worker only (MUST_CACHE):        {cached:.2} GB/s");
    println!("write, OpenDAL straight to the UFS:     {direct_w:.2} GB/s");
    println!(
        "write CACHE_THROUGH:                    {cache_through_w:.2} GB/s ({:.0} % of the slower of the two)",
        cache_through_w / bound * 100.0
    );
    println!(
        "write, worker and OpenDAL at once:      {both_w:.2} GB/s (CACHE_THROUGH at {:.0} % of it)",
        cache_through_w / both_w * 100.0
    );
    println!(
        "write THROUGH:                          {through_w:.2} GB/s ({:.0} % of OpenDAL's)",
        through_w / direct_w * 100.0
    );
    println!("read, OpenDAL straight from the UFS:    {direct_r:.2} GB/s");
    println!("warm re-read, streamed from the worker: {warm_streamed:.2} GB/s");
    println!(
        "cold read through a worker (from UFS):  {cold:.2} GB/s ({:.0} % of OpenDAL's, {:.0} % of the slower of OpenDAL's and a streamed warm read)",
        cold / direct_r * 100.0,
        cold / direct_r.min(warm_streamed) * 100.0
    );
    println!(
        "streamed warm read and OpenDAL read at once: {both_r:.2} GB/s (the cold read at {:.0} % of it)",
        cold / both_r * 100.0
    );
    println!(
        "OpenDAL read and a worker-only write at once: {read_and_cache:.2} GB/s (the cold read at {:.0} % of it)",
        cold / read_and_cache * 100.0
    );
    println!("warm re-read (cached by the cold one):  {warm:.2} GB/s");

    // ASYNC_THROUGH: from completion to PERSISTED, beside the bound the issue sets.
    let asynchronous = with(WriteType::AsyncThrough);
    let mut latencies = Vec::new();
    for run in 0..runs {
        let path = format!("/async-{run}");
        write(&asynchronous, &path, bytes).await;
        let completed = Instant::now();
        while !persisted(&client, &path).await {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        latencies.push(completed.elapsed().as_secs_f64());
        client.remove(&path, false).await.unwrap();
    }
    let latency = median(latencies);
    let bound = bytes as f64 / (direct_w * 1e9) + 1.0;
    println!(
        "ASYNC_THROUGH {mib} MiB PERSISTED after {latency:.2} s (bound: wait 0 + size / UFS write speed + 1 s = {bound:.2} s)"
    );

    // Many small files: written ASYNC_THROUGH, then the time until every one is PERSISTED.
    asynchronous.create_directory("/small", false, false).await.unwrap();
    let started = Instant::now();
    for i in 0..small_files {
        let mut source = &[0x5au8; 10_000][..];
        let path = format!("/small/f{i:05}");
        data::write_file(&asynchronous, &path, &mut source, None, &|_| {}).await.unwrap();
    }
    let written = started.elapsed();
    loop {
        let listing = client.list_status("/small", false).await.unwrap();
        if listing.iter().all(|f| f.persistence_state() == "PERSISTED") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = started.elapsed();
    println!(
        "{small_files} files of 10 KB written ASYNC_THROUGH in {:.1} s, all PERSISTED after {:.1} s: {:.0} files persisted per minute",
        written.as_secs_f64(),
        all.as_secs_f64(),
        small_files as f64 / all.as_secs_f64() * 60.0
    );
    drop(cluster);
    drop(hdfs);
}
