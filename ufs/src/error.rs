//! What can go wrong with an under-file-system, each error naming the URI and the cause.

/// An under-file-system operation or URI that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UfsError {
    /// The URI cannot name an under-file-system (a relative local path, no bucket, ...).
    #[error("under-file-system {uri}: {reason}")]
    InvalidUri {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No under-file-system for this scheme is built into this binary.
    #[error(
        "under-file-system {uri}: `{scheme}` is not built into this binary{hint} (built in: \
         {built_in})"
    )]
    UnknownScheme {
        /// The URI as given.
        uri: String,
        /// Its scheme.
        scheme: String,
        /// How to get it, when a cargo feature would (`; build with --features s3`).
        hint: String,
        /// The schemes that are, comma-separated.
        built_in: String,
    },
    /// A mount option or property has a value the under-file-system cannot use.
    #[error("under-file-system {uri}: {message}")]
    Config {
        /// The URI the options are for.
        uri: String,
        /// Which option and what is wrong.
        message: String,
    },
    /// The under-file-system cannot be reached or refused the request (down, bad credentials).
    #[error("under-file-system {uri} is unreachable: {cause}")]
    Unreachable {
        /// Its URI.
        uri: String,
        /// What the service or the network said.
        cause: String,
    },
    /// A path that should exist does not.
    #[error("ufs path {path} does not exist (under-file-system {uri})")]
    NotFound {
        /// The under-file-system's URI.
        uri: String,
        /// The full UFS path.
        path: String,
    },
    /// An operation on a path failed for another reason.
    #[error("{operation} of ufs path {path} failed: {cause}")]
    Failed {
        /// What was attempted (`read`, `write`, `rename`, ...).
        operation: &'static str,
        /// The full UFS path.
        path: String,
        /// What the under-file-system said.
        cause: String,
        /// Whether trying again may succeed (a timeout, a busy server).
        temporary: bool,
    },
}

impl UfsError {
    /// Whether the same request may succeed if tried again later.
    pub fn is_temporary(&self) -> bool {
        match self {
            UfsError::Unreachable { .. } => true,
            UfsError::Failed { temporary, .. } => *temporary,
            _ => false,
        }
    }
}
