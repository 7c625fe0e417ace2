//! The wire protocol: RESP2/RESP3 request parsing and reply writing.
//!
//! Both halves are written for the hot path: the parser slices arguments out of the
//! connection's read buffer without copying (`Bytes` views into one frozen chunk), and the
//! reply writer appends encoded RESP straight into the connection's output buffer, so no
//! intermediate frame tree is built for ordinary replies.

pub mod parse;
pub mod reply;

pub use parse::{ParseLimits, Parser, ProtocolError};
pub use reply::Reply;
