//! Crash reports, as Redis's debug.c writes them (and the async-signal-safe logging the
//! shutdown signals use too): a fatal signal (SIGSEGV, SIGBUS, SIGFPE,
//! SIGILL, SIGABRT) logs the "crashed by signal" report with a stack trace before the
//! process dies of that signal, and DEBUG PANIC / ASSERT / OOM log Redis's "Guru
//! Meditation" / "ASSERTION FAILED" reports before aborting. So a crash leaves the same
//! evidence in the log as a Redis crash does (operators and Redis's test suite grep it).
//!
//! The signal handler runs in whatever state the process was in when it crashed: it must
//! not allocate or take locks (the allocator or the log mutex may be what broke). It only
//! formats into stack buffers and `write(2)`s them to the log (the log file, reopened with
//! `open(2)`, or standard output), both async-signal-safe. `backtrace(3)` is warmed up at
//! installation so that its first call (which loads libgcc) does not happen in the handler.

use std::ffi::CString;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// The log file (None: standard output), fixed at start like Redis's `logfile`.
static LOG_PATH: OnceLock<Option<CString>> = OnceLock::new();
/// `use-exit-on-panic`: a panic report ends with `_exit(1)` instead of `abort()`.
static EXIT_ON_PANIC: AtomicBool = AtomicBool::new(false);
/// The report header is written once even when a second crash happens during the report.
static REPORT_STARTED: AtomicBool = AtomicBool::new(false);

const FATAL_SIGNALS: [libc::c_int; 5] = [libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGABRT];

/// Records where reports go (`logfile`; empty means standard output). Called once at start.
pub fn set_log_file(path: &str) {
    let _ = LOG_PATH.set(if path.is_empty() { None } else { CString::new(path).ok() });
}

/// `use-exit-on-panic`.
pub fn set_exit_on_panic(on: bool) {
    EXIT_ON_PANIC.store(on, Ordering::Relaxed);
}

/// Installs or removes the fatal-signal handler (`crash-log-enabled`, Redis's
/// `setupSignalHandlers` / `removeSignalHandlers`).
pub fn set_enabled(on: bool) {
    if on {
        // Warm up backtrace(3): its first call may allocate (it loads libgcc_s).
        let mut frames = [std::ptr::null_mut::<libc::c_void>(); 4];
        // SAFETY: backtrace writes at most the given number of pointers into the array.
        unsafe { libc::backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int) };
    }
    for sig in FATAL_SIGNALS {
        // SAFETY: a zeroed sigaction is a valid starting point; the handler installed is an
        // `extern "C"` function with the SA_SIGINFO signature.
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            libc::sigemptyset(&mut act.sa_mask);
            if on {
                act.sa_flags = libc::SA_NODEFER | libc::SA_RESETHAND | libc::SA_SIGINFO;
                act.sa_sigaction = on_fatal_signal as *const () as usize;
            } else {
                act.sa_flags = libc::SA_NODEFER | libc::SA_RESETHAND;
                act.sa_sigaction = libc::SIG_DFL;
            }
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// A line being formatted without allocating.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl Line {
    fn new() -> Line {
        Line { buf: [0; 512], len: 0 }
    }

    fn push(&mut self, s: &[u8]) -> &mut Line {
        let n = s.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s[..n]);
        self.len += n;
        self
    }

    fn num(&mut self, v: i64) -> &mut Line {
        if v < 0 {
            self.push(b"-");
        }
        let mut digits = [0u8; 20];
        let mut n = v.unsigned_abs();
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }

    /// Zero-padded to `width` digits.
    fn padded(&mut self, v: i64, width: usize) -> &mut Line {
        let mut digits = [b'0'; 20];
        let mut n = v.unsigned_abs();
        for i in (0..width.min(20)).rev() {
            digits[i] = b'0' + (n % 10) as u8;
            n /= 10;
        }
        self.push(&digits[..width.min(20)])
    }

    fn hex(&mut self, v: usize) -> &mut Line {
        self.push(b"0x");
        let mut digits = [0u8; 16];
        let mut n = v;
        let mut i = digits.len();
        loop {
            i -= 1;
            digits[i] = b"0123456789abcdef"[n & 15];
            n >>= 4;
            if n == 0 {
                break;
            }
        }
        self.push(&digits[i..])
    }
}

/// The log's destination for the handler: the log file opened for appending, or stdout.
fn open_log() -> (libc::c_int, bool) {
    match LOG_PATH.get() {
        Some(Some(path)) => {
            // SAFETY: open(2) with a valid NUL-terminated path; async-signal-safe.
            let fd = unsafe { libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_APPEND | libc::O_CREAT, 0o644) };
            if fd >= 0 {
                (fd, true)
            } else {
                (libc::STDOUT_FILENO, false)
            }
        }
        _ => (libc::STDOUT_FILENO, false),
    }
}

fn write_fd(fd: libc::c_int, mut b: &[u8]) {
    while !b.is_empty() {
        // SAFETY: writes bytes of a live slice; async-signal-safe.
        let n = unsafe { libc::write(fd, b.as_ptr().cast(), b.len()) };
        if n <= 0 {
            if n < 0 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return;
        }
        b = &b[n as usize..];
    }
}

/// Writes `msg` as one warning line in the log's format (`pid:M date time # msg`).
fn log_line(fd: libc::c_int, msg: &[u8]) {
    let mut ts: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime fills the struct it is given; async-signal-safe.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    let ms = ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000;
    let (y, mo, d) = super::log::civil_from_days(ms.div_euclid(86_400_000));
    let sod = ms.div_euclid(1000).rem_euclid(86_400);
    const MON: [&[u8]; 12] =
        [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];
    let mut l = Line::new();
    // SAFETY: getpid has no preconditions.
    l.num(unsafe { libc::getpid() } as i64).push(b":M ");
    l.padded(d as i64, 2).push(b" ").push(MON[(mo as usize).clamp(1, 12) - 1]).push(b" ").num(y).push(b" ");
    l.padded(sod / 3600, 2).push(b":").padded((sod / 60) % 60, 2).push(b":").padded(sod % 60, 2);
    l.push(b".").padded(ms.rem_euclid(1000), 3).push(b" # ").push(msg).push(b"\n");
    write_fd(fd, &l.buf[..l.len]);
}

/// Logs one warning line from a signal handler (async-signal-safe).
pub(crate) fn log_from_handler(msg: &[u8]) {
    let (fd, close) = open_log();
    log_line(fd, msg);
    if close {
        // SAFETY: closes the descriptor just opened.
        unsafe { libc::close(fd) };
    }
}

const REPORT_START: &[u8] = b"\n\n=== fluidB BUG REPORT START: Cut & paste starting from here ===\n";
const REPORT_END: &[u8] = b"\n=== fluidB BUG REPORT END. Make sure to include from START to END. ===\n\n";

fn report_start(fd: libc::c_int) {
    if !REPORT_STARTED.swap(true, Ordering::SeqCst) {
        write_fd(fd, REPORT_START);
    }
}

/// The instruction the crashed thread was running, from the signal's context.
///
/// # Safety
/// `ctx` is the third argument the kernel passed to an SA_SIGINFO handler.
unsafe fn crashed_ip(ctx: *mut libc::c_void) -> usize {
    if ctx.is_null() {
        return 0;
    }
    let uc = ctx as *const libc::ucontext_t;
    #[cfg(target_arch = "x86_64")]
    {
        (*uc).uc_mcontext.gregs[libc::REG_RIP as usize] as usize
    }
    #[cfg(target_arch = "aarch64")]
    {
        (*uc).uc_mcontext.pc as usize
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        let _ = uc;
        0
    }
}

/// Redis's `logStackTrace`: the crashing instruction, then the call stack, symbolized by
/// `backtrace_symbols_fd` (which writes straight to the descriptor, without malloc).
fn stack_trace(fd: libc::c_int, ip: usize) {
    write_fd(fd, b"\n------ STACK TRACE ------\n");
    if ip != 0 {
        write_fd(fd, b"EIP:\n");
        let frame = [ip as *mut libc::c_void];
        // SAFETY: one valid pointer-sized entry.
        unsafe { libc::backtrace_symbols_fd(frame.as_ptr(), 1, fd) };
    }
    write_fd(fd, b"\nBacktrace:\n");
    let mut frames = [std::ptr::null_mut::<libc::c_void>(); 100];
    // SAFETY: backtrace fills at most `frames.len()` entries and returns how many.
    let n = unsafe { libc::backtrace(frames.as_mut_ptr(), frames.len() as libc::c_int) };
    // SAFETY: the first `n` entries were just filled.
    unsafe { libc::backtrace_symbols_fd(frames.as_ptr(), n, fd) };
}

/// The fatal-signal handler (Redis's `sigsegvHandler`). Installed with SA_RESETHAND, so
/// re-raising the signal at the end kills the process with it (and dumps core if enabled).
extern "C" fn on_fatal_signal(sig: libc::c_int, info: *mut libc::siginfo_t, ctx: *mut libc::c_void) {
    let (fd, close) = open_log();
    report_start(fd);
    let mut l = Line::new();
    l.push(b"fluidB ").push(env!("CARGO_PKG_VERSION").as_bytes()).push(b" crashed by signal: ").num(sig as i64);
    // SAFETY: the kernel passes a valid siginfo_t to an SA_SIGINFO handler.
    let (code, addr, pid, uid) = unsafe {
        if info.is_null() {
            (0, 0, -1, 0)
        } else {
            let i = &*info;
            (i.si_code, i.si_addr() as usize, i.si_pid(), i.si_uid())
        }
    };
    l.push(b", si_code: ").num(code as i64);
    log_line(fd, &l.buf[..l.len]);
    if sig == libc::SIGSEGV || sig == libc::SIGBUS {
        let mut l = Line::new();
        l.push(b"Accessing address: ").hex(addr);
        log_line(fd, &l.buf[..l.len]);
    }
    if code == libc::SI_USER && pid != -1 {
        let mut l = Line::new();
        l.push(b"Killed by PID: ").num(pid as i64).push(b", UID: ").num(uid as i64);
        log_line(fd, &l.buf[..l.len]);
    }
    // SAFETY: `ctx` is the handler's context argument.
    let ip = unsafe { crashed_ip(ctx) };
    if ip != 0 {
        let mut l = Line::new();
        l.push(b"Crashed running the instruction at: ").hex(ip);
        log_line(fd, &l.buf[..l.len]);
    }
    stack_trace(fd, ip);
    write_fd(fd, REPORT_END);
    if close {
        // SAFETY: closes the descriptor opened above.
        unsafe { libc::close(fd) };
    }
    // SA_RESETHAND restored the default action: die of the same signal.
    // SAFETY: raising a signal has no memory-safety preconditions.
    unsafe { libc::raise(sig) };
}

/// Ends a panic report (Redis's `bugReportEnd(0, 0)`): the handlers go first so the abort
/// does not produce a second, signal report.
fn report_end_and_die() -> ! {
    crate::server::log::raw(REPORT_END);
    set_enabled(false);
    if EXIT_ON_PANIC.load(Ordering::Relaxed) {
        // SAFETY: ends the process at once, as Redis's `_exit(1)` under use-exit-on-panic.
        unsafe { libc::_exit(1) }
    }
    std::process::abort()
}

fn report_start_normal() {
    if !REPORT_STARTED.swap(true, Ordering::SeqCst) {
        crate::server::log::raw(REPORT_START);
    }
}

fn log_backtrace() {
    let bt = std::backtrace::Backtrace::force_capture();
    crate::server::log::raw(format!("\n------ STACK TRACE ------\n{bt}\n").as_bytes());
}

/// `serverPanic`: the "Guru Meditation" report, then the process aborts.
pub fn panic_report(msg: &str, file: &str, line: u32, crash_log: bool) -> ! {
    report_start_normal();
    crate::log_warning!("------------------------------------------------");
    crate::log_warning!("!!! Software Failure. Press left mouse button to continue");
    crate::log_warning!("Guru Meditation: {msg} #{file}:{line}");
    if crash_log {
        log_backtrace();
    }
    report_end_and_die()
}

/// `serverAssertWithInfo`: the client's command, the failed condition, then the abort.
pub fn assert_report(argv: &[bytes::Bytes], cond: &str, file: &str, line: u32, crash_log: bool) -> ! {
    report_start_normal();
    crate::log_warning!("=== ASSERTION FAILED CLIENT CONTEXT ===");
    crate::log_warning!("client->argc = {}", argv.len());
    for (j, a) in argv.iter().enumerate() {
        crate::log_warning!("client->argv[{j}] = \"{}\" (refcount: 1)", String::from_utf8_lossy(a));
    }
    crate::log_warning!("=== ASSERTION FAILED ===");
    crate::log_warning!("==> {file}:{line} '{cond}' is not true");
    if crash_log {
        log_backtrace();
    }
    report_end_and_die()
}

/// Logs a Rust panic the way Redis logs a `serverPanic`, without ending the process: the
/// panic then unwinds as before (a command that panics loses its connection; the store
/// lock is released on the way out).
pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let msg = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic".to_string());
        let (file, line) = info.location().map_or(("?", 0), |l| (l.file(), l.line()));
        crate::log_warning!("------------------------------------------------");
        crate::log_warning!("!!! Software Failure. Press left mouse button to continue");
        crate::log_warning!("Guru Meditation: {msg} #{file}:{line}");
        default(info);
    }));
}

#[cfg(test)]
mod tests {
    use super::Line;

    #[test]
    fn line_formatting_without_allocation() {
        let mut l = Line::new();
        l.num(-42).push(b" ").padded(7, 3).push(b" ").hex(255).push(b" ").num(0);
        assert_eq!(&l.buf[..l.len], b"-42 007 0xff 0");
        let mut l = Line::new();
        for _ in 0..100 {
            l.push(b"0123456789");
        }
        assert_eq!(l.len, 512, "a long line is cut, never overflows");
    }
}
