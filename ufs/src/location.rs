//! Under-file-system URIs: which service, where in it, and how paths inside it are written.

use crate::UfsError;

/// Which kind of storage a URI names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// A local (or mounted network) folder: a plain absolute path or `file://`.
    Local,
    /// HDFS: `hdfs://<namenode host:port or nameservice>/<path>`.
    Hdfs,
    /// S3 or an S3-compatible store: `s3://<bucket>/<prefix>` (or `s3a://`).
    S3,
}

impl Scheme {
    /// Alluxio's name for the kind (`MountPointInfo.ufsType`).
    pub fn ufs_type(self) -> &'static str {
        match self {
            Scheme::Local => "local",
            Scheme::Hdfs => "hdfs",
            Scheme::S3 => "s3",
        }
    }

    /// Whether it stores objects rather than files: no rename, and a write appears whole when
    /// it completes (so it needs no temporary name).
    pub fn is_object_store(self) -> bool {
        self == Scheme::S3
    }
}

/// A parsed under-file-system URI.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UfsUri {
    scheme: Scheme,
    /// The NameNode or nameservice (HDFS) or the bucket (S3); empty for a local folder.
    authority: String,
    /// The folder inside, absolute, without a trailing `/` (`/` itself for the top).
    root: String,
}

/// Schemes Alluxio sites use that are not HDFS, S3 or a local folder: refused by name.
const SCHEME_FEATURES: [(&str, &str); 3] = [("hdfs", "hdfs"), ("s3", "s3"), ("s3a", "s3")];

impl UfsUri {
    /// Parses `uri`: `/abs/path`, `file:///abs/path`, `hdfs://authority/path`,
    /// `s3://bucket/prefix` or `s3a://bucket/prefix`.
    pub fn parse(uri: &str) -> Result<UfsUri, UfsError> {
        let invalid = |reason: String| UfsError::InvalidUri { uri: uri.into(), reason };
        let (scheme, rest) = match uri.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None if uri.starts_with('/') => ("file".to_string(), uri),
            None => {
                return Err(invalid(
                    "a local folder must be an absolute path (or write scheme://...)".into(),
                ))
            }
        };
        let (scheme, authority, path) = match scheme.as_str() {
            "file" => {
                let (host, path) = split_authority(rest);
                if !host.is_empty() && host != "localhost" {
                    return Err(invalid(format!(
                        "file:// names this host's folders, not {host}'s: write file:///<folder>"
                    )));
                }
                (Scheme::Local, String::new(), path)
            }
            "hdfs" => {
                let (authority, path) = split_authority(rest);
                if authority.is_empty() {
                    return Err(invalid(
                        "no NameNode or nameservice: write hdfs://<host:port or nameservice>/<path>"
                            .into(),
                    ));
                }
                (Scheme::Hdfs, authority.to_string(), path)
            }
            "s3" | "s3a" => {
                let (bucket, path) = split_authority(rest);
                let valid = (3..=63).contains(&bucket.len())
                    && bucket.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.'
                    });
                if !valid {
                    return Err(invalid(format!(
                        "`{bucket}` is not a bucket name (3 to 63 lowercase letters, digits, `-` \
                         and `.`)"
                    )));
                }
                (Scheme::S3, bucket.to_string(), path)
            }
            other => {
                return Err(UfsError::UnknownScheme {
                    uri: uri.into(),
                    scheme: other.into(),
                    hint: String::new(),
                    built_in: built_in().join(", "),
                })
            }
        };
        let root = normalize(path).map_err(invalid)?;
        Ok(UfsUri { scheme, authority, root })
    }

    /// Which kind of storage it is.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The NameNode or nameservice, or the bucket; empty for a local folder.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// The folder inside the storage, absolute, without a trailing `/`.
    pub fn root(&self) -> &str {
        &self.root
    }

    /// The URI of `relative` (components joined by `/`, empty for the root) below this one.
    pub fn join(&self, relative: &str) -> String {
        let relative = relative.trim_matches('/');
        match (relative.is_empty(), self.root.as_str()) {
            (true, _) => self.to_string(),
            (false, "/") => format!("{}{relative}", self),
            (false, _) => format!("{self}/{relative}"),
        }
    }

    /// The path of `uri` below this URI (`a/b/file`; empty for this URI itself), or `None` when
    /// `uri` is not in it.
    pub fn relative(&self, uri: &str) -> Option<String> {
        let inner = UfsUri::parse(uri).ok()?;
        if (inner.scheme, &inner.authority) != (self.scheme, &self.authority) {
            return None;
        }
        if self.root == "/" {
            return Some(inner.root.trim_start_matches('/').to_string());
        }
        match inner.root.strip_prefix(&self.root) {
            Some("") => Some(String::new()),
            Some(rest) if rest.starts_with('/') => Some(rest[1..].to_string()),
            _ => None,
        }
    }

    /// Whether one of the two is the other or inside it: two mounts of such URIs would show the
    /// same files under two names, which Alluxio refuses.
    pub fn overlaps(&self, other: &UfsUri) -> bool {
        let within = |inner: &str, outer: &str| {
            outer == "/"
                || inner == outer
                || inner.strip_prefix(outer).is_some_and(|rest| rest.starts_with('/'))
        };
        self.scheme == other.scheme
            && self.authority == other.authority
            && (within(&self.root, &other.root) || within(&other.root, &self.root))
    }

    /// Checks that this binary can reach this kind of storage.
    pub fn check_built_in(&self, uri: &str) -> Result<(), UfsError> {
        let (scheme, built) = match self.scheme {
            Scheme::Local => return Ok(()),
            Scheme::Hdfs => ("hdfs", cfg!(feature = "hdfs")),
            Scheme::S3 => ("s3", cfg!(feature = "s3")),
        };
        if built {
            return Ok(());
        }
        let feature = SCHEME_FEATURES.iter().find(|(s, _)| *s == scheme).map(|(_, f)| *f);
        Err(UfsError::UnknownScheme {
            uri: uri.into(),
            scheme: scheme.into(),
            hint: feature
                .map(|f| format!("; build with --features lode-ufs/{f}"))
                .unwrap_or_default(),
            built_in: built_in().join(", "),
        })
    }
}

impl std::fmt::Display for UfsUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let root = if self.root == "/" { "/" } else { &self.root };
        match self.scheme {
            Scheme::Local => write!(f, "{root}"),
            Scheme::Hdfs => write!(f, "hdfs://{}{root}", self.authority),
            Scheme::S3 => write!(f, "s3://{}{root}", self.authority),
        }
    }
}

/// The schemes this binary reaches: a local folder always, HDFS and S3 when built in.
pub fn built_in() -> Vec<&'static str> {
    let mut schemes = vec!["a local folder (/path or file:///path)"];
    if cfg!(feature = "hdfs") {
        schemes.push("hdfs://");
    }
    if cfg!(feature = "s3") {
        schemes.push("s3:// (and s3a://)");
    }
    schemes
}

/// Splits `authority/path` at the first `/` (the path keeps it).
fn split_authority(rest: &str) -> (&str, &str) {
    match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, "/"),
    }
}

/// The absolute form of `path` without a trailing `/`; `.` and `..` are refused (a mount
/// must say where it is, not how to get there).
fn normalize(path: &str) -> Result<String, String> {
    let mut parts = Vec::new();
    for part in path.split('/').filter(|part| !part.is_empty()) {
        if part == "." || part == ".." {
            return Err(format!("the path {path} has a `{part}` component"));
        }
        parts.push(part);
    }
    Ok(format!("/{}", parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_form_parses_to_its_scheme_and_folder() {
        let local = UfsUri::parse("/data/ufs/").unwrap();
        assert_eq!((local.scheme(), local.root()), (Scheme::Local, "/data/ufs"));
        assert_eq!(UfsUri::parse("file:///data/ufs").unwrap(), local);
        let hdfs = UfsUri::parse("hdfs://nn1:8020/alluxio").unwrap();
        assert_eq!(
            (hdfs.scheme(), hdfs.authority(), hdfs.root()),
            (Scheme::Hdfs, "nn1:8020", "/alluxio")
        );
        let s3 = UfsUri::parse("s3a://my-bucket").unwrap();
        assert_eq!((s3.scheme(), s3.authority(), s3.root()), (Scheme::S3, "my-bucket", "/"));
        assert_eq!(s3.to_string(), "s3://my-bucket/");
    }

    #[test]
    fn join_gives_the_ufs_path_of_a_file_below() {
        assert_eq!(UfsUri::parse("/data").unwrap().join("a/b"), "/data/a/b");
        assert_eq!(UfsUri::parse("/").unwrap().join("a"), "/a");
        assert_eq!(UfsUri::parse("s3://bkt").unwrap().join("x"), "s3://bkt/x");
        assert_eq!(UfsUri::parse("hdfs://nn/d").unwrap().join(""), "hdfs://nn/d");
    }

    #[test]
    fn bad_uris_are_refused_naming_what_is_wrong() {
        let reason = |uri: &str| UfsUri::parse(uri).unwrap_err().to_string();
        assert!(reason("data/ufs").contains("absolute path"), "{}", reason("data/ufs"));
        assert!(reason("hdfs:///x").contains("NameNode"));
        assert!(reason("s3://B/x").contains("bucket name"));
        assert!(reason("/a/../b").contains("`..`"));
        assert!(reason("file://otherhost/x").contains("otherhost"));
        let unknown = reason("gs://bucket/x");
        assert!(unknown.contains("`gs` is not built into this binary"), "{unknown}");
        assert!(unknown.contains("local folder"), "{unknown}");
    }

    #[test]
    fn nested_or_equal_folders_of_one_store_overlap() {
        let uri = |text: &str| UfsUri::parse(text).unwrap();
        assert!(uri("/data").overlaps(&uri("/data/x")));
        assert!(uri("/data/x").overlaps(&uri("/data")));
        assert!(uri("/").overlaps(&uri("/anything")));
        assert!(!uri("/data").overlaps(&uri("/database")));
        assert!(!uri("hdfs://a/d").overlaps(&uri("hdfs://b/d")));
        assert!(!uri("/d").overlaps(&uri("hdfs://a/d")));
    }
}
