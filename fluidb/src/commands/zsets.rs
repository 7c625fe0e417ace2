//! Sorted set commands (Redis 7.0's t_zset.c), including BZPOPMIN/BZPOPMAX/BZMPOP.

use super::table::Command;

pub static COMMANDS: &[Command] = &[];
