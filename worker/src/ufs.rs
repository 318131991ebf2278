//! The under-file-systems a worker writes persisted files to and reads uncached blocks from
//! (DESIGN §9): opened once per URI and mount properties, and found by mount id through the
//! leading master (Lode's `GetMount`), which alone knows the mount table.

use std::collections::{BTreeMap, HashMap};

use lode_core::config::Config;
use lode_ufs::{Ufs, UfsError};
use parking_lot::Mutex;

use crate::master_link::MasterLink;

/// An under-file-system's URI and the mount properties it was opened with.
type UfsKey = (String, BTreeMap<String, String>);

/// The worker's opened under-file-systems.
#[derive(Debug)]
pub struct WorkerUfses {
    config: Config,
    opened: Mutex<HashMap<UfsKey, Ufs>>,
    /// What the master said each mount id is.
    mounts: Mutex<HashMap<i64, UfsKey>>,
}

impl WorkerUfses {
    /// None opened yet; `config` is the site configuration mount properties override.
    pub fn new(config: Config) -> WorkerUfses {
        WorkerUfses { config, opened: Mutex::default(), mounts: Mutex::default() }
    }

    /// The under-file-system at `uri` with a mount's `properties` over the site's.
    pub fn open(
        &self,
        uri: &str,
        properties: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Ufs, UfsError> {
        let key = (uri.to_string(), properties.into_iter().collect::<BTreeMap<_, _>>());
        if let Some(ufs) = self.opened.lock().get(&key) {
            return Ok(ufs.clone());
        }
        let ufs = Ufs::open(uri, &key.1, &self.config)?;
        self.opened.lock().insert(key, ufs.clone());
        Ok(ufs)
    }

    /// The under-file-system of mount `mount_id`, asking the leader which it is the first time.
    pub async fn for_mount(&self, mount_id: i64, link: &MasterLink) -> Result<Ufs, String> {
        let known = self.mounts.lock().get(&mount_id).cloned();
        let (uri, properties) = match known {
            Some(key) => key,
            None => {
                let key = link.mount(mount_id).await?;
                self.mounts.lock().insert(mount_id, key.clone());
                key
            }
        };
        self.open(&uri, properties).map_err(|e| e.to_string())
    }

    /// Forgets what mount `mount_id` is (its options may have changed since: a failed read
    /// asks the master again next time).
    pub fn forget_mount(&self, mount_id: i64) {
        self.mounts.lock().remove(&mount_id);
    }
}
