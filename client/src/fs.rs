//! `lode fs`: file system commands against the leading master, printed the way Alluxio's shell
//! prints them.

use std::fmt::Write as _;
use std::time::{Duration, UNIX_EPOCH};

use lode_core::rpc::alluxio::grpc::file::{
    FileInfo, FileSystemMasterCommonPOptions, ListStatusPOptions, LoadMetadataPType,
};
use lode_core::rpc::alluxio::grpc::meta::MasterInfo;
use lode_core::rpc::lode::master::MasterStatus;

use crate::master::{ClientError, MasterClient};

/// `drwxr-xr-x` for a directory with mode 0755.
pub fn permission_string(folder: bool, mode: u32) -> String {
    let mut out = String::from(if folder { "d" } else { "-" });
    for shift in [6, 3, 0] {
        let bits = (mode >> shift) & 7;
        out.push(if bits & 4 != 0 { 'r' } else { '-' });
        out.push(if bits & 2 != 0 { 'w' } else { '-' });
        out.push(if bits & 1 != 0 { 'x' } else { '-' });
    }
    out
}

fn time(ms: Option<i64>) -> String {
    let ms = ms.unwrap_or(0).max(0) as u64;
    humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_millis(ms)).to_string()
}

/// One `ls` line.
pub fn ls_line(info: &FileInfo) -> String {
    let folder = info.folder.unwrap_or(false);
    let state = if folder || info.completed.unwrap_or(false) { "" } else { "(incomplete)" };
    format!(
        "{} {:<12} {:<12} {:>12} {:<15} {} {}{}",
        permission_string(folder, info.mode.unwrap_or(0) as u32),
        info.owner.as_deref().unwrap_or(""),
        info.group.as_deref().unwrap_or(""),
        info.length.unwrap_or(0),
        info.persistence_state.as_deref().unwrap_or(""),
        time(info.last_modification_time_ms),
        info.path.as_deref().unwrap_or(""),
        if state.is_empty() { String::new() } else { format!(" {state}") },
    )
}

/// `lode fs ls [-R] [-f] [--sync] PATH` (`force`: look in the under-file-system even where it
/// was looked before, Alluxio's load type ALWAYS; `sync`: sync with it first, interval 0).
pub async fn ls(
    client: &MasterClient,
    path: &str,
    recursive: bool,
    force: bool,
    sync: bool,
) -> Result<String, ClientError> {
    let options = ListStatusPOptions {
        recursive: Some(recursive),
        load_metadata_type: force.then_some(LoadMetadataPType::Always as i32),
        common_options: sync.then(|| FileSystemMasterCommonPOptions {
            sync_interval_ms: Some(0),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut out = String::new();
    for info in client.list_status_with(path, options).await? {
        let _ = writeln!(out, "{}", ls_line(&info));
    }
    Ok(out)
}

/// `lode fs stat PATH`.
pub async fn stat(client: &MasterClient, path: &str) -> Result<String, ClientError> {
    let info = client.get_status(path).await?;
    let folder = info.folder.unwrap_or(false);
    let mut out = format!("{path} is a {} path.\n", if folder { "directory" } else { "file" });
    let lines = [
        ("fileId", info.file_id.unwrap_or(0).to_string()),
        ("path", info.path.clone().unwrap_or_default()),
        ("length", info.length.unwrap_or(0).to_string()),
        ("blockSizeBytes", info.block_size_bytes.unwrap_or(0).to_string()),
        ("completed", info.completed.unwrap_or(false).to_string()),
        ("folder", folder.to_string()),
        ("owner", info.owner.clone().unwrap_or_default()),
        ("group", info.group.clone().unwrap_or_default()),
        ("mode", permission_string(folder, info.mode.unwrap_or(0) as u32)),
        ("creationTime", time(info.creation_time_ms)),
        ("lastModificationTime", time(info.last_modification_time_ms)),
        ("blockIds", format!("{:?}", info.block_ids)),
        ("persistenceState", info.persistence_state.clone().unwrap_or_default()),
        ("ufsPath", info.ufs_path.clone().unwrap_or_default()),
        ("mountPoint", info.mount_point.unwrap_or(false).to_string()),
    ];
    for (key, value) in lines {
        let _ = writeln!(out, "{key}: {value}");
    }
    Ok(out)
}

/// `lode fs mount` without arguments: the mount table, one line per mount point, as
/// Alluxio's shell prints it.
pub async fn mount_table(client: &MasterClient) -> Result<String, ClientError> {
    let mut mounts: Vec<_> = client.mount_table().await?.into_iter().collect();
    mounts.sort_by(|a, b| a.0.cmp(&b.0));
    let ufs_width = mounts.iter().map(|(_, m)| m.ufs_uri().len()).max().unwrap_or(0);
    let path_width = mounts.iter().map(|(path, _)| path.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (path, mount) in mounts {
        let mut properties: Vec<_> = mount.properties.iter().collect();
        properties.sort();
        let properties: Vec<String> = properties.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(
            out,
            "{:<ufs_width$}  on  {:<path_width$}  ({}, capacity={}, used={}, {}read-only, {}shared, \
             properties={{{}}})",
            mount.ufs_uri(),
            path,
            mount.ufs_type(),
            mount.ufs_capacity_bytes(),
            mount.ufs_used_bytes(),
            if mount.read_only() { "" } else { "not " },
            if mount.shared() { "" } else { "not " },
            properties.join(", "),
        );
    }
    Ok(out)
}

/// `lode fs touch PATH`: an empty, complete file.
pub async fn touch(client: &MasterClient, path: &str) -> Result<String, ClientError> {
    client.create_file(path, false).await?;
    client.complete_file(path, 0).await?;
    Ok(format!("{path} has been created\n"))
}

/// Parses an octal mode such as `755` or `0644`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    u32::from_str_radix(text, 8)
        .ok()
        .filter(|mode| *mode <= 0o7777 && !text.is_empty())
        .ok_or_else(|| format!("`{text}` is not an octal mode such as 755"))
}

/// Every master this client knows of: configured, and those the leader names.
pub fn known_masters(client: &MasterClient, info: &MasterInfo) -> Vec<String> {
    let mut masters: Vec<String> = client.masters().to_vec();
    for address in &info.master_addresses {
        let address =
            format!("{}:{}", address.host.as_deref().unwrap_or(""), address.rpc_port.unwrap_or(0));
        if !masters.contains(&address) {
            masters.push(address);
        }
    }
    masters
}

/// `lode fs masterInfo`: the leader, and every known master with its role.
pub async fn master_info(client: &MasterClient) -> Result<String, ClientError> {
    let info = client.master_info().await?;
    let masters = known_masters(client, &info);
    let leader = info.leader_master_address.unwrap_or_default();
    let mut out = format!("Current leader master: {leader}\nAll masters:\n");
    let mut backends = None;
    for address in masters {
        let line = match MasterClient::master_status(&address).await {
            Ok(status) => {
                if backends.is_none() || address == leader {
                    backends = Some(format!(
                        "Election: {}\nJournal: {}\n",
                        status.elector, status.journal
                    ));
                }
                format!(
                    "  {address:<22} {:<8} journal slot {}{}{}",
                    status.role().as_str_name().trim_start_matches("ROLE_"),
                    status.journal_slot,
                    if status.term > 0 { format!(", term {}", status.term) } else { String::new() },
                    journal_health(&status),
                )
            }
            Err(error) => format!("  {address:<22} UNREACHABLE ({error})"),
        };
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&backends.unwrap_or_default());
    Ok(out)
}

/// `, journal UNAVAILABLE for 3.2s: <error>` while the master's journal store fails, and
/// `, stepped down 12.0s ago: <why>` when its journal made it stop leading.
fn journal_health(status: &MasterStatus) -> String {
    let mut out = String::new();
    if !status.journal_error.is_empty() {
        out += &format!(
            ", journal UNAVAILABLE for {:.1}s: {}",
            status.journal_failing_ms as f64 / 1000.0,
            status.journal_error
        );
    }
    if !status.stepped_down.is_empty() {
        out += &format!(
            ", stepped down {:.1}s ago: {}",
            status.stepped_down_ago_ms as f64 / 1000.0,
            status.stepped_down
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permissions_print_like_ls() {
        assert_eq!(permission_string(true, 0o755), "drwxr-xr-x");
        assert_eq!(permission_string(false, 0o640), "-rw-r-----");
    }

    #[test]
    fn modes_parse_as_octal() {
        assert_eq!(parse_mode("755"), Ok(0o755));
        assert_eq!(parse_mode("0644"), Ok(0o644));
        assert!(parse_mode("9").is_err());
        assert!(parse_mode("77777").is_err());
        assert!(parse_mode("rwx").is_err());
    }
}
