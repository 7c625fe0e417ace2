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

pub mod active;
pub mod anti_entropy;
pub mod failover;
pub mod master;
pub mod own_expires;
pub mod replica;
pub mod stream;

use std::time::Instant;

use crate::persistence::rdb::file::LoadInfo;

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
    /// `capa activeExpire` (KeyDB): it expires keys by itself.
    pub capa_active_expire: bool,
    /// `REPLCONF uuid` (KeyDB's active replication): the replica node's UUID.
    pub uuid: Option<active::Uuid>,
}

/// Counters of INFO stats.
#[derive(Debug, Default, Clone)]
pub struct ReplStats {
    pub sync_full: u64,
    pub sync_partial_ok: u64,
    pub sync_partial_err: u64,
}

/// An active node's stream for plain (Redis) replicas: every write the node applies, its
/// own and its peers', as plain commands (gathered by `WriteStream::plain_tap`), with a
/// history ID and offsets of its own (the RREPLAY stream's belong to the active peers).
/// Made when the first plain replica attaches; not kept across restarts (a plain replica
/// of a restarted node resyncs in full).
pub struct PlainStream {
    pub stream: stream::WriteStream,
    pub replid: String,
    /// The offset its replicas were last woken for.
    pub fed_offset: u64,
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
    /// The stream offset the replicas were last woken for (`master::feed`).
    pub fed_offset: u64,
    pub last_ping: Option<Instant>,
    /// Replica side: the link to the master, when this node is a replica.
    pub link: Option<replica::Link>,
    /// Bumped whenever the master changes: a link task of an older generation stops.
    pub link_gen: u64,
    /// Signals WAIT callers that a replica acknowledged more of the stream.
    pub acks: tokio::sync::watch::Sender<u64>,
    /// Replica side: keys our own clients gave a TTL (writable replica).
    pub own_expires: own_expires::OwnExpires,
    /// A FAILOVER in progress.
    pub failover: Option<failover::Failover>,
    /// Active replication: this node's identity and counters.
    pub active: active::Active,
    /// Active mode: master link positions read from the RDB file at boot, taken by the
    /// links to the same masters when they start.
    pub restored_masters: Vec<SavedLink>,
    /// Active mode: the plain replicas' stream, once one attached.
    pub plain: Option<PlainStream>,
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
            fed_offset: 0,
            last_ping: None,
            link: None,
            link_gen: 0,
            acks: tokio::sync::watch::channel(0).0,
            own_expires: Default::default(),
            failover: None,
            active: Default::default(),
            restored_masters: Vec::new(),
            plain: None,
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

/// The replication cron (Redis's `replicationCron`, and `expireSlaveKeys` from its
/// `databasesCron`), under the store lock.
pub fn cron(shared: &std::sync::Arc<crate::server::Shared>, store: &mut crate::server::store::Store) {
    failover::cron(shared, store);
    if store.plain_replica() {
        own_expires::expire_own_keys(store);
    }
    if store.cfg.active_replica {
        active::forget_old_deletions(store);
    }
    master::cron(store, shared.stalled());
}

/// Continues the replication history recorded in the RDB file loaded at boot (its
/// `repl-id`, `repl-offset` and `repl-stream-db` AUX fields; Redis's `loadDataFromDisk`).
///
/// A replica takes it as its own (its master's history), so it can ask for a partial
/// resync. A master keeps its new ID but makes the file's its secondary one, valid up to
/// the file's offset, with a backlog starting there: its replicas (which followed that
/// history) continue with a partial resync after the restart. Either way a master
/// propagates the deletion of the keys that expired while it was down (Redis feeds
/// them to the backlog while loading), so its replicas delete them too.
pub fn continue_history_from_rdb(store: &mut crate::server::store::Store, info: &mut LoadInfo) {
    let aux =
        |name: &[u8]| info.aux.iter().find(|(k, _)| k == name).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let history = match (aux(b"repl-id"), aux(b"repl-offset").and_then(|o| o.parse::<u64>().ok())) {
        (Some(id), Some(off)) if id.len() == 40 => Some((id, off)),
        _ => None,
    };
    let db = aux(b"repl-stream-db").and_then(|d| d.parse::<usize>().ok()).filter(|&d| d < store.dbs.len());
    if store.cfg.active_replica {
        // Where each master link was, for a partial resync once it reconnects.
        if let Some(v) = aux(b"repl-masters") {
            store.repl.restored_masters = parse_repl_masters(&v);
        }
    }
    if store.plain_replica() {
        if let Some((id, off)) = history {
            store.repl.replid = id;
            store.repl.clear_id2();
            store.stream.reset_to(off);
            store.stream.set_current_db(db);
            crate::log_notice!("Using the replication ID and offset of the RDB file: {}:{off}", store.repl.replid);
        }
        return;
    }
    if let Some((id, off)) = history {
        store.stream.reset_to(off);
        store.stream.enable_backlog();
        store.repl.replid2 = id;
        store.repl.second_offset = off as i64 + 1;
        store.repl.no_replicas_since = Some(Instant::now());
    }
    if store.cfg.active_replica {
        // Active nodes expire keys by themselves: no deletion is sent.
        return;
    }
    let del: &'static [u8] = if store.cfg.lazyfree_lazy_expire { b"UNLINK" } else { b"DEL" };
    for (db, key) in std::mem::take(&mut info.expired_keys) {
        store.stream.append(db, 0, &[bytes::Bytes::from_static(del), bytes::Bytes::from(key)]);
    }
}

/// KeyDB's `repl-masters` value for an active node's master link (`<replid>:<offset>:
/// <host>:<port>:<db>;`), None without a link that has a history to continue. Written in
/// RDB files (AUX) and, after applied frames, in the AOF (`#repl-masters:` lines), so a
/// restarted node continues the link with a partial resync.
pub fn repl_masters_value(store: &crate::server::store::Store) -> Option<String> {
    let l = store.repl.link.as_ref().filter(|l| store.cfg.active_replica && l.master_replid.len() == 40)?;
    Some(format!("{}:{}:{}:{}:{};", l.master_replid, l.master_offset, l.host, l.port, 0))
}

/// A master link's position recorded in an RDB file (`repl-masters`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SavedLink {
    pub replid: String,
    pub offset: u64,
    pub host: String,
    pub port: u16,
}

/// Parses KeyDB's `repl-masters` AUX value: `<replid>:<offset>:<host>:<port>:<db>;` per
/// master (the host may be an IPv6 address with colons: the fields are taken from both
/// ends). Malformed entries are skipped.
pub fn parse_repl_masters(v: &str) -> Vec<SavedLink> {
    let mut out = Vec::new();
    for entry in v.split(';').filter(|e| !e.is_empty()) {
        let Some((replid, rest)) = entry.split_once(':') else { continue };
        let Some((offset, rest)) = rest.split_once(':') else { continue };
        let Some((rest, _db)) = rest.rsplit_once(':') else { continue };
        let Some((host, port)) = rest.rsplit_once(':') else { continue };
        let (Ok(offset), Ok(port)) = (offset.parse::<u64>(), port.parse::<u16>()) else { continue };
        if replid.len() == 40 {
            out.push(SavedLink { replid: replid.to_string(), offset, host: host.to_string(), port });
        }
    }
    out
}
