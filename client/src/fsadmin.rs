//! `lode fsadmin report`: the leader, every master with its role, journal position and how far
//! it lags, the leader's key metrics (from its `/metrics`, as the web UI shows them), and every
//! worker with its capacity and usage.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{Read, Write as _};
use std::time::Duration;

use indicatif::HumanBytes;
use lode_core::rpc::lode::master::Role;

use crate::fs::known_masters;
use crate::master::{ClientError, MasterClient};

/// The report, as printed.
pub async fn report(client: &MasterClient) -> Result<String, ClientError> {
    let info = client.master_info().await?;
    let leader = info.leader_master_address.clone().unwrap_or_default();
    let mut statuses = Vec::new();
    for address in known_masters(client, &info) {
        statuses.push((address.clone(), MasterClient::master_status(&address).await));
    }
    let leader_seq = statuses
        .iter()
        .find_map(|(_, s)| s.as_ref().ok().filter(|s| s.role() == Role::Leader))
        .map(|s| s.journal_seq);
    let mut out = String::new();
    let _ = writeln!(out, "Leader: {leader}");
    let _ = writeln!(out, "Masters:");
    for (address, status) in &statuses {
        let line = match status {
            Ok(status) => {
                let role = status.role().as_str_name().trim_start_matches("ROLE_");
                let lag = match (status.role(), leader_seq) {
                    (Role::Standby, Some(seq)) => {
                        format!("  lag {} entries", seq.saturating_sub(status.journal_seq))
                    }
                    _ => String::new(),
                };
                format!(
                    "  {address:<22} {role:<8} journal slot {} entry {}{lag}",
                    status.journal_slot, status.journal_seq
                )
            }
            Err(error) => format!("  {address:<22} UNREACHABLE ({error})"),
        };
        let _ = writeln!(out, "{line}");
    }
    let leader_status =
        statuses.iter().find_map(|(_, s)| s.as_ref().ok().filter(|s| s.role() == Role::Leader));
    if let Some(status) = leader_status {
        let host = status.address.rsplit_once(':').map_or("127.0.0.1", |(host, _)| host);
        let (host, port) = (host.to_string(), status.web_port as u16);
        let scraped = tokio::task::spawn_blocking(move || scrape(&host, port)).await;
        match scraped {
            Ok(Ok(metrics)) => out.push_str(&metrics_summary(&metrics)),
            Ok(Err(error)) => {
                let _ = writeln!(out, "Metrics: the leader's /metrics did not answer ({error})");
            }
            Err(error) => {
                let _ = writeln!(out, "Metrics: {error}");
            }
        }
    }
    let workers = client.worker_infos().await?;
    let capacity: i64 = workers.iter().map(|w| w.capacity_bytes()).sum();
    let used: i64 = workers.iter().map(|w| w.used_bytes()).sum();
    let _ = writeln!(
        out,
        "Workers: {} live, capacity {}, used {}",
        workers.len(),
        HumanBytes(capacity.max(0) as u64),
        HumanBytes(used.max(0) as u64)
    );
    for worker in &workers {
        let address = worker.address.clone().unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<22} capacity {:>10}  used {:>10}  last heartbeat {}s ago",
            format!("{}:{}", address.host(), address.rpc_port()),
            HumanBytes(worker.capacity_bytes().max(0) as u64).to_string(),
            HumanBytes(worker.used_bytes().max(0) as u64).to_string(),
            worker.last_contact_sec()
        );
    }
    let mut mounts: Vec<_> = client.mount_table().await?.into_iter().collect();
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    if mounts.is_empty() {
        let _ = writeln!(out, "Under-file-systems: none (files live only in worker caches)");
    } else {
        let _ = writeln!(out, "Under-file-systems: {} mounted", mounts.len());
        for (path, mount) in &mounts {
            let mode = if mount.read_only() { "read-only" } else { "read-write" };
            let _ =
                writeln!(out, "  {path:<22} {} ({}, {mode})", mount.ufs_uri(), mount.ufs_type());
        }
    }
    Ok(out)
}

/// Every sample of `/metrics` on `host:port`, summed by metric name and label set.
fn scrape(host: &str, port: u16) -> Result<BTreeMap<String, f64>, String> {
    let address = std::net::ToSocketAddrs::to_socket_addrs(&(host, port))
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    let mut stream = std::net::TcpStream::connect_timeout(&address, Duration::from_secs(2))
        .map_err(|e| format!("{host}:{port}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).map_err(|e| e.to_string())?;
    stream
        .write_all(format!("GET /metrics HTTP/1.0\r\nHost: {host}:{port}\r\n\r\n").as_bytes())
        .map_err(|e| e.to_string())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).map_err(|e| e.to_string())?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    Ok(body
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.rsplit_once(' '))
        .filter_map(|(series, value)| Some((series.to_string(), value.parse::<f64>().ok()?)))
        .collect())
}

/// The metrics an operator looks at first, from the leader's samples.
fn metrics_summary(samples: &BTreeMap<String, f64>) -> String {
    let sum = |name: &str| -> f64 {
        samples
            .iter()
            .filter(|(series, _)| series.split('{').next() == Some(name))
            .fold(0.0, |total, (_, value)| total + value)
    };
    let with = |name: &str, label: &str| -> f64 {
        samples
            .iter()
            .filter(|(series, _)| series.starts_with(name) && series.contains(label))
            .fold(0.0, |total, (_, value)| total + value)
    };
    let commits = sum("lode_journal_commit_seconds_count");
    let mean_ms = sum("lode_journal_commit_seconds_sum") * 1e3 / commits.max(1.0);
    let per_batch = sum("lode_journal_batch_entries_sum") / commits.max(1.0);
    let mut out = String::from("Metrics (leader):\n");
    let _ = writeln!(out, "  RPCs answered       {:.0}", sum("lode_rpc_requests_total"));
    let _ = writeln!(
        out,
        "  journal commits     {commits:.0} (mean {mean_ms:.2} ms, {per_batch:.1} entries per batch)"
    );
    let _ = writeln!(
        out,
        "  leaderships         won {:.0}, lost {:.0}",
        with("lode_master_leadership_changes_total", "event=\"won\""),
        with("lode_master_leadership_changes_total", "event=\"lost\"")
    );
    let _ =
        writeln!(out, "  checkpoints written {:.0}", sum("lode_journal_checkpoint_seconds_count"));
    let _ = writeln!(
        out,
        "  files to persist    {:.0} ({:.0} being copied by workers)",
        sum("lode_master_files_awaiting_persist"),
        sum("lode_master_persists_running")
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_reads_counts_means_and_labels() {
        let samples: BTreeMap<String, f64> = [
            ("lode_rpc_requests_total{service=\"A\",method=\"x\"}", 3.0),
            ("lode_rpc_requests_total{service=\"A\",method=\"y\"}", 4.0),
            ("lode_journal_commit_seconds_count", 2.0),
            ("lode_journal_commit_seconds_sum", 0.004),
            ("lode_journal_batch_entries_sum", 10.0),
            ("lode_master_leadership_changes_total{event=\"won\"}", 1.0),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let summary = metrics_summary(&samples);
        assert!(summary.contains("RPCs answered       7"), "{summary}");
        assert!(summary.contains("2 (mean 2.00 ms, 5.0 entries per batch)"), "{summary}");
        assert!(summary.contains("won 1, lost 0"), "{summary}");
    }
}
