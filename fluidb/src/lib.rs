pub mod keyspace;
pub mod util;
