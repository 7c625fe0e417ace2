//! The RDB format (Redis's rdb.c / rdb.h).

pub mod codec;
