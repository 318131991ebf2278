//! Persistence through faults: an under-file-system that refuses a file leaves it
//! TO_BE_PERSISTED, retried and shown on the leader's web UI until the UFS takes it; a file
//! whose only cached copy is lost before it was persisted becomes LOST, never PERSISTED; a
//! worker killed mid-persist leaves the file to another attempt, which also removes the killed
//! attempt's temporary file. And CACHE_THROUGH's two ways into the UFS (blocks streamed, or
//! written in place and appended from the worker's cache) put the same bytes there.

use std::path::Path;
use std::time::{Duration, Instant};

use lode_client::data;
use lode_client::master::{MasterClient, WriteType};
use lode_tests::cluster::{Cluster, Election};
use lode_tests::object_content;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");

/// Two masters (embedded elector) with `ufs` as the root UFS, fast retries, and a worker.
async fn cluster(ufs: &Path) -> Cluster {
    let site: Vec<(String, String)> = [
        ("alluxio.master.mount.table.root.ufs", ufs.display().to_string()),
        ("alluxio.master.persistence.initial.interval", "100ms".into()),
        ("alluxio.master.persistence.max.interval", "500ms".into()),
        ("alluxio.master.worker.connect.wait.time", "1s".into()),
    ]
    .into_iter()
    .map(|(key, value)| (key.to_string(), value))
    .collect();
    let election = Election::Embedded { lease_timeout: "2s".into() };
    let mut cluster = Cluster::start_on(2, election, &site, HELPER);
    cluster.start_worker();
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    cluster
}

/// Writes `bytes` as `path` with the client's default write type (ASYNC_THROUGH).
async fn write(client: &MasterClient, path: &str, bytes: &[u8]) {
    let mut source = bytes;
    data::write_file(client, path, &mut source, Some(1 << 20), &|_| {}).await.unwrap();
}

async fn persistence(client: &MasterClient, path: &str) -> String {
    client.get_status(path).await.unwrap().persistence_state().to_string()
}

/// Waits (a minute at most) until `path` is `state`.
async fn wait_for(client: &MasterClient, path: &str, state: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while persistence(client, path).await != state {
        assert!(Instant::now() < deadline, "{path} never became {state}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The leader's web UI overview.
async fn overview(cluster: &Cluster) -> String {
    let leader = cluster.leader(None).await;
    let statuses = cluster.statuses().await;
    let status = &statuses.iter().find(|(i, _)| *i == leader).unwrap().1;
    lode_tests::http_get(status.web_port as u16, "/").expect("the leader's web UI")
}

/// A UFS that cannot take a file (a file stands where its folder must go) leaves it
/// TO_BE_PERSISTED with the reason on the leader's web UI; once the UFS can, a retry persists it
/// whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_persist_is_retried_until_the_ufs_takes_the_file() {
    let ufs = tempfile::tempdir().unwrap();
    std::fs::write(ufs.path().join("blocked"), b"a file where a folder must go").unwrap();
    let cluster = cluster(ufs.path()).await;
    let client = cluster.client();
    let data = object_content(1, 3 << 20);
    client.create_directory("/blocked", false, false).await.unwrap();
    write(&client, "/blocked/f", &data).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = overview(&cluster).await;
        if page.contains("persist-failures") {
            assert!(page.contains("1 files awaiting persistence"), "{page}");
            break;
        }
        assert!(Instant::now() < deadline, "no persist failure shown: {page}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(persistence(&client, "/blocked/f").await, "TO_BE_PERSISTED");
    std::fs::remove_file(ufs.path().join("blocked")).unwrap();
    wait_for(&client, "/blocked/f", "PERSISTED").await;
    assert!(std::fs::read(ufs.path().join("blocked/f")).unwrap() == data, "other bytes");
    assert!(!overview(&cluster).await.contains("persist-failures"));
}

/// A file whose only cached copy goes (its worker replaced by one with an empty cache) before
/// it could be persisted becomes LOST, and stays LOST once the UFS could take it: nothing is
/// persisted that is not the file's data. Reading it names its state.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_lost_before_it_was_persisted_is_lost_never_persisted() {
    let ufs = tempfile::tempdir().unwrap();
    std::fs::write(ufs.path().join("blocked"), b"a file where a folder must go").unwrap();
    let mut cluster = cluster(ufs.path()).await;
    let client = cluster.client();
    client.create_directory("/blocked", false, false).await.unwrap();
    write(&client, "/blocked/f", &object_content(2, 1000)).await;
    cluster.kill_worker(0);
    std::fs::remove_dir_all(cluster.worker_tier(0)).unwrap();
    cluster.restart_worker(0);
    cluster.wait_workers_registered().await;
    wait_for(&client, "/blocked/f", "LOST").await;
    std::fs::remove_file(ufs.path().join("blocked")).unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(persistence(&client, "/blocked/f").await, "LOST");
    assert!(!ufs.path().join("blocked/f").exists(), "a LOST file was written to the UFS");
    let mut sink = Vec::new();
    let error = data::read_file(&client, "/blocked/f", 0, None, &mut sink, &|_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(error.contains("LOST"), "{error}");
}

/// How many cached blocks worker 0 has appended to UFS files (its
/// `lode_worker_ufs_cached_block_appends_total`).
async fn cached_block_appends(client: &MasterClient) -> u64 {
    worker_counter(client, "lode_worker_ufs_cached_block_appends_total").await
}

/// A CACHE_THROUGH write puts the same bytes in the UFS whether its blocks are written in place
/// on the worker's host (each then appended to the UFS file from the worker's cache, no data
/// through the stream) or streamed: three blocks, the last one short, and an empty file.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_through_in_place_or_streamed_puts_the_same_bytes_in_the_ufs() {
    let ufs = tempfile::tempdir().unwrap();
    let cluster = cluster(ufs.path()).await;
    let data = object_content(4, (5 << 20) / 2);
    for (short_circuit, name, appends) in [(true, "in-place", 3), (false, "streamed", 0)] {
        let client = cluster
            .client()
            .with_write_type(WriteType::CacheThrough)
            .with_short_circuit(short_circuit);
        let before = cached_block_appends(&client).await;
        write(&client, &format!("/{name}"), &data).await;
        assert_eq!(persistence(&client, &format!("/{name}")).await, "PERSISTED", "{name}");
        assert!(std::fs::read(ufs.path().join(name)).unwrap() == data, "{name}: other bytes");
        assert_eq!(cached_block_appends(&client).await - before, appends, "{name}");
        let mut cached = Vec::new();
        data::read_file(&client, &format!("/{name}"), 0, None, &mut cached, &|_| {}).await.unwrap();
        assert!(cached == data, "{name}: other bytes cached");
        write(&client, &format!("/{name}-empty"), &[]).await;
        assert_eq!(std::fs::read(ufs.path().join(format!("{name}-empty"))).unwrap(), b"");
    }
    assert_eq!(temporaries(ufs.path()), Vec::<String>::new());
}

/// Worker 0's counter `metric` (a Prometheus sample name with its labels), 0 when absent.
async fn worker_counter(client: &MasterClient, metric: &str) -> u64 {
    let infos = client.worker_infos().await.unwrap();
    let port = infos[0].address.as_ref().and_then(|a| a.web_port).expect("a web port");
    let metrics = lode_tests::http_get(port as u16, "/metrics").expect("the worker's /metrics");
    let prefix = format!("{metric} ");
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .map_or(0, |value| value.trim().parse::<f64>().unwrap() as u64)
}

/// A freed (uncached) persisted file read whole on the worker's host is cached block by block
/// by the worker (`Cache`) and read in place, no block streamed; a part of a block is streamed
/// as the worker reads it (and its block cached); both give the file's bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cold_read_on_the_workers_host_caches_blocks_and_reads_them_in_place() {
    let ufs = tempfile::tempdir().unwrap();
    let cluster = cluster(ufs.path()).await;
    let client = cluster.client().with_write_type(WriteType::CacheThrough);
    let data = object_content(6, (7 << 20) / 2);
    write(&client, "/cold", &data).await;
    let streamed = r#"lode_worker_block_reads_total{path="stream"}"#;
    let in_place = r#"lode_worker_block_reads_total{path="short-circuit"}"#;
    for (offset, length, streams, in_places) in [(0, None, 0, 4), ((3 << 20) / 2, Some(1000), 1, 0)]
    {
        client.free("/cold", false).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(60);
        while client.worker_infos().await.unwrap()[0].used_bytes() != 0 {
            assert!(Instant::now() < deadline, "the freed blocks stay cached");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let before =
            (worker_counter(&client, streamed).await, worker_counter(&client, in_place).await);
        let mut read = Vec::new();
        data::read_file(&client, "/cold", offset, length, &mut read, &|_| {}).await.unwrap();
        let end = length.map_or(data.len(), |l| (offset + l) as usize);
        assert!(read == data[offset as usize..end], "{offset}+{length:?}: other bytes");
        let after =
            (worker_counter(&client, streamed).await, worker_counter(&client, in_place).await);
        assert_eq!((after.0 - before.0, after.1 - before.1), (streams, in_places), "{offset}");
    }
    // The part read cached its whole block.
    let status = client.get_status("/cold").await.unwrap();
    let placed = |i: usize| {
        status.file_block_infos[i].block_info.as_ref().is_some_and(|b| !b.locations.is_empty())
    };
    assert!(placed(1) && !placed(0), "{:?}", status.file_block_infos);
}

/// `Cache` names what is missing: a block with nowhere in a UFS to read it from, or only another
/// worker to copy it from (Lode's workers cache from UFSes only).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cache_requests_without_a_ufs_source_are_refused() {
    use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
    use lode_core::rpc::alluxio::grpc::block::CacheRequest;
    let ufs = tempfile::tempdir().unwrap();
    let cluster = cluster(ufs.path()).await;
    let address = format!("http://{}", cluster.workers[0].address);
    let mut worker = BlockWorkerClient::connect(address).await.unwrap();
    let request = CacheRequest { block_id: Some(7), ..Default::default() };
    let status = worker.cache(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("open_ufs_block_options"), "{status:?}");
    let request = CacheRequest {
        block_id: Some(7),
        source_host: Some("127.0.0.1".into()),
        source_port: Some(29999),
        ..Default::default()
    };
    let status = worker.cache(request).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unimplemented, "{status:?}");
}

/// `WriteBlock` on worker 0 with `commands`, each its own message; the call's status.
async fn write_commands(
    cluster: &Cluster,
    commands: Vec<lode_core::rpc::alluxio::grpc::block::WriteRequestCommand>,
) -> tonic::Status {
    use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
    use lode_core::rpc::alluxio::grpc::block::write_request::Value;
    use lode_core::rpc::alluxio::grpc::block::WriteRequest;
    let address = format!("http://{}", cluster.workers[0].address);
    let mut worker = BlockWorkerClient::connect(address).await.unwrap();
    let requests = commands
        .into_iter()
        .map(|command| WriteRequest { value: Some(Value::Command(command)) })
        .collect::<Vec<_>>();
    match worker.write_block(tokio_stream::iter(requests)).await {
        Ok(replies) => {
            let mut replies = replies.into_inner();
            loop {
                match replies.message().await {
                    Ok(Some(_)) => continue,
                    Ok(None) => return tonic::Status::ok(""),
                    Err(status) => return status,
                }
            }
        }
        Err(status) => status,
    }
}

/// Lode's `append_cached_block` is refused, naming what was wrong, for a block the worker does
/// not cache (nothing appears in the UFS) and outside a UFS file's stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn appending_a_block_the_worker_does_not_cache_is_refused() {
    use lode_core::rpc::alluxio::grpc::block::{
        CreateUfsFileOptions, RequestType, WriteRequestCommand,
    };
    let ufs = tempfile::tempdir().unwrap();
    let cluster = cluster(ufs.path()).await;
    let ufs_file = WriteRequestCommand {
        r#type: Some(RequestType::UfsFile as i32),
        create_ufs_file_options: Some(CreateUfsFileOptions {
            ufs_path: Some(ufs.path().join("appended").display().to_string()),
            mount_id: Some(1),
            ..Default::default()
        }),
        ..Default::default()
    };
    let append =
        |block| WriteRequestCommand { append_cached_block: Some(block), ..Default::default() };
    let status = write_commands(&cluster, vec![ufs_file, append(987_654_321)]).await;
    assert_eq!(status.code(), tonic::Code::FailedPrecondition, "{status:?}");
    assert!(status.message().contains("block 987654321 is not cached"), "{status:?}");
    assert_eq!(std::fs::read_dir(ufs.path()).unwrap().count(), 0, "something was left in the UFS");
    let block = WriteRequestCommand {
        r#type: Some(RequestType::AlluxioBlock as i32),
        id: Some(12_345),
        ..Default::default()
    };
    let status = write_commands(&cluster, vec![block, append(12_345)]).await;
    assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
    assert!(status.message().contains("append_cached_block"), "{status:?}");
}

/// The temporary files (Alluxio's `.alluxio.0x….tmp` names) of writes in the UFS folder
/// `folder` (writes through) and in its staging folder (persisting workers).
fn temporaries(folder: &Path) -> Vec<String> {
    let staging = folder.join(lode_ufs::STAGING_FOLDER);
    [folder, staging.as_path()]
        .iter()
        .filter_map(|folder| std::fs::read_dir(folder).ok())
        .flat_map(|entries| entries.flatten())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.contains(".alluxio.0x"))
        .collect()
}

/// A worker killed while it copies a file into the UFS (stopped the moment its temporary file
/// appears, then killed) and restarted with its cache: the file is persisted by another
/// attempt, whole, and the killed attempt's temporary file is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_killed_mid_persist_leaves_the_file_to_another_attempt() {
    let ufs = tempfile::tempdir().unwrap();
    let mut cluster = cluster(ufs.path()).await;
    cluster.kill_worker(0);
    let big = cluster.start_worker_with_capacity("1GB");
    cluster.wait_workers_registered().await;
    let worker = cluster.worker_process(big).unwrap().pid() as i32;
    let folder = ufs.path().to_path_buf();
    let watcher = std::thread::spawn(move || loop {
        if !temporaries(&folder).is_empty() {
            // SAFETY: a plain signal to the worker this test started.
            unsafe { libc::kill(worker, libc::SIGSTOP) };
            return;
        }
        std::thread::sleep(Duration::from_millis(1));
    });
    let client = cluster.client();
    let data = object_content(3, 384 << 20);
    write(&client, "/big", &data).await;
    tokio::task::spawn_blocking(move || watcher.join().unwrap()).await.unwrap();
    assert!(
        !ufs.path().join("big").exists(),
        "persisted before the worker could be stopped: the test needs a bigger file"
    );
    assert_eq!(persistence(&client, "/big").await, "TO_BE_PERSISTED");
    cluster.kill_worker(big);
    cluster.restart_worker(big);
    wait_for(&client, "/big", "PERSISTED").await;
    assert!(std::fs::read(ufs.path().join("big")).unwrap() == data, "other bytes in the UFS");
    assert_eq!(temporaries(ufs.path()), Vec::<String>::new(), "a temporary file stayed");
}
