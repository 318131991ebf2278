//! Failover figures (issue 4): three `lode-master` processes and one client writing without
//! pause; the time from kill -9 of the leader, and from SIGTERM, to the client's first
//! acknowledged write on the new leader; and with ZooKeeper, the time until three `lode-worker`
//! processes (configured with only ZooKeeper's address) are all registered with the new leader
//! (each logs its registration). Medians, p99 and max over the trials.
//!
//! `cargo bench -p lode-tests --bench failover`. `LODE_BENCH_TRIALS` (20), `LODE_BENCH_ELECTORS`
//! (`zookeeper,etcd,embedded`), `LODE_BENCH_SESSION_TIMEOUT` (ZooKeeper's session; Lode's
//! default `10s`), `LODE_BENCH_LEASE_TTL` (etcd's lease; `10s`) and `LODE_BENCH_LEASE_TIMEOUT`
//! (the embedded elector's; `3s`) set the runs; `LODE_BENCH_JOURNAL=hdfs` puts the journal in
//! segments on a real HDFS the bench starts (the reference deployment with `zookeeper`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use lode_tests::bench::{build_release_binaries, env_or};
use lode_tests::cluster::{Cluster, Election, WorkerProcess};
use lode_tests::etcd::Etcd;
use lode_tests::zookeeper::ZooKeeper;
use parking_lot::Mutex;

// Linked so that the bench's client finds the leader through etcd.
use lode_backend_etcd as _;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// A run that takes this long is broken, not slow.
const HANG_GUARD: Duration = Duration::from_secs(300);

/// The instants at which the client's writes were acknowledged, newest last.
type Acks = Arc<Mutex<Vec<Instant>>>;

fn summary(mut samples: Vec<Duration>) -> String {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    format!(
        "median {:.0} ms, p99 {:.0} ms, max {:.0} ms ({} trials)",
        at(0.5).as_secs_f64() * 1e3,
        at(0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
        samples.len()
    )
}

/// Waits for the first acknowledgement after `since` and returns how long after it came.
async fn first_ack_after(acks: &Acks, since: Instant) -> Duration {
    loop {
        if let Some(at) = acks.lock().iter().rev().take_while(|at| **at > since).last() {
            return *at - since;
        }
        // A hang guard, not a speed requirement.
        assert!(since.elapsed() < HANG_GUARD, "no write within five minutes");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// How long after `since` the last of `workers` logged its registration with `leader`.
async fn workers_learn(workers: &mut [WorkerProcess], leader: &str, since: Instant) -> Duration {
    let needle = format!("registered with the leading master leader={leader}");
    let mut learned = vec![None; workers.len()];
    while learned.iter().any(Option::is_none) {
        for (worker, learned) in workers.iter_mut().zip(learned.iter_mut()) {
            let worker = worker.process.as_mut().expect("a running worker");
            let seen = worker.seen.len();
            worker.drain();
            if learned.is_none() && worker.seen[seen..].iter().any(|l| l.contains(&needle)) {
                *learned = Some(since.elapsed());
            }
        }
        assert!(since.elapsed() < HANG_GUARD, "workers never registered with {leader}");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    learned.into_iter().flatten().max().unwrap_or_default()
}

async fn run(
    name: &str,
    election: Election,
    journal: &[(String, String)],
    trials: usize,
    workers: usize,
) {
    let mut cluster = Cluster::start_on(3, election, journal, HELPER);
    cluster.leader(None).await;
    for _ in 0..workers {
        cluster.start_worker();
    }
    let acks: Acks = Arc::default();
    let writer = tokio::spawn({
        let (client, acks) = (cluster.client(), acks.clone());
        async move {
            client.create_directory("/bench", true, true).await.unwrap();
            for n in 0u64.. {
                client.create_directory(&format!("/bench/d{n}"), false, false).await.unwrap();
                acks.lock().push(Instant::now());
            }
        }
    });
    let (mut killed, mut terminated) = (Vec::new(), Vec::new());
    let (mut learned_killed, mut learned_terminated) = (Vec::new(), Vec::new());
    for trial in 0..2 * trials {
        first_ack_after(&acks, Instant::now()).await;
        let leader = cluster.leader(None).await;
        let at = Instant::now();
        if trial % 2 == 0 {
            cluster.kill(leader);
            killed.push(first_ack_after(&acks, at).await);
        } else {
            cluster.terminate(leader);
            terminated.push(first_ack_after(&acks, at).await);
        }
        if workers > 0 {
            let new = cluster.masters[cluster.leader(Some(leader)).await].0.clone();
            let learned = workers_learn(&mut cluster.workers, &new, at).await;
            if trial % 2 == 0 { &mut learned_killed } else { &mut learned_terminated }
                .push(learned);
        }
        cluster.restart(leader);
    }
    writer.abort();
    println!("{name}: kill -9 of the leader -> first acknowledged write: {}", summary(killed));
    println!("{name}: SIGTERM of the leader -> first acknowledged write: {}", summary(terminated));
    if workers > 0 {
        let count = workers;
        println!(
            "{name}: kill -9 of the leader -> all {count} workers registered with the new leader: {}",
            summary(learned_killed)
        );
        println!(
            "{name}: SIGTERM of the leader -> all {count} workers registered with the new leader: {}",
            summary(learned_terminated)
        );
    }
}

#[tokio::main]
async fn main() {
    build_release_binaries(&["lode-master/etcd", "lode-worker/etcd"]);
    let trials: usize = env_or("LODE_BENCH_TRIALS", 20);
    let session_timeout = env_or("LODE_BENCH_SESSION_TIMEOUT", "10s".to_string());
    let lease_ttl = env_or("LODE_BENCH_LEASE_TTL", "10s".to_string());
    let lease_timeout = env_or("LODE_BENCH_LEASE_TIMEOUT", "3s".to_string());
    let electors = env_or("LODE_BENCH_ELECTORS", "zookeeper,etcd,embedded".to_string());
    // Started on this thread, which outlives every run (the daemons die with it).
    let hdfs = (env_or("LODE_BENCH_JOURNAL", "local".to_string()) == "hdfs")
        .then(|| tokio::task::block_in_place(lode_tests::hdfs::Hdfs::start));
    let journal: Vec<(String, String)> = hdfs
        .iter()
        .map(|hdfs| {
            ("alluxio.master.journal.folder".to_string(), format!("{}/failover", hdfs.uri()))
        })
        .collect();
    let on = if hdfs.is_some() { ", journal in segments on HDFS" } else { "" };
    for elector in electors.split(',') {
        match elector.trim() {
            "zookeeper" => {
                let zookeeper = ZooKeeper::ensemble(3);
                let election = Election::ZooKeeper {
                    address: zookeeper.connect_string(),
                    session_timeout: session_timeout.clone(),
                };
                let name =
                    format!("zookeeper (3-node ensemble, session timeout {session_timeout}{on})");
                run(&name, election, &journal, trials, 3).await;
            }
            "etcd" => {
                let etcd = Etcd::cluster(3);
                let election =
                    Election::Etcd { endpoints: etcd.endpoints(), lease_ttl: lease_ttl.clone() };
                let name = format!("etcd (3-member cluster, lease TTL {lease_ttl}{on})");
                run(&name, election, &journal, trials, 3).await;
            }
            "embedded" => {
                let election = Election::Embedded { lease_timeout: lease_timeout.clone() };
                let name = format!("embedded (lease timeout {lease_timeout}{on})");
                run(&name, election, &journal, trials, 0).await;
            }
            other => panic!("unknown elector {other} in LODE_BENCH_ELECTORS"),
        }
    }
}
