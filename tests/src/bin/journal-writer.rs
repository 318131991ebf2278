//! Test helper: writes self-checking objects to the journal store that the configuration
//! selects (`-Dalluxio.master.journal.folder=...`), one after another, until killed.
//! Prints `wrote N` after each durable put.

use std::io::Write;

use lode_tests::object_content;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = lode_tests::config_from_args()?;
    let store = lode_core::store::open(&config)?;
    for index in 0u64.. {
        let length = 64 + (index as usize * 1_048_573) % (8 << 20);
        store.put_if_absent(&format!("objects/{index:08}"), object_content(index, length)).await?;
        println!("wrote {index}");
        std::io::stdout().flush()?;
    }
    Ok(())
}
