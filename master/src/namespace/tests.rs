use super::*;

fn op(mutation: Mutation) -> NamespaceOp {
    NamespaceOp { time_ms: 1_000, mutation: Some(mutation) }
}

fn mkdir(path: &str, recursive: bool) -> NamespaceOp {
    op(Mutation::CreateDirectory(CreateDirectory {
        path: path.into(),
        recursive,
        allow_exists: false,
        owner: "alice".into(),
        group: "staff".into(),
        mode: 0o755,
        persisted: false,
    }))
}

fn touch(path: &str) -> NamespaceOp {
    op(Mutation::CreateFile(CreateFile {
        path: path.into(),
        recursive: false,
        owner: "alice".into(),
        group: "staff".into(),
        mode: 0o644,
        block_size: 64 << 20,
        persisted: false,
    }))
}

fn delete(path: &str, recursive: bool) -> NamespaceOp {
    op(Mutation::Delete(Delete { path: path.into(), recursive, delete_mount_point: false }))
}

fn rename(src: &str, dst: &str) -> NamespaceOp {
    op(Mutation::Rename(Rename { src: src.into(), dst: dst.into() }))
}

fn run(ns: &mut Namespace, op: NamespaceOp) -> Result<u64, NsError> {
    ns.apply(&op).into_result()
}

fn kind(ns: &mut Namespace, op: NamespaceOp) -> ErrorKind {
    run(ns, op).unwrap_err().kind
}

#[test]
fn directories_are_created_with_parents_when_asked() {
    let mut ns = Namespace::new();
    assert_eq!(kind(&mut ns, mkdir("/a/b/c", false)), ErrorKind::NotFound);
    run(&mut ns, mkdir("/a/b/c", true)).unwrap();
    assert_eq!(ns.len(), 4);
    assert!(ns.status("/a/b").unwrap().is_directory);
    assert_eq!(ns.status("/a/b/c").unwrap().owner, "alice");
    assert_eq!(kind(&mut ns, mkdir("/a/b/c", true)), ErrorKind::AlreadyExists);
    let mut again = mkdir("/a/b/c", false);
    if let Some(Mutation::CreateDirectory(m)) = &mut again.mutation {
        m.allow_exists = true;
    }
    assert_eq!(run(&mut ns, again).unwrap(), ns.status("/a/b/c").unwrap().id);
    assert_eq!(kind(&mut ns, mkdir("/", false)), ErrorKind::AlreadyExists);
}

#[test]
fn files_get_blocks_until_complete() {
    let mut ns = Namespace::new();
    let id = run(&mut ns, touch("/f")).unwrap();
    let new_block = || op(Mutation::NewBlock(NewBlock { path: "/f".into() }));
    let first = run(&mut ns, new_block()).unwrap();
    let second = run(&mut ns, new_block()).unwrap();
    assert_eq!((first, second), (block_id(id, 0), block_id(id, 1)));
    assert_eq!(first >> 24, id >> 24, "blocks share the file's container id");
    let complete = || {
        op(Mutation::CompleteFile(CompleteFile {
            path: "/f".into(),
            length: 99,
            ..Default::default()
        }))
    };
    run(&mut ns, complete()).unwrap();
    let status = ns.status("/f").unwrap();
    assert_eq!((status.length, status.complete, status.block_ids), (99, true, vec![first, second]));
    assert_eq!(kind(&mut ns, complete()), ErrorKind::AlreadyComplete);
    assert_eq!(kind(&mut ns, new_block()), ErrorKind::AlreadyComplete);
    assert_eq!(kind(&mut ns, touch("/f")), ErrorKind::AlreadyExists);
    assert_eq!(kind(&mut ns, touch("/f/g")), ErrorKind::NotADirectory);
    assert_eq!(ns.status("/f/g").unwrap_err().kind, ErrorKind::NotADirectory);
}

#[test]
fn deletes_need_recursion_for_non_empty_directories() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/a/b", true)).unwrap();
    run(&mut ns, touch("/a/b/f")).unwrap();
    assert_eq!(kind(&mut ns, delete("/a", false)), ErrorKind::DirectoryNotEmpty);
    assert_eq!(kind(&mut ns, delete("/", true)), ErrorKind::InvalidArgument);
    assert_eq!(kind(&mut ns, delete("/nope", true)), ErrorKind::NotFound);
    run(&mut ns, delete("/a", true)).unwrap();
    assert!(ns.is_empty());
    assert_eq!(ns.status("/a/b/f").unwrap_err().kind, ErrorKind::NotFound);
}

#[test]
fn renames_move_subtrees_and_refuse_impossible_moves() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/a/b", true)).unwrap();
    run(&mut ns, touch("/a/b/f")).unwrap();
    run(&mut ns, mkdir("/z", false)).unwrap();
    assert_eq!(kind(&mut ns, rename("/a", "/a/b/c")), ErrorKind::InvalidArgument);
    assert_eq!(kind(&mut ns, rename("/a", "/z")), ErrorKind::AlreadyExists);
    assert_eq!(kind(&mut ns, rename("/", "/q")), ErrorKind::InvalidArgument);
    assert_eq!(kind(&mut ns, rename("/a", "/a/b/f/x")), ErrorKind::InvalidArgument);
    assert_eq!(kind(&mut ns, rename("/z", "/a/b/f/x")), ErrorKind::NotADirectory);
    assert_eq!(kind(&mut ns, rename("/z", "/missing/x")), ErrorKind::NotFound);
    let id = ns.status("/a/b/f").unwrap().id;
    run(&mut ns, rename("/a", "/z/moved")).unwrap();
    assert_eq!(ns.status("/z/moved/b/f").unwrap().id, id);
    assert_eq!(ns.path_of(id).unwrap().as_str(), "/z/moved/b/f");
    assert_eq!(ns.status("/a").unwrap_err().kind, ErrorKind::NotFound);
}

#[test]
fn attributes_change_recursively_when_asked() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/a/b", true)).unwrap();
    run(&mut ns, touch("/a/b/f")).unwrap();
    let set = |recursive| {
        op(Mutation::SetAttribute(SetAttribute {
            path: "/a".into(),
            mode: Some(0o40700),
            owner: Some("bob".into()),
            group: None,
            recursive,
        }))
    };
    run(&mut ns, set(false)).unwrap();
    assert_eq!(
        (ns.status("/a").unwrap().mode, ns.status("/a").unwrap().owner.as_str()),
        (0o700, "bob")
    );
    assert_eq!(ns.status("/a/b/f").unwrap().owner, "alice");
    run(&mut ns, set(true)).unwrap();
    let f = ns.status("/a/b/f").unwrap();
    assert_eq!((f.owner.as_str(), f.group.as_str(), f.mode), ("bob", "staff", 0o700));
}

#[test]
fn listings_are_sorted_and_recurse_parents_first() {
    let mut ns = Namespace::new();
    for path in ["/d/z", "/d/a/x", "/d/m"] {
        run(&mut ns, mkdir(path, true)).unwrap();
    }
    run(&mut ns, touch("/d/a/x/f")).unwrap();
    assert_eq!(paths(ns.list("/d", false).unwrap()), ["/d/a", "/d/m", "/d/z"]);
    let all = paths(ns.list("/d", true).unwrap());
    assert_eq!(all.len(), 5);
    for (i, path) in all.iter().enumerate() {
        let parent = FsPath::parse(path).unwrap().parent().unwrap();
        if parent.as_str() != "/d" {
            assert!(all[..i].contains(&parent.to_string()), "{path} listed before its parent");
        }
    }
    assert_eq!(paths(ns.list("/d/a/x/f", true).unwrap()), ["/d/a/x/f"]);
    assert_eq!(ns.list("/none", false).unwrap_err().kind, ErrorKind::NotFound);
}

fn paths(list: Vec<FileStatus>) -> Vec<String> {
    list.into_iter().map(|s| s.path).collect()
}

/// A walk gives at most its limit per step, depth first by name, and continues after its last
/// entry in the tree as it is at the next step: renamed-away entries are skipped, entries ahead
/// of it are listed, none twice.
#[test]
fn a_walk_continues_after_its_last_entry_in_the_tree_as_it_is_then() {
    let mut ns = Namespace::new();
    for path in ["/w/a/x", "/w/b", "/w/c"] {
        run(&mut ns, mkdir(path, true)).unwrap();
    }
    run(&mut ns, touch("/w/a/x/f")).unwrap();
    let mut walk = TreeWalk::new(FsPath::parse("/w").unwrap(), true);
    assert_eq!(paths(walk.step(&ns, 2).unwrap()), ["/w/a", "/w/a/x"]);
    // Between steps: /w/b is renamed away, /w/a/x gains a file, /w/a gains one behind the walk.
    run(&mut ns, rename("/w/b", "/moved")).unwrap();
    run(&mut ns, touch("/w/a/x/g")).unwrap();
    run(&mut ns, touch("/w/a/0")).unwrap();
    assert_eq!(paths(walk.step(&ns, 2).unwrap()), ["/w/a/x/f", "/w/a/x/g"]);
    assert!(!walk.is_done());
    assert_eq!(paths(walk.step(&ns, 2).unwrap()), ["/w/c"], "/w/b was skipped");
    assert!(walk.is_done());
    assert!(walk.step(&ns, 2).unwrap().is_empty());

    let mut missing = TreeWalk::new(FsPath::parse("/none").unwrap(), true);
    assert_eq!(missing.step(&ns, 10).unwrap_err().kind, ErrorKind::NotFound);
    let mut file = TreeWalk::new(FsPath::parse("/w/a/0").unwrap(), true);
    assert_eq!(paths(file.step(&ns, 10).unwrap()), ["/w/a/0"]);
    assert!(file.is_done());
}

/// A big directory is listed a bounded page per step, in name order, and knows it is done
/// exactly when its last entry was given.
#[test]
fn a_big_directory_is_walked_a_page_per_step() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/big", false)).unwrap();
    for i in (0..2500).rev() {
        run(&mut ns, touch(&format!("/big/f{i:05}"))).unwrap();
    }
    let mut walk = TreeWalk::new(FsPath::parse("/big").unwrap(), false);
    let mut all = Vec::new();
    for expected in [1000, 1000, 500] {
        let page = paths(walk.step(&ns, 1000).unwrap());
        assert_eq!(page.len(), expected);
        all.extend(page);
    }
    assert!(walk.is_done(), "the last page ends the walk");
    let expected: Vec<_> = (0..2500).map(|i| format!("/big/f{i:05}")).collect();
    assert_eq!(all, expected);
    assert_eq!(paths(ns.list("/big", false).unwrap()), expected);

    let mut exact = TreeWalk::new(FsPath::parse("/big").unwrap(), false);
    assert_eq!(exact.step(&ns, 2500).unwrap().len(), 2500);
    assert!(exact.is_done(), "no empty step is needed to know the end");
}

/// A prefix selects entries by their path below the walked one, and a walk started after a
/// path (which need not exist) gives what follows it.
#[test]
fn a_walk_takes_a_prefix_and_a_starting_point() {
    let mut ns = Namespace::new();
    for path in ["/p/a1", "/p/a2/in", "/p/b1", "/p/ab/deep"] {
        run(&mut ns, mkdir(path, true)).unwrap();
    }
    let walk = |recursive| TreeWalk::new(FsPath::parse("/p").unwrap(), recursive);
    let all = |mut walk: TreeWalk| {
        let mut out = Vec::new();
        while !walk.is_done() {
            out.extend(paths(walk.step(&ns, 1).unwrap()));
        }
        out
    };
    assert_eq!(all(walk(false).with_prefix("/a")), ["/p/a1", "/p/a2", "/p/ab"]);
    assert_eq!(all(walk(true).with_prefix("a2")), ["/p/a2", "/p/a2/in"]);
    assert_eq!(all(walk(true).with_prefix("ab/d")), ["/p/ab/deep"]);
    assert_eq!(all(walk(false).with_prefix("zz")), Vec::<String>::new());
    let after = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    assert_eq!(all(walk(false).starting_after(after(&["a2"]))), ["/p/ab", "/p/b1"]);
    assert_eq!(
        all(walk(true).starting_after(after(&["a2"]))),
        ["/p/a2/in", "/p/ab", "/p/ab/deep", "/p/b1"]
    );
    assert_eq!(
        all(walk(true).starting_after(after(&["a3", "gone"]))),
        ["/p/ab", "/p/ab/deep", "/p/b1"]
    );
    assert_eq!(all(walk(false).starting_after(after(&["b1"]))), Vec::<String>::new());
    // Not recursive: after /p/a2/a comes /p/ab, never an entry of /p/a2 (its /p/a2/in).
    assert_eq!(all(walk(false).starting_after(after(&["a2", "a"]))), ["/p/ab", "/p/b1"]);
}

#[test]
fn a_page_of_a_directory_holds_only_its_window() {
    let mut ns = Namespace::new();
    for i in 0..10 {
        run(&mut ns, mkdir(&format!("/p/d{i}"), true)).unwrap();
    }
    let (page, total) = ns.list_page("/p", 3, 4).unwrap();
    let names: Vec<_> = page.iter().map(|s| s.name.as_str()).collect();
    assert_eq!((names, total), (vec!["d3", "d4", "d5", "d6"], 10));
    assert_eq!(ns.list_page("/p", 9, 4).unwrap().0.len(), 1);
    assert!(ns.list_page("/p", 50, 4).unwrap().0.is_empty());
    run(&mut ns, touch("/f")).unwrap();
    assert_eq!(ns.list_page("/f", 0, 4).unwrap(), (vec![ns.status("/f").unwrap()], 1));
}

#[test]
fn bad_paths_are_refused_as_invalid_paths() {
    let mut ns = Namespace::new();
    for bad in ["relative", "/a//b", "/a/../b", "/a\0", ""] {
        let err = run(&mut ns, mkdir(bad, true)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::InvalidPath, "{bad:?}");
        assert!(err.message.contains("invalid path"), "{err}");
    }
    let long = format!("/{}", "n".repeat(MAX_NAME_BYTES + 1));
    assert_eq!(kind(&mut ns, touch(&long)), ErrorKind::InvalidPath);
    assert_eq!(ns.status("no/slash").unwrap_err().kind, ErrorKind::InvalidPath);
    assert!(ns.is_empty());
    assert_eq!(
        ns.apply(&NamespaceOp::default()).into_result().unwrap_err().kind,
        ErrorKind::InvalidArgument
    );
}

/// A tiny deterministic generator, so the randomized tests need no dependency and replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

fn random_op(rng: &mut Rng) -> NamespaceOp {
    let names = ["a", "b", "c"];
    let mut path = String::new();
    for _ in 0..=rng.next(3) {
        path.push('/');
        path.push_str(names[rng.next(3) as usize]);
    }
    let other = format!("/{}", names[rng.next(3) as usize]);
    let mutation = match rng.next(13) {
        0 => Mutation::CreateDirectory(CreateDirectory {
            path,
            recursive: rng.next(2) == 0,
            mode: 0o755,
            persisted: rng.next(3) == 0,
            ..Default::default()
        }),
        1 => Mutation::CreateFile(CreateFile {
            path,
            recursive: rng.next(2) == 0,
            mode: 0o644,
            block_size: 1024,
            persisted: rng.next(4) == 0,
            ..Default::default()
        }),
        2 => Mutation::CompleteFile(CompleteFile {
            path,
            length: rng.next(10_000),
            to_be_persisted: rng.next(2) == 0,
            persist_wait_ms: rng.next(3) as i64 - 1,
            ufs_fingerprint: ["", "fp"][rng.next(2) as usize].into(),
        }),
        3 => Mutation::Delete(Delete {
            path,
            recursive: rng.next(2) == 0,
            delete_mount_point: rng.next(2) == 0,
        }),
        4 => Mutation::Rename(Rename { src: path, dst: other }),
        5 => Mutation::SetAttribute(SetAttribute {
            path,
            mode: Some(rng.next(0o10000) as u32),
            owner: Some(format!("u{}", rng.next(3))),
            group: None,
            recursive: rng.next(2) == 0,
        }),
        6 => Mutation::NewBlock(NewBlock { path }),
        7 => Mutation::Mount(Mount {
            path,
            ufs_uri: format!("/ufs{other}{}", ["", "/x"][rng.next(2) as usize]),
            mode: 0o755,
            ..Default::default()
        }),
        8 => Mutation::Unmount(Unmount { path }),
        9 => Mutation::SchedulePersist(SchedulePersist { path, wait_ms: rng.next(3) as i64 - 1 }),
        10 => Mutation::PersistFile(PersistFile {
            id: inode_id(rng.next(64)),
            length: [0, rng.next(10_000)][rng.next(2) as usize],
            ufs_fingerprint: format!("fp{}", rng.next(3)),
            path: ["", "/a", "/b/c"][rng.next(3) as usize].into(),
        }),
        11 => Mutation::LoadMetadata(LoadMetadata {
            path: ["/", "/a", "/b/c"][rng.next(3) as usize].into(),
            entries: (0..rng.next(4))
                .map(|_| LoadedEntry {
                    path: format!(
                        "{}{}",
                        ["", "a/", "c/"][rng.next(3) as usize],
                        names[rng.next(3) as usize]
                    ),
                    directory: rng.next(2) == 0,
                    length: rng.next(5_000),
                    modified_ms: rng.next(1 << 40) as i64,
                    fingerprint: format!("fp{}", rng.next(3)),
                    block_size: [0, 1024][rng.next(2) as usize],
                    mode: 0,
                })
                .collect(),
            listed: vec![["", "a", "c"][rng.next(3) as usize].into()],
            owner: "loader".into(),
            group: "staff".into(),
            removed: (0..rng.next(3))
                .map(|_| RemovedEntry {
                    path: format!(
                        "{}{}",
                        ["", "a/"][rng.next(2) as usize],
                        names[rng.next(3) as usize]
                    ),
                    fingerprint: ["", "fp0", "fp1"][rng.next(3) as usize].into(),
                })
                .collect(),
        }),
        _ => Mutation::PersistFailed(PersistFailed {
            id: inode_id(rng.next(64)),
            lost: rng.next(2) == 0,
        }),
    };
    NamespaceOp { time_ms: rng.next(1 << 40) as i64, mutation: Some(mutation) }
}

#[test]
fn refused_operations_change_nothing_and_replicas_agree() {
    let mut rng = Rng(0x5EED);
    let (mut leader, mut standby) = (Namespace::new(), Namespace::new());
    for _ in 0..20_000 {
        let op = random_op(&mut rng);
        let before = leader.clone();
        let reply = leader.apply(&op);
        if reply.error.is_some() {
            assert_eq!(leader, before, "a refused {op:?} changed the namespace");
        }
        assert_eq!(standby.apply(&op), reply, "replicas disagree on {op:?}");
        leader.check_invariants();
    }
    assert_eq!(leader, standby);
}

#[test]
fn snapshots_round_trip_deterministically() {
    let mut rng = Rng(42);
    let mut ns = Namespace::new();
    for round in 0..400 {
        let _ = ns.apply(&random_op(&mut rng));
        if round % 40 == 0 {
            let mut bytes = Vec::new();
            ns.encode_snapshot(&mut bytes);
            let restored = Namespace::decode_snapshot(&bytes).unwrap();
            restored.check_invariants();
            assert_eq!(restored, ns);
            let mut again = Vec::new();
            restored.encode_snapshot(&mut again);
            assert_eq!(again, bytes, "the same tree gave different bytes");
        }
    }
}

#[test]
fn damaged_snapshots_are_errors_not_panics() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/a/b", true)).unwrap();
    run(&mut ns, touch("/a/b/f")).unwrap();
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    for len in 0..bytes.len() {
        assert!(Namespace::decode_snapshot(&bytes[..len]).is_err(), "truncated at {len} decoded");
    }
    for at in 0..bytes.len() {
        let mut flipped = bytes.clone();
        flipped[at] ^= 0x5A;
        let _ = Namespace::decode_snapshot(&flipped); // Must not panic; may decode garbage.
    }
}

#[test]
fn unknown_inode_ids_resolve_to_nothing() {
    let mut ns = Namespace::new();
    let id = run(&mut ns, touch("/f")).unwrap();
    assert!(ns.status_by_id(id).is_some());
    for unknown in [0, 1, id + 1, block_id(id, 0), u64::MAX] {
        assert_eq!(ns.status_by_id(unknown), None, "{unknown}");
        assert_eq!(ns.path_of(unknown), None, "{unknown}");
    }
    assert_eq!(ns.status_by_id(ROOT_ID).unwrap().path, "/");
}

#[test]
fn an_inode_takes_at_most_80_bytes_plus_its_name() {
    // The memory target (<= 128 bytes per inode at 10M files) leaves room for the name, the
    // hash table entry and the parent's child slot only if the record itself stays this small.
    assert!(std::mem::size_of::<Inode>() <= 80, "{}", std::mem::size_of::<Inode>());
    assert_eq!(std::mem::size_of::<Option<Inode>>(), std::mem::size_of::<Inode>());
}

#[test]
fn block_sizes_above_4_gib_are_refused() {
    let mut ns = Namespace::new();
    let mut op = touch("/big");
    if let Some(Mutation::CreateFile(m)) = &mut op.mutation {
        m.block_size = 5 << 30;
    }
    assert_eq!(kind(&mut ns, op), ErrorKind::InvalidArgument);
}

#[test]
fn container_ids_go_past_32_bits_up_to_alluxios_40() {
    let mut ns = Namespace::new();
    ns.next_container = (1 << 32) - 2; // Where 32-bit ids ran out (~50 days at 1,000 creates/s).
    run(&mut ns, mkdir("/a/b", true)).unwrap();
    let file = run(&mut ns, touch("/a/b/f")).unwrap();
    // 2^32 has the root's handle (0), so it is skipped: handles stay unique among live inodes.
    assert_eq!(container(file), (1 << 32) + 1, "the first free id past 32 bits");
    let new_block = op(Mutation::NewBlock(NewBlock { path: "/a/b/f".into() }));
    assert_eq!(run(&mut ns, new_block).unwrap() >> 24, (1 << 32) + 1, "its blocks share it");
    assert_eq!(ns.path_of(file).unwrap().to_string(), "/a/b/f");
    run(&mut ns, rename("/a/b", "/c")).unwrap();
    assert_eq!(ns.status("/c/f").unwrap().id, file);
    ns.check_invariants();
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    let restored = Namespace::decode_snapshot(&bytes).unwrap();
    restored.check_invariants();
    assert_eq!(restored, ns);
    run(&mut ns, delete("/c", true)).unwrap();
    assert_eq!(ns.len(), 2);

    ns.next_container = MAX_CONTAINERS - 1;
    let last = run(&mut ns, touch("/last")).unwrap();
    assert_eq!(container(last), MAX_CONTAINERS - 1);
    assert_eq!(ns.status("/last").unwrap().id, last);
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    assert_eq!(Namespace::decode_snapshot(&bytes).unwrap(), ns, "a namespace at the last id");
    let refused = run(&mut ns, touch("/one-more")).unwrap_err();
    assert_eq!(refused.kind, ErrorKind::InvalidArgument);
    assert!(refused.message.contains("ran out of ids"), "{}", refused.message);
}

#[test]
fn an_id_whose_handle_a_newer_inode_took_resolves_to_nothing() {
    let mut ns = Namespace::new();
    ns.next_container = 5;
    let old = run(&mut ns, touch("/x")).unwrap();
    run(&mut ns, op(Mutation::NewBlock(NewBlock { path: "/x".into() }))).unwrap();
    run(&mut ns, delete("/x", false)).unwrap();
    ns.next_container = (1 << 32) + 5; // The same low 32 bits, one epoch later.
    let new = run(&mut ns, touch("/y")).unwrap();
    assert_eq!(container(new) as u32, container(old) as u32, "the handle is taken again");
    assert_eq!(ns.status_by_id(old), None);
    assert_eq!(ns.path_of(old), None);
    assert_eq!(ns.block_owner(block_id(old, 0)), None, "a deleted file's block stays gone");
    assert_eq!(ns.status_by_id(new).unwrap().path, "/y");
    ns.check_invariants();
}

fn mount(path: &str, ufs: &str) -> NamespaceOp {
    op(Mutation::Mount(Mount {
        path: path.into(),
        ufs_uri: ufs.into(),
        options: Some(MountOptions { read_only: true, ..Default::default() }),
        owner: "alice".into(),
        group: "staff".into(),
        mode: 0o755,
    }))
}

fn unmount(path: &str) -> NamespaceOp {
    op(Mutation::Unmount(Unmount { path: path.into() }))
}

fn message(ns: &mut Namespace, op: NamespaceOp) -> String {
    run(ns, op).unwrap_err().message
}

/// A mount makes a new folder whose files map to paths in its under-file-system; the mount
/// table lists it with its options.
#[test]
fn a_mount_maps_its_folder_to_its_under_file_system() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/data", false)).unwrap();
    run(&mut ns, mount("/data/s3", "s3://bucket/prefix/")).unwrap();
    run(&mut ns, mkdir("/data/s3/d", false)).unwrap();
    run(&mut ns, touch("/data/s3/d/f")).unwrap();
    let point = ns.status("/data/s3").unwrap();
    assert!(point.mount_point && point.is_directory);
    assert_eq!(point.nested_ufs_path.as_deref(), Some("s3://bucket/prefix"));
    let file = ns.status("/data/s3/d/f").unwrap();
    assert!(!file.mount_point);
    assert_eq!(file.nested_ufs_path.as_deref(), Some("s3://bucket/prefix/d/f"));
    let outside = ns.status("/data").unwrap();
    assert_eq!((outside.mount_point, outside.nested_ufs_path), (false, None));
    let mounts = ns.mounts();
    assert_eq!(mounts.len(), 1);
    assert_eq!(mounts[0].0, "/data/s3");
    assert!(mounts[0].1.options.read_only);
    assert!(mounts[0].1.mount_id > ROOT_MOUNT_ID);
    let in_mount = |path: &str| {
        let path = FsPath::parse(path).unwrap();
        ns.mount_containing(&path).map(|(point, mount)| (point.to_string(), mount.mount_id))
    };
    let expected = Some(("/data/s3".to_string(), mounts[0].1.mount_id));
    for path in ["/data/s3", "/data/s3/d/f", "/data/s3/new/deeper"] {
        assert_eq!(in_mount(path), expected, "{path}");
    }
    for path in ["/", "/data", "/data/s3x", "/elsewhere/new"] {
        assert_eq!(in_mount(path), None, "{path}");
    }
}

/// Alluxio's mount rules: a new folder under an existing one, never `/`, and no two mounts
/// of overlapping folders of one under-file-system.
#[test]
fn mounts_follow_alluxios_rules() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/taken", false)).unwrap();
    assert!(
        message(&mut ns, mount("/taken", "/u/a")).contains("already exists in Alluxio namespace")
    );
    assert_eq!(kind(&mut ns, mount("/", "/u/a")), ErrorKind::AlreadyExists);
    assert_eq!(kind(&mut ns, mount("/no/parent", "/u/a")), ErrorKind::NotFound);
    run(&mut ns, mount("/m1", "/u/a")).unwrap();
    for overlapping in ["/u/a", "/u/a/b", "/u", "file:///u/a/"] {
        let refused = message(&mut ns, mount("/m2", overlapping));
        assert!(refused.contains("is a prefix of"), "{overlapping}: {refused}");
    }
    run(&mut ns, mount("/m2", "/u/ab")).unwrap();
    assert!(message(&mut ns, mount("/m3", "gs://b/x")).contains("not built into"));
}

/// Unmount removes the folder and what Lode holds below it; `/`, a plain folder and a mount
/// with another inside are refused.
#[test]
fn unmount_removes_the_folder_and_keeps_the_rules() {
    let mut ns = Namespace::new();
    run(&mut ns, mount("/m", "/u/a")).unwrap();
    run(&mut ns, touch("/m/f")).unwrap();
    run(&mut ns, mount("/m/inner", "/u/b")).unwrap();
    assert!(message(&mut ns, unmount("/")).contains("Cannot unmount the root mount point"));
    run(&mut ns, mkdir("/plain", false)).unwrap();
    assert!(message(&mut ns, unmount("/plain")).contains("existing mount point and not root"));
    assert!(message(&mut ns, unmount("/nothing")).contains("does not exist"));
    assert!(
        message(&mut ns, unmount("/m")).contains("contains another nested mount point /m/inner")
    );
    run(&mut ns, unmount("/m/inner")).unwrap();
    run(&mut ns, unmount("/m")).unwrap();
    assert!(ns.status("/m").is_err() && ns.mounts().is_empty());
    run(&mut ns, mount("/m", "/u/a")).unwrap();
}

/// A delete takes a mount point only with `deleteMountPoint`; a mount point is never renamed,
/// and no rename crosses mounts, so every file's UFS path stays its mount's URI plus its path.
#[test]
fn deletes_and_renames_respect_mount_points() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/d", false)).unwrap();
    run(&mut ns, mount("/d/m", "/u/a")).unwrap();
    run(&mut ns, touch("/d/m/f")).unwrap();
    run(&mut ns, touch("/g")).unwrap();
    assert!(message(&mut ns, delete("/d", true)).contains("--deleteMountPoint"));
    assert!(message(&mut ns, rename("/d", "/e")).contains("is a mount point"));
    assert!(message(&mut ns, rename("/d/m/f", "/f")).contains("cross mount operation"));
    assert!(message(&mut ns, rename("/g", "/d/m/g")).contains("cross mount operation"));
    run(&mut ns, rename("/d/m/f", "/d/m/f2")).unwrap();
    let mut forced = delete("/d", true);
    if let Some(Mutation::Delete(m)) = &mut forced.mutation {
        m.delete_mount_point = true;
    }
    run(&mut ns, forced).unwrap();
    assert!(ns.mounts().is_empty());
    ns.check_invariants();
}

/// A checkpoint keeps the mount table, and a namespace restored from it goes on counting mount
/// ids where the original would.
#[test]
fn checkpoints_keep_the_mount_table() {
    let mut ns = Namespace::new();
    run(&mut ns, mount("/m", "hdfs://nn:8020/data")).unwrap();
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    let restored = Namespace::decode_snapshot(&bytes).unwrap();
    assert_eq!(restored, ns);
    assert_eq!(restored.mounts()[0].1.ufs_uri, "hdfs://nn:8020/data");
    let mut copy = restored.clone();
    run(&mut ns, mount("/n", "hdfs://nn:8020/other")).unwrap();
    run(&mut copy, mount("/n", "hdfs://nn:8020/other")).unwrap();
    assert_eq!(copy, ns);
}

/// A file to be persisted waits its persistence wait, becomes PERSISTED with its fingerprint
/// (by id, even after a rename), and a deleted or rewritten file refuses the result.
#[test]
fn persistence_follows_its_journal_entries() {
    let mut ns = Namespace::new();
    let id = run(&mut ns, touch("/f")).unwrap();
    let complete = CompleteFile {
        path: "/f".into(),
        length: 7,
        to_be_persisted: true,
        persist_wait_ms: 500,
        ..Default::default()
    };
    run(&mut ns, NamespaceOp { time_ms: 1_000, mutation: Some(Mutation::CompleteFile(complete)) })
        .unwrap();
    assert_eq!(ns.awaiting_persist().collect::<Vec<_>>(), vec![id]);
    let target = ns.persist_target(id).unwrap();
    assert_eq!((target.not_before_ms, target.place.path.as_str(), target.length), (1_500, "f", 7));
    run(&mut ns, op(Mutation::Rename(Rename { src: "/f".into(), dst: "/g".into() }))).unwrap();
    let persisted = |length| {
        op(Mutation::PersistFile(PersistFile {
            id,
            length,
            ufs_fingerprint: "fp".into(),
            ..Default::default()
        }))
    };
    let refused = run(&mut ns, persisted(6)).unwrap_err();
    assert!(refused.message.contains("not the 6 bytes persisted"), "{refused}");
    // A copy the leader put at the file's place when it was /f is not the file's at /g.
    let placed = |path: &str| {
        let entry = PersistFile { id, length: 7, ufs_fingerprint: "fp".into(), path: path.into() };
        op(Mutation::PersistFile(entry))
    };
    let refused = run(&mut ns, placed("/f")).unwrap_err();
    assert!(refused.message.contains("moved from /f to /g"), "{refused}");
    run(&mut ns, placed("/g")).unwrap();
    run(&mut ns, persisted(7)).unwrap();
    let status = ns.status("/g").unwrap();
    assert_eq!(
        (status.persistence, status.ufs_fingerprint.as_str()),
        (Persistence::Persisted, "fp")
    );
    assert_eq!(ns.awaiting_persist().count(), 0);
    assert!(ns.persist_target(id).is_none());
    // Scheduling a persisted file again changes nothing; a deleted file refuses the result.
    run(&mut ns, op(Mutation::SchedulePersist(SchedulePersist { path: "/g".into(), wait_ms: 0 })))
        .unwrap();
    assert_eq!(ns.status("/g").unwrap().persistence, Persistence::Persisted);
    run(&mut ns, op(Mutation::Delete(Delete { path: "/g".into(), ..Default::default() }))).unwrap();
    assert_eq!(run(&mut ns, persisted(7)).unwrap_err().kind, ErrorKind::NotFound);
}

/// A file written through (CACHE_THROUGH, THROUGH) is PERSISTED from its creation, completes
/// with the UFS's fingerprint, and has a block for every block size of its length even when no
/// worker cached them (THROUGH).
#[test]
fn a_file_written_through_is_persisted_with_blocks_for_its_length() {
    let mut ns = Namespace::new();
    let create =
        CreateFile { path: "/t".into(), block_size: 10, persisted: true, ..Default::default() };
    let id = run(&mut ns, op(Mutation::CreateFile(create))).unwrap();
    assert_eq!(ns.status("/t").unwrap().persistence, Persistence::Persisted);
    let complete = CompleteFile {
        path: "/t".into(),
        length: 25,
        ufs_fingerprint: "fp".into(),
        ..Default::default()
    };
    run(&mut ns, op(Mutation::CompleteFile(complete))).unwrap();
    let status = ns.status("/t").unwrap();
    assert_eq!(status.block_ids, (0..3).map(|i| block_id(id, i)).collect::<Vec<_>>());
    assert_eq!((status.ufs_fingerprint.as_str(), status.complete), ("fp", true));
    assert_eq!(ns.block_owner(block_id(id, 2)), Some(Some(5)), "the last block's length");
    assert_eq!(ns.awaiting_persist().count(), 0);
}

/// `persist` of a NOT_PERSISTED file schedules it, a file whose blocks are gone becomes LOST
/// and still awaits persistence, a file that ran out of time goes back to NOT_PERSISTED, and
/// an incomplete file cannot be scheduled.
#[test]
fn scheduled_lost_and_given_up_persists() {
    let mut ns = Namespace::new();
    let id = run(&mut ns, touch("/f")).unwrap();
    let schedule =
        || op(Mutation::SchedulePersist(SchedulePersist { path: "/f".into(), wait_ms: 0 }));
    let refused = run(&mut ns, schedule()).unwrap_err();
    assert!(refused.message.contains("Cannot persist an incomplete Alluxio file: /f"), "{refused}");
    let complete = CompleteFile { path: "/f".into(), ..Default::default() };
    run(&mut ns, op(Mutation::CompleteFile(complete))).unwrap();
    assert_eq!(ns.status("/f").unwrap().persistence, Persistence::NotPersisted);
    run(&mut ns, schedule()).unwrap();
    assert_eq!(ns.status("/f").unwrap().persistence, Persistence::ToBePersisted);
    let failed = |lost| op(Mutation::PersistFailed(PersistFailed { id, lost }));
    run(&mut ns, failed(true)).unwrap();
    assert_eq!(ns.status("/f").unwrap().persistence, Persistence::Lost);
    assert!(ns.persist_target(id).unwrap().lost, "a LOST file is persisted if its blocks return");
    run(&mut ns, failed(false)).unwrap();
    assert_eq!(ns.status("/f").unwrap().persistence, Persistence::NotPersisted);
    assert_eq!(run(&mut ns, failed(false)).unwrap_err().kind, ErrorKind::NotFound);
    assert_eq!(ns.awaiting_persist().count(), 0);
}

/// A file completed for ASYNC_THROUGH is TO_BE_PERSISTED, any other NOT_PERSISTED, and the
/// state survives a checkpoint.
#[test]
fn a_file_completed_to_be_persisted_says_so_across_checkpoints() {
    let mut ns = Namespace::new();
    for (path, to_be_persisted) in [("/async", true), ("/cached", false)] {
        run(&mut ns, touch(path)).unwrap();
        let complete =
            CompleteFile { path: path.into(), length: 0, to_be_persisted, ..Default::default() };
        run(&mut ns, op(Mutation::CompleteFile(complete))).unwrap();
    }
    assert_eq!(ns.status("/async").unwrap().persistence, Persistence::ToBePersisted);
    assert_eq!(ns.status("/cached").unwrap().persistence, Persistence::NotPersisted);
    assert_eq!(ns.status("/").unwrap().persistence.name(), "NOT_PERSISTED");
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    let restored = Namespace::decode_snapshot(&bytes).unwrap();
    assert_eq!(restored.status("/async").unwrap().persistence.name(), "TO_BE_PERSISTED");
    assert_eq!(restored, ns);
}

/// A folder is PERSISTED when it was made through to its UFS (with the parents made for it),
/// when a file below it is persisted or written through, or when it is a mount point; others,
/// and `/`, are NOT_PERSISTED. The state survives a checkpoint and goes with a delete.
#[test]
fn folders_are_persisted_when_they_are_in_the_ufs() {
    let mut ns = Namespace::new();
    let through = |path: &str| {
        op(Mutation::CreateDirectory(CreateDirectory {
            path: path.into(),
            recursive: true,
            mode: 0o755,
            persisted: true,
            ..Default::default()
        }))
    };
    let state = |ns: &Namespace, path: &str| ns.status(path).unwrap().persistence;
    run(&mut ns, mkdir("/cached/deeper", true)).unwrap();
    run(&mut ns, through("/made/through")).unwrap();
    run(&mut ns, mkdir("/files/below", true)).unwrap();
    run(&mut ns, touch("/files/below/f")).unwrap();
    let complete = CompleteFile { path: "/files/below/f".into(), length: 0, ..Default::default() };
    run(&mut ns, op(Mutation::CompleteFile(complete))).unwrap();
    let id = ns.status("/files/below/f").unwrap().id;
    let persisted =
        PersistFile { id, length: 0, ufs_fingerprint: "fp".into(), ..Default::default() };
    run(&mut ns, op(Mutation::PersistFile(persisted))).unwrap();
    run(&mut ns, mount("/mnt", "/u/m")).unwrap();
    for path in ["/made", "/made/through", "/files", "/files/below", "/mnt"] {
        assert_eq!(state(&ns, path), Persistence::Persisted, "{path}");
    }
    for path in ["/", "/cached", "/cached/deeper"] {
        assert_eq!(state(&ns, path), Persistence::NotPersisted, "{path}");
    }
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    let restored = Namespace::decode_snapshot(&bytes).unwrap();
    assert_eq!(state(&restored, "/made/through"), Persistence::Persisted);
    assert_eq!(restored, ns);
    run(&mut ns, delete("/made", true)).unwrap();
    run(&mut ns, mkdir("/made", false)).unwrap();
    assert_eq!(state(&ns, "/made"), Persistence::NotPersisted);
}

fn load(path: &str, entries: &[(&str, Option<u64>)], listed: &[&str]) -> NamespaceOp {
    op(Mutation::LoadMetadata(LoadMetadata {
        path: path.into(),
        entries: entries
            .iter()
            .map(|&(path, length)| LoadedEntry {
                path: path.into(),
                directory: length.is_none(),
                length: length.unwrap_or(0),
                modified_ms: 77,
                fingerprint: length.map(|l| format!("TYPE:FILE LENGTH:{l}")).unwrap_or_default(),
                block_size: 100,
                mode: 0,
            })
            .collect(),
        listed: listed.iter().map(|l| l.to_string()).collect(),
        owner: "ufs".into(),
        group: "staff".into(),
        removed: Vec::new(),
    }))
}

#[test]
fn loaded_entries_are_persisted_inodes_made_once_and_never_replace_anything() {
    let mut ns = Namespace::new();
    run(&mut ns, mkdir("/data", false)).unwrap();
    run(&mut ns, touch("/data/mine")).unwrap();
    let before = ns.status("/data").unwrap().modified_ms;
    let found = load(
        "/data",
        &[("in", None), ("in/deep.csv", Some(250)), ("top", Some(0)), ("mine", Some(5))],
        &["in", ""],
    );
    assert_eq!(run(&mut ns, found.clone()).unwrap(), 3, "three made; `mine` was Lode's");
    let deep = ns.status("/data/in/deep.csv").unwrap();
    assert_eq!(
        (deep.length, deep.block_ids.len(), deep.complete, deep.persistence),
        (250, 3, true, Persistence::Persisted)
    );
    assert_eq!((deep.owner.as_str(), deep.mode, deep.modified_ms), ("ufs", 0o644, 77));
    assert_eq!(deep.ufs_fingerprint, "TYPE:FILE LENGTH:250");
    let folder = ns.status("/data/in").unwrap();
    assert_eq!((folder.persistence, folder.mode), (Persistence::Persisted, 0o755));
    assert_eq!(ns.status("/data").unwrap().persistence, Persistence::Persisted);
    assert_eq!(ns.status("/data").unwrap().modified_ms, before, "finding is not modifying");
    assert!(!ns.status("/data/mine").unwrap().complete, "Lode's own file stays as it was");
    let listed = |ns: &Namespace, path| ns.is_listed(ns.status(path).unwrap().id);
    assert!(listed(&ns, "/data") && listed(&ns, "/data/in"));
    assert!(!listed(&ns, "/"));
    // The same load again (two clients at once, or a new leader redoing it) makes nothing.
    let once = ns.clone();
    assert_eq!(run(&mut ns, found).unwrap(), 0);
    assert_eq!(ns, once);
    ns.check_invariants();
    // Names Lode cannot hold, parents that are missing or files, and bad block sizes are
    // skipped, not errors: the rest of the load stands.
    let odd = load(
        "/data",
        &[("..", None), ("gone/x", Some(1)), ("top/x", Some(1)), ("ok", Some(1))],
        &["gone"],
    );
    assert_eq!(run(&mut ns, odd).unwrap(), 1);
    let mut zero = load("/data", &[("zero-block-size", Some(1))], &[]);
    if let Some(Mutation::LoadMetadata(m)) = &mut zero.mutation {
        m.entries[0].block_size = 0;
    }
    assert_eq!(run(&mut ns, zero).unwrap(), 0);
    assert_eq!(kind(&mut ns, load("/nowhere", &[("x", Some(1))], &[])), ErrorKind::NotFound);
    assert_eq!(kind(&mut ns, load("/data/top", &[], &[])), ErrorKind::NotADirectory);
    // Checkpoints keep what was loaded and which folders were listed; deletes forget them.
    let mut bytes = Vec::new();
    ns.encode_snapshot(&mut bytes);
    let restored = Namespace::decode_snapshot(&bytes).unwrap();
    assert_eq!(restored, ns);
    assert!(listed(&restored, "/data/in"));
    assert_eq!(restored.status("/data/in/deep.csv").unwrap().ufs_fingerprint, deep.ufs_fingerprint);
    run(&mut ns, delete("/data/in", true)).unwrap();
    run(&mut ns, mkdir("/data/in", false)).unwrap();
    assert!(!listed(&ns, "/data/in"));
}

#[test]
fn a_sync_removes_only_what_is_still_as_the_leader_saw_it_in_the_ufs() {
    let mut ns = Namespace::new();
    let found = load("/", &[("d", None), ("d/f", Some(250)), ("d/g", Some(1)), ("e", None)], &[]);
    run(&mut ns, found).unwrap();
    run(&mut ns, touch("/e/only-in-lode")).unwrap();
    let old = ns.status("/d/f").unwrap();
    let removing = |entries: &[(&str, &str)], made: &[(&str, Option<u64>)]| {
        let mut op = load("/", made, &[]);
        if let Some(Mutation::LoadMetadata(m)) = &mut op.mutation {
            m.removed = entries
                .iter()
                .map(|(path, fingerprint)| RemovedEntry {
                    path: path.to_string(),
                    fingerprint: fingerprint.to_string(),
                })
                .collect();
        }
        op
    };
    // A changed file: removed with its old fingerprint, loaded again as a new inode whose
    // blocks are new; the old blocks belong to nothing.
    run(&mut ns, removing(&[("d/f", "TYPE:FILE LENGTH:250")], &[("d/f", Some(99))])).unwrap();
    let new = ns.status("/d/f").unwrap();
    assert_ne!(new.id, old.id);
    assert_eq!((new.length, new.ufs_fingerprint.as_str()), (99, "TYPE:FILE LENGTH:99"));
    assert_eq!(ns.block_owner(old.block_ids[0]), None, "a block of the old content is served");
    // Not what the leader saw (changed meanwhile), or only Lode's: kept.
    let kept = ns.clone();
    run(&mut ns, removing(&[("d/g", "TYPE:FILE LENGTH:2"), ("e", ""), ("d/g", "")], &[])).unwrap();
    assert_eq!(ns, kept, "a file of another fingerprint or a folder with Lode's data went");
    run(&mut ns, removing(&[("e/only-in-lode", "")], &[])).unwrap();
    assert_eq!(ns, kept);
    // Gone from the UFS: the file, and a folder holding only what the UFS had.
    run(&mut ns, removing(&[("d", "")], &[])).unwrap();
    assert_eq!(ns.status("/d").unwrap_err().kind, ErrorKind::NotFound);
    assert!(ns.status("/e/only-in-lode").is_ok());
    ns.check_invariants();
}
