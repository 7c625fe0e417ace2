//! fluidb-check-rdb: validates an RDB file as redis-check-rdb does (every object decoded
//! and checked, the CRC64 verified) and says what is wrong and where. Exit status 0 when
//! the file is sound, 1 otherwise.

use fluidb::persistence::rdb::file::load_rdb;
use fluidb::persistence::rdb::load::Limits;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("Usage: {} <rdb-file-name>", args.first().map_or("fluidb-check-rdb", |s| s.as_str()));
        std::process::exit(1);
    };
    println!("[offset 0] Checking RDB file {path}");
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) => {
            println!("--- RDB ERROR DETECTED ---");
            println!("[offset 0] Cannot open file {path}: {e}");
            std::process::exit(1);
        }
    };
    let lim = Limits { max_string: usize::MAX, ..Limits::default() };
    let (mut keys, mut expires, mut stamped) = (0u64, 0u64, 0u64);
    let mut dbs = std::collections::BTreeSet::new();
    match load_rdb(&data, &lim, usize::MAX, |k| {
        keys += 1;
        expires += u64::from(k.expire != -1);
        stamped += u64::from(k.mvcc.is_some());
        dbs.insert(k.db);
    }) {
        Ok(info) => {
            for (k, v) in &info.aux {
                println!("[info] AUX FIELD {} = '{}'", String::from_utf8_lossy(k), String::from_utf8_lossy(v));
            }
            println!("[info] RDB version {}", info.version);
            println!("[offset {}] Checksum OK", data.len());
            println!("[offset {}] \\o/ RDB looks OK! \\o/", data.len());
            println!("[info] {keys} keys read in {} databases", dbs.len());
            println!("[info] {expires} expires");
            println!("[info] {stamped} keys with a write timestamp (mvcc-tstamp)");
            if info.empty_skipped > 0 {
                println!("[info] {} empty keys skipped", info.empty_skipped);
            }
        }
        Err(e) => {
            println!("--- RDB ERROR DETECTED ---");
            println!("[offset {}] Error: {}", e.offset, e.what);
            println!("[additional info] {keys} keys read before the error");
            std::process::exit(1);
        }
    }
}
