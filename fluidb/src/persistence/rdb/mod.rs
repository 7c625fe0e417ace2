//! The RDB format (Redis's rdb.c / rdb.h).

pub mod codec;
pub mod file;
pub mod load;
pub mod save;
pub mod ziplist;
pub mod zipmap;

/// Object type bytes (`RDB_TYPE_*`).
pub mod types {
    pub const STRING: u8 = 0;
    pub const LIST: u8 = 1;
    pub const SET: u8 = 2;
    pub const ZSET: u8 = 3;
    pub const HASH: u8 = 4;
    pub const ZSET_2: u8 = 5;
    pub const MODULE: u8 = 6;
    pub const MODULE_2: u8 = 7;
    pub const HASH_ZIPMAP: u8 = 9;
    pub const LIST_ZIPLIST: u8 = 10;
    pub const SET_INTSET: u8 = 11;
    pub const ZSET_ZIPLIST: u8 = 12;
    pub const HASH_ZIPLIST: u8 = 13;
    pub const LIST_QUICKLIST: u8 = 14;
    pub const STREAM_LISTPACKS: u8 = 15;
    pub const HASH_LISTPACK: u8 = 16;
    pub const ZSET_LISTPACK: u8 = 17;
    pub const LIST_QUICKLIST_2: u8 = 18;
    pub const STREAM_LISTPACKS_2: u8 = 19;
    pub const SET_LISTPACK: u8 = 20;
    pub const STREAM_LISTPACKS_3: u8 = 21;
}

/// The RDB version fluidB writes: 9, the newest that both Redis 7.0 and KeyDB 6.3 load
/// (shared/spec/keydb-compat.md), so only the encodings version 9 knows are written.
pub const RDB_VERSION_WRITTEN: u16 = 9;

/// The newest RDB version fluidB reads (Redis 7.2's).
pub const RDB_VERSION_READ_MAX: u16 = 11;
