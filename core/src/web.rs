//! What every Lode web server shares (masters on `alluxio.master.web.port`, workers on
//! `alluxio.worker.web.port`): the process-wide Prometheus recorder, `/metrics` in Prometheus
//! text format and `/metrics/json/` like Alluxio's, `/healthz`, the frame and style of the
//! server-rendered pages, and binding with an error that names the port key.
//!
//! Pages are plain HTML rendered with `maud` (escaped by construction) and a little inline CSS:
//! no JavaScript, nothing fetched from anywhere.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup, DOCTYPE};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets (seconds) of every `*_seconds` histogram: 50 µs to 30 s.
const SECONDS_BUCKETS: &[f64] = &[
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];
/// Buckets of every `*_entries` histogram (journal batch sizes).
const ENTRIES_BUCKETS: &[f64] =
    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0, 8192.0];

/// How often queued histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// The recorder of this process, installed on first use; `metrics::counter!` and friends
/// anywhere in the process record into it.
pub fn metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(Matcher::Suffix("_entries".into()), ENTRIES_BUCKETS)
            })
            .expect("non-empty buckets")
            .build_recorder();
        let handle = recorder.handle();
        // `build_recorder` starts no upkeep: without this thread every histogram sample stays
        // queued until someone scrapes `/metrics`, and a master nobody scrapes grows by
        // about 8 bytes a call (the exporter's own `install` upkeeps every 5 s too).
        let upkept = handle.clone();
        let _ =
            std::thread::Builder::new().name("lode-metrics-upkeep".into()).spawn(move || loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                upkept.run_upkeep();
            });
        // Another recorder (a test's) may be installed already; this handle then renders
        // nothing, which is what that process asked for.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The routes every process serves: `/metrics`, `/metrics/json/` and `/healthz` (alive: this
/// process answers).
pub fn common_routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/metrics", get(prometheus_text))
        .route("/metrics/json/", get(metrics_json))
        .route("/metrics/json", get(metrics_json))
        .route("/healthz", get(|| async { "ok\n" }))
}

async fn prometheus_text() -> impl IntoResponse {
    let handle = metrics();
    handle.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], handle.render())
}

/// Alluxio's `/metrics/json/` groups metrics by kind; so does this, from the same samples as
/// `/metrics` (histograms as their `_count`, `_sum` and buckets).
async fn metrics_json() -> impl IntoResponse {
    let text = metrics().render();
    let mut kinds: BTreeMap<String, String> = BTreeMap::new();
    let mut groups: BTreeMap<&str, serde_json::Map<String, serde_json::Value>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            if let Some((name, kind)) = rest.split_once(' ') {
                kinds.insert(name.to_string(), kind.to_string());
            }
            continue;
        }
        let Some((series, value)) = line.rsplit_once(' ') else { continue };
        if line.starts_with('#') {
            continue;
        }
        let Ok(value) = value.parse::<f64>() else { continue };
        let base = series.split('{').next().unwrap_or(series);
        let family = ["_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| base.strip_suffix(suffix).filter(|f| kinds.contains_key(*f)))
            .unwrap_or(base);
        let group = match kinds.get(family).map(String::as_str) {
            Some("counter") => "counters",
            Some("gauge") => "gauges",
            Some("histogram") | Some("summary") => "histograms",
            _ => "untyped",
        };
        groups.entry(group).or_default().insert(series.to_string(), value.into());
    }
    axum::Json(groups)
}

/// Binds the web server's listener, naming `key` when the port is taken or not allowed.
pub async fn bind(host: &str, port: u16, key: &str) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind((host, port)).await.map_err(|e| {
        format!(
            "cannot serve the web UI on {host}:{port} ({e}); set {key} to a free port (0 picks \
             one)"
        )
    })
}

/// Serves `router` on `listener` until the process ends.
pub fn serve(listener: tokio::net::TcpListener, router: Router) {
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, router.into_make_service()).await {
            tracing::error!(%error, "the web server stopped");
        }
    });
}

/// The address a listener got (the port, when 0 was asked for).
pub fn local_port(listener: &tokio::net::TcpListener) -> u16 {
    listener.local_addr().map(|a: SocketAddr| a.port()).unwrap_or(0)
}

const STYLE: &str = "body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2733}\
header{background:#1d2733;color:#fff;padding:.6em 1.2em;display:flex;gap:1.4em;align-items:center}\
header a{color:#cfe3ff;text-decoration:none}header strong{font-size:1.1em}\
main{padding:1em 1.2em}table{border-collapse:collapse;margin:.5em 0 1.2em}\
th,td{border-bottom:1px solid #dde3ea;padding:.3em .8em;text-align:left;vertical-align:top}\
th{background:#f3f6f9}.role{font-weight:bold}.LEADER{color:#0a7d32}.STANDBY{color:#8a5a00}\
.notice{background:#fff6dd;border:1px solid #e8c96b;padding:.5em .8em;margin-bottom:1em}\
.bad{color:#b3261e}code{font-size:.95em}";

/// A whole page: the header with `process` and the navigation links, then `body`.
pub fn page(title: &str, process: &str, links: &[(&str, &str)], body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                title { (title) " — Lode " (process) }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header {
                    strong { "Lode " (process) }
                    @for (href, label) in links {
                        a href=(href) { (label) }
                    }
                }
                main {
                    h1 { (title) }
                    (body)
                }
            }
        }
    }
}

/// `1.5 GB`, `512 KB`, `0 B`.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = count as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{count} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// `3h 2m 5s`, `850ms`.
pub fn duration(span: Duration) -> String {
    if span < Duration::from_secs(1) {
        return format!("{}ms", span.as_millis());
    }
    humanize_secs(span.as_secs())
}

fn humanize_secs(secs: u64) -> String {
    let (days, hours, minutes, seconds) =
        (secs / 86_400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    let parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")];
    let shown: Vec<String> = parts
        .iter()
        .skip_while(|(n, _)| *n == 0)
        .take(3)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    if shown.is_empty() {
        "0s".into()
    } else {
        shown.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_durations_read_like_people_write_them() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1536), "1.5 KB");
        assert_eq!(bytes(3 << 30), "3.0 GB");
        assert_eq!(duration(Duration::from_millis(850)), "850ms");
        assert_eq!(duration(Duration::from_secs(3 * 3600 + 125)), "3h 2m 5s");
        assert_eq!(duration(Duration::from_secs(2 * 86_400 + 7)), "2d 0h 0m");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let shown = page("<t>", "master", &[("/", "Overview")], html! { p { "a<b" } });
        let text = shown.into_string();
        assert!(text.contains("&lt;t&gt;") && text.contains("a&lt;b"), "{text}");
        assert!(!text.contains("<script"), "{text}");
    }
}
