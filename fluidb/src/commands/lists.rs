//! List commands (Redis 7.0's t_list.c), including the blocking pops.

use super::table::Command;

pub static COMMANDS: &[Command] = &[];
