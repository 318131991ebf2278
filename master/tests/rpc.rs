//! The master's gRPC services, called over real connections the way Alluxio clients call them.

use std::time::{Duration, Instant, SystemTime};

use lode_core::rpc::alluxio::grpc::block::block_master_client_service_client::BlockMasterClientServiceClient;
use lode_core::rpc::alluxio::grpc::block::GetWorkerInfoListPOptions;

use lode_core::config::Config;
use lode_core::rpc::alluxio::grpc::file::file_system_master_client_service_client::FileSystemMasterClientServiceClient as FsClient;
use lode_core::rpc::alluxio::grpc::file::*;
use lode_core::rpc::alluxio::grpc::meta::meta_master_client_service_client::MetaMasterClientServiceClient;
use lode_core::rpc::alluxio::grpc::meta::GetMasterInfoPOptions;
use lode_core::rpc::alluxio::grpc::version::service_version_client_service_client::ServiceVersionClientServiceClient;
use lode_core::rpc::alluxio::grpc::version::{GetServiceVersionPRequest, ServiceType};
use lode_core::rpc::lode::master::lode_master_service_client::LodeMasterServiceClient;
use lode_core::rpc::lode::master::{GetMasterStatusRequest, Role as WireRole};
use lode_master::rpc::pmode_from_mode;
use lode_master::{start, Role, RunningMaster};
use tokio::sync::oneshot;
use tonic::transport::Channel;
use tonic::Code;

async fn master(dir: &std::path::Path) -> (RunningMaster, oneshot::Sender<()>) {
    master_with(dir, &[]).await
}

/// A master in `dir` with `extra` properties on top of the test defaults.
async fn master_with(
    dir: &std::path::Path,
    extra: &[(&str, &str)],
) -> (RunningMaster, oneshot::Sender<()>) {
    let mut pairs = vec![
        ("alluxio.work.dir", dir.display().to_string()),
        ("alluxio.master.hostname", "127.0.0.1".to_string()),
        ("alluxio.master.bind.host", "127.0.0.1".to_string()),
        ("alluxio.master.rpc.port", "0".to_string()),
        ("alluxio.master.web.port", "0".to_string()),
        ("alluxio.master.election.lease.timeout", "1s".to_string()),
    ];
    pairs.extend(extra.iter().map(|(key, value)| (*key, value.to_string())));
    let config = Config::from_pairs(pairs).unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let running = start(config, async move {
        let _ = stopped.await;
    })
    .await
    .unwrap();
    (running, stop)
}

async fn channel(running: &RunningMaster) -> Channel {
    let uri = format!("http://{}", running.node.member().address);
    Channel::from_shared(uri).unwrap().connect().await.unwrap()
}

async fn until_leader(running: &RunningMaster) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !matches!(running.node.role(), Role::Leader { .. }) {
        assert!(Instant::now() < deadline, "no leader");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn op(call: i64) -> Option<FileSystemMasterCommonPOptions> {
    Some(FileSystemMasterCommonPOptions {
        operation_id: Some(FsOpPId {
            most_significant_bits: Some(42),
            least_significant_bits: Some(call),
        }),
        ..Default::default()
    })
}

/// Creates an empty file at `path` and completes it as the stock client does for its default
/// write type, ASYNC_THROUGH (with `asyncPersistOptions`).
async fn write_async_through(fs: &mut FsClient<Channel>, path: &str) {
    let create = CreateFilePRequest { path: Some(path.into()), options: None };
    fs.create_file(create).await.unwrap();
    let complete = CompleteFilePRequest {
        path: Some(path.into()),
        options: Some(CompleteFilePOptions {
            ufs_length: Some(0),
            async_persist_options: Some(ScheduleAsyncPersistencePOptions::default()),
            ..Default::default()
        }),
    };
    fs.complete_file(complete).await.unwrap();
}

/// Every served file system call works over gRPC, errors carry Alluxio's status codes, and a
/// call retried with the same operation id returns the first answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_file_system_service_speaks_alluxios_protocol() {
    let dir = tempfile::tempdir().unwrap();
    let (leader, stop) = master(dir.path()).await;
    until_leader(&leader).await;
    let mut fs = FsClient::new(channel(&leader).await);

    let mkdir = |path: &str, recursive| CreateDirectoryPRequest {
        path: Some(path.into()),
        options: Some(CreateDirectoryPOptions {
            recursive: Some(recursive),
            mode: Some(pmode_from_mode(0o750)),
            ..Default::default()
        }),
    };
    fs.create_directory(mkdir("/data/in", true)).await.unwrap();
    let err = fs.create_directory(mkdir("/data/in", false)).await.unwrap_err();
    assert_eq!(err.code(), Code::AlreadyExists);
    assert_eq!(fs.create_directory(mkdir("/x/y", false)).await.unwrap_err().code(), Code::NotFound);
    assert_eq!(
        fs.create_directory(mkdir("/bad//path", true)).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let create = CreateFilePRequest {
        path: Some("/data/in/part-0".into()),
        options: Some(CreateFilePOptions {
            block_size_bytes: Some(1 << 20),
            common_options: op(1),
            ..Default::default()
        }),
    };
    let created = fs.create_file(create.clone()).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!(
        (created.completed, created.folder, created.block_size_bytes),
        (Some(false), Some(false), Some(1 << 20))
    );
    let retried = fs.create_file(create).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!(
        retried.file_id, created.file_id,
        "a retry with the same operation id gets the first answer"
    );

    let block = fs
        .get_new_block_id_for_file(GetNewBlockIdForFilePRequest {
            path: Some("/data/in/part-0".into()),
            options: None,
        })
        .await
        .unwrap()
        .into_inner()
        .id
        .unwrap();
    assert_eq!(
        block >> 24,
        created.file_id.unwrap() >> 24,
        "a block belongs to its file's container"
    );
    let complete = CompleteFilePRequest {
        path: Some("/data/in/part-0".into()),
        options: Some(CompleteFilePOptions { ufs_length: Some(12345), ..Default::default() }),
    };
    fs.complete_file(complete.clone()).await.unwrap();
    assert_eq!(fs.complete_file(complete).await.unwrap_err().code(), Code::FailedPrecondition);
    // Without an under-file-system, ASYNC_THROUGH has nowhere to persist to: cache only.
    write_async_through(&mut fs, "/async").await;
    let status = GetStatusPRequest { path: Some("/async".into()), options: None };
    let info = fs.get_status(status).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!(info.persistence_state.as_deref(), Some("NOT_PERSISTED"));

    let status = fs
        .get_status(GetStatusPRequest { path: Some("/data/in/part-0".into()), options: None })
        .await
        .unwrap()
        .into_inner()
        .file_info
        .unwrap();
    assert_eq!(
        (status.length, status.completed, status.block_ids),
        (Some(12345), Some(true), vec![block])
    );
    let dir_status = fs
        .get_status(GetStatusPRequest { path: Some("/data/in".into()), options: None })
        .await
        .unwrap();
    assert_eq!(dir_status.into_inner().file_info.unwrap().mode, Some(0o750));

    let exists = |path: &str| ExistsPRequest { path: Some(path.into()), options: None };
    assert_eq!(fs.exists(exists("/data/in/part-0")).await.unwrap().into_inner().exists, Some(true));
    assert_eq!(fs.exists(exists("/data/nope")).await.unwrap().into_inner().exists, Some(false));

    fs.rename(RenamePRequest {
        path: Some("/data/in".into()),
        dst_path: Some("/data/out".into()),
        options: None,
    })
    .await
    .unwrap();
    fs.set_attribute(SetAttributePRequest {
        path: Some("/data".into()),
        options: Some(SetAttributePOptions {
            owner: Some("bob".into()),
            recursive: Some(true),
            ..Default::default()
        }),
    })
    .await
    .unwrap();
    let pin = SetAttributePRequest {
        path: Some("/data".into()),
        options: Some(SetAttributePOptions { pinned: Some(true), ..Default::default() }),
    };
    assert_eq!(fs.set_attribute(pin).await.unwrap_err().code(), Code::Unimplemented);

    let mut listing = fs
        .list_status(ListStatusPRequest {
            path: Some("/data".into()),
            options: Some(ListStatusPOptions { recursive: Some(true), ..Default::default() }),
        })
        .await
        .unwrap()
        .into_inner();
    let mut paths = Vec::new();
    while let Some(batch) = listing.message().await.unwrap() {
        for info in batch.file_infos {
            assert_eq!(info.owner.as_deref(), Some("bob"));
            paths.push(info.path.unwrap());
        }
    }
    assert_eq!(paths, ["/data/out", "/data/out/part-0"]);

    let remove = |recursive| DeletePRequest {
        path: Some("/data".into()),
        options: Some(DeletePOptions { recursive: Some(recursive), ..Default::default() }),
    };
    assert_eq!(fs.remove(remove(false)).await.unwrap_err().code(), Code::FailedPrecondition);
    fs.remove(remove(true)).await.unwrap();
    assert_eq!(
        fs.get_status(GetStatusPRequest { path: Some("/data".into()), options: None })
            .await
            .unwrap_err()
            .code(),
        Code::NotFound
    );
    let _ = stop.send(());
    leader.task.await.unwrap().unwrap();
}

/// Only the leader answers Alluxio's version check and master info; a standby answers
/// UNAVAILABLE naming the leader, and Lode's status service answers on both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn standbys_refuse_alluxio_calls_and_report_their_role() {
    let dir = tempfile::tempdir().unwrap();
    let (leader, stop_leader) = master(dir.path()).await;
    until_leader(&leader).await;
    let (standby, stop_standby) = master(dir.path()).await;

    let version = |allowed| GetServiceVersionPRequest {
        service_type: Some(ServiceType::FileSystemMasterClientService as i32),
        allowed_on_standby_masters: Some(allowed),
    };
    let mut on_leader = ServiceVersionClientServiceClient::new(channel(&leader).await);
    assert_eq!(
        on_leader.get_service_version(version(false)).await.unwrap().into_inner().version,
        Some(2)
    );
    let mut on_standby = ServiceVersionClientServiceClient::new(channel(&standby).await);
    assert_eq!(
        on_standby.get_service_version(version(false)).await.unwrap_err().code(),
        Code::Unavailable
    );
    assert_eq!(
        on_standby.get_service_version(version(true)).await.unwrap().into_inner().version,
        Some(2)
    );

    let info = MetaMasterClientServiceClient::new(channel(&leader).await)
        .get_master_info(GetMasterInfoPOptions { filter: vec![] })
        .await
        .unwrap()
        .into_inner()
        .master_info
        .unwrap();
    assert_eq!(info.leader_master_address.as_deref(), Some(leader.node.member().address.as_str()));

    let mut fs_on_standby = FsClient::new(channel(&standby).await);
    let deadline = Instant::now() + Duration::from_secs(60);
    let refusal = loop {
        let err = fs_on_standby
            .get_status(GetStatusPRequest { path: Some("/".into()), options: None })
            .await
            .unwrap_err();
        assert_eq!(err.code(), Code::Unavailable);
        if err.message().contains("the leader is") || Instant::now() > deadline {
            break err;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(refusal.message().contains(&leader.node.member().address), "{}", refusal.message());

    let status = LodeMasterServiceClient::new(channel(&standby).await)
        .get_master_status(GetMasterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status.role(), WireRole::Standby);
    assert_eq!(status.leader_address, leader.node.member().address);
    let status = LodeMasterServiceClient::new(channel(&leader).await)
        .get_master_status(GetMasterStatusRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!((status.role(), status.term > 0), (WireRole::Leader, true));

    let _ = stop_standby.send(());
    let _ = stop_leader.send(());
    standby.task.await.unwrap().unwrap();
    leader.task.await.unwrap().unwrap();
}

/// A new leader that no worker has registered with yet answers the worker list (empty) only once
/// `alluxio.master.worker.connect.wait.time` has passed since its takeover; 0 answers at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_new_leader_waits_for_workers_before_reporting_none() {
    for wait in [Duration::from_secs(2), Duration::ZERO] {
        let dir = tempfile::tempdir().unwrap();
        let setting = format!("{}ms", wait.as_millis());
        let (leader, stop) =
            master_with(dir.path(), &[("alluxio.master.worker.connect.wait.time", &setting)]).await;
        until_leader(&leader).await;
        let mut blocks = BlockMasterClientServiceClient::new(channel(&leader).await);
        let workers = blocks
            .get_worker_info_list(GetWorkerInfoListPOptions {})
            .await
            .unwrap()
            .into_inner()
            .worker_infos;
        let answered = SystemTime::now();
        assert!(workers.is_empty(), "no worker runs in this test: {workers:?}");
        let took_over = leader.node.history().into_iter().rev().find(|t| t.term.is_some());
        let took_over = took_over.expect("this master took over").at;
        assert!(
            answered >= took_over + wait,
            "answered {:?} after the takeover, before the {wait:?} wait was up",
            answered.duration_since(took_over).unwrap_or_default()
        );
        drop(stop);
    }
}

/// A recursive listing is walked as the client reads it (a thousand entries per hold of the
/// replica lock), not built whole before the first answer: a directory created after the first
/// batch was read, in the directory the walk reaches last, is in the listing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_recursive_listing_is_walked_as_the_client_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let (leader, stop) = master(dir.path()).await;
    until_leader(&leader).await;
    let channel = channel(&leader).await;
    // 700 directories of 10 entries: 8 steps of the walk, more than the stream buffers ahead.
    let mut creators = Vec::new();
    for part in 0..8 {
        let mut fs = FsClient::new(channel.clone());
        creators.push(tokio::spawn(async move {
            for d in (part..700).step_by(8) {
                let path = format!("/tree/d{d:03}/e");
                let options =
                    CreateDirectoryPOptions { recursive: Some(true), ..Default::default() };
                for e in 0..10 {
                    let request = CreateDirectoryPRequest {
                        path: Some(format!("{path}{e}")),
                        options: Some(options),
                    };
                    fs.create_directory(request).await.unwrap();
                }
            }
        }));
    }
    for creator in creators {
        creator.await.unwrap();
    }
    // A reader with HTTP/2's smallest stream window (64 KiB, not the 1 MiB hyper grows to): what
    // the master may send ahead of it is a fraction of one batch, so the walk cannot run far
    // ahead. (With the connection window that small too, the client's h2 sometimes hangs.)
    let uri = format!("http://{}", leader.node.member().address);
    let endpoint = Channel::from_shared(uri).unwrap().initial_stream_window_size(65_535);
    let mut fs = FsClient::new(endpoint.connect().await.unwrap());
    let request = ListStatusPRequest {
        path: Some("/tree".into()),
        options: Some(ListStatusPOptions { recursive: Some(true), ..Default::default() }),
    };
    let mut stream = fs.list_status(request).await.unwrap().into_inner();
    let mut listed: Vec<String> = Vec::new();
    let first = stream.message().await.unwrap().expect("a first batch");
    listed.extend(first.file_infos.into_iter().filter_map(|info| info.path));
    // Depth first by name: /tree/d699 is listed last.
    let late = CreateDirectoryPRequest { path: Some("/tree/d699/late".into()), options: None };
    fs.create_directory(late).await.unwrap();
    while let Some(batch) = stream.message().await.unwrap() {
        listed.extend(batch.file_infos.into_iter().filter_map(|info| info.path));
    }
    assert_eq!(listed.len(), 700 + 7000 + 1);
    assert_eq!(listed.last().unwrap(), "/tree/d699/late", "the listing was built up front");
    let _ = stop.send(());
    leader.task.await.unwrap().unwrap();
}

/// A file takes at most `alluxio.master.file.blocks.max` blocks: the next is refused with
/// RESOURCE_EXHAUSTED naming the key (every block id is in each answer about the file).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_file_takes_no_more_blocks_than_the_limit() {
    let dir = tempfile::tempdir().unwrap();
    let (leader, stop) = master_with(dir.path(), &[("alluxio.master.file.blocks.max", "3")]).await;
    until_leader(&leader).await;
    let mut fs = FsClient::new(channel(&leader).await);
    let create = CreateFilePRequest { path: Some("/capped".into()), options: None };
    fs.create_file(create).await.unwrap();
    let new_block = || GetNewBlockIdForFilePRequest { path: Some("/capped".into()), options: None };
    for _ in 0..3 {
        fs.get_new_block_id_for_file(new_block()).await.unwrap();
    }
    let refused = fs.get_new_block_id_for_file(new_block()).await.unwrap_err();
    assert_eq!(refused.code(), Code::ResourceExhausted, "{refused:?}");
    assert!(refused.message().contains("alluxio.master.file.blocks.max = 3"), "{refused:?}");
    let status = GetStatusPRequest { path: Some("/capped".into()), options: None };
    let info = fs.get_status(status).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!(info.block_ids.len(), 3);
    let _ = stop.send(());
    leader.task.await.unwrap().unwrap();
}

fn partial(path: &str, options: ListStatusPartialPOptions) -> ListStatusPartialPRequest {
    ListStatusPartialPRequest { path: Some(path.into()), options: Some(options) }
}

fn names(page: &ListStatusPartialPResponse) -> Vec<&str> {
    page.file_infos.iter().map(|info| info.name.as_deref().unwrap()).collect()
}

/// `ListStatusPartial` answers a bounded page with Alluxio's offsets (after a path, after a file
/// id, after a count), prefix, truncation flag and entry count, and refuses an offset that is not
/// under the listed path with Alluxio's error.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_partial_listing_pages_through_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let (leader, stop) = master(dir.path()).await;
    until_leader(&leader).await;
    let mut fs = FsClient::new(channel(&leader).await);
    let mkdir = |path: String| CreateDirectoryPRequest {
        path: Some(path),
        options: Some(CreateDirectoryPOptions { recursive: Some(true), ..Default::default() }),
    };
    for i in (0..25).rev() {
        fs.create_directory(mkdir(format!("/big/e{i:02}"))).await.unwrap();
    }
    fs.create_directory(mkdir("/big/e03/inner".into())).await.unwrap();
    fs.create_directory(mkdir("/other".into())).await.unwrap();
    let page = |offset, batch: i32| ListStatusPartialPOptions {
        offset_type: offset,
        batch_size: Some(batch),
        ..Default::default()
    };
    use list_status_partial_p_options::OffsetType;

    let first = fs.list_status_partial(partial("/big", page(None, 10))).await.unwrap().into_inner();
    assert_eq!(names(&first), (0..10).map(|i| format!("e{i:02}")).collect::<Vec<_>>());
    assert_eq!((first.is_truncated, first.file_count), (Some(true), Some(25)));
    let last = first.file_infos.last().unwrap();
    let by_path = OffsetType::StartAfter(last.path.clone().unwrap());
    let second = fs.list_status_partial(partial("/big", page(Some(by_path), 10))).await.unwrap();
    assert_eq!(names(second.get_ref())[0], "e10");
    let by_id = OffsetType::OffsetId(last.file_id.unwrap());
    let again = fs.list_status_partial(partial("/big", page(Some(by_id), 10))).await.unwrap();
    assert_eq!(names(again.get_ref()), names(second.get_ref()));
    let by_count = OffsetType::OffsetCount(20);
    let tail = fs.list_status_partial(partial("/big", page(Some(by_count), 10))).await.unwrap();
    assert_eq!(names(tail.get_ref()), ["e20", "e21", "e22", "e23", "e24"]);
    assert_eq!(tail.get_ref().is_truncated, Some(false), "the last page is not truncated");
    let relative = OffsetType::StartAfter("e23".into());
    let end = fs.list_status_partial(partial("/big", page(Some(relative), 10))).await.unwrap();
    assert_eq!(names(end.get_ref()), ["e24"]);

    let prefixed = ListStatusPartialPOptions { prefix: Some("/e1".into()), ..Default::default() };
    let tens = fs.list_status_partial(partial("/big", prefixed)).await.unwrap().into_inner();
    assert_eq!(names(&tens).len(), 10);
    assert!(names(&tens).iter().all(|n| n.starts_with("e1")));
    let recursive = ListStatusPartialPOptions {
        options: Some(ListStatusPOptions { recursive: Some(true), ..Default::default() }),
        batch_size: Some(5),
        ..Default::default()
    };
    let deep = fs.list_status_partial(partial("/big", recursive)).await.unwrap().into_inner();
    assert_eq!(names(&deep), ["e00", "e01", "e02", "e03", "inner"]);
    assert_eq!(deep.file_count, Some(-1));

    let other = fs.get_status(GetStatusPRequest { path: Some("/other".into()), options: None });
    let other_id = other.await.unwrap().into_inner().file_info.unwrap().file_id.unwrap();
    let elsewhere = OffsetType::OffsetId(other_id);
    let refused = fs.list_status_partial(partial("/big", page(Some(elsewhere), 10))).await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.code(), Code::NotFound);
    assert!(refused.message().contains("Inode not found in root path \"/big\""), "{refused:?}");
    let outside = OffsetType::StartAfter("/other/x".into());
    let refused = fs.list_status_partial(partial("/big", page(Some(outside), 10))).await;
    assert_eq!(refused.unwrap_err().code(), Code::InvalidArgument);
    let negative = fs.list_status_partial(partial("/big", page(None, -1))).await;
    assert!(negative.unwrap_err().message().contains("batchSize -1"));
    let _ = stop.send(());
    leader.task.await.unwrap().unwrap();
}

/// The calls one connection may have in flight at once (HTTP/2's SETTINGS_MAX_CONCURRENT_STREAMS)
/// are what `alluxio.master.network.max.concurrent.streams` says, 1024 by default (a connection
/// once could open streams without bound); and a master asked to stop while a client holds a
/// connection open without ever reading from it stops after
/// `alluxio.network.connection.server.shutdown.timeout` (it once waited for that client forever).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_connection_may_have_only_so_many_calls_in_flight_and_cannot_hold_up_a_stop() {
    for (configured, expected) in [(None, 1024), (Some("3"), 3)] {
        let dir = tempfile::tempdir().unwrap();
        let mut extra = vec![("alluxio.network.connection.server.shutdown.timeout", "1s")];
        extra.extend(configured.map(|v| ("alluxio.master.network.max.concurrent.streams", v)));
        let (leader, stop) = master_with(dir.path(), &extra).await;
        let tcp = tokio::net::TcpStream::connect(&leader.node.member().address).await.unwrap();
        let (_requests, mut connection) = h2::client::handshake(tcp).await.unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        // Until the server's SETTINGS arrive, h2 assumes no limit.
        while connection.max_concurrent_send_streams() == usize::MAX {
            assert!(Instant::now() < deadline, "no SETTINGS from the master");
            tokio::select! {
                _ = &mut connection => panic!("the master closed the connection"),
                () = tokio::time::sleep(Duration::from_millis(10)) => {}
            }
        }
        assert_eq!(connection.max_concurrent_send_streams(), expected);
        // The connection stays open and is never read again: the master's GOAWAY goes unanswered.
        let _ = stop.send(());
        let stopped = tokio::time::timeout(Duration::from_secs(50), leader.task).await;
        stopped.expect("the master waited for the silent client").unwrap().unwrap();
        drop(connection);
    }
}

/// The mount calls as the stock shell makes them: the root mount comes from the site
/// configuration, a nested mount of a folder is listed with its options and gives its files
/// their UFS paths, a mount of a missing folder or of one overlapping the root is refused with
/// Alluxio's message and journals nothing, and unmount removes the folder (not the UFS files).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mounts_follow_alluxios_calls_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let (root_ufs, other_ufs) = (dir.path().join("root-ufs"), dir.path().join("other-ufs"));
    std::fs::create_dir_all(&root_ufs).unwrap();
    std::fs::create_dir_all(other_ufs.join("kept")).unwrap();
    let root = root_ufs.display().to_string();
    let (leader, stop) = master_with(
        dir.path(),
        &[
            ("alluxio.master.mount.table.root.ufs", &root),
            ("alluxio.master.mount.table.root.readonly", "true"),
        ],
    )
    .await;
    until_leader(&leader).await;
    let mut fs = FsClient::new(channel(&leader).await);
    let mount = |path: &str, ufs: &str| MountPRequest {
        alluxio_path: Some(path.into()),
        ufs_path: Some(ufs.into()),
        options: Some(MountPOptions {
            shared: Some(true),
            properties: [("alluxio.underfs.request.timeout".to_string(), "5s".to_string())].into(),
            ..Default::default()
        }),
    };
    let status = |path: &str| GetStatusPRequest { path: Some(path.into()), options: None };

    let other = other_ufs.display().to_string();
    fs.mount(mount("/mnt", &other)).await.unwrap();
    let point = fs.get_status(status("/mnt")).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!((point.mount_point, point.ufs_path.as_deref()), (Some(true), Some(other.as_str())));
    fs.create_directory(CreateDirectoryPRequest { path: Some("/mnt/d".into()), options: None })
        .await
        .unwrap();
    let inner = fs.get_status(status("/mnt/d")).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!(inner.ufs_path, Some(format!("{other}/d")));
    // The root mount is read-only: nothing is made under it outside /mnt.
    let refused = fs
        .create_directory(CreateDirectoryPRequest { path: Some("/top".into()), options: None })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
    let expected = "A write operation on /top under a readonly mount point / is not allowed";
    assert_eq!(refused.message(), expected);
    let top = fs.get_status(status("/")).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!((top.mount_point, top.ufs_path), (Some(false), Some(root.clone())));
    assert_eq!(top.persistence_state.as_deref(), Some("PERSISTED"), "/ is the root UFS's folder");

    let table = fs.get_mount_table(GetMountTablePRequest { check_ufs: Some(true) }).await;
    let table = table.unwrap().into_inner().mount_points;
    assert_eq!(table["/"].ufs_uri.as_deref(), Some(root.as_str()));
    assert_eq!((table["/"].read_only, table["/"].mount_id), (Some(true), Some(1)));
    assert_eq!(table["/mnt"].ufs_type.as_deref(), Some("local"));
    assert_eq!(table["/mnt"].shared, Some(true));
    assert_eq!(table["/mnt"].properties["alluxio.underfs.request.timeout"], "5s");

    // ASYNC_THROUGH (the stock client's default): a file under a mount with a UFS completes
    // TO_BE_PERSISTED; the state is what stat reports.
    write_async_through(&mut fs, "/mnt/d/f").await;
    let file = fs.get_status(status("/mnt/d/f")).await.unwrap().into_inner().file_info.unwrap();
    assert_eq!(file.persistence_state.as_deref(), Some("TO_BE_PERSISTED"));
    assert_eq!(file.persisted, Some(false));

    // The web UI lists the mounts, and /browse marks the mount point and each file's state.
    let mut lode = LodeMasterServiceClient::new(channel(&leader).await);
    let web_port = lode.get_master_status(GetMasterStatusRequest {}).await.unwrap();
    let web_port = web_port.into_inner().web_port as u16;
    let overview = tokio::task::spawn_blocking(move || lode_tests::http_get(web_port, "/"));
    let overview = overview.await.unwrap().expect("the overview answers");
    assert!(
        overview.contains(&format!("<code>/mnt</code></td><td><code>{other}</code>")),
        "{overview}"
    );
    assert!(overview.contains(&format!("<code>{root}</code></td><td>read-only")), "{overview}");
    let browse =
        tokio::task::spawn_blocking(move || lode_tests::http_get(web_port, "/browse?path=/mnt/d"));
    let browse = browse.await.unwrap().expect("/browse answers");
    assert!(browse.contains("TO_BE_PERSISTED"), "{browse}");

    // UpdateMount replaces a mount's options (checked against its UFS first); it needs a
    // nested mount point.
    let update = |path: &str, read_only: bool| UpdateMountPRequest {
        alluxio_path: Some(path.into()),
        options: Some(MountPOptions { read_only: Some(read_only), ..Default::default() }),
    };
    fs.update_mount(update("/mnt", true)).await.unwrap();
    let table = fs.get_mount_table(GetMountTablePRequest { check_ufs: None }).await;
    let updated = &table.unwrap().into_inner().mount_points["/mnt"];
    assert_eq!((updated.read_only, updated.shared), (Some(true), Some(false)));
    assert!(updated.properties.is_empty(), "{updated:?}");
    for not_a_mount in ["/mnt/d", "/"] {
        let refused = fs.update_mount(update(not_a_mount, false)).await.unwrap_err();
        assert!(refused.message().contains("existing mount point and not root"), "{refused:?}");
    }

    let missing = dir.path().join("missing").display().to_string();
    let refused = fs.mount(mount("/m2", &missing)).await.unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument);
    assert!(
        refused.message().contains(&format!("Ufs path {missing} does not exist")),
        "{refused:?}"
    );
    let inside_root = format!("{root}/sub");
    std::fs::create_dir_all(&inside_root).unwrap();
    let refused = fs.mount(mount("/m2", &inside_root)).await.unwrap_err();
    assert!(refused.message().contains("is a prefix of"), "{refused:?}");
    let unknown = fs.mount(mount("/m2", "gs://bucket/x")).await.unwrap_err();
    assert!(unknown.message().contains("not built into this binary"), "{unknown:?}");
    let exists = ExistsPRequest { path: Some("/m2".into()), options: None };
    assert_eq!(fs.exists(exists).await.unwrap().into_inner().exists, Some(false));

    let remove = DeletePRequest {
        path: Some("/mnt".into()),
        options: Some(DeletePOptions { recursive: Some(true), ..Default::default() }),
    };
    let refused = fs.remove(remove).await.unwrap_err();
    assert!(refused.message().contains("--deleteMountPoint"), "{refused:?}");
    let unmount = UnmountPRequest { alluxio_path: Some("/mnt".into()), options: None };
    fs.unmount(unmount).await.unwrap();
    assert_eq!(fs.get_status(status("/mnt")).await.unwrap_err().code(), Code::NotFound);
    assert!(other_ufs.join("kept").is_dir(), "unmount touched the under-file-system");
    let root_unmount = UnmountPRequest { alluxio_path: Some("/".into()), options: None };
    let refused = fs.unmount(root_unmount).await.unwrap_err();
    assert!(refused.message().contains("Cannot unmount the root mount point"), "{refused:?}");
    let _ = stop.send(());
}

/// A root under-file-system the master cannot use stops it at start-up, naming the URI.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_root_ufs_of_an_unknown_scheme_stops_the_master() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_pairs([
        ("alluxio.work.dir", dir.path().display().to_string()),
        ("alluxio.master.rpc.port", "0".to_string()),
        ("alluxio.master.web.port", "0".to_string()),
        ("alluxio.master.mount.table.root.ufs", "wasb://c@acct/x".to_string()),
    ])
    .unwrap();
    let error = start(config, std::future::pending()).await.unwrap_err().to_string();
    assert!(error.contains("wasb://c@acct/x") && error.contains("not built into"), "{error}");
}
