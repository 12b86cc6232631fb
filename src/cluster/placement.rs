//! Replica placement: where the replicas of new partitions go. Replicas are striped over the live
//! brokers so that leaders (first replicas) and followers spread evenly, starting at a random
//! broker so that many small topics do not all lead on the same one. With `broker.rack` set, the
//! brokers are ordered alternating between racks and each partition's replicas take distinct racks
//! while there are racks left, as Kafka's rack-aware assignment does.

use std::collections::{BTreeMap, HashSet};

/// A broker as placement sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub id: i32,
    pub rack: Option<String>,
}

/// Orders brokers by id, alternating between racks when any rack is known.
fn rack_alternating(brokers: &[Candidate]) -> Vec<Candidate> {
    let mut sorted = brokers.to_vec();
    sorted.sort_by_key(|b| b.id);
    if sorted.iter().all(|b| b.rack.is_none()) {
        return sorted;
    }
    let mut by_rack: BTreeMap<Option<String>, Vec<Candidate>> = BTreeMap::new();
    for b in sorted {
        by_rack.entry(b.rack.clone()).or_default().push(b);
    }
    let mut columns: Vec<std::vec::IntoIter<Candidate>> =
        by_rack.into_values().map(Vec::into_iter).collect();
    let mut out = Vec::with_capacity(brokers.len());
    while out.len() < brokers.len() {
        for column in &mut columns {
            if let Some(b) = column.next() {
                out.push(b);
            }
        }
    }
    out
}

/// Replica lists for `count` partitions of `replication_factor` replicas over `brokers`, the
/// first partition's leader at position `start` of the broker order. The caller checks that there
/// are at least `replication_factor` brokers.
pub fn assign(
    brokers: &[Candidate],
    count: usize,
    replication_factor: usize,
    start: usize,
) -> Vec<Vec<i32>> {
    assert!(
        replication_factor <= brokers.len() && replication_factor > 0,
        "placement needs {replication_factor} brokers, has {}",
        brokers.len()
    );
    let order = rack_alternating(brokers);
    let n = order.len();
    let racks: HashSet<&Option<String>> = order.iter().map(|b| &b.rack).collect();
    (0..count)
        .map(|p| {
            let first = (start + p) % n;
            // The followers' offset from the leader changes every round of `n` partitions, so
            // that a broker's followers are not always the same brokers.
            let shift = if n > 1 {
                1 + ((start + p) / n) % (n - 1)
            } else {
                0
            };
            let mut chosen: Vec<usize> = vec![first];
            let mut used_racks: HashSet<&Option<String>> = HashSet::from([&order[first].rack]);
            let mut k = 0;
            while chosen.len() < replication_factor {
                let candidate = (first + shift + k) % n;
                k += 1;
                if chosen.contains(&candidate) {
                    continue;
                }
                // Prefer a rack not used yet, until every rack is; then anything goes.
                let rack_is_new = !used_racks.contains(&order[candidate].rack);
                if !rack_is_new && used_racks.len() < racks.len() && k <= n {
                    continue;
                }
                used_racks.insert(&order[candidate].rack);
                chosen.push(candidate);
            }
            chosen.into_iter().map(|i| order[i].id).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn brokers(racks: &[Option<&str>]) -> Vec<Candidate> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| Candidate {
                id: i as i32 + 1,
                rack: r.map(str::to_string),
            })
            .collect()
    }

    #[test]
    fn leaders_and_replicas_spread_evenly() {
        let b = brokers(&[None, None, None]);
        let lists = assign(&b, 6, 3, 1);
        let mut leaders = [0; 4];
        let mut replicas = [0; 4];
        for list in &lists {
            assert_eq!(list.len(), 3);
            let distinct: HashSet<_> = list.iter().collect();
            assert_eq!(distinct.len(), 3, "{list:?}");
            leaders[list[0] as usize] += 1;
            for r in list {
                replicas[*r as usize] += 1;
            }
        }
        assert_eq!(&leaders[1..], &[2, 2, 2]);
        assert_eq!(&replicas[1..], &[6, 6, 6]);
    }

    #[test]
    fn replicas_take_distinct_racks_while_there_are_racks() {
        let b = brokers(&[
            Some("a"),
            Some("a"),
            Some("b"),
            Some("b"),
            Some("c"),
            Some("c"),
        ]);
        let rack_of = |id: i32| b[(id - 1) as usize].rack.clone();
        for start in 0..6 {
            for list in assign(&b, 12, 3, start) {
                let racks: HashSet<_> = list.iter().map(|id| rack_of(*id)).collect();
                assert_eq!(racks.len(), 3, "{list:?}");
            }
            for list in assign(&b, 12, 5, start) {
                let distinct: HashSet<_> = list.iter().collect();
                assert_eq!(distinct.len(), 5, "{list:?}");
            }
        }
    }

    #[test]
    fn one_broker_holds_everything() {
        assert_eq!(assign(&brokers(&[None]), 3, 1, 7), vec![vec![1]; 3]);
    }
}
