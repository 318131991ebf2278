//! Masters with their journal on a real HDFS, as processes under faults: the leader killed
//! under load, a DataNode and the NameNode restarted mid-load, an unreachable NameNode at
//! start-up.

use std::time::Duration;

use lode_tests::cluster::{master_start_up_error, Cluster, Election};
use lode_tests::faults::{kill_trials, trials, wait_journal_health, Load};
use lode_tests::hdfs::{Daemon, Hdfs};

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Fails a hung run instead of stalling CI; far above how long a test takes.
const GUARD: Duration = Duration::from_secs(600);

fn embedded() -> Election {
    Election::Embedded { lease_timeout: "2s".into() }
}

fn new_folder(hdfs: &Hdfs, what: &str) -> String {
    format!("{}/{what}/{}", hdfs.uri(), uuid::Uuid::new_v4())
}

fn journal_in(folder: &str) -> Vec<(String, String)> {
    vec![("alluxio.master.journal.folder".into(), folder.into())]
}

/// Killing the leader with SIGKILL under load, trial after trial, with the journal on HDFS:
/// clients see no error, nothing acknowledged is lost, nothing applies twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_with_the_journal_on_hdfs_loses_nothing() {
    let hdfs = tokio::task::block_in_place(Hdfs::shared);
    let folder = new_folder(hdfs, "failover");
    let mut cluster = Cluster::start_on(3, embedded(), &journal_in(&folder), HELPER);
    tokio::time::timeout(GUARD, kill_trials(&mut cluster, trials())).await.expect("the test hung");
}

/// A DataNode killed and restarted mid-load: the leader retries until HDFS writes again,
/// clients see only latency, and the namespace equals the acknowledged history.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_datanode_restart_mid_load_loses_nothing() {
    let mut hdfs = tokio::task::block_in_place(Hdfs::start);
    let folder = new_folder(&hdfs, "datanode");
    let cluster = Cluster::start_on(2, embedded(), &journal_in(&folder), HELPER);
    cluster.leader(None).await;
    let load = Load::start(&cluster, 4);
    let run = async {
        load.progress(40, "before the DataNode is killed").await;
        hdfs.kill(Daemon::DataNode(0));
        load.progress(40, "with a DataNode dead").await;
        hdfs.restart(Daemon::DataNode(0));
        tokio::task::block_in_place(|| hdfs.wait_ready());
        load.progress(40, "after the DataNode came back").await;
    };
    tokio::time::timeout(GUARD, run).await.expect("the test hung");
    load.finish(&cluster).await;
}

/// The NameNode killed mid-load: the leader acknowledges nothing while it is down, reports
/// the journal unavailable (naming the folder) in its status, and once the NameNode is back
/// carries on with nothing lost or applied twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_namenode_restart_mid_load_loses_nothing_and_is_reported() {
    let mut hdfs = tokio::task::block_in_place(Hdfs::start);
    let folder = new_folder(&hdfs, "namenode");
    let cluster = Cluster::start_on(2, embedded(), &journal_in(&folder), HELPER);
    let leader = cluster.leader(None).await;
    let load = Load::start(&cluster, 4);
    let run = async {
        load.progress(40, "before the NameNode is killed").await;
        hdfs.kill(Daemon::NameNode);
        let error = wait_journal_health(&cluster, leader, true, GUARD).await.unwrap();
        assert!(error.contains(&folder), "the reported error names no folder: {error}");
        // Nothing is acknowledged while the journal cannot be written.
        let stuck = load.acked();
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(load.acked(), stuck, "writes were acknowledged with the NameNode down");
        hdfs.restart(Daemon::NameNode);
        tokio::task::block_in_place(|| hdfs.wait_ready());
        load.progress(40, "after the NameNode came back").await;
        wait_journal_health(&cluster, leader, false, GUARD).await;
    };
    tokio::time::timeout(GUARD, run).await.expect("the test hung");
    load.finish(&cluster).await;
}

/// A master whose journal NameNode does not answer stops at start-up with an error naming
/// the journal folder, instead of hanging or serving.
#[test]
fn an_unreachable_namenode_fails_start_up_naming_the_folder() {
    let port = lode_client::local::free_ports(1).unwrap()[0];
    let folder = format!("hdfs://127.0.0.1:{port}/alluxio/journal");
    let defines = [("alluxio.master.journal.folder".to_string(), folder.clone())];
    let stderr = master_start_up_error(HELPER, &defines);
    assert!(stderr.contains(&folder), "{stderr}");
}

/// A folder named by an HA nameservice (`hdfs://lode-ha/...`) is resolved through the Hadoop
/// file that `alluxio.underfs.hdfs.configuration` lists, as on an HA cluster: the store writes
/// and reads through the NameNode the file names.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_nameservice_folder_resolves_through_the_hadoop_configuration() {
    use lode_backend_hdfs as _;
    let hdfs = tokio::task::block_in_place(Hdfs::shared);
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("hdfs-site.xml");
    let property = |name: &str, value: &str| {
        format!("<property><name>{name}</name><value>{value}</value></property>\n")
    };
    let xml = [
        property("dfs.nameservices", "lode-ha"),
        property("dfs.ha.namenodes.lode-ha", "nn1"),
        property("dfs.namenode.rpc-address.lode-ha.nn1", &format!("127.0.0.1:{}", hdfs.rpc_port())),
    ]
    .concat();
    std::fs::write(&site, format!("<configuration>\n{xml}</configuration>\n")).unwrap();
    let folder = format!("hdfs://lode-ha/nameservice/{}", uuid::Uuid::new_v4());
    let config = lode_core::config::Config::from_pairs([
        ("alluxio.master.journal.folder", folder.clone()),
        ("alluxio.underfs.hdfs.configuration", site.display().to_string()),
    ])
    .unwrap();
    let store = lode_core::store::open(&config).unwrap();
    store
        .put_if_absent("log/00000000000000000000", b"through the nameservice".to_vec())
        .await
        .unwrap();
    let read = store.get("log/00000000000000000000").await.unwrap();
    assert_eq!(read.as_deref(), Some(&b"through the nameservice"[..]));
    assert_eq!(store.location(), folder);
}

/// A journal keeps taking writes past a NameNode's folder limit: on an HDFS whose folders hold
/// at most 200 items (`dfs.namenode.fs-limits.max-directory-items`), 450 slots land in folders
/// of 100 and a fresh replica reads them all, while a journal formatted with folders bigger
/// than the limit fails at the limit (the limit is real, and the error names it).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_journal_outgrows_a_namenode_folder_limit() {
    use lode_core::config::{name, Config};
    use lode_core::journal::{Journal, JournalSettings};
    use lode_core::testkit::{journal::lease, Ledger};
    // Started on the test's own thread (the body of `block_on`): the daemons die with the
    // thread that started them, and a blocking-pool thread exits when idle.
    let hdfs = Hdfs::start_with(&[("dfs.namenode.fs-limits.max-directory-items", "200")]);
    let open = |per_folder: u64, folder: String| async move {
        let config = Config::from_pairs([(name::MASTER_JOURNAL_FOLDER, folder)]).unwrap();
        let store = lode_core::store::open(&config).expect("opening the hdfs store");
        let settings = JournalSettings {
            log_folder_slots: per_folder,
            flush_timeout: Duration::from_secs(15),
            ..JournalSettings::for_tests()
        };
        std::sync::Arc::new(Journal::open(store, settings, Ledger::default).await.unwrap())
    };

    let folder = new_folder(&hdfs, "folder-limit");
    let journal = open(100, folder.clone()).await;
    let writer = journal.take_over(lease(1).0, "leader").await.unwrap();
    for value in 0..450 {
        writer.submit(None, value).await.unwrap_or_else(|e| panic!("value {value}: {e}"));
    }
    assert_eq!(journal.log_key(450), "log/00000000000000000400/00000000000000000450");
    let reader = open(100, folder).await;
    reader.catch_up().await.unwrap();
    assert_eq!(reader.replica().read().state().values, (0..450).collect::<Vec<u64>>());

    let control = open(1_000, new_folder(&hdfs, "folder-limit-control")).await;
    let writer = control.take_over(lease(1).0, "leader").await.unwrap();
    let mut refused = None;
    for value in 0..250 {
        if let Err(error) = writer.submit(None, value).await {
            refused = Some((value, error.to_string()));
            break;
        }
    }
    let (value, error) = refused.expect("a folder of 250 items passed a limit of 200");
    assert_eq!(value, 199, "refused at value {value}, not at the 201st item: {error}");
    assert!(error.contains("MaxDirectoryItemsExceeded"), "{error}");
}
