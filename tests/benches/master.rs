//! The master's figures (issue 3): durable creates/s over RPC at 1, 16 and 64 clients,
//! getStatus/s, listStatus/s of a 1,000-entry directory, standby lag under load, memory per
//! inode and checkpoint write/load time at 1M and 10M files. Medians of several runs where a
//! figure is a rate. Beside getStatus, the rate of a call that does nothing — a bare tonic
//! server answering `getServiceVersion` with a constant, to the same 64 clients — is the
//! ceiling any call of Lode's can reach on this machine with this gRPC stack.
//!
//! `cargo bench -p lode-tests --bench master` (`LODE_BENCH_INODES=1000000,10000000` sets the
//! namespace sizes; `LODE_BENCH_CLIENTS=1,16,64` the client counts of the create rows;
//! `LODE_BENCH_SECONDS` the length of each rate run; `LODE_BENCH_PARTS=rpc` or
//! `=namespace` runs one half; `LODE_BENCH_JOURNAL=hdfs`, `=s3` or `=glusterfs` puts the RPC half's
//! journal on a real HDFS, S3 server (moto) or FUSE-mounted GlusterFS volume (as root) that the
//! bench starts, instead of a local folder; S3 needs
//! `--features lode-master/s3`; `LODE_BENCH_POLL_UI=1` fetches the leader's overview page and
//! `/metrics` every 100 ms throughout, to show what serving the UI costs).

use lode_tests::bench::{env_or, journal_write_totals, median};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_client::master::{MasterClient, RetryPolicy};
use lode_core::config::Config;
use lode_core::journal::StateMachine;
use lode_core::rpc::alluxio::grpc::version::service_version_client_service_client::ServiceVersionClientServiceClient;
use lode_core::rpc::alluxio::grpc::version::service_version_client_service_server::{
    ServiceVersionClientService, ServiceVersionClientServiceServer,
};
use lode_core::rpc::alluxio::grpc::version::{
    GetServiceVersionPRequest, GetServiceVersionPResponse,
};
use lode_core::rpc::leader::LeaderFinder;
use lode_master::namespace::{CreateFile, Mutation, Namespace, NamespaceOp};
use lode_master::{start, Role, RunningMaster};
use tokio::sync::oneshot;
use tonic::{Request, Response, Status};

// The allocator the binaries use (see their main.rs), so the figures are theirs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Clients creating files while the standby lag is measured.
const LAG_LOAD_CLIENTS: usize = 64;

struct Master {
    running: RunningMaster,
    _stop: oneshot::Sender<()>,
}

async fn master(dir: &std::path::Path, journal: &[(String, String)]) -> Master {
    let mut pairs: Vec<(String, String)> = [
        ("alluxio.work.dir", dir.display().to_string()),
        ("alluxio.master.hostname", "127.0.0.1".into()),
        ("alluxio.master.bind.host", "127.0.0.1".into()),
        ("alluxio.master.rpc.port", "0".into()),
        ("alluxio.master.web.port", "0".into()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    pairs.extend_from_slice(journal);
    let config = Config::from_pairs(pairs).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = start(config, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    Master { running, _stop: stop }
}

async fn until_leader(master: &Master) {
    while !matches!(master.running.node.role(), Role::Leader { .. }) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn client(master: &Master) -> MasterClient {
    let address = master.running.node.member().address.clone();
    let config = Config::from_pairs([("alluxio.master.rpc.addresses", address)]).unwrap();
    MasterClient::from_config(&config).unwrap().with_retry(RetryPolicy {
        base_sleep: Duration::from_millis(10),
        max_sleep: Duration::from_millis(100),
        max_duration: Duration::from_secs(30),
    })
}

/// Runs `clients` loops of `work` for `seconds`; returns operations per second.
async fn rate<F, Fut>(clients: usize, seconds: f64, work: F) -> f64
where
    F: Fn(usize, u64) -> Fut + Send + Sync + Clone + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|client| {
            let (stop, done, work) = (stop.clone(), done.clone(), work.clone());
            tokio::spawn(async move {
                let mut n = 0;
                while !stop.load(Ordering::Relaxed) {
                    work(client, n).await;
                    n += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

/// A server whose one call does nothing: the gRPC stack's own cost, with no Lode code.
struct DoNothing;

#[tonic::async_trait]
impl ServiceVersionClientService for DoNothing {
    async fn get_service_version(
        &self,
        _: Request<GetServiceVersionPRequest>,
    ) -> Result<Response<GetServiceVersionPResponse>, Status> {
        Ok(Response::new(GetServiceVersionPResponse { version: Some(2) }))
    }
}

/// Calls/s of [`DoNothing`] served as the master serves (tonic, TCP_NODELAY) to `clients`
/// clients, each on its own connection made as Lode's client makes them.
async fn do_nothing_rate(clients: usize, seconds: f64) -> f64 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(ServiceVersionClientServiceServer::new(DoNothing))
            .serve_with_incoming_shutdown(incoming, async {
                let _ = stopped.await;
            }),
    );
    let mut channels = Vec::new();
    for _ in 0..clients {
        channels.push(LeaderFinder::connect(&address).await.unwrap());
    }
    let channels = Arc::new(channels);
    let calls = rate(clients, seconds, move |c, _| {
        let mut client = ServiceVersionClientServiceClient::new(channels[c].clone());
        async move {
            client.get_service_version(GetServiceVersionPRequest::default()).await.unwrap();
        }
    })
    .await;
    let _ = stop.send(());
    server.await.unwrap().unwrap();
    calls
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm.split_whitespace().nth(1).and_then(|p| p.parse().ok()).unwrap_or(0);
    pages * 4096
}

fn create_op(i: u64) -> NamespaceOp {
    NamespaceOp {
        time_ms: 1_700_000_000_000 + i as i64,
        mutation: Some(Mutation::CreateFile(CreateFile {
            path: format!("/bench/d{:04}/f{i:08}", i % 1000),
            recursive: true,
            owner: "bench".into(),
            group: "bench".into(),
            mode: 0o644,
            block_size: 64 << 20,
            persisted: false,
        })),
    }
}

/// Memory per inode and checkpoint encode/decode time for a namespace of `inodes` files.
fn namespace_figures(inodes: u64) {
    let before = rss_bytes();
    let mut namespace = Namespace::new();
    for i in 0..inodes {
        let reply = namespace.apply(&create_op(i));
        assert!(reply.error.is_none(), "{reply:?}");
    }
    let per_inode = (rss_bytes().saturating_sub(before)) as f64 / namespace.len() as f64;
    let started = Instant::now();
    let mut snapshot = Vec::new();
    namespace.encode_snapshot(&mut snapshot);
    let encode = started.elapsed();
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")).unwrap();
    let path = dir.path().join("checkpoint");
    let started = Instant::now();
    std::fs::write(&path, &snapshot).unwrap();
    std::fs::File::open(&path).unwrap().sync_all().unwrap();
    let write = started.elapsed();
    drop(namespace);
    let started = Instant::now();
    let bytes = std::fs::read(&path).unwrap();
    let restored = Namespace::decode_snapshot(&bytes).unwrap();
    let load = started.elapsed();
    assert_eq!(restored.len() as u64, inodes + 1002);
    println!(
        "namespace {inodes:>9} files: {per_inode:>6.0} bytes/inode; checkpoint {} MB: encode {encode:.2?} + write {write:.2?}, read + load {load:.2?}",
        snapshot.len() >> 20
    );
}

fn main() {
    let runs: usize = env_or("LODE_BENCH_RUNS", 3);
    let seconds: f64 = env_or("LODE_BENCH_SECONDS", 3.0);
    let parts: String = env_or("LODE_BENCH_PARTS", "rpc,namespace".to_string());
    if parts.contains("rpc") {
        rpc_figures(runs, seconds);
    }
    if parts.contains("namespace") {
        let sizes: String = env_or("LODE_BENCH_INODES", "1000000,10000000".to_string());
        for size in sizes.split(',').filter_map(|s| s.trim().parse::<u64>().ok()) {
            namespace_figures(size);
        }
    }
}

/// The bound of an appending journal on this store, in the same run: one durable append
/// (write + hsync) of a 64-entry batch's bytes at a time, as the journal's writer does, and the
/// creates/s that 64 clients waiting for one append each could reach at that latency.
async fn raw_append_figures(folder: &str, runs: usize) {
    let config =
        Config::from_pairs([("alluxio.master.journal.folder", folder.to_string())]).unwrap();
    let store = lode_core::store::open(&config).unwrap();
    let appendable = store.appendable().expect("an appendable journal store");
    let record = vec![7u8; 64 * 48];
    let mut samples = Vec::new();
    for run in 0..runs {
        let mut appender = appendable.create_exclusive(&format!("seg/{run:020}")).await.unwrap();
        for _ in 0..50 {
            appender.append_durable(&record).await.unwrap(); // warm-up
        }
        let count = 500;
        let started = Instant::now();
        for _ in 0..count {
            appender.append_durable(&record).await.unwrap();
        }
        samples.push(started.elapsed().as_secs_f64() / count as f64);
        appender.close().await.unwrap();
    }
    let latency = median(samples);
    println!(
        "raw append + hsync of {} bytes: {:.2} ms  (the bound: 64 clients / latency = {:.0} creates/s)",
        record.len(),
        latency * 1e3,
        64.0 / latency
    );
}

fn rpc_figures(runs: usize, seconds: f64) {
    // Started first so that it outlives the masters' runtime.
    let store: String = env_or("LODE_BENCH_JOURNAL", "local".to_string());
    let hdfs = (store == "hdfs").then(lode_tests::hdfs::Hdfs::start);
    let s3 = (store == "s3").then(lode_tests::s3::S3Server::start);
    let gluster = (store == "glusterfs").then(lode_tests::glusterfs::GlusterFs::shared);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir_in(concat!(env!("CARGO_MANIFEST_DIR"), "/../target")).unwrap();
    let journal: Vec<(String, String)> = match (&hdfs, &s3) {
        _ if gluster.is_some() => vec![(
            "alluxio.master.journal.folder".into(),
            gluster.map(|g| g.new_folder("bench")).unwrap_or_default(),
        )],
        (Some(hdfs), _) => {
            vec![("alluxio.master.journal.folder".into(), format!("{}/bench", hdfs.uri()))]
        }
        (_, Some(s3)) => s3.journal_properties(&s3.new_folder("bench")),
        _ => vec![(
            "alluxio.master.journal.folder".into(),
            dir.path().join("journal").display().to_string(),
        )],
    };
    println!(
        "master bench: in-process master, clients over loopback gRPC, journal at {} ({runs} runs, median)",
        journal[0].1
    );
    let poll_ui: bool = env_or("LODE_BENCH_POLL_UI", 0u8) == 1;
    runtime.block_on(async {
        let leader = master(dir.path(), &journal).await;
        until_leader(&leader).await;
        if poll_ui {
            let address = leader.running.node.member().address.clone();
            let port = MasterClient::master_status(&address).await.unwrap().web_port as u16;
            println!("polling the leader's web UI (/ and /metrics) every 100 ms");
            std::thread::spawn(move || loop {
                for path in ["/", "/metrics"] {
                    assert!(lode_tests::http_get(port, path).is_some(), "GET {path} failed");
                }
                std::thread::sleep(Duration::from_millis(100));
            });
        }
        let standby = master(dir.path(), &journal).await;
        let setup = client(&leader);
        setup.create_directory("/creates", false, false).await.unwrap();

        let counts: String = env_or("LODE_BENCH_CLIENTS", "1,16,64".to_string());
        for clients in counts.split(',').filter_map(|c| c.trim().parse::<usize>().ok()) {
            let before = leader.running.node.journal().position();
            let writes_before = journal_write_totals();
            let mut samples = Vec::new();
            for run in 0..runs {
                let shared: Arc<Vec<MasterClient>> =
                    Arc::new((0..clients).map(|_| client(&leader)).collect());
                samples.push(
                    rate(clients, seconds, move |c, n| {
                        let shared = shared.clone();
                        async move {
                            shared[c]
                                .create_file(&format!("/creates/k{clients}r{run}c{c}n{n}"), false)
                                .await
                                .unwrap();
                        }
                    })
                    .await,
                );
            }
            let after = leader.running.node.journal().position();
            let per_put = (after.seq - before.seq) as f64 / (after.slot - before.slot).max(1) as f64;
            let writes_after = journal_write_totals();
            let write_ms = (writes_after.1 - writes_before.1) * 1e3
                / (writes_after.0 - writes_before.0).max(1.0);
            println!(
                "durable creates/s, {clients:>2} clients: {:>9.0}  ({per_put:.0} entries per journal write; writes took {write_ms:.2} ms)",
                median(samples)
            );
        }

        if let Some(hdfs) = &hdfs {
            raw_append_figures(&format!("{}/raw-appends", hdfs.uri()), runs).await;
        }

        setup.create_directory("/list", false, false).await.unwrap();
        for i in 0..1000 {
            setup.create_file(&format!("/list/f{i:04}"), false).await.unwrap();
        }
        let shared: Arc<Vec<MasterClient>> = Arc::new((0..64).map(|_| client(&leader)).collect());
        let mut samples = Vec::new();
        for _ in 0..runs {
            let shared = shared.clone();
            samples.push(
                rate(64, seconds, move |c, n| {
                    let shared = shared.clone();
                    async move {
                        shared[c].get_status(&format!("/list/f{:04}", n % 1000)).await.unwrap();
                    }
                })
                .await,
            );
        }
        println!("getStatus/s, 64 clients:       {:>9.0}", median(samples));
        let mut samples = Vec::new();
        for _ in 0..runs {
            samples.push(do_nothing_rate(64, seconds).await);
        }
        println!("do-nothing calls/s, 64 clients: {:>8.0}  (bare tonic: the ceiling of any call)", median(samples));
        let mut samples = Vec::new();
        for _ in 0..runs {
            let shared = shared.clone();
            samples.push(
                rate(16, seconds, move |c, _| {
                    let shared = shared.clone();
                    async move {
                        assert_eq!(
                            shared[c].list_status("/list", false).await.unwrap().len(),
                            1000
                        );
                    }
                })
                .await,
            );
        }
        println!("listStatus/s (1,000 entries), 16 clients: {:>6.0}", median(samples));

        // Standby lag: from an acknowledged write on the leader to the standby having applied it.
        let stop = Arc::new(AtomicBool::new(false));
        let load: Vec<_> = (0..LAG_LOAD_CLIENTS)
            .map(|c| {
                let (client, stop) = (client(&leader), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        client.create_file(&format!("/creates/lag-c{c}n{n}"), false).await.unwrap();
                        n += 1;
                    }
                })
            })
            .collect();
        let probe = client(&leader);
        let mut lags = Vec::new();
        for n in 0..300 {
            probe.create_file(&format!("/creates/probe{n}"), false).await.unwrap();
            let target = leader.running.node.journal().position().slot;
            let acked = Instant::now();
            while standby.running.node.journal().position().slot < target {
                tokio::time::sleep(Duration::from_micros(200)).await;
            }
            lags.push(acked.elapsed().as_secs_f64() * 1e3);
        }
        stop.store(true, Ordering::Relaxed);
        for task in load {
            task.await.unwrap();
        }
        lags.sort_by(f64::total_cmp);
        println!(
            "standby lag under {LAG_LOAD_CLIENTS}-client create load: p50 {:.2} ms, p99 {:.2} ms",
            lags[lags.len() / 2],
            lags[lags.len() * 99 / 100]
        );
    });
}
