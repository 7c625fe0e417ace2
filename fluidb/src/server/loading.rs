//! Loading the RDB file at boot while the server already serves clients, as Redis does:
//! connections are accepted from the start, commands flagged `loading` (INFO, CONFIG, PING,
//! SHUTDOWN...) run, the others get `-LOADING Redis is loading the dataset in memory`, and
//! INFO shows the progress.
//!
//! Redis interleaves the load with its event loop; here the file is decoded on a thread of
//! its own into fresh databases, with no lock held, and swapped in under the store lock
//! when complete (as a replica does with its master's snapshot). Replication to a
//! configured master starts once the dataset is in.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::Shared;

/// The state of a load in progress (INFO's `loading_*` fields).
#[derive(Debug)]
pub struct Loading {
    /// Unix time the load started.
    pub start_time: i64,
    /// Size of the file.
    pub total_bytes: u64,
    /// Bytes decoded so far.
    pub loaded_bytes: AtomicU64,
}

/// The reply to a command refused while loading.
pub const LOADING_ERR: &str = "-LOADING Redis is loading the dataset in memory";

/// Whether the boot load runs in the background: an RDB file to load and no AOF (the AOF
/// is replayed through the command path before the server starts serving).
pub fn background_at_boot(store: &crate::server::Store) -> bool {
    !store.cfg.appendonly && crate::persistence::snapshot::rdb_path(store).exists()
}

/// Marks the store as loading the RDB file; `start` then loads it.
pub fn prepare(store: &mut crate::server::Store) {
    let total = std::fs::metadata(crate::persistence::snapshot::rdb_path(store)).map(|m| m.len()).unwrap_or(0);
    super::shutdown::set_loading(true);
    store.loading = Some(Arc::new(Loading {
        start_time: crate::util::time::unix_secs(),
        total_bytes: total,
        loaded_bytes: AtomicU64::new(0),
    }));
}

/// Loads the RDB file on a thread of its own and swaps the databases in; then `done` runs
/// under the store lock (it starts replication). A failed load ends the process, as a
/// failed load at boot does.
pub fn start(shared: Arc<Shared>, done: impl FnOnce(&Arc<Shared>, &mut crate::server::Store) + Send + 'static) {
    let spawned = std::thread::Builder::new().name("fluidb-load".into()).spawn(move || {
        if let Err(e) = load(&shared, done) {
            log_warning!("Fatal error loading the DB: {e}. Exiting.");
            std::process::exit(1);
        }
    });
    if let Err(e) = spawned {
        log_warning!("Fatal error loading the DB: can't start the loading thread: {e}. Exiting.");
        std::process::exit(1);
    }
}

fn load(shared: &Arc<Shared>, done: impl FnOnce(&Arc<Shared>, &mut crate::server::Store)) -> Result<(), String> {
    use crate::persistence::{rdb::load::Limits, snapshot};
    let started = std::time::Instant::now();
    let (path, lim, keep_expired, databases, mut clock, progress, file) = {
        let st = shared.store.lock();
        let Some(progress) = st.loading.clone() else { return Ok(()) };
        let mut lim = Limits::from_config(&st.cfg);
        lim.skip_checksum = st.skip_checksum_validation;
        let file = st.cfg.dbfilename.clone();
        (snapshot::rdb_path(&st), lim, st.plain_replica(), st.dbs.len(), st.clock.clone(), progress, file)
    };
    let data = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut dbs: Vec<crate::keyspace::Db> = (0..databases).map(crate::keyspace::Db::new).collect();
    let mut info = snapshot::load_into_with(&mut dbs, &mut clock, &lim, keep_expired, &data, |at| {
        progress.loaded_bytes.store(at as u64, Ordering::Relaxed)
    })
    .unwrap_or_else(|e| {
        // A corrupt file ends the process, reported as redis-check-rdb reports it.
        snapshot::report_corrupt_rdb(&file, &e);
        std::process::exit(1)
    });
    drop(data);
    let mut st = shared.lock_store();
    // Nothing wrote meanwhile (every write command was refused), so the loaded databases
    // replace empty ones.
    let empty = std::mem::replace(&mut st.dbs, dbs);
    st.clock.observe(clock.last());
    snapshot::note_boot_load(&mut st, &mut info, started);
    st.loading = None;
    super::shutdown::set_loading(false);
    done(shared, &mut st);
    drop(st);
    drop(empty);
    Ok(())
}

/// INFO persistence's `loading_*` lines (Redis prints them only while loading).
pub fn info_fields(l: &Loading) -> String {
    let loaded = l.loaded_bytes.load(Ordering::Relaxed);
    let (perc, remaining) = if l.total_bytes > 0 {
        (loaded as f64 / l.total_bytes as f64 * 100.0, l.total_bytes.saturating_sub(loaded))
    } else {
        (0.0, 1)
    };
    let elapsed = (crate::util::time::unix_secs() - l.start_time).max(0) as u64;
    // Redis's estimate, and its fake second while nothing is known yet.
    let eta = if elapsed == 0 { 1 } else { elapsed.saturating_mul(remaining) / (loaded + 1) };
    format!(
        "loading_start_time:{}\r\nloading_total_bytes:{}\r\nloading_rdb_used_mem:0\r\nloading_loaded_bytes:{loaded}\r\n\
         loading_loaded_perc:{perc:.2}\r\nloading_eta_seconds:{eta}\r\n",
        l.start_time, l.total_bytes
    )
}
