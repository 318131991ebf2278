//! The elector's settings, read and validated from configuration without any I/O.

use std::fmt;
use std::time::Duration;

use lode_core::config::{name, Config};
use lode_core::elector::ElectorError;

/// Where the ensemble is and how Lode uses it.
#[derive(Clone, PartialEq, Eq)]
pub struct Settings {
    /// `host:port[,host:port...]`, without the chroot.
    pub hosts: String,
    /// The chroot from `alluxio.zookeeper.address`, created at connect time when missing.
    pub chroot: Option<String>,
    /// `alluxio.zookeeper.election.path`.
    pub election_path: String,
    /// `alluxio.zookeeper.leader.path`.
    pub leader_path: String,
    /// `alluxio.zookeeper.session.timeout`.
    pub session_timeout: Duration,
    /// `alluxio.zookeeper.connection.timeout`: how long connecting may take before it fails.
    pub connection_timeout: Duration,
    /// `alluxio.zookeeper.leader.inquiry.retry`: extra attempts at a failed leader lookup.
    pub inquiry_retry: u32,
    /// `alluxio.zookeeper.auth.digest` (`user:password`), when authentication is enabled.
    pub digest: Option<String>,
    /// `alluxio.zookeeper.leader.connection.error.policy` is `STANDARD`: a disconnection ends
    /// leadership instead of putting it in doubt.
    pub lose_on_disconnect: bool,
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The digest is a credential: never printed.
        f.debug_struct("Settings")
            .field("hosts", &self.hosts)
            .field("chroot", &self.chroot)
            .field("election_path", &self.election_path)
            .field("leader_path", &self.leader_path)
            .field("session_timeout", &self.session_timeout)
            .field("connection_timeout", &self.connection_timeout)
            .field("digest", &self.digest.as_ref().map(|_| "******"))
            .finish()
    }
}

fn config_error(message: String) -> ElectorError {
    ElectorError::Config { message }
}

/// A znode path Lode may create nodes under: absolute, not the root, no empty components.
fn check_path(key: &str, path: &str) -> Result<(), ElectorError> {
    let problem = if !path.starts_with('/') {
        Some("must start with /")
    } else if path == "/" {
        Some("must not be the root")
    } else if path.ends_with('/') {
        Some("must not end with /")
    } else if path.split('/').skip(1).any(str::is_empty) {
        Some("has an empty path component")
    } else {
        None
    };
    match problem {
        Some(problem) => Err(config_error(format!("{key}=`{path}` {problem}"))),
        None => Ok(()),
    }
}

impl Settings {
    /// Reads the settings, refusing values that cannot work, with the key named.
    pub fn from_config(config: &Config) -> Result<Settings, ElectorError> {
        let address = config
            .require(
                name::ZOOKEEPER_ADDRESS,
                "the zookeeper elector needs the ensemble's host:port list",
            )
            .map_err(|e| config_error(e.to_string()))?;
        let (hosts, chroot) = match address.find('/') {
            Some(at) => (&address[..at], Some(&address[at..])),
            None => (address, None),
        };
        let chroot = chroot.filter(|c| *c != "/").map(str::to_string);
        let election_path =
            config.string(name::ZOOKEEPER_ELECTION_PATH).unwrap_or("/alluxio/election").to_string();
        let leader_path =
            config.string(name::ZOOKEEPER_LEADER_PATH).unwrap_or("/alluxio/leader").to_string();
        check_path(name::ZOOKEEPER_ELECTION_PATH, &election_path)?;
        check_path(name::ZOOKEEPER_LEADER_PATH, &leader_path)?;
        let nested =
            |outer: &str, inner: &str| inner == outer || inner.starts_with(&format!("{outer}/"));
        if nested(&election_path, &leader_path) || nested(&leader_path, &election_path) {
            return Err(config_error(format!(
                "{} ({election_path}) and {} ({leader_path}) must be separate paths, neither \
                 inside the other: discovery would mistake latch nodes for leaders",
                name::ZOOKEEPER_ELECTION_PATH,
                name::ZOOKEEPER_LEADER_PATH
            )));
        }
        let session_timeout =
            config.duration(name::ZOOKEEPER_SESSION_TIMEOUT).unwrap_or(Duration::from_secs(10));
        if session_timeout < Duration::from_millis(200) {
            return Err(config_error(format!(
                "{} must be at least 200ms, got {}ms",
                name::ZOOKEEPER_SESSION_TIMEOUT,
                session_timeout.as_millis()
            )));
        }
        let connection_timeout = config
            .duration(name::ZOOKEEPER_CONNECTION_TIMEOUT)
            .unwrap_or(Duration::from_secs(15))
            .max(Duration::from_millis(100));
        let inquiry_retry =
            config.int(name::ZOOKEEPER_LEADER_INQUIRY_RETRY).unwrap_or(10).clamp(0, 1000) as u32;
        let digest = match config.string(name::ZOOKEEPER_AUTH_DIGEST) {
            Some(digest) if config.bool(name::ZOOKEEPER_AUTH_ENABLED) => {
                match digest.split_once(':') {
                    Some((user, _)) if !user.is_empty() => Some(digest.to_string()),
                    _ => {
                        return Err(config_error(format!(
                            "{} must be user:password (the value is not shown)",
                            name::ZOOKEEPER_AUTH_DIGEST
                        )))
                    }
                }
            }
            _ => None,
        };
        let lose_on_disconnect = config
            .string(name::ZOOKEEPER_LEADER_CONNECTION_ERROR_POLICY)
            .is_some_and(|policy| policy.eq_ignore_ascii_case("STANDARD"));
        Ok(Settings {
            hosts: hosts.to_string(),
            chroot,
            election_path,
            leader_path,
            session_timeout,
            connection_timeout,
            inquiry_retry,
            digest,
            lose_on_disconnect,
        })
    }

    /// How long a confirmation keeps a leader valid: half the session timeout (module docs) —
    /// the one the server `negotiated`, which its `maxSessionTimeout` may have cut below
    /// `alluxio.zookeeper.session.timeout`, whichever is shorter.
    pub fn lease(&self, negotiated: Duration) -> Duration {
        self.session_timeout.min(negotiated) / 2
    }

    /// The ensemble, for messages.
    pub fn describe(&self) -> String {
        format!("ZooKeeper at {}{}", self.hosts, self.chroot.as_deref().unwrap_or(""))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ElectorError> {
        let mut all = vec![(name::ZOOKEEPER_ENABLED, "true")];
        all.extend_from_slice(pairs);
        Settings::from_config(&Config::from_pairs(all).unwrap())
    }

    #[test]
    fn the_address_splits_into_hosts_and_chroot() {
        let s = settings(&[(name::ZOOKEEPER_ADDRESS, "a:2181,b:2181/lode/prod")]).unwrap();
        assert_eq!(s.hosts, "a:2181,b:2181");
        assert_eq!(s.chroot.as_deref(), Some("/lode/prod"));
        assert_eq!(s.election_path, "/alluxio/election");
        assert_eq!(s.leader_path, "/alluxio/leader");
        assert_eq!(s.session_timeout, Duration::from_secs(10));
        assert_eq!(s.lease(Duration::from_secs(10)), Duration::from_secs(5));
        assert_eq!(s.lease(Duration::from_secs(4)), Duration::from_secs(2), "negotiated down");
        assert_eq!(s.lease(Duration::from_secs(40)), Duration::from_secs(5), "never longer");
    }

    #[test]
    fn a_missing_address_or_bad_paths_are_refused_with_the_key_named() {
        let err = settings(&[]).unwrap_err().to_string();
        assert!(err.contains(name::ZOOKEEPER_ADDRESS), "{err}");
        let err = settings(&[
            (name::ZOOKEEPER_ADDRESS, "a:2181"),
            (name::ZOOKEEPER_LEADER_PATH, "alluxio/leader"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("alluxio.zookeeper.leader.path=`alluxio/leader` must start with /"));
        let err = settings(&[
            (name::ZOOKEEPER_ADDRESS, "a:2181"),
            (name::ZOOKEEPER_LEADER_PATH, "/alluxio/election/leader"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("must be separate paths"), "{err}");
    }

    #[test]
    fn digest_credentials_are_checked_and_never_printed() {
        let err = settings(&[
            (name::ZOOKEEPER_ADDRESS, "a:2181"),
            (name::ZOOKEEPER_AUTH_DIGEST, "no-colon-secret"),
        ])
        .unwrap_err()
        .to_string();
        assert!(err.contains("user:password") && !err.contains("no-colon-secret"), "{err}");
        let s = settings(&[
            (name::ZOOKEEPER_ADDRESS, "a:2181"),
            (name::ZOOKEEPER_AUTH_DIGEST, "lode:s3cret"),
        ])
        .unwrap();
        assert_eq!(s.digest.as_deref(), Some("lode:s3cret"));
        assert!(!format!("{s:?}").contains("s3cret"));
        let off = settings(&[
            (name::ZOOKEEPER_ADDRESS, "a:2181"),
            (name::ZOOKEEPER_AUTH_DIGEST, "lode:s3cret"),
            (name::ZOOKEEPER_AUTH_ENABLED, "false"),
        ])
        .unwrap();
        assert_eq!(off.digest, None);
    }
}
