//! The master's web UI on `alluxio.master.web.port` (19999), served by leader and standbys
//! alike: overview, masters, workers, a namespace browser and the failover history, plus
//! `/metrics`, `/metrics/json/`, `/healthz` and `/readyz`. A standby's pages say so and link to
//! the leader's.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use lode_core::config::{shown, Config};
use lode_core::rpc::leader::LeaderFinder;
use lode_core::rpc::lode::master::lode_master_service_client::LodeMasterServiceClient;
use lode_core::rpc::lode::master::{GetMasterStatusRequest, MasterStatus};
use lode_core::web::{self, bytes, duration, page};
use maud::{html, Markup};

use crate::rpc::ServerInfo;
use crate::{MasterNode, Role};

/// How long a standby may go without finding the journal's end and still count as caught up.
const CAUGHT_UP_WITHIN: Duration = Duration::from_secs(5);
/// How long a page waits for another master's status.
const PEER_TIMEOUT: Duration = Duration::from_secs(1);

const LINKS: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/masters", "Masters"),
    ("/workers", "Workers"),
    ("/browse", "Browse"),
    ("/history", "Failovers"),
    ("/metrics", "Metrics"),
];

struct Ui {
    node: Arc<MasterNode>,
    info: Arc<ServerInfo>,
    config: Config,
}

/// The master's web routes.
pub fn router(node: Arc<MasterNode>, info: Arc<ServerInfo>, config: Config) -> Router {
    let ui = Arc::new(Ui { node, info, config });
    web::common_routes()
        .route("/", get(overview))
        .route("/masters", get(masters))
        .route("/workers", get(workers))
        .route("/browse", get(browse))
        .route("/history", get(history))
        .route("/readyz", get(ready))
        .with_state(ui)
}

async fn ready(State(ui): State<Arc<Ui>>) -> impl IntoResponse {
    if ui.node.is_ready(CAUGHT_UP_WITHIN) {
        (StatusCode::OK, "ready\n")
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: neither a serving leader nor a caught-up standby\n",
        )
    }
}

/// Another master's status over Lode's own RPC, if it answers soon.
async fn peer_status(address: &str) -> Option<MasterStatus> {
    let call = async {
        let channel = LeaderFinder::connect(address).await.ok()?;
        let mut client = LodeMasterServiceClient::new(channel);
        client.get_master_status(GetMasterStatusRequest {}).await.ok().map(|r| r.into_inner())
    };
    tokio::time::timeout(PEER_TIMEOUT, call).await.ok().flatten()
}

/// `http://host:webport/`: where a master's UI is (its host from its RPC address).
fn ui_link(status: &MasterStatus) -> String {
    let host = status.address.rsplit_once(':').map_or(status.address.as_str(), |(h, _)| h);
    format!("http://{host}:{}", status.web_port)
}

impl Ui {
    fn frame(&self, title: &str, body: Markup) -> Markup {
        page(title, "master", LINKS, body)
    }

    fn role_name(&self) -> &'static str {
        match self.node.role() {
            Role::Leader { .. } => "LEADER",
            Role::Standby { .. } => "STANDBY",
        }
    }

    /// On a standby: a notice naming the leader, linking to `path` on its UI.
    async fn standby_notice(&self, path: &str) -> Markup {
        let Role::Standby { leader } = self.node.role() else { return html! {} };
        let Some(leader) = leader else {
            return html! { p.notice #standby { "This master is a standby; no leader is known right now." } };
        };
        let link = peer_status(&leader.address).await.map(|s| format!("{}{path}", ui_link(&s)));
        html! {
            p.notice #standby {
                "This master is a standby. The leader is "
                @if let Some(link) = link { a #leader-link href=(link) { (leader.address) } }
                @else { (leader.address) }
                "."
            }
        }
    }

    /// Every master this one knows of: itself, the configured ones, those the elector lists,
    /// the leader and those in its history.
    async fn known_masters(&self) -> Vec<String> {
        let members = self.node.election_members().await;
        let mut all = vec![self.node.member().address.clone()];
        let mut add = |address: String| {
            if !address.is_empty() && !all.contains(&address) {
                all.push(address);
            }
        };
        self.info.master_addresses.iter().cloned().for_each(&mut add);
        members.into_iter().for_each(&mut add);
        if let Role::Standby { leader: Some(leader) } = self.node.role() {
            add(leader.address);
        }
        for takeover in self.node.history() {
            takeover.from.into_iter().for_each(&mut add);
            add(takeover.to);
        }
        all
    }
}

async fn overview(State(ui): State<Arc<Ui>>) -> Markup {
    let node = &ui.node;
    let position = node.journal().position();
    let outage = node.journal().outage();
    let term = match node.role() {
        Role::Leader { term } => term.to_string(),
        Role::Standby { .. } => "-".into(),
    };
    let role = ui.role_name();
    let notice = ui.standby_notice("/").await;
    let masters = masters_table(&ui).await;
    let mut mounts: Vec<(String, String, bool)> = ui
        .node
        .ufses()
        .root()
        .map(|root| ("/".to_string(), root.uri().to_string(), root.options.read_only))
        .into_iter()
        .collect();
    mounts.extend(node.read_replica(|ns| {
        let nested = ns.mounts();
        nested
            .into_iter()
            .map(|(path, m)| (path, m.ufs_uri.clone(), m.options.read_only))
            .collect::<Vec<_>>()
    }));
    let awaiting = node.read_replica(|ns| ns.awaiting_persist_count());
    let persists = node.persist_summary();
    let config: Vec<(String, String, String)> = ui
        .config
        .entries()
        .iter()
        .map(|(key, entry)| {
            (key.clone(), shown(key, &entry.text).to_string(), entry.source.clone())
        })
        .collect();
    ui.frame(
        "Overview",
        html! {
            (notice)
            table #summary {
                tr { th { "Address" } td { (node.member().address) } }
                tr { th { "Role" } td #role .role .(role) { (role) } }
                tr { th { "Term" } td #term { (term) } }
                tr { th { "Uptime" } td { (duration(node.uptime())) } }
                tr { th { "Version" } td { (env!("CARGO_PKG_VERSION")) } }
                tr { th { "Election" } td { (ui.info.elector) } }
                tr { th { "Journal" } td { code { (ui.info.journal) } } }
                tr { th { "Journal position" } td { "slot " (position.slot) ", entry " (position.seq) } }
                tr { th { "Journal health" } td {
                    @match outage {
                        Some(o) => span.bad { "UNAVAILABLE for " (duration(o.for_how_long)) ": " (o.error) },
                        None => "ok",
                    }
                } }
                tr { th { "Files and directories" } td { (node.read_replica(|ns| ns.len())) } }
            }
            h2 { "Masters" }
            (masters)
            h2 { "Mounts" }
            @if mounts.is_empty() {
                p #mounts { "No under-file-system: files live only in worker caches (set alluxio.master.mount.table.root.ufs)." }
            } @else {
                table #mounts {
                    tr { th { "Path" } th { "Under-file-system" } th { "Mode" } }
                    @for (path, uri, read_only) in &mounts {
                        tr { td { code { (path) } } td { code { (uri) } } td { @if *read_only { "read-only" } @else { "read-write" } } }
                    }
                }
                p #persistence {
                    (awaiting) " files awaiting persistence (TO_BE_PERSISTED or LOST)"
                    @if let Some(summary) = &persists { ", " (summary.running) " being copied by workers" }
                    "."
                }
                @if let Some(summary) = persists.as_ref().filter(|s| !s.recent_failures.is_empty()) {
                    table #persist-failures {
                        tr { th { "File id" } th { "Last failure (retried with backoff)" } }
                        @for (id, error) in &summary.recent_failures {
                            tr { td { (id) } td.bad { (error) } }
                        }
                    }
                }
            }
            h2 { "Configuration" }
            table #configuration {
                tr { th { "Property" } th { "Value" } th { "Source" } }
                @for (key, value, source) in &config {
                    tr { td { code { (key) } } td { (value) } td { (source) } }
                }
            }
        },
    )
}

async fn masters(State(ui): State<Arc<Ui>>) -> Markup {
    let notice = ui.standby_notice("/masters").await;
    let table = masters_table(&ui).await;
    ui.frame("Masters", html! { (notice) (table) })
}

/// Every known master with its role, term, journal position, lag and journal health.
async fn masters_table(ui: &Ui) -> Markup {
    let mut rows = Vec::new();
    for address in ui.known_masters().await {
        rows.push((address.clone(), peer_status(&address).await));
    }
    let leader_seq = rows
        .iter()
        .filter_map(|(_, s)| s.as_ref())
        .filter(|s| s.term > 0)
        .map(|s| s.journal_seq)
        .max();
    html! {
            table #masters {
                tr { th { "Address" } th { "Role" } th { "Term" } th { "Journal position" } th { "Lag (entries)" } th { "Journal" } }
                @for (address, status) in &rows {
                    @match status {
                        Some(s) => {
                            @let role = s.role().as_str_name().trim_start_matches("ROLE_");
                            tr {
                                td { a href=(ui_link(s)) { (address) } }
                                td .role .(role) { (role) }
                                td { @if s.term > 0 { (s.term) } @else { "-" } }
                                td { "slot " (s.journal_slot) ", entry " (s.journal_seq) }
                                td { @match leader_seq { Some(seq) => (seq.saturating_sub(s.journal_seq)), None => "?" } }
                                td {
                                    @if s.journal_error.is_empty() { "ok" } @else { span.bad { (s.journal_error) } }
                                    @if !s.stepped_down.is_empty() {
                                        br; span.bad { "stepped down " (s.stepped_down_ago_ms / 1000) " s ago: " (s.stepped_down) }
                                    }
                                }
                            }
                        }
                        None => tr { td { (address) } td.bad colspan="5" { "unreachable" } },
                    }
                }
            }
    }
}

async fn workers(State(ui): State<Arc<Ui>>) -> Markup {
    let listed = ui.node.read_blocks(|blocks, _| {
        blocks
            .workers()
            .into_iter()
            .map(|w| {
                let link = w.web_port.map(|port| format!("http://{}:{port}/", w.host));
                (w.address(), link, w.capacity, w.used, w.block_count(), w.last_contact.elapsed())
            })
            .collect::<Vec<_>>()
    });
    let notice = ui.standby_notice("/workers").await;
    ui.frame(
        "Workers",
        html! {
            (notice)
            @match listed {
                Ok(workers) => {
                    p { (workers.len()) " live workers." }
                    table #workers {
                        tr { th { "Address" } th { "Capacity" } th { "Used" } th { "Blocks" } th { "Last heartbeat" } }
                        @for (address, link, capacity, used, blocks, since) in &workers {
                            tr {
                                td { @match link { Some(link) => a href=(link) { (address) }, None => (address) } }
                                td { (bytes(*capacity)) }
                                td { (bytes(*used)) " (" (used * 100 / (*capacity).max(1)) "%)" }
                                td { (blocks) }
                                td { (duration(*since)) " ago" }
                            }
                        }
                    }
                }
                Err(_) => p { "Workers register with the leader; see its page." },
            }
        },
    )
}

/// Entries a `/browse` page shows unless asked (`limit`), and the most it shows.
const BROWSE_PAGE: usize = 100;
const BROWSE_PAGE_MAX: usize = 10_000;

#[derive(serde::Deserialize)]
struct BrowseQuery {
    path: Option<String>,
    /// The first entry shown, by name (Alluxio's browse page takes `offset` and `limit`).
    offset: Option<usize>,
    limit: Option<usize>,
}

async fn browse(State(ui): State<Arc<Ui>>, Query(query): Query<BrowseQuery>) -> Markup {
    let path = query.path.unwrap_or_else(|| "/".into());
    let offset = query.offset.unwrap_or(0);
    let limit = query.limit.unwrap_or(BROWSE_PAGE).clamp(1, BROWSE_PAGE_MAX);
    let listing = ui.node.read_replica(|ns| ns.list_page(&path, offset, limit));
    let position = ui.node.journal().position();
    let parent = path.rsplit_once('/').map(|(p, _)| if p.is_empty() { "/" } else { p });
    ui.frame(
        "Browse",
        html! {
            p { "Path " code #path { (path) } " as of journal slot " (position.slot) "."
                @if let Some(parent) = parent.filter(|_| path != "/") {
                    " " a href={ "/browse?path=" (parent) } { "Up" }
                }
            }
            @if let Ok((entries, total)) = &listing {
                p #page {
                    "Entries " (offset.min(*total) + 1) "–" (offset + entries.len()) " of " (total) "."
                    @if offset > 0 {
                        " " a href={ "/browse?path=" (path) "&offset=" (offset.saturating_sub(limit)) "&limit=" (limit) } { "Previous" }
                    }
                    @if offset + entries.len() < *total {
                        " " a href={ "/browse?path=" (path) "&offset=" (offset + limit) "&limit=" (limit) } { "Next" }
                    }
                }
            }
            @match listing {
                Ok((entries, _)) => table #listing {
                    tr { th { "Name" } th { "Size" } th { "Owner" } th { "Group" } th { "Mode" } th { "Complete" } th { "Persistence" } }
                    @for entry in &entries {
                        tr {
                            td { @if entry.is_directory { a href={ "/browse?path=" (entry.path) } { (entry.name) "/" } } @else { (entry.name) } }
                            td { @if entry.is_directory { "-" } @else { (bytes(entry.length)) } }
                            td { (entry.owner) }
                            td { (entry.group) }
                            td { code { (format!("{:o}", entry.mode)) } }
                            td { @if entry.is_directory || entry.complete { "yes" } @else { "no" } }
                            td { @if entry.mount_point { "mount point" } @else if !entry.is_directory { (entry.persistence.name()) } }
                        }
                    }
                },
                Err(error) => p.bad { (error.to_string()) },
            }
        },
    )
}

async fn history(State(ui): State<Arc<Ui>>) -> Markup {
    let mut changes = ui.node.history();
    changes.reverse();
    let me = ui.node.member().address.clone();
    ui.frame(
        "Failovers",
        html! {
            p { "Leader changes this master saw, newest first: its own takeovers (with how long \
                 they took from winning the election to serving) and the leaders it followed." }
            table #history {
                tr { th { "When" } th { "From" } th { "To" } th { "Term" } th { "Takeover took" } }
                @for change in &changes {
                    tr .takeover[change.to == me] {
                        td { (ago(change.at)) }
                        td { (change.from.as_deref().unwrap_or("(unknown)")) }
                        td { (change.to) }
                        td { @match change.term { Some(t) => (t), None => "-" } }
                        td { @match change.took { Some(t) => (duration(t)), None => "-" } }
                    }
                }
            }
        },
    )
}

/// `3m 2s ago`.
fn ago(at: SystemTime) -> String {
    format!("{} ago", duration(SystemTime::now().duration_since(at).unwrap_or_default()))
}
