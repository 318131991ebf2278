//! The master's under-file-systems: the root mount from the site configuration (the same on
//! every master, as in Alluxio) and the site configuration that nested mounts' options
//! override.

use std::collections::BTreeMap;

use lode_core::config::{name, Config};
use lode_ufs::{Ufs, UfsError, UfsUri};

use crate::namespace::MountOptions;

/// The root mount: `alluxio.master.mount.table.root.ufs` (or `alluxio.underfs.address`).
#[derive(Debug, Clone)]
pub struct RootMount {
    /// `...root.readonly`, `...root.shared` and the `...root.option.*` properties.
    pub options: MountOptions,
    /// The under-file-system itself.
    ufs: Ufs,
}

impl RootMount {
    /// Its URI.
    pub fn uri(&self) -> &UfsUri {
        self.ufs.uri()
    }
}

/// What a master knows of under-file-systems outside its journal.
#[derive(Debug, Clone)]
pub struct Ufses {
    root: Option<RootMount>,
    config: Config,
}

impl Ufses {
    /// Reads the root mount from `config`; a URI that cannot name an under-file-system, or
    /// one this binary cannot reach, is refused (no request is made: see [`Ufses::check_root`]).
    pub fn from_config(config: &Config) -> Result<Ufses, UfsError> {
        let uri = config
            .string(name::MASTER_MOUNT_TABLE_ROOT_UFS)
            .or_else(|| config.string(name::UNDERFS_ADDRESS))
            .filter(|uri| !uri.is_empty());
        let root = match uri {
            None => None,
            Some(uri) => {
                let options = MountOptions {
                    read_only: config.bool(name::MASTER_MOUNT_TABLE_ROOT_READONLY),
                    shared: config.bool(name::MASTER_MOUNT_TABLE_ROOT_SHARED),
                    properties: config.with_prefix(name::MASTER_MOUNT_TABLE_ROOT_OPTION),
                };
                // Opening builds the operator: a bad option or a scheme not built in stops
                // the master here, not at the first write.
                let ufs = Ufs::open(uri, &options.properties, config)?;
                Some(RootMount { options, ufs })
            }
        };
        Ok(Ufses { root, config: config.clone() })
    }

    /// The root mount, when one is configured.
    pub fn root(&self) -> Option<&RootMount> {
        self.root.as_ref()
    }

    /// The root mount's URI, when one is configured: a file under it has that URI plus its path
    /// as its UFS path.
    pub fn root_uri(&self) -> Option<&UfsUri> {
        self.root.as_ref().map(RootMount::uri)
    }

    /// The under-file-system at `uri` with a mount's `properties` over the site's.
    pub fn open(&self, uri: &str, properties: &BTreeMap<String, String>) -> Result<Ufs, UfsError> {
        Ufs::open(uri, properties, &self.config)
    }

    /// The under-file-system of a mount: the root's (`None`), or a nested mount's URI and
    /// options; `None` when it is the root and there is no root UFS.
    pub fn of_mount(
        &self,
        mount: Option<&(String, MountOptions)>,
    ) -> Option<Result<Ufs, UfsError>> {
        match mount {
            None => self.root.as_ref().map(|root| Ok(root.ufs.clone())),
            Some((uri, options)) => Some(self.open(uri, &options.properties)),
        }
    }

    /// Checks that the root under-file-system answers (logged: a master serves metadata while
    /// it is down, and says why data cannot be persisted).
    pub async fn check_root(&self) {
        let Some(root) = &self.root else { return };
        match root.ufs.check().await {
            Ok(()) => tracing::info!(ufs = %root.uri(), "root under-file-system mounted at /"),
            Err(error) => tracing::error!(%error, "the root under-file-system does not answer"),
        }
    }
}
