//! MEMORY (Redis's object.c `memoryCommand`): USAGE, STATS, DOCTOR, MALLOC-STATS, PURGE,
//! HELP, and the raw jemalloc controls behind them and DEBUG MALLCTL / MALLCTL-STR.
//!
//! MEMORY USAGE measures fluidB's own representations, not Redis's: a key costs its dict
//! node (key inline up to 22 bytes, value, TTL and metadata in one allocation) plus the
//! key bytes beyond the node, and the value what it owns on the heap, every allocation
//! rounded to jemalloc's size class. Large collections are sampled as Redis's
//! `objectComputeSize` samples them: their first `SAMPLES` elements (default 5, 0 for
//! all) are measured, averaged and multiplied by the length.
//!
//! MEMORY STATS and INFO memory share [`overhead`] (Redis's `getMemoryOverheadData`).

use std::ffi::{c_char, c_void, CStr, CString};

use super::call::{err, Ctx};
use super::strings::{kw, spec};
use super::table::{flags::*, Command, KeySpec};
use crate::keyspace::dict::Dict;
use crate::keyspace::{Entry, RStr, Value};
use crate::server::store::Store;
use crate::types::{heap_alloc, Hash, List, Set, ZSet};
use crate::util::numeric::string2ll;

const TIPS_SPECIAL: &[&str] = &["nondeterministic_output", "request_policy:all_shards", "response_policy:special"];
const MAYBE_SLOW: &str = "Depends on how much memory is allocated, could be slow";
const RO: &[KeySpec] = &[spec("", &["RO"], 2, 0, 1)];

pub static COMMANDS: &[Command] = &[Command {
    name: "memory",
    arity: -2,
    group: "server",
    since: "4.0.0",
    summary: "A container for memory diagnostics commands",
    complexity: "Depends on subcommand.",
    subcommands: SUBCOMMANDS,
    ..Command::DEFAULT
}];

/// A MEMORY subcommand: group "server", since 4.0.0.
const fn sub(name: &'static str, arity: i32, handler: super::table::Handler, summary: &'static str) -> Command {
    Command { name, arity, handler, group: "server", since: "4.0.0", summary, ..Command::DEFAULT }
}

static SUBCOMMANDS: &[Command] = &[
    Command { tips: TIPS_SPECIAL, ..sub("doctor", 2, doctor, "Outputs memory problems report") },
    Command { flags: LOADING | STALE, ..sub("help", 2, help, "Show helpful text about the different subcommands") },
    Command {
        complexity: MAYBE_SLOW,
        tips: TIPS_SPECIAL,
        ..sub("malloc-stats", 2, malloc_stats, "Show allocator internal stats")
    },
    Command {
        complexity: MAYBE_SLOW,
        tips: &["request_policy:all_shards", "response_policy:all_succeeded"],
        ..sub("purge", 2, purge, "Ask the allocator to release memory")
    },
    Command { tips: TIPS_SPECIAL, ..sub("stats", 2, stats, "Show memory usage details") },
    Command {
        flags: READONLY,
        first_key: 2,
        last_key: 2,
        key_step: 1,
        key_specs: RO,
        complexity: "O(N) where N is the number of samples.",
        ..sub("usage", -3, usage, "Estimate the memory usage of a key")
    },
];

const HELP: &[&str] = &[
    "MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "DOCTOR",
    "    Return memory problems reports.",
    "MALLOC-STATS",
    "    Return internal statistics report from the memory allocator.",
    "PURGE",
    "    Attempt to purge dirty pages for reclamation by the allocator.",
    "STATS",
    "    Return information about the memory usage of the server.",
    "USAGE <key> [SAMPLES <count>]",
    "    Return memory in bytes used by <key> and its value. Nested values are",
    "    sampled up to <count> times (default: 5, 0 means sample all).",
    "HELP",
    "    Prints this help.",
];

fn help(ctx: &mut Ctx) {
    super::client_cmd::help_reply(ctx.out, HELP);
}

// ---- MEMORY USAGE ----

/// Redis's `OBJ_COMPUTE_SIZE_DEF_SAMPLES`.
const DEFAULT_SAMPLES: usize = 5;

/// MEMORY USAGE key [SAMPLES count]. The key is found as Redis finds it (`dictFind`): no
/// expiry check, no statistics, no access time change.
fn usage(ctx: &mut Ctx) {
    let argv = ctx.argv;
    let mut samples = DEFAULT_SAMPLES;
    let mut j = 3;
    while j < argv.len() {
        if kw(&argv[j], b"samples") && j + 1 < argv.len() {
            let Some(n) = string2ll(&argv[j + 1]) else { return ctx.out.error(err::NOT_INT) };
            if n < 0 {
                return ctx.syntax_error();
            }
            samples = if n == 0 { usize::MAX } else { usize::try_from(n).unwrap_or(usize::MAX) };
            j += 2;
        } else {
            return ctx.syntax_error();
        }
    }
    let db = ctx.db();
    match ctx.store.dbs[db].main.get_key_value(&argv[2]) {
        None => ctx.out.null(),
        Some((key, e)) => {
            let n = Dict::<Entry>::node_bytes() + heap_alloc(key.heap_len()) + value_usage(&e.val, samples);
            ctx.out.int(n as i64)
        }
    }
}

/// The heap a value owns beyond its key's dict node (which holds the `Value` itself):
/// a string's bytes (nothing for an integer), a collection's box and its contents.
pub fn value_usage(v: &Value, samples: usize) -> usize {
    use std::mem::size_of;
    match v {
        Value::Str(RStr::Int(_)) => 0,
        Value::Str(RStr::Emb(b)) => heap_alloc(b.len()),
        Value::Str(RStr::Raw(b)) => heap_alloc(b.capacity()),
        Value::List(l) => heap_alloc(size_of::<List>()) + l.mem_usage(samples),
        Value::Hash(h) => heap_alloc(size_of::<Hash>()) + h.mem_usage(samples),
        Value::Set(s) => heap_alloc(size_of::<Set>()) + s.mem_usage(samples),
        Value::ZSet(z) => heap_alloc(size_of::<ZSet>()) + z.mem_usage(samples),
    }
}

// ---- MEMORY STATS / DOCTOR ----

/// Per-client memory assumed by INFO's `mem_clients_normal` (fluidB does not account a
/// connection's buffers, which live in its task): Redis's 16 KB reply buffer.
pub const CLIENT_BYTES: u64 = 16 * 1024;

/// Redis's `struct redisMemOverhead`, for MEMORY STATS, MEMORY DOCTOR and INFO memory.
#[derive(Debug, Clone, Default)]
pub struct Overhead {
    pub peak_allocated: u64,
    pub total_allocated: u64,
    pub startup_allocated: u64,
    pub repl_backlog: u64,
    pub clients_slaves: u64,
    pub clients_normal: u64,
    pub aof_buffer: u64,
    /// (db index, main table overhead, expires table overhead) of each non-empty db.
    pub dbs: Vec<(usize, u64, u64)>,
    pub overhead_total: u64,
    pub total_keys: u64,
    pub bytes_per_key: u64,
    pub dataset: u64,
    pub dataset_perc: f32,
    pub peak_perc: f32,
    pub allocator_allocated: u64,
    pub allocator_active: u64,
    pub allocator_resident: u64,
    pub rss: u64,
}

impl Overhead {
    fn ratio(a: u64, b: u64) -> f32 {
        a as f32 / b as f32
    }
    /// rss / allocated: the total RSS overhead (`fragmentation`).
    pub fn total_frag(&self) -> f32 {
        Self::ratio(self.rss, self.total_allocated)
    }
    pub fn allocator_frag(&self) -> f32 {
        Self::ratio(self.allocator_active, self.allocator_allocated)
    }
    pub fn allocator_rss(&self) -> f32 {
        Self::ratio(self.allocator_resident, self.allocator_active)
    }
    pub fn rss_extra(&self) -> f32 {
        Self::ratio(self.rss, self.allocator_resident)
    }
}

/// Redis's `getMemoryOverheadData`: what the server spends beyond the dataset. The
/// per-database figures are fluidB's own tables: bucket arrays and one node per key
/// (the node holds the key up to 22 bytes and the value header, Redis's dictEntry and
/// robj).
pub fn overhead(store: &Store) -> Overhead {
    let (allocated, active, resident) = super::info::jemalloc_stats().unwrap_or_else(|| {
        let rss = super::info::rss_bytes();
        (rss, rss, rss)
    });
    let (peak, startup) = super::info::peak_and_startup(allocated);
    // The backlog and the replicas share one replication buffer: beyond the backlog's
    // size (while replicas are attached) it counts as the replicas' (Redis's rule).
    let repl_buffers = store.stream.buffer_mem() as u64;
    let backlog_size = store.stream.capacity() as u64;
    let (repl_backlog, clients_slaves) = if !store.repl.replicas.is_empty() && repl_buffers > backlog_size {
        (backlog_size, repl_buffers - backlog_size)
    } else {
        (repl_buffers, 0)
    };
    let mut o = Overhead {
        peak_allocated: peak,
        total_allocated: allocated,
        startup_allocated: startup,
        repl_backlog,
        clients_slaves,
        clients_normal: store.clients.len() as u64 * CLIENT_BYTES,
        allocator_allocated: allocated,
        allocator_active: active,
        allocator_resident: resident,
        rss: super::info::rss_bytes(),
        ..Overhead::default()
    };
    let mut total = o.startup_allocated + o.repl_backlog + o.clients_slaves + o.clients_normal + o.aof_buffer;
    for db in &store.dbs {
        if db.is_empty() {
            continue;
        }
        let main = db.main.overhead_bytes() as u64;
        let expires = db.expires.overhead_bytes() as u64;
        o.total_keys += db.len() as u64;
        o.dbs.push((db.id, main, expires));
        total += main + expires;
    }
    o.overhead_total = total;
    o.dataset = allocated.saturating_sub(total);
    o.peak_perc = allocated as f32 * 100.0 / peak.max(1) as f32;
    let net = if allocated > startup { allocated - startup } else { 1 };
    o.dataset_perc = o.dataset as f32 * 100.0 / net as f32;
    o.bytes_per_key = net.checked_div(o.total_keys).unwrap_or(0);
    o
}

fn stats(ctx: &mut Ctx) {
    use crate::protocol::Reply;
    fn int(out: &mut Reply, name: &str, v: u64) {
        out.bulk(name.as_bytes());
        out.int(v as i64);
    }
    fn signed(out: &mut Reply, name: &str, a: u64, b: u64) {
        out.bulk(name.as_bytes());
        out.int(a as i64 - b as i64);
    }
    fn dbl(out: &mut Reply, name: &str, v: f32) {
        out.bulk(name.as_bytes());
        out.double(v as f64);
    }
    let o = overhead(ctx.store);
    let out = &mut *ctx.out;
    out.map(27 + o.dbs.len());
    int(out, "peak.allocated", o.peak_allocated);
    int(out, "total.allocated", o.total_allocated);
    int(out, "startup.allocated", o.startup_allocated);
    int(out, "replication.backlog", o.repl_backlog);
    int(out, "clients.slaves", o.clients_slaves);
    int(out, "clients.normal", o.clients_normal);
    int(out, "cluster.links", 0);
    int(out, "aof.buffer", o.aof_buffer);
    int(out, "lua.caches", 0);
    int(out, "functions.caches", 0);
    for &(id, main, expires) in &o.dbs {
        out.bulk(format!("db.{id}").as_bytes());
        out.map(3);
        int(out, "overhead.hashtable.main", main);
        int(out, "overhead.hashtable.expires", expires);
        int(out, "overhead.hashtable.slot-to-keys", 0);
    }
    int(out, "overhead.total", o.overhead_total);
    int(out, "keys.count", o.total_keys);
    int(out, "keys.bytes-per-key", o.bytes_per_key);
    int(out, "dataset.bytes", o.dataset);
    dbl(out, "dataset.percentage", o.dataset_perc);
    dbl(out, "peak.percentage", o.peak_perc);
    int(out, "allocator.allocated", o.allocator_allocated);
    int(out, "allocator.active", o.allocator_active);
    int(out, "allocator.resident", o.allocator_resident);
    dbl(out, "allocator-fragmentation.ratio", o.allocator_frag());
    signed(out, "allocator-fragmentation.bytes", o.allocator_active, o.allocator_allocated);
    dbl(out, "allocator-rss.ratio", o.allocator_rss());
    signed(out, "allocator-rss.bytes", o.allocator_resident, o.allocator_active);
    dbl(out, "rss-overhead.ratio", o.rss_extra());
    signed(out, "rss-overhead.bytes", o.rss, o.allocator_resident);
    dbl(out, "fragmentation", o.total_frag());
    signed(out, "fragmentation.bytes", o.rss, o.total_allocated);
}

/// Redis's `getMemoryDoctorReport`, its thresholds and texts.
pub fn doctor_report(store: &Store) -> String {
    const MB: u64 = 1024 * 1024;
    let o = overhead(store);
    if o.total_allocated < 5 * MB {
        return "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.\n".into();
    }
    let over = |a: u64, b: u64| a as i64 - b as i64 > 10 << 20;
    let mut issues: Vec<String> = Vec::new();
    if o.peak_allocated as f32 / o.total_allocated as f32 > 1.5 {
        issues.push(" * Peak memory: In the past this instance used more than 150% the memory that is currently using. The allocator is normally not able to release memory after a peak, so you can expect to see a big fragmentation ratio, however this is actually harmless and is only due to the memory peak, and if the Redis instance Resident Set Size (RSS) is currently bigger than expected, the memory will be used as soon as you fill the Redis instance with more data. If the memory peak was only occasional and you want to try to reclaim memory, please try the MEMORY PURGE command, otherwise the only other option is to shutdown and restart the instance.\n\n".into());
    }
    if o.total_frag() > 1.4 && over(o.rss, o.total_allocated) {
        issues.push(format!(" * High total RSS: This instance has a memory fragmentation and RSS overhead greater than 1.4 (this means that the Resident Set Size of the Redis process is much larger than the sum of the logical allocations Redis performed). This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. If the problem is a large peak memory, then there is no issue. Otherwise, make sure you are using the Jemalloc allocator and not the default libc malloc. Note: The currently used allocator is \"{ALLOCATOR}\".\n\n"));
    }
    if o.allocator_frag() > 1.1 && over(o.allocator_active, o.allocator_allocated) {
        issues.push(" * High allocator fragmentation: This instance has an allocator external fragmentation greater than 1.1. This problem is usually due either to a large peak memory (check if there is a peak memory entry above in the report) or may result from a workload that causes the allocator to fragment memory a lot. You can try enabling 'activedefrag' config option.\n\n".into());
    }
    if o.allocator_rss() > 1.1 && over(o.allocator_resident, o.allocator_active) {
        issues.push(" * High allocator RSS overhead: This instance has an RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the allocator is much larger than the sum what the allocator actually holds). This problem is usually due to a large peak memory (check if there is a peak memory entry above in the report), you can try the MEMORY PURGE command to reclaim it.\n\n".into());
    }
    if o.rss_extra() > 1.1 && over(o.rss, o.allocator_resident) {
        issues.push(" * High process RSS overhead: This instance has non-allocator RSS memory overhead is greater than 1.1 (this means that the Resident Set Size of the Redis process is much larger than the RSS the allocator holds). This problem may be due to Lua scripts or Modules.\n\n".into());
    }
    // Replicas are not counted apart (clients.slaves is 0), so every client is "normal".
    if o.clients_normal / (store.clients.len() as u64).max(1) > 1024 * 200 {
        issues.push(" * Big client buffers: The clients output buffers in this instance are greater than 200K per client (on average). This may result from different causes, like Pub/Sub clients subscribed to channels bot not receiving data fast enough, so that data piles on the Redis instance output buffer, or clients sending commands with large replies or very large sequences of commands in the same pipeline. Please use the CLIENT LIST command in order to investigate the issue if it causes problems in your instance, or to understand better why certain clients are using a big amount of memory.\n\n".into());
    }
    if issues.is_empty() {
        return "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base.\n"
            .into();
    }
    let mut s = String::from("Sam, I detected a few issues in this Redis instance memory implants:\n\n");
    issues.iter().for_each(|i| s.push_str(i));
    s.push_str("I'm here to keep you safe, Sam. I want to help you.\n");
    s
}

/// Redis's `ZMALLOC_LIB` for jemalloc builds (INFO's `mem_allocator`).
pub const ALLOCATOR: &str = "jemalloc-5.3.0";

fn doctor(ctx: &mut Ctx) {
    let r = doctor_report(ctx.store);
    ctx.out.verbatim(r.as_bytes(), "txt");
}

// ---- MALLOC-STATS, PURGE and the raw jemalloc controls ----

fn malloc_stats(ctx: &mut Ctx) {
    let s = jemalloc_stats_text();
    ctx.out.verbatim(&s, "txt");
}

fn purge(ctx: &mut Ctx) {
    if jemalloc_purge() {
        ctx.out.ok();
    } else {
        ctx.out.error("Error purging dirty pages");
    }
}

/// `je_malloc_stats_print` with Redis's defaults (all sections), as text.
pub fn jemalloc_stats_text() -> Vec<u8> {
    unsafe extern "C" fn append(opaque: *mut c_void, s: *const c_char) {
        // SAFETY: `opaque` is the `Vec<u8>` passed below, alive and exclusively ours for
        // the duration of `malloc_stats_print`; `s` is a NUL-terminated string from jemalloc.
        unsafe {
            let out = &mut *(opaque as *mut Vec<u8>);
            out.extend_from_slice(CStr::from_ptr(s).to_bytes());
        }
    }
    let mut out: Vec<u8> = Vec::new();
    // SAFETY: the callback only appends to `out` (see above); a null `opts` means defaults.
    unsafe {
        tikv_jemalloc_sys::malloc_stats_print(Some(append), &mut out as *mut Vec<u8> as *mut c_void, std::ptr::null());
    }
    out
}

/// Redis's `jemalloc_purge`: returns every arena's unused dirty pages to the OS
/// (`arena.<narenas>.purge`, the index meaning all arenas). False on failure.
pub fn jemalloc_purge() -> bool {
    let mut narenas: u32 = 0;
    let mut sz = std::mem::size_of::<u32>();
    // SAFETY: `arenas.narenas` is an unsigned read into a buffer of its size.
    let r = unsafe {
        tikv_jemalloc_sys::mallctl(
            c"arenas.narenas".as_ptr(),
            &mut narenas as *mut u32 as *mut c_void,
            &mut sz,
            std::ptr::null_mut(),
            0,
        )
    };
    if r != 0 {
        return false;
    }
    let Ok(name) = CString::new(format!("arena.{narenas}.purge")) else { return false };
    // SAFETY: `arena.<i>.purge` takes no input and gives no output.
    unsafe {
        tikv_jemalloc_sys::mallctl(name.as_ptr(), std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut(), 0)
            == 0
    }
}

/// A mallctl name as C sees an sds argument: up to its first NUL.
fn c_name(name: &[u8]) -> CString {
    let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
    CString::new(&name[..end]).unwrap_or_default()
}

/// C's `strerror` for an errno value.
fn strerror(code: i32) -> String {
    let s = std::io::Error::from_raw_os_error(code).to_string();
    match s.rfind(" (os error ") {
        Some(n) => s[..n].to_string(),
        None => s,
    }
}

/// mallctl names whose value is a pointer (hooks, a string given as a number): Redis
/// would hand jemalloc the integer as that pointer, and jemalloc would follow it. They are
/// refused with EINVAL; reading them as integers is harmless and allowed.
fn takes_pointer(name: &str) -> bool {
    name.contains("hooks")
        || name.starts_with("experimental.")
        || name == "arenas.create"
        || name == "prof.dump"
        || name == "prof.prefix"
        || name == "thread.prof.name"
        || (name.starts_with("arena.") && name.ends_with(".dss"))
}

/// mallctl names whose value is a C string (`const char *`): the only ones MALLCTL-STR
/// reads or writes. Redis reads any name as a string pointer, which crashes it on a
/// number; here other names answer EINVAL unless the write is VOID.
fn is_string_ctl(name: &str) -> bool {
    matches!(
        name,
        "version"
            | "config.malloc_conf"
            | "opt.dss"
            | "opt.metadata_thp"
            | "opt.thp"
            | "opt.percpu_arena"
            | "opt.junk"
            | "opt.prof_prefix"
            | "opt.stats_print_opts"
            | "opt.stats_interval_opts"
            | "opt.zero_realloc"
            | "prof.dump"
            | "prof.prefix"
            | "thread.prof.name"
    ) || (name.starts_with("arena.") && name.ends_with(".dss"))
}

/// Whether jemalloc knows the mallctl name (ENOENT when not), without running it (a
/// name may be an action such as `arena.0.destroy`).
fn ctl_exists(name: &CStr) -> Result<(), i32> {
    let mut mib = [0usize; 8];
    let mut len = mib.len();
    // SAFETY: `mib` has room for `len` components, which jemalloc fills and updates.
    let r = unsafe { tikv_jemalloc_sys::mallctlnametomib(name.as_ptr(), mib.as_mut_ptr(), &mut len) };
    if r == 0 {
        Ok(())
    } else {
        Err(r)
    }
}

/// What DEBUG MALLCTL / MALLCTL-STR answer.
pub enum MallctlReply {
    Int(i64),
    Str(Option<Vec<u8>>),
    Ok,
    Err(String),
}

/// Redis's `mallctl_int` (debug.c): reads (and with `val`, writes) an integer option,
/// trying 8, 4, 2 then 1 bytes; a write-only option is written alone.
pub fn mallctl_int(name: &[u8], val: Option<i64>) -> MallctlReply {
    let cname = c_name(name);
    let name_str = cname.to_string_lossy();
    if val.is_some() && takes_pointer(&name_str) {
        return MallctlReply::Err(strerror(libc::EINVAL));
    }
    let mut newval = val.unwrap_or(0);
    let newp = |v: &mut i64| if val.is_some() { v as *mut i64 as *mut c_void } else { std::ptr::null_mut() };
    let mut old: i64 = 0;
    let mut sz = std::mem::size_of::<i64>();
    while sz > 0 {
        let newlen = if val.is_some() { sz } else { 0 };
        // SAFETY: `old` has room for 8 bytes and `sz` never exceeds 8; the new value, when
        // given, is an 8-byte integer of which jemalloc reads `newlen` <= 8 bytes; options
        // taking pointers were refused above.
        let ret = unsafe {
            tikv_jemalloc_sys::mallctl(
                cname.as_ptr(),
                &mut old as *mut i64 as *mut c_void,
                &mut sz,
                newp(&mut newval),
                newlen,
            )
        };
        if ret == 0 {
            return MallctlReply::Int(old);
        }
        if ret == libc::EPERM && val.is_some() {
            // A write-only option: write it alone.
            // SAFETY: as above, without an output buffer.
            let w = unsafe {
                tikv_jemalloc_sys::mallctl(
                    cname.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    newp(&mut newval),
                    sz,
                )
            };
            if w == 0 {
                return MallctlReply::Ok;
            }
            if w != libc::EINVAL {
                return MallctlReply::Err(strerror(w));
            }
        } else if ret != libc::EINVAL {
            return MallctlReply::Err(strerror(ret));
        }
        // The size might be wrong: try a smaller one.
        sz /= 2;
    }
    MallctlReply::Err(strerror(libc::EINVAL))
}

/// Redis's `mallctl_string` (debug.c): reads a string option, then with `val` writes it
/// (`VOID` writes nothing, for options that only act, like `thread.tcache.flush`).
pub fn mallctl_str(name: &[u8], val: Option<&[u8]>) -> MallctlReply {
    let cname = c_name(name);
    let string_ctl = is_string_ctl(&cname.to_string_lossy());
    let mut old: *const c_char = std::ptr::null();
    let mut sz = std::mem::size_of::<*const c_char>();
    let rret = if string_ctl {
        // SAFETY: a string option's value is a `const char *`, which fits `old`.
        unsafe {
            tikv_jemalloc_sys::mallctl(
                cname.as_ptr(),
                &mut old as *mut *const c_char as *mut c_void,
                &mut sz,
                std::ptr::null_mut(),
                0,
            )
        }
    } else {
        match ctl_exists(&cname) {
            Err(e) => e,
            // Not readable as a string: what jemalloc answers a write-only option.
            Ok(()) if val.is_some() => libc::EPERM,
            Ok(()) => libc::EINVAL,
        }
    };
    if rret != 0 && !(rret == libc::EPERM && val.is_some()) {
        return MallctlReply::Err(strerror(rret));
    }
    // The read value first: a write may free the string it points to.
    let read = (rret == 0).then(|| {
        // SAFETY: jemalloc returned a NUL-terminated string (or null) for a string option.
        (!old.is_null()).then(|| unsafe { CStr::from_ptr(old) }.to_bytes().to_vec())
    });
    let mut wret = 0;
    if let Some(v) = val {
        let cval = c_name(v);
        if cval.as_bytes() == b"VOID" {
            // SAFETY: no input, no output.
            wret = unsafe {
                tikv_jemalloc_sys::mallctl(
                    cname.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    0,
                )
            };
        } else if string_ctl {
            let mut p: *const c_char = cval.as_ptr();
            // SAFETY: the option takes a `const char *`; `cval` outlives the call.
            wret = unsafe {
                tikv_jemalloc_sys::mallctl(
                    cname.as_ptr(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    &mut p as *mut *const c_char as *mut c_void,
                    std::mem::size_of::<*const c_char>(),
                )
            };
        } else {
            wret = libc::EINVAL;
        }
    }
    match read {
        Some(s) => MallctlReply::Str(s),
        None if wret != 0 => MallctlReply::Err(strerror(wret)),
        None => MallctlReply::Ok,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mallctl_reads_integers_and_refuses_pointers() {
        assert!(matches!(mallctl_int(b"arenas.page", None), MallctlReply::Int(p) if p >= 4096));
        assert!(matches!(mallctl_int(b"no.such.ctl", None), MallctlReply::Err(e) if e == "No such file or directory"));
        assert!(
            matches!(mallctl_int(b"arena.0.extent_hooks", Some(1)), MallctlReply::Err(e) if e == "Invalid argument")
        );
        assert!(matches!(mallctl_str(b"version", None), MallctlReply::Str(Some(v)) if v.starts_with(b"5.")));
        assert!(matches!(mallctl_str(b"thread.tcache.flush", Some(b"VOID")), MallctlReply::Ok));
        assert!(matches!(mallctl_str(b"arenas.page", None), MallctlReply::Err(_)));
        assert!(jemalloc_purge());
        assert!(String::from_utf8_lossy(&jemalloc_stats_text()).contains("jemalloc statistics"));
    }
}
