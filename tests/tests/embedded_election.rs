//! The embedded elector across real processes: a killed leader is replaced at once, a hung
//! one once its lease lapses, and two members never act as leader at the same time.

use std::time::Duration;

use lode_tests::process::Proc;
use rustix::process::Signal;

const LIMIT: Duration = Duration::from_secs(60);

fn trials() -> usize {
    std::env::var("LODE_FAULT_TRIALS").ok().and_then(|t| t.parse().ok()).unwrap_or(5)
}

fn member(dir: &std::path::Path, lease: &str) -> Proc {
    Proc::spawn(
        env!("CARGO_BIN_EXE_election-member"),
        &[
            format!("-Dalluxio.master.election.embedded.dir={}", dir.display()),
            format!("-Dalluxio.master.election.lease.timeout={lease}"),
        ],
    )
}

/// `(kind, term, nanos)` of a helper line.
fn parse(line: &str) -> (String, u64, u64) {
    let parts: Vec<&str> = line.split_whitespace().collect();
    (parts[0].to_string(), parts[1].parse().unwrap(), parts[2].parse().unwrap())
}

/// Each SIGKILLed leader is replaced by a standby with a higher term.
#[test]
fn a_killed_leader_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut leader = member(dir.path(), "30s");
    let (_, mut term, _) = parse(&leader.wait_for("LEADER", LIMIT).expect("first leader"));
    let mut failovers = Vec::new();
    for _ in 0..trials() {
        let mut standby = member(dir.path(), "30s");
        std::thread::sleep(Duration::from_millis(100));
        leader.kill();
        let killed_at = std::time::Instant::now();
        // The 30s lease would make a lease-based takeover obvious: only the lock path is fast.
        let line = standby.wait_for("LEADER", LIMIT).expect("the standby takes over");
        failovers.push(killed_at.elapsed());
        let (_, new_term, _) = parse(&line);
        assert!(new_term > term, "term went from {term} to {new_term}");
        term = new_term;
        leader = standby;
    }
    failovers.sort();
    println!(
        "kill -9 failover, median {:?}, max {:?}",
        failovers[failovers.len() / 2],
        failovers.last().unwrap()
    );
}

/// A SIGSTOPped leader is replaced once its lease lapses; after SIGCONT it reports the loss,
/// and it never acted as leader after the new leader won.
#[test]
fn a_paused_leader_is_replaced_and_never_overlaps() {
    for trial in 0..trials().min(5) {
        let dir = tempfile::tempdir().unwrap();
        let mut old = member(dir.path(), "600ms");
        let (_, old_term, _) = parse(&old.wait_for("LEADER", LIMIT).expect("first leader"));
        let mut new = member(dir.path(), "600ms");
        std::thread::sleep(Duration::from_millis(50 + 37 * trial as u64));
        old.signal(Signal::STOP);
        let (_, new_term, won_at) = parse(&new.wait_for("LEADER", LIMIT).expect("takeover"));
        assert!(new_term > old_term);
        std::thread::sleep(Duration::from_millis(200));
        old.signal(Signal::CONT);
        let lost = old.wait_for("LOST", LIMIT).expect("the old leader learns it lost");
        assert_eq!(parse(&lost).1, old_term);
        old.drain();
        let late: Vec<&String> = old
            .seen
            .iter()
            .filter(|line| line.starts_with("ACT") && parse(line).2 >= won_at)
            .collect();
        assert!(
            late.is_empty(),
            "trial {trial}: the old leader acted after the new one won: {late:?}"
        );
        assert!(old.seen.iter().any(|l| l.starts_with("ACT")), "the old leader never acted");
    }
}
