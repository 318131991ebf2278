//! The backends linked into this build, one cargo feature each. A backend crate that is only
//! listed in Cargo.toml is not linked and its registration vanishes, so each is named here.

#[cfg(feature = "zookeeper")]
use lode_backend_zookeeper as _;

#[cfg(feature = "etcd")]
use lode_backend_etcd as _;
