//! DEBUG (Redis's debug.c): SLEEP, SET-ACTIVE-EXPIRE, OBJECT, DIGEST, DIGEST-VALUE,
//! PROTOCOL, LOG, ERROR, LISTPACK, QUICKLIST, QUICKLIST-PACKED-THRESHOLD, HTSTATS,
//! HTSTATS-KEY, MALLCTL, MALLCTL-STR, REPLYBUFFER, HELP; the persistence ones (RELOAD,
//! LOADAOF, AOF-FLUSH-SLEEP, SET-SKIP-CHECKSUM-VALIDATION) and the crashes (SEGFAULT,
//! PANIC, ASSERT, OOM).
//!
//! DEBUG DIGEST / DIGEST-VALUE return exactly what Redis 7.0 returns for the same dataset:
//! `xorObjectDigest`/`computeDatasetDigest` below, over the `xorDigest`/`mixDigest` ports
//! in `util::digest`.

use bytes::Bytes;

use super::call::{Ctx, Flow};
use super::client_cmd::{help_reply, subcommand_syntax_error};
use super::table::{acl, flags::*, Command};
use crate::config::cstr::atoi;
use crate::keyspace::{Db, RStr, Value};
use crate::server::client::Client;
use crate::server::store::Store;
use crate::types::rdb_len_len;
use crate::util::digest::{digest_to_hex as digest_hex, mix_digest, xor_digest};

pub static COMMANDS: &[Command] = &[Command {
    name: "debug",
    arity: -2,
    flags: ADMIN | NOSCRIPT | LOADING | STALE,
    acl: acl::DANGEROUS,
    handler: debug,
    group: "server",
    summary: "A container for debugging commands",
    complexity: "Depends on subcommand.",
    doc_flags: &["syscmd"],
    ..Command::DEFAULT
}];

/// Redis's refusal when `enable-debug-command` does not allow this client.
pub const NOT_ALLOWED: &str = "DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

/// Redis's `allowProtectedAction` for `enable-debug-command` (yes / local / no).
pub fn allowed(store: &Store, client: &Client) -> bool {
    match store.cfg.enable_debug_command.as_str() {
        "yes" => true,
        "local" => {
            let a = &client.shared.addr;
            client.is_unix || a.starts_with("127.0.0.1:") || a.starts_with("[::1]:")
        }
        _ => false,
    }
}

const HELP: &[&str] = &[
    "DEBUG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "AOF-FLUSH-SLEEP <microsec>",
    "    Server will sleep before flushing the AOF, this is used for testing.",
    "ASSERT",
    "    Crash by assertion failed.",
    "CHANGE-REPL-ID",
    "    Change the replication IDs of the instance.",
    "    Dangerous: should be used only for testing the replication subsystem.",
    "DIGEST",
    "    Output a hex signature representing the current DB content.",
    "DIGEST-VALUE <key> [<key> ...]",
    "    Output a hex signature of the values of all the specified keys.",
    "ERROR <string>",
    "    Return a Redis protocol error with <string> as message. Useful for clients",
    "    unit tests to simulate Redis errors.",
    "LOG <message>",
    "    Write <message> to the server log.",
    "HTSTATS <dbid>",
    "    Return hash table statistics of the specified Redis database.",
    "HTSTATS-KEY <key>",
    "    Like HTSTATS but for the hash table stored at <key>'s value.",
    "MALLCTL <key> [<val>]",
    "    Get or set a malloc tuning integer.",
    "MALLCTL-STR <key> [<val>]",
    "    Get or set a malloc tuning string.",
    "LOADAOF",
    "    Flush the AOF buffers on disk and reload the AOF in memory.",
    "OBJECT <key>",
    "    Show low level info about `key` and associated value.",
    "OOM",
    "    Crash the server simulating an out-of-memory error.",
    "PANIC",
    "    Crash the server simulating a panic.",
    "POPULATE <count> [<prefix>] [<size>]",
    "    Create <count> string keys named key:<num>. If <prefix> is specified then",
    "    it is used instead of the 'key' prefix. These are not propagated to",
    "    replicas. Cluster slots are not respected so keys not belonging to the",
    "    current node can be created in cluster mode.",
    "PROTOCOL <type>",
    "    Reply with a test value of the specified type. <type> can be: string,",
    "    integer, double, bignum, null, array, set, map, attrib, push, verbatim,",
    "    true, false.",
    "REPLYBUFFER PEAK-RESET-TIME <NEVER||RESET|time>",
    "    Sets the time (in milliseconds) to wait between client reply buffer peak resets.",
    "    In case NEVER is provided the last observed peak will never be reset",
    "    In case RESET is provided the peak reset time will be restored to the default value",
    "REPLYBUFFER RESIZING <0|1>",
    "    Enable or disable the reply buffer resize cron job",
    "SEGFAULT",
    "    Crash the server with sigsegv.",
    "SET-ACTIVE-EXPIRE <0|1>",
    "    Setting it to 0 disables expiring keys in background when they are not",
    "    accessed (otherwise the Redis behavior). Setting it to 1 reenables back the",
    "    default.",
    "QUICKLIST-PACKED-THRESHOLD <size>",
    "    Sets the threshold for elements to be inserted as plain vs packed nodes",
    "    Default value is 1GB, allows values up to 4GB. Setting to 0 restores to default.",
    "SET-SKIP-CHECKSUM-VALIDATION <0|1>",
    "    Enables or disables checksum checks for RDB files and RESTORE's payload.",
    "SLEEP <seconds>",
    "    Stop the server for <seconds>. Decimals allowed.",
    "PAUSE-CRON <0|1>",
    "    Stop periodic cron job processing.",
    "LISTPACK <key>",
    "    Show low level info about the listpack encoding of <key>.",
    "QUICKLIST <key> [<0|1>]",
    "    Show low level info about the quicklist encoding of <key>.",
    "    The optional argument (0 by default) sets the level of detail",
    "HELP",
    "    Prints this help.",
];

// ---- Dataset digest (debug.c), over the primitives of `util::digest` ----

/// `xorObjectDigest`: mixes the value's type, its content, and the expire marker.
pub fn xor_object_digest(digest: &mut [u8; 20], val: &Value, has_expire: bool) {
    mix_digest(digest, &val.type_id().to_be_bytes());
    match val {
        // Strings: mixStringObjectDigest of the decoded string.
        Value::Str(s) => string_digest(digest, s),
        // Collections follow debug.c: lists mix each element in order; sets xor each
        // member's SHA1; sorted sets xor per element mixDigest(member)+mixDigest("%.17g"
        // score); hashes xor per field mixDigest(field)+mixDigest(value).
        Value::List(l) => l.digest(digest),
        Value::Hash(h) => h.digest(digest),
        Value::Set(x) => x.digest(digest),
        Value::ZSet(z) => z.digest(digest),
    }
    if has_expire {
        xor_digest(digest, b"!!expire!!");
    }
}

fn string_digest(digest: &mut [u8; 20], s: &RStr) {
    s.with_bytes(|b| mix_digest(digest, b));
}

/// `computeDatasetDigest`: every key of every non-empty database, databases mixed in by
/// their index. All zeros for an empty dataset.
pub fn dataset_digest(dbs: &[Db]) -> [u8; 20] {
    let mut fin = [0u8; 20];
    for (j, db) in dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        mix_digest(&mut fin, &(j as u32).to_be_bytes());
        for (key, e) in db.main.iter() {
            let mut d = [0u8; 20];
            mix_digest(&mut d, key);
            xor_object_digest(&mut d, &e.val, e.has_expire());
            xor_digest(&mut fin, &d);
        }
    }
    fin
}

// ---- DEBUG ----

fn debug(ctx: &mut Ctx) {
    let sub = ctx.argv[1].to_ascii_lowercase();
    let argc = ctx.argv.len();
    match (sub.as_slice(), argc) {
        (b"help", 2) => help_reply(ctx.out, HELP),
        (b"change-repl-id", 2) => {
            log_warning!("Changing replication IDs after receiving DEBUG change-repl-id");
            ctx.store.repl.replid = crate::replication::new_replid();
            ctx.store.repl.clear_id2();
            ctx.out.ok();
        }
        (b"sleep", 3) => debug_sleep(ctx),
        (b"set-active-expire", 3) => {
            ctx.store.active_expire_enabled = atoi(&ctx.argv[2]) != 0;
            ctx.out.ok();
        }
        (b"object", 3) => debug_object(ctx),
        (b"digest", 2) => {
            let d = dataset_digest(&ctx.store.dbs);
            ctx.out.simple(&digest_hex(&d));
        }
        (b"digest-value", _) => debug_digest_value(ctx),
        (b"reload", _) => debug_reload(ctx),
        (b"populate", 3..=5) => debug_populate(ctx),
        (b"protocol", 3) => debug_protocol(ctx),
        (b"log", 3) => {
            log_warning!("DEBUG LOG: {}", String::from_utf8_lossy(&ctx.argv[2]));
            ctx.out.ok();
        }
        (b"quicklist-packed-threshold", 3) => debug_packed_threshold(ctx),
        (b"listpack", 3) => debug_listpack(ctx),
        (b"quicklist", 3 | 4) => debug_quicklist(ctx),
        (b"htstats", 3) => debug_htstats(ctx),
        (b"htstats-key", 3) => debug_htstats_key(ctx),
        (b"mallctl", 3..) => debug_mallctl(ctx, false),
        (b"mallctl-str", 3..) => debug_mallctl(ctx, true),
        (b"error", 3) => {
            let msg = format!("-{}", String::from_utf8_lossy(&ctx.argv[2]));
            ctx.out.error(&msg);
        }
        (b"replybuffer", 4) => debug_replybuffer(ctx),
        (b"config-rewrite-force-all", 2) => match ctx.store.cfg.rewrite_force_all() {
            Ok(()) => ctx.out.ok(),
            Err(e) => ctx.out.error(format!("CONFIG-REWRITE-FORCE-ALL failed: {e}")),
        },
        (b"loadaof", _) => {
            if crate::persistence::aof::debug_loadaof(ctx.shared, ctx.store).is_err() {
                // The dataset is gone and the AOF cannot give it back: Redis exits too.
                std::process::exit(1);
            }
            ctx.out.ok();
        }
        (b"set-skip-checksum-validation", 3) => {
            ctx.store.skip_checksum_validation = atoi(&ctx.argv[2]) != 0;
            ctx.out.ok();
        }
        (b"aof-flush-sleep", 3) => {
            ctx.store.aofrw.flush_sleep_us = atoi(&ctx.argv[2]).max(0) as u64;
            ctx.out.ok();
        }
        (b"pause-cron", 3) => {
            ctx.store.pause_cron = atoi(&ctx.argv[2]) != 0;
            ctx.out.ok();
        }
        (b"segfault", _) => debug_segfault(),
        (b"panic", _) => crate::server::crash::panic_report(
            &format!("DEBUG PANIC called at Unix time {}", crate::util::time::unix_secs()),
            file!(),
            line!(),
            ctx.store.cfg.crash_log_enabled,
        ),
        (b"assert", _) => {
            crate::server::crash::assert_report(ctx.argv, "1 == 2", file!(), line!(), ctx.store.cfg.crash_log_enabled)
        }
        (b"oom", _) => debug_oom(ctx),
        _ => subcommand_syntax_error(ctx),
    }
}

/// DEBUG REPLYBUFFER PEAK-RESET-TIME <never|reset|ms> | RESIZING <0|1>: how the client
/// cron resizes reply buffers (see `server::cron::clients_cron`).
fn debug_replybuffer(ctx: &mut Ctx) {
    let what = ctx.argv[2].to_ascii_lowercase();
    let arg = &ctx.argv[3];
    match what.as_slice() {
        b"peak-reset-time" => {
            let ms = if arg.eq_ignore_ascii_case(b"never") {
                -1
            } else if arg.eq_ignore_ascii_case(b"reset") {
                crate::server::REPLY_BUFFER_DEFAULT_PEAK_RESET_MS
            } else {
                match crate::util::numeric::string2ll(arg) {
                    Some(n) => n,
                    None => return ctx.out.error(super::call::err::NOT_INT),
                }
            };
            ctx.shared.reply_buffer_peak_reset_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
        }
        b"resizing" => {
            ctx.shared.reply_buffer_resizing.store(atoi(arg) != 0, std::sync::atomic::Ordering::Relaxed);
        }
        _ => return subcommand_syntax_error(ctx),
    }
    ctx.out.ok();
}

/// DEBUG SEGFAULT: writes to a read-only page, so the process gets a real SIGSEGV (and
/// the crash report of its handler).
fn debug_segfault() -> ! {
    // SAFETY: maps one fresh private read-only page; the write below faults on purpose.
    unsafe {
        let p = libc::mmap(std::ptr::null_mut(), 4096, libc::PROT_READ, libc::MAP_PRIVATE | libc::MAP_ANONYMOUS, -1, 0);
        if p != libc::MAP_FAILED {
            std::ptr::write_volatile(p as *mut u8, b'x');
        }
    }
    // Only reached if the write somehow did not fault.
    std::process::abort()
}

/// DEBUG OOM: asks the allocator for half the address space; the failure is reported as
/// Redis's out-of-memory handler does, and the process aborts.
fn debug_oom(ctx: &mut Ctx) {
    let size = usize::MAX / 2;
    let Ok(layout) = std::alloc::Layout::from_size_align(size, 1) else { return ctx.out.ok() };
    // SAFETY: a non-zero-sized layout; a non-null result is freed with the same layout.
    let p = unsafe { std::alloc::alloc(layout) };
    if !p.is_null() {
        // SAFETY: allocated just above with `layout`.
        unsafe { std::alloc::dealloc(p, layout) };
        return ctx.out.ok();
    }
    log_warning!("Out Of Memory allocating {size} bytes!");
    crate::server::crash::panic_report(
        &format!("Redis aborting for OUT OF MEMORY. Allocating {size} bytes!"),
        file!(),
        line!(),
        ctx.store.cfg.crash_log_enabled,
    )
}

/// DEBUG RELOAD [MERGE] [NOFLUSH] [NOSAVE]: saves the dataset, empties it and loads the
/// file back, all under the store lock. (MERGE is accepted; loading into existing data
/// replaces duplicate keys.)
fn debug_reload(ctx: &mut Ctx) {
    let (mut flush, mut save) = (true, true);
    for a in &ctx.argv[2..] {
        if a.eq_ignore_ascii_case(b"merge") {
            // Keys from the file replace existing ones with the same name.
        } else if a.eq_ignore_ascii_case(b"noflush") {
            flush = false;
        } else if a.eq_ignore_ascii_case(b"nosave") {
            save = false;
        } else {
            return ctx.out.error("DEBUG RELOAD only supports the MERGE, NOFLUSH and NOSAVE options.");
        }
    }
    if save && crate::persistence::snapshot::save_now(ctx.store).is_err() {
        return ctx.out.error("Error trying to save the DB");
    }
    if flush {
        for db in ctx.store.dbs.iter_mut() {
            db.take_all();
        }
    }
    let path = crate::persistence::snapshot::rdb_path(ctx.store);
    match crate::persistence::snapshot::load(ctx.store, &path) {
        Ok(_) => {
            log_notice!("DB reloaded by DEBUG RELOAD");
            ctx.out.ok();
        }
        Err(e) => {
            log_warning!("Error loading the RDB in DEBUG RELOAD: {e}");
            ctx.out.error("Error trying to load the RDB dump, check server logs.");
        }
    }
}

/// DEBUG POPULATE count [prefix] [size] (debug.c): string keys `<prefix>:<n>` holding
/// `value:<n>` (padded with zero bytes or cut to `size`), skipping keys that exist. Like
/// Redis it is neither propagated nor counted as a change.
fn debug_populate(ctx: &mut Ctx) {
    const OUT_OF_RANGE: &str = "value is out of range, must be positive";
    // Redis answers the same for a negative number and for no number at all.
    let positive = |a: &[u8]| crate::util::numeric::string2ll(a).filter(|&n| n >= 0);
    let Some(keys) = positive(&ctx.argv[2]) else { return ctx.out.error(OUT_OF_RANGE) };
    let size = match ctx.argv.get(4) {
        None => None,
        Some(a) => match positive(a) {
            Some(n) => (n > 0).then_some(n as usize),
            None => return ctx.out.error(OUT_OF_RANGE),
        },
    };
    // `proto-max-bulk-len` bounds a value a client could have written itself.
    if size.is_some_and(|n| n as u64 > ctx.store.cfg.proto_max_bulk_len as u64) {
        return ctx.out.error("string exceeds maximum allowed size (proto-max-bulk-len)");
    }
    let prefix: Vec<u8> = ctx.argv.get(3).map_or(b"key".to_vec(), |p| p.to_vec());
    let db = ctx.db();
    let now = ctx.now_ms;
    let mut b = itoa::Buffer::new();
    for j in 0..keys as u64 {
        let mut key = prefix.clone();
        key.push(b':');
        key.extend_from_slice(b.format(j).as_bytes());
        key.truncate(127); // snprintf into a 128-byte buffer
        if ctx.store.lookup_write(db, &key, now).is_some() {
            continue;
        }
        let mut val = b"value:".to_vec();
        val.extend_from_slice(b.format(j).as_bytes());
        if let Some(n) = size {
            val.resize(n, 0);
        }
        let mvcc = ctx.store.next_mvcc(now);
        let e = crate::keyspace::Entry::new(Value::Str(RStr::from_bytes(&val)), mvcc, crate::util::time::lru_clock());
        let old = ctx.store.dbs[db].ae_stamp(&key);
        ctx.store.dbs[db].insert(&key, e);
        // Not replicated (as in Redis), but in the anti-entropy digest: on an active node
        // the keys reach the peers through anti-entropy.
        ctx.store.dbs[db].ae_moved(&key, old);
        ctx.store.watch.touch(db, &key);
    }
    ctx.out.ok();
}

/// DEBUG HTSTATS <dbid>: `dictGetStats` of the database's key table and expires table.
fn debug_htstats(ctx: &mut Ctx) {
    let Some(id) = crate::util::numeric::string2ll(&ctx.argv[2]) else {
        return ctx.out.error(super::call::err::NOT_INT);
    };
    let Some(db) = usize::try_from(id).ok().and_then(|i| ctx.store.dbs.get(i)) else {
        return ctx.out.error("Out of range database");
    };
    let text = format!("[Dictionary HT]\n{}[Expires HT]\n{}", db.main.stats(), db.expires.stats());
    ctx.out.verbatim(text.as_bytes(), "txt");
}

/// DEBUG HTSTATS-KEY <key>: `dictGetStats` of the hash table of a set or hash in the
/// hashtable encoding, or of a sorted set's member dict (skiplist encoding).
fn debug_htstats_key(ctx: &mut Ctx) {
    let db = ctx.db();
    let Some(e) = super::keys::lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) else {
        return ctx.out.error("no such key");
    };
    let stats = match &e.val {
        Value::Set(s) => match &**s {
            crate::types::Set::Table(d) => Some(d.stats()),
            _ => None,
        },
        Value::Hash(h) => match &**h {
            crate::types::Hash::Table(d) => Some(d.stats()),
            _ => None,
        },
        Value::ZSet(z) => match &**z {
            crate::types::ZSet::Large(b) => Some(b.dict.stats()),
            _ => None,
        },
        _ => None,
    };
    match stats {
        Some(text) => ctx.out.verbatim(text.as_bytes(), "txt"),
        None => ctx.out.error("The value stored at the specified key is not represented using an hash table"),
    }
}

/// DEBUG MALLCTL / MALLCTL-STR <key> [<val>]: jemalloc's controls (see
/// `commands::memory::mallctl_int` and `mallctl_str`).
fn debug_mallctl(ctx: &mut Ctx, string: bool) {
    use super::memory::{mallctl_int, mallctl_str, MallctlReply};
    let val = ctx.argv.get(3);
    let r = if string {
        mallctl_str(&ctx.argv[2], val.map(|v| &v[..]))
    } else {
        let n = match val {
            None => None,
            Some(v) => match crate::util::numeric::string2ll(v) {
                Some(n) => Some(n),
                None => return ctx.out.error(super::call::err::NOT_INT),
            },
        };
        mallctl_int(&ctx.argv[2], n)
    };
    match r {
        MallctlReply::Int(n) => ctx.out.int(n),
        MallctlReply::Str(Some(s)) => ctx.out.bulk(&s),
        MallctlReply::Str(None) => ctx.out.null(),
        MallctlReply::Ok => ctx.out.ok(),
        MallctlReply::Err(e) => ctx.out.error(&e),
    }
}

/// C's `strtod` on the longest numeric prefix (0 when there is none).
fn strtod(s: &[u8]) -> f64 {
    let s = std::str::from_utf8(s).unwrap_or("").trim_start();
    let max = s.len().min(64);
    (1..=max).rev().filter(|&n| s.is_char_boundary(n)).find_map(|n| s[..n].parse::<f64>().ok()).unwrap_or(0.0)
}

/// DEBUG SLEEP: the connection waits outside the store lock, then the reply goes out.
/// Inside a transaction it sleeps where it stands, holding the lock as Redis holds its
/// only thread: the rest of the transaction, and what its end triggers (serving blocked
/// clients, key expiry), happen after the sleep. Either way the server counts as stalled
/// meanwhile (`Shared::stall_for`): a master sends its replicas nothing of its own.
fn debug_sleep(ctx: &mut Ctx) {
    let secs = strtod(&ctx.argv[2]);
    ctx.out.ok();
    if secs > 0.0 {
        if let Ok(d) = std::time::Duration::try_from_secs_f64(secs) {
            ctx.shared.stall_for(d);
            if ctx.in_exec {
                // A transaction is atomic: it sleeps holding the store lock, the server
                // stalled as Redis's would be, and the sleep counts in its own statistics.
                std::thread::sleep(d);
            } else {
                ctx.flow = Flow::Sleep(d);
            }
        }
    }
}

/// Redis's shared integers 0..10000 (OBJ_SHARED_INTEGERS) report this refcount.
const OBJ_SHARED_REFCOUNT: i64 = i32::MAX as i64;

/// Bytes the value takes in an RDB file (`rdbSavedObjectLen`) for strings: integer
/// encodings for values fitting 8/16/32 bits, else length prefix plus bytes.
/// LZF compression of strings over 20 bytes is not modelled (persistence will port LZF).
fn serialized_len(s: &RStr) -> usize {
    let int_len = |n: i64| {
        if (i8::MIN as i64..=i8::MAX as i64).contains(&n) {
            Some(2)
        } else if (i16::MIN as i64..=i16::MAX as i64).contains(&n) {
            Some(3)
        } else if (i32::MIN as i64..=i32::MAX as i64).contains(&n) {
            Some(5)
        } else {
            None
        }
    };
    match s {
        RStr::Int(n) => int_len(*n).unwrap_or_else(|| {
            let l = s.len();
            rdb_len_len(l) + l
        }),
        _ => s.with_bytes(|b| {
            if b.len() <= 11 {
                if let Some(l) = crate::util::numeric::string2ll(b).and_then(int_len) {
                    return l;
                }
            }
            rdb_len_len(b.len()) + b.len()
        }),
    }
}

fn debug_object(ctx: &mut Ctx) {
    let db = ctx.db();
    let Some(e) = ctx.store.dbs[db].peek(&ctx.argv[2]) else {
        return ctx.out.error("no such key");
    };
    let refcount = match &e.val {
        Value::Str(RStr::Int(n)) if (0..10000).contains(n) => OBJ_SHARED_REFCOUNT,
        _ => 1,
    };
    let ser = match &e.val {
        Value::Str(s) => serialized_len(s),
        Value::List(l) => l.serialized_len(),
        Value::Hash(h) => h.serialized_len(),
        Value::Set(x) => x.serialized_len(),
        Value::ZSet(z) => z.serialized_len(),
    };
    let extra = match &e.val {
        Value::List(l) => quicklist_fields(l),
        _ => String::new(),
    };
    let line = format!(
        "Value at:{:p} refcount:{} encoding:{} serializedlength:{} lru:{} lru_seconds_idle:{}{}",
        &e.val as *const Value,
        refcount,
        e.val.encoding(),
        ser,
        e.lru,
        crate::util::time::lru_idle_secs(e.lru),
        extra
    );
    ctx.out.simple(&line);
}

/// DEBUG QUICKLIST-PACKED-THRESHOLD <size>: elements of at least `size` bytes (a memory
/// value such as `1b`, `5kb`) get plain list nodes from now on, process-wide
/// (`quicklistisSetPackedThreshold`); 0 restores the 1 GB default.
fn debug_packed_threshold(ctx: &mut Ctx) {
    match crate::config::parse_memory(&ctx.argv[2]) {
        Some(sz) if crate::types::list::set_packed_threshold(sz) => ctx.out.ok(),
        _ => ctx.out.error("argument must be a memory value bigger than 1 and smaller than 4gb"),
    }
}

/// Writes a DEBUG LISTPACK / QUICKLIST dump where Redis `printf`s it: standard output.
fn print_stdout(text: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// DEBUG LISTPACK <key>: prints the layout of a listpack-encoded value (a small hash or
/// sorted set) on standard output (`lpRepr`).
fn debug_listpack(ctx: &mut Ctx) {
    let db = ctx.db();
    let Some(e) = super::keys::lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) else {
        return ctx.out.error("no such key");
    };
    let lp = match &e.val {
        Value::Hash(h) => match &**h {
            crate::types::Hash::Listpack(lp) => Some(lp),
            _ => None,
        },
        Value::ZSet(z) => match &**z {
            crate::types::ZSet::Small(lp) => Some(lp),
            _ => None,
        },
        _ => None,
    };
    let Some(lp) = lp else { return ctx.out.error("Not a listpack encoded object.") };
    let mut text = String::new();
    lp.repr(&mut text);
    print_stdout(&text);
    ctx.out.simple("Listpack structure printed on stdout");
}

/// DEBUG QUICKLIST <key> [<0|1>]: prints a list's nodes (and with 1 their elements) on
/// standard output (`quicklistRepr`).
fn debug_quicklist(ctx: &mut Ctx) {
    let db = ctx.db();
    let full = ctx.argv.get(3).is_some_and(|a| atoi(a) != 0);
    let Some(e) = super::keys::lookup_read_notouch(ctx.store, db, &ctx.argv[2], ctx.now_ms, false) else {
        return ctx.out.error("no such key");
    };
    let Value::List(l) = &e.val else { return ctx.out.error("Not a quicklist encoded object.") };
    print_stdout(&l.repr(full));
    ctx.out.simple("Quicklist structure printed on stdout");
}

/// DEBUG OBJECT's quicklist fields: node count, average elements per node, fill, whether
/// compression is on, and the nodes' total uncompressed size.
fn quicklist_fields(l: &crate::types::List) -> String {
    let nodes = l.node_count();
    let size: usize = l.node_infos().map(|i| i.sz).sum();
    format!(
        " ql_nodes:{nodes} ql_avg_node:{:.2} ql_listpack_max:{} ql_compressed:{} ql_uncompressed_size:{size}",
        l.len() as f64 / nodes as f64,
        l.fill(),
        u8::from(l.compress_depth() != 0)
    )
}

fn debug_digest_value(ctx: &mut Ctx) {
    let db = ctx.db();
    let keys: Vec<Bytes> = ctx.argv[2..].to_vec();
    ctx.out.array(keys.len());
    for k in keys {
        let mut d = [0u8; 20];
        // Looked up as Redis does (LOOKUP_NOTOUCH | LOOKUP_NONOTIFY): an expired key is
        // deleted and digests as absent; no stats, no access time change.
        if !ctx.store.expire_if_needed(db, &k, ctx.now_ms) {
            if let Some(e) = ctx.store.dbs[db].peek(&k) {
                xor_object_digest(&mut d, &e.val, e.has_expire());
            }
        }
        ctx.out.simple(&digest_hex(&d));
    }
}

fn debug_protocol(ctx: &mut Ctx) {
    let name = ctx.argv[2].to_ascii_lowercase();
    let resp3 = ctx.out.resp3;
    let out = &mut *ctx.out;
    match name.as_slice() {
        b"string" => out.bulk(b"Hello World"),
        b"integer" => out.int(12345),
        b"double" => {
            if resp3 {
                out.raw(b",3.141\r\n")
            } else {
                out.bulk(b"3.141")
            }
        }
        b"bignum" => {
            if resp3 {
                out.raw(b"(1234567999999999999999999999999999999\r\n")
            } else {
                out.bulk(b"1234567999999999999999999999999999999")
            }
        }
        b"null" => out.null(),
        b"array" | b"set" => {
            if name.as_slice() == b"set" {
                out.set(3)
            } else {
                out.array(3)
            }
            for j in 0..3 {
                out.int(j);
            }
        }
        b"map" => {
            out.map(3);
            for j in 0..3 {
                out.int(j);
                out.bool(j == 1);
            }
        }
        b"attrib" => {
            if resp3 {
                out.raw(b"|1\r\n");
                out.bulk(b"key-popularity");
                out.array(2);
                out.bulk(b"key:123");
                out.int(90);
            }
            out.bulk(b"Some real reply following the attribute");
        }
        b"push" => {
            if !resp3 {
                return out.error("RESP2 is not supported by this command");
            }
            out.push(2);
            out.bulk(b"server-cpu-usage");
            out.int(42);
            out.bulk(b"Some real reply following the push reply");
        }
        b"true" => out.bool(true),
        b"false" => out.bool(false),
        b"verbatim" => out.verbatim(b"This is a verbatim\nstring", "txt"),
        _ => out.error(
            "Wrong protocol type name. Please use one of the following: string|integer|double|bignum|null|array|set|map|attrib|push|verbatim|true|false",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c_number_prefixes() {
        assert_eq!(atoi(b"12abc"), 12);
        assert_eq!(atoi(b"abc"), 0);
        assert_eq!(atoi(b"-3"), -3);
        assert_eq!(strtod(b"0.25s"), 0.25);
        assert_eq!(strtod(b"abc"), 0.0);
    }

    #[test]
    fn serialized_lengths_follow_rdb_encodings() {
        assert_eq!(serialized_len(&RStr::from_bytes(b"hello")), 6);
        assert_eq!(serialized_len(&RStr::from_bytes(b"5")), 2);
        assert_eq!(serialized_len(&RStr::from_bytes(b"12345")), 3);
        assert_eq!(serialized_len(&RStr::from_bytes(b"100000")), 5);
        assert_eq!(serialized_len(&RStr::from_bytes(b"12345678901")), 12);
    }

    #[test]
    fn digest_of_one_string_key_matches_redis() {
        // redis-server 7.0: FLUSHALL; SET a 1; DEBUG DIGEST
        let mut db = Db::new(0);
        db.insert(b"a", crate::keyspace::Entry::new(Value::Str(RStr::from_bytes(b"1")), 0, 0));
        assert_eq!(digest_hex(&dataset_digest(&[db])), "943d800368fb9c0e951138f1bc0e313ac769d91f");
        assert_eq!(digest_hex(&dataset_digest(&[Db::new(0)])), "0".repeat(40));
    }
}
