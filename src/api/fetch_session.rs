//! Incremental fetch sessions (KIP-227): the broker remembers, per session, which partitions a
//! client fetches and what it last told it about each, so that later requests name only what
//! changed and responses carry only partitions with news.
//!
//! Session epochs: -1 asks for a full fetch without a session (closing `session_id` if given),
//! 0 asks for a new session, and n > 0 continues session `session_id` at its n-th request. A
//! session unknown to the cache gets FETCH_SESSION_ID_NOT_FOUND; a wrong epoch
//! INVALID_FETCH_SESSION_EPOCH. The cache holds at most 1,000 sessions
//! (`max.incremental.fetch.session.cache.slots`) and evicts the least recently used.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use indexmap::IndexMap;
use kafka_protocol::error::ResponseError as E;
use parking_lot::Mutex;
use uuid::Uuid;

pub const FINAL_EPOCH: i32 = -1;
pub const INITIAL_EPOCH: i32 = 0;
pub const DEFAULT_MAX_SESSIONS: usize = 1000;

/// A partition as the client names it: by topic name (before Fetch v13) or id (v13+).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// What the client asks of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
}

/// What the session last reported for a partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub error_code: i16,
}

#[derive(Debug, Clone)]
struct SessionPartition {
    position: FetchPosition,
    reported: Option<Reported>,
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: IndexMap<PartitionKey, SessionPartition>,
    last_used: Instant,
}

/// The partitions one request will read, in order, and how the response must treat them.
#[derive(Debug, Clone)]
pub struct FetchPlan {
    /// The id to put in the response (0: no session).
    pub session_id: i32,
    /// Incremental: only partitions with news go into the response.
    pub incremental: bool,
    pub partitions: Vec<(PartitionKey, FetchPosition)>,
}

pub struct SessionCache {
    sessions: Mutex<HashMap<i32, Session>>,
    max_sessions: usize,
}

impl Default for SessionCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SESSIONS)
    }
}

fn new_session_id(taken: &HashMap<i32, Session>) -> i32 {
    loop {
        let id = (Uuid::new_v4().as_u128() as i32) & i32::MAX;
        if id != 0 && !taken.contains_key(&id) {
            return id;
        }
    }
}

impl SessionCache {
    pub fn new(max_sessions: usize) -> SessionCache {
        SessionCache {
            sessions: Mutex::new(HashMap::new()),
            max_sessions,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves a request into a plan, creating, updating or closing its session. `Err` is a
    /// top-level error code for the response.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        requested: Vec<(PartitionKey, FetchPosition)>,
        forgotten: Vec<PartitionKey>,
    ) -> Result<FetchPlan, i16> {
        let mut sessions = self.sessions.lock();
        match epoch {
            FINAL_EPOCH => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                Ok(FetchPlan {
                    session_id: 0,
                    incremental: false,
                    partitions: requested,
                })
            }
            INITIAL_EPOCH => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                if sessions.len() >= self.max_sessions {
                    let oldest = sessions
                        .iter()
                        .min_by_key(|(_, s)| s.last_used)
                        .map(|(id, _)| *id);
                    if let Some(id) = oldest {
                        sessions.remove(&id);
                    }
                }
                let id = new_session_id(&sessions);
                let partitions = requested
                    .iter()
                    .map(|(k, p)| {
                        (
                            k.clone(),
                            SessionPartition {
                                position: *p,
                                reported: None,
                            },
                        )
                    })
                    .collect();
                sessions.insert(
                    id,
                    Session {
                        next_epoch: 1,
                        partitions,
                        last_used: Instant::now(),
                    },
                );
                Ok(FetchPlan {
                    session_id: id,
                    incremental: false,
                    partitions: requested,
                })
            }
            epoch if epoch > 0 => {
                let session = sessions
                    .get_mut(&session_id)
                    .ok_or(E::FetchSessionIdNotFound.code())?;
                if session.next_epoch != epoch {
                    return Err(E::InvalidFetchSessionEpoch.code());
                }
                session.next_epoch = epoch.wrapping_add(1).max(1);
                session.last_used = Instant::now();
                // As in Kafka: first the partitions the request names, then the forgotten ones go,
                // so a partition both named and forgotten is forgotten.
                for (key, position) in requested {
                    match session.partitions.get_mut(&key) {
                        Some(existing) => existing.position = position,
                        None => {
                            session.partitions.insert(
                                key,
                                SessionPartition {
                                    position,
                                    reported: None,
                                },
                            );
                        }
                    }
                }
                for key in forgotten {
                    session.partitions.shift_remove(&key);
                }
                let partitions = session
                    .partitions
                    .iter()
                    .map(|(k, p)| (k.clone(), p.position))
                    .collect();
                Ok(FetchPlan {
                    session_id,
                    incremental: true,
                    partitions,
                })
            }
            _ => Err(E::InvalidFetchSessionEpoch.code()),
        }
    }

    /// Records what a response told the client, and whether an incremental response must include
    /// the partition: it has records, an error, or a changed high watermark or log start offset.
    pub fn report(
        &self,
        session_id: i32,
        key: &PartitionKey,
        now: Reported,
        has_records: bool,
    ) -> bool {
        if session_id == 0 {
            return true;
        }
        let mut sessions = self.sessions.lock();
        let Some(partition) = sessions
            .get_mut(&session_id)
            .and_then(|s| s.partitions.get_mut(key))
        else {
            return true;
        };
        let changed = partition.reported != Some(now);
        partition.reported = Some(now);
        has_records || now.error_code != 0 || changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(p: i32) -> PartitionKey {
        PartitionKey {
            topic: Arc::from("t"),
            topic_id: Uuid::nil(),
            partition: p,
        }
    }

    fn pos(offset: i64) -> FetchPosition {
        FetchPosition {
            fetch_offset: offset,
            max_bytes: 1 << 20,
            current_leader_epoch: -1,
        }
    }

    #[test]
    fn sessions_are_created_continued_and_closed() {
        let cache = SessionCache::default();
        let full = cache
            .begin(0, FINAL_EPOCH, vec![(key(0), pos(0))], vec![])
            .unwrap();
        assert_eq!(full.session_id, 0);
        assert!(cache.is_empty());

        let first = cache
            .begin(
                0,
                INITIAL_EPOCH,
                vec![(key(0), pos(0)), (key(1), pos(5))],
                vec![],
            )
            .unwrap();
        assert_ne!(first.session_id, 0);
        assert!(!first.incremental);
        let id = first.session_id;

        // The next request names only partition 1 with a new offset and forgets partition 0.
        let next = cache
            .begin(id, 1, vec![(key(1), pos(9))], vec![key(0)])
            .unwrap();
        assert!(next.incremental);
        assert_eq!(next.partitions, vec![(key(1), pos(9))]);

        assert_eq!(
            cache.begin(id, 1, vec![], vec![]).unwrap_err(),
            E::InvalidFetchSessionEpoch.code()
        );
        assert_eq!(
            cache.begin(id + 1, 3, vec![], vec![]).unwrap_err(),
            E::FetchSessionIdNotFound.code()
        );
        assert!(cache.begin(id, 2, vec![], vec![]).is_ok());
        cache.begin(id, FINAL_EPOCH, vec![], vec![]).unwrap();
        assert!(cache.is_empty());
    }

    #[test]
    fn incremental_responses_carry_only_news() {
        let cache = SessionCache::default();
        let id = cache
            .begin(0, INITIAL_EPOCH, vec![(key(0), pos(0))], vec![])
            .unwrap()
            .session_id;
        let state = Reported {
            high_watermark: 10,
            log_start_offset: 0,
            error_code: 0,
        };
        assert!(
            cache.report(id, &key(0), state, false),
            "first report is news"
        );
        assert!(!cache.report(id, &key(0), state, false), "nothing changed");
        assert!(cache.report(id, &key(0), state, true), "records are news");
        assert!(cache.report(
            id,
            &key(0),
            Reported {
                high_watermark: 11,
                ..state
            },
            false
        ));
    }

    #[test]
    fn the_least_recently_used_session_is_evicted() {
        let cache = SessionCache::new(2);
        let a = cache
            .begin(0, INITIAL_EPOCH, vec![], vec![])
            .unwrap()
            .session_id;
        let b = cache
            .begin(0, INITIAL_EPOCH, vec![], vec![])
            .unwrap()
            .session_id;
        cache.begin(b, 1, vec![], vec![]).unwrap();
        let _c = cache
            .begin(0, INITIAL_EPOCH, vec![], vec![])
            .unwrap()
            .session_id;
        assert_eq!(cache.len(), 2);
        assert_eq!(
            cache.begin(a, 1, vec![], vec![]).unwrap_err(),
            E::FetchSessionIdNotFound.code()
        );
        assert!(cache.begin(b, 2, vec![], vec![]).is_ok());
    }
}
