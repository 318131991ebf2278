//! The masters' and workers' web endpoints on a running local cluster: `/metrics` parses as
//! Prometheus text and its journal, RPC and leadership metrics move with load and failover;
//! `/metrics/json/`, `/healthz` and `/readyz` answer as documented; and headless Chromium renders
//! the overview, workers and failover pages (checked through the DOM; screenshots are kept
//! under `target/test-artifacts/`).

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use lode_core::rpc::lode::master::Role;
use lode_tests::cluster::Cluster;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// Debian's headless-capable Chromium.
const CHROMIUM: &str = "/usr/bin/chromium";

/// The web port of master `index`, from its status.
async fn web_port(cluster: &Cluster, index: usize) -> u16 {
    let statuses = cluster.statuses().await;
    let (_, status) = statuses.iter().find(|(i, _)| *i == index).expect("the master answers");
    status.web_port as u16
}

/// Every sample of `/metrics` on `port`, parsed by a real Prometheus parser.
fn scrape(port: u16) -> prometheus_parse::Scrape {
    let text = lode_tests::http_get(port, "/metrics").expect("/metrics answers 200");
    prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
        .unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}\n{text}"))
}

/// The value of `metric` with `labels` (a counter or gauge, or a histogram's count).
fn value(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric)
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            prometheus_parse::Value::Histogram(buckets) => {
                buckets.iter().map(|b| b.count).fold(0.0, f64::max)
            }
            prometheus_parse::Value::Summary(_) => 0.0,
        })
        .sum()
}

/// `lode <args>` as a client of `cluster` (its masters listed); its standard output.
fn shell(cluster: &Cluster, args: &[&str]) -> String {
    let conf = tempfile::tempdir().unwrap();
    let masters: Vec<&str> = cluster.masters.iter().map(|(a, _)| a.as_str()).collect();
    let site = format!("alluxio.master.rpc.addresses={}\n", masters.join(","));
    std::fs::write(conf.path().join("alluxio-site.properties"), site).unwrap();
    let output = Command::new(std::path::Path::new(HELPER).with_file_name("lode"))
        .args(args)
        .env("ALLUXIO_CONF_DIR", conf.path())
        .env_remove("ALLUXIO_JAVA_OPTS")
        .output()
        .expect("running lode");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "lode {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The status line's code of `GET path`.
fn status_code(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

/// `/metrics` parses and moves: journal commits, RPC counts and leadership change with load and
/// a failover; `/metrics/json/` is JSON; `/healthz` and `/readyz` say alive and ready.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn metrics_parse_and_move_with_load_and_failover() {
    let mut cluster = Cluster::start(3, LEASE, HELPER);
    let leader = cluster.leader(None).await;
    let port = web_port(&cluster, leader).await;
    let before = scrape(port);
    assert_eq!(value(&before, "lode_master_is_leader", &[]), 1.0);
    let client = cluster.client();
    for n in 0..50 {
        client.create_directory(&format!("/metrics/d{n}"), true, false).await.unwrap();
    }
    let after = scrape(port);
    let commits = |s| value(s, "lode_journal_commit_seconds_count", &[]);
    assert!(commits(&after) >= commits(&before) + 1.0, "journal commits did not move");
    let creates = [("method", "CreateDirectory")];
    let created = value(&after, "lode_rpc_requests_total", &creates);
    assert!(created >= 50.0, "CreateDirectory calls counted: {created}");
    // Without a root under-file-system the overview says where files live.
    let overview = lode_tests::http_get(port, "/").unwrap();
    assert!(
        overview.contains("No under-file-system: files live only in worker caches"),
        "{overview}"
    );
    // /browse shows a directory a page at a time (a huge one is never rendered whole).
    let page = lode_tests::http_get(port, "/browse?path=/metrics&offset=10&limit=5").unwrap();
    assert!(page.contains("Entries 11–15 of 50."), "{page}");
    assert_eq!(page.matches("href=\"/browse?path=/metrics/d").count(), 5, "{page}");
    assert!(page.contains("Previous") && page.contains("Next"), "{page}");
    let json: serde_json::Value = serde_json::from_str(
        &lode_tests::http_get(port, "/metrics/json/").expect("/metrics/json/ answers"),
    )
    .expect("/metrics/json/ is JSON");
    assert!(json["counters"].as_object().is_some_and(|c| !c.is_empty()), "{json}");
    assert_eq!(status_code(port, "/healthz"), Some(200));
    assert_eq!(status_code(port, "/readyz"), Some(200));
    let standby = (0..3).find(|i| *i != leader).unwrap();
    let standby_port = web_port(&cluster, standby).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while status_code(standby_port, "/readyz") != Some(200) {
        assert!(Instant::now() < deadline, "a caught-up standby never became ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value(&scrape(standby_port), "lode_master_is_leader", &[]), 0.0);

    // The operator commands agree with what the pages and metrics show.
    let said = shell(&cluster, &["fsadmin", "journal", "checkpoint"]);
    assert!(said.contains("Successfully took a checkpoint of the journal at slot"), "{said}");
    assert!(value(&scrape(port), "lode_journal_checkpoint_seconds_count", &[]) >= 1.0);
    assert_eq!(shell(&cluster, &["fs", "leader"]).trim(), cluster.masters[leader].0);

    cluster.kill(leader);
    let new = cluster.leader(Some(leader)).await;
    let new_port = web_port(&cluster, new).await;
    let promoted = scrape(new_port);
    assert_eq!(value(&promoted, "lode_master_is_leader", &[]), 1.0);
    assert!(value(&promoted, "lode_master_leadership_changes_total", &[("event", "won")]) >= 1.0);
    assert!(value(&promoted, "lode_master_takeover_seconds_count", &[]) >= 1.0);
}

/// Where screenshots go: `target/test-artifacts/`.
fn artifacts() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/test-artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The embedded elector's lease for these tests: long enough that a machine busy with the rest
/// of the suite never lets it lapse, since both tests assume the leader stays put until they
/// kill it (a kill -9 frees its lock, so the failover they wait for comes at once regardless).
const LEASE: &str = "30s";

/// Headless Chromium's DOM of `url` after it loaded, and a screenshot saved as `name`.
fn browse(url: &str, name: &str) -> String {
    assert!(
        std::path::Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install Debian's chromium package (scripts/test does)"
    );
    let profile = tempfile::tempdir().unwrap();
    let run = |extra: &[String]| {
        Command::new(CHROMIUM)
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .args(["--window-size=1280,900", "--virtual-time-budget=2000"])
            .args(extra)
            .arg(url)
            .output()
            .expect("running chromium")
    };
    let shot = artifacts().join(name);
    let output = run(&[format!("--screenshot={}", shot.display())]);
    assert!(shot.is_file(), "no screenshot: {}", String::from_utf8_lossy(&output.stderr));
    let output = run(&["--dump-dom".to_string()]);
    let dom = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        dom.contains("</html>"),
        "no DOM for {url}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    dom
}

/// Chromium renders the leader's and a standby's overview, the workers page, and after the
/// leader is killed, the new leader's failover history naming the old one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn chromium_renders_overview_workers_and_failover_history() {
    let mut cluster = Cluster::start(2, LEASE, HELPER);
    let leader = cluster.leader(None).await;
    let worker = cluster.start_worker();
    let worker_address = cluster.workers[worker].address.clone();
    let port = web_port(&cluster, leader).await;
    let leader_address = cluster.masters[leader].0.clone();

    let overview = browse(&format!("http://127.0.0.1:{port}/"), "master-overview.png");
    assert!(overview.contains(r#"id="role""#) && overview.contains(">LEADER<"), "{overview}");
    let standby = 1 - leader;
    // The overview's masters table shows the standby too, with its role.
    let standby_address = &cluster.masters[standby].0;
    let row = overview
        .split("<tr")
        .find(|row| row.contains(standby_address.as_str()))
        .unwrap_or_else(|| panic!("the overview does not list {standby_address}: {overview}"));
    assert!(row.contains(">STANDBY<"), "{row}");
    let standby_port = web_port(&cluster, standby).await;
    let page = browse(&format!("http://127.0.0.1:{standby_port}/"), "standby-overview.png");
    assert!(page.contains(">STANDBY<") && page.contains(r#"id="standby""#), "{page}");
    assert!(page.contains(&format!("http://127.0.0.1:{port}/")), "no link to the leader: {page}");

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let page = browse(&format!("http://127.0.0.1:{port}/workers"), "master-workers.png");
        if page.contains(&worker_address) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the workers page never listed {worker_address}: {page}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // The worker's own page names the leader it registered with.
    let infos = cluster.client().worker_infos().await.unwrap();
    let worker_web = infos[0].address.as_ref().and_then(|a| a.web_port).expect("a web port");
    let page = browse(&format!("http://127.0.0.1:{worker_web}/"), "worker-overview.png");
    assert!(page.contains(&leader_address), "the worker page does not name the leader: {page}");
    assert_eq!(status_code(worker_web as u16, "/readyz"), Some(200));
    // Set with each heartbeat (every second).
    let deadline = Instant::now() + Duration::from_secs(30);
    while value(&scrape(worker_web as u16), "lode_worker_capacity_bytes", &[]) <= 0.0 {
        assert!(Instant::now() < deadline, "the worker never reported its capacity");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    cluster.kill(leader);
    let new = cluster.leader(Some(leader)).await;
    assert_eq!(new, standby);
    let statuses = cluster.statuses().await;
    assert!(statuses.iter().any(|(i, s)| *i == new && s.role() == Role::Leader));
    let history =
        browse(&format!("http://127.0.0.1:{standby_port}/history"), "failover-history.png");
    let row = history
        .split("<tr")
        .find(|row| row.contains(r#"class="takeover""#))
        .unwrap_or_else(|| panic!("no takeover in the history: {history}"));
    assert!(row.contains(&leader_address), "the takeover does not name {leader_address}: {row}");
}
