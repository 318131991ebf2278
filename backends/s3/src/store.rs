//! The S3 journal store: objects are S3 objects under the journal prefix.

use std::time::Duration;

use async_trait::async_trait;
use lode_core::store::{validate_key, Capabilities, JournalStore, StoreError};
use opendal::services::S3;
use opendal::{Error, ErrorKind, Operator};

use crate::settings::Settings;

/// A journal store under a prefix of an S3 bucket.
#[derive(Debug)]
pub struct S3Store {
    operator: Operator,
    settings: Settings,
}

impl S3Store {
    /// A store for `settings`; connects lazily, on the first request.
    pub fn new(settings: Settings) -> Result<S3Store, StoreError> {
        opendal::install_default();
        let mut builder = S3::default()
            .bucket(&settings.bucket)
            .root(&format!("/{}", settings.prefix))
            .region(&settings.region)
            // Credentials come from configuration or the environment, never from a cloud
            // metadata endpoint this store would have to guess at.
            .disable_ec2_metadata();
        if let Some(endpoint) = &settings.endpoint {
            builder = builder.endpoint(endpoint);
        }
        if !settings.path_style {
            builder = builder.enable_virtual_host_style();
        }
        if let (Some(id), Some(secret)) = (&settings.access_key_id, &settings.secret_key) {
            builder = builder.access_key_id(id).secret_access_key(secret);
        }
        let operator = Operator::new(builder).map_err(|e| StoreError::Config {
            message: format!("cannot use the journal folder {}: {}", settings.location(), e.kind()),
        })?;
        Ok(S3Store { operator, settings })
    }

    /// Runs one request, giving up after the request timeout.
    async fn bounded<T>(
        &self,
        request: impl std::future::IntoFuture<Output = opendal::Result<T>>,
    ) -> opendal::Result<T> {
        let timeout = self.settings.request_timeout;
        tokio::time::timeout(timeout, request.into_future()).await.unwrap_or_else(|_| {
            Err(Error::new(
                ErrorKind::Unexpected,
                format!("no answer within {timeout:?} (alluxio.master.journal.request.timeout)"),
            )
            .set_temporary())
        })
    }

    /// Maps an error that is not the expected "exists"/"not found": bad credentials or a
    /// missing bucket are configuration errors; anything else may pass.
    fn failed(&self, operation: &'static str, key: &str, error: Error) -> StoreError {
        match error.kind() {
            ErrorKind::PermissionDenied | ErrorKind::ConfigInvalid => StoreError::Config {
                message: format!(
                    "the journal folder {} refuses {operation} {key}: {} (check the bucket, \
                     s3a.accessKeyId and s3a.secretKey)",
                    self.location(),
                    error.message()
                ),
            },
            _ => StoreError::Unavailable {
                operation,
                key: key.into(),
                store: self.location(),
                message: error.to_string(),
            },
        }
    }
}

#[async_trait]
impl JournalStore for S3Store {
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            exclusive_create: true,
            max_object_size: 5 << 30,
            ordered_list: true,
            // Requests cost money and time: standbys poll an object store less often.
            poll_interval: Duration::from_millis(50),
        }
    }

    fn location(&self) -> String {
        self.settings.location()
    }

    async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> Result<(), StoreError> {
        validate_key(self, key)?;
        let written = self.bounded(self.operator.write_with(key, bytes).if_not_exists(true)).await;
        match written {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == ErrorKind::ConditionNotMatch => {
                Err(StoreError::AlreadyExists { key: key.into(), store: self.location() })
            }
            Err(e)
                if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::ConfigInvalid) =>
            {
                Err(self.failed("put", key, e))
            }
            // A 409 conflict (another conditional write in flight) took no effect.
            Err(e) if e.kind() == ErrorKind::Conflict => Err(self.failed("put", key, e)),
            // No answer, a reset or a server error: the object may have been stored.
            Err(e) => Err(StoreError::Ambiguous {
                operation: "put",
                key: key.into(),
                store: self.location(),
                message: e.to_string(),
            }),
        }
    }

    async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        validate_key(self, key)?;
        match self.bounded(self.operator.read(key)).await {
            Ok(buffer) => Ok(Some(buffer.to_vec())),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.failed("get", key, e)),
        }
    }

    async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        validate_key(self, key)?;
        match self.bounded(self.operator.stat(key)).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(self.failed("exists", key, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        let (folder, name_prefix) = prefix.rsplit_once('/').unwrap_or(("", prefix));
        if !folder.is_empty() {
            validate_key(self, folder)?;
        }
        let dir = if folder.is_empty() { "/".to_string() } else { format!("{folder}/") };
        let entries = match self.bounded(self.operator.list(&dir)).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.failed("list", prefix, e)),
        };
        // Sub-folders (common prefixes) are listed too, by their key without the `/`.
        let mut keys: Vec<String> = entries
            .iter()
            .map(|entry| entry.path().trim_start_matches('/').trim_end_matches('/').to_string())
            .filter(|key| {
                key.rsplit('/').next().is_some_and(|name| name.starts_with(name_prefix))
                    && key.rsplit_once('/').map_or("", |(parent, _)| parent) == folder
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(self, key)?;
        match self.bounded(self.operator.delete(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e)
                if matches!(e.kind(), ErrorKind::PermissionDenied | ErrorKind::ConfigInvalid) =>
            {
                Err(self.failed("delete", key, e))
            }
            Err(e) => Err(StoreError::Ambiguous {
                operation: "delete",
                key: key.into(),
                store: self.location(),
                message: e.to_string(),
            }),
        }
    }

    /// A conditional put is one request: nothing temporary is ever left behind.
    async fn clean_temporary(&self, _older_than: Duration) -> Result<usize, StoreError> {
        Ok(0)
    }
}
