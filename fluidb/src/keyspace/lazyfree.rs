//! Background freeing of large values and flushed databases (Redis's lazyfree.c), so the
//! store lock is not held while millions of allocations are released.
//!
//! Which deletions go through here is Redis's choice: UNLINK, FLUSHDB/FLUSHALL ASYNC, and
//! under the `lazyfree-lazy-*` directives DEL (`user-del`), flushes (`user-flush`), expiry
//! (`expire`) and server-side deletions and overwrites (`server-del`).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{channel, Sender};
use std::sync::{Mutex, OnceLock};

use super::Value;

/// Values whose free effort exceeds this are freed in the background (Redis's
/// `LAZYFREE_THRESHOLD`).
pub const THRESHOLD: usize = 64;

/// Objects waiting to be freed (INFO `lazyfree_pending_objects`).
pub static PENDING: AtomicU64 = AtomicU64::new(0);
/// Objects freed in the background since the start or CONFIG RESETSTAT (INFO
/// `lazyfreed_objects`).
pub static FREED: AtomicU64 = AtomicU64::new(0);

type Job = (Box<dyn Send>, u64);

fn queue() -> Option<&'static Mutex<Sender<Job>>> {
    static Q: OnceLock<Option<Mutex<Sender<Job>>>> = OnceLock::new();
    Q.get_or_init(|| {
        let (tx, rx) = channel::<Job>();
        let spawned = std::thread::Builder::new().name("lazyfree".into()).spawn(move || {
            while let Ok((job, objects)) = rx.recv() {
                drop(job);
                PENDING.fetch_sub(objects, Ordering::Relaxed);
                FREED.fetch_add(objects, Ordering::Relaxed);
            }
        });
        spawned.ok().map(|_| Mutex::new(tx))
    })
    .as_ref()
}

/// Drops `what` (made of `objects` objects) on the lazyfree thread; inline if that thread
/// could not be started.
pub fn free_later<T: Send + 'static>(what: T, objects: u64) {
    match queue() {
        Some(q) => {
            PENDING.fetch_add(objects, Ordering::Relaxed);
            let res = q.lock().map_err(|_| ()).and_then(|tx| tx.send((Box::new(what), objects)).map_err(|_| ()));
            if res.is_err() {
                PENDING.fetch_sub(objects, Ordering::Relaxed);
            }
        }
        None => drop(what),
    }
}

/// Redis's `lazyfreeGetFreeEffort`: roughly the number of allocations freeing `v` takes.
pub fn free_effort(v: &Value) -> usize {
    match v {
        Value::Str(_) => 1,
        Value::List(l) => l.free_effort(),
        Value::Hash(h) => h.free_effort(),
        Value::Set(x) => x.free_effort(),
        Value::ZSet(z) => z.free_effort(),
    }
}

/// Frees a removed value, on the lazyfree thread when it is large (Redis's
/// `freeObjAsync`); small ones are dropped here, which is cheaper than the hand-over.
pub fn free_async(v: Value) {
    if free_effort(&v) > THRESHOLD {
        free_later(v, 1);
    }
}

/// Frees a removed value in the background if `lazy`, else here.
pub fn free(v: Value, lazy: bool) {
    if lazy {
        free_async(v);
    }
}

/// Replaces a value in place (Redis's `dbOverwrite`), freeing the old one in the
/// background if `lazy` (`lazyfree-lazy-server-del`).
pub fn overwrite(slot: &mut Value, v: Value, lazy: bool) {
    free(std::mem::replace(slot, v), lazy);
}

/// CONFIG RESETSTAT (Redis's `lazyfreeResetStats`): the freed count restarts at zero.
pub fn reset_stats() {
    FREED.store(0, Ordering::Relaxed);
}
