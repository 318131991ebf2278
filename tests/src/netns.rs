//! Network partitions for tests (DESIGN §7): the calling thread moves into a network namespace of
//! its own with only a loopback interface, and so does every thread and process it starts
//! afterwards. Firewall rules added there cut chosen processes off from chosen ports, affect
//! nothing outside, and vanish with the namespace.

use std::process::Command;

fn run(program: &str, args: &[&str]) {
    let output = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {program} (install iproute2 and iptables): {e}"));
    assert!(
        output.status.success(),
        "{program} {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Moves the calling thread into a fresh network namespace and brings its loopback up. Start
/// the async runtime, servers and masters *after* this, from this thread.
pub fn isolate_this_thread() {
    // SAFETY: only the network namespace is unshared; the file descriptor table stays shared,
    // which is the hazard `unshare_unsafe` warns of.
    unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::NEWNET) }
        .expect("unshare(CLONE_NEWNET): partition tests need root (CAP_SYS_ADMIN)");
    run("ip", &["link", "set", "lo", "up"]);
}

/// Runs `test` on a 4-thread runtime started after moving this thread into a network namespace
/// of its own ([`isolate_this_thread`]), so that the services and masters the test starts, and
/// the firewall rules it adds, live there too.
pub fn run_isolated<F: std::future::Future>(test: F) -> F::Output {
    isolate_this_thread();
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
    runtime.block_on(test)
}

/// A firewall rule dropping every TCP packet that processes of one group send to some ports:
/// those processes are partitioned from the servers on those ports. Removed when dropped.
pub struct Partition {
    rule: Vec<String>,
}

impl Partition {
    /// Cuts processes running with group id `gid` off from `ports` (at most 15).
    pub fn group_from_ports(gid: u32, ports: &[u16]) -> Partition {
        let ports: Vec<String> = ports.iter().map(u16::to_string).collect();
        let rule = [
            "OUTPUT",
            "-p",
            "tcp",
            "-m",
            "owner",
            "--gid-owner",
            &gid.to_string(),
            "-m",
            "multiport",
            "--dports",
            &ports.join(","),
            "-j",
            "DROP",
        ]
        .map(str::to_string)
        .to_vec();
        let mut insert = vec!["-w", "-I"];
        insert.extend(rule.iter().map(String::as_str));
        run("iptables", &insert);
        Partition { rule }
    }

    /// Removes the rule: the partition heals.
    pub fn heal(self) {}
}

impl Drop for Partition {
    fn drop(&mut self) {
        let mut delete = vec!["-w", "-D"];
        delete.extend(self.rule.iter().map(String::as_str));
        run("iptables", &delete);
    }
}
