//! Test helper: opens the master journal the configuration selects, catches up with it, prints
//! `ready <slot>`, waits until the file named by `LODE_GO_FILE` exists (so that several helpers
//! write at once), writes a checkpoint of the namespace and prints `checkpoint <slot>`.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use lode_core::journal::{Journal, JournalSettings};
use lode_master::namespace::Namespace;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = lode_tests::config_from_args()?;
    let go = PathBuf::from(std::env::var("LODE_GO_FILE")?);
    let store = lode_core::store::open(&config)?;
    let settings = JournalSettings::from_config(&config, store.as_ref());
    let journal = Journal::open(store, settings, Namespace::new).await?;
    journal.catch_up().await?;
    println!("ready {}", journal.position().slot);
    std::io::stdout().flush()?;
    while !go.exists() {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let written = journal.write_checkpoint().await?;
    println!("checkpoint {written}");
    std::io::stdout().flush()?;
    Ok(())
}
