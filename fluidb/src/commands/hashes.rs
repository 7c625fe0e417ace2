//! Hash commands (Redis 7.0's t_hash.c).

use super::table::Command;

pub static COMMANDS: &[Command] = &[];
