//! The shell's data commands: `copyFromLocal`, `copyToLocal`, `cat`, `head`, `tail`, `du`,
//! `load`, with a progress bar on large copies and loads (shown only on a terminal).

use std::path::Path;

use indicatif::{ProgressBar, ProgressStyle};

use crate::data;
use crate::master::{ClientError, MasterClient};

/// Copies at least this large get a progress bar.
const PROGRESS_FROM: u64 = 8 << 20;

fn progress_bar(total: u64) -> ProgressBar {
    if total < PROGRESS_FROM {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total); // Draws on stderr, and only when it is a terminal.
    bar.set_style(
        ProgressStyle::with_template(
            "{bytes}/{total_bytes} [{bar:40}] {bytes_per_sec}, {eta} left",
        )
        .expect("a valid template")
        .progress_chars("=> "),
    );
    bar
}

/// Copies the local file `src` to the new Lode file `dst`.
pub async fn copy_from_local(
    client: &MasterClient,
    src: &Path,
    dst: &str,
    block_size: Option<u64>,
) -> Result<String, String> {
    let mut file = tokio::fs::File::open(src)
        .await
        .map_err(|e| format!("cannot read {}: {e}", src.display()))?;
    let total = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let bar = progress_bar(total);
    let written = data::write_file(client, dst, &mut file, block_size, &|n| bar.set_position(n))
        .await
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    Ok(format!("Copied {} to {dst} ({written} bytes)\n", src.display()))
}

/// `lode fs load PATH` (Alluxio's `load`): has every block that no worker holds of the
/// persisted file at `path`, or of each file below the folder at `path`, cached by a worker
/// from its under-file-system, with a progress bar over the bytes; a line per file as
/// Alluxio's shell prints them.
pub async fn load(client: &MasterClient, path: &str) -> Result<String, String> {
    let status = client.get_status(path).await.map_err(|e| e.to_string())?;
    let files = match status.folder() {
        true => {
            let listing = client.list_status(path, true).await.map_err(|e| e.to_string())?;
            listing.into_iter().filter(|info| !info.folder()).collect()
        }
        false => vec![status.clone()],
    };
    let bar = progress_bar(files.iter().map(|info| info.length().max(0) as u64).sum());
    let (mut out, mut before) = (String::new(), 0);
    for file in files {
        if file.in_alluxio_percentage() == 100 {
            out.push_str(&format!("{} already in Alluxio fully\n", file.path()));
        } else {
            // A listing's entries carry no block locations: the file's status does.
            let info = client.get_status(file.path()).await.map_err(|e| e.to_string())?;
            let loading = data::load_file(client, &info, &|n| bar.set_position(before + n)).await;
            loading.map_err(|e| e.to_string())?;
            out.push_str(&format!("{} loaded\n", file.path()));
        }
        before += file.length().max(0) as u64;
        bar.set_position(before);
    }
    bar.finish_and_clear();
    if status.folder() {
        out.push_str(&format!("{path} loaded\n"));
    }
    Ok(out)
}

/// Copies the Lode file `src` to the local file `dst` (replaced if it exists).
pub async fn copy_to_local(client: &MasterClient, src: &str, dst: &Path) -> Result<String, String> {
    let total = client.get_status(src).await.map_err(|e| e.to_string())?.length().max(0) as u64;
    let mut file = tokio::fs::File::create(dst)
        .await
        .map_err(|e| format!("cannot write {}: {e}", dst.display()))?;
    let bar = progress_bar(total);
    let outcome = data::read_file(client, src, 0, None, &mut file, &|n| bar.set_position(n)).await;
    bar.finish_and_clear();
    match outcome {
        Ok(read) => Ok(format!("Copied {src} to {} ({read} bytes)\n", dst.display())),
        Err(error) => {
            drop(file);
            let _ = std::fs::remove_file(dst);
            Err(error.to_string())
        }
    }
}

/// Writes `length` bytes of `path` from `offset` (to the end when `None`) to standard output.
pub async fn print(
    client: &MasterClient,
    path: &str,
    offset: u64,
    length: Option<u64>,
) -> Result<(), ClientError> {
    let mut out = tokio::io::stdout();
    data::read_file(client, path, offset, length, &mut out, &|_| {}).await.map(|_| ())
}

/// The last `bytes` of `path` on standard output.
pub async fn tail(client: &MasterClient, path: &str, bytes: u64) -> Result<(), ClientError> {
    let length = client.get_status(path).await?.length().max(0) as u64;
    print(client, path, length.saturating_sub(bytes), None).await
}

/// `du`: the bytes under `path`, per entry, or in total with `summarize`.
pub async fn du(client: &MasterClient, path: &str, summarize: bool) -> Result<String, ClientError> {
    let entries = client.list_status(path, true).await?;
    let files: Vec<_> = entries.iter().filter(|e| !e.folder()).collect();
    let total: i64 = files.iter().map(|e| e.length()).sum();
    if summarize {
        return Ok(format!("{total:<12} {path}\n"));
    }
    let mut out = String::new();
    for file in files {
        out.push_str(&format!("{:<12} {}\n", file.length(), file.path()));
    }
    Ok(out)
}
