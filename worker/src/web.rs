//! The worker's web UI on `alluxio.worker.web.port` (30000): an overview (address, the leader
//! it is registered with, capacity and usage per tier), plus `/metrics`, `/metrics/json/`,
//! `/healthz` and `/readyz` (ready once registered with a leader).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use lode_core::web::{self, bytes, duration, page};
use maud::{html, Markup};

use crate::master_link::MasterLink;
use crate::store::BlockStore;

struct Ui {
    address: String,
    store: Arc<BlockStore>,
    link: MasterLink,
    started: Instant,
}

/// The worker's web routes.
pub fn router(address: String, store: Arc<BlockStore>, link: MasterLink) -> Router {
    let ui = Arc::new(Ui { address, store, link, started: Instant::now() });
    web::common_routes().route("/", get(overview)).route("/readyz", get(ready)).with_state(ui)
}

async fn ready(State(ui): State<Arc<Ui>>) -> impl IntoResponse {
    match ui.link.registered_with() {
        Some(_) => (StatusCode::OK, "ready\n"),
        None => (StatusCode::SERVICE_UNAVAILABLE, "not ready: not registered with a leader\n"),
    }
}

async fn overview(State(ui): State<Arc<Ui>>) -> Markup {
    let store = &ui.store;
    let (capacity, used) = (store.capacity(), store.used());
    let registered = ui.link.registered_with();
    page(
        "Overview",
        "worker",
        &[("/", "Overview"), ("/metrics", "Metrics")],
        html! {
            table #summary {
                tr { th { "Address" } td { (ui.address) } }
                tr { th { "Registered with" } td #leader {
                    @match &registered {
                        Some((leader, id)) => { (leader) " (worker id " (id) ")" },
                        None => span.bad { "no leader yet" },
                    }
                } }
                tr { th { "Uptime" } td { (duration(ui.started.elapsed())) } }
                tr { th { "Version" } td { (env!("CARGO_PKG_VERSION")) } }
                tr { th { "Capacity" } td { (bytes(capacity)) } }
                tr { th { "Used" } td { (bytes(used)) " (" (used * 100 / capacity.max(1)) "%)" } }
                tr { th { "Blocks cached" } td { (store.report().len()) } }
            }
            h2 { "Tiers" }
            table #tiers {
                tr { th { "Tier" } th { "Folder" } th { "Capacity" } }
                @for tier in store.tiers() {
                    tr { td { (tier.alias) } td { code { (tier.dir.display()) } } td { (bytes(tier.capacity)) } }
                }
            }
        },
    )
}
