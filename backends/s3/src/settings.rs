//! The S3 store's settings, from the journal folder and Alluxio's S3 keys. No I/O.

use std::fmt;
use std::time::Duration;

use lode_core::config::{name, Config};
use lode_core::store::StoreError;

/// Where the journal lives in S3 and how to reach it.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// The bucket.
    pub bucket: String,
    /// The journal's prefix inside the bucket, without leading or trailing `/`.
    pub prefix: String,
    /// The service endpoint (`http://127.0.0.1:9000`); AWS's for the region when unset.
    pub endpoint: Option<String>,
    /// The region requests are signed for.
    pub region: String,
    /// Path-style requests (`endpoint/bucket/key`) instead of virtual-host style.
    pub path_style: bool,
    /// The access key id; the `AWS_*` environment variables when unset.
    pub access_key_id: Option<String>,
    /// The secret key. Never shown: `Debug` prints `******`.
    pub secret_key: Option<String>,
    /// How long one request may take (`alluxio.master.journal.request.timeout`).
    pub request_timeout: Duration,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("path_style", &self.path_style)
            .field("access_key_id", &self.access_key_id.as_ref().map(|_| "******"))
            .field("secret_key", &self.secret_key.as_ref().map(|_| "******"))
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

fn config_error(message: String) -> StoreError {
    StoreError::Config { message }
}

impl Settings {
    /// Settings for the journal folder `uri` (`s3://bucket/prefix`).
    pub fn from_config(uri: &str, config: &Config) -> Result<Settings, StoreError> {
        let (bucket, prefix) = split_uri(uri)?;
        let first =
            |keys: [&str; 2]| keys.iter().find_map(|key| config.string(key)).map(str::to_string);
        let access_key_id = first([name::S3A_ACCESS_KEY_ID, name::AWS_ACCESS_KEY_ID]);
        let secret_key = first([name::S3A_SECRET_KEY, name::AWS_SECRET_KEY]);
        if access_key_id.is_some() != secret_key.is_some() {
            return Err(config_error(format!(
                "the journal folder {uri} has half a credential: set both {} and {} (or neither, \
                 to use the AWS_* environment variables)",
                name::S3A_ACCESS_KEY_ID,
                name::S3A_SECRET_KEY
            )));
        }
        let endpoint = config.string(name::UNDERFS_S3_ENDPOINT).filter(|e| !e.is_empty());
        if let Some(endpoint) = endpoint {
            if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
                return Err(config_error(format!(
                    "{}={endpoint} must start with http:// or https://",
                    name::UNDERFS_S3_ENDPOINT
                )));
            }
        }
        let request_timeout = lode_core::store::request_timeout(config)?;
        Ok(Settings {
            bucket,
            prefix,
            endpoint: endpoint.map(str::to_string),
            region: config.string(name::UNDERFS_S3_REGION).unwrap_or("us-east-1").to_string(),
            path_style: config.bool(name::UNDERFS_S3_DISABLE_DNS_BUCKETS),
            access_key_id,
            secret_key,
            request_timeout,
        })
    }

    /// The folder as a URI, for messages.
    pub fn location(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Splits `s3://bucket/prefix` (or `s3a://`) into the bucket and the prefix.
fn split_uri(uri: &str) -> Result<(String, String), StoreError> {
    let rest = uri
        .split_once("://")
        .filter(|(scheme, _)| {
            scheme.eq_ignore_ascii_case("s3") || scheme.eq_ignore_ascii_case("s3a")
        })
        .map(|(_, rest)| rest)
        .ok_or_else(|| config_error(format!("journal folder {uri} is not an s3:// URI")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    let valid_bucket = (3..=63).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if !valid_bucket {
        return Err(config_error(format!(
            "journal folder {uri}: `{bucket}` is not a bucket name (3 to 63 lowercase letters, \
             digits, `-` and `.`)"
        )));
    }
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        return Err(config_error(format!(
            "journal folder {uri} is a whole bucket: name a prefix, such as s3://{bucket}/alluxio/journal"
        )));
    }
    if prefix.split('/').any(|part| part.is_empty() || part == "." || part == "..") {
        return Err(config_error(format!(
            "journal folder {uri} has an empty, `.` or `..` component"
        )));
    }
    Ok((bucket.to_string(), prefix.to_string()))
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
    fn alluxio_keys_configure_the_store() {
        let parsed = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "s3://journals/alluxio/journal/"),
            (name::UNDERFS_S3_ENDPOINT, "http://127.0.0.1:9000"),
            (name::UNDERFS_S3_DISABLE_DNS_BUCKETS, "true"),
            (name::UNDERFS_S3_REGION, "eu-west-1"),
            (name::S3A_ACCESS_KEY_ID, "AKIAEXAMPLE"),
            (name::S3A_SECRET_KEY, "very-secret"),
        ])
        .unwrap();
        assert_eq!(
            (parsed.bucket.as_str(), parsed.prefix.as_str()),
            ("journals", "alluxio/journal")
        );
        assert_eq!(parsed.endpoint.as_deref(), Some("http://127.0.0.1:9000"));
        assert!(parsed.path_style);
        assert_eq!(parsed.region, "eu-west-1");
        assert_eq!(parsed.location(), "s3://journals/alluxio/journal");
        let shown = format!("{parsed:?}");
        assert!(!shown.contains("very-secret") && !shown.contains("AKIAEXAMPLE"), "{shown}");
    }

    #[test]
    fn the_older_aws_key_names_work_too() {
        let parsed = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "s3a://journals/j"),
            (name::AWS_ACCESS_KEY_ID, "id"),
            (name::AWS_SECRET_KEY, "secret"),
        ])
        .unwrap();
        assert_eq!(parsed.access_key_id.as_deref(), Some("id"));
        assert!(!parsed.path_style);
    }

    #[test]
    fn bad_folders_and_half_credentials_are_refused_by_name() {
        for (uri, says) in [
            ("s3://journals", "a whole bucket"),
            ("s3://Journals/j", "not a bucket name"),
            ("s3://ab/j", "not a bucket name"),
            ("s3://journals/a//b", "empty, `.` or `..`"),
        ] {
            let err = settings(&[(name::MASTER_JOURNAL_FOLDER, uri)]).unwrap_err();
            assert!(err.to_string().contains(says), "{uri}: {err}");
        }
        let err = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "s3://journals/j"),
            (name::S3A_SECRET_KEY, "very-secret"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("half a credential"), "{err}");
        assert!(!err.to_string().contains("very-secret"), "{err}");
        let err = settings(&[
            (name::MASTER_JOURNAL_FOLDER, "s3://journals/j"),
            (name::UNDERFS_S3_ENDPOINT, "127.0.0.1:9000"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("http://"), "{err}");
    }
}
