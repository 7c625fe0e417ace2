//! The configuration values the server reads while running (a typed view kept inside the
//! store, updated by CONFIG SET).
// TODO(config merge): replaced by crate::config::Config.

#[derive(Debug, Clone)]
pub struct Settings {
    pub port: u16,
    pub bind: Vec<String>,
    pub unixsocket: Option<String>,
    pub protected_mode: bool,
    pub timeout: u64,
    pub tcp_keepalive: u64,
    pub databases: usize,
    pub maxclients: usize,
    pub requirepass: Option<Vec<u8>>,
    pub notify_flags: u32,
    pub proto_max_bulk_len: i64,
    pub client_query_buffer_limit: usize,
    pub slowlog_log_slower_than: i64,
    pub slowlog_max_len: usize,
    pub latency_monitor_threshold: u64,
    pub hz: u32,
    pub enable_debug_command: String,
    pub server_threads: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            port: 6379,
            bind: vec!["*".into(), "-::*".into()],
            unixsocket: None,
            protected_mode: true,
            timeout: 0,
            tcp_keepalive: 300,
            databases: 16,
            maxclients: 10000,
            requirepass: None,
            notify_flags: 0,
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            slowlog_log_slower_than: 10000,
            slowlog_max_len: 128,
            latency_monitor_threshold: 0,
            hz: 10,
            enable_debug_command: "no".into(),
            server_threads: 2,
        }
    }
}
