//! `alluxio.grpc.meta.MetaMasterConfigurationService`: the cluster defaults a stock Alluxio
//! client loads from the master when it starts, and the hash it polls to notice a change.
//! Clients keep their own site properties above these (Alluxio's `CLUSTER_DEFAULT` source).

use lode_core::config::{self as keys, Config, Origin, Process, ValueType};
use lode_core::rpc::alluxio::grpc::meta::meta_master_configuration_service_server::MetaMasterConfigurationService;
use lode_core::rpc::alluxio::grpc::meta::{
    GetConfigHashPOptions, GetConfigHashPResponse, GetConfigurationPOptions,
    GetConfigurationPResponse,
};
use lode_core::rpc::alluxio::grpc::ConfigProperty;
use tonic::{Request, Response, Status};

use super::Services;

/// The Alluxio release whose protocol Lode speaks. Alluxio's client requires the cluster to
/// report `alluxio.version` and warns when it differs from its own.
pub const ALLUXIO_VERSION: &str = "2.9.6";

/// What a master tells clients about the cluster's configuration.
#[derive(Debug, Clone, Default)]
pub struct ClusterConfiguration {
    /// Alluxio's client-side keys with the master's effective values and their sources.
    pub properties: Vec<ConfigProperty>,
    /// A digest of `properties`; it changes when they do.
    pub hash: String,
}

impl ClusterConfiguration {
    /// The Alluxio keys that clients read, as `config` resolves them. Secrets never leave the
    /// master, and Lode's own keys stay out (a stock client would not know them).
    pub fn of(config: &Config) -> ClusterConfiguration {
        let mut properties = vec![ConfigProperty {
            name: Some("alluxio.version".into()),
            source: Some("Lode".into()),
            value: Some(ALLUXIO_VERSION.into()),
        }];
        for (name, entry) in config.entries() {
            let Some(key) = keys::find(name) else { continue };
            let for_clients = key.origin == Origin::Alluxio && key.scope.includes(Process::Client);
            if for_clients && key.value_type != ValueType::Secret {
                properties.push(ConfigProperty {
                    name: Some(name.clone()),
                    source: Some(entry.source.clone()),
                    value: Some(entry.text.clone()),
                });
            }
        }
        let mut digest = 0u32;
        for property in &properties {
            for text in [&property.name, &property.value] {
                digest = crc32c::crc32c_append(digest, text.as_deref().unwrap_or("").as_bytes());
                digest = crc32c::crc32c_append(digest, b"\0");
            }
        }
        ClusterConfiguration { properties, hash: format!("{digest:08x}") }
    }
}

#[tonic::async_trait]
impl MetaMasterConfigurationService for Services {
    async fn get_configuration(
        &self,
        request: Request<GetConfigurationPOptions>,
    ) -> Result<Response<GetConfigurationPResponse>, Status> {
        self.refuse_unless_leading()?;
        let options = request.into_inner();
        let cluster = &self.info.configuration;
        let properties = if options.ignore_cluster_conf.unwrap_or(false) {
            Vec::new()
        } else {
            cluster.properties.clone()
        };
        Ok(Response::new(GetConfigurationPResponse {
            cluster_configs: properties,
            path_configs: Default::default(),
            cluster_config_hash: Some(cluster.hash.clone()),
            // Lode has no path-level configuration: its hash never changes.
            path_config_hash: Some(String::new()),
            cluster_config_last_update_time: Some(self.info.start_time_ms),
            path_config_last_update_time: Some(self.info.start_time_ms),
        }))
    }

    async fn get_config_hash(
        &self,
        _request: Request<GetConfigHashPOptions>,
    ) -> Result<Response<GetConfigHashPResponse>, Status> {
        self.refuse_unless_leading()?;
        Ok(Response::new(GetConfigHashPResponse {
            cluster_config_hash: Some(self.info.configuration.hash.clone()),
            path_config_hash: Some(String::new()),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_get_alluxio_client_keys_and_the_version_but_no_secrets_or_master_keys() {
        let config = Config::from_pairs([
            ("alluxio.security.authentication.type", "NOSASL"),
            ("s3a.secretKey", "hush"),
            ("alluxio.master.journal.folder", "/journal"),
        ])
        .unwrap();
        let cluster = ClusterConfiguration::of(&config);
        let value = |name: &str| {
            cluster
                .properties
                .iter()
                .find(|p| p.name.as_deref() == Some(name))
                .and_then(|p| p.value.clone())
        };
        assert_eq!(value("alluxio.version").as_deref(), Some(ALLUXIO_VERSION));
        assert_eq!(value("alluxio.security.authentication.type").as_deref(), Some("NOSASL"));
        assert_eq!(value("s3a.secretKey"), None);
        assert_eq!(value("alluxio.master.journal.folder"), None);
        assert!(value("alluxio.master.election.type").is_none(), "Lode's own keys stay home");

        let other = Config::from_pairs([("alluxio.security.authentication.type", "SIMPLE")]);
        assert_ne!(ClusterConfiguration::of(&other.unwrap()).hash, cluster.hash);
    }
}
