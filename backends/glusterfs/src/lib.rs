//! The `glusterfs` journal store (DESIGN §2): `glusterfs:///mnt/volume/alluxio/journal`, a
//! folder on a GlusterFS volume mounted with FUSE (`mount -t glusterfs host:/volume /mnt/volume`)
//! on every master.
//!
//! The exclusive create is the POSIX one of the `local` store, which a GlusterFS mount keeps:
//! write and fsync a temporary file, `link(2)` it to the final name (the volume refuses an
//! existing name with `EEXIST`, whichever client asks), fsync the directory. What this backend
//! adds is the check, at start-up, that the folder really is on a GlusterFS mount: a journal
//! that silently landed on a master's local disk (the mount missing after a reboot) would let
//! two leaders each fence only themselves. `alluxio.glusterfs.mount.check=false` skips it.

mod mount;

use std::sync::Arc;
use std::time::Duration;

use lode_core::config::{name, Config};
use lode_core::store::{
    JournalLocation, JournalStore, JournalStoreBackend, LocalStore, StoreError,
};

pub use mount::glusterfs_mount_of;

inventory::submit! {
    JournalStoreBackend {
        name: "glusterfs",
        schemes: &["glusterfs"],
        description: "a folder on a FUSE-mounted GlusterFS volume (file + fsync + exclusive link), \
                      checked to be on one",
        open,
    }
}

/// How often standbys look for the next slot: a FUSE round trip to the bricks each time.
const POLL_INTERVAL: Duration = Duration::from_millis(10);

fn open(location: &JournalLocation, config: &Config) -> Result<Arc<dyn JournalStore>, StoreError> {
    let path = location.uri.split_once("://").map_or("", |(_, path)| path);
    if !path.starts_with('/') || path.trim_end_matches('/').is_empty() {
        return Err(StoreError::Config {
            message: format!(
                "journal folder {} must name a folder on the mounted volume: \
                 glusterfs:///mnt/volume/alluxio/journal",
                location.uri
            ),
        });
    }
    if config.bool(name::GLUSTERFS_MOUNT_CHECK) {
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        if glusterfs_mount_of(&mounts, path).is_none() {
            return Err(StoreError::Config {
                message: format!(
                    "journal folder {} is not on a mounted GlusterFS volume (no fuse.glusterfs \
                     mount holds {path}): mount it first (mount -t glusterfs host:/volume \
                     /mnt/volume), or set {}=false if this mount is GlusterFS in disguise",
                    location.uri,
                    name::GLUSTERFS_MOUNT_CHECK
                ),
            });
        }
    }
    Ok(Arc::new(LocalStore::on_mount(path.trim_end_matches('/'), "glusterfs", POLL_INTERVAL)))
}
