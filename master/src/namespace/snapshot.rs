//! The namespace's checkpoint form: length-delimited protobuf records — a header with the
//! counters and the owner/group names, then one record per inode, parents before children and
//! siblings by name, so the same tree always gives the same bytes. Decoding checks every
//! record against the tree built so far and says which one is wrong.

use prost::Message;

use std::hash::RandomState;

use hashbrown::HashTable;

use super::slab::Slab;
use super::{
    container, epoch, handle, inode_id, name_problem, Body, Inode, MountOptions, MountPoint, Names,
    Namespace, Persistence, MAX_CONTAINERS, ROOT_ID, ROOT_MOUNT_ID,
};

#[derive(Clone, PartialEq, Message)]
struct Header {
    #[prost(uint64, tag = "1")]
    next_container: u64,
    #[prost(string, repeated, tag = "2")]
    names: Vec<String>,
    #[prost(uint64, tag = "3")]
    inode_count: u64,
    /// Nested mounts (none in checkpoints written before mounts existed).
    #[prost(message, repeated, tag = "4")]
    mounts: Vec<MountRecord>,
    #[prost(uint64, tag = "5")]
    next_mount_id: u64,
}

#[derive(Clone, PartialEq, Message)]
struct MountRecord {
    /// The mount point's inode id.
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(string, tag = "2")]
    ufs_uri: String,
    #[prost(message, optional, tag = "3")]
    options: Option<MountOptions>,
    #[prost(uint64, tag = "4")]
    mount_id: u64,
}

#[derive(Clone, PartialEq, Message)]
struct InodeRecord {
    #[prost(uint64, tag = "1")]
    id: u64,
    #[prost(uint64, tag = "2")]
    parent: u64,
    #[prost(string, tag = "3")]
    name: String,
    #[prost(uint32, tag = "4")]
    owner: u32,
    #[prost(uint32, tag = "5")]
    group: u32,
    #[prost(uint32, tag = "6")]
    mode: u32,
    #[prost(int64, tag = "7")]
    created_ms: i64,
    #[prost(int64, tag = "8")]
    modified_ms: i64,
    #[prost(bool, tag = "9")]
    is_directory: bool,
    #[prost(uint64, tag = "10")]
    length: u64,
    #[prost(uint64, tag = "11")]
    block_size: u64,
    #[prost(uint32, tag = "12")]
    blocks: u32,
    #[prost(bool, tag = "13")]
    complete: bool,
    /// `Persistence` as its code (0, NOT_PERSISTED, in checkpoints from before it existed).
    #[prost(uint32, tag = "14")]
    persistence: u32,
    /// The UFS fingerprint of a persisted file (empty: none).
    #[prost(string, tag = "15")]
    ufs_fingerprint: String,
    /// A file awaiting persistence may be persisted from this time (ms) on.
    #[prost(int64, tag = "16")]
    persist_not_before_ms: i64,
    /// A folder whose every UFS entry was loaded (false in checkpoints from before loads).
    #[prost(bool, tag = "17")]
    listed: bool,
}

pub(super) fn encode(namespace: &Namespace, out: &mut Vec<u8>) {
    let header = Header {
        next_container: namespace.next_container,
        names: namespace.names.by_index.iter().map(|n| n.to_string()).collect(),
        inode_count: namespace.inodes.len() as u64,
        mounts: namespace
            .mounts
            .iter()
            .map(|(&id, mount)| MountRecord {
                id,
                ufs_uri: mount.ufs_uri.clone(),
                options: Some(mount.options.clone()),
                mount_id: mount.mount_id,
            })
            .collect(),
        next_mount_id: namespace.next_mount_id,
    };
    // Encoding into a Vec cannot fail.
    header.encode_length_delimited(out).expect("encoding into a Vec");
    let mut pending = vec![ROOT_ID];
    while let Some(id) = pending.pop() {
        let inode = namespace.inode(id);
        let mut record = InodeRecord {
            id,
            parent: namespace.id_of(inode.parent),
            name: inode.name.to_string(),
            owner: inode.owner,
            group: inode.group,
            mode: u32::from(inode.mode),
            created_ms: inode.created_ms,
            modified_ms: inode.modified_ms,
            ..InodeRecord::default()
        };
        match &inode.body {
            Body::Directory { .. } => {
                record.is_directory = true;
                if namespace.persisted_dirs.contains(&id) {
                    record.persistence = Persistence::Persisted as u32;
                }
                record.listed = namespace.listed_dirs.contains(&id);
                // Reversed onto the stack, so siblings come out in name order.
                pending.extend(namespace.sorted_children(id).iter().rev().map(|&(_, child)| child));
            }
            Body::File { length, block_size, blocks, complete, persistence } => {
                record.length = *length;
                record.block_size = u64::from(*block_size);
                record.blocks = *blocks;
                record.complete = *complete;
                record.persistence = *persistence as u32;
                record.ufs_fingerprint = namespace.fingerprint_of(id).to_string();
                record.persist_not_before_ms =
                    namespace.awaiting_persist.get(&id).copied().unwrap_or_default();
            }
        }
        record.encode_length_delimited(out).expect("encoding into a Vec");
    }
}

pub(super) fn decode(mut bytes: &[u8]) -> Result<Namespace, String> {
    let total = bytes.len();
    let header = Header::decode_length_delimited(&mut bytes).map_err(|e| format!("header: {e}"))?;
    if header.next_container == 0 || header.next_container > MAX_CONTAINERS {
        return Err(format!("header: next container id {} is out of range", header.next_container));
    }
    let mut names = Names::default();
    for (index, name) in header.names.iter().enumerate() {
        if names.intern(name) as usize != index {
            return Err(format!("owner/group name {name:?} appears twice"));
        }
    }
    // Reserve the entry table up front (no rehashing while loading), bounded by what the bytes
    // can hold so a corrupt count cannot demand a huge allocation.
    let capacity = usize::try_from(header.inode_count).unwrap_or(0).min(bytes.len() / 16);
    let mut namespace = Namespace {
        inodes: Slab::default(),
        entries: HashTable::with_capacity(capacity),
        hasher: RandomState::new(),
        next_container: header.next_container,
        names,
        mounts: Default::default(),
        next_mount_id: header.next_mount_id.max(ROOT_MOUNT_ID + 1),
        awaiting_persist: Default::default(),
        fingerprints: Default::default(),
        persisted_dirs: Default::default(),
        listed_dirs: Default::default(),
    };
    for index in 0..header.inode_count {
        let offset = total - bytes.len();
        let record = InodeRecord::decode_length_delimited(&mut bytes)
            .map_err(|e| format!("inode record {index} at byte {offset}: {e}"))?;
        let bad =
            |why: &str| format!("inode record {index} (id {}) at byte {offset}: {why}", record.id);
        if index == 0 && (record.id != ROOT_ID || !record.is_directory) {
            return Err(bad("the first record must be the root directory"));
        }
        let known_names = namespace.names.by_index.len();
        if record.owner as usize >= known_names || record.group as usize >= known_names {
            return Err(bad("owner or group index out of range"));
        }
        if inode_id(container(record.id)) != record.id
            || container(record.id) >= header.next_container
        {
            return Err(bad("not an inode id this namespace handed out"));
        }
        if namespace.inodes.contains(u64::from(handle(container(record.id)))) {
            return Err(bad("duplicate id, or the low 32 bits of a live inode's id"));
        }
        if index > 0 {
            if inode_id(container(record.parent)) != record.parent {
                return Err(bad("parent is not an inode id"));
            }
            if let Some(problem) = name_problem(&record.name) {
                return Err(bad(&format!("invalid name: {problem}")));
            }
            match namespace.lookup(record.parent).map(|p| &p.body) {
                None => return Err(bad("parent not seen yet")),
                Some(Body::File { .. }) => return Err(bad("parent is a file")),
                Some(Body::Directory { .. }) => {}
            }
            if namespace.child(record.parent, &record.name).is_some() {
                return Err(bad("duplicate name in its directory"));
            }
        }
        let body = if record.is_directory {
            match Persistence::from_code(record.persistence) {
                Some(Persistence::Persisted) => {
                    namespace.persisted_dirs.insert(record.id);
                }
                Some(Persistence::NotPersisted) => {}
                _ => return Err(bad("a folder is PERSISTED or NOT_PERSISTED")),
            }
            if record.listed {
                namespace.listed_dirs.insert(record.id);
            }
            Body::Directory { children: Box::default() }
        } else {
            if record.listed {
                return Err(bad("a file cannot be listed"));
            }
            Body::File {
                length: record.length,
                block_size: u32::try_from(record.block_size)
                    .map_err(|_| bad("block size above 4 GiB"))?,
                blocks: record.blocks,
                complete: record.complete,
                persistence: Persistence::from_code(record.persistence)
                    .ok_or_else(|| bad("unknown persistence state"))?,
            }
        };
        if let Body::File { persistence: Persistence::ToBePersisted | Persistence::Lost, .. } = body
        {
            namespace.awaiting_persist.insert(record.id, record.persist_not_before_ms);
        }
        if !record.ufs_fingerprint.is_empty() {
            namespace.fingerprints.insert(record.id, record.ufs_fingerprint.into());
        }
        let key = handle(container(record.id));
        namespace.inodes.insert(
            u64::from(key),
            Inode {
                parent: handle(container(record.parent)),
                epoch: epoch(container(record.id)),
                slot: 0,
                name: record.name.into(),
                owner: record.owner,
                group: record.group,
                mode: (record.mode & 0o7777) as u16,
                created_ms: record.created_ms,
                modified_ms: record.modified_ms,
                body,
            },
        );
        if index > 0 {
            namespace.link(key);
        }
    }
    if !bytes.is_empty() {
        return Err(format!("{} unexpected bytes after the last inode record", bytes.len()));
    }
    if namespace.inodes.len() == 0 {
        return Err("the snapshot has no root directory".into());
    }
    for (index, record) in header.mounts.into_iter().enumerate() {
        let bad = |why: &str| format!("mount record {index} (inode {}): {why}", record.id);
        match namespace.lookup(record.id).map(|inode| &inode.body) {
            Some(Body::Directory { .. }) if record.id != ROOT_ID => {}
            _ => return Err(bad("not a folder other than / in this namespace")),
        }
        if record.mount_id <= ROOT_MOUNT_ID || record.mount_id >= namespace.next_mount_id {
            return Err(bad("mount id out of range"));
        }
        let mount = MountPoint {
            ufs_uri: record.ufs_uri,
            options: record.options.unwrap_or_default(),
            mount_id: record.mount_id,
        };
        if namespace.mounts.insert(record.id, mount).is_some() {
            return Err(bad("a second mount at one folder"));
        }
    }
    Ok(namespace)
}
