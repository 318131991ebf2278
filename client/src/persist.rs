//! `lode fs persist`: schedules files to be written to their under-file-systems and waits until
//! each is PERSISTED, as Alluxio's `persist` command does (a folder: every file below it).

use std::time::{Duration, Instant};

use lode_core::rpc::alluxio::grpc::file::FileInfo;

use crate::master::MasterClient;

/// How often the shell looks whether scheduled files are persisted yet.
const POLL: Duration = Duration::from_millis(200);

/// Persists every file at or below each of `paths` that is not persisted yet, waiting at most
/// `timeout` in all; says what it does as Alluxio's command does. A file that ends up other than PERSISTED (LOST, given up) is
/// an error naming its state.
pub async fn persist(
    client: &MasterClient,
    paths: &[String],
    timeout: Duration,
) -> Result<String, String> {
    let mut pending: Vec<FileInfo> = Vec::new();
    let mut out = String::new();
    for path in paths {
        let status = client.get_status(path).await.map_err(|e| e.to_string())?;
        let files = if status.folder() {
            client.list_status(path, true).await.map_err(|e| e.to_string())?
        } else {
            vec![status]
        };
        for file in files.into_iter().filter(|f| !f.folder()) {
            if file.persisted() {
                continue; // Already in its under-file-system, as Alluxio's command skips it.
            }
            client.schedule_persist(file.path()).await.map_err(|e| e.to_string())?;
            pending.push(file);
        }
    }
    let total = pending.len();
    out.push_str(&format!("Found {total} files to persist.\n"));
    let mut done = 0;
    let deadline = Instant::now() + timeout;
    while !pending.is_empty() {
        let mut still = Vec::new();
        for file in pending {
            let now = client.get_status(file.path()).await.map_err(|e| e.to_string())?;
            match now.persistence_state() {
                "PERSISTED" => {
                    done += 1;
                    let path = now.path();
                    out.push_str(&format!(
                        "({done}/{total}) Successfully persisted file: {path}\n"
                    ));
                }
                "TO_BE_PERSISTED" => still.push(now),
                other => {
                    return Err(format!("{out}{} was not persisted: it is {other}", now.path()));
                }
            }
        }
        pending = still;
        if pending.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            let names: Vec<&str> = pending.iter().map(|f| f.path()).collect();
            return Err(format!(
                "{out}not persisted within {timeout:?} (still TO_BE_PERSISTED; `lode fs stat` \
                 shows their state): {}",
                names.join(", ")
            ));
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(out)
}
