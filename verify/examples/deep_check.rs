//! The slot protocol's model with wider bounds than `cargo test` explores: three masters, run by
//! `scripts/campaign` (`cargo run --release -p lode-verify --example deep_check`). Exits non-zero
//! with the failing run if a property breaks.

use std::time::Instant;

use lode_verify::slots::{Rules, SlotProtocol};
use stateright::{Checker, Model};

fn main() {
    let bounds = [
        SlotProtocol {
            masters: 3,
            slots: 4,
            terms: 3,
            values: 2,
            checkpoints: 2,
            rules: Rules::ALL,
        },
        SlotProtocol {
            masters: 2,
            slots: 6,
            terms: 3,
            values: 3,
            checkpoints: 3,
            rules: Rules::ALL,
        },
    ];
    for protocol in bounds {
        let started = Instant::now();
        let what = format!("{protocol:?}");
        let checker = protocol.checker().threads(2).spawn_bfs().join();
        println!(
            "{what}: {} states ({} unique), depth {}, {:.1?}",
            checker.state_count(),
            checker.unique_state_count(),
            checker.max_depth(),
            started.elapsed()
        );
        checker.assert_properties();
    }
}
