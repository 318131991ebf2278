//! Masters with their journal in a real S3-compatible server (moto), as processes under
//! faults: the leader killed under load, the endpoint answering errors, the endpoint stalling
//! past the request timeout, the leader cut off from S3 alone by a firewall, bad credentials at
//! start-up.

use std::time::Duration;

use lode_tests::cluster::{master_start_up_error, Cluster, Election};
use lode_tests::faults::{kill_trials, trials, wait_journal_health, Load};
use lode_tests::s3::{Fault, S3Server};

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long a test takes.
const GUARD: Duration = Duration::from_secs(600);

fn embedded() -> Election {
    Election::Embedded { lease_timeout: "2s".into() }
}

/// Killing the leader with SIGKILL under load, trial after trial, with the journal in S3:
/// clients see no error, nothing acknowledged is lost, nothing applies twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_with_the_journal_in_s3_loses_nothing() {
    let server = tokio::task::block_in_place(S3Server::shared);
    let journal = server.journal_properties(&server.new_folder("failover"));
    let mut cluster = Cluster::start_on(3, embedded(), &journal, HELPER);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("the test hung");
}

/// The endpoint answering 503 to everything, then healing, and then stalling every request
/// past the request timeout (so that puts land after the leader gave up on them), then
/// healing: the leader acknowledges nothing while it cannot write, reports the journal
/// unavailable, and afterwards nothing is lost or applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_endpoint_failing_or_stalling_mid_load_loses_nothing() {
    let server = tokio::task::block_in_place(S3Server::start);
    let folder = server.new_folder("faults");
    let mut journal = server.journal_properties(&folder);
    journal.push(("alluxio.master.journal.request.timeout".into(), "1s".into()));
    let cluster = Cluster::start_on(2, embedded(), &journal, HELPER);
    let leader = cluster.leader(None).await;
    let load = Load::start(&cluster, 4);
    let run = async {
        for fault in [Fault::Errors, Fault::Stall(1.5)] {
            load.progress(40, &format!("before {fault:?}")).await;
            server.set_fault(fault);
            let error = wait_journal_health(&cluster, leader, true, GUARD).await.unwrap();
            assert!(error.contains(&folder), "the reported error names no folder: {error}");
            if fault == Fault::Errors {
                let stuck = load.acked();
                tokio::time::sleep(Duration::from_millis(500)).await;
                assert_eq!(load.acked(), stuck, "writes were acknowledged while S3 failed");
            }
            server.set_fault(Fault::None);
            load.progress(40, &format!("after {fault:?}")).await;
            wait_journal_health(&cluster, leader, false, GUARD).await;
        }
    };
    tokio::time::timeout(GUARD, run).await.expect("the test hung");
    load.finish(&cluster).await;
}

/// A master given credentials the S3 server refuses stops at start-up with an error naming
/// the journal folder and the keys to check, and without the secret.
#[test]
fn bad_credentials_fail_start_up_naming_the_folder() {
    let server = S3Server::start();
    let folder = server.new_folder("credentials");
    let defines: Vec<(String, String)> = server
        .journal_properties(&folder)
        .into_iter()
        .map(|(key, value)| {
            let value = if key == "s3a.accessKeyId" { "not-the-key".to_string() } else { value };
            (key, value)
        })
        .collect();
    let stderr = master_start_up_error(HELPER, &defines);
    assert!(stderr.contains(&folder) && stderr.contains("s3a.accessKeyId"), "{stderr}");
    assert!(!stderr.contains(lode_tests::s3::SECRET_KEY), "the secret was printed: {stderr}");
}

/// A leader cut off from its journal store (S3, by a firewall in the test's own network
/// namespace) but not from its elector (the embedded one, on this host) gives its write up
/// after the flush timeout, says why it stepped down and resigns, and the standby serves; when
/// the partition heals the old leader follows as a standby. Under client load, trial after
/// trial: nothing acknowledged is lost or applied twice.
#[test]
fn a_leader_cut_off_from_its_journal_store_hands_over() {
    use lode_tests::faults::{wait_caught_up_standby, wait_standby_past};
    use lode_tests::netns::Partition;
    lode_tests::netns::run_isolated(async {
        // Started on this thread, inside the namespace: its server dies with the thread.
        let server = S3Server::start();
        let mut journal = server.journal_properties(&server.new_folder("store-partition"));
        journal.push(("alluxio.master.journal.request.timeout".into(), "1s".into()));
        journal.push(("alluxio.master.journal.flush.timeout".into(), "2s".into()));
        // A stepped-down leader rebuilds from the newest checkpoint and replays the log after
        // it one GET at a time: with Alluxio's 2M-entry period (no checkpoint in this test) it
        // replayed everything and fell further behind each trial (failover 2.0 s at first,
        // 12.9 s by the eighth trial). Frequent checkpoints keep the replay short.
        journal.push(("alluxio.master.journal.checkpoint.period.entries".into(), "2000".into()));
        // A lease far longer than the flush timeout: only the journal's own bound ends a term.
        let election = Election::Embedded { lease_timeout: "30s".into() };
        let cluster = Cluster::start_on(2, election, &journal, HELPER);
        let load = Load::start(&cluster, 4);
        let run = async {
            for trial in 0..trials() {
                let cut = cluster.leader(None).await;
                load.progress(20, "before the partition").await;
                let partition =
                    Partition::group_from_ports(Cluster::group_of(cut), &[server.port()]);
                let took = load.progress(20, "with the leader cut off from S3").await;
                let serving = cluster.leader(Some(cut)).await;
                println!("trial {trial}: master {serving} serves {took:?} after {cut} was cut off");
                let statuses = cluster.statuses().await;
                let status = &statuses.iter().find(|(i, _)| *i == cut).unwrap().1;
                assert!(!status.stepped_down.is_empty(), "{cut} does not say why: {status:?}");
                let leader_slot =
                    statuses.iter().find(|(i, _)| *i == serving).unwrap().1.journal_slot;
                partition.heal();
                wait_standby_past(&cluster, cut, leader_slot, "after the partition healed").await;
            }
        };
        tokio::time::timeout(GUARD, run).await.expect("the test hung");
        load.finish(&cluster).await;
        // Without load, every master catches up entirely.
        let leader = cluster.leader(None).await;
        for index in (0..2).filter(|i| *i != leader) {
            wait_caught_up_standby(&cluster, index, leader, "after the load").await;
        }
    });
}
