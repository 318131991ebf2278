//! The operations on a local folder (HDFS and S3 run the same code against real services in
//! `tests/tests/ufs.rs`).

use super::*;

fn local(dir: &std::path::Path) -> Ufs {
    Ufs::open(&dir.display().to_string(), &BTreeMap::new(), &Config::default()).unwrap()
}

/// A file being written is not visible under its name, and is whole once finished.
#[tokio::test]
async fn a_file_appears_under_its_name_only_when_finished() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    let mut file = ufs.create("a/b/data").await.unwrap();
    file.write(Bytes::from_static(b"hello ")).await.unwrap();
    assert_eq!(ufs.status("a/b/data").await.unwrap(), None, "visible while being written");
    file.write(Bytes::from_static(b"world")).await.unwrap();
    let status = file.finish().await.unwrap();
    assert_eq!((status.is_directory, status.length), (false, 11));
    assert_eq!(std::fs::read(dir.path().join("a/b/data")).unwrap(), b"hello world");
    let names: Vec<_> = std::fs::read_dir(dir.path().join("a/b")).unwrap().flatten().collect();
    assert_eq!(names.len(), 1, "a temporary file stayed behind: {names:?}");
}

/// An aborted write leaves neither the file nor its temporary behind.
#[tokio::test]
async fn an_aborted_file_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    let mut file = ufs.create("gone").await.unwrap();
    file.write(Bytes::from_static(b"partial")).await.unwrap();
    file.abort().await;
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// Reads take byte ranges; a range past the end reads what there is.
#[tokio::test]
async fn reads_take_byte_ranges() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f"), b"0123456789").unwrap();
    let ufs = local(dir.path());
    assert_eq!(ufs.read("f", 2, 3).await.unwrap(), Bytes::from_static(b"234"));
    assert_eq!(ufs.read("f", 8, 100).await.unwrap(), Bytes::from_static(b"89"));
    let missing = ufs.read("nope", 0, 1).await.unwrap_err();
    assert!(matches!(missing, UfsError::NotFound { .. }), "{missing}");
    assert!(missing.to_string().contains(&format!("{}/nope", dir.path().display())), "{missing}");
}

/// Reading in pieces gives the same bytes as reading in one buffer, for a range larger than
/// the pieces a local folder reads in, one past the end, and one of an empty tail.
#[tokio::test]
async fn reads_in_pieces_join_to_the_same_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..(9u32 << 20) + 7).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("f"), &content).unwrap();
    let ufs = local(dir.path());
    for (offset, length) in [(0, 9 << 20), (3, 5 << 20), ((9 << 20) - 1, 100), ((9 << 20) + 7, 10)]
    {
        let pieces = ufs.read_pieces("f", offset, length).await.unwrap();
        let whole = ufs.read("f", offset, length).await.unwrap();
        let end = (offset + length).min(content.len() as u64) as usize;
        let expected = &content[(offset as usize).min(end)..end];
        assert!(pieces.concat() == expected, "{offset}+{length}: other bytes");
        assert!(whole == expected, "{offset}+{length}: other bytes in one buffer");
    }
}

/// A file's fingerprint changes when its content does.
#[tokio::test]
async fn a_fingerprint_follows_the_content() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    std::fs::write(dir.path().join("f"), b"one").unwrap();
    let before = ufs.status("f").await.unwrap().unwrap().fingerprint();
    std::fs::write(dir.path().join("f"), b"three").unwrap();
    let after = ufs.status("f").await.unwrap().unwrap().fingerprint();
    assert_ne!(before, after);
    assert!(ufs.status("").await.unwrap().unwrap().is_directory);
}

/// Rename moves a file into a new folder; delete takes a folder with its contents.
#[tokio::test]
async fn rename_and_delete_follow_the_namespace() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    ufs.create_dir("d/e").await.unwrap();
    std::fs::write(dir.path().join("d/e/f"), b"x").unwrap();
    ufs.rename("d/e/f", "moved/f").await.unwrap();
    assert!(dir.path().join("moved/f").is_file());
    ufs.delete("d").await.unwrap();
    assert!(!dir.path().join("d").exists());
    ufs.delete("not-there").await.unwrap();
}

/// A missing local folder is refused naming it (not made), and a file is not a folder.
#[tokio::test]
async fn check_names_a_missing_folder() {
    let dir = tempfile::tempdir().unwrap();
    let uri = dir.path().join("missing").display().to_string();
    let missing = Ufs::open(&uri, &BTreeMap::new(), &Config::default()).unwrap_err();
    assert!(!dir.path().join("missing").exists(), "opening made the folder");
    assert!(missing.to_string().contains("missing"), "{missing}");
    std::fs::write(dir.path().join("file"), b"").unwrap();
    let uri = dir.path().join("file").display().to_string();
    let file = Ufs::open(&uri, &BTreeMap::new(), &Config::default()).unwrap_err();
    assert!(file.to_string().contains("not a folder"), "{file}");
    local(dir.path()).check().await.unwrap();
}

/// A scheme this binary cannot reach is refused with the list of those it can.
#[test]
fn an_unknown_scheme_is_refused_with_the_built_in_list() {
    let error =
        Ufs::open("wasb://c@a.blob.core.windows.net/x", &BTreeMap::new(), &Config::default())
            .unwrap_err();
    let text = error.to_string();
    assert!(text.contains("`wasb` is not built into this binary"), "{text}");
    assert!(text.contains("local folder"), "{text}");
}

/// A full UFS path is found below its mount's URI (whatever the scheme's spelling), and a path
/// of another folder, storage or host is not.
#[test]
fn a_path_below_a_mount_is_relative_to_it() {
    let mount = UfsUri::parse("hdfs://nn:8020/data").unwrap();
    assert_eq!(mount.relative("hdfs://nn:8020/data/a/b").as_deref(), Some("a/b"));
    assert_eq!(mount.relative("hdfs://nn:8020/data").as_deref(), Some(""));
    for other in ["hdfs://nn:8020/database/a", "hdfs://other:8020/data/a", "/data/a"] {
        assert_eq!(mount.relative(other), None, "{other}");
    }
    let bucket = UfsUri::parse("s3a://bucket/").unwrap();
    assert_eq!(bucket.relative("s3://bucket/x/y").as_deref(), Some("x/y"));
    let folder = UfsUri::parse("/tmp/ufs").unwrap();
    assert_eq!(folder.relative("file:///tmp/ufs/f").as_deref(), Some("f"));
}

/// Only an empty folder is deleted: one holding a file stays, and no folder is no error.
#[tokio::test]
async fn only_empty_folders_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    std::fs::create_dir_all(dir.path().join("full/empty")).unwrap();
    std::fs::write(dir.path().join("full/kept"), b"x").unwrap();
    assert!(ufs.delete_empty_dir("full/empty").await.unwrap());
    assert!(!dir.path().join("full/empty").exists());
    assert!(!ufs.delete_empty_dir("full").await.unwrap());
    assert!(dir.path().join("full/kept").exists());
    assert!(!ufs.delete_empty_dir("missing").await.unwrap());
}

/// A killed writer's temporary files of a path are deleted, and nothing else: not the file
/// itself, not another file's temporaries, not a name that only looks alike.
#[tokio::test]
async fn temporaries_left_by_killed_writers_are_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    std::fs::create_dir(dir.path().join("d")).unwrap();
    // What a writer killed before it could finish or abort leaves.
    std::fs::write(dir.path().join(temporary_name("d/f")), b"half").unwrap();
    std::fs::write(dir.path().join("d/f"), b"whole").unwrap();
    let kept = ["f", "g.alluxio.0x0123456789ABCDEF.tmp", "f.alluxio.0xNOTHEX.tmp", "ff"];
    for name in &kept[1..] {
        std::fs::write(dir.path().join("d").join(name), b"other").unwrap();
    }
    assert_eq!(ufs.delete_temporaries("d/f").await.unwrap(), 1);
    let mut left: Vec<String> = std::fs::read_dir(dir.path().join("d"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    let mut kept: Vec<String> = kept.iter().map(|name| name.to_string()).collect();
    kept.sort();
    assert_eq!(left, kept);
    assert_eq!(ufs.delete_temporaries("nowhere/f").await.unwrap(), 0);
}

/// A listing pages through a folder's files and folders with their statuses, leaves out the
/// folder itself and files being written under a temporary name, and a missing folder lists as
/// empty.
#[tokio::test]
async fn folders_list_a_page_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    let ufs = local(dir.path());
    std::fs::create_dir_all(dir.path().join("d/sub")).unwrap();
    for i in 0..5 {
        std::fs::write(dir.path().join(format!("d/f{i}")), vec![7; i]).unwrap();
    }
    std::fs::write(dir.path().join(temporary_name("d/f0")), b"half").unwrap();
    let mut lister = ufs.list("d").await.unwrap();
    let mut entries = Vec::new();
    loop {
        let page = lister.next_page(2).await.unwrap();
        assert!(page.len() <= 2);
        if page.is_empty() {
            break;
        }
        entries.extend(page);
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    let names: Vec<_> = entries.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["f0", "f1", "f2", "f3", "f4", "sub"]);
    assert_eq!((entries[3].status.length, entries[3].status.is_directory), (3, false));
    assert!(entries[5].status.is_directory);
    let stat = ufs.status("d/f3").await.unwrap().unwrap();
    assert_eq!(entries[3].status.fingerprint(), stat.fingerprint(), "listing and stat agree");
    let top = ufs.list("").await.unwrap().next_page(10).await.unwrap();
    assert_eq!(top.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(), ["d"]);
    assert!(ufs.list("missing").await.unwrap().next_page(10).await.unwrap().is_empty());
    assert!(is_temporary(&temporary_name("x")) && !is_temporary("x.tmp"));
    assert!(!is_temporary(".alluxio.0x0123456789ABCDEF.tmp"), "a suffix alone is a name");
}
