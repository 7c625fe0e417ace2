pub mod config;
pub mod util;
