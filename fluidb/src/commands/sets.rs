//! Set commands (Redis 7.0's t_set.c).

use super::table::Command;

pub static COMMANDS: &[Command] = &[];
