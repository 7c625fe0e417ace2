//! `oom-score-adj` and `oom-score-adj-values` (Redis's `setOOMScoreAdj`): the Linux OOM
//! killer's preference for this process, written to `/proc/self/oom_score_adj` for the
//! role the server has (master or replica) and, in forked children (BGSAVE, AOF rewrite,
//! full syncs), for background children.
//!
//! The state is process-wide because the file is: the score the process had before the
//! server first adjusted it (restored when `oom-score-adj` is turned off, and the base of
//! relative values) and the value a child must set right after `fork`.

use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crate::config::{Config, OomScoreAdj};

const PATH: &str = "/proc/self/oom_score_adj";

/// Redis's CONFIG_OOM_* classes, indexes into `oom-score-adj-values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomClass {
    Master = 0,
    Replica = 1,
    BgChild = 2,
}

/// Whether the server changed the score (so turning the setting off restores `BASE`).
static ADJUSTED: AtomicBool = AtomicBool::new(false);
/// The score before the server first changed it.
static BASE: AtomicI32 = AtomicI32::new(0);
/// What a forked child writes (`NO_CHILD_VALUE`: leave it alone).
static CHILD_VALUE: AtomicI32 = AtomicI32::new(NO_CHILD_VALUE);
const NO_CHILD_VALUE: i32 = i32::MIN;

fn read_score() -> std::io::Result<i32> {
    let s = std::fs::read_to_string(PATH)?;
    Ok(s.trim().parse().unwrap_or(0))
}

fn write_score(v: i32) -> std::io::Result<()> {
    std::fs::write(PATH, format!("{v}\n"))
}

/// The score for `class` under `cfg`, clamped to the kernel's range (relative values add
/// to the score the process had before).
fn value_for(cfg: &Config, class: OomClass, base: i32) -> i32 {
    let mut v = cfg.oom_score_adj_values[class as usize];
    if cfg.oom_score_adj == OomScoreAdj::Relative {
        v += base;
    }
    v.clamp(-1000, 1000)
}

/// Applies the settings for the server's current role (Redis's `setOOMScoreAdj(-1)`):
/// writes the class's score while `oom-score-adj` is on, restores the original score
/// once when it is turned off, and records what forked children must write. Errors are
/// logged, as Redis does, and returned (for CONFIG SET's "Failed to set" reply).
pub fn apply(cfg: &Config, is_replica: bool) -> Result<(), String> {
    let class = if is_replica { OomClass::Replica } else { OomClass::Master };
    let val = if cfg.oom_score_adj != OomScoreAdj::No {
        if !ADJUSTED.load(Ordering::Relaxed) {
            match read_score() {
                Ok(b) => BASE.store(b, Ordering::Relaxed),
                Err(e) => {
                    let msg = format!("Unable to read oom_score_adj: {}", crate::config::cstr::strerror(&e));
                    crate::log_warning!("{msg}");
                    return Err(msg);
                }
            }
            ADJUSTED.store(true, Ordering::Relaxed);
        }
        let base = BASE.load(Ordering::Relaxed);
        CHILD_VALUE.store(value_for(cfg, OomClass::BgChild, base), Ordering::Relaxed);
        value_for(cfg, class, base)
    } else if ADJUSTED.swap(false, Ordering::Relaxed) {
        CHILD_VALUE.store(NO_CHILD_VALUE, Ordering::Relaxed);
        BASE.load(Ordering::Relaxed)
    } else {
        return Ok(());
    };
    write_score(val).map_err(|e| {
        let msg = format!("Unable to write oom_score_adj: {}", crate::config::cstr::strerror(&e));
        crate::log_warning!("{msg}");
        msg
    })
}

/// In a freshly forked child: takes the background child's score, if the server manages
/// scores. Only a write to /proc (no allocation beyond a short string, no locks).
pub fn enter_child() {
    let v = CHILD_VALUE.load(Ordering::Relaxed);
    if v != NO_CHILD_VALUE {
        let _ = write_score(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_relative_or_absolute_and_clamped() {
        let mut cfg = Config {
            oom_score_adj_values: [10, 200, 2000],
            oom_score_adj: OomScoreAdj::Relative,
            ..Default::default()
        };
        assert_eq!(value_for(&cfg, OomClass::Master, 5), 15);
        assert_eq!(value_for(&cfg, OomClass::BgChild, 5), 1000);
        cfg.oom_score_adj = OomScoreAdj::Absolute;
        assert_eq!(value_for(&cfg, OomClass::Replica, 5), 200);
        cfg.oom_score_adj_values = [-2000, 0, 0];
        assert_eq!(value_for(&cfg, OomClass::Master, 0), -1000);
    }
}
