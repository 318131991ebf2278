//! Listings in bounded pieces. A recursive listing of a big tree built in one go holds the
//! replica lock (and every writer behind it) for as long as the tree is big, and its answer in
//! memory: [`TreeWalk`] lists one directory per step. A page of a big directory
//! ([`Namespace::list_page`]) builds the statuses of that page only.

use super::{Body, FileStatus, FsPath, Namespace, NsError};

/// A listing of a path in steps: each [`TreeWalk::step`] lists one directory under whatever
/// lock the caller holds for that step, and the directories found in it are listed by later
/// steps (parents before children, names in order, as [`Namespace::list`] answers). The tree
/// may change between steps: a directory gone by its turn (deleted, or renamed away) is
/// skipped, so a listing of a changing tree shows each directory as it was when listed.
#[derive(Debug)]
pub struct TreeWalk {
    pending: Vec<FsPath>,
    recursive: bool,
    started: bool,
}

impl TreeWalk {
    /// A walk of `path`: its entries, and with `recursive` every level below.
    pub fn new(path: FsPath, recursive: bool) -> TreeWalk {
        TreeWalk { pending: vec![path], recursive, started: false }
    }

    /// Whether every step has been taken.
    pub fn is_done(&self) -> bool {
        self.started && self.pending.is_empty()
    }

    /// The entries of the next directory (for a file path, the file itself). The first step's
    /// error is the listing's (no such path); directories that vanished later are skipped.
    pub fn step(&mut self, ns: &Namespace) -> Result<Vec<FileStatus>, NsError> {
        let first = !self.started;
        self.started = true;
        while let Some(path) = self.pending.pop() {
            let id = match ns.resolve(&path) {
                Ok(id) => id,
                Err(error) if first => return Err(error),
                Err(_) => continue,
            };
            if !matches!(ns.inode(id).body, Body::Directory { .. }) {
                // A file path lists the file; a directory replaced by a file meanwhile, nothing.
                return Ok(if first { vec![ns.status_of(id, path)] } else { Vec::new() });
            }
            let mut entries = Vec::new();
            let mut directories = Vec::new();
            for (name, child) in ns.sorted_children(id) {
                let child_path = path.join(name);
                entries.push(ns.status_of(child, child_path.clone()));
                if self.recursive && matches!(ns.inode(child).body, Body::Directory { .. }) {
                    directories.push(child_path);
                }
            }
            self.pending.extend(directories);
            return Ok(entries);
        }
        Ok(Vec::new())
    }
}

impl Namespace {
    /// Entries `offset..offset + limit` (by name) of the directory at `path`, and how many it
    /// has; for a file path, the file itself.
    pub fn list_page(
        &self,
        path: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<FileStatus>, usize), NsError> {
        let path = FsPath::parse(path)?;
        let id = self.resolve(&path)?;
        if !matches!(self.inode(id).body, Body::Directory { .. }) {
            return Ok((vec![self.status_of(id, path)], 1));
        }
        let children = self.sorted_children(id);
        let page = children.iter().skip(offset).take(limit);
        let entries = page.map(|&(name, child)| self.status_of(child, path.join(name))).collect();
        Ok((entries, children.len()))
    }
}
