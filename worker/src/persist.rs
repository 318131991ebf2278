//! The worker's side of persistence (DESIGN §9): the leader sends persist commands with
//! heartbeat answers; the worker copies the file's blocks, in order, from its cache into the
//! file's under-file-system and reports the outcome with a later heartbeat. The copy goes to a
//! temporary name in the mount's staging folder, which the leader renames to wherever the file
//! is by then; on an object store (where a rename is a copy) straight to the file's place,
//! which shows it only once it is whole. Commands already running
//! are not started twice, and what is running is reported with every heartbeat, so a new
//! leader knows which files are being copied.

use std::collections::HashSet;
use std::sync::Arc;

use lode_core::rpc::lode::worker::{PersistCommand, PersistResult};
use lode_ufs::UfsError;
use parking_lot::Mutex;

use crate::store::BlockStore;
use crate::ufs::WorkerUfses;

/// Runs persist commands and keeps their outcomes for the next heartbeat.
#[derive(Debug)]
pub struct Persister {
    store: Arc<BlockStore>,
    ufses: Arc<WorkerUfses>,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    running: HashSet<i64>,
    finished: Vec<PersistResult>,
}

/// Why one persist command failed.
struct Failure {
    error: String,
    block_missing: bool,
}

impl From<UfsError> for Failure {
    fn from(error: UfsError) -> Failure {
        Failure { error: error.to_string(), block_missing: false }
    }
}

impl Persister {
    /// A persister copying from `store` into under-file-systems opened through `ufses`.
    pub fn new(store: Arc<BlockStore>, ufses: Arc<WorkerUfses>) -> Arc<Persister> {
        Arc::new(Persister { store, ufses, state: Mutex::default() })
    }

    /// Starts `command` unless it runs already.
    pub fn start(self: &Arc<Self>, command: PersistCommand) {
        if !self.state.lock().running.insert(command.file_id) {
            return;
        }
        let persister = self.clone();
        tokio::spawn(async move {
            let (file_id, length) = (command.file_id, command.length);
            let (ufs_uri, ufs_path) = (command.ufs_uri.clone(), command.ufs_path.clone());
            let staging_path = command.staging_path.clone();
            let result = match persister.persist(&command).await {
                Ok(fingerprint) => {
                    tracing::info!(path = %command.path, bytes = length, "persisted");
                    metrics::counter!("lode_worker_persisted_files_total").increment(1);
                    metrics::counter!("lode_worker_persisted_bytes_total")
                        .increment(length.max(0) as u64);
                    PersistResult {
                        file_id,
                        length,
                        ufs_fingerprint: fingerprint,
                        ufs_uri,
                        ufs_path,
                        staging_path,
                        ..Default::default()
                    }
                }
                Err(failure) => {
                    tracing::warn!(path = %command.path, error = %failure.error, "persisting failed");
                    PersistResult {
                        file_id,
                        length,
                        error: failure.error,
                        block_missing: failure.block_missing,
                        ufs_uri,
                        ufs_path,
                        staging_path,
                        ..Default::default()
                    }
                }
            };
            let mut state = persister.state.lock();
            state.running.remove(&file_id);
            state.finished.push(result);
        });
    }

    /// The files being copied now.
    pub fn running(&self) -> Vec<i64> {
        self.state.lock().running.iter().copied().collect()
    }

    /// The outcomes not reported yet; give them back with [`Self::unreported`] if the heartbeat
    /// that carried them failed.
    pub fn take_finished(&self) -> Vec<PersistResult> {
        std::mem::take(&mut self.state.lock().finished)
    }

    /// Outcomes a heartbeat failed to deliver, kept for the next one.
    pub fn unreported(&self, results: Vec<PersistResult>) {
        self.state.lock().finished.extend(results);
    }

    /// Copies the file's blocks into its UFS file; returns the UFS's fingerprint of it.
    async fn persist(&self, command: &PersistCommand) -> Result<String, Failure> {
        let properties = command.mount_properties.iter().map(|(k, v)| (k.clone(), v.clone()));
        let ufs = self.ufses.open(&command.ufs_uri, properties)?;
        let staged = !command.staging_path.is_empty();
        if command.tried_before {
            let mut removed = ufs.delete_temporaries(&command.ufs_path).await?;
            if staged {
                let prefix = lode_ufs::staging_prefix(command.file_id as u64);
                removed += ufs.delete_temporaries(&prefix).await?;
            }
            if removed > 0 {
                tracing::info!(path = %command.path, removed, "removed an earlier attempt's temporary files");
            }
        }
        let written_path = if staged { &command.staging_path } else { &command.ufs_path };
        let mut file = match staged {
            true => ufs.create_direct(written_path).await?,
            false => ufs.create(written_path).await?,
        };
        let mut written = 0u64;
        for &block in &command.block_ids {
            if let Err(failure) = self.copy_block(block as u64, &mut file, &mut written).await {
                file.abort().await;
                return Err(failure);
            }
        }
        if written != command.length.max(0) as u64 {
            file.abort().await;
            return Err(Failure {
                error: format!(
                    "the cached blocks of {} hold {written} bytes, not its {} bytes",
                    command.path, command.length
                ),
                block_missing: false,
            });
        }
        let status = file.finish().await?;
        if status.length != written {
            return Err(Failure {
                error: format!(
                    "{} holds {} bytes after writing {written}",
                    ufs.full_path(written_path),
                    status.length
                ),
                block_missing: false,
            });
        }
        Ok(status.fingerprint())
    }

    async fn copy_block(
        &self,
        block: u64,
        file: &mut lode_ufs::UfsFile,
        written: &mut u64,
    ) -> Result<(), Failure> {
        let missing = || Failure {
            error: format!("block {block} is no longer cached on this worker"),
            block_missing: true,
        };
        let store = self.store.clone();
        let mapped = tokio::task::spawn_blocking(move || store.map_block(block))
            .await
            .map_err(|e| Failure { error: e.to_string(), block_missing: false })?;
        let bytes = mapped.ok_or_else(missing)?.map_err(|e| Failure {
            error: format!("reading block {block}: {e}"),
            block_missing: false,
        })?;
        *written += bytes.len() as u64;
        file.write(bytes).await?;
        Ok(())
    }
}
