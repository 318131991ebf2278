//! Folder listings a page at a time: what a metadata load reads, so a folder of millions of
//! entries never has to be held whole.

use futures_util::StreamExt;
use opendal::{ErrorKind, Lister};

use crate::{is_temporary, relative, Ufs, UfsError, UfsStatus};

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
    /// `None` once the folder turned out missing, or the listing ended.
    lister: Option<Lister>,
}

impl Ufs {
    /// Starts listing the folder `path`. A folder that does not exist lists as empty (an
    /// object store has no folders, only prefixes with something under them).
    pub async fn list(&self, path: &str) -> Result<UfsLister, UfsError> {
        let key = match relative(path) {
            top if top.is_empty() => "/".to_string(),
            folder => format!("{folder}/"),
        };
        let lister = match self.operator.lister(&key).await {
            Ok(lister) => Some(lister),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => None,
            Err(e) => return Err(self.failed("list", path, e)),
        };
        Ok(UfsLister { ufs: self.clone(), path: path.to_string(), lister })
    }
}

impl UfsLister {
    /// The next entries (at most `most`, in the storage's order); empty when the listing is
    /// over. Files being written under a temporary name are left out.
    pub async fn next_page(&mut self, most: usize) -> Result<Vec<UfsEntry>, UfsError> {
        let mut page = Vec::new();
        while page.len() < most {
            let Some(lister) = &mut self.lister else { break };
            let entry = match lister.next().await {
                None => {
                    self.lister = None;
                    break;
                }
                Some(Err(e)) if e.kind() == ErrorKind::NotFound => {
                    self.lister = None; // The folder went away while it was listed.
                    break;
                }
                Some(Err(e)) => return Err(self.ufs.failed("list", &self.path, e)),
                Some(Ok(entry)) => entry,
            };
            let name = entry.name().trim_end_matches('/');
            // A listing names the folder itself too (as `folder/`, or `/` at the top).
            let itself = entry.path().trim_matches('/') == relative(&self.path);
            if itself || name.is_empty() || is_temporary(name) {
                continue;
            }
            page.push(UfsEntry { name: name.to_string(), status: UfsStatus::of(entry.metadata()) });
        }
        Ok(page)
    }
}
