//! The HDFS store's settings: the folder from `alluxio.master.journal.folder` and the Hadoop
//! properties from the files `alluxio.underfs.hdfs.configuration` lists. Parsing does no I/O
//! beyond reading those files.

use std::collections::HashMap;
use std::time::Duration;

use lode_core::config::{name, Config};
use lode_core::store::StoreError;

/// Where the journal lives on HDFS and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The file system: `hdfs://<namenode host:port or nameservice>`.
    pub filesystem: String,
    /// The journal folder inside it, absolute, without a trailing `/`.
    pub folder: String,
    /// Hadoop properties (`dfs.nameservices`, `dfs.ha.namenodes.*`, ...), later files winning.
    pub hadoop: HashMap<String, String>,
    /// How long one NameNode or DataNode exchange may take (`alluxio.master.journal.request.timeout`).
    pub request_timeout: Duration,
}

fn config_error(message: String) -> StoreError {
    StoreError::Config { message }
}

impl Settings {
    /// Settings for the journal folder `uri` (`hdfs://authority/path`).
    pub fn from_config(uri: &str, config: &Config) -> Result<Settings, StoreError> {
        let (filesystem, folder) = split_uri(uri)?;
        let hadoop = hadoop_properties(config)?;
        let request_timeout = lode_core::store::request_timeout(config)?;
        Ok(Settings { filesystem, folder, hadoop, request_timeout })
    }

    /// The folder as a URI, for messages.
    pub fn location(&self) -> String {
        format!("{}{}", self.filesystem, self.folder)
    }
}

/// Splits `hdfs://authority/path` into `hdfs://authority` and `/path`.
fn split_uri(uri: &str) -> Result<(String, String), StoreError> {
    let rest = uri
        .split_once("://")
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("hdfs"))
        .map(|(_, rest)| rest)
        .ok_or_else(|| config_error(format!("journal folder {uri} is not an hdfs:// URI")))?;
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        return Err(config_error(format!(
            "journal folder {uri} names no NameNode or nameservice: write \
             hdfs://<host:port or nameservice>/<folder>"
        )));
    }
    let folder = path.trim_end_matches('/');
    if folder.is_empty() {
        return Err(config_error(format!(
            "journal folder {uri} is the root of the file system: name a folder, such as \
             hdfs://{authority}/alluxio/journal"
        )));
    }
    if folder.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(config_error(format!(
            "journal folder {uri} has an empty, `.` or `..` component"
        )));
    }
    Ok((format!("hdfs://{authority}"), format!("/{folder}")))
}

/// The Hadoop properties of the files `alluxio.underfs.hdfs.configuration` lists.
fn hadoop_properties(config: &Config) -> Result<HashMap<String, String>, StoreError> {
    let Some(entry) = config.get(name::UNDERFS_HDFS_CONFIGURATION) else {
        return Ok(HashMap::new());
    };
    lode_core::config::hadoop::properties(&entry.text, entry.source != "default")
        .map_err(config_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, StoreError> {
        let config = Config::from_pairs(pairs.iter().copied()).unwrap();
        let uri = config.string(name::MASTER_JOURNAL_FOLDER).unwrap_or_default().to_string();
        Settings::from_config(&uri, &config)
    }

    #[test]
    fn a_folder_splits_into_file_system_and_path() {
        let parsed =
            settings(&[(name::MASTER_JOURNAL_FOLDER, "hdfs://nn:8020/alluxio/journal/")]).unwrap();
        assert_eq!(parsed.filesystem, "hdfs://nn:8020");
        assert_eq!(parsed.folder, "/alluxio/journal");
        assert_eq!(parsed.location(), "hdfs://nn:8020/alluxio/journal");
        let ha = settings(&[(name::MASTER_JOURNAL_FOLDER, "hdfs://mycluster/j")]).unwrap();
        assert_eq!((ha.filesystem.as_str(), ha.folder.as_str()), ("hdfs://mycluster", "/j"));
    }

    #[test]
    fn folders_without_a_namenode_or_a_path_are_refused() {
        for (uri, says) in [
            ("hdfs:///alluxio/journal", "names no NameNode"),
            ("hdfs://nn:8020", "root of the file system"),
            ("hdfs://nn:8020/", "root of the file system"),
            ("hdfs://nn:8020/a//b", "empty, `.` or `..`"),
            ("hdfs://nn:8020/a/../b", "empty, `.` or `..`"),
        ] {
            let err = settings(&[(name::MASTER_JOURNAL_FOLDER, uri)]).unwrap_err();
            assert!(err.to_string().contains(says), "{uri}: {err}");
            assert!(err.to_string().contains(uri), "{uri}: {err}");
        }
    }

    #[test]
    fn hadoop_files_are_read_in_order_and_missing_default_files_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let core = dir.path().join("core-site.xml");
        let hdfs = dir.path().join("hdfs-site.xml");
        std::fs::write(
            &core,
            "<?xml version=\"1.0\"?>\n<configuration>\n<property><name>a</name><value>core</value>\
             </property>\n<property><name>b</name><value> kept </value></property>\n</configuration>",
        )
        .unwrap();
        std::fs::write(
            &hdfs,
            "<configuration><property><name>a</name><value>hdfs</value></property></configuration>",
        )
        .unwrap();
        let list = format!("{}:{}", core.display(), hdfs.display());
        let parsed = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "hdfs://ns/j"),
            (name::UNDERFS_HDFS_CONFIGURATION, &list),
        ])
        .unwrap();
        assert_eq!(parsed.hadoop.get("a").map(String::as_str), Some("hdfs"));
        assert_eq!(parsed.hadoop.get("b").map(String::as_str), Some("kept"));

        // The default names files in the configuration directory, which may not exist.
        let conf_dir = dir.path().join("conf").display().to_string();
        let defaults =
            settings(&[(name::MASTER_JOURNAL_FOLDER, "hdfs://ns/j"), (name::CONF_DIR, &conf_dir)])
                .unwrap();
        assert!(defaults.hadoop.is_empty());
    }

    #[test]
    fn an_explicit_missing_or_broken_file_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.xml").display().to_string();
        let err = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "hdfs://ns/j"),
            (name::UNDERFS_HDFS_CONFIGURATION, &missing),
        ])
        .unwrap_err();
        assert!(err.to_string().contains(&missing), "{err}");

        let broken = dir.path().join("broken.xml");
        std::fs::write(&broken, "<configuration><property><name>x</name></property>").unwrap();
        let err = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "hdfs://ns/j"),
            (name::UNDERFS_HDFS_CONFIGURATION, &broken.display().to_string()),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("broken.xml"), "{err}");
    }
}
