//! `lode fsadmin report`: the leader, every master with its role, journal position and how far
//! it lags, and every worker with its capacity and usage.

use std::fmt::Write as _;

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
    Ok(out)
}
