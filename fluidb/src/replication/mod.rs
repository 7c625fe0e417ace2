//! Replication: the node's totally ordered write stream (`stream`), the master side that
//! serves replicas from it (`master`), and the replica side that follows a master
//! (`replica`). The wire protocol is Redis's (PSYNC, +FULLRESYNC / +CONTINUE, the RDB
//! payload in its disk and diskless forms, REPLCONF ACK), so fluidB replicates to and from
//! redis-server 7.0 in both directions.
//!
//! Offsets: a node's replication offset is the byte offset of its write stream. A replica
//! appends its master's stream to its own unchanged (`WriteStream::append_raw`), so the two
//! offsets are equal, a promoted replica can continue the history (secondary ID), and
//! chained replicas receive their master's stream byte for byte.

pub mod master;
pub mod replica;
pub mod stream;

use std::time::Instant;

/// A new random replication ID: 40 hex characters (Redis's `changeReplicationId`).
pub fn new_replid() -> String {
    (0..40).map(|_| char::from(b"0123456789abcdef"[(rand::random::<u8>() & 15) as usize])).collect()
}

/// The 40 zeros Redis shows for "no secondary ID".
pub const NO_REPLID: &str = "0000000000000000000000000000000000000000";

/// What a client told us with REPLCONF before PSYNC (it is a replica in the making).
#[derive(Debug, Clone, Default)]
pub struct ReplicaConf {
    pub listening_port: u16,
    pub ip: Option<String>,
    /// `capa eof`: it can read a diskless payload.
    pub capa_eof: bool,
    /// `capa psync2`: it understands `+CONTINUE <new id>`.
    pub capa_psync2: bool,
    /// It attached with SYNC (no +FULLRESYNC line, no EOF-marked payload).
    pub old_sync: bool,
}

/// Counters of INFO stats.
#[derive(Debug, Default, Clone)]
pub struct ReplStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
}

/// Replication state of the node (in the store, under its lock).
pub struct ReplState {
    /// This node's history: its own ID as a master, its master's as a replica.
    pub replid: String,
    /// The previous ID and the first offset it no longer covers (`second_repl_offset`),
    /// so replicas of the old history can still continue after a promotion.
    pub replid2: String,
    pub second_offset: i64,
    /// Master side: the attached replicas.
    pub replicas: Vec<master::Replica>,
    /// Master side: the running full-sync child, if any.
    pub round: Option<master::SyncRound>,
    pub stats: ReplStats,
    /// When the last replica went away (`repl-backlog-ttl`).
    pub no_replicas_since: Option<Instant>,
    pub last_ping: Option<Instant>,
    /// Replica side: the link to the master, when this node is a replica.
    pub link: Option<replica::Link>,
    /// Bumped whenever the master changes: a link task of an older generation stops.
    pub link_gen: u64,
    /// Signals WAIT callers that a replica acknowledged more of the stream.
    pub acks: tokio::sync::watch::Sender<u64>,
}

impl Default for ReplState {
    fn default() -> Self {
        ReplState {
            replid: new_replid(),
            replid2: NO_REPLID.to_string(),
            second_offset: -1,
            replicas: Vec::new(),
            round: None,
            stats: ReplStats::default(),
            no_replicas_since: Some(Instant::now()),
            last_ping: None,
            link: None,
            link_gen: 0,
            acks: tokio::sync::watch::channel(0).0,
        }
    }
}

impl ReplState {
    /// Starts a new history (`shiftReplicationId`): the current ID becomes the secondary
    /// one, valid up to `offset`, so replicas that followed it can continue.
    pub fn shift_id(&mut self, offset: u64) {
        self.replid2 = std::mem::replace(&mut self.replid, new_replid());
        self.second_offset = offset as i64 + 1;
        crate::log_notice!(
            "Setting secondary replication ID to {}, valid up to offset: {}. New replication ID is {}",
            self.replid2,
            self.second_offset,
            self.replid
        );
    }

    /// Forgets the secondary ID (`clearReplicationId2`).
    pub fn clear_id2(&mut self) {
        self.replid2 = NO_REPLID.to_string();
        self.second_offset = -1;
    }
}
