//! Files written through real `lode-worker` processes and read back, with masters and workers
//! failing along the way.

use std::time::{Duration, Instant};

use lode_client::data;
use lode_client::master::{MasterClient, StreamingChunks};
use lode_tests::cluster::Cluster;
use lode_tests::object_content;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
const BLOCK: u64 = 1 << 20;
/// Fails a hung run instead of stalling CI.
const GUARD: Duration = Duration::from_secs(300);

async fn write(client: &MasterClient, path: &str, bytes: &[u8]) -> Result<u64, String> {
    let mut source = bytes;
    data::write_file(client, path, &mut source, Some(BLOCK), &|_| {})
        .await
        .map_err(|e| e.to_string())
}

async fn read(client: &MasterClient, path: &str) -> Result<Vec<u8>, String> {
    let mut sink = Vec::new();
    data::read_file(client, path, 0, None, &mut sink, &|_| {}).await.map_err(|e| e.to_string())?;
    Ok(sink)
}

async fn cluster(masters: usize, workers: usize) -> Cluster {
    let mut cluster = Cluster::start(masters, "2s", HELPER);
    for _ in 0..workers {
        cluster.start_worker();
    }
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    cluster
}

/// Files from 0 bytes to several blocks, written streamed to the worker and in place
/// (short-circuit) and streamed in odd chunk sizes, read back byte for byte every way; ranges
/// (head, tail, the middle of a block) too.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn files_of_every_size_read_back_byte_for_byte() {
    let cluster = cluster(2, 1).await;
    let streamed = cluster.client().with_short_circuit(false);
    let in_place = cluster.client();
    // Chunks that divide nothing evenly: a block ends mid-chunk both ways.
    let odd_chunks = StreamingChunks { read: 100_003, write: 65_537 };
    let odd = cluster.client().with_short_circuit(false).with_streaming_chunks(odd_chunks);
    for (index, size) in [0, 1, BLOCK - 1, BLOCK, BLOCK + 1, 3 * BLOCK + 17].into_iter().enumerate()
    {
        let bytes = object_content(index as u64, size as usize);
        let bytes = &bytes[..size as usize];
        for (writer, how) in [(&in_place, ""), (&streamed, "-streamed"), (&odd, "-odd")] {
            let path = format!("/file-{size}{how}");
            assert_eq!(write(writer, &path, bytes).await.unwrap(), size);
            let info = in_place.get_status(&path).await.unwrap();
            assert_eq!(info.block_ids.len() as u64, size.div_ceil(BLOCK), "{path}");
            assert_eq!(info.length() as u64, size, "{path}");
            assert!(read(&streamed, &path).await.unwrap() == bytes, "{path} streamed");
            assert!(read(&in_place, &path).await.unwrap() == bytes, "{path} in place");
            assert!(read(&odd, &path).await.unwrap() == bytes, "{path} in odd chunks");
        }
    }
    let bytes = object_content(5, (3 * BLOCK + 17) as usize);
    for (client, how) in [(&streamed, "streamed"), (&in_place, "in place"), (&odd, "odd")] {
        let mut part = Vec::new();
        data::read_file(client, "/file-3145745", BLOCK - 5, Some(BLOCK + 10), &mut part, &|_| {})
            .await
            .unwrap();
        assert!(part == bytes[(BLOCK - 5) as usize..(2 * BLOCK + 5) as usize], "{how} range");
    }
}

/// Writing to an existing path or reading a directory or a missing file fails clearly.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_requests_fail_with_clear_errors() {
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    write(&client, "/a", b"one").await.unwrap();
    let error = write(&client, "/a", b"two").await.unwrap_err();
    assert!(error.contains("/a") && error.contains("exists"), "{error}");
    client.create_directory("/dir", false, false).await.unwrap();
    assert!(read(&client, "/dir").await.unwrap_err().contains("/dir is a directory"));
    let error = read(&client, "/missing").await.unwrap_err();
    assert!(error.contains("/missing"), "{error}");
    assert_eq!(read(&client, "/a").await.unwrap(), b"one");
}

/// Killing the leading master in the middle of a multi-block write and of a read: both finish
/// and the bytes match.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_the_leader_mid_write_and_mid_read_finishes_both() {
    let mut cluster = cluster(3, 1).await;
    let size = 24 * BLOCK as usize;
    let bytes = object_content(42, size);
    // A source that trickles so the kill lands mid-write.
    let (mut feeder, mut source) = tokio::io::duplex(256 << 10);
    let client = cluster.client();
    let writer = tokio::spawn(async move {
        data::write_file(&client, "/big", &mut source, Some(BLOCK), &|_| {}).await
    });
    let feed = tokio::spawn({
        let bytes = bytes.clone();
        async move {
            use tokio::io::AsyncWriteExt;
            for piece in bytes.chunks(256 << 10) {
                feeder.write_all(piece).await.unwrap();
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leader = cluster.leader(None).await;
    cluster.kill(leader);
    feed.await.unwrap();
    let written = tokio::time::timeout(GUARD, writer).await.expect("hung").unwrap();
    assert_eq!(written.expect("the write survives the failover"), size as u64);
    cluster.restart(leader);
    cluster.wait_workers_registered().await;

    let client = cluster.client().with_short_circuit(false);
    let reader = tokio::spawn(async move {
        let mut sink = Vec::new();
        // Slow reader: a small pipe drained with pauses.
        let (mut pipe_in, mut pipe_out) = tokio::io::duplex(128 << 10);
        let drain = tokio::spawn(async move {
            use tokio::io::AsyncReadExt;
            let mut buffer = vec![0; 128 << 10];
            loop {
                let n = pipe_out.read(&mut buffer).await.unwrap();
                if n == 0 {
                    return sink;
                }
                sink.extend_from_slice(&buffer[..n]);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        let read = data::read_file(&client, "/big", 0, None, &mut pipe_in, &|_| {}).await;
        drop(pipe_in);
        (read, drain.await.unwrap())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    let leader = cluster.leader(None).await;
    cluster.kill(leader);
    let (read, sink) = tokio::time::timeout(GUARD, reader).await.expect("hung").unwrap();
    assert_eq!(read.expect("the read survives the failover"), size as u64);
    assert!(sink == bytes, "the bytes read differ from the bytes written");
}

/// A killed worker's blocks are dropped by the master within the worker timeout, and reads say
/// no worker holds them; restarted on its memory tier, it re-registers and they read again.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_lost_worker_is_dropped_and_a_restarted_one_re_registers() {
    let mut cluster = cluster(1, 1).await;
    let client = cluster.client();
    let bytes = object_content(7, 2 * BLOCK as usize + 3);
    write(&client, "/kept", &bytes).await.unwrap();

    cluster.kill_worker(0);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match read(&client, "/kept").await {
            Err(error) if error.contains("no worker holds block") => break,
            other => {
                assert!(Instant::now() < deadline, "still readable: {:?}", other.map(|b| b.len()))
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(client.worker_infos().await.unwrap().is_empty());

    cluster.restart_worker(0);
    cluster.wait_workers_registered().await;
    assert!(read(&client, "/kept").await.unwrap() == bytes);
}

/// A worker dying mid-write fails the write with a clear error naming the worker, and leaves
/// no file behind, whether the client streams the blocks or writes them in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_dying_mid_write_fails_it_cleanly() {
    let mut cluster = cluster(1, 1).await;
    for short_circuit in [false, true] {
        let (mut feeder, mut source) = tokio::io::duplex(64 << 10);
        let client = cluster.client().with_short_circuit(short_circuit);
        let writer = tokio::spawn(async move {
            data::write_file(&client, "/doomed", &mut source, Some(BLOCK), &|_| {}).await
        });
        let feed = tokio::spawn(async move {
            use tokio::io::AsyncWriteExt;
            let piece = vec![7u8; 64 << 10];
            while feeder.write_all(&piece).await.is_ok() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        tokio::time::sleep(Duration::from_millis(500)).await;
        let worker = cluster.workers[0].address.clone();
        cluster.kill_worker(0);
        let error = tokio::time::timeout(GUARD, writer).await.expect("hung").unwrap().unwrap_err();
        feed.abort();
        let message = error.to_string();
        let how = if short_circuit { "in place" } else { "streamed" };
        assert!(message.contains("/doomed") && message.contains(&worker), "{how}: {message}");
        assert!(!cluster.client().exists("/doomed").await.unwrap(), "{how}: a partial file left");
        cluster.restart_worker(0);
        cluster.wait_workers_registered().await;
    }
}

/// A write abandoned mid-block (here its source fails) leaves nothing on the worker: the
/// half-sent block is discarded, not committed, whether streamed or written in place.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_abandoned_write_leaves_nothing_on_the_worker() {
    let cluster = cluster(1, 1).await;
    let used = || async { cluster.client().worker_infos().await.unwrap()[0].used_bytes() };
    for short_circuit in [false, true] {
        let client = cluster.client().with_short_circuit(short_circuit);
        let bytes = object_content(3, 2 * BLOCK as usize);
        let mut source = FailingAfter { bytes: &bytes, fail_at: BLOCK as usize + 1000 };
        let error = data::write_file(&client, "/abandoned", &mut source, Some(BLOCK), &|_| {})
            .await
            .unwrap_err()
            .to_string();
        assert!(error.contains("reading the source"), "{error}");
        assert!(!client.exists("/abandoned").await.unwrap());
        // The first, finished block belonged to the removed file and is freed; the half-sent
        // second one must never have been committed or left reserved.
        let deadline = Instant::now() + Duration::from_secs(60);
        while used().await != 0 {
            assert!(Instant::now() < deadline, "the worker still uses {} bytes", used().await);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let tier_files: Vec<_> = std::fs::read_dir(&cluster.workers[0].tier)
        .unwrap()
        .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap())
        .filter_map(|entry| entry.ok())
        .filter(|entry| entry.file_type().unwrap().is_file())
        .map(|entry| entry.path())
        .collect();
    assert!(tier_files.is_empty(), "files left in the tier: {tier_files:?}");
}

/// The status a worker answers a call of `method` (`ReadBlock`, `WriteBlock`) whose request
/// stream is `body`.
async fn raw_call(worker: &str, method: &str, body: Vec<u8>) -> tonic::Status {
    use http_body_util::{BodyExt, Full};
    let stream = tokio::net::TcpStream::connect(worker).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(hyper_util::rt::TokioExecutor::new(), {
            hyper_util::rt::TokioIo::new(stream)
        })
        .await
        .unwrap();
    tokio::spawn(connection);
    let request =
        http::Request::post(format!("http://{worker}/alluxio.grpc.block.BlockWorker/{method}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let (head, body) = response.into_parts();
    let collected = body.collect().await.unwrap();
    let trailers = collected.trailers().cloned().unwrap_or(head.headers);
    tonic::Status::from_header_map(&trailers).expect("a grpc-status")
}

/// Block stream calls whose messages break the protocol are refused with a status naming the
/// fault, and writes leave nothing on the worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_block_streams_are_refused() {
    use lode_core::rpc::alluxio::grpc::block::write_request::Value;
    use lode_core::rpc::alluxio::grpc::block::{Chunk, WriteRequest, WriteRequestCommand};
    use prost::Message;
    let cluster = cluster(1, 1).await;
    let worker = cluster.workers[0].address.clone();
    let framed = |message: &[u8]| lode_core::rpc::messages::framed(message).to_vec();
    let command = WriteRequestCommand { id: Some(77), ..Default::default() };
    let command = framed(&WriteRequest { value: Some(Value::Command(command)) }.encode_to_vec());
    let chunk = Chunk { data: Some(vec![1; 100].into()) };
    let chunk = framed(&WriteRequest { value: Some(Value::Chunk(chunk)) }.encode_to_vec());
    let cases = [
        (chunk.clone(), "starts with a command"),
        ([&command[..], &chunk[..50]].concat(), "ended inside a message"),
        ([&command[..], &[1, 0, 0, 0, 3, 1, 2, 3]].concat(), "compressed"),
        // A chunk announcing 127 bytes in a message of 5.
        ([&command[..], &framed(&[0x12, 0x7f, 0x0a, 0x05, 1])].concat(), "overruns"),
        // A message of one byte starting a key that only the next message's bytes would end.
        ([&command[..], &framed(&[0x8a]), &framed(&[0x01, 0x02])].concat(), "overruns"),
        // A command of 70,000 bytes.
        (framed(&[&[0x0a, 0xeb, 0xa2, 0x04][..], &vec![0; 70_000 - 4]].concat()), "write command"),
    ];
    let read_cases = [
        ([&[1, 0, 0, 0, 3][..], &[1, 2, 3]].concat(), "ReadBlock", "compressed"),
        (framed(&vec![0x08; 70_000]), "ReadBlock", "read request of 70000 bytes"),
        (framed(&[0x08, 0xff]), "ReadBlock", "malformed read request"),
    ];
    let cases = cases.into_iter().map(|(body, expected)| (body, "WriteBlock", expected));
    for (body, method, expected) in cases.chain(read_cases) {
        let status = raw_call(&worker, method, body).await;
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(expected), "{status:?} lacks {expected:?}");
    }
    let infos = cluster.client().worker_infos().await.unwrap();
    assert_eq!(infos[0].used_bytes(), 0, "the refused writes left bytes reserved");
    let client = cluster.client();
    assert_eq!(write(&client, "/after", b"still writable").await.unwrap(), 14);
}

/// A source that yields its bytes, then fails once `fail_at` bytes have been read.
struct FailingAfter<'a> {
    bytes: &'a [u8],
    fail_at: usize,
}

impl tokio::io::AsyncRead for FailingAfter<'_> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        if self.fail_at == 0 {
            return std::task::Poll::Ready(Err(std::io::Error::other("the disk went away")));
        }
        let n = buf.remaining().min(self.fail_at).min(self.bytes.len());
        buf.put_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        self.fail_at -= n;
        std::task::Poll::Ready(Ok(()))
    }
}

/// After a failover every live worker is registered with the new leader.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_worker_registers_with_each_new_leader() {
    let mut cluster = cluster(2, 2).await;
    for _ in 0..2 {
        let leader = cluster.leader(None).await;
        cluster.kill(leader);
        cluster.leader(Some(leader)).await;
        cluster.wait_workers_registered().await;
        cluster.restart(leader);
    }
}

/// `free` never drops the only copy: a file that is not persisted (no UFS is mounted here) is refused
/// with Alluxio's message, keeps its blocks and reads back whole. Deleting a file frees its
/// blocks on the worker, and its tier gives the space back.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn free_keeps_the_only_copy_and_delete_gives_the_memory_back() {
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    let used = || async {
        let workers = client.worker_infos().await.unwrap();
        workers[0].used_bytes()
    };
    let kept = object_content(1, 2 * BLOCK as usize);
    write(&client, "/kept", &kept).await.unwrap();
    write(&client, "/deleted", &object_content(2, BLOCK as usize)).await.unwrap();
    assert_eq!(used().await, 3 * BLOCK as i64);

    let error = client.free("/", false).await.unwrap_err().to_string();
    assert!(error.contains("free it recursively"), "{error}");
    for (path, recursive, first) in [("/kept", false, "/kept"), ("/", true, "/deleted")] {
        let error = client.free(path, recursive).await.unwrap_err().to_string();
        assert!(error.contains(&format!("Cannot free file {first} which is not")), "{error}");
    }
    client.remove("/deleted", false).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while used().await != 2 * BLOCK as i64 {
        assert!(Instant::now() < deadline, "the worker still uses {} bytes", used().await);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(read(&client, "/kept").await.unwrap() == kept, "the kept file changed");
    let tier_files = std::fs::read_dir(&cluster.workers[0].tier)
        .unwrap()
        .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap())
        .filter(|entry| entry.as_ref().unwrap().file_type().unwrap().is_file())
        .count();
    assert_eq!(tier_files, 2, "the kept file's two blocks, and nothing else, in the tier");
}

/// A full worker keeps every block it holds (each may be a file's only copy): a write that does
/// not fit fails saying why, and the files written before read back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_full_worker_refuses_a_write_rather_than_drop_a_file() {
    let mut cluster = Cluster::start(1, "2s", HELPER);
    cluster.start_worker_with_capacity("4MB");
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let client = cluster.client();
    let first = object_content(3, 3 * BLOCK as usize);
    write(&client, "/first", &first).await.unwrap();
    let error = write(&client, "/second", &object_content(4, 3 * BLOCK as usize)).await;
    let error = error.unwrap_err();
    assert!(error.contains("only copy"), "{error}");
    assert!(read(&client, "/first").await.unwrap() == first, "the first file changed");
}

/// A worker with a small memory tier and a disk tier below it keeps every block of a file larger
/// than its memory: evicted blocks move to disk, and the file reads back whole.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_disk_tier_keeps_what_memory_cannot_hold() {
    let mut cluster = Cluster::start(1, "2s", HELPER);
    let disk = tempfile::tempdir().unwrap();
    cluster.start_worker_with(
        "3MB",
        vec![
            "-Dalluxio.worker.tieredstore.levels=2".into(),
            format!("-Dalluxio.worker.tieredstore.level1.dirs.path={}", disk.path().display()),
            "-Dalluxio.worker.tieredstore.level1.dirs.quota=64MB".into(),
        ],
    );
    cluster.leader(None).await;
    cluster.wait_workers_registered().await;
    let client = cluster.client();
    let workers = client.worker_infos().await.unwrap();
    assert_eq!(workers[0].capacity_bytes(), 67 << 20);

    let bytes = object_content(9, 10 * BLOCK as usize);
    write(&client, "/larger-than-memory", &bytes).await.unwrap();
    assert!(read(&client, "/larger-than-memory").await.unwrap() == bytes);
    let streamed = cluster.client().with_short_circuit(false);
    assert!(read(&streamed, "/larger-than-memory").await.unwrap() == bytes);
    let on_disk = std::fs::read_dir(disk.path())
        .unwrap()
        .flat_map(|dir| std::fs::read_dir(dir.unwrap().path()).unwrap())
        .filter(|entry| entry.as_ref().unwrap().file_type().unwrap().is_file())
        .count();
    assert!(on_disk >= 7, "only {on_disk} blocks moved to the disk tier");
}

/// Without a registered worker a write fails saying so, and leaves no file behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_without_workers_says_so() {
    let cluster = cluster(1, 0).await;
    let client = cluster.client();
    let error = write(&client, "/nowhere", b"bytes").await.unwrap_err();
    assert!(error.contains("no worker is registered"), "{error}");
    assert!(!client.exists("/nowhere").await.unwrap());
    // An empty file needs no worker.
    assert_eq!(write(&client, "/empty", b"").await.unwrap(), 0);
    assert_eq!(read(&client, "/empty").await.unwrap(), b"");
}

/// A client on the worker's host writes a block itself (short-circuit, `CreateLocalBlock`): it
/// writes the file the worker names, ends the stream, and the block is committed and readable.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_written_in_place_is_committed_and_readable() {
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    client.create_file_with_block_size("/in-place", false, Some(BLOCK)).await.unwrap();
    let block = client.new_block_id("/in-place").await.unwrap();
    let bytes = object_content(11, 300_000);
    let (requests, replies) = create_local_block(&cluster, block, 100_000).await;
    let mut replies = replies.unwrap();
    let path = replies.message().await.unwrap().unwrap().path.unwrap();
    std::fs::write(&path, &bytes).unwrap(); // More than reserved: the worker reserves the rest.
    drop(requests);
    let end = replies.message().await;
    assert!(matches!(end, Ok(None)), "the stream ends once the block is committed: {end:?}");
    client.complete_file("/in-place", bytes.len() as u64).await.unwrap();
    assert!(read(&client, "/in-place").await.unwrap() == bytes);
    assert!(read(&client.with_short_circuit(false), "/in-place").await.unwrap() == bytes);
}

/// Opens a short-circuit write of `block` on worker 0 reserving `reserve` bytes; returns the
/// request sender and the answer stream.
async fn create_local_block(
    cluster: &Cluster,
    block: u64,
    reserve: i64,
) -> (
    tokio::sync::mpsc::Sender<lode_core::rpc::alluxio::grpc::block::CreateLocalBlockRequest>,
    Result<
        tonic::Streaming<lode_core::rpc::alluxio::grpc::block::CreateLocalBlockResponse>,
        tonic::Status,
    >,
) {
    use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
    use lode_core::rpc::alluxio::grpc::block::CreateLocalBlockRequest;
    let address = format!("http://{}", cluster.workers[0].address);
    let mut worker = BlockWorkerClient::connect(address).await.unwrap();
    let (requests, receiver) = tokio::sync::mpsc::channel(4);
    let first = CreateLocalBlockRequest {
        block_id: Some(block as i64),
        space_to_reserve: Some(reserve),
        ..Default::default()
    };
    requests.send(first).await.unwrap();
    let stream = tokio_stream::wrappers::ReceiverStream::new(receiver);
    let answers = worker.create_local_block(stream).await.map(|r| r.into_inner());
    (requests, answers)
}

/// A block written longer than its file's block size is refused when committed (reads find
/// block i at i × block size, so a longer one would corrupt them) and is not kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_block_longer_than_its_block_size_is_refused() {
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    client.create_file_with_block_size("/too-long", false, Some(BLOCK)).await.unwrap();
    let block = client.new_block_id("/too-long").await.unwrap();
    let (requests, answers) = create_local_block(&cluster, block, BLOCK as i64).await;
    let mut answers = answers.unwrap();
    let path = answers.message().await.unwrap().unwrap().path.unwrap();
    std::fs::write(&path, object_content(12, BLOCK as usize + 1)).unwrap();
    drop(requests);
    let refused = answers.message().await.unwrap_err();
    assert!(refused.message().contains("more than its file's block size"), "{refused}");
    client.complete_file("/too-long", BLOCK).await.unwrap();
    let cached = client.get_status("/too-long").await.unwrap().in_alluxio_percentage;
    assert_eq!(cached, Some(0), "the refused block {block} was kept");
}

/// A reservation no block could need (above the largest block size) is refused with
/// INVALID_ARGUMENT naming the limit, before anything is reserved or evicted, whether asked
/// for at once or in steps; the blocks already cached stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reservation_no_block_could_need_is_refused_and_evicts_nothing() {
    use lode_core::rpc::alluxio::grpc::block::CreateLocalBlockRequest;
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    let bytes = object_content(13, 3 * BLOCK as usize);
    write(&client, "/cached", &bytes).await.unwrap();
    client.create_file_with_block_size("/greedy", false, Some(BLOCK)).await.unwrap();
    let block = client.new_block_id("/greedy").await.unwrap();

    let refused = create_local_block(&cluster, block, i64::MAX).await.1.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused}");
    assert!(refused.message().contains("no block is longer than 4294967295"), "{refused}");

    let (requests, answers) = create_local_block(&cluster, block, BLOCK as i64).await;
    let mut answers = answers.unwrap();
    answers.message().await.unwrap().unwrap();
    let more =
        CreateLocalBlockRequest { space_to_reserve: Some(u32::MAX as i64), ..Default::default() };
    requests.send(more).await.unwrap();
    let refused = answers.message().await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused}");
    let cached = client.get_status("/cached").await.unwrap().in_alluxio_percentage;
    assert_eq!(cached, Some(100), "the cached blocks stay");
    assert!(read(&client, "/cached").await.unwrap() == bytes);
}

/// A `RemoveBlock` call to a worker is refused with PERMISSION_DENIED, whoever sends it: the
/// block stays cached and the file reads back whole (only the master orders removals).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_cannot_order_a_worker_to_drop_a_block() {
    use lode_core::rpc::alluxio::grpc::block::block_worker_client::BlockWorkerClient;
    use lode_core::rpc::alluxio::grpc::block::RemoveBlockRequest;
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    let bytes = object_content(14, 2 * BLOCK as usize);
    write(&client, "/kept", &bytes).await.unwrap();
    let status = client.get_status("/kept").await.unwrap();
    let address = format!("http://{}", cluster.workers[0].address);
    let mut worker = BlockWorkerClient::connect(address).await.unwrap();
    for block in &status.block_ids {
        let request = RemoveBlockRequest { block_id: Some(*block) };
        let refused = worker.remove_block(request).await.unwrap_err();
        assert_eq!(refused.code(), tonic::Code::PermissionDenied, "{refused}");
        assert!(refused.message().contains("only the master"), "{refused}");
    }
    let cached = client.get_status("/kept").await.unwrap().in_alluxio_percentage;
    assert_eq!(cached, Some(100), "every block stays cached");
    assert!(read(&client, "/kept").await.unwrap() == bytes);
}

/// A path far over the limit (100 KB) is refused with Alluxio's INVALID_ARGUMENT naming the
/// limit, not an HTTP/2 protocol error (the error once carried the whole path in its header),
/// and the master serves on.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overlong_path_is_refused_naming_the_limit() {
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    let long = format!("/{}", "d".repeat(100_000));
    let refused = client.create_directory(&long, true, false).await.unwrap_err().to_string();
    assert!(refused.contains("longer than 4096"), "{refused}");
    assert!(!refused.to_lowercase().contains("h2"), "{refused}");
    client.create_directory("/after", false, false).await.unwrap();
}

/// An owner or group name over 255 bytes is refused with INVALID_ARGUMENT naming the limit
/// (the namespace keeps every name it is given for good), and a valid one still applies.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overlong_owner_name_is_refused_naming_the_limit() {
    let cluster = cluster(1, 1).await;
    let client = cluster.client();
    client.create_directory("/owned", false, false).await.unwrap();
    let long = "o".repeat(100_000);
    for (owner, group) in
        [(Some(long.clone()), None), (None, Some(long)), (Some("a\nb".into()), None)]
    {
        let refused = client.set_attribute("/owned", None, owner, group, false).await.unwrap_err();
        assert!(refused.to_string().contains("at most 255 bytes"), "{refused}");
    }
    client.set_attribute("/owned", None, Some("carol".into()), None, false).await.unwrap();
    assert_eq!(client.get_status("/owned").await.unwrap().owner.unwrap(), "carol");
}
