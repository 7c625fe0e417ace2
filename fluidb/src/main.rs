//! `fluidb-server [config-file] [--directive value ...]`: configuration, logging,
//! daemonizing and the runtime, then `server::run`.

use std::ffi::OsString;

use fluidb::config::{self, Config, Startup};
use fluidb::server::{self, log, Shared};
use fluidb::{log_notice, log_warning};

/// jemalloc, as Redis uses: low fragmentation for many small allocations, cheap frees, and
/// the allocation statistics INFO memory reports.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    let args: Vec<OsString> = std::env::args_os().collect();
    let (cfg, warnings) = match config::from_args(args) {
        Startup::Run(cfg, warnings) => (cfg, warnings),
        Startup::Exit(code, text) => {
            if code == 0 {
                print!("{text}");
            } else {
                eprint!("{text}");
            }
            std::process::exit(code);
        }
    };
    if cfg.daemonize {
        daemonize();
    }
    log::configure(log_level(&cfg), &cfg.logfile);
    server::process::init(&cfg);
    fluidb::server::crash::set_log_file(&cfg.logfile);
    fluidb::server::crash::set_exit_on_panic(cfg.use_exit_on_panic);
    fluidb::server::crash::set_enabled(cfg.crash_log_enabled);
    fluidb::server::crash::install_panic_hook();
    // SIGINT / SIGTERM only record the request; the cron carries the shutdown out.
    server::shutdown::install_signal_handlers();
    log_notice!("oO0OoO0OoO0Oo fluidB is starting oO0OoO0OoO0Oo");
    log_notice!("fluidB version={}, bits=64, pid={}, just started", env!("CARGO_PKG_VERSION"), std::process::id());
    if cfg.config_file.is_none() {
        log_warning!(
            "Warning: no config file specified, using the default config. In order to specify a config file use fluidb-server /path/to/fluidb.conf"
        );
    } else {
        log_notice!("Configuration loaded");
    }
    for w in &warnings {
        log_warning!("{w}");
    }
    if let Err(e) = std::env::set_current_dir(&cfg.dir) {
        log_warning!("Can't chdir to '{}': {e}", cfg.dir);
        std::process::exit(1);
    }
    if let Some(p) = server::shutdown::pidfile(&cfg) {
        if let Err(e) = std::fs::write(&p, format!("{}\n", std::process::id())) {
            log_warning!("Failed to write PID file {p}: {e}");
        }
    }
    let threads = cfg.server_threads.max(1) as usize;
    let pid_path = server::shutdown::pidfile(&cfg);
    let config_file = cfg.config_file.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
    // Checked line by line when the configuration was read.
    let _ = fluidb::commands::CommandTable::get().install_renames(&cfg.rename_command);
    let _ = server::oom::apply(&cfg, !cfg.replicaof.is_empty());
    // Listening first, as Redis does before loading: a client connecting while the AOF
    // replays waits in the backlog instead of being refused.
    let bound = match server::bind(&cfg) {
        Ok(b) => b,
        Err(e) => {
            log_warning!("Failed listening on port {} (TCP), aborting: {e}", cfg.port);
            std::process::exit(1);
        }
    };
    // The logo carries the PID, which Redis's test harness takes as the sign that the
    // server accepts connections: it comes after the bind, as in Redis (`initServer`
    // listens, then `redisAsciiArt`).
    server::process::show_logo(&cfg);
    let shared = Shared::new(cfg, config_file);
    // Redis's `initial_memory_usage`: what the server uses before any data is loaded.
    fluidb::commands::info::note_startup_memory();
    // A signal during the AOF replay (which runs before the runtime) is acted on once it
    // is done, as Redis's `whileBlockedCron` does: exit without saving.
    server::shutdown::set_loading(true);
    if load_data(&shared).is_err() {
        std::process::exit(1);
    }
    server::shutdown::after_boot_load(&mut shared.store.lock());
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            log_warning!("Failed to start the runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = rt.block_on(server::run(shared, threads, bound));
    if let Some(p) = pid_path {
        let _ = std::fs::remove_file(p);
    }
    if let Err(e) = result {
        log_warning!("{e}");
        std::process::exit(1);
    }
}

/// Loads the dataset at boot as Redis does (`loadDataFromDisk`): the manifest of the AOF
/// directory is read in any case; with `appendonly` on, the AOF it names is loaded, else
/// the RDB file. With `appendonly` on and no AOF yet, fluidB loads the RDB file (Redis
/// would start empty and lose it) and the loaded data becomes the new AOF's base. Err
/// (after logging why) means the server must not start.
fn load_data(shared: &Shared) -> Result<(), fluidb::persistence::aof::Logged> {
    use fluidb::persistence::aof::{self, LoadStatus};
    use fluidb::persistence::snapshot;
    let mut st = shared.store.lock();
    // A replica keeps keys that expired while it was down: its master deletes them.
    st.is_replica = !st.cfg.replicaof.is_empty();
    if st.cfg.active_replica {
        // The node's identity, kept in the data directory (the working directory now).
        let uuid = fluidb::replication::active::load_or_create_uuid(std::path::Path::new("."));
        st.repl.active.uuid = uuid;
        st.stream.active = Some(uuid);
        st.stream.counter_origin = st.repl.active.origin;
        st.clock.set_node_tag(fluidb::replication::active::node_tag(&uuid));
        log_notice!("Active replication: this node's UUID is {}", String::from_utf8_lossy(&uuid));
    }
    st.aofrw.manifest = aof::load_manifest_from_disk(&st.cfg)?;
    let rdb = |st: &mut fluidb::server::Store| {
        snapshot::load_at_boot(st).map_err(|e| {
            match e {
                snapshot::BootError::Io(e) => log_warning!("Fatal error loading the DB: {e}. Exiting."),
                snapshot::BootError::Corrupt(e) => snapshot::report_corrupt_rdb(&st.cfg.dbfilename, &e),
            }
            aof::Logged
        })
    };
    if st.cfg.appendonly {
        match aof::load_at_boot(shared, &mut st) {
            LoadStatus::Failed | LoadStatus::OpenErr => return Err(aof::Logged),
            LoadStatus::NotExist => rdb(&mut st)?,
            _ => {}
        }
    } else if server::loading::background_at_boot(&st) {
        // The RDB file loads once the server serves clients (they get -LOADING meanwhile).
        server::loading::prepare(&mut st);
    } else {
        rdb(&mut st)?;
    }
    aof::open_on_start(&mut st)?;
    aof::del_history_files(&mut st);
    Ok(())
}

fn log_level(cfg: &Config) -> log::Level {
    log::level_from_str(cfg.loglevel.as_str()).unwrap_or(log::Level::Notice)
}

/// Detaches from the terminal like Redis's `daemonize()`: fork, setsid, stdio to
/// /dev/null. Done before the runtime starts, while the process has one thread.
fn daemonize() {
    // SAFETY: called before any other thread exists; fork in a single-threaded process
    // is sound, and the child only continues with normal Rust code.
    unsafe {
        match libc::fork() {
            -1 => {
                eprintln!("fork failed: {}", std::io::Error::last_os_error());
                std::process::exit(1);
            }
            0 => {}
            _ => std::process::exit(0),
        }
        libc::setsid();
        let devnull = libc::open(c"/dev/null".as_ptr(), libc::O_RDWR);
        if devnull >= 0 {
            libc::dup2(devnull, 0);
            libc::dup2(devnull, 1);
            libc::dup2(devnull, 2);
            if devnull > 2 {
                libc::close(devnull);
            }
        }
    }
}
