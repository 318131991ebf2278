//! Java jars for the harnesses that run real Java programs (HDFS, Alluxio's own client, shell,
//! benchmark and master): each harness folder holds a `pom.xml`, and `tests/fetch-jars`
//! copies what it names from Maven Central into the folder's `lib/`, once.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The `lib/` folder of harness folder `dir` (`tests/hadoop`, `tests/alluxio`), fetching the
/// jars first unless they are there; panics saying what is missing.
pub fn ensure(dir: &str) -> PathBuf {
    static FETCHED: Mutex<Option<HashMap<String, Result<(), String>>>> = Mutex::new(None);
    let mut fetched = FETCHED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let outcome = fetched.get_or_insert_with(HashMap::new).entry(dir.to_string()).or_insert_with(
        || {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/fetch-jars");
            let status = Command::new(script)
                .arg(dir)
                .status()
                .map_err(|e| format!("running {script} {dir}: {e}"))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!(
                    "{script} {dir} failed ({status}); is Maven installed and Maven Central reachable?"
                ))
            }
        },
    );
    if let Err(why) = outcome {
        panic!("the jars of {dir} are missing: {why}");
    }
    Path::new(dir).join("lib")
}

/// A class path of `conf` (a folder of configuration files) and every jar of `lib`.
pub fn class_path(conf: &Path, lib: &Path) -> String {
    format!("{}:{}/*", conf.display(), lib.display())
}
