//! INFO (Redis 7.0's `genRedisInfoString`): the same sections, field names and format, so
//! monitoring tools and client libraries that parse INFO keep working.
//!
//! Memory figures: fluidB allocates with jemalloc, as Redis does, so `used_memory` is
//! jemalloc's `stats.allocated`, `allocator_active`/`allocator_resident` its active and
//! resident bytes, and `used_memory_rss` the resident set from /proc/self/statm. No
//! counting allocator is used: it would cost an atomic operation on every allocation.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

use parking_lot::Mutex;

use super::call::Ctx;
use super::table::{acl, flags::*, Command, CommandTable};
use crate::server::store::Store;
use crate::server::Shared;

/// The Redis version fluidB reports (INFO `redis_version`, HELLO `version`). Tools and
/// client libraries gate features on it, so it is the Redis release whose behaviour
/// fluidB reproduces. fluidB's own version is INFO's `fluidb_version`.
pub const REDIS_VERSION: &str = "7.0.15";

pub static COMMANDS: &[Command] = &[Command {
    name: "info",
    arity: -1,
    flags: LOADING | STALE,
    acl: acl::DANGEROUS,
    handler: info,
    group: "server",
    summary: "Get information and statistics about the server",
    tips: &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"],
    history: &[("7.0.0", "Added support for taking multiple section arguments.")],
    ..Command::DEFAULT
}];

/// Sections in output order; `true` for those in the default set.
const SECTIONS: &[(&str, bool)] = &[
    ("server", true),
    ("clients", true),
    ("memory", true),
    ("persistence", true),
    ("stats", true),
    ("replication", true),
    ("cpu", true),
    ("modules", true),
    ("commandstats", false),
    ("errorstats", true),
    ("latencystats", false),
    ("cluster", true),
    ("keyspace", true),
];

/// Which sections a list of INFO arguments selects (Redis's `genInfoSectionDict`).
pub fn select_sections(args: &[&[u8]]) -> Vec<&'static str> {
    let mut want = vec![false; SECTIONS.len()];
    if args.is_empty() {
        for (i, (_, d)) in SECTIONS.iter().enumerate() {
            want[i] = *d;
        }
    }
    for a in args {
        let a = a.to_ascii_lowercase();
        match a.as_slice() {
            b"all" | b"everything" => want.iter_mut().for_each(|w| *w = true),
            b"default" => {
                for (i, (_, d)) in SECTIONS.iter().enumerate() {
                    want[i] |= *d;
                }
            }
            b"module_list" => want[7] = true,
            name => {
                if let Some(i) = SECTIONS.iter().position(|(n, _)| n.as_bytes() == name) {
                    want[i] = true;
                }
            }
        }
    }
    SECTIONS.iter().zip(want).filter(|(_, w)| *w).map(|((n, _), _)| *n).collect()
}

fn info(ctx: &mut Ctx) {
    let args: Vec<&[u8]> = ctx.argv[1..].iter().map(|a| a.as_ref()).collect();
    let sections = select_sections(&args);
    let s = gen_info(ctx.shared, ctx.store, &sections);
    ctx.out.verbatim(s.as_bytes(), "txt");
}

/// Formats a byte count as Redis's `bytesToHuman`.
pub fn bytes_to_human(n: u64) -> String {
    let d = n as f64;
    const K: f64 = 1024.0;
    if d < K {
        format!("{n}B")
    } else if d < K * K {
        format!("{:.2}K", d / K)
    } else if d < K * K * K {
        format!("{:.2}M", d / (K * K))
    } else if d < K * K * K * K {
        format!("{:.2}G", d / (K * K * K))
    } else if d < K * K * K * K * K {
        format!("{:.2}T", d / (K * K * K * K))
    } else {
        format!("{:.2}P", d / (K * K * K * K * K))
    }
}

/// jemalloc's counters (bytes): allocated by the application, in active pages, resident.
/// The global allocator is jemalloc (see main.rs), as in Redis; `epoch::advance` refreshes
/// the cached statistics (a few microseconds, fine for INFO and memory checks).
///
/// jemalloc counts the blocks its per-thread caches keep after a free as allocated; they
/// are subtracted, so the first figure is what the application holds, as Redis's own
/// `used_memory` counter (live allocations only) is. Otherwise memory freed on one I/O
/// thread would look in use until that thread's cache is flushed.
pub(crate) fn jemalloc_stats() -> Option<(u64, u64, u64)> {
    use tikv_jemalloc_ctl::{epoch, raw, stats};
    epoch::advance().ok()?;
    // SAFETY: both names are `size_t` statistics of jemalloc 5.3 (MALLCTL_ARENAS_ALL = 4096).
    let cached = unsafe {
        raw::read::<usize>(b"stats.arenas.4096.tcache_bytes\0").unwrap_or(0)
            + raw::read::<usize>(b"stats.arenas.4096.tcache_stashed_bytes\0").unwrap_or(0)
    };
    let allocated = stats::allocated::read().ok()?;
    Some((
        allocated.saturating_sub(cached) as u64,
        stats::active::read().ok()? as u64,
        stats::resident::read().ok()? as u64,
    ))
}

/// Bytes allocated and still in use (jemalloc's `stats.allocated`; the resident set if
/// the statistics are unavailable).
pub fn used_memory() -> u64 {
    jemalloc_stats().map_or_else(rss_bytes, |(allocated, _, _)| allocated)
}

fn page_size() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 {
        p as u64
    } else {
        4096
    }
}

/// Resident set size from /proc/self/statm.
pub fn rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()))
        .map(|pages| pages * page_size())
        .unwrap_or(0)
}

fn total_system_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let pages = unsafe { libc::sysconf(libc::_SC_PHYS_PAGES) };
    if pages > 0 {
        pages as u64 * page_size()
    } else {
        0
    }
}

/// `uname -s -r -m`, as Redis's `os` field.
fn os_string() -> String {
    // SAFETY: uname fills the zeroed struct; the fields are NUL-terminated C strings.
    unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return "Linux".into();
        }
        let f = |p: &[libc::c_char]| std::ffi::CStr::from_ptr(p.as_ptr()).to_string_lossy().into_owned();
        format!("{} {} {}", f(&u.sysname), f(&u.release), f(&u.machine))
    }
}

fn rusage(who: libc::c_int) -> (f64, f64) {
    // SAFETY: getrusage fills the zeroed struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(who, &mut ru) != 0 {
            return (0.0, 0.0);
        }
        let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1_000_000.0;
        (t(ru.ru_stime), t(ru.ru_utime))
    }
}

static PEAK: AtomicU64 = AtomicU64::new(0);
static STARTUP: OnceLock<u64> = OnceLock::new();

/// Records the memory in use at startup (`used_memory_startup`) and seeds the peak.
pub fn note_startup_memory() {
    let m = used_memory();
    STARTUP.get_or_init(|| m);
    PEAK.fetch_max(m, Ordering::Relaxed);
}

/// The memory peak (first raised to `used`) and the memory in use at startup, for INFO
/// and MEMORY STATS.
pub(crate) fn peak_and_startup(used: u64) -> (u64, u64) {
    note_startup_memory();
    let peak = PEAK.fetch_max(used, Ordering::Relaxed).max(used);
    (peak, *STARTUP.get().unwrap_or(&0))
}

/// Instantaneous rates: computed between successive INFO calls at least 100 ms apart
/// (Redis samples every 100 ms in its cron; this gives the same figure to a poller).
struct Rates {
    at: Instant,
    ops: u64,
    input: u64,
    output: u64,
    ops_per_sec: u64,
    in_kbps: f64,
    out_kbps: f64,
}

static RATES: Mutex<Option<Rates>> = Mutex::new(None);

fn rates(store: &Store) -> (u64, f64, f64) {
    let now = Instant::now();
    let st = &store.stats;
    let mut g = RATES.lock();
    match g.as_mut() {
        None => {
            *g = Some(Rates {
                at: now,
                ops: st.total_commands_processed,
                input: st.total_net_input_bytes,
                output: st.total_net_output_bytes,
                ops_per_sec: 0,
                in_kbps: 0.0,
                out_kbps: 0.0,
            });
            (0, 0.0, 0.0)
        }
        Some(r) => {
            let dt = now.duration_since(r.at).as_secs_f64();
            if dt >= 0.1 {
                r.ops_per_sec = (st.total_commands_processed.saturating_sub(r.ops) as f64 / dt).round() as u64;
                r.in_kbps = st.total_net_input_bytes.saturating_sub(r.input) as f64 / dt / 1024.0;
                r.out_kbps = st.total_net_output_bytes.saturating_sub(r.output) as f64 / dt / 1024.0;
                r.at = now;
                r.ops = st.total_commands_processed;
                r.input = st.total_net_input_bytes;
                r.output = st.total_net_output_bytes;
            }
            (r.ops_per_sec, r.in_kbps, r.out_kbps)
        }
    }
}

/// Generates the INFO text for `sections` (names from [`select_sections`]).
pub fn gen_info(shared: &Shared, store: &Store, sections: &[&str]) -> String {
    let mut s = String::with_capacity(4096);
    for (n, name) in sections.iter().enumerate() {
        if n > 0 {
            s.push_str("\r\n");
        }
        match *name {
            "server" => server_section(&mut s, shared, store),
            "clients" => clients_section(&mut s, shared, store),
            "memory" => memory_section(&mut s, store),
            "persistence" => persistence_section(&mut s, store),
            "stats" => stats_section(&mut s, store),
            "replication" => replication_section(&mut s, store),
            "cpu" => cpu_section(&mut s),
            "modules" => s.push_str("# Modules\r\n"),
            "commandstats" => commandstats_section(&mut s, store),
            "errorstats" => errorstats_section(&mut s, store),
            "latencystats" => latencystats_section(&mut s, store),
            "cluster" => s.push_str("# Cluster\r\ncluster_enabled:0\r\n"),
            "keyspace" => keyspace_section(&mut s, store),
            _ => {}
        }
    }
    s
}

fn server_section(s: &mut String, shared: &Shared, store: &Store) {
    let uptime = shared.started.elapsed().as_secs();
    let _ = write!(
        s,
        "# Server\r\n\
         redis_version:{REDIS_VERSION}\r\n\
         redis_git_sha1:00000000\r\n\
         redis_git_dirty:0\r\n\
         redis_build_id:0\r\n\
         redis_mode:standalone\r\n\
         fluidb_version:{}\r\n\
         os:{}\r\n\
         arch_bits:{}\r\n\
         monotonic_clock:POSIX clock_gettime\r\n\
         multiplexing_api:epoll\r\n\
         atomicvar_api:c11-builtin\r\n\
         gcc_version:0.0.0\r\n\
         process_id:{}\r\n\
         process_supervised:no\r\n\
         run_id:{}\r\n\
         tcp_port:{}\r\n\
         server_time_usec:{}\r\n\
         uptime_in_seconds:{}\r\n\
         uptime_in_days:{}\r\n\
         hz:{}\r\n\
         configured_hz:{}\r\n\
         lru_clock:{}\r\n\
         executable:{}\r\n\
         config_file:{}\r\n\
         io_threads_active:0\r\n",
        env!("CARGO_PKG_VERSION"),
        os_string(),
        usize::BITS,
        std::process::id(),
        shared.run_id,
        shared.port.load(Ordering::Relaxed),
        crate::util::time::unix_us(),
        uptime,
        uptime / 86400,
        store.hz,
        store.cfg.hz,
        crate::util::time::lru_clock(),
        shared.executable,
        shared.config_file,
    );
    if store.shutdown.initiated() {
        let _ = write!(s, "shutdown_in_milliseconds:{}\r\n", store.shutdown.remaining_ms());
    }
}

fn clients_section(s: &mut String, _shared: &Shared, store: &Store) {
    let _ = write!(
        s,
        "# Clients\r\n\
         connected_clients:{}\r\n\
         cluster_connections:0\r\n\
         maxclients:{}\r\n\
         client_recent_max_input_buffer:{}\r\n\
         client_recent_max_output_buffer:{}\r\n\
         blocked_clients:{}\r\n\
         tracking_clients:0\r\n\
         clients_in_timeout_table:0\r\n",
        // Replicas are not counted, as in Redis.
        store.clients.len().saturating_sub(store.repl.replicas.len()),
        store.cfg.maxclients,
        store.clients.peak_input.iter().max().unwrap_or(&0),
        store.clients.peak_output.iter().max().unwrap_or(&0),
        store.pause.waiting_clients() + store.blocking.len() + store.shutdown.blocked,
    );
}

fn memory_section(s: &mut String, store: &Store) {
    // The same figures as MEMORY STATS (Redis's `getMemoryOverheadData`).
    let o = super::memory::overhead(store);
    let (used, active, resident, rss) = (o.total_allocated, o.allocator_active, o.allocator_resident, o.rss);
    let (peak, startup, backlog) = (o.peak_allocated, o.startup_allocated, o.repl_backlog);
    let (repl_buffers, replica_bufs) = (o.repl_backlog + o.clients_slaves, o.clients_slaves);
    let (overhead, dataset) = (o.overhead_total, o.dataset);
    let net = used.saturating_sub(startup);
    let pct = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 * 100.0 / b as f64 };
    let total = total_system_memory();
    let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let frag = ratio(rss, used);
    let maxmemory = store.cfg.maxmemory;
    let _ = write!(
        s,
        "# Memory\r\n\
         used_memory:{used}\r\n\
         used_memory_human:{}\r\n\
         used_memory_rss:{rss}\r\n\
         used_memory_rss_human:{}\r\n\
         used_memory_peak:{peak}\r\n\
         used_memory_peak_human:{}\r\n\
         used_memory_peak_perc:{:.2}%\r\n\
         used_memory_overhead:{overhead}\r\n\
         used_memory_startup:{startup}\r\n\
         used_memory_dataset:{dataset}\r\n\
         used_memory_dataset_perc:{:.2}%\r\n\
         allocator_allocated:{used}\r\n\
         allocator_active:{active}\r\n\
         allocator_resident:{resident}\r\n\
         total_system_memory:{total}\r\n\
         total_system_memory_human:{}\r\n\
         used_memory_lua:0\r\n\
         used_memory_vm_eval:0\r\n\
         used_memory_lua_human:0B\r\n\
         used_memory_scripts_eval:0\r\n\
         number_of_cached_scripts:0\r\n\
         number_of_functions:0\r\n\
         number_of_libraries:0\r\n\
         used_memory_vm_functions:0\r\n\
         used_memory_vm_total:0\r\n\
         used_memory_vm_total_human:0B\r\n\
         used_memory_functions:0\r\n\
         used_memory_scripts:0\r\n\
         used_memory_scripts_human:0B\r\n\
         maxmemory:{maxmemory}\r\n\
         maxmemory_human:{}\r\n\
         maxmemory_policy:{}\r\n\
         allocator_frag_ratio:{:.2}\r\n\
         allocator_frag_bytes:{}\r\n\
         allocator_rss_ratio:{:.2}\r\n\
         allocator_rss_bytes:{}\r\n\
         rss_overhead_ratio:{:.2}\r\n\
         rss_overhead_bytes:{}\r\n\
         mem_fragmentation_ratio:{frag:.2}\r\n\
         mem_fragmentation_bytes:{}\r\n\
         mem_not_counted_for_evict:0\r\n\
         mem_replication_backlog:{backlog}\r\n\
         mem_total_replication_buffers:{repl_buffers}\r\n\
         mem_clients_slaves:{replica_bufs}\r\n\
         mem_clients_normal:{}\r\n\
         mem_cluster_links:0\r\n\
         mem_aof_buffer:0\r\n\
         mem_allocator:jemalloc-5.3.0\r\n\
         active_defrag_running:0\r\n\
         lazyfree_pending_objects:{}\r\n\
         lazyfreed_objects:{}\r\n",
        bytes_to_human(used),
        bytes_to_human(rss),
        bytes_to_human(peak),
        pct(used, peak),
        pct(dataset, net.max(1)).min(100.0),
        bytes_to_human(total),
        bytes_to_human(maxmemory),
        store.cfg.maxmemory_policy.as_str(),
        ratio(active, used),
        active as i64 - used as i64,
        ratio(resident, active),
        resident as i64 - active as i64,
        ratio(rss, resident),
        rss as i64 - resident as i64,
        rss as i64 - used as i64,
        o.clients_normal,
        crate::keyspace::lazyfree::PENDING.load(std::sync::atomic::Ordering::Relaxed),
        crate::keyspace::lazyfree::FREED.load(std::sync::atomic::Ordering::Relaxed),
    );
}

fn persistence_section(s: &mut String, store: &Store) {
    // A replica receiving and decoding a full sync while it serves its old data (Redis's
    // async loading; other loads set `store.loading`).
    let async_loading = store.is_replica
        && store
            .repl
            .link
            .as_ref()
            .is_some_and(|l| l.async_loading && l.state == crate::replication::replica::LinkState::Transfer);
    let ci = &store.child_info;
    let _ = write!(
        s,
        "# Persistence\r\n\
         loading:{}\r\n\
         async_loading:{}\r\n\
         current_cow_peak:{}\r\n\
         current_cow_size:{}\r\n\
         current_cow_size_age:{}\r\n\
         current_fork_perc:{:.2}\r\n\
         current_save_keys_processed:{}\r\n\
         current_save_keys_total:{}\r\n\
         rdb_changes_since_last_save:{}\r\n\
         rdb_bgsave_in_progress:{}\r\n\
         rdb_last_save_time:{}\r\n\
         rdb_last_bgsave_status:{}\r\n\
         rdb_last_bgsave_time_sec:{}\r\n\
         rdb_current_bgsave_time_sec:{}\r\n\
         rdb_saves:{}\r\n\
         rdb_last_cow_size:{}\r\n\
         rdb_last_load_keys_expired:{}\r\n\
         rdb_last_load_keys_loaded:{}\r\n\
         aof_enabled:{}\r\n\
         aof_rewrite_in_progress:{}\r\n\
         aof_rewrite_scheduled:{}\r\n\
         aof_last_rewrite_time_sec:{}\r\n\
         aof_current_rewrite_time_sec:{}\r\n\
         aof_last_bgrewrite_status:{}\r\n\
         aof_rewrites:{}\r\n\
         aof_rewrites_consecutive_failures:{}\r\n\
         aof_last_write_status:{}\r\n\
         aof_last_cow_size:{}\r\n\
         module_fork_in_progress:0\r\n\
         module_fork_last_cow_size:0\r\n",
        u8::from(store.loading.is_some()),
        u8::from(async_loading),
        ci.cow_peak,
        ci.cow,
        ci.cow_age_secs(),
        ci.fork_perc(),
        ci.keys_processed,
        ci.keys_total,
        crate::persistence::snapshot::changes_since_save(store),
        store.bgsave.in_progress() as u8,
        store.lastsave,
        if store.bgsave.last_ok { "ok" } else { "err" },
        store.bgsave.last_secs,
        match (store.bgsave.in_progress(), store.bgsave.started_instant) {
            (true, Some(t)) => t.elapsed().as_secs() as i64,
            _ => -1,
        },
        store.rdb.saves,
        ci.rdb_last_cow,
        store.rdb.last_load_keys_expired,
        store.rdb.last_load_keys_loaded,
        u8::from(crate::persistence::aof::state(store) != crate::persistence::aof::AofState::Off),
        u8::from(store.aofrw.running.is_some()),
        u8::from(store.aofrw.scheduled),
        store.aofrw.last_secs,
        store.aofrw.current_secs(),
        if store.aofrw.last_ok { "ok" } else { "err" },
        store.aofrw.rewrites,
        store.aofrw.consecutive_failures,
        if store.aof.as_ref().is_some_and(|a| !a.last_write_ok) { "err" } else { "ok" },
        ci.aof_last_cow,
    );
    if let (true, size, base) = crate::persistence::aof::info(store) {
        let _ = write!(
            s,
            "aof_current_size:{size}\r\naof_base_size:{base}\r\naof_pending_rewrite:0\r\naof_buffer_length:0\r\n\
             aof_pending_bio_fsync:0\r\naof_delayed_fsync:0\r\n"
        );
    }
    if let Some(l) = &store.loading {
        s.push_str(&crate::server::loading::info_fields(l));
    }
}

fn stats_section(s: &mut String, store: &Store) {
    let st = &store.stats;
    let (ops, in_kbps, out_kbps) = rates(store);
    let (fork_usec, forks) = (store.bgsave.latest_fork_usec, store.bgsave.total_forks);
    let _ = write!(
        s,
        "# Stats\r\n\
         total_connections_received:{}\r\n\
         total_commands_processed:{}\r\n\
         instantaneous_ops_per_sec:{ops}\r\n\
         total_net_input_bytes:{}\r\n\
         total_net_output_bytes:{}\r\n\
         total_net_repl_input_bytes:0\r\n\
         total_net_repl_output_bytes:0\r\n\
         instantaneous_input_kbps:{in_kbps:.2}\r\n\
         instantaneous_output_kbps:{out_kbps:.2}\r\n\
         instantaneous_input_repl_kbps:0.00\r\n\
         instantaneous_output_repl_kbps:0.00\r\n\
         rejected_connections:{}\r\n\
         sync_full:{}\r\n\
         sync_partial_ok:{}\r\n\
         sync_partial_err:{}\r\n\
         expired_keys:{}\r\n\
         expired_stale_perc:{:.2}\r\n\
         expired_time_cap_reached_count:{}\r\n\
         expire_cycle_cpu_milliseconds:0\r\n\
         evicted_keys:{}\r\n\
         evicted_clients:0\r\n\
         total_eviction_exceeded_time:0\r\n\
         current_eviction_exceeded_time:0\r\n\
         keyspace_hits:{}\r\n\
         keyspace_misses:{}\r\n\
         pubsub_channels:{}\r\n\
         pubsub_patterns:{}\r\n\
         pubsubshard_channels:0\r\n\
         latest_fork_usec:{fork_usec}\r\n\
         total_forks:{forks}\r\n\
         migrate_cached_sockets:0\r\n\
         slave_expires_tracked_keys:0\r\n\
         active_defrag_hits:0\r\n\
         active_defrag_misses:0\r\n\
         active_defrag_key_hits:0\r\n\
         active_defrag_key_misses:0\r\n\
         total_active_defrag_time:0\r\n\
         current_active_defrag_time:0\r\n\
         tracking_total_keys:0\r\n\
         tracking_total_items:0\r\n\
         tracking_total_prefixes:0\r\n\
         unexpected_error_replies:{}\r\n\
         total_error_replies:{}\r\n\
         dump_payload_sanitizations:0\r\n\
         total_reads_processed:{}\r\n\
         total_writes_processed:{}\r\n\
         io_threaded_reads_processed:0\r\n\
         io_threaded_writes_processed:0\r\n\
         reply_buffer_shrinks:{}\r\n\
         reply_buffer_expands:{}\r\n",
        st.total_connections_received,
        st.total_commands_processed,
        st.total_net_input_bytes,
        st.total_net_output_bytes,
        st.rejected_connections,
        store.repl.stats.sync_full,
        store.repl.stats.sync_partial_ok,
        store.repl.stats.sync_partial_err,
        st.expired_keys,
        st.expired_stale_perc * 100.0,
        st.expired_time_cap_reached_count,
        st.evicted_keys,
        st.keyspace_hits,
        st.keyspace_misses,
        store.pubsub.channels.len(),
        store.pubsub.patterns.len(),
        st.unexpected_error_replies,
        st.total_error_replies,
        st.total_reads_processed,
        st.total_writes_processed,
        st.reply_buffer_shrinks,
        st.reply_buffer_expands,
    );
}

fn replication_section(s: &mut String, store: &Store) {
    use crate::replication::master::ReplicaState;
    let w = &store.stream;
    let repl = &store.repl;
    let active_mode = store.cfg.active_replica;
    let role = match (store.is_replica, active_mode) {
        (true, true) => "active-replica",
        (true, false) => "slave",
        (false, _) => "master",
    };
    let _ = write!(s, "# Replication\r\nrole:{role}\r\n");
    if let Some(l) = repl.link.as_ref().filter(|_| store.is_replica && active_mode) {
        let up = l.is_connected();
        let _ = write!(
            s,
            "master_global_link_status:{}\r\nconnected_masters:{}\r\n",
            if up { "up" } else { "down" },
            u8::from(up)
        );
    }
    if let Some(l) = repl.link.as_ref().filter(|_| store.is_replica) {
        // In active mode the offsets of the link are its own (this node's stream has
        // its own offset, `master_repl_offset` below).
        let link_offset = if active_mode { l.master_offset } else { w.offset() };
        let up = l.is_connected();
        let syncing = l.state == crate::replication::replica::LinkState::Transfer;
        let _ = write!(
            s,
            "master_host:{}\r\n\
             master_port:{}\r\n\
             master_link_status:{}\r\n\
             master_last_io_seconds_ago:{}\r\n\
             master_sync_in_progress:{}\r\n\
             slave_read_repl_offset:{}\r\n\
             slave_repl_offset:{}\r\n",
            l.host,
            l.port,
            if up { "up" } else { "down" },
            if up { l.last_io.elapsed().as_secs() as i64 } else { -1 },
            u8::from(syncing),
            if up && !active_mode { l.read_offset.max(w.offset()) } else { link_offset },
            link_offset,
        );
        if syncing {
            let total = l.sync_size;
            let read = l.sync_read as i64;
            let left = if total >= 0 { total - read } else { 0 };
            let perc = if total > 0 { read as f64 * 100.0 / total as f64 } else { 0.0 };
            let _ = write!(
                s,
                "master_sync_total_bytes:{total}\r\n\
                 master_sync_read_bytes:{read}\r\n\
                 master_sync_left_bytes:{left}\r\n\
                 master_sync_perc:{perc:.2}\r\n\
                 master_sync_last_io_seconds_ago:{}\r\n",
                l.last_io.elapsed().as_secs()
            );
        }
        if !up {
            let since = l.down_since.map_or(-1, |t| t.elapsed().as_secs() as i64);
            let _ = write!(s, "master_link_down_since_seconds:{since}\r\n");
        }
        let _ = write!(
            s,
            "slave_priority:{}\r\nslave_read_only:{}\r\nreplica_announced:{}\r\n",
            store.cfg.replica_priority,
            u8::from(store.cfg.replica_read_only),
            u8::from(store.cfg.replica_announced)
        );
    }
    let _ = write!(s, "connected_slaves:{}\r\n", repl.replicas.len());
    if store.cfg.min_replicas_to_write > 0 && store.cfg.min_replicas_max_lag > 0 {
        let _ = write!(s, "min_slaves_good_slaves:{}\r\n", crate::replication::master::good_replicas(store));
    }
    for (i, r) in repl.replicas.iter().enumerate() {
        let lag = if r.state == ReplicaState::Online { r.ack_time.elapsed().as_secs() } else { 0 };
        let _ = write!(
            s,
            "slave{i}:ip={},port={},state={},offset={},lag={lag}\r\n",
            r.ip,
            r.conf.listening_port,
            r.state.name(),
            r.ack_offset
        );
    }
    let active = w.backlog_active();
    let _ = write!(
        s,
        "master_failover_state:{}\r\n\
         master_replid:{}\r\n\
         master_replid2:{}\r\n\
         master_repl_offset:{}\r\n\
         second_repl_offset:{}\r\n\
         repl_backlog_active:{}\r\n\
         repl_backlog_size:{}\r\n\
         repl_backlog_first_byte_offset:{}\r\n\
         repl_backlog_histlen:{}\r\n",
        crate::replication::failover::state_name(store),
        repl.replid,
        repl.replid2,
        w.offset(),
        repl.second_offset,
        u8::from(active),
        w.capacity(),
        if active { w.first_offset() + 1 } else { 0 },
        w.histlen(),
    );
    if let Some(p) = repl.plain.as_ref() {
        // The stream the plain replicas of an active node follow (their `offset` above).
        let _ = write!(
            s,
            "active_plain_replid:{}\r\nactive_plain_repl_offset:{}\r\nactive_plain_replicas:{}\r\n",
            p.replid,
            p.stream.offset(),
            repl.replicas.iter().filter(|r| r.plain).count()
        );
    }
    if active_mode {
        // fluidB's active replication counters: how conflicts were settled.
        let a = &repl.active.stats;
        let tombs: usize = store.dbs.iter().map(|d| d.tombs.len()).sum();
        let counter_keys: usize = store.dbs.iter().map(|d| d.counters.len()).sum();
        let hash_keys: usize = store.dbs.iter().map(|d| d.counters.hashes.len()).sum();
        let fields: usize = store.dbs.iter().map(|d| d.counters.fields()).sum();
        let _ = write!(
            s,
            "active_uuid:{}\r\n\
             active_frames_applied:{}\r\n\
             active_frames_superseded:{}\r\n\
             active_conflicts:{}\r\n\
             active_counters_merged:{}\r\n\
             active_counters_duplicate:{}\r\n\
             active_counter_keys:{counter_keys}\r\n\
             active_counter_hash_keys:{hash_keys}\r\n\
             active_counter_fields:{fields}\r\n\
             active_states_sent:{}\r\n\
             active_states_applied:{}\r\n\
             active_own_frames_dropped:{}\r\n\
             active_tombstones:{tombs}\r\n\
             active_tombstones_forgotten:{}\r\n\
             active_keys_dropped_past_horizon:{}\r\n\
             active_ae_rounds:{}\r\n\
             active_ae_rounds_equal:{}\r\n\
             active_ae_keys_repaired:{}\r\n\
             active_ae_bytes:{}\r\n\
             active_ae_last_repair_ms:{}\r\n",
            String::from_utf8_lossy(&repl.active.uuid),
            a.frames_applied,
            a.frames_superseded,
            a.conflicts,
            a.counters_merged,
            a.counters_duplicate,
            a.states_sent,
            a.states_applied,
            a.own_frames_dropped,
            a.tombstones_forgotten,
            a.dropped_past_horizon,
            repl.active.ae.rounds,
            repl.active.ae.rounds_equal,
            repl.active.ae.keys_repaired,
            repl.active.ae.bytes,
            repl.active.ae.last_repair_ms,
        );
    }
}

fn cpu_section(s: &mut String) {
    let (sys, user) = rusage(libc::RUSAGE_SELF);
    let (csys, cuser) = rusage(libc::RUSAGE_CHILDREN);
    // The thread executing commands at this moment stands for Redis's main thread.
    let (tsys, tuser) = rusage(libc::RUSAGE_THREAD);
    let _ = write!(
        s,
        "# CPU\r\n\
         used_cpu_sys:{sys:.6}\r\n\
         used_cpu_user:{user:.6}\r\n\
         used_cpu_sys_children:{csys:.6}\r\n\
         used_cpu_user_children:{cuser:.6}\r\n\
         used_cpu_sys_main_thread:{tsys:.6}\r\n\
         used_cpu_user_main_thread:{tuser:.6}\r\n"
    );
}

fn commandstats_section(s: &mut String, store: &Store) {
    s.push_str("# Commandstats\r\n");
    let table = CommandTable::get();
    for (id, cs) in store.stats.commands.iter().enumerate() {
        if cs.calls == 0 && cs.failed_calls == 0 && cs.rejected_calls == 0 {
            continue;
        }
        let Some(cmd) = table.cmds.get(id) else { continue };
        let per = if cs.calls == 0 { 0.0 } else { cs.usec as f64 / cs.calls as f64 };
        let _ = write!(
            s,
            "cmdstat_{}:calls={},usec={},usec_per_call={:.2},rejected_calls={},failed_calls={}\r\n",
            cmd.fullname, cs.calls, cs.usec, per, cs.rejected_calls, cs.failed_calls
        );
    }
}

/// `latency_percentiles_usec_<cmd>:p50=...,p99=...` for every command with a latency
/// histogram, at the `latency-tracking-info-percentiles` (Redis's
/// `fillPercentileDistributionLatencies`); empty while `latency-tracking` is off.
fn latencystats_section(s: &mut String, store: &Store) {
    s.push_str("# Latencystats\r\n");
    if !store.cfg.latency_tracking {
        return;
    }
    let table = CommandTable::get();
    let percentiles = &store.cfg.latency_tracking_info_percentiles;
    for (id, h) in store.stats.histograms.iter().enumerate() {
        let (Some(h), Some(cmd)) = (h, table.cmds.get(id)) else { continue };
        let _ = write!(s, "latency_percentiles_usec_{}:", cmd.fullname);
        for (j, &p) in percentiles.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            let _ = write!(s, "p{}={:.3}", trim_percentile(p), h.value_at_percentile(p) as f64 / 1000.0);
        }
        s.push_str("\r\n");
    }
}

/// A percentile as Redis prints it: `%f`, then trailing zeros and a bare point trimmed
/// (`trimDoubleString`): 50 -> "50", 99.9 -> "99.9".
fn trim_percentile(p: f64) -> String {
    let f = format!("{p:.6}");
    if f.contains('.') {
        f.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        f
    }
}

fn errorstats_section(s: &mut String, store: &Store) {
    s.push_str("# Errorstats\r\n");
    let mut errs: Vec<_> = store.stats.errors.iter().collect();
    errs.sort();
    for (code, n) in errs {
        let _ = write!(s, "errorstat_{code}:count={n}\r\n");
    }
}

fn keyspace_section(s: &mut String, store: &Store) {
    s.push_str("# Keyspace\r\n");
    for (i, db) in store.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        let _ = write!(s, "db{i}:keys={},expires={},avg_ttl={}\r\n", db.len(), db.expires.len(), db.avg_ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_selection_follows_redis() {
        assert_eq!(select_sections(&[]).len(), 11);
        assert_eq!(select_sections(&[b"all"]).len(), SECTIONS.len());
        assert_eq!(select_sections(&[b"CPU", b"nosuch", b"server"]), vec!["server", "cpu"]);
        assert_eq!(select_sections(&[b"default", b"commandstats"]).len(), 12);
        assert!(select_sections(&[b"nosuch"]).is_empty());
    }

    #[test]
    fn percentile_labels() {
        assert_eq!(trim_percentile(50.0), "50");
        assert_eq!(trim_percentile(99.9), "99.9");
        assert_eq!(trim_percentile(0.0), "0");
        assert_eq!(trim_percentile(100.0), "100");
        assert_eq!(trim_percentile(99.99), "99.99");
    }

    #[test]
    fn human_bytes() {
        assert_eq!(bytes_to_human(0), "0B");
        assert_eq!(bytes_to_human(1023), "1023B");
        assert_eq!(bytes_to_human(1163256), "1.11M");
        assert_eq!(bytes_to_human(25276502016), "23.54G");
    }
}
