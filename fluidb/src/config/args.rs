//! The command line: `fluidb-server [config-file] [--directive value ...] [-]`,
//! handled exactly like Redis's `main()`.
//!
//! Options after the file become config lines appended after the file (and
//! after stdin when `-` is given), in order; option values are quoted with
//! [`repr`] so that spaces and quotes survive. This is what makes
//! `--replicaof h1 p1 --replicaof h2 p2` two `replicaof` lines.

use std::ffi::{OsStr, OsString};
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::cstr::repr;
use super::parse::load;
use super::splitargs::split_args;
use super::{Config, MAX_TOTAL_CONFIG_BYTES, VERSION};

/// What `main` should do.
// Built once at startup, so the size of `Config` inline does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Startup {
    /// Start the server with this configuration; log the warnings first.
    Run(Config, Vec<String>),
    /// Print the text and exit with the status: to stdout when the status is
    /// 0 (`--version`), to stderr otherwise (usage, fatal config error). The
    /// text ends with a newline.
    Exit(i32, String),
}

/// The usage text (`-h`, `--help`), modelled on Redis's.
pub fn usage() -> String {
    "Usage: ./fluidb-server [/path/to/fluidb.conf] [options] [-]\n\
     \x20      ./fluidb-server - (read config from stdin)\n\
     \x20      ./fluidb-server -v or --version\n\
     \x20      ./fluidb-server -h or --help\n\
     \n\
     Examples:\n\
     \x20      ./fluidb-server (run the server with default conf)\n\
     \x20      echo 'maxmemory 128mb' | ./fluidb-server -\n\
     \x20      ./fluidb-server /etc/fluidb/6379.conf\n\
     \x20      ./fluidb-server --port 7777\n\
     \x20      ./fluidb-server --port 7777 --replicaof 127.0.0.1 8888\n\
     \x20      ./fluidb-server --active-replica yes --replicaof 127.0.0.1 8888\n\
     \x20      ./fluidb-server /etc/myfluidb.conf --loglevel verbose -\n\
     \x20      ./fluidb-server /etc/myfluidb.conf --loglevel verbose\n"
        .to_string()
}

/// The `--version` line, shaped like Redis's so tools that parse `v=` work.
pub fn version_line() -> String {
    format!("fluidB server v={VERSION} sha=00000000:0 malloc=jemalloc-5.3.0 bits={} build=0\n", usize::BITS)
}

/// Parses the process arguments (including the program name in `args[0]`)
/// and loads the configuration, reading stdin when asked to with `-`.
pub fn from_args(args: Vec<OsString>) -> Startup {
    from_args_with_stdin(args, &mut std::io::stdin())
}

/// [`from_args`] with an explicit stdin (for tests).
pub fn from_args_with_stdin(args: Vec<OsString>, stdin: &mut dyn Read) -> Startup {
    let argv: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
    if argv.len() < 2 {
        // No arguments: Redis does not even look for a config file.
        return match load(None, None, None, Vec::new()) {
            Ok((cfg, warnings)) => Startup::Run(cfg, warnings),
            Err(e) => Startup::Exit(1, e.to_string()),
        };
    }
    match argv[1] {
        b"-v" | b"--version" => return Startup::Exit(0, version_line()),
        b"-h" | b"--help" => return Startup::Exit(1, usage()),
        b"--test-memory" | b"--check-system" => {
            let opt = String::from_utf8_lossy(argv[1]);
            return Startup::Exit(1, format!("{opt} is not supported by fluidb-server\n"));
        }
        _ => {}
    }
    let mut file = None;
    let mut j = 1;
    if argv[1].first() != Some(&b'-') {
        file = Some(absolute_path(args[1].as_os_str()));
        j = 2;
    }
    let (options, from_stdin) = build_options(&argv, j);
    let mut warnings = Vec::new();
    let stdin_text = if from_stdin {
        warnings.push("Reading config from stdin".to_string());
        let mut buf = Vec::new();
        let limit = MAX_TOTAL_CONFIG_BYTES + 1;
        if let Err(e) = stdin.take(limit).read_to_end(&mut buf) {
            return Startup::Exit(1, format!("Fatal error, can't read config from stdin: {e}\n"));
        }
        Some(buf)
    } else {
        None
    };
    match load(file.as_deref(), stdin_text.as_deref(), Some(&options), warnings) {
        Ok((cfg, warnings)) => Startup::Run(cfg, warnings),
        Err(e) => Startup::Exit(1, e.to_string()),
    }
}

/// Turns `argv[j..]` into config text like Redis's `main()`: `--name`
/// starts a new line, other words are quoted arguments. A lone `-` first or
/// last asks for stdin. `--save` followed by another option (or nothing)
/// means `save ""`.
pub(crate) fn build_options(argv: &[&[u8]], mut j: usize) -> (Vec<u8>, bool) {
    let argc = argv.len();
    let mut options: Vec<u8> = Vec::new();
    let mut from_stdin = false;
    let mut handled_last_config_arg = true;
    let is_option = |a: &[u8]| a.starts_with(b"--");
    while j < argc {
        let arg = argv[j];
        if arg == b"-" && (j == 1 || j == argc - 1) {
            from_stdin = true;
        } else if handled_last_config_arg && is_option(arg) {
            if !options.is_empty() {
                options.push(b'\n');
            }
            options.extend_from_slice(&arg[2..]);
            options.push(b' ');
            // "--port 6380" given as one argument carries its own value.
            let words = split_args(arg).map_or(0, |v| v.len());
            if words == 1 {
                handled_last_config_arg = false;
                let is_save = arg.eq_ignore_ascii_case(b"--save");
                let next_is_option = j != argc - 1 && is_option(argv[j + 1]);
                if is_save && (next_is_option || j == argc - 1) {
                    options.extend_from_slice(b"\"\"");
                    handled_last_config_arg = j != argc - 1;
                } else if arg.eq_ignore_ascii_case(b"--sentinel") && next_is_option {
                    handled_last_config_arg = true;
                }
            } else {
                handled_last_config_arg = true;
            }
        } else {
            options.extend_from_slice(repr(arg).as_bytes());
            options.push(b' ');
            handled_last_config_arg = true;
        }
        j += 1;
    }
    (options, from_stdin)
}

/// Redis's `getAbsolutePath`: trims blanks, joins a relative path to the
/// working directory and folds leading `../` components.
pub(crate) fn absolute_path(path: &OsStr) -> PathBuf {
    let trimmed = super::runtime::trim(path.as_bytes(), b" \r\n\t");
    if trimmed.first() == Some(&b'/') {
        return PathBuf::from(OsStr::from_bytes(trimmed));
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let mut abs = cwd.as_os_str().as_bytes().to_vec();
    if abs.last() != Some(&b'/') {
        abs.push(b'/');
    }
    let mut rel = trimmed;
    while rel.len() >= 3 && rel.starts_with(b"../") {
        rel = &rel[3..];
        if abs.len() > 1 {
            // Drop the last component of `abs` (which ends with '/').
            let cut = abs[..abs.len() - 1].iter().rposition(|&b| b == b'/').map_or(1, |p| p + 1);
            abs.truncate(cut);
        }
    }
    abs.extend_from_slice(rel);
    PathBuf::from(OsStr::from_bytes(&abs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(args: &[&str]) -> (String, bool) {
        let mut argv: Vec<&[u8]> = vec![b"fluidb-server"];
        argv.extend(args.iter().map(|a| a.as_bytes()));
        let first = if argv.len() > 1 && !argv[1].starts_with(b"-") { 2 } else { 1 };
        let (o, s) = build_options(&argv, first);
        (String::from_utf8(o).unwrap(), s)
    }

    #[test]
    fn options_become_lines_like_redis() {
        assert_eq!(opts(&["--port", "7777"]).0, "port \"7777\" ");
        assert_eq!(
            opts(&["--replicaof", "h1", "1", "--replicaof", "h2", "2"]).0,
            "replicaof \"h1\" \"1\" \nreplicaof \"h2\" \"2\" "
        );
        assert_eq!(opts(&["--save", "", "--port", "1"]).0, "save \"\" \nport \"1\" ");
        assert_eq!(opts(&["--save", "--port", "1"]).0, "save \"\"\nport \"1\" ");
        assert_eq!(opts(&["--save"]).0, "save \"\"");
        assert_eq!(opts(&["--port 6380"]).0, "port 6380 ");
        assert_eq!(opts(&["--logfile", "a b"]).0, "logfile \"a b\" ");
        assert_eq!(opts(&["c.conf", "--loglevel", "verbose", "-"]), ("loglevel \"verbose\" ".into(), true));
        assert_eq!(opts(&["-", "--port", "1"]), ("port \"1\" ".into(), true));
        // A value may itself start with "--" once the name is pending.
        assert_eq!(opts(&["--requirepass", "--x"]).0, "requirepass \"--x\" ");
    }

    #[test]
    fn absolute_paths() {
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(absolute_path(OsStr::new("/etc/x.conf")), PathBuf::from("/etc/x.conf"));
        assert_eq!(absolute_path(OsStr::new(" a.conf ")), cwd.join("a.conf"));
        let parent = cwd.parent().unwrap_or(&cwd).join("b.conf");
        assert_eq!(absolute_path(OsStr::new("../b.conf")), parent);
    }

    #[test]
    fn version_and_help() {
        let run = |a: &[&str]| {
            from_args(std::iter::once("fluidb-server").chain(a.iter().copied()).map(OsString::from).collect())
        };
        match run(&["-v"]) {
            Startup::Exit(0, t) => assert!(t.starts_with("fluidB server v=")),
            other => panic!("{other:?}"),
        }
        match run(&["--help"]) {
            Startup::Exit(1, t) => assert!(t.starts_with("Usage: ./fluidb-server")),
            other => panic!("{other:?}"),
        }
    }
}
