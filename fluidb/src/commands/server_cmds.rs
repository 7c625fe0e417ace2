//! Server commands: SHUTDOWN, DEBUG, INFO, COMMAND...

use super::call::{Ctx, Flow};
use super::table::{flags::*, Command};

pub static COMMANDS: &[Command] = &[Command {
    name: "shutdown",
    arity: -1,
    flags: ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY,
    handler: shutdown,
    group: "server",
    summary: "Synchronously save the dataset to disk and then shut down the server",
    complexity:
        "O(N) when saving, where N is the total number of keys in all databases when saving data, otherwise O(1)",
    ..Command::DEFAULT
}];

fn shutdown(ctx: &mut Ctx) {
    ctx.flow = Flow::Shutdown;
}
