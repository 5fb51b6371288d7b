//! The provider node as a library (the binary in `main.rs` is a thin CLI over it), so tests
//! drive the same code paths.

pub mod chain;
pub mod config;
pub mod evidence;
pub mod jobs;
pub mod key;
pub mod meter;
pub mod metering;
pub mod node;
pub mod recovery;
pub mod reporting;
pub mod sender;
pub mod spool;
pub mod verify;
