//! Folder listings a page at a time: what a metadata load reads, so a folder of millions of
//! entries never has to be held whole.
//!
//! A local folder is read by one blocking task per page: OpenDAL's local lister asks tokio's
//! blocking pool twice per entry (its kind, its metadata), and those hand-offs were most of a
//! 100,000-file metadata load's time (2.5 s; 1.0 s reading a page per task).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::UNIX_EPOCH;

use futures_util::StreamExt;
use opendal::{ErrorKind, Lister};

use crate::{is_temporary, relative, Scheme, Ufs, UfsError, UfsStatus, STAGING_FOLDER};

/// One entry of a folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UfsEntry {
    /// Its name in the folder.
    pub name: String,
    /// What the under-file-system says of it.
    pub status: UfsStatus,
}

/// A listing of one folder in progress (see [`Ufs::list`]).
pub struct UfsLister {
    ufs: Ufs,
    path: String,
    source: Source,
}

enum Source {
    /// An OpenDAL listing.
    Operator(Lister),
    /// A local folder read directly (see the module doc), and its path.
    Local(Arc<Mutex<std::fs::ReadDir>>, PathBuf),
    /// The folder was missing, or the listing is over.
    Done,
}

impl Ufs {
    /// Starts listing the folder `path`. A folder that does not exist lists as empty (an
    /// object store has no folders, only prefixes with something under them).
    pub async fn list(&self, path: &str) -> Result<UfsLister, UfsError> {
        let source = match self.uri.scheme() {
            Scheme::Local => self.open_local(path).await?,
            _ => {
                let key = match relative(path) {
                    top if top.is_empty() => "/".to_string(),
                    folder => format!("{folder}/"),
                };
                match self.operator.lister(&key).await {
                    Ok(lister) => Source::Operator(lister),
                    Err(e) if is_missing(e.kind()) => Source::Done,
                    Err(e) => return Err(self.failed("list", path, e)),
                }
            }
        };
        Ok(UfsLister { ufs: self.clone(), path: path.to_string(), source })
    }

    async fn open_local(&self, path: &str) -> Result<Source, UfsError> {
        let folder = std::path::Path::new(self.uri.root()).join(relative(path));
        let opened = self
            .bounded(path, {
                let folder = folder.clone();
                move || std::fs::read_dir(folder)
            })
            .await?;
        Ok(match opened {
            Ok(entries) => Source::Local(Arc::new(Mutex::new(entries)), folder),
            Err(e) if is_missing_folder(&e) => Source::Done,
            Err(e) => return Err(self.local_failed(path, e)),
        })
    }

    /// Runs `work` on a blocking thread, bounded by the request timeout.
    async fn bounded<T: Send + 'static>(
        &self,
        path: &str,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, UfsError> {
        let running = tokio::task::spawn_blocking(work);
        match tokio::time::timeout(self.timeout, running).await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => Err(self.local_failed(path, std::io::Error::other(e.to_string()))),
            Err(_) => Err(UfsError::Failed {
                operation: "list",
                path: self.full_path(path),
                cause: format!(
                    "no answer within {:?} (alluxio.underfs.request.timeout)",
                    self.timeout
                ),
                temporary: true,
            }),
        }
    }

    fn local_failed(&self, path: &str, error: std::io::Error) -> UfsError {
        let temporary =
            matches!(error.kind(), std::io::ErrorKind::Interrupted | std::io::ErrorKind::TimedOut);
        UfsError::Failed {
            operation: "list",
            path: self.full_path(path),
            cause: error.to_string(),
            temporary,
        }
    }
}

impl UfsLister {
    /// The next entries (at most `most`, in the storage's order); empty when the listing is
    /// over. Files being written under a temporary name are left out.
    pub async fn next_page(&mut self, most: usize) -> Result<Vec<UfsEntry>, UfsError> {
        match &mut self.source {
            Source::Done => Ok(Vec::new()),
            Source::Local(entries, folder) => {
                let (entries, folder) = (entries.clone(), folder.clone());
                let page =
                    self.ufs.bounded(&self.path, move || local_page(&entries, &folder, most));
                let page = page.await?.map_err(|e| self.ufs.local_failed(&self.path, e))?;
                if page.is_empty() {
                    self.source = Source::Done;
                }
                Ok(page)
            }
            Source::Operator(lister) => {
                let mut page = Vec::new();
                while page.len() < most {
                    let entry = match lister.next().await {
                        None => break,
                        // The folder went away while it was listed.
                        Some(Err(e)) if e.kind() == ErrorKind::NotFound => break,
                        Some(Err(e)) => return Err(self.ufs.failed("list", &self.path, e)),
                        Some(Ok(entry)) => entry,
                    };
                    let name = entry.name().trim_end_matches('/');
                    // A listing names the folder itself too (as `folder/`, or `/` at the top).
                    let itself = entry.path().trim_matches('/') == relative(&self.path);
                    if itself || name.is_empty() || is_hidden(name) {
                        continue;
                    }
                    let status = UfsStatus::of(entry.metadata());
                    page.push(UfsEntry { name: name.to_string(), status });
                }
                if page.is_empty() {
                    self.source = Source::Done;
                }
                Ok(page)
            }
        }
    }
}

/// Whether a listing leaves out the entry `name`: a file being written under a temporary name,
/// or the persistence staging folder.
fn is_hidden(name: &str) -> bool {
    is_temporary(name) || name == STAGING_FOLDER
}

/// Up to `most` entries of the local folder `folder` being read by `entries`, with what a stat
/// of each says (following symbolic links, as a stat of the path does). Entries that vanish
/// while read, that are neither files nor folders, or whose names are not UTF-8 are left out.
fn local_page(
    entries: &Mutex<std::fs::ReadDir>,
    folder: &std::path::Path,
    most: usize,
) -> std::io::Result<Vec<UfsEntry>> {
    let mut entries = entries.lock().unwrap_or_else(|e| e.into_inner());
    let mut page = Vec::new();
    while page.len() < most {
        let entry = match entries.next() {
            None => break,
            Some(Err(e)) if is_missing_folder(&e) => break,
            Some(Err(e)) => return Err(e),
            Some(Ok(entry)) => entry,
        };
        let Ok(name) = entry.file_name().into_string() else {
            tracing::warn!(folder = %folder.display(), "a UFS entry whose name is not UTF-8 is skipped");
            continue;
        };
        if is_hidden(&name) {
            continue;
        }
        let metadata = match std::fs::metadata(entry.path()) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        };
        if !metadata.is_file() && !metadata.is_dir() {
            continue;
        }
        let modified_ms = metadata
            .modified()
            .ok()
            .and_then(|time| time.duration_since(UNIX_EPOCH).ok().map(|d| d.as_millis() as i64));
        let status = UfsStatus {
            is_directory: metadata.is_dir(),
            length: if metadata.is_dir() { 0 } else { metadata.len() },
            modified_ms,
            etag: None,
        };
        page.push(UfsEntry { name, status });
    }
    Ok(page)
}

fn is_missing(kind: ErrorKind) -> bool {
    matches!(kind, ErrorKind::NotFound | ErrorKind::NotADirectory)
}

fn is_missing_folder(error: &std::io::Error) -> bool {
    matches!(error.kind(), std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory)
}
