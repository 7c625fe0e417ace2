//! Reading `redis.conf` / `keydb.conf` text into a [`Config`].
//!
//! A port of `loadServerConfigFromString`: one directive per line, arguments
//! split by [`split_args`], `#` comments, case-insensitive names, `include`
//! (nested, with glob patterns), and Redis's fatal error report naming the
//! line. KeyDB's ordering rules for `active-replica`, `multi-master` and
//! `replicaof` are enforced here because they involve several directives.

use std::fmt;
use std::path::{Path, PathBuf};

use super::cstr::{c_str, strerror, string_match};
use super::directives::{lookup, Directive, IGNORED_DIRECTIVES};
use super::runtime::{trim, HZ_MAX, HZ_MIN};
use super::splitargs::split_args;
use super::values::{Ctx, Value};
use super::{
    Config, MAX_CONFIG_FILE_BYTES, MAX_CONFIG_LINE_BYTES, MAX_INCLUDED_FILES, MAX_INCLUDE_DEPTH,
    MAX_TOTAL_CONFIG_BYTES, VERSION,
};

/// A fatal configuration error. `Display` prints exactly what the server
/// should print before exiting with status 1 (Redis's text, with "fluidB
/// <version>" in the banner).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    kind: ErrorKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum ErrorKind {
    /// A bad line. Like Redis, the line number counts from the start of the
    /// file being read (an included file restarts at 1) and the file name is
    /// not printed; it is kept here for logs.
    Line { file: Option<PathBuf>, line_no: usize, line: String, message: String },
    /// A check made after the last line (no line to show).
    General { message: String },
    /// A file that cannot be read (Redis logs this one and exits).
    Open { path: String, reason: String },
}

impl ConfigError {
    fn general(message: impl Into<String>) -> Self {
        ConfigError { kind: ErrorKind::General { message: message.into() } }
    }
    /// The error text alone, without banner or line.
    pub fn message(&self) -> &str {
        match &self.kind {
            ErrorKind::Line { message, .. } | ErrorKind::General { message } => message,
            ErrorKind::Open { reason, .. } => reason,
        }
    }
    /// The 1-based line number within [`ConfigError::file`], if any.
    pub fn line_number(&self) -> Option<usize> {
        match &self.kind {
            ErrorKind::Line { line_no, .. } => Some(*line_no),
            _ => None,
        }
    }
    /// The file holding the bad line (`None` for the command line or stdin
    /// without a config file).
    pub fn file(&self) -> Option<&Path> {
        match &self.kind {
            ErrorKind::Line { file, .. } => file.as_deref(),
            _ => None,
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ErrorKind::Line { line_no, line, message, .. } => write!(
                f,
                "\n*** FATAL CONFIG FILE ERROR (fluidB {VERSION}) ***\nReading the configuration file, at line {line_no}\n>>> '{line}'\n{message}\n"
            ),
            ErrorKind::General { message } => {
                write!(f, "\n*** FATAL CONFIG FILE ERROR (fluidB {VERSION}) ***\n{message}\n")
            }
            ErrorKind::Open { path, reason } => {
                writeln!(f, "Fatal error, can't open config file '{path}': {reason}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a line failed: a message for this line, or an error already
/// formatted by a nested include.
enum LineError {
    Msg(String),
    Fatal(ConfigError),
}

impl From<String> for LineError {
    fn from(s: String) -> Self {
        LineError::Msg(s)
    }
}

impl From<&str> for LineError {
    fn from(s: &str) -> Self {
        LineError::Msg(s.to_string())
    }
}

/// Where a directive was read, for warnings and late errors.
#[derive(Clone, Debug)]
struct Origin {
    file: Option<PathBuf>,
    line_no: usize,
    line: String,
}

/// Loading state shared by the main file, includes and command-line options.
pub(crate) struct Loader {
    pub(crate) cfg: Config,
    warnings: Vec<String>,
    /// Redis resets the default save points at the first `save` line only.
    save_loaded: bool,
    depth: usize,
    files_read: usize,
    bytes_read: u64,
    /// First place each directive was set (canonical name).
    mentioned: Vec<(&'static str, Origin)>,
    multi_master_at: Option<Origin>,
}

impl Loader {
    pub(crate) fn new(cfg: Config) -> Self {
        Loader {
            cfg,
            warnings: Vec::new(),
            save_loaded: false,
            depth: 0,
            files_read: 0,
            bytes_read: 0,
            mentioned: Vec::new(),
            multi_master_at: None,
        }
    }

    pub(crate) fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// Reads a file for loading, enforcing the size limits. `shown` is the
    /// name printed in the error (Redis prints the path as it was given).
    pub(crate) fn read_file(&mut self, path: &Path, shown: &str) -> Result<Vec<u8>, ConfigError> {
        let open_err = |reason: String| ConfigError { kind: ErrorKind::Open { path: shown.to_string(), reason } };
        self.files_read += 1;
        if self.files_read > MAX_INCLUDED_FILES {
            return Err(open_err(format!("more than {MAX_INCLUDED_FILES} configuration files")));
        }
        let meta = std::fs::metadata(path).map_err(|e| open_err(strerror(&e)))?;
        if meta.len() > MAX_CONFIG_FILE_BYTES || self.bytes_read.saturating_add(meta.len()) > MAX_TOTAL_CONFIG_BYTES {
            return Err(open_err("File too large".into()));
        }
        let data = std::fs::read(path).map_err(|e| open_err(strerror(&e)))?;
        if data.len() as u64 > MAX_CONFIG_FILE_BYTES {
            return Err(open_err("File too large".into()));
        }
        self.bytes_read += data.len() as u64;
        Ok(data)
    }

    /// `loadServerConfigFromString`: processes `content` line by line.
    pub(crate) fn load_string(&mut self, content: &[u8], file: Option<&Path>) -> Result<(), ConfigError> {
        for (i, raw) in content.split(|&b| b == b'\n').enumerate() {
            let line_no = i + 1;
            let line = c_str(trim(raw, b" \t\r\n"));
            let origin = || Origin { file: file.map(Path::to_path_buf), line_no, line: shown_line(line) };
            if raw.len() > MAX_CONFIG_LINE_BYTES {
                let msg = format!("Line longer than {MAX_CONFIG_LINE_BYTES} bytes");
                return Err(line_error(origin(), msg));
            }
            if line.is_empty() || line[0] == b'#' {
                continue;
            }
            let argv = split_args(line)
                .ok_or_else(|| line_error(origin(), "Unbalanced quotes in configuration line".into()))?;
            if argv.is_empty() {
                continue;
            }
            match self.directive(&argv, origin()) {
                Ok(()) => {}
                Err(LineError::Msg(m)) => return Err(line_error(origin(), m)),
                Err(LineError::Fatal(e)) => return Err(e),
            }
        }
        // Sanity checks Redis makes at the end of every loaded string.
        if self.cfg.cluster_enabled && !self.cfg.replicaof.is_empty() {
            return Err(ConfigError::general("replicaof directive not allowed in cluster mode"));
        }
        self.cfg.hz = self.cfg.hz.clamp(HZ_MIN, HZ_MAX);
        Ok(())
    }

    fn directive(&mut self, argv: &[Vec<u8>], origin: Origin) -> Result<(), LineError> {
        let name = argv[0].to_ascii_lowercase();
        if let Some((d, _)) = lookup(&name) {
            if !d.is_multi_arg() && argv.len() != 2 {
                return Err("wrong number of arguments".into());
            }
            // A multi-argument directive given as one argument is split on spaces, as
            // Redis 7.0 does (`--save "3600 1"` on the command line).
            let split: Vec<&[u8]>;
            let args: Vec<&[u8]> = if d.is_multi_arg() && argv.len() == 2 && !argv[1].is_empty() {
                split = argv[1].split(|&b| b == b' ').collect();
                split
            } else {
                argv[1..].iter().map(Vec::as_slice).collect()
            };
            return self.standard(d, &args, origin);
        }
        let argc = argv.len();
        let name_str = String::from_utf8_lossy(&name).into_owned();
        if let Some((_, want)) = IGNORED_DIRECTIVES.iter().find(|(n, _)| n.as_bytes() == name.as_slice()) {
            if want.is_none_or(|n| n == argc) {
                self.warn(format!("'{name_str}' is obsolete and ignored{}", at(&origin)));
                return Ok(());
            }
        }
        let words =
            |from: usize| argv[from..].iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>();
        match name.as_slice() {
            b"include" if argc == 2 => self.include(&argv[1]).map_err(LineError::Fatal),
            b"rename-command" if argc == 3 => {
                let w = words(1);
                self.cfg.rename_command.push((w[0].clone(), w[1].clone()));
                // Checked against the command table with the lines before it, as Redis
                // applies each line when it reads it.
                match crate::commands::CommandTable::get().rename_plan(&self.cfg.rename_command) {
                    Ok(_) => Ok(()),
                    Err((_, msg)) => Err(LineError::Msg(msg.to_string())),
                }
            }
            b"user" if argc >= 2 => {
                self.cfg.user.push(words(1));
                Ok(())
            }
            b"loadmodule" if argc >= 2 => {
                self.cfg.loadmodule.push(words(1));
                Ok(())
            }
            _ if name.contains(&b'.') => {
                if argc != 2 {
                    return Err("Module config specified without value".into());
                }
                let w = words(0);
                self.cfg.module_configs.push((w[0].clone(), w[1].clone()));
                Ok(())
            }
            b"sentinel" => {
                if argc != 1 {
                    return Err("sentinel directive while not in sentinel mode".into());
                }
                self.warn(format!("sentinel mode is not supported, 'sentinel' ignored{}", at(&origin)));
                Ok(())
            }
            _ => Err("Bad directive or wrong number of arguments".into()),
        }
    }

    /// A directive of the table, with KeyDB's cross-directive rules.
    fn standard(&mut self, d: &'static Directive, args: &[&[u8]], origin: Origin) -> Result<(), LineError> {
        let ctx = Ctx { reading_file: true, multi_master: self.cfg.multi_master };
        let mode_switch = d.name == "active-replica" || d.name == "multi-master";
        if mode_switch && bool::parse(&d.kind, args, &false, &ctx) == Ok(true) && !self.cfg.replicaof.is_empty() {
            return Err(format!("{} yes must be set before any replicaof directive", d.name).into());
        }
        if d.name == "save" && !self.save_loaded {
            // The first `save` line replaces the default save points.
            self.save_loaded = true;
            self.cfg.save.clear();
        }
        (d.set)(&mut self.cfg, args, &ctx)?;
        if d.name == "active-replica" && self.cfg.active_replica && self.cfg.replica_read_only {
            self.cfg.replica_read_only = false;
            self.warn("Notice: \"active-replica yes\" implies \"replica-read-only no\"".into());
        }
        if d.name == "multi-master" {
            self.multi_master_at = self.cfg.multi_master.then(|| origin.clone());
        }
        if !self.mentioned.iter().any(|(n, _)| *n == d.name) {
            self.mentioned.push((d.name, origin));
        }
        Ok(())
    }

    /// `include <path>`: relative to the current `dir` (Redis opens it
    /// relative to its working directory, which `dir` changes); glob
    /// patterns include every match in order, and no match is not an error.
    fn include(&mut self, arg: &[u8]) -> Result<(), ConfigError> {
        let pattern = c_str(arg);
        let shown = String::from_utf8_lossy(pattern).into_owned();
        if self.depth >= MAX_INCLUDE_DEPTH {
            return Err(ConfigError::general(format!(
                "include nesting deeper than {MAX_INCLUDE_DEPTH} levels at '{shown}'"
            )));
        }
        let base = PathBuf::from(&self.cfg.dir);
        let files: Vec<(PathBuf, String)> = if pattern.iter().any(|c| matches!(c, b'*' | b'?' | b'[')) {
            expand_glob(pattern, &base)
                .into_iter()
                .map(|p| {
                    let shown = p.to_string_lossy().into_owned();
                    (p, shown)
                })
                .collect()
        } else {
            vec![(base.join(bytes_path(pattern)), shown)]
        };
        for (path, shown) in files {
            let content = self.read_file(&path, &shown)?;
            self.depth += 1;
            let result = self.load_string(&content, Some(&path));
            self.depth -= 1;
            result?;
        }
        Ok(())
    }

    /// Checks made once everything is read, and the final warnings.
    pub(crate) fn finish(mut self) -> Result<(Config, Vec<String>), ConfigError> {
        if self.cfg.multi_master && !self.cfg.active_replica {
            let message = "multi-master yes requires active-replica yes".to_string();
            return Err(match self.multi_master_at.take() {
                Some(o) => line_error(o, message),
                None => ConfigError::general(message),
            });
        }
        let defaults = Config::default();
        let mentioned = std::mem::take(&mut self.mentioned);
        for (name, origin) in mentioned {
            let Some((d, _)) = lookup(name.as_bytes()) else {
                continue;
            };
            if !d.is_implemented() && (d.get)(&self.cfg) != (d.get)(&defaults) {
                self.warn(format!(
                    "'{name}' is not implemented by fluidB yet{}: the value is kept and shown by CONFIG GET but has no effect",
                    at(&origin)
                ));
            }
        }
        if !self.cfg.rename_command.is_empty() {
            self.warn("'rename-command' lines are stored; the command table applies them".into());
        }
        if !self.cfg.loadmodule.is_empty() || !self.cfg.module_configs.is_empty() {
            self.warn("modules are not supported: 'loadmodule' and module configs are ignored".into());
        }
        if !self.cfg.user.is_empty() {
            self.warn("'user' lines are stored for the ACL module".into());
        }
        Ok((self.cfg, self.warnings))
    }
}

fn line_error(o: Origin, message: String) -> ConfigError {
    ConfigError { kind: ErrorKind::Line { file: o.file, line_no: o.line_no, line: o.line, message } }
}

/// " (file, line N)" for warnings.
fn at(o: &Origin) -> String {
    match &o.file {
        Some(f) => format!(" ({} line {})", f.display(), o.line_no),
        None => format!(" (line {})", o.line_no),
    }
}

/// The line as printed in an error: lossy UTF-8, cut when huge.
fn shown_line(line: &[u8]) -> String {
    const MAX_SHOWN: usize = 1024;
    let mut s = String::from_utf8_lossy(&line[..line.len().min(MAX_SHOWN)]).into_owned();
    if line.len() > MAX_SHOWN {
        s.push_str("...");
    }
    s
}

fn bytes_path(b: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    PathBuf::from(std::ffi::OsStr::from_bytes(b))
}

/// Expands a glob like `glob(3)` (no flags): wildcards match within one path
/// component, names starting with `.` need an explicit dot, and the result
/// is sorted. Relative patterns are taken from `base`.
pub(crate) fn expand_glob(pattern: &[u8], base: &Path) -> Vec<PathBuf> {
    const MAX_MATCHES: usize = 4096;
    use std::os::unix::ffi::OsStrExt;
    let root = if pattern.first() == Some(&b'/') { PathBuf::from("/") } else { base.to_path_buf() };
    let mut current = vec![root];
    for comp in pattern.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        let wild = comp.iter().any(|c| matches!(c, b'*' | b'?' | b'['));
        let mut next = Vec::new();
        for dir in &current {
            if !wild {
                let p = dir.join(bytes_path(comp));
                if p.exists() {
                    next.push(p);
                }
                continue;
            }
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            let mut names: Vec<Vec<u8>> = entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().as_bytes().to_vec())
                .filter(|n| comp.first() == Some(&b'.') || n.first() != Some(&b'.'))
                .filter(|n| string_match(comp, n, false))
                .take(MAX_MATCHES)
                .collect();
            names.sort();
            next.extend(names.iter().map(|n| dir.join(bytes_path(n))));
            if next.len() >= MAX_MATCHES {
                break;
            }
        }
        current = next;
        if current.is_empty() {
            break;
        }
    }
    current.sort();
    current.truncate(MAX_MATCHES);
    current
}

/// Loads like `loadServerConfig(filename, config_from_stdin, options)`:
/// the file, then stdin, then `"\n" + options` form one text.
pub(crate) fn load(
    file: Option<&Path>,
    stdin: Option<&[u8]>,
    options: Option<&[u8]>,
    warnings: Vec<String>,
) -> Result<(Config, Vec<String>), ConfigError> {
    let mut loader = Loader::new(Config::default());
    for w in warnings {
        loader.warn(w);
    }
    let mut content = Vec::new();
    if let Some(path) = file {
        content = loader.read_file(path, &path.to_string_lossy())?;
        loader.cfg.config_file = Some(path.to_path_buf());
    }
    if let Some(input) = stdin {
        content.extend_from_slice(input);
    }
    if let Some(opts) = options {
        content.push(b'\n');
        content.extend_from_slice(opts);
    }
    if content.len() as u64 > MAX_TOTAL_CONFIG_BYTES {
        return Err(ConfigError::general("configuration larger than the size limit"));
    }
    loader.load_string(&content, file)?;
    loader.finish()
}

impl Config {
    /// Loads a config file like `fluidb-server <path>` (no other options).
    /// The absolute path is recorded for CONFIG REWRITE. Returns the config
    /// and the warnings the server should log.
    pub fn load_file(path: &Path) -> Result<(Config, Vec<String>), ConfigError> {
        let abs = super::args::absolute_path(path.as_os_str());
        load(Some(&abs), None, None, Vec::new())
    }

    /// Loads config text (no file: CONFIG REWRITE will refuse).
    pub fn load_bytes(text: &[u8]) -> Result<(Config, Vec<String>), ConfigError> {
        load(None, Some(text), None, Vec::new())
    }
}
