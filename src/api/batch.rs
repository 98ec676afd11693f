//! Point reads that arrive together share one trip to the database.
//!
//! On PostgreSQL a certificate look-up costs the database little and the
//! API process much: the hand-off to a blocking thread and back, libpq, and
//! a round trip over the network. While one batch of look-ups is in flight,
//! those that arrive wait in a queue; the blocking thread that ran the
//! batch then takes them all, on the connection it holds, as one statement.
//! A look-up alone is a batch of one and waits for nothing. On SQLite a
//! look-up is CPU work in this process and runs inline (see `run`), where
//! there is no trip to share, so it is never queued.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

use super::{run, AppState, Placement};
use crate::db::memory::Indexes;
use crate::db::{DbConn, DbError, DbPool, DbResult};
use crate::error::ApiError;

/// At most this many keys in one statement (32 connections make batches of
/// up to 32 in the load runs).
const MAX_BATCH: usize = 64;

/// Reads the values of many keys at once: one value per key, in order
/// (with the in-memory indexes at hand).
pub type ReadMany<K, V> = fn(&mut DbConn, &Indexes, &[K]) -> DbResult<Vec<V>>;

/// One kind of keyed read, with its queue.
pub struct Batched<K, V> {
    read: ReadMany<K, V>,
    /// At most this many keys in one statement.
    max: usize,
    queue: Mutex<Queue<K, V>>,
}

type Reply<V> = oneshot::Sender<Result<V, ApiError>>;

struct Queue<K, V> {
    waiting: Vec<(K, Reply<V>)>,
    /// A blocking thread is taking batches off `waiting`.
    draining: bool,
}

impl<K: Send + 'static, V: Send + 'static> Batched<K, V> {
    pub fn new(read: ReadMany<K, V>) -> Arc<Self> {
        Self::with_limit(read, MAX_BATCH)
    }

    /// At most `max` keys in one statement.
    pub fn with_limit(read: ReadMany<K, V>, max: usize) -> Arc<Self> {
        Arc::new(Self {
            read,
            max,
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                draining: false,
            }),
        })
    }

    /// The value of `key`, read alone inline (SQLite) or with whatever else
    /// is waiting (PostgreSQL).
    pub async fn get(self: &Arc<Self>, state: &AppState, key: K) -> Result<V, ApiError> {
        if state.placement() != Placement::Blocking || !state.is_ready() {
            let read = self.read;
            let indexes = Arc::clone(&state.indexes);
            return run(state, move |conn| {
                let mut values = read(conn, &indexes, std::slice::from_ref(&key))?;
                values
                    .pop()
                    .ok_or_else(|| DbError::Query("a keyed read answered nothing".into()))
            })
            .await;
        }
        let (reply, answer) = oneshot::channel();
        let start = {
            let mut queue = self.lock();
            queue.waiting.push((key, reply));
            !std::mem::replace(&mut queue.draining, true)
        };
        if start {
            let this = Arc::clone(self);
            let pool = state.pool.clone();
            let indexes = Arc::clone(&state.indexes);
            // Detached: the batch is answered even if this request goes away.
            drop(actix_web::rt::task::spawn_blocking(move || {
                this.drain(&pool, &indexes)
            }));
        }
        answer
            .await
            .unwrap_or_else(|_| Err(ApiError::Internal("the batched read failed".into())))
    }

    fn lock(&self) -> MutexGuard<'_, Queue<K, V>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Answers batches until none is waiting, on one connection.
    fn drain(&self, pool: &DbPool, indexes: &Indexes) {
        // If `read` panics, the batch's replies are dropped, and so are
        // those of the requests queued behind it, which no drainer would
        // take until another request came: each answers 500. The next
        // request starts a new drainer.
        struct Unwinding<'a, K, V>(&'a Batched<K, V>);
        impl<K, V> Drop for Unwinding<'_, K, V> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    let mut queue = self.0.queue.lock().unwrap_or_else(PoisonError::into_inner);
                    queue.waiting.clear();
                    queue.draining = false;
                }
            }
        }
        let _unwinding = Unwinding(self);
        let mut conn = None;
        loop {
            let batch: Vec<(K, Reply<V>)> = {
                let mut queue = self.lock();
                if queue.waiting.is_empty() {
                    queue.draining = false;
                    return;
                }
                let n = queue.waiting.len().min(self.max);
                queue.waiting.drain(..n).collect()
            };
            let (keys, mut replies): (Vec<K>, Vec<Reply<V>>) = batch.into_iter().unzip();
            let connection = match &mut conn {
                Some(connection) => connection,
                none => match pool.get() {
                    Ok(pooled) => none.insert(pooled),
                    Err(error) => {
                        // The database is out of reach after the pool's
                        // timeout: what queued meanwhile has waited as long,
                        // and is answered now rather than after another.
                        let error = ApiError::from(DbError::from(error));
                        replies.extend(self.lock().waiting.drain(..).map(|(_, reply)| reply));
                        for reply in replies {
                            let _ = reply.send(Err(error.clone()));
                        }
                        continue;
                    }
                },
            };
            match (self.read)(connection, indexes, &keys) {
                Ok(values) => {
                    debug_assert_eq!(values.len(), replies.len());
                    for (reply, value) in replies.into_iter().zip(values) {
                        let _ = reply.send(Ok(value));
                    }
                }
                Err(error) => {
                    // The connection may be what failed: the next batch takes
                    // another (the pool drops a broken one).
                    conn = None;
                    let error = ApiError::from(error);
                    for reply in replies {
                        let _ = reply.send(Err(error.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics(_: &mut DbConn, _: &Indexes, _: &[usize]) -> DbResult<Vec<usize>> {
        panic!("a bug in a batched reader")
    }

    #[test]
    fn a_reader_that_panics_answers_its_batch_and_the_queue_and_leaves_no_drainer() {
        let pool = crate::db::pool(&crate::db::DatabaseUrl::Sqlite(":memory:".into()), 1);
        let batched = Batched::new(panics);
        // One full batch and some queued behind it.
        let answers: Vec<_> = {
            let mut queue = batched.lock();
            queue.draining = true;
            (0..MAX_BATCH + 6)
                .map(|key| {
                    let (reply, answer) = oneshot::channel();
                    queue.waiting.push((key, reply));
                    answer
                })
                .collect()
        };
        let drained = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            batched.drain(&pool, &Indexes::new(&pool, false))
        }));
        assert!(drained.is_err());
        let queue = batched.lock();
        assert!(!queue.draining, "the next request must start a drainer");
        assert!(queue.waiting.is_empty());
        // Every request is answered (its handler turns a dropped reply
        // into a 500), none is left waiting.
        for mut answer in answers {
            assert!(matches!(
                answer.try_recv(),
                Err(oneshot::error::TryRecvError::Closed)
            ));
        }
    }
}
