//! The elector's settings, read and validated from configuration without any I/O.

use std::time::Duration;

use lode_core::config::{name, Config};
use lode_core::elector::ElectorError;

/// Where the etcd cluster is and how Lode uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `alluxio.etcd.endpoints`, each as `http://host:port`.
    pub endpoints: Vec<String>,
    /// `alluxio.etcd.election.prefix`: the election's name.
    pub prefix: String,
    /// `alluxio.etcd.lease.ttl`, whole seconds.
    pub ttl: Duration,
    /// `alluxio.etcd.request.timeout`.
    pub request_timeout: Duration,
}

fn config_error(message: String) -> ElectorError {
    ElectorError::Config { message }
}

/// `host:port` or `http://host:port` as `http://host:port`; `https` is refused (no TLS yet).
fn endpoint(text: &str) -> Result<String, ElectorError> {
    let key = name::ETCD_ENDPOINTS;
    if text.starts_with("https://") {
        return Err(config_error(format!(
            "{key}: `{text}` uses TLS, which Lode's etcd elector does not support yet; use an \
             http:// endpoint"
        )));
    }
    let authority = text.strip_prefix("http://").unwrap_or(text).trim_end_matches('/');
    let valid = match authority.rsplit_once(':') {
        Some((host, port)) => {
            !host.is_empty()
                && !host.contains('/')
                && port.parse::<u16>().is_ok_and(|port| port > 0)
        }
        None => false,
    };
    if valid {
        Ok(format!("http://{authority}"))
    } else {
        Err(config_error(format!(
            "{key}: `{text}` is not an etcd client endpoint; expected host:port or \
             http://host:port (etcd's client port is usually 2379)"
        )))
    }
}

impl Settings {
    /// Reads the settings, refusing values that cannot work, with the key named.
    pub fn from_config(config: &Config) -> Result<Settings, ElectorError> {
        let listed = config
            .require(
                name::ETCD_ENDPOINTS,
                "the etcd elector needs the etcd cluster's client endpoints",
            )
            .map_err(|e| config_error(e.to_string()))?;
        let endpoints = listed
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(endpoint)
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err(config_error(format!("{} lists no endpoint", name::ETCD_ENDPOINTS)));
        }
        let prefix =
            config.string(name::ETCD_ELECTION_PREFIX).unwrap_or("/alluxio/election").to_string();
        if prefix.is_empty() || prefix.ends_with('/') {
            return Err(config_error(format!(
                "{}=`{prefix}` must be a non-empty key prefix without a trailing / (the \
                 election adds it)",
                name::ETCD_ELECTION_PREFIX
            )));
        }
        let ttl = config.duration(name::ETCD_LEASE_TTL).unwrap_or(Duration::from_secs(10));
        if ttl < Duration::from_secs(1) || ttl.subsec_nanos() != 0 {
            return Err(config_error(format!(
                "{} must be a whole number of seconds, at least 1s (etcd leases count \
                 seconds), got {}ms",
                name::ETCD_LEASE_TTL,
                ttl.as_millis()
            )));
        }
        let request_timeout = config
            .duration(name::ETCD_REQUEST_TIMEOUT)
            .unwrap_or(Duration::from_secs(5))
            .max(Duration::from_millis(100));
        Ok(Settings { endpoints, prefix, ttl, request_timeout })
    }

    /// How long one confirmed keep-alive keeps a leader valid: half the TTL, counted from
    /// when the keep-alive was sent (etcd cannot expire the lease, and so cannot elect anyone
    /// else, until a whole TTL after it received it).
    pub fn lease(&self) -> Duration {
        self.ttl / 2
    }

    /// How often the lease is kept alive and the leadership confirmed: three times per TTL.
    pub fn keep_alive_interval(&self) -> Duration {
        self.ttl / 3
    }

    /// The TTL in etcd's unit.
    pub fn ttl_seconds(&self) -> i64 {
        self.ttl.as_secs() as i64
    }

    /// The cluster, for messages.
    pub fn describe(&self) -> String {
        format!("etcd at {}", self.endpoints.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ElectorError> {
        let mut all = vec![(name::MASTER_ELECTION_TYPE, "etcd")];
        all.extend_from_slice(pairs);
        Settings::from_config(&Config::from_pairs(all).unwrap())
    }

    #[test]
    fn endpoints_take_either_form_and_defaults_hold() {
        let s = settings(&[(name::ETCD_ENDPOINTS, "a:2379, http://b:2379/,[::1]:2379")]).unwrap();
        assert_eq!(s.endpoints, ["http://a:2379", "http://b:2379", "http://[::1]:2379"]);
        assert_eq!(s.prefix, "/alluxio/election");
        assert_eq!(s.ttl, Duration::from_secs(10));
        assert_eq!(s.lease(), Duration::from_secs(5));
        assert_eq!(s.ttl_seconds(), 10);
    }

    #[test]
    fn bad_values_are_refused_with_the_key_named() {
        let err = settings(&[]).unwrap_err().to_string();
        assert!(err.contains(name::ETCD_ENDPOINTS), "{err}");
        for bad in ["a", "a:port", "a:0", "http://a:2379/x"] {
            let err = settings(&[(name::ETCD_ENDPOINTS, bad)]).unwrap_err().to_string();
            assert!(err.contains("is not an etcd client endpoint"), "{bad}: {err}");
        }
        let err = settings(&[(name::ETCD_ENDPOINTS, "https://a:2379")]).unwrap_err().to_string();
        assert!(err.contains("TLS"), "{err}");
        let err = settings(&[(name::ETCD_ENDPOINTS, "a:1"), (name::ETCD_LEASE_TTL, "1500ms")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("alluxio.etcd.lease.ttl must be a whole number"), "{err}");
        let err = settings(&[(name::ETCD_ENDPOINTS, "a:1"), (name::ETCD_ELECTION_PREFIX, "/x/")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("alluxio.etcd.election.prefix=`/x/`"), "{err}");
    }
}
