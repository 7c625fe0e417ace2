//! SORT and SORT_RO (Redis 7.0's sort.c).

use super::table::Command;

pub static COMMANDS: &[Command] = &[];
