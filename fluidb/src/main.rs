//! `fluidb-server [config-file] [--directive value ...]`

use fluidb::server::{self, Settings, Shared};

/// jemalloc, as Redis uses: low fragmentation for many small allocations, cheap frees, and
/// the allocation statistics INFO memory reports.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() {
    // TODO(config merge): full redis.conf parsing.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut cfg = Settings::default();
    let mut i = 0;
    while i < args.len() {
        match args[i].as_str() {
            "--port" if i + 1 < args.len() => {
                cfg.port = args[i + 1].parse().unwrap_or(6379);
                i += 1;
            }
            // TODO(config merge): interim directives used by the introspection tests.
            d @ ("--requirepass"
            | "--enable-debug-command"
            | "--latency-monitor-threshold"
            | "--slowlog-log-slower-than"
            | "--slowlog-max-len"
            | "--databases"
            | "--unixsocket")
                if i + 1 < args.len() =>
            {
                let v = args[i + 1].clone();
                match d {
                    "--requirepass" => cfg.requirepass = (!v.is_empty()).then(|| v.into_bytes()),
                    "--enable-debug-command" => cfg.enable_debug_command = v,
                    "--latency-monitor-threshold" => cfg.latency_monitor_threshold = v.parse().unwrap_or(0),
                    "--slowlog-log-slower-than" => cfg.slowlog_log_slower_than = v.parse().unwrap_or(10000),
                    "--slowlog-max-len" => cfg.slowlog_max_len = v.parse().unwrap_or(128),
                    "--databases" => cfg.databases = v.parse().unwrap_or(16),
                    _ => cfg.unixsocket = Some(v),
                }
                i += 1;
            }
            _ => {}
        }
        i += 1;
    }
    let threads = cfg.server_threads.max(1);
    let shared = Shared::new(cfg, String::new());
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Failed to start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(server::run(shared)) {
        eprintln!("{e}");
        std::process::exit(1);
    }
}
