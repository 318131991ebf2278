//! Existing data in an under-file-system: files and folders put there by other tools are
//! loaded into Lode's namespace when clients ask for them (Alluxio's `loadMetadataType`), as
//! PERSISTED files with their UFS fingerprint, read through the cache, journaled so a new
//! leader knows them, and loaded once however many clients ask at once or however the leader
//! dies half way through.

use std::path::Path;
use std::time::{Duration, Instant};

use lode_client::data;
use lode_tests::alluxio::AlluxioClient;
use lode_tests::cluster::{Cluster, Election};
use lode_tests::object_content;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Two masters (embedded elector) with `ufs` as the root UFS and `site` lines more, blocks of
/// 1 MiB for loaded files, and a worker.
async fn cluster(ufs: &Path, site: &[(&str, &str)]) -> Cluster {
    let mut lines: Vec<(String, String)> = vec![
        ("alluxio.master.mount.table.root.ufs".into(), ufs.display().to_string()),
        ("alluxio.user.block.size.bytes.default".into(), "1MB".into()),
        ("alluxio.master.worker.connect.wait.time".into(), "1s".into()),
    ];
    lines.extend(site.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let mut cluster = Cluster::start_on(2, election, &lines, HELPER);
    cluster.start_worker();
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    cluster
}

/// The stock shell, configured with the cluster's master addresses.
fn shell(cluster: &Cluster, more: &[(&str, &str)]) -> AlluxioClient {
    let addresses =
        cluster.client_config().string("alluxio.master.rpc.addresses").unwrap().to_string();
    let mut site = vec![("alluxio.master.rpc.addresses", addresses.as_str())];
    site.extend_from_slice(more);
    AlluxioClient::new(&site)
}

fn put(ufs: &Path, path: &str, bytes: &[u8]) {
    let file = ufs.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, bytes).unwrap();
}

/// Files put into the root UFS by other tools are listed, stat'ed and read by the stock shell
/// as PERSISTED files (a file being written under a temporary name is not one); per Alluxio's
/// ONCE a folder is listed once, `ls -f` (ALWAYS) and `loadMetadata` find what was added since,
/// and a new leader knows everything loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_stock_shell_sees_and_reads_files_other_tools_put_in_the_ufs() {
    let ufs = tempfile::tempdir().unwrap();
    let csv = b"id,name\n1,lode\n2,alluxio\n".to_vec();
    let big = object_content(7, (3 << 20) + 123);
    put(ufs.path(), "data/a.csv", &csv);
    put(ufs.path(), "data/sub/big.bin", &big);
    put(ufs.path(), "data/a.csv.alluxio.0x0123456789ABCDEF.tmp", b"half written");
    put(ufs.path(), "top.txt", b"top\n");
    let mut cluster = cluster(ufs.path(), &[]).await;
    let shell = shell(&cluster, &[]);

    let out = shell.fs(&["ls", "/data"]).expect_ok("ls of a folder only the UFS has");
    assert!(out.contains("/data/a.csv") && out.contains("/data/sub"), "{out}");
    assert!(!out.contains(".tmp"), "a temporary file was loaded: {out}");
    assert!(out.contains("PERSISTED"), "{out}");
    // A file in a folder not listed yet is found by its path.
    let out = shell.fs(&["stat", "/data/sub/big.bin"]).expect_ok("stat");
    assert!(out.contains(&format!("length={}", big.len())), "{out}");
    assert!(out.contains("persisted=true") && out.contains("ufsFingerprint=TYPE:FILE"), "{out}");
    let cat = shell.fs(&["cat", "/data/a.csv"]);
    assert_eq!(cat.expect_bytes("cat of a loaded file"), csv.as_slice());
    let cat = shell.fs(&["cat", "/data/sub/big.bin"]);
    assert!(cat.expect_bytes("cat of a 4-block loaded file") == big.as_slice(), "other bytes");
    let out = shell.fs(&["ls", "-R", "/"]).expect_ok("ls -R");
    for path in ["/top.txt", "/data/a.csv", "/data/sub/big.bin"] {
        assert!(out.contains(path), "{path} missing from {out}");
    }

    // Added after /data was listed: ONCE does not look again, ALWAYS (ls -f) does.
    put(ufs.path(), "data/late.csv", b"late\n");
    let out = shell.fs(&["ls", "/data"]).expect_ok("ls");
    assert!(!out.contains("late.csv"), "ONCE listed a listed folder again: {out}");
    shell.fs(&["stat", "/data/late.csv"]).expect_failure("ONCE: its folder was listed whole");
    let out = shell.fs(&["ls", "-f", "/data"]).expect_ok("ls -f");
    assert!(out.contains("/data/late.csv"), "{out}");
    put(ufs.path(), "data/sub/later.csv", b"later\n");
    put(ufs.path(), "new/deep/x.csv", b"x\n");
    shell.fs(&["loadMetadata", "-R", "/"]).expect_ok("loadMetadata -R /");
    let out = shell.fs(&["ls", "-R", "/"]).expect_ok("ls -R");
    assert!(out.contains("/data/sub/later.csv") && out.contains("/new/deep/x.csv"), "{out}");
    let listing = |out: &str| out.lines().filter(|l| l.contains(" /")).count();
    let before = listing(&out);

    // Journaled: the standby that takes over knows every loaded inode, once.
    let leader = cluster.leader(None).await;
    cluster.kill(leader);
    cluster.leader(Some(leader)).await;
    let out = shell.fs(&["ls", "-R", "/"]).expect_ok("ls -R on the new leader");
    assert_eq!(listing(&out), before, "{out}");
    let cat = shell.fs(&["cat", "/data/late.csv"]);
    assert_eq!(cat.expect_bytes("cat on the new leader"), b"late\n");
}

/// With `alluxio.user.file.metadata.load.type=NEVER` on the masters (and a client that does
/// not say), the UFS is never asked; a client that asks for ONCE gets the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn never_leaves_the_ufs_alone_unless_a_client_asks() {
    let ufs = tempfile::tempdir().unwrap();
    put(ufs.path(), "only-in-ufs.txt", b"hello\n");
    let cluster = cluster(ufs.path(), &[("alluxio.user.file.metadata.load.type", "NEVER")]).await;
    let client = cluster.client();
    assert!(!client.exists("/only-in-ufs.txt").await.unwrap());
    assert!(client.list_status("/", false).await.unwrap().is_empty());
    let shell = shell(&cluster, &[("alluxio.user.file.metadata.load.type", "ONCE")]);
    let out = shell.fs(&["ls", "/"]).expect_ok("ls with ONCE");
    assert!(out.contains("/only-in-ufs.txt"), "{out}");
    let mut read = Vec::new();
    data::read_file(&client, "/only-in-ufs.txt", 0, None, &mut read, &|_| {}).await.unwrap();
    assert_eq!(read, b"hello\n");
}

/// A folder of thousands of files is loaded once when clients list it at the same time, and
/// when the leader is killed in the middle of loading it, the new leader finishes the load:
/// every file once, none twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_big_folder_is_loaded_once_through_concurrent_listings_and_a_leader_kill() {
    const FILES: usize = 40_000;
    let ufs = tempfile::tempdir().unwrap();
    for folder in ["together", "killed"] {
        for i in 0..FILES {
            put(ufs.path(), &format!("{folder}/f{i:05}"), &[(i % 251) as u8; 3]);
        }
    }
    let mut cluster = cluster(ufs.path(), &[]).await;
    let client = cluster.client();

    let listings = (0..3).map(|_| {
        let client = cluster.client();
        tokio::spawn(async move { client.list_status("/together", false).await.unwrap() })
    });
    for listing in futures_util::future::join_all(listings).await {
        assert_distinct(listing.unwrap(), FILES);
    }

    // kill -9 of the leader once the load has journaled its first entries.
    let leader = cluster.leader(None).await;
    let leader_web = web_port(&cluster, leader).await;
    let before = loaded(leader_web);
    let listing = tokio::spawn(async move { client.list_status("/killed", false).await });
    let deadline = Instant::now() + Duration::from_secs(60);
    // More than the folder itself (its own load entry comes first): a batch of its files.
    while loaded(leader_web) <= before + 1 {
        assert!(Instant::now() < deadline, "the load journaled nothing");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    cluster.kill(leader);
    let entries = listing.await.unwrap().expect("the listing retried on the new leader");
    assert_distinct(entries, FILES);
    // The new leader loaded the rest: the kill landed half way through the load.
    let new_leader = cluster.leader(Some(leader)).await;
    let finished = loaded(web_port(&cluster, new_leader).await);
    assert!(finished > 0 && finished < FILES as u64, "the new leader loaded {finished}");
    let again = cluster.client().list_status("/killed", false).await.unwrap();
    assert_distinct(again, FILES);
}

fn assert_distinct(listing: Vec<lode_core::rpc::alluxio::grpc::file::FileInfo>, count: usize) {
    let mut names: Vec<String> = listing.into_iter().map(|info| info.name().to_string()).collect();
    assert_eq!(names.len(), count, "entries listed");
    names.sort();
    names.dedup();
    assert_eq!(names.len(), count, "a name was listed twice");
}

async fn web_port(cluster: &Cluster, index: usize) -> u16 {
    let statuses = cluster.statuses().await;
    statuses.iter().find(|(i, _)| *i == index).unwrap().1.web_port as u16
}

/// How many inodes the master on `web_port` has loaded, from its metrics.
fn loaded(web_port: u16) -> u64 {
    let metrics = lode_tests::http_get(web_port, "/metrics").unwrap_or_default();
    metrics
        .lines()
        .find(|line| line.starts_with("lode_master_metadata_loaded_total"))
        .and_then(|line| line.split_whitespace().last()?.parse().ok())
        .unwrap_or(0)
}

/// With a sync interval (the stock shell's `alluxio.user.file.metadata.sync.interval=0`,
/// `loadMetadata -F`, `lode fs ls --sync`), changes made in the UFS outside Lode show: a
/// changed file reads its new bytes (never a cached block of the old ones), a deleted one
/// goes, a new one comes; what only Lode holds stays. Without one (-1, the default) the
/// namespace keeps what it loaded.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sync_shows_what_changed_in_the_ufs_and_keeps_what_only_lode_holds() {
    let ufs = tempfile::tempdir().unwrap();
    put(ufs.path(), "data/changing.csv", b"old,content\n");
    put(ufs.path(), "data/going.csv", b"going\n");
    put(ufs.path(), "data/gone/deep.csv", b"deep\n");
    let cluster = cluster(ufs.path(), &[]).await;
    let shell = shell(&cluster, &[]);
    let syncing = shell_with_sync(&cluster);
    let cat = shell.fs(&["cat", "/data/changing.csv"]);
    assert_eq!(cat.expect_bytes("cat, caching the old content"), b"old,content\n");
    shell.fs(&["ls", "-R", "/data"]).expect_ok("ls -R, loading everything");
    let mut source: &[u8] = b"only in lode";
    let client = cluster.client().with_write_type(lode_client::master::WriteType::MustCache);
    data::write_file(&client, "/data/mine", &mut source, None, &|_| {}).await.unwrap();

    put(ufs.path(), "data/changing.csv", b"new,longer,content\n");
    std::fs::remove_file(ufs.path().join("data/going.csv")).unwrap();
    std::fs::remove_dir_all(ufs.path().join("data/gone")).unwrap();
    put(ufs.path(), "data/new.csv", b"new\n");
    let out = shell.fs(&["ls", "/data"]).expect_ok("ls without a sync");
    assert!(out.contains("going.csv") && !out.contains("new.csv"), "{out}");
    let out = shell.fs(&["checkConsistency", "/data"]).expect_ok("checkConsistency");
    for path in ["/data/changing.csv", "/data/going.csv", "/data/gone/deep.csv"] {
        assert!(out.contains(path), "{path} not reported: {out}");
    }
    assert!(!out.contains("/data/mine"), "{out}");

    let cat = syncing.fs(&["cat", "/data/changing.csv"]);
    assert_eq!(cat.expect_bytes("cat with a sync"), b"new,longer,content\n");
    let out = syncing.fs(&["ls", "/data"]).expect_ok("ls with a sync");
    assert!(out.contains("/data/new.csv") && out.contains("/data/mine"), "{out}");
    assert!(!out.contains("going.csv") && !out.contains("/data/gone"), "{out}");
    let cat = shell.fs(&["cat", "/data/changing.csv"]);
    assert_eq!(cat.expect_bytes("cat after the sync"), b"new,longer,content\n");
    let out = shell.fs(&["checkConsistency", "/data"]).expect_ok("checkConsistency");
    assert!(out.contains("/data is consistent with the under storage system"), "{out}");

    // loadMetadata -F, and Lode's own shell, sync too.
    put(ufs.path(), "data/newer.csv", b"newer\n");
    std::fs::remove_file(ufs.path().join("data/new.csv")).unwrap();
    shell.fs(&["loadMetadata", "-F", "/data"]).expect_ok("loadMetadata -F");
    let names: Vec<String> = cluster
        .client()
        .list_status("/data", false)
        .await
        .unwrap()
        .into_iter()
        .map(|info| info.name().to_string())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in ["changing.csv", "mine", "newer.csv"] {
        assert!(names.iter().any(|n| n == name), "{name} missing from {names:?}");
    }
    std::fs::remove_file(ufs.path().join("data/newer.csv")).unwrap();
    let client = cluster.client();
    let out = lode_client::fs::ls(&client, "/data", false, false, false).await.unwrap();
    assert!(out.contains("newer.csv"), "{out}");
    let out = lode_client::fs::ls(&client, "/data", false, false, true).await.unwrap();
    assert!(!out.contains("newer.csv") && out.contains("/data/mine"), "lode fs ls --sync: {out}");
}

/// The stock shell with a sync interval of 0: every call syncs.
fn shell_with_sync(cluster: &Cluster) -> AlluxioClient {
    shell(cluster, &[("alluxio.user.file.metadata.sync.interval", "0")])
}

/// `alluxio fs load` and `lode fs load` cache every block of loaded files ahead of use (100 %
/// in Alluxio), a second load finds them so, and `fs location` names the worker holding them.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_warms_the_cache_ahead_of_use() {
    let ufs = tempfile::tempdir().unwrap();
    let big = object_content(11, (3 << 20) + 7);
    put(ufs.path(), "warm/big.bin", &big);
    put(ufs.path(), "warm/small.csv", b"a,b\n");
    let cluster = cluster(ufs.path(), &[]).await;
    let shell = shell(&cluster, &[]);
    let out = shell.fs(&["load", "/warm"]).expect_ok("alluxio fs load");
    assert!(
        out.contains("/warm/big.bin loaded") && out.contains("/warm/small.csv loaded"),
        "{out}"
    );
    let out = shell.fs(&["ls", "/warm"]).expect_ok("ls");
    assert_eq!(out.matches(" 100% ").count(), 2, "{out}");
    let out = shell.fs(&["load", "/warm/big.bin"]).expect_ok("load again");
    assert!(out.contains("already in Alluxio fully"), "{out}");
    let out = shell.fs(&["location", "/warm/big.bin"]).expect_ok("location");
    assert!(out.contains("127.0.0.1") || out.contains("localhost"), "{out}");

    let client = cluster.client();
    client.free("/warm", true).await.unwrap();
    // Until the worker has dropped the freed blocks (its next heartbeat carries the order).
    let deadline = Instant::now() + Duration::from_secs(30);
    while worker_blocks(&client).await != 0 {
        assert!(Instant::now() < deadline, "free left blocks cached");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(in_alluxio(&client, "/warm/big.bin").await, 0);
    let out = lode_client::copy::load(&client, "/warm").await.unwrap();
    assert!(out.contains("/warm/big.bin loaded") && out.contains("/warm loaded"), "{out}");
    assert_eq!(in_alluxio(&client, "/warm/big.bin").await, 100);
    let mut read = Vec::new();
    data::read_file(&client, "/warm/big.bin", 0, None, &mut read, &|_| {}).await.unwrap();
    assert!(read == big, "other bytes");
}

async fn in_alluxio(client: &lode_client::master::MasterClient, path: &str) -> i32 {
    client.get_status(path).await.unwrap().in_alluxio_percentage()
}

/// How many blocks the cluster's (only) worker caches, from its metrics.
async fn worker_blocks(client: &lode_client::master::MasterClient) -> u64 {
    let infos = client.worker_infos().await.unwrap();
    let port = infos[0].address.as_ref().and_then(|a| a.web_port).expect("a web port");
    let metrics = lode_tests::http_get(port as u16, "/metrics").expect("the worker's /metrics");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("lode_worker_blocks "))
        .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
}

/// Lode's client reads a loaded file with Alluxio's read types: NO_CACHE streams it from the UFS
/// through a worker that keeps nothing; CACHE (the default) leaves it cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lodes_client_reads_with_alluxios_read_types() {
    let ufs = tempfile::tempdir().unwrap();
    let bytes = object_content(5, (2 << 20) + 3);
    put(ufs.path(), "typed.bin", &bytes);
    let cluster = cluster(ufs.path(), &[]).await;
    let addresses = cluster.client_config();
    let addresses = addresses.string("alluxio.master.rpc.addresses").unwrap();
    let config = lode_core::config::Config::from_pairs([
        ("alluxio.master.rpc.addresses", addresses),
        ("alluxio.user.file.readtype.default", "NO_CACHE"),
    ])
    .unwrap();
    let no_cache = lode_client::master::MasterClient::from_config(&config).unwrap();
    let mut read = Vec::new();
    data::read_file(&no_cache, "/typed.bin", 0, None, &mut read, &|_| {}).await.unwrap();
    assert!(read == bytes, "NO_CACHE read other bytes");
    assert_eq!(in_alluxio(&no_cache, "/typed.bin").await, 0, "NO_CACHE kept blocks");
    assert_eq!(worker_blocks(&no_cache).await, 0);
    let client = cluster.client();
    let mut read = Vec::new();
    data::read_file(&client, "/typed.bin", 0, None, &mut read, &|_| {}).await.unwrap();
    assert!(read == bytes, "CACHE read other bytes");
    assert_eq!(in_alluxio(&client, "/typed.bin").await, 100);
}

/// A UFS file changed outside Lode after it was loaded (same length, other bytes, a later
/// modification time) is never served as a mix of its old and new content: a read that needs a
/// block not cached yet fails naming the change, that block is not kept, and once the folder is
/// synced the new content reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ufs_file_changed_outside_lode_is_never_served_mixed() {
    let ufs = tempfile::tempdir().unwrap();
    let old = object_content(11, 3 << 20);
    put(ufs.path(), "data/f.bin", &old);
    let cluster = cluster(ufs.path(), &[]).await;
    let client = cluster.client();
    let mut first = Vec::new();
    data::read_file(&client, "/data/f.bin", 0, Some(1 << 20), &mut first, &|_| {}).await.unwrap();
    assert!(first == old[..1 << 20], "the first block read back other bytes");
    assert_eq!(in_alluxio(&client, "/data/f.bin").await, 33, "only the first block is cached");

    let new = object_content(12, 3 << 20);
    put(ufs.path(), "data/f.bin", &new);
    let later = std::time::SystemTime::now() + Duration::from_secs(10);
    let file = std::fs::File::options().write(true).open(ufs.path().join("data/f.bin")).unwrap();
    file.set_modified(later).unwrap();
    let mut whole = Vec::new();
    let read = data::read_file(&client, "/data/f.bin", 0, None, &mut whole, &|_| {}).await;
    let error = read.expect_err("a read of old and new content succeeded").to_string();
    assert!(error.contains("changed since Lode persisted or loaded it"), "{error}");
    let cached = in_alluxio(&client, "/data/f.bin").await;
    assert_eq!(cached, 33, "a block of the new content was kept");

    client.load_metadata("/data", false, true).await.unwrap();
    let mut back = Vec::new();
    data::read_file(&client, "/data/f.bin", 0, None, &mut back, &|_| {}).await.unwrap();
    assert!(back == new, "after a sync, other bytes than the new content");
}
