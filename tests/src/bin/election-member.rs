//! Test helper: one election member. Campaigns through the elector the configuration selects
//! (`-Dkey=value` arguments) and prints, with the system-wide monotonic clock in nanoseconds:
//! `LEADER <term> <ns>` when it wins, `ACT <term> <ns>` every few milliseconds while its
//! leadership is valid (the moments it would serve), `LOST <term> <ns>` when it ends — then
//! campaigns again.

use std::io::Write;
use std::time::Duration;

use lode_core::elector::{monotonic_nanos, Member};

fn say(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = lode_tests::config_from_args()?;
    let elector = lode_core::elector::open(&config)?;
    let me = Member {
        id: format!("pid-{}", std::process::id()),
        address: format!("member-{}:19998", std::process::id()),
    };
    loop {
        let leadership = elector.campaign(&me).await?;
        let term = leadership.term();
        say(format!("LEADER {term} {}", monotonic_nanos()));
        loop {
            // The timestamp is taken before the check: the act happened no later than this.
            let now = monotonic_nanos();
            if !leadership.is_valid() {
                break;
            }
            say(format!("ACT {term} {now}"));
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        say(format!("LOST {term} {}", monotonic_nanos()));
    }
}
