//! The shell's data commands: `copyFromLocal`, `copyToLocal`, `cat`, `head`, `tail`, `du`, with
//! a progress bar on large copies (shown only on a terminal).

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
