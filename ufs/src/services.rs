//! One OpenDAL operator per under-file-system, built from its URI and Alluxio's keys: a mount's
//! own options first, then the site configuration.

use std::collections::BTreeMap;

use lode_core::config::{name, Config};
use opendal::Operator;

use crate::location::{Scheme, UfsUri};
use crate::UfsError;

/// What an operator is built from.
pub(crate) struct Settings<'a> {
    pub uri: &'a UfsUri,
    pub options: &'a BTreeMap<String, String>,
    pub config: &'a Config,
}

impl Settings<'_> {
    /// `key`'s value: the mount's option, else the site's.
    fn get(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str).or_else(|| self.config.string(key))
    }

    fn error(&self, message: String) -> UfsError {
        UfsError::Config { uri: self.uri.to_string(), message }
    }
}

/// The operator for `settings`' URI.
pub(crate) fn operator(settings: &Settings) -> Result<Operator, UfsError> {
    let built = match settings.uri.scheme() {
        Scheme::Local => Operator::new(opendal::services::Fs::default().root(settings.uri.root())),
        #[cfg(feature = "hdfs")]
        Scheme::Hdfs => hdfs(settings)?,
        #[cfg(feature = "s3")]
        Scheme::S3 => s3(settings)?,
        #[allow(unreachable_patterns)] // Refused before: `UfsUri::check_built_in`.
        _ => return Err(settings.error("this kind of under-file-system is not built in".into())),
    };
    let timeout = request_timeout(settings)?;
    let layer = opendal::layers::TimeoutLayer::new().with_timeout(timeout).with_io_timeout(timeout);
    built.map(|operator| operator.layer(layer)).map_err(|e| settings.error(e.to_string()))
}

/// How long one request may take: `alluxio.underfs.request.timeout`, the mount's or the site's.
pub(crate) fn request_timeout(settings: &Settings) -> Result<std::time::Duration, UfsError> {
    match settings.get(name::UNDERFS_REQUEST_TIMEOUT) {
        None => Ok(DEFAULT_REQUEST_TIMEOUT),
        Some(text) => lode_core::config::parse_duration(text)
            .ok()
            .filter(|timeout| !timeout.is_zero())
            .ok_or_else(|| {
                settings.error(format!(
                    "{}={text} is not a positive duration",
                    name::UNDERFS_REQUEST_TIMEOUT
                ))
            }),
    }
}

/// `alluxio.underfs.request.timeout` when neither the mount nor the site sets it (the table's
/// default, for configurations built without defaults).
const DEFAULT_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// HDFS through hdfs-native: the NameNode or nameservice from the URI, Hadoop's properties
/// (`dfs.nameservices`, `dfs.ha.namenodes.*`, ...) from the files
/// `alluxio.underfs.hdfs.configuration` lists.
#[cfg(feature = "hdfs")]
fn hdfs(settings: &Settings) -> Result<opendal::Result<Operator>, UfsError> {
    use lode_core::config::hadoop;
    let files = settings.get(name::UNDERFS_HDFS_CONFIGURATION).unwrap_or_default();
    // Files Alluxio's default names may be missing; files a site or mount names must exist.
    let explicit = settings.options.contains_key(name::UNDERFS_HDFS_CONFIGURATION)
        || settings
            .config
            .get(name::UNDERFS_HDFS_CONFIGURATION)
            .is_some_and(|e| e.source != "default");
    let properties = hadoop::properties(files, explicit).map_err(|e| settings.error(e))?;
    let builder = opendal::services::HdfsNative::default()
        .name_node(&format!("hdfs://{}", settings.uri.authority()))
        .root(settings.uri.root())
        .options(properties);
    Ok(Operator::new(builder))
}

/// S3 with Alluxio's keys: `s3a.accessKeyId`/`s3a.secretKey` (or `aws.*`),
/// `alluxio.underfs.s3.endpoint`, `.region`, `.disable.dns.buckets`.
#[cfg(feature = "s3")]
fn s3(settings: &Settings) -> Result<opendal::Result<Operator>, UfsError> {
    opendal::install_default();
    let first = |keys: [&str; 2]| keys.iter().find_map(|key| settings.get(key));
    let access_key_id = first([name::S3A_ACCESS_KEY_ID, name::AWS_ACCESS_KEY_ID]);
    let secret_key = first([name::S3A_SECRET_KEY, name::AWS_SECRET_KEY]);
    if access_key_id.is_some() != secret_key.is_some() {
        return Err(settings.error(format!(
            "half a credential: set both {} and {} (or neither, to use the AWS_* environment \
             variables)",
            name::S3A_ACCESS_KEY_ID,
            name::S3A_SECRET_KEY
        )));
    }
    let mut builder = opendal::services::S3::default()
        .bucket(settings.uri.authority())
        .root(settings.uri.root())
        .region(settings.get(name::UNDERFS_S3_REGION).unwrap_or("us-east-1"))
        // Credentials come from configuration or the environment, never from a cloud
        // metadata endpoint this process would have to guess at.
        .disable_ec2_metadata();
    if let Some(endpoint) = settings.get(name::UNDERFS_S3_ENDPOINT).filter(|e| !e.is_empty()) {
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(settings.error(format!(
                "{}={endpoint} must start with http:// or https://",
                name::UNDERFS_S3_ENDPOINT
            )));
        }
        builder = builder.endpoint(endpoint);
    }
    let path_style = settings
        .get(name::UNDERFS_S3_DISABLE_DNS_BUCKETS)
        .is_some_and(|value| value.eq_ignore_ascii_case("true"));
    if !path_style {
        builder = builder.enable_virtual_host_style();
    }
    if let (Some(id), Some(secret)) = (access_key_id, secret_key) {
        builder = builder.access_key_id(id).secret_access_key(secret);
    }
    Ok(Operator::new(builder))
}
