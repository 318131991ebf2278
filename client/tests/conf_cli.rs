//! `lode conf` against configuration written exactly as in Alluxio's fault-tolerance guide.

use std::path::Path;
use std::process::{Command, Output};

fn lode(conf_dir: &Path, env: &[(&str, &str)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_lode"));
    command.env_clear().env("ALLUXIO_CONF_DIR", conf_dir).args(args);
    for (name, value) in env {
        command.env(name, value);
    }
    command.output().expect("running lode")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "lode failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// The guide's properties file, alluxio-env.sh and ALLUXIO_JAVA_OPTS load, and `lode conf get
/// --source` shows each value with the source it came from, in DESIGN §6's precedence.
#[test]
fn the_fault_tolerance_guide_configuration_loads_with_sources() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("alluxio-site.properties"),
        "alluxio.master.journal.type=UFS\nalluxio.zookeeper.session.timeout=30s\n\
         alluxio.master.rpc.port=19990\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("alluxio-env.sh"),
        "export ALLUXIO_MASTER_HOSTNAME=master1.example.com\n\
         ALLUXIO_JAVA_OPTS=\"-Dalluxio.zookeeper.enabled=true \
         -Dalluxio.zookeeper.address=h1:2181,h2:2181,h3:2181 \
         -Dalluxio.master.journal.folder=hdfs://nn:8020/alluxio/journal \
         -Dalluxio.master.rpc.port=19991\"\n",
    )
    .unwrap();
    let site = dir.path().join("alluxio-site.properties").display().to_string();
    let get = |key: &str, env: &[(&str, &str)], extra: &[&str]| {
        let mut args = vec!["conf", "get", key, "--source"];
        args.extend_from_slice(extra);
        stdout(&lode(dir.path(), env, &args)).trim_end().to_string()
    };
    assert_eq!(get("alluxio.zookeeper.enabled", &[], &[]), "true (ALLUXIO_JAVA_OPTS)");
    assert_eq!(
        get("alluxio.zookeeper.address", &[], &[]),
        "h1:2181,h2:2181,h3:2181 (ALLUXIO_JAVA_OPTS)"
    );
    assert_eq!(
        get("alluxio.master.journal.folder", &[], &[]),
        "hdfs://nn:8020/alluxio/journal (ALLUXIO_JAVA_OPTS)"
    );
    let env_file = dir.path().join("alluxio-env.sh").display().to_string();
    assert_eq!(
        get("alluxio.master.hostname", &[], &[]),
        format!("master1.example.com ({env_file})")
    );
    assert_eq!(get("alluxio.zookeeper.session.timeout", &[], &[]), format!("30s ({site})"));
    assert_eq!(get("alluxio.master.journal.type", &[], &[]), format!("UFS ({site})"));
    assert_eq!(get("alluxio.zookeeper.election.path", &[], &[]), "/alluxio/election (default)");

    // Precedence: site < env file < environment < ALLUXIO_JAVA_OPTS < per-process opts < -D.
    assert_eq!(get("alluxio.master.rpc.port", &[], &[]), "19991 (ALLUXIO_JAVA_OPTS)");
    assert_eq!(
        get("alluxio.master.hostname", &[("ALLUXIO_MASTER_HOSTNAME", "from-env")], &[]),
        "from-env (environment)"
    );
    let master_opts = [("ALLUXIO_MASTER_JAVA_OPTS", "-Dalluxio.master.rpc.port=19992")];
    assert_eq!(
        get("alluxio.master.rpc.port", &master_opts, &["--process", "master"]),
        "19992 (ALLUXIO_MASTER_JAVA_OPTS)"
    );
    assert_eq!(
        get("alluxio.master.rpc.port", &master_opts, &["--process", "client"]),
        "19991 (ALLUXIO_JAVA_OPTS)",
        "the master's options do not apply to clients"
    );
    assert_eq!(
        get(
            "alluxio.master.rpc.port",
            &master_opts,
            &["--process", "master", "-Dalluxio.master.rpc.port=19993"]
        ),
        "19993 (command line)"
    );
    let listed = stdout(&lode(dir.path(), &[], &["conf", "list", "--source"]));
    assert!(listed.contains("alluxio.zookeeper.enabled=true  # ALLUXIO_JAVA_OPTS"), "{listed}");
}

/// A bad value is an error naming the key, the value and the file it came from.
#[test]
fn a_bad_value_names_key_value_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("alluxio-site.properties");
    std::fs::write(&site, "alluxio.zookeeper.session.timeout=abc\n").unwrap();
    let output = lode(dir.path(), &[], &["conf", "get", "alluxio.zookeeper.enabled"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "lode: invalid value `abc` for alluxio.zookeeper.session.timeout (from {}): expected \
             a duration such as 500ms, 60s, 10min, 1h or 1day",
            site.display()
        )
    );
}

/// An unknown alluxio.* key in a file is a warning naming the nearest known key, not an error.
#[test]
fn an_unknown_key_warns_with_the_nearest_known_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("alluxio-site.properties"), "alluxio.zookeeper.enabeld=true\n")
        .unwrap();
    let output = lode(dir.path(), &[], &["conf", "get", "alluxio.zookeeper.enabled"]);
    assert_eq!(stdout(&output), "false\n");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("unknown property alluxio.zookeeper.enabeld")
            && stderr.contains("did you mean alluxio.zookeeper.enabled?"),
        "{stderr}"
    );
}

/// Command substitution in alluxio-env.sh is refused with the file and line: it is never run.
#[test]
fn command_substitution_in_the_env_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("alluxio-env.sh");
    std::fs::write(&env_file, "# comment\nexport ALLUXIO_MASTER_HOSTNAME=$(hostname -f)\n")
        .unwrap();
    let output = lode(dir.path(), &[], &["conf", "list"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("{}:2:", env_file.display())), "{stderr}");
    assert!(stderr.contains("never runs it"), "{stderr}");
}

/// The shell registers exactly the backends it is built with (pinned, so a backend that is
/// listed in Cargo.toml but not linked is caught).
#[test]
fn the_shell_registers_exactly_its_backends() {
    let dir = tempfile::tempdir().unwrap();
    let report = stdout(&lode(dir.path(), &[], &["conf", "backends"]));
    let mut expected = vec!["local", "embedded"];
    if cfg!(feature = "etcd") {
        expected.push("etcd");
    }
    expected.push("zookeeper");
    assert_eq!(lode_tests::registered_backend_names(&report), expected);
}
