//! Replication. For now: the node's totally ordered stream of executed writes, which
//! persistence (AOF) and replication consume.

pub mod stream;
