//! Server log in Redis's format (`pid:role dd Mon yyyy hh:mm:ss.mmm <level> message`), so
//! existing log tooling keeps working.

use std::io::Write;
use std::sync::atomic::{AtomicU8, Ordering};

use parking_lot::Mutex;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Debug = 0,
    Verbose = 1,
    Notice = 2,
    Warning = 3,
}

static LEVEL: AtomicU8 = AtomicU8::new(Level::Notice as u8);
static FILE: Mutex<Option<String>> = Mutex::new(None);

/// Sets the minimum level and the log file ("" means standard output).
pub fn configure(level: Level, file: &str) {
    LEVEL.store(level as u8, Ordering::Relaxed);
    *FILE.lock() = if file.is_empty() { None } else { Some(file.to_string()) };
}

pub fn level_from_str(s: &str) -> Option<Level> {
    match s.to_ascii_lowercase().as_str() {
        "debug" => Some(Level::Debug),
        "verbose" => Some(Level::Verbose),
        "notice" => Some(Level::Notice),
        "warning" => Some(Level::Warning),
        _ => None,
    }
}

/// Days since 1970-01-01 to (year, month, day); plain arithmetic, so the crash handler
/// can use it too.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = (z - era * 146097) as u64;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe as i64 + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats a unix time in ms as "22 Nov 2026 00:46:54.123" (UTC).
pub fn format_time(ms: i64) -> String {
    const MON: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let secs = ms.div_euclid(1000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86400));
    let sod = secs.rem_euclid(86400);
    format!(
        "{:02} {} {} {:02}:{:02}:{:02}.{:03}",
        d,
        MON[(m - 1) as usize],
        y,
        sod / 3600,
        (sod / 60) % 60,
        sod % 60,
        ms.rem_euclid(1000)
    )
}

/// Writes one log line if `level` is enabled.
pub fn log(level: Level, msg: &str) {
    if (level as u8) < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let mark = match level {
        Level::Debug => '.',
        Level::Verbose => '-',
        Level::Notice => '*',
        Level::Warning => '#',
    };
    let line = format!("{}:M {} {} {}\n", std::process::id(), format_time(crate::util::time::unix_ms()), mark, msg);
    raw(line.as_bytes());
}

/// `serverLogHexDump`: a warning line naming `what` and its size, then its bytes in
/// lowercase hex on one raw line.
pub fn hex_dump(what: &str, bytes: &[u8]) {
    log(Level::Warning, &format!("{what} (hexdump of {} bytes):", bytes.len()));
    if (Level::Warning as u8) < LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let mut hex = String::with_capacity(bytes.len() * 2 + 1);
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for b in bytes {
        hex.push(DIGITS[(b >> 4) as usize] as char);
        hex.push(DIGITS[(b & 15) as usize] as char);
    }
    hex.push('\n');
    raw(hex.as_bytes());
}

/// Writes `bytes` to the log as they are (the multi-line parts of a crash report).
pub fn raw(bytes: &[u8]) {
    let file = FILE.lock().clone();
    match file {
        Some(path) => {
            if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
                let _ = f.write_all(bytes);
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            let _ = out.write_all(bytes);
            let _ = out.flush();
        }
    }
}

#[macro_export]
macro_rules! log_notice { ($($a:tt)*) => { $crate::server::log::log($crate::server::log::Level::Notice, &format!($($a)*)) } }
#[macro_export]
macro_rules! log_warning { ($($a:tt)*) => { $crate::server::log::log($crate::server::log::Level::Warning, &format!($($a)*)) } }
#[macro_export]
macro_rules! log_verbose { ($($a:tt)*) => { $crate::server::log::log($crate::server::log::Level::Verbose, &format!($($a)*)) } }
#[macro_export]
macro_rules! log_debug { ($($a:tt)*) => { $crate::server::log::log($crate::server::log::Level::Debug, &format!($($a)*)) } }

#[cfg(test)]
mod tests {
    #[test]
    fn time_format() {
        assert_eq!(super::format_time(0), "01 Jan 1970 00:00:00.000");
        assert_eq!(super::format_time(1_795_308_414_123), "22 Nov 2026 00:46:54.123");
    }
}
