//! Every file shipped under `conf/` loads as Alluxio configuration without errors or warnings.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lode_core::config::{Config, LoadOptions, Process};

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(files_under(&path));
        } else {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// `key=value` or `export NAME=value`: a commented-out setting rather than prose.
fn looks_like_setting(line: &str) -> bool {
    let assignment = line.strip_prefix("export ").unwrap_or(line);
    match assignment.split_once('=') {
        Some((name, _)) => {
            !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '_')
        }
        None => false,
    }
}

/// Each file under `conf/` is a site properties file or an env file, and loads cleanly (a
/// template with its settings uncommented too).
#[test]
fn every_file_under_conf_loads_cleanly() {
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf");
    let files = files_under(&conf);
    assert!(files.len() >= 4, "found only {files:?}");
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let target = if name.starts_with("alluxio-site.properties") {
            "alluxio-site.properties"
        } else if name.starts_with("alluxio-env.sh") {
            "alluxio-env.sh"
        } else {
            panic!("{} is neither a site properties nor an env file", file.display());
        };
        let text = std::fs::read_to_string(&file).unwrap();
        // Templates keep their settings commented out: load them as shipped and uncommented.
        let uncommented: String = text
            .lines()
            .map(|line| match line.strip_prefix("# ") {
                Some(setting) if looks_like_setting(setting) => setting,
                _ => line,
            })
            .collect::<Vec<_>>()
            .join("\n");
        for variant in [&text, &uncommented] {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join(target), variant).unwrap();
            let options = LoadOptions {
                process: Process::Master,
                environment: BTreeMap::from([(
                    "ALLUXIO_CONF_DIR".to_string(),
                    dir.path().display().to_string(),
                )]),
                command_line: vec![],
            };
            let loaded = Config::load(&options)
                .unwrap_or_else(|e| panic!("{}: {e}\n{variant}", file.display()));
            assert!(loaded.warnings.is_empty(), "{}: {:?}", file.display(), loaded.warnings);
        }
    }
}
