//! fluidb-check-aof: checks an append-only file (a Redis 7 manifest with its base and
//! incremental files, or a single file) as redis-check-aof does, and with `--fix`
//! offers to truncate a broken tail of the last file to its last complete command.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use fluidb::persistence::aof::{check_commands, Manifest};
use fluidb::persistence::rdb::file::load_rdb;
use fluidb::persistence::rdb::load::Limits;

/// Checks one file; returns (size, ok_up_to, problem).
fn check_file(path: &Path) -> Result<(usize, usize, Option<String>), String> {
    let data = std::fs::read(path).map_err(|e| format!("Cannot open file {}: {e}", path.display()))?;
    if data.starts_with(b"REDIS") {
        let lim = Limits { max_string: usize::MAX, ..Limits::default() };
        return Ok(match load_rdb(&data, &lim, usize::MAX, |_| {}) {
            Ok(_) => (data.len(), data.len(), None),
            Err(e) => (data.len(), 0, Some(format!("RDB preamble is not valid: {} at offset {}", e.what, e.offset))),
        });
    }
    let c = check_commands(&data);
    Ok((data.len(), c.ok_up_to, c.problem))
}

fn report(path: &Path, data_len: usize, ok_up_to: usize) {
    let line = std::fs::read(path).map(|d| d[..ok_up_to.min(d.len())].iter().filter(|&&b| b == b'\n').count() + 1);
    println!(
        "AOF analyzed: filename={}, size={data_len}, ok_up_to={ok_up_to}, ok_up_to_line={}, diff={}",
        path.display(),
        line.unwrap_or(0),
        data_len - ok_up_to
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let fix = args.iter().any(|a| a == "--fix");
    let Some(target) = args.iter().find(|a| !a.starts_with("--")) else {
        eprintln!("Usage: fluidb-check-aof [--fix] <file.manifest|file.aof>");
        std::process::exit(1);
    };
    let target = PathBuf::from(target);
    let files: Vec<PathBuf> = if target.to_string_lossy().ends_with(".manifest") {
        let text = std::fs::read(&target).unwrap_or_else(|e| {
            println!("Cannot open file {}: {e}", target.display());
            std::process::exit(1)
        });
        let m = Manifest::parse(&text).unwrap_or_else(|e| {
            println!("Invalid manifest {}: {e}", target.display());
            std::process::exit(1)
        });
        let dir = target.parent().unwrap_or(Path::new("."));
        println!("Start checking Multi Part AOF");
        m.base.iter().chain(m.incrs.iter()).map(|p| dir.join(&p.name)).collect()
    } else {
        vec![target.clone()]
    };
    let n = files.len();
    for (i, f) in files.iter().enumerate() {
        let (size, ok_up_to, problem) = check_file(f).unwrap_or_else(|e| {
            println!("{e}");
            std::process::exit(1)
        });
        let Some(problem) = problem else {
            println!("AOF {} is valid", f.display());
            continue;
        };
        println!("0x{ok_up_to:>8x}: {problem}");
        report(f, size, ok_up_to);
        if i + 1 != n || !fix {
            println!("AOF {} is not valid. Use the --fix option to try fixing it.", f.display());
            std::process::exit(1);
        }
        println!(
            "This will shrink the AOF {} from {size} bytes, with {} bytes, to {ok_up_to} bytes",
            f.display(),
            size - ok_up_to
        );
        print!("Continue? [y/N]: ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !answer.trim().eq_ignore_ascii_case("y") {
            println!("Aborting...");
            std::process::exit(1);
        }
        let ok = std::fs::OpenOptions::new().write(true).open(f).and_then(|h| {
            h.set_len(ok_up_to as u64)?;
            h.sync_all()
        });
        match ok {
            Ok(()) => println!("Successfully truncated AOF {}", f.display()),
            Err(e) => {
                println!("Failed to truncate AOF {}: {e}", f.display());
                std::process::exit(1);
            }
        }
    }
    if n > 1 {
        println!("All AOF files and manifest are valid");
    }
}
