//! One build, two sites: the same `lode-master` and `lode` binaries run once with ZooKeeper and
//! a local journal and once with etcd and an S3 journal, chosen by nothing but the site
//! properties file — the shipped examples under `conf/examples/`, with this machine's addresses.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use lode_tests::cluster::{Cluster, Election};
use lode_tests::etcd::Etcd;
use lode_tests::s3::S3Server;
use lode_tests::zookeeper::ZooKeeper;

// Linked so that this test's own client finds the leader through etcd too.
use lode_backend_etcd as _;

const HELPER: &str = env!("CARGO_BIN_EXE_journal-writer");
/// Fails a hung run instead of stalling CI.
const GUARD: Duration = Duration::from_secs(600);

/// The settings of `conf/examples/<name>/alluxio-site.properties` (its uncommented lines), with
/// the values of `replace`d keys swapped for this machine's and `more` appended.
fn example_site(
    name: &str,
    replace: &[(&str, String)],
    more: Vec<(String, String)>,
) -> Vec<(String, String)> {
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(format!("../conf/examples/{name}/alluxio-site.properties"));
    let text = std::fs::read_to_string(&file).unwrap();
    let mut settings: Vec<(String, String)> = text
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| {
            let key = key.trim();
            let value = replace
                .iter()
                .find(|(replaced, _)| *replaced == key)
                .map_or_else(|| value.trim().to_string(), |(_, mine)| mine.clone());
            (key.to_string(), value)
        })
        .collect();
    for (key, _) in replace {
        assert!(settings.iter().any(|(k, _)| k == key), "{name} has no {key} to replace");
    }
    settings.extend(more);
    settings
}

/// `lode fs masterInfo` run as a client configured with only `client` lines.
fn master_info(client: &[(&str, &str)]) -> String {
    let conf = tempfile::tempdir().unwrap();
    let lines: String = client.iter().map(|(key, value)| format!("{key}={value}\n")).collect();
    std::fs::write(conf.path().join("alluxio-site.properties"), lines).unwrap();
    let output = Command::new(Path::new(HELPER).with_file_name("lode"))
        .args(["fs", "masterInfo"])
        .env("ALLUXIO_CONF_DIR", conf.path())
        .env_remove("ALLUXIO_JAVA_OPTS")
        .output()
        .expect("running lode");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    stdout
}

/// Writes, kills the leader, writes again on the new one: nothing lost.
async fn survives_a_failover(cluster: &mut Cluster, what: &str) {
    let client = cluster.client();
    client.create_directory(&format!("/{what}/before"), true, false).await.unwrap();
    let old = cluster.leader(None).await;
    cluster.kill(old);
    cluster.leader(Some(old)).await;
    client.create_directory(&format!("/{what}/after"), true, false).await.unwrap();
    assert!(client.exists(&format!("/{what}/before")).await.unwrap(), "{what}: lost a write");
}

/// The same binaries elect through ZooKeeper with a local journal, then through etcd with the
/// journal in S3, as each site file says; each cluster reports what it runs on and fails over.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_site_file_alone_chooses_elector_and_journal_store() {
    tokio::time::timeout(GUARD, async {
        let zookeeper = ZooKeeper::standalone();
        let journal = tempfile::tempdir().unwrap();
        let folder = journal.path().join("journal").display().to_string();
        let site = example_site(
            "zookeeper",
            &[
                ("alluxio.zookeeper.address", zookeeper.connect_string()),
                ("alluxio.master.journal.folder", folder.clone()),
            ],
            vec![("alluxio.zookeeper.session.timeout".into(), "2s".into())],
        );
        let election = Election::Site { site: site.clone() };
        let mut cluster = Cluster::start_on(2, election, &[], HELPER);
        let info = master_info(&[
            ("alluxio.zookeeper.enabled", "true"),
            ("alluxio.zookeeper.address", &zookeeper.connect_string()),
        ]);
        assert!(info.contains("Election: zookeeper"), "{info}");
        for (address, _) in &cluster.masters {
            assert!(info.contains(address.as_str()), "masterInfo misses {address}: {info}");
        }
        assert!(info.contains(&format!("Journal: file://{folder}")), "{info}");
        survives_a_failover(&mut cluster, "zookeeper-local").await;
        drop(cluster);

        let etcd = Etcd::cluster(3);
        let s3 = S3Server::shared();
        let folder = s3.new_folder("mixed-site");
        let site = example_site(
            "etcd-s3",
            &[
                ("alluxio.etcd.endpoints", etcd.endpoints()),
                ("alluxio.master.journal.folder", folder.clone()),
            ],
            s3.journal_properties(&folder)
                .into_iter()
                .chain([("alluxio.etcd.lease.ttl".to_string(), "2s".to_string())])
                .collect(),
        );
        let mut cluster = Cluster::start_on(2, Election::Site { site }, &[], HELPER);
        let info = master_info(&[
            ("alluxio.master.election.type", "etcd"),
            ("alluxio.etcd.endpoints", &etcd.endpoints()),
        ]);
        assert!(info.contains("Election: etcd"), "{info}");
        for (address, _) in &cluster.masters {
            assert!(info.contains(address.as_str()), "masterInfo misses {address}: {info}");
        }
        assert!(info.contains(&format!("Journal: {folder}")), "{info}");
        survives_a_failover(&mut cluster, "etcd-s3").await;
    })
    .await
    .expect("hung");
}
