//! Helpers for tests of leader electors against their real services.

use std::sync::Arc;
use std::time::Duration;

use lode_core::elector::{LeaderElector, Leadership, Member};

/// Test member `n`: id `member-<n>`, address `127.0.0.1:<40000 + n>`.
pub fn member(n: usize) -> Member {
    Member { id: format!("member-{n}"), address: format!("127.0.0.1:{}", 40000 + n) }
}

/// Campaigns with every elector not in `skip` at once, as [`member`]s of their index; returns
/// the index of the first winner, its leadership and every campaign (the winner's included).
pub async fn first_winner(
    electors: &[Arc<dyn LeaderElector>],
    skip: &[usize],
) -> (usize, Leadership, Vec<tokio::task::JoinHandle<Leadership>>) {
    let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
    let mut campaigns = Vec::new();
    for (index, elector) in electors.iter().enumerate() {
        if skip.contains(&index) {
            continue;
        }
        let elector = elector.clone();
        let sender = sender.clone();
        campaigns.push(tokio::spawn(async move {
            let leadership = elector.campaign(&member(index)).await.expect("campaign");
            let _ = sender.send((index, leadership.clone()));
            leadership
        }));
    }
    let (index, leadership) = tokio::time::timeout(Duration::from_secs(60), receiver.recv())
        .await
        .expect("someone wins within a minute")
        .unwrap();
    (index, leadership, campaigns)
}

/// Campaigns with every one of `electors` (at least three): exactly one leads, `observer`'s
/// lookup and watch name it (and so does the service's own tool, `listed` checks), its member
/// list names every campaigner, and resigning hands over to exactly one other, with a term of
/// its own.
pub async fn one_leader_at_a_time_and_resign_hands_over_in(
    electors: &[Arc<dyn LeaderElector>],
    observer: Arc<dyn LeaderElector>,
    listed: impl Fn(&Member),
) {
    let mut watch = observer.watch_leader();
    let (first, leadership, campaigns) = first_winner(electors, &[]).await;
    assert!(leadership.is_valid());
    tokio::time::sleep(Duration::from_millis(300)).await;
    let done = campaigns.iter().filter(|c| c.is_finished()).count();
    assert_eq!(done, 1, "only one campaign may finish while the first leader leads");
    // By address: the one thing every elector publishes (some name members by their key).
    let address = |leader: &Option<Member>| leader.as_ref().map(|m| m.address.clone());
    assert_eq!(address(&observer.leader().await.unwrap()), Some(member(first).address));
    let first_address = Some(member(first).address);
    tokio::time::timeout(Duration::from_secs(30), watch.wait_for(|l| address(l) == first_address))
        .await
        .expect("the watch names the leader")
        .unwrap();
    listed(&member(first));
    // Every campaigner is listed, leader and waiting ones alike.
    let expected: Vec<String> = (0..electors.len()).map(|i| member(i).address).collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut listed: Vec<String> =
            observer.members().await.unwrap().into_iter().map(|m| m.address).collect();
        listed.sort();
        if listed == expected {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "members {listed:?}, not {expected:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    electors[first].resign(&leadership).await.unwrap();
    assert!(!leadership.is_valid());
    let next = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            watch.changed().await.unwrap();
            if let Some(leader) = watch.borrow().clone() {
                if leader.address != member(first).address {
                    return leader;
                }
            }
        }
    })
    .await
    .expect("another member leads after the resignation");
    assert!(electors.iter().enumerate().any(|(i, _)| next.address == member(i).address));
    // The successor's campaign returns once its elector confirmed the leadership, which may
    // be a moment after discovery names it.
    let finished = || campaigns.iter().filter(|c| c.is_finished()).count();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while finished() < 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut won = Vec::new();
    for campaign in campaigns {
        if campaign.is_finished() {
            won.push(campaign.await.unwrap());
        } else {
            campaign.abort();
        }
    }
    assert_eq!(won.len(), 2, "the first leader and exactly one successor");
    let terms: Vec<u64> = won.iter().map(Leadership::term).collect();
    assert!(terms[0] != terms[1], "each leadership has its own term: {terms:?}");
}
