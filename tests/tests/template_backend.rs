//! The template backend (`backends/flatdir`) builds as an out-of-tree crate — copied out of the
//! workspace, depending on nothing of Lode's but `lode-core` — and passes the conformance
//! suites there: a new backend needs no change in core, master, worker or client.

use std::path::Path;
use std::process::Command;

/// Copies `from` (a directory) to `to`, recursively.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// `cargo test` in a copy of the template outside the workspace passes both conformance suites.
#[test]
fn the_template_backend_passes_the_conformance_suites_out_of_tree() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().canonicalize().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let crate_dir = outside.path().join("lode-backend-flatdir");
    std::fs::create_dir_all(&crate_dir).unwrap();
    for part in ["Cargo.toml", "src", "tests"] {
        let from = workspace.join("backends/flatdir").join(part);
        if from.is_dir() {
            copy_tree(&from, &crate_dir.join(part));
        } else {
            std::fs::copy(&from, crate_dir.join(part)).unwrap();
        }
    }
    // As a third party would: lode-core by its location (a path here, a version from a
    // registry elsewhere), and the workspace's lock file so that nothing new is downloaded.
    let manifest = crate_dir.join("Cargo.toml");
    let core = workspace.join("core");
    let text = std::fs::read_to_string(&manifest).unwrap();
    let text = text.replace("path = \"../../core\"", &format!("path = {:?}", core.display()));
    assert!(text.contains(&core.display().to_string()), "the manifest names lode-core: {text}");
    std::fs::write(&manifest, text + "\n[workspace]\n").unwrap();
    std::fs::copy(workspace.join("Cargo.lock"), crate_dir.join("Cargo.lock")).unwrap();

    let output = Command::new(env!("CARGO"))
        .args(["test", "--offline", "--quiet"])
        .current_dir(&crate_dir)
        // A target directory of its own: the workspace's may be locked by the cargo running
        // this test. Kept across runs, so only the first one compiles everything.
        .env("CARGO_TARGET_DIR", workspace.join("target/template-backend"))
        .output()
        .expect("running cargo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "cargo test failed out of tree:\n{stdout}\n{stderr}");
    let passed: usize = stdout
        .lines()
        .filter_map(|line| line.strip_prefix("test result: ok. "))
        .filter_map(|rest| rest.split(' ').next()?.parse::<usize>().ok())
        .sum();
    // 8 store tests, 11 protocol tests and the registration test.
    assert!(passed >= 20, "only {passed} tests passed out of tree:\n{stdout}");
}
