//! Small utilities that reproduce Redis's exact behaviour (number formats, glob, args).

pub mod glob;
pub mod ldouble;
pub mod numeric;
pub mod splitargs;
pub mod time;
