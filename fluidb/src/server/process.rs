//! Process-wide settings that act on the operating system rather than on the dataset:
//! the process title (`set-proc-title`, `proc-title-template`), transparent huge pages
//! (`disable-thp`) and jemalloc's background purging thread (`jemalloc-bg-thread`).

use crate::config::Config;

/// Applies the process settings at startup, before any other thread runs (the process
/// title moves the environment, which only a single-threaded process may do safely).
pub fn init(cfg: &Config) {
    if cfg.disable_thp {
        disable_thp();
    }
    set_jemalloc_bg_thread(cfg.jemalloc_bg_thread);
    set_title(cfg);
}

/// `disable-thp yes`: opts this process out of transparent huge pages, as Redis does:
/// with THP a fork's copy-on-write copies 2 MB pages for every written byte, which
/// inflates memory and the latency of writes during BGSAVE and full syncs.
fn disable_thp() {
    #[cfg(target_os = "linux")]
    // SAFETY: prctl with PR_SET_THP_DISABLE takes plain integers and touches no memory.
    unsafe {
        libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0);
    }
}

/// `jemalloc-bg-thread`: jemalloc purges freed pages on a background thread of its own
/// instead of inside the threads that free memory.
pub fn set_jemalloc_bg_thread(on: bool) {
    if let Err(e) = tikv_jemalloc_ctl::background_thread::write(on) {
        crate::log_warning!("Can't set jemalloc's background thread to {on}: {e}");
    }
}

/// Sets the title `ps` and `/proc/<pid>/cmdline` show to `proc-title-template`
/// expanded with this server's values (Redis's `redisSetProcTitle`); nothing when
/// `set-proc-title no`.
pub fn set_title(cfg: &Config) {
    if !cfg.set_proc_title {
        return;
    }
    let Some(title) = expand_title(cfg) else {
        return;
    };
    argv::write(&title);
}

/// The template expanded with Redis's variables; `None` if it is invalid (CONFIG SET
/// checks it before it is stored, so only a bug gets here).
fn expand_title(cfg: &Config) -> Option<Vec<u8>> {
    let port = cfg.port;
    let first_bind = cfg.bind.first().map_or("*", |s| s.as_str());
    crate::config::expand_proc_title(cfg.proc_title_template.as_bytes(), |name| {
        Some(match name {
            b"title" => argv::exec_name().into_bytes(),
            b"listen-addr" if port != 0 => format!("{first_bind}:{port}").into_bytes(),
            b"listen-addr" => format!("unixsocket:{}", cfg.unixsocket.as_deref().unwrap_or("")).into_bytes(),
            b"server-mode" => Vec::new(),
            b"config-file" => {
                cfg.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default().into_bytes()
            }
            b"port" => port.to_string().into_bytes(),
            b"tls-port" => b"0".to_vec(),
            b"unixsocket" => cfg.unixsocket.clone().unwrap_or_default().into_bytes(),
            _ => return None,
        })
    })
}

/// The memory the kernel shows as the process's command line: the original `argv`
/// strings and, after them, the environment strings (Redis's `setproctitle.c`). The
/// environment is copied elsewhere first, so overwriting its old place harms nothing.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod argv {
    use std::ffi::CStr;
    use std::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};
    use std::sync::Mutex;

    static ARGC: AtomicUsize = AtomicUsize::new(0);
    static ARGV: AtomicPtr<*mut libc::c_char> = AtomicPtr::new(std::ptr::null_mut());

    /// glibc calls `.init_array` functions with `(argc, argv, envp)` before `main`: the
    /// one portable-enough way to reach the original argument memory, which Rust's
    /// `std::env::args` only copies.
    #[used]
    #[link_section = ".init_array"]
    static CAPTURE: extern "C" fn(libc::c_int, *mut *mut libc::c_char, *mut *mut libc::c_char) = capture;

    extern "C" fn capture(argc: libc::c_int, argv: *mut *mut libc::c_char, _envp: *mut *mut libc::c_char) {
        ARGC.store(argc.max(0) as usize, Ordering::Relaxed);
        ARGV.store(argv, Ordering::Relaxed);
    }

    /// The writable title area, found once: (start, length).
    struct Area {
        start: usize,
        len: usize,
    }
    static AREA: Mutex<Option<Area>> = Mutex::new(None);
    static EXEC_NAME: Mutex<String> = Mutex::new(String::new());

    /// `argv[0]` as the process was started (Redis's `server.exec_argv[0]`).
    pub fn exec_name() -> String {
        let name = EXEC_NAME.lock().map(|n| n.clone()).unwrap_or_default();
        if !name.is_empty() {
            return name;
        }
        std::env::args().next().unwrap_or_default()
    }

    pub fn write(title: &[u8]) {
        let Ok(mut area) = AREA.lock() else {
            return;
        };
        if area.is_none() {
            *area = find_area();
        }
        let Some(a) = area.as_ref() else {
            return;
        };
        let n = title.len().min(a.len - 1);
        // SAFETY: `find_area` established that [start, start+len) is the contiguous
        // argv/environ string memory of this process, which nothing references any more
        // (the environment was moved and argv[0] copied); the kernel only reads it.
        unsafe {
            let dst = a.start as *mut u8;
            std::ptr::copy_nonoverlapping(title.as_ptr(), dst, n);
            std::ptr::write_bytes(dst.add(n), 0, a.len - n);
        }
    }

    /// Measures the contiguous run of argv then environ strings and moves the
    /// environment strings to the heap (Redis's `spt_init`). Called with the area lock
    /// held, at startup, before other threads exist.
    fn find_area() -> Option<Area> {
        let argc = ARGC.load(Ordering::Relaxed);
        let argv = ARGV.load(Ordering::Relaxed);
        if argv.is_null() || argc == 0 {
            return None;
        }
        // SAFETY: argv holds argc valid NUL-terminated strings (the C runtime's contract);
        // environ is the NULL-terminated environment array. The environment is replaced
        // by heap copies before its old strings are counted as title space.
        unsafe {
            let first = *argv;
            if first.is_null() {
                return None;
            }
            if let Ok(mut n) = EXEC_NAME.lock() {
                *n = CStr::from_ptr(first).to_string_lossy().into_owned();
            }
            let start = first as usize;
            let mut end = start;
            for i in 0..argc {
                let p = *argv.add(i);
                if p.is_null() || p as usize != end && i > 0 {
                    break;
                }
                end = p as usize + CStr::from_ptr(p).to_bytes().len() + 1;
            }
            let env = environ_ptr();
            if !env.is_null() {
                let mut count = 0;
                while !(*env.add(count)).is_null() {
                    count += 1;
                }
                let mut copies: Vec<*mut libc::c_char> = Vec::with_capacity(count + 1);
                for i in 0..count {
                    let p = *env.add(i);
                    if p as usize == end {
                        end = p as usize + CStr::from_ptr(p).to_bytes().len() + 1;
                    }
                    copies.push(libc::strdup(p));
                }
                copies.push(std::ptr::null_mut());
                // The new environment lives as long as the process.
                let leaked = Box::leak(copies.into_boxed_slice());
                set_environ(leaked.as_mut_ptr());
            }
            (end > start + 1).then(|| Area { start, len: end - start })
        }
    }

    extern "C" {
        static mut environ: *mut *mut libc::c_char;
    }

    unsafe fn environ_ptr() -> *mut *mut libc::c_char {
        std::ptr::addr_of!(environ).read()
    }

    unsafe fn set_environ(p: *mut *mut libc::c_char) {
        std::ptr::addr_of_mut!(environ).write(p);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod argv {
    pub fn exec_name() -> String {
        std::env::args().next().unwrap_or_default()
    }
    pub fn write(_title: &[u8]) {}
}

/// The startup banner (Redis's `redisAsciiArt`): a logo on a terminal, or always with
/// `always-show-logo yes`, when the log goes to standard output; a one-line notice
/// otherwise, so log files stay greppable.
pub fn show_logo(cfg: &Config) {
    // SAFETY: isatty only inspects a file descriptor number.
    let tty = unsafe { libc::isatty(libc::STDOUT_FILENO) } == 1;
    if cfg.logfile.is_empty() && (cfg.always_show_logo || tty) {
        let version = env!("CARGO_PKG_VERSION");
        let (port, pid) = (cfg.port, std::process::id());
        println!(
            "\n       ~~~~~~~~~~~~~\n     ~~  fluidB  ~~      fluidB {version} (64 bit)\n   ~~~~~~~~~~~~~~~~~~\n \
             ~~~~~~~~~~~~~~~~~~~~~~     Running in standalone mode\n  ~~~~~~~~~~~~~~~~~~~~      Port: {port}\n    \
             ~~~~~~~~~~~~~~~~        PID: {pid}\n      ~~~~~~~~~~~~\n"
        );
    } else {
        crate::log_notice!("Running mode=standalone, port={}.", cfg.port);
    }
}
