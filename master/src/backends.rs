//! The backends linked into this build, one cargo feature each. A backend crate that is only
//! listed in Cargo.toml is not linked and its registration vanishes, so each is named here.

#[cfg(feature = "zookeeper")]
use lode_backend_zookeeper as _;

#[cfg(feature = "etcd")]
use lode_backend_etcd as _;

#[cfg(feature = "glusterfs")]
use lode_backend_glusterfs as _;

#[cfg(feature = "hdfs")]
use lode_backend_hdfs as _;

#[cfg(feature = "s3")]
use lode_backend_s3 as _;
